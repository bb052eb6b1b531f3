//! The audit log in replicated state: who did what to whom, when and from where, for admin
//! actions and security events. Never holding a password, secret or token: callers pass
//! names, ids and digests only.
//!
//! Bounded per [`AuditClass`], each class dropping its own oldest entries, so a flood of
//! anonymous refusals or routine user events never pushes out an admin action. Outside the
//! admin class, an event identical to an entry recorded less than the merge window before
//! (same action, actor, target, address and outcome) adds to that entry's count instead of
//! taking a new one: a client hammering a locked account costs one entry per window.

use std::sync::Arc;

pub use authd_auth::AuditClass;
use imbl::{HashMap, Vector};
use serde::{Deserialize, Serialize};

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
    /// Which bound it counts against.
    pub class: AuditClass,
    /// How many times it happened (a node merges repeats before sending them).
    pub count: u32,
}

impl AuditEvent {
    /// Same event apart from time and count: a repeat that may be merged.
    pub fn same_kind(&self, other: &AuditEvent) -> bool {
        self.class == other.class
            && self.action == other.action
            && self.actor == other.actor
            && self.target == other.target
            && self.ip == other.ip
            && self.outcome == other.outcome
    }

    /// The key repeats are merged under; `None` for admin actions, which are never merged.
    /// FNV-1a: stable across builds, since the index is part of the replicated state.
    pub fn merge_key(&self) -> Option<u64> {
        if self.class == AuditClass::Admin {
            return None;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let class = [self.class as u8];
        let fields = [
            self.action.as_bytes(),
            self.actor.as_bytes(),
            self.target.as_bytes(),
            self.ip.as_bytes(),
            self.outcome.as_bytes(),
            &class,
        ];
        for f in fields {
            for b in f.iter().chain(&[0xff]) {
                h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        Some(h)
    }
}

/// A recorded event with its position in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing id, the list cursor.
    pub id: u64,
    /// The event; `time_ms` is the first occurrence, `count` all merged into this entry.
    pub event: AuditEvent,
    /// The latest occurrence merged into this entry (Unix ms).
    pub last_ms: u64,
}

/// Capacities per class and the merge window, carried by every `RecordAudit` command so each
/// replica bounds the log exactly alike (from the proposing node's `[audit]` config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditBounds {
    /// Admin actions kept.
    pub admin: u32,
    /// Security events kept.
    pub security: u32,
    /// Routine user events kept.
    pub routine: u32,
    /// Repeats within this long of an entry's first occurrence merge into it.
    pub merge_ms: u64,
}

impl Default for AuditBounds {
    fn default() -> Self {
        AuditBounds {
            admin: 20_000,
            security: 40_000,
            routine: 40_000,
            merge_ms: 900_000,
        }
    }
}

impl AuditBounds {
    fn capacity(&self, class: AuditClass) -> usize {
        let n = match class {
            AuditClass::Admin => self.admin,
            AuditClass::Security => self.security,
            AuditClass::Routine => self.routine,
        };
        usize::try_from(n.max(1)).unwrap_or(usize::MAX)
    }
}

/// The bounded log: one queue per class, ids increasing across all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuditLog {
    admin: Vector<Arc<AuditEntry>>,
    security: Vector<Arc<AuditEntry>>,
    routine: Vector<Arc<AuditEntry>>,
    /// Merge key → id of the newest entry recorded under it (the one repeats may join).
    open: HashMap<u64, u64>,
    next_id: u64,
}

const CLASSES: [AuditClass; 3] = [AuditClass::Admin, AuditClass::Security, AuditClass::Routine];

impl AuditLog {
    fn queue(&self, class: AuditClass) -> &Vector<Arc<AuditEntry>> {
        match class {
            AuditClass::Admin => &self.admin,
            AuditClass::Security => &self.security,
            AuditClass::Routine => &self.routine,
        }
    }

    fn queue_mut(&mut self, class: AuditClass) -> &mut Vector<Arc<AuditEntry>> {
        match class {
            AuditClass::Admin => &mut self.admin,
            AuditClass::Security => &mut self.security,
            AuditClass::Routine => &mut self.routine,
        }
    }

    /// Append events in order (merging repeats), then drop each class's oldest past its bound.
    pub fn record(&mut self, events: &[AuditEvent], bounds: &AuditBounds) {
        for e in events {
            let e = clip(e);
            let key = e.merge_key();
            if let Some(k) = key
                && self.merge(k, &e, bounds.merge_ms)
            {
                continue;
            }
            self.next_id += 1;
            let id = self.next_id;
            if let Some(k) = key {
                self.open.insert(k, id);
            }
            let last_ms = e.time_ms;
            self.queue_mut(e.class).push_back(Arc::new(AuditEntry {
                id,
                event: e,
                last_ms,
            }));
        }
        for class in CLASSES {
            let cap = bounds.capacity(class);
            while self.queue(class).len() > cap {
                let Some(gone) = self.queue_mut(class).pop_front() else {
                    break;
                };
                if let Some(k) = gone.event.merge_key()
                    && self.open.get(&k) == Some(&gone.id)
                {
                    self.open.remove(&k);
                }
            }
        }
    }

    /// Add `e` to the open entry under `key` if it is the same event within the window.
    fn merge(&mut self, key: u64, e: &AuditEvent, merge_ms: u64) -> bool {
        let Some(id) = self.open.get(&key).copied() else {
            return false;
        };
        let queue = self.queue_mut(e.class);
        let Ok(at) = queue.binary_search_by(|x| x.id.cmp(&id)) else {
            return false;
        };
        let Some(entry) = queue.get_mut(at) else {
            return false;
        };
        let open = e.time_ms < entry.event.time_ms.saturating_add(merge_ms);
        if !open || !entry.event.same_kind(e) {
            return false;
        }
        let entry = Arc::make_mut(entry);
        entry.event.count = entry.event.count.saturating_add(e.count.max(1));
        entry.last_ms = entry.last_ms.max(e.time_ms);
        true
    }

    /// Newest first over every class: at most `limit` entries with ids below `before` (all
    /// when `None`).
    pub fn page(&self, before: Option<u64>, limit: usize) -> Vec<Arc<AuditEntry>> {
        // Per class, how many of its (id-ordered) entries are still to be merged in.
        let mut ends = CLASSES.map(|c| {
            let q = self.queue(c);
            before.map_or(q.len(), |b| match q.binary_search_by(|x| x.id.cmp(&b)) {
                Ok(i) | Err(i) => i,
            })
        });
        let mut out = Vec::with_capacity(limit.min(self.len()));
        while out.len() < limit {
            let newest = CLASSES
                .iter()
                .zip(ends.iter_mut())
                .filter_map(|(c, end)| {
                    let i = end.checked_sub(1)?;
                    Some((self.queue(*c).get(i)?, i, end))
                })
                .max_by_key(|(e, _, _)| e.id);
            let Some((entry, i, end)) = newest else {
                break;
            };
            out.push(entry.clone());
            *end = i;
        }
        out
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        CLASSES.iter().map(|c| self.queue(*c).len()).sum()
    }

    /// Entries held in one class.
    pub fn len_of(&self, class: AuditClass) -> usize {
        self.queue(class).len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        class: e.class,
        count: e.count.max(1),
    }
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
