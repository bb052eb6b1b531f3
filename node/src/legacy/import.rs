//! A `tapir_session` cookie from the legacy site's own login, seen by `/auth` for the first
//! time: one database check, then an authd session linked to it, so every later request (on
//! any node) is answered from replicated state.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use authd_legacy::{TapirCookie, TapirStore};
use authd_web::BackendError;

use super::{LegacyMode, unavailable};
use crate::actors::now_ms;

/// How long the first request with a new legacy cookie waits for its session to apply here.
const APPLY_WAIT: Duration = Duration::from_secs(2);
/// A legacy cookie the database refused is refused without asking again for this long (a
/// replayed dead cookie must not cost a query per request).
const REFUSAL_TTL: Duration = Duration::from_secs(30);
const REFUSAL_CAP: usize = 10_000;

/// Legacy cookies recently refused by the database check.
#[derive(Default)]
pub struct Refusals(Mutex<HashMap<Key, Instant>>);

/// (session id, user id, issued at): what the cookie's hash vouches for together.
type Key = (u64, u64, u64);

fn key(c: &TapirCookie) -> Key {
    (c.session_id, c.user_id, c.issued_at)
}

impl Refusals {
    /// Whether the database refused this cookie moments ago (the cookie rule then ignores it).
    pub fn refused(&self, c: &TapirCookie) -> bool {
        self.contains(key(c))
    }

    fn contains(&self, id: Key) -> bool {
        self.0
            .lock()
            .map(|m| m.get(&id).is_some_and(|t| t.elapsed() < REFUSAL_TTL))
            .unwrap_or(false)
    }

    fn insert(&self, id: Key) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= REFUSAL_CAP {
                m.retain(|_, t| t.elapsed() < REFUSAL_TTL);
                if m.len() >= REFUSAL_CAP {
                    m.clear();
                }
            }
            m.insert(id, Instant::now());
        }
    }
}

fn invalid() -> BackendError {
    BackendError::Invalid("not a valid legacy session".into())
}

impl LegacyMode {
    /// See the module docs. `Err(Invalid)`: refuse the cookie; `Err(Unavailable)`: retry later.
    pub async fn import(&self, value: &str) -> Result<(), BackendError> {
        let c = self.verify(value).ok_or_else(invalid)?;
        if self.refusals.contains(key(&c)) {
            return Err(invalid());
        }
        let r = self.check_and_link(&c).await;
        if matches!(r, Err(BackendError::Invalid(_))) {
            self.refusals.insert(key(&c));
        }
        r
    }

    async fn check_and_link(&self, c: &TapirCookie) -> Result<(), BackendError> {
        {
            let view = self.deps.reader.load();
            let links = view.state.tapir();
            if links.is_ended(c.session_id) {
                return Err(invalid());
            }
            if links.session_of(c.session_id).is_some() {
                return Ok(());
            }
        }
        let now = now_ms() / 1000;
        let row = self
            .db
            .session(c.session_id)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or_else(invalid)?;
        let same = u64::try_from(row.user_id).ok() == Some(c.user_id)
            && u64::try_from(row.start_time).ok() == Some(c.issued_at);
        if !same || !row.open_at(now) {
            return Err(invalid());
        }
        let account = self
            .db
            .account_by_id(c.user_id)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or_else(invalid)?;
        if !account.eligible() {
            return Err(invalid());
        }
        let user_id = self.ensure_user(&account, None).await?;
        let window = (
            c.issued_at.saturating_mul(1000),
            c.expires_at(self.duration_secs).saturating_mul(1000),
        );
        match self
            .link_session(user_id, c.session_id, window, Some(c.ip.clone()), None)
            .await
        {
            // Committed on a majority: wait until this node has applied it too, so the request
            // that brought the cookie is answered from local state.
            Ok((_, index)) => {
                let _ = self.deps.reader.wait_applied(index, APPLY_WAIT).await;
                Ok(())
            }
            // Linked meanwhile by a concurrent request (or ended: the next check says).
            Err(BackendError::Conflict(_)) => {
                self.wait_linked(c.session_id).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Wait (at most [`APPLY_WAIT`]) until this node's state knows tapir session `id`.
    async fn wait_linked(&self, id: u64) {
        let deadline = Instant::now() + APPLY_WAIT;
        loop {
            let (known, applied) = {
                let view = self.deps.reader.load();
                let t = view.state.tapir();
                (
                    t.session_of(id).is_some() || t.is_ended(id),
                    view.last_applied,
                )
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if known || left.is_zero() {
                return;
            }
            let next = applied.map_or(1, |a| a + 1);
            let _ = self.deps.reader.wait_applied(next, left).await;
        }
    }
}
