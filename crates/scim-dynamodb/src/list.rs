//! List requests: where the candidates come from, how much may be read, and paging.
//!
//! | filter | candidates | reads |
//! |---|---|---|
//! | none | the listing partition `T#<t>#USERS` (counters first, then resources by id) | one Query sized to the page |
//! | `id eq` | the item | one BatchGetItem |
//! | indexed `eq` (`userName`, `externalId`, Group `displayName`), alone or under `and` | the index partition | one Query + one BatchGetItem |
//! | `members.value eq "<id>"` (Groups) | the member's `g`/`p` entries | two BatchGetItems |
//! | `groups.value eq "<gid>"` (Users) | the group's member partition | Query + BatchGetItem per 100 members |
//! | anything else | the listing partition, evaluated here | Query pages, at most the scan limit of items |
//!
//! Every candidate is checked with `Filter::matches`, so an index only narrows the search.
//!
//! Sorted lists (RFC 7644 §3.4.2.3): without a filter, in the order of a sort index
//! ([`keys::SORT_INDEXES`]: `userName`, `displayName`, `externalId`, `meta.created`,
//! `meta.lastModified`), one index Query + one BatchGetItem + the counters' Query; by cursor with
//! a filter no index answers, the sort index walked in order, its items read and evaluated a
//! batch at a time, at most the scan limit of entries per request; otherwise every candidate of
//! the source above is read (at most the scan limit, beyond it 400 `tooMany`), evaluated, sorted
//! and paged in the function.

use crate::keys;
use crate::keys::SortIndex;
use crate::members::MemberLists;
use crate::record::{attr, get_n, get_s, Rec};
use crate::{DynamoStore, MAX_BATCH_GET};
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::future::try_join_all;
use scim_proto::filter::Filter;
use scim_proto::schema::ResourceSchema;
use scim_proto::sort::SortBy;
use scim_store::{
    page_in_memory, Include, Member, Page, Paging, Query, ResourceKind, StoreError, StoredResource, TenantId,
};
use std::collections::{BTreeSet, HashMap};

/// Items read per Query page while evaluating a filter.
const SCAN_PAGE: i32 = 500;

/// Where a filtered list finds its candidates.
#[derive(Debug)]
pub(crate) enum Source {
    /// A small, known set of ids (from `id eq`, an index or a member's memberships). With
    /// `members.value eq "<m>"`, every candidate is known to contain `m`.
    Ids(Vec<String>, Option<(String, ResourceKind)>),
    /// The user members of a group (`groups.value eq`).
    Members(String),
    /// Every resource of the kind.
    Listing,
}

impl DynamoStore {
    /// Picks the cheapest source the filter allows (`Filter::equality_lookups`: `eq` terms that
    /// every match satisfies).
    pub(crate) async fn source(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        filter: &Filter,
        schema: &ResourceSchema<'_>,
    ) -> Result<Source, StoreError> {
        let lookups = filter.equality_lookups(schema);
        if let Some((_, id)) = lookups.iter().find(|(p, _)| p == "id") {
            return Ok(Source::Ids(vec![id.clone()], None));
        }
        for (path, value) in &lookups {
            if let Some(a) = self.indexed(kind).iter().find(|a| &a.label() == path) {
                let pk = keys::index(tenant, kind, path, &a.normalise(value));
                return Ok(Source::Ids(self.index_ids(&pk).await?, None));
            }
        }
        for (path, value) in &lookups {
            match (kind, path.as_str()) {
                (ResourceKind::User, "groups.value") => return Ok(Source::Members(value.clone())),
                (ResourceKind::Group, "members.value") => {
                    let (ids, kind) = self.containing_groups(tenant, value).await?;
                    return Ok(Source::Ids(ids, kind.map(|k| (value.clone(), k))));
                }
                _ => {}
            }
        }
        Ok(Source::Listing)
    }

