//! Properties of the request parsers and the pages' signed tokens: arbitrary bytes never panic
//! and never pass a check, encodings round-trip, and a single flipped bit is refused.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::oauth2::form::{Params, client_auth};
use crate::pages::fields::{self, FieldErrors, FormData};
use crate::pages::tokens::{Link, PageKey, csrf_ok, csrf_token};

fn flip(s: &str, bit: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    let bit = bit % (b.len() * 8);
    b[bit / 8] ^= 1 << (bit % 8);
    String::from_utf8_lossy(&b).into_owned()
}

fn encode(pairs: &[(String, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_form_bytes_never_panic(body in vec(any::<u8>(), 0..600)) {
        let f = FormData::parse(&body);
        let mut errs = FieldErrors::default();
        let _ = fields::username(f.get("username"));
        let _ = fields::email(f.get("email"));
        let _ = fields::new_password(&f, &mut errs, ("p", "p2"), f.get("username"), "");
        let _ = fields::name_and_profile(&f, &mut errs);
        if let Ok(p) = Params::parse(&body) {
            let _ = client_auth(&HeaderMap::new(), &p);
        }
        let key = PageKey::new([1; 32]);
        prop_assert!(!csrf_ok(&key, f.get("c"), "", f.get("csrf_token"), 0, 7200));
        if let Some(l) = Link::parse(f.get("token")) {
            prop_assert!(l.check(&key, "reset", "", 0).is_err());
        }
    }

    #[test]
    fn form_parameters_round_trip(pairs in vec(("[a-z_]{1,12}", "\\PC{1,40}"), 0..8)) {
        let mut seen = std::collections::HashSet::new();
        let pairs: Vec<_> = pairs.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect();
        let p = Params::parse(encode(&pairs).as_bytes()).unwrap();
        let f = FormData::parse(encode(&pairs).as_bytes());
        for (k, v) in &pairs {
            prop_assert_eq!(p.get(k), Some(v.as_str()));
            prop_assert_eq!(f.get(k), v.as_str());
        }
    }

    #[test]
    fn basic_credentials_round_trip(id in "\\PC{1,30}", secret in "\\PC{0,40}") {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let v = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
        let a = client_auth(&h, &Params::default()).unwrap().unwrap();
        prop_assert_eq!(a.client_id, id);
        prop_assert_eq!(a.secret, Some(secret));
    }

    #[test]
    fn page_tokens_refuse_a_flipped_bit(cookie in "[0-9a-f]{32}", sid in "[0-9a-f]{0,32}",
                                        nonce in "[0-9a-f]{32}", uid in any::<u64>(),
                                        exp in 1u64..u64::MAX, bit in any::<usize>()) {
        let key = PageKey::new([2; 32]);
        let t = csrf_token(&key, &cookie, &sid, 1000);
        prop_assert!(csrf_ok(&key, &cookie, &sid, &t, 1001, 7200));
        prop_assert!(!csrf_ok(&key, &cookie, &sid, &flip(&t, bit), 1001, 7200));
        let link = Link::issue(&key, "verify", uid, exp, &nonce, "a@b.org");
        prop_assert!(Link::parse(&link).unwrap().check(&key, "verify", "a@b.org", 0).is_ok());
        let bad = flip(&link, bit);
        prop_assert!(Link::parse(&bad).is_none_or(|l| l.check(&key, "verify", "a@b.org", 0).is_err()));
    }
}
