//! The node's side of the OAuth2 endpoints ([`OAuthBackend`]): client authentication, the
//! grants (in `grants`), codes, introspection and revocation, all on local replicated state
//! with writes through the OAuth2 actor.

mod apps;
mod grants;
mod limits;
mod management;

pub use limits::GrantLimits;

use std::sync::Arc;
use std::time::Duration;

use authd_auth::{AuthCode, Client, Token, TokenKind, token_digest};
use authd_raft::{Command, Reply};
use authd_web::oauth2::{
    ClientAuth, ClientInfo, CodeRequest, GrantRequest, Introspection, OAuthBackend, OAuthError,
    OAuthErrorCode, OAuthSettings, SessionUser, TokenResponse,
};
use authd_web::{Backend, BackendError};
use subtle::ConstantTimeEq;

use crate::actors::clients::ClientsMsg;
use crate::actors::now_ms;
use crate::backend::{NodeBackend, ask};

/// Access tokens live an hour.
pub const ACCESS_TTL_MS: u64 = 3_600_000;
/// Refresh families live 30 days from the code's redemption (rotation does not extend them).
pub const REFRESH_TTL_MS: u64 = 30 * 24 * 3_600_000;
/// Codes live a minute and are single use.
pub const CODE_TTL_MS: u64 = 60_000;
/// How long to wait for a credential created moments ago through another node.
const BEHIND_WAIT: Duration = Duration::from_millis(500);

fn unavailable(e: BackendError) -> OAuthError {
    match e {
        BackendError::Unavailable(m) => OAuthError::new(OAuthErrorCode::TemporarilyUnavailable, m),
        other => OAuthError::new(OAuthErrorCode::ServerError, other.to_string()),
    }
}

fn random_secret() -> Result<String, OAuthError> {
    authd_auth::random_hex(32)
        .map_err(|e| OAuthError::new(OAuthErrorCode::ServerError, e.to_string()))
}

fn client_info(c: &Client) -> ClientInfo {
    ClientInfo {
        id: c.id.clone(),
        name: c.name.clone(),
        url: c.url.clone(),
        description: c.description.clone(),
        redirect_uris: c.redirect_uris.clone(),
        grant_types: c.grant_types.clone(),
        scopes: c.scopes.clone(),
        public: c.secret_digest.is_none(),
    }
}

/// A fresh token for a client (and user), its secret and its record.
fn new_token(
    kind: TokenKind,
    user_id: Option<u64>,
    client_id: &str,
    scopes: &[String],
    now: u64,
    expires_ms: u64,
) -> Result<(String, Token), OAuthError> {
    let secret = random_secret()?;
    let t = Token {
        digest: token_digest(&secret),
        kind,
        user_id,
        client_id: Some(client_id.to_owned()),
        scopes: scopes.iter().cloned().collect(),
        created_ms: now,
        expires_ms,
        family: None,
    };
    Ok((secret, t))
}

impl NodeBackend {
    /// Propose through the client-registry actor: the state machine's verdict and the index.
    async fn propose_oauth(&self, cmd: Command) -> Result<(Reply, u64), OAuthError> {
        ask(self.inner().slots.clients.load_full(), |p| {
            ClientsMsg::Grant(cmd, p)
        })
        .await
        .map_err(unavailable)
    }

    /// Check the client's credentials in constant time; every failure is the same `invalid_client`.
    fn authenticate(&self, auth: &ClientAuth) -> Result<Arc<Client>, OAuthError> {
        let fail = || OAuthError::client(auth.via_basic);
        let client = self
            .inner()
            .reader
            .load()
            .state
            .client(&auth.client_id)
            .cloned();
        let presented = auth.secret.as_deref().map(token_digest);
        match (client, presented) {
            (Some(c), Some(p)) => {
                let ok = c
                    .secret_digest
                    .as_deref()
                    .is_some_and(|d| bool::from(d.as_bytes().ct_eq(p.as_bytes())));
                if ok { Ok(c) } else { Err(fail()) }
            }
            // A public client identifies itself; a confidential one must prove it.
            (Some(c), None) if c.secret_digest.is_none() && !auth.via_basic => Ok(c),
            _ => Err(fail()),
        }
    }

