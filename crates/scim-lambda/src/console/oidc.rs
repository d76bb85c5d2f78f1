//! PLACEHOLDER until the helper's module lands (interface only).
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub groups_claim: String,
}
#[derive(Debug)]
pub struct Provider(OidcSettings);
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}
#[derive(Debug)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Vec<String>,
}
#[derive(Debug)]
pub struct OidcError(String);
impl std::fmt::Display for OidcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl Provider {
    pub fn new(settings: OidcSettings) -> Provider {
        Provider(settings)
    }
    pub async fn authorization_request(&self, _: &str) -> Result<(String, PendingLogin), OidcError> {
        Err(OidcError(self.0.issuer.clone()))
    }
    pub async fn complete(&self, _: &PendingLogin, _: &str, _: &str) -> Result<Identity, OidcError> {
        Err(OidcError("todo".into()))
    }
}
