//! Execute: runs a `Query` on the `Store` — reads in one read transaction on a WAL reader,
//! writes and RPCs in one transaction on the writer — and maps SQLite failures onto the
//! Postgres errors clients expect (23505, 23503, 23502, 23514, P0001). Rolls back and rejects
//! a write that fails the policies' `with check` (42501), that is not singular when a single
//! object was asked for (PGRST116), or that exceeds `max-affected` (PGRST124).

use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ToSql};
use serde_json::Value;

use super::error::RestError;
use super::query::{CallOutput, CallQuery, Query, RETURNED, Sql, Write};
use super::values::Literal;
use crate::auth::Caller;
use crate::schema::{PgType, PrintedType, QualifiedName, SchemaCache, Table};
use crate::store::naming::{quote_ident, table_ident};
use crate::store::settings::RequestSettings;
use crate::store::{Store, StoreError, Subject};

/// What a query produced, before it becomes an HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A JSON array of rows, how many, and the total when counted.
    Rows {
        body: String,
        returned: u64,
        total: Option<u64>,
    },
    /// A mutation: the affected rows (a JSON array) when asked for, their number, the location
    /// of the first, and whether an upsert inserted nothing.
    Written {
        body: Option<String>,
        affected: u64,
        location: Option<String>,
        only_updated: bool,
    },
    /// An RPC's JSON value (a scalar, or one row as an object); `None` for `void`.
    Value(Option<String>),
}

/// How a write must behave, from the request's preferences and media type.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    pub singular: bool,
    pub rollback: bool,
    pub max_affected: Option<u64>,
    pub representation: bool,
}

impl WriteOptions {
    /// The options `request` asks for (`Prefer` and its media type).
    pub fn of(request: &super::request::ApiRequest) -> Self {
        use super::request::{MediaType, ReturnPreference};
        Self {
            singular: request.media == MediaType::SingularObject,
            rollback: request.prefer.rollback,
            max_affected: request
                .prefer
                .max_affected
                .filter(|_| request.prefer.strict),
            representation: request.prefer.return_ == ReturnPreference::Representation,
        }
    }
}

/// Runs `query` for `caller` with the request's `settings` (`current_setting('request.…')`);
/// `table` names the mutated relation (for error messages).
pub async fn run(
    store: &Store,
    schema: Arc<SchemaCache>,
    (caller, settings): (&Caller, Arc<RequestSettings>),
    table: Option<QualifiedName>,
    query: Query,
    options: WriteOptions,
) -> Result<Outcome, RestError> {
    let subject = Subject {
        claims: Some(caller.claims.clone()),
        request: Some(settings),
    };
    let result = match query {
        Query::Read { rows, count } => {
            store
                .read(subject, move |connection| {
                    // One statement reads one snapshot; a count beside it must read the same.
                    let _snapshot = count
                        .is_some()
                        .then(|| connection.unchecked_transaction())
                        .transpose()
                        .map_err(RestError::internal)?;
                    read(connection, &rows, count.as_ref())
                })
                .await
        }
        Query::Write(write) => {
            let write = Arc::new(write);
            grouped(store, subject, move || {
                let (schema, table, write) = (schema.clone(), table.clone(), write.clone());
                move |connection: &mut Connection| {
                    let transaction = connection.savepoint().map_err(RestError::internal)?;
                    let table = table
                        .as_ref()
                        .and_then(|name| schema.table(name))
                        .ok_or_else(|| RestError::internal("a write without its table"))?;
                    let outcome = mutate(&transaction, &schema, table, &write, options)?;
                    finish(transaction, options)?;
                    Ok(outcome)
                }
            })
            .await
        }
        Query::Call(call) if call.read_only => {
            store
                .read(subject, move |connection| {
                    let transaction = connection
                        .unchecked_transaction()
                        .map_err(RestError::internal)?;
                    call_function(&transaction, &call)
                })
                .await
        }
        Query::Call(call) => {
            let call = Arc::new(call);
            grouped(store, subject, move || {
                let call = call.clone();
                move |connection: &mut Connection| {
                    let transaction = connection.savepoint().map_err(RestError::internal)?;
                    let outcome = call_function(&transaction, &call)?;
                    if let Outcome::Rows { returned, .. } = &outcome {
                        check_max_affected(*returned, options)?;
                    }
                    finish(transaction, options)?;
                    Ok(outcome)
                }
            })
            .await
        }
    };
    result.map_err(RestError::internal)?
}

