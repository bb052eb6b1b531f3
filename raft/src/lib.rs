//! authd's replicated state: the command set, the in-memory state machine, the durable
//! Raft log, snapshots, and the authenticated node-to-node transport.
//!
//! `node` assembles these into a running `openraft::Raft`; nothing here knows about HTTP.
//!
//! # Durability
//!
//! A write is acknowledged only after openraft reports it committed, which requires a majority
//! to have the entry in their log *and fsynced* ([`log_store`] fires openraft's flush callback
//! only after `sync_data`). The state machine is in memory; restart = the last snapshot
//! ([`sm_store`], written atomically and fsynced) plus re-applying committed log entries, so
//! killing any minority — or every node at once — loses nothing that was acknowledged.
//!
//! # Revocation is immediate on every node
//!
//! Claim: once a revoking write (logout, end session, end all of a user, suspension, token or
//! client revocation, role or scope removal; see [`Command::narrows_access`]) is acknowledged,
//! no node answers `/auth` with 200 for the revoked credential.
//!
//! 1. A node answers a credentialed `/auth` only while it holds a *read lease*: the leader
//!    while a quorum acknowledged it within `L`; a follower while `now < t0 + L` and its
//!    applied index ≥ `c`, where `t0` is when the follower *sent* its last lease request and
//!    `c` the leader's applied index when it answered, after a linearizable read
//!    (`ensure_linearizable`). Otherwise it answers 503 (NGINX then asks another node).
//! 2. The revocation is entry `I`. The leader acknowledges only after it has applied `I` and,
//!    for each other voter, either that voter confirmed `applied ≥ I` (`Rpc::WaitApplied`) or
//!    `g + L·(1+δ)` has passed, where `g` is when the leader last answered that voter's lease
//!    request.
//! 3. A follower that did not confirm holds either a lease answered before `I` was applied —
//!    sent before `g`, so expired by `g + L` — or one answered after, which requires
//!    `applied ≥ I`. Either way it cannot serve the old state.
//! 4. Leases granted by an earlier leader expired before the current leader could be elected,
//!    since `L` < the election timeout (enforced at start-up) and the earlier leader had to
//!    confirm a quorum within `L` to grant.
//! 5. A follower that forwarded the write to the leader also waits to apply `I` itself before
//!    answering its client.
//!
//! Assumptions: clock *rates* agree within δ = 10 % (no synchronised clocks needed); a paused
//! or partitioned node is covered because its lease is measured from the send time of its own
//! request. The implementation is `node::lease`.

pub mod audit;
pub mod command;
pub mod guard;
pub mod keyring;
pub mod log_store;
pub mod network;
pub mod sm_store;
pub mod state;
pub mod tapir;
pub mod types;

pub use command::{Acknowledge, Applied, Batch, BatchReply, Command, Rejected, Reply, Visibility};
pub use state::State;
pub use types::{NodeAddr, NodeId, Raft, TypeConfig};
