//! The email flows of GoTrue: `/otp` (magic link and code), `/verify` (GET from a link, POST
//! with a code or token hash), `/resend`, `/recover`, `/reauthenticate`, admin `/invite` and
//! `/admin/generate_link`, sign-up confirmation and email change. A one-time code is stored as
//! GoTrue stores it (`sha224(email + code)` in the user's token column, beside when it was
//! sent); mail goes out after the database job that stored its token has committed.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::api::{
    Result, admin, check_email, database, issuer, parse_body, rate_limit, read, session_json,
    signed_in, text, write,
};
use super::error::AuthError;
use super::limits::Budget;
use super::mail::{Email, Kind};
use super::pkce::{self, Challenge};
use super::users::{self, NewUser};
use crate::app::App;
use crate::store::functions::timestamp_now;
use crate::wire::Peer;

type Params = Query<HashMap<String, String>>;

/// A six-digit (`otp_length`) code.
fn new_code(length: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..length.clamp(6, 10))
        .map(|_| char::from(b'0' + rng.random_range(0..10)))
        .collect()
}

/// GoTrue's `GenerateTokenHash`: hex of SHA-224 over the address and the code.
fn token_hash(address: &str, code: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha224::digest(format!("{address}{code}").as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Where a link may send the user back: the `redirect_to` query parameter, else the Referer,
/// when allowed; the site URL otherwise (GoTrue's `GetReferrer`).
pub(super) fn referrer(app: &App, query: &HashMap<String, String>, headers: &HeaderMap) -> String {
    let config = &app.project().config.auth;
    let referer = headers.get("referer").and_then(|value| value.to_str().ok());
    [query.get("redirect_to").map(String::as_str), referer]
        .into_iter()
        .flatten()
        .find(|url| redirect_allowed(config, url))
        .map_or_else(|| config.site_url.clone(), str::to_owned)
}

/// `scheme`, host and port of an absolute URL, lowercased.
fn origin(url: &str) -> Option<(String, String, Option<String>)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() || port.is_some_and(|port| !port.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    Some((
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase(),
        port.map(str::to_owned),
    ))
}

/// GoTrue's `IsRedirectURLValid`: the site's own origin (any port on localhost), a loopback
/// address, or a match of one of `additional_redirect_urls` (globs).
fn redirect_allowed(config: &crate::config::AuthConfig, url: &str) -> bool {
    let (Some(site), Some(target)) = (origin(&config.site_url), origin(url)) else {
        return false;
    };
    let localhost = target.1 == "localhost" || target.1 == "127.0.0.1" || target.1 == "::1";
    if site.0 == target.0 && site.1 == target.1 && (site.2 == target.2 || localhost) {
        return true;
    }
    if let Ok(ip) = target.1.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let without_fragment = url.split('#').next().unwrap_or(url);
    config
        .additional_redirect_urls
        .iter()
        .any(|pattern| glob(pattern).is_some_and(|glob| glob.is_match(without_fragment)))
}

/// A redirect-URL glob as GoTrue reads it: `**` matches anything, `*` and `?` stop at `.` and `/`.
fn glob(pattern: &str) -> Option<regex::Regex> {
    let mut expression = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                expression.push_str(".*");
            }
            '*' => expression.push_str("[^./]*"),
            '?' => expression.push_str("[^./]"),
            other => expression.push_str(&regex::escape(&other.to_string())),
        }
    }
    expression.push('$');
    regex::Regex::new(&expression).ok()
}

/// The `/verify` link of a token, as GoTrue's mailer builds it.
fn action_link(issuer: &str, hash: &str, kind: &str, redirect_to: &str) -> String {
    let redirect = if redirect_to.contains(['&', '=', '#']) {
        form_urlencoded::byte_serialize(redirect_to.as_bytes()).collect()
    } else {
        redirect_to.to_owned()
    };
    let token: String = form_urlencoded::byte_serialize(hash.as_bytes()).collect();
    format!("{issuer}/verify?token={token}&type={kind}&redirect_to={redirect}")
}

/// The token columns of one purpose: `(token, sent_at)`.
#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Confirmation,
    Recovery,
    Reauthentication,
}

impl Slot {
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            Slot::Confirmation => ("confirmation_token", "confirmation_sent_at"),
            Slot::Recovery => ("recovery_token", "recovery_sent_at"),
            Slot::Reauthentication => ("reauthentication_token", "reauthentication_sent_at"),
        }
    }

    /// The `/verify` type of its emailed link; none for a reauthentication code.
    fn link_type(self) -> Option<&'static str> {
        match self {
            Slot::Confirmation => Some("signup"),
            Slot::Recovery => Some("recovery"),
            Slot::Reauthentication => None,
        }
    }
}

/// The time left before another email may go out (`max_frequency`), as GoTrue refuses it.
fn check_frequency(app: &App, sent_at: Option<&str>) -> Result<()> {
    let frequency = app.project().config.auth.email.max_frequency;
    let Some(sent) = sent_at.and_then(|sent| sent.parse::<jiff::Timestamp>().ok()) else {
        return Ok(());
    };
    let elapsed = jiff::Timestamp::now().duration_since(sent);
    let frequency = jiff::SignedDuration::try_from(frequency).unwrap_or(jiff::SignedDuration::MAX);
    if elapsed < frequency {
        let left = (frequency - elapsed).as_secs();
        return Err(AuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "over_email_send_rate_limit",
            format!("For security purposes, you can only request this after {left} seconds."),
        ));
    }
    Ok(())
}

/// Whether a token sent at `sent_at` has outlived `otp_expiry`.
fn expired(app: &App, sent_at: Option<&str>) -> bool {
    let expiry = app.project().config.auth.email.otp_expiry as i64;
    sent_at
        .and_then(|sent| sent.parse::<jiff::Timestamp>().ok())
        .is_none_or(|sent| jiff::Timestamp::now().duration_since(sent).as_secs() >= expiry)
}

