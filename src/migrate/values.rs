//! Values: Postgres literal forms turned into the stored SQLite forms — array literals
//! (`{a,"b c"}`) into JSON arrays, timestamptz text into canonical UTC text.

use crate::store::functions::format_timestamptz;

/// `{a,"b c",NULL}` → `["a","b c",null]`; also accepts a JSON array as it is.
pub fn array_literal_to_json(text: &str) -> Option<String> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        let value: serde_json::Value = serde_json::from_str(trimmed).ok()?;
        return value.is_array().then(|| value.to_string());
    }
    let inner = trimmed.strip_prefix('{')?.strip_suffix('}')?;
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    while chars.peek().is_some() {
        let mut item = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => item.push(chars.next()?),
                    '"' => break,
                    other => item.push(other),
                }
            }
        }
        for c in chars.by_ref() {
            if c == ',' {
                break;
            }
            if quoted && !c.is_whitespace() {
                return None;
            }
            item.push(c);
        }
        let item = if quoted { item } else { item.trim().to_owned() };
        items.push(if !quoted && item.eq_ignore_ascii_case("null") {
            serde_json::Value::Null
        } else {
            serde_json::Value::String(item)
        });
    }
    Some(serde_json::Value::Array(items).to_string())
}

/// Parses a timestamptz as Postgres accepts it (ISO 8601 or `2024-01-01 10:00:00+02`, a bare
/// date or local time taken as UTC) and renders it in the stored canonical UTC form.
pub fn normalize_timestamptz(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(instant) = text.parse::<jiff::Timestamp>() {
        return Some(format_timestamptz(instant));
    }
    // Postgres also writes offsets as `+02` and separates date and time with a space.
    let spaced = text.replacen(' ', "T", 1);
    let with_minutes = match spaced.rfind(['+', '-']) {
        Some(position) if position > 10 && spaced[position + 1..].len() == 2 => {
            format!("{spaced}:00")
        }
        _ => spaced.clone(),
    };
    if let Ok(instant) = with_minutes.parse::<jiff::Timestamp>() {
        return Some(format_timestamptz(instant));
    }
    // No offset: a local time, taken as UTC (Supabase's session time zone).
    let civil: jiff::civil::DateTime = spaced.parse().ok()?;
    let instant: jiff::Timestamp = format!("{civil}Z").parse().ok()?;
    Some(format_timestamptz(instant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals_become_json_arrays() {
        assert_eq!(array_literal_to_json("{}").unwrap(), "[]");
        assert_eq!(array_literal_to_json("{a, b}").unwrap(), r#"["a","b"]"#);
        assert_eq!(
            array_literal_to_json(r#"{"x,y","q\"z",NULL}"#).unwrap(),
            r#"["x,y","q\"z",null]"#
        );
        assert_eq!(array_literal_to_json(r#"["j"]"#).unwrap(), r#"["j"]"#);
        assert_eq!(array_literal_to_json("a,b"), None);
    }

    #[test]
    fn timestamps_normalize_to_utc() {
        assert_eq!(
            normalize_timestamptz("2024-01-01 10:00:00+02").unwrap(),
            "2024-01-01T08:00:00+00:00"
        );
        assert_eq!(
            normalize_timestamptz("2024-01-01T10:00:00.250Z").unwrap(),
            "2024-01-01T10:00:00.25+00:00"
        );
        assert_eq!(
            normalize_timestamptz("2024-01-01").unwrap(),
            "2024-01-01T00:00:00+00:00"
        );
        assert_eq!(normalize_timestamptz("yesterday"), None);
    }
}
