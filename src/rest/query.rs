//! Query: a `Plan` as SQL text with bound parameters for one store `Dialect` (SQLite now).
//! Response JSON is built in SQL, as PostgREST does: one JSON object per row, typed as Postgres
//! would send it, aggregated into an array per set, embeds as correlated subqueries. Every
//! relation that appears — top level, embeds, junctions, `!inner` tests, mutation targets —
//! takes its row-level-security predicate from `authorize::row_filter`. Rejects nothing the
//! planner accepted except aggregates mixed with columns (PGRST123) and policies that cannot
//! be translated.

use super::authorize::{self, Clause};
use super::error::RestError;
use super::invoker;
use super::plan::*;
use super::request::{ContainOperator, IsValue, JsonKey, JsonStep, Quantifier, Resolution};
use super::values::Literal;
use crate::auth::Caller;
use crate::migrate::expression::{substitute_calls, substitute_parameters, translate_expr_text};
use crate::schema::{
    Column, PgType, PolicyCommand, PrintedType, QualifiedName, SchemaCache, Table, TableKind,
    Volatility,
};
use crate::store::functions::{CLAIM_FUNCTIONS, claim_value};
use crate::store::naming::{quote_ident, quote_literal, table_ident};
use crate::store::range::RangeType;

/// SQL text and its positional parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Literal>,
}

impl Sql {
    /// The parameters with `?1` set to `value`: statements over affected rows take their rowids
    /// (a JSON array) there, known only once the write has run.
    pub fn params_with_first(&self, value: Literal) -> Vec<Literal> {
        let mut params = self.params.clone();
        params[0] = value;
        params
    }
}

/// The statements one plan runs.
#[derive(Debug)]
pub enum Query {
    /// `rows` answers `(json array, rows returned)`; `count`, when asked, the total.
    Read {
        rows: Sql,
        count: Option<Sql>,
    },
    Write(Write),
    Call(CallQuery),
}

/// A mutation: statements returning the rowids they touch, then statements over those rowids
/// (bound as a JSON array to `?1`).
#[derive(Debug)]
pub struct Write {
    pub statements: Vec<WriteStatement>,
    /// DELETE: removes the rowids after their representation has been read.
    pub delete: Option<Sql>,
    /// The number of rowids whose new row fails the policies' `with check` (for an upsert: of
    /// the rows it inserted).
    pub check: Option<Sql>,
    /// For an upsert: the number of rowids it updated whose new row fails the UPDATE `with
    /// check` or the SELECT policies, as Postgres checks `on conflict do update`.
    pub conflict_check: Option<Sql>,
    /// `(json array, count)` of the rows.
    pub rows: Sql,
    /// The query string locating the first row (`id=eq.1`), for `return=headers-only`.
    pub location: Option<Sql>,
    /// For a table's UPDATE, and an upsert's rows that updated: moves the row `?1` to the end of
    /// the table and returns its new rowid. Postgres writes an updated row as a new version at
    /// the end of the heap, and a read asking for no order answers rows in that order.
    pub to_end: Option<Sql>,
    /// PATCH: every row the statements return is an existing one, updated.
    pub updates: bool,
}

#[derive(Debug)]
pub struct WriteStatement {
    /// Returns one rowid per affected row.
    pub sql: Sql,
    /// For `merge-duplicates`: whether the row to upsert already exists (answers 0 or 1).
    pub exists: Option<Sql>,
    /// For inserts: 1 when the row as proposed (values and defaults) fails the INSERT `with
    /// check`. Postgres checks it first: before any constraint, and before an upsert's update.
    pub proposed: Option<Sql>,
    /// For `merge-duplicates`: the number of existing rows with the row's key that the caller
    /// may not update (UPDATE and SELECT `using`); Postgres refuses such an upsert.
    pub existing: Option<Sql>,
    /// The values written, by column, to explain a constraint violation.
    pub values: Vec<(String, Literal)>,
}

/// An RPC: the body's leading statements, then its result.
#[derive(Debug)]
pub struct CallQuery {
    pub setup: Vec<Sql>,
    pub result: CallOutput,
    /// Runs on a read-only connection (GET/HEAD calls of stable functions).
    pub read_only: bool,
}

/// The TEMP table holding the rows a writing RPC body returned (`CallOutput::Rows`).
pub const RETURNED: &str = "_solobase_returned";

#[derive(Debug)]
pub enum CallOutput {
    /// Run the last statement for its effect (a void function may have an empty body).
    Void(Option<Sql>),
    /// The first column of the first row of the last statement.
    Scalar(Sql, PgType),
    /// The first column of each row of the last statement, as a JSON array.
    Scalars(Sql, PgType),
    /// `(json array, rows)` over the last statement's rows, and the total when counted.
    Rows {
        rows: Sql,
        count: Option<Sql>,
        set: bool,
        /// A last statement that writes (`update … returning *`): SQLite cannot read it as a
        /// subquery, so its rows are kept in the TEMP table `RETURNED`, which `rows` and
        /// `count` read.
        returning: Option<Sql>,
    },
}

/// Where SQL generation differs between stores.
pub trait Dialect {
    /// A parameter placeholder, numbered from 1.
    fn placeholder(&self, number: usize) -> String;
    /// A relation's name in SQL text.
    fn relation(&self, name: &QualifiedName) -> String;
    /// The column that identifies a row for re-selection after a write.
    fn row_id(&self) -> &'static str;
    /// A JSON array (as a parameter) of row ids, as a subquery of its values.
    fn id_list(&self, placeholder: &str) -> String;
    /// A stored value of `pg_type` as SQL giving its JSON value, and whether that SQL is
    /// JSON (must be kept as JSON when nested) rather than a plain scalar.
    fn json_value(&self, sql: &str, pg_type: &PgType) -> (String, bool);
    /// `base` followed by `->`/`->>` steps.
    fn json_path(&self, base: &str, path: &[JsonStep]) -> String;
    /// Re-marks `sql`, which produced JSON text in a subquery, as JSON.
    fn as_json(&self, sql: &str) -> String;
    fn object(&self, entries: &[(String, String)]) -> String;
    /// A row as a GeoJSON Feature (PostGIS's `ST_AsGeoJSON(record)`): `geometry` is the key
    /// and stored value of its first geometry column, the other entries its properties;
    /// `None` when the dialect needs that column and the row has none.
    fn feature(
        &self,
        entries: &[(String, String)],
        geometry: Option<(&str, &str)>,
    ) -> Option<String>;
    /// The JSON array of `row` over the rows of `from_rest` (FROM … ORDER BY … LIMIT …), and
    /// their number.
    fn array_and_count(&self, row: &str, from_rest: &str) -> String;
    /// The JSON array of `row` over the rows of `from_rest`, as a nested value.
    fn array(&self, row: &str, from_rest: &str) -> String;
    /// A JSON array of the one JSON value `sql`.
    fn single_array(&self, sql: &str) -> String;
    /// Whether rows come in insertion order when ordered by `row_id` (SQLite's rowid); else
    /// a request naming no order gets the rows in whatever order the store reads them.
    fn ordered_by_row_id(&self) -> bool;
    /// `LIMIT` without a bound, for an offset alone.
    fn unlimited(&self) -> &'static str;
    fn cast(&self, sql: &str, from: &PgType, cast: Cast) -> (String, bool);
    fn pattern(&self, kind: PatternKind, sql: &str, placeholder: &str) -> String;
    fn array_contain(&self, operator: ContainOperator, sql: &str, placeholder: &str) -> String;
    fn json_contain(&self, operator: ContainOperator, sql: &str, placeholder: &str) -> String;
    /// The range operator `symbol` (`@>`, `<<`, `-|-`, `<`, …) between the stored range `sql`
    /// and the range of `kind` bound as `placeholder`.
    fn range_operator(&self, symbol: &str, kind: RangeType, sql: &str, placeholder: &str)
    -> String;
    /// A call of `computed`'s function with the row `alias` (a computed field).
    fn row_call(&self, computed: &Computed, alias: &str) -> String;
    /// The rows `computed`'s function returns for the row `parent`, as `child` with the
    /// `columns` of its table (a computed relationship).
    fn row_call_rows(
        &self,
        computed: &Computed,
        columns: &[Column],
        parent: &str,
        child: &str,
    ) -> String;
}

/// SQLite: JSON1 functions, `rowid`, and the stand-in functions of `store::functions`.
pub struct Sqlite;

impl Dialect for Sqlite {
    fn placeholder(&self, number: usize) -> String {
        format!("?{number}")
    }

    fn relation(&self, name: &QualifiedName) -> String {
        table_ident(name)
    }