/// Stores `hash` in the user's `slot` after checking `max_frequency` (unless `force`).
fn store_token(
    app: &App,
    connection: &Connection,
    user_id: &str,
    slot: Slot,
    hash: &str,
    force: bool,
) -> Result<()> {
    let (token, sent) = slot.columns();
    let sent_at: Option<String> = connection
        .query_row(
            &format!("SELECT {sent} FROM \"auth.users\" WHERE id = ?1"),
            [user_id],
            |row| row.get(0),
        )
        .map_err(database)?;
    if !force {
        check_frequency(app, sent_at.as_deref())?;
    }
    connection
        .execute(
            &format!("UPDATE \"auth.users\" SET {token} = ?2, {sent} = ?3 WHERE id = ?1"),
            params![user_id, hash, timestamp_now()],
        )
        .map_err(database)?;
    Ok(())
}

/// The message of one token for one user, built once its token is stored.
struct Outgoing {
    kind: Kind,
    to: String,
    code: String,
    hash: String,
    /// The `type` of its `/verify` link; none for a reauthentication code.
    link_type: Option<&'static str>,
    email: String,
    new_email: String,
    data: Value,
}

impl Outgoing {
    fn new(kind: Kind, to: &str, code: String, link_type: Option<&'static str>) -> Self {
        Self {
            kind,
            to: to.to_owned(),
            hash: token_hash(to, &code),
            code,
            link_type,
            email: to.to_owned(),
            new_email: String::new(),
            data: json!({}),
        }
    }

    /// The token of a PKCE flow carries GoTrue's `pkce_` prefix, in the store and the link.
    fn for_flow(mut self, challenge: Option<&Challenge>) -> Self {
        if challenge.is_some() {
            self.hash = format!("{}{}", pkce::PREFIX, self.hash);
        }
        self
    }

    /// Mails it; a failed delivery is GoTrue's 500 "Error sending … email".
    async fn send(self, app: &App, issuer: &str, redirect_to: &str) -> Result<()> {
        let link = self
            .link_type
            .map(|kind| action_link(issuer, &self.hash, kind, redirect_to));
        let sent = app
            .mailer()
            .send(Email {
                kind: self.kind,
                to: &self.to,
                link,
                token: &self.code,
                token_hash: &self.hash,
                site_url: &app.project().config.auth.site_url,
                redirect_to,
                email: &self.email,
                new_email: &self.new_email,
                data: &self.data,
            })
            .await;
        let Err(cause) = sent else {
            return Ok(());
        };
        tracing::error!(%cause, "sending auth email");
        // GoTrue mails inside the transaction that stores the token: a message that did not go
        // out leaves no token behind, nor a sending time that would hold back a retry.
        let hash = self.hash.clone();
        if let Err(error) = write(app, move |connection| withdraw(connection, &hash)).await {
            tracing::error!(?error, "withdrawing the token of an unsent email");
        }
        Err(AuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unexpected_failure",
            format!("Error sending {} email", self.kind.noun()),
        ))
    }
}

/// Clears the token `hash` (and when it was sent) wherever a user holds it.
fn withdraw(connection: &mut Connection, hash: &str) -> Result<()> {
    for (token, sent) in [
        ("confirmation_token", "confirmation_sent_at"),
        ("recovery_token", "recovery_sent_at"),
        ("reauthentication_token", "reauthentication_sent_at"),
        ("email_change_token_new", "email_change_sent_at"),
        ("email_change_token_current", "email_change_sent_at"),
    ] {
        connection
            .execute(
                &format!(
                    "UPDATE \"auth.users\" SET {token} = '', {sent} = NULL WHERE {token} = ?1"
                ),
                [hash],
            )
            .map_err(database)?;
    }
    Ok(())
}

fn code_length(app: &App) -> usize {
    app.project().config.auth.email.otp_length
}

fn email_provider_enabled(app: &App) -> Result<()> {
    if !app.project().config.auth.email.enable_signup {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "email_provider_disabled",
            "Email logins are disabled",
        ));
    }
    Ok(())
}

/// GoTrue's `validateEmail`: required, at most 255 bytes, an address; lowercased.
fn valid_email(email: Option<&str>) -> Result<String> {
    let email = email.ok_or_else(|| AuthError::validation("An email address is required"))?;
    if email.len() > 255 {
        return Err(AuthError::validation("An email address is too long"));
    }
    check_email(email)?;
    Ok(email.to_lowercase())
}

fn user_metadata(body: &Value) -> Value {
    body.get("data")
        .filter(|data| data.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}))
}

fn email_user(email: &str, confirmed: bool, data: Value) -> NewUser<'_> {
    NewUser {
        id: None,
        email: Some(email),
        password_hash: None,
        confirmed,
        user_metadata: data,
        app_metadata: json!({"provider": "email", "providers": ["email"]}),
        is_anonymous: false,
    }
}

fn metadata_of(connection: &Connection, user_id: &str) -> Result<Value> {
    Ok(users::find_by_id(connection, user_id)
        .map_err(database)?
        .map(|user| user.user_metadata)
        .unwrap_or_else(|| json!({})))
}

/// Sends the sign-up confirmation of a new, unconfirmed user (after `POST /signup`).
pub async fn send_confirmation(
    app: &App,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    user_id: String,
    email: String,
    challenge: Option<Challenge>,
) -> Result<()> {
    let redirect_to = referrer(app, query, headers);
    let mut outgoing = Outgoing::new(
        Kind::Confirmation,
        &email,
        new_code(code_length(app)),
        Some("signup"),
    )
    .for_flow(challenge.as_ref());
    let job_app = app.clone();
    let hash = outgoing.hash.clone();
    outgoing.data = write(app, move |connection| {
        store_token(
            &job_app,
            connection,
            &user_id,
            Slot::Confirmation,
            &hash,
            false,
        )?;
        if let Some(challenge) = &challenge {
            challenge.start(connection, &user_id, "signup")?;
        }
        metadata_of(connection, &user_id)
    })
    .await?;
    outgoing.send(app, &issuer(headers), &redirect_to).await?;
    Ok(())
}

