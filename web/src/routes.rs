//! The router: health, readiness, cluster status, metrics and the operator API.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use serde_json::json;

use crate::backend::Backend;
use crate::{authn, cluster, headers, operator, pages};

/// Every public route of a node, bound to its backend.
pub fn router<B: pages::applications::ConnectedApps + crate::oauth2::OAuthBackend>(
    backend: B,
) -> Router {
    let hsts = backend.settings().cookie.secure;
    let pages = pages::router::<B>().merge(pages::applications::router::<B>());
    Router::new()
        .merge(headers::secure_pages(pages, hsts))
        .merge(headers::strict_transport(
            crate::oauth2::router::<B>(),
            hsts,
        ))
        .route("/healthz", get(healthz))
        .route("/auth", get(authn::auth::<B>))
        .route("/readyz", get(readyz::<B>))
        .route("/metrics", get(metrics::<B>))
        .route("/api/v1/cluster", get(cluster::status::<B>))
        .route("/api/v1/cluster/members", post(cluster::add_member::<B>))
        .route(
            "/api/v1/cluster/members/{id}",
            delete(cluster::remove_member::<B>),
        )
        .route(
            "/api/v1/users",
            post(operator::add_user::<B>).get(crate::grants::list_users::<B>),
        )
        .route("/api/v1/roles", get(crate::grants::list_roles::<B>))
        .route("/api/v1/roles/{name}", put(crate::grants::define_role::<B>))
        .route("/api/v1/audit", get(crate::audit::list::<B>))
        .route("/.well-known/jwks.json", get(crate::keys::jwks::<B>))
        .route("/api/v1/keys", get(crate::keys::list::<B>))
        .route("/api/v1/keys/rotate", post(crate::keys::rotate::<B>))
        .route("/api/v1/users/{key}", get(operator::get_user::<B>))
        .route(
            "/api/v1/users/{key}/sessions",
            delete(operator::end_user_sessions::<B>).get(crate::grants::user_sessions::<B>),
        )
        .route(
            "/api/v1/users/{key}/suspend",
            post(operator::suspend_user::<B>),
        )
        .route(
            "/api/v1/users/{key}/roles",
            post(crate::grants::grant_role::<B>),
        )
        .route(
            "/api/v1/users/{key}/roles/{role}",
            delete(crate::grants::revoke_role::<B>),
        )
        .route(
            "/api/v1/users/{key}/scopes",
            post(crate::grants::grant_scope::<B>),
        )
        .route(
            "/api/v1/users/{key}/scopes/{scope}",
            delete(crate::grants::revoke_scope::<B>),
        )
        .route(
            "/api/v1/clients",
            post(operator::add_client::<B>).get(operator::list_clients::<B>),
        )
        .route("/api/v1/clients/{id}", delete(operator::revoke_client::<B>))
        .route("/api/v1/tokens", post(operator::mint_token::<B>))
        .route("/api/v1/tokens/revoke", post(operator::revoke_token::<B>))
        .route("/api/v1/sessions", post(operator::create_session::<B>))
        .route(
            "/api/v1/sessions/{id}",
            get(operator::get_session::<B>).delete(operator::end_session::<B>),
        )
        .with_state(backend)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz<B: Backend>(State(b): State<B>) -> impl IntoResponse {
    match b.readiness() {
        Ok(()) => (StatusCode::OK, Json(json!({"ready": true}))),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": reason})),
        ),
    }
}

async fn metrics<B: Backend>(State(b): State<B>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        b.metrics_text(),
    )
}
