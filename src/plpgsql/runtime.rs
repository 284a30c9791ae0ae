//! Runtime: the SQLite functions through which the store runs the project's functions.
//! `pg_call(name, args…)` calls a function (plpgsql through the interpreter, `language sql` by
//! running its translated body); `pg_trigger(descriptor, rowid, new…, old…)` runs a table's
//! row triggers; `pg_triggers_armed()` is false while a BEFORE trigger's changes to NEW are
//! written back. Functions are read from `_solobase_functions` on the calling connection, so a
//! migration sees the functions it just created and every connection sees the same ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::error::PgError;
use super::exec::{Machine, Outcome, Row, coerce, collect, column_names, hex};
use super::parse::Sql;
use crate::schema::{Function, FunctionLanguage, FunctionReturn, Invoked, PgType, QualifiedName};
use crate::store::functions::Session;
use crate::store::naming::{quote_ident, table_ident};

pub const FUNCTIONS_TABLE: &str = "_solobase_functions";

/// Calls nested deeper than this fail, as Postgres's `max_stack_depth` would stop them.
const MAX_DEPTH: usize = 64;

/// Records `function` where every connection's `pg_call` finds it.
pub fn store_function(connection: &Connection, function: &Function) -> rusqlite::Result<()> {
    connection.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {FUNCTIONS_TABLE} (name TEXT PRIMARY KEY, definition TEXT NOT NULL)"
    ))?;
    let definition = serde_json::to_string(function).expect("a function serializes");
    connection.execute(
        &format!("INSERT OR REPLACE INTO {FUNCTIONS_TABLE} (name, definition) VALUES (?1, ?2)"),
        [function.signature(), definition],
    )?;
    Ok(())
}

/// Removes the overload `function` from `_solobase_functions`.
pub fn drop_function(connection: &Connection, function: &Function) -> rusqlite::Result<()> {
    let exists: Option<String> = connection
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [FUNCTIONS_TABLE],
            |row| row.get(0),
        )
        .optional()?;
    if exists.is_some() {
        connection.execute(
            &format!("DELETE FROM {FUNCTIONS_TABLE} WHERE name = ?1"),
            [function.signature()],
        )?;
    }
    Ok(())
}

/// One table's row triggers for one timing and event, as the SQLite trigger passes them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Descriptor {
    pub table: QualifiedName,
    /// `BEFORE` or `AFTER`.
    pub timing: String,
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub event: String,
    pub columns: Vec<String>,
    /// The columns' types, which render NEW and OLD as JSON (absent in triggers installed
    /// before they were recorded: the values are then rendered as SQLite holds them).
    #[serde(default)]
    pub types: Vec<PgType>,
    /// In Postgres's firing order (by name).
    pub triggers: Vec<RowTrigger>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowTrigger {
    pub name: String,
    pub function: QualifiedName,
    pub args: Vec<String>,
    /// The `when (…)` condition over `new`/`old`.
    pub when: Option<Sql>,
}

/// A BEFORE trigger's NEW, waiting to be written by the AFTER trigger of the same row.
#[derive(Debug)]
struct Pending {
    table: QualifiedName,
    /// The row as SQLite writes it (matched against the AFTER trigger's NEW).
    original: Row,
    rowid: Option<i64>,
    changed: Row,
}

