//! Range: Postgres's built-in range types (`int4range`, `int8range`, `numrange`, `daterange`,
//! `tsrange`, `tstzrange`) over the text Postgres prints them as (`[1,6)`, `empty`,
//! `["2024-01-01 10:00:00+00",)`): input parsed and canonicalized as `range_in` does, output
//! printed as `range_out` does, and the operators and functions of ranges as the SQL functions
//! the translator and REST call — `pg_range_make(type, lower, upper[, flags])` (the
//! constructors), `pg_range_op(op, type, a, b)` (`@>`, `&&`, `<<`, `-|-`,
//! `+`, `*`, `-`, `range_merge`, comparisons…), `pg_range_has(type, range, element)` (element
//! containment) and `pg_range_fn(name, type, range)` (`lower`, `upper`, `isempty`, …).

use std::cmp::Ordering;

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};

use crate::plpgsql::PgError;

/// One of Postgres's built-in range types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeType {
    Int4,
    Int8,
    Numeric,
    Date,
    Timestamp,
    Timestamptz,
}

impl RangeType {
    /// The type of that name (`int4range`, also schema-qualified by `pg_catalog`).
    pub fn named(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        Some(match name.strip_prefix("pg_catalog.").unwrap_or(&name) {
            "int4range" => RangeType::Int4,
            "int8range" => RangeType::Int8,
            "numrange" => RangeType::Numeric,
            "daterange" => RangeType::Date,
            "tsrange" => RangeType::Timestamp,
            "tstzrange" => RangeType::Timestamptz,
            _ => return None,
        })
    }

    /// The type's name in `pg_type`.
    pub fn name(self) -> &'static str {
        match self {
            RangeType::Int4 => "int4range",
            RangeType::Int8 => "int8range",
            RangeType::Numeric => "numrange",
            RangeType::Date => "daterange",
            RangeType::Timestamp => "tsrange",
            RangeType::Timestamptz => "tstzrange",
        }
    }

    /// The element type's name as Postgres's input errors spell it.
    fn element_name(self) -> &'static str {
        match self {
            RangeType::Int4 => "integer",
            RangeType::Int8 => "bigint",
            RangeType::Numeric => "numeric",
            RangeType::Date => "date",
            RangeType::Timestamp => "timestamp",
            RangeType::Timestamptz => "timestamp with time zone",
        }
    }

    /// Discrete types have a canonical form, `[a,b)`.
    fn discrete(self) -> bool {
        matches!(self, RangeType::Int4 | RangeType::Int8 | RangeType::Date)
    }
}

/// `infinity` and `-infinity` around the finite values of a type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Moment<T> {
    NegativeInfinity,
    At(T),
    Infinity,
}

/// A numeric value with the scale it was written with, printed as Postgres prints it (`1.50`).
#[derive(Debug, Clone)]
struct Decimal {
    negative: bool,
    /// Digits before the point, without leading zeros.
    whole: String,
    /// Digits after the point: as many as the value's scale.
    fraction: String,
}

impl Decimal {
    /// Postgres's numeric input: `1.50`, `+01.5`, `.5e1`, `1e3` (scale from the written digits
    /// less the exponent).
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (negative, body) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(index) => (&body[..index], body[index + 1..].parse::<i64>().ok()?),
            None => (body, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if !digits(whole) || !digits(fraction) || whole.len() + fraction.len() == 0 {
            return None;
        }
        let all = format!("{whole}{fraction}");
        let point = whole.len() as i64 + exponent;
        let (whole, fraction) = if point <= 0 {
            (
                String::new(),
                format!("{}{all}", "0".repeat((-point) as usize)),
            )
        } else if point as usize >= all.len() {
            (
                format!("{all}{}", "0".repeat(point as usize - all.len())),
                String::new(),
            )
        } else {
            (
                all[..point as usize].to_owned(),
                all[point as usize..].to_owned(),
            )
        };
        let whole = whole.trim_start_matches('0').to_owned();
        let zero = whole.is_empty() && fraction.bytes().all(|byte| byte == b'0');
        Some(Decimal {
            negative: negative && !zero,
            whole,
            fraction,
        })
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let magnitude = self
            .whole
            .len()
            .cmp(&other.whole.len())
            .then_with(|| self.whole.cmp(&other.whole))
            .then_with(|| {
                self.fraction
                    .trim_end_matches('0')
                    .cmp(other.fraction.trim_end_matches('0'))
            });
        match (self.negative, other.negative) {
            (false, false) => magnitude,
            (true, true) => magnitude.reverse(),
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.negative { "-" } else { "" };
        let whole = if self.whole.is_empty() {
            "0"
        } else {
            &self.whole
        };
        match self.fraction.is_empty() {
            true => write!(f, "{sign}{whole}"),
            false => write!(f, "{sign}{whole}.{}", self.fraction),
        }
    }
}

/// A value of a range's element type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Element {
    Integer(i64),
    Numeric(Moment<Decimal>),
    Date(Moment<jiff::civil::Date>),
    Timestamp(Moment<jiff::civil::DateTime>),
    Timestamptz(Moment<jiff::Timestamp>),
}

