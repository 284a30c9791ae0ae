//! Keys: the project's JWT secret and API keys. Verifies the `apikey` and `Authorization`
//! headers of every request into a `Caller`, mapping the opaque `sb_publishable_`/`sb_secret_`
//! keys as the Supabase CLI's gateway does; signs access tokens for Auth with the first key of
//! `signing_keys_path` (HS256 with `jwt_secret` without one) and verifies tokens signed by any
//! listed key or by the legacy HS256 secret. REST, realtime, storage and Auth all verify here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use super::caller::{Caller, Role};
use super::jwk::SigningKey;
use crate::config::{
    AuthConfig, DEFAULT_ANON_KEY, DEFAULT_JWT_SECRET, DEFAULT_PUBLISHABLE_KEY, DEFAULT_SECRET_KEY,
    DEFAULT_SERVICE_ROLE_KEY,
};

/// The legacy keys' expiry, as Supabase's local keys have (2032-11-11).
const API_KEY_EXPIRY: i64 = 1_983_812_996;

pub struct Keys {
    /// The legacy HS256 secret, which signs the API keys and verifies tokens without a `kid`.
    secret: EncodingKey,
    legacy: DecodingKey,
    /// `signing_keys_path`'s keys; the first that may sign signs access tokens.
    signing_keys: std::sync::Arc<Vec<SigningKey>>,
    validation: Validation,
    /// The callers verified during the current second (`token_caller`).
    verified: Mutex<Verified>,
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
        validation.algorithms.clear();
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
            legacy: DecodingKey::from_secret(secret),
            secret: encoding,
            signing_keys: config.signing_keys.clone(),
            validation,
            verified: Mutex::default(),
        }
    }

    pub fn publishable_key(&self) -> Option<&str> {
        self.publishable_key.as_deref()
    }

    pub fn secret_key(&self) -> Option<&str> {
        self.secret_key.as_deref()
    }

    /// Signs claims as a JWT with the first signing key (header `kid`), or HS256 with the
    /// project's secret when no signing keys are configured.
    pub fn sign(&self, claims: &Value) -> String {
        match self.signing_keys.iter().find(|key| key.can_sign) {
            Some(key) => {
                let mut header = Header::new(key.algorithm);
                header.kid = Some(key.kid.clone());
                jsonwebtoken::encode(&header, claims, &key.encoding)
                    .expect("signing a JSON object with a parsed key cannot fail")
            }
            None => sign_with(&self.secret, claims),
        }
    }

    /// `/.well-known/jwks.json`: the public halves of the asymmetric signing keys.
    pub fn jwks(&self) -> Value {
        let keys: Vec<&Value> = self
            .signing_keys
            .iter()
            .filter_map(|key| key.public.as_ref())
            .collect();
        json!({ "keys": keys })
    }

    /// The keys that may have signed a token with this header: the one its `kid` names, or
    /// (without a `kid`, or with the legacy secret's) every key of its algorithm.
    fn candidates(&self, header: &Header) -> Vec<(&DecodingKey, Algorithm)> {
        let listed = self
            .signing_keys
            .iter()
            .filter(|key| key.algorithm == header.alg);
        if let Some(kid) = &header.kid
            && let Some(key) = listed.clone().find(|key| &key.kid == kid)
        {
            return vec![(&key.decoding, key.algorithm)];
        }
        let mut keys: Vec<_> = listed.map(|key| (&key.decoding, key.algorithm)).collect();
        if header.alg == Algorithm::HS256 {
            keys.push((&self.legacy, Algorithm::HS256));
        }
        keys
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
        let unsupported = || KeyError::new("PGRST301", "Wrong or unsupported encoding algorithm");
        let header = jsonwebtoken::decode_header(token).map_err(|error| match error.kind() {
            ErrorKind::InvalidAlgorithmName => unsupported(),
            _ => KeyError::new("PGRST301", "JWT cryptographic operation failed"),
        })?;
        let candidates = self.candidates(&header);
        if candidates.is_empty() {
            return Err(unsupported());
        }
        let mut outcome = Err(KeyError::new(
            "PGRST301",
            "JWT cryptographic operation failed",
        ));
        for (key, algorithm) in candidates {
            let mut validation = self.validation.clone();
            validation.algorithms = vec![algorithm];
            outcome = jsonwebtoken::decode::<Value>(token, key, &validation)
                .map(|data| data.claims)
                .map_err(verify_error);
            if !matches!(&outcome, Err(error) if error.message == "JWT cryptographic operation failed")
            {
                break;
            }
        }
        outcome
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
    ///
    /// A client sends the same token (and the same `apikey`) with every request. Whether a token
    /// verifies depends only on its bytes and on the current second (its `exp` and `nbf`), so the
    /// callers verified in this second are kept and a token seen again within it is not
    /// verified again; the memo is emptied when the second changes.
    pub fn token_caller(&self, token: &str) -> Result<Caller, KeyError> {
        let second = jsonwebtoken::get_current_timestamp();
        {
            let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
            if verified.second != second {
                verified.second = second;
                verified.callers.clear();
            }
            if let Some(caller) = verified.callers.get(token) {
                return Ok(caller.clone());
            }
        }
        let caller = self.verify_caller(token)?;
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.second == second && verified.callers.len() < VERIFIED_PER_SECOND {
            verified.callers.insert(token.to_owned(), caller.clone());
        }
        Ok(caller)
    }

    fn verify_caller(&self, token: &str) -> Result<Caller, KeyError> {
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
        let role = self.opaque_key_role(key)?;
        Ok(Caller {
            role,
            claims: Arc::new(json!({"role": role.as_str()})),
        })
    }

    fn opaque_key_role(&self, key: &str) -> Result<Role, KeyError> {
        if Some(key) == self.secret_key.as_deref() {
            Ok(Role::ServiceRole)
        } else if Some(key) == self.publishable_key.as_deref() {
            Ok(Role::Anon)
        } else {
            Err(KeyError::new("PGRST301", "Invalid API key"))
        }
    }

    /// The verified claims an Auth request presents, as GoTrue reads them behind the CLI's
    /// gateway: the bearer token, else the `apikey`; an opaque key stands for its role. Unlike
    /// `caller`, any `role` is kept (GoTrue's admin roles include `supabase_admin`).
    pub fn auth_claims(&self, headers: &HeaderMap) -> Result<Value, KeyError> {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let token = header("authorization")
            .map(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
                    .unwrap_or(value)
                    .trim()
            })
            .or_else(|| header("apikey"))
            .ok_or_else(|| KeyError::new("PGRST301", "No API key found in request"))?;
        if token.starts_with("sb_") {
            return Ok(json!({"role": self.opaque_key_role(token)?.as_str()}));
        }
        self.verify(token)
    }
}

