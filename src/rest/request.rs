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
    /// `nulls=stripped` on `application/vnd.pgrst.array+json` or `…object+json`: object fields
    /// that are null are left out, at every depth (`json_strip_nulls`).
    pub strip_nulls: bool,
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
    /// `[alias:][...]relation[!hint…](select)`; an empty `select` embeds only to filter.
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
    /// `sl sr nxr nxl adj` with the raw operand (`[2,25)`).
    Range {
        operator: RangeOperator,
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

impl ContainOperator {
    /// The Postgres operator.
    pub fn symbol(self) -> &'static str {
        match self {
            ContainOperator::Contains => "@>",
            ContainOperator::ContainedBy => "<@",
            ContainOperator::Overlaps => "&&",
        }
    }
}

/// PostgREST's operators of a range's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOperator {
    /// `sl` — `<<`
    StrictlyLeft,
    /// `sr` — `>>`
    StrictlyRight,
    /// `nxr` — `&<`
    NotExtendsRight,
    /// `nxl` — `&>`
    NotExtendsLeft,
    /// `adj` — `-|-`
    Adjacent,
}

impl RangeOperator {
    /// The Postgres operator.
    pub fn symbol(self) -> &'static str {
        match self {
            RangeOperator::StrictlyLeft => "<<",
            RangeOperator::StrictlyRight => ">>",
            RangeOperator::NotExtendsRight => "&<",
            RangeOperator::NotExtendsLeft => "&>",
            RangeOperator::Adjacent => "-|-",
        }
    }
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
    /// `application/geo+json`: a GeoJSON FeatureCollection of the rows (PostGIS's).
    GeoJson,
}

use axum::http::{HeaderMap, Method, StatusCode};

use super::error::RestError;

const RESERVED: [&str; 7] = [
    "select",
    "columns",
    "on_conflict",
    "order",
    "limit",
    "offset",
    "or",
];

/// Parses one `/rest/v1` request. `path` is what follows `/rest/v1/` (`todos` or `rpc/add`);
/// `raw_query` is the undecoded query string.
pub fn parse(
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    exposed: &[String],
) -> Result<ApiRequest, RestError> {
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let target = match segments.as_slice() {
        ["rpc", function] => Target::Rpc(decode(function)),
        [table] => Target::Table(decode(table)),
        _ => {
            return Err(RestError::new(
                StatusCode::NOT_FOUND,
                "PGRST125",
                "Invalid path specified in request URL",
            ));
        }
    };
    let action = match (&target, method.as_str()) {
        (Target::Table(_), "GET") => Action::Read { head: false },
        (Target::Table(_), "HEAD") => Action::Read { head: true },
        (Target::Table(_), "POST") => Action::Insert,
        (Target::Table(_), "PATCH") => Action::Update,
        (Target::Table(_), "DELETE") => Action::Delete,
        (Target::Rpc(_), "POST") => Action::Call {
            read_only: false,
            head: false,
        },
        (Target::Rpc(_), "GET") => Action::Call {
            read_only: true,
            head: false,
        },
        (Target::Rpc(_), "HEAD") => Action::Call {
            read_only: true,
            head: true,
        },
        (Target::Rpc(_), other) => {
            return Err(RestError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "PGRST101",
                format!("Cannot use the {other} method on RPC"),
            ));
        }
        (Target::Table(_), "PUT") => {
            return Err(RestError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "PGRST105",
                "PUT is not supported",
            ));
        }
        (_, other) => {
            return Err(RestError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "PGRST117",
                format!("Unsupported HTTP method: {other}"),
            ));
        }
    };
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let writes = !matches!(
        action,
        Action::Read { .. }
            | Action::Call {
                read_only: true,
                ..
            }
    );
    let schema = header(if writes {
        "content-profile"
    } else {
        "accept-profile"
    })
    .or(exposed.first().map(String::as_str))
    .unwrap_or("public")
    .to_owned();
    if !exposed.contains(&schema) {
        return Err(RestError::new(
            StatusCode::NOT_ACCEPTABLE,
            "PGRST106",
            format!("Invalid schema: {schema}"),
        )
        .hint(format!(
            "Only the following schemas are exposed: {}",
            exposed.join(", ")
        )));
    }
    let (media, strip_nulls) = parse_accept(header("accept"))?;
    let mut request = ApiRequest {
        schema,
        target,
        action,
        select: vec![SelectItem::Star],
        filters: Vec::new(),
        orders: Vec::new(),
        ranges: Vec::new(),
        prefer: parse_prefer(headers)?,
        columns: None,
        on_conflict: None,
        media,
        strip_nulls,
        payload: None,
        rpc_query_args: Vec::new(),
    };
    for (key, value) in query_pairs(raw_query) {
        check_nesting(&key, &value)?;
        apply_parameter(&mut request, &key, &value)?;
    }
    if let Some(range) = header("range") {
        let range = parse_range_header(range)?;
        match request.ranges.iter_mut().find(|(path, _)| path.is_empty()) {
            Some((_, existing)) => *existing = range,
            None => request.ranges.push((Vec::new(), range)),
        }
    }
    let takes_body = matches!(
        request.action,
        Action::Insert
            | Action::Update
            | Action::Call {
                read_only: false,
                ..
            }
    );
    if takes_body {
        request.payload = Some(if body.iter().all(u8::is_ascii_whitespace) {
            if matches!(request.action, Action::Call { .. }) {
                Value::Object(Default::default())
            } else {
                return Err(invalid_body());
            }
        } else {
            serde_json::from_slice(body).map_err(|_| invalid_body())?
        });
    }
    Ok(request)
}

