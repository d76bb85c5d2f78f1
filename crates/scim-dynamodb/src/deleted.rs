//! Soft-deleted users (tenant setting `delete_mode = soft`).
//!
//! A soft delete is the hard delete of [`DynamoStore::delete_resource`] (index items, counter,
//! memberships in batches, all conditional on the user's versions) whose last transaction also
//! puts the kept record: the user's item, with every group it left in `g`, moved to the tenant's
//! deleted partition (`T#<tenant>#DELETED`, sort key the id), plus `d` (when) and `ttl` (the
//! purge time in epoch seconds, the table's TTL attribute). Nothing in the listing partition,
//! the index items or the member partitions refers to it any more, so lists, filters and
//! uniqueness never see it. DynamoDB's TTL deletes expired items lazily (within days), so reads
//! ignore an item whose `ttl` has passed.
//!
//! A restore reads the kept item (1 GetItem), checks that its lookup values (`externalId`) are
//! still free (1 Query per value), reads the remembered groups (BatchGetItem) and writes the user
//! back in one transaction with its index items (unique ones conditional), its counter, the
//! removal of the kept item (conditional on its version: two restores cannot both succeed) and
//! its memberships in the groups that still exist. Each membership bumps the group's `mv`, on
//! which a group delete is conditional, so a group deleted meanwhile never keeps a member.

use crate::record::{attr, get_n, get_s, n, now, origin, s, with_origin, Item, Rec};
use crate::{error, keys, DynamoStore, Failure, Role, ATTEMPTS, MAX_TRANSACTION_ITEMS};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use scim_store::{
    expired, purge_second, purge_timestamp, DeletedUser, DeletedUserStore, Expect, ResourceKind, StoreError,
    StoredResource, TenantId,
};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Query page size when listing kept users.
const LIST_PAGE: i32 = 1000;

/// What a soft delete keeps: when it happened and until when the record stays.
#[derive(Debug, Clone)]
pub(crate) struct Keep {
    deleted: String,
    /// Epoch seconds.
    purge_after: i64,
}

