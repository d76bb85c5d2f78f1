//! The embedded store: every tenant's users, groups and memberships in memory behind one
//! `RwLock`. Used by `make run` and by tests; it defines the reference behaviour the contract
//! suite (`crate::contract`) checks every backend against. One file per capability, like the
//! traits: this one holds the data and the primitives that change it (each noting its change
//! for events), the others implement each trait on them.
//!
//! The lock is a `std::sync::RwLock`, taken and released inside each method with no `.await` in
//! between, so a guard is never held across a suspension point.
//!
//! Change events: every change of a record or a membership goes through one of the few `Tenant`
//! methods that make it (`put_record`, `revive`, `remove_record`, `write_members`, `leave_all`),
//! which note it as an [`ItemChange`] in the tenant's journal. A write runs inside
//! [`MemoryStore::write_tenant`], which turns the journal into events when the write succeeds
//! and drops it when it fails (every write validates before it mutates, so a failed write changed
//! nothing). A new write method gets its events by using those methods inside `write_tenant`.
//!
//! Every operation takes the lock once, and counts as one store call ([`crate::metering`]).

mod access;
mod deleted;
mod log;
mod resources;
mod settings;
#[cfg(test)]
mod tests;
mod token_usage;
mod unmanaged;

use crate::attributes::{indexed_attributes, IndexedAttribute};
use crate::events::{events_for, EventSink, ItemChange, Lifecycle, MembershipChange, ResourceState};
use crate::unmanaged::{Conflict, MatchAttribute, UnmanagedAccount};
use crate::{
    metering, timestamp, Include, Member, ResourceKind, StoreError, StoredResource, TenantId,
    VersionedSettings,
};
use scim_proto::schema::SchemaRegistry;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use time::OffsetDateTime;

/// One stored user or group.
#[derive(Debug, Clone)]
struct Record {
    version: u64,
    created: OffsetDateTime,
    last_modified: OffsetDateTime,
    attrs: Map<String, Value>,
}

impl Record {
    /// The record as one side of an [`ItemChange`].
    fn state(&self, lifecycle: Lifecycle) -> ResourceState {
        ResourceState {
            version: self.version,
            last_modified: timestamp(self.last_modified),
            attrs: self.attrs.clone(),
            lifecycle,
        }
    }
}

/// A soft-deleted user, kept until its purge second.
#[derive(Debug, Clone)]
struct Kept {
    record: Record,
    deleted: OffsetDateTime,
    purge_after: i64,
    /// The groups it was directly in.
    groups: BTreeSet<String>,
}

/// An unmanaged account as kept.
#[derive(Debug, Clone)]
struct UnmanagedRecord {
    record: Record,
    set_aside: Option<OffsetDateTime>,
}

impl UnmanagedRecord {
    fn account(&self, id: &str) -> UnmanagedAccount {
        UnmanagedAccount {
            id: id.to_string(),
            version: self.record.version,
            created: timestamp(self.record.created),
            last_modified: timestamp(self.record.last_modified),
            attrs: self.record.attrs.clone(),
            set_aside: self.set_aside.map(timestamp),
        }
    }
}

/// Everything one tenant holds. Ids are UUIDs shared by users and groups, so one `member_of`
/// map serves both kinds of member.
#[derive(Debug, Default)]
struct Tenant {
    /// `BTreeMap` for stable id order when paging.
    users: BTreeMap<String, Record>,
    groups: BTreeMap<String, Record>,
    /// (kind, attribute label) → normalised value → id.
    unique: HashMap<(ResourceKind, String), HashMap<String, String>>,
    /// group id → member id → member kind.
    members: HashMap<String, BTreeMap<String, ResourceKind>>,
    /// member id → the groups that contain it directly.
    member_of: HashMap<String, BTreeSet<String>>,
    settings: VersionedSettings,
    /// Soft-deleted users by id; expired ones are hidden and dropped by the next soft-delete
    /// operation ([`Tenant::drop_expired`]).
    deleted: BTreeMap<String, Kept>,
    /// Imported accounts SCIM does not manage, by id, set-aside ones included.
    unmanaged: BTreeMap<String, UnmanagedRecord>,
    /// (attribute, normalised value) → the live unmanaged account that holds it.
    unmanaged_index: HashMap<(MatchAttribute, String), String>,
    /// Conflicts by id.
    conflicts: BTreeMap<String, Conflict>,
    /// The changes of the write in progress (see the module documentation).
    journal: Vec<ItemChange>,
    /// Membership changes so far: each one's [`ItemChange::Membership::revision`].
    membership_changes: u64,
}

