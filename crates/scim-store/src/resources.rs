//! Users and groups with their members: the [`ResourceStore`] capability and the types it
//! speaks in (what a resource is as stored, member changes, list queries and pages).

use crate::{Expect, ResourceKind, StoreError, TenantId};
use async_trait::async_trait;
use scim_proto::filter::Filter;
use scim_proto::sort::{Meta, SortBy};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// A group member as stored: RFC 7643 §4.2 `members` without the derived `$ref` and `display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub value: String,
    pub kind: ResourceKind,
}

/// A requested change to a group's members, in the order: clear (if `replace_all`), remove, add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChange {
    /// Remove every existing member first.
    pub replace_all: bool,
    /// Member ids to remove; absent ones are ignored.
    pub remove: Vec<String>,
    /// Member ids to add, with the type the client gave if any; present ones are ignored. The
    /// store resolves each id in the tenant and rejects unknown ids and cycles.
    pub add: Vec<(String, Option<ResourceKind>)>,
}

impl MemberChange {
    pub fn is_empty(&self) -> bool {
        !self.replace_all && self.remove.is_empty() && self.add.is_empty()
    }

    /// Whether the change is a delta that commutes with other member changes: adds and
    /// removes by id. A replacement depends on the whole current list, so it does not.
    pub fn commutes(&self) -> bool {
        !self.replace_all && !self.is_empty()
    }

    /// The ids to add, each once (the first mention's type hint wins), in request order. A hash
    /// set, not a scan of the ids so far: 16,000 members once cost 128 million comparisons.
    pub fn distinct_adds(&self) -> Vec<(&str, Option<ResourceKind>)> {
        let mut seen = HashSet::with_capacity(self.add.len());
        self.add
            .iter()
            .filter(|(id, _)| seen.insert(id.as_str()))
            .map(|(id, hint)| (id.as_str(), *hint))
            .collect()
    }

    /// Only groups have members: a non-empty change to a user is refused.
    pub fn check_kind(&self, kind: ResourceKind) -> Result<(), StoreError> {
        if kind == ResourceKind::User && !self.is_empty() {
            return Err(StoreError::Invalid("users have no members".into()));
        }
        Ok(())
    }
}

/// The error for an added member id that names nothing in the tenant.
pub fn unknown_member(id: &str) -> StoreError {
    StoreError::InvalidMember(format!(
        "member '{id}' does not exist; {}",
        scim_proto::hint::UNKNOWN_MEMBER
    ))
}

/// Checks an added member's kind, as the store found it, against the `type` the client gave.
pub fn check_member_kind(
    id: &str,
    kind: ResourceKind,
    given: Option<ResourceKind>,
) -> Result<(), StoreError> {
    match given {
        Some(given) if given != kind => Err(StoreError::InvalidMember(format!(
            "member '{id}' is a {}, not a {}",
            kind.name(),
            given.name()
        ))),
        _ => Ok(()),
    }
}

/// A resource as stored, with the server-maintained metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub id: String,
    pub kind: ResourceKind,
    /// Incremented by every committed change; `meta.version` is `W/"<version>"`.
    pub version: u64,
    /// RFC 3339 timestamps.
    pub created: String,
    pub last_modified: String,
    /// Canonical attributes (see `scim_proto`), without `id`, `meta`, `schemas`, `members`, `groups`.
    pub attrs: Map<String, Value>,
    /// Group members, when asked for with [`Include::members`].
    pub members: Option<Vec<Member>>,
    /// For users: the groups the user belongs to directly, as `(group id, group displayName)`,
    /// when asked for with [`Include::groups`].
    pub groups: Option<Vec<(String, String)>>,
}

impl StoredResource {
    /// What a sort key ([`SortBy::key`]) may take from the resource besides its attributes.
    pub fn meta(&self) -> Meta<'_> {
        Meta {
            id: &self.id,
            created: &self.created,
            last_modified: &self.last_modified,
        }
    }
}

/// Which derived, possibly large, parts of a resource to load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Include {
    pub members: bool,
    pub groups: bool,
    /// The most group members a read may return inline: one group for [`ResourceStore::get`], all the
    /// groups of a page together for [`ResourceStore::query`]. Beyond it the read fails with
    /// [`StoreError::TooManyMembers`] instead of returning a shortened list (a truncated member
    /// list makes IdPs remove members elsewhere). `None`: no limit.
    pub member_limit: Option<u64>,
}

impl Include {
    pub const ALL: Include = Include {
        members: true,
        groups: true,
        member_limit: None,
    };
    pub const NONE: Include = Include {
        members: false,
        groups: false,
        member_limit: None,
    };
}

/// How a list request pages (RFC 7644 §3.4.2.4 index paging, RFC 9865 cursor paging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// 1-based `startIndex`. The page's `total_results` is always given.
    Index { start_index: u64 },
    /// Continue after a position returned in [`Page::next`] (`None`: the first page). The store's
    /// positions are opaque to callers; the service signs them before handing them to clients.
    Cursor { after: Option<String> },
}