/// How often a grouped write is tried when another job's failure rolled its group back.
const GROUP_ATTEMPTS: usize = 3;

/// Runs the job `make` builds as a grouped write; should another job of its group end the
/// group's transaction (nothing of this one was committed), runs it again.
async fn grouped<F, J>(
    store: &Store,
    subject: Subject,
    make: F,
) -> Result<Result<Outcome, RestError>, StoreError>
where
    F: Fn() -> J,
    J: FnOnce(&mut Connection) -> Result<Outcome, RestError> + Send + 'static,
{
    let mut attempt = 1;
    loop {
        match store.write_grouped(subject.clone(), make()).await {
            Err(StoreError::NotCommitted(cause)) if attempt < GROUP_ATTEMPTS => {
                tracing::warn!("retrying a write whose group was rolled back: {cause}");
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Keeps the job's work (its savepoint released into the group's transaction), or, for
/// `tx=rollback`, undoes it.
fn finish(mut transaction: rusqlite::Savepoint, options: WriteOptions) -> Result<(), RestError> {
    if options.rollback {
        transaction.rollback().map_err(RestError::internal)?;
    }
    transaction.commit().map_err(failure)
}

fn read(connection: &Connection, rows: &Sql, count: Option<&Sql>) -> Result<Outcome, RestError> {
    let (body, returned) = array(connection, rows, rows.params.clone())?;
    let total = match count {
        Some(sql) => Some(number(connection, sql, sql.params.clone())?),
        None => None,
    };
    Ok(Outcome::Rows {
        body,
        returned,
        total,
    })
}

fn mutate(
    connection: &Connection,
    schema: &SchemaCache,
    table: &Table,
    write: &Write,
    options: WriteOptions,
) -> Result<Outcome, RestError> {
    let mut rowids: Vec<i64> = Vec::new();
    // The rows the command wrote (for an upsert, those it inserted) and those an upsert updated.
    let (mut written, mut updated): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
    let mut only_updated = !write.statements.is_empty();
    let fails = |sql: &Option<Sql>| -> Result<bool, RestError> {
        match sql {
            Some(sql) => Ok(number(connection, sql, sql.params.clone())? > 0),
            None => Ok(false),
        }
    };
    for statement in &write.statements {
        // Postgres's order: the INSERT `with check` on the proposed row, then (for an upsert
        // that updates) the UPDATE and SELECT `using` on the existing row, then constraints.
        let exists = fails(&statement.exists)?;
        only_updated &= exists;
        if fails(&statement.proposed)? {
            return Err(policy_violation(table, false));
        }
        if exists && fails(&statement.existing)? {
            return Err(policy_violation(table, true));
        }
        let ids = column(connection, &statement.sql).map_err(|error| {
            constraint_error(connection, schema, table, &statement.values, error)
        })?;
        rowids.extend(&ids);
        if exists {
            updated.extend(ids);
        } else {
            written.extend(ids);
        }
    }
    let checked = |sql: &Option<Sql>, ids: &[i64]| -> Result<bool, RestError> {
        match sql {
            Some(sql) if !ids.is_empty() => {
                let ids = Literal::Text(serde_json::to_string(ids).expect("integers serialize"));
                Ok(number(connection, sql, sql.params_with_first(ids))? == 0)
            }
            _ => Ok(true),
        }
    };
    if !checked(&write.check, &written)? || !checked(&write.conflict_check, &updated)? {
        return Err(policy_violation(table, false));
    }
    if let Some(to_end) = &write.to_end {
        // An upsert that updated moves every row it wrote, in order, so that its rows come
        // in the order it wrote them (as RETURNING answers them), the updated ones anew.
        let moving = if write.updates || !updated.is_empty() {
            rowids.clone()
        } else {
            Vec::new()
        };
        let moved = to_the_end(connection, to_end, &moving)?;
        for rowid in &mut rowids {
            if let Some(index) = moving.iter().position(|id| id == rowid) {
                *rowid = moved[index];
            }
        }
    }
    let ids = Literal::Text(serde_json::to_string(&rowids).expect("integers serialize"));
    let affected = rowids.len() as u64;
    if options.singular && affected != 1 {
        return Err(super::response::singular_mismatch(affected));
    }
    check_max_affected(affected, options)?;
    let representation = if options.representation {
        Some(
            array(
                connection,
                &write.rows,
                write.rows.params_with_first(ids.clone()),
            )?
            .0,
        )
    } else {
        None
    };
    let location = match &write.location {
        Some(sql) if !rowids.is_empty() => {
            Some(text(connection, sql, sql.params_with_first(ids.clone()))?)
        }
        _ => None,
    };
    if let Some(delete) = &write.delete {
        execute(connection, &delete.text, delete.params_with_first(ids))
            .map_err(|error| constraint_error(connection, schema, table, &[], error))?;
    }
    Ok(Outcome::Written {
        body: representation,
        affected,
        location,
        only_updated,
    })
}

/// Moves each row of `rowids`, in order, to the end of its table (triggers disarmed: no value
/// changes), and answers their new rowids.
fn to_the_end(
    connection: &Connection,
    to_end: &Sql,
    rowids: &[i64],
) -> Result<Vec<i64>, RestError> {
    if rowids.is_empty() {
        return Ok(Vec::new());
    }
    let arm = |armed: bool| {
        connection
            .query_row("SELECT pg_arm_triggers(?1)", [armed], |_| Ok(()))
            .map_err(RestError::internal)
    };
    arm(false)?;
    let moved: rusqlite::Result<Vec<i64>> =
        connection
            .prepare_cached(&to_end.text)
            .and_then(|mut statement| {
                rowids
                    .iter()
                    .map(|rowid| statement.query_row([rowid], |row| row.get(0)))
                    .collect()
            });
    arm(true)?;
    moved.map_err(query_error(&to_end.text))
}

/// Postgres's 42501 for a row a policy refuses: the new row's `with check`, or (`using`) an
/// existing row an upsert would update.
fn policy_violation(table: &Table, using: bool) -> RestError {
    let clause = if using { " (USING expression)" } else { "" };
    RestError::sql(
        "42501",
        format!(
            "new row violates row-level security policy{clause} for table \"{}\"",
            table.name.name
        ),
        false,
    )
}

pub fn check_max_affected(affected: u64, options: WriteOptions) -> Result<(), RestError> {
    match options.max_affected {
        Some(max) if affected > max => Err(RestError::pgrst(
            "PGRST124",
            "Query result exceeds max-affected preference constraint",
        )
        .details(format!("The query affects {affected} rows"))),
        _ => Ok(()),
    }
}

fn call_function(connection: &Connection, call: &CallQuery) -> Result<Outcome, RestError> {
    for statement in &call.setup {
        execute(connection, &statement.text, statement.params.clone()).map_err(raised)?;
    }
    match &call.result {
        CallOutput::Void(sql) => {
            if let Some(sql) = sql {
                execute(connection, &sql.text, sql.params.clone()).map_err(raised)?;
            }
            Ok(Outcome::Value(None))
        }
        CallOutput::Scalar(sql, pg_type) => {
            let mut statement = connection.prepare_cached(&sql.text).map_err(raised)?;
            let mut rows = statement
                .query(params(&sql.params).as_slice())
                .map_err(raised)?;
            let value = match rows.next().map_err(raised)? {
                Some(row) => scalar_json(row.get_ref(0).map_err(RestError::internal)?, pg_type),
                None => Value::Null,
            };
            Ok(Outcome::Value(Some(value.to_string())))
        }
        CallOutput::Scalars(sql, pg_type) => {
            let mut statement = connection.prepare_cached(&sql.text).map_err(raised)?;
            let mut rows = statement
                .query(params(&sql.params).as_slice())
                .map_err(raised)?;
            let mut values = Vec::new();
            while let Some(row) = rows.next().map_err(raised)? {
                values.push(scalar_json(
                    row.get_ref(0).map_err(RestError::internal)?,
                    pg_type,
                ));
            }
            Ok(Outcome::Rows {
                returned: values.len() as u64,
                body: Value::Array(values).to_string(),
                total: None,
            })
        }
        CallOutput::Rows {
            rows,
            count,
            set,
            returning,
        } => {
            if let Some(statement) = returning {
                keep_returned(connection, statement)?;
            }
            let (body, returned) = array(connection, rows, rows.params.clone())?;
            if !set {
                let mut items: Vec<Value> =
                    serde_json::from_str(&body).map_err(RestError::internal)?;
                let first = if items.is_empty() {
                    Value::Null
                } else {
                    items.swap_remove(0)
                };
                return Ok(Outcome::Value(Some(first.to_string())));
            }
            let total = match count {
                Some(sql) => Some(number(connection, sql, sql.params.clone())?),
                None => None,
            };
            Ok(Outcome::Rows {
                body,
                returned,
                total,
            })
        }
    }
}

/// A scalar as Postgres's JSON for `pg_type`.
pub(crate) fn scalar_json(value: ValueRef, pg_type: &PgType) -> Value {
    match (value, pg_type) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(flag), PgType::Boolean) => Value::Bool(flag != 0),
        (ValueRef::Integer(number), _) => Value::from(number),
        (ValueRef::Real(number), _) => Value::from(number),
        (ValueRef::Text(text), PgType::Json | PgType::Jsonb | PgType::Array(_)) => {
            let text = String::from_utf8_lossy(text);
            serde_json::from_str(&text).unwrap_or(Value::String(text.into_owned()))
        }
        (ValueRef::Text(text), PgType::Printed(PrintedType::Geometry(column)))
            if !column.geography =>
        {
            let text = String::from_utf8_lossy(text);
            crate::store::geometry::parse(&text)
                .and_then(|geometry| geometry.to_json())
                .ok()
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_else(|| Value::String(text.into_owned()))
        }
        (ValueRef::Text(text), _) => Value::String(String::from_utf8_lossy(text).into_owned()),
        (ValueRef::Blob(bytes), _) => Value::String(format!(
            "\\x{}",
            bytes
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect::<String>()
        )),
    }
}

fn params(values: &[Literal]) -> Vec<&dyn ToSql> {
    values.iter().map(|value| value as &dyn ToSql).collect()
}

/// Runs a statement to completion for its effect, whatever rows it answers.
fn execute(connection: &Connection, sql: &str, values: Vec<Literal>) -> rusqlite::Result<()> {
    let mut statement = connection.prepare_cached(sql)?;
    let mut rows = statement.query(params(&values).as_slice())?;
    while rows.next()?.is_some() {}
    Ok(())
}

fn query_error(sql: &str) -> impl Fn(rusqlite::Error) -> RestError + '_ {
    move |error| {
        function_error(&error)
            .or_else(|| refusal(&error))
            .unwrap_or_else(|| RestError::internal(format!("{error}: {sql}")))
    }
}

