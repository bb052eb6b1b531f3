//! The write path's last step: batch commands, propose them to Raft, answer after apply.
//!
//! Commands that arrive while earlier proposals are in flight are packed into one log entry
//! (no timer, so an idle cluster adds no delay; at most [`MAX_IN_FLIGHT`] proposals per node).
//! On a follower the batch is forwarded to the leader over the internal transport; the leader
//! merges forwarded batches with its own into one entry, so a Raft round carries everything
//! that queued up meanwhile. Writes that must be visible everywhere are also applied on the
//! forwarding follower before it answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authd_raft::network::{ForwardOk, Network, Rpc, RpcReply, TransportError};
use authd_raft::sm_store::StateReader;
use authd_raft::{Batch, BatchReply, Command, Raft, Reply, Visibility};
use openraft::error::{ClientWriteError, RaftError};
use thiserror::Error;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::lease::Lease;

/// Most commands packed into one entry.
const MAX_BATCH: usize = 512;
/// Proposals in flight at once; more waiting commands make the next batch bigger instead.
const MAX_IN_FLIGHT: usize = 2;
/// How long a write may wait for a leader before the caller hears "unavailable".
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// One forwarded RPC's timeout.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a write was not applied; `Unknown` means it may or may not have committed.
#[derive(Debug, Error, Clone)]
pub enum ProposeError {
    /// No leader could take the write before the deadline: nothing was committed.
    #[error("no leader available: {0}")]
    NoLeader(String),
    /// The request reached the leader but its outcome was lost (timeout, connection cut).
    #[error("write outcome unknown: {0}")]
    Unknown(String),
    /// The node is shutting down or Raft stopped.
    #[error("raft stopped: {0}")]
    Fatal(String),
}

/// A command's outcome and the log index of the entry that carried it.
pub type Indexed = (Reply, u64);

/// Where a pending group of commands came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// This node's actors.
    Local,
    /// A follower's forwarded batch: proposed here only while this node leads, never re-forwarded.
    Forwarded,
}

struct Pending {
    cmds: Vec<Command>,
    origin: Origin,
    reply: oneshot::Sender<Result<(Vec<Reply>, u64), ProposeError>>,
}

/// Cheap handle to the node's proposer task.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<Pending>,
}

/// What the proposer needs to reach Raft and the leader.
#[derive(Clone)]
pub struct Ctx {
    /// This node's Raft.
    pub raft: Raft,
    /// Peer connections (shared with Raft replication).
    pub network: Network,
    /// For waiting on local apply after a forwarded write.
    pub reader: StateReader,
    /// Makes a committed write visible on every node (or waits out leases) before the ack.
    pub lease: Arc<Lease>,
}

impl Proposer {
    /// Start the proposer task.
    pub fn start(ctx: Ctx) -> Proposer {
        let (tx, rx) = mpsc::channel(64 * 1024);
        tokio::spawn(run(ctx, rx));
        Proposer { tx }
    }

    /// A proposer with no Raft behind it: every proposal fails (for tests of the layers above).
    #[cfg(test)]
    pub fn detached() -> Proposer {
        let (tx, _rx) = mpsc::channel(1);
        Proposer { tx }
    }

    /// Propose one command and wait until it is acknowledged (see [`authd_raft::Visibility`]).
    pub async fn propose(&self, cmd: Command) -> Result<Reply, ProposeError> {
        self.propose_indexed(cmd).await.map(|(r, _)| r)
    }

    /// Like [`Proposer::propose`], also returning the entry's log index.
    pub async fn propose_indexed(&self, cmd: Command) -> Result<Indexed, ProposeError> {
        let (mut replies, index) = self.enqueue(vec![cmd], Origin::Local).await?;
        let reply = replies
            .pop()
            .ok_or_else(|| ProposeError::Fatal("no reply".into()))?;
        Ok((reply, index))
    }

    async fn enqueue(
        &self,
        cmds: Vec<Command>,
        origin: Origin,
    ) -> Result<(Vec<Reply>, u64), ProposeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending {
                cmds,
                origin,
                reply,
            })
            .await
            .map_err(|_| ProposeError::Fatal("proposer stopped".into()))?;
        rx.await
            .map_err(|_| ProposeError::Fatal("proposer dropped the request".into()))?
    }
}

