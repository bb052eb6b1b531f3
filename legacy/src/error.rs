//! Errors of the legacy adapter: each says what the caller should do about it.

use thiserror::Error;

/// Why a legacy operation failed.
#[derive(Debug, Error)]
pub enum LegacyError {
    /// The database cannot be reached or refused the statement: retry later (HTTP 503).
    #[error("legacy database unavailable: {0}")]
    Unavailable(String),
    /// The database URL or configuration is unusable (startup error).
    #[error("legacy database configuration: {0}")]
    Config(String),
    /// The tapir tables already exist (init-schema refuses to touch them).
    #[error("the tapir tables already exist; refusing to create them again")]
    SchemaExists,
    /// A legacy row holds data authd cannot use (e.g. an out-of-range id).
    #[error("legacy row unusable: {0}")]
    BadRow(String),
}

impl From<sqlx::Error> for LegacyError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Configuration(c) => LegacyError::Config(c.to_string()),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                LegacyError::BadRow(e.to_string())
            }
            other => LegacyError::Unavailable(other.to_string()),
        }
    }
}

/// Result of legacy operations.
pub type Result<T> = std::result::Result<T, LegacyError>;
