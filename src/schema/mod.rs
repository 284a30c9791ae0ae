//! SchemaCache: what the project's migrations declared — tables, views, columns with their
//! Postgres types, keys, foreign keys, policies, enums, SQL functions and the realtime publication.
//! Built by `migrate`, persisted beside the data, read by `rest`, `auth` and `realtime`.
//! It knows nothing of SQL text for a particular store; names here are Postgres names.

pub mod privileges;
pub mod relationships;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A schema-qualified name such as `public.todos` or `auth.users`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            name: name.into(),
        }
    }

    pub fn public(name: impl Into<String>) -> Self {
        Self::new("public", name)
    }
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SchemaCache {
    /// Tables and views, by qualified name.
    #[serde(with = "qualified_map")]
    pub tables: BTreeMap<QualifiedName, Table>,
    /// `create type … as enum`: the labels in declaration order.
    #[serde(with = "qualified_map")]
    pub enums: BTreeMap<QualifiedName, Vec<String>>,
    /// `create function`, callable through `/rest/v1/rpc/{name}`: each name's overloads, in
    /// the order they were created; no two share their argument types.
    #[serde(with = "qualified_map::overloads")]
    pub functions: BTreeMap<QualifiedName, Vec<Function>>,
    /// Tables added to the `supabase_realtime` publication.
    pub realtime_tables: BTreeSet<QualifiedName>,
    /// `create sequence` and identity sequences, by qualified name.
    #[serde(default, with = "qualified_map")]
    pub sequences: BTreeMap<QualifiedName, Sequence>,
    /// Triggers declared with `create trigger`, by the table they fire on.
    pub triggers: Vec<Trigger>,
    /// Table, column, function and schema privileges (`grant`/`revoke`).
    #[serde(default)]
    pub privileges: privileges::Privileges,
    /// The extensions Solobase implements that `create extension` installed (`http`), each
    /// with the schema that holds its types and functions.
    #[serde(default)]
    pub extensions: BTreeMap<String, String>,
    /// Row-level-security predicates already translated (filled by `rest::authorize`).
    #[serde(skip)]
    pub compiled_policies: Memo,
    /// The relationships PostgREST detects, derived once (`SchemaCache::relationships`).
    #[serde(skip)]
    pub derived_relationships: DerivedRelationships,
}

/// The schema's relationships, derived on first use; never persisted, empty when cloned.
#[derive(Debug, Default)]
pub struct DerivedRelationships(std::sync::OnceLock<Vec<relationships::Relationship>>);

impl Clone for DerivedRelationships {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// A string-keyed cache of translations derived from the schema; never persisted, empty when
/// cloned (a clone may be changed and must not reuse what was derived from the original).
#[derive(Debug, Default)]
pub struct Memo(
    std::sync::Mutex<std::collections::HashMap<String, Result<Option<String>, String>>>,
);

impl Clone for Memo {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Memo {
    pub fn get_or_insert_with(
        &self,
        key: &str,
        compute: impl FnOnce() -> Result<Option<String>, String>,
    ) -> Result<Option<String>, String> {
        let lock = || {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(found) = lock().get(key) {
            return found.clone();
        }
        let value = compute();
        lock().insert(key.to_owned(), value.clone());
        value
    }
}

impl SchemaCache {
    /// Every relationship PostgREST detects: the foreign keys, and the same keys through views
    /// (`relationships::relationships`), derived the first time they are asked for.
    pub fn relationships(&self) -> &[relationships::Relationship] {
        self.derived_relationships
            .0
            .get_or_init(|| relationships::relationships(self))
    }

    pub fn table(&self, name: &QualifiedName) -> Option<&Table> {
        self.tables.get(name)
    }

