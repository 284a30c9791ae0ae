//! Exec: runs a parsed `Block` on a SQLite connection. Variables live in Rust; every expression
//! and query is SQLite SQL with the variables bound as parameters. EXCEPTION blocks run in a
//! savepoint (rolled back when a handler catches), as Postgres runs them in a subtransaction.

use std::collections::HashMap;

use rusqlite::Connection;
use rusqlite::types::Value;

use super::error::PgError;
use super::parse::{Block, LoopKind, Ref, Returned, Sql, Stmt, Target, VarType};
use crate::schema::PgType;

/// A row: column names and values in order.
pub type Row = Vec<(String, Value)>;

#[derive(Debug, Clone)]
enum Var {
    Scalar(Value, Option<PgType>),
    Record(Option<Row>),
}

/// What a body's RETURN handed back.
#[derive(Debug, Default)]
pub enum Outcome {
    #[default]
    Nothing,
    Value(Value),
    Record(Option<Row>),
}

enum Flow {
    Normal,
    Exit(Option<String>),
    Continue(Option<String>),
    Return(Outcome),
}

/// Runs DDL found in a DO block (the migration translator).
pub type Utility<'a> = &'a mut dyn FnMut(&str) -> Result<(), PgError>;

pub struct Machine<'a> {
    connection: &'a Connection,
    vars: HashMap<String, Var>,
    row_count: i64,
    /// Rows of RETURN NEXT / RETURN QUERY.
    pub output: Vec<Row>,
    /// `returns table (…)`: the output columns, which are also variables.
    out_columns: Vec<String>,
    utility: Option<Utility<'a>>,
    savepoints: usize,
    /// A trigger's NEW and OLD: absent ones read as NULL (a record never assigned is an
    /// error), and the columns' types render the record as JSON.
    trigger_records: HashMap<String, Vec<PgType>>,
}

impl<'a> Machine<'a> {
    pub fn new(connection: &'a Connection, utility: Option<Utility<'a>>) -> Self {
        let mut machine = Self {
            connection,
            vars: HashMap::new(),
            row_count: 0,
            output: Vec::new(),
            out_columns: Vec::new(),
            utility,
            savepoints: 0,
            trigger_records: HashMap::new(),
        };
        machine.set_scalar("found", Value::Integer(0), Some(PgType::Boolean));
        machine
    }

    pub fn set_scalar(&mut self, name: &str, value: Value, pg_type: Option<PgType>) {
        self.vars
            .insert(name.to_owned(), Var::Scalar(value, pg_type));
    }

    pub fn set_record(&mut self, name: &str, row: Option<Row>) {
        self.vars.insert(name.to_owned(), Var::Record(row));
    }

    /// A trigger's `new` or `old` (`None` when the event has none: it reads as NULL), whose
    /// columns have `types`.
    pub fn set_trigger_record(&mut self, name: &str, row: Option<Row>, types: &[PgType]) {
        self.set_record(name, row);
        self.trigger_records.insert(name.to_owned(), types.to_vec());
    }

    pub fn record(&self, name: &str) -> Option<Row> {
        match self.vars.get(name) {
            Some(Var::Record(row)) => row.clone(),
            _ => None,
        }
    }

    /// Declares the output columns (`returns table (…)`, OUT parameters) as variables, NULL
    /// unless an INOUT argument already set them.
    pub fn out_columns(&mut self, columns: Vec<(String, PgType)>) {
        for (name, pg_type) in &columns {
            if !self.vars.contains_key(name) {
                self.set_scalar(name, Value::Null, Some(pg_type.clone()));
            }
        }
        self.out_columns = columns.into_iter().map(|(name, _)| name).collect();
    }

    /// The output columns' current values, as RETURN NEXT or a bare RETURN hands them back.
    pub fn out_row(&self) -> Row {
        self.out_columns
            .iter()
            .map(|name| (name.clone(), self.scalar(name).unwrap_or(Value::Null)))
            .collect()
    }

