//! Users: `auth.users`, `auth.identities`, `auth.sessions` and `auth.refresh_tokens` — reading
//! a user as the JSON GoTrue sends, creating users, sessions and rotating refresh tokens.
//! Every function runs inside a write or read job on the store.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value, json};

use crate::store::functions::timestamp_now;

/// A stored user, as much as the endpoints need.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub encrypted_password: Option<String>,
    pub email_confirmed_at: Option<String>,
    pub banned_until: Option<String>,
    pub is_anonymous: bool,
    pub app_metadata: Value,
    pub user_metadata: Value,
}

const USER_COLUMNS: &str = "id, email, encrypted_password, email_confirmed_at, banned_until, is_anonymous, raw_app_meta_data, raw_user_meta_data";

fn user_from_row(row: &rusqlite::Row) -> rusqlite::Result<User> {
    let json = |index: usize| -> rusqlite::Result<Value> {
        let text: Option<String> = row.get(index)?;
        Ok(text
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_else(|| json!({})))
    };
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        encrypted_password: row.get(2)?,
        email_confirmed_at: row.get(3)?,
        banned_until: row.get(4)?,
        is_anonymous: row.get::<_, Option<bool>>(5)?.unwrap_or(false),
        app_metadata: json(6)?,
        user_metadata: json(7)?,
    })
}

pub fn find_by_id(connection: &Connection, id: &str) -> rusqlite::Result<Option<User>> {
    connection
        .query_row(
            &format!(
                "SELECT {USER_COLUMNS} FROM \"auth.users\" WHERE id = ?1 AND deleted_at IS NULL"
            ),
            [id],
            user_from_row,
        )
        .optional()
}

pub fn find_by_email(connection: &Connection, email: &str) -> rusqlite::Result<Option<User>> {
    connection
        .query_row(&format!("SELECT {USER_COLUMNS} FROM \"auth.users\" WHERE lower(email) = lower(?1) AND deleted_at IS NULL"), [email], user_from_row)
        .optional()
}

/// What a new user is made of.
pub struct NewUser<'a> {
    pub id: Option<String>,
    pub email: Option<&'a str>,
    pub password_hash: Option<String>,
    pub confirmed: bool,
    pub user_metadata: Value,
    pub app_metadata: Value,
    pub is_anonymous: bool,
}

/// Inserts the user (the profile triggers of the project fire here) and its email identity.
pub fn create(connection: &Connection, new: NewUser) -> rusqlite::Result<String> {
    let email = new.email;
    let id = insert(connection, new)?;
    if let Some(email) = email {
        let identity_data =
            json!({"sub": id, "email": email, "email_verified": false, "phone_verified": false});
        connection.execute(
            "INSERT INTO \"auth.identities\" (provider_id, user_id, identity_data, provider, email, created_at, updated_at) VALUES (?1, ?1, ?2, 'email', ?3, ?4, ?4)",
            params![id, identity_data.to_string(), email, timestamp_now()],
        )?;
    }
    Ok(id)
}

/// Inserts the user alone: its identity is the caller's to add (an external provider's).
pub fn insert(connection: &Connection, new: NewUser) -> rusqlite::Result<String> {
    let id = new.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let now = timestamp_now();
    let confirmed_at = new.confirmed.then(|| now.clone());
    let mut user_metadata = new.user_metadata;
    if new.confirmed
        && new.email.is_some()
        && let Value::Object(map) = &mut user_metadata
    {
        map.insert("email_verified".into(), Value::Bool(true));
    }
    connection.execute(
        "INSERT INTO \"auth.users\" (id, aud, role, email, encrypted_password, email_confirmed_at, confirmed_at, raw_app_meta_data, raw_user_meta_data, is_anonymous, created_at, updated_at)
         VALUES (?1, 'authenticated', 'authenticated', ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?8)",
        params![id, new.email, new.password_hash, confirmed_at, new.app_metadata.to_string(), user_metadata.to_string(), new.is_anonymous, now],
    )?;
    Ok(id)
}

/// GoTrue renders times in UTC with `Z`.
pub fn gotrue_time(stored: Option<String>) -> Value {
    stored.map_or(Value::Null, |text| {
        Value::String(text.replace("+00:00", "Z"))
    })
}

