//! Http: pgsql-http's SQL surface (`create extension http`) as the translator reads it, while
//! the extension is installed. Its composite values (`http_header`, `http_request`,
//! `http_response`) are JSON objects of their fields: a row constructor cast to one
//! (`('GET', url, NULL, NULL, NULL)::http_request`) is `jsonb_build_object`, a field
//! (`(http_get(url)).status`) is `->>`, and a call in FROM is a one-row subquery of the fields.
//! Its SQL-language functions (`http_get`, `http_post`, `http_header`, …) are expanded as the
//! extension defines them, into its two native functions, `http()` and `urlencode()`, which
//! `store::http` runs (`pg_http`, `pg_urlencode`, `pg_urlencode_jsonb`).

use std::ops::ControlFlow;

use sqlparser::ast::{
    AccessExpr, BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    ObjectName, Value, VisitMut, VisitorMut,
};

use super::expression::{Unsupported, ident_name};
use crate::schema::SchemaCache;
use crate::store::naming::quote_ident;

/// A composite type of the extension: its name and fields in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Composite {
    pub name: &'static str,
    pub fields: &'static [(&'static str, Field)],
}

/// What a field of a composite holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Text,
    Integer,
    /// `http_header[]`: a JSON array of header objects.
    Headers,
}

const HEADER: Composite = Composite {
    name: "http_header",
    fields: &[("field", Field::Text), ("value", Field::Text)],
};

const REQUEST: Composite = Composite {
    name: "http_request",
    fields: &[
        ("method", Field::Text),
        ("uri", Field::Text),
        ("headers", Field::Headers),
        ("content_type", Field::Text),
        ("content", Field::Text),
    ],
};

const RESPONSE: Composite = Composite {
    name: "http_response",
    fields: &[
        ("status", Field::Integer),
        ("content_type", Field::Text),
        ("headers", Field::Headers),
        ("content", Field::Text),
    ],
};

const COMPOSITES: [&Composite; 3] = [&HEADER, &REQUEST, &RESPONSE];

/// The native calls an expansion leaves, which `store::http` registers.
const NATIVE: [&str; 3] = ["pg_http", "pg_urlencode", "pg_urlencode_jsonb"];

/// The type of a value built from the extension's functions and types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Typed {
    Composite(&'static Composite),
    /// An `http_header[]`.
    Headers,
}

/// The extension's SQL-language functions: name, arity, what they return and their body, with
/// `$n` for the arguments (`http` is native: its body is the call of `store::http`'s).
const FUNCTIONS: &[(&str, usize, Typed, &str)] = &[
    ("http", 1, Typed::Composite(&RESPONSE), "pg_http($1)"),
    (
        "http_header",
        2,
        Typed::Composite(&HEADER),
        "($1, $2)::http_header",
    ),
    (
        "http_get",
        1,
        Typed::Composite(&RESPONSE),
        "pg_http(('GET', $1, NULL, NULL, NULL)::http_request)",
    ),
    (
        "http_get",
        2,
        Typed::Composite(&RESPONSE),
        "pg_http(('GET', $1 || '?' || pg_urlencode_jsonb($2), NULL, NULL, NULL)::http_request)",
    ),
    (
        "http_post",
        3,
        Typed::Composite(&RESPONSE),
        "pg_http(('POST', $1, NULL, $3, $2)::http_request)",
    ),
    (
        "http_post",
        2,
        Typed::Composite(&RESPONSE),
        "pg_http(('POST', $1, NULL, 'application/x-www-form-urlencoded', pg_urlencode_jsonb($2))::http_request)",
    ),
    (
        "http_put",
        3,
        Typed::Composite(&RESPONSE),
        "pg_http(('PUT', $1, NULL, $3, $2)::http_request)",
    ),
    (
        "http_patch",
        3,
        Typed::Composite(&RESPONSE),
        "pg_http(('PATCH', $1, NULL, $3, $2)::http_request)",
    ),
    (
        "http_delete",
        1,
        Typed::Composite(&RESPONSE),
        "pg_http(('DELETE', $1, NULL, NULL, NULL)::http_request)",
    ),
    (
        "http_delete",
        3,
        Typed::Composite(&RESPONSE),
        "pg_http(('DELETE', $1, NULL, $3, $2)::http_request)",
    ),
    (
        "http_head",
        1,
        Typed::Composite(&RESPONSE),
        "pg_http(('HEAD', $1, NULL, NULL, NULL)::http_request)",
    ),
];

