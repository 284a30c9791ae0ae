//! Extensions: `create|drop extension` of the extensions Solobase implements (pgsql-http's
//! `http`, a subset of `postgis`) install and remove them in the `SchemaCache`, in the schema
//! `with schema` names, as Postgres records them; their types and functions exist only while
//! installed (`http`, `postgis`). Any other extension is `postgres_only`'s.

use sqlparser::ast::{ObjectName, Statement};

use super::expression::{ident_name, name_parts};
use super::translate::Refusal;
use crate::schema::{PgType, PrintedType, SchemaCache};

/// The extensions Solobase implements.
const IMPLEMENTED: [&str; 2] = ["http", super::postgis::EXTENSION];

/// The bare name `name` gives an object of the installed `extension`: unqualified, or
/// qualified by the extension's schema.
pub fn own_name(cache: &SchemaCache, extension: &str, name: &ObjectName) -> Option<String> {
    let schema = cache.extensions.get(extension)?;
    match name_parts(name).as_slice() {
        [bare] => Some(bare.clone()),
        [qualifier, bare] if qualifier == schema => Some(bare.clone()),
        _ => None,
    }
}

/// A column of a type of `extension`, which keeps it from being dropped.
fn dependent(cache: &SchemaCache, extension: &str) -> Option<String> {
    if extension != super::postgis::EXTENSION {
        return None;
    }
    cache.tables.values().find_map(|table| {
        table
            .columns
            .iter()
            .find(|column| matches!(column.pg_type, PgType::Printed(PrintedType::Geometry(_))))
            .map(|column| format!("column {} of table {}", column.name, table.name.name))
    })
}

/// Applies `text` when it creates or drops an implemented extension; `None` for anything else.
pub fn apply(cache: &mut SchemaCache, text: &str) -> Option<Result<(), Refusal>> {
    let lowered = text.trim_start().to_ascii_lowercase();
    let mut words = lowered.split_whitespace();
    if !matches!(words.next(), Some("create" | "drop")) || words.next() != Some("extension") {
        return None;
    }
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    let statement = sqlparser::parser::Parser::parse_sql(&dialect, text)
        .ok()?
        .into_iter()
        .next()?;
    match statement {
        Statement::CreateExtension(create) => {
            let name = ident_name(&create.name);
            if !IMPLEMENTED.contains(&name.as_str()) {
                return None;
            }
            if cache.extensions.contains_key(&name) {
                return Some(if create.if_not_exists {
                    Ok(())
                } else {
                    Err(Refusal::new(format!("extension \"{name}\" already exists")))
                });
            }
            // Without `with schema`, the first schema of Supabase's search_path.
            let schema = create
                .schema
                .as_ref()
                .map_or_else(|| "public".to_owned(), ident_name);
            cache.extensions.insert(name, schema);
            Some(Ok(()))
        }
        Statement::DropExtension(drop) => {
            let names: Vec<String> = drop.names.iter().map(ident_name).collect();
            if !names
                .iter()
                .any(|name| IMPLEMENTED.contains(&name.as_str()))
            {
                return None;
            }
            for name in names {
                if let Some(column) = dependent(cache, &name) {
                    return Some(Err(Refusal::new(format!(
                        "cannot drop extension {name} because other objects depend on it"
                    ))
                    .hint(format!("{column} depends on type geometry: drop it first (drop … cascade is not supported)"))));
                }
                if cache.extensions.remove(&name).is_none() && !drop.if_exists {
                    return Some(Err(Refusal::new(format!(
                        "extension \"{name}\" does not exist"
                    ))));
                }
            }
            Some(Ok(()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_is_installed_in_its_schema_and_removed_again() {
        let mut cache = SchemaCache::default();
        assert!(
            apply(&mut cache, "create extension http with schema extensions")
                .unwrap()
                .is_ok()
        );
        assert_eq!(cache.extensions["http"], "extensions");
        let again = apply(&mut cache, "create extension http").unwrap();
        assert_eq!(
            again.unwrap_err().reason,
            "extension \"http\" already exists"
        );
        assert!(
            apply(&mut cache, "create extension if not exists http")
                .unwrap()
                .is_ok()
        );
        assert!(
            apply(&mut cache, "drop extension http cascade")
                .unwrap()
                .is_ok()
        );
        assert!(cache.extensions.is_empty());
        let missing = apply(&mut cache, "drop extension http").unwrap();
        assert_eq!(
            missing.unwrap_err().reason,
            "extension \"http\" does not exist"
        );
        assert!(
            apply(&mut cache, "drop extension if exists http")
                .unwrap()
                .is_ok()
        );
        assert!(
            apply(&mut cache, "CREATE EXTENSION \"http\"")
                .unwrap()
                .is_ok()
        );
        assert_eq!(cache.extensions["http"], "public");
    }

    #[test]
    fn other_extensions_are_left_to_postgres_only() {
        let mut cache = SchemaCache::default();
        assert!(apply(&mut cache, "create extension if not exists pg_trgm").is_none());
        assert!(apply(&mut cache, "drop extension vector").is_none());
        assert!(apply(&mut cache, "create table http (id int)").is_none());
        assert!(cache.extensions.is_empty());
    }
}
