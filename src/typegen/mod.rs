//! Typegen: the `SchemaCache` as the TypeScript `supabase gen types typescript --local` prints —
//! the `Database` type (`Tables` with `Row`/`Insert`/`Update`/`Relationships`, `Views`,
//! `Functions`, `Enums`, `CompositeTypes` per schema), the `Tables<>`/`TablesInsert<>`/
//! `TablesUpdate<>`/`Enums<>`/`CompositeTypes<>` helpers and the `Constants` export, with
//! postgres-meta's type mapping, ordering and Prettier layout, so `createClient<Database>()`
//! type-checks an app's queries exactly as it does against Supabase.

mod doc;
mod view;

use std::cmp::Ordering;

use doc::{Doc, broken_group, concat, group, if_break, indent, join, text};

use crate::schema::relationships::{Relationship, relationships};
use crate::schema::{
    Column, Function, FunctionReturn, PgType, QualifiedName, SchemaCache, Table, TableKind,
};

/// The PostgREST version the local Supabase stack reports; `createClient` reads it from the type.
pub const POSTGREST_VERSION: &str = "14.1";

/// The TypeScript for the given schemas (Supabase's default is `public`).
pub fn typescript(schema: &SchemaCache, schemas: &[String]) -> String {
    let mut names: Vec<&String> = schemas.iter().collect();
    names.sort_by(|a, b| locale_cmp(a, b));
    names.dedup();
    let relationships = relationships(schema);
    let generator = |current: &'_ str| Generator {
        schema,
        relationships: &relationships,
        schemas: &names,
        current: current.to_owned(),
    };
    let database = object_type(
        std::iter::once(comment_lines())
            .chain(std::iter::once(member(
                "__InternalSupabase",
                false,
                object_type(
                    vec![member(
                        "PostgrestVersion",
                        false,
                        text(string_literal(POSTGREST_VERSION)),
                    )],
                    true,
                ),
            )))
            .chain(
                names
                    .iter()
                    .map(|name| member(name, false, generator(name).schema_type(name))),
            )
            .collect(),
        true,
    );
    let constants = js_object(
        names
            .iter()
            .map(|name| js_member(name, generator(name).schema_constants(name)))
            .collect(),
        true,
    );
    let mut out = String::from(JSON_TYPE);
    out.push_str("\n\n");
    out.push_str(&doc::print(&concat([
        text("export type Database = "),
        database,
    ])));
    out.push_str("\n\n");
    out.push_str(HELPER_TYPES);
    out.push('\n');
    out.push_str(&doc::print(&concat([
        text("export const Constants = "),
        constants,
        text(" as const"),
    ])));
    out.push('\n');
    out
}

const JSON_TYPE: &str = "export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]";

/// The comment the Supabase CLI puts above `__InternalSupabase`.
fn comment_lines() -> Doc {
    concat([
        text("// Allows to automatically instantiate createClient with right options"),
        Doc::HardLine,
        text("// instead of createClient<Database, { PostgrestVersion: 'XX' }>(URL, KEY)"),
    ])
}

const HELPER_TYPES: &str = r#"type DatabaseWithoutInternals = Omit<Database, "__InternalSupabase">

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, "public">]

export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends {
      Row: infer R
    }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] &
        DefaultSchema["Views"])
    ? (DefaultSchema["Tables"] &
        DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends {
        Row: infer R
      }
      ? R
      : never
    : never

export type TablesInsert<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Insert: infer I
    }
    ? I
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Insert: infer I
      }
      ? I
      : never
    : never

export type TablesUpdate<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Update: infer U
    }
    ? U
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Update: infer U
      }
      ? U
      : never
    : never

export type Enums<
  DefaultSchemaEnumNameOrOptions extends
    | keyof DefaultSchema["Enums"]
    | { schema: keyof DatabaseWithoutInternals },
  EnumName extends DefaultSchemaEnumNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never = never,
> = DefaultSchemaEnumNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
    : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends PublicCompositeTypeNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never = never,
> = PublicCompositeTypeNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
    : never
"#;

struct Generator<'a> {
    schema: &'a SchemaCache,
    relationships: &'a [Relationship],
    /// The schemas being generated.
    schemas: &'a [&'a String],
    /// The schema whose section is being generated: postgres-meta resolves a type name it finds
    /// in several schemas to this one's.
    current: String,
}

impl Generator<'_> {
    /// `{ Tables, Views, Functions, Enums, CompositeTypes }` of one schema.
    fn schema_type(&self, name: &str) -> Doc {
        let mut tables: Vec<&Table> = self.relations(name, false);
        tables.sort_by(|a, b| locale_cmp(&a.name.name, &b.name.name));
        let mut views: Vec<&Table> = self.relations(name, true);
        views.sort_by(|a, b| locale_cmp(&a.name.name, &b.name.name));
        let mut functions: Vec<Vec<&Function>> = self
            .schema
            .functions
            .iter()
            .filter(|(function, _)| function.schema == name)
            .map(|(_, overloads)| {
                let mut listed: Vec<&Function> =
                    overloads.iter().filter(|f| is_listed(f)).collect();
                // postgres-meta's order: by the arguments' names and types.
                listed.sort_by_cached_key(|function| {
                    let mut arguments: Vec<String> = function
                        .arguments
                        .iter()
                        .map(|argument| {
                            format!(
                                "{}: {}",
                                argument_name(&argument.name),
                                self.ts_type(&argument.pg_type)
                            )
                        })
                        .collect();
                    arguments.sort();
                    arguments.join(", ")
                });
                listed
            })
            .filter(|overloads| !overloads.is_empty())
            .collect();
        functions.sort_by(|a, b| locale_cmp(&a[0].name.name, &b[0].name.name));
        let mut enums: Vec<(&QualifiedName, &Vec<String>)> = self
            .schema
            .enums
            .iter()
            .filter(|(enum_name, _)| enum_name.schema == name)
            .collect();
        enums.sort_by(|a, b| locale_cmp(&a.0.name, &b.0.name));
        object_type(
            vec![
                member(
                    "Tables",
                    false,
                    section(tables.iter().map(|table| self.table_type(table)).collect()),
                ),
                member(
                    "Views",
                    false,
                    section(views.iter().map(|view| self.view_type(view)).collect()),
                ),
                member(
                    "Functions",
                    false,
                    section(
                        functions
                            .iter()
                            .map(|overloads| self.function_type(overloads))
                            .collect(),
                    ),
                ),
                member(
                    "Enums",
                    false,
                    section(
                        enums
                            .iter()
                            .map(|(enum_name, labels)| {
                                member(
                                    &enum_name.name,
                                    false,
                                    union(labels.iter().map(|label| string_literal(label))),
                                )
                            })
                            .collect(),
                    ),
                ),
                member("CompositeTypes", false, section(Vec::new())),
            ],
            true,
        )
    }

    /// `{ Enums: { name: [labels] } }` of one schema, for `Constants`.
    fn schema_constants(&self, name: &str) -> Doc {
        let mut enums: Vec<(&QualifiedName, &Vec<String>)> = self
            .schema
            .enums
            .iter()
            .filter(|(enum_name, _)| enum_name.schema == name)
            .collect();
        enums.sort_by(|a, b| locale_cmp(&a.0.name, &b.0.name));
        js_object(
            vec![js_member(
                "Enums",
                js_object(
                    enums
                        .iter()
                        .map(|(enum_name, labels)| {
                            js_member(
                                &enum_name.name,
                                array(labels.iter().map(|label| text(string_literal(label)))),
                            )
                        })
                        .collect(),
                    true,
                ),
            )],
            true,
        )
    }

    fn relations(&self, schema: &str, views: bool) -> Vec<&Table> {
        self.schema
            .tables
            .values()
            .filter(|table| {
                table.name.schema == schema && matches!(table.kind, TableKind::View { .. }) == views
            })
            .collect()
    }

    fn table_type(&self, table: &Table) -> Doc {
        let columns = sorted_columns(table);
        let mut row: Vec<Doc> = columns
            .iter()
            .map(|column| {
                member(
                    &column.name,
                    false,
                    self.column_type(column, column.nullable),
                )
            })
            .collect();
        row.extend(self.computed_fields(table));
        let insert = columns
            .iter()
            .map(|column| {
                member(
                    &column.name,
                    column.optional_on_insert(),
                    self.column_type(column, column.nullable),
                )
            })
            .collect();
        let update = columns
            .iter()
            .map(|column| {
                member(
                    &column.name,
                    true,
                    self.column_type(column, column.nullable),
                )
            })
            .collect();
        member(
            &table.name.name,
            false,
            object_type(
                vec![
                    member("Row", false, object_type(row, true)),
                    member("Insert", false, object_type(insert, true)),
                    member("Update", false, object_type(update, true)),
                    member("Relationships", false, self.relationships(table)),
                ],
                true,
            ),
        )
    }

    /// A view: every column nullable (Postgres cannot tell otherwise); `Insert` and `Update`
    /// when Postgres would find the view automatically updatable.
    fn view_type(&self, view: &Table) -> Doc {
        let columns = sorted_columns(view);
        let mut row: Vec<Doc> = columns
            .iter()
            .map(|column| member(&column.name, false, self.column_type(column, true)))
            .collect();
        row.extend(self.computed_fields(view));
        let mut members = vec![member("Row", false, object_type(row, true))];
        if let TableKind::View { definition, .. } = &view.kind
            && let Some(updatable) = view::updatable_columns(definition)
        {
            let writable = |column: &Column| {
                if updatable.is_updatable(&column.name) {
                    member(&column.name, true, self.column_type(column, true))
                } else {
                    member(&column.name, true, text("never"))
                }
            };
            members.push(member(
                "Insert",
                false,
                object_type(
                    columns.iter().map(|column| writable(column)).collect(),
                    true,
                ),
            ));
            members.push(member(
                "Update",
                false,
                object_type(
                    columns.iter().map(|column| writable(column)).collect(),
                    true,
                ),
            ));
        }
        members.push(member("Relationships", false, self.relationships(view)));
        member(&view.name.name, false, object_type(members, true))
    }

    /// The relationships `table` holds within its own schema (PostgREST detects none across
    /// schemas, so neither does Supabase's typegen), in postgres-meta's order.
    fn relationships(&self, table: &Table) -> Doc {
        let mut keys: Vec<&Relationship> = self
            .relationships
            .iter()
            .filter(|key| {
                key.relation == table.name && key.referenced_relation.schema == table.name.schema
            })
            .collect();
        keys.sort_by(|a, b| {
            locale_cmp(&a.foreign_key_name, &b.foreign_key_name)
                .then_with(|| locale_cmp(&a.referenced_relation.name, &b.referenced_relation.name))
                .then_with(|| {
                    locale_cmp(
                        &string_array(&a.referenced_columns),
                        &string_array(&b.referenced_columns),
                    )
                })
        });
        array(keys.into_iter().map(|key| {
            object_type(
                vec![
                    member(
                        "foreignKeyName",
                        false,
                        text(string_literal(&key.foreign_key_name)),
                    ),
                    member("columns", false, string_tuple(&key.columns)),
                    member("isOneToOne", false, text(key.is_one_to_one.to_string())),
                    member(
                        "referencedRelation",
                        false,
                        text(string_literal(&key.referenced_relation.name)),
                    ),
                    member(
                        "referencedColumns",
                        false,
                        string_tuple(&key.referenced_columns),
                    ),
                ],
                true,
            )
        }))
    }

    /// A function's entry: its overload's `{ Args, Returns }`, or the union of its overloads';
    /// an overload that a call with exactly its arguments cannot pick (PGRST203) returns
    /// postgres-meta's error type instead.
    fn function_type(&self, overloads: &[&Function]) -> Doc {
        let offered: Vec<&Function> = self
            .schema
            .overloads(&overloads[0].name)
            .iter()
            .filter(crate::rest::plan::callable)
            .collect();
        let signatures: Vec<Doc> = overloads
            .iter()
            .map(|function| {
                let keys = function
                    .arguments
                    .iter()
                    .map(crate::rest::plan::rest_name)
                    .collect();
                match crate::rest::plan::matching(&offered, &keys).as_slice() {
                    candidates @ [_, _, ..] => {
                        let error = format!(
                            "{}. {}",
                            crate::rest::plan::ambiguity(candidates, PgType::typname),
                            crate::rest::plan::AMBIGUITY_HINT
                        );
                        self.signature_type(function, Some(&error))
                    }
                    _ => self.signature_type(function, None),
                }
            })
            .collect();
        let value = match <[Doc; 1]>::try_from(signatures) {
            Ok([one]) => one,
            Err(several) => group(indent(concat([
                Doc::SoftLine,
                if_break(text("| "), text("")),
                // A broken member's lines align after its `| `, as Prettier prints them.
                join(
                    &concat([Doc::Line, text("| ")]),
                    several.into_iter().map(indent),
                ),
            ]))),
        };
        member(&overloads[0].name.name, false, value)
    }

    /// `{ Args, Returns }` of one overload; `ambiguous` replaces its result with the error.
    fn signature_type(&self, function: &Function, ambiguous: Option<&str>) -> Doc {
        let mut arguments: Vec<_> = function.arguments.iter().collect();
        arguments.sort_by(|a, b| locale_cmp(&a.name, &b.name));
        let args = if arguments.is_empty() {
            text("never")
        } else {
            object_type(
                arguments
                    .iter()
                    .map(|argument| {
                        member(
                            argument_name(&argument.name),
                            argument.default.is_some(),
                            text(self.argument_type(argument)),
                        )
                    })
                    .collect(),
                false,
            )
        };
        let mut members = vec![member("Args", false, args)];
        // A computed field (one unnamed row argument) is no RPC unless it returns rows.
        let computed_field = (computed_field_of(function).is_some()
            && !matches!(function.returns, FunctionReturn::Rows { .. }))
        .then(|| {
            format!(
                "the function {}.{} with parameter or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache",
                function.name.schema, function.name.name
            )
        });
        if let Some(error) = ambiguous.map(str::to_owned).or(computed_field) {
            let flag = object_type(vec![member("error", false, text("true"))], true);
            let returns = concat([flag, text(" & "), text(string_literal(&error))]);
            members.push(member("Returns", false, returns));
            return object_type(members, false);
        }
        match &function.returns {
            FunctionReturn::Void => members.push(member("Returns", false, text("undefined"))),
            FunctionReturn::Trigger => unreachable!("trigger functions are not listed"),
            FunctionReturn::Scalar(pg_type) => {
                members.push(member("Returns", false, text(self.ts_type(pg_type))));
            }
            FunctionReturn::SetOf(pg_type) => {
                let returns = format!("{}[]", self.ts_type(pg_type));
                members.push(member("Returns", false, text(returns)));
            }
            FunctionReturn::Record(columns) if columns.len() == 1 => {
                members.push(member("Returns", false, text(self.ts_type(&columns[0].1))));
            }
            FunctionReturn::Table(columns) | FunctionReturn::Record(columns) => {
                let set = matches!(function.returns, FunctionReturn::Table(_));
                let mut columns: Vec<_> = columns.iter().collect();
                columns.sort_by(|a, b| locale_cmp(&a.0, &b.0));
                let row = object_type(
                    columns
                        .iter()
                        .map(|(name, pg_type)| member(name, false, text(self.ts_type(pg_type))))
                        .collect(),
                    true,
                );
                let returns = if set { concat([row, text("[]")]) } else { row };
                members.push(member("Returns", false, returns));
            }
            FunctionReturn::Rows { table, set } => match self.schema.table(table) {
                Some(relation) => {
                    let nullable = matches!(relation.kind, TableKind::View { .. });
                    let row = object_type(
                        sorted_columns(relation)
                            .iter()
                            .map(|column| {
                                member(
                                    &column.name,
                                    false,
                                    self.column_type(column, nullable || column.nullable),
                                )
                            })
                            .collect(),
                        true,
                    );
                    // postgres-meta's `prorows > 1`: Postgres estimates 1000 rows for a set.
                    let many = function.rows.unwrap_or(if *set { 1000 } else { 0 }) > 1;
                    let returns = if *set && many {
                        concat([row, text("[]")])
                    } else {
                        row
                    };
                    members.push(member("Returns", false, returns));
                    // From a row of the only argument's relation (an embedded function), or
                    // from anywhere.
                    let from = match function.arguments.as_slice() {
                        [only] => only.row.as_ref().map(|source| source.name.as_str()),
                        _ => None,
                    };
                    let (one, set) = match from {
                        Some(_) if !set => (true, false),
                        Some(_) => (!many, true),
                        None => (!many, *set),
                    };
                    members.push(member(
                        "SetofOptions",
                        false,
                        object_type(
                            vec![
                                member("from", false, text(string_literal(from.unwrap_or("*")))),
                                member("to", false, text(string_literal(&table.name))),
                                member("isOneToOne", false, text(one.to_string())),
                                member("isSetofReturn", false, text(set.to_string())),
                            ],
                            true,
                        ),
                    ));
                }
                None => members.push(member("Returns", false, text("unknown"))),
            },
        }
        object_type(members, false)
    }

    /// An argument's type: a row of a generated relation is that relation's `Row`.
    fn argument_type(&self, argument: &crate::schema::FunctionArgument) -> String {
        let Some(relation) = &argument.row else {
            return self.ts_type(&argument.pg_type);
        };
        match self.schema.table(relation) {
            Some(table)
                if self
                    .schemas
                    .iter()
                    .any(|schema| **schema == relation.schema) =>
            {
                let kind = match table.kind {
                    TableKind::View { .. } => "Views",
                    _ => "Tables",
                };
                format!(
                    "Database[{}][\"{kind}\"][{}][\"Row\"]",
                    string_literal(&relation.schema),
                    string_literal(&relation.name)
                )
            }
            _ => "unknown".into(),
        }
    }

    /// The computed fields of `relation`: `name: T | null` of each function whose one unnamed
    /// argument is its row, as postgres-meta appends them to `Row`.
    fn computed_fields(&self, relation: &Table) -> Vec<Doc> {
        let mut fields: Vec<&Function> = self
            .schema
            .all_functions()
            .filter(|function| {
                function.name.schema == relation.name.schema
                    && is_listed(function)
                    && computed_field_of(function) == Some(&relation.name)
            })
            .collect();
        fields.sort_by(|a, b| locale_cmp(&a.name.name, &b.name.name));
        fields
            .into_iter()
            .map(|function| {
                let returns = match &function.returns {
                    FunctionReturn::Scalar(pg_type) => self.ts_type(pg_type),
                    _ => "unknown".into(),
                };
                let doc = match returns.as_str() {
                    "unknown" => text(returns),
                    _ => union([returns, "null".to_owned()]),
                };
                member(&function.name.name, false, doc)
            })
            .collect()
    }

    /// A column's type, `T | null` when it may be null.
    fn column_type(&self, column: &Column, nullable: bool) -> Doc {
        let ts = self.ts_type(&column.pg_type);
        // `unknown` already includes null.
        if nullable && ts != "unknown" {
            union([ts, "null".to_owned()])
        } else {
            text(ts)
        }
    }

    /// An enum by its name, as postgres-meta finds it: the generated schema's enum of that name
    /// first; a reference into the `Database` type when its schema is generated, else its labels.
    fn enum_type(&self, name: &QualifiedName) -> String {
        let same_name = |schema: &str| {
            let candidate = QualifiedName::new(schema, name.name.clone());
            self.schema.enums.get_key_value(&candidate)
        };
        let Some((found, labels)) = same_name(&self.current).or_else(|| same_name(&name.schema))
        else {
            return "unknown".into();
        };
        if self.schemas.iter().any(|schema| **schema == found.schema) {
            format!(
                "Database[{}][\"Enums\"][{}]",
                string_literal(&found.schema),
                string_literal(&found.name)
            )
        } else {
            labels
                .iter()
                .map(|label| string_literal(label))
                .collect::<Vec<_>>()
                .join(" | ")
        }
    }

    /// postgres-meta's `pgTypeToTsType`.
    fn ts_type(&self, pg_type: &PgType) -> String {
        match pg_type {
            PgType::Boolean => "boolean".into(),
            PgType::SmallInt
            | PgType::Integer
            | PgType::BigInt
            | PgType::Numeric
            | PgType::Decimal { .. }
            | PgType::Real
            | PgType::Double => "number".into(),
            PgType::Uuid
            | PgType::Text
            | PgType::Varchar(_)
            | PgType::Char(_)
            | PgType::Date
            | PgType::Time
            | PgType::Timestamp
            | PgType::Timestamptz
            | PgType::Interval
            | PgType::Bytea => "string".into(),
            PgType::Json | PgType::Jsonb => "Json".into(),
            PgType::Array(element) => format!("{}[]", self.ts_type(element)),
            PgType::Enum(name) => self.enum_type(name),
            // As `supabase gen types` maps them: pgvector's text is a string, the rest unknown.
            PgType::Printed(crate::schema::PrintedType::Vector(_)) => "string".into(),
            PgType::Printed(_) => "unknown".into(),
        }
    }
}

