//! The security boundary: a request reaches a handler only with a [`Tenant`] established from a
//! valid bearer token (RFC 6750 §2.1). Tokens, their hashes and their verification live in
//! `scim-auth`; this module is the HTTP side of it.

use crate::error::ApiError;
use crate::telemetry;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap};
use axum::response::{IntoResponse, Response};
use scim_auth::{FailureHook, TokenCache, Verdict};
use scim_proto::{hint, ScimError};
use scim_store::TenantId;
use serde_json::Map;
use std::sync::Arc;

/// The one answer for a token that does not let a request in, whether unknown, expired or revoked,
/// so a client cannot probe which tokens exist. The request log tells the operator which it was.
const INVALID_TOKEN: &str = "the bearer token is not valid or has expired";

/// The tenant a request acts for; only [`authenticate`] creates it. Shared rather than copied:
/// a request hands it to its handler, its response and its log line.
#[derive(Debug, Clone)]
pub struct Tenant(Arc<Caller>);

impl std::ops::Deref for Tenant {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

/// Who a request's bearer token says it comes from.
#[derive(Debug)]
pub struct Caller {
    pub id: TenantId,
    /// The token record's id, for logs (never the token).
    pub token_id: String,
    /// The token record's name and expiry, for the provisioning log and the expiry metric.
    pub token_name: String,
    pub token_expires: time::OffsetDateTime,
}

/// What is wrong with an `Authorization` header, judged from its shape alone: a detail that
/// helps the administrator who pasted it, and says nothing about which tokens exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BadHeader {
    Missing,
    NotBearer,
    /// `Bearer Bearer SCIM_…`: the IdP adds the scheme and the administrator pasted it too.
    BearerTwice,
    /// A token pasted with a space or a line break in it: no token has one.
    Spaces,
}

impl BadHeader {
    fn detail(self) -> &'static str {
        match self {
            BadHeader::Missing => "an Authorization header with a bearer token is required",
            BadHeader::NotBearer => "the Authorization header must be 'Bearer <token>'",
            BadHeader::BearerTwice => {
                "the Authorization header has 'Bearer' twice: the token was pasted with 'Bearer' \
                 in front of it, and the IdP adds its own; paste the token alone"
            }
            BadHeader::Spaces => {
                "the bearer token contains spaces or line breaks: paste it as one piece, as \
                 scimctl printed it"
            }
        }
    }

    fn refusal(self) -> Refusal {
        match self {
            BadHeader::Missing => Refusal::Missing,
            _ => Refusal::Malformed,
        }
    }
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is case-insensitive,
/// RFC 7235 §2.1), or what is wrong with the header. RFC 6750's `b64token` has no spaces, so a
/// second `Bearer` or a space inside is a pasting mistake, told as such.
fn bearer_token(headers: &HeaderMap) -> Result<&str, BadHeader> {
    let value = headers.get(header::AUTHORIZATION).ok_or(BadHeader::Missing)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim())
        .ok_or(BadHeader::NotBearer)?;
    match token.split_once(char::is_whitespace) {
        None => Ok(token),
        Some((first, _)) if first.eq_ignore_ascii_case("bearer") => Err(BadHeader::BearerTwice),
        Some(_) => Err(BadHeader::Spaces),
    }
}

/// Why a request got no tenant, for its request log line (`refused`), which the client is not
/// told beyond the header's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Malformed,
    Unknown,
    Expired {
        token_id: String,
    },
    Revoked {
        token_id: String,
    },
    /// The registry could not be read for too long to tell (503).
    RegistryUnavailable,
}

impl Refusal {
    /// The `refused` field of the request log line.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::Unknown => "unknown",
            Refusal::Expired { .. } => "expired",
            Refusal::Revoked { .. } => "revoked",
            Refusal::RegistryUnavailable => "registry-unavailable",
        }
    }

    /// The token record's id, when the token matched one.
    pub fn token_id(&self) -> Option<&str> {
        match self {
            Refusal::Expired { token_id } | Refusal::Revoked { token_id } => Some(token_id),
            _ => None,
        }
    }
}

/// The CloudWatch metric counting failed reads of the token registry or its generation marker
/// (namespace [`telemetry::METRICS_NAMESPACE`], no dimensions); template.yaml's alarm watches it
/// by this name.
pub const REGISTRY_READ_FAILURES: &str = "RegistryReadFailures";

/// Seconds a client is told to wait when the token registry cannot be read.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 30;