/// The composite type `data_type` names, when it is one of the installed extension's.
pub fn composite(cache: &SchemaCache, data_type: &DataType) -> Option<&'static Composite> {
    let DataType::Custom(name, modifiers) = data_type else {
        return None;
    };
    let bare = own_name(cache, name)?;
    COMPOSITES
        .into_iter()
        .find(|composite| composite.name == bare && modifiers.is_empty())
}

/// The composite a call of `name` with `arity` arguments in FROM returns its row of, when it
/// is one of the installed extension's functions.
pub fn table_function(
    cache: &SchemaCache,
    name: &ObjectName,
    arity: usize,
) -> Option<&'static Composite> {
    match function(cache, name, arity)?.0? {
        Typed::Composite(composite) => Some(composite),
        Typed::Headers => None,
    }
}

/// The one-row subquery of `composite`'s fields of the value `sql` computes (a call in FROM).
pub fn row_sql(composite: &Composite, sql: &str) -> String {
    let fields: Vec<String> = composite
        .fields
        .iter()
        .map(|(field, _)| format!("\"value\" ->> '{field}' AS {}", quote_ident(field)))
        .collect();
    format!(
        "SELECT {} FROM (SELECT {sql} AS \"value\")",
        fields.join(", ")
    )
}

/// The SQLite call a native call left by `expand` stands for, while the extension is installed.
pub fn call(cache: Option<&SchemaCache>, name: &str, args: &[String]) -> Option<String> {
    let installed = cache.is_some_and(|cache| cache.extensions.contains_key("http"));
    (installed && NATIVE.contains(&name) && args.len() == 1).then(|| format!("{name}({})", args[0]))
}

/// Rewrites `expr`, before its parts are translated, when it uses the installed extension: a
/// call of one of its functions, a row cast to one of its types, a field of one of its values.
pub fn expand(cache: &SchemaCache, expr: &mut Expr) -> Result<(), Unsupported> {
    if !cache.extensions.contains_key("http") {
        return Ok(());
    }
    let expanded = match expr {
        Expr::Function(call) => {
            let Some((_, body)) = function(cache, &call.name, arity(&call.args)) else {
                return Ok(());
            };
            let args = arguments(&call.args)?;
            match body {
                Body::Sql(sql) => instantiate(sql, &args)?,
                Body::Headers => headers(&args)?,
                Body::Urlencode if json_valued(&args[0]) => {
                    instantiate("pg_urlencode_jsonb($1)", &args)?
                }
                Body::Urlencode => instantiate("pg_urlencode($1)", &args)?,
            }
        }
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => match composite(cache, data_type) {
            Some(composite) => row(composite, inner)?,
            None => return Ok(()),
        },
        Expr::CompoundFieldAccess { root, access_chain } => {
            match fields(cache, root, access_chain)? {
                Some(expanded) => expanded,
                None => return Ok(()),
            }
        }
        _ => return Ok(()),
    };
    *expr = expanded;
    // What it expanded to may be the extension's too (`http_header(…)` is a row cast); the
    // translator visits only its parts.
    expand(cache, expr)
}

/// The bare name `name` gives an object of the installed extension.
fn own_name(cache: &SchemaCache, name: &ObjectName) -> Option<String> {
    super::extensions::own_name(cache, "http", name)
}