/// Whether postgres-meta lists the function: never a trigger function; one whose unnamed
/// parameters PostgREST cannot bind (a single unnamed `json`, `jsonb` or `text`, or unnamed
/// parameters that all have defaults) only when PostgREST could call it.
fn is_listed(function: &Function) -> bool {
    if matches!(function.returns, FunctionReturn::Trigger) {
        return false;
    }
    let unnamed =
        |argument: &&crate::schema::FunctionArgument| argument_name(&argument.name).is_empty();
    let bindable =
        |pg_type: &PgType| matches!(pg_type, PgType::Json | PgType::Jsonb | PgType::Text);
    !function.arguments.iter().any(|argument| unnamed(&argument))
        || function
            .arguments
            .iter()
            .filter(unnamed)
            .all(|argument| argument.default.is_some() && bindable(&argument.pg_type))
        || matches!(function.arguments.as_slice(), [only] if bindable(&only.pg_type) || only.row.is_some())
}

/// The relation whose computed field `function` is: its one argument is an unnamed row of it.
fn computed_field_of(function: &Function) -> Option<&QualifiedName> {
    match function.arguments.as_slice() {
        [only] if argument_name(&only.name).is_empty() => only.row.as_ref(),
        _ => None,
    }
}

/// A parameter's name as Postgres reports it: empty for an unnamed one (`$1` here).
fn argument_name(name: &str) -> &str {
    if name.starts_with('$') { "" } else { name }
}