/// One CloudWatch embedded-metric-format document: `RegistryReadFailures` = 1.
pub fn registry_failure_emf_line(timestamp_ms: u64) -> String {
    telemetry::metric_line(
        REGISTRY_READ_FAILURES,
        "Count",
        1.into(),
        Map::new(),
        timestamp_ms,
    )
}

/// What the token cache calls on each failed registry read (it has logged the error already):
/// under Lambda, the metric line on stdout, where CloudWatch Logs turns it into the metric.
pub fn registry_failure_hook(emf: bool) -> FailureHook {
    Box::new(move |_| {
        if emf {
            println!("{}", registry_failure_emf_line(telemetry::now_ms()));
        }
    })
}

/// A 401 with what to check in the IdP's connector settings ([`hint::BEARER_TOKEN`]), carrying
/// the refusal for the request log line.
fn unauthorized(detail: &str, refusal: Refusal) -> Response {
    let mut response =
        ApiError::from(ScimError::unauthorized(detail).with_hint(hint::BEARER_TOKEN)).into_response();
    response.extensions_mut().insert(refusal);
    response
}

/// `Authorization: Bearer <token>` → [`Tenant`], or 401 with `WWW-Authenticate: Bearer`
/// (RFC 6750 §3). Called by [`crate::boundary::guard`] in front of every route.
pub async fn authenticate(tokens: &TokenCache, headers: &HeaderMap) -> Result<Tenant, Response> {
    let verdict = match bearer_token(headers) {
        Ok(presented) => tokens.verify(presented).await,
        Err(bad) => return Err(unauthorized(bad.detail(), bad.refusal())),
    };
    match verdict {
        Verdict::Valid {
            tenant,
            token_id,
            token_name,
            expires,
        } => Ok(Tenant(Arc::new(Caller {
            id: tenant,
            token_id,
            token_name,
            token_expires: expires,
        }))),
        Verdict::Expired { token_id } => Err(unauthorized(INVALID_TOKEN, Refusal::Expired { token_id })),
        Verdict::Revoked { token_id } => Err(unauthorized(INVALID_TOKEN, Refusal::Revoked { token_id })),
        Verdict::Unknown => Err(unauthorized(INVALID_TOKEN, Refusal::Unknown)),
        // Fail closed: the registry has not been read for too long to know which tokens are
        // revoked. RFC 7644 §3.12 lets any HTTP status carry a SCIM error; 503 says "try later".
        Verdict::Unavailable => {
            tracing::error!(
                "refused a request: the token registry has not been read successfully for too long"
            );
            let mut response = ApiError {
                error: ScimError::new(
                    503,
                    None,
                    "the service cannot check bearer tokens at the moment; try again later".to_string(),
                ),
                retry_after: Some(UNAVAILABLE_RETRY_AFTER_SECS),
                www_authenticate: false,
            }
            .into_response();
            response.extensions_mut().insert(Refusal::RegistryUnavailable);
            Err(response)
        }
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
    use axum::http::HeaderValue;

    #[test]
    fn the_registry_failure_metric_is_one_count_without_dimensions() {
        let line: serde_json::Value =
            serde_json::from_str(&registry_failure_emf_line(1_700_000_000_000)).unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "ScimService");
        assert_eq!(directive["Dimensions"], serde_json::json!([[]]));
        assert_eq!(directive["Metrics"][0]["Name"], "RegistryReadFailures");
        assert_eq!(line["RegistryReadFailures"], 1);
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let cases: &[(Option<&str>, Result<&str, BadHeader>)] = &[
            (Some("Bearer SCIM_abc"), Ok("SCIM_abc")),
            (Some("bearer  SCIM_abc "), Ok("SCIM_abc")),
            (Some("BEARER SCIM_abc"), Ok("SCIM_abc")),
            (None, Err(BadHeader::Missing)),
            (Some("SCIM_abc"), Err(BadHeader::NotBearer)),
            (Some("Basic dXNlcjpwdw=="), Err(BadHeader::NotBearer)),
            (Some("Bearer "), Err(BadHeader::NotBearer)),
            (Some("non-token"), Err(BadHeader::NotBearer)),
            (Some("Bearer Bearer SCIM_abc"), Err(BadHeader::BearerTwice)),
            (Some("Bearer bearer  SCIM_abc"), Err(BadHeader::BearerTwice)),
            (Some("Bearer SCIM_ab c"), Err(BadHeader::Spaces)),
            (Some("Bearer SCIM_ab\tc"), Err(BadHeader::Spaces)),
            (Some("Bearer Bearer"), Ok("Bearer")),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            if let Some(v) = value {
                headers.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            }
            assert_eq!(bearer_token(&headers), *want, "{value:?}");
        }
    }
}
