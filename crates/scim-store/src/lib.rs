//! Storage for SCIM resources: the [`Store`] trait every backend implements, the embedded
//! [`MemoryStore`], and (feature `contract`) the contract suite every backend must pass.
//!
//! **Architecture invariant:** every method takes a [`TenantId`]. A store never reads or writes
//! outside that tenant; a resource of another tenant is indistinguishable from a missing one.

use async_trait::async_trait;
use scim_proto::filter::Filter;
use scim_proto::{ScimError, ScimType};
use serde_json::{Map, Value};
use std::fmt;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

pub mod events;
mod memory;
pub use memory::MemoryStore;
mod settings;
pub use settings::{ConflictPolicy, DeleteMode, TenantSettings, VersionedSettings};
pub mod unmanaged;
pub use unmanaged::{
    create_user, Conflict, ConflictStatus, CreateOutcome, MatchAttribute, Resolution, UnmanagedAccount,
    UnmanagedMatch,
};
pub mod access;
pub use access::{effective_access, EffectiveAccess, GroupAncestry, MAX_NESTING_DEPTH};
pub mod wire;

#[cfg(feature = "contract")]
pub mod contract;

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

/// A group member as stored: RFC 7643 §4.2 `members` without the derived `$ref` and `display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub value: String,
    pub kind: ResourceKind,
}

/// A requested change to a group's members, in the order: clear (if `replace_all`), remove, add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChange {
    /// Remove every existing member first.
    pub replace_all: bool,
    /// Member ids to remove; absent ones are ignored.
    pub remove: Vec<String>,
    /// Member ids to add, with the type the client gave if any; present ones are ignored. The
    /// store resolves each id in the tenant and rejects unknown ids and cycles.
    pub add: Vec<(String, Option<ResourceKind>)>,
}

impl MemberChange {
    pub fn is_empty(&self) -> bool {
        !self.replace_all && self.remove.is_empty() && self.add.is_empty()
    }

    /// Only groups have members: a non-empty change to a user is refused.
    pub fn check_kind(&self, kind: ResourceKind) -> Result<(), StoreError> {
        if kind == ResourceKind::User && !self.is_empty() {
            return Err(StoreError::Invalid("users have no members".into()));
        }
        Ok(())
    }
}

/// The error for an added member id that names nothing in the tenant.
pub fn unknown_member(id: &str) -> StoreError {
    StoreError::InvalidMember(format!("member '{id}' does not exist"))
}

/// Checks an added member's kind, as the store found it, against the `type` the client gave.
pub fn check_member_kind(
    id: &str,
    kind: ResourceKind,
    given: Option<ResourceKind>,
) -> Result<(), StoreError> {
    match given {
        Some(given) if given != kind => Err(StoreError::InvalidMember(format!(
            "member '{id}' is a {}, not a {}",
            kind.name(),
            given.name()
        ))),
        _ => Ok(()),
    }
}

/// A resource as stored, with the server-maintained metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub id: String,
    pub kind: ResourceKind,
    /// Incremented by every committed change; `meta.version` is `W/"<version>"`.
    pub version: u64,
    /// RFC 3339 timestamps.
    pub created: String,
    pub last_modified: String,
    /// Canonical attributes (see `scim_proto`), without `id`, `meta`, `schemas`, `members`, `groups`.
    pub attrs: Map<String, Value>,
    /// Group members, when asked for with [`Include::members`].
    pub members: Option<Vec<Member>>,
    /// For users: the groups the user belongs to directly, as `(group id, group displayName)`,
    /// when asked for with [`Include::groups`].
    pub groups: Option<Vec<(String, String)>>,
}

/// A soft-deleted user as the store keeps it until `purge_after` ([`Store::delete_user_soft`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedUser {
    pub id: String,
    /// The version the user had when it was deleted; a restore makes it `version + 1`.
    pub version: u64,
    /// RFC 3339 timestamps, as in [`StoredResource`]; `deleted` is when the delete committed.
    pub created: String,
    pub last_modified: String,
    pub deleted: String,
    /// When the record is purged, to the second (DynamoDB TTL counts epoch seconds). From then
    /// on it is neither listed nor restorable, whenever the backend actually removes it.
    pub purge_after: String,
    /// Canonical attributes, as they were.
    pub attrs: Map<String, Value>,
    /// The groups the user was directly in when it was deleted, sorted.
    pub groups: Vec<String>,
}

