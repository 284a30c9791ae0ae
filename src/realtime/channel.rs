//! Channel: one socket's joined channels and what clients ask of them (protocol.md §4.3–4.9):
//! heartbeat, `phx_join` (token, bindings, reply with ids, `system`, `presence_state`),
//! `phx_leave`, `access_token` updates, token expiry, and routing `broadcast` and `presence`.
//! A channel is registered in the `Hub` before its join is answered, so `SUBSCRIBED` means live.
//! Joins, channels, sends and payloads are held to the `limits`, with Supabase's replies.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use super::changes::Binding;
use super::limits::{CLIENT_PRESENCE_CALLS, CLIENT_PRESENCE_WINDOW, ClientBudgets, json_size};
use super::private::{self, Permissions};
use super::token;
use super::{Hub, Outbound, Outbox, Payload, Subscription, broadcast, presence};
use crate::app::App;
use crate::auth::Caller;

/// A message from the client, whatever serializer carried it.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub join_ref: Option<String>,
    pub reference: Option<String>,
    pub topic: String,
    pub event: String,
    pub payload: Value,
    /// The raw user payload of a binary broadcast push (kind 3, encoding 0).
    pub bytes: Option<bytes::Bytes>,
}

/// The channels of one socket.
pub(crate) struct Channels {
    hub: Arc<Hub>,
    app: App,
    outbox: Outbox,
    /// The socket's `apikey` and its caller, used when a join carries no token.
    socket_token: String,
    socket_caller: Caller,
    joined: HashMap<String, Arc<Subscription>>,
    budgets: ClientBudgets,
    /// Whether this connection counts against `max_concurrent_users` (from its first join).
    counted: bool,
    /// Per joined topic: when its presence window ends and the calls made in it.
    presence_calls: HashMap<String, (Instant, u32)>,
}

impl Channels {
    pub fn new(app: App, outbox: Outbox, socket_token: String, socket_caller: Caller) -> Self {
        let hub = app.realtime().hub().clone();
        Self {
            budgets: ClientBudgets::new(&hub.limits.config),
            hub,
            app,
            outbox,
            socket_token,
            socket_caller,
            joined: HashMap::new(),
            counted: false,
            presence_calls: HashMap::new(),
        }
    }

    /// Handles one client message.
    pub async fn handle(&mut self, message: Inbound) {
        match (message.topic.as_str(), message.event.as_str()) {
            ("phoenix", "heartbeat") => self.reply(&message, true, json!({})),
            (_, "phx_join") => self.join(message).await,
            _ => {
                let Some(subscription) = self.joined.get(&message.topic).cloned() else {
                    self.reply(&message, false, json!({"reason": "unmatched topic"}));
                    return;
                };
                match message.event.as_str() {
                    "phx_leave" => {
                        self.remove(&message.topic);
                        self.reply(&message, true, json!({}));
                    }
                    "access_token" => self.refresh_token(&subscription, &message).await,
                    // Without the right to send, Supabase drops the message unanswered.
                    "broadcast" if !subscription.permissions.broadcast_write => {}
                    "presence" if !subscription.permissions.presence_write => {
                        let reason = "Unauthorized: You do not have permissions to track presence on this Channel topic";
                        self.reply(&message, false, json!({"reason": reason}));
                    }
                    "broadcast" => self.broadcast(&subscription, &message),
                    "presence" => self.presence(&subscription, &message),
                    // Supabase counts any other event against the budget and ignores it.
                    _ => {
                        self.count_event(&subscription);
                    }
                }
            }
        }
    }

    /// Counts one message sent on `subscription`; over `max_events_per_second` the channel is
    /// shut down (`false`).
    fn count_event(&mut self, subscription: &Arc<Subscription>) -> bool {
        self.budgets.events.add(1);
        if self.budgets.events.limited() {
            self.close(subscription, "Too many messages per second");
            return false;
        }
        true
    }

    /// A client's broadcast: counted, held to the payload limit, then relayed to the topic.
    fn broadcast(&mut self, subscription: &Arc<Subscription>, message: &Inbound) {
        if !self.count_event(subscription) {
            return;
        }
        let size = match &message.bytes {
            Some(bytes) => bytes.len(),
            None => json_size(&message.payload),
        };
        if self.hub.limits.payload_too_large(size) {
            if subscription.broadcast_ack {
                self.reply(message, false, json!("payload_size_exceeded"));
            }
            return;
        }
        if subscription.broadcast_ack {
            self.reply(message, true, json!({}));
        }
        let payload = match &message.bytes {
            Some(bytes) => Payload::Binary {
                event: broadcast::event_of(&message.payload),
                bytes: bytes.clone(),
            },
            None => Payload::json(broadcast::relayed(&message.payload)),
        };
        broadcast::fan_out(
            &self.hub,
            &subscription.topic_key(),
            Some(subscription.id),
            payload,
        );
    }