    /// Runs the body; the outcome of its RETURN (nothing when it falls off the end).
    pub fn run(&mut self, block: &Block) -> Result<Outcome, PgError> {
        match self.block(block)? {
            Flow::Return(outcome) => Ok(outcome),
            Flow::Normal => Ok(Outcome::Nothing),
            Flow::Exit(_) | Flow::Continue(_) => Err(PgError::new(
                "42601",
                "EXIT or CONTINUE cannot be used outside a loop",
            )),
        }
    }

    fn block(&mut self, block: &Block) -> Result<Flow, PgError> {
        // Inner declarations shadow outer variables until the block ends.
        let saved: Vec<(String, Option<Var>)> = block
            .declarations
            .iter()
            .map(|declaration| {
                (
                    declaration.name.clone(),
                    self.vars.get(&declaration.name).cloned(),
                )
            })
            .collect();
        let result = self.block_body(block);
        for (name, var) in saved {
            match var {
                Some(var) => self.vars.insert(name, var),
                None => self.vars.remove(&name),
            };
        }
        match result? {
            Flow::Exit(Some(label)) if block.label.as_deref() == Some(label.as_str()) => {
                Ok(Flow::Normal)
            }
            flow => Ok(flow),
        }
    }

    fn block_body(&mut self, block: &Block) -> Result<Flow, PgError> {
        for declaration in &block.declarations {
            match &declaration.var_type {
                VarType::Record => self.set_record(&declaration.name, None),
                VarType::Composite(fields) => {
                    let nulls = fields.iter().map(|field| (field.clone(), Value::Null));
                    self.set_record(&declaration.name, Some(nulls.collect()));
                    if let Some(sql) = &declaration.default {
                        let value = self.value(sql)?;
                        self.assign(&Target::Var(declaration.name.clone()), value)?;
                    }
                }
                VarType::Scalar(pg_type) => {
                    let value = match &declaration.default {
                        Some(sql) => coerce(self.value(sql)?, pg_type)?,
                        None => Value::Null,
                    };
                    if declaration.not_null && value == Value::Null {
                        return Err(PgError::new(
                            "22004",
                            format!(
                                "variable \"{}\" must have a default value, since it's declared NOT NULL",
                                declaration.name
                            ),
                        ));
                    }
                    self.set_scalar(&declaration.name, value, Some(pg_type.clone()));
                }
            }
        }
        if block.handlers.is_empty() {
            return self.statements(&block.body);
        }
        self.savepoints += 1;
        let savepoint = format!("plpgsql_block_{}", self.savepoints);
        self.execute_batch(&format!("SAVEPOINT {savepoint}"))?;
        let result = self.statements(&block.body);
        self.savepoints -= 1;
        match result {
            Ok(flow) => {
                self.execute_batch(&format!("RELEASE {savepoint}"))?;
                Ok(flow)
            }
            Err(error) => {
                let Some(handler) = block
                    .handlers
                    .iter()
                    .find(|handler| handler.codes.iter().any(|code| catches(code, &error.code)))
                else {
                    self.execute_batch(&format!("ROLLBACK TO {savepoint}; RELEASE {savepoint}"))?;
                    return Err(error);
                };
                self.execute_batch(&format!("ROLLBACK TO {savepoint}; RELEASE {savepoint}"))?;
                let saved = (
                    self.vars.get("sqlerrm").cloned(),
                    self.vars.get("sqlstate").cloned(),
                );
                self.set_scalar("sqlerrm", Value::Text(error.message.clone()), None);
                self.set_scalar("sqlstate", Value::Text(error.code.clone()), None);
                let flow = self.statements(&handler.body);
                for (name, var) in [("sqlerrm", saved.0), ("sqlstate", saved.1)] {
                    match var {
                        Some(var) => self.vars.insert(name.to_owned(), var),
                        None => self.vars.remove(name),
                    };
                }
                flow
            }
        }
    }

