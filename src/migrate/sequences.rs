//! Sequences in migrations: `create sequence`, `alter sequence … owned by|restart|options`,
//! `drop sequence`, and the sequence an identity or serial column draws from (named
//! `table_column_seq`, or as pg_dump's `sequence name …` says). Their options and state are
//! rows of the store (`store::sequence`), whose `nextval`/`setval` a migration, a default or a
//! function calls like any SQL function.

use regex::Regex;
use rusqlite::Connection;
use sqlparser::ast::{Expr, GeneratedAs, SequenceOptions, Statement};

use super::expression::qualified_name;
use super::translate::Refusal;
use crate::schema::{ColumnSequence, PgType, QualifiedName, SchemaCache, Sequence};
use crate::store::sequence::{self as store, Definition};

type Outcome = Result<(), Refusal>;

/// `create sequence name [options]`.
pub fn create(
    connection: &Connection,
    cache: &mut SchemaCache,
    name: QualifiedName,
    if_not_exists: bool,
    options: &[SequenceOptions],
) -> Outcome {
    if cache.sequences.contains_key(&name) {
        return if if_not_exists {
            Ok(())
        } else {
            Err(Refusal::new(format!("relation \"{name}\" already exists")))
        };
    }
    let declared = Declared::read(options)?;
    store::create(
        connection,
        &key(&name),
        &declared.definition(i64::MAX, None)?,
    )?;
    let owned_by = match &declared.owned_by {
        Some(Some(column)) => Some(owner(cache, column)?),
        _ => None,
    };
    cache.sequences.insert(name, Sequence { owned_by });
    Ok(())
}

/// The store's name of a sequence: `schema.name`, as `store::sequence::resolve` reads a
/// regclass text.
fn key(name: &QualifiedName) -> String {
    name.to_string()
}

/// The options one `create`/`alter sequence` or identity declares.
#[derive(Default)]
struct Declared {
    type_max: Option<i64>,
    increment: Option<i64>,
    /// `Some(None)`: `no minvalue`.
    min: Option<Option<i64>>,
    max: Option<Option<i64>>,
    start: Option<i64>,
    cycle: Option<bool>,
    owned_by: Option<Option<sqlparser::ast::ObjectName>>,
}

impl Declared {
    fn read(options: &[SequenceOptions]) -> Result<Self, Refusal> {
        let mut declared = Self::default();
        for option in options {
            match option {
                SequenceOptions::DataType(data_type) => {
                    let pg_type = match data_type.to_string().to_ascii_lowercase().as_str() {
                        "smallint" | "int2" => PgType::SmallInt,
                        "integer" | "int" | "int4" => PgType::Integer,
                        _ => PgType::BigInt,
                    };
                    declared.type_max = Some(type_max(&pg_type)?);
                }
                SequenceOptions::IncrementBy(expr, _) => declared.increment = Some(integer(expr)?),
                SequenceOptions::MinValue(expr) => {
                    declared.min = Some(expr.as_ref().map(integer).transpose()?);
                }
                SequenceOptions::MaxValue(expr) => {
                    declared.max = Some(expr.as_ref().map(integer).transpose()?);
                }
                SequenceOptions::StartWith(expr, _) => declared.start = Some(integer(expr)?),
                // sqlparser reads `no cycle` as `Cycle(true)`.
                SequenceOptions::Cycle(no) => declared.cycle = Some(!no),
                SequenceOptions::Cache(_) => {}
                SequenceOptions::OwnedBy(column) => declared.owned_by = Some(column.clone()),
            }
        }
        Ok(declared)
    }

    /// The definition these options give a new sequence of a type up to `type_max`, or change
    /// `base` to.
    fn definition(&self, type_max: i64, base: Option<Definition>) -> Result<Definition, Refusal> {
        let type_max = self.type_max.unwrap_or(type_max);
        let kept = |declared: Option<Option<i64>>, base: Option<i64>| match declared {
            Some(value) => value,
            None => base,
        };
        Definition::new(
            type_max,
            self.increment.or(base.map(|base| base.increment)),
            kept(self.min, base.map(|base| base.min)),
            kept(self.max, base.map(|base| base.max)),
            self.start.or(base.map(|base| base.start)),
            self.cycle.unwrap_or(base.is_some_and(|base| base.cycle)),
        )
        .map_err(Refusal::new)
    }
}

