//! The two requests of the authorization code flow with PKCE: the authorization request the
//! browser is sent with (OpenID Connect Core 1.0 §3.1.2.1, RFC 7636 §4.3) and the token request
//! (RFC 6749 §4.1.3, RFC 7636 §4.5), and reading the token endpoint's answer.

use super::discovery::Discovery;
use super::{OidcError, PendingLogin};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hyper::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// 256 bits each for state, nonce and verifier; a verifier of 32 bytes is the 43 characters
/// RFC 7636 §4.1 asks for at least.
const RANDOM_BYTES: usize = 32;
/// How much of a provider's `error_description` goes into the log.
const MAX_DESCRIPTION_CHARS: usize = 200;

/// A fresh state, nonce and PKCE verifier, each base64url of random bytes.
pub(super) fn pending_login() -> Result<PendingLogin, OidcError> {
    Ok(PendingLogin {
        state: random_token()?,
        nonce: random_token()?,
        verifier: random_token()?,
    })
}

fn random_token() -> Result<String, OidcError> {
    let mut bytes = [0u8; RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|error| OidcError::Random(error.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// RFC 7636 §4.2, S256: base64url(SHA-256(ASCII(verifier))).
pub(super) fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub(super) fn authorization_url(
    discovery: &Discovery,
    client_id: &str,
    redirect_uri: &str,
    pending: &PendingLogin,
) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &discovery.scope)
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &code_challenge(&pending.verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    // §3.1.2.1 allows an endpoint with a query of its own; ours is appended to it.
    let endpoint = &discovery.authorization_endpoint;
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{separator}{query}")
}

/// The token request's body. `client_id` is sent with or without a secret: RFC 6749 §4.1.3 asks
/// for it from a client that does not authenticate, and Cognito and Canaille accept it beside
/// HTTP Basic.
pub(super) fn token_request_form(code: &str, redirect_uri: &str, verifier: &str, client_id: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_verifier", verifier)
        .append_pair("client_id", client_id)
        .finish()
}

/// RFC 6749 §2.3.1, client_secret_basic: id and secret are each form-urlencoded before they are
/// joined and base64-encoded (a `:` in a secret would otherwise end the id early).
pub(super) fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    let encode = |part: &str| form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client_id), encode(client_secret));
    format!("Basic {}", STANDARD.encode(credentials))
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

/// RFC 6749 §5.2's error answer.
#[derive(Deserialize)]
struct ErrorAnswer {
    error: Option<String>,
    error_description: Option<String>,
}

