//! Request: turns an HTTP request on `/rest/v1` into an `ApiRequest` — PostgREST's query grammar
//! (`select`, filters, logic trees, `order`, `limit`/`offset`, `columns`, `on_conflict`), the
//! `Prefer`, `Accept`, `Range` and profile headers, and the JSON body. It knows nothing of the
//! schema: unknown tables and columns are the planner's to reject. Rejects: PGRST100 (grammar),
//! PGRST102 (body), PGRST106 (schema), PGRST107 (media type), PGRST122 (strict Prefer).

use serde_json::Value;

/// Everything a `/rest/v1` request asks for, before it is checked against the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// From `Accept-Profile`/`Content-Profile`; `public` when absent.
    pub schema: String,
    pub target: Target,
    pub action: Action,
    /// `select=`; `[SelectItem::Star]` when absent.
    pub select: Vec<SelectItem>,
    /// Filters and logic trees, each applying to the top-level rows (empty path) or to an
    /// embedded resource (`items.col=eq.1` has path `["items"]`). All are AND-ed.
    pub filters: Vec<(EmbedPath, LogicTree)>,
    /// `order=` and `{embed}.order=`.
    pub orders: Vec<(EmbedPath, Vec<OrderTerm>)>,
    /// `limit`/`offset` (and `{embed}.limit`), plus the `Range` header for the top level.
    pub ranges: Vec<(EmbedPath, Range)>,
    pub prefer: Prefer,
    /// `columns=` for inserts/upserts; `None` when absent.
    pub columns: Option<Vec<String>>,
    /// `on_conflict=`; `None` when absent.
    pub on_conflict: Option<Vec<String>>,
    pub media: MediaType,
    /// The parsed JSON body of POST/PATCH (and RPC POST); `None` for GET/HEAD/DELETE.
    pub payload: Option<Value>,
    /// RPC arguments given in the query string (GET/HEAD `/rpc/fn?a=1`).
    pub rpc_query_args: Vec<(String, String)>,
}

/// The names of embedded resources from the top level down (aliases or relation names as
/// they appear in `select`); empty for the top level.
pub type EmbedPath = Vec<String>;

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Table(String),
    Rpc(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// GET (or HEAD when `head`).
    Read { head: bool },
    /// POST to a table (an upsert when `Prefer: resolution=…`).
    Insert,
    /// PATCH.
    Update,
    /// DELETE.
    Delete,
    /// `/rpc/fn`: POST, or GET/HEAD (`read_only`).
    Call { read_only: bool, head: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`
    Star,
    /// `[alias:]column[->json path][::cast]`
    Field {
        alias: Option<String>,
        field: Field,
        cast: Option<String>,
    },
    /// `[alias:][...]relation[!hint…](select)`
    Embed {
        alias: Option<String>,
        relation: String,
        /// `!fk_name`, `!column` or `!table` hints, in order (excluding `inner`/`left`).
        hints: Vec<String>,
        /// `!inner`
        inner: bool,
        /// `...relation(…)`: merge a to-one embed's columns into the parent.
        spread: bool,
        select: Vec<SelectItem>,
    },
    /// `count()` or `relation(count)`'s inner item: an aggregate count of the rows.
    Count { alias: Option<String> },
}

/// A column, optionally followed by a JSON path: `data->a->>b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub column: String,
    pub json_path: Vec<JsonStep>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonStep {
    /// `->>` (text) rather than `->` (json).
    pub as_text: bool,
    pub key: JsonKey,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JsonKey {
    Name(String),
    Index(i64),
}

/// A filter or a nested `and(…)`/`or(…)`, possibly negated with `not.`.
#[derive(Debug, Clone, PartialEq)]
pub enum LogicTree {
    Filter(Filter),
    And {
        negated: bool,
        children: Vec<LogicTree>,
    },
    Or {
        negated: bool,
        children: Vec<LogicTree>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: Field,
    pub negated: bool,
    pub operation: Operation,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// `eq neq gt gte lt lte like ilike match imatch isdistinct` with a single value
    /// (`*` in like patterns already turned into `%`).
    Compare { operator: Operator, value: String },
    /// `like(any)`, `ilike(all)`, …: a pattern list.
    Quantified {
        operator: Operator,
        quantifier: Quantifier,
        values: Vec<String>,
    },
    /// `in.(a,b,"c,d")`, duplicates kept in order of appearance.
    In(Vec<String>),
    /// `is.null|true|false|unknown|not_null`
    Is(IsValue),
    /// `cs cd ov` with the raw operand (`{a,b}`, `["a"]`, `{"k":1}`, `[1,2)`).
    Contain {
        operator: ContainOperator,
        value: String,
    },
    /// `fts plfts phfts wfts`, optionally with a language: `fts(english).cat`.
    TextSearch {
        kind: TextSearchKind,
        language: Option<String>,
        query: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    Match,
    Imatch,
    IsDistinct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainOperator {
    /// `cs` — `@>`
    Contains,
    /// `cd` — `<@`
    ContainedBy,
    /// `ov` — `&&`
    Overlaps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextSearchKind {
    Fts,
    Plain,
    Phrase,
    Websearch,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderTerm {
    pub field: Field,
    pub descending: bool,
    /// `None` is Postgres's default (nulls last ascending, first descending).
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    pub offset: u64,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prefer {
    pub return_: ReturnPreference,
    pub count: Option<CountPreference>,
    pub resolution: Option<Resolution>,
    /// `missing=default`
    pub missing_default: bool,
    /// `tx=rollback`
    pub rollback: bool,
    /// `max-affected=N` (honoured with `handling=strict`).
    pub max_affected: Option<u64>,
    /// `handling=strict`
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnPreference {
    #[default]
    Minimal,
    Representation,
    HeadersOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountPreference {
    Exact,
    Planned,
    Estimated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaType {
    /// `application/json`, `*/*` or no `Accept`.
    #[default]
    Json,
    /// `application/vnd.pgrst.object+json`: exactly one row, as a bare object.
    SingularObject,
    /// `text/csv`
    Csv,
}