#[derive(Default)]
struct State {
    functions: HashMap<String, (String, Arc<Function>)>,
    pending: Vec<Pending>,
    disarmed: bool,
    depth: usize,
    /// Who the connection's job runs for (`Session::role`).
    session: Arc<Session>,
    /// How many `security definer` functions are running: inside one, functions run as its
    /// owner, without the caller's policies.
    elevated: usize,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers `pg_call`, `pg_trigger`, `pg_triggers_armed` and `pg_arm_triggers` on a
/// connection.
pub fn register(connection: &Connection, session: Arc<Session>) -> rusqlite::Result<()> {
    let state: Shared = Arc::new(Mutex::new(State {
        session,
        ..State::default()
    }));
    let flags = FunctionFlags::SQLITE_UTF8;

    let call_state = state.clone();
    connection.create_scalar_function("pg_call", -1, flags, move |context| {
        let name: String = context.get(0)?;
        let args = (1..context.len())
            .map(|index| context.get::<Value>(index))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // SAFETY: the connection is used only on this thread, for the duration of the call.
        let connection = unsafe { context.get_connection()? };
        nested(&call_state, || call(&call_state, &connection, &name, args)).map_err(user_error)
    })?;

    let trigger_state = state.clone();
    connection.create_scalar_function("pg_trigger", -1, flags, move |context| {
        let descriptor = descriptor(context)?;
        let rowid: Option<i64> = context.get(1)?;
        let values = (2..context.len())
            .map(|index| context.get::<Value>(index))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        // SAFETY: as above.
        let connection = unsafe { context.get_connection()? };
        nested(&trigger_state, || {
            fire(&trigger_state, &connection, &descriptor, rowid, values)
        })
        .map_err(user_error)
    })?;

    // `array || array` for arrays stored as JSON text; NULL on one side leaves the other.
    connection.create_scalar_function("pg_array_cat", 2, flags, |context| {
        let parse = |index: usize| -> rusqlite::Result<Option<Vec<serde_json::Value>>> {
            let text: Option<String> = context.get(index)?;
            text.map(|text| {
                serde_json::from_str(&text)
                    .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
            })
            .transpose()
        };
        Ok(match (parse(0)?, parse(1)?) {
            (Some(mut left), Some(right)) => {
                left.extend(right);
                Some(serde_json::Value::Array(left).to_string())
            }
            (Some(one), None) | (None, Some(one)) => {
                Some(serde_json::Value::Array(one).to_string())
            }
            (None, None) => None,
        })
    })?;

    let armed = state.clone();
    connection.create_scalar_function("pg_triggers_armed", 0, flags, move |_| {
        Ok(!lock(&armed).disarmed)
    })?;
    // Disarms (0) or rearms (1) the row triggers around a write that is no change of the
    // table's values (a row moved to the end of its table by REST).
    connection.create_scalar_function("pg_arm_triggers", 1, flags, move |context| {
        lock(&state).disarmed = !context.get::<bool>(0)?;
        Ok(true)
    })?;
    Ok(())
}

fn descriptor(context: &Context) -> rusqlite::Result<Arc<Descriptor>> {
    context.get_or_create_aux(0, |value| {
        serde_json::from_str::<Descriptor>(value.as_str()?)
            .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
    })
}

fn user_error(error: PgError) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(error))
}

fn nested<T>(state: &Shared, run: impl FnOnce() -> Result<T, PgError>) -> Result<T, PgError> {
    {
        let mut state = lock(state);
        if state.depth >= MAX_DEPTH {
            return Err(PgError::new("54001", "stack depth limit exceeded"));
        }
        state.depth += 1;
    }
    let result = run();
    let mut state = lock(state);
    state.depth -= 1;
    if state.depth == 0 && result.is_err() {
        state.pending.clear();
    }
    result
}

/// What `function` runs now: `None` to run it as written (a `security definer` function, one
/// called inside one, or the server's own job), else its body as the caller's role runs it.
fn invoked<'f>(state: &Shared, function: &'f Function) -> Result<Option<&'f Invoked>, PgError> {
    let role = {
        let state = lock(state);
        if function.security_definer || state.elevated > 0 {
            return Ok(None);
        }
        state.session.role()
    };
    let Some(role) = role else {
        return Ok(None);
    };
    function
        .run_as(&role)
        .map(Some)
        .map_err(|message| PgError::new("42501", message))
}

/// Runs `run` as the owner of `function` when it is `security definer`.
fn as_owner<T>(
    state: &Shared,
    function: &Function,
    run: impl FnOnce() -> Result<T, PgError>,
) -> Result<T, PgError> {
    if !function.security_definer {
        return run();
    }
    lock(state).elevated += 1;
    let result = run();
    lock(state).elevated -= 1;
    result
}

