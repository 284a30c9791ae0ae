//! Text: Postgres's `format()` (`%s`, `%I`, `%L`, `%%`, argument positions `%2$s`, widths
//! `%-10s` and `%*s`), `quote_ident`, `quote_literal` and `quote_nullable` as SQLite functions,
//! with Postgres's NULL handling and SQLSTATEs. `format()` is registered as `pg_format`, since
//! SQLite's own `format()` is printf.

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::Value;

use crate::plpgsql::PgError;

/// Postgres keywords that are not unreserved (`pg_get_keywords()` with `catcode <> 'U'` in
/// PostgreSQL 15): `quote_ident` quotes them.
const KEYWORDS: &str = "\
    all analyse analyze and any array as asc asymmetric authorization between bigint binary \
    bit boolean both case cast char character check coalesce collate collation column \
    concurrently constraint create cross current_catalog current_date current_role \
    current_schema current_time current_timestamp current_user dec decimal default deferrable \
    desc distinct do else end except exists extract false fetch float for foreign freeze from \
    full grant greatest group grouping having ilike in initially inner inout int integer \
    intersect interval into is isnull join lateral leading least left like limit localtime \
    localtimestamp national natural nchar none normalize not notnull null nullif numeric \
    offset on only or order out outer overlaps overlay placing position precision primary real \
    references returning right row select session_user setof similar smallint some substring \
    symmetric table tablesample then time timestamp to trailing treat trim true union unique \
    user using values varchar variadic verbose when where window with xmlattributes xmlconcat \
    xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable";

/// Registers `pg_format`, `quote_ident`, `quote_literal` and `quote_nullable`.
pub fn register(connection: &Connection) -> rusqlite::Result<()> {
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    connection.create_scalar_function("pg_format", -1, pure, |context| {
        let values = (0..context.len())
            .map(|index| context.get::<Value>(index).map(|value| text(&value)))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let Some((Some(format), args)) = values.split_first() else {
            return Ok(None);
        };
        render(format, args)
            .map(Some)
            .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
    })?;
    connection.create_scalar_function("quote_ident", 1, pure, |context| {
        Ok(argument(context)?.map(|text| quote_ident(&text)))
    })?;
    connection.create_scalar_function("quote_literal", 1, pure, |context| {
        Ok(argument(context)?.map(|text| quote_literal(&text)))
    })?;
    connection.create_scalar_function("quote_nullable", 1, pure, |context| {
        Ok(argument(context)?.map_or_else(|| "NULL".to_owned(), |text| quote_literal(&text)))
    })?;
    Ok(())
}

fn argument(context: &Context) -> rusqlite::Result<Option<String>> {
    Ok(text(&context.get::<Value>(0)?))
}

/// A value as its text output (NULL stays NULL).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Integer(number) => Some(number.to_string()),
        Value::Real(number) => Some(number.to_string()),
        Value::Text(text) => Some(text.clone()),
        Value::Blob(bytes) => Some(crate::plpgsql::hex(bytes)),
    }
}

/// `quote_ident`: double-quoted unless it is a lowercase name that is not a keyword.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !KEYWORDS.split_whitespace().any(|keyword| keyword == name);
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `quote_literal`: single-quoted with quotes doubled; with a backslash, an `E'…'` string with
/// backslashes doubled too.
pub fn quote_literal(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('\'', "''");
    if text.contains('\\') {
        format!("E'{escaped}'")
    } else {
        format!("'{escaped}'")
    }
}

fn invalid(message: &str) -> PgError {
    PgError::new("22023", message)
}

fn unterminated() -> PgError {
    let mut error = invalid("unterminated format() type specifier");
    error.hint = Some("For a single \"%\" use \"%%\".".into());
    error
}

