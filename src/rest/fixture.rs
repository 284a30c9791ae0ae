//! Test fixture for the REST stages: a schema cache written by hand (profiles, todos with
//! uuid/bool/timestamptz/jsonb/text[] columns, items, a many-to-many through todo_tags, a view,
//! a table with RLS on and no policy, RPC functions) and the SQLite DDL that matches it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::auth::{Caller, Role};
use crate::schema::*;
use crate::store::Store;

pub const DDL: &str = r#"
CREATE TABLE profiles (id TEXT PRIMARY KEY, name TEXT NOT NULL, mood TEXT);
CREATE TABLE todos (
  id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  owner TEXT REFERENCES profiles (id),
  created_at TEXT NOT NULL DEFAULT (pg_now()),
  data TEXT,
  tags TEXT NOT NULL DEFAULT '[]',
  CONSTRAINT todos_title_key UNIQUE (title),
  CONSTRAINT todos_title_check CHECK (length(title) > 0)
);
CREATE TABLE items (id INTEGER PRIMARY KEY, todo_id INTEGER NOT NULL REFERENCES todos (id), label TEXT);
CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE todo_tags (todo_id INTEGER REFERENCES todos (id), tag_id INTEGER REFERENCES tags (id), PRIMARY KEY (todo_id, tag_id));
CREATE TABLE secrets (id INTEGER PRIMARY KEY, value TEXT);
CREATE VIEW open_todos AS SELECT id, title FROM todos WHERE NOT done;
INSERT INTO profiles VALUES ('00000000-0000-0000-0000-00000000000a', 'Ana', 'happy'), ('00000000-0000-0000-0000-00000000000b', 'Ben', NULL);
INSERT INTO todos (id, title, done, owner, created_at, data, tags) VALUES
  (1, 'Buy milk', 0, '00000000-0000-0000-0000-00000000000a', '2024-01-01T10:00:00+00:00', '{"priority":1,"labels":{"color":"red"}}', '["home","food"]'),
  (2, 'Write report', 1, '00000000-0000-0000-0000-00000000000a', '2024-01-02T10:00:00.5+00:00', '{"priority":2}', '["work"]'),
  (3, 'Élan vital', 0, NULL, '2024-01-03T10:00:00+00:00', NULL, '[]');
INSERT INTO items (todo_id, label) VALUES (1, 'whole'), (1, 'skim'), (2, 'draft');
INSERT INTO tags VALUES (1, 'urgent'), (2, 'later');
INSERT INTO todo_tags VALUES (1, 1), (2, 2), (1, 2);
INSERT INTO secrets VALUES (1, 'hidden');
"#;

fn column(name: &str, pg_type: PgType, nullable: bool, default: Option<&str>) -> Column {
    Column {
        name: name.into(),
        pg_type,
        nullable,
        default: default.map(str::to_owned),
        identity: false,
        sequence: None,
        comment: None,
    }
}

fn foreign(name: &str, column: &str, table: &str, referenced: &str) -> ForeignKey {
    ForeignKey {
        name: name.into(),
        columns: vec![column.into()],
        referenced_table: QualifiedName::public(table),
        referenced_columns: vec![referenced.into()],
        on_delete: ReferentialAction::NoAction,
        on_update: ReferentialAction::NoAction,
    }
}

fn table(
    name: &str,
    columns: Vec<Column>,
    primary_key: &[&str],
    foreign_keys: Vec<ForeignKey>,
) -> Table {
    Table {
        name: QualifiedName::public(name),
        kind: TableKind::Table,
        columns,
        primary_key: primary_key.iter().map(|c| c.to_string()).collect(),
        unique_constraints: Vec::new(),
        foreign_keys,
        checks: Vec::new(),
        rls_enabled: false,
        policies: Vec::new(),
        comment: None,
        partitioning: None,
        partition_of: None,
    }
}

fn function(
    name: &str,
    arguments: &[(&str, PgType, Option<&str>)],
    returns: FunctionReturn,
    volatility: Volatility,
    body: &str,
) -> Function {
    Function {
        name: QualifiedName::public(name),
        arguments: arguments
            .iter()
            .map(|(name, pg_type, default)| FunctionArgument {
                name: name.to_string(),
                pg_type: pg_type.clone(),
                default: default.map(str::to_owned),
                row: None,
                declared_type: None,
                variadic: false,
            })
            .collect(),
        returns,
        language: FunctionLanguage::Sql,
        volatility,
        security_definer: false,
        // As written in a migration: the arguments by their bare names.
        body: body.replace(':', ""),
        sqlite_body: Some(body.into()),
        program: None,
        invoked: Default::default(),
        rows: None,
    }
}

