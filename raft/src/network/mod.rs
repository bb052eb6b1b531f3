//! The authenticated node-to-node transport: Raft RPCs and forwarded writes over a separate
//! internal TCP listener.
//!
//! Every connection starts with a mutual challenge-response handshake on the cluster secret
//! ([`auth`]), then carries MACed, sequence-numbered frames ([`frame`]) holding bincode
//! messages ([`message`]). [`server::serve`] answers them; [`client::PeerClient`] pools
//! connections per peer; [`raft_net::Network`] plugs the client into openraft.

#![allow(clippy::result_large_err)]

pub mod auth;
pub mod client;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod message;
pub mod raft_net;
pub mod server;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_refusal;

pub use auth::{ClusterSecret, SecretTooShort};
pub use client::{PeerClient, TransportError};
pub use frame::MAX_FRAME;
pub use message::{ForwardOk, Rpc, RpcReply};
pub use raft_net::{Network, PeerNetwork};
pub use server::{RpcHandler, serve};
