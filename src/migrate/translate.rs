//! Translate: applies one Postgres DDL/DML statement to the `SchemaCache` and runs its SQLite
//! equivalent on the connection. Tables are (re)created from the cache's model, so
//! `alter table` forms SQLite lacks become a table rebuild. Anything outside the supported
//! subset is refused with a reason and a hint — never skipped.

use rusqlite::Connection;
use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnDef, ColumnOption, CreateFunctionBody,
    CreatePolicyCommand, CreatePolicyType, DataType, Expr, FunctionBehavior, FunctionReturnType,
    FunctionSecurity, ObjectName, ObjectType, ReferentialAction as SqlAction, RenameTableNameKind,
    SelectItem, SetExpr, Statement, TableConstraint, TriggerEvent, TriggerPeriod,
    UserDefinedTypeRepresentation, Value, ValueWithSpan,
};

use super::evolve::{self, ColumnChanges};
use super::expression::{self, Unsupported, ident_name, qualified_name, translate_expr_text};
use super::partitions;
use super::sequences;
use super::values;
use crate::schema::{
    CheckConstraint, Column, ForeignKey, Function, FunctionArgument, FunctionLanguage,
    FunctionReturn, PgType, Policy, PolicyCommand, PrintedType, QualifiedName, ReferentialAction,
    SchemaCache, Table, TableKind, Trigger, UniqueConstraint, Volatility,
};
use crate::store::naming::{quote_ident, quote_literal, table_ident, table_name};

/// Why a statement was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub reason: String,
    pub hint: Option<String>,
}

impl Refusal {
    pub(super) fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            hint: None,
        }
    }

    pub(super) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl From<Unsupported> for Refusal {
    fn from(error: Unsupported) -> Self {
        Refusal::new(error.0).hint("Solobase translates the subset of PostgreSQL that app schemas use; rewrite this part with supported constructs")
    }
}

impl From<rusqlite::Error> for Refusal {
    fn from(error: rusqlite::Error) -> Self {
        match crate::plpgsql::PgError::decode(&error) {
            Some(raised) => Refusal::new(crate::plpgsql::describe(&raised)),
            None => Refusal::new(format!("SQLite refused the translated statement: {error}")),
        }
    }
}

pub(super) type Outcome = Result<(), Refusal>;

/// Applies one statement: updates `cache` and executes the SQLite translation.
pub fn apply(connection: &Connection, cache: &mut SchemaCache, text: &str) -> Outcome {
    if let Some(outcome) = prepass(connection, cache, text) {
        return outcome;
    }
    if let Some(outcome) = sequences::alter(connection, cache, text) {
        return outcome;
    }
    if let Some(outcome) = evolve::rename_index(connection, cache, text) {
        return outcome;
    }
    if let Some(outcome) = partitions::attach_index(text) {
        return outcome;
    }
    let text = &*partitions::index_on_only(text);
    if let Some(outcome) = evolve::alter_function_security(cache, text) {
        return outcome;
    }
    let identity = sequences::identity_sequence(text);
    let text = identity
        .as_ref()
        .map_or(text, |found| found.statement.as_str());
    // sqlparser knows no `rows n` or `cost n` in `create function`.
    let (text, rows) = super::rows::planner_estimates(text);
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let statements = sqlparser::parser::Parser::parse_sql(&dialect, &text).map_err(|error| {
        Refusal::new(format!("cannot parse: {error}")).hint("check the statement's syntax")
    })?;
    for statement in statements {
        apply_statement(connection, cache, statement, rows)?;
    }
    match identity {
        Some(found) => found.register(connection, cache),
        None => Ok(()),
    }
}

/// Statements sqlparser cannot parse, or that need no parsing: publications, DO blocks, no-ops.
fn prepass(connection: &Connection, cache: &mut SchemaCache, text: &str) -> Option<Outcome> {
    let lowered = text.to_ascii_lowercase();
    let words: Vec<&str> = lowered.split_whitespace().collect();
    let first_two = words.iter().take(2).copied().collect::<Vec<_>>().join(" ");
    if words
        .first()
        .is_some_and(|word| *word == "do" || word.starts_with("do$"))
    {
        return Some(do_block(connection, cache, text));
    }
    if first_two == "create publication"
        || first_two == "alter publication"
        || first_two == "drop publication"
    {
        return Some(publication(cache, text, &words));
    }
    None
}

/// `DO $$ … $$`: the block runs now, its DDL statements applied as the migration's own.
fn do_block(connection: &Connection, cache: &mut SchemaCache, text: &str) -> Outcome {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let tokens = sqlparser::tokenizer::Tokenizer::new(&dialect, text)
        .tokenize()
        .map_err(|error| Refusal::new(format!("cannot read the DO block: {error}")))?;
    let mut body = None;
    let mut language = None;
    let mut words = tokens
        .iter()
        .filter(|token| !matches!(token, sqlparser::tokenizer::Token::Whitespace(_)));
    while let Some(token) = words.next() {
        match token {
            sqlparser::tokenizer::Token::DollarQuotedString(quoted) => {
                body = Some(quoted.value.clone())
            }
            sqlparser::tokenizer::Token::SingleQuotedString(quoted) => body = Some(quoted.clone()),
            sqlparser::tokenizer::Token::Word(word)
                if word.value.eq_ignore_ascii_case("language") =>
            {
                language = words
                    .next()
                    .map(|token| token.to_string().trim_matches('"').to_ascii_lowercase());
            }
            _ => {}
        }
    }
    if language
        .as_deref()
        .is_some_and(|language| language != "plpgsql")
    {
        return Err(Refusal::new(format!(
            "DO blocks in language {} are not supported",
            language.unwrap_or_default()
        ))
        .hint("write the block in plpgsql"));
    }
    let body = body
        .ok_or_else(|| Refusal::new("the DO block's body must be a quoted string (as $$ … $$)"))?;
    let program = crate::plpgsql::compile_do(cache, &body).map_err(|reason| {
        Refusal::new(format!("DO block: {reason}"))
            .hint("Solobase runs plpgsql without dynamic SQL (EXECUTE) or the Postgres catalogs")
    })?;
    let mut refused = None;
    let mut utility = |statement: &str| {
        apply(connection, cache, statement).map_err(|refusal| {
            let error = crate::plpgsql::PgError::new("0A000", refusal.reason.clone());
            refused = Some(refusal);
            error
        })
    };
    let outcome = crate::plpgsql::execute_do(connection, &program, &mut utility);
    match (outcome, refused) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(refusal)) => Err(refusal),
        (Err(error), None) => Err(Refusal::new(format!(
            "the DO block raised {}",
            crate::plpgsql::describe(&error)
        ))),
    }
}

/// `create|alter publication supabase_realtime [for|add|drop] table a, b` and `for all tables`.
fn publication(cache: &mut SchemaCache, text: &str, words: &[&str]) -> Outcome {
    if words.get(2).copied() != Some("supabase_realtime") {
        return Ok(());
    }
    if words.first() == Some(&"drop") {
        cache.realtime_tables.clear();
        return Ok(());
    }
    if words.windows(2).any(|pair| pair == ["all", "tables"]) {
        let all: Vec<QualifiedName> = cache
            .tables
            .values()
            .filter(|table| table.kind == TableKind::Table && table.name.schema == "public")
            .map(|table| table.name.clone())
            .collect();
        cache.realtime_tables.extend(all);
        return Ok(());
    }
    let Some(table_word) = words.iter().position(|word| *word == "table") else {
        return Ok(()); // e.g. `create publication supabase_realtime;`
    };
    let dropping = words.contains(&"drop");
    let original_words: Vec<&str> = text.split_whitespace().collect();
    let list = original_words[table_word + 1..].join(" ");
    for name in list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let name = name.trim_start_matches("only ").trim();
        let parts: Vec<&str> = name.split('.').map(|part| part.trim_matches('"')).collect();
        let qualified = match parts.as_slice() {
            [schema, table] => QualifiedName::new(*schema, *table),
            [table] => QualifiedName::public(*table),
            _ => return Err(Refusal::new(format!("cannot read the table name `{name}`"))),
        };
        if dropping {
            cache.realtime_tables.remove(&qualified);
        } else {
            if cache.table(&qualified).is_none() {
                return Err(Refusal::new(format!(
                    "relation \"{qualified}\" does not exist"
                )));
            }
            cache.realtime_tables.insert(qualified);
        }
    }
    Ok(())
}

