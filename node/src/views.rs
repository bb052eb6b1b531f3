//! Replicated records turned into what the API shows (never hashes or nonces).

use authd_auth::{Session, User};
use authd_web::{SessionView, UserView};

/// A user for the API.
pub fn user_view(u: &User) -> UserView {
    UserView {
        id: u.id,
        username: u.username.clone(),
        email: u.email.clone(),
        roles: u.roles.iter().cloned().collect(),
        scopes: u.scopes.iter().cloned().collect(),
        suspended: u.suspended,
        verified: u.verified,
    }
}

/// A session for the API.
pub fn session_view(s: &Session) -> SessionView {
    SessionView {
        session_id: s.id.clone(),
        user_id: s.user_id,
        created_ms: s.created_ms,
        expires_ms: s.expires_ms,
        ip: s.ip.clone(),
        user_agent: s.user_agent.clone(),
    }
}