/// The ID token of a successful token answer; a refusal with the provider's reason.
pub(super) fn id_token_from(
    token_endpoint: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<String, OidcError> {
    if !status.is_success() {
        let answer = serde_json::from_slice::<ErrorAnswer>(body).ok();
        let (error, description) = answer.map_or((None, None), |a| (a.error, a.error_description));
        return Err(OidcError::TokenRefused {
            status: status.as_u16(),
            error,
            description: description.map(|text| text.chars().take(MAX_DESCRIPTION_CHARS).collect()),
        });
    }
    // serde's message is left out: it may quote the answer, which holds tokens.
    let answer: TokenAnswer = serde_json::from_slice(body).map_err(|_| OidcError::Http {
        what: "token request",
        url: token_endpoint.to_owned(),
        reason: String::from("the answer is not a JSON object with a string id_token"),
    })?;
    answer.id_token.ok_or(OidcError::NoIdToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN_ENDPOINT: &str = "https://idp.example.test/token";

    fn discovery(authorization_endpoint: &str, scope: &str) -> Discovery {
        Discovery {
            authorization_endpoint: authorization_endpoint.to_owned(),
            token_endpoint: TOKEN_ENDPOINT.to_owned(),
            jwks_uri: String::from("https://idp.example.test/jwks"),
            scope: scope.to_owned(),
        }
    }

    fn query(url: &str) -> Vec<(String, String)> {
        let (_, query) = url.split_once('?').expect("a query");
        form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    #[test]
    fn the_challenge_is_rfc_7636s_example() {
        // RFC 7636 Appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pending_logins_are_random_base64url_of_32_bytes() {
        let first = pending_login().expect("random");
        let second = pending_login().expect("random");
        for value in [&first.state, &first.nonce, &first.verifier] {
            assert_eq!(value.len(), 43, "{value}");
            assert_eq!(URL_SAFE_NO_PAD.decode(value).expect("base64url").len(), 32);
        }
        assert_ne!(first.state, first.nonce);
        assert_ne!(first.nonce, first.verifier);
        assert_ne!(first.state, second.state);
    }

    #[test]
    fn the_authorization_url_carries_every_parameter() {
        let pending = PendingLogin {
            state: String::from("the-state"),
            nonce: String::from("the-nonce"),
            verifier: String::from("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        };
        let url = authorization_url(
            &discovery(
                "https://idp.example.test/authorize",
                "openid email profile groups",
            ),
            "scim-console",
            "https://scim.example.test/admin/callback?x=1",
            &pending,
        );
        assert!(
            url.starts_with("https://idp.example.test/authorize?response_type=code&"),
            "{url}"
        );
        let pairs = query(&url);
        let expected = [
            ("response_type", "code"),
            ("client_id", "scim-console"),
            ("redirect_uri", "https://scim.example.test/admin/callback?x=1"),
            ("scope", "openid email profile groups"),
            ("state", "the-state"),
            ("nonce", "the-nonce"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, expected);
        // The verifier itself never leaves for the browser.
        assert!(!url.contains("dBjftJeZ4CVP"), "{url}");
    }

    #[test]
    fn an_endpoint_with_a_query_keeps_it() {
        let pending = pending_login().expect("random");
        let url = authorization_url(
            &discovery(
                "https://idp.example.test/authorize?tenant=ops",
                "openid email profile",
            ),
            "c",
            "https://r.example.test/cb",
            &pending,
        );
        assert!(url.starts_with("https://idp.example.test/authorize?tenant=ops&response_type=code&"));
    }

    #[test]
    fn the_token_request_sends_code_verifier_and_client_id() {
        let form = token_request_form(
            "the code",
            "https://r.example.test/cb",
            "verifier",
            "scim-console",
        );
        assert_eq!(
            form,
            "grant_type=authorization_code&code=the+code&redirect_uri=https%3A%2F%2Fr.example.test%2Fcb\
             &code_verifier=verifier&client_id=scim-console"
        );
    }

    #[test]
    fn basic_credentials_are_form_urlencoded_first() {
        // RFC 6749 §2.3.1: "a:b c" is sent as "a%3Ab+c".
        let header = basic_authorization("client:1", "a:b c/é");
        let encoded = header.strip_prefix("Basic ").expect("Basic");
        let decoded = String::from_utf8(STANDARD.decode(encoded).expect("base64")).expect("utf-8");
        assert_eq!(decoded, "client%3A1:a%3Ab+c%2F%C3%A9");
        assert_eq!(
            basic_authorization("scim-console", "s3cret"),
            format!("Basic {}", STANDARD.encode("scim-console:s3cret"))
        );
    }

    #[test]
    fn a_refusal_names_the_providers_error() {
        let body = br#"{"error":"invalid_grant","error_description":"The code is invalid"}"#;
        let error = id_token_from(TOKEN_ENDPOINT, StatusCode::BAD_REQUEST, body).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "the token endpoint refused the code: HTTP 400, invalid_grant (The code is invalid)"
        );
        let error = id_token_from(TOKEN_ENDPOINT, StatusCode::BAD_GATEWAY, b"<html>").expect_err("refused");
        assert_eq!(error.to_string(), "the token endpoint refused the code: HTTP 502");
    }

    #[test]
    fn a_long_description_is_cut() {
        let body = serde_json::json!({"error": "x", "error_description": "d".repeat(5000)}).to_string();
        let OidcError::TokenRefused { description, .. } =
            id_token_from(TOKEN_ENDPOINT, StatusCode::UNAUTHORIZED, body.as_bytes()).expect_err("refused")
        else {
            panic!("not a refusal");
        };
        assert_eq!(description.map(|d| d.len()), Some(MAX_DESCRIPTION_CHARS));
    }

    #[test]
    fn the_id_token_is_taken_from_a_success() {
        let body = br#"{"access_token":"at","id_token":"a.b.c","token_type":"Bearer","expires_in":3600}"#;
        assert_eq!(
            id_token_from(TOKEN_ENDPOINT, StatusCode::OK, body).expect("token"),
            "a.b.c"
        );
        let body = br#"{"access_token":"at","token_type":"Bearer"}"#;
        assert!(matches!(
            id_token_from(TOKEN_ENDPOINT, StatusCode::OK, body),
            Err(OidcError::NoIdToken)
        ));
    }
}
