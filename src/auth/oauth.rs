//! Sign-in with an external OpenID Connect provider (`[auth.external.<name>]`), as GoTrue runs
//! it: `GET /authorize` keeps a flow state and sends the browser to the provider's
//! authorization endpoint; `/callback` trades the provider's code for its user (userinfo),
//! finds the identity or links a verified email to its account or signs a new user up, and
//! redirects to the app with the session in the fragment, or with `?code=` for a PKCE flow
//! (`/token?grant_type=pkce` then answers the session with the provider's tokens). With
//! `[auth] enable_manual_linking`, `linkIdentity` runs the same flow for the signed-in user and
//! `unlinkIdentity` removes one of its identities.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::api::{Result, database, issuer, session_json, signed_in, write};
use super::email::{error_redirect, redirect, referrer, session_fragment};
use super::error::AuthError;
use super::pkce::Challenge;
use super::users::{self, NewUser};
use crate::app::App;
use crate::config::ExternalProvider;
use crate::store::functions::timestamp_now;

/// How long a flow started at `/authorize` may come back (GoTrue's `FlowStateExpiryDuration`).
const FLOW_EXPIRY: jiff::SignedDuration = jiff::SignedDuration::from_secs(300);

/// Query parameters GoTrue keeps to itself rather than passing to the provider.
const RESERVED: &[&str] = &[
    "provider",
    "scopes",
    "redirect_to",
    "code_challenge",
    "code_challenge_method",
    "invite_token",
    "client_id",
    "response_type",
    "redirect_uri",
    "state",
    "scope",
    "skip_http_redirect",
];

/// The OAuth providers GoTrue knows (`GET /authorize?provider=`).
const OAUTH_PROVIDERS: &[&str] = &[
    "apple",
    "azure",
    "bitbucket",
    "discord",
    "facebook",
    "figma",
    "fly",
    "github",
    "gitlab",
    "google",
    "kakao",
    "keycloak",
    "linkedin",
    "linkedin_oidc",
    "notion",
    "snapchat",
    "spotify",
    "slack",
    "slack_oidc",
    "twitch",
    "twitter",
    "x",
    "vercel_marketplace",
    "workos",
    "zoom",
];

/// `GET /authorize?provider=…`: the redirect to the provider's sign-in page.
pub async fn authorize(
    State(app): State<App>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let location = provider_url(&app, &headers, &query, None).await?;
    redirect(StatusCode::FOUND, &location, None, None)
}

/// `GET /user/identities/authorize?provider=…` (`linkIdentity`): the same sign-in, whose
/// identity is then linked to the signed-in user; `skip_http_redirect=true` answers the URL.
pub async fn link_identity(
    State(app): State<App>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response> {
    let user = linking_user(&app, &headers).await?;
    let location = provider_url(&app, &headers, &query, Some(user.id)).await?;
    match query.get("skip_http_redirect").map(String::as_str) {
        Some("true") => Ok(Json(json!({ "url": location })).into_response()),
        _ => redirect(StatusCode::FOUND, &location, None, None),
    }
}

/// `DELETE /user/identities/{id}` (`unlinkIdentity`): removes one of the user's identities,
/// never the last; the user's email follows the identities left.
pub async fn unlink_identity(
    State(app): State<App>,
    headers: HeaderMap,
    Path(identity): Path<String>,
) -> Result<Response> {
    let user = linking_user(&app, &headers).await?;
    if uuid::Uuid::parse_str(&identity).is_err() {
        return Err(AuthError::new(
            StatusCode::NOT_FOUND,
            "validation_failed",
            "identity_id must be an UUID",
        ));
    }
    write(&app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let remaining: Vec<(String, Option<String>)> = identities(&transaction, &user.id)?;
        if remaining.len() <= 1 {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "single_identity_not_deletable",
                "User must have at least 1 identity after unlinking",
            ));
        }
        let removed = transaction
            .execute(
                "DELETE FROM \"auth.identities\" WHERE id = ?1 AND user_id = ?2",
                params![identity, user.id],
            )
            .map_err(database)?;
        if removed == 0 {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "identity_not_found",
                "Identity doesn't exist",
            ));
        }
        let emails: Vec<String> = identities(&transaction, &user.id)?
            .into_iter()
            .filter_map(|(_, email)| email)
            .collect();
        if let Some(email) = &user.email
            && !emails.iter().any(|other| other.eq_ignore_ascii_case(email))
        {
            transaction
                .execute(
                    "UPDATE \"auth.users\" SET email = ?2, updated_at = ?3 WHERE id = ?1",
                    params![user.id, emails.first(), timestamp_now()],
                )
                .map_err(database)?;
        }
        update_providers(&transaction, &user.id, None)?;
        transaction.commit().map_err(database)?;
        Ok(())
    })
    .await?;
    Ok(Json(json!({})).into_response())
}

