//! Changes: `postgres_changes` (protocol.md §4.5). Capture runs on the writer connection: TEMP
//! triggers on each published table append `(table, op, old, new)` — rows already rendered to
//! JSON as REST renders them — to a TEMP table, which is transactional, so a rolled-back job
//! leaves nothing. After each job (`WriteObserver::after_write`) the rows are drained in commit
//! order and handed to one dispatcher thread, which matches bindings and filters, checks access
//! and queues each subscriber's push. Bindings and their filters are parsed here too.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak, mpsc};
use std::time::{Duration, Instant};

use regex::Regex;
use rusqlite::Connection;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Hub, Payload, SharedChange, now_secs};
use super::{access, broadcast, send};
use crate::migrate::values::normalize_timestamptz;
use crate::schema::{Column, PgType, PrintedType, QualifiedName, SchemaCache, Table, TableKind};
use crate::store::naming::{quote_ident, quote_literal, table_ident};
use crate::store::{Store, WriteObserver};

const CHANGES_TABLE: &str = "_solobase_realtime_changes";

/// The `table_index` of a captured broadcast (published tables count from 0).
const MESSAGE_INDEX: i64 = -1;

/// How often the writer removes messages past retention.
const CLEANUP_INTERVAL: Duration = Duration::from_secs(3600);

/// Batches of changes (one per write job) the writer may queue before it waits for the
/// dispatcher: writes slow down rather than memory growing.
const DISPATCH_QUEUE_BATCHES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Update,
    Delete,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Insert => "INSERT",
            ChangeKind::Update => "UPDATE",
            ChangeKind::Delete => "DELETE",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "INSERT" => Some(ChangeKind::Insert),
            "UPDATE" => Some(ChangeKind::Update),
            "DELETE" => Some(ChangeKind::Delete),
            _ => None,
        }
    }
}

/// One committed row change.
#[derive(Debug, Clone)]
pub struct Change {
    pub table: Arc<Table>,
    pub kind: ChangeKind,
    pub record: Option<Arc<Map<String, Value>>>,
    pub old_record: Option<Arc<Map<String, Value>>>,
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as realtime sends it.
    pub commit_timestamp: String,
}

impl Change {
    /// The row access and filters are checked against: the new row, or the old one for DELETE.
    fn row(&self) -> Option<&Arc<Map<String, Value>>> {
        match self.kind {
            ChangeKind::Delete => self.old_record.as_ref(),
            _ => self.record.as_ref(),
        }
    }

    /// The `data` of the push, shared by every subscriber.
    pub fn data(&self) -> Value {
        let columns: Vec<Value> = self
            .table
            .columns
            .iter()
            .map(|column| json!({"name": column.name, "type": column.pg_type.typname()}))
            .collect();
        let mut data = json!({
            "schema": self.table.name.schema,
            "table": self.table.name.name,
            "commit_timestamp": self.commit_timestamp,
            "type": self.kind.as_str(),
            "columns": columns,
            "errors": null,
        });
        if let Some(record) = &self.record {
            data["record"] = Value::Object(record.as_ref().clone());
        }
        if let Some(old) = &self.old_record {
            // With row-level security on, the old row may hold what a subscriber can no longer
            // see: like Supabase, send only its primary key.
            let old = if self.table.rls_enabled {
                old.iter()
                    .filter(|(column, _)| self.table.primary_key.contains(column))
                    .map(|(column, value)| (column.clone(), value.clone()))
                    .collect()
            } else {
                old.as_ref().clone()
            };
            data["old_record"] = Value::Object(old);
        }
        data
    }
}

/// One broadcast from the database: a committed `realtime.messages` row (see `send`).
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub topic: String,
    pub event: String,
    pub private: bool,
    pub payload: Value,
}

/// What one write job committed, in commit order.
#[derive(Debug, Clone)]
pub enum Captured {
    Change(Change),
    Message(Message),
}

// ---------------------------------------------------------------------------------------------
// Capture

/// The writer-side observer: installs the TEMP triggers and drains what they recorded.
struct Capture {
    tables: Vec<Arc<Table>>,
    sender: mpsc::SyncSender<Vec<Captured>>,
    /// When `realtime.messages` was last cleaned up (`send::cleanup`).
    cleaned: Mutex<Option<Instant>>,
}

