//! Upstream-JWT signing keys over HTTP: the public JWKS that services verify with, and the
//! admin view and rotation of the replicated key ring.

use axum::Json;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};

use crate::audit::Caller;
use crate::backend::Backend;
use crate::error::ApiError;
use crate::operator::Signed;

/// How long services may cache the JWKS. Far below the default publish-ahead time (15 min),
/// so a cached copy always holds the next key before it signs.
const JWKS_MAX_AGE_SECS: u64 = 60;

/// A key of the ring as admins see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyView {
    /// Key id (the JWT header's `kid`).
    pub kid: String,
    /// `next` (published, not signing yet), `signing`, or `retiring` (published until its
    /// last token expires).
    pub status: String,
    /// RFC 3339: added to the ring.
    pub published: String,
    /// RFC 3339: signs from.
    pub activates: String,
    /// RFC 3339: leaves the JWKS, once a successor is scheduled.
    pub retires: Option<String>,
}

/// `POST /api/v1/keys/rotate` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RotateRequest {
    /// Seconds from now until the new key signs; default `[signing] publish_ahead_secs`.
    pub activate_in_secs: Option<u64>,
}

/// `GET /.well-known/jwks.json`: every published key (RFC 7517), public, cacheable briefly.
pub async fn jwks<B: Backend>(State(b): State<B>) -> impl IntoResponse {
    (
        [(
            CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE_SECS}"),
        )],
        Json(b.jwks()),
    )
}

/// `GET /api/v1/keys`
pub async fn list<B: Backend>(State(b): State<B>, Signed(()): Signed<()>) -> Json<Vec<KeyView>> {
    Json(b.signing_keys())
}

/// `POST /api/v1/keys/rotate`: schedule a new key; every node publishes it before this returns.
pub async fn rotate<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Signed(req): Signed<RotateRequest>,
) -> Result<Json<KeyView>, ApiError> {
    if req.activate_in_secs.is_some_and(|s| s > 7 * 86_400) {
        return Err(ApiError::bad_request(
            "activate_in_secs must be at most 7 days",
        ));
    }
    let result = b.rotate_key(req.activate_in_secs).await;
    let target = result
        .as_ref()
        .map_or_else(|_| "-".to_owned(), |k| k.kid.clone());
    caller.audit(&b, "key_rotate", &target, &result);
    Ok(Json(result?))
}
