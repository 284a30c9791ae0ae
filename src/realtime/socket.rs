//! Socket: `GET /realtime/v1/websocket?apikey=…&vsn=…` (protocol.md §4.1–4.2). Authenticates the
//! apikey, then runs one connection: a reader that decodes frames (vsn 1.0.0 JSON objects, vsn
//! 2.0.0 JSON arrays and binary kind-3 broadcast pushes) into `Channels`, and a writer that
//! drains the bounded outbox. A full outbox closes the socket with a reason; nothing waits on it.
//! A socket silent for Phoenix's timeout is closed; a closing socket reads on until the client
//! answers its close frame, so nothing sent last is lost to a reset.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::channel::{Channels, Inbound};
use super::{OUTBOUND_QUEUE_CAPACITY, Outbound, Outbox, Payload, now_secs, token};
use crate::app::App;
use crate::auth::Caller;

/// How long a closing socket may take to flush its last frame and the close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A client that sends nothing (not even its heartbeat) for this long is disconnected, as
/// Phoenix's websocket `timeout` does; realtime-js heartbeats every 25 seconds.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The most queued messages one socket write carries.
const WRITE_BATCH: usize = 64;

/// The largest frame or message a client may send (Supabase's `max_frame_size`).
const MAX_FRAME_SIZE: usize = 5_000_000;

/// The wire format a socket chose with `vsn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serializer {
    /// `1.0.0`: `{"topic","event","payload","ref","join_ref"}`.
    V1,
    /// `2.0.0` (realtime-js's default): `[join_ref, ref, topic, event, payload]`.
    V2,
}

impl Serializer {
    pub fn from_vsn(vsn: Option<&str>) -> Self {
        match vsn {
            Some(version) if version.starts_with("1.") => Serializer::V1,
            _ => Serializer::V2,
        }
    }

    /// Encodes a server message: JSON text in both versions, except a binary broadcast, which
    /// 2.0.0 sends as a kind-4 frame and 1.0.0 cannot carry (`None`: not sent). A change's
    /// frame is encoded by the first channel of its group to send it (see `SharedChange`).
    pub(crate) fn encode(self, message: &Outbound) -> Option<Message> {
        match &message.payload {
            Payload::Binary { event, bytes } => match self {
                Serializer::V1 => None,
                Serializer::V2 => {
                    encode_user_broadcast(&message.topic, event, bytes).map(Message::Binary)
                }
            },
            Payload::Change(change) => {
                let frame = change.frames[self as usize].get_or_init(|| self.text(message).into());
                Some(Message::Text(frame.clone()))
            }
            Payload::Json(_) => Some(Message::Text(self.text(message).into())),
        }
    }

    fn text(self, message: &Outbound) -> String {
        let result = match self {
            Serializer::V1 => serde_json::to_string(&json!({
                "join_ref": message.join_ref,
                "ref": message.reference,
                "topic": message.topic,
                "event": message.event,
                "payload": message.payload,
            })),
            Serializer::V2 => serde_json::to_string(&(
                &message.join_ref,
                &message.reference,
                &message.topic,
                &message.event,
                &message.payload,
            )),
        };
        result.unwrap_or_else(|_| "null".into())
    }
}

/// The kind-4 frame realtime-js decodes as a user broadcast: kind, topic, event and metadata
/// lengths, payload encoding (0: raw bytes), then topic, event and the payload. Names longer
/// than a length byte can say cannot be framed (`None`).
fn encode_user_broadcast(topic: &str, event: &str, payload: &[u8]) -> Option<bytes::Bytes> {
    let topic_len = u8::try_from(topic.len()).ok()?;
    let event_len = u8::try_from(event.len()).ok()?;
    let mut frame = Vec::with_capacity(5 + topic.len() + event.len() + payload.len());
    frame.extend_from_slice(&[4, topic_len, event_len, 0, 0]);
    frame.extend_from_slice(topic.as_bytes());
    frame.extend_from_slice(event.as_bytes());
    frame.extend_from_slice(payload);
    Some(frame.into())
}

