//! The openraft type configuration and the address book entry of a node.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::command::{Batch, BatchReply};

/// Node ids are the `id`s of `cluster.toml`; never reuse one for a node with an empty log.
pub type NodeId = u64;

/// Where a member listens: `raft` for node-to-node traffic, `http` for clients and the CLI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    /// Internal listener (Raft RPCs, write forwarding), `host:port`.
    pub raft: String,
    /// Public HTTP listener, `host:port`.
    pub http: String,
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft={} http={}", self.raft, self.http)
    }
}

openraft::declare_raft_types!(
    /// authd's Raft types: a log entry carries a batch of domain commands.
    pub TypeConfig:
        D = Batch,
        R = BatchReply,
        NodeId = NodeId,
        Node = NodeAddr,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle every layer above uses.
pub type Raft = openraft::Raft<TypeConfig>;
