//! `/api/v1/users/{u}/roles` and `/scopes`: grant and revoke, effective on every node before
//! the answer, and audited.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

use crate::audit::Caller;
use crate::backend::{Backend, GrantChange, Page, RoleView, SessionView, UserView};
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

/// `GET /api/v1/roles`
pub async fn list_roles<B: Backend>(
    State(b): State<B>,
    Signed(()): Signed<()>,
) -> Json<Vec<RoleView>> {
    Json(b.roles())
}

/// `PUT /api/v1/roles/{name}` with `{"scopes": [...]}`: define or redefine a role.
pub async fn define_role<B: Backend>(
    State(b): State<B>,
    caller: Caller,
    Path(name): Path<String>,
    Signed(body): Signed<RoleScopes>,
) -> Result<Json<RoleView>, ApiError> {
    let role = RoleView {
        name: name.clone(),
        scopes: body.scopes,
    };
    let result = b.define_role(role).await;
    caller.audit(&b, "role_define", &name, &result);
    Ok(Json(result?))
}

/// `PUT /api/v1/roles/{name}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleScopes {
    /// The role's scopes.
    pub scopes: Vec<String>,
}

/// `?limit=&after=&q=` on `GET /api/v1/users`.
#[derive(Debug, Deserialize)]
pub struct UserQuery {
    /// Page size (1-500, default 100).
    pub limit: Option<usize>,
    /// Cursor: the last user id of the previous page.
    pub after: Option<u64>,
    /// Substring of username or e-mail.
    pub q: Option<String>,
}

/// `GET /api/v1/users`
pub async fn list_users<B: Backend>(
    State(b): State<B>,
    Query(q): Query<UserQuery>,
    Signed(()): Signed<()>,
) -> Result<Json<Page<UserView>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 500 {
        return Err(ApiError::bad_request("limit must be 1-500"));
    }
    Ok(Json(b.list_users(q.after, limit, q.q.as_deref())))
}

/// `GET /api/v1/users/{u}/sessions`
pub async fn user_sessions<B: Backend>(
    State(b): State<B>,
    Path(key): Path<String>,
    Signed(()): Signed<()>,
) -> Result<Json<Page<SessionView>>, ApiError> {
    Ok(Json(Page {
        items: b.user_sessions(&key)?,
        next: None,
    }))
}