/// Decodes a text frame; either shape is accepted whatever `vsn` said.
pub fn decode_text(text: &str) -> Result<Inbound, String> {
    let value: Value = serde_json::from_str(text).map_err(|error| error.to_string())?;
    let optional = |value: Option<&Value>| -> Option<String> {
        match value? {
            Value::String(text) => Some(text.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    };
    let (join_ref, reference, topic, event, payload) = match &value {
        Value::Array(items) if items.len() == 5 => (
            optional(items.first()),
            optional(items.get(1)),
            items[2].as_str(),
            items[3].as_str(),
            items[4].clone(),
        ),
        Value::Object(map) => (
            optional(map.get("join_ref")),
            optional(map.get("ref")),
            map.get("topic").and_then(Value::as_str),
            map.get("event").and_then(Value::as_str),
            map.get("payload").cloned().unwrap_or(Value::Null),
        ),
        _ => return Err("expected a Phoenix message".into()),
    };
    Ok(Inbound {
        join_ref,
        reference,
        topic: topic.ok_or("message without a topic")?.to_owned(),
        event: event.ok_or("message without an event")?.to_owned(),
        payload,
        bytes: None,
    })
}

/// Decodes a binary frame: kind 3, the user broadcast push realtime-js sends for `send()`,
/// with a JSON (encoding 1) or raw (encoding 0) user payload.
pub fn decode_binary(bytes: &[u8]) -> Result<Inbound, String> {
    let header: [u8; 7] = bytes
        .get(..7)
        .and_then(|header| header.try_into().ok())
        .ok_or("binary frame shorter than its header")?;
    let [
        kind,
        join_ref_len,
        ref_len,
        topic_len,
        event_len,
        meta_len,
        encoding,
    ] = header;
    if kind != 3 {
        return Err(format!("unsupported binary frame kind {kind}"));
    }
    let mut offset = 7;
    let mut field = |length: u8| -> Result<String, String> {
        let end = offset + usize::from(length);
        let slice = bytes.get(offset..end).ok_or("binary frame truncated")?;
        offset = end;
        String::from_utf8(slice.to_vec()).map_err(|error| error.to_string())
    };
    let join_ref = field(join_ref_len)?;
    let reference = field(ref_len)?;
    let topic = field(topic_len)?;
    let event = field(event_len)?;
    let meta = field(meta_len)?;
    let body = &bytes[offset..];
    let (user_payload, raw) = match encoding {
        0 => (json!({}), Some(bytes::Bytes::copy_from_slice(body))),
        1 if body.is_empty() => (json!({}), None),
        1 => (
            serde_json::from_slice(body).map_err(|error| error.to_string())?,
            None,
        ),
        other => return Err(format!("unknown binary payload encoding {other}")),
    };
    let mut payload = json!({"type": "broadcast", "event": event, "payload": user_payload});
    if !meta.is_empty() {
        payload["meta"] = serde_json::from_str(&meta).map_err(|error| error.to_string())?;
    }
    let present = |text: String| (!text.is_empty()).then_some(text);
    Ok(Inbound {
        join_ref: present(join_ref),
        reference: present(reference),
        topic,
        event: "broadcast".into(),
        payload,
        bytes: raw,
    })
}

/// `GET /realtime/v1/websocket`: checks the apikey, then upgrades.
pub async fn upgrade(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(api_key) = params.get("apikey") else {
        return refuse("API key is missing");
    };
    let caller = match token::verify(app.keys(), api_key) {
        Ok(caller) => caller,
        Err(refusal) => return refuse(&refusal.handshake()),
    };
    let api_key = api_key.clone();
    let serializer = Serializer::from_vsn(params.get("vsn").map(String::as_str));
    // tungstenite reserves a 128 KiB read buffer per connection by default; client frames are
    // small (joins, heartbeats, broadcasts), so 8 KiB keeps thousands of subscribers cheap.
    // Frames are capped as Supabase's endpoint caps them, above `max_payload_size_in_kb`.
    upgrade
        .read_buffer_size(8 * 1024)
        .max_message_size(MAX_FRAME_SIZE)
        .max_frame_size(MAX_FRAME_SIZE)
        .on_upgrade(move |socket| run(app, socket, api_key, caller, serializer))
}

fn refuse(message: &str) -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({"error": message}))).into_response()
}