/// The largest value of an integer type a sequence counts in.
fn type_max(pg_type: &PgType) -> Result<i64, Refusal> {
    match pg_type {
        PgType::SmallInt => Ok(i16::MAX.into()),
        PgType::Integer => Ok(i32::MAX.into()),
        PgType::BigInt => Ok(i64::MAX),
        other => Err(Refusal::new(format!(
            "identity column type must be smallint, integer, or bigint, not {}",
            other.pg_name()
        ))),
    }
}

fn integer(expr: &Expr) -> Result<i64, Refusal> {
    expr.to_string()
        .replace(' ', "")
        .parse()
        .map_err(|_| Refusal::new(format!("sequence value {expr} is not an integer")))
}

/// `table.column` (or `schema.table.column`) that owns a sequence.
fn owner(
    cache: &SchemaCache,
    column: &sqlparser::ast::ObjectName,
) -> Result<(QualifiedName, String), Refusal> {
    let mut parts = column.0.clone();
    let name = parts
        .pop()
        .and_then(|part| part.as_ident().map(|ident| ident.value.clone()))
        .unwrap_or_default();
    let table = qualified_name(&sqlparser::ast::ObjectName(parts));
    match cache.table(&table) {
        Some(found) if found.column(&name).is_some() => Ok((table, name)),
        _ => Err(Refusal::new(format!(
            "column \"{name}\" of relation \"{table}\" does not exist"
        ))),
    }
}

/// `alter sequence name {owned by t.c | restart [with n] | options}`, which sqlparser cannot
/// parse: options reparsed as those of a `create sequence`.
pub fn alter(connection: &Connection, cache: &mut SchemaCache, text: &str) -> Option<Outcome> {
    let pattern = Regex::new(r"(?is)^alter\s+sequence\s+(if\s+exists\s+)?(\S+)\s+(.*)$").ok()?;
    let found = pattern.captures(text.trim())?;
    let if_exists = found.get(1).is_some();
    let options = found[3].to_owned();
    Some((|| {
        let name = parse_name(&found[2])?;
        let Some(mut sequence) = cache.sequences.get(&name).cloned() else {
            return if if_exists {
                Ok(())
            } else {
                Err(Refusal::new(format!("relation \"{name}\" does not exist")))
            };
        };
        let restart =
            Regex::new(r"(?i)^restart(?:\s+(?:with\s+)?(-?\d+))?$").expect("valid pattern");
        if let Some(restart) = restart.captures(options.trim()) {
            let next = match restart.get(1) {
                Some(value) => Some(
                    value
                        .as_str()
                        .parse()
                        .map_err(|_| Refusal::new("restart value"))?,
                ),
                None => None,
            };
            store::restart(connection, &key(&name), next)?;
            return Ok(());
        }
        let declared = Declared::read(&parse_options(&options)?)?;
        let base = store::definition(connection, &key(&name))?;
        store::redefine(
            connection,
            &key(&name),
            &declared.definition(i64::MAX, base)?,
        )?;
        if let Some(column) = &declared.owned_by {
            sequence.owned_by = column
                .as_ref()
                .map(|column| owner(cache, column))
                .transpose()?;
        }
        cache.sequences.insert(name, sequence);
        Ok(())
    })())
}

fn parse_options(options: &str) -> Result<Vec<SequenceOptions>, Refusal> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let statement = format!("create sequence s {options}");
    match sqlparser::parser::Parser::parse_sql(&dialect, &statement) {
        Ok(mut statements) => match statements.pop() {
            Some(Statement::CreateSequence {
                sequence_options, ..
            }) => Ok(sequence_options),
            _ => Err(Refusal::new("cannot read the sequence options")),
        },
        Err(error) => Err(Refusal::new(format!(
            "cannot read the sequence options: {error}"
        ))),
    }
}

/// `a.b` or `"a"."b"` as a qualified name.
fn parse_name(text: &str) -> Result<QualifiedName, Refusal> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .and_then(|mut parser| parser.parse_object_name(false))
        .map(|name| qualified_name(&name))
        .map_err(|error| Refusal::new(format!("cannot read the name {text}: {error}")))
}

