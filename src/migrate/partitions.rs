//! Declarative partitioning (`partition by range|list`, `create table … partition of … for
//! values …`): the parent keeps every row in its one SQLite table, whose triggers refuse a row
//! that no partition takes as Postgres does (23514); each partition is a view of the parent's
//! rows within its bound, kept in the `SchemaCache` as a table with the parent's columns. A
//! table attached becomes one (its rows moved into the parent); one detached, a table again.

use rusqlite::Connection;
use rusqlite::types::Value;
use sqlparser::ast::{CreateTable, Expr, ForValues, PartitionBoundValue};

use super::expression::translate_expr_text;
use super::translate::{Outcome, Refusal};
use crate::schema::{
    PartitionOf, PartitionStrategy, Partitioning, PgType, QualifiedName, SchemaCache, Table,
    TableKind,
};
use crate::store::naming::{quote_ident, quote_literal, table_ident, table_name};

/// The SQLite triggers on a parent that refuse a row no partition takes.
const GUARDS: [(&str, &str); 2] = [("insert", "INSERT"), ("update", "UPDATE OF")];

/// Reads `partition by range (a, b)` or `partition by list (a)` of `table`.
pub(super) fn partitioning(key: &Expr, table: &Table) -> Result<Partitioning, Refusal> {
    let text = key.to_string();
    let (strategy, columns) = text
        .split_once('(')
        .and_then(|(strategy, rest)| {
            Some((strategy.trim().to_lowercase(), rest.strip_suffix(')')?))
        })
        .ok_or_else(|| Refusal::new(format!("cannot read the partition key `{text}`")))?;
    let strategy = match strategy.as_str() {
        "range" => PartitionStrategy::Range,
        "list" => PartitionStrategy::List,
        other => {
            return Err(Refusal::new(format!("partition by {other} is not supported"))
                .hint("partition by range or list; Solobase keeps a partitioned table's rows in one table, so hash partitioning gains nothing"));
        }
    };
    let columns: Vec<String> = columns
        .split(',')
        .map(|column| {
            let column = column.trim();
            match column.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
                Some(quoted) => quoted.to_owned(),
                None => column.to_lowercase(),
            }
        })
        .collect();
    for column in &columns {
        if table.column(column).is_none() {
            return Err(Refusal::new(format!(
                "column \"{column}\" named in partition key does not exist"
            ))
            .hint("the partition key may name the table's columns only (no expressions)"));
        }
    }
    if strategy == PartitionStrategy::List && columns.len() != 1 {
        return Err(Refusal::new(
            "cannot use \"list\" partition strategy with more than one column",
        ));
    }
    let keys = std::iter::once(&table.primary_key).chain(
        table
            .unique_constraints
            .iter()
            .map(|unique| &unique.columns),
    );
    if keys
        .filter(|key| !key.is_empty())
        .any(|key| !columns.iter().all(|column| key.contains(column)))
    {
        return Err(Refusal::new(
            "unique constraint on partitioned table must include all partitioning columns",
        )
        .hint(format!(
            "add {} to the table's primary key and unique constraints",
            columns.join(", ")
        )));
    }
    Ok(Partitioning { strategy, columns })
}

/// `create table name partition of parent for values …`.
pub(super) fn create(
    connection: &Connection,
    cache: &mut SchemaCache,
    name: QualifiedName,
    create: &CreateTable,
) -> Outcome {
    let parent_name =
        super::expression::qualified_name(create.partition_of.as_ref().expect("a partition"));
    let Some(parent) = cache.table(&parent_name) else {
        return Err(Refusal::new(format!(
            "relation \"{parent_name}\" does not exist"
        )));
    };
    let Some(partitioning) = &parent.partitioning else {
        return Err(Refusal::new(format!(
            "\"{parent_name}\" is not partitioned"
        )));
    };
    if create.partition_by.is_some() {
        return Err(Refusal::new(format!(
            "sub-partitioning is not supported: {name} is itself partitioned"
        ))
        .hint(
            "partition the parent only; its rows are kept in one table whatever the partitions",
        ));
    }
    if !create.columns.is_empty() {
        return Err(
            Refusal::new(format!("the partition {name} declares columns"))
                .hint("a partition takes its parent's columns; declare constraints on the parent"),
        );
    }
    let for_values = create.for_values.as_ref().ok_or_else(|| {
        Refusal::new(format!(
            "the partition {name} has no bound (for values … or default)"
        ))
    })?;
    let predicate = predicate(connection, parent, partitioning, for_values)?;
    let mut partition = Table::new(name.clone(), TableKind::Table);
    partition.partition_of = Some(PartitionOf {
        parent: parent_name.clone(),
        bound: for_values.to_string(),
        predicate,
    });
    cache.tables.insert(name, partition);
    refresh(connection, cache, &parent_name)
}

