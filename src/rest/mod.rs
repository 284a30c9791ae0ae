//! REST: `/rest/v1`, the PostgREST dialect. `handle` reads top to bottom: parse the request,
//! plan it into SQL against the schema (policies from `authorize`), execute on the store,
//! render the response.

pub mod authorize;
pub mod error;
pub mod query;
pub mod request;
pub mod response;
mod rpc;
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
            (Target::Rpc(_), _) => rpc::call(store, schema, caller, request, max_rows).await,
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
    let result = store
        .read(claims, move |connection| {
            let transaction = connection.unchecked_transaction().map_err(database_error)?;
            run_read(&transaction, &rows_sql, count_sql.as_deref(), &params)
        })
        .await
        .map_err(RestError::internal)??;
    read_response(&request, result, head)
}

/// Rows of a read: the JSON array, how many it holds, and the total when a count was asked.
pub(crate) struct ReadResult {
    body: String,
    returned: u64,
    total: Option<u64>,
}

fn run_read(
    connection: &Connection,
    rows_sql: &str,
    count_sql: Option<&str>,
    params: &[rusqlite::types::Value],
) -> Result<ReadResult, RestError> {
    let (body, returned): (String, u64) = query_row(connection, rows_sql, params)?;
    let total = match count_sql {
        Some(sql) => Some(query_row::<(u64,)>(connection, sql, params)?.0),
        None => None,
    };
    Ok(ReadResult {
        body,
        returned,
        total,
    })
}

fn read_response(
    request: &ApiRequest,
    result: ReadResult,
    head: bool,
) -> Result<Response, RestError> {
    let ReadResult {
        body,
        returned,
        total,
    } = result;
    let offset = request
        .ranges
        .iter()
        .find(|(path, _)| path.is_empty())
        .map_or(0, |(_, range)| range.offset);
    if let Some(total) = total
        && offset > total
        && total > 0
    {
        return Err(RestError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "PGRST103",
            "Requested range not satisfiable",
        )
        .details(format!(
            "An offset of {offset} was requested, but there are only {total} rows."
        )));
    }
    let status = match total {
        Some(total) if returned < total => StatusCode::PARTIAL_CONTENT,
        _ => StatusCode::OK,
    };
    response::render(
        request,
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
    let (body, affected, location) = store
        .write(
            claims,
            move |connection| -> Result<(Option<String>, u64, Option<String>), RestError> {
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
                            rowids.extend(query_column(&transaction, &statement, table)?);
                        }
                    }
                    Action::Update => {
                        let statement = planner.update(table)?;
                        rowids = query_column(&transaction, &statement, table)?;
                    }
                    _ => {
                        let matching = planner.matching_rowids(table, PolicyCommand::Delete)?;
                        let statement = planner.finish(matching);
                        rowids = query_column(&transaction, &statement, table)?;
                    }
                }
                let ids = serde_json::to_string(&rowids).expect("ids serialize");
                if command != PolicyCommand::Delete
                    && let Some(check) = planner.check_violations(table, command, &ids)?
                {
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
                        .map_err(|error| constraint_error(error, Some(table)))?;
                }
                let affected = rowids.len() as u64;
                if request.media == request::MediaType::SingularObject && affected != 1 {
                    return Err(response::singular_mismatch(affected));
                }
                if let (true, Some(limit), false) = (
                    request.prefer.strict,
                    request.prefer.max_affected,
                    command == PolicyCommand::Insert,
                ) && affected > limit
                {
                    return Err(RestError::new(
                        StatusCode::BAD_REQUEST,
                        "PGRST124",
                        "Query result exceeds max-affected preference constraint",
                    )
                    .details(format!("The query affects {affected} rows")));
                }
                let location = match (request.prefer.return_, rowids.first()) {
                    (ReturnPreference::HeadersOnly, Some(rowid))
                        if command == PolicyCommand::Insert =>
                    {
                        location(&transaction, table, *rowid)?
                    }
                    _ => None,
                };
                if !request.prefer.rollback {
                    transaction.commit().map_err(database_error)?;
                }
                Ok((
                    representation
                        .filter(|_| request.prefer.return_ == ReturnPreference::Representation),
                    affected,
                    location,
                ))
            },
        )
        .await
        .map_err(RestError::internal)??;
    let count = request.prefer.count.map(|_| affected);
    let status = match (request.action, &body) {
        (Action::Insert, _) => StatusCode::CREATED,
        (_, Some(_)) => StatusCode::OK,
        (_, None) => StatusCode::NO_CONTENT,
    };
    let returned = if request.action == Action::Update {
        affected
    } else {
        0
    };
    let mut response = response::render(
        &request,
        status,
        body,
        affected,
        response::content_range(0, returned, count),
        false,
    )?;
    if let Some(location) =
        location.and_then(|location| axum::http::HeaderValue::from_str(&location).ok())
    {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    Ok(response)
}

