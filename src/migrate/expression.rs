//! Expression: rewrites Postgres expressions and queries (sqlparser AST) into SQLite SQL text —
//! `auth.uid()` → `auth_uid()`, `now()` → `pg_now()`, casts, `~` → `regexp`, `ilike`, `= any(…)`,
//! array subscripts, `storage.foldername()` and its siblings, `schema.table` → the SQLite table
//! name. Shared by the migration translator and the
//! row-level-security engine; anything it cannot express is an error naming the construct.

use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, DataType, ExactNumberInfo, Expr, FunctionArg,
    FunctionArgExpr, FunctionArguments, Ident, ObjectName, ObjectNamePart, Statement, Subscript,
    TableAlias, TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut,
};

use super::typed::{self, Scope};
use crate::schema::{PgType, QualifiedName, SchemaCache, Table};
use crate::store::naming;

/// Why an expression cannot run on SQLite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hooks for what only the caller of the translator knows: a relation may be replaced by a
/// filtered subquery (row-level security inside policies), and a call to one of the project's
/// own functions may be inlined.
pub trait Resolver {
    /// SQL for a `(SELECT …)` that stands in for `name`, or `None` to read the table itself.
    fn relation(&self, _name: &QualifiedName) -> Result<Option<String>, Unsupported> {
        Ok(None)
    }

    /// SQL replacing a call of `name` (as written, lowercased) with translated `args`.
    fn function(&self, _name: &str, _args: &[String]) -> Result<Option<String>, Unsupported> {
        Ok(None)
    }

    /// SQL for a `(SELECT …)` of the rows a call of `name` in FROM returns, or `None` to leave
    /// the call as written (SQLite's own table-valued functions).
    fn table_function(
        &self,
        _name: &QualifiedName,
        _args: &[String],
    ) -> Result<Option<String>, Unsupported> {
        Ok(None)
    }

    /// The project's schema, when known: the translation then follows the columns' types
    /// (`typed`).
    fn schema(&self) -> Option<&SchemaCache> {
        None
    }
}

/// Translation with no project knowledge: tables are read as they are, only built-ins called.
pub struct Plain;

impl Resolver for Plain {}

/// Translation that knows the project's tables (and so their columns' types) but calls only
/// built-ins.
pub struct Typed<'a>(pub &'a SchemaCache);

impl Resolver for Typed<'_> {
    fn schema(&self) -> Option<&SchemaCache> {
        Some(self.0)
    }
}

/// Translates one expression in place; `parameters` are SQL-function argument names to turn
/// into SQLite named parameters (`:name`).
pub fn translate_expr(expr: &mut Expr, parameters: &[String]) -> Result<String, Unsupported> {
    translate_with(expr, parameters, &Plain)
}

/// Translates a whole statement or query (relations renamed, expressions rewritten).
pub fn translate_node<N: VisitMut + std::fmt::Display>(
    node: &mut N,
    parameters: &[String],
) -> Result<String, Unsupported> {
    translate_with(node, parameters, &Plain)
}

/// Translates a statement, query or expression with a `Resolver` for relations and functions.
pub fn translate_with<N: VisitMut + std::fmt::Display>(
    node: &mut N,
    parameters: &[String],
    resolver: &dyn Resolver,
) -> Result<String, Unsupported> {
    translate_in(node, parameters, resolver, Vec::new())
}

/// Translates with `scopes` around the node: the relations its bare names may read.
fn translate_in<'a, N: VisitMut + std::fmt::Display>(
    node: &mut N,
    parameters: &'a [String],
    resolver: &'a dyn Resolver,
    scopes: Vec<Scope<'a>>,
) -> Result<String, Unsupported> {
    let mut rewriter = Rewriter {
        parameters,
        resolver,
        scopes,
        printed_scales: Vec::new(),
    };
    match node.visit(&mut rewriter) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(node.to_string()),
    }
}

/// Parses and translates a standalone Postgres expression given as text.
pub fn translate_expr_text(text: &str) -> Result<String, Unsupported> {
    translate_expr_text_with(text, &Plain)
}

/// Parses and translates a standalone Postgres expression with a `Resolver`.
pub fn translate_expr_text_with(
    text: &str,
    resolver: &dyn Resolver,
) -> Result<String, Unsupported> {
    translate_with(&mut parse_expr(text)?, &[], resolver)
}

/// Parses and translates a standalone expression over the row of `table` (a check constraint's,
/// a policy's), whose columns its bare names read with their types.
pub fn translate_row_expr_text(
    text: &str,
    resolver: &dyn Resolver,
    table: &Table,
) -> Result<String, Unsupported> {
    let mut expr = parse_expr(text)?;
    translate_in(
        &mut expr,
        &[],
        resolver,
        vec![vec![(table.name.name.clone(), Some(table))]],
    )
}

fn parse_expr(text: &str) -> Result<Expr, Unsupported> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|error| Unsupported(format!("cannot parse expression `{text}`: {error}")))
}

/// Replaces `:name` parameters (outside quotes) of translated SQL with the given SQL.
pub fn substitute_parameters(sql: &str, replacements: &[(String, String)]) -> String {
    rewrite_unquoted(sql, |rest, _| {
        let name = rest.strip_prefix(':')?;
        // `$` is part of a name, as in Postgres identifiers and an unnamed argument's `$1`.
        let length = name
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .unwrap_or(name.len());
        replacements
            .iter()
            .find(|(candidate, _)| candidate == &name[..length])
            .map(|(_, replacement)| (1 + length, replacement.clone()))
    })
}

