//! Per-tenant settings: what DELETE does, what a POST that meets an imported account does, which
//! application roles a group grants, and what the provisioning log keeps. Every setting has a
//! safe default, so a tenant that never configured anything is well defined.

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
/// Longest a provisioning log record is kept: about a year.
pub const MAX_LOG_RETENTION_DAYS: u32 = 400;
/// Longest `log_bodies` stays on: bodies hold personal data, so keeping them is always temporary.
pub const MAX_LOG_BODIES_HOURS: i64 = 7 * 24;
/// How long `log_bodies=on` keeps bodies without a duration.
const DEFAULT_LOG_BODIES_HOURS: i64 = 24;
/// Longest silence an operator may ask to be alerted about: a week.
pub const MAX_SILENCE_ALARM_HOURS: u32 = 168;

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
    /// Days a provisioning log record is kept (then DynamoDB's TTL removes it).
    pub log_retention_days: u32,
    /// Percent of successful reads (GET, lists, searches) recorded in the provisioning log;
    /// failed reads and every write are always recorded.
    pub log_read_sample_percent: u8,
    /// Until when request and response bodies (passwords redacted) are kept with log records
    /// (a [`crate::timestamp`]); `None`: never. Never more than [`MAX_LOG_BODIES_HOURS`] ahead.
    pub log_bodies_until: Option<String>,
    /// Alert when the tenant's IdP has sent no request for this many hours; `None`: off.
    pub silence_alarm_hours: Option<u32>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            delete_mode: DeleteMode::default(),
            retention_days: 30,
            conflict_policy: ConflictPolicy::default(),
            group_roles: BTreeMap::new(),
            log_retention_days: 30,
            log_read_sample_percent: 5,
            log_bodies_until: None,
            silence_alarm_hours: None,
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
        if !(1..=MAX_LOG_RETENTION_DAYS).contains(&self.log_retention_days) {
            return Err(invalid(format!(
                "log_retention_days must be between 1 and {MAX_LOG_RETENTION_DAYS}, not {}",
                self.log_retention_days
            )));
        }
        if self.log_read_sample_percent > 100 {
            return Err(invalid(format!(
                "log_read_sample_percent is 0 to 100, not {}",
                self.log_read_sample_percent
            )));
        }
        if let Some(until) = &self.log_bodies_until {
            let until = crate::parse_timestamp(until)
                .ok_or_else(|| invalid(format!("log_bodies_until '{until}' is not a timestamp")))?;
            // A minute of slack for clocks that differ between writer and validator.
            let latest =
                crate::now() + time::Duration::hours(MAX_LOG_BODIES_HOURS) + time::Duration::minutes(1);
            if until > latest {
                return Err(invalid(format!(
                    "log_bodies can stay on for at most {MAX_LOG_BODIES_HOURS} hours"
                )));
            }
        }
        if let Some(hours) = self.silence_alarm_hours {
            if !(1..=MAX_SILENCE_ALARM_HOURS).contains(&hours) {
                return Err(invalid(format!(
                    "silence_alarm_hours must be between 1 and {MAX_SILENCE_ALARM_HOURS}, not {hours}"
                )));
            }
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
    /// `group_roles.<group>=role[,role...]` (an empty value removes the mapping),
    /// `log_retention_days=N`, `log_read_sample_percent=0..100`,
    /// `log_bodies=on|off|<N>h|<N>d` (on: 24 hours; at most 7 days from now),
    /// `silence_alarm_hours=N|off`.
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
            "log_retention_days" => {
                self.log_retention_days = value
                    .parse()
                    .map_err(|_| invalid(format!("log_retention_days is a number of days, not '{value}'")))?
            }
            "log_read_sample_percent" => {
                self.log_read_sample_percent = value
                    .parse()
                    .map_err(|_| invalid(format!("log_read_sample_percent is 0 to 100, not '{value}'")))?
            }
            "log_bodies" => {
                self.log_bodies_until = match value {
                    "off" => None,
                    "on" => Some(crate::timestamp(
                        crate::now() + time::Duration::hours(DEFAULT_LOG_BODIES_HOURS),
                    )),
                    _ => {
                        let hours = log_bodies_hours(value).ok_or_else(|| {
                            invalid(format!(
                                "log_bodies is on, off, or a duration such as 12h or 3d \
                                 (at most {MAX_LOG_BODIES_HOURS}h), not '{value}'"
                            ))
                        })?;
                        Some(crate::timestamp(crate::now() + time::Duration::hours(hours)))
                    }
                }
            }
            "silence_alarm_hours" => {
                self.silence_alarm_hours = match value {
                    "off" => None,
                    _ => Some(value.parse().map_err(|_| {
                        invalid(format!(
                            "silence_alarm_hours is a number of hours or off, not '{value}'"
                        ))
                    })?),
                }
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

    /// Whether bodies are kept with log records at `now`: `log_bodies` is on and not expired.
    pub fn log_bodies_at(&self, now: time::OffsetDateTime) -> bool {
        self.log_bodies_until
            .as_deref()
            .and_then(crate::parse_timestamp)
            .is_some_and(|until| now < until)
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

/// `12h` or `3d` as hours, within [`MAX_LOG_BODIES_HOURS`].
fn log_bodies_hours(value: &str) -> Option<i64> {
    let (number, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: i64 = number.parse().ok()?;
    let hours = match unit {
        "h" => n,
        "d" => n.checked_mul(24)?,
        _ => return None,
    };
    (1..=MAX_LOG_BODIES_HOURS).contains(&hours).then_some(hours)
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
        assert_eq!(s.log_retention_days, 30);
        assert!(s.log_bodies_until.is_none() && s.silence_alarm_hours.is_none());
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
    fn log_bodies_switch_themselves_off_within_a_week() {
        let now = crate::now();
        let mut s = TenantSettings::default();
        assert!(!s.log_bodies_at(now));
        s.assign("log_bodies=on").unwrap();
        assert!(s.log_bodies_at(now));
        assert!(
            !s.log_bodies_at(now + time::Duration::hours(25)),
            "on means one day"
        );
        s.assign("log_bodies=7d").unwrap();
        assert!(s.log_bodies_at(now + time::Duration::hours(167)));
        assert!(!s.log_bodies_at(now + time::Duration::hours(169)));
        s.assign("log_bodies=off").unwrap();
        assert!(!s.log_bodies_at(now));
        for bad in [
            "log_bodies=8d",
            "log_bodies=169h",
            "log_bodies=0h",
            "log_bodies=forever",
            "log_bodies=-1d",
        ] {
            assert!(s.clone().assign(bad).is_err(), "{bad}");
        }
        // Settings written as JSON (the console) obey the same bound.
        let later = crate::timestamp(now + time::Duration::days(30));
        let json = format!(r#"{{"log_bodies_until": "{later}"}}"#);
        assert!(TenantSettings::from_json(&json).is_err());
    }

    #[test]
    fn log_and_silence_settings_are_bounded() {
        let mut s = TenantSettings::default();
        s.assign("log_retention_days=90").unwrap();
        s.assign("log_read_sample_percent=100").unwrap();
        s.assign("silence_alarm_hours=2").unwrap();
        assert_eq!(
            (
                s.log_retention_days,
                s.log_read_sample_percent,
                s.silence_alarm_hours
            ),
            (90, 100, Some(2))
        );
        s.assign("silence_alarm_hours=off").unwrap();
        assert_eq!(s.silence_alarm_hours, None);
        for bad in [
            "log_retention_days=0",
            "log_retention_days=401",
            "log_read_sample_percent=101",
            "silence_alarm_hours=0",
            "silence_alarm_hours=169",
        ] {
            assert!(s.clone().assign(bad).is_err(), "{bad}");
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
