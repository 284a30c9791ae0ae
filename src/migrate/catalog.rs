//! Catalog: the Postgres catalog relations migrations query to test what exists
//! (`information_schema.tables`, `pg_constraint`, `pg_policies`, …), as SQLite subqueries over
//! the `SchemaCache` at that moment. Only statements that run while the migration applies (bare
//! selects, `DO` blocks) may read them; a function body would see a stale snapshot.

use crate::schema::{PgType, QualifiedName, SchemaCache, TableKind};
use crate::store::naming::quote_literal;

/// A row of catalog values: text, integer or NULL.
enum Cell {
    Text(String),
    Number(i64),
    Null,
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::Text(text.to_owned())
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::Text(text)
    }
}

impl From<bool> for Cell {
    fn from(flag: bool) -> Self {
        Cell::Number(flag.into())
    }
}

/// The subquery standing in for the catalog relation `name`, if it is one Solobase knows.
pub fn relation(cache: &SchemaCache, name: &QualifiedName) -> Option<String> {
    let (columns, rows): (&[&str], Vec<Vec<Cell>>) =
        match (name.schema.as_str(), name.name.as_str()) {
            ("information_schema", "tables") => (
                &["table_catalog", "table_schema", "table_name", "table_type"],
                tables(cache)
                    .map(|(name, view)| {
                        vec![
                            "postgres".into(),
                            name.schema.as_str().into(),
                            name.name.as_str().into(),
                            if view { "VIEW" } else { "BASE TABLE" }.into(),
                        ]
                    })
                    .collect(),
            ),
            ("information_schema", "columns") => (
                &[
                    "table_schema",
                    "table_name",
                    "column_name",
                    "ordinal_position",
                    "data_type",
                    "is_nullable",
                    "column_default",
                ],
                cache
                    .tables
                    .values()
                    .flat_map(|table| {
                        table.columns.iter().enumerate().map(|(index, column)| {
                            vec![
                                table.name.schema.as_str().into(),
                                table.name.name.as_str().into(),
                                column.name.as_str().into(),
                                Cell::Number(index as i64 + 1),
                                data_type(&column.pg_type).into(),
                                if column.nullable { "YES" } else { "NO" }.into(),
                                column.default.clone().map_or(Cell::Null, Cell::Text),
                            ]
                        })
                    })
                    .collect(),
            ),
            ("information_schema", "routines") => (
                &["routine_schema", "routine_name", "routine_type"],
                cache
                    .functions
                    .keys()
                    .map(|name| {
                        vec![
                            name.schema.as_str().into(),
                            name.name.as_str().into(),
                            "FUNCTION".into(),
                        ]
                    })
                    .collect(),
            ),
            ("information_schema", "table_constraints") => (
                &[
                    "constraint_schema",
                    "constraint_name",
                    "table_schema",
                    "table_name",
                    "constraint_type",
                ],
                constraints(cache)
                    .map(|(table, name, kind)| {
                        vec![
                            table.schema.as_str().into(),
                            name.into(),
                            table.schema.as_str().into(),
                            table.name.as_str().into(),
                            match kind {
                                "p" => "PRIMARY KEY",
                                "u" => "UNIQUE",
                                "f" => "FOREIGN KEY",
                                _ => "CHECK",
                            }
                            .into(),
                        ]
                    })
                    .collect(),
            ),
            ("pg_catalog" | "public", "pg_tables") => (
                &["schemaname", "tablename", "tableowner", "rowsecurity"],
                cache
                    .tables
                    .values()
                    .filter(|table| table.kind == TableKind::Table)
                    .map(|table| {
                        vec![
                            table.name.schema.as_str().into(),
                            table.name.name.as_str().into(),
                            "postgres".into(),
                            table.rls_enabled.into(),
                        ]
                    })
                    .collect(),
            ),
            ("pg_catalog" | "public", "pg_class") => (
                &["relname", "relkind", "relrowsecurity"],
                cache
                    .tables
                    .values()
                    .map(|table| {
                        vec![
                            table.name.name.as_str().into(),
                            if table.kind == TableKind::Table {
                                "r"
                            } else {
                                "v"
                            }
                            .into(),
                            table.rls_enabled.into(),
                        ]
                    })
                    .collect(),
            ),
            ("pg_catalog" | "public", "pg_constraint") => (
                &["conname", "contype"],
                constraints(cache)
                    .map(|(_, name, kind)| vec![name.into(), kind.into()])
                    .collect(),
            ),
            ("pg_catalog" | "public", "pg_type") => (
                &["typname", "typtype"],
                cache
                    .enums
                    .keys()
                    .map(|name| vec![name.name.as_str().into(), "e".into()])
                    .collect(),
            ),
            ("pg_catalog" | "public", "pg_proc") => (
                &["proname"],
                cache
                    .functions
                    .keys()
                    .map(|name| vec![name.name.as_str().into()])
                    .collect(),
            ),
            ("pg_catalog" | "public", "pg_trigger") => (
                &["tgname"],
                cache
                    .triggers
                    .iter()
                    .map(|trigger| vec![trigger.name.as_str().into()])
                    .collect(),
            ),
            ("pg_catalog" | "public", "pg_policies") => (
                &["schemaname", "tablename", "policyname", "permissive", "cmd"],
                cache
                    .tables
                    .values()
                    .flat_map(|table| {
                        table.policies.iter().map(|policy| {
                            vec![
                                table.name.schema.as_str().into(),
                                table.name.name.as_str().into(),
                                policy.name.as_str().into(),
                                if policy.permissive {
                                    "PERMISSIVE"
                                } else {
                                    "RESTRICTIVE"
                                }
                                .into(),
                                format!("{:?}", policy.command).to_ascii_uppercase().into(),
                            ]
                        })
                    })
                    .collect(),
            ),
            ("pg_catalog" | "public", "pg_publication_tables") => (
                &["pubname", "schemaname", "tablename"],
                cache
                    .realtime_tables
                    .iter()
                    .map(|name| {
                        vec![
                            "supabase_realtime".into(),
                            name.schema.as_str().into(),
                            name.name.as_str().into(),
                        ]
                    })
                    .collect(),
            ),
            _ => return None,
        };
    Some(select(columns, rows))
}

