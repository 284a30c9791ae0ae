//! Error: a Postgres error (SQLSTATE, message, detail, hint) raised in or passing through a
//! plpgsql body. It crosses SQLite's function-call boundary as message text with a marker, so
//! the REST and migration layers can read the SQLSTATE back.

use serde::{Deserialize, Serialize};

/// Marks an error message that carries a `PgError` as JSON.
const MARKER: char = '\u{1}';

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PgError {
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl PgError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// The error a SQLite failure carries: one raised by a body, or a constraint's SQLSTATE.
    pub fn from_sqlite(error: &rusqlite::Error) -> Self {
        if let Some(raised) = Self::decode(error) {
            return raised;
        }
        let (code, message) = match error {
            rusqlite::Error::SqliteFailure(failure, message) => {
                let code = match failure.extended_code {
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => "23505",
                    rusqlite::ffi::SQLITE_CONSTRAINT_NOTNULL => "23502",
                    rusqlite::ffi::SQLITE_CONSTRAINT_CHECK => "23514",
                    rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => "23503",
                    rusqlite::ffi::SQLITE_CONSTRAINT_TRIGGER => "P0001",
                    _ => "XX000",
                };
                (code, message.clone().unwrap_or_else(|| failure.to_string()))
            }
            other => ("XX000", other.to_string()),
        };
        Self::new(code, message)
    }

    /// The `PgError` inside a SQLite error whose message carries one.
    pub fn decode(error: &rusqlite::Error) -> Option<Self> {
        let text = match error {
            rusqlite::Error::SqliteFailure(_, Some(message)) => message.as_str(),
            rusqlite::Error::UserFunctionError(inner) => return inner.downcast_ref().cloned(),
            _ => return None,
        };
        serde_json::from_str(text.strip_prefix(MARKER)?).ok()
    }
}

impl From<rusqlite::Error> for PgError {
    fn from(error: rusqlite::Error) -> Self {
        Self::from_sqlite(&error)
    }
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        write!(f, "{MARKER}{json}")
    }
}

impl std::error::Error for PgError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_survives_the_sqlite_boundary() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        connection
            .create_scalar_function(
                "fail",
                0,
                rusqlite::functions::FunctionFlags::SQLITE_UTF8,
                |_| {
                    Err::<i64, _>(rusqlite::Error::UserFunctionError(Box::new(PgError {
                        hint: Some("h".into()),
                        ..PgError::new("P0001", "boom")
                    })))
                },
            )
            .unwrap();
        let error = connection
            .query_row("select fail()", [], |row| row.get::<_, i64>(0))
            .unwrap_err();
        let decoded = PgError::decode(&error).unwrap();
        assert_eq!(
            (decoded.code.as_str(), decoded.message.as_str()),
            ("P0001", "boom")
        );
        assert_eq!(decoded.hint.as_deref(), Some("h"));
    }
}
