//! The audit log in replicated state: who did what to whom, when and from where, for admin
//! actions and security events. Bounded (the oldest entries go first) and never holding a
//! password, secret or token: callers pass names, ids and digests only.

use std::sync::Arc;

use imbl::Vector;
use serde::{Deserialize, Serialize};

/// Entries kept; beyond this the oldest are dropped.
pub const MAX_ENTRIES: usize = 100_000;

/// One event as a node reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened (Unix ms, the reporting node's clock).
    pub time_ms: u64,
    /// Who: a username, `cli`, or `-` when unknown.
    pub actor: String,
    /// What: `login`, `login_failed`, `lockout`, `logout`, `session_revoke`, `role_grant`, ...
    pub action: String,
    /// To whom or what: a username, session id, client id, token digest prefix.
    pub target: String,
    /// Client address, or `-`.
    pub ip: String,
    /// `ok`, or why not.
    pub outcome: String,
}

/// A recorded event with its position in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing id, the list cursor.
    pub id: u64,
    /// The event.
    pub event: AuditEvent,
}

/// The bounded log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditLog {
    entries: Vector<Arc<AuditEntry>>,
    next_id: u64,
}

impl AuditLog {
    /// Append events in order, dropping the oldest past [`MAX_ENTRIES`].
    pub fn record(&mut self, events: &[AuditEvent]) {
        for e in events {
            self.next_id += 1;
            self.entries.push_back(Arc::new(AuditEntry {
                id: self.next_id,
                event: clip(e),
            }));
        }
        while self.entries.len() > MAX_ENTRIES {
            self.entries.pop_front();
        }
    }

    /// Newest first: at most `limit` entries with ids below `before` (all when `None`).
    pub fn page(&self, before: Option<u64>, limit: usize) -> Vec<Arc<AuditEntry>> {
        self.entries
            .iter()
            .rev()
            .filter(|e| before.is_none_or(|b| e.id < b))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Fields are short by contract; a long one is cut so a log entry cannot grow without bound.
fn clip(e: &AuditEvent) -> AuditEvent {
    let cut = |s: &str| s.chars().take(200).collect::<String>();
    AuditEvent {
        time_ms: e.time_ms,
        actor: cut(&e.actor),
        action: cut(&e.action),
        target: cut(&e.target),
        ip: cut(&e.ip),
        outcome: cut(&e.outcome),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;

    fn ev(action: &str) -> AuditEvent {
        AuditEvent {
            time_ms: 1,
            actor: "cli".into(),
            action: action.into(),
            target: "x".repeat(500),
            ip: "-".into(),
            outcome: "ok".into(),
        }
    }

    #[test]
    fn pages_newest_first_with_a_cursor_and_clipped_fields() {
        let mut log = AuditLog::default();
        log.record(&[ev("a"), ev("b"), ev("c")]);
        let first: Vec<u64> = log.page(None, 2).iter().map(|e| e.id).collect();
        assert_eq!(first, [3, 2]);
        let next: Vec<u64> = log.page(Some(2), 2).iter().map(|e| e.id).collect();
        assert_eq!(next, [1]);
        assert_eq!(log.page(None, 1)[0].event.target.len(), 200);
    }

    #[test]
    fn keeps_at_most_the_bound() {
        let mut log = AuditLog::default();
        let batch: Vec<AuditEvent> = (0..10).map(|_| ev("x")).collect();
        for _ in 0..(MAX_ENTRIES / 10 + 5) {
            log.record(&batch);
        }
        assert_eq!(log.len(), MAX_ENTRIES);
        assert_eq!(log.page(None, 1)[0].id, (MAX_ENTRIES as u64 / 10 + 5) * 10);
    }
}
