//! Settings: Postgres's run-time parameters as SQL reads and writes them —
//! `current_setting(name [, missing_ok])` and `set_config(name, value, is_local)` — over the
//! job's `Session`. A request sets PostgREST's `request.method`, `request.path`,
//! `request.headers` and `request.cookies` (`RequestSettings`, given with the job's `Subject`); `request.jwt.claims`,
//! the legacy `request.jwt.claim.<name>` and `role` answer the caller's claims.

use std::sync::{Arc, OnceLock};

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use serde_json::{Map, Value};

use super::functions::{Session, claim_value};
use crate::plpgsql::PgError;

/// The settings PostgREST sets at the start of a request's transaction. A job sees them through
/// its `Session` (`Subject::request`); the headers and cookies are put into JSON only when a
/// query first asks for them.
#[derive(Debug, Default)]
pub struct RequestSettings {
    /// `GET`, `POST`, …
    method: String,
    /// The path as PostgREST sees it (`/todos`, `/rpc/echo`): without the `/rest/v1` prefix.
    path: String,
    headers: axum::http::HeaderMap,
    /// `request.headers` and `request.cookies`, made from `headers` when first asked for.
    json: OnceLock<(String, String)>,
}

impl RequestSettings {
    /// The settings of a request with `method`, `path` and `headers`.
    pub fn new(method: &str, path: &str, headers: &axum::http::HeaderMap) -> Self {
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: headers.clone(),
            json: OnceLock::new(),
        }
    }

    /// The value of `request.method`, `request.path`, `request.headers` or `request.cookies`.
    pub fn setting(&self, name: &str) -> Option<&str> {
        match name {
            "request.method" => Some(&self.method),
            "request.path" => Some(&self.path),
            "request.headers" => Some(&self.json().0),
            "request.cookies" => Some(&self.json().1),
            _ => None,
        }
    }

    /// Header names (lowercase) to values, the `cookie` header left out; and cookie names to
    /// values; each as JSON.
    fn json(&self) -> &(String, String) {
        self.json.get_or_init(|| {
            let mut named = Map::new();
            let mut cookies = Map::new();
            for (name, value) in &self.headers {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                if name == axum::http::header::COOKIE {
                    for pair in value.split(';') {
                        if let Some((key, value)) = pair.split_once('=') {
                            cookies
                                .insert(key.trim().to_owned(), Value::String(value.trim().into()));
                        }
                    }
                    continue;
                }
                // A repeated header is joined as HTTP folds it.
                match named.get_mut(name.as_str()) {
                    Some(Value::String(first)) => {
                        first.push_str(", ");
                        first.push_str(&value);
                    }
                    _ => {
                        named.insert(name.as_str().to_owned(), Value::String(value));
                    }
                }
            }
            (
                Value::Object(named).to_string(),
                Value::Object(cookies).to_string(),
            )
        })
    }
}

/// Built-in parameters Solobase models, with the value a Supabase database answers.
const BUILT_IN: [(&str, &str); 2] = [("timezone", "UTC"), ("search_path", "\"$user\", public")];

/// Registers `current_setting` and `set_config` on a connection bound to `session`.
pub fn register(connection: &Connection, session: Arc<Session>) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8;
    for arity in [1, 2] {
        let session = session.clone();
        connection.create_scalar_function("current_setting", arity, flags, move |context| {
            let (Some(name), missing_ok) = (
                context.get::<Option<String>>(0)?,
                optional_flag(context, 1)?,
            ) else {
                return Ok(None);
            };
            // Postgres's two-argument form is strict: a NULL `missing_ok` answers NULL.
            if arity == 2 && missing_ok.is_none() {
                return Ok(None);
            }
            match current(&session, &name.to_lowercase()) {
                Some(value) => Ok(value),
                None if missing_ok == Some(true) => Ok(None),
                None => Err(unrecognized(&name)),
            }
        })?;
    }
    connection.create_scalar_function("set_config", 3, flags, move |context| {
        let Some(name) = context.get::<Option<String>>(0)? else {
            return Err(failure(PgError::new(
                "22004",
                "SET requires parameter name",
            )));
        };
        let value = context.get::<Option<String>>(1)?.unwrap_or_default();
        let lowered = name.to_lowercase();
        if matches!(lowered.as_str(), "role" | "request.jwt.claims")
            || lowered.starts_with("request.jwt.claim.")
            || BUILT_IN.iter().any(|(known, _)| *known == lowered)
        {
            return Err(failure(PgError {
                hint: Some(
                    "Solobase takes the role and claims from the request's token and runs in UTC"
                        .into(),
                ),
                ..PgError::new("0A000", format!("setting \"{name}\" is not supported"))
            }));
        }
        if !lowered.contains('.') {
            return Err(unrecognized(&name));
        }
        // A job is one transaction, so a session-wide setting lasts as long as a local one.
        session.set_setting(lowered, value.clone());
        Ok(value)
    })
}

