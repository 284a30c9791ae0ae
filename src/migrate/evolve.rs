//! Evolve: statements that change an existing schema in place, as Postgres applies them —
//! enum values added or renamed (`alter type`), tables, columns, constraints and indexes
//! renamed, column types changed with every row converted (`alter column … type … using`),
//! `alter function … security definer|invoker`.

use regex::Regex;
use rusqlite::Connection;
use sqlparser::ast::{
    AlterType, AlterTypeAddValuePosition, AlterTypeOperation, CreateRule, CreateRuleAction,
    CreateRuleDoKind, CreateRuleEvent, Expr,
};

use super::expression::{self, qualified_name};
use super::translate::{Refusal, rebuild};
use crate::schema::{Column, PgType, QualifiedName, SchemaCache, Table, TableKind};
use crate::store::naming::{quote_ident, table_name};

type Outcome = Result<(), Refusal>;

/// Column renames and type conversions of one `alter table`, applied by the table rebuild.
#[derive(Debug, Default)]
pub struct ColumnChanges {
    /// (old name, new name).
    pub renames: Vec<(String, String)>,
    /// Columns whose type changed (by their new name), with the `using` expression if given.
    pub conversions: Vec<(String, Option<Expr>)>,
}

impl ColumnChanges {
    pub fn renamed<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames
            .iter()
            .find(|(old, _)| old == name)
            .map_or(name, |(_, new)| new.as_str())
    }

    fn conversion(&self, name: &str) -> Option<&Option<Expr>> {
        self.conversions
            .iter()
            .find(|(column, _)| column == name)
            .map(|(_, using)| using)
    }
}

/// SQLite's own column rename, which rewrites the table's indexes and triggers with it.
pub fn rename_columns(
    connection: &Connection,
    table: &str,
    renames: &[(String, String)],
) -> Outcome {
    for (old, new) in renames {
        connection.execute_batch(&format!(
            "PRAGMA legacy_alter_table = OFF; ALTER TABLE {} RENAME COLUMN {} TO {}; PRAGMA legacy_alter_table = ON;",
            quote_ident(table),
            quote_ident(old),
            quote_ident(new)
        ))?;
    }
    Ok(())
}

/// The value copied into `after`'s column during a rebuild: the `using` expression, a rounding
/// cast from a fractional number to an integer type (as Postgres casts), or the column itself.
pub fn source(before: &Column, after: &Column, changes: &ColumnChanges) -> Result<String, Refusal> {
    let quoted = quote_ident(&after.name);
    match changes.conversion(&after.name) {
        // `using col::type` is the conversion `convert_rows` makes, with Postgres's strictness.
        Some(Some(using)) if !casts_column(using, &before.name) => {
            Ok(expression::translate_expr(&mut using.clone(), &[])?)
        }
        Some(None)
            if matches!(
                before.pg_type,
                PgType::Numeric | PgType::Decimal { .. } | PgType::Real | PgType::Double
            ) && matches!(
                after.pg_type,
                PgType::SmallInt | PgType::Integer | PgType::BigInt
            ) =>
        {
            Ok(format!("CAST(round({quoted}) AS INTEGER)"))
        }
        // To text, values read as Postgres prints them.
        Some(None)
            if matches!(
                after.pg_type,
                PgType::Text | PgType::Varchar(_) | PgType::Char(_)
            ) =>
        {
            Ok(match before.pg_type {
                PgType::Boolean => {
                    format!("CASE {quoted} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END")
                }
                PgType::Timestamptz => {
                    format!("replace(replace({quoted}, 'T', ' '), '+00:00', '+00')")
                }
                PgType::Timestamp => format!("replace({quoted}, 'T', ' ')"),
                PgType::Decimal { scale, .. } => crate::store::numeric::text_sql(&quoted, scale),
                _ => quoted,
            })
        }
        _ => Ok(quoted),
    }
}

fn casts_column(expr: &Expr, column: &str) -> bool {
    match expr {
        Expr::Nested(inner) => casts_column(inner, column),
        Expr::Cast { expr, .. } => {
            matches!(expr.as_ref(), Expr::Identifier(ident) if ident.value == column)
        }
        _ => false,
    }
}

