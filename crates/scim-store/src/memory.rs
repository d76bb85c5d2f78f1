//! The embedded store: every tenant's users, groups and memberships in memory behind one
//! `RwLock`. Used by `make run` and by tests; it defines the reference behaviour the contract
//! suite ([`crate::contract`]) checks every backend against.
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

use crate::events::{events_for, EventSink, ItemChange, Lifecycle, MembershipChange, ResourceState};
use crate::unmanaged::{
    self, Conflict, ConflictStatus, MatchAttribute, Resolution, UnmanagedAccount, UnmanagedMatch,
};
use crate::{
    check_member_kind, expired, now, purge_second, purge_timestamp, stored_attributes, timestamp,
    unknown_member, DeletedUser, Expect, GroupAncestry, Include, Member, MemberChange, Page, Paging, Query,
    ResourceKind, Store, StoreError, StoredResource, TenantId, TenantSettings, VersionedSettings,
};
use async_trait::async_trait;
use scim_proto::schema::{AttrType, ResourceSchema, SchemaRegistry, Uniqueness};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use time::OffsetDateTime;

/// Attributes a filter can name that exist only in the view built by `Tenant::filter_view`.
const DERIVED: [&str; 4] = ["id", "meta", "groups", "members"];

/// An attribute whose values must be unique in a tenant (RFC 7643 §2.2 `uniqueness`).
#[derive(Debug, Clone)]
struct UniqueAttr {
    /// The extension URN for extension attributes, which sit inside the URN's object.
    extension: Option<String>,
    name: String,
    case_exact: bool,
}

