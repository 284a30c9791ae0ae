//! Plan: resolves an `ApiRequest` against the `SchemaCache` into a `Plan` — the relation, the
//! JSON shape of each row (columns, JSON paths, casts, embeds through foreign keys), filters,
//! order and range per resource, checked payload values, the upsert target, the RPC call.
//! Pure: no IO, no HTTP, no SQL text; row-level security is `query`'s (through `authorize`).
//! Rejects unknown tables (PGRST205), columns (42703), relationships (PGRST200, 300 PGRST201),
//! filters on resources not embedded (PGRST108), payload keys (PGRST204), functions
//! (PGRST202), and values their column's type refuses (22P02, via `values`).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::error::RestError;
use super::request::{
    Action, ApiRequest, ContainOperator, EmbedPath, Field, IsValue, JsonKey, JsonStep, LogicTree,
    MediaType, Operation, Operator, Quantifier, Resolution, ReturnPreference, SelectItem, Target,
    TextSearchKind,
};
use super::values::{self, Literal};
use crate::schema::{
    Column, ForeignKey, Function, FunctionArgument, FunctionReturn, PgType, QualifiedName,
    SchemaCache, Table, TableKind,
};
use crate::store::range::RangeType;

/// What one request does, resolved against the schema.
#[derive(Debug)]
pub enum Plan<'a> {
    Read(Read<'a>),
    Insert(Insert<'a>),
    Update(Update<'a>),
    Delete(Delete<'a>),
    Call(Call<'a>),
}

/// GET/HEAD on a table or view.
#[derive(Debug)]
pub struct Read<'a> {
    pub shape: Shape<'a>,
    /// `Prefer: count=…`: also count every row the filters select.
    pub count: bool,
    /// `Accept: application/geo+json`: each row is a GeoJSON Feature.
    pub features: bool,
}

/// Rows of one relation: which ones, in what order, how many, and the JSON object of each.
#[derive(Debug)]
pub struct Shape<'a> {
    /// The relation; for an RPC result, a table describing the function's output columns.
    pub table: Cow<'a, Table>,
    pub outputs: Vec<Output<'a>>,
    pub filters: Vec<Condition>,
    pub order: Vec<Order>,
    pub offset: u64,
    pub limit: Option<u64>,
}

/// One entry of a row's JSON object.
#[derive(Debug)]
pub enum Output<'a> {
    /// `key: column[->path][::cast]`
    Value { key: String, value: Expr },
    /// `key: relation(…)`: an object or null (to-one), an array (to-many).
    Embed { key: String, embed: Embed<'a> },
    /// `...relation(…)`: a to-one embed's entries merged into this object; also `relation()`,
    /// which merges none and only filters.
    Spread(Embed<'a>),
    /// `count()`, or the `count` of `relation(count)`: the number of rows instead of rows.
    Count { key: String },
}

/// A column, optionally followed by a JSON path and a cast.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The column, or the name of the computed field.
    pub column: String,
    pub column_type: PgType,
    /// A computed field (PostgREST's computed column): a function of the row.
    pub computed: Option<Box<Computed>>,
    pub path: Vec<JsonStep>,
    pub cast: Option<Cast>,
}

impl Expr {
    /// The Postgres type of the value: the column's, `jsonb` after `->`, `text` after `->>`,
    /// or the cast's.
    pub fn pg_type(&self) -> PgType {
        if let Some(cast) = self.cast {
            return cast.pg_type();
        }
        match self.path.last() {
            Some(step) if step.as_text => PgType::Text,
            Some(_) => PgType::Jsonb,
            None => self.column_type.clone(),
        }
    }
}

/// A function `f(t table)` read as the field `f` of `table`'s rows, or as the rows it
/// returns (a computed relationship).
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    pub function: QualifiedName,
    /// The table whose row the function takes.
    pub table: QualifiedName,
    /// The overload's signature, by which the store calls it.
    pub signature: String,
    /// The table's columns, of which the row passed is made (the call reads them all).
    pub columns: Vec<String>,
    /// It returns one row, not a set: finding none, it answers a row of nulls (Postgres's null
    /// composite), which PostgREST embeds as an object of null fields.
    pub one_row: bool,
}

impl Computed {
    /// `function` called with a row of `table`.
    fn of(function: &Function, table: &Table) -> Self {
        Self {
            function: function.name.clone(),
            table: table.name.clone(),
            signature: function.signature(),
            one_row: matches!(function.returns, FunctionReturn::Rows { set: false, .. }),
            columns: table
                .columns
                .iter()
                .map(|column| column.name.clone())
                .collect(),
        }
    }
}

/// The casts `select=col::type` supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cast {
    Text,
    Integer,
    Numeric,
    Boolean,
    Json,
}

impl Cast {
    fn parse(name: &str, from: &PgType) -> Result<Self, RestError> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "text" | "varchar" | "character varying" => Cast::Text,
            "int" | "int2" | "int4" | "int8" | "integer" | "bigint" | "smallint" => Cast::Integer,
            "numeric" | "decimal" | "float4" | "float8" | "real" | "double precision" => {
                Cast::Numeric
            }
            "bool" | "boolean" => Cast::Boolean,
            "json" | "jsonb" => Cast::Json,
            other => {
                return Err(RestError::sql(
                    "42846",
                    format!("cannot cast type {} to {other}", from.pg_name()),
                    false,
                ));
            }
        })
    }

    fn pg_type(self) -> PgType {
        match self {
            Cast::Text => PgType::Text,
            Cast::Integer => PgType::BigInt,
            Cast::Numeric => PgType::Numeric,
            Cast::Boolean => PgType::Boolean,
            Cast::Json => PgType::Jsonb,
        }
    }
}

/// A related resource embedded in each row.
#[derive(Debug)]
pub struct Embed<'a> {
    pub join: Join<'a>,
    /// To-one embeds give an object or null; to-many ones an array.
    pub to_one: bool,
    /// Keep only parents with at least one (`Some(true)`: `!inner` or `rel=not.is.null`) or
    /// with no (`Some(false)`: `rel=is.null`) matching embedded row.
    pub presence: Option<bool>,
    pub shape: Shape<'a>,
}

/// How embedded rows relate to their parent.
#[derive(Debug)]
pub enum Join<'a> {
    /// `(parent column, child column)` pairs equal through one foreign key.
    Direct(Vec<(String, String)>),
    /// Many-to-many through a junction table whose foreign keys point at both sides.
    Junction {
        table: &'a Table,
        /// `(parent column, junction column)`
        parent: Vec<(String, String)>,
        /// `(junction column, child column)`
        child: Vec<(String, String)>,
    },
    /// A computed relationship: the rows a function of the parent's row returns.
    Computed(Box<Computed>),
}

/// A filter or a logic tree over the rows of one relation.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Test {
        expr: Expr,
        negated: bool,
        test: Test,
    },
    All {
        negated: bool,
        children: Vec<Condition>,
    },
    Any {
        negated: bool,
        children: Vec<Condition>,
    },
}

/// What a filter checks, with its operands already in the stored form.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Compare {
        operator: Comparison,
        value: Literal,
    },
    /// `like`/`ilike` (SQL patterns) or `match`/`imatch` (regular expressions); several
    /// patterns with `(any)`/`(all)`.
    Pattern {
        kind: PatternKind,
        quantifier: Quantifier,
        patterns: Vec<String>,
    },
    In(Vec<Literal>),
    Is(IsValue),
    /// `cs`/`cd`/`ov` on an array column; the operand is a JSON array of stored values.
    ArrayContain {
        operator: ContainOperator,
        json: String,
    },
    /// `cs`/`cd` on a json/jsonb value; the operand is JSON text.
    JsonContain {
        operator: ContainOperator,
        json: String,
    },
    /// A range operator (`cs`, `ov`, `sl`, `adj`, `gt`, …) on a range column; the operand is a
    /// range of the column's type in its printed form.
    Range {
        symbol: &'static str,
        kind: RangeType,
        range: String,
    },
    /// `fts` and friends, approximated: the words must appear (`any`: one of them), or the
    /// phrase must, case-insensitively.
    Words {
        words: Vec<String>,
        any: bool,
        phrase: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    IsDistinct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternKind {
    Like,
    Ilike,
    Match,
    Imatch,
}

/// One `ORDER BY` term, with Postgres's null placement resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub expr: Expr,
    pub descending: bool,
    pub nulls_first: bool,
    /// For an enum column: its labels, which Postgres sorts in declaration order.
    pub enum_labels: Option<Vec<String>>,
}