pub fn schema() -> SchemaCache {
    let mood = QualifiedName::public("mood");
    let mut todos = table(
        "todos",
        vec![
            column("id", PgType::BigInt, false, None),
            column("title", PgType::Text, false, None),
            column("done", PgType::Boolean, false, Some("false")),
            column("owner", PgType::Uuid, true, None),
            column("created_at", PgType::Timestamptz, false, Some("now()")),
            column("data", PgType::Jsonb, true, None),
            column(
                "tags",
                PgType::Array(Box::new(PgType::Text)),
                false,
                Some("'{}'"),
            ),
        ],
        &["id"],
        vec![foreign("todos_owner_fkey", "owner", "profiles", "id")],
    );
    todos.columns[0].identity = true;
    todos.unique_constraints.push(UniqueConstraint {
        name: "todos_title_key".into(),
        columns: vec!["title".into()],
    });
    let mut secrets = table(
        "secrets",
        vec![
            column("id", PgType::BigInt, false, None),
            column("value", PgType::Text, true, None),
        ],
        &["id"],
        vec![],
    );
    secrets.rls_enabled = true;
    let mut view = table(
        "open_todos",
        vec![
            column("id", PgType::BigInt, true, None),
            column("title", PgType::Text, true, None),
        ],
        &[],
        vec![],
    );
    view.kind = TableKind::View {
        definition: "select id, title from todos where not done".into(),
        security_invoker: false,
    };
    let tables = [
        table(
            "profiles",
            vec![
                column("id", PgType::Uuid, false, None),
                column("name", PgType::Text, false, None),
                column("mood", PgType::Enum(mood.clone()), true, None),
            ],
            &["id"],
            vec![],
        ),
        todos,
        table(
            "items",
            vec![
                column("id", PgType::BigInt, false, None),
                column("todo_id", PgType::BigInt, false, None),
                column("label", PgType::Text, true, None),
            ],
            &["id"],
            vec![foreign("items_todo_id_fkey", "todo_id", "todos", "id")],
        ),
        table(
            "tags",
            vec![
                column("id", PgType::BigInt, false, None),
                column("name", PgType::Text, false, None),
            ],
            &["id"],
            vec![],
        ),
        table(
            "todo_tags",
            vec![
                column("todo_id", PgType::BigInt, false, None),
                column("tag_id", PgType::BigInt, false, None),
            ],
            &["todo_id", "tag_id"],
            vec![
                foreign("todo_tags_todo_id_fkey", "todo_id", "todos", "id"),
                foreign("todo_tags_tag_id_fkey", "tag_id", "tags", "id"),
            ],
        ),
        secrets,
        view,
    ];
    let functions = [
        function(
            "search_todos",
            &[
                ("query", PgType::Text, None),
                ("only_open", PgType::Boolean, Some("false")),
            ],
            FunctionReturn::Rows {
                table: QualifiedName::public("todos"),
                set: true,
            },
            Volatility::Stable,
            "select * from todos where title like '%' || :query || '%' and (not :only_open or not done)",
        ),
        function(
            "todo_count",
            &[],
            FunctionReturn::Scalar(PgType::BigInt),
            Volatility::Stable,
            "select count(*) from todos",
        ),
        function(
            "finish_all",
            &[],
            FunctionReturn::Void,
            Volatility::Volatile,
            "update todos set done = 1;\nselect 1",
        ),
    ];
    let mut schema = SchemaCache {
        tables: tables
            .into_iter()
            .map(|table| (table.name.clone(), table))
            .collect(),
        enums: BTreeMap::from([(mood, vec!["sad".into(), "happy".into()])]),
        functions: functions
            .into_iter()
            .map(|function| (function.name.clone(), vec![function]))
            .collect(),
        ..SchemaCache::default()
    };
    // As migrations leave them: each invoker body prepared for every API role.
    let prepared: Vec<Function> = schema
        .all_functions()
        .map(|function| Function {
            invoked: super::invoker::prepare(&schema, function),
            ..function.clone()
        })
        .collect();
    for function in prepared {
        schema
            .functions
            .insert(function.name.clone(), vec![function]);
    }
    schema
}

pub fn caller(role: Role) -> Caller {
    Caller {
        role,
        claims: Arc::new(serde_json::json!({"role": role.as_str()})),
    }
}

/// A fresh database file holding the fixture.
pub async fn store() -> Store {
    let directory = std::env::temp_dir().join(format!("solobase-rest-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&directory).unwrap();
    let store = Store::open(&directory.join("data.db"), 2).unwrap();
    store
        .write(None, |connection| connection.execute_batch(DDL))
        .await
        .unwrap()
        .unwrap();
    store
}
