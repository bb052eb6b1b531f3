//! `GET /auth`, `/login` and `/logout` over real HTTP on a 3-node cluster: any node serves a
//! session made on another, the upstream JWT verifies with the JWT secret, and every
//! credential kind gets the status DESIGN.md "Interface details" fixes.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use authd_tests::{Cluster, unix_now, wait_until};
use serde_json::{Value, json};

use crate::authd_http::{
    AuthReq, COOKIE_NAME, Web, WebResp, assert_accepted_everywhere, claims_unchecked_exp,
    cookie_header, jwt_secret, random_id, sign_hs256, verify_hs256, web_client, webs,
};
use crate::util::{PASSWORD, create_user, email_of, id_text, uniq, wait_user_visible};

/// The default `[web] default_next_page`.
const DEFAULT_NEXT: &str = "/user";

fn check_401_clearing(r: &WebResp, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.describe());
    assert!(
        r.authorization.is_none(),
        "{what}: a 401 carries an upstream JWT"
    );
    assert!(
        r.clears_cookie(),
        "{what}: the 401 must clear the dead cookie: {}",
        r.describe()
    );
    if let Err(e) = r.reason() {
        panic!("{what}: {e:#}");
    }
}

fn check_400(r: &WebResp, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.describe());
    assert!(
        r.authorization.is_none(),
        "{what}: a 400 carries an upstream JWT"
    );
    if let Err(e) = r.reason() {
        panic!("{what}: {e:#}");
    }
}

fn check_200_jwt(r: &WebResp, what: &str) -> String {
    assert_eq!(r.status, 200, "{what}: {}", r.describe());
    assert!(
        r.body.is_empty(),
        "{what}: a 200 from /auth must have an empty body: {:?}",
        r.body
    );
    match &r.authorization {
        Some(a) if !a.is_empty() => a.clone(),
        _ => panic!(
            "{what}: a 200 for a credential must carry Authorization: {}",
            r.describe()
        ),
    }
}

