//! The adapter trait over the tapir tables, with one implementation per database kind.
//!
//! Both implementations share every statement (see `sql.rs`); a macro stamps out the two
//! `impl` blocks so they cannot drift apart. Only how a new row's id is read and how the
//! schema is detected differ.

use std::future::Future;

use sqlx::{MySqlPool, SqlitePool};

use crate::account::AccountRow;
use crate::endorsements::{Facts, Policy, category};
use crate::error::{LegacyError, Result};
use crate::schema::{self, Dialect};
use crate::sql;

/// One `tapir_sessions` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    /// Id (the cookie's first field).
    pub session_id: i64,
    /// Owner.
    pub user_id: i64,
    /// Start, Unix seconds.
    pub start_time: i64,
    /// 0 while open; otherwise the end, Unix seconds.
    pub end_time: i64,
}

impl SessionRow {
    /// Whether the legacy site considers it open at `now` (reference §3.10 step 3).
    pub fn open_at(&self, now_secs: u64) -> bool {
        self.end_time == 0 || u64::try_from(self.end_time).is_ok_and(|e| e > now_secs)
    }
}

/// A new legacy account (registration write-through, §3.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// Nickname (username).
    pub nickname: String,
    /// E-mail.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Legacy password hash (`crate::password::hash`).
    pub password_enc: String,
    /// `tapir_users.policy_class` (2 = public user).
    pub policy_class: i64,
    /// E-mail verified already.
    pub verified: bool,
    /// Address at registration (cookie encoding, at most 16 characters kept).
    pub ip: String,
    /// Unix seconds.
    pub joined: u64,
}

/// Account flags an operator (or a test) may change; a closed set, so no SQL is built from input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `tapir_users.flag_banned`.
    Banned,
    /// `tapir_users.flag_deleted`.
    Deleted,
    /// `tapir_users.flag_approved`.
    Approved,
    /// `tapir_users.flag_email_verified`.
    Verified,
    /// `tapir_nicknames.flag_valid` (every nickname of the user).
    NicknameValid,
}

impl Flag {
    fn statement(self) -> &'static str {
        match self {
            Flag::Banned => "UPDATE tapir_users SET flag_banned = ? WHERE user_id = ?",
            Flag::Deleted => "UPDATE tapir_users SET flag_deleted = ? WHERE user_id = ?",
            Flag::Approved => "UPDATE tapir_users SET flag_approved = ? WHERE user_id = ?",
            Flag::Verified => "UPDATE tapir_users SET flag_email_verified = ? WHERE user_id = ?",
            Flag::NicknameValid => "UPDATE tapir_nicknames SET flag_valid = ? WHERE user_id = ?",
        }
    }
}

/// What authd does with the tapir tables; implemented for MariaDB/MySQL and SQLite pools.
pub trait TapirStore: Send + Sync {
    /// The account a login names (e-mail if it contains `@`, else nickname), with a valid nickname.
    fn account_by_login(
        &self,
        login: &str,
    ) -> impl Future<Output = Result<Option<AccountRow>>> + Send;
    /// The account with this id, with a valid nickname.
    fn account_by_id(&self, id: u64) -> impl Future<Output = Result<Option<AccountRow>>> + Send;
    /// Insert a session row (end_time 0) and its audit row in one transaction; the new id.
    fn create_session(
        &self,
        user_id: u64,
        start: u64,
        ip: &str,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// Set `end_time = now - 1` on an open session; whether a row changed.
    fn end_session(&self, session_id: u64, now: u64) -> impl Future<Output = Result<bool>> + Send;
    /// One session row.
    fn session(&self, session_id: u64) -> impl Future<Output = Result<Option<SessionRow>>> + Send;
    /// Every session row of a user.
    fn sessions_of(&self, user_id: u64) -> impl Future<Output = Result<Vec<SessionRow>>> + Send;
    /// Ids of sessions whose end time lies in `[from, to]` (the legacy-logout watcher).
    fn ended_between(&self, from: u64, to: u64) -> impl Future<Output = Result<Vec<u64>>> + Send;
    /// The audit row's `ip_addr` of a session.
    fn audit_ip(&self, session_id: u64) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Register an account (user, nickname, password) in one transaction; the new user id.
    fn register(&self, a: &NewAccount) -> impl Future<Output = Result<u64>> + Send;
    /// Whether a nickname / an e-mail is already registered (any row, valid or not).
    fn login_taken(
        &self,
        nickname: &str,
        email: &str,
    ) -> impl Future<Output = Result<(bool, bool)>> + Send;
    /// Remove an account registered moments ago whose authd half failed (one transaction).
    fn delete_account(&self, user_id: u64) -> impl Future<Output = Result<()>> + Send;
    /// Replace a user's legacy password hash.
    fn set_password(&self, user_id: u64, enc: &str) -> impl Future<Output = Result<()>> + Send;
    /// Set an account flag.
    fn set_flag(
        &self,
        user_id: u64,
        flag: Flag,
        value: bool,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Everything the endorsement algorithm needs for one user (reference §3.8).
    fn endorsement_facts(
        &self,
        user_id: u64,
        email: &str,
    ) -> impl Future<Output = Result<Facts>> + Send;
    /// Whether the tapir tables exist.
    fn has_schema(&self) -> impl Future<Output = Result<bool>> + Send;
    /// Create the tapir tables; refuses if they exist.
    fn init_schema(&self) -> impl Future<Output = Result<()>> + Send;
    /// A cheap round trip, for health.
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
}

/// A u64 id or time as the tables store it.
fn int(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| LegacyError::BadRow(format!("{v} out of range")))
}

/// A stored id as authd uses it.
fn uint(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| LegacyError::BadRow(format!("{v} out of range")))
}

