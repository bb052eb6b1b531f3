//! A user's OAuth2 grants end with the user's sessions: a password change, a reset through the
//! mailed link, "log out everywhere" and a suspension revoke every token and refresh family
//! of the user, and the "Connected applications" page revokes one client's; each on every node
//! by the time the answer arrives. One 3-node cluster for all five paths.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use authd_tests::browser::{Browser, mailed_links};
use authd_tests::{Cluster, wait_until};
use reqwest::Method;
use serde_json::json;

use crate::authd_http::{AuthReq, cookie_header, web_client, webs};
use crate::oauth2_util::{CodeClient, bearer_everywhere, node_web};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

const NEW_PASSWORD: &str = "a-brand-new-passphrase-77";
const RESET_PASSWORD: &str = "reset-passphrase-number-3";

fn cookie(b: &Browser) -> Result<String> {
    b.cookie("ARXIVNG_SESSION_ID").context("no session cookie")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_out_for_a_user_revokes_their_oauth_tokens_on_every_node() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let http = web_client()?;
    let nodes = webs(&cluster, &http)?;
    let web = |n: u64| node_web(&nodes, n);
    let name = uniq("grantor");
    let user = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(&cluster, id, &name, &user["id"]).await?;
    }
    let app = CodeClient::register(&cluster, &name, "Reader", &["profile:read"]).await?;
    let other = CodeClient::register(&cluster, &name, "Other <App>", &["submission:read"]).await?;
    let b = Browser::new(&cluster.base_url(1)?)?;
    ensure!(b.login(&name, PASSWORD).await?.status == 303);

    // 1. Password change (this browser's session is kept, the grant is not).
    let pair = app
        .tokens(&http, &cluster, web(1)?, &cookie(&b)?, 2)
        .await?;
    bearer_everywhere(&nodes, &pair.0, 200).await?;
    let r = b
        .submit(
            "/user/password",
            "/user/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("new_password2", NEW_PASSWORD),
            ],
        )
        .await?;
    ensure!(r.status == 200, "password change: {}", r.describe());
    app.assert_dead(&http, &cluster, &nodes, &pair, "after a password change")
        .await?;

    // 2. Log out everywhere.
    let pair = app
        .tokens(&http, &cluster, web(3)?, &cookie(&b)?, 1)
        .await?;
    let r = b
        .submit("/user/sessions", "/user/sessions/end-all", &[])
        .await?;
    ensure!(r.status == 303, "end-all: {}", r.describe());
    app.assert_dead(&http, &cluster, &nodes, &pair, "after log out everywhere")
        .await?;

    // 3. Password reset through the mailed link (asked on node 2, used on node 3).
    ensure!(b.login(&name, NEW_PASSWORD).await?.status == 303);
    let pair = app
        .tokens(&http, &cluster, web(2)?, &cookie(&b)?, 3)
        .await?;
    let email = format!("{name}@example.org");
    let asker = Browser::new(&cluster.base_url(2)?)?;
    let r = asker
        .submit("/password-reset", "/password-reset", &[("email", &email)])
        .await?;
    ensure!(r.status == 200, "{}", r.describe());
    let (dir, prefix) = (
        cluster.data_dir(2)?,
        format!("{}/password-reset?token=", cluster.base_url(2)?),
    );
    let link = wait_until("the reset mail", Duration::from_secs(10), || {
        let l = mailed_links(&dir, &email, &prefix).pop();
        async move { l.context("no mail yet") }
    })
    .await?;
    let path = link
        .get(link.find("/password-reset").unwrap_or(0)..)
        .context("link path")?;
    let token = path.trim_start_matches("/password-reset?token=");
    let b3 = asker.at(&cluster.base_url(3)?);
    let r = b3
        .submit(
            path,
            "/password-reset",
            &[
                ("token", token),
                ("new_password", RESET_PASSWORD),
                ("new_password2", RESET_PASSWORD),
            ],
        )
        .await?;
    ensure!(r.status == 200, "reset: {}", r.describe());
    app.assert_dead(&http, &cluster, &nodes, &pair, "after a password reset")
        .await?;

    // 4. Connected applications: both clients listed, one revoked, the other untouched.
    let b = Browser::new(&cluster.base_url(2)?)?;
    ensure!(b.login(&name, RESET_PASSWORD).await?.status == 303);
    let c = cookie(&b)?;
    let consent = web(1)?
        .get_with(
            &app.authorize_path(),
            &AuthReq {
                cookie_header: Some(&cookie_header(&c)),
                ..AuthReq::default()
            },
        )
        .await?;
    ensure!(
        consent.body.contains("href=\"/user/applications\"")
            && consent.body.contains("Connected applications"),
        "the consent page names the page where access is revoked: {}",
        consent.body
    );
    let account = b.get("/user").await?;
    ensure!(
        account.body.contains("href=\"/user/applications\""),
        "the account page links to it: {}",
        account.body
    );
    let pair = app.tokens(&http, &cluster, web(1)?, &c, 2).await?;
    let kept = other.tokens(&http, &cluster, web(3)?, &c, 1).await?;
    let list = wait_until("both grants listed", Duration::from_secs(5), || {
        let b = b.clone();
        let ids = (app.id.clone(), other.id.clone());
        async move {
            let p = b.get("/user/applications").await?;
            ensure!(p.status == 200, "{}", p.describe());
            for id in [&ids.0, &ids.1] {
                ensure!(
                    p.body.contains(&format!("id=\"app-{id}\"")),
                    "{id} not listed yet"
                );
            }
            Ok(p)
        }
    })
    .await?;
    ensure!(
        list.body.contains("View your arXiv profile")
            && list.body.contains("profile:read")
            && list.body.contains("Other &#60;App&#62;"),
        "names (escaped) and scopes: {}",
        list.body
    );
    let revoke = format!("/user/applications/{}/revoke", app.id);
    ensure!(b.post(&revoke, &[]).await?.status == 403, "CSRF required");
    bearer_everywhere(&nodes, &pair.0, 200).await?;
    let r = b.submit("/user/applications", &revoke, &[]).await?;
    ensure!(r.status == 303, "revoke: {}", r.describe());
    app.assert_dead(
        &http,
        &cluster,
        &nodes,
        &pair,
        "after revoking the application",
    )
    .await?;
    bearer_everywhere(&nodes, &kept.0, 200).await?;
    let r = other.refresh(&http, &cluster, 2, &kept.1).await?;
    let kept = (r.field("access_token")?, r.field("refresh_token")?);
    let p = b.get("/user/applications").await?;
    ensure!(
        !p.body.contains(&format!("id=\"app-{}\"", app.id)),
        "the revoked application is gone from the list"
    );

    // 5. Suspension by an administrator.
    let r = cluster
        .api(3)
        .signed(
            Method::POST,
            &format!("/api/v1/users/{name}/suspend"),
            Some(&json!({"suspended": true})),
        )
        .await?;
    r.expect(200)?;
    other
        .assert_dead(&http, &cluster, &nodes, &kept, "after a suspension")
        .await?;
    Ok(())
}
