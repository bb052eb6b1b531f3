//! Legacy (on-premises) mode: authd and the classic arXiv site share users and sessions through
//! the tapir tables. A login on either side is one login on both; ending either ends both.
//!
//! - `login`: legacy-mode login (tapir account check, import with an Argon2id hash, tapir row).
//! - `import`: a `tapir_session` cookie from the legacy site's own login, validated once.
//! - `watcher`: the leader replicates legacy logouts and writes authd logouts back.

mod accounts;
pub mod config;
mod import;
mod login;
mod watcher;

use std::net::IpAddr;
use std::sync::Arc;

use authd_auth::Session;
use authd_legacy::{LegacyDb, LegacyError, TapirCookie};
use authd_raft::Command;
use authd_web::BackendError;
use authd_web::CookieSettings;

use crate::actors::{Deps, now_ms};
pub use config::LegacySpec;
pub use import::Refusals;
pub use watcher::spawn_watcher;

/// Everything legacy mode needs on a node.
pub struct LegacyMode {
    db: LegacyDb,
    secret: Vec<u8>,
    duration_secs: u64,
    cookie: CookieSettings,
    deps: Deps,
    refusals: Arc<Refusals>,
}

impl LegacyMode {
    /// Set up legacy mode; the database is connected lazily (authd starts while it is down).
    pub fn new(
        spec: &LegacySpec,
        ng_cookie: &CookieSettings,
        deps: Deps,
    ) -> Result<Arc<LegacyMode>, LegacyError> {
        Ok(Arc::new(LegacyMode {
            db: LegacyDb::connect_lazy(&spec.database_url)?,
            secret: spec.secret.clone(),
            duration_secs: spec.duration_secs,
            cookie: CookieSettings {
                name: spec.cookie_name.clone(),
                ..ng_cookie.clone()
            },
            deps,
            refusals: Arc::default(),
        }))
    }

    /// The legacy cookie's attributes (same domain and flags as the NG cookie).
    pub fn cookie(&self) -> &CookieSettings {
        &self.cookie
    }

    /// How the cookie rule checks `tapir_session` values (secret, lifetime, recent refusals).
    pub fn check(&self) -> crate::cookie_rule::LegacyCheck {
        crate::cookie_rule::LegacyCheck {
            secret: self.secret.clone(),
            duration_secs: self.duration_secs,
            refusals: self.refusals.clone(),
        }
    }

    /// The cookie value's fields if its hash is right and it has not expired.
    fn verify(&self, value: &str) -> Option<TapirCookie> {
        TapirCookie::verify(value, &self.secret, now_ms() / 1000, self.duration_secs).ok()
    }

    /// Start an authd session linked to tapir session `tapir_id`; its log index.
    async fn link_session(
        &self,
        user_id: u64,
        tapir_id: u64,
        window_ms: (u64, u64),
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(Session, u64), BackendError> {
        let internal = |e: authd_auth::RandomError| BackendError::Internal(e.to_string());
        let session = Session {
            id: authd_auth::random_hex(16).map_err(internal)?,
            user_id,
            nonce: authd_auth::random_hex(16).map_err(internal)?,
            created_ms: window_ms.0,
            expires_ms: window_ms.1,
            ip,
            user_agent,
            tapir_session_id: Some(tapir_id),
        };
        let index = self.deps.create_session(session.clone()).await?;
        Ok((session, index))
    }

    /// Logout from a `tapir_session` cookie: end the linked authd session and queue the tapir
    /// row (one replicated command, decided where the link is known), then end the row now if
    /// the database answers.
    pub async fn logout(&self, values: &[String]) -> Result<u64, BackendError> {
        let ids: Vec<u64> = values
            .iter()
            .filter_map(|v| TapirCookie::unpack(v, &self.secret).ok())
            .map(|c| c.session_id)
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let cmd = Command::EndTapirSessions {
            tapir_ids: ids.clone(),
            by_legacy: false,
        };
        let ended = self.deps.ended(cmd).await?;
        self.end_rows(&ids).await;
        Ok(ended)
    }

    /// End tapir rows now, best effort: what fails stays in the outbox for the watcher.
    pub async fn end_rows(&self, ids: &[u64]) {
        use authd_legacy::TapirStore;
        let now = now_ms() / 1000;
        for id in ids {
            if let Err(e) = self.db.end_session(*id, now).await {
                tracing::warn!(error = %e, "legacy logout deferred: the tapir row will be ended later");
                return;
            }
        }
    }
}

/// `authd legacy init-schema`: create the tapir tables (dev mode only, empty database only).
pub async fn init_schema(cfg: &crate::config::Config) -> anyhow::Result<serde_json::Value> {
    use authd_legacy::TapirStore;
    if !cfg.file.dev {
        anyhow::bail!("init-schema is for development databases only: it needs dev = true");
    }
    let Some(l) = &cfg.file.legacy else {
        anyhow::bail!("no [legacy] section in the configuration");
    };
    let db = LegacyDb::connect_lazy(&l.database_url)?;
    let r = db.init_schema().await;
    db.close().await;
    r?;
    Ok(serde_json::json!({ "created": true }))
}

/// The client address as the legacy cookie carries it (`0.0.0.0` when unknown).
fn cookie_ip(ip: Option<&str>) -> String {
    ip.and_then(|s| s.parse::<IpAddr>().ok())
        .map_or_else(|| "0.0.0.0".to_owned(), authd_legacy::encode_ip)
}

/// What the web layer shows when the legacy database cannot answer.
fn unavailable(e: &LegacyError) -> BackendError {
    tracing::warn!(error = %e, "legacy database unavailable");
    BackendError::Unavailable(
        "The login service is temporarily unavailable; please try again in a minute.".into(),
    )
}