/// `POST /otp`: a magic link and code to an email address, creating the user when allowed.
pub async fn otp(
    State(app): State<App>,
    ConnectInfo(Peer(address)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Query(query): Params,
    body: Bytes,
) -> Result<Response> {
    rate_limit(&app, Budget::Otp, &address)?;
    let body = parse_body(&body)?;
    let email = text(&body, "email");
    if email.is_some() && text(&body, "phone").is_some() {
        return Err(AuthError::validation(
            "Only an email address or phone number should be provided",
        ));
    }
    let Some(email) = email else {
        if text(&body, "phone").is_some() {
            return Err(AuthError::new(
                StatusCode::BAD_REQUEST,
                "phone_provider_disabled",
                "Unsupported phone provider",
            ));
        }
        return Err(AuthError::validation("One of email or phone must be set"));
    };
    let create_user = body.get("create_user").and_then(Value::as_bool) != Some(false);
    send_magic_link(&app, &headers, &query, &body, email, create_user).await?;
    Ok(Json(json!({})).into_response())
}

/// `POST /magiclink`: GoTrue's older sign-in by email link, which always creates the user.
pub async fn magic_link(
    State(app): State<App>,
    ConnectInfo(Peer(address)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Query(query): Params,
    body: Bytes,
) -> Result<Response> {
    rate_limit(&app, Budget::Otp, &address)?;
    let body = parse_body(&body)?;
    let Some(email) = text(&body, "email").filter(|email| !email.is_empty()) else {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Password recovery requires an email",
        ));
    };
    send_magic_link(&app, &headers, &query, &body, email, true).await?;
    Ok(Json(json!({})).into_response())
}

/// Mails a magic link and code to `email` (the sign-up confirmation to a new or unconfirmed
/// address), creating the user when `create_user` allows it.
async fn send_magic_link(
    app: &App,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    body: &Value,
    email: &str,
    create_user: bool,
) -> Result<()> {
    let email = valid_email(Some(email))?;
    let challenge = Challenge::of(body)?;
    let lookup = email.clone();
    let existing = read(app, move |connection| {
        users::find_by_email(connection, &lookup)
    })
    .await?;
    if existing.is_none() && !create_user {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "otp_disabled",
            "Signups not allowed for otp",
        ));
    }
    email_provider_enabled(app)?;
    let config = app.project().config.auth.clone();
    if existing.is_none() && !config.enable_signup {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "signup_disabled",
            "Signups not allowed for this instance",
        ));
    }
    let autoconfirm = !config.email.enable_confirmations;
    let confirmed = existing
        .as_ref()
        .is_some_and(|user| user.email_confirmed_at.is_some());
    // A new or unconfirmed address gets the sign-up confirmation, unless sign-ups confirm
    // themselves; everyone else a magic link.
    let (kind, slot, link_type) = if confirmed || autoconfirm {
        (Kind::MagicLink, Slot::Recovery, "magiclink")
    } else {
        (Kind::Confirmation, Slot::Confirmation, "signup")
    };
    let mut outgoing = Outgoing::new(kind, &email, new_code(code_length(app)), Some(link_type))
        .for_flow(challenge.as_ref());
    let data = user_metadata(body);
    let (job_app, hash, address) = (app.clone(), outgoing.hash.clone(), email.clone());
    outgoing.data = write(app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let id = match users::find_by_email(&transaction, &address).map_err(database)? {
            Some(user) => user.id,
            None => users::create(&transaction, email_user(&address, autoconfirm, data))
                .map_err(database)?,
        };
        store_token(&job_app, &transaction, &id, slot, &hash, false)?;
        if let Some(challenge) = &challenge {
            challenge.start(&transaction, &id, link_type)?;
        }
        let metadata = metadata_of(&transaction, &id)?;
        transaction.commit().map_err(database)?;
        Ok(metadata)
    })
    .await?;
    outgoing
        .send(app, &issuer(headers), &referrer(app, query, headers))
        .await?;
    Ok(())
}

/// `POST /recover`: a password-recovery link; an unknown address is answered the same way.
pub async fn recover(
    State(app): State<App>,
    ConnectInfo(Peer(address)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Query(query): Params,
    body: Bytes,
) -> Result<Response> {
    rate_limit(&app, Budget::Recover, &address)?;
    let body = parse_body(&body)?;
    let Some(email) = text(&body, "email") else {
        return Err(AuthError::validation("Password recovery requires an email"));
    };
    let email = valid_email(Some(email))?;
    let challenge = Challenge::of(&body)?;
    send_to_existing(
        &app,
        &headers,
        &query,
        &email,
        Kind::Recovery,
        Slot::Recovery,
        challenge,
    )
    .await?;
    Ok(Json(json!({})).into_response())
}

/// Stores a new token for the user with `email`, if there is one, and mails it.
async fn send_to_existing(
    app: &App,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    email: &str,
    kind: Kind,
    slot: Slot,
    challenge: Option<Challenge>,
) -> Result<()> {
    let link_type = slot.link_type();
    let mut outgoing = Outgoing::new(kind, email, new_code(code_length(app)), link_type)
        .for_flow(challenge.as_ref());
    let (job_app, hash, address) = (app.clone(), outgoing.hash.clone(), email.to_owned());
    let data = write(app, move |connection| {
        let Some(user) = users::find_by_email(connection, &address).map_err(database)? else {
            return Ok(None);
        };
        store_token(&job_app, connection, &user.id, slot, &hash, false)?;
        if let (Some(challenge), Some(kind)) = (&challenge, link_type) {
            challenge.start(connection, &user.id, kind)?;
        }
        Ok(Some(user.user_metadata))
    })
    .await?;
    if let Some(data) = data {
        outgoing.data = data;
        outgoing
            .send(app, &issuer(headers), &referrer(app, query, headers))
            .await?;
    }
    Ok(())
}

/// `POST /resend`: the sign-up confirmation or the email-change mails again.
pub async fn resend(
    State(app): State<App>,
    ConnectInfo(Peer(address)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Query(query): Params,
    body: Bytes,
) -> Result<Response> {
    rate_limit(&app, Budget::Resend, &address)?;
    let body = parse_body(&body)?;
    let kind = text(&body, "type").unwrap_or("");
    match kind {
        "signup" | "email_change" => {}
        "sms" | "phone_change" => {
            return Err(AuthError::new(
                StatusCode::BAD_REQUEST,
                "phone_provider_disabled",
                "Phone logins are disabled",
            ));
        }
        _ => {
            return Err(AuthError::validation(
                "Missing one of these types: signup, email_change, sms, phone_change",
            ));
        }
    }
    let email = text(&body, "email");
    if email.is_none() && kind == "signup" {
        return Err(AuthError::validation(
            "Type provided requires an email address",
        ));
    }
    if email.is_some() && text(&body, "phone").is_some() {
        return Err(AuthError::validation(
            "Only an email address or phone number should be provided.",
        ));
    }
    let Some(email) = email else {
        return Err(AuthError::validation(
            "Missing email address or phone number",
        ));
    };
    email_provider_enabled(&app)?;
    let email = valid_email(Some(email))?;
    let challenge = Challenge::of(&body)?;
    let lookup = email.clone();
    let Some(user) = read(&app, move |connection| {
        users::find_by_email(connection, &lookup)
    })
    .await?
    else {
        return Ok(Json(json!({})).into_response());
    };
    if kind == "signup" {
        if user.email_confirmed_at.is_none() {
            send_confirmation(&app, &headers, &query, user.id, email, challenge).await?;
        }
    } else {
        let id = user.id.clone();
        let pending: Option<String> = read(&app, move |connection| {
            connection.query_row(
                "SELECT nullif(email_change, '') FROM \"auth.users\" WHERE id = ?1",
                [&id],
                |row| row.get(0),
            )
        })
        .await?;
        if let Some(new_email) = pending {
            send_email_change(&app, &headers, &query, &user.id, &new_email).await?;
        }
    }
    Ok(Json(json!({})).into_response())
}

/// `GET /reauthenticate`: a code for the signed-in user to confirm a password change with.
pub async fn reauthenticate(State(app): State<App>, headers: HeaderMap) -> Result<Response> {
    let (user, _) = signed_in(&app, &headers).await?;
    let Some(email) = user.email.filter(|email| !email.is_empty()) else {
        return Err(AuthError::validation(
            "Reauthentication requires the user to have an email or a phone number",
        ));
    };
    if user.email_confirmed_at.is_none() {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "email_not_confirmed",
            "Please verify your email first.",
        ));
    }
    send_to_existing(
        &app,
        &headers,
        &HashMap::new(),
        &email,
        Kind::Reauthentication,
        Slot::Reauthentication,
        None,
    )
    .await?;
    Ok(Json(json!({})).into_response())
}