/// POST on a table.
#[derive(Debug)]
pub struct Insert<'a> {
    pub table: &'a Table,
    /// One entry per payload object: the columns it sets, in order, with their values.
    /// Columns it leaves out take their defaults.
    pub rows: Vec<Vec<(String, Literal)>>,
    pub conflict: Option<Conflict>,
    pub returning: Returning<'a>,
    /// `missing=default`: PostgREST evaluates every column's default for each row, given or
    /// not, so a row that gives a serial or identity column still draws a sequence value.
    pub evaluates_defaults: bool,
}

/// `Prefer: resolution=…` with its conflict target (`on_conflict=` or the primary key).
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub target: Vec<String>,
    pub resolution: Resolution,
    /// Columns a merge overwrites: the payload's, less the target (the target itself when the
    /// payload holds nothing else).
    pub update: Vec<String>,
}

/// PATCH on a table.
#[derive(Debug)]
pub struct Update<'a> {
    pub table: &'a Table,
    pub assignments: Vec<(String, Literal)>,
    pub filters: Vec<Condition>,
    pub returning: Returning<'a>,
}

/// DELETE on a table.
#[derive(Debug)]
pub struct Delete<'a> {
    pub table: &'a Table,
    pub filters: Vec<Condition>,
    pub returning: Returning<'a>,
}

/// What a mutation answers with.
#[derive(Debug)]
pub struct Returning<'a> {
    /// The affected rows shaped by `select=` (for `return=representation` and singular checks).
    pub shape: Shape<'a>,
    /// Whether the rows are sent back (`return=representation`).
    pub representation: bool,
    /// `Accept: application/geo+json`: each row is a GeoJSON Feature.
    pub features: bool,
    /// Primary-key columns for the `Location` header of `return=headers-only`.
    pub location: Option<Vec<String>>,
}

/// `/rpc/{function}`.
#[derive(Debug)]
pub struct Call<'a> {
    pub function: &'a Function,
    /// Every argument in declaration order.
    pub arguments: Vec<(String, Argument)>,
    pub result: CallResult<'a>,
    /// GET/HEAD: runs in a read-only transaction.
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Argument {
    Value(Literal),
    /// Omitted: the argument's default applies.
    Default,
}

#[derive(Debug)]
pub enum CallResult<'a> {
    Void,
    Scalar(PgType),
    /// A set of scalars: a JSON array of them.
    Scalars(PgType),
    /// Rows (`setof t`, `returns t`, `returns table (…)`), shaped like a read; `set` is false
    /// for a single composite, which answers an object.
    Rows {
        shape: Box<Shape<'a>>,
        set: bool,
    },
}

/// Plans `request`; reads and set-returning calls are capped at `max_rows`.
pub fn build<'a>(
    request: &'a ApiRequest,
    schema: &'a SchemaCache,
    max_rows: u64,
) -> Result<Plan<'a>, RestError> {
    let planner = Planner { request, schema };
    match (&request.target, request.action) {
        // A function's result as GeoJSON Features is not implemented.
        (Target::Rpc(_), Action::Call { .. }) if request.media == MediaType::GeoJson => {
            Err(RestError::pgrst(
                "PGRST107",
                "None of these media types are available: application/geo+json",
            ))
        }
        (Target::Rpc(name), Action::Call { read_only, .. }) => {
            planner.call(name, read_only, max_rows).map(Plan::Call)
        }
        (Target::Rpc(name), _) | (Target::Table(name), Action::Call { .. }) => Err(
            RestError::pgrst("PGRST117", format!("Unsupported HTTP method for {name}")),
        ),
        (Target::Table(name), action) => {
            let table = planner.table(name)?;
            match action {
                Action::Read { .. } => Ok(Plan::Read(Read {
                    shape: planner.top_shape(Cow::Borrowed(table), Some(max_rows))?,
                    count: request.prefer.count.is_some(),
                    features: request.media == MediaType::GeoJson,
                })),
                Action::Insert => planner
                    .insert(writable(table, "insert into")?)
                    .map(Plan::Insert),
                Action::Update => planner.update(writable(table, "update")?).map(Plan::Update),
                Action::Delete => Ok(Plan::Delete(Delete {
                    table: writable(table, "delete from")?,
                    filters: planner.filters(table, &Vec::new())?,
                    returning: planner.returning(table)?,
                })),
                Action::Call { .. } => unreachable!("matched above"),
            }
        }
    }
}

struct Planner<'a> {
    request: &'a ApiRequest,
    schema: &'a SchemaCache,
}

