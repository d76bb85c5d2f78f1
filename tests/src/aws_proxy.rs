//! A proxy on 127.0.0.1 in front of moto that counts what the SDK clients pointed at it do: the
//! TCP connections they open (on AWS each would be a TLS handshake) and the calls they make, by
//! `X-Amz-Target` (`DynamoDB_20120810.GetItem`, `secretsmanager.GetSecretValue`, ...), each with
//! the connection it came on.

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use axum::Router;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// What the clients have done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// TCP connections accepted.
    pub connections: u64,
    /// Calls by `X-Amz-Target`.
    pub calls: BTreeMap<String, u64>,
    /// Every call in arrival order: its target and the client's end of its connection.
    pub log: Vec<(String, SocketAddr)>,
}

impl Traffic {
    /// The calls whose target starts with `prefix` (`"secretsmanager."`, `"DynamoDB_"`).
    pub fn calls_to(&self, prefix: &str) -> u64 {
        self.calls
            .iter()
            .filter(|(target, _)| target.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// What happened since `earlier`.
    pub fn since(&self, earlier: &Traffic) -> Traffic {
        let calls = self
            .calls
            .iter()
            .map(|(target, n)| {
                (
                    target.clone(),
                    n - earlier.calls.get(target).copied().unwrap_or(0),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        Traffic {
            connections: self.connections - earlier.connections,
            calls,
            log: self.log[earlier.log.len()..].to_vec(),
        }
    }

    /// Whether calls came on `connection`.
    pub fn used(&self, connection: SocketAddr) -> bool {
        self.log.iter().any(|(_, peer)| *peer == connection)
    }
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    connections: Arc<AtomicU64>,
    log: Mutex<Vec<(String, SocketAddr)>>,
}

/// The proxy, serving until the test's runtime stops.
#[derive(Debug, Clone)]
pub struct CountingProxy {
    /// `http://127.0.0.1:<port>`: the endpoint to give the SDK (`AWS_ENDPOINT_URL`).
    pub endpoint: String,
    shared: Arc<Shared>,
}

impl CountingProxy {
    /// Serves on `listener` (bound by the caller, so the address can go into the environment
    /// before any thread starts), forwarding every request to `upstream`.
    pub fn start(listener: std::net::TcpListener, upstream: &str) -> CountingProxy {
        let endpoint = format!("http://{}", listener.local_addr().expect("the proxy's address"));
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        let connections = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            connections: connections.clone(),
            log: Mutex::new(Vec::new()),
        });
        let counted = listener.tap_io(move |_| {
            connections.fetch_add(1, Ordering::Relaxed);
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        tokio::spawn(async move {
            axum::serve(counted, app.into_make_service_with_connect_info::<SocketAddr>()).await
        });
        CountingProxy { endpoint, shared }
    }

    pub fn traffic(&self) -> Traffic {
        let log = self
            .shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut calls = BTreeMap::new();
        for (target, _) in &log {
            *calls.entry(target.clone()).or_default() += 1;
        }
        Traffic {
            connections: self.shared.connections.load(Ordering::Relaxed),
            calls,
            log,
        }
    }
}

/// Counts the call and hands it to moto unchanged (moto does not check signatures, so the
/// `Host` the SDK signed need not match).
async fn forward(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(no target)")
        .to_string();
    shared
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((target, peer));
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers;
    headers.remove(axum::http::header::HOST);
    let sent = shared
        .client
        .request(parts.method, format!("{}{path}", shared.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let Ok(answer) = sent else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let Ok(bytes) = answer.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    // Hop-by-hop headers are moto's connection's, not the client's: its `Connection: close`
    // would close the client's connection after every call.
    for hop in [
        axum::http::header::CONNECTION,
        axum::http::header::TRANSFER_ENCODING,
        axum::http::HeaderName::from_static("keep-alive"),
    ] {
        response.headers_mut().remove(hop);
    }
    response
}
