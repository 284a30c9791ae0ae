//! Config: the Supabase project folder — `supabase/config.toml` (the keys Solobase honours;
//! unknown keys are ignored, as the Supabase CLI's own newer keys must be), the migrations and
//! seed paths, and where the data lives (`supabase/.solobase/`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Supabase's well-known local-development JWT secret; the default anon and service_role keys
/// that every local Supabase app has in its `.env` are signed with it.
pub const DEFAULT_JWT_SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";
/// The anon and service_role keys of every local Supabase project (signed with the secret above).
pub const DEFAULT_ANON_KEY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0";
pub const DEFAULT_SERVICE_ROLE_KEY: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU";
/// The opaque keys `supabase start` prints; mapped to anon and service_role.
pub const DEFAULT_PUBLISHABLE_KEY: &str = "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH";
pub const DEFAULT_SECRET_KEY: &str = "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz";
pub const DEFAULT_PORT: u16 = 54321;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub project_id: Option<String>,
    pub api: ApiConfig,
    pub auth: AuthConfig,
    pub storage: StorageConfig,
    pub db: DbConfig,
    pub inbucket: InbucketConfig,
    pub realtime: RealtimeConfig,
    /// `env(NAME)` references left unresolved in keys Solobase does not use, one line each.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DbConfig {
    /// `[db] url`: a PostgreSQL connection URL (`postgres://…`) to store the project in instead
    /// of the embedded SQLite database; `start --db-url` and `SOLOBASE_DB_URL` override it.
    pub url: Option<String>,
    pub statement_timeout: StatementTimeouts,
}

/// `[db.statement_timeout]`: how long one request's statements may run per role, in Postgres's
/// syntax (`"3s"`, `"500ms"`, `"2min"`, a bare number of milliseconds; `0` for none) — what
/// Supabase sets with `alter role anon set statement_timeout = '3s'`. Expiry is 57014.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StatementTimeouts {
    #[serde(deserialize_with = "pg_duration")]
    pub anon: Option<Duration>,
    #[serde(deserialize_with = "pg_duration")]
    pub authenticated: Option<Duration>,
    /// Supabase leaves service_role unset, so it inherits `authenticator`'s 8 s.
    #[serde(deserialize_with = "pg_duration")]
    pub service_role: Option<Duration>,
}

impl Default for StatementTimeouts {
    fn default() -> Self {
        Self {
            anon: Some(Duration::from_secs(3)),
            authenticated: Some(Duration::from_secs(8)),
            service_role: Some(Duration::from_secs(8)),
        }
    }
}

impl StatementTimeouts {
    /// The limits as the store takes them: role name → timeout, for the roles that have one.
    pub fn by_role(&self) -> std::collections::HashMap<String, Duration> {
        [
            ("anon", self.anon),
            ("authenticated", self.authenticated),
            ("service_role", self.service_role),
        ]
        .into_iter()
        .filter_map(|(role, timeout)| Some((role.to_owned(), timeout?)))
        .collect()
    }
}

/// A Postgres duration setting: an integer with an optional unit (ms, s, min, h, d; no unit
/// means milliseconds); zero means no limit.
fn pg_duration<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Setting {
        Milliseconds(u64),
        Text(String),
    }
    let milliseconds = match Setting::deserialize(deserializer)? {
        Setting::Milliseconds(milliseconds) => Some(milliseconds),
        Setting::Text(text) => parse_pg_duration(&text),
    }
    .ok_or_else(|| {
        serde::de::Error::custom(
            "expected a duration such as \"3s\", \"500ms\" or \"2min\" (0 for none)",
        )
    })?;
    Ok((milliseconds > 0).then(|| Duration::from_millis(milliseconds)))
}

/// `"3s"` → 3000 (milliseconds).
fn parse_pg_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number: u64 = text[..split].parse().ok()?;
    let factor = match text[split..].trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// The largest object an upload may store, whatever its bucket allows (`"50MiB"`).
    pub file_size_limit: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            file_size_limit: "50MiB".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ApiConfig {
    pub port: u16,
    /// The schemas `/rest/v1` serves (the first is the default profile); nothing outside them
    /// is read, embedded, called or written through REST.
    pub schemas: Vec<String>,
    /// The most rows a read returns, whatever its `limit`.
    pub max_rows: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            schemas: vec!["public".into(), "graphql_public".into()],
            max_rows: 1000,
        }
    }
}

