//! The GoTrue-compatible endpoints under `/auth/v1` (protocol.md §3): sign-up (and anonymous
//! sign-in), the password and refresh-token grants, the user, logout, settings, health and the
//! admin user API. Users live in `auth.users`, so the project's triggers and foreign keys apply.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::disabled;
use super::email;
use super::error::AuthError;
use super::hashing;
use super::keys::ADMIN_ROLES;
use super::limits::Budget;
use super::mfa;
use super::oauth;
use super::pkce;
use super::users::{self, NewUser, Refresh};
use crate::app::App;

pub(super) type Result<T> = std::result::Result<T, AuthError>;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/health", get(health))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/settings", get(settings))
        .route("/signup", post(sign_up))
        .route("/token", post(token))
        .route("/user", get(get_user).put(update_user))
        .route("/logout", post(logout))
        .route("/otp", post(email::otp))
        .route("/magiclink", post(email::magic_link))
        .route("/verify", get(email::verify_get).post(email::verify_post))
        .route("/resend", post(email::resend))
        .route("/recover", post(email::recover))
        .route("/reauthenticate", get(email::reauthenticate))
        .route("/invite", post(email::invite))
        .route("/admin/generate_link", post(email::generate_link))
        .route("/authorize", get(oauth::authorize))
        .route("/callback", get(oauth::callback).post(oauth::callback))
        .route("/user/identities/authorize", get(oauth::link_identity))
        .route(
            "/user/identities/{id}",
            axum::routing::delete(oauth::unlink_identity),
        )
        .route("/admin/users", get(admin_list).post(admin_create))
        .route(
            "/admin/users/{id}",
            get(admin_get).put(admin_update).delete(admin_delete),
        )
        .merge(disabled::routes())
        .merge(mfa::routes())
        .layer(axum::middleware::map_response(api_version_header))
}

async fn api_version_header(mut response: Response) -> Response {
    response.headers_mut().insert(
        "x-supabase-api-version",
        HeaderValue::from_static("2024-01-01"),
    );
    response
}

/// `GET /auth/v1/health`: answers once the server is ready.
pub async fn health() -> Json<Value> {
    Json(
        json!({"version": env!("CARGO_PKG_VERSION"), "name": "GoTrue", "description": "Solobase's GoTrue-compatible auth API"}),
    )
}

/// `GET /.well-known/jwks.json`: the public signing keys (none with only an HS256 secret).
async fn jwks(State(app): State<App>) -> Json<Value> {
    Json(app.keys().jwks())
}

async fn settings(State(app): State<App>) -> Json<Value> {
    let auth = &app.project().config.auth;
    let mut external: serde_json::Map<String, Value> = [
        "apple",
        "azure",
        "bitbucket",
        "discord",
        "facebook",
        "figma",
        "github",
        "gitlab",
        "google",
        "keycloak",
        "linkedin_oidc",
        "notion",
        "slack_oidc",
        "spotify",
        "twitch",
        "twitter",
        "workos",
        "zoom",
        "phone",
    ]
    .iter()
    .map(|name| (name.to_string(), Value::Bool(false)))
    .collect();
    for name in auth.providers.keys() {
        external.insert(name.clone(), Value::Bool(true));
    }
    external.insert(
        "anonymous_users".into(),
        Value::Bool(auth.enable_anonymous_sign_ins),
    );
    external.insert("email".into(), Value::Bool(auth.email.enable_signup));
    Json(json!({
        "external": external,
        "disable_signup": !auth.enable_signup,
        "mailer_autoconfirm": !auth.email.enable_confirmations,
        "phone_autoconfirm": true,
        "sms_provider": "",
        "saml_enabled": false,
    }))
}

pub(super) fn parse_body(body: &Bytes) -> Result<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|error| {
        AuthError::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("Could not parse request body as JSON: {error}"),
        )
    })
}

pub(super) fn text<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

/// The API URL clients reached, for the tokens' `iss`.
pub(super) fn issuer(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1:54321");
    format!("http://{host}/auth/v1")
}

/// Spends one request of `budget` for the caller's address.
pub(super) fn rate_limit(app: &App, budget: Budget, address: &SocketAddr) -> Result<()> {
    app.auth_limits().check(budget, address.ip())
}

