//! The console's OpenID Connect relying party: operators sign in at the identity provider (an
//! Amazon Cognito user pool in AWS, Canaille in the tests) with the authorization code flow and
//! PKCE (OpenID Connect Core 1.0 §3.1, RFC 7636), and the console learns who they are and which
//! groups they are in from the ID token.
//!
//! - **The ID token is verified here, all of it** (signature by a key of the provider's JWKS,
//!   RS256 only, issuer, audience, times, nonce), although it comes straight from the token
//!   endpoint over TLS: the console grants access by its groups claim alone.
//! - **Discovery and keys are fetched lazily and kept for the process.** A failed discovery is
//!   tried again on the next sign-in; an ID token signed by a key we do not know makes us fetch
//!   the keys again (the provider rotated them), at most once a minute.
//! - **No network in the checks.** URL building, PKCE and the ID token's verification are plain
//!   functions, tested with tokens signed once by a fixed key (`tests/fixtures/oidc/`).
//!
//! The caller keeps the [`PendingLogin`] (signed, in a short-lived cookie) between
//! [`Provider::authorization_request`] and [`Provider::complete`], and compares its `state` with
//! the callback's itself; `complete` checks the nonce.

mod discovery;
mod http;
mod id_token;
mod jwks;
mod login;

pub use id_token::IdTokenError;

use discovery::Discovery;
use http::HttpClient;
use jwks::KeyCache;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// Who the console trusts to sign operators in.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The issuer identifier, exactly as the provider's discovery document and ID tokens name it
    /// (Cognito: `https://cognito-idp.<region>.amazonaws.com/<pool id>`).
    pub issuer: String,
    pub client_id: String,
    /// With a secret the client authenticates at the token endpoint with HTTP Basic
    /// (`client_secret_basic`); without, it is a public client and PKCE alone binds the code.
    pub client_secret: Option<String>,
    /// The ID token claim holding the user's groups: `cognito:groups` for Cognito, `groups` for
    /// Canaille.
    pub groups_claim: String,
}

impl fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("groups_claim", &self.groups_claim)
            .finish()
    }
}

/// What must survive from the authorization request to the callback: the `state` the caller
/// compares with the callback's, the `nonce` the ID token must carry, and the PKCE verifier the
/// token request proves the code's origin with.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin").finish_non_exhaustive()
    }
}

/// The signed-in operator, from a verified ID token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The provider's identifier of the user (`sub`).
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// The groups claim's names; empty when the claim is absent (Canaille leaves it out for a
    /// user in no group).
    pub groups: Vec<String>,
}

/// Why a sign-in failed. Its text is for an operator reading the log: it names the step and the
/// provider's URL or answer, never a code, token or secret.
#[derive(Debug)]
pub enum OidcError {
    /// The OS random source failed (no state, nonce or verifier could be made).
    Random(String),
    /// A call to the provider failed: transport, timeout, status, size or an answer that is not
    /// the JSON expected. `what` names the call.
    Http {
        what: &'static str,
        url: String,
        reason: String,
    },
    /// A URL that may not be used: not http(s), or plain http to a host that is not loopback.
    Url { url: String, reason: String },
    /// OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for.
    IssuerMismatch { configured: String, discovered: String },
    /// The token endpoint refused the code (RFC 6749 §5.2).
    TokenRefused {
        status: u16,
        error: Option<String>,
        description: Option<String>,
    },
    /// The token endpoint's answer has no ID token (the `openid` scope was not granted?).
    NoIdToken,
    /// The ID token failed verification.
    IdToken(IdTokenError),
}