/// How a call of one of the extension's functions expands.
#[derive(Debug, Clone, Copy)]
enum Body {
    /// Postgres SQL, with `$n` for the n-th argument.
    Sql(&'static str),
    /// `http_headers(field, value, …)`: the array of their headers.
    Headers,
    /// `urlencode(text | jsonb)`: the native overload the argument's type picks.
    Urlencode,
}

/// The extension's function a call of `name` with `arity` arguments means: the type of what it
/// returns, when it is one of the extension's, and its body. A project function of the same
/// unqualified name comes first, as `public` does on Supabase's search_path.
fn function(cache: &SchemaCache, name: &ObjectName, arity: usize) -> Option<(Option<Typed>, Body)> {
    let bare = own_name(cache, name)?;
    if name.0.len() == 1 && cache.called(&bare, arity).is_some() {
        return None;
    }
    match (bare.as_str(), arity) {
        ("http_headers", 1..) => Some((Some(Typed::Headers), Body::Headers)),
        ("urlencode", 1) => Some((None, Body::Urlencode)),
        _ => FUNCTIONS
            .iter()
            .find(|(known, count, ..)| *known == bare && *count == arity)
            .map(|(_, _, returns, body)| (Some(*returns), Body::Sql(body))),
    }
}

/// How many arguments a call passes.
fn arity(args: &FunctionArguments) -> usize {
    match args {
        FunctionArguments::List(list) => list.args.len(),
        _ => 0,
    }
}

/// The arguments of a call, each an expression (named arguments are not supported).
fn arguments(args: &FunctionArguments) -> Result<Vec<Expr>, Unsupported> {
    match args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Ok(expr.clone()),
                other => Err(Unsupported(format!(
                    "the argument `{other}` of an http function is not supported"
                ))),
            })
            .collect(),
        _ => Ok(Vec::new()),
    }
}

/// `body` (Postgres SQL, `$n` standing for the n-th of `args`) with the arguments in place.
fn instantiate(body: &str, args: &[Expr]) -> Result<Expr, Unsupported> {
    struct Arguments<'a>(&'a [Expr]);
    impl VisitorMut for Arguments<'_> {
        type Break = ();
        // After the children: an argument put in place is not visited again, so a `$1` of an
        // enclosing SQL function inside it stays that function's.
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Value(value) = expr
                && let Value::Placeholder(placeholder) = &value.value
                && let Some(arg) = placeholder
                    .strip_prefix('$')
                    .and_then(|index| index.parse::<usize>().ok())
                    .and_then(|index| self.0.get(index.wrapping_sub(1)))
            {
                *expr = Expr::Nested(Box::new(arg.clone()));
            }
            ControlFlow::Continue(())
        }
    }
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let mut expr = sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(body)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|error| Unsupported(format!("cannot expand `{body}`: {error}")))?;
    let _ = expr.visit(&mut Arguments(args));
    Ok(expr)
}

/// `http_headers(field, value, …)`: the array of their headers.
fn headers(args: &[Expr]) -> Result<Expr, Unsupported> {
    if !args.len().is_multiple_of(2) {
        return Err(Unsupported(
            "http_headers() takes field, value pairs (arguments must be provided in key-value pairs)"
                .into(),
        ));
    }
    let pairs: Vec<String> = (0..args.len() / 2)
        .map(|pair| format!("(${}, ${})::http_header", 2 * pair + 1, 2 * pair + 2))
        .collect();
    instantiate(&format!("ARRAY[{}]", pairs.join(", ")), args)
}

/// A row constructor (`(a, b)`, `row(a, b)`) or NULL cast to `composite`: the JSON object of
/// its fields.
fn row(composite: &Composite, value: &Expr) -> Result<Expr, Unsupported> {
    let items: Vec<Expr> = match value {
        Expr::Value(value) if value.value == Value::Null => return Ok(Expr::Value(value.clone())),
        Expr::Tuple(items) => items.clone(),
        Expr::Function(call) if call.name.to_string().eq_ignore_ascii_case("row") => {
            arguments(&call.args)?
        }
        other => {
            return Err(Unsupported(format!(
                "`{other}::{}` is not supported: build the value with a row constructor, as in ({})::{}",
                composite.name,
                composite
                    .fields
                    .iter()
                    .map(|(field, _)| *field)
                    .collect::<Vec<_>>()
                    .join(", "),
                composite.name
            )));
        }
    };
    if items.len() != composite.fields.len() {
        let few = if items.len() < composite.fields.len() {
            "few"
        } else {
            "many"
        };
        return Err(Unsupported(format!(
            "cannot cast type record to {}: input has too {few} columns",
            composite.name
        )));
    }
    let pairs: Vec<String> = composite
        .fields
        .iter()
        .enumerate()
        .map(|(index, (field, kind))| match kind {
            // An array of headers nests as JSON, not as its text.
            Field::Headers => format!("'{field}', CAST(${} AS jsonb)", index + 1),
            Field::Text | Field::Integer => format!("'{field}', ${}", index + 1),
        })
        .collect();
    instantiate(&format!("jsonb_build_object({})", pairs.join(", ")), &items)
}

