//! The calls to the provider: a GET of a JSON document, a POST of a form. HTTP/1.1 over scim-aws's
//! TLS setup (rustls on ring, the system's trust roots), each call bounded in time and size.

use super::OidcError;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use std::error::Error;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// For the whole call: connect, TLS, request, and the answer to its last byte.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Discovery documents and key sets are a few KiB; a token answer less.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A provider's answer, read whole.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

pub(super) struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    pub fn new() -> HttpClient {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        // The https connector below chooses TLS by the URL's scheme.
        tcp.enforce_http(false);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(scim_aws::tls_config())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            // No pooled connections: discovery and keys are kept, so a connection would serve
            // one token request a sign-in, and under Lambda an idle one goes stale while the
            // environment is frozen.
            .pool_max_idle_per_host(0)
            .build(https);
        HttpClient { client }
    }

    /// GETs `url` and reads its 2xx answer as `T`. `what` names the call in errors.
    pub async fn get_json<T: DeserializeOwned>(&self, what: &'static str, url: &str) -> Result<T, OidcError> {
        let request = Request::builder()
            .method(Method::GET)
            .header(ACCEPT, "application/json");
        let answer = self.send(what, url, request, Full::default()).await?;
        if !answer.status.is_success() {
            return Err(failed(what, url, format!("HTTP {}", answer.status.as_u16())));
        }
        serde_json::from_slice(&answer.body)
            .map_err(|error| failed(what, url, format!("unexpected answer: {error}")))
    }

    /// POSTs a form (already encoded) to `url`, with an `Authorization` header when given; the
    /// answer is returned whatever its status.
    pub async fn post_form(
        &self,
        what: &'static str,
        url: &str,
        form: String,
        authorization: Option<&str>,
    ) -> Result<Answer, OidcError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json");
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        self.send(what, url, request, Full::new(Bytes::from(form))).await
    }

    async fn send(
        &self,
        what: &'static str,
        url: &str,
        request: hyper::http::request::Builder,
        body: Full<Bytes>,
    ) -> Result<Answer, OidcError> {
        let uri = provider_uri(url)?;
        let request = request
            .uri(uri)
            .body(body)
            .map_err(|error| failed(what, url, error.to_string()))?;
        let call = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| chain(&error))?;
            let (head, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|error| match error.downcast_ref::<LengthLimitError>() {
                    Some(_) => format!("answer larger than {MAX_BODY_BYTES} bytes"),
                    None => chain(error.as_ref()),
                })?;
            Ok(Answer {
                status: head.status,
                body: body.to_bytes(),
            })
        };
        match tokio::time::timeout(TIMEOUT, call).await {
            Ok(answer) => answer.map_err(|reason| failed(what, url, reason)),
            Err(_elapsed) => Err(failed(
                what,
                url,
                format!("no complete answer within {TIMEOUT:?}"),
            )),
        }
    }
}

/// A URL of the provider the console may call or send a browser to: https, or plain http to a
/// loopback address (a provider run by the tests). Anything else would carry codes and tokens
/// in the clear.
pub(super) fn provider_uri(url: &str) -> Result<Uri, OidcError> {
    let refused = |reason: &str| OidcError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url.parse().map_err(|_| refused("not a URL"))?;
    let host = uri.host().ok_or_else(|| refused("no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        Some("http") => Err(refused("plain http is allowed to a loopback address only")),
        _ => Err(refused("not an http(s) URL")),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn failed(what: &'static str, url: &str, reason: String) -> OidcError {
    OidcError::Http {
        what,
        url: url.to_owned(),
        reason,
    }
}

/// An error with its causes: hyper's own text ("client error (Connect)") says little alone.
fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn https_anywhere_and_plain_http_only_to_loopback() {
        for allowed in [
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/openid-configuration",
            "http://127.0.0.1:41213/oauth/token",
            "http://127.1.2.3/x",
            "http://localhost:8080/x",
            "http://[::1]:8080/x",
        ] {
            assert!(provider_uri(allowed).is_ok(), "{allowed}");
        }
        for refused in [
            "http://idp.example.test/token",
            "http://10.0.0.1/token",
            "ftp://127.0.0.1/x",
            "/relative",
            "not a url",
        ] {
            assert!(
                matches!(provider_uri(refused), Err(OidcError::Url { .. })),
                "{refused}"
            );
        }
    }

    /// A server on 127.0.0.1 that answers each connection's first request with `answer`, or
    /// never answers when it is None.
    async fn server(answer: Option<Vec<u8>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    let _ = socket.read(&mut buffer).await;
                    match answer {
                        Some(answer) => {
                            let _ = socket.write_all(&answer).await;
                        }
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        format!("http://{address}/doc")
    }

    fn answer(status: &str, body: &[u8]) -> Vec<u8> {
        let mut bytes = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    #[tokio::test]
    async fn a_json_answer_is_read() {
        let url = server(Some(answer("200 OK", br#"{"a":1}"#))).await;
        let value: serde_json::Value = HttpClient::new().get_json("test", &url).await.expect("answer");
        assert_eq!(value, serde_json::json!({"a": 1}));
    }

    #[tokio::test]
    async fn an_error_status_is_refused_with_its_code() {
        let url = server(Some(answer("404 Not Found", b"{}"))).await;
        let error = HttpClient::new()
            .get_json::<serde_json::Value>("discovery", &url)
            .await
            .expect_err("404");
        assert_eq!(error.to_string(), format!("discovery at {url}: HTTP 404"));
    }

    #[tokio::test]
    async fn an_answer_over_one_mebibyte_is_refused() {
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        let url = server(Some(answer("200 OK", &body))).await;
        let error = HttpClient::new()
            .get_json::<serde_json::Value>("keys", &url)
            .await
            .expect_err("too large");
        assert!(
            error.to_string().ends_with("answer larger than 1048576 bytes"),
            "{error}"
        );
    }

    /// Takes the 5 s of the timeout in real time.
    #[tokio::test]
    async fn a_provider_that_does_not_answer_times_out() {
        let url = server(None).await;
        let error = HttpClient::new()
            .get_json::<serde_json::Value>("keys", &url)
            .await
            .expect_err("timeout");
        assert!(
            error.to_string().ends_with("no complete answer within 5s"),
            "{error}"
        );
    }
}
