//! Token introspection (RFC 7662) and revocation (RFC 7009), both for authenticated clients.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::backend::OAuthBackend;
use super::error::{OAuthError, no_store};
use super::token::parse;

fn token_param(p: &super::form::Params) -> Result<String, OAuthError> {
    p.require("token")
}

/// `POST /oauth2/introspect`.
pub async fn introspect<B: OAuthBackend>(
    State(b): State<B>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let (p, auth) = parse(&headers, &body)?;
        let basic = auth.via_basic;
        let token = token_param(&p)?;
        b.introspect(auth, token).await.map_err(|mut e| {
            e.basic = basic;
            e
        })
    };
    match run.await {
        Ok(i) => {
            let mut r = Json(i).into_response();
            no_store(r.headers_mut());
            r
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /oauth2/revoke`: 200 with an empty body also for unknown tokens (RFC 7009 §2.2).
pub async fn revoke<B: OAuthBackend>(
    State(b): State<B>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let (p, auth) = parse(&headers, &body)?;
        let basic = auth.via_basic;
        let token = token_param(&p)?;
        b.revoke(auth, token).await.map_err(|mut e| {
            e.basic = basic;
            e
        })
    };
    match run.await {
        Ok(()) => {
            let mut r = StatusCode::OK.into_response();
            no_store(r.headers_mut());
            r
        }
        Err(e) => e.into_response(),
    }
}