/// The value of the parameter `name` (lowercase): `Some(None)` for a claim the token lacks,
/// `None` for a parameter that does not exist.
fn current(session: &Session, name: &str) -> Option<Option<String>> {
    let claims = session.claims();
    match name {
        "request.jwt.claims" => claims.map(|claims| Some(claims.to_string())),
        "role" => Some(Some(
            claim_value(claims.as_deref(), Some("role")).unwrap_or_else(|| "none".into()),
        )),
        _ => {
            if let Some(claim) = name.strip_prefix("request.jwt.claim.") {
                return claims
                    .is_some()
                    .then(|| claim_value(claims.as_deref(), Some(claim)));
            }
            if let Some((_, value)) = BUILT_IN.iter().find(|(known, _)| *known == name) {
                return Some(Some((*value).to_owned()));
            }
            session.setting(name).map(Some)
        }
    }
}

/// `missing_ok` (or `is_local`) at `index`, if the call has it: `None` when absent or NULL.
fn optional_flag(context: &Context, index: usize) -> rusqlite::Result<Option<bool>> {
    if index >= context.len() {
        return Ok(None);
    }
    context.get::<Option<bool>>(index)
}

fn unrecognized(name: &str) -> rusqlite::Error {
    failure(PgError::new(
        "42704",
        format!("unrecognized configuration parameter \"{name}\""),
    ))
}

fn failure(error: PgError) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Subject;
    use serde_json::json;

    fn connection() -> (Connection, Arc<Session>) {
        let connection = Connection::open_in_memory().unwrap();
        let session = Arc::new(Session::default());
        super::super::functions::register(&connection, session.clone()).unwrap();
        (connection, session)
    }

    fn answer(connection: &Connection, sql: &str) -> Result<Option<String>, PgError> {
        connection
            .query_row(sql, [], |row| row.get(0))
            .map_err(|error| PgError::from_sqlite(&error))
    }

    /// What PostgreSQL 15 answers on a fresh connection.
    #[test]
    fn missing_settings_answer_as_postgres() {
        let (connection, _) = connection();
        let code = |sql| answer(&connection, sql).unwrap_err().code;
        assert_eq!(code("select current_setting('request.headers')"), "42704");
        assert_eq!(code("select current_setting('nosuch')"), "42704");
        assert_eq!(code("select set_config('foo', 'x', false)"), "42704");
        assert_eq!(code("select set_config(null, 'x', false)"), "22004");
        for null in [
            "select current_setting('request.headers', true)",
            "select current_setting(null)",
            "select current_setting('TimeZone', null)",
            "select current_setting('request.jwt.claims', true)",
        ] {
            assert_eq!(answer(&connection, null).unwrap(), None, "{null}");
        }
        let known = |sql| answer(&connection, sql).unwrap().unwrap();
        assert_eq!(known("select current_setting('TimeZone')"), "UTC");
        assert_eq!(known("select current_setting('role')"), "none");
        assert_eq!(known("select set_config('a.b', null, true)"), "");
    }

    #[test]
    fn settings_last_for_one_job_and_names_ignore_case() {
        let (connection, session) = connection();
        session.begin(Some(Arc::new(
            json!({"role": "authenticated", "sub": "u-1"}),
        )));
        let known = |sql| answer(&connection, sql).unwrap().unwrap();
        assert_eq!(known("select set_config('App.Mode', 'on', false)"), "on");
        assert_eq!(known("select current_setting('app.mode')"), "on");
        assert_eq!(known("select current_setting('role')"), "authenticated");
        assert_eq!(
            known("select current_setting('request.jwt.claim.sub')"),
            "u-1"
        );
        assert_eq!(
            known("select current_setting('request.jwt.claims') ->> 'sub'"),
            "u-1"
        );
        let refused = answer(&connection, "select set_config('role', 'anon', true)").unwrap_err();
        assert_eq!(refused.code, "0A000");
        session.end();
        session.begin(None);
        assert_eq!(
            answer(&connection, "select current_setting('app.mode', true)").unwrap(),
            None
        );
    }

    #[test]
    fn a_request_sets_method_path_headers_and_cookies() {
        let (connection, session) = connection();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("X-Trace", "t-1".parse().unwrap());
        headers.append("accept", "a".parse().unwrap());
        headers.append("accept", "b".parse().unwrap());
        headers.insert("cookie", "theme=dark; lang=en".parse().unwrap());
        session.begin(Subject {
            claims: None,
            request: Some(Arc::new(RequestSettings::new("PATCH", "/todos", &headers))),
        });
        let known = |sql| answer(&connection, sql).unwrap().unwrap();
        assert_eq!(known("select current_setting('request.method')"), "PATCH");
        assert_eq!(known("select current_setting('request.path')"), "/todos");
        let headers: Value =
            serde_json::from_str(&known("select current_setting('request.headers')")).unwrap();
        assert_eq!(headers, json!({"x-trace": "t-1", "accept": "a, b"}));
        let cookies: Value =
            serde_json::from_str(&known("select current_setting('request.cookies')")).unwrap();
        assert_eq!(cookies, json!({"theme": "dark", "lang": "en"}));
        // What the job sets itself wins over the request's value, until the job ends.
        known("select set_config('request.path', '/other', true)");
        assert_eq!(known("select current_setting('request.path')"), "/other");
        session.end();
        assert_eq!(
            answer(&connection, "select current_setting('request.path')")
                .unwrap_err()
                .code,
            "42704"
        );
    }
}
