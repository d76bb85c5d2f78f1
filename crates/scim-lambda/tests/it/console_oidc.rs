//! The console's OpenID Connect relying party (`console::oidc`) against a real provider: Canaille
//! (tests/console/oidc_provider.py) on 127.0.0.1, from the project's venv (`make tools`; the test
//! fails, never skips, without it).
//!
//! The whole flow, with no browser: the provider's sign-in is two plain HTML forms (login, then
//! password, each with a CSRF token), which the test fills in over HTTP as a browser would,
//! carrying the provider's session cookie. What the console does is done by `Provider`:
//! discovery, the authorization URL, the code exchange with PKCE and client_secret_basic, and the
//! ID token's verification against the provider's keys.

use scim_lambda::console::oidc::{IdTokenError, OidcError, OidcSettings, PendingLogin, Provider};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The provider's start: Canaille's imports take a few seconds on a busy 2-core machine.
const PROVIDER_START: Duration = Duration::from_secs(60);
/// Where the provider sends the browser back to. Nothing listens there: the test reads the
/// code from the redirect itself.
const REDIRECT_URI: &str = "http://127.0.0.1:9/admin/callback";

/// The JSON line oidc_provider.py prints when it is ready.
#[derive(Deserialize)]
struct Details {
    issuer: String,
    client_id: String,
    client_secret: String,
    groups_claim: String,
    users: HashMap<String, User>,
}

#[derive(Deserialize)]
struct User {
    password: String,
}

/// The provider, run under a shell that stops it when this test process lets go of the shell's
/// stdin: on drop, or when the process ends however it ends (the pipe closes with it).
struct CanailleProvider {
    details: Details,
    watchdog: Child,
    stdin: Option<ChildStdin>,
}

impl CanailleProvider {
    fn start() -> CanailleProvider {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} does not exist: run `make tools` (make test does) to install Canaille",
            python.display()
        );
        let script = root.join("tests/console/oidc_provider.py");
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$1" --redirect-uri "$2" & pid=$!; read _; kill $pid; wait $pid"#)
            .arg(&python)
            .arg(&script)
            .arg(REDIRECT_URI)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh");
        let stdin = watchdog.stdin.take().expect("stdin pipe");
        let stdout = watchdog.stdout.take().expect("stdout pipe");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = sender.send(BufReader::new(stdout).read_line(&mut line).map(|_| line));
        });
        let line = match receiver.recv_timeout(PROVIDER_START) {
            Ok(Ok(line)) if !line.is_empty() => line,
            Ok(Ok(_)) => panic!("the OIDC provider exited before it was ready (its stderr is above)"),
            Ok(Err(error)) => panic!("reading the OIDC provider's output: {error}"),
            Err(_) => panic!("the OIDC provider printed nothing in {PROVIDER_START:?}"),
        };
        let details = serde_json::from_str(&line).expect("the provider's JSON line");
        CanailleProvider {
            details,
            watchdog,
            stdin: Some(stdin),
        }
    }

    fn settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.details.issuer.clone(),
            client_id: self.details.client_id.clone(),
            client_secret: Some(self.details.client_secret.clone()),
            groups_claim: self.details.groups_claim.clone(),
        }
    }
}

