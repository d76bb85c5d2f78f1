//! Per-tenant lifecycle settings: what DELETE does, what a POST that meets an imported account
//! does, and which application roles a group grants. Every setting has a safe default, so a
//! tenant that never configured anything is well defined.

use crate::{Expect, StoreError, TenantId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Longest retention of a soft-deleted user: ten years.
pub const MAX_RETENTION_DAYS: u32 = 3650;
/// Most groups `group_roles` may map, and most roles one group may grant: the settings live in
/// one store item, which must stay far below DynamoDB's 400 KB.
pub const MAX_GROUP_MAPPINGS: usize = 1000;
pub const MAX_ROLES_PER_GROUP: usize = 100;
/// Longest group key or role name.
const MAX_NAME_LEN: usize = 256;

/// What `DELETE /Users/{id}` does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteMode {
    /// The user disappears from SCIM at once but is kept for `retention_days`, restorable. The
    /// default: an IdP scoping mistake that deletes everybody must not destroy data for good.
    #[default]
    Soft,
    /// The user and its memberships are removed; nothing is kept.
    Hard,
}

/// What a `POST /Users` that matches an imported (unmanaged) account does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Refuse with 409 and record a conflict for an administrator. The default: adopting an
    /// existing account on a name match alone would let an IdP take over any account.
    #[default]
    Review,
    /// Adopt the account: it becomes SCIM-managed and keeps its id.
    Link,
}

/// A tenant's settings, as `scimctl tenant show` prints them and the store keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    pub delete_mode: DeleteMode,
    /// Days a soft-deleted user is kept before it is purged.
    pub retention_days: u32,
    pub conflict_policy: ConflictPolicy,
    /// Group key (a group's `displayName`, compared case-insensitively, or its `externalId`,
    /// compared exactly) → the application roles membership grants.
    pub group_roles: BTreeMap<String, Vec<String>>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            delete_mode: DeleteMode::default(),
            retention_days: 30,
            conflict_policy: ConflictPolicy::default(),
            group_roles: BTreeMap::new(),
        }
    }
}

/// Settings as stored, with the version every write is conditional on (0: never written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionedSettings {
    pub settings: TenantSettings,
    pub version: u64,
}

fn invalid(detail: impl Into<String>) -> StoreError {
    StoreError::Invalid(detail.into())
}

fn check_name(what: &str, name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what} '{name}' must be 1 to {MAX_NAME_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

impl TenantSettings {
    /// Checks the bounds a store relies on; every write goes through it.
    pub fn validate(&self) -> Result<(), StoreError> {
        if !(1..=MAX_RETENTION_DAYS).contains(&self.retention_days) {
            return Err(invalid(format!(
                "retention_days must be between 1 and {MAX_RETENTION_DAYS}, not {}",
                self.retention_days
            )));
        }
        if self.group_roles.len() > MAX_GROUP_MAPPINGS {
            return Err(invalid(format!(
                "group_roles maps {} groups; at most {MAX_GROUP_MAPPINGS} are allowed",
                self.group_roles.len()
            )));
        }
        for (group, roles) in &self.group_roles {
            check_name("group", group)?;
            if roles.is_empty() || roles.len() > MAX_ROLES_PER_GROUP {
                return Err(invalid(format!(
                    "group '{group}' must grant 1 to {MAX_ROLES_PER_GROUP} roles"
                )));
            }
            for role in roles {
                check_name("role", role)?;
            }
        }
        Ok(())
    }

    /// Parses settings given as JSON (`scimctl tenant set --json`, stored items); unknown keys
    /// are refused so a typo never silently does nothing.
    pub fn from_json(text: &str) -> Result<TenantSettings, StoreError> {
        let settings: TenantSettings =
            serde_json::from_str(text).map_err(|e| invalid(format!("tenant settings are not valid: {e}")))?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and maps of strings always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Applies one `key=value` assignment as operators write them:
    /// `delete_mode=soft|hard`, `retention_days=N`, `conflict_policy=review|link`,
    /// `group_roles.<group>=role[,role...]` (an empty value removes the mapping).
    pub fn assign(&mut self, assignment: &str) -> Result<(), StoreError> {
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| invalid(format!("'{assignment}' is not key=value")))?;
        let key = key.trim();
        let value = value.trim();
        match key {
            "delete_mode" => {
                self.delete_mode = match value {
                    "soft" => DeleteMode::Soft,
                    "hard" => DeleteMode::Hard,
                    _ => return Err(invalid(format!("delete_mode is soft or hard, not '{value}'"))),
                }
            }
            "conflict_policy" => {
                self.conflict_policy = match value {
                    "review" => ConflictPolicy::Review,
                    "link" => ConflictPolicy::Link,
                    _ => {
                        return Err(invalid(format!(
                            "conflict_policy is review or link, not '{value}'"
                        )))
                    }
                }
            }
            "retention_days" => {
                self.retention_days = value
                    .parse()
                    .map_err(|_| invalid(format!("retention_days is a number of days, not '{value}'")))?
            }
            _ => {
                let group = key
                    .strip_prefix("group_roles.")
                    .ok_or_else(|| invalid(format!("unknown setting '{key}'")))?;
                check_name("group", group)?;
                let roles: Vec<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_string)
                    .collect();
                if roles.is_empty() {
                    self.group_roles.remove(group);
                } else {
                    self.group_roles.insert(group.to_string(), roles);
                }
            }
        }
        self.validate()
    }

    /// The roles a group grants, found by its `displayName` (ignoring case) or `externalId`.
    pub fn roles_of_group<'a>(
        &'a self,
        display_name: &'a str,
        external_id: Option<&'a str>,
    ) -> impl Iterator<Item = &'a str> + 'a {
        let name = display_name.to_lowercase();
        self.group_roles
            .iter()
            .filter(move |(key, _)| key.to_lowercase() == name || external_id == Some(key.as_str()))
            .flat_map(|(_, roles)| roles.iter().map(String::as_str))
    }
}

