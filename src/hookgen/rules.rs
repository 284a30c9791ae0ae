//! Rules: what a column accepts, from its Postgres type and the table's `check` constraints
//! (bounds, lengths, allowed values), as the `ColumnRule` the generated TypeScript validates with.
//! A check outside the shapes below (several columns, functions other than `char_length`) is
//! left to the server, which still enforces it.

use sqlparser::ast::{BinaryOperator, Expr, InTarget, UnaryOperator, Value};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::schema::{Column, PgType, SchemaCache, Table};

/// The TypeScript `ColumnRule` fields of one column, in a fixed order.
#[derive(Debug, Default, PartialEq)]
pub struct Rule {
    pub pg_type: String,
    pub kind: &'static str,
    pub nullable: bool,
    pub required: bool,
    pub integer: bool,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub one_of: Option<Vec<String>>,
    pub uuid: bool,
}

/// The rule for `column` of `table`.
pub fn rule(schema: &SchemaCache, table: &Table, column: &Column) -> Rule {
    let mut rule = Rule {
        pg_type: column.pg_type.pg_name(),
        kind: kind(&column.pg_type),
        nullable: column.nullable,
        required: !column.optional_on_insert(),
        ..Rule::default()
    };
    match &column.pg_type {
        PgType::SmallInt => integer(&mut rule, i16::MIN.into(), i16::MAX.into()),
        PgType::Integer => integer(&mut rule, i32::MIN.into(), i32::MAX.into()),
        // JavaScript numbers hold integers exactly up to 2^53.
        PgType::BigInt => integer(&mut rule, -9_007_199_254_740_991.0, 9_007_199_254_740_991.0),
        PgType::Varchar(Some(length)) | PgType::Char(Some(length)) => {
            rule.max_length = Some((*length).into());
        }
        PgType::Uuid => rule.uuid = true,
        PgType::Enum(name) => rule.one_of = schema.enums.get(name).cloned(),
        _ => {}
    }
    for check in &table.checks {
        if let Ok(expr) = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&check.expression)
            .and_then(|mut parser| parser.parse_expr())
        {
            apply(&mut rule, &column.name, &expr);
        }
    }
    rule
}

fn integer(rule: &mut Rule, min: f64, max: f64) {
    rule.integer = true;
    rule.min = Some(min);
    rule.max = Some(max);
}

/// The JavaScript values a column's JSON form takes.
fn kind(pg_type: &PgType) -> &'static str {
    match pg_type {
        PgType::Boolean => "boolean",
        PgType::SmallInt
        | PgType::Integer
        | PgType::BigInt
        | PgType::Numeric
        | PgType::Decimal { .. }
        | PgType::Real
        | PgType::Double => "number",
        PgType::Json | PgType::Jsonb | PgType::Array(_) => "json",
        // A geometry is its GeoJSON in JSON (a geography its hex EWKB text).
        PgType::Printed(crate::schema::PrintedType::Geometry(column)) if !column.geography => {
            "json"
        }
        _ => "string",
    }
}