/// Checks the nonce of a password change against the user's reauthentication code and spends
/// it (in the job that changes the password).
pub fn spend_nonce(app: &App, connection: &Connection, user_id: &str, nonce: &str) -> Result<()> {
    let invalid = || {
        AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reauthentication_not_valid",
            "Nonce has expired or is invalid",
        )
    };
    let (email, token, sent_at): (Option<String>, Option<String>, Option<String>) = connection
        .query_row(
            "SELECT email, reauthentication_token, reauthentication_sent_at FROM \"auth.users\" WHERE id = ?1",
            [user_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .map_err(database)?;
    let expected = token
        .filter(|token| !token.is_empty())
        .ok_or_else(invalid)?;
    let email = email.unwrap_or_default().to_lowercase();
    if token_hash(&email, nonce) != expected || expired(app, sent_at.as_deref()) {
        return Err(invalid());
    }
    connection
        .execute(
            "UPDATE \"auth.users\" SET reauthentication_token = '', reauthentication_sent_at = NULL WHERE id = ?1",
            [user_id],
        )
        .map_err(database)?;
    Ok(())
}

/// Starts an email change: the link to the new address, and with `double_confirm_changes`
/// one to the current address too; the address changes once they are confirmed.
pub async fn send_email_change(
    app: &App,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    user_id: &str,
    new_email: &str,
) -> Result<()> {
    let length = code_length(app);
    let mut to_new = Outgoing::new(
        Kind::EmailChange,
        new_email,
        new_code(length),
        Some("email_change"),
    );
    let double = app.project().config.auth.email.double_confirm_changes;
    let (job_app, id, new_address, hash_new) = (
        app.clone(),
        user_id.to_owned(),
        new_email.to_owned(),
        to_new.hash.clone(),
    );
    let current_code = new_code(length);
    let job_code = current_code.clone();
    let (current, data) = write(app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let user = users::find_by_id(&transaction, &id).map_err(database)?.ok_or_else(|| AuthError::internal("user vanished"))?;
        if users::find_by_email(&transaction, &new_address).map_err(database)?.is_some_and(|other| other.id != id) {
            return Err(AuthError::new(StatusCode::UNPROCESSABLE_ENTITY, "email_exists", "A user with this email address has already been registered"));
        }
        let sent_at: Option<String> = transaction
            .query_row("SELECT email_change_sent_at FROM \"auth.users\" WHERE id = ?1", [&id], |row| row.get(0))
            .map_err(database)?;
        check_frequency(&job_app, sent_at.as_deref())?;
        let current = user.email.clone().filter(|email| double && !email.is_empty());
        let hash_current = current.as_deref().map(|email| token_hash(email, &job_code)).unwrap_or_default();
        transaction
            .execute(
                "UPDATE \"auth.users\" SET email_change = ?2, email_change_token_new = ?3, email_change_token_current = ?4, email_change_confirm_status = 0, email_change_sent_at = ?5 WHERE id = ?1",
                params![id, new_address, hash_new, hash_current, timestamp_now()],
            )
            .map_err(database)?;
        transaction.commit().map_err(database)?;
        Ok((current, user.user_metadata))
    })
    .await?;
    let (issuer, redirect_to) = (issuer(headers), referrer(app, query, headers));
    if let Some(current) = current {
        let mut to_current = Outgoing::new(
            Kind::EmailChange,
            &current,
            current_code,
            Some("email_change"),
        );
        to_current.new_email = new_email.to_owned();
        to_current.data = data.clone();
        to_current.send(app, &issuer, &redirect_to).await?;
        to_new.email = current;
    }
    to_new.new_email = new_email.to_owned();
    to_new.data = data;
    to_new.send(app, &issuer, &redirect_to).await?;
    Ok(())
}