/// A SQLite failure as the client's error when it is one, else an internal error (logged).
fn failure(error: rusqlite::Error) -> RestError {
    refusal(&error).unwrap_or_else(|| RestError::internal(error))
}

/// A statement stopped by the caller's statement timeout (57014, as Postgres cancels it), or
/// one SQLite refused because the request made it too big (too many terms, values, columns or
/// bytes: the client's to fix, so a 400 that says so). `None` for real faults.
fn refusal(error: &rusqlite::Error) -> Option<RestError> {
    let (cause, message) = match error {
        rusqlite::Error::SqliteFailure(cause, message) => (cause, message.as_deref().unwrap_or("")),
        rusqlite::Error::SqlInputError { error, msg, .. } => (error, msg.as_str()),
        _ => return None,
    };
    if cause.code == rusqlite::ErrorCode::OperationInterrupted {
        return Some(RestError::sql(
            "57014",
            "canceling statement due to statement timeout",
            false,
        ));
    }
    let too_big = cause.code == rusqlite::ErrorCode::TooBig
        || (cause.code == rusqlite::ErrorCode::Unknown
            && [
                "too many ",
                "too large",
                "parser stack overflow",
                "at most ",
            ]
            .iter()
            .any(|sign| message.contains(sign)));
    too_big.then(|| {
        RestError::sql(
            "54000",
            format!("the request is too large: {message}"),
            false,
        )
        .hint("Split it into smaller requests.")
        .with_status(axum::http::StatusCode::BAD_REQUEST)
    })
}

