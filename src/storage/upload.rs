//! Upload: an upload request's body — multipart (`cacheControl`, `metadata`, `contentType`
//! fields, then the file) or raw (`content-type`, `cache-control`, `x-metadata` headers) —
//! checked against the bucket's MIME types and streamed into a staged file under the size
//! limit, never held in memory whole.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::HeaderMap;
use base64::Engine;
use serde_json::{Value, json};

use super::error::StorageError;
use super::files::{Files, Staged};

/// A received upload: its file staged, its metadata as the object row keeps it.
#[derive(Debug)]
pub struct Received {
    pub staged: Staged,
    pub metadata: Value,
    pub user_metadata: Option<Value>,
}

/// What a bucket and the server allow.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_size: u64,
    pub allowed_mime_types: Vec<String>,
}

/// Receives the body of `request` into a staged file.
pub async fn receive(
    files: &Files,
    request: Request,
    limits: &Limits,
) -> Result<Received, StorageError> {
    let headers = request.headers().clone();
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if header("content-type").is_some_and(|kind| kind.starts_with("multipart/form-data")) {
        return receive_multipart(files, request, limits).await;
    }
    let mime = header("content-type")
        .unwrap_or("application/octet-stream")
        .to_owned();
    let cache_control = header("cache-control").unwrap_or("no-cache").to_owned();
    let user_metadata = header("x-metadata").and_then(decode_metadata_header);
    let mut body = request.into_body().into_data_stream();
    let staged = match check_mime(&mime, &limits.allowed_mime_types) {
        Ok(()) => files.stage(&mut body, limits.max_size).await,
        Err(error) => Err(error),
    };
    let staged = match staged {
        Ok(staged) => staged,
        Err(error) => {
            drain(&mut body).await;
            return Err(error);
        }
    };
    Ok(Received {
        metadata: metadata(&staged, &mime, &cache_control),
        staged,
        user_metadata,
    })
}

async fn receive_multipart(
    files: &Files,
    request: Request,
    limits: &Limits,
) -> Result<Received, StorageError> {
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|rejection| StorageError::invalid_request(rejection.body_text()))?;
    let mut cache_time: Option<String> = None;
    let mut user_metadata = None;
    let mut content_type: Option<String> = None;
    while let Some(mut field) = multipart.next_field().await? {
        let name = field.name().unwrap_or("").to_owned();
        if field.file_name().is_none() && !name.is_empty() {
            let value = field.text().await?;
            match name.as_str() {
                "cacheControl" => cache_time = Some(value),
                "metadata" | "userMetadata" => user_metadata = serde_json::from_str(&value).ok(),
                "contentType" => content_type = Some(value),
                _ => {}
            }
            continue;
        }
        let mime = content_type
            .or_else(|| field.content_type().map(str::to_owned))
            .unwrap_or_else(|| "text/plain".into());
        let cache_control =
            cache_time.map_or_else(|| "no-cache".into(), |time| format!("max-age={time}"));
        let staged = match check_mime(&mime, &limits.allowed_mime_types) {
            Ok(()) => files.stage(&mut field, limits.max_size).await,
            Err(error) => Err(error),
        };
        let staged = match staged {
            Ok(staged) => staged,
            Err(error) => {
                drain(&mut field).await;
                while let Ok(Some(mut rest)) = multipart.next_field().await {
                    drain(&mut rest).await;
                }
                return Err(error);
            }
        };
        return Ok(Received {
            metadata: metadata(&staged, &mime, &cache_control),
            staged,
            user_metadata,
        });
    }
    Err(StorageError::invalid_request("No content provided"))
}

/// The most of a refused body read (and thrown away) so that the client, still sending it,
/// receives the refusal instead of a reset connection.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// Reads and discards what is left of a body, up to `DRAIN_LIMIT` bytes.
pub async fn drain<S, E>(body: &mut S)
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin,
{
    use futures_util::StreamExt;
    let mut read = 0u64;
    while let Some(Ok(chunk)) = body.next().await {
        read += chunk.len() as u64;
        if read > DRAIN_LIMIT {
            break;
        }
    }
}

/// `x-metadata`: base64 of a JSON object.
fn decode_metadata_header(value: &str) -> Option<Value> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Storage's rule: `type/subtype` must equal an allowed type or match an allowed `type/*`.
pub fn check_mime(mime: &str, allowed: &[String]) -> Result<(), StorageError> {
    if allowed.is_empty() {
        return Ok(());
    }
    let mut parts = mime.split('/');
    let (Some(kind), Some(subtype)) = (parts.next(), parts.next()) else {
        return Err(StorageError::invalid_mime_type(mime));
    };
    let matches = allowed.iter().any(|allowed| {
        let mut parts = allowed.split('/');
        let allowed_kind = parts.next().unwrap_or("");
        let allowed_subtype = parts.next();
        allowed_kind == kind && (allowed_subtype == Some("*") || allowed_subtype == Some(subtype))
    });
    if matches {
        Ok(())
    } else {
        Err(StorageError::invalid_mime_type(mime))
    }
}

fn metadata(staged: &Staged, mime: &str, cache_control: &str) -> Value {
    json!({
        "eTag": staged.etag,
        "size": staged.size,
        "mimetype": mime,
        "cacheControl": cache_control,
        "lastModified": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "contentLength": staged.size,
        "httpStatusCode": 200,
    })
}

/// A size as Storage accepts it: bytes as a number, or `"20MB"`, `"1.5GB"`, `"30KB"`, `"3B"`
/// (powers of 1000), or the Supabase CLI's `"50MiB"`, `"1GiB"`, `"64KiB"` (powers of 1024).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((number * factor) as u64)
}

/// The header value `HeaderMap` holds for `name`, as text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_match_exactly_or_by_wildcard() {
        let allowed = vec!["image/*".to_owned(), "text/plain".to_owned()];
        assert!(check_mime("image/png", &allowed).is_ok());
        assert!(check_mime("text/plain", &allowed).is_ok());
        assert_eq!(check_mime("text/html", &allowed).unwrap_err().status, 415);
        assert!(check_mime("nonsense", &allowed).is_err());
        assert!(check_mime("anything/goes", &[]).is_ok());
    }

    #[test]
    fn sizes_parse_in_storage_and_cli_units() {
        assert_eq!(parse_size("3B"), Some(3));
        assert_eq!(parse_size("20MB"), Some(20_000_000));
        assert_eq!(parse_size("1.5gb"), Some(1_500_000_000));
        assert_eq!(parse_size("50MiB"), Some(50 * 1024 * 1024));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("ten"), None);
        assert_eq!(parse_size("5 parsecs"), None);
    }
}