    fn statements(&mut self, statements: &[Stmt]) -> Result<Flow, PgError> {
        for statement in statements {
            match self.statement(statement)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn statement(&mut self, statement: &Stmt) -> Result<Flow, PgError> {
        match statement {
            Stmt::Assign(target, sql) => {
                let value = self.value(sql)?;
                self.assign(target, value)?;
            }
            Stmt::If {
                branches,
                otherwise,
            } => {
                for (condition, body) in branches {
                    if truthy(&self.value(condition)?) {
                        return self.statements(body);
                    }
                }
                return self.statements(otherwise);
            }
            Stmt::Loop { label, kind, body } => return self.run_loop(label.as_deref(), kind, body),
            Stmt::Exit { label, when, next } => {
                if let Some(when) = when
                    && !truthy(&self.value(when)?)
                {
                    return Ok(Flow::Normal);
                }
                return Ok(if *next {
                    Flow::Continue(label.clone())
                } else {
                    Flow::Exit(label.clone())
                });
            }
            Stmt::Return(returned) => {
                let outcome = match returned {
                    None => Outcome::Nothing,
                    Some(Returned::Value(sql)) => Outcome::Value(self.value(sql)?),
                    Some(Returned::Record(name)) => Outcome::Record(self.record(name)),
                };
                return Ok(Flow::Return(outcome));
            }
            Stmt::ReturnNext(returned) => {
                let row = match returned {
                    None => self.out_row(),
                    Some(Returned::Record(name)) => self.record(name).unwrap_or_default(),
                    Some(Returned::Value(sql)) => vec![("value".to_owned(), self.value(sql)?)],
                };
                self.output.push(row);
            }
            Stmt::ReturnQuery(sql) => {
                let rows = self.rows(sql)?;
                self.set_found(!rows.is_empty());
                self.output.extend(rows);
            }
            Stmt::Raise {
                level,
                format,
                args,
                options,
            } => self.raise(level, format.as_deref(), args, options)?,
            Stmt::Query { sql, into, strict } => {
                let rows = self.rows(sql)?;
                self.set_found(!rows.is_empty() || self.row_count > 0);
                if !into.is_empty() {
                    if *strict && rows.len() != 1 {
                        return Err(if rows.is_empty() {
                            PgError::new("P0002", "query returned no rows")
                        } else {
                            PgError::new("P0003", "query returned more than one row")
                        });
                    }
                    self.set_found(!rows.is_empty());
                    self.store_row(into, rows.into_iter().next())?;
                }
            }
            Stmt::GetDiagnostics(targets) => {
                for target in targets {
                    self.assign(target, Value::Integer(self.row_count))?;
                }
            }
            Stmt::Block(block) => return self.block(block),
            Stmt::Utility(text) => match self.utility.as_mut() {
                Some(utility) => utility(text)?,
                None => {
                    return Err(PgError::new(
                        "0A000",
                        "utility statements run only in DO blocks",
                    ));
                }
            },
            Stmt::Null => {}
        }
        Ok(Flow::Normal)
    }

    fn run_loop(
        &mut self,
        label: Option<&str>,
        kind: &LoopKind,
        body: &[Stmt],
    ) -> Result<Flow, PgError> {
        // Ok(Some(flow)): leave the loop with that flow; Ok(None): go on iterating.
        let iterate = |machine: &mut Self| -> Result<Option<Flow>, PgError> {
            match machine.statements(body)? {
                Flow::Normal => Ok(None),
                Flow::Continue(None) => Ok(None),
                Flow::Continue(Some(name)) if Some(name.as_str()) == label => Ok(None),
                Flow::Exit(None) => Ok(Some(Flow::Normal)),
                Flow::Exit(Some(name)) if Some(name.as_str()) == label => Ok(Some(Flow::Normal)),
                other => Ok(Some(other)),
            }
        };
        match kind {
            LoopKind::Plain => loop {
                if let Some(flow) = iterate(self)? {
                    return Ok(flow);
                }
            },
            LoopKind::While(condition) => {
                while truthy(&self.value(condition)?) {
                    if let Some(flow) = iterate(self)? {
                        return Ok(flow);
                    }
                }
                Ok(Flow::Normal)
            }
            LoopKind::Range {
                var,
                low,
                high,
                step,
                reverse,
            } => {
                let bound = |machine: &mut Self, sql: &Sql, what: &str| -> Result<i64, PgError> {
                    match coerce(machine.value(sql)?, &PgType::BigInt)? {
                        Value::Integer(number) => Ok(number),
                        _ => Err(PgError::new(
                            "22004",
                            format!("{what} bound of FOR loop cannot be null"),
                        )),
                    }
                };
                let from = bound(self, low, "lower")?;
                let to = bound(self, high, "upper")?;
                let step = match step {
                    Some(sql) => bound(self, sql, "BY value")?,
                    None => 1,
                };
                if step <= 0 {
                    return Err(PgError::new(
                        "22023",
                        "BY value of FOR loop must be greater than zero",
                    ));
                }
                let saved = self.vars.get(var).cloned();
                let mut current = from;
                let mut ran = false;
                let mut result = Flow::Normal;
                while (!reverse && current <= to) || (*reverse && current >= to) {
                    ran = true;
                    self.set_scalar(var, Value::Integer(current), Some(PgType::Integer));
                    if let Some(flow) = iterate(self)? {
                        result = flow;
                        break;
                    }
                    current = if *reverse {
                        current - step
                    } else {
                        current + step
                    };
                }
                if let Some(saved) = saved {
                    self.vars.insert(var.clone(), saved);
                }
                self.set_found(ran);
                Ok(result)
            }
            LoopKind::ForEach { target, array } => {
                let elements = match self.value(array)? {
                    Value::Null => {
                        return Err(PgError::new("22004", "FOREACH expression must not be null"));
                    }
                    Value::Text(text) => match serde_json::from_str(&text) {
                        Ok(serde_json::Value::Array(elements)) => elements,
                        _ => {
                            return Err(PgError::new(
                                "42804",
                                "FOREACH expression must yield an array",
                            ));
                        }
                    },
                    _ => {
                        return Err(PgError::new(
                            "42804",
                            "FOREACH expression must yield an array",
                        ));
                    }
                };
                let mut result = Flow::Normal;
                for element in elements {
                    self.assign(target, sql_value(element))?;
                    if let Some(flow) = iterate(self)? {
                        result = flow;
                        break;
                    }
                }
                Ok(result)
            }
            LoopKind::Query { targets, query } => {
                let rows = self.rows(query)?;
                let ran = !rows.is_empty();
                let into: Vec<Target> = targets.iter().cloned().map(Target::Var).collect();
                let own_record = targets.len() == 1 && !self.vars.contains_key(&targets[0]);
                let mut result = Flow::Normal;
                for row in rows {
                    if own_record {
                        self.set_record(&targets[0], Some(row));
                    } else {
                        self.store_row(&into, Some(row))?;
                    }
                    if let Some(flow) = iterate(self)? {
                        result = flow;
                        break;
                    }
                }
                if own_record {
                    self.vars.remove(&targets[0]);
                }
                self.set_found(ran);
                Ok(result)
            }
        }
    }

    fn raise(
        &mut self,
        level: &str,
        format: Option<&str>,
        args: &[Sql],
        options: &[(String, Sql)],
    ) -> Result<(), PgError> {
        let mut values = Vec::new();
        for arg in args {
            values.push(display(&self.value(arg)?));
        }
        let mut error = PgError::new(
            "P0001",
            format.map(|f| render(f, &values)).unwrap_or_default(),
        );
        for (option, sql) in options {
            let text = display(&self.value(sql)?);
            match option.as_str() {
                "message" => error.message = text,
                "detail" => error.detail = Some(text),
                "hint" => error.hint = Some(text),
                _ => {
                    error.code = super::parse::condition_code(&text)
                        .filter(|code| *code != "*")
                        .map(str::to_owned)
                        .unwrap_or(text)
                }
            }
        }
        if level == "exception" {
            return Err(error);
        }
        tracing::info!("{}: {}", level.to_ascii_uppercase(), error.message);
        Ok(())
    }

    fn set_found(&mut self, found: bool) {
        self.set_scalar("found", Value::Integer(found.into()), Some(PgType::Boolean));
    }

    fn scalar(&self, name: &str) -> Option<Value> {
        match self.vars.get(name) {
            Some(Var::Scalar(value, _)) => Some(value.clone()),
            _ => None,
        }
    }

    fn assign(&mut self, target: &Target, value: Value) -> Result<(), PgError> {
        match target {
            Target::Var(name) => match self.vars.get_mut(name) {
                Some(Var::Scalar(slot, pg_type)) => {
                    *slot = match pg_type {
                        Some(pg_type) => coerce(value, pg_type)?,
                        None => value,
                    };
                    Ok(())
                }
                // A composite value (a JSON object, as `http_get(…)` answers) fills the record.
                Some(Var::Record(row)) => match composite(&value) {
                    Some(fields) => {
                        *row = Some(fields);
                        Ok(())
                    }
                    None => Err(PgError::new(
                        "42804",
                        format!("cannot assign a single value to the record \"{name}\""),
                    )),
                },
                None => Err(no_variable(name)),
            },
            Target::Field(record, field) => {
                let Some(Var::Record(row)) = self.vars.get_mut(record) else {
                    return Err(PgError::new(
                        "42703",
                        format!("record \"{record}\" does not exist"),
                    ));
                };
                let row = row.as_mut().ok_or_else(|| unassigned(record))?;
                let index = row
                    .iter()
                    .position(|(name, _)| name == field)
                    .ok_or_else(|| no_field(record, field))?;
                // A field of NEW or OLD takes its column's type, as Postgres's assignment casts.
                row[index].1 = match self
                    .trigger_records
                    .get(record)
                    .and_then(|types| types.get(index))
                {
                    Some(pg_type) => coerce(value, pg_type)?,
                    None => value,
                };
                Ok(())
            }
        }
    }

    /// SELECT … INTO: a record target takes the whole row, scalars take the columns in order.
    fn store_row(&mut self, into: &[Target], row: Option<Row>) -> Result<(), PgError> {
        if let [Target::Var(name)] = into
            && matches!(self.vars.get(name), Some(Var::Record(_)))
        {
            self.set_record(name, row);
            return Ok(());
        }
        for (index, target) in into.iter().enumerate() {
            let value = row
                .as_ref()
                .and_then(|row| row.get(index))
                .map(|(_, value)| value.clone())
                .unwrap_or(Value::Null);
            self.assign(target, value)?;
        }
        Ok(())
    }

    fn bind(&self, refs: &[Ref]) -> Result<Vec<Value>, PgError> {
        refs.iter()
            .map(|reference| match reference {
                Ref::Var(name) => match self.vars.get(name) {
                    Some(Var::Scalar(value, _)) => Ok(value.clone()),
                    Some(Var::Record(_)) => Err(PgError::new(
                        "42804",
                        format!("the record \"{name}\" cannot be used as a value"),
                    )),
                    None => Err(no_variable(name)),
                },
                Ref::Record(name) => match self.vars.get(name) {
                    Some(Var::Record(Some(row))) => {
                        Ok(Value::Text(self.record_json(name, row).to_string()))
                    }
                    Some(Var::Record(None)) if self.trigger_records.contains_key(name) => {
                        Ok(Value::Null)
                    }
                    Some(Var::Record(None)) => Err(unassigned(name)),
                    _ => Err(no_variable(name)),
                },
                Ref::Field(record, field) => match self.vars.get(record) {
                    Some(Var::Record(Some(row))) => row
                        .iter()
                        .find(|(name, _)| name == field)
                        .map(|(_, value)| value.clone())
                        .ok_or_else(|| no_field(record, field)),
                    Some(Var::Record(None)) if self.trigger_records.contains_key(record) => {
                        Ok(Value::Null)
                    }
                    Some(Var::Record(None)) => Err(unassigned(record)),
                    _ => Err(PgError::new(
                        "42703",
                        format!("missing FROM-clause entry for table \"{record}\""),
                    )),
                },
            })
            .collect()
    }

    /// A record as `to_jsonb(record)` renders it: typed by its columns when they are known
    /// (a trigger's NEW and OLD), else by the values SQLite holds.
    fn record_json(&self, name: &str, row: &Row) -> serde_json::Value {
        let types = self.trigger_records.get(name).map(Vec::as_slice);
        let json = row.iter().enumerate().map(|(index, (column, value))| {
            let value = match types.and_then(|types| types.get(index)) {
                Some(pg_type) => crate::rest::execute::scalar_json(value.into(), pg_type),
                None => crate::rest::execute::scalar_json(value.into(), &PgType::Text),
            };
            (column.clone(), value)
        });
        serde_json::Value::Object(json.collect())
    }

    /// The first column of the first row of `sql` (NULL when there is none).
    pub fn value(&mut self, sql: &Sql) -> Result<Value, PgError> {
        let rows = self.rows(sql)?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next())
            .map(|(_, value)| value)
            .unwrap_or(Value::Null))
    }

