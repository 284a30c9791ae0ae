//! Store: the embedded SQLite database (the default), or a PostgreSQL database (`postgres`).
//! On SQLite one writer connection on its own thread serializes every write; a pool of WAL
//! readers serves reads in parallel. Each job runs with a `Session`
//! (the caller's claims and the transaction's `now()`) that the SQL functions read, so
//! `auth.uid()` inside a default, check or policy sees the caller of that job and no other.

pub mod datetime;
pub mod functions;
pub mod geometry;
pub mod http;
pub mod naming;
pub mod numeric;
mod pool;
pub mod postgres;
pub mod range;
pub mod sequence;
pub mod settings;
pub mod text;
pub mod vector;

pub use functions::Session;
pub use pool::{Store, StoreError, Subject, WriteObserver};
