//! Temporal: Postgres date/time expressions as calls of the store's date/time functions
//! (`store::datetime`) — interval literals, `+`/`-`/`*` with a date/time operand, interval
//! comparisons, `extract`, `date_trunc`, `date_part`, `age`, `AT TIME ZONE`, `current_date`,
//! the casts — and the assignment cast of a column default to its column's type.

use sqlparser::ast::{BinaryOperator, Expr, Value, ValueWithSpan};

use super::expression::{Unsupported, raw};
use crate::schema::PgType;
use crate::store::datetime::Interval;
use crate::store::naming::quote_literal;

/// The store functions whose result is a date/time value; an operand calling one of them makes
/// `+`, `-` and `*` date/time arithmetic.
const TEMPORAL_CALLS: &[&str] = &[
    "pg_now",
    "pg_interval",
    "pg_date",
    "pg_timestamp",
    "pg_timestamptz",
    "pg_date_trunc",
    "pg_age",
    "pg_at_time_zone",
    "pg_add",
    "pg_sub",
    "pg_mul",
];

/// The store function `text` (already translated) is one whole call of, ignoring parentheses.
fn called_function(text: &str) -> Option<&str> {
    let mut text = text.trim();
    while text.starts_with('(') && closing_paren(text, 0) == Some(text.len() - 1) {
        text = text[1..text.len() - 1].trim();
    }
    let open = text.find('(')?;
    let name = &text[..open];
    let whole = closing_paren(text, open) == Some(text.len() - 1);
    (whole && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(name)
}

/// Index of the parenthesis closing the one at `open`, skipping quoted text.
fn closing_paren(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote = None;
    for (index, c) in text.char_indices().skip_while(|(index, _)| *index < open) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(index);
                }
            }
            _ => {}
        }
    }
    None
}

fn is_temporal(expr: &Expr) -> bool {
    called_function(&expr.to_string()).is_some_and(|name| TEMPORAL_CALLS.contains(&name))
}

fn is_interval(expr: &Expr) -> bool {
    matches!(
        called_function(&expr.to_string()),
        Some("pg_interval" | "pg_age")
    )
}

/// `interval '…'` as its canonical text, checked now so a typo fails the migration.
pub fn interval_literal(text: &str) -> Result<String, Unsupported> {
    let interval = Interval::parse(text).map_err(|error| Unsupported(error.0))?;
    Ok(format!(
        "pg_interval({})",
        quote_literal(&interval.to_string())
    ))
}

/// The rewrite of a date/time expression, if `expr` is one.
pub fn rewrite(expr: &Expr) -> Result<Option<Expr>, Unsupported> {
    Ok(Some(match expr {
        Expr::Interval(interval) => {
            let text = match interval.value.as_ref() {
                Expr::Value(ValueWithSpan {
                    value: Value::SingleQuotedString(text),
                    ..
                }) => text.clone(),
                other => return Err(Unsupported(format!("interval {other} is not supported"))),
            };
            if interval.last_field.is_some() {
                return Err(Unsupported(format!("`{expr}` is not supported")));
            }
            let text = match &interval.leading_field {
                Some(field) => format!("{text} {field}"),
                None => text,
            };
            raw(interval_literal(&text)?)
        }
        Expr::Extract { field, expr, .. } => raw(format!(
            "pg_extract({}, {expr})",
            quote_literal(&field.to_string().to_ascii_lowercase())
        )),
        Expr::AtTimeZone {
            timestamp,
            time_zone,
        } => raw(format!("pg_at_time_zone({timestamp}, {time_zone})")),
        Expr::BinaryOp { left, op, right } => {
            let function = match op {
                BinaryOperator::Plus => "pg_add",
                BinaryOperator::Minus => "pg_sub",
                BinaryOperator::Multiply => "pg_mul",
                BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq
                | BinaryOperator::Eq
                | BinaryOperator::NotEq
                    if is_interval(left) || is_interval(right) =>
                {
                    return Ok(Some(raw(format!(
                        "pg_interval_cmp({left}, {right}) {op} 0"
                    ))));
                }
                _ => return Ok(None),
            };
            if !is_temporal(left) && !is_temporal(right) {
                return Ok(None);
            }
            raw(format!("{function}({left}, {right})"))
        }
        _ => return Ok(None),
    }))
}

/// Date/time functions by name, with their translated arguments.
pub fn call(name: &str, args: &[String]) -> Option<String> {
    Some(match (name, args) {
        ("current_date", []) => "pg_date(pg_now())".into(),
        ("date_trunc", [field, value]) => format!("pg_date_trunc({field}, {value})"),
        ("date_part", [field, value]) => format!("pg_extract({field}, {value})"),
        ("age", [later, earlier]) => format!("pg_age({later}, {earlier})"),
        ("age", [value]) => format!("pg_age(pg_date(pg_now()), {value})"),
        ("timezone", [zone, value]) => format!("pg_at_time_zone({value}, {zone})"),
        _ => return None,
    })
}

