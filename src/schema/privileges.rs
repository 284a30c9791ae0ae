//! Privileges: Postgres's access-control lists for the relations, sequences, functions and
//! schemas the migrations create — who may select, insert, update or delete (on the whole
//! relation or some columns), draw from a sequence, execute, or use a schema — with the default
//! privileges new objects take, starting from Supabase's (`anon`, `authenticated`,
//! `service_role` get everything in `public`; PUBLIC may execute every function). Tables and views
//! in `auth` start with no privilege for anyone, as GoTrue's tables on Supabase (only its own
//! admin role holds them): a policy or invoker body reading `auth.users` as `authenticated` is
//! `permission denied for table users` there too. An object with no list (Supabase's `storage`
//! and `realtime` schemas, or a database made before privileges were kept) grants every
//! privilege, except in `auth`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{QualifiedName, SchemaCache, qualified_map};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    Truncate,
    References,
    Trigger,
    Execute,
    Usage,
    Create,
}

/// What `ALL` means on a relation.
pub const ALL_ON_RELATIONS: [Privilege; 7] = [
    Privilege::Select,
    Privilege::Insert,
    Privilege::Update,
    Privilege::Delete,
    Privilege::Truncate,
    Privilege::References,
    Privilege::Trigger,
];

/// What `ALL` means on a sequence.
pub const ALL_ON_SEQUENCES: [Privilege; 3] =
    [Privilege::Usage, Privilege::Select, Privilege::Update];

/// The grantee every role belongs to.
pub const PUBLIC: &str = "public";

/// Schemas Supabase manages itself; their grants are not modeled (their objects take no list).
const MANAGED_SCHEMAS: [&str; 2] = ["storage", "realtime"];

/// GoTrue's schema: its relations take an empty list, not the schema's default privileges.
const AUTH_SCHEMA: &str = "auth";

/// Privileges by grantee (a role name or `public`).
pub type Grants = BTreeMap<String, BTreeSet<Privilege>>;

/// One object's access-control list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Acl {
    /// Privileges on the whole object.
    pub object: Grants,
    /// Column privileges of a relation, by column.
    pub columns: BTreeMap<String, Grants>,
}

impl Acl {
    fn holds(grants: Option<&Grants>, role: &str, privilege: Privilege) -> bool {
        grants.is_some_and(|grants| {
            [role, PUBLIC].iter().any(|grantee| {
                grants
                    .get(*grantee)
                    .is_some_and(|held| held.contains(&privilege))
            })
        })
    }

    /// Whether `role` (or PUBLIC) holds `privilege` on the whole object.
    pub fn on_object(&self, role: &str, privilege: Privilege) -> bool {
        Self::holds(Some(&self.object), role, privilege)
    }

    /// Whether `role` holds `privilege` on every one of `columns` — on the relation or on each
    /// column — or, when no column is named (`count(*)`), on the relation or on any column.
    pub fn on_columns(&self, role: &str, privilege: Privilege, columns: &BTreeSet<&str>) -> bool {
        if self.on_object(role, privilege) {
            return true;
        }
        if columns.is_empty() {
            return self
                .columns
                .values()
                .any(|grants| Self::holds(Some(grants), role, privilege));
        }
        columns
            .iter()
            .all(|column| Self::holds(self.columns.get(*column), role, privilege))
    }

    fn change(grants: &mut Grants, grantee: &str, privileges: &[Privilege], grant: bool) {
        let held = grants.entry(grantee.to_owned()).or_default();
        for privilege in privileges {
            if grant {
                held.insert(*privilege);
            } else {
                held.remove(privilege);
            }
        }
        if held.is_empty() {
            grants.remove(grantee);
        }
    }

    /// `grant|revoke privileges on object`; revoking on the relation revokes the same
    /// privileges on each of its columns too, as Postgres does.
    pub fn change_object(&mut self, grantee: &str, privileges: &[Privilege], grant: bool) {
        Self::change(&mut self.object, grantee, privileges, grant);
        if !grant {
            for grants in self.columns.values_mut() {
                Self::change(grants, grantee, privileges, false);
            }
        }
    }

    /// `grant|revoke privilege (columns) on relation`: the relation's own privileges stay.
    pub fn change_column(
        &mut self,
        column: &str,
        grantee: &str,
        privilege: Privilege,
        grant: bool,
    ) {
        let grants = self.columns.entry(column.to_owned()).or_default();
        Self::change(grants, grantee, &[privilege], grant);
    }
}

/// The kinds of object default privileges are kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectKind {
    Relations,
    Sequences,
    Functions,
}

