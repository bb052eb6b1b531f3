//! `/api/v1/users/{u}/roles` and `/scopes`: grant and revoke, effective on every node before
//! the answer, and audited.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use crate::audit::Caller;
use crate::backend::{Backend, GrantChange, UserView};
use crate::error::ApiError;
use crate::operator::Signed;

/// `POST /api/v1/users/{u}/roles` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// Role name.
    pub role: String,
}

/// `POST /api/v1/users/{u}/scopes` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    /// Scope, e.g. `submission:proxy` or `moderation:update:*`.
    pub scope: String,
}

async fn change<B: Backend>(
    b: &B,
    caller: &Caller,
    key: &str,
    action: &'static str,
    what: String,
    make: fn(String) -> GrantChange,
) -> Result<Json<UserView>, ApiError> {
    let target = format!("{key} {what}");
    let result = b.change_grant(key, make(what)).await;
    caller.audit(b, action, &target, &result);
    Ok(Json(result?))
}

/// `POST /api/v1/users/{u}/roles`
pub async fn grant_role<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Path(key): Path<String>,
    Signed(body): Signed<RoleBody>,
) -> Result<Json<UserView>, ApiError> {
    change(
        &b,
        &caller,
        &key,
        "role_grant",
        body.role,
        GrantChange::GrantRole,
    )
    .await
}

/// `DELETE /api/v1/users/{u}/roles/{role}`
pub async fn revoke_role<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Path((key, role)): Path<(String, String)>,
    Signed(()): Signed<()>,
) -> Result<Json<UserView>, ApiError> {
    change(
        &b,
        &caller,
        &key,
        "role_revoke",
        role,
        GrantChange::RevokeRole,
    )
    .await
}

/// `POST /api/v1/users/{u}/scopes`
pub async fn grant_scope<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Path(key): Path<String>,
    Signed(body): Signed<ScopeBody>,
) -> Result<Json<UserView>, ApiError> {
    change(
        &b,
        &caller,
        &key,
        "scope_grant",
        body.scope,
        GrantChange::GrantScope,
    )
    .await
}

/// `DELETE /api/v1/users/{u}/scopes/{scope}`
pub async fn revoke_scope<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Path((key, scope)): Path<(String, String)>,
    Signed(()): Signed<()>,
) -> Result<Json<UserView>, ApiError> {
    change(
        &b,
        &caller,
        &key,
        "scope_revoke",
        scope,
        GrantChange::RevokeScope,
    )
    .await
}
