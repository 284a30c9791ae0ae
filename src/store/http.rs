//! Http: pgsql-http's native functions as SQL functions, for what `migrate::http` translates.
//! `pg_http(request)` performs the `http_request` (a JSON object of its fields) with ureq, as
//! the extension performs it with curl — its errors (`http_request.uri is NULL`, curl's
//! `Could not resolve host: …`, `Operation timed out after … milliseconds with … bytes
//! received`) are XX000 — and answers the `http_response` as a JSON object (header names in
//! lower case, as HTTP/2 sends them). The time limit is
//! `http.timeout_msec` (or `http.curlopt_timeout_ms`, 5000 by default, 0 for none), and 1000 ms
//! to connect (`http.curlopt_connecttimeout_ms`), within the job's statement timeout. A job on
//! the writer cannot call this server itself: the request would wait for the writer, which waits
//! for it; it fails at once instead. `pg_urlencode` and `pg_urlencode_jsonb` are `urlencode()`.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use serde_json::{Map, Value, json};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::functions::Session;
use crate::plpgsql::PgError;

/// The addresses a server listens on (`Store::serving`); shared with its writer's session.
pub type OwnAddresses = Arc<RwLock<Vec<SocketAddr>>>;

/// SQLite's subtype of a JSON value, which makes it nest as JSON in `json_object` and friends.
const JSON_SUBTYPE: u32 = b'J' as u32;

/// What pgsql-http sends as its user agent by default: the server's version.
const USER_AGENT: &str = "PostgreSQL 15 (Solobase)";

/// The most redirects followed, as pgsql-http tells curl.
const MAX_REDIRECTS: u32 = 5;

/// The most bytes of a response body kept: Postgres's largest text value.
const MAX_CONTENT: u64 = 1 << 30;

/// Registers `pg_http`, `pg_urlencode` and `pg_urlencode_jsonb` on a connection bound to
/// `session`.
pub fn register(connection: &Connection, session: Arc<Session>) -> rusqlite::Result<()> {
    let agent = OnceLock::new();
    connection.create_scalar_function(
        "pg_http",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_RESULT_SUBTYPE,
        move |context| {
            let Some(request) = context.get::<Option<String>>(0)? else {
                return Err(failure(internal("An http_request must be provided")));
            };
            // A read trying its luck on an async worker goes to a blocking thread first.
            if session.hand_off() {
                return Err(failure(PgError::new(
                    "57014",
                    "canceling statement due to statement timeout",
                )));
            }
            let request: Value = serde_json::from_str(&request)
                .map_err(|_| failure(internal("malformed record literal for http_request")))?;
            let agent = agent.get_or_init(|| new_agent(session.own_addresses().cloned()));
            let response = perform(agent, &session, &request).map_err(failure)?;
            Ok((response.to_string(), Some(JSON_SUBTYPE)))
        },
    )?;
    let pure = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_SUBTYPE;
    connection.create_scalar_function("pg_urlencode", 1, pure, |context| {
        let Some(text) = context.get::<Option<String>>(0)? else {
            return Ok(None);
        };
        // A json value (`json(…)`, `json_object(…)`) takes the jsonb overload.
        if context.get_subtype(0) == JSON_SUBTYPE {
            return urlencode_json(&text).map_err(failure);
        }
        Ok(Some(urlencode(&text)))
    })?;
    connection.create_scalar_function("pg_urlencode_jsonb", 1, pure, |context| {
        match context.get::<Option<String>>(0)? {
            Some(text) => urlencode_json(&text).map_err(failure),
            None => Ok(None),
        }
    })
}

