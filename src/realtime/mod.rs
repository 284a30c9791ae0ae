//! Realtime: `/realtime/v1`, the Phoenix-channel protocol realtime-js speaks (protocol.md §4).
//! `Hub` holds every joined channel of every socket; `socket` runs one connection, `channel`
//! joins and leaves, `changes` captures committed rows on the writer and fans them out to the
//! listeners `index` files by table, `access` decides who may see a row, and `broadcast` and
//! `presence` relay between clients.

pub mod access;
pub mod broadcast;
pub mod changes;
pub mod channel;
pub mod evaluate;
pub mod index;
pub mod limits;
pub mod presence;
pub mod private;
pub mod send;
pub mod socket;
pub mod token;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::ser::SerializeMap;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::auth::Caller;
use crate::config::RealtimeConfig;
use crate::schema::{QualifiedName, SchemaCache, TableKind};
use crate::store::Store;

pub use access::{AccessRule, RowAccess};

/// Messages a connection may have queued before it is considered stalled and disconnected.
pub const OUTBOUND_QUEUE_CAPACITY: usize = 1024;

/// The close reason a client gets when it reads too slowly for its queue.
pub const SLOW_CLIENT_REASON: &str = "disconnected: outbound queue full (client too slow)";

/// Realtime's shared state; cheap to clone.
#[derive(Clone)]
pub struct Realtime {
    hub: Arc<Hub>,
}

impl Realtime {
    /// Starts realtime for `store`: installs change capture on the writer connection and a
    /// dispatcher thread that fans committed changes out to subscribers.
    pub fn start(store: Store, schema: Arc<SchemaCache>, config: RealtimeConfig) -> Self {
        let hub = Arc::new(Hub {
            limits: limits::Limits::new(config),
            store: store.clone(),
            schema: schema.clone(),
            next_id: AtomicU64::new(1),
            registry: Mutex::new(Registry::default()),
            presence: presence::Presences::default(),
            access: Mutex::new(access::default_rule(schema.clone())),
        });
        changes::start_capture(&store, schema, Arc::downgrade(&hub));
        Self { hub }
    }

    /// Replaces how row visibility is decided (see `access`), for the channels already
    /// joined too.
    pub fn set_access_rule(&self, rule: AccessRule) {
        *self
            .hub
            .access
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = rule;
        let joined: Vec<_> = self
            .hub
            .registry()
            .subscriptions
            .values()
            .cloned()
            .collect();
        for subscription in joined {
            self.hub.insert(subscription);
        }
    }

    /// How many channels are joined across all sockets.
    pub fn channel_count(&self) -> usize {
        self.hub.registry().subscriptions.len()
    }

    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

/// Every joined channel, by id and by topic.
pub(crate) struct Hub {
    pub store: Store,
    pub schema: Arc<SchemaCache>,
    next_id: AtomicU64,
    registry: Mutex<Registry>,
    pub presence: presence::Presences,
    access: Mutex<AccessRule>,
    pub limits: limits::Limits,
}

#[derive(Default)]
pub(crate) struct Registry {
    pub subscriptions: HashMap<u64, Arc<Subscription>>,
    /// Topic key (see `Subscription::topic_key`) → subscription ids.
    pub topics: HashMap<String, HashSet<u64>>,
    /// The subscriptions with `postgres_changes` bindings, by table.
    pub changes: index::ChangeIndex,
}

impl Hub {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn access_rule(&self) -> AccessRule {
        self.access
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adds or replaces (same id) a subscription.
    pub fn insert(&self, subscription: Arc<Subscription>) {
        let accesses = self.table_accesses(&subscription);
        let mut registry = self.registry();
        registry.changes.insert(&subscription, accesses);
        registry
            .topics
            .entry(subscription.topic_key())
            .or_default()
            .insert(subscription.id);
        registry.subscriptions.insert(subscription.id, subscription);
    }