impl<'a> Planner<'a> {
    fn table(&self, name: &str) -> Result<&'a Table, RestError> {
        let qualified = QualifiedName::new(self.request.schema.as_str(), name);
        if let Some(table) = self.schema.table(&qualified) {
            return Ok(table);
        }
        let mut error = RestError::pgrst(
            "PGRST205",
            format!("Could not find the table '{qualified}' in the schema cache"),
        );
        if let Some(close) = closest(
            name,
            self.schema
                .tables
                .keys()
                .filter(|candidate| candidate.schema == qualified.schema)
                .map(|candidate| candidate.name.as_str()),
            NAME_LIKENESS,
        ) {
            error = error.hint(format!(
                "Perhaps you meant the table '{}.{close}'",
                qualified.schema
            ));
        }
        Err(error)
    }

    /// The top-level shape, with every embedded filter, order and range accounted for.
    fn top_shape(
        &self,
        table: Cow<'a, Table>,
        max_rows: Option<u64>,
    ) -> Result<Shape<'a>, RestError> {
        let mut shape = self.shape(table, &self.request.select, &Vec::new())?;
        if let Some(max_rows) = max_rows {
            shape.limit = Some(shape.limit.map_or(max_rows, |limit| limit.min(max_rows)));
        }
        self.reject_unembedded_paths()?;
        Ok(shape)
    }

    fn shape(
        &self,
        table: Cow<'a, Table>,
        select: &'a [SelectItem],
        path: &EmbedPath,
    ) -> Result<Shape<'a>, RestError> {
        let mut outputs = Vec::new();
        let mut embed_keys: Vec<String> = Vec::new();
        for item in select {
            match item {
                SelectItem::Star => {
                    for column in &table.columns {
                        outputs.push(Output::Value {
                            key: column.name.clone(),
                            value: plain(column),
                        });
                    }
                }
                SelectItem::Field { alias, field, cast } => {
                    let mut value = expr(self.schema, &table, field)
                        .map_err(|error| embedded_name(error, &table, path))?;
                    if let Some(cast) = cast {
                        value.cast = Some(Cast::parse(cast, &value.pg_type())?);
                    }
                    outputs.push(Output::Value {
                        key: alias.clone().unwrap_or_else(|| output_key(field)),
                        value,
                    });
                }
                SelectItem::Count { alias } => outputs.push(Output::Count {
                    key: alias.clone().unwrap_or_else(|| "count".into()),
                }),
                SelectItem::Embed {
                    alias,
                    relation,
                    hints,
                    inner,
                    spread,
                    select,
                } => {
                    let key = alias.clone().unwrap_or_else(|| relation.clone());
                    // PostgREST joins each embed as `parent_key_depth`; two embeds of one
                    // name at one level are the same table name twice to Postgres.
                    if embed_keys.contains(&key) {
                        return Err(RestError::sql(
                            "42712",
                            format!(
                                "table name \"{}_{key}_{}\" specified more than once",
                                table.name.name,
                                path.len() + 1
                            ),
                            false,
                        ));
                    }
                    embed_keys.push(key.clone());
                    let mut child_path = path.clone();
                    child_path.push(key.clone());
                    let table: &Table = &table;
                    let (target, join, to_one) = self.relationship(table, relation, hints)?;
                    let mut embed = Embed {
                        join,
                        to_one,
                        presence: inner.then_some(true),
                        shape: self.shape(Cow::Borrowed(target), select, &child_path)?,
                    };
                    if select.is_empty() {
                        // `relation()` only filters the parents (`!inner`, `relation.col=…`):
                        // merged with no entries, it adds nothing to the row.
                        embed.presence = embed.presence.or(self.presence_filter(path, &key));
                        outputs.push(Output::Spread(embed));
                    } else if *spread {
                        if !to_one {
                            return Err(RestError::pgrst(
                                "PGRST119",
                                format!(
                                    "A spread operation on '{relation}' is not possible"
                                ),
                            )
                            .details(format!(
                                "'{}' and '{relation}' do not form a many-to-one or one-to-one relationship",
                                table.name.name
                            )));
                        }
                        outputs.push(Output::Spread(embed));
                    } else {
                        embed.presence = embed.presence.or(self.presence_filter(path, &key));
                        outputs.push(Output::Embed { key, embed });
                    }
                }
            }
        }
        let range = self
            .request
            .ranges
            .iter()
            .find(|(range_path, _)| range_path == path)
            .map(|(_, range)| *range)
            .unwrap_or_default();
        Ok(Shape {
            filters: self
                .filters(&table, path)
                .map_err(|error| embedded_name(error, &table, path))?,
            order: self
                .order(&table, path)
                .map_err(|error| embedded_name(error, &table, path))?,
            offset: range.offset,
            limit: range.limit,
            outputs,
            table,
        })
    }

    /// `items=is.null` / `items=not.is.null` on an embed at `path`: keep parents without / with
    /// embedded rows.
    fn presence_filter(&self, path: &EmbedPath, key: &str) -> Option<bool> {
        self.request
            .filters
            .iter()
            .filter(|(filter_path, _)| filter_path == path)
            .find_map(|(_, tree)| match tree {
                LogicTree::Filter(filter)
                    if filter.field.column == key && filter.field.json_path.is_empty() =>
                {
                    match filter.operation {
                        Operation::Is(IsValue::Null) => Some(filter.negated),
                        Operation::Is(IsValue::NotNull) => Some(!filter.negated),
                        _ => None,
                    }
                }
                _ => None,
            })
    }

    /// Whether `key` at `path` names an embed (so `key=is.null` is a presence filter).
    fn is_embed_key(&self, path: &EmbedPath, key: &str) -> bool {
        let mut child = path.clone();
        child.push(key.to_owned());
        self.select_at(&child).is_some()
    }

    fn select_at(&self, path: &EmbedPath) -> Option<&'a [SelectItem]> {
        let mut select: &'a [SelectItem] = &self.request.select;
        for name in path {
            select = select.iter().find_map(|item| match item {
                SelectItem::Embed {
                    alias,
                    relation,
                    select,
                    ..
                } if alias.as_ref().unwrap_or(relation) == name => Some(select.as_slice()),
                _ => None,
            })?;
        }
        Some(select)
    }

    /// PGRST108 for a filter, order or range on a resource `select` does not embed.
    fn reject_unembedded_paths(&self) -> Result<(), RestError> {
        let paths = self
            .request
            .filters
            .iter()
            .map(|(path, _)| path)
            .chain(self.request.orders.iter().map(|(path, _)| path))
            .chain(self.request.ranges.iter().map(|(path, _)| path));
        for path in paths {
            if self.select_at(path).is_none() {
                let name = path.join(".");
                return Err(RestError::pgrst(
                    "PGRST108",
                    format!("'{name}' is not an embedded resource in this request"),
                )
                .hint(format!(
                    "Verify that '{name}' is included in the 'select' query parameter."
                )));
            }
        }
        Ok(())
    }

    fn filters(&self, table: &Table, path: &EmbedPath) -> Result<Vec<Condition>, RestError> {
        self.request
            .filters
            .iter()
            .filter(|(filter_path, _)| filter_path == path)
            .filter(|(_, tree)| !matches!(tree, LogicTree::Filter(filter) if filter.field.json_path.is_empty() && self.is_embed_key(path, &filter.field.column)))
            .map(|(_, tree)| self.condition(table, tree))
            .collect()
    }

    fn condition(&self, table: &Table, tree: &LogicTree) -> Result<Condition, RestError> {
        Ok(match tree {
            LogicTree::Filter(filter) => {
                let expr = expr(self.schema, table, &filter.field)?;
                let test = self.test(&expr, &filter.operation)?;
                Condition::Test {
                    expr,
                    negated: filter.negated,
                    test,
                }
            }
            LogicTree::And { negated, children } => Condition::All {
                negated: *negated,
                children: children
                    .iter()
                    .map(|child| self.condition(table, child))
                    .collect::<Result<_, _>>()?,
            },
            LogicTree::Or { negated, children } => Condition::Any {
                negated: *negated,
                children: children
                    .iter()
                    .map(|child| self.condition(table, child))
                    .collect::<Result<_, _>>()?,
            },
        })
    }

    fn test(&self, expr: &Expr, operation: &Operation) -> Result<Test, RestError> {
        let pg_type = expr.pg_type();
        let operand = |text: &str| values::from_text(self.schema, &pg_type, text);
        if let PgType::Printed(printed) = &pg_type
            && let Some(kind) = printed.range()
            && let Some((symbol, value)) = range_operation(operation)
        {
            return Ok(Test::Range {
                symbol,
                kind,
                range: crate::store::range::normalize(kind, value).map_err(RestError::from)?,
            });
        }
        Ok(match operation {
            Operation::Compare { operator, value } => {
                let comparison = match operator {
                    Operator::Eq => Comparison::Eq,
                    Operator::Neq => Comparison::Neq,
                    Operator::Gt => Comparison::Gt,
                    Operator::Gte => Comparison::Gte,
                    Operator::Lt => Comparison::Lt,
                    Operator::Lte => Comparison::Lte,
                    Operator::IsDistinct => Comparison::IsDistinct,
                    pattern => {
                        check_regex(*pattern, value)?;
                        return Ok(Test::Pattern {
                            kind: pattern_kind(*pattern),
                            quantifier: Quantifier::Any,
                            patterns: vec![value.clone()],
                        });
                    }
                };
                Test::Compare {
                    operator: comparison,
                    value: operand(value)?,
                }
            }
            Operation::Quantified {
                operator,
                quantifier,
                values,
            } => Test::Pattern {
                kind: pattern_kind(*operator),
                quantifier: *quantifier,
                patterns: values.clone(),
            },
            Operation::In(items) => {
                let mut seen = BTreeSet::new();
                Test::In(
                    items
                        .iter()
                        .filter(|item| seen.insert(item.as_str()))
                        .map(|item| operand(item))
                        .collect::<Result<_, _>>()?,
                )
            }
            Operation::Is(value) => Test::Is(*value),
            Operation::Contain { operator, value } => match &pg_type {
                PgType::Array(element) => Test::ArrayContain {
                    operator: *operator,
                    json: values::array_from_text(self.schema, element, value)?,
                },
                PgType::Json | PgType::Jsonb if *operator != ContainOperator::Overlaps => {
                    Test::JsonContain {
                        operator: *operator,
                        json: values::json_from_text(&pg_type, value)?,
                    }
                }
                other => return Err(no_operator(other, operator.symbol())),
            },
            Operation::Range { operator, .. } => {
                return Err(no_operator(&pg_type, operator.symbol()));
            }
            Operation::TextSearch { kind, query, .. } => {
                let words: Vec<String> = query
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|word| !word.is_empty() && *word != "or")
                    .map(str::to_owned)
                    .collect();
                let any = match kind {
                    TextSearchKind::Fts => query.contains('|'),
                    TextSearchKind::Websearch => query.split_whitespace().any(|w| w == "or"),
                    _ => false,
                };
                Test::Words {
                    words,
                    any,
                    phrase: *kind == TextSearchKind::Phrase,
                }
            }
        })
    }

    fn order(&self, table: &Table, path: &EmbedPath) -> Result<Vec<Order>, RestError> {
        let mut order = Vec::new();
        for (_, terms) in self
            .request
            .orders
            .iter()
            .filter(|(order_path, _)| order_path == path)
        {
            for term in terms {
                let expr = expr(self.schema, table, &term.field)?;
                let enum_labels = match expr.pg_type() {
                    PgType::Enum(name) => self.schema.enums.get(&name).cloned(),
                    _ => None,
                };
                order.push(Order {
                    // Postgres puts nulls last ascending and first descending unless told.
                    nulls_first: term.nulls_first.unwrap_or(term.descending),
                    descending: term.descending,
                    expr,
                    enum_labels,
                });
            }
        }
        Ok(order)
    }

    /// A computed relationship `relation` of `parent`, as PostgREST finds one (before, and so
    /// over, the foreign keys): a function of that name in the parent's schema taking its row as
    /// the only argument and returning rows of a table, to-one unless it returns a set not
    /// estimated at one row (`rows 1`).
    fn computed_relationship(
        &self,
        parent: &Table,
        relation: &str,
    ) -> Option<(&'a Table, Join<'a>, bool)> {
        self.schema
            .overloads(&QualifiedName::new(parent.name.schema.as_str(), relation))
            .iter()
            .find_map(
                |function| match (function.arguments.as_slice(), &function.returns) {
                    ([argument], FunctionReturn::Rows { table, set })
                        if argument.row.as_ref() == Some(&parent.name) =>
                    {
                        let target = self.schema.table(table)?;
                        let join = Join::Computed(Box::new(Computed::of(function, parent)));
                        Some((target, join, !set || function.rows == Some(1)))
                    }
                    _ => None,
                },
            )
    }

    /// The relationship `relation` (with `hints`) names from `parent`: the target table, the
    /// join, and whether it is to-one.
    fn relationship(
        &self,
        parent: &Table,
        relation: &str,
        hints: &[String],
    ) -> Result<(&'a Table, Join<'a>, bool), RestError> {
        if let Some(computed) = self.computed_relationship(parent, relation) {
            return Ok(computed);
        }
        let mut candidates: Vec<Candidate<'a>> = Vec::new();
        // Embedding reaches the parent's schema and the request's.
        let in_reach = |table: &&'a Table| {
            table.name.schema == parent.name.schema || table.name.schema == self.request.schema
        };
        let same_schema = self.schema.tables.values().filter(in_reach);
        let visible = |name: &QualifiedName| self.schema.table(name).filter(in_reach);
        // Foreign keys, and the same keys seen through views, as PostgREST finds them.
        for relationship in self.schema.relationships() {
            // Many-to-one (one-to-one when the key is unique): the parent's foreign key
            // points at the target.
            if relationship.relation == parent.name
                && let Some(target) = visible(&relationship.referenced_relation)
            {
                candidates.push(Candidate {
                    target,
                    join: Join::Direct(pairs(
                        &relationship.columns,
                        &relationship.referenced_columns,
                    )),
                    to_one: true,
                    cardinality: if relationship.is_one_to_one {
                        Cardinality::OneToOne
                    } else {
                        Cardinality::ManyToOne
                    },
                    constraint: relationship.foreign_key_name.clone(),
                    columns: (
                        relationship.columns.clone(),
                        relationship.referenced_columns.clone(),
                    ),
                });
            }
            // One-to-many (one-to-one when the foreign key is also unique in the target).
            if relationship.referenced_relation == parent.name
                && let Some(target) = visible(&relationship.relation)
            {
                let unique = relationship.is_one_to_one;
                candidates.push(Candidate {
                    target,
                    join: Join::Direct(pairs(
                        &relationship.referenced_columns,
                        &relationship.columns,
                    )),
                    to_one: unique,
                    cardinality: if unique {
                        Cardinality::OneToOne
                    } else {
                        Cardinality::OneToMany
                    },
                    constraint: relationship.foreign_key_name.clone(),
                    columns: (
                        relationship.referenced_columns.clone(),
                        relationship.columns.clone(),
                    ),
                });
            }
        }
        let is_self = |candidate: &Candidate| candidate.target.name == parent.name;
        candidates.retain(|candidate| candidate.named_by(relation, hints, is_self(candidate)));
        // Many-to-many: a junction whose key holds foreign keys to both sides.
        if candidates.is_empty() {
            for junction in same_schema.clone() {
                for to_parent in junction
                    .foreign_keys
                    .iter()
                    .filter(|fk| fk.referenced_table == parent.name && in_key(junction, fk))
                {
                    for to_target in junction.foreign_keys.iter().filter(|fk| {
                        fk.name != to_parent.name
                            && fk.referenced_table.name == relation
                            && in_key(junction, fk)
                    }) {
                        // The far side must be exposed too: a junction never leads out of
                        // the API's schemas (to `auth.users`, say).
                        let Some(target) = same_schema
                            .clone()
                            .find(|table| table.name == to_target.referenced_table)
                        else {
                            continue;
                        };
                        let names = [&junction.name.name, &to_parent.name, &to_target.name];
                        if !hints.iter().all(|hint| names.contains(&hint)) {
                            continue;
                        }
                        candidates.push(Candidate {
                            target,
                            join: Join::Junction {
                                table: junction,
                                parent: pairs(&to_parent.referenced_columns, &to_parent.columns),
                                child: pairs(&to_target.columns, &to_target.referenced_columns),
                            },
                            to_one: false,
                            cardinality: Cardinality::ManyToMany {
                                junction: junction.name.name.clone(),
                                target_constraint: to_target.name.clone(),
                            },
                            constraint: to_parent.name.clone(),
                            columns: (to_parent.columns.clone(), to_target.columns.clone()),
                        });
                    }
                }
            }
        }
        match candidates.len() {
            0 => Err(RestError::pgrst(
                "PGRST200",
                format!(
                    "Could not find a relationship between '{}' and '{relation}' in the schema cache",
                    parent.name.name
                ),
            )
            .details(format!(
                "Searched for a foreign key relationship between '{}' and '{relation}'{} in the schema '{}', but no matches were found.",
                parent.name.name,
                hints
                    .first()
                    .map(|hint| format!(" using the hint '{hint}'"))
                    .unwrap_or_default(),
                self.request.schema
            ))),
            1 => {
                let candidate = candidates.remove(0);
                Ok((candidate.target, candidate.join, candidate.to_one))
            }
            _ => Err(RestError::pgrst(
                "PGRST201",
                format!(
                    "Could not embed because more than one relationship was found for '{}' and '{relation}'",
                    parent.name.name
                ),
            )
            .details_json(Value::Array(
                candidates
                    .iter()
                    .map(|candidate| candidate.described(parent))
                    .collect(),
            ))
            .hint(format!(
                "Try changing '{relation}' to one of the following: {}. Find the desired relationship in the 'details' key.",
                candidates
                    .iter()
                    .map(Candidate::suggested)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    fn returning(&self, table: &'a Table) -> Result<Returning<'a>, RestError> {
        let prefer = &self.request.prefer;
        Ok(Returning {
            shape: self.top_shape(Cow::Borrowed(table), None)?,
            representation: prefer.return_ == ReturnPreference::Representation,
            features: self.request.media == MediaType::GeoJson,
            location: (prefer.return_ == ReturnPreference::HeadersOnly
                && !table.primary_key.is_empty())
            .then(|| table.primary_key.clone()),
        })
    }

    fn insert(&self, table: &'a Table) -> Result<Insert<'a>, RestError> {
        let objects = payload_objects(self.request.payload.as_ref(), true)?;
        let bulk = matches!(self.request.payload, Some(Value::Array(_)));
        // `columns=` lists the keys to take; otherwise every key of every object counts.
        let keys: Vec<String> = match &self.request.columns {
            Some(columns) => columns.clone(),
            None => {
                let mut keys: Vec<String> = Vec::new();
                for object in &objects {
                    for key in object.keys() {
                        if !keys.contains(key) {
                            keys.push(key.clone());
                        }
                    }
                }
                keys
            }
        };
        let columns = keys
            .iter()
            .map(|key| payload_column(table, key))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(column) = columns.iter().find(|column| generated_always(column)) {
            return Err(generated_always_error(
                format!(
                    "cannot insert a non-DEFAULT value into column \"{}\"",
                    column.name
                ),
                column,
            )
            .hint("Use OVERRIDING SYSTEM VALUE to override."));
        }
        let missing_is_null =
            self.request.columns.is_some() && bulk && !self.request.prefer.missing_default;
        let mut rows = Vec::new();
        for object in objects {
            let mut row = Vec::new();
            for column in &columns {
                let value = match object.get(&column.name) {
                    Some(value) => value,
                    None if missing_is_null => &Value::Null,
                    None => continue,
                };
                row.push((
                    column.name.clone(),
                    values::from_json(self.schema, &column.pg_type, value)?,
                ));
            }
            rows.push(row);
        }
        let conflict = match self.request.prefer.resolution {
            None => None,
            Some(resolution) => {
                let target = self
                    .request
                    .on_conflict
                    .clone()
                    .unwrap_or_else(|| table.primary_key.clone());
                for column in &target {
                    payload_column(table, column)?;
                }
                if !target.is_empty() && !is_unique(table, &target) {
                    return Err(RestError::sql(
                        "42P10",
                        "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                        false,
                    ));
                }
                let mut update: Vec<String> = keys
                    .iter()
                    .filter(|key| !target.contains(key))
                    .cloned()
                    .collect();
                // A payload of the key alone still merges (PostgREST sets every payload
                // column), so the existing row is answered.
                if update.is_empty() {
                    update = target
                        .iter()
                        .filter(|key| keys.contains(key))
                        .cloned()
                        .collect();
                }
                (!target.is_empty()).then_some(Conflict {
                    update,
                    target,
                    resolution,
                })
            }
        };
        Ok(Insert {
            table,
            rows,
            conflict,
            returning: self.returning(table)?,
            evaluates_defaults: self.request.prefer.missing_default,
        })
    }

    fn update(&self, table: &'a Table) -> Result<Update<'a>, RestError> {
        let objects = payload_objects(self.request.payload.as_ref(), false)?;
        let mut assignments = Vec::new();
        for object in objects {
            for (key, value) in object {
                if let Some(columns) = &self.request.columns
                    && !columns.contains(key)
                {
                    continue;
                }
                let column = payload_column(table, key)?;
                if generated_always(column) {
                    return Err(generated_always_error(
                        format!("column \"{}\" can only be updated to DEFAULT", column.name),
                        column,
                    ));
                }
                assignments.push((
                    column.name.clone(),
                    values::from_json(self.schema, &column.pg_type, value)?,
                ));
            }
        }
        Ok(Update {
            table,
            assignments,
            filters: self.filters(table, &Vec::new())?,
            returning: self.returning(table)?,
        })
    }

    fn call(&self, name: &str, read_only: bool, max_rows: u64) -> Result<Call<'a>, RestError> {
        let qualified = QualifiedName::new(self.request.schema.as_str(), name);
        let mut given: Vec<(String, Cow<'a, Value>)> = if read_only {
            self.request
                .rpc_query_args
                .iter()
                .map(|(key, value)| (key.clone(), Cow::Owned(Value::String(value.clone()))))
                .collect()
        } else {
            match self.request.payload.as_ref() {
                Some(Value::Object(object)) => object
                    .iter()
                    .map(|(key, value)| (key.clone(), Cow::Borrowed(value)))
                    .collect(),
                None => Vec::new(),
                Some(_) => return Err(invalid_payload()),
            }
        };
        let (function, whole_body) = self.resolve(&qualified, &given, read_only)?;
        if whole_body {
            let body = self.request.payload.as_ref().map(Cow::Borrowed);
            given = vec![(String::new(), body.unwrap_or(Cow::Owned(Value::Null)))];
        }
        let mut arguments = Vec::new();
        for argument in &function.arguments {
            let value = match given.iter().find(|(key, _)| key == rest_name(argument)) {
                // A variadic argument repeated in the query string (`v=a&v=b`) is its array.
                Some(_) if read_only && argument.variadic => {
                    let items = given
                        .iter()
                        .filter(|(key, _)| key == rest_name(argument))
                        .map(|(_, value)| value.as_ref().clone())
                        .collect();
                    Argument::Value(values::from_json(
                        self.schema,
                        &argument.pg_type,
                        &Value::Array(items),
                    )?)
                }
                Some((_, value)) if argument.row.is_some() => Argument::Value(values::from_json(
                    self.schema,
                    &PgType::Jsonb,
                    &self.row_argument(argument, value)?,
                )?),
                Some((_, value)) => Argument::Value(match (&argument.pg_type, value.as_ref()) {
                    // GET arguments are text; `{a,b}` is an array literal.
                    (pg_type, Value::String(text)) if read_only => {
                        values::from_text(self.schema, pg_type, text)?
                    }
                    (pg_type, value) => values::from_json(self.schema, pg_type, value)?,
                }),
                None => Argument::Default,
            };
            arguments.push((argument.name.clone(), value));
        }
        let result = match &function.returns {
            FunctionReturn::Void | FunctionReturn::Trigger => CallResult::Void,
            FunctionReturn::Scalar(pg_type) => CallResult::Scalar(pg_type.clone()),
            FunctionReturn::SetOf(pg_type) => CallResult::Scalars(pg_type.clone()),
            FunctionReturn::Rows { table, set } => {
                let table = self.schema.table(table).ok_or_else(|| {
                    RestError::pgrst(
                        "PGRST205",
                        format!("Could not find the table '{table}' in the schema cache"),
                    )
                })?;
                CallResult::Rows {
                    shape: Box::new(self.top_shape(Cow::Borrowed(table), set.then_some(max_rows))?),
                    set: *set,
                }
            }
            FunctionReturn::Record(columns) if columns.len() == 1 => {
                CallResult::Scalar(columns[0].1.clone())
            }
            FunctionReturn::Table(columns) | FunctionReturn::Record(columns) => {
                let set = matches!(function.returns, FunctionReturn::Table(_));
                let kind = TableKind::View {
                    definition: String::new(),
                    security_invoker: false,
                };
                let table = Table {
                    columns: columns
                        .iter()
                        .map(|(name, pg_type)| Column::new(name.clone(), pg_type.clone()))
                        .collect(),
                    ..Table::new(qualified.clone(), kind)
                };
                CallResult::Rows {
                    shape: Box::new(self.top_shape(Cow::Owned(table), set.then_some(max_rows))?),
                    set,
                }
            }
        };
        Ok(Call {
            function,
            arguments,
            result,
            read_only,
        })
    }

    /// A row-typed argument's object as the row Postgres reads it: each column of the table
    /// in order, those the object lacks null, keys that are no column ignored.
    fn row_argument(&self, argument: &FunctionArgument, given: &Value) -> Result<Value, RestError> {
        let table = argument
            .row
            .as_ref()
            .and_then(|table| self.schema.table(table))
            .ok_or_else(|| {
                RestError::pgrst(
                    "PGRST127",
                    format!(
                        "The type of argument {} is no longer a table",
                        argument.name
                    ),
                )
            })?;
        let object = match given {
            Value::Null => return Ok(Value::Null),
            Value::String(text) => serde_json::from_str(text).ok(),
            object => Some(object.clone()),
        };
        let Some(Value::Object(object)) = object else {
            return Err(RestError::sql(
                "22P02",
                format!("malformed record literal: \"{given}\""),
                false,
            ));
        };
        Ok(Value::Object(
            table
                .columns
                .iter()
                .map(|column| {
                    let value = object.get(&column.name).cloned().unwrap_or(Value::Null);
                    (column.name.clone(), value)
                })
                .collect(),
        ))
    }

    /// The overload of `name` a call with the `given` arguments means, as PostgREST picks it:
    /// the one whose required arguments are all given and whose every given argument it takes;
    /// failing that, on POST, a function of one unnamed json/jsonb argument, which takes the
    /// whole body (the `bool` says so). None is PGRST202, several are PGRST203.
    fn resolve(
        &self,
        name: &QualifiedName,
        given: &[(String, Cow<'a, Value>)],
        read_only: bool,
    ) -> Result<(&'a Function, bool), RestError> {
        let keys: BTreeSet<&str> = given.iter().map(|(key, _)| key.as_str()).collect();
        let overloads: Vec<&'a Function> = self
            .schema
            .overloads(name)
            .iter()
            .filter(callable)
            .collect();
        let matching = matching(&overloads, &keys);
        let whole_body: Vec<&'a Function> = overloads
            .iter()
            .copied()
            .filter(|function| {
                !read_only
                    && matches!(function.arguments.as_slice(), [argument]
                        if argument.unnamed() && argument.row.is_none()
                            && matches!(argument.pg_type, PgType::Json | PgType::Jsonb))
            })
            .collect();
        match (matching.as_slice(), whole_body.as_slice()) {
            ([function], _) => Ok((function, false)),
            ([], [function]) => Ok((function, true)),
            ([], []) => Err(self.no_function(name, &keys, read_only, &overloads)),
            ([], several) | (several, _) => Err(RestError::pgrst(
                "PGRST203",
                ambiguity(several, PgType::pg_name),
            )
            .hint(AMBIGUITY_HINT)),
        }
    }

    /// PGRST202 for a call of `name` with `keys` that no overload takes.
    fn no_function(
        &self,
        name: &QualifiedName,
        keys: &BTreeSet<&str>,
        read_only: bool,
        overloads: &[&Function],
    ) -> RestError {
        let keys: Vec<&str> = keys.iter().copied().collect();
        let (message, searched) = if keys.is_empty() {
            (
                format!(
                    "Could not find the function {name} without parameters in the schema cache"
                ),
                " without parameters".to_owned(),
            )
        } else {
            (
                format!(
                    "Could not find the function {name}({}) in the schema cache",
                    keys.join(", ")
                ),
                format!(
                    " with parameter{} {}",
                    if keys.len() > 1 { "s" } else { "" },
                    keys.join(", ")
                ),
            )
        };
        let single = if read_only {
            ""
        } else {
            " or with a single unnamed json/jsonb parameter"
        };
        let mut error = RestError::pgrst("PGRST202", message).details(format!(
            "Searched for the function {name}{searched}{single}, but no matches were found in the schema cache."
        ));
        // With overloads, the one whose parameter list (sorted) is most like the call's; else
        // the function named most like this one.
        let listed = |names: Vec<&str>| {
            let mut names = names;
            names.sort_unstable();
            format!("({})", names.join(", "))
        };
        let lists: Vec<String> = overloads
            .iter()
            .map(|function| listed(function.arguments.iter().map(rest_name).collect()))
            .collect();
        let suggestion = if overloads.is_empty() {
            closest(
                &name.name,
                self.schema
                    .functions
                    .iter()
                    .filter(|(candidate, overloads)| {
                        candidate.schema == name.schema && overloads.iter().any(|f| callable(&f))
                    })
                    .map(|(candidate, _)| candidate.name.as_str()),
                NAME_LIKENESS,
            )
            .map(str::to_owned)
        } else {
            closest(
                &listed(keys.clone()),
                lists.iter().map(String::as_str),
                1.0 / 3.0,
            )
            .map(|list| format!("{}{list}", name.name))
        };
        if let Some(suggestion) = suggestion {
            error = error.hint(format!(
                "Perhaps you meant to call the function {}.{suggestion}",
                name.schema
            ));
        }
        error
    }
}

/// A relationship from the embedding table, as PostgREST's schema cache holds it.
struct Candidate<'a> {
    target: &'a Table,
    join: Join<'a>,
    to_one: bool,
    cardinality: Cardinality,
    /// The foreign key (for many-to-many, the junction's key to the embedding table).
    constraint: String,
    /// `(embedding table's columns, target's columns)`; for many-to-many the junction's
    /// columns towards each side.
    columns: (Vec<String>, Vec<String>),
}

enum Cardinality {
    ManyToOne,
    OneToMany,
    OneToOne,
    ManyToMany {
        junction: String,
        target_constraint: String,
    },
}

impl Candidate<'_> {
    /// Whether `relation!hint` names this relationship, after PostgREST's `findRel`: the target
    /// table, or (without a hint) the foreign key's name or its single column; a hint is the
    /// key's name or a single column of either side. A self-relationship is one-to-many under
    /// the table's name (`children:family_tree(*)`, hinted by the key's column) and many-to-one
    /// under its column (`parent(*)`).
    fn named_by(&self, relation: &str, hints: &[String], is_self: bool) -> bool {
        let single = |columns: &[String], name: &str| columns.len() == 1 && columns[0] == name;
        let (own, theirs) = (&self.columns.0, &self.columns.1);
        let by_table = self.target.name.name == relation;
        let is_view = matches!(self.target.kind, TableKind::View { .. });
        if is_self {
            return match (&self.cardinality, hints) {
                (Cardinality::OneToMany, []) => by_table,
                (Cardinality::ManyToOne, []) => single(own, relation),
                (Cardinality::OneToMany, [hint]) => by_table && single(theirs, hint),
                _ => false,
            };
        }
        match hints {
            [] => by_table || (!is_view && (self.constraint == relation || single(own, relation))),
            [hint] => {
                by_table && (self.constraint == *hint || single(own, hint) || single(theirs, hint))
            }
            _ => false,
        }
    }

    /// PGRST201's description of this relationship.
    fn described(&self, parent: &Table) -> Value {
        let (cardinality, relationship) = match &self.cardinality {
            Cardinality::ManyToMany {
                junction,
                target_constraint,
            } => (
                "many-to-many",
                format!(
                    "{junction} using {}({}) and {target_constraint}({})",
                    self.constraint,
                    self.columns.0.join(", "),
                    self.columns.1.join(", ")
                ),
            ),
            other => (
                match other {
                    Cardinality::ManyToOne => "many-to-one",
                    Cardinality::OneToMany => "one-to-many",
                    _ => "one-to-one",
                },
                format!(
                    "{} using {}({}) and {}({})",
                    self.constraint,
                    parent.name.name,
                    self.columns.0.join(", "),
                    self.target.name.name,
                    self.columns.1.join(", ")
                ),
            ),
        };
        serde_json::json!({
            "cardinality": cardinality,
            "embedding": format!("{} with {}", parent.name.name, self.target.name.name),
            "relationship": relationship,
        })
    }

    /// PGRST201's hint for this relationship: `'target!constraint'` (the junction for
    /// many-to-many).
    fn suggested(&self) -> String {
        let name = match &self.cardinality {
            Cardinality::ManyToMany { junction, .. } => junction,
            _ => &self.constraint,
        };
        format!("'{}!{name}'", self.target.name.name)
    }
}

fn pairs(left: &[String], right: &[String]) -> Vec<(String, String)> {
    left.iter().cloned().zip(right.iter().cloned()).collect()
}

fn is_unique(table: &Table, columns: &[String]) -> bool {
    let same = |key: &[String]| {
        !key.is_empty() && key.len() == columns.len() && key.iter().all(|c| columns.contains(c))
    };
    same(&table.primary_key)
        || table
            .unique_constraints
            .iter()
            .any(|unique| same(&unique.columns))
}

fn in_key(junction: &Table, foreign: &ForeignKey) -> bool {
    foreign
        .columns
        .iter()
        .all(|column| junction.primary_key.contains(column))
        || junction
            .unique_constraints
            .iter()
            .any(|unique| foreign.columns.iter().all(|c| unique.columns.contains(c)))
}

/// The table a mutation (`verb`: insert into, update, delete from) targets; views are
/// read-only here, as Postgres's views that are not automatically updatable.
/// A partition is read-only too: its rows are written through its parent.
fn writable<'t>(table: &'t Table, verb: &str) -> Result<&'t Table, RestError> {
    if let Some(partition) = &table.partition_of {
        return Err(RestError::sql(
            "0A000",
            format!("cannot {verb} partition \"{}\"", table.name.name),
            false,
        )
        .hint(format!(
            "Partitions are read-only on this store: write to \"{}\", which routes each row to its partition.",
            partition.parent.name
        )));
    }
    match table.kind {
        TableKind::Table => Ok(table),
        TableKind::View { .. } => Err(RestError::sql(
            "0A000",
            format!("cannot {verb} view \"{}\"", table.name.name),
            false,
        )
        .hint("Views are read-only on this store: write to the underlying table.")),
    }
}

fn plain(column: &Column) -> Expr {
    Expr {
        column: column.name.clone(),
        column_type: column.pg_type.clone(),
        computed: None,
        path: Vec::new(),
        cast: None,
    }
}

/// The function of `table`'s row that is its computed field `name`, as PostgREST finds one:
/// in the table's schema, taking the row as its only argument, returning one scalar.
fn computed_field<'s>(
    schema: &'s SchemaCache,
    table: &Table,
    name: &str,
) -> Option<(&'s Function, &'s PgType)> {
    schema
        .overloads(&QualifiedName::new(table.name.schema.as_str(), name))
        .iter()
        .find_map(
            |function| match (function.arguments.as_slice(), &function.returns) {
                ([argument], FunctionReturn::Scalar(pg_type))
                    if argument.row.as_ref() == Some(&table.name) =>
                {
                    Some((function, pg_type))
                }
                _ => None,
            },
        )
}

fn expr(schema: &SchemaCache, table: &Table, field: &Field) -> Result<Expr, RestError> {
    if let Some(column) = table.column(&field.column) {
        return with_path(plain(column), column, field);
    }
    let (function, pg_type) = computed_field(schema, table, &field.column).ok_or_else(|| {
        RestError::sql(
            "42703",
            format!("column {}.{} does not exist", table.name.name, field.column),
            false,
        )
    })?;
    let column = Column::new(field.column.clone(), pg_type.clone());
    let value = Expr {
        computed: Some(Box::new(Computed::of(function, table))),
        ..plain(&column)
    };
    with_path(value, &column, field)
}

/// A 42703 about a column of an embedded relation names it as PostgREST's query does: by its
/// alias `table_depth` (`column messages_1.sum does not exist`).
fn embedded_name(error: RestError, table: &Table, path: &EmbedPath) -> RestError {
    let plain = format!("column {}.", table.name.name);
    match error.message.strip_prefix(&plain) {
        Some(rest) if error.code == "42703" && !path.is_empty() => RestError {
            message: format!("column {}_{}.{rest}", table.name.name, path.len()),
            ..error
        },
        _ => error,
    }
}

/// `value` followed by `field`'s JSON path, which only json and jsonb values have.
fn with_path(value: Expr, column: &Column, field: &Field) -> Result<Expr, RestError> {
    if let Some(step) = field.json_path.first()
        && !matches!(column.pg_type, PgType::Json | PgType::Jsonb)
    {
        let arrow = if step.as_text { "->>" } else { "->" };
        return Err(RestError::sql(
            "42883",
            format!(
                "operator does not exist: {} {arrow} unknown",
                column.pg_type.pg_name()
            ),
            false,
        )
        .hint("No operator matches the given name and argument types. You might need to add explicit type casts."));
    }
    Ok(Expr {
        path: field.json_path.clone(),
        ..value
    })
}

/// The Postgres operator and operand of a filter on a range column: containment, overlap,
/// position, adjacency and order (`eq`/`neq` compare the printed forms as any value's).
fn range_operation(operation: &Operation) -> Option<(&'static str, &str)> {
    match operation {
        Operation::Contain { operator, value } => Some((operator.symbol(), value)),
        Operation::Range { operator, value } => Some((operator.symbol(), value)),
        Operation::Compare { operator, value } => Some((
            match operator {
                Operator::Gt => ">",
                Operator::Gte => ">=",
                Operator::Lt => "<",
                Operator::Lte => "<=",
                _ => return None,
            },
            value,
        )),
        _ => None,
    }
}

/// Postgres's answer to an operator its operand's type lacks (the filter's value is `unknown`).
fn no_operator(pg_type: &PgType, symbol: &str) -> RestError {
    RestError::sql(
        "42883",
        format!("operator does not exist: {} {symbol} unknown", pg_type.pg_name()),
        false,
    )
    .hint("No operator matches the given name and argument types. You might need to add explicit type casts.")
}

/// `match`/`imatch` patterns must compile, as Postgres checks its `~` operands (2201B).
fn check_regex(operator: Operator, pattern: &str) -> Result<(), RestError> {
    if !matches!(operator, Operator::Match | Operator::Imatch) {
        return Ok(());
    }
    regex::Regex::new(pattern).map(drop).map_err(|error| {
        let reason = error.to_string();
        let reason = reason
            .lines()
            .last()
            .unwrap_or("")
            .trim_start_matches("error: ");
        RestError::sql(
            "2201B",
            format!("invalid regular expression: {reason}"),
            false,
        )
    })
}

/// The output key of a field: the last JSON key, else the column.
fn output_key(field: &Field) -> String {
    match field.json_path.last() {
        Some(JsonStep {
            key: JsonKey::Name(name),
            ..
        }) => name.clone(),
        Some(JsonStep {
            key: JsonKey::Index(index),
            ..
        }) => index.to_string(),
        None => field.column.clone(),
    }
}

fn pattern_kind(operator: Operator) -> PatternKind {
    match operator {
        Operator::Ilike => PatternKind::Ilike,
        Operator::Match => PatternKind::Match,
        Operator::Imatch => PatternKind::Imatch,
        _ => PatternKind::Like,
    }
}

fn generated_always(column: &Column) -> bool {
    column
        .sequence
        .as_ref()
        .is_some_and(|sequence| sequence.always)
}

/// Postgres's 428C9 for a value written into a `generated always as identity` column.
fn generated_always_error(message: String, column: &Column) -> RestError {
    RestError::sql("428C9", message, false).details(format!(
        "Column \"{}\" is an identity column defined as GENERATED ALWAYS.",
        column.name
    ))
}

fn payload_column<'t>(table: &'t Table, key: &str) -> Result<&'t Column, RestError> {
    table.column(key).ok_or_else(|| {
        RestError::pgrst(
            "PGRST204",
            format!(
                "Could not find the '{key}' column of '{}' in the schema cache",
                table.name.name
            ),
        )
    })
}