/// An error a plpgsql body raised (or let through), with its SQLSTATE, message, detail, hint.
fn function_error(error: &rusqlite::Error) -> Option<RestError> {
    crate::plpgsql::PgError::decode(error).map(RestError::from)
}

/// `(json array, rows)` from a statement answering both.
fn array(
    connection: &Connection,
    sql: &Sql,
    values: Vec<Literal>,
) -> Result<(String, u64), RestError> {
    connection
        .prepare_cached(&sql.text)
        .and_then(|mut statement| {
            statement.query_row(params(&values).as_slice(), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?.max(0) as u64,
                ))
            })
        })
        .map_err(query_error(&sql.text))
}

/// Runs the writing `statement` and keeps the rows it returns in the TEMP table `RETURNED`
/// (made anew for each call, with the statement's column names).
fn keep_returned(connection: &Connection, statement: &Sql) -> Result<(), RestError> {
    let mut prepared = connection.prepare(&statement.text).map_err(raised)?;
    let columns: Vec<String> = prepared.column_names().map(quote_ident).collect();
    let mut rows = prepared
        .query(params(&statement.params).as_slice())
        .map_err(raised)?;
    let mut kept: Vec<Vec<rusqlite::types::Value>> = Vec::new();
    while let Some(row) = rows.next().map_err(raised)? {
        kept.push(
            (0..columns.len())
                .map(|index| row.get(index))
                .collect::<rusqlite::Result<_>>()
                .map_err(RestError::internal)?,
        );
    }
    let table = format!("temp.{}", quote_ident(RETURNED));
    connection
        .execute_batch(&format!(
            "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({})",
            columns.join(", ")
        ))
        .map_err(RestError::internal)?;
    let marks = vec!["?"; columns.len()].join(", ");
    let mut insert = connection
        .prepare(&format!("INSERT INTO {table} VALUES ({marks})"))
        .map_err(RestError::internal)?;
    for row in kept {
        insert
            .execute(rusqlite::params_from_iter(row))
            .map_err(RestError::internal)?;
    }
    Ok(())
}

