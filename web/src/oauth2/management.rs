//! Token introspection (RFC 7662) and revocation (RFC 7009), both for authenticated clients.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::backend::OAuthBackend;
use super::token::client_endpoint;
use crate::audit::ClientAddr;

/// `POST /oauth2/introspect`.
pub async fn introspect<B: OAuthBackend>(
    State(b): State<B>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    client_endpoint(&headers, &body, |p, auth| async move {
        b.introspect(auth, p.require("token")?).await
    })
    .await
}

/// `POST /oauth2/revoke`: 200 (an empty JSON object) also for unknown tokens (RFC 7009 §2.2).
pub async fn revoke<B: OAuthBackend>(
    State(b): State<B>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    client_endpoint(&headers, &body, |p, auth| async move {
        let client_id = auth.client_id.clone();
        let r = b.revoke(auth, p.require("token")?).await;
        let outcome = crate::audit::outcome(&r);
        super::audit::record(&b, &addr, &client_id, "token_revoke", "oauth2", &outcome);
        r?;
        Ok(serde_json::json!({}))
    })
    .await
}