/// Replaces calls `name()` (outside quotes, not part of a longer name) of the functions in
/// `names` with what `replace` gives for that name.
pub fn substitute_calls(
    sql: &str,
    names: &[&str],
    mut replace: impl FnMut(&str) -> String,
) -> String {
    rewrite_unquoted(sql, |rest, before| {
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            return None;
        }
        let name = names.iter().find(|name| {
            rest.strip_prefix(**name)
                .is_some_and(|tail| tail.starts_with("()"))
        })?;
        Some((name.len() + 2, replace(name)))
    })
}

/// Copies `sql`, letting `replace` substitute text outside quoted literals and identifiers: at
/// each such position it sees the rest of the text and the character before, and may answer
/// how many bytes it consumes and their replacement.
fn rewrite_unquoted(
    sql: &str,
    mut replace: impl FnMut(&str, Option<char>) -> Option<(usize, String)>,
) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut before: Option<char> = None;
    let mut index = 0;
    while let Some(c) = sql[index..].chars().next() {
        if quote.is_none()
            && let Some((length, replacement)) = replace(&sql[index..], before)
        {
            out.push_str(&replacement);
            index += length;
            before = sql[..index].chars().next_back();
            continue;
        }
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            _ => {}
        }
        out.push(c);
        index += c.len_utf8();
        before = Some(c);
    }
    out
}

/// An identifier as Postgres names it: folded to lower case unless it was double-quoted.
pub fn ident_name(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// The parts of a Postgres object name, each as Postgres names it (unquoted parts folded).
pub fn name_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => ident_name(ident),
            other => other.to_string(),
        })
        .collect()
}

/// A Postgres object name as a schema-qualified name (`public` when unqualified).
pub fn qualified_name(name: &ObjectName) -> QualifiedName {
    let parts = name_parts(name);
    match parts.as_slice() {
        [schema, name] => QualifiedName::new(schema.as_str(), name.as_str()),
        [.., schema, name] => QualifiedName::new(schema.as_str(), name.as_str()),
        [name] => QualifiedName::public(name.as_str()),
        [] => QualifiedName::public(""),
    }
}

/// An integer literal (`2`).
fn is_integer_literal(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(ValueWithSpan { value: Value::Number(number, _), .. }) if number.chars().all(|c| c.is_ascii_digit()))
}

/// An expression node that prints `sql` verbatim.
pub fn raw(sql: String) -> Expr {
    Expr::Identifier(Ident::new(sql))
}

struct Rewriter<'a> {
    parameters: &'a [String],
    resolver: &'a dyn Resolver,
    /// The relations of the queries and statements being visited, innermost last.
    scopes: Vec<Scope<'a>>,
    /// For each cast to text and `||` being visited, innermost last: the numeric scale of its
    /// operands, known only before they are translated.
    printed_scales: Vec<Vec<Option<u32>>>,
}

impl Rewriter<'_> {
    /// The scale of a `numeric` value Postgres computes with a known scale: a `numeric(p, s)`
    /// column of the relations in scope, a numeric literal (`1.50`), and what Postgres derives
    /// from them — `sum`, `min`, `max`, `abs` keep it, `round(x, n)` and `trunc(x, n)` take
    /// `n`, `+` and `-` the larger of their operands', `*` the sum (an integer operand has
    /// scale 0).
    fn numeric_scale(&self, expr: &Expr) -> Option<u32> {
        match expr {
            Expr::Nested(inner) => self.numeric_scale(inner),
            Expr::Value(ValueWithSpan {
                value: Value::Number(number, _),
                ..
            }) => number
                .split_once('.')
                .filter(|(_, fraction)| fraction.chars().all(|c| c.is_ascii_digit()))
                .map(|(_, fraction)| fraction.len() as u32),
            Expr::Function(function) => {
                let name = function.name.to_string().to_ascii_lowercase();
                let FunctionArguments::List(list) = &function.args else {
                    return None;
                };
                let args: Vec<&Expr> = list
                    .args
                    .iter()
                    .filter_map(|arg| match arg {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr),
                        _ => None,
                    })
                    .collect();
                match (name.as_str(), args.as_slice()) {
                    ("sum" | "min" | "max" | "abs", [value]) => self.numeric_scale(value),
                    ("round" | "trunc", [value]) => self.numeric_scale(value).map(|_| 0),
                    ("round" | "trunc", [value, digits]) => {
                        self.numeric_scale(value)?;
                        digits.to_string().parse().ok()
                    }
                    _ => None,
                }
            }
            Expr::BinaryOp { left, op, right } => {
                let operand = |expr: &Expr| {
                    self.numeric_scale(expr)
                        .map(|scale| (scale, true))
                        .or_else(|| is_integer_literal(expr).then_some((0, false)))
                };
                let ((left, left_numeric), (right, right_numeric)) =
                    (operand(left)?, operand(right)?);
                if !left_numeric && !right_numeric {
                    return None;
                }
                match op {
                    BinaryOperator::Plus | BinaryOperator::Minus => Some(left.max(right)),
                    BinaryOperator::Multiply => Some(left + right),
                    _ => None,
                }
            }
            _ => match typed::column_type(&self.scopes, expr)? {
                PgType::Decimal { scale, .. } => Some(*scale),
                _ => None,
            },
        }
    }

    /// The operands a cast to text (one) or `||` (two) prints as text.
    fn printed_operands(expr: &Expr) -> Option<Vec<&Expr>> {
        match expr {
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } if matches!(
                data_type.to_string().to_ascii_lowercase().as_str(),
                "text" | "varchar" | "character varying"
            ) =>
            {
                Some(vec![inner])
            }
            Expr::BinaryOp {
                left,
                op: BinaryOperator::StringConcat,
                right,
            } => Some(vec![left, right]),
            _ => None,
        }
    }

    /// A cast to text or `||` of numeric values whose scale is known (read before their
    /// translation, in `scales`), printing that scale as Postgres does (`0.50`).
    fn typed_text(expr: &Expr, scales: &[Option<u32>]) -> Option<Expr> {
        if scales.iter().all(Option::is_none) {
            return None;
        }
        let printed = |operand: &Expr, scale: Option<u32>| match scale {
            Some(scale) => raw(crate::store::numeric::text_sql(&operand.to_string(), scale)),
            None => operand.clone(),
        };
        match (expr, scales) {
            (Expr::Cast { expr: inner, .. }, [scale]) => Some(printed(inner, *scale)),
            (Expr::BinaryOp { left, right, .. }, [left_scale, right_scale]) => {
                Some(Expr::BinaryOp {
                    left: Box::new(printed(left, *left_scale)),
                    op: BinaryOperator::StringConcat,
                    right: Box::new(printed(right, *right_scale)),
                })
            }
            _ => None,
        }
    }
}

