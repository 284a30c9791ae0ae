//! Typed: what the translator takes from the columns' types when it knows the schema. A write
//! into a `numeric(p, s)` column (`insert … values`, `insert … select`, `update … set`,
//! `on conflict do update set`) casts its value to the column's type, as Postgres's assignment
//! does, so it is rounded or refused (22003) on every SQL path — as is a write into a PostGIS
//! column, checked against its modifiers, and one into a range column, canonicalized (`[1,2]` →
//! `[1,3)`); and a `numeric(p, s)` column read as text
//! (`price::text`) prints its scale (`0.50`). A name resolves through the relations of the
//! queries around it, innermost first; one that might come from a subquery, a CTE or a function
//! in FROM is left as it is.

use sqlparser::ast::{
    Assignment, AssignmentTarget, CastKind, DataType, ExactNumberInfo, Expr, FromTable, Ident,
    ObjectName, OnConflictAction, OnInsert, Query, SelectItem, SetExpr, Statement, TableFactor,
    TableObject, TableWithJoins, UpdateTableFromKind,
};

use super::expression::{ident_name, qualified_name};
use crate::schema::{PgType, SchemaCache, Table};

/// The relations one query or statement reads, each by the name it is referred to by, with its
/// table when its columns are known.
pub type Scope<'a> = Vec<(String, Option<&'a Table>)>;

/// The relations `query` reads (its CTEs hide tables of the same name).
pub fn query_scope<'a>(cache: &'a SchemaCache, query: &Query) -> Scope<'a> {
    let ctes: Vec<String> = query
        .with
        .iter()
        .flat_map(|with| &with.cte_tables)
        .map(|cte| ident_name(&cte.alias.name))
        .collect();
    let mut scope = Scope::new();
    body_scope(cache, &ctes, &query.body, &mut scope);
    scope
}

fn body_scope<'a>(cache: &'a SchemaCache, ctes: &[String], body: &SetExpr, scope: &mut Scope<'a>) {
    match body {
        SetExpr::Select(select) => from_scope(cache, ctes, &select.from, scope),
        SetExpr::SetOperation { left, right, .. } => {
            body_scope(cache, ctes, left, scope);
            body_scope(cache, ctes, right, scope);
        }
        _ => {}
    }
}

fn from_scope<'a>(
    cache: &'a SchemaCache,
    ctes: &[String],
    from: &[TableWithJoins],
    scope: &mut Scope<'a>,
) {
    for item in from {
        factor_scope(cache, ctes, &item.relation, scope);
        for join in &item.joins {
            factor_scope(cache, ctes, &join.relation, scope);
        }
    }
}

fn factor_scope<'a>(
    cache: &'a SchemaCache,
    ctes: &[String],
    factor: &TableFactor,
    scope: &mut Scope<'a>,
) {
    match factor {
        TableFactor::Table {
            name, alias, args, ..
        } => {
            let qualified = qualified_name(name);
            let hidden = name.0.len() == 1 && ctes.contains(&qualified.name);
            let table = (args.is_none() && !hidden)
                .then(|| cache.table(&qualified))
                .flatten();
            let referred = alias
                .as_ref()
                .map_or(qualified.name, |alias| ident_name(&alias.name));
            scope.push((referred, table));
        }
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => from_scope(cache, ctes, std::slice::from_ref(table_with_joins), scope),
        other => {
            let alias = match other {
                TableFactor::Derived { alias, .. } | TableFactor::Function { alias, .. } => {
                    alias.as_ref().map(|alias| ident_name(&alias.name))
                }
                _ => None,
            };
            scope.push((alias.unwrap_or_default(), None));
        }
    }
}

/// The relations an INSERT, UPDATE or DELETE reads besides its queries: its target (and
/// `excluded` for `on conflict`), an UPDATE's FROM, a DELETE's USING.
pub fn statement_scope<'a>(cache: &'a SchemaCache, statement: &Statement) -> Option<Scope<'a>> {
    let mut scope = Scope::new();
    match statement {
        Statement::Insert(insert) => {
            let TableObject::TableName(name) = &insert.table else {
                return None;
            };
            let table = cache.table(&qualified_name(name));
            let referred = insert.table_alias.as_ref().map_or_else(
                || qualified_name(name).name,
                |alias| ident_name(&alias.alias),
            );
            scope.push((referred, table));
            scope.push(("excluded".to_owned(), table));
        }
        Statement::Update(update) => {
            from_scope(cache, &[], std::slice::from_ref(&update.table), &mut scope);
            if let Some(
                UpdateTableFromKind::BeforeSet(from) | UpdateTableFromKind::AfterSet(from),
            ) = &update.from
            {
                from_scope(cache, &[], from, &mut scope);
            }
        }
        Statement::Delete(delete) => {
            let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
            from_scope(cache, &[], from, &mut scope);
            from_scope(
                cache,
                &[],
                delete.using.as_deref().unwrap_or_default(),
                &mut scope,
            );
        }
        _ => return None,
    }
    Some(scope)
}