/// The overload whose signature is `name` (`public.is_member(uuid)`); a database written
/// before overloads were kept has it under its bare name (`public.is_member`).
fn function(state: &Shared, connection: &Connection, name: &str) -> Result<Arc<Function>, PgError> {
    let bare = name.split_once('(').map_or(name, |(bare, _)| bare);
    let definition: Option<String> = connection
        .query_row(
            &format!(
                "SELECT definition FROM {FUNCTIONS_TABLE} WHERE name IN (?1, ?2) ORDER BY name = ?1 DESC LIMIT 1"
            ),
            [name, bare],
            |row| row.get(0),
        )
        .optional()
        .unwrap_or(None);
    let Some(definition) = definition else {
        return Err(PgError::new(
            "42883",
            format!("function {name} does not exist"),
        ));
    };
    let mut state = lock(state);
    if let Some((known, function)) = state.functions.get(name)
        && *known == definition
    {
        return Ok(function.clone());
    }
    let function: Arc<Function> = Arc::new(
        serde_json::from_str(&definition)
            .map_err(|error| PgError::new("XX000", format!("function {name}: {error}")))?,
    );
    state
        .functions
        .insert(name.to_owned(), (definition, function.clone()));
    Ok(function)
}

/// Calls the project function `name`; rows come back as a JSON array of objects.
fn call(
    state: &Shared,
    connection: &Connection,
    name: &str,
    mut args: Vec<Value>,
) -> Result<Value, PgError> {
    let function = function(state, connection, name)?;
    if args.len() > function.arguments.len() {
        return Err(PgError::new(
            "42883",
            format!("function {name} does not take {} arguments", args.len()),
        ));
    }
    for argument in &function.arguments[args.len()..] {
        let default = argument.default.as_deref().ok_or_else(|| {
            PgError::new(
                "42883",
                format!("function {name} needs its argument {}", argument.name),
            )
        })?;
        let sql = crate::migrate::expression::translate_expr_text(default)
            .map_err(|error| PgError::new("0A000", error.0))?;
        args.push(
            connection
                .query_row(&format!("SELECT {sql}"), [], |row| row.get(0))
                .map_err(PgError::from)?,
        );
    }
    let args: Vec<Value> = args
        .into_iter()
        .zip(&function.arguments)
        .map(|(value, argument)| coerce(value, &argument.pg_type))
        .collect::<Result<_, _>>()?;
    let invoked = invoked(state, &function)?;
    as_owner(state, &function, || match (function.language, invoked) {
        (FunctionLanguage::Sql, Some(Invoked::Body(body))) => {
            call_sql(connection, &function, body, &args)
        }
        (FunctionLanguage::Sql, _) => call_sql(
            connection,
            &function,
            function.sqlite_body.as_deref().unwrap_or_default(),
            &args,
        ),
        (FunctionLanguage::Plpgsql, Some(Invoked::Program(program))) => {
            call_plpgsql(connection, &function, program, args)
        }
        (FunctionLanguage::Plpgsql, _) => {
            let program = function.program.as_ref().ok_or_else(|| {
                PgError::new("XX000", format!("function {}() has no body", function.name))
            })?;
            call_plpgsql(connection, &function, program, args)
        }
    })
}

fn call_sql(
    connection: &Connection,
    function: &Function,
    body: &str,
    args: &[Value],
) -> Result<Value, PgError> {
    let statements: Vec<&str> = body
        .split(";\n")
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .collect();
    let mut rows = Vec::new();
    for text in statements {
        let mut statement = connection.prepare(text).map_err(PgError::from)?;
        for (argument, value) in function.arguments.iter().zip(args) {
            if let Some(index) = statement
                .parameter_index(&format!(":{}", argument.name))
                .map_err(PgError::from)?
            {
                statement
                    .raw_bind_parameter(index, value)
                    .map_err(PgError::from)?;
            }
        }
        let names = column_names(&statement);
        rows = collect(statement.raw_query(), &names)?;
    }
    result(function, Outcome::Nothing, rows)
}

