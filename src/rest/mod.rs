//! REST: `/rest/v1`, the PostgREST dialect. `handle` reads top to bottom: parse the request,
//! plan it into SQL against the schema (policies from `authorize`), execute on the store,
//! render the response.

pub mod authorize;
pub mod error;
pub mod plan;
pub mod query;
pub mod request;
pub mod response;
pub mod values;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::{Connection, ToSql};

use crate::auth::{Caller, Role};
use crate::schema::{PolicyCommand, SchemaCache};
use crate::store::Store;
use error::RestError;
use query::{Planner, Sql};
use request::{Action, ApiRequest, ReturnPreference, Target};

/// Serves one `/rest/v1/{path}` request for a verified caller.
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    store: &Store,
    schema: std::sync::Arc<SchemaCache>,
    caller: Caller,
    max_rows: u64,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let anon = caller.role == Role::Anon;
    let result = async {
        let request = request::parse(method, path, raw_query, headers, &body)?;
        match (&request.target, request.action) {
            (Target::Table(_), Action::Read { head }) => {
                read(store, schema, caller, request, max_rows, head).await
            }
            (Target::Table(_), _) => write(store, schema, caller, request).await,
            (Target::Rpc(name), _) => Err(RestError::new(
                StatusCode::NOT_FOUND,
                "PGRST202",
                format!("Could not find the function public.{name} in the schema cache"),
            )),
        }
    }
    .await;
    match result {
        Ok(response) => response,
        Err(mut error) => {
            if error.code == "42501" && anon {
                error.status = StatusCode::UNAUTHORIZED;
            }
            error.into_response()
        }
    }
}

async fn read(
    store: &Store,
    schema: std::sync::Arc<SchemaCache>,
    caller: Caller,
    request: ApiRequest,
    max_rows: u64,
    head: bool,
) -> Result<Response, RestError> {
    let Target::Table(name) = &request.target else {
        unreachable!("reads are on tables")
    };
    let mut planner = Planner::new(&schema, &caller, &request);
    let table = planner.table(name)?;
    let (rows_sql, count_sql) = planner.read(table, max_rows)?;
    let Sql { params, .. } = planner.finish(String::new());
    let claims = Some(caller.claims.clone());
    let (body, returned, total) = store
        .read(
            claims,
            move |connection| -> Result<(String, u64, Option<u64>), RestError> {
                let transaction = connection.unchecked_transaction().map_err(database_error)?;
                let (body, returned): (String, u64) = query_row(&transaction, &rows_sql, &params)?;
                let total = match count_sql {
                    Some(sql) => Some(query_row::<(u64,)>(&transaction, &sql, &params)?.0),
                    None => None,
                };
                Ok((body, returned, total))
            },
        )
        .await
        .map_err(RestError::internal)??;
    let offset = request
        .ranges
        .iter()
        .find(|(path, _)| path.is_empty())
        .map_or(0, |(_, range)| range.offset);
    if let Some(total) = total {
        if offset > total && total > 0 {
            return Err(RestError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "PGRST103",
                "Requested range not satisfiable",
            )
            .details(format!(
                "An offset of {offset} was requested, but there are only {total} rows."
            )));
        }
    }
    let status = match total {
        Some(total) if returned < total => StatusCode::PARTIAL_CONTENT,
        _ => StatusCode::OK,
    };
    response::render(
        &request,
        status,
        Some(body),
        returned,
        response::content_range(offset, returned, total),
        head,
    )
}

async fn write(
    store: &Store,
    schema: std::sync::Arc<SchemaCache>,
    caller: Caller,
    request: ApiRequest,
) -> Result<Response, RestError> {
    let claims = Some(caller.claims.clone());
    let request = std::sync::Arc::new(request);
    let job_request = request.clone();
    let (body, affected) = store
        .write(
            claims,
            move |connection| -> Result<(Option<String>, u64), RestError> {
                let request = &*job_request;
                let Target::Table(name) = &request.target else {
                    unreachable!("writes are on tables")
                };
                let mut planner = Planner::new(&schema, &caller, request);
                let table = planner.table(name)?;
                let transaction = connection.transaction().map_err(database_error)?;
                let command = match request.action {
                    Action::Insert => PolicyCommand::Insert,
                    Action::Update => PolicyCommand::Update,
                    _ => PolicyCommand::Delete,
                };
                let mut rowids: Vec<i64> = Vec::new();
                let mut representation = None;
                match request.action {
                    Action::Insert => {
                        for statement in planner.inserts(table)? {
                            rowids.extend(query_column(&transaction, &statement)?);
                        }
                    }
                    Action::Update => {
                        let statement = planner.update(table)?;
                        rowids = query_column(&transaction, &statement)?;
                    }
                    _ => {
                        let matching = planner.matching_rowids(table, PolicyCommand::Delete)?;
                        let statement = planner.finish(matching);
                        rowids = query_column(&transaction, &statement)?;
                    }
                }
                let ids = serde_json::to_string(&rowids).expect("ids serialize");
                if command != PolicyCommand::Delete {
                    if let Some(check) = planner.check_violations(table, command, &ids)? {
                        let statement = planner.finish(check);
                        let (violations,): (u64,) =
                            query_row(&transaction, &statement.text, &statement.params)?;
                        if violations > 0 {
                            return Err(RestError::sql(
                                "42501",
                                format!(
                                    "new row violates row-level security policy for table \"{}\"",
                                    table.name.name
                                ),
                                false,
                            ));
                        }
                    }
                }
                if request.prefer.return_ == ReturnPreference::Representation
                    || request.media == request::MediaType::SingularObject
                {
                    let sql = planner.representation(table, &ids)?;
                    let statement = planner.finish(sql);
                    representation = Some(
                        query_row::<(String,)>(&transaction, &statement.text, &statement.params)?.0,
                    );
                }
                if command == PolicyCommand::Delete && !rowids.is_empty() {
                    transaction
                        .execute(
                            &format!(
                                "DELETE FROM {} WHERE rowid IN (SELECT value FROM json_each(?1))",
                                crate::store::naming::table_ident(&table.name)
                            ),
                            [&ids],
                        )
                        .map_err(|error| map_sqlite_error(error, table))?;
                }
                let affected = rowids.len() as u64;
                if request.media == request::MediaType::SingularObject && affected != 1 {
                    return Err(response::singular_mismatch(affected));
                }
                if !request.prefer.rollback {
                    transaction.commit().map_err(database_error)?;
                }
                Ok((
                    representation
                        .filter(|_| request.prefer.return_ == ReturnPreference::Representation),
                    affected,
                ))
            },
        )
        .await
        .map_err(RestError::internal)??;
    let count = request.prefer.count.map(|_| affected);
    let (status, range) = match request.action {
        Action::Insert => (StatusCode::CREATED, response::content_range(0, 0, count)),
        Action::Update => (
            if body.is_some() {
                StatusCode::OK
            } else {
                StatusCode::NO_CONTENT
            },
            response::content_range(0, affected, count),
        ),
        _ => (
            if body.is_some() {
                StatusCode::OK
            } else {
                StatusCode::NO_CONTENT
            },
            response::content_range(0, 0, count),
        ),
    };
    let returned = affected;
    let status = if body.is_none() && request.action == Action::Insert {
        StatusCode::CREATED
    } else {
        status
    };
    response::render(&request, status, body, returned, range, false)
}

