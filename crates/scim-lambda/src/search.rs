//! Listing and searching (RFC 7644 §3.4.2, §3.4.3): one resource type's pages, by index
//! (§3.4.2.4) or by cursor (RFC 9865), and `POST /.search` at the root, which pages users and
//! then groups as one list. Nothing here knows HTTP.

use crate::cursor::Binding;
use crate::error::ApiResult;
use crate::service::Service;
use crate::shape::ResponseShape;
use crate::state::AppState;
use scim_proto::list::ListQuery;
use scim_proto::sort::{missing_key, SortBy};
use scim_proto::ScimError;
use scim_store::{page_in_memory, Paging, Query, ResourceKind, TenantId};
use serde_json::Value;

/// One page of a ListResponse (RFC 7644 §3.4.2), its resources rendered and projected.
#[derive(Debug)]
pub struct ListPage {
    pub resources: Vec<Value>,
    /// `None` when a cursor page does not know it (a filter evaluated item by item that stopped
    /// at the work bound).
    pub total: Option<u64>,
    /// Index paging: the 1-based index of the first resource (RFC 7644 §3.4.2.4).
    pub start_index: Option<u64>,
    /// Cursor paging: the cursor of the next page (RFC 9865); `None` on the last.
    pub next_cursor: Option<String>,
}

/// A page's resources, the total when known, the store's position after the page, and (when
/// asked for) each resource's key in the order.
type Page = (Vec<Value>, Option<u64>, Option<String>, Vec<String>);

impl Service<'_> {
    /// `GET /Users` and `POST /Users/.search`: one page, by index unless the query asks for a
    /// cursor.
    pub async fn list(&self, query: &ListQuery) -> ApiResult<ListPage> {
        let count = query.page_size(&self.list_limits());
        let sort = self.sort(query)?;
        let Some(cursor) = &query.cursor else {
            let paging = Paging::Index {
                start_index: query.start_index,
            };
            let (resources, total, ..) = self.page(query, sort, paging, count, false).await?;
            return Ok(ListPage {
                resources,
                total,
                start_index: Some(query.start_index),
                next_cursor: None,
            });
        };
        // RFC 9865: the cursor is the store's position, signed and bound to this tenant and query.
        let binding = Binding {
            tenant: self.tenant,
            kind: self.kind,
            query,
        };
        let keys = self.state.cursor_keys.get().await;
        let after = binding.open(&keys, cursor)?;
        let (resources, total, next, _) = self
            .page(query, sort, Paging::Cursor { after }, count, false)
            .await?;
        Ok(ListPage {
            resources,
            total,
            start_index: None,
            next_cursor: next.and_then(|position| binding.sign(&keys, &position)),
        })
    }

    /// One page of this type's resources matching the query, in `sort`'s order (or by id),
    /// rendered and projected; with `keyed`, each resource's key in that order too
    /// ([`missing_key`] for every one when unsorted). The filter is checked against this type's
    /// schema before the response shape is compiled, so a request wrong in both reports its
    /// filter.
    async fn page(
        &self,
        query: &ListQuery,
        sort: Option<SortBy>,
        paging: Paging,
        count: u64,
        keyed: bool,
    ) -> ApiResult<Page> {
        if let Some(filter) = &query.filter {
            filter.validate(&self.schema())?;
        }
        let shape = ResponseShape::new(self.state, self.kind, query)?;
        let store_query = Query {
            filter: query.filter.clone(),
            paging,
            count,
            include: shape.include,
            sort,
        };
        let page = self
            .state
            .store
            .query(self.tenant, self.kind, &store_query)
            .await?;
        let keys = match (keyed, &store_query.sort) {
            (false, _) => Vec::new(),
            (true, Some(sort)) => page
                .resources
                .iter()
                .map(|r| sort.key(&r.attrs, r.meta()))
                .collect(),
            (true, None) => page.resources.iter().map(|r| missing_key(&r.id)).collect(),
        };
        let resources = self.present(page.resources, &shape).await?;
        Ok((resources, page.total_results, page.next, keys))
    }

    /// The query's `sortBy` and `sortOrder` for this type (RFC 7644 §3.4.2.3); `sortOrder`
    /// alone changes nothing, as there is no attribute to order by.
    fn sort(&self, query: &ListQuery) -> ApiResult<Option<SortBy>> {
        Ok(query
            .sort_by
            .as_deref()
            .map(|by| SortBy::resolve(by, query.sort_order, &self.schema()))
            .transpose()?)
    }
}