fn invalid_payload() -> RestError {
    RestError::pgrst("PGRST102", "Empty or invalid json")
}

/// The body's objects: one object, or (when `bulk_allowed`) an array of objects.
fn payload_objects(
    payload: Option<&Value>,
    bulk_allowed: bool,
) -> Result<Vec<&Map<String, Value>>, RestError> {
    match payload {
        Some(Value::Object(object)) => Ok(vec![object]),
        Some(Value::Array(items)) if bulk_allowed => items
            .iter()
            .map(|item| item.as_object().ok_or_else(invalid_payload))
            .collect(),
        _ => Err(invalid_payload()),
    }
}

/// The overloads a call naming the arguments `keys` means, by PostgREST's rule: each whose
/// required arguments are all named and which takes every named one.
pub fn matching<'f>(overloads: &[&'f Function], keys: &BTreeSet<&str>) -> Vec<&'f Function> {
    overloads
        .iter()
        .copied()
        .filter(|function| {
            let (optional, required): (Vec<&FunctionArgument>, Vec<&FunctionArgument>) = function
                .arguments
                .iter()
                .partition(|argument| argument.default.is_some());
            let optional: BTreeSet<&str> = optional.into_iter().map(rest_name).collect();
            let required: BTreeSet<&str> = required.into_iter().map(rest_name).collect();
            keys.difference(&optional).copied().collect::<BTreeSet<_>>() == required
        })
        .collect()
}