/// `Location` of an inserted row for `return=headers-only`: `/table?pk=eq.value`.
fn location(
    connection: &Connection,
    table: &crate::schema::Table,
    rowid: i64,
) -> Result<Option<String>, RestError> {
    if table.primary_key.is_empty() {
        return Ok(None);
    }
    let columns: Vec<String> = table
        .primary_key
        .iter()
        .map(|column| {
            format!(
                "CAST({} AS TEXT)",
                crate::store::naming::quote_ident(column)
            )
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE rowid = ?1",
        columns.join(", "),
        crate::store::naming::table_ident(&table.name)
    );
    let values: Vec<Option<String>> = connection
        .query_row(&sql, [rowid], |row| {
            (0..table.primary_key.len())
                .map(|index| row.get(index))
                .collect()
        })
        .map_err(database_error)?;
    let filters: Vec<String> = table
        .primary_key
        .iter()
        .zip(values)
        .map(|(column, value)| format!("{column}=eq.{}", value.unwrap_or_default()))
        .collect();
    Ok(Some(format!("/{}?{}", table.name.name, filters.join("&"))))
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

fn query_column(
    connection: &Connection,
    statement: &Sql,
    table: &crate::schema::Table,
) -> Result<Vec<i64>, RestError> {
    let table = Some(table);
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
        .map_err(|error| constraint_error(error, table))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(|error| constraint_error(error, table))
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

/// SQLite constraint failures as the Postgres errors clients expect.
/// SQLite constraint failures as the Postgres errors clients expect, named as Postgres names
/// the constraint when the table is known.
pub(crate) fn constraint_error(
    error: rusqlite::Error,
    table: Option<&crate::schema::Table>,
) -> RestError {
    let rusqlite::Error::SqliteFailure(failure, message) = &error else {
        return RestError::internal(error);
    };
    let message = message.clone().unwrap_or_default();
    let detail = message
        .split_once(": ")
        .map(|(_, detail)| detail.to_owned())
        .unwrap_or_default();
    let relation = table.map_or_else(
        || detail.split('.').next().unwrap_or("").to_owned(),
        |table| table.name.name.clone(),
    );
    match failure.extended_code {
        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            let columns: Vec<String> = detail
                .split(", ")
                .map(|qualified| qualified.rsplit('.').next().unwrap_or(qualified).to_owned())
                .collect();
            let name = table
                .and_then(|table| {
                    if table.primary_key == columns {
                        return Some(format!("{}_pkey", table.name.name));
                    }
                    table
                        .unique_constraints
                        .iter()
                        .find(|unique| unique.columns == columns)
                        .map(|unique| unique.name.clone())
                })
                .unwrap_or_else(|| format!("{relation}_{}_key", columns.join("_")));
            RestError::sql(
                "23505",
                format!("duplicate key value violates unique constraint \"{name}\""),
                false,
            )
            .details(format!("Key ({}) already exists.", columns.join(", ")))
        }
        rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
            let name = match table.map(|table| table.foreign_keys.as_slice()) {
                Some([only]) => format!(" \"{}\"", only.name),
                _ => String::new(),
            };
            RestError::sql(
                "23503",
                format!(
                    "insert or update on table \"{relation}\" violates foreign key constraint{name}"
                ),
                false,
            )
        }
        rusqlite::ffi::SQLITE_CONSTRAINT_NOTNULL => {
            let column = detail.rsplit('.').next().unwrap_or(&detail);
            RestError::sql(
                "23502",
                format!(
                    "null value in column \"{column}\" of relation \"{relation}\" violates not-null constraint"
                ),
                false,
            )
        }
        rusqlite::ffi::SQLITE_CONSTRAINT_CHECK => RestError::sql(
            "23514",
            format!("new row for relation \"{relation}\" violates check constraint \"{detail}\""),
            false,
        ),
        _ => RestError::internal(error),
    }
}
