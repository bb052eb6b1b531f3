//! Per-node issuance rates for OAuth2: a token bucket per user and per client, in memory (a
//! rate is no decision worth a log entry). Over the rate: 429 with `Retry-After`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

use authd_web::oauth2::OAuthError;

use crate::config_oauth2::OAuth2Config;

/// Buckets kept before refilled (idle) ones are forgotten.
const MAX_KEYS: usize = 100_000;

/// Token buckets by key.
struct Buckets<K> {
    per_sec: f64,
    burst: f64,
    map: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq> Buckets<K> {
    fn new(per_sec: u32, burst: u32) -> Self {
        Buckets {
            per_sec: f64::from(per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Take one from `key`'s bucket, or the seconds until one is there.
    fn take(&self, key: K, now: Instant) -> Result<(), u64> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(&key) {
            let (rate, burst) = (self.per_sec, self.burst);
            map.retain(|_, (level, at)| {
                *level + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (level, at) = map.entry(key).or_insert((self.burst, now));
        let refilled = now.saturating_duration_since(*at).as_secs_f64() * self.per_sec;
        *level = (*level + refilled).min(self.burst);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - *level) / self.per_sec).ceil();
        // Bounded by 1 / per_sec ≤ 1 s, so the conversion cannot overflow.
        Err((wait as u64).max(1))
    }
}

/// The node's OAuth2 bounds: the replicated family cap it proposes, and its issuance rates.
pub struct GrantLimits {
    /// Live families per (user, client), carried in every redemption.
    pub max_families: u32,
    users: Buckets<u64>,
    clients: Buckets<String>,
}

impl GrantLimits {
    /// Limits from `[oauth2]`.
    pub fn new(c: &OAuth2Config) -> GrantLimits {
        GrantLimits {
            max_families: c.max_families_per_user_client,
            users: Buckets::new(c.user_grants_per_sec, c.user_grant_burst),
            clients: Buckets::new(c.client_grants_per_sec, c.client_grant_burst),
        }
    }

    /// One grant for `user_id`, or `429`.
    pub fn user(&self, user_id: u64) -> Result<(), OAuthError> {
        self.users
            .take(user_id, Instant::now())
            .map_err(|s| refused("user", s))
    }

    /// One request of `client_id`, or `429`.
    pub fn client(&self, client_id: &str) -> Result<(), OAuthError> {
        self.clients
            .take(client_id.to_owned(), Instant::now())
            .map_err(|s| refused("client", s))
    }
}

fn refused(who: &str, retry_after: u64) -> OAuthError {
    metrics::counter!("authd_oauth2_rate_limited_total", "per" => who.to_owned()).increment(1);
    OAuthError::rate_limited(
        format!("too many grants for this {who}; slow down"),
        retry_after,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let b = Buckets::new(2, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(b.take(1u64, t0).is_ok());
        }
        assert_eq!(b.take(1, t0), Err(1));
        assert!(b.take(2, t0).is_ok(), "another key has its own bucket");
        assert!(b.take(1, t0 + Duration::from_millis(500)).is_ok());
        assert!(b.take(1, t0 + Duration::from_millis(500)).is_err());
    }
}
