//! Helpers for tests and local setup: fresh databases to run the tapir tables in.

use sqlx::{Connection, MySqlConnection};

use crate::error::{LegacyError, Result};

/// Create database `name` on the MySQL/MariaDB server at `server_url` (no database part) and
/// return a URL for it. `name` must be `[a-z0-9_]{1,64}`, so no SQL is built from odd input.
pub async fn create_mysql_database(server_url: &str, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(LegacyError::Config(format!("bad database name {name:?}")));
    }
    let base = server_url.trim_end_matches('/');
    let mut conn = MySqlConnection::connect(base).await?;
    let stmt = format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4");
    sqlx::raw_sql(sqlx::AssertSqlSafe(stmt))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(format!("{base}/{name}"))
}

/// A random lower-case database name with `prefix`.
pub fn random_name(prefix: &str) -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}_{hex}")
}
