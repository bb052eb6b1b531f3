//! Consent-form CSRF tokens: an HMAC over the session and every request parameter, with its
//! time, under a cluster-wide key. No server state, any node can check it, and a token minted
//! for one request (or one user) is useless for another.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How long a consent form stays valid.
pub const LIFETIME_SECS: u64 = 3600;

fn mac(key: &[u8], session_id: &str, binding: &[&str], t: u64) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    m.update(b"authd-oauth2-consent-v1");
    // Length-prefixed, so no choice of values can collide with another.
    for part in std::iter::once(session_id).chain(binding.iter().copied()) {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part.as_bytes());
    }
    m.update(&t.to_be_bytes());
    Some(m)
}

/// A token for this session and these parameters, minted at `now` (Unix seconds).
pub fn mint(key: &[u8], session_id: &str, binding: &[&str], now: u64) -> String {
    let sig = mac(key, session_id, binding, now)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("{now}.{sig}")
}

/// Whether `token` was minted for this session and these parameters and is still fresh.
pub fn verify(key: &[u8], session_id: &str, binding: &[&str], token: &str, now: u64) -> bool {
    let Some((t, sig)) = token.split_once('.') else {
        return false;
    };
    // Exactly the minted spelling: `hex::decode` also takes upper case (and `parse` a `+`),
    // which made tokens malleable (a flipped case bit still verified).
    if !t.bytes().all(|b| b.is_ascii_digit())
        || !sig.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return false;
    }
    let (Ok(t), Ok(sig)) = (t.parse::<u64>(), hex::decode(sig)) else {
        return false;
    };
    if t > now || now - t > LIFETIME_SECS {
        return false;
    }
    mac(key, session_id, binding, t).is_some_and(|m| m.verify_slice(&sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_to_session_parameters_and_time() {
        let k = b"key";
        let tok = mint(k, "s1", &["c", "https://x/cb"], 1000);
        assert!(verify(k, "s1", &["c", "https://x/cb"], &tok, 1000));
        assert!(!verify(k, "s2", &["c", "https://x/cb"], &tok, 1000));
        assert!(!verify(k, "s1", &["c", "https://evil/cb"], &tok, 1000));
        assert!(!verify(
            k,
            "s1",
            &["c", "https://x/cb"],
            &tok,
            1000 + LIFETIME_SECS + 1
        ));
        assert!(!verify(b"other", "s1", &["c", "https://x/cb"], &tok, 1000));
        assert!(!verify(k, "s1", &["c", "https://x/cb"], "garbage", 1000));
        // Shifting a boundary between values changes the MAC.
        assert!(!verify(k, "s1", &["ch", "ttps://x/cb"], &tok, 1000));
    }

    /// Regression (found by `flipped_bit_is_refused`): an upper-cased hex digit verified.
    #[test]
    fn only_the_minted_spelling_verifies() {
        let k = b"key";
        let tok = mint(k, "s", &["c"], 1000);
        assert!(verify(k, "s", &["c"], &tok, 1000));
        assert!(!verify(k, "s", &["c"], &tok.to_uppercase(), 1000));
        assert!(!verify(k, "s", &["c"], &format!("+{tok}"), 1000));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, failure_persistence: None, ..Default::default() })]

        #[test]
        fn flipped_bit_is_refused(sid in "\\PC{0,20}", now in 0u64..4_000_000_000, bit in 0usize..1000) {
            let tok = mint(b"key", &sid, &["c"], now);
            let mut b = tok.clone().into_bytes();
            let bit = bit % (b.len() * 8);
            if let Some(x) = b.get_mut(bit / 8) {
                *x ^= 1 << (bit % 8);
            }
            proptest::prop_assert!(verify(b"key", &sid, &["c"], &tok, now));
            proptest::prop_assert!(!verify(b"key", &sid, &["c"], &String::from_utf8_lossy(&b), now));
        }
    }
}
