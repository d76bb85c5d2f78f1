//! The SDK clients' HTTPS client: hyper's HTTP/1.1 client over rustls on ring.
//!
//! The SDK's own client (aws-smithy-http-client) always compiles in HTTP/2 (h2 and hyper's HTTP/2
//! code), which none of our calls need: DynamoDB, Secrets Manager, EventBridge and SQS are plain
//! request and answer over HTTP/1.1. Leaving it out is a large share of the arm64 `bootstrap`
//! (infra/README.md "Bootstrap size"). What this client keeps from the SDK's:
//! - the system's trust roots (loaded once per client), TLS 1.2 and 1.3, ring's cipher suites;
//! - the configuration's connect timeout (TCP and TLS handshake) and read timeout (until the
//!   answer's head), reported to the SDK as timeouts so that its retry strategy retries them;
//! - one connection pool per timeout setting, shared by every SDK client built from one
//!   configuration (so the store's first request reuses the connection the registry read opened);
//! - TCP_NODELAY, and connection poisoning: the SDK drops a connection after a transient error.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper::Uri;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{
    capture_connection, CaptureConnection, HttpConnector as TcpConnector,
};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

/// The HTTPS client of the SDK clients (see the module's description).
pub fn https_client() -> SharedHttpClient {
    SharedHttpClient::new(Http1Client {
        tls: Arc::new(tls_config()),
        connectors: Mutex::default(),
    })
}

/// rustls on ring with the system's trust roots. The connector offers no ALPN protocol (hyper-rustls
/// names none for HTTP/1.1 alone), and a server that is offered none speaks HTTP/1.1. Public for
/// the process's other HTTPS client (the console's OpenID Connect calls), so that one TLS setup
/// serves both. Reads the trust roots from disk at each call: call it once per client.
pub fn tls_config() -> rustls::ClientConfig {
    tls_config_trusting(system_roots())
}

fn system_roots() -> rustls::RootCertStore {
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        tracing::warn!(errors = ?native.errors, "some of the system's root certificates could not be read");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (_added, _unparsable) = roots.add_parsable_certificates(native.certs);
    if roots.is_empty() {
        tracing::warn!("no system root certificates: every HTTPS call will fail");
    }
    roots
}

fn tls_config_trusting(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        // ring's provider supports both safe versions; this cannot fail with it.
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|error| unreachable!("ring supports TLS 1.2 and 1.3: {error}"))
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// The timeouts a connector is built for: SDK clients with the same settings share its pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Timeouts {
    connect: Option<Duration>,
    read: Option<Duration>,
}

struct Http1Client {
    tls: Arc<rustls::ClientConfig>,
    connectors: Mutex<HashMap<Timeouts, SharedHttpConnector>>,
}

impl fmt::Debug for Http1Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http1Client").finish_non_exhaustive()
    }
}

impl HttpClient for Http1Client {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeouts = Timeouts {
            connect: settings.connect_timeout(),
            read: settings.read_timeout(),
        };
        // The map holds only finished connectors, so a poisoned lock leaves it consistent.
        let mut connectors = self.connectors.lock().unwrap_or_else(PoisonError::into_inner);
        connectors
            .entry(timeouts)
            .or_insert_with(|| SharedHttpConnector::new(Http1Connector::new(self.tls.clone(), timeouts)))
            .clone()
    }
}

type Https = HttpsConnector<TcpConnector>;
type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;

/// One pool of HTTP/1.1 connections (TLS, or plain HTTP for a local endpoint such as moto).
struct Http1Connector {
    client: Client<ConnectWithin, SdkBody>,
    read_timeout: Option<Duration>,
}

impl fmt::Debug for Http1Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http1Connector")
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl Http1Connector {
    fn new(tls: Arc<rustls::ClientConfig>, timeouts: Timeouts) -> Http1Connector {
        let mut tcp = TcpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            // The pool's idle timeout needs a timer to run.
            .pool_timer(TokioTimer::new())
            .build(ConnectWithin {
                https,
                timeout: timeouts.connect,
            });
        Http1Connector {
            client,
            read_timeout: timeouts.read,
        }
    }
}