/// The type of the column `expr` names (`price`, `t.price`), resolved through `scopes`
/// (innermost last); `None` when it names no column for certain.
pub fn column_type<'a>(scopes: &[Scope<'a>], expr: &Expr) -> Option<&'a PgType> {
    let (qualifier, column) = match expr {
        Expr::Identifier(ident) => (None, ident_name(ident)),
        Expr::CompoundIdentifier(parts) => match parts.as_slice() {
            [relation, column] => (Some(ident_name(relation)), ident_name(column)),
            _ => return None,
        },
        _ => return None,
    };
    for scope in scopes.iter().rev() {
        let holders: Vec<&Option<&'a Table>> = match &qualifier {
            Some(qualifier) => {
                let named: Vec<_> = scope
                    .iter()
                    .filter(|(referred, _)| referred == qualifier)
                    .map(|(_, table)| table)
                    .collect();
                if named.is_empty() {
                    continue;
                }
                named
            }
            None => scope
                .iter()
                .map(|(_, table)| table)
                .filter(|table| table.is_none_or(|table| table.column(&column).is_some()))
                .collect(),
        };
        return match holders.as_slice() {
            [] => continue,
            [Some(table)] => table.column(&column).map(|column| &column.pg_type),
            _ => None,
        };
    }
    None
}

/// Casts each value `statement` writes into a `numeric(p, s)`, PostGIS or range column of a
/// known table to the column's type. A source query with `*` in its select list is left as it is.
pub fn cast_writes(cache: &SchemaCache, statement: &mut Statement) {
    match statement {
        Statement::Insert(insert) => {
            let TableObject::TableName(name) = &insert.table else {
                return;
            };
            let Some(table) = cache.table(&qualified_name(name)) else {
                return;
            };
            let targets: Vec<Option<&PgType>> = match insert.columns.is_empty() {
                true => table
                    .columns
                    .iter()
                    .map(|column| Some(&column.pg_type))
                    .collect(),
                false => insert
                    .columns
                    .iter()
                    .map(|name| {
                        let ident = name.0.last()?.as_ident()?;
                        table
                            .column(&ident_name(ident))
                            .map(|column| &column.pg_type)
                    })
                    .collect(),
            };
            if let Some(source) = insert.source.as_mut() {
                cast_source(&mut source.body, &targets);
            }
            if let Some(OnInsert::OnConflict(conflict)) = &mut insert.on
                && let OnConflictAction::DoUpdate(update) = &mut conflict.action
            {
                cast_assignments(table, &mut update.assignments);
            }
        }
        Statement::Update(update) => {
            if let TableFactor::Table { name, .. } = &update.table.relation
                && let Some(table) = cache.table(&qualified_name(name))
            {
                cast_assignments(table, &mut update.assignments);
            }
        }
        _ => {}
    }
}

/// The rows an INSERT takes from `body`, cast column by column.
fn cast_source(body: &mut SetExpr, targets: &[Option<&PgType>]) {
    match body {
        SetExpr::Values(values) => {
            for row in &mut values.rows {
                for (value, target) in row.iter_mut().zip(targets) {
                    if !is_default(value) {
                        cast(value, *target);
                    }
                }
            }
        }
        SetExpr::Select(select) => {
            let mut items = Vec::new();
            for item in &mut select.projection {
                match item {
                    SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                        items.push(expr);
                    }
                    _ => return,
                }
            }
            for (expr, target) in items.into_iter().zip(targets) {
                cast(expr, *target);
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            cast_source(left, targets);
            cast_source(right, targets);
        }
        SetExpr::Query(query) => cast_source(&mut query.body, targets),
        _ => {}
    }
}

fn cast_assignments(table: &Table, assignments: &mut [Assignment]) {
    for assignment in assignments {
        let AssignmentTarget::ColumnName(name) = &assignment.target else {
            continue;
        };
        let target = name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .and_then(|ident| table.column(&ident_name(ident)))
            .map(|column| &column.pg_type);
        if !is_default(&assignment.value) {
            cast(&mut assignment.value, target);
        }
    }
}

/// `DEFAULT` in a VALUES row or a SET.
fn is_default(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(ident) if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default"))
}

fn cast(expr: &mut Expr, target: Option<&PgType>) {
    let data_type = match target {
        Some(PgType::Decimal { precision, scale }) => DataType::Numeric(
            ExactNumberInfo::PrecisionAndScale(u64::from(*precision), i64::from(*scale)),
        ),
        Some(other) => match (other.range(), super::postgis::write_type(other)) {
            (Some(kind), _) => {
                DataType::Custom(ObjectName::from(vec![Ident::new(kind.name())]), Vec::new())
            }
            (None, Some(type_text)) => {
                DataType::Custom(ObjectName::from(vec![Ident::new(type_text)]), Vec::new())
            }
            (None, None) => return,
        },
        None => return,
    };
    let value = std::mem::replace(expr, Expr::Value(sqlparser::ast::Value::Null.into()));
    *expr = Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(value),
        data_type,
        format: None,
    };
}

