//! The handle the web layer uses to reach the node: reads from local replicated state,
//! writes through the actors (and so through Raft).

use std::future::Future;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a backend call failed; each maps to one HTTP status.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The request is malformed or fails validation (400).
    #[error("{0}")]
    Invalid(String),
    /// It clashes with existing state (409).
    #[error("{0}")]
    Conflict(String),
    /// The target does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The cluster cannot take the write right now, e.g. no quorum (503).
    #[error("{0}")]
    Unavailable(String),
    /// A fault on our side (500); never used for client mistakes.
    #[error("{0}")]
    Internal(String),
}

/// One member of the Raft configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberView {
    /// Node id.
    pub id: u64,
    /// Internal listener.
    pub raft: String,
    /// Public HTTP listener.
    pub http: String,
}

/// `GET /api/v1/cluster`: what an operator needs to see the cluster's health at a glance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClusterStatus {
    /// This node.
    pub node_id: u64,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: String,
    /// The leader this node knows of.
    pub leader_id: Option<u64>,
    /// Current term.
    pub term: u64,
    /// Last applied log index.
    pub last_applied: Option<u64>,
    /// Last index in this node's log.
    pub last_log_index: Option<u64>,
    /// Highest index this node knows to be committed.
    pub committed: Option<u64>,
    /// Index covered by the current snapshot.
    pub snapshot_index: Option<u64>,
    /// Log purged up to this index.
    pub purged_index: Option<u64>,
    /// Voters and learners.
    pub members: Vec<MemberView>,
}

/// A user as the API shows it: never the password hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserView {
    /// Numeric id.
    pub id: u64,
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Role names.
    pub roles: Vec<String>,
    /// Extra scopes granted to the user.
    pub scopes: Vec<String>,
    /// Suspended accounts cannot log in.
    pub suspended: bool,
    /// E-mail verified.
    pub verified: bool,
}

/// `POST /api/v1/users`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// 1-64 characters of `[A-Za-z0-9_.-]`.
    pub username: String,
    /// An e-mail address.
    pub email: String,
    /// Plain password; hashed with Argon2id before it goes anywhere.
    pub password: String,
    /// Grant the `admin` role.
    #[serde(default)]
    pub admin: bool,
}

/// `POST /api/v1/sessions`: an operator-made session (tests, benchmarks, support).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// Owner.
    pub user_id: u64,
    /// Lifetime; the server's default when absent.
    pub ttl_secs: Option<u64>,
    /// Client address to record.
    pub ip: Option<String>,
    /// User agent to record.
    pub user_agent: Option<String>,
}

/// A session as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionView {
    /// Session id.
    pub session_id: String,
    /// Owner.
    pub user_id: u64,
    /// Start, Unix ms.
    pub created_ms: u64,
    /// End, Unix ms.
    pub expires_ms: u64,
    /// Address at login.
    pub ip: Option<String>,
    /// Browser at login.
    pub user_agent: Option<String>,
}

/// A role as the admin API shows and takes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RoleView {
    /// Role name.
    pub name: String,
    /// Its scopes.
    pub scopes: Vec<String>,
}

/// A change to what a user may do (`authd role grant|revoke`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantChange {
    /// Give a role.
    GrantRole(String),
    /// Take a role away.
    RevokeRole(String),
    /// Give an extra scope.
    GrantScope(String),
    /// Take an extra scope away.
    RevokeScope(String),
}

/// A credential found on a `/auth` request, in the order DESIGN.md fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer <token>`: an opaque access token.
    Bearer(String),
    /// Every value of the NG session cookie, tried in order.
    NgCookies(Vec<String>),
    /// Legacy mode: the NG cookie values (tried first), then every `tapir_session` value.
    Cookies {
        /// NG cookie values.
        ng: Vec<String>,
        /// Legacy cookie values, in the order the browser sent them.
        tapir: Vec<String>,
    },
}

