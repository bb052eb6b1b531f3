//! Introspection and revocation (issue 15), from outside: introspection sees a token exactly
//! as `/auth` does (a scope revoked from the user is gone, a suspended user's tokens are
//! inactive), and a client learns nothing about another client's tokens (RFC 7662 §4,
//! RFC 7009 §2.2): not by introspecting them, not by revoking them.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use authd_tests::Cluster;
use authd_tests::browser::Browser;
use serde_json::Value;

use crate::authd_http::{AuthReq, Web, web_client, webs};
use crate::oauth2_util::{CodeClient, OAuthResp, node_web, post_form, url};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

const ADMIN_READ: &str = "admin:read:*";

/// `/auth` with a bearer token and `required` scopes (space-separated) on one node.
async fn auth(web: &Web, token: &str, required: &str) -> Result<u16> {
    let h = format!("Bearer {token}");
    let r = web
        .auth(&AuthReq {
            authorization: Some(&h),
            scopes: (!required.is_empty()).then_some(required),
            ..AuthReq::default()
        })
        .await?;
    Ok(r.status)
}

/// `POST path` on node `node` as `client` (HTTP Basic).
async fn as_client(
    http: &reqwest::Client,
    cluster: &Cluster,
    node: u64,
    path: &str,
    client: &CodeClient,
    token: &str,
) -> Result<OAuthResp> {
    let u = url(cluster, node, path)?;
    post_form(
        http,
        &u,
        &[("token", token)],
        Some((&client.id, &client.secret)),
    )
    .await
}

/// The introspection answer's body for `token`, asked by `client`.
async fn introspect(
    http: &reqwest::Client,
    cluster: &Cluster,
    node: u64,
    client: &CodeClient,
    token: &str,
) -> Result<Value> {
    let r = as_client(http, cluster, node, "/oauth2/introspect", client, token).await?;
    Ok(r.ok()?.clone())
}

fn scopes_of(v: &Value) -> Vec<String> {
    v["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn inactive(v: &Value) -> bool {
    v.as_object().map(|o| o.len()) == Some(1) && v["active"] == false
}

async fn cli(cluster: &Cluster, cmd: &[&str], args: &[&str]) -> Result<Value> {
    cluster.cli_json(cmd, args, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_narrows_like_auth_and_answers_a_client_only_about_its_own_tokens()
-> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let http = web_client()?;
    let nodes = webs(&cluster, &http)?;
    let name = uniq("narrowed");
    let user = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(&cluster, id, &name, &user["id"]).await?;
    }
    cli(
        &cluster,
        &["role", "grant"],
        &["--user", &name, "--scope", ADMIN_READ],
    )
    .await?;
    let a = CodeClient::register(&cluster, &name, "App A", &["profile:read", ADMIN_READ]).await?;
    let b = CodeClient::register(&cluster, &name, "App B", &["profile:read"]).await?;
    let browser = Browser::new(&cluster.base_url(1)?)?;
    ensure!(browser.login(&name, PASSWORD).await?.status == 303);
    let cookie = browser
        .cookie("ARXIVNG_SESSION_ID")
        .context("no session cookie")?;
    let (access, refresh) = a
        .tokens(&http, &cluster, node_web(&nodes, 1)?, &cookie, 2)
        .await?;
    let web3 = node_web(&nodes, 3)?;
    ensure!(
        auth(web3, &access, ADMIN_READ).await? == 200,
        "granted scope"
    );
    let v = introspect(&http, &cluster, 3, &a, &access).await?;
    ensure!(
        v["active"] == true && scopes_of(&v).contains(&ADMIN_READ.to_owned()),
        "before the revoke: {v}"
    );

    // RFC 7662 §4 / RFC 7009 §2.2: client B learns nothing of A's tokens and cannot end them.
    for t in [&access, &refresh] {
        let v = introspect(&http, &cluster, 2, &b, t).await?;
        ensure!(inactive(&v), "B introspected A's token: {v}");
        let r = as_client(&http, &cluster, 2, "/oauth2/revoke", &b, t).await?;
        ensure!(r.status == 200, "B's revoke of A's token: {r:?}");
    }
    for (id, w) in &nodes {
        ensure!(
            auth(w, &access, "").await? == 200,
            "node {id}: B's revoke took effect"
        );
    }
    // A made-up token whose index no leader wrote: 200 (it names nothing), never a 503.
    let started = Instant::now();
    let r = as_client(
        &http,
        &cluster,
        2,
        "/oauth2/revoke",
        &a,
        "deadbeef.999999999",
    )
    .await?;
    ensure!(
        r.status == 200 && started.elapsed() < Duration::from_secs(2),
        "revoke of a forged index: {r:?} after {:?}",
        started.elapsed()
    );
    let r = a.refresh(&http, &cluster, 1, &refresh).await?;
    ensure!(r.status == 200, "B's revoke ended A's refresh token: {r:?}");
    let (access, refresh) = (r.field("access_token")?, r.field("refresh_token")?);

    // The user loses the scope: `/auth` refuses it, introspection no longer reports it.
    cli(
        &cluster,
        &["role", "revoke"],
        &["--user", &name, "--scope", ADMIN_READ],
    )
    .await?;
    for (id, w) in &nodes {
        ensure!(
            auth(w, &access, ADMIN_READ).await? == 403,
            "node {id}: /auth after the revoke"
        );
        ensure!(
            auth(w, &access, "profile:read").await? == 200,
            "node {id}: profile:read"
        );
    }
    for node in cluster.node_ids() {
        for t in [&access, &refresh] {
            let v = introspect(&http, &cluster, node, &a, t).await?;
            ensure!(
                v["active"] == true && scopes_of(&v) == ["profile:read"],
                "node {node}: introspection after the revoke: {v}"
            );
        }
    }

    // Suspended: every node refuses the token and calls it inactive.
    cli(&cluster, &["user", "suspend"], &["--user", &name]).await?;
    for (id, w) in &nodes {
        ensure!(
            auth(w, &access, "").await? == 401,
            "node {id}: /auth after suspension"
        );
        for t in [&access, &refresh] {
            let v = introspect(&http, &cluster, *id, &a, t).await?;
            ensure!(
                inactive(&v),
                "node {id}: introspection after suspension: {v}"
            );
        }
    }
    Ok(())
}