/// Converts every value of the changed columns of the rebuilt table `temporary` to its new
/// type's stored form, failing as Postgres fails on a value the type does not accept.
pub fn convert_rows(
    connection: &Connection,
    cache: &SchemaCache,
    temporary: &str,
    after: &Table,
    changes: &ColumnChanges,
) -> Outcome {
    for (name, _) in &changes.conversions {
        let Some(column) = after.column(name) else {
            continue;
        };
        let quoted = quote_ident(name);
        let mut select = connection.prepare(&format!(
            "SELECT rowid, CAST({quoted} AS TEXT) FROM {} WHERE {quoted} IS NOT NULL",
            quote_ident(temporary)
        ))?;
        let rows: Vec<(i64, String)> = select
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut update = connection.prepare(&format!(
            "UPDATE {} SET {quoted} = ?1 WHERE rowid = ?2",
            quote_ident(temporary)
        ))?;
        for (rowid, text) in rows {
            let value =
                crate::rest::values::from_text(cache, &column.pg_type, &text).map_err(|error| {
                    Refusal::new(format!(
                        "column \"{name}\" cannot be cast: {}",
                        error.message
                    ))
                    .hint("convert the values with `using …` or fix the rows first")
                })?;
            update.execute(rusqlite::params![value, rowid])?;
        }
    }
    Ok(())
}

/// `alter type name add value [if not exists] 'v' [before|after 'w']` and
/// `alter type name rename value 'a' to 'b'`; the tables using the enum are rebuilt so their
/// checks accept the new labels.
pub fn alter_type(connection: &Connection, cache: &mut SchemaCache, alter: &AlterType) -> Outcome {
    let name = qualified_name(&alter.name);
    let Some(mut labels) = cache.enums.get(&name).cloned() else {
        return Err(Refusal::new(format!("type \"{name}\" does not exist")));
    };
    let mut renamed = None;
    match &alter.operation {
        AlterTypeOperation::AddValue(add) => {
            if labels.contains(&add.value.value) {
                return if add.if_not_exists {
                    Ok(())
                } else {
                    Err(Refusal::new(format!(
                        "enum label \"{}\" already exists",
                        add.value.value
                    )))
                };
            }
            let position = match &add.position {
                None => labels.len(),
                Some(AlterTypeAddValuePosition::Before(neighbor)) => {
                    label_index(&labels, &neighbor.value)?
                }
                Some(AlterTypeAddValuePosition::After(neighbor)) => {
                    label_index(&labels, &neighbor.value)? + 1
                }
            };
            labels.insert(position, add.value.value.clone());
        }
        AlterTypeOperation::RenameValue(rename) => {
            let index = label_index(&labels, &rename.from.value)?;
            if labels.contains(&rename.to.value) {
                return Err(Refusal::new(format!(
                    "enum label \"{}\" already exists",
                    rename.to.value
                )));
            }
            labels[index] = rename.to.value.clone();
            renamed = Some((rename.from.value.clone(), rename.to.value.clone()));
        }
        AlterTypeOperation::Rename(_) => {
            return Err(Refusal::new("renaming a type is not supported")
                .hint("create the new enum type and change the columns to it"));
        }
    }
    cache.enums.insert(name.clone(), labels);
    let users: Vec<Table> = cache
        .tables
        .values()
        .filter(|table| {
            table.kind == TableKind::Table
                && table
                    .columns
                    .iter()
                    .any(|column| column.pg_type == PgType::Enum(name.clone()))
        })
        .cloned()
        .collect();
    for table in users {
        if let Some((from, to)) = &renamed {
            // The old table's checks do not know the new label; the rebuild checks every row.
            connection.execute_batch("PRAGMA ignore_check_constraints = ON")?;
            let updated = table
                .columns
                .iter()
                .filter(|column| column.pg_type == PgType::Enum(name.clone()))
                .try_for_each(|column| {
                    connection
                        .execute(
                            &format!(
                                "UPDATE {} SET {} = ?1 WHERE {} = ?2",
                                quote_ident(&table_name(&table.name)),
                                quote_ident(&column.name),
                                quote_ident(&column.name)
                            ),
                            [to, from],
                        )
                        .map(|_| ())
                });
            connection.execute_batch("PRAGMA ignore_check_constraints = OFF")?;
            updated?;
        }
        rebuild(connection, cache, &table, &table, &ColumnChanges::default())?;
    }
    Ok(())
}

fn label_index(labels: &[String], label: &str) -> Result<usize, Refusal> {
    labels
        .iter()
        .position(|existing| existing == label)
        .ok_or_else(|| Refusal::new(format!("\"{label}\" is not an existing enum label")))
}

