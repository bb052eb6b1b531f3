//! Guarantee 2, "revocation is immediate on every node", over real HTTP: once logout, "end all
//! sessions of a user" or a suspension has been answered, no node answers `/auth` with 200 for
//! the revoked cookie, including a follower that was paused (SIGSTOP) while it happened.
//!
//! The refusals are asserted with ONE concurrent round of requests right after the revoke call
//! returns, never by polling: waiting until the 401 shows up would hide exactly the bug these
//! tests look for.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use authd_tests::{Cluster, NodeApi, wait_until};
use reqwest::Method;
use serde_json::{Value, json};

use crate::authd_http::{
    Web, WebResp, assert_accepted_everywhere, assert_refused_everywhere, claims_unchecked_exp,
    jwt_secret, web_client, webs,
};
use crate::util::{PASSWORD, create_user, id_text, uniq, wait_user_visible};

const ROUNDS: usize = 30;

/// The web client for node index `i` (0-based, in node-id order).
fn at(nodes: &[(u64, Web)], i: usize) -> Result<&(u64, Web)> {
    nodes.get(i % nodes.len()).context("no such node")
}

/// A user visible on every node.
async fn user_everywhere(cluster: &Cluster, prefix: &str) -> Result<(String, Value)> {
    let name = uniq(prefix);
    let user = create_user(&cluster.api(1), &name).await?;
    for id in cluster.node_ids() {
        wait_user_visible(cluster, id, &name, &user["id"]).await?;
    }
    Ok((name, user))
}

async fn end_all_sessions(api: &NodeApi, key: &str) -> Result<u64> {
    let r = api
        .signed(
            Method::DELETE,
            &format!("/api/v1/users/{key}/sessions"),
            None,
        )
        .await?;
    let v = r.expect(200)?;
    v["ended"]
        .as_u64()
        .with_context(|| format!("no \"ended\" count in {v}"))
}

async fn set_suspended(api: &NodeApi, key: &str, suspended: bool) -> Result<Value> {
    let body = json!({ "suspended": suspended });
    let r = if suspended {
        // The body is optional: no body means "suspend".
        api.signed(Method::POST, &format!("/api/v1/users/{key}/suspend"), None)
            .await?
    } else {
        api.signed(
            Method::POST,
            &format!("/api/v1/users/{key}/suspend"),
            Some(&body),
        )
        .await?
    };
    r.expect(200)
}

/// Waits until every node shows `key` with the given suspension flag.
async fn wait_suspended_everywhere(cluster: &Cluster, key: &str, suspended: bool) -> Result<()> {
    wait_until(
        &format!("user {key} suspended={suspended} on every node"),
        Duration::from_secs(15),
        || async {
            for id in cluster.node_ids() {
                let u = cluster.api(id).get_user(key).await?.expect(200)?;
                if u["suspended"] != json!(suspended) {
                    bail!("node {id}: {u}");
                }
            }
            Ok(())
        },
    )
    .await
}

/// When each reader request was sent, and its status.
type ReaderLog = Arc<Mutex<Vec<(Instant, u16)>>>;

