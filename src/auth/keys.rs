//! Keys: the project's JWT secret and API keys. Verifies the `apikey` and `Authorization`
//! headers of every request into a `Caller`, mapping the opaque `sb_publishable_`/`sb_secret_`
//! keys as the Supabase CLI's gateway does; signs access tokens for Auth.

use std::sync::Arc;

use axum::http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use super::caller::{Caller, Role};
use crate::config::{
    AuthConfig, DEFAULT_ANON_KEY, DEFAULT_JWT_SECRET, DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY,
    DEFAULT_SERVICE_ROLE_KEY,
};

/// The legacy keys' expiry, as Supabase's local keys have (2032-11-11).
const API_KEY_EXPIRY: i64 = 1_983_812_996;

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// The opaque keys, accepted only with the well-known local secret or when configured.
    publishable_key: Option<String>,
    secret_key: Option<String>,
    pub anon_key: String,
    pub service_role_key: String,
}

/// Why a request's credentials were refused; rendered in each service's own error shape.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyError {
    /// PostgREST's code: PGRST301 (undecodable or wrongly signed), PGRST303 (claims invalid).
    pub code: &'static str,
    pub message: String,
}

impl KeyError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl Keys {
    pub fn new(config: &AuthConfig) -> Self {
        let secret = config.jwt_secret.as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims.clear();
        validation.validate_aud = false;
        validation.leeway = 30;
        validation.validate_nbf = true;
        let encoding = EncodingKey::from_secret(secret);
        let default_secret = config.jwt_secret == DEFAULT_JWT_SECRET;
        let opaque = |variable: &str, default: &str| {
            std::env::var(variable)
                .ok()
                .or_else(|| default_secret.then(|| default.to_owned()))
        };
        // With the well-known secret, print the exact keys local Supabase apps already have.
        let api_key = |role: &str, well_known: &str| {
            if default_secret {
                return well_known.to_owned();
            }
            let claims = json!({"iss": "supabase-demo", "role": role, "exp": API_KEY_EXPIRY});
            sign_with(&encoding, &claims)
        };
        Self {
            anon_key: api_key("anon", DEFAULT_ANON_KEY),
            service_role_key: api_key("service_role", DEFAULT_SERVICE_ROLE_KEY),
            publishable_key: opaque("SOLOBASE_PUBLISHABLE_KEY", DEFAULT_PUBLISHABLE_KEY),
            secret_key: opaque("SOLOBASE_SECRET_KEY", DEFAULT_SECRET_KEY),
            decoding: DecodingKey::from_secret(secret),
            encoding,
            validation,
        }
    }

    pub fn publishable_key(&self) -> Option<&str> {
        self.publishable_key.as_deref()
    }

    pub fn secret_key(&self) -> Option<&str> {
        self.secret_key.as_deref()
    }

    /// Signs claims as an HS256 JWT with the project's secret.
    pub fn sign(&self, claims: &Value) -> String {
        sign_with(&self.encoding, claims)
    }