async fn run(app: App, socket: WebSocket, api_key: String, caller: Caller, serializer: Serializer) {
    let (outbox, outgoing, mut closed) = Outbox::new(OUTBOUND_QUEUE_CAPACITY);
    let (sink, mut stream) = socket.split();
    let writer = tokio::spawn(write(sink, outgoing, closed.clone(), serializer));
    let mut channels = Channels::new(app, outbox.clone(), api_key, caller);
    let idle = tokio::time::sleep(IDLE_TIMEOUT);
    tokio::pin!(idle);
    loop {
        let expiry = channels.next_expiry();
        let token_expired = async {
            match expiry {
                Some(at) => {
                    let wait = u64::try_from(at - now_secs()).unwrap_or(0);
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = stream.next() => {
                idle.as_mut().reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
                let inbound = match frame {
                    Some(Ok(Message::Text(text))) => decode_text(text.as_str()),
                    Some(Ok(Message::Binary(bytes))) => decode_binary(&bytes),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                };
                match inbound {
                    Ok(message) => channels.handle(message).await,
                    Err(error) => tracing::debug!("realtime: undecodable frame: {error}"),
                }
            }
            _ = closed.changed() => break,
            () = &mut idle => break,
            _ = token_expired => channels.expire(now_secs()),
        }
    }
    channels.disconnect();
    drop(channels);
    if closed.borrow().is_none() {
        outbox.close_with("");
    }
    drop(outbox);
    let _ = writer.await;
    // Read on until the client answers the close frame: closing with its frames unread would
    // reset the connection and lose what was sent last (a refusal, the close itself).
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Sends queued messages until the connection closes, then a close frame: 1000 for a normal
/// end, after what was queued, 1008 with the reason when the server disconnects the client,
/// dropping its queue.
async fn write(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut outgoing: mpsc::Receiver<Outbound>,
    mut closed: watch::Receiver<Option<String>>,
    serializer: Serializer,
) {
    loop {
        let message = tokio::select! {
            biased;
            _ = closed.changed() => break,
            message = outgoing.recv() => match message {
                Some(message) => message,
                None => break,
            },
        };
        let send = send_queued(&mut sink, &mut outgoing, serializer, message);
        tokio::pin!(send);
        tokio::select! {
            result = &mut send => {
                if result.is_err() {
                    return;
                }
            }
            _ = closed.changed() => {
                // Finish the frame in flight so the close frame can follow it, or give up.
                match tokio::time::timeout(CLOSE_GRACE, send).await {
                    Ok(Ok(())) => break,
                    _ => return,
                }
            }
        }
    }
    let reason = closed.borrow().clone().unwrap_or_default();
    let code = if reason.is_empty() { 1000 } else { 1008 };
    let close = async {
        if code == 1000 {
            while let Ok(message) = outgoing.try_recv() {
                if let Some(frame) = serializer.encode(&message) {
                    sink.send(frame).await?;
                }
            }
        }
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        sink.send(Message::Close(Some(frame))).await
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, close).await;
}

/// Sends `first` and what else is already queued behind it, up to `WRITE_BATCH` messages, in
/// one flush: a backlogged connection costs one socket write per batch, not per message.
async fn send_queued(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    outgoing: &mut mpsc::Receiver<Outbound>,
    serializer: Serializer,
    first: Outbound,
) -> Result<(), axum::Error> {
    let mut next = Some(first);
    let mut sent = 0;
    while let Some(message) = next.take() {
        if let Some(frame) = serializer.encode(&message) {
            sink.feed(frame).await?;
        }
        sent += 1;
        if sent < WRITE_BATCH {
            next = outgoing.try_recv().ok();
        }
    }
    sink.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::{Payload, SharedChange};
    use std::sync::Arc;

    #[test]
    fn both_serializers_decode_the_same_message() {
        let v2 = decode_text(r#"["6","7","realtime:room1","phx_join",{"config":{}}]"#).unwrap();
        let v1 = decode_text(
            r#"{"topic":"realtime:room1","event":"phx_join","payload":{"config":{}},"ref":"7","join_ref":"6"}"#,
        )
        .unwrap();
        assert_eq!(v1, v2);
        assert_eq!(v2.join_ref.as_deref(), Some("6"));
        let heartbeat = decode_text(r#"[null,"8","phoenix","heartbeat",{}]"#).unwrap();
        assert_eq!(heartbeat.join_ref, None);
        assert!(decode_text("[1,2]").is_err());
    }

    #[test]
    fn a_kind_3_frame_becomes_a_broadcast_push() {
        let mut frame = vec![3, 1, 1, 14, 6, 0, 1];
        frame.extend_from_slice(b"67realtime:room1cursor{\"x\":2}");
        let message = decode_binary(&frame).unwrap();
        assert_eq!(message.topic, "realtime:room1");
        assert_eq!(message.event, "broadcast");
        assert_eq!(message.reference.as_deref(), Some("7"));
        assert_eq!(
            message.payload,
            json!({"type": "broadcast", "event": "cursor", "payload": {"x": 2}})
        );
        let mut raw = vec![3, 0, 0, 14, 6, 0, 0];
        raw.extend_from_slice(b"realtime:room1cursor\x00\xff");
        let message = decode_binary(&raw).unwrap();
        assert_eq!(message.bytes.as_deref(), Some(&[0u8, 255][..]));
        assert!(decode_binary(&[3, 1]).is_err());
        assert!(decode_binary(&[4, 0, 0, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn a_change_is_encoded_once_per_vsn_and_shared() {
        let change = Arc::new(SharedChange::new(
            vec![7],
            Arc::new(json!({"type": "INSERT", "record": {"id": 1}})),
        ));
        let message = Outbound {
            join_ref: Some("1".into()),
            reference: None,
            topic: "realtime:todos".into(),
            event: "postgres_changes".into(),
            payload: Payload::Change(change.clone()),
        };
        let text = |serializer: Serializer| match serializer.encode(&message) {
            Some(Message::Text(text)) => text,
            other => panic!("expected text, got {other:?}"),
        };
        let v2 = text(Serializer::V2);
        assert_eq!(
            v2.as_str(),
            r#"["1",null,"realtime:todos","postgres_changes",{"ids":[7],"data":{"type":"INSERT","record":{"id":1}}}]"#
        );
        let v1: Value = serde_json::from_str(&text(Serializer::V1)).unwrap();
        assert_eq!(v1["payload"]["data"]["record"], json!({"id": 1}));
        assert_eq!(v1["join_ref"], "1");
        // Another channel of the group sends the very same bytes.
        assert_eq!(
            text(Serializer::V2).as_bytes().as_ptr(),
            v2.as_bytes().as_ptr()
        );
    }

    #[test]
    fn server_messages_encode_per_vsn() {
        let message = Outbound {
            join_ref: None,
            reference: Some("8".into()),
            topic: "phoenix".into(),
            event: "phx_reply".into(),
            payload: Payload::json(json!({"status": "ok", "response": {}})),
        };
        let text = |serializer: Serializer, message: &Outbound| match serializer.encode(message) {
            Some(Message::Text(text)) => text.to_string(),
            other => panic!("expected text, got {other:?}"),
        };
        assert_eq!(
            text(Serializer::V2, &message),
            r#"[null,"8","phoenix","phx_reply",{"status":"ok","response":{}}]"#
        );
        let v1: Value = serde_json::from_str(&text(Serializer::V1, &message)).unwrap();
        assert_eq!(
            v1,
            json!({"join_ref": null, "ref": "8", "topic": "phoenix", "event": "phx_reply",
                "payload": {"status": "ok", "response": {}}})
        );
    }

    #[test]
    fn a_binary_broadcast_is_a_kind_4_frame_under_2_0_0_only() {
        let message = Outbound {
            join_ref: None,
            reference: None,
            topic: "realtime:r".into(),
            event: "broadcast".into(),
            payload: Payload::Binary {
                event: "ev".into(),
                bytes: bytes::Bytes::from_static(&[1, 2, 255]),
            },
        };
        let Some(Message::Binary(frame)) = Serializer::V2.encode(&message) else {
            panic!("expected a binary frame");
        };
        assert_eq!(&frame[..], b"\x04\x0a\x02\x00\x00realtime:rev\x01\x02\xff");
        assert!(Serializer::V1.encode(&message).is_none());
    }
}