/// Installs capture on `store`'s writer and starts the dispatcher thread for `hub`.
pub(crate) fn start_capture(store: &Store, schema: Arc<SchemaCache>, hub: Weak<Hub>) {
    let tables: Vec<Arc<Table>> = schema
        .realtime_tables
        .iter()
        .filter_map(|name| schema.table(name))
        .filter(|table| table.kind == TableKind::Table)
        .map(|table| Arc::new(table.clone()))
        .collect();
    let (sender, receiver) = mpsc::sync_channel::<Vec<Captured>>(DISPATCH_QUEUE_BATCHES);
    let capture = Capture {
        tables,
        sender,
        cleaned: Mutex::new(None),
    };
    if let Err(error) = store.observe_writes(Arc::new(capture)) {
        tracing::error!("realtime change capture not installed: {error}");
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("solobase-realtime".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!("realtime dispatcher runtime: {error}");
                    return;
                }
            };
            // Ends when the store closes (the writer drops the sender) or realtime is dropped.
            while let Ok(batch) = receiver.recv() {
                let Some(hub) = hub.upgrade() else { return };
                runtime.block_on(async {
                    for captured in &batch {
                        match captured {
                            Captured::Change(change) => dispatch(&hub, change).await,
                            Captured::Message(message) => broadcast::deliver(&hub, message),
                        }
                    }
                });
            }
        });
    if let Err(error) = spawned {
        tracing::error!("realtime dispatcher thread: {error}");
    }
}

impl WriteObserver for Capture {
    fn install(&self, connection: &Connection) -> rusqlite::Result<()> {
        let mut sql = format!(
            "CREATE TEMP TABLE IF NOT EXISTS {CHANGES_TABLE} (\
             seq INTEGER PRIMARY KEY, table_index INTEGER NOT NULL, op TEXT NOT NULL, \
             old_row TEXT, new_row TEXT);\n"
        );
        for (index, table) in self.tables.iter().enumerate() {
            sql.push_str(&triggers_sql(index, table));
        }
        sql.push_str(&messages_trigger_sql());
        connection.execute_batch(&sql)
    }

    fn after_write(&self, connection: &Connection) {
        let mut cleaned = self.cleaned.lock().unwrap_or_else(PoisonError::into_inner);
        if cleaned.is_none_or(|at| at.elapsed() >= CLEANUP_INTERVAL) {
            *cleaned = Some(Instant::now());
            if let Err(error) = send::cleanup(connection) {
                tracing::error!("realtime: removing old realtime.messages failed: {error}");
            }
        }
        drop(cleaned);
        match drain(connection, &self.tables) {
            Ok(changes) if changes.is_empty() => {}
            Ok(changes) => {
                // Blocks the writer only while the dispatcher is a full queue behind.
                let _ = self.sender.send(changes);
            }
            Err(error) => tracing::error!("realtime: draining captured changes failed: {error}"),
        }
    }
}

/// The three TEMP triggers of one published table.
fn triggers_sql(index: usize, table: &Table) -> String {
    let target = format!("main.{}", table_ident(&table.name));
    let mut sql = String::new();
    for (op, old, new) in [
        ("INSERT", None, Some("NEW")),
        ("UPDATE", Some("OLD"), Some("NEW")),
        ("DELETE", Some("OLD"), None),
    ] {
        let trigger = quote_ident(&format!(
            "_solobase_realtime_{}_{}_{}",
            table.name.schema,
            table.name.name,
            op.to_lowercase()
        ));
        let row = |prefix: Option<&str>| {
            prefix
                .map(|prefix| row_json(table, prefix))
                .unwrap_or_else(|| "NULL".into())
        };
        // A row moved to the end of its table (a new rowid, no value changed) is no change.
        let when = if op == "UPDATE" {
            "WHEN OLD.rowid = NEW.rowid "
        } else {
            ""
        };
        sql.push_str(&format!(
            "DROP TRIGGER IF EXISTS temp.{trigger};\n\
             CREATE TEMP TRIGGER {trigger} AFTER {op} ON {target} {when}BEGIN \
             INSERT INTO {CHANGES_TABLE} (table_index, op, old_row, new_row) \
             VALUES ({index}, '{op}', {}, {}); END;\n",
            row(old),
            row(new)
        ));
    }
    sql
}

