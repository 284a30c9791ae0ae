//! Evaluate: policy predicates simple enough to decide without the database — comparisons of
//! the row's columns with the caller's claims (`auth_uid() = user_id`, `auth_jwt() ->> 'role'`),
//! literals, `and`/`or`/`not`, `is null`, `in (…)` — evaluated in memory for each subscriber.
//! Anything else (subqueries over tables, functions) is left to the database.

use serde_json::{Map, Value};
use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArguments, InTarget, SelectItem, SetExpr, UnaryOperator,
    Value as Literal,
};

/// A predicate compiled for in-memory evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled(Expr);

impl Compiled {
    /// The predicate, if every part of it can be evaluated in memory.
    pub fn new(predicate: &str) -> Option<Self> {
        let dialect = sqlparser::dialect::SQLiteDialect {};
        let expr = sqlparser::parser::Parser::new(&dialect)
            .try_with_sql(predicate)
            .ok()?
            .parse_expr()
            .ok()?;
        supported(&expr).then_some(Self(expr))
    }

    /// Whether `row` passes for a caller with `claims`; `None` when the values do not allow an
    /// answer without SQLite's own coercions (the caller then asks the database).
    pub fn passes(&self, row: &Map<String, Value>, claims: &Value) -> Option<bool> {
        Some(truthy(&eval(&self.0, row, claims)?))
    }

    /// `(claim, column)` when the whole predicate is one claim equal to one column, as
    /// `auth.uid() = user_id` is: a row passes only for callers whose string claim equals the
    /// row's string value, so subscribers can be looked up by that value.
    pub fn claim_equals_column(&self) -> Option<(&'static str, &str)> {
        let Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } = unwrap(&self.0)?
        else {
            return None;
        };
        let claim = |expr: &Expr| match unwrap(expr)? {
            Expr::Function(function) => session_function(&function.name.to_string())?,
            _ => None,
        };
        match (claim(left), claim(right)) {
            (Some(claim), None) => Some((claim, column(right)?)),
            (None, Some(claim)) => Some((claim, column(left)?)),
            _ => None,
        }
    }
}

/// The column an expression names, if it is a bare (possibly qualified) column.
fn column(expr: &Expr) -> Option<&str> {
    match unwrap(expr)? {
        Expr::Identifier(ident) => Some(ident.value.as_str()),
        Expr::CompoundIdentifier(parts) => Some(parts.last()?.value.as_str()),
        _ => None,
    }
}

/// The expression inside parentheses and `(SELECT …)`, which evaluate to what they wrap.
fn unwrap(expr: &Expr) -> Option<&Expr> {
    match expr {
        Expr::Nested(inner) => unwrap(inner),
        Expr::Subquery(query) => unwrap(scalar_select(query)?),
        other => Some(other),
    }
}

fn supported(expr: &Expr) -> bool {
    match expr {
        Expr::Nested(inner)
        | Expr::IsNull(inner)
        | Expr::IsNotNull(inner)
        | Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: inner,
        } => supported(inner),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Value(value) => matches!(
            value.value,
            Literal::SingleQuotedString(_)
                | Literal::Number(..)
                | Literal::Boolean(_)
                | Literal::Null
        ),
        Expr::Function(function) => {
            session_function(&function.name.to_string()).is_some()
                && matches!(&function.args, FunctionArguments::List(list) if list.args.is_empty())
        }
        Expr::Subquery(query) => scalar_select(query).is_some_and(supported),
        Expr::BinaryOp { left, op, right } => {
            matches!(
                op,
                BinaryOperator::Eq
                    | BinaryOperator::NotEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq
                    | BinaryOperator::Gt
                    | BinaryOperator::GtEq
                    | BinaryOperator::And
                    | BinaryOperator::Or
                    | BinaryOperator::Arrow
                    | BinaryOperator::LongArrow
            ) && supported(left)
                && supported(right)
        }
        Expr::In {
            expr,
            target: InTarget::List(list),
            ..
        } => supported(expr) && list.iter().all(supported),
        _ => false,
    }
}

/// `(SELECT expr)` with nothing else: the expression.
fn scalar_select(query: &sqlparser::ast::Query) -> Option<&Expr> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if !select.from.is_empty()
        || select.selection.is_some()
        || query.order_by.is_some()
        || query.limit_clause.is_some()
    {
        return None;
    }
    match select.projection.as_slice() {
        [SelectItem::UnnamedExpr(expr)] | [SelectItem::ExprWithAlias { expr, .. }] => Some(expr),
        _ => None,
    }
}

fn session_function(name: &str) -> Option<Option<&'static str>> {
    match name.to_ascii_lowercase().as_str() {
        "auth_uid" => Some(Some("sub")),
        "auth_role" => Some(Some("role")),
        "auth_email" => Some(Some("email")),
        "auth_jwt" => Some(None),
        _ => None,
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        _ => false,
    }
}

