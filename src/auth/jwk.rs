//! Signing keys: the private JWKs of `[auth] signing_keys_path`, as `supabase gen signing-key`
//! writes them (RS256, ES256 or HS256 `oct`, each with a `kid`), turned into signing and
//! verifying keys, and their public halves as `/.well-known/jwks.json` serves them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Value, json};

/// One key of the set: it verifies tokens whose header names its `kid` (or, without a `kid`,
/// its algorithm) and, when its `key_ops` allow, signs new ones.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub can_sign: bool,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// The public JWK (`None` for a symmetric key, which is never published).
    pub public: Option<Value>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Parses the key file: a JSON array of private JWKs (a `{"keys": [...]}` set is accepted too).
pub fn parse_key_set(text: &str) -> Result<Vec<SigningKey>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("not a JSON array of JWKs: {error}"))?;
    let keys = match &value {
        Value::Array(keys) => keys,
        Value::Object(set) => match set.get("keys") {
            Some(Value::Array(keys)) => keys,
            _ => return Err("expected a JSON array of JWKs".into()),
        },
        _ => return Err("expected a JSON array of JWKs".into()),
    };
    if keys.is_empty() {
        return Err("the key set is empty".into());
    }
    keys.iter()
        .enumerate()
        .map(|(index, jwk)| parse_key(jwk).map_err(|error| format!("key {}: {error}", index + 1)))
        .collect()
}

fn parse_key(jwk: &Value) -> Result<SigningKey, String> {
    let field = |name: &str| -> Result<Vec<u8>, String> {
        let text = jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("missing \"{name}\""))?;
        URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| format!("\"{name}\" is not base64url"))
    };
    let kid = jwk
        .get("kid")
        .and_then(Value::as_str)
        .filter(|kid| !kid.is_empty())
        .ok_or("missing \"kid\"")?
        .to_owned();
    let can_sign = match jwk.get("key_ops") {
        Some(Value::Array(ops)) => ops.iter().any(|op| op == "sign"),
        _ => true,
    };
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
    let alg = jwk.get("alg").and_then(Value::as_str);
    let (algorithm, encoding, decoding, public) = match (kty, alg) {
        ("RSA", None | Some("RS256")) => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let number = |name: &str| field(name).map(|bytes| rsa::BigUint::from_bytes_be(&bytes));
            let (n, e) = (field("n")?, field("e")?);
            let private = rsa::RsaPrivateKey::from_components(
                rsa::BigUint::from_bytes_be(&n),
                rsa::BigUint::from_bytes_be(&e),
                number("d")?,
                vec![number("p")?, number("q")?],
            )
            .map_err(|error| format!("invalid RSA key: {error}"))?;
            let der = private
                .to_pkcs1_der()
                .map_err(|error| format!("invalid RSA key: {error}"))?;
            let public = json!({
                "kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&n), "e": URL_SAFE_NO_PAD.encode(&e),
            });
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_der(der.as_bytes()),
                DecodingKey::from_rsa_raw_components(&n, &e),
                Some(public),
            )
        }
        ("EC", None | Some("ES256")) => {
            use p256::pkcs8::EncodePrivateKey;
            if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
                return Err("an EC key must be on curve P-256 (ES256)".into());
            }
            let secret = p256::SecretKey::from_slice(&field("d")?)
                .map_err(|_| "invalid P-256 private key".to_owned())?;
            let point = secret.public_key().to_sec1_bytes();
            let (x, y) = (field("x")?, field("y")?);
            if point[1..] != [x.as_slice(), y.as_slice()].concat() {
                return Err("\"x\"/\"y\" do not belong to \"d\"".into());
            }
            let der = secret
                .to_pkcs8_der()
                .map_err(|error| format!("invalid P-256 key: {error}"))?;
            let public = json!({
                "kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&x), "y": URL_SAFE_NO_PAD.encode(&y),
            });
            (
                Algorithm::ES256,
                EncodingKey::from_ec_der(der.as_bytes()),
                DecodingKey::from_ec_der(&point),
                Some(public),
            )
        }
        ("oct", None | Some("HS256")) => {
            let secret = field("k")?;
            (
                Algorithm::HS256,
                EncodingKey::from_secret(&secret),
                DecodingKey::from_secret(&secret),
                None,
            )
        }
        (kty, alg) => {
            return Err(format!(
                "unsupported key type {kty:?} with alg {alg:?} (RS256, ES256 and HS256 are supported)"
            ));
        }
    };
    let public = public.map(|mut public| {
        public["kid"] = json!(kid);
        public["alg"] = json!(format!("{algorithm:?}"));
        public["use"] = json!("sig");
        public["key_ops"] = json!(["verify"]);
        public
    });
    Ok(SigningKey {
        kid,
        algorithm,
        can_sign,
        encoding,
        decoding,
        public,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An RS256 and an ES256 key (test-only), as `supabase gen signing-key` writes them.
    pub const TEST_KEYS: &str = include_str!("jwk_test_keys.json");

    #[test]
    fn an_rsa_key_signs_and_publishes_only_its_public_half() {
        let keys = parse_key_set(TEST_KEYS).unwrap();
        let key = &keys[0];
        assert_eq!(
            (key.kid.as_str(), key.algorithm),
            ("rsa-test", Algorithm::RS256)
        );
        assert!(key.can_sign);
        let public = key.public.as_ref().unwrap();
        assert_eq!(public["kty"], "RSA");
        assert_eq!(public["alg"], "RS256");
        assert!(public.get("d").is_none() && public.get("p").is_none());
    }

    fn keys_of(text: &str) -> Vec<SigningKey> {
        parse_key_set(text).unwrap()
    }

    #[test]
    fn bad_key_files_are_refused_with_the_reason() {
        assert!(parse_key_set("{}").unwrap_err().contains("array"));
        assert!(parse_key_set("[]").unwrap_err().contains("empty"));
        let no_kid = r#"[{"kty":"oct","k":"c2VjcmV0"}]"#;
        assert_eq!(parse_key_set(no_kid).unwrap_err(), "key 1: missing \"kid\"");
        let ed = r#"[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"AA"}]"#;
        assert!(
            parse_key_set(ed)
                .unwrap_err()
                .contains("unsupported key type")
        );
        let wrong_point = TEST_KEYS.replace("\"ec-test\"", "\"ec-test\", \"x\": \"AAAA\"");
        assert!(parse_key_set(&wrong_point).is_err());
        assert_eq!(keys_of(TEST_KEYS)[1].algorithm, Algorithm::ES256);
    }
}