    /// Verifies a JWT's signature and time claims, returning its claims.
    pub fn verify(&self, token: &str) -> Result<Value, KeyError> {
        if token.is_empty() {
            return Err(KeyError::new(
                "PGRST301",
                "Empty JWT is sent in Authorization header",
            ));
        }
        let parts = token.split('.').count();
        if parts != 3 {
            return Err(KeyError::new(
                "PGRST301",
                format!("Expected 3 parts in JWT; got {parts}"),
            ));
        }
        jsonwebtoken::decode::<Value>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => KeyError::new("PGRST303", "JWT expired"),
                ErrorKind::ImmatureSignature => KeyError::new("PGRST303", "JWT not yet valid"),
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    KeyError::new("PGRST301", "Wrong or unsupported encoding algorithm")
                }
                _ => KeyError::new("PGRST301", "JWT cryptographic operation failed"),
            })
    }

    /// The caller of an HTTP request, from its `apikey` and `Authorization` headers.
    ///
    /// As the Supabase CLI's gateway does: a bearer token that is not an opaque `sb_` key is the
    /// caller's token; otherwise the `apikey` decides (secret key → service_role, publishable
    /// key → anon, a JWT → its role). The `apikey` itself must always be a valid project key.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Caller, KeyError> {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let api_key = header("apikey");
        let bearer = header("authorization").map(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .unwrap_or(value)
                .trim()
        });
        let api_key_caller = api_key.map(|key| self.api_key_caller(key)).transpose()?;
        match bearer {
            Some(token) if !token.starts_with("sb_") => self.token_caller(token),
            Some(token) if Some(token) != api_key => self.api_key_caller(token),
            _ => api_key_caller
                .ok_or_else(|| KeyError::new("PGRST301", "No API key found in request")),
        }
    }

    /// The caller of a `/rest/v1` request. One that carries neither an `apikey` nor an
    /// `Authorization` header is served as `anon`, as PostgREST serves it (its `db-anon-role`)
    /// and as `supabase start`'s gateway passes it on; anything it carries is verified as
    /// `caller` does.
    pub fn rest_caller(&self, headers: &HeaderMap) -> Result<Caller, KeyError> {
        if headers.contains_key("apikey") || headers.contains_key("authorization") {
            return self.caller(headers);
        }
        Ok(Caller {
            role: Role::Anon,
            claims: Arc::new(json!({"role": "anon"})),
        })
    }

    /// Verifies a token from a realtime join or a websocket `apikey` parameter.
    pub fn token_caller(&self, token: &str) -> Result<Caller, KeyError> {
        let mut claims = self.verify(token)?;
        let role = match claims.get("role") {
            None | Some(Value::Null) => Role::Anon,
            Some(Value::String(name)) => Role::parse(name).ok_or_else(|| {
                KeyError::new("PGRST301", format!("role \"{name}\" does not exist"))
            })?,
            Some(_) => return Err(KeyError::new("PGRST301", "JWT role claim is not a string")),
        };
        if let Value::Object(map) = &mut claims {
            map.insert("role".into(), Value::from(role.as_str()));
        }
        Ok(Caller {
            role,
            claims: Arc::new(claims),
        })
    }

    /// The caller of a realtime websocket from its `apikey` query parameter, which may be a
    /// JWT or one of the opaque `sb_publishable_`/`sb_secret_` keys.
    pub fn socket_caller(&self, key: &str) -> Result<Caller, KeyError> {
        self.api_key_caller(key)
    }

    fn api_key_caller(&self, key: &str) -> Result<Caller, KeyError> {
        if !key.starts_with("sb_") {
            return self.token_caller(key);
        }
        let claims = if Some(key) == self.secret_key.as_deref() {
            json!({"role": "service_role"})
        } else if Some(key) == self.publishable_key.as_deref() {
            json!({"role": "anon"})
        } else {
            return Err(KeyError::new("PGRST301", "Invalid API key"));
        };
        self.token_caller(&self.sign(&claims))
    }
}

