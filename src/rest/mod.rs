//! REST: `/rest/v1`, the PostgREST dialect (protocol.md §2). `handle` reads top to bottom:
//! parse the request, plan it against the schema, turn the plan into SQL (policies from
//! `authorize`), execute it on the store, render the response.

pub mod authorize;
pub mod error;
pub mod execute;
pub mod plan;
pub mod query;
pub mod request;
pub mod response;
pub mod values;

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::{Caller, Role};
use crate::schema::SchemaCache;
use crate::store::Store;
use error::RestError;
use execute::WriteOptions;
use plan::Plan;
use request::{MediaType, ReturnPreference};

/// Serves one `/rest/v1/{path}` request for a verified caller; reads return at most
/// `max_rows` rows.
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    store: &Store,
    schema: Arc<SchemaCache>,
    caller: Caller,
    max_rows: u64,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let request = request::parse(method, path, raw_query, headers, &body)?;
        let (query, table) = {
            let plan = plan::build(&request, &schema, max_rows)?;
            let table = match &plan {
                Plan::Insert(insert) => Some(insert.table.name.clone()),
                Plan::Update(update) => Some(update.table.name.clone()),
                Plan::Delete(delete) => Some(delete.table.name.clone()),
                Plan::Read(_) | Plan::Call(_) => None,
            };
            (query::to_sql(&plan, &caller, &query::Sqlite)?, table)
        };
        let options = WriteOptions {
            singular: request.media == MediaType::SingularObject,
            rollback: request.prefer.rollback,
            max_affected: request
                .prefer
                .max_affected
                .filter(|_| request.prefer.strict),
            representation: request.prefer.return_ == ReturnPreference::Representation,
        };
        let outcome = execute::run(store, schema.clone(), &caller, table, query, options).await?;
        response::render(&request, outcome)
    }
    .await;
    result.unwrap_or_else(|mut error: RestError| {
        if error.code == "42501" && caller.role == Role::Anon {
            error.status = StatusCode::UNAUTHORIZED;
        }
        error.into_response()
    })
}