/// pgsql-http's `urlencode(text)`: unreserved characters kept, a space as `+`, every other
/// byte as `%XX`; the text ends at a NUL.
pub fn urlencode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes().take_while(|byte| *byte != 0) {
        match byte {
            b' ' => encoded.push('+'),
            b'-' | b'.' | b'_' | b'~' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => {
                encoded.push(char::from(byte))
            }
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

/// pgsql-http's `urlencode(jsonb)`: the object's scalar members as `key=value&…`, in jsonb's
/// key order (shorter keys first), empty keys and nested values left out; NULL when none is
/// left.
fn urlencode_json(text: &str) -> Result<Option<String>, PgError> {
    let value: Value = serde_json::from_str(text).map_err(|_| {
        PgError::new(
            "22P02",
            format!("invalid input syntax for type json: \"{text}\""),
        )
    })?;
    let Value::Object(object) = value else {
        return Err(PgError::new(
            "22023",
            "cannot call urlencode_jsonb on a non-object",
        ));
    };
    let mut keys: Vec<&String> = object.keys().filter(|key| !key.is_empty()).collect();
    keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    let pairs: Vec<String> = keys
        .into_iter()
        .filter_map(|key| {
            let value = match &object[key] {
                Value::String(text) => text.clone(),
                Value::Number(number) => number_text(number),
                Value::Bool(flag) => flag.to_string(),
                Value::Null => String::new(),
                Value::Array(_) | Value::Object(_) => return None,
            };
            Some(format!("{}={}", urlencode(key), urlencode(&value)))
        })
        .collect();
    Ok((!pairs.is_empty()).then(|| pairs.join("&")))
}

/// A JSON number as Postgres's numeric prints it normalized (`1.50` → `1.5`, `1e2` → `100`).
fn number_text(number: &serde_json::Number) -> String {
    match number.as_f64() {
        Some(float) if number.is_f64() && float.fract() == 0.0 && float.abs() < 1e15 => {
            format!("{float:.0}")
        }
        _ => number.to_string(),
    }
}

/// The request's methods, as pgsql-http tells them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
    Head,
    Patch,
    /// Any other, sent as written.
    Other(String),
}

impl Method {
    fn parse(text: &str) -> Self {
        match text.to_ascii_uppercase().as_str() {
            "GET" => Self::Get,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "DELETE" => Self::Delete,
            "HEAD" => Self::Head,
            "PATCH" => Self::Patch,
            _ => Self::Other(text.to_owned()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
            Self::Patch => "PATCH",
            Self::Other(text) => text,
        }
    }
}

/// The limits of one request, from the job's settings.
struct Limits {
    /// The whole exchange; `None` for none.
    total: Option<Duration>,
    /// Whether the job's statement timeout, not `http.timeout_msec`, sets `total`.
    statement: bool,
    connect: Duration,
    user_agent: String,
}

impl Limits {
    fn of(session: &Session) -> Result<Self, PgError> {
        let milliseconds = |names: &[&str], option: &str, default: u64| {
            let Some(text) = names.iter().find_map(|name| session.setting(name)) else {
                return Ok(default);
            };
            if text.trim().is_empty() {
                return Ok(default);
            }
            text.trim()
                .parse::<u64>()
                .map_err(|_| internal(format!("invalid integer provided for '{option}'")))
        };
        let total = milliseconds(
            &["http.curlopt_timeout_ms", "http.timeout_msec"],
            "CURLOPT_TIMEOUT_MS",
            5000,
        )?;
        let connect = milliseconds(
            &["http.curlopt_connecttimeout_ms"],
            "CURLOPT_CONNECTTIMEOUT_MS",
            1000,
        )?;
        // curl reads 0 as no limit.
        let own = (total > 0).then(|| Duration::from_millis(total));
        let remaining = session.remaining();
        let statement = match (own, remaining) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(own), Some(remaining)) => remaining < own,
        };
        Ok(Self {
            total: if statement { remaining } else { own },
            statement,
            connect: Duration::from_millis(if connect == 0 { 300_000 } else { connect }),
            user_agent: session
                .setting("http.curlopt_useragent")
                .unwrap_or_else(|| USER_AGENT.to_owned()),
        })
    }
}

/// Performs `request` (an `http_request` as JSON) and answers its `http_response`.
fn perform(agent: &ureq::Agent, session: &Session, request: &Value) -> Result<Value, PgError> {
    let field = |name: &str| request.get(name).and_then(text);
    let uri = field("uri").ok_or_else(|| internal("http_request.uri is NULL"))?;
    let method =
        Method::parse(&field("method").ok_or_else(|| internal("http_request.method is NULL"))?);
    let parsed: ureq::http::Uri = uri
        .parse()
        .map_err(|_| internal("URL using bad/illegal format or missing URL"))?;
    match parsed.scheme_str() {
        Some(scheme)
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {}
        Some(scheme) => {
            return Err(internal(format!(
                "Protocol \"{scheme}\" not supported or disabled in libcurl"
            )));
        }
        None => return Err(internal("URL using bad/illegal format or missing URL")),
    }
    let mut builder = ureq::http::Request::builder()
        .method(method.as_str())
        .uri(parsed.clone());
    for header in request
        .get("headers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = header.get("field").and_then(text) else {
            continue;
        };
        if name.is_empty() || name.to_ascii_lowercase().starts_with("content-type") {
            tracing::info!("NOTICE: 'Content-Type' is not supported as an optional header");
            continue;
        }
        let value = header.get("value").and_then(text).unwrap_or_default();
        builder = builder.header(name.as_str(), value.as_str());
    }
    let content = field("content");
    match (&content, &method) {
        (Some(_), _) => {
            let content_type = field("content_type")
                .ok_or_else(|| internal("http_request.content_type is NULL"))?;
            if method == Method::Head {
                return Err(internal("illegal HTTP method"));
            }
            builder = builder.header("content-type", content_type.as_str());
        }
        (None, Method::Put | Method::Post) => {
            return Err(internal("http_request.content is NULL"));
        }
        (None, _) => {}
    }
    let limits = Limits::of(session)?;
    let started = Instant::now();
    let mut received = 0;
    let outcome = match content {
        Some(content) => builder
            .body(content.into_bytes())
            .map_err(ureq::Error::from)
            .and_then(|request| exchange(agent, request, &method, &limits)),
        None => builder
            .body(())
            .map_err(ureq::Error::from)
            .and_then(|request| exchange(agent, request, &method, &limits)),
    }
    .and_then(|response| read(response, &mut received));
    outcome.map_err(|error| describe(&error, &parsed, &limits, started.elapsed(), received))
}