impl Tenant {
    fn records(&self, kind: ResourceKind) -> &BTreeMap<String, Record> {
        match kind {
            ResourceKind::User => &self.users,
            ResourceKind::Group => &self.groups,
        }
    }

    fn records_mut(&mut self, kind: ResourceKind) -> &mut BTreeMap<String, Record> {
        match kind {
            ResourceKind::User => &mut self.users,
            ResourceKind::Group => &mut self.groups,
        }
    }

    /// Creates or replaces a record.
    fn put_record(&mut self, kind: ResourceKind, id: &str, record: Record) {
        let new = record.state(Lifecycle::Live);
        let old = self.records_mut(kind).insert(id.to_string(), record);
        self.journal.push(ItemChange::Resource {
            kind,
            id: id.to_string(),
            old: old.map(|r| r.state(Lifecycle::Live)),
            time: new.last_modified.clone(),
            new: Some(new),
        });
    }

    /// Makes a user that was soft-deleted or unmanaged (`from`) a live one again.
    fn revive(&mut self, id: &str, record: Record, from: ResourceState) {
        let new = record.state(Lifecycle::Live);
        self.users.insert(id.to_string(), record);
        self.journal.push(ItemChange::Resource {
            kind: ResourceKind::User,
            id: id.to_string(),
            old: Some(from),
            time: new.last_modified.clone(),
            new: Some(new),
        });
    }

    /// Removes a record (not its memberships or index entries); `kept` is the state it is kept
    /// in (a soft delete), `None` for a hard delete.
    fn remove_record(
        &mut self,
        kind: ResourceKind,
        id: &str,
        at: &str,
        kept: Option<ResourceState>,
    ) -> Option<Record> {
        let old = self.records_mut(kind).remove(id)?;
        self.journal.push(ItemChange::Resource {
            kind,
            id: id.to_string(),
            old: Some(old.state(Lifecycle::Live)),
            new: kept,
            time: at.to_string(),
        });
        Some(old)
    }

    fn note_membership(
        &mut self,
        group_id: &str,
        member_id: &str,
        kind: ResourceKind,
        change: MembershipChange,
        at: &str,
    ) {
        self.membership_changes += 1;
        self.journal.push(ItemChange::Membership {
            group_id: group_id.to_string(),
            member_id: member_id.to_string(),
            member_kind: kind,
            change,
            time: at.to_string(),
            revision: self.membership_changes.to_string(),
        });
    }

    fn kind_of(&self, id: &str) -> Option<ResourceKind> {
        if self.users.contains_key(id) {
            Some(ResourceKind::User)
        } else if self.groups.contains_key(id) {
            Some(ResourceKind::Group)
        } else {
            None
        }
    }

