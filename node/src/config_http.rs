//! `[http]` in `cluster.toml`: deadlines and the connection cap of the public listener, so no
//! client holds a connection (or a file descriptor) without a bound (DESIGN guarantee 5).

use std::time::Duration;

use serde::Deserialize;

/// `[http]`: how long a client may take and how many connections a node serves at once
/// (README "Connections and request limits").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A request's header must be complete this long after the connection opened, or after the
    /// first byte of a later request on a kept-alive connection; else the connection is closed.
    pub header_read_timeout_secs: u64,
    /// A kept-alive connection with no request in progress and no byte of a new one is closed
    /// after this long.
    pub idle_timeout_secs: u64,
    /// A request (reading its body included) that has not been answered after this long gets
    /// 408 and its work is dropped.
    pub request_timeout_secs: u64,
    /// Connections served at once; one more is answered 503 and closed at once, not queued.
    pub max_connections: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            request_timeout_secs: 30,
            max_connections: 4096,
        }
    }
}

impl HttpConfig {
    /// `header_read_timeout_secs` as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    /// `idle_timeout_secs` as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// `request_timeout_secs` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// Check the bounds; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
        ] {
            if v == 0 || v > 3600 {
                return Err(format!("[http] {key} must be 1-3600"));
            }
        }
        if self.max_connections == 0 || self.max_connections > 1_000_000 {
            return Err("[http] max_connections must be 1-1000000".into());
        }
        Ok(())
    }
}

/// Descriptors a node needs besides its HTTP connections: the Raft log and snapshots, peer
/// connections, the legacy database pool, outgoing mail, the listeners.
const FD_HEADROOM: u64 = 256;

/// A warning when `max_connections` cannot be reached because the process may not open that
/// many descriptors (RLIMIT_NOFILE): past the limit, accepts fail instead of being refused.
pub fn fd_limit_warning(max_connections: u32) -> Option<String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and has no other preconditions.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    let soft: u64 = lim.rlim_cur;
    let usable = soft.saturating_sub(FD_HEADROOM);
    (u64::from(max_connections) > usable).then(|| {
        format!(
            "[http] max_connections = {max_connections} exceeds the open-file limit \
             (RLIMIT_NOFILE {soft}) minus {FD_HEADROOM} for the node's own files: raise the \
             limit (ulimit -n, LimitNOFILE=) or lower max_connections"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_is_refused() {
        assert_eq!(HttpConfig::default().validate(), Ok(()));
        let zero = HttpConfig {
            max_connections: 0,
            ..HttpConfig::default()
        };
        assert!(
            zero.validate()
                .is_err_and(|e| e.contains("max_connections"))
        );
        let slow = HttpConfig {
            header_read_timeout_secs: 0,
            ..HttpConfig::default()
        };
        assert!(
            slow.validate()
                .is_err_and(|e| e.contains("header_read_timeout_secs"))
        );
    }

    #[test]
    fn warns_only_beyond_the_descriptor_limit() {
        assert_eq!(fd_limit_warning(1), None);
        assert!(fd_limit_warning(u32::MAX).is_some_and(|w| w.contains("RLIMIT_NOFILE")));
    }
}