/// SQL three-valued logic over JSON values; `None` means "ask the database".
fn eval(expr: &Expr, row: &Map<String, Value>, claims: &Value) -> Option<Value> {
    Some(match expr {
        Expr::Nested(inner) => eval(inner, row, claims)?,
        Expr::Identifier(ident) => row.get(&ident.value)?.clone(),
        Expr::CompoundIdentifier(parts) => row.get(&parts.last()?.value)?.clone(),
        Expr::Value(value) => match &value.value {
            Literal::SingleQuotedString(text) => Value::String(text.clone()),
            Literal::Number(number, _) => serde_json::from_str(number).ok()?,
            Literal::Boolean(flag) => Value::Bool(*flag),
            _ => Value::Null,
        },
        Expr::Function(function) => match session_function(&function.name.to_string())? {
            Some(claim) => claims.get(claim).cloned().unwrap_or(Value::Null),
            None => claims.clone(),
        },
        Expr::Subquery(query) => eval(scalar_select(query)?, row, claims)?,
        Expr::IsNull(inner) => Value::Bool(eval(inner, row, claims)?.is_null()),
        Expr::IsNotNull(inner) => Value::Bool(!eval(inner, row, claims)?.is_null()),
        Expr::UnaryOp { expr: inner, .. } => match eval(inner, row, claims)? {
            Value::Null => Value::Null,
            value => Value::Bool(!truthy(&value)),
        },
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated,
            ..
        } => {
            let needle = eval(expr, row, claims)?;
            if needle.is_null() {
                return Some(Value::Null);
            }
            let mut found = false;
            for item in list {
                found |= compare(&needle, &eval(item, row, claims)?)? == std::cmp::Ordering::Equal;
            }
            Value::Bool(found != *negated)
        }
        Expr::BinaryOp { left, op, right } => {
            let left = eval(left, row, claims)?;
            let right = eval(right, row, claims)?;
            match op {
                BinaryOperator::And => match (left.is_null(), right.is_null()) {
                    _ if (!left.is_null() && !truthy(&left))
                        || (!right.is_null() && !truthy(&right)) =>
                    {
                        Value::Bool(false)
                    }
                    (false, false) => Value::Bool(true),
                    _ => Value::Null,
                },
                BinaryOperator::Or => match (left.is_null(), right.is_null()) {
                    _ if truthy(&left) || truthy(&right) => Value::Bool(true),
                    (false, false) => Value::Bool(false),
                    _ => Value::Null,
                },
                BinaryOperator::Arrow | BinaryOperator::LongArrow => {
                    let key = right.as_str()?;
                    let found = match &left {
                        Value::String(text) => {
                            serde_json::from_str::<Value>(text).ok()?.get(key).cloned()
                        }
                        other => other.get(key).cloned(),
                    }
                    .unwrap_or(Value::Null);
                    match (op, found) {
                        (BinaryOperator::LongArrow, Value::String(text)) => Value::String(text),
                        (BinaryOperator::LongArrow, Value::Null) => Value::Null,
                        (
                            BinaryOperator::LongArrow,
                            Value::Bool(_) | Value::Object(_) | Value::Array(_),
                        ) => return None,
                        (_, found) => found,
                    }
                }
                _ if left.is_null() || right.is_null() => Value::Null,
                _ => {
                    let ordering = compare(&left, &right)?;
                    Value::Bool(match op {
                        BinaryOperator::Eq => ordering.is_eq(),
                        BinaryOperator::NotEq => !ordering.is_eq(),
                        BinaryOperator::Lt => ordering.is_lt(),
                        BinaryOperator::LtEq => ordering.is_le(),
                        BinaryOperator::Gt => ordering.is_gt(),
                        _ => ordering.is_ge(),
                    })
                }
            }
        }
        _ => return None,
    })
}

/// Orders two values of the same kind; mixed kinds need SQLite's coercions.
fn compare(left: &Value, right: &Value) -> Option<std::cmp::Ordering> {
    match (left, right) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn check(predicate: &str, row: Value, claims: Value) -> Option<bool> {
        let compiled =
            Compiled::new(predicate).unwrap_or_else(|| panic!("{predicate} should compile"));
        compiled.passes(row.as_object().unwrap(), &claims)
    }

    #[test]
    fn owner_policies_are_decided_in_memory() {
        let row = json!({"user_id": "u1", "shared": false, "score": 3});
        assert_eq!(
            check(
                "((auth_uid() = user_id))",
                row.clone(),
                json!({"sub": "u1"})
            ),
            Some(true)
        );
        assert_eq!(
            check(
                "(((SELECT auth_uid()) = user_id))",
                row.clone(),
                json!({"sub": "u2"})
            ),
            Some(false)
        );
        assert_eq!(
            check(
                "((auth_uid() = user_id) OR (shared))",
                row.clone(),
                json!({})
            ),
            Some(false)
        );
        assert_eq!(
            check(
                "(auth_jwt() ->> 'role' = 'admin') AND score > 2",
                row.clone(),
                json!({"role": "admin"})
            ),
            Some(true)
        );
        assert_eq!(
            check(
                "user_id IN ('u1', 'u3') AND NOT shared",
                row.clone(),
                json!({})
            ),
            Some(true)
        );
        assert_eq!(
            check("score = '3'", row, json!({})),
            None,
            "mixed kinds go to the database"
        );
    }

    #[test]
    fn a_claim_equal_to_a_column_is_recognised_in_either_order() {
        let shape = |predicate: &str| {
            Compiled::new(predicate)
                .unwrap()
                .claim_equals_column()
                .map(|(claim, column)| (claim, column.to_owned()))
        };
        let owner = Some(("sub", "user_id".to_owned()));
        assert_eq!(shape("((auth_uid() = user_id))"), owner);
        assert_eq!(shape("(user_id = (SELECT auth_uid()))"), owner);
        assert_eq!(shape("items.user_id = auth_uid()"), owner);
        assert_eq!(
            shape("auth_email() = email"),
            Some(("email", "email".into()))
        );
        assert_eq!(shape("auth_uid() = user_id OR shared"), None);
        assert_eq!(shape("auth_uid() <> user_id"), None);
        assert_eq!(shape("auth_jwt() = user_id"), None);
        assert_eq!(shape("user_id = 'u1'"), None);
    }

    #[test]
    fn subqueries_and_functions_are_left_to_the_database() {
        assert!(Compiled::new("EXISTS (SELECT 1 FROM members WHERE team_id = 1)").is_none());
        assert!(Compiled::new("lower(name) = 'x'").is_none());
        assert!(Compiled::new("(SELECT user_id FROM profiles)").is_none());
    }
}
