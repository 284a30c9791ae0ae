//! REST: `/rest/v1`, the PostgREST dialect.

pub mod error;
pub mod request;
