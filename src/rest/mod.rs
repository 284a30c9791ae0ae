//! REST: `/rest/v1`, the PostgREST dialect (protocol.md §2). `handle` reads top to bottom:
//! parse the request, plan it against the schema, turn the plan into SQL (policies from
//! `authorize`), execute it on the store, render the response.

pub mod authorize;
pub mod error;
pub mod execute;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod fuzz;
pub mod invoker;
pub mod plan;
pub mod postgres;
pub mod privileges;
pub mod query;
pub mod request;
pub mod response;
pub mod values;

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::{Caller, Role};
use crate::config::ApiConfig;
use crate::schema::SchemaCache;
use crate::store::Store;
use crate::store::settings::RequestSettings;
use error::RestError;
use execute::WriteOptions;
use plan::Plan;

/// Serves one `/rest/v1/{path}` request for a verified caller over the schemas `api` exposes;
/// reads return at most `api.max_rows` rows.
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    store: &Store,
    schema: Arc<SchemaCache>,
    caller: Caller,
    api: &ApiConfig,
    method: &Method,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let request = request::parse(method, path, raw_query, headers, &body, &api.schemas)?;
        let (query, table) = {
            let plan = plan::build(&request, &schema, api.max_rows)?;
            privileges::check(&plan, &schema, &caller)?;
            let table = match &plan {
                Plan::Insert(insert) => Some(insert.table.name.clone()),
                Plan::Update(update) => Some(update.table.name.clone()),
                Plan::Delete(delete) => Some(delete.table.name.clone()),
                Plan::Read(_) | Plan::Call(_) => None,
            };
            (
                query::to_sql(&plan, &schema, &caller, &query::Sqlite)?,
                table,
            )
        };
        let options = WriteOptions::of(&request);
        let settings = RequestSettings::new(method.as_str(), &format!("/{path}"), headers);
        let caller = (&caller, Arc::new(settings));
        let outcome = execute::run(store, schema.clone(), caller, table, query, options).await?;
        response::render(&request, outcome)
    }
    .await;
    result.unwrap_or_else(|mut error: RestError| {
        if error.code == "42501" && caller.role == Role::Anon {
            error.status = StatusCode::UNAUTHORIZED;
        }
        error.into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// One request through the whole pipeline: `(status, headers, body)`.
    async fn send(
        store: &Store,
        role: Role,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, HeaderMap, String) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let response = handle(
            store,
            Arc::new(fixture::schema()),
            fixture::caller(role),
            &ApiConfig::default(),
            &method.parse().unwrap(),
            path,
            query,
            &map,
            Bytes::from(body.to_owned()),
        )
        .await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn get(store: &Store, target: &str) -> Value {
        let (status, _, body) = send(store, Role::ServiceRole, "GET", target, &[], "").await;
        assert_eq!(status, 200, "{target}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// The `id`s a filtered read returns.
    async fn ids(store: &Store, filter: &str) -> Vec<i64> {
        let rows = get(store, &format!("todos?select=id&order=id&{filter}")).await;
        rows.as_array()
            .unwrap()
            .iter()
            .map(|row| row["id"].as_i64().unwrap())
            .collect()
    }

    /// The error code and message a request gets, with its status.
    async fn error(store: &Store, method: &str, target: &str, body: &str) -> (u16, Value) {
        let (status, _, body) = send(store, Role::ServiceRole, method, target, &[], body).await;
        (status, serde_json::from_str(&body).unwrap())
    }

    fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
        headers
            .get(name)
            .map_or("", |value| value.to_str().unwrap())
    }

    #[tokio::test]
    async fn values_come_out_typed_as_postgres_sends_them() {
        let store = fixture::store().await;
        assert_eq!(
            get(
                &store,
                "todos?select=id,done,created_at,data,tags,owner&id=in.(1,2)&order=id"
            )
            .await,
            json!([
                {"id": 1, "done": false, "created_at": "2024-01-01T10:00:00+00:00",
                 "data": {"priority": 1, "labels": {"color": "red"}}, "tags": ["home", "food"],
                 "owner": "00000000-0000-0000-0000-00000000000a"},
                {"id": 2, "done": true, "created_at": "2024-01-02T10:00:00.5+00:00",
                 "data": {"priority": 2}, "tags": ["work"],
                 "owner": "00000000-0000-0000-0000-00000000000a"}
            ])
        );
        assert_eq!(
            get(&store, "todos?select=label:title,p:data->>priority,color:data->labels->color,id::text,done::text&id=eq.1").await,
            json!([{"label": "Buy milk", "p": "1", "color": "red", "id": "1", "done": "false"}])
        );
        assert_eq!(
            get(&store, "open_todos?select=title&order=id").await,
            json!([{"title": "Buy milk"}, {"title": "Élan vital"}])
        );
    }

    #[tokio::test]
    async fn embeds_follow_foreign_keys_both_ways_and_through_junctions() {
        let store = fixture::store().await;
        assert_eq!(
            get(&store, "todos?select=title,owner:profiles(name),items(label),tags(name),n:items(count)&order=id&items.order=label.desc&tags.order=name").await,
            json!([
                {"title": "Buy milk", "owner": {"name": "Ana"}, "items": [{"label": "whole"}, {"label": "skim"}],
                 "tags": [{"name": "later"}, {"name": "urgent"}], "n": [{"count": 2}]},
                {"title": "Write report", "owner": {"name": "Ana"}, "items": [{"label": "draft"}],
                 "tags": [{"name": "later"}], "n": [{"count": 1}]},
                {"title": "Élan vital", "owner": null, "items": [], "tags": [], "n": [{"count": 0}]}
            ])
        );
        assert_eq!(
            get(
                &store,
                "items?select=label,...todos(title)&order=id&limit=1"
            )
            .await,
            json!([{"label": "whole", "title": "Buy milk"}])
        );
        assert_eq!(
            get(
                &store,
                "todos?select=id,items!inner(label)&items.label=eq.draft"
            )
            .await,
            json!([{"id": 2, "items": [{"label": "draft"}]}])
        );
        assert_eq!(
            get(
                &store,
                "profiles?select=name,todos(id)&todos.limit=1&todos.order=id.desc&order=name"
            )
            .await,
            json!([{"name": "Ana", "todos": [{"id": 2}]}, {"name": "Ben", "todos": []}])
        );
        assert_eq!(
            get(&store, "todos?select=id,profiles(name)&profiles=is.null").await,
            json!([{"id": 3, "profiles": null}])
        );
    }

    #[tokio::test]
    async fn filters_select_the_rows_postgres_would() {
        let store = fixture::store().await;
        for (filter, expected) in [
            ("id=eq.2", vec![2]),
            ("id=neq.2", vec![1, 3]),
            ("created_at=gt.2024-01-02 11:00:00%2B02", vec![2, 3]),
            ("created_at=lte.2024-01-02T10:00:00.5Z", vec![1, 2]),
            ("title=like.Buy*", vec![1]),
            ("title=like.buy*", vec![]),
            ("title=ilike.*ÉLAN*", vec![3]),
            ("title=match.^W", vec![2]),
            ("title=imatch.^w", vec![2]),
            ("title=like(any).{Buy*,Write*}", vec![1, 2]),
            ("owner=is.null", vec![3]),
            ("owner=not.is.null", vec![1, 2]),
            ("done=is.true", vec![2]),
            ("done=eq.f", vec![1, 3]),
            ("data=is.null", vec![3]),
            ("id=in.(1,3,3)", vec![1, 3]),
            ("id=not.in.(1,3)", vec![2]),
            ("tags=cs.{home}", vec![1]),
            ("tags=cd.{home,food,work}", vec![1, 2, 3]),
            ("tags=ov.{work,food}", vec![1, 2]),
            ("data=cs.{\"labels\":{\"color\":\"red\"}}", vec![1]),
            ("data->>priority=eq.2", vec![2]),
            ("data->priority=gte.1", vec![1, 2]),
            ("title=fts.report", vec![2]),
            ("title=plfts.buy milk", vec![1]),
            ("title=wfts.milk or report", vec![1, 2]),
            ("title=phfts.write report", vec![2]),
            ("or=(id.eq.1,and(done.is.true,title.like.W*))", vec![1, 2]),
            ("not.or=(id.eq.1,id.eq.2)", vec![3]),
            ("id=isdistinct.1", vec![2, 3]),
        ] {
            assert_eq!(ids(&store, filter).await, expected, "{filter}");
        }
    }

    #[tokio::test]
    async fn counts_ranges_and_heads_follow_content_range_rules() {
        let store = fixture::store().await;
        let counted = [("prefer", "count=exact")];
        let (status, headers, body) = send(
            &store,
            Role::ServiceRole,
            "GET",
            "todos?select=id&limit=2&offset=1",
            &counted,
            "",
        )
        .await;
        assert_eq!(
            (status, header(&headers, "content-range"), body.as_str()),
            (206, "1-2/3", r#"[{"id":2},{"id":3}]"#)
        );
        let (status, headers, _) =
            send(&store, Role::ServiceRole, "GET", "todos?select=id", &[], "").await;
        assert_eq!((status, header(&headers, "content-range")), (200, "0-2/*"));
        let (status, headers, _) = send(
            &store,
            Role::ServiceRole,
            "GET",
            "todos?id=eq.99",
            &counted,
            "",
        )
        .await;
        assert_eq!((status, header(&headers, "content-range")), (200, "*/0"));
        let (status, headers, body) =
            send(&store, Role::ServiceRole, "HEAD", "todos", &counted, "").await;
        assert_eq!(
            (status, header(&headers, "content-range"), body.as_str()),
            (200, "0-2/3", "")
        );
        let (status, body) = error(&store, "GET", "todos?offset=10", "").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (200, None),
            "no count, no 416"
        );
        let (status, _, body) = send(
            &store,
            Role::ServiceRole,
            "GET",
            "todos?offset=10",
            &counted,
            "",
        )
        .await;
        assert_eq!(status, 416, "{body}");
        let (status, _, body) = send(
            &store,
            Role::ServiceRole,
            "GET",
            "todos?select=count()",
            &[],
            "",
        )
        .await;
        assert_eq!((status, body.as_str()), (200, r#"[{"count":3}]"#));
    }

    #[tokio::test]
    async fn singular_and_csv_media_types_shape_the_body() {
        let store = fixture::store().await;
        let single = [("accept", "application/vnd.pgrst.object+json")];
        let (status, headers, body) = send(
            &store,
            Role::ServiceRole,
            "GET",
            "todos?select=id,title&id=eq.1",
            &single,
            "",
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"id":1,"title":"Buy milk"}"#)
        );
        assert_eq!(
            header(&headers, "content-type"),
            "application/vnd.pgrst.object+json; charset=utf-8"
        );
        let (status, _, body) = send(&store, Role::ServiceRole, "GET", "todos", &single, "").await;
        assert_eq!(status, 406);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["details"],
            "The result contains 3 rows"
        );
        let (_, headers, body) = send(
            &store,
            Role::ServiceRole,
            "GET",
            "todos?select=id,title&order=id&limit=2",
            &[("accept", "text/csv")],
            "",
        )
        .await;
        assert_eq!(header(&headers, "content-type"), "text/csv; charset=utf-8");
        // Each row as Postgres prints a record: a field with a space is quoted.
        assert_eq!(body, "id,title\n1,\"Buy milk\"\n2,\"Write report\"");
    }

    #[tokio::test]
    async fn planner_errors_carry_postgrest_codes() {
        let store = fixture::store().await;
        for (method, target, body, status, code, message) in [
            (
                "GET",
                "todoz",
                "",
                404,
                "PGRST205",
                "Could not find the table 'public.todoz' in the schema cache",
            ),
            (
                "GET",
                "todos?select=foo",
                "",
                400,
                "42703",
                "column todos.foo does not exist",
            ),
            (
                "GET",
                "todos?order=nope",
                "",
                400,
                "42703",
                "column todos.nope does not exist",
            ),
            (
                "GET",
                "todos?select=id,secrets(id)",
                "",
                400,
                "PGRST200",
                "Could not find a relationship between 'todos' and 'secrets' in the schema cache",
            ),
            (
                "GET",
                "todos?items.label=eq.x",
                "",
                400,
                "PGRST108",
                "'items' is not an embedded resource in this request",
            ),
            (
                "GET",
                "todos?owner=eq.abc",
                "",
                400,
                "22P02",
                "invalid input syntax for type uuid: \"abc\"",
            ),
            (
                "GET",
                "todos?id=eq.x",
                "",
                400,
                "22P02",
                "invalid input syntax for type bigint: \"x\"",
            ),
            (
                "GET",
                "profiles?mood=eq.angry",
                "",
                400,
                "22P02",
                "invalid input value for enum mood: \"angry\"",
            ),
            (
                "POST",
                "todos",
                r#"{"title":"x","foo":1}"#,
                400,
                "PGRST204",
                "Could not find the 'foo' column of 'todos' in the schema cache",
            ),
            (
                "POST",
                "todos",
                r#"{"title":"x","done":"maybe"}"#,
                400,
                "22P02",
                "invalid input syntax for type boolean: \"maybe\"",
            ),
            (
                "POST",
                "rpc/nope",
                "{}",
                404,
                "PGRST202",
                "Could not find the function public.nope without parameters in the schema cache",
            ),
            (
                "GET",
                "rpc/finish_all",
                "",
                405,
                "25006",
                "cannot execute INSERT in a read-only transaction",
            ),
        ] {
            let (got_status, body) = error(&store, method, target, body).await;
            assert_eq!(
                (
                    got_status,
                    body["code"].as_str().unwrap(),
                    body["message"].as_str().unwrap()
                ),
                (status, code, message),
                "{target}"
            );
        }
        let (_, body) = error(&store, "GET", "todoz", "").await;
        assert_eq!(body["hint"], "Perhaps you meant the table 'public.todos'");
    }

    #[tokio::test]
    async fn inserts_answer_with_statuses_ranges_and_representations() {
        let store = fixture::store().await;
        let represent = [("prefer", "return=representation")];
        let (status, headers, body) = send(
            &store,
            Role::ServiceRole,
            "POST",
            "todos?select=id,title,done,tags",
            &represent,
            r#"{"title":"New","tags":"{a,b}"}"#,
        )
        .await;
        assert_eq!((status, header(&headers, "content-range")), (201, "*/*"));
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!([{"id": 4, "title": "New", "done": false, "tags": ["a", "b"]}])
        );
        let (status, _, body) = send(
            &store,
            Role::ServiceRole,
            "POST",
            "todos",
            &[],
            r#"{"title":"Quiet"}"#,
        )
        .await;
        assert_eq!((status, body.as_str()), (201, ""));
        // A bulk insert with `columns=` sets missing keys to null, or to their default.
        let (status, _, body) = send(
            &store,
            Role::ServiceRole,
            "POST",
            "todos?columns=title,done,data&select=title,done",
            &[("prefer", "return=representation, missing=default")],
            r#"[{"title":"A","done":true},{"title":"B","data":[1]}]"#,
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (
                201,
                r#"[{"title":"A","done":true},{"title":"B","done":false}]"#
            )
        );
        let (status, _) = error(
            &store,
            "POST",
            "todos?columns=title,done",
            r#"[{"title":"C"}]"#,
        )
        .await;
        assert_eq!(status, 400, "done is not null and was given null");
        // Upserts: a merge that only updates is 200, one that inserts is 201.
        let merge = [(
            "prefer",
            "resolution=merge-duplicates, return=representation",
        )];
        let (status, _, body) = send(
            &store,
            Role::ServiceRole,
            "POST",
            "todos?select=id,title",
            &merge,
            r#"{"id":1,"title":"Oat milk"}"#,
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"[{"id":1,"title":"Oat milk"}]"#)
        );
        let (status, _, _) = send(
            &store,
            Role::ServiceRole,
            "POST",
            "todos",
            &merge,
            r#"{"id":50,"title":"Fifty"}"#,
        )
        .await;
        assert_eq!(status, 201);
        let (status, _, body) = send(
            &store,
            Role::ServiceRole,
            "POST",
            "todos?on_conflict=title&select=id",
            &[(
                "prefer",
                "resolution=ignore-duplicates, return=representation",
            )],
            r#"{"title":"Fifty"}"#,
        )
        .await;
        assert_eq!((status, body.as_str()), (201, "[]"));
        let (status, headers, _) = send(
            &store,
            Role::ServiceRole,
            "POST",
            "todos",
            &[("prefer", "return=headers-only")],
            r#"{"title":"Located"}"#,
        )
        .await;
        assert_eq!(
            (status, header(&headers, "location")),
            (201, "/todos?id=eq.51")
        );
        assert_eq!(
            header(&headers, "preference-applied"),
            "return=headers-only"
        );
    }

    #[tokio::test]
    async fn constraint_violations_map_to_postgres_errors() {
        let store = fixture::store().await;
        for (body, status, code, message, details) in [
            (
                r#"{"title":"Buy milk"}"#,
                409,
                "23505",
                "duplicate key value violates unique constraint \"todos_title_key\"",
                Some("Key (title)=(Buy milk) already exists."),
            ),
            (
                r#"{"id":1,"title":"Other"}"#,
                409,
                "23505",
                "duplicate key value violates unique constraint \"todos_pkey\"",
                Some("Key (id)=(1) already exists."),
            ),
            (
                r#"{"title":"x","owner":"00000000-0000-0000-0000-0000000000ff"}"#,
                409,
                "23503",
                "insert or update on table \"todos\" violates foreign key constraint \"todos_owner_fkey\"",
                Some(
                    "Key (owner)=(00000000-0000-0000-0000-0000000000ff) is not present in table \"profiles\".",
                ),
            ),
            (
                r#"{"title":null}"#,
                400,
                "23502",
                "null value in column \"title\" of relation \"todos\" violates not-null constraint",
                None,
            ),
            (
                r#"{"title":""}"#,
                400,
                "23514",
                "new row for relation \"todos\" violates check constraint \"todos_title_check\"",
                None,
            ),
        ] {
            let (got, error) = error(&store, "POST", "todos", body).await;
            assert_eq!(
                (
                    got,
                    error["code"].as_str().unwrap(),
                    error["message"].as_str().unwrap(),
                    error["details"].as_str()
                ),
                (status, code, message, details),
                "{body}"
            );
        }
        let (status, error) = error(&store, "DELETE", "todos?id=eq.1", "").await;
        assert_eq!((status, error["code"].as_str().unwrap()), (409, "23503"));
        assert_eq!(ids(&store, "").await, vec![1, 2, 3], "nothing was written");
    }

    #[tokio::test]
    async fn updates_and_deletes_touch_matching_rows_in_one_transaction() {
        let store = fixture::store().await;
        let (status, headers, body) = send(
            &store,
            Role::ServiceRole,
            "PATCH",
            "todos?done=is.false&select=id,done",
            &[("prefer", "return=representation, count=exact")],
            r#"{"done":true}"#,
        )
        .await;
        assert_eq!(
            (status, header(&headers, "content-range"), body.as_str()),
            (
                200,
                "0-1/2",
                r#"[{"id":1,"done":true},{"id":3,"done":true}]"#
            )
        );
        let (status, headers, body) = send(
            &store,
            Role::ServiceRole,
            "PATCH",
            "todos?id=eq.99",
            &[],
            r#"{"done":false}"#,
        )
        .await;
        assert_eq!(
            (status, header(&headers, "content-range"), body.as_str()),
            (204, "*/*", "")
        );
        // Singular writes of other than one row roll back.
        let (status, _, _) = send(
            &store,
            Role::ServiceRole,
            "PATCH",
            "todos",
            &[("accept", "application/vnd.pgrst.object+json")],
            r#"{"done":false}"#,
        )
        .await;
        assert_eq!(status, 406);
        let (status, _, _) = send(
            &store,
            Role::ServiceRole,
            "PATCH",
            "todos",
            &[("prefer", "handling=strict, max-affected=1")],
            r#"{"done":false}"#,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(ids(&store, "done=is.true").await, vec![1, 2, 3]);
        let (status, _, body) = send(
            &store,
            Role::ServiceRole,
            "DELETE",
            "items?todo_id=eq.1&select=label&order=id",
            &[("prefer", "return=representation, tx=rollback")],
            "",
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"[{"label":"whole"},{"label":"skim"}]"#)
        );
        let (status, headers, _) = send(
            &store,
            Role::ServiceRole,
            "DELETE",
            "items?todo_id=eq.1",
            &[("prefer", "count=exact")],
            "",
        )
        .await;
        assert_eq!((status, header(&headers, "content-range")), (204, "*/2"));
        assert_eq!(
            get(&store, "items?select=label").await,
            json!([{"label": "draft"}])
        );
    }

    #[tokio::test]
    async fn row_level_security_denies_by_default_and_the_service_role_bypasses_it() {
        let store = fixture::store().await;
        let (status, _, body) = send(&store, Role::Anon, "GET", "secrets", &[], "").await;
        assert_eq!((status, body.as_str()), (200, "[]"));
        let (status, _, body) = send(
            &store,
            Role::Authenticated,
            "GET",
            "todos?select=id,secrets(id)&limit=1",
            &[],
            "",
        )
        .await;
        assert_eq!(status, 400, "{body}");
        let (status, _, body) = send(
            &store,
            Role::Anon,
            "POST",
            "secrets",
            &[],
            r#"{"value":"x"}"#,
        )
        .await;
        assert_eq!(status, 401, "{body}");
        let (status, _, body) = send(
            &store,
            Role::Authenticated,
            "POST",
            "secrets",
            &[],
            r#"{"value":"x"}"#,
        )
        .await;
        assert_eq!(status, 403, "{body}");
        let (status, _, _) = send(&store, Role::Authenticated, "DELETE", "secrets", &[], "").await;
        assert_eq!(status, 204);
        assert_eq!(
            get(&store, "secrets?select=value").await,
            json!([{"value": "hidden"}])
        );
    }

    #[tokio::test]
    async fn rpc_calls_shape_sets_and_answer_scalars_and_void() {
        let store = fixture::store().await;
        let (status, headers, body) = send(
            &store,
            Role::ServiceRole,
            "POST",
            "rpc/search_todos?select=id,title&order=id.desc",
            &[],
            r#"{"query":"i"}"#,
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (
                200,
                r#"[{"id":3,"title":"Élan vital"},{"id":2,"title":"Write report"},{"id":1,"title":"Buy milk"}]"#
            )
        );
        assert_eq!(header(&headers, "content-range"), "0-2/*");
        assert_eq!(
            get(
                &store,
                "rpc/search_todos?query=i&only_open=true&select=id&order=id"
            )
            .await,
            json!([{"id": 1}, {"id": 3}])
        );
        assert_eq!(
            get(
                &store,
                "rpc/search_todos?query=i&id=gt.1&select=id&order=id"
            )
            .await,
            json!([{"id": 2}, {"id": 3}])
        );
        assert_eq!(get(&store, "rpc/todo_count").await, json!(3));
        let (status, _, body) =
            send(&store, Role::ServiceRole, "POST", "rpc/finish_all", &[], "").await;
        assert_eq!((status, body.as_str()), (204, ""));
        assert_eq!(ids(&store, "done=is.true").await, vec![1, 2, 3]);
    }
}