impl fmt::Display for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OidcError::Random(reason) => write!(f, "the OS random source failed: {reason}"),
            OidcError::Http { what, url, reason } => write!(f, "{what} at {url}: {reason}"),
            OidcError::Url { url, reason } => write!(f, "refusing the URL {url}: {reason}"),
            OidcError::IssuerMismatch {
                configured,
                discovered,
            } => write!(
                f,
                "the discovery document of issuer {configured} names issuer {discovered}; \
                 the configured issuer must match it exactly"
            ),
            OidcError::TokenRefused {
                status,
                error,
                description,
            } => {
                write!(f, "the token endpoint refused the code: HTTP {status}")?;
                if let Some(error) = error {
                    write!(f, ", {error}")?;
                }
                if let Some(description) = description {
                    write!(f, " ({description})")?;
                }
                Ok(())
            }
            OidcError::NoIdToken => f.write_str("the token endpoint's answer has no id_token"),
            OidcError::IdToken(error) => write!(f, "the ID token was refused: {error}"),
        }
    }
}

impl std::error::Error for OidcError {}

/// The identity provider as the console uses it: made once per process and shared.
pub struct Provider {
    settings: OidcSettings,
    /// Made on first use: building it reads the system's trust roots from disk.
    http: OnceLock<HttpClient>,
    /// Kept once fetched; a failed fetch leaves it empty for the next call to try again.
    discovery: OnceCell<Discovery>,
    keys: KeyCache,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("settings", &self.settings)
            .field("discovered", &self.discovery.initialized())
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// No I/O: discovery happens on the first sign-in.
    pub fn new(settings: OidcSettings) -> Provider {
        Provider {
            settings,
            http: OnceLock::new(),
            discovery: OnceCell::new(),
            keys: KeyCache::default(),
        }
    }

    /// Where to send the browser, and what must be kept (signed into a short-lived cookie by the
    /// caller) until the callback.
    pub async fn authorization_request(
        &self,
        redirect_uri: &str,
    ) -> Result<(String, PendingLogin), OidcError> {
        let discovery = self.discovery().await?;
        let pending = login::pending_login()?;
        let url = login::authorization_url(discovery, &self.settings.client_id, redirect_uri, &pending);
        Ok((url, pending))
    }

    /// Exchanges the code (with the PKCE verifier) at the token endpoint and verifies the ID
    /// token.
    pub async fn complete(
        &self,
        pending: &PendingLogin,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Identity, OidcError> {
        let discovery = self.discovery().await?;
        let id_token = self.exchange(discovery, pending, code, redirect_uri).await?;
        self.verify(discovery, &id_token, &pending.nonce).await
    }

    fn http(&self) -> &HttpClient {
        self.http.get_or_init(HttpClient::new)
    }

    async fn discovery(&self) -> Result<&Discovery, OidcError> {
        self.discovery
            .get_or_try_init(|| discovery::fetch(self.http(), &self.settings.issuer))
            .await
    }

    /// RFC 6749 §4.1.3 with RFC 7636 §4.5: the code and its verifier for the tokens.
    async fn exchange(
        &self,
        discovery: &Discovery,
        pending: &PendingLogin,
        code: &str,
        redirect_uri: &str,
    ) -> Result<String, OidcError> {
        let settings = &self.settings;
        let form = login::token_request_form(code, redirect_uri, &pending.verifier, &settings.client_id);
        let authorization = settings
            .client_secret
            .as_deref()
            .map(|secret| login::basic_authorization(&settings.client_id, secret));
        let answer = self
            .http()
            .post_form(
                "token request",
                &discovery.token_endpoint,
                form,
                authorization.as_deref(),
            )
            .await?;
        login::id_token_from(&discovery.token_endpoint, answer.status, &answer.body)
    }

    /// OpenID Connect Core 1.0 §3.1.3.7, with the keys we hold, or once more with fresh ones
    /// when the token names a key we do not hold.
    async fn verify(
        &self,
        discovery: &Discovery,
        id_token: &str,
        nonce: &str,
    ) -> Result<Identity, OidcError> {
        let expected = id_token::Expected {
            issuer: &self.settings.issuer,
            client_id: &self.settings.client_id,
            nonce,
            groups_claim: &self.settings.groups_claim,
        };
        let fetch = || jwks::fetch(self.http(), &discovery.jwks_uri);
        let keys = self.keys.current(Instant::now(), fetch).await?;
        match id_token::verify(id_token, &keys, &expected, unix_now()) {
            Err(IdTokenError::UnknownKey(kid)) => {
                match self.keys.refreshed(&keys, Instant::now(), fetch).await? {
                    Some(fresh) => id_token::verify(id_token, &fresh, &expected, unix_now()),
                    None => Err(IdTokenError::UnknownKey(kid)),
                }
            }
            checked => checked,
        }
        .map_err(OidcError::IdToken)
    }
}

/// Seconds since the epoch, as `exp` and `iat` count them.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    const REDIRECT_URI: &str = "https://scim.example.test/admin/callback";

