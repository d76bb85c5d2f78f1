//! Unmanaged accounts and their conflicts in the embedded store ([`UnmanagedStore`]).

use super::{MemoryStore, Record, Tenant, UnmanagedRecord};
use crate::events::Lifecycle;
use crate::unmanaged::{
    self, Conflict, ConflictScope, ConflictStatus, Resolution, UnmanagedAccount, UnmanagedMatch,
};
use crate::{
    now, stored_attributes, timestamp, Expect, Include, ResourceKind, StoreError, StoredResource, TenantId,
    UnmanagedStore,
};
use async_trait::async_trait;
use serde_json::{Map, Value};

impl Tenant {
    /// The live unmanaged account, other than `except`, that `attrs` meet (`userName` first).
    pub(super) fn unmanaged_match(
        &self,
        attrs: &Map<String, Value>,
        except: Option<&str>,
    ) -> Option<UnmanagedMatch> {
        unmanaged::match_keys(attrs)
            .into_iter()
            .find_map(|(attribute, value)| {
                let holder = self.unmanaged_index.get(&(attribute, value.clone()))?;
                (Some(holder.as_str()) != except).then(|| UnmanagedMatch {
                    account: holder.clone(),
                    attribute,
                    value,
                })
            })
    }

    /// Releases the match values an unmanaged account holds.
    pub(super) fn unindex_unmanaged(&mut self, id: &str, attrs: &Map<String, Value>) {
        for key in unmanaged::match_keys(attrs) {
            if self.unmanaged_index.get(&key).is_some_and(|h| h == id) {
                self.unmanaged_index.remove(&key);
            }
        }
    }
}

#[async_trait]
impl UnmanagedStore for MemoryStore {
    async fn import_unmanaged(
        &self,
        tenant: &TenantId,
        attrs: Map<String, Value>,
    ) -> Result<UnmanagedAccount, StoreError> {
        let attrs = unmanaged::importable(attrs)?;
        let id = uuid::Uuid::new_v4().to_string();
        let unique = self.unique(ResourceKind::User);
        let mut data = self.write()?;
        let t = data.tenants.entry(tenant.clone()).or_default();
        t.check_unique(ResourceKind::User, &id, &attrs, unique)?;
        if let Some(m) = t.unmanaged_match(&attrs, None) {
            return Err(StoreError::UnmanagedMatch(m));
        }
        let at = now();
        for key in unmanaged::match_keys(&attrs) {
            t.unmanaged_index.insert(key, id.clone());
        }
        let kept = UnmanagedRecord {
            record: Record {
                version: 1,
                created: at,
                last_modified: at,
                attrs,
            },
            set_aside: None,
        };
        let account = kept.account(&id);
        t.unmanaged.insert(id, kept);
        Ok(account)
    }

    async fn find_unmanaged(
        &self,
        tenant: &TenantId,
        attrs: &Map<String, Value>,
    ) -> Result<Option<UnmanagedMatch>, StoreError> {
        let data = self.read()?;
        Ok(data
            .tenants
            .get(tenant)
            .and_then(|t| t.unmanaged_match(attrs, None)))
    }

    async fn get_unmanaged(&self, tenant: &TenantId, id: &str) -> Result<UnmanagedAccount, StoreError> {
        let data = self.read()?;
        data.tenants
            .get(tenant)
            .and_then(|t| t.unmanaged.get(id))
            .map(|u| u.account(id))
            .ok_or(StoreError::NotFound)
    }

    async fn adopt_unmanaged(
        &self,
        tenant: &TenantId,
        account: &UnmanagedAccount,
        expect: Expect,
        attrs: Map<String, Value>,
    ) -> Result<StoredResource, StoreError> {
        let attrs = stored_attributes(attrs);
        let id = account.id.as_str();
        let unique = self.unique(ResourceKind::User);
        self.write_tenant(tenant, |t| {
            let current = match t.unmanaged.get(id) {
                Some(u) if u.set_aside.is_none() => u.record.clone(),
                _ => return Err(StoreError::NotFound),
            };
            expect.check(current.version)?;
            t.check_unique(ResourceKind::User, id, &attrs, unique)?;
            if let Some(m) = t.unmanaged_match(&attrs, Some(id)) {
                return Err(StoreError::UnmanagedMatch(m));
            }
            t.unindex_unmanaged(id, &current.attrs);
            t.unmanaged.remove(id);
            let from = current.state(Lifecycle::Unmanaged);
            let record = Record {
                version: current.version + 1,
                created: current.created,
                last_modified: now().max(current.last_modified),
                attrs,
            };
            t.index(ResourceKind::User, id, &record.attrs, unique);
            t.revive(id, record.clone(), from);
            Ok(t.stored(ResourceKind::User, id, &record, Include::NONE))
        })
    }

    async fn record_conflict(
        &self,
        tenant: &TenantId,
        matched: &UnmanagedMatch,
        posted: &Map<String, Value>,
    ) -> Result<Conflict, StoreError> {
        let (id, user_name) = unmanaged::conflict_of(&matched.account, posted);
        let at = timestamp(now());
        let mut data = self.write()?;
        let t = data.tenants.entry(tenant.clone()).or_default();
        let conflict = t.conflicts.entry(id.clone()).or_insert_with(|| Conflict {
            id,
            unmanaged_id: matched.account.clone(),
            matched_attribute: matched.attribute,
            matched_value: matched.value.clone(),
            user_name: user_name.clone(),
            posted: posted.clone(),
            first_attempt: at.clone(),
            last_attempt: at.clone(),
            attempts: 0,
            status: ConflictStatus::Open,
            resolved: None,
        });
        conflict.matched_attribute = matched.attribute;
        conflict.matched_value = matched.value.clone();
        conflict.user_name = user_name;
        conflict.posted = posted.clone();
        conflict.last_attempt = at;
        conflict.attempts += 1;
        Ok(conflict.clone())
    }

    async fn list_conflicts(
        &self,
        tenant: &TenantId,
        scope: ConflictScope,
    ) -> Result<Vec<Conflict>, StoreError> {
        let data = self.read()?;
        Ok(data
            .tenants
            .get(tenant)
            .map(|t| {
                t.conflicts
                    .values()
                    .filter(|c| scope.includes(c))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn resolve_conflict(
        &self,
        tenant: &TenantId,
        id: &str,
        resolution: Resolution,
    ) -> Result<Conflict, StoreError> {
        let mut data = self.write()?;
        let t = data.tenants.get_mut(tenant).ok_or(StoreError::NotFound)?;
        let conflict = t.conflicts.get(id).ok_or(StoreError::NotFound)?.clone();
        if !unmanaged::check_resolution(&conflict, resolution)? {
            return Ok(conflict);
        }
        let at = now();
        if resolution == Resolution::Reject {
            let account = conflict.unmanaged_id.as_str();
            let live = t
                .unmanaged
                .get(account)
                .filter(|u| u.set_aside.is_none())
                .map(|u| u.record.attrs.clone());
            if let Some(attrs) = live {
                t.unindex_unmanaged(account, &attrs);
                if let Some(u) = t.unmanaged.get_mut(account) {
                    u.set_aside = Some(at);
                    u.record.version += 1;
                    u.record.last_modified = at.max(u.record.last_modified);
                }
            }
        }
        let resolved = Conflict {
            status: match resolution {
                Resolution::Link => ConflictStatus::Approved,
                Resolution::Reject => ConflictStatus::Rejected,
            },
            resolved: Some(timestamp(at)),
            ..conflict
        };
        t.conflicts.insert(id.to_string(), resolved.clone());
        Ok(resolved)
    }
}
