//! Typed request inputs. Each extractor turns a malformed input into a SCIM error, never into
//! axum's plain-text rejections (Okta treats a non-SCIM error body as a hard failure).

use crate::error::ApiError;
use crate::origin::PUBLIC_HOST_HEADER;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use scim_proto::{hint, ScimError};
use serde_json::Value;

/// A JSON request body: `application/scim+json` or `application/json` (with any parameters,
/// RFC 7644 §3.1 and §8.1), or no content type at all; at most `SCIM_MAX_BODY_BYTES`.
#[derive(Debug)]
pub struct ScimBody(pub Value);

fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "application/scim+json" || essence.ends_with("+json")
}

impl FromRequest<AppState> for ScimBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.max_body_bytes;
        json_body(req, limit, move || body_too_large(limit))
            .await
            .map(ScimBody)
    }
}

/// The 413 of a body over `SCIM_MAX_BODY_BYTES`.
pub fn body_too_large(limit: usize) -> ScimError {
    ScimError::new(
        413,
        None,
        format!("the request body is larger than {limit} bytes"),
    )
}

/// A BulkRequest body (RFC 7644 §3.7): as [`ScimBody`], at most the bulk `maxPayloadSize`
/// (`SCIM_BULK_MAX_PAYLOAD_BYTES`); beyond it the 413 of RFC 7644 §3.7.4.
#[derive(Debug)]
pub struct BulkBody(pub Value);

impl FromRequest<AppState> for BulkBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.bulk.max_payload_bytes;
        json_body(req, limit, move || scim_proto::bulk::payload_too_large(limit))
            .await
            .map(BulkBody)
    }
}

/// A JSON body of at most `limit` bytes; `too_large` is the 413 beyond it.
async fn json_body(req: Request, limit: usize, too_large: impl Fn() -> ScimError) -> Result<Value, Response> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        if !is_json_media_type(ct) {
            let mut refusal = ApiError::from(
                ScimError::new(
                    415,
                    None,
                    format!("content type '{ct}' is not supported; send application/scim+json"),
                )
                .with_hint(hint::CLIENT_FAULT),
            )
            .into_response();
            // Read the body first, as for a 413: a client that sends it whole before reading
            // must get this answer, not a reset. Past the limit the connection closes.
            if read_body(req.into_body(), limit, &too_large).await.is_err() {
                refusal
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return Err(refusal);
        }
    }
    let body = read_body(req.into_body(), limit, &too_large).await?;
    crate::provisioning_log::note(|n| n.request_body = Some(body.clone()));
    parse_json(&body).map_err(IntoResponse::into_response)
}

/// How much of a body beyond the limit is read and thrown away before answering 413.
const DRAIN_FACTOR: usize = 4;

/// The body, at most `limit` bytes. A larger body is read on and discarded, up to
/// [`DRAIN_FACTOR`] × `limit` in all, so that a client that sends it whole before reading the
/// answer reads the 413: a socket closed with unread input answers with a reset, which loses the
/// response. The 413 closes the connection (beyond the drain, the rest was never read).
async fn read_body(body: Body, limit: usize, too_large: impl Fn() -> ScimError) -> Result<Bytes, Response> {
    let drain_limit = limit.saturating_mul(DRAIN_FACTOR);
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen: usize = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::from(ScimError::invalid_syntax(format!(
                "the request body could not be read: {e}"
            )))
            .into_response()
        })?;
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            kept.extend_from_slice(&chunk);
        } else if seen >= drain_limit {
            break;
        }
    }
    if seen > limit {
        let mut response = ApiError::from(too_large()).into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Err(response);
    }
    Ok(Bytes::from(kept))
}

fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(
            ScimError::invalid_syntax("the request body is empty; a JSON object is required")
                .with_hint(hint::CLIENT_FAULT)
                .into(),
        );
    }
    // serde_json's message ends with the line and column already.
    serde_json::from_slice(body).map_err(|e| {
        ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
            .with_hint(hint::CLIENT_FAULT)
            .into()
    })
}

/// The URL-decoded query parameters, in order (`+` and `%20` both decode to a space, so filters
/// from Entra and Okta read alike).
#[derive(Debug, Default)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    /// The pairs of a URL-encoded text: a query string, or a form's body.
    pub fn parse(encoded: &[u8]) -> QueryPairs {
        QueryPairs(form_urlencoded::parse(encoded).into_owned().collect())
    }

    /// The first value of `name`, as sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(QueryPairs::parse(parts.uri.query().unwrap_or("").as_bytes()))
    }
}

/// The base URL of the SCIM API as the client called it, for `meta.location` and `Location`.
///
/// `SCIM_PUBLIC_BASE_URL` wins; otherwise it is derived from `X-Forwarded-Proto` and
/// [`PUBLIC_HOST_HEADER`] (set by CloudFront) or `Host`. `X-Forwarded-Host` is never read: behind
/// CloudFront nothing overwrites it, so it would be whatever the client sent.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(url) = &state.config.public_base_url {
            return Ok(BaseUrl(url.clone()));
        }
        Ok(BaseUrl(derive_base_url(&parts.headers)))
    }
}

/// `name` as a `HeaderName` constant: a `&str` name is parsed again at every lookup.
fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("").trim())
        .filter(|v| !v.is_empty())
}

const X_FORWARDED_PROTO: header::HeaderName = header::HeaderName::from_static("x-forwarded-proto");

fn derive_base_url(headers: &HeaderMap) -> String {
    let proto = header_str(headers, X_FORWARDED_PROTO).unwrap_or("http");
    let proto = if proto.eq_ignore_ascii_case("https") {
        "https"
    } else {
        "http"
    };
    // A host header that is not a plain host[:port] is ignored rather than echoed into URLs.
    let plain_host = |h: &&str| {
        h.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
    };
    let host = header_str(headers, header::HeaderName::from_static(PUBLIC_HOST_HEADER))
        .filter(plain_host)
        .or_else(|| header_str(headers, header::HOST).filter(plain_host))
        .unwrap_or("localhost");
    format!("{proto}://{host}/scim/v2")
}

/// `If-Match` / `If-None-Match` (RFC 7644 §3.14).
#[derive(Debug, Default)]
pub struct Preconditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Preconditions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let get = |h: header::HeaderName| {
            parts
                .headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        Ok(Preconditions {
            if_match: get(header::IF_MATCH),
            if_none_match: get(header::IF_NONE_MATCH),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_media_types() {
        for ok in [
            "application/json",
            "application/scim+json",
            "application/scim+json; charset=utf-8",
            "Application/JSON",
        ] {
            assert!(is_json_media_type(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/xml",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }

    #[test]
    fn base_url_from_public_host_header() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(derive_base_url(&h), "http://127.0.0.1:8080/scim/v2");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        // A client's X-Forwarded-Host reaches the function unchanged behind CloudFront: ignored.
        h.insert("x-forwarded-host", HeaderValue::from_static("attacker.example"));
        assert_eq!(derive_base_url(&h), "https://127.0.0.1:8080/scim/v2");
        h.insert(
            PUBLIC_HOST_HEADER,
            HeaderValue::from_static("d111.cloudfront.net"),
        );
        assert_eq!(derive_base_url(&h), "https://d111.cloudfront.net/scim/v2");
        h.insert(
            PUBLIC_HOST_HEADER,
            HeaderValue::from_static("evil.example/<script>"),
        );
        assert_eq!(derive_base_url(&h), "https://127.0.0.1:8080/scim/v2");
    }
}