impl Rewriter<'_> {
    /// The row a call in FROM of one of the installed http extension's functions returns.
    fn extension_rows(
        &self,
        name: &ObjectName,
        call: &sqlparser::ast::TableFunctionArgs,
    ) -> Option<Result<Option<String>, Unsupported>> {
        let cache = self.resolver.schema()?;
        let composite = super::http::table_function(cache, name, call.args.len())?;
        let mut value = Expr::Function(sqlparser::ast::Function {
            name: name.clone(),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(sqlparser::ast::FunctionArgumentList {
                duplicate_treatment: None,
                args: call.args.clone(),
                clauses: Vec::new(),
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: Vec::new(),
        });
        Some(
            translate_with(&mut value, self.parameters, self.resolver)
                .map(|sql| Some(super::http::row_sql(composite, &sql))),
        )
    }
}

impl VisitorMut for Rewriter<'_> {
    type Break = Unsupported;

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Self::Break> {
        if let TableFactor::Table {
            name, alias, args, ..
        } = factor
        {
            let qualified = qualified_name(name);
            let rows = args
                .as_ref()
                .and_then(|call| self.extension_rows(name, call));
            let source = match args {
                _ if let Some(rows) = rows => {
                    *args = None;
                    rows
                }
                Some(call) => {
                    let mut translated = Vec::new();
                    for arg in &mut call.args {
                        let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
                            return ControlFlow::Break(Unsupported(format!(
                                "the argument `{arg}` of {qualified}() in FROM is not supported"
                            )));
                        };
                        match translate_with(expr, self.parameters, self.resolver) {
                            Ok(sql) => translated.push(sql),
                            Err(error) => return ControlFlow::Break(error),
                        }
                    }
                    let source = self.resolver.table_function(&qualified, &translated);
                    if matches!(source, Ok(Some(_))) {
                        *args = None;
                    }
                    source
                }
                None => self.resolver.relation(&qualified),
            };
            match source {
                Ok(Some(source)) => {
                    if alias.is_none() {
                        *alias = Some(TableAlias {
                            explicit: true,
                            name: Ident::with_quote('"', qualified.name.clone()),
                            columns: Vec::new(),
                            at: None,
                        });
                    }
                    *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(format!(
                        "({source})"
                    )))]);
                }
                Ok(None) => {}
                Err(error) => return ControlFlow::Break(error),
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<Self::Break> {
        if relation.to_string().starts_with('(') {
            return ControlFlow::Continue(()); // already replaced by a filtered subquery
        }
        let name = qualified_name(relation);
        *relation = ObjectName(vec![ObjectNamePart::Identifier(Ident::with_quote(
            '"',
            naming::table_name(&name),
        ))]);
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &mut Statement) -> ControlFlow<Self::Break> {
        if let Statement::Delete(delete) = statement
            && delete.using.is_some()
        {
            match delete_using(delete) {
                Ok(rewritten) => *statement = rewritten,
                Err(error) => return ControlFlow::Break(error),
            }
        }
        match statement {
            Statement::Query(_)
            | Statement::Insert(_)
            | Statement::Update(_)
            | Statement::Delete(_) => {}
            other => {
                return ControlFlow::Break(Unsupported(format!(
                    "`{}` is not supported inside a function or trigger body",
                    first_words(&other.to_string())
                )));
            }
        }
        let scope = match self.resolver.schema() {
            Some(cache) => {
                typed::cast_writes(cache, statement);
                typed::statement_scope(cache, statement).unwrap_or_default()
            }
            None => Scope::new(),
        };
        self.scopes.push(scope);
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, _: &mut Statement) -> ControlFlow<Self::Break> {
        self.scopes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<Self::Break> {
        let scope = self
            .resolver
            .schema()
            .map(|cache| typed::query_scope(cache, query))
            .unwrap_or_default();
        self.scopes.push(scope);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<Self::Break> {
        self.scopes.pop();
        match distinct_on(query) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Self::Break> {
        if let Some(cache) = self.resolver.schema()
            && let Err(error) = super::http::expand(cache, expr)
        {
            return ControlFlow::Break(error);
        }
        // Before the scales: post_visit_expr pops them for the node as rewritten.
        if let Err(error) = super::ranges::rewrite(&self.scopes, expr) {
            return ControlFlow::Break(error);
        }
        if let Some(operands) = Self::printed_operands(expr) {
            let scales = operands
                .into_iter()
                .map(|operand| self.numeric_scale(operand))
                .collect();
            self.printed_scales.push(scales);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Self::Break> {
        // Popped first: every cast to text and `||` pushed its operands' scales.
        let scales =
            Self::printed_operands(expr).map(|_| self.printed_scales.pop().unwrap_or_default());
        if let Expr::Cast {
            expr: inner,
            data_type,
            ..
        } = expr
            && let Some(json) =
                super::postgis::json_cast(typed::column_type(&self.scopes, inner), inner, data_type)
        {
            *expr = raw(json);
            return ControlFlow::Continue(());
        }
        if let Some(scales) = scales
            && let Some(printed) = Self::typed_text(expr, &scales)
        {
            *expr = printed;
            return ControlFlow::Continue(());
        }
        match rewrite(expr, self.parameters, self.resolver) {
            Ok(Some(replacement)) => *expr = replacement,
            Ok(None) => {}
            Err(error) => return ControlFlow::Break(error),
        }
        ControlFlow::Continue(())
    }
}

/// `select distinct on (k…) c… from … order by o…` (which SQLite lacks) as the first row of
/// each k-group in the order o… (nulls placed as Postgres places them), then sorted by o…:
/// `select c… from (select c…, row_number() over (partition by k… order by o…) …) where … = 1`.
fn distinct_on(query: &mut sqlparser::ast::Query) -> Result<(), Unsupported> {
    use sqlparser::ast::{Distinct, OrderBy, OrderByKind, OrderBySort, SelectItem, SetExpr};
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Ok(());
    };
    let Some(Distinct::On(keys)) = select.distinct.take() else {
        return Ok(());
    };
    let order = match &query.order_by {
        None => Vec::new(),
        Some(OrderBy {
            kind: OrderByKind::Expressions(list),
            ..
        }) => list.clone(),
        Some(_) => {
            return Err(Unsupported(
                "distinct on with this order by is not supported".into(),
            ));
        }
    };
    let mut names = Vec::new();
    for item in &select.projection {
        names.push(match item {
            SelectItem::UnnamedExpr(Expr::Identifier(ident)) => ident.to_string(),
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                parts.last().map(ToString::to_string).unwrap_or_default()
            }
            SelectItem::ExprWithAlias { alias, .. } => alias.to_string(),
            other => {
                return Err(Unsupported(format!(
                    "distinct on needs named columns, not `{other}`"
                )));
            }
        });
    }
    let mut window = Vec::new();
    let mut outer = Vec::new();
    for (index, item) in order.iter().enumerate() {
        let descending = match &item.options.sort {
            Some(OrderBySort::Desc) => true,
            None | Some(OrderBySort::Asc) => false,
            Some(OrderBySort::Using(_)) => {
                return Err(Unsupported("order by … using is not supported".into()));
            }
        };
        let nulls_first = item.options.nulls_first.unwrap_or(descending);
        let direction = format!(
            "{} NULLS {}",
            if descending { "DESC" } else { "ASC" },
            if nulls_first { "FIRST" } else { "LAST" }
        );
        window.push(format!("{} {direction}", item.expr));
        select.projection.push(SelectItem::ExprWithAlias {
            expr: item.expr.clone(),
            alias: Ident::with_quote('"', format!("__order{index}")),
        });
        outer.push(format!("\"__order{index}\" {direction}"));
    }
    let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
    let window_order = match window.is_empty() {
        true => String::new(),
        false => format!(" ORDER BY {}", window.join(", ")),
    };
    select.projection.push(SelectItem::ExprWithAlias {
        expr: raw(format!(
            "row_number() OVER (PARTITION BY {}{window_order})",
            keys.join(", ")
        )),
        alias: Ident::with_quote('"', "__row"),
    });
    let outer_order = match outer.is_empty() {
        true => String::new(),
        false => format!(" ORDER BY {}", outer.join(", ")),
    };
    let limit = query
        .limit_clause
        .as_ref()
        .map(|limit| format!(" {limit}"))
        .unwrap_or_default();
    let with = query
        .with
        .as_ref()
        .map(|with| format!("{with} "))
        .unwrap_or_default();
    let sql = format!(
        "{with}SELECT {} FROM ({select}) AS \"__distinct_on\" WHERE \"__row\" = 1{outer_order}{limit}",
        names.join(", ")
    );
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let rewritten = sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(&sql)
        .and_then(|mut parser| parser.parse_query())
        .map_err(|error| Unsupported(format!("cannot rewrite distinct on: {error}")))?;
    *query = *rewritten;
    Ok(())
}

/// `delete from t [as a] using u … where cond` (which SQLite lacks) as
/// `delete from t where rowid in (select a.rowid from t as a, u … where cond)`.
fn delete_using(delete: &sqlparser::ast::Delete) -> Result<Statement, Unsupported> {
    let (sqlparser::ast::FromTable::WithFromKeyword(from)
    | sqlparser::ast::FromTable::WithoutKeyword(from)) = &delete.from;
    let [target] = from.as_slice() else {
        return Err(Unsupported("delete … using needs one target table".into()));
    };
    let (table, reference) = match &target.relation {
        TableFactor::Table {
            name,
            alias: Some(alias),
            ..
        } => (name, alias.name.to_string()),
        TableFactor::Table { name, .. } => (name, name.to_string()),
        _ => {
            return Err(Unsupported(
                "delete … using needs a plain target table".into(),
            ));
        }
    };
    if delete.returning.is_some() {
        return Err(Unsupported(
            "delete … using … returning is not supported".into(),
        ));
    }
    let using: Vec<String> = delete
        .using
        .iter()
        .flatten()
        .map(ToString::to_string)
        .collect();
    let condition = delete
        .selection
        .as_ref()
        .map(|selection| format!(" WHERE {selection}"))
        .unwrap_or_default();
    let sql = format!(
        "DELETE FROM {table} WHERE rowid IN (SELECT {reference}.rowid FROM {target}, {}{condition})",
        using.join(", ")
    );
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut statements = sqlparser::parser::Parser::parse_sql(&dialect, &sql)
        .map_err(|error| Unsupported(format!("cannot rewrite delete … using: {error}")))?;
    statements
        .pop()
        .ok_or_else(|| Unsupported("cannot rewrite delete … using".into()))
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The SQLite replacement for one (already child-translated) expression, if it needs one.
fn rewrite(
    expr: &Expr,
    parameters: &[String],
    resolver: &dyn Resolver,
) -> Result<Option<Expr>, Unsupported> {
    if let Some(replacement) = super::temporal::rewrite(expr)? {
        return Ok(Some(replacement));
    }
    Ok(Some(match expr {
        Expr::Function(function) => {
            let name = function_name(&function.name);
            let args = function_args(&function.args)?;
            if distinct_aggregate(&function.args) {
                return distinct_call(&name, &args).map(|sql| Some(raw(sql)));
            }
            match resolver.function(&name, &args)? {
                Some(sql) => raw(sql),
                None => match super::http::call(resolver.schema(), &name, &args)
                    .or_else(|| super::postgis::call(resolver.schema(), &function.name, &args))
                {
                    Some(sql) => raw(sql),
                    None => raw(translate_call(&name, &args)?),
                },
            }
        }
        Expr::Cast {
            kind,
            expr: inner,
            data_type,
            ..
        } => {
            if matches!(kind, CastKind::TryCast | CastKind::SafeCast) {
                return Err(Unsupported("try_cast is not supported".into()));
            }
            match super::postgis::cast(resolver.schema(), inner, data_type)? {
                Some(sql) => raw(sql),
                None => raw(translate_cast(inner, data_type)?),
            }
        }
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::PGRegexMatch => raw(format!("regexp({right}, {left})")),
            BinaryOperator::PGRegexIMatch => raw(format!("regexp('(?i)' || {right}, {left})")),
            BinaryOperator::PGRegexNotMatch => raw(format!("NOT regexp({right}, {left})")),
            BinaryOperator::PGRegexNotIMatch => {
                raw(format!("NOT regexp('(?i)' || {right}, {left})"))
            }
            // pgvector's distances.
            BinaryOperator::LtDashGt => raw(format!("l2_distance({left}, {right})")),
            BinaryOperator::Spaceship => raw(format!("cosine_distance({left}, {right})")),
            BinaryOperator::AtArrow => raw(format!("pg_json_contains({left}, {right})")),
            BinaryOperator::ArrowAt => raw(format!("pg_json_contains({right}, {left})")),
            BinaryOperator::PGOverlap => raw(format!(
                "EXISTS (SELECT 1 FROM json_each({left}) AS l JOIN json_each({right}) AS r ON l.value = r.value)"
            )),
            BinaryOperator::Arrow | BinaryOperator::LongArrow => return Ok(None),
            BinaryOperator::HashArrow
            | BinaryOperator::HashLongArrow
            | BinaryOperator::Question => {
                return Err(Unsupported(format!("the operator {op} is not supported")));
            }
            _ => return Ok(None),
        },
        Expr::ILike {
            negated,
            expr: inner,
            pattern,
            escape_char,
            any,
        } => {
            if *any {
                return Err(Unsupported("ilike any is not supported".into()));
            }
            let not = if *negated { "NOT " } else { "" };
            let escape = escape_char
                .as_ref()
                .map(|c| format!(" ESCAPE {c}"))
                .unwrap_or_default();
            raw(format!("{inner} {not}LIKE {pattern}{escape}"))
        }
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } => raw(format!("{left} IN (SELECT value FROM json_each({right}))")),
        Expr::AnyOp { .. } | Expr::AllOp { .. } => {
            return Err(Unsupported(
                "only `= any(array)` is supported among any/all".into(),
            ));
        }
        Expr::Array(array) => {
            let elements: Vec<String> = array.elem.iter().map(ToString::to_string).collect();
            raw(format!("json_array({})", elements.join(", ")))
        }
        // `E'a\\b'`: SQLite has no escape strings; the parsed text is an ordinary literal.
        Expr::Value(ValueWithSpan {
            value: Value::EscapedStringLiteral(text),
            ..
        }) => raw(naming::quote_literal(text)),
        Expr::Value(ValueWithSpan {
            value: Value::Placeholder(placeholder),
            ..
        }) => {
            let index: usize = placeholder
                .trim_start_matches('$')
                .parse()
                .map_err(|_| Unsupported(format!("unknown placeholder {placeholder}")))?;
            let name = parameters
                .get(index.wrapping_sub(1))
                .ok_or_else(|| Unsupported(format!("{placeholder} names no argument")))?;
            raw(format!(":{name}"))
        }
        Expr::Identifier(ident) if parameters.contains(&ident_name(ident)) => {
            raw(format!(":{}", ident_name(ident)))
        }
        Expr::Identifier(ident) if ident.quote_style.is_none() && is_now_keyword(&ident.value) => {
            raw("pg_now()".into())
        }
        Expr::CompoundIdentifier(parts) if parts.len() == 3 => raw(format!(
            "{}.{}",
            Ident::with_quote('"', &parts[1].value),
            Ident::with_quote('"', &parts[2].value)
        )),
        Expr::Floor {
            expr: inner,
            field:
                sqlparser::ast::CeilFloorKind::DateTimeField(sqlparser::ast::DateTimeField::NoDateTime),
        } => raw(format!("floor({inner})")),
        Expr::Ceil {
            expr: inner,
            field:
                sqlparser::ast::CeilFloorKind::DateTimeField(sqlparser::ast::DateTimeField::NoDateTime),
        } => raw(format!("ceil({inner})")),
        Expr::Collate { .. } => {
            return Err(Unsupported(format!("`{expr}` is not supported on SQLite")));
        }
        Expr::Position { expr: needle, r#in } => raw(format!("instr({in}, {needle})")),
        Expr::CompoundFieldAccess { root, access_chain } => {
            // Arrays are JSON text: `a[i]` (1-based, NULL out of range) is a JSON lookup.
            let mut sql = root.to_string();
            for access in access_chain {
                let AccessExpr::Subscript(Subscript::Index { index }) = access else {
                    return Err(Unsupported(format!("`{expr}` is not supported on SQLite")));
                };
                sql = match index {
                    Expr::Value(ValueWithSpan {
                        value: Value::Number(number, _),
                        ..
                    }) => match number.parse::<i64>() {
                        Ok(position) if position >= 1 => {
                            format!("json_extract({sql}, '$[{}]')", position - 1)
                        }
                        _ => "NULL".into(),
                    },
                    other => format!(
                        "(CASE WHEN CAST({other} AS INTEGER) >= 1 THEN json_extract({sql}, '$[' || (CAST({other} AS INTEGER) - 1) || ']') END)"
                    ),
                };
            }
            raw(sql)
        }
        Expr::TypedString(typed) => raw(translate_cast(
            &Expr::Value(typed.value.clone()),
            &typed.data_type,
        )?),
        _ => return Ok(None),
    }))
}

fn is_now_keyword(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "current_timestamp" | "localtimestamp"
    )
}

/// A called function's name as Postgres resolves it: unquoted parts folded to lower case,
/// quoted ones (`"now"()`, `"auth"."uid"()`, as pg_dump writes them) taken as they are.
fn function_name(name: &ObjectName) -> String {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) if ident.quote_style.is_some() => ident.value.clone(),
            other => other.to_string().to_ascii_lowercase(),
        })
        .collect();
    match parts.as_slice() {
        [schema, function] if schema == "auth" || schema == "storage" || schema == "realtime" => {
            format!("{schema}.{function}")
        }
        [.., function] => function.clone(),
        [] => String::new(),
    }
}

