//! A per-recipient cap on outgoing mail, so nobody can make authd flood an address with
//! reset or verification mails. Per node and in memory: a cluster of N nodes sends at most N
//! times the cap. Over the cap a mail is dropped quietly; the page answers as if it was sent,
//! as it does for unknown addresses, so the cap reveals nothing about accounts.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked before expired entries are swept.
const SWEEP_AT: usize = 100_000;

/// Sends allowed per address within a sliding window.
pub struct RecipientLimit {
    max: usize,
    window: Duration,
    sent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RecipientLimit {
    /// At most `max` mails to one address within `window`.
    pub fn new(max: usize, window: Duration) -> RecipientLimit {
        RecipientLimit {
            max,
            window,
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a mail to `to` may go now; counts it if so.
    pub fn allow(&self, to: &str, now: Instant) -> bool {
        let Ok(mut sent) = self.sent.lock() else {
            return false;
        };
        if sent.len() >= SWEEP_AT {
            sent.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let q = sent.entry(to.trim().to_lowercase()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.max {
            return false;
        }
        q.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_address_within_the_window() {
        let l = RecipientLimit::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(l.allow("a@example.org", t0));
        assert!(l.allow("A@Example.org ", t0));
        assert!(!l.allow("a@example.org", t0 + Duration::from_secs(59)));
        // Another address is not affected.
        assert!(l.allow("b@example.org", t0));
        // Once the first sends leave the window, mail flows again.
        assert!(l.allow("a@example.org", t0 + Duration::from_secs(60)));
    }
}
