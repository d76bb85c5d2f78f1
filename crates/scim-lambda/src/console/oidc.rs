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
#[derive(Clone)]
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