/// The signed-in user of a linking request, when `[auth] enable_manual_linking` allows it.
async fn linking_user(app: &App, headers: &HeaderMap) -> Result<users::User> {
    let (user, _) = signed_in(app, headers).await?;
    if !app.project().config.auth.enable_manual_linking {
        return Err(AuthError::new(
            StatusCode::NOT_FOUND,
            "manual_linking_disabled",
            "Manual linking is disabled",
        ));
    }
    Ok(user)
}

/// `(provider, email)` of each of the user's identities.
fn identities(connection: &Connection, user_id: &str) -> Result<Vec<(String, Option<String>)>> {
    connection
        .prepare("SELECT provider, email FROM \"auth.identities\" WHERE user_id = ?1 ORDER BY created_at")
        .and_then(|mut statement| {
            statement
                .query_map([user_id], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(database)
}

/// The provider's sign-in page for a new flow (linking its identity to `linking` if given).
async fn provider_url(
    app: &App,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    linking: Option<String>,
) -> Result<String> {
    let name = query.get("provider").map_or("", String::as_str).to_owned();
    let provider = provider(app, &name)?;
    let challenge = Challenge::of(&json!({
        "code_challenge": query.get("code_challenge"),
        "code_challenge_method": query.get("code_challenge_method"),
    }))?;
    let endpoints = discover(&provider).await?;
    let target = referrer(app, query, headers);
    let state = write(app, move |connection| {
        start_flow(connection, &name, challenge.as_ref(), &target, linking)
    })
    .await?;
    let mut scopes = vec!["openid", "email", "profile"];
    for scope in query
        .get("scopes")
        .map_or("", String::as_str)
        .split([' ', ','])
    {
        if !scope.is_empty() && !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let mut url = form_urlencoded::Serializer::new(String::new());
    url.append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", &callback_uri(&provider, headers))
        .append_pair("response_type", "code")
        .append_pair("scope", &scopes.join(" "))
        .append_pair("state", &state);
    for (key, value) in query {
        if !RESERVED.contains(&key.to_lowercase().as_str()) {
            url.append_pair(key, value);
        }
    }
    let separator = if endpoints.authorization.contains('?') {
        '&'
    } else {
        '?'
    };
    Ok(format!(
        "{}{separator}{}",
        endpoints.authorization,
        url.finish()
    ))
}

/// `GET` or `POST /callback`: the provider sent the browser back with a code (or an error).
pub async fn callback(
    State(app): State<App>,
    method: Method,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response> {
    let params: HashMap<String, String> = if method == Method::POST {
        form_urlencoded::parse(&body).into_owned().collect()
    } else {
        query
    };
    let state = params.get("state").map_or("", String::as_str).to_owned();
    let flow = write(&app, move |connection| load_flow(connection, &state)).await?;
    let target = flow
        .referrer
        .clone()
        .unwrap_or_else(|| app.project().config.auth.site_url.clone());
    let pkce = flow.pkce;
    match sign_in(&app, &headers, &params, flow).await {
        Ok(SignedIn::Code(code)) => {
            let search = form_urlencoded::Serializer::new(String::new())
                .append_pair("code", &code)
                .finish();
            redirect(StatusCode::FOUND, &target, Some(search), None)
        }
        Ok(SignedIn::Session(session, tokens)) => {
            let mut extra = vec![("provider_token", tokens.access.as_str())];
            if let Some(refresh) = &tokens.refresh {
                extra.push(("provider_refresh_token", refresh));
            }
            let fragment = session_fragment(&session, &extra);
            redirect(StatusCode::FOUND, &target, None, Some(fragment))
        }
        Err(error) => {
            let (search, fragment) = error_redirect(&error, pkce);
            redirect(StatusCode::FOUND, &target, search, fragment)
        }
    }
}

/// The provider's settings, or GoTrue's answer for one that cannot be signed in with.
fn provider(app: &App, name: &str) -> Result<ExternalProvider> {
    let auth = &app.project().config.auth;
    auth.providers.get(name).cloned().ok_or_else(|| {
        let reason = if name.starts_with("custom:") {
            "custom OAuth providers are disabled".to_owned()
        } else if OAUTH_PROVIDERS.contains(&name) || auth.external.contains_key(name) {
            "provider is not enabled".to_owned()
        } else {
            format!("Provider {name} could not be found")
        };
        AuthError::validation(format!("Unsupported provider: {reason}"))
    })
}

/// Where the provider sends the browser back: the configured `redirect_uri`, else this
/// server's `/auth/v1/callback`.
fn callback_uri(provider: &ExternalProvider, headers: &HeaderMap) -> String {
    match provider.redirect_uri.is_empty() {
        true => format!("{}/callback", issuer(headers)),
        false => provider.redirect_uri.clone(),
    }
}

/// The provider's endpoints, from its OpenID Connect discovery document.
struct Endpoints {
    authorization: String,
    token: String,
    userinfo: String,
}

async fn discover(provider: &ExternalProvider) -> Result<Endpoints> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        provider.url.trim_end_matches('/')
    );
    let document = http(move |agent| agent.get(&url).call()).await?;
    let endpoint = |key: &str| {
        document[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| provider_failure(format!("the discovery document has no {key}")))
    };
    Ok(Endpoints {
        authorization: endpoint("authorization_endpoint")?,
        token: endpoint("token_endpoint")?,
        userinfo: endpoint("userinfo_endpoint")?,
    })
}

/// Runs one request to the provider off the async threads and reads its JSON answer.
async fn http(
    request: impl FnOnce(
        &ureq::Agent,
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>
    + Send
    + 'static,
) -> Result<Value> {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        request(&agent)
            .map_err(|error| provider_failure(error.to_string()))?
            .body_mut()
            .read_json::<Value>()
            .map_err(|error| provider_failure(error.to_string()))
    })
    .await
    .map_err(AuthError::internal)?
}

fn provider_failure(cause: String) -> AuthError {
    tracing::warn!(%cause, "external provider request failed");
    AuthError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "unexpected_failure",
        "Error getting user profile from external provider",
    )
}

/// Stores the flow state of a sign-in with `provider`; its id is the OAuth `state`.
fn start_flow(
    connection: &mut Connection,
    provider: &str,
    challenge: Option<&Challenge>,
    target: &str,
    linking: Option<String>,
) -> Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let (method, code_challenge) = challenge.map_or(("", ""), Challenge::parts);
    connection
        .execute(
            "INSERT INTO \"auth.flow_state\" (id, auth_code, code_challenge_method, code_challenge, provider_type, authentication_method, referrer, linking_target_id, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'oauth', ?6, ?7, ?8, ?8)",
            params![id, uuid::Uuid::new_v4().to_string(), method, code_challenge, provider, target, linking, timestamp_now()],
        )
        .map_err(database)?;
    Ok(id)
}

