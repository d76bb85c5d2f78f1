//! Existing accounts: users that exist in a tenant but were not created by its SCIM client
//! (imported with `scimctl import`), the conflicts a `POST /Users` meeting one of them records,
//! and [`create_user`], the create path every caller of a user create goes through.
//!
//! An unmanaged account is invisible to SCIM (GET, lists and filters see only managed users), so
//! an IdP's lookup-before-create finds nothing and POSTs; the tenant's `conflict_policy` then
//! decides whether the POST adopts the account (`link`) or is refused for an administrator to
//! review (`review`). What both stores share lives here: which attributes match ([`match_keys`],
//! with the one definition of the primary email), the conflict id, the attribute overlay.

use crate::attributes::{fold, fold_before_nfc};
use crate::{
    ConflictPolicy, Expect, MemberChange, ResourceKind, ResourceStore, SettingsStore, StoreError,
    StoredResource, TenantId,
};
use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// How often [`create_user`] starts over when the account it meets changes under it (adopted
/// or set aside by a concurrent request).
const ATTEMPTS: usize = 3;

/// What a new user's attributes can meet an unmanaged account on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum MatchAttribute {
    #[serde(rename = "userName")]
    UserName,
    #[serde(rename = "email")]
    Email,
}

impl MatchAttribute {
    /// The name a conflict and the docs use.
    pub fn name(self) -> &'static str {
        match self {
            MatchAttribute::UserName => "userName",
            MatchAttribute::Email => "email",
        }
    }

    pub fn parse(name: &str) -> Option<MatchAttribute> {
        match name {
            "userName" => Some(MatchAttribute::UserName),
            "email" => Some(MatchAttribute::Email),
            _ => None,
        }
    }
}

/// The primary email of a user, lower-cased: the `emails` entry with `primary: true`, else the
/// only entry (RFC 7643 §2.4: at most one value is `primary`; a single value is the obvious
/// one). Several entries none of which is primary name no primary email.
pub fn primary_email(attrs: &Map<String, Value>) -> Option<String> {
    primary_email_folded(attrs, fold)
}

fn primary_email_folded(attrs: &Map<String, Value>, fold: fn(&str, bool) -> String) -> Option<String> {
    let emails = attrs.get("emails")?.as_array()?;
    let chosen = match emails
        .iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
    {
        Some(e) => e,
        None if emails.len() == 1 => emails.first()?,
        None => return None,
    };
    let value = chosen.get("value")?.as_str()?.trim();
    (!value.is_empty()).then(|| fold(value, false))
}

/// The values an unmanaged account is matched on, normalised as identifiers are
/// ([`fold`]: NFC, lower case: both compare case-insensitively, RFC 7643 §4.1 `userName` is
/// `caseExact: false`), in the order a match is
/// looked for: `userName` first, then the primary email.
pub fn match_keys(attrs: &Map<String, Value>) -> Vec<(MatchAttribute, String)> {
    match_keys_folded(attrs, fold)
}

/// What [`match_keys`] was before identifiers compared in NFC ([`fold_before_nfc`]): only for
/// `scimctl reindex`, which finds match entries under it.
pub fn match_keys_before_nfc(attrs: &Map<String, Value>) -> Vec<(MatchAttribute, String)> {
    match_keys_folded(attrs, fold_before_nfc)
}

fn match_keys_folded(
    attrs: &Map<String, Value>,
    fold: fn(&str, bool) -> String,
) -> Vec<(MatchAttribute, String)> {
    let mut keys = Vec::with_capacity(2);
    if let Some(name) = attrs.get("userName").and_then(Value::as_str) {
        keys.push((MatchAttribute::UserName, fold(name, false)));
    }
    if let Some(email) = primary_email_folded(attrs, fold) {
        keys.push((MatchAttribute::Email, email));
    }
    keys
}

/// An imported account, as a store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnmanagedAccount {
    /// The id it keeps when adopted.
    pub id: String,
    /// Incremented by every change; adoption continues it.
    pub version: u64,
    pub created: String,
    pub last_modified: String,
    /// Canonical attributes, as for a managed user.
    pub attrs: Map<String, Value>,
    /// When a rejected conflict set it aside: it then matches nothing and cannot be adopted.
    pub set_aside: Option<String>,
}