    /// The ids an index partition names (one Query; a unique entry holds one id).
    pub(crate) async fn index_ids(&self, pk: &str) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (items, more) = self.query_page(pk, after.as_deref(), 1000, None).await?;
            for i in &items {
                if let Some(id) = get_s(i, attr::ID) {
                    ids.push(id.to_string());
                }
            }
            match (more, items.last().and_then(|i| get_s(i, keys::SK))) {
                (true, Some(last)) => after = Some(last.to_string()),
                _ => return Ok(ids),
            }
        }
    }

    /// The groups that directly contain `member` (a user or a group), from its own item, and
    /// the member's kind (`None` when it does not exist).
    pub(crate) async fn containing_groups(
        &self,
        tenant: &TenantId,
        member: &str,
    ) -> Result<(Vec<String>, Option<ResourceKind>), StoreError> {
        if !keys::plausible_id(member) {
            return Ok((Vec::new(), None));
        }
        let found = self
            .batch_get(
                vec![
                    (keys::resources(tenant, ResourceKind::User), member.to_string()),
                    (keys::resources(tenant, ResourceKind::Group), member.to_string()),
                ],
                Some("pk, sk, g, p"),
            )
            .await?;
        let mut ids = BTreeSet::new();
        let mut kind = None;
        for item in found.values() {
            for (name, k) in [
                (attr::GROUPS, ResourceKind::User),
                (attr::PARENTS, ResourceKind::Group),
            ] {
                if let Some(AttributeValue::M(m)) = item.get(name) {
                    ids.extend(m.keys().cloned());
                    kind = Some(k);
                }
            }
        }
        Ok((ids.into_iter().collect(), kind))
    }

    /// Resource items by id, in id order (BatchGetItem, 100 per call).
    pub(crate) async fn fetch(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        ids: &[String],
    ) -> Result<Vec<Rec>, StoreError> {
        let pk = keys::resources(tenant, kind);
        let keys: Vec<(String, String)> = ids
            .iter()
            .filter(|id| keys::plausible_id(id))
            .map(|id| (pk.clone(), id.clone()))
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let found = self.batch_get(keys, None).await?;
        let mut recs = found
            .values()
            .map(|i| Rec::from_item(kind, i))
            .collect::<Result<Vec<_>, _>>()?;
        recs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(recs)
    }

    /// Whether evaluating the filter needs each group's members (they are not in the group item).
    pub(crate) fn needs_members(kind: ResourceKind, filter: &Filter) -> bool {
        kind == ResourceKind::Group && filter.to_string().to_ascii_lowercase().contains("members")
    }

    pub(crate) async fn matches(
        &self,
        tenant: &TenantId,
        filter: &Filter,
        schema: &ResourceSchema<'_>,
        rec: &Rec,
        known: Option<&(String, ResourceKind)>,
    ) -> Result<bool, StoreError> {
        if let Some(m) = known {
            // The filter names members once, as the `members.value eq` the candidates came
            // from: each candidate contains that member, and no other member can matter.
            let text = filter.to_string().to_ascii_lowercase();
            if text.matches("members").count() == 1 {
                return Ok(filter.matches(&rec.filter_view(Some(std::slice::from_ref(m))), schema));
            }
        }
        if Self::needs_members(rec.kind, filter) {
            let members = self.read_members(tenant, &rec.id, Some(self.scan_limit)).await?;
            return Ok(filter.matches(&rec.filter_view(Some(&members)), schema));
        }
        Ok(filter.matches(&rec.filter_view(None), schema))
    }

    /// A small candidate set: all of it is read and evaluated, so the total is exact.
    pub(crate) async fn list_ids(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        q: &Query,
        filter: &Filter,
        schema: &ResourceSchema<'_>,
        (mut ids, known): (Vec<String>, Option<(String, ResourceKind)>),
    ) -> Result<Page, StoreError> {
        ids.sort();
        ids.dedup();
        if ids.len() as u64 > self.scan_limit {
            return Err(self.too_many());
        }
        let mut matching = Vec::new();
        for rec in self.fetch(tenant, kind, &ids).await? {
            if self.matches(tenant, filter, schema, &rec, known.as_ref()).await? {
                matching.push(rec);
            }
        }
        let keyed = matching.into_iter().map(|r| (self.list_key(q, &r), r)).collect();
        let (page, total, next) = page_in_memory(keyed, q.sort.as_ref(), &q.paging, q.count);
        Ok(Page {
            resources: page.iter().map(|r| r.stored(q.include.groups)).collect(),
            total_results: Some(total),
            next,
        })
    }

    /// A resource's position in a list: its key in the query's order, or its id.
    fn list_key(&self, q: &Query, rec: &Rec) -> String {
        match &q.sort {
            Some(sort) => sort.key(&rec.attrs, rec.meta()),
            None => rec.id.clone(),
        }
    }

    /// A sorted list that no sort index answers (another attribute, or a filter whose candidates
    /// are not one index's): every candidate is read and evaluated, at most the scan limit of
    /// them, then sorted and paged here.
    pub(crate) async fn list_sorted_in_memory(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        q: &Query,
        filter: Option<(&Filter, &ResourceSchema<'_>)>,
        source: Source,
        sort: &SortBy,
    ) -> Result<Page, StoreError> {
        let mut candidates = Vec::new();
        let mut position: Option<String> = None;
        let mut examined: u64 = 0;
        loop {
            let budget = (self.scan_limit + 1 - examined).min(SCAN_PAGE as u64);
            let (recs, scanned, last, more) = self
                .next_batch(tenant, kind, &source, position.as_deref(), budget)
                .await?;
            examined += scanned;
            if examined > self.scan_limit {
                return Err(self.too_many_to_sort(kind, sort));
            }
            for rec in recs {
                let keep = match filter {
                    Some((f, schema)) => self.matches(tenant, f, schema, &rec, None).await?,
                    None => true,
                };
                if keep {
                    candidates.push((self.list_key(q, &rec), rec));
                }
            }
            match (more, last) {
                (true, Some(l)) => position = Some(l),
                _ => break,
            }
        }
        let (page, total, next) = page_in_memory(candidates, Some(sort), &q.paging, q.count);
        Ok(Page {
            resources: page.iter().map(|r| r.stored(q.include.groups)).collect(),
            total_results: Some(total),
            next,
        })
    }

    fn too_many_to_sort(&self, kind: ResourceKind, sort: &SortBy) -> StoreError {
        let indexed: Vec<&str> = self
            .sorted
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, i, _)| i.path)
            .collect();
        StoreError::TooMany(format!(
            "sorting by {} means reading every candidate, and there are more than {}; sort by {} \
             (kept in order by an index), or narrow the request with a filter on userName, \
             externalId, id or (groups) displayName",
            sort.path,
            self.scan_limit,
            indexed.join(", ")
        ))
    }

    /// A list without a filter in the order of one of the sort indexes: the index's Query gives
    /// the ids of the page (no resource is read to find them), one BatchGetItem their items, and
    /// the counters the total. The index is eventually consistent: a resource written a moment
    /// ago may still be in its old place (the items themselves are read strongly consistent).
    pub(crate) async fn list_sorted(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        q: &Query,
        sort: &SortBy,
        index: &SortIndex,
    ) -> Result<Page, StoreError> {
        let pk = keys::resources(tenant, kind);
        let (after, skip, want) = match &q.paging {
            Paging::Index { start_index } => {
                let skip = start_index.max(&1) - 1;
                let want = skip.saturating_add(q.count);
                if want > self.scan_limit {
                    return Err(self.too_many());
                }
                (None, skip, want)
            }
            Paging::Cursor { after } => (after.clone(), 0, q.count.saturating_add(1)),
        };
        let (total, entries) = tokio::join!(
            self.read_counters(&pk),
            self.sorted_entries(&pk, index, sort, after.as_deref(), want)
        );
        let Some(mut entries) = entries? else {
            // The index is not there (yet): the same order from the whole list, within the bound.
            return self
                .list_sorted_in_memory(tenant, kind, q, None, Source::Listing, sort)
                .await;
        };
        let more = matches!(q.paging, Paging::Cursor { .. }) && entries.len() as u64 > q.count;
        let entries: Vec<(String, String)> = entries
            .drain(..)
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(usize::try_from(q.count).unwrap_or(usize::MAX))
            .collect();
        let mut recs = self.fetch_entries(tenant, kind, &entries).await?;
        // A resource deleted since the index named it is skipped.
        let page: Vec<Rec> = entries.iter().filter_map(|(_, id)| recs.remove(id)).collect();
        let next = more.then(|| entries.last().map(|(key, _)| key.clone())).flatten();
        Ok(Page {
            resources: page.iter().map(|r| r.stored(q.include.groups)).collect(),
            total_results: Some(total?),
            next,
        })
    }

    /// A filter no index answers, by cursor, in the order of a sort index: the index's entries in
    /// order, their items read a batch at a time and evaluated, until the page is full or the
    /// scan limit of entries is examined; then the page ends there (perhaps short, even empty)
    /// with a cursor after the last entry examined, as an unsorted scan does. The total is not
    /// known. `None` when the index cannot be read: the caller sorts in memory instead.
    pub(crate) async fn list_sorted_scan(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        q: &Query,
        (filter, schema): (&Filter, &ResourceSchema<'_>),
        (sort, index): (&SortBy, &SortIndex),
        after: &Option<String>,
    ) -> Result<Option<Page>, StoreError> {
        let pk = keys::resources(tenant, kind);
        let mut position = after.clone();
        let mut examined: u64 = 0;
        let mut page: Vec<(String, Rec)> = Vec::new();
        loop {
            let budget = (self.scan_limit - examined).min(MAX_BATCH_GET as u64);
            if budget == 0 {
                // The work bound: continue after the last entry examined.
                return Ok(Some(self.sorted_scan_page(q, page, position)));
            }
            let Some(entries) = self
                .sorted_entries(&pk, index, sort, position.as_deref(), budget)
                .await?
            else {
                return Ok(None);
            };
            examined += entries.len() as u64;
            let exhausted = (entries.len() as u64) < budget;
            let mut recs = self.fetch_entries(tenant, kind, &entries).await?;
            for (key, id) in entries {
                // A resource deleted since the index named it is skipped.
                let Some(rec) = recs.remove(&id) else {
                    position = Some(key);
                    continue;
                };
                if !self.matches(tenant, filter, schema, &rec, None).await? {
                    position = Some(key);
                    continue;
                }
                if page.len() as u64 == q.count {
                    // One match beyond the page: more follow, from the page's last resource.
                    let last = page.last().map(|(k, _)| k.clone());
                    return Ok(Some(self.sorted_scan_page(q, page, last)));
                }
                position = Some(key.clone());
                page.push((key, rec));
            }
            if exhausted {
                return Ok(Some(self.sorted_scan_page(q, page, None)));
            }
        }
    }

    /// The items a sort index's (key, id) entries name, by id (one BatchGetItem per 100).
    async fn fetch_entries(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        entries: &[(String, String)],
    ) -> Result<HashMap<String, Rec>, StoreError> {
        let ids: Vec<String> = entries.iter().map(|(_, id)| id.clone()).collect();
        Ok(self
            .fetch(tenant, kind, &ids)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect())
    }

    fn sorted_scan_page(&self, q: &Query, page: Vec<(String, Rec)>, next: Option<String>) -> Page {
        Page {
            resources: page.iter().map(|(_, r)| r.stored(q.include.groups)).collect(),
            total_results: None,
            next,
        }
    }

    /// Up to `want` (key, id) entries of a sort index partition after `after`, in `sort`'s
    /// direction; `None` when the index cannot be read (not created, or still filling).
    async fn sorted_entries(
        &self,
        pk: &str,
        index: &SortIndex,
        sort: &SortBy,
        after: Option<&str>,
        want: u64,
    ) -> Result<Option<Vec<(String, String)>>, StoreError> {
        let mut entries: Vec<(String, String)> = Vec::new();
        let mut from = after.map(str::to_string);
        while (entries.len() as u64) < want {
            let limit = i32::try_from((want - entries.len() as u64).min(1000)).unwrap_or(1000);
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index.index)
                .scan_index_forward(!sort.descending())
                .limit(limit)
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_values(":pk", crate::record::s(pk));
            query = match &from {
                Some(position) => query
                    .key_condition_expression(if sort.descending() {
                        "#pk = :pk AND #o < :after"
                    } else {
                        "#pk = :pk AND #o > :after"
                    })
                    .expression_attribute_names("#o", index.attribute)
                    .expression_attribute_values(":after", crate::record::s(position)),
                None => query.key_condition_expression("#pk = :pk"),
            };
            let out = match query.send().await {
                Ok(out) => out,
                Err(e) if crate::error::is_index_unavailable(&e) => return Ok(None),
                Err(e) => return Err(crate::error::sdk("Query", e)),
            };
            let items = out.items();
            for item in items {
                if let (Some(key), Some(id)) = (get_s(item, index.attribute), get_s(item, keys::SK)) {
                    entries.push((key.to_string(), id.to_string()));
                }
            }
            // moto may leave out LastEvaluatedKey after an exactly full last page: a full page
            // means another Query, which then finds nothing.
            let full = items.len() as i32 >= limit;
            if !(full || out.last_evaluated_key().is_some()) || items.is_empty() {
                break;
            }
            from = entries.last().map(|(key, _)| key.clone());
        }
        Ok(Some(entries))
    }

    pub(crate) fn too_many(&self) -> StoreError {
        StoreError::TooMany(format!(
            "answering this would examine more than {} resources; use cursor paging (cursor=) or a \
             filter on userName, externalId, id or (groups) displayName",
            self.scan_limit
        ))
    }

    /// No filter: the listing partition. The counter shards sort first, so a page from the start
    /// carries the total; later cursor pages read the 16 counters with a second small Query.
    pub(crate) async fn list_all(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        q: &Query,
    ) -> Result<Page, StoreError> {
        let pk = keys::resources(tenant, kind);
        match &q.paging {
            Paging::Index { start_index } => {
                let skip = start_index.max(&1) - 1;
                let want = skip.saturating_add(q.count);
                if want > self.scan_limit {
                    return Err(self.too_many());
                }
                let (total, recs, _) = self.read_listing(tenant, kind, None, want, true).await?;
                let page = recs
                    .into_iter()
                    .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                    .take(usize::try_from(q.count).unwrap_or(usize::MAX));
                Ok(Page {
                    resources: page.map(|r| r.stored(q.include.groups)).collect(),
                    total_results: Some(total.unwrap_or(0)),
                    next: None,
                })
            }
            Paging::Cursor { after } => {
                let want = q.count.saturating_add(1);
                let (total, mut recs, _) = match after {
                    None => self.read_listing(tenant, kind, None, want, true).await?,
                    Some(a) => {
                        let (counters, page) = tokio::join!(
                            self.read_counters(&pk),
                            self.read_listing(tenant, kind, Some(a.clone()), want, false)
                        );
                        let (_, recs, done) = page?;
                        (Some(counters?), recs, done)
                    }
                };
                let take = usize::try_from(q.count).unwrap_or(usize::MAX);
                let more = recs.len() > take;
                recs.truncate(take);
                let next = more.then(|| recs.last().map(|r| r.id.clone())).flatten();
                Ok(Page {
                    resources: recs.iter().map(|r| r.stored(q.include.groups)).collect(),
                    total_results: total,
                    next,
                })
            }
        }
    }

    pub(crate) async fn read_counters(&self, pk: &str) -> Result<u64, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :c)")
            .expression_attribute_values(":pk", crate::record::s(pk))
            .expression_attribute_values(":c", crate::record::s(keys::COUNTER_PREFIX))
            .send()
            .await
            .map_err(|e| crate::error::sdk("Query", e))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|i| get_n(i, attr::COUNT))
            .sum::<i64>()
            .max(0) as u64)
    }

    /// Up to `want` resources from the listing partition after `after` (from the start with
    /// the counters when `with_counters`). Returns the total if the counters were read, the
    /// resources, and whether the partition ended.
    pub(crate) async fn read_listing(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        after: Option<String>,
        want: u64,
        with_counters: bool,
    ) -> Result<(Option<u64>, Vec<Rec>, bool), StoreError> {
        let pk = keys::resources(tenant, kind);
        let mut total: Option<i64> = with_counters.then_some(0);
        let mut recs = Vec::new();
        let mut cursor = after;
        let extra = if with_counters {
            keys::COUNTER_SHARDS as u64
        } else {
            0
        };
        let mut first = true;
        loop {
            let remaining = want.saturating_sub(recs.len() as u64) + if first { extra } else { 0 };
            let limit = i32::try_from(remaining.clamp(1, 1000)).unwrap_or(1000);
            let from = match (&cursor, first && with_counters) {
                (None, true) => None,
                (None, false) => Some(keys::AFTER_COUNTERS.to_string()),
                (Some(c), _) => Some(c.clone()),
            };
            let (items, more) = self.query_page(&pk, from.as_deref(), limit, None).await?;
            first = false;
            for item in &items {
                let sk = get_s(item, keys::SK).unwrap_or_default();
                if sk.starts_with(keys::COUNTER_PREFIX) {
                    if let Some(t) = &mut total {
                        *t += get_n(item, attr::COUNT).unwrap_or(0);
                    }
                    continue;
                }
                recs.push(Rec::from_item(kind, item)?);
            }
            cursor = items
                .last()
                .and_then(|i| get_s(i, keys::SK))
                .map(str::to_string)
                .or(cursor);
            if cursor.is_none() {
                cursor = Some(keys::AFTER_COUNTERS.to_string());
            }
            let done = !more;
            if done || recs.len() as u64 >= want {
                let seen = recs.len() as i64;
                return Ok((total.map(|t| t.max(seen).max(0) as u64), recs, done));
            }
        }
    }

    /// A filter evaluated item by item over a large source, reading at most the scan limit.
    pub(crate) async fn list_scan(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        q: &Query,
        filter: &Filter,
        schema: &ResourceSchema<'_>,
        source: Source,
    ) -> Result<Page, StoreError> {
        let (start_after, index_paging) = match &q.paging {
            Paging::Index { .. } => (None, true),
            Paging::Cursor { after } => (after.clone(), false),
        };
        let (skip, take) = match &q.paging {
            Paging::Index { start_index } => (start_index.max(&1) - 1, q.count),
            Paging::Cursor { .. } => (0, q.count),
        };
        let mut position = start_after.clone();
        let mut examined: u64 = 0;
        let mut matched: u64 = 0;
        let mut page: Vec<Rec> = Vec::new();
        let mut done = false;
        let mut extra_match = false;
        while !done {
            if examined >= self.scan_limit {
                break;
            }
            let budget = (self.scan_limit - examined).min(SCAN_PAGE as u64);
            let (recs, scanned, last, more) = self
                .next_batch(tenant, kind, &source, position.as_deref(), budget)
                .await?;
            examined += scanned;
            done = !more;
            for rec in recs {
                if !self.matches(tenant, filter, schema, &rec, None).await? {
                    continue;
                }
                matched += 1;
                if index_paging {
                    if matched > skip && (page.len() as u64) < take {
                        page.push(rec);
                    }
                } else if (page.len() as u64) < take {
                    position = Some(rec.id.clone());
                    page.push(rec);
                } else {
                    extra_match = true;
                    break;
                }
            }
            if extra_match {
                break;
            }
            if let Some(l) = last {
                position = Some(l);
            }
        }
        if index_paging {
            if !done {
                return Err(self.too_many());
            }
            return Ok(Page {
                resources: page.iter().map(|r| r.stored(q.include.groups)).collect(),
                total_results: Some(matched),
                next: None,
            });
        }
        let next = if extra_match {
            page.last().map(|r| r.id.clone())
        } else if done {
            None
        } else {
            // The scan limit was reached: continue after the last item examined.
            position.clone()
        };
        let total = (done && !extra_match && start_after.is_none()).then_some(matched);
        Ok(Page {
            resources: page.iter().map(|r| r.stored(q.include.groups)).collect(),
            total_results: total,
            next,
        })
    }

    /// The next batch of candidates after `after`: the resources, how many items were examined,
    /// the position of the last one, and whether more may follow.
    pub(crate) async fn next_batch(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        source: &Source,
        after: Option<&str>,
        budget: u64,
    ) -> Result<(Vec<Rec>, u64, Option<String>, bool), StoreError> {
        let limit = i32::try_from(budget.max(1)).unwrap_or(SCAN_PAGE);
        match source {
            Source::Listing => {
                let pk = keys::resources(tenant, kind);
                let from = after.unwrap_or(keys::AFTER_COUNTERS);
                let (items, more) = self.query_page(&pk, Some(from), limit, None).await?;
                let recs = items
                    .iter()
                    .map(|i| Rec::from_item(kind, i))
                    .collect::<Result<Vec<_>, _>>()?;
                let last = items.last().and_then(|i| get_s(i, keys::SK)).map(str::to_string);
                Ok((recs, items.len() as u64, last, more))
            }
            Source::Members(gid) => {
                if !keys::plausible_id(gid) {
                    return Ok((Vec::new(), 0, None, false));
                }
                let limit = limit.min(100);
                let (items, more) = self
                    .query_page(&keys::members(tenant, gid), after, limit, Some("sk, k"))
                    .await?;
                let users: Vec<String> = items
                    .iter()
                    .filter(|i| get_s(i, attr::KIND).is_none_or(|k| k == "User"))
                    .filter_map(|i| get_s(i, keys::SK).map(str::to_string))
                    .collect();
                let last = items.last().and_then(|i| get_s(i, keys::SK)).map(str::to_string);
                let recs = if kind == ResourceKind::User {
                    self.fetch(tenant, kind, &users).await?
                } else {
                    Vec::new()
                };
                Ok((recs, items.len() as u64, last, more))
            }
            Source::Ids(..) => Ok((Vec::new(), 0, None, false)),
        }
    }

    /// Loads the members of each group on a page (in parallel), refusing more than the limit in
    /// total.
    pub(crate) async fn attach_members(
        &self,
        tenant: &TenantId,
        resources: &mut [StoredResource],
        include: Include,
    ) -> Result<(), StoreError> {
        let lists: Vec<(String, Vec<(String, ResourceKind)>)> =
            try_join_all(resources.iter().map(|r| async {
                let members = self.read_members(tenant, &r.id, include.member_limit).await;
                let members = match members {
                    Err(StoreError::TooManyMembers { limit, .. }) => {
                        Err(StoreError::TooManyMembers { group: None, limit })
                    }
                    other => other,
                }?;
                Ok::<_, StoreError>((r.id.clone(), members))
            }))
            .await?;
        let lists: MemberLists = lists.into_iter().collect();
        if let Some(limit) = include.member_limit {
            if lists.values().map(Vec::len).sum::<usize>() as u64 > limit {
                return Err(StoreError::TooManyMembers { group: None, limit });
            }
        }
        for r in resources.iter_mut() {
            let members = lists.get(&r.id).cloned().unwrap_or_default();
            r.members = Some(
                members
                    .into_iter()
                    .map(|(value, kind)| Member { value, kind })
                    .collect(),
            );
        }
        Ok(())
    }
}
