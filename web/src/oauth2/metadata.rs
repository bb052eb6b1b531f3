//! `GET /.well-known/oauth-authorization-server` (RFC 8414).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::HOST;
use axum::response::IntoResponse;
use serde_json::json;

use super::backend::OAuthBackend;
use super::labels::KNOWN_SCOPES;

/// The issuer: configured, or this request's origin (scheme from the cookie policy).
fn issuer<B: OAuthBackend>(b: &B, headers: &HeaderMap) -> String {
    if let Some(i) = &b.oauth_settings().issuer {
        return i.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .unwrap_or("localhost");
    let scheme = if b.settings().cookie.secure {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// The handler.
pub async fn metadata<B: OAuthBackend>(
    State(b): State<B>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let iss = issuer(&b, &headers);
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