/// `alter default privileges [in schema s] grant|revoke … on tables|functions …`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultPrivileges {
    /// `None`: every schema.
    pub schema: Option<String>,
    pub kind: ObjectKind,
    pub grants: Grants,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Privileges {
    #[serde(with = "qualified_map")]
    pub relations: BTreeMap<QualifiedName, Acl>,
    #[serde(with = "qualified_map", default)]
    pub sequences: BTreeMap<QualifiedName, Acl>,
    #[serde(with = "qualified_map")]
    pub functions: BTreeMap<QualifiedName, Acl>,
    pub schemas: BTreeMap<String, Acl>,
    pub defaults: Vec<DefaultPrivileges>,
}

impl Default for Privileges {
    /// A new Supabase project: `public` usable by everyone; tables, sequences and functions
    /// created in it granted ALL to `anon`, `authenticated` and `service_role`; EXECUTE for PUBLIC on every
    /// new function (Postgres's own default).
    fn default() -> Self {
        let api_roles = ["anon", "authenticated", "service_role"];
        let to = |grantees: &[&str], privileges: &[Privilege]| -> Grants {
            grantees
                .iter()
                .map(|grantee| (grantee.to_string(), privileges.iter().copied().collect()))
                .collect()
        };
        let usage = |grantees: &[&str]| Acl {
            object: to(grantees, &[Privilege::Usage]),
            columns: BTreeMap::new(),
        };
        Self {
            relations: BTreeMap::new(),
            sequences: BTreeMap::new(),
            functions: BTreeMap::new(),
            schemas: BTreeMap::from([
                (
                    "public".to_owned(),
                    usage(&[PUBLIC, "anon", "authenticated", "service_role"]),
                ),
                ("graphql_public".to_owned(), usage(&api_roles)),
            ]),
            defaults: vec![
                DefaultPrivileges {
                    schema: None,
                    kind: ObjectKind::Functions,
                    grants: to(&[PUBLIC], &[Privilege::Execute]),
                },
                DefaultPrivileges {
                    schema: Some("public".into()),
                    kind: ObjectKind::Relations,
                    grants: to(&api_roles, &ALL_ON_RELATIONS),
                },
                DefaultPrivileges {
                    schema: Some("public".into()),
                    kind: ObjectKind::Sequences,
                    grants: to(&api_roles, &ALL_ON_SEQUENCES),
                },
                DefaultPrivileges {
                    schema: Some("public".into()),
                    kind: ObjectKind::Functions,
                    grants: to(&api_roles, &[Privilege::Execute]),
                },
            ],
        }
    }
}

impl Privileges {
    /// The list a new object of `kind` in `schema` starts with: every-schema defaults plus the
    /// schema's own.
    fn initial(&self, schema: &str, kind: ObjectKind) -> Acl {
        let mut acl = Acl::default();
        for default in self.defaults.iter().filter(|default| {
            default.kind == kind && default.schema.as_deref().is_none_or(|name| name == schema)
        }) {
            for (grantee, privileges) in &default.grants {
                let privileges: Vec<Privilege> = privileges.iter().copied().collect();
                acl.change_object(grantee, &privileges, true);
            }
        }
        acl
    }

    /// The default privileges of `kind` in `schema` (`None`: every schema), to change.
    pub fn defaults_mut(&mut self, schema: Option<&str>, kind: ObjectKind) -> &mut Grants {
        let index = match self
            .defaults
            .iter()
            .position(|default| default.kind == kind && default.schema.as_deref() == schema)
        {
            Some(index) => index,
            None => {
                self.defaults.push(DefaultPrivileges {
                    schema: schema.map(str::to_owned),
                    kind,
                    grants: Grants::new(),
                });
                self.defaults.len() - 1
            }
        };
        &mut self.defaults[index].grants
    }

    /// After a statement: relations, sequences and functions created by it take their
    /// schema's default privileges, dropped ones lose their lists (so one created again starts
    /// afresh).
    pub fn follow(&mut self, schema: &SchemaCache) {
        let mut relations = std::mem::take(&mut self.relations);
        self.follow_kind(&mut relations, schema.tables.keys(), ObjectKind::Relations);
        self.relations = relations;
        let mut sequences = std::mem::take(&mut self.sequences);
        self.follow_kind(
            &mut sequences,
            schema.sequences.keys(),
            ObjectKind::Sequences,
        );
        self.sequences = sequences;
        let mut functions = std::mem::take(&mut self.functions);
        self.follow_kind(
            &mut functions,
            schema.functions.keys(),
            ObjectKind::Functions,
        );
        self.functions = functions;
    }

