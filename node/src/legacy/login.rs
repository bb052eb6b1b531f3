//! Legacy-mode login: the tapir tables decide; authd keeps an Argon2id copy (lazy upgrade).
//!
//! Order, so a failure never leaves half a login: account check (read only), import or
//! upgrade of the user in replicated state (harmless on its own), tapir session row and audit
//! row (one transaction), then the linked authd session; if that last step fails the tapir
//! row is ended again.

use authd_auth::{LegacyGrants, Session};
use authd_legacy::{AccountRow, LoginError, TapirStore};
use authd_raft::Command;
use authd_raft::command::NewUser;
use authd_web::{BackendError, LoginRequest};

use super::{LegacyMode, cookie_ip, unavailable};
use crate::actors::{hash_error, now_ms};

/// A legacy-mode login's outcome: the authd session and the legacy cookie to set with it.
pub struct LegacyLogin {
    /// The linked authd session.
    pub session: Session,
    /// Log index of its creation (carried in the NG cookie).
    pub index: u64,
    /// Complete `Set-Cookie` value for `tapir_session`.
    pub set_cookie: String,
}

impl LegacyMode {
    /// The tapir account a login names, if any (one query; before the brute-force check, so
    /// the counter is keyed on the account, not on the spelling typed).
    pub async fn find_account(
        &self,
        req: &LoginRequest,
    ) -> Result<Option<AccountRow>, BackendError> {
        authd_legacy::find_account(&self.db, &req.login, &req.password)
            .await
            .map_err(|e| unavailable(&e))
    }

    /// See the module docs; `account` is what [`LegacyMode::find_account`] found. `Err(Invalid)`
    /// for every refused credential, one generic answer.
    pub async fn login(
        &self,
        account: Option<AccountRow>,
        req: LoginRequest,
    ) -> Result<LegacyLogin, BackendError> {
        let account = match authd_legacy::check_account(account, &req.password) {
            Ok(a) => a,
            Err(LoginError::Refused(why)) => {
                tracing::info!(reason = %why, "legacy login refused");
                metrics::counter!("authd_logins_total", "outcome" => "failed").increment(1);
                return Err(BackendError::Invalid("invalid credentials".into()));
            }
            Err(LoginError::Db(e)) => return Err(unavailable(&e)),
        };
        let user_id = self.ensure_user(&account, Some(&req.password)).await?;
        let now = now_ms();
        let ip = cookie_ip(req.ip.as_deref());
        let tapir = authd_legacy::open_session(&self.db, &account, &ip, now / 1000)
            .await
            .map_err(|e| unavailable(&e))?;
        let start_ms = tapir.issued_at.saturating_mul(1000);
        let end_ms = tapir.expires_at(self.duration_secs).saturating_mul(1000);
        let linked = self
            .link_session(
                user_id,
                tapir.session_id,
                (start_ms, end_ms),
                req.ip,
                req.user_agent,
            )
            .await;
        let (session, index) = match linked {
            Ok(x) => x,
            Err(e) => {
                self.end_rows(&[tapir.session_id]).await;
                return Err(e);
            }
        };
        let max_age = self.duration_secs.saturating_sub(1);
        tracing::info!(user = user_id, "legacy login");
        metrics::counter!("authd_logins_total", "outcome" => "ok").increment(1);
        Ok(LegacyLogin {
            session,
            index,
            set_cookie: self.cookie.set(&tapir.pack(&self.secret), max_age),
        })
    }

    /// Make sure the tapir account exists in replicated state under its tapir id, with its
    /// current legacy grants; with a (just verified) password, make sure authd's Argon2id hash
    /// matches it.
    pub(super) async fn ensure_user(
        &self,
        account: &AccountRow,
        password: Option<&str>,
    ) -> Result<u64, BackendError> {
        let id = self.import_user(account, password).await?;
        let facts = self
            .db
            .endorsement_facts(id, &account.email)
            .await
            .map_err(|e| unavailable(&e))?;
        let grants = LegacyGrants {
            classic: account.classic(),
            endorsements: facts.endorsements(),
        };
        let current = self
            .deps
            .reader
            .load()
            .state
            .user(id)
            .and_then(|u| u.legacy.clone());
        if current.as_ref() != Some(&grants) {
            let cmd = Command::SetLegacyGrants {
                user_id: id,
                grants,
            };
            self.deps.ended(cmd).await?;
        }
        Ok(id)
    }

    async fn import_user(
        &self,
        account: &AccountRow,
        password: Option<&str>,
    ) -> Result<u64, BackendError> {
        let id = account
            .id()
            .ok_or_else(|| BackendError::Invalid("unusable legacy user id".into()))?;
        let existing = self.deps.reader.load().state.user(id).cloned();
        let hasher = &self.deps.hasher;
        let hash = |pw: &str| {
            let pw = pw.to_owned();
            async move { hasher.hash(pw).await.map_err(hash_error) }
        };
        if let Some(u) = existing {
            // The same person, or an authd-only account that happens to hold this id: never
            // log one in as the other.
            if u.suspended || !same_person(&u, account) {
                if !u.suspended {
                    tracing::warn!(
                        user = id,
                        "legacy account id is held by another authd account"
                    );
                }
                return Err(BackendError::Invalid("invalid credentials".into()));
            }
            if let Some(pw) = password
                && !hasher
                    .verify(pw.to_owned(), u.password_hash.clone())
                    .await
                    .map_err(hash_error)?
            {
                let password_hash = hash(pw).await?;
                let cmd = Command::SetPassword {
                    user_id: id,
                    password_hash,
                };
                self.deps.ended(cmd).await?;
            }
            return Ok(id);
        }
        let password_hash = match password {
            Some(pw) => hash(pw).await?,
            // Not a PHC string: no password logs in through authd's own store until a legacy login.
            None => "!".to_owned(),
        };
        let cmd = Command::CreateUser(NewUser {
            id: Some(id),
            username: account.nickname.clone(),
            email: account.email.clone(),
            name: account.name(),
            profile: account.profile(),
            verified: account.flag_email_verified == 1,
            roles: account.roles().into_iter().collect(),
            password_hash,
            created_ms: now_ms(),
        });
        match self.deps.ended(cmd).await {
            Ok(_) => Ok(id),
            // Imported meanwhile by a concurrent login on another node.
            Err(BackendError::Conflict(_))
                if self
                    .deps
                    .reader
                    .load()
                    .state
                    .user(id)
                    .is_some_and(|u| same_person(u, account)) =>
            {
                Ok(id)
            }
            Err(BackendError::Conflict(why)) => {
                tracing::warn!(user = id, %why, "legacy account clashes with an authd account");
                Err(BackendError::Invalid("invalid credentials".into()))
            }
            Err(e) => Err(e),
        }
    }
}

/// Whether the authd user under a tapir id is that tapir account (same username or e-mail).
fn same_person(u: &authd_auth::User, account: &AccountRow) -> bool {
    u.username.eq_ignore_ascii_case(account.nickname.trim())
        || u.email.eq_ignore_ascii_case(account.email.trim())
}