/// `[realtime]`: the limits of Supabase Realtime's tenant, under its column names, with the
/// values of the local development tenant the Supabase CLI seeds. Rates are per connection
/// (see `realtime::limits`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RealtimeConfig {
    /// Connections with a joined channel at once; a join beyond is refused.
    pub max_concurrent_users: usize,
    /// Messages a connection may send per second (broadcasts and unknown events; one-minute
    /// average); beyond it the channel is shut down. Also the REST broadcast endpoint's budget.
    pub max_events_per_second: u64,
    /// Joins a connection may make per second; beyond it the socket is disconnected.
    pub max_joins_per_second: u64,
    /// Channels one connection may have joined at once.
    pub max_channels_per_client: usize,
    /// Presence messages a connection may send per second.
    pub max_presence_events_per_second: u64,
    /// The largest broadcast or presence payload, in kilobytes (1000 bytes).
    pub max_payload_size_in_kb: usize,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            max_concurrent_users: 200,
            max_events_per_second: 100,
            max_joins_per_second: 100,
            max_channels_per_client: 100,
            max_presence_events_per_second: 1000,
            max_payload_size_in_kb: 3000,
        }
    }
}

/// `[inbucket]`: the local inbox every auth email goes to when no SMTP server is configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct InbucketConfig {
    pub enabled: bool,
    pub port: u16,
}

impl Default for InbucketConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            port: 54324,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub site_url: String,
    /// Where else `redirect_to` may point (globs: `*` within a path segment, `**` anywhere).
    pub additional_redirect_urls: Vec<String>,
    /// Access-token lifetime in seconds.
    pub jwt_expiry: u64,
    /// HS256 secret; `env(NAME)` reads it from the environment.
    pub jwt_secret: String,
    pub enable_signup: bool,
    pub enable_anonymous_sign_ins: bool,
    /// `linkIdentity` and `unlinkIdentity`: a signed-in user adds or removes an identity.
    pub enable_manual_linking: bool,
    pub minimum_password_length: usize,
    pub enable_refresh_token_rotation: bool,
    /// Seconds during which a just-rotated refresh token may be used again.
    pub refresh_token_reuse_interval: u64,
    pub email: EmailAuthConfig,
    pub rate_limit: RateLimitConfig,
    pub mfa: MfaConfig,
    /// The JWK file (relative to `supabase/`) whose first key signs access tokens.
    pub signing_keys_path: Option<String>,
    /// The keys of `signing_keys_path`, read by `Project::load`.
    #[serde(skip)]
    pub signing_keys: std::sync::Arc<Vec<crate::auth::jwk::SigningKey>>,
    /// `[auth.external.<name>]` as written: settings of providers Solobase cannot sign in
    /// with never stop a project starting.
    pub external: std::collections::BTreeMap<String, toml::Table>,
    /// The enabled providers of `external` that Solobase signs in with, read once at load.
    #[serde(skip)]
    pub providers: std::collections::BTreeMap<String, ExternalProvider>,
}

/// An external OpenID Connect provider users sign in with (`[auth.external.<name>]`).
#[derive(Debug, Clone, Deserialize)]
pub struct ExternalProvider {
    pub client_id: String,
    pub secret: String,
    /// The issuer: its `/.well-known/openid-configuration` names the endpoints.
    pub url: String,
    /// Where the provider sends the browser back; `/auth/v1/callback` of this server if empty.
    #[serde(default)]
    pub redirect_uri: String,
    /// Sign-in succeeds when the provider tells no email address.
    #[serde(default)]
    pub email_optional: bool,
}