fn check_password(app: &App, password: &str) -> Result<()> {
    let minimum = app.project().config.auth.minimum_password_length;
    if password.chars().count() < minimum {
        let mut error = AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            format!("Password should be at least {minimum} characters."),
        );
        error.reasons = vec!["length"];
        return Err(error);
    }
    Ok(())
}

async fn hash_password(password: String) -> Result<String> {
    hashing::run(move || {
        use argon2::password_hash::PasswordHasher;
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
    })
    .await
    .ok_or_else(|| AuthError::internal("password hashing failed"))?
    .map_err(AuthError::internal)
}

/// An Argon2id hash (default parameters, like ours) of a password nobody knows.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$x+LkUMjTA7gvSHL01yR4PA$d0bFOH/kts1uRKFLn+xwQcxy/J45ebFbFtotPKyyCPc";

/// Verifies Argon2id hashes (ours) and bcrypt hashes (Supabase's, seeds' `crypt()`).
async fn verify_password(password: String, hash: String) -> bool {
    hashing::run(move || {
        if hash.starts_with("$argon2") {
            use argon2::password_hash::{PasswordVerifier, phc::PasswordHash};
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        } else {
            bcrypt::verify(&password, &hash).unwrap_or(false)
        }
    })
    .await
    .unwrap_or(false)
}

/// A session for the user: a signed access token with Supabase's claims and a refresh token.
pub(super) fn session_json(
    app: &App,
    issuer: &str,
    user: &Value,
    session_id: &str,
    refresh_token: &str,
    method: &str,
) -> Value {
    let now = jiff::Timestamp::now().as_second();
    let amr = json!([{"method": method, "timestamp": now}]);
    session_json_with(app, issuer, user, session_id, refresh_token, "aal1", amr)
}

/// A session whose assurance level and methods are given (`amr`, newest first).
pub(super) fn session_json_with(
    app: &App,
    issuer: &str,
    user: &Value,
    session_id: &str,
    refresh_token: &str,
    aal: &str,
    amr: Value,
) -> Value {
    let expires_in = app.project().config.auth.jwt_expiry;
    let now = jiff::Timestamp::now().as_second();
    let expires_at = now + expires_in as i64;
    let claims = json!({
        "iss": issuer,
        "sub": user["id"],
        "aud": "authenticated",
        "exp": expires_at,
        "iat": now,
        "email": user["email"],
        "phone": user["phone"],
        "app_metadata": user["app_metadata"],
        "user_metadata": user["user_metadata"],
        "role": "authenticated",
        "aal": aal,
        "amr": amr,
        "session_id": session_id,
        "is_anonymous": user["is_anonymous"],
    });
    json!({
        "access_token": app.keys().sign(&claims),
        "token_type": "bearer",
        "expires_in": expires_in,
        "expires_at": expires_at,
        "refresh_token": refresh_token,
        "user": user,
    })
}

