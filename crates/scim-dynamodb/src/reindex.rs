//! Bringing items written by earlier releases up to the current key design (`scimctl reindex`):
//! index keys written before identifiers compared in Unicode NFC, and resource items written
//! before the sort indexes, which lack their sort keys.
//!
//! Sort keys: each user and group item carries one `ord_*` attribute per sort index of its kind
//! ([`keys::SORT_INDEXES`]); an item without them is missing from those indexes, so sorted lists
//! leave it out. The reindex sets every sort key an item lacks or holds stale, in the same
//! transaction as its key moves, conditional on the version it read. The change touches no
//! SCIM attribute, so it makes no change event.
//!
//! Index items and unmanaged match entries are keyed by the normalised value
//! (`scim_store::attributes::fold`: NFC, then lower case unless `caseExact`). Items written
//! before the NFC step are keyed by [`fold_before_nfc`]; for a value that is not already in NFC
//! (a decomposed "jose\u{301}") that old key is one no lookup, uniqueness check or write computes
//! any more. [`DynamoStore::reindex`] walks a tenant's users, groups and live unmanaged accounts
//! a page at a time and, per resource whose old and new keys differ, deletes the old item and
//! puts the new one in one transaction. ASCII and already composed values have equal keys and
//! cost nothing beyond the listing.
//!
//! [`fold_before_nfc`]: scim_store::attributes::fold_before_nfc

use crate::calls::build_error;
use crate::record::{attr, get_n, get_s, n, s, Item, Rec};
use crate::unmanaged::field::SET_ASIDE;
use crate::{index_entry, keys, DynamoStore, Failure, Role};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use scim_store::unmanaged::{match_keys, match_keys_before_nfc};
use scim_store::{ResourceKind, StoreError, TenantId};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Resources read per listing Query: one BatchGetItem reads the index items of a page's moves.
const PAGE: i32 = 100;

/// What [`DynamoStore::reindex`] did (or, in a dry run, would do) in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReindexReport {
    /// Users, groups and live unmanaged accounts examined.
    pub users: u64,
    pub groups: u64,
    pub unmanaged: u64,
    /// Index keys moved to their NFC form (a dry run: that would move).
    pub moved: u64,
    /// Users and groups given their sort keys (a dry run: that would be).
    pub sort_keys_set: u64,
    /// New keys another resource already holds: real duplicates for an operator to resolve.
    pub conflicts: Vec<ReindexConflict>,
    /// Resources written by someone else while being reindexed (their transaction's condition
    /// failed, nothing was written): a second run picks them up.
    pub changed: Vec<String>,
}

/// Two resources whose values are one identifier in NFC: the key of `id` was not moved because
/// `holder` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReindexConflict {
    /// `User`, `Group`, or `UnmanagedAccount`.
    pub kind: String,
    pub attribute: String,
    /// The value in its normalised (NFC) form, which both share.
    pub value: String,
    pub id: String,
    pub holder: String,
}

/// One index item whose key changed with NFC.
struct KeyMove {
    attribute: String,
    value: String,
    old: (String, String),
    new: (String, String),
}

/// A listed resource with the keys it has to move.
struct Planned {
    id: String,
    version: u64,
    moves: Vec<KeyMove>,
    /// Sort keys the item lacks or holds stale, as item attributes to set.
    sort_keys: Vec<(&'static str, AttributeValue)>,
}

/// The three listings a reindex walks.
#[derive(Clone, Copy)]
enum Listing {
    Resources(ResourceKind),
    Unmanaged,
}

impl Listing {
    fn kind_name(self) -> &'static str {
        match self {
            Listing::Resources(kind) => kind.name(),
            Listing::Unmanaged => "UnmanagedAccount",
        }
    }

    fn partition(self, tenant: &TenantId) -> String {
        match self {
            Listing::Resources(kind) => keys::resources(tenant, kind),
            Listing::Unmanaged => keys::unmanaged(tenant),
        }
    }
}