    fn row_id(&self) -> &'static str {
        "rowid"
    }

    fn id_list(&self, placeholder: &str) -> String {
        format!("(SELECT value FROM json_each({placeholder}))")
    }

    fn json_value(&self, sql: &str, pg_type: &PgType) -> (String, bool) {
        match pg_type {
            PgType::Boolean => (
                format!(
                    "CASE WHEN {sql} IS NULL THEN NULL WHEN {sql} THEN json('true') ELSE json('false') END"
                ),
                true,
            ),
            PgType::Json | PgType::Jsonb | PgType::Array(_) => (format!("json({sql})"), true),
            // `numeric(p, s)` keeps its scale in JSON as Postgres prints it: 0.50.
            PgType::Decimal { scale, .. } => (
                format!("json({})", crate::store::numeric::text_sql(sql, *scale)),
                true,
            ),
            PgType::Bytea => (format!("'\\x' || lower(hex({sql}))"), false),
            // PostGIS's cast to json: a geometry is its GeoJSON (a geography stays hex EWKB).
            PgType::Printed(PrintedType::Geometry(column)) if !column.geography => {
                (format!("json(pg_geometry_json({sql}))"), true)
            }
            _ => (sql.to_owned(), false),
        }
    }

    fn json_path(&self, base: &str, path: &[JsonStep]) -> String {
        let mut sql = base.to_owned();
        for (index, step) in path.iter().enumerate() {
            let key = match &step.key {
                JsonKey::Name(name) => quote_literal(name),
                JsonKey::Index(index) => index.to_string(),
            };
            sql = format!("({sql} -> {key})");
            // `->>` gives text as Postgres does: strings unquoted, JSON null as NULL, other
            // values as their JSON text (SQLite's own `->>` would give 1 for true).
            if step.as_text && index + 1 == path.len() {
                sql = format!(
                    "CASE json_type({sql}) WHEN 'text' THEN {sql} ->> '$' WHEN 'null' THEN NULL ELSE ({sql} || '') END"
                );
            }
        }
        sql
    }

    fn as_json(&self, sql: &str) -> String {
        format!("json({sql})")
    }

    fn object(&self, entries: &[(String, String)]) -> String {
        let pairs: Vec<String> = entries
            .iter()
            .map(|(key, value)| format!("{}, {value}", quote_literal(key)))
            .collect();
        // JSONB, which stays JSON through a subquery (text would lose its JSON subtype there
        // and have to be parsed again): each row is built once and printed once, by the array.
        format!("jsonb_object({})", pairs.join(", "))
    }

    fn feature(
        &self,
        entries: &[(String, String)],
        geometry: Option<(&str, &str)>,
    ) -> Option<String> {
        let (key, sql) = geometry?;
        let properties: Vec<(String, String)> = entries
            .iter()
            .filter(|(entry, _)| entry != key)
            .cloned()
            .collect();
        Some(format!(
            "jsonb_object('type', 'Feature', 'geometry', json(pg_geojson_feature({sql})), 'properties', {})",
            self.object(&properties)
        ))
    }

    fn array_and_count(&self, row: &str, from_rest: &str) -> String {
        format!(
            "SELECT coalesce(json_group_array(_row), json('[]')), count(*) FROM (SELECT {row} AS _row {from_rest})"
        )
    }

    fn array(&self, row: &str, from_rest: &str) -> String {
        format!(
            "SELECT coalesce(json_group_array(_row), json('[]')) FROM (SELECT {row} AS _row {from_rest})"
        )
    }

    fn single_array(&self, sql: &str) -> String {
        format!("json_array({sql})")
    }

    fn ordered_by_row_id(&self) -> bool {
        true
    }

    fn unlimited(&self) -> &'static str {
        "LIMIT -1"
    }

    fn cast(&self, sql: &str, from: &PgType, cast: Cast) -> (String, bool) {
        match (cast, from) {
            (Cast::Text, PgType::Boolean) => (
                format!(
                    "CASE WHEN {sql} IS NULL THEN NULL WHEN {sql} THEN 'true' ELSE 'false' END"
                ),
                false,
            ),
            (Cast::Text, PgType::Decimal { scale, .. }) => {
                (crate::store::numeric::text_sql(sql, *scale), false)
            }
            (Cast::Text, _) => (format!("CAST({sql} AS TEXT)"), false),
            (Cast::Integer, _) => (format!("CAST({sql} AS INTEGER)"), false),
            (Cast::Numeric, _) => (format!("CAST({sql} AS NUMERIC)"), false),
            (Cast::Boolean, _) => self.json_value(sql, &PgType::Boolean),
            (Cast::Json, PgType::Json | PgType::Jsonb | PgType::Array(_) | PgType::Boolean) => {
                self.json_value(sql, from)
            }
            (Cast::Json, PgType::Text | PgType::Varchar(_) | PgType::Char(_) | PgType::Uuid) => {
                (format!("json_quote({sql})"), true)
            }
            (Cast::Json, _) => self.json_value(sql, from),
        }
    }

    fn pattern(&self, kind: PatternKind, sql: &str, placeholder: &str) -> String {
        match kind {
            PatternKind::Like => format!("pg_like(CAST({sql} AS TEXT), {placeholder})"),
            PatternKind::Ilike => format!("pg_ilike(CAST({sql} AS TEXT), {placeholder})"),
            PatternKind::Match | PatternKind::Imatch => {
                format!("regexp({placeholder}, CAST({sql} AS TEXT))")
            }
        }
    }

    fn array_contain(&self, operator: ContainOperator, sql: &str, placeholder: &str) -> String {
        let every = |outer: &str, inner: &str| {
            format!(
                "NOT EXISTS (SELECT 1 FROM json_each({inner}) AS i WHERE i.value NOT IN (SELECT o.value FROM json_each({outer}) AS o WHERE o.value IS NOT NULL))"
            )
        };
        match operator {
            ContainOperator::Contains => {
                format!("({sql} IS NOT NULL AND {})", every(sql, placeholder))
            }
            ContainOperator::ContainedBy => {
                format!("({sql} IS NOT NULL AND {})", every(placeholder, sql))
            }
            ContainOperator::Overlaps => format!(
                "EXISTS (SELECT 1 FROM json_each({sql}) AS l JOIN json_each({placeholder}) AS r ON l.value = r.value)"
            ),
        }
    }

    fn json_contain(&self, operator: ContainOperator, sql: &str, placeholder: &str) -> String {
        match operator {
            ContainOperator::ContainedBy => format!("pg_json_contains({placeholder}, {sql})"),
            _ => format!("pg_json_contains({sql}, {placeholder})"),
        }
    }

    fn range_operator(
        &self,
        symbol: &str,
        kind: RangeType,
        sql: &str,
        placeholder: &str,
    ) -> String {
        format!(
            "pg_range_op('{symbol}', '{}', {sql}, {placeholder})",
            kind.name()
        )
    }

    /// Through the runtime's `pg_call`, the row as the JSON object a row-typed argument is
    /// bound as.
    fn row_call(&self, computed: &Computed, alias: &str) -> String {
        let fields: Vec<String> = computed
            .columns
            .iter()
            .map(|column| format!("{}, {alias}.{}", quote_literal(column), quote_ident(column)))
            .collect();
        format!(
            "pg_call({}, json_object({}))",
            quote_literal(&computed.signature),
            fields.join(", ")
        )
    }

    /// The call answers a JSON array of row objects.
    fn row_call_rows(
        &self,
        computed: &Computed,
        columns: &[Column],
        parent: &str,
        child: &str,
    ) -> String {
        let selected: Vec<String> = columns
            .iter()
            .map(|column| {
                let path = format!("$.\"{}\"", column.name.replace('"', "\\\""));
                format!(
                    "json_extract(value, {}) AS {}",
                    quote_literal(&path),
                    quote_ident(&column.name)
                )
            })
            .collect();
        format!(
            "(SELECT {} FROM json_each({})) AS {child}",
            selected.join(", "),
            self.row_call(computed, parent)
        )
    }
}

/// The table a write's command returns its rows as, for `returning_write`.
const WRITTEN: &str = "_written";

/// For a store whose writes return their rows and apply their own policies (PostgreSQL): the
/// one statement of a write — its command in a `WITH` returning the rows it wrote, then the
/// `(json array, count)` of those rows shaped as `select=` asks.
pub fn returning_write(
    plan: &Plan,
    schema: &SchemaCache,
    caller: &Caller,
    dialect: &dyn Dialect,
) -> Result<Sql, RestError> {
    let mut builder = Builder::new(dialect, schema, caller);
    let (command, returning) = match plan {
        Plan::Insert(insert) => (builder.insert_command(insert), &insert.returning),
        Plan::Update(update) => (builder.update_command(update)?, &update.returning),
        Plan::Delete(delete) => (builder.delete_command(delete)?, &delete.returning),
        Plan::Read(_) | Plan::Call(_) => return Err(RestError::internal("not a write")),
    };
    let alias = builder.alias();
    let object = builder.row(&returning.shape, &alias, returning.features)?;
    let from = format!("FROM {WRITTEN} AS {alias}");
    let rows = builder.finish(dialect.array_and_count(&object, &from));
    Ok(Sql {
        text: format!("WITH {WRITTEN} AS ({command}) {}", rows.text),
        params: rows.params,
    })
}

/// For a store that runs functions itself (PostgreSQL): an RPC as one call of the function in
/// SQL, `"schema"."fn"("a" := CAST($1 AS integer), …)` (an omitted argument takes its default,
/// an unnamed one goes by position), answering JSON: a scalar's value, a set of scalars as an
/// array, rows shaped, filtered, ordered and paged as a read's. It runs read-only unless it
/// is a volatile function called by POST, as PostgREST runs it.
pub fn native_call(
    call: &Call,
    schema: &SchemaCache,
    caller: &Caller,
    dialect: &dyn Dialect,
) -> Result<CallQuery, RestError> {
    let mut builder = Builder::new(dialect, schema, caller);
    let result = match &call.result {
        CallResult::Void => {
            let text = format!("SELECT {}", builder.invocation(call));
            CallOutput::Void(Some(builder.finish(text)))
        }
        CallResult::Scalar(pg_type) => {
            let text = format!("SELECT to_json({})", builder.invocation(call));
            CallOutput::Scalar(builder.finish(text), pg_type.clone())
        }
        CallResult::Scalars(pg_type) => {
            let text = format!(
                "SELECT to_json(_value) FROM {} AS _value",
                builder.invocation(call)
            );
            CallOutput::Scalars(builder.finish(text), pg_type.clone())
        }
        CallResult::Rows { shape, set } => {
            let from = format!("(SELECT * FROM {})", builder.invocation(call));
            let rows = builder.rows(shape, &from, false)?;
            let from = format!("(SELECT * FROM {})", builder.invocation(call));
            let count = Some(builder.count(shape, &from)?);
            CallOutput::Rows {
                rows,
                count,
                set: *set,
                returning: None,
            }
        }
    };
    Ok(CallQuery {
        setup: Vec::new(),
        result,
        read_only: call.read_only || call.function.volatility != Volatility::Volatile,
    })
}

