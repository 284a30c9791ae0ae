//! Auth: who is calling. Verifies the `apikey` and `Authorization: Bearer` tokens (signed with a
//! key of `signing_keys_path` or HS256 with the project's secret, or the opaque
//! `sb_publishable_`/`sb_secret_` keys) into a `Caller`.

pub mod api;
pub mod caller;
mod disabled;
mod email;
pub mod error;
mod hashing;
pub mod inbox;
pub mod jwk;
pub mod keys;
pub mod limits;
pub mod mail;
mod mfa;
mod oauth;
mod pkce;
pub mod users;

pub use caller::{Caller, Role};
pub use keys::{KeyError, Keys};
