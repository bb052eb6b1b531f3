//! RFC 6749 §5.2 error responses: the exact codes, statuses and headers clients rely on.

use axum::Json;
use axum::http::header::{CACHE_CONTROL, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use thiserror::Error;

/// The error codes of RFC 6749 §4.1.2.1 and §5.2 (plus RFC 7009's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// Missing, repeated or malformed parameter.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// Bad, expired, used or foreign code or refresh token; PKCE or redirect mismatch.
    InvalidGrant,
    /// The client may not use this grant or response type.
    UnauthorizedClient,
    /// The server does not know this grant type.
    UnsupportedGrantType,
    /// Malformed scope, or nothing requested may be granted.
    InvalidScope,
    /// The user said no.
    AccessDenied,
    /// Only `code` is supported.
    UnsupportedResponseType,
    /// Our fault.
    ServerError,
    /// No quorum right now.
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth2 error with a human description (never a secret).
#[derive(Debug, Clone, Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    /// The code.
    pub code: OAuthErrorCode,
    /// Why, for the client developer.
    pub description: String,
    /// The client authenticated with HTTP Basic (so `invalid_client` carries a challenge).
    pub basic: bool,
    /// Over a rate limit: 429 with this `Retry-After` (seconds).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    /// An error with this code and description.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            basic: false,
            retry_after: None,
        }
    }

    /// Over a per-user or per-client rate: `temporarily_unavailable` (RFC 6749 §4.1.2.1's
    /// "temporary overloading"), answered 429 with `Retry-After`.
    pub fn rate_limited(d: impl Into<String>, retry_after_secs: u64) -> Self {
        OAuthError {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(OAuthErrorCode::TemporarilyUnavailable, d)
        }
    }

    /// `invalid_request`.
    pub fn request(d: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, d)
    }

    /// `invalid_grant`.
    pub fn grant(d: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, d)
    }

    /// `invalid_scope`.
    pub fn scope(d: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidScope, d)
    }

    /// `invalid_client`; `basic` when the credentials came in the Authorization header.
    pub fn client(basic: bool) -> Self {
        OAuthError {
            code: OAuthErrorCode::InvalidClient,
            description: "client authentication failed".into(),
            basic,
            retry_after: None,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        if self.retry_after.is_some() {
            return StatusCode::TOO_MANY_REQUESTS;
        }
        match self.code {
            OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1), on every token response.
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status(),
            Json(json!({"error": self.code.as_str(), "error_description": self.description})),
        )
            .into_response();
        if self.code == OAuthErrorCode::InvalidClient && self.basic {
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"authd\", charset=\"UTF-8\""),
            );
        }
        if let Some(v) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            r.headers_mut().insert(RETRY_AFTER, v);
        }
        no_store(r.headers_mut());
        r
    }
}
