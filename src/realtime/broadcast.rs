//! Broadcast (protocol.md §4.7): relays `{type: "broadcast", event, payload}` from one channel to
//! every channel on the same topic — the sender only with `self` — and the server-side sends
//! `POST /realtime/v1/api/broadcast` and `/api/broadcast/{topic}/events/{event}` (202).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Hub, Payload, topic_key};
use crate::app::App;

/// Sends a broadcast to a topic; `sender` is the subscription it came from, if any, which
/// receives it back only when it joined with `broadcast.self`.
pub(crate) fn fan_out(hub: &Hub, key: &str, sender: Option<u64>, message: Value) {
    let payload = Payload::json(message);
    for member in hub.topic(key) {
        if Some(member.id) == sender && !member.broadcast_self {
            continue;
        }
        member.push_unjoined("broadcast", payload.clone());
    }
}

/// The payload relayed for a client's push: the real server passes `type`, `event` and
/// `payload` (and `meta` when present) through.
pub(crate) fn relayed(payload: &Value) -> Value {
    let mut message = json!({
        "type": "broadcast",
        "event": payload.get("event").cloned().unwrap_or(Value::Null),
        "payload": payload.get("payload").cloned().unwrap_or_else(|| json!({})),
    });
    if let Some(meta) = payload.get("meta") {
        message["meta"] = meta.clone();
    }
    message
}

#[derive(Deserialize)]
pub struct BroadcastBody {
    messages: Vec<BroadcastMessage>,
}

#[derive(Deserialize)]
struct BroadcastMessage {
    topic: String,
    event: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    private: bool,
}

/// `POST /realtime/v1/api/broadcast` with `{"messages": [{topic, event, payload, private}]}`.
pub async fn post_messages(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Json<BroadcastBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(response) = authorize(&app, &headers) {
        return response;
    }
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let hub = app.realtime().hub();
    for message in body.messages {
        let topic = format!("realtime:{}", message.topic);
        fan_out(
            hub,
            &topic_key(&topic, message.private),
            None,
            json!({"type": "broadcast", "event": message.event, "payload": message.payload}),
        );
    }
    StatusCode::ACCEPTED.into_response()
}

#[derive(Deserialize)]
pub struct PrivateQuery {
    #[serde(default)]
    private: Option<String>,
}

/// `POST /realtime/v1/api/broadcast/{topic}/events/{event}[?private=true]` (`httpSend`).
pub async fn post_event(
    State(app): State<App>,
    Path((topic, event)): Path<(String, String)>,
    Query(query): Query<PrivateQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(response) = authorize(&app, &headers) {
        return response;
    }
    let payload = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(cause) => {
                let message = format!("invalid JSON body: {cause}");
                return error(StatusCode::BAD_REQUEST, &message);
            }
        }
    };
    let private = query.private.as_deref() == Some("true");
    fan_out(
        app.realtime().hub(),
        &topic_key(&format!("realtime:{topic}"), private),
        None,
        json!({"type": "broadcast", "event": event, "payload": payload}),
    );
    StatusCode::ACCEPTED.into_response()
}

/// The 401 for a request without a valid apikey, if it has none.
fn authorize(app: &App, headers: &HeaderMap) -> Option<Response> {
    app.keys()
        .caller(headers)
        .err()
        .map(|refusal| error(StatusCode::UNAUTHORIZED, &refusal.message))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}