/// The unmanaged account a new user's attributes meet, and on what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmanagedMatch {
    /// The unmanaged account's id.
    pub account: String,
    pub attribute: MatchAttribute,
    /// The normalised value both share.
    pub value: String,
}

/// Where a conflict stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    /// Waiting for an administrator; the POST is refused with 409.
    Open,
    /// `scimctl conflicts link`: the next retry of the POST adopts the account.
    Approved,
    /// `scimctl conflicts reject`: the account was set aside; the next retry creates a new user.
    Rejected,
}

impl ConflictStatus {
    pub fn name(self) -> &'static str {
        match self {
            ConflictStatus::Open => "open",
            ConflictStatus::Approved => "approved",
            ConflictStatus::Rejected => "rejected",
        }
    }

    pub fn parse(name: &str) -> Option<ConflictStatus> {
        match name {
            "open" => Some(ConflictStatus::Open),
            "approved" => Some(ConflictStatus::Approved),
            "rejected" => Some(ConflictStatus::Rejected),
            _ => None,
        }
    }
}

/// A `POST /Users` refused because it met an unmanaged account (policy `review`). One per
/// account and posted `userName`: retries update it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// [`conflict_id`] of the account and the posted `userName`.
    pub id: String,
    pub unmanaged_id: String,
    pub matched_attribute: MatchAttribute,
    pub matched_value: String,
    /// The `userName` the IdP posted, as last posted.
    pub user_name: String,
    /// The last POST's canonical attributes, without `password`.
    pub posted: Map<String, Value>,
    pub first_attempt: String,
    pub last_attempt: String,
    pub attempts: u64,
    pub status: ConflictStatus,
    /// When an administrator approved or rejected it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
}

/// Which of a tenant's conflicts [`UnmanagedStore::list_conflicts`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictScope {
    /// Those waiting for a decision.
    Open,
    /// Every one, decided ones with their status and `resolved` time.
    All,
}

impl ConflictScope {
    pub fn includes(self, conflict: &Conflict) -> bool {
        self == ConflictScope::All || conflict.status == ConflictStatus::Open
    }
}

/// An administrator's decision on a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The account is the IdP's user: the next retry adopts it.
    Link,
    /// The account is somebody else: it is set aside, the next retry creates a new user.
    Reject,
}

/// The attributes an import keeps ([`crate::stored_attributes`]), which must name a `userName`.
pub fn importable(attrs: Map<String, Value>) -> Result<Map<String, Value>, StoreError> {
    let attrs = crate::stored_attributes(attrs);
    if !attrs.get("userName").is_some_and(Value::is_string) {
        return Err(StoreError::Invalid("an imported account needs a userName".into()));
    }
    Ok(attrs)
}

/// The conflict a refused POST of `posted` makes with `account`: its id ([`conflict_id`]) and
/// the posted `userName` (empty if none).
pub fn conflict_of(account: &str, posted: &Map<String, Value>) -> (String, String) {
    let user_name = posted
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    (conflict_id(account, &user_name), user_name)
}

