//! Api: `/storage/v1` as storage-js speaks it — buckets (`/bucket…`), objects (`/object/…`:
//! upload, download, info, list, move, copy, remove), signed download and upload URLs and
//! public downloads. Each handler verifies the caller, runs one job on the store through
//! `objects` (policies applied there) and moves file contents through `files`.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rusqlite::Connection;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::error::StorageError;
use super::files::Files;
use super::list::{ListRequest, Listing};
use super::objects::{self, Access, BucketFields, BucketQuery, NewObject, Object};
use super::upload::{self, Limits};
use super::{range, sign};
use crate::app::App;
use crate::auth::Caller;

type Result<T> = std::result::Result<T, StorageError>;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/bucket", get(list_buckets).post(create_bucket))
        .route(
            "/bucket/{id}",
            get(get_bucket).put(update_bucket).delete(delete_bucket),
        )
        .route("/bucket/{id}/empty", post(empty_bucket))
        .route("/object/list/{bucket}", post(list_objects))
        .route("/object/move", post(move_object))
        .route("/object/copy", post(copy_object))
        .route("/object/sign/{bucket}", post(sign_urls))
        .route(
            "/object/sign/{bucket}/{*name}",
            post(sign_url).get(signed_download),
        )
        .route(
            "/object/upload/sign/{bucket}/{*name}",
            post(sign_upload_url).put(signed_upload).layer(unlimited()),
        )
        .route("/object/public/{bucket}/{*name}", get(public_download))
        .route("/object/authenticated/{bucket}/{*name}", get(download))
        .route("/object/info/public/{bucket}/{*name}", get(public_info))
        .route("/object/info/authenticated/{bucket}/{*name}", get(info))
        .route("/object/info/{bucket}/{*name}", get(info))
        .route("/object/{bucket}", axum::routing::delete(remove_objects))
        .route(
            "/object/{bucket}/{*name}",
            get(download)
                .post(upload)
                .put(upload)
                .delete(remove_object)
                .layer(unlimited()),
        )
        .fallback(|| async { StorageError::not_found_route() })
        .method_not_allowed_fallback(|| async { StorageError::not_found_route() })
}

/// Uploads are streamed and limited by the bucket and `[storage] file_size_limit`, not by the
/// default limit on buffered (JSON) bodies.
fn unlimited() -> DefaultBodyLimit {
    DefaultBodyLimit::disable()
}

/// An extractor (`Path`, `Query`) whose rejection is answered in Storage's shape.
struct Shaped<E>(E);

impl<S, E> FromRequestParts<S> for Shaped<E>
where
    S: Send + Sync,
    E: FromRequestParts<S>,
    E::Rejection: std::fmt::Display,
{
    type Rejection = StorageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        E::from_request_parts(parts, state)
            .await
            .map(Shaped)
            .map_err(|rejection| StorageError::invalid_request(rejection.to_string()))
    }
}

fn caller(app: &App, headers: &HeaderMap) -> Result<Caller> {
    app.keys()
        .caller(headers)
        .map_err(|error| StorageError::access_denied(error.message))
}

/// Runs `job` as `caller` on a read connection (its claims feed the policies' `auth.uid()`).
async fn read<T, F>(app: &App, caller: &Caller, job: F) -> Result<T>
where
    T: Send + 'static,
    F: Fn(&Connection, &Access) -> Result<T> + Send + 'static,
{
    run(app, caller, false, job).await
}

/// Runs `job` as `caller` on the writer.
async fn write<T, F>(app: &App, caller: &Caller, job: F) -> Result<T>
where
    T: Send + 'static,
    F: Fn(&Connection, &Access) -> Result<T> + Send + 'static,
{
    run(app, caller, true, job).await
}

async fn run<T, F>(app: &App, caller: &Caller, on_writer: bool, job: F) -> Result<T>
where
    T: Send + 'static,
    F: Fn(&Connection, &Access) -> Result<T> + Send + 'static,
{
    let (schema, caller) = (app.schema().clone(), caller.clone());
    let claims = Some(caller.claims.clone());
    let job = move |connection: &Connection| {
        let access = Access {
            schema: &schema,
            caller: &caller,
        };
        job(connection, &access)
    };
    if on_writer {
        app.store()
            .write(claims, move |connection| job(connection))
            .await?
    } else {
        app.store().read(claims, job).await?
    }
}