fn call_plpgsql(
    connection: &Connection,
    function: &Function,
    program: &super::Program,
    args: Vec<Value>,
) -> Result<Value, PgError> {
    let mut machine = Machine::new(connection, None);
    for (argument, value) in function.arguments.iter().zip(args) {
        if argument.row.is_some() {
            machine.set_record(&argument.name, record(&value));
        } else {
            machine.set_scalar(&argument.name, value, Some(argument.pg_type.clone()));
        }
    }
    if let FunctionReturn::Table(columns) | FunctionReturn::Record(columns) = &function.returns {
        machine.out_columns(columns.clone());
    }
    let mut outcome = machine.run(&program.block)?;
    if matches!(function.returns, FunctionReturn::Record(_)) {
        outcome = Outcome::Record(Some(machine.out_row()));
    }
    let output = std::mem::take(&mut machine.output);
    result(function, outcome, output)
}

/// The SQLite value a call answers for `function`'s return type.
fn result(function: &Function, outcome: Outcome, rows: Vec<Row>) -> Result<Value, PgError> {
    match &function.returns {
        FunctionReturn::Void | FunctionReturn::Trigger => Ok(Value::Null),
        FunctionReturn::Scalar(pg_type) => {
            let value = match (function.language, outcome) {
                (FunctionLanguage::Sql, _) => rows
                    .into_iter()
                    .next()
                    .and_then(|row| row.into_iter().next())
                    .map(|(_, value)| value)
                    .unwrap_or(Value::Null),
                (_, Outcome::Value(value)) => value,
                (_, Outcome::Nothing) => {
                    return Err(PgError::new(
                        "2F005",
                        format!(
                            "control reached end of function {}() without RETURN",
                            function.name
                        ),
                    ));
                }
                (_, Outcome::Record(_)) => {
                    return Err(PgError::new(
                        "42804",
                        format!(
                            "function {}() returns a scalar, not a record",
                            function.name
                        ),
                    ));
                }
            };
            coerce(value, pg_type)
        }
        FunctionReturn::SetOf(pg_type) => {
            let values: Vec<serde_json::Value> = rows
                .into_iter()
                .filter_map(|row| row.into_iter().next())
                .map(|(_, value)| coerce(value, pg_type).map(json_value))
                .collect::<Result<_, _>>()?;
            Ok(Value::Text(serde_json::Value::Array(values).to_string()))
        }
        FunctionReturn::Rows { set: false, .. } => {
            let row = match outcome {
                Outcome::Record(row) => row,
                _ => rows.into_iter().next(),
            };
            Ok(Value::Text(rows_json(row.into_iter().collect())))
        }
        FunctionReturn::Record(columns) => {
            let row = match outcome {
                Outcome::Record(row) => row,
                _ => rows.into_iter().next(),
            };
            let row = row.map(|row| named(columns, row));
            match columns.as_slice() {
                [(_, pg_type)] => coerce(
                    row.and_then(|row| row.into_iter().next())
                        .map_or(Value::Null, |(_, value)| value),
                    pg_type,
                ),
                _ => Ok(Value::Text(rows_json(row.into_iter().collect()))),
            }
        }
        FunctionReturn::Table(columns) if function.language == FunctionLanguage::Sql => {
            let rows = rows.into_iter().map(|row| named(columns, row)).collect();
            Ok(Value::Text(rows_json(rows)))
        }
        FunctionReturn::Rows { .. } | FunctionReturn::Table(_) => Ok(Value::Text(rows_json(rows))),
    }
}

/// A row under the declared output columns: a SQL body's columns are matched by position,
/// whatever it named them.
fn named(columns: &[(String, PgType)], row: Row) -> Row {
    columns
        .iter()
        .zip(row)
        .map(|((name, _), (_, value))| (name.clone(), value))
        .collect()
}

fn rows_json(rows: Vec<Row>) -> String {
    let array: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|row| {
            serde_json::Value::Object(
                row.into_iter()
                    .map(|(name, value)| (name, json_value(value)))
                    .collect(),
            )
        })
        .collect();
    serde_json::Value::Array(array).to_string()
}