/// Background `/auth` readers, one per node, recording when each request was sent and what
/// came back.
struct Readers {
    stop: Arc<AtomicBool>,
    logs: Vec<(u64, ReaderLog)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Readers {
    fn start(nodes: &[(u64, Web)], cookie: &str) -> Readers {
        let stop = Arc::new(AtomicBool::new(false));
        let mut logs = Vec::new();
        let mut tasks = Vec::new();
        for (id, w) in nodes {
            let log = Arc::new(Mutex::new(Vec::new()));
            logs.push((*id, log.clone()));
            let (w, cookie, stop) = (w.clone().raw(), cookie.to_owned(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    // A failed request is no answer at all: nothing to hold against the node.
                    if let Ok(r) = w.auth_cookie(&cookie).await
                        && let Ok(mut l) = log.lock()
                    {
                        l.push((sent, r.status));
                    }
                }
            }));
        }
        Readers { stop, logs, tasks }
    }

    fn statuses_after(&self, acked: Instant) -> Vec<(u64, Vec<u16>)> {
        self.logs
            .iter()
            .map(|(id, log)| {
                let after = log
                    .lock()
                    .map(|l| {
                        l.iter()
                            .filter(|(t, _)| *t > acked)
                            .map(|(_, s)| *s)
                            .collect()
                    })
                    .unwrap_or_default();
                (*id, after)
            })
            .collect()
    }

    /// Waits until every reader has had an answer to a request sent after `acked`, stops
    /// them, and fails if any request sent after `acked` got a 200 (or anything but 401/503).
    async fn stop_and_check(mut self, acked: Instant) -> Result<()> {
        let waited = wait_until(
            "every reader to get an answer to a request sent after the revoke",
            Duration::from_secs(10),
            || async {
                match self
                    .statuses_after(acked)
                    .iter()
                    .find(|(_, a)| a.is_empty())
                {
                    Some((id, _)) => bail!("node {id}: none yet"),
                    None => Ok(()),
                }
            },
        )
        .await;
        self.stop.store(true, Ordering::Relaxed);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        waited?;
        for (id, after) in self.statuses_after(acked) {
            let stale = after.iter().filter(|s| **s == 200).count();
            if stale > 0 {
                bail!(
                    "node {id}: {stale} of {} requests sent AFTER the revoke was acknowledged got 200 \
                     (stale); statuses after the ack: {after:?}",
                    after.len()
                );
            }
            if let Some(bad) = after.iter().find(|s| !matches!(**s, 401 | 503)) {
                bail!("node {id}: a request after the revoke got HTTP {bad}: {after:?}");
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_node_is_refused_by_all_three_at_once() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let client = web_client()?;
    let nodes = webs(&cluster, &client)?;
    let (name, _) = user_everywhere(&cluster, "logout").await?;
    let (bystander, _) = user_everywhere(&cluster, "bystander").await?;
    let (_, w0) = at(&nodes, 0)?;
    let bystander_cookie = w0.login_ok(&bystander, PASSWORD).await?;

    for round in 0..ROUNDS {
        // Every ordered pair (i, j), i != j, comes up.
        let i = round % 3;
        let j = (i + 1 + (round / 3) % 2) % 3;
        let (login_id, login_web) = at(&nodes, i)?;
        let (logout_id, logout_web) = at(&nodes, j)?;
        let cookie = login_web.login_ok(&name, PASSWORD).await?;
        assert_accepted_everywhere(&nodes, &cookie)
            .await
            .with_context(|| format!("round {round}: login on node {login_id}"))?;
        if round == 0 {
            // The checker itself: it does reject a live session.
            assert!(
                assert_refused_everywhere(&nodes, &cookie, "live")
                    .await
                    .is_err(),
                "assert_refused_everywhere accepted a live session"
            );
        }
        // Readers on every node keep asking across the logout; any request SENT after the
        // logout was acknowledged must not get a 200.
        let readers = Readers::start(&nodes, &cookie);
        let out = logout_web.logout(&cookie).await?;
        let acked = Instant::now();
        assert_eq!(
            out.status,
            303,
            "round {round}: logout on node {logout_id}: {}",
            out.describe()
        );
        assert!(
            out.clears_cookie(),
            "round {round}: logout must clear the cookie"
        );
        assert_refused_everywhere(
            &nodes,
            &cookie,
            &format!("round {round}: login on node {login_id}, logout on node {logout_id}"),
        )
        .await?;
        readers
            .stop_and_check(acked)
            .await
            .with_context(|| format!("round {round}: logout on node {logout_id}"))?;
    }
    // Other users' sessions are untouched.
    assert_accepted_everywhere(&nodes, &bystander_cookie).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_all_sessions_of_a_user_is_refused_by_all_three_at_once() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let client = web_client()?;
    let nodes = webs(&cluster, &client)?;
    let (name, user) = user_everywhere(&cluster, "endall").await?;
    let user_id = id_text(&user["id"])?;
    let (bystander, _) = user_everywhere(&cluster, "bystander").await?;
    let (_, w0) = at(&nodes, 0)?;
    let bystander_cookie = w0.login_ok(&bystander, PASSWORD).await?;

    for round in 0..ROUNDS {
        // Three sessions, one made through each node, at once.
        let nodes_ref = &nodes;
        let logins = (0..3).map(|k| {
            let name = name.clone();
            let nodes = nodes_ref;
            async move {
                let (_, w) = at(nodes, round + k)?;
                w.login_ok(&name, PASSWORD).await
            }
        });
        let cookies: Vec<String> = futures::future::join_all(logins)
            .await
            .into_iter()
            .collect::<Result<_>>()
            .with_context(|| format!("round {round}: logins"))?;
        for c in &cookies {
            assert_accepted_everywhere(&nodes, c)
                .await
                .with_context(|| format!("round {round}"))?;
        }
        let via = (round + 1) % 3;
        let (via_id, _) = at(&nodes, via)?;
        // By id and by username, alternately.
        let key = if round % 2 == 0 { &user_id } else { &name };
        let ended = end_all_sessions(&cluster.api(*via_id), key).await?;
        assert_eq!(
            ended, 3,
            "round {round}: DELETE /api/v1/users/{key}/sessions on node {via_id}"
        );
        let checks = cookies.iter().enumerate().map(|(k, c)| {
            let what = format!(
                "round {round}: session {k} after ending all sessions through node {via_id}"
            );
            let nodes = &nodes;
            async move { assert_refused_everywhere(nodes, c, &what).await }
        });
        for r in futures::future::join_all(checks).await {
            r?;
        }
        // Ending them again ends nothing.
        if round == 0 {
            assert_eq!(end_all_sessions(&cluster.api(*via_id), key).await?, 0);
        }
    }
    assert_accepted_everywhere(&nodes, &bystander_cookie).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspending_a_user_is_refused_by_all_three_at_once() -> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let client = web_client()?;
    let nodes = webs(&cluster, &client)?;
    let (name, user) = user_everywhere(&cluster, "suspend").await?;
    let user_id = id_text(&user["id"])?;
    let (bystander, _) = user_everywhere(&cluster, "bystander").await?;
    let (_, w0) = at(&nodes, 0)?;
    let bystander_cookie = w0.login_ok(&bystander, PASSWORD).await?;
    let failed_login = w0.login(&name, "not-the-password-0000", None).await?;
    assert_eq!(failed_login.status, 400, "{}", failed_login.describe());

    for round in 0..ROUNDS {
        let (login_id, login_web) = at(&nodes, round)?;
        let (via_id, _) = at(&nodes, round + 1 + (round / 3) % 2)?;
        let (back_id, back_web) = at(&nodes, round + 2)?;
        let key = if round % 2 == 0 { &user_id } else { &name };
        let cookie = login_web.login_ok(&name, PASSWORD).await?;
        assert_accepted_everywhere(&nodes, &cookie)
            .await
            .with_context(|| format!("round {round}: login on node {login_id}"))?;

        set_suspended(&cluster.api(*via_id), key, true).await?;
        assert_refused_everywhere(
            &nodes,
            &cookie,
            &format!("round {round}: login on node {login_id}, suspended through node {via_id}"),
        )
        .await?;
        if round % 10 == 0 {
            // A suspended user cannot log in, and is told nothing more than a wrong password.
            let r = back_web.login(&name, PASSWORD, None).await?;
            assert_eq!(
                r.status,
                400,
                "round {round}: login while suspended: {}",
                r.describe()
            );
            assert!(r.cookie_value().is_none_or(|v| v.is_empty()));
            assert_eq!(
                r.page_shape(),
                failed_login.page_shape(),
                "a suspended login must look like a bad password"
            );
        }

        // Reinstating does not bring the ended session back.
        set_suspended(&cluster.api(*back_id), key, false).await?;
        wait_suspended_everywhere(&cluster, key, false).await?;
        assert_refused_everywhere(
            &nodes,
            &cookie,
            &format!("round {round}: after reinstating through node {back_id}"),
        )
        .await?;
    }
    assert_accepted_everywhere(&nodes, &bystander_cookie).await?;
    Ok(())
}

/// How a paused-follower round revokes the session.
#[derive(Debug, Clone, Copy)]
enum Revoke {
    Logout,
    DeleteSession,
    EndAll,
    Suspend,
}

/// Everything the paused node answered, by status.
#[derive(Debug, Default)]
struct Seen {
    by_status: BTreeMap<u16, u64>,
    bad: Vec<String>,
}

impl Seen {
    fn record(&mut self, what: &str, r: Result<WebResp>) {
        match r {
            Ok(r) => {
                *self.by_status.entry(r.status).or_default() += 1;
                let ok = match r.status {
                    401 => r.authorization.is_none() && r.clears_cookie(),
                    503 => r.authorization.is_none() && r.reason().is_ok(),
                    _ => false,
                };
                if !ok && self.bad.len() < 40 {
                    self.bad.push(format!("{what}: {}", r.describe()));
                }
            }
            Err(e) => {
                if self.bad.len() < 10 {
                    self.bad.push(format!("{what}: request failed: {e:#}"));
                }
            }
        }
    }
    fn count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

/// One paused-node round: a live session (accepted everywhere), SIGSTOP the leader (if
/// `pause_leader`) or a follower,
/// revoke it through a live node, hold the pause for `hold`, SIGCONT, then ask the resumed node
/// at once and repeatedly: it must never answer 200 again for that session, and must
/// eventually answer 401.
async fn paused_round(
    cluster: &mut Cluster,
    nodes: &[(u64, Web)],
    secret: &[u8],
    round: usize,
    (how, hold, pause_leader): (Revoke, Duration, bool),
) -> Result<()> {
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let leader = cluster.leader().await?;
    let followers: Vec<u64> = cluster
        .node_ids()
        .into_iter()
        .filter(|&n| n != leader)
        .collect();
    let follower = *followers
        .get(round % followers.len())
        .context("no follower")?;
    let (paused, via) = if pause_leader {
        (leader, follower)
    } else if round.is_multiple_of(2) {
        // Revoke through the leader or through the other follower (a forwarded write).
        (follower, leader)
    } else {
        let other = followers
            .iter()
            .copied()
            .find(|&n| n != follower)
            .unwrap_or(leader);
        (follower, other)
    };
    let role = if pause_leader { "leader" } else { "follower" };
    let web_of = |id: u64| nodes.iter().find(|(n, _)| *n == id).map(|(_, w)| w.clone());
    // The paused node's answers are counted as they come: no re-asking on 503.
    let paused_web = web_of(paused).context("paused")?.raw();
    let via_web = web_of(via).context("via")?;
    let live: Vec<(u64, Web)> = nodes
        .iter()
        .filter(|(n, _)| *n != paused)
        .cloned()
        .collect();

    let (name, user) = user_everywhere(cluster, "paused").await?;
    let cookie = via_web.login_ok(&name, PASSWORD).await?;
    // The paused node must hold the live session: otherwise a refusal would prove nothing.
    assert_accepted_everywhere(nodes, &cookie).await?;
    let session_id = claims_unchecked_exp(&cookie, secret)?["session_id"]
        .as_str()
        .context("session_id")?
        .to_owned();
    let user_key = id_text(&user["id"])?;

    cluster.pause(paused)?;
    let started = Instant::now();
    let api = cluster.api(via);
    // With the leader paused, a write may answer "unavailable" (503) until a new leader
    // is elected: try again (every revoke here is idempotent) until it succeeds.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome: Result<()> = async {
            match how {
                Revoke::Logout => {
                    let r = via_web.logout(&cookie).await?;
                    if r.status != 303 {
                        bail!("logout on node {via}: {}", r.describe());
                    }
                }
                Revoke::DeleteSession => {
                    let r = api.delete_session(&session_id).await?.expect(200)?;
                    // After an attempt with an unknown outcome, it may already have ended.
                    if r["ended"] != 1 && !(attempts > 1 && r["ended"] == 0) {
                        bail!("DELETE session on node {via}: {r}");
                    }
                }
                Revoke::EndAll => {
                    let n = end_all_sessions(&api, &name).await?;
                    if n != 1 && !(attempts > 1 && n == 0) {
                        bail!("end-all on node {via} ended {n}");
                    }
                }
                Revoke::Suspend => {
                    set_suspended(&api, &user_key, true).await?;
                }
            }
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => break,
            Err(e) if pause_leader && started.elapsed() < Duration::from_secs(30) => {
                eprintln!("round {round}: revoke attempt {attempts} with the leader paused: {e:#}");
            }
            Err(e) => return Err(e.context(format!("round {round} ({how:?}): the revoke"))),
        }
    }
    let revoke_ms = started.elapsed().as_millis();
    // The majority refuses at once.
    assert_refused_everywhere(
        &live,
        &cookie,
        &format!("round {round} ({how:?}), live nodes"),
    )
    .await?;

    // Requests sent to the paused node now wait in its sockets and are answered after
    // SIGCONT: they were all sent after the revoke was acknowledged.
    let queued: Vec<_> = (0..16)
        .map(|_| {
            let (w, c) = (paused_web.clone(), cookie.clone());
            tokio::spawn(async move { w.auth_cookie(&c).await })
        })
        .collect();
    if !hold.is_zero() {
        // Not synchronisation: the length of the fault.
        tokio::time::sleep(hold).await;
    }
    cluster.resume(paused)?;

    let mut seen = Seen::default();
    let resumed = Instant::now();
    // Ask right away and keep asking, two at a time, for a while after SIGCONT.
    while resumed.elapsed() < Duration::from_millis(1500) || seen.count(401) < 3 {
        if resumed.elapsed() > Duration::from_secs(20) {
            break;
        }
        let sent = resumed.elapsed().as_millis();
        let (a, b) = tokio::join!(
            paused_web.auth_cookie(&cookie),
            paused_web.auth_cookie(&cookie)
        );
        let what = format!("sent {sent} ms after SIGCONT");
        seen.record(&what, a);
        seen.record(&what, b);
    }
    for q in queued {
        let r = q
            .await
            .map_err(|e| anyhow::anyhow!("queued request task: {e}"))?;
        seen.record("queued while paused", r);
    }
    eprintln!(
        "paused-node round {round} ({how:?}, {role} {paused} paused, revoked via node {via}): \
         revoke took {revoke_ms} ms ({attempts} attempts); the paused node answered {:?}",
        seen.by_status
    );
    assert_eq!(
        seen.count(200),
        0,
        "round {round} ({how:?}): node {paused} answered 200 for a session revoked through node {via} \
         while it was paused: {:?}; first offenders: {:#?}",
        seen.by_status,
        seen.bad
    );
    assert!(
        seen.bad.is_empty(),
        "round {round} ({how:?}): node {paused} gave answers other than 401/503: {:#?}",
        seen.bad
    );
    assert!(
        seen.count(401) >= 1,
        "round {round} ({how:?}): node {paused} never answered 401 (only {:?})",
        seen.by_status
    );
    // Every node still refuses it, and the cluster is whole again.
    assert_refused_everywhere(
        nodes,
        &cookie,
        &format!("round {round} ({how:?}), afterwards"),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_follower_never_serves_a_revoked_session() -> Result<()> {
    let mut cluster = Cluster::start(3, |_| {}).await?;
    let secret = jwt_secret(&cluster)?;
    let client = web_client()?;
    let nodes = webs(&cluster, &client)?;
    // (how, how long the follower stays paused after the revoke was acknowledged, false)
    let rounds = [
        (Revoke::Logout, Duration::ZERO, false),
        (Revoke::DeleteSession, Duration::ZERO, false),
        (Revoke::EndAll, Duration::from_millis(300), false),
        // Longer than the election timeout: on SIGCONT the follower also finds its leader gone
        // quiet and may start an election.
        (Revoke::Suspend, Duration::from_secs(2), false),
    ];
    for (round, r) in rounds.into_iter().enumerate() {
        paused_round(&mut cluster, &nodes, &secret, round, r).await?;
    }
    Ok(())
}

/// The same with the LEADER paused: the revoke is acknowledged by a newly elected leader, and on
/// SIGCONT the old leader still believes it leads, holding state from before the revoke.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_never_serves_a_revoked_session_after_sigcont() -> Result<()> {
    let mut cluster = Cluster::start(3, |_| {}).await?;
    let secret = jwt_secret(&cluster)?;
    let client = web_client()?;
    let nodes = webs(&cluster, &client)?;
    let rounds = [
        (Revoke::Logout, Duration::ZERO, true),
        (Revoke::Suspend, Duration::from_millis(500), true),
    ];
    for (round, r) in rounds.into_iter().enumerate() {
        paused_round(&mut cluster, &nodes, &secret, round, r).await?;
    }
    Ok(())
}
