//! Abuse guards in replicated state: failed-login counters that lock an account or an address
//! on every node at once, and single-use markers that make e-mailed links and captchas work
//! exactly once cluster-wide.
//!
//! Counters arrive aggregated (one command carries every failure a node saw since its last
//! flush), so a flood of wrong passwords costs a few log entries, not one per attempt.

use std::sync::Arc;

use imbl::HashMap;
use serde::{Deserialize, Serialize};

/// Failures seen for one key (an account or an address) since a node's last flush.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureCount {
    /// `user:<id>`, `login:<folded name>` or `ip:<address>`: the proposer's naming.
    pub key: String,
    /// How many failed attempts.
    pub count: u32,
    /// Failures within the window that lock the key.
    pub limit: u32,
}

/// Recent failures of one key and its lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Failures {
    /// (time, count) of recorded failures still inside the window.
    recent: Vec<(u64, u32)>,
    /// Window the last record used, so expiry knows when the entry is stale.
    window_ms: u64,
    /// Locked until this instant (Unix ms); 0 when never locked.
    locked_until_ms: u64,
}

impl Failures {
    /// Failures recorded less than `window_ms` before `now_ms`.
    pub fn count_within(&self, now_ms: u64, window_ms: u64) -> u32 {
        self.recent
            .iter()
            .filter(|(t, _)| t.saturating_add(window_ms) > now_ms)
            .map(|(_, c)| *c)
            .fold(0u32, u32::saturating_add)
    }

    /// When the lock ends, if it is on at `now_ms`.
    pub fn locked_until(&self, now_ms: u64) -> Option<u64> {
        (self.locked_until_ms > now_ms).then_some(self.locked_until_ms)
    }
}

/// Login-failure counters and used single-use keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Guards {
    failures: HashMap<Arc<str>, Arc<Failures>>,
    /// Single-use key → the instant after which it may be forgotten (its link is dead anyway).
    used: HashMap<Arc<str>, u64>,
}

impl Guards {
    /// The failure record of a key, if any.
    pub fn failures(&self, key: &str) -> Option<&Arc<Failures>> {
        self.failures.get(key)
    }

    /// Whether a single-use key was consumed.
    pub fn is_used(&self, key: &str) -> bool {
        self.used.contains_key(key)
    }

    /// Add failures at `now_ms`; a key reaching its limit within `window_ms` locks for `lock_ms`.
    /// Returns how many keys this locked.
    pub fn record(
        &mut self,
        now_ms: u64,
        window_ms: u64,
        lock_ms: u64,
        counts: &[FailureCount],
    ) -> u64 {
        let mut locked = 0;
        for c in counts.iter().filter(|c| c.count > 0) {
            let entry = self.failures.entry(Arc::from(c.key.as_str())).or_default();
            let f = Arc::make_mut(entry);
            f.recent
                .retain(|(t, _)| t.saturating_add(window_ms) > now_ms);
            f.recent.push((now_ms, c.count));
            f.window_ms = window_ms;
            if f.count_within(now_ms, window_ms) >= c.limit.max(1) {
                f.locked_until_ms = f.locked_until_ms.max(now_ms.saturating_add(lock_ms));
                f.recent.clear();
                locked += 1;
            }
        }
        locked
    }

    /// Forget a key's failures (a successful login); a running lock stays.
    pub fn clear(&mut self, key: &str) {
        if let Some(f) = self.failures.get_mut(key) {
            Arc::make_mut(f).recent.clear();
        }
        if self
            .failures
            .get(key)
            .is_some_and(|f| f.locked_until_ms == 0 && f.recent.is_empty())
        {
            self.failures.remove(key);
        }
    }

    /// Mark a single-use key consumed; false if it already was.
    pub fn consume(&mut self, key: &str, forget_after_ms: u64) -> bool {
        if self.used.contains_key(key) {
            return false;
        }
        self.used.insert(Arc::from(key), forget_after_ms);
        true
    }

    /// Keep a notice under `key` until `until_ms` (the later deadline wins). Notices share
    /// the single-use keys' map (namespaced keys), so the state's encoding stays the same.
    pub fn note(&mut self, key: &str, until_ms: u64) {
        let until = self.used.get(key).map_or(until_ms, |u| (*u).max(until_ms));
        self.used.insert(Arc::from(key), until);
    }

    /// Drop what can no longer matter at `now_ms`; returns how many records went.
    pub fn expire(&mut self, now_ms: u64) -> u64 {
        let dead_used: Vec<Arc<str>> = self
            .used
            .iter()
            .filter(|(_, until)| **until <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        let dead_failures: Vec<Arc<str>> = self
            .failures
            .iter()
            .filter(|(_, f)| {
                f.locked_until_ms <= now_ms
                    && f.recent
                        .iter()
                        .all(|(t, _)| t.saturating_add(f.window_ms) <= now_ms)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &dead_used {
            self.used.remove(k);
        }
        for k in &dead_failures {
            self.failures.remove(k);
        }
        (dead_used.len() + dead_failures.len()) as u64
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn fc(key: &str, count: u32, limit: u32) -> FailureCount {
        FailureCount {
            key: key.into(),
            count,
            limit,
        }
    }

    #[test]
    fn locks_when_the_window_holds_the_limit_and_unlocks_after() {
        let mut g = Guards::default();
        assert_eq!(g.record(1_000, 900_000, 900_000, &[fc("user:1", 9, 10)]), 0);
        assert!(g.failures("user:1").unwrap().locked_until(1_000).is_none());
        assert_eq!(g.record(2_000, 900_000, 900_000, &[fc("user:1", 1, 10)]), 1);
        let f = g.failures("user:1").unwrap();
        assert_eq!(f.locked_until(2_000), Some(902_000));
        assert_eq!(f.locked_until(902_000), None);
    }

    #[test]
    fn old_failures_fall_out_of_the_window() {
        let mut g = Guards::default();
        g.record(0, 1_000, 5_000, &[fc("ip:a", 9, 10)]);
        g.record(1_500, 1_000, 5_000, &[fc("ip:a", 9, 10)]);
        let f = g.failures("ip:a").unwrap();
        assert!(f.locked_until(1_500).is_none());
        assert_eq!(f.count_within(1_500, 1_000), 9);
    }

    #[test]
    fn clear_forgets_failures_but_keeps_a_lock() {
        let mut g = Guards::default();
        g.record(0, 1_000, 5_000, &[fc("user:1", 3, 10)]);
        g.clear("user:1");
        assert!(g.failures("user:1").is_none());
        g.record(0, 1_000, 5_000, &[fc("user:2", 10, 10)]);
        g.clear("user:2");
        assert_eq!(g.failures("user:2").unwrap().locked_until(1), Some(5_000));
    }

    #[test]
    fn single_use_keys_work_once_and_are_forgotten_after_their_deadline() {
        let mut g = Guards::default();
        assert!(g.consume("verify:abc", 100));
        assert!(!g.consume("verify:abc", 100));
        assert!(g.is_used("verify:abc"));
        assert_eq!(g.expire(99), 0);
        assert_eq!(g.expire(100), 1);
        assert!(!g.is_used("verify:abc"));
    }

    #[test]
    fn expiry_drops_stale_counters_only() {
        let mut g = Guards::default();
        g.record(0, 1_000, 5_000, &[fc("a", 1, 10), fc("b", 10, 10)]);
        assert_eq!(
            g.expire(1_000),
            1,
            "a's failure left the window; b is locked"
        );
        assert!(g.failures("b").is_some());
        assert_eq!(g.expire(5_000), 1);
    }
}