/// A row-typed argument's JSON object as a record, its fields in the object's order; NULL
/// (or anything but an object) is the null record.
fn record(value: &Value) -> Option<Row> {
    let Value::Text(text) = value else {
        return None;
    };
    let serde_json::Value::Object(object) = serde_json::from_str(text).ok()? else {
        return None;
    };
    Some(
        object
            .into_iter()
            .map(|(name, value)| {
                let value = match value {
                    serde_json::Value::Null => Value::Null,
                    serde_json::Value::Bool(flag) => Value::Integer(flag.into()),
                    serde_json::Value::Number(number) => number.as_i64().map_or_else(
                        || Value::Real(number.as_f64().unwrap_or_default()),
                        Value::Integer,
                    ),
                    serde_json::Value::String(text) => Value::Text(text),
                    nested => Value::Text(nested.to_string()),
                };
                (name, value)
            })
            .collect(),
    )
}

fn json_value(value: Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Integer(number) => number.into(),
        Value::Real(number) => number.into(),
        Value::Text(text) => text.into(),
        Value::Blob(bytes) => hex(&bytes).into(),
    }
}

/// Runs one row's triggers. BEFORE answers 0 to skip the row (a trigger returned NULL), else
/// 1; when they changed NEW, the change waits for the AFTER trigger, which writes it.
fn fire(
    state: &Shared,
    connection: &Connection,
    descriptor: &Descriptor,
    rowid: Option<i64>,
    values: Vec<Value>,
) -> Result<i64, PgError> {
    let width = descriptor.columns.len();
    let row = |values: &[Value]| -> Row {
        descriptor
            .columns
            .iter()
            .cloned()
            .zip(values.iter().cloned())
            .collect()
    };
    let (mut new, old) = match descriptor.event.as_str() {
        "INSERT" => (Some(row(&values[..width])), None),
        "UPDATE" => (Some(row(&values[..width])), Some(row(&values[width..]))),
        _ => (None, Some(row(&values[..width]))),
    };
    let before = descriptor.timing == "BEFORE";
    if !before && let Some(written) = new.as_ref() {
        new = Some(write_back(state, connection, descriptor, rowid, written)?);
    }
    let original = new.clone();
    for trigger in &descriptor.triggers {
        if let Some(when) = &trigger.when {
            let mut machine = Machine::new(connection, None);
            machine.set_record("new", new.clone());
            machine.set_record("old", old.clone());
            if !super::exec::truthy(&machine.value(when)?) {
                continue;
            }
        }
        let returned = run_trigger(
            state,
            connection,
            descriptor,
            trigger,
            new.clone(),
            old.clone(),
        )?;
        if before {
            match returned {
                None => return Ok(0),
                Some(row) if descriptor.event != "DELETE" => new = Some(conform(descriptor, row)?),
                Some(_) => {}
            }
        }
    }
    if before && let (Some(original), Some(new)) = (original, new) {
        let changed: Row = new
            .into_iter()
            .zip(&original)
            .filter(|((_, after), (_, before))| after != before)
            .map(|(pair, _)| pair)
            .collect();
        if !changed.is_empty() {
            lock(state).pending.push(Pending {
                table: descriptor.table.clone(),
                original,
                rowid: (descriptor.event == "UPDATE").then_some(rowid).flatten(),
                changed,
            });
        }
    }
    Ok(1)
}

/// A record returned by a BEFORE trigger as the table's row.
fn conform(descriptor: &Descriptor, row: Row) -> Result<Row, PgError> {
    descriptor
        .columns
        .iter()
        .map(|column| {
            row.iter()
                .find(|(name, _)| name == column)
                .map(|(_, value)| (column.clone(), value.clone()))
                .ok_or_else(|| {
                    PgError::new(
                        "42804",
                        format!(
                            "returned row structure does not match the structure of the triggering table (no column \"{column}\")"
                        ),
                    )
                })
        })
        .collect()
}

