//! Privileges: checks a plan against the caller's role's privileges before any SQL runs, as
//! Postgres checks a statement's relations — USAGE on the schema, SELECT on every column read
//! (outputs, filters, order, embed joins), INSERT/UPDATE on the columns written, DELETE,
//! EXECUTE on the function, USAGE or UPDATE on the sequence a serial column left out draws
//! from — and refuses with 42501 "permission denied for table t".

use std::collections::{BTreeMap, BTreeSet};

use super::error::RestError;
use super::plan::{Condition, Embed, Expr, Join, Output, Plan, Returning, Shape};
use crate::auth::{Caller, Role};
use crate::schema::privileges::Privilege;
use crate::schema::{QualifiedName, SchemaCache, TableKind};

/// Columns each relation must grant, per privilege, and the functions computed fields call.
#[derive(Default)]
struct Needs<'a>(
    BTreeMap<(&'a QualifiedName, Privilege), BTreeSet<&'a str>>,
    BTreeSet<&'a QualifiedName>,
);

impl<'a> Needs<'a> {
    fn add(
        &mut self,
        relation: &'a QualifiedName,
        privilege: Privilege,
        columns: impl IntoIterator<Item = &'a str>,
    ) {
        self.0
            .entry((relation, privilege))
            .or_default()
            .extend(columns);
    }

    /// Everything `shape` reads of its relation (unless it is a function's result) and of the
    /// relations it embeds.
    fn read(&mut self, shape: &'a Shape<'a>, relation: bool) {
        let name = &shape.table.name;
        let mut columns = BTreeSet::new();
        for output in &shape.outputs {
            match output {
                Output::Value { value, .. } => self.value(value, &mut columns),
                Output::Embed { embed, .. } | Output::Spread(embed) => {
                    self.embed(embed, &mut columns);
                }
                Output::Count { .. } => {}
            }
        }
        for filter in &shape.filters {
            self.condition(filter, &mut columns);
        }
        for order in &shape.order {
            self.value(&order.expr, &mut columns);
        }
        if relation {
            self.add(name, Privilege::Select, columns);
        }
    }

    fn embed(&mut self, embed: &'a Embed<'a>, parent: &mut BTreeSet<&'a str>) {
        let child = &embed.shape.table.name;
        match &embed.join {
            Join::Direct(pairs) => {
                for (parent_column, child_column) in pairs {
                    parent.insert(parent_column);
                    self.add(child, Privilege::Select, [child_column.as_str()]);
                }
            }
            Join::Junction {
                table,
                parent: parent_pairs,
                child: child_pairs,
            } => {
                for (parent_column, junction_column) in parent_pairs {
                    parent.insert(parent_column);
                    self.add(&table.name, Privilege::Select, [junction_column.as_str()]);
                }
                for (junction_column, child_column) in child_pairs {
                    self.add(&table.name, Privilege::Select, [junction_column.as_str()]);
                    self.add(child, Privilege::Select, [child_column.as_str()]);
                }
            }
            // The parent's whole row and EXECUTE; the rows come from the function, whose body
            // needs what it reads.
            Join::Computed(computed) => {
                parent.extend(computed.columns.iter().map(String::as_str));
                self.1.insert(&computed.function);
                self.read(&embed.shape, false);
                return;
            }
        }
        self.read(&embed.shape, true);
    }

    /// The column `value` reads; a computed field reads the whole row (every column, as
    /// Postgres checks a whole-row reference) and needs EXECUTE on its function.
    fn value(&mut self, value: &'a Expr, columns: &mut BTreeSet<&'a str>) {
        match &value.computed {
            Some(computed) => {
                columns.extend(computed.columns.iter().map(String::as_str));
                self.1.insert(&computed.function);
            }
            None => {
                columns.insert(value.column.as_str());
            }
        }
    }

    fn condition(&mut self, condition: &'a Condition, columns: &mut BTreeSet<&'a str>) {
        match condition {
            Condition::Test { expr, .. } => self.value(expr, columns),
            Condition::All { children, .. } | Condition::Any { children, .. } => {
                for child in children {
                    self.condition(child, columns);
                }
            }
        }
    }

    /// The columns a write's filters read: SELECT on them (none when nothing is filtered).
    fn filtered(&mut self, relation: &'a QualifiedName, filters: &'a [Condition]) {
        let mut read = BTreeSet::new();
        for filter in filters {
            self.condition(filter, &mut read);
        }
        if !read.is_empty() {
            self.add(relation, Privilege::Select, read);
        }
    }

