//! Broadcast (protocol.md §4.7): relays `{type: "broadcast", event, payload}` from one channel to
//! every channel on the same topic — the sender only with `self` — and the server-side sends
//! `POST /realtime/v1/api/broadcast` and `/api/broadcast/{topic}/events/{event}` (202; an
//! `application/octet-stream` body is a binary broadcast), and delivers the broadcasts the
//! database sends (`send`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::changes::Message;
use super::{Hub, Payload, topic_key};
use crate::app::App;
use crate::auth::Caller;

/// Sends a broadcast to a topic's channels that may read broadcasts; `sender` is the
/// subscription it came from, if any, which receives it back only when it joined with
/// `broadcast.self`.
pub(crate) fn fan_out(hub: &Hub, key: &str, sender: Option<u64>, payload: Payload) {
    for member in hub.topic(key) {
        if !member.permissions.broadcast_read
            || (Some(member.id) == sender && !member.broadcast_self)
        {
            continue;
        }
        member.push_unjoined("broadcast", payload.clone());
    }
}

/// Delivers a broadcast from the database (`realtime.send`) to the topic's channels — private
/// ones when the message is private, that may read its broadcasts — as Supabase sends
/// it: the message's id as `meta.id`. One payload is shared by every subscriber.
pub(crate) fn deliver(hub: &Hub, message: &Message) {
    let payload = Payload::json(json!({
        "type": "broadcast",
        "event": message.event,
        "payload": message.payload,
        "meta": {"id": message.id},
    }));
    let now = super::now_secs();
    let key = topic_key(&format!("realtime:{}", message.topic), message.private);
    for member in hub.topic(&key) {
        if member.permissions.broadcast_read && !member.expired(now) {
            member.push_unjoined("broadcast", payload.clone());
        }
    }
}

/// The user event a client's broadcast push names.
pub(crate) fn event_of(payload: &Value) -> String {
    payload
        .get("event")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
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
    let caller = match caller(&app, &headers) {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let hub = app.realtime().hub();
    if body.messages.iter().any(|message| {
        hub.limits
            .payload_too_large(super::limits::json_size(&message.payload))
    }) {
        return too_large();
    }
    for message in body.messages.iter().filter(|message| message.private) {
        if let Some(response) = refuse_private(&app, &caller, &message.topic).await {
            return response;
        }
    }
    if let Some(response) = over_budget(hub, body.messages.len()) {
        return response;
    }
    for message in body.messages {
        let topic = format!("realtime:{}", message.topic);
        fan_out(
            hub,
            &topic_key(&topic, message.private),
            None,
            Payload::json(
                json!({"type": "broadcast", "event": message.event, "payload": message.payload}),
            ),
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
    let caller = match caller(&app, &headers) {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let private = query.private.as_deref() == Some("true");
    if private && let Some(response) = refuse_private(&app, &caller, &topic).await {
        return response;
    }
    let hub = app.realtime().hub();
    if hub.limits.payload_too_large(body.len()) {
        return too_large();
    }
    let payload = if is_binary(&headers) {
        if topic.len() + "realtime:".len() > 255 || event.len() > 255 {
            let message = "topic and event of a binary broadcast are at most 255 bytes";
            return error(StatusCode::BAD_REQUEST, message);
        }
        Payload::Binary { event, bytes: body }
    } else if body.is_empty() {
        Payload::json(json!({"type": "broadcast", "event": event, "payload": {}}))
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(value) => {
                Payload::json(json!({"type": "broadcast", "event": event, "payload": value}))
            }
            Err(cause) => {
                let message = format!("invalid JSON body: {cause}");
                return error(StatusCode::BAD_REQUEST, &message);
            }
        }
    };
    if let Some(response) = over_budget(hub, 1) {
        return response;
    }
    fan_out(
        hub,
        &topic_key(&format!("realtime:{topic}"), private),
        None,
        payload,
    );
    StatusCode::ACCEPTED.into_response()
}

/// Holds a server-side send of `count` messages to the endpoint's `max_events_per_second`,
/// with Supabase's 429 answers; counts them when they pass.
fn over_budget(hub: &Hub, count: usize) -> Option<Response> {
    let mut counter = hub
        .limits
        .rest_events
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let max = hub.limits.config.max_events_per_second as f64;
    let message = if counter.limited() {
        "You have exceeded your rate limit"
    } else if counter.average() + count as f64 > max || !counter.fits(count as u64) {
        "Too many messages to broadcast, please reduce the batch size"
    } else {
        counter.add(count as u64);
        return None;
    };
    Some(
        (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"message": message})),
        )
            .into_response(),
    )
}

/// A payload over `max_payload_size_in_kb` is refused as Supabase's validation refuses it.
fn too_large() -> Response {
    let message = "Payload size exceeds tenant limit";
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"message": message})),
    )
        .into_response()
}

/// `httpSend` of an `ArrayBuffer` says `Content-Type: application/octet-stream`.
fn is_binary(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/octet-stream"))
}

/// The caller of a server-side send, or the 401 for a request without a valid apikey.
fn caller(app: &App, headers: &HeaderMap) -> Result<Caller, Box<Response>> {
    app.keys()
        .caller(headers)
        .map_err(|refusal| Box::new(error(StatusCode::UNAUTHORIZED, &refusal.message)))
}

/// A send to the private `topic` needs the caller's INSERT policies on realtime.messages to
/// allow a broadcast there (see `private`).
async fn refuse_private(app: &App, caller: &Caller, topic: &str) -> Option<Response> {
    let permissions = super::private::permissions(app.store(), app.schema(), caller, topic).await;
    (!permissions.broadcast_write).then(|| {
        error(
            StatusCode::FORBIDDEN,
            "Unauthorized: You do not have permissions to write to private channels",
        )
    })
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}
