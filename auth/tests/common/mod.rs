//! Upstream sessions for the downstream-library tests.
#![allow(clippy::unwrap_used, dead_code)]

use authd_auth::tokens::{Authorizations, UpstreamSession, UpstreamUser};

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A user session holding `scopes`, expiring at `exp`.
pub fn claims(user_id: &str, scopes: &[&str], exp: u64) -> UpstreamSession {
    UpstreamSession {
        session_id: "s1".into(),
        start_time: "2026-01-01T00:00:00.000000+00:00".into(),
        user: Some(UpstreamUser {
            username: format!("user{user_id}"),
            email: format!("user{user_id}@example.org"),
            user_id: user_id.into(),
            name: None,
            profile: None,
            verified: true,
        }),
        client: None,
        end_time: None,
        authorizations: Some(Authorizations {
            classic: 0,
            endorsements: vec![],
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }),
        ip_address: None,
        remote_host: None,
        nonce: None,
        iat: now(),
        exp,
    }
}