impl ExternalProvider {
    /// `[auth.external.<name>]`'s provider when it is enabled (`None` when not), or why it
    /// cannot be signed in with.
    fn read(name: &str, table: &toml::Table) -> Result<Option<Self>, String> {
        if table.get("enabled").and_then(toml::Value::as_bool) != Some(true) {
            return Ok(None);
        }
        let mut table = table.clone();
        // Google is the one provider of the CLI's list whose issuer is fixed.
        if name == "google" && !table.contains_key("url") {
            table.insert("url".into(), "https://accounts.google.com".into());
        }
        let provider: Self = table.try_into().map_err(|error: toml::de::Error| {
            format!("auth.external.{name}: {}", error.message())
        })?;
        if provider.url.is_empty() || provider.client_id.is_empty() || provider.secret.is_empty() {
            return Err(format!(
                "auth.external.{name} needs client_id, secret and url (an OpenID Connect issuer)"
            ));
        }
        Ok(Some(provider))
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            site_url: "http://127.0.0.1:3000".into(),
            additional_redirect_urls: Vec::new(),
            jwt_expiry: 3600,
            jwt_secret: DEFAULT_JWT_SECRET.into(),
            enable_signup: true,
            enable_anonymous_sign_ins: false,
            enable_manual_linking: false,
            minimum_password_length: 6,
            enable_refresh_token_rotation: true,
            refresh_token_reuse_interval: 10,
            email: EmailAuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            mfa: MfaConfig::default(),
            signing_keys_path: None,
            signing_keys: Default::default(),
            external: Default::default(),
            providers: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct EmailAuthConfig {
    pub enable_signup: bool,
    pub enable_confirmations: bool,
    /// An email change is confirmed from both the old and the new address.
    pub double_confirm_changes: bool,
    /// The shortest time between two emails of one kind to one user (a Go duration: `"1s"`).
    #[serde(deserialize_with = "go_duration")]
    pub max_frequency: Duration,
    pub otp_length: usize,
    /// Seconds an emailed link or code stays valid.
    pub otp_expiry: u64,
    /// `[auth.email.template.<kind>]`: `invite`, `confirmation`, `recovery`, `magic_link`,
    /// `email_change`, `reauthentication`.
    pub template: std::collections::HashMap<String, EmailTemplateConfig>,
    /// `[auth.email.smtp]`: send through this server instead of the local inbox.
    pub smtp: Option<SmtpConfig>,
}

impl Default for EmailAuthConfig {
    fn default() -> Self {
        Self {
            enable_signup: true,
            enable_confirmations: false,
            double_confirm_changes: true,
            max_frequency: Duration::from_secs(1),
            otp_length: 6,
            otp_expiry: 3600,
            template: Default::default(),
            smtp: None,
        }
    }
}

/// `[auth.email.smtp]`, as the Supabase CLI names it: the server, its credentials, and the
/// sender (`admin_email`, shown as `sender_name`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub pass: String,
    pub admin_email: String,
    pub sender_name: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            host: String::new(),
            port: 587,
            user: String::new(),
            pass: String::new(),
            admin_email: String::new(),
            sender_name: String::new(),
        }
    }
}

/// One email template: its subject and the file (relative to the project folder) of its HTML.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EmailTemplateConfig {
    pub subject: Option<String>,
    pub content_path: Option<String>,
}

/// A Go duration as the Supabase CLI writes them: `"1s"`, `"500ms"`, `"1m30s"`, `"2h"`.
fn go_duration<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_go_duration(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "expected a duration such as \"1s\", \"500ms\" or \"1m30s\", not {text:?}"
        ))
    })
}

pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let millis = match &rest[..unit] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return None,
        };
        total += Duration::from_millis(number.checked_mul(millis)?);
        rest = &rest[unit..];
    }
    (!text.trim().is_empty()).then_some(total)
}

/// `[auth.mfa]`: how many factors a user may enroll, and `[auth.mfa.totp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MfaConfig {
    pub max_enrolled_factors: usize,
    pub totp: MfaFactorConfig,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            max_enrolled_factors: 10,
            totp: MfaFactorConfig::default(),
        }
    }
}

