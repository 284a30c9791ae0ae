//! Naming: how Postgres names map onto one SQLite file. `public.todos` is the table `todos`;
//! any other schema's table keeps its qualified name as one identifier (`"auth.users"`), so
//! foreign keys to `auth.users` work (SQLite foreign keys cannot cross attached databases).

use crate::schema::QualifiedName;

/// The SQLite table name for a Postgres relation, unquoted.
pub fn table_name(name: &QualifiedName) -> String {
    if name.schema == "public" {
        name.name.clone()
    } else {
        format!("{}.{}", name.schema, name.name)
    }
}

/// The SQLite table name for a Postgres relation, quoted for use in SQL text.
pub fn table_ident(name: &QualifiedName) -> String {
    quote_ident(&table_name(name))
}

/// Quotes an identifier with double quotes, doubling any inside.
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Quotes a string literal with single quotes, doubling any inside.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_tables_keep_their_name_and_others_are_qualified() {
        assert_eq!(table_ident(&QualifiedName::public("todos")), r#""todos""#);
        assert_eq!(
            table_ident(&QualifiedName::new("auth", "users")),
            r#""auth.users""#
        );
        assert_eq!(quote_ident(r#"my "col""#), r#""my ""col""""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
