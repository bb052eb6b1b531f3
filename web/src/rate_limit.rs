//! Per-key sliding-window limits kept in memory on one node (a cluster of N nodes allows at
//! most N times a limit), and the one rule for which key a client address counts under.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked before expired ones are swept; if all are live, new keys are refused.
const MAX_KEYS: usize = 100_000;

/// The key every per-address limit counts `ip` under: an IPv4 address as it is, an IPv6
/// address by its /64 (one customer's network: a host picks any address in it at will), and
/// an IPv4-mapped IPv6 address as the IPv4 address it is.
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                let net = std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0);
                format!("ip:{net}/64")
            }
        },
    }
}

/// [`ip_key`] of an address given as text; text that is not an address counts as itself.
pub fn ip_key_str(ip: &str) -> String {
    ip.trim()
        .parse::<IpAddr>()
        .map_or_else(|_| format!("ip:{}", ip.trim()), ip_key)
}

/// At most `max` events per key within a sliding `window`.
pub struct Window {
    max: usize,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl std::fmt::Debug for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window")
            .field("max", &self.max)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Window {
    /// A limit of `max` (at least one) per `window`.
    pub fn new(max: usize, window: Duration) -> Window {
        Window {
            max: max.max(1),
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Count an event for `key` now, or `Err(seconds until one is allowed again)`.
    pub fn allow(&self, key: &str, now: Instant) -> Result<(), u64> {
        let full = self.window.as_secs().max(1);
        let Ok(mut hits) = self.hits.lock() else {
            return Err(full);
        };
        if hits.len() >= MAX_KEYS && !hits.contains_key(key) {
            hits.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
            if hits.len() >= MAX_KEYS {
                return Err(full);
            }
        }
        let q = hits.entry(key.to_owned()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.max {
            let oldest = q.front().copied().unwrap_or(now);
            let left = self.window.saturating_sub(now.duration_since(oldest));
            return Err(left.as_secs().max(1));
        }
        q.push_back(now);
        Ok(())
    }
}

/// The per-address limits of the anonymous accounts pages (`[register]`).
#[derive(Debug)]
pub struct PageLimits {
    /// `POST /register`.
    pub register: Window,
    /// `GET /captcha`.
    pub captcha: Window,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(ip_key(a), "ip:2001:db8:1:2::/64");
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        assert_eq!(ip_key_str("::ffff:192.0.2.7"), "ip:192.0.2.7");
        assert_eq!(ip_key_str("192.0.2.7"), "ip:192.0.2.7");
        assert_eq!(ip_key_str(" ::1 "), "ip:::/64");
        assert_eq!(ip_key_str("not-an-ip"), "ip:not-an-ip");
    }

    #[test]
    fn caps_each_key_within_the_window() {
        let l = Window::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(l.allow("a", t0), Ok(()));
        assert_eq!(l.allow("a", t0 + Duration::from_secs(10)), Ok(()));
        assert_eq!(l.allow("a", t0 + Duration::from_secs(20)), Err(40));
        // Another key is not affected.
        assert_eq!(l.allow("b", t0), Ok(()));
        // Once the first event leaves the window, one more is allowed.
        assert_eq!(l.allow("a", t0 + Duration::from_secs(60)), Ok(()));
        assert!(l.allow("a", t0 + Duration::from_secs(61)).is_err());
    }
}
