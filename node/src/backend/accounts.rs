//! The accounts pages' side of [`NodeBackend`]: login with brute-force limits, registration,
//! verification, profile and password changes, mail.

use std::collections::BTreeSet;

use authd_auth::{FullName, Profile};
use authd_raft::command::NewUser;
use authd_raft::{Applied, Command};
use authd_web::accounts::{Account, Accounts, LoginError, RegisterError, Registration};
use authd_web::pages::tokens::PageKey;
use authd_web::{BackendError, LoginOk, LoginRequest, NewSession, SessionView};
use sha2::{Digest, Sha256};

use super::{NodeBackend, ask};
use crate::actors::sessions::SessionsMsg;
use crate::actors::users::UsersMsg;
use crate::actors::{hash_error, now_ms};
use crate::login_guard::AttemptKeys;
use crate::views::session_view;

/// How long a burnt single-use key is remembered: past every link's and captcha's lifetime.
const FORGET_USED_AFTER_MS: u64 = 2 * 24 * 3600 * 1000;

fn account(u: &authd_auth::User) -> Account {
    Account {
        id: u.id,
        username: u.username.clone(),
        email: u.email.clone(),
        verified: u.verified,
        name: u.name.clone(),
        profile: u.profile.clone(),
        created_ms: u.created_ms,
    }
}

impl NodeBackend {
    async fn write_user(&self, cmd: Command) -> Result<Applied, BackendError> {
        ask(self.inner.slots.users.load_full(), |p| {
            UsersMsg::Write(Box::new(cmd), p)
        })
        .await
    }

    /// `Backend::login`: limits first (no hashing for a locked key), then Argon2id, then a session.
    pub(super) async fn login_impl(&self, req: LoginRequest) -> Result<LoginOk, LoginError> {
        let inner = &self.inner;
        let user = inner.reader.load().state.user_by_login(&req.login).cloned();
        // Legacy mode: the tapir row names the account (its id is the imported user's), so
        // every spelling the database matches shares one counter, imported yet or not.
        let tapir_row = match &inner.legacy {
            Some(l) => Some(l.find_account(&req).await?),
            None => None,
        };
        let account_id = match tapir_row.as_ref() {
            Some(row) => row.as_ref().and_then(|r| r.id()),
            None => user.as_ref().map(|u| u.id),
        };
        let keys = AttemptKeys::new(account_id, &req.login, req.ip.as_deref());
        let attempt = match inner.login_guard.begin(keys) {
            Ok(a) => a,
            Err(refused) => {
                tracing::info!(
                    ip = req.ip.as_deref().unwrap_or("-"),
                    "login refused: locked"
                );
                metrics::counter!("authd_logins_total", "outcome" => "locked").increment(1);
                return Err(LoginError::Locked {
                    retry_after: refused.retry_after_secs,
                    key: refused.key,
                });
            }
        };
        if let Some(legacy) = &inner.legacy {
            // Legacy mode: the tapir tables decide (same lockout, same generic refusal).
            return match legacy.login(tapir_row.flatten(), req).await {
                Ok(l) => {
                    inner.login_guard.succeeded(&attempt, &inner.proposer);
                    Ok(self.login_ok(&l.session, l.index, vec![l.set_cookie])?)
                }
                Err(BackendError::Invalid(_)) => {
                    inner.login_guard.failed(attempt).await;
                    Err(LoginError::Invalid)
                }
                Err(e) => Err(LoginError::Backend(e)),
            };
        }
        let phc = user
            .as_ref()
            .map_or_else(|| inner.dummy_phc.clone(), |u| u.password_hash.clone());
        let matches = inner
            .hasher
            .verify(req.password, phc)
            .await
            .map_err(hash_error)?;
        let user = match user {
            Some(u) if matches && !u.suspended => u,
            _ => {
                tracing::info!(ip = req.ip.as_deref().unwrap_or("-"), "login failed");
                metrics::counter!("authd_logins_total", "outcome" => "failed").increment(1);
                inner.login_guard.failed(attempt).await;
                return Err(LoginError::Invalid);
            }
        };
        inner.login_guard.succeeded(&attempt, &inner.proposer);
        drop(attempt);
        if !user.verified {
            metrics::counter!("authd_logins_total", "outcome" => "unverified").increment(1);
            return Err(LoginError::Unverified);
        }
        let new = NewSession {
            user_id: user.id,
            ttl_secs: None,
            ip: req.ip,
            user_agent: req.user_agent,
        };
        let (s, idx) = ask(inner.slots.sessions.load_full(), |p| {
            SessionsMsg::Create(new, p)
        })
        .await?;
        tracing::info!(user = user.id, "login");
        metrics::counter!("authd_logins_total", "outcome" => "ok").increment(1);
        Ok(self.login_ok(&s, idx, Vec::new())?)
    }
}

