//! Postgres sequences on SQLite. Each sequence is a row of `_solobase_sequences` (its options
//! and its state), written by the transaction that draws from it, so a value is durable when
//! the row that took it is; `nextval`, `currval`, `lastval` and `setval` are SQL functions
//! over that row, with Postgres's bounds, cycling and errors (2200H, 22003, 55000). As in
//! Postgres, a job that fails does not give its values back: `keep` writes the sequences it
//! moved again after its rollback, so a failed insert does not hand the same key to the next.

use std::sync::Arc;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::{Connection, OptionalExtension};

use super::functions::Session;
use crate::plpgsql::PgError;

/// The table holding every sequence, by its qualified name (`schema.name`).
pub const TABLE_SQL: &str = "CREATE TABLE IF NOT EXISTS _solobase_sequences (
    name TEXT PRIMARY KEY, last_value INTEGER NOT NULL, is_called INTEGER NOT NULL,
    start INTEGER NOT NULL, increment INTEGER NOT NULL, min INTEGER NOT NULL,
    max INTEGER NOT NULL, cycle INTEGER NOT NULL)";

/// What `create sequence` declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Definition {
    pub start: i64,
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub cycle: bool,
}

impl Definition {
    /// Postgres's defaults for a sequence of a type whose largest value is `type_max`, with
    /// the options given (`None`: not declared, or `no minvalue`/`no maxvalue`).
    pub fn new(
        type_max: i64,
        increment: Option<i64>,
        min: Option<i64>,
        max: Option<i64>,
        start: Option<i64>,
        cycle: bool,
    ) -> Result<Self, String> {
        let increment = increment.unwrap_or(1);
        if increment == 0 {
            return Err("INCREMENT must not be zero".into());
        }
        let (default_min, default_max) = if increment > 0 {
            (1, type_max)
        } else {
            (-type_max - 1, -1)
        };
        let min = min.unwrap_or(default_min);
        let max = max.unwrap_or(default_max);
        if min >= max {
            return Err(format!(
                "MINVALUE ({min}) must be less than MAXVALUE ({max})"
            ));
        }
        let start = start.unwrap_or(if increment > 0 { min } else { max });
        if start < min {
            return Err(format!(
                "START value ({start}) cannot be less than MINVALUE ({min})"
            ));
        }
        if start > max {
            return Err(format!(
                "START value ({start}) cannot be greater than MAXVALUE ({max})"
            ));
        }
        Ok(Self {
            start,
            increment,
            min,
            max,
            cycle,
        })
    }
}

/// Creates the sequence `name` (unused: its first `nextval` returns `start`).
pub fn create(
    connection: &Connection,
    name: &str,
    definition: &Definition,
) -> rusqlite::Result<()> {
    connection.execute_batch(TABLE_SQL)?;
    connection.execute(
        "INSERT OR REPLACE INTO _solobase_sequences VALUES (?1, ?2, 0, 0, 0, 0, 0, 0)",
        rusqlite::params![name, definition.start],
    )?;
    redefine(connection, name, definition)
}

/// The definition of sequence `name`, if it exists.
pub fn definition(connection: &Connection, name: &str) -> rusqlite::Result<Option<Definition>> {
    connection.execute_batch(TABLE_SQL)?;
    Ok(row(connection, name)?.map(|state| state.definition))
}

/// Changes the options of `name`, keeping its state (`alter sequence … increment by …`).
pub fn redefine(
    connection: &Connection,
    name: &str,
    definition: &Definition,
) -> rusqlite::Result<()> {
    connection.execute(
        "UPDATE _solobase_sequences SET start = ?2, increment = ?3, min = ?4, max = ?5, cycle = ?6 WHERE name = ?1",
        rusqlite::params![
            name,
            definition.start,
            definition.increment,
            definition.min,
            definition.max,
            definition.cycle
        ],
    )?;
    Ok(())
}

/// `alter sequence … restart [with n]`: the next `nextval` returns `next` (default: start).
pub fn restart(connection: &Connection, name: &str, next: Option<i64>) -> rusqlite::Result<()> {
    connection.execute(
        "UPDATE _solobase_sequences SET last_value = coalesce(?2, start), is_called = 0 WHERE name = ?1",
        rusqlite::params![name, next],
    )?;
    Ok(())
}