/// `rows` is the row estimate a `create function` declared.
fn apply_statement(
    connection: &Connection,
    cache: &mut SchemaCache,
    statement: Statement,
    rows: Option<u64>,
) -> Outcome {
    match statement {
        Statement::CreateTable(create) => {
            let name = qualified_name(&create.name);
            if cache.table(&name).is_some() {
                return if create.if_not_exists { Ok(()) } else { Err(Refusal::new(format!("relation \"{name}\" already exists"))) };
            }
            if create.query.is_some() || create.like.is_some() {
                return Err(Refusal::new("create table … as / like is not supported"));
            }
            if create.partition_of.is_some() {
                return partitions::create(connection, cache, name, &create);
            }
            let mut table = Table::new(name.clone(), TableKind::Table);
            for column in &create.columns {
                add_column(cache, &mut table, column)?;
            }
            for constraint in &create.constraints {
                add_constraint(cache, &mut table, constraint)?;
            }
            if let Some(key) = &create.partition_by {
                table.partitioning = Some(partitions::partitioning(key, &table)?);
            }
            connection.execute_batch(&create_table_sql(cache, &table, &table_ident(&name))?)?;
            cache.tables.insert(name.clone(), table);
            sequences::own_identities(connection, cache, &name)
        }
        Statement::AlterTable(alter) => {
            let name = qualified_name(&alter.name);
            let Some(mut table) = cache.tables.get(&name).cloned() else {
                return if alter.if_exists { Ok(()) } else { Err(Refusal::new(format!("relation \"{name}\" does not exist"))) };
            };
            if let [AlterTableOperation::RenameTable { table_name: RenameTableNameKind::To(new) | RenameTableNameKind::As(new) }] = alter.operations.as_slice() {
                return evolve::rename_table(connection, cache, &name, &qualified_name(new).name);
            }
            match alter.operations.as_slice() {
                [AlterTableOperation::AttachPartitionOf { partition, for_values }] => {
                    return partitions::attach(connection, cache, &name, &qualified_name(partition), for_values);
                }
                [AlterTableOperation::DetachPartitionOf { partition, mode: None }] => {
                    return partitions::detach(connection, cache, &name, &qualified_name(partition));
                }
                operations if operations.iter().any(|operation| matches!(operation, AlterTableOperation::AttachPartition { .. } | AlterTableOperation::AttachPartitionOf { .. } | AlterTableOperation::DetachPartition { .. } | AlterTableOperation::DetachPartitionOf { .. })) => {
                    return Err(Refusal::new(format!("`{}` is not supported", alter.operations.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")))
                        .hint("attach or detach one partition per `alter table` statement, without concurrently or finalize"));
                }
                _ => {}
            }
            let before = table.clone();
            let mut changes = ColumnChanges::default();
            for operation in &alter.operations {
                alter_table(cache, &mut table, operation, &mut changes)?;
            }
            if needs_rebuild(&before, &table) {
                if let Some(partition) = &table.partition_of {
                    return Err(Refusal::new(format!("cannot change the columns or constraints of the partition {name}"))
                        .hint(format!("alter its parent {}: the partitions follow", partition.parent)));
                }
                rebuild(connection, cache, &before, &table, &changes)?;
            }
            cache.tables.insert(name.clone(), table);
            partitions::refresh(connection, cache, &name)?;
            sequences::own_identities(connection, cache, &name)
        }
        Statement::CreateIndex(index) => {
            let table = qualified_name(&index.table_name);
            if cache.table(&table).is_none() {
                return Err(Refusal::new(format!("relation \"{table}\" does not exist")));
            }
            let table = partitions::physical(cache, &table);
            let mut columns = Vec::new();
            for column in &index.columns {
                let mut expr = column.column.expr.clone();
                columns.push(expression::translate_expr(&mut expr, &[])?);
            }
            let name = match &index.name {
                Some(name) => qualified_name(name).name,
                None => format!("{}_{}_idx", table.name, column_names(&index.columns).join("_")),
            };
            let predicate = match &index.predicate {
                Some(predicate) => format!(" WHERE {}", expression::translate_expr(&mut predicate.clone(), &[])?),
                None => String::new(),
            };
            connection.execute_batch(&format!(
                "CREATE {}INDEX {}{} ON {} ({}){}",
                if index.unique { "UNIQUE " } else { "" },
                if index.if_not_exists { "IF NOT EXISTS " } else { "" },
                quote_ident(&name),
                table_ident(&table),
                columns.join(", "),
                predicate
            ))?;
            if index.unique && index.predicate.is_none()
                && let Some(table) = cache.tables.get_mut(&table) {
                    table.unique_constraints.push(UniqueConstraint { name, columns: column_names(&index.columns) });
                }
            Ok(())
        }
        Statement::CreatePolicy(policy) => {
            let table_name = qualified_name(&policy.table_name);
            if cache.table(&table_name).is_none() {
                return Err(Refusal::new(format!("relation \"{table_name}\" does not exist")));
            }
            let expression_text = |expr: &Option<Expr>| -> Result<Option<String>, Refusal> {
                match expr {
                    Some(expr) => {
                        let text = expr.to_string();
                        let table = cache.table(&table_name).expect("checked above");
                        expression::translate_row_expr_text(&text, &ProjectFunctions(cache), table).map_err(|error| {
                            Refusal::new(format!("policy \"{}\" cannot be evaluated: {error}", policy.name.value))
                                .hint("policies may use auth.uid(), auth.jwt(), auth.role(), column comparisons, in, exists subqueries, boolean logic and the project's language sql functions")
                        })?;
                        Ok(Some(text))
                    }
                    None => Ok(None),
                }
            };
            let using = expression_text(&policy.using)?;
            let with_check = expression_text(&policy.with_check)?;
            let roles = policy
                .to
                .as_ref()
                .map(|owners| owners.iter().map(|owner| owner.to_string().trim_matches('"').to_owned()).collect())
                .unwrap_or_else(|| vec!["public".to_owned()]);
            let table = cache.tables.get_mut(&table_name).expect("checked above");
            table.policies.retain(|existing| existing.name != policy.name.value);
            table.policies.push(Policy {
                name: policy.name.value.clone(),
                permissive: !matches!(policy.policy_type, Some(CreatePolicyType::Restrictive)),
                command: match policy.command {
                    None | Some(CreatePolicyCommand::All) => PolicyCommand::All,
                    Some(CreatePolicyCommand::Select) => PolicyCommand::Select,
                    Some(CreatePolicyCommand::Insert) => PolicyCommand::Insert,
                    Some(CreatePolicyCommand::Update) => PolicyCommand::Update,
                    Some(CreatePolicyCommand::Delete) => PolicyCommand::Delete,
                },
                roles,
                using,
                with_check,
            });
            Ok(())
        }
        Statement::DropPolicy(drop) => {
            let table_name = qualified_name(&drop.table_name);
            match cache.tables.get_mut(&table_name) {
                Some(table) => {
                    let before = table.policies.len();
                    table.policies.retain(|policy| policy.name != drop.name.value);
                    if before == table.policies.len() && !drop.if_exists {
                        return Err(Refusal::new(format!("policy \"{}\" for table \"{table_name}\" does not exist", drop.name.value)));
                    }
                    Ok(())
                }
                None if drop.if_exists => Ok(()),
                None => Err(Refusal::new(format!("relation \"{table_name}\" does not exist"))),
            }
        }
        Statement::CreateView(view) => {
            if view.materialized {
                return Err(Refusal::new("materialized views are not supported").hint("use a plain view"));
            }
            let name = qualified_name(&view.name);
            let mut query = view.query.clone();
            let sql = expression::translate_with(&mut *query, &[], &expression::Typed(cache))?;
            let ident = table_ident(&name);
            if view.or_replace {
                connection.execute_batch(&format!("DROP VIEW IF EXISTS {ident}"))?;
            }
            connection.execute_batch(&format!("CREATE VIEW {ident} AS {sql}"))?;
            let columns = view_columns(connection, cache, &name, &view.query)?;
            let kind = TableKind::View {
                definition: view.query.to_string(),
                security_invoker: match &view.options {
                    sqlparser::ast::CreateTableOptions::With(options) => security_invoker(options)?.unwrap_or(false),
                    _ => false,
                },
            };
            cache.tables.insert(name.clone(), Table { columns, ..Table::new(name, kind) });
            Ok(())
        }
        Statement::AlterView(alter) => {
            let name = qualified_name(&alter.name);
            let Some(view) = cache.tables.get_mut(&name) else {
                return if alter.if_exists { Ok(()) } else { Err(Refusal::new(format!("relation \"{}\" does not exist", name.name))) };
            };
            match &alter.operation {
                sqlparser::ast::AlterViewOperation::SetOptions { options } => set_view_options(view, options),
                sqlparser::ast::AlterViewOperation::ResetOptions { options } => {
                    if options.iter().any(|option| ident_name(option) == "security_invoker")
                        && let TableKind::View { security_invoker, .. } = &mut view.kind
                    {
                        *security_invoker = false;
                    }
                    Ok(())
                }
                other => Err(Refusal::new(format!("`alter view … {other}` is not supported"))
                    .hint("drop the view and create it again")),
            }
        }
        Statement::CreateType { name, representation } => match representation {
            Some(UserDefinedTypeRepresentation::Enum { labels }) => {
                let labels = labels.iter().map(|label| label.value.clone()).collect();
                cache.enums.insert(qualified_name(&name), labels);
                Ok(())
            }
            _ => Err(Refusal::new("only enum types (`create type … as enum`) are supported")),
        },
        Statement::CreateFunction(function) => create_function(connection, cache, function, rows),
        Statement::CreateTrigger(trigger) => create_trigger(connection, cache, trigger),
        Statement::Comment { object_type, object_name, comment, .. } => {
            match object_type {
                sqlparser::ast::CommentObject::Table => {
                    if let Some(table) = cache.tables.get_mut(&qualified_name(&object_name)) {
                        table.comment = comment;
                    }
                }
                sqlparser::ast::CommentObject::Column => {
                    let mut parts = object_name.0.clone();
                    let column = parts.pop().map(|part| part.to_string().trim_matches('"').to_owned()).unwrap_or_default();
                    if let Some(table) = cache.tables.get_mut(&qualified_name(&ObjectName(parts)))
                        && let Some(found) = table.columns.iter_mut().find(|c| c.name == column) {
                            found.comment = comment;
                        }
                }
                _ => {}
            }
            Ok(())
        }
        Statement::Drop { object_type: ObjectType::Schema, names, .. } => {
            names.iter().try_for_each(|name| evolve::drop_schema(cache, &ident_name(&name.0.last().and_then(|part| part.as_ident()).cloned().unwrap_or_else(|| sqlparser::ast::Ident::new("")))))
        }
        Statement::Drop { object_type, if_exists, names, .. } => {
            for name in &names {
                let qualified = qualified_name(name);
                let (kind, known) = match object_type {
                    ObjectType::Table if cache.table(&qualified).is_some_and(|table| table.partition_of.is_some()) => {
                        partitions::drop(connection, cache, &qualified)?;
                        ("", true)
                    }
                    ObjectType::Table => {
                        partitions::drop_partitioned(connection, cache, &qualified)?;
                        sequences::drop_owned(connection, cache, &qualified)?;
                        ("TABLE", cache.tables.remove(&qualified).is_some())
                    }
                    ObjectType::View => ("VIEW", cache.tables.remove(&qualified).is_some()),
                    ObjectType::Index => ("INDEX", true),
                    ObjectType::Type => {
                        evolve::unused_type(cache, &qualified)?;
                        ("", cache.enums.remove(&qualified).is_some())
                    }
                    ObjectType::Sequence => ("", sequences::drop(connection, cache, &qualified)?),
                    _ => return Err(Refusal::new(format!("drop {object_type} is not supported"))),
                };
                if !known && !if_exists {
                    return Err(Refusal::new(format!("\"{qualified}\" does not exist")));
                }
                cache.realtime_tables.remove(&qualified);
                if !kind.is_empty() {
                    let target = if kind == "INDEX" { quote_ident(&qualified.name) } else { table_ident(&qualified) };
                    connection.execute_batch(&format!("DROP {kind} IF EXISTS {target}"))?;
                }
            }
            Ok(())
        }
        Statement::DropFunction(drop) => {
            for function in &drop.func_desc {
                drop_function(connection, cache, function, drop.if_exists)?;
            }
            Ok(())
        }
        Statement::DropTrigger(drop) => {
            let name = qualified_name(&drop.trigger_name).name;
            let tables: Vec<QualifiedName> = cache.triggers.iter().filter(|trigger| trigger.name == name).map(|trigger| trigger.table.clone()).collect();
            cache.triggers.retain(|trigger| trigger.name != name);
            connection.execute_batch(&format!("DROP TRIGGER IF EXISTS {}", quote_ident(&name)))?;
            for table in tables {
                crate::plpgsql::sync_triggers(connection, cache, &table).map_err(Refusal::new)?;
            }
            Ok(())
        }
        Statement::AlterType(alter) => evolve::alter_type(connection, cache, &alter),
        Statement::CreateRule(rule) => evolve::instead_nothing_rule(connection, cache, &rule),
        Statement::CreateSequence { if_not_exists, name, sequence_options, .. } => {
            sequences::create(connection, cache, qualified_name(&name), if_not_exists, &sequence_options)
        }
        Statement::Insert(mut insert) => {
            normalize_insert_values(cache, &mut insert)?;
            sequences::check_overriding(cache, &mut insert)?;
            let sql = expression::translate_with(&mut Statement::Insert(insert), &[], &expression::Typed(cache))?;
            connection.execute_batch(&sql)?;
            Ok(())
        }
        mut statement @ (Statement::Update(_) | Statement::Delete(_)) => {
            let sql = expression::translate_with(&mut statement, &[], &expression::Typed(cache))?;
            connection.execute_batch(&sql)?;
            Ok(())
        }
        mut statement @ Statement::Query(_) => {
            bare_select(connection, cache, &mut statement)
        }
        other => Err(Refusal::new(format!("`{}` is not supported", first_words(&other.to_string())))
            .hint("Solobase supports tables, indexes, enums, views, policies, sql functions, triggers, comments, grants and publications")),
    }
}

/// A bare `select …` in a migration runs for its effects (and its errors); its rows are dropped.
fn bare_select(connection: &Connection, cache: &SchemaCache, statement: &mut Statement) -> Outcome {
    let calls = crate::plpgsql::Calls {
        cache,
        catalog: true,
    };
    let sql = expression::translate_with(statement, &[], &calls)?;
    let mut prepared = connection.prepare(&sql)?;
    let mut rows = prepared.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

/// Accepts calls of the project's scalar `language sql` functions while validating a policy
/// (the row-level-security engine inlines them when it evaluates the policy).
struct ProjectFunctions<'a>(&'a SchemaCache);

impl expression::Resolver for ProjectFunctions<'_> {
    fn schema(&self) -> Option<&SchemaCache> {
        Some(self.0)
    }

    fn function(&self, name: &str, args: &[String]) -> Result<Option<String>, Unsupported> {
        if let Some(function) = crate::plpgsql::find(self.0, name, args.len()) {
            return Ok(Some(crate::plpgsql::call_sql(function, args)));
        }
        let last = name.rsplit('.').next().unwrap_or(name);
        let found = self.0.all_functions().find(|function| {
            function.name.name == last
                && function.language == FunctionLanguage::Sql
                && matches!(function.returns, FunctionReturn::Scalar(_))
                && function.arguments.len() == args.len()
        });
        Ok(found.map(|_| "NULL".to_owned()))
    }
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// `security_invoker` as the last of `options` sets it — bare, or a Postgres boolean (`true`,
/// `on`, `1`, `yes`, a unique prefix such as `t`) — or `None` when none names it.
fn security_invoker(options: &[sqlparser::ast::SqlOption]) -> Result<Option<bool>, Refusal> {
    let mut setting = None;
    for option in options {
        match option {
            sqlparser::ast::SqlOption::Ident(key)
                if key.to_string().eq_ignore_ascii_case("security_invoker") =>
            {
                setting = Some(true);
            }
            sqlparser::ast::SqlOption::KeyValue { key, value }
                if key.to_string().eq_ignore_ascii_case("security_invoker") =>
            {
                let text = value.to_string().trim_matches('\'').to_ascii_lowercase();
                setting = Some(pg_bool(&text).ok_or_else(|| {
                    Refusal::new(format!(
                        "invalid value for boolean option \"security_invoker\": {text}"
                    ))
                })?);
            }
            _ => {}
        }
    }
    Ok(setting)
}

/// Postgres's `parse_bool`: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, or a unique prefix.
fn pg_bool(text: &str) -> Option<bool> {
    let prefix_of = |word: &str, least: usize| text.len() >= least && word.starts_with(text);
    if prefix_of("true", 1) || prefix_of("yes", 1) || text == "on" || text == "1" {
        Some(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || text == "0" {
        Some(false)
    } else {
        None
    }
}

/// `alter view v set (…)`: `security_invoker` changes; other options only matter to Postgres.
fn set_view_options(table: &mut Table, options: &[sqlparser::ast::SqlOption]) -> Outcome {
    if let Some(setting) = security_invoker(options)?
        && let TableKind::View {
            security_invoker, ..
        } = &mut table.kind
    {
        *security_invoker = setting;
    }
    Ok(())
}

fn column_names(columns: &[sqlparser::ast::IndexColumn]) -> Vec<String> {
    columns
        .iter()
        .map(|column| match &column.column.expr {
            Expr::Identifier(ident) => ident_name(ident),
            other => other.to_string().trim_matches('"').to_owned(),
        })
        .collect()
}

fn ident_names(idents: &[sqlparser::ast::Ident]) -> Vec<String> {
    idents.iter().map(ident_name).collect()
}

/// The Postgres type of a column definition.
pub fn pg_type(cache: &SchemaCache, data_type: &DataType) -> Result<(PgType, bool), Refusal> {
    let text = data_type.to_string();
    if let Some(element) = text.strip_suffix("[]") {
        let (element, _) = named_type(cache, element.trim())?;
        return Ok((PgType::Array(Box::new(element)), false));
    }
    named_type(cache, &text)
}

/// A type by name; the flag says whether it is a serial (an identity column).
pub fn named_type(cache: &SchemaCache, original: &str) -> Result<(PgType, bool), Refusal> {
    let text = original.to_ascii_lowercase();
    let base = text
        .split('(')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"');
    let length = text.split('(').nth(1).and_then(|rest| {
        rest.trim_end_matches(')')
            .split(',')
            .next()?
            .trim()
            .parse()
            .ok()
    });
    if let Some(printed) = PrintedType::named(base) {
        return Ok((PgType::Printed(printed), false));
    }
    Ok(match base {
        "uuid" => (PgType::Uuid, false),
        "text" | "citext" => (PgType::Text, false),
        "varchar" | "character varying" => (PgType::Varchar(length), false),
        "char" | "character" | "bpchar" => (PgType::Char(length), false),
        "smallint" | "int2" => (PgType::SmallInt, false),
        "integer" | "int" | "int4" => (PgType::Integer, false),
        "bigint" | "int8" => (PgType::BigInt, false),
        "serial" | "serial4" => (PgType::Integer, true),
        "smallserial" | "serial2" => (PgType::SmallInt, true),
        "bigserial" | "serial8" => (PgType::BigInt, true),
        "boolean" | "bool" => (PgType::Boolean, false),
        "numeric" | "decimal" => match length {
            // `numeric(p)` is `numeric(p, 0)`; precision 1 to 1000 as Postgres allows.
            Some(precision @ 1..=1000) => {
                let scale = text
                    .split(',')
                    .nth(1)
                    .and_then(|scale| scale.trim().trim_end_matches(')').trim().parse().ok())
                    .unwrap_or(0);
                if scale > precision {
                    return Err(Refusal::new(format!(
                        "NUMERIC scale {scale} must be between 0 and precision {precision}"
                    )));
                }
                (PgType::Decimal { precision, scale }, false)
            }
            Some(precision) => {
                return Err(Refusal::new(format!(
                    "NUMERIC precision {precision} must be between 1 and 1000"
                )));
            }
            None => (PgType::Numeric, false),
        },
        "real" | "float4" => (PgType::Real, false),
        "double precision" | "float8" | "float" | "double" => (PgType::Double, false),
        "date" => (PgType::Date, false),
        "time" | "time without time zone" => (PgType::Time, false),
        "timestamp" | "timestamp without time zone" => (PgType::Timestamp, false),
        "timestamptz" | "timestamp with time zone" => (PgType::Timestamptz, false),
        "interval" => (PgType::Interval, false),
        "json" => (PgType::Json, false),
        "jsonb" => (PgType::Jsonb, false),
        "bytea" => (PgType::Bytea, false),
        "vector" | "extensions.vector" => (PgType::Printed(PrintedType::Vector(length)), false),
        "geometry" | "extensions.geometry" | "geography" | "extensions.geography" => {
            return super::postgis::column_type(cache, original)
                .map(|column| (PgType::Printed(PrintedType::Geometry(column)), false));
        }
        _ => {
            let other = original.trim();
            let name = match other.split_once('.') {
                Some((schema, name)) => {
                    QualifiedName::new(schema.trim_matches('"'), name.trim_matches('"'))
                }
                None => QualifiedName::public(other),
            };
            if cache.enums.contains_key(&name) {
                (PgType::Enum(name), false)
            } else {
                return Err(Refusal::new(format!("type \"{other}\" is not supported"))
                    .hint("use uuid, text, varchar, integer types, boolean, numeric, real, double precision, date/time types, json/jsonb, arrays or an enum created earlier"));
            }
        }
    })
}

fn default_name(table: &Table, columns: &[String], suffix: &str) -> String {
    format!("{}_{}_{suffix}", table.name.name, columns.join("_"))
}

fn add_column(cache: &SchemaCache, table: &mut Table, definition: &ColumnDef) -> Outcome {
    let name = ident_name(&definition.name);
    if table.column(&name).is_some() {
        return Err(Refusal::new(format!(
            "column \"{name}\" of relation \"{}\" already exists",
            table.name
        )));
    }
    let (pg_type, serial) = pg_type(cache, &definition.data_type)?;
    let checks_before = table.checks.len();
    let mut column = Column {
        name: name.clone(),
        pg_type,
        nullable: !serial,
        default: None,
        identity: serial,
        sequence: serial.then(|| crate::schema::ColumnSequence {
            serial: true,
            ..sequences::for_identity(&table.name, &name, None, None)
        }),
        comment: None,
    };
    for option in &definition.options {
        let constraint_name = option.name.as_ref().map(|ident| ident.value.clone());
        match &option.option {
            ColumnOption::Null => column.nullable = true,
            ColumnOption::NotNull => column.nullable = false,
            ColumnOption::Default(expr) => column.default = Some(expr.to_string()),
            ColumnOption::PrimaryKey(_) => {
                column.nullable = false;
                table.primary_key = vec![name.clone()];
            }
            ColumnOption::Unique(_) => {
                let constraint = constraint_name
                    .unwrap_or_else(|| default_name(table, std::slice::from_ref(&name), "key"));
                table.unique_constraints.push(UniqueConstraint {
                    name: constraint,
                    columns: vec![name.clone()],
                });
            }
            ColumnOption::ForeignKey(foreign) => {
                let foreign_key =
                    foreign_key(cache, table, constraint_name, vec![name.clone()], foreign)?;
                table.foreign_keys.push(foreign_key);
            }
            ColumnOption::Check(check) => {
                let expression = check.expr.to_string();
                table.checks.push(CheckConstraint {
                    name: constraint_name
                        .or_else(|| check.name.as_ref().map(|n| n.value.clone()))
                        .unwrap_or_else(|| {
                            default_name(table, std::slice::from_ref(&name), "check")
                        }),
                    expression,
                });
            }
            ColumnOption::Generated {
                generation_expr: None,
                generated_as,
                sequence_options,
                ..
            } => {
                column.identity = true;
                column.nullable = false;
                column.sequence = Some(sequences::for_identity(
                    &table.name,
                    &name,
                    Some(generated_as),
                    sequence_options.as_deref(),
                ));
            }
            ColumnOption::Generated { .. } => {
                return Err(Refusal::new(
                    "generated columns (`generated always as (…) stored`) are not supported",
                )
                .hint("compute the value in a view or in the app"));
            }
            ColumnOption::Collation(_) | ColumnOption::Comment(_) => {}
            other => {
                return Err(Refusal::new(format!(
                    "the column option `{other}` is not supported"
                )));
            }
        }
    }
    if let Some(default) = &column.default {
        translate_default(&column, default)?;
    }
    column.identity |= column
        .default
        .as_deref()
        .and_then(sequences::nextval_default)
        .is_some();
    table.columns.push(column);
    for check in &table.checks[checks_before..] {
        check_sql(table, &check.expression)?;
    }
    Ok(())
}

/// A check constraint's SQLite expression, its bare names reading `table`'s row.
fn check_sql(table: &Table, expression: &str) -> Result<String, Unsupported> {
    expression::translate_row_expr_text(expression, &expression::Plain, table)
}

fn referenced_columns(
    table: Option<&Table>,
    referenced: &QualifiedName,
    columns: &[sqlparser::ast::Ident],
) -> Result<Vec<String>, Refusal> {
    let Some(table) = table else {
        return Err(Refusal::new(format!(
            "relation \"{referenced}\" does not exist"
        )));
    };
    if columns.is_empty() {
        if table.primary_key.is_empty() {
            return Err(Refusal::new(format!(
                "there is no primary key for referenced table \"{referenced}\""
            )));
        }
        return Ok(table.primary_key.clone());
    }
    Ok(ident_names(columns))
}

/// A foreign key of `table` on `columns`, named as Postgres would when `name` is not given.
fn foreign_key(
    cache: &SchemaCache,
    table: &Table,
    name: Option<String>,
    columns: Vec<String>,
    foreign: &sqlparser::ast::ForeignKeyConstraint,
) -> Result<ForeignKey, Refusal> {
    let referenced_table = qualified_name(&foreign.foreign_table);
    // A table may reference itself (a parent row, a manager) while it is being created.
    let referenced = if referenced_table == table.name {
        Some(table)
    } else {
        cache.table(&referenced_table)
    };
    let referenced_columns =
        referenced_columns(referenced, &referenced_table, &foreign.referred_columns)?;
    Ok(ForeignKey {
        name: name.unwrap_or_else(|| default_name(table, &columns, "fkey")),
        columns,
        referenced_table,
        referenced_columns,
        on_delete: referential_action(foreign.on_delete),
        on_update: referential_action(foreign.on_update),
    })
}

fn referential_action(action: Option<SqlAction>) -> ReferentialAction {
    match action {
        Some(SqlAction::Cascade) => ReferentialAction::Cascade,
        Some(SqlAction::SetNull) => ReferentialAction::SetNull,
        Some(SqlAction::SetDefault) => ReferentialAction::SetDefault,
        Some(SqlAction::Restrict) => ReferentialAction::Restrict,
        Some(SqlAction::NoAction) | None => ReferentialAction::NoAction,
    }
}

fn add_constraint(cache: &SchemaCache, table: &mut Table, constraint: &TableConstraint) -> Outcome {
    match constraint {
        TableConstraint::PrimaryKey(primary) => {
            table.primary_key = column_names(&primary.columns);
            for column in &mut table.columns {
                if table.primary_key.contains(&column.name) {
                    column.nullable = false;
                }
            }
        }
        TableConstraint::Unique(unique) => {
            let columns = column_names(&unique.columns);
            let name = unique
                .name
                .as_ref()
                .map(|n| n.value.clone())
                .unwrap_or_else(|| default_name(table, &columns, "key"));
            table
                .unique_constraints
                .push(UniqueConstraint { name, columns });
        }
        TableConstraint::ForeignKey(foreign) => {
            let name = foreign.name.as_ref().map(|name| name.value.clone());
            let foreign_key =
                foreign_key(cache, table, name, ident_names(&foreign.columns), foreign)?;
            table.foreign_keys.push(foreign_key);
        }
        TableConstraint::Check(check) => {
            let expression = check.expr.to_string();
            check_sql(table, &expression)?;
            let name = check
                .name
                .as_ref()
                .map(|n| n.value.clone())
                .unwrap_or_else(|| format!("{}_check", table.name.name));
            table.checks.push(CheckConstraint { name, expression });
        }
        TableConstraint::PrimaryKeyUsingIndex(using) => {
            table.primary_key = promote_index(table, using)?;
            for column in &mut table.columns {
                if table.primary_key.contains(&column.name) {
                    column.nullable = false;
                }
            }
        }
        TableConstraint::UniqueUsingIndex(using) => {
            let columns = promote_index(table, using)?;
            let name = using
                .name
                .as_ref()
                .unwrap_or(&using.index_name)
                .value
                .clone();
            table
                .unique_constraints
                .push(UniqueConstraint { name, columns });
        }
        other => {
            return Err(Refusal::new(format!(
                "the constraint `{other}` is not supported"
            )));
        }
    }
    for column in constraint_columns(table) {
        if table.column(&column).is_none() {
            return Err(Refusal::new(format!(
                "column \"{column}\" named in a constraint does not exist"
            )));
        }
    }
    Ok(())
}

/// `add constraint … {primary key|unique} using index i` (pg_dump, `db diff`): the unique index
/// `i` becomes the constraint; its columns are returned and its own entry removed.
fn promote_index(
    table: &mut Table,
    using: &sqlparser::ast::ConstraintUsingIndex,
) -> Result<Vec<String>, Refusal> {
    let index = &using.index_name.value;
    let position = table
        .unique_constraints
        .iter()
        .position(|unique| unique.name == *index)
        .ok_or_else(|| {
            Refusal::new(format!(
                "index \"{index}\" is not a unique index of \"{}\" on plain columns",
                table.name
            ))
            .hint("create it first with `create unique index … on table (columns)`")
        })?;
    Ok(table.unique_constraints.remove(position).columns)
}

fn constraint_columns(table: &Table) -> Vec<String> {
    let mut columns = table.primary_key.clone();
    columns.extend(
        table
            .unique_constraints
            .iter()
            .flat_map(|unique| unique.columns.clone()),
    );
    columns.extend(
        table
            .foreign_keys
            .iter()
            .flat_map(|foreign| foreign.columns.clone()),
    );
    columns
}

fn alter_table(
    cache: &SchemaCache,
    table: &mut Table,
    operation: &AlterTableOperation,
    changes: &mut ColumnChanges,
) -> Outcome {
    match operation {
        AlterTableOperation::AddColumn {
            if_not_exists,
            column_def,
            ..
        } => {
            if *if_not_exists && table.column(&column_def.name.value).is_some() {
                return Ok(());
            }
            add_column(cache, table, column_def)
        }
        AlterTableOperation::AddConstraint { constraint, .. } => {
            add_constraint(cache, table, constraint)
        }
        AlterTableOperation::EnableRowLevelSecurity
        | AlterTableOperation::ForceRowLevelSecurity => {
            table.rls_enabled = true;
            Ok(())
        }
        AlterTableOperation::DisableRowLevelSecurity => {
            table.rls_enabled = false;
            Ok(())
        }
        // `not valid` constraints are enforced on the existing rows as well (the table is
        // rebuilt), so validating one later has nothing left to check.
        AlterTableOperation::ValidateConstraint { name } => {
            let known = table.foreign_keys.iter().any(|c| c.name == name.value)
                || table.checks.iter().any(|c| c.name == name.value);
            if known {
                Ok(())
            } else {
                Err(Refusal::new(format!(
                    "constraint \"{}\" of relation \"{}\" does not exist",
                    name.value, table.name
                )))
            }
        }
        AlterTableOperation::RenameConstraint { old_name, new_name } => {
            let (old, new) = (ident_name(old_name), ident_name(new_name));
            let mut found =
                old == format!("{}_pkey", table.name.name) && !table.primary_key.is_empty();
            for name in table
                .unique_constraints
                .iter_mut()
                .map(|c| &mut c.name)
                .chain(table.foreign_keys.iter_mut().map(|c| &mut c.name))
                .chain(table.checks.iter_mut().map(|c| &mut c.name))
            {
                if *name == old {
                    *name = new.clone();
                    found = true;
                }
            }
            if found {
                Ok(())
            } else {
                Err(Refusal::new(format!(
                    "constraint \"{old}\" for table \"{}\" does not exist",
                    table.name
                )))
            }
        }
        // `alter table v set (security_invoker = …)` works on a view as `alter view` does.
        AlterTableOperation::SetOptionsParens { options } => set_view_options(table, options),
        // Triggers are always enabled here; storage parameters only matter to Postgres.
        AlterTableOperation::EnableTrigger { .. }
        | AlterTableOperation::EnableAlwaysTrigger { .. } => Ok(()),
        AlterTableOperation::DisableTrigger { .. } => {
            Err(Refusal::new("disabling triggers is not supported")
                .hint("drop the trigger, or make its function return early when it should not act"))
        }
        AlterTableOperation::NoForceRowLevelSecurity
        | AlterTableOperation::ReplicaIdentity { .. }
        | AlterTableOperation::OwnerTo { .. } => Ok(()),
        AlterTableOperation::DropConstraint {
            name, if_exists, ..
        } => {
            let before =
                table.unique_constraints.len() + table.foreign_keys.len() + table.checks.len();
            table.unique_constraints.retain(|c| c.name != name.value);
            table.foreign_keys.retain(|c| c.name != name.value);
            table.checks.retain(|c| c.name != name.value);
            if name.value == format!("{}_pkey", table.name.name) && !table.primary_key.is_empty() {
                table.primary_key.clear();
                return Ok(());
            }
            if before
                == table.unique_constraints.len() + table.foreign_keys.len() + table.checks.len()
                && !if_exists
            {
                return Err(Refusal::new(format!(
                    "constraint \"{}\" of relation \"{}\" does not exist",
                    name.value, table.name
                )));
            }
            Ok(())
        }
        AlterTableOperation::DropColumn {
            column_names,
            if_exists,
            ..
        } => {
            for name in column_names {
                if table.column(&name.value).is_none() && !if_exists {
                    return Err(Refusal::new(format!(
                        "column \"{}\" of relation \"{}\" does not exist",
                        name.value, table.name
                    )));
                }
                table.columns.retain(|column| column.name != name.value);
            }
            Ok(())
        }
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => {
            let column = table
                .columns
                .iter_mut()
                .find(|column| column.name == ident_name(old_column_name))
                .ok_or_else(|| {
                    Refusal::new(format!(
                        "column \"{}\" does not exist",
                        old_column_name.value
                    ))
                })?;
            column.name = ident_name(new_column_name);
            changes
                .renames
                .push((ident_name(old_column_name), ident_name(new_column_name)));
            Ok(())
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            let table_name = table.name.clone();
            let column = table
                .columns
                .iter_mut()
                .find(|column| column.name == column_name.value)
                .ok_or_else(|| {
                    Refusal::new(format!("column \"{}\" does not exist", column_name.value))
                })?;
            match op {
                AlterColumnOperation::SetNotNull => column.nullable = false,
                AlterColumnOperation::DropNotNull => column.nullable = true,
                AlterColumnOperation::SetDefault { value } => {
                    column.default = Some(value.to_string());
                    translate_default(column, &value.to_string())?;
                    column.identity |= sequences::nextval_default(&value.to_string()).is_some();
                }
                AlterColumnOperation::SetDataType {
                    data_type, using, ..
                } => {
                    let new_type = pg_type(cache, data_type)?.0;
                    if using.is_none() && !evolve::assignment_cast(&column.pg_type, &new_type) {
                        return Err(Refusal::new(format!(
                            "column \"{}\" cannot be cast automatically to type {}",
                            column.name,
                            new_type.pg_name()
                        ))
                        .hint(format!(
                            "You might need to specify \"USING {}::{}\".",
                            column.name,
                            new_type.pg_name()
                        )));
                    }
                    column.pg_type = new_type;
                    changes
                        .conversions
                        .push((column.name.clone(), using.clone()));
                }
                AlterColumnOperation::AddGenerated {
                    generated_as,
                    sequence_options,
                } => {
                    column.identity = true;
                    column.nullable = false;
                    column.sequence = Some(sequences::for_identity(
                        &table_name,
                        &column.name,
                        generated_as.as_ref(),
                        sequence_options.as_deref(),
                    ));
                }
                AlterColumnOperation::DropDefault => column.default = None,
                other => {
                    return Err(Refusal::new(format!(
                        "alter column … {other} is not supported"
                    )));
                }
            }
            Ok(())
        }
        other => Err(Refusal::new(format!(
            "alter table … {other} is not supported"
        ))),
    }
}

/// Whether the SQLite table must be rebuilt (anything but RLS flags and policies changed).
fn needs_rebuild(before: &Table, after: &Table) -> bool {
    let shape = |table: &Table| {
        serde_json::to_string(&(
            &table.columns,
            &table.primary_key,
            &table.unique_constraints,
            &table.foreign_keys,
            &table.checks,
        ))
        .unwrap_or_default()
    };
    shape(before) != shape(after)
}

/// SQLite's table rebuild: create the new shape, copy the rows, swap, restore indexes and triggers.
pub(super) fn rebuild(
    connection: &Connection,
    cache: &SchemaCache,
    before: &Table,
    after: &Table,
    changes: &ColumnChanges,
) -> Outcome {
    let name = table_name(&after.name);
    evolve::rename_columns(connection, &name, &changes.renames)?;
    let temporary = format!("{name}__solobase_rebuild");
    let mut statement = connection.prepare("SELECT sql FROM sqlite_master WHERE tbl_name = ?1 AND type IN ('index', 'trigger') AND sql IS NOT NULL")?;
    let dependents: Vec<String> = statement
        .query_map([&name], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    connection.execute_batch(&create_table_sql(cache, after, &quote_ident(&temporary))?)?;
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    for column in &before.columns {
        let renamed = changes.renamed(&column.name);
        if let Some(target) = after.column(renamed) {
            targets.push(quote_ident(renamed));
            sources.push(evolve::source(column, target, changes)?);
        }
    }
    connection.execute_batch(&format!(
        "INSERT INTO {} ({}) SELECT {} FROM {};",
        quote_ident(&temporary),
        targets.join(", "),
        sources.join(", "),
        quote_ident(&name),
    ))?;
    evolve::convert_rows(connection, cache, &temporary, after, changes)?;
    connection.execute_batch(&format!(
        "DROP TABLE {}; ALTER TABLE {} RENAME TO {};",
        quote_ident(&name),
        quote_ident(&temporary),
        quote_ident(&name)
    ))?;
    for sql in dependents {
        connection.execute_batch(&sql)?;
    }
    Ok(())
}

/// The SQLite affinity a Postgres type is stored with (see the storage contract in ARCHITECTURE.md).
pub fn affinity(pg_type: &PgType) -> &'static str {
    match pg_type {
        PgType::SmallInt | PgType::Integer | PgType::BigInt | PgType::Boolean => "INTEGER",
        PgType::Numeric | PgType::Decimal { .. } => "NUMERIC",
        PgType::Real | PgType::Double => "REAL",
        PgType::Bytea => "BLOB",
        _ => "TEXT",
    }
}

/// The SQLite default of a column.
fn translate_default(column: &Column, default: &str) -> Result<Option<String>, Refusal> {
    let literal = default
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''));
    match (&column.pg_type, literal) {
        (PgType::Array(_), Some(text)) => values::array_literal_to_json(text)
            .map(|json| quote_literal(&json))
            .ok_or_else(|| Refusal::new(format!("malformed array literal {default}"))),
        (PgType::Timestamptz, Some(text)) => values::normalize_timestamptz(text)
            .map(|canonical| quote_literal(&canonical))
            .ok_or_else(|| Refusal::new(format!("invalid timestamptz {default}"))),
        (PgType::Printed(printed), Some(text)) => super::printed::normalize(*printed, text)
            .map(|canonical| quote_literal(&canonical))
            .map_err(|error| Refusal::new(error.message)),
        // Rounded (or refused) when a row takes it, as Postgres casts a default on insert.
        (PgType::Decimal { precision, scale }, _) => Ok(translate_expr_text(&format!(
            "({default})::numeric({precision}, {scale})"
        ))?),
        _ => Ok(super::temporal::assign(
            &column.pg_type,
            translate_expr_text(default)?,
        )),
    }
    .map(Some)
}

/// `CREATE TABLE` for the model, with every constraint Postgres would enforce.
pub(super) fn create_table_sql(
    cache: &SchemaCache,
    table: &Table,
    ident: &str,
) -> Result<String, Refusal> {
    let mut lines = Vec::new();
    for column in &table.columns {
        let quoted = quote_ident(&column.name);
        let default = match (&column.default, &column.sequence) {
            (Some(default), _) => translate_default(column, default)?,
            (None, Some(sequence)) => Some(format!(
                "nextval({})",
                quote_literal(&format!(
                    "{}.{}",
                    quote_ident(&sequence.name.schema),
                    quote_ident(&sequence.name.name)
                ))
            )),
            (None, None) => None,
        };
        // A lone INTEGER primary key is SQLite's rowid, which ignores the column's default
        // (an identity's `nextval`): spelled INT, it keeps the same affinity without that.
        let affinity = match affinity(&column.pg_type) {
            "INTEGER" if table.primary_key == [column.name.clone()] && !table.key_is_rowid() => {
                "INT"
            }
            other => other,
        };
        let mut line = format!("{quoted} {affinity}");
        if !column.nullable {
            line.push_str(" NOT NULL");
        }
        if let Some(translated) = default {
            line.push_str(&format!(" DEFAULT ({translated})"));
        }
        match &column.pg_type {
            PgType::Json | PgType::Jsonb => {
                line.push_str(&format!(" CHECK (json_valid({quoted}))"))
            }
            PgType::Array(_) => line.push_str(&format!(
                " CHECK (json_valid({quoted}) AND json_type({quoted}) = 'array')"
            )),
            PgType::Enum(name) => {
                let labels = cache
                    .enums
                    .get(name)
                    .map(|labels| {
                        labels
                            .iter()
                            .map(|label| quote_literal(label))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                line.push_str(&format!(" CHECK ({quoted} IN ({labels}))"));
            }
            PgType::Uuid => line.push_str(&format!(" CHECK (length({quoted}) = 36)")),
            _ => {}
        }
        lines.push(line);
    }
    let quote_all = |columns: &[String]| {
        columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !table.primary_key.is_empty() {
        lines.push(format!(
            "CONSTRAINT {} PRIMARY KEY ({})",
            quote_ident(&format!("{}_pkey", table.name.name)),
            quote_all(&table.primary_key)
        ));
    }
    for unique in &table.unique_constraints {
        lines.push(format!(
            "CONSTRAINT {} UNIQUE ({})",
            quote_ident(&unique.name),
            quote_all(&unique.columns)
        ));
    }
    for check in &table.checks {
        lines.push(format!(
            "CONSTRAINT {} CHECK ({})",
            quote_ident(&check.name),
            check_sql(table, &check.expression)?
        ));
    }
    for foreign in &table.foreign_keys {
        let action = |action: ReferentialAction| match action {
            ReferentialAction::NoAction => "NO ACTION",
            ReferentialAction::Restrict => "RESTRICT",
            ReferentialAction::Cascade => "CASCADE",
            ReferentialAction::SetNull => "SET NULL",
            ReferentialAction::SetDefault => "SET DEFAULT",
        };
        lines.push(format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
            quote_ident(&foreign.name),
            quote_all(&foreign.columns),
            table_ident(&foreign.referenced_table),
            quote_all(&foreign.referenced_columns),
            action(foreign.on_delete),
            action(foreign.on_update)
        ));
    }
    Ok(format!(
        "CREATE TABLE {ident} (\n  {}\n)",
        lines.join(",\n  ")
    ))
}

/// A view's columns: names from SQLite, types from the base-table column of the same name.
fn view_columns(
    connection: &Connection,
    cache: &SchemaCache,
    name: &QualifiedName,
    query: &sqlparser::ast::Query,
) -> Result<Vec<Column>, Refusal> {
    let mut statement = connection.prepare(&format!(
        "SELECT name FROM pragma_table_info({})",
        quote_literal(&table_name(name))
    ))?;
    let names: Vec<String> = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut relations = Vec::new();
    let _ = sqlparser::ast::visit_relations(query, |relation| {
        relations.push(qualified_name(relation));
        std::ops::ControlFlow::<()>::Continue(())
    });
    // Types come from the select list where it names them; `*` keeps the base columns' types.
    let projected: Vec<Option<PgType>> = match query.body.as_ref() {
        SetExpr::Select(select)
            if !select.projection.iter().any(|item| {
                matches!(
                    item,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            }) =>
        {
            select
                .projection
                .iter()
                .map(|item| match item {
                    SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                        expression_type(cache, &relations, expr)
                    }
                    _ => None,
                })
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(index, column_name)| {
            let base = relations
                .iter()
                .filter_map(|relation| cache.table(relation)?.column(&column_name))
                .next()
                .map(|column| column.pg_type.clone());
            let pg_type = match projected.get(index) {
                Some(found) => found.clone().unwrap_or(PgType::Text),
                None => base.unwrap_or(PgType::Text),
            };
            Column::new(column_name, pg_type)
        })
        .collect())
}

/// The Postgres type of a view's select-list expression, where it can be told.
fn expression_type(
    cache: &SchemaCache,
    relations: &[QualifiedName],
    expr: &Expr,
) -> Option<PgType> {
    match expr {
        Expr::Identifier(ident) => relations.iter().find_map(|relation| {
            Some(
                cache
                    .table(relation)?
                    .column(&ident_name(ident))?
                    .pg_type
                    .clone(),
            )
        }),
        Expr::CompoundIdentifier(parts) => {
            let column = &parts.last()?.value;
            relations
                .iter()
                .find_map(|relation| Some(cache.table(relation)?.column(column)?.pg_type.clone()))
        }
        Expr::Cast { data_type, .. } => pg_type(cache, data_type).ok().map(|(pg_type, _)| pg_type),
        Expr::Nested(inner) => expression_type(cache, relations, inner),
        Expr::Function(function) => match function.name.to_string().to_ascii_lowercase().as_str() {
            "count" => Some(PgType::BigInt),
            "bool_or" | "bool_and" | "every" => Some(PgType::Boolean),
            "array_agg" => match &function.args {
                sqlparser::ast::FunctionArguments::List(list) => match list.args.first() {
                    Some(sqlparser::ast::FunctionArg::Unnamed(
                        sqlparser::ast::FunctionArgExpr::Expr(inner),
                    )) => expression_type(cache, relations, inner)
                        .map(|element| PgType::Array(Box::new(element))),
                    _ => None,
                },
                _ => None,
            },
            "sum" | "avg" => Some(PgType::Numeric),
            "min" | "max" | "coalesce" => match &function.args {
                sqlparser::ast::FunctionArguments::List(list) => {
                    list.args.iter().find_map(|arg| match arg {
                        sqlparser::ast::FunctionArg::Unnamed(
                            sqlparser::ast::FunctionArgExpr::Expr(inner),
                        ) => expression_type(cache, relations, inner),
                        _ => None,
                    })
                }
                _ => None,
            },
            "now" => Some(PgType::Timestamptz),
            _ => Some(PgType::Text),
        },
        Expr::BinaryOp { op, left, .. } => match op {
            sqlparser::ast::BinaryOperator::Plus
            | sqlparser::ast::BinaryOperator::Minus
            | sqlparser::ast::BinaryOperator::Multiply
            | sqlparser::ast::BinaryOperator::Divide => expression_type(cache, relations, left),
            sqlparser::ast::BinaryOperator::StringConcat => Some(PgType::Text),
            _ => Some(PgType::Boolean),
        },
        Expr::Value(ValueWithSpan {
            value: Value::Number(..),
            ..
        }) => Some(PgType::Integer),
        Expr::Value(ValueWithSpan {
            value: Value::Boolean(_),
            ..
        }) => Some(PgType::Boolean),
        _ => None,
    }
}

/// `drop function name(types)` drops that overload; a bare name drops its only one.
fn drop_function(
    connection: &Connection,
    cache: &mut SchemaCache,
    function: &sqlparser::ast::FunctionDesc,
    if_exists: bool,
) -> Outcome {
    let name = qualified_name(&function.name);
    let types = function
        .args
        .as_ref()
        .map(|args| {
            args.iter()
                .filter(|arg| !matches!(arg.mode, Some(sqlparser::ast::ArgMode::Out)))
                .map(|arg| {
                    let (pg_type, row) = argument_type(cache, &arg.data_type)?;
                    Ok(FunctionArgument {
                        name: String::new(),
                        pg_type,
                        default: None,
                        row,
                        declared_type: None,
                        variadic: false,
                    }
                    .typname())
                })
                .collect::<Result<Vec<String>, Refusal>>()
        })
        .transpose()?;
    let overloads = cache.overloads(&name);
    let position = match &types {
        Some(types) => overloads.iter().position(|overload| {
            overload.arguments.len() == types.len()
                && overload
                    .arguments
                    .iter()
                    .zip(types)
                    .all(|(argument, typname)| argument.pg_type.typname() == *typname)
        }),
        None if overloads.len() > 1 => {
            return Err(Refusal::new(format!("function name \"{name}\" is not unique"))
                .hint("name the argument types of the overload to drop: drop function name(int, text)"));
        }
        None => (!overloads.is_empty()).then_some(0),
    };
    let Some(position) = position else {
        if if_exists || crate::storage::functions::is_builtin(&name) {
            return Ok(());
        }
        let arguments = types.map(|types| types.join(", ")).unwrap_or_default();
        return Err(Refusal::new(format!(
            "function {name}({arguments}) does not exist"
        )));
    };
    let overloads = cache
        .functions
        .get_mut(&name)
        .expect("the overload was found");
    let dropped = overloads.remove(position);
    if overloads.is_empty() {
        cache.functions.remove(&name);
    }
    crate::plpgsql::drop_function(connection, &dropped)?;
    Ok(())
}

fn create_function(
    connection: &Connection,
    cache: &mut SchemaCache,
    function: sqlparser::ast::CreateFunction,
    rows: Option<u64>,
) -> Outcome {
    let name = qualified_name(&function.name);
    if crate::storage::functions::is_builtin(&name) {
        // Supabase's own helper, as `supabase db pull` dumps it: Solobase provides it built in.
        return Ok(());
    }
    let language = match function
        .language
        .as_ref()
        .map(|ident| ident.value.to_ascii_lowercase())
        .as_deref()
    {
        Some("sql") => FunctionLanguage::Sql,
        Some("plpgsql") => FunctionLanguage::Plpgsql,
        other => {
            return Err(Refusal::new(format!(
                "functions in language {} are not supported",
                other.unwrap_or("(none)")
            ))
            .hint("write the function in language sql"));
        }
    };
    let mut arguments = Vec::new();
    // OUT and INOUT parameters: the columns of the row the function returns.
    let mut outputs = Vec::new();
    for (position, argument) in function.args.iter().flatten().enumerate() {
        let (pg_type, row) = argument_type(cache, &argument.data_type)?;
        let argument_name = argument
            .name
            .as_ref()
            .map(ident_name)
            .unwrap_or_else(|| format!("${}", position + 1));
        if matches!(
            argument.mode,
            Some(sqlparser::ast::ArgMode::Out | sqlparser::ast::ArgMode::InOut)
        ) {
            outputs.push((argument_name.clone(), pg_type.clone()));
        }
        if !matches!(argument.mode, Some(sqlparser::ast::ArgMode::Out)) {
            arguments.push(FunctionArgument {
                name: argument_name,
                pg_type,
                default: argument.default_expr.as_ref().map(ToString::to_string),
                row,
                declared_type: None,
                variadic: false,
            });
        }
    }
    let set_returning = matches!(function.return_type, Some(FunctionReturnType::SetOf(_)));
    let mut returns = match &function.return_type {
        None => FunctionReturn::Void,
        Some(FunctionReturnType::DataType(data_type))
        | Some(FunctionReturnType::SetOf(data_type)) => {
            let set = matches!(function.return_type, Some(FunctionReturnType::SetOf(_)));
            let text = data_type.to_string().to_ascii_lowercase();
            match (text.as_str(), data_type) {
                ("record", _) if !outputs.is_empty() => {
                    let columns = std::mem::take(&mut outputs);
                    if set {
                        FunctionReturn::Table(columns)
                    } else {
                        FunctionReturn::Record(columns)
                    }
                }
                ("record", _) => {
                    return Err(Refusal::new(format!(
                        "function {name}(): a record without OUT parameters is not supported"
                    ))
                    .hint("declare the columns with OUT parameters or `returns table (…)`"));
                }
                ("void", _) => FunctionReturn::Void,
                ("trigger", _) => FunctionReturn::Trigger,
                (_, DataType::Table(Some(columns))) => FunctionReturn::Table(
                    columns
                        .iter()
                        .map(|column| {
                            Ok((
                                ident_name(&column.name),
                                signature_type(pg_type(cache, &column.data_type)?.0),
                            ))
                        })
                        .collect::<Result<_, Refusal>>()?,
                ),
                _ => match pg_type(cache, data_type) {
                    Ok((pg_type, _)) if !set => FunctionReturn::Scalar(signature_type(pg_type)),
                    Ok((pg_type, _)) => FunctionReturn::SetOf(signature_type(pg_type)),
                    _ => {
                        let table = match data_type {
                            DataType::Custom(object, _) => qualified_name(object),
                            _ => QualifiedName::public(text.clone()),
                        };
                        if cache.table(&table).is_none() {
                            return Err(Refusal::new(format!(
                                "return type {text} is not supported"
                            )));
                        }
                        FunctionReturn::Rows { table, set }
                    }
                },
            }
        }
    };
    if !outputs.is_empty() {
        // Postgres allows OUT parameters only with the row type they describe.
        let columns = std::mem::take(&mut outputs);
        returns = match returns {
            FunctionReturn::Void | FunctionReturn::Scalar(_) if !set_returning => {
                FunctionReturn::Record(columns)
            }
            _ => {
                return Err(Refusal::new(format!(
                    "function {name}(): the return type must be record with OUT parameters"
                ))
                .hint("write `returns record` or `returns setof record`"));
            }
        };
    }
    let body = match &function.function_body {
        Some(CreateFunctionBody::AsBeforeOptions { body, .. })
        | Some(CreateFunctionBody::AsAfterOptions(body)) => string_value(body),
        _ => None,
    }
    .ok_or_else(|| Refusal::new("the function body must be a quoted string (as $$ … $$)"))?;
    let sqlite_body = match language {
        FunctionLanguage::Sql => Some(translate_sql_body(cache, &body, &arguments)?),
        FunctionLanguage::Plpgsql => None,
    };
    let volatility = match function.behavior {
        Some(FunctionBehavior::Immutable) => Volatility::Immutable,
        Some(FunctionBehavior::Stable) => Volatility::Stable,
        _ => Volatility::Volatile,
    };
    let mut created = Function {
        name: name.clone(),
        arguments,
        returns,
        language,
        volatility,
        security_definer: matches!(function.security, Some(FunctionSecurity::Definer)),
        body,
        sqlite_body,
        program: None,
        invoked: Default::default(),
        rows,
    };
    if language == FunctionLanguage::Plpgsql {
        let program = crate::plpgsql::compile_function(cache, &created).map_err(|reason| {
            Refusal::new(format!("function {name}(): {reason}"))
                .hint("Solobase runs plpgsql without dynamic SQL (EXECUTE), cursors or the Postgres catalogs; rewrite this part")
        })?;
        created.program = Some(program);
        if !matches!(created.returns, FunctionReturn::Trigger) {
            created.sqlite_body = Some(crate::plpgsql::rpc_body(cache, &created));
        }
    }
    if !function.or_replace
        && cache
            .overloads(&name)
            .iter()
            .any(|known| known.same_arguments(&created))
    {
        return Err(Refusal::new(format!(
            "function \"{}\" already exists with same argument types",
            created.signature()
        ))
        .hint("use `create or replace function` to replace it"));
    }
    crate::plpgsql::store_function(connection, &created)?;
    cache.put_function(created);
    // Triggers run the function as now defined.
    let tables: Vec<QualifiedName> = cache
        .triggers
        .iter()
        .filter(|trigger| trigger.function == name)
        .map(|trigger| trigger.table.clone())
        .collect();
    for table in tables {
        crate::plpgsql::sync_triggers(connection, cache, &table).map_err(Refusal::new)?;
    }
    Ok(())
}

fn create_trigger(
    connection: &Connection,
    cache: &mut SchemaCache,
    trigger: sqlparser::ast::CreateTrigger,
) -> Outcome {
    let table = qualified_name(&trigger.table_name);
    if cache.table(&table).is_none() {
        return Err(Refusal::new(format!("relation \"{table}\" does not exist")));
    }
    let exec = trigger
        .exec_body
        .as_ref()
        .ok_or_else(|| Refusal::new("a trigger must execute a function"))?;
    let function_name = qualified_name(&exec.func_desc.name);
    let args: Vec<String> = exec
        .func_desc
        .args
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|arg| {
            arg.to_string()
                .trim_matches(|c| c == '\'' || c == '"')
                .to_owned()
        })
        .collect();
    let timing = match trigger.period {
        Some(TriggerPeriod::After) => "AFTER",
        Some(TriggerPeriod::Before) => "BEFORE",
        _ => {
            return Err(Refusal::new("only before/after triggers are supported")
                .hint("INSTEAD OF triggers need views SQLite cannot write through"));
        }
    };
    if trigger.trigger_object.as_ref().is_some_and(|object| {
        object
            .to_string()
            .to_ascii_uppercase()
            .contains("STATEMENT")
    }) {
        return Err(Refusal::new(
            "statement-level triggers (FOR EACH STATEMENT) are not supported",
        )
        .hint("use FOR EACH ROW"));
    }
    let name = qualified_name(&trigger.name).name;
    let mut events = Vec::new();
    for event in &trigger.events {
        events.push(match event {
            TriggerEvent::Insert => "INSERT",
            TriggerEvent::Update(columns) if columns.is_empty() => "UPDATE",
            TriggerEvent::Update(_) => {
                return Err(Refusal::new("UPDATE OF column triggers are not supported")
                    .hint("test the columns in the trigger function or a WHEN condition"));
            }
            TriggerEvent::Delete => "DELETE",
            _ => {
                return Err(Refusal::new(
                    "only insert, update and delete triggers are supported",
                ));
            }
        });
    }
    if function_name.name == "moddatetime" {
        let column = args
            .first()
            .ok_or_else(|| Refusal::new("moddatetime needs a column name"))?;
        for event in &events {
            let sqlite_name = if events.len() > 1 {
                format!("{name}_{}", event.to_ascii_lowercase())
            } else {
                name.clone()
            };
            connection.execute_batch(&format!(
                "CREATE TRIGGER {} AFTER {event} ON {} FOR EACH ROW BEGIN UPDATE {} SET {} = pg_now() WHERE rowid = NEW.rowid; END",
                quote_ident(&sqlite_name),
                table_ident(&table),
                table_ident(&table),
                quote_ident(column)
            ))?;
        }
    } else {
        let found = cache
            .overloads(&function_name)
            .iter()
            .find(|function| function.arguments.is_empty())
            .ok_or_else(|| Refusal::new(format!("function {function_name}() does not exist")))?;
        if !matches!(found.returns, FunctionReturn::Trigger) || found.program.is_none() {
            return Err(Refusal::new(format!(
                "function {function_name}() must return type trigger"
            )));
        }
    }
    let when = trigger.condition.as_ref().map(ToString::to_string);
    if let Some(when) = &when {
        crate::plpgsql::trigger_condition(cache, when)
            .map_err(|reason| Refusal::new(format!("the trigger's WHEN condition: {reason}")))?;
    }
    cache
        .triggers
        .retain(|existing| !(existing.name == name && existing.table == table));
    cache.triggers.push(Trigger {
        name,
        table: table.clone(),
        timing: timing.to_ascii_lowercase(),
        events: events
            .iter()
            .map(|event| event.to_ascii_lowercase())
            .collect(),
        for_each_row: true,
        function: function_name,
        args,
        when,
    });
    crate::plpgsql::sync_triggers(connection, cache, &table).map_err(Refusal::new)
}

fn string_value(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(ValueWithSpan {
            value: Value::DollarQuotedString(quoted),
            ..
        }) => Some(quoted.value.clone()),
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(text),
            ..
        }) => Some(text.clone()),
        _ => None,
    }
}

