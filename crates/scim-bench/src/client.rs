//! A minimal SCIM client: the bearer token on every request and one rule for success (2xx, body
//! read whole), shared by seeding, the readiness check and the measured scenarios.

use crate::server::ServerProcess;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The longest a single request may take; a hung server then fails the run instead of stalling it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of an error body goes into a message: enough for a SCIM `detail`.
const ERROR_BODY_CHARS: usize = 300;

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

    /// Sends `request` and reads the body whole (so the connection can be reused and the
    /// latency includes the full response). Any status other than 2xx is an error.
    pub async fn send(&self, request: RequestBuilder) -> Result<Vec<u8>, String> {
        let request = request
            .build()
            .map_err(|e| format!("cannot build a request: {e}"))?;
        let what = format!("{} {}", request.method(), request.url().path());
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{what}: reading the body: {e}"))?;
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&body)
                .chars()
                .take(ERROR_BODY_CHARS)
                .collect();
            return Err(format!("{what}: {status}: {text}"));
        }
        Ok(Vec::from(body))
    }

    /// POSTs a user and returns the `id` the server assigned.
    pub async fn create_user(&self, user: &Value) -> Result<String, String> {
        let body = self.send(self.request(Method::POST, "/Users").json(user)).await?;
        let created: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("POST /Users: the response is not JSON: {e}"))?;
        created["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "POST /Users: the response has no string 'id'".to_string())
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