/// The SQLite condition on a row's bare column names that a bound stands for.
fn predicate(
    connection: &Connection,
    parent: &Table,
    partitioning: &Partitioning,
    for_values: &ForValues,
) -> Result<Option<String>, Refusal> {
    let literal = |column: &str, value: &Expr| constant(connection, parent, column, value);
    let columns = &partitioning.columns;
    match (&partitioning.strategy, for_values) {
        (_, ForValues::Default) => Ok(None),
        (PartitionStrategy::List, ForValues::In(values)) => {
            let column = quote_ident(&columns[0]);
            let mut listed = Vec::new();
            let mut null = false;
            for value in values {
                match literal(&columns[0], value)? {
                    Some(value) => listed.push(value),
                    None => null = true,
                }
            }
            let mut terms = Vec::new();
            if !listed.is_empty() {
                terms.push(format!("{column} IN ({})", listed.join(", ")));
            }
            if null {
                terms.push(format!("{column} IS NULL"));
            }
            Ok(Some(format!("({})", terms.join(" OR "))))
        }
        (PartitionStrategy::Range, ForValues::From { from, to }) => {
            if from.len() != columns.len() || to.len() != columns.len() {
                return Err(Refusal::new(format!(
                    "a bound of a partition of \"{}\" must give {} values",
                    parent.name,
                    columns.len()
                )));
            }
            let mut terms: Vec<String> = columns
                .iter()
                .map(|c| format!("{} IS NOT NULL", quote_ident(c)))
                .collect();
            for (values, lower) in [(from, true), (to, false)] {
                let finite: Vec<&Expr> = values
                    .iter()
                    .map_while(|value| match value {
                        PartitionBoundValue::Expr(expr) => Some(expr),
                        _ => None,
                    })
                    .collect();
                let infinity = values.get(finite.len());
                let operator = match (lower, infinity) {
                    (true, None | Some(PartitionBoundValue::MinValue)) => ">=",
                    (true, _) => ">",
                    (false, Some(PartitionBoundValue::MaxValue)) => "<=",
                    (false, _) => "<",
                };
                if finite.is_empty() {
                    // MINVALUE from / MAXVALUE to: no limit; the reverse takes nothing.
                    if (lower && operator == ">") || (!lower && operator == "<") {
                        terms.push("0".to_owned());
                    }
                    continue;
                }
                let mut keys = Vec::new();
                let mut bounds = Vec::new();
                for (column, value) in columns.iter().zip(&finite) {
                    keys.push(quote_ident(column));
                    bounds.push(literal(column, value)?.ok_or_else(|| {
                        Refusal::new("cannot use NULL in a range partition bound")
                    })?);
                }
                terms.push(format!(
                    "({}) {operator} ({})",
                    keys.join(", "),
                    bounds.join(", ")
                ));
            }
            Ok(Some(format!("({})", terms.join(" AND "))))
        }
        (PartitionStrategy::Range, _) => Err(Refusal::new(format!(
            "invalid bound specification for a range partition of \"{}\"",
            parent.name
        ))),
        (PartitionStrategy::List, _) => Err(Refusal::new(format!(
            "invalid bound specification for a list partition of \"{}\"",
            parent.name
        ))),
    }
}

/// A bound value as a SQLite literal of the key column's stored form; `None` for NULL.
fn constant(
    connection: &Connection,
    parent: &Table,
    column: &str,
    value: &Expr,
) -> Result<Option<String>, Refusal> {
    let pg_type = &parent.column(column).expect("a key column").pg_type;
    let sql = translate_expr_text(&format!("CAST({value} AS {})", pg_type.typname()))?;
    let value: Value = connection.query_row(&format!("SELECT {sql}"), [], |row| row.get(0))?;
    Ok(match value {
        Value::Null => None,
        Value::Integer(number) => Some(number.to_string()),
        Value::Real(number) => Some(number.to_string()),
        Value::Text(text) => Some(quote_literal(&text)),
        Value::Blob(_) => {
            return Err(Refusal::new(format!(
                "cannot use `{value:?}` as a partition bound"
            )));
        }
    })
}