/// `POST /invite` (service role): creates the user and mails the invitation.
pub async fn invite(
    State(app): State<App>,
    headers: HeaderMap,
    Query(query): Params,
    body: Bytes,
) -> Result<Response> {
    admin(&app, &headers)?;
    let body = parse_body(&body)?;
    let email = valid_email(text(&body, "email"))?;
    let mut outgoing = Outgoing::new(
        Kind::Invite,
        &email,
        new_code(code_length(&app)),
        Some("invite"),
    );
    let data = user_metadata(&body);
    let (hash, address) = (outgoing.hash.clone(), email.clone());
    let user = write(&app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let id = invited_user(&transaction, &address, data, &hash)?;
        let user = users::user_json(&transaction, &id).map_err(database)?;
        transaction.commit().map_err(database)?;
        Ok(user)
    })
    .await?;
    outgoing.data = user
        .as_ref()
        .map_or_else(|| json!({}), |user| user["user_metadata"].clone());
    outgoing
        .send(&app, &issuer(&headers), &referrer(&app, &query, &headers))
        .await?;
    Ok(Json(user).into_response())
}

fn email_exists() -> AuthError {
    AuthError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "email_exists",
        "A user with this email address has already been registered",
    )
}

/// The invited (new or still unconfirmed) user with `email`, its confirmation token set.
fn invited_user(connection: &Connection, email: &str, data: Value, hash: &str) -> Result<String> {
    let id = match users::find_by_email(connection, email).map_err(database)? {
        Some(user) if user.email_confirmed_at.is_some() => return Err(email_exists()),
        Some(user) => user.id,
        None => users::create(connection, email_user(email, false, data)).map_err(database)?,
    };
    connection
        .execute(
            "UPDATE \"auth.users\" SET confirmation_token = ?2, confirmation_sent_at = ?3, invited_at = ?3 WHERE id = ?1",
            params![id, hash, timestamp_now()],
        )
        .map_err(database)?;
    Ok(id)
}

/// `POST /admin/generate_link` (service role): the link and code a mail would carry, without
/// sending it; the user is created for `signup`, `invite` and a `magiclink` to a new address.
pub async fn generate_link(
    State(app): State<App>,
    headers: HeaderMap,
    Query(query): Params,
    body: Bytes,
) -> Result<Response> {
    admin(&app, &headers)?;
    let body = parse_body(&body)?;
    let email = valid_email(text(&body, "email"))?;
    let config = app.project().config.auth.clone();
    let redirect_to = text(&body, "redirect_to")
        .filter(|url| redirect_allowed(&config, url))
        .map_or_else(|| referrer(&app, &query, &headers), str::to_owned);
    let requested = text(&body, "type").unwrap_or("").to_owned();
    let code = new_code(code_length(&app));
    let hash = token_hash(&email, &code);
    let password = match text(&body, "password") {
        Some(password) => super::api::new_password_hash(&app, Some(password)).await?,
        None => None,
    };
    let new_email = match requested.as_str() {
        "email_change_current" | "email_change_new" => Some(valid_email(text(&body, "new_email"))?),
        _ => None,
    };
    let data = user_metadata(&body);
    let double = config.email.double_confirm_changes;
    let (job_hash, job_email, job_code) = (hash.clone(), email.clone(), code.clone());
    let (user, link_type, link_hash) = write(&app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let existing = users::find_by_email(&transaction, &job_email).map_err(database)?;
        let now = timestamp_now();
        let (id, link_type, link_hash) = match (requested.as_str(), existing) {
            ("signup" | "magiclink", None) => {
                let mut new = email_user(&job_email, false, data);
                new.password_hash = password;
                let id = users::create(&transaction, new).map_err(database)?;
                transaction.execute("UPDATE \"auth.users\" SET confirmation_token = ?2, confirmation_sent_at = ?3 WHERE id = ?1", params![id, job_hash, now]).map_err(database)?;
                (id, "signup", job_hash)
            }
            ("signup", Some(user)) => {
                if user.email_confirmed_at.is_some() {
                    return Err(email_exists());
                }
                let merged = users::merge_metadata(&user.user_metadata, &data);
                transaction.execute("UPDATE \"auth.users\" SET confirmation_token = ?2, confirmation_sent_at = ?3, raw_user_meta_data = ?4 WHERE id = ?1", params![user.id, job_hash, now, merged.to_string()]).map_err(database)?;
                (user.id, "signup", job_hash)
            }
            ("invite", _) => (invited_user(&transaction, &job_email, data, &job_hash)?, "invite", job_hash),
            (kind @ ("magiclink" | "recovery"), Some(user)) => {
                transaction.execute("UPDATE \"auth.users\" SET recovery_token = ?2, recovery_sent_at = ?3 WHERE id = ?1", params![user.id, job_hash, now]).map_err(database)?;
                (user.id, if kind == "magiclink" { "magiclink" } else { "recovery" }, job_hash)
            }
            ("recovery" | "email_change_current" | "email_change_new", None) => {
                return Err(AuthError::new(StatusCode::NOT_FOUND, "user_not_found", "User with this email not found"));
            }
            (kind @ ("email_change_current" | "email_change_new"), Some(user)) => {
                if !double && kind == "email_change_current" {
                    return Err(AuthError::validation("Enable secure email change to generate link for current email"));
                }
                let new_email = new_email.unwrap_or_default();
                if users::find_by_email(&transaction, &new_email).map_err(database)?.is_some() {
                    return Err(email_exists());
                }
                let (current, new) = if kind == "email_change_current" {
                    (job_hash.clone(), String::new())
                } else {
                    (String::new(), token_hash(&new_email, &job_code))
                };
                transaction.execute(
                    "UPDATE \"auth.users\" SET email_change = ?2, email_change_token_current = ?3, email_change_token_new = ?4, email_change_confirm_status = 0, email_change_sent_at = ?5 WHERE id = ?1",
                    params![user.id, new_email, current, new, now],
                ).map_err(database)?;
                let link_hash = if kind == "email_change_current" { current } else { new };
                (user.id, "email_change", link_hash)
            }
            (other, _) => {
                return Err(AuthError::validation(format!("Invalid email action link type requested: {other}")));
            }
        };
        let user = users::user_json(&transaction, &id).map_err(database)?.ok_or_else(|| AuthError::internal("user vanished"))?;
        transaction.commit().map_err(database)?;
        Ok((user, link_type, link_hash))
    })
    .await?;
    let mut answer = user;
    let verification_type = text(&body, "type").unwrap_or("").to_owned();
    answer["action_link"] = Value::String(action_link(
        &issuer(&headers),
        &link_hash,
        link_type,
        &redirect_to,
    ));
    answer["email_otp"] = Value::String(code);
    answer["hashed_token"] = Value::String(link_hash);
    answer["verification_type"] = Value::String(
        if verification_type == "magiclink" && link_type == "signup" {
            "signup".into()
        } else {
            verification_type
        },
    );
    answer["redirect_to"] = Value::String(redirect_to);
    Ok(Json(answer).into_response())
}

