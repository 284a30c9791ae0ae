//! Authorize: the one place row-level security is decided. For a table, a command and a caller
//! it yields the SQL predicate rows must satisfy — permissive policies OR-ed, restrictive ones
//! AND-ed, default deny when RLS is on and no policy applies; service_role bypasses.
//! Every relation the REST planner reads or writes takes its predicate from here. Tables read
//! inside a policy, a `security_invoker` view or an invoker function body need the caller's
//! SELECT privilege on them (42501 otherwise), as in Postgres; a definer body reads with its
//! owner's.

use std::cell::RefCell;
use std::collections::BTreeSet;

use axum::http::StatusCode;

use super::error::RestError;
use crate::auth::{Caller, Role};
use crate::migrate::expression::{
    Resolver, Unsupported, substitute_parameters, translate_row_expr_text, translate_with,
};
use crate::schema::privileges::Privilege;
use crate::schema::{
    Function, FunctionLanguage, FunctionReturn, Policy, PolicyCommand, QualifiedName, SchemaCache,
    Table, TableKind,
};
use crate::store::naming::{quote_ident, table_ident};

/// Which clause of the policies to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clause {
    /// `using (…)`: which existing rows are visible (select, update, delete).
    Using,
    /// `with check (…)` (or `using` when absent): which new rows may be written.
    WithCheck,
}

/// The predicate (SQLite SQL over the table's unqualified columns) rows must satisfy, or `None`
/// when the caller is not restricted. Tables read inside a policy (`exists (select … from t)`)
/// are filtered by their own select policies, and the project's `language sql` functions are
/// inlined — `security definer` ones reading without the caller's policies — as in Postgres.
pub fn row_filter(
    schema: &SchemaCache,
    table: &Table,
    command: PolicyCommand,
    clause: Clause,
    caller: &Caller,
) -> Result<Option<String>, RestError> {
    if !table.rls_enabled || caller.bypasses_rls() {
        return Ok(None);
    }
    // The predicate depends only on the table, command, clause and role (claims are read by
    // SQL functions at run time), so it is translated once per combination.
    let key = format!(
        "{}|{command:?}|{clause:?}|{}",
        table.name,
        caller.role.as_str()
    );
    schema
        .compiled_policies
        .get_or_insert_with(&key, || {
            let resolver = PolicyResolver::new(schema, caller);
            resolver
                .predicate(table, command, clause)
                .map_err(|Unsupported(reason)| reason)
        })
        .map_err(|reason| {
            // A policy that cannot be evaluated denies: the request fails, it never fails open.
            refusal(reason, caller, |reason| {
                let code = if reason.contains("infinite recursion") {
                    "42P17"
                } else {
                    "42501"
                };
                RestError::new(StatusCode::INTERNAL_SERVER_ERROR, code, reason)
            })
        })
}

/// How a missing privilege reads in an error, as Postgres words it.
const DENIED: &str = "permission denied for ";

/// The error a policy, view or function body that could not be translated for `caller`
/// answers: a missing privilege as Postgres's 42501 (401 to anon, 403 otherwise), anything
/// else as `otherwise` makes it.
pub fn refusal(
    reason: String,
    caller: &Caller,
    otherwise: impl FnOnce(String) -> RestError,
) -> RestError {
    match reason.starts_with(DENIED) {
        true => RestError::sql("42501", reason, caller.role == Role::Anon),
        false => otherwise(reason),
    }
}

/// The names `text` mentions (unquoted ones folded to lower case), `*` among them when it has
/// one: the columns a relation it reads may be read through.
pub fn mentioned(text: &str) -> BTreeSet<String> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let tokens = sqlparser::tokenizer::Tokenizer::new(&dialect, text)
        .tokenize()
        .unwrap_or_default();
    use sqlparser::tokenizer::Token;
    let mut previous = Token::EOF;
    let mut names = BTreeSet::new();
    for token in tokens {
        if matches!(token, Token::Whitespace(_)) {
            continue;
        }
        match &token {
            Token::Word(word) => {
                names.insert(match word.quote_style {
                    Some(_) => word.value.clone(),
                    None => word.value.to_lowercase(),
                });
            }
            // `count(*)` reads no column.
            Token::Mul if previous != Token::LParen => {
                names.insert("*".into());
            }
            _ => {}
        }
        previous = token;
    }
    names
}

