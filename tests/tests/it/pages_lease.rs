//! The accounts pages honour the read lease like `/auth` does: a follower that was paused
//! while a session was ended elsewhere never shows that session's profile page after it
//! resumes. It answers 503 until it is current again, then sends the browser to log in.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use authd_tests::Cluster;

use crate::authd_http::{AuthReq, Web, cookie_header, web_client};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_follower_never_shows_a_page_for_a_session_ended_while_it_was_paused()
-> Result<()> {
    let mut cluster = Cluster::start(3, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let name = uniq("lease");
    let user = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(&cluster, id, &name, &user["id"]).await?;
    }
    let leader = cluster.leader().await?;
    let follower = cluster
        .node_ids()
        .into_iter()
        .find(|id| *id != leader)
        .context("no follower")?;
    let http = web_client()?;
    let (lead, foll) = (cluster.node(leader)?.http, cluster.node(follower)?.http);
    let on = |addr| Web::new(addr, http.clone());
    let cookie = on(lead).settled().login_ok(&name, PASSWORD).await?;
    let h = cookie_header(&cookie);
    let with = AuthReq {
        cookie_header: Some(&h),
        ..AuthReq::default()
    };
    let r = on(foll).settled().get_with("/user", &with).await?;
    ensure!(
        r.status == 200 && r.body.contains(&name),
        "profile before: {}",
        r.describe()
    );

    cluster.pause(follower)?;
    let out = on(lead).logout(&cookie).await?;
    ensure!(out.status == 303, "logout: {}", out.describe());
    cluster.resume(follower)?;

    // Every answer as it comes: 503 while not current, then the login redirect; never 200.
    let raw = on(foll).raw();
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        let r = raw.get_with("/user", &with).await?;
        ensure!(
            r.status == 503 || r.status == 303,
            "the resumed follower answered {} for an ended session (after {:?}; before: {seen:?})",
            r.describe(),
            start.elapsed()
        );
        seen.push(r.status);
        if r.status == 303 {
            ensure!(
                r.location
                    .as_deref()
                    .is_some_and(|l| l.starts_with("/login")),
                "{}",
                r.describe()
            );
            break;
        }
        ensure!(
            start.elapsed() < Duration::from_secs(10),
            "still 503 after 10 s: {seen:?}"
        );
    }
    Ok(())
}