/// `purge_after` at the precision stores keep it: whole seconds, rounded up, so a record is
/// never purged before the time asked for.
pub fn purge_second(t: OffsetDateTime) -> i64 {
    let s = t.unix_timestamp();
    if t.nanosecond() > 0 {
        s + 1
    } else {
        s
    }
}

/// Whether a kept record whose purge second is `purge_after` has expired at `at`.
pub fn expired(purge_after: i64, at: OffsetDateTime) -> bool {
    purge_after <= at.unix_timestamp()
}

/// A purge second as a [`timestamp`].
pub fn purge_timestamp(purge_after: i64) -> String {
    OffsetDateTime::from_unix_timestamp(purge_after)
        .map(timestamp)
        .unwrap_or_else(|_| purge_after.to_string())
}

/// Which derived, possibly large, parts of a resource to load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Include {
    pub members: bool,
    pub groups: bool,
    /// The most group members a read may return inline: one group for [`Store::get`], all the
    /// groups of a page together for [`Store::query`]. Beyond it the read fails with
    /// [`StoreError::TooManyMembers`] instead of returning a shortened list (a truncated member
    /// list makes IdPs remove members elsewhere). `None`: no limit.
    pub member_limit: Option<u64>,
}

impl Include {
    pub const ALL: Include = Include {
        members: true,
        groups: true,
        member_limit: None,
    };
    pub const NONE: Include = Include {
        members: false,
        groups: false,
        member_limit: None,
    };
}

/// How a list request pages (RFC 7644 §3.4.2.4 index paging, RFC 9865 cursor paging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// 1-based `startIndex`. The page's `total_results` is always given.
    Index { start_index: u64 },
    /// Continue after a position returned in [`Page::next`] (`None`: the first page). The store's
    /// positions are opaque to callers; the service signs them before handing them to clients.
    Cursor { after: Option<String> },
}

/// A list request after protocol parsing.
#[derive(Debug, Clone)]
pub struct Query {
    /// Already validated against the resource type.
    pub filter: Option<Filter>,
    pub paging: Paging,
    /// Page size; 0 asks only for `totalResults`.
    pub count: u64,
    pub include: Include,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub resources: Vec<StoredResource>,
    /// Always `Some` for [`Paging::Index`]. For [`Paging::Cursor`] a store may answer `None` when
    /// the total would cost more than the page (a filter evaluated item by item).
    pub total_results: Option<u64>,
    /// With [`Paging::Cursor`]: where the next page starts, if more may follow. A page may hold
    /// fewer resources than asked (even none) and still have a `next`: the store bounds the work
    /// of one request.
    pub next: Option<String>,
}

/// A write precondition on the resource's version (RFC 7644 §3.14 `If-Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Any,
    Version(u64),
}

impl Expect {
    /// `VersionConflict` unless the resource's `current` version is the one expected.
    pub fn check(self, current: u64) -> Result<(), StoreError> {
        match self {
            Expect::Version(v) if v != current => Err(StoreError::VersionConflict { current }),
            Expect::Version(_) | Expect::Any => Ok(()),
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

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound => ScimError::not_found("resource not found"),
            StoreError::Uniqueness { attribute } => {
                ScimError::uniqueness(format!("{attribute} is already in use by another resource"))
            }
            StoreError::VersionConflict { .. } => ScimError::precondition_failed(
                "the resource was modified since the version given in If-Match",
            ),
            StoreError::InvalidMember(d) => ScimError::invalid_value(d.clone()),
            StoreError::Invalid(d) => ScimError::bad_request(ScimType::InvalidValue, d.clone()),
            // RFC 7644 §3.12 Table 9 `tooMany`: "the specified filter yields many more results
            // than the server is willing to calculate or process".
            StoreError::TooManyMembers { .. } | StoreError::TooMany(_) => ScimError::too_many(e.to_string()),
            StoreError::Throttled { .. } => ScimError::new(429, None, e.to_string()),
            StoreError::Unavailable(_) => ScimError::new(503, None, e.to_string()),
            // RFC 7644 §3.3: a value that is already taken is 409 `uniqueness`. The account id is
            // not for the IdP: the create path (`create_user`) answers this case itself.
            StoreError::UnmanagedMatch(m) => ScimError::uniqueness(format!(
                "{} is already in use by an existing account",
                m.attribute.name()
            )),
        }
    }
}

