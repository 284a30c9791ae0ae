//! Token: a realtime token verified as Supabase Realtime verifies one (signature and `exp`, then
//! `role` and `exp` required), and its refusals in the words Realtime uses on the handshake, on a
//! join and on an `access_token` refresh.

use serde_json::Value;

use super::now_secs;
use crate::auth::{Caller, Keys};

const NOT_A_JWT: &str = "The token provided is not a valid JWT";
const BAD_SIGNATURE: &str = "Failed to validate JWT signature";
const NO_SIGNER: &str =
    "Failed to generate JWT signer, check your JWT secret or JWKS configuration";
const MISSING_CLAIMS: &str = "Fields `role` and `exp` are required in JWT";

/// Why Realtime refuses a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not three parts with a JSON object as payload (or an unknown opaque key).
    Malformed,
    /// Signed, but not by a key of the project.
    Signature,
    /// Signed with an algorithm no key of the project verifies.
    Signer,
    /// Expired this many seconds ago.
    Expired(i64),
    /// Verified, but without `role` or `exp`.
    MissingClaims,
}

impl Refusal {
    /// The `error` of the handshake's 401.
    pub fn handshake(&self) -> String {
        match self {
            Refusal::Malformed => NOT_A_JWT.to_owned(),
            Refusal::Signature => BAD_SIGNATURE.to_owned(),
            Refusal::Signer => NO_SIGNER.to_owned(),
            Refusal::Expired(_) => "Token has expired".to_owned(),
            Refusal::MissingClaims => MISSING_CLAIMS.to_owned(),
        }
    }

    /// A refused join's `reason`: Realtime's error code, then its message.
    pub fn join(&self) -> String {
        match self {
            Refusal::Malformed => format!("MalformedJWT: {NOT_A_JWT}"),
            Refusal::Signature => format!("JwtSignatureError: {BAD_SIGNATURE}"),
            Refusal::Signer => format!("JwtSignerError: {NO_SIGNER}"),
            Refusal::Expired(_) | Refusal::MissingClaims => {
                format!("InvalidJWTToken: {}", self.refresh())
            }
        }
    }

    /// The `system` message that closes a channel refreshed with this token. Realtime prints a
    /// signature or signer failure there as the Elixir term it got (`inspect(error)`).
    pub fn refresh(&self) -> String {
        match self {
            Refusal::Malformed => NOT_A_JWT.to_owned(),
            Refusal::Signature => ":signature_error".to_owned(),
            Refusal::Signer => ":error_generating_signer".to_owned(),
            Refusal::Expired(ago) => format!("Token has expired {ago} seconds ago"),
            Refusal::MissingClaims => MISSING_CLAIMS.to_owned(),
        }
    }
}

/// Verifies a handshake `apikey`, a join's token or a refreshed `access_token`: an opaque `sb_`
/// key stands for its role; a JWT must be the project's, unexpired, with `role` and `exp`.
pub(crate) fn verify(keys: &Keys, token: &str) -> Result<Caller, Refusal> {
    if token.starts_with("sb_") {
        return keys.socket_caller(token).map_err(|_| Refusal::Malformed);
    }
    let claims = payload(token).ok_or(Refusal::Malformed)?;
    let caller = keys
        .token_caller(token)
        .map_err(|refusal| match refusal.message.as_str() {
            "JWT expired" => Refusal::Expired(
                claims
                    .get("exp")
                    .and_then(Value::as_i64)
                    .map_or(0, |exp| now_secs() - exp),
            ),
            "JWT cryptographic operation failed" => Refusal::Signature,
            "Wrong or unsupported encoding algorithm" => Refusal::Signer,
            _ => Refusal::Malformed,
        })?;
    // `token_caller` fills in a missing role; Realtime requires the claim itself.
    if claims.get("role").is_none() || expiry(&caller).is_none() {
        return Err(Refusal::MissingClaims);
    }
    Ok(caller)
}

/// The token's `exp` (seconds since the epoch), if it has one.
pub(crate) fn expiry(caller: &Caller) -> Option<i64> {
    caller.claims.get("exp").and_then(Value::as_i64)
}

/// A JWT's payload as the token carries it, signature unchecked: `None` unless it has three
/// parts and a JSON object in the middle.
fn payload(token: &str) -> Option<Value> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok().filter(Value::is_object)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::auth::Role;

    #[test]
    fn a_payload_is_read_from_three_parts_only() {
        let token = "e30.eyJleHAiOjQyLCJyb2xlIjoiYW5vbiJ9.sig";
        assert_eq!(payload(token), Some(json!({"exp": 42, "role": "anon"})));
        assert_eq!(payload("not.a.jwt"), None);
        assert_eq!(payload("e30.eyJleHAiOjQyLCJyb2xlIjoiYW5vbiJ9"), None);
        // `[1]` is JSON, but not the claims map Realtime expects.
        assert_eq!(payload("e30.WzFd.sig"), None);
    }

    #[test]
    fn expiry_reads_the_exp_claim() {
        let caller = Caller {
            role: Role::Authenticated,
            claims: Arc::new(json!({"exp": 42})),
        };
        assert_eq!(expiry(&caller), Some(42));
    }

    #[test]
    fn each_refusal_speaks_as_realtime_does_where_it_happens() {
        assert_eq!(
            Refusal::Malformed.join(),
            "MalformedJWT: The token provided is not a valid JWT"
        );
        assert_eq!(
            Refusal::Expired(7).join(),
            "InvalidJWTToken: Token has expired 7 seconds ago"
        );
        assert_eq!(Refusal::Expired(7).handshake(), "Token has expired");
        assert_eq!(Refusal::Signature.refresh(), ":signature_error");
        assert_eq!(
            Refusal::Signature.join(),
            "JwtSignatureError: Failed to validate JWT signature"
        );
    }
}