/// `alter table a rename to b`: SQLite's rename (which follows foreign keys, views and
/// triggers), then every reference in the cache.
pub fn rename_table(
    connection: &Connection,
    cache: &mut SchemaCache,
    old: &QualifiedName,
    new_name: &str,
) -> Outcome {
    let new = QualifiedName::new(old.schema.clone(), new_name);
    if cache.table(&new).is_some() {
        return Err(Refusal::new(format!("relation \"{new}\" already exists")));
    }
    let Some(mut table) = cache.tables.remove(old) else {
        return Err(Refusal::new(format!("relation \"{old}\" does not exist")));
    };
    connection.execute_batch(&format!(
        "PRAGMA legacy_alter_table = OFF; ALTER TABLE {} RENAME TO {}; PRAGMA legacy_alter_table = ON;",
        quote_ident(&table_name(old)),
        quote_ident(&table_name(&new))
    ))?;
    table.name = new.clone();
    cache.tables.insert(new.clone(), table);
    for table in cache.tables.values_mut() {
        for foreign in &mut table.foreign_keys {
            if foreign.referenced_table == *old {
                foreign.referenced_table = new.clone();
            }
        }
    }
    for trigger in &mut cache.triggers {
        if trigger.table == *old {
            trigger.table = new.clone();
        }
    }
    if cache.realtime_tables.remove(old) {
        cache.realtime_tables.insert(new);
    }
    Ok(())
}

/// `alter index [if exists] a rename to b`: SQLite cannot rename an index, so it is recreated
/// under the new name; a unique constraint backed by it is renamed too.
pub fn rename_index(
    connection: &Connection,
    cache: &mut SchemaCache,
    text: &str,
) -> Option<Outcome> {
    let pattern =
        Regex::new(r"(?is)^alter\s+index\s+(if\s+exists\s+)?(\S+)\s+rename\s+to\s+(\S+)$").ok()?;
    let found = pattern.captures(text.trim())?;
    let unquote = |name: &str| {
        name.rsplit('.')
            .next()
            .unwrap_or(name)
            .trim_matches('"')
            .to_owned()
    };
    let (old, new) = (unquote(&found[2]), unquote(&found[3]));
    Some((|| {
        let sql: Option<String> = connection
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [&old],
                |row| row.get(0),
            )
            .ok();
        // A primary key's index is the table's own key here; its name follows the table's
        // (which a renamed table's key index is then renamed to).
        let primary_key = cache.tables.values().any(|table| {
            let name = format!("{}_pkey", table.name.name);
            !table.primary_key.is_empty() && (name == old || name == new)
        });
        let rename_constraint = |cache: &mut SchemaCache| {
            let mut renamed = false;
            for table in cache.tables.values_mut() {
                for unique in &mut table.unique_constraints {
                    if unique.name == old {
                        unique.name = new.clone();
                        renamed = true;
                    }
                }
            }
            renamed
        };
        let Some(sql) = sql else {
            // A unique constraint's index is part of its table here.
            if rename_constraint(cache) {
                return Ok(());
            }
            return if found.get(1).is_some() || primary_key {
                Ok(())
            } else {
                Err(Refusal::new(format!("relation \"{old}\" does not exist")))
            };
        };
        let quoted_old = quote_ident(&old);
        let recreated = sql.replacen(&quoted_old, &quote_ident(&new), 1);
        if recreated == sql {
            return Err(Refusal::new(format!("cannot rename index \"{old}\"")));
        }
        connection.execute_batch(&format!("DROP INDEX {quoted_old}; {recreated}"))?;
        rename_constraint(cache);
        Ok(())
    })())
}

/// `alter function name[(args)] security definer|invoker`.
pub fn alter_function_security(cache: &mut SchemaCache, text: &str) -> Option<Outcome> {
    let pattern = Regex::new(
        r"(?is)^alter\s+(?:function|procedure)\s+([^\s(]+)\s*(?:\([^)]*\))?\s+(?:external\s+)?security\s+(definer|invoker)$",
    )
    .ok()?;
    let found = pattern.captures(text.trim())?;
    let name = found[1].to_owned();
    let definer = found[2].eq_ignore_ascii_case("definer");
    Some((|| {
        let parts: Vec<&str> = name.split('.').map(|part| part.trim_matches('"')).collect();
        let qualified = match parts.as_slice() {
            [schema, function] => QualifiedName::new(*schema, *function),
            _ => QualifiedName::public(name.trim_matches('"')),
        };
        let overloads = cache
            .functions
            .get_mut(&qualified)
            .ok_or_else(|| Refusal::new(format!("function {qualified} does not exist")))?;
        for function in overloads {
            function.security_definer = definer;
        }
        Ok(())
    })())
}

