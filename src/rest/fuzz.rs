//! Fuzz: generated and mutated requests driven through the whole REST pipeline (parse, plan,
//! SQL, execute on the fixture store, render); none may panic or answer 5xx, and every error
//! has PostgREST's shape. `cargo test rest::fuzz` runs a short round; set `PROPTEST_CASES`
//! (e.g. `PROPTEST_CASES=20000 cargo test --release rest::fuzz`) for a long one on demand.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use super::fixture;
use crate::auth::Role;

/// Pieces of the PostgREST grammar and the characters parsers trip on (with `COLUMNS`).
const TOKENS: &[&str] = &[
    "items",
    "profiles",
    "todo_tags",
    "nope",
    "*",
    "(",
    ")",
    ",",
    ".",
    ":",
    "::",
    "!",
    "!inner",
    "->",
    "->>",
    "\"",
    "\\",
    "'",
    "%",
    "+",
    " ",
    "eq.",
    "neq.",
    "gt.",
    "lte.",
    "like.",
    "ilike.",
    "match.",
    "imatch.",
    "in.(",
    "is.",
    "cs.{",
    "cd.",
    "ov.",
    "fts.",
    "plfts(english).",
    "not.",
    "or(",
    "and(",
    "count",
    "count()",
    "...",
    "asc",
    "desc",
    "nullsfirst",
    "text",
    "int",
    "1",
    "0",
    "-1",
    "9223372036854775807",
    "9223372036854775808",
    "1e309",
    "true",
    "null",
    "{}",
    "[]",
    "{a,b}",
    "(?i)",
    "[z-a]",
    "\u{0}",
    "é",
    "\u{1F600}",
    "%00",
    "%ZZ",
];
const KEYS: &[&str] = &[
    "select",
    "order",
    "limit",
    "offset",
    "or",
    "and",
    "not.or",
    "columns",
    "on_conflict",
    "id",
    "title",
    "done",
    "data->a",
    "data->>a",
    "tags",
    "items.label",
    "items.order",
    "items.limit",
    "owner",
];
const TARGETS: &[&str] = &[
    "todos",
    "todos",
    "todos",
    "items",
    "profiles",
    "open_todos",
    "secrets",
    "todo_tags",
    "rpc/search_todos",
    "rpc/todo_count",
    "rpc/finish_all",
    "nope",
    "rpc/nope",
    "todos/1",
];
const METHODS: &[&str] = &[
    "GET", "GET", "GET", "HEAD", "POST", "POST", "PATCH", "DELETE", "PUT",
];
const PREFERS: &[&str] = &[
    "",
    "return=representation",
    "return=minimal",
    "count=exact",
    "resolution=merge-duplicates",
    "resolution=ignore-duplicates",
    "handling=strict, max-affected=1",
    "missing=default",
    "tx=rollback",
    "params=single-object",
    "bogus",
];
const BODIES: &[&str] = &[
    "",
    "{}",
    "[]",
    "{\"title\":\"t\"}",
    "[{\"title\":\"a\"},{\"title\":\"b\"}]",
    "{\"id\":9223372036854775808}",
    "{\"done\":\"maybe\"}",
    "{\"data\":{\"a\":[1,{}]}}",
    "{\"tags\":\"{x\"}",
    "{\"query\":\"a\"}",
    "{\"nope\":1}",
    "[1,2]",
    "\"text\"",
    "{oops",
    "null",
];

const COLUMNS: &[&str] = &[
    "id",
    "title",
    "done",
    "owner",
    "data",
    "tags",
    "created_at",
    "label",
    "todo_id",
    "name",
    "nope",
    "data->a",
    "data->>a",
    "data->0->>b",
    "title->a",
    "tags->>0",
];
const OPERATORS: &[&str] = &[
    "eq.",
    "neq.",
    "gt.",
    "gte.",
    "lt.",
    "lte.",
    "like.",
    "ilike.",
    "match.",
    "imatch.",
    "in.",
    "is.",
    "isdistinct.",
    "cs.",
    "cd.",
    "ov.",
    "fts.",
    "plfts.",
    "phfts.",
    "wfts.",
    "like(any).",
    "ilike(all).",
    "not.eq.",
    "bogus.",
];
const OPERANDS: &[&str] = &[
    "1",
    "-1",
    "0",
    "abc",
    "9223372036854775807",
    "9223372036854775808",
    "1.5",
    "1e309",
    "true",
    "null",
    "unknown",
    "not_null",
    "(1,2,3)",
    "(\"a,b\",c)",
    "()",
    "{a,b}",
    "{}",
    "{\"a\":1}",
    "[1]",
    "*a*",
    "(unclosed",
    "[z-a]",
    "2024-01-01",
    "2024-13-45T99:00:00Z",
    "00000000-0000-0000-0000-00000000000a",
    "not-a-uuid",
    "happy",
    "é\u{0}",
];
const SELECTS: &[&str] = &[
    "*",
    "id",
    "title",
    "data->a",
    "data->>a",
    "title::text",
    "id::int",
    "done::nosuchtype",
    "t:title",
    "items(*)",
    "items(label)",
    "items!inner(id)",
    "profiles(name)",
    "owner(name)",
    "todo_tags(*)",
    "tags(name)",
    "count()",
    "items(count)",
    "...profiles(name)",
    "nope",
    "title->a",
    "items(todos(items(id)))",
];