    /// Runs `sql` and collects its rows; `row_count` is the rows answered or changed.
    fn rows(&mut self, sql: &Sql) -> Result<Vec<Row>, PgError> {
        let values = self.bind(&sql.refs)?;
        let mut statement = self.connection.prepare(&sql.text).map_err(PgError::from)?;
        let names = column_names(&statement);
        let rows = statement
            .query(rusqlite::params_from_iter(values))
            .map_err(PgError::from)?;
        let mut collected = collect(rows, &names)?;
        // A write under the caller's policies returns each row's `with check` last.
        if names.last().map(String::as_str) == Some(crate::store::functions::CHECK_COLUMN) {
            for row in &mut collected {
                row.pop();
            }
        }
        let readonly = statement.readonly();
        drop(statement);
        self.row_count = if readonly || !collected.is_empty() {
            collected.len() as i64
        } else {
            self.connection.changes() as i64
        };
        Ok(collected)
    }

    fn execute_batch(&self, sql: &str) -> Result<(), PgError> {
        self.connection.execute_batch(sql).map_err(PgError::from)
    }
}

pub fn column_names(statement: &rusqlite::Statement) -> Vec<String> {
    statement.column_names().map(str::to_owned).collect()
}

/// The rows a statement answers, each value named by its column.
pub fn collect(mut rows: rusqlite::Rows, names: &[String]) -> Result<Vec<Row>, PgError> {
    let mut collected = Vec::new();
    while let Some(row) = rows.next().map_err(PgError::from)? {
        let mut values = Vec::with_capacity(names.len());
        for (index, name) in names.iter().enumerate() {
            values.push((
                name.clone(),
                row.get::<_, Value>(index).map_err(PgError::from)?,
            ));
        }
        collected.push(values);
    }
    Ok(collected)
}

