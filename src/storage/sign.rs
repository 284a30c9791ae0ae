//! Sign: the tokens of signed URLs — HS256 JWTs with the project's secret, bound to one
//! `bucket/name` and one scope (`download` or `upload`), expiring after `expiresIn` seconds.

use serde_json::{Value, json};

use super::error::StorageError;
use crate::auth::Keys;

pub const DOWNLOAD: &str = "download";
pub const UPLOAD: &str = "upload";

/// Signs `claims` (with `url` and `scope`) for `expires_in` seconds from now.
pub fn sign(keys: &Keys, mut claims: Value, expires_in: u64) -> String {
    let now = jiff::Timestamp::now().as_second();
    if let Value::Object(map) = &mut claims {
        map.insert("iat".into(), json!(now));
        map.insert("exp".into(), json!(now.saturating_add(expires_in as i64)));
    }
    keys.sign(&claims)
}

/// The claims of a token valid for `url` (`bucket/name`) and `scope`.
pub fn verify(keys: &Keys, token: &str, url: &str, scope: &str) -> Result<Value, StorageError> {
    let claims = keys.verify(token).map_err(|error| {
        StorageError::invalid_jwt(if error.message == "JWT expired" {
            "jwt expired".to_owned()
        } else {
            "invalid signature".to_owned()
        })
    })?;
    // Strictly: the verifier's clock leeway is for access tokens, not for links.
    let expiry = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    if expiry < jiff::Timestamp::now().as_second() {
        return Err(StorageError::invalid_jwt("jwt expired"));
    }
    if claims.get("scope").and_then(Value::as_str) != Some(scope) {
        return Err(StorageError::invalid_signature(format!(
            "Token is not scoped for {scope}"
        )));
    }
    if claims.get("url").and_then(Value::as_str) != Some(url) {
        return Err(StorageError::invalid_signature("Invalid signature"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_their_object_scope_and_expiry() {
        let keys = Keys::new(&Default::default());
        let token = sign(&keys, json!({"url": "b/a.txt", "scope": DOWNLOAD}), 60);
        assert!(verify(&keys, &token, "b/a.txt", DOWNLOAD).is_ok());
        assert_eq!(
            verify(&keys, &token, "b/other.txt", DOWNLOAD)
                .unwrap_err()
                .code,
            "InvalidSignature"
        );
        assert_eq!(
            verify(&keys, &token, "b/a.txt", UPLOAD).unwrap_err().code,
            "InvalidSignature"
        );
        let now = jiff::Timestamp::now().as_second();
        let expired = keys.sign(&json!({"url": "b/a.txt", "scope": DOWNLOAD, "exp": now - 2}));
        let error = verify(&keys, &expired, "b/a.txt", DOWNLOAD).unwrap_err();
        assert_eq!(
            (error.code, error.message.as_str()),
            ("InvalidJWT", "jwt expired")
        );
    }
}