impl UniqueAttr {
    /// The index key of this attribute's value in `attrs`, if it has a scalar value.
    fn key(&self, attrs: &Map<String, Value>) -> Option<String> {
        let holder = match &self.extension {
            Some(urn) => attrs.get(urn)?.as_object()?,
            None => attrs,
        };
        let value = match holder.get(&self.name)? {
            Value::String(s) if self.case_exact => s.clone(),
            // RFC 7643 §2.2 `caseExact: false`: `Alice` and `alice` are the same value.
            Value::String(s) => s.to_lowercase(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            // Complex and multi-valued attributes have no single value to index.
            _ => return None,
        };
        Some(value)
    }

    fn label(&self) -> String {
        match &self.extension {
            Some(urn) => format!("{urn}:{}", self.name),
            None => self.name.clone(),
        }
    }
}

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
        unique: &[UniqueAttr],
    ) -> Result<(), StoreError> {
        for u in unique {
            let Some(key) = u.key(attrs) else { continue };
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

    fn unindex(&mut self, kind: ResourceKind, id: &str, attrs: &Map<String, Value>, unique: &[UniqueAttr]) {
        for u in unique {
            let Some(key) = u.key(attrs) else { continue };
            if let Some(index) = self.unique.get_mut(&(kind, u.label())) {
                if index.get(&key).is_some_and(|h| h == id) {
                    index.remove(&key);
                }
            }
        }
    }

    fn index(&mut self, kind: ResourceKind, id: &str, attrs: &Map<String, Value>, unique: &[UniqueAttr]) {
        for u in unique {
            let Some(key) = u.key(attrs) else { continue };
            self.unique
                .entry((kind, u.label()))
                .or_default()
                .insert(key, id.to_string());
        }
    }

    /// Applies a member change to a copy of `group_id`'s members (RFC 7644 §3.5.2: clear, then
    /// remove, then add), validating every added id. Nothing is written here, so a failing
    /// change leaves the tenant untouched.
    fn plan_members(
        &self,
        group_id: &str,
        change: &MemberChange,
    ) -> Result<BTreeMap<String, ResourceKind>, StoreError> {
        let mut next = if change.replace_all {
            BTreeMap::new()
        } else {
            self.members.get(group_id).cloned().unwrap_or_default()
        };
        for id in &change.remove {
            next.remove(id);
        }
        for (id, given) in &change.add {
            if next.contains_key(id) {
                continue;
            }
            let kind = self.kind_of(id).ok_or_else(|| unknown_member(id))?;
            check_member_kind(id, kind, *given)?;
            if kind == ResourceKind::Group {
                if let Some(cycle) = self.cycle_through(group_id, id) {
                    return Err(StoreError::InvalidMember(format!(
                        "adding group '{id}' to group '{group_id}' would create a cycle: {}",
                        cycle.join(" > ")
                    )));
                }
            }
            next.insert(id.clone(), kind);
        }
        Ok(next)
    }

    /// If `parent` is reachable from `child` through group members (or is `child`), the cycle
    /// that adding `child` to `parent` would close, as a list of group ids from `parent`.
    ///
    /// Members of `parent` itself never matter: any path through `parent` already reached it.
    fn cycle_through(&self, parent: &str, child: &str) -> Option<Vec<String>> {
        let mut came_from: HashMap<&str, &str> = HashMap::new();
        let mut queue = VecDeque::from([child]);
        let mut seen = BTreeSet::from([child]);
        while let Some(g) = queue.pop_front() {
            if g == parent {
                let mut path = vec![g.to_string()];
                let mut cur = g;
                while let Some(prev) = came_from.get(cur) {
                    path.push((*prev).to_string());
                    cur = prev;
                }
                // path is parent ← … ← child; read it as parent > child > … > parent.
                path.reverse();
                path.insert(0, parent.to_string());
                return Some(path);
            }
            for (m, kind) in self.members.get(g).into_iter().flatten() {
                if *kind == ResourceKind::Group && seen.insert(m.as_str()) {
                    came_from.insert(m.as_str(), g);
                    queue.push_back(m.as_str());
                }
            }
        }
        None
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
        unique: &[UniqueAttr],
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

    /// Drops the soft-deleted users whose purge second has passed.
    fn drop_expired(&mut self, at: OffsetDateTime) {
        self.deleted.retain(|_, k| !expired(k.purge_after, at));
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

    /// The ids that can match a filter with these equality conditions, from the indexes, in id
    /// order; `None` when no condition is indexed (scan everything). The caller still runs
    /// [`scim_proto::Filter::matches`] on each candidate.
    ///
    /// Indexed: `id`, unique attributes (`userName eq`, the lookup every IdP makes before a
    /// create), `groups.value` on users and `members.value` on groups (membership checks).
    fn candidates(
        &self,
        kind: ResourceKind,
        lookups: &[(String, String)],
        unique: &[UniqueAttr],
    ) -> Option<BTreeSet<String>> {
        let mut result: Option<BTreeSet<String>> = None;
        for (path, value) in lookups {
            let found: BTreeSet<String> = if path == "id" {
                // `id` is caseExact (RFC 7643 §3.1).
                BTreeSet::from([value.clone()])
            } else if let Some(u) = unique.iter().find(|u| u.label() == *path) {
                let key = if u.case_exact {
                    value.clone()
                } else {
                    value.to_lowercase()
                };
                self.unique
                    .get(&(kind, u.label()))
                    .and_then(|index| index.get(&key))
                    .into_iter()
                    .cloned()
                    .collect()
            } else if kind == ResourceKind::User && path == "groups.value" {
                // `groups.value` is not caseExact; the store's ids are lower-case UUIDs.
                self.members
                    .get(&value.to_lowercase())
                    .map(|ms| {
                        ms.iter()
                            .filter(|(_, k)| **k == ResourceKind::User)
                            .map(|(id, _)| id.clone())
                            .collect()
                    })
                    .unwrap_or_default()
            } else if kind == ResourceKind::Group && path == "members.value" {
                self.member_of
                    .get(&value.to_lowercase())
                    .cloned()
                    .unwrap_or_default()
            } else {
                continue;
            };
            result = Some(match result {
                None => found,
                Some(r) => r.intersection(&found).cloned().collect(),
            });
        }
        result
    }

    /// The live unmanaged account, other than `except`, that `attrs` meet (`userName` first).
    fn unmanaged_match(&self, attrs: &Map<String, Value>, except: Option<&str>) -> Option<UnmanagedMatch> {
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
    fn unindex_unmanaged(&mut self, id: &str, attrs: &Map<String, Value>) {
        for key in unmanaged::match_keys(attrs) {
            if self.unmanaged_index.get(&key).is_some_and(|h| h == id) {
                self.unmanaged_index.remove(&key);
            }
        }
    }

    /// The resource as a filter sees it: attributes plus `id`, `meta` and the derived
    /// `groups` (users) or `members` (groups), so any attribute a client can read can be
    /// filtered on (RFC 7644 §3.4.2.2).
    fn filter_view(&self, kind: ResourceKind, id: &str, record: &Record) -> Map<String, Value> {
        let mut view = record.attrs.clone();
        view.insert("id".into(), Value::String(id.to_string()));
        view.insert(
            "meta".into(),
            json!({
                "resourceType": kind.name(),
                "created": timestamp(record.created),
                "lastModified": timestamp(record.last_modified),
                "version": format!("W/\"{}\"", record.version),
            }),
        );
        match kind {
            ResourceKind::User => {
                let groups: Vec<Value> = self
                    .direct_groups(id)
                    .into_iter()
                    .map(|(value, display)| {
                        let mut g = Map::new();
                        g.insert("value".into(), Value::String(value));
                        if !display.is_empty() {
                            g.insert("display".into(), Value::String(display));
                        }
                        g.insert("type".into(), Value::String("direct".into()));
                        Value::Object(g)
                    })
                    .collect();
                if !groups.is_empty() {
                    view.insert("groups".into(), Value::Array(groups));
                }
            }
            ResourceKind::Group => {
                let members: Vec<Value> = self
                    .member_list(id)
                    .into_iter()
                    .map(|m| json!({"value": m.value, "type": m.kind.name()}))
                    .collect();
                if !members.is_empty() {
                    view.insert("members".into(), Value::Array(members));
                }
            }
        }
        view
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
    unique_users: Vec<UniqueAttr>,
    unique_groups: Vec<UniqueAttr>,
    data: RwLock<Data>,
    events: Option<Arc<dyn EventSink>>,
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

fn unique_attrs(schema: Option<ResourceSchema<'_>>) -> Vec<UniqueAttr> {
    let Some(schema) = schema else {
        return Vec::new();
    };
    schema
        .attributes()
        .filter(|(_, a)| {
            matches!(a.uniqueness, Uniqueness::Server | Uniqueness::Global)
                && a.name != "id"
                && !a.multi_valued
                && a.ty != AttrType::Complex
        })
        .map(|(ext, a)| UniqueAttr {
            extension: ext.map(str::to_string),
            name: a.name.clone(),
            case_exact: a.case_exact,
        })
        .collect()
}

/// Milliseconds are all the store keeps, so what it compares is what it renders.
fn poisoned<T>(_: T) -> StoreError {
    StoreError::Unavailable("the in-memory store's lock is poisoned".into())
}

impl MemoryStore {
    /// An empty store; uniqueness rules are read from `registry` (RFC 7643 §2.2 `uniqueness`).
    pub fn new(registry: Arc<SchemaRegistry>) -> Self {
        let unique_users = unique_attrs(registry.view(ResourceKind::User.name()));
        let unique_groups = unique_attrs(registry.view(ResourceKind::Group.name()));
        MemoryStore {
            registry,
            unique_users,
            unique_groups,
            data: RwLock::new(Data::default()),
            events: None,
        }
    }

    /// The store, publishing the events of every committed write to `sink`.
    pub fn with_events(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events = Some(sink);
        self
    }

    fn unique(&self, kind: ResourceKind) -> &[UniqueAttr] {
        match kind {
            ResourceKind::User => &self.unique_users,
            ResourceKind::Group => &self.unique_groups,
        }
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Data>, StoreError> {
        self.data.read().map_err(poisoned)
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Data>, StoreError> {
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

#[async_trait]
impl Store for MemoryStore {
    async fn create(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        attrs: Map<String, Value>,
        members: MemberChange,
    ) -> Result<StoredResource, StoreError> {
        members.check_kind(kind)?;
        let attrs = stored_attributes(attrs);
        let id = uuid::Uuid::new_v4().to_string();
        let unique = self.unique(kind);
        self.write_tenant(tenant, |t| {
            t.check_unique(kind, &id, &attrs, unique)?;
            if kind == ResourceKind::User {
                if let Some(m) = t.unmanaged_match(&attrs, None) {
                    return Err(StoreError::UnmanagedMatch(m));
                }
            }
            let next = match kind {
                ResourceKind::Group => Some(t.plan_members(&id, &members)?),
                ResourceKind::User => None,
            };
            let at = now();
            let record = Record {
                version: 1,
                created: at,
                last_modified: at,
                attrs,
            };
            t.index(kind, &id, &record.attrs, unique);
            t.put_record(kind, &id, record.clone());
            if let Some(next) = next {
                t.write_members(&id, next, &timestamp(at));
            }
            Ok(t.stored(kind, &id, &record, Include::NONE))
        })
    }

    async fn get(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        include: Include,
    ) -> Result<StoredResource, StoreError> {
        let data = self.read()?;
        let t = data.tenants.get(tenant).ok_or(StoreError::NotFound)?;
        let record = t.records(kind).get(id).ok_or(StoreError::NotFound)?;
        if let (true, Some(limit)) = (include.members, include.member_limit) {
            let n = t.members.get(id).map_or(0, BTreeMap::len) as u64;
            if n > limit {
                return Err(StoreError::TooManyMembers {
                    group: Some(id.to_string()),
                    limit,
                });
            }
        }
        Ok(t.stored(kind, id, record, include))
    }

    async fn update(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
        attrs: Map<String, Value>,
        members: MemberChange,
    ) -> Result<StoredResource, StoreError> {
        members.check_kind(kind)?;
        let attrs = stored_attributes(attrs);
        let unique = self.unique(kind);
        self.write_tenant(tenant, |t| {
            let current = t.records(kind).get(id).ok_or(StoreError::NotFound)?.clone();
            expect.check(current.version)?;
            // Renaming to a different case of one's own name finds one's own id in the index.
            t.check_unique(kind, id, &attrs, unique)?;
            let next = match kind {
                ResourceKind::Group if !members.is_empty() => Some(t.plan_members(id, &members)?),
                _ => None,
            };
            let members_change = next
                .as_ref()
                .is_some_and(|n| t.members.get(id).map_or(!n.is_empty(), |cur| cur != n));
            if attrs == current.attrs && !members_change {
                return Ok(t.stored(kind, id, &current, Include::NONE));
            }
            t.unindex(kind, id, &current.attrs, unique);
            t.index(kind, id, &attrs, unique);
            let record = Record {
                version: current.version + 1,
                created: current.created,
                // Never before the previous value, even if the clock steps back.
                last_modified: now().max(current.last_modified),
                attrs,
            };
            let at = timestamp(record.last_modified);
            t.put_record(kind, id, record.clone());
            if let Some(next) = next {
                if members_change {
                    t.write_members(id, next, &at);
                }
            }
            Ok(t.stored(kind, id, &record, Include::NONE))
        })
    }

    async fn delete(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError> {
        let unique = self.unique(kind);
        self.write_tenant(tenant, |t| {
            let current = t.records(kind).get(id).ok_or(StoreError::NotFound)?;
            expect.check(current.version)?;
            t.remove(kind, id, unique, now(), false);
            Ok(())
        })
    }

    async fn query(&self, tenant: &TenantId, kind: ResourceKind, query: &Query) -> Result<Page, StoreError> {
        let schema = self
            .registry
            .view(kind.name())
            .ok_or_else(|| StoreError::Invalid(format!("no {} resource type", kind.name())))?;
        let data = self.read()?;
        let Some(t) = data.tenants.get(tenant) else {
            return Ok(Page {
                resources: Vec::new(),
                total_results: Some(0),
                next: None,
            });
        };
        let records = t.records(kind);
        let candidates: Vec<(&String, &Record)> = match query
            .filter
            .as_ref()
            .and_then(|f| t.candidates(kind, &f.equality_lookups(&schema), self.unique(kind)))
        {
            Some(ids) => ids.iter().filter_map(|id| records.get_key_value(id)).collect(),
            None => records.iter().collect(),
        };
        // Building the derived view costs a copy per record; a filter on stored attributes only
        // (`userName co "x"`) is evaluated on the record itself.
        let needs_view = query
            .filter
            .as_ref()
            .is_some_and(|f| DERIVED.iter().any(|name| f.names_attribute(name)));
        let matching: Vec<(&String, &Record)> = candidates
            .into_iter()
            .filter(|(id, r)| match &query.filter {
                None => true,
                Some(f) if needs_view => f.matches(&t.filter_view(kind, id, r), &schema),
                Some(f) => f.matches(&r.attrs, &schema),
            })
            .collect();
        let take = usize::try_from(query.count).unwrap_or(usize::MAX);
        let (page, next): (Vec<&(&String, &Record)>, Option<String>) = match &query.paging {
            Paging::Index { start_index } => {
                // RFC 7644 §3.4.2.4: a startIndex below 1 is taken as 1.
                let skip = usize::try_from(start_index.max(&1) - 1).unwrap_or(usize::MAX);
                (matching.iter().skip(skip).take(take).collect(), None)
            }
            Paging::Cursor { after } => {
                // The position is the last id a page held: ids sort, so this page starts after it
                // whatever was created or deleted meanwhile.
                let rest: Vec<_> = matching
                    .iter()
                    .filter(|(id, _)| after.as_ref().is_none_or(|a| id.as_str() > a.as_str()))
                    .collect();
                let page: Vec<_> = rest.iter().take(take).copied().collect();
                let next = (rest.len() > page.len())
                    .then(|| page.last().map(|(id, _)| (*id).clone()))
                    .flatten();
                (page, next)
            }
        };
        if let (true, Some(limit), ResourceKind::Group) =
            (query.include.members, query.include.member_limit, kind)
        {
            let n: usize = page
                .iter()
                .map(|(id, _)| t.members.get(id.as_str()).map_or(0, BTreeMap::len))
                .sum();
            if n as u64 > limit {
                return Err(StoreError::TooManyMembers { group: None, limit });
            }
        }
        let resources = page
            .iter()
            .map(|(id, r)| t.stored(kind, id, r, query.include))
            .collect();
        Ok(Page {
            resources,
            total_results: Some(matching.len() as u64),
            next,
        })
    }

    async fn settings(&self, tenant: &TenantId) -> Result<VersionedSettings, StoreError> {
        let data = self.read()?;
        Ok(data
            .tenants
            .get(tenant)
            .map(|t| t.settings.clone())
            .unwrap_or_default())
    }

    async fn put_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
        expect: Expect,
    ) -> Result<u64, StoreError> {
        settings.validate()?;
        let mut data = self.write()?;
        let t = data.tenants.entry(tenant.clone()).or_default();
        expect.check(t.settings.version)?;
        t.settings = VersionedSettings {
            settings: settings.clone(),
            version: t.settings.version + 1,
        };
        Ok(t.settings.version)
    }

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

    async fn list_conflicts(&self, tenant: &TenantId) -> Result<Vec<Conflict>, StoreError> {
        let data = self.read()?;
        Ok(data
            .tenants
            .get(tenant)
            .map(|t| {
                t.conflicts
                    .values()
                    .filter(|c| c.status == ConflictStatus::Open)
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

    async fn groups_with_parents(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<GroupAncestry>, StoreError> {
        let data = self.read()?;
        let Some(t) = data.tenants.get(tenant) else {
            return Ok(Vec::new());
        };
        let mut seen = BTreeSet::new();
        Ok(ids
            .iter()
            .filter(|id| seen.insert(id.as_str()))
            .filter_map(|id| {
                let record = t.groups.get(id)?;
                Some(GroupAncestry {
                    id: id.clone(),
                    display_name: t.display_name(id),
                    external_id: record
                        .attrs
                        .get("externalId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    parents: t.member_of.get(id).into_iter().flatten().cloned().collect(),
                })
            })
            .collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use scim_proto::schema::Schema;

    fn store() -> MemoryStore {
        MemoryStore::new(Arc::new(SchemaRegistry::standard()))
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn add(ids: &[&str]) -> MemberChange {
        MemberChange {
            add: ids.iter().map(|id| (id.to_string(), None)).collect(),
            ..MemberChange::default()
        }
    }

    /// Each event's type, resource id and member id, the parts these tests compare.
    fn summary(events: &[crate::events::ChangeEvent]) -> Vec<(crate::events::EventType, &str, Option<&str>)> {
        events
            .iter()
            .map(|e| (e.event_type, e.resource_id.as_str(), e.member_id.as_deref()))
            .collect()
    }

    /// Keeps what it is given.
    #[derive(Debug, Default)]
    struct Collect(std::sync::Mutex<Vec<crate::events::ChangeEvent>>);

    impl EventSink for Collect {
        fn publish(&self, events: &[crate::events::ChangeEvent]) {
            self.0.lock().unwrap().extend_from_slice(events);
        }
    }

    /// Each committed write publishes its events, in order, with the store's own timestamps;
    /// failed writes and writes that change nothing publish none.
    #[tokio::test]
    async fn committed_writes_publish_their_events() {
        use crate::events::{DeleteMode, EventType::*};
        let sink = Arc::new(Collect::default());
        let s = store().with_events(sink.clone());
        let t = TenantId::new("t").unwrap();
        let none = MemberChange::default;
        let u = s
            .create(&t, ResourceKind::User, obj(json!({"userName": "a"})), none())
            .await
            .unwrap();
        let u2 = s
            .update(
                &t,
                ResourceKind::User,
                &u.id,
                Expect::Version(1),
                obj(json!({"userName": "a", "active": false})),
                none(),
            )
            .await
            .unwrap();
        // Nothing changes, a stale version, a taken userName: no events.
        s.update(
            &t,
            ResourceKind::User,
            &u.id,
            Expect::Any,
            u2.attrs.clone(),
            none(),
        )
        .await
        .unwrap();
        s.update(
            &t,
            ResourceKind::User,
            &u.id,
            Expect::Version(1),
            obj(json!({"userName": "b"})),
            none(),
        )
        .await
        .unwrap_err();
        s.create(&t, ResourceKind::User, obj(json!({"userName": "A"})), none())
            .await
            .unwrap_err();
        let g = s
            .create(
                &t,
                ResourceKind::Group,
                obj(json!({"displayName": "G"})),
                add(&[&u.id]),
            )
            .await
            .unwrap();
        s.create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "H"})),
            add(&["nobody"]),
        )
        .await
        .unwrap_err();
        s.delete(&t, ResourceKind::User, &u.id, Expect::Any)
            .await
            .unwrap();
        let events = sink.0.lock().unwrap().clone();
        let got = summary(&events);
        assert_eq!(
            got,
            [
                (UserCreated, u.id.as_str(), None),
                (UserDeactivated, &u.id, None),
                (GroupCreated, &g.id, None),
                (GroupMemberAdded, &g.id, Some(u.id.as_str())),
                (GroupMemberRemoved, &g.id, Some(&u.id)),
                (UserDeleted, &u.id, None),
            ]
        );
        assert_eq!(events[1].time, u2.last_modified);
        assert_eq!(events[1].changed_attributes, ["active"]);
        assert_eq!(events[3].time, g.last_modified);
        assert_eq!(events[5].mode, Some(DeleteMode::Hard));
        assert!(events[5].time >= u2.last_modified);
    }

    /// Soft delete, restore and adoption are the user's deletion, restoration and creation.
    #[tokio::test]
    async fn lifecycle_changes_publish_their_events() {
        use crate::events::{DeleteMode, EventType::*};
        let sink = Arc::new(Collect::default());
        let s = store().with_events(sink.clone());
        let t = TenantId::new("t").unwrap();
        let u = s
            .create(
                &t,
                ResourceKind::User,
                obj(json!({"userName": "a"})),
                MemberChange::default(),
            )
            .await
            .unwrap();
        let g = s
            .create(
                &t,
                ResourceKind::Group,
                obj(json!({"displayName": "G"})),
                add(&[&u.id]),
            )
            .await
            .unwrap();
        let purge = OffsetDateTime::now_utc() + time::Duration::days(1);
        s.delete_user_soft(&t, &u.id, Expect::Any, purge).await.unwrap();
        s.restore_user(&t, &u.id).await.unwrap();
        let imported = s
            .import_unmanaged(&t, obj(json!({"userName": "b"})))
            .await
            .unwrap();
        s.adopt_unmanaged(&t, &imported, Expect::Any, obj(json!({"userName": "b"})))
            .await
            .unwrap();
        let events = sink.0.lock().unwrap().clone();
        let got = summary(&events);
        assert_eq!(
            got,
            [
                (UserCreated, u.id.as_str(), None),
                (GroupCreated, &g.id, None),
                (GroupMemberAdded, &g.id, Some(u.id.as_str())),
                (GroupMemberRemoved, &g.id, Some(&u.id)),
                (UserDeleted, &u.id, None),
                (UserRestored, &u.id, None),
                (GroupMemberAdded, &g.id, Some(&u.id)),
                (UserCreated, &imported.id, None),
            ]
        );
        assert_eq!(events[4].mode, Some(DeleteMode::Soft));
    }

    #[tokio::test]
    async fn cycle_detail_names_the_cycle() {
        let s = store();
        let t = TenantId::new("t").unwrap();
        let mut ids = Vec::new();
        for name in ["A", "B", "C"] {
            let g = s
                .create(
                    &t,
                    ResourceKind::Group,
                    obj(json!({"displayName": name})),
                    MemberChange::default(),
                )
                .await
                .unwrap();
            ids.push(g.id);
        }
        let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
        let attrs = obj(json!({"displayName": "x"}));
        s.update(&t, ResourceKind::Group, a, Expect::Any, attrs.clone(), add(&[b]))
            .await
            .unwrap();
        s.update(&t, ResourceKind::Group, b, Expect::Any, attrs.clone(), add(&[c]))
            .await
            .unwrap();
        let e = s
            .update(&t, ResourceKind::Group, c, Expect::Any, attrs.clone(), add(&[a]))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            StoreError::InvalidMember(format!(
                "adding group '{a}' to group '{c}' would create a cycle: {c} > {a} > {b} > {c}"
            ))
        );
        let e = s
            .update(&t, ResourceKind::Group, a, Expect::Any, attrs, add(&[a]))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            StoreError::InvalidMember(format!(
                "adding group '{a}' to group '{a}' would create a cycle: {a} > {a}"
            ))
        );
    }

    /// Uniqueness comes from the schema: a custom extension attribute marked `server` and
    /// `caseExact` is unique, compared exactly.
    #[tokio::test]
    async fn uniqueness_follows_the_schema() {
        let urn = "urn:example:params:scim:schemas:extension:acme:2.0:User";
        let mut reg = SchemaRegistry::standard();
        let ext = Schema::from_json(json!({
            "id": urn, "name": "AcmeUser",
            "attributes": [{
                "name": "badge", "type": "string", "multiValued": false, "required": false,
                "caseExact": true, "mutability": "readWrite", "returned": "default",
                "uniqueness": "server"
            }]
        }))
        .unwrap();
        reg.add_extension("User", ext, false).unwrap();
        let s = MemoryStore::new(Arc::new(reg));
        let t = TenantId::new("t").unwrap();
        let user = |name: &str, badge: &str| obj(json!({"userName": name, urn: {"badge": badge}}));
        s.create(&t, ResourceKind::User, user("a", "B-1"), MemberChange::default())
            .await
            .unwrap();
        s.create(&t, ResourceKind::User, user("b", "b-1"), MemberChange::default())
            .await
            .unwrap();
        let e = s
            .create(&t, ResourceKind::User, user("c", "B-1"), MemberChange::default())
            .await
            .unwrap_err();
        assert_eq!(
            e,
            StoreError::Uniqueness {
                attribute: format!("{urn}:badge")
            }
        );
    }

    #[tokio::test]
    async fn filter_view_has_id_meta_and_memberships() {
        let s = store();
        let t = TenantId::new("t").unwrap();
        let u = s
            .create(
                &t,
                ResourceKind::User,
                obj(json!({"userName": "a"})),
                MemberChange::default(),
            )
            .await
            .unwrap();
        let g = s
            .create(
                &t,
                ResourceKind::Group,
                obj(json!({"displayName": "G"})),
                add(&[&u.id]),
            )
            .await
            .unwrap();
        let data = s.data.read().unwrap();
        let tenant = &data.tenants[&t];
        let view = tenant.filter_view(ResourceKind::User, &u.id, &tenant.users[&u.id]);
        assert_eq!(
            Value::Object(view),
            json!({
                "userName": "a",
                "id": u.id,
                "meta": {"resourceType": "User", "created": u.created, "lastModified": u.last_modified,
                         "version": "W/\"1\""},
                "groups": [{"value": g.id, "display": "G", "type": "direct"}]
            })
        );
        let view = tenant.filter_view(ResourceKind::Group, &g.id, &tenant.groups[&g.id]);
        assert_eq!(view["members"], json!([{"value": u.id, "type": "User"}]));
    }

    /// Answers from the indexes equal a full scan, whatever the case of the values.
    #[tokio::test]
    async fn indexed_queries_agree_with_a_scan() {
        use scim_proto::Filter;
        let s = store();
        let t = TenantId::new("t").unwrap();
        let mut users = Vec::new();
        for name in ["alice", "Bob", "carol"] {
            let attrs = obj(json!({"userName": name, "externalId": name.to_uppercase()}));
            users.push(
                s.create(&t, ResourceKind::User, attrs, MemberChange::default())
                    .await
                    .unwrap()
                    .id,
            );
        }
        let (a, b) = (users[0].clone(), users[1].clone());
        let g1 = s
            .create(
                &t,
                ResourceKind::Group,
                obj(json!({"displayName": "G1"})),
                add(&[&a, &b]),
            )
            .await
            .unwrap()
            .id;
        let g2 = s
            .create(
                &t,
                ResourceKind::Group,
                obj(json!({"displayName": "G2"})),
                add(&[&a, &g1]),
            )
            .await
            .unwrap()
            .id;
        let up = |s: &str| s.to_uppercase();
        let cases = [
            (ResourceKind::User, "userName eq \"ALICE\"".to_string()),
            (
                ResourceKind::User,
                "userName eq \"bob\" and active pr".to_string(),
            ),
            (ResourceKind::User, "userName eq \"nobody\"".to_string()),
            (ResourceKind::User, format!("id eq \"{a}\"")),
            (ResourceKind::User, format!("id eq \"{}\"", up(&a))),
            (
                ResourceKind::User,
                format!("id eq \"{a}\" and userName eq \"bob\""),
            ),
            (ResourceKind::User, format!("groups.value eq \"{g1}\"")),
            (ResourceKind::User, format!("groups.value eq \"{}\"", up(&g1))),
            (
                ResourceKind::User,
                format!("groups.value eq \"{g1}\" and userName eq \"Alice\""),
            ),
            (
                ResourceKind::User,
                format!("groups.value eq \"{g1}\" or userName eq \"carol\""),
            ),
            (ResourceKind::User, "externalId eq \"BOB\"".to_string()),
            (ResourceKind::Group, format!("members.value eq \"{a}\"")),
            (ResourceKind::Group, format!("members.value eq \"{}\"", up(&g1))),
            (
                ResourceKind::Group,
                format!("members.value eq \"{b}\" and displayName eq \"g1\""),
            ),
            (ResourceKind::Group, format!("id eq \"{g2}\"")),
        ];
        let registry = SchemaRegistry::standard();
        for (kind, text) in cases {
            let schema = registry.view(kind.name()).unwrap();
            let f = Filter::parse(&text).unwrap();
            f.validate(&schema).unwrap();
            let expected: Vec<String> = {
                let data = s.data.read().unwrap();
                let tenant = &data.tenants[&t];
                tenant
                    .records(kind)
                    .iter()
                    .filter(|(id, r)| f.matches(&tenant.filter_view(kind, id, r), &schema))
                    .map(|(id, _)| id.clone())
                    .collect()
            };
            let q = Query {
                filter: Some(f),
                paging: Paging::Index { start_index: 1 },
                count: 100,
                include: Include::NONE,
            };
            let page = s.query(&t, kind, &q).await.unwrap();
            let got: Vec<String> = page.resources.into_iter().map(|r| r.id).collect();
            assert_eq!(got, expected, "{text}");
            assert_eq!(page.total_results, Some(expected.len() as u64), "{text}");
        }
    }

    #[test]
    fn timestamps_are_fixed_width_rfc3339() {
        let t = now();
        let s = timestamp(t);
        assert_eq!(s.len(), "2024-01-02T03:04:05.678Z".len(), "{s}");
        let parsed = OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(parsed, t);
    }

    /// Server-kept keys never end up among the attributes.
    #[tokio::test]
    async fn server_keys_are_not_stored_as_attributes() {
        let s = store();
        let t = TenantId::new("t").unwrap();
        let attrs = obj(json!({"userName": "a", "id": "x", "meta": {}, "schemas": [], "groups": []}));
        let u = s
            .create(&t, ResourceKind::User, attrs, MemberChange::default())
            .await
            .unwrap();
        assert_eq!(Value::Object(u.attrs), json!({"userName": "a"}));
        assert_ne!(u.id, "x");
    }
}
