//! MFA with TOTP factors, as GoTrue's `/factors` API: enroll (secret, `otpauth://` URI, QR code
//! as SVG), challenge, verify (the session becomes `aal2`, its `amr` gains `totp`), unenroll,
//! and the admin factor list and removal. Phone and WebAuthn factors answer as GoTrue does
//! when they are disabled.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::api::{
    Result, admin, database, issuer, parse_body, rate_limit, read, session_json_with, signed_in,
    text, write,
};
use super::error::AuthError;
use super::limits::Budget;
use super::users::{self, Refresh};
use crate::app::App;
use crate::store::functions::timestamp_now;
use crate::wire::Peer;

/// Seconds a challenge can be verified in (GoTrue's `MFA_CHALLENGE_EXPIRY_DURATION`).
const CHALLENGE_EXPIRY: i64 = 300;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/factors", post(enroll))
        .route("/factors/{factor_id}", delete(unenroll))
        .route("/factors/{factor_id}/challenge", post(challenge))
        .route("/factors/{factor_id}/verify", post(verify))
        .route("/admin/users/{user_id}/factors", get(admin_list))
        .route(
            "/admin/users/{user_id}/factors/{factor_id}",
            delete(admin_delete).put(admin_update),
        )
}

/// One stored factor.
struct Factor {
    id: String,
    factor_type: String,
    verified: bool,
    secret: Option<String>,
}

fn factor_not_found() -> AuthError {
    AuthError::new(
        StatusCode::NOT_FOUND,
        "mfa_factor_not_found",
        "Factor not found",
    )
}