/// `format(format, args…)` as Postgres renders it; `args` are the arguments' text (NULL as
/// `None`).
pub fn render(format: &str, args: &[Option<String>]) -> Result<String, PgError> {
    let chars: Vec<char> = format.chars().collect();
    let mut out = String::new();
    // The next argument in sequence, counting from 1 (after the explicit one last used).
    let mut next = 1usize;
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        index += 1;
        if c != '%' {
            out.push(c);
            continue;
        }
        let at = |index: usize| chars.get(index).copied().ok_or_else(unterminated);
        if at(index)? == '%' {
            out.push('%');
            index += 1;
            continue;
        }
        let mut position = None;
        let mut width: i64 = 0;
        let mut width_argument = None;
        let mut left = false;
        // A number not ended by `$` is the width, and nothing else may follow but the type.
        let mut width_only = false;
        if let Some((number, after)) = digits(&chars, index)? {
            index = after;
            if at(index)? == '$' {
                position = Some(argument_number(number)?);
                index += 1;
            } else {
                width = number;
                width_only = true;
            }
        }
        if !width_only {
            while at(index)? == '-' {
                left = true;
                index += 1;
            }
            if at(index)? == '*' {
                index += 1;
                width_argument = Some(match digits(&chars, index)? {
                    Some((number, after)) => {
                        index = after;
                        if at(index)? != '$' {
                            return Err(invalid("width argument position must be ended by \"$\""));
                        }
                        index += 1;
                        Some(argument_number(number)?)
                    }
                    None => None,
                });
            } else if let Some((number, after)) = digits(&chars, index)? {
                width = number;
                index = after;
            }
        }
        let conversion = at(index)?;
        index += 1;
        if !matches!(conversion, 's' | 'I' | 'L') {
            let mut error = invalid(&format!(
                "unrecognized format() type specifier \"{conversion}\""
            ));
            error.hint = Some("For a single \"%\" use \"%%\".".into());
            return Err(error);
        }
        let mut take = |explicit: Option<usize>| -> Result<&Option<String>, PgError> {
            let number = explicit.unwrap_or(next);
            next = number + 1;
            args.get(number - 1)
                .ok_or_else(|| invalid("too few arguments for format()"))
        };
        if let Some(explicit) = width_argument {
            width = match take(explicit)? {
                None => 0,
                Some(text) => text.trim().parse::<i32>().map_err(|_| {
                    PgError::new(
                        "22P02",
                        format!("invalid input syntax for type integer: \"{text}\""),
                    )
                })?,
            }
            .into();
        }
        if width < 0 {
            left = true;
            width = -width;
        }
        let value = match (take(position)?, conversion) {
            (None, 's') => String::new(),
            (None, 'L') => "NULL".to_owned(),
            (None, _) => {
                return Err(PgError::new(
                    "22004",
                    "null values cannot be formatted as an SQL identifier",
                ));
            }
            (Some(text), 'I') => quote_ident(text),
            (Some(text), 'L') => quote_literal(text),
            (Some(text), _) => text.clone(),
        };
        let padding = " ".repeat((width as usize).saturating_sub(value.chars().count()));
        if left {
            out.push_str(&value);
            out.push_str(&padding);
        } else {
            out.push_str(&padding);
            out.push_str(&value);
        }
    }
    Ok(out)
}

/// The decimal number starting at `index`, if there is one, and the index after it.
fn digits(chars: &[char], index: usize) -> Result<Option<(i64, usize)>, PgError> {
    let end = chars[index..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(chars.len(), |length| index + length);
    if end == index {
        return Ok(None);
    }
    let text: String = chars[index..end].iter().collect();
    let number = text
        .parse::<i32>()
        .map_err(|_| PgError::new("22003", "number is out of range"))?;
    if end == chars.len() {
        return Err(unterminated());
    }
    Ok(Some((number.into(), end)))
}

fn argument_number(number: i64) -> Result<usize, PgError> {
    if number == 0 {
        return Err(invalid(
            "format specifies argument 0, but arguments are numbered from 1",
        ));
    }
    Ok(number as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(format: &str, args: &[Option<&str>]) -> Result<String, String> {
        let args: Vec<Option<String>> = args.iter().map(|arg| arg.map(str::to_owned)).collect();
        render(format, &args).map_err(|error| format!("{}: {}", error.code, error.message))
    }

    #[test]
    fn format_renders_as_postgres() {
        let ok = |format: &str, args: &[Option<&str>], expected: &str| {
            assert_eq!(formatted(format, args).as_deref(), Ok(expected), "{format}");
        };
        ok("Hello %s, %1$s", &[Some("World")], "Hello World, World");
        ok(
            "Testing %3$s, %2$s, %s",
            &[Some("one"), Some("two"), Some("three")],
            "Testing three, two, three",
        );
        ok("%-5s|", &[Some("a")], "a    |");
        ok("%5s|", &[Some("a")], "    a|");
        ok("%*s|", &[Some("-4"), Some("ab")], "ab  |");
        ok(
            "%I.%I",
            &[Some("public"), Some("My Table")],
            "public.\"My Table\"",
        );
        ok(
            "%L, %L, %s.",
            &[Some("O'Reilly"), None, None],
            "'O''Reilly', NULL, .",
        );
        ok("100%%", &[], "100%");
        assert_eq!(
            formatted("%I", &[None]).unwrap_err(),
            "22004: null values cannot be formatted as an SQL identifier"
        );
        assert_eq!(
            formatted("%s %s", &[Some("a")]).unwrap_err(),
            "22023: too few arguments for format()"
        );
        assert_eq!(
            formatted("%0$s", &[Some("a")]).unwrap_err(),
            "22023: format specifies argument 0, but arguments are numbered from 1"
        );
        assert_eq!(
            formatted("%x", &[Some("a")]).unwrap_err(),
            "22023: unrecognized format() type specifier \"x\""
        );
        assert_eq!(
            formatted("50%", &[]).unwrap_err(),
            "22023: unterminated format() type specifier"
        );
    }

    #[test]
    fn quoting_follows_postgres() {
        assert_eq!(quote_ident("todos"), "todos");
        assert_eq!(quote_ident("Todos"), "\"Todos\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("name"), "name");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "E'a\\\\b'");
    }
}