/// Runs `job` on a read connection for the server itself (no caller claims).
pub(super) async fn read<T: Send + 'static>(
    app: &App,
    job: impl Fn(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T> {
    app.store()
        .read(None, job)
        .await
        .map_err(AuthError::internal)?
        .map_err(database)
}

/// A new password's hash, after checking it against the configured minimum.
pub(super) async fn new_password_hash(app: &App, password: Option<&str>) -> Result<Option<String>> {
    let Some(password) = password else {
        return Ok(None);
    };
    check_password(app, password)?;
    Ok(Some(hash_password(password.to_owned()).await?))
}

/// Runs `job` on the writer for the server itself (no caller claims).
pub(super) async fn write<T: Send + 'static>(
    app: &App,
    job: impl FnOnce(&mut rusqlite::Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    app.store()
        .write_grouped(None, job)
        .await
        .map_err(AuthError::internal)?
}

pub(super) fn database(error: rusqlite::Error) -> AuthError {
    AuthError::internal(error)
}

/// `POST /signup`: email and password, or no credentials for an anonymous user.
async fn sign_up(
    State(app): State<App>,
    ConnectInfo(crate::wire::Peer(address)): ConnectInfo<crate::wire::Peer>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response> {
    let body = parse_body(&body)?;
    let config = app.project().config.auth.clone();
    let email = text(&body, "email").map(str::to_owned);
    let password = text(&body, "password").map(str::to_owned);
    let data = body
        .get("data")
        .filter(|data| data.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let anonymous = email.is_none() && password.is_none() && text(&body, "phone").is_none();
    if anonymous && !config.enable_anonymous_sign_ins {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "anonymous_provider_disabled",
            "Anonymous sign-ins are disabled",
        ));
    }
    let budget = if anonymous {
        Budget::Anonymous
    } else {
        Budget::SignUp
    };
    rate_limit(&app, budget, &address)?;
    if !config.enable_signup {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "signup_disabled",
            "Signups not allowed for this instance",
        ));
    }
    let issuer = issuer(&headers);
    let challenge = pkce::Challenge::of(&body)?;
    let Some(email) = email else {
        if text(&body, "phone").is_some() {
            return Err(AuthError::new(
                StatusCode::BAD_REQUEST,
                "phone_provider_disabled",
                "Phone signups are disabled",
            ));
        }
        if password.is_some() {
            return Err(AuthError::validation("Signup requires a valid email"));
        }
        let (user, session, refresh) = write(&app, move |connection| {
            let transaction = connection.savepoint().map_err(database)?;
            let id = users::create(
                &transaction,
                NewUser {
                    id: None,
                    email: None,
                    password_hash: None,
                    confirmed: false,
                    user_metadata: data,
                    app_metadata: json!({}),
                    is_anonymous: true,
                },
            )
            .map_err(database)?;
            let (session, refresh) = users::start_session(&transaction, &id).map_err(database)?;
            let user = users::user_json(&transaction, &id)
                .map_err(database)?
                .ok_or_else(|| AuthError::internal("user vanished"))?;
            transaction.commit().map_err(database)?;
            Ok((user, session, refresh))
        })
        .await?;
        return Ok(Json(session_json(
            &app,
            &issuer,
            &user,
            &session,
            &refresh,
            "anonymous",
        ))
        .into_response());
    };
    if !config.email.enable_signup {
        return Err(AuthError::new(
            StatusCode::BAD_REQUEST,
            "email_provider_disabled",
            "Email signups are disabled",
        ));
    }
    check_email(&email)?;
    let password =
        password.ok_or_else(|| AuthError::validation("Signup requires a valid password"))?;
    check_password(&app, &password)?;
    let hash = hash_password(password).await?;
    let confirmed = !config.email.enable_confirmations;
    let (job_data, email_given) = (data.clone(), email.clone());
    let signed_up = write(&app, move |connection| {
        let data = job_data;
        let transaction = connection.savepoint().map_err(database)?;
        if let Some(existing) = users::find_by_email(&transaction, &email).map_err(database)? {
            // As GoTrue answers a repeated sign-up: with confirmations on, nothing tells the
            // caller the address is taken — an unconfirmed user is sent the confirmation
            // again, a confirmed one is answered with a made-up pending user.
            return match (confirmed, existing.email_confirmed_at.is_some()) {
                (true, _) => Err(AuthError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "user_already_exists",
                    "User already registered",
                )),
                (false, false) => {
                    let user = users::user_json(&transaction, &existing.id)
                        .map_err(database)?
                        .ok_or_else(|| AuthError::internal("user vanished"))?;
                    Ok(Some((user, None)))
                }
                (false, true) => Ok(None),
            };
        }
        let id = users::create(
            &transaction,
            NewUser {
                id: None,
                email: Some(&email),
                password_hash: Some(hash),
                confirmed,
                user_metadata: data,
                app_metadata: json!({"provider": "email", "providers": ["email"]}),
                is_anonymous: false,
            },
        )
        .map_err(database)?;
        let session = if confirmed {
            Some(users::start_session(&transaction, &id).map_err(database)?)
        } else {
            None
        };
        let user = users::user_json(&transaction, &id)
            .map_err(database)?
            .ok_or_else(|| AuthError::internal("user vanished"))?;
        transaction.commit().map_err(database)?;
        Ok(Some((user, session)))
    })
    .await?;
    let Some((user, session)) = signed_up else {
        return Ok(Json(made_up_user(&email_given, data)).into_response());
    };
    Ok(Json(match session {
        Some((session, refresh)) => {
            session_json(&app, &issuer, &user, &session, &refresh, "password")
        }
        None => {
            // Pending until the emailed link or code is verified.
            let id = user["id"].as_str().unwrap_or_default().to_owned();
            let email = user["email"].as_str().unwrap_or_default().to_owned();
            email::send_confirmation(&app, &headers, &query, id.clone(), email, challenge).await?;
            read(&app, move |connection| users::user_json(connection, &id))
                .await?
                .unwrap_or(user)
        }
    })
    .into_response())
}