fn no_variable(name: &str) -> PgError {
    PgError::new("42703", format!("variable \"{name}\" does not exist"))
}

fn unassigned(record: &str) -> PgError {
    PgError::new("55000", format!("record \"{record}\" is not assigned yet"))
}

fn no_field(record: &str, field: &str) -> PgError {
    PgError::new(
        "42703",
        format!("record \"{record}\" has no field \"{field}\""),
    )
}

fn catches(code: &str, raised: &str) -> bool {
    match code {
        // OTHERS catches everything but query cancellation.
        "*" => raised != "57014",
        // A class code (`23000`) catches its whole class.
        _ if code.ends_with("000") => raised.starts_with(&code[..2]),
        _ => code == raised,
    }
}

/// Whether a condition's value is true (NULL is not).
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Integer(number) => *number != 0,
        Value::Real(number) => *number != 0.0,
        Value::Text(text) => matches!(
            text.to_ascii_lowercase().as_str(),
            "t" | "true" | "1" | "yes" | "on"
        ),
        Value::Null | Value::Blob(_) => false,
    }
}

/// A value as Postgres prints it in a message.
fn display(value: &Value) -> String {
    match value {
        Value::Null => "<NULL>".into(),
        Value::Integer(number) => number.to_string(),
        Value::Real(number) => number.to_string(),
        Value::Text(text) => text.clone(),
        Value::Blob(bytes) => hex(bytes),
    }
}