fn files(app: &App) -> Files {
    Files::new(app.project().storage_dir())
}

/// The server-wide upload limit (`[storage] file_size_limit`, checked at start).
pub fn global_limit(app: &App) -> u64 {
    upload::parse_size(&app.project().config.storage.file_size_limit).unwrap_or(u64::MAX)
}

/// Storage's object key rule: S3-safe characters only.
fn valid_key(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 1024
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_/!.*'() &$=@;:+,?-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(StorageError::invalid_key(name))
    }
}

fn valid_bucket_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() < 101
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_!.*'() &$=@;:+,?-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(StorageError::invalid_bucket_name())
    }
}

fn message(text: &str) -> Response {
    Json(json!({ "message": text })).into_response()
}

/// Parses a JSON body into `T`, refusing anything else with Storage's 400.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|error| StorageError::invalid_request(format!("invalid JSON body: {error}")))
}

// ---- buckets ----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BucketParams {
    limit: Option<u64>,
    offset: Option<u64>,
    search: Option<String>,
    sort_column: Option<String>,
    sort_order: Option<String>,
}

async fn list_buckets(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Query(params)): Shaped<Query<BucketParams>>,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let query = BucketQuery {
        limit: params.limit,
        offset: params.offset,
        search: params.search,
        sort_column: params.sort_column,
        sort_order: params.sort_order,
    };
    let buckets = read(&app, &caller, move |connection, access| {
        objects::list_buckets(connection, access, &query)
    })
    .await?;
    Ok(Json(buckets).into_response())
}

async fn get_bucket(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path(id)): Shaped<Path<String>>,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let bucket = read(&app, &caller, move |connection, access| {
        objects::get_bucket(connection, access, &id)
    })
    .await?;
    Ok(Json(bucket).into_response())
}

/// `file_size_limit` as storage-js sends it: a number of bytes, a size string, or null.
fn size_limit(value: Option<&Value>) -> Result<Option<Option<u64>>> {
    match value {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(number)) => {
            number
                .as_u64()
                .map(|limit| Some(Some(limit)))
                .ok_or_else(|| {
                    StorageError::invalid_request("file_size_limit must be a positive number")
                })
        }
        Some(Value::String(text)) => upload::parse_size(text)
            .map(|limit| Some(Some(limit)))
            .ok_or_else(|| {
                StorageError::invalid_request(
                    "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B",
                )
            }),
        Some(_) => Err(StorageError::invalid_request(
            "file_size_limit must be a number or a string",
        )),
    }
}

fn bucket_fields(value: &Value) -> Result<BucketFields> {
    let public = match value.get("public") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(public)) => Some(*public),
        Some(_) => return Err(StorageError::invalid_request("public must be a boolean")),
    };
    let allowed_mime_types = match value.get("allowed_mime_types") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::Array(types)) => Some(Some(
            types
                .iter()
                .map(|kind| kind.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    StorageError::invalid_request("allowed_mime_types must be strings")
                })?,
        )),
        Some(_) => {
            return Err(StorageError::invalid_request(
                "allowed_mime_types must be an array",
            ));
        }
    };
    Ok(BucketFields {
        public,
        file_size_limit: size_limit(value.get("file_size_limit"))?,
        allowed_mime_types,
    })
}

async fn create_bucket(
    State(app): State<App>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let value: Value = body(&bytes)?;
    let name = value
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| StorageError::invalid_request("body must have required property 'name'"))?
        .to_owned();
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or(&name)
        .to_owned();
    valid_bucket_name(&id)?;
    valid_bucket_name(&name)?;
    let fields = bucket_fields(&value)?;
    let created = name.clone();
    write(&app, &caller, move |connection, access| {
        objects::create_bucket(connection, access, &id, &name, &fields)
    })
    .await?;
    Ok(Json(json!({ "name": created })).into_response())
}

async fn update_bucket(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path(id)): Shaped<Path<String>>,
    bytes: axum::body::Bytes,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let value: Value = body(&bytes)?;
    let fields = bucket_fields(&value)?;
    write(&app, &caller, move |connection, access| {
        objects::update_bucket(connection, access, &id, &fields)
    })
    .await?;
    Ok(message("Successfully updated"))
}