/// Renames sequence `from` to `to`.
pub fn rename(connection: &Connection, from: &str, to: &str) -> rusqlite::Result<()> {
    connection.execute(
        "UPDATE _solobase_sequences SET name = ?2 WHERE name = ?1",
        [from, to],
    )?;
    Ok(())
}

/// Drops sequence `name`.
pub fn drop(connection: &Connection, name: &str) -> rusqlite::Result<()> {
    connection.execute_batch(TABLE_SQL)?;
    connection.execute("DELETE FROM _solobase_sequences WHERE name = ?1", [name])?;
    Ok(())
}

/// The qualified name a `regclass` text names: `s`, `public.s`, `"public"."s"` (unquoted parts
/// fold to lower case; no schema means `public`).
pub fn resolve(text: &str) -> String {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut quoted = false;
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                part.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut part)),
            c if quoted => part.push(c),
            c => part.extend(c.to_lowercase()),
        }
    }
    parts.push(part);
    match parts.as_slice() {
        [name] => format!("public.{name}"),
        [.., schema, name] => format!("{schema}.{name}"),
        [] => String::new(),
    }
}

/// The name Postgres's messages use: the relation without its schema.
fn short(name: &str) -> &str {
    name.split_once('.').map_or(name, |(_, relation)| relation)
}

fn failure(code: &str, message: String) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(PgError::new(code, message)))
}

/// A write that failed because the connection is read-only is Postgres's 25006.
fn written(result: rusqlite::Result<usize>, function: &str) -> rusqlite::Result<()> {
    match result {
        Err(rusqlite::Error::SqliteFailure(error, _))
            if error.code == rusqlite::ErrorCode::ReadOnly =>
        {
            Err(failure(
                "25006",
                format!("cannot execute {function}() in a read-only transaction"),
            ))
        }
        other => other.map(|_| ()),
    }
}

struct State {
    last_value: i64,
    is_called: bool,
    definition: Definition,
}

fn row(connection: &Connection, name: &str) -> rusqlite::Result<Option<State>> {
    connection
        .query_row(
            "SELECT last_value, is_called, start, increment, min, max, cycle FROM _solobase_sequences WHERE name = ?1",
            [name],
            |row| {
                Ok(State {
                    last_value: row.get(0)?,
                    is_called: row.get(1)?,
                    definition: Definition {
                        start: row.get(2)?,
                        increment: row.get(3)?,
                        min: row.get(4)?,
                        max: row.get(5)?,
                        cycle: row.get(6)?,
                    },
                })
            },
        )
        .optional()
}

/// The state of sequence `name`, or Postgres's 42P01 when there is none.
fn state(connection: &Connection, name: &str) -> rusqlite::Result<State> {
    match row(connection, name) {
        Ok(Some(state)) => Ok(state),
        // No row, or no table yet (a database without sequences).
        Ok(None) | Err(rusqlite::Error::SqliteFailure(..)) => Err(failure(
            "42P01",
            format!("relation \"{}\" does not exist", short(name)),
        )),
        Err(other) => Err(other),
    }
}

/// Advances sequence `name` and returns its new value.
pub fn nextval(connection: &Connection, name: &str) -> rusqlite::Result<i64> {
    let State {
        last_value,
        is_called,
        definition,
    } = state(connection, name)?;
    let next = if !is_called {
        last_value
    } else {
        match last_value.checked_add(definition.increment) {
            Some(next) if (definition.min..=definition.max).contains(&next) => next,
            _ if definition.cycle && definition.increment > 0 => definition.min,
            _ if definition.cycle => definition.max,
            _ => {
                let (end, bound) = if definition.increment > 0 {
                    ("maximum", definition.max)
                } else {
                    ("minimum", definition.min)
                };
                return Err(failure(
                    "2200H",
                    format!(
                        "nextval: reached {end} value of sequence \"{}\" ({bound})",
                        short(name)
                    ),
                ));
            }
        }
    };
    written(
        connection.execute(
            "UPDATE _solobase_sequences SET last_value = ?2, is_called = 1 WHERE name = ?1",
            rusqlite::params![name, next],
        ),
        "nextval",
    )?;
    Ok(next)
}