/// Narrows `rule` by what `expr` (a check, or one conjunct of it) says about `column`.
fn apply(rule: &mut Rule, column: &str, expr: &Expr) {
    match expr {
        Expr::Nested(inner) => apply(rule, column, inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            apply(rule, column, left);
            apply(rule, column, right);
        }
        Expr::BinaryOp { left, op, right } => {
            if let (Some(subject), Some(bound)) = (subject(left, column), number(right)) {
                compare(rule, subject, op, bound);
            } else if let (Some(bound), Some(subject)) = (number(left), subject(right, column)) {
                let flipped = match op {
                    BinaryOperator::Lt => BinaryOperator::Gt,
                    BinaryOperator::LtEq => BinaryOperator::GtEq,
                    BinaryOperator::Gt => BinaryOperator::Lt,
                    BinaryOperator::GtEq => BinaryOperator::LtEq,
                    other => other.clone(),
                };
                compare(rule, subject, &flipped, bound);
            } else if matches!(op, BinaryOperator::NotEq)
                && subject(left, column) == Some(Subject::Value)
                && string(right).is_some_and(str::is_empty)
            {
                tighten_min_length(rule, 1);
            }
        }
        Expr::Between {
            expr,
            negated: false,
            low,
            high,
        } => {
            if let (Some(subject), Some(low), Some(high)) =
                (subject(expr, column), number(low), number(high))
            {
                compare(rule, subject, &BinaryOperator::GtEq, low);
                compare(rule, subject, &BinaryOperator::LtEq, high);
            }
        }
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated: false,
            ..
        } if subject(expr, column) == Some(Subject::Value) => {
            let labels: Option<Vec<String>> = list
                .iter()
                .map(|item| string(item).map(str::to_owned))
                .collect();
            if let Some(labels) = labels {
                rule.one_of = Some(match rule.one_of.take() {
                    Some(known) => known.into_iter().filter(|l| labels.contains(l)).collect(),
                    None => labels,
                });
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Subject {
    /// The column's value.
    Value,
    /// `char_length(column)` or `length(column)`.
    Length,
}

fn subject(expr: &Expr, column: &str) -> Option<Subject> {
    match expr {
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => subject(inner, column),
        Expr::Identifier(ident) if ident.value == column => Some(Subject::Value),
        Expr::Function(function) => {
            let name = function.name.to_string().to_ascii_lowercase();
            if !matches!(name.as_str(), "char_length" | "character_length" | "length") {
                return None;
            }
            let sqlparser::ast::FunctionArguments::List(list) = &function.args else {
                return None;
            };
            match list.args.as_slice() {
                [
                    sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(
                        argument,
                    )),
                ] if subject(argument, column) == Some(Subject::Value) => Some(Subject::Length),
                _ => None,
            }
        }
        _ => None,
    }
}

fn number(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => number(inner),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => number(expr).map(|value| -value),
        Expr::Value(value) => match &value.value {
            Value::Number(text, _) => text.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

fn string(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => string(inner),
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) => Some(text),
            _ => None,
        },
        _ => None,
    }
}

fn compare(rule: &mut Rule, subject: Subject, op: &BinaryOperator, bound: f64) {
    match subject {
        Subject::Length => {
            let floor = bound.floor().max(0.0) as u64;
            match op {
                BinaryOperator::GtEq => tighten_min_length(rule, bound.ceil().max(0.0) as u64),
                BinaryOperator::Gt => tighten_min_length(rule, floor + 1),
                BinaryOperator::LtEq => tighten_max_length(rule, floor),
                BinaryOperator::Lt => tighten_max_length(rule, bound.ceil().max(1.0) as u64 - 1),
                _ => {}
            }
        }
        Subject::Value if rule.kind == "number" => match op {
            BinaryOperator::GtEq => tighten(&mut rule.min, bound, f64::max),
            BinaryOperator::LtEq => tighten(&mut rule.max, bound, f64::min),
            // A whole-number column's exclusive bound is the next whole number in.
            BinaryOperator::Gt if rule.integer => {
                tighten(&mut rule.min, bound.floor() + 1.0, f64::max);
            }
            BinaryOperator::Lt if rule.integer => {
                tighten(&mut rule.max, bound.ceil() - 1.0, f64::min);
            }
            BinaryOperator::Gt => tighten(&mut rule.above, bound, f64::max),
            BinaryOperator::Lt => tighten(&mut rule.below, bound, f64::min),
            _ => {}
        },
        Subject::Value => {}
    }
}

fn tighten(slot: &mut Option<f64>, bound: f64, pick: fn(f64, f64) -> f64) {
    *slot = Some(slot.map_or(bound, |known| pick(known, bound)));
}

fn tighten_min_length(rule: &mut Rule, length: u64) {
    rule.min_length = Some(rule.min_length.map_or(length, |known| known.max(length)));
}

fn tighten_max_length(rule: &mut Rule, length: u64) {
    rule.max_length = Some(rule.max_length.map_or(length, |known| known.min(length)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_for(sql: &str, column: &str) -> Rule {
        let migration = crate::migrate::Migration {
            version: "1".into(),
            name: "test".into(),
            path: "1_test.sql".into(),
            sql: sql.into(),
        };
        let schema = crate::migrate::build_schema(&[migration]).unwrap();
        let table = schema
            .table(&crate::schema::QualifiedName::public("t"))
            .unwrap();
        rule(&schema, table, table.column(column).unwrap())
    }

    #[test]
    fn integer_bounds_come_from_the_type_then_the_checks() {
        let rule = rule_for(
            "create table t (id int primary key, q integer not null default 1 check (q between 1 and 99), \
             s smallint check (s > 0 and s < 10), n numeric check (n > 0.5))",
            "q",
        );
        assert_eq!(
            (rule.min, rule.max, rule.integer),
            (Some(1.0), Some(99.0), true)
        );
        assert!(!rule.required && !rule.nullable);
        let s = rule_for(
            "create table t (id int primary key, s smallint check (s > 0 and s < 10))",
            "s",
        );
        assert_eq!((s.min, s.max, s.nullable), (Some(1.0), Some(9.0), true));
        let n = rule_for(
            "create table t (id int primary key, n numeric not null check (0.5 < n))",
            "n",
        );
        assert_eq!(
            (n.above, n.min, n.integer, n.required),
            (Some(0.5), None, false, true)
        );
    }

    #[test]
    fn lengths_and_allowed_values_come_from_checks_and_types() {
        let name = rule_for(
            "create table t (id int primary key, name text not null check (char_length(name) between 1 and 80))",
            "name",
        );
        assert_eq!((name.min_length, name.max_length), (Some(1), Some(80)));
        let code = rule_for(
            "create table t (id int primary key, code varchar(12) check (length(code) > 2) check (code <> ''))",
            "code",
        );
        assert_eq!((code.min_length, code.max_length), (Some(3), Some(12)));
        let kind = rule_for(
            "create table t (id int primary key, kind text check (kind in ('a', 'b')))",
            "kind",
        );
        assert_eq!(kind.one_of, Some(vec!["a".to_owned(), "b".to_owned()]));
        let mood = rule_for(
            "create type mood as enum ('happy', 'sad'); create table t (id uuid primary key, m mood)",
            "m",
        );
        assert_eq!(
            mood.one_of,
            Some(vec!["happy".to_owned(), "sad".to_owned()])
        );
        let id = rule_for(
            "create type mood as enum ('happy', 'sad'); create table t (id uuid primary key, m mood)",
            "id",
        );
        assert!(id.uuid && id.required);
    }

    #[test]
    fn checks_over_other_columns_or_other_shapes_are_left_to_the_server() {
        let rule = rule_for(
            "create table t (id int primary key, a int, b int, check (a < b), check (a % 2 = 0))",
            "a",
        );
        assert_eq!(
            (rule.min, rule.max),
            (Some(i32::MIN.into()), Some(i32::MAX.into()))
        );
    }
}
