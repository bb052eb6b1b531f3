//! What travels between nodes: Raft RPCs, forwarded writes and "wait until applied" calls.
//!
//! Encoded with bincode 2 (`serde`, `config::standard()`); the frame layer authenticates them.

use bincode::config;
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::frame::MAX_FRAME;
use crate::command::{Batch, BatchReply};
use crate::types::{NodeId, TypeConfig};

/// A request from one node to another; exactly one [`RpcReply`] answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Rpc {
    /// Raft log replication / heartbeat.
    Append(AppendEntriesRequest<TypeConfig>),
    /// Raft election.
    Vote(VoteRequest<NodeId>),
    /// One chunk of a Raft snapshot.
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A follower hands a batch of commands to the leader, which proposes it.
    Forward(Batch),
    /// Answer once the receiver's applied index is ≥ `index`, or after `timeout_ms`.
    WaitApplied {
        /// Log index to wait for.
        index: u64,
        /// Give up (with an error) after this long.
        timeout_ms: u64,
    },
    /// A follower asks the leader for a read lease (see `node`'s lease module).
    Lease {
        /// The asking node.
        node_id: NodeId,
    },
}

impl Rpc {
    /// Short name for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Append(_) => "append",
            Self::Vote(_) => "vote",
            Self::Snapshot(_) => "snapshot",
            Self::Forward(_) => "forward",
            Self::WaitApplied { .. } => "wait_applied",
            Self::Lease { .. } => "lease",
        }
    }
}

/// The leader's answer to a forwarded batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardOk {
    /// Log index of the entry that carried the batch (followers may wait for it).
    pub log_index: u64,
    /// One reply per command, in order.
    pub reply: BatchReply,
}

/// The answer to an [`Rpc`], variant for variant, or `Error` when the request could not be served.
#[derive(Debug, Serialize, Deserialize)]
pub enum RpcReply {
    /// Answer to [`Rpc::Append`].
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// Answer to [`Rpc::Vote`].
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// Answer to [`Rpc::Snapshot`].
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    /// Answer to [`Rpc::Forward`]; `Err` carries why the batch was not committed (e.g. not leader).
    Forward(Result<ForwardOk, String>),
    /// Answer to [`Rpc::WaitApplied`]: the applied index reached, or why not.
    WaitApplied(Result<u64, String>),
    /// Answer to [`Rpc::Lease`]: the index the follower must have applied to serve, or a refusal.
    Lease(Result<u64, String>),
    /// The server could not handle the request at all.
    Error(String),
}

impl RpcReply {
    /// Short name for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Append(_) => "append",
            Self::Vote(_) => "vote",
            Self::Snapshot(_) => "snapshot",
            Self::Forward(_) => "forward",
            Self::WaitApplied(_) => "wait_applied",
            Self::Lease(_) => "lease",
            Self::Error(_) => "error",
        }
    }
}

/// Encodes a message body.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, config::standard()).map_err(|e| e.to_string())
}

/// Decodes a message body, refusing trailing bytes. A length prefix may claim at most what a
/// frame can carry: without the limit bincode allocates whatever a string's prefix says before
/// reading it, so 13 bytes could ask for a terabyte and abort the node (found by the
/// `raft_frames` fuzz target).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let cfg = config::standard().with_limit::<MAX_FRAME>();
    let (value, used) = bincode::serde::decode_from_slice(bytes, cfg).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!(
            "{} trailing bytes",
            bytes.len().saturating_sub(used)
        ));
    }
    Ok(value)
}