/// The node's answer to a `/auth` check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// No credential: pass through anonymously.
    Anonymous,
    /// Authenticated and authorized: the upstream JWT.
    Allow(String),
    /// A credential was presented but is not valid (forged, expired, revoked, unknown).
    Unauthorized {
        /// Why, safe to show.
        reason: String,
        /// The NG cookie should be deleted.
        clear_cookie: bool,
    },
    /// Valid, but lacks required scopes.
    Forbidden(Vec<String>),
    /// This node cannot decide safely right now: fail closed.
    Unavailable(String),
    /// This node's read lease is not current (a renewal is late): wait briefly for the next
    /// one, then decide again; still not current, fail closed (503).
    NotCurrent,
    /// The credential names a session created at this log index, which this node has not
    /// applied yet: wait for it (briefly), then decide again.
    Behind(u64),
    /// A correctly signed legacy cookie this cluster has not seen yet (the legacy site's own
    /// login): validate it once against the legacy database, then decide again from state.
    Legacy(String),
}

/// A browser's session as the cookie rule `/auth` applies decides it, for the pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserLookup {
    /// Not logged in: no valid session, or valid sessions of different users.
    Anonymous,
    /// The live session the cookies name.
    Session(crate::accounts::PageSession),
    /// As [`AuthDecision::NotCurrent`].
    NotCurrent,
    /// As [`AuthDecision::Behind`].
    Behind(u64),
    /// As [`AuthDecision::Legacy`].
    Legacy(String),
}

/// A login attempt.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// Username or e-mail.
    pub login: String,
    /// Password as typed.
    pub password: String,
    /// Client address.
    pub ip: Option<String>,
    /// Browser.
    pub user_agent: Option<String>,
}

/// A successful login: the cookie to set.
#[derive(Debug, Clone)]
pub struct LoginOk {
    /// Signed NG cookie value.
    pub cookie: String,
    /// Cookie lifetime.
    pub max_age_secs: u64,
    /// Further complete `Set-Cookie` values (legacy mode: `tapir_session`).
    pub extra_cookies: Vec<String>,
}

/// Web-facing settings the node owns (from `cluster.toml`).
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// NG cookie attributes.
    pub cookie: crate::cookies::CookieSettings,
    /// Hosts (and their subdomains) `next_page` may point to.
    pub redirect_hosts: Vec<String>,
    /// Where to go after login when no (safe) `next_page` is given.
    pub default_next_page: String,
    /// Answer 401 instead of anonymous 200 when `/auth` sees no credential.
    pub require_auth: bool,
    /// Peers (e.g. the NGINX in front) whose `X-Real-IP` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Legacy mode: the `tapir_session` cookie, read by `/auth` and cleared on logout.
    pub legacy_cookie: Option<crate::cookies::CookieSettings>,
    /// How long a form token made before login (no session yet) is accepted.
    pub login_csrf_ttl_secs: u64,
    /// Live sessions one user may hold (shown when the cap ended some).
    pub max_sessions_per_user: u32,
    /// Per-address limits on anonymous pages that cost CPU (registration, captcha pictures).
    pub page_limits: std::sync::Arc<crate::rate_limit::PageLimits>,
}

/// `POST /api/v1/clients` (and `authd client add`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClientRequest {
    /// Display name.
    pub name: String,
    /// Responsible user (username, e-mail, or `id:N`).
    pub owner: String,
    /// Exact-match redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Allowed grants: `client_credentials`, `authorization_code`, `refresh_token`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Scopes the client may be granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// A public client (no secret; PKCE required).
    #[serde(default)]
    pub public: bool,
    /// Home page.
    #[serde(default)]
    pub url: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
}

/// The answer to a client registration: the secret is shown this once and never stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientCreated {
    /// Public identifier.
    pub client_id: String,
    /// 256-bit secret (hex); `None` for public clients.
    pub client_secret: Option<String>,
}

/// A client as the API lists it (never the secret or its digest).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientView {
    /// Public identifier.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Responsible user.
    pub owner_id: u64,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed grants.
    pub grant_types: Vec<String>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// Public (no secret).
    pub public: bool,
    /// Home page.
    #[serde(default)]
    pub url: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Registration time, Unix ms.
    #[serde(default)]
    pub created_ms: u64,
}