/// Sends `request` under `limits`; redirects are followed (not for HEAD), as curl follows them.
fn exchange<B: ureq::AsSendBody>(
    agent: &ureq::Agent,
    request: ureq::http::Request<B>,
    method: &Method,
    limits: &Limits,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    let request = agent
        .configure_request(request)
        .timeout_global(limits.total)
        .timeout_connect(Some(limits.connect))
        .max_redirects(if *method == Method::Head {
            0
        } else {
            MAX_REDIRECTS
        })
        .user_agent(limits.user_agent.as_str())
        .build();
    agent.run(request)
}

/// The `http_response` of `response`: its status, content type, headers and content (the
/// body as text, from its charset; NULL when empty). `received` counts the body's bytes.
fn read(
    response: ureq::http::Response<ureq::Body>,
    received: &mut usize,
) -> Result<Value, ureq::Error> {
    let (parts, body) = response.into_parts();
    let content_type = parts
        .headers
        .get("content-type")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let headers: Vec<Value> = parts
        .headers
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| {
            json!({"field": name.as_str(), "value": String::from_utf8_lossy(value.as_bytes())})
        })
        .collect();
    let mut reader = body.into_with_config().limit(MAX_CONTENT).reader();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(count) => {
                bytes.extend_from_slice(&chunk[..count]);
                *received = bytes.len();
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(ureq::Error::from(error)),
        }
    }
    let content = (!bytes.is_empty()).then(|| decode(&bytes, content_type.as_deref()));
    let mut object = Map::new();
    object.insert("status".into(), parts.status.as_u16().into());
    object.insert("content_type".into(), content_type.into());
    object.insert(
        "headers".into(),
        if headers.is_empty() {
            Value::Null
        } else {
            Value::Array(headers)
        },
    );
    object.insert("content".into(), content.into());
    Ok(Value::Object(object))
}

/// A body as text: Latin-1 when its content type says so, else UTF-8.
fn decode(bytes: &[u8], content_type: Option<&str>) -> String {
    let charset = content_type.and_then(|content_type| {
        content_type.split(';').find_map(|parameter| {
            let (name, value) = parameter.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| value.trim().trim_matches('"').to_ascii_lowercase())
        })
    });
    match charset.as_deref() {
        Some("iso-8859-1" | "latin1" | "latin-1" | "iso8859-1") => {
            bytes.iter().map(|byte| char::from(*byte)).collect()
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A failed request as pgsql-http reports it: curl's message, XX000; the job's statement
/// timeout as Postgres cancels a statement.
fn describe(
    error: &ureq::Error,
    uri: &ureq::http::Uri,
    limits: &Limits,
    elapsed: Duration,
    received: usize,
) -> PgError {
    let host = uri.host().unwrap_or_default();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let milliseconds = elapsed.as_millis();
    let cause = match error {
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            .unwrap_or(error),
        other => other,
    };
    if let ureq::Error::Other(inner) = cause
        && let Some(own) = inner.downcast_ref::<OwnAddress>()
    {
        return PgError {
            hint: Some(
                "Call this server's API from the client once the write has committed.".into(),
            ),
            ..PgError::new(
                "0A000",
                format!(
                    "http() cannot send a request to this server ({}) from a write: it would wait for the write that sends it",
                    own.0
                ),
            )
        };
    }
    let message = match cause {
        ureq::Error::Timeout(_) if limits.statement => {
            return PgError::new("57014", "canceling statement due to statement timeout");
        }
        ureq::Error::Timeout(ureq::Timeout::Connect) => {
            format!("Connection timed out after {milliseconds} milliseconds")
        }
        ureq::Error::Timeout(ureq::Timeout::Resolve) => {
            format!("Resolving timed out after {milliseconds} milliseconds")
        }
        ureq::Error::Timeout(_) => format!(
            "Operation timed out after {milliseconds} milliseconds with {received} bytes received"
        ),
        ureq::Error::HostNotFound => format!("Could not resolve host: {host}"),
        ureq::Error::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::AddrNotAvailable
            ) =>
        {
            format!(
                "Failed to connect to {host} port {port} after {milliseconds} ms: Couldn't connect to server"
            )
        }
        ureq::Error::ConnectionFailed => format!(
            "Failed to connect to {host} port {port} after {milliseconds} ms: Couldn't connect to server"
        ),
        ureq::Error::TooManyRedirects => format!("Maximum ({MAX_REDIRECTS}) redirects followed"),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionReset => {
            "Recv failure: Connection reset by peer".into()
        }
        other => other.to_string(),
    };
    internal(message)
}

/// A field's value as the text of a `varchar`: a JSON value nested in the object (json cast
/// to text keeps SQLite's JSON subtype) is its JSON text.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// An error raised as pgsql-http raises it (`elog(ERROR, …)`: internal_error).
fn internal(message: impl Into<String>) -> PgError {
    PgError::new("XX000", message)
}

fn failure(error: PgError) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(error))
}

