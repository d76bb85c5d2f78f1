//! The one place where failures become HTTP responses: every error is an RFC 7644 §3.12 SCIM
//! Error body with `Content-Type: application/scim+json`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use scim_proto::ScimError;
use scim_store::StoreError;

/// `application/scim+json` (RFC 7644 §3.1, §8.1).
pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    pub error: ScimError,
    /// Seconds for `Retry-After` on 429/503.
    pub retry_after: Option<u64>,
    /// Adds `WWW-Authenticate: Bearer` (RFC 6750 §3) to a 401.
    pub www_authenticate: bool,
}

impl ApiError {
    pub fn status(&self) -> u16 {
        self.error.status
    }
}

impl From<ScimError> for ApiError {
    fn from(error: ScimError) -> Self {
        let www_authenticate = error.status == 401;
        ApiError {
            error,
            retry_after: None,
            www_authenticate,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let retry_after = match &e {
            StoreError::Throttled { retry_after_secs } => Some(*retry_after_secs),
            StoreError::Unavailable(_) => Some(1),
            _ => None,
        };
        if let StoreError::Unavailable(detail) = &e {
            tracing::error!(%detail, "store unavailable");
        }
        ApiError {
            error: e.into(),
            retry_after,
            www_authenticate: false,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, scim_json(&self.error.to_json())).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.www_authenticate {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        response
    }
}

/// A JSON body with the SCIM media type.
pub fn scim_json(value: &serde_json::Value) -> Response {
    // Straight into a byte buffer: `to_string` goes through `fmt::Display`, a formatter call per
    // token, which was a measurable share of a `GET /Users/{id}`. Serialising a `Value` cannot
    // fail (its keys are strings), so the empty fallback is never taken.
    let body = serde_json::to_vec(value).unwrap_or_default();
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_CONTENT_TYPE))],
        body,
    )
        .into_response()
}

pub type ApiResult<T> = Result<T, ApiError>;
