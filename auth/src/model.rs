//! The replicated records: users, sessions, API clients and tokens.
//!
//! Times are Unix milliseconds fixed by the proposer, so every replica decides expiry the same way.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// A person's name as arXiv shows it (reference §1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FullName {
    /// Given name.
    pub forename: String,
    /// Family name.
    pub surname: String,
    /// e.g. "Jr."; empty when none.
    pub suffix: String,
}

/// Profile fields of reference §1.2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Profile {
    /// Institution.
    pub affiliation: String,
    /// ISO-3166 alpha-2.
    pub country: String,
    /// 1 Staff … 5 Other.
    pub rank: u8,
    /// Group keys such as `grp_physics`.
    pub submission_groups: Vec<String>,
    /// A category id such as `astro-ph.CO`.
    pub default_category: String,
    /// Optional home page.
    pub homepage_url: String,
}

/// An account: identity, credentials and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Numeric id, assigned by the state machine (legacy `tapir_users.user_id` when imported).
    pub id: u64,
    /// Unique login name (legacy nickname).
    pub username: String,
    /// Unique e-mail address, stored lower-cased.
    pub email: String,
    /// Display name, when known.
    pub name: Option<FullName>,
    /// Profile, when known.
    pub profile: Option<Profile>,
    /// E-mail ownership proven.
    pub verified: bool,
    /// A suspended user is refused everywhere and has no live sessions.
    pub suspended: bool,
    /// Role names; a role's scopes are resolved at check time so role edits apply at once.
    pub roles: BTreeSet<String>,
    /// Scopes granted to this user beyond their roles.
    pub scopes: BTreeSet<String>,
    /// PHC string (Argon2id), never sent over HTTP.
    pub password_hash: String,
    /// Creation time, Unix ms.
    pub created_ms: u64,
    /// What the legacy (tapir) database grants, for accounts imported from it.
    pub legacy: Option<LegacyGrants>,
}

/// Legacy authorizations (reference §3.8, §3.13), computed from the tapir tables at login and
/// carried in the upstream JWT's `authorizations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LegacyGrants {
    /// Classic capability code.
    pub classic: u32,
    /// Endorsed categories (`archive.subject_class`, `archive.*`, `*.*`).
    pub endorsements: Vec<String>,
}

/// A browser login: what the NG cookie points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// 128-bit random id, hex.
    pub id: String,
    /// Owner.
    pub user_id: u64,
    /// 128-bit random value also carried in the cookie, so a leaked id alone is useless.
    pub nonce: String,
    /// Start, Unix ms.
    pub created_ms: u64,
    /// End, Unix ms; the session is dead from this instant on every node.
    pub expires_ms: u64,
    /// Client address at login.
    pub ip: Option<String>,
    /// Browser at login, for the sessions page.
    pub user_agent: Option<String>,
    /// The legacy `tapir_sessions` row this login shares (legacy mode): ending one ends both.
    pub tapir_session_id: Option<u64>,
}

/// A registered OAuth2 client (reference §1.4, §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// Public identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Home page of the client.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// Responsible user.
    pub owner_id: u64,
    /// Exact-match redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed grant types.
    pub grant_types: BTreeSet<String>,
    /// Scopes it may be granted.
    pub scopes: BTreeSet<String>,
    /// SHA-256 of the secret; `None` for public clients.
    pub secret_digest: Option<String>,
    /// Creation time, Unix ms.
    pub created_ms: u64,
}

/// What a bearer token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// Accepted by `/auth` and the admin API.
    Access,
    /// Exchanged for new access tokens only.
    Refresh,
}

/// An issued bearer token, stored by digest so state and snapshots never hold the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// `token_digest` of the secret.
    pub digest: String,
    /// Access or refresh.
    pub kind: TokenKind,
    /// The user it acts for, if delegated or minted for a user.
    pub user_id: Option<u64>,
    /// The client it was issued to, if any.
    pub client_id: Option<String>,
    /// Granted scopes.
    pub scopes: BTreeSet<String>,
    /// Issue time, Unix ms.
    pub created_ms: u64,
    /// End, Unix ms.
    pub expires_ms: u64,
    /// The OAuth2 grant it descends from (one authorization code and its refresh rotations):
    /// reuse of a spent refresh token or code ends the whole family.
    pub family: Option<String>,
}

/// An OAuth2 authorization code (RFC 6749 §4.1), stored by digest, single use, short-lived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCode {
    /// `token_digest` of the code's secret.
    pub digest: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who consented.
    pub user_id: u64,
    /// The `redirect_uri` of the authorization request, if it named one (then the token
    /// request must repeat it exactly).
    pub redirect_uri: Option<String>,
    /// Scopes consented to.
    pub scopes: BTreeSet<String>,
    /// PKCE S256 challenge (base64url of SHA-256 of the verifier), if any.
    pub code_challenge: Option<String>,
    /// Issue time, Unix ms.
    pub created_ms: u64,
    /// End, Unix ms.
    pub expires_ms: u64,
    /// Set by the redemption: the token family it produced, so a second redemption can end it.
    pub redeemed_family: Option<String>,
}

/// Which bound an audit entry counts against, so noise of one kind never pushes out another:
/// admin actions (the operator API), security events (refusals and lockouts, which anonymous
/// clients can cause) and routine user events (logins, logouts, OAuth grants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditClass {
    /// An operator's action through the CLI or an admin token.
    Admin,
    /// A refusal or lockout.
    Security,
    /// A user's own routine event.
    Routine,
}
