//! The per-node actors that own the write path: validate, propose through Raft, answer after
//! apply. Reads never pass through them. A supervisor restarts any actor that dies.
//!
//! An actor's `handle` only validates and hands the awaiting to a task, so one slow write
//! (a password hash, a leader change) never holds up the mailbox; the proposer batches the
//! commands that pile up meanwhile.

pub mod clients;
pub mod sessions;
pub mod supervisor;
pub mod users;

use std::sync::Arc;

use authd_raft::sm_store::StateReader;
use authd_raft::{Rejected, Reply};
use authd_web::BackendError;

use crate::passwords::Hasher;
use crate::proposer::{ProposeError, Proposer};

/// What every actor needs; cloned into each (re)start.
#[derive(Clone)]
pub struct Deps {
    /// The write path into Raft.
    pub proposer: Proposer,
    /// Local replicated state, for validation.
    pub reader: StateReader,
    /// Argon2id pool.
    pub hasher: Hasher,
    /// Default session lifetime.
    pub session_ttl_secs: u64,
    /// Live sessions one user may hold (`[sessions] max_per_user`).
    pub max_sessions_per_user: u32,
}

impl Deps {
    /// Start `session`, ending the user's oldest beyond the cap; the entry's log index.
    pub async fn create_session(&self, session: authd_auth::Session) -> Result<u64, BackendError> {
        self.indexed(authd_raft::Command::CreateCappedSession {
            session,
            max_per_user: self.max_sessions_per_user,
        })
        .await
    }
}

impl Deps {
    /// Propose a revoking command; how many sessions or tokens it ended.
    pub async fn ended(&self, cmd: authd_raft::Command) -> Result<u64, BackendError> {
        map_outcome(self.proposer.propose(cmd).await).map(ended)
    }

    /// Propose a command; the log index of its entry (for credentials that carry it).
    pub async fn indexed(&self, cmd: authd_raft::Command) -> Result<u64, BackendError> {
        let r = self.proposer.propose_indexed(cmd).await;
        let index = r.as_ref().map_or(0, |(_, i)| *i);
        map_outcome(r.map(|(reply, _)| reply)).map(|_| index)
    }
}

/// Shared so the backend can find the current incarnation of each actor.
pub type Slots = Arc<supervisor::ActorSlots>;

/// Map a proposal's outcome to the web layer's error.
pub fn map_outcome(r: Result<Reply, ProposeError>) -> Result<authd_raft::Applied, BackendError> {
    match r {
        Ok(Ok(a)) => Ok(a),
        Ok(Err(rej)) => Err(match rej {
            Rejected::UnknownUser | Rejected::UnknownClient | Rejected::UnknownRole => {
                BackendError::NotFound(rej.to_string())
            }
            Rejected::Invalid(_) | Rejected::Suspended | Rejected::InvalidGrant => {
                BackendError::Invalid(rej.to_string())
            }
            Rejected::UsernameTaken
            | Rejected::EmailTaken
            | Rejected::UserIdTaken
            | Rejected::Duplicate
            | Rejected::AlreadyUsed => BackendError::Conflict(rej.to_string()),
        }),
        Err(e @ ProposeError::NoLeader(_)) => Err(BackendError::Unavailable(e.to_string())),
        Err(e) => Err(BackendError::Unavailable(e.to_string())),
    }
}

/// A hashing failure as the web layer sees it: a saturated pool is "try again", not a fault.
pub fn hash_error(e: crate::passwords::HashError) -> BackendError {
    match e {
        crate::passwords::HashError::Busy => BackendError::Unavailable(e.to_string()),
        crate::passwords::HashError::Failed(_) => BackendError::Internal(e.to_string()),
    }
}

/// Do `work` off the mailbox and send its result to `reply`: the actor's `handle` returns at
/// once, so a slow write never holds up the next message.
pub fn reply_later<T, F>(reply: ractor::RpcReplyPort<T>, work: F)
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    tokio::spawn(async move {
        let _ = reply.send(work.await);
    });
}

/// `Applied::Ended(n)` as a count (0 for other outcomes).
pub fn ended(a: authd_raft::Applied) -> u64 {
    match a {
        authd_raft::Applied::Ended(n) => n,
        _ => 0,
    }
}

/// Unix time in milliseconds; the proposer stamps it into commands so replicas agree.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
