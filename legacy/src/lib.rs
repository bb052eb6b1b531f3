//! The legacy arXiv ("tapir") database and formats, so authd and the classic site share users
//! and sessions: password hashes (§3.12), the `tapir_session` cookie (§2.3), the login rules
//! (§3.13, §4.3) and an adapter over the tapir tables for MariaDB/MySQL and SQLite.

pub mod account;
pub mod cookie;
pub mod db;
pub mod dev;
pub mod endorsements;
pub mod error;
pub mod login;
pub mod password;
pub mod schema;
mod sql;
pub mod store;

pub use account::{AccountRow, Refusal};
pub use cookie::{CookieError, TapirCookie, encode_ip, first_valid};
pub use db::LegacyDb;
pub use error::{LegacyError, Result};
pub use login::{LoginError, authenticate, check_account, find_account, open_session};
pub use store::{Flag, NewAccount, SessionRow, TapirStore};