/// Whether a call's arguments are `(distinct x)` with one argument, as aggregates take them.
fn distinct_aggregate(arguments: &FunctionArguments) -> bool {
    matches!(arguments, FunctionArguments::List(list)
        if list.duplicate_treatment == Some(sqlparser::ast::DuplicateTreatment::Distinct)
            && list.args.len() == 1
            && list.clauses.is_empty())
}

/// `count|sum|avg|min|max|array_agg|string_agg…(distinct x)` as SQLite's `agg(DISTINCT x)`.
fn distinct_call(name: &str, args: &[String]) -> Result<String, Unsupported> {
    let translated = translate_call(name, args)?;
    let aggregate = matches!(
        name,
        "count" | "sum" | "avg" | "min" | "max" | "array_agg" | "json_agg" | "jsonb_agg"
    );
    match translated.split_once('(') {
        Some((function, rest)) if aggregate && translated.ends_with(')') => {
            Ok(format!("{function}(DISTINCT {rest}"))
        }
        _ => Err(Unsupported(format!("{name}(distinct …) is not supported"))),
    }
}

fn function_args(arguments: &FunctionArguments) -> Result<Vec<String>, Unsupported> {
    match arguments {
        FunctionArguments::None => Ok(Vec::new()),
        FunctionArguments::Subquery(query) => Ok(vec![format!("({query})")]),
        FunctionArguments::List(list) => {
            let all = matches!(
                list.duplicate_treatment,
                None | Some(sqlparser::ast::DuplicateTreatment::All)
            );
            if !list.clauses.is_empty() || !(all || distinct_aggregate(arguments)) {
                return Err(Unsupported(
                    "function argument clauses are not supported".into(),
                ));
            }
            list.args
                .iter()
                .map(|arg| match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Ok(expr.to_string()),
                    FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => Ok("*".into()),
                    other => Err(Unsupported(format!(
                        "the function argument `{other}` is not supported"
                    ))),
                })
                .collect()
        }
    }
}