    /// The overloads of the function `name` (empty when there is none).
    pub fn overloads(&self, name: &QualifiedName) -> &[Function] {
        self.functions.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every overload of every function.
    pub fn all_functions(&self) -> impl Iterator<Item = &Function> {
        self.functions.values().flatten()
    }

    /// The function a SQL call `name(…)` with `arity` arguments means: `name` as written
    /// (`schema.fn`), or a bare name in `public` and then in any schema; among its overloads
    /// (trigger functions aside) the first that takes `arity` arguments, counting defaults.
    pub fn called(&self, name: &str, arity: usize) -> Option<&Function> {
        let takes = |function: &&Function| {
            !matches!(function.returns, FunctionReturn::Trigger)
                && arity <= function.arguments.len()
                && function.arguments[arity..]
                    .iter()
                    .all(|argument| argument.default.is_some())
        };
        let public = QualifiedName::public(name);
        let mut candidates: Box<dyn Iterator<Item = &Function>> =
            match name.split_once('.') {
                Some((schema, function)) => {
                    Box::new(self.overloads(&QualifiedName::new(schema, function)).iter())
                }
                None => Box::new(self.overloads(&public).iter().chain(
                    self.all_functions().filter(|function| {
                        function.name.name == name && function.name.schema != "public"
                    }),
                )),
            };
        candidates.find(takes)
    }

    /// Adds `function`, replacing the overload with the same argument types (`create or replace`).
    pub fn put_function(&mut self, function: Function) {
        let overloads = self.functions.entry(function.name.clone()).or_default();
        match overloads
            .iter_mut()
            .find(|known| known.same_arguments(&function))
        {
            Some(known) => *known = function,
            None => overloads.push(function),
        }
    }

    /// After a migration statement: new relations and functions take their default
    /// privileges, dropped ones lose theirs (`Privileges::follow`).
    pub fn follow_privileges(&mut self) {
        let mut privileges = std::mem::take(&mut self.privileges);
        privileges.follow(self);
        self.privileges = privileges;
    }
}

/// A sequence; its options and state are rows of the store (`store::sequence`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    /// `owned by table.column`, or the identity or serial column it was created for.
    pub owned_by: Option<(QualifiedName, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub name: QualifiedName,
    pub kind: TableKind,
    pub columns: Vec<Column>,
    /// Primary-key column names, empty when the table has none.
    pub primary_key: Vec<String>,
    pub unique_constraints: Vec<UniqueConstraint>,
    pub foreign_keys: Vec<ForeignKey>,
    pub checks: Vec<CheckConstraint>,
    pub rls_enabled: bool,
    pub policies: Vec<Policy>,
    pub comment: Option<String>,
    /// `partition by range|list (…)`: the table is partitioned, its rows kept here.
    #[serde(default)]
    pub partitioning: Option<Partitioning>,
    /// `partition of parent for values …`: the table is one partition of `parent`.
    #[serde(default)]
    pub partition_of: Option<PartitionOf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionStrategy {
    Range,
    List,
}

/// How a partitioned table's rows are routed: the strategy and the key's columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partitioning {
    pub strategy: PartitionStrategy,
    pub columns: Vec<String>,
}

/// A partition's parent and bound; its rows are the parent's rows within the bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOf {
    pub parent: QualifiedName,
    /// The bound as written: `FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`, or `DEFAULT`.
    pub bound: String,
    /// The SQLite condition on the parent's row that the bound stands for; `None` for the
    /// default partition, which holds the rows no other partition does.
    pub predicate: Option<String>,
}

impl Table {
    /// Whether the table's key is SQLite's rowid: a lone primary key of an integer type with
    /// no default (an identity or serial column has its sequence's), which SQLite makes an
    /// alias of the rowid (`INTEGER PRIMARY KEY`).
    pub fn key_is_rowid(&self) -> bool {
        let [key] = self.primary_key.as_slice() else {
            return false;
        };
        self.column(key).is_some_and(|column| {
            matches!(
                column.pg_type,
                PgType::SmallInt | PgType::Integer | PgType::BigInt | PgType::Boolean
            ) && column.default.is_none()
                && column.sequence.is_none()
        })
    }

