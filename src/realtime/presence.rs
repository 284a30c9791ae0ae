//! Presence (protocol.md §4.8): who is tracked on each topic, under which key, with what meta.
//! `track` replaces the channel's meta, `untrack`, leave and disconnect remove it; every change
//! sends a `presence_diff` to the whole topic, and a join with presence enabled gets the
//! `presence_state` first.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde_json::{Map, Value, json};

use super::{Hub, Payload, Subscription};

/// Topic key → subscription id → what that channel tracks.
#[derive(Default)]
pub(crate) struct Presences {
    topics: Mutex<HashMap<String, HashMap<u64, Tracked>>>,
}

#[derive(Clone)]
struct Tracked {
    key: String,
    /// The app's payload plus `phx_ref`.
    meta: Map<String, Value>,
}

impl Presences {
    /// `{key: {metas: [...]}}` for a topic.
    pub fn state(&self, topic_key: &str) -> Value {
        let topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let mut state = Map::new();
        for tracked in topics.get(topic_key).into_iter().flat_map(HashMap::values) {
            let entry = state
                .entry(tracked.key.clone())
                .or_insert_with(|| json!({"metas": []}));
            if let Some(metas) = entry["metas"].as_array_mut() {
                metas.push(Value::Object(tracked.meta.clone()));
            }
        }
        Value::Object(state)
    }

    /// Tracks (or re-tracks) a channel's meta; returns the diff to send.
    fn track(&self, subscription: &Subscription, payload: Map<String, Value>) -> Value {
        let mut meta = payload;
        meta.insert("phx_ref".into(), Value::from(new_ref()));
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = topics.entry(subscription.topic_key()).or_default().insert(
            subscription.id,
            Tracked {
                key: subscription.presence_key.clone(),
                meta: meta.clone(),
            },
        );
        let key = &subscription.presence_key;
        let leaves = match previous {
            Some(old) => {
                if let Some(previous_ref) = old.meta.get("phx_ref") {
                    meta.insert("phx_ref_prev".into(), previous_ref.clone());
                }
                json!({ &old.key: {"metas": [old.meta]} })
            }
            None => json!({}),
        };
        json!({"joins": {key: {"metas": [meta]}}, "leaves": leaves})
    }

    /// Stops tracking a channel; returns the diff if it was tracked.
    fn untrack(&self, topic_key: &str, id: u64) -> Option<Value> {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let entries = topics.get_mut(topic_key)?;
        let old = entries.remove(&id)?;
        if entries.is_empty() {
            topics.remove(topic_key);
        }
        Some(json!({"joins": {}, "leaves": { old.key: {"metas": [old.meta]} }}))
    }
}

fn new_ref() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Checks a `presence` push before it is answered: `track` needs an object payload.
pub(crate) fn validate(payload: &Value) -> Result<(), String> {
    match payload.get("event").and_then(Value::as_str) {
        Some("track") if payload.get("payload").is_some_and(Value::is_object) => Ok(()),
        Some("track") => Err("Presence track payload must be a map".into()),
        Some("untrack") => Ok(()),
        other => Err(format!("unknown presence event {other:?}")),
    }
}

/// Applies a validated `presence` push and tells the topic.
pub(crate) fn handle(hub: &Hub, subscription: &Subscription, payload: &Value) {
    match payload.get("payload") {
        Some(Value::Object(meta)) if payload["event"] == "track" => {
            let diff = hub.presence.track(subscription, meta.clone());
            send_diff(hub, &subscription.topic_key(), diff);
        }
        _ => leave(hub, subscription),
    }
}

/// Removes whatever a channel tracked (leave, duplicate join, disconnect) and tells the topic.
pub(crate) fn leave(hub: &Hub, subscription: &Subscription) {
    let topic_key = subscription.topic_key();
    if let Some(diff) = hub.presence.untrack(&topic_key, subscription.id) {
        send_diff(hub, &topic_key, diff);
    }
}

/// Tells the topic's channels that may see who is present.
fn send_diff(hub: &Hub, topic_key: &str, diff: Value) {
    let payload = Payload::json(diff);
    for member in hub.topic(topic_key) {
        if member.permissions.presence_read {
            member.push("presence_diff", payload.clone());
        }
    }
}
