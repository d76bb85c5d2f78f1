//! Thin HTTP handlers: extract typed inputs, call one [`Service`] operation, shape the response.

use crate::auth::Tenant;
use crate::capabilities::capabilities;
use crate::cursor::Binding;
use crate::error::{scim_json, ApiError, ApiResult};
use crate::extract::{BaseUrl, Preconditions, QueryPairs, ScimBody};
use crate::service::{list_limits, Service, Shown};
use crate::shape::ResponseShape;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use scim_proto::discovery;
use scim_proto::list::{list_response, ListQuery};
use scim_proto::{etag, ScimError};
use scim_store::{Paging, ResourceKind};
use serde_json::Value;

/// Selects the resource type of a generic handler at compile time (`list::<Users>`).
pub trait Kind: Send + Sync + 'static {
    const KIND: ResourceKind;
}

/// `/Users`
#[derive(Debug)]
pub struct Users;
/// `/Groups`
#[derive(Debug)]
pub struct Groups;

impl Kind for Users {
    const KIND: ResourceKind = ResourceKind::User;
}
impl Kind for Groups {
    const KIND: ResourceKind = ResourceKind::Group;
}

/// The `{id}` path segment; a malformed one is a SCIM 404 like any unknown id.
#[derive(Debug)]
pub struct ResourceId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ResourceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| ResourceId(id))
            .map_err(|_| ScimError::not_found("no resource at this path").into())
    }
}

fn service<'a, K: Kind>(state: &'a AppState, tenant: &'a Tenant, base: &'a BaseUrl) -> Service<'a> {
    Service {
        state,
        tenant: &tenant.id,
        kind: K::KIND,
        base_url: &base.0,
    }
}

/// A single-resource response with `ETag` (RFC 7644 §3.14) and, on 201, `Location` equal to
/// `meta.location` (RFC 7644 §3.3). Without a body (a group PATCH) the status alone.
fn resource_response(status: StatusCode, svc: &Service<'_>, shown: Shown) -> Response {
    let mut response = match &shown.body {
        Some(body) => (status, scim_json(body)).into_response(),
        None => status.into_response(),
    };
    let headers = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&etag::weak_etag(shown.version)) {
        headers.insert(header::ETAG, tag);
    }
    if status == StatusCode::CREATED {
        if let Ok(location) = HeaderValue::from_str(&svc.location(svc.kind, &shown.id)) {
            headers.insert(header::LOCATION, location);
        }
    }
    response
}

fn query_of(state: &AppState, pairs: &QueryPairs) -> ApiResult<ListQuery> {
    Ok(ListQuery::from_query_pairs(&pairs.0, &list_limits(state))?)
}

/// `POST /.search` spans two resource types and pages by index only.
fn reject_cursor(query: &ListQuery) -> ApiResult<()> {
    if query.is_cursor_paging() {
        return Err(ScimError::invalid_value(
            "cursor pagination is offered on /Users and /Groups; /.search pages with startIndex and count",
        )
        .into());
    }
    Ok(())
}

/// A ListResponse; `totalResults` is left out when a cursor page does not know it (a filter
/// evaluated item by item that stopped at the work bound).
fn list_body(
    resources: Vec<Value>,
    total: Option<u64>,
    start_index: Option<u64>,
    next_cursor: Option<String>,
) -> Value {
    let mut body = list_response(resources, total.unwrap_or(0), start_index, next_cursor, None);
    if let (None, Some(obj)) = (total, body.as_object_mut()) {
        obj.remove("totalResults");
    }
    body
}

/// `GET /Users` (RFC 7644 §3.4.2).
pub async fn list<K: Kind>(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    pairs: QueryPairs,
) -> ApiResult<Response> {
    let query = query_of(&state, &pairs)?;
    list_kind::<K>(&state, &tenant, &base, &query).await
}