/// A function argument's type: a Postgres type, or a table's row type (passed as jsonb).
/// A function's argument or result type: Postgres keeps no `numeric(p, s)` modifier there, so
/// `f(x numeric(10, 2))` takes 2.345 as it is.
fn signature_type(pg_type: PgType) -> PgType {
    match pg_type {
        PgType::Decimal { .. } => PgType::Numeric,
        other => other,
    }
}

fn argument_type(
    cache: &SchemaCache,
    data_type: &DataType,
) -> Result<(PgType, Option<QualifiedName>), Refusal> {
    match pg_type(cache, data_type) {
        Ok((pg_type, _)) => Ok((signature_type(pg_type), None)),
        Err(refusal) => match data_type {
            DataType::Custom(object, modifiers) if modifiers.is_empty() => {
                let table = qualified_name(object);
                if cache.table(&table).is_none() {
                    return Err(refusal);
                }
                Ok((PgType::Jsonb, Some(table)))
            }
            _ => Err(refusal),
        },
    }
}

/// A `language sql` body: each statement translated, arguments as `:name` parameters.
fn translate_sql_body(
    cache: &SchemaCache,
    body: &str,
    arguments: &[FunctionArgument],
) -> Result<String, Refusal> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let statements = sqlparser::parser::Parser::parse_sql(&dialect, body)
        .map_err(|error| Refusal::new(format!("cannot parse the function body: {error}")))?;
    let names: Vec<String> = arguments
        .iter()
        .map(|argument| argument.name.clone())
        .collect();
    let mut translated = Vec::new();
    for mut statement in statements {
        super::rows::bind_row_arguments(&mut statement, arguments);
        super::ranges::type_arguments(&mut statement, arguments);
        translated.push(expression::translate_with(
            &mut statement,
            &names,
            &expression::Typed(cache),
        )?);
    }
    Ok(translated.join(";\n"))
}