/// The id of the conflict between an unmanaged account and a posted `userName` (compared
/// case-insensitively): deterministic, so every retry of one POST finds the same conflict.
pub fn conflict_id(account: &str, user_name: &str) -> String {
    let digest = Sha256::digest(format!("{account}\n{}", fold(user_name, false)).as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The attributes a conflict keeps of a POST: everything but the (hashed) password.
pub fn without_secrets(posted: &Map<String, Value>) -> Map<String, Value> {
    let mut kept = posted.clone();
    kept.remove("password");
    kept
}

/// An adopted account's attributes: the imported ones overlaid by the POST's, per top-level
/// attribute (an attribute the POST carries replaces the imported one whole).
pub fn adopted_attributes(imported: &Map<String, Value>, posted: &Map<String, Value>) -> Map<String, Value> {
    let mut merged = imported.clone();
    for (k, v) in posted {
        merged.insert(k.clone(), v.clone());
    }
    merged
}

/// Whether `resolution` changes `conflict` (`Ok(false)`: it is already so, nothing to write), or
/// why it may not (an approved conflict cannot be rejected, nor a rejected one approved).
pub fn check_resolution(conflict: &Conflict, resolution: Resolution) -> Result<bool, StoreError> {
    match (conflict.status, resolution) {
        (ConflictStatus::Open, _) => Ok(true),
        (ConflictStatus::Approved, Resolution::Link) | (ConflictStatus::Rejected, Resolution::Reject) => {
            Ok(false)
        }
        (status, _) => Err(StoreError::Invalid(format!(
            "conflict {} is already {}",
            conflict.id,
            status.name()
        ))),
    }
}

/// What a user create came to.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    /// A new user.
    Created(StoredResource),
    /// An unmanaged account was adopted: same id, the merged attributes.
    Adopted(StoredResource),
    /// Refused for review: the conflict recorded (or updated by this retry).
    Conflict(Conflict),
}

/// Creates a user (RFC 7644 §3.3) the way the tenant's `conflict_policy` says when the new
/// user meets an unmanaged account. A create that meets none costs one store call: the store's
/// create itself detects the match ([`StoreError::UnmanagedMatch`]). Then the settings are read;
/// under `review` the conflict is recorded and, unless an administrator approved it, the
/// outcome is [`CreateOutcome::Conflict`]; under `link`, or once approved, the account is read
/// and adopted with [`adopted_attributes`]. A duplicate of a managed user stays
/// [`StoreError::Uniqueness`] whatever the policy.
pub async fn create_user<S: ResourceStore + SettingsStore + UnmanagedStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    attrs: Map<String, Value>,
) -> Result<CreateOutcome, StoreError> {
    for _ in 0..ATTEMPTS {
        let matched = match store
            .create(tenant, ResourceKind::User, attrs.clone(), MemberChange::default())
            .await
        {
            Ok(created) => return Ok(CreateOutcome::Created(created)),
            Err(StoreError::UnmanagedMatch(m)) => m,
            Err(e) => return Err(e),
        };
        let settings = store.settings(tenant).await?.settings;
        if settings.conflict_policy == ConflictPolicy::Review {
            let conflict = store
                .record_conflict(tenant, &matched, &without_secrets(&attrs))
                .await?;
            if conflict.status != ConflictStatus::Approved {
                return Ok(CreateOutcome::Conflict(conflict));
            }
        }
        let account = match store.get_unmanaged(tenant, &matched.account).await {
            Ok(a) if a.set_aside.is_none() => a,
            // Adopted or set aside meanwhile: the next create sees what is there now.
            Ok(_) | Err(StoreError::NotFound) => continue,
            Err(e) => return Err(e),
        };
        let merged = adopted_attributes(&account.attrs, &attrs);
        match store
            .adopt_unmanaged(tenant, &account, Expect::Version(account.version), merged)
            .await
        {
            Ok(adopted) => return Ok(CreateOutcome::Adopted(adopted)),
            Err(
                StoreError::NotFound | StoreError::VersionConflict { .. } | StoreError::UnmanagedMatch(_),
            ) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Throttled { retry_after_secs: 1 })
}

/// Existing (unmanaged) accounts and their conflicts. Unmanaged accounts are invisible to
/// [`ResourceStore::get`], [`ResourceStore::query`] and filters; [`ResourceStore::create`] of a
/// user that meets one (on [`match_keys`], case-insensitively) fails with
/// [`StoreError::UnmanagedMatch`] after checking managed uniqueness (a duplicate of a managed
/// user is `Uniqueness`).
#[async_trait]
pub trait UnmanagedStore: Send + Sync {
    /// Imports an account as unmanaged, with a new id and version 1. `userName` is required
    /// (`Invalid`); refused with `Uniqueness` when a managed user holds its `userName` (or another
    /// unique value), and with `UnmanagedMatch` when another unmanaged account holds its
    /// `userName` or primary email.
    async fn import_unmanaged(
        &self,
        tenant: &TenantId,
        attrs: Map<String, Value>,
    ) -> Result<UnmanagedAccount, StoreError>;

    /// The unmanaged account a new user with `attrs` would meet (`userName` first, then primary
    /// email), if any. Set-aside accounts meet nothing.
    async fn find_unmanaged(
        &self,
        tenant: &TenantId,
        attrs: &Map<String, Value>,
    ) -> Result<Option<UnmanagedMatch>, StoreError>;

    /// One unmanaged account, set aside or not, or `NotFound` (also once adopted).
    async fn get_unmanaged(&self, tenant: &TenantId, id: &str) -> Result<UnmanagedAccount, StoreError>;

    /// Adopts `account` (as read) as a managed user with `attrs`: same id and created time,
    /// version + 1, conditional on `expect` against the account's current version. Atomic with
    /// claiming managed uniqueness (`Uniqueness` if taken, nothing written). `NotFound` when the
    /// account is gone or set aside; `UnmanagedMatch` when `attrs` meet another unmanaged account.
    async fn adopt_unmanaged(
        &self,
        tenant: &TenantId,
        account: &UnmanagedAccount,
        expect: Expect,
        attrs: Map<String, Value>,
    ) -> Result<StoredResource, StoreError>;

    /// Records a refused POST that met `matched`: the conflict
    /// [`conflict_id`]`(account, posted userName)` is created open with one attempt,
    /// or, when it exists, gets one more attempt, the new last-attempt time and the latest
    /// `posted` (its status unchanged). `posted` is kept as given (the caller removes secrets).
    async fn record_conflict(
        &self,
        tenant: &TenantId,
        matched: &UnmanagedMatch,
        posted: &Map<String, Value>,
    ) -> Result<Conflict, StoreError>;

    /// The tenant's conflicts in `scope`, by id.
    async fn list_conflicts(
        &self,
        tenant: &TenantId,
        scope: ConflictScope,
    ) -> Result<Vec<Conflict>, StoreError>;

    /// An administrator's decision on an open conflict (`NotFound` if there is none): `Link`
    /// approves it; `Reject` rejects it and, atomically, sets its account aside (it keeps its
    /// record, marked with the time, and no longer matches anything). Repeating the same
    /// decision changes nothing; the opposite one is `Invalid`.
    async fn resolve_conflict(
        &self,
        tenant: &TenantId,
        id: &str,
        resolution: Resolution,
    ) -> Result<Conflict, StoreError>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn primary_email_is_the_primary_else_the_only_one() {
        let one = obj(json!({"emails": [{"value": "A@Example.com", "type": "work"}]}));
        assert_eq!(primary_email(&one).as_deref(), Some("a@example.com"));
        let primary = obj(json!({"emails": [
            {"value": "home@x.org", "type": "home"},
            {"value": "Work@X.org", "type": "work", "primary": true}]}));
        assert_eq!(primary_email(&primary).as_deref(), Some("work@x.org"));
        let none = obj(json!({"emails": [{"value": "a@x.org"}, {"value": "b@x.org"}]}));
        assert_eq!(primary_email(&none), None);
        assert_eq!(primary_email(&obj(json!({"userName": "a"}))), None);
        assert_eq!(
            match_keys(&obj(json!({"userName": "Bob", "emails": [{"value": "B@x.org"}]}))),
            vec![
                (MatchAttribute::UserName, "bob".to_string()),
                (MatchAttribute::Email, "b@x.org".to_string())
            ]
        );
    }

    #[test]
    fn conflict_ids_are_per_account_and_user_name_ignoring_case() {
        assert_eq!(conflict_id("a", "Bob"), conflict_id("a", "bob"));
        assert_ne!(conflict_id("a", "bob"), conflict_id("b", "bob"));
        assert_ne!(conflict_id("a", "bob"), conflict_id("a", "bobby"));
        assert_eq!(conflict_id("a", "bob").len(), 32);
    }

    #[test]
    fn adoption_overlays_top_level_attributes() {
        let imported =
            obj(json!({"userName": "bob", "title": "Eng", "name": {"givenName": "Bob", "familyName": "B"}}));
        let posted = obj(json!({"userName": "Bob", "name": {"givenName": "Robert"}, "active": true}));
        assert_eq!(
            Value::Object(adopted_attributes(&imported, &posted)),
            json!({"userName": "Bob", "title": "Eng", "name": {"givenName": "Robert"}, "active": true})
        );
        let with_password = obj(json!({"userName": "a", "password": "$argon2id$..."}));
        assert_eq!(
            Value::Object(without_secrets(&with_password)),
            json!({"userName": "a"})
        );
    }
}
