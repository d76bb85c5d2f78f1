//! The registry document, `{ "version": 1, "tokens": [...] }`, and every change an operator can
//! make to it. These are pure functions of the document and the clock (plus fresh random values),
//! so the rules are tested without any storage; [`crate::update`] applies them to a registry.

use crate::error::{DocumentError, RegistryError};
use crate::token::{new_token_id, TokenSecret};
use scim_store::TenantId;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::{Duration, OffsetDateTime};

/// The only document format this build reads and writes.
pub const DOCUMENT_VERSION: u32 = 1;

/// The longest token name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Marks a successor's name: `"<name> (successor of <id>)"`.
const SUCCESSOR_MARK: &str = " (successor of ";

/// One issued token. It holds the token's SHA-256, never the token.
///
/// There is no `last_used`: recording it would turn every authenticated request into a registry
/// write, which for Secrets Manager means a billed `PutSecretValue` per request, a new secret
/// version each time, and write races with operators. The request log carries the token id instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub tenant: String,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoked: Option<OffsetDateTime>,
}

/// Whether a token is accepted at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

impl fmt::Display for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenState::Active => "active",
            TokenState::Expired => "expired",
            TokenState::Revoked => "revoked",
        })
    }
}

impl TokenRecord {
    /// Revocation wins over expiry, so a revoked token reads as revoked forever.
    pub fn state(&self, now: OffsetDateTime) -> TokenState {
        if self.revoked.is_some_and(|at| at <= now) {
            TokenState::Revoked
        } else if self.expires <= now {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }
}

/// What an operator asks for: "enter a name, select an expiration, Create Token".
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub tenant: String,
    pub expires: OffsetDateTime,
}

/// A token just issued: its record and the plaintext, to be shown exactly once.
#[derive(Debug)]
pub struct IssuedToken {
    pub record: TokenRecord,
    pub secret: TokenSecret,
}

/// The outcome of a rotation: the successor, and the old record with its shortened expiry.
#[derive(Debug)]
pub struct Rotation {
    pub successor: IssuedToken,
    pub predecessor: TokenRecord,
}

/// The whole registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryDocument {
    pub version: u32,
    pub tokens: Vec<TokenRecord>,
}

impl Default for RegistryDocument {
    fn default() -> Self {
        RegistryDocument {
            version: DOCUMENT_VERSION,
            tokens: Vec::new(),
        }
    }
}

impl RegistryDocument {
    /// Reads a stored document. Empty content is an empty registry, so a new, blank secret or file
    /// works; anything else must be a version 1 document.
    pub fn parse(text: &str) -> Result<RegistryDocument, RegistryError> {
        if text.trim().is_empty() {
            return Ok(RegistryDocument::default());
        }
        let document: RegistryDocument =
            serde_json::from_str(text).map_err(|e| RegistryError::Corrupt(e.to_string()))?;
        if document.version != DOCUMENT_VERSION {
            return Err(RegistryError::Corrupt(format!(
                "document version {} is not {DOCUMENT_VERSION}, the one this build understands",
                document.version
            )));
        }
        Ok(document)
    }

    /// The stored form: pretty JSON, so an operator can read a local registry file.
    pub fn to_json(&self) -> Result<String, RegistryError> {
        serde_json::to_string_pretty(self)
            .map_err(|e| RegistryError::Corrupt(format!("the registry cannot be written as JSON: {e}")))
    }

    pub fn find(&self, id: &str) -> Option<&TokenRecord> {
        self.tokens.iter().find(|t| t.id == id)
    }

    /// Issues a token for `request.tenant`, valid until `request.expires`.
    pub fn create(&mut self, request: &NewToken, now: OffsetDateTime) -> Result<IssuedToken, RegistryError> {
        let name = validate_name(&request.name)?;
        let tenant =
            TenantId::new(request.tenant.trim()).map_err(|e| DocumentError::InvalidTenant(e.to_string()))?;
        if request.expires <= now {
            return Err(DocumentError::ExpiryNotInFuture.into());
        }
        let secret = TokenSecret::generate()?;
        let mut id = new_token_id()?;
        while self.find(&id).is_some() {
            id = new_token_id()?;
        }
        let record = TokenRecord {
            id,
            name,
            tenant: tenant.to_string(),
            sha256: secret.sha256_hex(),
            created: now,
            expires: request.expires,
            revoked: None,
        };
        self.tokens.push(record.clone());
        Ok(IssuedToken { record, secret })
    }

    /// Revokes a token from `now` on. Revoking a revoked token keeps the first revocation time,
    /// so a repeated command changes nothing.
    pub fn revoke(&mut self, id: &str, now: OffsetDateTime) -> Result<TokenRecord, DocumentError> {
        let record = self.record_mut(id)?;
        record.revoked.get_or_insert(now);
        Ok(record.clone())
    }

