//! SQL functions that stand in for Postgres built-ins on SQLite: `gen_random_uuid()`,
//! `uuid_generate_v4()`, `pg_now()` (transaction-stable `now()`), the `auth.*()` helpers that
//! read the caller's claims (`auth_uid()`, `auth_role()`, `auth_email()`, `auth_jwt()`),
//! `regexp` for Postgres's `~`, the sequence functions (`store::sequence`), pgvector's distances
//! (`store::vector`), pgsql-http's `http()` (`store::http`) and Storage's
//! `storage.foldername()` family. Each connection gets its own `Session`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use serde_json::Value;

use super::pool::Subject;
use super::settings::RequestSettings;

/// How long a job may run, by the caller's role (`anon`, `authenticated`, …); shared by every
/// connection of a store. Roles without an entry, and the server's own jobs, run unlimited.
pub type StatementTimeouts = Arc<RwLock<HashMap<String, Duration>>>;

/// What the SQL functions of one connection know about the job running on it.
#[derive(Debug, Default)]
pub struct Session {
    state: Mutex<SessionState>,
    timeouts: StatementTimeouts,
    /// On the writer: the addresses this server answers on, which its jobs must not send
    /// requests to (`store::http`: the request would wait for the writer that waits for it).
    own_addresses: Option<super::http::OwnAddresses>,
}

#[derive(Debug, Default)]
struct SessionState {
    /// The caller's JWT claims; `None` outside a request (migrations, seed).
    claims: Option<Arc<Value>>,
    /// The REST request the job serves, for `current_setting('request.…')`.
    request: Option<Arc<RequestSettings>>,
    /// `now()` for the current job, fixed for its whole transaction.
    now: Option<String>,
    /// When the job's statement timeout expires.
    deadline: Option<Instant>,
    /// When a job run on an async worker must give the thread back (`Session::limit`), and
    /// whether it was stopped for that.
    yield_at: Option<Instant>,
    overran: bool,
    /// Parameters the job set with `set_config` (names lowercase), see `settings`.
    settings: HashMap<String, String>,
    /// What `nextval`/`setval` gave each sequence in this job (`currval`), and the last
    /// `nextval` of any (`lastval`).
    drawn: HashMap<String, i64>,
    last_drawn: Option<i64>,
    /// Where this job left each sequence it moved (`last_value`, `is_called`).
    moved: HashMap<String, (i64, bool)>,
}

impl Session {
    /// A session whose jobs are bounded by `timeouts`.
    pub fn new(timeouts: StatementTimeouts) -> Self {
        Self {
            state: Mutex::default(),
            timeouts,
            own_addresses: None,
        }
    }

    /// A writer's session: its jobs may not call the server at `addresses`.
    pub fn writing(timeouts: StatementTimeouts, addresses: super::http::OwnAddresses) -> Self {
        Self {
            own_addresses: Some(addresses),
            ..Self::new(timeouts)
        }
    }

    /// The addresses of this server, on the writer's session.
    pub(super) fn own_addresses(&self) -> Option<&super::http::OwnAddresses> {
        self.own_addresses.as_ref()
    }

    /// Starts a job: sets who calls, freezes `now()` and starts the role's statement timeout.
    pub fn begin(&self, subject: impl Into<Subject>) {
        let Subject { claims, request } = subject.into();
        let role = claims
            .as_deref()
            .and_then(|claims| claims.get("role"))
            .and_then(Value::as_str);
        let timeout = role.and_then(|role| {
            let timeouts = self.timeouts.read().unwrap_or_else(PoisonError::into_inner);
            timeouts.get(role).copied()
        });
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.claims = claims;
        state.request = request;
        state.now = Some(timestamp_now());
        state.settings.clear();
        state.deadline = timeout.map(|timeout| Instant::now() + timeout);
    }