    /// A client's `presence` push, held to the per-channel call window, the presence budget
    /// and the payload limit as Supabase's presence handler holds it.
    fn presence(&mut self, subscription: &Arc<Subscription>, message: &Inbound) {
        let now = Instant::now();
        let window = self
            .presence_calls
            .entry(subscription.topic.clone())
            .or_insert((now, 0));
        if now >= window.0 {
            *window = (now + CLIENT_PRESENCE_WINDOW, 0);
        }
        if window.1 >= CLIENT_PRESENCE_CALLS {
            self.close(subscription, "Client presence rate limit exceeded");
            return;
        }
        window.1 += 1;
        self.budgets.presence.add(1);
        if self.budgets.presence.limited() {
            self.close(subscription, "Too many presence messages per second");
            return;
        }
        if let Err(reason) = presence::validate(&message.payload) {
            self.reply(message, false, json!({"reason": reason}));
            return;
        }
        let meta = message.payload.get("payload").unwrap_or(&Value::Null);
        if self.hub.limits.payload_too_large(json_size(meta)) {
            self.close(subscription, "Track message size exceeded");
            return;
        }
        self.reply(message, true, json!({}));
        presence::handle(&self.hub, subscription, &message.payload);
    }

    async fn join(&mut self, message: Inbound) {
        let name = message.topic.strip_prefix("realtime:").unwrap_or("");
        if name.is_empty() {
            let reason = "TopicNameRequired: You must provide a topic name";
            self.reply(&message, false, json!({"reason": reason}));
            return;
        }
        let name = name.to_owned();
        if !self.counted && self.hub.limits.users_full() {
            let reason = "ConnectionRateLimitReached: Too many connected users";
            self.reply(&message, false, json!({"reason": reason}));
            return;
        }
        if self.budgets.joins.limited() {
            let reason = "ClientJoinRateLimitReached: Too many joins per second";
            self.reply(&message, false, json!({"reason": reason}));
            // Supabase disconnects the socket as well; the reply is flushed first.
            self.outbox.close_with("");
            return;
        }
        self.budgets.joins.add(1);
        let max_channels = self.hub.limits.config.max_channels_per_client;
        if !self.joined.contains_key(&message.topic) && self.joined.len() >= max_channels {
            let reason = "ChannelRateLimitReached: Too many channels";
            self.reply(&message, false, json!({"reason": reason}));
            return;
        }
        let config = message.payload.get("config").cloned().unwrap_or(json!({}));
        // As Realtime does: a join's opaque `sb_` key stands for the socket's own token.
        let token = ["access_token", "user_token"]
            .iter()
            .find_map(|key| message.payload.get(*key).and_then(Value::as_str))
            .filter(|token| !token.starts_with("sb_"));
        let (token, caller) = match token {
            Some(token) => match token::verify(self.app.keys(), token) {
                Ok(caller) => (token.to_owned(), caller),
                Err(refusal) => {
                    self.reply(&message, false, json!({"reason": refusal.join()}));
                    return;
                }
            },
            None => (self.socket_token.clone(), self.socket_caller.clone()),
        };
        let private = config.get("private").and_then(Value::as_bool) == Some(true);
        let flag = |section: &str, key: &str| {
            config
                .get(section)
                .and_then(|section| section.get(key))
                .and_then(Value::as_bool)
                == Some(true)
        };
        let presence_enabled = flag("presence", "enabled");
        let permissions = self.permissions(&caller, private, &name).await;
        if !permissions.readable(presence_enabled) {
            let reason = format!(
                "Unauthorized: You do not have permissions to read from this Channel topic: {name}"
            );
            self.reply(&message, false, json!({"reason": reason}));
            return;
        }
        let entries = match config.get("postgres_changes") {
            Some(Value::Array(entries)) => entries.clone(),
            _ => Vec::new(),
        };
        let bindings = match entries
            .iter()
            .map(|entry| Binding::parse(entry, &self.hub.schema))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(bindings) => bindings,
            Err(reason) => {
                self.reply(&message, false, json!({"reason": reason}));
                return;
            }
        };
        // Joining a topic again closes the earlier join (protocol.md §4.9).
        if let Some(old) = self.remove(&message.topic) {
            self.outbox.push(Outbound {
                join_ref: old.join_ref.clone(),
                reference: old.join_ref.clone(),
                topic: old.topic.clone(),
                event: "phx_close".into(),
                payload: Payload::json(json!({})),
            });
        }
        let presence_key = config
            .get("presence")
            .and_then(|presence| presence.get("key"))
            .and_then(Value::as_str)
            .filter(|key| !key.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let echoes: Vec<Value> = bindings
            .iter()
            .map(|binding| binding.echo.clone())
            .collect();
        if !self.counted {
            if !self.hub.limits.add_user() {
                let reason = "ConnectionRateLimitReached: Too many connected users";
                self.reply(&message, false, json!({"reason": reason}));
                return;
            }
            self.counted = true;
        }
        let subscription = Arc::new(Subscription {
            id: self.hub.next_id(),
            outbox: self.outbox.clone(),
            topic: message.topic.clone(),
            join_ref: message.join_ref.clone().or(message.reference.clone()),
            private,
            broadcast_self: flag("broadcast", "self"),
            broadcast_ack: flag("broadcast", "ack"),
            presence_enabled,
            presence_key,
            bindings,
            permissions,
            expires_at: token::expiry(&caller),
            token,
            caller,
        });
        self.hub.insert(subscription.clone());
        self.joined
            .insert(message.topic.clone(), subscription.clone());
        self.reply(&message, true, json!({"postgres_changes": echoes}));
        if !subscription.bindings.is_empty() {
            subscription.system("postgres_changes", true, "Subscribed to PostgreSQL");
        }
        if presence_enabled && subscription.permissions.presence_read {
            let state = self.hub.presence.state(&subscription.topic_key());
            subscription.push("presence_state", Payload::json(state));
        }
    }