/// The type of `expr` when it is a value of the extension's: a call of one of its functions,
/// a cast to one of its types, a field or element of one of those.
fn value_type(cache: &SchemaCache, expr: &Expr) -> Option<Typed> {
    match expr {
        Expr::Nested(inner) => value_type(cache, inner),
        Expr::Function(call) => function(cache, &call.name, arity(&call.args))?.0,
        Expr::Cast { data_type, .. } => match data_type {
            DataType::Array(sqlparser::ast::ArrayElemTypeDef::SquareBracket(element, _)) => {
                (composite(cache, element) == Some(&HEADER)).then_some(Typed::Headers)
            }
            other => composite(cache, other).map(Typed::Composite),
        },
        Expr::CompoundFieldAccess { root, access_chain } => {
            let mut typed = value_type(cache, root);
            for step in access_chain {
                typed = access(typed?, step).ok()??.1;
            }
            typed
        }
        _ => None,
    }
}

/// How one access reads a value of the extension's types.
enum Read {
    Field(String),
    /// An element of an array of headers.
    Element,
}

/// One access of a chain on a value of type `typed`: how it reads, and the type of what it
/// gives while that is still one of the extension's (not for a text or integer field); `None`
/// when the access is not one on these types.
fn access(typed: Typed, step: &AccessExpr) -> Result<Option<(Read, Option<Typed>)>, Unsupported> {
    match (typed, step) {
        (Typed::Composite(composite), AccessExpr::Dot(Expr::Identifier(field))) => {
            let name = ident_name(field);
            let (_, kind) = composite
                .fields
                .iter()
                .find(|(known, _)| *known == name)
                .ok_or_else(|| {
                    Unsupported(format!(
                        "column \"{name}\" not found in data type {}",
                        composite.name
                    ))
                })?;
            let next = (*kind == Field::Headers).then_some(Typed::Headers);
            Ok(Some((Read::Field(name), next)))
        }
        (Typed::Headers, AccessExpr::Subscript(_)) => {
            Ok(Some((Read::Element, Some(Typed::Composite(&HEADER)))))
        }
        _ => Ok(None),
    }
}

/// `(value).field[i].field…` on a value of the extension's types, as JSON reads: a field is
/// `->>`, an element the array subscript the translator reads from JSON.
fn fields(
    cache: &SchemaCache,
    root: &Expr,
    chain: &[AccessExpr],
) -> Result<Option<Expr>, Unsupported> {
    let mut typed = value_type(cache, root);
    let mut value = root.clone();
    let mut read = 0;
    while let (Some(current), Some(step)) = (typed, chain.get(read)) {
        let Some((how, next)) = access(current, step)? else {
            break;
        };
        value = match how {
            Read::Field(name) => Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(value),
                op: BinaryOperator::LongArrow,
                right: Box::new(Expr::Value(Value::SingleQuotedString(name).into())),
            })),
            Read::Element => Expr::CompoundFieldAccess {
                root: Box::new(value),
                access_chain: vec![step.clone()],
            },
        };
        typed = next;
        read += 1;
    }
    Ok(match &chain[read..] {
        _ if read == 0 => None,
        [] => Some(value),
        rest => Some(Expr::CompoundFieldAccess {
            root: Box::new(value),
            access_chain: rest.to_vec(),
        }),
    })
}