/// What a `/verify` request presents.
struct Presented {
    kind: String,
    /// The token hash, given or computed from the address and the code.
    hash: String,
    /// The address the code was sent to, when verifying a code.
    email: Option<String>,
    /// Presented by following the emailed link (`GET /verify`).
    link: bool,
}

/// The outcome of a verification.
enum Verified {
    /// The user is signed in: `(user, session_id, refresh_token)`.
    Session(Value, String, String),
    /// One of the two email-change links was confirmed; the other is still pending.
    HalfOfEmailChange,
    /// The link of a PKCE flow was followed: its auth code, for `/token?grant_type=pkce`.
    Code(String),
}

const HALF_CONFIRMED: &str =
    "Confirmation link accepted. Please proceed to confirm link sent to the other email";

/// The user a presented token belongs to.
struct Holder {
    id: String,
    /// When the matched token was sent.
    sent_at: Option<String>,
    /// The token is the recovery (magic link) one.
    is_recovery: bool,
    banned_until: Option<String>,
    /// The token is the email change's link to the current address.
    is_current: bool,
}

/// Finds the user a token belongs to, checks it has not expired, applies what it confirms
/// and starts a session.
fn verify_in(app: &App, connection: &Connection, presented: &Presented) -> Result<Verified> {
    let by_hash = presented.email.is_none();
    let invalid = || {
        let message = if by_hash {
            "Email link is invalid or has expired"
        } else {
            "Token has expired or is invalid"
        };
        AuthError::new(StatusCode::FORBIDDEN, "otp_expired", message)
    };
    let hash = &presented.hash;
    let mut kind = presented.kind.as_str();
    let (condition, sent) = match kind {
        "signup" | "invite" => (
            "confirmation_token IN (?1, 'pkce_' || ?1)",
            "confirmation_sent_at",
        ),
        "recovery" | "magiclink" => ("recovery_token IN (?1, 'pkce_' || ?1)", "recovery_sent_at"),
        "email" => (
            "(confirmation_token IN (?1, 'pkce_' || ?1) OR recovery_token IN (?1, 'pkce_' || ?1))",
            "CASE WHEN recovery_token IN (?1, 'pkce_' || ?1) THEN recovery_sent_at ELSE confirmation_sent_at END",
        ),
        "email_change" => (
            "(email_change_token_current = ?1 OR email_change_token_new = ?1)",
            "email_change_sent_at",
        ),
        _ if by_hash => return Err(AuthError::validation("Invalid email verification type")),
        _ => return Err(invalid()),
    };
    let address_condition = match (&presented.email, kind) {
        (None, _) => "",
        (Some(_), "email_change") => {
            " AND ((lower(email) = ?2 AND email_change_token_current = ?1) OR (lower(email_change) = ?2 AND email_change_token_new = ?1))"
        }
        (Some(_), _) => " AND lower(email) = ?2",
    };
    let found: Option<Holder> = connection
        .query_row(
            &format!(
                "SELECT id, {sent}, recovery_token IN (?1, 'pkce_' || ?1), banned_until, email_change_token_current = ?1 FROM \"auth.users\" WHERE deleted_at IS NULL AND {condition}{address_condition}"
            ),
            rusqlite::params_from_iter(std::iter::once(hash).chain(presented.email.as_ref())),
            |row| {
                Ok(Holder {
                    id: row.get(0)?,
                    sent_at: row.get(1)?,
                    is_recovery: row.get::<_, Option<bool>>(2)?.unwrap_or(false),
                    banned_until: row.get(3)?,
                    is_current: row.get::<_, Option<bool>>(4)?.unwrap_or(false),
                })
            },
        )
        .optional()
        .map_err(database)?;
    let Holder {
        id,
        sent_at,
        is_recovery,
        banned_until,
        is_current,
    } = found.ok_or_else(invalid)?;
    if banned_until.is_some_and(|until| until > timestamp_now()) {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "user_banned",
            "User is banned",
        ));
    }
    if expired(app, sent_at.as_deref()) {
        return Err(invalid());
    }
    if kind == "email" {
        kind = if is_recovery { "magiclink" } else { "signup" };
    }
    let now = timestamp_now();
    match kind {
        "signup" | "invite" => {
            connection
                .execute(
                    "UPDATE \"auth.users\" SET confirmation_token = '' WHERE id = ?1",
                    [&id],
                )
                .map_err(database)?;
            confirm(connection, &id, &now)?;
        }
        "recovery" | "magiclink" => {
            connection
                .execute(
                    "UPDATE \"auth.users\" SET recovery_token = '' WHERE id = ?1",
                    [&id],
                )
                .map_err(database)?;
            confirm(connection, &id, &now)?;
        }
        _ => {
            let auth = &app.project().config.auth;
            let (status, email): (i64, Option<String>) = connection
                .query_row("SELECT coalesce(email_change_confirm_status, 0), email FROM \"auth.users\" WHERE id = ?1", [&id], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(database)?;
            let secure = auth.email.enable_confirmations && auth.email.double_confirm_changes;
            if secure && status == 0 && email.is_some_and(|email| !email.is_empty()) {
                let column = if is_current {
                    "email_change_token_current"
                } else {
                    "email_change_token_new"
                };
                connection
                    .execute(&format!("UPDATE \"auth.users\" SET email_change_confirm_status = 1, {column} = '' WHERE id = ?1"), [&id])
                    .map_err(database)?;
                return Ok(Verified::HalfOfEmailChange);
            }
            change_email(connection, &id, &now)?;
        }
    }
    if presented.link && hash.starts_with(pkce::PREFIX) {
        return Ok(Verified::Code(pkce::issue_code(
            connection,
            &id,
            &presented.kind,
        )?));
    }
    let (session, refresh) = users::start_session(connection, &id).map_err(database)?;
    let user = users::user_json(connection, &id)
        .map_err(database)?
        .ok_or_else(|| AuthError::internal("user vanished"))?;
    Ok(Verified::Session(user, session, refresh))
}