/// A flow started at `/authorize` and not yet come back.
struct Flow {
    id: String,
    provider: String,
    referrer: Option<String>,
    pkce: bool,
    auth_code: String,
    /// The signed-in user whose identity the flow links (`linkIdentity`).
    linking: Option<String>,
}

/// The flow `state` names, checked as GoTrue's `loadExternalState` does.
fn load_flow(connection: &mut Connection, state: &str) -> Result<Flow> {
    let invalid = |code, message: &str| AuthError::new(StatusCode::BAD_REQUEST, code, message);
    if state.is_empty() {
        return Err(invalid(
            "bad_oauth_callback",
            "OAuth state parameter missing",
        ));
    }
    if uuid::Uuid::parse_str(state).is_err() {
        return Err(invalid(
            "bad_oauth_state",
            "OAuth state parameter is invalid",
        ));
    }
    let found = connection
        .query_row(
            "SELECT provider_type, referrer, code_challenge <> '', auth_code, created_at, user_id IS NOT NULL, linking_target_id
             FROM \"auth.flow_state\" WHERE id = ?1 AND authentication_method = 'oauth'",
            [state],
            |row| {
                Ok((
                    Flow {
                        id: state.to_owned(),
                        provider: row.get(0)?,
                        referrer: row.get(1)?,
                        pkce: row.get(2)?,
                        auth_code: row.get(3)?,
                        linking: row.get(6)?,
                    },
                    row.get::<_, String>(4)?,
                    row.get::<_, bool>(5)?,
                ))
            },
        )
        .optional()
        .map_err(database)?;
    let Some((flow, created, used)) = found else {
        return Err(invalid(
            "bad_oauth_state",
            "OAuth state not found or expired",
        ));
    };
    let expired = created.parse::<jiff::Timestamp>().map_or(true, |created| {
        jiff::Timestamp::now().duration_since(created) > FLOW_EXPIRY
    });
    if expired {
        return Err(invalid("bad_oauth_state", "OAuth state has expired"));
    }
    if used {
        return Err(invalid(
            "flow_state_already_used",
            "State has already been used",
        ));
    }
    Ok(flow)
}

