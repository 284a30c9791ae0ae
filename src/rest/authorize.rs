//! Authorize: the one place row-level security is decided. For a table, a command and a caller
//! it yields the SQL predicate rows must satisfy — permissive policies OR-ed, restrictive ones
//! AND-ed, default deny when RLS is on and no policy applies; service_role bypasses.
//! Every relation the REST planner reads or writes takes its predicate from here.

use axum::http::StatusCode;

use super::error::RestError;
use crate::auth::Caller;
use crate::migrate::expression::translate_expr_text;
use crate::schema::{Policy, PolicyCommand, Table};

/// Which clause of the policies to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clause {
    /// `using (…)`: which existing rows are visible (select, update, delete).
    Using,
    /// `with check (…)` (or `using` when absent): which new rows may be written.
    WithCheck,
}

/// The predicate (SQLite SQL over the table's unqualified columns) rows must satisfy, or `None`
/// when the caller is not restricted.
pub fn row_filter(
    table: &Table,
    command: PolicyCommand,
    clause: Clause,
    caller: &Caller,
) -> Result<Option<String>, RestError> {
    if !table.rls_enabled || caller.bypasses_rls() {
        return Ok(None);
    }
    let applicable: Vec<&Policy> = table
        .policies
        .iter()
        .filter(|policy| policy.command == PolicyCommand::All || policy.command == command)
        .filter(|policy| {
            policy
                .roles
                .iter()
                .any(|role| role == "public" || role == caller.role.as_str())
        })
        .collect();
    let expression = |policy: &Policy| -> Result<String, RestError> {
        let text = match clause {
            Clause::Using => policy.using.as_ref(),
            Clause::WithCheck => policy.with_check.as_ref().or(policy.using.as_ref()),
        };
        match text {
            Some(text) => translate_expr_text(text)
                .map(|sql| format!("({sql})"))
                .map_err(|error| {
                    RestError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "42501",
                        format!("policy \"{}\" cannot be evaluated: {error}", policy.name),
                    )
                }),
            None => Ok("1".into()),
        }
    };
    let permissive = applicable
        .iter()
        .filter(|policy| policy.permissive)
        .map(|policy| expression(policy))
        .collect::<Result<Vec<_>, _>>()?;
    if permissive.is_empty() {
        return Ok(Some("0".into()));
    }
    let mut predicate = format!("({})", permissive.join(" OR "));
    for restrictive in applicable.iter().filter(|policy| !policy.permissive) {
        predicate = format!("{predicate} AND {}", expression(restrictive)?);
    }
    Ok(Some(predicate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::schema::{QualifiedName, TableKind};
    use std::sync::Arc;

    fn table(policies: Vec<Policy>) -> Table {
        Table {
            name: QualifiedName::public("todos"),
            kind: TableKind::Table,
            columns: vec![],
            primary_key: vec![],
            unique_constraints: vec![],
            foreign_keys: vec![],
            checks: vec![],
            rls_enabled: true,
            policies,
            comment: None,
        }
    }

    fn policy(
        name: &str,
        permissive: bool,
        command: PolicyCommand,
        roles: &[&str],
        using: &str,
    ) -> Policy {
        Policy {
            name: name.into(),
            permissive,
            command,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            using: Some(using.into()),
            with_check: None,
        }
    }

    fn caller(role: Role) -> Caller {
        Caller {
            role,
            claims: Arc::new(serde_json::json!({"role": role.as_str()})),
        }
    }

    #[test]
    fn permissive_policies_are_ored_and_restrictive_ones_anded() {
        let table = table(vec![
            policy(
                "own",
                true,
                PolicyCommand::All,
                &["authenticated"],
                "auth.uid() = user_id",
            ),
            policy("shared", true, PolicyCommand::Select, &["public"], "shared"),
            policy(
                "live",
                false,
                PolicyCommand::Select,
                &["public"],
                "not archived",
            ),
            policy("anon", true, PolicyCommand::Select, &["anon"], "false"),
        ]);
        let filter =
            |role, command| row_filter(&table, command, Clause::Using, &caller(role)).unwrap();
        assert_eq!(
            filter(Role::Authenticated, PolicyCommand::Select).unwrap(),
            "((auth_uid() = user_id) OR (shared)) AND (NOT archived)"
        );
        assert_eq!(
            filter(Role::Authenticated, PolicyCommand::Delete).unwrap(),
            "((auth_uid() = user_id))"
        );
        assert_eq!(filter(Role::Anon, PolicyCommand::Delete).unwrap(), "0");
        assert_eq!(filter(Role::ServiceRole, PolicyCommand::Select), None);
    }

    #[test]
    fn rls_on_without_policies_denies_everything() {
        assert_eq!(
            row_filter(
                &table(vec![]),
                PolicyCommand::Select,
                Clause::Using,
                &caller(Role::Authenticated)
            )
            .unwrap()
            .unwrap(),
            "0"
        );
    }
}