/// The partitions of `parent`, by name, with their predicates.
fn partitions_of<'c>(
    cache: &'c SchemaCache,
    parent: &QualifiedName,
) -> Vec<(&'c QualifiedName, Option<&'c str>)> {
    cache
        .tables
        .values()
        .filter_map(|table| {
            let partition = table.partition_of.as_ref()?;
            (partition.parent == *parent).then_some((&table.name, partition.predicate.as_deref()))
        })
        .collect()
}

/// The condition of a row no partition of `parent` but its default one takes.
fn unclaimed(cache: &SchemaCache, parent: &QualifiedName) -> String {
    let claimed: Vec<&str> = partitions_of(cache, parent)
        .into_iter()
        .filter_map(|(_, predicate)| predicate)
        .collect();
    match claimed.as_slice() {
        [] => "1".to_owned(),
        _ => format!("NOT coalesce({}, 0)", claimed.join(" OR ")),
    }
}

/// The condition, on a row's bare column names, of the rows in `partition`.
fn rows_of(cache: &SchemaCache, partition: &PartitionOf) -> String {
    partition
        .predicate
        .clone()
        .unwrap_or_else(|| unclaimed(cache, &partition.parent))
}

/// Brings `parent`'s partitions (columns and views) and its routing triggers up to date.
pub(super) fn refresh(
    connection: &Connection,
    cache: &mut SchemaCache,
    parent: &QualifiedName,
) -> Outcome {
    let Some(table) = cache.table(parent).cloned() else {
        return Ok(());
    };
    let Some(partitioning) = &table.partitioning else {
        return Ok(());
    };
    let parent_ident = table_ident(parent);
    let names: Vec<QualifiedName> = partitions_of(cache, parent)
        .into_iter()
        .map(|(name, _)| name.clone())
        .collect();
    for name in &names {
        let partition = cache
            .tables
            .get(name)
            .and_then(|p| p.partition_of.clone())
            .expect("a partition");
        let ident = table_ident(name);
        connection.execute_batch(&format!(
            "DROP VIEW IF EXISTS {ident}; CREATE VIEW {ident} AS SELECT * FROM {parent_ident} WHERE {}",
            rows_of(cache, &partition)
        ))?;
        let entry = cache.tables.get_mut(name).expect("a partition");
        entry.columns = table.columns.clone();
        entry.primary_key = table.primary_key.clone();
        entry.unique_constraints = table.unique_constraints.clone();
        entry.checks = table.checks.clone();
    }
    let sqlite_table = table_name(parent);
    let has_default = partitions_of(cache, parent)
        .iter()
        .any(|(_, predicate)| predicate.is_none());
    let claimed: Vec<&str> = partitions_of(cache, parent)
        .into_iter()
        .filter_map(|(_, predicate)| predicate)
        .collect();
    let row: Vec<String> = partitioning
        .columns
        .iter()
        .map(|c| format!("NEW.{0} AS {0}", quote_ident(c)))
        .collect();
    let condition = match claimed.as_slice() {
        [] => "0".to_owned(),
        _ => format!(
            "coalesce((SELECT {} FROM (SELECT {})), 0)",
            claimed.join(" OR "),
            row.join(", ")
        ),
    };
    let keys = partitioning
        .columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let values = partitioning
        .columns
        .iter()
        .map(|c| {
            printed(
                &format!("NEW.{}", quote_ident(c)),
                &table.column(c).expect("a key column").pg_type,
            )
        })
        .collect::<Vec<_>>()
        .join(" || ', ' || ");
    let error = format!(
        "char(1) || json_object('code', '23514', 'message', {}, 'detail', {} || {values} || ').', 'hint', NULL)",
        quote_literal(&format!(
            "no partition of relation \"{}\" found for row",
            parent.name
        )),
        quote_literal(&format!(
            "Partition key of the failing row contains ({}) = (",
            partitioning.columns.join(", ")
        )),
    );
    drop_guards(connection, parent)?;
    for (suffix, event) in GUARDS {
        let trigger = quote_ident(&format!("{sqlite_table}__partition_{suffix}"));
        if !has_default {
            let columns = if event == "INSERT" {
                String::new()
            } else {
                format!(" {keys}")
            };
            connection.execute_batch(&format!(
                "CREATE TRIGGER {trigger} BEFORE {event}{columns} ON {} WHEN NOT {condition} BEGIN SELECT RAISE(ABORT, {error}); END",
                quote_ident(&sqlite_table)
            ))?;
        }
    }
    Ok(())
}