fn sign_with(key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key)
        .expect("HS256 signing of a JSON object cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const SUPABASE_ANON_KEY: &str = DEFAULT_ANON_KEY;
    const SUPABASE_SERVICE_KEY: &str = DEFAULT_SERVICE_ROLE_KEY;

    fn keys() -> Keys {
        Keys::new(&AuthConfig::default())
    }

    fn headers(api_key: Option<&str>, bearer: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(key) = api_key {
            headers.insert("apikey", HeaderValue::from_str(key).unwrap());
        }
        if let Some(token) = bearer {
            headers.insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
        }
        headers
    }

    fn role(api_key: Option<&str>, bearer: Option<&str>) -> Result<Role, KeyError> {
        keys()
            .caller(&headers(api_key, bearer))
            .map(|caller| caller.role)
    }

    #[test]
    fn the_well_known_local_keys_verify_and_custom_secrets_get_their_own() {
        let keys = keys();
        assert_eq!(keys.anon_key, SUPABASE_ANON_KEY);
        assert_eq!(
            keys.verify(SUPABASE_SERVICE_KEY).unwrap()["role"],
            "service_role"
        );
        let custom = Keys::new(&AuthConfig {
            jwt_secret: "a-custom-secret-of-at-least-32-characters".into(),
            ..Default::default()
        });
        assert_eq!(custom.verify(&custom.anon_key).unwrap()["role"], "anon");
        assert!(custom.verify(SUPABASE_ANON_KEY).is_err());
        assert!(custom.publishable_key().is_none());
    }

    #[test]
    fn a_rest_request_without_credentials_is_anon_and_bad_credentials_still_fail() {
        let keys = keys();
        let anonymous = keys.rest_caller(&headers(None, None)).unwrap();
        assert_eq!(anonymous.role, Role::Anon);
        assert_eq!(anonymous.claims["role"], "anon");
        assert!(keys.caller(&headers(None, None)).is_err());
        assert_eq!(
            keys.rest_caller(&headers(Some("not-a-key"), None))
                .unwrap_err()
                .code,
            "PGRST301"
        );
        assert_eq!(
            keys.rest_caller(&headers(None, Some("a.b.c")))
                .unwrap_err()
                .code,
            "PGRST301"
        );
        assert_eq!(
            keys.rest_caller(&headers(None, Some(SUPABASE_SERVICE_KEY)))
                .map(|caller| caller.role),
            Ok(Role::ServiceRole)
        );
    }

    #[test]
    fn keys_and_tokens_select_the_role() {
        let user =
            keys().sign(&json!({"sub": "u1", "role": "authenticated", "exp": 4_000_000_000u64}));
        assert_eq!(
            role(Some(SUPABASE_ANON_KEY), Some(SUPABASE_ANON_KEY)),
            Ok(Role::Anon)
        );
        assert_eq!(role(Some(SUPABASE_ANON_KEY), None), Ok(Role::Anon));
        assert_eq!(
            role(Some(SUPABASE_ANON_KEY), Some(&user)),
            Ok(Role::Authenticated)
        );
        assert_eq!(
            role(Some(SUPABASE_SERVICE_KEY), None),
            Ok(Role::ServiceRole)
        );
        assert_eq!(
            role(Some(DEFAULT_PUBLISHABLE_KEY), Some(DEFAULT_PUBLISHABLE_KEY)),
            Ok(Role::Anon)
        );
        assert_eq!(
            role(Some(DEFAULT_SECRET_KEY), Some(DEFAULT_SECRET_KEY)),
            Ok(Role::ServiceRole)
        );
        assert_eq!(
            role(Some(DEFAULT_PUBLISHABLE_KEY), Some(&user)),
            Ok(Role::Authenticated)
        );
    }

    #[test]
    fn bad_credentials_are_refused_with_postgrest_codes() {
        let expired = keys().sign(&json!({"role": "authenticated", "exp": 1_000}));
        let forged = Keys::new(&AuthConfig {
            jwt_secret: "another-secret-of-at-least-32-characters!".into(),
            ..Default::default()
        })
        .sign(&json!({"role": "service_role"}));
        let code = |result: Result<Role, KeyError>| result.unwrap_err().code;
        assert_eq!(code(role(None, None)), "PGRST301");
        assert_eq!(
            code(role(Some(SUPABASE_ANON_KEY), Some(&expired))),
            "PGRST303"
        );
        assert_eq!(
            code(role(Some(SUPABASE_ANON_KEY), Some(&forged))),
            "PGRST301"
        );
        assert_eq!(
            code(role(Some(SUPABASE_ANON_KEY), Some("abc.def"))),
            "PGRST301"
        );
        assert_eq!(code(role(Some("sb_publishable_wrong"), None)), "PGRST301");
        assert_eq!(
            code(role(Some(&forged), Some(SUPABASE_ANON_KEY))),
            "PGRST301"
        );
        let unknown_role = keys().sign(&json!({"role": "postgres"}));
        assert_eq!(
            code(role(Some(SUPABASE_ANON_KEY), Some(&unknown_role))),
            "PGRST301"
        );
    }

    #[test]
    fn an_unsigned_token_cannot_escalate_its_role() {
        use base64::Engine;
        let encode = |value: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
        };
        let header = encode(&json!({"alg": "none", "typ": "JWT"}));
        let claims = encode(&json!({"role": "service_role"}));
        let token = format!("{header}.{claims}.");
        assert_eq!(
            role(Some(SUPABASE_ANON_KEY), Some(&token))
                .unwrap_err()
                .code,
            "PGRST301"
        );
    }
}
