//! The sessions actor: start and end sessions.

use authd_auth::{Session, Token};
use authd_raft::Command;
use authd_web::{BackendError, NewSession};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::{Deps, now_ms, reply_later};

/// Requests the sessions actor takes.
pub enum SessionsMsg {
    /// Start a session.
    Create(
        NewSession,
        RpcReplyPort<Result<(Session, u64), BackendError>>,
    ),
    /// End one session.
    End(String, RpcReplyPort<Result<u64, BackendError>>),
    /// End every session, token and grant of a user ("log out everywhere").
    EndAllOf(u64, RpcReplyPort<Result<u64, BackendError>>),
    /// Record an access token (already validated); replies with the entry's log index.
    IssueToken(Token, RpcReplyPort<Result<u64, BackendError>>),
    /// Revoke a token by digest.
    RevokeToken(String, RpcReplyPort<Result<u64, BackendError>>),
}

/// Stateless: all state is replicated.
pub struct SessionsActor;

/// Longest session an operator may create (30 days).
const MAX_TTL_SECS: u64 = 30 * 24 * 3600;

impl Actor for SessionsActor {
    type Msg = SessionsMsg;
    type State = Deps;
    type Arguments = Deps;

    async fn pre_start(
        &self,
        _me: ActorRef<Self::Msg>,
        deps: Deps,
    ) -> Result<Deps, ActorProcessingErr> {
        Ok(deps)
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        msg: SessionsMsg,
        deps: &mut Deps,
    ) -> Result<(), ActorProcessingErr> {
        let deps = deps.clone();
        match msg {
            SessionsMsg::Create(req, reply) => {
                let ttl = req.ttl_secs.unwrap_or(deps.session_ttl_secs);
                if ttl == 0 || ttl > MAX_TTL_SECS {
                    let why = format!("ttl_secs must be 1..={MAX_TTL_SECS}");
                    let _ = reply.send(Err(BackendError::Invalid(why)));
                    return Ok(());
                }
                reply_later(reply, async move { create(&deps, req, ttl).await });
            }
            SessionsMsg::End(session_id, reply) => {
                reply_later(reply, async move {
                    deps.ended(Command::EndSession { session_id }).await
                });
            }
            SessionsMsg::EndAllOf(user_id, reply) => {
                reply_later(reply, async move {
                    let cmd = Command::EndUserAccess {
                        user_id,
                        keep_session: None,
                        password_hash: None,
                    };
                    deps.ended(cmd).await
                });
            }
            SessionsMsg::IssueToken(token, reply) => {
                reply_later(reply, async move {
                    deps.indexed(Command::IssueToken(token)).await
                });
            }
            SessionsMsg::RevokeToken(digest, reply) => {
                reply_later(reply, async move {
                    deps.ended(Command::RevokeToken { digest }).await
                });
            }
        }
        Ok(())
    }
}

async fn create(
    deps: &Deps,
    req: NewSession,
    ttl_secs: u64,
) -> Result<(Session, u64), BackendError> {
    let id = authd_auth::random_hex(16).map_err(|e| BackendError::Internal(e.to_string()))?;
    let nonce = authd_auth::random_hex(16).map_err(|e| BackendError::Internal(e.to_string()))?;
    let created_ms = now_ms();
    let session = Session {
        id,
        user_id: req.user_id,
        nonce,
        created_ms,
        expires_ms: created_ms.saturating_add(ttl_secs.saturating_mul(1000)),
        ip: req.ip,
        user_agent: req.user_agent,
        tapir_session_id: None,
    };
    let index = deps.create_session(session.clone()).await?;
    Ok((session, index))
}
