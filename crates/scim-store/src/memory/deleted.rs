//! Soft-deleted users in the embedded store ([`DeletedUserStore`]).

use super::{Kept, MemoryStore, Record, Tenant};
use crate::events::{Lifecycle, ResourceState};
use crate::{
    expired, now, purge_second, purge_timestamp, timestamp, DeletedUser, DeletedUserStore, Expect, Include,
    ResourceKind, StoreError, StoredResource, TenantId,
};
use async_trait::async_trait;
use time::OffsetDateTime;

impl Tenant {
    /// Drops the soft-deleted users whose purge second has passed.
    fn drop_expired(&mut self, at: OffsetDateTime) {
        self.deleted.retain(|_, k| !expired(k.purge_after, at));
    }
}

#[async_trait]
impl DeletedUserStore for MemoryStore {
    async fn delete_user_soft(
        &self,
        tenant: &TenantId,
        id: &str,
        expect: Expect,
        purge_after: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let unique = self.unique(ResourceKind::User);
        self.write_tenant(tenant, |t| {
            let current = t.users.get(id).ok_or(StoreError::NotFound)?;
            expect.check(current.version)?;
            let at = now();
            t.drop_expired(at);
            if let Some((record, groups)) = t.remove(ResourceKind::User, id, unique, at, true) {
                let kept = Kept {
                    record,
                    deleted: at,
                    purge_after: purge_second(purge_after),
                    groups,
                };
                t.deleted.insert(id.to_string(), kept);
            }
            Ok(())
        })
    }

    async fn deleted_users(&self, tenant: &TenantId) -> Result<Vec<DeletedUser>, StoreError> {
        let data = self.read()?;
        let at = now();
        Ok(data
            .tenants
            .get(tenant)
            .into_iter()
            .flat_map(|t| t.deleted.iter())
            .filter(|(_, k)| !expired(k.purge_after, at))
            .map(|(id, k)| DeletedUser {
                id: id.clone(),
                version: k.record.version,
                created: timestamp(k.record.created),
                last_modified: timestamp(k.record.last_modified),
                deleted: timestamp(k.deleted),
                purge_after: purge_timestamp(k.purge_after),
                attrs: k.record.attrs.clone(),
                groups: k.groups.iter().cloned().collect(),
            })
            .collect())
    }

    async fn restore_user(&self, tenant: &TenantId, id: &str) -> Result<StoredResource, StoreError> {
        let kind = ResourceKind::User;
        let unique = self.unique(kind);
        self.write_tenant(tenant, |t| {
            let at = now();
            t.drop_expired(at);
            let kept = t.deleted.get(id).ok_or(StoreError::NotFound)?;
            t.check_unique(kind, id, &kept.record.attrs, unique)?;
            // `externalId` is not unique by schema, but two users with one externalId would make
            // the IdP's `externalId eq` lookup ambiguous.
            if let Some(x) = kept.record.attrs.get("externalId") {
                if t.users.values().any(|r| r.attrs.get("externalId") == Some(x)) {
                    return Err(StoreError::Uniqueness {
                        attribute: "externalId".into(),
                    });
                }
            }
            let Some(kept) = t.deleted.remove(id) else {
                return Err(StoreError::NotFound);
            };
            let from = ResourceState {
                last_modified: timestamp(kept.deleted),
                ..kept.record.state(Lifecycle::SoftDeleted)
            };
            let record = Record {
                version: kept.record.version + 1,
                last_modified: at.max(kept.record.last_modified),
                ..kept.record
            };
            let stamp = timestamp(record.last_modified);
            t.index(kind, id, &record.attrs, unique);
            t.revive(id, record.clone(), from);
            let existing: Vec<String> = kept
                .groups
                .into_iter()
                .filter(|g| t.groups.contains_key(g))
                .collect();
            for g in existing {
                let mut next = t.members.get(&g).cloned().unwrap_or_default();
                next.insert(id.to_string(), kind);
                t.write_members(&g, next, &stamp);
            }
            let include = Include {
                groups: true,
                ..Include::NONE
            };
            Ok(t.stored(kind, id, &record, include))
        })
    }
}
