//! Grants: `grant`, `revoke`, `alter default privileges` and `create schema` change the
//! `SchemaCache`'s privileges as they change Postgres's ACLs — on tables and views (and their
//! columns), sequences, functions and schemas. Privileges on other objects (types, databases)
//! and role membership are accepted without effect.

use sqlparser::ast::{
    Action, GrantObjects, Grantee, GranteeName, GranteesType, Ident, ObjectName, Privileges,
    Statement,
};

use super::expression::{ident_name, qualified_name};
use super::postgres_only::{self, Rule};
use super::translate::Refusal;
use crate::schema::privileges::{
    ALL_ON_RELATIONS, ALL_ON_SEQUENCES, Acl, ObjectKind, PUBLIC, Privilege,
};
use crate::schema::{QualifiedName, SchemaCache};

/// Applies `text` when it is one of the statements above: `Ok(Some(rule))` when it was
/// accepted without effect, `None` when the statement is not about privileges.
pub fn apply(cache: &mut SchemaCache, text: &str) -> Option<Result<Option<Rule>, Refusal>> {
    let lowered = text.trim_start().to_ascii_lowercase();
    let mut words = lowered.split_whitespace();
    match (words.next()?, words.next().unwrap_or("")) {
        ("grant" | "revoke", _) => Some(statement(cache, text, None)),
        ("alter", "default") => Some(default_privileges(cache, text)),
        ("create", "schema") => Some(create_schema(cache, text)),
        _ => None,
    }
}

/// `create schema [if not exists] name`: a new schema nobody but its owner may use.
fn create_schema(cache: &mut SchemaCache, text: &str) -> Result<Option<Rule>, Refusal> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    if let Ok(statements) = sqlparser::parser::Parser::parse_sql(&dialect, text)
        && let [Statement::CreateSchema { schema_name, .. }] = statements.as_slice()
        && let sqlparser::ast::SchemaName::Simple(name)
        | sqlparser::ast::SchemaName::NamedAuthorization(name, _) = schema_name
    {
        let name = qualified_name(name).name;
        cache.privileges.schemas.entry(name).or_default();
    }
    Ok(Some(postgres_only::SCHEMAS))
}

/// `alter default privileges [for role r] [in schema s, …] grant|revoke … on
/// tables|sequences|functions …`.
fn default_privileges(cache: &mut SchemaCache, text: &str) -> Result<Option<Rule>, Refusal> {
    let pattern = regex::Regex::new(
        r"(?is)^\s*alter\s+default\s+privileges\s+(?:for\s+(?:role|user)\s+(?P<roles>.+?)\s+)?(?:in\s+schema\s+(?P<schemas>.+?)\s+)?(?P<rest>(?:grant|revoke)\s.*?\son\s+)(?P<kind>tables|functions|routines|sequences|types|schemas)\b(?P<tail>.*)$",
    )
    .expect("valid pattern");
    let Some(found) = pattern.captures(text) else {
        return Err(Refusal::new(
            "cannot read this alter default privileges statement",
        ));
    };
    let names = |list: Option<regex::Match>| -> Vec<String> {
        list.map(|list| {
            list.as_str()
                .split(',')
                .map(|name| fold(name.trim()))
                .collect()
        })
        .unwrap_or_default()
    };
    // Migrations run as `postgres`: defaults for another role's objects never apply to theirs.
    let roles = names(found.name("roles"));
    if !roles.is_empty() && !roles.iter().any(|role| role == "postgres") {
        return Ok(Some(OTHER_OWNER));
    }
    let kind = match found["kind"].to_ascii_lowercase().as_str() {
        "tables" => ObjectKind::Relations,
        "sequences" => ObjectKind::Sequences,
        "functions" | "routines" => ObjectKind::Functions,
        _ => return Ok(Some(postgres_only::PRIVILEGES)),
    };
    let objects = match kind {
        ObjectKind::Relations => "all tables in schema x",
        ObjectKind::Sequences => "all sequences in schema x",
        ObjectKind::Functions => "all functions in schema x",
    };
    let rewritten = format!("{}{objects}{}", &found["rest"], &found["tail"]);
    let schemas = names(found.name("schemas"));
    let schemas: Vec<Option<&str>> = if schemas.is_empty() {
        vec![None]
    } else {
        schemas.iter().map(|schema| Some(schema.as_str())).collect()
    };
    for schema in schemas {
        statement(cache, &rewritten, Some((schema, kind)))?;
    }
    Ok(None)
}