/// `POST /Users/.search` (RFC 7644 §3.4.3).
pub async fn search<K: Kind>(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    ScimBody(body): ScimBody,
) -> ApiResult<Response> {
    let query = ListQuery::from_search_request(&body, &list_limits(&state))?;
    list_kind::<K>(&state, &tenant, &base, &query).await
}

async fn list_kind<K: Kind>(
    state: &AppState,
    tenant: &Tenant,
    base: &BaseUrl,
    query: &ListQuery,
) -> ApiResult<Response> {
    let svc = service::<K>(state, tenant, base);
    let count = query.page_size(&list_limits(state));
    let Some(cursor) = &query.cursor else {
        let paging = Paging::Index {
            start_index: query.start_index,
        };
        let (resources, total, _) = svc.list_page(query, paging, count).await?;
        return Ok(scim_json(&list_body(
            resources,
            total,
            Some(query.start_index),
            None,
        )));
    };
    // RFC 9865: the cursor is the store's position, signed and bound to this tenant and query.
    let binding = Binding {
        tenant: &tenant.id,
        kind: K::KIND,
        query,
    };
    let key = &state.config.cursor_key;
    let after = binding.open(key, cursor)?;
    let (resources, total, next) = svc.list_page(query, Paging::Cursor { after }, count).await?;
    let next_cursor = next.and_then(|position| binding.sign(key, &position));
    Ok(scim_json(&list_body(resources, total, None, next_cursor)))
}

/// `POST /.search` (RFC 7644 §3.4.3): users, then groups, paged as one list. A filter that names
/// an attribute one type lacks simply matches none of that type.
pub async fn search_all(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    ScimBody(body): ScimBody,
) -> ApiResult<Response> {
    let query = ListQuery::from_search_request(&body, &list_limits(&state))?;
    reject_cursor(&query)?;
    let count = query.page_size(&list_limits(&state));
    let users = service::<Users>(&state, &tenant, &base);
    let groups = service::<Groups>(&state, &tenant, &base);
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
    let (mut resources, users_total) = if applies(&users) {
        let (r, total, _) = users.list_page(&query, index(query.start_index), count).await?;
        (r, total.unwrap_or(0))
    } else {
        (vec![], 0)
    };
    let remaining = count.saturating_sub(resources.len() as u64);
    let group_start = query.start_index.saturating_sub(users_total).max(1);
    let (group_page, groups_total) = if applies(&groups) {
        let (r, total, _) = groups.list_page(&query, index(group_start), remaining).await?;
        (r, total.unwrap_or(0))
    } else {
        (vec![], 0)
    };
    resources.extend(group_page);
    Ok(scim_json(&list_response(
        resources,
        users_total + groups_total,
        Some(query.start_index),
        None,
        None,
    )))
}

/// `POST /Users` (RFC 7644 §3.3): 201 with the resource and `Location`.
pub async fn create<K: Kind>(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    pairs: QueryPairs,
    ScimBody(body): ScimBody,
) -> ApiResult<Response> {
    let svc = service::<K>(&state, &tenant, &base);
    let shape = ResponseShape::new(&state, K::KIND, &query_of(&state, &pairs)?)?;
    let created = svc.create(&body, &shape).await?;
    Ok(resource_response(StatusCode::CREATED, &svc, created))
}

/// `GET /Users/{id}` (RFC 7644 §3.4.1), 304 when `If-None-Match` names the current version.
pub async fn get_one<K: Kind>(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    ResourceId(id): ResourceId,
    pairs: QueryPairs,
    pre: Preconditions,
) -> ApiResult<Response> {
    let svc = service::<K>(&state, &tenant, &base);
    let shape = ResponseShape::new(&state, K::KIND, &query_of(&state, &pairs)?)?;
    match svc.get(&id, pre.if_none_match.as_deref(), &shape).await? {
        Some(shown) => Ok(resource_response(StatusCode::OK, &svc, shown)),
        None => Ok(StatusCode::NOT_MODIFIED.into_response()),
    }
}