/// A filter: `[not.]operator.operand`.
fn filter() -> impl Strategy<Value = String> {
    (
        prop::sample::select(OPERATORS),
        prop::sample::select(OPERANDS),
    )
        .prop_map(|(operator, operand)| format!("{operator}{operand}"))
}

/// A logic tree: `(column.filter, and(…), …)`, nested a few levels.
fn logic() -> impl Strategy<Value = String> {
    let leaf = (prop::sample::select(COLUMNS), filter())
        .prop_map(|(column, filter)| format!("{column}.{filter}"));
    let tree = leaf.prop_recursive(4, 24, 4, |inner| {
        (
            prop::sample::select(&["and", "or", "not.and", "not.or"][..]),
            prop::collection::vec(inner, 1..4),
        )
            .prop_map(|(operator, children)| format!("{operator}({})", children.join(",")))
    });
    prop::collection::vec(tree, 1..4).prop_map(|children| format!("({})", children.join(",")))
}

/// A parameter: usually a key with a value of its kind, sometimes any key with any value.
fn parameter() -> impl Strategy<Value = (String, String)> {
    let select = prop::collection::vec(prop::sample::select(SELECTS), 1..5)
        .prop_map(|items| items.join(","));
    let order = prop::collection::vec(
        (
            prop::sample::select(COLUMNS),
            prop::sample::select(&["", ".asc", ".desc", ".desc.nullsfirst", ".nullslast"][..]),
        ),
        1..3,
    )
    .prop_map(|terms| {
        terms
            .into_iter()
            .map(|(column, direction)| format!("{column}{direction}"))
            .collect::<Vec<_>>()
            .join(",")
    });
    let tokens: Vec<&str> = [TOKENS, COLUMNS].concat();
    let soup = prop::collection::vec(prop::sample::select(tokens), 0..24)
        .prop_map(|tokens| tokens.concat());
    let deep = (0usize..60, soup.clone(), any::<bool>()).prop_map(|(depth, soup, embed)| {
        let open = if embed { "items(" } else { "or(" };
        format!("({}{soup}{})", open.repeat(depth), ")".repeat(depth))
    });
    let anything = prop_oneof![soup, deep, filter(), logic()];
    let keyed = |keys: &'static [&'static str], values: BoxedStrategy<String>| {
        (prop::sample::select(keys), values).prop_map(|(key, value)| (key.to_owned(), value))
    };
    prop_oneof![
        4 => keyed(COLUMNS, filter().boxed()),
        3 => keyed(&["select"], select.boxed()),
        2 => keyed(&["or", "and", "not.or", "items.or"], logic().boxed()),
        1 => keyed(&["order", "items.order"], order.boxed()),
        1 => keyed(&["limit", "offset", "items.limit"], prop::sample::select(OPERANDS).prop_map(str::to_owned).boxed()),
        1 => keyed(&["items.label", "items.id", "profiles.name"], filter().boxed()),
        2 => keyed(KEYS, anything.boxed()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let pair = parameter().prop_map(|(key, value)| {
        let value =
            percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC);
        format!("{key}={value}")
    });
    prop::collection::vec(pair, 0..4).prop_map(|pairs| pairs.join("&"))
}

/// A request: target, method, query string, `Prefer`, body — then a few random byte flips.
fn request() -> impl Strategy<Value = (String, String, String, String, String)> {
    let flip = (any::<prop::sample::Index>(), any::<u8>());
    let mutations = prop_oneof![
        3 => Just(Vec::new()),
        1 => prop::collection::vec(flip, 1..3),
    ];
    (
        prop::sample::select(TARGETS),
        prop::sample::select(METHODS),
        query(),
        prop::sample::select(PREFERS),
        prop::sample::select(BODIES),
        mutations,
    )
        .prop_map(|(target, method, query, prefer, body, mutations)| {
            let mut query = query.into_bytes();
            for (index, byte) in mutations {
                if !query.is_empty() {
                    let at = index.index(query.len());
                    query[at] = byte;
                }
            }
            (
                target.to_owned(),
                method.to_owned(),
                String::from_utf8_lossy(&query).into_owned(),
                prefer.to_owned(),
                body.to_owned(),
            )
        })
}

#[test]
fn no_request_panics_or_answers_5xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(fixture::store());
    let schema = std::sync::Arc::new(fixture::schema());
    let api = crate::config::ApiConfig {
        max_rows: 100,
        ..Default::default()
    };
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(300);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&request(), |(target, method, query, prefer, body)| {
            let mut headers = HeaderMap::new();
            if let Ok(prefer) = HeaderValue::from_str(&prefer) {
                headers.insert("prefer", prefer);
            }
            let method: Method = method.parse().unwrap();
            for role in [Role::Anon, Role::ServiceRole] {
                let response = runtime.block_on(super::handle(
                    &store,
                    schema.clone(),
                    fixture::caller(role),
                    &api,
                    &method,
                    &target,
                    &query,
                    &headers,
                    Bytes::from(body.clone()),
                ));
                let status = response.status();

                let bytes = runtime
                    .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
                    .unwrap();
                let text = String::from_utf8_lossy(&bytes);
                prop_assert!(
                    status.as_u16() < 500,
                    "{method} {target}?{query} ({prefer}; {body}) → {status} {text}"
                );
                if status.is_client_error() {
                    let error: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                    prop_assert!(
                        ["code", "message", "details", "hint"]
                            .iter()
                            .all(|key| error.get(key).is_some()),
                        "{method} {target}?{query} → {status} {text}"
                    );
                }
            }
            Ok(())
        })
        .unwrap();
}