    fn display_name(&self, group_id: &str) -> String {
        self.groups
            .get(group_id)
            .and_then(|r| r.attrs.get("displayName"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// The groups a resource belongs to directly, by group id.
    fn direct_groups(&self, id: &str) -> Vec<(String, String)> {
        self.member_of
            .get(id)
            .map(|gs| gs.iter().map(|g| (g.clone(), self.display_name(g))).collect())
            .unwrap_or_default()
    }

    fn member_list(&self, group_id: &str) -> Vec<Member> {
        self.members
            .get(group_id)
            .map(|ms| {
                ms.iter()
                    .map(|(value, kind)| Member {
                        value: value.clone(),
                        kind: *kind,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks that no other resource of `kind` holds `attrs`' unique values.
    fn check_unique(
        &self,
        kind: ResourceKind,
        id: &str,
        attrs: &Map<String, Value>,
        unique: &[IndexedAttribute],
    ) -> Result<(), StoreError> {
        for u in unique {
            let Some(key) = u.value(attrs) else { continue };
            let holder = self
                .unique
                .get(&(kind, u.label()))
                .and_then(|index| index.get(&key));
            if holder.is_some_and(|h| h != id) {
                return Err(StoreError::Uniqueness { attribute: u.label() });
            }
        }
        Ok(())
    }

    fn unindex(
        &mut self,
        kind: ResourceKind,
        id: &str,
        attrs: &Map<String, Value>,
        unique: &[IndexedAttribute],
    ) {
        for u in unique {
            let Some(key) = u.value(attrs) else { continue };
            if let Some(index) = self.unique.get_mut(&(kind, u.label())) {
                if index.get(&key).is_some_and(|h| h == id) {
                    index.remove(&key);
                }
            }
        }
    }

    fn index(
        &mut self,
        kind: ResourceKind,
        id: &str,
        attrs: &Map<String, Value>,
        unique: &[IndexedAttribute],
    ) {
        for u in unique {
            let Some(key) = u.value(attrs) else { continue };
            self.unique
                .entry((kind, u.label()))
                .or_default()
                .insert(key, id.to_string());
        }
    }

    /// Replaces `group_id`'s members with `next`, keeping `member_of` in step; `at` is the
    /// commit time of the write.
    fn write_members(&mut self, group_id: &str, next: BTreeMap<String, ResourceKind>, at: &str) {
        let old = self.members.remove(group_id).unwrap_or_default();
        for (id, kind) in old.iter().filter(|(id, _)| !next.contains_key(*id)) {
            self.leave(id, group_id);
            self.note_membership(group_id, id, *kind, MembershipChange::Removed, at);
        }
        for (id, kind) in next.iter().filter(|(id, _)| !old.contains_key(*id)) {
            self.member_of
                .entry(id.clone())
                .or_default()
                .insert(group_id.to_string());
            self.note_membership(group_id, id, *kind, MembershipChange::Added, at);
        }
        if !next.is_empty() {
            self.members.insert(group_id.to_string(), next);
        }
    }

    /// Removes a resource, its index entries and every membership it takes part in (RFC 7644
    /// §3.6: the resource is gone everywhere), at `at`; `soft` keeps it as soft-deleted (for
    /// its change event). Returns the record and the groups it was directly in, or `None` if
    /// there is no such resource.
    fn remove(
        &mut self,
        kind: ResourceKind,
        id: &str,
        unique: &[IndexedAttribute],
        at: OffsetDateTime,
        soft: bool,
    ) -> Option<(Record, BTreeSet<String>)> {
        let current = self.records(kind).get(id)?;
        let at = at.max(current.last_modified);
        let kept = soft.then(|| ResourceState {
            last_modified: timestamp(at),
            ..current.state(Lifecycle::SoftDeleted)
        });
        let attrs = current.attrs.clone();
        let stamp = timestamp(at);
        let groups = self.member_of.get(id).cloned().unwrap_or_default();
        self.leave_all(id, &stamp);
        // A group's own members no longer belong to it.
        if kind == ResourceKind::Group {
            self.write_members(id, BTreeMap::new(), &stamp);
        }
        self.unindex(kind, id, &attrs, unique);
        let record = self.remove_record(kind, id, &stamp, kept)?;
        Some((record, groups))
    }

    /// Takes `member` out of every group that contains it (its own members stay).
    fn leave_all(&mut self, member: &str, at: &str) {
        for g in self.member_of.remove(member).unwrap_or_default() {
            let Some(ms) = self.members.get_mut(&g) else {
                continue;
            };
            let Some(kind) = ms.remove(member) else { continue };
            if ms.is_empty() {
                self.members.remove(&g);
            }
            self.note_membership(&g, member, kind, MembershipChange::Removed, at);
        }
    }

    fn leave(&mut self, member: &str, group_id: &str) {
        if let Some(gs) = self.member_of.get_mut(member) {
            gs.remove(group_id);
            if gs.is_empty() {
                self.member_of.remove(member);
            }
        }
    }

    fn stored(&self, kind: ResourceKind, id: &str, record: &Record, include: Include) -> StoredResource {
        StoredResource {
            id: id.to_string(),
            kind,
            version: record.version,
            created: timestamp(record.created),
            last_modified: timestamp(record.last_modified),
            attrs: record.attrs.clone(),
            members: (include.members && kind == ResourceKind::Group).then(|| self.member_list(id)),
            groups: (include.groups && kind == ResourceKind::User).then(|| self.direct_groups(id)),
        }
    }
}

#[derive(Debug, Default)]
struct Data {
    tenants: HashMap<TenantId, Tenant>,
}

/// The in-memory [`Store`].
///
/// Beyond the trait's contract:
/// - an update that would change nothing (same attributes, same members after applying the
///   change) is not written: the version and `lastModified` stay as they are, so clients that
///   re-send the same PATCH (Okta, Entra) keep a stable ETag;
/// - removing memberships as a side effect of a delete does not bump the other resources'
///   versions (memberships are stored apart from the resources).
pub struct MemoryStore {
    registry: Arc<SchemaRegistry>,
    unique_users: Vec<IndexedAttribute>,
    unique_groups: Vec<IndexedAttribute>,
    data: RwLock<Data>,
    events: Option<Arc<dyn EventSink>>,
    /// The provisioning log and token uses, apart from `data`: recording a request never
    /// waits for a write of resources.
    log: std::sync::Mutex<log::MemoryLog>,
    token_uses: std::sync::Mutex<HashMap<TenantId, BTreeMap<String, crate::TokenUse>>>,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenants = self.data.read().map(|d| d.tenants.len()).unwrap_or_default();
        f.debug_struct("MemoryStore")
            .field("tenants", &tenants)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// The attributes whose values are unique in a tenant, as every store decides them.
fn unique_attrs(registry: &SchemaRegistry, kind: ResourceKind) -> Vec<IndexedAttribute> {
    indexed_attributes(registry, kind)
        .into_iter()
        .filter(IndexedAttribute::is_unique)
        .collect()
}

/// A lock poisoned by a panic in another request: fail the request, not the process.
fn poisoned<T>(_: T) -> StoreError {
    StoreError::Unavailable("the in-memory store's lock is poisoned".into())
}

impl MemoryStore {
    /// An empty store; uniqueness rules are read from `registry` (RFC 7643 §2.2 `uniqueness`).
    pub fn new(registry: Arc<SchemaRegistry>) -> Self {
        let unique_users = unique_attrs(&registry, ResourceKind::User);
        let unique_groups = unique_attrs(&registry, ResourceKind::Group);
        MemoryStore {
            registry,
            unique_users,
            unique_groups,
            data: RwLock::new(Data::default()),
            events: None,
            log: std::sync::Mutex::new(log::MemoryLog::new(log::MEMORY_LOG_CAPACITY)),
            token_uses: std::sync::Mutex::default(),
        }
    }

    /// The store, keeping at most `records` provisioning log records per tenant.
    pub fn with_log_capacity(self, records: usize) -> Self {
        MemoryStore {
            log: std::sync::Mutex::new(log::MemoryLog::new(records)),
            ..self
        }
    }

    /// The store, publishing the events of every committed write to `sink`.
    pub fn with_events(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events = Some(sink);
        self
    }

    fn unique(&self, kind: ResourceKind) -> &[IndexedAttribute] {
        match kind {
            ResourceKind::User => &self.unique_users,
            ResourceKind::Group => &self.unique_groups,
        }
    }

    /// Every operation takes the lock exactly once, so this is where it counts as a store call.
    fn read(&self) -> Result<RwLockReadGuard<'_, Data>, StoreError> {
        metering::count_call();
        self.data.read().map_err(poisoned)
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Data>, StoreError> {
        metering::count_call();
        self.data.write().map_err(poisoned)
    }

    /// Runs one write on `tenant`'s data under the write lock. When it succeeds, the events of
    /// what it changed go to the sink before the lock is released, so each resource's events
    /// arrive in the order of its versions; when it fails, there are none.
    fn write_tenant<R>(
        &self,
        tenant: &TenantId,
        write: impl FnOnce(&mut Tenant) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut data = self.write()?;
        let t = data.tenants.entry(tenant.clone()).or_default();
        let result = write(t);
        let changes = std::mem::take(&mut t.journal);
        if let (Ok(_), Some(sink)) = (&result, &self.events) {
            let events = events_for(tenant, &changes);
            if !events.is_empty() {
                sink.publish(&events);
            }
        }
        result
    }
}
