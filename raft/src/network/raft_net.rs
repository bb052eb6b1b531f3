//! openraft's view of the transport: a factory of per-target clients sharing per-address pools.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::auth::ClusterSecret;
use super::client::{PeerClient, TransportError};
use super::message::{Rpc, RpcReply};
use crate::types::{NodeAddr, NodeId, TypeConfig};

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, NodeAddr, RaftError<NodeId, E>>>;

/// The node's transport: one [`PeerClient`] (and so one pool) per peer address, shared by clones.
#[derive(Clone)]
pub struct Network {
    secret: ClusterSecret,
    peers: Arc<Mutex<HashMap<String, Arc<PeerClient>>>>,
    /// Peer address → the address actually dialed (a proxy on the link; config `raft_via`).
    routes: Arc<HashMap<String, String>>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network").finish_non_exhaustive()
    }
}

impl Network {
    /// A transport authenticating with `secret`; connects nothing until a call needs it.
    pub fn new(secret: ClusterSecret) -> Self {
        Self::with_routes(secret, HashMap::new())
    }

    /// Like [`Network::new`], but a peer whose address is a key of `routes` is dialed at the
    /// route's value instead (the pool stays keyed by the peer's own address).
    pub fn with_routes(secret: ClusterSecret, routes: HashMap<String, String>) -> Self {
        Self {
            secret,
            peers: Arc::new(Mutex::new(HashMap::new())),
            routes: Arc::new(routes),
        }
    }

    /// The pooled client for `addr`, so forwarding and `WaitApplied` reuse Raft's connections.
    pub fn peer(&self, addr: &str) -> Arc<PeerClient> {
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(peers.entry(addr.to_owned()).or_insert_with(|| {
            let dial = self.routes.get(addr).map_or(addr, String::as_str);
            Arc::new(PeerClient::new(dial, self.secret.clone()))
        }))
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> PeerNetwork {
        PeerNetwork {
            target,
            node: node.clone(),
            peer: self.peer(&node.raft),
        }
    }
}

/// openraft's handle on one target node; cheap, it only borrows the address's pool.
#[derive(Debug)]
pub struct PeerNetwork {
    target: NodeId,
    node: NodeAddr,
    peer: Arc<PeerClient>,
}

impl PeerNetwork {
    fn remote<E: std::error::Error>(
        &self,
        e: RaftError<NodeId, E>,
    ) -> RPCError<NodeId, NodeAddr, RaftError<NodeId, E>> {
        RPCError::RemoteError(RemoteError::new_with_node(
            self.target,
            self.node.clone(),
            e,
        ))
    }
}

/// `Unreachable` makes openraft back off; anything else is a plain network error it retries.
fn transport<E: std::error::Error>(
    e: TransportError,
) -> RPCError<NodeId, NodeAddr, RaftError<NodeId, E>> {
    match e {
        TransportError::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&e)),
        _ => RPCError::Network(NetworkError::new(&e)),
    }
}

fn unexpected<E: std::error::Error>(
    want: &str,
    got: &RpcReply,
) -> RPCError<NodeId, NodeAddr, RaftError<NodeId, E>> {
    let e = TransportError::Codec(format!("expected a {want} reply, got {}", got.kind()));
    RPCError::Network(NetworkError::new(&e))
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        let entries = rpc.entries.len();
        match self.peer.call(&Rpc::Append(rpc), option.soft_ttl()).await {
            Ok(RpcReply::Append(reply)) => reply.map_err(|e| self.remote(e)),
            Ok(other) => Err(unexpected("append", &other)),
            // Ask openraft to split the batch; a single oversized entry becomes Unreachable.
            Err(e @ TransportError::TooLarge(_)) if entries > 1 => {
                let hint = u64::try_from(entries / 2).unwrap_or(1);
                Err(RPCError::PayloadTooLarge(
                    PayloadTooLarge::new_entries_hint(hint).with_source_error(&e),
                ))
            }
            Err(e) => Err(transport(e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self.peer.call(&Rpc::Snapshot(rpc), option.soft_ttl()).await {
            Ok(RpcReply::Snapshot(reply)) => reply.map_err(|e| self.remote(e)),
            Ok(other) => Err(unexpected("snapshot", &other)),
            Err(e) => Err(transport(e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self.peer.call(&Rpc::Vote(rpc), option.soft_ttl()).await {
            Ok(RpcReply::Vote(reply)) => reply.map_err(|e| self.remote(e)),
            Ok(other) => Err(unexpected("vote", &other)),
            Err(e) => Err(transport(e)),
        }
    }
}
