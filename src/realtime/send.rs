//! Send: broadcast from the database. `realtime.send(payload, event, topic, private)` and
//! `realtime.broadcast_changes(topic, event, operation, table, schema, new, old, level)` as
//! SQLite functions (`realtime_send`, `realtime_broadcast_changes`) on every connection. As in
//! Supabase they only insert a `realtime.messages` row (extension `broadcast`, the message's id
//! added to an object payload); `changes` captures the insert on the writer and broadcasts it
//! after commit, so a rolled-back transaction or savepoint sends nothing. Messages are kept
//! for 72 hours, counted from the start of their day, as Supabase drops daily partitions.

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use serde_json::{Map, Value as Json};

use crate::plpgsql::PgError;
use crate::schema::{PgType, QualifiedName};
use crate::store::naming::table_ident;

/// How long messages are kept before `cleanup` removes them (Supabase: 72 hours).
const RETENTION_HOURS: i64 = 72;

/// `realtime.messages` as a SQLite table name.
pub(crate) fn messages_table() -> String {
    table_ident(&QualifiedName::new("realtime", "messages"))
}

/// Registers `realtime_send` and `realtime_broadcast_changes` on a connection.
pub fn register(connection: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8;
    connection.create_scalar_function("realtime_send", -1, flags, |context| {
        arity(context, "realtime.send", 3, 4)?;
        let private = if context.len() > 3 {
            context.get::<Option<bool>>(3)?
        } else {
            Some(true)
        };
        let payload = json_argument(context, 0)?;
        let (event, topic) = (context.get(1)?, context.get(2)?);
        // SAFETY: the connection is used only on this thread, for the duration of the call.
        let connection = unsafe { context.get_connection()? };
        send(&connection, payload, event, topic, private);
        Ok(Value::Null)
    })?;
    connection.create_scalar_function("realtime_broadcast_changes", -1, flags, |context| {
        arity(context, "realtime.broadcast_changes", 7, 8)?;
        let text = |index: usize| context.get::<Option<String>>(index);
        let level = if context.len() > 7 {
            text(7)?
        } else {
            Some("ROW".into())
        };
        let operation = text(2)?;
        let payload = changes_payload(
            level.as_deref(),
            operation.as_deref(),
            text(3)?,
            text(4)?,
            json_argument(context, 5)?,
            json_argument(context, 6)?,
        )
        .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))?;
        // SAFETY: as above.
        let connection = unsafe { context.get_connection()? };
        send(&connection, Some(payload), text(1)?, text(0)?, Some(true));
        Ok(Value::Null)
    })
}

fn arity(context: &Context, name: &str, least: usize, most: usize) -> rusqlite::Result<()> {
    if (least..=most).contains(&context.len()) {
        return Ok(());
    }
    let error = PgError::new(
        "42883",
        format!(
            "function {name}() does not take {} arguments",
            context.len()
        ),
    );
    Err(rusqlite::Error::UserFunctionError(Box::new(error)))
}

/// A `jsonb` argument: JSON text parsed, other values as the JSON scalar they are.
fn json_argument(context: &Context, index: usize) -> rusqlite::Result<Option<Json>> {
    let value = context.get_raw(index);
    Ok(match value {
        ValueRef::Null => None,
        ValueRef::Text(text) => Some(
            serde_json::from_slice(text)
                .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(text).into_owned())),
        ),
        other => Some(crate::rest::execute::scalar_json(other, &PgType::Text)),
    })
}

/// The payload `broadcast_changes` sends, or the error it raises.
fn changes_payload(
    level: Option<&str>,
    operation: Option<&str>,
    table: Option<String>,
    schema: Option<String>,
    new: Option<Json>,
    old: Option<Json>,
) -> Result<Json, PgError> {
    let failed =
        |reason: String| PgError::new("P0001", format!("Failed to process the row: {reason}"));
    if level == Some("STATEMENT") {
        return Err(failed(
            "function can only be triggered for each row, not for each statement".into(),
        ));
    }
    match operation {
        Some(operation @ ("INSERT" | "UPDATE" | "DELETE")) => {
            let mut payload = Map::new();
            payload.insert("old_record".into(), old.unwrap_or(Json::Null));
            payload.insert("record".into(), new.unwrap_or(Json::Null));
            payload.insert("operation".into(), operation.into());
            payload.insert("table".into(), table.map_or(Json::Null, Json::String));
            payload.insert("schema".into(), schema.map_or(Json::Null, Json::String));
            Ok(Json::Object(payload))
        }
        other => Err(failed(format!(
            "Unexpected operation type: {}",
            other.unwrap_or("<NULL>")
        ))),
    }
}

/// `realtime.send`: inserts the message row; like Supabase, a failure is only a warning.
fn send(
    connection: &Connection,
    payload: Option<Json>,
    event: Option<String>,
    topic: Option<String>,
    private: Option<bool>,
) {
    if let Err(error) = insert(connection, payload, event, topic, private) {
        tracing::warn!("WarnSendingBroadcastMessage: {error}");
    }
}