/// Columns in postgres-meta's order: by name.
fn sorted_columns(table: &Table) -> Vec<&Column> {
    let mut columns: Vec<&Column> = table.columns.iter().collect();
    columns.sort_by(|a, b| locale_cmp(&a.name, &b.name));
    columns
}

/// `JSON.stringify` of a string array, as postgres-meta sorts relationships by it.
fn string_array(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

/// `{ [_ in never]: never }` for an empty section.
fn section(members: Vec<Doc>) -> Doc {
    if members.is_empty() {
        object_type(vec![text("[_ in never]: never")], true)
    } else {
        object_type(members, true)
    }
}

/// A TypeScript object type: `{ a: T; b: U }` when it fits, one member a line otherwise.
fn object_type(members: Vec<Doc>, broken: bool) -> Doc {
    if members.is_empty() {
        return text("{}");
    }
    let separator = concat([if_break(text(""), text(";")), Doc::Line]);
    let contents = concat([
        text("{"),
        indent(concat([Doc::Line, join(&separator, members)])),
        Doc::Line,
        text("}"),
    ]);
    if broken {
        broken_group(contents)
    } else {
        group(contents)
    }
}

/// A property signature `key: T` or `key?: T`.
fn member(key: &str, optional: bool, value: Doc) -> Doc {
    concat([
        text(property_key(key)),
        text(if optional { "?: " } else { ": " }),
        value,
    ])
}

/// A union type: inline when it fits, else one `| member` a line, indented under its key.
fn union(members: impl IntoIterator<Item = String>) -> Doc {
    let members: Vec<String> = members.into_iter().collect();
    if members.len() == 1 {
        return text(members[0].clone());
    }
    group(indent(concat([
        Doc::SoftLine,
        if_break(text("| "), text("")),
        join(
            &concat([Doc::Line, text("| ")]),
            members.into_iter().map(text),
        ),
    ])))
}

/// An array literal or tuple type: inline when it fits, else one element a line with a
/// trailing comma.
fn array(elements: impl IntoIterator<Item = Doc>) -> Doc {
    let elements: Vec<Doc> = elements.into_iter().collect();
    if elements.is_empty() {
        return text("[]");
    }
    group(concat([
        text("["),
        indent(concat([
            Doc::SoftLine,
            join(&concat([text(","), Doc::Line]), elements),
        ])),
        if_break(text(","), text("")),
        Doc::SoftLine,
        text("]"),
    ]))
}

fn string_tuple(items: &[String]) -> Doc {
    array(items.iter().map(|item| text(string_literal(item))))
}

/// A JavaScript object literal with trailing commas when broken.
fn js_object(members: Vec<Doc>, broken: bool) -> Doc {
    if members.is_empty() {
        return text("{}");
    }
    let contents = concat([
        text("{"),
        indent(concat([
            Doc::Line,
            join(&concat([text(","), Doc::Line]), members),
        ])),
        if_break(text(","), text("")),
        Doc::Line,
        text("}"),
    ]);
    if broken {
        broken_group(contents)
    } else {
        group(contents)
    }
}

fn js_member(key: &str, value: Doc) -> Doc {
    concat([text(property_key(key)), text(": "), value])
}

/// A property name as Prettier prints it: bare when it is an identifier name, quoted otherwise.
fn property_key(key: &str) -> String {
    if key.starts_with('[') || is_identifier_name(key) {
        key.to_owned()
    } else {
        string_literal(key)
    }
}

fn is_identifier_name(name: &str) -> bool {
    let mut chars = name.chars();
    let start = |c: char| c == '$' || c == '_' || c.is_alphabetic();
    chars.next().is_some_and(start) && chars.all(|c| start(c) || c.is_alphanumeric())
}

/// A string literal as Prettier prints it: double quotes unless the text holds more of them
/// than single quotes.
fn string_literal(value: &str) -> String {
    let doubles = value.matches('"').count();
    let singles = value.matches('\'').count();
    let quote = if doubles > singles { '\'' } else { '"' };
    let mut out = String::with_capacity(value.len() + 2);
    out.push(quote);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `String.prototype.localeCompare` as Node's ICU root collation orders identifiers:
/// punctuation before digits before letters, letters case-insensitively first, then lowercase
/// before uppercase.
pub fn locale_cmp(a: &str, b: &str) -> Ordering {
    const PUNCTUATION: &str = "\t\n\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$";
    let primary = |c: char| -> u32 {
        if let Some(index) = PUNCTUATION.find(c) {
            index as u32
        } else if c.is_ascii_digit() {
            100 + c as u32
        } else if c.is_ascii_alphabetic() {
            200 + c.to_ascii_lowercase() as u32
        } else {
            1000 + c as u32
        }
    };
    let tertiary = |c: char| u8::from(c.is_uppercase());
    a.chars()
        .map(primary)
        .cmp(b.chars().map(primary))
        .then_with(|| a.chars().map(tertiary).cmp(b.chars().map(tertiary)))
        .then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests;