    fn follow_kind<'a>(
        &self,
        lists: &mut BTreeMap<QualifiedName, Acl>,
        existing: impl Iterator<Item = &'a QualifiedName>,
        kind: ObjectKind,
    ) {
        let names: BTreeSet<&QualifiedName> = existing.collect();
        lists.retain(|name, _| names.contains(name));
        let managed = |name: &QualifiedName| MANAGED_SCHEMAS.contains(&name.schema.as_str());
        for name in names.into_iter().filter(|name| !managed(name)) {
            if !lists.contains_key(name) {
                let initial = match (kind, name.schema.as_str()) {
                    (ObjectKind::Relations, AUTH_SCHEMA) => Acl::default(),
                    _ => self.initial(&name.schema, kind),
                };
                lists.insert(name.clone(), initial);
            }
        }
    }

    /// The list of `relation`; one without a list grants everything, except in `auth`.
    fn relation_acl(&self, relation: &QualifiedName) -> Option<&Acl> {
        static NONE: Acl = Acl {
            object: BTreeMap::new(),
            columns: BTreeMap::new(),
        };
        match self.relations.get(relation) {
            None if relation.schema == AUTH_SCHEMA => Some(&NONE),
            found => found,
        }
    }

    /// Whether `role` may use `privilege` on `columns` of `relation` (see `Acl::on_columns`).
    pub fn relation_allows(
        &self,
        relation: &QualifiedName,
        role: &str,
        privilege: Privilege,
        columns: &BTreeSet<&str>,
    ) -> bool {
        self.relation_acl(relation)
            .is_none_or(|acl| acl.on_columns(role, privilege, columns))
    }

    /// Whether `role` holds `privilege` on the whole of `relation` (what `has_table_privilege`
    /// answers).
    pub fn relation_allows_all(
        &self,
        relation: &QualifiedName,
        role: &str,
        privilege: Privilege,
    ) -> bool {
        self.relation_acl(relation)
            .is_none_or(|acl| acl.on_object(role, privilege))
    }

    /// Whether `role` holds one of `privileges` on `sequence` (`nextval` takes USAGE or
    /// UPDATE, `setval` UPDATE, `currval` USAGE or SELECT).
    pub fn sequence_allows(
        &self,
        sequence: &QualifiedName,
        role: &str,
        privileges: &[Privilege],
    ) -> bool {
        self.sequences.get(sequence).is_none_or(|acl| {
            privileges
                .iter()
                .any(|privilege| acl.on_object(role, *privilege))
        })
    }

    pub fn function_allows(&self, function: &QualifiedName, role: &str) -> bool {
        self.functions
            .get(function)
            .is_none_or(|acl| acl.on_object(role, Privilege::Execute))
    }

    pub fn schema_allows(&self, schema: &str, role: &str) -> bool {
        self.schemas
            .get(schema)
            .is_none_or(|acl| acl.on_object(role, Privilege::Usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
        names.iter().copied().collect()
    }

    #[test]
    fn column_privileges_cover_only_their_columns_and_revoking_the_relation_revokes_them() {
        let mut acl = Acl::default();
        acl.change_column("id", "authenticated", Privilege::Select, true);
        acl.change_column("a", "authenticated", Privilege::Select, true);
        let allows = |acl: &Acl, names: &[&str]| {
            acl.on_columns("authenticated", Privilege::Select, &columns(names))
        };
        assert!(allows(&acl, &["id", "a"]));
        assert!(!allows(&acl, &["id", "secret"]));
        assert!(allows(&acl, &[]), "count(*) needs any column");
        assert!(!acl.on_columns("anon", Privilege::Select, &columns(&["id"])));
        acl.change_object("authenticated", &[Privilege::Select], false);
        assert!(!allows(&acl, &["id"]));
        assert!(!allows(&acl, &[]));
    }

    #[test]
    fn revoking_a_column_leaves_the_relation_privilege() {
        let mut acl = Acl::default();
        acl.change_object("anon", &ALL_ON_RELATIONS, true);
        acl.change_column("secret", "anon", Privilege::Select, false);
        assert!(acl.on_columns("anon", Privilege::Select, &columns(&["secret"])));
    }

    #[test]
    fn public_grants_reach_every_role() {
        let mut acl = Acl::default();
        acl.change_object(PUBLIC, &[Privilege::Execute], true);
        assert!(acl.on_object("anon", Privilege::Execute));
        acl.change_object(PUBLIC, &[Privilege::Execute], false);
        assert!(!acl.on_object("anon", Privilege::Execute));
    }
}