/// What a read of `view` selects from for `caller`: for a `security_invoker` view, its
/// definition with every table under row-level security filtered by the caller's SELECT
/// policies; `None` to read the view itself (owner's rights, or a caller who bypasses RLS).
pub fn view_source(
    schema: &SchemaCache,
    view: &Table,
    caller: &Caller,
) -> Result<Option<String>, RestError> {
    let TableKind::View {
        definition,
        security_invoker: true,
    } = &view.kind
    else {
        return Ok(None);
    };
    if caller.bypasses_rls() {
        return Ok(None);
    }
    let key = format!("view|{}|{}", view.name, caller.role.as_str());
    schema
        .compiled_policies
        .get_or_insert_with(&key, || {
            let resolver = PolicyResolver::new(schema, caller);
            let dialect = sqlparser::dialect::PostgreSqlDialect {};
            let mut statements = sqlparser::parser::Parser::parse_sql(&dialect, definition)
                .map_err(|error| error.to_string())?;
            let [statement] = statements.as_mut_slice() else {
                return Err(format!("view {} is not one query", view.name));
            };
            resolver
                .reading(definition, || translate_with(statement, &[], &resolver))
                .map(|sql| Some(format!("({sql})")))
                .map_err(|Unsupported(reason)| reason)
        })
        .map_err(|reason| {
            refusal(reason, caller, |reason| {
                RestError::new(StatusCode::INTERNAL_SERVER_ERROR, "42501", reason)
            })
        })
}

/// Resolves what policies refer to, for one caller.
pub struct PolicyResolver<'a> {
    pub schema: &'a SchemaCache,
    pub caller: &'a Caller,
    /// Inside a `security definer` function: tables are read without policies.
    pub bypass: bool,
    /// Tables whose policies are being expanded, to refuse recursion.
    pub visiting: RefCell<Vec<QualifiedName>>,
    /// The names each text being translated mentions, innermost last (`reading`).
    pub mentions: RefCell<Vec<BTreeSet<String>>>,
    /// The table an invoker UPDATE or DELETE being translated writes: `invoker` checks its
    /// privileges as a write's, not as a read's.
    pub writing: RefCell<Option<QualifiedName>>,
}

impl<'a> PolicyResolver<'a> {
    /// Resolves for `caller` outside any function: every table under its own policies.
    pub fn new(schema: &'a SchemaCache, caller: &'a Caller) -> Self {
        Self {
            schema,
            caller,
            bypass: false,
            visiting: RefCell::new(Vec::new()),
            mentions: RefCell::new(Vec::new()),
            writing: RefCell::new(None),
        }
    }

    /// Runs `translate` on `text`: the relations it reads need SELECT on the columns `text`
    /// names (on every column if it has a `*`; on any one if it names none).
    pub fn reading<T>(&self, text: &str, translate: impl FnOnce() -> T) -> T {
        self.mentions.borrow_mut().push(mentioned(text));
        let result = translate();
        self.mentions.borrow_mut().pop();
        result
    }

    /// Refuses (`permission denied for …`) unless the caller holds SELECT on the columns of
    /// `table` the text being translated may read; a definer body reads with its owner's rights.
    fn may_read(&self, table: &Table) -> Result<(), Unsupported> {
        if self.bypass || self.writing.borrow().as_ref() == Some(&table.name) {
            return Ok(());
        }
        let mentions = self.mentions.borrow();
        let named = mentions.last();
        let columns: BTreeSet<&str> = table
            .columns
            .iter()
            .map(|column| column.name.as_str())
            .filter(|column| {
                named.is_some_and(|named| named.contains("*") || named.contains(*column))
            })
            .collect();
        let role = self.caller.role.as_str();
        let privileges = &self.schema.privileges;
        if privileges.schema_allows(&table.name.schema, role)
            && privileges.relation_allows(&table.name, role, Privilege::Select, &columns)
        {
            return Ok(());
        }
        let what = match table.kind {
            TableKind::View { .. } => "view",
            TableKind::Table => "table",
        };
        Err(Unsupported(
            match privileges.schema_allows(&table.name.schema, role) {
                true => format!("{DENIED}{what} {}", table.name.name),
                false => format!("{DENIED}schema {}", table.name.schema),
            },
        ))
    }