    /// A relation with no columns, keys, constraints or policies yet, RLS off.
    pub fn new(name: QualifiedName, kind: TableKind) -> Self {
        Self {
            name,
            kind,
            columns: Vec::new(),
            primary_key: Vec::new(),
            unique_constraints: Vec::new(),
            foreign_keys: Vec::new(),
            checks: Vec::new(),
            rls_enabled: false,
            policies: Vec::new(),
            comment: None,
            partitioning: None,
            partition_of: None,
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TableKind {
    Table,
    /// A view; `definition` is the Postgres `select` text it was created with. It reads its
    /// tables with its owner's rights (no policies) unless `security_invoker` is set, when the
    /// caller's policies apply, as in Postgres 15.
    View {
        definition: String,
        #[serde(default)]
        security_invoker: bool,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub pg_type: PgType,
    pub nullable: bool,
    /// The Postgres default expression as written (e.g. `gen_random_uuid()`, `now()`, `'{}'::jsonb`).
    pub default: Option<String>,
    /// `serial`, `bigserial`, `generated … as identity` or a `nextval` default.
    pub identity: bool,
    /// The sequence an identity or serial column draws from when an insert leaves it out.
    #[serde(default)]
    pub sequence: Option<ColumnSequence>,
    pub comment: Option<String>,
}

impl Column {
    /// A nullable column of `pg_type` with no default, as a view's or a function result's.
    pub fn new(name: impl Into<String>, pg_type: PgType) -> Self {
        Self {
            name: name.into(),
            pg_type,
            nullable: true,
            default: None,
            identity: false,
            sequence: None,
            comment: None,
        }
    }

    /// Whether an insert may leave this column out (it has a default, is an identity or is nullable).
    pub fn optional_on_insert(&self) -> bool {
        self.default.is_some() || self.identity || self.nullable
    }
}

/// The sequence behind an identity or serial column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSequence {
    pub name: QualifiedName,
    /// `generated always`: an explicit value is refused (428C9).
    pub always: bool,
    /// A `serial` column, whose default calls `nextval`: an insert drawing from it needs USAGE
    /// or UPDATE on the sequence (an identity column needs no privilege on its sequence).
    #[serde(default)]
    pub serial: bool,
    /// The identity's sequence options as declared (`start with 10 increment by 2`).
    pub options: String,
}

/// The Postgres types app schemas use. Values are validated and rendered according to these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PgType {
    Uuid,
    Text,
    Varchar(Option<u32>),
    Char(Option<u32>),
    SmallInt,
    Integer,
    BigInt,
    Boolean,
    Numeric,
    /// `numeric(precision, scale)`: values are rounded to `scale` digits, and must fit.
    Decimal {
        precision: u32,
        scale: u32,
    },
    Real,
    Double,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Interval,
    Json,
    Jsonb,
    Bytea,
    Array(Box<PgType>),
    Enum(QualifiedName),
    /// A type kept in the text form Postgres prints it in, checked and normalized on input.
    Printed(PrintedType),
}

/// The types stored as Postgres's own output text (`'cat' 'fat'`, `[1,6)`, `10.0.0.1/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrintedType {
    TsVector,
    Int4Range,
    Int8Range,
    NumRange,
    DateRange,
    TsRange,
    TstzRange,
    Inet,
    Cidr,
    /// pgvector's `vector(n)`.
    Vector(Option<u32>),
    /// PostGIS's `geometry` or `geography`, stored as its hex EWKB text.
    Geometry(GeometryColumn),
}

/// A PostGIS column type with its modifiers (`geometry(PointZ, 4326)`), which every value
/// written into the column must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeometryColumn {
    pub geography: bool,
    /// Whether modifiers were given: a bare `geometry` takes any value.
    pub typmod: bool,
    /// The subtype the column holds; `None` for any (`geometry(Geometry, 4326)`).
    pub kind: Option<GeometryKind>,
    pub z: bool,
    pub m: bool,
    /// The SRID values must have; 0 for any.
    pub srid: i32,
}

/// The geometry subtypes Solobase implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GeometryKind {
    Point,
    LineString,
    Polygon,
    MultiPoint,
    MultiLineString,
    MultiPolygon,
    GeometryCollection,
}

impl GeometryKind {
    pub const ALL: [GeometryKind; 7] = [
        GeometryKind::Point,
        GeometryKind::LineString,
        GeometryKind::Polygon,
        GeometryKind::MultiPoint,
        GeometryKind::MultiLineString,
        GeometryKind::MultiPolygon,
        GeometryKind::GeometryCollection,
    ];