fn unprocessable(code: &'static str, message: impl Into<String>) -> AuthError {
    AuthError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

fn uuid_of(id: &str, name: &str) -> Result<String> {
    uuid::Uuid::parse_str(id)
        .map(|id| id.to_string())
        .map_err(|_| {
            AuthError::new(
                StatusCode::NOT_FOUND,
                "validation_failed",
                format!("{name} must be an UUID"),
            )
        })
}

fn find_factor(connection: &Connection, user_id: &str, factor_id: &str) -> Result<Factor> {
    connection
        .query_row(
            "SELECT id, factor_type, status, secret FROM \"auth.mfa_factors\" WHERE id = ?1 AND user_id = ?2",
            [factor_id, user_id],
            |row| {
                Ok(Factor {
                    id: row.get(0)?,
                    factor_type: row.get(1)?,
                    verified: row.get::<_, String>(2)? == "verified",
                    secret: row.get(3)?,
                })
            },
        )
        .optional()
        .map_err(database)?
        .ok_or_else(factor_not_found)
}

/// The user's factors as GoTrue lists them in the user object.
pub fn factors_json(connection: &Connection, user_id: &str) -> rusqlite::Result<Vec<Value>> {
    let mut statement = connection.prepare_cached(
        "SELECT id, friendly_name, factor_type, status, created_at, updated_at FROM \"auth.mfa_factors\" WHERE user_id = ?1 ORDER BY created_at, id",
    )?;
    statement
        .query_map([user_id], |row| {
            Ok(json!({
                "id": row.get::<_, String>(0)?,
                "friendly_name": row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                "factor_type": row.get::<_, String>(2)?,
                "status": row.get::<_, String>(3)?,
                "created_at": users::gotrue_time(row.get(4)?),
                "updated_at": users::gotrue_time(row.get(5)?),
            }))
        })?
        .collect()
}

/// The assurance level and methods a session was authenticated with, once MFA recorded them:
/// `(aal, amr)`.
pub fn assurance(
    connection: &Connection,
    session: &str,
) -> rusqlite::Result<Option<(String, Value)>> {
    let mut statement = connection.prepare_cached(
        "SELECT authentication_method, updated_at FROM \"auth.mfa_amr_claims\" WHERE session_id = ?1 ORDER BY updated_at DESC",
    )?;
    let amr = statement
        .query_map([session], |row| {
            let at: String = row.get(1)?;
            let timestamp = at.parse::<jiff::Timestamp>().map_or(0, |at| at.as_second());
            Ok(json!({"method": row.get::<_, String>(0)?, "timestamp": timestamp}))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if amr.is_empty() {
        return Ok(None);
    }
    let aal: Option<String> = connection
        .query_row(
            "SELECT aal FROM \"auth.sessions\" WHERE id = ?1",
            [session],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    Ok(Some((
        aal.unwrap_or_else(|| "aal1".into()),
        Value::Array(amr),
    )))
}

fn session_aal(connection: &Connection, session: Option<&str>) -> rusqlite::Result<String> {
    let aal: Option<Option<String>> = connection
        .query_row(
            "SELECT aal FROM \"auth.sessions\" WHERE id = ?1",
            [session.unwrap_or_default()],
            |row| row.get(0),
        )
        .optional()?;
    Ok(aal.flatten().unwrap_or_else(|| "aal1".into()))
}

/// `otpauth://totp/ISSUER:ACCOUNT?…`, the key URI authenticator apps read (parameters in
/// GoTrue's order).
fn key_uri(issuer: &str, account: &str, secret: &str) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    format!(
        "otpauth://totp/{}:{}?algorithm=SHA1&digits=6&issuer={}&period=30&secret={secret}",
        encode(issuer),
        encode(account),
        encode(issuer),
    )
}

fn totp(secret: &str) -> Option<totp_rs::Totp> {
    let secret = totp_rs::Secret::try_from_base32(secret).ok()?;
    totp_rs::Builder::new().with_secret(secret).build().ok()
}

/// `POST /factors`: a new, unverified TOTP factor.
async fn enroll(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let (user, session) = signed_in(&app, &headers).await?;
    if user.is_anonymous {
        return Err(AuthError::new(
            StatusCode::FORBIDDEN,
            "no_authorization",
            "Anonymous user not allowed to perform these actions",
        ));
    }
    let body = parse_body(&body)?;
    let config = app.project().config.auth.clone();
    match text(&body, "factor_type").unwrap_or("") {
        "totp" if config.mfa.totp.enroll_enabled => {}
        "totp" => {
            return Err(unprocessable(
                "mfa_totp_enroll_not_enabled",
                "MFA enroll is disabled for TOTP",
            ));
        }
        "phone" => {
            return Err(unprocessable(
                "mfa_phone_enroll_not_enabled",
                "MFA enroll is disabled for Phone",
            ));
        }
        "webauthn" => {
            return Err(unprocessable(
                "mfa_webauthn_enroll_not_enabled",
                "MFA enroll is disabled for WebAuthn",
            ));
        }
        _ => {
            return Err(AuthError::validation(
                "factor_type needs to be totp, phone, or webauthn",
            ));
        }
    }
    let friendly_name = text(&body, "friendly_name").unwrap_or("").to_owned();
    let issuer = match text(&body, "issuer") {
        Some(issuer) => issuer.to_owned(),
        None => config
            .site_url
            .split_once("://")
            .map_or(config.site_url.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
    };
    let secret = totp_rs::Secret::generate().to_base32();
    let uri = key_uri(&issuer, user.email.as_deref().unwrap_or(""), &secret);
    let qr_code = qrcode::QrCode::with_error_correction_level(&uri, qrcode::EcLevel::H)
        .map_err(AuthError::internal)?
        .render::<qrcode::render::svg::Color>()
        .build();
    let id = uuid::Uuid::new_v4().to_string();
    let (factor_id, name, stored_secret) = (id.clone(), friendly_name.clone(), secret.clone());
    let limit = config.mfa.max_enrolled_factors;
    write(&app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let existing: Vec<(String, bool)> = transaction
            .prepare("SELECT coalesce(friendly_name, ''), status = 'verified' FROM \"auth.mfa_factors\" WHERE user_id = ?1")
            .and_then(|mut statement| {
                statement
                    .query_map([&user.id], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .map_err(database)?;
        if existing.iter().any(|(existing, _)| *existing == name) {
            return Err(unprocessable(
                "mfa_factor_name_conflict",
                format!("A factor with the friendly name {name:?} for this user already exists"),
            ));
        }
        let verified = existing.iter().filter(|(_, verified)| *verified).count();
        if existing.len() >= limit || verified >= limit {
            return Err(unprocessable(
                "too_many_enrolled_mfa_factors",
                "Maximum number of verified factors reached, unenroll to continue",
            ));
        }
        if verified > 0 && session_aal(&transaction, session.as_deref()).map_err(database)? != "aal2" {
            return Err(AuthError::new(
                StatusCode::FORBIDDEN,
                "insufficient_aal",
                "AAL2 required to enroll a new factor",
            ));
        }
        let now = timestamp_now();
        transaction
            .execute(
                "INSERT INTO \"auth.mfa_factors\" (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret) VALUES (?1, ?2, ?3, 'totp', 'unverified', ?4, ?4, ?5)",
                params![factor_id, user.id, name, now, stored_secret],
            )
            .map_err(database)?;
        transaction.commit().map_err(database)
    })
    .await?;
    Ok(Json(json!({
        "id": id,
        "type": "totp",
        "friendly_name": friendly_name,
        "totp": {"qr_code": qr_code, "secret": secret, "uri": uri},
    }))
    .into_response())
}

/// `POST /factors/{id}/challenge`: a challenge to verify a code against, from this address.
async fn challenge(
    State(app): State<App>,
    ConnectInfo(Peer(address)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(factor_id): Path<String>,
) -> Result<Response> {
    rate_limit(&app, Budget::MfaChallenge, &address)?;
    let (user, _) = signed_in(&app, &headers).await?;
    let factor_id = uuid_of(&factor_id, "factor_id")?;
    let verify_enabled = app.project().config.auth.mfa.totp.verify_enabled;
    let ip = address.ip().to_string();
    let (id, factor_type, created) = write(&app, move |connection| {
        let factor = find_factor(connection, &user.id, &factor_id)?;
        if factor.factor_type == "totp" && !verify_enabled {
            return Err(unprocessable(
                "mfa_totp_verify_not_enabled",
                "MFA verification is disabled for TOTP",
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = timestamp_now();
        connection
            .execute(
                "INSERT INTO \"auth.mfa_challenges\" (id, factor_id, created_at, ip_address) VALUES (?1, ?2, ?3, ?4)",
                params![id, factor.id, now, ip],
            )
            .map_err(database)?;
        connection
            .execute(
                "UPDATE \"auth.mfa_factors\" SET last_challenged_at = ?2 WHERE id = ?1",
                params![factor.id, now],
            )
            .map_err(database)?;
        Ok((id, factor.factor_type, jiff::Timestamp::now().as_second()))
    })
    .await?;
    Ok(Json(json!({
        "id": id,
        "type": factor_type,
        "expires_at": created + CHALLENGE_EXPIRY,
    }))
    .into_response())
}

/// `POST /factors/{id}/verify`: a correct code for a live challenge upgrades the session to
/// `aal2` and answers a new session.
async fn verify(
    State(app): State<App>,
    ConnectInfo(Peer(address)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(factor_id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    rate_limit(&app, Budget::MfaVerify, &address)?;
    let (user, session) = signed_in(&app, &headers).await?;
    let factor_id = uuid_of(&factor_id, "factor_id")?;
    let body = parse_body(&body)?;
    let code = text(&body, "code")
        .ok_or_else(|| AuthError::validation("Code needs to be non-empty"))?
        .to_owned();
    let challenge_id = text(&body, "challenge_id").unwrap_or("").to_owned();
    let session = session
        .ok_or_else(|| AuthError::internal("A valid session is required to verify a factor"))?;
    // The method the session was signed in with stays in `amr`, after `totp`.
    let first_method = app
        .keys()
        .auth_claims(&headers)
        .ok()
        .and_then(|claims| claims["amr"][0]["method"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "password".into());
    let config = app.project().config.auth.clone();
    let ip = address.ip().to_string();
    let user_id = user.id.clone();
    let (user, session, refresh, aal, amr) = write(&app, move |connection| {
        let transaction = connection.savepoint().map_err(database)?;
        let factor = find_factor(&transaction, &user_id, &factor_id)?;
        if !config.mfa.totp.verify_enabled {
            return Err(unprocessable(
                "mfa_totp_verify_not_enabled",
                "MFA verification is disabled for TOTP",
            ));
        }
        let found: Option<(String, Option<String>, String)> = transaction
            .query_row(
                "SELECT created_at, verified_at, ip_address FROM \"auth.mfa_challenges\" WHERE id = ?1 AND factor_id = ?2",
                [&challenge_id, &factor.id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .map_err(database)?;
        let Some((created, verified_at, challenge_ip)) = found else {
            return Err(unprocessable(
                "mfa_factor_not_found",
                "MFA factor with the provided challenge ID not found",
            ));
        };
        if verified_at.is_some() || challenge_ip != ip {
            return Err(unprocessable(
                "mfa_ip_address_mismatch",
                "Challenge and verify IP addresses mismatch.",
            ));
        }
        let age = created
            .parse::<jiff::Timestamp>()
            .map_or(i64::MAX, |created| jiff::Timestamp::now().as_second() - created.as_second());
        if age > CHALLENGE_EXPIRY {
            transaction
                .execute("DELETE FROM \"auth.mfa_challenges\" WHERE id = ?1", [&challenge_id])
                .map_err(database)?;
            transaction.commit().map_err(database)?;
            return Err(unprocessable(
                "mfa_challenge_expired",
                format!("MFA challenge {challenge_id} has expired, verify against another challenge or create a new challenge."),
            ));
        }
        let valid = factor
            .secret
            .as_deref()
            .and_then(totp)
            .is_some_and(|totp| totp.check_current(&code).is_some());
        if !valid {
            return Err(unprocessable(
                "mfa_verification_failed",
                "Invalid TOTP code entered",
            ));
        }
        let now = timestamp_now();
        for (sql, values) in [
            ("UPDATE \"auth.mfa_challenges\" SET verified_at = ?2 WHERE id = ?1", [challenge_id.as_str(), now.as_str()]),
            ("UPDATE \"auth.mfa_factors\" SET status = 'verified', updated_at = ?2 WHERE id = ?1", [factor.id.as_str(), now.as_str()]),
            ("DELETE FROM \"auth.mfa_factors\" WHERE user_id = ?1 AND factor_type = ?2 AND status = 'unverified'", [user_id.as_str(), factor.factor_type.as_str()]),
            ("UPDATE \"auth.sessions\" SET aal = 'aal2', updated_at = ?2 WHERE id = ?1", [session.as_str(), now.as_str()]),
        ] {
            transaction.execute(sql, values).map_err(database)?;
        }
        for (method, at) in [(first_method.as_str(), users::session_started(&transaction, &session).map_err(database)?.unwrap_or_else(|| now.clone())), ("totp", now.clone())] {
            transaction
                .execute(
                    "INSERT INTO \"auth.mfa_amr_claims\" (session_id, authentication_method, created_at, updated_at) VALUES (?1, ?2, ?3, ?3) ON CONFLICT (session_id, authentication_method) DO UPDATE SET updated_at = excluded.updated_at",
                    params![session, method, at],
                )
                .map_err(database)?;
        }
        let refresh = match users::rotate_session(&transaction, &session, config.refresh_token_reuse_interval).map_err(database)? {
            Refresh::Granted(_, _, refresh) => refresh,
            _ => return Err(AuthError::internal("the session has no refresh token")),
        };
        let (aal, amr) = assurance(&transaction, &session)
            .map_err(database)?
            .ok_or_else(|| AuthError::internal("the session's methods vanished"))?;
        let user = users::user_json(&transaction, &user_id)
            .map_err(database)?
            .ok_or_else(|| AuthError::internal("user vanished"))?;
        transaction.commit().map_err(database)?;
        Ok((user, session, refresh, aal, amr))
    })
    .await?;
    Ok(Json(session_json_with(
        &app,
        &issuer(&headers),
        &user,
        &session,
        &refresh,
        &aal,
        amr,
    ))
    .into_response())
}

/// `DELETE /factors/{id}`: a verified factor only from an `aal2` session.
async fn unenroll(
    State(app): State<App>,
    headers: HeaderMap,
    Path(factor_id): Path<String>,
) -> Result<Response> {
    let (user, session) = signed_in(&app, &headers).await?;
    let factor_id = uuid_of(&factor_id, "factor_id")?;
    let id = write(&app, move |connection| {
        let factor = find_factor(connection, &user.id, &factor_id)?;
        if factor.verified
            && session_aal(connection, session.as_deref()).map_err(database)? != "aal2"
        {
            return Err(unprocessable(
                "insufficient_aal",
                "AAL2 required to unenroll verified factor",
            ));
        }
        remove_factor(connection, &user.id, &factor.id)?;
        Ok(factor.id)
    })
    .await?;
    Ok(Json(json!({"id": id})).into_response())
}

/// Deletes a factor; once the user has no verified factor left, their sessions are `aal1`.
fn remove_factor(connection: &Connection, user_id: &str, factor_id: &str) -> Result<()> {
    connection
        .execute(
            "DELETE FROM \"auth.mfa_factors\" WHERE id = ?1",
            [factor_id],
        )
        .map_err(database)?;
    connection
        .execute(
            "UPDATE \"auth.sessions\" SET aal = 'aal1' WHERE user_id = ?1 AND NOT EXISTS (SELECT 1 FROM \"auth.mfa_factors\" WHERE user_id = ?1 AND status = 'verified')",
            [user_id],
        )
        .map_err(database)?;
    connection
        .execute(
            "DELETE FROM \"auth.mfa_amr_claims\" WHERE authentication_method = 'totp' AND session_id IN (SELECT id FROM \"auth.sessions\" WHERE user_id = ?1 AND aal = 'aal1')",
            [user_id],
        )
        .map_err(database)?;
    Ok(())
}

fn admin_user(connection: &Connection, user_id: &str) -> Result<()> {
    users::find_by_id(connection, user_id)
        .map_err(database)?
        .map(|_| ())
        .ok_or_else(|| AuthError::new(StatusCode::NOT_FOUND, "user_not_found", "User not found"))
}

/// `GET /admin/users/{id}/factors`.
async fn admin_list(
    State(app): State<App>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let user_id = uuid_of(&user_id, "user_id")?;
    let factors = read(&app, move |connection| {
        users::find_by_id(connection, &user_id)?
            .map(|_| factors_json(connection, &user_id))
            .transpose()
    })
    .await?
    .ok_or_else(|| AuthError::new(StatusCode::NOT_FOUND, "user_not_found", "User not found"))?;
    Ok(Json(Value::Array(factors)).into_response())
}

/// `DELETE /admin/users/{id}/factors/{factor_id}`: answers the removed factor.
async fn admin_delete(
    State(app): State<App>,
    headers: HeaderMap,
    Path((user_id, factor_id)): Path<(String, String)>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let user_id = uuid_of(&user_id, "user_id")?;
    let factor_id = uuid_of(&factor_id, "factor_id")?;
    let factor = write(&app, move |connection| {
        admin_user(connection, &user_id)?;
        find_factor(connection, &user_id, &factor_id)?;
        let factor = factors_json(connection, &user_id)
            .map_err(database)?
            .into_iter()
            .find(|factor| factor["id"] == factor_id.as_str())
            .ok_or_else(factor_not_found)?;
        remove_factor(connection, &user_id, &factor_id)?;
        Ok(factor)
    })
    .await?;
    Ok(Json(factor).into_response())
}

/// `PUT /admin/users/{id}/factors/{factor_id}`: renames the factor.
async fn admin_update(
    State(app): State<App>,
    headers: HeaderMap,
    Path((user_id, factor_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    admin(&app, &headers)?;
    let user_id = uuid_of(&user_id, "user_id")?;
    let factor_id = uuid_of(&factor_id, "factor_id")?;
    let body = parse_body(&body)?;
    let name = text(&body, "friendly_name").map(str::to_owned);
    let factor = write(&app, move |connection| {
        admin_user(connection, &user_id)?;
        find_factor(connection, &user_id, &factor_id)?;
        if let Some(name) = name {
            connection
                .execute(
                    "UPDATE \"auth.mfa_factors\" SET friendly_name = ?2, updated_at = ?3 WHERE id = ?1",
                    params![factor_id, name, timestamp_now()],
                )
                .map_err(database)?;
        }
        factors_json(connection, &user_id)
            .map_err(database)?
            .into_iter()
            .find(|factor| factor["id"] == factor_id.as_str())
            .ok_or_else(factor_not_found)
    })
    .await?;
    Ok(Json(factor).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_uri_is_the_one_authenticator_apps_read() {
        assert_eq!(
            key_uri("127.0.0.1:3000", "ana@example.com", "JBSWY3DPEHPK3PXP"),
            "otpauth://totp/127%2E0%2E0%2E1%3A3000:ana%40example%2Ecom?algorithm=SHA1&digits=6&issuer=127%2E0%2E0%2E1%3A3000&period=30&secret=JBSWY3DPEHPK3PXP"
        );
    }

    #[test]
    fn a_code_of_the_current_step_passes_and_another_fails() {
        let secret = totp_rs::Secret::generate().to_base32();
        let totp = totp(&secret).unwrap();
        let code = totp.generate_current().to_string();
        assert!(totp.check_current(&code).is_some());
        let wrong = if code == "000000" { "111111" } else { "000000" };
        assert!(totp.check_current(wrong).is_none());
    }
}
