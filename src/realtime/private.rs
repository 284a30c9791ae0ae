//! Private: what a caller may do on a private channel, decided as Supabase Realtime decides it
//! — by the caller's policies on `realtime.messages` for a message of that topic
//! (`realtime.topic()`) and extension: SELECT to receive, INSERT to send. No policy, no access;
//! the service role bypasses them.

use crate::auth::Caller;
use crate::migrate::expression::substitute_calls;
use crate::rest::authorize::{self, Clause};
use crate::schema::{PolicyCommand, QualifiedName, SchemaCache};
use crate::store::Store;
use crate::store::naming::{quote_ident, quote_literal};

/// A caller's rights on one private topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions {
    /// Receive broadcasts (SELECT on a `broadcast` message of the topic).
    pub broadcast_read: bool,
    /// See who is present (SELECT on a `presence` message).
    pub presence_read: bool,
    /// Send broadcasts (INSERT of a `broadcast` message).
    pub broadcast_write: bool,
    /// Track presence (INSERT of a `presence` message).
    pub presence_write: bool,
}

impl Permissions {
    /// A public channel: everything.
    pub const PUBLIC: Self = Self {
        broadcast_read: true,
        presence_read: true,
        broadcast_write: true,
        presence_write: true,
    };
    const NONE: Self = Self {
        broadcast_read: false,
        presence_read: false,
        broadcast_write: false,
        presence_write: false,
    };

    /// Whether a channel may be joined or kept: Realtime checks presence only on a channel that
    /// enabled it, and lets in a caller who may read either.
    pub fn readable(&self, presence_enabled: bool) -> bool {
        self.broadcast_read || (presence_enabled && self.presence_read)
    }

    /// Whether these rights, from a refreshed token, take away a read right `before` gave.
    pub fn revoke(&self, before: &Self, presence_enabled: bool) -> bool {
        (before.broadcast_read && !self.broadcast_read)
            || (presence_enabled && before.presence_read && !self.presence_read)
    }
}

/// The caller's rights on the private channel `topic` (its name, without `realtime:`). A policy
/// that cannot be evaluated denies.
pub async fn permissions(
    store: &Store,
    schema: &SchemaCache,
    caller: &Caller,
    topic: &str,
) -> Permissions {
    if caller.bypasses_rls() {
        return Permissions::PUBLIC;
    }
    let Some(sql) = check_sql(schema, caller) else {
        return Permissions::NONE;
    };
    let topic = topic.to_owned();
    let answer = store
        .read(Some(caller.claims.clone()), move |connection| {
            connection.query_row(&sql, [&topic], |row| {
                Ok((
                    row.get::<_, bool>(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                ))
            })
        })
        .await;
    match answer {
        Ok(Ok((broadcast_read, presence_read, broadcast_write, presence_write))) => Permissions {
            broadcast_read,
            presence_read,
            broadcast_write,
            presence_write,
        },
        Ok(Err(error)) => {
            tracing::error!("realtime: private channel check failed: {error}");
            Permissions::NONE
        }
        Err(_) => Permissions::NONE,
    }
}

/// `SELECT read broadcast, read presence, send broadcast, send presence` for a message row of
/// the topic bound to `?1`; `None` when the policies cannot be translated.
fn check_sql(schema: &SchemaCache, caller: &Caller) -> Option<String> {
    let messages = schema.table(&QualifiedName::new("realtime", "messages"))?;
    let predicate = |command, clause| {
        authorize::row_filter(schema, messages, command, clause, caller)
            .ok()
            .map(|predicate| {
                substitute_calls(
                    predicate.as_deref().unwrap_or("1"),
                    &["realtime_topic"],
                    |_| "?1".into(),
                )
            })
    };
    let read = predicate(PolicyCommand::Select, Clause::Using)?;
    let send = predicate(PolicyCommand::Insert, Clause::WithCheck)?;
    let test = |predicate: &str, extension: &str| {
        let columns: Vec<String> = messages
            .columns
            .iter()
            .map(|column| {
                let value = match column.name.as_str() {
                    "topic" => "?1".to_owned(),
                    "extension" => quote_literal(extension),
                    "private" => "1".to_owned(),
                    _ => "NULL".to_owned(),
                };
                format!("{value} AS {}", quote_ident(&column.name))
            })
            .collect();
        format!(
            "EXISTS (SELECT 1 FROM (SELECT {}) AS \"messages\" WHERE {predicate})",
            columns.join(", ")
        )
    };
    Some(format!(
        "SELECT {}, {}, {}, {}",
        test(&read, "broadcast"),
        test(&read, "presence"),
        test(&send, "broadcast"),
        test(&send, "presence")
    ))
}
