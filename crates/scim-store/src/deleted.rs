//! Soft delete: the [`DeletedUserStore`] capability, what a kept user is, and the purge-time
//! arithmetic both stores share.

use crate::{timestamp, Expect, StoreError, StoredResource, TenantId};
use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// A soft-deleted user as the store keeps it until `purge_after` ([`DeletedUserStore::delete_user_soft`]).
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

/// Soft delete (tenant setting `delete_mode = soft`): users deleted but kept for a while, and
/// brought back on request.
#[async_trait]
pub trait DeletedUserStore: Send + Sync {
    /// Soft-deletes a user, conditional on `expect`: at once it is gone from [`ResourceStore::get`],
    /// [`ResourceStore::query`] and filters, its unique and indexed values (`userName`, `externalId`)
    /// are free, and it has left every group (groups no longer list it); but the record, with
    /// the ids of the groups it left, is kept until `purge_after` ([`DeletedUserStore::deleted_users`],
    /// [`DeletedUserStore::restore_user`]). `NotFound` for a missing user.
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
}