/// The pending user GoTrue answers a sign-up with an address a confirmed user holds
/// (`sanitizeUser`): a fresh id, nothing confirmed, the request's metadata, no identities.
fn made_up_user(email: &str, data: Value) -> Value {
    let now = users::gotrue_time(Some(crate::store::functions::timestamp_now()));
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "aud": "authenticated",
        "role": "",
        "email": email,
        "phone": "",
        "confirmation_sent_at": now,
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": data,
        "identities": [],
        "created_at": now,
        "updated_at": now,
        "is_anonymous": false,
    })
}

/// Refuses an email that is not of the shape GoTrue accepts (checkmail's format check):
/// `validation_failed`, "Unable to validate email address: invalid format".
pub(super) fn check_email(email: &str) -> Result<()> {
    static FORMAT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$",
        )
        .expect("the email pattern is valid")
    });
    if !FORMAT.is_match(email) {
        return Err(AuthError::validation(
            "Unable to validate email address: invalid format",
        ));
    }
    Ok(())
}

/// Whether an admin's `ban_duration` still holds for the user.
fn banned(user: &users::User) -> bool {
    user.banned_until
        .as_deref()
        .is_some_and(|until| until > crate::store::functions::timestamp_now().as_str())
}

/// The admin API's `ban_duration`: a Go duration from now (`"24h"`), or `"none"` to lift a
/// ban; `None` when the body has none.
fn ban_until(body: &Value) -> Result<Option<Option<String>>> {
    let Some(duration) = text(body, "ban_duration") else {
        return Ok(None);
    };
    if duration == "none" {
        return Ok(Some(None));
    }
    let invalid = || {
        AuthError::validation(format!(
            "invalid format for ban duration: time: invalid duration {duration:?}"
        ))
    };
    let length = crate::config::parse_go_duration(duration).ok_or_else(invalid)?;
    let until = jiff::SignedDuration::try_from(length)
        .ok()
        .and_then(|length| jiff::Timestamp::now().checked_add(length).ok())
        .ok_or_else(invalid)?;
    Ok(Some(Some(crate::store::functions::format_timestamptz(
        until,
    ))))
}

fn set_ban(
    connection: &rusqlite::Connection,
    id: &str,
    until: Option<Option<String>>,
) -> Result<()> {
    if let Some(until) = until {
        connection
            .execute(
                "UPDATE \"auth.users\" SET banned_until = ?2 WHERE id = ?1",
                rusqlite::params![id, until],
            )
            .map_err(database)?;
    }
    Ok(())
}

