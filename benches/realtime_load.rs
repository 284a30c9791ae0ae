//! Realtime load test, run on demand: `cargo bench --bench realtime_load` (SUBSCRIBERS=2000,
//! CHANGES=200 by default). Starts the release binary on loopback, opens SUBSCRIBERS websocket
//! subscribers (each a different signed-in user), then commits rows through REST and measures
//! commit-to-delivery latency:
//! - baseline: one subscriber, rows of its own (the same run's reference point);
//! - owned rows: every subscriber on a row-level-security table, each row delivered only to
//!   its owner, so every change is checked against every subscriber's policy;
//! - public rows: a table without RLS, each row delivered to every subscriber.
//!
//! Reports p50/p95/p99 latencies, their ratio to the baseline, and server memory per
//! connection (RSS growth divided by subscribers). Bounded: every wait has a deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};
use tokio_tungstenite::tungstenite::Message;

const MIGRATION: &str = "
create table public.items (id bigserial primary key, user_id uuid not null, sent_us bigint not null);
alter table public.items enable row level security;
create policy own on public.items for select using (auth.uid() = user_id);
create table public.feed (id bigserial primary key, sent_us bigint not null);
alter publication supabase_realtime add table public.items, public.feed;
";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

struct Server {
    child: std::process::Child,
    address: String,
    dir: std::path::PathBuf,
}

