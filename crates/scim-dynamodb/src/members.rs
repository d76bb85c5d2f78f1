//! Memberships: planning a member change as a net diff, writing it in O(k) item writes, the
//! cycle check, reading a group's members and the rename fan-out.
//!
//! A membership is two items written together: the member item in the group's partition
//! (`T#<t>#M#<group>` / `<member id>`) and the entry in the member's own item (`g.<group id>`
//! for a user, `p.<group id>` for a group), which is what `User.groups`, `members.value eq`
//! and the cycle check read.

use crate::error;
use crate::keys;
use crate::record::{attr, get_n, get_s, n, parse_kind, s, Rec};
use crate::{DynamoStore, Failure, Role, MAX_TRANSACTION_ITEMS};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use futures_util::stream::{self, StreamExt};
use scim_store::nesting::AncestorWalk;
use scim_store::{MemberChange, ResourceKind, StoreError, TenantId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Items per membership in a transaction (member item + the member's own item).
const ITEMS_PER_OP: usize = 2;
/// Concurrent UpdateItem calls of a rename fan-out.
const FANOUT_CONCURRENCY: usize = 16;
/// Members read per page of a rename fan-out (one `fc` write per page).
const FANOUT_PAGE: usize = 1000;
/// How long a request holds a rename fan-out ([`attr::FANOUT_LEASE`]) before another write may
/// take it over; renewed with each page. Well beyond what one page takes, so a live holder keeps
/// it; a holder that stopped (its budget spent) gives it up at once.
const FANOUT_LEASE_SECONDS: i64 = 30;

/// The end of a fan-out lease taken now.
pub(crate) fn fanout_lease_until() -> String {
    scim_store::timestamp(scim_store::now() + time::Duration::seconds(FANOUT_LEASE_SECONDS))
}

/// One membership to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum MemberOp {
    /// `version` is the member group's version when planned: a group member is added on the
    /// condition that it did not change meanwhile (so two requests cannot each close half of a
    /// two-group cycle).
    Add {
        id: String,
        kind: ResourceKind,
        version: Option<u64>,
    },
    /// `kind` is `None` when the member's own item is already gone (only the member item remains).
    Remove { id: String, kind: Option<ResourceKind> },
}

/// The member writes of one request.
pub(crate) struct MemberPlan {
    pub ops: Vec<MemberOp>,
    /// A replace (PUT, or PATCH `replace` of `members`) that would drop more current members
    /// than [`DynamoStore::with_member_work_budget`]: `ops` holds only that many removals (no adds), written under the group's version without changing it;
    /// the client is asked to retry, and the retry plans against the members left.
    pub partial: bool,
}

impl DynamoStore {
    /// Turns a member change into the memberships to write: RFC 7644 §3.5.2 order (clear,
    /// remove, add) applied to the current state, so adding a present member or removing an
    /// absent one is no write at all. Reads: the member items and resource items of the k ids
    /// named (BatchGetItem, 3 keys per id); with `replace_all`, every current member (a Query of
    /// the group's partition, O(members): unavoidable, documented).
    pub(crate) async fn plan_members(
        &self,
        tenant: &TenantId,
        group_id: &str,
        change: &MemberChange,
        new_group: bool,
    ) -> Result<MemberPlan, StoreError> {
        let adds = change.distinct_adds();
        for (id, _) in &adds {
            if !keys::plausible_id(id) {
                return Err(scim_store::unknown_member(id));
            }
        }
        let add_ids: BTreeSet<&str> = adds.iter().map(|(a, _)| *a).collect();
        let mut removes: BTreeSet<String> = change
            .remove
            .iter()
            .filter(|id| keys::plausible_id(id) && !add_ids.contains(id.as_str()))
            .cloned()
            .collect();
        let mut current: Option<BTreeMap<String, ResourceKind>> = None;
        if change.replace_all && !new_group {
            let all: BTreeMap<String, ResourceKind> = self
                .read_members(tenant, group_id, None)
                .await?
                .into_iter()
                .collect();
            removes.extend(all.keys().filter(|id| !add_ids.contains(id.as_str())).cloned());
            current = Some(all);
        }
        // Each removal costs two BatchGetItem keys and two transaction items: a group of any
        // size is emptied in bounded steps instead of one request outgrowing the timeout.
        let partial = removes.len() > self.member_work_budget;
        if partial {
            removes = removes.into_iter().take(self.member_work_budget).collect();
        }
        // A partial plan only removes; the adds wait for the request that finishes.
        let adds = if partial { Vec::new() } else { adds };
        let add_ids: BTreeSet<&str> = if partial { BTreeSet::new() } else { add_ids };
        // One BatchGetItem for everything the plan needs to know.
        let member_pk = keys::members(tenant, group_id);
        let users_pk = keys::resources(tenant, ResourceKind::User);
        let groups_pk = keys::resources(tenant, ResourceKind::Group);
        let mut wanted = Vec::new();
        for id in add_ids.iter().copied().chain(removes.iter().map(String::as_str)) {
            if !new_group && current.is_none() {
                wanted.push((member_pk.clone(), id.to_string()));
            }
            wanted.push((users_pk.clone(), id.to_string()));
            wanted.push((groups_pk.clone(), id.to_string()));
        }
        let found = self.batch_get(wanted, Some("pk, sk, v, k")).await?;
        let present = |id: &str| -> Option<ResourceKind> {
            match &current {
                Some(all) => all.get(id).copied(),
                None => found.get(&(member_pk.clone(), id.to_string())).map(|m| {
                    get_s(m, attr::KIND)
                        .and_then(parse_kind)
                        .unwrap_or(ResourceKind::User)
                }),
            }
        };
        let resource = |id: &str| -> Option<(ResourceKind, Option<u64>)> {
            if found.contains_key(&(users_pk.clone(), id.to_string())) {
                Some((ResourceKind::User, None))
            } else {
                found.get(&(groups_pk.clone(), id.to_string())).map(|g| {
                    let v = get_n(g, attr::VERSION).and_then(|v| u64::try_from(v).ok());
                    (ResourceKind::Group, v)
                })
            }
        };
        let mut ops = Vec::new();
        for id in &removes {
            if present(id).is_some() {
                ops.push(MemberOp::Remove {
                    id: id.clone(),
                    kind: resource(id).map(|(k, _)| k),
                });
            }
        }
        let mut child_groups = Vec::new();
        for &(id, hint) in &adds {
            if !new_group && present(id).is_some() {
                continue;
            }
            let (kind, version) = resource(id).ok_or_else(|| scim_store::unknown_member(id))?;
            scim_store::check_member_kind(id, kind, hint)?;
            if kind == ResourceKind::Group {
                child_groups.push(id.to_string());
            }
            ops.push(MemberOp::Add {
                id: id.to_string(),
                kind,
                version,
            });
        }
        if !child_groups.is_empty() && !new_group {
            // A new group is nobody's member yet, so no cycle can pass through it.
            let ancestors = self.ancestors(tenant, group_id).await?;
            for child in child_groups {
                if child == group_id || ancestors.contains(&child) {
                    return Err(StoreError::InvalidMember(format!(
                        "adding group '{child}' to group '{group_id}' would create a cycle: '{child}' \
                         already contains '{group_id}', directly or through other groups; {}",
                        scim_proto::hint::GROUP_CYCLE
                    )));
                }
            }
        }
        Ok(MemberPlan { ops, partial })
    }

    /// Every group that contains `group_id`, directly or through other groups, walking the
    /// parents (`p`) level by level: one BatchGetItem per level, within the nesting bound every
    /// store enforces ([`scim_store::nesting`]).
    async fn ancestors(&self, tenant: &TenantId, group_id: &str) -> Result<BTreeSet<String>, StoreError> {
        let pk = keys::resources(tenant, ResourceKind::Group);
        let mut walk = AncestorWalk::new(group_id);
        while let Some(frontier) = walk.frontier() {
            let found = self
                .batch_get(
                    frontier.iter().map(|g| (pk.clone(), g.clone())).collect(),
                    Some("pk, sk, p"),
                )
                .await?;
            let mut parents = Vec::new();
            for item in found.values() {
                if let Some(AttributeValue::M(p)) = item.get(attr::PARENTS) {
                    parents.extend(p.keys().cloned());
                }
            }
            walk.found(parents);
        }
        walk.finish()
    }

    /// The update of a member's own item when it leaves `group_id`.
    pub(crate) fn leave_item(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        member_id: &str,
        group_id: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let map = match kind {
            ResourceKind::User => "g.#g",
            ResourceKind::Group => "p.#g",
        };
        self.update(
            Self::key(keys::resources(tenant, kind), member_id),
            &format!("REMOVE {map} ADD mv :one"),
            Some("attribute_exists(pk)"),
            vec![("#g", group_id)],
            vec![(":one", n(1))],
        )
    }

    /// The transaction items of each op, in order.
    fn ops_items(
        &self,
        tenant: &TenantId,
        group_id: &str,
        display: &str,
        ops: &[MemberOp],
    ) -> Result<Vec<Vec<(TransactWriteItem, Role)>>, StoreError> {
        ops.iter()
            .map(|op| self.op_items(tenant, group_id, display, op))
            .collect()
    }

    fn op_items(
        &self,
        tenant: &TenantId,
        group_id: &str,
        display: &str,
        op: &MemberOp,
    ) -> Result<Vec<(TransactWriteItem, Role)>, StoreError> {
        let member_key = |id: &str| Self::key(keys::members(tenant, group_id), id);
        match op {
            MemberOp::Add { id, kind, version } => {
                let mut item = member_key(id);
                item.insert(attr::KIND.into(), s(kind.name()));
                let (expression, condition, mut values) = match kind {
                    ResourceKind::User => (
                        "SET g.#g = :d ADD mv :one",
                        "attribute_exists(pk)".to_string(),
                        vec![(":d", s(display))],
                    ),
                    ResourceKind::Group => (
                        "SET p.#g = :d ADD mv :one",
                        "v = :cv".to_string(),
                        vec![
                            (":d", AttributeValue::Bool(true)),
                            (":cv", n(version.unwrap_or(0) as i64)),
                        ],
                    ),
                };
                values.push((":one", n(1)));
                Ok(vec![
                    (self.put(item, None)?, Role::Other),
                    (
                        self.update(
                            Self::key(keys::resources(tenant, *kind), id),
                            expression,
                            Some(&condition),
                            vec![("#g", group_id)],
                            values,
                        )?,
                        Role::Member(id.clone()),
                    ),
                ])
            }
            MemberOp::Remove { id, kind } => {
                let mut items = vec![(self.delete(member_key(id), None)?, Role::Other)];
                if let Some(kind) = kind {
                    items.push((
                        self.leave_item(tenant, *kind, id, group_id)?,
                        Role::Member(id.clone()),
                    ));
                }
                Ok(items)
            }
        }
    }

    /// Writes a group change: `last` (the group's own write, index items) with the memberships.
    ///
    /// Up to 100 items fit one transaction. Beyond that the memberships are split: removals first,
    /// then additions, 49 per transaction, each conditional on the group's version (`version`)
    /// without changing it; the group's own write goes with the last batch and bumps the version
    /// once. Each batch writes both sides of its memberships, so every state between batches is
    /// consistent. If a batch fails or the function stops, the group keeps its old version with
    /// part of the change applied; the client sees an error and retries, and the retry plans
    /// against the current members, so what is done is a no-op and the rest is written: it
    /// converges on the same final state (the plan is a target state, not a list of steps).
    ///
    /// On create (`creating`), the group's creation goes first (the batches check its version 1);
    /// if a later batch fails the new group is deleted again.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn write_member_batches(
        &self,
        tenant: &TenantId,
        group_id: &str,
        display: &str,
        version: u64,
        last: Vec<(TransactWriteItem, Role)>,
        ops: &[MemberOp],
        creating: bool,
    ) -> Result<(), Failure> {
        let op_items = self.ops_items(tenant, group_id, display, ops)?;
        let room = MAX_TRANSACTION_ITEMS.saturating_sub(last.len()) / ITEMS_PER_OP;
        let group_key = || Self::key(keys::resources(tenant, ResourceKind::Group), group_id);
        let per_batch = (MAX_TRANSACTION_ITEMS - 1) / ITEMS_PER_OP;
        if Self::one_transaction(last.len(), op_items.len()) {
            let mut items = last;
            items.extend(op_items.into_iter().flatten());
            return self.transact(items).await;
        }
        if creating {
            let (first, rest) = op_items.split_at(room.min(op_items.len()));
            let mut items = last;
            items.extend(first.iter().flatten().cloned());
            self.transact(items).await?;
            for batch in rest.chunks(per_batch) {
                let mut items = vec![(self.version_check(group_key(), version)?, Role::TargetCheck)];
                items.extend(batch.iter().flatten().cloned());
                if let Err(e) = self.transact(items).await {
                    // Undo the creation: the client got an error, so the group must not stay.
                    let _ = self
                        .delete_resource(
                            tenant,
                            ResourceKind::Group,
                            group_id,
                            scim_store::Expect::Any,
                            None,
                        )
                        .await;
                    return Err(e);
                }
            }
            return Ok(());
        }
        let split = op_items.len() - room.min(op_items.len());
        let (early, final_ops) = op_items.split_at(split);
        self.write_checked_batches(tenant, group_id, version, early)
            .await?;
        let mut items = last;
        items.extend(final_ops.iter().flatten().cloned());
        self.transact(items).await
    }

    /// Whether `ops` memberships fit one transaction with `last_items` of the group's own.
    pub(crate) fn one_transaction(last_items: usize, ops: usize) -> bool {
        ops <= MAX_TRANSACTION_ITEMS.saturating_sub(last_items) / ITEMS_PER_OP
    }

    /// Writes a group change on top of the member changes that moved the group's version since
    /// it was planned. `last` starts with the group's own write conditional on its attributes
    /// (`Guard::Attributes` in `resources.rs`), which adds one to the version; the memberships are
    /// the planned net diff, and writing one that another request wrote meanwhile is idempotent
    /// (the member item put again, the member's entry set again). A transaction returns no
    /// items, so one GetItem learns the version it produced (or a later one): the answer's ETag.
    pub(crate) async fn write_on_top(
        &self,
        tenant: &TenantId,
        group_id: &str,
        display: &str,
        last: Vec<(TransactWriteItem, Role)>,
        ops: &[MemberOp],
    ) -> Result<Rec, Failure> {
        let mut items = last;
        items.extend(
            self.ops_items(tenant, group_id, display, ops)?
                .into_iter()
                .flatten(),
        );
        self.transact(items).await?;
        self.read(tenant, ResourceKind::Group, group_id)
            .await?
            .ok_or(Failure::Store(StoreError::NotFound))
    }

    /// Writes the first removals of a partial plan ([`MemberPlan::partial`]), under the group's
    /// version, which they leave as it is.
    pub(crate) async fn write_partial_plan(
        &self,
        tenant: &TenantId,
        group_id: &str,
        display: &str,
        version: u64,
        ops: &[MemberOp],
    ) -> Result<(), Failure> {
        let op_items = self.ops_items(tenant, group_id, display, ops)?;
        self.write_checked_batches(tenant, group_id, version, &op_items)
            .await
    }

    /// Member writes in transactions as large as they go, each conditional on the group's
    /// version, which they leave unchanged (the request's last transaction moves it).
    async fn write_checked_batches(
        &self,
        tenant: &TenantId,
        group_id: &str,
        version: u64,
        op_items: &[Vec<(TransactWriteItem, Role)>],
    ) -> Result<(), Failure> {
        let group_key = || Self::key(keys::resources(tenant, ResourceKind::Group), group_id);
        for batch in op_items.chunks((MAX_TRANSACTION_ITEMS - 1) / ITEMS_PER_OP) {
            let mut items = vec![(self.version_check(group_key(), version)?, Role::TargetCheck)];
            items.extend(batch.iter().flatten().cloned());
            self.transact(items).await?;
        }
        Ok(())
    }

    /// The members of a group in id order, reading its member partition page by page. With a
    /// limit, stops at `limit + 1` and answers [`StoreError::TooManyMembers`].
    pub(crate) async fn read_members(
        &self,
        tenant: &TenantId,
        group_id: &str,
        limit: Option<u64>,
    ) -> Result<Vec<(String, ResourceKind)>, StoreError> {
        if !keys::plausible_id(group_id) {
            return Ok(Vec::new());
        }
        let pk = keys::members(tenant, group_id);
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page_limit = match limit {
                Some(l) => (l + 1).saturating_sub(out.len() as u64).clamp(1, 5000),
                None => 5000,
            };
            let page_limit = i32::try_from(page_limit).unwrap_or(5000);
            let (items, more) = self
                .query_page(&pk, after.as_deref(), page_limit, Some("sk, k"))
                .await?;
            for item in &items {
                if let Some(id) = get_s(item, keys::SK) {
                    let kind = get_s(item, attr::KIND)
                        .and_then(parse_kind)
                        .unwrap_or(ResourceKind::User);
                    out.push((id.to_string(), kind));
                }
            }
            if let Some(l) = limit {
                if out.len() as u64 > l {
                    return Err(StoreError::TooManyMembers {
                        group: Some(group_id.to_string()),
                        limit: l,
                    });
                }
            }
            match (more, items.last().and_then(|i| get_s(i, keys::SK))) {
                (true, Some(last)) => after = Some(last.to_string()),
                // An empty page with a LastEvaluatedKey: the end (real DynamoDB can do this on an
                // exactly full last page; moto omits the key instead).
                _ => return Ok(out),
            }
        }
    }

    /// Takes over an unfinished rename fan-out whose lease has run out (or was given up): one
    /// conditional UpdateItem, which at most one of several concurrent writes wins. A lease still
    /// running, as `rec` read it, costs no call.
    pub(crate) async fn take_fanout(
        &self,
        tenant: &TenantId,
        rec: &Rec,
        display: &str,
    ) -> Result<bool, StoreError> {
        let now = scim_store::timestamp(scim_store::now());
        if rec
            .fanout_lease
            .as_deref()
            .is_some_and(|until| until > now.as_str())
        {
            return Ok(false);
        }
        let taken = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                keys::resources(tenant, ResourceKind::Group),
                &rec.id,
            )))
            .update_expression("SET fl = :until")
            .condition_expression("fo = :d AND (attribute_not_exists(fl) OR fl < :now)")
            .expression_attribute_values(":until", s(fanout_lease_until()))
            .expression_attribute_values(":d", s(display))
            .expression_attribute_values(":now", s(now))
            .send()
            .await;
        // A failed condition: another request holds it, or it finished.
        error::applied("UpdateItem", taken)
    }

    /// After a rename, writes the new displayName into each user member's `g` entry: one
    /// conditional UpdateItem per user member (the one operation that grows with the group, and
    /// rare), 16 at a time, a page of members at a time in member id order. The group item carries
    /// `fo` until all are done, `fc`, the last member reached, after each page, and `fl`, the
    /// lease of the request running it, renewed with each page. One request does at most
    /// [`DynamoStore::with_member_work_budget`] members, so no request runs past the function's
    /// timeout however large the group; it then gives the lease up, and the group's next write
    /// takes it and goes on from `fc`.
    /// Returns whether the fan-out finished.
    pub(crate) async fn fan_out_rename(
        &self,
        tenant: &TenantId,
        group_id: &str,
        display: &str,
        resume_after: Option<&str>,
    ) -> Result<bool, StoreError> {
        let group_key = || Self::key(keys::resources(tenant, ResourceKind::Group), group_id);
        let pk = keys::members(tenant, group_id);
        let mut after = resume_after.map(str::to_string);
        let mut done = 0usize;
        // A page larger than the budget would only be thrown away.
        let page = i32::try_from(self.member_work_budget.min(FANOUT_PAGE)).unwrap_or(1);
        loop {
            let (items, more) = self
                .query_page(&pk, after.as_deref(), page, Some("sk, k"))
                .await?;
            let users: Vec<String> = items
                .iter()
                .filter(|i| get_s(i, attr::KIND).and_then(parse_kind) != Some(ResourceKind::Group))
                .filter_map(|i| get_s(i, keys::SK).map(str::to_string))
                .collect();
            done += users.len();
            let results: Vec<Result<(), StoreError>> = stream::iter(users)
                .map(|uid| async move {
                    let sent = self
                        .client
                        .update_item()
                        .table_name(&self.table)
                        .set_key(Some(Self::key(keys::resources(tenant, ResourceKind::User), uid)))
                        .update_expression("SET g.#g = :d")
                        .condition_expression("attribute_exists(g.#g)")
                        .expression_attribute_names("#g", group_id)
                        .expression_attribute_values(":d", s(display))
                        .send()
                        .await;
                    // A failed condition: the user left the group meanwhile, nothing to rename.
                    done_unless_failed(sent)
                })
                .buffer_unordered(FANOUT_CONCURRENCY)
                .collect()
                .await;
            results.into_iter().collect::<Result<Vec<()>, StoreError>>()?;
            // An empty page with a LastEvaluatedKey is the end too (see `read_members`).
            let Some(last) = items.last().and_then(|i| get_s(i, keys::SK)).filter(|_| more) else {
                break;
            };
            // Each page renews the lease; the last page a request's budget allows gives it up,
            // so the group's next write goes on at once.
            let stop = done >= self.member_work_budget;
            let mut save = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(group_key()))
                .update_expression(if stop {
                    "SET fc = :c REMOVE fl"
                } else {
                    "SET fc = :c, fl = :until"
                })
                .condition_expression("fo = :d")
                .expression_attribute_values(":c", s(last))
                .expression_attribute_values(":d", s(display));
            if !stop {
                save = save.expression_attribute_values(":until", s(fanout_lease_until()));
            }
            let saved = save.send().await;
            // A failed condition: renamed again meanwhile; that write's fan-out owns the flag.
            if !error::applied("UpdateItem", saved)? || stop {
                return Ok(false);
            }
            after = Some(last.to_string());
        }
        let cleared = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(group_key()))
            .update_expression("REMOVE fo, fc, fl")
            .condition_expression("fo = :d")
            .expression_attribute_values(":d", s(display))
            .send()
            .await;
        // A failed condition: renamed again meanwhile, and that write's fan-out owns the flag now.
        done_unless_failed(cleared)?;
        Ok(true)
    }
}

/// The outcome of a conditional UpdateItem of the rename fan-out, where a failed condition means
/// another write already made the change moot.
fn done_unless_failed<T>(sent: Result<T, SdkError<UpdateItemError, HttpResponse>>) -> Result<(), StoreError> {
    error::applied("UpdateItem", sent).map(|_| ())
}

/// Groups of a page, with members loaded in parallel.
pub(crate) type MemberLists = HashMap<String, Vec<(String, ResourceKind)>>;