/// `POST /token?grant_type=password|refresh_token`.
async fn token(
    State(app): State<App>,
    ConnectInfo(crate::wire::Peer(address)): ConnectInfo<crate::wire::Peer>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    raw: Bytes,
) -> Result<Response> {
    let body = parse_body(&raw)?;
    let issuer = issuer(&headers);
    let grant = query.get("grant_type").map(String::as_str);
    if matches!(
        grant,
        Some("password" | "refresh_token" | "id_token" | "pkce")
    ) {
        rate_limit(&app, Budget::Token, &address)?;
    }
    match grant {
        Some("id_token") => disabled::id_token_grant(&raw),
        Some("pkce") => pkce::grant(&app, &headers, &body).await,
        Some("web3") => Err(disabled::web3_grant()),
        Some("password") => {
            let email = text(&body, "email").map(str::to_owned);
            let Some(email) = email else {
                return Err(AuthError::validation("missing email or phone"));
            };
            if email.contains(char::is_control) {
                return Err(AuthError::validation(
                    "Unable to validate email address: invalid format",
                ));
            }
            let password = text(&body, "password").unwrap_or("").to_owned();
            let invalid = || {
                AuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_credentials",
                    "Invalid login credentials",
                )
            };
            let lookup = email.clone();
            let user = read(&app, move |connection| {
                users::find_by_email(connection, &lookup)
            })
            .await?;
            // An unknown email (or a user without a password) is checked against a dummy hash,
            // so the answer takes as long as for a wrong password.
            let hash = user
                .as_ref()
                .and_then(|user| user.encrypted_password.clone())
                .filter(|hash| !hash.is_empty());
            let verified = verify_password(
                password,
                hash.clone().unwrap_or_else(|| DUMMY_HASH.to_owned()),
            )
            .await;
            let (Some(user), Some(_), true) = (user, hash, verified) else {
                return Err(invalid());
            };
            if user.email_confirmed_at.is_none() {
                return Err(AuthError::new(
                    StatusCode::BAD_REQUEST,
                    "email_not_confirmed",
                    "Email not confirmed",
                ));
            }
            if banned(&user) {
                return Err(AuthError::new(
                    StatusCode::BAD_REQUEST,
                    "user_banned",
                    "User is banned",
                ));
            }
            let id = user.id.clone();
            let (user, session, refresh) = write(&app, move |connection| {
                let (session, refresh) = users::start_session(connection, &id).map_err(database)?;
                let user = users::user_json(connection, &id)
                    .map_err(database)?
                    .ok_or_else(|| AuthError::internal("user vanished"))?;
                Ok((user, session, refresh))
            })
            .await?;
            Ok(Json(session_json(
                &app, &issuer, &user, &session, &refresh, "password",
            ))
            .into_response())
        }
        Some("refresh_token") => {
            let Some(presented) = text(&body, "refresh_token").map(str::to_owned) else {
                return Ok((StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_request", "error_description": "refresh_token required"}))).into_response());
            };
            let reuse = app.project().config.auth.refresh_token_reuse_interval;
            let (user, session, refresh, assurance) = write(&app, move |connection| {
                let transaction = connection.savepoint().map_err(database)?;
                let outcome = users::refresh(&transaction, &presented, reuse).map_err(database)?;
                if let Refresh::Granted(user_id, ..) = &outcome
                    && users::find_by_id(&transaction, user_id)
                        .map_err(database)?
                        .is_some_and(|user| banned(&user))
                {
                    return Err(AuthError::new(
                        StatusCode::BAD_REQUEST,
                        "user_banned",
                        "User is banned",
                    ));
                }
                transaction.commit().map_err(database)?;
                match outcome {
                    Refresh::Granted(user_id, session, refresh) => {
                        let assurance = mfa::assurance(connection, &session).map_err(database)?;
                        let user = users::user_json(connection, &user_id)
                            .map_err(database)?
                            .ok_or_else(|| {
                                AuthError::new(
                                    StatusCode::BAD_REQUEST,
                                    "user_not_found",
                                    "User not found",
                                )
                            })?;
                        Ok((user, session, refresh, assurance))
                    }
                    Refresh::NotFound => Err(AuthError::new(
                        StatusCode::BAD_REQUEST,
                        "refresh_token_not_found",
                        "Invalid Refresh Token: Refresh Token Not Found",
                    )),
                    Refresh::SessionMissing => Err(AuthError::new(
                        StatusCode::BAD_REQUEST,
                        "session_not_found",
                        "Invalid Refresh Token: No Valid Session Found",
                    )),
                    Refresh::AlreadyUsed => Err(AuthError::new(
                        StatusCode::BAD_REQUEST,
                        "refresh_token_already_used",
                        "Invalid Refresh Token: Already Used",
                    )),
                }
            })
            .await?;
            Ok(Json(match assurance {
                Some((aal, amr)) => {
                    session_json_with(&app, &issuer, &user, &session, &refresh, &aal, amr)
                }
                None => session_json(&app, &issuer, &user, &session, &refresh, "password"),
            })
            .into_response())
        }
        _ => Err(AuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_credentials",
            "unsupported_grant_type",
        )),
    }
}

/// The signed-in caller of `/user` and `/logout`, with a live session.
/// The user a request's bearer token names (it must exist, and so must its session), with the
/// token's session id.
pub(super) async fn signed_in(
    app: &App,
    headers: &HeaderMap,
) -> Result<(users::User, Option<String>)> {
    let token = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .ok_or_else(|| {
            AuthError::new(
                StatusCode::UNAUTHORIZED,
                "no_authorization",
                "This endpoint requires a valid Bearer token",
            )
        })?;
    let claims = app.keys().verify(token).map_err(|error| {
        AuthError::new(
            StatusCode::FORBIDDEN,
            "bad_jwt",
            format!(
                "invalid JWT: unable to parse or verify signature, {}",
                error.message
            ),
        )
    })?;
    let user_id = claims
        .get("sub")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            AuthError::new(
                StatusCode::FORBIDDEN,
                "bad_jwt",
                "invalid claim: missing sub claim",
            )
        })?;
    let session = claims
        .get("session_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (check_user, check_session) = (user_id.clone(), session.clone());
    let (user, session_exists) = read(app, move |connection| {
        let user = users::find_by_id(connection, &check_user)?;
        let session = match &check_session {
            Some(session) => users::session_exists(connection, session)?,
            None => true,
        };
        Ok((user, session))
    })
    .await?;
    let Some(user) = user else {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "user_not_found",
            "User from sub claim in JWT does not exist",
        ));
    };
    if banned(&user) {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "user_banned",
            "User is banned",
        ));
    }
    if !session_exists {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "session_not_found",
            "Session from session_id claim in JWT does not exist",
        ));
    }
    Ok((user, session))
}