async fn delete_bucket(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path(id)): Shaped<Path<String>>,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    write(&app, &caller, move |connection, access| {
        objects::delete_bucket(connection, access, &id)
    })
    .await?;
    Ok(message("Successfully deleted"))
}

async fn empty_bucket(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path(id)): Shaped<Path<String>>,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let versions = write(&app, &caller, move |connection, access| {
        objects::empty_bucket(connection, access, &id)
    })
    .await?;
    files(&app).remove(versions).await;
    Ok(message("Successfully emptied"))
}

// ---- uploads ----------------------------------------------------------------------------------

/// Whether `caller` may write `object` into an existing bucket (for signed uploads the
/// service role: only the duplicate rule applies); the bucket's limits when it may.
async fn check_upload(
    app: &App,
    caller: &Caller,
    object: &NewObject,
    upsert: bool,
) -> Result<objects::Bucket> {
    valid_key(&object.name)?;
    let object = object.clone();
    read(app, caller, move |connection, access| {
        let bucket = objects::find_bucket(connection, &object.bucket_id)?;
        objects::check_write(connection, access, &object, upsert)?;
        Ok(bucket)
    })
    .await
}

/// Checks, streams, publishes and commits one upload: the policies are asked first (a refused
/// body is drained, not stored), the file is made durable before its row is committed, and the
/// replaced version's file is deleted after.
async fn store_upload(
    app: &App,
    caller: &Caller,
    owner: Option<String>,
    bucket: String,
    name: String,
    upsert: bool,
    request: Request,
) -> Result<(String, String)> {
    let mut object = NewObject {
        bucket_id: bucket.clone(),
        name: name.clone(),
        owner,
        version: String::new(),
        metadata: Value::Null,
        user_metadata: None,
    };
    let bucket_row = match check_upload(app, caller, &object, upsert).await {
        Ok(bucket) => bucket,
        Err(error) => {
            upload::drain(&mut request.into_body().into_data_stream()).await;
            return Err(error);
        }
    };
    let limits = Limits {
        max_size: bucket_row
            .file_size_limit
            .map_or(global_limit(app), |limit| limit.min(global_limit(app))),
        allowed_mime_types: bucket_row.allowed_mime_types,
    };
    let files = files(app);
    let received = upload::receive(&files, request, &limits).await?;
    let version = uuid::Uuid::new_v4().to_string();
    object.version = version.clone();
    object.metadata = received.metadata;
    object.user_metadata = received.user_metadata;
    files.publish(received.staged, &version).await?;
    let id = commit(app, &files, object).await?;
    Ok((id, format!("{bucket}/{name}")))
}

/// Commits the row of an object whose file (`object.version`) is in place; then deletes the
/// file it replaced, or on failure its own. Returns the object's id.
async fn commit(app: &App, files: &Files, object: NewObject) -> Result<String> {
    let version = object.version.clone();
    let committed = write(app, &Caller::service(), move |connection, _| {
        objects::commit_write(connection, &object)
    })
    .await;
    match committed {
        Ok((id, replaced)) => {
            files.remove(replaced).await;
            Ok(id)
        }
        Err(error) => {
            files.remove([version]).await;
            Err(error)
        }
    }
}

async fn upload(
    State(app): State<App>,
    method: Method,
    Shaped(Path((bucket, name))): Shaped<Path<(String, String)>>,
    request: Request,
) -> Result<Response> {
    let caller = caller(&app, request.headers())?;
    let upsert =
        method == Method::PUT || upload::header(request.headers(), "x-upsert") == Some("true");
    let owner = caller.user_id().map(str::to_owned);
    let (id, key) = store_upload(&app, &caller, owner, bucket, name, upsert, request).await?;
    Ok(Json(json!({ "Id": id, "Key": key })).into_response())
}

#[derive(Deserialize)]
struct TokenParams {
    token: Option<String>,
    download: Option<String>,
}