impl HttpConnector for Http1Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(error) => return HttpConnectorFuture::ready(Err(ConnectorError::user(error.into()))),
        };
        let connection = capture_connection(&mut request);
        if let Some(capture) = request.extensions().get::<CaptureSmithyConnection>() {
            capture.set_connection_retriever(move || connection_metadata(&connection));
        }
        let response = self.client.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(response) => response,
                    Err(_elapsed) => return Err(ConnectorError::timeout(Box::new(TimedOut::Read(limit)))),
                },
                None => response.await,
            };
            let response = response.map_err(classify)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|error| ConnectorError::other(error.into(), None))
        })
    }
}

/// What the SDK needs to know of the connection a request went out on: that it can be poisoned
/// (not reused) after a transient error.
fn connection_metadata(connection: &CaptureConnection) -> Option<ConnectionMetadata> {
    let connected = connection.connection_metadata();
    connected.as_ref()?;
    let connection = connection.clone();
    Some(
        ConnectionMetadata::builder()
            .proxied(false)
            .poison_fn(move || {
                if let Some(connected) = connection.connection_metadata().as_ref() {
                    connected.poison();
                }
            })
            .build(),
    )
}

/// The SDK retries timeouts and I/O errors (a refused or reset connection, DNS); everything
/// else is reported as it is.
fn classify(error: hyper_util::client::legacy::Error) -> ConnectorError {
    if source::<TimedOut>(&error).is_some() {
        return ConnectorError::timeout(error.into());
    }
    if error.is_connect() || source::<std::io::Error>(&error).is_some() {
        return ConnectorError::io(error.into());
    }
    match source::<hyper::Error>(&error) {
        Some(hyper) if hyper.is_timeout() => ConnectorError::timeout(error.into()),
        Some(hyper) if hyper.is_user() => ConnectorError::user(error.into()),
        Some(hyper) if hyper.is_closed() || hyper.is_canceled() => ConnectorError::io(error.into()),
        // A connection closed in the middle of an answer: transient, as the SDK's client has it.
        Some(hyper) if hyper.is_incomplete_message() => {
            ConnectorError::other(error.into(), Some(ErrorKind::TransientError))
        }
        _ => ConnectorError::other(error.into(), None),
    }
}

fn source<'a, E: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a E> {
    std::iter::successors(Some(error), |&error| error.source()).find_map(|error| error.downcast_ref::<E>())
}

/// A connect (TCP and TLS handshake) or read (until the answer's head) that took too long.
#[derive(Debug)]
enum TimedOut {
    Connect(Duration),
    Read(Duration),
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimedOut::Connect(limit) => write!(f, "HTTP connect timeout occurred after {limit:?}"),
            TimedOut::Read(limit) => write!(f, "HTTP read timeout occurred after {limit:?}"),
        }
    }
}

impl Error for TimedOut {}

/// The HTTPS connector with the configuration's connect timeout around TCP connect and TLS
/// handshake together.
#[derive(Clone)]
struct ConnectWithin {
    https: Https,
    timeout: Option<Duration>,
}

