//! Sessions and cookies on a 3-node cluster: session cookies of different users in one request
//! (one planted by a sibling host) are not a login, on `/auth` or the pages; a login ends the
//! browser's earlier session; a correctly signed cookie whose `expires` is past is refused;
//! login-form tokens expire; the per-user session cap ends the oldest session on every node
//! before the login that ended it is answered, and the sessions page says so and paginates.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use authd_tests::browser::Browser;
use authd_tests::{Cluster, wait_until};
use serde_json::{Value, json};

use crate::authd_http::{
    AuthReq, COOKIE_NAME, Web, assert_accepted_everywhere, assert_refused_everywhere,
    auth_everywhere, claims_unchecked_exp, jwt_secret, sign_hs256, web_client, webs,
};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

/// `[sessions] max_per_user` here: more than one page of the sessions list (20).
const CAP: u32 = 22;
/// `[sessions] login_csrf_ttl_secs` here.
const LOGIN_CSRF_TTL: u64 = 5;

async fn user(cluster: &Cluster, prefix: &str) -> Result<(String, Value)> {
    let name = uniq(prefix);
    let u = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(cluster, id, &name, &u["id"]).await?;
    }
    Ok((name, u["id"].clone()))
}

async fn with_cookies(w: &Web, path: &str, values: &[&str]) -> Result<crate::authd_http::WebResp> {
    let header = values
        .iter()
        .map(|v| format!("{COOKIE_NAME}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    w.get_with(
        path,
        &AuthReq {
            cookie_header: Some(&header),
            ..AuthReq::default()
        },
    )
    .await
}

/// `/user` answers 200 (logged in) or 303 to the login page.
async fn logged_in(w: &Web, values: &[&str]) -> Result<bool> {
    let r = with_cookies(w, "/user", values).await?;
    ensure!(matches!(r.status, 200 | 303), "/user: {}", r.describe());
    Ok(r.status == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_and_stale_cookies_renewal_on_login_and_the_session_cap() -> Result<()> {
    let cluster = Cluster::start(3, |c| {
        c.sessions.max_per_user = Some(CAP);
        c.sessions.login_csrf_ttl_secs = Some(LOGIN_CSRF_TTL);
    })
    .await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let client = web_client()?;
    let nodes = webs(&cluster, &client)?;
    let w1 = nodes[0].1.clone();
    let (alice, _) = user(&cluster, "alice").await?;
    let (mallory, _) = user(&cluster, "mall").await?;
    let a1 = w1.login_ok(&alice, PASSWORD).await?;
    let a2 = nodes[1].1.login_ok(&alice, PASSWORD).await?;
    let m1 = w1.login_ok(&mallory, PASSWORD).await?;
    let w3 = &nodes[2].1;

    // Sessions of different users in one request, in either order: not a login anywhere.
    for values in [[m1.as_str(), a1.as_str()], [a1.as_str(), m1.as_str()]] {
        let r = with_cookies(w3, "/auth", &values).await?;
        ensure!(r.status == 401, "planted session: {}", r.describe());
        ensure!(
            r.clears_cookie(),
            "the 401 clears the cookie: {}",
            r.describe()
        );
        ensure!(!logged_in(w3, &values).await?, "the pages see no login");
    }
    // A stale value beside a valid one, or two sessions of one user: as before.
    for values in [["garbage", a1.as_str()], [a2.as_str(), a1.as_str()]] {
        let r = with_cookies(w3, "/auth", &values).await?;
        ensure!(r.status == 200, "{values:?}: {}", r.describe());
        ensure!(logged_in(w3, &values).await?, "the pages see the login");
    }

    // Every claim counts: a correctly signed cookie whose `expires` is past is refused.
    let secret = jwt_secret(&cluster)?;
    let mut claims = claims_unchecked_exp(&a1, &secret)?;
    claims["expires"] = json!("2020-01-01T00:00:00.000000+00:00");
    let stale = sign_hs256(&claims, &secret)?;
    let r = w3.auth_cookie(&stale).await?;
    ensure!(r.status == 401, "past `expires`: {}", r.describe());
    ensure!(!logged_in(w3, &[&stale]).await?, "past `expires` on a page");
    assert_accepted_everywhere(&nodes, &a1).await?;

    // A login ends the session the browser already had (here one planted for mallory).
    let b = Browser::new(&cluster.base_url(2)?)?;
    b.set_cookie(COOKIE_NAME, Some(&m1));
    let r = b
        .submit(
            "/user",
            "/login",
            &[("username", alice.as_str()), ("password", PASSWORD)],
        )
        .await?;
    ensure!(r.status == 303, "login over a session: {}", r.describe());
    let fresh = b.cookie(COOKIE_NAME).context("new session cookie")?;
    ensure!(fresh != m1, "a new session, not the planted one");
    assert_refused_everywhere(&nodes, &m1, "the browser's earlier session").await?;
    assert_accepted_everywhere(&nodes, &fresh).await?;

    // A login form's token is good for `login_csrf_ttl_secs` only.
    let anon = Browser::new(&cluster.base_url(1)?)?;
    let form = anon.get("/login").await?;
    let token = form.csrf().context("login form token")?;
    let post = || {
        let (anon, token) = (anon.clone(), token.clone());
        async move {
            let fields = [("username", ""), ("password", ""), ("csrf_token", &token)];
            anon.post("/login", &fields).await
        }
    };
    let r = post().await?;
    ensure!(r.status == 400, "a fresh token is taken: {}", r.describe());
    wait_until(
        "the login form's token to expire",
        Duration::from_secs(LOGIN_CSRF_TTL * 3),
        || async {
            let r = post().await?;
            ensure!(r.status == 403, "still taken: {}", r.describe());
            Ok(())
        },
    )
    .await?;

    // The cap: CAP sessions; the next login ends the oldest on every node before it answers.
    let (carol, carol_id) = user(&cluster, "carol").await?;
    let oldest = w1.login_ok(&carol, PASSWORD).await?;
    for _ in 1..CAP {
        cluster
            .api(1)
            .create_session(&carol_id, None)
            .await?
            .expect(201)?;
    }
    assert_accepted_everywhere(&nodes, &oldest).await?;
    let phone = Browser::new(&cluster.base_url(2)?)?;
    ensure!(phone.login(&carol, PASSWORD).await?.status == 303, "login");
    for (id, r) in auth_everywhere(&nodes, &oldest).await {
        let r = r?;
        ensure!(
            r.status == 401,
            "node {id} still serves the evicted session: {}",
            r.describe()
        );
    }
    let list = wait_until("the capped list", Duration::from_secs(10), || async {
        let p = phone.get("/user/sessions").await?;
        let rows = p.body.matches("<tr id=\"session-").count();
        ensure!(
            p.status == 200 && rows == 20,
            "{rows} rows: {}",
            p.describe()
        );
        Ok(p)
    })
    .await?;
    ensure!(list.body.contains("id=\"capped\""), "the cap is explained");
    ensure!(list.body.contains("Page 1 of 2"), "{}", list.describe());
    let second = phone.get("/user/sessions?page=2").await?;
    let rows = second.body.matches("<tr id=\"session-").count();
    ensure!(rows == CAP as usize - 20, "page 2 has {rows} rows");
    let junk = phone.get("/user/sessions?page=x").await?;
    ensure!(junk.status == 200 && junk.body.contains("Page 1 of 2"));
    Ok(())
}
