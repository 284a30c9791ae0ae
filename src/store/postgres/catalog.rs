//! The `SchemaCache` of a PostgreSQL database, read from `pg_catalog` for the exposed schemas:
//! tables and views with their columns, keys and foreign keys, and enums. Policies stay in the
//! database, which enforces them itself, so no table of this cache carries any.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::PgError;
use crate::schema::{
    Column, ForeignKey, PgType, QualifiedName, ReferentialAction, SchemaCache, Table, TableKind,
    UniqueConstraint,
};

/// The cache of the relations in `schemas`, as the database has them now.
pub async fn load(client: &Client, schemas: &[String]) -> Result<SchemaCache, PgError> {
    let mut cache = SchemaCache::default();
    for row in client
        .query(
            "select n.nspname::text, t.typname::text, array_agg(e.enumlabel::text order by e.enumsortorder)
             from pg_enum e join pg_type t on t.oid = e.enumtypid join pg_namespace n on n.oid = t.typnamespace
             group by 1, 2",
            &[],
        )
        .await?
    {
        cache
            .enums
            .insert(QualifiedName::new(row.get::<_, String>(0), row.get::<_, String>(1)), row.get(2));
    }
    let mut by_oid: BTreeMap<u32, Table> = BTreeMap::new();
    for row in client
        .query(
            "select c.oid, n.nspname::text, c.relname::text, c.relkind::text,
                    pg_get_viewdef(c.oid), obj_description(c.oid, 'pg_class')
             from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = any($1) and c.relkind in ('r', 'p', 'v', 'm', 'f')",
            &[&schemas],
        )
        .await?
    {
        let kind = match row.get::<_, String>(3).as_str() {
            "v" | "m" => TableKind::View {
                definition: row.get::<_, Option<String>>(4).unwrap_or_default(),
                security_invoker: false,
            },
            _ => TableKind::Table,
        };
        let name = QualifiedName::new(row.get::<_, String>(1), row.get::<_, String>(2));
        let table = Table {
            comment: row.get(5),
            ..Table::new(name, kind)
        };
        by_oid.insert(row.get(0), table);
    }
    let oids: Vec<u32> = by_oid.keys().copied().collect();
    for row in client
        .query(
            "select a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod),
                    t.typtype = 'e', tn.nspname::text, t.typname::text, not a.attnotnull,
                    pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '', col_description(a.attrelid, a.attnum)
             from pg_attribute a
             join pg_type t on t.oid = a.atttypid join pg_namespace tn on tn.oid = t.typnamespace
             left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
             where a.attrelid = any($1) and a.attnum > 0 and not a.attisdropped
             order by a.attrelid, a.attnum",
            &[&oids],
        )
        .await?
    {
        let Some(table) = by_oid.get_mut(&row.get(0)) else {
            continue;
        };
        let pg_type = if row.get(3) {
            PgType::Enum(QualifiedName::new(row.get::<_, String>(4), row.get::<_, String>(5)))
        } else {
            column_type(&cache, &row.get::<_, String>(2))
        };
        let default: Option<String> = row.get(7);
        let identity = row.get::<_, bool>(8)
            || default.as_deref().is_some_and(|default| default.starts_with("nextval("));
        table.columns.push(Column {
            nullable: row.get(6),
            default,
            identity,
            comment: row.get(9),
            ..Column::new(row.get::<_, String>(1), pg_type)
        });
    }
    for row in client
        .query(
            "select c.conrelid, c.contype::text, c.conname::text,
                    array(select a.attname::text from unnest(c.conkey) with ordinality k(n, o)
                          join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.o),
                    c.confrelid,
                    array(select a.attname::text from unnest(c.confkey) with ordinality k(n, o)
                          join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.n order by k.o),
                    c.confdeltype::text, c.confupdtype::text
             from pg_constraint c
             where c.conrelid = any($1) and c.contype in ('p', 'u', 'f')
             order by c.conrelid, c.conname",
            &[&oids],
        )
        .await?
    {
        let referenced = by_oid.get(&row.get(4)).map(|table| table.name.clone());
        let Some(table) = by_oid.get_mut(&row.get(0)) else {
            continue;
        };
        let columns: Vec<String> = row.get(3);
        match row.get::<_, String>(1).as_str() {
            "p" => table.primary_key = columns,
            "u" => table.unique_constraints.push(UniqueConstraint {
                name: row.get(2),
                columns,
            }),
            _ => {
                // A foreign key to a table outside the exposed schemas embeds nothing.
                let Some(referenced_table) = referenced else {
                    continue;
                };
                table.foreign_keys.push(ForeignKey {
                    name: row.get(2),
                    columns,
                    referenced_table,
                    referenced_columns: row.get(5),
                    on_delete: action(&row.get::<_, String>(6)),
                    on_update: action(&row.get::<_, String>(7)),
                });
            }
        }
    }
    cache.tables = by_oid
        .into_values()
        .map(|table| (table.name.clone(), table))
        .collect();
    Ok(cache)
}

/// A column's type from `format_type`; types the planner has no rules for are read as text,
/// which leaves their values to the database to check.
fn column_type(cache: &SchemaCache, text: &str) -> PgType {
    let named = |text: &str| {
        crate::migrate::named_type(cache, text).map_or(PgType::Text, |(pg_type, _)| pg_type)
    };
    match text.strip_suffix("[]") {
        Some(element) => PgType::Array(Box::new(named(element))),
        None => named(text),
    }
}

/// `confdeltype`/`confupdtype` as a referential action.
fn action(code: &str) -> ReferentialAction {
    match code {
        "r" => ReferentialAction::Restrict,
        "c" => ReferentialAction::Cascade,
        "n" => ReferentialAction::SetNull,
        "d" => ReferentialAction::SetDefault,
        _ => ReferentialAction::NoAction,
    }
}
