//! The embedded store: every tenant's users, groups and memberships in memory behind one
//! `RwLock`. Used by `make run` and by tests; it defines the reference behaviour the contract
//! suite ([`crate::contract`]) checks every backend against.
//!
//! The lock is a `std::sync::RwLock`, taken and released inside each method with no `.await` in
//! between, so a guard is never held across a suspension point.

use crate::{
    check_member_kind, now, stored_attributes, timestamp, unknown_member, Expect, GroupAncestry, Include,
    Member, MemberChange, Page, Paging, Query, ResourceKind, Store, StoreError, StoredResource, TenantId,
    TenantSettings, VersionedSettings,
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

    /// Replaces `group_id`'s members with `next`, keeping `member_of` in step.
    fn write_members(&mut self, group_id: &str, next: BTreeMap<String, ResourceKind>) {
        let old = self.members.remove(group_id).unwrap_or_default();
        for id in old.keys().filter(|id| !next.contains_key(*id)) {
            self.leave(id, group_id);
        }
        for id in next.keys().filter(|id| !old.contains_key(*id)) {
            self.member_of
                .entry(id.clone())
                .or_default()
                .insert(group_id.to_string());
        }
        if !next.is_empty() {
            self.members.insert(group_id.to_string(), next);
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
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenants = self.data.read().map(|d| d.tenants.len()).unwrap_or_default();
        f.debug_struct("MemoryStore")
            .field("tenants", &tenants)
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
        }
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
        let mut data = self.write()?;
        let t = data.tenants.entry(tenant.clone()).or_default();
        t.check_unique(kind, &id, &attrs, unique)?;
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
        t.records_mut(kind).insert(id.clone(), record.clone());
        if let Some(next) = next {
            t.write_members(&id, next);
        }
        Ok(t.stored(kind, &id, &record, Include::NONE))
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
        let mut data = self.write()?;
        let t = data.tenants.get_mut(tenant).ok_or(StoreError::NotFound)?;
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
        t.records_mut(kind).insert(id.to_string(), record.clone());
        if let Some(next) = next {
            if members_change {
                t.write_members(id, next);
            }
        }
        Ok(t.stored(kind, id, &record, Include::NONE))
    }

    async fn delete(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError> {
        let unique = self.unique(kind);
        let mut data = self.write()?;
        let t = data.tenants.get_mut(tenant).ok_or(StoreError::NotFound)?;
        let current = t.records(kind).get(id).ok_or(StoreError::NotFound)?;
        expect.check(current.version)?;
        let attrs = current.attrs.clone();
        t.unindex(kind, id, &attrs, unique);
        t.records_mut(kind).remove(id);
        // Out of every group that contains it (RFC 7644 §3.6: the resource is gone everywhere).
        for g in t.member_of.remove(id).unwrap_or_default() {
            if let Some(ms) = t.members.get_mut(&g) {
                ms.remove(id);
                if ms.is_empty() {
                    t.members.remove(&g);
                }
            }
        }
        // A group's own members no longer belong to it.
        if kind == ResourceKind::Group {
            t.write_members(id, BTreeMap::new());
        }
        Ok(())
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