/// The agent of one connection: its resolver refuses this server's own addresses when
/// `own` names them (the writer's).
fn new_agent(own: Option<OwnAddresses>) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects_will_error(true)
        .allow_non_standard_methods(true)
        .max_idle_connections(0)
        .build();
    ureq::Agent::with_parts(config, DefaultConnector::default(), Guard { own })
}

/// Resolves as ureq does, refusing an address this server listens on (every hop of a redirect
/// is resolved here too).
#[derive(Debug)]
struct Guard {
    own: Option<OwnAddresses>,
}

impl Resolver for Guard {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addresses = DefaultResolver::default().resolve(uri, config, timeout)?;
        if let Some(own) = &self.own {
            let listening = own.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(found) = addresses
                .iter()
                .find(|address| listening.iter().any(|own| reaches(address, own)))
            {
                return Err(ureq::Error::Other(Box::new(OwnAddress(*found))));
            }
        }
        Ok(addresses)
    }
}

/// A request to an address of this server.
#[derive(Debug)]
struct OwnAddress(SocketAddr);

impl std::fmt::Display for OwnAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is this server's own address", self.0)
    }
}

impl std::error::Error for OwnAddress {}

/// Whether connecting to `target` reaches the listener bound to `listener`.
fn reaches(target: &SocketAddr, listener: &SocketAddr) -> bool {
    if target.port() != listener.port() {
        return false;
    }
    // Connecting to 0.0.0.0 (or ::) connects to this host.
    let ip = match target.ip().to_canonical() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let bound = listener.ip().to_canonical();
    ip == bound || (bound.is_unspecified() && is_local(ip))
}

/// Whether `ip` is one of this host's addresses (one a socket can be bound to).
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || UdpSocket::bind((ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencode_keeps_unreserved_characters_and_encodes_the_rest() {
        assert_eq!(urlencode("a b&c=d/é~_.-"), "a+b%26c%3Dd%2F%C3%A9~_.-");
        assert_eq!(urlencode(""), "");
        assert_eq!(urlencode("before\0after"), "before");
    }

    #[test]
    fn urlencode_of_an_object_joins_its_scalar_members_in_jsonb_order() {
        assert_eq!(
            urlencode_json(
                r#"{"zz": "a b", "a": 1.50, "nested": {"x": 1}, "": 3, "b": true, "c": null}"#
            )
            .unwrap()
            .unwrap(),
            "a=1.5&b=true&c=&zz=a+b"
        );
        assert_eq!(urlencode_json("{}").unwrap(), None);
        assert_eq!(urlencode_json(r#"{"n": 1e2}"#).unwrap().unwrap(), "n=100");
        let error = urlencode_json("[1]").unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("22023", "cannot call urlencode_jsonb on a non-object")
        );
    }

    #[test]
    fn this_servers_own_addresses_are_recognized() {
        let loopback: SocketAddr = "127.0.0.1:54321".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:54321".parse().unwrap();
        assert!(reaches(&loopback, &loopback));
        assert!(reaches(&"0.0.0.0:54321".parse().unwrap(), &loopback));
        assert!(reaches(
            &"[::ffff:127.0.0.1]:54321".parse().unwrap(),
            &loopback
        ));
        assert!(!reaches(&"127.0.0.1:54322".parse().unwrap(), &loopback));
        assert!(!reaches(&"[::1]:54321".parse().unwrap(), &loopback));
        assert!(reaches(&"[::1]:54321".parse().unwrap(), &any));
        assert!(!reaches(&"192.0.2.1:54321".parse().unwrap(), &any));
    }

    #[test]
    fn a_charset_decides_how_content_is_read() {
        assert_eq!(
            decode(b"caf\xe9", Some("text/plain; charset=ISO-8859-1")),
            "café"
        );
        assert_eq!(decode("café".as_bytes(), Some("text/plain")), "café");
        assert_eq!(decode(b"\xff", None), "\u{fffd}");
    }
}
