//! Invoker: the body of a `security invoker` function as a caller runs it, every statement
//! under the caller's policies as in Postgres — reads see only what the SELECT policies let
//! through, UPDATE and DELETE reach only rows their `using` (and SELECT) policies allow, and
//! each row INSERT or UPDATE writes must pass the `with check` (42501 otherwise). Each
//! statement needs the caller's privileges on what it writes and reads (42501); service_role
//! skips the policies, not the privileges. `prepare` rewrites every invoker body (plpgsql and
//! triggers included) once per API role; `body` picks a `language sql` body's variant for
//! REST, the store's runtime the others'.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlparser::ast::{
    AssignmentTarget, Expr, FromTable, ObjectName, SelectItem, Statement, TableFactor, TableObject,
    TableWithJoins,
};

use super::authorize::{Clause, PolicyResolver};
use super::error::RestError;
use crate::auth::{Caller, Role};
use crate::migrate::expression::{Resolver, Unsupported, qualified_name, translate_with};
use crate::schema::privileges::Privilege;
use crate::schema::{
    Function, FunctionArgument, FunctionLanguage, Invoked, PolicyCommand, QualifiedName,
    SchemaCache, Table, TableKind,
};
use crate::store::functions::CHECK_COLUMN;
use crate::store::naming::{quote_ident, quote_literal, table_ident};

/// The SQLite statements (joined by `;\n`, arguments as `:name`) of `function`'s body as
/// `caller`'s role runs it (prepared once by `prepare`); `None` when the body runs as
/// translated at migration time: the function is `security definer` (its owner reads without
/// policies) or not `language sql` (the runtime runs a plpgsql body as its role's variant).
/// A body that cannot run as the caller's role is 42501.
pub fn body<'f>(function: &'f Function, caller: &Caller) -> Result<Option<&'f str>, RestError> {
    if function.security_definer || function.language != FunctionLanguage::Sql {
        return Ok(None);
    }
    match function.run_as(caller.role.as_str()) {
        Ok(Invoked::Body(body)) => Ok(Some(body)),
        Ok(_) => Ok(None),
        Err(message) => Err(RestError::sql("42501", message, caller.role == Role::Anon)),
    }
}

/// `function`'s body as each API role runs it: rewritten under that role's policies and
/// privileges, or the reason it cannot run as that role. Empty for `security definer`
/// functions, which run as written whoever calls them.
pub fn prepare(schema: &SchemaCache, function: &Function) -> BTreeMap<String, Invoked> {
    if function.security_definer {
        return BTreeMap::new();
    }
    [Role::Anon, Role::Authenticated, Role::ServiceRole]
        .into_iter()
        .map(|role| {
            let caller = Caller {
                role,
                claims: Arc::new(serde_json::json!({ "role": role.as_str() })),
            };
            let invoked = match function.language {
                FunctionLanguage::Sql => {
                    Rewriter::new(schema, &caller, sql_parameters(function), None)
                        .body(&function.body, &function.arguments)
                        .map(Invoked::Body)
                        .map_err(|Unsupported(reason)| reason)
                }
                FunctionLanguage::Plpgsql => {
                    let secured = Secured {
                        schema,
                        caller: &caller,
                    };
                    crate::plpgsql::compile_secured(schema, function, &secured)
                        .map(Invoked::Program)
                }
            };
            (
                role.as_str().to_owned(),
                invoked.unwrap_or_else(Invoked::Refused),
            )
        })
        .collect()
}

fn sql_parameters(function: &Function) -> Vec<String> {
    function
        .arguments
        .iter()
        .map(|argument| argument.name.clone())
        .collect()
}

/// A plpgsql body's queries and expressions under one caller's policies and privileges.
struct Secured<'a> {
    schema: &'a SchemaCache,
    caller: &'a Caller,
}

impl crate::plpgsql::Secure for Secured<'_> {
    fn statement(
        &self,
        statement: &mut Statement,
        calls: &dyn Resolver,
    ) -> Result<String, Unsupported> {
        Rewriter::new(self.schema, self.caller, Vec::new(), Some(calls)).secure(statement)
    }

    fn expression(&self, expr: &mut Expr, calls: &dyn Resolver) -> Result<String, Unsupported> {
        let rewriter = Rewriter::new(self.schema, self.caller, Vec::new(), Some(calls));
        let text = expr.to_string();
        rewriter
            .resolver
            .reading(&text, || rewriter.translate(expr))
    }
}

struct Rewriter<'a> {
    resolver: PolicyResolver<'a>,
    parameters: Vec<String>,
    /// How a plpgsql body calls the project's functions (through the runtime, which runs
    /// them as the caller's role in turn); `None` for a SQL body, whose calls the policies
    /// resolve. A plpgsql body may also read back what it writes (`returning … into`).
    calls: Option<&'a dyn Resolver>,
}

/// Translation under the rewriter's policies, with the project's functions resolved by
/// `calls` when there are any.
struct Translation<'r, 'a> {
    policies: &'r PolicyResolver<'a>,
    calls: Option<&'r dyn Resolver>,
}

impl Resolver for Translation<'_, '_> {
    fn schema(&self) -> Option<&SchemaCache> {
        Some(self.policies.schema)
    }

    fn relation(&self, name: &QualifiedName) -> Result<Option<String>, Unsupported> {
        self.policies.relation(name)
    }