const OTHER_OWNER: Rule = Rule {
    name: "default privileges of another role",
    why: "default privileges for objects another role creates never apply to the migrations' objects, which postgres owns",
};

/// A grant or revoke; with `defaults`, one of `alter default privileges` applied to the
/// default privileges of that schema and kind instead of to objects.
fn statement(
    cache: &mut SchemaCache,
    text: &str,
    defaults: Option<(Option<&str>, ObjectKind)>,
) -> Result<Option<Rule>, Refusal> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let statements = sqlparser::parser::Parser::parse_sql(&dialect, text)
        .map_err(|error| Refusal::new(format!("cannot parse this privilege statement: {error}")))?;
    let (grant, privileges, objects, grantees) = match statements.as_slice() {
        [Statement::Grant(grant)] => (true, &grant.privileges, &grant.objects, &grant.grantees),
        [Statement::Revoke(revoke)] if revoke.grant_option_for => {
            return Ok(Some(postgres_only::PRIVILEGES));
        }
        [Statement::Revoke(revoke)] => {
            (false, &revoke.privileges, &revoke.objects, &revoke.grantees)
        }
        // `grant role to role`: membership, which the three API roles never take.
        _ => return Ok(Some(postgres_only::ROLES)),
    };
    let Some(objects) = objects else {
        return Ok(Some(postgres_only::ROLES));
    };
    let grantees: Vec<String> = grantees.iter().filter_map(grantee).collect();
    let change = Change {
        grant,
        privileges,
        grantees: &grantees,
    };
    if let Some((schema, kind)) = defaults {
        let all = match kind {
            ObjectKind::Relations => &ALL_ON_RELATIONS[..],
            ObjectKind::Sequences => &ALL_ON_SEQUENCES[..],
            ObjectKind::Functions => &[Privilege::Execute][..],
        };
        let (whole, _) = change.split(all)?;
        let mut acl = Acl {
            object: std::mem::take(cache.privileges.defaults_mut(schema, kind)),
            columns: Default::default(),
        };
        for grantee in &grantees {
            acl.change_object(grantee, &whole, grant);
        }
        *cache.privileges.defaults_mut(schema, kind) = acl.object;
        return Ok(None);
    }
    match objects {
        GrantObjects::Tables(names) | GrantObjects::Views(names) => {
            let names = names
                .iter()
                .map(|name| relation(cache, name))
                .collect::<Result<Vec<_>, _>>()?;
            change.relations(cache, &names)
        }
        GrantObjects::AllTablesInSchema { schemas }
        | GrantObjects::AllViewsInSchema { schemas } => {
            let names = in_schemas(cache.tables.keys(), schemas);
            change.relations(cache, &names)
        }
        GrantObjects::Sequences(names) => {
            let names = names
                .iter()
                .map(|name| {
                    let name = qualified_name(name);
                    match cache.sequences.contains_key(&name) {
                        true => Ok(name),
                        false => Err(Refusal::new(format!(
                            "relation \"{}\" does not exist",
                            name.name
                        ))),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            change.sequences(cache, &names)
        }
        GrantObjects::AllSequencesInSchema { schemas } => {
            let names = in_schemas(cache.sequences.keys(), schemas);
            change.sequences(cache, &names)
        }
        GrantObjects::Functions(functions)
        | GrantObjects::Routines(functions)
        | GrantObjects::Procedures(functions) => {
            let names = functions
                .iter()
                .map(|function| {
                    let name = qualified_name(&function.name);
                    match cache.functions.contains_key(&name) {
                        true => Ok(name),
                        false => Err(Refusal::new(format!("function {name} does not exist"))),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            change.functions(cache, &names)
        }
        GrantObjects::AllFunctionsInSchema { schemas }
        | GrantObjects::AllRoutinesInSchema { schemas }
        | GrantObjects::AllProceduresInSchema { schemas } => {
            let names = in_schemas(cache.functions.keys(), schemas);
            change.functions(cache, &names)
        }
        GrantObjects::Schemas(names) => {
            let (whole, _) = change.split(&[Privilege::Usage, Privilege::Create])?;
            for name in names {
                let acl = cache
                    .privileges
                    .schemas
                    .entry(qualified_name(name).name)
                    .or_default();
                for grantee in &grantees {
                    acl.change_object(grantee, &whole, grant);
                }
            }
            Ok(None)
        }
        _ => Ok(Some(postgres_only::PRIVILEGES)),
    }
}

/// A grantee's role name (`public` for PUBLIC).
fn grantee(grantee: &Grantee) -> Option<String> {
    match (&grantee.grantee_type, &grantee.name) {
        (GranteesType::Public, _) => Some(PUBLIC.to_owned()),
        (_, Some(GranteeName::ObjectName(name))) => Some(qualified_name(name).name),
        _ => None,
    }
}

/// An unquoted name folded to lower case, a quoted one as written.
fn fold(name: &str) -> String {
    match name
        .strip_prefix('"')
        .and_then(|name| name.strip_suffix('"'))
    {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => name.to_ascii_lowercase(),
    }
}

fn relation(cache: &SchemaCache, name: &ObjectName) -> Result<QualifiedName, Refusal> {
    let name = qualified_name(name);
    match cache.tables.contains_key(&name) {
        true => Ok(name),
        false => Err(Refusal::new(format!(
            "relation \"{}\" does not exist",
            name.name
        ))),
    }
}

fn in_schemas<'a>(
    names: impl Iterator<Item = &'a QualifiedName>,
    schemas: &[ObjectName],
) -> Vec<QualifiedName> {
    let schemas: Vec<String> = schemas
        .iter()
        .map(|schema| qualified_name(schema).name)
        .collect();
    names
        .filter(|name| schemas.contains(&name.schema))
        .cloned()
        .collect()
}

/// One grant or revoke of some privileges to some grantees.
struct Change<'a> {
    grant: bool,
    privileges: &'a Privileges,
    grantees: &'a [String],
}

impl Change<'_> {
    /// The privileges on whole objects and those on named columns, where `all` is what `ALL`
    /// means for the object; a privilege the object does not have is refused as Postgres does.
    #[allow(clippy::type_complexity)]
    fn split(
        &self,
        all: &[Privilege],
    ) -> Result<(Vec<Privilege>, Vec<(Privilege, Vec<String>)>), Refusal> {
        let actions = match self.privileges {
            Privileges::All { .. } => return Ok((all.to_vec(), Vec::new())),
            Privileges::Actions(actions) => actions,
        };
        let mut whole = Vec::new();
        let mut columns = Vec::new();
        for action in actions {
            let (privilege, named): (Privilege, Option<&Vec<Ident>>) = match action {
                Action::Select { columns } => (Privilege::Select, columns.as_ref()),
                Action::Insert { columns } => (Privilege::Insert, columns.as_ref()),
                Action::Update { columns } => (Privilege::Update, columns.as_ref()),
                Action::References { columns } => (Privilege::References, columns.as_ref()),
                Action::Delete => (Privilege::Delete, None),
                Action::Truncate => (Privilege::Truncate, None),
                Action::Trigger => (Privilege::Trigger, None),
                Action::Execute { .. } => (Privilege::Execute, None),
                Action::Usage => (Privilege::Usage, None),
                Action::Create { .. } => (Privilege::Create, None),
                other => {
                    return Err(Refusal::new(format!(
                        "invalid privilege type {other} for this object"
                    )));
                }
            };
            if !all.contains(&privilege) {
                return Err(Refusal::new(format!(
                    "invalid privilege type {} for this object",
                    action.to_string().to_uppercase()
                )));
            }
            match named {
                Some(named) => columns.push((privilege, named.iter().map(ident_name).collect())),
                None => whole.push(privilege),
            }
        }
        Ok((whole, columns))
    }

    fn relations(
        &self,
        cache: &mut SchemaCache,
        names: &[QualifiedName],
    ) -> Result<Option<Rule>, Refusal> {
        let (whole, columns) = self.split(&ALL_ON_RELATIONS)?;
        for name in names {
            let table = &cache.tables[name];
            for (_, named) in &columns {
                if let Some(missing) = named.iter().find(|column| table.column(column).is_none()) {
                    return Err(Refusal::new(format!(
                        "column \"{missing}\" of relation \"{}\" does not exist",
                        name.name
                    )));
                }
            }
            // Supabase's storage and realtime schemas keep no list: their grants are not modeled.
            let Some(acl) = cache.privileges.relations.get_mut(name) else {
                continue;
            };
            for grantee in self.grantees {
                acl.change_object(grantee, &whole, self.grant);
                for (privilege, named) in &columns {
                    for column in named {
                        acl.change_column(column, grantee, *privilege, self.grant);
                    }
                }
            }
        }
        Ok(None)
    }

    fn sequences(
        &self,
        cache: &mut SchemaCache,
        names: &[QualifiedName],
    ) -> Result<Option<Rule>, Refusal> {
        let (whole, _) = self.split(&ALL_ON_SEQUENCES)?;
        for name in names {
            if let Some(acl) = cache.privileges.sequences.get_mut(name) {
                for grantee in self.grantees {
                    acl.change_object(grantee, &whole, self.grant);
                }
            }
        }
        Ok(None)
    }

    fn functions(
        &self,
        cache: &mut SchemaCache,
        names: &[QualifiedName],
    ) -> Result<Option<Rule>, Refusal> {
        let (whole, _) = self.split(&[Privilege::Execute])?;
        for name in names {
            if let Some(acl) = cache.privileges.functions.get_mut(name) {
                for grantee in self.grantees {
                    acl.change_object(grantee, &whole, self.grant);
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn cache() -> SchemaCache {
        let mut cache = SchemaCache::default();
        let mut connection = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::functions::register(&connection, Default::default()).unwrap();
        let transaction = connection.transaction().unwrap();
        for sql in [
            "create table t (id int primary key, a int, secret text)",
            "create function f() returns int language sql as 'select 1'",
        ] {
            super::super::translate::apply(&transaction, &mut cache, sql).unwrap();
            cache.follow_privileges();
        }
        cache
    }

    fn run(cache: &mut SchemaCache, sql: &str) {
        apply(cache, sql).expect("a privilege statement").unwrap();
        cache.follow_privileges();
    }

    fn select(cache: &SchemaCache, role: &str, columns: &[&str]) -> bool {
        let columns: BTreeSet<&str> = columns.iter().copied().collect();
        cache.privileges.relation_allows(
            &QualifiedName::public("t"),
            role,
            Privilege::Select,
            &columns,
        )
    }

    #[test]
    fn supabase_defaults_grant_everything_in_public_until_revoked() {
        let mut cache = cache();
        assert!(select(&cache, "anon", &["secret"]));
        run(
            &mut cache,
            "revoke select on table \"public\".\"t\" from \"anon\"",
        );
        assert!(!select(&cache, "anon", &["id"]));
        assert!(select(&cache, "authenticated", &["id"]));
        run(&mut cache, "revoke all on t from authenticated");
        run(&mut cache, "grant select (id, a) on t to authenticated");
        assert!(select(&cache, "authenticated", &["id", "a"]));
        assert!(!select(&cache, "authenticated", &["id", "secret"]));
    }

    #[test]
    fn execute_stays_with_anon_until_revoked_from_it_as_well_as_public() {
        let mut cache = cache();
        let f = QualifiedName::public("f");
        run(
            &mut cache,
            "revoke execute on function public.f() from public",
        );
        assert!(
            cache.privileges.function_allows(&f, "anon"),
            "anon's own grant from Supabase's defaults"
        );
        run(
            &mut cache,
            "revoke execute on function f from anon, authenticated",
        );
        assert!(!cache.privileges.function_allows(&f, "anon"));
        assert!(cache.privileges.function_allows(&f, "service_role"));
    }

    #[test]
    fn default_privileges_apply_to_objects_created_afterwards() {
        let mut cache = cache();
        run(
            &mut cache,
            "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" REVOKE ALL ON TABLES FROM \"anon\"",
        );
        run(
            &mut cache,
            "alter default privileges revoke execute on functions from public",
        );
        run(
            &mut cache,
            "alter default privileges for role supabase_admin in schema public revoke all on functions from authenticated",
        );
        assert!(
            select(&cache, "anon", &["id"]),
            "existing tables keep their grants"
        );
        let mut connection = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::functions::register(&connection, Default::default()).unwrap();
        let transaction = connection.transaction().unwrap();
        for sql in [
            "create table u (id int primary key)",
            "create function g() returns int language sql as 'select 1'",
        ] {
            super::super::translate::apply(&transaction, &mut cache, sql).unwrap();
            cache.follow_privileges();
        }
        let none = BTreeSet::new();
        let u = QualifiedName::public("u");
        assert!(
            !cache
                .privileges
                .relation_allows(&u, "anon", Privilege::Select, &none)
        );
        assert!(
            cache
                .privileges
                .relation_allows(&u, "authenticated", Privilege::Select, &none)
        );
        let g = QualifiedName::public("g");
        assert!(cache.privileges.function_allows(&g, "authenticated"));
        run(
            &mut cache,
            "revoke execute on function g from anon, authenticated",
        );
        assert!(
            !cache.privileges.function_allows(&g, "anon"),
            "PUBLIC's default was revoked"
        );
    }

    #[test]
    fn a_created_schema_is_usable_only_once_granted() {
        let mut cache = cache();
        run(&mut cache, "create schema if not exists api");
        assert!(!cache.privileges.schema_allows("api", "anon"));
        run(&mut cache, "grant usage on schema api to anon");
        assert!(cache.privileges.schema_allows("api", "anon"));
        assert!(cache.privileges.schema_allows("public", "anon"));
    }

    #[test]
    fn missing_objects_and_wrong_privileges_are_refused() {
        let mut cache = cache();
        for (sql, reason) in [
            (
                "grant select on nope to anon",
                "relation \"nope\" does not exist",
            ),
            (
                "grant execute on function nope() to anon",
                "function public.nope does not exist",
            ),
            (
                "grant select (nope) on t to anon",
                "column \"nope\" of relation \"t\" does not exist",
            ),
            (
                "grant execute on t to anon",
                "invalid privilege type EXECUTE",
            ),
            (
                "grant usage on sequence nope to anon",
                "relation \"nope\" does not exist",
            ),
        ] {
            let refusal = apply(&mut cache, sql).unwrap().unwrap_err();
            assert!(refusal.reason.contains(reason), "{sql}: {}", refusal.reason);
        }
        assert_eq!(
            apply(&mut cache, "grant connect on database postgres to anon")
                .unwrap()
                .unwrap(),
            Some(postgres_only::PRIVILEGES)
        );
        assert_eq!(
            apply(&mut cache, "grant anon to authenticator")
                .unwrap()
                .unwrap(),
            Some(postgres_only::ROLES)
        );
    }
}