/// Seed, migration and function-body inserts: literal values normalized to the stored form of
/// their column (`'{a,b}'` into an array column becomes `'["a","b"]'`).
pub fn normalize_insert_values(
    cache: &SchemaCache,
    insert: &mut sqlparser::ast::Insert,
) -> Outcome {
    let sqlparser::ast::TableObject::TableName(name) = &insert.table else {
        return Ok(());
    };
    let Some(table) = cache.table(&qualified_name(name)) else {
        return Err(Refusal::new(format!(
            "relation \"{}\" does not exist",
            qualified_name(name)
        )));
    };
    let columns: Vec<Option<&Column>> = insert
        .columns
        .iter()
        .map(|ident| table.column(ident.to_string().trim_matches('"')))
        .collect();
    let Some(source) = insert.source.as_mut() else {
        return Ok(());
    };
    let SetExpr::Values(rows) = source.body.as_mut() else {
        return Ok(());
    };
    for row in &mut rows.rows {
        for (value, column) in row.iter_mut().zip(&columns) {
            let (
                Some(column),
                Expr::Value(ValueWithSpan {
                    value: Value::SingleQuotedString(text),
                    ..
                }),
            ) = (column, &*value)
            else {
                continue;
            };
            let normalized = match &column.pg_type {
                PgType::Array(_) => values::array_literal_to_json(text),
                PgType::Timestamptz => values::normalize_timestamptz(text),
                PgType::Printed(printed) => super::printed::normalize(*printed, text).ok(),
                _ => continue,
            }
            .ok_or_else(|| {
                Refusal::new(format!(
                    "invalid value '{text}' for column \"{}\"",
                    column.name
                ))
            })?;
            *value = expression::raw(quote_literal(&normalized));
        }
    }
    Ok(())
}