/// How deeply parentheses may nest in one parameter (embeds in `select`, logic trees) and how
/// many dots an embed path may have: real queries stay far below, and the parser, planner and
/// SQL builder recurse once per level.
pub const MAX_NESTING: usize = 32;

/// Refuses a parameter nested deeper than `MAX_NESTING`, before anything recurses over it.
fn check_nesting(key: &str, value: &str) -> Result<(), RestError> {
    let path_depth = key.split("->").next().unwrap_or(key).matches('.').count();
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' if !quoted => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest.max(path_depth) > MAX_NESTING {
        let shown: String = key.chars().take(64).collect();
        return Err(RestError::parse(
            "query parameter",
            &shown,
            format!("nested more than {MAX_NESTING} levels deep"),
        ));
    }
    Ok(())
}

fn invalid_body() -> RestError {
    RestError::new(StatusCode::BAD_REQUEST, "PGRST102", "Empty or invalid json")
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// `a=1&b=2` with `+` as space and percent-decoding, in order, repeats kept.
fn query_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (decode(key), decode(value)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

fn apply_parameter(request: &mut ApiRequest, key: &str, value: &str) -> Result<(), RestError> {
    let (path, last) = match key.rsplit_once('.') {
        Some((prefix, last))
            if !RESERVED.contains(&key) && !key.starts_with("not.") && is_reserved_suffix(last) =>
        {
            (
                prefix.split('.').map(str::to_owned).collect::<Vec<_>>(),
                last,
            )
        }
        _ => (Vec::new(), key),
    };
    match (last, key) {
        ("select", _) if path.is_empty() => request.select = parse_select(value)?,
        ("columns", _) if path.is_empty() => {
            request.columns = Some(
                value
                    .split(',')
                    .map(|column| column.trim().trim_matches('"').to_owned())
                    .filter(|c| !c.is_empty())
                    .collect(),
            );
        }
        ("on_conflict", _) if path.is_empty() => {
            request.on_conflict = Some(
                value
                    .split(',')
                    .map(|column| column.trim().trim_matches('"').to_owned())
                    .collect(),
            );
        }
        ("order", _) => request.orders.push((path, parse_order(value)?)),
        ("limit", _) | ("offset", _) => {
            let number = row_count(value).ok_or_else(|| {
                RestError::parse(
                    last,
                    value,
                    format!("unexpected \"{value}\" expecting a non-negative integer"),
                )
            })?;
            let entry = match request
                .ranges
                .iter()
                .position(|(existing, _)| *existing == path)
            {
                Some(index) => &mut request.ranges[index].1,
                None => {
                    request.ranges.push((path, Range::default()));
                    &mut request.ranges.last_mut().expect("just pushed").1
                }
            };
            if last == "limit" {
                entry.limit = Some(number);
            } else {
                entry.offset = number;
            }
        }
        ("or" | "and", _) | (_, "not.or" | "not.and") => {
            let (negated, operator) = match key.strip_prefix("not.") {
                Some(operator) => (true, operator),
                None => (false, last),
            };
            let inner = value
                .strip_prefix('(')
                .and_then(|rest| rest.strip_suffix(')'))
                .ok_or_else(|| RestError::parse("logic tree", value, "expecting \"(\""))?;
            let children = split_top_level(inner)
                .iter()
                .map(|element| parse_logic_element(element))
                .collect::<Result<_, _>>()?;
            let tree = if operator == "or" {
                LogicTree::Or { negated, children }
            } else {
                LogicTree::And { negated, children }
            };
            request.filters.push((path, tree));
        }
        _ => {
            let is_rpc_read = matches!(
                request.action,
                Action::Call {
                    read_only: true,
                    ..
                }
            );
            match parse_filter_value(value) {
                Ok(operation) => {
                    let (embed, column) = split_embed_column(key);
                    let (field, negated_operation) = (parse_field(&column)?, operation);
                    request.filters.push((
                        embed,
                        LogicTree::Filter(Filter {
                            field,
                            negated: negated_operation.0,
                            operation: negated_operation.1,
                        }),
                    ));
                }
                Err(_) if is_rpc_read => request
                    .rpc_query_args
                    .push((key.to_owned(), value.to_owned())),
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

fn is_reserved_suffix(last: &str) -> bool {
    matches!(last, "order" | "limit" | "offset" | "or" | "and")
}

/// `items.col` → (["items"], "col"); JSON arrows are never split.
fn split_embed_column(key: &str) -> (EmbedPath, String) {
    let arrow = key.find("->").unwrap_or(key.len());
    match key[..arrow].rfind('.') {
        Some(dot) => (
            key[..dot].split('.').map(str::to_owned).collect(),
            key[dot + 1..].to_owned(),
        ),
        None => (Vec::new(), key.to_owned()),
    }
}

/// `col->a->>b` into a field.
fn parse_field(text: &str) -> Result<Field, RestError> {
    let text = text.trim();
    let mut pieces = Vec::new();
    let mut rest = text;
    let column_end = rest.find("->").unwrap_or(rest.len());
    let column = rest[..column_end].trim_matches('"').to_owned();
    rest = &rest[column_end..];
    while !rest.is_empty() {
        let (as_text, after) = if let Some(after) = rest.strip_prefix("->>") {
            (true, after)
        } else if let Some(after) = rest.strip_prefix("->") {
            (false, after)
        } else {
            return Err(RestError::parse(
                "field",
                text,
                format!("unexpected \"{rest}\""),
            ));
        };
        let end = after.find("->").unwrap_or(after.len());
        let key_text = after[..end].trim_matches('\'').trim_matches('"');
        let key = match key_text.parse::<i64>() {
            Ok(index) => JsonKey::Index(index),
            Err(_) => JsonKey::Name(key_text.to_owned()),
        };
        pieces.push(JsonStep { as_text, key });
        rest = &after[end..];
    }
    if column.is_empty() {
        return Err(RestError::parse("field", text, "expecting a column name"));
    }
    Ok(Field {
        column,
        json_path: pieces,
    })
}

/// Splits on commas outside parentheses and double quotes.
fn split_top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
                continue;
            }
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.is_empty() || !parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// `select=` items.
pub fn parse_select(text: &str) -> Result<Vec<SelectItem>, RestError> {
    let cleaned: String = strip_whitespace_outside_quotes(text);
    if cleaned.is_empty() {
        return Ok(vec![SelectItem::Star]);
    }
    split_top_level(&cleaned)
        .iter()
        .map(|item| parse_select_item(item, text))
        .collect()
}

fn strip_whitespace_outside_quotes(text: &str) -> String {
    let mut quoted = false;
    text.chars()
        .filter(|c| {
            if *c == '"' {
                quoted = !quoted;
            }
            quoted || !c.is_whitespace()
        })
        .collect()
}

fn parse_select_item(item: &str, whole: &str) -> Result<SelectItem, RestError> {
    let error = |details: &str| RestError::parse("select parameter", whole, details.to_owned());
    if item == "*" {
        return Ok(SelectItem::Star);
    }
    if item.is_empty() || item.matches('(').count() != item.matches(')').count() {
        return Err(error("unexpected end of input"));
    }
    let (alias, rest) = split_alias(item);
    if let Some(open) = rest.find('(') {
        let inner = rest[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| error("expecting \")\""))?;
        let head = &rest[..open];
        if head == "count" && inner.is_empty() {
            return Ok(SelectItem::Count { alias });
        }
        let (spread, head) = match head.strip_prefix("...") {
            Some(head) => (true, head),
            None => (false, head),
        };
        let mut parts = head.split('!');
        let relation = parts.next().unwrap_or("").trim_matches('"').to_owned();
        if relation.is_empty() {
            return Err(error("expecting a relation name"));
        }
        let mut hints = Vec::new();
        let mut inner_join = false;
        for hint in parts {
            match hint {
                "inner" => inner_join = true,
                "left" => {}
                other => hints.push(other.to_owned()),
            }
        }
        let select = if inner == "count" {
            vec![SelectItem::Count { alias: None }]
        } else if inner.is_empty() {
            // `relation()`: embedded only to filter on, no entry in the row.
            Vec::new()
        } else {
            parse_select(inner)?
        };
        return Ok(SelectItem::Embed {
            alias,
            relation,
            hints,
            inner: inner_join,
            spread,
            select,
        });
    }
    let (field_text, cast) = match rest.split_once("::") {
        Some((field, cast)) => (field, Some(cast.to_owned())),
        None => (rest, None),
    };
    let field =
        parse_field(field_text).map_err(|_| error(&format!("unexpected \"{field_text}\"")))?;
    Ok(SelectItem::Field { alias, field, cast })
}

/// `alias:rest` (a single colon, not the `::` of a cast).
fn split_alias(item: &str) -> (Option<String>, &str) {
    let bytes = item.as_bytes();
    let mut quoted = false;
    for (index, byte) in bytes.iter().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b'(' if !quoted => break,
            b':' if !quoted => {
                if bytes.get(index + 1) == Some(&b':') || (index > 0 && bytes[index - 1] == b':') {
                    return (None, item);
                }
                return (
                    Some(item[..index].trim_matches('"').to_owned()),
                    &item[index + 1..],
                );
            }
            _ => {}
        }
    }
    (None, item)
}

/// `[not.]op.value` → (negated, operation).
fn parse_filter_value(text: &str) -> Result<(bool, Operation), RestError> {
    let error = |details: String| RestError::parse("filter", text, details);
    let (negated, rest) = match text.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (operator, value) = rest.split_once('.').ok_or_else(|| {
        error(format!(
            "unexpected \"{rest}\" expecting \"not\" or operator (eq, gt, ...)"
        ))
    })?;
    let (name, modifier) = match operator.split_once('(') {
        Some((name, modifier)) => (name, Some(modifier.trim_end_matches(')'))),
        None => (operator, None),
    };
    let compare = |operator| {
        Ok((
            negated,
            Operation::Compare {
                operator,
                value: value.to_owned(),
            },
        ))
    };
    let like = |value: &str| value.replace('*', "%");
    match (name, modifier) {
        ("eq", None) => compare(Operator::Eq),
        ("neq", None) => compare(Operator::Neq),
        ("gt", None) => compare(Operator::Gt),
        ("gte", None) => compare(Operator::Gte),
        ("lt", None) => compare(Operator::Lt),
        ("lte", None) => compare(Operator::Lte),
        ("match", None) => compare(Operator::Match),
        ("imatch", None) => compare(Operator::Imatch),
        ("isdistinct", None) => compare(Operator::IsDistinct),
        ("like" | "ilike", None) => Ok((
            negated,
            Operation::Compare {
                operator: if name == "like" {
                    Operator::Like
                } else {
                    Operator::Ilike
                },
                value: like(value),
            },
        )),
        ("like" | "ilike", Some(quantifier @ ("any" | "all"))) => {
            let values = parse_list(
                value
                    .strip_prefix('{')
                    .and_then(|v| v.strip_suffix('}'))
                    .ok_or_else(|| error("expecting {".into()))?,
            );
            Ok((
                negated,
                Operation::Quantified {
                    operator: if name == "like" {
                        Operator::Like
                    } else {
                        Operator::Ilike
                    },
                    quantifier: if quantifier == "any" {
                        Quantifier::Any
                    } else {
                        Quantifier::All
                    },
                    values: values.iter().map(|value| like(value)).collect(),
                },
            ))
        }
        ("in", None) => {
            let inner = value
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(|| error(format!("unexpected \"{value}\" expecting \"(\"")))?;
            Ok((negated, Operation::In(parse_list(inner))))
        }
        ("is", None) => {
            let is = match value.to_ascii_lowercase().as_str() {
                "null" => IsValue::Null,
                "not_null" => IsValue::NotNull,
                "true" => IsValue::True,
                "false" => IsValue::False,
                "unknown" => IsValue::Unknown,
                other => {
                    return Err(error(format!(
                        "unexpected \"{other}\" expecting null or trilean value (unknown, true, false)"
                    )));
                }
            };
            Ok((negated, Operation::Is(is)))
        }
        ("cs" | "cd" | "ov", None) => Ok((
            negated,
            Operation::Contain {
                operator: match name {
                    "cs" => ContainOperator::Contains,
                    "cd" => ContainOperator::ContainedBy,
                    _ => ContainOperator::Overlaps,
                },
                value: value.to_owned(),
            },
        )),
        ("sl" | "sr" | "nxr" | "nxl" | "adj", None) => Ok((
            negated,
            Operation::Range {
                operator: match name {
                    "sl" => RangeOperator::StrictlyLeft,
                    "sr" => RangeOperator::StrictlyRight,
                    "nxr" => RangeOperator::NotExtendsRight,
                    "nxl" => RangeOperator::NotExtendsLeft,
                    _ => RangeOperator::Adjacent,
                },
                value: value.to_owned(),
            },
        )),
        ("fts" | "plfts" | "phfts" | "wfts", language) => Ok((
            negated,
            Operation::TextSearch {
                kind: match name {
                    "fts" => TextSearchKind::Fts,
                    "plfts" => TextSearchKind::Plain,
                    "phfts" => TextSearchKind::Phrase,
                    _ => TextSearchKind::Websearch,
                },
                language: language.map(str::to_owned),
                query: value.to_owned(),
            },
        )),
        _ => Err(error(format!(
            "unexpected \"{operator}\" expecting \"not\" or operator (eq, gt, ...)"
        ))),
    }
}

/// `1,2,"a,b"` with `\"` and `\\` escapes inside quotes.
fn parse_list(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    split_top_level(text)
        .into_iter()
        .map(|item| {
            let trimmed = item.trim();
            match trimmed
                .strip_prefix('"')
                .and_then(|rest| rest.strip_suffix('"'))
            {
                Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
                None => trimmed.to_owned(),
            }
        })
        .collect()
}

/// One element of a logic tree: `col.op.value`, `col.not.op.value` or a nested `and(…)`.
fn parse_logic_element(element: &str) -> Result<LogicTree, RestError> {
    let error = || RestError::parse("logic tree", element, format!("unexpected \"{element}\""));
    let (negated, rest) = match element.strip_prefix("not.") {
        Some(rest) => (true, rest),
        None => (false, element),
    };
    for (keyword, is_or) in [("and(", false), ("or(", true)] {
        if let Some(inner) = rest
            .strip_prefix(keyword)
            .and_then(|rest| rest.strip_suffix(')'))
        {
            let children = split_top_level(inner)
                .iter()
                .map(|child| parse_logic_element(child))
                .collect::<Result<_, _>>()?;
            return Ok(if is_or {
                LogicTree::Or { negated, children }
            } else {
                LogicTree::And { negated, children }
            });
        }
    }
    let arrow_end = element.rfind("->").map_or(0, |index| index + 2);
    let dot = element[arrow_end..]
        .find('.')
        .map(|index| index + arrow_end)
        .ok_or_else(error)?;
    let field = parse_field(&element[..dot])?;
    let value_text = &element[dot + 1..];
    let (negated, operation) = parse_filter_value(&unquote_logic_value(value_text))?;
    Ok(LogicTree::Filter(Filter {
        field,
        negated,
        operation,
    }))
}

/// `eq."a,b"` → `eq.a,b` (quotes protect reserved characters inside logic trees).
fn unquote_logic_value(text: &str) -> String {
    let Some((operator, value)) = text
        .rsplit_once('.')
        .filter(|(_, value)| value.starts_with('"') && value.ends_with('"') && value.len() >= 2)
    else {
        return text.to_owned();
    };
    if operator.ends_with("in") {
        return text.to_owned();
    }
    format!("{operator}.{}", &value[1..value.len() - 1])
}

fn parse_order(text: &str) -> Result<Vec<OrderTerm>, RestError> {
    split_top_level(text)
        .iter()
        .map(|term| {
            // `field[.asc|.desc][.nullsfirst|.nullslast]`; anything else after the field is a
            // grammar error, as in PostgREST (a field name holds no dot outside parentheses).
            let (field_text, modifiers) = split_order_term(term);
            let mut descending = false;
            let mut nulls_first = None;
            let mut seen_nulls = false;
            for (index, modifier) in modifiers.iter().enumerate() {
                match *modifier {
                    "asc" | "desc" if index == 0 => descending = *modifier == "desc",
                    "nullsfirst" | "nullslast" if !seen_nulls => {
                        nulls_first = Some(*modifier == "nullsfirst");
                        seen_nulls = true;
                    }
                    other => {
                        let unexpected = other
                            .chars()
                            .next()
                            .map_or_else(|| "end of input".to_owned(), |c| format!("\"{c}\""));
                        let expecting = if seen_nulls || index > 0 {
                            "\"nullsfirst\" or \"nullslast\""
                        } else {
                            "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""
                        };
                        return Err(RestError::parse(
                            "order",
                            text,
                            format!("unexpected {unexpected} expecting {expecting}"),
                        ));
                    }
                }
            }
            if field_text.is_empty() {
                return Err(RestError::parse(
                    "order",
                    text,
                    format!("unexpected \"{term}\""),
                ));
            }
            Ok(OrderTerm {
                field: parse_field(field_text)?,
                descending,
                nulls_first,
            })
        })
        .collect()
}

/// A row count or position: a non-negative integer SQL can hold (at most 2^63 - 1).
fn row_count(text: &str) -> Option<u64> {
    text.parse::<u64>()
        .ok()
        .filter(|number| i64::try_from(*number).is_ok())
}

/// An order term split into its field and the dot-separated modifiers after it.
fn split_order_term(term: &str) -> (&str, Vec<&str>) {
    let mut depth = 0usize;
    let mut quoted = false;
    for (index, c) in term.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            '.' if !quoted && depth == 0 => {
                return (&term[..index], term[index + 1..].split('.').collect());
            }
            _ => {}
        }
    }
    (term, Vec::new())
}

fn parse_range_header(text: &str) -> Result<Range, RestError> {
    let error = || {
        RestError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "PGRST103",
            "Requested range not satisfiable",
        )
        .details(format!("invalid Range header \"{text}\""))
    };
    let spec = text.trim().strip_prefix("items=").unwrap_or(text.trim());
    let (first, last) = spec.split_once('-').ok_or_else(error)?;
    let first = row_count(first).ok_or_else(error)?;
    let limit = if last.is_empty() {
        None
    } else {
        let last = row_count(last).ok_or_else(error)?;
        if last < first {
            return Err(error());
        }
        Some(last - first + 1)
    };
    Ok(Range {
        offset: first,
        limit,
    })
}

