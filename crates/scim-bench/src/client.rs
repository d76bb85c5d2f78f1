//! A minimal SCIM client: the bearer token on every request and one rule for success (2xx, body
//! read whole), shared by seeding, the readiness check and the measured scenarios.

use crate::server::ServerProcess;
use reqwest::header::RETRY_AFTER;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

/// The longest a single request may take; a hung server then fails the run instead of stalling it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an error body goes into a message: enough for a SCIM `detail`.
const ERROR_BODY_CHARS: usize = 300;

/// A response read whole.
#[derive(Debug)]
pub struct Answer {
    /// `METHOD /path`, for messages.
    pub what: String,
    pub status: StatusCode,
    /// `Retry-After` in delay-seconds (RFC 9110 §10.2.3); an HTTP-date is not used by this
    /// service and reads as absent.
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
    /// The response's size on the wire in HTTP/1.1: status line, headers and body.
    pub wire_bytes: usize,
}

impl Answer {
    /// `POST /Users: 400 Bad Request: {"detail": ...}`, the body cut short.
    pub fn describe(&self) -> String {
        let text: String = String::from_utf8_lossy(&self.body)
            .chars()
            .take(ERROR_BODY_CHARS)
            .collect();
        format!("{}: {}: {text}", self.what, self.status)
    }
}

/// A request that got no HTTP response.
#[derive(Debug)]
pub struct Transport {
    pub message: String,
    /// The peer reset or closed the connection under the request (ECONNRESET, EPIPE).
    pub reset: bool,
}

impl Transport {
    /// The message names every cause: reqwest's own says only "error sending request".
    fn of(what: &str, error: &reqwest::Error) -> Self {
        let mut message = format!("{what}: {error}");
        let mut cause = std::error::Error::source(error);
        while let Some(e) = cause {
            message.push_str(&format!(": {e}"));
            cause = e.source();
        }
        Self {
            message,
            reset: is_reset(error),
        }
    }
}

/// Whether an I/O error somewhere in `error`'s chain of causes is a reset or a broken pipe.
fn is_reset(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
            ) {
                return true;
            }
        }
        cause = e.source();
    }
    false
}

/// The `id` of the resource a `POST` created (RFC 7644 §3.3: the response holds the resource).
pub fn created_id(answer: &Answer) -> Result<String, String> {
    let created: Value = serde_json::from_slice(&answer.body)
        .map_err(|e| format!("{}: the response is not JSON: {e}", answer.what))?;
    created["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{}: the response has no string 'id'", answer.what))
}

/// `Retry-After: 3` as three seconds.
fn retry_after_seconds(value: &str) -> Option<Duration> {
    value.trim().parse().ok().map(Duration::from_secs)
}

/// A client for one server and tenant. Cloning shares the connection pool.
#[derive(Debug, Clone)]
pub struct Scim {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Scim {
    pub fn new(base: &str, token: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            // HTTP(S)_PROXY in the environment must not route loopback traffic elsewhere.
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            http,
            base: base.to_string(),
            token: token.to_string(),
        })
    }

    /// A request to `path_and_query`, which is relative to the SCIM base and starts with `/`.
    pub fn request(&self, method: Method, path_and_query: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path_and_query}", self.base))
            .bearer_auth(&self.token)
    }

    /// A client for another server under `base`, with the same token and client settings.
    pub fn with_base(&self, base: &str) -> Self {
        Self {
            base: base.to_string(),
            ..self.clone()
        }
    }

    /// Another client for the same server whose requests carry `token`, sharing the connection pool.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: token.to_string(),
            ..self.clone()
        }
    }

    /// A request with no `Authorization` header, for checking refusals.
    pub fn unauthenticated(&self, method: Method, path_and_query: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path_and_query}", self.base))
    }

    /// Sends `request` and reads the body whole (so the connection can be reused and the
    /// latency includes the full response), whatever the status.
    pub async fn exchange(&self, request: RequestBuilder) -> Result<Answer, Transport> {
        let request = request
            .build()
            .map_err(|e| Transport::of("building a request", &e))?;
        let what = format!("{} {}", request.method(), request.url().path());
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| Transport::of(&what, &e))?;
        let status = response.status();
        // "HTTP/1.1 200 OK\r\n", each "name: value\r\n", the blank line.
        let head_bytes = 17
            + response
                .headers()
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len() + 4)
                .sum::<usize>()
            + 2;
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after_seconds);
        let body = response
            .bytes()
            .await
            .map_err(|e| Transport::of(&format!("{what}: reading the body"), &e))?;
        Ok(Answer {
            what,
            status,
            retry_after,
            wire_bytes: head_bytes + body.len(),
            body: Vec::from(body),
        })
    }

    /// [`Self::exchange`], with any status other than 2xx an error.
    pub async fn send(&self, request: RequestBuilder) -> Result<Vec<u8>, String> {
        self.send_answer(request).await.map(|a| a.body)
    }

    /// [`Self::send`], keeping the whole answer.
    pub async fn send_answer(&self, request: RequestBuilder) -> Result<Answer, String> {
        let answer = self.exchange(request).await.map_err(|e| e.message)?;
        if !answer.status.is_success() {
            return Err(answer.describe());
        }
        Ok(answer)
    }

    /// POSTs `resource` to `path` (`/Users`, `/Groups`) and returns the `id` the server assigned.
    pub async fn create(&self, path: &str, resource: &Value) -> Result<String, String> {
        let answer = self
            .send_answer(self.request(Method::POST, path).json(resource))
            .await?;
        created_id(&answer)
    }

    /// Waits until `GET /ServiceProviderConfig` answers 200, polling while the server is still
    /// starting (connection refused). Any other answer, an exited child or `within` passing is
    /// an error: retrying would not change them.
    pub async fn wait_ready(&self, server: &mut ServerProcess, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            server.ensure_running()?;
            match self.request(Method::GET, "/ServiceProviderConfig").send().await {
                Ok(response) if response.status() == StatusCode::OK => return Ok(()),
                Ok(response) => {
                    return Err(format!(
                        "GET /ServiceProviderConfig answered {} instead of 200",
                        response.status()
                    ))
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("the server did not answer within {within:?}: {e}"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(retry_after_seconds(" 2"), Some(Duration::from_secs(2)));
        assert_eq!(retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn resets_found_among_causes() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert!(is_reset(&Wrapper(ErrorKind::ConnectionReset.into())));
        assert!(!is_reset(&Wrapper(ErrorKind::TimedOut.into())));
    }
}