    pub fn remove(&self, id: u64) -> Option<Arc<Subscription>> {
        let mut registry = self.registry();
        let subscription = registry.subscriptions.remove(&id)?;
        registry.changes.remove(id);
        let key = subscription.topic_key();
        if let Some(ids) = registry.topics.get_mut(&key) {
            ids.remove(&id);
            if ids.is_empty() {
                registry.topics.remove(&key);
            }
        }
        Some(subscription)
    }

    /// The current subscriptions of a topic key.
    pub fn topic(&self, key: &str) -> Vec<Arc<Subscription>> {
        let registry = self.registry();
        registry
            .topics
            .get(key)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| registry.subscriptions.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The published tables `subscription`'s bindings name, each with the caller's access.
    fn table_accesses(
        &self,
        subscription: &Subscription,
    ) -> Vec<(QualifiedName, Result<RowAccess, String>)> {
        if subscription.bindings.is_empty() {
            return Vec::new();
        }
        let rule = self.access_rule();
        self.schema
            .realtime_tables
            .iter()
            .filter(|name| {
                subscription.bindings.iter().any(|binding| {
                    binding.schema == name.schema
                        && binding
                            .table
                            .as_ref()
                            .is_none_or(|table| *table == name.name)
                })
            })
            .filter_map(|name| self.schema.table(name))
            .filter(|table| table.kind == TableKind::Table)
            .map(|table| (table.name.clone(), rule(table, &subscription.caller)))
            .collect()
    }

    /// The listeners of `table` that may see `row` (see `index`).
    pub fn listeners(
        &self,
        table: &QualifiedName,
        row: &serde_json::Map<String, Value>,
    ) -> Vec<Arc<index::Listener>> {
        self.registry().changes.candidates(table, row)
    }
}

/// One joined channel of one socket. Immutable: a token update replaces it under the same id.
pub(crate) struct Subscription {
    pub id: u64,
    pub outbox: Outbox,
    /// The topic as the client sent it, `realtime:{name}`.
    pub topic: String,
    pub join_ref: Option<String>,
    pub private: bool,
    pub broadcast_self: bool,
    pub broadcast_ack: bool,
    pub presence_enabled: bool,
    pub presence_key: String,
    pub bindings: Vec<changes::Binding>,
    pub caller: Caller,
    /// The token `caller` came from: the join's, else the socket's `apikey`.
    pub token: String,
    /// What the caller may do here (all of it on a public channel).
    pub permissions: private::Permissions,
    /// The token's `exp` (seconds since the epoch), if it has one.
    pub expires_at: Option<i64>,
}

impl Subscription {
    /// Public and private channels of the same name are different topics.
    pub fn topic_key(&self) -> String {
        topic_key(&self.topic, self.private)
    }

    /// The channel name without the `realtime:` prefix.
    pub fn name(&self) -> &str {
        self.topic.strip_prefix("realtime:").unwrap_or(&self.topic)
    }

    /// The same channel for another token's caller and rights (an `access_token` refresh).
    pub fn refreshed(
        &self,
        token: &str,
        caller: Caller,
        permissions: private::Permissions,
    ) -> Self {
        Self {
            id: self.id,
            outbox: self.outbox.clone(),
            topic: self.topic.clone(),
            join_ref: self.join_ref.clone(),
            private: self.private,
            broadcast_self: self.broadcast_self,
            broadcast_ack: self.broadcast_ack,
            presence_enabled: self.presence_enabled,
            presence_key: self.presence_key.clone(),
            bindings: self.bindings.clone(),
            permissions,
            expires_at: token::expiry(&caller),
            token: token.to_owned(),
            caller,
        }
    }

    pub fn expired(&self, now_secs: i64) -> bool {
        self.expires_at.is_some_and(|exp| exp <= now_secs)
    }

