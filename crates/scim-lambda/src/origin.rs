//! Origin protection: in AWS, CloudFront adds a secret header to every request it sends to API
//! Gateway, and the function refuses requests without it. The API Gateway URL is public, so
//! without this check anyone could call around CloudFront (and its WAF, TLS policy and the
//! viewer-request function that sets [`PUBLIC_HOST_HEADER`]).
//!
//! No origin secret configured (local runs) means no check. When one is, [`PUBLIC_HOST_HEADER`]
//! is trustworthy because only CloudFront knows the secret, and its viewer-request function
//! overwrites whatever value of that header the client sent.
//!
//! The secret rotates ([`crate::secrets`]): the header may carry the current or the previous
//! value, since CloudFront switches to a new value only when the stack is deployed again.

use crate::error::ApiError;
use crate::secrets::{Rotating, SecretPair};
use axum::extract::Request;
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

    /// Whether a presented header value is the secret (constant time).
    pub fn matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.trim_ascii()).into();
        bool::from(self.sha256.ct_eq(&digest))
    }
}

/// The values the origin header may carry: the current one and, during a rotation, the previous.
#[derive(Debug, Clone)]
pub struct OriginSecrets(Vec<OriginSecret>);

impl OriginSecrets {
    pub fn from_pair(pair: &SecretPair) -> Result<OriginSecrets, String> {
        let values = std::iter::once(&pair.current).chain(&pair.previous);
        let secrets: Vec<OriginSecret> = values
            .filter(|v| !v.trim().is_empty())
            .map(|v| OriginSecret::new(v))
            .collect();
        if pair.current.trim().is_empty() {
            return Err("the current value is empty".into());
        }
        Ok(OriginSecrets(secrets))
    }

    /// Whether `presented` is one of the values; every value is compared, in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0
            .iter()
            .fold(false, |found, secret| secret.matches(presented) | found)
    }
}

/// 403 (a SCIM error) unless the request carries the origin header with the secret; `None`
/// (no secret configured) admits everything. The header is removed from an admitted request,
/// so it can never be logged or echoed.
pub async fn check(secrets: Option<&Rotating<OriginSecrets>>, request: &mut Request) -> Result<(), Response> {
    let Some(secrets) = secrets else {
        return Ok(());
    };
    let secrets = secrets.get().await;
    let ok = request
        .headers()
        .get(ORIGIN_HEADER)
        .is_some_and(|v| secrets.matches(v.as_bytes()));
    if !ok {
        return Err(ApiError::from(ScimError::new(
            403,
            None,
            "this endpoint is reachable only through the service's public URL".to_string(),
        ))
        .into_response());
    }
    request.headers_mut().remove(ORIGIN_HEADER);
    Ok(())
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
    fn the_current_and_the_previous_value_are_both_accepted() {
        let pair = |current: &str, previous: Option<&str>| SecretPair {
            current: current.into(),
            previous: previous.map(Into::into),
        };
        let both = OriginSecrets::from_pair(&pair("new-value", Some("old-value"))).unwrap();
        assert!(both.matches(b"new-value"));
        assert!(both.matches(b"old-value"));
        assert!(!both.matches(b"other"));
        let current_only = OriginSecrets::from_pair(&pair("new-value", None)).unwrap();
        assert!(current_only.matches(b"new-value"));
        assert!(!current_only.matches(b"old-value"));
        assert!(!current_only.matches(b""));
        assert!(OriginSecrets::from_pair(&pair(" ", Some("old-value"))).is_err());
        assert!(!format!("{both:?}").contains("value"));
    }
}