    /// Issues a successor with the old token's name (marked as successor), tenant and lifetime,
    /// and shortens the old token's expiry to `now + grace`, so an IdP admin has `grace` to paste
    /// the new token: rotation without downtime.
    pub fn rotate(
        &mut self,
        id: &str,
        grace: Duration,
        now: OffsetDateTime,
    ) -> Result<Rotation, RegistryError> {
        let old = self.record_mut(id)?;
        if old.revoked.is_some() {
            return Err(DocumentError::RotateRevoked(id.to_string()).into());
        }
        let lifetime = (old.expires - old.created).max(Duration::days(1));
        let request = NewToken {
            name: successor_name(&old.name, &old.id),
            tenant: old.tenant.clone(),
            expires: now + lifetime,
        };
        old.expires = old.expires.min(now + grace);
        let predecessor = old.clone();
        let successor = self.create(&request, now)?;
        Ok(Rotation {
            successor,
            predecessor,
        })
    }

    fn record_mut(&mut self, id: &str) -> Result<&mut TokenRecord, DocumentError> {
        self.tokens
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| DocumentError::UnknownToken(id.to_string()))
    }
}

/// A name is what the admin typed, trimmed: 1 to [`MAX_NAME_CHARS`] characters, no control
/// characters (it is printed in a terminal and in one-line listings).
fn validate_name(name: &str) -> Result<String, DocumentError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DocumentError::InvalidName("a name is required".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(DocumentError::InvalidName(format!(
            "at most {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(DocumentError::InvalidName(
            "control characters are not allowed".into(),
        ));
    }
    Ok(name.to_string())
}

