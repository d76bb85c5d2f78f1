//! OpenID Connect Discovery 1.0: the provider's endpoints and keys' address, from
//! `{issuer}/.well-known/openid-configuration`.

use super::http::{provider_uri, HttpClient};
use super::OidcError;
use serde::Deserialize;

/// What the console uses of the discovery document.
#[derive(Debug)]
pub(super) struct Discovery {
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// The scope the authorization request asks for.
    pub scope: String,
}

#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    scopes_supported: Option<Vec<String>>,
}

pub(super) async fn fetch(http: &HttpClient, issuer: &str) -> Result<Discovery, OidcError> {
    let url = discovery_url(issuer);
    let document = http.get_json("discovery document", &url).await?;
    from_document(document, issuer)
}

/// §4.1: a terminating `/` of the issuer is removed before the well-known path is appended.
fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

fn from_document(document: Document, issuer: &str) -> Result<Discovery, OidcError> {
    // §4.3: exactly the issuer asked for, or an attacker's document could name its own keys.
    if document.issuer != issuer {
        return Err(OidcError::IssuerMismatch {
            configured: issuer.to_owned(),
            discovered: document.issuer,
        });
    }
    for endpoint in [
        &document.authorization_endpoint,
        &document.token_endpoint,
        &document.jwks_uri,
    ] {
        provider_uri(endpoint)?;
    }
    Ok(Discovery {
        scope: scope(document.scopes_supported.as_deref().unwrap_or_default()),
        authorization_endpoint: document.authorization_endpoint,
        token_endpoint: document.token_endpoint,
        jwks_uri: document.jwks_uri,
    })
}

/// `groups` only where the provider offers it: Canaille puts the groups claim into the ID token
/// only when that scope is asked for; Cognito has no such scope (it would refuse the request)
/// and always sends `cognito:groups`.
fn scope(supported: &[String]) -> String {
    let mut scope = String::from("openid email profile");
    if supported.iter().any(|offered| offered == "groups") {
        scope.push_str(" groups");
    }
    scope
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(json: serde_json::Value) -> Document {
        serde_json::from_value(json).expect("document")
    }

    fn cognito() -> serde_json::Value {
        serde_json::json!({
            "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool",
            "authorization_endpoint": "https://console.auth.eu-west-1.amazoncognito.com/oauth2/authorize",
            "token_endpoint": "https://console.auth.eu-west-1.amazoncognito.com/oauth2/token",
            "jwks_uri": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool/.well-known/jwks.json",
            "scopes_supported": ["openid", "email", "phone", "profile"],
            "id_token_signing_alg_values_supported": ["RS256"]
        })
    }

    #[test]
    fn the_document_lives_under_the_issuer() {
        assert_eq!(
            discovery_url("http://127.0.0.1:4000"),
            "http://127.0.0.1:4000/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://idp.example.test/realms/ops/"),
            "https://idp.example.test/realms/ops/.well-known/openid-configuration"
        );
    }

    #[test]
    fn cognito_gets_no_groups_scope() {
        let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool";
        let discovery = from_document(document(cognito()), issuer).expect("discovery");
        assert_eq!(discovery.scope, "openid email profile");
        assert_eq!(
            discovery.token_endpoint,
            "https://console.auth.eu-west-1.amazoncognito.com/oauth2/token"
        );
    }

    #[test]
    fn a_provider_offering_groups_is_asked_for_them() {
        let mut json = cognito();
        json["scopes_supported"] = serde_json::json!(["openid", "profile", "email", "groups"]);
        let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool";
        let discovery = from_document(document(json), issuer).expect("discovery");
        assert_eq!(discovery.scope, "openid email profile groups");
    }

    #[test]
    fn no_scopes_supported_means_the_standard_ones() {
        let mut json = cognito();
        json.as_object_mut().expect("object").remove("scopes_supported");
        let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool";
        let discovery = from_document(document(json), issuer).expect("discovery");
        assert_eq!(discovery.scope, "openid email profile");
    }

    #[test]
    fn the_issuer_must_match_exactly() {
        // A trailing slash is another issuer (§4.3 compares the strings).
        let error = from_document(
            document(cognito()),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool/",
        )
        .expect_err("mismatch");
        assert!(matches!(error, OidcError::IssuerMismatch { .. }), "{error}");
    }

    #[test]
    fn an_endpoint_in_plain_http_to_another_host_is_refused() {
        let mut json = cognito();
        json["token_endpoint"] = serde_json::json!("http://console.auth.example.test/oauth2/token");
        let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool";
        let error = from_document(document(json), issuer).expect_err("plain http");
        assert!(matches!(error, OidcError::Url { .. }), "{error}");
    }
}
