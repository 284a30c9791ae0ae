//! Plpgsql: the project's `language plpgsql` functions, triggers and `DO` blocks. A body is
//! parsed once, at migration time, into a `Program` (`parse`) whose expressions and queries are
//! already SQLite SQL; the store runs it with the interpreter (`exec`) through SQLite functions
//! (`runtime`), so triggers, policies, RPC and other SQL can call it on the same connection.

mod error;
mod exec;
mod lexer;
mod parse;
mod runtime;
#[cfg(test)]
mod tests;
mod triggers;

pub use error::PgError;
pub use exec::hex;
pub use parse::{Calls, Program, Secure, call_sql};
pub use runtime::{drop_function, register, store_function};
pub use triggers::{condition as trigger_condition, sync as sync_triggers};

use crate::schema::{Function, FunctionReturn, QualifiedName, SchemaCache};

/// Scalars every trigger function may read.
const TRIGGER_VARIABLES: [&str; 8] = [
    "tg_op",
    "tg_name",
    "tg_when",
    "tg_level",
    "tg_table_name",
    "tg_relname",
    "tg_table_schema",
    "tg_nargs",
];

/// Parses a function's plpgsql body; the error names what cannot run.
pub fn compile_function(cache: &SchemaCache, function: &Function) -> Result<Program, String> {
    compile(cache, function, None)
}

/// Parses a function's plpgsql body with its queries and expressions translated by `secure`
/// (as one role runs an invoker body).
pub fn compile_secured(
    cache: &SchemaCache,
    function: &Function,
    secure: &dyn Secure,
) -> Result<Program, String> {
    compile(cache, function, Some(secure))
}

fn compile(
    cache: &SchemaCache,
    function: &Function,
    secure: Option<&dyn Secure>,
) -> Result<Program, String> {
    let (rows, scalars): (Vec<_>, Vec<_>) = function
        .arguments
        .iter()
        .partition(|argument| argument.row.is_some());
    let mut scalars: Vec<String> = scalars
        .into_iter()
        .map(|argument| argument.name.clone())
        .collect();
    scalars.push("found".into());
    // A row-typed argument is a record: `t.col` reads its field.
    let mut records: Vec<String> = rows
        .into_iter()
        .map(|argument| argument.name.clone())
        .collect();
    match &function.returns {
        FunctionReturn::Trigger => {
            records.extend(["new".to_owned(), "old".to_owned()]);
            scalars.extend(TRIGGER_VARIABLES.map(str::to_owned));
        }
        FunctionReturn::Table(columns) | FunctionReturn::Record(columns) => {
            scalars.extend(columns.iter().map(|(name, _)| name.clone()));
        }
        _ => {}
    }
    let arrays = function
        .arguments
        .iter()
        .filter(|argument| matches!(argument.pg_type, crate::schema::PgType::Array(_)))
        .map(|argument| argument.name.clone())
        .collect();
    let outputs = match &function.returns {
        FunctionReturn::Table(columns) | FunctionReturn::Record(columns) => columns.as_slice(),
        _ => &[],
    };
    let ranges = function
        .arguments
        .iter()
        .map(|argument| (&argument.name, &argument.pg_type))
        .chain(outputs.iter().map(|(name, pg_type)| (name, pg_type)))
        .filter_map(|(name, pg_type)| Some((name.clone(), pg_type.range()?)))
        .collect();
    let context = parse::Context {
        cache,
        function: Some(&function.name),
        scalars,
        arrays,
        ranges,
        records,
        utility: false,
        secure,
    };
    parse::parse_body(&function.body, &context)
}

/// The SQLite statement RPC runs for a plpgsql function: its result as a value or as rows.
pub fn rpc_body(cache: &SchemaCache, function: &Function) -> String {
    let args: Vec<String> = function
        .arguments
        .iter()
        .map(|argument| format!(":{}", argument.name))
        .collect();
    let call = call_sql(function, &args);
    rows_sql(cache, function, &call).unwrap_or_else(|| format!("SELECT {call}"))
}

/// A `SELECT` of the rows `call` of `function` answers (its JSON array as columns); `None` when
/// it answers a single value.
fn rows_sql(cache: &SchemaCache, function: &Function, call: &str) -> Option<String> {
    let columns: Vec<String> = match &function.returns {
        FunctionReturn::Rows { table, .. } => cache
            .table(table)
            .map(|table| {
                table
                    .columns
                    .iter()
                    .map(|column| column.name.clone())
                    .collect()
            })
            .unwrap_or_default(),
        FunctionReturn::Table(columns) => columns.iter().map(|(name, _)| name.clone()).collect(),
        FunctionReturn::Record(columns) if columns.len() > 1 => {
            columns.iter().map(|(name, _)| name.clone()).collect()
        }
        FunctionReturn::SetOf(_) => {
            return Some(format!("SELECT value FROM json_each({call})"));
        }
        _ => return None,
    };
    let selected: Vec<String> = columns
        .iter()
        .map(|column| {
            format!(
                "json_extract(value, {}) AS {}",
                crate::store::naming::quote_literal(&format!(
                    "$.\"{}\"",
                    column.replace('"', "\\\"")
                )),
                crate::store::naming::quote_ident(column)
            )
        })
        .collect();
    Some(format!(
        "SELECT {} FROM json_each({call})",
        selected.join(", ")
    ))
}

/// Parses a `DO` block's body; it may contain DDL, which `execute_do` hands back.
pub fn compile_do(cache: &SchemaCache, body: &str) -> Result<Program, String> {
    let context = parse::Context {
        cache,
        function: None,
        scalars: vec!["found".into()],
        arrays: Vec::new(),
        ranges: Vec::new(),
        records: Vec::new(),
        utility: true,
        secure: None,
    };
    parse::parse_body(body, &context)
}

/// Runs a `DO` block; `utility` applies the DDL statements it contains.
pub fn execute_do(
    connection: &rusqlite::Connection,
    program: &Program,
    utility: exec::Utility,
) -> Result<(), PgError> {
    exec::Machine::new(connection, Some(utility))
        .run(&program.block)
        .map(|_| ())
}

/// A raised error as a one-line reason (`P0001: message`).
pub fn describe(error: &PgError) -> String {
    let mut text = format!("{}: {}", error.code, error.message);
    if let Some(detail) = &error.detail {
        text.push_str(&format!(" (detail: {detail})"));
    }
    text
}

/// The relations a function's body reads or writes.
pub fn relations(function: &Function) -> &[QualifiedName] {
    function
        .program
        .as_ref()
        .map_or(&[], |program| program.relations.as_slice())
}

/// The project's plpgsql function a SQL call `name(…)` with `arity` arguments means
/// (`is_admin()`, `auth.foo(x)`), if any (`SchemaCache::called`).
pub fn find<'a>(cache: &'a SchemaCache, name: &str, arity: usize) -> Option<&'a Function> {
    cache
        .called(name, arity)
        .filter(|function| function.language == crate::schema::FunctionLanguage::Plpgsql)
}