/// `"<base> (successor of <id>)"`, where `<base>` is the name without an earlier successor mark,
/// shortened so the result stays within [`MAX_NAME_CHARS`].
fn successor_name(name: &str, id: &str) -> String {
    let base = match name.rfind(SUCCESSOR_MARK) {
        Some(at) if name.ends_with(')') => &name[..at],
        _ => name,
    };
    let suffix = format!("{SUCCESSOR_MARK}{id})");
    let room = MAX_NAME_CHARS.saturating_sub(suffix.chars().count());
    let base: String = base.chars().take(room).collect();
    format!("{}{suffix}", base.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

    fn request(name: &str, tenant: &str, days: i64) -> NewToken {
        NewToken {
            name: name.into(),
            tenant: tenant.into(),
            expires: NOW + Duration::days(days),
        }
    }

    #[test]
    fn create_stores_only_the_hash_and_shows_the_token_once() {
        let mut doc = RegistryDocument::default();
        let issued = doc
            .create(&request("  Okta production ", "acme", 90), NOW)
            .unwrap();
        assert_eq!(issued.record.name, "Okta production");
        assert_eq!(issued.record.tenant, "acme");
        assert_eq!(issued.record.created, NOW);
        assert_eq!(issued.record.expires, datetime!(2025-08-30 12:00 UTC));
        assert_eq!(issued.record.sha256, issued.secret.sha256_hex());
        assert_eq!(doc.tokens, vec![issued.record.clone()]);
        assert!(!doc.to_json().unwrap().contains(issued.secret.expose()));
    }

    #[test]
    fn create_refuses_bad_requests() {
        let cases: &[(NewToken, &str)] = &[
            (request("", "acme", 30), "invalid token name"),
            (request("   ", "acme", 30), "invalid token name"),
            (request(&"x".repeat(101), "acme", 30), "invalid token name"),
            (request("tab\there", "acme", 30), "invalid token name"),
            (request("ok", "", 30), "invalid tenant"),
            (request("ok", "a b", 30), "invalid tenant"),
            (request("ok", "T#x", 30), "invalid tenant"),
            (request("ok", "acme", 0), "the expiry must be in the future"),
            (request("ok", "acme", -1), "the expiry must be in the future"),
        ];
        for (req, message) in cases {
            let mut doc = RegistryDocument::default();
            let err = doc.create(req, NOW).unwrap_err().to_string();
            assert!(err.starts_with(message), "{req:?}: {err}");
            assert!(doc.tokens.is_empty());
        }
        let longest = request(&"é".repeat(MAX_NAME_CHARS), "acme", 1);
        assert!(RegistryDocument::default().create(&longest, NOW).is_ok());
    }

    #[test]
    fn states_follow_the_clock_and_revocation_wins() {
        let mut doc = RegistryDocument::default();
        let id = doc.create(&request("a", "acme", 1), NOW).unwrap().record.id;
        let record = doc.find(&id).unwrap().clone();
        assert_eq!(record.state(NOW), TokenState::Active);
        assert_eq!(record.state(NOW + Duration::days(1)), TokenState::Expired);
        let revoked = doc.revoke(&id, NOW + Duration::hours(1)).unwrap();
        assert_eq!(revoked.state(NOW), TokenState::Active);
        assert_eq!(revoked.state(NOW + Duration::hours(1)), TokenState::Revoked);
        assert_eq!(revoked.state(NOW + Duration::days(9)), TokenState::Revoked);
    }

    #[test]
    fn revoke_is_idempotent_and_names_unknown_ids() {
        let mut doc = RegistryDocument::default();
        let id = doc.create(&request("a", "acme", 30), NOW).unwrap().record.id;
        let first = doc.revoke(&id, NOW).unwrap();
        let again = doc.revoke(&id, NOW + Duration::days(1)).unwrap();
        assert_eq!(first.revoked, Some(NOW));
        assert_eq!(again, first);
        assert_eq!(
            doc.revoke("nope", NOW).unwrap_err(),
            DocumentError::UnknownToken("nope".into())
        );
    }

    #[test]
    fn rotate_issues_a_marked_successor_and_shortens_the_old_expiry_to_the_grace() {
        let mut doc = RegistryDocument::default();
        let old = doc.create(&request("Entra", "acme", 90), NOW).unwrap().record;
        let later = NOW + Duration::days(10);
        let rotation = doc.rotate(&old.id, Duration::days(7), later).unwrap();
        let new = &rotation.successor.record;
        assert_eq!(new.name, format!("Entra (successor of {})", old.id));
        assert_eq!(new.tenant, "acme");
        assert_eq!(
            new.expires,
            later + Duration::days(90),
            "same lifetime as the old one"
        );
        assert_eq!(rotation.predecessor.expires, later + Duration::days(7));
        assert_eq!(doc.find(&old.id).unwrap().expires, later + Duration::days(7));
        assert_eq!(doc.tokens.len(), 2);
        // Rotating the successor replaces the mark instead of stacking it.
        let third = doc.rotate(&new.id, Duration::ZERO, later).unwrap();
        assert_eq!(
            third.successor.record.name,
            format!("Entra (successor of {})", new.id)
        );
        assert_eq!(doc.find(&new.id).unwrap().state(later), TokenState::Expired);
    }

    #[test]
    fn rotate_never_lengthens_the_old_expiry() {
        let mut doc = RegistryDocument::default();
        let old = doc.create(&request("short", "acme", 2), NOW).unwrap().record;
        let rotation = doc.rotate(&old.id, Duration::days(7), NOW).unwrap();
        assert_eq!(rotation.predecessor.expires, old.expires);
    }

    #[test]
    fn rotate_refuses_revoked_and_unknown_tokens() {
        let mut doc = RegistryDocument::default();
        let id = doc.create(&request("a", "acme", 30), NOW).unwrap().record.id;
        doc.revoke(&id, NOW).unwrap();
        let err = doc.rotate(&id, Duration::days(7), NOW).unwrap_err();
        assert!(matches!(
            err,
            RegistryError::Document(DocumentError::RotateRevoked(_))
        ));
        let err = doc.rotate("nope", Duration::days(7), NOW).unwrap_err();
        assert!(matches!(
            err,
            RegistryError::Document(DocumentError::UnknownToken(_))
        ));
        assert_eq!(doc.tokens.len(), 1);
    }

    #[test]
    fn successor_names_stay_within_the_limit() {
        let long = "n".repeat(MAX_NAME_CHARS);
        let name = successor_name(&long, "0123456789abcdef");
        assert_eq!(name.chars().count(), MAX_NAME_CHARS);
        assert!(name.ends_with("(successor of 0123456789abcdef)"));
        assert!(validate_name(&name).is_ok());
        // A name that merely contains the words is not mistaken for a successor.
        assert_eq!(
            successor_name("x (successor of y) z", "id"),
            "x (successor of y) z (successor of id)"
        );
    }

    #[test]
    fn documents_round_trip_and_other_versions_are_refused() {
        let mut doc = RegistryDocument::default();
        doc.create(&request("a", "acme", 30), NOW).unwrap();
        let id = doc.create(&request("b", "default", 30), NOW).unwrap().record.id;
        doc.revoke(&id, NOW).unwrap();
        assert_eq!(RegistryDocument::parse(&doc.to_json().unwrap()).unwrap(), doc);
        assert_eq!(
            RegistryDocument::parse(" \n").unwrap(),
            RegistryDocument::default()
        );
        let json: serde_json::Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
        assert_eq!(json["version"], 1);
        assert_eq!(json["tokens"][0]["created"], "2025-06-01T12:00:00Z");
        assert!(json["tokens"][0].get("revoked").is_none());
        assert!(matches!(
            RegistryDocument::parse(r#"{"version": 2, "tokens": []}"#),
            Err(RegistryError::Corrupt(_))
        ));
        assert!(matches!(
            RegistryDocument::parse("p@ssw0rd-from-a-generated-secret"),
            Err(RegistryError::Corrupt(_))
        ));
    }
}