async fn sign_upload_url(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path((bucket, name))): Shaped<Path<(String, String)>>,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let upsert = upload::header(&headers, "x-upsert") == Some("true");
    let owner = caller.user_id().map(str::to_owned);
    let object = NewObject {
        bucket_id: bucket.clone(),
        name: name.clone(),
        owner: owner.clone(),
        version: String::new(),
        metadata: Value::Null,
        user_metadata: None,
    };
    check_upload(&app, &caller, &object, upsert).await?;
    let url = format!("{bucket}/{name}");
    let token = sign::sign(
        app.keys(),
        json!({ "owner": owner, "url": url, "upsert": upsert, "scope": sign::UPLOAD }),
        2 * 60 * 60,
    );
    Ok(Json(json!({
        "url": format!("/object/upload/sign/{url}?token={token}"),
        "token": token,
    }))
    .into_response())
}

async fn signed_upload(
    State(app): State<App>,
    Shaped(Path((bucket, name))): Shaped<Path<(String, String)>>,
    Shaped(Query(params)): Shaped<Query<TokenParams>>,
    request: Request,
) -> Result<Response> {
    let token = params
        .token
        .ok_or_else(|| StorageError::invalid_request("Missing Required Parameter token"))?;
    let claims = sign::verify(
        app.keys(),
        &token,
        &format!("{bucket}/{name}"),
        sign::UPLOAD,
    )?;
    let owner = claims
        .get("owner")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let upsert = claims
        .get("upsert")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (id, key) = store_upload(
        &app,
        &Caller::service(),
        owner,
        bucket,
        name,
        upsert,
        request,
    )
    .await?;
    Ok(Json(json!({ "Id": id, "Key": key })).into_response())
}

// ---- downloads --------------------------------------------------------------------------------

/// How much of a file a download reads at a time.
const CHUNK: usize = 64 * 1024;

/// What JavaScript's `encodeURIComponent` escapes.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The file of `object` as a streamed response with Storage's headers: all of it, the
/// `Range` asked for (206), or nothing when the client's copy is current (`If-None-Match`, 304).
async fn send(
    app: &App,
    request: &HeaderMap,
    object: &Object,
    download: Option<&str>,
) -> Result<Response> {
    let path = files(app).path(&object.version);
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        // A row without its file (inserted by SQL, say) is an object that is not there.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(StorageError::object_not_found());
        }
        Err(error) => return Err(error.into()),
    };
    let size = file.metadata().await?.len();
    let etag = object.metadata_text("eTag");
    let mut response = if etag.is_some() && upload::header(request, "if-none-match") == etag {
        StatusCode::NOT_MODIFIED.into_response()
    } else if let Some(range) = upload::header(request, "range") {
        let (first, last) = range::parse(range, size)?;
        file.seek(std::io::SeekFrom::Start(first)).await?;
        let part = tokio_util::io::ReaderStream::with_capacity(file.take(last - first + 1), CHUNK);
        let mut response = Response::new(Body::from_stream(part));
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let headers = response.headers_mut();
        let content_range = format!("bytes {first}-{last}/{size}");
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&content_range).expect("ascii"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(last - first + 1));
        response
    } else {
        let mut response = Response::new(Body::from_stream(
            tokio_util::io::ReaderStream::with_capacity(file, CHUNK),
        ));
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        response
    };
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(
        header::CONTENT_TYPE,
        object
            .metadata_text("mimetype")
            .unwrap_or("application/octet-stream"),
    );
    set(
        header::CACHE_CONTROL,
        object.metadata_text("cacheControl").unwrap_or("no-cache"),
    );
    set(header::ACCEPT_RANGES, "bytes");
    if let Some(etag) = etag {
        set(header::ETAG, etag);
    }
    if let Some(modified) = object
        .updated_at
        .as_deref()
        .and_then(|text| text.parse::<jiff::Timestamp>().ok())
    {
        set(
            header::LAST_MODIFIED,
            &modified.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        );
    }
    match download {
        None => {}
        Some("") => set(header::CONTENT_DISPOSITION, "attachment;"),
        Some(file_name) => {
            let encoded = percent_encoding::utf8_percent_encode(file_name, URI_COMPONENT);
            set(
                header::CONTENT_DISPOSITION,
                &format!("attachment; filename={encoded}; filename*=UTF-8''{encoded}"),
            );
        }
    }
    Ok(response)
}

/// An object `caller` may see; with `public_only`, only in a public bucket.
async fn read_object(
    app: &App,
    caller: &Caller,
    bucket: String,
    name: String,
    public_only: bool,
) -> Result<Object> {
    read(app, caller, move |connection, access| {
        if public_only && !objects::find_bucket(connection, &bucket)?.public {
            return Err(StorageError::bucket_not_found());
        }
        objects::find_object(connection, access, &bucket, &name)
    })
    .await
}

