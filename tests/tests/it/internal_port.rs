//! The internal (Raft) listener refuses anyone without the cluster secret, logs it, and the
//! node keeps serving.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use authd_raft::network::{ClusterSecret, PeerClient, Rpc, RpcReply, TransportError};
use authd_tests::{Cluster, random_vec, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::util::{create_user, uniq, wait_user_visible};

/// Lines of node `id`'s log that report a refused connection at WARN level.
fn refusals(cluster: &Cluster, id: u64) -> usize {
    cluster
        .logs(id)
        .lines()
        .filter(|l| l.contains("WARN") && l.to_ascii_lowercase().contains("refused"))
        .count()
}

/// Sends `bytes` to `addr` and reads until the server closes; returns what it sent back.
async fn send_garbage(addr: std::net::SocketAddr, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    // The server may close before reading everything: a write error is fine.
    let _ = stream.write_all(bytes).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break, // closed (or reset)
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), read_all)
        .await
        .with_context(|| format!("{addr} kept a connection with garbage open for 15 s"))?;
    Ok(got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_port_refuses_random_bytes_and_a_wrong_secret_logs_it_and_keeps_serving()
-> Result<()> {
    let cluster = Cluster::start(3, |_| {}).await?;
    let leader = cluster.leader().await?;
    let follower = cluster
        .node_ids()
        .into_iter()
        .find(|&i| i != leader)
        .unwrap_or(1);
    let right =
        ClusterSecret::new(cluster.secret().to_vec()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let wrong = ClusterSecret::new(random_vec(32)?).map_err(|e| anyhow::anyhow!("{e}"))?;
    let probe = Rpc::WaitApplied {
        index: 0,
        timeout_ms: 100,
    };

    for target in [leader, follower] {
        let raft_addr = cluster.node(target)?.raft;
        let before = refusals(&cluster, target);

        // 1. Random bytes: the connection is closed, and the server sends nothing beyond its
        //    16-byte challenge (never a proof of the secret).
        let got = send_garbage(raft_addr, &random_vec(4096)?).await?;
        assert!(
            got.len() <= 16,
            "node {target} answered random bytes with {} bytes",
            got.len()
        );

        // 2. A peer with the wrong secret is refused at the handshake.
        let intruder = PeerClient::new(raft_addr.to_string(), wrong.clone());
        match intruder.call(&probe, Duration::from_secs(10)).await {
            Err(TransportError::Auth(_)) => {}
            Err(other) => {
                bail!("node {target}: wrong secret failed, but not as a refused handshake: {other}")
            }
            Ok(reply) => bail!(
                "node {target} answered a peer with the wrong secret: {}",
                reply.kind()
            ),
        }

        // 3. Positive control: the same call with the right secret is answered.
        let peer = PeerClient::new(raft_addr.to_string(), right.clone());
        match peer.call(&probe, Duration::from_secs(10)).await {
            Ok(RpcReply::WaitApplied(Ok(_))) => {}
            Ok(other) => bail!(
                "node {target}: unexpected reply to WaitApplied: {}",
                other.kind()
            ),
            Err(e) => bail!("node {target} refused a peer with the right secret: {e}"),
        }

        // Both refusals are logged at WARN.
        wait_until(
            &format!("two refusals in node {target}'s log"),
            Duration::from_secs(10),
            || async {
                let n = refusals(&cluster, target);
                if n < before + 2 {
                    bail!("{} new WARN ... refused lines", n - before);
                }
                Ok(())
            },
        )
        .await?;
    }

    // 4. An HTTP request on the internal port gets no HTTP answer.
    let got = send_garbage(
        cluster.node(follower)?.raft,
        b"GET /api/v1/cluster HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await?;
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/"),
        "the internal port spoke HTTP"
    );

    // The cluster still serves and replicates: a write through each node reaches all nodes.
    for id in cluster.node_ids() {
        assert_eq!(cluster.api(id).healthz().await?, 200, "node {id} /healthz");
        let name = uniq(&format!("after{id}x"));
        let user = create_user(&cluster.api(id), &name).await?;
        for other in cluster.node_ids() {
            wait_user_visible(&cluster, other, &name, &user["id"]).await?;
        }
    }
    cluster.check_alive()?;
    Ok(())
}
