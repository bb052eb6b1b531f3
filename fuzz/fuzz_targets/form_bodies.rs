//! Form bodies of the login, registration, password and OAuth2 token requests, through the
//! parsers and field rules behind them, plus the signed tokens they carry (CSRF, captcha,
//! e-mailed links): never a panic, never a forged token accepted.
#![no_main]

use authd_web::fuzzing::{Params, client_auth};
use authd_web::pages::fields::{self, FieldErrors, FormData};
use authd_web::pages::tokens::{self, Link, PageKey};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = FormData::parse(data);
    let (user, email, pw) = (f.get("username"), f.get("email"), f.get("password"));
    let _ = fields::username(user);
    let _ = fields::email(email);
    let _ = fields::password(pw, user, email);
    let mut errs = FieldErrors::default();
    let _ = fields::new_password(
        &f,
        &mut errs,
        ("new_password", "new_password2"),
        user,
        email,
    );
    let _ = fields::name_and_profile(&f, &mut errs);

    let key = PageKey::new([7; 32]);
    assert!(
        !tokens::csrf_ok(&key, f.get("cookie"), "", f.get("csrf_token")),
        "forged CSRF token accepted"
    );
    assert!(
        tokens::captcha_check(
            &key,
            f.get("captcha_token"),
            "127.0.0.1",
            0,
            f.get("captcha_value")
        )
        .is_err()
    );
    if let Some(link) = Link::parse(f.get("token")) {
        assert!(
            link.check(&key, "verify", email, 0).is_err(),
            "forged link accepted"
        );
    }

    let mut h = HeaderMap::new();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    if let Ok(p) = Params::form(&h, data) {
        let _ = p.require("grant_type");
        let _ = client_auth(&HeaderMap::new(), &p);
    }
});
