//! Snapshot tests: a fixture schema covering every shape the generator prints, compared byte for
//! byte with `tests/snapshots/typegen_fixture.ts` (reviewed against `supabase gen types`).

use super::*;
use crate::schema::{
    Column, ForeignKey, Function, FunctionArgument, FunctionLanguage, ReferentialAction,
    UniqueConstraint, Volatility,
};

fn column(name: &str, pg_type: PgType, nullable: bool, default: Option<&str>) -> Column {
    Column {
        name: name.into(),
        pg_type,
        nullable,
        default: default.map(Into::into),
        identity: false,
        sequence: None,
        comment: None,
    }
}

fn table(name: &str, columns: Vec<Column>, primary_key: &[&str]) -> Table {
    Table {
        name: QualifiedName::public(name),
        kind: TableKind::Table,
        columns,
        primary_key: primary_key.iter().map(|c| c.to_string()).collect(),
        unique_constraints: Vec::new(),
        foreign_keys: Vec::new(),
        checks: Vec::new(),
        rls_enabled: true,
        policies: Vec::new(),
        comment: None,
        partitioning: None,
        partition_of: None,
    }
}

fn foreign_key(
    name: &str,
    columns: &[&str],
    table: QualifiedName,
    referenced: &[&str],
) -> ForeignKey {
    ForeignKey {
        name: name.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        referenced_table: table,
        referenced_columns: referenced.iter().map(|c| c.to_string()).collect(),
        on_delete: ReferentialAction::Cascade,
        on_update: ReferentialAction::NoAction,
    }
}

fn function(name: &str, arguments: Vec<FunctionArgument>, returns: FunctionReturn) -> Function {
    Function {
        name: QualifiedName::public(name),
        arguments,
        returns,
        language: FunctionLanguage::Sql,
        volatility: Volatility::Stable,
        security_definer: false,
        body: "select 1".into(),
        sqlite_body: None,
        program: None,
        invoked: Default::default(),
        rows: None,
    }
}

fn argument(name: &str, pg_type: PgType, default: Option<&str>) -> FunctionArgument {
    FunctionArgument {
        name: name.into(),
        pg_type,
        default: default.map(Into::into),
        row: None,
        declared_type: None,
        variadic: false,
    }
}