impl Accounts for NodeBackend {
    fn page_key(&self) -> &PageKey {
        &self.inner.page_key
    }

    fn account(&self, user_id: u64) -> Option<Account> {
        self.inner
            .reader
            .load()
            .state
            .user(user_id)
            .map(|u| account(u))
    }

    fn account_by_login(&self, login: &str) -> Option<Account> {
        let view = self.inner.reader.load();
        view.state.user_by_login(login).map(|u| account(u))
    }

    fn password_binding(&self, user_id: u64) -> Option<String> {
        let view = self.inner.reader.load();
        let u = view.state.user(user_id)?;
        Some(hex::encode(Sha256::digest(u.password_hash.as_bytes())))
    }

    async fn register(
        &self,
        reg: Registration,
        captcha_nonce: String,
    ) -> Result<u64, RegisterError> {
        // The captcha is spent first, so a spent one costs no hashing; then the same work and
        // the same answer whether or not the address (or name) is taken: no early return.
        self.spend_captcha(&captcha_nonce).await?;
        let password_hash = self
            .inner
            .hasher
            .hash(reg.password.clone())
            .await
            .map_err(hash_error)?;
        match self.inner.legacy.clone() {
            Some(l) => {
                l.register(&reg, |id| {
                    self.create_registered(reg.clone(), password_hash, Some(id))
                })
                .await
            }
            None => self.create_registered(reg, password_hash, None).await,
        }
    }

    async fn verify_email(&self, user_id: u64, nonce: String) -> Result<(), BackendError> {
        let cmd = Command::Once {
            key: format!("verify:{nonce}"),
            forget_after_ms: now_ms() + FORGET_USED_AFTER_MS,
            then: Box::new(Command::SetVerified {
                user_id,
                verified: true,
            }),
        };
        let verify = async { self.write_user(cmd).await.map(|_| ()) };
        match &self.inner.legacy {
            Some(l) => l.verify_email(user_id, verify).await,
            None => verify.await,
        }
    }

    async fn update_profile(
        &self,
        user_id: u64,
        name: FullName,
        profile: Profile,
    ) -> Result<(), BackendError> {
        let cmd = Command::UpdateProfile {
            user_id,
            name: Some(name),
            profile: Some(profile),
        };
        self.write_user(cmd).await.map(|_| ())
    }

    async fn check_password(
        &self,
        user_id: u64,
        password: String,
        ip: String,
    ) -> Result<bool, u64> {
        let inner = &self.inner;
        let Some(user) = inner.reader.load().state.user(user_id).cloned() else {
            return Ok(false);
        };
        // The same per-account and per-address counts as `/login`: not a free password oracle.
        let keys = AttemptKeys::new(Some(user.id), &user.username, Some(&ip));
        let attempt = inner
            .login_guard
            .begin(keys)
            .map_err(|refused| refused.retry_after_secs)?;
        let matches = inner
            .hasher
            .verify(password, user.password_hash.clone())
            .await
            .unwrap_or(false);
        if matches {
            inner.login_guard.succeeded(&attempt, &inner.proposer);
        } else {
            tracing::info!(ip = %ip, "password change refused: wrong current password");
            inner.login_guard.failed(attempt).await;
        }
        Ok(matches)
    }