    /// Wait (briefly) until this node applied `index`, for credentials minted elsewhere.
    async fn catch_up(&self, index: Option<u64>) -> bool {
        let applied = self.inner().reader.applied_index().unwrap_or(0);
        match index {
            Some(i) if i > applied && self.may_wait_for(i) => {
                self.wait_applied(i, BEHIND_WAIT).await
            }
            _ => false,
        }
    }
}

impl OAuthBackend for NodeBackend {
    fn oauth_settings(&self) -> &OAuthSettings {
        &self.inner().oauth
    }

    fn oauth_client(&self, id: &str) -> Option<ClientInfo> {
        self.inner()
            .reader
            .load()
            .state
            .client(id)
            .map(|c| client_info(c))
    }

    fn session_user(&self, session: &authd_web::accounts::PageSession) -> Option<SessionUser> {
        let view = self.inner().reader.load();
        let u = view.state.user(session.user_id)?;
        Some(SessionUser {
            session_id: session.session_id.clone(),
            user_id: u.id,
            username: u.username.clone(),
            scopes: view.state.effective_scopes(u),
        })
    }

    async fn token(
        &self,
        auth: ClientAuth,
        grant: GrantRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate(&auth)?;
        self.inner().grant_limits.client(&client.id)?;
        let (name, allowed) = match &grant {
            GrantRequest::ClientCredentials { .. } => {
                ("client_credentials", client.secret_digest.is_some())
            }
            GrantRequest::AuthorizationCode { .. } => ("authorization_code", true),
            GrantRequest::RefreshToken { .. } => ("refresh_token", true),
        };
        if !allowed || !client.grant_types.contains(name) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                format!("this client may not use the {name} grant"),
            ));
        }
        let r = match grant {
            GrantRequest::ClientCredentials { scope } => {
                self.client_credentials(&client, scope).await
            }
            GrantRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.redeem(&client, &code, redirect_uri, code_verifier)
                    .await
            }
            GrantRequest::RefreshToken {
                refresh_token,
                scope,
            } => self.refresh(&client, &refresh_token, scope).await,
        };
        let outcome = if r.is_ok() { "ok" } else { "refused" };
        metrics::counter!("authd_oauth2_grants_total", "grant" => name, "outcome" => outcome)
            .increment(1);
        r
    }

    async fn create_code(&self, req: CodeRequest) -> Result<String, OAuthError> {
        let limits = &self.inner().grant_limits;
        limits.user(req.user_id)?;
        limits.client(&req.client_id)?;
        let secret = random_secret()?;
        let now = now_ms();
        let code = AuthCode {
            digest: token_digest(&secret),
            client_id: req.client_id,
            user_id: req.user_id,
            redirect_uri: req.redirect_uri,
            scopes: req.scopes.into_iter().collect(),
            code_challenge: req.code_challenge,
            created_ms: now,
            expires_ms: now + CODE_TTL_MS,
            redeemed_family: None,
        };
        match self.propose_oauth(Command::CreateCode(code)).await? {
            (Ok(_), idx) => Ok(format!("{secret}.{idx}")),
            (Err(rej), _) => Err(OAuthError::new(
                OAuthErrorCode::AccessDenied,
                rej.to_string(),
            )),
        }
    }

    async fn introspect(
        &self,
        auth: ClientAuth,
        token: String,
    ) -> Result<Introspection, OAuthError> {
        self.introspect_token(auth, token).await
    }

    async fn revoke(&self, auth: ClientAuth, token: String) -> Result<(), OAuthError> {
        self.revoke_token(auth, token).await
    }
}
