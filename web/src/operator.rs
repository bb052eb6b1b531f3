//! Operator and admin endpoints under `/api/v1/`, authenticated by a cluster-secret signature
//! (the CLI, tests, benchmarks) or by `Authorization: Bearer <access token>` whose scopes
//! include `admin:read:*` (reads) or `admin:write:*` (changes); operator-only routes
//! ([`Operator`]) take the signature alone.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::audit::Caller;
use crate::backend::{
    AuthDecision, Backend, Credential, MintTokenRequest, NewClientRequest, NewSession,
    NewUserRequest,
};
use crate::cli_auth;
use crate::error::ApiError;

/// Largest operator request body we read.
const MAX_BODY: usize = 1 << 20;

/// A request whose signature or admin token checked out; `T` is its JSON body (`()` for none).
pub struct Signed<T>(pub T);

/// The admin scope a request needs: reads need `admin:read:*`, anything else `admin:write:*`.
fn admin_scope(method: &str) -> &'static str {
    if method == "GET" || method == "HEAD" {
        "admin:read:*"
    } else {
        "admin:write:*"
    }
}

/// Check a bearer token for the admin scope the method needs.
async fn admin_bearer<B: Backend>(b: &B, token: String, method: &str) -> Result<(), ApiError> {
    let required = [admin_scope(method).to_owned()];
    let cred = || Some(Credential::Bearer(token.clone()));
    let mut decision = b.authorize(cred(), &required);
    if let AuthDecision::Behind(index) = decision {
        decision = if b.wait_applied(index, Duration::from_millis(500)).await {
            b.authorize(cred(), &required)
        } else {
            AuthDecision::Unavailable("this node is behind the cluster; retry".into())
        };
    }
    match decision {
        AuthDecision::Allow(_) => Ok(()),
        AuthDecision::Forbidden(missing) => Err(ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            reason: format!("this token lacks {}", missing.join(" ")),
        }),
        AuthDecision::Unavailable(why) => Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            reason: why,
        }),
        AuthDecision::NotCurrent => Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            reason: "this node is not current with the cluster; retry".into(),
        }),
        AuthDecision::Anonymous
        | AuthDecision::Behind(_)
        | AuthDecision::Legacy(_)
        | AuthDecision::Unauthorized { .. } => {
            Err(ApiError::unauthorized("not a valid access token"))
        }
    }
}

/// Which credentials an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accept {
    /// The cluster-secret signature or an admin bearer token (the admin API).
    OperatorOrAdmin,
    /// The cluster-secret signature only (Raft membership: an operator action).
    OperatorOnly,
}

/// Authenticates an operator request as `accept` allows; its body once it checked out.
async fn authenticate<B: Backend>(
    req: Request,
    backend: &B,
    accept: Accept,
) -> Result<Bytes, ApiError> {
    let method = req.method().as_str().to_owned();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let header = req
        .headers()
        .get(cli_auth::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    if header.is_none() && bearer.is_some() && accept == Accept::OperatorOnly {
        tracing::warn!(%method, %path, "refused a bearer token on an operator-only route");
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            reason: "cluster membership changes need the cluster secret (`authd cluster \
                     add-node` / `remove-node`); no bearer token may make them, whatever its scopes"
                .into(),
        });
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| ApiError::bad_request("request body too large or unreadable"))?;
    if header.is_none()
        && let Some(auth) = bearer
    {
        let token = auth
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 4096)
            .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?;
        admin_bearer(backend, token.to_owned(), &method)
            .await
            .inspect_err(|e| {
                tracing::warn!(%method, %path, reason = %e.reason, "refused admin request");
            })?;
        return Ok(body);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    cli_auth::verify(
        backend.cluster_secret(),
        header.as_deref(),
        &method,
        &path,
        &body,
        now,
    )
    .map_err(|e| {
        tracing::warn!(%method, %path, reason = %e, "refused operator request");
        ApiError::unauthorized(e.to_string())
    })?;
    Ok(body)
}

impl<B: Backend, T: DeserializeOwned + Send> FromRequest<B> for Signed<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, backend: &B) -> Result<Self, Self::Rejection> {
        let body = authenticate(req, backend, Accept::OperatorOrAdmin).await?;
        parse_json(&body).map(Signed)
    }
}

/// A request signed with the cluster secret; a bearer token, even an admin's, is refused (403).
pub struct Operator<T>(pub T);

impl<B: Backend, T: DeserializeOwned + Send> FromRequest<B> for Operator<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, backend: &B) -> Result<Self, Self::Rejection> {
        let body = authenticate(req, backend, Accept::OperatorOnly).await?;
        parse_json(&body).map(Operator)
    }
}

/// Whether a request that may be anonymous came from an operator or an admin: `false` when it
/// carries no credential, an error when the one it carries does not check out.
pub struct MaybeSigned(pub bool);

impl<B: Backend> FromRequest<B> for MaybeSigned {
    type Rejection = ApiError;

    async fn from_request(req: Request, backend: &B) -> Result<Self, Self::Rejection> {
        let h = req.headers();
        if !h.contains_key(cli_auth::HEADER) && !h.contains_key(AUTHORIZATION) {
            return Ok(MaybeSigned(false));
        }
        authenticate(req, backend, Accept::OperatorOrAdmin).await?;
        Ok(MaybeSigned(true))
    }
}

fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let body: &[u8] = if body.is_empty() { b"null" } else { body };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// `POST /api/v1/users`
pub async fn add_user<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Signed(req): Signed<NewUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let name = req.username.clone();
    let result = b.add_user(req).await;
    caller.audit(&b, "user_add", &name, &result);
    let user = result?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// `GET /api/v1/users/{username, e-mail or id:N}`
pub async fn get_user<B: Backend>(
    State(b): State<B>,
    Path(key): Path<String>,
    Signed(()): Signed<()>,
) -> Result<impl IntoResponse, ApiError> {
    b.user(&key)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// `POST /api/v1/sessions`
pub async fn create_session<B: Backend>(
    State(b): State<B>,
    Signed(req): Signed<NewSession>,
) -> Result<impl IntoResponse, ApiError> {
    let s = b.create_session(req).await?;
    Ok((StatusCode::CREATED, Json(s)))
}

/// `GET /api/v1/sessions/{id}`
pub async fn get_session<B: Backend>(
    State(b): State<B>,
    Path(id): Path<String>,
    Signed(()): Signed<()>,
) -> Result<impl IntoResponse, ApiError> {
    b.session(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no such session"))
}

/// `DELETE /api/v1/sessions/{id}`
pub async fn end_session<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Path(id): Path<String>,
    Signed(()): Signed<()>,
) -> Result<impl IntoResponse, ApiError> {
    let result = b.end_session(&id).await;
    caller.audit(&b, "session_revoke", &id, &result);
    let ended = result?;
    Ok(Json(json!({ "ended": ended })))
}

/// `DELETE /api/v1/users/{key}/sessions`: "log out everywhere".
pub async fn end_user_sessions<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Path(key): Path<String>,
    Signed(()): Signed<()>,
) -> Result<impl IntoResponse, ApiError> {
    let result = b.end_user_sessions(&key).await;
    caller.audit(&b, "session_revoke", &format!("all of {key}"), &result);
    Ok(Json(json!({ "ended": result? })))
}

/// Body of `POST /api/v1/users/{key}/suspend`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspendBody {
    /// `false` reinstates.
    #[serde(default = "yes")]
    pub suspended: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/v1/users/{key}/suspend`
pub async fn suspend_user<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Path(key): Path<String>,
    Signed(body): Signed<Option<SuspendBody>>,
) -> Result<impl IntoResponse, ApiError> {
    let suspended = body.is_none_or(|b| b.suspended);
    let result = b.suspend_user(&key, suspended).await;
    let action = if suspended {
        "user_suspend"
    } else {
        "user_reinstate"
    };
    caller.audit(&b, action, &key, &result);
    Ok(Json(json!({ "ended": result? })))
}

/// `POST /api/v1/clients`: 201 with the secret, shown once.
pub async fn add_client<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Signed(req): Signed<NewClientRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let name = req.name.clone();
    let result = b.add_client(req).await;
    let target = match &result {
        Ok(c) => format!("{} ({name})", c.client_id),
        Err(_) => name,
    };
    caller.audit(&b, "client_add", &target, &result);
    Ok((StatusCode::CREATED, Json(result?)))
}

/// `?limit=&after=` on list endpoints.
#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    /// Page size (1-500, default 100).
    pub limit: Option<usize>,
    /// Cursor from the previous page's `next`.
    pub after: Option<String>,
}

/// `GET /api/v1/clients`
pub async fn list_clients<B: Backend>(
    State(b): State<B>,
    axum::extract::Query(q): axum::extract::Query<ListQuery>,
    Signed(()): Signed<()>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 500 {
        return Err(ApiError::bad_request("limit must be 1-500"));
    }
    Ok(Json(b.list_clients(q.after.as_deref(), limit)))
}

/// `DELETE /api/v1/clients/{id}`
pub async fn revoke_client<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Path(id): Path<String>,
    Signed(()): Signed<()>,
) -> Result<impl IntoResponse, ApiError> {
    let result = b.revoke_client(&id).await;
    caller.audit(&b, "client_revoke", &id, &result);
    Ok(Json(json!({ "tokens_ended": result? })))
}

/// `POST /api/v1/tokens`: 201 with the token, shown once.
pub async fn mint_token<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Signed(req): Signed<MintTokenRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let user = req.user.clone();
    let result = b.mint_token(req).await;
    caller.audit(&b, "token_mint", &user, &result);
    Ok((StatusCode::CREATED, Json(result?)))
}

/// Body of `POST /api/v1/tokens/revoke`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeTokenBody {
    /// The token to revoke.
    pub token: String,
}

/// `POST /api/v1/tokens/revoke` (the token travels in the body, never in a URL or log).
pub async fn revoke_token<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Signed(body): Signed<RevokeTokenBody>,
) -> Result<impl IntoResponse, ApiError> {
    let result = b.revoke_token(&body.token).await;
    // The token itself never goes into the log: the first hex digits of its digest name it.
    let digest = authd_auth::token_digest(authd_auth::split_bearer(&body.token).0);
    caller.audit(&b, "token_revoke", digest.get(..12).unwrap_or(""), &result);
    Ok(Json(json!({ "revoked": result? })))
}
