//! The authorization-code grant on a real 3-node cluster, each step on a different node: the
//! authorize endpoint's error pages and error redirects, login redirect, consent with CSRF,
//! PKCE (mismatch, public clients), code reuse, refresh rotation and reuse detection.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use authd_tests::{Cluster, wait_until};
use serde_json::json;

use crate::authd_http::{AuthReq, Web, cookie_header, jwt_secret, verify_hs256, web_client, webs};
use crate::oauth2_util::{
    authorize_path, bearer, bearer_everywhere, consent_form, decide, hidden_fields, post_form,
    query_param, register,
};
use crate::util::{PASSWORD, create_user, uniq};

const CB: &str = "https://app.example/cb";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Consent on `w` to the request at `path`: a new code.
async fn fresh_code(w: &Web, cookie: &str, path: &str) -> Result<String> {
    let fields = consent_form(w, cookie, path).await?;
    query_param(&decide(w, cookie, &fields, "approve").await?, "code").context("code")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_pkce_code_reuse_and_refresh_rotation_across_nodes() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let http = web_client()?;
    let nodes = webs(&cluster, &http)?;
    let (w1, w2, w3) = match nodes.as_slice() {
        [(_, a), (_, b), (_, c)] => (a, b, c),
        _ => bail!("expected 3 nodes"),
    };
    let name = uniq("alice");
    create_user(&cluster.api(1), &name).await?;
    let (id, secret) = register(&cluster, 2, json!({"name": "Reader <App>", "owner": name,
        "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [CB],
        "scopes": ["profile:read", "submission:read", "fulltext:read"], "url": "https://app.example"})).await?;
    let secret = secret.context("secret")?;
    let token_url =
        |n: u64| -> Result<String> { Ok(format!("http://{}/oauth2/token", cluster.node(n)?.http)) };
    let base = [
        ("response_type", "code"),
        ("client_id", id.as_str()),
        ("redirect_uri", CB),
        ("state", "xyz"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];

    // Bad client or redirect URI: an error page, never a redirect.
    for (what, path) in [
        (
            "unknown client",
            authorize_path(&[
                ("response_type", "code"),
                ("client_id", "nope"),
                ("redirect_uri", CB),
            ]),
        ),
        (
            "foreign redirect",
            authorize_path(&[
                ("response_type", "code"),
                ("client_id", &id),
                ("redirect_uri", "https://evil.example/cb"),
            ]),
        ),
    ] {
        let r = w1.get_with(&path, &AuthReq::anonymous()).await?;
        ensure!(
            r.status == 400 && r.location.is_none(),
            "{what}: {}",
            r.describe()
        );
        ensure!(
            r.content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("text/html")),
            "{what}: {}",
            r.describe()
        );
    }
    // Other errors go back to the client with state.
    for (what, path, want) in [
        (
            "response_type",
            authorize_path(&[
                ("response_type", "token"),
                ("client_id", &id),
                ("redirect_uri", CB),
                ("state", "xyz"),
            ]),
            "unsupported_response_type",
        ),
        (
            "plain PKCE",
            authorize_path(&[
                ("response_type", "code"),
                ("client_id", &id),
                ("redirect_uri", CB),
                ("state", "xyz"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ]),
            "invalid_request",
        ),
        (
            "bad scope",
            authorize_path(&[
                ("response_type", "code"),
                ("client_id", &id),
                ("redirect_uri", CB),
                ("state", "xyz"),
                ("scope", "upload:read"),
            ]),
            "invalid_scope",
        ),
    ] {
        let r = w1.get_with(&path, &AuthReq::anonymous()).await?;
        let loc = r
            .location
            .clone()
            .context(format!("{what}: no redirect: {}", r.describe()))?;
        ensure!(
            loc.starts_with(CB)
                && query_param(&loc, "error").as_deref() == Some(want)
                && query_param(&loc, "state").as_deref() == Some("xyz"),
            "{what}: {loc}"
        );
    }
    // Anonymous: to the login page, which comes back here.
    let path = authorize_path(&base);
    let r = w1.get_with(&path, &AuthReq::anonymous()).await?;
    let loc = r.location.clone().context("login redirect")?;
    let next = query_param(&format!("http://x{loc}"), "next_page").context("next_page")?;
    ensure!(
        loc.starts_with("/login?") && next == path,
        "{loc} -> {next}"
    );

    // Log in on node 1, consent on node 2 (fields) and node 3 (POST).
    let cookie = w1.login_ok(&name, PASSWORD).await?;
    let h = cookie_header(&cookie);
    let page = w2
        .get_with(
            &path,
            &AuthReq {
                cookie_header: Some(&h),
                ..AuthReq::default()
            },
        )
        .await?;
    ensure!(page.status == 200, "{}", page.describe());
    ensure!(
        page.body.contains("View your arXiv profile") && page.body.contains("Reader &#60;App&#62;"),
        "labels and escaping: {}",
        page.body
    );
    ensure!(
        !page.body.contains("fulltext:read"),
        "a scope the user lacks is not offered: {}",
        page.body
    );
    let fields = hidden_fields(&page.body);
    // A forged or altered form is refused with a page, not a redirect.
    let mut forged: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| {
            if k == "csrf_token" {
                (k.clone(), "1.00".into())
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    forged.push(("decision".into(), "approve".into()));
    let f: Vec<(&str, &str)> = forged
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = w3.post_form("/oauth2/authorize", Some(&cookie), &f).await?;
    ensure!(
        r.status == 403 && r.location.is_none(),
        "forged CSRF: {}",
        r.describe()
    );
    let other = uniq("mallory");
    create_user(&cluster.api(1), &other).await?;
    let mallory = w1.login_ok(&other, PASSWORD).await?;
    let f: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([("decision", "approve")])
        .collect();
    let r = w3
        .post_form("/oauth2/authorize", Some(&mallory), &f)
        .await?;
    ensure!(
        r.status == 403,
        "a form minted for another session: {}",
        r.describe()
    );
    let loc = decide(w3, &cookie, &fields, "deny").await?;
    ensure!(
        query_param(&loc, "error").as_deref() == Some("access_denied")
            && query_param(&loc, "state").as_deref() == Some("xyz"),
        "{loc}"
    );
    let loc = decide(w3, &cookie, &fields, "approve").await?;
    ensure!(
        loc.starts_with(CB) && query_param(&loc, "state").as_deref() == Some("xyz"),
        "{loc}"
    );
    let code = query_param(&loc, "code").context("code")?;

    // PKCE mismatch, redirect mismatch: invalid_grant, and each burns its code (more in
    // `oauth2_bounds`), so the exchange below needs a fresh one.
    let exchange = |code: &str, verifier: &str, redirect: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect.to_owned()),
            ("code_verifier", verifier.to_owned()),
        ]
    };
    let send = |n: u64, f: Vec<(&'static str, String)>| {
        let http = http.clone();
        let (id, secret) = (id.clone(), secret.clone());
        let url = token_url(n);
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(&http, &url?, &f, Some((&id, &secret))).await
        }
    };
    let r = send(1, exchange(&code, &"x".repeat(43), CB)).await?;
    ensure!(r.error(400)? == "invalid_grant", "PKCE mismatch: {r:?}");
    let code = fresh_code(w2, &cookie, &path).await?;
    let r = send(1, exchange(&code, VERIFIER, "https://app.example/other")).await?;
    ensure!(r.error(400)? == "invalid_grant", "redirect mismatch: {r:?}");
    let code = fresh_code(w3, &cookie, &path).await?;
    let r = send(1, exchange(&code, VERIFIER, CB)).await?;
    ensure!(
        r.field("scope")? == "profile:read submission:read",
        "requested ∩ client's ∩ user's: {r:?}"
    );
    let access = r.field("access_token")?;
    ensure!(r.field("refresh_token").is_ok(), "{r:?}");
    let jwt_key = jwt_secret(&cluster)?;
    let (status, jwt) = bearer(w2, &access).await?;
    ensure!(status == 200, "delegated token on node 2: {status}");
    let claims = verify_hs256(jwt.as_deref().context("JWT")?, &jwt_key)?;
    ensure!(
        claims["user"]["username"] == name.as_str() && claims["client"]["client_id"] == id.as_str(),
        "{claims}"
    );
    ensure!(
        claims["authorizations"]["scopes"] == json!(["profile:read", "submission:read"]),
        "{claims}"
    );
    // Code reuse: refused, and the tokens it produced are revoked everywhere.
    let r = send(2, exchange(&code, VERIFIER, CB)).await?;
    ensure!(r.error(400)? == "invalid_grant", "code reuse: {r:?}");
    bearer_everywhere(&nodes, &access, 401).await?;

    // A fresh grant, then refresh rotation and reuse detection.
    let fields = consent_form(w1, &cookie, &path).await?;
    let code =
        query_param(&decide(w2, &cookie, &fields, "approve").await?, "code").context("code")?;
    let r = send(3, exchange(&code, VERIFIER, CB)).await?;
    let (a1, r1) = (r.field("access_token")?, r.field("refresh_token")?);
    let refresh = |t: &str, scope: Option<&str>| {
        let mut f = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", t.to_owned()),
        ];
        if let Some(s) = scope {
            f.push(("scope", s.to_owned()));
        }
        f
    };
    let r = send(1, refresh(&r1, Some("fulltext:read"))).await?;
    ensure!(
        r.error(400)? == "invalid_scope",
        "wider than the grant: {r:?}"
    );
    let r = send(1, refresh(&r1, Some("profile:read"))).await?;
    let (a2, r2) = (r.field("access_token")?, r.field("refresh_token")?);
    ensure!(
        r2 != r1 && r.field("scope")? == "profile:read",
        "rotation: {r:?}"
    );
    bearer_everywhere(&nodes, &a2, 200).await?;
    // The rotated refresh token keeps the grant's full scope (RFC 6749 §6).
    let r = send(2, refresh(&r2, None)).await?;
    let (a3, r3) = (r.field("access_token")?, r.field("refresh_token")?);
    ensure!(r.field("scope")? == "profile:read submission:read", "{r:?}");
    let r = send(2, refresh(&r1, None)).await?;
    ensure!(
        r.error(400)? == "invalid_grant",
        "reused refresh token: {r:?}"
    );
    for t in [&a1, &a2, &a3] {
        bearer_everywhere(&nodes, t, 401).await?;
    }
    let r = send(3, refresh(&r3, None)).await?;
    ensure!(
        r.error(400)? == "invalid_grant",
        "the family is gone: {r:?}"
    );
    let r = send(3, refresh("garbage.1", None)).await?;
    ensure!(r.error(400)? == "invalid_grant", "{r:?}");
    let r = send(3, exchange("garbage.1", VERIFIER, CB)).await?;
    ensure!(r.error(400)? == "invalid_grant", "{r:?}");

    let bad_auth = [
        ("grant_type", "refresh_token"),
        ("refresh_token", r3.as_str()),
    ];
    let r = post_form(
        &http,
        &token_url(1)?,
        &bad_auth,
        Some((&id, "not-the-secret")),
    )
    .await?;
    ensure!(r.error(401)? == "invalid_client", "{r:?}");

    // The security events are in the audit log, with no code or token in it.
    // Each node sends its own batch: wait until all the expected events arrived.
    let all = wait_until(
        "OAuth2 events in the audit log",
        Duration::from_secs(10),
        || {
            let (cluster, id, name) = (&cluster, id.as_str(), name.as_str());
            async move {
                let all = crate::audit::entries(cluster, 1).await?;
                let has = |action: &str, outcome: &dyn Fn(&str) -> bool| {
                    all.iter().any(|e| {
                        e["action"] == action
                            && e["target"] == id
                            && e["outcome"].as_str().is_some_and(outcome)
                    })
                };
                ensure!(
                    all.iter().any(|e| e["action"] == "oauth2_consent"
                        && e["actor"] == name
                        && e["outcome"] == "denied"),
                    "no denied consent yet"
                );
                ensure!(
                    has("oauth2_consent", &|o| o == "approved"),
                    "no approval yet"
                );
                ensure!(
                    has("oauth2_code_redeem", &|o| o == "ok"),
                    "no redemption yet"
                );
                ensure!(
                    has("oauth2_grant_refused", &|o| o.contains("already used")),
                    "no reuse yet"
                );
                ensure!(
                    has("oauth2_client_auth_failed", &|_| true),
                    "no failed client authentication yet"
                );
                Ok(all)
            }
        },
    )
    .await?;
    let text = serde_json::to_string(&all)?;
    for secret in [&code, &r1, &r2, &r3, &a1, &secret] {
        ensure!(
            !text.contains(secret.as_str()),
            "a secret leaked into the audit log"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_clients_must_use_pkce_and_authenticate_by_id_only() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let http = web_client()?;
    let nodes = webs(&cluster, &http)?;
    let w = &nodes.first().context("node")?.1;
    let name = uniq("pub");
    create_user(&cluster.api(1), &name).await?;
    let cb = "http://127.0.0.1:9/cb";
    let (id, secret) = register(
        &cluster,
        1,
        json!({"name": "native", "owner": name, "public": true,
        "grant_types": ["authorization_code"], "redirect_uris": [cb], "scopes": ["profile:read"]}),
    )
    .await?;
    ensure!(secret.is_none(), "a public client has no secret");
    let no_pkce = authorize_path(&[
        ("response_type", "code"),
        ("client_id", &id),
        ("state", "s"),
    ]);
    let r = w.get_with(&no_pkce, &AuthReq::anonymous()).await?;
    let loc = r.location.context("redirect")?;
    ensure!(
        loc.starts_with(cb) && query_param(&loc, "error").as_deref() == Some("invalid_request"),
        "PKCE is required: {loc}"
    );
    // A client without the authorization_code grant is told so at its (registered) redirect.
    let (svc, _) = register(
        &cluster,
        1,
        json!({"name": "svc", "owner": name, "grant_types": ["client_credentials"],
               "redirect_uris": [cb], "scopes": ["profile:read"]}),
    )
    .await?;
    let path = authorize_path(&[
        ("response_type", "code"),
        ("client_id", &svc),
        ("state", "s"),
    ]);
    let loc = w
        .get_with(&path, &AuthReq::anonymous())
        .await?
        .location
        .context("redirect")?;
    ensure!(
        query_param(&loc, "error").as_deref() == Some("unauthorized_client"),
        "{loc}"
    );
    let cookie = w.login_ok(&name, PASSWORD).await?;
    let path = authorize_path(&[
        ("response_type", "code"),
        ("client_id", &id),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let fields = consent_form(w, &cookie, &path).await?;
    let code =
        query_param(&decide(w, &cookie, &fields, "approve").await?, "code").context("code")?;
    let url = format!("http://{}/oauth2/token", cluster.node(2)?.http);
    let r = post_form(
        &http,
        &url,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &id),
        ],
        None,
    )
    .await?;
    ensure!(r.error(400)? == "invalid_grant", "no verifier: {r:?}");
    // That burnt the code: a fresh one for the right redemption.
    let code = fresh_code(w, &cookie, &path).await?;
    let r = post_form(
        &http,
        &url,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &id),
            ("code_verifier", VERIFIER),
        ],
        None,
    )
    .await?;
    let access = r.field("access_token")?;
    ensure!(
        r.body.get("refresh_token").is_none(),
        "no refresh grant registered: {r:?}"
    );
    bearer_everywhere(&nodes, &access, 200).await?;
    // A public client cannot use a secret it does not have, nor revoke another client's token.
    let r = post_form(
        &http,
        &url,
        &[("grant_type", "authorization_code"), ("code", &code)],
        Some((&id, "guess")),
    )
    .await?;
    ensure!(r.error(401)? == "invalid_client", "{r:?}");
    Ok(())
}
