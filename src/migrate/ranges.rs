//! Ranges: what the translator does with range-typed expressions — columns of a range type,
//! casts to one, constructors (`int4range(1, 5, '[]')`) and what range operators and functions
//! give. Their operators (`@>`, `&&`, `<<`, `-|-`, `*`, `+`, comparisons…) and functions
//! (`lower`, `isempty`, `range_merge`, …) become calls of `store::range`'s SQL functions for the
//! operands' range type; a bare string beside a range is a range of its type, as Postgres reads
//! an `unknown` literal, and any other operand of `@>`/`<@` is an element.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    Ident, ObjectName, ObjectNamePart, Statement, Value, ValueWithSpan, VisitMut, VisitorMut,
};

use super::expression::{Unsupported, name_parts};
use super::typed::{self, Scope};
use crate::schema::FunctionArgument;
use crate::store::range::RangeType;

/// The range type `expr` has, when the translator can tell.
pub fn range_type(scopes: &[Scope], expr: &Expr) -> Option<RangeType> {
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
            typed::column_type(scopes, expr)?.range()
        }
        Expr::Nested(inner) => range_type(scopes, inner),
        Expr::Cast { data_type, .. } => RangeType::named(&data_type.to_string()),
        Expr::Function(function) => {
            let name = called(&function.name);
            match (name.as_str(), arguments(&function.args).as_slice()) {
                ("range_merge", [a, b]) => range_type(scopes, a).or_else(|| range_type(scopes, b)),
                (name, [_, _] | [_, _, _]) => RangeType::named(name),
                _ => None,
            }
        }
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Plus | BinaryOperator::Multiply | BinaryOperator::Minus,
            right,
        } => range_type(scopes, left).or_else(|| range_type(scopes, right)),
        _ => None,
    }
}

/// `expr` cast to `kind`, which tells the translator its type (the value stays as it is).
pub fn typed(expr: Expr, kind: RangeType) -> Expr {
    Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(expr),
        data_type: DataType::Custom(
            ObjectName(vec![ObjectNamePart::Identifier(Ident::new(kind.name()))]),
            Vec::new(),
        ),
        format: None,
    }
}

/// Casts each read of a range-typed argument of a `language sql` body (`r`, `$1`) to its type.
pub fn type_arguments(statement: &mut Statement, arguments: &[FunctionArgument]) {
    if arguments
        .iter()
        .all(|argument| argument.pg_type.range().is_none())
    {
        return;
    }
    let _ = statement.visit(&mut Arguments { arguments });
}

struct Arguments<'a> {
    arguments: &'a [FunctionArgument],
}

impl VisitorMut for Arguments<'_> {
    type Break = ();

    // After the children: the cast's own operand is not visited again.
    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let argument = super::rows::named_argument(self.arguments, expr);
        if let Some(kind) = argument.and_then(|argument| argument.pg_type.range()) {
            *expr = typed(expr.clone(), kind);
        }
        ControlFlow::Continue(())
    }
}

/// Replaces a range operator or function call in `expr` (its operands not yet translated) by
/// the call of the store's function that computes it; other expressions are left as they are.
pub fn rewrite(scopes: &[Scope], expr: &mut Expr) -> Result<(), Unsupported> {
    let replacement = match expr {
        Expr::BinaryOp { left, op, right } => {
            let Some(symbol) = symbol(op) else {
                return Ok(());
            };
            let (left_type, right_type) = (range_type(scopes, left), range_type(scopes, right));
            let Some(kind) = left_type.or(right_type) else {
                return Ok(());
            };
            let (left, right) = ((**left).clone(), (**right).clone());
            match symbol {
                "@>" if right_type.is_none() && !is_unknown(&right) => {
                    call("pg_range_has", vec![type_name(kind), left, right])
                }
                "<@" if left_type.is_none() && !is_unknown(&left) => {
                    call("pg_range_has", vec![type_name(kind), right, left])
                }
                _ => call(
                    "pg_range_op",
                    vec![string(symbol), type_name(kind), left, right],
                ),
            }
        }
        Expr::Function(function) => {
            let name = called(&function.name);
            let args = arguments(&function.args);
            match (name.as_str(), args.as_slice()) {
                (
                    "lower" | "upper" | "isempty" | "lower_inc" | "upper_inc" | "lower_inf"
                    | "upper_inf",
                    [range],
                ) => match range_type(scopes, range) {
                    Some(kind) => call(
                        "pg_range_fn",
                        vec![string(&name), type_name(kind), range.clone()],
                    ),
                    None if name == "lower" || name == "upper" => return Ok(()),
                    None => return Err(unknown_type(&name, range)),
                },
                ("range_merge", [a, b]) => {
                    let kind = range_type(scopes, a)
                        .or_else(|| range_type(scopes, b))
                        .ok_or_else(|| unknown_type(&name, a))?;
                    call(
                        "pg_range_op",
                        vec![string("range_merge"), type_name(kind), a.clone(), b.clone()],
                    )
                }
                (_, [_, _] | [_, _, _]) if let Some(kind) = RangeType::named(&name) => {
                    let mut values = vec![type_name(kind)];
                    // A numeric literal keeps the digits it was written with (`1.50`).
                    values.extend(args.iter().map(|arg| match arg {
                        Expr::Value(ValueWithSpan {
                            value: Value::Number(number, _),
                            ..
                        }) => string(number),
                        other => other.clone(),
                    }));
                    call("pg_range_make", values)
                }
                _ => return Ok(()),
            }
        }
        _ => return Ok(()),
    };
    *expr = replacement;
    Ok(())
}

