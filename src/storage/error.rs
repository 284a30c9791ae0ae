//! Error: Supabase Storage's error shape, `{statusCode, code, error, message}`. As Storage does,
//! the HTTP status is 400 for every client error (the body's `statusCode` carries the precise
//! one: "404", "409", "413"…), 500 for server faults, 416 for a bad `Range`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// The HTTP status the response is sent with.
    pub http: StatusCode,
    /// The status Storage reports in the body (`statusCode`).
    pub status: u16,
    pub code: &'static str,
    /// The legacy `error` field; the code when Storage has no other word for it.
    pub error: &'static str,
    pub message: String,
}

impl StorageError {
    fn new(status: u16, code: &'static str, error: &'static str, message: String) -> Self {
        let http = if status == 500 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        Self {
            http,
            status,
            code,
            error,
            message,
        }
    }

    /// 501: what the server does not offer (yet) on this store.
    pub fn not_implemented(message: String) -> Self {
        Self {
            http: StatusCode::NOT_IMPLEMENTED,
            status: 501,
            code: "NotImplemented",
            error: "Not Implemented",
            message,
        }
    }

    pub fn bucket_not_found() -> Self {
        Self::new(
            404,
            "NoSuchBucket",
            "Bucket not found",
            "Bucket not found".into(),
        )
    }

    pub fn object_not_found() -> Self {
        Self::new(404, "NoSuchKey", "not_found", "Object not found".into())
    }

    pub fn duplicate() -> Self {
        Self::new(
            409,
            "ResourceAlreadyExists",
            "Duplicate",
            "The resource already exists".into(),
        )
    }

    pub fn bucket_not_empty() -> Self {
        Self::new(
            409,
            "ResourceNotEmpty",
            "ResourceNotEmpty",
            "The bucket you tried to delete is not empty".into(),
        )
    }

    /// A policy denied the operation (Postgres's 42501).
    pub fn row_level_security() -> Self {
        Self::access_denied("new row violates row-level security policy")
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(403, "AccessDenied", "Unauthorized", message.into())
    }

    /// No verifiable caller: Storage answers these with a real 403.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self {
            http: StatusCode::FORBIDDEN,
            ..Self::access_denied(message)
        }
    }

    pub fn invalid_jwt(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidJWT", "InvalidJWT", message.into())
    }

    pub fn invalid_signature(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidSignature", "InvalidSignature", message.into())
    }

    pub fn invalid_key(key: &str) -> Self {
        Self::new(
            400,
            "InvalidKey",
            "InvalidKey",
            format!("Invalid key: {key}"),
        )
    }

    pub fn invalid_bucket_name() -> Self {
        Self::new(
            400,
            "InvalidBucketName",
            "Invalid Input",
            "Bucket name invalid".into(),
        )
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequest", "InvalidRequest", message.into())
    }

    pub fn invalid_mime_type(mime: &str) -> Self {
        Self::new(
            415,
            "InvalidMimeType",
            "invalid_mime_type",
            format!("mime type {mime} is not supported"),
        )
    }

    pub fn entity_too_large() -> Self {
        Self::new(
            413,
            "EntityTooLarge",
            "Payload too large",
            "The object exceeded the maximum allowed size".into(),
        )
    }

    /// A `Range` that cannot be served: sent as a real 416, as Storage does.
    pub fn invalid_range() -> Self {
        Self {
            http: StatusCode::RANGE_NOT_SATISFIABLE,
            ..Self::new(
                416,
                "InvalidRange",
                "invalid_range",
                "invalid range provided".into(),
            )
        }
    }

    pub fn not_found_route() -> Self {
        Self {
            http: StatusCode::NOT_FOUND,
            ..Self::new(404, "InvalidRequest", "Not Found", "Route not found".into())
        }
    }

    /// A server fault: logged, and answered without its details.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!("storage: {error}");
        Self::new(
            500,
            "InternalError",
            "Internal",
            "Internal Server Error".into(),
        )
    }
}

impl From<rusqlite::Error> for StorageError {
    fn from(error: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(failure, _) = &error
            && failure.code == rusqlite::ErrorCode::ConstraintViolation
            && matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            )
        {
            return Self::duplicate();
        }
        Self::internal(error)
    }
}

impl From<axum::extract::multipart::MultipartError> for StorageError {
    fn from(error: axum::extract::multipart::MultipartError) -> Self {
        Self::invalid_request(format!("malformed multipart body: {}", error.body_text()))
    }
}

impl From<axum::Error> for StorageError {
    fn from(error: axum::Error) -> Self {
        Self::invalid_request(format!("the request body could not be read: {error}"))
    }
}

impl From<std::io::Error> for StorageError {
    fn from(error: std::io::Error) -> Self {
        Self::internal(error)
    }
}

impl From<crate::store::StoreError> for StorageError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::internal(error)
    }
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        let body = json!({
            "statusCode": self.status.to_string(),
            "code": self.code,
            "error": self.error,
            "message": self.message,
        });
        (self.http, Json(body)).into_response()
    }
}
