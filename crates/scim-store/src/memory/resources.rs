//! Users, groups and members in the embedded store ([`ResourceStore`]).

use super::{MemoryStore, Record, Tenant};
use crate::attributes::IndexedAttribute;
use crate::nesting::AncestorWalk;
use crate::{
    check_member_kind, metering, now, page_in_memory, stored_attributes, timestamp, unknown_member, Expect,
    Include, MemberChange, Page, Query, ResourceKind, ResourceStore, StoreError, StoredResource, TenantId,
};
use async_trait::async_trait;
use scim_proto::sort::Meta;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Attributes a filter can name that exist only in the view built by `Tenant::filter_view`.
const DERIVED: [&str; 4] = ["id", "meta", "groups", "members"];

impl Tenant {
    /// Applies a member change to a copy of `group_id`'s members (RFC 7644 §3.5.2: clear, then
    /// remove, then add), validating every added id. Nothing is written here, so a failing
    /// change leaves the tenant untouched.
    pub(super) fn plan_members(
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
                        "adding group '{id}' to group '{group_id}' would create a cycle: {}; {}",
                        cycle.join(" > "),
                        scim_proto::hint::GROUP_CYCLE
                    )));
                }
            }
            next.insert(id.clone(), kind);
        }
        let current = self.members.get(group_id);
        let joins_groups = change
            .add
            .iter()
            .any(|(id, _)| self.groups.contains_key(id) && current.is_none_or(|ms| !ms.contains_key(id)));
        // A group being created is nobody's member yet: nothing above it to walk.
        if joins_groups && self.groups.contains_key(group_id) {
            self.ancestors(group_id)?;
        }
        Ok(next)
    }

    /// The groups above `group_id`, within the nesting bound every store enforces.
    fn ancestors(&self, group_id: &str) -> Result<BTreeSet<String>, StoreError> {
        let mut walk = AncestorWalk::new(group_id);
        while let Some(frontier) = walk.frontier() {
            let parents: Vec<String> = frontier
                .iter()
                .flat_map(|g| self.member_of.get(g).into_iter().flatten().cloned())
                .collect();
            walk.found(parents);
        }
        walk.finish()
    }

    /// If `parent` is reachable from `child` through group members (or is `child`), the cycle
    /// that adding `child` to `parent` would close, as a list of group ids from `parent`.
    ///
    /// Members of `parent` itself never matter: any path through `parent` already reached it.
    pub(super) fn cycle_through(&self, parent: &str, child: &str) -> Option<Vec<String>> {
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

    /// The ids that can match a filter with these equality conditions, from the indexes, in id
    /// order; `None` when no condition is indexed (scan everything). The caller still runs
    /// [`scim_proto::Filter::matches`] on each candidate.
    ///
    /// Indexed: `id`, unique attributes (`userName eq`, the lookup every IdP makes before a
    /// create), `groups.value` on users and `members.value` on groups (membership checks).
    pub(super) fn candidates(
        &self,
        kind: ResourceKind,
        lookups: &[(String, String)],
        unique: &[IndexedAttribute],
    ) -> Option<BTreeSet<String>> {
        let mut result: Option<BTreeSet<String>> = None;
        for (path, value) in lookups {
            let found: BTreeSet<String> = if path == "id" {
                // `id` is caseExact (RFC 7643 §3.1).
                BTreeSet::from([value.clone()])
            } else if let Some(u) = unique.iter().find(|u| u.label() == *path) {
                let key = u.normalise(value);
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
    pub(super) fn filter_view(&self, kind: ResourceKind, id: &str, record: &Record) -> Map<String, Value> {
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

#[async_trait]
impl ResourceStore for MemoryStore {
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
        metering::count_items_read(1);
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
            expect.check_write(current.version, kind, &members, attrs == current.attrs)?;
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
        // What the filter examines: the records a DynamoDB Query would have read.
        metering::count_items_read(candidates.len() as u64);
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
        let total = matching.len() as u64;
        let keyed = matching
            .into_iter()
            .map(|(id, r)| {
                let key = match &query.sort {
                    Some(sort) => sort.key(
                        &r.attrs,
                        Meta {
                            id,
                            created: &timestamp(r.created),
                            last_modified: &timestamp(r.last_modified),
                        },
                    ),
                    None => id.clone(),
                };
                (key, (id, r))
            })
            .collect();
        let (page, _, next) = page_in_memory(keyed, query.sort.as_ref(), &query.paging, query.count);
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
            total_results: Some(total),
            next,
        })
    }
}