/// The TEMP trigger that captures each broadcast inserted into `realtime.messages`, with the
/// fields Supabase's replication needs (a row without one of them is not broadcast).
fn messages_trigger_sql() -> String {
    let trigger = quote_ident("_solobase_realtime_messages_insert");
    format!(
        "DROP TRIGGER IF EXISTS temp.{trigger};\n\
         CREATE TEMP TRIGGER {trigger} AFTER INSERT ON main.{} \
         WHEN NEW.extension = 'broadcast' AND NEW.event IS NOT NULL \
         AND NEW.private IS NOT NULL AND json_valid(NEW.payload) BEGIN \
         INSERT INTO {CHANGES_TABLE} (table_index, op, old_row, new_row) VALUES ({MESSAGE_INDEX}, \
         'BROADCAST', NULL, json_object('id', NEW.id, 'topic', NEW.topic, 'event', NEW.event, \
         'private', json(CASE WHEN NEW.private THEN 'true' ELSE 'false' END), \
         'payload', json(NEW.payload))); END;\n",
        send::messages_table()
    )
}

/// `json_object(…)` of a row, each value typed as REST renders it.
fn row_json(table: &Table, prefix: &str) -> String {
    let pairs: Vec<String> = table
        .columns
        .iter()
        .map(|column| {
            format!(
                "{}, {}",
                quote_literal(&column.name),
                value_json(column, &format!("{prefix}.{}", quote_ident(&column.name)))
            )
        })
        .collect();
    format!("json_object({})", pairs.join(", "))
}

fn value_json(column: &Column, value: &str) -> String {
    match column.pg_type {
        PgType::Boolean => format!(
            "json(CASE WHEN {value} IS NULL THEN 'null' WHEN {value} THEN 'true' ELSE 'false' END)"
        ),
        // Stored as JSON text; text that is not JSON is sent as a string rather than failing
        // the write that produced it.
        PgType::Json | PgType::Jsonb | PgType::Array(_) => {
            format!("CASE WHEN json_valid({value}) THEN json({value}) ELSE {value} END")
        }
        PgType::Bytea => {
            format!("CASE WHEN {value} IS NULL THEN NULL ELSE '\\x' || lower(hex({value})) END")
        }
        // Supabase Realtime sends `to_jsonb` of each value: a geometry's GeoJSON.
        PgType::Printed(PrintedType::Geometry(column)) if !column.geography => {
            format!("json(pg_geometry_json({value}))")
        }
        _ => value.to_owned(),
    }
}

/// Reads and clears what the triggers recorded, in order.
fn drain(connection: &Connection, tables: &[Arc<Table>]) -> rusqlite::Result<Vec<Captured>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT table_index, op, old_row, new_row FROM {CHANGES_TABLE} ORDER BY seq"
    ))?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    connection.execute(&format!("DELETE FROM {CHANGES_TABLE}"), [])?;
    let commit_timestamp = commit_timestamp(jiff::Timestamp::now());
    let parse = |text: Option<String>| {
        text.and_then(|text| match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Some(Arc::new(map)),
            _ => None,
        })
    };
    Ok(rows
        .into_iter()
        .filter_map(|(index, op, old, new)| {
            if index == MESSAGE_INDEX {
                return message(parse(new)?.as_ref()).map(Captured::Message);
            }
            Some(Captured::Change(Change {
                table: tables.get(usize::try_from(index).ok()?)?.clone(),
                kind: ChangeKind::parse(&op)?,
                record: parse(new),
                old_record: parse(old),
                commit_timestamp: commit_timestamp.clone(),
            }))
        })
        .collect())
}

/// A captured `realtime.messages` row.
fn message(row: &Map<String, Value>) -> Option<Message> {
    let text = |key: &str| row.get(key).and_then(Value::as_str).map(str::to_owned);
    Some(Message {
        id: text("id")?,
        topic: text("topic")?,
        event: text("event")?,
        private: row.get("private")?.as_bool()?,
        payload: row.get("payload")?.clone(),
    })
}

/// `2026-08-22T10:00:00.123Z`: millisecond precision, as realtime sends it.
fn commit_timestamp(instant: jiff::Timestamp) -> String {
    let millis = instant.subsec_millisecond();
    format!("{}.{millis:03}Z", instant.strftime("%Y-%m-%dT%H:%M:%S"))
}

// ---------------------------------------------------------------------------------------------
// Dispatch

/// What a change's frame depends on besides the change: channels with the same topic, join
/// ref and binding ids get the same bytes.
type FrameKey<'a> = (&'a str, Option<&'a str>, &'a [u32]);

