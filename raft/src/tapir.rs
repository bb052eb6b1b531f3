//! Links between authd sessions and legacy `tapir_sessions` rows (legacy mode): one login.
//!
//! - `links`: tapir session id → authd session id, so `/auth` finds a legacy cookie's session
//!   in local state and a legacy logout ends the right authd session.
//! - `ended`: tapir sessions that ended while linked, kept until their session would have
//!   expired, so a replayed cookie is refused from state, without a database query.
//! - `outbox`: tapir rows whose authd side ended (logout, "end session", suspension) and that
//!   the legacy database has not been told about yet; the leader writes them and clears them,
//!   so an outage of the database delays, never loses, the legacy logout.

use imbl::{HashMap, OrdMap, OrdSet};
use serde::{Deserialize, Serialize};

/// See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapirLinks {
    links: OrdMap<u64, String>,
    ended: HashMap<u64, u64>,
    outbox: OrdSet<u64>,
}

/// Why ending a linked session happened, which decides who must tell the legacy database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// authd ended it: the tapir row must be ended too (outbox).
    Authd,
    /// The legacy site ended the row itself: nothing to write back.
    Legacy,
    /// It expired on both sides: nothing to remember.
    Expiry,
}

impl TapirLinks {
    /// The authd session linked to a tapir session, if live.
    pub fn session_of(&self, tapir_id: u64) -> Option<&str> {
        self.links.get(&tapir_id).map(String::as_str)
    }

    /// Whether the tapir session ended while linked (its cookie must be refused).
    pub fn is_ended(&self, tapir_id: u64) -> bool {
        self.ended.contains_key(&tapir_id)
    }

    /// Tapir rows still to be ended in the legacy database, oldest id first.
    pub fn outbox(&self) -> Vec<u64> {
        self.outbox.iter().copied().collect()
    }

    /// Every linked tapir id, for the legacy-logout watcher.
    pub fn linked(&self) -> impl Iterator<Item = u64> + '_ {
        self.links.keys().copied()
    }

    /// Whether a new link for `tapir_id` may be made (not linked, not ended).
    pub(crate) fn can_link(&self, tapir_id: u64) -> bool {
        !self.links.contains_key(&tapir_id) && !self.ended.contains_key(&tapir_id)
    }

    pub(crate) fn link(&mut self, tapir_id: u64, session_id: &str) {
        self.links.insert(tapir_id, session_id.to_owned());
    }

    /// The linked authd session ended; `expires_ms` bounds how long the tombstone is kept.
    pub(crate) fn unlink(&mut self, tapir_id: u64, expires_ms: u64, by: EndedBy) {
        self.links.remove(&tapir_id);
        match by {
            EndedBy::Authd => {
                self.ended.insert(tapir_id, expires_ms);
                self.outbox.insert(tapir_id);
            }
            EndedBy::Legacy => {
                self.ended.insert(tapir_id, expires_ms);
            }
            EndedBy::Expiry => {}
        }
    }

    /// A tapir row to end in the legacy database that no authd session is linked to.
    pub(crate) fn queue_end(&mut self, tapir_id: u64) {
        self.outbox.insert(tapir_id);
    }

    /// The legacy database has been told about these.
    pub(crate) fn written(&mut self, ids: &[u64]) -> u64 {
        ids.iter()
            .map(|id| u64::from(self.outbox.remove(id).is_some()))
            .sum()
    }

    /// Forget tombstones of sessions that would have expired by now.
    pub(crate) fn expire(&mut self, now_ms: u64) {
        self.ended.retain(|_, exp| *exp > now_ms);
    }
}