fn database_error(error: rusqlite::Error) -> RestError {
    RestError::internal(error)
}

fn query_row<T: FromRow>(
    connection: &Connection,
    sql: &str,
    params: &[rusqlite::types::Value],
) -> Result<T, RestError> {
    let mut statement = connection
        .prepare_cached(sql)
        .map_err(|error| RestError::internal(format!("{error}: {sql}")))?;
    let params: Vec<&dyn ToSql> = params.iter().map(|value| value as &dyn ToSql).collect();
    statement
        .query_row(params.as_slice(), T::from_row)
        .map_err(|error| RestError::internal(format!("{error}: {sql}")))
}

fn query_column(connection: &Connection, statement: &Sql) -> Result<Vec<i64>, RestError> {
    let table_hint = statement.text.clone();
    let mut prepared = connection
        .prepare_cached(&statement.text)
        .map_err(RestError::internal)?;
    let params: Vec<&dyn ToSql> = statement
        .params
        .iter()
        .map(|value| value as &dyn ToSql)
        .collect();
    let rows = prepared
        .query_map(params.as_slice(), |row| row.get::<_, i64>(0))
        .map_err(|error| constraint_error(error, &table_hint))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|error| constraint_error(error, &table_hint))
}

trait FromRow: Sized {
    fn from_row(row: &rusqlite::Row) -> rusqlite::Result<Self>;
}

impl FromRow for (String, u64) {
    fn from_row(row: &rusqlite::Row) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get::<_, i64>(1)?.max(0) as u64))
    }
}

impl FromRow for (u64,) {
    fn from_row(row: &rusqlite::Row) -> rusqlite::Result<Self> {
        Ok((row.get::<_, i64>(0)?.max(0) as u64,))
    }
}

impl FromRow for (String,) {
    fn from_row(row: &rusqlite::Row) -> rusqlite::Result<Self> {
        Ok((row.get(0)?,))
    }
}

fn map_sqlite_error(error: rusqlite::Error, table: &crate::schema::Table) -> RestError {
    constraint_error(error, &table.name.name)
}

/// SQLite constraint failures as the Postgres errors clients expect.
fn constraint_error(error: rusqlite::Error, context: &str) -> RestError {
    let rusqlite::Error::SqliteFailure(failure, message) = &error else {
        return RestError::internal(error);
    };
    let message = message.clone().unwrap_or_default();
    let detail = message
        .split_once(": ")
        .map(|(_, detail)| detail.to_owned())
        .unwrap_or_default();
    let _ = context;
    match failure.extended_code {
        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            RestError::sql(
                "23505",
                format!("duplicate key value violates unique constraint ({detail})"),
                false,
            )
            .details(format!("Key ({}) already exists.", columns_of(&detail)))
        }
        rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => RestError::sql(
            "23503",
            "insert or update violates foreign key constraint",
            false,
        ),
        rusqlite::ffi::SQLITE_CONSTRAINT_NOTNULL => {
            let (table, column) = detail.split_once('.').unwrap_or(("", &detail));
            RestError::sql(
                "23502",
                format!(
                    "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
                ),
                false,
            )
        }
        rusqlite::ffi::SQLITE_CONSTRAINT_CHECK => RestError::sql(
            "23514",
            format!("new row violates check constraint \"{detail}\""),
            false,
        ),
        _ => RestError::internal(error),
    }
}

fn columns_of(detail: &str) -> String {
    detail
        .split(", ")
        .map(|qualified| qualified.rsplit('.').next().unwrap_or(qualified))
        .collect::<Vec<_>>()
        .join(", ")
}
