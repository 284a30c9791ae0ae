//! Printed: input text of the types Solobase stores as Postgres prints them — `tsvector`
//! (`'cat' 'fat'`), ranges (`[1,6)`, `store::range`), `inet`/`cidr`, pgvector's `vector`,
//! PostGIS's `geometry` and `geography` (`store::geometry`) — checked and normalized exactly as
//! Postgres's input and output functions do.

use std::net::IpAddr;

use crate::plpgsql::PgError;
use crate::schema::PrintedType;

/// The stored (printed) form of `text` as a value of `printed`, or Postgres's error.
pub fn normalize(printed: PrintedType, text: &str) -> Result<String, PgError> {
    let invalid = || {
        PgError::new(
            "22P02",
            format!(
                "invalid input syntax for type {}: \"{text}\"",
                printed.udt_name()
            ),
        )
    };
    if let Some(range) = printed.range() {
        return crate::store::range::normalize(range, text);
    }
    match printed {
        PrintedType::TsVector => tsvector(text).ok_or_else(invalid),
        PrintedType::Inet => network(text, false).ok_or_else(invalid),
        PrintedType::Cidr => network(text, true).ok_or_else(invalid),
        PrintedType::Vector(dimensions) => {
            vector(text, dimensions).map_err(|message| PgError::new("22P02", message))
        }
        PrintedType::Geometry(column) => crate::store::geometry::normalize(&column, text),
        range => unreachable!("{range:?} is a range"),
    }
}

/// `fat cat:1A 'it''s'` → `'cat':1A 'fat' 'it''s'`: lexemes sorted and deduplicated.
fn tsvector(text: &str) -> Option<String> {
    let mut lexemes: Vec<(String, String)> = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut word = String::new();
        if first == '\'' {
            chars.next();
            loop {
                match chars.next()? {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        word.push('\'');
                    }
                    '\'' => break,
                    '\\' => word.push(chars.next()?),
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == ':' {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        let mut positions = String::new();
        if chars.peek() == Some(&':') {
            chars.next();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                positions.push(c);
                chars.next();
            }
            if positions.is_empty() {
                return None;
            }
        }
        if word.is_empty() {
            return None;
        }
        match lexemes.iter_mut().find(|(existing, _)| *existing == word) {
            Some((_, existing)) if !positions.is_empty() => {
                if !existing.is_empty() {
                    existing.push(',');
                }
                existing.push_str(&positions);
            }
            Some(_) => {}
            None => lexemes.push((word, positions)),
        }
    }
    lexemes.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Some(
        lexemes
            .iter()
            .map(|(word, positions)| {
                let quoted = format!("'{}'", word.replace('\'', "''"));
                if positions.is_empty() {
                    quoted
                } else {
                    format!("{quoted}:{positions}")
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `inet`: an address with an optional prefix (omitted when it covers the whole address);
/// `cidr`: a network, always with its prefix, whose host bits must be zero.
fn network(text: &str, cidr: bool) -> Option<String> {
    let text = text.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().ok()?;
    let full = if address.is_ipv4() { 32 } else { 128 };
    let prefix = prefix.unwrap_or(full);
    if prefix > full {
        return None;
    }
    if cidr {
        let bits: u128 = match address {
            IpAddr::V4(v4) => u32::from(v4) as u128,
            IpAddr::V6(v6) => u128::from(v6),
        };
        let host_bits = full - prefix;
        if host_bits > 0 && bits & ((1u128 << host_bits) - 1) != 0 {
            return None;
        }
        return Some(format!("{address}/{prefix}"));
    }
    Some(if prefix == full {
        address.to_string()
    } else {
        format!("{address}/{prefix}")
    })
}

/// pgvector: `[1, 2.5,3]` → `[1,2.5,3]`, with the declared number of dimensions.
fn vector(text: &str, dimensions: Option<u32>) -> Result<String, String> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or_else(|| format!("invalid input syntax for type vector: \"{text}\""))?;
    let values: Vec<f32> = inner
        .split(',')
        .map(|value| value.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("invalid input syntax for type vector: \"{text}\""))?;
    if let Some(expected) = dimensions
        && values.len() != expected as usize
    {
        return Err(format!(
            "expected {expected} dimensions, not {}",
            values.len()
        ));
    }
    Ok(format!(
        "[{}]",
        values
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs with what PostgreSQL 15 prints for them.
    #[test]
    fn values_print_as_postgres_prints_them() {
        for (printed, input, expected) in [
            (
                PrintedType::TsVector,
                "zz a bbb fat cat cat",
                "'a' 'bbb' 'cat' 'fat' 'zz'",
            ),
            (PrintedType::TsVector, "a:1 b:2,3A", "'a':1 'b':2,3A"),
            (PrintedType::TsVector, "'it''s' x", "'it''s' 'x'"),
            (PrintedType::Int4Range, "[1,5]", "[1,6)"),
            (PrintedType::Int4Range, "(1,5)", "[2,5)"),
            (PrintedType::Int4Range, "[3,3)", "empty"),
            (PrintedType::Int4Range, "(,5]", "(,6)"),
            (PrintedType::Int4Range, "[1,)", "[1,)"),
            (PrintedType::Int4Range, "empty", "empty"),
            (PrintedType::NumRange, "[1.5,2]", "[1.5,2]"),
            (
                PrintedType::DateRange,
                "[2024-01-01,2024-01-31]",
                "[2024-01-01,2024-02-01)",
            ),
            (PrintedType::Inet, "192.168.0.1", "192.168.0.1"),
            (PrintedType::Inet, "192.168.0.1/24", "192.168.0.1/24"),
            (PrintedType::Cidr, "192.168.0.0/24", "192.168.0.0/24"),
            (PrintedType::Inet, "::1", "::1"),
            (PrintedType::Inet, "2001:DB8::1/128", "2001:db8::1"),
            (PrintedType::Vector(Some(3)), "[1, 2.5,3]", "[1,2.5,3]"),
        ] {
            assert_eq!(
                normalize(printed, input).as_deref(),
                Ok(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn invalid_values_are_refused_with_postgres_messages() {
        assert!(normalize(PrintedType::Int4Range, "[5,1]").is_err());
        assert_eq!(
            normalize(PrintedType::Int4Range, "[a,1]")
                .unwrap_err()
                .message,
            "invalid input syntax for type integer: \"a\""
        );
        assert!(normalize(PrintedType::Cidr, "192.168.0.1/24").is_err());
        assert!(normalize(PrintedType::Inet, "300.1.1.1").is_err());
        assert_eq!(
            normalize(PrintedType::Vector(Some(2)), "[1,2,3]")
                .unwrap_err()
                .message,
            "expected 2 dimensions, not 3"
        );
    }
}