async fn download(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path((bucket, name))): Shaped<Path<(String, String)>>,
    Shaped(Query(params)): Shaped<Query<TokenParams>>,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let object = read_object(&app, &caller, bucket, name, false).await?;
    send(&app, &headers, &object, params.download.as_deref()).await
}

async fn public_download(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path((bucket, name))): Shaped<Path<(String, String)>>,
    Shaped(Query(params)): Shaped<Query<TokenParams>>,
) -> Result<Response> {
    let object = read_object(&app, &Caller::service(), bucket, name, true).await?;
    send(&app, &headers, &object, params.download.as_deref()).await
}

async fn signed_download(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path((bucket, name))): Shaped<Path<(String, String)>>,
    Shaped(Query(params)): Shaped<Query<TokenParams>>,
) -> Result<Response> {
    let token = params
        .token
        .ok_or_else(|| StorageError::invalid_request("Missing Required Parameter token"))?;
    sign::verify(
        app.keys(),
        &token,
        &format!("{bucket}/{name}"),
        sign::DOWNLOAD,
    )?;
    let object = read_object(&app, &Caller::service(), bucket, name, false).await?;
    send(&app, &headers, &object, params.download.as_deref()).await
}

async fn info(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path((bucket, name))): Shaped<Path<(String, String)>>,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let object = read_object(&app, &caller, bucket, name, false).await?;
    Ok(Json(object.info_json()).into_response())
}

async fn public_info(
    State(app): State<App>,
    Shaped(Path((bucket, name))): Shaped<Path<(String, String)>>,
) -> Result<Response> {
    let object = read_object(&app, &Caller::service(), bucket, name, true).await?;
    Ok(Json(object.info_json()).into_response())
}

// ---- signing ----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignRequest {
    expires_in: Option<i64>,
    paths: Option<Vec<String>>,
}

fn expiry(request: &SignRequest) -> Result<u64> {
    match request.expires_in {
        Some(seconds) if seconds >= 1 => Ok(seconds as u64),
        _ => Err(StorageError::invalid_request(
            "body/expiresIn must be an integer >= 1",
        )),
    }
}

async fn sign_url(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path((bucket, name))): Shaped<Path<(String, String)>>,
    bytes: axum::body::Bytes,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let request: SignRequest = body(&bytes)?;
    let expires_in = expiry(&request)?;
    read_object(&app, &caller, bucket.clone(), name.clone(), false).await?;
    let url = format!("{bucket}/{name}");
    let token = sign::sign(
        app.keys(),
        json!({ "url": url, "scope": sign::DOWNLOAD }),
        expires_in,
    );
    Ok(Json(json!({ "signedURL": format!("/object/sign/{url}?token={token}") })).into_response())
}

async fn sign_urls(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path(bucket)): Shaped<Path<String>>,
    bytes: axum::body::Bytes,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let request: SignRequest = body(&bytes)?;
    let expires_in = expiry(&request)?;
    let paths = request
        .paths
        .ok_or_else(|| StorageError::invalid_request("body must have required property 'paths'"))?;
    let (lookup_bucket, lookup) = (bucket.clone(), paths.clone());
    let visible = read(&app, &caller, move |connection, access| {
        lookup
            .iter()
            .map(
                |name| match objects::find_object(connection, access, &lookup_bucket, name) {
                    Ok(_) => Ok(true),
                    Err(error) if error.status == 404 => Ok(false),
                    Err(error) => Err(error),
                },
            )
            .collect::<Result<Vec<bool>>>()
    })
    .await?;
    let results: Vec<Value> = paths
        .iter()
        .zip(visible)
        .map(|(path, visible)| {
            if visible {
                let url = format!("{bucket}/{path}");
                let token = sign::sign(app.keys(), json!({ "url": url, "scope": sign::DOWNLOAD }), expires_in);
                json!({ "error": null, "path": path, "signedURL": format!("/object/sign/{url}?token={token}") })
            } else {
                json!({
                    "error": "Either the object does not exist or you do not have access to it",
                    "path": path,
                    "signedURL": null,
                })
            }
        })
        .collect();
    Ok(Json(Value::Array(results)).into_response())
}

