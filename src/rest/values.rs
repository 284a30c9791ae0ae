//! Values: client values (filter text, JSON payloads) checked against a column's Postgres type
//! and turned into the stored SQLite form; a value the type rejects is 22P02, as in Postgres.

use rusqlite::types::Value as SqlValue;
use serde_json::Value;

use super::error::RestError;
use crate::migrate::values::{array_literal_to_json, normalize_timestamptz};
use crate::schema::{PgType, SchemaCache};

/// A value in its stored form, ready to bind.
pub type Literal = SqlValue;

fn invalid(pg_type: &PgType, text: &str) -> RestError {
    let message = match pg_type {
        PgType::Enum(name) => format!("invalid input value for enum {}: \"{text}\"", name.name),
        PgType::Json | PgType::Jsonb => "invalid input syntax for type json".to_owned(),
        other => format!(
            "invalid input syntax for type {}: \"{text}\"",
            other.pg_name()
        ),
    };
    RestError::sql("22P02", message, false)
}

fn malformed_array(text: &str) -> RestError {
    RestError::sql(
        "22P02",
        format!("malformed array literal: \"{text}\""),
        false,
    )
}

fn out_of_range(pg_type: &PgType, text: &str) -> RestError {
    RestError::sql(
        "22003",
        format!(
            "value \"{text}\" is out of range for type {}",
            pg_type.pg_name()
        ),
        false,
    )
}

