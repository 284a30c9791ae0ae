//! RestError: PostgREST's error body `{code, message, details, hint}` and its HTTP status.
//! Every stage of the REST pipeline returns this; the SQLSTATE → status table lives here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub struct RestError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Mostly text; a JSON array where PostgREST sends one (PGRST201's relationships).
    pub details: Option<Box<serde_json::Value>>,
    pub hint: Option<String>,
}

impl RestError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            details: None,
            hint: None,
        }
    }

    /// A PostgreSQL error, its status chosen as PostgREST's `mapSQLtoHTTP` does.
    /// `anon` matters only for 42501 (401 for anon, 403 otherwise).
    pub fn sql(sqlstate: &str, message: impl Into<String>, anon: bool) -> Self {
        let message = message.into();
        Self::new(
            status_for_sqlstate(sqlstate, &message, anon),
            sqlstate,
            message,
        )
    }

    /// The same error with another HTTP status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(Box::new(serde_json::Value::String(details.into())));
        self
    }

    /// Details that are JSON rather than text.
    pub fn details_json(mut self, details: serde_json::Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// One of PostgREST's own errors (`PGRSTnnn`), its status from `status_for_pgrst`.
    pub fn pgrst(code: &str, message: impl Into<String>) -> Self {
        Self::new(status_for_pgrst(code), code, message)
    }

    /// PGRST100: the query string does not parse.
    pub fn parse(what: &str, input: &str, details: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "PGRST100",
            format!("\"failed to parse {what} ({input})\" (line 1, column 1)"),
        )
        .details(details)
    }

    /// An unexpected internal failure; the cause is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "XX000", "internal error")
    }
}

/// PostgREST's own codes → HTTP status, after its `Error.hs` (protocol.md §2.12).
fn status_for_pgrst(code: &str) -> StatusCode {
    match code {
        "PGRST101" | "PGRST105" | "PGRST117" => StatusCode::METHOD_NOT_ALLOWED,
        "PGRST103" => StatusCode::RANGE_NOT_SATISFIABLE,
        "PGRST106" | "PGRST107" | "PGRST116" => StatusCode::NOT_ACCEPTABLE,
        "PGRST125" | "PGRST126" | "PGRST202" | "PGRST205" => StatusCode::NOT_FOUND, // not found
        "PGRST201" | "PGRST203" => StatusCode::MULTIPLE_CHOICES, // ambiguous embed or overload
        _ => StatusCode::BAD_REQUEST,
    }
}

/// SQLSTATE → HTTP status, after PostgREST's `mapSQLtoHTTP`.
fn status_for_sqlstate(sqlstate: &str, message: &str, anon: bool) -> StatusCode {
    let class = sqlstate.get(..2).unwrap_or("");
    match sqlstate {
        "42501" if anon => StatusCode::UNAUTHORIZED, // insufficient_privilege, no user
        "42501" => StatusCode::FORBIDDEN,
        "23505" | "23503" => StatusCode::CONFLICT, // unique_violation, foreign_key_violation
        "42P01" | "42883" => StatusCode::NOT_FOUND, // undefined_table, undefined_function
        "42P17" => StatusCode::INTERNAL_SERVER_ERROR, // infinite recursion in a policy
        "25006" => StatusCode::METHOD_NOT_ALLOWED, // read_only_sql_transaction
        "21000" => StatusCode::INTERNAL_SERVER_ERROR, // cardinality_violation
        // invalid_parameter_value; PostgREST answers the JWT's role missing with 401.
        "22023" if message.starts_with("role") && message.ends_with("does not exist") => {
            StatusCode::UNAUTHORIZED
        }
        "53400" => StatusCode::INTERNAL_SERVER_ERROR,
        "57P01" => StatusCode::SERVICE_UNAVAILABLE,
        _ if sqlstate.starts_with("PT") => sqlstate[2..]
            .parse::<u16>()
            .ok()
            .and_then(|code| StatusCode::from_u16(code).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        _ => match class {
            "08" | "53" => StatusCode::SERVICE_UNAVAILABLE,
            "09" | "25" | "2D" | "38" | "39" | "3B" | "40" | "54" | "55" | "57" | "58" | "F0"
            | "HV" | "P0" | "XX" => {
                if sqlstate == "P0001" {
                    StatusCode::BAD_REQUEST // raise exception
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }
            "28" | "0L" | "0P" => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        },
    }
}

/// An error Postgres raised (a plpgsql body, a store function), with its SQLSTATE, message,
/// detail and hint.
impl From<crate::plpgsql::PgError> for RestError {
    fn from(error: crate::plpgsql::PgError) -> Self {
        let mut rest = RestError::sql(&error.code, error.message, false);
        if let Some(detail) = error.detail {
            rest = rest.details(detail);
        }
        if let Some(hint) = error.hint {
            rest = rest.hint(hint);
        }
        rest
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "hint": self.hint,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&format!("PostgREST; error={}", self.code)) {
            headers.insert("proxy-status", value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            let description = self.message.replace('"', "'");
            if let Ok(value) = HeaderValue::from_str(&format!(
                "Bearer error=\"invalid_token\", error_description=\"{description}\""
            )) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_postgrest_statuses() {
        for (sqlstate, anon, status) in [
            ("42501", true, 401),
            ("42501", false, 403),
            ("23505", false, 409),
            ("23503", false, 409),
            ("23502", false, 400),
            ("23514", false, 400),
            ("22P02", false, 400),
            ("42703", false, 400),
            ("P0001", false, 400),
            ("PT402", false, 402),
            ("XX000", false, 500),
            ("22023", false, 400),
        ] {
            assert_eq!(
                status_for_sqlstate(sqlstate, "", anon).as_u16(),
                status,
                "{sqlstate}"
            );
        }
    }

    #[test]
    fn postgrest_codes_map_to_their_statuses() {
        for (code, status) in [
            ("PGRST100", 400),
            ("PGRST103", 416),
            ("PGRST116", 406),
            ("PGRST200", 400),
            ("PGRST201", 300),
            ("PGRST202", 404),
            ("PGRST204", 400),
            ("PGRST205", 404),
        ] {
            assert_eq!(status_for_pgrst(code).as_u16(), status, "{code}");
        }
    }
}
