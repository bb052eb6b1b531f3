//! Roles and scopes take effect on every node before the command returns (issue 7): granted
//! through one node, `/auth` on all three carries the scope at once; revoked, it is gone at
//! once; a suspension and a session revocation are refused everywhere at once. Checked with
//! ONE concurrent round of `/auth` requests right after the CLI returns, never by polling.

use std::time::Duration;

use anyhow::{Context, Result};
use authd_tests::Cluster;
use serde_json::Value;

use crate::authd_http::{
    AuthReq, Web, assert_accepted_everywhere, assert_refused_everywhere, cookie_header, web_client,
    webs,
};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

/// `/auth` with `scope` required, on every node at once: the statuses.
async fn statuses(nodes: &[(u64, Web)], cookie: &str, scope: &str) -> Vec<(u64, u16)> {
    let h = cookie_header(cookie);
    let futs = nodes.iter().map(|(id, w)| {
        let h = h.clone();
        async move {
            let r = w
                .auth(&AuthReq {
                    cookie_header: Some(&h),
                    scopes: Some(scope),
                    ..AuthReq::default()
                })
                .await;
            (*id, r.map_or(0, |r| r.status))
        }
    });
    futures::future::join_all(futs).await
}

fn all(v: &[(u64, u16)], want: u16) -> bool {
    v.iter().all(|(_, s)| *s == want)
}

async fn cli(cluster: &Cluster, node: u64, cmd: &[&str], args: &[&str]) -> Result<Value> {
    let n = node.to_string();
    let mut a = vec!["--node", n.as_str()];
    a.extend_from_slice(args);
    cluster.cli_json(cmd, &a, None).await
}

#[tokio::test]
async fn grants_revocations_and_suspensions_apply_on_every_node_at_once() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let name = uniq("grant");
    let user = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(&cluster, id, &name, &user["id"]).await?;
    }
    let nodes: Vec<(u64, Web)> = webs(&cluster, &web_client()?)?
        .into_iter()
        .map(|(id, w)| (id, w.settled()))
        .collect();
    let cookie = nodes
        .first()
        .context("no node")?
        .1
        .login_ok(&name, PASSWORD)
        .await?;
    assert_accepted_everywhere(&nodes, &cookie).await?;

    // An extra scope, granted through node 1, revoked through node 2.
    let s = statuses(&nodes, &cookie, "submission:proxy").await;
    assert!(all(&s, 403), "not granted yet: {s:?}");
    let v = cli(
        &cluster,
        1,
        &["role", "grant"],
        &["--user", &name, "--scope", "submission:proxy"],
    )
    .await?;
    assert!(v["scopes"].to_string().contains("submission:proxy"), "{v}");
    let s = statuses(&nodes, &cookie, "submission:proxy").await;
    assert!(all(&s, 200), "right after the grant: {s:?}");
    cli(
        &cluster,
        2,
        &["role", "revoke"],
        &["--user", &name, "--scope", "submission:proxy"],
    )
    .await?;
    let s = statuses(&nodes, &cookie, "submission:proxy").await;
    assert!(all(&s, 403), "right after the revoke: {s:?}");

    // A role, by user id, through node 3; the session was never re-created.
    let uid = crate::util::id_text(&user["id"])?;
    cli(
        &cluster,
        3,
        &["role", "grant"],
        &["--user", &uid, "--role", "moderator"],
    )
    .await?;
    let s = statuses(&nodes, &cookie, "moderation:update").await;
    assert!(all(&s, 200), "right after granting moderator: {s:?}");
    cli(
        &cluster,
        1,
        &["role", "revoke"],
        &["--user", &name, "--role", "moderator"],
    )
    .await?;
    let s = statuses(&nodes, &cookie, "moderation:update").await;
    assert!(all(&s, 403), "right after revoking moderator: {s:?}");

    // Redefining a role changes what its holders get, everywhere at once.
    cli(
        &cluster,
        1,
        &["role", "grant"],
        &["--user", &name, "--role", "moderator"],
    )
    .await?;
    cli(
        &cluster,
        2,
        &["role", "define"],
        &[
            "--name",
            "moderator",
            "--scope",
            "moderation:read",
            "--scope",
            "moderation:flag",
        ],
    )
    .await?;
    let s = statuses(&nodes, &cookie, "moderation:flag").await;
    assert!(all(&s, 200), "right after redefining moderator: {s:?}");
    let s = statuses(&nodes, &cookie, "moderation:update").await;
    assert!(all(&s, 403), "a scope the role lost: {s:?}");
    cli(
        &cluster,
        3,
        &["role", "revoke"],
        &["--user", &name, "--role", "moderator"],
    )
    .await?;

    // Bad requests fail clearly and change nothing.
    for args in [
        vec!["--user", name.as_str(), "--role", "no-such-role"],
        vec!["--user", name.as_str(), "--scope", "not a scope"],
        vec!["--user", "nobody-by-that-name", "--role", "user"],
    ] {
        let out = cluster.cli(&["role", "grant"], &args, None).await?;
        assert!(!out.status.success(), "{args:?} should fail");
    }
    let out = cluster
        .cli(&["role", "grant"], &["--user", &name], None)
        .await?;
    assert!(!out.status.success(), "--role or --scope is required");

    // Suspension and reinstatement.
    cli(&cluster, 2, &["user", "suspend"], &["--user", &name]).await?;
    assert_refused_everywhere(&nodes, &cookie, "after `authd user suspend`").await?;
    cli(
        &cluster,
        3,
        &["user", "suspend"],
        &["--user", &name, "--reinstate"],
    )
    .await?;
    let again = nodes
        .get(1)
        .context("node 2")?
        .1
        .login_ok(&name, PASSWORD)
        .await?;
    assert_accepted_everywhere(&nodes, &again).await?;

    // `authd session revoke --session` and `--user`.
    let sid =
        crate::authd_http::claims_unchecked_exp(&again, &crate::authd_http::jwt_secret(&cluster)?)
            .ok()
            .and_then(|c| c["session_id"].as_str().map(str::to_owned))
            .context("session id in the cookie")?;
    cli(&cluster, 1, &["session", "revoke"], &["--session", &sid]).await?;
    assert_refused_everywhere(&nodes, &again, "after `authd session revoke --session`").await?;
    let third = nodes
        .get(2)
        .context("node 3")?
        .1
        .login_ok(&name, PASSWORD)
        .await?;
    assert_accepted_everywhere(&nodes, &third).await?;
    cli(&cluster, 2, &["session", "revoke"], &["--user", &name]).await?;
    assert_refused_everywhere(&nodes, &third, "after `authd session revoke --user`").await?;
    Ok(())
}