#[cfg(test)]
mod tests {
    use super::super::expression::{Typed, translate_with};
    use crate::schema::PgType;
    use crate::schema::{Column, QualifiedName, SchemaCache, Table, TableKind};

    fn translated(sql: &str) -> String {
        let mut cache = SchemaCache::default();
        for (name, other) in [("prices", "note"), ("items", "price")] {
            let mut table = Table::new(QualifiedName::public(name), TableKind::Table);
            table.columns = vec![
                Column::new("id", PgType::Integer),
                Column::new(
                    "price",
                    PgType::Decimal {
                        precision: 10,
                        scale: 2,
                    },
                ),
                Column::new(other, PgType::Text),
            ];
            cache.tables.insert(table.name.clone(), table);
        }
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let mut statement = sqlparser::parser::Parser::parse_sql(&dialect, sql)
            .unwrap()
            .remove(0);
        translate_with(&mut statement, &[], &Typed(&cache)).unwrap()
    }

    #[test]
    fn writes_into_a_numeric_column_are_cast_to_its_type() {
        assert_eq!(
            translated("insert into prices (note, price) values ('a', 2.345), ('b', default)"),
            r#"INSERT INTO "prices" (note, price) VALUES ('a', pg_numeric(2.345, 10, 2)), ('b', default)"#
        );
        assert_eq!(
            translated("insert into prices select 1, price * 2, 'x' from items"),
            r#"INSERT INTO "prices" SELECT 1, pg_numeric(price * 2, 10, 2), 'x' FROM "items""#
        );
        assert_eq!(
            translated("insert into prices select * from items"),
            r#"INSERT INTO "prices" SELECT * FROM "items""#
        );
        assert_eq!(
            translated(
                "insert into prices (id, price) values (1, 3) on conflict (id) do update set price = excluded.price + 1"
            ),
            r#"INSERT INTO "prices" (id, price) VALUES (1, pg_numeric(3, 10, 2)) ON CONFLICT(id) DO UPDATE SET price = pg_numeric(excluded.price + 1, 10, 2)"#
        );
        assert_eq!(
            translated("update prices set price = price * 1.1, note = 'x'"),
            r#"UPDATE "prices" SET price = pg_numeric(price * 1.1, 10, 2), note = 'x'"#
        );
    }

    #[test]
    fn a_computed_numeric_prints_the_scale_postgres_derives() {
        let text = |sql: &str, scale: u32| {
            format!("CASE WHEN {sql} IS NULL THEN NULL ELSE printf('%.{scale}f', {sql}) END")
        };
        assert_eq!(
            translated(
                "select sum(price)::text, (price * 2)::text, (price + 1.5)::text from prices"
            ),
            format!(
                r#"SELECT {}, {}, {} FROM "prices""#,
                text("sum(price)", 2),
                text("(price * 2)", 2),
                text("(price + 1.5)", 2)
            )
        );
        assert_eq!(
            translated("select (price * price)::text, 1.50::text from prices"),
            format!(
                r#"SELECT {}, {} FROM "prices""#,
                text("(price * price)", 4),
                text("1.50", 2)
            )
        );
        // avg and division compute their own scale: left to SQLite's text.
        assert!(
            translated("select avg(price)::text from prices").contains("CAST(avg(price) AS TEXT)")
        );
    }

    #[test]
    fn a_numeric_column_prints_its_scale_where_its_name_is_certain() {
        let text = |column: &str| {
            format!("CASE WHEN {column} IS NULL THEN NULL ELSE printf('%.2f', {column}) END")
        };
        assert_eq!(
            translated("select price::text, note || price from prices"),
            format!(
                r#"SELECT {}, note || {} FROM "prices""#,
                text("price"),
                text("price")
            )
        );
        assert_eq!(
            translated("select p.price::text from prices p join items i on i.id = p.id"),
            format!(
                r#"SELECT {} FROM "prices" p JOIN "items" i ON i.id = p.id"#,
                text("p.price")
            )
        );
        // Both tables have a price; a subquery's or a CTE's columns are not known.
        for unknown in [
            "select price::text from prices, items",
            "select price::text from (select 1.5 as price) as s, prices",
            "with prices as (select 1.5 as price) select price::text from prices",
        ] {
            assert!(
                translated(unknown).contains("CAST(price AS TEXT)"),
                "{unknown}"
            );
        }
        // An outer query's table is seen from a subquery.
        assert_eq!(
            translated("select (select price::text) from prices"),
            format!(r#"SELECT (SELECT {}) FROM "prices""#, text("price"))
        );
    }
}
