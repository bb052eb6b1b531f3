//! The ring of upstream-JWT signing keys, in replicated state so every node signs with the
//! same key and switches at the same moment.
//!
//! A key is published (in the JWKS) from the moment its entry is applied, signs from
//! `activates_ms`, stops signing when the next key activates, and stays published until the
//! last token it signed has expired (`retires_ms`). Only public keys are held here: each node
//! derives the private half from its JWT secret and the key id (`authd_auth::signing`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::command::{Applied, Rejected, Reply};

/// Keys held at most; rotating faster than tokens expire must not grow the ring without bound.
pub const MAX_KEYS: usize = 16;

/// One key's public half and its schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    /// Key id (`kid`), random; also the derivation input for the private half.
    pub kid: String,
    /// Ed25519 public key.
    pub public: [u8; 32],
    /// When it was added (leader's clock, Unix ms).
    pub published_ms: u64,
    /// From when it signs.
    pub activates_ms: u64,
    /// Set once a successor is scheduled: when the last token this key can sign expires, after
    /// which it leaves the JWKS and the ring.
    pub retires_ms: Option<u64>,
}

/// The ring, oldest activation first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KeyRing {
    keys: Vec<Arc<SigningKey>>,
}

impl KeyRing {
    /// Schedule `key`. `retain_ms` is how long the key it replaces must stay published after
    /// `key.activates_ms` (the longest token lifetime plus clock skew). Keys retired by
    /// `now_ms` are dropped.
    pub fn add(&mut self, key: &SigningKey, now_ms: u64, retain_ms: u64) -> Reply {
        if !authd_auth::signing::valid_kid(&key.kid) {
            return Err(Rejected::Invalid("key id".into()));
        }
        if self.keys.iter().any(|k| k.kid == key.kid) {
            return Err(Rejected::Duplicate);
        }
        if let Some(last) = self.keys.last()
            && key.activates_ms < last.activates_ms
        {
            return Err(Rejected::Invalid(
                "a new key cannot activate before the newest one".into(),
            ));
        }
        if self.published(now_ms).count() >= MAX_KEYS {
            return Err(Rejected::Invalid(format!(
                "{MAX_KEYS} keys are still published; wait for old ones to retire"
            )));
        }
        self.prune(now_ms);
        if let Some(last) = self.keys.last_mut() {
            Arc::make_mut(last).retires_ms = Some(key.activates_ms.saturating_add(retain_ms));
        }
        self.keys.push(Arc::new(SigningKey {
            retires_ms: None,
            ..key.clone()
        }));
        Ok(Applied::Done)
    }

    /// Forget keys whose last token has expired.
    pub fn prune(&mut self, now_ms: u64) {
        self.keys
            .retain(|k| k.retires_ms.is_none_or(|r| r > now_ms));
    }

    /// The key that signs at `now_ms`: the newest one already active.
    pub fn signing(&self, now_ms: u64) -> Option<&Arc<SigningKey>> {
        self.keys.iter().rev().find(|k| k.activates_ms <= now_ms)
    }

    /// Keys a verifier needs at `now_ms`: every key not yet retired, including scheduled ones.
    pub fn published(&self, now_ms: u64) -> impl Iterator<Item = &Arc<SigningKey>> {
        self.keys
            .iter()
            .filter(move |k| k.retires_ms.is_none_or(|r| r > now_ms))
    }

    /// The newest key (the one scheduled last), if any.
    pub fn newest(&self) -> Option<&Arc<SigningKey>> {
        self.keys.last()
    }

    /// Every key held, oldest first.
    pub fn all(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn key(kid: &str, at: u64) -> SigningKey {
        SigningKey {
            kid: kid.into(),
            public: [7; 32],
            published_ms: at.saturating_sub(100),
            activates_ms: at,
            retires_ms: Some(1), // ignored: the ring sets it
        }
    }

    fn kids<'a>(it: impl Iterator<Item = &'a Arc<SigningKey>>) -> Vec<String> {
        it.map(|k| k.kid.clone()).collect()
    }

    #[test]
    fn rotation_publishes_ahead_and_retires_after_the_last_token() {
        let mut r = KeyRing::default();
        assert!(r.signing(0).is_none());
        r.add(&key("a", 1000), 1000, 60_000).unwrap();
        assert_eq!(r.signing(1000).unwrap().kid, "a");
        assert_eq!(r.all()[0].retires_ms, None);
        // b is published at 5000 but only signs from 10_000.
        r.add(&key("b", 10_000), 5000, 60_000).unwrap();
        assert_eq!(kids(r.published(5000)), ["a", "b"]);
        assert_eq!(r.signing(9_999).unwrap().kid, "a");
        assert_eq!(r.signing(10_000).unwrap().kid, "b");
        // a stays published until 10_000 + 60_000, then goes.
        assert_eq!(kids(r.published(69_999)), ["a", "b"]);
        assert_eq!(kids(r.published(70_000)), ["b"]);
        r.prune(70_000);
        assert_eq!(kids(r.all().iter()), ["b"]);
    }

    #[test]
    fn bad_keys_change_nothing() {
        let mut r = KeyRing::default();
        r.add(&key("a", 1000), 1000, 10).unwrap();
        let before = r.clone();
        assert_eq!(r.add(&key("a", 2000), 1000, 10), Err(Rejected::Duplicate));
        assert!(matches!(
            r.add(&key("b", 500), 1000, 10),
            Err(Rejected::Invalid(_))
        ));
        assert!(matches!(
            r.add(&key("bad kid", 2000), 1000, 10),
            Err(Rejected::Invalid(_))
        ));
        assert_eq!(r, before);
    }

    #[test]
    fn the_ring_is_bounded() {
        let mut r = KeyRing::default();
        for i in 0..MAX_KEYS as u64 {
            r.add(&key(&format!("k{i}"), 1000 + i), 1000, 1_000_000)
                .unwrap();
        }
        assert!(matches!(
            r.add(&key("more", 5000), 1000, 1_000_000),
            Err(Rejected::Invalid(_))
        ));
        // Once the old ones retire, there is room again.
        r.add(&key("later", 5_000_000), 4_000_000, 1_000_000)
            .unwrap();
        assert_eq!(kids(r.all().iter()), ["k15", "later"]);
    }
}
