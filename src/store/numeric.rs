//! Numeric: a `numeric(p, s)` value as Postgres stores it — rounded half away from zero to `s`
//! fraction digits on its decimal text (not as a float), `22003 numeric field overflow` when it
//! does not fit — for REST values, plpgsql assignments and `pg_numeric(value, p, s)`, the SQL
//! function every translated write, default and `::numeric(p, s)` cast goes through. The value
//! is stored as a SQLite number; its text shows the scale, as Postgres prints it (`0.50`).

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;

use crate::plpgsql::PgError;

/// Registers `pg_numeric(value, precision, scale)`.
pub fn register(connection: &Connection) -> rusqlite::Result<()> {
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    connection.create_scalar_function("pg_numeric", 3, pure, |context| {
        fit_value(context.get(0)?, context.get(1)?, context.get(2)?)
            .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
    })
}

/// A SQLite value as the stored value of a `numeric(precision, scale)` (NULL stays NULL).
pub fn fit_value(value: Value, precision: u32, scale: u32) -> Result<Value, PgError> {
    let text = match value {
        Value::Null => return Ok(Value::Null),
        Value::Integer(number) => number.to_string(),
        Value::Real(number) => number.to_string(),
        Value::Text(text) => text,
        Value::Blob(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
    };
    fit(&text, precision, scale)
}

/// `text` (`-12.345`, `1e-3`) as the stored value of a `numeric(precision, scale)`, or the error
/// Postgres answers: 22P02 for what is not a number, 22003 for what does not fit.
pub fn fit(text: &str, precision: u32, scale: u32) -> Result<Value, PgError> {
    let rounded = round(text.trim(), scale).ok_or_else(|| {
        PgError::new(
            "22P02",
            format!("invalid input syntax for type numeric: \"{text}\""),
        )
    })?;
    let whole = rounded
        .trim_start_matches('-')
        .split('.')
        .next()
        .unwrap_or("");
    let whole_digits = whole.trim_start_matches('0').len();
    let room = precision.saturating_sub(scale);
    if whole_digits > room as usize {
        let bound = match room {
            0 => "1".to_owned(),
            digits => format!("10^{digits}"),
        };
        return Err(PgError {
            detail: Some(format!(
                "A field with precision {precision}, scale {scale} must round to an absolute value less than {bound}."
            )),
            ..PgError::new("22003", "numeric field overflow")
        });
    }
    Ok(match (scale, rounded.parse::<i64>()) {
        (0, Ok(integer)) => Value::Integer(integer),
        _ => Value::Real(rounded.parse().unwrap_or(f64::NAN)),
    })
}

/// SQL printing the stored number `sql` with `scale` fraction digits, as Postgres prints a
/// `numeric(p, scale)` (NULL stays NULL).
pub fn text_sql(sql: &str, scale: u32) -> String {
    format!("CASE WHEN {sql} IS NULL THEN NULL ELSE printf('%.{scale}f', {sql}) END")
}

/// `text` rounded half away from zero to `scale` fraction digits, as decimal text; `None` when
/// it is not a number.
fn round(text: &str, scale: u32) -> Option<String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = || whole.bytes().chain(fraction.bytes());
    if (whole.is_empty() && fraction.is_empty()) || !all().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let mut digits: Vec<u8> = all().map(|byte| byte - b'0').collect();
    // The decimal point stands after `point` digits.
    let mut point = whole.len() as i64 + exponent;
    if point < -i64::from(scale) - 1 {
        // Far below the last kept digit: rounds to zero.
        digits.clear();
        point = 0;
    }
    // Far above any precision Postgres allows: keep enough digits to overflow it.
    let point = point.min(1002);
    if point < 1 {
        digits.splice(0..0, std::iter::repeat_n(0, (1 - point) as usize));
    }
    let mut point = point.max(1) as usize;
    let keep = point + scale as usize;
    if digits.len() <= keep {
        digits.resize(keep, 0);
    } else {
        let round_up = digits[keep] >= 5;
        digits.truncate(keep);
        if round_up {
            match digits.iter().rposition(|digit| *digit != 9) {
                Some(index) => {
                    digits[index] += 1;
                    digits[index + 1..].fill(0);
                }
                None => {
                    digits.fill(0);
                    digits.insert(0, 1);
                    point += 1;
                }
            }
        }
    }
    let text = |digits: &[u8]| -> String {
        digits
            .iter()
            .map(|digit| char::from(b'0' + digit))
            .collect()
    };
    let whole = text(&digits[..point]);
    let whole = match whole.trim_start_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    let fraction = text(&digits[point..]);
    let sign = match negative && digits.iter().any(|digit| *digit != 0) {
        true => "-",
        false => "",
    };
    Some(match scale {
        0 => format!("{sign}{whole}"),
        _ => format!("{sign}{whole}.{fraction}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_away_from_zero_as_postgres_15() {
        // Each answer is PostgreSQL 15's `select '<text>'::numeric(p, s)`.
        let rounded = |text: &str, scale| round(text, scale).unwrap();
        for (text, scale, expected) in [
            ("2.345", 2, "2.35"),
            ("-2.345", 2, "-2.35"),
            ("1.005", 2, "1.01"),
            ("-1.005", 2, "-1.01"),
            ("2.5", 2, "2.50"),
            ("-0.004", 2, "0.00"),
            ("1e2", 2, "100.00"),
            ("1.5e-1", 2, "0.15"),
            ("12345678.994", 2, "12345678.99"),
            ("999.4", 0, "999"),
            ("0.5", 0, "1"),
            ("-0.5", 0, "-1"),
            ("9.999", 2, "10.00"),
            ("1e-999999999", 2, "0.00"),
        ] {
            assert_eq!(rounded(text, scale), expected, "{text}");
        }
        assert_eq!(round("1.2.3", 2), None);
        assert_eq!(round("abc", 2), None);
        assert_eq!(fit("19.999", 10, 2).unwrap(), Value::Real(20.0));
        assert_eq!(fit(" 7 ", 5, 0).unwrap(), Value::Integer(7));
        assert_eq!(
            fit("abc", 10, 2).unwrap_err(),
            PgError::new("22P02", "invalid input syntax for type numeric: \"abc\"")
        );
    }

    #[test]
    fn what_does_not_fit_overflows_with_postgres_detail() {
        for (precision, scale, text, bound) in [
            (10, 2, "99999999.995", "10^8"),
            (10, 2, "1000000000", "10^8"),
            (3, 0, "999.5", "10^3"),
            (2, 2, "0.995", "1"),
            (10, 2, "1e999999999", "10^8"),
        ] {
            let error = fit(text, precision, scale).unwrap_err();
            assert_eq!(
                (error.code.as_str(), error.message.as_str()),
                ("22003", "numeric field overflow")
            );
            assert_eq!(
                error.detail.unwrap(),
                format!(
                    "A field with precision {precision}, scale {scale} must round to an absolute value less than {bound}."
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn the_sql_function_rounds_prints_and_refuses() {
        let connection = Connection::open_in_memory().unwrap();
        register(&connection).unwrap();
        let text = |sql: &str| {
            connection
                .query_row(&format!("SELECT {sql}"), [], |row| {
                    row.get::<_, Option<String>>(0)
                })
                .map_err(|error| PgError::from_sqlite(&error).code)
        };
        let printed = |sql: &str| text(&text_sql(sql, 2));
        assert_eq!(printed("pg_numeric(2.345, 10, 2)"), Ok(Some("2.35".into())));
        assert_eq!(
            printed("pg_numeric(-2.345, 10, 2)"),
            Ok(Some("-2.35".into()))
        );
        assert_eq!(printed("pg_numeric('0.5', 10, 2)"), Ok(Some("0.50".into())));
        assert_eq!(printed("pg_numeric(NULL, 10, 2)"), Ok(None));
        assert_eq!(text("pg_numeric(1e9, 10, 2)"), Err("22003".into()));
        assert_eq!(text("pg_numeric('x', 10, 2)"), Err("22P02".into()));
    }
}
