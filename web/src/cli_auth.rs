//! Operator requests (the `authd` CLI) are signed with the cluster secret, never sent in clear.
//!
//! Header: `X-Authd-Signature: t=<unix seconds>,sig=<hex HMAC-SHA256>` over
//! `"authd-cli-v1\n{t}\n{METHOD}\n{path_and_query}\n{hex sha256(body)}"`. A signature is valid
//! for [`MAX_SKEW_SECS`] either side of the server's clock; within that window an identical
//! request could be replayed by someone who can read the traffic, which is why the CLI talks to
//! nodes on a trusted network (or through TLS terminated in front of them).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Request header carrying the signature.
pub const HEADER: &str = "x-authd-signature";
/// Accepted clock difference between the CLI and the node.
pub const MAX_SKEW_SECS: u64 = 300;

fn mac(
    secret: &[u8],
    t: u64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    let body_hash = hex::encode(Sha256::digest(body));
    m.update(format!("authd-cli-v1\n{t}\n{method}\n{path_and_query}\n{body_hash}").as_bytes());
    Some(m)
}

/// The header value for a request (used by the CLI, tests and benchmarks).
pub fn sign(
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    body: &[u8],
    unix_secs: u64,
) -> String {
    let sig = mac(secret, unix_secs, method, path_and_query, body)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("t={unix_secs},sig={sig}")
}

/// Why a signature was refused (the reason is safe to show the caller).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// No header.
    #[error("missing X-Authd-Signature")]
    Missing,
    /// Not `t=..,sig=..` with a number and hex.
    #[error("malformed X-Authd-Signature")]
    Malformed,
    /// Outside the clock window.
    #[error("signature expired or from the future")]
    Stale,
    /// Wrong secret or altered request.
    #[error("bad signature")]
    Bad,
}

/// Check a header value in constant time against the request it came with.
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_secs: u64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (t, sig) = header
        .split_once(',')
        .and_then(|(t, s)| Some((t.strip_prefix("t=")?, s.strip_prefix("sig=")?)))
        .ok_or(SignatureError::Malformed)?;
    let t: u64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    let sig = hex::decode(sig).map_err(|_| SignatureError::Malformed)?;
    if t.abs_diff(now_secs) > MAX_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    let m = mac(secret, t, method, path_and_query, body).ok_or(SignatureError::Bad)?;
    m.verify_slice(&sig).map_err(|_| SignatureError::Bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_every_tamper_is_refused() {
        let h = sign(S, "POST", "/api/v1/users", b"{}", 1000);
        assert_eq!(
            verify(S, Some(&h), "POST", "/api/v1/users", b"{}", 1010),
            Ok(())
        );
        assert_eq!(
            verify(
                b"other-secret",
                Some(&h),
                "POST",
                "/api/v1/users",
                b"{}",
                1000
            ),
            Err(SignatureError::Bad)
        );
        assert_eq!(
            verify(S, Some(&h), "GET", "/api/v1/users", b"{}", 1000),
            Err(SignatureError::Bad)
        );
        assert_eq!(
            verify(S, Some(&h), "POST", "/api/v1/user", b"{}", 1000),
            Err(SignatureError::Bad)
        );
        assert_eq!(
            verify(S, Some(&h), "POST", "/api/v1/users", b"{ }", 1000),
            Err(SignatureError::Bad)
        );
        assert_eq!(
            verify(S, Some(&h), "POST", "/api/v1/users", b"{}", 2000),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(S, None, "POST", "/", b"", 0),
            Err(SignatureError::Missing)
        );
        for bad in ["", "t=x,sig=00", "t=1", "sig=00,t=1", "t=1,sig=zz"] {
            assert_eq!(
                verify(S, Some(bad), "POST", "/", b"", 1),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }
}