    fn fixture() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/fixtures/oidc/tokens.json")).expect("fixture")
    }

    /// A provider on 127.0.0.1 serving a discovery document (503 the first time), the fixture's
    /// key set, and a token endpoint whose answer holds the fixture token `id_token`. It keeps
    /// every request it had, as text.
    struct FakeProvider {
        issuer: String,
        requests: Arc<Mutex<Vec<String>>>,
    }

    impl FakeProvider {
        async fn start(id_token: &str) -> FakeProvider {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let issuer = format!("http://{}", listener.local_addr().expect("address"));
            let fixture = fixture();
            let discovery = serde_json::json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "jwks_uri": format!("{issuer}/jwks"),
            });
            let tokens = serde_json::json!({"id_token": fixture["tokens"][id_token], "token_type": "Bearer"});
            let requests = Arc::new(Mutex::new(Vec::new()));
            let kept = requests.clone();
            tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    let request = read_request(&mut socket).await;
                    let path = request.split(' ').nth(1).unwrap_or_default().to_owned();
                    let discovered_before = kept
                        .lock()
                        .expect("requests")
                        .iter()
                        .any(|seen: &String| seen.contains("/.well-known/"));
                    kept.lock().expect("requests").push(request);
                    let (status, body) = match path.as_str() {
                        "/.well-known/openid-configuration" if !discovered_before => {
                            ("503 Busy", String::new())
                        }
                        "/.well-known/openid-configuration" => ("200 OK", discovery.to_string()),
                        "/jwks" => ("200 OK", fixture["jwks"].to_string()),
                        "/token" => ("200 OK", tokens.to_string()),
                        _ => ("404 Not Found", String::new()),
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                }
            });
            FakeProvider { issuer, requests }
        }

        fn requests_to(&self, path: &str) -> Vec<String> {
            let requests = self.requests.lock().expect("requests");
            let line = format!(" {path} HTTP/1.1");
            requests
                .iter()
                .filter(|request| request.contains(&line))
                .cloned()
                .collect()
        }

        fn provider(&self) -> Provider {
            Provider::new(OidcSettings {
                issuer: self.issuer.clone(),
                client_id: String::from("scim-console"),
                client_secret: Some(String::from("s3cret")),
                groups_claim: String::from("groups"),
            })
        }
    }

    /// One request: its head, and its body as long as its content-length says.
    async fn read_request(socket: &mut TcpStream) -> String {
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| {
                        line.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|length| length.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return String::from_utf8_lossy(&bytes).into_owned(),
                Ok(read) => bytes.extend_from_slice(&buffer[..read]),
            }
        }
    }

    fn pending() -> PendingLogin {
        PendingLogin {
            state: String::from("the-state"),
            nonce: fixture()["nonce"].as_str().expect("nonce").to_owned(),
            verifier: String::from("the-verifier"),
        }
    }

    #[tokio::test]
    async fn a_failed_discovery_is_tried_again_and_a_good_one_is_kept() {
        let fake = FakeProvider::start("good").await;
        let provider = fake.provider();
        let error = provider
            .authorization_request(REDIRECT_URI)
            .await
            .expect_err("503");
        assert_eq!(
            error.to_string(),
            format!(
                "discovery document at {}/.well-known/openid-configuration: HTTP 503",
                fake.issuer
            )
        );
        for _ in 0..2 {
            let (url, pending) = provider
                .authorization_request(REDIRECT_URI)
                .await
                .expect("discovered");
            assert!(
                url.starts_with(&format!("{}/authorize?response_type=code&", fake.issuer)),
                "{url}"
            );
            assert!(url.contains(&format!("&state={}&", pending.state)), "{url}");
        }
        assert_eq!(fake.requests_to("/.well-known/openid-configuration").len(), 2);
    }

    #[tokio::test]
    async fn the_code_is_exchanged_with_basic_auth_and_the_token_checked_with_the_fetched_keys() {
        let fake = FakeProvider::start("good").await;
        let provider = fake.provider();
        // The fake's first discovery fails.
        let _ = provider.authorization_request(REDIRECT_URI).await;
        for _ in 0..2 {
            let error = provider
                .complete(&pending(), "the code", REDIRECT_URI)
                .await
                .expect_err("another issuer");
            // The signature verified with the key fetched from /jwks; the claims then name the
            // fixture's issuer, not this provider.
            let fixture_issuer = fixture()["issuer"].as_str().expect("issuer").to_owned();
            assert!(
                matches!(&error, OidcError::IdToken(IdTokenError::Issuer(iss)) if *iss == fixture_issuer),
                "{error}"
            );
        }
        // The keys were fetched once and kept.
        assert_eq!(fake.requests_to("/jwks").len(), 1);
        let token_requests = fake.requests_to("/token");
        let request = token_requests.first().expect("a token request");
        let (head, body) = request.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("POST /token HTTP/1.1\r\n"), "{head}");
        let headers: Vec<String> = head.lines().skip(1).map(str::to_ascii_lowercase).collect();
        assert!(headers.contains(&String::from("content-type: application/x-www-form-urlencoded")));
        // base64("scim-console:s3cret")
        assert!(
            head.lines()
                .any(|line| line == "authorization: Basic c2NpbS1jb25zb2xlOnMzY3JldA=="),
            "{head}"
        );
        assert_eq!(
            body,
            "grant_type=authorization_code&code=the+code&redirect_uri=https%3A%2F%2Fscim.example.test%2Fadmin%2Fcallback\
             &code_verifier=the-verifier&client_id=scim-console"
        );
    }

    #[tokio::test]
    async fn a_token_by_an_unknown_key_does_not_make_us_fetch_the_keys_again_within_a_minute() {
        let fake = FakeProvider::start("unknown_kid").await;
        let provider = fake.provider();
        // The fake's first discovery fails.
        let _ = provider.authorization_request(REDIRECT_URI).await;
        for _ in 0..5 {
            let error = provider
                .complete(&pending(), "the code", REDIRECT_URI)
                .await
                .expect_err("unknown key");
            assert!(
                matches!(&error, OidcError::IdToken(IdTokenError::UnknownKey(kid)) if kid == "rotated-key"),
                "{error}"
            );
        }
        assert_eq!(fake.requests_to("/jwks").len(), 1);
        assert_eq!(fake.requests_to("/token").len(), 5);
    }

    #[test]
    fn the_client_secret_stays_out_of_debug_output() {
        let provider = Provider::new(OidcSettings {
            issuer: String::from("https://idp.example.test"),
            client_id: String::from("scim-console"),
            client_secret: Some(String::from("s3cret")),
            groups_claim: String::from("cognito:groups"),
        });
        let printed = format!("{provider:?}");
        assert!(
            printed.contains("<redacted>") && !printed.contains("s3cret"),
            "{printed}"
        );
        assert!(!format!("{:?}", pending()).contains("the-verifier"));
    }
}