impl DynamoStore {
    /// Marks the user item as being soft-deleted ([`attr::SOFT_DELETING`]), so the stream's
    /// REMOVE of it reads as a soft delete. Conditional on `expect`, so a DELETE refused for
    /// its `If-Match` leaves no mark; a failed condition is left for the delete that follows to
    /// report (`NotFound`, `VersionConflict`).
    async fn mark_soft_deleting(
        &self,
        tenant: &TenantId,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError> {
        if !keys::plausible_id(id) {
            return Ok(());
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::resources(tenant, ResourceKind::User), id)))
            .update_expression("SET #sd = :sd")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#sd", attr::SOFT_DELETING)
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":sd", AttributeValue::Bool(true));
        if let Expect::Version(v) = expect {
            update = update
                .condition_expression("attribute_exists(#pk) AND #v = :v")
                .expression_attribute_names("#v", attr::VERSION)
                .expression_attribute_values(":v", n(i64::try_from(v).unwrap_or(i64::MAX)));
        }
        error::applied("UpdateItem", update.send().await).map(|_| ())
    }

    /// The put of the kept record of user `cur`, remembering the groups it is in now and those
    /// an earlier, interrupted attempt already left (`dg`).
    pub(crate) fn kept_put(
        &self,
        tenant: &TenantId,
        cur: &Rec,
        keep: &Keep,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut kept = cur.clone();
        for g in &cur.left {
            kept.groups.entry(g.clone()).or_default();
        }
        let mut item = kept.item(keys::deleted(tenant));
        item.insert(attr::DELETED.into(), s(&keep.deleted));
        item.insert(attr::TTL.into(), n(keep.purge_after));
        self.put(item, None)
    }

    /// The items that make user `id` a member of group `group` (the user's own `g` entry
    /// aside): the member item and a bump of the group's `mv`, conditional on the group
    /// existing.
    fn join_items(
        &self,
        tenant: &TenantId,
        id: &str,
        group: &str,
    ) -> Result<[(TransactWriteItem, Role); 2], StoreError> {
        let mut member = Self::key(keys::members(tenant, group), id);
        member.insert(attr::KIND.into(), s(ResourceKind::User.name()));
        Ok([
            (self.put(member, None)?, Role::Other),
            (
                self.update(
                    Self::key(keys::resources(tenant, ResourceKind::Group), group),
                    "ADD mv :one",
                    Some("attribute_exists(pk)"),
                    vec![],
                    vec![(":one", n(1))],
                )?,
                Role::Member(group.to_string()),
            ),
        ])
    }

    /// The memberships that did not fit the restore's transaction, in batches that each write
    /// both sides (the user's entries in one update per batch). A group deleted meanwhile is
    /// skipped. Returns the groups joined; an error leaves the user restored with the
    /// memberships written so far.
    async fn join_late(
        &self,
        tenant: &TenantId,
        id: &str,
        late: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut joined = BTreeMap::new();
        let pending: Vec<(String, String)> = late.into_iter().collect();
        for batch in pending.chunks((MAX_TRANSACTION_ITEMS - 1) / 2) {
            let mut batch: Vec<(String, String)> = batch.to_vec();
            for attempt in 0..=ATTEMPTS {
                if batch.is_empty() {
                    break;
                }
                let names: Vec<String> = (0..batch.len()).map(|i| format!("#g{i}")).collect();
                let displays: Vec<String> = (0..batch.len()).map(|i| format!(":d{i}")).collect();
                let sets: Vec<String> = names
                    .iter()
                    .zip(&displays)
                    .map(|(nm, d)| format!("{}.{nm} = {d}", attr::GROUPS))
                    .collect();
                let mut values = vec![(":one", n(1))];
                values.extend(
                    displays
                        .iter()
                        .map(String::as_str)
                        .zip(batch.iter().map(|(_, d)| s(d))),
                );
                let mut items = vec![(
                    self.update(
                        Self::key(keys::resources(tenant, ResourceKind::User), id),
                        &format!("SET {} ADD mv :one", sets.join(", ")),
                        Some("attribute_exists(pk)"),
                        names
                            .iter()
                            .map(String::as_str)
                            .zip(batch.iter().map(|(g, _)| g.as_str()))
                            .collect(),
                        values,
                    )?,
                    Role::Other,
                )];
                for (g, _) in &batch {
                    items.extend(self.join_items(tenant, id, g)?);
                }
                match self.transact(items).await {
                    Ok(()) => joined.extend(batch.drain(..)),
                    Err(Failure::Condition {
                        role: Role::Member(gone),
                        ..
                    }) if attempt < ATTEMPTS => batch.retain(|(g, _)| *g != gone),
                    Err(Failure::Condition { .. }) => {
                        return Err(StoreError::Unavailable(format!(
                            "user '{id}' was restored, but joining its groups failed part way"
                        )))
                    }
                    Err(Failure::Store(e)) => return Err(e),
                }
            }
        }
        Ok(joined)
    }
}

/// A kept item as a [`DeletedUser`], or `None` if its purge time has passed at `at`.
fn deleted_user(item: &Item, at: OffsetDateTime) -> Result<Option<DeletedUser>, StoreError> {
    let purge_after = get_n(item, attr::TTL)
        .ok_or_else(|| StoreError::Unavailable("a kept user's item has no ttl".into()))?;
    if expired(purge_after, at) {
        return Ok(None);
    }
    let rec = Rec::from_item(ResourceKind::User, item)?;
    Ok(Some(DeletedUser {
        id: rec.id,
        version: rec.version,
        created: rec.created,
        last_modified: rec.modified,
        deleted: get_s(item, attr::DELETED).unwrap_or_default().to_string(),
        purge_after: purge_timestamp(purge_after),
        attrs: rec.attrs,
        groups: rec.groups.into_keys().collect(),
    }))
}

#[async_trait]
impl DeletedUserStore for DynamoStore {
    async fn delete_user_soft(
        &self,
        tenant: &TenantId,
        id: &str,
        expect: Expect,
        purge_after: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let keep = Keep {
            deleted: now(),
            purge_after: purge_second(purge_after),
        };
        self.mark_soft_deleting(tenant, id, expect).await?;
        let result = self
            .delete_resource(tenant, ResourceKind::User, id, expect, Some(&keep))
            .await;
        self.forget(tenant, id);
        result
    }

