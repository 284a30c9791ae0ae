//! PKCE for the email and OAuth flows, as GoTrue runs them: a `code_challenge` on sign-up,
//! OTP, magic link, recovery or resend stores a flow state and prefixes the emailed token with
//! `pkce_`; its link (or an OAuth callback, `auth::oauth`) then redirects with `?code=`, which
//! `/token?grant_type=pkce` exchanges for a session with the `code_verifier`.

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::api::{Result, database, issuer, session_json, text, write};
use super::error::AuthError;
use super::users;
use crate::app::App;
use crate::store::functions::timestamp_now;

/// The prefix GoTrue puts on the emailed token of a PKCE flow.
pub const PREFIX: &str = "pkce_";

/// How long a flow state may be exchanged (GoTrue's `FlowStateExpiryDuration`).
const EXPIRY: jiff::SignedDuration = jiff::SignedDuration::from_secs(300);

/// A client's `code_challenge` and its method (`s256` or `plain`).
pub struct Challenge {
    challenge: String,
    method: &'static str,
}

impl Challenge {
    /// The challenge of a request body, checked as GoTrue's `validatePKCEParams` does; none
    /// for an implicit flow.
    pub fn of(body: &Value) -> Result<Option<Self>> {
        let challenge = text(body, "code_challenge").unwrap_or("");
        let method = text(body, "code_challenge_method").unwrap_or("");
        if challenge.is_empty() != method.is_empty() {
            return Err(invalid(
                "PKCE flow requires code_challenge_method and code_challenge",
            ));
        }
        if challenge.is_empty() {
            return Ok(None);
        }
        if !(43..=128).contains(&challenge.len()) {
            return Err(invalid(
                "code challenge has to be between 43 and 128 characters",
            ));
        }
        if !challenge
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._~-".contains(&byte))
        {
            return Err(invalid(
                "code challenge can only contain alphanumeric characters, hyphens, periods, underscores and tildes",
            ));
        }
        let method = match method.to_lowercase().as_str() {
            "s256" => "s256",
            "plain" => "plain",
            _ => {
                return Err(invalid(&format!(
                    "unsupported code_challenge method {method:?}"
                )));
            }
        };
        Ok(Some(Self {
            challenge: challenge.to_owned(),
            method,
        }))
    }

    /// `(method, challenge)`, as a flow state keeps them.
    pub fn parts(&self) -> (&str, &str) {
        (self.method, &self.challenge)
    }

    /// Stores the flow state of `user_id`'s emailed link of `kind` (its `/verify` type).
    pub fn start(&self, connection: &Connection, user_id: &str, kind: &str) -> Result<()> {
        let method = authentication_method(kind);
        let provider = if method == "email/signup" {
            "email"
        } else {
            method
        };
        connection
            .execute(
                "INSERT INTO \"auth.flow_state\" (id, user_id, auth_code, code_challenge_method, code_challenge, provider_type, authentication_method, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![
                    uuid::Uuid::new_v4().to_string(),
                    user_id,
                    uuid::Uuid::new_v4().to_string(),
                    self.method,
                    self.challenge,
                    provider,
                    method,
                    timestamp_now()
                ],
            )
            .map_err(database)?;
        Ok(())
    }
}

fn invalid(message: &str) -> AuthError {
    AuthError::new(StatusCode::BAD_REQUEST, "validation_failed", message)
}

/// GoTrue's `ParseAuthenticationMethod` of a `/verify` type.
fn authentication_method(kind: &str) -> &'static str {
    match kind {
        "recovery" => "recovery",
        "invite" => "invite",
        "magiclink" => "magiclink",
        "email_change" => "email_change",
        _ => "email/signup",
    }
}