/// `POST /.search` at the root (RFC 7644 §3.4.3): users, then groups, paged by index as one
/// list (§3.4.2.4). A filter that names an attribute one type lacks simply matches none of that
/// type. Each type's response shape is compiled for its own schema (§3.9).
pub async fn search_all(
    state: &AppState,
    tenant: &TenantId,
    base_url: &str,
    query: &ListQuery,
) -> ApiResult<ListPage> {
    // The two types' stores have no common position to continue from.
    if query.is_cursor_paging() {
        return Err(ScimError::invalid_value(
            "cursor pagination is offered on /Users and /Groups; /.search pages with startIndex and count",
        )
        .into());
    }
    let of_kind = |kind| Service {
        state,
        tenant,
        kind,
        base_url,
    };
    let (users, groups) = (of_kind(ResourceKind::User), of_kind(ResourceKind::Group));
    let count = query.page_size(&users.list_limits());
    let applies = |svc: &Service<'_>| {
        query
            .filter
            .as_ref()
            .is_none_or(|f| f.validate(&svc.schema()).is_ok())
    };
    if let Some(filter) = &query.filter {
        if !applies(&users) && !applies(&groups) {
            // Report the User error: the filter fits neither type.
            filter.validate(&users.schema())?;
        }
    }
    let index = |start_index| Paging::Index { start_index };
    if query.sort_by.is_some() {
        return search_all_sorted(
            query,
            [(&users, applies(&users)), (&groups, applies(&groups))],
            count,
        )
        .await;
    }
    let (mut resources, users_total) = if applies(&users) {
        let (r, total, ..) = users
            .page(query, None, index(query.start_index), count, false)
            .await?;
        (r, total.unwrap_or(0))
    } else {
        (vec![], 0)
    };
    // The groups' part of the page: what the users left of `count`, starting where the
    // requested index falls past the last user (at least the first group).
    let remaining = count.saturating_sub(resources.len() as u64);
    let group_start = query.start_index.saturating_sub(users_total).max(1);
    let (group_page, groups_total) = if applies(&groups) {
        let (r, total, ..) = groups
            .page(query, None, index(group_start), remaining, false)
            .await?;
        (r, total.unwrap_or(0))
    } else {
        (vec![], 0)
    };
    resources.extend(group_page);
    Ok(ListPage {
        resources,
        total: Some(users_total + groups_total),
        start_index: Some(query.start_index),
        next_cursor: None,
    })
}

/// Sorted `POST /.search` at the root: each type's resources up to the end of the requested
/// page, in the order, merged by key (RFC 7644 §3.4.2.3 orders the whole result). A type whose
/// schema lacks the `sortBy` attribute has no value for it: its resources come after every
/// resource with one (ascending), by id.
async fn search_all_sorted(
    query: &ListQuery,
    types: [(&Service<'_>, bool); 2],
    count: u64,
) -> ApiResult<ListPage> {
    let want = query.start_index.max(1) - 1 + count;
    let mut keyed: Vec<(String, Value)> = Vec::new();
    let mut total = 0;
    // The order as the first type that has the attribute resolves it, and the refusal of a type
    // that does not.
    let mut order: Option<SortBy> = None;
    let mut refusal = None;
    for (svc, applies) in types {
        if !applies {
            continue;
        }
        let sort = match svc.sort(query) {
            Ok(sort) => sort,
            Err(e) => {
                refusal.get_or_insert(e);
                None
            }
        };
        if let (None, Some(s)) = (&order, &sort) {
            order = Some(s.clone());
        }
        let (resources, n, _, keys) = svc
            .page(query, sort, Paging::Index { start_index: 1 }, want, true)
            .await?;
        total += n.unwrap_or(0);
        keyed.extend(keys.into_iter().zip(resources));
    }
    let order = match (order, refusal) {
        (Some(order), _) => order,
        // Neither type has the attribute: the request names nothing to sort by.
        (None, Some(e)) => return Err(e),
        (None, None) => return Err(ScimError::invalid_value("sortBy names no attribute to sort by").into()),
    };
    let paging = Paging::Index {
        start_index: query.start_index,
    };
    let (resources, ..) = page_in_memory(keyed, Some(&order), &paging, count);
    Ok(ListPage {
        resources,
        total: Some(total),
        start_index: Some(query.start_index),
        next_cursor: None,
    })
}