/// Postgres functions app schemas call, as SQLite expressions.
fn translate_call(name: &str, args: &[String]) -> Result<String, Unsupported> {
    let joined = args.join(", ");
    Ok(match (name, args.len()) {
        ("auth.uid", 0) => "auth_uid()".into(),
        ("auth.role", 0) => "auth_role()".into(),
        ("auth.email", 0) => "auth_email()".into(),
        ("auth.jwt", 0) => "auth_jwt()".into(),
        // Only private-channel checks read it; they bind the topic in its place.
        ("realtime.topic", 0) => "realtime_topic()".into(),
        ("realtime.send", 3 | 4) => format!("realtime_send({joined})"),
        ("realtime.broadcast_changes", 7 | 8) => format!("realtime_broadcast_changes({joined})"),
        ("storage.foldername", 1) => format!("storage_foldername({joined})"),
        ("storage.filename", 1) => format!("storage_filename({joined})"),
        ("storage.extension", 1) => format!("storage_extension({joined})"),
        (
            "now"
            | "current_timestamp"
            | "transaction_timestamp"
            | "statement_timestamp"
            | "pg_now",
            0,
        ) => "pg_now()".into(),
        ("timezone", 2) if args[1] == "pg_now()" => "pg_now()".into(),
        ("gen_random_uuid" | "uuid_generate_v4" | "lastval", 0) => format!("{name}()"),
        ("nextval" | "currval", 1) | ("setval", 2 | 3) => format!("{name}({joined})"),
        ("char_length" | "character_length" | "length", 1) => format!("length({joined})"),
        ("array_length", 2) => format!("json_array_length({})", args[0]),
        ("cardinality", 1) => format!("json_array_length({joined})"),
        ("jsonb_build_object" | "json_build_object", _) => format!("json_object({joined})"),
        ("jsonb_build_array" | "json_build_array", _) => format!("json_array({joined})"),
        ("greatest", _) if args.len() > 1 => format!("max({joined})"),
        ("least", _) if args.len() > 1 => format!("min({joined})"),
        ("btrim", _) => format!("trim({joined})"),
        ("count", _) if args.first().map(String::as_str) == Some("*") => "count(*)".into(),
        (
            "lower" | "upper" | "coalesce" | "nullif" | "trim" | "ltrim" | "rtrim" | "abs"
            | "round" | "replace" | "substr" | "concat" | "crypt" | "gen_salt" | "count" | "sum"
            | "avg" | "min" | "max" | "random" | "pg_json_contains" | "auth_uid" | "auth_role"
            | "auth_email" | "auth_jwt" | "storage_foldername" | "storage_filename"
            | "storage_extension" | "pg_range_make" | "pg_range_op" | "pg_range_has"
            | "pg_range_fn",
            _,
        ) => format!("{name}({joined})"),
        _ => {
            match super::temporal::call(name, args).or_else(|| super::builtins::call(name, args)) {
                Some(sql) => sql,
                None => {
                    return Err(Unsupported(format!(
                        "the function {name}() is not supported on SQLite"
                    )));
                }
            }
        }
    })
}