/// The provider's tokens, handed to the app with the session.
struct ProviderTokens {
    access: String,
    refresh: Option<String>,
}

enum SignedIn {
    Session(Value, ProviderTokens),
    Code(String),
}

/// The callback's work once its flow is known: the provider's user, then the session.
async fn sign_in(
    app: &App,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    flow: Flow,
) -> Result<SignedIn> {
    if let Some(error) = params.get("error") {
        let description = params.get("error_description").map_or("", String::as_str);
        tracing::info!(%error, %description, "the provider refused the sign-in");
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            description.to_owned(),
        ));
    }
    let code = params
        .get("code")
        .filter(|code| !code.is_empty())
        .ok_or_else(|| {
            AuthError::new(
                StatusCode::BAD_REQUEST,
                "bad_oauth_callback",
                "OAuth code missing",
            )
        })?
        .clone();
    let provider = provider(app, &flow.provider)?;
    let endpoints = discover(&provider).await?;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", &callback_uri(&provider, headers))
        .finish();
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!(
            "{}:{}",
            form_urlencoded::byte_serialize(provider.client_id.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(provider.secret.as_bytes()).collect::<String>()
        ),
    );
    let token_url = endpoints.token.clone();
    let tokens = http(move |agent| {
        agent
            .post(&token_url)
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .send(form)
    })
    .await?;
    let access = tokens["access_token"]
        .as_str()
        .ok_or_else(|| provider_failure("the token response has no access_token".into()))?
        .to_owned();
    let bearer = format!("Bearer {access}");
    let userinfo_url = endpoints.userinfo.clone();
    let claims = http(move |agent| {
        agent
            .get(&userinfo_url)
            .header("authorization", bearer)
            .header("accept", "application/json")
            .call()
    })
    .await?;
    let tokens = ProviderTokens {
        access,
        refresh: tokens["refresh_token"].as_str().map(str::to_owned),
    };
    let profile = Profile::of(&provider, &claims)?;
    let (job_app, job_tokens) = (app.clone(), (tokens.access.clone(), tokens.refresh.clone()));
    let signed = write(app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let user_id = match &flow.linking {
            Some(target) => link(&transaction, target, &flow.provider, &profile)?,
            None => account(&job_app, &transaction, &flow.provider, &profile)?,
        };
        let signed = match flow.pkce {
            true => {
                let taken = transaction
                    .execute(
                        "UPDATE \"auth.flow_state\" SET user_id = ?2, provider_access_token = ?3, provider_refresh_token = ?4, auth_code_issued_at = ?5, updated_at = ?5 WHERE id = ?1 AND user_id IS NULL",
                        params![flow.id, user_id, job_tokens.0, job_tokens.1, timestamp_now()],
                    )
                    .map_err(database)?;
                if taken == 0 {
                    return Err(AuthError::new(
                        StatusCode::BAD_REQUEST,
                        "flow_state_already_used",
                        "State has already been used",
                    ));
                }
                Err(flow.auth_code)
            }
            false => {
                transaction
                    .execute("DELETE FROM \"auth.flow_state\" WHERE id = ?1", [&flow.id])
                    .map_err(database)?;
                let (session, refresh) =
                    users::start_session(&transaction, &user_id).map_err(database)?;
                let user = users::user_json(&transaction, &user_id)
                    .map_err(database)?
                    .ok_or_else(|| AuthError::internal("user vanished"))?;
                Ok((user, session, refresh))
            }
        };
        transaction.commit().map_err(database)?;
        Ok(signed)
    })
    .await?;
    Ok(match signed {
        Ok((user, session, refresh)) => {
            let session = session_json(app, &issuer(headers), &user, &session, &refresh, "oauth");
            SignedIn::Session(session, tokens)
        }
        Err(code) => SignedIn::Code(code),
    })
}

