//! Migrate: translates the project's Postgres-dialect migrations into the SchemaCache and
//! the store's DDL.