/// A shop: profiles, products, orders, a one-to-one detail table, two views, enums, functions.
pub(crate) fn fixture() -> SchemaCache {
    let status = QualifiedName::public("order_status");
    let fulfilment = QualifiedName::public("fulfilment_stage_of_an_order_in_the_warehouse");
    let mut schema = SchemaCache::default();
    schema.enums.insert(
        status.clone(),
        vec![
            "pending".into(),
            "paid".into(),
            "shipped".into(),
            "cancelled".into(),
        ],
    );
    schema.enums.insert(
        fulfilment.clone(),
        [
            "received",
            "picking",
            "packing",
            "waiting_for_courier",
            "handed_to_courier",
            "delivered",
        ]
        .map(String::from)
        .to_vec(),
    );
    schema.enums.insert(
        QualifiedName::public("Mood"),
        vec!["happy".into(), "sad".into()],
    );

    let mut profiles = table(
        "profiles",
        vec![
            column("id", PgType::Uuid, false, None),
            column("username", PgType::Text, false, None),
            column("avatar_url", PgType::Text, true, None),
            column("Display Name", PgType::Varchar(Some(80)), true, None),
            column("created_at", PgType::Timestamptz, false, Some("now()")),
        ],
        &["id"],
    );
    profiles.unique_constraints.push(UniqueConstraint {
        name: "profiles_username_key".into(),
        columns: vec!["username".into()],
    });
    profiles.foreign_keys.push(foreign_key(
        "profiles_id_fkey",
        &["id"],
        QualifiedName::new("auth", "users"),
        &["id"],
    ));

    let mut products = table(
        "products",
        vec![
            Column {
                identity: true,
                sequence: None,
                ..column("id", PgType::BigInt, false, None)
            },
            column("name", PgType::Text, false, None),
            column("price", PgType::Numeric, false, Some("0")),
            column("tags", PgType::Array(Box::new(PgType::Text)), true, None),
            column("metadata", PgType::Jsonb, false, Some("'{}'::jsonb")),
            column("in_stock", PgType::Boolean, false, Some("true")),
            column("weight", PgType::Real, true, None),
            column("ratio", PgType::Double, true, None),
            column("sku", PgType::Char(Some(8)), true, None),
            column("launched_on", PgType::Date, true, None),
            column("opens_at", PgType::Time, true, None),
            column("seen_at", PgType::Timestamp, true, None),
            column("warranty", PgType::Interval, true, None),
            column("thumbnail", PgType::Bytea, true, None),
            column("stock", PgType::SmallInt, false, Some("0")),
            column(
                "mood",
                PgType::Enum(QualifiedName::public("Mood")),
                true,
                None,
            ),
            column(
                "scores",
                PgType::Array(Box::new(PgType::Integer)),
                false,
                Some("'{}'"),
            ),
        ],
        &["id"],
    );
    products.comment = Some("things for sale".into());

    let mut orders = table(
        "orders",
        vec![
            column("id", PgType::Uuid, false, Some("gen_random_uuid()")),
            column("product_id", PgType::BigInt, false, None),
            column("buyer_id", PgType::Uuid, false, None),
            column("quantity", PgType::Integer, false, None),
            column(
                "status",
                PgType::Enum(status.clone()),
                false,
                Some("'pending'"),
            ),
            column("stage", PgType::Enum(fulfilment.clone()), true, None),
            column(
                "history",
                PgType::Array(Box::new(PgType::Enum(status.clone()))),
                true,
                None,
            ),
            column("note", PgType::Text, true, None),
        ],
        &["id"],
    );
    orders.foreign_keys.push(foreign_key(
        "orders_product_id_fkey",
        &["product_id"],
        QualifiedName::public("products"),
        &["id"],
    ));
    orders.foreign_keys.push(foreign_key(
        "orders_buyer_id_fkey",
        &["buyer_id"],
        QualifiedName::public("profiles"),
        &["id"],
    ));

    let mut receipts = table(
        "order_receipts",
        vec![
            column("order_id", PgType::Uuid, false, None),
            column("issued_at", PgType::Timestamptz, false, Some("now()")),
        ],
        &["order_id"],
    );
    receipts.foreign_keys.push(foreign_key(
        "order_receipts_order_id_fkey",
        &["order_id"],
        QualifiedName::public("orders"),
        &["id"],
    ));

    let mut names = table(
        "product_names",
        vec![
            column("id", PgType::BigInt, true, None),
            column("title", PgType::Text, true, None),
            column("shout", PgType::Text, true, None),
        ],
        &[],
    );
    names.kind = TableKind::View {
        definition: "select id, name as title, upper(name) as shout from products".into(),
        security_invoker: false,
    };
    let mut totals = table(
        "order_totals",
        vec![
            column("product_id", PgType::BigInt, true, None),
            column("total", PgType::BigInt, true, None),
        ],
        &[],
    );
    totals.kind = TableKind::View {
        definition: "select product_id, sum(quantity) as total from orders group by product_id"
            .into(),
        security_invoker: false,
    };

    for table in [profiles, products, orders, receipts, names, totals] {
        schema.tables.insert(table.name.clone(), table);
    }

    for function in [
        function(
            "search_products",
            vec![
                argument("query", PgType::Text, None),
                argument("max_price", PgType::Numeric, Some("null")),
            ],
            FunctionReturn::Rows {
                table: QualifiedName::public("products"),
                set: true,
            },
        ),
        function(
            "product_by_id",
            vec![argument("product_id", PgType::BigInt, None)],
            FunctionReturn::Rows {
                table: QualifiedName::public("products"),
                set: false,
            },
        ),
        function(
            "order_count",
            vec![],
            FunctionReturn::Scalar(PgType::BigInt),
        ),
        function(
            "sales_by_product",
            vec![argument(
                "since",
                PgType::Timestamptz,
                Some("now() - interval '30 days'"),
            )],
            FunctionReturn::Table(vec![
                ("product_id".into(), PgType::BigInt),
                ("revenue".into(), PgType::Numeric),
                ("last_status".into(), PgType::Enum(status.clone())),
            ]),
        ),
        function(
            "cancel_order",
            vec![
                argument("order_id", PgType::Uuid, None),
                argument(
                    "reason_for_the_cancellation_of_this_order",
                    PgType::Text,
                    None,
                ),
                argument("notify", PgType::Boolean, Some("true")),
            ],
            FunctionReturn::Void,
        ),
        function("handle_new_user", vec![], FunctionReturn::Trigger),
        function(
            "tag_counts",
            vec![argument(
                "tags",
                PgType::Array(Box::new(PgType::Text)),
                None,
            )],
            FunctionReturn::Scalar(PgType::Jsonb),
        ),
    ] {
        schema.put_function(function);
    }
    schema
}

fn snapshot_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name)
}

#[test]
fn the_fixture_schema_generates_the_reviewed_typescript_byte_for_byte() {
    let generated = typescript(&fixture(), &["public".into()]);
    let path = snapshot_path("typegen_fixture.ts");
    if std::env::var_os("SOLOBASE_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(
        generated == expected,
        "generated types differ from {}:\n{generated}",
        path.display()
    );
}