/// Take every group that queued up while earlier proposals were in flight, merge, propose.
async fn run(ctx: Ctx, mut rx: mpsc::Receiver<Pending>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut count = first.cmds.len();
        let mut group = vec![first];
        while count < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => {
                    count += p.cmds.len();
                    group.push(p);
                }
                Err(_) => break,
            }
        }
        let ctx = ctx.clone();
        tokio::spawn(async move {
            propose_group(&ctx, group).await;
            drop(permit);
        });
    }
}

async fn propose_group(ctx: &Ctx, group: Vec<Pending>) {
    let leading = {
        let m = ctx.raft.metrics();
        let m = m.borrow();
        m.current_leader == Some(m.id)
    };
    let mut cmds = Vec::new();
    let mut parts = Vec::with_capacity(group.len());
    for mut p in group {
        if p.origin == Origin::Forwarded && !leading {
            let _ = p.reply.send(Err(ProposeError::NoLeader(format!(
                "{NOT_LEADER}: this node no longer leads"
            ))));
            continue;
        }
        parts.push((p.cmds.len(), p.reply));
        cmds.append(&mut p.cmds);
    }
    if cmds.is_empty() {
        return;
    }
    metrics::histogram!("authd_proposal_batch_commands").record(cmds.len() as f64);
    let start = Instant::now();
    let outcome = submit(ctx, Batch(cmds)).await;
    metrics::histogram!("authd_propose_seconds").record(start.elapsed().as_secs_f64());
    match outcome {
        Ok((out, index)) => {
            let mut results = out.into_iter();
            for (n, reply) in parts {
                let mine: Vec<Reply> = results.by_ref().take(n).collect();
                let res = if mine.len() == n {
                    Ok((mine, index))
                } else {
                    Err(ProposeError::Fatal("reply count mismatch".into()))
                };
                let _ = reply.send(res);
            }
        }
        Err(e) => {
            for (_, reply) in parts {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Propose on the leader (locally or forwarded); retry only when nothing can have committed.
async fn submit(ctx: &Ctx, batch: Batch) -> Result<(Vec<Reply>, u64), ProposeError> {
    metrics::counter!("authd_proposals_total").increment(1);
    let deadline = Instant::now() + WRITE_DEADLINE;
    let mut metrics_rx = ctx.raft.metrics();
    loop {
        let (leader, me, leader_addr) = {
            let m = metrics_rx.borrow_and_update();
            let addr = m.current_leader.and_then(|l| {
                m.membership_config
                    .membership()
                    .get_node(&l)
                    .map(|n| n.raft.clone())
            });
            (m.current_leader, m.id, addr)
        };
        let attempt = match (leader, leader_addr) {
            (Some(l), _) if l == me => propose_local(ctx, batch.clone()).await,
            (Some(l), Some(addr)) => forward(ctx, l, &addr, batch.clone()).await,
            _ => Err(Retry("no leader known".into())),
        };
        match attempt {
            Ok(r) => return r,
            Err(Retry(why)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ProposeError::NoLeader(why));
                }
                // Wait for a change in leadership (or a short pause), then try again.
                let _ = tokio::time::timeout(
                    left.min(Duration::from_millis(200)),
                    metrics_rx.changed(),
                )
                .await;
            }
        }
    }
}

/// "Try again: this attempt certainly did not commit."
struct Retry(String);

type Attempt = Result<Result<(Vec<Reply>, u64), ProposeError>, Retry>;

async fn propose_local(ctx: &Ctx, batch: Batch) -> Attempt {
    match commit_visible(ctx, batch).await {
        Ok(ok) => Ok(Ok((ok.reply.0, ok.log_index))),
        Err(LeaderError::NotLeader(why)) => Err(Retry(why)),
        Err(LeaderError::Unknown(e)) => Ok(Err(ProposeError::Unknown(e))),
        Err(LeaderError::Fatal(e)) => Ok(Err(ProposeError::Fatal(e))),
    }
}

enum LeaderError {
    NotLeader(String),
    Unknown(String),
    Fatal(String),
}

/// Leader: commit, apply, then make the entry visible on every node before answering.
async fn commit_visible(ctx: &Ctx, batch: Batch) -> Result<ForwardOk, LeaderError> {
    let acknowledge = batch.acknowledge();
    match ctx.raft.client_write(batch).await {
        Ok(resp) => {
            let visibility = acknowledge.after(&resp.data);
            ctx.lease
                .wait_visible(&ctx.raft, &ctx.network, resp.log_id.index, visibility)
                .await;
            Ok(ForwardOk {
                log_index: resp.log_id.index,
                reply: resp.data,
            })
        }
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(
            LeaderError::NotLeader(format!("{NOT_LEADER}; leader is {:?}", f.leader_id)),
        ),
        Err(RaftError::APIError(e)) => Err(LeaderError::Unknown(e.to_string())),
        Err(RaftError::Fatal(e)) => Err(LeaderError::Fatal(e.to_string())),
    }
}

/// Resolves when this node learns of a leader other than `leader`.
async fn leader_moved(raft: &Raft, leader: u64) {
    let mut rx = raft.metrics();
    loop {
        if rx.borrow_and_update().current_leader != Some(leader) {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn forward(ctx: &Ctx, leader: u64, addr: &str, batch: Batch) -> Attempt {
    metrics::counter!("authd_forwarded_writes_total").increment(1);
    let acknowledge = batch.acknowledge();
    let retry_safe = batch.idempotent();
    let rpc = Rpc::Forward(batch);
    let peer = ctx.network.peer(addr);
    let call = peer.call(&rpc, FORWARD_TIMEOUT);
    let outcome = tokio::select! {
        r = call => r,
        // A deposed (e.g. paused) leader may never answer: an idempotent batch can go to the
        // new one at once instead of waiting out the timeout.
        () = leader_moved(&ctx.raft, leader), if retry_safe => {
            return Err(Retry(format!("leader {leader} was replaced during the call")));
        }
    };
    match outcome {
        Ok(RpcReply::Forward(Ok(ForwardOk { log_index, reply }))) => {
            // The leader made it visible on every reachable node (this one included) if the
            // batch needed that; make sure this node, which answers the client, has it too.
            if acknowledge.after(&reply) > Visibility::Committed
                && let Err(e) = ctx.reader.wait_applied(log_index, FORWARD_TIMEOUT).await
            {
                tracing::warn!(log_index, error = %e, "forwarded write committed but not yet applied here");
            }
            Ok(Ok((reply.0, log_index)))
        }
        Ok(RpcReply::Forward(Err(e))) if e.starts_with(NOT_LEADER) => Err(Retry(e)),
        Ok(RpcReply::Forward(Err(e))) => Ok(Err(ProposeError::Unknown(e))),
        Ok(other) => Ok(Err(ProposeError::Unknown(format!(
            "unexpected reply {}",
            other.kind()
        )))),
        // Nothing was sent (or the peer refused us before reading): safe to retry.
        Err(TransportError::Unreachable(e)) => Err(Retry(format!("leader unreachable: {e}"))),
        Err(TransportError::Auth(e)) => Err(Retry(format!("leader refused handshake: {e}"))),
        Err(e) => Ok(Err(ProposeError::Unknown(e.to_string()))),
    }
}

/// Prefix of the forward error that means "I am not the leader; nothing was proposed".
pub const NOT_LEADER: &str = "not leader";

/// Leader side of a forwarded write: merged into this node's own next entry.
pub async fn handle_forward(
    proposer: &Proposer,
    raft: &Raft,
    batch: Batch,
) -> Result<ForwardOk, String> {
    metrics::counter!("authd_forwarded_writes_received_total").increment(1);
    let leading = {
        let m = raft.metrics();
        let m = m.borrow();
        m.current_leader == Some(m.id)
    };
    if !leading {
        return Err(format!("{NOT_LEADER}: this node does not lead"));
    }
    match proposer.enqueue(batch.0, Origin::Forwarded).await {
        Ok((replies, log_index)) => Ok(ForwardOk {
            log_index,
            reply: BatchReply(replies),
        }),
        Err(ProposeError::NoLeader(m)) if m.starts_with(NOT_LEADER) => Err(m),
        Err(ProposeError::NoLeader(m)) => Err(format!("{NOT_LEADER}: {m}")),
        Err(e) => Err(e.to_string()),
    }
}
