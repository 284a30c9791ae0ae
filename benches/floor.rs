//! Floors for `bench/run`, on demand: what this machine does without Solobase's own work.
//! - `cargo bench --bench floor -- axum PORT`: a bare axum server answering `GET /health`, for
//!   wrk to measure the HTTP floor (runs until killed);
//! - `cargo bench --bench floor -- sqlite SECONDS`: raw SQLite on a fresh WAL file holding the
//!   bench data set (5,000 users × 20 rows, indexed by owner): one user's rows as one JSON array
//!   (the list floor), and single-row inserts each committed with `synchronous=FULL` (the write
//!   floor). Prints one JSON line per workload: requests/s, p50 and p99 in milliseconds.

use std::time::{Duration, Instant};

use rusqlite::Connection;

const USERS: usize = 5_000;
const ROWS_PER_USER: usize = 20;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["axum", port] => serve(port.parse().expect("a port number")),
        ["sqlite", seconds] => sqlite(Duration::from_secs(seconds.parse().expect("seconds"))),
        _ => {
            eprintln!("usage: floor axum PORT | floor sqlite SECONDS");
            std::process::exit(2);
        }
    }
}

fn serve(port: u16) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async move {
        let app = axum::Router::new().route(
            "/health",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("binding the port");
        axum::serve(listener, app).await.expect("serving");
    });
}

fn user(index: usize) -> String {
    format!("00000000-0000-4000-8000-{index:012}")
}

fn sqlite(duration: Duration) {
    let directory = std::env::temp_dir().join(format!("solobase-floor-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("a scratch directory");
    let connection = Connection::open(directory.join("floor.db")).expect("opening SQLite");
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE selections (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, item_id TEXT NOT NULL);
             CREATE INDEX selections_user_id ON selections (user_id);",
        )
        .expect("creating the table");
    connection.execute_batch("BEGIN").expect("BEGIN");
    {
        let mut insert = connection
            .prepare("INSERT INTO selections (user_id, item_id) VALUES (?1, ?2)")
            .expect("preparing the insert");
        for index in 0..USERS * ROWS_PER_USER {
            insert
                .execute((user(index % USERS), format!("item-{index}")))
                .expect("inserting");
        }
    }
    connection.execute_batch("COMMIT").expect("COMMIT");

    let mut list = connection
        .prepare_cached(
            "SELECT coalesce(json_group_array(json_object('id', id, 'user_id', user_id, 'item_id', item_id)), '[]') \
             FROM selections WHERE user_id = ?1",
        )
        .expect("preparing the list");
    let mut next = 0usize;
    report(
        "sqlite list",
        measure(duration, || {
            next = (next + 7919) % USERS;
            let body: String = list
                .query_row([user(next)], |row| row.get(0))
                .expect("listing");
            assert!(body.len() > 2);
        }),
        duration,
    );
    let mut insert = connection
        .prepare_cached("INSERT INTO selections (user_id, item_id) VALUES (?1, 'new')")
        .expect("preparing the insert");
    report(
        "sqlite insert",
        measure(duration, || {
            next = (next + 7919) % USERS;
            insert.execute([user(next)]).expect("inserting");
        }),
        duration,
    );
    drop((list, insert));
    drop(connection);
    let _ = std::fs::remove_dir_all(directory);
}

/// Runs `operation` for `duration`; answers each run's latency.
fn measure(duration: Duration, mut operation: impl FnMut()) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let start = Instant::now();
    while start.elapsed() < duration {
        let begun = Instant::now();
        operation();
        latencies.push(begun.elapsed());
    }
    latencies
}

fn report(name: &str, mut latencies: Vec<Duration>, duration: Duration) {
    latencies.sort();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 * p) as usize).min(latencies.len() - 1);
        latencies[index].as_secs_f64() * 1000.0
    };
    println!(
        "{}",
        serde_json::json!({
            "workload": name,
            "rps": latencies.len() as f64 / duration.as_secs_f64(),
            "p50_ms": percentile(0.50),
            "p99_ms": percentile(0.99),
        })
    );
}
