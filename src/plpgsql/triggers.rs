//! Triggers: a table's plpgsql row triggers as SQLite triggers. For each timing and event one
//! SQLite trigger calls `pg_trigger` with every column of NEW and OLD; it runs the table's
//! triggers in Postgres's order (by name). SQLite cannot assign NEW, so a BEFORE trigger's
//! changes are written by the AFTER trigger of the same row, with triggers disarmed meanwhile;
//! a BEFORE trigger that returns NULL skips the row (`RAISE(IGNORE)`).

use rusqlite::Connection;

use super::parse::{self, Context};
use super::runtime::{Descriptor, RowTrigger};
use crate::schema::{QualifiedName, SchemaCache, Table};
use crate::store::naming::{quote_ident, quote_literal, table_ident, table_name};

const PREFIX: &str = "pg_trigger__";

/// Recreates the SQLite triggers that run `table`'s plpgsql triggers, from the cache.
pub fn sync(
    connection: &Connection,
    cache: &SchemaCache,
    name: &QualifiedName,
) -> Result<(), String> {
    let sqlite_table = table_name(name);
    let existing: Vec<String> = {
        let mut statement = connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1")
            .map_err(|error| error.to_string())?;
        let names = statement
            .query_map([&sqlite_table], |row| row.get::<_, String>(0))
            .map_err(|error| error.to_string())?;
        names
            .filter_map(Result::ok)
            .filter(|trigger| trigger.starts_with(PREFIX))
            .collect()
    };
    for trigger in existing {
        connection
            .execute_batch(&format!("DROP TRIGGER {}", quote_ident(&trigger)))
            .map_err(|error| error.to_string())?;
    }
    let Some(table) = cache.table(name) else {
        return Ok(());
    };
    for event in ["INSERT", "UPDATE", "DELETE"] {
        let mut fixup = false;
        for timing in ["BEFORE", "AFTER"] {
            let mut triggers: Vec<&crate::schema::Trigger> = cache
                .triggers
                .iter()
                .filter(|trigger| {
                    trigger.table == *name
                        && trigger.timing.eq_ignore_ascii_case(timing)
                        && trigger.events.iter().any(|e| e.eq_ignore_ascii_case(event))
                        && cache.overloads(&trigger.function).iter().any(|function| {
                            function.arguments.is_empty() && function.program.is_some()
                        })
                })
                .collect();
            triggers.sort_by(|a, b| a.name.cmp(&b.name));
            if timing == "BEFORE" {
                fixup = !triggers.is_empty() && event != "DELETE";
            }
            if triggers.is_empty() && !(timing == "AFTER" && fixup) {
                continue;
            }
            let descriptor = Descriptor {
                table: name.clone(),
                timing: timing.to_owned(),
                event: event.to_owned(),
                columns: table
                    .columns
                    .iter()
                    .map(|column| column.name.clone())
                    .collect(),
                types: table
                    .columns
                    .iter()
                    .map(|column| column.pg_type.clone())
                    .collect(),
                triggers: triggers
                    .iter()
                    .map(|trigger| {
                        Ok(RowTrigger {
                            name: trigger.name.clone(),
                            function: trigger.function.clone(),
                            args: trigger.args.clone(),
                            when: trigger
                                .when
                                .as_deref()
                                .map(|when| condition(cache, when))
                                .transpose()?,
                        })
                    })
                    .collect::<Result<_, String>>()?,
            };
            connection
                .execute_batch(&sqlite_trigger(table, &descriptor))
                .map_err(|error| error.to_string())?;
        }
    }
    Ok(())
}

/// A trigger's `when (…)` condition, compiled over the records `new` and `old`.
pub fn condition(cache: &SchemaCache, when: &str) -> Result<parse::Sql, String> {
    let context = Context {
        cache,
        function: None,
        scalars: Vec::new(),
        arrays: Vec::new(),
        ranges: Vec::new(),
        records: vec!["new".into(), "old".into()],
        utility: false,
        secure: None,
    };
    parse::expression_in(&context, when)
}

fn sqlite_trigger(table: &Table, descriptor: &Descriptor) -> String {
    let columns = |record: &str| -> Vec<String> {
        table
            .columns
            .iter()
            .map(|column| format!("{record}.{}", quote_ident(&column.name)))
            .collect()
    };
    let (rowid, mut values) = match descriptor.event.as_str() {
        "INSERT" => ("NEW.rowid", columns("NEW")),
        "UPDATE" => ("NEW.rowid", columns("NEW")),
        _ => ("OLD.rowid", columns("OLD")),
    };
    if descriptor.event == "UPDATE" {
        values.extend(columns("OLD"));
    }
    let json = serde_json::to_string(descriptor).expect("a descriptor serializes");
    let call = format!(
        "pg_trigger({}, {rowid}, {})",
        quote_literal(&json),
        values.join(", ")
    );
    let body = if descriptor.timing == "BEFORE" {
        format!("SELECT RAISE(IGNORE) WHERE {call} = 0;")
    } else {
        format!("SELECT {call};")
    };
    format!(
        "CREATE TRIGGER {} {} {} ON {} FOR EACH ROW WHEN pg_triggers_armed() BEGIN {body} END",
        quote_ident(&format!(
            "{PREFIX}{}__{}_{}",
            table_name(&table.name),
            descriptor.timing.to_ascii_lowercase(),
            descriptor.event.to_ascii_lowercase()
        )),
        descriptor.timing,
        descriptor.event,
        table_ident(&table.name),
    )
}