impl fmt::Display for TenantSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pretty = serde_json::to_string_pretty(self).map_err(|_| fmt::Error)?;
        f.write_str(&pretty)
    }
}

/// A tenant's lifecycle settings, stored versioned and written conditionally.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The tenant's settings; the defaults (version 0) when none were ever written.
    async fn settings(&self, tenant: &TenantId) -> Result<VersionedSettings, StoreError>;

    /// Replaces the tenant's settings, conditional on `expect` (`Expect::Version(0)`: only if none
    /// were written yet). Validates them first. Returns the new version.
    async fn put_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
        expect: Expect,
    ) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_are_the_safe_choices() {
        let s = TenantSettings::default();
        assert_eq!(s.delete_mode, DeleteMode::Soft);
        assert_eq!(s.conflict_policy, ConflictPolicy::Review);
        assert_eq!(s.retention_days, 30);
        assert!(s.group_roles.is_empty());
        assert_eq!(TenantSettings::from_json("{}").unwrap(), s);
    }

    #[test]
    fn json_round_trips_and_refuses_unknown_keys() {
        let mut s = TenantSettings::default();
        s.assign("group_roles.Engineering=developer, deployer").unwrap();
        s.assign("delete_mode=hard").unwrap();
        let back = TenantSettings::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        let e = TenantSettings::from_json(r#"{"delete_mod": "hard"}"#).unwrap_err();
        assert!(e.to_string().contains("delete_mod"), "{e}");
        assert!(TenantSettings::from_json(r#"{"delete_mode": "later"}"#).is_err());
    }

    #[test]
    fn assignments() {
        let mut s = TenantSettings::default();
        for a in [
            "delete_mode=hard",
            "conflict_policy=link",
            "retention_days=90",
            "group_roles.Sales=crm-user",
        ] {
            s.assign(a).unwrap();
        }
        assert_eq!(s.delete_mode, DeleteMode::Hard);
        assert_eq!(s.conflict_policy, ConflictPolicy::Link);
        assert_eq!(s.retention_days, 90);
        assert_eq!(s.group_roles["Sales"], vec!["crm-user"]);
        s.assign("group_roles.Sales=").unwrap();
        assert!(s.group_roles.is_empty());

        let before = s.clone();
        for bad in [
            "delete_mode",
            "delete_mode=sometimes",
            "conflict_policy=merge",
            "retention_days=0",
            "retention_days=3651",
            "retention_days=ten",
            "colour=blue",
            "group_roles.=admin",
            "group_roles.X=a\u{7}b",
        ] {
            let mut t = before.clone();
            assert!(t.assign(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_of_group_by_display_name_or_external_id() {
        let mut s = TenantSettings::default();
        s.assign("group_roles.Engineering=developer").unwrap();
        s.assign("group_roles.okta-00g1=auditor").unwrap();
        let roles: Vec<&str> = s.roles_of_group("ENGINEERING", None).collect();
        assert_eq!(roles, vec!["developer"]);
        let roles: Vec<&str> = s.roles_of_group("Finance", Some("okta-00g1")).collect();
        assert_eq!(roles, vec!["auditor"]);
        // externalId compares exactly.
        assert_eq!(s.roles_of_group("Finance", Some("OKTA-00G1")).count(), 0);
    }
}