/// Whether a factor type can be enrolled and verified.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MfaFactorConfig {
    pub enroll_enabled: bool,
    pub verify_enabled: bool,
}

impl Default for MfaFactorConfig {
    fn default() -> Self {
        Self {
            enroll_enabled: true,
            verify_enabled: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Sign-ups, OTP and magic-link sign-ins, recovery, resend and user updates: requests of
    /// each per 5 minutes per IP address.
    pub sign_in_sign_ups: u32,
    /// Anonymous sign-ins per hour per IP address.
    pub anonymous_users: u32,
    /// `/token` requests (password sign-ins and refreshes) per 5 minutes per IP address.
    pub token_refresh: u32,
    /// `/verify` requests per 5 minutes per IP address.
    pub token_verifications: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            sign_in_sign_ups: 30,
            anonymous_users: 30,
            token_refresh: 150,
            token_verifications: 30,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {name} is not set in the environment (referenced as env({name}))")]
    MissingEnv { path: PathBuf, name: String },
}

/// A Supabase project folder: the directory holding `supabase/`.
#[derive(Debug, Clone)]
pub struct Project {
    pub workdir: PathBuf,
    pub config: Config,
}

impl Project {
    /// Reads `WORKDIR/supabase/config.toml` when present; defaults otherwise.
    pub fn load(workdir: &Path) -> Result<Self, ConfigError> {
        let project = Self {
            workdir: workdir.to_owned(),
            config: Config::default(),
        };
        let path = project.supabase_dir().join("config.toml");
        let mut config = match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text, &path)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        if let Some(keys) = config.auth.signing_keys_path.clone() {
            let path = project.supabase_dir().join(keys);
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let keys = crate::auth::jwk::parse_key_set(&text)
                .map_err(|message| ConfigError::Invalid { path, message })?;
            config.auth.signing_keys = std::sync::Arc::new(keys);
        }
        Ok(Self { config, ..project })
    }

    pub fn supabase_dir(&self) -> PathBuf {
        self.workdir.join("supabase")
    }

    pub fn migrations_dir(&self) -> PathBuf {
        self.supabase_dir().join("migrations")
    }

    pub fn seed_path(&self) -> PathBuf {
        self.supabase_dir().join("seed.sql")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.supabase_dir().join(".solobase")
    }

    pub fn storage_dir(&self) -> PathBuf {
        self.data_dir().join("storage")
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir().join("data.sqlite")
    }
}

/// Parses config.toml text, resolving `env(NAME)` strings.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let mut value: toml::Value = toml::from_str(text).map_err(|error| ConfigError::Invalid {
        path: path.to_owned(),
        message: error.to_string(),
    })?;
    let mut unset = Vec::new();
    resolve_env(&mut value, &mut Vec::new(), &mut unset);
    let invalid = |error: toml::de::Error| ConfigError::Invalid {
        path: path.to_owned(),
        message: error.to_string(),
    };
    let mut warnings = Vec::new();
    for (key, name) in &unset {
        if uses_key(&value, key) {
            return Err(ConfigError::MissingEnv {
                path: path.to_owned(),
                name: name.clone(),
            });
        }
        warnings.push(format!(
            "{}: {} is not set in the environment; {} (which Solobase does not use) is left out",
            path.display(),
            name,
            key.join(".")
        ));
    }
    for (key, _) in &unset {
        remove_key(&mut value, key);
    }
    let mut config: Config = value.try_into().map_err(invalid)?;
    for (name, table) in &config.auth.external {
        match ExternalProvider::read(name, table) {
            Ok(Some(provider)) => {
                config.auth.providers.insert(name.clone(), provider);
            }
            Ok(None) => {}
            Err(reason) => warnings.push(format!(
                "{}: sign-in with {name} answers \"provider is not enabled\": {reason}",
                path.display()
            )),
        }
    }
    Ok(Config { warnings, ..config })
}

