//! Relationships as PostgREST detects them: each foreign key, and the same key again wherever a
//! view passes the key's columns through unchanged (view to table, table to view, view to view),
//! so that views take part in the relationships of the tables under them.

use sqlparser::ast::{Expr, SelectItem, SetExpr, Statement, TableFactor};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::{QualifiedName, SchemaCache, Table, TableKind};

/// A many-to-one (or one-to-one) relationship from `relation.columns` to
/// `referenced_relation.referenced_columns`, named after the foreign key it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relationship {
    pub foreign_key_name: String,
    pub relation: QualifiedName,
    pub columns: Vec<String>,
    /// The key's columns are the primary key or a unique constraint of the table that holds it.
    pub is_one_to_one: bool,
    pub referenced_relation: QualifiedName,
    pub referenced_columns: Vec<String>,
}

/// Views nested deeper than this are not followed (Postgres itself rejects cycles).
const MAX_VIEW_DEPTH: usize = 16;

/// Every relationship of the schema: the foreign keys of tables, then those seen through views.
pub fn relationships(cache: &SchemaCache) -> Vec<Relationship> {
    let keys: Vec<Relationship> = cache
        .tables
        .values()
        .filter(|table| table.kind == TableKind::Table)
        .flat_map(|table| {
            table.foreign_keys.iter().map(|key| Relationship {
                foreign_key_name: key.name.clone(),
                relation: table.name.clone(),
                columns: key.columns.clone(),
                is_one_to_one: is_unique(table, &key.columns),
                referenced_relation: key.referenced_table.clone(),
                referenced_columns: key.referenced_columns.clone(),
            })
        })
        .collect();
    let views: Vec<(&Table, Vec<ColumnSource>)> = cache
        .tables
        .values()
        .filter(|table| matches!(table.kind, TableKind::View { .. }))
        .map(|view| (view, column_sources(cache, view, 0)))
        .collect();
    // The views that expose every one of `columns` of `table`, with the view columns each
    // choice of exposing columns gives (a column exposed twice gives two relationships).
    let exposing =
        |table: &QualifiedName, columns: &[String]| -> Vec<(QualifiedName, Vec<Vec<String>>)> {
            views
                .iter()
                .filter_map(|(view, sources)| {
                    let choices: Vec<Vec<String>> = columns
                        .iter()
                        .map(|column| {
                            sources
                                .iter()
                                .filter(|source| {
                                    &source.table == table && &source.table_column == column
                                })
                                .map(|source| source.view_column.clone())
                                .collect()
                        })
                        .collect();
                    if choices.iter().any(Vec::is_empty) {
                        None
                    } else {
                        Some((view.name.clone(), cartesian_product(&choices)))
                    }
                })
                .collect()
        };
    let mut through_views = Vec::new();
    for key in &keys {
        let from_views = exposing(&key.relation, &key.columns);
        let to_views = exposing(&key.referenced_relation, &key.referenced_columns);
        for (view, column_choices) in &from_views {
            for columns in column_choices {
                through_views.push(Relationship {
                    relation: view.clone(),
                    columns: columns.clone(),
                    ..key.clone()
                });
            }
        }
        for (view, column_choices) in &to_views {
            for referenced_columns in column_choices {
                through_views.push(Relationship {
                    referenced_relation: view.clone(),
                    referenced_columns: referenced_columns.clone(),
                    ..key.clone()
                });
            }
        }
        for (from_view, from_choices) in &from_views {
            for columns in from_choices {
                for (to_view, to_choices) in &to_views {
                    for referenced_columns in to_choices {
                        through_views.push(Relationship {
                            relation: from_view.clone(),
                            columns: columns.clone(),
                            referenced_relation: to_view.clone(),
                            referenced_columns: referenced_columns.clone(),
                            ..key.clone()
                        });
                    }
                }
            }
        }
    }
    keys.into_iter().chain(through_views).collect()
}

