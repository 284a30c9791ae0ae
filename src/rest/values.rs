//! Values: client values (filter text, JSON payloads) checked against a column's Postgres type
//! and turned into the stored SQLite form; a value the type rejects is 22P02, as in Postgres.

use axum::http::StatusCode;
use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use super::error::RestError;
use crate::migrate::values::{array_literal_to_json, normalize_timestamptz};
use crate::schema::{PgType, SchemaCache};

fn invalid(pg_type: &PgType, text: &str) -> RestError {
    let message = match pg_type {
        PgType::Enum(name) => format!("invalid input value for enum {}: \"{text}\"", name.name),
        other => format!(
            "invalid input syntax for type {}: \"{text}\"",
            other.pg_name()
        ),
    };
    RestError::new(StatusCode::BAD_REQUEST, "22P02", message)
}

/// A filter operand (always text on the wire) as a stored value of `pg_type`.
pub fn from_text(
    schema: &SchemaCache,
    pg_type: &PgType,
    text: &str,
) -> Result<SqlValue, RestError> {
    Ok(match pg_type {
        PgType::Uuid => SqlValue::Text(
            uuid::Uuid::parse_str(text)
                .map_err(|_| invalid(pg_type, text))?
                .hyphenated()
                .to_string(),
        ),
        PgType::SmallInt | PgType::Integer | PgType::BigInt => {
            SqlValue::Integer(text.trim().parse().map_err(|_| invalid(pg_type, text))?)
        }
        PgType::Numeric | PgType::Real | PgType::Double => {
            let trimmed = text.trim();
            match trimmed.parse::<i64>() {
                Ok(integer) if !matches!(pg_type, PgType::Real | PgType::Double) => {
                    SqlValue::Integer(integer)
                }
                _ => SqlValue::Real(trimmed.parse().map_err(|_| invalid(pg_type, text))?),
            }
        }
        PgType::Boolean => SqlValue::Integer(match text.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "on" | "1" => 1,
            "false" | "f" | "no" | "n" | "off" | "0" => 0,
            _ => return Err(invalid(pg_type, text)),
        }),
        PgType::Timestamptz => {
            SqlValue::Text(normalize_timestamptz(text).ok_or_else(|| invalid(pg_type, text))?)
        }
        PgType::Timestamp => SqlValue::Text(text.trim().replacen(' ', "T", 1)),
        PgType::Json | PgType::Jsonb => {
            let value: Value = serde_json::from_str(text).map_err(|_| invalid(pg_type, text))?;
            SqlValue::Text(value.to_string())
        }
        PgType::Array(_) => SqlValue::Text(array_literal_to_json(text).ok_or_else(|| {
            RestError::new(
                StatusCode::BAD_REQUEST,
                "22P02",
                format!("malformed array literal: \"{text}\""),
            )
        })?),
        PgType::Enum(name) => {
            let labels = schema
                .enums
                .get(name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if !labels.iter().any(|label| label == text) {
                return Err(invalid(pg_type, text));
            }
            SqlValue::Text(text.to_owned())
        }
        _ => SqlValue::Text(text.to_owned()),
    })
}

/// A JSON payload value as a stored value of `pg_type`.
pub fn from_json(
    schema: &SchemaCache,
    pg_type: &PgType,
    value: &Value,
) -> Result<SqlValue, RestError> {
    Ok(match (pg_type, value) {
        (_, Value::Null) => SqlValue::Null,
        (PgType::Json | PgType::Jsonb, value) => SqlValue::Text(value.to_string()),
        (PgType::Array(element), Value::Array(items)) => {
            for item in items {
                if !item.is_null() && !item.is_array() {
                    from_json(schema, element, item)?;
                }
            }
            SqlValue::Text(value.to_string())
        }
        (PgType::Boolean, Value::Bool(flag)) => SqlValue::Integer(i64::from(*flag)),
        (PgType::SmallInt | PgType::Integer | PgType::BigInt, Value::Number(number)) => {
            SqlValue::Integer(
                number
                    .as_i64()
                    .ok_or_else(|| invalid(pg_type, &number.to_string()))?,
            )
        }
        (PgType::Numeric | PgType::Real | PgType::Double, Value::Number(number)) => {
            match number.as_i64() {
                Some(integer) if !matches!(pg_type, PgType::Real | PgType::Double) => {
                    SqlValue::Integer(integer)
                }
                _ => SqlValue::Real(number.as_f64().unwrap_or(f64::NAN)),
            }
        }
        (_, Value::String(text)) => from_text(schema, pg_type, text)?,
        (_, Value::Bool(flag)) => from_text(schema, pg_type, &flag.to_string())?,
        (_, Value::Number(number)) => from_text(schema, pg_type, &number.to_string())?,
        (_, other) => return Err(invalid(pg_type, &other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_checked_against_their_type() {
        let schema = SchemaCache::default();
        assert_eq!(
            from_text(&schema, &PgType::Uuid, "abc")
                .unwrap_err()
                .message,
            "invalid input syntax for type uuid: \"abc\""
        );
        assert_eq!(
            from_text(&schema, &PgType::Integer, "x").unwrap_err().code,
            "22P02"
        );
        assert_eq!(
            from_text(&schema, &PgType::Boolean, "t").unwrap(),
            SqlValue::Integer(1)
        );
        assert_eq!(
            from_text(&schema, &PgType::Timestamptz, "2024-01-01 12:00:00+01").unwrap(),
            SqlValue::Text("2024-01-01T11:00:00+00:00".into())
        );
        assert_eq!(
            from_json(&schema, &PgType::Jsonb, &json!({"a": [1]})).unwrap(),
            SqlValue::Text("{\"a\":[1]}".into())
        );
        assert_eq!(
            from_json(
                &schema,
                &PgType::Array(Box::new(PgType::Integer)),
                &json!([1, "x"])
            )
            .unwrap_err()
            .code,
            "22P02"
        );
        assert_eq!(
            from_json(&schema, &PgType::BigInt, &json!(9007199254740993i64)).unwrap(),
            SqlValue::Integer(9007199254740993)
        );
    }
}