/// Tenant-scoped storage of users, groups and memberships.
///
/// Contract (checked by `contract`, feature `contract`): attributes with `uniqueness: server`
/// or `global` in the schema (`userName`) are unique per tenant, compared case-insensitively
/// unless `caseExact`; every committed write increments the version by one and honours
/// [`Expect`]; an update with the same attributes and an empty member change is not written
/// (version unchanged); member changes are idempotent, atomic with the attribute change, and
/// reject unknown ids, ids of other tenants and group cycles; deleting a resource removes every
/// membership it takes part in; list order is stable (by id), for index and cursor paging alike;
/// member lists beyond [`Include::member_limit`] are refused, never shortened.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Creates a resource with a server-assigned id, version 1, and (groups) initial members.
    async fn create(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        attrs: Map<String, Value>,
        members: MemberChange,
    ) -> Result<StoredResource, StoreError>;

    /// Reads one resource, or `NotFound`.
    async fn get(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        include: Include,
    ) -> Result<StoredResource, StoreError>;

    /// Replaces a resource's attributes and applies a member change, as one atomic write
    /// conditional on `expect`. Returns the new state (members and groups not loaded).
    async fn update(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
        attrs: Map<String, Value>,
        members: MemberChange,
    ) -> Result<StoredResource, StoreError>;

    /// Deletes a resource and every membership it takes part in, conditional on `expect`.
    async fn delete(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError>;

    /// Lists resources matching a filter, in stable id order. A cursor page continues strictly
    /// after the position it was given, so resources created or deleted meanwhile never make a
    /// client see one resource twice.
    async fn query(&self, tenant: &TenantId, kind: ResourceKind, query: &Query) -> Result<Page, StoreError>;

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

    // Soft delete (tenant setting `delete_mode = soft`).

    /// Soft-deletes a user, conditional on `expect`: at once it is gone from [`Store::get`],
    /// [`Store::query`] and filters, its unique and indexed values (`userName`, `externalId`)
    /// are free, and it has left every group (groups no longer list it); but the record, with
    /// the ids of the groups it left, is kept until `purge_after` ([`Store::deleted_users`],
    /// [`Store::restore_user`]). `NotFound` for a missing user.
    async fn delete_user_soft(
        &self,
        tenant: &TenantId,
        id: &str,
        expect: Expect,
        purge_after: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The tenant's soft-deleted users whose purge time has not passed, in id order.
    async fn deleted_users(&self, tenant: &TenantId) -> Result<Vec<DeletedUser>, StoreError>;

    /// Brings a soft-deleted user back: same id and attributes, version + 1, `lastModified` now,
    /// and a member again of each remembered group that still exists. Returns it with its
    /// groups. `NotFound` when no unexpired record has this id; `Uniqueness` (nothing written)
    /// when another user took its `userName` or `externalId` meanwhile.
    async fn restore_user(&self, tenant: &TenantId, id: &str) -> Result<StoredResource, StoreError>;

    // -----------------------------------------------------------------------------------------
    // Existing (unmanaged) accounts and their conflicts ([`unmanaged`]). Unmanaged accounts are
    // invisible to `get`, `query` and filters; `create` of a user that meets one (on
    // [`unmanaged::match_keys`], case-insensitively) fails with [`StoreError::UnmanagedMatch`]
    // after checking managed uniqueness (a duplicate of a managed user is `Uniqueness`).

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
    /// [`unmanaged::conflict_id`]`(account, posted userName)` is created open with one attempt,
    /// or, when it exists, gets one more attempt, the new last-attempt time and the latest
    /// `posted` (its status unchanged). `posted` is kept as given (the caller removes secrets).
    async fn record_conflict(
        &self,
        tenant: &TenantId,
        matched: &UnmanagedMatch,
        posted: &Map<String, Value>,
    ) -> Result<Conflict, StoreError>;

    /// The tenant's open conflicts, by id.
    async fn list_conflicts(&self, tenant: &TenantId) -> Result<Vec<Conflict>, StoreError>;

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

    /// For each id that names a group of the tenant: its `displayName`, `externalId` and the
    /// ids of the groups it is a direct member of (sorted), in the order of `ids`, each group
    /// once. Ids that name nothing, a user, or another tenant's group are left out. One level of
    /// an ancestry walk ([`access::effective_access`]): DynamoDB reads it with one BatchGetItem
    /// per 100 ids.
    async fn groups_with_parents(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<GroupAncestry>, StoreError>;
}