impl DynamoStore {
    /// Moves `tenant`'s index items and unmanaged match entries from their pre-NFC keys to their
    /// current ones; with `dry_run`, only reads and reports. Per resource one TransactWriteItems:
    /// a check that the resource's version has not moved (a resource deleted or renamed
    /// meanwhile keeps nothing), each old item deleted if it still names this id, each new one
    /// put if absent or already this id's. A new key another resource holds is a conflict,
    /// reported and left alone. Idempotent: once moved, a key costs a read and no write.
    pub async fn reindex(&self, tenant: &TenantId, dry_run: bool) -> Result<ReindexReport, StoreError> {
        let mut report = ReindexReport::default();
        for listing in [
            Listing::Resources(ResourceKind::User),
            Listing::Resources(ResourceKind::Group),
            Listing::Unmanaged,
        ] {
            let examined = self
                .reindex_listing(tenant, listing, dry_run, &mut report)
                .await?;
            match listing {
                Listing::Resources(ResourceKind::User) => report.users = examined,
                Listing::Resources(ResourceKind::Group) => report.groups = examined,
                Listing::Unmanaged => report.unmanaged = examined,
            }
        }
        Ok(report)
    }

    /// Pages through one listing (after the counter shards); returns how many it examined.
    async fn reindex_listing(
        &self,
        tenant: &TenantId,
        listing: Listing,
        dry_run: bool,
        report: &mut ReindexReport,
    ) -> Result<u64, StoreError> {
        let pk = listing.partition(tenant);
        let mut after = keys::AFTER_COUNTERS.to_string();
        let mut examined = 0;
        loop {
            let (items, more) = self.query_page(&pk, Some(&after), PAGE, None).await?;
            let Some(last) = items.last().and_then(|i| get_s(i, keys::SK)) else {
                break;
            };
            after = last.to_string();
            let mut planned = Vec::new();
            for item in &items {
                if let Some(p) = self.plan(tenant, listing, item)? {
                    examined += 1;
                    if !p.moves.is_empty() || !p.sort_keys.is_empty() {
                        planned.push(p);
                    }
                }
            }
            self.move_keys(tenant, listing, planned, dry_run, report).await?;
            if !more {
                break;
            }
        }
        Ok(examined)
    }

    /// The keys `item` has to move; `None` for an item that is not reindexed (a set-aside
    /// account, which holds no match entries).
    fn plan(&self, tenant: &TenantId, listing: Listing, item: &Item) -> Result<Option<Planned>, StoreError> {
        match listing {
            Listing::Resources(kind) => {
                let rec = Rec::from_item(kind, item)?;
                let moves = self
                    .indexed(kind)
                    .iter()
                    .filter_map(|a| {
                        let (old, new) = (a.value_before_nfc(&rec.attrs)?, a.value(&rec.attrs)?);
                        let key = |value: &str| {
                            let e = index_entry(tenant, kind, &rec.id, a, value);
                            (e.pk, e.sk)
                        };
                        (old != new).then(|| KeyMove {
                            old: key(&old),
                            new: key(&new),
                            attribute: a.label(),
                            value: new,
                        })
                    })
                    .collect();
                let sort_keys = self
                    .sort_attributes(&rec)
                    .into_iter()
                    .filter(|(name, key)| item.get(*name) != Some(key))
                    .collect();
                Ok(Some(Planned {
                    id: rec.id,
                    version: rec.version,
                    moves,
                    sort_keys,
                }))
            }
            Listing::Unmanaged => {
                if get_s(item, SET_ASIDE).is_some() {
                    return Ok(None);
                }
                let corrupt = || StoreError::Unavailable("an unmanaged account item is malformed".into());
                let id = get_s(item, keys::SK).ok_or_else(corrupt)?.to_string();
                let version = get_n(item, attr::VERSION)
                    .and_then(|v| u64::try_from(v).ok())
                    .ok_or_else(corrupt)?;
                let attrs: Map<String, Value> = match get_s(item, attr::ATTRS).map(serde_json::from_str) {
                    Some(Ok(Value::Object(m))) => m,
                    _ => return Err(corrupt()),
                };
                let old_keys = match_keys_before_nfc(&attrs);
                let moves = match_keys(&attrs)
                    .into_iter()
                    .filter_map(|(attribute, new)| {
                        let (_, old) = old_keys.iter().find(|(a, _)| *a == attribute)?;
                        (*old != new).then(|| KeyMove {
                            old: (
                                keys::unmanaged_index(tenant, attribute, old),
                                keys::UNIQUE_SK.into(),
                            ),
                            new: (
                                keys::unmanaged_index(tenant, attribute, &new),
                                keys::UNIQUE_SK.into(),
                            ),
                            attribute: attribute.name().to_string(),
                            value: new,
                        })
                    })
                    .collect();
                Ok(Some(Planned {
                    id,
                    version,
                    moves,
                    sort_keys: Vec::new(),
                }))
            }
        }
    }