/// What the provider tells of its user: its subject, email and the identity's data.
struct Profile {
    subject: String,
    email: Option<String>,
    email_verified: bool,
    data: Value,
}

impl Profile {
    /// GoTrue's identity data of an OpenID Connect user: the standard claims plus the keys it
    /// adds (`provider_id`, `full_name`, `avatar_url`, `phone_verified`).
    fn of(provider: &ExternalProvider, claims: &Value) -> Result<Self> {
        let Some(subject) = claims["sub"].as_str().filter(|sub| !sub.is_empty()) else {
            return Err(provider_failure("the userinfo has no sub".into()));
        };
        let email = claims["email"]
            .as_str()
            .filter(|email| !email.is_empty())
            .map(str::to_lowercase);
        if email.is_none() && !provider.email_optional {
            return Err(AuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unexpected_failure",
                "Error getting user email from external provider",
            ));
        }
        let email_verified = claims["email_verified"].as_bool().unwrap_or(false);
        let mut data: Map<String, Value> = claims
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, value)| !value.is_null() && value.as_str() != Some(""))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        data.insert("iss".into(), json!(provider.url.trim_end_matches('/')));
        data.insert("provider_id".into(), json!(subject));
        data.insert("email_verified".into(), json!(email_verified));
        data.insert("phone_verified".into(), json!(false));
        if let Some(name) = claims["name"].as_str() {
            data.insert("full_name".into(), json!(name));
        }
        if let Some(picture) = claims["picture"].as_str() {
            data.insert("avatar_url".into(), json!(picture));
        }
        if let Some(email) = &email {
            data.insert("email".into(), json!(email));
        }
        Ok(Self {
            subject: subject.to_owned(),
            email,
            email_verified,
            data: Value::Object(data),
        })
    }
}

/// The user `profile` signs in as, as GoTrue's account linking decides: the user of its
/// identity; else the account of its email when the provider verified that address (the
/// identity is linked to it); else a new user. Metadata and the providers list follow.
fn account(
    app: &App,
    connection: &Connection,
    provider: &str,
    profile: &Profile,
) -> Result<String> {
    let now = timestamp_now();
    let identity = identity_owner(connection, provider, profile)?;
    let by_email = match &profile.email {
        Some(email) => users::find_by_email(connection, email).map_err(database)?,
        None => None,
    };
    let config = &app.project().config.auth;
    let user_id = match (identity, by_email) {
        (Some(user_id), _) => {
            connection
                .execute(
                    "UPDATE \"auth.identities\" SET identity_data = ?3, email = ?4, last_sign_in_at = ?5, updated_at = ?5 WHERE provider = ?1 AND provider_id = ?2",
                    params![provider, profile.subject, profile.data.to_string(), profile.email, now],
                )
                .map_err(database)?;
            user_id
        }
        (None, Some(user)) if profile.email_verified => {
            insert_identity(connection, &user.id, provider, profile, &now)?;
            user.id
        }
        (None, Some(_)) => {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "email_exists",
                "A user with this email address has already been registered",
            ));
        }
        (None, None) => {
            if !config.enable_signup {
                return Err(AuthError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "signup_disabled",
                    "Signups not allowed for this instance",
                ));
            }
            if profile.email.is_some()
                && !profile.email_verified
                && config.email.enable_confirmations
            {
                return Err(AuthError::new(
                    StatusCode::FORBIDDEN,
                    "provider_email_needs_verification",
                    format!(
                        "Unverified email with {provider}. Verify the email with {provider} and sign in again"
                    ),
                ));
            }
            let user_id = users::insert(
                connection,
                NewUser {
                    id: None,
                    email: profile.email.as_deref(),
                    password_hash: None,
                    confirmed: profile.email.is_some(),
                    user_metadata: profile.data.clone(),
                    app_metadata: json!({"provider": provider, "providers": [provider]}),
                    is_anonymous: false,
                },
            )
            .map_err(database)?;
            insert_identity(connection, &user_id, provider, profile, &now)?;
            user_id
        }
    };
    let user = users::find_by_id(connection, &user_id)
        .map_err(database)?
        .ok_or_else(|| AuthError::internal("user vanished"))?;
    if user
        .banned_until
        .as_deref()
        .is_some_and(|until| until > now.as_str())
    {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "user_banned",
            "User is banned",
        ));
    }
    update_providers(connection, &user_id, Some(provider))?;
    let user_metadata = users::merge_metadata(&user.user_metadata, &profile.data);
    let confirmed = (profile.email_verified && user.email_confirmed_at.is_none()).then_some(&now);
    connection
        .execute(
            "UPDATE \"auth.users\" SET raw_user_meta_data = ?2,
               email_confirmed_at = coalesce(email_confirmed_at, ?3), confirmed_at = coalesce(confirmed_at, ?3), updated_at = ?4
             WHERE id = ?1",
            params![user_id, user_metadata.to_string(), confirmed, now],
        )
        .map_err(database)?;
    Ok(user_id)
}

