//! Account pages in legacy mode write through to the tapir tables, so the classic site and
//! legacy-mode login see what authd's pages did. The tapir side is written first and undone if
//! the authd side then fails, so a failure leaves neither side changed.

use std::future::Future;

use authd_legacy::{Flag, NewAccount, TapirStore, password};
use authd_web::BackendError;
use authd_web::accounts::{RegisterError, Registration};

use super::{LegacyMode, unavailable};
use crate::actors::now_ms;

fn not_ascii() -> BackendError {
    BackendError::Invalid(
        "While accounts are shared with the classic arXiv site, passwords must use plain ASCII \
         characters."
            .into(),
    )
}

impl LegacyMode {
    /// Registration: tapir user, nickname and password rows (one transaction), then `create`
    /// (the authd user under the tapir id); if `create` fails the tapir rows are removed.
    pub async fn register<F, Fut>(
        &self,
        reg: &Registration,
        create: F,
    ) -> Result<u64, RegisterError>
    where
        F: FnOnce(u64) -> Fut,
        Fut: Future<Output = Result<u64, RegisterError>>,
    {
        let enc = password::hash(&reg.password).ok_or_else(not_ascii)?;
        let (nick, mail) = self
            .db
            .login_taken(&reg.username, &reg.email)
            .await
            .map_err(|e| unavailable(&e))?;
        if nick {
            return Err(RegisterError::UsernameTaken);
        }
        if mail {
            return Err(RegisterError::EmailTaken);
        }
        let account = NewAccount {
            nickname: reg.username.clone(),
            email: reg.email.clone(),
            first_name: reg.name.forename.clone(),
            last_name: reg.name.surname.clone(),
            password_enc: enc,
            policy_class: 2,
            verified: false,
            ip: String::new(),
            joined: now_ms() / 1000,
        };
        let id = self
            .db
            .register(&account)
            .await
            .map_err(|e| unavailable(&e))?;
        let created = create(id).await;
        if created.is_err()
            && let Err(e) = self.db.delete_account(id).await
        {
            tracing::error!(user = id, error = %e, "could not undo a legacy registration");
        }
        created
    }

    /// E-mail verified: the tapir flag first (legacy-mode login requires it), then `verify`.
    pub async fn verify_email<Fut>(&self, user_id: u64, verify: Fut) -> Result<(), BackendError>
    where
        Fut: Future<Output = Result<(), BackendError>>,
    {
        // No tapir row (an authd-only account): the update changes nothing.
        self.db
            .set_flag(user_id, Flag::Verified, true)
            .await
            .map_err(|e| unavailable(&e))?;
        verify.await
    }

    /// Password change or reset: the tapir hash first, then `change`; if `change` fails the
    /// old tapir hash is put back.
    pub async fn set_password<Fut>(
        &self,
        user_id: u64,
        new_password: &str,
        change: Fut,
    ) -> Result<u64, BackendError>
    where
        Fut: Future<Output = Result<u64, BackendError>>,
    {
        let account = self
            .db
            .account_by_id(user_id)
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(old) = account.and_then(|a| a.password_enc) else {
            return change.await; // an authd-only account: nothing to write through
        };
        let enc = password::hash(new_password).ok_or_else(not_ascii)?;
        self.db
            .set_password(user_id, &enc)
            .await
            .map_err(|e| unavailable(&e))?;
        let changed = change.await;
        if changed.is_err()
            && let Err(e) = self.db.set_password(user_id, &old).await
        {
            tracing::error!(user = user_id, error = %e, "could not restore a legacy password");
        }
        changed
    }
}
