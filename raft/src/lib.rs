//! authd's replicated state: the command set, the in-memory state machine, the durable
//! Raft log, snapshots, and the authenticated node-to-node transport.
//!
//! `node` assembles these into a running `openraft::Raft`; nothing here knows about HTTP.

pub mod command;
pub mod log_store;
pub mod network;
pub mod sm_store;
pub mod state;
pub mod types;

pub use command::{Applied, Batch, BatchReply, Command, Rejected, Reply};
pub use state::State;
pub use types::{NodeAddr, NodeId, Raft, TypeConfig};
