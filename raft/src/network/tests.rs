//! Transport tests over real TCP on 127.0.0.1: round trips, pooling, timeouts and the openraft glue.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{Fatal, RPCError, RaftError};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, VoteRequest, VoteResponse};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Membership, Vote};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use super::*;
use crate::command::{Applied, Batch, BatchReply, Command};
use crate::types::NodeAddr;

const T: Duration = Duration::from_secs(5);

pub(super) fn secret() -> ClusterSecret {
    ClusterSecret::new(b"test-cluster-secret-0123456789".to_vec()).unwrap()
}

pub(super) struct Dummy;

impl RpcHandler for Dummy {
    async fn handle(&self, rpc: Rpc) -> RpcReply {
        match rpc {
            Rpc::Vote(req) => {
                RpcReply::Vote(Ok(VoteResponse::new(req.vote, req.last_log_id, true)))
            }
            Rpc::Forward(Batch(cmds)) => RpcReply::Forward(Ok(ForwardOk {
                log_index: 42,
                reply: BatchReply(cmds.iter().map(|_| Ok(Applied::Done)).collect()),
            })),
            Rpc::Append(req) if req.entries.is_empty() => {
                RpcReply::Append(Err(RaftError::Fatal(Fatal::Stopped)))
            }
            Rpc::Append(req) => RpcReply::Append(Ok(AppendEntriesResponse::PartialSuccess(
                req.entries.last().map(|e| e.log_id),
            ))),
            Rpc::WaitApplied { index, timeout_ms } => {
                tokio::time::sleep(Duration::from_millis(timeout_ms)).await;
                RpcReply::WaitApplied(Ok(index))
            }
            Rpc::Snapshot(_) => RpcReply::Error("no snapshots here".to_owned()),
            Rpc::Lease { node_id } => RpcReply::Lease(Ok(node_id)),
        }
    }
}

pub(super) async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, secret(), Arc::new(Dummy)));
    addr
}

/// A TCP proxy in front of the server that counts accepted connections and can cut them all.
struct Proxy {
    addr: SocketAddr,
    accepts: Arc<AtomicUsize>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepts = Arc::new(AtomicUsize::new(0));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (a, c) = (Arc::clone(&accepts), Arc::clone(&conns));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let task = tokio::spawn(async move {
                    let mut outbound = TcpStream::connect(target).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                c.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            addr,
            accepts,
            conns,
        }
    }

    fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    fn cut_all(&self) {
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

pub(super) fn vote_req() -> VoteRequest<u64> {
    VoteRequest::new(
        Vote::new(3, 1),
        Some(LogId::new(CommittedLeaderId::new(2, 1), 7)),
    )
}

fn batch() -> Batch {
    Batch(vec![
        Command::EndSession {
            session_id: "s-1".to_owned(),
        },
        Command::Expire {
            now_ms: 1_700_000_000_000,
        },
    ])
}

pub(super) async fn vote(client: &PeerClient) -> Result<RpcReply, TransportError> {
    client.call(&Rpc::Vote(vote_req()), T).await
}

fn assert_vote_ok(reply: RpcReply) {
    match reply {
        RpcReply::Vote(Ok(resp)) => {
            assert!(resp.vote_granted);
            assert_eq!(resp.vote, Vote::new(3, 1));
        }
        other => panic!("unexpected reply {other:?}"),
    }
}

pub(super) async fn assert_still_serving(addr: SocketAddr) {
    let client = PeerClient::new(addr.to_string(), secret());
    assert_vote_ok(vote(&client).await.unwrap());
}

#[tokio::test]
async fn network_round_trip_vote_and_forward() {
    let addr = start().await;
    let client = PeerClient::new(addr.to_string(), secret());
    assert_vote_ok(vote(&client).await.unwrap());
    match client.call(&Rpc::Forward(batch()), T).await.unwrap() {
        RpcReply::Forward(Ok(ok)) => {
            assert_eq!(ok.log_index, 42);
            assert_eq!(
                ok.reply,
                BatchReply(vec![Ok(Applied::Done), Ok(Applied::Done)])
            );
        }
        other => panic!("unexpected reply {other:?}"),
    }
    match client.call(&Rpc::Snapshot(snapshot_req()), T).await {
        Err(TransportError::Remote(msg)) => assert_eq!(msg, "no snapshots here"),
        other => panic!("unexpected {other:?}"),
    }
    // A remote error keeps the connection.
    assert_eq!(client.idle_connections(), 1);
}

fn snapshot_req() -> openraft::raft::InstallSnapshotRequest<crate::types::TypeConfig> {
    openraft::raft::InstallSnapshotRequest {
        vote: Vote::new_committed(2, 1),
        meta: Default::default(),
        offset: 0,
        data: vec![1, 2, 3],
        done: true,
    }
}

#[tokio::test]
async fn network_connection_is_reused() {
    let proxy = Proxy::start(start().await).await;
    let client = PeerClient::new(proxy.addr.to_string(), secret());
    for _ in 0..5 {
        assert_vote_ok(vote(&client).await.unwrap());
    }
    assert_eq!(proxy.accepts(), 1);
    assert_eq!(client.idle_connections(), 1);

    // Concurrent calls open extra connections, which are then pooled and reused.
    let (a, b, c) = tokio::join!(vote(&client), vote(&client), vote(&client));
    for r in [a, b, c] {
        assert_vote_ok(r.unwrap());
    }
    let after_burst = proxy.accepts();
    assert!(after_burst <= 3, "{after_burst} accepts");
    for _ in 0..5 {
        assert_vote_ok(vote(&client).await.unwrap());
    }
    assert_eq!(proxy.accepts(), after_burst);
}

#[tokio::test]
async fn network_hung_up_pooled_connection_is_replaced() {
    let proxy = Proxy::start(start().await).await;
    let client = PeerClient::new(proxy.addr.to_string(), secret());
    assert_vote_ok(vote(&client).await.unwrap());
    proxy.cut_all();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_vote_ok(vote(&client).await.unwrap());
    assert_eq!(proxy.accepts(), 2);
}

#[tokio::test]
async fn network_timeout_drops_the_connection() {
    let proxy = Proxy::start(start().await).await;
    let client = PeerClient::new(proxy.addr.to_string(), secret());
    let slow = Rpc::WaitApplied {
        index: 9,
        timeout_ms: 2_000,
    };
    match client.call(&slow, Duration::from_millis(100)).await {
        Err(TransportError::Timeout(_)) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(client.idle_connections(), 0);
    assert_vote_ok(vote(&client).await.unwrap());
    assert_eq!(proxy.accepts(), 2);
}

#[tokio::test]
async fn network_unreachable_peer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = PeerClient::new(addr.to_string(), secret());
    assert!(matches!(
        vote(&client).await,
        Err(TransportError::Unreachable(_))
    ));
}

/// A peer that accepts and hangs up before the handshake (a proxy in front of a dead node, as
/// the fault-injection suite found) is unreachable, not an i/o error: openraft then backs off
/// instead of redialing in a hot loop.
#[tokio::test]
async fn network_hang_up_before_handshake_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            drop(conn);
        }
    });
    let client = PeerClient::new(addr.to_string(), secret());
    assert!(matches!(
        vote(&client).await,
        Err(TransportError::Unreachable(_))
    ));
}