    async fn deleted_users(&self, tenant: &TenantId) -> Result<Vec<DeletedUser>, StoreError> {
        let pk = keys::deleted(tenant);
        let at = OffsetDateTime::now_utc();
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (items, more) = self.query_page(&pk, after.as_deref(), LIST_PAGE, None).await?;
            for item in &items {
                if let Some(d) = deleted_user(item, at)? {
                    out.push(d);
                }
            }
            match (more, items.last().and_then(|i| get_s(i, keys::SK))) {
                (true, Some(last)) => after = Some(last.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn restore_user(&self, tenant: &TenantId, id: &str) -> Result<StoredResource, StoreError> {
        if !keys::plausible_id(id) {
            return Err(StoreError::NotFound);
        }
        let kind = ResourceKind::User;
        let kept_pk = keys::deleted(tenant);
        for _ in 0..ATTEMPTS {
            let Some(item) = self.get_consistent(kept_pk.clone(), id).await? else {
                return Err(StoreError::NotFound);
            };
            let item = &item;
            if deleted_user(item, OffsetDateTime::now_utc())?.is_none() {
                return Err(StoreError::NotFound);
            }
            let kept = Rec::from_item(kind, item)?;
            let index = self.index_entries(tenant, kind, id, &kept.attrs);
            // Lookup values are not unique by schema, but two users with one `externalId` would
            // make the IdP's `externalId eq` lookup ambiguous. (Not transactional: a create that
            // races the restore can still take it.)
            for e in index.iter().filter(|e| !e.unique) {
                let (holders, _) = self.query_page(&e.pk, None, 1, Some("sk")).await?;
                if !holders.is_empty() {
                    return Err(StoreError::Uniqueness {
                        attribute: e.label.clone(),
                    });
                }
            }
            let groups_pk = keys::resources(tenant, ResourceKind::Group);
            let found = self
                .batch_get(
                    kept.groups
                        .keys()
                        .map(|g| (groups_pk.clone(), g.clone()))
                        .collect(),
                    Some("pk, sk, v, a"),
                )
                .await?;
            let mut groups: BTreeMap<String, String> = BTreeMap::new();
            for g in found.values() {
                let g = Rec::from_item(ResourceKind::Group, g)?;
                groups.insert(g.id.clone(), g.display_name());
            }
            let fixed = 3 + index.len();
            let first_room = (MAX_TRANSACTION_ITEMS - fixed) / 2;
            let late: BTreeMap<String, String> = groups
                .iter()
                .skip(first_room)
                .map(|(g, d)| (g.clone(), d.clone()))
                .collect();
            let restored = Rec {
                version: kept.version + 1,
                membership_version: kept.membership_version + 1,
                modified: now().max(kept.modified.clone()),
                groups: groups
                    .iter()
                    .take(first_room)
                    .map(|(g, d)| (g.clone(), d.clone()))
                    .collect(),
                left: Default::default(),
                ..kept.clone()
            };
            let mut items = vec![
                (
                    self.put(
                        with_origin(self.resource_item(tenant, &restored), origin::RESTORED),
                        Some("attribute_not_exists(#pk)"),
                    )?,
                    Role::Target,
                ),
                (
                    self.delete(
                        Self::key(&kept_pk, id),
                        Some(("v = :v", vec![(":v", n(kept.version as i64))])),
                    )?,
                    Role::Target,
                ),
                (self.counter(tenant, kind, id, 1)?, Role::Other),
            ];
            for e in &index {
                items.push(self.index_put(e, id)?);
            }
            for g in restored.groups.keys() {
                items.extend(self.join_items(tenant, id, g)?);
            }
            match self.transact(items).await {
                Ok(()) => {}
                Err(Failure::Condition {
                    role: Role::Unique(label),
                    ..
                }) => return Err(StoreError::Uniqueness { attribute: label }),
                // Restored by someone else meanwhile.
                Err(Failure::Condition {
                    role: Role::Target, ..
                }) => return Err(StoreError::NotFound),
                // A group was deleted meanwhile: plan again without it.
                Err(Failure::Condition { .. }) => continue,
                Err(Failure::Store(e)) => return Err(e),
            }
            let mut done = restored;
            done.groups.extend(self.join_late(tenant, id, late).await?);
            return Ok(done.stored(true));
        }
        Err(StoreError::Throttled {
            retry_after_secs: error::RETRY_AFTER_SECS,
        })
    }
}
