//! Identifiers and secrets drawn from the OS CSPRNG.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// The OS random source failed; callers must refuse the operation rather than weaken it.
#[derive(Debug, Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(String);

/// Hex string of `bytes` random bytes: session ids, nonces and secrets need ≥ 16 (128 bits).
pub fn random_hex(bytes: usize) -> Result<String, RandomError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
    Ok(hex::encode(buf))
}

/// Stored form of a bearer secret, so replicated state and snapshots never hold the secret.
///
/// Secrets are ≥ 256 random bits, so one SHA-256 is enough (no password stretching needed).
pub fn token_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Split an opaque bearer token `<secret>.<log index>` into the secret (what is digested and
/// stored) and the index of the entry that created it (so a node that has not applied it yet
/// waits instead of calling it unknown). A token without an index is just a secret.
pub fn split_bearer(token: &str) -> (&str, Option<u64>) {
    match token.split_once('.') {
        Some((secret, idx)) => (secret, idx.parse().ok()),
        None => (token, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_hex_has_requested_entropy_and_differs() {
        let a = random_hex(16).unwrap_or_default();
        let b = random_hex(16).unwrap_or_default();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn bearer_tokens_split_into_secret_and_index() {
        assert_eq!(split_bearer("abc.42"), ("abc", Some(42)));
        assert_eq!(split_bearer("abc"), ("abc", None));
        assert_eq!(split_bearer("abc.x"), ("abc", None));
    }

    #[test]
    fn digest_is_stable_hex_sha256() {
        assert_eq!(
            token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