/// Whether Postgres converts `from` to `to` on assignment (so `alter column … type` needs no
/// `using`): to a string type from anything, among numbers, among date/time types, json↔jsonb.
pub fn assignment_cast(from: &PgType, to: &PgType) -> bool {
    use PgType::*;
    let text = |pg_type: &PgType| matches!(pg_type, Text | Varchar(_) | Char(_));
    let number = |pg_type: &PgType| {
        matches!(
            pg_type,
            SmallInt | Integer | BigInt | Numeric | Decimal { .. } | Real | Double
        )
    };
    let moment = |pg_type: &PgType| matches!(pg_type, Date | Timestamp | Timestamptz);
    from == to
        || text(to)
        || (number(from) && number(to))
        || (moment(from) && moment(to))
        || (matches!(from, Timestamp | Timestamptz) && *to == Time)
        || (matches!(from, Json | Jsonb) && matches!(to, Json | Jsonb))
}

/// `create rule r as on insert|update|delete to t do instead nothing`: a SQLite trigger that
/// skips each row (`RAISE(IGNORE)`), which is what the rule does; other rules are refused.
pub fn instead_nothing_rule(
    connection: &Connection,
    cache: &SchemaCache,
    rule: &CreateRule,
) -> Outcome {
    let event = match rule.event {
        CreateRuleEvent::Insert => "INSERT",
        CreateRuleEvent::Update => "UPDATE",
        CreateRuleEvent::Delete => "DELETE",
        CreateRuleEvent::Select => "",
    };
    let nothing = matches!(rule.do_kind, Some(CreateRuleDoKind::Instead))
        && matches!(rule.action, CreateRuleAction::Nothing)
        && rule.condition.is_none()
        && !event.is_empty();
    if !nothing {
        return Err(Refusal::new(
            "rules (`create rule`) other than `do instead nothing` are not supported",
        )
        .hint("write the rule as a trigger, or as a view with an instead-of trigger"));
    }
    let table = qualified_name(&rule.table_name);
    if cache.table(&table).is_none() {
        return Err(Refusal::new(format!("relation \"{table}\" does not exist")));
    }
    connection.execute_batch(&format!(
        "CREATE TRIGGER {} BEFORE {event} ON {} FOR EACH ROW BEGIN SELECT RAISE(IGNORE); END",
        quote_ident(&format!("{}__rule", rule.name.value)),
        quote_ident(&table_name(&table))
    ))?;
    Ok(())
}

/// `drop schema s`: nothing to do when nothing is left in it (schemas exist as soon as a table
/// names them); refused while tables, types, functions or sequences remain.
pub fn drop_schema(cache: &SchemaCache, schema: &str) -> Outcome {
    let in_schema = |name: &QualifiedName| name.schema == schema;
    let left = cache.tables.keys().any(in_schema)
        || cache.enums.keys().any(in_schema)
        || cache.functions.keys().any(in_schema)
        || cache.sequences.keys().any(in_schema);
    if left || matches!(schema, "public" | "auth" | "storage" | "extensions") {
        return Err(Refusal::new(format!(
            "cannot drop schema {schema} because objects depend on it"
        ))
        .hint("drop the schema's tables, types and functions first"));
    }
    Ok(())
}

