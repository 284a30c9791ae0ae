//! The local inbox, as Supabase's local Inbucket/Mailpit: the last messages auth sent, kept in
//! memory, served on `[inbucket] port` as a small web page and Mailpit's JSON API (each message
//! with the `Link` and `Code` it carries).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// The sender Supabase's local stack uses.
const FROM: &str = "admin@email.com";
/// The inbox keeps this many messages; older ones are dropped.
const CAPACITY: usize = 1000;

/// One delivered email.
pub struct Message {
    pub to: String,
    pub subject: String,
    pub html: String,
    /// The template kind (`magic_link`, `recovery`, …).
    pub kind: &'static str,
    /// The `/verify` link the message carries.
    pub link: Option<String>,
    /// The one-time code the message carries.
    pub code: Option<String>,
}

struct Stored {
    id: String,
    created: String,
    message: Message,
}

#[derive(Default)]
pub struct Inbox {
    messages: Mutex<VecDeque<Stored>>,
}

impl Inbox {
    pub fn deliver(&self, message: Message) {
        tracing::info!(to = %message.to, subject = %message.subject, "mail delivered to the local inbox");
        let mut messages = self.lock();
        if messages.len() == CAPACITY {
            messages.pop_front();
        }
        messages.push_back(Stored {
            id: uuid::Uuid::new_v4().to_string(),
            created: jiff::Timestamp::now().to_string(),
            message,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Stored>> {
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The messages to `to` (all when `None`), newest first, as Mailpit lists them.
    fn list(&self, to: Option<&str>) -> Vec<Value> {
        self.lock()
            .iter()
            .rev()
            .filter(|stored| to.is_none_or(|to| stored.message.to.eq_ignore_ascii_case(to)))
            .map(summary)
            .collect()
    }
}

fn text_of(html: &str) -> String {
    static TAG: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"<[^>]*>").expect("valid pattern"));
    TAG.replace_all(html, "")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
}

fn summary(stored: &Stored) -> Value {
    let message = &stored.message;
    let text = text_of(&message.html);
    json!({
        "ID": stored.id,
        "From": {"Name": "Admin", "Address": FROM},
        "To": [{"Name": "", "Address": message.to}],
        "Subject": message.subject,
        "Created": stored.created,
        "Snippet": text.chars().take(250).collect::<String>(),
        "Kind": message.kind,
        "Link": message.link,
        "Code": message.code,
    })
}

pub fn routes(inbox: Arc<Inbox>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/v1/messages", get(list).delete(clear))
        .route("/api/v1/search", get(search))
        .route("/api/v1/message/{id}", get(one))
        .with_state(inbox)
}

/// `GET /api/v1/messages`.
async fn list(State(inbox): State<Arc<Inbox>>) -> Json<Value> {
    let messages = inbox.list(None);
    Json(json!({"total": messages.len(), "count": messages.len(), "messages": messages}))
}

/// `GET /api/v1/search?query=to:ADDRESS`: the messages to one address.
async fn search(
    State(inbox): State<Arc<Inbox>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let query = query.get("query").map(|query| query.trim()).unwrap_or("");
    let Some(to) = query.strip_prefix("to:") else {
        return (
            StatusCode::BAD_REQUEST,
            "query must be to:ADDRESS".to_owned(),
        )
            .into_response();
    };
    let messages = inbox.list(Some(to.trim_matches('"')));
    Json(json!({"total": messages.len(), "count": messages.len(), "messages": messages}))
        .into_response()
}

/// `GET /api/v1/message/{id}`: one message with its `Text` and `HTML`.
async fn one(State(inbox): State<Arc<Inbox>>, Path(id): Path<String>) -> Response {
    let messages = inbox.lock();
    let Some(stored) = messages.iter().find(|stored| stored.id == id) else {
        return (StatusCode::NOT_FOUND, "message not found".to_owned()).into_response();
    };
    let mut message = summary(stored);
    message["Text"] = Value::String(text_of(&stored.message.html));
    message["HTML"] = Value::String(stored.message.html.clone());
    Json(message).into_response()
}

/// `DELETE /api/v1/messages`: empties the inbox.
async fn clear(State(inbox): State<Arc<Inbox>>) -> StatusCode {
    inbox.lock().clear();
    StatusCode::OK
}

/// `GET /`: every message, newest first, with its body.
async fn page(State(inbox): State<Arc<Inbox>>) -> Html<String> {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let messages = inbox.lock();
    let mut page = String::from(
        "<!doctype html><meta charset=utf-8><title>Solobase inbox</title>\
         <style>body{font-family:sans-serif;max-width:50em;margin:2em auto}\
         article{border:1px solid #ccc;border-radius:6px;padding:0 1em;margin:1em 0}\
         header{color:#555;font-size:.9em}</style><h1>Inbox</h1>",
    );
    if messages.is_empty() {
        page.push_str("<p>No mail yet.</p>");
    }
    for stored in messages.iter().rev() {
        let message = &stored.message;
        page.push_str(&format!(
            "<article><header><p><b>{}</b><br>To {} · {}</p></header>\
             <iframe sandbox srcdoc=\"{}\" style=\"width:100%;border:0\"></iframe></article>",
            escape(&message.subject),
            escape(&message.to),
            escape(&stored.created),
            escape(&message.html).replace('"', "&quot;"),
        ));
    }
    Html(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(to: &str) -> Message {
        Message {
            to: to.into(),
            subject: "Your Magic Link".into(),
            html: "<p>Log <b>in</b> &amp; go</p>\n<p>123456</p>".into(),
            kind: "magic_link",
            link: Some("http://h/verify".into()),
            code: Some("123456".into()),
        }
    }

    #[test]
    fn lists_newest_first_filtered_by_recipient_and_bounded() {
        let inbox = Inbox::default();
        inbox.deliver(message("a@example.com"));
        inbox.deliver(message("b@example.com"));
        let all = inbox.list(None);
        assert_eq!(all[0]["To"][0]["Address"], "b@example.com");
        assert_eq!(all[1]["Snippet"], "Log in & go\n123456");
        let to_a = inbox.list(Some("A@example.com"));
        assert_eq!(to_a.len(), 1);
        assert_eq!(to_a[0]["Code"], "123456");
        for _ in 0..CAPACITY {
            inbox.deliver(message("c@example.com"));
        }
        assert_eq!(inbox.list(None).len(), CAPACITY);
        assert!(inbox.list(Some("a@example.com")).is_empty());
    }
}
