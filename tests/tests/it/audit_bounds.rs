//! The audit log's bounds: one client's flood of locked-out logins is one entry with a count,
//! and admin actions outlive security and routine noise larger than those classes hold.

use std::time::Duration;

use anyhow::{Context, Result};
use authd_tests::browser::Browser;
use authd_tests::{Cluster, LoginTuning, wait_until};
use reqwest::Method;
use serde_json::Value;

use crate::audit::{entries, find};
use crate::util::{PASSWORD, create_user, uniq, wait_user_visible};

const NOISE_CAP: i64 = 4;

async fn user(cluster: &Cluster, prefix: &str) -> Result<(String, Value)> {
    let name = uniq(prefix);
    let u = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(cluster, id, &name, &u["id"]).await?;
    }
    Ok((name, u))
}

fn of_class<'a>(all: &'a [Value], class: &str) -> Vec<&'a Value> {
    all.iter().filter(|e| e["class"] == class).collect()
}

/// Every entry, following the `next` cursor two at a time.
async fn paged(cluster: &Cluster) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut path = "/api/v1/audit?limit=2".to_owned();
    loop {
        let page = cluster.api(3).signed(Method::GET, &path, None).await?;
        let page = page.expect(200)?;
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/audit?limit=2&after={next}"),
            None => return Ok(out),
        }
    }
}

#[tokio::test]
async fn a_lockout_flood_is_one_entry_and_noise_never_pushes_out_admin_actions() -> Result<()> {
    let cluster = Cluster::start(3, |c| {
        c.login = Some(LoginTuning {
            max_failures_per_account: 3,
            max_failures_per_ip: 1000,
            window_secs: 900,
            lockout_secs: 900,
        });
        for key in ["security_entries", "routine_entries"] {
            c.audit.insert(key.into(), toml::Value::Integer(NOISE_CAP));
        }
    })
    .await?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    // Admin actions first: two `user_add`, one `role_grant`.
    let (victim, v) = user(&cluster, "flooded").await?;
    let (noisy, _) = user(&cluster, "noisy").await?;
    cluster
        .cli_json(
            &["role", "grant"],
            &["--user", &victim, "--role", "moderator"],
            None,
        )
        .await?;

    // Lock the account, then 300 refused attempts from one client over the three nodes, by
    // name and by e-mail (one lock: the account's).
    let browsers: Vec<Browser> = cluster
        .node_ids()
        .into_iter()
        .map(|id| Browser::new(&cluster.base_url(id)?))
        .collect::<Result<_>>()?;
    for (i, b) in browsers.iter().enumerate() {
        let r = b.login(&victim, &format!("wrong-{i}")).await?;
        assert_eq!(r.status, 400, "{}", r.describe());
    }
    let email = format!("{victim}@example.org");
    let flood = browsers.iter().map(|b| {
        let (victim, email) = (&victim, &email);
        async move {
            for j in 0..100 {
                let login = if j % 2 == 0 { victim } else { email };
                let r = b.login(login, PASSWORD).await?;
                anyhow::ensure!(r.status == 429, "attempt {j}: {}", r.describe());
            }
            Ok(())
        }
    });
    for r in futures::future::join_all(flood).await {
        r?;
    }
    let key = format!("user:{}", v["id"]);
    let all = wait_until("300 lockouts counted", Duration::from_secs(10), || {
        let cluster = &cluster;
        async move {
            let all = entries(cluster, 1).await?;
            let n: u64 = all
                .iter()
                .filter(|e| e["action"] == "lockout")
                .filter_map(|e| e["count"].as_u64())
                .sum();
            anyhow::ensure!(n == 300, "{n} lockouts counted so far");
            Ok(all)
        }
    })
    .await?;
    let lockouts: Vec<&Value> = all.iter().filter(|e| e["action"] == "lockout").collect();
    assert_eq!(lockouts.len(), 1, "one entry for the lock: {lockouts:?}");
    let lock = lockouts.first().context("lockout")?;
    assert_eq!(lock["target"], key.as_str());
    assert_eq!(lock["class"], "security");
    assert!(lock["last"].as_str() >= lock["time"].as_str(), "{lock}");
    let failed = find(&all, "login_failed", &victim).context("login_failed")?;
    assert_eq!(failed["count"], 3, "repeated failures merge: {failed}");
    assert!(
        all.len() <= 8,
        "the flood added {} entries: {all:?}",
        all.len()
    );

    // Noise past both classes' bounds: failed logins for unknown names (security), logins and
    // logouts (routine), all through node 2 so its last event is the last applied.
    let b = &browsers[1];
    for i in 0..2 * NOISE_CAP {
        let r = b
            .login(&uniq(&format!("nobody{i}-")), "whatever-1234")
            .await?;
        assert_eq!(r.status, 400, "{}", r.describe());
    }
    for _ in 0..2 * NOISE_CAP {
        assert_eq!(b.login(&noisy, PASSWORD).await?.status, 303);
        assert_eq!(b.submit("/user", "/logout", &[]).await?.status, 303);
    }
    // One node's events are applied in order: once the marker is there, all of it is.
    let marker = uniq("marker");
    assert_eq!(b.login(&marker, "whatever-1234").await?.status, 400);
    wait_until("the noise recorded", Duration::from_secs(10), || {
        let (cluster, marker) = (&cluster, &marker);
        async move {
            let all = entries(cluster, 3).await?;
            anyhow::ensure!(find(&all, "login_failed", marker).is_some(), "not yet");
            Ok(())
        }
    })
    .await?;
    let all = paged(&cluster).await?;
    assert_eq!(
        all,
        entries(&cluster, 3).await?,
        "the cursor walks the same list"
    );
    let ids: Vec<u64> = all.iter().filter_map(|e| e["id"].as_u64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(
        of_class(&all, "security").len(),
        NOISE_CAP as usize,
        "{all:?}"
    );
    assert_eq!(
        of_class(&all, "routine").len(),
        NOISE_CAP as usize,
        "{all:?}"
    );
    let routine = of_class(&all, "routine");
    assert!(
        // Only the newest noise is left (a repeat merges into an entry still held, so which
        // of login and logout survives is not fixed).
        routine
            .iter()
            .all(|e| e["actor"] == noisy.as_str()
                && (e["action"] == "login" || e["action"] == "logout")),
        "the newest: {routine:?}"
    );
    let admin = of_class(&all, "admin");
    assert_eq!(admin.len(), 3, "{admin:?}");
    assert!(find(&all, "role_grant", &victim).is_some());
    assert!(find(&all, "user_add", &victim).is_some());
    assert!(find(&all, "user_add", &noisy).is_some());
    Ok(())
}
