//! REST: `/rest/v1`, the PostgREST dialect.

pub mod request;
