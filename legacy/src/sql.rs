//! The statements, shared by both dialects (`?` placeholders work in MySQL and SQLite).
//!
//! Integer columns are read through `CAST(.. AS SIGNED INTEGER)`: production tables mix
//! signed and unsigned ints, and both dialects then hand back a signed 64-bit value.

macro_rules! account_select {
    ($where:literal) => {
        concat!(
            "SELECT CAST(u.user_id AS SIGNED INTEGER) AS user_id, n.nickname AS nickname,
             u.email AS email, u.first_name AS first_name, u.last_name AS last_name,
             u.suffix_name AS suffix_name,
             CAST(u.policy_class AS SIGNED INTEGER) AS policy_class,
             CAST(u.flag_email_verified AS SIGNED INTEGER) AS flag_email_verified,
             CAST(u.flag_edit_users AS SIGNED INTEGER) AS flag_edit_users,
             CAST(u.flag_edit_system AS SIGNED INTEGER) AS flag_edit_system,
             CAST(u.flag_approved AS SIGNED INTEGER) AS flag_approved,
             CAST(u.flag_deleted AS SIGNED INTEGER) AS flag_deleted,
             CAST(u.flag_banned AS SIGNED INTEGER) AS flag_banned,
             p.password_enc AS password_enc, d.country AS country,
             d.affiliation AS affiliation, d.url AS url,
             CAST(d.type AS SIGNED INTEGER) AS user_rank, d.archive AS archive,
             d.subject_class AS subject_class
             FROM tapir_users u
             JOIN tapir_nicknames n ON n.user_id = u.user_id AND n.flag_valid = 1
             LEFT JOIN tapir_users_password p ON p.user_id = u.user_id
             LEFT JOIN arXiv_demographics d ON d.user_id = u.user_id
             WHERE ",
            $where,
            " ORDER BY n.flag_primary DESC, n.nick_id LIMIT 1"
        )
    };
}

/// Account by nickname.
pub const ACCOUNT_BY_NICKNAME: &str = account_select!("n.nickname = ?");
/// Account by e-mail.
pub const ACCOUNT_BY_EMAIL: &str = account_select!("u.email = ?");
/// Account by id.
pub const ACCOUNT_BY_ID: &str = account_select!("u.user_id = ?");

/// New session row (end_time 0 = open, as the legacy site expects).
pub const INSERT_SESSION: &str =
    "INSERT INTO tapir_sessions (user_id, last_reissue, start_time, end_time)
     VALUES (?, ?, ?, 0)";
/// Its audit row.
pub const INSERT_AUDIT: &str =
    "INSERT INTO tapir_sessions_audit (session_id, ip_addr, remote_host, tracking_cookie)
     VALUES (?, ?, ?, '')";
/// End a session that is still open (or ends later than `now`).
pub const END_SESSION: &str = "UPDATE tapir_sessions SET end_time = ?
     WHERE session_id = ? AND (end_time = 0 OR end_time > ?)";
/// One session row.
pub const SESSION_BY_ID: &str = "SELECT CAST(session_id AS SIGNED INTEGER) AS session_id,
     CAST(user_id AS SIGNED INTEGER) AS user_id,
     CAST(start_time AS SIGNED INTEGER) AS start_time,
     CAST(end_time AS SIGNED INTEGER) AS end_time
     FROM tapir_sessions WHERE session_id = ?";
/// Every session row of a user.
pub const SESSIONS_OF_USER: &str = "SELECT CAST(session_id AS SIGNED INTEGER) AS session_id,
     CAST(user_id AS SIGNED INTEGER) AS user_id,
     CAST(start_time AS SIGNED INTEGER) AS start_time,
     CAST(end_time AS SIGNED INTEGER) AS end_time
     FROM tapir_sessions WHERE user_id = ? ORDER BY session_id";
/// Sessions whose end time falls in `[from, to]`.
pub const ENDED_BETWEEN: &str = "SELECT CAST(session_id AS SIGNED INTEGER) FROM tapir_sessions
     WHERE end_time > 0 AND end_time >= ? AND end_time <= ? ORDER BY session_id";
/// The audit row of a session.
pub const AUDIT_IP: &str = "SELECT ip_addr FROM tapir_sessions_audit WHERE session_id = ?";