/// The statements for `plan`, restricted by the caller's policies.
pub fn to_sql(
    plan: &Plan,
    schema: &SchemaCache,
    caller: &Caller,
    dialect: &dyn Dialect,
) -> Result<Query, RestError> {
    let mut builder = Builder::new(dialect, schema, caller);
    match plan {
        Plan::Read(read) => {
            let from = builder.relation(&read.shape.table)?;
            let rows = builder.rows(&read.shape, &from, read.features)?;
            let count = if read.count {
                let from = builder.relation(&read.shape.table)?;
                Some(builder.count(&read.shape, &from)?)
            } else {
                None
            };
            Ok(Query::Read { rows, count })
        }
        Plan::Insert(insert) => builder.insert(insert).map(Query::Write),
        Plan::Update(update) => builder.update(update).map(Query::Write),
        Plan::Delete(delete) => builder.delete(delete).map(Query::Write),
        Plan::Call(call) => builder.call(call).map(Query::Call),
    }
}

struct Builder<'d> {
    dialect: &'d dyn Dialect,
    schema: &'d SchemaCache,
    caller: &'d Caller,
    params: Vec<Literal>,
    /// The claim stand-ins bound in the current statement, with their placeholders.
    claims: Vec<(String, String)>,
    aliases: usize,
}

impl<'d> Builder<'d> {
    fn new(dialect: &'d dyn Dialect, schema: &'d SchemaCache, caller: &'d Caller) -> Self {
        Self {
            dialect,
            schema,
            caller,
            params: Vec::new(),
            claims: Vec::new(),
            aliases: 0,
        }
    }

    fn bind(&mut self, value: Literal) -> String {
        self.params.push(value);
        self.dialect.placeholder(self.params.len())
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("t{}", self.aliases)
    }

    fn finish(&mut self, text: String) -> Sql {
        self.claims.clear();
        Sql {
            text,
            params: std::mem::take(&mut self.params),
        }
    }

    /// Starts a statement over affected rows: `?1` is their rowids.
    fn over_rowids(&mut self) -> String {
        self.bind(Literal::Null)
    }

    fn column(&self, alias: &str, expr: &Expr) -> String {
        let value = match &expr.computed {
            Some(computed) => self.dialect.row_call(computed, alias),
            None => format!("{alias}.{}", quote_ident(&expr.column)),
        };
        self.dialect.json_path(&value, &expr.path)
    }

    /// The caller's policy predicate for `table` (over its bare columns), with the claims it
    /// reads bound as parameters of this statement; `None` when the caller is not restricted.
    fn policy(
        &mut self,
        table: &Table,
        command: PolicyCommand,
        clause: Clause,
    ) -> Result<Option<String>, RestError> {
        let Some(predicate) =
            authorize::row_filter(self.schema, table, command, clause, self.caller)?
        else {
            return Ok(None);
        };
        let names = CLAIM_FUNCTIONS.map(|(name, _)| name);
        Ok(Some(substitute_calls(&predicate, &names, |name| {
            self.claim(name)
        })))
    }

    /// What a read of `table` selects from: the relation, or for a `security_invoker` view
    /// its definition under the caller's policies (claims bound in this statement).
    fn relation(&mut self, table: &Table) -> Result<String, RestError> {
        match authorize::view_source(self.schema, table, self.caller)? {
            Some(sql) => {
                let names = CLAIM_FUNCTIONS.map(|(name, _)| name);
                Ok(substitute_calls(&sql, &names, |name| self.claim(name)))
            }
            None => Ok(self.dialect.relation(&table.name)),
        }
    }

    /// The placeholder holding what the claim stand-in `function` answers for the caller,
    /// bound once per statement.
    fn claim(&mut self, function: &str) -> String {
        if let Some((_, placeholder)) = self.claims.iter().find(|(name, _)| name == function) {
            return placeholder.clone();
        }
        let claim = CLAIM_FUNCTIONS
            .iter()
            .find(|(name, _)| *name == function)
            .and_then(|(_, claim)| *claim);
        let value =
            claim_value(Some(&self.caller.claims), claim).map_or(Literal::Null, Literal::Text);
        let placeholder = self.bind(value);
        self.claims.push((function.to_owned(), placeholder.clone()));
        placeholder
    }

    /// `FROM` item for the rows of `table` (read from `from`, the relation or a subquery) as
    /// `alias` that the caller's `command` policy lets through:
    /// `(SELECT * FROM from AS name WHERE predicate) AS alias`. SQLite flattens it into the
    /// outer query, so the predicate is a plain term of its `WHERE`, using indexes exactly as
    /// an explicit filter does, while inside it bare columns and `name.column` mean the row, as
    /// they do in the policy. `rowid` keeps the row id visible for statements over it.
    fn source(
        &mut self,
        table: &Table,
        from: &str,
        alias: &str,
        command: PolicyCommand,
        rowid: bool,
    ) -> Result<String, RestError> {
        let Some(predicate) = self.policy(table, command, Clause::Using)? else {
            return Ok(format!("{from} AS {alias}"));
        };
        let columns = if rowid {
            format!("{}, *", self.dialect.row_id())
        } else {
            "*".to_owned()
        };
        Ok(format!(
            "(SELECT {columns} FROM {from} AS {} WHERE {predicate}) AS {alias}",
            quote_ident(&table.name.name)
        ))
    }

    /// Whether the one row of `table` as `alias` passes the caller's policy: the predicate
    /// over that row's columns, for tests of a row already pinned by its id or key.
    fn row_test(
        &mut self,
        table: &Table,
        alias: &str,
        command: PolicyCommand,
        clause: Clause,
    ) -> Result<Option<String>, RestError> {
        let Some(predicate) = self.policy(table, command, clause)? else {
            return Ok(None);
        };
        // Policies name bare columns (or `table.column`); give them this row under both names.
        let columns: Vec<String> = table
            .columns
            .iter()
            .map(|column| {
                let name = quote_ident(&column.name);
                format!("{alias}.{name} AS {name}")
            })
            .collect();
        Ok(Some(format!(
            "EXISTS (SELECT 1 FROM (SELECT {}) AS {} WHERE {predicate})",
            columns.join(", "),
            quote_ident(&table.name.name)
        )))
    }

    /// `WHERE` terms for the rows of `shape` as `alias`: its filters and embed presence tests
    /// (the SELECT policy is in its `source`).
    fn conditions(&mut self, shape: &Shape, alias: &str) -> Result<Vec<String>, RestError> {
        let mut terms = Vec::new();
        for condition in &shape.filters {
            terms.push(self.condition(alias, condition)?);
        }
        for output in &shape.outputs {
            if let Output::Embed { embed, .. } | Output::Spread(embed) = output
                && let Some(present) = embed.presence
            {
                let child = self.alias();
                let from = self.embed_from(embed, alias, &child, false)?;
                let exists = format!("EXISTS (SELECT 1 {from})");
                terms.push(if present {
                    exists
                } else {
                    format!("NOT {exists}")
                });
            }
        }
        Ok(terms)
    }

    fn condition(&mut self, alias: &str, condition: &Condition) -> Result<String, RestError> {
        let (sql, negated) = match condition {
            Condition::Test {
                expr,
                negated,
                test,
            } => (self.test(alias, expr, test), *negated),
            Condition::All { negated, children } | Condition::Any { negated, children } => {
                let joiner = if matches!(condition, Condition::All { .. }) {
                    " AND "
                } else {
                    " OR "
                };
                let parts = children
                    .iter()
                    .map(|child| self.condition(alias, child))
                    .collect::<Result<Vec<_>, _>>()?;
                let empty = if matches!(condition, Condition::All { .. }) {
                    "TRUE"
                } else {
                    "FALSE"
                };
                let sql = if parts.is_empty() {
                    empty.to_owned()
                } else {
                    join_terms(parts, joiner)
                };
                (format!("({sql})"), *negated)
            }
        };
        Ok(if negated { format!("NOT {sql}") } else { sql })
    }

