//! The `SchemaCache` of a PostgreSQL database, read from `pg_catalog` for the exposed schemas:
//! tables and views with their columns, keys and foreign keys, enums, and the functions RPC
//! calls (which also serve as computed fields and relationships of a table's row). Policies stay in the
//! database, which enforces them itself, so no table of this cache carries any.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::PgError;
use crate::schema::{
    Column, ForeignKey, Function, FunctionArgument, FunctionLanguage, FunctionReturn, PgType,
    QualifiedName, ReferentialAction, SchemaCache, Table, TableKind, UniqueConstraint, Volatility,
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
    for (oid, column) in columns(client, &cache, &oids).await? {
        if let Some(table) = by_oid.get_mut(&oid) {
            table.columns.push(column);
        }
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
    let row_types: BTreeMap<u32, QualifiedName> = by_oid
        .iter()
        .map(|(oid, table)| (*oid, table.name.clone()))
        .collect();
    cache.tables = by_oid
        .into_values()
        .map(|table| (table.name.clone(), table))
        .collect();
    functions(client, schemas, &mut cache, &row_types).await?;
    Ok(cache)
}

/// The columns of the relations (or composite types) `oids`, each with its relation's oid, in
/// their order.
async fn columns(
    client: &Client,
    cache: &SchemaCache,
    oids: &[u32],
) -> Result<Vec<(u32, Column)>, PgError> {
    let rows = client
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
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let enum_name = row
                .get::<_, bool>(3)
                .then(|| QualifiedName::new(row.get::<_, String>(4), row.get::<_, String>(5)));
            let default: Option<String> = row.get(7);
            let identity = row.get::<_, bool>(8)
                || default
                    .as_deref()
                    .is_some_and(|default| default.starts_with("nextval("));
            let column = Column {
                nullable: row.get(6),
                default,
                identity,
                comment: row.get(9),
                ..Column::new(
                    row.get::<_, String>(1),
                    value_type(cache, &row.get::<_, String>(2), enum_name),
                )
            };
            (row.get(0), column)
        })
        .collect())
}

/// An argument of a function as `pg_proc` lists it (OUT and TABLE ones too).
struct Parameter {
    name: String,
    mode: String,
    pg_type: PgType,
    declared_type: String,
    /// The table whose row type it is, among the exposed relations.
    row: Option<QualifiedName>,
    /// A pseudo-type (`anyelement`, `internal`): no value of the request can be cast to it.
    pseudo: bool,
    default: Option<String>,
}

impl Parameter {
    /// IN, INOUT or VARIADIC: a call passes it.
    fn input(&self) -> bool {
        matches!(self.mode.as_str(), "i" | "b" | "v")
    }

    /// OUT, INOUT or a column of `returns table`: the function returns it.
    fn output(&self) -> bool {
        matches!(self.mode.as_str(), "o" | "b" | "t")
    }
}