/// The sequence of a new identity (`generated … as identity [(options)]`) column, named as
/// Postgres names it: `table_column_seq` in the table's schema.
pub fn for_identity(
    table: &QualifiedName,
    column: &str,
    generated: Option<&GeneratedAs>,
    options: Option<&[SequenceOptions]>,
) -> ColumnSequence {
    ColumnSequence {
        name: QualifiedName::new(&table.schema, format!("{}_{column}_seq", table.name)),
        always: matches!(generated, Some(GeneratedAs::Always)),
        serial: false,
        options: options
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

/// Creates the sequences of `table`'s identity and serial columns that do not exist yet.
pub fn own_identities(
    connection: &Connection,
    cache: &mut SchemaCache,
    table: &QualifiedName,
) -> Outcome {
    let Some(found) = cache.table(table) else {
        return Ok(());
    };
    let mut created = Vec::new();
    for column in &found.columns {
        let Some(sequence) = &column.sequence else {
            continue;
        };
        if cache.sequences.contains_key(&sequence.name) {
            continue;
        }
        let declared = Declared::read(&parse_options(&sequence.options)?)?;
        let definition = declared.definition(type_max(&column.pg_type)?, None)?;
        store::create(connection, &key(&sequence.name), &definition)?;
        created.push((sequence.name.clone(), column.name.clone()));
    }
    for (sequence, column) in created {
        cache.sequences.insert(
            sequence,
            Sequence {
                owned_by: Some((table.clone(), column)),
            },
        );
    }
    Ok(())
}

/// `drop sequence name`, or the sequences a dropped table owned.
pub fn drop(
    connection: &Connection,
    cache: &mut SchemaCache,
    name: &QualifiedName,
) -> Result<bool, Refusal> {
    store::drop(connection, &key(name))?;
    Ok(cache.sequences.remove(name).is_some())
}

/// Drops the sequences `table`'s columns own, as Postgres does with the table.
pub fn drop_owned(
    connection: &Connection,
    cache: &mut SchemaCache,
    table: &QualifiedName,
) -> Outcome {
    let owned: Vec<QualifiedName> = cache
        .sequences
        .iter()
        .filter(|(_, sequence)| {
            sequence
                .owned_by
                .as_ref()
                .is_some_and(|(owner, _)| owner == table)
        })
        .map(|(name, _)| name.clone())
        .collect();
    for name in owned {
        drop(connection, cache, &name)?;
    }
    Ok(())
}

/// An identity column's `alter table t alter column c add generated … as identity (sequence
/// name s …)`, as pg_dump writes it: the statement without the `sequence name` option (which
/// sqlparser cannot parse), the table, the column and the sequence's name.
pub struct IdentitySequence {
    pub statement: String,
    table: String,
    column: String,
    sequence: String,
}

pub fn identity_sequence(text: &str) -> Option<IdentitySequence> {
    let pattern = Regex::new(
        r#"(?is)^alter\s+table\s+(?:only\s+)?(\S+)\s+alter\s+column\s+(\S+)\s+add\s+generated\s+.*?\(\s*(sequence\s+name\s+(\S+))"#,
    )
    .ok()?;
    let found = pattern.captures(text)?;
    let option = found.get(3)?;
    Some(IdentitySequence {
        statement: format!("{}{}", &text[..option.start()], &text[option.end()..]),
        table: found[1].to_owned(),
        column: found[2].trim_matches('"').to_owned(),
        sequence: found[4].to_owned(),
    })
}

impl IdentitySequence {
    /// Renames the identity's sequence, once the column is an identity, to the name given.
    pub fn register(&self, connection: &Connection, cache: &mut SchemaCache) -> Outcome {
        let table = parse_name(&self.table)?;
        let name = parse_name(&self.sequence)?;
        let Some(column) = cache.tables.get_mut(&table).and_then(|table| {
            table
                .columns
                .iter_mut()
                .find(|column| column.name == self.column)
        }) else {
            return Err(Refusal::new(format!(
                "column \"{}\" does not exist",
                self.column
            )));
        };
        let Some(sequence) = column.sequence.as_mut() else {
            return Err(Refusal::new(format!(
                "column \"{}\" is not an identity column",
                self.column
            )));
        };
        let old = std::mem::replace(&mut sequence.name, name.clone());
        store::rename(connection, &key(&old), &key(&name))?;
        if let Some(owned) = cache.sequences.remove(&old) {
            cache.sequences.insert(name, owned);
        }
        Ok(())
    }
}

/// An insert naming a `generated always` identity column must say `overriding system value`
/// (Postgres's 428C9); the clause, which SQLite does not know, is then dropped.
pub fn check_overriding(cache: &SchemaCache, insert: &mut sqlparser::ast::Insert) -> Outcome {
    let overriding = insert.overriding.take();
    let sqlparser::ast::TableObject::TableName(name) = &insert.table else {
        return Ok(());
    };
    let Some(table) = cache.table(&qualified_name(name)) else {
        return Ok(());
    };
    let always = insert
        .columns
        .iter()
        .map(|ident| ident.to_string().trim_matches('"').to_owned())
        .find(|column| {
            table
                .column(column)
                .and_then(|column| column.sequence.as_ref())
                .is_some_and(|sequence| sequence.always)
        });
    match always {
        Some(column) if overriding != Some(sqlparser::ast::InsertOverriding::System) => {
            Err(Refusal::new(format!(
                "cannot insert a non-DEFAULT value into column \"{column}\" (428C9)"
            ))
            .hint("Use OVERRIDING SYSTEM VALUE to override."))
        }
        _ => Ok(()),
    }
}

/// The sequence a `nextval('s'::regclass)` default draws from.
pub fn nextval_default(default: &str) -> Option<QualifiedName> {
    let pattern = Regex::new(r#"(?i)^nextval\s*\(\s*'([^']+)'(\s*::\s*regclass)?\s*\)$"#).ok()?;
    let found = pattern.captures(default.trim())?;
    parse_name(&found[1]).ok()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use rusqlite::Connection;

    use crate::migrate::{Migration, MigrationError, apply_pending};

    fn run(sql: &str) -> Result<Connection, MigrationError> {
        let mut connection = Connection::open_in_memory().unwrap();
        crate::store::functions::register(&connection, Default::default()).unwrap();
        let migration = Migration {
            version: "1".into(),
            name: "dump".into(),
            path: PathBuf::from("supabase/migrations/1_dump.sql"),
            sql: sql.into(),
        };
        apply_pending(&mut connection, &[migration], None)?;
        Ok(connection)
    }

    fn ids(connection: &Connection, table: &str) -> Vec<i64> {
        connection
            .execute_batch(&format!("insert into {table} (name) values ('a'), ('b')"))
            .unwrap();
        let mut statement = connection
            .prepare(&format!("select id from {table} order by id"))
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_nextval_default_counts_like_the_sequence() {
        let connection = run(r#"
            create sequence "public"."items_id_seq";
            create table "public"."items" (
              "id" integer not null default nextval('public.items_id_seq'::regclass),
              "name" text
            );
            alter sequence "public"."items_id_seq" owned by "public"."items"."id";
            create unique index items_pkey on public.items using btree (id);
            alter table "public"."items" add constraint "items_pkey" PRIMARY KEY using index "items_pkey";
            select setval('"public"."items_id_seq"', 41, true);
        "#)
        .unwrap();
        assert_eq!(ids(&connection, "items"), [42, 43]);
    }

    #[test]
    fn pg_dump_identity_sequences_and_start_values_are_kept() {
        let connection = run(r#"
            CREATE TABLE IF NOT EXISTS "public"."notes" ("id" bigint NOT NULL, "name" "text");
            ALTER TABLE "public"."notes" ALTER COLUMN "id" ADD GENERATED BY DEFAULT AS IDENTITY (
                SEQUENCE NAME "public"."notes_id_seq"
                START WITH 1
                INCREMENT BY 1
                NO MINVALUE
                NO MAXVALUE
                CACHE 1
            );
            ALTER TABLE ONLY "public"."notes" ADD CONSTRAINT "notes_pkey" PRIMARY KEY ("id");
            SELECT pg_catalog.setval('"public"."notes_id_seq"', 7, false);
            create sequence invoices_id_seq start with 1000;
            create table invoices (id integer primary key default nextval('invoices_id_seq'), name text);
        "#)
        .unwrap();
        assert_eq!(ids(&connection, "notes"), [7, 8]);
        assert_eq!(ids(&connection, "invoices"), [1000, 1001]);
    }

    fn insert(connection: &Connection, sql: &str) -> Result<(), String> {
        connection.execute_batch(sql).map_err(|error| {
            crate::plpgsql::PgError::decode(&error).map_or_else(
                || error.to_string(),
                |raised| format!("{} {}", raised.code, raised.message),
            )
        })
    }

    #[test]
    fn an_explicit_key_does_not_move_the_identity() {
        let connection = run(
            "create table items (id bigint generated by default as identity primary key, name text)",
        )
        .unwrap();
        insert(
            &connection,
            "insert into items (id, name) values (9223372036854775807, 'max')",
        )
        .unwrap();
        insert(
            &connection,
            "insert into items (id, name) values (3, 'three')",
        )
        .unwrap();
        assert_eq!(ids(&connection, "items"), [1, 2, 3, 9223372036854775807]);
        // The sequence now reaches the explicit row: a duplicate key, as in Postgres.
        let error = insert(&connection, "insert into items (name) values ('c')").unwrap_err();
        assert!(error.contains("UNIQUE constraint failed"), "{error}");
        let error = insert(
            &connection,
            "insert into items (id, name) values (null, 'n')",
        )
        .unwrap_err();
        assert!(error.contains("NOT NULL"), "{error}");
    }

    #[test]
    fn sequences_step_stop_and_cycle_as_declared() {
        let connection = run(r#"
            create table small (id smallint generated always as identity (start with 32766) primary key, name text);
            create sequence tens increment by 10 start with 5;
            create table steps (id int primary key default nextval('tens'), name text);
            create sequence ring as smallint minvalue 1 maxvalue 2 cycle;
            create table rings (id serial primary key, slot int not null default nextval('ring'), name text);
            alter sequence tens increment by 100;
        "#)
        .unwrap();
        assert_eq!(ids(&connection, "small"), [32766, 32767]);
        let error = insert(&connection, "insert into small (name) values ('x')").unwrap_err();
        assert_eq!(
            error,
            r#"2200H nextval: reached maximum value of sequence "small_id_seq" (32767)"#
        );
        assert_eq!(ids(&connection, "steps"), [5, 105]);
        assert_eq!(ids(&connection, "rings"), [1, 2]);
        insert(&connection, "insert into rings (name) values ('c')").unwrap();
        let slots: Vec<i64> = connection
            .prepare("select slot from rings order by id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(slots, [1, 2, 1]);
        let connection = run(r#"
            create table t (id serial primary key, name text);
            insert into t (name) values ('a');
            select setval('t_id_seq', 41);
            insert into t (id, name) values (nextval('t_id_seq') + 100, 'b');
            alter sequence t_id_seq restart with 7;
        "#)
        .unwrap();
        assert_eq!(ids(&connection, "t"), [1, 7, 8, 142]);
        let error = run("create sequence s minvalue 5 maxvalue 1")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("MINVALUE (5) must be less than MAXVALUE (1)"),
            "{error}"
        );
        let error = run("create table t (id text generated always as identity)")
            .unwrap_err()
            .to_string();
        assert!(error.contains("identity column type must be"), "{error}");
        let always = "create table t (id int generated always as identity primary key, name text);";
        let error = run(&format!(
            "{always} insert into t (id, name) values (5, 'a')"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(r#"cannot insert a non-DEFAULT value into column "id""#),
            "{error}"
        );
        let connection = run(&format!(
            "{always} insert into t (id, name) overriding system value values (5, 'a')"
        ))
        .unwrap();
        assert_eq!(ids(&connection, "t"), [1, 2, 5]);
    }

    #[test]
    fn sequences_survive_reopening_and_go_with_their_table() {
        let path =
            std::env::temp_dir().join(format!("solobase-sequences-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let migrations = [Migration {
            version: "1".into(),
            name: "t".into(),
            path: PathBuf::from("supabase/migrations/1_t.sql"),
            sql: "create table t (id int generated by default as identity primary key, name text)"
                .into(),
        }];
        for expected in [[1, 2], [3, 4]] {
            let mut connection = Connection::open(&path).unwrap();
            crate::store::functions::register(&connection, Default::default()).unwrap();
            apply_pending(&mut connection, &migrations, None).unwrap();
            assert_eq!(ids(&connection, "t")[expected[0] as usize - 1..], expected);
        }
        let mut connection = Connection::open(&path).unwrap();
        crate::store::functions::register(&connection, Default::default()).unwrap();
        let drop = Migration {
            version: "2".into(),
            name: "drop".into(),
            path: PathBuf::from("supabase/migrations/2_drop.sql"),
            sql: "drop table t; create table t (id int generated by default as identity primary key, name text)".into(),
        };
        apply_pending(&mut connection, &[migrations[0].clone(), drop], None).unwrap();
        assert_eq!(ids(&connection, "t"), [1, 2]);
        drop_file(&path);
    }

    fn drop_file(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