    fn test(&mut self, alias: &str, expr: &Expr, test: &Test) -> String {
        let sql = self.column(alias, expr);
        match test {
            Test::Compare { operator, value } => {
                let operator = match operator {
                    Comparison::Eq => "=",
                    Comparison::Neq => "<>",
                    Comparison::Gt => ">",
                    Comparison::Gte => ">=",
                    Comparison::Lt => "<",
                    Comparison::Lte => "<=",
                    Comparison::IsDistinct => "IS DISTINCT FROM",
                };
                format!("({sql} {operator} {})", self.bind(value.clone()))
            }
            Test::Pattern {
                kind,
                quantifier,
                patterns,
            } => {
                let parts: Vec<String> = patterns
                    .iter()
                    .map(|pattern| {
                        let pattern = match kind {
                            PatternKind::Imatch => format!("(?i){pattern}"),
                            _ => pattern.clone(),
                        };
                        let placeholder = self.bind(Literal::Text(pattern));
                        self.dialect.pattern(*kind, &sql, &placeholder)
                    })
                    .collect();
                let (joiner, empty) = match quantifier {
                    Quantifier::Any => (" OR ", "FALSE"),
                    Quantifier::All => (" AND ", "TRUE"),
                };
                format!(
                    "({})",
                    if parts.is_empty() {
                        empty.to_owned()
                    } else {
                        join_terms(parts, joiner)
                    }
                )
            }
            Test::In(values) if values.is_empty() => "FALSE".into(),
            Test::In(values) => {
                let placeholders: Vec<String> = values
                    .iter()
                    .map(|value| self.bind(value.clone()))
                    .collect();
                format!("({sql} IN ({}))", placeholders.join(", "))
            }
            Test::Is(value) => match value {
                IsValue::Null | IsValue::Unknown => format!("({sql} IS NULL)"),
                IsValue::NotNull => format!("({sql} IS NOT NULL)"),
                IsValue::True => format!("({sql} IS TRUE)"),
                IsValue::False => format!("({sql} IS FALSE)"),
            },
            Test::ArrayContain { operator, json } => {
                let placeholder = self.bind(Literal::Text(json.clone()));
                self.dialect.array_contain(*operator, &sql, &placeholder)
            }
            Test::JsonContain { operator, json } => {
                let placeholder = self.bind(Literal::Text(json.clone()));
                self.dialect.json_contain(*operator, &sql, &placeholder)
            }
            Test::Range {
                symbol,
                kind,
                range,
            } => {
                let placeholder = self.bind(Literal::Text(range.clone()));
                self.dialect
                    .range_operator(symbol, *kind, &sql, &placeholder)
            }
            Test::Words { words, any, phrase } => {
                let patterns: Vec<String> = if *phrase {
                    vec![format!("%{}%", words.join(" "))]
                } else {
                    words.iter().map(|word| format!("%{word}%")).collect()
                };
                let parts: Vec<String> = patterns
                    .into_iter()
                    .map(|pattern| {
                        let placeholder = self.bind(Literal::Text(pattern));
                        self.dialect.pattern(PatternKind::Ilike, &sql, &placeholder)
                    })
                    .collect();
                let joiner = if *any { " OR " } else { " AND " };
                format!(
                    "({})",
                    if parts.is_empty() {
                        "TRUE".to_owned()
                    } else {
                        join_terms(parts, joiner)
                    }
                )
            }
        }
    }

    /// Whether rows of `shape` read from `from` come in the table's natural order: a request
    /// that names no order gets a table's rows as Postgres stores them, in insertion order,
    /// which is the order of their rowids here. A partition, a view of its parent's rows, has
    /// no rowid of its own and reads them in their parent's order.
    fn natural(&self, shape: &Shape, from: &str) -> bool {
        shape.order.is_empty()
            && self.dialect.ordered_by_row_id()
            && shape.table.kind == TableKind::Table
            && shape.table.partition_of.is_none()
            && from == self.dialect.relation(&shape.table.name)
    }

    /// `ORDER BY` for the rows of `shape` as `alias`: the request's order, else the natural
    /// one when `natural` (see `natural`; the source then keeps the rowid visible).
    fn order_by(&self, shape: &Shape, alias: &str, natural: bool) -> String {
        if shape.order.is_empty() {
            return if natural {
                format!(" ORDER BY {alias}.{}", self.dialect.row_id())
            } else {
                String::new()
            };
        }
        let terms: Vec<String> = shape
            .order
            .iter()
            .map(|order| {
                let mut sql = self.column(alias, &order.expr);
                if let Some(labels) = &order.enum_labels {
                    let cases: Vec<String> = labels
                        .iter()
                        .enumerate()
                        .map(|(index, label)| format!("WHEN {} THEN {index}", quote_literal(label)))
                        .collect();
                    sql = format!("CASE {sql} {} END", cases.join(" "));
                }
                format!(
                    "{sql} {} NULLS {}",
                    if order.descending { "DESC" } else { "ASC" },
                    if order.nulls_first { "FIRST" } else { "LAST" }
                )
            })
            .collect();
        format!(" ORDER BY {}", terms.join(", "))
    }

    fn limit(&self, shape: &Shape) -> String {
        match (shape.limit, shape.offset) {
            (Some(limit), offset) => format!(" LIMIT {limit} OFFSET {offset}"),
            (None, 0) => String::new(),
            (None, offset) => format!(" {} OFFSET {offset}", self.dialect.unlimited()),
        }
    }

    /// The JSON object of one row of `shape` as `alias`.
    fn object(&mut self, shape: &Shape, alias: &str) -> Result<String, RestError> {
        let entries = self.entries(shape, alias)?;
        let entries: Vec<(String, String)> = entries
            .into_iter()
            .map(|(key, sql, _)| (key, sql))
            .collect();
        Ok(self.dialect.object(&entries))
    }

    /// A top-level row of `shape` as `alias`: its JSON object, or its GeoJSON Feature. A row
    /// without a geometry column has no Feature: 22023 as PostGIS answers, or, without
    /// PostGIS, 42883 as Postgres answers for the missing `ST_AsGeoJSON`.
    fn row(&mut self, shape: &Shape, alias: &str, features: bool) -> Result<String, RestError> {
        if !features {
            return self.object(shape, alias);
        }
        let geometry = shape.outputs.iter().find_map(|output| match output {
            Output::Value { key, value }
                if value.cast.is_none()
                    && value.path.is_empty()
                    && matches!(value.pg_type(), PgType::Printed(PrintedType::Geometry(_))) =>
            {
                Some((key.clone(), self.column(alias, value)))
            }
            _ => None,
        });
        let entries: Vec<(String, String)> = self
            .entries(shape, alias)?
            .into_iter()
            .map(|(key, sql, _)| (key, sql))
            .collect();
        let geometry = geometry
            .as_ref()
            .map(|(key, sql)| (key.as_str(), sql.as_str()));
        self.dialect.feature(&entries, geometry).ok_or_else(|| {
            match self.schema.extensions.contains_key(crate::migrate::postgis::EXTENSION) {
                true => RestError::sql("22023", "geometry column is missing", false),
                false => RestError::sql(
                    "42883",
                    "function st_asgeojson(record) does not exist",
                    false,
                )
                .hint("No function matches the given name and argument types. You might need to add explicit type casts."),
            }
        })
    }

    /// `(key, value SQL, value is JSON)` for each entry of a row of `shape` as `alias`.
    fn entries(
        &mut self,
        shape: &Shape,
        alias: &str,
    ) -> Result<Vec<(String, String, bool)>, RestError> {
        let mut entries = Vec::new();
        for output in &shape.outputs {
            match output {
                Output::Value { key, value } => {
                    let sql = self.column(alias, value);
                    let (sql, json) = match value.cast {
                        Some(cast) => {
                            let from = Expr {
                                cast: None,
                                ..value.clone()
                            }
                            .pg_type();
                            self.dialect.cast(&sql, &from, cast)
                        }
                        None => self.dialect.json_value(&sql, &value.pg_type()),
                    };
                    entries.push((key.clone(), sql, json));
                }
                Output::Count { .. } => return Err(aggregates_refused()),
                Output::Embed { key, embed } => {
                    let sql = self.embed(embed, alias)?;
                    entries.push((key.clone(), self.dialect.as_json(&sql), true));
                }
                Output::Spread(embed) => {
                    // Each entry of the to-one row, read through its own correlated subquery.
                    let child = self.alias();
                    let inner = self.entries(&embed.shape, &child)?;
                    for (key, sql, json) in inner {
                        let from = self.embed_from(embed, alias, &child, false)?;
                        let value = format!("(SELECT {sql} {from} LIMIT 1)");
                        let value = if json {
                            self.dialect.as_json(&value)
                        } else {
                            value
                        };
                        entries.push((key, value, json));
                    }
                }
            }
        }
        Ok(entries)
    }

    /// `FROM child AS alias WHERE join AND conditions` for an embed of a row of `parent`.
    fn embed_from(
        &mut self,
        embed: &Embed,
        parent: &str,
        child: &str,
        natural: bool,
    ) -> Result<String, RestError> {
        let mut terms = match &embed.join {
            Join::Direct(pairs) => pairs
                .iter()
                .map(|(parent_column, child_column)| {
                    format!(
                        "{child}.{} = {parent}.{}",
                        quote_ident(child_column),
                        quote_ident(parent_column)
                    )
                })
                .collect(),
            Join::Junction {
                table,
                parent: to_parent,
                child: to_child,
            } => {
                let junction = self.alias();
                let on: Vec<String> = to_parent
                    .iter()
                    .map(|(parent_column, junction_column)| {
                        format!(
                            "{junction}.{} = {parent}.{}",
                            quote_ident(junction_column),
                            quote_ident(parent_column)
                        )
                    })
                    .chain(to_child.iter().map(|(junction_column, child_column)| {
                        format!(
                            "{junction}.{} = {child}.{}",
                            quote_ident(junction_column),
                            quote_ident(child_column)
                        )
                    }))
                    .collect();
                let relation = self.relation(table)?;
                let source =
                    self.source(table, &relation, &junction, PolicyCommand::Select, false)?;
                vec![format!(
                    "EXISTS (SELECT 1 FROM {source} WHERE {})",
                    on.join(" AND ")
                )]
            }
            Join::Computed(_) => Vec::new(),
        };
        terms.extend(self.conditions(&embed.shape, child)?);
        let source = match &embed.join {
            // The function's rows, which it read under the caller's policies itself.
            Join::Computed(computed) => {
                self.dialect
                    .row_call_rows(computed, &embed.shape.table.columns, parent, child)
            }
            _ => {
                let relation = self.relation(&embed.shape.table)?;
                self.source(
                    &embed.shape.table,
                    &relation,
                    child,
                    PolicyCommand::Select,
                    natural,
                )?
            }
        };
        Ok(format!("FROM {source}{}", where_clause(&terms)))
    }