    /// PostGIS's name of the subtype (`lwtype_name`): `Point`, `MultiPolygon`.
    pub fn name(self) -> &'static str {
        match self {
            GeometryKind::Point => "Point",
            GeometryKind::LineString => "LineString",
            GeometryKind::Polygon => "Polygon",
            GeometryKind::MultiPoint => "MultiPoint",
            GeometryKind::MultiLineString => "MultiLineString",
            GeometryKind::MultiPolygon => "MultiPolygon",
            GeometryKind::GeometryCollection => "GeometryCollection",
        }
    }

    /// The subtype's WKB type number.
    pub fn code(self) -> u32 {
        match self {
            GeometryKind::Point => 1,
            GeometryKind::LineString => 2,
            GeometryKind::Polygon => 3,
            GeometryKind::MultiPoint => 4,
            GeometryKind::MultiLineString => 5,
            GeometryKind::MultiPolygon => 6,
            GeometryKind::GeometryCollection => 7,
        }
    }
}

impl PrintedType {
    /// The type a Postgres type name denotes (`tsvector`, `int4range`, …; not `vector(n)`,
    /// whose dimensions come from its modifier).
    pub fn named(name: &str) -> Option<PrintedType> {
        Some(match name {
            "tsvector" => PrintedType::TsVector,
            "int4range" => PrintedType::Int4Range,
            "int8range" => PrintedType::Int8Range,
            "numrange" => PrintedType::NumRange,
            "daterange" => PrintedType::DateRange,
            "tsrange" => PrintedType::TsRange,
            "tstzrange" => PrintedType::TstzRange,
            "inet" => PrintedType::Inet,
            "cidr" => PrintedType::Cidr,
            _ => return None,
        })
    }

    /// The type's name in `pg_type` (`udt_name`).
    pub fn udt_name(self) -> &'static str {
        match self {
            PrintedType::TsVector => "tsvector",
            PrintedType::Int4Range => "int4range",
            PrintedType::Int8Range => "int8range",
            PrintedType::NumRange => "numrange",
            PrintedType::DateRange => "daterange",
            PrintedType::TsRange => "tsrange",
            PrintedType::TstzRange => "tstzrange",
            PrintedType::Inet => "inet",
            PrintedType::Cidr => "cidr",
            PrintedType::Vector(_) => "vector",
            PrintedType::Geometry(column) if column.geography => "geography",
            PrintedType::Geometry(_) => "geometry",
        }
    }

    /// The range type it is, for the range types.
    pub fn range(self) -> Option<crate::store::range::RangeType> {
        crate::store::range::RangeType::named(self.udt_name())
    }
}

impl PgType {
    /// The range type it is, for the range types.
    pub fn range(&self) -> Option<crate::store::range::RangeType> {
        match self {
            PgType::Printed(printed) => printed.range(),
            _ => None,
        }
    }

    /// The type's name in `pg_type` (`int4`, `_text`, `timestamptz`).
    pub fn typname(&self) -> String {
        match self {
            PgType::Uuid => "uuid".into(),
            PgType::Text => "text".into(),
            PgType::Varchar(_) => "varchar".into(),
            PgType::Char(_) => "bpchar".into(),
            PgType::SmallInt => "int2".into(),
            PgType::Integer => "int4".into(),
            PgType::BigInt => "int8".into(),
            PgType::Boolean => "bool".into(),
            PgType::Numeric | PgType::Decimal { .. } => "numeric".into(),
            PgType::Real => "float4".into(),
            PgType::Double => "float8".into(),
            PgType::Date => "date".into(),
            PgType::Time => "time".into(),
            PgType::Timestamp => "timestamp".into(),
            PgType::Timestamptz => "timestamptz".into(),
            PgType::Interval => "interval".into(),
            PgType::Json => "json".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Array(element) => format!("_{}", element.typname()),
            PgType::Enum(name) => name.name.clone(),
            PgType::Printed(printed) => printed.udt_name().into(),
        }
    }

