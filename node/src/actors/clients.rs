//! The client-registry actor: register and revoke OAuth2 API clients, and propose their grants
//! (codes, redemptions, rotations, tokens), whose single use the state machine decides.

use std::collections::BTreeSet;

use authd_auth::{Client, Scope};
use authd_raft::{Command, Reply};
use authd_web::{BackendError, ClientCreated, NewClientRequest};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::{Deps, map_outcome, now_ms, reply_later};

/// Requests the clients actor takes.
pub enum ClientsMsg {
    /// Register a client; the owner is already resolved to an id.
    Add(
        NewClientRequest,
        u64,
        RpcReplyPort<Result<ClientCreated, BackendError>>,
    ),
    /// Remove a client and its tokens.
    Revoke(String, RpcReplyPort<Result<u64, BackendError>>),
    /// Propose one OAuth2 grant command; the state machine's verdict and the log index.
    Grant(Command, RpcReplyPort<Result<(Reply, u64), BackendError>>),
}

/// Stateless: all state is replicated.
pub struct ClientsActor;

const GRANTS: [&str; 3] = ["authorization_code", "client_credentials", "refresh_token"];

fn validate(req: &NewClientRequest) -> Result<(), BackendError> {
    let bad = |m: &str| Err(BackendError::Invalid(m.to_owned()));
    if req.name.trim().is_empty() || req.name.len() > 200 {
        return bad("name must be 1-200 characters");
    }
    if let Some(g) = req
        .grant_types
        .iter()
        .find(|g| !GRANTS.contains(&g.as_str()))
    {
        return Err(BackendError::Invalid(format!("unknown grant type {g:?}")));
    }
    if req.public && req.grant_types.iter().any(|g| g == "client_credentials") {
        return bad("a public client has no secret, so it cannot use client_credentials");
    }
    if req.grant_types.iter().any(|g| g == "authorization_code") && req.redirect_uris.is_empty() {
        return bad("authorization_code needs at least one redirect URI");
    }
    for u in &req.redirect_uris {
        authd_web::oauth2::redirect_uri::validate(u)
            .map_err(|e| BackendError::Invalid(e.to_string()))?;
    }
    let url = req.url.to_ascii_lowercase();
    if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://"))
        || req.url.len() > 2048
        || req.url.chars().any(char::is_whitespace)
    {
        return bad("url must be an http(s) URL (it is a link on the consent page)");
    }
    if req.description.len() > 4000 {
        return bad("description must be at most 4000 characters");
    }
    if let Some(s) = req.scopes.iter().find(|s| s.parse::<Scope>().is_err()) {
        return Err(BackendError::Invalid(format!(
            "scope {s:?} is not domain:action[:resource]"
        )));
    }
    Ok(())
}

impl Actor for ClientsActor {
    type Msg = ClientsMsg;
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
        msg: ClientsMsg,
        deps: &mut Deps,
    ) -> Result<(), ActorProcessingErr> {
        let deps = deps.clone();
        match msg {
            ClientsMsg::Add(req, owner_id, reply) => {
                if let Err(e) = validate(&req) {
                    let _ = reply.send(Err(e));
                    return Ok(());
                }
                reply_later(reply, async move { add(&deps, req, owner_id).await });
            }
            ClientsMsg::Revoke(client_id, reply) => {
                reply_later(reply, async move {
                    deps.ended(Command::RevokeClient { client_id }).await
                });
            }
            ClientsMsg::Grant(cmd, reply) => {
                reply_later(reply, async move {
                    deps.proposer
                        .propose_indexed(cmd)
                        .await
                        .map_err(|e| BackendError::Unavailable(e.to_string()))
                });
            }
        }
        Ok(())
    }
}

async fn add(
    deps: &Deps,
    req: NewClientRequest,
    owner_id: u64,
) -> Result<ClientCreated, BackendError> {
    let internal = |e: authd_auth::RandomError| BackendError::Internal(e.to_string());
    let id = authd_auth::random_hex(16).map_err(internal)?;
    let secret = if req.public {
        None
    } else {
        Some(authd_auth::random_hex(32).map_err(internal)?)
    };
    let client = Client {
        id: id.clone(),
        name: req.name.trim().to_owned(),
        url: req.url,
        description: req.description,
        owner_id,
        redirect_uris: req.redirect_uris,
        grant_types: req.grant_types.into_iter().collect::<BTreeSet<_>>(),
        scopes: req.scopes.into_iter().collect(),
        secret_digest: secret.as_deref().map(authd_auth::token_digest),
        created_ms: now_ms(),
    };
    map_outcome(deps.proposer.propose(Command::CreateClient(client)).await)?;
    Ok(ClientCreated {
        client_id: id,
        client_secret: secret,
    })
}
