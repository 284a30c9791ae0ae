//! REST on the PostgreSQL store, run as PostgREST runs it: the request is parsed and planned
//! as on SQLite, its SQL comes from the `Postgres` dialect, and it runs in one transaction under
//! the caller's role (`set local role`) and claims (`request.jwt.claims` and the request's
//! method, path, headers and cookies), so the database's own grants and policies decide what
//! it reads and writes. A write is one statement returning the rows it wrote; an RPC one call
//! of the function in SQL.

mod dialect;

use std::error::Error;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use super::error::RestError;
use super::execute::{Outcome, WriteOptions, check_max_affected};
use super::plan::{self, Plan};
use super::query::{self, CallOutput, CallQuery, Query, Sql};
use super::request;
use super::response;
use super::values::Literal;
use crate::auth::keys::Keys;
use crate::auth::{Caller, Role};
use crate::config::ApiConfig;
use crate::schema::SchemaCache;
use crate::store::naming::quote_ident;
use crate::store::postgres::{PgError, PgStore};
use crate::store::settings::RequestSettings;
pub use dialect::Postgres;

/// What `/rest/v1` on the PostgreSQL store needs; cheap to clone.
#[derive(Clone)]
pub struct PgRest {
    pub store: PgStore,
    pub schema: Arc<SchemaCache>,
    pub keys: Arc<Keys>,
    pub api: Arc<ApiConfig>,
}