impl Drop for CanailleProvider {
    fn drop(&mut self) {
        // The watchdog's `read` ends; it stops the provider (SIGTERM) and waits for it.
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// What a browser keeps while it signs in at the provider: its session cookie.
struct Browser {
    http: reqwest::Client,
    origin: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(origin: &str) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Browser {
            http,
            origin: origin.to_owned(),
            cookie: None,
        }
    }

    /// Sends a request with the cookie, keeps the cookie the answer sets, and returns the
    /// answer's redirect (absolute) or page.
    async fn send(&mut self, mut request: reqwest::RequestBuilder) -> (Option<String>, String) {
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("the provider answers");
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().expect("ASCII cookie");
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        let location = response.headers().get("location").map(|location| {
            let location = location.to_str().expect("ASCII location");
            match location.starts_with('/') {
                true => format!("{}{location}", self.origin),
                false => location.to_owned(),
            }
        });
        let status = response.status();
        let page = response.text().await.expect("page");
        assert!(status.is_success() || status.is_redirection(), "{status}: {page}");
        (location, page)
    }

    async fn get(&mut self, url: &str) -> (Option<String>, String) {
        let request = self.http.get(url);
        self.send(request).await
    }

    /// Fills in the form of the page at `url` (its CSRF token and one field) and submits it;
    /// returns where the provider redirects to.
    async fn submit(&mut self, url: &str, field: &str, value: &str) -> String {
        let (_, page) = self.get(url).await;
        let csrf = csrf_token(&page);
        let request = self
            .http
            .post(url)
            .form(&[("csrf_token", csrf.as_str()), (field, value)]);
        let (location, page) = self.send(request).await;
        location.unwrap_or_else(|| panic!("{field} not accepted: {page}"))
    }
}

fn csrf_token(page: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = page.find(marker).expect("a CSRF token in the form") + marker.len();
    let length = page[start..].find('"').expect("end of the CSRF token");
    page[start..start + length].to_owned()
}

/// The callback's query after `user` signed in at the provider, starting from the console's
/// authorization URL.
async fn sign_in(
    provider: &CanailleProvider,
    authorization_url: &str,
    user: &str,
) -> HashMap<String, String> {
    let mut browser = Browser::new(&provider.details.issuer);
    let (login, _) = browser.get(authorization_url).await;
    let login = login.expect("sent to the login page");
    let password_page = browser.submit(&login, "login", user).await;
    let password = &provider.details.users[user].password;
    let back_to_authorize = browser.submit(&password_page, "password", password).await;
    let (callback, page) = browser.get(&back_to_authorize).await;
    let callback = callback.unwrap_or_else(|| panic!("no redirect to the console: {page}"));
    let query = callback
        .strip_prefix(&format!("{REDIRECT_URI}?"))
        .unwrap_or_else(|| panic!("redirected elsewhere: {callback}"));
    url_query(query)
}

fn url_query(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// One sign-in up to the callback: the console's authorization URL, the user at the provider,
/// and the state checked as the console's callback will check it.
async fn code_for(canaille: &CanailleProvider, provider: &Provider, user: &str) -> (PendingLogin, String) {
    let (url, pending) = provider
        .authorization_request(REDIRECT_URI)
        .await
        .expect("authorization request");
    let callback = sign_in(canaille, &url, user).await;
    assert_eq!(callback.get("state"), Some(&pending.state), "{callback:?}");
    // RFC 9207: the provider names itself in the redirect.
    assert_eq!(
        callback.get("iss"),
        Some(&canaille.details.issuer),
        "{callback:?}"
    );
    let code = callback.get("code").expect("a code").clone();
    (pending, code)
}

#[tokio::test]
async fn operators_sign_in_at_canaille_and_their_verified_id_token_names_their_groups() {
    let canaille = CanailleProvider::start();
    let provider = Provider::new(canaille.settings());

    // The authorization URL: Canaille's endpoint, every parameter, and the groups scope (which
    // Canaille's discovery offers).
    let (url, pending) = provider
        .authorization_request(REDIRECT_URI)
        .await
        .expect("authorization request");
    let (endpoint, query) = url.split_once('?').expect("a query");
    assert_eq!(endpoint, format!("{}/oauth/authorize", canaille.details.issuer));
    let query = url_query(query);
    assert_eq!(query["scope"], "openid email profile groups");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(
        (&query["state"], &query["nonce"]),
        (&pending.state, &pending.nonce)
    );

    // A tenant's operator, a global one, and a user in no group (no groups claim at all).
    for (user, groups) in [
        ("acme-admin", vec!["scim-tenant-acme"]),
        ("operator", vec!["scim-operators"]),
        ("nobody", vec![]),
    ] {
        let (pending, code) = code_for(&canaille, &provider, user).await;
        let identity = provider
            .complete(&pending, &code, REDIRECT_URI)
            .await
            .expect("signed in");
        assert_eq!(identity.subject, user);
        assert_eq!(
            identity.email.as_deref(),
            Some(format!("{user}@example.test").as_str())
        );
        assert_eq!(identity.groups, groups, "{user}");

        // A code is good once (RFC 6749 §4.1.2).
        let error = provider
            .complete(&pending, &code, REDIRECT_URI)
            .await
            .expect_err("reused");
        assert!(
            matches!(&error, OidcError::TokenRefused { status: 400, error: Some(e), .. } if e == "invalid_grant"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn canaille_refuses_a_wrong_verifier_and_we_refuse_a_token_for_another_sign_in() {
    let canaille = CanailleProvider::start();
    let provider = Provider::new(canaille.settings());

    // RFC 7636 §4.6: the provider checks the verifier; its refusal reaches the log with its reason.
    let (pending, code) = code_for(&canaille, &provider, "globex-admin").await;
    let wrong_verifier = PendingLogin {
        verifier: String::from("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        ..pending.clone()
    };
    let error = provider
        .complete(&wrong_verifier, &code, REDIRECT_URI)
        .await
        .expect_err("wrong verifier");
    assert!(
        matches!(&error, OidcError::TokenRefused { status: 400, error: Some(e), .. } if e == "invalid_grant"),
        "{error}"
    );

    // The same code with its verifier but another sign-in's nonce: the provider hands out the
    // tokens, and our own check of the ID token refuses them.
    let other_sign_in = PendingLogin {
        nonce: String::from("another-sign-in"),
        ..pending
    };
    let error = provider
        .complete(&other_sign_in, &code, REDIRECT_URI)
        .await
        .expect_err("wrong nonce");
    assert!(
        matches!(error, OidcError::IdToken(IdTokenError::Nonce)),
        "{error}"
    );

    // An issuer configured with a trailing slash is another issuer (Discovery §4.3), although
    // its discovery document is at the same address.
    let settings = OidcSettings {
        issuer: format!("{}/", canaille.details.issuer),
        ..canaille.settings()
    };
    let error = Provider::new(settings)
        .authorization_request(REDIRECT_URI)
        .await
        .expect_err("another issuer");
    assert!(matches!(error, OidcError::IssuerMismatch { .. }), "{error}");

    // A wrong client secret: refused by the provider, and the secret is not in the error.
    let settings = OidcSettings {
        client_secret: Some(String::from("not-the-secret")),
        ..canaille.settings()
    };
    let impostor = Provider::new(settings);
    let (pending, code) = code_for(&canaille, &impostor, "operator").await;
    let error = impostor
        .complete(&pending, &code, REDIRECT_URI)
        .await
        .expect_err("wrong secret");
    assert!(
        matches!(error, OidcError::TokenRefused { status: 401, .. }),
        "{error}"
    );
    assert!(!error.to_string().contains("not-the-secret"), "{error}");
}