/// `PUT /Users/{id}` (RFC 7644 §3.5.1).
pub async fn replace<K: Kind>(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    ResourceId(id): ResourceId,
    pairs: QueryPairs,
    pre: Preconditions,
    ScimBody(body): ScimBody,
) -> ApiResult<Response> {
    let svc = service::<K>(&state, &tenant, &base);
    let shape = ResponseShape::new(&state, K::KIND, &query_of(&state, &pairs)?)?;
    let replaced = svc.replace(&id, &body, pre.if_match.as_deref(), &shape).await?;
    Ok(resource_response(StatusCode::OK, &svc, replaced))
}

/// `PATCH /Users/{id}` (RFC 7644 §3.5.2): 200 with the resource. A group PATCH answers 204 unless
/// the client asks for attributes: the response would otherwise carry the whole member list,
/// which for a large group is costly, and a client that misreads a shortened list can remove
/// members elsewhere. RFC 7644 §3.5.2 allows either answer.
pub async fn patch<K: Kind>(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    ResourceId(id): ResourceId,
    pairs: QueryPairs,
    pre: Preconditions,
    ScimBody(body): ScimBody,
) -> ApiResult<Response> {
    let svc = service::<K>(&state, &tenant, &base);
    let query = query_of(&state, &pairs)?;
    let wants_body = K::KIND == ResourceKind::User
        || !query.attributes.is_empty()
        || !query.excluded_attributes.is_empty();
    let shape = wants_body
        .then(|| ResponseShape::new(&state, K::KIND, &query))
        .transpose()?;
    let patched = svc
        .patch(&id, &body, pre.if_match.as_deref(), shape.as_ref())
        .await?;
    let status = if shape.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    };
    Ok(resource_response(status, &svc, patched))
}

/// `DELETE /Users/{id}` (RFC 7644 §3.6): 204.
pub async fn delete<K: Kind>(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    ResourceId(id): ResourceId,
    pre: Preconditions,
) -> ApiResult<StatusCode> {
    service::<K>(&state, &tenant, &base)
        .delete(&id, pre.if_match.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /ServiceProviderConfig` (RFC 7644 §4, RFC 7643 §5).
pub async fn service_provider_config(State(state): State<AppState>, _: Tenant, base: BaseUrl) -> Response {
    scim_json(&discovery::service_provider_config(
        &capabilities(&state.config),
        &base.0,
    ))
}

/// `GET /ResourceTypes` (RFC 7644 §4).
pub async fn resource_types(State(state): State<AppState>, _: Tenant, base: BaseUrl) -> Response {
    scim_json(&discovery::resource_types_list(&state.registry, &base.0))
}

/// `GET /ResourceTypes/{name}`.
pub async fn resource_type(
    State(state): State<AppState>,
    _: Tenant,
    base: BaseUrl,
    ResourceId(name): ResourceId,
) -> ApiResult<Response> {
    Ok(scim_json(&discovery::resource_type_resource(
        &state.registry,
        &name,
        &base.0,
    )?))
}

/// `GET /Schemas` (RFC 7644 §4).
pub async fn schemas(State(state): State<AppState>, _: Tenant, base: BaseUrl) -> Response {
    scim_json(&discovery::schemas_list(&state.registry, &base.0))
}

/// `GET /Schemas/{urn}`.
pub async fn schema(
    State(state): State<AppState>,
    _: Tenant,
    base: BaseUrl,
    ResourceId(urn): ResourceId,
) -> ApiResult<Response> {
    Ok(scim_json(&discovery::schema_resource(
        &state.registry,
        &urn,
        &base.0,
    )?))
}

/// Any other path: a SCIM 404.
pub async fn not_found(_: Tenant) -> ApiError {
    ScimError::not_found("no SCIM endpoint at this path").into()
}

/// A known path with a method it does not support: a SCIM 405.
pub async fn method_not_allowed() -> ApiError {
    ScimError::new(405, None, "this endpoint does not support the request method").into()
}