impl Element {
    /// The element type's input function on `text`.
    fn parse(kind: RangeType, text: &str) -> Result<Self, PgError> {
        let invalid = |code: &str| {
            PgError::new(
                code,
                format!(
                    "invalid input syntax for type {}: \"{text}\"",
                    kind.element_name()
                ),
            )
        };
        let trimmed = text.trim();
        fn moment<T>(text: &str, finite: impl FnOnce() -> Option<T>) -> Option<Moment<T>> {
            match text.to_ascii_lowercase().as_str() {
                "infinity" | "+infinity" => Some(Moment::Infinity),
                "-infinity" => Some(Moment::NegativeInfinity),
                _ => finite().map(Moment::At),
            }
        }
        Ok(match kind {
            RangeType::Int4 | RangeType::Int8 => {
                let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
                if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(invalid("22P02"));
                }
                let out_of_range = || {
                    PgError::new(
                        "22003",
                        format!(
                            "value \"{text}\" is out of range for type {}",
                            kind.element_name()
                        ),
                    )
                };
                let value: i64 = trimmed.parse().map_err(|_| out_of_range())?;
                if kind == RangeType::Int4 && i32::try_from(value).is_err() {
                    return Err(out_of_range());
                }
                Element::Integer(value)
            }
            RangeType::Numeric => Element::Numeric(
                moment(trimmed, || Decimal::parse(trimmed)).ok_or_else(|| invalid("22P02"))?,
            ),
            RangeType::Date => Element::Date(
                moment(trimmed, || trimmed.parse().ok()).ok_or_else(|| invalid("22007"))?,
            ),
            RangeType::Timestamp => Element::Timestamp(
                moment(trimmed, || civil_datetime(trimmed)).ok_or_else(|| invalid("22007"))?,
            ),
            RangeType::Timestamptz => Element::Timestamptz(
                moment(trimmed, || {
                    crate::migrate::values::normalize_timestamptz(trimmed)?
                        .parse()
                        .ok()
                })
                .ok_or_else(|| invalid("22007"))?,
            ),
        })
    }

    /// A SQLite value as an element of `kind` (`None` for NULL): numbers as they are, text
    /// through the element type's input.
    fn from_value(kind: RangeType, value: ValueRef<'_>) -> Result<Option<Self>, PgError> {
        let text = match value {
            ValueRef::Null => return Ok(None),
            ValueRef::Integer(number) => number.to_string(),
            ValueRef::Real(number) if kind == RangeType::Numeric => number.to_string(),
            ValueRef::Real(number) if number.fract() == 0.0 => (number as i64).to_string(),
            ValueRef::Real(number) => number.to_string(),
            ValueRef::Text(text) | ValueRef::Blob(text) => {
                String::from_utf8_lossy(text).into_owned()
            }
        };
        Element::parse(kind, &text).map(Some)
    }

    /// The element as Postgres prints it inside a range (before quoting).
    fn printed(&self) -> String {
        fn moment<T>(moment: &Moment<T>, show: impl Fn(&T) -> String) -> String {
            match moment {
                Moment::NegativeInfinity => "-infinity".into(),
                Moment::At(value) => show(value),
                Moment::Infinity => "infinity".into(),
            }
        }
        match self {
            Element::Integer(number) => number.to_string(),
            Element::Numeric(Moment::Infinity) => "Infinity".into(),
            Element::Numeric(Moment::NegativeInfinity) => "-Infinity".into(),
            Element::Numeric(Moment::At(decimal)) => decimal.to_string(),
            Element::Date(date) => moment(date, ToString::to_string),
            Element::Timestamp(datetime) => moment(datetime, |datetime| clock_text(*datetime, ' ')),
            Element::Timestamptz(instant) => moment(instant, |instant| {
                let utc = jiff::tz::TimeZone::UTC.to_datetime(*instant);
                format!("{}+00", clock_text(utc, ' '))
            }),
        }
    }

    /// The element as the store keeps a value of its type (what `lower()` answers).
    fn stored(&self) -> Value {
        match self {
            Element::Integer(number) => Value::Integer(*number),
            Element::Numeric(Moment::At(decimal)) => match decimal.to_string().parse::<i64>() {
                Ok(integer) if decimal.fraction.is_empty() => Value::Integer(integer),
                _ => Value::Real(decimal.to_string().parse().unwrap_or(f64::NAN)),
            },
            Element::Numeric(Moment::Infinity) => Value::Real(f64::INFINITY),
            Element::Numeric(Moment::NegativeInfinity) => Value::Real(f64::NEG_INFINITY),
            Element::Date(_) => Value::Text(self.printed()),
            Element::Timestamp(Moment::At(datetime)) => Value::Text(clock_text(*datetime, 'T')),
            Element::Timestamptz(Moment::At(instant)) => {
                Value::Text(super::functions::format_timestamptz(*instant))
            }
            Element::Timestamp(_) | Element::Timestamptz(_) => Value::Text(self.printed()),
        }
    }

    /// The next value of a discrete type; `None` for an infinity, which stays as it is.
    fn next(&self, kind: RangeType) -> Result<Option<Self>, PgError> {
        Ok(Some(match self {
            Element::Integer(number) => {
                let next = number
                    .checked_add(1)
                    .filter(|next| kind != RangeType::Int4 || i32::try_from(*next).is_ok());
                Element::Integer(next.ok_or_else(|| {
                    let name = if kind == RangeType::Int4 {
                        "integer"
                    } else {
                        "bigint"
                    };
                    PgError::new("22003", format!("{name} out of range"))
                })?)
            }
            Element::Date(Moment::At(date)) => Element::Date(Moment::At(
                date.tomorrow()
                    .map_err(|_| PgError::new("22008", "date out of range"))?,
            )),
            _ => return Ok(None),
        }))
    }
}

