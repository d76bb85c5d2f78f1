//! Storage for SCIM resources: the capability traits every backend implements, summed up as
//! [`Store`], the embedded [`MemoryStore`], and (feature `contract`) the contract suite every
//! backend must pass.
//!
//! One capability, one file: each of [`resources`], [`settings`], [`deleted`], [`unmanaged`] and
//! [`access`] holds its trait and the types it speaks in; `memory/<capability>.rs` and
//! `contract/<capability>.rs` follow the same cut, and so does the DynamoDB crate.
//!
//! **Architecture invariant:** every method takes a [`TenantId`]. A store never reads or writes
//! outside that tenant; a resource of another tenant is indistinguishable from a missing one.

use scim_proto::{hint, ScimError, ScimType};
use serde_json::{Map, Value};
use std::fmt;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

pub mod access;
pub mod attributes;
pub mod deleted;
pub mod events;
pub mod import;
pub mod log;
mod memory;
pub mod metering;
pub mod nesting;
pub mod resources;
pub mod settings;
pub mod token_usage;
pub mod unmanaged;
pub mod wire;

pub use access::{effective_access, AncestryStore, EffectiveAccess, GroupAncestry, EFFECTIVE_GROUP_DEPTH};
pub use deleted::{expired, purge_second, purge_timestamp, DeletedUser, DeletedUserStore};
pub use log::{
    Idp, LogChange, LogCursor, LogMembers, LogPage, LogQuery, LogRecord, ProvisioningLog, ResourceFilter,
};
pub use memory::MemoryStore;
pub use resources::{
    check_member_kind, page_in_memory, unknown_member, Include, Member, MemberChange, Page, Paging, Query,
    ResourceStore, StoredResource,
};
pub use settings::{ConflictPolicy, DeleteMode, SettingsStore, TenantSettings, VersionedSettings};
pub use token_usage::{TokenUsageStore, TokenUse};
pub use unmanaged::{
    create_user, Conflict, ConflictScope, ConflictStatus, CreateOutcome, MatchAttribute, Resolution,
    UnmanagedAccount, UnmanagedMatch, UnmanagedStore,
};

#[cfg(feature = "contract")]
pub mod contract;

/// Every capability trait, for code that calls a concrete store's methods
/// (`use scim_store::prelude::*`); code holding `dyn Store` needs none of them.
pub mod prelude {
    pub use crate::{
        AncestryStore, DeletedUserStore, ProvisioningLog, ResourceStore, SettingsStore, Store,
        TokenUsageStore, UnmanagedStore,
    };
}

/// RFC 3339 §5.6 `date-time` in UTC with exactly three fractional digits. A fixed width makes
/// the strings sort in time order, so a backend can compare them as text (DynamoDB sort keys) and
/// `meta.lastModified gt "..."` works whichever way the filter compares.
const TIMESTAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Now, at the millisecond precision stores keep (so a timestamp read back equals the one written).
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

/// `meta.created` / `meta.lastModified` as every store writes them.
pub fn timestamp(t: OffsetDateTime) -> String {
    // Formatting a UTC time with a fixed description only fails for years outside 0..=9999.
    t.format(TIMESTAMP).unwrap_or_else(|_| t.to_string())
}

/// A timestamp as [`timestamp`] writes it (any RFC 3339 `date-time` is accepted).
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// Keys a store keeps apart from a resource's attributes (RFC 7643 §3.1 `id`, `meta`; `schemas`
/// is rendered; `members` and `groups` are memberships).
const NOT_ATTRIBUTES: [&str; 5] = ["id", "meta", "schemas", "members", "groups"];

/// The attributes a store keeps: `attrs` without the keys it keeps apart.
pub fn stored_attributes(mut attrs: Map<String, Value>) -> Map<String, Value> {
    for k in NOT_ATTRIBUTES {
        attrs.remove(k);
    }
    attrs
}

