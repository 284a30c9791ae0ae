//! RPC: `/rest/v1/rpc/{fn}` calls the project's `language sql` functions with named arguments.
//! Set-returning results go through the same planner as tables (select, filters, order, limit,
//! count) with the returned table's policies; scalar results are sent as a JSON value, void as
//! 204. A `security invoker` function whose body reads another table under row-level security
//! is refused (42501): its policies cannot be applied inside the body, and failing open is not
//! an option. `security definer` functions read their tables without the caller's policies,
//! as in Postgres.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ToSql};
use serde_json::Value;

use super::error::RestError;
use super::query::{Planner, Sql};
use super::request::{Action, ApiRequest, Target};
use super::{ReadResult, constraint_error, database_error, read_response, run_read, values};
use crate::auth::Caller;
use crate::migrate::expression::{qualified_name, substitute_parameters};
use crate::schema::{
    Column, Function, FunctionReturn, PgType, QualifiedName, SchemaCache, Table, TableKind,
    Volatility,
};
use crate::store::Store;

/// What one call runs: the body's leading statements, its final query, and how to answer.
struct Call {
    leading: Vec<String>,
    last: String,
    params: Vec<SqlValue>,
    shape: Shape,
}

enum Shape {
    Void,
    Scalar(PgType),
    /// Rows planned like a table read: rows SQL, count SQL.
    Rows(String, Option<String>),
}

pub async fn call(
    store: &Store,
    schema: std::sync::Arc<SchemaCache>,
    caller: Caller,
    request: ApiRequest,
    max_rows: u64,
) -> Result<Response, RestError> {
    let Target::Rpc(name) = &request.target else {
        unreachable!("rpc targets a function")
    };
    let Action::Call { read_only, head } = request.action else {
        unreachable!("rpc is a call")
    };
    let function = find(&schema, &request, name)?;
    if read_only && function.volatility == Volatility::Volatile {
        return Err(RestError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "25006",
            format!("cannot execute {name}() in a read-only transaction"),
        )
        .hint("call volatile functions with POST"));
    }
    refuse_unenforceable_policies(&schema, function, &caller)?;
    let call = plan(&schema, &caller, &request, function, max_rows)?;
    let claims = Some(caller.claims.clone());
    let outcome = if read_only {
        store
            .read(claims, move |connection| {
                let transaction = connection.unchecked_transaction().map_err(database_error)?;
                execute(&transaction, &call)
            })
            .await
    } else {
        store
            .write(claims, move |connection| {
                let transaction = connection.transaction().map_err(database_error)?;
                let outcome = execute(&transaction, &call)?;
                transaction.commit().map_err(database_error)?;
                Ok(outcome)
            })
            .await
    }
    .map_err(RestError::internal)??;
    match outcome {
        Outcome::Void => Ok(StatusCode::NO_CONTENT.into_response()),
        Outcome::Scalar(value) => Ok((
            StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )],
            if head {
                String::new()
            } else {
                value.to_string()
            },
        )
            .into_response()),
        Outcome::Rows(result) => read_response(&request, result, head),
    }
}

fn find<'a>(
    schema: &'a SchemaCache,
    request: &ApiRequest,
    name: &str,
) -> Result<&'a Function, RestError> {
    let qualified = QualifiedName::new(request.schema.as_str(), name);
    let given: Vec<String> = argument_names(request);
    let signature = format!("{qualified}({})", given.join(", "));
    let not_found = || {
        let mut error = RestError::new(
            StatusCode::NOT_FOUND,
            "PGRST202",
            format!("Could not find the function {signature} in the schema cache"),
        );
        if let Some(close) = schema.functions.keys().find(|candidate| {
            candidate.name != name && candidate.name.starts_with(&name[..name.len().min(3)])
        }) {
            error = error.hint(format!("Perhaps you meant to call the function {close}"));
        }
        error
    };
    let function = schema
        .functions
        .get(&qualified)
        .filter(|function| !matches!(function.returns, FunctionReturn::Trigger))
        .ok_or_else(not_found)?;
    let known = given.iter().all(|argument| {
        function
            .arguments
            .iter()
            .any(|declared| declared.name == *argument)
    });
    let complete = function
        .arguments
        .iter()
        .all(|declared| declared.default.is_some() || given.contains(&declared.name));
    if !known || !complete {
        return Err(not_found());
    }
    Ok(function)
}

