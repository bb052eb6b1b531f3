//! The OAuth2 actor: proposes grant commands (codes, redemptions, rotations) and hands back
//! the state machine's verdict with the entry's log index, since single use is decided there.

use authd_raft::{Command, Reply};
use authd_web::BackendError;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::{Deps, reply_later};

/// Requests the OAuth2 actor takes.
pub enum OAuthMsg {
    /// Propose one command; the verdict (accepted or rejected) and the log index.
    Propose(Command, RpcReplyPort<Result<(Reply, u64), BackendError>>),
}

/// Stateless: all state is replicated.
pub struct OAuthActor;

impl Actor for OAuthActor {
    type Msg = OAuthMsg;
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
        msg: OAuthMsg,
        deps: &mut Deps,
    ) -> Result<(), ActorProcessingErr> {
        let deps = deps.clone();
        match msg {
            OAuthMsg::Propose(cmd, reply) => reply_later(reply, async move {
                deps.proposer
                    .propose_indexed(cmd)
                    .await
                    .map_err(|e| BackendError::Unavailable(e.to_string()))
            }),
        }
        Ok(())
    }
}