/// Writes the NEW a BEFORE trigger changed for this row, if one did; answers the row as stored.
fn write_back(
    state: &Shared,
    connection: &Connection,
    descriptor: &Descriptor,
    rowid: Option<i64>,
    written: &Row,
) -> Result<Row, PgError> {
    let pending = {
        let mut state = lock(state);
        let position = state.pending.iter().rposition(|pending| {
            pending.table == descriptor.table
                && match pending.rowid {
                    Some(known) => Some(known) == rowid,
                    None => pending
                        .original
                        .iter()
                        .zip(written)
                        // SQLite shows an automatic rowid as -1 (and defaults as NULL) before insert.
                        .all(|((_, before), (_, after))| {
                            matches!(before, Value::Null | Value::Integer(-1)) || before == after
                        }),
                }
        });
        match position {
            Some(position) => state.pending.remove(position),
            None => return Ok(written.clone()),
        }
    };
    let assignments: Vec<String> = pending
        .changed
        .iter()
        .enumerate()
        .map(|(index, (column, _))| format!("{} = ?{}", quote_ident(column), index + 1))
        .collect();
    let sql = format!(
        "UPDATE {} SET {} WHERE rowid = ?{}",
        table_ident(&descriptor.table),
        assignments.join(", "),
        pending.changed.len() + 1
    );
    let mut values: Vec<Value> = pending
        .changed
        .iter()
        .map(|(_, value)| value.clone())
        .collect();
    values.push(rowid.map_or(Value::Null, Value::Integer));
    lock(state).disarmed = true;
    let outcome = connection.execute(&sql, rusqlite::params_from_iter(values));
    lock(state).disarmed = false;
    outcome.map_err(PgError::from)?;
    Ok(written
        .iter()
        .map(|(column, value)| {
            let changed = pending.changed.iter().find(|(name, _)| name == column);
            (
                column.clone(),
                changed.map_or(value, |(_, value)| value).clone(),
            )
        })
        .collect())
}

fn run_trigger(
    state: &Shared,
    connection: &Connection,
    descriptor: &Descriptor,
    trigger: &RowTrigger,
    new: Option<Row>,
    old: Option<Row>,
) -> Result<Option<Row>, PgError> {
    let function = function(state, connection, &format!("{}()", trigger.function))?;
    let invoked = invoked(state, &function)?;
    let program = match invoked {
        Some(Invoked::Program(program)) => Some(program),
        _ => function.program.as_ref(),
    };
    let program = program.ok_or_else(|| {
        PgError::new(
            "XX000",
            format!(
                "function {}() is not a plpgsql trigger function",
                function.name
            ),
        )
    })?;
    let mut machine = Machine::new(connection, None);
    machine.set_trigger_record("new", new, &descriptor.types);
    machine.set_trigger_record("old", old, &descriptor.types);
    let text = |value: &str| Value::Text(value.to_owned());
    for (name, value) in [
        ("tg_op", text(&descriptor.event)),
        ("tg_name", text(&trigger.name)),
        ("tg_when", text(&descriptor.timing)),
        ("tg_level", text("ROW")),
        ("tg_table_name", text(&descriptor.table.name)),
        ("tg_relname", text(&descriptor.table.name)),
        ("tg_table_schema", text(&descriptor.table.schema)),
        ("tg_nargs", Value::Integer(trigger.args.len() as i64)),
    ] {
        machine.set_scalar(name, value, Some(PgType::Text));
    }
    match as_owner(state, &function, || machine.run(&program.block))? {
        Outcome::Record(row) => Ok(row),
        Outcome::Value(Value::Null) => Ok(None),
        Outcome::Value(_) => Err(PgError::new(
            "42804",
            format!(
                "trigger function {}() must return a row or NULL",
                function.name
            ),
        )),
        Outcome::Nothing => Err(PgError::new(
            "2F005",
            format!(
                "control reached end of trigger procedure {}() without RETURN",
                function.name
            ),
        )),
    }
}