/// Replaces every `"env(NAME)"` string with the variable's value, as the Supabase CLI does;
/// the keys whose variable is unset are collected in `unset` with the variable's name.
fn resolve_env(
    value: &mut toml::Value,
    key: &mut Vec<String>,
    unset: &mut Vec<(Vec<String>, String)>,
) {
    match value {
        toml::Value::String(text) => {
            if let Some(name) = text
                .strip_prefix("env(")
                .and_then(|rest| rest.strip_suffix(')'))
            {
                match std::env::var(name) {
                    Ok(resolved) => *text = resolved,
                    Err(_) => unset.push((key.clone(), name.to_owned())),
                }
            }
        }
        toml::Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                key.push(index.to_string());
                resolve_env(item, key, unset);
                key.pop();
            }
        }
        toml::Value::Table(table) => {
            for (name, item) in table.iter_mut() {
                key.push(name.clone());
                resolve_env(item, key, unset);
                key.pop();
            }
        }
        _ => {}
    }
}

/// Whether `Config` reads `key`: with a value there that no setting accepts (`[{}]`), reading
/// the file fails exactly when some setting takes it; unused keys are skipped whatever they hold.
fn uses_key(value: &toml::Value, key: &[String]) -> bool {
    let mut probe = value.clone();
    let Some(slot) = key.iter().try_fold(&mut probe, |node, part| match node {
        toml::Value::Table(table) => table.get_mut(part),
        toml::Value::Array(items) => items.get_mut(part.parse::<usize>().ok()?),
        _ => None,
    }) else {
        return false;
    };
    *slot = toml::Value::Array(vec![toml::Value::Table(toml::Table::new())]);
    probe.try_into::<Config>().is_err()
}

