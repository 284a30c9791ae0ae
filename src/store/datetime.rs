//! Dates and times as Postgres computes them, over the stored text forms (timestamptz as UTC
//! text with `+00:00`, timestamp without offset, date `YYYY-MM-DD`, interval as Postgres prints
//! it): interval input and output, `+`/`-`/`*`, interval comparison, `date_trunc`, `extract`,
//! `age`, `AT TIME ZONE` and the casts between them, as SQL functions. Sessions are UTC.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value as SqlValue, ValueRef};

use super::functions::format_timestamptz;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Postgres's interval: months, days and microseconds, kept apart as Postgres keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interval {
    pub months: i64,
    pub days: i64,
    pub micros: i64,
}

/// A value of one of the date/time types, read from its stored text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Temporal {
    /// timestamptz, as its UTC wall time.
    Zoned(DateTime),
    Local(DateTime),
    Date(Date),
    Interval(Interval),
    Number(f64),
}

/// Why a date/time function failed, worded as Postgres words it.
#[derive(Debug)]
pub struct DateTimeError(pub String);

impl std::fmt::Display for DateTimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DateTimeError {}

fn error<T>(message: impl Into<String>) -> Result<T, DateTimeError> {
    Err(DateTimeError(message.into()))
}

fn out_of_range<E>(_: E) -> DateTimeError {
    DateTimeError("timestamp out of range".into())
}

impl Interval {
    /// Parses interval input as Postgres accepts it: `7 days`, `1 day 02:00:00`, `90 minutes`,
    /// `1.5 hours`, `2 weeks ago`, `@ 1 year 2 mons`, `-1 day +02:00`, a bare number of seconds.
    pub fn parse(text: &str) -> Result<Interval, DateTimeError> {
        let invalid = || {
            DateTimeError(format!(
                "invalid input syntax for type interval: \"{text}\""
            ))
        };
        let lowered = text.trim().to_ascii_lowercase();
        let mut tokens = split_tokens(lowered.trim_start_matches('@'))
            .into_iter()
            .peekable();
        let mut months = 0f64;
        let mut days = 0f64;
        let mut micros = 0f64;
        let mut ago = false;
        let mut any = false;
        while let Some(token) = tokens.next() {
            if token == "ago" {
                ago = true;
                continue;
            }
            if token.contains(':') {
                micros += parse_clock(&token).ok_or_else(invalid)? as f64;
                any = true;
                continue;
            }
            let number: f64 = token.parse().map_err(|_| invalid())?;
            let unit = match tokens.peek() {
                Some(next)
                    if next.starts_with(|c: char| c.is_ascii_alphabetic()) && next != "ago" =>
                {
                    tokens.next().unwrap_or_default()
                }
                _ => "second".to_owned(),
            };
            any = true;
            let second = MICROS_PER_SECOND as f64;
            match unit.as_str() {
                "microsecond" | "microseconds" | "us" | "usec" | "usecs" => micros += number,
                "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" => micros += number * 1e3,
                "second" | "seconds" | "s" | "sec" | "secs" => micros += number * second,
                "minute" | "minutes" | "m" | "min" | "mins" => micros += number * 60.0 * second,
                "hour" | "hours" | "h" | "hr" | "hrs" => micros += number * 3600.0 * second,
                "day" | "days" | "d" => days += number,
                "week" | "weeks" | "w" => days += number * 7.0,
                "month" | "months" | "mon" | "mons" => months += number,
                "year" | "years" | "y" | "yr" | "yrs" => months += number * 12.0,
                "decade" | "decades" | "dec" => months += number * 120.0,
                "century" | "centuries" | "c" => months += number * 1200.0,
                "millennium" | "millennia" | "mil" => months += number * 12000.0,
                _ => return Err(invalid()),
            }
        }
        if !any {
            return Err(invalid());
        }
        // Fractions spill down as Postgres spills them: a month is 30 days, a day 24 hours.
        let whole_months = months.trunc();
        days += (months - whole_months) * 30.0;
        let whole_days = days.trunc();
        micros += (days - whole_days) * MICROS_PER_DAY as f64;
        let sign = if ago { -1 } else { 1 };
        Ok(Interval {
            months: sign * whole_months as i64,
            days: sign * whole_days as i64,
            micros: sign * micros.round() as i64,
        })
    }

