//! The SCIM 2.0 HTTP service. One axum [`Router`] serves every request, whether it arrives
//! through AWS Lambda (`lambda_http`) or a local listener: there is exactly one request path.
//!
//! **Security boundary:** [`boundary::guard`] wraps every route, including the fallbacks;
//! handlers receive the caller's tenant as a typed [`auth::Tenant`] and pass it to the store.

pub mod admin;
pub mod auth;
pub mod boundary;
pub mod bulk;
pub mod capabilities;
pub mod config;
pub mod console;
pub mod cursor;
pub mod error;
pub mod events;
pub mod extract;
pub mod handlers;
pub mod lambda;
pub mod limits;
pub mod log_query;
pub mod origin;
pub mod provisioning_log;
pub mod search;
pub mod secrets;
pub mod service;
pub mod shape;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod watch;

pub use capabilities::capabilities;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use handlers::{Groups, Users};
use state::AppState;
use std::sync::Arc;

/// Where the SCIM API lives under the host.
pub const BASE_PATH: &str = "/scim/v2";

/// The routes of one resource type under `base` (`/scim/v2/Users`). Every route is registered
/// with its full path rather than nested: a nested router rewrites the URI of each request it
/// passes on, once per level.
fn resource_routes<K: handlers::Kind>(router: Router<AppState>, base: &str) -> Router<AppState> {
    router
        .route(base, get(handlers::list::<K>).post(handlers::create::<K>))
        .route(&format!("{base}/.search"), post(handlers::search::<K>))
        .route(
            &format!("{base}/{{id}}"),
            get(handlers::get_one::<K>)
                .put(handlers::replace::<K>)
                .patch(handlers::patch::<K>)
                .delete(handlers::delete::<K>),
        )
}

/// The whole service.
pub fn router(state: AppState) -> Router {
    let telemetry = Arc::new(telemetry::Telemetry {
        emf: config::in_lambda(),
        log: state.log.clone(),
    });
    let boundary = Arc::new(boundary::Boundary {
        origin: state.origin.clone(),
        tokens: state.tokens.clone(),
        limits: Arc::new(limits::TenantLimits::new(state.config.tenant_rates)),
    });
    let api = resource_routes::<Users>(Router::new(), &format!("{BASE_PATH}/Users"));
    let scim = resource_routes::<Groups>(api, &format!("{BASE_PATH}/Groups"))
        .route(&format!("{BASE_PATH}/.search"), post(handlers::search_all))
        .route(&format!("{BASE_PATH}/Bulk"), post(handlers::bulk))
        .route(
            &format!("{BASE_PATH}/ServiceProviderConfig"),
            get(handlers::service_provider_config),
        )
        .route(
            &format!("{BASE_PATH}/ResourceTypes"),
            get(handlers::resource_types),
        )
        .route(
            &format!("{BASE_PATH}/ResourceTypes/{{id}}"),
            get(handlers::resource_type),
        )
        .route(&format!("{BASE_PATH}/Schemas"), get(handlers::schemas))
        .route(&format!("{BASE_PATH}/Schemas/{{id}}"), get(handlers::schema))
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .fallback(handlers::not_found)
        .layer(middleware::from_fn_with_state(boundary, boundary::guard))
        .with_state(state.clone());
    let surface = state.config.surface;
    let mut app = match surface.scim() {
        true => scim,
        false => Router::new(),
    };
    if surface.console() {
        app = app.merge(console::routes(state.clone()));
    }
    // The admin API has no sign-in: it exists only on the local listener (admin.rs).
    if state.config.admin_api {
        app = app.merge(admin::routes(state));
    }
    app.layer(middleware::from_fn_with_state(telemetry, telemetry::log_request))
}

/// Serves the Router on a local listener until `shutdown` completes. Each request knows its
/// peer's address (`ConnectInfo`), for the request log.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
