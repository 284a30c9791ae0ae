//! Migrate: translates the project's Postgres-dialect migrations into the `SchemaCache` and
//! SQLite DDL, applies pending files in order (each in one transaction) and the seed once.

mod apply;
mod builtins;
pub mod catalog;
mod evolve;
pub mod expression;
mod extensions;
mod grants;
pub mod http;
mod partitions;
pub mod postgis;
mod postgres_only;
pub mod printed;
pub mod ranges;
pub mod rows;
pub mod sequences;
pub mod statements;
mod temporal;
mod translate;
mod typed;
pub mod values;

pub use apply::{
    Applied, Migration, MigrationError, apply_pending, build_schema, discover, display_path,
    load_schema,
};
pub use translate::{affinity, named_type, normalize_insert_values, pg_type};