/// Whether `columns` are exactly the primary key or a unique constraint of `table`.
pub fn is_unique(table: &Table, columns: &[String]) -> bool {
    let wanted = sorted(columns);
    (!table.primary_key.is_empty() && sorted(&table.primary_key) == wanted)
        || table
            .unique_constraints
            .iter()
            .any(|constraint| sorted(&constraint.columns) == wanted)
}

fn sorted(columns: &[String]) -> Vec<&str> {
    let mut columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    columns.sort_unstable();
    columns
}

fn cartesian_product(choices: &[Vec<String>]) -> Vec<Vec<String>> {
    choices.iter().fold(vec![Vec::new()], |results, options| {
        results
            .iter()
            .flat_map(|result| {
                options.iter().map(move |option| {
                    let mut next = result.clone();
                    next.push(option.clone());
                    next
                })
            })
            .collect()
    })
}

/// A view column that is a plain reference to a column of a table (through nested views).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSource {
    pub view_column: String,
    pub table: QualifiedName,
    pub table_column: String,
}

/// The view's columns that are plain column references, traced to the tables they read. Only
/// the top level of a plain `select … from … [join …]` is followed, as PostgREST does; columns
/// computed from expressions, and views built from set operations or CTEs, pass no key through.
pub fn column_sources(cache: &SchemaCache, view: &Table, depth: usize) -> Vec<ColumnSource> {
    let TableKind::View { definition, .. } = &view.kind else {
        return Vec::new();
    };
    if depth > MAX_VIEW_DEPTH {
        return Vec::new();
    }
    let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, definition) else {
        return Vec::new();
    };
    let [Statement::Query(query)] = statements.as_slice() else {
        return Vec::new();
    };
    if query.with.is_some() {
        return Vec::new();
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Vec::new();
    };
    // The relations in `from`, each with the name it is referred to by.
    let mut relations: Vec<(String, &Table)> = Vec::new();
    for from in &select.from {
        for factor in
            std::iter::once(&from.relation).chain(from.joins.iter().map(|join| &join.relation))
        {
            let TableFactor::Table { name, alias, .. } = factor else {
                continue;
            };
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|part| part.as_ident().map(|ident| ident.value.clone()))
                .collect();
            let qualified = match parts.as_slice() {
                [table] => QualifiedName::new(view.name.schema.clone(), table.clone()),
                [schema, table] => QualifiedName::new(schema.clone(), table.clone()),
                _ => continue,
            };
            let Some(table) = cache
                .table(&qualified)
                .or_else(|| cache.table(&QualifiedName::public(qualified.name.clone())))
            else {
                continue;
            };
            let reference = alias
                .as_ref()
                .map(|alias| alias.name.value.clone())
                .unwrap_or_else(|| table.name.name.clone());
            relations.push((reference, table));
        }
    }
    // (view column, relation, relation column) for each plain reference in the projection.
    let mut direct: Vec<(String, &Table, String)> = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(_) => {
                for (_, table) in &relations {
                    for column in &table.columns {
                        direct.push((column.name.clone(), table, column.name.clone()));
                    }
                }
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                let rendered = kind.to_string();
                let qualifier = rendered
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .trim_matches('"');
                if let Some((_, table)) = relations.iter().find(|(name, _)| name == qualifier) {
                    for column in &table.columns {
                        direct.push((column.name.clone(), table, column.name.clone()));
                    }
                }
            }
            SelectItem::UnnamedExpr(expr) => {
                if let Some((table, column)) = resolve_reference(&relations, expr) {
                    direct.push((column.clone(), table, column));
                }
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                if let Some((table, column)) = resolve_reference(&relations, expr) {
                    direct.push((alias.value.clone(), table, column));
                }
            }
            _ => {}
        }
    }
    let mut sources = Vec::new();
    for (view_column, table, column) in direct {
        if table.kind == TableKind::Table {
            sources.push(ColumnSource {
                view_column,
                table: table.name.clone(),
                table_column: column,
            });
        } else {
            sources.extend(
                column_sources(cache, table, depth + 1)
                    .into_iter()
                    .filter(|inner| inner.view_column == column)
                    .map(|inner| ColumnSource {
                        view_column: view_column.clone(),
                        ..inner
                    }),
            );
        }
    }
    sources
}