impl Server {
    /// Starts the server with room for `subscribers` connected users (and the baseline's).
    fn start(subscribers: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("solobase-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("supabase/migrations")).unwrap();
        let config = format!("[realtime]\nmax_concurrent_users = {}\n", subscribers + 1);
        std::fs::write(dir.join("supabase/config.toml"), config).unwrap();
        std::fs::write(
            dir.join("supabase/migrations/20240101000000_load.sql"),
            MIGRATION,
        )
        .unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_solobase"))
            .args(["start", "--workdir", dir.to_str().unwrap(), "--port", "0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting solobase");
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let address = lines
            .find_map(|line| {
                line.ok()?
                    .split("API URL: http://")
                    .nth(1)
                    .map(str::to_owned)
            })
            .expect("the API URL");
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            address,
            dir,
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sign(claims: &Value) -> String {
    let key =
        jsonwebtoken::EncodingKey::from_secret(solobase::config::DEFAULT_JWT_SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &key).unwrap()
}

fn user(index: usize) -> String {
    format!("00000000-0000-4000-8000-{index:012}")
}

/// Opens a subscriber for `user` on `tables`; each delivered row's latency goes to `latencies`.
async fn subscribe(
    address: &str,
    user: &str,
    tables: &[&str],
    started: Instant,
    latencies: mpsc::UnboundedSender<u64>,
) {
    let token = sign(&json!({"sub": user, "role": "authenticated", "exp": 4_000_000_000u64}));
    let url = format!(
        "ws://{address}/realtime/v1/websocket?apikey={}&vsn=1.0.0",
        solobase::config::DEFAULT_ANON_KEY
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket");
    let bindings: Vec<Value> = tables
        .iter()
        .map(|table| json!({"event": "INSERT", "schema": "public", "table": table}))
        .collect();
    let join = json!({"topic": "realtime:load", "event": "phx_join", "ref": "1", "join_ref": "1",
        "payload": {"config": {"postgres_changes": bindings}, "access_token": token}});
    socket.send(Message::text(join.to_string())).await.unwrap();
    loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("joining failed")
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["event"] == "system" && message["payload"]["status"] == "ok" {
            break;
        }
        if message["event"] == "phx_reply" && message["payload"]["status"] != "ok" {
            panic!("join refused: {message}");
        }
    }
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let message: Value = serde_json::from_str(&text).unwrap_or_default();
            if message["event"] == "postgres_changes" {
                let sent = message["payload"]["data"]["record"]["sent_us"]
                    .as_u64()
                    .unwrap_or(0);
                let now = started.elapsed().as_micros() as u64;
                let _ = latencies.send(now.saturating_sub(sent));
            }
        }
    });
}

async fn post(address: &str, path: &str, body: &Value) {
    let body = body.to_string();
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\napikey: {key}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        key = solobase::config::DEFAULT_SERVICE_ROLE_KEY,
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    assert!(
        response.starts_with(b"HTTP/1.1 201"),
        "{}",
        String::from_utf8_lossy(&response)
    );
}

/// Commits `changes` rows (paced) and collects `expected` deliveries, with a deadline.
async fn measure(
    address: &str,
    changes: usize,
    expected: usize,
    started: Instant,
    receiver: &Mutex<mpsc::UnboundedReceiver<u64>>,
    row: impl Fn(usize, u64) -> (&'static str, Value),
) -> Vec<u64> {
    let mut receiver = receiver.lock().await;
    while receiver.try_recv().is_ok() {}
    for index in 0..changes {
        let (path, body) = row(index, started.elapsed().as_micros() as u64);
        post(address, path, &body).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut latencies = Vec::with_capacity(expected);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while latencies.len() < expected {
        match tokio::time::timeout_at(deadline, receiver.recv()).await {
            Ok(Some(latency)) => latencies.push(latency),
            _ => break,
        }
    }
    latencies
}

fn percentile(sorted: &[u64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize] as f64 / 1000.0
}

fn report(name: &str, mut latencies: Vec<u64>, expected: usize, baseline_p50: Option<f64>) -> f64 {
    latencies.sort_unstable();
    let p50 = percentile(&latencies, 0.50);
    let ratio = baseline_p50
        .map(|base| format!("  p50 = {:.1}× baseline", p50 / base))
        .unwrap_or_default();
    println!(
        "{name:<34} delivered {:>7}/{expected:<7} p50 {p50:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms{ratio}",
        latencies.len(),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
    );
    p50
}

#[tokio::main]
async fn main() {
    let subscribers = env_number("SUBSCRIBERS", 2000);
    let changes = env_number("CHANGES", 200);
    let server = Server::start(subscribers);
    let address = server.address.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&address).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();

    let (baseline_sender, baseline_receiver) = mpsc::unbounded_channel();
    subscribe(
        &address,
        &user(999_999),
        &["items"],
        started,
        baseline_sender,
    )
    .await;
    let baseline_receiver = Mutex::new(baseline_receiver);
    let baseline = measure(
        &address,
        changes,
        changes,
        started,
        &baseline_receiver,
        |_, sent| {
            (
                "/rest/v1/items",
                json!({"user_id": user(999_999), "sent_us": sent}),
            )
        },
    )
    .await;
    let baseline_p50 = report("baseline: 1 subscriber", baseline, changes, None);

    let rss_before = server.rss_kib();
    let (sender, receiver) = mpsc::unbounded_channel();
    let opened = Arc::new(AtomicUsize::new(0));
    let connect_started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(64));
    for index in 0..subscribers {
        let (address, sender, opened, slots) = (
            address.clone(),
            sender.clone(),
            opened.clone(),
            slots.clone(),
        );
        tasks.spawn(async move {
            let _slot = slots.acquire().await.unwrap();
            subscribe(&address, &user(index), &["items", "feed"], started, sender).await;
            opened.fetch_add(1, Ordering::Relaxed);
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("a subscriber failed to join");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server.rss_kib();
    println!(
        "{} subscribers joined in {:.2} s; server RSS {} → {} KiB = {:.1} KiB per connection",
        opened.load(Ordering::Relaxed),
        connect_started.elapsed().as_secs_f64(),
        rss_before,
        rss_after,
        rss_after.saturating_sub(rss_before) as f64 / subscribers as f64
    );

    let receiver = Mutex::new(receiver);
    let owned = measure(
        &address,
        changes,
        changes,
        started,
        &receiver,
        |index, sent| {
            (
                "/rest/v1/items",
                json!({"user_id": user(index % subscribers), "sent_us": sent}),
            )
        },
    )
    .await;
    report(
        &format!("owned rows: {subscribers} subscribers, RLS"),
        owned,
        changes,
        Some(baseline_p50),
    );
    let public_changes = changes.min(20);
    let public = measure(
        &address,
        public_changes,
        public_changes * subscribers,
        started,
        &receiver,
        |_, sent| ("/rest/v1/feed", json!({"sent_us": sent})),
    )
    .await;
    report(
        &format!("public rows: to all {subscribers}"),
        public,
        public_changes * subscribers,
        Some(baseline_p50),
    );
}