#[test]
fn an_empty_schema_has_never_sections_and_empty_constants() {
    let generated = typescript(&SchemaCache::default(), &["public".into()]);
    assert!(generated.starts_with("export type Json =\n  | string\n"));
    assert!(generated.contains(
        "  public: {\n    Tables: {\n      [_ in never]: never\n    }\n    Views: {\n      [_ in never]: never\n    }\n"
    ));
    assert!(
        generated.ends_with(
            "export const Constants = {\n  public: {\n    Enums: {},\n  },\n} as const\n"
        )
    );
}

#[test]
fn only_the_selected_schemas_are_printed_in_name_order() {
    let mut schema = fixture();
    schema.enums.insert(
        QualifiedName::new("billing", "currency"),
        vec!["eur".into(), "usd".into()],
    );
    let generated = typescript(&schema, &["public".into(), "billing".into()]);
    let billing = generated.find("  billing: {").unwrap();
    let public = generated.find("  public: {").unwrap();
    assert!(billing < public);
    assert!(generated.contains("      currency: \"eur\" | \"usd\"\n"));
    assert!(generated.contains(
        "  billing: {\n    Enums: {\n      currency: [\"eur\", \"usd\"],\n    },\n  },\n"
    ));
    let public_only = typescript(&schema, &["public".into()]);
    assert!(!public_only.contains("billing"));
}

#[test]
fn keys_sort_as_javascript_locale_compare_does() {
    let mut names = vec!["b", "a_b", "ab", "A", "a", "a1", "Z", "_x"];
    names.sort_by(|a, b| locale_cmp(a, b));
    assert_eq!(names, ["_x", "a", "A", "a_b", "a1", "ab", "b", "Z"]);
}

#[test]
fn property_names_that_are_not_identifiers_are_quoted() {
    assert_eq!(property_key("created_at"), "created_at");
    assert_eq!(property_key("$ref"), "$ref");
    assert_eq!(property_key("Display Name"), "\"Display Name\"");
    assert_eq!(property_key("2fa"), "\"2fa\"");
    assert_eq!(string_literal("say \"hi\""), "'say \"hi\"'");
}

fn migrated(sql: &str) -> SchemaCache {
    crate::migrate::build_schema(&[crate::migrate::Migration {
        version: "1".into(),
        name: "schema".into(),
        path: "1_schema.sql".into(),
        sql: sql.into(),
    }])
    .unwrap()
}

#[test]
fn names_resolve_as_postgres_meta_resolves_them() {
    let schema = migrated(
        "create schema personal;
         create type public.user_status as enum ('ONLINE', 'OFFLINE');
         create type personal.user_status as enum ('ONLINE', 'OFFLINE');
         create type public.mood as enum ('happy', 'sad');
         create table personal.users (username text primary key, status user_status, mood public.mood, span int4range);
         create function public.echo(text) returns text language sql as $$ select $1 $$;
         create function public.double(int) returns int language sql as $$ select $1 * 2 $$;
         create function public.touch() returns trigger language plpgsql as $$ begin return new; end $$;",
    );
    let personal = typescript(&schema, &["personal".into()]);
    // The enum of the generated schema wins a name found in several schemas.
    assert!(personal.contains(r#"status: Database["personal"]["Enums"]["user_status"] | null"#));
    // An enum of a schema not generated is spelled out.
    assert!(
        personal.contains(r#"mood: "happy" | "sad" | null"#),
        "{personal}"
    );
    // `unknown` already includes null.
    assert!(personal.contains("span: unknown\n"));
    let public = typescript(&schema, &["public".into()]);
    // An unnamed parameter is `""`; one PostgREST cannot bind leaves the function out, as do
    // trigger functions.
    assert!(
        public.contains(r#"echo: { Args: { "": string }; Returns: string }"#),
        "{public}"
    );
    assert!(!public.contains("double"));
    assert!(!public.contains("touch"));
}

#[test]
fn overloads_print_as_a_union_and_ambiguous_ones_return_the_pgrst203_error() {
    let mut schema = SchemaCache::default();
    for function in [
        function("lookup", vec![], FunctionReturn::Scalar(PgType::Integer)),
        function(
            "lookup",
            vec![argument("id", PgType::Text, None)],
            FunctionReturn::Scalar(PgType::Text),
        ),
        function(
            "lookup",
            vec![argument("id", PgType::BigInt, None)],
            FunctionReturn::Scalar(PgType::Text),
        ),
    ] {
        schema.put_function(function);
    }
    let generated = typescript(&schema, &["public".into()]);
    let error = "Could not choose the best candidate function between: public.lookup(id => int8), public.lookup(id => text). Try renaming the parameters or the function itself in the database so function overloading can be resolved";
    let expected = format!(
        r#"      lookup:
        | {{ Args: never; Returns: number }}
        | {{
            Args: {{ id: number }}
            Returns: {{
              error: true
            }} & "{error}"
          }}
        | {{
            Args: {{ id: string }}
            Returns: {{
              error: true
            }} & "{error}"
          }}
"#
    );
    assert!(generated.contains(&expected), "{generated}");
}