fn remove_key(value: &mut toml::Value, key: &[String]) {
    let Some((last, parents)) = key.split_last() else {
        return;
    };
    let parent = parents.iter().try_fold(value, |node, part| match node {
        toml::Value::Table(table) => table.get_mut(part),
        toml::Value::Array(items) => items.get_mut(part.parse::<usize>().ok()?),
        _ => None,
    });
    match parent {
        Some(toml::Value::Table(table)) => {
            table.remove(last);
        }
        Some(toml::Value::Array(items)) => {
            if let Ok(index) = last.parse::<usize>()
                && index < items.len()
            {
                items[index] = toml::Value::String(String::new());
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("supabase/config.toml"))
    }

    #[test]
    fn known_keys_are_read_and_unknown_ones_ignored() {
        let config = check(
            "project_id = \"demo\"\n[api]\nport = 6000\nenabled = true\n\
             [auth]\njwt_expiry = 60\nenable_signup = false\nenable_anonymous_sign_ins = true\n\
             [auth.email]\nenable_confirmations = true\n[studio]\nport = 54323\n",
        )
        .unwrap();
        assert_eq!(config.api.port, 6000);
        assert_eq!(config.auth.jwt_expiry, 60);
        assert!(!config.auth.enable_signup);
        assert!(config.auth.enable_anonymous_sign_ins);
        assert!(config.auth.email.enable_confirmations);
        assert_eq!(config.auth.jwt_secret, DEFAULT_JWT_SECRET);
    }

    #[test]
    fn the_database_url_is_read_from_db_and_may_come_from_the_environment() {
        assert_eq!(check("").unwrap().db.url, None);
        let url = "postgres://app@db.example.com/app";
        assert_eq!(
            check(&format!("[db]\nurl = \"{url}\"\nport = 54322"))
                .unwrap()
                .db
                .url
                .as_deref(),
            Some(url)
        );
        let missing = check("[db]\nurl = \"env(SOLOBASE_TEST_UNSET_DB_URL)\"");
        assert!(matches!(missing, Err(ConfigError::MissingEnv { .. })));
    }

    #[test]
    fn statement_timeouts_default_to_supabase_and_read_postgres_durations() {
        let defaults = check("").unwrap().db.statement_timeout;
        assert_eq!(defaults.anon, Some(Duration::from_secs(3)));
        assert_eq!(defaults.authenticated, Some(Duration::from_secs(8)));
        let set = check(
            "[db.statement_timeout]\nanon = \"500ms\"\nauthenticated = \"2min\"\nservice_role = 0",
        )
        .unwrap()
        .db
        .statement_timeout;
        assert_eq!(set.anon, Some(Duration::from_millis(500)));
        assert_eq!(set.authenticated, Some(Duration::from_secs(120)));
        assert_eq!(set.service_role, None);
        assert_eq!(
            check("[db.statement_timeout]\nanon = 1500")
                .unwrap()
                .db
                .statement_timeout
                .anon,
            Some(Duration::from_millis(1500))
        );
        for bad in ["\"3 parsecs\"", "\"-1s\"", "\"\"", "true"] {
            let text = format!("[db.statement_timeout]\nanon = {bad}");
            assert!(
                matches!(check(&text), Err(ConfigError::Invalid { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn malformed_files_and_wrong_types_are_clear_errors() {
        let error = check("[api\nport = 1").unwrap_err().to_string();
        assert!(
            error.starts_with("supabase/config.toml is not valid"),
            "{error}"
        );
        let error = check("[api]\nport = \"many\"").unwrap_err().to_string();
        assert!(error.contains("port"), "{error}");
    }

    #[test]
    fn env_references_are_resolved_or_reported() {
        let error =
            check("[auth]\njwt_secret = \"env(SOLOBASE_TEST_UNSET_VARIABLE)\"").unwrap_err();
        assert!(error.to_string().contains("SOLOBASE_TEST_UNSET_VARIABLE"));
        let config = check("[auth]\njwt_secret = \"env(PATH)\"").unwrap();
        assert_eq!(config.auth.jwt_secret, std::env::var("PATH").unwrap());
    }

    #[test]
    fn unset_env_references_in_unused_sections_are_warnings() {
        let config = check(
            "[api]\nport = 6000\n[auth.external.github]\nenabled = true\n\
             secret = \"env(SOLOBASE_TEST_UNSET_GITHUB_SECRET)\"\n\
             [auth.sms.twilio]\nauth_token = \"env(SOLOBASE_TEST_UNSET_TWILIO)\"\n\
             [storage.s3_credentials]\naccess_key_id = \"env(SOLOBASE_TEST_UNSET_S3)\"\n",
        )
        .unwrap();
        assert_eq!(config.api.port, 6000);
        assert_eq!(config.warnings.len(), 4, "{:?}", config.warnings);
        assert_eq!(
            config.warnings[0],
            "supabase/config.toml: SOLOBASE_TEST_UNSET_GITHUB_SECRET is not set in the environment; \
             auth.external.github.secret (which Solobase does not use) is left out"
        );
        assert_eq!(
            config.warnings[3],
            "supabase/config.toml: sign-in with github answers \"provider is not enabled\": \
             auth.external.github: missing field `client_id`"
        );
        let error = check("[api]\nport = \"env(SOLOBASE_TEST_UNSET_PORT)\"").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("SOLOBASE_TEST_UNSET_PORT is not set"),
            "{error}"
        );
    }

    #[test]
    fn email_and_inbox_settings_are_read() {
        let config = check(
            "[inbucket]\nport = 6543\n[auth]\nadditional_redirect_urls = [\"http://localhost:5173\"]\n\
             [auth.email]\nmax_frequency = \"1m30s\"\notp_expiry = 60\ndouble_confirm_changes = false\n\
             [auth.email.template.magic_link]\nsubject = \"Sign in\"\ncontent_path = \"./supabase/templates/magic.html\"",
        )
        .unwrap();
        assert_eq!(config.inbucket.port, 6543);
        assert!(config.inbucket.enabled);
        assert_eq!(
            config.auth.additional_redirect_urls,
            ["http://localhost:5173"]
        );
        assert_eq!(config.auth.email.max_frequency, Duration::from_secs(90));
        assert_eq!(config.auth.email.otp_expiry, 60);
        assert!(!config.auth.email.double_confirm_changes);
        let template = &config.auth.email.template["magic_link"];
        assert_eq!(template.subject.as_deref(), Some("Sign in"));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("soon"), None);
        assert_eq!(parse_go_duration(""), None);
        check("[auth.email]\nmax_frequency = \"5 seconds\"").unwrap_err();
    }
}