/// `bytea` as Postgres prints it: `\x` and hex digits.
pub fn hex(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("\\x{digits}")
}

/// RAISE's format: each `%` takes the next argument, `%%` is a percent sign.
fn render(format: &str, values: &[String]) -> String {
    let mut out = String::new();
    let mut values = values.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            if chars.peek() == Some(&'%') {
                chars.next();
                out.push('%');
            } else {
                out.push_str(values.next().map_or("", String::as_str));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A value stored into a variable of `pg_type`, as Postgres's assignment cast would.
/// A JSON value as SQLite holds it: booleans 0/1, arrays and objects as their JSON text.
fn sql_value(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(flag) => Value::Integer(flag.into()),
        serde_json::Value::Number(number) => number
            .as_i64()
            .map(Value::Integer)
            .or_else(|| number.as_f64().map(Value::Real))
            .unwrap_or(Value::Null),
        serde_json::Value::String(text) => Value::Text(text),
        nested => Value::Text(nested.to_string()),
    }
}

/// The fields of a composite value, which SQL holds as the JSON object of its fields.
fn composite(value: &Value) -> Option<Row> {
    let Value::Text(text) = value else {
        return None;
    };
    match serde_json::from_str(text).ok()? {
        serde_json::Value::Object(fields) => Some(
            fields
                .into_iter()
                .map(|(field, value)| (field, sql_value(value)))
                .collect(),
        ),
        _ => None,
    }
}

pub fn coerce(value: Value, pg_type: &PgType) -> Result<Value, PgError> {
    let invalid = |text: &str| {
        PgError::new(
            "22P02",
            format!(
                "invalid input syntax for type {}: \"{text}\"",
                pg_type.pg_name()
            ),
        )
    };
    Ok(match (pg_type, value) {
        (_, Value::Null) => Value::Null,
        // An array literal (`'{a,b}'`) becomes the JSON text arrays are stored as.
        (PgType::Array(_), Value::Text(text)) if text.trim_start().starts_with('{') => Value::Text(
            crate::migrate::values::array_literal_to_json(&text).ok_or_else(|| invalid(&text))?,
        ),
        (PgType::SmallInt | PgType::Integer | PgType::BigInt, Value::Real(number)) => {
            Value::Integer(number.round() as i64)
        }
        (PgType::SmallInt | PgType::Integer | PgType::BigInt, Value::Text(text)) => {
            Value::Integer(text.trim().parse().map_err(|_| invalid(&text))?)
        }
        (PgType::Boolean, Value::Integer(number)) => Value::Integer((number != 0).into()),
        (PgType::Boolean, Value::Text(text)) => match text.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "yes" | "on" | "1" | "y" => Value::Integer(1),
            "f" | "false" | "no" | "off" | "0" | "n" => Value::Integer(0),
            _ => return Err(invalid(&text)),
        },
        (PgType::Decimal { precision, scale }, value) => {
            crate::store::numeric::fit_value(value, *precision, *scale)?
        }
        (PgType::Numeric | PgType::Real | PgType::Double, Value::Text(text)) => {
            let number: f64 = text.trim().parse().map_err(|_| invalid(&text))?;
            if number.fract() == 0.0 && *pg_type == PgType::Numeric {
                Value::Integer(number as i64)
            } else {
                Value::Real(number)
            }
        }
        (
            PgType::Text | PgType::Varchar(_) | PgType::Char(_) | PgType::Uuid,
            Value::Integer(number),
        ) => Value::Text(number.to_string()),
        (PgType::Text | PgType::Varchar(_) | PgType::Char(_), Value::Real(number)) => {
            Value::Text(number.to_string())
        }
        (_, value) => value,
    })
}
