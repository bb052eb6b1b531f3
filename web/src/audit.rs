//! Auditing from the web layer, where the actor is known: who called (the CLI, or the user
//! behind an admin token, or a logged-in browser), from where, and with what outcome. The
//! node collects the events and replicates them in batches; `GET /api/v1/audit` lists them.

use std::net::SocketAddr;

pub use authd_auth::AuditClass;
use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::error::ApiError;
use crate::operator::{ListQuery, Signed};

/// One event to record; never a password, secret or token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Who: a username, `cli`, or `-`.
    pub actor: String,
    /// What (DESIGN.md "Audit entries").
    pub action: &'static str,
    /// To whom or what.
    pub target: String,
    /// Client address.
    pub ip: String,
    /// `ok` or why not.
    pub outcome: String,
    /// Which bound it counts against.
    pub class: AuditClass,
}

/// The class of an event a user or an anonymous client causes (everything the admin API
/// records is [`AuditClass::Admin`]): refusals and credential changes are security events,
/// the rest is routine. Unknown actions are routine, so they can never crowd out the others.
pub fn user_event_class(action: &str) -> AuditClass {
    match action {
        "login_failed"
        | "lockout"
        | "password_change"
        | "password_reset"
        | "oauth2_client_auth_failed"
        | "oauth2_grant_refused" => AuditClass::Security,
        _ => AuditClass::Routine,
    }
}

/// An entry as `GET /api/v1/audit` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditView {
    /// Increasing id (the cursor).
    pub id: u64,
    /// RFC 3339.
    pub time: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// To whom or what.
    pub target: String,
    /// From where.
    pub ip: String,
    /// `ok` or why not.
    pub outcome: String,
    /// `admin`, `security` or `routine`.
    pub class: AuditClass,
    /// Occurrences merged into this entry (repeats within `[audit] merge_secs`).
    pub count: u32,
    /// RFC 3339 of the latest occurrence.
    pub last: String,
}

/// Who is calling an operator endpoint (authentication is [`Signed`]'s job).
#[derive(Debug, Clone)]
pub struct Caller {
    /// `cli` for a signed request, the token's user for a bearer one.
    pub actor: String,
    /// Client address (`X-Real-IP` from a trusted proxy).
    pub ip: String,
}

/// The client's address as the audit log records it: the peer, or `X-Real-IP` from a trusted
/// proxy; `-` when unknown.
fn request_ip<B: Backend>(parts: &Parts, b: &B) -> String {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    peer.map_or_else(
        || "-".to_owned(),
        |p| crate::pages::client_ip(p, &parts.headers, &b.settings().trusted_proxies).to_string(),
    )
}

/// The client address of any request, for audit events outside the admin API.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl<B: Backend> FromRequestParts<B> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, b: &B) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(request_ip(parts, b)))
    }
}

impl<B: Backend> FromRequestParts<B> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, b: &B) -> Result<Self, ApiError> {
        let ip = request_ip(parts, b);
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let actor = match bearer {
            Some(t) if !parts.headers.contains_key(crate::cli_auth::HEADER) => {
                let t = t.trim();
                // A token minted through another node moments ago: its owner is known once
                // this node applied it (the bearer check that follows waits the same way).
                if let (_, Some(index)) = authd_auth::split_bearer(t)
                    && b.may_wait_for(index)
                {
                    b.wait_applied(index, std::time::Duration::from_millis(500))
                        .await;
                }
                b.token_owner(t).unwrap_or_else(|| "-".to_owned())
            }
            _ => "cli".to_owned(),
        };
        Ok(Caller { actor, ip })
    }
}

impl Caller {
    /// Record `action` on `target` with the outcome of `result`.
    pub fn audit<B: Backend, T, E: std::fmt::Display>(
        &self,
        b: &B,
        action: &'static str,
        target: &str,
        result: &Result<T, E>,
    ) {
        b.audit(AuditRecord {
            actor: self.actor.clone(),
            action,
            target: target.to_owned(),
            ip: self.ip.clone(),
            outcome: outcome(result),
            class: AuditClass::Admin,
        });
    }
}

/// `ok`, or the error's text.
pub fn outcome<T, E: std::fmt::Display>(result: &Result<T, E>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.to_string(),
    }
}

/// `GET /api/v1/audit?limit=&after=`: newest first; `after` is the last id of the page before.
pub async fn list<B: Backend>(
    State(b): State<B>,
    Query(q): Query<ListQuery>,
    Signed(()): Signed<()>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 500 {
        return Err(ApiError::bad_request("limit must be 1-500"));
    }
    let before = match q.after.as_deref() {
        None => None,
        Some(a) => Some(
            a.parse::<u64>()
                .map_err(|_| ApiError::bad_request("after must be an entry id"))?,
        ),
    };
    Ok(Json(b.audit_page(before, limit)))
}
