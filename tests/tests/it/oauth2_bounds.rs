//! Bounds on the OAuth2 state one user or client creates, and codes that die on a failed
//! redemption, on one 3-node cluster with small `[oauth2]` limits:
//! - at most `max_families_per_user_client` live families per (user, client): a new consent
//!   ends the oldest one on every node;
//! - a wrong PKCE verifier, redirect URI or client burns the code (the right redemption is
//!   then refused), and a redeemed code presented with a wrong verifier ends its tokens;
//! - a burst over the per-client rate (token endpoint) or the per-user rate (consent) gets
//!   429 with `Retry-After`.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use authd_tests::Cluster;
use authd_tests::browser::Browser;

use crate::authd_http::{web_client, webs};
use crate::oauth2_util::{
    CodeClient, OAuthResp, VERIFIER, bearer_everywhere, consent_form, node_web, post_form,
    register, url,
};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

/// A new user logged in on node 1: the browser and its session cookie.
async fn logged_in(cluster: &Cluster, name: &str) -> Result<(Browser, String)> {
    let user = create_user(&cluster.api(1), name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(cluster, id, name, &user["id"]).await?;
    }
    let b = Browser::new(&cluster.base_url(1)?)?;
    ensure!(b.login(name, PASSWORD).await?.status == 303);
    let c = b
        .cookie("ARXIVNG_SESSION_ID")
        .context("no session cookie")?;
    Ok((b, c))
}

fn retry_after_ok(status: u16, retry_after: Option<&str>) -> bool {
    status == 429
        && retry_after
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s >= 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn family_cap_burnt_codes_and_issuance_rates() -> Result<()> {
    let cluster = Cluster::start(3, |c| {
        c.oauth2
            .insert("max_families_per_user_client".into(), 2.into());
        c.oauth2.insert("user_grants_per_sec".into(), 1.into());
        c.oauth2.insert("user_grant_burst".into(), 20.into());
        c.oauth2.insert("client_grants_per_sec".into(), 1.into());
        c.oauth2.insert("client_grant_burst".into(), 30.into());
    })
    .await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let http = web_client()?;
    let nodes = webs(&cluster, &http)?;
    let web = |n: u64| node_web(&nodes, n);

    // The family cap: a third grant of one client to one user ends the first, everywhere.
    let name = uniq("capped");
    let (_, c) = logged_in(&cluster, &name).await?;
    let app = CodeClient::register(&cluster, &name, "Capped", &["profile:read"]).await?;
    let first = app.tokens(&http, &cluster, web(1)?, &c, 1).await?;
    let second = app.tokens(&http, &cluster, web(2)?, &c, 2).await?;
    bearer_everywhere(&nodes, &first.0, 200).await?;
    let third = app.tokens(&http, &cluster, web(3)?, &c, 3).await?;
    app.assert_dead(
        &http,
        &cluster,
        &nodes,
        &first,
        "of the oldest family past the cap",
    )
    .await?;
    for t in [&second.0, &third.0] {
        bearer_everywhere(&nodes, t, 200).await?;
    }

    // A failed redemption burns the code.
    let name = uniq("burnt");
    let (_, c) = logged_in(&cluster, &name).await?;
    let app = CodeClient::register(&cluster, &name, "Burnt", &["profile:read"]).await?;
    let thief = CodeClient::register(&cluster, &name, "Thief", &["profile:read"]).await?;
    let redeem_with = |client: &CodeClient, code: &str, redirect: &str, verifier: &str| {
        let (client, code, redirect, verifier) = (
            client.clone(),
            code.to_owned(),
            redirect.to_owned(),
            verifier.to_owned(),
        );
        let (http, cluster) = (&http, &cluster);
        async move {
            let f = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect.as_str()),
                ("code_verifier", verifier.as_str()),
            ];
            client.token(http, cluster, 2, &f).await
        }
    };
    let bad_verifier = "x".repeat(43);
    let cases: [(&str, &CodeClient, &str, &str); 3] = [
        (
            "a wrong PKCE verifier",
            &app,
            app.redirect_uri.as_str(),
            bad_verifier.as_str(),
        ),
        (
            "a wrong redirect_uri",
            &app,
            "https://app.example/other",
            VERIFIER,
        ),
        (
            "a wrong client",
            &thief,
            app.redirect_uri.as_str(),
            VERIFIER,
        ),
    ];
    for (what, client, redirect, verifier) in cases {
        let code = app.code(web(1)?, &c).await?;
        let r = redeem_with(client, &code, redirect, verifier).await?;
        ensure!(r.error(400)? == "invalid_grant", "{what}: {r:?}");
        let r = app.redeem(&http, &cluster, 3, &code).await?;
        ensure!(
            r.error(400)? == "invalid_grant",
            "after {what}, the right redemption is refused: {r:?}"
        );
    }
    // A code already redeemed, presented again with a wrong verifier: its tokens end.
    let code = app.code(web(1)?, &c).await?;
    let r = app.redeem(&http, &cluster, 1, &code).await?;
    let pair = (r.field("access_token")?, r.field("refresh_token")?);
    let r = redeem_with(&app, &code, &app.redirect_uri, &bad_verifier).await?;
    ensure!(r.error(400)? == "invalid_grant", "{r:?}");
    app.assert_dead(
        &http,
        &cluster,
        &nodes,
        &pair,
        "after its code was presented again",
    )
    .await?;

    // Per-client rate on the token endpoint: a burst on one node gets 429 + Retry-After.
    let (svc, secret) = register(
        &cluster,
        1,
        serde_json::json!({"name": "svc", "owner": name, "grant_types": ["client_credentials"],
            "scopes": ["profile:read"]}),
    )
    .await?;
    let secret = secret.context("secret")?;
    let token_url = url(&cluster, 2, "/oauth2/token")?;
    let burst: Vec<OAuthResp> = futures::future::try_join_all((0..45).map(|_| {
        post_form(
            &http,
            &token_url,
            &[("grant_type", "client_credentials")],
            Some((&svc, &secret)),
        )
    }))
    .await?;
    let limited: Vec<&OAuthResp> = burst.iter().filter(|r| r.status == 429).collect();
    let ok = burst.iter().filter(|r| r.status == 200).count();
    ensure!(
        !limited.is_empty() && ok >= 25 && ok + limited.len() == burst.len(),
        "{ok} granted, {} limited of {}",
        limited.len(),
        burst.len()
    );
    for r in &limited {
        ensure!(
            r.error(429)? == "temporarily_unavailable"
                && retry_after_ok(r.status, r.retry_after.as_deref()),
            "a limited grant says why and when to retry: {r:?}"
        );
    }

    // Per-user rate on the consent endpoint.
    let name = uniq("hasty");
    let (b, c) = logged_in(&cluster, &name).await?;
    let app = CodeClient::register(&cluster, &name, "Hasty", &["profile:read"]).await?;
    let fields = consent_form(web(1)?, &c, &app.authorize_path()).await?;
    let mut form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    form.push(("decision", "approve"));
    let mut limited = None;
    for _ in 0..30 {
        let r = b.post("/oauth2/authorize", &form).await?;
        if r.status != 303 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.context("30 consents in a row, none limited")?;
    ensure!(
        retry_after_ok(r.status, r.header("retry-after")),
        "consent burst: {}",
        r.describe()
    );
    Ok(())
}
