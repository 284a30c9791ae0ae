//! View updatability: whether Postgres would find a view automatically updatable (one table in
//! `from`, no `with`, `distinct`, `group by`, `having`, `limit`, `offset`, set operation,
//! aggregate or window function) and which of its columns are plain column references — what
//! decides whether Supabase types a view with `Insert` and `Update`.

use sqlparser::ast::{Expr, GroupByExpr, SelectItem, SetExpr, Statement, TableFactor};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// The columns of an automatically updatable view that can be written through it.
#[derive(Debug, PartialEq)]
pub struct Updatable {
    /// `select *`: every column is a plain reference.
    all: bool,
    columns: Vec<String>,
}

impl Updatable {
    pub fn is_updatable(&self, column: &str) -> bool {
        self.all || self.columns.iter().any(|name| name == column)
    }
}

const AGGREGATES: [&str; 14] = [
    "count(",
    "sum(",
    "avg(",
    "min(",
    "max(",
    "array_agg(",
    "string_agg(",
    "json_agg(",
    "jsonb_agg(",
    "json_object_agg(",
    "jsonb_object_agg(",
    "bool_and(",
    "bool_or(",
    " over ",
];

/// `None` when the view (its `select` text) is not automatically updatable.
pub fn updatable_columns(definition: &str) -> Option<Updatable> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, definition).ok()?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return None;
    };
    if query.with.is_some()
        || query.limit_clause.is_some()
        || query.fetch.is_some()
        || !query.locks.is_empty()
    {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let grouped = match &select.group_by {
        GroupByExpr::All(_) => true,
        GroupByExpr::Expressions(expressions, _) => !expressions.is_empty(),
    };
    let [from] = select.from.as_slice() else {
        return None;
    };
    if select.distinct.is_some()
        || grouped
        || select.having.is_some()
        || !from.joins.is_empty()
        || !matches!(&from.relation, TableFactor::Table { args: None, .. })
    {
        return None;
    }
    let mut updatable = Updatable {
        all: false,
        columns: Vec::new(),
    };
    for item in &select.projection {
        let (expr, alias) = match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                updatable.all = true;
                continue;
            }
            SelectItem::UnnamedExpr(expr) => (expr, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            _ => return None,
        };
        let rendered = format!(" {expr} ").to_lowercase();
        if AGGREGATES
            .iter()
            .any(|aggregate| rendered.contains(aggregate))
        {
            return None;
        }
        let reference = match expr {
            Expr::Identifier(ident) => Some(ident.value.clone()),
            Expr::CompoundIdentifier(parts) => parts.last().map(|ident| ident.value.clone()),
            _ => None,
        };
        if let Some(name) = reference {
            updatable.columns.push(alias.unwrap_or(name));
        }
    }
    Some(updatable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simple_projection_of_one_table_is_updatable_through_its_plain_columns() {
        let updatable =
            updatable_columns("select p.id, p.name as title, upper(p.name) as shout from products p where p.price > 0")
                .unwrap();
        assert!(updatable.is_updatable("id"));
        assert!(updatable.is_updatable("title"));
        assert!(!updatable.is_updatable("shout"));
        assert!(
            updatable_columns("select * from products")
                .unwrap()
                .is_updatable("any")
        );
    }

    #[test]
    fn joins_aggregates_grouping_and_distinct_make_a_view_read_only() {
        for definition in [
            "select a.id from a join b on a.id = b.a_id",
            "select count(*) as n from a",
            "select category, sum(price) as total from products group by category",
            "select distinct category from products",
            "select id from a limit 10",
            "select id from a union select id from b",
            "not sql at all",
        ] {
            assert_eq!(updatable_columns(definition), None, "{definition}");
        }
    }
}