/// PGRST203's message: the `candidates` a call could mean, as PostgREST lists them, each
/// argument's type named by `type_name` (PostgREST prints `integer`, postgres-meta `int4`).
pub fn ambiguity(candidates: &[&Function], type_name: fn(&PgType) -> String) -> String {
    // Listed by their arguments: `f()` before `f( => text)`.
    let mut candidates: Vec<(String, &QualifiedName)> = candidates
        .iter()
        .map(|function| {
            let arguments: Vec<String> = function
                .arguments
                .iter()
                .map(|argument| {
                    format!(
                        "{} => {}",
                        rest_name(argument),
                        type_name(&argument.pg_type)
                    )
                })
                .collect();
            (arguments.join(", "), &function.name)
        })
        .collect();
    candidates.sort_unstable();
    let listed: Vec<String> = candidates
        .iter()
        .map(|(arguments, name)| format!("{name}({arguments})"))
        .collect();
    format!(
        "Could not choose the best candidate function between: {}",
        listed.join(", ")
    )
}

/// PGRST203's hint.
pub const AMBIGUITY_HINT: &str = "Try renaming the parameters or the function itself in the database so function overloading can be resolved";

/// Whether PostgREST offers `function` over RPC: not a trigger function, and with every
/// argument named, or with one unnamed argument of a type a whole body can be (json, jsonb,
/// text, bytea; not a row type, which Solobase binds as JSON).
pub fn callable(function: &&Function) -> bool {
    !matches!(function.returns, FunctionReturn::Trigger)
        && match function.arguments.as_slice() {
            [argument] if argument.unnamed() => {
                argument.row.is_none()
                    && matches!(
                        argument.pg_type,
                        PgType::Json | PgType::Jsonb | PgType::Text | PgType::Bytea
                    )
            }
            arguments => arguments.iter().all(|argument| !argument.unnamed()),
        }
}

