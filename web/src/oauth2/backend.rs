//! What the OAuth2 endpoints need from a node, kept apart from [`Backend`] so neither grows
//! without bound. Grant logic (client authentication, scopes, PKCE, single use) lives behind
//! it; the web layer only parses requests and shapes RFC 6749 responses.

use std::collections::BTreeSet;
use std::future::Future;

use serde::Serialize;

use super::error::OAuthError;
use crate::backend::Backend;

/// Client credentials as presented (`client_secret_basic`, `client_secret_post`, or a public
/// client's bare `client_id`).
#[derive(Debug, Clone)]
pub struct ClientAuth {
    /// Claimed client id.
    pub client_id: String,
    /// Presented secret; `None` for a public client.
    pub secret: Option<String>,
    /// Sent in `Authorization: Basic` (a failure then answers 401 with `WWW-Authenticate`).
    pub via_basic: bool,
}

/// One token request, by grant type (RFC 6749 §4.1.3, §4.4.2, §6).
#[derive(Debug, Clone)]
pub enum GrantRequest {
    /// `client_credentials`.
    ClientCredentials {
        /// Requested scopes (space-separated), if any.
        scope: Option<String>,
    },
    /// `authorization_code`.
    AuthorizationCode {
        /// The code from the redirect.
        code: String,
        /// Must repeat the authorization request's, if it had one.
        redirect_uri: Option<String>,
        /// PKCE verifier.
        code_verifier: Option<String>,
    },
    /// `refresh_token`.
    RefreshToken {
        /// The refresh token.
        refresh_token: String,
        /// Requested (narrower) scopes, if any.
        scope: Option<String>,
    },
}

/// A successful token response (RFC 6749 §5.1); the tokens are shown once.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The bearer access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// A refresh token, for clients allowed the `refresh_token` grant on delegated grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes, space-separated (always sent: it may be narrower than requested).
    pub scope: String,
}

/// A registered client as the authorization endpoint shows and checks it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// Public identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Home page.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// Exact-match redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed grants.
    pub grant_types: BTreeSet<String>,
    /// Scopes it may be granted.
    pub scopes: BTreeSet<String>,
    /// No secret (PKCE required).
    pub public: bool,
}

/// The logged-in user behind a browser's NG cookie.
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// The session (CSRF tokens are bound to it).
    pub session_id: String,
    /// The user.
    pub user_id: u64,
    /// Login name, shown on the consent page.
    pub username: String,
    /// The user's effective scopes right now.
    pub scopes: BTreeSet<String>,
}

/// A consented authorization request, to turn into a code.
#[derive(Debug, Clone)]
pub struct CodeRequest {
    /// The client.
    pub client_id: String,
    /// The consenting user.
    pub user_id: u64,
    /// The request's `redirect_uri`, if it named one.
    pub redirect_uri: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
}

/// RFC 7662 §2.2 introspection response; inactive tokens say only `active: false`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Introspection {
    /// Whether the token may be used now.
    pub active: bool,
    /// Granted scopes, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user's login name, for delegated tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The user's id, for delegated tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Expiry, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Issue time, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// OAuth2 settings the node owns.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// RFC 8414 issuer, from the configuration only (never from a request's headers), without
    /// a trailing `/`.
    pub issuer: String,
    /// Cluster-wide key for consent CSRF tokens (a page may be shown by one node and posted
    /// to another).
    pub csrf_key: Vec<u8>,
}

/// The node side of the OAuth2 endpoints.
pub trait OAuthBackend: Backend {
    /// OAuth2 policy and keys.
    fn oauth_settings(&self) -> &OAuthSettings;
    /// A registered client, from local replicated state.
    fn oauth_client(&self, id: &str) -> Option<ClientInfo>;
    /// The user of a browser's session (found by [`crate::authn::browser_session`]), if
    /// still there.
    fn session_user(&self, session: &crate::accounts::PageSession) -> Option<SessionUser>;
    /// Authenticate the client and run one grant.
    fn token(
        &self,
        auth: ClientAuth,
        grant: GrantRequest,
    ) -> impl Future<Output = Result<TokenResponse, OAuthError>> + Send;
    /// Record a consented authorization; the code (shown once).
    fn create_code(
        &self,
        req: CodeRequest,
    ) -> impl Future<Output = Result<String, OAuthError>> + Send;
    /// RFC 7662, for an authenticated confidential client.
    fn introspect(
        &self,
        auth: ClientAuth,
        token: String,
    ) -> impl Future<Output = Result<Introspection, OAuthError>> + Send;
    /// RFC 7009: revoke a token issued to this client; every node refuses it before this returns.
    fn revoke(
        &self,
        auth: ClientAuth,
        token: String,
    ) -> impl Future<Output = Result<(), OAuthError>> + Send;
}