/// A page of a list: `next` is the cursor for `?after=`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor of the next page, if any.
    pub next: Option<String>,
}

/// `POST /api/v1/tokens` (and `authd token mint`): a revocable access token for a user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintTokenRequest {
    /// The user it acts for (an `authd_auth::user_ref`).
    pub user: String,
    /// Scopes; each must be among the user's; default: all of the user's.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Lifetime; default one hour, at most 30 days.
    pub ttl_secs: Option<u64>,
}

/// An issued token, in RFC 6749's shape; the token is shown once and stored only as a digest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MintedToken {
    /// The bearer token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Granted scopes, space-separated.
    pub scope: String,
}

/// What the web layer needs from a node.
pub trait Backend: Clone + Send + Sync + 'static {
    /// Raft role, term, indexes and members of this node.
    fn cluster_status(&self) -> ClusterStatus;
    /// `Ok` when this node knows a leader and has applied what it knows to be committed.
    fn readiness(&self) -> Result<(), String>;
    /// Prometheus text exposition.
    fn metrics_text(&self) -> String;
    /// The cluster secret, to check operator (CLI) request signatures.
    fn cluster_secret(&self) -> &[u8];
    /// Create a user (hashes the password off the async runtime).
    fn add_user(
        &self,
        req: NewUserRequest,
    ) -> impl Future<Output = Result<UserView, BackendError>> + Send;
    /// A user by reference (`authd_auth::user_ref`), from this node's replicated state.
    fn user(&self, key: &str) -> Option<UserView>;
    /// Start a session for a user.
    fn create_session(
        &self,
        req: NewSession,
    ) -> impl Future<Output = Result<SessionView, BackendError>> + Send;
    /// A live session by id, from this node's replicated state.
    fn session(&self, id: &str) -> Option<SessionView>;
    /// End a session; returns how many ended (0 if it was already gone).
    fn end_session(&self, id: &str) -> impl Future<Output = Result<u64, BackendError>> + Send;
    /// Add a voter (as a learner first, caught up, then promoted); leader only.
    fn add_member(
        &self,
        member: MemberView,
    ) -> impl Future<Output = Result<ClusterStatus, BackendError>> + Send;
    /// End every session of a user (an `authd_auth::user_ref`); returns how many ended.
    fn end_user_sessions(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<u64, BackendError>> + Send;
    /// Suspend a user (an `authd_auth::user_ref`): ends their sessions and tokens everywhere before returning.
    fn suspend_user(
        &self,
        key: &str,
        suspended: bool,
    ) -> impl Future<Output = Result<u64, BackendError>> + Send;
    /// Change a user's roles or extra scopes; every node hands out the new scopes (or stops
    /// handing out the old ones) before this returns. Returns the user as it now is.
    fn change_grant(
        &self,
        key: &str,
        change: GrantChange,
    ) -> impl Future<Output = Result<UserView, BackendError>> + Send;
    /// Users in id order after `after`, at most `limit`; `q` filters on a case-insensitive
    /// substring of the username or e-mail.
    fn list_users(&self, after: Option<u64>, limit: usize, q: Option<&str>) -> Page<UserView>;
    /// The live sessions of a user (an `authd_auth::user_ref`), newest first.
    fn user_sessions(&self, key: &str) -> Result<Vec<SessionView>, BackendError>;
    /// Every role with its scopes.
    fn roles(&self) -> Vec<RoleView>;
    /// Create or replace a role's scopes; every node resolves the new set before this returns.
    fn define_role(
        &self,
        role: RoleView,
    ) -> impl Future<Output = Result<RoleView, BackendError>> + Send;
    /// The published upstream-JWT keys as a JWKS (`{"keys": [...]}`).
    fn jwks(&self) -> serde_json::Value;
    /// The signing key ring, oldest first.
    fn signing_keys(&self) -> Vec<crate::keys::KeyView>;
    /// Schedule a new signing key `activate_in_secs` from now (default: the configured
    /// publish-ahead time); every node publishes it before this returns.
    fn rotate_key(
        &self,
        activate_in_secs: Option<u64>,
    ) -> impl Future<Output = Result<crate::keys::KeyView, BackendError>> + Send;
    /// Queue an audit event (replicated in batches; never blocks the request).
    fn audit(&self, record: crate::audit::AuditRecord);
    /// Audit entries, newest first, with ids below `before`.
    fn audit_page(&self, before: Option<u64>, limit: usize) -> Page<crate::audit::AuditView>;
    /// The username (or client id) an access token belongs to, for the audit log.
    fn token_owner(&self, token: &str) -> Option<String>;
    /// Issue an access token for a user.
    fn mint_token(
        &self,
        req: MintTokenRequest,
    ) -> impl Future<Output = Result<MintedToken, BackendError>> + Send;
    /// Revoke a token (by its value); every node refuses it before this returns.
    fn revoke_token(&self, token: &str) -> impl Future<Output = Result<u64, BackendError>> + Send;
    /// Register an API client.
    fn add_client(
        &self,
        req: NewClientRequest,
    ) -> impl Future<Output = Result<ClientCreated, BackendError>> + Send;
    /// Clients ordered by id, after `after`, at most `limit`.
    fn list_clients(&self, after: Option<&str>, limit: usize) -> Page<ClientView>;
    /// Remove a client and end every token issued to it, on every node, before returning.
    fn revoke_client(&self, id: &str) -> impl Future<Output = Result<u64, BackendError>> + Send;
    /// Cookie, redirect and `/auth` policy.
    fn settings(&self) -> &WebSettings;
    /// The `/auth` decision, from local replicated state only: no I/O, no await.
    fn authorize(&self, credential: Option<Credential>, required_scopes: &[String])
    -> AuthDecision;
    /// The session a browser's NG and (legacy mode) `tapir_session` cookie values name, by
    /// the same rule as [`Backend::authorize`]; from local state only.
    fn browser_session(&self, ng: &[String], tapir: &[String]) -> BrowserLookup;
    /// Resolve once this node's read lease was renewed (true), or after `timeout` (false).
    fn wait_lease(&self, timeout: std::time::Duration) -> impl Future<Output = bool> + Send;
    /// May a request wait for `index`, an index a client typed (a token's `.idx` suffix)?
    /// Only if this node knows a leader wrote that far; else the credential names nothing.
    fn may_wait_for(&self, index: u64) -> bool;
    /// Resolve once this node applied `index` (true), or after `timeout` (false).
    fn wait_applied(
        &self,
        index: u64,
        timeout: std::time::Duration,
    ) -> impl Future<Output = bool> + Send;
    /// Check a password (within the brute-force limits) and start a session; one `Invalid` for any bad credential.
    fn login(
        &self,
        req: LoginRequest,
    ) -> impl Future<Output = Result<LoginOk, crate::accounts::LoginError>> + Send;
    /// End the sessions the given NG cookie values name (logout); ignores invalid ones.
    fn logout(
        &self,
        cookies: Vec<String>,
    ) -> impl Future<Output = Result<u64, BackendError>> + Send;
    /// Remove a voter; leader only.
    fn remove_member(
        &self,
        id: u64,
    ) -> impl Future<Output = Result<ClusterStatus, BackendError>> + Send;
    /// Legacy mode: check a legacy cookie against the legacy database once and make its session
    /// known to the cluster (after [`AuthDecision::Legacy`]). `Err(Invalid)` if it is not valid.
    fn validate_legacy(
        &self,
        _value: String,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        async {
            Err(BackendError::Invalid(
                "legacy sessions are not enabled".into(),
            ))
        }
    }
    /// Legacy mode: end the sessions the given `tapir_session` values name (logout), on both
    /// sides; ignores invalid values.
    fn logout_legacy(
        &self,
        _values: Vec<String>,
    ) -> impl Future<Output = Result<u64, BackendError>> + Send {
        async { Ok(0) }
    }
}
