//! The SCIM 2.0 HTTP service. One axum [`Router`] serves every request, whether it arrives
//! through AWS Lambda (`lambda_http`) or a local listener: there is exactly one request path.
//!
//! **Security boundary:** [`auth::require_token`] wraps every route, including the fallbacks;
//! handlers receive the caller's tenant as a typed [`auth::Tenant`] and pass it to the store.

pub mod admin;
pub mod auth;
pub mod bulk;
pub mod capabilities;
pub mod config;
pub mod cursor;
pub mod error;
pub mod events;
pub mod extract;
pub mod handlers;
pub mod lambda;
pub mod limits;
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

/// Where the SCIM API lives under the host.
pub const BASE_PATH: &str = "/scim/v2";

fn resource_routes<K: handlers::Kind>() -> Router<AppState> {
    Router::new()
        .route("/", get(handlers::list::<K>).post(handlers::create::<K>))
        .route("/.search", post(handlers::search::<K>))
        .route(
            "/{id}",
            get(handlers::get_one::<K>)
                .put(handlers::replace::<K>)
                .patch(handlers::patch::<K>)
                .delete(handlers::delete::<K>),
        )
}

/// The whole service.
pub fn router(state: AppState) -> Router {
    let telemetry = telemetry::Telemetry {
        emf: config::in_lambda(),
        log: state.log.clone(),
    };
    let origin_secret = state.origin.clone();
    let tenant_limits = std::sync::Arc::new(limits::TenantLimits::new(state.config.tenant_rates));
    let api = Router::new()
        .nest("/Users", resource_routes::<Users>())
        .nest("/Groups", resource_routes::<Groups>())
        .route("/.search", post(handlers::search_all))
        .route("/Bulk", post(handlers::bulk))
        .route("/ServiceProviderConfig", get(handlers::service_provider_config))
        .route("/ResourceTypes", get(handlers::resource_types))
        .route("/ResourceTypes/{id}", get(handlers::resource_type))
        .route("/Schemas", get(handlers::schemas))
        .route("/Schemas/{id}", get(handlers::schema))
        .method_not_allowed_fallback(handlers::method_not_allowed);
    let scim = Router::new()
        .nest(BASE_PATH, api)
        .fallback(handlers::not_found)
        // Inside auth: the tenant is known, and a bad token spends no tenant's budget.
        .layer(middleware::from_fn_with_state(
            tenant_limits,
            limits::limit_tenant,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_token))
        // Before auth: a request that did not come through CloudFront learns nothing more.
        .layer(middleware::from_fn_with_state(
            origin_secret,
            origin::require_origin,
        ))
        .with_state(state.clone());
    // The admin API has no sign-in yet: it exists only on the local listener (admin.rs).
    let app = match state.config.admin_api {
        true => scim.merge(admin::routes(state)),
        false => scim,
    };
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