    /// What `caller` may do on the channel `name`: everything when it is public.
    async fn permissions(&self, caller: &Caller, private: bool, name: &str) -> Permissions {
        if !private {
            return Permissions::PUBLIC;
        }
        private::permissions(self.app.store(), self.app.schema(), caller, name).await
    }

    /// `access_token` on a joined channel (protocol.md §4.6), unanswered. As Supabase Realtime
    /// does: the same token or an opaque key changes nothing; another is verified and the
    /// channel's rights evaluated again, and the channel closes if the token is refused, if the
    /// caller may no longer join it, or if a read right it had is gone.
    async fn refresh_token(&mut self, subscription: &Arc<Subscription>, message: &Inbound) {
        let Some(token) = message.payload.get("access_token").and_then(Value::as_str) else {
            return;
        };
        if token == subscription.token || token.starts_with("sb_") {
            return;
        }
        let caller = match token::verify(self.app.keys(), token) {
            Ok(caller) => caller,
            Err(refusal) => {
                self.close(subscription, &refusal.refresh());
                return;
            }
        };
        let permissions = self
            .permissions(&caller, subscription.private, subscription.name())
            .await;
        let name = subscription.name();
        if !permissions.readable(subscription.presence_enabled) {
            let reason =
                format!("You do not have permissions to read from this Channel topic: {name}");
            self.close(subscription, &reason);
            return;
        }
        if permissions.revoke(&subscription.permissions, subscription.presence_enabled) {
            let reason =
                format!("You no longer have permission to read from this Channel topic: {name}");
            self.close(subscription, &reason);
            return;
        }
        let refreshed = Arc::new(subscription.refreshed(token, caller, permissions));
        self.hub.insert(refreshed.clone());
        self.joined.insert(refreshed.topic.clone(), refreshed);
    }

    /// The earliest token expiry among the joined channels.
    pub fn next_expiry(&self) -> Option<i64> {
        self.joined
            .values()
            .filter_map(|subscription| subscription.expires_at)
            .min()
    }

    /// Closes every channel whose token has expired, telling the client why.
    pub fn expire(&mut self, now: i64) {
        let expired: Vec<Arc<Subscription>> = self
            .joined
            .values()
            .filter(|subscription| subscription.expired(now))
            .cloned()
            .collect();
        for subscription in expired {
            let ago = now - subscription.expires_at.unwrap_or(now);
            self.close(
                &subscription,
                &format!("Token has expired {ago} seconds ago"),
            );
        }
    }

    /// Sends the `system` error, then `phx_close`, and forgets the channel.
    fn close(&mut self, subscription: &Arc<Subscription>, reason: &str) {
        subscription.system("system", false, reason);
        self.outbox.push(Outbound {
            join_ref: subscription.join_ref.clone(),
            reference: subscription.join_ref.clone(),
            topic: subscription.topic.clone(),
            event: "phx_close".into(),
            payload: Payload::json(json!({})),
        });
        self.remove(&subscription.topic);
    }

    fn remove(&mut self, topic: &str) -> Option<Arc<Subscription>> {
        let subscription = self.joined.remove(topic)?;
        self.presence_calls.remove(topic);
        self.hub.remove(subscription.id);
        presence::leave(&self.hub, &subscription);
        Some(subscription)
    }

    /// Leaves every channel: the socket is gone.
    pub fn disconnect(&mut self) {
        let topics: Vec<String> = self.joined.keys().cloned().collect();
        for topic in topics {
            self.remove(&topic);
        }
        if std::mem::take(&mut self.counted) {
            self.hub.limits.remove_user();
        }
    }

    fn reply(&self, message: &Inbound, ok: bool, response: Value) {
        self.outbox.push(Outbound {
            join_ref: message.join_ref.clone(),
            reference: message.reference.clone(),
            topic: message.topic.clone(),
            event: "phx_reply".into(),
            payload: Payload::json(json!({
                "status": if ok { "ok" } else { "error" },
                "response": response,
            })),
        });
    }
}