    /// Reads the old and new items of one page's moves (one BatchGetItem per 50 moves) and
    /// writes each resource's moves in one transaction.
    async fn move_keys(
        &self,
        tenant: &TenantId,
        listing: Listing,
        planned: Vec<Planned>,
        dry_run: bool,
        report: &mut ReindexReport,
    ) -> Result<(), StoreError> {
        if planned.is_empty() {
            return Ok(());
        }
        let wanted = planned
            .iter()
            .flat_map(|p| &p.moves)
            .flat_map(|m| [m.old.clone(), m.new.clone()])
            .collect();
        let found = self.batch_get(wanted, None).await?;
        let holder = |key: &(String, String)| found.get(key).and_then(|i| get_s(i, attr::ID));
        for resource in planned {
            let mut items = Vec::new();
            let mut moved = 0;
            for m in &resource.moves {
                let new_holder = holder(&m.new);
                if let Some(other) = new_holder.filter(|h| *h != resource.id) {
                    report.conflicts.push(ReindexConflict {
                        kind: listing.kind_name().to_string(),
                        attribute: m.attribute.clone(),
                        value: m.value.clone(),
                        id: resource.id.clone(),
                        holder: other.to_string(),
                    });
                    continue;
                }
                let mut wrote = false;
                if holder(&m.old) == Some(resource.id.as_str()) {
                    items.push((self.delete_if_holder(&m.old, &resource.id)?, Role::Other));
                    wrote = true;
                }
                if new_holder.is_none() {
                    items.push((self.put_unless_held(&m.new, &resource.id)?, Role::Other));
                    wrote = true;
                }
                moved += u64::from(wrote);
            }
            let sorting = !resource.sort_keys.is_empty();
            if items.is_empty() && !sorting {
                continue;
            }
            if dry_run {
                report.moved += moved;
                report.sort_keys_set += u64::from(sorting);
                continue;
            }
            let own = Self::key(listing.partition(tenant), resource.id.clone());
            let own_write = if sorting {
                // The item's own write is also its version check (one item, one action).
                let (set, keys) = Self::sort_key_assignments(resource.sort_keys.clone());
                let mut values: Vec<(&str, AttributeValue)> = vec![(":v", n(resource.version as i64))];
                values.extend(keys);
                self.update(own, &format!("SET {set}"), Some("v = :v"), vec![], values)?
            } else {
                self.version_check(own, resource.version)?
            };
            items.push((own_write, Role::Target));
            match self.transact(items).await {
                Ok(()) => {
                    report.moved += moved;
                    report.sort_keys_set += u64::from(sorting);
                }
                Err(Failure::Condition { .. }) => report.changed.push(resource.id),
                Err(Failure::Store(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// Deletes an index item only while it still names `id`.
    fn delete_if_holder(
        &self,
        (pk, sk): &(String, String),
        id: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let d = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk.clone(), sk.clone())))
            .condition_expression("#id = :id")
            .expression_attribute_names("#id", attr::ID)
            .expression_attribute_values(":id", s(id))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(d).build())
    }

    /// Puts an index item naming `id` unless another resource's is there.
    fn put_unless_held(
        &self,
        (pk, sk): &(String, String),
        id: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item: HashMap<String, _> = Self::key(pk.clone(), sk.clone());
        item.insert(attr::ID.into(), s(id));
        let p = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #id = :id")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#id", attr::ID)
            .expression_attribute_values(":id", s(id))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(p).build())
    }
}
