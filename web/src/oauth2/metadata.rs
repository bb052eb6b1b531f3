//! `GET /.well-known/oauth-authorization-server` (RFC 8414).

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::json;

use super::backend::OAuthBackend;
use super::labels::KNOWN_SCOPES;

/// The handler: every URL is built from the configured issuer, never from request headers
/// (a `Host` of the client's choosing would make the metadata point anywhere).
pub async fn metadata<B: OAuthBackend>(State(b): State<B>) -> impl IntoResponse {
    let iss = b.oauth_settings().issuer.trim_end_matches('/');
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth2/authorize"),
        "token_endpoint": format!("{iss}/oauth2/token"),
        "introspection_endpoint": format!("{iss}/oauth2/introspect"),
        "revocation_endpoint": format!("{iss}/oauth2/revoke"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": KNOWN_SCOPES.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
    }))
}