/// The tenant a request acts for, fixed by the auth layer before any store call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// Tenant names are 1–64 characters of `[A-Za-z0-9_-]`, so they can be embedded in storage
    /// keys (`T#<tenant>#...`) without escaping.
    pub fn new(name: &str) -> Result<Self, StoreError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(TenantId(name.to_string()))
        } else {
            Err(StoreError::Invalid(format!(
                "'{name}' is not a valid tenant name"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The two resource types a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    /// The RFC 7643 §6 resource type name.
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }
}

/// A write precondition on the resource's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Any,
    /// Exactly this version (RFC 7644 §3.14 `If-Match`): any change since refuses the write.
    Version(u64),
    /// The write was computed from this version (the service's own optimistic concurrency, no
    /// `If-Match`). Refused like `Version` if the resource changed since, with one exception: a
    /// group member delta that changes no attribute does not depend on the other members, so it
    /// applies on top of member changes made meanwhile. Concurrent single-member changes to one
    /// group then cost O(1) writes each instead of retrying each other.
    Based(u64),
}

impl Expect {
    /// `VersionConflict` unless the resource's `current` version is the one expected.
    pub fn check(self, current: u64) -> Result<(), StoreError> {
        match self {
            Expect::Version(v) | Expect::Based(v) if v != current => {
                Err(StoreError::VersionConflict { current })
            }
            _ => Ok(()),
        }
    }

    /// [`Expect::check`] for an update of a `kind` resource now at version `current`: a `Based`
    /// expectation admits, at any version, a group member delta ([`MemberChange::commutes`])
    /// that leaves the attributes as they are now (`attrs_unchanged`).
    pub fn check_write(
        self,
        current: u64,
        kind: ResourceKind,
        members: &MemberChange,
        attrs_unchanged: bool,
    ) -> Result<(), StoreError> {
        let member_delta_only = kind == ResourceKind::Group && members.commutes() && attrs_unchanged;
        match self {
            Expect::Based(_) if member_delta_only => Ok(()),
            other => other.check(current),
        }
    }
}

/// What went wrong in a store, mapped to a SCIM error in one place ([`From<StoreError>`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    /// A unique attribute (e.g. `userName`) is taken in the tenant.
    Uniqueness {
        attribute: String,
    },
    /// The resource changed since the version the write was based on.
    VersionConflict {
        current: u64,
    },
    /// A member id that does not name a user or group of the tenant, or a cycle of groups.
    InvalidMember(String),
    /// A client-side mistake the store detected.
    Invalid(String),
    /// A group has more members than the request's [`Include::member_limit`] allows inline.
    TooManyMembers {
        /// The group, or `None` when the members of a page of groups add up to too many.
        group: Option<String>,
        limit: u64,
    },
    /// The request would need more work than one request may do (RFC 7644 §3.12 `tooMany`).
    TooMany(String),
    /// The backend asks callers to slow down.
    Throttled {
        retry_after_secs: u64,
    },
    /// The backend could not be reached or failed; not the client's fault.
    Unavailable(String),
    /// A new user (or an imported account) meets an unmanaged account on `userName` or primary
    /// email ([`unmanaged`]).
    UnmanagedMatch(UnmanagedMatch),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("resource not found"),
            StoreError::Uniqueness { attribute } => write!(f, "{attribute} is already taken"),
            StoreError::VersionConflict { current } => {
                write!(f, "resource is now at version {current}")
            }
            StoreError::InvalidMember(d) | StoreError::Invalid(d) | StoreError::TooMany(d) => f.write_str(d),
            StoreError::TooManyMembers {
                group: Some(g),
                limit,
            } => write!(
                f,
                "group '{g}' has more than {limit} members, too many to return inline; ask for it \
                 with excludedAttributes=members and list its members with \
                 GET /Users?filter=groups.value eq \"{g}\" (paged)"
            ),
            StoreError::TooManyMembers { group: None, limit } => write!(
                f,
                "the groups of this page have more than {limit} members together, too many to \
                 return inline; list groups with excludedAttributes=members (or a smaller count) \
                 and list a group's members with GET /Users?filter=groups.value eq \"<group id>\""
            ),
            StoreError::Throttled { retry_after_secs } => {
                write!(f, "throttled; retry after {retry_after_secs}s")
            }
            StoreError::Unavailable(d) => write!(f, "store unavailable: {d}"),
            StoreError::UnmanagedMatch(m) => write!(
                f,
                "{} '{}' belongs to the existing account {}, which SCIM does not manage",
                m.attribute.name(),
                m.value,
                m.account
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// The detail of every 503 for a backend failure.
pub const UNAVAILABLE_DETAIL: &str = "the service is temporarily unavailable; retry later";

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound => ScimError::not_found("resource not found").with_hint(hint::NOT_IN_TENANT),
            StoreError::Uniqueness { attribute } => {
                ScimError::uniqueness(format!("{attribute} is already in use by another resource"))
                    .with_hint(hint::taken(attribute))
            }
            StoreError::VersionConflict { .. } => ScimError::precondition_failed(
                "the resource was modified since the version given in If-Match",
            )
            .with_hint(hint::STALE_VERSION),
            StoreError::InvalidMember(d) => ScimError::invalid_value(d.clone()),
            StoreError::Invalid(d) => ScimError::bad_request(ScimType::InvalidValue, d.clone()),
            // RFC 7644 §3.12 Table 9 `tooMany`: "the specified filter yields many more results
            // than the server is willing to calculate or process".
            StoreError::TooManyMembers { .. } | StoreError::TooMany(_) => ScimError::too_many(e.to_string()),
            StoreError::Throttled { .. } => ScimError::new(429, None, e.to_string()),
            // The backend's own text names accounts, roles and tables (AccessDenied): it stays
            // in the log (`ApiError`), the client learns only that it may retry.
            StoreError::Unavailable(_) => ScimError::new(503, None, UNAVAILABLE_DETAIL),
            // RFC 7644 §3.3: a value that is already taken is 409 `uniqueness`. The account id is
            // not for the IdP: the create path (`create_user`) answers this case itself.
            StoreError::UnmanagedMatch(m) => ScimError::uniqueness(format!(
                "{} is already in use by an existing account",
                m.attribute.name()
            )),
        }
    }
}

/// Tenant-scoped storage of users, groups and memberships, and of what a tenant's operators
/// manage beside them: the sum of the capability traits, implemented for every type that
/// implements them all, so `Arc<dyn Store>` reaches every capability. A caller names the
/// capability it uses by importing its trait (`use scim_store::ResourceStore`).
///
/// Each trait states its part of the contract; `contract` (feature `contract`) checks them all
/// on every backend.
pub trait Store:
    ResourceStore
    + SettingsStore
    + DeletedUserStore
    + UnmanagedStore
    + AncestryStore
    + ProvisioningLog
    + TokenUsageStore
    + fmt::Debug
{
}

impl<T> Store for T where
    T: ResourceStore
        + SettingsStore
        + DeletedUserStore
        + UnmanagedStore
        + AncestryStore
        + ProvisioningLog
        + TokenUsageStore
        + fmt::Debug
        + ?Sized
{
}