/// The name a request gives `argument` (an unnamed one is `""`).
pub fn rest_name(argument: &FunctionArgument) -> &str {
    if argument.unnamed() {
        ""
    } else {
        &argument.name
    }
}

/// The candidate most like `name`, as PostgREST's fuzzy search (a FuzzySet) suggests one: an
/// exact match (ignoring case) first; else the candidates sharing trigrams (bigrams when none
/// does) with it, their grams taken of the lower-cased text with only letters, digits, spaces
/// and commas, best by edit distance relative to the longer name, at least `minimum` alike
/// (PostgREST asks 0.75 of table and function names, a third of parameter lists).
fn closest<'n>(
    name: &str,
    candidates: impl Iterator<Item = &'n str>,
    minimum: f64,
) -> Option<&'n str> {
    let simplified = |text: &str| -> String {
        text.chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == ',')
            .collect()
    };
    let wanted = name.to_lowercase();
    let candidates: Vec<(&str, String)> = candidates.map(|c| (c, c.to_lowercase())).collect();
    if let Some((exact, _)) = candidates.iter().find(|(_, text)| *text == wanted) {
        return Some(exact);
    }
    for size in [3, 2] {
        let wanted_grams = grams(&simplified(&wanted), size);
        let mut sharing: Vec<(f64, &str, &String)> = candidates
            .iter()
            .map(|(candidate, text)| {
                let score = cosine(&wanted_grams, &grams(&simplified(text), size));
                (score, *candidate, text)
            })
            .filter(|(score, _, _)| *score > 0.0)
            .collect();
        if sharing.is_empty() {
            continue;
        }
        sharing.sort_by(|a, b| b.0.total_cmp(&a.0));
        sharing.truncate(50);
        let likeness = |text: &str| {
            let longer = wanted.chars().count().max(text.chars().count()).max(1);
            1.0 - distance(text, &wanted) as f64 / longer as f64
        };
        return sharing
            .into_iter()
            .map(|(_, candidate, text)| (likeness(text), candidate))
            .filter(|(likeness, _)| *likeness >= minimum)
            .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
            .map(|(_, candidate)| candidate);
    }
    None
}

