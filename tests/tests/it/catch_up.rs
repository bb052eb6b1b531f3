//! A node that was down while 10,000 writes happened catches up on restart, through a
//! snapshot, because the leader has purged the log entries it missed.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use authd_tests::{Cluster, wait_until};
use futures::StreamExt;

use crate::util::{create_user, id_text, uniq};

const WRITES: usize = 10_000;
const IN_FLIGHT: usize = 64;
/// Small, because the proposer packs many writes into one entry (10,000 writes are only a few
/// hundred entries): the snapshot and the purge must still happen within the run.
const SNAPSHOT_EVERY: u64 = 100;
const KEEP_AFTER_SNAPSHOT: u64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_during_10000_writes_catches_up_through_a_snapshot() -> Result<()> {
    let mut cluster = Cluster::start(3, |cfg| {
        cfg.raft.snapshot_every = Some(SNAPSHOT_EVERY);
        cfg.raft.keep_after_snapshot = Some(KEEP_AFTER_SNAPSHOT);
        // Every write is a session of one user: above the per-user cap, older ones would end.
        cfg.sessions.max_per_user = Some(u32::MAX);
    })
    .await?;
    let leader = cluster.leader().await?;
    let user = create_user(&cluster.api(leader), &uniq("many")).await?;
    let user_id = user["id"].clone();

    // Stop a follower once it has everything so far; remember how far its log goes.
    let down = cluster
        .node_ids()
        .into_iter()
        .find(|&i| i != leader)
        .unwrap_or(1);
    cluster.wait_caught_up(Duration::from_secs(20)).await?;
    let down_last = cluster.info(down).await?.applied();
    cluster.kill(down)?;
    let survivors = cluster.live_nodes();

    // 10,000 session writes through both survivors, 64 in flight; every one acknowledged.
    let started = Instant::now();
    let apis: Vec<_> = survivors.iter().map(|&i| cluster.api(i)).collect();
    let results: Vec<Result<String>> = futures::stream::iter(0..WRITES)
        .map(|k| {
            let api = apis[k % apis.len()].clone();
            let user_id = user_id.clone();
            async move {
                let resp = api.create_session(&user_id, None).await?;
                let body = resp.expect(201)?;
                id_text(&body["session_id"])
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut sessions = Vec::with_capacity(WRITES);
    let mut failures = Vec::new();
    for r in results {
        match r {
            Ok(id) => sessions.push(id),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {WRITES} writes failed with one node down, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    eprintln!(
        "{WRITES} writes in {elapsed:.1?} ({:.0}/s, debug build)",
        WRITES as f64 / elapsed.as_secs_f64()
    );

    // The leader has snapshotted and purged past the stopped node's last entry, so the node
    // cannot be caught up from the log alone.
    let leader = cluster
        .leader_among(&survivors, Duration::from_secs(10))
        .await?;
    let purged = wait_until(
        &format!("node {leader} to purge its log past index {down_last}"),
        Duration::from_secs(30),
        || async {
            let info = cluster.info(leader).await?;
            match info.purged_index {
                Some(p) if p > down_last => Ok(info),
                other => bail!(
                    "purged_index {other:?}, snapshot_index {:?}, last_applied {:?}",
                    info.snapshot_index,
                    info.last_applied
                ),
            }
        },
    )
    .await?;
    eprintln!(
        "leader {leader}: snapshot_index {:?}, purged_index {:?}, last_applied {:?}; node {down} stopped at {down_last}",
        purged.snapshot_index, purged.purged_index, purged.last_applied
    );
    let target = purged.applied();

    cluster.restart(down)?;
    let info = wait_until(
        &format!("node {down} to catch up to index {target}"),
        Duration::from_secs(60),
        || async {
            cluster.check_alive()?;
            let info = cluster.info(down).await?;
            if info.applied() < target {
                bail!(
                    "applied {:?}, snapshot_index {:?}",
                    info.last_applied,
                    info.snapshot_index
                );
            }
            Ok(info)
        },
    )
    .await?;
    assert!(
        info.snapshot_index.is_some_and(|s| s > down_last),
        "node {down} caught up without a snapshot past {down_last}: {info:?}"
    );
    assert_eq!(
        cluster.api(down).readyz().await?,
        200,
        "node {down} caught up but is not ready"
    );

    // Every acknowledged write is served by the node that was down.
    let api = cluster.api(down);
    let missing: Vec<String> = futures::stream::iter(sessions.iter().cloned())
        .map(|sid| {
            let api = api.clone();
            async move {
                match api.get_session(&sid).await {
                    Ok(r) if r.status == 200 => None,
                    Ok(r) => Some(format!("{sid}: HTTP {}", r.status)),
                    Err(e) => Some(format!("{sid}: {e:#}")),
                }
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter_map(|m| async move { m })
        .collect()
        .await;
    assert!(
        missing.is_empty(),
        "node {down} lacks {} of {WRITES} sessions after catching up, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    Ok(())
}
