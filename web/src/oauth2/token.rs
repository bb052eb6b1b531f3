//! `POST /oauth2/token` (RFC 6749 §3.2): parse, authenticate, grant, answer `no-store`.

use std::future::Future;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::backend::{ClientAuth, GrantRequest, OAuthBackend};
use super::error::{OAuthError, OAuthErrorCode, no_store};
use super::form::{Params, client_auth};
use crate::audit::ClientAddr;

/// The grant a token request asks for.
fn grant(p: &Params) -> Result<GrantRequest, OAuthError> {
    let grant_type = p.require("grant_type")?;
    match grant_type.as_str() {
        "client_credentials" => Ok(GrantRequest::ClientCredentials {
            scope: p.owned("scope"),
        }),
        "authorization_code" => Ok(GrantRequest::AuthorizationCode {
            code: p.require("code")?,
            redirect_uri: p.owned("redirect_uri"),
            code_verifier: p.owned("code_verifier"),
        }),
        "refresh_token" => Ok(GrantRequest::RefreshToken {
            refresh_token: p.require("refresh_token")?,
            scope: p.owned("scope"),
        }),
        _ => Err(OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            "supported: authorization_code, client_credentials, refresh_token",
        )),
    }
}

/// Parse the body and the client's credentials (shared with introspection and revocation).
fn parse(headers: &HeaderMap, body: &[u8]) -> Result<(Params, ClientAuth), OAuthError> {
    let basic_sent = headers.contains_key(axum::http::header::AUTHORIZATION);
    let p = Params::form(headers, body)?;
    let auth = client_auth(headers, &p)?.ok_or_else(|| OAuthError::client(basic_sent))?;
    Ok((p, auth))
}

/// Run a client-authenticated endpoint: parse, call `f`, and answer with its JSON (no-store)
/// or its error (with the Basic challenge when the client used Basic).
pub async fn client_endpoint<T, F, Fut>(headers: &HeaderMap, body: &[u8], f: F) -> Response
where
    T: serde::Serialize,
    F: FnOnce(Params, ClientAuth) -> Fut,
    Fut: Future<Output = Result<T, OAuthError>>,
{
    let run = async {
        let (p, auth) = parse(headers, body)?;
        let basic = auth.via_basic;
        f(p, auth).await.map_err(|mut e| {
            e.basic = basic;
            e
        })
    };
    match run.await {
        Ok(t) => {
            let mut r = Json(t).into_response();
            no_store(r.headers_mut());
            r
        }
        Err(e) => {
            // A rate-limited request is the client's doing: no warning per request.
            if e.retry_after.is_none()
                && matches!(
                    e.code,
                    OAuthErrorCode::ServerError | OAuthErrorCode::TemporarilyUnavailable
                )
            {
                tracing::warn!(error = %e, "OAuth2 request failed on our side");
            }
            e.into_response()
        }
    }
}

/// The handler.
pub async fn token<B: OAuthBackend>(
    State(b): State<B>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    client_endpoint(&headers, &body, |p, auth| async move {
        let g = grant(&p)?;
        let (client_id, kind) = (auth.client_id.clone(), super::audit::grant_kind(&g));
        let r = b.token(auth, g).await;
        super::audit::token(&b, &addr, &client_id, kind, &r);
        r
    })
    .await
}
