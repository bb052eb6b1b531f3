//! OAuth2 security events in the audit log: consent decisions, failed client
//! authentication, refused grants (a reused code or refresh token ends its whole family, and
//! the outcome says so), authorization codes redeemed, and revocations. Routine successes of
//! `client_credentials` and `refresh_token` are not recorded: at thousands per second they
//! would push everything else out of the bounded log.

use super::backend::{GrantRequest, OAuthBackend};
use super::error::{OAuthError, OAuthErrorCode};
use crate::audit::{AuditRecord, ClientAddr};

/// Record one event.
pub fn record<B: OAuthBackend>(
    b: &B,
    addr: &ClientAddr,
    actor: &str,
    action: &'static str,
    target: &str,
    outcome: &str,
) {
    b.audit(AuditRecord {
        actor: actor.to_owned(),
        action,
        target: target.to_owned(),
        ip: addr.0.clone(),
        outcome: outcome.to_owned(),
        class: crate::audit::user_event_class(action),
    });
}

/// The grant type's name, taken before the request (and its secrets) is handed on.
pub fn grant_kind(grant: &GrantRequest) -> &'static str {
    match grant {
        GrantRequest::ClientCredentials { .. } => "client_credentials",
        GrantRequest::AuthorizationCode { .. } => "authorization_code",
        GrantRequest::RefreshToken { .. } => "refresh_token",
    }
}

/// The audit event for a token request's outcome, if it is one worth keeping.
pub fn token<B: OAuthBackend, T>(
    b: &B,
    addr: &ClientAddr,
    client_id: &str,
    kind: &'static str,
    result: &Result<T, OAuthError>,
) {
    let action = match result {
        Ok(_) if kind == "authorization_code" => "oauth2_code_redeem",
        Ok(_) => return,
        Err(e) => match e.code {
            OAuthErrorCode::InvalidClient => "oauth2_client_auth_failed",
            OAuthErrorCode::InvalidGrant => "oauth2_grant_refused",
            _ => return,
        },
    };
    let outcome = match result {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("{kind}: {}", e.description),
    };
    record(b, addr, client_id, action, client_id, &outcome);
}