/// At most how many tokens `Keys::token_caller` remembers within one second.
const VERIFIED_PER_SECOND: usize = 1024;

/// The callers whose tokens verified during `second` (Unix time), by token.
#[derive(Default)]
struct Verified {
    second: u64,
    callers: HashMap<String, Caller>,
}

/// The roles GoTrue lets use its admin API (its `GOTRUE_JWT_ADMIN_ROLES` default).
pub const ADMIN_ROLES: [&str; 2] = ["service_role", "supabase_admin"];

fn verify_error(error: jsonwebtoken::errors::Error) -> KeyError {
    match error.kind() {
        ErrorKind::ExpiredSignature => KeyError::new("PGRST303", "JWT expired"),
        ErrorKind::ImmatureSignature => KeyError::new("PGRST303", "JWT not yet valid"),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            KeyError::new("PGRST301", "Wrong or unsupported encoding algorithm")
        }
        _ => KeyError::new("PGRST301", "JWT cryptographic operation failed"),
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
    fn a_token_seen_again_is_accepted_as_before_and_its_altered_copies_never() {
        let keys = keys();
        let now = jsonwebtoken::get_current_timestamp();
        let token = keys.sign(&json!({"sub": "u1", "role": "authenticated", "exp": now + 60}));
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 2.., "AA");
        let expired = keys.sign(&json!({"sub": "u1", "role": "authenticated", "exp": now - 60}));
        for _ in 0..3 {
            let caller = keys.token_caller(&token).unwrap();
            assert_eq!(
                (caller.role, &caller.claims["sub"]),
                (Role::Authenticated, &json!("u1"))
            );
            assert_eq!(keys.token_caller(&tampered).unwrap_err().code, "PGRST301");
            assert_eq!(keys.token_caller(&expired).unwrap_err().code, "PGRST303");
        }
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
    fn signing_keys_sign_with_the_first_and_verify_every_one_plus_the_secret() {
        let listed = Keys::new(&AuthConfig {
            signing_keys: Arc::new(
                crate::auth::jwk::parse_key_set(crate::auth::jwk::tests::TEST_KEYS).unwrap(),
            ),
            ..Default::default()
        });
        let token = listed.sign(&json!({"role": "authenticated", "sub": "u1"}));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(
            (header.alg, header.kid.as_deref()),
            (Algorithm::RS256, Some("rsa-test"))
        );
        assert_eq!(listed.verify(&token).unwrap()["sub"], "u1");
        assert_eq!(
            listed.verify(SUPABASE_SERVICE_KEY).unwrap()["role"],
            "service_role"
        );
        let jwks = listed.jwks();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        // Without the key set, the same token no longer verifies.
        assert_eq!(
            keys().verify(&token).unwrap_err().message,
            "Wrong or unsupported encoding algorithm"
        );
        assert_eq!(keys().jwks(), json!({"keys": []}));
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