/// Serves one `/rest/v1/{path}` request on the PostgreSQL store.
pub async fn handle(
    rest: &PgRest,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match rest.keys.rest_caller(headers) {
        Ok(caller) => caller,
        Err(error) => {
            return RestError::new(StatusCode::UNAUTHORIZED, error.code, error.message)
                .into_response();
        }
    };
    let result = async {
        let request = request::parse(method, path, raw_query, headers, &body, &rest.api.schemas)?;
        let plan = plan::build(&request, &rest.schema, rest.api.max_rows)?;
        let settings = RequestSettings::new(method.as_str(), &format!("/{path}"), headers);
        let outcome = match &plan {
            Plan::Read(_) => {
                let query = query::to_sql(&plan, &rest.schema, &caller, &Postgres)?;
                read(&rest.store, &caller, &settings, query).await?
            }
            Plan::Insert(_) | Plan::Update(_) | Plan::Delete(_) => {
                let sql = query::returning_write(&plan, &rest.schema, &caller, &Postgres)?;
                let options = WriteOptions::of(&request);
                write(&rest.store, &caller, &settings, &sql, options).await?
            }
            Plan::Call(call) => {
                let query = query::native_call(call, &rest.schema, &caller, &Postgres)?;
                let options = WriteOptions::of(&request);
                let counted = request.prefer.count.is_some();
                invoke(&rest.store, &caller, &settings, query, options, counted).await?
            }
        };
        response::render(&request, outcome)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Runs a write's statement in a transaction as `caller`, committed unless `tx=rollback` or
/// the rows it wrote break the request's singular or `max-affected` demand.
async fn write(
    store: &PgStore,
    caller: &Caller,
    settings: &RequestSettings,
    sql: &Sql,
    options: WriteOptions,
) -> Result<Outcome, RestError> {
    let failed = |error: tokio_postgres::Error| database_error(&error, caller.role == Role::Anon);
    let mut client = store.client().await.map_err(unavailable)?;
    let transaction = begin(&mut client, false, caller, settings)
        .await
        .map_err(failed)?;
    let row = one(&transaction, sql).await.map_err(failed)?;
    let body = row.try_get::<_, JsonText>(0).map_err(failed)?.0;
    let affected = whole_number(&row, 1).map_err(failed)?;
    let refused = if options.singular && affected != 1 {
        Err(response::singular_mismatch(affected))
    } else {
        check_max_affected(affected, options)
    };
    if options.rollback || refused.is_err() {
        transaction.rollback().await.map_err(failed)?;
    } else {
        transaction.commit().await.map_err(failed)?;
    }
    refused?;
    Ok(Outcome::Written {
        body: options.representation.then_some(body),
        affected,
        location: None,
        only_updated: false,
    })
}

/// Runs an RPC in a transaction as `caller` (read-only when `query` says so), committed unless
/// `tx=rollback` or the rows it answered break the request's singular or `max-affected` demand.
async fn invoke(
    store: &PgStore,
    caller: &Caller,
    settings: &RequestSettings,
    query: CallQuery,
    options: WriteOptions,
    counted: bool,
) -> Result<Outcome, RestError> {
    let failed = |error: tokio_postgres::Error| database_error(&error, caller.role == Role::Anon);
    let mut client = store.client().await.map_err(unavailable)?;
    let transaction = begin(&mut client, query.read_only, caller, settings)
        .await
        .map_err(failed)?;
    let outcome = match &query.result {
        CallOutput::Void(sql) => {
            if let Some(sql) = sql {
                all(&transaction, sql).await.map_err(failed)?;
            }
            Outcome::Value(None)
        }
        CallOutput::Scalar(sql, _) => {
            let row = one(&transaction, sql).await.map_err(failed)?;
            let value = row.try_get::<_, Option<JsonText>>(0).map_err(failed)?;
            Outcome::Value(Some(value.map_or_else(|| "null".to_owned(), |json| json.0)))
        }
        CallOutput::Scalars(sql, _) => {
            let values = all(&transaction, sql)
                .await
                .map_err(failed)?
                .iter()
                .map(|row| row.try_get::<_, Option<JsonText>>(0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(failed)?;
            let values: Vec<&str> = values
                .iter()
                .map(|value| value.as_ref().map_or("null", |json| json.0.as_str()))
                .collect();
            Outcome::Rows {
                body: format!("[{}]", values.join(",")),
                returned: values.len() as u64,
                total: None,
            }
        }
        CallOutput::Rows {
            rows, count, set, ..
        } => {
            let row = one(&transaction, rows).await.map_err(failed)?;
            let body = row.try_get::<_, JsonText>(0).map_err(failed)?.0;
            let returned = whole_number(&row, 1).map_err(failed)?;
            if *set {
                let total = match count.as_ref().filter(|_| counted) {
                    Some(count) => {
                        let row = one(&transaction, count).await.map_err(failed)?;
                        Some(whole_number(&row, 0).map_err(failed)?)
                    }
                    None => None,
                };
                Outcome::Rows {
                    body,
                    returned,
                    total,
                }
            } else {
                // One composite: its object, or null.
                let rows: Vec<serde_json::Value> =
                    serde_json::from_str(&body).map_err(RestError::internal)?;
                let first = rows.into_iter().next().unwrap_or_default();
                Outcome::Value(Some(first.to_string()))
            }
        }
    };
    let refused = match &outcome {
        Outcome::Rows { returned, .. } if options.singular && *returned != 1 => {
            Err(response::singular_mismatch(*returned))
        }
        Outcome::Rows { returned, .. } => check_max_affected(*returned, options),
        _ => Ok(()),
    };
    if options.rollback || refused.is_err() {
        transaction.rollback().await.map_err(failed)?;
    } else {
        transaction.commit().await.map_err(failed)?;
    }
    refused?;
    Ok(outcome)
}

/// Runs a read in a read-only transaction as `caller`.
async fn read(
    store: &PgStore,
    caller: &Caller,
    settings: &RequestSettings,
    query: Query,
) -> Result<Outcome, RestError> {
    let anon = caller.role == Role::Anon;
    let failed = |error: tokio_postgres::Error| database_error(&error, anon);
    let Query::Read { rows, count } = query else {
        return Err(RestError::internal("only reads run on PostgreSQL"));
    };
    let mut client = store.client().await.map_err(unavailable)?;
    let transaction = begin(&mut client, true, caller, settings)
        .await
        .map_err(failed)?;
    let row = one(&transaction, &rows).await.map_err(failed)?;
    let body = row.try_get::<_, JsonText>(0).map_err(failed)?.0;
    let returned = whole_number(&row, 1).map_err(failed)?;
    let total = match count {
        Some(count) => {
            let row = one(&transaction, &count).await.map_err(failed)?;
            Some(whole_number(&row, 0).map_err(failed)?)
        }
        None => None,
    };
    transaction.commit().await.map_err(failed)?;
    Ok(Outcome::Rows {
        body,
        returned,
        total,
    })
}

/// A request's transaction (read-only when asked), as `caller`: `set local role` and the
/// settings PostgREST gives each request's transaction.
async fn begin<'c>(
    client: &'c mut deadpool_postgres::Object,
    read_only: bool,
    caller: &Caller,
    settings: &RequestSettings,
) -> Result<deadpool_postgres::Transaction<'c>, tokio_postgres::Error> {
    let transaction = client
        .build_transaction()
        .read_only(read_only)
        .start()
        .await?;
    transaction
        .batch_execute(&format!(
            "set local role {}",
            quote_ident(caller.role.as_str())
        ))
        .await?;
    let claims = caller.claims.to_string();
    let claim = |name: &str| {
        caller
            .claims
            .get(name)
            .map(|value| {
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned)
            })
            .unwrap_or_default()
    };
    let (sub, role) = (claim("sub"), claim("role"));
    let setting = |name: &str| settings.setting(name).unwrap_or_default();
    transaction
        .execute(
            "select set_config('request.jwt.claims', $1, true), \
             set_config('request.jwt.claim.sub', $2, true), \
             set_config('request.jwt.claim.role', $3, true), \
             set_config('request.method', $4, true), set_config('request.path', $5, true), \
             set_config('request.headers', $6, true), set_config('request.cookies', $7, true)",
            &[
                &claims,
                &sub,
                &role,
                &setting("request.method"),
                &setting("request.path"),
                &setting("request.headers"),
                &setting("request.cookies"),
            ],
        )
        .await?;
    Ok(transaction)
}

/// A Postgres error as PostgREST sends it: its SQLSTATE, message, detail and hint.
fn database_error(error: &tokio_postgres::Error, anon: bool) -> RestError {
    let Some(db) = error.as_db_error() else {
        return RestError::internal(error);
    };
    let mut rest = RestError::sql(db.code().code(), db.message(), anon);
    rest.details = db.detail().map(|detail| Box::new(detail.into()));
    rest.hint = db.hint().map(str::to_owned);
    rest
}

fn unavailable(error: PgError) -> RestError {
    tracing::error!(%error, "no database connection");
    RestError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "PGRST000",
        "Database client error. Retrying the connection.",
    )
}