    fn negate(self) -> Interval {
        Interval {
            months: -self.months,
            days: -self.days,
            micros: -self.micros,
        }
    }

    fn plus(self, other: Interval) -> Interval {
        Interval {
            months: self.months + other.months,
            days: self.days + other.days,
            micros: self.micros + other.micros,
        }
    }

    /// `interval * factor`, with fractional months and days spilling down as Postgres does.
    fn times(self, factor: f64) -> Interval {
        let months = self.months as f64 * factor;
        let whole_months = months.trunc();
        let days = self.days as f64 * factor + (months - whole_months) * 30.0;
        let whole_days = days.trunc();
        let micros = self.micros as f64 * factor + (days - whole_days) * MICROS_PER_DAY as f64;
        Interval {
            months: whole_months as i64,
            days: whole_days as i64,
            micros: micros.round() as i64,
        }
    }

    /// The ordering key Postgres compares intervals by (a month counts 30 days).
    fn span_key(self) -> i128 {
        (self.months as i128 * 30 + self.days as i128) * MICROS_PER_DAY as i128
            + self.micros as i128
    }
}

impl std::fmt::Display for Interval {
    /// Postgres's output (IntervalStyle `postgres`): `1 year 2 mons 3 days 04:05:06.5`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = String::new();
        let mut before_negative = false;
        for (value, unit) in [
            (self.months / 12, "year"),
            (self.months % 12, "mon"),
            (self.days, "day"),
        ] {
            if value == 0 {
                continue;
            }
            let space = if text.is_empty() { "" } else { " " };
            let plus = if before_negative && value > 0 {
                "+"
            } else {
                ""
            };
            let plural = if value != 1 { "s" } else { "" };
            text.push_str(&format!("{space}{plus}{value} {unit}{plural}"));
            before_negative = value < 0;
        }
        if text.is_empty() || self.micros != 0 {
            let space = if text.is_empty() { "" } else { " " };
            let sign = if self.micros < 0 {
                "-"
            } else if before_negative {
                "+"
            } else {
                ""
            };
            let total = self.micros.unsigned_abs();
            let seconds = total / MICROS_PER_SECOND as u64;
            let fraction = total % MICROS_PER_SECOND as u64;
            text.push_str(&format!(
                "{space}{sign}{:02}:{:02}:{:02}",
                seconds / 3600,
                seconds / 60 % 60,
                seconds % 60
            ));
            if fraction != 0 {
                let digits = format!("{fraction:06}");
                text.push('.');
                text.push_str(digits.trim_end_matches('0'));
            }
        }
        f.write_str(&text)
    }
}

/// Words, numbers and clock times of interval input; `10min` and `-1day` split in two.
fn split_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || c == ',') {
        if word.is_empty() {
            continue;
        }
        let split = word
            .char_indices()
            .find(|(index, c)| *index > 0 && c.is_ascii_alphabetic())
            .map(|(index, _)| index)
            .filter(|_| word.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c)));
        match split {
            Some(index) if !word.contains(':') => {
                tokens.push(word[..index].to_owned());
                tokens.push(word[index..].to_owned());
            }
            _ => tokens.push(word.to_owned()),
        }
    }
    tokens
}

/// `[-]h:mm[:ss[.ffffff]]` as microseconds.
fn parse_clock(token: &str) -> Option<i64> {
    let (sign, body) = match token.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, token.trim_start_matches('+')),
    };
    let mut parts = body.split(':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next()?.parse().ok()?;
    let seconds: f64 = match parts.next() {
        Some(seconds) => seconds.parse().ok()?,
        None => 0.0,
    };
    if parts.next().is_some() || minutes >= 60 || seconds >= 60.0 {
        return None;
    }
    let micros = (hours * 3600 + minutes * 60) * MICROS_PER_SECOND
        + (seconds * MICROS_PER_SECOND as f64).round() as i64;
    Some(sign * micros)
}