async fn get_user(State(app): State<App>, headers: HeaderMap) -> Result<Response> {
    let (user, _) = signed_in(&app, &headers).await?;
    let user = read(&app, move |connection| {
        users::user_json(connection, &user.id)
    })
    .await?;
    user.map(|user| Json(user).into_response()).ok_or_else(|| {
        AuthError::new(
            StatusCode::FORBIDDEN,
            "user_not_found",
            "User from sub claim in JWT does not exist",
        )
    })
}

/// `PUT /user`: email, password (with the reauthentication `nonce` when given) and `data`
/// (merged; `null` deletes a key). With `enable_confirmations` a new email is only pending
/// until its confirmation link is followed.
async fn update_user(
    State(app): State<App>,
    ConnectInfo(crate::wire::Peer(address)): ConnectInfo<crate::wire::Peer>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response> {
    let (current, _) = signed_in(&app, &headers).await?;
    rate_limit(&app, Budget::UserUpdate, &address)?;
    let user_id = current.id.clone();
    let body = parse_body(&body)?;
    if body.get("app_metadata").is_some() {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "not_admin",
            "User not allowed",
        ));
    }
    let hash = match text(&body, "password") {
        Some(password) => {
            check_password(&app, password)?;
            if let Some(old) = current.encrypted_password.clone()
                && verify_password(password.to_owned(), old).await
            {
                return Err(AuthError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "same_password",
                    "New password should be different from the old password.",
                ));
            }
            Some(hash_password(password.to_owned()).await?)
        }
        None => None,
    };
    let email = text(&body, "email").map(str::to_lowercase);
    if let Some(email) = email.as_deref() {
        check_email(email)?;
    }
    let changed = email
        .clone()
        .filter(|email| current.email.as_deref().map(str::to_lowercase).as_deref() != Some(email));
    let (email, pending_email) = if app.project().config.auth.email.enable_confirmations {
        (None, changed)
    } else {
        (changed, None)
    };
    let nonce = text(&body, "nonce")
        .filter(|_| hash.is_some())
        .map(str::to_owned);
    let metadata = body
        .get("data")
        .map(|data| users::merge_metadata(&current.user_metadata, data));
    let job_app = app.clone();
    let job_user = user_id.clone();
    let user = write(&app, move |connection| {
        let user_id = job_user;
        let transaction = connection.savepoint().map_err(database)?;
        if let Some(nonce) = nonce {
            email::spend_nonce(&job_app, &transaction, &user_id, &nonce)?;
        }
        apply_changes(
            &transaction,
            &user_id,
            email.as_deref(),
            hash,
            metadata,
            None,
        )?;
        let user = users::user_json(&transaction, &user_id).map_err(database)?;
        transaction.commit().map_err(database)?;
        Ok(user)
    })
    .await?;
    let Some(new_email) = pending_email else {
        return Ok(Json(user).into_response());
    };
    email::send_email_change(&app, &headers, &query, &user_id, &new_email).await?;
    let user = read(&app, move |connection| {
        users::user_json(connection, &user_id)
    })
    .await?;
    Ok(Json(user).into_response())
}