    /// Refuses `nextval`, `setval` and `currval` of a sequence the caller holds none of the
    /// privileges they take on.
    pub(super) fn may_draw(&self, function: &str, args: &[String]) -> Result<(), Unsupported> {
        let needed: &[Privilege] = match function.rsplit('.').next().unwrap_or(function) {
            "nextval" => &[Privilege::Usage, Privilege::Update],
            "setval" => &[Privilege::Update],
            "currval" => &[Privilege::Usage, Privilege::Select],
            _ => return Ok(()),
        };
        let Some(name) = args
            .first()
            .and_then(|arg| arg.strip_prefix('\''))
            .and_then(|arg| arg.strip_suffix('\''))
        else {
            return Ok(());
        };
        let sequence = match name.split_once('.') {
            Some((schema, name)) => QualifiedName::new(schema, name),
            None => QualifiedName::public(name),
        };
        match self.bypass
            || self
                .schema
                .privileges
                .sequence_allows(&sequence, self.caller.role.as_str(), needed)
        {
            true => Ok(()),
            false => Err(Unsupported(format!("{DENIED}sequence {}", sequence.name))),
        }
    }

    pub fn predicate(
        &self,
        table: &Table,
        command: PolicyCommand,
        clause: Clause,
    ) -> Result<Option<String>, Unsupported> {
        if !table.rls_enabled || self.caller.bypasses_rls() || self.bypass {
            return Ok(None);
        }
        if self.visiting.borrow().contains(&table.name) {
            return Err(Unsupported(format!(
                "infinite recursion detected in policy for relation \"{}\"",
                table.name.name
            )));
        }
        self.visiting.borrow_mut().push(table.name.clone());
        let result = self.combine(table, command, clause);
        self.visiting.borrow_mut().pop();
        result.map(Some)
    }