/// The Postgres spelling of a binary operator ranges have.
fn symbol(op: &BinaryOperator) -> Option<&'static str> {
    Some(match op {
        BinaryOperator::AtArrow => "@>",
        BinaryOperator::ArrowAt => "<@",
        BinaryOperator::PGOverlap => "&&",
        BinaryOperator::PGBitwiseShiftLeft => "<<",
        BinaryOperator::PGBitwiseShiftRight => ">>",
        BinaryOperator::AndLt => "&<",
        BinaryOperator::AndGt => "&>",
        BinaryOperator::Custom(custom) if custom == "-|-" => "-|-",
        BinaryOperator::Plus => "+",
        BinaryOperator::Multiply => "*",
        BinaryOperator::Minus => "-",
        BinaryOperator::Eq => "=",
        BinaryOperator::NotEq => "<>",
        BinaryOperator::Lt => "<",
        BinaryOperator::LtEq => "<=",
        BinaryOperator::Gt => ">",
        BinaryOperator::GtEq => ">=",
        _ => return None,
    })
}

/// A string literal, which Postgres types by the operand beside it.
fn is_unknown(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(_),
            ..
        })
    )
}

fn unknown_type(function: &str, argument: &Expr) -> Unsupported {
    Unsupported(format!(
        "{function}(): the range type of `{argument}` is not known; cast it (`({argument})::int4range`)"
    ))
}

/// A called function's last name part.
fn called(name: &ObjectName) -> String {
    name_parts(name).pop().unwrap_or_default()
}

/// A call's plain arguments (none when any is named or a wildcard).
fn arguments(args: &FunctionArguments) -> Vec<Expr> {
    let FunctionArguments::List(list) = args else {
        return Vec::new();
    };
    list.args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default()
}

fn string(text: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(text.to_owned()).into())
}

fn type_name(kind: RangeType) -> Expr {
    string(kind.name())
}

/// A call of one of the store's functions with `args`, which are translated as any others.
fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(sqlparser::ast::Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(sqlparser::ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|arg| FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::expression::{Typed, translate_row_expr_text, translate_with};
    use crate::schema::{
        Column, PgType, PrintedType, QualifiedName, SchemaCache, Table, TableKind,
    };

    fn schema() -> SchemaCache {
        let mut cache = SchemaCache::default();
        let mut table = Table::new(QualifiedName::public("rooms"), TableKind::Table);
        table.columns = vec![
            Column::new("id", PgType::Integer),
            Column::new("seats", PgType::Printed(PrintedType::Int4Range)),
            Column::new("open", PgType::Printed(PrintedType::DateRange)),
        ];
        cache.tables.insert(table.name.clone(), table);
        cache
    }

    #[track_caller]
    fn check(sql: &str, sqlite: &str) {
        let cache = schema();
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let mut statement = sqlparser::parser::Parser::parse_sql(&dialect, sql)
            .unwrap()
            .remove(0);
        assert_eq!(
            translate_with(&mut statement, &[], &Typed(&cache)).unwrap(),
            sqlite
        );
    }

    #[test]
    fn operators_on_a_range_column_call_the_range_functions() {
        check(
            "select id from rooms where seats @> '[2,4)' and seats && int4range(1, 5, '[]')",
            r#"SELECT id FROM "rooms" WHERE pg_range_op('@>', 'int4range', seats, '[2,4)') AND pg_range_op('&&', 'int4range', seats, pg_range_make('int4range', '1', '5', '[]'))"#,
        );
        check(
            "select seats @> 3, 3 <@ r.seats, r.seats -|- '[9,10)' from rooms r",
            r#"SELECT pg_range_has('int4range', seats, 3), pg_range_has('int4range', r.seats, 3), pg_range_op('-|-', 'int4range', r.seats, '[9,10)') FROM "rooms" r"#,
        );
        check(
            "select (seats * '[1,3)') + '[3,5)' from rooms",
            r#"SELECT pg_range_op('+', 'int4range', (pg_range_op('*', 'int4range', seats, '[1,3)')), '[3,5)') FROM "rooms""#,
        );
    }

    #[test]
    fn range_functions_follow_their_argument_type() {
        check(
            "select lower(seats), upper(open), lower('A'), isempty(seats), range_merge(seats, '[9,10)') from rooms",
            r#"SELECT pg_range_fn('lower', 'int4range', seats), pg_range_fn('upper', 'daterange', open), lower('A'), pg_range_fn('isempty', 'int4range', seats), pg_range_op('range_merge', 'int4range', seats, '[9,10)') FROM "rooms""#,
        );
        check(
            "select upper_inf('[1,)'::int4range)",
            "SELECT pg_range_fn('upper_inf', 'int4range', '[1,)')",
        );
    }

    #[test]
    fn a_write_into_a_range_column_is_canonicalized() {
        check(
            "update rooms set seats = '[1,2]' where seats = '(0,5)'",
            r#"UPDATE "rooms" SET seats = '[1,3)' WHERE pg_range_op('=', 'int4range', seats, '(0,5)')"#,
        );
    }

    #[test]
    fn a_check_constraint_reads_its_table_columns_types() {
        let cache = schema();
        let table = cache.table(&QualifiedName::public("rooms")).unwrap();
        assert_eq!(
            translate_row_expr_text("not isempty(seats)", &Typed(&cache), table).unwrap(),
            "NOT pg_range_fn('isempty', 'int4range', seats)"
        );
        let error = translate_with(
            &mut sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
                .try_with_sql("isempty(x)")
                .unwrap()
                .parse_expr()
                .unwrap(),
            &[],
            &Typed(&cache),
        )
        .unwrap_err();
        assert!(
            error.0.contains("range type of `x` is not known"),
            "{error}"
        );
    }
}
