//! Invoker: the body of a `security invoker` SQL function as a restricted caller runs it, every
//! statement under the caller's policies as in Postgres — reads see only what the SELECT
//! policies let through, UPDATE and DELETE reach only rows their `using` (and SELECT) policies
//! allow, and each row INSERT or UPDATE writes must pass the `with check` (42501 otherwise).
//! Each statement needs the caller's privileges on what it writes and reads (42501).

use axum::http::StatusCode;
use sqlparser::ast::{
    AssignmentTarget, Expr, FromTable, ObjectName, Statement, TableFactor, TableObject,
    TableWithJoins,
};

use super::authorize::{Clause, PolicyResolver, refusal};
use super::error::RestError;
use crate::auth::Caller;
use crate::migrate::expression::{Unsupported, qualified_name, translate_with};
use crate::schema::privileges::Privilege;
use crate::schema::{
    Function, FunctionLanguage, PolicyCommand, QualifiedName, SchemaCache, Table, TableKind,
};
use crate::store::naming::{quote_ident, quote_literal, table_ident};

/// The SQLite statements (joined by `;\n`, arguments as `:name`) of `function`'s body for
/// `caller`; `None` when the body runs as translated at migration time: the caller bypasses
/// row-level security, or the function is `security definer` (its owner reads without
/// policies) or not `language sql`.
pub fn body(
    schema: &SchemaCache,
    function: &Function,
    caller: &Caller,
) -> Result<Option<String>, RestError> {
    if function.security_definer
        || caller.bypasses_rls()
        || function.language != FunctionLanguage::Sql
    {
        return Ok(None);
    }
    let key = format!("invoker|{}|{}", function.name, caller.role.as_str());
    schema
        .compiled_policies
        .get_or_insert_with(&key, || {
            let rewriter = Rewriter {
                resolver: PolicyResolver::new(schema, caller),
                parameters: function
                    .arguments
                    .iter()
                    .map(|argument| argument.name.clone())
                    .collect(),
            };
            rewriter
                .body(&function.body)
                .map(Some)
                .map_err(|Unsupported(reason)| reason)
        })
        .map_err(|reason| {
            refusal(reason, caller, |reason| {
                RestError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "42501",
                    format!(
                        "function {}() cannot run under the caller's policies: {reason}",
                        function.name
                    ),
                )
            })
        })
}

struct Rewriter<'a> {
    resolver: PolicyResolver<'a>,
    parameters: Vec<String>,
}