/// `drop type`: refused while a column still has the type, as Postgres refuses it.
pub fn unused_type(cache: &SchemaCache, name: &QualifiedName) -> Outcome {
    let enum_type = PgType::Enum(name.clone());
    let array = PgType::Array(Box::new(enum_type.clone()));
    for table in cache.tables.values() {
        if let Some(column) = table
            .columns
            .iter()
            .find(|column| column.pg_type == enum_type || column.pg_type == array)
        {
            return Err(Refusal::new(format!(
                "cannot drop type {name} because column {} of table {} depends on it",
                column.name, table.name
            ))
            .hint("drop or change the column first"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use rusqlite::Connection;

    use crate::migrate::{Migration, MigrationError, apply_pending, load_schema};
    use crate::schema::QualifiedName;

    fn run(connection: &mut Connection, version: &str, sql: &str) -> Result<(), MigrationError> {
        let migration = Migration {
            version: version.into(),
            name: "evolve".into(),
            path: PathBuf::from(format!("supabase/migrations/{version}_evolve.sql")),
            sql: sql.into(),
        };
        apply_pending(connection, &[migration], None).map(|_| ())
    }

    fn database(sql: &str) -> Connection {
        let mut connection = Connection::open_in_memory().unwrap();
        crate::store::functions::register(&connection, Default::default()).unwrap();
        run(&mut connection, "1", sql).unwrap();
        connection
    }

    fn texts(connection: &Connection, sql: &str) -> Vec<String> {
        let mut statement = connection.prepare(sql).unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    const BASE: &str = "
        create type status as enum ('draft', 'live');
        create table teams (id int primary key, name text);
        create table items (id int primary key, team_id int references teams, name text, price numeric, status status default 'draft', done boolean);
        create index items_name_idx on items (name);
        insert into teams values (1, 'a');
        insert into items (id, team_id, name, price, done) values (1, 1, 'lamp', 2.5, true), (2, 1, '7', 3.49, false);
    ";

    #[test]
    fn enum_values_are_added_where_asked_and_accepted_by_columns() {
        let mut connection = database(BASE);
        run(&mut connection, "2", "alter type status add value 'archived'; alter type public.status add value if not exists 'review' before 'live'; alter type status add value if not exists 'live'; alter type status rename value 'draft' to 'idea'").unwrap();
        let cache = load_schema(&connection).unwrap();
        assert_eq!(
            cache.enums[&QualifiedName::public("status")],
            ["idea", "review", "live", "archived"]
        );
        connection
            .execute_batch("update items set status = 'archived' where id = 2")
            .unwrap();
        assert_eq!(
            texts(&connection, "select status from items order by id"),
            ["idea", "archived"]
        );
        assert!(
            connection
                .execute_batch("update items set status = 'draft'")
                .is_err()
        );
        let error = run(
            &mut connection,
            "3",
            "alter type status add value 'x' after 'nope'",
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"nope\" is not an existing enum label"),
            "{error}"
        );
        let error = run(&mut connection, "4", "drop type status").unwrap_err();
        assert!(error.to_string().contains("cannot drop type public.status because column status of table public.items depends on it"), "{error}");
    }

    #[test]
    fn column_types_change_with_their_rows_converted_as_postgres_casts() {
        let mut connection = database(BASE);
        run(&mut connection, "2", "alter table items alter column price type integer; alter table items alter column done type text; alter table items alter column name type integer using (case when name ~ '^[0-9]+$' then name::integer end)").unwrap();
        let rows: Vec<(i64, String, Option<i64>)> = connection
            .prepare("select price, done, name from items order by id")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // Postgres rounds numeric to integer half away from zero, and prints booleans as words.
        assert_eq!(
            rows,
            [(3, "true".into(), None), (3, "false".into(), Some(7))]
        );
        let error = run(
            &mut connection,
            "3",
            "alter table items alter column done type boolean",
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("column \"done\" cannot be cast automatically to type boolean"),
            "{error}"
        );
        let error = run(
            &mut connection,
            "4",
            "alter table items alter column done type integer using done::integer",
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("invalid input syntax for type integer"),
            "{error}"
        );
    }

    #[test]
    fn renamed_tables_columns_constraints_and_indexes_keep_working() {
        let mut connection = database(BASE);
        run(
            &mut connection,
            "2",
            "
            alter table teams rename to groups;
            alter table items rename column name to title;
            alter index items_name_idx rename to items_title_idx;
            alter table items rename constraint items_team_id_fkey to items_group_fkey;
            create table people (id int primary key, manager_id int references people (id));
        ",
        )
        .unwrap();
        let cache = load_schema(&connection).unwrap();
        let items = cache.table(&QualifiedName::public("items")).unwrap();
        assert_eq!(items.foreign_keys[0].name, "items_group_fkey");
        assert_eq!(
            items.foreign_keys[0].referenced_table,
            QualifiedName::public("groups")
        );
        assert_eq!(
            texts(
                &connection,
                "select name from sqlite_master where type = 'index' and tbl_name = 'items' and sql is not null"
            ),
            ["items_title_idx"]
        );
        assert!(
            connection
                .execute_batch("insert into items (id, team_id, title) values (3, 9, 'x')")
                .is_err()
        );
        connection.execute_batch("insert into items (id, team_id, title) values (3, 1, 'x'); insert into people values (1, null), (2, 1)").unwrap();
        assert!(
            connection
                .execute_batch("insert into people values (3, 9)")
                .is_err()
        );
        run(
            &mut connection,
            "3",
            "create rule keep as on delete to items do instead nothing",
        )
        .unwrap();
        connection.execute_batch("delete from items").unwrap();
        assert_eq!(
            texts(&connection, "select title from items order by id"),
            ["lamp", "7", "x"]
        );
        let error = run(
            &mut connection,
            "4",
            "create rule r as on insert to items do also insert into groups values (9, 'x')",
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("other than `do instead nothing` are not supported"),
            "{error}"
        );
    }
}
