//! The node's implementation of the web layer's [`Backend`] handle.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use authd_raft::{NodeAddr, Raft};
use authd_raft::log_store::CommittedHandle;
use authd_raft::sm_store::StateReader;
use authd_web::{Backend, BackendError, ClusterStatus, MemberView, NewSession, NewUserRequest, SessionView, UserView};
use metrics_exporter_prometheus::PrometheusHandle;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, ServerState};
use ractor::rpc::CallResult;
use ractor::{ActorRef, RpcReplyPort};

use crate::actors::Slots;
use crate::actors::sessions::SessionsMsg;
use crate::actors::users::UsersMsg;
use crate::actors::now_ms;
use crate::views::{session_view, user_view};

/// How long a web request waits for an actor's answer (covers a leader election).
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Everything a request handler may touch on this node.
#[derive(Clone)]
pub struct NodeBackend {
    inner: Arc<Inner>,
}

struct Inner {
    raft: Raft,
    reader: StateReader,
    committed: CommittedHandle,
    slots: Slots,
    cluster_secret: Vec<u8>,
    prometheus: PrometheusHandle,
}

impl NodeBackend {
    /// Assemble the handle.
    pub fn new(
        raft: Raft,
        reader: StateReader,
        committed: CommittedHandle,
        slots: Slots,
        cluster_secret: Vec<u8>,
        prometheus: PrometheusHandle,
    ) -> Self {
        NodeBackend { inner: Arc::new(Inner { raft, reader, committed, slots, cluster_secret, prometheus }) }
    }
}

async fn ask<M, T>(actor: Option<Arc<ActorRef<M>>>, msg: impl FnOnce(RpcReplyPort<Result<T, BackendError>>) -> M) -> Result<T, BackendError>
where
    M: ractor::Message,
    T: Send + 'static,
{
    let actor = actor.ok_or_else(|| BackendError::Unavailable("actor restarting".into()))?;
    match actor.call(msg, Some(CALL_TIMEOUT)).await {
        Ok(CallResult::Success(r)) => r,
        Ok(CallResult::Timeout) => Err(BackendError::Unavailable("write timed out; its outcome is unknown".into())),
        Ok(CallResult::SenderError) | Err(_) => Err(BackendError::Unavailable("actor unavailable".into())),
    }
}

fn role(s: ServerState) -> &'static str {
    match s {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

impl Backend for NodeBackend {
    fn cluster_status(&self) -> ClusterStatus {
        let m = self.inner.raft.metrics().borrow().clone();
        let members = m
            .membership_config
            .membership()
            .nodes()
            .map(|(id, n)| MemberView { id: *id, raft: n.raft.clone(), http: n.http.clone() })
            .collect();
        ClusterStatus {
            node_id: m.id,
            role: role(m.state).into(),
            leader_id: m.current_leader,
            term: m.current_term,
            last_applied: m.last_applied.map(|l| l.index),
            last_log_index: m.last_log_index,
            committed: self.inner.committed.get(),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            members,
        }
    }

    fn readiness(&self) -> Result<(), String> {
        let m = self.inner.raft.metrics().borrow().clone();
        if m.current_leader.is_none() {
            return Err("no known leader".into());
        }
        if !matches!(m.state, ServerState::Leader | ServerState::Follower) {
            return Err(format!("node is {}", role(m.state)));
        }
        let applied = self.inner.reader.applied_index();
        match self.inner.committed.get() {
            Some(c) if applied < Some(c) => Err(format!("catching up: applied {applied:?} of {c}")),
            _ => Ok(()),
        }
    }

    fn metrics_text(&self) -> String {
        self.inner.prometheus.render()
    }

    fn cluster_secret(&self) -> &[u8] {
        &self.inner.cluster_secret
    }

    async fn add_user(&self, req: NewUserRequest) -> Result<UserView, BackendError> {
        ask(self.inner.slots.users.load_full(), |p| UsersMsg::Add(req, p)).await
    }

    fn user(&self, key: &str) -> Option<UserView> {
        let view = self.inner.reader.load();
        let u = match key.parse::<u64>() {
            Ok(id) => view.state.user(id),
            Err(_) => view.state.user_by_login(key),
        };
        u.map(|u| user_view(u))
    }

    async fn create_session(&self, req: NewSession) -> Result<SessionView, BackendError> {
        ask(self.inner.slots.sessions.load_full(), |p| SessionsMsg::Create(req, p)).await
    }

    fn session(&self, id: &str) -> Option<SessionView> {
        let view = self.inner.reader.load();
        view.state.live_session(id, now_ms()).map(|(s, _)| session_view(s))
    }

    async fn end_session(&self, id: &str) -> Result<u64, BackendError> {
        ask(self.inner.slots.sessions.load_full(), |p| SessionsMsg::End(id.to_owned(), p)).await
    }

    async fn add_member(&self, m: MemberView) -> Result<ClusterStatus, BackendError> {
        let raft = &self.inner.raft;
        if m.id == 0 || m.raft.parse::<std::net::SocketAddr>().is_err() || m.http.parse::<std::net::SocketAddr>().is_err() {
            return Err(BackendError::Invalid("id must be > 0 and raft/http must be host:port addresses".into()));
        }
        let node = NodeAddr { raft: m.raft, http: m.http };
        // Blocking: returns once the learner has caught up, so promotion cannot stall the quorum.
        raft.add_learner(m.id, node, true).await.map_err(membership_error)?;
        raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([m.id])), false)
            .await
            .map_err(membership_error)?;
        tracing::info!(node = m.id, "added voter");
        Ok(self.cluster_status())
    }

    async fn remove_member(&self, id: u64) -> Result<ClusterStatus, BackendError> {
        let voters: BTreeSet<u64> = self.inner.raft.metrics().borrow().membership_config.membership().voter_ids().collect();
        if !voters.contains(&id) {
            return Err(BackendError::NotFound(format!("node {id} is not a voter")));
        }
        if voters.len() <= 1 {
            return Err(BackendError::Invalid("refusing to remove the last voter".into()));
        }
        self.inner
            .raft
            .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
            .await
            .map_err(membership_error)?;
        tracing::info!(node = id, "removed voter");
        Ok(self.cluster_status())
    }
}

fn membership_error(e: RaftError<u64, ClientWriteError<u64, NodeAddr>>) -> BackendError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            BackendError::Unavailable(format!("not the leader; ask node {:?}", f.leader_id))
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => BackendError::Conflict(c.to_string()),
        other => BackendError::Unavailable(other.to_string()),
    }
}