fn number(connection: &Connection, sql: &Sql, values: Vec<Literal>) -> Result<u64, RestError> {
    connection
        .prepare_cached(&sql.text)
        .and_then(|mut statement| {
            statement.query_row(params(&values).as_slice(), |row| row.get::<_, i64>(0))
        })
        .map(|count| count.max(0) as u64)
        .map_err(query_error(&sql.text))
}

fn text(connection: &Connection, sql: &Sql, values: Vec<Literal>) -> Result<String, RestError> {
    connection
        .prepare_cached(&sql.text)
        .and_then(|mut statement| statement.query_row(params(&values).as_slice(), |row| row.get(0)))
        .map_err(query_error(&sql.text))
}

fn column(connection: &Connection, sql: &Sql) -> rusqlite::Result<Vec<i64>> {
    let mut statement = connection.prepare_cached(&sql.text)?;
    let rows = statement.query_map(params(&sql.params).as_slice(), |row| row.get(0))?;
    rows.collect()
}

/// An error raised inside a function body: `RAISE(ABORT, …)` from a trigger is P0001.
fn raised(error: rusqlite::Error) -> RestError {
    if let Some(raised) = function_error(&error) {
        return raised;
    }
    match &error {
        rusqlite::Error::SqliteFailure(failure, Some(message))
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_TRIGGER =>
        {
            RestError::sql("P0001", message.clone(), false)
        }
        rusqlite::Error::SqliteFailure(_, Some(message))
            if message.starts_with(crate::store::functions::RLS_VIOLATION) =>
        {
            RestError::sql("42501", message.clone(), false)
        }
        _ => failure(error),
    }
}

