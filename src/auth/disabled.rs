//! GoTrue's answers for the features Solobase does not offer — SAML SSO, passkeys, web3,
//! ID-token sign-in with external providers, the OAuth server,
//! custom providers and SCIM: each route answers as GoTrue does when the feature is disabled
//! (its error code and message), never with an empty 404.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use serde_json::{Value, json};

use super::api::{Result, admin, parse_body, text};
use super::error::AuthError;
use crate::app::App;

/// The routes of the disabled features, to merge into `/auth/v1`.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/sso", post(saml_disabled))
        .route("/sso/saml/metadata", get(saml_disabled))
        .route("/sso/saml/acs", post(saml_disabled))
        .route("/admin/sso/providers", get(sso_list).post(sso_create))
        .route(
            "/admin/sso/providers/{id}",
            get(sso_unknown).put(sso_unknown).delete(sso_unknown),
        )
        .route("/passkeys", any(passkeys_disabled))
        .route("/passkeys/{*rest}", any(passkeys_disabled))
        .route("/user/oauth/grants", any(oauth_server_disabled))
        .route("/oauth/{*rest}", any(oauth_server_disabled))
        .route("/admin/oauth/{*rest}", any(oauth_server_disabled))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth_server_disabled),
        )
        .route("/admin/custom-providers", any(custom_providers_disabled))
        .route(
            "/admin/custom-providers/{*rest}",
            any(custom_providers_disabled),
        )
        .route("/scim/v2/{*rest}", any(scim_disabled))
}

fn not_found(code: &'static str, message: &str) -> AuthError {
    AuthError::new(StatusCode::NOT_FOUND, code, message)
}

async fn saml_disabled() -> AuthError {
    not_found("saml_provider_disabled", "SAML 2.0 is disabled")
}

/// `GET /admin/sso/providers`: there are none.
async fn sso_list(State(app): State<App>, headers: HeaderMap) -> Result<Response> {
    admin(&app, &headers)?;
    Ok(Json(json!({"items": []})).into_response())
}

async fn sso_create(State(app): State<App>, headers: HeaderMap) -> Result<Response> {
    admin(&app, &headers)?;
    Err(saml_disabled().await)
}

async fn sso_unknown(State(app): State<App>, headers: HeaderMap) -> Result<Response> {
    admin(&app, &headers)?;
    Err(not_found(
        "sso_provider_not_found",
        "SSO Identity Provider not found",
    ))
}

async fn passkeys_disabled() -> AuthError {
    not_found("passkey_disabled", "Passkeys are disabled")
}

async fn oauth_server_disabled() -> AuthError {
    not_found("feature_disabled", "OAuth server is disabled")
}

async fn custom_providers_disabled(State(app): State<App>, headers: HeaderMap) -> Result<Response> {
    admin(&app, &headers)?;
    Err(not_found(
        "feature_disabled",
        "Custom OAuth providers are disabled",
    ))
}

async fn scim_disabled() -> AuthError {
    not_found("feature_disabled", "SCIM server is disabled")
}

/// `POST /token?grant_type=web3`: neither Solana nor Ethereum sign-in is enabled.
pub(super) fn web3_grant() -> AuthError {
    AuthError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "web3_provider_disabled",
        "Web3 provider is disabled",
    )
}

/// `POST /token?grant_type=id_token`: GoTrue's checks, in its order, up to the provider's
/// configuration, which never enables one.
pub(super) fn id_token_grant(body: &Bytes) -> Result<Response> {
    let body = parse_body(body)?;
    let invalid = |description: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": description})),
        )
            .into_response()
    };
    let Some(id_token) = text(&body, "id_token") else {
        return Ok(invalid("id_token required"));
    };
    let provider = text(&body, "provider").unwrap_or("");
    let issuer = text(&body, "issuer").unwrap_or("");
    if provider.is_empty() && (text(&body, "client_id").is_none() || issuer.is_empty()) {
        return Ok(invalid("provider or client_id and issuer required"));
    }
    let fixed = [
        ("google", "https://accounts.google.com"),
        ("facebook", "https://www.facebook.com"),
        ("kakao", "https://kauth.kakao.com"),
        ("vercel_marketplace", "https://marketplace.vercel.com"),
        ("snapchat", "https://accounts.snapchat.com"),
    ];
    let detected = |name: &str| {
        token_issuer(id_token).ok_or_else(|| {
            AuthError::validation(format!(
                "Unable to detect issuer in ID token for {name} provider"
            ))
        })
    };
    let issuer = if let Some((_, fixed)) = fixed
        .iter()
        .find(|(name, fixed)| provider == *name || issuer == *fixed)
    {
        (*fixed).to_owned()
    } else if provider == "apple" || issuer.starts_with("https://appleid.apple.com") {
        detected("Apple")?
    } else if provider == "azure" || issuer.starts_with("https://login.microsoftonline.com") {
        detected("Azure")?
    } else if provider == "keycloak" {
        String::new()
    } else if provider.starts_with("custom:") {
        return Err(AuthError::validation("Custom OAuth providers are disabled"));
    } else {
        return Err(AuthError::validation(format!(
            "Custom OIDC provider {provider:?} not allowed"
        )));
    };
    Err(AuthError::new(
        StatusCode::BAD_REQUEST,
        "provider_disabled",
        format!("Provider (issuer {issuer:?}) is not enabled"),
    ))
}

/// The `iss` claim of a JWT's payload, read without verifying it (as GoTrue detects Apple's and
/// Azure's issuers).
fn token_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(body: Value) -> AuthError {
        id_token_grant(&Bytes::from(body.to_string())).unwrap_err()
    }

    #[test]
    fn id_token_sign_in_names_the_disabled_provider_as_gotrue_does() {
        let google = refusal(json!({"provider": "google", "id_token": "x"}));
        assert_eq!(google.code, "provider_disabled");
        assert_eq!(
            google.message,
            "Provider (issuer \"https://accounts.google.com\") is not enabled"
        );
        let apple = refusal(json!({"provider": "apple", "id_token": "not-a-jwt"}));
        assert_eq!(
            apple.message,
            "Unable to detect issuer in ID token for Apple provider"
        );
        let unknown = refusal(json!({"provider": "acme", "id_token": "x"}));
        assert_eq!(unknown.message, "Custom OIDC provider \"acme\" not allowed");
    }
}
