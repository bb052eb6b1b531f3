//! Losing the leader: kill -9, and SIGSTOP (a leader that hangs rather than dies).

use std::time::{Duration, Instant};

use anyhow::Result;
use authd_tests::{Cluster, wait_until};

use crate::util::{create_user, id_text, uniq, wait_session_status, wait_user_visible};

/// "A new leader within a few seconds" (the default election timeout is 0.8-1.6 s).
const NEW_LEADER: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_the_leader_a_new_leader_is_elected_and_survivors_take_writes() -> Result<()> {
    let mut cluster = Cluster::start(3, |_| {}).await?;
    let old = cluster.leader().await?;
    let before_name = uniq("before");
    let before = create_user(&cluster.api(old), &before_name).await?;

    cluster.kill(old)?;
    let killed_at = Instant::now();
    let survivors = cluster.live_nodes();
    assert_eq!(survivors.len(), 2);
    let new = cluster.leader_among(&survivors, NEW_LEADER).await?;
    eprintln!(
        "node {new} leads {:?} after killing node {old}",
        killed_at.elapsed()
    );
    assert_ne!(new, old, "the killed node is still named leader");

    // Writes through each survivor (the leader and the follower) succeed.
    let mut written = vec![(before_name, before["id"].clone())];
    let mut sessions = Vec::new();
    for &id in &survivors {
        let name = uniq(&format!("after{id}x"));
        let user = create_user(&cluster.api(id), &name).await?;
        let session = cluster
            .api(id)
            .create_session(&user["id"], None)
            .await?
            .expect(201)?;
        sessions.push(id_text(&session["session_id"])?);
        written.push((name, user["id"].clone()));
    }
    for &id in &survivors {
        for (name, uid) in &written {
            wait_user_visible(&cluster, id, name, uid).await?;
        }
    }

    // The old leader comes back as a follower of the new one and catches up.
    cluster.restart(old)?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    for (name, uid) in &written {
        wait_user_visible(&cluster, old, name, uid).await?;
    }
    for sid in &sessions {
        wait_session_status(&cluster, old, sid, 200).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_steps_down_and_catches_up_when_resumed() -> Result<()> {
    let mut cluster = Cluster::start(3, |_| {}).await?;
    let old = cluster.leader().await?;
    cluster.pause(old)?;
    let others = cluster.live_nodes();
    let new = cluster.leader_among(&others, NEW_LEADER).await?;
    assert_ne!(new, old);

    let mut written = Vec::new();
    for &id in &others {
        let name = uniq(&format!("paused{id}x"));
        let user = create_user(&cluster.api(id), &name).await?;
        written.push((name, user["id"].clone()));
    }

    cluster.resume(old)?;
    // It learns of the newer term and follows: every node names the same leader, not `old`
    // with its stale term.
    let leader = wait_until(
        "the resumed node to follow the new leader",
        Duration::from_secs(20),
        || async {
            let leader = cluster
                .leader_among(&cluster.node_ids(), Duration::from_millis(200))
                .await?;
            let info = cluster.info(old).await?;
            anyhow::ensure!(
                info.leader_id == Some(leader),
                "node {old} names leader {:?}, the others {leader}",
                info.leader_id
            );
            Ok(leader)
        },
    )
    .await?;
    eprintln!("after resume, node {leader} leads");
    for (name, uid) in &written {
        wait_user_visible(&cluster, old, name, uid).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_the_majority_is_not_ready_and_acknowledges_nothing() -> Result<()> {
    let mut cluster = Cluster::start(3, |_| {}).await?;
    let leader = cluster.leader().await?;
    let alone = cluster
        .node_ids()
        .into_iter()
        .find(|&i| i != leader)
        .unwrap_or(1);
    for id in cluster.node_ids() {
        if id != alone {
            cluster.kill(id)?;
        }
    }
    let api = cluster.api(alone);
    wait_until(
        &format!("node {alone} alone to report not ready"),
        Duration::from_secs(20),
        || async {
            cluster.check_alive()?;
            let ready = api.readyz().await?;
            anyhow::ensure!(ready == 503, "/readyz {ready}");
            Ok(())
        },
    )
    .await?;
    assert_eq!(
        api.healthz().await?,
        200,
        "a node without a majority still serves /healthz"
    );

    // A write without a majority is never acknowledged (an error, or no answer at all).
    let name = uniq("nomajority");
    let attempt = tokio::time::timeout(
        Duration::from_secs(8),
        api.create_user(
            &name,
            &crate::util::email_of(&name),
            crate::util::PASSWORD,
            false,
        ),
    )
    .await;
    match &attempt {
        Ok(Ok(resp)) => eprintln!(
            "write without a majority: HTTP {} {}",
            resp.status, resp.body
        ),
        Ok(Err(e)) => eprintln!("write without a majority: {e:#}"),
        Err(_) => eprintln!("write without a majority: no answer within 8 s"),
    }
    if let Ok(Ok(resp)) = &attempt {
        assert_ne!(
            resp.status, 201,
            "a write was acknowledged by a single node of three: {}",
            resp.body
        );
    }

    // With one peer back there is a majority again: ready, and writes are acknowledged.
    cluster.restart(leader)?;
    cluster.wait_ready(Duration::from_secs(30)).await?;
    let name = uniq("majority");
    let user = create_user(&cluster.api(alone), &name).await?;
    wait_user_visible(&cluster, leader, &name, &user["id"]).await?;
    Ok(())
}
