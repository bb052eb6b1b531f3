//! Legacy password hashes (reference §3.12, `password_storage = 2`).
//!
//! Stored value: standard Base64 of `salt(4) ‖ SHA1(salt ‖ "-" ‖ password)`, 32 characters.
//! Weaknesses fixed here (§11.1): the comparison is constant-time, and authd keeps its own
//! Argon2id hash (lazy upgrade) so this one is only checked, never relied on for new logins.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

const SALT_LEN: usize = 4;
const DIGEST_LEN: usize = 20;

fn digest(salt: &[u8], password: &str) -> [u8; DIGEST_LEN] {
    let mut h = Sha1::new();
    h.update(salt);
    h.update(b"-");
    h.update(password.as_bytes());
    h.finalize().into()
}

/// Hash with a given salt (tests and vectors); see [`hash`] for new passwords.
pub fn hash_with_salt(salt: [u8; SALT_LEN], password: &str) -> Option<String> {
    if !password.is_ascii() {
        return None;
    }
    let mut raw = salt.to_vec();
    raw.extend_from_slice(&digest(&salt, password));
    Some(STANDARD.encode(raw))
}

/// Hash a new password with a random salt, for the legacy site to read; `None` for non-ASCII
/// passwords (the legacy format cannot hold them) or when the OS has no randomness.
pub fn hash(password: &str) -> Option<String> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).ok()?;
    hash_with_salt(salt, password)
}

/// Whether `password` matches the stored legacy value; malformed values never match.
pub fn verify(password: &str, stored: &str) -> bool {
    if !password.is_ascii() || password.is_empty() {
        return false;
    }
    let Ok(raw) = STANDARD.decode(stored.trim().as_bytes()) else {
        return false;
    };
    if raw.len() != SALT_LEN + DIGEST_LEN {
        return false;
    }
    let (salt, expected) = raw.split_at(SALT_LEN);
    digest(salt, password).ct_eq(expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_vectors() {
        assert_eq!(
            hash_with_salt(*b"fdoo", "thepassword").as_deref(),
            Some("ZmRvb79w/mg/KE1ezTs/rT0KuLIiietw")
        );
        assert_eq!(
            hash_with_salt([0, 1, 2, 3], "apassword1").as_deref(),
            Some("AAECA/46Bal3zvCSR6ulvJ9SzZgvF4/O")
        );
        assert!(verify("thepassword", "ZmRvb79w/mg/KE1ezTs/rT0KuLIiietw"));
        assert!(verify("apassword1", "AAECA/46Bal3zvCSR6ulvJ9SzZgvF4/O"));
    }

    #[test]
    fn wrong_or_malformed_never_match() {
        let good = "ZmRvb79w/mg/KE1ezTs/rT0KuLIiietw";
        assert!(!verify("thepasswore", good));
        assert!(!verify("", good));
        assert!(!verify("thépassword", good));
        for bad in [
            "",
            "!!!",
            "ZmRvb79w",
            "ZmRvb79w/mg/KE1ezTs/rT0KuLIiietwAAAA",
            "AAAA",
        ] {
            assert!(!verify("thepassword", bad), "{bad:?}");
        }
    }

    #[test]
    fn round_trip_with_random_salt() {
        let h = hash("s3cret pass").unwrap_or_default();
        assert_eq!(h.len(), 32);
        assert!(verify("s3cret pass", &h));
        assert!(!verify("s3cret pasS", &h));
        assert_ne!(hash("s3cret pass"), Some(h));
        assert_eq!(hash("naïve"), None);
    }
}