fn parse_prefer(headers: &HeaderMap) -> Result<Prefer, RestError> {
    let mut prefer = Prefer::default();
    let mut unknown = Vec::new();
    for value in headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
    {
        for entry in value
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            match entry {
                "return=minimal" => prefer.return_ = ReturnPreference::Minimal,
                "return=representation" => prefer.return_ = ReturnPreference::Representation,
                "return=headers-only" => prefer.return_ = ReturnPreference::HeadersOnly,
                "count=exact" => prefer.count = Some(CountPreference::Exact),
                "count=planned" => prefer.count = Some(CountPreference::Planned),
                "count=estimated" => prefer.count = Some(CountPreference::Estimated),
                "resolution=merge-duplicates" => {
                    prefer.resolution = Some(Resolution::MergeDuplicates)
                }
                "resolution=ignore-duplicates" => {
                    prefer.resolution = Some(Resolution::IgnoreDuplicates)
                }
                "missing=default" => prefer.missing_default = true,
                "missing=null" => prefer.missing_default = false,
                "tx=rollback" => prefer.rollback = true,
                "tx=commit" | "handling=lenient" => {}
                "handling=strict" => prefer.strict = true,
                other => match other.strip_prefix("max-affected=").map(str::parse::<u64>) {
                    Some(Ok(limit)) => prefer.max_affected = Some(limit),
                    _ if other.starts_with("timezone=") => {}
                    _ => unknown.push(other.to_owned()),
                },
            }
        }
    }
    if prefer.strict && !unknown.is_empty() {
        return Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "PGRST122",
            "Invalid preferences given with handling=strict",
        )
        .details(format!("Invalid preferences: {}", unknown.join(", "))));
    }
    Ok(prefer)
}

