//! Storage: Supabase Storage's `storage` schema (`schema.sql`, translated at bootstrap) and its
//! SQL helpers (`functions`).

pub mod functions;