/// Whether `expr` is a json or jsonb value (a cast to one, or a function building one), which
/// makes `urlencode` the extension's jsonb overload.
fn json_valued(expr: &Expr) -> bool {
    match expr {
        Expr::Nested(inner) => json_valued(inner),
        Expr::Cast { data_type, .. } => {
            matches!(data_type, DataType::JSON | DataType::JSONB)
        }
        Expr::Function(call) => matches!(
            call.name.to_string().to_ascii_lowercase().as_str(),
            "json_build_object"
                | "jsonb_build_object"
                | "to_json"
                | "to_jsonb"
                | "json_object"
                | "jsonb_object"
                | "row_to_json"
                | "jsonb_set"
                | "jsonb_strip_nulls"
        ),
        Expr::BinaryOp {
            op: BinaryOperator::Arrow | BinaryOperator::HashArrow,
            ..
        } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::expression::{Typed as Schema, translate_expr_text_with};

    fn installed() -> SchemaCache {
        let mut cache = SchemaCache::default();
        cache.extensions.insert("http".into(), "extensions".into());
        cache
    }

    #[track_caller]
    fn check(cache: &SchemaCache, postgres: &str, sqlite: &str) {
        assert_eq!(
            translate_expr_text_with(postgres, &Schema(cache)).unwrap(),
            sqlite
        );
    }

    #[track_caller]
    fn refused(cache: &SchemaCache, postgres: &str, reason: &str) {
        let error = translate_expr_text_with(postgres, &Schema(cache)).unwrap_err();
        assert!(error.0.contains(reason), "{error}");
    }

    #[test]
    fn composite_values_are_json_objects_of_their_fields() {
        let cache = installed();
        check(
            &cache,
            "extensions.http_header('authorization', 'Bearer ' || key)",
            "json_object('field', (('authorization')), 'value', (('Bearer ' || key)))",
        );
        check(
            &cache,
            "('DELETE', url, ARRAY[http_header('a', 'b')], NULL, NULL)::extensions.http_request",
            "json_object('method', ('DELETE'), 'uri', (url), 'headers', json((json_array(json_object('field', (('a')), 'value', (('b')))))), 'content_type', (NULL), 'content', (NULL))",
        );
        check(
            &cache,
            "row('GET', u, null, null, null)::http_request",
            "json_object('method', ('GET'), 'uri', (u), 'headers', json((NULL)), 'content_type', (NULL), 'content', (NULL))",
        );
        check(&cache, "null::http_response", "NULL");
        refused(
            &cache,
            "('GET', u)::http_request",
            "cannot cast type record to http_request: input has too few columns",
        );
        refused(&cache, "'(GET,u,,,)'::http_request", "row constructor");
    }

    #[test]
    fn sql_functions_expand_into_the_native_call() {
        let cache = installed();
        check(
            &cache,
            "(extensions.http_get('http://h/x')).content",
            "((pg_http(json_object('method', ('GET'), 'uri', (('http://h/x')), 'headers', json((NULL)), 'content_type', (NULL), 'content', (NULL)))) ->> 'content')",
        );
        check(
            &cache,
            "http_post('http://h', '{}', 'application/json')",
            "pg_http(json_object('method', ('POST'), 'uri', (('http://h')), 'headers', json((NULL)), 'content_type', (('application/json')), 'content', (('{}'))))",
        );
        check(
            &cache,
            "http_post('http://h', jsonb_build_object('a', 1))",
            "pg_http(json_object('method', ('POST'), 'uri', (('http://h')), 'headers', json((NULL)), 'content_type', ('application/x-www-form-urlencoded'), 'content', (pg_urlencode_jsonb((json_object('a', 1))))))",
        );
        check(&cache, "urlencode('a b')", "pg_urlencode(('a b'))");
        check(
            &cache,
            "urlencode('{\"a\": 1}'::jsonb)",
            "pg_urlencode_jsonb(('{\"a\": 1}'))",
        );
        check(
            &cache,
            "(http_get('u')).headers[1].field",
            "(json_extract(((pg_http(json_object('method', ('GET'), 'uri', (('u')), 'headers', json((NULL)), 'content_type', (NULL), 'content', (NULL)))) ->> 'headers'), '$[0]') ->> 'field')",
        );
        check(
            &cache,
            "http_headers('a', 'b')",
            "json_array(json_object('field', (('a')), 'value', (('b'))))",
        );
        refused(
            &cache,
            "(http_get('u')).body",
            "column \"body\" not found in data type http_response",
        );
        refused(&cache, "http_headers('a')", "field, value pairs");
    }

    #[test]
    fn the_functions_exist_only_in_the_extensions_schema_while_it_is_installed() {
        refused(
            &SchemaCache::default(),
            "http_get('u')",
            "the function http_get() is not supported",
        );
        refused(
            &SchemaCache::default(),
            "extensions.http_header('a', 'b')",
            "the function http_header() is not supported",
        );
        let cache = installed();
        check(&cache, "count(*) + length(http)", "count(*) + length(http)");
        refused(
            &cache,
            "public.http_get('u')",
            "the function http_get() is not supported",
        );
        refused(
            &cache,
            "http_get('u', 'v', 'w', 'x')",
            "the function http_get() is not supported",
        );
    }
}