fn apply_changes(
    connection: &rusqlite::Connection,
    user_id: &str,
    email: Option<&str>,
    hash: Option<String>,
    user_metadata: Option<Value>,
    app_metadata: Option<Value>,
) -> Result<()> {
    let now = crate::store::functions::timestamp_now();
    if let Some(email) = email {
        if users::find_by_email(connection, email)
            .map_err(database)?
            .is_some_and(|other| other.id != user_id)
        {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "email_exists",
                "A user with this email address has already been registered",
            ));
        }
        connection
            .execute(
                "UPDATE \"auth.users\" SET email = ?2 WHERE id = ?1",
                [user_id, email],
            )
            .map_err(database)?;
    }
    if let Some(hash) = hash {
        connection
            .execute(
                "UPDATE \"auth.users\" SET encrypted_password = ?2 WHERE id = ?1",
                [user_id, &hash],
            )
            .map_err(database)?;
    }
    if let Some(metadata) = user_metadata {
        connection
            .execute(
                "UPDATE \"auth.users\" SET raw_user_meta_data = ?2 WHERE id = ?1",
                [user_id, &metadata.to_string()],
            )
            .map_err(database)?;
    }
    if let Some(metadata) = app_metadata {
        connection
            .execute(
                "UPDATE \"auth.users\" SET raw_app_meta_data = ?2 WHERE id = ?1",
                [user_id, &metadata.to_string()],
            )
            .map_err(database)?;
    }
    connection
        .execute(
            "UPDATE \"auth.users\" SET updated_at = ?2 WHERE id = ?1",
            [user_id, &now],
        )
        .map_err(database)?;
    Ok(())
}

/// `POST /logout?scope=global|local|others` → 204.
async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let (user, session) = signed_in(&app, &headers).await?;
    let user_id = user.id;
    let scope = query
        .get("scope")
        .map_or("global", String::as_str)
        .to_owned();
    if !matches!(scope.as_str(), "global" | "local" | "others") {
        return Err(AuthError::validation(format!(
            "Unsupported logout scope {scope:?}"
        )));
    }
    let session = session.unwrap_or_default();
    write(&app, move |connection| {
        let sql = match scope.as_str() {
            "local" => "DELETE FROM \"auth.sessions\" WHERE user_id = ?1 AND id = ?2",
            "others" => "DELETE FROM \"auth.sessions\" WHERE user_id = ?1 AND id <> ?2",
            _ => "DELETE FROM \"auth.sessions\" WHERE user_id = ?1 AND ?2 IS NOT NULL",
        };
        connection
            .execute(sql, [&user_id, &session])
            .map_err(database)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Admin endpoints need a token with one of GoTrue's admin roles.
pub(super) fn admin(app: &App, headers: &HeaderMap) -> Result<()> {
    let claims = app.keys().auth_claims(headers).map_err(|error| {
        AuthError::new(
            StatusCode::FORBIDDEN,
            "bad_jwt",
            format!("invalid JWT: {}", error.message),
        )
    })?;
    let role = claims.get("role").and_then(Value::as_str).unwrap_or("");
    if !ADMIN_ROLES.contains(&role) {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "not_admin",
            "User not allowed",
        ));
    }
    Ok(())
}