/// An integer of `pg_type`, range-checked as Postgres does.
fn integer(pg_type: &PgType, text: &str) -> Result<SqlValue, RestError> {
    let value: i64 = text.trim().parse().map_err(|_| {
        if !text.trim().is_empty()
            && text
                .trim()
                .trim_start_matches('-')
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            out_of_range(pg_type, text)
        } else {
            invalid(pg_type, text)
        }
    })?;
    let fits = match pg_type {
        PgType::SmallInt => i16::try_from(value).is_ok(),
        PgType::Integer => i32::try_from(value).is_ok(),
        _ => true,
    };
    if !fits {
        return Err(out_of_range(pg_type, text));
    }
    Ok(SqlValue::Integer(value))
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]` with trailing fraction zeros dropped, as Postgres renders.
fn civil_text(text: String) -> String {
    match text.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{fraction}")
            }
        }
        None => text,
    }
}

/// A JSON operand (`cs.{"a":1}`) checked and minified.
pub fn json_from_text(pg_type: &PgType, text: &str) -> Result<String, RestError> {
    let value: Value = serde_json::from_str(text).map_err(|_| invalid(pg_type, text))?;
    Ok(value.to_string())
}

/// An array operand (`{a,b}` or `["a","b"]`) as the stored JSON array, each element checked
/// against `element`.
pub fn array_from_text(
    schema: &SchemaCache,
    element: &PgType,
    text: &str,
) -> Result<String, RestError> {
    let json = array_literal_to_json(text).ok_or_else(|| malformed_array(text))?;
    let items: Vec<Value> = serde_json::from_str(&json).map_err(|_| malformed_array(text))?;
    let items = items
        .iter()
        .map(|item| element_json(schema, element, item))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(items).to_string())
}

/// One array element in the JSON form arrays are stored in.
fn element_json(schema: &SchemaCache, element: &PgType, item: &Value) -> Result<Value, RestError> {
    Ok(match from_json(schema, element, item)? {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(flag) if *element == PgType::Boolean => Value::Bool(flag != 0),
        SqlValue::Integer(number) => Value::from(number),
        SqlValue::Real(number) => Value::from(number),
        SqlValue::Text(text) if matches!(element, PgType::Json | PgType::Jsonb) => {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        SqlValue::Text(text) => Value::String(text),
        SqlValue::Blob(_) => item.clone(),
    })
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
        PgType::SmallInt | PgType::Integer | PgType::BigInt => integer(pg_type, text)?,
        PgType::Decimal { precision, scale } => {
            crate::store::numeric::fit(text, *precision, *scale).map_err(RestError::from)?
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
        PgType::Timestamp => {
            let time: jiff::civil::DateTime = text
                .trim()
                .replacen(' ', "T", 1)
                .parse()
                .map_err(|_| invalid(pg_type, text))?;
            SqlValue::Text(civil_text(
                time.strftime("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            ))
        }
        PgType::Date => {
            let date: jiff::civil::Date =
                text.trim().parse().map_err(|_| invalid(pg_type, text))?;
            SqlValue::Text(date.to_string())
        }
        PgType::Time => {
            let time: jiff::civil::Time =
                text.trim().parse().map_err(|_| invalid(pg_type, text))?;
            SqlValue::Text(civil_text(time.strftime("%H:%M:%S%.6f").to_string()))
        }
        PgType::Json | PgType::Jsonb => SqlValue::Text(json_from_text(pg_type, text)?),
        PgType::Printed(printed) => SqlValue::Text(
            crate::migrate::printed::normalize(*printed, text).map_err(RestError::from)?,
        ),
        PgType::Array(element) => SqlValue::Text(array_from_text(schema, element, text)?),
        PgType::Varchar(Some(limit)) | PgType::Char(Some(limit))
            if text.chars().count() > *limit as usize =>
        {
            return Err(RestError::sql(
                "22001",
                format!("value too long for type {}({limit})", pg_type.pg_name()),
                false,
            ));
        }
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
        (PgType::Array(element), Value::Array(items)) => SqlValue::Text(
            Value::Array(
                items
                    .iter()
                    .map(|item| match item {
                        Value::Array(_) => Ok(item.clone()),
                        item => element_json(schema, element, item),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            )
            .to_string(),
        ),
        (PgType::Boolean, Value::Bool(flag)) => SqlValue::Integer(i64::from(*flag)),
        (PgType::SmallInt | PgType::Integer | PgType::BigInt, Value::Number(number)) => {
            integer(pg_type, &number.to_string())?
        }
        (PgType::Decimal { precision, scale }, Value::Number(number)) => {
            crate::store::numeric::fit(&number.to_string(), *precision, *scale)
                .map_err(RestError::from)?
        }
        (PgType::Numeric | PgType::Real | PgType::Double, Value::Number(number)) => {
            match number.as_i64() {
                Some(integer) if !matches!(pg_type, PgType::Real | PgType::Double) => {
                    SqlValue::Integer(integer)
                }
                _ => SqlValue::Real(number.as_f64().unwrap_or(f64::NAN)),
            }
        }
        // An embedding sent as a JSON array reads as pgvector's text form.
        (PgType::Printed(crate::schema::PrintedType::Vector(_)), Value::Array(_)) => {
            from_text(schema, pg_type, &value.to_string())?
        }
        // A GeoJSON object is a geometry's input too.
        (PgType::Printed(crate::schema::PrintedType::Geometry(_)), Value::Object(_)) => {
            from_text(schema, pg_type, &value.to_string())?
        }
        (_, Value::String(text)) => from_text(schema, pg_type, text)?,
        (_, Value::Bool(flag)) => from_text(schema, pg_type, &flag.to_string())?,
        (_, Value::Number(number)) => from_text(schema, pg_type, &number.to_string())?,
        (PgType::Text | PgType::Varchar(_) | PgType::Char(_), other) => {
            from_text(schema, pg_type, &other.to_string())?
        }
        (_, other) => return Err(invalid(pg_type, &other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_with_a_scale_rounds_and_overflows_as_postgres_15() {
        let schema = SchemaCache::default();
        let decimal = PgType::Decimal {
            precision: 10,
            scale: 2,
        };
        assert_eq!(
            from_json(&schema, &decimal, &json!(19.999)).unwrap(),
            SqlValue::Real(20.0)
        );
        assert_eq!(
            from_text(&schema, &decimal, "-2.345").unwrap(),
            SqlValue::Real(-2.35)
        );
        let error = from_text(&schema, &decimal, "99999999.995").unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("22003", "numeric field overflow")
        );
        assert_eq!(
            error.details.unwrap().as_str(),
            Some(
                "A field with precision 10, scale 2 must round to an absolute value less than 10^8."
            )
        );
        assert_eq!(
            from_text(&schema, &decimal, "x").unwrap_err().message,
            "invalid input syntax for type numeric: \"x\""
        );
    }

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
