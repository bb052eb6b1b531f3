//! The legacy session cookie `tapir_session` (reference §2.3).
//!
//! Value: `session_id:user_id:ip:issued_at:capabilities:hash`, where `hash` is Base64 of
//! `SHA1("<first five fields>-<secret>")` without its final `=`. The construction is the legacy
//! site's and cannot change while it reads the cookie; what authd fixes (§11.2-11.4): the hash is
//! compared in constant time, every numeric field must be plain decimal (a malformed cookie is
//! refused, never a 500), and IPv6 addresses are written with `-` instead of `:` so the
//! legacy reader's split on `:` still yields six fields.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// Longest cookie value looked at; anything longer is refused unread.
const MAX_LEN: usize = 256;
const HASH_LEN: usize = 27;

/// The fields of a legacy session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapirCookie {
    /// `tapir_sessions.session_id`.
    pub session_id: u64,
    /// `tapir_users.user_id`.
    pub user_id: u64,
    /// Client address at login, as written in the cookie (see [`encode_ip`]).
    pub ip: String,
    /// Session start, Unix seconds.
    pub issued_at: u64,
    /// Classic capability code (§3.13); informational, never used for authorization.
    pub capabilities: u32,
}

/// Why a cookie value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    /// Not six fields, a non-decimal number, or too long.
    #[error("malformed legacy session cookie")]
    Malformed,
    /// The hash does not match (forged, or another secret).
    #[error("legacy session cookie fails its check")]
    BadHash,
    /// `issued_at + session_duration` has passed.
    #[error("legacy session cookie expired")]
    Expired,
}

/// The address as the cookie carries it: IPv4 dotted quad; IPv6 in RFC 5952 form with every
/// `:` replaced by `-` (IPv4-mapped IPv6 is written as plain IPv4).
pub fn encode_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string().replace(':', "-"),
        },
    }
}

fn mac(payload: &str, secret: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(payload.as_bytes());
    h.update(b"-");
    h.update(secret);
    let mut b64 = STANDARD.encode(h.finalize());
    b64.pop(); // the single '=' pad of a 20-byte digest
    b64
}

fn decimal(s: &str) -> Result<u64, CookieError> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CookieError::Malformed);
    }
    s.parse().map_err(|_| CookieError::Malformed)
}

fn ip_field_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 45
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b'-')
}

impl TapirCookie {
    /// The cookie value, signed with the shared `CLASSIC_SESSION_HASH` secret.
    pub fn pack(&self, secret: &[u8]) -> String {
        let payload = format!(
            "{}:{}:{}:{}:{}",
            self.session_id, self.user_id, self.ip, self.issued_at, self.capabilities
        );
        let hash = mac(&payload, secret);
        format!("{payload}:{hash}")
    }

    /// Check shape and hash (constant-time); does not look at expiry (see [`Self::verify`]).
    pub fn unpack(value: &str, secret: &[u8]) -> Result<TapirCookie, CookieError> {
        if value.len() > MAX_LEN || !value.is_ascii() {
            return Err(CookieError::Malformed);
        }
        let (payload, hash) = value.rsplit_once(':').ok_or(CookieError::Malformed)?;
        let fields: Vec<&str> = payload.split(':').collect();
        let [sid, uid, ip, issued, caps] = fields.as_slice() else {
            return Err(CookieError::Malformed);
        };
        if hash.len() != HASH_LEN || !ip_field_ok(ip) {
            return Err(CookieError::Malformed);
        }
        let cookie = TapirCookie {
            session_id: decimal(sid)?,
            user_id: decimal(uid)?,
            ip: (*ip).to_owned(),
            issued_at: decimal(issued)?,
            capabilities: u32::try_from(decimal(caps)?).map_err(|_| CookieError::Malformed)?,
        };
        let expected = mac(payload, secret);
        if bool::from(expected.as_bytes().ct_eq(hash.as_bytes())) {
            Ok(cookie)
        } else {
            Err(CookieError::BadHash)
        }
    }

    /// [`Self::unpack`] plus expiry: valid while `now < issued_at + duration` (seconds).
    pub fn verify(
        value: &str,
        secret: &[u8],
        now_secs: u64,
        duration_secs: u64,
    ) -> Result<TapirCookie, CookieError> {
        let c = Self::unpack(value, secret)?;
        if c.expires_at(duration_secs) <= now_secs {
            return Err(CookieError::Expired);
        }
        Ok(c)
    }

    /// End of validity, Unix seconds.
    pub fn expires_at(&self, duration_secs: u64) -> u64 {
        self.issued_at.saturating_add(duration_secs)
    }
}

/// The first of several cookie values (parent domain and subdomain) that verifies, in order.
pub fn first_valid(
    values: &[String],
    secret: &[u8],
    now_secs: u64,
    duration_secs: u64,
) -> Option<TapirCookie> {
    values
        .iter()
        .find_map(|v| TapirCookie::verify(v, secret, now_secs, duration_secs).ok())
}

#[cfg(test)]
#[path = "cookie_tests.rs"]
mod tests;
