//! Listing and searching (RFC 7644 §3.4.2, §3.4.3): one resource type's pages, by index
//! (§3.4.2.4) or by cursor (RFC 9865), and `POST /.search` at the root, which pages users and
//! then groups as one list. Nothing here knows HTTP.

use crate::cursor::Binding;
use crate::error::ApiResult;
use crate::service::Service;
use crate::shape::ResponseShape;
use crate::state::AppState;
use scim_proto::list::{ListQuery, SortOrder};
use scim_proto::sort::{missing_key, Meta, SortBy};
use scim_proto::ScimError;
use scim_store::{Paging, Query, ResourceKind, TenantId};
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

/// A page's resources, the total when known, the store's position after the page, and (sorted
/// pages) each resource's key in the order.
type Page = (Vec<Value>, Option<u64>, Option<String>, Vec<String>);

impl Service<'_> {
    /// `GET /Users` and `POST /Users/.search`: one page, by index unless the query asks for a
    /// cursor.
    pub async fn list(&self, query: &ListQuery) -> ApiResult<ListPage> {
        let count = query.page_size(&self.list_limits());
        let Some(cursor) = &query.cursor else {
            let paging = Paging::Index {
                start_index: query.start_index,
            };
            let (resources, total, ..) = self.page(query, paging, count).await?;
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
        let (resources, total, next, _) = self.page(query, Paging::Cursor { after }, count).await?;
        Ok(ListPage {
            resources,
            total,
            start_index: None,
            next_cursor: next.and_then(|position| binding.sign(&keys, &position)),
        })
    }

    /// One page of this type's resources matching the query, rendered and projected. The filter
    /// is checked against this type's schema before the response shape is compiled, so a
    /// request wrong in both reports its filter.
    async fn page(&self, query: &ListQuery, paging: Paging, count: u64) -> ApiResult<Page> {
        if let Some(filter) = &query.filter {
            filter.validate(&self.schema())?;
        }
        let sort = self.sort(query)?;
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
        let keys = match &store_query.sort {
            Some(sort) => page
                .resources
                .iter()
                .map(|r| {
                    sort.key(
                        &r.attrs,
                        Meta {
                            id: &r.id,
                            created: &r.created,
                            last_modified: &r.last_modified,
                        },
                    )
                })
                .collect(),
            None => Vec::new(),
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
        let (r, total, ..) = users.page(query, index(query.start_index), count).await?;
        (r, total.unwrap_or(0))
    } else {
        (vec![], 0)
    };
    // The groups' part of the page: what the users left of `count`, starting where the
    // requested index falls past the last user (at least the first group).
    let remaining = count.saturating_sub(resources.len() as u64);
    let group_start = query.start_index.saturating_sub(users_total).max(1);
    let (group_page, groups_total) = if applies(&groups) {
        let (r, total, ..) = groups.page(query, index(group_start), remaining).await?;
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
    let descending = query.sort_order == Some(SortOrder::Descending);
    let mut keyed: Vec<(String, Value)> = Vec::new();
    let mut total = 0;
    let mut resolved_anywhere = None;
    for (svc, applies) in types {
        if !applies {
            continue;
        }
        let resolves = svc.sort(query);
        let mut typed = query.clone();
        if resolves.is_err() {
            typed.sort_by = None;
        }
        let (resources, n, _, keys) = svc.page(&typed, Paging::Index { start_index: 1 }, want).await?;
        total += n.unwrap_or(0);
        match resolves {
            Ok(_) => {
                resolved_anywhere = Some(Ok(()));
                keyed.extend(keys.into_iter().zip(resources));
            }
            Err(e) => {
                resolved_anywhere.get_or_insert(Err(e));
                // Without the attribute: after every value ascending, by id (the page is in id
                // order), as [`SortBy::key`] keys a missing value.
                keyed.extend(resources.into_iter().map(|r| {
                    let id = r
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    (missing_key(&id), r)
                }));
            }
        }
    }
    if let Some(Err(e)) = resolved_anywhere {
        // Neither type has the attribute: the request names nothing to sort by.
        return Err(e);
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    if descending {
        keyed.reverse();
    }
    let skip = usize::try_from(query.start_index.max(1) - 1).unwrap_or(usize::MAX);
    let take = usize::try_from(count).unwrap_or(usize::MAX);
    Ok(ListPage {
        resources: keyed.into_iter().skip(skip).take(take).map(|(_, r)| r).collect(),
        total: Some(total),
        start_index: Some(query.start_index),
        next_cursor: None,
    })
}
