//! The JSON error shape every API route answers with: `{"error": code, "reason": text}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::backend::BackendError;

/// An HTTP error with a stable machine-readable code.
#[derive(Debug)]
pub struct ApiError {
    /// Status to answer with.
    pub status: StatusCode,
    /// Stable code, e.g. `conflict`.
    pub code: &'static str,
    /// Human-readable reason; never contains secrets.
    pub reason: String,
}

impl ApiError {
    /// A 400 for a malformed request.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_request",
            reason: reason.into(),
        }
    }

    /// A 401 for a missing or bad credential.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            reason: reason.into(),
        }
    }

    /// A 404.
    pub fn not_found(reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            reason: reason.into(),
        }
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        let (status, code) = match &e {
            BackendError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            BackendError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            BackendError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            BackendError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            BackendError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError {
            status,
            code,
            reason: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.code, "reason": self.reason})),
        )
            .into_response()
    }
}
