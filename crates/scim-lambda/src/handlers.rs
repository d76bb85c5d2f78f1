//! Thin HTTP handlers: extract typed inputs, call one [`Service`] operation, shape the response.

use crate::auth::Tenant;
use crate::bulk::BulkCaller;
use crate::capabilities::capabilities;
use crate::error::{scim_json, ApiError, ApiResult};
use crate::extract::{BaseUrl, BulkBody, Preconditions, QueryPairs, ScimBody};
use crate::search::{self, ListPage};
use crate::service::{list_limits, Service, Shown};
use crate::shape::ResponseShape;
use crate::state::AppState;
use crate::telemetry::RequestOrigin;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use scim_proto::bulk::BulkRequest;
use scim_proto::discovery;
use scim_proto::list::{list_response, ListQuery};
use scim_proto::{etag, ScimError};
use scim_store::ResourceKind;

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

/// A ListResponse (RFC 7644 §3.4.2); `totalResults` is left out when a cursor page does not
/// know it.
fn list_body(page: ListPage) -> Response {
    let mut body = list_response(
        page.resources,
        page.total.unwrap_or(0),
        page.start_index,
        page.next_cursor,
        None,
    );
    if let (None, Some(obj)) = (page.total, body.as_object_mut()) {
        obj.remove("totalResults");
    }
    scim_json(&body)
}

/// `GET /Users` (RFC 7644 §3.4.2).
pub async fn list<K: Kind>(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    pairs: QueryPairs,
) -> ApiResult<Response> {
    let query = query_of(&state, &pairs)?;
    let page = service::<K>(&state, &tenant, &base).list(&query).await?;
    Ok(list_body(page))
}

/// `POST /Users/.search` (RFC 7644 §3.4.3).
pub async fn search<K: Kind>(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    ScimBody(body): ScimBody,
) -> ApiResult<Response> {
    let query = ListQuery::from_search_request(&body, &list_limits(&state))?;
    let page = service::<K>(&state, &tenant, &base).list(&query).await?;
    Ok(list_body(page))
}

/// `POST /.search` (RFC 7644 §3.4.3): every resource type, paged as one list.
pub async fn search_all(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    ScimBody(body): ScimBody,
) -> ApiResult<Response> {
    let query = ListQuery::from_search_request(&body, &list_limits(&state))?;
    let page = search::search_all(&state, &tenant.id, &base.0, &query).await?;
    Ok(list_body(page))
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

/// `POST /Bulk` (RFC 7644 §3.7): 200 with a BulkResponse; over `maxOperations` or
/// `maxPayloadSize`, 413 (§3.7.4).
pub async fn bulk(
    State(state): State<AppState>,
    tenant: Tenant,
    base: BaseUrl,
    origin: RequestOrigin,
    BulkBody(body): BulkBody,
) -> ApiResult<Response> {
    let request = BulkRequest::from_json(&body, state.config.bulk.max_operations)?;
    let caller = BulkCaller {
        state: &state,
        tenant: &tenant,
        base_url: &base.0,
        origin: &origin,
    };
    let (body, ran) = crate::bulk::run(&caller, &request).await;
    let mut response = scim_json(&body);
    // Each operation is a request of its own for the tenant's request bucket (limits.rs).
    response
        .extensions_mut()
        .insert(crate::limits::InnerRequests(ran));
    Ok(response)
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
    ScimError::not_found("no SCIM endpoint at this path")
        .with_hint(scim_proto::hint::BASE_URL)
        .into()
}

/// A known path with a method it does not support: a SCIM 405.
pub async fn method_not_allowed() -> ApiError {
    ScimError::new(405, None, "this endpoint does not support the request method").into()
}