/// `setval(name, value, is_called)`: the next `nextval` returns value + increment (or value
/// when `is_called` is false).
pub fn setval(
    connection: &Connection,
    name: &str,
    value: i64,
    is_called: bool,
) -> rusqlite::Result<i64> {
    let State { definition, .. } = state(connection, name)?;
    if !(definition.min..=definition.max).contains(&value) {
        return Err(failure(
            "22003",
            format!(
                "setval: value {value} is out of bounds for sequence \"{}\" ({}..{})",
                short(name),
                definition.min,
                definition.max
            ),
        ));
    }
    written(
        connection.execute(
            "UPDATE _solobase_sequences SET last_value = ?2, is_called = ?3 WHERE name = ?1",
            rusqlite::params![name, value, is_called],
        ),
        "setval",
    )?;
    Ok(value)
}

/// Writes where the job on `connection` left each sequence it moved, which its rollback (if
/// any) undid; a no-op for a job that committed them or moved none.
pub fn keep(connection: &Connection, session: &Session) -> rusqlite::Result<()> {
    for (name, (last_value, is_called)) in session.moved_sequences() {
        connection.execute(
            "UPDATE _solobase_sequences SET last_value = ?2, is_called = ?3 WHERE name = ?1",
            rusqlite::params![name, last_value, is_called],
        )?;
    }
    Ok(())
}

/// The connection a SQL function runs on, to read and write the sequences in its transaction.
fn connection_of<'c>(
    context: &'c Context<'_>,
) -> rusqlite::Result<rusqlite::functions::ConnectionRef<'c>> {
    // SAFETY: the connection is used only on this thread, for the duration of the call, to
    // run statements of its own; it is neither closed nor used on the calling statement.
    unsafe { context.get_connection() }
}