    /// The JSON of an embed for a row of `parent`: an object or NULL, an array, or a count.
    fn embed(&mut self, embed: &Embed, parent: &str) -> Result<String, RestError> {
        let child = self.alias();
        if let [Output::Count { key }] = embed.shape.outputs.as_slice() {
            let from = self.embed_from(embed, parent, &child, false)?;
            let count = self.dialect.object(&[(key.clone(), "count(*)".to_owned())]);
            // A to-one embed's count is one object, as its row would be; a to-many one's is
            // an array of one.
            let count = if embed.to_one {
                count
            } else {
                self.dialect.single_array(&count)
            };
            return Ok(format!("(SELECT {count} {from})"));
        }
        let object = self.object(&embed.shape, &child)?;
        let relation = self.relation(&embed.shape.table)?;
        // A function's rows come in the order it returns them.
        let natural = !embed.to_one
            && !matches!(embed.join, Join::Computed(_))
            && self.natural(&embed.shape, &relation);
        let from = self.embed_from(embed, parent, &child, natural)?;
        if let Join::Computed(computed) = &embed.join
            && computed.one_row
        {
            let nulls: Vec<String> = embed
                .shape
                .table
                .columns
                .iter()
                .map(|column| format!("NULL AS {}", quote_ident(&column.name)))
                .collect();
            return Ok(format!(
                "coalesce((SELECT {object} {from} LIMIT 1), (SELECT {object} FROM (SELECT {}) AS {child}))",
                nulls.join(", ")
            ));
        }
        if embed.to_one {
            return Ok(format!("(SELECT {object} {from} LIMIT 1)"));
        }
        let rest = format!(
            "{from}{}{}",
            self.order_by(&embed.shape, &child, natural),
            self.limit(&embed.shape)
        );
        Ok(format!("({})", self.dialect.array(&object, &rest)))
    }

    /// `(json array, rows)` of `shape` read from `from` (a relation or a subquery), each row a
    /// Feature for `features`.
    fn rows(&mut self, shape: &Shape, from: &str, features: bool) -> Result<Sql, RestError> {
        let alias = self.alias();
        let natural = self.natural(shape, from);
        let source = self.source(&shape.table, from, &alias, PolicyCommand::Select, natural)?;
        let terms = self.conditions(shape, &alias)?;
        let from_rest = format!("FROM {source}{}", where_clause(&terms));
        let text = if let [Output::Count { key }] = shape.outputs.as_slice() {
            let count = self.dialect.object(&[(key.clone(), "count(*)".to_owned())]);
            format!(
                "SELECT {}, 1 {from_rest}",
                self.dialect.single_array(&count)
            )
        } else {
            let object = self.row(shape, &alias, features)?;
            let rest = format!(
                "{from_rest}{}{}",
                self.order_by(shape, &alias, natural),
                self.limit(shape)
            );
            self.dialect.array_and_count(&object, &rest)
        };
        Ok(self.finish(text))
    }

    /// The number of rows the filters and policy select, ignoring the range.
    fn count(&mut self, shape: &Shape, from: &str) -> Result<Sql, RestError> {
        let alias = self.alias();
        let source = self.source(&shape.table, from, &alias, PolicyCommand::Select, false)?;
        let terms = self.conditions(shape, &alias)?;
        let text = format!("SELECT count(*) FROM {source}{}", where_clause(&terms));
        Ok(self.finish(text))
    }

    /// The representation of the rowids in `?1`, in their order.
    fn representation(&mut self, returning: &Returning) -> Result<Sql, RestError> {
        let ids = self.over_rowids();
        let alias = self.alias();
        let shape = &returning.shape;
        let terms = vec![format!(
            "{alias}.{} IN {}",
            self.dialect.row_id(),
            self.dialect.id_list(&ids)
        )];
        let relation = self.dialect.relation(&shape.table.name);
        let source = self.source(&shape.table, &relation, &alias, PolicyCommand::Select, true)?;
        let object = self.row(shape, &alias, returning.features)?;
        let rest = format!("FROM {source}{}", where_clause(&terms));
        let text = self.dialect.array_and_count(&object, &rest);
        Ok(self.finish(text))
    }

    fn location(&mut self, table: &Table, columns: &[String]) -> Sql {
        let ids = self.over_rowids();
        let parts: Vec<String> = columns
            .iter()
            .map(|column| {
                format!(
                    "{} || CAST(t0.{} AS TEXT)",
                    quote_literal(&format!("{column}=eq.")),
                    quote_ident(column)
                )
            })
            .collect();
        let text = format!(
            "SELECT {} FROM {} AS t0 WHERE t0.{} = json_extract({ids}, '$[0]')",
            parts.join(" || '&' || "),
            self.dialect.relation(&table.name),
            self.dialect.row_id()
        );
        self.finish(text)
    }

    /// The count of rowids in `?1` whose row fails any of `clauses`.
    fn check(
        &mut self,
        table: &Table,
        clauses: &[(PolicyCommand, Clause)],
    ) -> Result<Option<Sql>, RestError> {
        let ids = self.over_rowids();
        let Some(failing) = self.failing(table, "t0", clauses)? else {
            self.params.clear();
            return Ok(None);
        };
        let text = format!(
            "SELECT count(*) FROM {} AS t0 WHERE t0.{} IN {} AND {failing}",
            self.dialect.relation(&table.name),
            self.dialect.row_id(),
            self.dialect.id_list(&ids)
        );
        Ok(Some(self.finish(text)))
    }

    /// A test true for a row `alias` of `table` that fails any of `clauses`, if any restricts.
    fn failing(
        &mut self,
        table: &Table,
        alias: &str,
        clauses: &[(PolicyCommand, Clause)],
    ) -> Result<Option<String>, RestError> {
        let mut passing = Vec::new();
        for (command, clause) in clauses {
            if let Some(policy) = self.row_test(table, alias, *command, *clause)? {
                passing.push(format!("coalesce({policy}, 0)"));
            }
        }
        Ok((!passing.is_empty()).then(|| format!("NOT ({})", passing.join(" AND "))))
    }

    /// 1 when `row`, completed with the column defaults, fails the INSERT `with check`.
    fn proposed(
        &mut self,
        table: &Table,
        row: &[(String, Literal)],
    ) -> Result<Option<Sql>, RestError> {
        let Some(failing) =
            self.failing(table, "t0", &[(PolicyCommand::Insert, Clause::WithCheck)])?
        else {
            return Ok(None);
        };
        let mut columns = Vec::new();
        for column in &table.columns {
            let value = match row.iter().find(|(name, _)| *name == column.name) {
                Some((_, value)) => self.bind(value.clone()),
                None => column
                    .default
                    .as_deref()
                    .and_then(|default| translate_expr_text(default).ok())
                    .map_or_else(|| "NULL".to_owned(), |sql| format!("({sql})")),
            };
            columns.push(format!("{value} AS {}", quote_ident(&column.name)));
        }
        let text = format!(
            "SELECT count(*) FROM (SELECT {}) AS t0 WHERE {failing}",
            columns.join(", ")
        );
        Ok(Some(self.finish(text)))
    }

    /// The rest of a mutation: its check, representation and location.
    fn write(
        &mut self,
        table: &Table,
        command: PolicyCommand,
        statements: Vec<WriteStatement>,
        delete: Option<Sql>,
        returning: &Returning,
    ) -> Result<Write, RestError> {
        let conflict_check = if statements.iter().any(|s| s.existing.is_some()) {
            self.check(
                table,
                &[
                    (PolicyCommand::Update, Clause::WithCheck),
                    (PolicyCommand::Select, Clause::Using),
                ],
            )?
        } else {
            None
        };
        // A table whose key is its rowid keeps its rows in key order, as SQLite stores it.
        let movable = table.kind == TableKind::Table && !table.key_is_rowid();
        let to_end = (command != PolicyCommand::Delete && movable).then(|| {
            let relation = self.dialect.relation(&table.name);
            Sql {
                text: format!(
                    "UPDATE {relation} SET rowid = (SELECT max(rowid) FROM {relation}) + 1 \
                     WHERE rowid = ?1 RETURNING rowid"
                ),
                params: vec![Literal::Null],
            }
        });
        Ok(Write {
            statements,
            delete,
            to_end,
            updates: command == PolicyCommand::Update,
            check: match command {
                PolicyCommand::Insert | PolicyCommand::Update => {
                    self.check(table, &[(command, Clause::WithCheck)])?
                }
                _ => None,
            },
            conflict_check,
            rows: self.representation(returning)?,
            location: returning
                .location
                .as_ref()
                .map(|columns| self.location(table, columns)),
        })
    }