    fn combine(
        &self,
        table: &Table,
        command: PolicyCommand,
        clause: Clause,
    ) -> Result<String, Unsupported> {
        let applicable: Vec<&Policy> = table
            .policies
            .iter()
            .filter(|policy| policy.command == PolicyCommand::All || policy.command == command)
            .filter(|policy| {
                policy
                    .roles
                    .iter()
                    .any(|role| role == "public" || role == self.caller.role.as_str())
            })
            .collect();
        let expression = |policy: &Policy| -> Result<String, Unsupported> {
            let text = match clause {
                Clause::Using => policy.using.as_ref(),
                Clause::WithCheck => policy.with_check.as_ref().or(policy.using.as_ref()),
            };
            match text {
                Some(text) => self
                    .reading(text, || translate_row_expr_text(text, self, table))
                    .map(|sql| format!("({sql})"))
                    .map_err(|Unsupported(reason)| match reason.starts_with(DENIED) {
                        true => Unsupported(reason),
                        false => Unsupported(format!(
                            "policy \"{}\" cannot be evaluated: {reason}",
                            policy.name
                        )),
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
            return Ok("0".into());
        }
        let mut predicate = format!("({})", permissive.join(" OR "));
        for restrictive in applicable.iter().filter(|policy| !policy.permissive) {
            predicate = format!("{predicate} AND {}", expression(restrictive)?);
        }
        Ok(predicate)
    }
}

impl Resolver for PolicyResolver<'_> {
    fn schema(&self) -> Option<&SchemaCache> {
        Some(self.schema)
    }

    fn relation(&self, name: &QualifiedName) -> Result<Option<String>, Unsupported> {
        let Some(table) = self.schema.table(name) else {
            return Ok(None);
        };
        self.may_read(table)?;
        Ok(self
            .predicate(table, PolicyCommand::Select, Clause::Using)?
            .map(|predicate| {
                format!(
                    "SELECT * FROM {} WHERE {predicate}",
                    table_ident(&table.name)
                )
            }))
    }

    fn function(&self, name: &str, args: &[String]) -> Result<Option<String>, Unsupported> {
        self.may_draw(name, args)?;
        // A plpgsql function runs as the store's runtime prepared it for the caller's role,
        // under that role's policies unless it is `security definer`.
        if let Some(function) = crate::plpgsql::find(self.schema, name, args.len()) {
            return Ok(Some(crate::plpgsql::call_sql(function, args)));
        }
        inline_function(self.schema, name, args, &|function| PolicyResolver {
            schema: self.schema,
            caller: self.caller,
            bypass: self.bypass || function.security_definer,
            visiting: RefCell::new(self.visiting.borrow().clone()),
            mentions: RefCell::new(Vec::new()),
            writing: RefCell::new(None),
        })
    }
}

/// A call of one of the project's scalar `language sql` functions as a scalar subquery.
pub fn inline_function<'a>(
    schema: &'a SchemaCache,
    name: &str,
    args: &[String],
    resolver_for: &dyn Fn(&Function) -> PolicyResolver<'a>,
) -> Result<Option<String>, Unsupported> {
    let last = name.rsplit('.').next().unwrap_or(name);
    let same_name = |function: &&Function| {
        function.name.name == last && function.language == FunctionLanguage::Sql
    };
    let Some(function) = schema
        .all_functions()
        .filter(same_name)
        .find(|function| function.arguments.len() == args.len())
        .or_else(|| schema.all_functions().find(same_name))
    else {
        return Ok(None);
    };
    if !matches!(function.returns, FunctionReturn::Scalar(_))
        || function.arguments.len() != args.len()
    {
        return Err(Unsupported(format!(
            "{}() can be called in a policy only with all its arguments and a scalar result",
            function.name
        )));
    }
    let parameters: Vec<String> = function
        .arguments
        .iter()
        .map(|argument| argument.name.clone())
        .collect();
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut statements = sqlparser::parser::Parser::parse_sql(&dialect, &function.body)
        .map_err(|error| Unsupported(error.to_string()))?;
    let [statement] = statements.as_mut_slice() else {
        return Err(Unsupported(format!(
            "{}() must be a single select to be used in a policy",
            function.name
        )));
    };
    crate::migrate::ranges::type_arguments(statement, &function.arguments);
    let resolver = resolver_for(function);
    let body = resolver.reading(&function.body, || {
        translate_with(statement, &parameters, &resolver)
    })?;
    if parameters.is_empty() {
        return Ok(Some(format!("({body})")));
    }
    // The arguments are evaluated where the call is written (against the caller's row) and the
    // body reads them from a one-row derived table, so a column of a table the body reads can
    // never capture an argument that names a column of the caller's row.
    let scope = quote_ident(&format!("{}.args", function.name.name));
    let bound: Vec<String> = parameters
        .iter()
        .zip(args)
        .map(|(parameter, arg)| format!("({arg}) AS {}", quote_ident(parameter)))
        .collect();
    let replacements: Vec<(String, String)> = parameters
        .iter()
        .map(|parameter| {
            (
                parameter.clone(),
                format!("{scope}.{}", quote_ident(parameter)),
            )
        })
        .collect();
    Ok(Some(format!(
        "(SELECT ({}) FROM (SELECT {}) AS {scope})",
        substitute_parameters(&body, &replacements),
        bound.join(", ")
    )))
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
            partitioning: None,
            partition_of: None,
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
        let filter = |role, command| {
            row_filter(
                &SchemaCache::default(),
                &table,
                command,
                Clause::Using,
                &caller(role),
            )
            .unwrap()
        };
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
    fn a_text_mentions_its_names_folded_and_a_star_unless_it_counts_rows() {
        let names = |text: &str| mentioned(text).into_iter().collect::<Vec<_>>();
        assert_eq!(
            names(r#"exists (select 1 from Members m where m."Team" = id)"#),
            [
                "Team", "exists", "from", "id", "m", "members", "select", "where"
            ]
        );
        assert!(!mentioned("select count(*) from members").contains("*"));
        assert!(mentioned("select * from members").contains("*"));
        assert!(mentioned("select m.* from members m").contains("*"));
    }

    #[test]
    fn rls_on_without_policies_denies_everything() {
        assert_eq!(
            row_filter(
                &SchemaCache::default(),
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