/// The relation and column a projected expression names, when it is a plain column reference.
fn resolve_reference<'a>(
    relations: &[(String, &'a Table)],
    expr: &Expr,
) -> Option<(&'a Table, String)> {
    match expr {
        Expr::Identifier(ident) => relations
            .iter()
            .find(|(_, table)| table.column(&ident.value).is_some())
            .map(|(_, table)| (*table, ident.value.clone())),
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let column = &parts[parts.len() - 1].value;
            let qualifier = &parts[parts.len() - 2].value;
            relations
                .iter()
                .find(|(name, table)| name == qualifier && table.column(column).is_some())
                .map(|(_, table)| (*table, column.clone()))
        }
        Expr::Nested(inner) => resolve_reference(relations, inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::Migration;

    fn schema(sql: &str) -> SchemaCache {
        crate::migrate::build_schema(&[Migration {
            version: "1".into(),
            name: "schema".into(),
            path: "1_schema.sql".into(),
            sql: sql.into(),
        }])
        .unwrap()
    }

    /// `relation(columns) -> referenced(columns)` of every relationship named `key`.
    fn edges(cache: &SchemaCache, key: &str) -> Vec<String> {
        let mut edges: Vec<String> = relationships(cache)
            .into_iter()
            .filter(|relationship| relationship.foreign_key_name == key)
            .map(|relationship| {
                format!(
                    "{}({}) -> {}({})",
                    relationship.relation.name,
                    relationship.columns.join(","),
                    relationship.referenced_relation.name,
                    relationship.referenced_columns.join(",")
                )
            })
            .collect();
        edges.sort();
        edges
    }

    const SCHEMA: &str = "
        create table users (username text primary key, status text);
        create table messages (
          id bigint generated by default as identity primary key,
          username text not null references users (username),
          body text
        );
        create view active_users as select * from users where status = 'ONLINE';
        create view authors as select u.username as author, upper(u.status) as shout from users u;
        create view recent as select m.id, m.username as who from messages m order by id desc limit 10;
        create view nested as select author from authors;
        create view counted as select count(*) as n from messages;
    ";

    #[test]
    fn a_key_is_seen_through_every_view_that_passes_its_columns_through() {
        let cache = schema(SCHEMA);
        assert_eq!(
            edges(&cache, "messages_username_fkey"),
            [
                "messages(username) -> active_users(username)",
                "messages(username) -> authors(author)",
                "messages(username) -> nested(author)",
                "messages(username) -> users(username)",
                "recent(who) -> active_users(username)",
                "recent(who) -> authors(author)",
                "recent(who) -> nested(author)",
                "recent(who) -> users(username)",
            ]
        );
    }

    #[test]
    fn computed_columns_pass_no_key_through() {
        let cache = schema(SCHEMA);
        let view = cache.table(&QualifiedName::public("authors")).unwrap();
        let sources: Vec<String> = column_sources(&cache, view, 0)
            .into_iter()
            .map(|source| {
                format!(
                    "{} = {}.{}",
                    source.view_column, source.table.name, source.table_column
                )
            })
            .collect();
        assert_eq!(sources, ["author = users.username"]);
        let counted = cache.table(&QualifiedName::public("counted")).unwrap();
        assert!(column_sources(&cache, counted, 0).is_empty());
    }

    #[test]
    fn one_to_one_follows_the_holding_table_keys() {
        let cache = schema(
            "create table a (id int primary key);
             create table b (a_id int primary key references a (id));
             create table c (a_id int references a (id));",
        );
        let one_to_one = |key: &str| {
            relationships(&cache)
                .into_iter()
                .find(|relationship| relationship.foreign_key_name == key)
                .unwrap()
                .is_one_to_one
        };
        assert!(one_to_one("b_a_id_fkey"));
        assert!(!one_to_one("c_a_id_fkey"));
    }
}
