//! AuthError: GoTrue's error body. Sent in the legacy shape `{code, error_code, msg}` (plus
//! `message`), which auth-js parses whether or not it can read response headers.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub struct AuthError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `weak_password.reasons`, for `weak_password`.
    pub reasons: Vec<&'static str>,
}

impl AuthError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            reasons: Vec::new(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", message)
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "auth internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unexpected_failure",
            "Unexpected failure, please check server logs for more information",
        )
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "code": self.status.as_u16(),
            "error_code": self.code,
            "msg": self.message,
            "message": self.message,
        });
        if !self.reasons.is_empty() {
            body["weak_password"] = json!({ "reasons": self.reasons });
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert("x-sb-error-code", HeaderValue::from_static(self.code));
        response
    }
}