    fn function(&self, name: &str, args: &[String]) -> Result<Option<String>, Unsupported> {
        match self.calls {
            Some(calls) => {
                self.policies.may_draw(name, args)?;
                calls.function(name, args)
            }
            None => self.policies.function(name, args),
        }
    }

    fn table_function(
        &self,
        name: &QualifiedName,
        args: &[String],
    ) -> Result<Option<String>, Unsupported> {
        match self.calls {
            Some(calls) => calls.table_function(name, args),
            None => self.policies.table_function(name, args),
        }
    }
}

impl<'a> Rewriter<'a> {
    fn new(
        schema: &'a SchemaCache,
        caller: &'a Caller,
        parameters: Vec<String>,
        calls: Option<&'a dyn Resolver>,
    ) -> Self {
        Self {
            resolver: PolicyResolver::new(schema, caller),
            parameters,
            calls,
        }
    }
}

impl Rewriter<'_> {
    fn body(&self, body: &str, arguments: &[FunctionArgument]) -> Result<String, Unsupported> {
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let statements = sqlparser::parser::Parser::parse_sql(&dialect, body)
            .map_err(|error| Unsupported(error.to_string()))?;
        let mut translated = Vec::new();
        for mut statement in statements {
            crate::migrate::rows::bind_row_arguments(&mut statement, arguments);
            crate::migrate::ranges::type_arguments(&mut statement, arguments);
            translated.push(self.secure(&mut statement)?);
        }
        Ok(translated.join(";\n"))
    }

    /// One statement under the caller's privileges and policies.
    fn secure(&self, statement: &mut Statement) -> Result<String, Unsupported> {
        let text = statement.to_string();
        let target = self.may_write(statement)?;
        *self.resolver.writing.borrow_mut() = target;
        let result = self.resolver.reading(&text, || self.statement(statement));
        *self.resolver.writing.borrow_mut() = None;
        result
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
                if update.from.is_some() {
                    return Err(refused("update … from", table));
                }
                let returned = self.returning(table, update.returning.as_mut())?;
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
                    self.checked(table, PolicyCommand::Update, returned)?
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
                if delete.using.is_some() {
                    return Err(refused("delete … using", table));
                }
                let returned = self.returning(table, delete.returning.as_mut())?;
                let mut terms = self.selection(delete.selection.as_mut())?;
                terms.extend(self.predicates(
                    table,
                    &[
                        (PolicyCommand::Delete, Clause::Using),
                        (PolicyCommand::Select, Clause::Using),
                    ],
                )?);
                Ok(format!(
                    "DELETE FROM {} WHERE {}{}",
                    table_ident(&table.name),
                    terms.join(" AND "),
                    returned.map_or(String::new(), |items| format!(" RETURNING {items}"))
                ))
            }
            Statement::Insert(insert) => {
                let TableObject::TableName(name) = &insert.table else {
                    return self.translate(statement);
                };
                let Some(table) = self.secured(name) else {
                    return self.translate(statement);
                };
                if insert.on.is_some() {
                    return Err(refused("insert … on conflict", table));
                }
                let returned = self.returning(table, insert.returning.as_mut())?;
                insert.returning = None;
                // The target is a name, not a `FROM` item: translating leaves it as it is and
                // filters only the tables the inserted rows are read from.
                let check = self.checked(table, PolicyCommand::Insert, returned)?;
                Ok(format!("{}{check}", self.translate(statement)?))
            }
            _ => self.translate(statement),
        }
    }

    fn translate<N: sqlparser::ast::VisitMut + std::fmt::Display>(
        &self,
        node: &mut N,
    ) -> Result<String, Unsupported> {
        let translation = Translation {
            policies: &self.resolver,
            calls: self.calls,
        };
        translate_with(node, &self.parameters, &translation)
    }

    /// A write's own `RETURNING` list, translated; only a plpgsql body may read back what it
    /// writes to a table under row-level security (a SQL body's rows are its result).
    fn returning(
        &self,
        table: &Table,
        returning: Option<&mut Vec<SelectItem>>,
    ) -> Result<Option<String>, Unsupported> {
        let Some(items) = returning else {
            return Ok(None);
        };
        if self.calls.is_none() {
            return Err(refused("a write … returning", table));
        }
        let translated = items
            .iter_mut()
            .map(|item| self.translate(item))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(translated.join(", ")))
    }

    /// `RETURNING` the statement's own items (if any) and the `with check` of each written
    /// row, as `CHECK_COLUMN`, which the runtime drops.
    fn checked(
        &self,
        table: &Table,
        command: PolicyCommand,
        returned: Option<String>,
    ) -> Result<String, Unsupported> {
        let check = self.check(table, command)?;
        Ok(match (returned, check.strip_prefix(" RETURNING ")) {
            (None, _) => check,
            (Some(items), None) => format!(" RETURNING {items}"),
            (Some(items), Some(check)) => {
                format!(
                    " RETURNING {items}, {check} AS {}",
                    quote_ident(CHECK_COLUMN)
                )
            }
        })
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

    /// The table `name`, when the caller's writes to it are under row-level security.
    fn secured(&self, name: &ObjectName) -> Option<&Table> {
        let name: QualifiedName = qualified_name(name);
        self.resolver
            .schema
            .table(&name)
            .filter(|table| table.rls_enabled && !self.resolver.caller.bypasses_rls())
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