impl Rewriter<'_> {
    fn body(&self, body: &str) -> Result<String, Unsupported> {
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let statements = sqlparser::parser::Parser::parse_sql(&dialect, body)
            .map_err(|error| Unsupported(error.to_string()))?;
        let mut translated = Vec::new();
        for mut statement in statements {
            let text = statement.to_string();
            let target = self.may_write(&statement)?;
            *self.resolver.writing.borrow_mut() = target;
            let result = self
                .resolver
                .reading(&text, || self.statement(&mut statement));
            *self.resolver.writing.borrow_mut() = None;
            translated.push(result?);
        }
        Ok(translated.join(";\n"))
    }

    /// Refuses a write the caller lacks the privilege for: UPDATE on each assigned column,
    /// INSERT on each inserted one (every column when none are listed), DELETE, and SELECT on
    /// the columns of its target an UPDATE's or DELETE's `WHERE` names. Yields the target of an
    /// UPDATE or DELETE, whose privileges are then checked.
    fn may_write(&self, statement: &Statement) -> Result<Option<QualifiedName>, Unsupported> {
        let (name, privilege, columns, selection) = match statement {
            Statement::Update(update) => {
                let TableFactor::Table { name, .. } = &update.table.relation else {
                    return Ok(None);
                };
                let columns = update
                    .assignments
                    .iter()
                    .filter_map(|assignment| match &assignment.target {
                        AssignmentTarget::ColumnName(column) => Some(qualified_name(column).name),
                        AssignmentTarget::Tuple(_) => None,
                    })
                    .collect();
                (name, Privilege::Update, columns, update.selection.as_ref())
            }
            Statement::Delete(delete) => {
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                    &delete.from;
                let Some(TableFactor::Table { name, .. }) = from.first().map(|from| &from.relation)
                else {
                    return Ok(None);
                };
                (
                    name,
                    Privilege::Delete,
                    Vec::new(),
                    delete.selection.as_ref(),
                )
            }
            Statement::Insert(insert) => {
                let TableObject::TableName(name) = &insert.table else {
                    return Ok(None);
                };
                let columns = insert
                    .columns
                    .iter()
                    .map(|column| qualified_name(column).name)
                    .collect();
                (name, Privilege::Insert, columns, None)
            }
            _ => return Ok(None),
        };
        let schema = self.resolver.schema;
        let Some(table) = schema.table(&qualified_name(name)) else {
            return Ok(None);
        };
        let mut columns: Vec<&str> = columns.iter().map(String::as_str).collect();
        if privilege == Privilege::Insert && columns.is_empty() {
            columns = table
                .columns
                .iter()
                .map(|column| column.name.as_str())
                .collect();
        }
        let role = self.resolver.caller.role.as_str();
        let allows = |privilege, columns: Vec<&str>| {
            schema.privileges.relation_allows(
                &table.name,
                role,
                privilege,
                &columns.into_iter().collect(),
            )
        };
        let read: Vec<&str> = selection
            .map(|selection| {
                let named = super::authorize::mentioned(&selection.to_string());
                table
                    .columns
                    .iter()
                    .map(|column| column.name.as_str())
                    .filter(|column| named.contains(*column))
                    .collect()
            })
            .unwrap_or_default();
        if allows(privilege, columns) && (read.is_empty() || allows(Privilege::Select, read)) {
            return Ok((privilege != Privilege::Insert).then(|| table.name.clone()));
        }
        let what = match table.kind {
            TableKind::View { .. } => "view",
            TableKind::Table => "table",
        };
        Err(Unsupported(format!(
            "permission denied for {what} {}",
            table.name.name
        )))
    }

    fn statement(&self, statement: &mut Statement) -> Result<String, Unsupported> {
        match statement {
            Statement::Update(update) => {
                let Some(table) = self.secured_target(&update.table)? else {
                    return self.translate(statement);
                };
                if update.from.is_some() || update.returning.is_some() {
                    return Err(refused("update … from / returning", table));
                }
                let mut assignments = Vec::new();
                for assignment in &mut update.assignments {
                    let AssignmentTarget::ColumnName(column) = &assignment.target else {
                        return Err(refused("update of a column tuple", table));
                    };
                    let column = qualified_name(column).name;
                    assignments.push(format!(
                        "{} = {}",
                        quote_ident(&column),
                        self.translate(&mut assignment.value)?
                    ));
                }
                let mut terms = self.selection(update.selection.as_mut())?;
                terms.extend(self.predicates(
                    table,
                    &[
                        (PolicyCommand::Update, Clause::Using),
                        (PolicyCommand::Select, Clause::Using),
                    ],
                )?);
                Ok(format!(
                    "UPDATE {} SET {} WHERE {}{}",
                    table_ident(&table.name),
                    assignments.join(", "),
                    terms.join(" AND "),
                    self.check(table, PolicyCommand::Update)?
                ))
            }
            Statement::Delete(delete) => {
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                    &delete.from;
                let [target] = from.as_slice() else {
                    return self.translate(statement);
                };
                let Some(table) = self.secured_target(target)? else {
                    return self.translate(statement);
                };
                if delete.using.is_some() || delete.returning.is_some() {
                    return Err(refused("delete … using / returning", table));
                }
                let mut terms = self.selection(delete.selection.as_mut())?;
                terms.extend(self.predicates(
                    table,
                    &[
                        (PolicyCommand::Delete, Clause::Using),
                        (PolicyCommand::Select, Clause::Using),
                    ],
                )?);
                Ok(format!(
                    "DELETE FROM {} WHERE {}",
                    table_ident(&table.name),
                    terms.join(" AND ")
                ))
            }
            Statement::Insert(insert) => {
                let TableObject::TableName(name) = &insert.table else {
                    return self.translate(statement);
                };
                let Some(table) = self.secured(name) else {
                    return self.translate(statement);
                };
                if insert.on.is_some() || insert.returning.is_some() {
                    return Err(refused("insert … on conflict / returning", table));
                }
                // The target is a name, not a `FROM` item: translating leaves it as it is and
                // filters only the tables the inserted rows are read from.
                let check = self.check(table, PolicyCommand::Insert)?;
                Ok(format!("{}{check}", self.translate(statement)?))
            }
            _ => self.translate(statement),
        }
    }

    fn translate<N: sqlparser::ast::VisitMut + std::fmt::Display>(
        &self,
        node: &mut N,
    ) -> Result<String, Unsupported> {
        translate_with(node, &self.parameters, &self.resolver)
    }

    /// The table under row-level security that an UPDATE or DELETE writes, if it is one.
    fn secured_target(&self, target: &TableWithJoins) -> Result<Option<&Table>, Unsupported> {
        let TableFactor::Table { name, alias, .. } = &target.relation else {
            return Ok(None);
        };
        let Some(table) = self.secured(name) else {
            return Ok(None);
        };
        if alias.is_some() || !target.joins.is_empty() {
            return Err(refused("an aliased or joined target", table));
        }
        Ok(Some(table))
    }

    fn secured(&self, name: &ObjectName) -> Option<&Table> {
        let name: QualifiedName = qualified_name(name);
        self.resolver
            .schema
            .table(&name)
            .filter(|table| table.rls_enabled)
    }

    /// The statement's own `WHERE` (translated, policies on the tables it reads) as a term.
    fn selection(&self, selection: Option<&mut Expr>) -> Result<Vec<String>, Unsupported> {
        Ok(match selection {
            Some(expr) => vec![format!("({})", self.translate(expr)?)],
            None => Vec::new(),
        })
    }

    fn predicates(
        &self,
        table: &Table,
        clauses: &[(PolicyCommand, Clause)],
    ) -> Result<Vec<String>, Unsupported> {
        let mut terms = Vec::new();
        for (command, clause) in clauses {
            if let Some(predicate) = self.resolver.predicate(table, *command, *clause)? {
                terms.push(format!("coalesce({predicate}, 0)"));
            }
        }
        if terms.is_empty() {
            terms.push("1".into());
        }
        Ok(terms)
    }

    /// `RETURNING` that fails the statement (42501) on a written row the `with check` refuses.
    fn check(&self, table: &Table, command: PolicyCommand) -> Result<String, Unsupported> {
        Ok(
            match self.resolver.predicate(table, command, Clause::WithCheck)? {
                Some(predicate) => format!(
                    " RETURNING rls_check(coalesce({predicate}, 0), {})",
                    quote_literal(&table.name.name)
                ),
                None => String::new(),
            },
        )
    }
}

fn refused(what: &str, table: &Table) -> Unsupported {
    Unsupported(format!(
        "{what} of \"{}\", which has row-level security, is not supported",
        table.name
    ))
}
