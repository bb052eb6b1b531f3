//! The OAuth2 authorization server: `/oauth2/token`, `/oauth2/authorize`, `/oauth2/introspect`,
//! `/oauth2/revoke` and RFC 8414 metadata.

mod audit;
mod authorize;
pub mod backend;
mod csrf;
pub mod error;
pub(crate) mod form;
pub mod labels;
mod management;
mod metadata;
mod pages;
pub mod redirect_uri;
mod token;

use axum::Router;
use axum::routing::{get, post};

pub use backend::{
    ClientAuth, ClientInfo, CodeRequest, GrantRequest, Introspection, OAuthBackend, OAuthSettings,
    SessionUser, TokenResponse,
};
pub use error::{OAuthError, OAuthErrorCode};

/// The OAuth2 routes.
pub fn router<B: OAuthBackend>() -> Router<B> {
    Router::new()
        .route(
            "/oauth2/authorize",
            get(authorize::show::<B>).post(authorize::decide::<B>),
        )
        .route("/oauth2/token", post(token::token::<B>))
        .route("/oauth2/introspect", post(management::introspect::<B>))
        .route("/oauth2/revoke", post(management::revoke::<B>))
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::metadata::<B>),
        )
}