/// Delivers one change to every subscriber whose bindings match and who may see the row.
async fn dispatch(hub: &Hub, change: &Change) {
    let Some(row) = change.row() else { return };
    let now = now_secs();
    let mut candidates = Vec::new();
    for listener in hub.listeners(&change.table.name, row) {
        if listener.subscription.expired(now) {
            continue;
        }
        let mut ids: Vec<u32> = listener
            .subscription
            .bindings
            .iter()
            .filter(|binding| binding.matches(change, row))
            .map(|binding| binding.id)
            .collect();
        ids.dedup();
        if !ids.is_empty() {
            candidates.push((listener, ids));
        }
    }
    if candidates.is_empty() {
        return;
    }
    let subjects: Vec<_> = candidates
        .iter()
        .map(|(listener, _)| (&listener.subscription.caller, &listener.access))
        .collect();
    let verdicts = access::check(&hub.store, &change.table, row, &subjects).await;
    let data = Arc::new(change.data());
    let mut shared: HashMap<FrameKey, Arc<SharedChange>> = HashMap::new();
    for ((listener, ids), verdict) in candidates.iter().zip(verdicts) {
        let subscription = &listener.subscription;
        match verdict {
            Ok(true) => {
                let key = (
                    subscription.topic.as_str(),
                    subscription.join_ref.as_deref(),
                    ids.as_slice(),
                );
                let change = shared
                    .entry(key)
                    .or_insert_with(|| Arc::new(SharedChange::new(ids.clone(), data.clone())));
                subscription.push("postgres_changes", Payload::Change(change.clone()));
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(topic = %subscription.topic, "realtime access check: {error}");
                subscription.system(
                    "postgres_changes",
                    false,
                    &format!("Error checking access to {}: {error}", change.table.name),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bindings and filters

/// One `postgres_changes` entry of a join, with the id the reply assigns it.
#[derive(Debug, Clone)]
pub struct Binding {
    pub id: u32,
    /// `None` is `*`.
    pub event: Option<ChangeKind>,
    pub schema: String,
    /// `None` is every published table of the schema.
    pub table: Option<String>,
    pub conditions: Vec<Condition>,
    /// What the reply echoes: the entry as the client sent it, plus `id`.
    pub echo: Value,
}

impl Binding {
    /// Parses a join's `postgres_changes` entry against the published tables.
    pub fn parse(entry: &Value, schema: &SchemaCache) -> Result<Binding, String> {
        let text = |key: &str| entry.get(key).and_then(Value::as_str);
        let event_text = text("event").unwrap_or("*");
        let event = match event_text.to_uppercase().as_str() {
            "*" => None,
            other => Some(
                ChangeKind::parse(other).ok_or_else(|| format!("unknown event {event_text:?}"))?,
            ),
        };
        let schema_name = text("schema").unwrap_or("public").to_owned();
        let table_name = text("table").filter(|table| *table != "*");
        let filter = text("filter").filter(|filter| !filter.is_empty());
        let describe = || {
            format!(
                "Unable to subscribe to changes with given parameters. Please check Realtime is \
                 enabled for the given connect parameters: [event: {event_text}, schema: \
                 {schema_name}, table: {}, filters: [{}]]",
                table_name.unwrap_or("*"),
                filter.unwrap_or("")
            )
        };
        let conditions = match table_name {
            Some(name) => {
                let qualified = QualifiedName::new(schema_name.clone(), name);
                let table = schema
                    .realtime_tables
                    .contains(&qualified)
                    .then(|| schema.table(&qualified))
                    .flatten()
                    .ok_or_else(|| {
                        format!(
                            "{}: {qualified} is not in the supabase_realtime publication",
                            describe()
                        )
                    })?;
                match filter {
                    Some(filter) => parse_filter(filter, table)
                        .map_err(|reason| format!("Error parsing `filter` params: {reason}"))?,
                    None => Vec::new(),
                }
            }
            None if filter.is_some() => {
                return Err(format!("{}: a filter needs a table", describe()));
            }
            None => Vec::new(),
        };
        let mut echo = entry.clone();
        let id = binding_id(entry);
        if let Value::Object(map) = &mut echo {
            map.insert("id".into(), Value::from(id));
        }
        Ok(Binding {
            id,
            event,
            schema: schema_name,
            table: table_name.map(str::to_owned),
            conditions,
            echo,
        })
    }

    fn matches(&self, change: &Change, row: &Map<String, Value>) -> bool {
        self.event.is_none_or(|event| event == change.kind)
            && self.schema == change.table.name.schema
            && self
                .table
                .as_ref()
                .is_none_or(|table| *table == change.table.name.name)
            && self
                .conditions
                .iter()
                .all(|condition| condition.matches(row))
    }
}

/// A stable 27-bit id for a binding, like the real server's `phash2` of its parameters.
fn binding_id(entry: &Value) -> u32 {
    let field = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or("");
    let text = format!(
        "{}\u{0}{}\u{0}{}\u{0}{}",
        field("event"),
        field("schema"),
        field("table"),
        field("filter")
    );
    let digest = Sha256::digest(text.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) & 0x07FF_FFFF
}

/// One `column=[not.]op.value` condition of a filter.
#[derive(Debug, Clone)]
pub struct Condition {
    column: String,
    pg_type: PgType,
    negate: bool,
    operator: Operator,
}

#[derive(Debug, Clone)]
enum Operator {
    Compare(fn(Ordering) -> bool, String),
    In(Vec<String>),
    Pattern(Regex),
    Is(Option<bool>),
    IsDistinct(String),
}

/// Parses `id=gt.0,title=like.*a*` (comma-separated conditions, AND-ed) against `table`.
pub fn parse_filter(filter: &str, table: &Table) -> Result<Vec<Condition>, String> {
    if filter == "undefined" {
        return Err("\"undefined\" is not a filter".into());
    }
    split_top_level(filter)
        .into_iter()
        .map(|part| parse_condition(part.trim(), table))
        .collect()
}

fn parse_condition(text: &str, table: &Table) -> Result<Condition, String> {
    let (column_name, rest) = text
        .split_once('=')
        .ok_or_else(|| format!("[{text:?}]: expected column=operator.value"))?;
    let column = table
        .column(column_name)
        .ok_or_else(|| format!("column {column_name:?} does not exist on {}", table.name))?;
    let (negate, rest) = match rest.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let (operator, value) = rest
        .split_once('.')
        .ok_or_else(|| format!("[{column_name:?}, {rest:?}]: expected operator.value"))?;
    let pg_type = column.pg_type.clone();
    let scalar = |value: &str| normalize(&pg_type, &unquote(value));
    let operator = match operator {
        "eq" => Operator::Compare(Ordering::is_eq, scalar(value)?),
        "neq" => Operator::Compare(Ordering::is_ne, scalar(value)?),
        "lt" => Operator::Compare(Ordering::is_lt, scalar(value)?),
        "lte" => Operator::Compare(Ordering::is_le, scalar(value)?),
        "gt" => Operator::Compare(Ordering::is_gt, scalar(value)?),
        "gte" => Operator::Compare(Ordering::is_ge, scalar(value)?),
        "in" => {
            let list = value
                .strip_prefix('(')
                .and_then(|list| list.strip_suffix(')'))
                .ok_or_else(|| format!("[{column_name:?}, {value:?}]: in needs (a,b,…)"))?;
            Operator::In(
                split_top_level(list)
                    .into_iter()
                    .map(|item| scalar(item.trim()))
                    .collect::<Result<_, _>>()?,
            )
        }
        "like" | "ilike" => Operator::Pattern(like_regex(&unquote(value), operator == "ilike")?),
        "match" | "imatch" => {
            let pattern = unquote(value);
            let pattern = if operator == "imatch" {
                format!("(?i){pattern}")
            } else {
                pattern
            };
            Operator::Pattern(Regex::new(&pattern).map_err(|error| error.to_string())?)
        }
        "is" => Operator::Is(match value.to_lowercase().as_str() {
            "null" | "unknown" => None,
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                return Err(format!(
                    "[{column_name:?}, {value:?}]: is takes null, true, false or unknown"
                ));
            }
        }),
        "isdistinct" => Operator::IsDistinct(scalar(value)?),
        other => return Err(format!("[{column_name:?}, {other:?}]: unknown operator")),
    };
    Ok(Condition {
        column: column_name.to_owned(),
        pg_type,
        negate,
        operator,
    })
}

/// Splits on commas outside `"…"` and `(…)`.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0usize, false, false, 0usize);
    for (index, character) in text.char_indices() {
        match character {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `"a \"b\""` → `a "b"`; unquoted values are taken as they are.
fn unquote(value: &str) -> String {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|value| value.strip_suffix('"'))
    else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut characters = inner.chars();
    while let Some(character) = characters.next() {
        if character == '\\' {
            if let Some(next) = characters.next() {
                out.push(next);
            }
        } else {
            out.push(character);
        }
    }
    out
}

/// Casts a filter value to the column's type, as Postgres would, or says why it cannot.
fn normalize(pg_type: &PgType, value: &str) -> Result<String, String> {
    let invalid = || {
        format!(
            "invalid input syntax for type {}: {value:?}",
            pg_type.pg_name()
        )
    };
    match pg_type {
        PgType::SmallInt | PgType::Integer | PgType::BigInt => value
            .parse::<i64>()
            .map(|number| number.to_string())
            .map_err(|_| invalid()),
        PgType::Numeric | PgType::Decimal { .. } | PgType::Real | PgType::Double => value
            .parse::<f64>()
            .map(|_| value.to_owned())
            .map_err(|_| invalid()),
        PgType::Boolean => parse_bool(value)
            .map(|flag| flag.to_string())
            .ok_or_else(invalid),
        PgType::Uuid => Ok(value.to_lowercase()),
        PgType::Timestamptz => normalize_timestamptz(value).ok_or_else(invalid),
        _ => Ok(value.to_owned()),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A `like` pattern as an anchored regex: `%` and PostgREST's `*` match any run, `_` one char.
fn like_regex(pattern: &str, case_insensitive: bool) -> Result<Regex, String> {
    let mut regex = String::from(if case_insensitive { "(?is)^" } else { "(?s)^" });
    for character in pattern.chars() {
        match character {
            '%' | '*' => regex.push_str(".*"),
            '_' => regex.push('.'),
            other => regex.push_str(&regex::escape(&other.to_string())),
        }
    }
    regex.push('$');
    Regex::new(&regex).map_err(|error| error.to_string())
}

impl Condition {
    fn matches(&self, row: &Map<String, Value>) -> bool {
        let value = row.get(&self.column).unwrap_or(&Value::Null);
        let result = match &self.operator {
            Operator::Compare(accept, expected) => {
                compare(&self.pg_type, value, expected).map(accept)
            }
            Operator::In(list) => {
                if value.is_null() {
                    None
                } else {
                    Some(list.iter().any(|expected| {
                        compare(&self.pg_type, value, expected) == Some(Ordering::Equal)
                    }))
                }
            }
            Operator::Pattern(regex) => text_of(value).map(|text| regex.is_match(&text)),
            Operator::Is(expected) => Some(match expected {
                None => value.is_null(),
                Some(flag) => value.as_bool() == Some(*flag),
            }),
            Operator::IsDistinct(expected) => Some(
                value.is_null() || compare(&self.pg_type, value, expected) != Some(Ordering::Equal),
            ),
        };
        // SQL semantics: a comparison with NULL is unknown, and unknown (even negated) excludes.
        result.is_some_and(|matched| matched != self.negate)
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// Compares a row value with a normalized filter value by the column's type.
fn compare(pg_type: &PgType, value: &Value, expected: &str) -> Option<Ordering> {
    match pg_type {
        _ if value.is_null() => None,
        PgType::SmallInt | PgType::Integer | PgType::BigInt => {
            let expected: i64 = expected.parse().ok()?;
            match value.as_i64() {
                Some(number) => Some(number.cmp(&expected)),
                None => value.as_f64()?.partial_cmp(&(expected as f64)),
            }
        }
        PgType::Numeric | PgType::Decimal { .. } | PgType::Real | PgType::Double => {
            let number = match value {
                Value::String(text) => text.parse().ok()?,
                other => other.as_f64()?,
            };
            number.partial_cmp(&expected.parse::<f64>().ok()?)
        }
        PgType::Boolean => Some(value.as_bool()?.cmp(&parse_bool(expected)?)),
        PgType::Uuid => Some(text_of(value)?.to_lowercase().as_str().cmp(expected)),
        _ => Some(text_of(value)?.as_str().cmp(expected)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Column;

    fn table() -> Table {
        let column = |name: &str, pg_type: PgType| Column {
            name: name.into(),
            pg_type,
            nullable: true,
            default: None,
            identity: false,
            sequence: None,
            comment: None,
        };
        Table {
            name: QualifiedName::public("todos"),
            kind: TableKind::Table,
            columns: vec![
                column("id", PgType::BigInt),
                column("title", PgType::Text),
                column("done", PgType::Boolean),
                column("score", PgType::Numeric),
                column("owner", PgType::Uuid),
                column("at", PgType::Timestamptz),
            ],
            primary_key: vec!["id".into()],
            unique_constraints: vec![],
            foreign_keys: vec![],
            checks: vec![],
            rls_enabled: false,
            policies: vec![],
            comment: None,
            partitioning: None,
            partition_of: None,
        }
    }

    #[track_caller]
    fn check(filter: &str, row: Value, expected: bool) {
        let conditions = parse_filter(filter, &table()).unwrap();
        let Value::Object(row) = row else { panic!() };
        assert_eq!(
            conditions.iter().all(|condition| condition.matches(&row)),
            expected,
            "{filter}"
        );
    }

    #[test]
    fn comparison_filters_cast_the_value_to_the_column_type() {
        let row = json!({"id": 10, "title": "Buy milk", "done": true, "score": 2.5,
            "owner": "5f0c0000-0000-4000-8000-000000000001", "at": "2024-01-01T12:00:00+00:00"});
        check("id=eq.10", row.clone(), true);
        check("id=neq.10", row.clone(), false);
        check("id=gt.9", row.clone(), true);
        check("id=gte.10", row.clone(), true);
        check("id=lt.10", row.clone(), false);
        check("id=lte.10", row.clone(), true);
        check("id=gt.9,id=lt.10", row.clone(), false);
        check("id=in.(1,10,100)", row.clone(), true);
        check("id=not.in.(1,10,100)", row.clone(), false);
        check("done=eq.true", row.clone(), true);
        check("score=gt.2", row.clone(), true);
        check(
            "owner=eq.5F0C0000-0000-4000-8000-000000000001",
            row.clone(),
            true,
        );
        check("at=eq.2024-01-01T14:00:00+02:00", row.clone(), true);
        check("at=gt.2024-01-01T11:59:59Z", row, true);
    }

    #[test]
    fn pattern_is_and_not_filters_follow_postgrest() {
        let row = json!({"id": 1, "title": "Buy milk, now", "done": null});
        check("title=like.Buy%", row.clone(), true);
        check("title=like.buy%", row.clone(), false);
        check("title=ilike.*MILK*", row.clone(), true);
        check("title=eq.\"Buy milk, now\"", row.clone(), true);
        check("title=in.(\"Buy milk, now\",other)", row.clone(), true);
        check("title=match.^Buy", row.clone(), true);
        check("title=imatch.^buy", row.clone(), true);
        check("done=is.null", row.clone(), true);
        check("done=not.is.null", row.clone(), false);
        check("done=eq.true", row.clone(), false);
        check("done=not.eq.true", row.clone(), false);
        check("done=isdistinct.true", row.clone(), true);
        check("title=not.like.Buy%", row, false);
    }

    #[test]
    fn bad_filters_are_refused_with_a_reason() {
        let table = table();
        assert!(parse_filter("undefined", &table).is_err());
        assert!(
            parse_filter("nope=eq.1", &table)
                .unwrap_err()
                .contains("nope")
        );
        assert!(
            parse_filter("id=foo.1", &table)
                .unwrap_err()
                .contains("unknown operator")
        );
        assert!(
            parse_filter("id=eq.abc", &table)
                .unwrap_err()
                .contains("bigint")
        );
        assert!(parse_filter("id", &table).is_err());
    }

    #[test]
    fn binding_ids_are_stable_and_fit_in_27_bits() {
        let entry = json!({"event": "*", "schema": "public", "table": "todos"});
        assert_eq!(binding_id(&entry), binding_id(&entry.clone()));
        assert!(binding_id(&entry) < 1 << 27);
        assert_ne!(
            binding_id(&entry),
            binding_id(&json!({"event": "INSERT", "schema": "public", "table": "todos"}))
        );
    }

    #[test]
    fn commit_timestamps_have_milliseconds_and_end_in_z() {
        let instant: jiff::Timestamp = "2026-08-22T10:00:00.1234Z".parse().unwrap();
        assert_eq!(commit_timestamp(instant), "2026-08-22T10:00:00.123Z");
    }
}