fn argument_names(request: &ApiRequest) -> Vec<String> {
    match &request.payload {
        Some(Value::Object(object)) => object.keys().cloned().collect(),
        _ => request
            .rpc_query_args
            .iter()
            .map(|(name, _)| name.clone())
            .collect(),
    }
}

/// Invoker functions may not read other tables under row-level security (see the module doc).
fn refuse_unenforceable_policies(
    schema: &SchemaCache,
    function: &Function,
    caller: &Caller,
) -> Result<(), RestError> {
    if function.security_definer || caller.bypasses_rls() {
        return Ok(());
    }
    let returned = match &function.returns {
        FunctionReturn::Rows { table, .. } => Some(table.clone()),
        _ => None,
    };
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let statements =
        sqlparser::parser::Parser::parse_sql(&dialect, &function.body).unwrap_or_default();
    let mut guarded = None;
    let _ = sqlparser::ast::visit_relations(&statements, |relation| {
        let name = qualified_name(relation);
        if Some(&name) != returned.as_ref()
            && schema.table(&name).is_some_and(|table| table.rls_enabled)
        {
            guarded = Some(name);
            return std::ops::ControlFlow::Break(());
        }
        std::ops::ControlFlow::Continue(())
    });
    match guarded {
        Some(table) => Err(RestError::sql(
            "42501",
            format!("function {}() reads \"{table}\", which has row-level security, as the caller", function.name),
            caller.role == crate::auth::Role::Anon,
        )
        .hint("declare the function `security definer` (it then reads without the caller's policies) or return rows of that table")),
        None => Ok(()),
    }
}

fn plan(
    schema: &SchemaCache,
    caller: &Caller,
    request: &ApiRequest,
    function: &Function,
    max_rows: u64,
) -> Result<Call, RestError> {
    let mut planner = Planner::new(schema, caller, request);
    let body = function.sqlite_body.clone().ok_or_else(|| {
        RestError::new(
            StatusCode::NOT_FOUND,
            "PGRST202",
            format!("{}() cannot be called", function.name),
        )
    })?;
    let mut replacements = Vec::new();
    for argument in &function.arguments {
        let value = match (
            &request.payload,
            request
                .rpc_query_args
                .iter()
                .find(|(name, _)| *name == argument.name),
        ) {
            (Some(Value::Object(object)), _) => match object.get(&argument.name) {
                Some(value) => values::from_json(schema, &argument.pg_type, value)?,
                None => default_value(argument.default.as_deref())?,
            },
            (_, Some((_, text))) => values::from_text(schema, &argument.pg_type, text)?,
            _ => default_value(argument.default.as_deref())?,
        };
        replacements.push((argument.name.clone(), planner.bind(value)));
    }
    let body = substitute_parameters(&body, &replacements);
    let mut statements: Vec<String> = body.split(";\n").map(str::to_owned).collect();
    let last = statements.pop().unwrap_or_default();
    let shape = match &function.returns {
        FunctionReturn::Void | FunctionReturn::Trigger => Shape::Void,
        FunctionReturn::Scalar(pg_type) => Shape::Scalar(pg_type.clone()),
        FunctionReturn::Rows { table, .. } => {
            let table = schema
                .table(table)
                .ok_or_else(|| RestError::internal(format!("missing table {table}")))?;
            let mut set_planner = planner.with_source(last.clone());
            let (rows, count) = set_planner.read(table, max_rows)?;
            return Ok(finish(set_planner, statements, last, rows, count));
        }
        FunctionReturn::Table(columns) => {
            let table = result_table(&function.name, columns);
            let mut set_planner = planner.with_source(last.clone());
            let (rows, count) = set_planner.read(&table, max_rows)?;
            return Ok(finish(set_planner, statements, last, rows, count));
        }
    };
    let Sql { params, .. } = planner.finish(String::new());
    Ok(Call {
        leading: statements,
        last,
        params,
        shape,
    })
}

fn finish(
    mut planner: Planner,
    leading: Vec<String>,
    last: String,
    rows: String,
    count: Option<String>,
) -> Call {
    let Sql { params, .. } = planner.finish(String::new());
    Call {
        leading,
        last,
        params,
        shape: Shape::Rows(rows, count),
    }
}

fn default_value(default: Option<&str>) -> Result<SqlValue, RestError> {
    match default {
        None => Ok(SqlValue::Null),
        Some(text) if text.eq_ignore_ascii_case("null") => Ok(SqlValue::Null),
        Some(text) => match text.trim_matches('\'').parse::<i64>() {
            Ok(integer) => Ok(SqlValue::Integer(integer)),
            Err(_) => Ok(SqlValue::Text(text.trim_matches('\'').to_owned())),
        },
    }
}