/// The audit table's 16-character `ip_addr`: longer (IPv6) addresses are left empty there;
/// the cookie and authd's own session keep the full address.
fn audit_ip(ip: &str) -> &str {
    if ip.len() <= 16 { ip } else { "" }
}

macro_rules! tapir_store {
    ($pool:ty, $dialect:expr, $last_id:expr, $has_schema:literal) => {
        impl TapirStore for $pool {
            async fn account_by_login(&self, login: &str) -> Result<Option<AccountRow>> {
                let q = if login.contains('@') {
                    sql::ACCOUNT_BY_EMAIL
                } else {
                    sql::ACCOUNT_BY_NICKNAME
                };
                Ok(sqlx::query_as(q)
                    .bind(login.trim())
                    .fetch_optional(self)
                    .await?)
            }

            async fn account_by_id(&self, id: u64) -> Result<Option<AccountRow>> {
                Ok(sqlx::query_as(sql::ACCOUNT_BY_ID)
                    .bind(int(id)?)
                    .fetch_optional(self)
                    .await?)
            }

            async fn create_session(&self, user_id: u64, start: u64, ip: &str) -> Result<u64> {
                let mut tx = self.begin().await?;
                let start = int(start)?;
                let r = sqlx::query(sql::INSERT_SESSION)
                    .bind(int(user_id)?)
                    .bind(start)
                    .bind(start)
                    .execute(&mut *tx)
                    .await?;
                let id = ($last_id)(&r);
                sqlx::query(sql::INSERT_AUDIT)
                    .bind(int(id)?)
                    .bind(audit_ip(ip))
                    .bind("")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(id)
            }

            async fn end_session(&self, session_id: u64, now: u64) -> Result<bool> {
                let now = int(now)?;
                let r = sqlx::query(sql::END_SESSION)
                    .bind(now - 1)
                    .bind(int(session_id)?)
                    .bind(now)
                    .execute(self)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn session(&self, session_id: u64) -> Result<Option<SessionRow>> {
                Ok(sqlx::query_as(sql::SESSION_BY_ID)
                    .bind(int(session_id)?)
                    .fetch_optional(self)
                    .await?)
            }

            async fn sessions_of(&self, user_id: u64) -> Result<Vec<SessionRow>> {
                Ok(sqlx::query_as(sql::SESSIONS_OF_USER)
                    .bind(int(user_id)?)
                    .fetch_all(self)
                    .await?)
            }

            async fn ended_between(&self, from: u64, to: u64) -> Result<Vec<u64>> {
                let ids: Vec<i64> = sqlx::query_scalar(sql::ENDED_BETWEEN)
                    .bind(int(from)?)
                    .bind(int(to)?)
                    .fetch_all(self)
                    .await?;
                ids.into_iter().map(uint).collect()
            }

            async fn audit_ip(&self, session_id: u64) -> Result<Option<String>> {
                Ok(sqlx::query_scalar(sql::AUDIT_IP)
                    .bind(int(session_id)?)
                    .fetch_optional(self)
                    .await?)
            }

            async fn register(&self, a: &NewAccount) -> Result<u64> {
                let mut tx = self.begin().await?;
                let r = sqlx::query(sql::INSERT_USER)
                    .bind(&a.first_name)
                    .bind(&a.last_name)
                    .bind("")
                    .bind(&a.email)
                    .bind(a.policy_class)
                    .bind(int(a.joined)?)
                    .bind(audit_ip(&a.ip))
                    .bind(i64::from(a.verified))
                    .execute(&mut *tx)
                    .await?;
                let id = int(($last_id)(&r))?;
                sqlx::query(sql::INSERT_NICKNAME)
                    .bind(&a.nickname)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(sql::INSERT_PASSWORD)
                    .bind(id)
                    .bind(&a.password_enc)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                uint(id)
            }

            async fn login_taken(&self, nickname: &str, email: &str) -> Result<(bool, bool)> {
                let count = |q: &'static str, v: String| {
                    sqlx::query_scalar::<_, i64>(q).bind(v).fetch_one(self)
                };
                let nick = count(sql::NICKNAME_COUNT, nickname.trim().to_owned()).await? > 0;
                let mail = count(sql::EMAIL_COUNT, email.trim().to_owned()).await? > 0;
                Ok((nick, mail))
            }

            async fn delete_account(&self, user_id: u64) -> Result<()> {
                let uid = int(user_id)?;
                let mut tx = self.begin().await?;
                for q in sql::DELETE_ACCOUNT {
                    sqlx::query(q).bind(uid).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn set_password(&self, user_id: u64, enc: &str) -> Result<()> {
                sqlx::query(sql::UPDATE_PASSWORD)
                    .bind(enc)
                    .bind(int(user_id)?)
                    .execute(self)
                    .await?;
                Ok(())
            }

            async fn set_flag(&self, user_id: u64, flag: Flag, value: bool) -> Result<()> {
                sqlx::query(flag.statement())
                    .bind(i64::from(value))
                    .bind(int(user_id)?)
                    .execute(self)
                    .await?;
                Ok(())
            }

            async fn endorsement_facts(&self, user_id: u64, email: &str) -> Result<Facts> {
                let uid = int(user_id)?;
                let mut f = Facts::default();
                let rows: Vec<(String, String, i64)> = sqlx::query_as(sql::EXPLICIT_ENDORSEMENTS)
                    .bind(uid)
                    .fetch_all(self)
                    .await?;
                f.explicit = rows
                    .into_iter()
                    .map(|(a, s, p)| (category(&a, &s), p))
                    .collect();
                let rows: Vec<(String, String)> = sqlx::query_as(sql::INVALIDATED_AUTO)
                    .bind(uid)
                    .fetch_all(self)
                    .await?;
                f.invalidated = rows.iter().map(|(a, s)| category(a, s)).collect();
                let rows: Vec<(String, String)> = sqlx::query_as(sql::ACTIVE_CATEGORIES)
                    .fetch_all(self)
                    .await?;
                for (a, s) in rows {
                    f.active
                        .entry(a.clone())
                        .or_default()
                        .insert(category(&a, &s));
                }
                let rows: Vec<(String, String, String, Option<String>, Option<String>, i64)> =
                    sqlx::query_as(sql::POLICIES).fetch_all(self).await?;
                for (a, s, domain, all, by_mail, min_papers) in rows {
                    let yes = |v: &Option<String>| v.as_deref() == Some("y");
                    let p = Policy {
                        domain,
                        endorse_all: yes(&all),
                        endorse_email: yes(&by_mail),
                        min_papers,
                    };
                    f.policies.insert(category(&a, &s), p);
                }
                let count =
                    |q: &'static str| sqlx::query_scalar::<_, i64>(q).bind(email).fetch_one(self);
                f.whitelisted = count(sql::WHITELISTED).await? > 0;
                f.blacklisted = count(sql::BLACKLISTED).await? > 0;
                let rows: Vec<(String, i64)> = sqlx::query_as(sql::PAPERS_PER_DOMAIN)
                    .bind(uid)
                    .fetch_all(self)
                    .await?;
                f.papers = rows.into_iter().collect();
                Ok(f)
            }

            async fn has_schema(&self) -> Result<bool> {
                let n: i64 = sqlx::query_scalar($has_schema).fetch_one(self).await?;
                Ok(n > 0)
            }

            async fn init_schema(&self) -> Result<()> {
                if self.has_schema().await? {
                    return Err(LegacyError::SchemaExists);
                }
                for s in schema::statements($dialect) {
                    sqlx::query(sqlx::AssertSqlSafe(s)).execute(self).await?;
                }
                Ok(())
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query(sql::PING).execute(self).await?;
                Ok(())
            }
        }
    };
}

tapir_store!(
    MySqlPool,
    Dialect::MySql,
    |r: &sqlx::mysql::MySqlQueryResult| r.last_insert_id(),
    "SELECT CAST(COUNT(*) AS SIGNED INTEGER) FROM information_schema.tables
     WHERE table_schema = DATABASE() AND table_name IN ('tapir_users', 'tapir_sessions')"
);

tapir_store!(
    SqlitePool,
    Dialect::Sqlite,
    |r: &sqlx::sqlite::SqliteQueryResult| u64::try_from(r.last_insert_rowid()).unwrap_or(0),
    "SELECT COUNT(*) FROM sqlite_master
     WHERE type = 'table' AND name IN ('tapir_users', 'tapir_sessions')"
);
