//! Properties of the NG cookie and the upstream JWT: arbitrary input never verifies, encoding
//! round-trips, and any single flipped bit of a signed token is refused.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use proptest::prelude::*;

use super::*;

const SECRET: &[u8] = b"prop-jwt-secret-0123456789abcdef";

fn flip(token: &str, bit: usize) -> String {
    let mut b = token.as_bytes().to_vec();
    let bit = bit % (b.len() * 8);
    b[bit / 8] ^= 1 << (bit % 8);
    String::from_utf8_lossy(&b).into_owned()
}

fn cookie() -> impl Strategy<Value = NgCookie> {
    (
        "\\PC{0,24}",
        "[0-9a-f]{0,32}",
        "\\PC{0,32}",
        2_000_000_000u64..4_000_000_000,
        any::<u64>(),
    )
        .prop_map(|(user_id, session_id, nonce, exp, idx)| NgCookie {
            user_id,
            session_id,
            nonce,
            expires: iso8601_ms(exp * 1000),
            exp,
            idx,
        })
}

fn upstream() -> impl Strategy<Value = UpstreamSession> {
    (
        "\\PC{0,24}",
        proptest::option::of("\\PC{0,16}"),
        2_000_000_000u64..4_000_000_000,
    )
        .prop_map(|(session_id, ip_address, exp)| UpstreamSession {
            session_id,
            start_time: iso8601_ms(0),
            user: None,
            client: None,
            end_time: None,
            authorizations: Some(Authorizations::default()),
            ip_address,
            remote_host: None,
            nonce: None,
            iat: exp - 60,
            exp,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_verify(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                    text in "[A-Za-z0-9_.-]{0,300}") {
        let k = Hs256Keys::new(SECRET);
        for t in [String::from_utf8_lossy(&bytes).into_owned(), text] {
            prop_assert!(NgCookie::decode(&k, &t).is_err());
            prop_assert!(UpstreamSession::decode(&k, &t, 60).is_err());
        }
    }

    #[test]
    fn cookie_round_trips_and_a_flipped_bit_is_refused(c in cookie(), bit in any::<usize>()) {
        let k = Hs256Keys::new(SECRET);
        let t = c.encode(&k).unwrap();
        prop_assert_eq!(NgCookie::decode(&k, &t), Ok(c));
        prop_assert!(NgCookie::decode(&k, &flip(&t, bit)).is_err());
    }

    #[test]
    fn upstream_jwt_round_trips_and_a_flipped_bit_is_refused(s in upstream(), bit in any::<usize>()) {
        let k = Hs256Keys::new(SECRET);
        let t = s.encode(&k).unwrap();
        prop_assert_eq!(UpstreamSession::decode(&k, &t, 0), Ok(s));
        prop_assert!(UpstreamSession::decode(&k, &flip(&t, bit), 0).is_err());
    }
}
