//! The operators' JSON API, under `/admin/api`: what `scimctl log --server` reads from a local
//! server. (The console's pages read the store themselves, behind their sign-in.)
//!
//! **Security boundary:** an IdP's SCIM token grants nothing here, and these routes have no
//! sign-in: they are mounted only on the local listener (never under Lambda, see
//! [`crate::router`]) and answer only loopback peers: anything else gets the same 404 as a path
//! that does not exist.
//!
//! - `GET /admin/api/tenants/{tenant}/log?since=&until=&errors=true&resource=&token=&limit=&after=`
//!   → `{"records": [...], "next": "<cursor>" | null}`, newest first (`since`/`until`: RFC 3339;
//!   `resource`: an id, a `userName` or a group's `displayName`; `after`: a previous `next`;
//!   read by [`crate::log_query::parse`], as the console's log page reads its filters).
//! - `GET /admin/api/tenants/{tenant}/token-uses` → `{"token_uses": [...]}`.

use crate::error::{scim_json, ApiError, ApiResult};
use crate::extract::QueryPairs;
use crate::state::AppState;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use scim_proto::{ScimError, ScimType};
use scim_store::TenantId;
use serde_json::json;
use std::net::SocketAddr;

/// Where the admin API lives.
pub const ADMIN_PATH: &str = "/admin/api";
/// Records a log page holds unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 50;

/// The admin routes, refusing every peer that is not on this machine.
pub fn routes(state: AppState) -> axum::Router {
    let api = Router::new()
        .route("/tenants/{tenant}/log", get(log))
        .route("/tenants/{tenant}/token-uses", get(token_uses));
    Router::new()
        .nest(ADMIN_PATH, api)
        .layer(middleware::from_fn(loopback_only))
        .with_state(state)
}

async fn loopback_only(request: Request, next: Next) -> Response {
    let local = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| peer.ip().is_loopback());
    if !local {
        return ApiError::from(ScimError::not_found("no SCIM endpoint at this path")).into_response();
    }
    next.run(request).await
}

fn invalid(detail: String) -> ApiError {
    ScimError::bad_request(ScimType::InvalidValue, detail).into()
}

fn tenant_of(name: &str) -> ApiResult<TenantId> {
    TenantId::new(name).map_err(|e| invalid(e.to_string()))
}

async fn log(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    pairs: QueryPairs,
) -> ApiResult<Response> {
    let tenant = tenant_of(&tenant)?;
    let query = crate::log_query::parse(&state, &tenant, &pairs.0, DEFAULT_LIMIT).await?;
    let page = state.store.read_log(&tenant, &query).await?;
    Ok(scim_json(&json!({
        "records": page.records,
        "next": page.next.map(|c| c.encode()),
    })))
}

async fn token_uses(State(state): State<AppState>, Path(tenant): Path<String>) -> ApiResult<Response> {
    let tenant = tenant_of(&tenant)?;
    let uses = state.store.token_uses(&tenant).await?;
    Ok(scim_json(&json!({ "token_uses": uses })))
}