/// `2024-01-01 10:00`, `2024-01-01T10:00:00.5` or a bare date (midnight).
fn civil_datetime(text: &str) -> Option<jiff::civil::DateTime> {
    let text = text.replacen(' ', "T", 1);
    text.parse().ok().or_else(|| {
        text.parse::<jiff::civil::Date>()
            .ok()
            .map(|date| date.to_datetime(jiff::civil::Time::midnight()))
    })
}

/// `2024-01-01 10:00:00.5` with `separator` between date and time, trailing zeros dropped.
fn clock_text(datetime: jiff::civil::DateTime, separator: char) -> String {
    let text = datetime
        .strftime(&format!("%Y-%m-%d{separator}%H:%M:%S%.6f"))
        .to_string();
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// One end of a range: `None` is unbounded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bound {
    value: Option<Element>,
    inclusive: bool,
    lower: bool,
}

/// `range_cmp_bounds`: lower and upper bounds ordered on one line, inclusivity breaking ties.
fn compare_bounds(a: &Bound, b: &Bound) -> Ordering {
    let (va, vb) = match (&a.value, &b.value) {
        (None, None) if a.lower == b.lower => return Ordering::Equal,
        (None, _) => {
            return if a.lower {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        (_, None) => {
            return if b.lower {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        (Some(va), Some(vb)) => (va, vb),
    };
    match va.cmp(vb) {
        Ordering::Equal => match (a.inclusive, b.inclusive) {
            (false, false) if a.lower == b.lower => Ordering::Equal,
            (false, false) | (false, true) => {
                if a.lower {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (true, false) => {
                if b.lower {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (true, true) => Ordering::Equal,
        },
        other => other,
    }
}

/// `range_cmp_bound_values`: the values alone (unbounded ends at either extreme).
fn compare_bound_values(a: &Bound, b: &Bound) -> Ordering {
    match (&a.value, &b.value) {
        (None, None) if a.lower == b.lower => Ordering::Equal,
        (None, _) => {
            if a.lower {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (_, None) => {
            if b.lower {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Some(va), Some(vb)) => va.cmp(vb),
    }
}

/// A range value: `None` bounds is the empty range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    kind: RangeType,
    bounds: Option<(Bound, Bound)>,
}

fn malformed(text: &str, detail: &str) -> PgError {
    PgError {
        detail: Some(detail.into()),
        ..PgError::new("22P02", format!("malformed range literal: \"{text}\""))
    }
}

impl Range {
    fn empty(kind: RangeType) -> Self {
        Range { kind, bounds: None }
    }

    /// `range_in`: `[a,b)`, `(,b]`, `empty`, bounds optionally double-quoted.
    pub fn parse(kind: RangeType, text: &str) -> Result<Self, PgError> {
        let rest = text.trim_start();
        if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case("empty") {
            if !rest[5..].trim().is_empty() {
                return Err(malformed(text, "Junk after \"empty\" key word."));
            }
            return Ok(Range::empty(kind));
        }
        let mut chars = rest.chars().peekable();
        let lower_inclusive = match chars.next() {
            Some('[') => true,
            Some('(') => false,
            _ => return Err(malformed(text, "Missing left parenthesis or bracket.")),
        };
        let bound = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            if matches!(chars.peek(), Some(',' | ')' | ']')) {
                return Ok(None);
            }
            let mut value = String::new();
            let mut quoted = false;
            loop {
                match chars.peek() {
                    Some(',' | ')' | ']') if !quoted => return Ok(Some(value)),
                    _ => {}
                }
                match chars.next() {
                    None => return Err(malformed(text, "Unexpected end of input.")),
                    Some('\\') => match chars.next() {
                        None => return Err(malformed(text, "Unexpected end of input.")),
                        Some(escaped) => value.push(escaped),
                    },
                    Some('"') if !quoted => quoted = true,
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        value.push('"');
                    }
                    Some('"') => quoted = false,
                    Some(other) => value.push(other),
                }
            }
        };
        let lower = bound(&mut chars)?;
        if chars.next() != Some(',') {
            return Err(malformed(text, "Missing comma after lower bound."));
        }
        let upper = bound(&mut chars)?;
        let upper_inclusive = match chars.next() {
            Some(']') => true,
            Some(')') => false,
            _ => return Err(malformed(text, "Too many commas.")),
        };
        if !chars.collect::<String>().trim().is_empty() {
            return Err(malformed(text, "Junk after right parenthesis or bracket."));
        }
        let element =
            |text: Option<String>| text.map(|text| Element::parse(kind, &text)).transpose();
        Range::make(
            kind,
            Bound {
                value: element(lower)?,
                inclusive: lower_inclusive,
                lower: true,
            },
            Bound {
                value: element(upper)?,
                inclusive: upper_inclusive,
                lower: false,
            },
        )
    }

    /// `make_range`: unbounded ends made exclusive, the bounds checked, an empty range
    /// recognized, discrete types canonicalized to `[a,b)`.
    fn make(kind: RangeType, mut lower: Bound, mut upper: Bound) -> Result<Self, PgError> {
        lower.inclusive &= lower.value.is_some();
        upper.inclusive &= upper.value.is_some();
        if let (Some(low), Some(high)) = (&lower.value, &upper.value) {
            match low.cmp(high) {
                Ordering::Greater => {
                    return Err(PgError::new(
                        "22000",
                        "range lower bound must be less than or equal to range upper bound",
                    ));
                }
                Ordering::Equal if !(lower.inclusive && upper.inclusive) => {
                    return Ok(Range::empty(kind));
                }
                _ => {}
            }
        }
        if kind.discrete() {
            if !lower.inclusive
                && let Some(next) = lower
                    .value
                    .as_ref()
                    .map(|value| value.next(kind))
                    .transpose()?
                    .flatten()
            {
                lower.value = Some(next);
                lower.inclusive = true;
            }
            if upper.inclusive
                && let Some(next) = upper
                    .value
                    .as_ref()
                    .map(|value| value.next(kind))
                    .transpose()?
                    .flatten()
            {
                upper.value = Some(next);
                upper.inclusive = false;
            }
            if let (Some(low), Some(high)) = (&lower.value, &upper.value)
                && low >= high
                && !(lower.inclusive && upper.inclusive)
            {
                return Ok(Range::empty(kind));
            }
        }
        Ok(Range {
            kind,
            bounds: Some((lower, upper)),
        })
    }

    /// `int4range(lower, upper, flags)`: NULL is unbounded; flags `[]`, `[)`, `(]` or `()`.
    fn construct(
        kind: RangeType,
        lower: Option<Element>,
        upper: Option<Element>,
        flags: &str,
    ) -> Result<Self, PgError> {
        let (lower_inclusive, upper_inclusive) = match flags {
            "[]" => (true, true),
            "[)" => (true, false),
            "(]" => (false, true),
            "()" => (false, false),
            _ => {
                return Err(PgError {
                    hint: Some("Valid values are \"[]\", \"[)\", \"(]\", and \"()\".".into()),
                    ..PgError::new("42601", "invalid range bound flags")
                });
            }
        };
        Range::make(
            kind,
            Bound {
                value: lower,
                inclusive: lower_inclusive,
                lower: true,
            },
            Bound {
                value: upper,
                inclusive: upper_inclusive,
                lower: false,
            },
        )
    }

    fn is_empty(&self) -> bool {
        self.bounds.is_none()
    }

    fn contains(&self, other: &Range) -> bool {
        match (&self.bounds, &other.bounds) {
            (_, None) => true,
            (None, _) => false,
            (Some((l1, u1)), Some((l2, u2))) => {
                compare_bounds(l1, l2) != Ordering::Greater
                    && compare_bounds(u1, u2) != Ordering::Less
            }
        }
    }

    fn contains_element(&self, element: &Element) -> bool {
        let Some((lower, upper)) = &self.bounds else {
            return false;
        };
        let after_lower = lower
            .value
            .as_ref()
            .is_none_or(|low| match low.cmp(element) {
                Ordering::Less => true,
                Ordering::Equal => lower.inclusive,
                Ordering::Greater => false,
            });
        let before_upper = upper
            .value
            .as_ref()
            .is_none_or(|high| match high.cmp(element) {
                Ordering::Greater => true,
                Ordering::Equal => upper.inclusive,
                Ordering::Less => false,
            });
        after_lower && before_upper
    }

    fn overlaps(&self, other: &Range) -> bool {
        let (Some((l1, u1)), Some((l2, u2))) = (&self.bounds, &other.bounds) else {
            return false;
        };
        (compare_bounds(l1, l2) != Ordering::Less && compare_bounds(l1, u2) != Ordering::Greater)
            || (compare_bounds(l2, l1) != Ordering::Less
                && compare_bounds(l2, u1) != Ordering::Greater)
    }

    /// `bounds_adjacent`: an upper bound `a` meets the lower bound `b` with no value between.
    fn bounds_adjacent(kind: RangeType, a: &Bound, b: &Bound) -> bool {
        match compare_bound_values(a, b) {
            Ordering::Less if kind.discrete() => {
                // Discrete: adjacent when the range strictly between them is empty.
                let between = Range::make(
                    kind,
                    Bound {
                        value: a.value.clone(),
                        inclusive: !a.inclusive,
                        lower: true,
                    },
                    Bound {
                        value: b.value.clone(),
                        inclusive: !b.inclusive,
                        lower: false,
                    },
                );
                between.is_ok_and(|range| range.is_empty())
            }
            Ordering::Equal => a.inclusive != b.inclusive,
            _ => false,
        }
    }

    fn adjacent(&self, other: &Range) -> bool {
        let (Some((l1, u1)), Some((l2, u2))) = (&self.bounds, &other.bounds) else {
            return false;
        };
        Range::bounds_adjacent(self.kind, u1, l2) || Range::bounds_adjacent(self.kind, u2, l1)
    }

    /// Bounds of both (`None` when either is empty).
    fn both<'a>(
        &'a self,
        other: &'a Range,
    ) -> Option<(&'a Bound, &'a Bound, &'a Bound, &'a Bound)> {
        match (&self.bounds, &other.bounds) {
            (Some((l1, u1)), Some((l2, u2))) => Some((l1, u1, l2, u2)),
            _ => None,
        }
    }

    /// `+` (`contiguous`) and `range_merge`: the smallest range covering both.
    fn union(&self, other: &Range, contiguous: bool) -> Result<Range, PgError> {
        let Some((l1, u1, l2, u2)) = self.both(other) else {
            return Ok(if self.is_empty() {
                other.clone()
            } else {
                self.clone()
            });
        };
        if contiguous && !self.overlaps(other) && !self.adjacent(other) {
            return Err(PgError::new(
                "22000",
                "result of range union would not be contiguous",
            ));
        }
        let lower = if compare_bounds(l1, l2) == Ordering::Greater {
            l2
        } else {
            l1
        };
        let upper = if compare_bounds(u1, u2) == Ordering::Less {
            u2
        } else {
            u1
        };
        Range::make(self.kind, lower.clone(), upper.clone())
    }

    fn intersection(&self, other: &Range) -> Result<Range, PgError> {
        let Some((l1, u1, l2, u2)) = self.both(other) else {
            return Ok(Range::empty(self.kind));
        };
        if !self.overlaps(other) {
            return Ok(Range::empty(self.kind));
        }
        let lower = if compare_bounds(l1, l2) == Ordering::Less {
            l2
        } else {
            l1
        };
        let upper = if compare_bounds(u1, u2) == Ordering::Greater {
            u2
        } else {
            u1
        };
        Range::make(self.kind, lower.clone(), upper.clone())
    }

    /// `range_minus`.
    fn difference(&self, other: &Range) -> Result<Range, PgError> {
        let Some((l1, u1, l2, u2)) = self.both(other) else {
            return Ok(self.clone());
        };
        let l1l2 = compare_bounds(l1, l2);
        let l1u2 = compare_bounds(l1, u2);
        let u1l2 = compare_bounds(u1, l2);
        let u1u2 = compare_bounds(u1, u2);
        if l1l2.is_lt() && u1u2.is_gt() {
            return Err(PgError::new(
                "22000",
                "result of range difference would not be contiguous",
            ));
        }
        if l1u2.is_gt() || u1l2.is_lt() {
            return Ok(self.clone());
        }
        if l1l2.is_ge() && u1u2.is_le() {
            return Ok(Range::empty(self.kind));
        }
        let flipped = |bound: &Bound, lower: bool| Bound {
            value: bound.value.clone(),
            inclusive: !bound.inclusive,
            lower,
        };
        if l1l2.is_le() && u1l2.is_ge() && u1u2.is_le() {
            return Range::make(self.kind, l1.clone(), flipped(l2, false));
        }
        if l1l2.is_ge() && u1u2.is_ge() && l1u2.is_le() {
            return Range::make(self.kind, flipped(u2, true), u1.clone());
        }
        Err(PgError::new("XX000", "unexpected case in range_minus"))
    }

    /// `range_cmp`: empty first, then by lower bound, then by upper bound.
    fn compare(&self, other: &Range) -> Ordering {
        match self.both(other) {
            Some((l1, u1, l2, u2)) => compare_bounds(l1, l2).then_with(|| compare_bounds(u1, u2)),
            None => other.is_empty().cmp(&self.is_empty()),
        }
    }

    /// `lower`, `upper`, `isempty`, `lower_inc`, `upper_inc`, `lower_inf`, `upper_inf`.
    fn function(&self, name: &str) -> Option<Value> {
        let flag = |value: bool| Some(Value::Integer(value.into()));
        let bound = |lower: bool| {
            self.bounds
                .as_ref()
                .map(|(low, high)| if lower { low } else { high })
        };
        match name {
            "isempty" => flag(self.is_empty()),
            "lower" | "upper" => match bound(name == "lower") {
                Some(Bound {
                    value: Some(value), ..
                }) => Some(value.stored()),
                _ => Some(Value::Null),
            },
            "lower_inc" | "upper_inc" => {
                flag(bound(name == "lower_inc").is_some_and(|bound| bound.inclusive))
            }
            "lower_inf" | "upper_inf" => {
                flag(bound(name == "lower_inf").is_some_and(|bound| bound.value.is_none()))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some((lower, upper)) = &self.bounds else {
            return f.write_str("empty");
        };
        let show = |bound: &Bound| bound.value.as_ref().map(|value| quoted(&value.printed()));
        write!(
            f,
            "{}{},{}{}",
            if lower.inclusive { '[' } else { '(' },
            show(lower).unwrap_or_default(),
            show(upper).unwrap_or_default(),
            if upper.inclusive { ']' } else { ')' },
        )
    }
}

/// `range_bound_escape`: double quotes around a bound that holds a space, a comma, a bracket, a
/// parenthesis, a quote or a backslash (the last two doubled).
fn quoted(value: &str) -> String {
    let special = |c: char| "\"\\()[],".contains(c) || c.is_whitespace();
    if !value.is_empty() && !value.contains(special) {
        return value.to_owned();
    }
    let mut out = String::from('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `text` as a value of `kind`, printed as Postgres prints it (the cast `text::int4range`).
pub fn normalize(kind: RangeType, text: &str) -> Result<String, PgError> {
    Range::parse(kind, text).map(|range| range.to_string())
}

/// A binary operator (or `range_merge`) of two ranges: a boolean as 0/1, or a range.
fn operate(op: &str, a: &Range, b: &Range) -> Result<Value, PgError> {
    let flag = |value: bool| Ok(Value::Integer(value.into()));
    let range = |result: Result<Range, PgError>| result.map(|range| Value::Text(range.to_string()));
    let ordering = a.compare(b);
    match op {
        "@>" => flag(a.contains(b)),
        "<@" => flag(b.contains(a)),
        "&&" => flag(a.overlaps(b)),
        "<<" => flag(
            a.both(b)
                .is_some_and(|(_, u1, l2, _)| compare_bounds(u1, l2).is_lt()),
        ),
        ">>" => flag(
            a.both(b)
                .is_some_and(|(l1, _, _, u2)| compare_bounds(l1, u2).is_gt()),
        ),
        "&<" => flag(
            a.both(b)
                .is_some_and(|(_, u1, _, u2)| compare_bounds(u1, u2).is_le()),
        ),
        "&>" => flag(
            a.both(b)
                .is_some_and(|(l1, _, l2, _)| compare_bounds(l1, l2).is_ge()),
        ),
        "-|-" => flag(a.adjacent(b)),
        "=" => flag(ordering.is_eq()),
        "<>" => flag(ordering.is_ne()),
        "<" => flag(ordering.is_lt()),
        "<=" => flag(ordering.is_le()),
        ">" => flag(ordering.is_gt()),
        ">=" => flag(ordering.is_ge()),
        "+" => range(a.union(b, true)),
        "range_merge" => range(a.union(b, false)),
        "*" => range(a.intersection(b)),
        "-" => range(a.difference(b)),
        other => Err(PgError::new(
            "42883",
            format!(
                "operator does not exist: {} {other} {}",
                a.kind.name(),
                b.kind.name()
            ),
        )),
    }
}

fn kind_argument(context: &Context<'_>, index: usize) -> rusqlite::Result<RangeType> {
    let name: String = context.get(index)?;
    RangeType::named(&name).ok_or_else(|| {
        failure(PgError::new(
            "42704",
            format!("type \"{name}\" does not exist"),
        ))
    })
}

fn range_argument(
    context: &Context<'_>,
    kind: RangeType,
    index: usize,
) -> rusqlite::Result<Option<Range>> {
    let text = match context.get_raw(index) {
        ValueRef::Null => return Ok(None),
        ValueRef::Integer(number) => number.to_string(),
        ValueRef::Real(number) => number.to_string(),
        ValueRef::Text(text) | ValueRef::Blob(text) => String::from_utf8_lossy(text).into_owned(),
    };
    Range::parse(kind, &text).map(Some).map_err(failure)
}

fn failure(error: PgError) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(error))
}

/// Registers `pg_range_make`, `pg_range_op`, `pg_range_has` and `pg_range_fn`.
pub fn register(connection: &Connection) -> rusqlite::Result<()> {
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    for arity in [3, 4] {
        connection.create_scalar_function("pg_range_make", arity, pure, move |context| {
            let kind = kind_argument(context, 0)?;
            let flags = match arity {
                3 => Some("[)".to_owned()),
                _ => context.get::<Option<String>>(3)?,
            };
            let flags = flags.ok_or_else(|| {
                failure(PgError::new(
                    "22004",
                    "range constructor flags argument must not be null",
                ))
            })?;
            let lower = Element::from_value(kind, context.get_raw(1)).map_err(failure)?;
            let upper = Element::from_value(kind, context.get_raw(2)).map_err(failure)?;
            Range::construct(kind, lower, upper, &flags)
                .map(|range| range.to_string())
                .map_err(failure)
        })?;
    }
    connection.create_scalar_function("pg_range_op", 4, pure, |context| {
        let op: String = context.get(0)?;
        let kind = kind_argument(context, 1)?;
        let (Some(a), Some(b)) = (
            range_argument(context, kind, 2)?,
            range_argument(context, kind, 3)?,
        ) else {
            return Ok(Value::Null);
        };
        operate(&op, &a, &b).map_err(failure)
    })?;
    connection.create_scalar_function("pg_range_has", 3, pure, |context| {
        let kind = kind_argument(context, 0)?;
        let Some(range) = range_argument(context, kind, 1)? else {
            return Ok(None);
        };
        let Some(element) = Element::from_value(kind, context.get_raw(2)).map_err(failure)? else {
            return Ok(None);
        };
        Ok(Some(range.contains_element(&element)))
    })?;
    connection.create_scalar_function("pg_range_fn", 3, pure, |context| {
        let name: String = context.get(0)?;
        let kind = kind_argument(context, 1)?;
        let Some(range) = range_argument(context, kind, 2)? else {
            return Ok(Value::Null);
        };
        range.function(&name).ok_or_else(|| {
            failure(PgError::new(
                "42883",
                format!("function {name}({}) does not exist", kind.name()),
            ))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs with what PostgreSQL 15 prints for them, or the SQLSTATE it refuses them with.
    #[test]
    fn literals_read_and_print_as_postgres() {
        for (kind, input, expected) in [
            ("int4range", "[1,5]", Ok("[1,6)")),
            ("int4range", "(1,5)", Ok("[2,5)")),
            ("int4range", "[3,3)", Ok("empty")),
            ("int4range", "(,5]", Ok("(,6)")),
            ("int4range", "[1,)", Ok("[1,)")),
            ("int4range", " [ 1 , 3 ] ", Ok("[1,4)")),
            ("int4range", "[\"1\", 3]", Ok("[1,4)")),
            ("int4range", "[,]", Ok("(,)")),
            ("int4range", "(1,2)", Ok("empty")),
            ("int4range", "EMPTY", Ok("empty")),
            ("int4range", "x", Err("22P02")),
            ("int4range", "[5,1]", Err("22000")),
            ("int4range", "[a,1]", Err("22P02")),
            ("int4range", "[1,3000000000)", Err("22003")),
            ("int4range", "[1,2147483647]", Err("22003")),
            ("int4range", "[1,3]x", Err("22P02")),
            ("int4range", "[1,2,3]", Err("22P02")),
            ("int4range", "[1", Err("22P02")),
            ("int4range", "empty x", Err("22P02")),
            ("int8range", "[1,3000000000]", Ok("[1,3000000001)")),
            ("numrange", "[1.5,2]", Ok("[1.5,2]")),
            ("numrange", "[+01.5,.5e1)", Ok("[1.5,5)")),
            ("numrange", "[-0.0,0)", Ok("empty")),
            ("numrange", "[1,Infinity)", Ok("[1,Infinity)")),
            ("numrange", "[1.50,2.0]", Ok("[1.50,2.0]")),
            ("numrange", "(-1e-2,1e2)", Ok("(-0.01,100)")),
            ("numrange", "[3,3]", Ok("[3,3]")),
            (
                "daterange",
                "[2024-01-01,2024-01-31]",
                Ok("[2024-01-01,2024-02-01)"),
            ),
            (
                "daterange",
                "[-infinity,infinity]",
                Ok("[-infinity,infinity]"),
            ),
            ("daterange", "(infinity,infinity]", Ok("empty")),
            ("daterange", "(2024-01-01,)", Ok("[2024-01-02,)")),
            ("daterange", "[x,2024-01-01)", Err("22007")),
            (
                "tsrange",
                "[\"2024-01-01 10:00\",)",
                Ok("[\"2024-01-01 10:00:00\",)"),
            ),
            (
                "tsrange",
                "[2024-01-01 10:00:00.5, 2024-01-02]",
                Ok("[\"2024-01-01 10:00:00.5\",\"2024-01-02 00:00:00\"]"),
            ),
            (
                "tsrange",
                "(2024-01-01,2024-01-01T12:30)",
                Ok("(\"2024-01-01 00:00:00\",\"2024-01-01 12:30:00\")"),
            ),
            (
                "tstzrange",
                "[2024-01-01 10:00+02,2024-01-02)",
                Ok("[\"2024-01-01 08:00:00+00\",\"2024-01-02 00:00:00+00\")"),
            ),
            (
                "tstzrange",
                "[2024-01-01,)",
                Ok("[\"2024-01-01 00:00:00+00\",)"),
            ),
            (
                "tstzrange",
                "(,2024-06-01 00:00:00.25+00]",
                Ok("(,\"2024-06-01 00:00:00.25+00\"]"),
            ),
        ] {
            let kind = RangeType::named(kind).unwrap();
            let read = normalize(kind, input);
            assert_eq!(
                read.as_deref().map_err(|error| error.code.as_str()),
                expected,
                "{input}"
            );
        }
    }

    /// Operators of two ranges with what PostgreSQL 15 answers (`t`/`f`, a range, or the
    /// SQLSTATE of its refusal).
    #[test]
    fn operators_answer_as_postgres() {
        for (kind, a, op, b, expected) in [
            ("int4range", "[1,5)", "@>", "[2,3)", Ok("t")),
            ("int4range", "[1,5)", "@>", "empty", Ok("t")),
            ("int4range", "empty", "<@", "[1,2)", Ok("t")),
            ("int4range", "[1,5)", "&&", "[5,6)", Ok("f")),
            ("int4range", "[1,5]", "&&", "[5,6)", Ok("t")),
            ("int4range", "[1,2)", "<<", "[2,25)", Ok("t")),
            ("int4range", "[25,35)", ">>", "[2,25)", Ok("t")),
            ("int4range", "[1,2)", "&<", "[2,25)", Ok("t")),
            ("int4range", "[20,30)", "&>", "[2,25)", Ok("t")),
            ("int4range", "[1,2)", "-|-", "[2,25)", Ok("t")),
            ("numrange", "[1,2]", "-|-", "(2,3)", Ok("t")),
            ("numrange", "[1,2)", "-|-", "(2,3)", Ok("f")),
            ("int4range", "(,5)", "<", "[1,2)", Ok("t")),
            ("int4range", "empty", "<", "(,1)", Ok("t")),
            ("int4range", "[1,3)", "=", "[1,2]", Ok("t")),
            ("int4range", "[1,5)", "+", "[5,9)", Ok("[1,9)")),
            ("int4range", "[1,5)", "+", "[7,9)", Err("22000")),
            ("int4range", "[1,5)", "range_merge", "[7,9)", Ok("[1,9)")),
            ("int4range", "[1,5)", "*", "[3,9)", Ok("[3,5)")),
            ("int4range", "[1,5)", "*", "[7,9)", Ok("empty")),
            ("int4range", "[1,9)", "-", "[3,12)", Ok("[1,3)")),
            ("int4range", "[1,9)", "-", "[0,3)", Ok("[3,9)")),
            ("int4range", "[1,9)", "-", "[3,5)", Err("22000")),
            (
                "daterange",
                "[2024-01-01,2024-02-01)",
                "*",
                "[2024-01-15,)",
                Ok("[2024-01-15,2024-02-01)"),
            ),
            (
                "tstzrange",
                "[2024-01-01 10:00+00,2024-01-01 12:00+00)",
                "+",
                "[2024-01-01 12:00+00,2024-01-01 13:00+00)",
                Ok("[\"2024-01-01 10:00:00+00\",\"2024-01-01 13:00:00+00\")"),
            ),
        ] {
            let kind = RangeType::named(kind).unwrap();
            let (a, b) = (
                Range::parse(kind, a).unwrap(),
                Range::parse(kind, b).unwrap(),
            );
            let answer = operate(op, &a, &b).map(|value| match value {
                Value::Integer(1) => "t".to_owned(),
                Value::Integer(0) => "f".to_owned(),
                Value::Text(text) => text,
                other => panic!("{other:?}"),
            });
            assert_eq!(
                answer.as_deref().map_err(|error| error.code.as_str()),
                expected,
                "{a} {op} {b}"
            );
        }
    }

    /// The SQL functions on a connection: constructors, element containment and `lower()` and
    /// its kin, with what PostgreSQL 15 answers (values in their stored form: booleans 0/1,
    /// timestamptz as UTC text).
    #[test]
    fn sql_functions_answer_as_postgres() {
        let connection = Connection::open_in_memory().unwrap();
        register(&connection).unwrap();
        let answer = |sql: &str| -> Result<String, String> {
            connection
                .query_row(&format!("SELECT {sql}"), [], |row| row.get::<_, Value>(0))
                .map(|value| match value {
                    Value::Null => "NULL".to_owned(),
                    Value::Integer(number) => number.to_string(),
                    Value::Real(number) => number.to_string(),
                    Value::Text(text) => text,
                    Value::Blob(_) => unreachable!(),
                })
                .map_err(|error| crate::plpgsql::PgError::from_sqlite(&error).code)
        };
        for (sql, expected) in [
            ("pg_range_make('int4range', 1, 5, '[]')", Ok("[1,6)")),
            ("pg_range_make('int4range', NULL, 5)", Ok("(,5)")),
            (
                "pg_range_make('numrange', '1.50', '2', '(]')",
                Ok("(1.50,2]"),
            ),
            ("pg_range_make('int4range', 5, 1)", Err("22000")),
            ("pg_range_make('int4range', 1, 5, 'x')", Err("42601")),
            (
                "pg_range_make('daterange', '2024-01-01', '2024-01-03', '[]')",
                Ok("[2024-01-01,2024-01-04)"),
            ),
            ("pg_range_has('int4range', '[1,5)', 4)", Ok("1")),
            ("pg_range_has('int4range', '[1,5)', 5)", Ok("0")),
            (
                "pg_range_has('daterange', '[2024-01-01,)', '2023-12-31')",
                Ok("0"),
            ),
            ("pg_range_fn('lower', 'int4range', '[1,5)')", Ok("1")),
            ("pg_range_fn('upper', 'int4range', '(,5)')", Ok("5")),
            ("pg_range_fn('lower', 'int4range', '(,5)')", Ok("NULL")),
            ("pg_range_fn('lower', 'numrange', '[1.5,2]')", Ok("1.5")),
            (
                "pg_range_fn('upper', 'tstzrange', '[2024-01-01 10:00+00,2024-01-02)')",
                Ok("2024-01-02T00:00:00+00:00"),
            ),
            ("pg_range_fn('isempty', 'int4range', '[3,3)')", Ok("1")),
            ("pg_range_fn('lower_inf', 'int4range', '(,5)')", Ok("1")),
            ("pg_range_fn('lower_inc', 'int4range', 'empty')", Ok("0")),
            ("pg_range_fn('upper_inc', 'numrange', '[1,2]')", Ok("1")),
            ("pg_range_fn('upper_inf', 'int4range', 'empty')", Ok("0")),
            ("pg_range_op('@>', 'int4range', '[1,5)', NULL)", Ok("NULL")),
        ] {
            assert_eq!(
                answer(sql).as_deref(),
                expected.map_err(str::to_owned).as_deref(),
                "{sql}"
            );
        }
    }
}