/// Marks the user's email confirmed (and verified in its metadata and email identity).
fn confirm(connection: &Connection, id: &str, now: &str) -> Result<()> {
    connection
        .execute(
            "UPDATE \"auth.users\" SET email_confirmed_at = coalesce(email_confirmed_at, ?2), confirmed_at = coalesce(confirmed_at, ?2),
               raw_user_meta_data = json_set(coalesce(raw_user_meta_data, '{}'), '$.email_verified', json('true')) WHERE id = ?1",
            params![id, now],
        )
        .map_err(database)?;
    connection
        .execute(
            "UPDATE \"auth.identities\" SET identity_data = json_set(identity_data, '$.email_verified', json('true')), updated_at = ?2 WHERE user_id = ?1 AND provider = 'email'",
            params![id, now],
        )
        .map_err(database)?;
    Ok(())
}

/// Completes an email change: the pending address becomes the user's, confirmed.
fn change_email(connection: &Connection, id: &str, now: &str) -> Result<()> {
    let new_email: String = connection
        .query_row(
            "SELECT coalesce(email_change, '') FROM \"auth.users\" WHERE id = ?1",
            [id],
            |row| row.get(0),
        )
        .map_err(database)?;
    if users::find_by_email(connection, &new_email)
        .map_err(database)?
        .is_some_and(|other| other.id != id)
    {
        return Err(email_exists());
    }
    connection
        .execute(
            "UPDATE \"auth.users\" SET email = ?2, email_change = '', email_change_token_new = '', email_change_token_current = '', email_change_confirm_status = 0,
               email_confirmed_at = coalesce(email_confirmed_at, ?3), is_anonymous = 0, updated_at = ?3 WHERE id = ?1",
            params![id, new_email, now],
        )
        .map_err(database)?;
    let updated = connection
        .execute(
            "UPDATE \"auth.identities\" SET email = ?2, identity_data = json_set(identity_data, '$.email', ?2, '$.email_verified', json('true')), updated_at = ?3 WHERE user_id = ?1 AND provider = 'email'",
            params![id, new_email, now],
        )
        .map_err(database)?;
    if updated == 0 {
        let identity =
            json!({"sub": id, "email": new_email, "email_verified": true, "phone_verified": false});
        connection
            .execute(
                "INSERT INTO \"auth.identities\" (provider_id, user_id, identity_data, provider, email, created_at, updated_at) VALUES (?1, ?1, ?2, 'email', ?3, ?4, ?4)",
                params![id, identity.to_string(), new_email, now],
            )
            .map_err(database)?;
    }
    Ok(())
}

/// `POST /verify`: a code with its address, or a token hash, for a session.
pub async fn verify_post(
    State(app): State<App>,
    ConnectInfo(Peer(address)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    rate_limit(&app, Budget::Verify, &address)?;
    let body = parse_body(&body)?;
    let kind = text(&body, "type")
        .ok_or_else(|| AuthError::validation("Verify requires a verification type"))?
        .to_owned();
    let (token, token_hash_given) = (text(&body, "token"), text(&body, "token_hash"));
    let presented = match (token, token_hash_given) {
        (Some(token), None) => {
            let (email, phone) = (text(&body, "email"), text(&body, "phone"));
            let email = match (email, phone) {
                (Some(email), None) => valid_email(Some(email)).map_err(|_| {
                    AuthError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "validation_failed",
                        "Invalid email format",
                    )
                })?,
                (None, Some(phone)) => {
                    // GoTrue's check: E.164 digits once a leading `+` and spaces are dropped.
                    let digits = phone.strip_prefix('+').unwrap_or(phone).replace(' ', "");
                    let e164 = (2..=15).contains(&digits.len())
                        && digits.bytes().all(|byte| byte.is_ascii_digit())
                        && !digits.starts_with('0');
                    if !e164 {
                        return Err(AuthError::new(
                            StatusCode::BAD_REQUEST,
                            "validation_failed",
                            "Invalid phone number format (E.164 required)",
                        ));
                    }
                    // No phone provider: no SMS token was ever sent to match.
                    return Err(AuthError::new(
                        StatusCode::FORBIDDEN,
                        "otp_expired",
                        "Token has expired or is invalid",
                    ));
                }
                _ => {
                    return Err(AuthError::validation(
                        "Only an email address or phone number should be provided on verify",
                    ));
                }
            };
            Presented {
                kind,
                hash: token_hash(&email, token),
                email: Some(email),
                link: false,
            }
        }
        (None, Some(hash)) => {
            if ["email", "phone", "redirect_to"]
                .iter()
                .any(|key| text(&body, key).is_some())
            {
                return Err(AuthError::validation(
                    "Only the token_hash and type should be provided",
                ));
            }
            Presented {
                kind,
                hash: hash.to_owned(),
                email: None,
                link: false,
            }
        }
        _ => {
            return Err(AuthError::validation(
                "Verify requires either a token or a token hash",
            ));
        }
    };
    let job_app = app.clone();
    let verified = write(&app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let verified = verify_in(&job_app, &transaction, &presented)?;
        transaction.commit().map_err(database)?;
        Ok(verified)
    })
    .await?;
    Ok(match verified {
        Verified::Session(user, session, refresh) => Json(session_json(
            &app,
            &issuer(&headers),
            &user,
            &session,
            &refresh,
            "otp",
        ))
        .into_response(),
        Verified::HalfOfEmailChange => {
            Json(json!({"msg": HALF_CONFIRMED, "code": "200"})).into_response()
        }
        Verified::Code(_) => return Err(AuthError::internal("an auth code for a posted token")),
    })
}