/// Adds the functions of `schemas` that PostgREST could call to `cache` (procedures,
/// aggregates and window functions aside, and functions of pseudo-type arguments or returning
/// a bare `record`): their arguments with names, types and defaults, what they return,
/// volatility, security and row estimate. `row_types` names the exposed relations by oid.
async fn functions(
    client: &Client,
    schemas: &[String],
    cache: &mut SchemaCache,
    row_types: &BTreeMap<u32, QualifiedName>,
) -> Result<(), PgError> {
    let mut parameters: BTreeMap<u32, Vec<Parameter>> = BTreeMap::new();
    for row in client
        .query(
            "select p.oid, a.ord::int, coalesce(a.name, ''), coalesce(a.mode, 'i'),
                    format_type(a.type, null), t.typtype::text, tn.nspname::text, t.typname::text,
                    t.typrelid, pg_get_function_arg_default(p.oid, a.ord::int)
             from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             cross join lateral unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]),
                                       p.proargmodes::text[], p.proargnames)
                        with ordinality as a(type, mode, name, ord)
             join pg_type t on t.oid = a.type join pg_namespace tn on tn.oid = t.typnamespace
             where n.nspname = any($1) and p.prokind = 'f'
             order by p.oid, a.ord",
            &[&schemas],
        )
        .await?
    {
        let name: String = row.get(2);
        let typtype: String = row.get(5);
        let declared_type: String = row.get(4);
        let row_type = row_types.get(&row.get(8)).filter(|_| typtype == "c");
        let enum_name = (typtype == "e")
            .then(|| QualifiedName::new(row.get::<_, String>(6), row.get::<_, String>(7)));
        parameters.entry(row.get(0)).or_default().push(Parameter {
            name: if name.is_empty() {
                format!("${}", row.get::<_, i32>(1))
            } else {
                name
            },
            mode: row.get(3),
            pg_type: match row_type {
                Some(_) => PgType::Jsonb,
                None => value_type(cache, &declared_type, enum_name),
            },
            declared_type,
            row: row_type.cloned(),
            pseudo: typtype == "p",
            default: row.get(9),
        });
    }
    let rows = client
        .query(
            "select p.oid, n.nspname::text, p.proname::text, p.provolatile::text, p.prosecdef,
                    p.proretset, p.prorows::float8, format_type(p.prorettype, null),
                    t.typtype::text, tn.nspname::text, t.typname::text, t.typrelid,
                    l.lanname::text, p.prosrc
             from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             join pg_type t on t.oid = p.prorettype join pg_namespace tn on tn.oid = t.typnamespace
             join pg_language l on l.oid = p.prolang
             where n.nspname = any($1) and p.prokind = 'f'
             order by p.oid",
            &[&schemas],
        )
        .await?;
    // Composite types returned that are no exposed relation: their columns.
    let composites: Vec<u32> = rows
        .iter()
        .filter(|row| row.get::<_, String>(8) == "c" && !row_types.contains_key(&row.get(11)))
        .map(|row| row.get(11))
        .collect();
    let mut composite_columns: BTreeMap<u32, Vec<(String, PgType)>> = BTreeMap::new();
    for (oid, column) in columns(client, cache, &composites).await? {
        composite_columns
            .entry(oid)
            .or_default()
            .push((column.name, column.pg_type));
    }
    for row in rows {
        let parameters = parameters.remove(&row.get(0)).unwrap_or_default();
        if parameters
            .iter()
            .any(|parameter| parameter.pseudo && parameter.input())
        {
            continue;
        }
        let set: bool = row.get(5);
        let (typtype, type_name, relid): (String, String, u32) =
            (row.get(8), row.get(10), row.get(11));
        let outputs: Vec<(String, PgType)> = parameters
            .iter()
            .filter(|parameter| parameter.output())
            .map(|parameter| (parameter.name.clone(), parameter.pg_type.clone()))
            .collect();
        let columns = match (outputs.is_empty(), typtype.as_str()) {
            (false, _) => Some(outputs),
            (true, "c") => composite_columns.get(&relid).cloned(),
            _ => None,
        };
        let returns = match (type_name.as_str(), typtype.as_str(), columns) {
            ("trigger" | "event_trigger", ..) => FunctionReturn::Trigger,
            ("void", ..) => FunctionReturn::Void,
            (_, _, Some(columns)) if set => FunctionReturn::Table(columns),
            (_, _, Some(columns)) => FunctionReturn::Record(columns),
            (_, "c", None) => match row_types.get(&relid) {
                Some(table) => FunctionReturn::Rows {
                    table: table.clone(),
                    set,
                },
                None => continue,
            },
            // A bare `record` or a polymorphic type: no call can say what it returns.
            (_, "p", None) => continue,
            (_, _, None) => {
                let enum_name = (typtype == "e")
                    .then(|| QualifiedName::new(row.get::<_, String>(9), type_name.clone()));
                let pg_type = value_type(cache, &row.get::<_, String>(7), enum_name);
                if set {
                    FunctionReturn::SetOf(pg_type)
                } else {
                    FunctionReturn::Scalar(pg_type)
                }
            }
        };
        let arguments = parameters
            .into_iter()
            .filter(Parameter::input)
            .map(|parameter| FunctionArgument {
                variadic: parameter.mode == "v",
                name: parameter.name,
                pg_type: parameter.pg_type,
                default: parameter.default,
                row: parameter.row,
                declared_type: Some(parameter.declared_type),
            })
            .collect();
        cache.put_function(Function {
            name: QualifiedName::new(row.get::<_, String>(1), row.get::<_, String>(2)),
            arguments,
            returns,
            language: match row.get::<_, String>(12).as_str() {
                "plpgsql" => FunctionLanguage::Plpgsql,
                _ => FunctionLanguage::Sql,
            },
            volatility: match row.get::<_, String>(3).as_str() {
                "i" => Volatility::Immutable,
                "s" => Volatility::Stable,
                _ => Volatility::Volatile,
            },
            security_definer: row.get(4),
            body: row.get(13),
            sqlite_body: None,
            program: None,
            invoked: BTreeMap::new(),
            rows: set.then(|| row.get::<_, f64>(6) as u64),
        });
    }
    Ok(())
}

/// A column's or argument's type from `format_type` (an enum's name when it is one); types the
/// planner has no rules for are read as text, which leaves their values to the database to
/// check.
fn value_type(cache: &SchemaCache, text: &str, enum_name: Option<QualifiedName>) -> PgType {
    if let Some(name) = enum_name {
        return PgType::Enum(name);
    }
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