    fn returning(&mut self, returning: &'a Returning<'a>) {
        if returning.representation {
            self.read(&returning.shape, true);
        }
        if let Some(location) = &returning.location {
            let name = &returning.shape.table.name;
            self.add(name, Privilege::Select, location.iter().map(String::as_str));
        }
    }
}

fn denied(what: &str, name: &str, caller: &Caller) -> RestError {
    RestError::sql(
        "42501",
        format!("permission denied for {what} {name}"),
        caller.role == Role::Anon,
    )
}

/// Refuses the plan unless the caller's role holds every privilege it needs.
pub fn check(plan: &Plan, schema: &SchemaCache, caller: &Caller) -> Result<(), RestError> {
    let role = caller.role.as_str();
    let privileges = &schema.privileges;
    let mut needs = Needs::default();
    let mut drawn = Vec::new();
    let namespace = match plan {
        Plan::Read(read) => {
            needs.read(&read.shape, true);
            &read.shape.table.name.schema
        }
        Plan::Insert(insert) => {
            let name = &insert.table.name;
            let columns = insert
                .rows
                .iter()
                .flatten()
                .map(|(column, _)| column.as_str());
            needs.add(name, Privilege::Insert, columns);
            if let Some(conflict) = &insert.conflict
                && conflict.resolution == super::request::Resolution::MergeDuplicates
            {
                needs.add(
                    name,
                    Privilege::Update,
                    conflict.update.iter().map(String::as_str),
                );
                needs.add(
                    name,
                    Privilege::Select,
                    conflict.target.iter().map(String::as_str),
                );
            }
            needs.returning(&insert.returning);
            drawn = drawn_sequences(insert);
            &name.schema
        }
        Plan::Update(update) => {
            let name = &update.table.name;
            let assigned = update.assignments.iter().map(|(column, _)| column.as_str());
            needs.add(name, Privilege::Update, assigned);
            needs.filtered(name, &update.filters);
            needs.returning(&update.returning);
            &name.schema
        }
        Plan::Delete(delete) => {
            let name = &delete.table.name;
            needs.add(name, Privilege::Delete, []);
            needs.filtered(name, &delete.filters);
            needs.returning(&delete.returning);
            &name.schema
        }
        Plan::Call(call) => {
            let name = &call.function.name;
            if !privileges.schema_allows(&name.schema, role) {
                return Err(denied("schema", &name.schema, caller));
            }
            if !privileges.function_allows(name, role) {
                return Err(denied("function", &name.name, caller));
            }
            if let super::plan::CallResult::Rows { shape, .. } = &call.result {
                needs.read(shape, false);
            }
            &name.schema
        }
    };
    if !privileges.schema_allows(namespace, role) {
        return Err(denied("schema", namespace, caller));
    }
    if let Some(function) = needs
        .1
        .iter()
        .find(|function| !privileges.function_allows(function, role))
    {
        return Err(denied("function", &function.name, caller));
    }
    for ((name, privilege), columns) in &needs.0 {
        if !privileges.relation_allows(name, role, *privilege, columns) {
            let what = match schema.table(name).map(|table| &table.kind) {
                Some(TableKind::View { .. }) => "view",
                _ => "table",
            };
            return Err(denied(what, &name.name, caller));
        }
    }
    let draw = [Privilege::Usage, Privilege::Update];
    if let Some(sequence) = drawn
        .iter()
        .find(|sequence| !privileges.sequence_allows(sequence, role, &draw))
    {
        return Err(denied("sequence", &sequence.name, caller));
    }
    Ok(())
}

/// The sequences an insert's `nextval` defaults draw from: those of the serial columns (or
/// columns defaulting to `nextval('…')`) some row leaves out. An identity column draws without
/// any privilege on its sequence, as in Postgres.
fn drawn_sequences(insert: &super::plan::Insert) -> Vec<QualifiedName> {
    insert
        .table
        .columns
        .iter()
        .filter(|column| {
            insert
                .rows
                .iter()
                .any(|row| row.iter().all(|(name, _)| *name != column.name))
        })
        .filter_map(|column| match &column.sequence {
            Some(sequence) if sequence.serial => Some(sequence.name.clone()),
            Some(_) => None,
            None => column
                .default
                .as_deref()
                .and_then(crate::migrate::sequences::nextval_default),
        })
        .collect()
}