fn insert(
    connection: &Connection,
    payload: Option<Json>,
    event: Option<String>,
    topic: Option<String>,
    private: Option<bool>,
) -> Result<(), String> {
    let id = uuid::Uuid::new_v4().to_string();
    let payload = match payload {
        None => None,
        Some(Json::Object(mut object)) => {
            object
                .entry("id")
                .or_insert_with(|| Json::String(id.clone()));
            Some(Json::Object(object).to_string())
        }
        // jsonb_set(payload, '{id}', …) on an array or a scalar fails.
        Some(Json::Array(_)) => return Err("path element at position 1 is not an integer".into()),
        Some(_) => return Err("cannot set path in scalar".into()),
    };
    connection
        .execute(
            &format!(
                "INSERT INTO {} (id, payload, event, topic, private, extension, inserted_at, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'broadcast', pg_now(), pg_now())",
                messages_table()
            ),
            rusqlite::params![id, payload, event, topic, private],
        )
        .map(drop)
        .map_err(|error| PgError::from(error).message)
}

/// Removes the messages past retention: those of days that ended more than 72 hours ago.
pub(crate) fn cleanup(connection: &Connection) -> rusqlite::Result<usize> {
    let limit = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(RETENTION_HOURS);
    let day = limit.strftime("%Y-%m-%d").to_string();
    connection.execute(
        &format!("DELETE FROM {} WHERE inserted_at < ?1", messages_table()),
        [day],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connection() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        crate::store::functions::register(&connection, Default::default()).unwrap();
        connection
            .execute_batch(&format!(
                "CREATE TABLE {} (id TEXT PRIMARY KEY, topic TEXT NOT NULL, extension TEXT NOT NULL, \
                 payload TEXT, event TEXT, private INTEGER, updated_at TEXT NOT NULL, \
                 inserted_at TEXT NOT NULL)",
                messages_table()
            ))
            .unwrap();
        connection
    }

    fn rows(connection: &Connection) -> Vec<(String, String, String, bool, Json)> {
        let sql = format!(
            "SELECT id, topic, event, private, payload FROM {} ORDER BY inserted_at",
            messages_table()
        );
        let mut statement = connection.prepare(&sql).unwrap();
        statement
            .query_map([], |row| {
                let payload: String = row.get(4)?;
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    serde_json::from_str(&payload).unwrap(),
                ))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn send_persists_a_broadcast_message_whose_payload_carries_its_id() {
        let connection = connection();
        connection
            .execute_batch(
                r#"SELECT realtime_send('{"n": 1}', 'ping', 'room:1');
                   SELECT realtime_send('{"id": "mine"}', 'ping', 'lobby', 0);"#,
            )
            .unwrap();
        let rows = rows(&connection);
        assert_eq!(rows.len(), 2);
        let (id, topic, event, private, payload) = &rows[0];
        assert_eq!(
            (topic.as_str(), event.as_str(), *private),
            ("room:1", "ping", true)
        );
        assert_eq!(payload, &json!({"n": 1, "id": id}));
        // A payload with its own id keeps it; `private => false` is public.
        assert_eq!((rows[1].1.as_str(), rows[1].3), ("lobby", false));
        assert_eq!(rows[1].4, json!({"id": "mine"}));
        let extension: String = connection
            .query_row(
                &format!("SELECT DISTINCT extension FROM {}", messages_table()),
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(extension, "broadcast");
    }

    #[test]
    fn a_failing_send_is_only_a_warning() {
        let connection = connection();
        // No topic (NOT NULL) and a payload that is not an object: nothing is stored, no error.
        connection
            .execute_batch(
                "SELECT realtime_send('{}', 'ping', NULL); SELECT realtime_send('[1]', 'ping', 't');",
            )
            .unwrap();
        assert!(rows(&connection).is_empty());
    }

    #[test]
    fn cleanup_removes_messages_of_days_ended_over_72_hours_ago() {
        let connection = connection();
        let insert = |id: &str, at: jiff::Timestamp| {
            connection
                .execute(
                    &format!(
                        "INSERT INTO {} VALUES (?1, 't', 'broadcast', '{{}}', 'e', 1, ?2, ?2)",
                        messages_table()
                    ),
                    rusqlite::params![id, crate::store::functions::format_timestamptz(at)],
                )
                .unwrap();
        };
        let now = jiff::Timestamp::now();
        insert("old", now - jiff::SignedDuration::from_hours(24 * 5));
        insert("recent", now - jiff::SignedDuration::from_hours(1));
        assert_eq!(cleanup(&connection).unwrap(), 1);
        let ids: Vec<String> = rows(&connection).into_iter().map(|row| row.0).collect();
        assert_eq!(ids, ["recent"]);
    }

    #[test]
    fn broadcast_changes_builds_supabases_payload() {
        let payload = changes_payload(
            Some("ROW"),
            Some("UPDATE"),
            Some("rooms".into()),
            Some("public".into()),
            Some(json!({"id": 1})),
            None,
        )
        .unwrap();
        assert_eq!(
            payload,
            json!({"old_record": null, "record": {"id": 1}, "operation": "UPDATE",
                   "table": "rooms", "schema": "public"})
        );
    }

    #[test]
    fn broadcast_changes_refuses_statement_level_and_unknown_operations() {
        let error =
            changes_payload(Some("STATEMENT"), Some("INSERT"), None, None, None, None).unwrap_err();
        assert_eq!(error.code, "P0001");
        assert!(error.message.contains("for each row"), "{}", error.message);
        let error =
            changes_payload(Some("ROW"), Some("TRUNCATE"), None, None, None, None).unwrap_err();
        assert_eq!(
            error.message,
            "Failed to process the row: Unexpected operation type: TRUNCATE"
        );
    }
}
