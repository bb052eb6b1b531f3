//! Legacy-mode login steps (reference §4.3 step 2, §3.9): check the account, open the session.

use crate::account::{AccountRow, Refusal, input_ok};
use crate::cookie::TapirCookie;
use crate::error::LegacyError;
use crate::store::TapirStore;

/// Why a legacy login did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The credentials do not open an account (the user sees one generic message).
    #[error("login refused: {0}")]
    Refused(Refusal),
    /// The database could not answer: nothing was written, try again later.
    #[error(transparent)]
    Db(#[from] LegacyError),
}

/// Look the account up and check it against §3.13 and the legacy password.
pub async fn authenticate(
    db: &impl TapirStore,
    login: &str,
    password: &str,
) -> Result<AccountRow, LoginError> {
    if !input_ok(login, password) {
        return Err(LoginError::Refused(Refusal::BadInput));
    }
    check_account(find_account(db, login, password).await?, password)
}

/// The account a login names, looked up once (§4.3 input rules first): its id keys the
/// brute-force counter, so every spelling the database matches counts against one account.
pub async fn find_account(
    db: &impl TapirStore,
    login: &str,
    password: &str,
) -> Result<Option<AccountRow>, LegacyError> {
    if !input_ok(login, password) {
        return Ok(None);
    }
    db.account_by_login(login).await
}

/// Check a looked-up account against §3.13 and the legacy password.
pub fn check_account(row: Option<AccountRow>, password: &str) -> Result<AccountRow, LoginError> {
    let row = row.ok_or(LoginError::Refused(Refusal::Unknown))?;
    row.check(password).map_err(LoginError::Refused)?;
    Ok(row)
}

/// Write the session and audit rows (one transaction) and describe the cookie for them.
pub async fn open_session(
    db: &impl TapirStore,
    account: &AccountRow,
    ip: &str,
    now_secs: u64,
) -> Result<TapirCookie, LegacyError> {
    let user_id = account
        .id()
        .ok_or_else(|| LegacyError::BadRow(format!("user id {}", account.user_id)))?;
    let session_id = db.create_session(user_id, now_secs, ip).await?;
    Ok(TapirCookie {
        session_id,
        user_id,
        ip: ip.to_owned(),
        issued_at: now_secs,
        capabilities: account.classic(),
    })
}