/// The media type `accept` picks, and whether it asks for `nulls=stripped` (which PostgREST
/// honours on its vendor array and object types).
fn parse_accept(accept: Option<&str>) -> Result<(MediaType, bool), RestError> {
    let Some(accept) = accept else {
        return Ok((MediaType::Json, false));
    };
    for candidate in accept.split(',') {
        let mut parts = candidate
            .split(';')
            .map(|part| part.trim().to_ascii_lowercase());
        let media = parts.next().unwrap_or_default();
        let stripped = media.starts_with("application/vnd.pgrst.")
            && parts.any(|part| part == "nulls=stripped");
        let picked = match media.as_str() {
            "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
                MediaType::SingularObject
            }
            "text/csv" => MediaType::Csv,
            "application/geo+json" => MediaType::GeoJson,
            "application/json"
            | "application/vnd.pgrst.array+json"
            | "*/*"
            | "application/*"
            | "" => MediaType::Json,
            _ => continue,
        };
        return Ok((picked, stripped));
    }
    Err(RestError::new(
        StatusCode::NOT_ACCEPTABLE,
        "PGRST107",
        format!("None of these media types are available: {accept}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposed() -> Vec<String> {
        crate::config::ApiConfig::default().schemas
    }

    fn get(query: &str) -> Result<ApiRequest, RestError> {
        parse(
            &Method::GET,
            "todos",
            query,
            &HeaderMap::new(),
            b"",
            &exposed(),
        )
    }

    #[track_caller]
    fn error_code(query: &str) -> String {
        get(query).unwrap_err().code
    }

    #[test]
    fn select_items_parse_with_aliases_casts_paths_and_embeds() {
        let request = get("select=id,full:name,price::text,data-%3Ea-%3E%3Eb,owner:profiles!owner_id!inner(name),items(count),...author(id)").unwrap();
        assert_eq!(request.select.len(), 7);
        assert_eq!(
            request.select[1],
            SelectItem::Field {
                alias: Some("full".into()),
                field: Field {
                    column: "name".into(),
                    json_path: vec![]
                },
                cast: None
            }
        );
        assert_eq!(
            request.select[2],
            SelectItem::Field {
                alias: None,
                field: Field {
                    column: "price".into(),
                    json_path: vec![]
                },
                cast: Some("text".into())
            }
        );
        let SelectItem::Field { field, .. } = &request.select[3] else {
            panic!()
        };
        assert_eq!(
            field.json_path,
            vec![
                JsonStep {
                    as_text: false,
                    key: JsonKey::Name("a".into())
                },
                JsonStep {
                    as_text: true,
                    key: JsonKey::Name("b".into())
                }
            ]
        );
        let SelectItem::Embed {
            alias,
            relation,
            hints,
            inner,
            ..
        } = &request.select[4]
        else {
            panic!()
        };
        assert_eq!(
            (
                alias.as_deref(),
                relation.as_str(),
                hints.as_slice(),
                *inner
            ),
            (
                Some("owner"),
                "profiles",
                &["owner_id".to_owned()][..],
                true
            )
        );
        let SelectItem::Embed { select, .. } = &request.select[5] else {
            panic!()
        };
        assert_eq!(select, &[SelectItem::Count { alias: None }]);
        let SelectItem::Embed { spread, .. } = &request.select[6] else {
            panic!()
        };
        assert!(spread);
    }

    #[test]
    fn filters_and_nested_logic_trees_parse() {
        let request = get("id=in.(1,2,%22a,b%22)&name=not.ilike.*x*&or=(a.eq.1,and(b.gt.2,c.is.null))&items.done=is.true&title=neq.x+y").unwrap();
        let LogicTree::Filter(filter) = &request.filters[0].1 else {
            panic!()
        };
        assert_eq!(
            filter.operation,
            Operation::In(vec!["1".into(), "2".into(), "a,b".into()])
        );
        let LogicTree::Filter(filter) = &request.filters[1].1 else {
            panic!()
        };
        assert!(filter.negated);
        assert_eq!(
            filter.operation,
            Operation::Compare {
                operator: Operator::Ilike,
                value: "%x%".into()
            }
        );
        let LogicTree::Or { children, .. } = &request.filters[2].1 else {
            panic!()
        };
        assert!(matches!(&children[1], LogicTree::And { children, .. } if children.len() == 2));
        assert_eq!(request.filters[3].0, vec!["items".to_owned()]);
        let LogicTree::Filter(filter) = &request.filters[4].1 else {
            panic!()
        };
        assert_eq!(
            filter.operation,
            Operation::Compare {
                operator: Operator::Neq,
                value: "x y".into()
            }
        );
    }

    #[test]
    fn order_limit_offset_and_embedded_ranges_parse() {
        let request =
            get("order=a.desc.nullsfirst,b&limit=5&offset=10&items.order=c.asc&items.limit=2")
                .unwrap();
        assert_eq!(
            request.orders[0].1[0],
            OrderTerm {
                field: Field {
                    column: "a".into(),
                    json_path: vec![]
                },
                descending: true,
                nulls_first: Some(true)
            }
        );
        assert_eq!(
            request.ranges[0],
            (
                vec![],
                Range {
                    offset: 10,
                    limit: Some(5)
                }
            )
        );
        assert_eq!(request.orders[1].0, vec!["items".to_owned()]);
        assert_eq!(
            request.ranges[1],
            (
                vec!["items".to_owned()],
                Range {
                    offset: 0,
                    limit: Some(2)
                }
            )
        );
    }

    #[test]
    fn bad_input_gets_postgrest_codes() {
        assert_eq!(error_code("id=foo.1"), "PGRST100");
        assert_eq!(error_code("id=eq"), "PGRST100");
        assert_eq!(error_code("limit=x"), "PGRST100");
        assert_eq!(error_code("select=a,b(c"), "PGRST100");
        assert_eq!(error_code("or=a.eq.1"), "PGRST100");
        let deep_or = format!("or=({}id.eq.1{})", "or(".repeat(40), ")".repeat(40));
        assert_eq!(error_code(&deep_or), "PGRST100");
        let deep_select = format!("select={}id{}", "items(".repeat(40), ")".repeat(40));
        assert_eq!(error_code(&deep_select), "PGRST100");
        assert_eq!(
            error_code(&format!("{}id=eq.1", "items.".repeat(40))),
            "PGRST100"
        );
        let nested_ok = format!("select={}id{}", "items(".repeat(32), ")".repeat(32));
        assert!(get(&nested_ok).is_ok());
        assert_eq!(error_code("offset=9223372036854775808"), "PGRST100");
        assert!(get("offset=9223372036854775807").is_ok());
        assert_eq!(error_code("order=name.sideways"), "PGRST100");
        assert_eq!(error_code("order=name.nullslast.asc"), "PGRST100");
        let mut headers = HeaderMap::new();
        headers.insert("accept", "application/xml".parse().unwrap());
        assert_eq!(
            parse(&Method::GET, "t", "", &headers, b"", &exposed())
                .unwrap_err()
                .code,
            "PGRST107"
        );
        headers.insert("accept-profile", "private".parse().unwrap());
        assert_eq!(
            parse(&Method::GET, "t", "", &headers, b"", &exposed())
                .unwrap_err()
                .code,
            "PGRST106"
        );
        assert_eq!(
            parse(
                &Method::POST,
                "t",
                "",
                &HeaderMap::new(),
                b"{oops",
                &exposed()
            )
            .unwrap_err()
            .code,
            "PGRST102"
        );
        assert_eq!(
            parse(
                &Method::PUT,
                "rpc/f",
                "",
                &HeaderMap::new(),
                b"",
                &exposed()
            )
            .unwrap_err()
            .code,
            "PGRST101"
        );
        let mut strict = HeaderMap::new();
        strict.insert("prefer", "handling=strict, foo".parse().unwrap());
        assert_eq!(
            parse(&Method::GET, "t", "", &strict, b"", &exposed())
                .unwrap_err()
                .code,
            "PGRST122"
        );
    }

    #[test]
    fn prefer_and_accept_headers_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "prefer",
            "count=exact, missing=default, return=representation, resolution=merge-duplicates"
                .parse()
                .unwrap(),
        );
        headers.insert(
            "accept",
            "application/vnd.pgrst.object+json".parse().unwrap(),
        );
        let request = parse(
            &Method::POST,
            "t",
            "columns=%22a%22,%22b%22&on_conflict=id",
            &headers,
            br#"[{"a":1}]"#,
            &exposed(),
        )
        .unwrap();
        assert_eq!(request.prefer.count, Some(CountPreference::Exact));
        assert!(request.prefer.missing_default);
        assert_eq!(request.prefer.return_, ReturnPreference::Representation);
        assert_eq!(request.prefer.resolution, Some(Resolution::MergeDuplicates));
        assert_eq!(request.media, MediaType::SingularObject);
        assert_eq!(request.columns, Some(vec!["a".into(), "b".into()]));
        assert_eq!(request.on_conflict, Some(vec!["id".into()]));
    }
}