/// Reads a stored value by its shape.
fn classify(text: &str) -> Result<Temporal, DateTimeError> {
    let trimmed = text.trim();
    let bytes = trimmed.as_bytes();
    let date_like = bytes.len() >= 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[..4].iter().all(u8::is_ascii_digit);
    if date_like && bytes.len() == 10 {
        return trimmed
            .parse::<Date>()
            .map(Temporal::Date)
            .map_err(|_| DateTimeError(format!("invalid input syntax for type date: \"{text}\"")));
    }
    if date_like {
        let rest = &trimmed[10..];
        let zoned = rest.ends_with('Z') || rest.ends_with('z') || rest[1..].contains(['+', '-']);
        if zoned {
            let canonical =
                crate::migrate::values::normalize_timestamptz(trimmed).ok_or_else(|| {
                    DateTimeError(format!(
                        "invalid input syntax for type timestamp with time zone: \"{text}\""
                    ))
                })?;
            let instant: Timestamp = canonical.parse().map_err(out_of_range)?;
            return Ok(Temporal::Zoned(TimeZone::UTC.to_datetime(instant)));
        }
        return trimmed
            .replacen(' ', "T", 1)
            .parse::<DateTime>()
            .map(Temporal::Local)
            .map_err(|_| {
                DateTimeError(format!(
                    "invalid input syntax for type timestamp: \"{text}\""
                ))
            });
    }
    if let Ok(number) = trimmed.parse::<f64>() {
        return Ok(Temporal::Number(number));
    }
    Interval::parse(trimmed).map(Temporal::Interval)
}

fn value_text(value: &ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(number) => Some(number.to_string()),
        ValueRef::Real(number) => Some(number.to_string()),
        ValueRef::Text(text) | ValueRef::Blob(text) => {
            Some(String::from_utf8_lossy(text).into_owned())
        }
    }
}

fn read(value: &ValueRef<'_>) -> Result<Option<Temporal>, DateTimeError> {
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(number) => Ok(Some(Temporal::Number(*number as f64))),
        ValueRef::Real(number) => Ok(Some(Temporal::Number(*number))),
        other => classify(&value_text(other).unwrap_or_default()).map(Some),
    }
}

fn render(value: Temporal) -> SqlValue {
    match value {
        Temporal::Zoned(datetime) => match TimeZone::UTC.to_timestamp(datetime) {
            Ok(instant) => SqlValue::Text(format_timestamptz(instant)),
            Err(_) => SqlValue::Null,
        },
        Temporal::Local(datetime) => SqlValue::Text(local_text(datetime)),
        Temporal::Date(date) => SqlValue::Text(date.to_string()),
        Temporal::Interval(interval) => SqlValue::Text(interval.to_string()),
        Temporal::Number(number) if number.fract() == 0.0 && number.abs() < 9e15 => {
            SqlValue::Integer(number as i64)
        }
        Temporal::Number(number) => SqlValue::Real(number),
    }
}

