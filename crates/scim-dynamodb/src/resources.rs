//! Users and groups with their members ([`ResourceStore`]): creates and updates as one
//! transaction with their index items and member batches, reads of one item, lists through
//! [`crate::list`], and deletes that take every membership with them.

use crate::calls::old_version;
use crate::list::Source;
use crate::record::{self, attr, get_s, n, now, s, Rec};
use crate::{deleted, error, keys, members, DynamoStore, Failure, Role, ATTEMPTS, MAX_TRANSACTION_ITEMS};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use scim_store::{
    Expect, Include, MemberChange, Page, Paging, Query, ResourceKind, ResourceStore, StoreError,
    StoredResource, TenantId,
};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

#[async_trait]
impl ResourceStore for DynamoStore {
    async fn create(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        attrs: Map<String, Value>,
        members: MemberChange,
    ) -> Result<StoredResource, StoreError> {
        members.check_kind(kind)?;
        let attrs = scim_store::stored_attributes(attrs);
        for _ in 0..ATTEMPTS {
            let id = uuid::Uuid::new_v4().to_string();
            let at = now();
            let rec = Rec {
                id: id.clone(),
                kind,
                version: 1,
                membership_version: 0,
                created: at.clone(),
                modified: at.clone(),
                attrs: attrs.clone(),
                groups: Default::default(),
                parents: Default::default(),
                fanout: None,
                fanout_after: None,
                fanout_lease: None,
                left: Default::default(),
            };
            let ops = if kind == ResourceKind::Group && !members.is_empty() {
                self.plan_members(tenant, &id, &members, true).await?.ops
            } else {
                Vec::new()
            };
            let item = self.resource_item(tenant, &rec);
            let mut first = vec![(self.put(item, Some("attribute_not_exists(#pk)"))?, Role::Target)];
            for e in self.index_entries(tenant, kind, &id, &attrs) {
                first.push(self.index_put(&e, &id)?);
            }
            first.push((self.counter(tenant, kind, &id, 1)?, Role::Other));
            if kind == ResourceKind::User {
                // After the unique index items: a duplicate of a managed user is `Uniqueness`
                // even when it also meets an unmanaged account.
                first.extend(self.unmanaged_checks(tenant, &attrs, &[])?);
            }
            let written = self
                .write_member_batches(tenant, &id, &rec.display_name(), 1, first, &ops, true)
                .await;
            match written {
                Ok(()) => {
                    self.remember(tenant, &rec);
                    return Ok(rec.stored(false));
                }
                Err(Failure::Condition {
                    role: Role::Unique(label),
                    ..
                }) => return Err(StoreError::Uniqueness { attribute: label }),
                Err(
                    f @ Failure::Condition {
                        role: Role::Unmanaged(..),
                        ..
                    },
                ) => return Err(Self::unmanaged_failure(&f).unwrap_or(StoreError::NotFound)),
                // A member vanished between the plan and the write: plan again.
                Err(Failure::Condition {
                    role: Role::Member(_),
                    ..
                }) => continue,
                // A UUID collision, or a member batch after the first: try again with a new id.
                Err(Failure::Condition { .. }) => continue,
                Err(Failure::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Throttled {
            retry_after_secs: error::RETRY_AFTER_SECS,
        })
    }

    async fn get(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        include: Include,
    ) -> Result<StoredResource, StoreError> {
        if kind == ResourceKind::Group && include.members {
            // The item and its member partition in parallel: one round trip of latency.
            let (rec, members) = tokio::join!(
                self.read(tenant, kind, id),
                self.read_members(tenant, id, include.member_limit)
            );
            let rec = rec?.ok_or(StoreError::NotFound)?;
            let members = members?;
            let mut stored = rec.stored(include.groups);
            stored.members = Some(
                members
                    .into_iter()
                    .map(|(value, kind)| scim_store::Member { value, kind })
                    .collect(),
            );
            return Ok(stored);
        }
        let rec = self.read(tenant, kind, id).await?.ok_or(StoreError::NotFound)?;
        Ok(rec.stored(include.groups))
    }

    /// A write computed from a version, conditional on it. Under [`Expect::Based`], a write that
    /// finds only the version moved (its attributes are as it read them, so member changes moved
    /// it) and whose memberships fit one transaction goes again on top ([`Self::write_on_top`])
    /// instead of reading and planning again: concurrent member changes of one group cost O(1)
    /// calls each, not a retry per rival.
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
        let attrs = scim_store::stored_attributes(attrs);
        let mut fresh = matches!(expect, Expect::Any);
        for _ in 0..ATTEMPTS {
            let cached = match expect {
                Expect::Version(v) | Expect::Based(v) if !fresh => self.remembered(tenant, kind, id, v),
                _ => None,
            };
            let from_cache = cached.is_some();
            let cur = match cached {
                Some(c) => c,
                None => self.read(tenant, kind, id).await?.ok_or(StoreError::NotFound)?,
            };
            expect.check_write(cur.version, kind, &members, attrs == cur.attrs)?;
            let ops = if kind == ResourceKind::Group && !members.is_empty() {
                let plan = self.plan_members(tenant, id, &members, false).await?;
                if plan.partial {
                    // More members to drop than one request may: drop a bounded share and ask
                    // the client to come back (429 with Retry-After) for the rest.
                    let display = cur.display_name();
                    return match self
                        .write_partial_plan(tenant, id, &display, cur.version, &plan.ops)
                        .await
                    {
                        Ok(()) | Err(Failure::Condition { .. }) => Err(StoreError::Throttled {
                            retry_after_secs: error::RETRY_AFTER_SECS,
                        }),
                        Err(Failure::Store(e)) => Err(e),
                    };
                }
                plan.ops
            } else {
                Vec::new()
            };
            if attrs == cur.attrs && ops.is_empty() && cur.fanout.is_none() {
                if from_cache {
                    // Confirm the version against the stored item before answering "nothing
                    // changed": one version is one state, so an equal version needs no re-plan.
                    let stored = self.read(tenant, kind, id).await?.ok_or(StoreError::NotFound)?;
                    expect.check_write(stored.version, kind, &members, attrs == cur.attrs)?;
                    return Ok(stored.stored(false));
                }
                return Ok(cur.stored(false));
            }
            let old_display = cur.display_name();
            let new_display = record::display_name(&attrs);
            let renamed = kind == ResourceKind::Group && old_display != new_display;
            let modified = now().max(cur.modified.clone());
            let next = Rec {
                version: cur.version + 1,
                modified: modified.clone(),
                attrs: attrs.clone(),
                fanout: (renamed || cur.fanout.is_some()).then(|| new_display.clone()),
                // A new name starts the fan-out over: members done for an earlier name are not
                // done for this one.
                fanout_after: if renamed { None } else { cur.fanout_after.clone() },
                // The renaming request runs the fan-out; others leave it to it.
                fanout_lease: if renamed {
                    Some(members::fanout_lease_until())
                } else {
                    cur.fanout_lease.clone()
                },
                ..cur.clone()
            };
            // The group's own write under `guard`, with its index items.
            let old_index = self.index_entries(tenant, kind, id, &cur.attrs);
            let new_index = self.index_entries(tenant, kind, id, &attrs);
            let own_items = |guard| -> Result<Vec<(TransactWriteItem, Role)>, StoreError> {
                let mut items = vec![self.own_write(tenant, &next, renamed, guard)?];
                for e in old_index.difference(&new_index) {
                    items.push(self.index_delete(e)?);
                }
                for e in new_index.difference(&old_index) {
                    items.push(self.index_put(e, id)?);
                }
                Ok(items)
            };
            let last = own_items(Guard::Version(cur.version))?;
            let may_go_on_top = matches!(expect, Expect::Based(_))
                && kind == ResourceKind::Group
                && !members.replace_all
                && Self::one_transaction(last.len(), ops.len());
            let written = self
                .write_member_batches(tenant, id, &new_display, cur.version, last, &ops, false)
                .await;
            let written = match written {
                Err(Failure::Condition {
                    role: Role::Target,
                    old: Some(old),
                }) if may_go_on_top => match attributes_unchanged(&cur, &old)? {
                    Some(stored) => {
                        let last = own_items(Guard::Attributes(&stored))?;
                        self.write_on_top(tenant, id, &new_display, last, &ops).await
                    }
                    None => Err(Failure::Condition {
                        role: Role::Target,
                        old: Some(old),
                    }),
                },
                written => written.map(|()| next),
            };
            match written {
                Ok(written) => return self.after_update(tenant, written, renamed).await,
                Err(Failure::Condition {
                    role: Role::Target | Role::TargetCheck,
                    old,
                }) => match old_version(&old) {
                    None => return Err(StoreError::NotFound),
                    Some(current) if !matches!(expect, Expect::Any) => {
                        return Err(StoreError::VersionConflict { current })
                    }
                    Some(_) => {
                        fresh = true;
                        continue;
                    }
                },
                Err(Failure::Condition {
                    role: Role::Unique(label),
                    ..
                }) => return Err(StoreError::Uniqueness { attribute: label }),
                Err(Failure::Condition { .. }) => {
                    fresh = true;
                    continue;
                }
                Err(Failure::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Throttled {
            retry_after_secs: error::RETRY_AFTER_SECS,
        })
    }

    async fn delete(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError> {
        let result = self.delete_resource(tenant, kind, id, expect, None).await;
        self.forget(tenant, id);
        result
    }

    /// A list page: candidates from the cheapest source the filter allows ([`crate::list`]).
    async fn query(&self, tenant: &TenantId, kind: ResourceKind, q: &Query) -> Result<Page, StoreError> {
        let schema = self.schema(kind)?;
        let mut page = match (&q.filter, &q.sort) {
            (None, None) => self.list_all(tenant, kind, q).await?,
            (None, Some(sort)) => match self.sort_index(kind, sort) {
                Some(index) => self.list_sorted(tenant, kind, q, sort, index).await?,
                None => {
                    self.list_sorted_in_memory(tenant, kind, q, None, Source::Listing, sort)
                        .await?
                }
            },
            (Some(f), sort) => {
                let source = self.source(tenant, kind, f, &schema).await?;
                match (source, sort) {
                    (Source::Ids(ids, known), _) => {
                        self.list_ids(tenant, kind, q, f, &schema, (ids, known)).await?
                    }
                    (source, None) => self.list_scan(tenant, kind, q, f, &schema, source).await?,
                    (source, Some(sort)) => {
                        let walked = match (&source, &q.paging, self.sort_index(kind, sort)) {
                            (Source::Listing, Paging::Cursor { after }, Some(index)) if q.count > 0 => {
                                self.list_sorted_scan(tenant, kind, q, (f, &schema), (sort, index), after)
                                    .await?
                            }
                            _ => None,
                        };
                        match walked {
                            Some(page) => page,
                            None => {
                                self.list_sorted_in_memory(tenant, kind, q, Some((f, &schema)), source, sort)
                                    .await?
                            }
                        }
                    }
                }
            }
        };
        if kind == ResourceKind::Group && q.include.members {
            self.attach_members(tenant, &mut page.resources, q.include)
                .await?;
        }
        Ok(page)
    }
}

/// What a resource's own write is conditional on.
enum Guard<'a> {
    /// The version it was computed from (and it sets the next one).
    Version(u64),
    /// The stored attributes, exactly (`a`), when only the version moved: a write on top of
    /// member changes, which moves the version by one more without knowing it.
    Attributes(&'a str),
}

/// The stored attributes (`a` as stored) of the item a failed condition returned, when they are
/// still those `cur` holds: then only member changes moved its version.
fn attributes_unchanged(cur: &Rec, old: &record::Item) -> Result<Option<String>, StoreError> {
    let Some(raw) = get_s(old, attr::ATTRS) else {
        return Ok(None);
    };
    let now = Rec::from_item(cur.kind, old)?;
    Ok((now.attrs == cur.attrs).then(|| raw.to_string()))
}

impl DynamoStore {
    /// The resource's own write: attributes, lastModified, the rename fan-out mark and the
    /// version, conditional on `guard`.
    fn own_write(
        &self,
        tenant: &TenantId,
        next: &Rec,
        renamed: bool,
        guard: Guard<'_>,
    ) -> Result<(TransactWriteItem, Role), StoreError> {
        let mut values = vec![
            (":a", s(Value::Object(next.attrs.clone()).to_string())),
            (":m", s(&next.modified)),
        ];
        let mut set = String::from("SET a = :a, m = :m");
        // The sort keys move with the attributes and lastModified they come from.
        let (sort_set, sort_values) = Self::sort_key_assignments(self.sort_attributes(next));
        if !sort_values.is_empty() {
            set.push_str(", ");
            set.push_str(&sort_set);
            values.extend(sort_values);
        }
        // Only a rename marks the fan-out: another write leaves the mark as it finds it (one
        // on top of others may find it cleared meanwhile, and must not bring it back).
        if let (true, Some(d), Some(until)) = (renamed, &next.fanout, &next.fanout_lease) {
            values.push((":fo", s(d)));
            values.push((":fl", s(until)));
            set.push_str(", fo = :fo, fl = :fl");
        }
        let (condition, add) = match guard {
            Guard::Version(v) => {
                values.push((":v", n(v as i64)));
                values.push((":nv", n(next.version as i64)));
                set.push_str(", v = :nv");
                ("v = :v", "")
            }
            Guard::Attributes(stored) => {
                values.push((":stored", s(stored)));
                values.push((":one", n(1)));
                ("a = :stored", " ADD v :one")
            }
        };
        // A new name restarts the fan-out from the first member.
        let remove = if renamed { " REMOVE fc" } else { "" };
        Ok((
            self.update(
                Self::key(keys::resources(tenant, next.kind), &next.id),
                &format!("{set}{remove}{add}"),
                Some(condition),
                vec![],
                values,
            )?,
            Role::Target,
        ))
    }

    /// Remembers a written resource and answers its state. A rename runs its fan-out; a later
    /// write goes on with an unfinished one only when no request holds it
    /// ([`Self::take_fanout`]), so concurrent writes do not each run it again.
    async fn after_update(
        &self,
        tenant: &TenantId,
        written: Rec,
        renamed: bool,
    ) -> Result<StoredResource, StoreError> {
        self.remember(tenant, &written);
        if let Some(display) = &written.fanout {
            let after = written.fanout_after.as_deref();
            let ours = renamed || self.take_fanout(tenant, &written, display).await?;
            if ours && self.fan_out_rename(tenant, &written.id, display, after).await? {
                self.remember(
                    tenant,
                    &Rec {
                        fanout: None,
                        fanout_after: None,
                        ..written.clone()
                    },
                );
            }
        }
        Ok(written.stored(false))
    }
}

impl DynamoStore {
    /// Deletes a resource, its index items and every membership it takes part in.
    ///
    /// Memberships go first, in transactions that each remove both sides of up to 49 of them,
    /// conditional on the resource's version; the last transaction deletes the resource with the
    /// rest, conditional on its version and membership version (`mv`, bumped by every membership
    /// change), so a membership added meanwhile makes it start over instead of leaving a member
    /// item pointing nowhere. A crash between transactions leaves the resource with fewer
    /// memberships, both sides consistent; a retried DELETE finishes the job.
    ///
    /// With `keep` (a user's soft delete) the last transaction also puts the kept record
    /// ([`deleted`]), remembering every group the user left: the groups left in earlier batches
    /// are collected in the user's `dg` set by those batches, so a retry after a crash still
    /// knows them.
    pub(crate) async fn delete_resource(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
        keep: Option<&deleted::Keep>,
    ) -> Result<(), StoreError> {
        // Members whose resource item is gone: only their member item is removed.
        let mut gone: BTreeSet<String> = BTreeSet::new();
        for _ in 0..(ATTEMPTS * 4) {
            let cur = self.read(tenant, kind, id).await?.ok_or(StoreError::NotFound)?;
            expect.check(cur.version)?;
            let target_key = || Self::key(keys::resources(tenant, kind), id);
            // A group's own members, 49 per transaction.
            if kind == ResourceKind::Group {
                let (page, _) = self
                    .query_page(&keys::members(tenant, id), None, 49, None)
                    .await?;
                if !page.is_empty() {
                    let mut items = vec![(self.version_check(target_key(), cur.version)?, Role::TargetCheck)];
                    for m in &page {
                        let (Some(mid), Some(mkind)) = (
                            get_s(m, keys::SK),
                            get_s(m, attr::KIND).and_then(record::parse_kind),
                        ) else {
                            continue;
                        };
                        items.push((
                            self.delete(Self::key(keys::members(tenant, id), mid), None)?,
                            Role::Other,
                        ));
                        if !gone.contains(mid) {
                            items.push((
                                self.leave_item(tenant, mkind, mid, id)?,
                                Role::Member(mid.to_string()),
                            ));
                        }
                    }
                    match self.transact(items).await {
                        Ok(()) => continue,
                        Err(Failure::Condition {
                            role: Role::Member(mid),
                            ..
                        }) => {
                            gone.insert(mid);
                            continue;
                        }
                        Err(Failure::Condition { .. }) => continue,
                        Err(Failure::Store(e)) => return Err(e),
                    }
                }
            }
            // The groups this resource is in: member items in their partitions.
            let containing: Vec<String> = match kind {
                ResourceKind::User => cur.groups.keys().cloned().collect(),
                ResourceKind::Group => cur.parents.iter().cloned().collect(),
            };
            let index = self.index_entries(tenant, kind, id, &cur.attrs);
            let room = MAX_TRANSACTION_ITEMS - 2 - usize::from(keep.is_some()) - index.len();
            if containing.len() > room {
                // Too many for the last transaction: strip a batch from both sides first.
                let batch: Vec<&String> = containing.iter().take(MAX_TRANSACTION_ITEMS - 1).collect();
                let map = match kind {
                    ResourceKind::User => attr::GROUPS,
                    ResourceKind::Group => attr::PARENTS,
                };
                let names: Vec<String> = (0..batch.len()).map(|i| format!("#g{i}")).collect();
                let mut values = vec![(":v", n(cur.version as i64)), (":one", n(1))];
                let remember = match keep {
                    Some(_) => {
                        let left = batch.iter().map(|g| g.to_string()).collect();
                        values.push((":left", AttributeValue::Ss(left)));
                        format!(", {} :left", attr::LEFT)
                    }
                    None => String::new(),
                };
                let expression = format!(
                    "REMOVE {} ADD mv :one{remember}",
                    names
                        .iter()
                        .map(|nm| format!("{map}.{nm}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut items = vec![(
                    self.update(
                        target_key(),
                        &expression,
                        Some("v = :v"),
                        names
                            .iter()
                            .map(String::as_str)
                            .zip(batch.iter().map(|g| g.as_str()))
                            .collect(),
                        values,
                    )?,
                    Role::Target,
                )];
                for g in &batch {
                    items.push((
                        self.delete(Self::key(keys::members(tenant, g), id), None)?,
                        Role::Other,
                    ));
                }
                match self.transact(items).await {
                    Ok(()) | Err(Failure::Condition { .. }) => continue,
                    Err(Failure::Store(e)) => return Err(e),
                }
            }
            let mut items = vec![(
                self.delete(
                    target_key(),
                    Some((
                        "v = :v AND mv = :mv",
                        vec![
                            (":v", n(cur.version as i64)),
                            (":mv", n(cur.membership_version as i64)),
                        ],
                    )),
                )?,
                Role::Target,
            )];
            for e in &index {
                items.push(self.index_delete(e)?);
            }
            items.push((self.counter(tenant, kind, id, -1)?, Role::Other));
            if let Some(keep) = keep {
                items.push((self.kept_put(tenant, &cur, keep)?, Role::Other));
            }
            for g in &containing {
                items.push((
                    self.delete(Self::key(keys::members(tenant, g), id), None)?,
                    Role::Other,
                ));
            }
            match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(Failure::Condition { old, .. }) => match (old_version(&old), expect) {
                    (None, _) => return Err(StoreError::NotFound),
                    (Some(current), Expect::Version(v)) if current != v => {
                        return Err(StoreError::VersionConflict { current })
                    }
                    _ => continue,
                },
                Err(Failure::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Throttled {
            retry_after_secs: error::RETRY_AFTER_SECS,
        })
    }
}
