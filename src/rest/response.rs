//! Response: rows (a JSON array built in SQL) into PostgREST's HTTP answer — status,
//! `Content-Range`, singular objects (PGRST116), CSV, empty bodies for minimal returns.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::RestError;
use super::request::{ApiRequest, MediaType};

/// `first-last/total` as PostgREST writes it.
pub fn content_range(offset: u64, returned: u64, total: Option<u64>) -> String {
    let range = if returned == 0 {
        "*".to_owned()
    } else {
        format!("{offset}-{}", offset + returned - 1)
    };
    format!(
        "{range}/{}",
        total.map_or("*".to_owned(), |total| total.to_string())
    )
}

/// A response with `body` (a JSON array) shaped by the request's media type.
pub fn render(
    request: &ApiRequest,
    status: StatusCode,
    body: Option<String>,
    returned: u64,
    range: String,
    head: bool,
) -> Result<Response, RestError> {
    let (content_type, body) = match (request.media, body) {
        (MediaType::SingularObject, Some(body)) => {
            if returned != 1 {
                return Err(singular_mismatch(returned));
            }
            let rows: Vec<serde_json::Value> =
                serde_json::from_str(&body).map_err(RestError::internal)?;
            (
                "application/vnd.pgrst.object+json; charset=utf-8",
                rows[0].to_string(),
            )
        }
        (MediaType::Csv, Some(body)) => ("text/csv; charset=utf-8", to_csv(&body)?),
        (_, Some(body)) => ("application/json; charset=utf-8", body),
        (_, None) => ("application/json; charset=utf-8", String::new()),
    };
    let body = if head { String::new() } else { body };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&range) {
        headers.insert(header::CONTENT_RANGE, value);
    }
    Ok(response)
}

pub fn singular_mismatch(rows: u64) -> RestError {
    RestError::new(
        StatusCode::NOT_ACCEPTABLE,
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
    )
    .details(format!("The result contains {rows} rows"))
}

fn to_csv(body: &str) -> Result<String, RestError> {
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(body).map_err(RestError::internal)?;
    let Some(first) = rows.first() else {
        return Ok(String::new());
    };
    let columns: Vec<&String> = first.keys().collect();
    let field = |value: Option<&serde_json::Value>| -> String {
        let text = match value {
            None | Some(serde_json::Value::Null) => return String::new(),
            Some(serde_json::Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        };
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    };
    let mut out = columns
        .iter()
        .map(|c| field(Some(&serde_json::Value::String((*c).clone()))))
        .collect::<Vec<_>>()
        .join(",");
    for row in &rows {
        out.push('\n');
        out.push_str(
            &columns
                .iter()
                .map(|column| field(row.get(*column)))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    Ok(out)
}
