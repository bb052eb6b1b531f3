//! The audit log: admin actions (CLI and admin token) and security events (logins, failures,
//! lockouts, logouts, session ends) are recorded in replicated state with actor, target, time
//! and address, listed newest first by `authd audit list` and `GET /api/v1/audit` on any node,
//! and never hold a password or a token.

use std::time::Duration;

use anyhow::{Context, Result};
use authd_tests::browser::Browser;
use authd_tests::{Cluster, wait_until};
use reqwest::Method;
use serde_json::{Value, json};

use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

/// The audit entries, newest first, as node `node` lists them.
pub async fn entries(cluster: &Cluster, node: u64) -> Result<Vec<Value>> {
    let r = cluster
        .api(node)
        .signed(Method::GET, "/api/v1/audit?limit=500", None)
        .await?;
    Ok(r.expect(200)?["items"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

pub fn find<'a>(all: &'a [Value], action: &str, target_has: &str) -> Option<&'a Value> {
    all.iter().find(|e| {
        e["action"] == action && e["target"].as_str().is_some_and(|t| t.contains(target_has))
    })
}

#[tokio::test]
async fn admin_actions_and_security_events_are_audited_without_secrets() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let admin = uniq("auditor");
    let created = cluster
        .api(1)
        .create_user(&admin, &format!("{admin}@example.org"), PASSWORD, true)
        .await?
        .expect(201)?;
    let name = uniq("subject");
    let user = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(&cluster, id, &name, &user["id"]).await?;
        wait_user_visible(&cluster, id, &admin, &created["id"]).await?;
    }

    // Security events through the pages, on different nodes.
    let b = Browser::new(&cluster.base_url(2)?)?;
    assert_eq!(b.login(&name, "wrong-password-xyz").await?.status, 400);
    assert_eq!(b.login(&name, PASSWORD).await?.status, 303);
    assert_eq!(b.submit("/user", "/logout", &[]).await?.status, 303);

    // Admin actions: CLI (actor `cli`) and an admin token (actor: its user).
    cluster
        .cli_json(
            &["role", "grant"],
            &["--user", &name, "--role", "moderator"],
            None,
        )
        .await?;
    let minted = cluster
        .api(1)
        .signed(
            Method::POST,
            "/api/v1/tokens",
            Some(&json!({"user": admin})),
        )
        .await?
        .expect(201)?;
    let token = minted["access_token"].as_str().context("token")?.to_owned();
    let resp = cluster
        .http()
        .post(cluster.api(3).url(&format!("/api/v1/users/{name}/suspend")))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);
    cluster
        .api(2)
        .signed(
            Method::POST,
            "/api/v1/tokens/revoke",
            Some(&json!({"token": token})),
        )
        .await?
        .expect(200)?;

    // Every node lists them (events are batched: wait for the last one to arrive).
    let all = wait_until(
        "the audit entries on node 3",
        Duration::from_secs(10),
        || {
            let cluster = &cluster;
            async move {
                let all = entries(cluster, 3).await?;
                // Each node flushes its own batch: wait for every one of them.
                for action in [
                    "login_failed",
                    "login",
                    "logout",
                    "role_grant",
                    "user_suspend",
                    "token_revoke",
                ] {
                    anyhow::ensure!(find(&all, action, "").is_some(), "no {action} yet");
                }
                Ok(all)
            }
        },
    )
    .await?;
    let failed = find(&all, "login_failed", &name).context("login_failed")?;
    assert_eq!(failed["ip"], "127.0.0.1");
    assert!(
        failed["time"]
            .as_str()
            .is_some_and(|t| t.contains('T') && (t.ends_with('Z') || t.ends_with("+00:00"))),
        "{failed}"
    );
    let ok = find(&all, "login", &name).context("login")?;
    assert_eq!(ok["actor"], name.as_str());
    assert_eq!(ok["outcome"], "ok");
    assert!(find(&all, "logout", "").is_some(), "logout");
    let grant = find(&all, "role_grant", &name).context("role_grant")?;
    assert_eq!(grant["actor"], "cli");
    assert!(
        grant["target"]
            .as_str()
            .is_some_and(|t| t.contains("moderator"))
    );
    let suspend = find(&all, "user_suspend", &name).context("user_suspend")?;
    assert_eq!(
        suspend["actor"],
        admin.as_str(),
        "the admin token's user is the actor"
    );
    let ids: Vec<u64> = all.iter().filter_map(|e| e["id"].as_u64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    // Nothing secret in the log, on any node; the CLI lists the same.
    for node in cluster.node_ids() {
        let text = serde_json::to_string(&entries(&cluster, node).await?)?;
        assert!(!text.contains(PASSWORD) && !text.contains("wrong-password-xyz"));
        assert!(!text.contains(&token), "a token leaked into the audit log");
    }
    let listed = cluster
        .cli_json(&["audit", "list"], &["--limit", "2"], None)
        .await?;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(2));
    let cursor = listed["next"].as_str().context("a next cursor")?;
    let more = cluster
        .cli_json(&["audit", "list"], &["--after", cursor], None)
        .await?;
    assert!(more["items"][0]["id"].as_u64() < listed["items"][1]["id"].as_u64().map(|i| i + 1));

    // Only admins may read it.
    let anon = cluster
        .http()
        .get(cluster.api(1).url("/api/v1/audit"))
        .send()
        .await?;
    assert_eq!(anon.status().as_u16(), 401);
    Ok(())
}