    fn insert(&mut self, insert: &Insert) -> Result<Write, RestError> {
        let table = insert.table;
        let target = self.dialect.relation(&table.name);
        let mut statements = Vec::new();
        for row in &insert.rows {
            let merging = insert
                .conflict
                .as_ref()
                .filter(|conflict| conflict.resolution == Resolution::MergeDuplicates);
            let exists = match merging {
                Some(conflict) => self.same_key(conflict, row).map(|terms| {
                    let text =
                        format!("SELECT EXISTS (SELECT 1 FROM {target} AS t0 WHERE {terms})");
                    self.finish(text)
                }),
                None => None,
            };
            let existing = match merging.filter(|conflict| !conflict.update.is_empty()) {
                Some(conflict) => match self.same_key(conflict, row) {
                    Some(terms) => {
                        let failing = self.failing(
                            table,
                            "t0",
                            &[
                                (PolicyCommand::Update, Clause::Using),
                                (PolicyCommand::Select, Clause::Using),
                            ],
                        )?;
                        match failing {
                            Some(failing) => {
                                let text = format!(
                                    "SELECT count(*) FROM {target} AS t0 WHERE {terms} AND {failing}"
                                );
                                Some(self.finish(text))
                            }
                            None => {
                                self.params.clear();
                                None
                            }
                        }
                    }
                    None => None,
                },
                None => None,
            };
            let proposed = self.proposed(table, row)?;
            let text = if row.is_empty() {
                format!(
                    "INSERT INTO {target} DEFAULT VALUES RETURNING {}",
                    self.dialect.row_id()
                )
            } else {
                let columns: Vec<String> =
                    row.iter().map(|(column, _)| quote_ident(column)).collect();
                let values: Vec<String> = row
                    .iter()
                    .map(|(column, value)| {
                        let value = self.bind(value.clone());
                        match table.column(column).and_then(|c| c.sequence.as_ref()) {
                            Some(sequence) if insert.evaluates_defaults => format!(
                                "(SELECT {value} WHERE nextval({}) IS NOT NULL)",
                                quote_literal(&format!(
                                    "{}.{}",
                                    quote_ident(&sequence.name.schema),
                                    quote_ident(&sequence.name.name)
                                ))
                            ),
                            _ => value,
                        }
                    })
                    .collect();
                let conflict = match &insert.conflict {
                    Some(conflict) => self.conflict(table, conflict)?,
                    None => String::new(),
                };
                format!(
                    "INSERT INTO {target} ({}) VALUES ({}){conflict} RETURNING {}",
                    columns.join(", "),
                    values.join(", "),
                    self.dialect.row_id()
                )
            };
            statements.push(WriteStatement {
                sql: self.finish(text),
                exists,
                proposed,
                existing,
                values: row.clone(),
            });
        }
        self.write(
            table,
            PolicyCommand::Insert,
            statements,
            None,
            &insert.returning,
        )
    }

    /// `t0.key = value AND …` for the conflict target, when `row` gives every key column.
    fn same_key(&mut self, conflict: &Conflict, row: &[(String, Literal)]) -> Option<String> {
        let mut terms = Vec::new();
        for column in &conflict.target {
            let (_, value) = row.iter().find(|(name, _)| name == column)?;
            terms.push(format!(
                "t0.{} = {}",
                quote_ident(column),
                self.bind(value.clone())
            ));
        }
        Some(terms.join(" AND "))
    }

    fn conflict(&mut self, table: &Table, conflict: &Conflict) -> Result<String, RestError> {
        let target: Vec<String> = conflict
            .target
            .iter()
            .map(|column| quote_ident(column))
            .collect();
        let target = target.join(", ");
        // A payload column a row leaves out takes its default there (`missing=default`), and
        // so in `excluded`, as PostgREST merges it.
        let updates: Vec<String> = conflict
            .update
            .iter()
            .map(|column| format!("{0} = excluded.{0}", quote_ident(column)))
            .collect();
        if conflict.resolution == Resolution::IgnoreDuplicates || updates.is_empty() {
            return Ok(format!(" ON CONFLICT ({target}) DO NOTHING"));
        }
        // An upsert may only overwrite rows the caller could update.
        let relation = self.dialect.relation(&table.name);
        let guard = match self.row_test(table, &relation, PolicyCommand::Update, Clause::Using)? {
            Some(policy) => format!(" WHERE {policy}"),
            None => String::new(),
        };
        Ok(format!(
            " ON CONFLICT ({target}) DO UPDATE SET {}{guard}",
            updates.join(", ")
        ))
    }

    /// `SELECT rowid` of the rows `filters` and the policy for `command` select.
    fn matching(
        &mut self,
        table: &Table,
        filters: &[Condition],
        command: PolicyCommand,
    ) -> Result<String, RestError> {
        let alias = self.alias();
        let relation = self.dialect.relation(&table.name);
        let source = self.source(table, &relation, &alias, command, true)?;
        let mut terms = Vec::new();
        for condition in filters {
            terms.push(self.condition(&alias, condition)?);
        }
        Ok(format!(
            "SELECT {alias}.{} FROM {source}{}",
            self.dialect.row_id(),
            where_clause(&terms)
        ))
    }

    /// `INSERT … RETURNING *` of every payload row, a column a row leaves out taking its
    /// default, with the upsert's `ON CONFLICT` clause.
    fn insert_command(&mut self, insert: &Insert) -> String {
        let relation = self.dialect.relation(&insert.table.name);
        let mut columns: Vec<&String> = Vec::new();
        for (column, _) in insert.rows.iter().flatten() {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
        if columns.is_empty() {
            return format!(
                "INSERT INTO {relation} SELECT FROM generate_series(1, {}) RETURNING *",
                insert.rows.len()
            );
        }
        let rows: Vec<String> = insert
            .rows
            .iter()
            .map(|row| {
                let values: Vec<String> = columns
                    .iter()
                    .map(
                        |column| match row.iter().find(|(name, _)| name == *column) {
                            Some((_, value)) => self.bind(value.clone()),
                            None => "DEFAULT".to_owned(),
                        },
                    )
                    .collect();
                format!("({})", values.join(", "))
            })
            .collect();
        let conflict = match &insert.conflict {
            None => String::new(),
            Some(conflict) => {
                let target: Vec<String> = conflict.target.iter().map(|c| quote_ident(c)).collect();
                let action = match conflict.resolution {
                    Resolution::MergeDuplicates if !conflict.update.is_empty() => {
                        let sets: Vec<String> = conflict
                            .update
                            .iter()
                            .map(|column| {
                                let column = quote_ident(column);
                                format!("{column} = EXCLUDED.{column}")
                            })
                            .collect();
                        format!("DO UPDATE SET {}", sets.join(", "))
                    }
                    _ => "DO NOTHING".to_owned(),
                };
                format!(" ON CONFLICT ({}) {action}", target.join(", "))
            }
        };
        let columns: Vec<String> = columns.iter().map(|column| quote_ident(column)).collect();
        format!(
            "INSERT INTO {relation} ({}) VALUES {}{conflict} RETURNING *",
            columns.join(", "),
            rows.join(", ")
        )
    }

    /// `UPDATE … RETURNING *` of the rows the filters match (with nothing to set, those rows).
    fn update_command(&mut self, update: &Update) -> Result<String, RestError> {
        let relation = self.dialect.relation(&update.table.name);
        let alias = self.alias();
        let assignments: Vec<String> = update
            .assignments
            .iter()
            .map(|(column, value)| {
                format!("{} = {}", quote_ident(column), self.bind(value.clone()))
            })
            .collect();
        let terms = update
            .filters
            .iter()
            .map(|condition| self.condition(&alias, condition))
            .collect::<Result<Vec<_>, _>>()?;
        let filter = where_clause(&terms);
        Ok(if assignments.is_empty() {
            format!("SELECT {alias}.* FROM {relation} AS {alias}{filter}")
        } else {
            format!(
                "UPDATE {relation} AS {alias} SET {}{filter} RETURNING {alias}.*",
                assignments.join(", ")
            )
        })
    }

    /// `DELETE … RETURNING *` of the rows the filters match.
    fn delete_command(&mut self, delete: &Delete) -> Result<String, RestError> {
        let relation = self.dialect.relation(&delete.table.name);
        let alias = self.alias();
        let terms = delete
            .filters
            .iter()
            .map(|condition| self.condition(&alias, condition))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(format!(
            "DELETE FROM {relation} AS {alias}{} RETURNING {alias}.*",
            where_clause(&terms)
        ))
    }

    fn update(&mut self, update: &Update) -> Result<Write, RestError> {
        let table = update.table;
        let assignments: Vec<String> = update
            .assignments
            .iter()
            .map(|(column, value)| {
                format!("{} = {}", quote_ident(column), self.bind(value.clone()))
            })
            .collect();
        let matching = self.matching(table, &update.filters, PolicyCommand::Update)?;
        let text = if assignments.is_empty() {
            // Nothing to set: the matching rows are the answer, unchanged.
            matching
        } else {
            format!(
                "UPDATE {} SET {} WHERE {} IN ({matching}) RETURNING {}",
                self.dialect.relation(&table.name),
                assignments.join(", "),
                self.dialect.row_id(),
                self.dialect.row_id()
            )
        };
        let statement = WriteStatement {
            sql: self.finish(text),
            exists: None,
            proposed: None,
            existing: None,
            values: update.assignments.clone(),
        };
        let mut write = self.write(
            table,
            PolicyCommand::Update,
            vec![statement],
            None,
            &update.returning,
        )?;
        if assignments.is_empty() {
            write.to_end = None;
        }
        Ok(write)
    }

    fn delete(&mut self, delete: &Delete) -> Result<Write, RestError> {
        let table = delete.table;
        let matching = self.matching(table, &delete.filters, PolicyCommand::Delete)?;
        let statement = WriteStatement {
            sql: self.finish(matching),
            exists: None,
            proposed: None,
            existing: None,
            values: Vec::new(),
        };
        let ids = self.over_rowids();
        let text = format!(
            "DELETE FROM {} WHERE {} IN {}",
            self.dialect.relation(&table.name),
            self.dialect.row_id(),
            self.dialect.id_list(&ids)
        );
        let removal = self.finish(text);
        self.write(
            table,
            PolicyCommand::Delete,
            vec![statement],
            Some(removal),
            &delete.returning,
        )
    }

    /// An RPC on SQLite: the function's translated body, its statements run in order, the last
    /// one's rows the result. A GET cannot run a volatile function there, as a read-only
    /// connection cannot tell whether it would write.
    fn call(&mut self, call: &Call) -> Result<CallQuery, RestError> {
        let function = call.function;
        if call.read_only && function.volatility == Volatility::Volatile {
            return Err(RestError::sql(
                "25006",
                "cannot execute INSERT in a read-only transaction",
                false,
            ));
        }
        let body = function.sqlite_body.as_deref().ok_or_else(|| {
            RestError::pgrst(
                "PGRST127",
                format!("The function {} cannot run on this store", function.name),
            )
        })?;
        let arguments = body_arguments(call)?;
        let statements: Vec<&str> = invoker::body(function, self.caller)?
            .unwrap_or(body)
            .split(";\n")
            .map(str::trim)
            .filter(|statement| !statement.trim_end_matches(';').trim().is_empty())
            .collect();
        let Some((last, leading)) = statements.split_last() else {
            return match call.result {
                CallResult::Void => Ok(CallQuery {
                    setup: Vec::new(),
                    result: CallOutput::Void(None),
                    read_only: call.read_only,
                }),
                _ => Err(RestError::pgrst(
                    "PGRST127",
                    format!("The function {} has an empty body", call.function.name),
                )),
            };
        };
        let mut setup = Vec::new();
        for statement in leading {
            let text = self.arguments(statement, &arguments);
            setup.push(self.finish(text));
        }
        let last = last.trim_end_matches(';');
        let result = match &call.result {
            CallResult::Void => {
                let text = self.arguments(last, &arguments);
                CallOutput::Void(Some(self.finish(text)))
            }
            CallResult::Scalar(pg_type) => {
                let text = self.arguments(last, &arguments);
                CallOutput::Scalar(self.finish(text), pg_type.clone())
            }
            CallResult::Scalars(pg_type) => {
                let text = self.arguments(last, &arguments);
                CallOutput::Scalars(self.finish(text), pg_type.clone())
            }
            CallResult::Rows { shape, set } => {
                let writes = ["insert", "update", "delete"].iter().any(|verb| {
                    last.get(..verb.len())
                        .is_some_and(|start| start.eq_ignore_ascii_case(verb))
                });
                let returning = writes.then(|| {
                    let text = self.arguments(last, &arguments);
                    self.finish(text)
                });
                // The body's columns are the result's by position, as Postgres reads a
                // function's rows (`select min(x), max(x)` fills `lo` and `hi`).
                let columns: Vec<String> = shape
                    .table
                    .columns
                    .iter()
                    .map(|column| quote_ident(&column.name))
                    .collect();
                // Each statement binds its own arguments.
                let from = |builder: &mut Self| match returning {
                    Some(_) => format!("temp.{}", quote_ident(RETURNED)),
                    None => format!(
                        "(WITH _solobase_result({}) AS ({}) SELECT * FROM _solobase_result)",
                        columns.join(", "),
                        builder.arguments(last, &arguments)
                    ),
                };
                let rows_from = from(self);
                let rows = self.rows(shape, &rows_from, false)?;
                let count_from = from(self);
                let count = Some(self.count(shape, &count_from)?);
                CallOutput::Rows {
                    rows,
                    count,
                    set: *set,
                    returning,
                }
            }
        };
        Ok(CallQuery {
            setup,
            result,
            read_only: call.read_only,
        })
    }

    /// `call`'s function applied to its arguments in the current statement: each given one
    /// bound and cast to its declared type (a row built from its JSON object), by name.
    fn invocation(&mut self, call: &Call) -> String {
        let mut arguments = Vec::new();
        for (declared, (_, argument)) in call.function.arguments.iter().zip(&call.arguments) {
            let Argument::Value(value) = argument else {
                continue;
            };
            let placeholder = self.bind(value.clone());
            let value = match &declared.row {
                Some(table) => format!(
                    "json_populate_record(CAST(NULL AS {}), CAST({placeholder} AS json))",
                    self.dialect.relation(table)
                ),
                None => format!(
                    "CAST({placeholder} AS {})",
                    declared
                        .declared_type
                        .clone()
                        .unwrap_or_else(|| declared.pg_type.pg_name())
                ),
            };
            let variadic = if declared.variadic { "VARIADIC " } else { "" };
            arguments.push(if declared.unnamed() {
                format!("{variadic}{value}")
            } else {
                format!("{variadic}{} := {value}", quote_ident(&declared.name))
            });
        }
        format!(
            "{}({})",
            self.dialect.relation(&call.function.name),
            arguments.join(", ")
        )
    }

    /// `statement` with each `:argument` replaced by its bound value or default expression;
    /// only the arguments it uses are bound.
    fn arguments(&mut self, statement: &str, arguments: &[(String, BodyArgument)]) -> String {
        let used = |name: &str| {
            substitute_parameters(statement, &[(name.to_owned(), String::new())]) != statement
        };
        let replacements: Vec<(String, String)> = arguments
            .iter()
            .filter(|(name, _)| used(name))
            .map(|(name, argument)| {
                let sql = match argument {
                    BodyArgument::Value(value) => self.bind(value.clone()),
                    BodyArgument::Default(sql) => format!("({sql})"),
                };
                (name.clone(), sql)
            })
            .collect();
        substitute_parameters(statement, &replacements)
    }
}

/// An RPC argument as a SQLite body reads it: its value, or its default translated to SQLite.
enum BodyArgument {
    Value(Literal),
    Default(String),
}

/// The arguments of `call` for its SQLite body, each omitted one's default translated.
fn body_arguments(call: &Call) -> Result<Vec<(String, BodyArgument)>, RestError> {
    call.function
        .arguments
        .iter()
        .zip(&call.arguments)
        .map(|(declared, (name, argument))| {
            let argument = match argument {
                Argument::Value(value) => BodyArgument::Value(value.clone()),
                Argument::Default => BodyArgument::Default(
                    translate_expr_text(declared.default.as_deref().unwrap_or("null")).map_err(
                        |error| {
                            RestError::pgrst(
                                "PGRST127",
                                format!("The default of argument {name} cannot run: {error}"),
                            )
                        },
                    )?,
                ),
            };
            Ok((name.clone(), argument))
        })
        .collect()
}

fn where_clause(terms: &[String]) -> String {
    if terms.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", join_terms(terms.to_vec(), " AND "))
    }
}