/// The auth code of the newest flow state of `user_id`'s link of `kind`, once it is verified.
pub fn issue_code(connection: &Connection, user_id: &str, kind: &str) -> Result<String> {
    let found: Option<(String, String)> = connection
        .query_row(
            "SELECT id, auth_code FROM \"auth.flow_state\" WHERE user_id = ?1 AND authentication_method = ?2 ORDER BY created_at DESC LIMIT 1",
            params![user_id, authentication_method(kind)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(database)?;
    let Some((id, code)) = found else {
        return Err(AuthError::new(
            StatusCode::BAD_REQUEST,
            "flow_state_not_found",
            "No associated flow state found. No valid flow state found for user.",
        ));
    };
    connection
        .execute(
            "UPDATE \"auth.flow_state\" SET auth_code_issued_at = ?2, updated_at = ?2 WHERE id = ?1",
            params![id, timestamp_now()],
        )
        .map_err(database)?;
    Ok(code)
}

/// Whether `verifier` answers `challenge` by `method` (RFC 7636).
fn answers(challenge: &str, method: &str, verifier: &str) -> bool {
    match method {
        "s256" => {
            let digest = Sha256::digest(verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == challenge
        }
        _ => challenge == verifier,
    }
}

/// A stored flow state, as the exchange reads it.
struct Flow {
    id: String,
    user_id: Option<String>,
    challenge: String,
    method: String,
    authentication_method: String,
    started: String,
    /// An OAuth flow's tokens from the provider.
    provider_tokens: (Option<String>, Option<String>),
}

/// `POST /token?grant_type=pkce`: the auth code and the verifier of its challenge for a
/// session; the flow state is spent.
pub async fn grant(app: &App, headers: &HeaderMap, body: &Value) -> Result<Response> {
    let (code, verifier) = match (text(body, "auth_code"), text(body, "code_verifier")) {
        (Some(code), Some(verifier)) if !code.is_empty() && !verifier.is_empty() => {
            (code.to_owned(), verifier.to_owned())
        }
        _ => {
            return Err(AuthError::validation(
                "invalid request: both auth code and code verifier should be non-empty",
            ));
        }
    };
    let (user, session, refresh, method, tokens) = write(app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let flow = transaction
            .query_row(
                "SELECT id, user_id, code_challenge, code_challenge_method, authentication_method,
                   CASE WHEN auth_code_issued_at IS NOT NULL AND authentication_method = 'magiclink' THEN auth_code_issued_at ELSE created_at END,
                   provider_access_token, provider_refresh_token
                 FROM \"auth.flow_state\" WHERE auth_code = ?1",
                [&code],
                |row| {
                    Ok(Flow {
                        id: row.get(0)?,
                        user_id: row.get(1)?,
                        challenge: row.get(2)?,
                        method: row.get(3)?,
                        authentication_method: row.get(4)?,
                        started: row.get(5)?,
                        provider_tokens: (row.get(6)?, row.get(7)?),
                    })
                },
            )
            .optional()
            .map_err(database)?;
        let Some((flow, user_id)) = flow.and_then(|flow| {
            let user_id = flow.user_id.clone()?;
            Some((flow, user_id))
        }) else {
            return Err(AuthError::new(
                StatusCode::NOT_FOUND,
                "flow_state_not_found",
                "invalid flow state, no valid flow state found",
            ));
        };
        let expired = flow
            .started
            .parse::<jiff::Timestamp>()
            .map_or(true, |started| jiff::Timestamp::now().duration_since(started) > EXPIRY);
        if expired {
            return Err(AuthError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "flow_state_expired",
                "invalid flow state, flow state has expired",
            ));
        }
        if !answers(&flow.challenge, &flow.method, &verifier) {
            return Err(AuthError::new(
                StatusCode::BAD_REQUEST,
                "bad_code_verifier",
                "code challenge does not match previously saved code verifier",
            ));
        }
        transaction
            .execute("DELETE FROM \"auth.flow_state\" WHERE id = ?1", [&flow.id])
            .map_err(database)?;
        let (session, refresh) = users::start_session(&transaction, &user_id).map_err(database)?;
        let user = users::user_json(&transaction, &user_id)
            .map_err(database)?
            .ok_or_else(|| AuthError::internal("user vanished"))?;
        transaction.commit().map_err(database)?;
        Ok((user, session, refresh, flow.authentication_method, flow.provider_tokens))
    })
    .await?;
    let mut session = session_json(app, &issuer(headers), &user, &session, &refresh, &method);
    if let (Some(access), refresh) = tokens {
        session["provider_token"] = Value::String(access);
        if let Some(refresh) = refresh {
            session["provider_refresh_token"] = Value::String(refresh);
        }
    }
    Ok(Json(session).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_are_checked_as_rfc_7636_says() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(answers(challenge, "s256", verifier));
        assert!(!answers(challenge, "s256", "another verifier"));
        assert!(answers(verifier, "plain", verifier));
        assert!(!answers(challenge, "plain", verifier));
    }

    #[test]
    fn challenges_are_validated_as_gotrue_does() {
        let long = "a".repeat(43);
        let body = serde_json::json!({"code_challenge": long, "code_challenge_method": "S256"});
        assert_eq!(Challenge::of(&body).unwrap().unwrap().method, "s256");
        assert!(Challenge::of(&serde_json::json!({})).unwrap().is_none());
        for body in [
            serde_json::json!({"code_challenge": long}),
            serde_json::json!({"code_challenge": "short", "code_challenge_method": "s256"}),
            serde_json::json!({"code_challenge": format!("{long}!"), "code_challenge_method": "s256"}),
            serde_json::json!({"code_challenge": long, "code_challenge_method": "md5"}),
        ] {
            assert_eq!(
                Challenge::of(&body).err().unwrap().code,
                "validation_failed"
            );
        }
    }
}