/// A list request after protocol parsing.
#[derive(Debug, Clone)]
pub struct Query {
    /// Already validated against the resource type.
    pub filter: Option<Filter>,
    pub paging: Paging,
    /// Page size; 0 asks only for `totalResults`.
    pub count: u64,
    pub include: Include,
    /// RFC 7644 §3.4.2.3 `sortBy`/`sortOrder`, resolved; `None` lists in id order.
    pub sort: Option<SortBy>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub resources: Vec<StoredResource>,
    /// Always `Some` for [`Paging::Index`]. For [`Paging::Cursor`] a store may answer `None` when
    /// the total would cost more than the page (a filter evaluated item by item).
    pub total_results: Option<u64>,
    /// With [`Paging::Cursor`]: where the next page starts, if more may follow. A page may hold
    /// fewer resources than asked (even none) and still have a `next`: the store bounds the work
    /// of one request.
    pub next: Option<String>,
}

/// One page of a list already read into memory: `keyed` holds each resource with its key (its
/// [`SortBy::key`], or its id when unsorted), in any order. Answers the page, the total, and
/// for cursor paging the key to continue after (the page's last, when more follow). The paging
/// rule both stores share when they sort in memory.
pub fn page_in_memory<T>(
    mut keyed: Vec<(String, T)>,
    sort: Option<&SortBy>,
    paging: &Paging,
    count: u64,
) -> (Vec<T>, u64, Option<String>) {
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    if sort.is_some_and(SortBy::descending) {
        keyed.reverse();
    }
    let total = keyed.len() as u64;
    let take = usize::try_from(count).unwrap_or(usize::MAX);
    match paging {
        Paging::Index { start_index } => {
            // RFC 7644 §3.4.2.4: a startIndex below 1 is taken as 1.
            let skip = usize::try_from(start_index.max(&1) - 1).unwrap_or(usize::MAX);
            let page = keyed.into_iter().skip(skip).take(take).map(|(_, t)| t).collect();
            (page, total, None)
        }
        Paging::Cursor { after } => {
            // The position is the last key a page held: keys are unique and ordered, so this
            // page starts after it whatever was created or deleted meanwhile.
            let follows = |key: &str| match (after, sort) {
                (None, _) => true,
                (Some(a), Some(s)) => s.after(key, a),
                (Some(a), None) => key > a.as_str(),
            };
            let mut rest = keyed.into_iter().filter(|(k, _)| follows(k));
            let page: Vec<(String, T)> = rest.by_ref().take(take).collect();
            let next = rest
                .next()
                .is_some()
                .then(|| page.last().map(|(k, _)| k.clone()))
                .flatten();
            (page.into_iter().map(|(_, t)| t).collect(), total, next)
        }
    }
}

/// Users, groups and memberships.
///
/// Contract (checked by `contract`, feature `contract`): attributes with `uniqueness: server`
/// or `global` in the schema (`userName`) are unique per tenant, compared case-insensitively
/// unless `caseExact`; every committed write increments the version by one and honours
/// [`Expect`]; an update with the same attributes and an empty member change is not written
/// (version unchanged); member changes are idempotent, atomic with the attribute change, and
/// reject unknown ids, ids of other tenants, group cycles and group members of a group nested
/// beyond [`crate::nesting`]'s bound; deleting a resource removes every
/// membership it takes part in; list order is stable (by id, or by [`Query::sort`]'s key and then id),
/// for index and cursor paging alike;
/// member lists beyond [`Include::member_limit`] are refused, never shortened.
#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// Creates a resource with a server-assigned id, version 1, and (groups) initial members.
    async fn create(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        attrs: Map<String, Value>,
        members: MemberChange,
    ) -> Result<StoredResource, StoreError>;

    /// Reads one resource, or `NotFound`.
    async fn get(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        include: Include,
    ) -> Result<StoredResource, StoreError>;

    /// Replaces a resource's attributes and applies a member change, as one atomic write
    /// conditional on `expect` (a member delta under [`Expect::Based`] applies on top of member
    /// changes made since). Returns the new state (members and groups not loaded): with a delta
    /// applied on top of others, the state after the write, which may hold theirs too.
    async fn update(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
        attrs: Map<String, Value>,
        members: MemberChange,
    ) -> Result<StoredResource, StoreError>;

    /// Deletes a resource and every membership it takes part in, conditional on `expect`.
    async fn delete(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError>;

    /// Lists resources matching a filter, in stable id order. A cursor page continues strictly
    /// after the position it was given, so resources created or deleted meanwhile never make a
    /// client see one resource twice.
    async fn query(&self, tenant: &TenantId, kind: ResourceKind, query: &Query) -> Result<Page, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_adds_keep_the_first_mention_of_each_id() {
        let mut change = MemberChange::default();
        for i in 0..16_000 {
            change.add.push((format!("m{}", i % 8_000), None));
        }
        change.add.insert(0, ("m5".into(), Some(ResourceKind::Group)));
        let adds = change.distinct_adds();
        assert_eq!(adds.len(), 8_000);
        assert_eq!(adds[0], ("m5", Some(ResourceKind::Group)));
        assert_eq!(adds[1], ("m0", None));
    }
}
