//! `Authorization` (Bearer for `/auth`, Basic for the OAuth2 token endpoint), `Cookie` and
//! `X-Required-Scopes` as a client sends them: never a panic, and what is accepted is bounded.
#![no_main]

use authd_auth::split_bearer;
use authd_web::Credential;
use authd_web::fuzzing::{Params, client_auth, credential, required_scopes, with_legacy};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Up to three header values separated by NUL (which no header value may contain).
    let mut parts = data.split(|b| *b == 0);
    let mut h = HeaderMap::new();
    for name in [AUTHORIZATION, COOKIE] {
        if let Some(v) = parts.next().and_then(|p| HeaderValue::from_bytes(p).ok()) {
            h.insert(name, v);
        }
    }
    if let Some(v) = parts.next().and_then(|p| HeaderValue::from_bytes(p).ok()) {
        h.insert("x-required-scopes", v);
    }
    let cred = credential(&h, "ARXIVNG_SESSION_ID");
    if let Ok(Some(Credential::Bearer(t))) = &cred {
        assert!(!t.is_empty() && t.len() <= 4096 && t.bytes().all(|b| b.is_ascii_graphic()));
        let (secret, _idx) = split_bearer(t);
        assert!(secret.len() <= t.len());
    }
    let _ = with_legacy(cred.ok().flatten(), &h, "tapir_session");
    let _ = required_scopes(&h);
    if let Ok(Some(a)) = client_auth(&h, &Params::default()) {
        assert!(a.via_basic);
    }
});
