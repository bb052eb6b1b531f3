//! Guarantee 1: nothing acknowledged is lost, even when every node is killed at once while
//! writes are in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use authd_tests::{Cluster, Fatal, NodeApi, wait_until};
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::util::{PASSWORD, email_of, id_text, uniq};

#[derive(Debug, Clone)]
enum Acked {
    User { name: String, id: Value },
    Session { id: String },
}

/// One writer: a user of its own, then sessions for it with a new user every 8th write,
/// until a request fails (the nodes are dead) or `stop`.
async fn writer(
    api: NodeApi,
    acked: Arc<Mutex<Vec<Acked>>>,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut own: Option<Value> = None;
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let result = match &own {
            Some(uid) if !k.is_multiple_of(8) => {
                api.create_session(uid, None).await.map(|r| (r, None))
            }
            _ => {
                let name = uniq("dur");
                api.create_user(&name, &email_of(&name), PASSWORD, false)
                    .await
                    .map(|r| (r, Some(name)))
            }
        };
        let Ok((resp, name)) = result else { return };
        if resp.status != 201 {
            // Only 201 is an acknowledgement; anything else may or may not have happened.
            if resp.status >= 500 {
                return;
            }
            continue;
        }
        let Ok(body) = resp.json() else { return };
        let item = match name {
            Some(name) => {
                if own.is_none() {
                    own = Some(body["id"].clone());
                }
                Acked::User {
                    name,
                    id: body["id"].clone(),
                }
            }
            None => match id_text(&body["session_id"]) {
                Ok(id) => Acked::Session { id },
                Err(_) => return,
            },
        };
        acked.lock().await.push(item);
        count.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_every_node_at_once_then_restart_every_acknowledged_write_is_there() -> Result<()> {
    // Small snapshots, so that a restart is "load the snapshot, replay the log after it".
    let mut cluster = Cluster::start(3, |cfg| {
        cfg.raft.snapshot_every = Some(100);
        cfg.raft.keep_after_snapshot = Some(10);
    })
    .await?;
    let mut all_acked = Vec::new();
    // Twice: the second crash hits nodes that have already recovered from one.
    for round in 1..=2 {
        let acked = write_then_kill_all(&mut cluster).await?;
        let users = acked
            .iter()
            .filter(|a| matches!(a, Acked::User { .. }))
            .count();
        eprintln!(
            "round {round}: {} writes acknowledged before the kill ({users} users)",
            acked.len()
        );
        all_acked.extend(acked);

        for id in cluster.node_ids() {
            cluster.spawn(id)?;
        }
        cluster.wait_ready(Duration::from_secs(60)).await?;
        // The restarted cluster takes writes, and every node has applied everything.
        let probe = uniq("probe");
        crate::util::create_user(&cluster.api(1), &probe).await?;
        cluster.wait_caught_up(Duration::from_secs(30)).await?;
        let missing = missing_on_every_node(&cluster, &all_acked).await;
        assert!(
            missing.is_empty(),
            "round {round}: {} acknowledged writes are missing after the restart, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
    }
    Ok(())
}

/// Writes through all three nodes until 400 are acknowledged, then SIGKILLs every node while
/// writes are still in flight; returns the acknowledged ones.
async fn write_then_kill_all(cluster: &mut Cluster) -> Result<Vec<Acked>> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // 24 writers spread over the three nodes, so writes are in flight on every node (through
    // followers and the leader) at the moment of the kill.
    let mut tasks = Vec::new();
    for w in 0..24u64 {
        let api = cluster.api(1 + w % 3);
        tasks.push(tokio::spawn(writer(
            api,
            acked.clone(),
            count.clone(),
            stop.clone(),
        )));
    }
    wait_until(
        "400 acknowledged writes",
        Duration::from_secs(90),
        || async {
            cluster.check_alive()?;
            let n = count.load(Ordering::Relaxed);
            if tasks.iter().all(|t| t.is_finished()) {
                return Err(Fatal(format!(
                    "every writer stopped on an error after {n} acknowledged writes"
                ))
                .into());
            }
            if n < 400 {
                bail!("{n} acknowledged so far");
            }
            Ok(())
        },
    )
    .await?;
    cluster.kill_all()?;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let acked = acked.lock().await.clone();
    Ok(acked)
}

/// Every acknowledged write that some node does not serve, described.
async fn missing_on_every_node(cluster: &Cluster, acked: &[Acked]) -> Vec<String> {
    let mut missing = Vec::new();
    for node in cluster.node_ids() {
        let api = cluster.api(node);
        let results: Vec<Option<String>> = futures::stream::iter(acked.iter().cloned())
            .map(|item| {
                let api = api.clone();
                async move {
                    let found = match &item {
                        Acked::User { name, id } => match api.get_user(name).await {
                            Ok(r) if r.status == 200 => {
                                r.json().map(|v| &v["id"] == id).unwrap_or(false)
                            }
                            _ => false,
                        },
                        Acked::Session { id } => {
                            matches!(api.get_session(id).await, Ok(r) if r.status == 200)
                        }
                    };
                    (!found).then(|| format!("node {node}: {item:?}"))
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        missing.extend(results.into_iter().flatten());
    }
    missing
}