/// A timestamp without time zone as stored: `2024-01-01T10:00:00.5`.
fn local_text(datetime: DateTime) -> String {
    let text = datetime.strftime("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn micros_of_day(datetime: DateTime) -> i64 {
    let time = datetime.time();
    (time.hour() as i64 * 3600 + time.minute() as i64 * 60 + time.second() as i64)
        * MICROS_PER_SECOND
        + time.subsec_nanosecond() as i64 / 1000
}

/// `timestamp + interval`: months first (the day clamped to the month's end), then days, then
/// the time, as Postgres adds them.
fn add_interval(datetime: DateTime, interval: Interval) -> Result<DateTime, DateTimeError> {
    let moved = datetime
        .checked_add(Span::new().months(interval.months).days(interval.days))
        .map_err(out_of_range)?;
    moved
        .checked_add(Span::new().microseconds(interval.micros))
        .map_err(out_of_range)
}

/// `timestamp - timestamp`: whole days and the rest, as Postgres subtracts them.
fn difference(left: DateTime, right: DateTime) -> Interval {
    let micros = (left
        .date()
        .since(right.date())
        .map(|span| span.get_days() as i64)
        .unwrap_or(0))
        * MICROS_PER_DAY
        + micros_of_day(left)
        - micros_of_day(right);
    Interval {
        months: 0,
        days: micros / MICROS_PER_DAY,
        micros: micros % MICROS_PER_DAY,
    }
}

fn days_between(left: Date, right: Date) -> i64 {
    left.since(right)
        .map(|span| span.get_days() as i64)
        .unwrap_or(0)
}

fn add_days(date: Date, days: f64) -> Result<Date, DateTimeError> {
    if days.fract() != 0.0 {
        return error("operator does not exist: date + numeric");
    }
    date.checked_add(Span::new().days(days as i64))
        .map_err(out_of_range)
}

fn midnight(date: Date) -> DateTime {
    date.to_datetime(Time::midnight())
}

/// `left + right` for date/time operands.
fn add(left: Temporal, right: Temporal) -> Result<Temporal, DateTimeError> {
    use Temporal::*;
    Ok(match (left, right) {
        (Zoned(at), Interval(interval)) | (Interval(interval), Zoned(at)) => {
            Zoned(add_interval(at, interval)?)
        }
        (Local(at), Interval(interval)) | (Interval(interval), Local(at)) => {
            Local(add_interval(at, interval)?)
        }
        (Date(date), Interval(interval)) | (Interval(interval), Date(date)) => {
            Local(add_interval(midnight(date), interval)?)
        }
        (Date(date), Number(days)) | (Number(days), Date(date)) => Date(add_days(date, days)?),
        (Interval(a), Interval(b)) => Interval(a.plus(b)),
        (Number(a), Number(b)) => Number(a + b),
        _ => return error("operator does not exist for these date/time operands: +"),
    })
}

/// `left - right` for date/time operands.
fn subtract(left: Temporal, right: Temporal) -> Result<Temporal, DateTimeError> {
    use Temporal::*;
    Ok(match (left, right) {
        (Zoned(at), Interval(interval)) => Zoned(add_interval(at, interval.negate())?),
        (Local(at), Interval(interval)) => Local(add_interval(at, interval.negate())?),
        (Date(date), Interval(interval)) => Local(add_interval(midnight(date), interval.negate())?),
        (Date(date), Number(days)) => Date(add_days(date, -days)?),
        (Date(a), Date(b)) => Number(days_between(a, b) as f64),
        (Zoned(a), Zoned(b)) | (Local(a), Local(b)) => Interval(difference(a, b)),
        (Zoned(a) | Local(a), Date(b)) => Interval(difference(a, midnight(b))),
        (Date(a), Zoned(b) | Local(b)) => Interval(difference(midnight(a), b)),
        (Interval(a), Interval(b)) => Interval(a.plus(b.negate())),
        (Number(a), Number(b)) => Number(a - b),
        _ => return error("operator does not exist for these date/time operands: -"),
    })
}

fn multiply(left: Temporal, right: Temporal) -> Result<Temporal, DateTimeError> {
    use Temporal::*;
    Ok(match (left, right) {
        (Interval(interval), Number(factor)) | (Number(factor), Interval(interval)) => {
            Interval(interval.times(factor))
        }
        (Number(a), Number(b)) => Number(a * b),
        _ => return error("operator does not exist for these date/time operands: *"),
    })
}

/// `age(later, earlier)`: the symbolic difference in years, months and days, as Postgres's
/// `timestamp_age` computes it.
fn age(left: DateTime, right: DateTime) -> Interval {
    let negative = left < right;
    let (later, earlier) = if negative {
        (right, left)
    } else {
        (left, right)
    };
    let mut micros = micros_of_day(later) - micros_of_day(earlier);
    let mut days = later.day() as i64 - earlier.day() as i64;
    let mut months = later.month() as i64 - earlier.month() as i64;
    let mut years = later.year() as i64 - earlier.year() as i64;
    if micros < 0 {
        micros += MICROS_PER_DAY;
        days -= 1;
    }
    if days < 0 {
        // Borrow the length of the month the earlier value falls in (for a negative age, the
        // month of the first argument), as Postgres does.
        let month_of = if negative { later } else { earlier };
        days += month_of.date().days_in_month() as i64;
        months -= 1;
    }
    if months < 0 {
        months += 12;
        years -= 1;
    }
    let interval = Interval {
        months: years * 12 + months,
        days,
        micros,
    };
    if negative {
        interval.negate()
    } else {
        interval
    }
}

fn as_datetime(value: Temporal) -> Result<DateTime, DateTimeError> {
    match value {
        Temporal::Zoned(at) | Temporal::Local(at) => Ok(at),
        Temporal::Date(date) => Ok(midnight(date)),
        _ => error("a timestamp or date is needed here"),
    }
}

/// `date_trunc(field, value)`: the same type, cut down to `field`.
fn date_trunc(field: &str, value: Temporal) -> Result<Temporal, DateTimeError> {
    let at = match value {
        Temporal::Zoned(at) | Temporal::Local(at) => at,
        Temporal::Date(date) => midnight(date),
        _ => return error(format!("unit \"{field}\" not supported for type interval")),
    };
    let date = at.date();
    let micros = micros_of_day(at);
    let year = date.year() as i64;
    let truncated_year = |step: i64, offset: i64| -> Result<DateTime, DateTimeError> {
        let start = ((year - offset).div_euclid(step)) * step + offset;
        Ok(midnight(
            Date::new(start as i16, 1, 1).map_err(out_of_range)?,
        ))
    };
    let cut = |unit: i64| -> Result<DateTime, DateTimeError> {
        midnight(date)
            .checked_add(Span::new().microseconds(micros / unit * unit))
            .map_err(out_of_range)
    };
    let truncated = match field.to_ascii_lowercase().as_str() {
        "microseconds" | "microsecond" => at,
        "milliseconds" | "millisecond" => cut(1000)?,
        "second" | "seconds" => cut(MICROS_PER_SECOND)?,
        "minute" | "minutes" => cut(60 * MICROS_PER_SECOND)?,
        "hour" | "hours" => cut(3600 * MICROS_PER_SECOND)?,
        "day" | "days" => midnight(date),
        "week" | "weeks" => midnight(
            date.checked_sub(Span::new().days(date.weekday().to_monday_zero_offset() as i64))
                .map_err(out_of_range)?,
        ),
        "month" | "months" => midnight(date.first_of_month()),
        "quarter" => midnight(
            Date::new(date.year(), (date.month() - 1) / 3 * 3 + 1, 1).map_err(out_of_range)?,
        ),
        "year" | "years" => truncated_year(1, 0)?,
        "decade" | "decades" => truncated_year(10, 0)?,
        "century" | "centuries" => truncated_year(100, 1)?,
        "millennium" | "millennia" => truncated_year(1000, 1)?,
        other => {
            return error(format!(
                "unit \"{other}\" not recognized for type timestamp"
            ));
        }
    };
    Ok(match value {
        Temporal::Zoned(_) => Temporal::Zoned(truncated),
        _ => Temporal::Local(truncated),
    })
}

/// `extract(field from value)` / `date_part(field, value)`.
fn extract(field: &str, value: Temporal) -> Result<f64, DateTimeError> {
    let field = field.to_ascii_lowercase();
    if let Temporal::Interval(interval) = value {
        let seconds_of_time = interval.micros as f64 / MICROS_PER_SECOND as f64;
        return Ok(match field.as_str() {
            "epoch" => {
                (interval.months / 12) as f64 * 365.25 * 86400.0
                    + (interval.months % 12) as f64 * 30.0 * 86400.0
                    + interval.days as f64 * 86400.0
                    + seconds_of_time
            }
            "year" | "years" => (interval.months / 12) as f64,
            "month" | "months" => (interval.months % 12) as f64,
            "day" | "days" => interval.days as f64,
            "hour" | "hours" => (interval.micros / (3600 * MICROS_PER_SECOND)) as f64,
            "minute" | "minutes" => (interval.micros / (60 * MICROS_PER_SECOND) % 60) as f64,
            "second" | "seconds" => seconds_of_time % 60.0,
            other => return error(format!("unit \"{other}\" not supported for type interval")),
        });
    }
    let (at, zoned) = match value {
        Temporal::Zoned(at) => (at, true),
        Temporal::Local(at) => (at, false),
        Temporal::Date(date) => (midnight(date), false),
        _ => return error("extract needs a date, time or interval value"),
    };
    let date = at.date();
    let seconds = at.second() as f64 + at.subsec_nanosecond() as f64 / 1e9;
    let year = date.year() as f64;
    Ok(match field.as_str() {
        "epoch" => {
            let instant = TimeZone::UTC.to_timestamp(at).map_err(out_of_range)?;
            instant.as_microsecond() as f64 / MICROS_PER_SECOND as f64
        }
        "year" | "years" => year,
        "month" | "months" => date.month() as f64,
        "day" | "days" => date.day() as f64,
        "hour" | "hours" => at.hour() as f64,
        "minute" | "minutes" => at.minute() as f64,
        "second" | "seconds" => seconds,
        "milliseconds" => seconds * 1e3,
        "microseconds" => (seconds * 1e6).round(),
        "dow" => date.weekday().to_sunday_zero_offset() as f64,
        "isodow" => date.weekday().to_monday_one_offset() as f64,
        "doy" => date.day_of_year() as f64,
        "week" => date.iso_week_date().week() as f64,
        "isoyear" => date.iso_week_date().year() as f64,
        "quarter" => ((date.month() - 1) / 3 + 1) as f64,
        "decade" => (year / 10.0).floor(),
        "century" if year > 0.0 => ((year - 1.0) / 100.0).floor() + 1.0,
        "millennium" if year > 0.0 => ((year - 1.0) / 1000.0).floor() + 1.0,
        "timezone" | "timezone_hour" | "timezone_minute" if zoned => 0.0,
        other => return error(format!("unit \"{other}\" not recognized for this type")),
    })
}

fn time_zone(name: &str) -> Result<TimeZone, DateTimeError> {
    let trimmed = name.trim();
    if trimmed.eq_ignore_ascii_case("utc") || trimmed.eq_ignore_ascii_case("z") {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(trimmed)
        .map_err(|_| DateTimeError(format!("time zone \"{trimmed}\" not recognized")))
}

/// `value AT TIME ZONE zone`: a timestamptz becomes the wall time there; a timestamp (or date)
/// is read as a wall time there and becomes a timestamptz.
fn at_time_zone(value: Temporal, zone: &str) -> Result<Temporal, DateTimeError> {
    let zone = time_zone(zone)?;
    match value {
        Temporal::Zoned(at) => {
            let instant = TimeZone::UTC.to_timestamp(at).map_err(out_of_range)?;
            Ok(Temporal::Local(zone.to_datetime(instant)))
        }
        Temporal::Local(_) | Temporal::Date(_) => {
            let instant = zone
                .to_timestamp(as_datetime(value)?)
                .map_err(out_of_range)?;
            Ok(Temporal::Zoned(TimeZone::UTC.to_datetime(instant)))
        }
        _ => error("AT TIME ZONE needs a timestamp"),
    }
}

/// Casts: `x::date`, `x::timestamp`, `x::timestamptz`, `x::interval` (the session is UTC).
fn cast(target: &str, value: Temporal) -> Result<Temporal, DateTimeError> {
    Ok(match (target, value) {
        ("date", Temporal::Zoned(at) | Temporal::Local(at)) => Temporal::Date(at.date()),
        ("date", Temporal::Date(date)) => Temporal::Date(date),
        ("timestamp", Temporal::Zoned(at) | Temporal::Local(at)) => Temporal::Local(at),
        ("timestamp", Temporal::Date(date)) => Temporal::Local(midnight(date)),
        ("timestamptz", Temporal::Zoned(at) | Temporal::Local(at)) => Temporal::Zoned(at),
        ("timestamptz", Temporal::Date(date)) => Temporal::Zoned(midnight(date)),
        ("interval", Temporal::Interval(interval)) => Temporal::Interval(interval),
        ("interval", Temporal::Number(seconds)) => Temporal::Interval(Interval {
            micros: (seconds * 1e6).round() as i64,
            ..Interval::default()
        }),
        (target, _) => return error(format!("cannot cast this value to {target}")),
    })
}

fn function_error(error: DateTimeError) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(error))
}