/// `x::type` as SQLite: literals keep their text (arrays become JSON), other values are CAST.
fn translate_cast(inner: &Expr, data_type: &DataType) -> Result<String, Unsupported> {
    let type_name = data_type.to_string().to_ascii_lowercase();
    let literal = match inner {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(text),
            ..
        }) => Some(text.clone()),
        _ => None,
    };
    if type_name.ends_with("[]") {
        let Some(text) = literal else {
            return Ok(inner.to_string());
        };
        let json = crate::migrate::values::array_literal_to_json(&text)
            .ok_or_else(|| Unsupported(format!("malformed array literal '{text}'")))?;
        return Ok(naming::quote_literal(&json));
    }
    let base = type_name.split('(').next().unwrap_or("").trim();
    // tsvector, ranges, inet/cidr: stored as Postgres prints them; a literal that is no value
    // of the type fails where it is evaluated, as in Postgres.
    if let Some(printed) = crate::schema::PrintedType::named(base) {
        return Ok(
            match literal.and_then(|text| crate::migrate::printed::normalize(printed, &text).ok()) {
                Some(printed) => naming::quote_literal(&printed),
                None => format!("pg_printed({inner}, '{}')", printed.udt_name()),
            },
        );
    }
    Ok(match base {
        "int" | "integer" | "int2" | "int4" | "int8" | "smallint" | "bigint" => {
            format!("CAST({inner} AS INTEGER)")
        }
        // `numeric(p, s)` rounds to its scale and refuses what does not fit, as Postgres does.
        "numeric" | "decimal" => match data_type {
            DataType::Numeric(info) | DataType::Decimal(info) | DataType::Dec(info) => match info {
                ExactNumberInfo::Precision(precision) => {
                    format!("pg_numeric({inner}, {precision}, 0)")
                }
                ExactNumberInfo::PrecisionAndScale(precision, scale) if *scale >= 0 => {
                    format!("pg_numeric({inner}, {precision}, {scale})")
                }
                _ => format!("CAST({inner} AS NUMERIC)"),
            },
            _ => format!("CAST({inner} AS NUMERIC)"),
        },
        "real" | "float" | "float4" | "float8" | "double precision" => {
            format!("CAST({inner} AS REAL)")
        }
        "boolean" | "bool" => match literal.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("true" | "t" | "yes" | "on" | "1") => "TRUE".into(),
            Some("false" | "f" | "no" | "off" | "0") => "FALSE".into(),
            _ => format!("(lower(CAST({inner} AS TEXT)) IN ('true', 't', '1', 'yes', 'on'))"),
        },
        "text" | "varchar" | "character varying" | "char" | "character" | "name"
            if literal.is_none() =>
        {
            format!("CAST({inner} AS TEXT)")
        }
        // A value made JSON nests as JSON (not as a string) in json_build_object and friends;
        // the claims (`auth_jwt()`, bound by REST as a parameter) are JSON already.
        "json" | "jsonb" if literal.is_none() && inner.to_string() != "auth_jwt()" => {
            format!("json({inner})")
        }
        "timestamptz" | "timestamp with time zone" if literal.is_some() => {
            let text = literal.unwrap_or_default();
            let canonical = crate::migrate::values::normalize_timestamptz(&text)
                .ok_or_else(|| Unsupported(format!("invalid timestamptz literal '{text}'")))?;
            format!("pg_timestamptz({})", naming::quote_literal(&canonical))
        }
        // date, timestamp, timestamptz, interval: the store's date/time casts.
        other => match super::temporal::cast(other, inner)? {
            Some(sql) => sql,
            // uuid, json, jsonb, time, enums, regclass…: the text is the value.
            None => inner.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(postgres: &str, sqlite: &str) {
        assert_eq!(translate_expr_text(postgres).unwrap(), sqlite);
    }

    #[track_caller]
    fn refused(postgres: &str, reason: &str) {
        let error = translate_expr_text(postgres).unwrap_err();
        assert!(error.0.to_lowercase().contains(reason), "{error}");
    }

    #[test]
    fn supabase_helpers_become_session_functions() {
        check("auth.uid() = user_id", "auth_uid() = user_id");
        check(
            "(select auth.uid()) = user_id",
            "(SELECT auth_uid()) = user_id",
        );
        check("auth.jwt() ->> 'email'", "auth_jwt() ->> 'email'");
        check(
            "auth.jwt() -> 'app_metadata' ->> 'role' = 'admin'",
            "auth_jwt() -> 'app_metadata' ->> 'role' = 'admin'",
        );
        check("timezone('utc'::text, now())", "pg_now()");
        check(
            "position('+admin@' in email) > 0",
            "instr(email, '+admin@') > 0",
        );
    }

    #[test]
    fn casts_regexes_and_arrays_translate() {
        check("'{}'::jsonb", "'{}'");
        check("'{a,\"b c\"}'::text[]", "'[\"a\",\"b c\"]'");
        check("price::int > 3", "CAST(price AS INTEGER) > 3");
        check("email ~* '^a'", "regexp('(?i)' || '^a', email)");
        check("name ilike '%x%'", "name LIKE '%x%'");
        check(
            "'admin' = any(roles)",
            "'admin' IN (SELECT value FROM json_each(roles))",
        );
        check(
            "char_length(title) between 1 and 80",
            "length(title) BETWEEN 1 AND 80",
        );
        check(
            "exists (select 1 from public.members m where m.team_id = team_id)",
            "EXISTS (SELECT 1 FROM \"members\" m WHERE m.team_id = team_id)",
        );
    }

    #[test]
    fn distinct_aggregates_and_distinct_on_translate() {
        check("count(distinct user_id)", "count(DISTINCT user_id)");
        check(
            "array_agg(distinct f.id)",
            "json_group_array(DISTINCT f.id)",
        );
        refused("lower(distinct name)", "not supported");
    }

    #[test]
    fn quoted_built_ins_resolve_like_unquoted_ones() {
        check("\"now\"()", "pg_now()");
        check(
            "\"auth\".\"uid\"() = \"user_id\"",
            "auth_uid() = \"user_id\"",
        );
        check(
            "\"extensions\".\"uuid_generate_v4\"()",
            "uuid_generate_v4()",
        );
        refused("\"NOW\"()", "not supported");
    }

    #[test]
    fn storage_helpers_and_array_subscripts_translate() {
        check(
            "(storage.foldername(name))[1] = auth.uid()::text",
            "json_extract((storage_foldername(name)), '$[0]') = CAST(auth_uid() AS TEXT)",
        );
        check(
            "storage.filename(name) = 'a.png'",
            "storage_filename(name) = 'a.png'",
        );
        check(
            "storage.extension(name) = 'png'",
            "storage_extension(name) = 'png'",
        );
        check("tags[0]", "NULL");
        check(
            "tags[n]",
            "(CASE WHEN CAST(n AS INTEGER) >= 1 THEN json_extract(tags, '$[' || (CAST(n AS INTEGER) - 1) || ']') END)",
        );
    }

    #[test]
    fn unsupported_constructs_are_named() {
        refused("to_tsvector(body)", "to_tsvector");
    }
}
