//! The tapir tables of reference §3, for `authd legacy init-schema` (development and tests).
//!
//! One description in MySQL syntax with a few dialect tokens, so MariaDB and SQLite get the
//! same tables: `{PK}` auto-increment key, `{NOCASE}` case-insensitive text (MySQL's default
//! collations already are), `{ENUM_YN}` / `{ENUM_KIND}` enumerations.

/// The SQL dialect of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// MySQL or MariaDB.
    MySql,
    /// SQLite.
    Sqlite,
}

const TABLES: &[&str] = &[
    "CREATE TABLE tapir_policy_classes (class_id smallint NOT NULL PRIMARY KEY,
     name varchar(64) NOT NULL DEFAULT '', description text NOT NULL,
     password_storage int NOT NULL DEFAULT 0, recovery_policy int NOT NULL DEFAULT 0,
     permanent_login int NOT NULL DEFAULT 0)",
    "CREATE TABLE tapir_users (user_id {PK}, first_name varchar(50), last_name varchar(50),
     suffix_name varchar(50), share_first_name int NOT NULL DEFAULT 1,
     share_last_name int NOT NULL DEFAULT 1,
     email varchar(255) {NOCASE} NOT NULL DEFAULT '' UNIQUE,
     share_email int NOT NULL DEFAULT 8, email_bouncing int NOT NULL DEFAULT 0,
     policy_class smallint NOT NULL DEFAULT 0, joined_date int NOT NULL DEFAULT 0,
     joined_ip_num varchar(16), joined_remote_host varchar(255) NOT NULL DEFAULT '',
     flag_internal int NOT NULL DEFAULT 0, flag_edit_users int NOT NULL DEFAULT 0,
     flag_edit_system int NOT NULL DEFAULT 0, flag_email_verified int NOT NULL DEFAULT 0,
     flag_approved int NOT NULL DEFAULT 1, flag_deleted int NOT NULL DEFAULT 0,
     flag_banned int NOT NULL DEFAULT 0, flag_wants_email int NOT NULL DEFAULT 0,
     flag_html_email int NOT NULL DEFAULT 0, tracking_cookie varchar(255) NOT NULL DEFAULT '',
     flag_allow_tex_produced int NOT NULL DEFAULT 0, flag_can_lock int NOT NULL DEFAULT 0)",
    "CREATE TABLE tapir_nicknames (nick_id {PK},
     nickname varchar(20) {NOCASE} NOT NULL DEFAULT '' UNIQUE,
     user_id int unsigned NOT NULL DEFAULT 0, user_seq int unsigned NOT NULL DEFAULT 0,
     flag_valid int NOT NULL DEFAULT 0, role int NOT NULL DEFAULT 0,
     policy int NOT NULL DEFAULT 0, flag_primary int NOT NULL DEFAULT 0,
     UNIQUE (user_id, user_seq))",
    "CREATE TABLE tapir_users_password (user_id int unsigned NOT NULL DEFAULT 0 PRIMARY KEY,
     password_storage int NOT NULL DEFAULT 0, password_enc varchar(50) NOT NULL)",
    "CREATE TABLE tapir_sessions (session_id {PK}, user_id int unsigned NOT NULL DEFAULT 0,
     last_reissue int NOT NULL DEFAULT 0, start_time int NOT NULL DEFAULT 0,
     end_time int NOT NULL DEFAULT 0)",
    "CREATE TABLE tapir_sessions_audit (session_id int unsigned NOT NULL DEFAULT 0 PRIMARY KEY,
     ip_addr varchar(16) NOT NULL DEFAULT '', remote_host varchar(255) NOT NULL DEFAULT '',
     tracking_cookie varchar(255) NOT NULL DEFAULT '')",
    "CREATE TABLE tapir_permanent_tokens (user_id int unsigned NOT NULL DEFAULT 0,
     secret varchar(32) NOT NULL DEFAULT '', valid int NOT NULL DEFAULT 1,
     issued_when int NOT NULL DEFAULT 0, issued_to varchar(16) NOT NULL DEFAULT '',
     remote_host varchar(255) NOT NULL DEFAULT '', session_id int NOT NULL DEFAULT 0,
     PRIMARY KEY (user_id, secret))",
    "CREATE TABLE arXiv_demographics (user_id int unsigned NOT NULL DEFAULT 0 PRIMARY KEY,
     country varchar(2) NOT NULL DEFAULT '', affiliation varchar(255) NOT NULL DEFAULT '',
     url varchar(255) NOT NULL DEFAULT '', type smallint, archive varchar(16) DEFAULT 'null',
     subject_class varchar(16) DEFAULT 'null',
     original_subject_classes varchar(255) NOT NULL DEFAULT '',
     flag_group_physics int NOT NULL DEFAULT 0, flag_group_math int NOT NULL DEFAULT 0,
     flag_group_cs int NOT NULL DEFAULT 0, flag_group_nlin int NOT NULL DEFAULT 0,
     flag_group_q_bio int NOT NULL DEFAULT 0, flag_group_q_fin int NOT NULL DEFAULT 0,
     flag_group_stat int NOT NULL DEFAULT 0, flag_group_econ int NOT NULL DEFAULT 0,
     flag_group_eess int NOT NULL DEFAULT 0)",
    "CREATE TABLE arXiv_endorsements (endorsement_id {PK}, endorser_id int unsigned,
     endorsee_id int unsigned NOT NULL DEFAULT 0, archive varchar(16) NOT NULL DEFAULT '',
     subject_class varchar(16) NOT NULL DEFAULT '', flag_valid int NOT NULL DEFAULT 0,
     type {ENUM_KIND}, point_value int NOT NULL DEFAULT 0, issued_when int NOT NULL DEFAULT 0,
     request_id int)",
    "CREATE TABLE arXiv_endorsement_domains (endorsement_domain varchar(32) NOT NULL PRIMARY KEY,
     endorse_all {ENUM_YN} NOT NULL DEFAULT 'n', mods_endorse_all {ENUM_YN} NOT NULL DEFAULT 'n',
     endorse_email {ENUM_YN} NOT NULL DEFAULT 'y', papers_to_endorse smallint NOT NULL DEFAULT 4)",
    "CREATE TABLE arXiv_categories (archive varchar(16) NOT NULL DEFAULT '',
     subject_class varchar(16) NOT NULL DEFAULT '', definitive int NOT NULL DEFAULT 0,
     active int NOT NULL DEFAULT 0, endorsement_domain varchar(32),
     PRIMARY KEY (archive, subject_class))",
    "CREATE TABLE arXiv_documents (document_id {PK}, paper_id varchar(20) NOT NULL UNIQUE,
     dated int NOT NULL DEFAULT 0)",
    "CREATE TABLE arXiv_paper_owners (document_id int unsigned NOT NULL DEFAULT 0,
     user_id int unsigned NOT NULL DEFAULT 0, date int NOT NULL DEFAULT 0,
     flag_author int NOT NULL DEFAULT 0, valid int NOT NULL DEFAULT 0,
     PRIMARY KEY (document_id, user_id))",
    "CREATE TABLE arXiv_in_category (document_id int unsigned NOT NULL DEFAULT 0,
     archive varchar(16) NOT NULL DEFAULT '', subject_class varchar(16) NOT NULL DEFAULT '',
     is_primary int NOT NULL DEFAULT 0, PRIMARY KEY (document_id, archive, subject_class))",
    "CREATE TABLE arXiv_white_email (pattern varchar(64) NOT NULL PRIMARY KEY)",
    "CREATE TABLE arXiv_black_email (pattern varchar(64) NOT NULL PRIMARY KEY)",
    "CREATE TABLE arXiv_moderators (user_id int unsigned NOT NULL DEFAULT 0,
     archive varchar(16) NOT NULL DEFAULT '', subject_class varchar(16) NOT NULL DEFAULT '',
     is_public int NOT NULL DEFAULT 0, no_email int NOT NULL DEFAULT 0,
     no_web_email int NOT NULL DEFAULT 0, no_reply_to int NOT NULL DEFAULT 0,
     daily_update int NOT NULL DEFAULT 0, UNIQUE (archive, subject_class, user_id))",
    "CREATE INDEX tapir_sessions_user ON tapir_sessions (user_id)",
    "CREATE INDEX tapir_sessions_start ON tapir_sessions (start_time)",
    "CREATE INDEX tapir_sessions_end ON tapir_sessions (end_time)",
    "CREATE INDEX tapir_nicknames_user ON tapir_nicknames (user_id)",
    "CREATE INDEX tapir_users_policy ON tapir_users (policy_class)",
    "CREATE INDEX arxiv_endorsements_endorsee ON arXiv_endorsements (endorsee_id)",
    "INSERT INTO tapir_policy_classes (class_id, name, description) VALUES
     (1, 'Administrator', ''), (2, 'Public user', ''), (3, 'Legacy user', '')",
];

/// The statements that create the tapir tables in `dialect`, in order.
pub fn statements(dialect: Dialect) -> Vec<String> {
    let (pk, nocase, yn, kind) = match dialect {
        Dialect::MySql => (
            "int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY",
            "",
            "enum('y','n')",
            "enum('user','admin','auto')",
        ),
        Dialect::Sqlite => (
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "COLLATE NOCASE",
            "varchar(1)",
            "varchar(8)",
        ),
    };
    TABLES
        .iter()
        .map(|t| {
            t.replace("{PK}", pk)
                .replace("{NOCASE}", nocase)
                .replace("{ENUM_YN}", yn)
                .replace("{ENUM_KIND}", kind)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_is_replaced() {
        for d in [Dialect::MySql, Dialect::Sqlite] {
            let all = statements(d);
            assert_eq!(all.len(), TABLES.len());
            assert!(all.iter().all(|s| !s.contains('{')), "{d:?}");
        }
    }
}