impl tower_service::Service<Uri> for ConnectWithin {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.https.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.https.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match timeout {
                Some(limit) => tokio::time::timeout(limit, connecting)
                    .await
                    .map_err(|_elapsed| -> BoxError { Box::new(TimedOut::Connect(limit)) })?,
                None => connecting.await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::byte_stream::ByteStream;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A plain-HTTP server on 127.0.0.1 that counts the connections it accepts and answers every
    /// request on them with `200 {}`, or never answers when `silent`.
    async fn server(silent: bool) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    // One request (no body) per read: enough for these tests' GETs.
                    while let Ok(read) = socket.read(&mut buffer).await {
                        if read == 0 || silent {
                            if read == 0 {
                                return;
                            }
                            continue;
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                        if socket.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://{address}/"), connections)
    }

    fn get(uri: &str) -> HttpRequest {
        let mut request = HttpRequest::new(SdkBody::empty());
        request.set_uri(uri).expect("uri");
        request
    }

    /// One GET through `connector` answers `200 {}`; reading the body to its end hands the
    /// connection back to the pool.
    async fn assert_answers_ok(connector: &Http1Connector, uri: &str) {
        let response = connector.call(get(uri)).await.expect("answer");
        assert_eq!(response.status().as_u16(), 200);
        let body = ByteStream::new(response.into_body())
            .collect()
            .await
            .expect("body");
        assert_eq!(body.into_bytes().as_ref(), b"{}");
    }

    fn connector(connect: Option<Duration>, read: Option<Duration>) -> Http1Connector {
        Http1Connector::new(Arc::new(tls_config()), Timeouts { connect, read })
    }

    #[tokio::test]
    async fn calls_one_after_another_share_one_pooled_connection() {
        let (uri, connections) = server(false).await;
        let connector = connector(None, None);
        for _ in 0..3 {
            assert_answers_ok(&connector, &uri).await;
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    /// What the TLS server saw: the ALPN protocol of each handshake it completed, and how many
    /// requests reached it.
    #[derive(Default)]
    struct TlsSeen {
        alpn: Mutex<Vec<Option<Vec<u8>>>>,
        requests: AtomicUsize,
    }

    /// A TLS server on 127.0.0.1 with a fresh self-signed certificate for `localhost`, offering
    /// HTTP/2 and HTTP/1.1 by ALPN, answering `200 {}` to each request. Returns its URL, its
    /// certificate and what it saw.
    async fn tls_server() -> (String, rustls::pki_types::CertificateDer<'static>, Arc<TlsSeen>) {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
        let certificate = certified.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(vec![certificate.clone()], key)
                .expect("server config");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(TlsSeen::default());
        let recorded = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let seen = recorded.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                    seen.alpn.lock().expect("alpn").push(alpn);
                    let mut buffer = [0u8; 4096];
                    while let Ok(read) = tls.read(&mut buffer).await {
                        if read == 0 {
                            return;
                        }
                        seen.requests.fetch_add(1, Ordering::SeqCst);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                        if tls.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (format!("https://localhost:{port}/"), certificate, seen)
    }

    #[tokio::test]
    async fn a_tls_call_verifies_the_server_against_the_roots_and_speaks_http1() {
        let (uri, certificate, seen) = tls_server().await;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certificate).expect("root");
        let connector = Http1Connector::new(
            Arc::new(tls_config_trusting(roots)),
            Timeouts {
                connect: Some(Duration::from_secs(5)),
                read: Some(Duration::from_secs(5)),
            },
        );
        for _ in 0..2 {
            assert_answers_ok(&connector, &uri).await;
        }
        // One handshake for both calls (the pool keeps the TLS connection), and no ALPN protocol
        // agreed although the server offers HTTP/2 first: the connection stays HTTP/1.1.
        let alpn = seen.alpn.lock().expect("alpn").clone();
        assert_eq!(alpn, vec![None]);
        assert_eq!(seen.requests.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_server_the_roots_do_not_vouch_for_gets_no_request() {
        let (uri, _certificate, seen) = tls_server().await;
        // Roots that hold another certificate for the same name.
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(other.cert.der().clone()).expect("root");
        let connector = Http1Connector::new(
            Arc::new(tls_config_trusting(roots)),
            Timeouts {
                connect: None,
                read: None,
            },
        );
        let error = connector
            .call(get(&uri))
            .await
            .expect_err("untrusted certificate");
        // rustls refuses the server's certificate in the handshake: the signature does not verify
        // against the root of that name.
        assert!(format!("{error:?}").contains("InvalidCertificate"), "{error:?}");
        assert_eq!(seen.requests.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_answer_slower_than_the_read_timeout_is_a_timeout_the_sdk_retries() {
        let (uri, _) = server(true).await;
        let connector = connector(None, Some(Duration::from_millis(50)));
        let error = connector.call(get(&uri)).await.expect_err("no answer");
        assert!(error.is_timeout(), "{error:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error_the_sdk_retries() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let connector = connector(Some(Duration::from_secs(5)), None);
        let error = connector
            .call(get(&format!("http://{address}/")))
            .await
            .expect_err("refused");
        assert!(error.is_io(), "{error:?}");
    }
}