    /// Stops the running job once it has run for `budget`, as if interrupted, and records that
    /// it `overran` (the store then runs it again where it may take its time).
    pub fn limit(&self, budget: Duration) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.yield_at = Some(Instant::now() + budget);
        state.overran = false;
    }

    /// Whether the running job runs under the budget `limit` gave it; if so it is stopped at
    /// once, as if it had overrun, so the store runs it again where it may block (on a blocking
    /// thread): a call that waits, such as an HTTP request, must not hold an async worker, nor
    /// be made twice.
    pub(super) fn hand_off(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.yield_at.is_none() {
            return false;
        }
        state.overran = true;
        true
    }

    /// How long the running job has left before its statement timeout, if it has one.
    pub(super) fn remaining(&self) -> Option<Duration> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// Whether the running job was stopped because it outran the budget `limit` gave it.
    pub fn overran(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .overran
    }

    /// Whether the running job has outlived its statement timeout, or its budget.
    pub fn expired(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if state.yield_at.is_some_and(|yield_at| now >= yield_at) {
            state.overran = true;
            return true;
        }
        state.deadline.is_some_and(|deadline| now >= deadline)
    }

    /// Ends a job: forgets the caller so nothing leaks to the next job on this connection.
    pub fn end(&self) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = SessionState::default();
    }

    /// Records that `nextval` or `setval` left sequence `name` at `last_value`/`is_called`;
    /// `currval` reports the value when it was drawn (`drawn`), `lastval` when by `nextval`.
    pub(super) fn moved(&self, name: &str, last_value: i64, is_called: bool, by_nextval: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.moved.insert(name.to_owned(), (last_value, is_called));
        if is_called {
            state.drawn.insert(name.to_owned(), last_value);
        }
        if by_nextval {
            state.last_drawn = Some(last_value);
        }
    }

    /// The sequences this job moved, with where it left them.
    pub(super) fn moved_sequences(&self) -> Vec<(String, (i64, bool))> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .moved
            .iter()
            .map(|(name, moved)| (name.clone(), *moved))
            .collect()
    }

    /// `currval(name)`: the value sequence `name` last gave in this job.
    pub(super) fn current(&self, name: &str) -> Option<i64> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.drawn.get(name).copied()
    }

    /// `lastval()`: the value the last `nextval` of this job returned.
    pub(super) fn last_drawn(&self) -> Option<i64> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_drawn
    }

    fn now(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .now
            .clone()
    }

    /// The parameter `name` as the running job set it with `set_config`, else as its request
    /// has it (`request.method`, …).
    pub(super) fn setting(&self, name: &str) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.settings.get(name).cloned().or_else(|| {
            let request = state.request.as_deref()?;
            request.setting(name).map(str::to_owned)
        })
    }

    /// Sets the parameter `name` until the running job ends.
    pub(super) fn set_setting(&self, name: String, value: String) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.settings.insert(name, value);
    }

    /// The role of the job's caller; `None` for the server's own jobs.
    pub fn role(&self) -> Option<String> {
        let claims = self.claims()?;
        claims.get("role")?.as_str().map(str::to_owned)
    }

    pub(super) fn claims(&self) -> Option<Arc<Value>> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .claims
            .clone()
    }
}

/// The column an invoker body's write returns its rows' `with check` in (`rls_check`); the
/// plpgsql runtime drops it from what the statement returns.
pub const CHECK_COLUMN: &str = "pg_rls_check";

/// How Postgres starts the message of a row a policy's `with check` refuses.
pub const RLS_VIOLATION: &str = "new row violates row-level security policy for table";

/// The stand-ins that read the caller's claims, each with the claim it answers (`None`: the
/// whole set, as JSON).
pub const CLAIM_FUNCTIONS: [(&str, Option<&str>); 4] = [
    ("auth_uid", Some("sub")),
    ("auth_role", Some("role")),
    ("auth_email", Some("email")),
    ("auth_jwt", None),
];