/// Links `profile`'s identity to the signed-in `target` (`linkIdentity`), as GoTrue's
/// `linkIdentityToUser`: never an identity some user already has; a user without an email
/// (an anonymous one) takes the provider's verified address and stops being anonymous.
fn link(
    connection: &Connection,
    target: &str,
    provider: &str,
    profile: &Profile,
) -> Result<String> {
    let owner = identity_owner(connection, provider, profile)?;
    if let Some(owner) = owner {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "identity_already_exists",
            match owner == target {
                true => "Identity is already linked",
                false => "Identity is already linked to another user",
            },
        ));
    }
    let user = users::find_by_id(connection, target)
        .map_err(database)?
        .ok_or_else(|| {
            AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "user_not_found",
                "Linking target user not found",
            )
        })?;
    let now = timestamp_now();
    if user.email.is_none()
        && let Some(email) = &profile.email
    {
        if !profile.email_verified {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "email_not_confirmed",
                format!(
                    "Unverified email with {provider}. Verify the email with {provider} and link it again"
                ),
            ));
        }
        if users::find_by_email(connection, email)
            .map_err(database)?
            .is_some()
        {
            return Err(AuthError::new(
                StatusCode::BAD_REQUEST,
                "email_exists",
                "A user with this email address has already been registered",
            ));
        }
        connection
            .execute(
                "UPDATE \"auth.users\" SET email = ?2, email_confirmed_at = ?3, confirmed_at = ?3, is_anonymous = false, updated_at = ?3 WHERE id = ?1",
                params![target, email, now],
            )
            .map_err(database)?;
    }
    insert_identity(connection, target, provider, profile, &now)?;
    update_providers(connection, target, Some(provider))?;
    Ok(target.to_owned())
}

/// `app_metadata.providers` from the user's identities (and `provider`, the first one, when
/// it has none yet), as GoTrue's `UpdateAppMetaDataProviders`.
fn update_providers(connection: &Connection, user_id: &str, provider: Option<&str>) -> Result<()> {
    let mut providers: Vec<String> = identities(connection, user_id)?
        .into_iter()
        .map(|(provider, _)| provider)
        .collect();
    providers.sort();
    providers.dedup();
    let current: Option<String> = connection
        .query_row(
            "SELECT raw_app_meta_data FROM \"auth.users\" WHERE id = ?1",
            [user_id],
            |row| row.get(0),
        )
        .map_err(database)?;
    let mut app_metadata = current
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    app_metadata["providers"] = json!(providers);
    if let (None, Some(provider)) = (app_metadata.get("provider"), provider) {
        app_metadata["provider"] = json!(provider);
    }
    connection
        .execute(
            "UPDATE \"auth.users\" SET raw_app_meta_data = ?2 WHERE id = ?1",
            params![user_id, app_metadata.to_string()],
        )
        .map_err(database)?;
    Ok(())
}

/// The user holding `profile`'s identity with `provider`, if any.
fn identity_owner(
    connection: &Connection,
    provider: &str,
    profile: &Profile,
) -> Result<Option<String>> {
    connection
        .query_row(
            "SELECT user_id FROM \"auth.identities\" WHERE provider = ?1 AND provider_id = ?2",
            params![provider, profile.subject],
            |row| row.get(0),
        )
        .optional()
        .map_err(database)
}

fn insert_identity(
    connection: &Connection,
    user_id: &str,
    provider: &str,
    profile: &Profile,
    now: &str,
) -> Result<()> {
    connection
        .execute(
            "INSERT INTO \"auth.identities\" (provider_id, user_id, identity_data, provider, email, last_sign_in_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)",
            params![profile.subject, user_id, profile.data.to_string(), provider, profile.email, now],
        )
        .map_err(database)?;
    Ok(())
}