/// Drops the triggers guarding `parent` (`refresh` makes them again).
fn drop_guards(connection: &Connection, parent: &QualifiedName) -> Outcome {
    for (suffix, _) in GUARDS {
        let trigger = format!("{}__partition_{suffix}", table_name(parent));
        connection.execute_batch(&format!("DROP TRIGGER IF EXISTS {}", quote_ident(&trigger)))?;
    }
    Ok(())
}

/// SQL printing the stored value `sql` of `pg_type` as Postgres's text output does in an
/// error's detail (`2024-06-01 00:00:00+00` for the stored `2024-06-01T00:00:00+00:00`).
fn printed(sql: &str, pg_type: &PgType) -> String {
    let text = match pg_type {
        PgType::Timestamptz => format!(
            "replace(CASE WHEN {sql} LIKE '%+00:00' THEN substr({sql}, 1, length({sql}) - 3) ELSE {sql} END, 'T', ' ')"
        ),
        PgType::Timestamp => format!("replace({sql}, 'T', ' ')"),
        _ => sql.to_owned(),
    };
    format!("coalesce({text}, 'null')")
}

/// `alter table parent attach partition name for values …`: the table's rows move into the
/// parent, once Postgres's checks pass (the columns match, every row is within the bound, and
/// no row of the default partition belongs to it).
pub(super) fn attach(
    connection: &Connection,
    cache: &mut SchemaCache,
    parent_name: &QualifiedName,
    name: &QualifiedName,
    for_values: &ForValues,
) -> Outcome {
    let parent = cache
        .table(parent_name)
        .cloned()
        .expect("the altered table");
    let Some(partitioning) = &parent.partitioning else {
        return Err(Refusal::new(format!(
            "table \"{}\" is not partitioned",
            parent_name.name
        )));
    };
    let Some(table) = cache.table(name).cloned() else {
        return Err(Refusal::new(format!("relation \"{name}\" does not exist")));
    };
    if table.partition_of.is_some()
        || table.partitioning.is_some()
        || table.kind != TableKind::Table
    {
        return Err(Refusal::new(format!("cannot attach {name}: only a plain table may become a partition"))
            .hint("sub-partitioning is not supported; attach a table that is neither partitioned nor a partition"));
    }
    for column in &table.columns {
        if parent.column(&column.name).is_none() {
            return Err(Refusal::new(format!(
                "table \"{}\" contains column \"{}\" not found in parent \"{}\"",
                name.name, column.name, parent_name.name
            )));
        }
    }
    if let Some(missing) = parent
        .columns
        .iter()
        .find(|column| table.column(&column.name).is_none())
    {
        return Err(Refusal::new(format!(
            "child table is missing column \"{}\"",
            missing.name
        )));
    }
    let predicate = predicate(connection, &parent, partitioning, for_values)?;
    let rows = predicate
        .clone()
        .unwrap_or_else(|| unclaimed(cache, parent_name));
    let outside: i64 = connection.query_row(
        &format!(
            "SELECT count(*) FROM {} WHERE NOT coalesce({rows}, 0)",
            table_ident(name)
        ),
        [],
        |row| row.get(0),
    )?;
    if outside > 0 {
        return Err(Refusal::new(format!(
            "partition constraint of relation \"{}\" is violated by some row",
            name.name
        )));
    }
    if let (Some(predicate), Some((default, _))) = (
        &predicate,
        partitions_of(cache, parent_name)
            .into_iter()
            .find(|(_, predicate)| predicate.is_none()),
    ) {
        let moved: i64 = connection.query_row(
            &format!(
                "SELECT count(*) FROM {} WHERE {} AND {predicate}",
                table_ident(parent_name),
                unclaimed(cache, parent_name)
            ),
            [],
            |row| row.get(0),
        )?;
        if moved > 0 {
            return Err(Refusal::new(format!(
                "updated partition constraint for default partition \"{}\" would be violated by some row",
                default.name
            )));
        }
    }
    let columns = parent
        .columns
        .iter()
        .map(|column| quote_ident(&column.name))
        .collect::<Vec<_>>()
        .join(", ");
    // The rows are within the bound, which the guards learn of only once it is a partition.
    drop_guards(connection, parent_name)?;
    connection.execute_batch(&format!(
        "INSERT INTO {} ({columns}) SELECT {columns} FROM {}; DROP TABLE {}",
        table_ident(parent_name),
        table_ident(name),
        table_ident(name)
    ))?;
    super::sequences::drop_owned(connection, cache, name)?;
    let partition = Table {
        partition_of: Some(PartitionOf {
            parent: parent_name.clone(),
            bound: for_values.to_string(),
            predicate,
        }),
        ..table
    };
    cache.tables.insert(name.clone(), partition);
    refresh(connection, cache, parent_name)
}

