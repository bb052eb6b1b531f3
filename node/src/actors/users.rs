//! The users actor: account creation (and, later, profile and role changes).

use std::collections::BTreeSet;

use authd_raft::command::NewUser;
use authd_raft::{Applied, Command};
use authd_web::{BackendError, NewUserRequest, UserView};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::{Deps, map_outcome, now_ms, reply_later};
use crate::views::user_view;

/// Requests the users actor takes.
pub enum UsersMsg {
    /// Register an account.
    Add(NewUserRequest, RpcReplyPort<Result<UserView, BackendError>>),
    /// Suspend (ends every session and token) or reinstate.
    Suspend(u64, bool, RpcReplyPort<Result<u64, BackendError>>),
    /// A role or extra-scope change (already resolved to a user id).
    Grants(Box<Command>, RpcReplyPort<Result<Applied, BackendError>>),
    /// A change to account records decided by the accounts pages (registration, verification,
    /// profile, password), already validated and hashed.
    Write(Box<Command>, RpcReplyPort<Result<Applied, BackendError>>),
}

/// Whether the accounts pages may propose `cmd` through [`UsersMsg::Write`].
fn is_account_write(cmd: &Command) -> bool {
    match cmd {
        Command::CreateUser(_)
        | Command::SetVerified { .. }
        | Command::UpdateProfile { .. }
        | Command::EndUserAccess { .. }
        | Command::Nothing => true,
        Command::Once { then, .. } => is_account_write(then),
        _ => false,
    }
}

/// Stateless: all state is replicated; `Deps` reach it.
pub struct UsersActor;

fn validate(req: &NewUserRequest) -> Result<(), BackendError> {
    let u = req.username.trim();
    if u.is_empty()
        || u.len() > 64
        || !u
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(BackendError::Invalid(
            "username must be 1-64 characters of A-Z a-z 0-9 _ . -".into(),
        ));
    }
    if authd_auth::user_ref::is_all_digits(u) {
        return Err(BackendError::Invalid(
            "username must not be all digits (it would read as a user id)".into(),
        ));
    }
    let e = req.email.trim();
    let valid_email = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !e.chars().any(char::is_whitespace);
    if !valid_email {
        return Err(BackendError::Invalid("email is not a valid address".into()));
    }
    if req.password.chars().count() < 8 || req.password.len() > 1024 {
        return Err(BackendError::Invalid(
            "password must be 8-1024 characters".into(),
        ));
    }
    Ok(())
}

impl Actor for UsersActor {
    type Msg = UsersMsg;
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
        msg: UsersMsg,
        deps: &mut Deps,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            UsersMsg::Add(req, reply) => {
                if let Err(e) = validate(&req) {
                    let _ = reply.send(Err(e));
                    return Ok(());
                }
                let deps = deps.clone();
                reply_later(reply, async move { add(&deps, req).await });
            }
            UsersMsg::Grants(cmd, reply) => {
                let ok = matches!(
                    *cmd,
                    Command::GrantRole { .. }
                        | Command::DefineRole { .. }
                        | Command::RevokeRole { .. }
                        | Command::GrantScope { .. }
                        | Command::RevokeScope { .. }
                );
                if !ok {
                    let _ = reply.send(Err(BackendError::Internal("not a grant command".into())));
                    return Ok(());
                }
                let deps = deps.clone();
                reply_later(reply, async move {
                    map_outcome(deps.proposer.propose(*cmd).await)
                });
            }
            UsersMsg::Write(cmd, reply) => {
                if !is_account_write(&cmd) {
                    let _ =
                        reply.send(Err(BackendError::Internal("not an account command".into())));
                    return Ok(());
                }
                let deps = deps.clone();
                reply_later(reply, async move {
                    map_outcome(deps.proposer.propose(*cmd).await)
                });
            }
            UsersMsg::Suspend(user_id, suspended, reply) => {
                let deps = deps.clone();
                reply_later(reply, async move {
                    deps.ended(Command::SetSuspended { user_id, suspended })
                        .await
                });
            }
        }
        Ok(())
    }
}

async fn add(deps: &Deps, req: NewUserRequest) -> Result<UserView, BackendError> {
    let view = deps.reader.load();
    if view.state.user_by_login(&req.username).is_some()
        || view.state.user_by_login(&req.email).is_some()
    {
        return Err(BackendError::Conflict(
            "username or e-mail already registered".into(),
        ));
    }
    let password_hash = deps
        .hasher
        .hash(req.password)
        .await
        .map_err(super::hash_error)?;
    let mut roles = BTreeSet::from(["user".to_owned()]);
    if req.admin {
        roles.insert("admin".to_owned());
    }
    let cmd = Command::CreateUser(NewUser {
        id: None,
        username: req.username.trim().to_owned(),
        email: req.email.trim().to_owned(),
        name: None,
        profile: None,
        verified: true,
        roles,
        password_hash,
        created_ms: now_ms(),
    });
    match map_outcome(deps.proposer.propose(cmd).await)? {
        Applied::UserId(id) => deps
            .reader
            .load()
            .state
            .user(id)
            .map(|u| user_view(u))
            .ok_or_else(|| BackendError::Internal("created user not visible after apply".into())),
        other => Err(BackendError::Internal(format!(
            "unexpected outcome {other:?}"
        ))),
    }
}