    /// The type's name as Postgres prints it (`format_type`), e.g. `timestamp with time zone`.
    pub fn pg_name(&self) -> String {
        match self {
            PgType::Uuid => "uuid".into(),
            PgType::Text => "text".into(),
            PgType::Varchar(_) => "character varying".into(),
            PgType::Char(_) => "character".into(),
            PgType::SmallInt => "smallint".into(),
            PgType::Integer => "integer".into(),
            PgType::BigInt => "bigint".into(),
            PgType::Boolean => "boolean".into(),
            PgType::Numeric | PgType::Decimal { .. } => "numeric".into(),
            PgType::Real => "real".into(),
            PgType::Double => "double precision".into(),
            PgType::Date => "date".into(),
            PgType::Time => "time without time zone".into(),
            PgType::Timestamp => "timestamp without time zone".into(),
            PgType::Timestamptz => "timestamp with time zone".into(),
            PgType::Interval => "interval".into(),
            PgType::Json => "json".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Array(element) => format!("{}[]", element.pg_name()),
            PgType::Enum(name) => name.name.clone(),
            PgType::Printed(printed) => printed.udt_name().into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UniqueConstraint {
    pub name: String,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForeignKey {
    /// Constraint name; Postgres's default is `{table}_{column}_fkey`.
    pub name: String,
    pub columns: Vec<String>,
    pub referenced_table: QualifiedName,
    pub referenced_columns: Vec<String>,
    pub on_delete: ReferentialAction,
    pub on_update: ReferentialAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReferentialAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckConstraint {
    /// Constraint name; Postgres's default is `{table}_{column}_check`.
    pub name: String,
    /// The Postgres expression as written.
    pub expression: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    pub permissive: bool,
    pub command: PolicyCommand,
    /// Roles the policy applies to; `public` (every role) when the migration names none.
    pub roles: Vec<String>,
    /// The Postgres `using (…)` expression as written.
    pub using: Option<String>,
    /// The Postgres `with check (…)` expression as written.
    pub with_check: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyCommand {
    All,
    Select,
    Insert,
    Update,
    Delete,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Function {
    pub name: QualifiedName,
    pub arguments: Vec<FunctionArgument>,
    pub returns: FunctionReturn,
    pub language: FunctionLanguage,
    pub volatility: Volatility,
    pub security_definer: bool,
    /// The body as written in the migration (between the dollar quotes).
    pub body: String,
    /// The body translated for SQLite: for `language sql`, its statements with the arguments
    /// as named parameters (`:name`); for trigger functions, the trigger's statements.
    #[serde(default)]
    pub sqlite_body: Option<String>,
    /// A plpgsql body, parsed once when the migration created the function.
    #[serde(default)]
    pub program: Option<crate::plpgsql::Program>,
    /// A `security invoker` function's body as each API role runs it, under that role's
    /// policies and privileges (`rest::invoker::prepare`, once all migrations are applied);
    /// empty for `security definer` functions, which always run as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub invoked: BTreeMap<String, Invoked>,
    /// The planner's estimate of the rows it returns (`rows 1`): a set-returning function
    /// estimated at one row is a to-one computed relationship, as PostgREST reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// What an invoker function runs as one role: its statements rewritten under that role's
/// policies, or why they cannot be (calling it as that role then fails with 42501).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Invoked {
    /// A `language sql` body: SQLite statements joined by `;\n`, arguments as `:name`.
    Body(String),
    /// A plpgsql body.
    Program(crate::plpgsql::Program),
    Refused(String),
}

impl Function {
    /// What this invoker function runs as `role`: its body as `rest::invoker::prepare` made it
    /// for that role, or why it cannot run as that role (the message of the 42501 it raises).
    pub fn run_as(&self, role: &str) -> Result<&Invoked, String> {
        match self.invoked.get(role) {
            Some(Invoked::Refused(reason)) if reason.starts_with("permission denied") => {
                Err(reason.clone())
            }
            Some(Invoked::Refused(reason)) => Err(format!(
                "function {}() cannot run under the caller's policies: {reason}",
                self.name
            )),
            Some(invoked) => Ok(invoked),
            None => Err(format!(
                "function {}() was not prepared to run as {role}",
                self.name
            )),
        }
    }

    /// The overload's identity as Postgres prints a `regprocedure`, with `pg_type` names:
    /// `public.is_member(uuid, int4)`. Calls through the store name the function by it.
    pub fn signature(&self) -> String {
        let types: Vec<String> = self
            .arguments
            .iter()
            .map(FunctionArgument::typname)
            .collect();
        format!("{}({})", self.name, types.join(", "))
    }

    /// Whether both take the same argument types, which makes them the same overload.
    pub fn same_arguments(&self, other: &Function) -> bool {
        self.arguments.len() == other.arguments.len()
            && self
                .arguments
                .iter()
                .zip(&other.arguments)
                .all(|(mine, theirs)| mine.typname() == theirs.typname())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionArgument {
    pub name: String,
    pub pg_type: PgType,
    /// The default expression as written, when the argument may be omitted.
    pub default: Option<String>,
    /// A table's (or view's) row type (`f(t todos)`): the row is passed as a JSON object of
    /// its columns, `pg_type` is then jsonb.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<QualifiedName>,
    /// The type as a PostgreSQL database prints it (`format_type`), when read from its
    /// catalog: a call there casts the argument to it, whatever `pg_type` the planner reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_type: Option<String>,
    /// `variadic v text[]`: called with `VARIADIC`, its values an array (read from a
    /// PostgreSQL catalog).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub variadic: bool,
}

impl FunctionArgument {
    /// The argument type's name in `pg_type`: a row type is named after its table.
    pub fn typname(&self) -> String {
        match &self.row {
            Some(table) if table.schema == "public" => table.name.clone(),
            Some(table) => table.to_string(),
            None => self.pg_type.typname(),
        }
    }

    /// An argument declared without a name (`f(int)`), known by its position (`$1`).
    pub fn unnamed(&self) -> bool {
        self.name.starts_with('$')
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FunctionReturn {
    Void,
    Scalar(PgType),
    /// `returns setof some_table` or `returns some_table` (`set` tells which).
    Rows {
        table: QualifiedName,
        set: bool,
    },
    /// `returns setof text` (any scalar type): one value per row.
    SetOf(PgType),
    /// `returns table (…)`, or `returns setof record` with OUT parameters.
    Table(Vec<(String, PgType)>),
    /// One row of OUT parameters (`returns record`); with one OUT parameter, its value.
    Record(Vec<(String, PgType)>),
    Trigger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FunctionLanguage {
    Sql,
    Plpgsql,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trigger {
    pub name: String,
    pub table: QualifiedName,
    /// e.g. `after insert`; the events as written.
    pub timing: String,
    pub events: Vec<String>,
    pub for_each_row: bool,
    pub function: QualifiedName,
    /// The arguments written after the function's name (`TG_ARGV`).
    #[serde(default)]
    pub args: Vec<String>,
    /// The `when (…)` condition as written.
    #[serde(default)]
    pub when: Option<String>,
}

/// Maps keyed by `QualifiedName` are stored as `[key, value]` pairs: JSON keys must be strings.
mod qualified_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::QualifiedName;

    pub fn serialize<S: Serializer, V: Serialize>(
        map: &BTreeMap<QualifiedName, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>, V: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<QualifiedName, V>, D::Error> {
        Ok(Vec::<(QualifiedName, V)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }

    /// The functions' map: each name with its overloads. A database written before overloads
    /// were kept holds one function per name, which reads as its only overload.
    pub mod overloads {
        use std::collections::BTreeMap;

        use serde::{Deserialize, Deserializer, Serializer};

        use super::super::{Function, QualifiedName};

        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Overloads(Vec<Function>),
            One(Box<Function>),
        }

        pub fn serialize<S: Serializer>(
            map: &BTreeMap<QualifiedName, Vec<Function>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            super::serialize(map, serializer)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<BTreeMap<QualifiedName, Vec<Function>>, D::Error> {
            let stored: BTreeMap<QualifiedName, Stored> = super::deserialize(deserializer)?;
            Ok(stored
                .into_iter()
                .map(|(name, stored)| match stored {
                    Stored::Overloads(overloads) => (name, overloads),
                    Stored::One(function) => (name, vec![*function]),
                })
                .collect())
        }
    }
}