/// A `returns table (…)` result as a table the planner can read.
fn result_table(name: &QualifiedName, columns: &[(String, PgType)]) -> Table {
    Table {
        name: name.clone(),
        kind: TableKind::View {
            definition: String::new(),
        },
        columns: columns
            .iter()
            .map(|(name, pg_type)| Column {
                name: name.clone(),
                pg_type: pg_type.clone(),
                nullable: true,
                default: None,
                identity: false,
                comment: None,
            })
            .collect(),
        primary_key: Vec::new(),
        unique_constraints: Vec::new(),
        foreign_keys: Vec::new(),
        checks: Vec::new(),
        rls_enabled: false,
        policies: Vec::new(),
        comment: None,
    }
}

enum Outcome {
    Void,
    Scalar(Value),
    Rows(ReadResult),
}

fn execute(connection: &Connection, call: &Call) -> Result<Outcome, RestError> {
    let params: Vec<&dyn ToSql> = call
        .params
        .iter()
        .map(|value| value as &dyn ToSql)
        .collect();
    let run = |sql: &str| -> Result<(), RestError> {
        let mut statement = connection
            .prepare(sql)
            .map_err(|error| raised(error, sql))?;
        let needed = statement.parameter_count();
        let mut rows = statement
            .query(&params[..needed.min(params.len())])
            .map_err(|error| raised(error, sql))?;
        while rows.next().map_err(|error| raised(error, sql))?.is_some() {}
        Ok(())
    };
    for sql in &call.leading {
        run(sql)?;
    }
    match &call.shape {
        Shape::Void => {
            run(&call.last)?;
            Ok(Outcome::Void)
        }
        Shape::Scalar(pg_type) => {
            let mut statement = connection
                .prepare(&call.last)
                .map_err(|error| raised(error, &call.last))?;
            let needed = statement.parameter_count();
            let mut rows = statement
                .query(&params[..needed.min(params.len())])
                .map_err(|error| raised(error, &call.last))?;
            let value = match rows.next().map_err(|error| raised(error, &call.last))? {
                Some(row) => row.get::<_, SqlValue>(0).map_err(database_error)?,
                None => SqlValue::Null,
            };
            Ok(Outcome::Scalar(to_json(value, pg_type)))
        }
        Shape::Rows(rows, count) => Ok(Outcome::Rows(run_read(
            connection,
            rows,
            count.as_deref(),
            &call.params,
        )?)),
    }
}

fn raised(error: rusqlite::Error, sql: &str) -> RestError {
    tracing::debug!(%sql, "function statement failed");
    constraint_error(error, None)
}

/// A stored scalar as the JSON value Postgres would send for its type.
fn to_json(value: SqlValue, pg_type: &PgType) -> Value {
    match (value, pg_type) {
        (SqlValue::Null, _) => Value::Null,
        (SqlValue::Integer(flag), PgType::Boolean) => Value::Bool(flag != 0),
        (SqlValue::Integer(integer), _) => Value::from(integer),
        (SqlValue::Real(real), _) => {
            serde_json::Number::from_f64(real).map_or(Value::Null, Value::Number)
        }
        (SqlValue::Text(text), PgType::Json | PgType::Jsonb | PgType::Array(_)) => {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        (SqlValue::Text(text), _) => Value::String(text),
        (SqlValue::Blob(bytes), _) => Value::String(format!(
            "\\x{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_parameters_are_replaced_outside_quotes_only() {
        let replacements = [
            ("min".to_owned(), "?1".to_owned()),
            ("name".to_owned(), "?2".to_owned()),
        ];
        assert_eq!(
            substitute_parameters(
                "select * from t where price >= :min and label = ':name' and n = :name",
                &replacements
            ),
            "select * from t where price >= ?1 and label = ':name' and n = ?2"
        );
    }

    #[test]
    fn scalars_render_as_postgres_json() {
        assert_eq!(
            to_json(SqlValue::Integer(1), &PgType::Boolean),
            Value::Bool(true)
        );
        assert_eq!(
            to_json(SqlValue::Text("[1,2]".into()), &PgType::Jsonb),
            serde_json::json!([1, 2])
        );
        assert_eq!(
            to_json(SqlValue::Integer(7), &PgType::BigInt),
            serde_json::json!(7)
        );
    }
}