/// The user object exactly as GoTrue sends it (protocol.md §3.1).
pub fn user_json(connection: &Connection, id: &str) -> rusqlite::Result<Option<Value>> {
    let row = connection
        .query_row(
            "SELECT id, aud, role, email, email_confirmed_at, phone, confirmed_at, last_sign_in_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at, is_anonymous, confirmation_sent_at, banned_until, invited_at, recovery_sent_at, email_change_sent_at, reauthentication_sent_at, email_change
             FROM \"auth.users\" WHERE id = ?1 AND deleted_at IS NULL",
            [id],
            |row| {
                let parse = |text: Option<String>| text.and_then(|text| serde_json::from_str::<Value>(&text).ok()).unwrap_or_else(|| json!({}));
                let mut user = Map::new();
                user.insert("id".into(), Value::String(row.get(0)?));
                user.insert("aud".into(), Value::String(row.get::<_, Option<String>>(1)?.unwrap_or_default()));
                user.insert("role".into(), Value::String(row.get::<_, Option<String>>(2)?.unwrap_or_default()));
                user.insert("email".into(), Value::String(row.get::<_, Option<String>>(3)?.unwrap_or_default()));
                for (key, index) in [("email_confirmed_at", 4), ("confirmed_at", 6), ("last_sign_in_at", 7), ("confirmation_sent_at", 13), ("banned_until", 14), ("invited_at", 15), ("recovery_sent_at", 16), ("email_change_sent_at", 17), ("reauthentication_sent_at", 18)] {
                    let value = gotrue_time(row.get(index)?);
                    if !value.is_null() {
                        user.insert(key.into(), value);
                    }
                }
                if let Some(new_email) = row.get::<_, Option<String>>(19)?.filter(|email| !email.is_empty()) {
                    user.insert("new_email".into(), Value::String(new_email));
                }
                user.insert("phone".into(), Value::String(row.get::<_, Option<String>>(5)?.unwrap_or_default()));
                user.insert("app_metadata".into(), parse(row.get(8)?));
                user.insert("user_metadata".into(), parse(row.get(9)?));
                user.insert("created_at".into(), gotrue_time(row.get(10)?));
                user.insert("updated_at".into(), gotrue_time(row.get(11)?));
                user.insert("is_anonymous".into(), Value::Bool(row.get::<_, Option<bool>>(12)?.unwrap_or(false)));
                Ok(user)
            },
        )
        .optional()?;
    let Some(mut user) = row else {
        return Ok(None);
    };
    let mut statement = connection.prepare_cached(
        "SELECT id, provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at, email FROM \"auth.identities\" WHERE user_id = ?1",
    )?;
    let identities = statement
        .query_map([id], |row| {
            Ok(json!({
                "identity_id": row.get::<_, String>(0)?,
                "id": row.get::<_, String>(1)?,
                "user_id": row.get::<_, String>(2)?,
                "identity_data": serde_json::from_str::<Value>(&row.get::<_, String>(3)?).unwrap_or_else(|_| json!({})),
                "provider": row.get::<_, String>(4)?,
                "last_sign_in_at": gotrue_time(row.get(5)?),
                "created_at": gotrue_time(row.get(6)?),
                "updated_at": gotrue_time(row.get(7)?),
                "email": row.get::<_, Option<String>>(8)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    user.insert("identities".into(), Value::Array(identities));
    let factors = super::mfa::factors_json(connection, id)?;
    if !factors.is_empty() {
        user.insert("factors".into(), Value::Array(factors));
    }
    Ok(Some(Value::Object(user)))
}

/// When a session started.
pub fn session_started(connection: &Connection, session: &str) -> rusqlite::Result<Option<String>> {
    connection
        .query_row(
            "SELECT created_at FROM \"auth.sessions\" WHERE id = ?1",
            [session],
            |row| row.get(0),
        )
        .optional()
        .map(Option::flatten)
}

/// Rotates a session's active refresh token, as a refresh with it would.
pub fn rotate_session(
    connection: &Connection,
    session: &str,
    reuse_interval_secs: u64,
) -> rusqlite::Result<Refresh> {
    let active: Option<String> = connection
        .query_row(
            "SELECT token FROM \"auth.refresh_tokens\" WHERE session_id = ?1 AND revoked = 0 ORDER BY id DESC LIMIT 1",
            [session],
            |row| row.get(0),
        )
        .optional()?;
    match active {
        Some(token) => refresh(connection, &token, reuse_interval_secs),
        None => Ok(Refresh::NotFound),
    }
}

/// A new random refresh token (opaque to clients).
fn new_refresh_token() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Starts a session for the user: returns `(session_id, refresh_token)`.
pub fn start_session(connection: &Connection, user_id: &str) -> rusqlite::Result<(String, String)> {
    let session = uuid::Uuid::new_v4().to_string();
    let now = timestamp_now();
    connection.execute("INSERT INTO \"auth.sessions\" (id, user_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)", params![session, user_id, now])?;
    connection.execute(
        "UPDATE \"auth.users\" SET last_sign_in_at = ?2 WHERE id = ?1",
        params![user_id, now],
    )?;
    let token = issue_token(connection, user_id, &session, None)?;
    Ok((session, token))
}

fn issue_token(
    connection: &Connection,
    user_id: &str,
    session: &str,
    parent: Option<&str>,
) -> rusqlite::Result<String> {
    let token = new_refresh_token();
    connection.execute(
        "INSERT INTO \"auth.refresh_tokens\" (token, user_id, session_id, parent, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![token, user_id, session, parent, timestamp_now()],
    )?;
    Ok(token)
}

/// The outcome of presenting a refresh token.
pub enum Refresh {
    /// `(user_id, session_id, refresh token to hand out)`.
    Granted(String, String, String),
    NotFound,
    SessionMissing,
    AlreadyUsed,
}

/// GoTrue's rotation (protocol.md §3.4): the token is revoked and a child issued. A revoked
/// token that is the parent of the session's active token answers that token; another revoked
/// token does too within the reuse interval, and after it revokes every token of the session
/// (`refresh_token_already_used`).
pub fn refresh(
    connection: &Connection,
    token: &str,
    reuse_interval_secs: u64,
) -> rusqlite::Result<Refresh> {
    let found: Option<(String, Option<String>, bool, String)> = connection
        .query_row(
            "SELECT user_id, session_id, revoked, updated_at FROM \"auth.refresh_tokens\" WHERE token = ?1",
            [token],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .optional()?;
    let Some((user_id, session, revoked, revoked_at)) = found else {
        return Ok(Refresh::NotFound);
    };
    // Signing out deletes the session; its tokens stay, revoked.
    let Some(session) = session else {
        return Ok(Refresh::SessionMissing);
    };
    let session_exists: Option<String> = connection
        .query_row(
            "SELECT id FROM \"auth.sessions\" WHERE id = ?1",
            [&session],
            |row| row.get(0),
        )
        .optional()?;
    if session_exists.is_none() {
        return Ok(Refresh::SessionMissing);
    }
    if revoked {
        let active: Option<(String, Option<String>)> = connection
            .query_row(
                "SELECT token, parent FROM \"auth.refresh_tokens\" WHERE session_id = ?1 AND revoked = 0 ORDER BY id DESC LIMIT 1",
                [&session],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        // The parent of the active token: the client lost the answer of its last refresh, so
        // it gets that answer's token again, however late it comes back.
        if let Some((active, Some(parent))) = &active
            && parent == token
        {
            return Ok(Refresh::Granted(user_id, session, active.clone()));
        }
        let within_interval = jiff::Timestamp::now()
            .duration_since(
                revoked_at
                    .parse::<jiff::Timestamp>()
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            )
            .as_secs()
            < reuse_interval_secs as i64;
        if !within_interval {
            // Reuse detected: every token of the session is revoked (the session itself
            // stays, as GoTrue's `RevokeTokenFamily` leaves it).
            connection.execute(
                "UPDATE \"auth.refresh_tokens\" SET revoked = 1, updated_at = ?2 WHERE session_id = ?1 AND revoked = 0",
                params![session, timestamp_now()],
            )?;
            return Ok(Refresh::AlreadyUsed);
        }
        // Within the interval the session's active token is handed out again: a retried
        // refresh never starts a second live chain.
        if let Some((active, _)) = active {
            return Ok(Refresh::Granted(user_id, session, active));
        }
    }
    connection.execute(
        "UPDATE \"auth.refresh_tokens\" SET revoked = 1, updated_at = ?2 WHERE token = ?1",
        params![token, timestamp_now()],
    )?;
    connection.execute(
        "UPDATE \"auth.sessions\" SET updated_at = ?2 WHERE id = ?1",
        params![session, timestamp_now()],
    )?;
    let child = issue_token(connection, &user_id, &session, Some(token))?;
    Ok(Refresh::Granted(user_id, session, child))
}

pub fn session_exists(connection: &Connection, session: &str) -> rusqlite::Result<bool> {
    Ok(connection
        .query_row(
            "SELECT 1 FROM \"auth.sessions\" WHERE id = ?1",
            [session],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Merges `patch` into a metadata object; `null` values delete keys.
pub fn merge_metadata(current: &Value, patch: &Value) -> Value {
    let mut merged = current.as_object().cloned().unwrap_or_default();
    if let Value::Object(patch) = patch {
        for (key, value) in patch {
            if value.is_null() {
                merged.remove(key);
            } else {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(merged)
}