/// What the claim stand-in answering `claim` returns for `claims`: a string claim as its text,
/// a missing or null one as NULL, any other value as its JSON.
pub fn claim_value(claims: Option<&Value>, claim: Option<&str>) -> Option<String> {
    let claims = claims?;
    let Some(name) = claim else {
        return Some(claims.to_string());
    };
    match claims.get(name)? {
        Value::String(text) => Some(text.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The current time as Postgres renders a `timestamptz` in UTC (trailing fraction zeros dropped).
pub fn timestamp_now() -> String {
    format_timestamptz(jiff::Timestamp::now())
}

/// Renders an instant as Postgres's JSON output for `timestamptz` with TimeZone=UTC:
/// `2024-01-01T12:00:00.123456+00:00`, microsecond precision, trailing zeros dropped.
/// This text sorts chronologically, which lets SQLite compare timestamps as text.
pub fn format_timestamptz(instant: jiff::Timestamp) -> String {
    let micros = instant.as_microsecond();
    let instant = jiff::Timestamp::from_microsecond(micros).unwrap_or(instant);
    let text = instant.strftime("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}+00:00")
}

/// Registers the stand-in functions on a connection, bound to its session.
pub fn register(connection: &Connection, session: Arc<Session>) -> rusqlite::Result<()> {
    let volatile = FunctionFlags::SQLITE_UTF8;
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    super::datetime::register(connection)?;
    super::sequence::register(connection, session.clone())?;
    super::http::register(connection, session.clone())?;

    // Postgres's math functions on doubles (the bundled SQLite has none of its own).
    type Unary = fn(f64) -> f64;
    for (name, function) in [
        ("ln", f64::ln as Unary),
        ("exp", f64::exp),
        ("sqrt", f64::sqrt),
        ("floor", f64::floor),
        ("ceil", f64::ceil),
        ("ceiling", f64::ceil),
        ("trunc", f64::trunc),
        ("log10", f64::log10),
        ("sign", f64::signum),
    ] {
        connection.create_scalar_function(name, 1, pure, move |context| {
            Ok(context.get::<Option<f64>>(0)?.map(|value| {
                if value == 0.0 && name == "sign" {
                    0.0
                } else {
                    function(value)
                }
            }))
        })?;
    }
    type Binary = fn(f64, f64) -> f64;
    for (name, function) in [
        ("power", f64::powf as Binary),
        ("log", |base: f64, value: f64| value.log(base)),
        ("mod", |a: f64, b: f64| a % b),
    ] {
        connection.create_scalar_function(name, 2, pure, move |context| {
            match (
                context.get::<Option<f64>>(0)?,
                context.get::<Option<f64>>(1)?,
            ) {
                (Some(a), Some(b)) => Ok(Some(function(a, b))),
                _ => Ok(None),
            }
        })?;
    }
    connection.create_scalar_function("pi", 0, pure, |_| Ok(std::f64::consts::PI))?;

    // `x::tsvector`, `x::int4range`, …: the value as Postgres prints that type (22P02 if invalid).
    connection.create_scalar_function("pg_printed", 2, pure, |context| {
        let (Some(text), Some(name)) = (
            context.get::<Option<String>>(0)?,
            context.get::<Option<String>>(1)?,
        ) else {
            return Ok(None);
        };
        let printed = crate::schema::PrintedType::named(&name).ok_or_else(|| {
            rusqlite::Error::UserFunctionError(format!("pg_printed: unknown type {name}").into())
        })?;
        crate::migrate::printed::normalize(printed, &text)
            .map(Some)
            .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
    })?;

    // Postgres's split_part (a negative field counts from the end), left and right.
    connection.create_scalar_function("split_part", 3, pure, |context| {
        let (Some(text), Some(delimiter), Some(field)) = (
            context.get::<Option<String>>(0)?,
            context.get::<Option<String>>(1)?,
            context.get::<Option<i64>>(2)?,
        ) else {
            return Ok(None);
        };
        if field == 0 {
            return Err(rusqlite::Error::UserFunctionError(
                "field position must not be zero".into(),
            ));
        }
        let parts: Vec<&str> = if delimiter.is_empty() {
            vec![text.as_str()]
        } else {
            text.split(delimiter.as_str()).collect()
        };
        let index = if field > 0 {
            field - 1
        } else {
            parts.len() as i64 + field
        };
        Ok(Some(
            usize::try_from(index)
                .ok()
                .and_then(|index| parts.get(index))
                .map_or(String::new(), |part| (*part).to_owned()),
        ))
    })?;
    for (name, from_left) in [("pg_left", true), ("pg_right", false)] {
        connection.create_scalar_function(name, 2, pure, move |context| {
            let (Some(text), Some(count)) = (
                context.get::<Option<String>>(0)?,
                context.get::<Option<i64>>(1)?,
            ) else {
                return Ok(None);
            };
            let chars: Vec<char> = text.chars().collect();
            let length = chars.len() as i64;
            let keep = if count >= 0 {
                count.min(length)
            } else {
                (length + count).max(0)
            } as usize;
            Ok(Some(if from_left {
                chars[..keep].iter().collect::<String>()
            } else {
                chars[chars.len() - keep..].iter().collect::<String>()
            }))
        })?;
    }

    for name in ["gen_random_uuid", "uuid_generate_v4"] {
        connection
            .create_scalar_function(name, 0, volatile, |_| Ok(uuid::Uuid::new_v4().to_string()))?;
    }

    // Fails the statement when a row written by a `security invoker` function fails the
    // `with check` of its table's policies (the function's RETURNING calls it per row).
    connection.create_scalar_function("rls_check", 2, pure, |context| {
        let passed: Option<i64> = context.get(0)?;
        if passed.unwrap_or(0) != 0 {
            return Ok(1);
        }
        let table: String = context.get(1)?;
        Err(rusqlite::Error::UserFunctionError(Box::new(
            crate::plpgsql::PgError::new("42501", format!("{RLS_VIOLATION} \"{table}\"")),
        )))
    })?;

    let now_session = session.clone();
    connection.create_scalar_function("pg_now", 0, volatile, move |_| {
        Ok(now_session.now().unwrap_or_else(timestamp_now))
    })?;

    for (name, claim) in CLAIM_FUNCTIONS {
        let claim_session = session.clone();
        connection.create_scalar_function(name, 0, volatile, move |_| {
            Ok(claim_value(claim_session.claims().as_deref(), claim))
        })?;
    }

    // pgcrypto's crypt(password, gen_salt('bf')), as Supabase seeds use it: a bcrypt hash.
    connection.create_scalar_function("gen_salt", -1, volatile, |_| Ok("bf"))?;
    connection.create_scalar_function("crypt", 2, volatile, |context| {
        let password: String = context.get(0)?;
        let salt: String = context.get(1)?;
        if salt.starts_with("$2") {
            // crypt(password, stored_hash) = stored_hash checks a password, as in Postgres.
            let matches = bcrypt::verify(&password, &salt).unwrap_or(false);
            return Ok(if matches { salt } else { String::new() });
        }
        bcrypt::hash(password, bcrypt::DEFAULT_COST)
            .map(|hash| hash.replacen("$2b$", "$2a$", 1))
            .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
    })?;

    connection.create_scalar_function("pg_json_contains", 2, pure, |context| {
        let parse = |index: usize| -> rusqlite::Result<Option<Value>> {
            let text: Option<String> = context.get(index)?;
            text.map(|text| {
                serde_json::from_str(&text)
                    .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
            })
            .transpose()
        };
        match (parse(0)?, parse(1)?) {
            (Some(container), Some(contained)) => Ok(Some(json_contains(&container, &contained))),
            _ => Ok(None),
        }
    })?;

    // Postgres's LIKE (case-sensitive) and ILIKE (Unicode case-insensitive), `\\` escaping.
    for (name, case_insensitive) in [("pg_like", false), ("pg_ilike", true)] {
        connection.create_scalar_function(name, 2, pure, move |context| {
            let pattern = context.get_or_create_aux(1, |value| {
                like_regex(value.as_str()?, case_insensitive)
                    .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
            })?;
            let Some(text) = context.get::<Option<String>>(0)? else {
                return Ok(None);
            };
            Ok(Some(pattern.is_match(&text)))
        })?;
    }

    connection.create_scalar_function("regexp", 2, pure, |context| {
        let pattern = context.get_or_create_aux(0, |value| {
            regex::Regex::new(value.as_str()?)
                .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
        })?;
        let Some(text) = context.get::<Option<String>>(1)? else {
            return Ok(None);
        };
        Ok(Some(pattern.is_match(&text)))
    })?;
    super::settings::register(connection, session.clone())?;
    super::vector::register(connection)?;
    super::text::register(connection)?;
    super::numeric::register(connection)?;
    super::geometry::functions::register(connection)?;
    super::range::register(connection)?;
    crate::storage::functions::register(connection)?;
    crate::realtime::send::register(connection)?;
    // The project's functions and triggers, run by the plpgsql interpreter.
    crate::plpgsql::register(connection, session)
}

/// A LIKE pattern (`%` any run, `_` one character, `\\` escapes) as an anchored regex.
pub fn like_regex(pattern: &str, case_insensitive: bool) -> Result<regex::Regex, regex::Error> {
    let mut source = String::from(if case_insensitive { "(?is)^" } else { "(?s)^" });
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => source.push_str(".*"),
            '_' => source.push('.'),
            '\\' => {
                if let Some(escaped) = chars.next() {
                    source.push_str(&regex::escape(&escaped.to_string()));
                }
            }
            other => source.push_str(&regex::escape(&other.to_string())),
        }
    }
    source.push('$');
    regex::Regex::new(&source)
}

/// Postgres's jsonb `@>`: objects contain sub-objects, arrays contain each element.
pub fn json_contains(container: &Value, contained: &Value) -> bool {
    match (container, contained) {
        (Value::Object(outer), Value::Object(inner)) => inner.iter().all(|(key, value)| {
            outer
                .get(key)
                .is_some_and(|candidate| json_contains(candidate, value))
        }),
        (Value::Array(outer), Value::Array(inner)) => inner.iter().all(|value| {
            outer
                .iter()
                .any(|candidate| json_contains(candidate, value))
        }),
        (Value::Array(outer), scalar) => outer.iter().any(|candidate| candidate == scalar),
        (left, right) => left == right,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connection() -> (Connection, Arc<Session>) {
        let connection = Connection::open_in_memory().unwrap();
        let session = Arc::new(Session::default());
        register(&connection, session.clone()).unwrap();
        (connection, session)
    }

    fn text(connection: &Connection, sql: &str) -> Option<String> {
        connection.query_row(sql, [], |row| row.get(0)).unwrap()
    }

    #[test]
    fn auth_functions_read_the_current_callers_claims_and_forget_them() {
        let (connection, session) = connection();
        assert_eq!(text(&connection, "select auth_uid()"), None);
        session.begin(Some(Arc::new(
            json!({"sub": "u-1", "role": "authenticated"}),
        )));
        assert_eq!(
            text(&connection, "select auth_uid()").as_deref(),
            Some("u-1")
        );
        assert_eq!(
            text(&connection, "select auth_role()").as_deref(),
            Some("authenticated")
        );
        assert_eq!(
            text(&connection, "select auth_jwt() ->> 'role'").as_deref(),
            Some("authenticated")
        );
        session.end();
        assert_eq!(text(&connection, "select auth_uid()"), None);
    }

    #[test]
    fn now_is_stable_within_a_job() {
        let (connection, session) = connection();
        session.begin(None);
        let first = text(&connection, "select pg_now()");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(first, text(&connection, "select pg_now()"));
    }

    #[test]
    fn timestamps_render_like_postgres_and_drop_trailing_zeros() {
        let at = |text: &str| format_timestamptz(text.parse().unwrap());
        assert_eq!(at("2024-01-01T12:00:00Z"), "2024-01-01T12:00:00+00:00");
        assert_eq!(
            at("2024-01-01T12:00:00.1234567Z"),
            "2024-01-01T12:00:00.123456+00:00"
        );
        assert_eq!(
            at("2024-01-01T14:00:00.5+02:00"),
            "2024-01-01T12:00:00.5+00:00"
        );
    }

    #[test]
    fn json_containment_follows_postgres() {
        use serde_json::json;
        assert!(json_contains(
            &json!({"a": 1, "b": {"c": 2}}),
            &json!({"b": {"c": 2}})
        ));
        assert!(!json_contains(&json!({"a": 1}), &json!({"a": 2})));
        assert!(json_contains(&json!(["x", "y", "z"]), &json!(["z", "x"])));
        assert!(!json_contains(&json!(["x"]), &json!(["x", "q"])));
    }

    #[test]
    fn like_is_case_sensitive_and_ilike_folds_unicode() {
        let (connection, _) = connection();
        let matches =
            |sql: &str| -> bool { connection.query_row(sql, [], |row| row.get(0)).unwrap() };
        assert!(matches("select pg_like('Hello', 'H%o')"));
        assert!(!matches("select pg_like('hello', 'H%')"));
        assert!(matches("select pg_ilike('ÉCOLE', 'éc_le')"));
        assert!(matches("select pg_like('100%', '100\\%')"));
        assert!(!matches("select pg_like('1000', '100\\%')"));
    }

    #[test]
    fn uuids_are_distinct_and_regexp_matches() {
        let (connection, _) = connection();
        assert_ne!(
            text(&connection, "select gen_random_uuid()"),
            text(&connection, "select gen_random_uuid()")
        );
        let matched: bool = connection
            .query_row("select 'abc' regexp '^a.c$'", [], |row| row.get(0))
            .unwrap();
        assert!(matched);
    }
}
