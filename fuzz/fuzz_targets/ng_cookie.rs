//! The NG session cookie and the upstream JWT: arbitrary text never verifies (HS256 under a
//! secret the fuzzer does not know), and a cookie built from fuzzed claims round-trips while
//! any single flipped bit of it is refused.
#![no_main]

use authd_auth::tokens::{Hs256Keys, NgCookie, UpstreamSession, iso8601_ms};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-jwt-secret-0123456789abcdef0123";

fn field(data: &[u8], i: usize) -> String {
    data.chunks(7)
        .nth(i)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let keys = Hs256Keys::new(SECRET);
    let text = String::from_utf8_lossy(data);
    assert!(
        NgCookie::decode(&keys, &text).is_err(),
        "forged cookie accepted"
    );
    assert!(
        UpstreamSession::decode(&keys, &text, 5).is_err(),
        "forged JWT accepted"
    );

    let exp = 4_000_000_000 + u64::from(data.first().copied().unwrap_or(0));
    let cookie = NgCookie {
        user_id: field(data, 0),
        session_id: field(data, 1),
        nonce: field(data, 2),
        expires: iso8601_ms(exp * 1000),
        exp,
        idx: data.len() as u64,
    };
    let Ok(token) = cookie.encode(&keys) else {
        return;
    };
    assert_eq!(NgCookie::decode(&keys, &token).as_ref(), Ok(&cookie));
    let bit = data.iter().fold(0usize, |a, b| {
        a.wrapping_mul(31).wrapping_add(usize::from(*b))
    });
    let mut bytes = token.into_bytes();
    let n = bytes.len() * 8;
    if let Some(b) = bytes.get_mut((bit % n) / 8) {
        *b ^= 1 << (bit % 8);
    }
    let flipped = String::from_utf8_lossy(&bytes);
    assert!(
        NgCookie::decode(&keys, &flipped).is_err(),
        "flipped bit accepted"
    );
});
