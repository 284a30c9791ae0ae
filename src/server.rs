//! Server: the HTTP router (`/auth/v1`, `/rest/v1`, `/realtime/v1`, `/storage/v1`), CORS as browser clients need it, and
//! `serve`, which runs until shutdown is signalled and lets in-flight requests finish.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::http::{HeaderName, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use tokio::net::TcpListener;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::app::App;
use crate::realtime;

/// Headers browsers must be allowed to read (protocol.md §1.5): counts, ranges, auth versions.
const EXPOSED_HEADERS: [&str; 14] = [
    "content-encoding",
    "content-location",
    "content-range",
    "content-type",
    "date",
    "location",
    "server",
    "transfer-encoding",
    "range-unit",
    "preference-applied",
    "content-profile",
    "x-total-count",
    "link",
    "x-supabase-api-version",
];

pub fn router(app: App) -> Router {
    Router::new()
        .nest("/auth/v1", crate::auth::api::routes())
        .nest("/storage/v1", crate::storage::api::routes())
        .route("/rest/v1/{*path}", any(rest))
        .route("/rest/v1/", any(rest_root))
        .route("/realtime/v1/websocket", get(realtime::socket::upgrade))
        .route(
            "/realtime/v1/api/broadcast",
            post(realtime::broadcast::post_messages),
        )
        .route(
            "/realtime/v1/api/broadcast/{topic}/events/{event}",
            post(realtime::broadcast::post_event),
        )
        .layer(axum::middleware::from_fn(shape_rejections))
        .layer(cors())
        .with_state(app)
}

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
            Method::HEAD,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(Duration::from_secs(86_400))
}

/// The request body limit: axum's default, applied to every body extractor.
const BODY_LIMIT: &str = "2 MiB";

/// axum answers a body it cannot take (over the limit, unreadable) with a plain-text 4xx before
/// any handler runs; clients parse errors as JSON, so those are rewritten in the error shape of
/// the API the path belongs to.
async fn shape_rejections(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/plain"));
    let api = ["/rest/v1", "/auth/v1"]
        .into_iter()
        .find(|prefix| path.starts_with(prefix));
    let (Some(api), true) = (api, status.is_client_error() && plain) else {
        return response;
    };
    let message = if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        format!("The request body is larger than the limit of {BODY_LIMIT}")
    } else {
        let body = axum::body::to_bytes(response.into_body(), 4096).await;
        String::from_utf8_lossy(&body.unwrap_or_default()).into_owned()
    };
    let too_large = status == axum::http::StatusCode::PAYLOAD_TOO_LARGE;
    let mut shaped = if api == "/rest/v1" {
        let code = if too_large { "54000" } else { "PGRST102" };
        crate::rest::error::RestError::new(status, code, message).into_response()
    } else {
        crate::auth::error::AuthError::new(status, "validation_failed", message).into_response()
    };
    if too_large {
        // The rest of the body is never read, so the connection cannot carry another request:
        // saying so keeps the client from sending its next request down a closing socket.
        shaped.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    shaped
}

/// The router of a server on the PostgreSQL store: what that store serves so far (`GET
/// /auth/v1/health`, REST reads, writes and RPC); every other request of the four APIs is refused with a 501
/// in its API's error shape, so no client mistakes it for an empty or failed answer.
pub fn postgres_router(rest: crate::rest::postgres::PgRest) -> Router {
    Router::new()
        .route("/auth/v1/health", get(crate::auth::api::health))
        .route("/rest/v1/{*path}", any(postgres_rest))
        .route("/rest/v1/", any(postgres_rest))
        .fallback(not_on_postgres)
        .layer(cors())
        .with_state(rest)
}

async fn postgres_rest(
    State(rest): State<crate::rest::postgres::PgRest>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().strip_prefix("/rest/v1/").unwrap_or("");
    let query = uri.query().unwrap_or("");
    crate::rest::postgres::handle(&rest, &method, path, query, &headers, body).await
}

async fn not_on_postgres(OriginalUri(uri): OriginalUri) -> Response {
    let path = uri.path();
    let api = ["/rest/v1", "/auth/v1", "/storage/v1", "/realtime/v1"]
        .into_iter()
        .find(|prefix| path.starts_with(prefix));
    let status = axum::http::StatusCode::NOT_IMPLEMENTED;
    let message = |service: &str| format!("{service} is not served on the PostgreSQL store yet");
    match api {
        Some("/rest/v1") => {
            crate::rest::error::RestError::new(status, "0A000", message("REST")).into_response()
        }
        Some("/auth/v1") => {
            crate::auth::error::AuthError::new(status, "not_implemented", message("Auth"))
                .into_response()
        }
        Some("/storage/v1") => {
            crate::storage::error::StorageError::not_implemented(message("Storage")).into_response()
        }
        Some(_) => (
            status,
            axum::Json(serde_json::json!({"message": message("Realtime")})),
        )
            .into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves `app` on `listener` until `shutdown` completes; in-flight requests are finished.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    app.store().serving(listener.local_addr()?);
    serve_router(listener, router(app), shutdown).await
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        crate::wire::Listener(listener),
        router.into_make_service_with_connect_info::<crate::wire::Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// `/rest/v1/{path}`: the caller is verified first (none at all is `anon`); a bad key never
/// reaches the pipeline.
async fn rest(
    State(app): State<App>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match app.keys().rest_caller(&headers) {
        Ok(caller) => caller,
        Err(error) => {
            return crate::rest::error::RestError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                error.code,
                error.message,
            )
            .into_response();
        }
    };
    let path = uri.path().strip_prefix("/rest/v1/").unwrap_or("");
    crate::rest::handle(
        app.store(),
        app.schema().clone(),
        caller,
        &app.project().config.api,
        &method,
        path,
        uri.query().unwrap_or(""),
        &headers,
        body,
    )
    .await
}

async fn rest_root(
    state: State<App>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    rest(state, method, uri, headers, body).await
}
