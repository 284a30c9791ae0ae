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
use super::{Hub, Outbound, Outbox, Payload, Subscription, broadcast, now_secs, presence};
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
    /// The caller of the socket's `apikey`, used when a join carries no token.
    socket_caller: Caller,
    joined: HashMap<String, Arc<Subscription>>,
    budgets: ClientBudgets,
    /// Whether this connection counts against `max_concurrent_users` (from its first join).
    counted: bool,
    /// Per joined topic: when its presence window ends and the calls made in it.
    presence_calls: HashMap<String, (Instant, u32)>,
}

impl Channels {
    pub fn new(app: App, outbox: Outbox, socket_caller: Caller) -> Self {
        let hub = app.realtime().hub().clone();
        Self {
            budgets: ClientBudgets::new(&hub.limits.config),
            hub,
            app,
            outbox,
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
                    "broadcast" if !subscription.permissions.broadcast => {}
                    "presence" if !subscription.permissions.presence => {
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
        let token = ["access_token", "user_token"]
            .iter()
            .find_map(|key| message.payload.get(*key).and_then(Value::as_str));
        let caller = match token {
            Some(token) => match self.verify(token) {
                Ok(caller) => caller,
                Err(reason) => {
                    let reason = format!("InvalidJWTToken: {reason}");
                    self.reply(&message, false, json!({"reason": reason}));
                    return;
                }
            },
            None => self.socket_caller.clone(),
        };
        let private = config.get("private").and_then(Value::as_bool) == Some(true);
        let permissions = self.permissions(&caller, private, &name).await;
        if !permissions.read {
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
        let flag = |section: &str, key: &str| {
            config
                .get(section)
                .and_then(|section| section.get(key))
                .and_then(Value::as_bool)
                == Some(true)
        };
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
            presence_key,
            bindings,
            permissions,
            expires_at: expiry(&caller),
            caller,
        });
        self.hub.insert(subscription.clone());
        self.joined
            .insert(message.topic.clone(), subscription.clone());
        self.reply(&message, true, json!({"postgres_changes": echoes}));
        if !subscription.bindings.is_empty() {
            subscription.system("postgres_changes", true, "Subscribed to PostgreSQL");
        }
        if flag("presence", "enabled") {
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

    /// `access_token` on a joined channel (protocol.md §4.6); no reply.
    async fn refresh_token(&mut self, subscription: &Arc<Subscription>, message: &Inbound) {
        let Some(token) = message.payload.get("access_token").and_then(Value::as_str) else {
            return;
        };
        if token.is_empty() || token.starts_with("sb_") {
            return;
        }
        let caller = match self.verify(token) {
            Ok(caller) => caller,
            Err(reason) => {
                self.close(subscription, &reason);
                return;
            }
        };
        let permissions = self
            .permissions(&caller, subscription.private, subscription.name())
            .await;
        if !permissions.read {
            let reason = format!(
                "You no longer have permission to read from this Channel topic: {}",
                subscription.name()
            );
            self.close(subscription, &reason);
            return;
        }
        let refreshed = Arc::new(Subscription {
            id: subscription.id,
            outbox: subscription.outbox.clone(),
            topic: subscription.topic.clone(),
            join_ref: subscription.join_ref.clone(),
            private: subscription.private,
            broadcast_self: subscription.broadcast_self,
            broadcast_ack: subscription.broadcast_ack,
            presence_key: subscription.presence_key.clone(),
            bindings: subscription.bindings.clone(),
            permissions,
            expires_at: expiry(&caller),
            caller,
        });
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

    /// Verifies a join or `access_token` token: opaque `sb_` keys as an apikey, JWTs as user
    /// tokens, which must carry `role` and `exp`. Errors are the reasons realtime gives.
    fn verify(&self, token: &str) -> Result<Caller, String> {
        const INVALID: &str = "The token provided is not a valid JWT";
        let keys = self.app.keys();
        if token.starts_with("sb_") {
            return keys.socket_caller(token).map_err(|_| INVALID.to_owned());
        }
        let caller =
            keys.token_caller(token)
                .map_err(|refusal| match refusal.message.as_str() {
                    "JWT expired" => match payload_claim(token, "exp").and_then(|exp| exp.as_i64())
                    {
                        Some(exp) => format!("Token has expired {} seconds ago", now_secs() - exp),
                        None => "Token has expired".to_owned(),
                    },
                    _ => INVALID.to_owned(),
                })?;
        // Verified, so its payload is the one signed; `token_caller` fills in a missing role.
        if payload_claim(token, "role").is_none() || expiry(&caller).is_none() {
            return Err("Fields `role` and `exp` are required in JWT".to_owned());
        }
        Ok(caller)
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

/// A claim of a JWT's payload as the token carries it, signature unchecked.
fn payload_claim(token: &str, claim: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let mut claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get_mut(claim).map(Value::take)
}

fn expiry(caller: &Caller) -> Option<i64> {
    caller.claims.get("exp").and_then(Value::as_i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    #[test]
    fn payload_claims_are_read_from_the_token() {
        let token = "e30.eyJleHAiOjQyLCJyb2xlIjoiYW5vbiJ9.sig";
        assert_eq!(payload_claim(token, "exp"), Some(json!(42)));
        assert_eq!(payload_claim(token, "role"), Some(json!("anon")));
        assert_eq!(payload_claim(token, "sub"), None);
        assert_eq!(payload_claim("not a token", "exp"), None);
    }

    #[test]
    fn expiry_reads_the_exp_claim() {
        let caller = Caller {
            role: Role::Authenticated,
            claims: Arc::new(json!({"exp": 42})),
        };
        assert_eq!(expiry(&caller), Some(42));
    }
}
