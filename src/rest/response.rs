//! Response: an `Outcome` into PostgREST's HTTP answer (protocol.md §2.5) — status,
//! `Content-Range`, `Location`, `Preference-Applied`, and the body as a JSON array, a singular
//! object, CSV, or nothing for HEAD and minimal returns. Rejects a singular request that did
//! not get exactly one row (406 PGRST116) and an offset past the end (416 PGRST103).

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::RestError;
use super::execute::Outcome;
use super::request::{
    Action, ApiRequest, CountPreference, MediaType, Resolution, ReturnPreference, Target,
};

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

pub fn singular_mismatch(rows: u64) -> RestError {
    RestError::pgrst(
        "PGRST116",
        "Cannot coerce the result to a single JSON object",
    )
    .details(format!("The result contains {rows} rows"))
}

/// The HTTP answer to `request` whose query produced `outcome`.
pub fn render(request: &ApiRequest, outcome: Outcome) -> Result<Response, RestError> {
    let head = matches!(
        request.action,
        Action::Read { head: true } | Action::Call { head: true, .. }
    );
    let counted = request.prefer.count.is_some();
    let mut location = None;
    let (status, range, body) =
        match outcome {
            Outcome::Rows {
                body,
                returned,
                total,
            } => {
                let offset = request
                    .ranges
                    .iter()
                    .find(|(path, _)| path.is_empty())
                    .map_or(0, |(_, range)| range.offset);
                if let Some(total) = total.filter(|total| offset > *total) {
                    return Err(RestError::pgrst("PGRST103", "Requested range not satisfiable")
                    .details(format!(
                        "An offset of {offset} was requested, but there are only {total} rows."
                    )));
                }
                let total = total.filter(|_| counted);
                let status = match total {
                    Some(total) if returned < total => StatusCode::PARTIAL_CONTENT,
                    _ => StatusCode::OK,
                };
                (
                    status,
                    Some(content_range(offset, returned, total)),
                    Some(shape_body(request, body, returned)?),
                )
            }
            Outcome::Value(None) => (StatusCode::NO_CONTENT, None, None),
            // A scalar or single-row result counts as one row, as PostgREST counts it.
            Outcome::Value(Some(value)) => (
                StatusCode::OK,
                Some(content_range(0, 1, counted.then_some(1))),
                Some(value),
            ),
            Outcome::Written {
                body,
                affected,
                location: first,
                only_updated,
            } => {
                let total = counted.then_some(affected);
                let body = body
                    .map(|body| shape_body(request, body, affected))
                    .transpose()?;
                match request.action {
                    Action::Insert => {
                        if request.prefer.return_ == ReturnPreference::HeadersOnly
                            && let (Target::Table(table), Some(first)) = (&request.target, first)
                        {
                            location = Some(format!("/{table}?{first}"));
                        }
                        let merged = request.prefer.resolution == Some(Resolution::MergeDuplicates);
                        let status = if merged && only_updated {
                            StatusCode::OK
                        } else {
                            StatusCode::CREATED
                        };
                        (status, Some(content_range(0, 0, total)), body)
                    }
                    Action::Update => (
                        if body.is_some() {
                            StatusCode::OK
                        } else {
                            StatusCode::NO_CONTENT
                        },
                        Some(content_range(0, affected, total)),
                        body,
                    ),
                    _ => (
                        if body.is_some() {
                            StatusCode::OK
                        } else {
                            StatusCode::NO_CONTENT
                        },
                        Some(content_range(0, 0, total)),
                        body,
                    ),
                }
            }
        };
    let content_type = match request.media {
        MediaType::SingularObject => "application/vnd.pgrst.object+json; charset=utf-8",
        MediaType::Csv => "text/csv; charset=utf-8",
        MediaType::GeoJson => "application/geo+json; charset=utf-8",
        MediaType::Json => "application/json; charset=utf-8",
    };
    let body = if head { None } else { body };
    let mut response = (status, body.unwrap_or_default()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let mut set = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    if let Some(range) = range {
        set(header::CONTENT_RANGE, &range);
    }
    if let Some(location) = location {
        set(header::LOCATION, &location);
    }
    if let Some(applied) = preference_applied(request) {
        set(HeaderName::from_static("preference-applied"), &applied);
    }
    Ok(response)
}

/// The rows (a JSON array) as the requested media type wants them.
fn shape_body(request: &ApiRequest, body: String, returned: u64) -> Result<String, RestError> {
    let body = if request.strip_nulls {
        let mut rows: Value = serde_json::from_str(&body).map_err(RestError::internal)?;
        strip_nulls(&mut rows);
        rows.to_string()
    } else {
        body
    };
    match request.media {
        MediaType::Json => Ok(body),
        MediaType::SingularObject => {
            if returned != 1 {
                return Err(singular_mismatch(returned));
            }
            let mut rows: Vec<Value> = serde_json::from_str(&body).map_err(RestError::internal)?;
            Ok(rows.swap_remove(0).to_string())
        }
        MediaType::Csv => to_csv(&body),
        // As PostgREST's `json_build_object('type', 'FeatureCollection', 'features', …)` prints it.
        MediaType::GeoJson => Ok(format!(
            r#"{{"type" : "FeatureCollection", "features" : {body}}}"#
        )),
    }
}

/// The preferences honoured, as PostgREST lists them.
fn preference_applied(request: &ApiRequest) -> Option<String> {
    let prefer = &request.prefer;
    let mut applied = Vec::new();
    if let Some(resolution) = prefer.resolution {
        applied.push(match resolution {
            Resolution::MergeDuplicates => "resolution=merge-duplicates",
            Resolution::IgnoreDuplicates => "resolution=ignore-duplicates",
        });
    }
    if prefer.missing_default {
        applied.push("missing=default");
    }
    if !matches!(request.action, Action::Read { .. }) {
        applied.push(match prefer.return_ {
            ReturnPreference::Minimal => "return=minimal",
            ReturnPreference::Representation => "return=representation",
            ReturnPreference::HeadersOnly => "return=headers-only",
        });
    }
    if let Some(count) = prefer.count {
        applied.push(match count {
            CountPreference::Exact => "count=exact",
            CountPreference::Planned => "count=planned",
            CountPreference::Estimated => "count=estimated",
        });
    }
    if prefer.rollback {
        applied.push("tx=rollback");
    }
    if prefer.strict {
        applied.push("handling=strict");
    }
    let max_affected = prefer
        .max_affected
        .filter(|_| prefer.strict)
        .map(|max| format!("max-affected={max}"));
    let mut applied: Vec<String> = applied.into_iter().map(str::to_owned).collect();
    applied.extend(max_affected);
    (!applied.is_empty()).then(|| applied.join(", "))
}

/// PostgREST's CSV: a header line of the first row's keys, then each row as Postgres prints a
/// record without its parentheses (`row::text`): a field is quoted when it is empty or holds a
/// quote, backslash, parenthesis, comma or whitespace, NULL is nothing, a boolean is `t`/`f`
/// and a JSON object is printed as jsonb prints it.
fn to_csv(body: &str) -> Result<String, RestError> {
    let rows: Vec<serde_json::Map<String, Value>> =
        serde_json::from_str(body).map_err(RestError::internal)?;
    let Some(first) = rows.first() else {
        return Ok(String::new());
    };
    let columns: Vec<&String> = first.keys().collect();
    let field = |value: Option<&Value>| -> String {
        let text = match value {
            None | Some(Value::Null) => return String::new(),
            Some(Value::String(text)) => text.clone(),
            Some(Value::Bool(true)) => "t".to_owned(),
            Some(Value::Bool(false)) => "f".to_owned(),
            Some(object @ Value::Object(_)) => jsonb_text(object),
            Some(other) => other.to_string(),
        };
        let quoted = text.is_empty()
            || text
                .chars()
                .any(|c| matches!(c, '"' | '\\' | '(' | ')' | ',') || c.is_ascii_whitespace());
        if quoted {
            format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\"\""))
        } else {
            text
        }
    };
    let header: Vec<&str> = columns.iter().map(|column| column.as_str()).collect();
    let mut lines = vec![header.join(",")];
    for row in &rows {
        lines.push(
            columns
                .iter()
                .map(|column| field(row.get(*column)))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    Ok(lines.join("\n"))
}

/// `json_strip_nulls`: every object field that is null, at any depth, left out.
fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, field| !field.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A JSON value as jsonb prints it: `{"a": 1, "b": [1, 2]}`.
fn jsonb_text(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let pairs: Vec<String> = map
                .iter()
                .map(|(key, value)| {
                    format!("{}: {}", Value::String(key.clone()), jsonb_text(value))
                })
                .collect();
            format!("{{{}}}", pairs.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(jsonb_text).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}
