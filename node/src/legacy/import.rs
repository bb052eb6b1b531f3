//! A `tapir_session` cookie from the legacy site's own login, seen by `/auth` for the first
//! time: one database check, then an authd session linked to it, so every later request (on
//! any node) is answered from replicated state.

use authd_legacy::TapirStore;
use authd_web::BackendError;

use super::{LegacyMode, unavailable};
use crate::actors::now_ms;

fn invalid() -> BackendError {
    BackendError::Invalid("not a valid legacy session".into())
}

impl LegacyMode {
    /// See the module docs. `Err(Invalid)`: refuse the cookie; `Err(Unavailable)`: retry later.
    pub async fn import(&self, value: &str) -> Result<(), BackendError> {
        let c = self.verify(value).ok_or_else(invalid)?;
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
            // Conflict: linked meanwhile by a concurrent request (or ended: the next check says).
            Ok(_) | Err(BackendError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