/// How many terms `join_terms` strings together before it groups them.
const FLAT_TERMS: usize = 64;

/// `a OR b OR …`, grouped in parentheses `FLAT_TERMS` at a time when long: SQLite's parser
/// nests one level per term and refuses expressions deeper than 1,000, so a 1,200-term `or`
/// becomes 19 groups of 64 instead.
fn join_terms(mut terms: Vec<String>, joiner: &str) -> String {
    while terms.len() > FLAT_TERMS {
        terms = terms
            .chunks(FLAT_TERMS)
            .map(|chunk| format!("({})", chunk.join(joiner)))
            .collect();
    }
    terms.join(joiner)
}

fn aggregates_refused() -> RestError {
    RestError::pgrst("PGRST123", "Use of aggregate functions is not allowed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::rest::{fixture, plan, request};
    use axum::http::{HeaderMap, Method};

    /// The SQL of the top-level read `query_string` on todos, and its parameters.
    #[track_caller]
    fn check(query_string: &str, expected_sql: &str, expected_params: &[Literal]) {
        check_with(
            &fixture::schema(),
            query_string,
            expected_sql,
            expected_params,
        );
    }

    #[track_caller]
    fn check_with(
        schema: &SchemaCache,
        query_string: &str,
        expected_sql: &str,
        expected_params: &[Literal],
    ) {
        let request = request::parse(
            &Method::GET,
            "todos",
            query_string,
            &HeaderMap::new(),
            b"",
            &crate::config::ApiConfig::default().schemas,
        )
        .unwrap();
        let plan = plan::build(&request, schema, 1000).unwrap();
        let Query::Read { rows, .. } =
            to_sql(&plan, schema, &fixture::caller(Role::Anon), &Sqlite).unwrap()
        else {
            panic!()
        };
        assert_eq!(rows.text, expected_sql);
        assert_eq!(rows.params, expected_params);
    }

    #[test]
    fn range_filters_call_the_range_operators_with_the_canonical_operand() {
        let mut schema = fixture::schema();
        let todos = schema
            .tables
            .get_mut(&QualifiedName::public("todos"))
            .unwrap();
        todos.columns.push(crate::schema::Column::new(
            "span",
            PgType::Printed(crate::schema::PrintedType::Int4Range),
        ));
        check_with(
            &schema,
            "select=id&span=cs.[1,2]&or=(span.not.adj.\"[3,4)\",span.gt.empty)",
            r#"SELECT coalesce(json_group_array(_row), json('[]')), count(*) FROM (SELECT jsonb_object('id', t1."id") AS _row FROM "todos" AS t1 WHERE pg_range_op('@>', 'int4range', t1."span", ?1) AND (NOT pg_range_op('-|-', 'int4range', t1."span", ?2) OR pg_range_op('>', 'int4range', t1."span", ?3)) ORDER BY t1.rowid LIMIT 1000 OFFSET 0)"#,
            &[
                Literal::Text("[1,3)".into()),
                Literal::Text("[3,4)".into()),
                Literal::Text("empty".into()),
            ],
        );
    }

    #[test]
    fn a_nested_logic_tree_becomes_a_parenthesised_where() {
        check(
            "select=id&or=(id.eq.1,and(done.is.true,title.like.a*))",
            r#"SELECT coalesce(json_group_array(_row), json('[]')), count(*) FROM (SELECT jsonb_object('id', t1."id") AS _row FROM "todos" AS t1 WHERE ((t1."id" = ?1) OR ((t1."done" IS TRUE) AND (pg_like(CAST(t1."title" AS TEXT), ?2)))) ORDER BY t1.rowid LIMIT 1000 OFFSET 0)"#,
            &[Literal::Integer(1), Literal::Text("a%".into())],
        );
    }

    #[test]
    fn booleans_and_json_columns_are_rendered_as_json_and_orders_place_nulls() {
        check(
            "select=done,data&order=owner.desc,title.nullsfirst",
            r#"SELECT coalesce(json_group_array(_row), json('[]')), count(*) FROM (SELECT jsonb_object('done', CASE WHEN t1."done" IS NULL THEN NULL WHEN t1."done" THEN json('true') ELSE json('false') END, 'data', json(t1."data")) AS _row FROM "todos" AS t1 ORDER BY t1."owner" DESC NULLS FIRST, t1."title" ASC NULLS FIRST LIMIT 1000 OFFSET 0)"#,
            &[],
        );
    }

    #[test]
    fn a_to_many_embed_is_a_correlated_array_with_its_own_filters_order_and_limit() {
        check(
            "select=items(label)&items.label=neq.x&items.order=id&items.limit=2",
            r#"SELECT coalesce(json_group_array(_row), json('[]')), count(*) FROM (SELECT jsonb_object('items', json((SELECT coalesce(json_group_array(_row), json('[]')) FROM (SELECT jsonb_object('label', t2."label") AS _row FROM "items" AS t2 WHERE t2."todo_id" = t1."id" AND (t2."label" <> ?1) ORDER BY t2."id" ASC NULLS LAST LIMIT 2 OFFSET 0)))) AS _row FROM "todos" AS t1 ORDER BY t1.rowid LIMIT 1000 OFFSET 0)"#,
            &[Literal::Text("x".into())],
        );
    }

    #[test]
    fn tables_with_row_level_security_get_the_policy_predicate_everywhere() {
        let mut schema = fixture::schema();
        let items = schema
            .tables
            .get_mut(&QualifiedName::public("items"))
            .unwrap();
        items.rls_enabled = true;
        let request = request::parse(
            &Method::GET,
            "todos",
            "select=id,items!inner(id)",
            &HeaderMap::new(),
            b"",
            &crate::config::ApiConfig::default().schemas,
        )
        .unwrap();
        let plan = plan::build(&request, &schema, 10).unwrap();
        let Query::Read { rows, .. } = to_sql(
            &plan,
            &schema,
            &fixture::caller(Role::Authenticated),
            &Sqlite,
        )
        .unwrap() else {
            panic!()
        };
        // Default deny: no policy lets the caller see an item, in the embed and the `!inner` test.
        // The embed keeps the rowid of its rows for their natural order.
        for (alias, columns) in [("t2", "*"), ("t3", "rowid, *")] {
            assert_eq!(
                rows.text
                    .matches(&format!(
                        "FROM (SELECT {columns} FROM \"items\" AS \"items\" WHERE 0) AS {alias} WHERE {alias}.\"todo_id\" = t1.\"id\""
                    ))
                    .count(),
                1,
                "{}",
                rows.text
            );
        }
        let Query::Read { rows, .. } =
            to_sql(&plan, &schema, &fixture::caller(Role::ServiceRole), &Sqlite).unwrap()
        else {
            panic!()
        };
        assert!(!rows.text.contains("WHERE 0"), "{}", rows.text);
    }

    const SELECTIONS: &str = "
        create table public.selections (
          id bigint generated by default as identity primary key,
          user_id uuid not null,
          item_id text not null
        );
        create index selections_user_id_idx on public.selections (user_id);
        alter table public.selections enable row level security;
        create policy own on public.selections for all to authenticated
          using (auth.uid() = user_id) with check (auth.uid() = user_id);
        create policy tagged on public.selections for select to anon
          using (item_id = auth.jwt() ->> 'item' and 'auth.uid()' <> auth.role());
    ";

    /// A connection holding `SELECTIONS` with two users' rows, and its schema.
    fn selections() -> (rusqlite::Connection, SchemaCache) {
        let mut connection = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::functions::register(&connection, Default::default()).unwrap();
        let migration = crate::migrate::Migration {
            version: "1".into(),
            name: "selections".into(),
            path: "1_selections.sql".into(),
            sql: SELECTIONS.into(),
        };
        crate::migrate::apply_pending(&mut connection, &[migration], None).unwrap();
        connection
            .execute_batch(
                "INSERT INTO selections (user_id, item_id) VALUES ('00000000-0000-0000-0000-00000000000a', 'a'), ('00000000-0000-0000-0000-00000000000b', 'b'), ('00000000-0000-0000-0000-00000000000a', 'c');",
            )
            .unwrap();
        let schema = crate::migrate::load_schema(&connection).unwrap();
        (connection, schema)
    }

    fn caller_with(role: Role, claims: serde_json::Value) -> Caller {
        Caller {
            role,
            claims: std::sync::Arc::new(claims),
        }
    }

    /// The statements of `method table?query` for `caller`: the read (or the write's row
    /// selection) first, then the count when one was asked for.
    fn statements(
        schema: &SchemaCache,
        caller: &Caller,
        method: Method,
        query_string: &str,
    ) -> Vec<Sql> {
        let body: &[u8] = if method == Method::PATCH {
            br#"{"item_id":"z"}"#
        } else {
            b""
        };
        let request = request::parse(
            &method,
            "selections",
            query_string,
            &HeaderMap::new(),
            body,
            &crate::config::ApiConfig::default().schemas,
        )
        .unwrap();
        let plan = plan::build(&request, schema, 1000).unwrap();
        match to_sql(&plan, schema, caller, &Sqlite).unwrap() {
            Query::Read { rows, count } => std::iter::once(rows).chain(count).collect(),
            Query::Write(write) => write.statements.into_iter().map(|s| s.sql).collect(),
            Query::Call(_) => panic!("not a call"),
        }
    }

    /// How SQLite plans `sql`: the detail lines of EXPLAIN QUERY PLAN.
    fn query_plan(connection: &rusqlite::Connection, sql: &Sql) -> Vec<String> {
        let mut statement = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))
            .unwrap();
        statement
            .query_map(rusqlite::params_from_iter(&sql.params), |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn an_owner_only_policy_searches_the_owner_index_like_an_explicit_filter() {
        let (connection, schema) = selections();
        let ana = caller_with(
            Role::Authenticated,
            serde_json::json!({"sub": "00000000-0000-0000-0000-00000000000a", "role": "authenticated"}),
        );
        for (method, query_string) in [
            (Method::GET, "select=*"),
            (
                Method::GET,
                "select=*&user_id=eq.00000000-0000-0000-0000-00000000000a",
            ),
            (Method::GET, "select=id&item_id=eq.a&limit=1"),
            (Method::DELETE, "item_id=eq.a"),
            (Method::PATCH, "item_id=eq.a"),
        ] {
            for sql in statements(&schema, &ana, method.clone(), query_string) {
                let plan = query_plan(&connection, &sql);
                assert!(
                    plan.iter().any(|line| line.starts_with("SEARCH")
                        && line.contains("selections_user_id_idx")),
                    "{method} {query_string}: {plan:?}\n{}",
                    sql.text
                );
                // Only the rows already found are scanned (the JSON aggregate's subquery).
                assert!(
                    !plan
                        .iter()
                        .any(|line| line.starts_with("SCAN") && !line.starts_with("SCAN (subquery")),
                    "{method} {query_string}: {plan:?}"
                );
            }
        }
        // The claims are bound values: the statement text is the same for every caller.
        let ben = caller_with(
            Role::Authenticated,
            serde_json::json!({"sub": "00000000-0000-0000-0000-00000000000b", "role": "authenticated"}),
        );
        let [ana_rows] = &statements(&schema, &ana, Method::GET, "select=item_id&order=id")[..]
        else {
            panic!()
        };
        let [ben_rows] = &statements(&schema, &ben, Method::GET, "select=item_id&order=id")[..]
        else {
            panic!()
        };
        assert_eq!(ana_rows.text, ben_rows.text);
        let body = |sql: &Sql| -> String {
            connection
                .query_row(&sql.text, rusqlite::params_from_iter(&sql.params), |row| {
                    row.get(0)
                })
                .unwrap()
        };
        assert_eq!(body(ana_rows), r#"[{"item_id":"a"},{"item_id":"c"}]"#);
        assert_eq!(body(ben_rows), r#"[{"item_id":"b"}]"#);
    }

    #[test]
    fn bound_claims_keep_the_stand_ins_semantics() {
        let (connection, schema) = selections();
        let body = |caller: &Caller| -> String {
            let [rows] = &statements(&schema, caller, Method::GET, "select=item_id&order=id")[..]
            else {
                panic!()
            };
            connection
                .query_row(
                    &rows.text,
                    rusqlite::params_from_iter(&rows.params),
                    |row| row.get(0),
                )
                .unwrap()
        };
        // No `sub` claim: auth.uid() is NULL and matches nothing.
        assert_eq!(
            body(&caller_with(
                Role::Authenticated,
                serde_json::json!({"role": "authenticated"})
            )),
            "[]"
        );
        // auth.jwt() paths read the whole claim set; quoted text that looks like a call stays text.
        assert_eq!(
            body(&caller_with(
                Role::Anon,
                serde_json::json!({"role": "anon", "item": "b"})
            )),
            r#"[{"item_id":"b"}]"#
        );
        assert_eq!(
            body(&caller_with(
                Role::Anon,
                serde_json::json!({"role": "anon"})
            )),
            "[]"
        );
    }

    #[test]
    fn rpc_arguments_are_bound_and_defaults_inlined_outside_quoted_text() {
        let schema = fixture::schema();
        let caller = fixture::caller(Role::Anon);
        let mut builder = Builder::new(&Sqlite, &schema, &caller);
        let sql = builder.arguments(
            "select ':a', \":a\", :a, :b, :unknown",
            &[
                ("a".into(), BodyArgument::Value(Literal::Integer(7))),
                ("b".into(), BodyArgument::Default("pg_now()".into())),
            ],
        );
        assert_eq!(sql, "select ':a', \":a\", ?1, (pg_now()), :unknown");
        assert_eq!(builder.params, vec![Literal::Integer(7)]);
    }
}
