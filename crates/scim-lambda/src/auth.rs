//! The security boundary: a request reaches a handler only with a [`Tenant`] established from a
//! valid bearer token (RFC 6750). Token records keep a SHA-256 hash, never the token.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use scim_proto::ScimError;
use scim_store::TenantId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every token this service issues.
pub const TOKEN_PREFIX: &str = "SCIM_";

/// A fresh token: `SCIM_` and 256 bits from the OS CSPRNG, base64url without padding.
pub fn generate_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The tenant a request acts for; only [`require_token`] creates it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    /// The token record's id, for logs (never the token).
    pub token_id: String,
}

#[derive(Debug)]
struct TokenRecord {
    id: String,
    tenant: TenantId,
    sha256: [u8; 32],
}

/// The tokens this process accepts.
#[derive(Debug, Default)]
pub struct TokenVerifier {
    records: Vec<TokenRecord>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenVerifier {
    /// Accepts `token` for `tenant`; `id` names the record in logs.
    pub fn register(&mut self, id: &str, token: &str, tenant: TenantId) {
        self.records.push(TokenRecord {
            id: id.to_string(),
            tenant,
            sha256: digest(token),
        });
    }

    /// The tenant of a presented token. Hashes are compared in constant time and every record is
    /// compared, so timing reveals neither a partial match nor which record matched.
    pub fn verify(&self, presented: &str) -> Option<Tenant> {
        let hash = digest(presented);
        let mut found = None;
        for record in &self.records {
            if bool::from(record.sha256.ct_eq(&hash)) {
                found = Some(Tenant {
                    id: record.tenant.clone(),
                    token_id: record.id.clone(),
                });
            }
        }
        found
    }
}

/// Middleware in front of every route: `Authorization: Bearer <token>` → [`Tenant`], or 401.
pub async fn require_token(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(presented) = presented else {
        return ApiError::from(ScimError::unauthorized(
            "an Authorization header with a bearer token is required",
        ))
        .into_response();
    };
    match state.tokens.verify(presented) {
        Some(tenant) => {
            request.extensions_mut().insert(tenant.clone());
            let mut response = next.run(request).await;
            // For the request log line, which is written outside this layer.
            response.extensions_mut().insert(tenant);
            response
        }
        None => ApiError::from(ScimError::unauthorized("the bearer token is not valid")).into_response(),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Only the auth middleware inserts a Tenant; a handler mounted outside it gets a 401.
        parts
            .extensions
            .get::<Tenant>()
            .cloned()
            .ok_or_else(|| ScimError::unauthorized("authentication required").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_prefixed_long_and_distinct() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(a, b);
    }

    #[test]
    fn verifies_only_registered_tokens() {
        let mut v = TokenVerifier::default();
        v.register("boot", "SCIM_abc", TenantId::new("default").unwrap());
        v.register("other", "SCIM_xyz", TenantId::new("acme").unwrap());
        assert_eq!(v.verify("SCIM_abc").unwrap().id.as_str(), "default");
        assert_eq!(v.verify("SCIM_xyz").unwrap().token_id, "other");
        assert!(v.verify("SCIM_ab").is_none());
        assert!(v.verify("").is_none());
    }
}