fn check_anonymous(r: &WebResp, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.describe());
    assert!(
        r.authorization.is_none(),
        "{what}: anonymous 200 must not carry Authorization: {:?}",
        r.authorization
    );
    assert!(
        r.body.is_empty(),
        "{what}: a 200 from /auth must have an empty body: {:?}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_on_node_1_auth_on_node_3_yields_a_verifiable_upstream_jwt() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let secret = jwt_secret(&cluster)?;
    let client = web_client()?;
    let nodes = webs(&cluster, &client)?;
    let name = uniq("jwt");
    let user = create_user(&cluster.api(1), &name).await?;
    let user_id = id_text(&user["id"])?;
    wait_user_visible(&cluster, 1, &name, &user["id"]).await?;

    let web1 = Web::new(cluster.node(1)?.http, client.clone()).settled();
    let web3 = Web::new(cluster.node(3)?.http, client.clone()).settled();
    let cookie = web1.login_ok(&name, PASSWORD).await?;
    let cookie_claims = verify_hs256(&cookie, &secret).context("the NG cookie itself")?;
    let session_id = cookie_claims["session_id"]
        .as_str()
        .map(str::to_owned)
        .context("cookie has no session_id")?;
    let nonce = cookie_claims["nonce"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        nonce.len() >= 32,
        "the cookie nonce must carry >= 128 bits: {nonce:?}"
    );

    // Right away, no polling: node 3 waits for the session's creation index if it is behind
    // (a 503 is asked again by the settled client; a 401 would delete a fresh cookie).
    let r = web3.auth_cookie(&cookie).await?;
    let jwt = check_200_jwt(&r, "login on node 1, /auth on node 3");
    assert!(
        !jwt.starts_with("Bearer"),
        "Authorization must be the bare JWT: {jwt}"
    );
    assert_ne!(
        jwt, cookie,
        "the upstream JWT must not be the session cookie"
    );

    let claims = verify_hs256(&jwt, &secret)?;
    let before = unix_now();
    assert_eq!(claims["user"]["username"], name.as_str(), "{claims}");
    assert_eq!(
        claims["user"]["email"],
        email_of(&name).as_str(),
        "{claims}"
    );
    assert_eq!(claims["user"]["user_id"], user_id.as_str(), "{claims}");
    assert_eq!(claims["session_id"], session_id.as_str(), "{claims}");
    assert_eq!(
        claims["nonce"],
        Value::Null,
        "the session nonce stays inside authd: {claims}"
    );
    assert!(
        !jwt.contains(&nonce) && !claims.to_string().contains(&nonce),
        "nonce leaked"
    );
    for key in [
        "start_time",
        "end_time",
        "client",
        "ip_address",
        "remote_host",
        "authorizations",
    ] {
        assert!(claims.get(key).is_some(), "claim {key} missing: {claims}");
    }
    let scopes: Vec<&str> = claims["authorizations"]["scopes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        scopes.contains(&"submission:create"),
        "user scopes: {scopes:?}"
    );
    assert!(
        !scopes.contains(&"fulltext:read"),
        "plain users lack fulltext:read: {scopes:?}"
    );
    let iat = claims["iat"].as_u64().context("iat")?;
    let exp = claims["exp"].as_u64().context("exp")?;
    assert!(exp > iat, "exp {exp} must be after iat {iat}");
    assert!(
        exp - iat <= 60,
        "the upstream JWT is short-lived (<= 60 s): iat {iat} exp {exp}"
    );
    assert!(
        iat + 5 >= before && iat <= unix_now() + 5,
        "iat {iat} is not now ({before})"
    );
    // The JWT is bound to the secret: another key refuses it.
    assert!(verify_hs256(&jwt, b"some-other-secret").is_err());

    // Every node serves the same session (guarantee 3), and names the same user.
    for (id, w) in &nodes {
        let r = w.auth_cookie(&cookie).await?;
        let jwt = check_200_jwt(&r, &format!("node {id}"));
        let c = verify_hs256(&jwt, &secret)?;
        assert_eq!(c["session_id"], session_id.as_str(), "node {id}: {c}");
        assert_eq!(c["user"]["username"], name.as_str(), "node {id}: {c}");
    }

    // Logout on node 2 ends it for node 1 and node 3 as well.
    let web2 = Web::new(cluster.node(2)?.http, client.clone()).settled();
    let out = web2.logout(&cookie).await?;
    assert_eq!(out.status, 303, "logout: {}", out.describe());
    assert!(
        out.clears_cookie(),
        "logout must clear the cookie: {}",
        out.describe()
    );
    for (id, w) in &nodes {
        check_401_clearing(
            &w.auth_cookie(&cookie).await?,
            &format!("node {id} after logout"),
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_status_matrix_for_every_credential_kind() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let secret = jwt_secret(&cluster)?;
    let client = web_client()?;
    let nodes = webs(&cluster, &client)?;
    let w1 = Web::new(cluster.node(1)?.http, client.clone()).settled();
    let w2 = Web::new(cluster.node(2)?.http, client.clone()).settled();

    let name = uniq("matrix");
    let user = create_user(&cluster.api(2), &name).await?;
    let other = uniq("other");
    let other_user = create_user(&cluster.api(2), &other).await?;
    let admin = uniq("admin");
    let admin_user = cluster
        .api(2)
        .create_user(&admin, &email_of(&admin), PASSWORD, true)
        .await?
        .expect(201)?;
    for (n, u) in [(&name, &user), (&other, &other_user), (&admin, &admin_user)] {
        for id in cluster.node_ids() {
            wait_user_visible(&cluster, id, n, &u["id"]).await?;
        }
    }
    let cookie = w1.login_ok(&name, PASSWORD).await?;
    assert_accepted_everywhere(&nodes, &cookie).await?;
    let valid = cookie_header(&cookie);
    let claims = claims_unchecked_exp(&cookie, &secret)?;
    let session_id = claims["session_id"]
        .as_str()
        .context("session_id")?
        .to_owned();

    // ---- anonymous ----
    for (id, w) in &nodes {
        check_anonymous(
            &w.auth(&AuthReq::anonymous()).await?,
            &format!("node {id} anonymous"),
        );
    }
    let unrelated = "theme=dark; other_cookie=1";
    check_anonymous(
        &w2.auth(&AuthReq {
            cookie_header: Some(unrelated),
            ..AuthReq::default()
        })
        .await?,
        "unrelated cookies only",
    );
    let empty = format!("{COOKIE_NAME}=");
    check_anonymous(
        &w2.auth(&AuthReq {
            cookie_header: Some(&empty),
            ..AuthReq::default()
        })
        .await?,
        "empty NG cookie",
    );

    // ---- the valid cookie (baseline) and cookie variants ----
    check_200_jwt(&w2.auth_cookie(&cookie).await?, "valid cookie");
    let with_others = format!("theme=dark; {COOKIE_NAME}={cookie}; x=y");
    check_200_jwt(
        &w2.auth(&AuthReq {
            cookie_header: Some(&with_others),
            ..AuthReq::default()
        })
        .await?,
        "valid cookie among others",
    );
    // Duplicates (parent domain and subdomain both set one): each value is tried in order.
    let dup = format!("{COOKIE_NAME}=garbage; {COOKIE_NAME}={cookie}");
    check_200_jwt(
        &w2.auth(&AuthReq {
            cookie_header: Some(&dup),
            ..AuthReq::default()
        })
        .await?,
        "a bad then a valid NG cookie",
    );

    // Forged: the same claims, signed with another key.
    let forged = sign_hs256(&claims, b"not-the-cluster-secret-at-all-0123456789")?;
    // Tampered: another session id in the payload, the original signature kept.
    let mut parts: Vec<String> = cookie.split('.').map(str::to_owned).collect();
    let tampered = {
        let mut c = claims.clone();
        c["session_id"] = json!(random_id());
        let other_payload = sign_hs256(&c, b"x")?;
        let p = other_payload
            .split('.')
            .nth(1)
            .context("payload")?
            .to_owned();
        if let Some(slot) = parts.get_mut(1) {
            *slot = p;
        }
        parts.join(".")
    };
    // Signature bytes flipped.
    let bad_sig = {
        let (head, sig) = cookie.rsplit_once('.').context("signature")?;
        let flipped: String = sig
            .chars()
            .enumerate()
            .map(|(i, ch)| {
                if i == 3 {
                    if ch == 'A' { 'B' } else { 'A' }
                } else {
                    ch
                }
            })
            .collect();
        format!("{head}.{flipped}")
    };
    // alg=none with the real payload.
    let alg_none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        cookie.split('.').nth(1).context("payload")?
    );
    // Valid signature (we know the secret), but authd never issued it: unknown session.
    let mut unknown = claims.clone();
    unknown["session_id"] = json!(random_id());
    unknown["nonce"] = json!(random_id());
    let unknown_session = sign_hs256(&unknown, &secret)?;
    // The real session id with another nonce: a leaked session id alone is useless.
    let mut wrong_nonce = claims.clone();
    wrong_nonce["nonce"] = json!(random_id());
    let wrong_nonce = sign_hs256(&wrong_nonce, &secret)?;
    // The real session and nonce, claimed for another user.
    let mut wrong_user = claims.clone();
    wrong_user["user_id"] = json!(id_text(&other_user["id"])?);
    let wrong_user = sign_hs256(&wrong_user, &secret)?;
    // A required claim missing.
    let mut no_nonce = claims.clone();
    if let Some(o) = no_nonce.as_object_mut() {
        o.remove("nonce");
    }
    let no_nonce = sign_hs256(&no_nonce, &secret)?;
    // The cookie's own exp in the past (the session itself still live).
    let mut past = claims.clone();
    past["exp"] = json!(unix_now() - 10);
    let past_exp = sign_hs256(&past, &secret)?;
    // An RS/HS confusion attempt: HS384 with the secret.
    let hs384 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )?;

    for (what, value) in [
        ("forged (wrong key)", forged.as_str()),
        ("tampered payload", tampered.as_str()),
        ("corrupted signature", bad_sig.as_str()),
        ("alg=none", alg_none.as_str()),
        ("HS384", hs384.as_str()),
        ("not a JWT", "not-a-jwt"),
        ("valid signature, unknown session", unknown_session.as_str()),
        ("valid signature, wrong nonce", wrong_nonce.as_str()),
        ("valid signature, wrong user_id", wrong_user.as_str()),
        ("valid signature, nonce claim missing", no_nonce.as_str()),
        ("valid signature, exp in the past", past_exp.as_str()),
    ] {
        for (id, w) in &nodes {
            check_401_clearing(&w.auth_cookie(value).await?, &format!("node {id}: {what}"));
        }
        // Required scopes do not turn a bad cookie into a 403.
        let h = cookie_header(value);
        let r = w1
            .auth(&AuthReq {
                cookie_header: Some(&h),
                scopes: Some("submission:create"),
                ..AuthReq::default()
            })
            .await?;
        check_401_clearing(&r, &format!("{what} with required scopes"));
    }
    // The real cookie still works after all that.
    check_200_jwt(
        &w1.auth_cookie(&cookie).await?,
        "valid cookie after the forgeries",
    );

    // ---- the Authorization header ----
    for bad in [
        "abc",
        "Basic dXNlcjpwYXNz",
        "Basic x",
        "Bearer ",
        "Bearer",
        "Bearer a b",
        "Token abc",
    ] {
        for (id, w) in &nodes {
            check_400(
                &w.auth(&AuthReq {
                    authorization: Some(bad),
                    ..AuthReq::default()
                })
                .await?,
                &format!("node {id}: Authorization {bad:?}"),
            );
        }
        // A malformed header is an error even next to a valid cookie (header first).
        check_400(
            &w2.auth(&AuthReq {
                authorization: Some(bad),
                cookie_header: Some(&valid),
                ..AuthReq::default()
            })
            .await?,
            &format!("Authorization {bad:?} with a valid cookie"),
        );
    }
    let unknown_bearer = format!("Bearer {}", random_id());
    for (id, w) in &nodes {
        let r = w
            .auth(&AuthReq {
                authorization: Some(&unknown_bearer),
                ..AuthReq::default()
            })
            .await?;
        assert_eq!(r.status, 401, "node {id}: unknown bearer: {}", r.describe());
        assert!(r.authorization.is_none());
        r.reason()?;
    }
    let lower = format!("bearer {}", random_id());
    let r = w1
        .auth(&AuthReq {
            authorization: Some(&lower),
            ..AuthReq::default()
        })
        .await?;
    assert_eq!(
        r.status,
        401,
        "lower-case scheme, unknown token: {}",
        r.describe()
    );
    // Header wins over a valid cookie: an unknown bearer next to it is a 401, not a 200.
    let r = w2
        .auth(&AuthReq {
            authorization: Some(&unknown_bearer),
            cookie_header: Some(&valid),
            ..AuthReq::default()
        })
        .await?;
    assert_eq!(
        r.status,
        401,
        "unknown bearer beside a valid cookie: {}",
        r.describe()
    );
    assert!(r.authorization.is_none());
    // The session cookie and the upstream JWT are not bearer tokens.
    let jwt = check_200_jwt(&w2.auth_cookie(&cookie).await?, "valid cookie");
    for (what, tok) in [("the NG cookie", &cookie), ("an upstream JWT", &jwt)] {
        let h = format!("Bearer {tok}");
        let r = w1
            .auth(&AuthReq {
                authorization: Some(&h),
                ..AuthReq::default()
            })
            .await?;
        assert_eq!(r.status, 401, "{what} as a bearer token: {}", r.describe());
        assert!(
            r.authorization.is_none(),
            "{what} as a bearer token was accepted"
        );
    }
    // The upstream JWT as a bare Authorization value (no scheme) is malformed.
    let r = w1
        .auth(&AuthReq {
            authorization: Some(&jwt),
            ..AuthReq::default()
        })
        .await?;
    check_400(&r, "an upstream JWT as a bare Authorization value");

    // ---- required scopes ----
    for scopes in [
        "submission:create",
        "submission:create public:read",
        "  submission:create  ",
    ] {
        let r = w2
            .auth(&AuthReq {
                cookie_header: Some(&valid),
                scopes: Some(scopes),
                ..AuthReq::default()
            })
            .await?;
        check_200_jwt(&r, &format!("user with {scopes:?}"));
    }
    for (scopes, missing) in [
        ("fulltext:read", vec!["fulltext:read"]),
        ("submission:create fulltext:read", vec!["fulltext:read"]),
        (
            "fulltext:read admin:write",
            vec!["fulltext:read", "admin:write"],
        ),
        ("submission:create:*", vec!["submission:create:*"]),
    ] {
        for (id, w) in &nodes {
            let r = w
                .auth(&AuthReq {
                    cookie_header: Some(&valid),
                    scopes: Some(scopes),
                    ..AuthReq::default()
                })
                .await?;
            assert_eq!(
                r.status,
                403,
                "node {id}: user requiring {scopes:?}: {}",
                r.describe()
            );
            assert!(r.authorization.is_none(), "a 403 carries an upstream JWT");
            let body = r.json()?;
            assert_eq!(body["reason"], "insufficient scope", "{body}");
            let mut got: Vec<String> = body["missing"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            got.sort();
            let mut want: Vec<String> = missing.iter().map(|s| (*s).to_owned()).collect();
            want.sort();
            assert_eq!(
                got, want,
                "node {id}: missing scopes for {scopes:?}: {body}"
            );
        }
    }
    // Anonymous with required scopes: 401, not 403 and not 200.
    for (id, w) in &nodes {
        let r = w
            .auth(&AuthReq {
                scopes: Some("submission:create"),
                ..AuthReq::default()
            })
            .await?;
        assert_eq!(
            r.status,
            401,
            "node {id}: anonymous with required scopes: {}",
            r.describe()
        );
        assert!(r.authorization.is_none());
        r.reason()?;
    }
    // An empty requirement is no requirement.
    check_anonymous(
        &w1.auth(&AuthReq {
            scopes: Some(""),
            ..AuthReq::default()
        })
        .await?,
        "empty X-Required-Scopes",
    );
    // The admin's global forms (`fulltext:read:*`) satisfy a plain requirement.
    let admin_cookie = w2.login_ok(&admin, PASSWORD).await?;
    assert_accepted_everywhere(&nodes, &admin_cookie).await?;
    let ah = cookie_header(&admin_cookie);
    let r = w1
        .auth(&AuthReq {
            cookie_header: Some(&ah),
            scopes: Some("fulltext:read submission:create"),
            ..AuthReq::default()
        })
        .await?;
    let admin_jwt = check_200_jwt(&r, "admin requiring fulltext:read");
    assert_eq!(
        verify_hs256(&admin_jwt, &secret)?["user"]["username"],
        admin.as_str()
    );

    // ---- login failures: one generic answer ----
    let wrong_pw = w1.login(&name, "wrong-password-123456", None).await?;
    let unknown_user = w1.login(&uniq("ghost"), PASSWORD, None).await?;
    let empty_pw = w1.login(&name, "", None).await?;
    for (what, r) in [
        ("wrong password", &wrong_pw),
        ("unknown user", &unknown_user),
        ("empty password", &empty_pw),
    ] {
        assert_eq!(r.status, 400, "{what}: {}", r.describe());
        assert!(
            r.cookie_value().is_none_or(|v| v.is_empty()),
            "{what} set a session cookie"
        );
        assert!(r.location.is_none(), "{what} redirected");
    }
    assert_eq!(
        wrong_pw.page_shape(),
        unknown_user.page_shape(),
        "wrong password and unknown user must look the same"
    );
    assert!(
        empty_pw.body.contains("id=\"password-error\""),
        "an empty password is a field error tied to the password input: {}",
        empty_pw.describe()
    );

    // ---- next_page ----
    for bad in [
        "https://evilarxiv.org/",
        "//evil.com",
        "/\\evil.com",
        "https://arxiv.org.evil.com/",
        "javascript:alert(1)",
        "https://user@arxiv.org@evil.com/",
        "/ok\r\nSet-Cookie: x=1",
        "https:evil.com",
    ] {
        let r = w2.login(&name, PASSWORD, Some(bad)).await?;
        assert_eq!(
            r.status,
            303,
            "login with next_page {bad:?}: {}",
            r.describe()
        );
        assert_eq!(
            r.location.as_deref(),
            Some(DEFAULT_NEXT),
            "next_page {bad:?}: {}",
            r.describe()
        );
        if let Some(c) = r.cookie_value() {
            w2.logout(&c).await?;
        }
    }
    for (good, want) in [
        ("/abs/1234.5678?v=2", "/abs/1234.5678?v=2"),
        ("https://arxiv.org/abs/1", "https://arxiv.org/abs/1"),
    ] {
        let r = w2.login(&name, PASSWORD, Some(good)).await?;
        assert_eq!(r.status, 303, "{}", r.describe());
        assert_eq!(r.location.as_deref(), Some(want), "safe next_page {good:?}");
        if let Some(c) = r.cookie_value() {
            w2.logout(&c).await?;
        }
    }

    // ---- logout ----
    let out = w2.logout(&cookie).await?;
    assert_eq!(out.status, 303, "logout: {}", out.describe());
    assert!(
        out.clears_cookie(),
        "logout clears the cookie: {}",
        out.describe()
    );
    for (id, w) in &nodes {
        check_401_clearing(
            &w.auth_cookie(&cookie).await?,
            &format!("node {id}: after logout"),
        );
    }
    // The admin's session is untouched by another user's logout.
    check_200_jwt(
        &w1.auth_cookie(&admin_cookie).await?,
        "another user's session after a logout",
    );
    // Logout without a cookie, or with garbage: still a 303 that clears.
    let r = w1.get_with("/logout", &AuthReq::anonymous()).await?;
    assert_eq!(r.status, 303, "{}", r.describe());
    let r = w1.logout("garbage").await?;
    assert_eq!(r.status, 303, "{}", r.describe());
    assert!(r.clears_cookie());
    // The ended session is gone from the operator API on every node.
    for id in cluster.node_ids() {
        let r = cluster.api(id).get_session(&session_id).await?;
        assert_eq!(
            r.status, 404,
            "node {id}: ended session still served: {}",
            r.body
        );
    }
    // Two NG cookies in one request (parent domain and subdomain): logout ends both.
    let (a, b) = (
        w1.login_ok(&name, PASSWORD).await?,
        w2.login_ok(&name, PASSWORD).await?,
    );
    assert_accepted_everywhere(&nodes, &a).await?;
    assert_accepted_everywhere(&nodes, &b).await?;
    let both = format!("{COOKIE_NAME}={a}; {COOKIE_NAME}={b}");
    let r = w1
        .get_with(
            "/logout",
            &AuthReq {
                cookie_header: Some(&both),
                ..AuthReq::default()
            },
        )
        .await?;
    assert_eq!(r.status, 303, "logout with two cookies: {}", r.describe());
    for (which, c) in [("first", &a), ("second", &b)] {
        for (id, w) in &nodes {
            check_401_clearing(
                &w.auth_cookie(c).await?,
                &format!("node {id}: {which} of two cookies after one logout"),
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused_and_its_cookie_cleared() -> Result<()> {
    // Sessions of 3 s: the cookie's own exp and the stored session both run out.
    let cluster = Cluster::start(1, |c| c.sessions.ttl_secs = Some(3)).await?;
    let secret = jwt_secret(&cluster)?;
    let client = web_client()?;
    let w = Web::new(cluster.node(1)?.http, client.clone()).settled();
    let name = uniq("expiry");
    let user = create_user(&cluster.api(1), &name).await?;

    let cookie = w.login_ok(&name, PASSWORD).await?;
    let claims = claims_unchecked_exp(&cookie, &secret)?;
    let session_id = claims["session_id"]
        .as_str()
        .context("session_id")?
        .to_owned();
    let r = w.auth_cookie(&cookie).await?;
    check_200_jwt(&r, "a fresh 3 s session");
    let jwt = r.authorization.clone().unwrap_or_default();
    let c = verify_hs256(&jwt, &secret)?;
    let exp = c["exp"].as_u64().context("exp")?;
    let end = claims["exp"].as_u64().context("cookie exp")?;
    assert!(
        exp <= end,
        "the upstream JWT ({exp}) must not outlive the session ({end})"
    );

    // The same session, re-signed with a far exp: only the stored expiry can refuse it.
    let mut long = claims.clone();
    long["exp"] = json!(unix_now() + 3600);
    let long = sign_hs256(&long, &secret)?;
    check_200_jwt(
        &w.auth_cookie(&long).await?,
        "re-signed cookie of a live session",
    );

    // An operator-made session with ttl_secs = 1 also expires (visible through the API).
    let api_session = cluster
        .api(1)
        .create_session(&user["id"], Some(1))
        .await?
        .expect(201)?;
    let api_sid = id_text(&api_session["session_id"])?;

    wait_until("the session to expire", Duration::from_secs(10), || async {
        let r = w.auth_cookie(&long).await?;
        if r.status == 200 {
            bail!("still live");
        }
        Ok(())
    })
    .await?;
    check_401_clearing(&w.auth_cookie(&cookie).await?, "expired cookie");
    check_401_clearing(
        &w.auth_cookie(&long).await?,
        "expired session, cookie re-signed with a long exp",
    );
    let h = cookie_header(&cookie);
    check_401_clearing(
        &w.auth(&AuthReq {
            cookie_header: Some(&h),
            scopes: Some("submission:create"),
            ..AuthReq::default()
        })
        .await?,
        "expired cookie with required scopes",
    );
    wait_until(
        "the API session to expire",
        Duration::from_secs(10),
        || async {
            let r = cluster.api(1).get_session(&api_sid).await?;
            if r.status != 404 {
                bail!("HTTP {}: {}", r.status, r.body);
            }
            Ok(())
        },
    )
    .await?;
    let r = cluster.api(1).get_session(&session_id).await?;
    assert_eq!(
        r.status, 404,
        "expired login session still served: {}",
        r.body
    );
    Ok(())
}