async fn admin_list(
    State(app): State<App>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let number = |key: &str, default: u64| -> Result<u64> {
        match query.get(key).filter(|text| !text.is_empty()) {
            None => Ok(default),
            Some(text) => text.parse::<u64>().map(|n| n.max(1)).map_err(|_| {
                AuthError::validation(format!(
                    "Bad Pagination Parameters: strconv.ParseUint: parsing {text:?}: invalid syntax"
                ))
            }),
        }
    };
    let (page, per_page) = (number("page", 1)?, number("per_page", 50)?);
    // GoTrue's `filter`: part of the email or of `user_metadata.full_name`.
    let filter = query
        .get("filter")
        .map(|filter| format!("%{filter}%"))
        .unwrap_or_else(|| "%".into());
    let (list, total) = read(&app, move |connection| {
        let matching = "FROM \"auth.users\" WHERE deleted_at IS NULL AND (coalesce(email, '') LIKE ?1 OR coalesce(raw_user_meta_data ->> 'full_name', '') LIKE ?1)";
        let total: i64 = connection.query_row(&format!("SELECT count(*) {matching}"), [&filter], |row| row.get(0))?;
        let mut statement = connection.prepare(&format!("SELECT id {matching} ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"))?;
        let offset = (page - 1).saturating_mul(per_page).min(i64::MAX as u64) as i64;
        let ids: Vec<String> = statement
            .query_map(rusqlite::params![filter, per_page.min(i64::MAX as u64) as i64, offset], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let list = ids.iter().filter_map(|id| users::user_json(connection, id).transpose()).collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((list, total as u64))
    })
    .await?;
    let mut response = Json(json!({"users": list, "aud": "authenticated"})).into_response();
    let last_page = total.div_ceil(per_page).max(1);
    let mut links = Vec::new();
    if page < last_page {
        links.push(format!(
            "</admin/users?page={}&per_page={per_page}>; rel=\"next\"",
            page + 1
        ));
    }
    links.push(format!(
        "</admin/users?page={last_page}&per_page={per_page}>; rel=\"last\""
    ));
    if let Ok(value) = HeaderValue::from_str(&total.to_string()) {
        response.headers_mut().insert("x-total-count", value);
    }
    if let Ok(value) = HeaderValue::from_str(&links.join(", ")) {
        response.headers_mut().insert("link", value);
    }
    Ok(response)
}

async fn admin_create(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    admin(&app, &headers)?;
    let body = parse_body(&body)?;
    let email = text(&body, "email").map(str::to_owned);
    if let Some(email) = email.as_deref() {
        check_email(email)?;
    }
    let hash = new_password_hash(&app, text(&body, "password")).await?;
    let confirmed = body
        .get("email_confirm")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let user_metadata = body
        .get("user_metadata")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut app_metadata = json!({"provider": "email", "providers": ["email"]});
    if let Some(extra) = body.get("app_metadata") {
        app_metadata = users::merge_metadata(&app_metadata, extra);
    }
    let id = text(&body, "id").map(str::to_owned);
    let ban = ban_until(&body)?;
    let user = write(&app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        if let Some(email) = &email
            && users::find_by_email(&transaction, email)
                .map_err(database)?
                .is_some()
        {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "email_exists",
                "A user with this email address has already been registered",
            ));
        }
        let id = users::create(
            &transaction,
            NewUser {
                id,
                email: email.as_deref(),
                password_hash: hash,
                confirmed,
                user_metadata,
                app_metadata,
                is_anonymous: false,
            },
        )
        .map_err(database)?;
        set_ban(&transaction, &id, ban)?;
        let user = users::user_json(&transaction, &id).map_err(database)?;
        transaction.commit().map_err(database)?;
        Ok(user)
    })
    .await?;
    Ok(Json(user).into_response())
}

fn user_not_found() -> AuthError {
    AuthError::new(StatusCode::NOT_FOUND, "user_not_found", "User not found")
}

fn user_id(id: &str) -> Result<String> {
    uuid::Uuid::parse_str(id)
        .map(|id| id.to_string())
        .map_err(|_| user_not_found())
}

async fn admin_get(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let id = user_id(&id)?;
    let user = read(&app, move |connection| users::user_json(connection, &id)).await?;
    user.map(|user| Json(user).into_response())
        .ok_or_else(user_not_found)
}

async fn admin_update(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    admin(&app, &headers)?;
    let id = user_id(&id)?;
    let body = parse_body(&body)?;
    let hash = new_password_hash(&app, text(&body, "password")).await?;
    let email = text(&body, "email").map(str::to_owned);
    let confirm = body.get("email_confirm").and_then(Value::as_bool) == Some(true);
    let ban = ban_until(&body)?;
    let user = write(&app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let current = users::find_by_id(&transaction, &id).map_err(database)?.ok_or_else(user_not_found)?;
        let user_metadata = body.get("user_metadata").map(|patch| users::merge_metadata(&current.user_metadata, patch));
        let app_metadata = body.get("app_metadata").map(|patch| users::merge_metadata(&current.app_metadata, patch));
        apply_changes(&transaction, &id, email.as_deref(), hash, user_metadata, app_metadata)?;
        set_ban(&transaction, &id, ban)?;
        if confirm {
            transaction
                .execute("UPDATE \"auth.users\" SET email_confirmed_at = coalesce(email_confirmed_at, pg_now()), confirmed_at = coalesce(confirmed_at, pg_now()) WHERE id = ?1", [&id])
                .map_err(database)?;
        }
        let user = users::user_json(&transaction, &id).map_err(database)?;
        transaction.commit().map_err(database)?;
        Ok(user)
    })
    .await?;
    Ok(Json(user).into_response())
}

/// Deleting a user cascades through every foreign key to `auth.users`.
async fn admin_delete(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let id = user_id(&id)?;
    write(&app, move |connection| {
        let deleted = connection
            .execute("DELETE FROM \"auth.users\" WHERE id = ?1", [&id])
            .map_err(|error| {
                AuthError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("cannot delete the user: {error}"),
                )
            })?;
        if deleted == 0 {
            return Err(user_not_found());
        }
        Ok(())
    })
    .await?;
    Ok(Json(json!({})).into_response())
}