/// `x::date`, `x::timestamp`, `x::timestamptz`, `x::interval` as store casts; `None` for other
/// types. Literals are checked now.
pub fn cast(type_name: &str, inner: &Expr) -> Result<Option<String>, Unsupported> {
    let function = match type_name {
        "date" => "pg_date",
        "timestamp" | "timestamp without time zone" => "pg_timestamp",
        "timestamptz" | "timestamp with time zone" => "pg_timestamptz",
        "interval" => "pg_interval",
        _ => return Ok(None),
    };
    if let Expr::Value(ValueWithSpan {
        value: Value::SingleQuotedString(text),
        ..
    }) = inner
        && function == "pg_interval"
    {
        return interval_literal(text).map(Some);
    }
    Ok(Some(format!("{function}({inner})")))
}

/// A column default's translation cast to the column's date/time type, as Postgres casts on
/// assignment (`now() at time zone 'utc'` into a timestamptz, `now()` into a date).
pub fn assign(pg_type: &PgType, translated: String) -> String {
    let function = match pg_type {
        PgType::Timestamptz => "pg_timestamptz",
        PgType::Timestamp => "pg_timestamp",
        PgType::Date => "pg_date",
        PgType::Interval => "pg_interval",
        _ => return translated,
    };
    let called = called_function(&translated);
    let already = called == Some(function)
        || (function == "pg_timestamptz" && called == Some("pg_now"))
        || (function == "pg_interval" && called == Some("pg_interval"));
    if already || !TEMPORAL_CALLS.contains(&called.unwrap_or("")) {
        return translated;
    }
    format!("{function}({translated})")
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use rusqlite::types::Value;

    use super::super::expression::translate_expr_text;

    /// Each expression with the JSON PostgreSQL 15 answers for `select to_json(expr)` with
    /// TimeZone=UTC (numbers and booleans compared by value).
    const POSTGRES: &[(&str, &str)] = &[
        (r#"interval '7 days'"#, r#""7 days""#),
        (r#"interval '1 day 2 hours'"#, r#""1 day 02:00:00""#),
        (r#"interval '90 minutes'"#, r#""01:30:00""#),
        (r#"interval '1 year 14 months'"#, r#""2 years 2 mons""#),
        (r#"interval '-1 day'"#, r#""-1 days""#),
        (r#"interval '36 hours'"#, r#""36:00:00""#),
        (r#"interval '1.5 days'"#, r#""1 day 12:00:00""#),
        (r#"interval '1.5 months'"#, r#""1 mon 15 days""#),
        (r#"interval '2 weeks ago'"#, r#""-14 days""#),
        (r#"interval '-1 day +2 hours'"#, r#""-1 days +02:00:00""#),
        (r#"interval '1 day -01:00:00'"#, r#""1 day -01:00:00""#),
        (r#"interval '10min'"#, r#""00:10:00""#),
        (r#"interval '0'"#, r#""00:00:00""#),
        (r#"interval '1 mon'"#, r#""1 mon""#),
        (
            r#"interval '1 hour 30 minutes 15.25 seconds'"#,
            r#""01:30:15.25""#,
        ),
        (r#"interval '3' day"#, r#""3 days""#),
        (r#"'2 hours'::interval"#, r#""02:00:00""#),
        (
            r#"timestamptz '2024-01-31 10:00:00+00' + interval '1 month'"#,
            r#""2024-02-29T10:00:00+00:00""#,
        ),
        (
            r#"timestamptz '2024-03-31 10:00:00+00' - interval '1 month'"#,
            r#""2024-02-29T10:00:00+00:00""#,
        ),
        (
            r#"timestamptz '2024-01-01 10:00:00+00' - interval '7 days'"#,
            r#""2023-12-25T10:00:00+00:00""#,
        ),
        (
            r#"timestamptz '2024-01-01 10:00:00+00' + interval '1 day 02:30:00'"#,
            r#""2024-01-02T12:30:00+00:00""#,
        ),
        (
            r#"timestamptz '2024-03-01 00:00:00+00' - timestamptz '2024-01-01 12:00:00+00'"#,
            r#""59 days 12:00:00""#,
        ),
        (
            r#"timestamptz '2024-01-01 00:00:00+00' - timestamptz '2024-03-01 12:00:00+00'"#,
            r#""-60 days -12:00:00""#,
        ),
        (
            r#"date '2024-01-31' + interval '1 month'"#,
            r#""2024-02-29T00:00:00""#,
        ),
        (r#"date '2024-01-31' + 3"#, r#""2024-02-03""#),
        (r#"date '2024-03-01' - 1"#, r#""2024-02-29""#),
        (r#"date '2024-03-01' - date '2024-01-01'"#, r#"60"#),
        (r#"interval '1 day' * 2"#, r#""2 days""#),
        (r#"interval '1 day 3 hours' * 1.5"#, r#""1 day 16:30:00""#),
        (r#"interval '1 month' * 0.5"#, r#""15 days""#),
        (
            r#"interval '2 hours' + interval '30 minutes'"#,
            r#""02:30:00""#,
        ),
        (r#"interval '1 day' > interval '23 hours'"#, r#"true"#),
        (r#"interval '1 month' = interval '30 days'"#, r#"true"#),
        (r#"interval '25 hours' < interval '1 day'"#, r#"false"#),
        (
            r#"extract(epoch from timestamptz '2024-01-01 10:00:00.5+00')"#,
            r#"1704103200.500000"#,
        ),
        (
            r#"extract(year from timestamptz '2024-06-15 10:00:00+00')"#,
            r#"2024"#,
        ),
        (r#"extract(month from date '2024-06-15')"#, r#"6"#),
        (r#"extract(dow from date '2024-06-15')"#, r#"6"#),
        (r#"extract(isodow from date '2024-06-16')"#, r#"7"#),
        (r#"extract(doy from date '2024-06-15')"#, r#"167"#),
        (r#"extract(week from date '2024-01-01')"#, r#"1"#),
        (
            r#"extract(hour from timestamptz '2024-06-15 13:45:00+00')"#,
            r#"13"#,
        ),
        (
            r#"extract(second from timestamptz '2024-06-15 13:45:07.25+00')"#,
            r#"7.250000"#,
        ),
        (r#"extract(quarter from date '2024-06-15')"#, r#"2"#),
        (
            r#"extract(epoch from interval '1 day 2 hours')"#,
            r#"93600.000000"#,
        ),
        (r#"extract(day from interval '3 days 4 hours')"#, r#"3"#),
        (
            r#"date_part('year', timestamptz '2024-06-15 10:00:00+00')"#,
            r#"2024"#,
        ),
        (
            r#"date_trunc('day', timestamptz '2024-06-15 13:45:07.25+00')"#,
            r#""2024-06-15T00:00:00+00:00""#,
        ),
        (
            r#"date_trunc('month', timestamptz '2024-06-15 13:45:07.25+00')"#,
            r#""2024-06-01T00:00:00+00:00""#,
        ),
        (
            r#"date_trunc('week', timestamptz '2024-06-15 13:45:07.25+00')"#,
            r#""2024-06-10T00:00:00+00:00""#,
        ),
        (
            r#"date_trunc('hour', timestamptz '2024-06-15 13:45:07.25+00')"#,
            r#""2024-06-15T13:00:00+00:00""#,
        ),
        (
            r#"date_trunc('year', timestamp '2024-06-15 13:45:07.25')"#,
            r#""2024-01-01T00:00:00""#,
        ),
        (
            r#"date_trunc('quarter', timestamptz '2024-08-15 13:45:07+00')"#,
            r#""2024-07-01T00:00:00+00:00""#,
        ),
        (
            r#"age(timestamptz '2024-03-01', timestamptz '2023-01-15')"#,
            r#""1 year 1 mon 17 days""#,
        ),
        (
            r#"age(timestamptz '2023-01-15', timestamptz '2024-03-01')"#,
            r#""-1 years -1 mons -17 days""#,
        ),
        (
            r#"age(timestamp '2024-03-01 10:00', timestamp '2024-02-28 12:00')"#,
            r#""1 day 22:00:00""#,
        ),
        (
            r#"age(date '2024-05-31', date '2024-02-29')"#,
            r#""3 mons 2 days""#,
        ),
        (
            r#"timestamptz '2024-06-15 13:45:00+00' at time zone 'utc'"#,
            r#""2024-06-15T13:45:00""#,
        ),
        (
            r#"timestamptz '2024-06-15 13:45:00+00' at time zone 'Asia/Tokyo'"#,
            r#""2024-06-15T22:45:00""#,
        ),
        (
            r#"timestamptz '2024-06-15 13:45:00+00' at time zone 'America/New_York'"#,
            r#""2024-06-15T09:45:00""#,
        ),
        (
            r#"timestamp '2024-06-15 13:45:00' at time zone 'Europe/Paris'"#,
            r#""2024-06-15T11:45:00+00:00""#,
        ),
        (
            r#"timezone('Asia/Tokyo', timestamptz '2024-06-15 13:45:00+00')"#,
            r#""2024-06-15T22:45:00""#,
        ),
        (
            r#"(timestamptz '2024-06-15 13:45:00+00')::date"#,
            r#""2024-06-15""#,
        ),
        (r#"'2024-06-15'::date"#, r#""2024-06-15""#),
        (
            r#"'2024-06-15 10:00'::timestamp"#,
            r#""2024-06-15T10:00:00""#,
        ),
        (
            r#"(date '2024-06-15')::timestamptz"#,
            r#""2024-06-15T00:00:00+00:00""#,
        ),
    ];

    fn evaluate(connection: &Connection, postgres: &str) -> serde_json::Value {
        let sql =
            translate_expr_text(postgres).unwrap_or_else(|error| panic!("{postgres}: {error}"));
        let value: Value = connection
            .query_row(&format!("select {sql}"), [], |row| row.get(0))
            .unwrap_or_else(|error| panic!("{postgres} → {sql}: {error}"));
        match value {
            Value::Integer(number) => serde_json::json!(number),
            Value::Real(number) => serde_json::json!(number),
            Value::Text(text) => serde_json::json!(text),
            other => panic!("{postgres}: {other:?}"),
        }
    }

    #[test]
    fn date_time_expressions_answer_what_postgres_answers() {
        let connection = Connection::open_in_memory().unwrap();
        crate::store::functions::register(&connection, Default::default()).unwrap();
        let mut wrong = Vec::new();
        for (postgres, expected) in POSTGRES {
            let expected: serde_json::Value = serde_json::from_str(expected).unwrap();
            let actual = evaluate(&connection, postgres);
            let same = match (&expected, &actual) {
                (serde_json::Value::Bool(flag), serde_json::Value::Number(number)) => {
                    number.as_i64() == Some(*flag as i64)
                }
                (serde_json::Value::Number(a), serde_json::Value::Number(b)) => {
                    (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9
                }
                _ => expected == actual,
            };
            if !same {
                wrong.push(format!(
                    "{postgres}: postgres {expected}, solobase {actual}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn invalid_intervals_and_zones_are_named() {
        let error = translate_expr_text("now() - interval '7 dayz'").unwrap_err();
        assert_eq!(
            error.0,
            "invalid input syntax for type interval: \"7 dayz\""
        );
        let connection = Connection::open_in_memory().unwrap();
        crate::store::functions::register(&connection, Default::default()).unwrap();
        let sql = translate_expr_text("now() at time zone 'Mars/Base'").unwrap();
        let error = connection
            .query_row(&format!("select {sql}"), [], |row| row.get::<_, String>(0))
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("time zone \"Mars/Base\" not recognized"),
            "{error}"
        );
    }
}

#[cfg(test)]
mod migration_tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use rusqlite::Connection;

    use crate::migrate::{Migration, apply_pending};
    use crate::store::Session;

    #[test]
    fn date_time_defaults_and_checks_behave_as_in_postgres() {
        let mut connection = Connection::open_in_memory().unwrap();
        let session = Arc::new(Session::default());
        crate::store::functions::register(&connection, session.clone()).unwrap();
        let sql = r#"
            create table trials (
              id int primary key,
              created_at timestamptz default (now() at time zone 'utc'::text) not null,
              day date not null default current_date,
              ends_at timestamptz default now() + interval '14 days',
              starts_at timestamptz,
              check (ends_at > starts_at + interval '1 hour')
            );
        "#;
        let migration = Migration {
            version: "1".into(),
            name: "trials".into(),
            path: PathBuf::from("supabase/migrations/1_trials.sql"),
            sql: sql.into(),
        };
        apply_pending(&mut connection, &[migration], None).unwrap();
        session.begin(None);
        connection
            .execute_batch(
                "insert into trials (id, starts_at) values (1, '2024-01-01T00:00:00+00:00')",
            )
            .unwrap();
        let (now, created, day, ends): (String, String, String, String) = connection
            .query_row(
                "select pg_now(), created_at, day, ends_at from trials",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .unwrap();
        assert_eq!(created, now);
        assert_eq!(day, now[..10]);
        let now: jiff::Timestamp = now.parse().unwrap();
        let ends: jiff::Timestamp = ends.parse().unwrap();
        assert_eq!(ends.duration_since(now).as_hours(), 14 * 24);
        let error = connection
            .execute_batch("insert into trials (id, starts_at, ends_at) values (2, '2024-01-01T00:00:00+00:00', '2024-01-01T00:30:00+00:00')")
            .unwrap_err();
        assert!(error.to_string().contains("CHECK"), "{error}");
    }
}