    async fn set_password(
        &self,
        user_id: u64,
        password: String,
        keep_session: Option<String>,
        link_nonce: Option<String>,
    ) -> Result<u64, BackendError> {
        let legacy = self.inner.legacy.clone();
        let new_password = password.clone();
        let password_hash = self.inner.hasher.hash(password).await.map_err(hash_error)?;
        // The new password and the end of everything else the user holds: one entry.
        let change = Command::EndUserAccess {
            user_id,
            keep_session,
            password_hash: Some(password_hash),
        };
        let cmd = match link_nonce {
            Some(nonce) => Command::Once {
                key: format!("reset:{nonce}"),
                forget_after_ms: now_ms() + FORGET_USED_AFTER_MS,
                then: Box::new(change),
            },
            None => change,
        };
        let write = async {
            match self.write_user(cmd).await? {
                Applied::Ended(n) => Ok(n),
                _ => Ok(0),
            }
        };
        match legacy {
            Some(l) => l.set_password(user_id, &new_password, write).await,
            None => write.await,
        }
    }

    fn own_sessions(&self, user_id: u64) -> Vec<SessionView> {
        let view = self.inner.reader.load();
        let now = now_ms();
        let mut v: Vec<SessionView> = view
            .state
            .sessions_of(user_id)
            .into_iter()
            .filter(|s| s.expires_ms > now)
            .map(|s| session_view(s))
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.created_ms));
        v
    }

    fn sessions_capped(&self, user_id: u64) -> bool {
        self.inner.reader.load().state.sessions_capped(user_id)
    }

    async fn send_mail(
        &self,
        to: String,
        subject: String,
        body: String,
    ) -> Result<(), BackendError> {
        self.inner
            .mailer
            .send(&to, &subject, body)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "mail not sent");
                BackendError::Unavailable("mail could not be sent".into())
            })
    }

    fn public_url(&self) -> &str {
        &self.inner.public_url
    }
}

impl NodeBackend {
    /// Burn a captcha on the whole cluster; a second use is refused before anything else.
    async fn spend_captcha(&self, nonce: &str) -> Result<(), RegisterError> {
        let cmd = Command::Once {
            key: format!("captcha:{nonce}"),
            forget_after_ms: now_ms() + FORGET_USED_AFTER_MS,
            then: Box::new(Command::Nothing),
        };
        match self.write_user(cmd).await {
            Ok(_) => Ok(()),
            Err(BackendError::Conflict(_)) => Err(RegisterError::CaptchaUsed),
            Err(e) => Err(e.into()),
        }
    }

    /// The authd half of a registration: the user (under `id` in legacy mode).
    async fn create_registered(
        &self,
        reg: Registration,
        password_hash: String,
        id: Option<u64>,
    ) -> Result<u64, RegisterError> {
        let create = Command::CreateUser(NewUser {
            id,
            username: reg.username,
            email: reg.email,
            name: Some(reg.name),
            profile: Some(reg.profile),
            verified: false,
            roles: BTreeSet::from(["user".to_owned()]),
            password_hash,
            created_ms: now_ms(),
        });
        match self.write_user(create).await {
            Ok(Applied::UserId(id)) => Ok(id),
            Ok(other) => {
                Err(BackendError::Internal(format!("unexpected outcome {other:?}")).into())
            }
            Err(BackendError::Conflict(m)) if m.contains("username") => {
                Err(RegisterError::UsernameTaken)
            }
            Err(BackendError::Conflict(m)) if m.contains("e-mail") => {
                Err(RegisterError::EmailTaken)
            }
            Err(e) => Err(e.into()),
        }
    }
}