fn membership() -> Membership<u64, NodeAddr> {
    let nodes: BTreeMap<u64, NodeAddr> = (1..=3)
        .map(|i| {
            (
                i,
                NodeAddr {
                    raft: format!("10.0.0.{i}:7001"),
                    http: format!("10.0.0.{i}:8080"),
                },
            )
        })
        .collect();
    Membership::new(vec![BTreeSet::from([1, 2, 3])], nodes)
}

#[tokio::test]
async fn network_openraft_glue() {
    let addr = start().await;
    let mut net = Network::new(secret());
    let node = NodeAddr {
        raft: addr.to_string(),
        http: "127.0.0.1:1".to_owned(),
    };
    let mut conn = net.new_client(2, &node).await;
    assert_eq!(
        net.peer(&addr.to_string()).idle_connections(),
        0,
        "new_client must not connect"
    );
    let opt = RPCOption::new(T);

    let resp = conn.vote(vote_req(), opt.clone()).await.unwrap();
    assert!(resp.vote_granted);

    let leader = CommittedLeaderId::new(3, 1);
    let entries = vec![
        Entry {
            log_id: LogId::new(leader, 8),
            payload: EntryPayload::Blank,
        },
        Entry {
            log_id: LogId::new(leader, 9),
            payload: EntryPayload::Normal(batch()),
        },
        Entry {
            log_id: LogId::new(leader, 10),
            payload: EntryPayload::Membership(membership()),
        },
    ];
    let req = AppendEntriesRequest {
        vote: Vote::new_committed(3, 1),
        prev_log_id: Some(LogId::new(leader, 7)),
        entries,
        leader_commit: Some(LogId::new(leader, 7)),
    };
    let resp = conn.append_entries(req, opt.clone()).await.unwrap();
    assert_eq!(
        resp,
        AppendEntriesResponse::PartialSuccess(Some(LogId::new(leader, 10)))
    );

    let heartbeat = AppendEntriesRequest {
        vote: Vote::new_committed(3, 1),
        prev_log_id: None,
        entries: vec![],
        leader_commit: None,
    };
    match conn.append_entries(heartbeat, opt.clone()).await {
        Err(RPCError::RemoteError(e)) => {
            assert_eq!(e.target, 2);
            assert!(matches!(e.source, RaftError::Fatal(Fatal::Stopped)));
        }
        other => panic!("unexpected {other:?}"),
    }
    // The same pool served all three calls.
    assert_eq!(net.peer(&addr.to_string()).idle_connections(), 1);

    let dead = NodeAddr {
        raft: "127.0.0.1:1".to_owned(),
        http: String::new(),
    };
    let mut conn = net.new_client(3, &dead).await;
    assert!(matches!(
        conn.vote(vote_req(), opt).await,
        Err(RPCError::Unreachable(_))
    ));
}

#[test]
fn network_secret_is_not_printed() {
    let s = secret();
    assert!(!format!("{s:?}").contains("test-cluster"));
    assert!(ClusterSecret::new(b"short".to_vec()).is_err());
}