/// The `size`-grams of `text` padded with `-`, counted.
fn grams(text: &str, size: usize) -> HashMap<String, usize> {
    let mut padded: Vec<char> = std::iter::once('-')
        .chain(text.chars())
        .chain(std::iter::once('-'))
        .collect();
    while padded.len() < size {
        padded.push('-');
    }
    let mut counts = HashMap::new();
    for gram in padded.windows(size) {
        *counts.entry(gram.iter().collect()).or_insert(0) += 1;
    }
    counts
}

fn cosine(a: &HashMap<String, usize>, b: &HashMap<String, usize>) -> f64 {
    let dot: usize = a
        .iter()
        .map(|(gram, n)| n * b.get(gram).unwrap_or(&0))
        .sum();
    let norm =
        |grams: &HashMap<String, usize>| grams.values().map(|n| (n * n) as f64).sum::<f64>().sqrt();
    if dot == 0 {
        return 0.0;
    }
    dot as f64 / (norm(a) * norm(b))
}

/// How alike a table or function name must be to be suggested.
const NAME_LIKENESS: f64 = 0.75;

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            current.push(
                (previous[j] + usize::from(ca != *cb))
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_what_postgrest_fuzzy_search_gives() {
        let procs = ["test", "another"];
        assert_eq!(
            closest("testt", procs.into_iter(), NAME_LIKENESS),
            Some("test")
        );
        assert_eq!(closest("other", procs.into_iter(), NAME_LIKENESS), None);
        assert_eq!(
            closest("noclosealternative", procs.into_iter(), NAME_LIKENESS),
            None
        );
        let lists = ["(name, param, val)", "(attr, id)"];
        let third = 1.0 / 3.0;
        assert_eq!(
            closest("(nam, pqaram, vall)", lists.into_iter(), third),
            Some(lists[0])
        );
        assert_eq!(
            closest("(param, val)", lists.into_iter(), third),
            Some(lists[0])
        );
        assert_eq!(
            closest("(attrs, id)", lists.into_iter(), third),
            Some(lists[1])
        );
        assert_eq!(closest("(id)", lists.into_iter(), third), Some(lists[1]));
        assert_eq!(
            closest("(noclosealternative)", lists.into_iter(), third),
            None
        );
    }
    use crate::rest::fixture;
    use crate::rest::request;
    use axum::http::{HeaderMap, Method};

    fn request(method: Method, target: &str, body: &str) -> ApiRequest {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        request::parse(
            &method,
            path,
            query,
            &HeaderMap::new(),
            body.as_bytes(),
            &crate::config::ApiConfig::default().schemas,
        )
        .unwrap()
    }

    /// The error code and status planning `target` gets with `schema`.
    #[track_caller]
    fn check_error(
        schema: &SchemaCache,
        method: Method,
        target: &str,
        body: &str,
        code: &str,
        status: u16,
    ) {
        let request = request(method, target, body);
        let error = build(&request, schema, 1000).unwrap_err();
        assert_eq!(
            (error.code.as_str(), error.status.as_u16()),
            (code, status),
            "{target}: {}",
            error.message
        );
    }

    #[test]
    fn ambiguous_embeds_are_300_until_a_hint_picks_one() {
        let mut schema = fixture::schema();
        let todos = schema
            .tables
            .get_mut(&QualifiedName::public("todos"))
            .unwrap();
        todos.columns.push(plain_column("reviewer", PgType::Uuid));
        todos.foreign_keys.push(ForeignKey {
            name: "todos_reviewer_fkey".into(),
            columns: vec!["reviewer".into()],
            referenced_table: QualifiedName::public("profiles"),
            referenced_columns: vec!["id".into()],
            on_delete: crate::schema::ReferentialAction::NoAction,
            on_update: crate::schema::ReferentialAction::NoAction,
        });
        check_error(
            &schema,
            Method::GET,
            "todos?select=profiles(name)",
            "",
            "PGRST201",
            300,
        );
        for hinted in [
            "profiles!reviewer(name)",
            "profiles!todos_owner_fkey(name)",
            "owner(name)",
        ] {
            let request = request(Method::GET, &format!("todos?select={hinted}"), "");
            let Plan::Read(read) = build(&request, &schema, 1000).unwrap() else {
                panic!()
            };
            assert!(
                matches!(&read.shape.outputs[0], Output::Embed { embed, .. } if embed.to_one),
                "{hinted}"
            );
        }
    }

    #[test]
    fn each_planning_mistake_has_its_code() {
        let schema = fixture::schema();
        check_error(&schema, Method::GET, "nothing", "", "PGRST205", 404);
        check_error(
            &schema,
            Method::GET,
            "todos?select=title,profiles(nope)",
            "",
            "42703",
            400,
        );
        check_error(
            &schema,
            Method::GET,
            "todos?select=id,tags(name)&items.order=id",
            "",
            "PGRST108",
            400,
        );
        check_error(
            &schema,
            Method::GET,
            "todos?select=...items(label)",
            "",
            "PGRST119",
            400,
        );
        check_error(
            &schema,
            Method::GET,
            "todos?select=id::point",
            "",
            "42846",
            400,
        );
        check_error(&schema, Method::GET, "todos?title=cs.{a}", "", "42883", 404);
        check_error(
            &schema,
            Method::GET,
            "todos?title=adj.[1,2)",
            "",
            "42883",
            404,
        );
        check_error(&schema, Method::GET, "todos?tags=cs.{a", "", "22P02", 400);
        check_error(
            &schema,
            Method::POST,
            "open_todos",
            r#"{"title":"x"}"#,
            "0A000",
            400,
        );
        check_error(
            &schema,
            Method::POST,
            "todos?columns=nope",
            r#"[{"title":"x"}]"#,
            "PGRST204",
            400,
        );
        check_error(&schema, Method::POST, "todos", "[1]", "PGRST102", 400);
        check_error(
            &schema,
            Method::PATCH,
            "todos",
            r#"{"id":"one"}"#,
            "22P02",
            400,
        );
        check_error(
            &schema,
            Method::POST,
            "rpc/search_todos",
            r#"{"nope":1}"#,
            "PGRST202",
            404,
        );
    }

    #[test]
    fn reads_are_capped_at_max_rows_and_payloads_become_stored_values() {
        let schema = fixture::schema();
        let limited = request(Method::GET, "todos?limit=5000", "");
        let Plan::Read(read) = build(&limited, &schema, 1000).unwrap() else {
            panic!()
        };
        assert_eq!(read.shape.limit, Some(1000));
        let insert = request(
            Method::POST,
            "todos",
            r#"{"title":"t","done":"yes","created_at":"2024-01-01 10:00:00+02","owner":"00000000-0000-0000-0000-00000000000A","tags":["x"],"data":{"a":[1]}}"#,
        );
        let Plan::Insert(insert) = build(&insert, &schema, 1000).unwrap() else {
            panic!()
        };
        assert_eq!(
            insert.rows[0],
            vec![
                ("title".into(), Literal::Text("t".into())),
                ("done".into(), Literal::Integer(1)),
                (
                    "created_at".into(),
                    Literal::Text("2024-01-01T08:00:00+00:00".into())
                ),
                (
                    "owner".into(),
                    Literal::Text("00000000-0000-0000-0000-00000000000a".into())
                ),
                ("tags".into(), Literal::Text(r#"["x"]"#.into())),
                ("data".into(), Literal::Text(r#"{"a":[1]}"#.into())),
            ]
        );
        assert_eq!(insert.conflict, None);
    }

    fn plain_column(name: &str, pg_type: PgType) -> Column {
        Column {
            name: name.into(),
            pg_type,
            nullable: true,
            default: None,
            identity: false,
            sequence: None,
            comment: None,
        }
    }
}