// ---- listing, moving, copying, removing -------------------------------------------------------

async fn list_objects(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path(bucket)): Shaped<Path<String>>,
    bytes: axum::body::Bytes,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let request: ListRequest = body(&bytes)?;
    let listing = Listing::new(request).map_err(StorageError::invalid_request)?;
    let entries = read(&app, &caller, move |connection, access| {
        let (start, order) = (listing.start(), listing.order_by());
        let rows = objects::objects_under(connection, access, &bucket, &start, &order)?;
        Ok(listing.entries(rows))
    })
    .await?;
    Ok(Json(Value::Array(entries)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Transfer {
    bucket_id: String,
    source_key: String,
    destination_key: String,
    destination_bucket: Option<String>,
}

async fn move_object(
    State(app): State<App>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let transfer: Transfer = body(&bytes)?;
    valid_key(&transfer.destination_key)?;
    let destination = transfer
        .destination_bucket
        .clone()
        .unwrap_or_else(|| transfer.bucket_id.clone());
    let key = transfer.destination_key.clone();
    let id = write(&app, &caller, move |connection, access| {
        let from = (transfer.bucket_id.as_str(), transfer.source_key.as_str());
        let to = (destination.as_str(), transfer.destination_key.as_str());
        objects::move_object(connection, access, from, to)
    })
    .await?;
    Ok(Json(json!({ "message": "Successfully moved", "Id": id, "Key": key })).into_response())
}

async fn copy_object(
    State(app): State<App>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let transfer: Transfer = body(&bytes)?;
    let upsert = upload::header(&headers, "x-upsert") == Some("true");
    let destination = transfer
        .destination_bucket
        .clone()
        .unwrap_or_else(|| transfer.bucket_id.clone());
    let source = read_object(
        &app,
        &caller,
        transfer.bucket_id.clone(),
        transfer.source_key.clone(),
        false,
    )
    .await?;
    let version = uuid::Uuid::new_v4().to_string();
    let object = NewObject {
        bucket_id: destination.clone(),
        name: transfer.destination_key.clone(),
        owner: caller.user_id().map(str::to_owned),
        version: version.clone(),
        metadata: source.metadata.clone(),
        user_metadata: Some(source.user_metadata.clone()).filter(|value| !value.is_null()),
    };
    check_upload(&app, &caller, &object, upsert).await?;
    let files = files(&app);
    files.copy(&source.version, &version).await?;
    let id = commit(&app, &files, object).await?;
    let key = format!("{destination}/{}", transfer.destination_key);
    Ok(Json(json!({ "Id": id, "Key": key })).into_response())
}

#[derive(Deserialize)]
struct Prefixes {
    prefixes: Vec<String>,
}

async fn remove_objects(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path(bucket)): Shaped<Path<String>>,
    bytes: axum::body::Bytes,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let Prefixes { prefixes } = body(&bytes)?;
    if prefixes.is_empty() || prefixes.len() > 1000 {
        return Err(StorageError::invalid_request(
            "body/prefixes must have between 1 and 1000 items",
        ));
    }
    let deleted = write(&app, &caller, move |connection, access| {
        objects::delete_objects(connection, access, &bucket, &prefixes)
    })
    .await?;
    let versions: Vec<String> = deleted
        .iter()
        .map(|object| object.version.clone())
        .collect();
    files(&app).remove(versions).await;
    Ok(Json(Value::Array(deleted.iter().map(Object::to_json).collect())).into_response())
}

async fn remove_object(
    State(app): State<App>,
    headers: HeaderMap,
    Shaped(Path((bucket, name))): Shaped<Path<(String, String)>>,
) -> Result<Response> {
    let caller = caller(&app, &headers)?;
    let deleted = write(&app, &caller, move |connection, access| {
        let service = Access {
            schema: access.schema,
            caller: &Caller::service(),
        };
        objects::find_object(connection, &service, &bucket, &name)?;
        objects::delete_objects(connection, access, &bucket, std::slice::from_ref(&name))
    })
    .await?;
    let Some(object) = deleted.first() else {
        return Err(StorageError::access_denied("Access denied"));
    };
    files(&app).remove([object.version.clone()]).await;
    Ok(message("Successfully deleted"))
}