/// Reads argument `index` as a date/time value (`None` for NULL).
fn argument(context: &Context<'_>, index: usize) -> rusqlite::Result<Option<Temporal>> {
    read(&context.get_raw(index)).map_err(function_error)
}

fn text_argument(context: &Context<'_>, index: usize) -> Option<String> {
    value_text(&context.get_raw(index))
}

/// Registers the date/time functions (all deterministic: `now()` is passed in as a value).
pub fn register(connection: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    type Binary = fn(Temporal, Temporal) -> Result<Temporal, DateTimeError>;
    for (name, operation) in [
        ("pg_add", add as Binary),
        ("pg_sub", subtract as Binary),
        ("pg_mul", multiply as Binary),
    ] {
        connection.create_scalar_function(name, 2, flags, move |context| {
            match (argument(context, 0)?, argument(context, 1)?) {
                (Some(left), Some(right)) => {
                    operation(left, right).map(render).map_err(function_error)
                }
                _ => Ok(SqlValue::Null),
            }
        })?;
    }
    connection.create_scalar_function("pg_interval_cmp", 2, flags, |context| {
        match (argument(context, 0)?, argument(context, 1)?) {
            (Some(Temporal::Interval(left)), Some(Temporal::Interval(right))) => {
                Ok(Some(left.span_key().cmp(&right.span_key()) as i64))
            }
            (None, _) | (_, None) => Ok(None),
            _ => Err(function_error(DateTimeError(
                "operator does not exist: interval compared with a non-interval".into(),
            ))),
        }
    })?;
    for target in ["date", "timestamp", "timestamptz", "interval"] {
        connection.create_scalar_function(
            format!("pg_{target}").as_str(),
            1,
            flags,
            move |context| match argument(context, 0)? {
                Some(value) => cast(target, value).map(render).map_err(function_error),
                None => Ok(SqlValue::Null),
            },
        )?;
    }
    connection.create_scalar_function("pg_date_trunc", 2, flags, |context| {
        match (text_argument(context, 0), argument(context, 1)?) {
            (Some(field), Some(value)) => date_trunc(&field, value)
                .map(render)
                .map_err(function_error),
            _ => Ok(SqlValue::Null),
        }
    })?;
    connection.create_scalar_function("pg_extract", 2, flags, |context| {
        match (text_argument(context, 0), argument(context, 1)?) {
            (Some(field), Some(value)) => extract(&field, value)
                .map(|number| render(Temporal::Number(number)))
                .map_err(function_error),
            _ => Ok(SqlValue::Null),
        }
    })?;
    connection.create_scalar_function("pg_age", 2, flags, |context| {
        match (argument(context, 0)?, argument(context, 1)?) {
            (Some(left), Some(right)) => {
                let (left, right) = (
                    as_datetime(left).map_err(function_error)?,
                    as_datetime(right).map_err(function_error)?,
                );
                Ok(render(Temporal::Interval(age(left, right))))
            }
            _ => Ok(SqlValue::Null),
        }
    })?;
    connection.create_scalar_function("pg_at_time_zone", 2, flags, |context| {
        match (argument(context, 0)?, text_argument(context, 1)) {
            (Some(value), Some(zone)) => at_time_zone(value, &zone)
                .map(render)
                .map_err(function_error),
            _ => Ok(SqlValue::Null),
        }
    })?;
    Ok(())
}