/// `alter table parent detach partition name`: the partition's rows move into a table of its own.
pub(super) fn detach(
    connection: &Connection,
    cache: &mut SchemaCache,
    parent_name: &QualifiedName,
    name: &QualifiedName,
) -> Outcome {
    let Some(mut table) = cache.table(name).cloned().filter(|table| {
        table
            .partition_of
            .as_ref()
            .is_some_and(|partition| partition.parent == *parent_name)
    }) else {
        return Err(Refusal::new(format!(
            "relation \"{}\" is not a partition of relation \"{}\"",
            name.name, parent_name.name
        )));
    };
    let rows = rows_of(cache, table.partition_of.as_ref().expect("a partition"));
    table.partition_of = None;
    let sqlite_name = table_name(name);
    let temporary = quote_ident(&format!("{sqlite_name}__solobase_detach"));
    let columns = table
        .columns
        .iter()
        .map(|column| quote_ident(&column.name))
        .collect::<Vec<_>>()
        .join(", ");
    let parent = table_ident(parent_name);
    connection.execute_batch(&super::translate::create_table_sql(
        cache, &table, &temporary,
    )?)?;
    connection.execute_batch(&format!(
        "INSERT INTO {temporary} ({columns}) SELECT {columns} FROM {parent} WHERE {rows}; \
         DELETE FROM {parent} WHERE {rows}; DROP VIEW {}; ALTER TABLE {temporary} RENAME TO {}",
        table_ident(name),
        quote_ident(&sqlite_name)
    ))?;
    cache.tables.insert(name.clone(), table);
    refresh(connection, cache, parent_name)
}

/// `drop table partition`: its rows go with it, as in Postgres.
pub(super) fn drop(
    connection: &Connection,
    cache: &mut SchemaCache,
    name: &QualifiedName,
) -> Outcome {
    let Some(partition) = cache
        .table(name)
        .and_then(|table| table.partition_of.clone())
    else {
        return Ok(());
    };
    connection.execute_batch(&format!(
        "DELETE FROM {} WHERE {}; DROP VIEW IF EXISTS {}",
        table_ident(&partition.parent),
        rows_of(cache, &partition),
        table_ident(name)
    ))?;
    cache.tables.remove(name);
    refresh(connection, cache, &partition.parent)
}

/// `drop table parent`: its partitions go with it, as in Postgres.
pub(super) fn drop_partitioned(
    connection: &Connection,
    cache: &mut SchemaCache,
    parent: &QualifiedName,
) -> Outcome {
    let names: Vec<QualifiedName> = partitions_of(cache, parent)
        .into_iter()
        .map(|(name, _)| name.clone())
        .collect();
    for name in names {
        connection.execute_batch(&format!("DROP VIEW IF EXISTS {}", table_ident(&name)))?;
        cache.tables.remove(&name);
    }
    Ok(())
}

/// pg_dump's `alter index parent_idx attach partition partition_idx`: nothing to do, the
/// parent's index already covers the partition's rows, which live in the parent's table.
pub(super) fn attach_index(text: &str) -> Option<Outcome> {
    let lowered = text.to_ascii_lowercase();
    let words: Vec<&str> = lowered.split_whitespace().collect();
    (words.starts_with(&["alter", "index"])
        && words.windows(2).any(|pair| pair == ["attach", "partition"]))
    .then_some(Ok(()))
}

/// pg_dump's `create index … on only parent (…)`, an index of the parent alone that its
/// partitions' indexes are attached to later: read without `only`, since the parent's table
/// holds every partition's rows.
pub(super) fn index_on_only(text: &str) -> std::borrow::Cow<'_, str> {
    static ON_ONLY: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?is)^(\s*create\s+(?:unique\s+)?index\b.*?\bon)\s+only\s+")
            .expect("a valid pattern")
    });
    ON_ONLY.replace(text, "$1 ")
}

/// The SQLite table holding `name`'s rows: the parent's for a partition.
pub(super) fn physical(cache: &SchemaCache, name: &QualifiedName) -> QualifiedName {
    cache
        .table(name)
        .and_then(|table| table.partition_of.as_ref())
        .map_or_else(|| name.clone(), |partition| partition.parent.clone())
}
