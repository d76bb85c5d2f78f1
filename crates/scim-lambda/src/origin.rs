//! Origin protection: in AWS, CloudFront adds a secret header to every request it sends to API
//! Gateway, and the function refuses requests without it. The API Gateway URL is public, so
//! without this check anyone could call around CloudFront (and its WAF, TLS policy and the
//! viewer-request function that sets [`PUBLIC_HOST_HEADER`]).
//!
//! `SCIM_ORIGIN_SECRET` unset (local runs) means no check. When it is set, [`PUBLIC_HOST_HEADER`]
//! is trustworthy because only CloudFront knows the secret, and its viewer-request function
//! overwrites whatever value of that header the client sent.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scim_proto::ScimError;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// The header CloudFront adds as an origin custom header (template.yaml).
pub const ORIGIN_HEADER: &str = "x-scim-origin-verify";

/// The header CloudFront's viewer-request function sets to the host the client called
/// (template.yaml, `ViewerHostFunction`). A name of our own: API Gateway lists
/// `X-Forwarded-Host` among the headers it reserves, so that one cannot carry it reliably.
pub const PUBLIC_HOST_HEADER: &str = "x-scim-public-host";

/// The expected header value, kept only as a SHA-256 digest so that comparison time depends on
/// neither the value's length nor how much of it a caller guessed right.
#[derive(Clone)]
pub struct OriginSecret {
    sha256: [u8; 32],
}

impl fmt::Debug for OriginSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OriginSecret(<redacted>)")
    }
}

impl OriginSecret {
    pub fn new(value: &str) -> OriginSecret {
        OriginSecret {
            sha256: Sha256::digest(value.trim().as_bytes()).into(),
        }
    }

    /// `SCIM_ORIGIN_SECRET`, when set and not blank.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<OriginSecret> {
        lookup("SCIM_ORIGIN_SECRET")
            .filter(|v| !v.trim().is_empty())
            .map(|v| OriginSecret::new(&v))
    }

    /// Whether a presented header value is the secret (constant time).
    pub fn matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.trim_ascii()).into();
        bool::from(self.sha256.ct_eq(&digest))
    }
}

/// Middleware: 403 (a SCIM error) unless the request carries the origin header with the secret.
/// The header is removed before the request goes further, so it can never be logged or echoed.
pub async fn require_origin(
    State(secret): State<Option<OriginSecret>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(secret) = secret else {
        return next.run(request).await;
    };
    let ok = request
        .headers()
        .get(ORIGIN_HEADER)
        .is_some_and(|v| secret.matches(v.as_bytes()));
    if !ok {
        return ApiError::from(ScimError::new(
            403,
            None,
            "this endpoint is reachable only through the service's public URL".to_string(),
        ))
        .into_response();
    }
    request.headers_mut().remove(ORIGIN_HEADER);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_secret() {
        let s = OriginSecret::new("s3cr3t-value");
        assert!(s.matches(b"s3cr3t-value"));
        assert!(s.matches(b" s3cr3t-value "));
        assert!(!s.matches(b"s3cr3t-valu"));
        assert!(!s.matches(b""));
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn blank_setting_means_no_check() {
        assert!(OriginSecret::from_lookup(|_| None).is_none());
        assert!(OriginSecret::from_lookup(|_| Some("  ".into())).is_none());
        assert!(OriginSecret::from_lookup(|_| Some("x".into())).is_some());
    }
}