/// `GET /verify?token=…&type=…&redirect_to=…` (the emailed link): 303 to `redirect_to` with
/// the session in the fragment, or the error there as GoTrue puts it.
pub async fn verify_get(
    State(app): State<App>,
    ConnectInfo(Peer(address)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Query(query): Params,
) -> Result<Response> {
    rate_limit(&app, Budget::Verify, &address)?;
    let kind = query
        .get("type")
        .filter(|kind| !kind.is_empty())
        .ok_or_else(|| AuthError::validation("Verify requires a verification type"))?
        .clone();
    let token = query
        .get("token")
        .filter(|token| !token.is_empty())
        .ok_or_else(|| AuthError::validation("Verify requires a token or a token hash"))?
        .clone();
    let redirect_to = referrer(&app, &query, &headers);
    let pkce = token.starts_with(pkce::PREFIX);
    let presented = Presented {
        kind: kind.clone(),
        hash: token,
        email: None,
        link: true,
    };
    let job_app = app.clone();
    let verified = write(&app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let verified = verify_in(&job_app, &transaction, &presented)?;
        transaction.commit().map_err(database)?;
        Ok(verified)
    })
    .await;
    let pairs = |pairs: &[(&str, &str)]| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    // `(query, fragment)`: a PKCE flow reads the query, an implicit one the fragment.
    let (search, fragment) = match verified {
        Ok(Verified::Code(code)) => (Some(pairs(&[("code", &code)])), None),
        Ok(Verified::Session(user, session, refresh)) => {
            let session = session_json(&app, &issuer(&headers), &user, &session, &refresh, "otp");
            (None, Some(session_fragment(&session, &[("type", &kind)])))
        }
        Ok(Verified::HalfOfEmailChange) => (
            pkce.then(|| pairs(&[("message", HALF_CONFIRMED)])),
            Some(pairs(&[("message", HALF_CONFIRMED), ("sb", "")])),
        ),
        Err(error) if error.status.is_server_error() => return Err(error),
        Err(error) => error_redirect(&error, pkce),
    };
    redirect(StatusCode::SEE_OTHER, &redirect_to, search, fragment)
}

/// The fragment an implicit flow's redirect carries the session in, as GoTrue writes it.
pub(super) fn session_fragment(session: &Value, extra: &[(&str, &str)]) -> String {
    let text = |key: &str| session[key].as_str().unwrap_or("").to_owned();
    form_urlencoded::Serializer::new(String::new())
        .append_pair("access_token", &text("access_token"))
        .append_pair("expires_at", &session["expires_at"].to_string())
        .append_pair("expires_in", &session["expires_in"].to_string())
        .append_pair("refresh_token", &text("refresh_token"))
        .append_pair("token_type", "bearer")
        .extend_pairs(extra)
        .finish()
}

/// `(query, fragment)` of a redirect that reports `error` as GoTrue's do: its OAuth error, code
/// and description in the fragment, and in the query too when `in_query` (a PKCE flow).
pub(super) fn error_redirect(
    error: &AuthError,
    in_query: bool,
) -> (Option<String>, Option<String>) {
    let oauth = match (error.code, error.status.as_u16()) {
        ("signup_disabled" | "user_banned" | "provider_email_needs_verification", _) => {
            "access_denied"
        }
        (_, 401) => "unauthorized_client",
        (_, 403) => "access_denied",
        (_, status) if status >= 500 => "server_error",
        _ => "invalid_request",
    };
    let reason = [
        ("error", oauth),
        ("error_code", error.code),
        ("error_description", &error.message),
    ];
    let encode = |pairs: &[(&str, &str)]| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    let fragment = encode(&[reason.as_slice(), &[("sb", "")]].concat());
    (in_query.then(|| encode(&reason)), Some(fragment))
}

/// A redirect to `target` (its fragment replaced) with `search` added to its query.
pub(super) fn redirect(
    status: StatusCode,
    target: &str,
    search: Option<String>,
    fragment: Option<String>,
) -> Result<Response> {
    let mut location = target.split('#').next().unwrap_or(target).to_owned();
    if let Some(search) = search {
        location.push(if location.contains('?') { '&' } else { '?' });
        location.push_str(&search);
    }
    if let Some(fragment) = fragment {
        location.push('#');
        location.push_str(&fragment);
    }
    let mut response = status.into_response();
    let value = HeaderValue::from_str(&location).map_err(AuthError::internal)?;
    response.headers_mut().insert("location", value);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_gotrues() {
        // GoTrue: fmt.Sprintf("%x", sha256.Sum224([]byte(email + otp))); checked with Python hashlib.
        assert_eq!(
            token_hash("ana@example.com", "123456"),
            "05325077d7514b98175a66613cf250ef68f3fb3b9b6c7092e5e11d09"
        );
        assert_eq!(new_code(6).len(), 6);
        assert!(new_code(6).chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn redirects_are_allowed_as_gotrue_allows_them() {
        let config = crate::config::AuthConfig {
            site_url: "http://app.example.com:3000".into(),
            additional_redirect_urls: vec![
                "https://*.example.org/**".into(),
                "myapp://callback".into(),
            ],
            ..Default::default()
        };
        assert!(redirect_allowed(
            &config,
            "http://app.example.com:3000/welcome"
        ));
        assert!(!redirect_allowed(
            &config,
            "http://app.example.com:4000/welcome"
        ));
        assert!(redirect_allowed(&config, "http://127.0.0.1:9999/welcome"));
        assert!(redirect_allowed(
            &config,
            "https://shop.example.org/a/b?c=d"
        ));
        assert!(!redirect_allowed(&config, "https://a.b.example.org/"));
        assert!(!redirect_allowed(&config, "https://evil.com/"));
        assert!(!redirect_allowed(&config, "https://example.org.evil.com/"));
        assert!(redirect_allowed(&config, "myapp://callback"));
        assert!(!redirect_allowed(&config, "not a url"));
    }

    #[test]
    fn action_links_escape_redirects_that_need_it() {
        assert_eq!(
            action_link("http://h/auth/v1", "abc", "signup", "http://x/welcome"),
            "http://h/auth/v1/verify?token=abc&type=signup&redirect_to=http://x/welcome"
        );
        assert_eq!(
            action_link("http://h/auth/v1", "abc", "signup", "http://x/?a=b&c=d"),
            "http://h/auth/v1/verify?token=abc&type=signup&redirect_to=http%3A%2F%2Fx%2F%3Fa%3Db%26c%3Dd"
        );
    }
}