/// Registers `nextval`, `currval`, `lastval` and `setval`; `currval` and `lastval` answer
/// what `nextval` returned earlier in the same job (`session`).
pub fn register(connection: &Connection, session: Arc<Session>) -> rusqlite::Result<()> {
    let volatile = FunctionFlags::SQLITE_UTF8;
    let drawn = session.clone();
    connection.create_scalar_function("nextval", 1, volatile, move |context| {
        let name = resolve(&context.get::<String>(0)?);
        let value = nextval(&*connection_of(context)?, &name)?;
        drawn.moved(&name, value, true, true);
        Ok(value)
    })?;
    let current = session.clone();
    connection.create_scalar_function("currval", 1, volatile, move |context| {
        let name = resolve(&context.get::<String>(0)?);
        state(&*connection_of(context)?, &name)?;
        current.current(&name).ok_or_else(|| {
            failure(
                "55000",
                format!(
                    "currval of sequence \"{}\" is not yet defined in this session",
                    short(&name)
                ),
            )
        })
    })?;
    let last = session.clone();
    connection.create_scalar_function("lastval", 0, volatile, move |_| {
        last.last_drawn()
            .ok_or_else(|| failure("55000", "lastval is not yet defined in this session".into()))
    })?;
    connection.create_scalar_function("setval", -1, volatile, move |context| {
        if !(2..=3).contains(&context.len()) {
            return Err(failure(
                "42883",
                "function setval takes a sequence, a value and optionally is_called".into(),
            ));
        }
        let name = resolve(&context.get::<String>(0)?);
        let value: i64 = context.get(1)?;
        let is_called = context.len() < 3 || context.get::<bool>(2)?;
        let value = setval(&*connection_of(context)?, &name, value, is_called)?;
        session.moved(&name, value, is_called, false);
        Ok(value)
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        super::super::functions::register(&connection, Default::default()).unwrap();
        connection
    }

    fn query(connection: &Connection, sql: &str) -> Result<i64, PgError> {
        connection
            .query_row(sql, [], |row| row.get(0))
            .map_err(|error| {
                PgError::decode(&error).unwrap_or_else(|| PgError::new("?", error.to_string()))
            })
    }

    #[track_caller]
    fn fails(connection: &Connection, sql: &str, code: &str, message: &str) {
        let error = query(connection, sql).unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            (code, message),
            "{sql}"
        );
    }

    #[test]
    fn names_resolve_as_regclass_text_does() {
        assert_eq!(resolve("items_id_seq"), "public.items_id_seq");
        assert_eq!(resolve("Public.Items"), "public.items");
        assert_eq!(resolve(r#""app"."My ""Seq""""#), r#"app.My "Seq""#);
    }

    #[test]
    fn nextval_stops_at_the_bound_or_cycles() {
        let connection = connection();
        let bounded = Definition::new(i64::MAX, None, None, Some(2), None, false).unwrap();
        create(&connection, "public.s", &bounded).unwrap();
        assert_eq!(query(&connection, "select nextval('s')").unwrap(), 1);
        assert_eq!(query(&connection, "select nextval('s')").unwrap(), 2);
        fails(
            &connection,
            "select nextval('s')",
            "2200H",
            r#"nextval: reached maximum value of sequence "s" (2)"#,
        );
        let down = Definition::new(i64::MAX, Some(-1), Some(-2), Some(0), Some(0), false).unwrap();
        create(&connection, "public.down", &down).unwrap();
        for expected in [0, -1, -2] {
            assert_eq!(
                query(&connection, "select nextval('down')").unwrap(),
                expected
            );
        }
        fails(
            &connection,
            "select nextval('down')",
            "2200H",
            r#"nextval: reached minimum value of sequence "down" (-2)"#,
        );
        let cycling = Definition::new(i64::MAX, Some(2), None, Some(3), None, true).unwrap();
        create(&connection, "public.c", &cycling).unwrap();
        let values: Vec<i64> = (0..4)
            .map(|_| query(&connection, "select nextval('c')").unwrap())
            .collect();
        assert_eq!(values, [1, 3, 1, 3]);
        let full = Definition::new(i64::MAX, None, None, None, Some(i64::MAX), false).unwrap();
        create(&connection, "public.full", &full).unwrap();
        assert_eq!(
            query(&connection, "select nextval('full')").unwrap(),
            i64::MAX
        );
        fails(
            &connection,
            "select nextval('full')",
            "2200H",
            &format!(
                r#"nextval: reached maximum value of sequence "full" ({})"#,
                i64::MAX
            ),
        );
    }

    #[test]
    fn setval_currval_and_lastval_follow_postgres() {
        let connection = connection();
        fails(
            &connection,
            "select nextval('nope')",
            "42P01",
            r#"relation "nope" does not exist"#,
        );
        let bounded = Definition::new(i64::MAX, None, None, Some(10), None, false).unwrap();
        create(&connection, "public.s", &bounded).unwrap();
        fails(
            &connection,
            "select currval('s')",
            "55000",
            r#"currval of sequence "s" is not yet defined in this session"#,
        );
        fails(
            &connection,
            "select lastval()",
            "55000",
            "lastval is not yet defined in this session",
        );
        fails(
            &connection,
            "select setval('s', 11)",
            "22003",
            r#"setval: value 11 is out of bounds for sequence "s" (1..10)"#,
        );
        assert_eq!(query(&connection, "select setval('s', 5)").unwrap(), 5);
        assert_eq!(query(&connection, "select currval('s')").unwrap(), 5);
        assert_eq!(query(&connection, "select nextval('s')").unwrap(), 6);
        assert_eq!(
            query(&connection, "select setval('s', 3, false)").unwrap(),
            3
        );
        assert_eq!(query(&connection, "select nextval('s')").unwrap(), 3);
        assert_eq!(query(&connection, "select lastval()").unwrap(), 3);
    }

    #[test]
    fn a_rolled_back_draw_is_kept_as_in_postgres() {
        let connection = Connection::open_in_memory().unwrap();
        let session = Arc::new(Session::default());
        super::super::functions::register(&connection, session.clone()).unwrap();
        let plain = Definition::new(i64::MAX, None, None, None, None, false).unwrap();
        create(&connection, "public.s", &plain).unwrap();
        connection
            .execute_batch("BEGIN; SELECT nextval('s'), nextval('s'); ROLLBACK;")
            .unwrap();
        keep(&connection, &session).unwrap();
        assert_eq!(query(&connection, "select nextval('s')").unwrap(), 3);
    }
}