/// Registration (§3.14): the user row.
pub const INSERT_USER: &str =
    "INSERT INTO tapir_users (first_name, last_name, suffix_name, email, policy_class,
     joined_date, joined_ip_num, joined_remote_host, flag_email_verified, tracking_cookie)
     VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, '')";
/// Registration: the primary nickname.
pub const INSERT_NICKNAME: &str =
    "INSERT INTO tapir_nicknames (nickname, user_id, user_seq, flag_valid, flag_primary)
     VALUES (?, ?, 0, 1, 1)";
/// Registration: the password (storage type 2, the only one the legacy site reads).
pub const INSERT_PASSWORD: &str =
    "INSERT INTO tapir_users_password (user_id, password_storage, password_enc)
     VALUES (?, 2, ?)";
/// Password change.
pub const UPDATE_PASSWORD: &str =
    "UPDATE tapir_users_password SET password_storage = 2, password_enc = ? WHERE user_id = ?";

/// Liveness probe.
pub const PING: &str = "SELECT 1";

/// Explicit endorsements: summed points of valid rows per category.
pub const EXPLICIT_ENDORSEMENTS: &str =
    "SELECT archive, subject_class, CAST(SUM(point_value) AS SIGNED INTEGER)
     FROM arXiv_endorsements WHERE endorsee_id = ? AND flag_valid = 1
     GROUP BY archive, subject_class";
/// Invalidated automatic endorsements.
pub const INVALIDATED_AUTO: &str = "SELECT archive, subject_class FROM arXiv_endorsements
     WHERE endorsee_id = ? AND flag_valid = 0 AND CAST(type AS CHAR) = 'auto'";
/// Active categories (the taxonomy).
pub const ACTIVE_CATEGORIES: &str =
    "SELECT archive, subject_class FROM arXiv_categories WHERE active = 1";
/// Policies of definitive, active categories.
pub const POLICIES: &str = "SELECT c.archive, c.subject_class, d.endorsement_domain,
     CAST(d.endorse_all AS CHAR), CAST(d.endorse_email AS CHAR),
     CAST(d.papers_to_endorse AS SIGNED INTEGER)
     FROM arXiv_categories c
     JOIN arXiv_endorsement_domains d ON d.endorsement_domain = c.endorsement_domain
     WHERE c.definitive = 1 AND c.active = 1";
/// Whitelist matches of an e-mail.
pub const WHITELISTED: &str =
    "SELECT CAST(COUNT(*) AS SIGNED INTEGER) FROM arXiv_white_email WHERE ? LIKE pattern";
/// Blacklist matches of an e-mail.
pub const BLACKLISTED: &str =
    "SELECT CAST(COUNT(*) AS SIGNED INTEGER) FROM arXiv_black_email WHERE ? LIKE pattern";
/// Papers per endorsement domain: each valid owned document once per domain.
pub const PAPERS_PER_DOMAIN: &str =
    "SELECT c.endorsement_domain, CAST(COUNT(DISTINCT o.document_id) AS SIGNED INTEGER)
     FROM arXiv_paper_owners o
     JOIN arXiv_in_category i ON i.document_id = o.document_id
     JOIN arXiv_categories c ON c.archive = i.archive AND c.subject_class = i.subject_class
     WHERE o.user_id = ? AND o.valid = 1 AND c.endorsement_domain IS NOT NULL
     GROUP BY c.endorsement_domain";

/// Nickname rows with this name, valid or not (registration refuses any).
pub const NICKNAME_COUNT: &str =
    "SELECT CAST(COUNT(*) AS SIGNED INTEGER) FROM tapir_nicknames WHERE nickname = ?";
/// User rows with this e-mail.
pub const EMAIL_COUNT: &str =
    "SELECT CAST(COUNT(*) AS SIGNED INTEGER) FROM tapir_users WHERE email = ?";
/// Undoing a registration whose authd half failed, one table at a time (in one transaction).
pub const DELETE_ACCOUNT: [&str; 4] = [
    "DELETE FROM tapir_users_password WHERE user_id = ?",
    "DELETE FROM tapir_nicknames WHERE user_id = ?",
    "DELETE FROM arXiv_demographics WHERE user_id = ?",
    "DELETE FROM tapir_users WHERE user_id = ?",
];