/// The one row `sql` answers.
async fn one(
    transaction: &tokio_postgres::Transaction<'_>,
    sql: &Sql,
) -> Result<tokio_postgres::Row, tokio_postgres::Error> {
    let params: Vec<Param> = sql.params.iter().map(Param::from).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|param| param as _).collect();
    transaction.query_one(&sql.text, &refs).await
}

/// Every row `sql` answers.
async fn all(
    transaction: &tokio_postgres::Transaction<'_>,
    sql: &Sql,
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let params: Vec<Param> = sql.params.iter().map(Param::from).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|param| param as _).collect();
    transaction.query(&sql.text, &refs).await
}

/// The count in column `index`: `count(*)` is a bigint, a constant an integer.
fn whole_number(row: &tokio_postgres::Row, index: usize) -> Result<u64, tokio_postgres::Error> {
    let number = match row.try_get::<_, i64>(index) {
        Ok(number) => number,
        Err(_) => row.try_get::<_, i32>(index)?.into(),
    };
    Ok(number.max(0).unsigned_abs())
}

/// A parameter in Postgres's text form, whatever the type the server gave its placeholder,
/// as PostgREST sends values: the server parses it as it would a literal of that type.
#[derive(Debug)]
struct Param(Option<String>);

impl From<&Literal> for Param {
    fn from(literal: &Literal) -> Self {
        Self(match literal {
            Literal::Null => None,
            Literal::Integer(number) => Some(number.to_string()),
            Literal::Real(number) => Some(number.to_string()),
            Literal::Text(text) => Some(text.clone()),
            Literal::Blob(bytes) => Some(
                bytes
                    .iter()
                    .fold("\\x".to_owned(), |hex, byte| hex + &format!("{byte:02x}")),
            ),
        })
    }
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        let Some(text) = &self.0 else {
            return Ok(IsNull::Yes);
        };
        // Arrays are kept as JSON by the values stage; Postgres reads `{…}`.
        match (ty.kind(), serde_json::from_str::<serde_json::Value>(text)) {
            (Kind::Array(_), Ok(array @ serde_json::Value::Array(_))) => {
                out.extend_from_slice(array_literal(&array).as_bytes());
            }
            _ => out.extend_from_slice(text.as_bytes()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> tokio_postgres::types::Format {
        tokio_postgres::types::Format::Text
    }

    to_sql_checked!();
}

/// A JSON array as a Postgres array literal: `["a", null, [1]]` → `{"a",NULL,{1}}`.
fn array_literal(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Array(elements) => {
            let elements: Vec<String> = elements.iter().map(array_literal).collect();
            format!("{{{}}}", elements.join(","))
        }
        serde_json::Value::Null => "NULL".to_owned(),
        serde_json::Value::String(text) => quoted_element(text),
        serde_json::Value::Object(_) => quoted_element(&value.to_string()),
        other => other.to_string(),
    }
}

fn quoted_element(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A `json` or `jsonb` value's text, as the database wrote it.
struct JsonText(String);

impl<'a> FromSql<'a> for JsonText {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        // jsonb's binary form is a version byte, then the text.
        let text = if *ty == Type::JSONB { &raw[1..] } else { raw };
        Ok(Self(std::str::from_utf8(text)?.to_owned()))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::JSONB
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::fixture;

    /// The statements an RPC runs on PostgreSQL.
    fn call(method: Method, target: &str, body: &str) -> CallQuery {
        let schema = fixture::schema();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let request = request::parse(
            &method,
            path,
            query,
            &HeaderMap::new(),
            body.as_bytes(),
            &ApiConfig::default().schemas,
        )
        .unwrap();
        let Plan::Call(call) = plan::build(&request, &schema, 1000).unwrap() else {
            panic!("{target} is no call")
        };
        query::native_call(&call, &schema, &fixture::caller(Role::Anon), &Postgres).unwrap()
    }

    #[test]
    fn a_call_names_its_arguments_casts_them_and_shapes_its_rows_as_a_read() {
        let query = call(
            Method::POST,
            "rpc/search_todos?select=id&id=gt.1&order=id.desc",
            r#"{"query": "a"}"#,
        );
        let CallOutput::Rows {
            rows, count, set, ..
        } = query.result
        else {
            panic!("{:?}", query.result)
        };
        assert!(set && query.read_only, "a stable function runs read-only");
        assert_eq!(
            rows.text,
            r#"SELECT coalesce(json_agg(_row), '[]'), count(*) FROM (SELECT (SELECT row_to_json(_object) FROM (SELECT t1."id" AS "id") AS _object) AS _row FROM (SELECT * FROM "public"."search_todos"("query" := CAST($1 AS text))) AS t1 WHERE (t1."id" > $2) ORDER BY t1."id" DESC NULLS FIRST LIMIT 1000 OFFSET 0) AS _rows"#
        );
        assert_eq!(
            rows.params,
            vec![Literal::Text("a".into()), Literal::Integer(1)]
        );
        let count = count.unwrap();
        assert_eq!(
            count.text,
            r#"SELECT count(*) FROM (SELECT * FROM "public"."search_todos"("query" := CAST($1 AS text))) AS t2 WHERE (t2."id" > $2)"#
        );
    }

    #[test]
    fn a_scalar_is_its_json_and_a_volatile_function_on_get_is_left_to_the_database() {
        let query = call(Method::POST, "rpc/todo_count", "{}");
        let CallOutput::Scalar(sql, _) = query.result else {
            panic!("{:?}", query.result)
        };
        assert_eq!(sql.text, r#"SELECT to_json("public"."todo_count"())"#);
        // A read-only transaction refuses the write itself (25006), as PostgREST's does.
        let query = call(Method::GET, "rpc/finish_all", "");
        assert!(query.read_only);
        let CallOutput::Void(Some(sql)) = query.result else {
            panic!("{:?}", query.result)
        };
        assert_eq!(sql.text, r#"SELECT "public"."finish_all"()"#);
        assert!(!call(Method::POST, "rpc/finish_all", "").read_only);
    }

    #[test]
    fn json_arrays_become_postgres_array_literals() {
        let array = serde_json::json!(["a", null, "say \"hi\"", "back\\slash", [1, 2], {"k": 1}]);
        assert_eq!(
            super::array_literal(&array),
            r#"{"a",NULL,"say \"hi\"","back\\slash",{1,2},"{\"k\":1}"}"#
        );
    }
}