/// A SQLite constraint failure while writing `values` to `table`, as Postgres reports it.
fn constraint_error(
    connection: &Connection,
    schema: &SchemaCache,
    table: &Table,
    values: &[(String, Literal)],
    error: rusqlite::Error,
) -> RestError {
    if let Some(raised) = function_error(&error) {
        return raised;
    }
    let rusqlite::Error::SqliteFailure(cause, Some(message)) = &error else {
        return failure(error);
    };
    let detail = message.split_once(": ").map_or("", |(_, detail)| detail);
    let relation = &table.name.name;
    match cause.extended_code {
        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            let columns: Vec<String> = detail
                .split(", ")
                .map(|qualified| qualified.rsplit('.').next().unwrap_or(qualified).to_owned())
                .collect();
            let name = if same_columns(&table.primary_key, &columns) {
                format!("{relation}_pkey")
            } else {
                table
                    .unique_constraints
                    .iter()
                    .find(|unique| same_columns(&unique.columns, &columns))
                    .map_or_else(
                        || format!("{relation}_{}_key", columns.join("_")),
                        |unique| unique.name.clone(),
                    )
            };
            let error = RestError::sql(
                "23505",
                format!("duplicate key value violates unique constraint \"{name}\""),
                false,
            );
            match key_values(values, &columns) {
                Some(shown) => error.details(format!(
                    "Key ({})=({shown}) already exists.",
                    columns.join(", ")
                )),
                None => error,
            }
        }
        rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
            foreign_key_error(connection, schema, table, values)
        }
        rusqlite::ffi::SQLITE_CONSTRAINT_NOTNULL => {
            let column = detail.rsplit('.').next().unwrap_or(detail);
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
        rusqlite::ffi::SQLITE_CONSTRAINT_TRIGGER => RestError::sql("P0001", message.clone(), false),
        _ => failure(error),
    }
}

/// Which foreign key failed: on a write, the first whose referenced row is missing; on a
/// delete, the first that references the table.
fn foreign_key_error(
    connection: &Connection,
    schema: &SchemaCache,
    table: &Table,
    values: &[(String, Literal)],
) -> RestError {
    let relation = &table.name.name;
    if values.is_empty() {
        let referencing = schema
            .tables
            .values()
            .flat_map(|other| other.foreign_keys.iter().map(move |fk| (other, fk)))
            .find(|(_, fk)| fk.referenced_table == table.name);
        let (constraint, other) = referencing
            .map_or((String::new(), String::new()), |(other, fk)| {
                (fk.name.clone(), other.name.name.clone())
            });
        return RestError::sql(
            "23503",
            format!(
                "update or delete on table \"{relation}\" violates foreign key constraint \"{constraint}\" on table \"{other}\""
            ),
            false,
        );
    }
    for foreign in &table.foreign_keys {
        let Some(keys) = foreign
            .columns
            .iter()
            .map(|column| {
                values
                    .iter()
                    .find(|(name, _)| name == column)
                    .map(|(_, value)| value.clone())
            })
            .collect::<Option<Vec<Literal>>>()
        else {
            continue;
        };
        if keys.contains(&Literal::Null) {
            continue;
        }
        let terms: Vec<String> = foreign
            .referenced_columns
            .iter()
            .enumerate()
            .map(|(index, column)| format!("{} = ?{}", quote_ident(column), index + 1))
            .collect();
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE {})",
            table_ident(&foreign.referenced_table),
            terms.join(" AND ")
        );
        let present: bool = connection
            .query_row(&sql, params(&keys).as_slice(), |row| row.get(0))
            .unwrap_or(true);
        if !present {
            let shown = key_values(values, &foreign.columns).unwrap_or_default();
            return RestError::sql(
                "23503",
                format!("insert or update on table \"{relation}\" violates foreign key constraint \"{}\"", foreign.name),
                false,
            )
            .details(format!(
                "Key ({})=({shown}) is not present in table \"{}\".",
                foreign.columns.join(", "),
                foreign.referenced_table.name
            ));
        }
    }
    RestError::sql(
        "23503",
        format!("insert or update on table \"{relation}\" violates foreign key constraint"),
        false,
    )
}

fn same_columns(key: &[String], columns: &[String]) -> bool {
    !key.is_empty()
        && key.len() == columns.len()
        && key.iter().all(|column| columns.contains(column))
}

/// `a, b` for the written values of `columns`, as Postgres prints them in details.
fn key_values(values: &[(String, Literal)], columns: &[String]) -> Option<String> {
    let shown = columns
        .iter()
        .map(|column| {
            values
                .iter()
                .find(|(name, _)| name == column)
                .map(|(_, value)| match value {
                    Literal::Null => "null".to_owned(),
                    Literal::Integer(number) => number.to_string(),
                    Literal::Real(number) => number.to_string(),
                    Literal::Text(text) => text.clone(),
                    Literal::Blob(_) => "\\x…".to_owned(),
                })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(shown.join(", "))
}
