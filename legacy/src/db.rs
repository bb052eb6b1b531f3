//! The database handle authd holds: one pool, MariaDB/MySQL or SQLite, picked by URL scheme.

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{MySqlPool, SqlitePool};

use crate::account::AccountRow;
use crate::error::{LegacyError, Result};
use crate::store::{Flag, NewAccount, SessionRow, TapirStore};

/// How long a request waits for a pooled connection before answering "unavailable".
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool over the tapir tables.
#[derive(Debug, Clone)]
pub enum LegacyDb {
    /// `mysql://` or `mariadb://`.
    MySql(MySqlPool),
    /// `sqlite:`.
    Sqlite(SqlitePool),
}

impl LegacyDb {
    /// A pool for `url` that connects on first use, so authd starts (and recovers) while the
    /// database is down.
    pub fn connect_lazy(url: &str) -> Result<LegacyDb> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "mysql" | "mariadb" => {
                let url = url.replacen("mariadb:", "mysql:", 1);
                let opts = MySqlConnectOptions::from_str(&url)?;
                Ok(LegacyDb::MySql(
                    MySqlPoolOptions::new()
                        .max_connections(16)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .connect_lazy_with(opts),
                ))
            }
            "sqlite" => {
                let opts = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10));
                Ok(LegacyDb::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(4)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .connect_lazy_with(opts),
                ))
            }
            _ => Err(LegacyError::Config(
                "database_url must start with mysql://, mariadb:// or sqlite:".into(),
            )),
        }
    }

    /// Close every connection (tests stop servers under it).
    pub async fn close(&self) {
        match self {
            LegacyDb::MySql(p) => p.close().await,
            LegacyDb::Sqlite(p) => p.close().await,
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            LegacyDb::MySql($p) => $e,
            LegacyDb::Sqlite($p) => $e,
        }
    };
}

impl TapirStore for LegacyDb {
    async fn account_by_login(&self, login: &str) -> Result<Option<AccountRow>> {
        dispatch!(self, p => p.account_by_login(login).await)
    }
    async fn account_by_id(&self, id: u64) -> Result<Option<AccountRow>> {
        dispatch!(self, p => p.account_by_id(id).await)
    }
    async fn create_session(&self, user_id: u64, start: u64, ip: &str) -> Result<u64> {
        dispatch!(self, p => p.create_session(user_id, start, ip).await)
    }
    async fn end_session(&self, session_id: u64, now: u64) -> Result<bool> {
        dispatch!(self, p => p.end_session(session_id, now).await)
    }
    async fn session(&self, session_id: u64) -> Result<Option<SessionRow>> {
        dispatch!(self, p => p.session(session_id).await)
    }
    async fn sessions_of(&self, user_id: u64) -> Result<Vec<SessionRow>> {
        dispatch!(self, p => p.sessions_of(user_id).await)
    }
    async fn ended_between(&self, from: u64, to: u64) -> Result<Vec<u64>> {
        dispatch!(self, p => p.ended_between(from, to).await)
    }
    async fn audit_ip(&self, session_id: u64) -> Result<Option<String>> {
        dispatch!(self, p => p.audit_ip(session_id).await)
    }
    async fn register(&self, a: &NewAccount) -> Result<u64> {
        dispatch!(self, p => p.register(a).await)
    }
    async fn login_taken(&self, nickname: &str, email: &str) -> Result<(bool, bool)> {
        dispatch!(self, p => p.login_taken(nickname, email).await)
    }
    async fn delete_account(&self, user_id: u64) -> Result<()> {
        dispatch!(self, p => p.delete_account(user_id).await)
    }
    async fn set_password(&self, user_id: u64, enc: &str) -> Result<()> {
        dispatch!(self, p => p.set_password(user_id, enc).await)
    }
    async fn set_flag(&self, user_id: u64, flag: Flag, value: bool) -> Result<()> {
        dispatch!(self, p => p.set_flag(user_id, flag, value).await)
    }
    async fn endorsement_facts(
        &self,
        user_id: u64,
        email: &str,
    ) -> Result<crate::endorsements::Facts> {
        dispatch!(self, p => p.endorsement_facts(user_id, email).await)
    }
    async fn has_schema(&self) -> Result<bool> {
        dispatch!(self, p => p.has_schema().await)
    }
    async fn init_schema(&self) -> Result<()> {
        dispatch!(self, p => p.init_schema().await)
    }
    async fn ping(&self) -> Result<()> {
        dispatch!(self, p => p.ping().await)
    }
}