    /// Queues a server push (`ref: null`) on this channel.
    pub fn push(&self, event: &str, payload: Payload) -> bool {
        self.outbox.push(Outbound {
            join_ref: self.join_ref.clone(),
            reference: None,
            topic: self.topic.clone(),
            event: event.to_owned(),
            payload,
        })
    }

    /// Queues a push with `join_ref: null`, as the real server sends broadcasts and changes.
    pub fn push_unjoined(&self, event: &str, payload: Payload) -> bool {
        self.outbox.push(Outbound {
            join_ref: None,
            reference: None,
            topic: self.topic.clone(),
            event: event.to_owned(),
            payload,
        })
    }

    /// The `system` message (protocol.md §4.4).
    pub fn system(&self, extension: &str, ok: bool, message: &str) -> bool {
        self.push(
            "system",
            Payload::json(serde_json::json!({
                "extension": extension,
                "status": if ok { "ok" } else { "error" },
                "message": message,
                "channel": self.name(),
            })),
        )
    }
}

pub(crate) fn topic_key(topic: &str, private: bool) -> String {
    format!("{}|{topic}", if private { "private" } else { "public" })
}

/// A connection's bounded queue of outgoing messages, and the switch that closes it.
#[derive(Clone)]
pub(crate) struct Outbox {
    sender: mpsc::Sender<Outbound>,
    close: Arc<watch::Sender<Option<String>>>,
}

impl Outbox {
    pub fn new(
        capacity: usize,
    ) -> (
        Self,
        mpsc::Receiver<Outbound>,
        watch::Receiver<Option<String>>,
    ) {
        let (sender, receiver) = mpsc::channel(capacity);
        let (close, closed) = watch::channel(None);
        (
            Self {
                sender,
                close: Arc::new(close),
            },
            receiver,
            closed,
        )
    }

    /// Queues a message; a full queue closes the connection instead of waiting or growing.
    pub fn push(&self, message: Outbound) -> bool {
        match self.sender.try_send(message) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close_with(SLOW_CLIENT_REASON);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub fn close_with(&self, reason: &str) {
        self.close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason.to_owned());
                true
            } else {
                false
            }
        });
    }
}

/// One message to a client, encoded by the connection's serializer.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    pub join_ref: Option<String>,
    pub reference: Option<String>,
    pub topic: String,
    pub event: String,
    pub payload: Payload,
}

/// A message payload. Shared parts are reference-counted so a fan-out to thousands of
/// subscribers copies no row data.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Json(Arc<Value>),
    /// A `postgres_changes` push, shared by the channels it goes to with the same frame.
    Change(Arc<SharedChange>),
    /// A broadcast whose user payload is raw bytes, sent as a kind-4 binary frame (vsn 2.0.0).
    Binary {
        event: String,
        bytes: bytes::Bytes,
    },
}

impl Payload {
    pub fn json(value: Value) -> Self {
        Payload::Json(Arc::new(value))
    }
}

impl serde::Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Json(value) => value.serialize(serializer),
            Payload::Change(change) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("ids", &change.ids)?;
                map.serialize_entry("data", change.data.as_ref())?;
                map.end()
            }
            Payload::Binary { .. } => Err(serde::ser::Error::custom(
                "a binary broadcast is sent as a binary frame, not as JSON",
            )),
        }
    }
}

/// One change as pushed on channels with the same topic, join ref and binding ids: their frame
/// is the same, so it is encoded once per serializer and its bytes reused for every channel.
#[derive(Debug)]
pub(crate) struct SharedChange {
    pub ids: Vec<u32>,
    pub data: Arc<Value>,
    /// The encoded frame, by `socket::Serializer` (vsn 1.0.0, then 2.0.0).
    pub frames: [OnceLock<axum::extract::ws::Utf8Bytes>; 2],
}

impl SharedChange {
    pub fn new(ids: Vec<u32>, data: Arc<Value>) -> Self {
        Self {
            ids,
            data,
            frames: Default::default(),
        }
    }
}

pub(crate) fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}
