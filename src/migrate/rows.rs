//! Rows: arguments of a table's row type (`f(t todos)`) in `language sql` bodies — the row is
//! bound as a JSON object of its columns, so `t.col`, `(t).col` and `$1.col` read
//! `json_extract(:t, '$.col')` — and a function's row estimate (`rows 1`).

use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, Expr, Ident, Statement, Value, ValueWithSpan, VisitMut, VisitorMut,
};

use crate::schema::FunctionArgument;
use crate::store::naming::quote_literal;

/// A `create function` statement without its `rows n` and `cost n` options (outside its
/// dollar-quoted body), and the `n` of `rows n`; other statements as they are.
pub fn planner_estimates(text: &str) -> (std::borrow::Cow<'_, str>, Option<u64>) {
    static OPTION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)\b(rows|cost)\s+([0-9]+(?:\.[0-9]*)?)\b").expect("valid")
    });
    static FUNCTION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?is)^\s*create\s+(or\s+replace\s+)?function\b").expect("valid")
    });
    static BODY: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\$[A-Za-z_0-9]*\$").expect("valid"));
    if !FUNCTION.is_match(text) {
        return (text.into(), None);
    }
    // The body between the first dollar quote and its closing twin is left as written.
    let body = BODY.find(text).and_then(|open| {
        let close = text[open.end()..].find(open.as_str())?;
        Some(open.start()..open.end() + close + open.as_str().len())
    });
    let Some(body) = body else {
        return (text.into(), None);
    };
    let mut rows = None;
    let mut strip = |part: &str| {
        OPTION
            .replace_all(part, |found: &regex::Captures| {
                if found[1].eq_ignore_ascii_case("rows") {
                    rows = found[2].parse::<f64>().ok().map(|n| n as u64);
                }
                String::new()
            })
            .into_owned()
    };
    let before = strip(&text[..body.start]);
    let after = strip(&text[body.end..]);
    (format!("{before}{}{after}", &text[body]).into(), rows)
}

/// Rewrites the field reads of `arguments`' row-typed ones in `statement`.
pub fn bind_row_arguments(statement: &mut Statement, arguments: &[FunctionArgument]) {
    if arguments.iter().all(|argument| argument.row.is_none()) {
        return;
    }
    let _ = statement.visit(&mut Fields { arguments });
}

/// The argument of `arguments` that `expr` names: by its name (`t`) or its position (`$1`).
pub(super) fn named_argument<'a>(
    arguments: &'a [FunctionArgument],
    expr: &Expr,
) -> Option<&'a FunctionArgument> {
    match expr {
        Expr::Identifier(ident) => {
            let name = ident_name(ident);
            arguments.iter().find(|argument| argument.name == name)
        }
        Expr::Value(ValueWithSpan {
            value: Value::Placeholder(placeholder),
            ..
        }) => placeholder
            .strip_prefix('$')
            .and_then(|index| index.parse::<usize>().ok())
            .and_then(|index| arguments.get(index.wrapping_sub(1))),
        _ => None,
    }
}

struct Fields<'a> {
    arguments: &'a [FunctionArgument],
}

impl Fields<'_> {
    /// The row argument `expr` names (`t`, `(t)` or `$1`).
    fn row_argument(&self, expr: &Expr) -> Option<&FunctionArgument> {
        match expr {
            Expr::Nested(inner) => self.row_argument(inner),
            _ => named_argument(self.arguments, expr).filter(|argument| argument.row.is_some()),
        }
    }

    fn field(&self, expr: &Expr) -> Option<String> {
        let (argument, column) = match expr {
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => (
                self.row_argument(&Expr::Identifier(parts[0].clone()))?,
                ident_name(&parts[1]),
            ),
            Expr::CompoundFieldAccess { root, access_chain } => match access_chain.as_slice() {
                [AccessExpr::Dot(Expr::Identifier(column))] => {
                    (self.row_argument(root)?, ident_name(column))
                }
                _ => return None,
            },
            _ => return None,
        };
        Some(format!(
            "json_extract(:{}, {})",
            argument.name,
            quote_literal(&format!("$.\"{}\"", column.replace('"', "\\\"")))
        ))
    }
}

impl VisitorMut for Fields<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(sql) = self.field(expr) {
            *expr = super::expression::raw(sql);
        }
        ControlFlow::Continue(())
    }
}

fn ident_name(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{PgType, QualifiedName};

    fn bound(body: &str) -> String {
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let mut statement = sqlparser::parser::Parser::parse_sql(&dialect, body)
            .unwrap()
            .remove(0);
        let arguments = [
            FunctionArgument {
                name: "u".into(),
                pg_type: PgType::Jsonb,
                default: None,
                row: Some(QualifiedName::public("users")),
                declared_type: None,
                variadic: false,
            },
            FunctionArgument {
                name: "n".into(),
                pg_type: PgType::Integer,
                default: None,
                row: None,
                declared_type: None,
                variadic: false,
            },
        ];
        bind_row_arguments(&mut statement, &arguments);
        statement.to_string()
    }

    #[test]
    fn row_estimates_are_read_and_left_out() {
        let (text, rows) = planner_estimates(
            "create function f(users) returns setof posts rows 1 language sql as $$ select * from posts limit 5 rows $$ cost 10",
        );
        assert_eq!(rows, Some(1));
        assert_eq!(
            text,
            "create function f(users) returns setof posts  language sql as $$ select * from posts limit 5 rows $$ "
        );
        assert_eq!(planner_estimates("select 1 rows 2").1, None);
    }

    #[test]
    fn fields_of_a_row_argument_read_its_json() {
        assert_eq!(
            bound("select u.name || $1.id, (u).id from posts p where p.n = n"),
            "SELECT json_extract(:u, '$.\"name\"') || json_extract(:u, '$.\"id\"'), json_extract(:u, '$.\"id\"') FROM posts p WHERE p.n = n"
        );
    }
}