/// Whether `name` is a Postgres catalog relation (known to Solobase or not).
pub fn is_catalog(name: &QualifiedName) -> bool {
    matches!(name.schema.as_str(), "pg_catalog" | "information_schema")
        || name.name.starts_with("pg_")
}

fn tables(cache: &SchemaCache) -> impl Iterator<Item = (&QualifiedName, bool)> {
    cache
        .tables
        .values()
        .map(|table| (&table.name, table.kind != TableKind::Table))
}

/// Every constraint: its table, name and `contype` (`p`, `u`, `f`, `c`).
fn constraints(
    cache: &SchemaCache,
) -> impl Iterator<Item = (&QualifiedName, String, &'static str)> {
    cache.tables.values().flat_map(|table| {
        let primary = (!table.primary_key.is_empty())
            .then(|| (&table.name, format!("{}_pkey", table.name.name), "p"));
        primary
            .into_iter()
            .chain(
                table
                    .unique_constraints
                    .iter()
                    .map(|unique| (&table.name, unique.name.clone(), "u")),
            )
            .chain(
                table
                    .foreign_keys
                    .iter()
                    .map(|key| (&table.name, key.name.clone(), "f")),
            )
            .chain(
                table
                    .checks
                    .iter()
                    .map(|check| (&table.name, check.name.clone(), "c")),
            )
    })
}

fn data_type(pg_type: &PgType) -> String {
    match pg_type {
        PgType::Array(_) => "ARRAY".into(),
        PgType::Enum(_) => "USER-DEFINED".into(),
        other => other.pg_name(),
    }
}

/// `SELECT … UNION ALL SELECT …` of `rows` under `columns` (no rows: `WHERE 0`).
fn select(columns: &[&str], rows: Vec<Vec<Cell>>) -> String {
    let render = |cells: Vec<Cell>| -> String {
        cells
            .into_iter()
            .zip(columns)
            .map(|(cell, column)| {
                let value = match cell {
                    Cell::Text(text) => quote_literal(&text),
                    Cell::Number(number) => number.to_string(),
                    Cell::Null => "NULL".into(),
                };
                format!("{value} AS {column}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if rows.is_empty() {
        let nulls = columns.iter().map(|_| Cell::Null).collect();
        return format!("SELECT {} WHERE 0", render(nulls));
    }
    rows.into_iter()
        .map(|row| format!("SELECT {}", render(row)))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_relations_list_what_the_schema_holds() {
        let mut cache = SchemaCache::default();
        cache
            .enums
            .insert(QualifiedName::public("mood"), vec!["ok".into()]);
        let sql = relation(&cache, &QualifiedName::new("pg_catalog", "pg_type")).unwrap();
        assert_eq!(sql, "SELECT 'mood' AS typname, 'e' AS typtype");
        let none = relation(&cache, &QualifiedName::public("pg_constraint")).unwrap();
        assert_eq!(none, "SELECT NULL AS conname, NULL AS contype WHERE 0");
        assert!(relation(&cache, &QualifiedName::public("todos")).is_none());
    }
}
