//! The SCIM 2.0 HTTP service. One axum [`Router`] serves every request, whether it arrives
//! through AWS Lambda (`lambda_http`) or a local listener: there is exactly one request path.
//!
//! **Security boundary:** [`auth::require_token`] wraps every route, including the fallbacks;
//! handlers receive the caller's tenant as a typed [`auth::Tenant`] and pass it to the store.

pub mod auth;
pub mod config;
pub mod cursor;
pub mod error;
pub mod events;
pub mod extract;
pub mod handlers;
pub mod lambda;
pub mod origin;
pub mod service;
pub mod state;
pub mod telemetry;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use config::Config;
use handlers::{Groups, Users};
use scim_proto::discovery::{AccessCaps, Capabilities, PaginationCaps, PaginationMethod};
use state::AppState;

/// Where the SCIM API lives under the host.
pub const BASE_PATH: &str = "/scim/v2";

/// What `/ServiceProviderConfig` advertises: exactly what this service does, no more, since IdPs
/// change their behaviour by it (docs/idp-compatibility.md, "Discovery endpoints").
pub fn capabilities(config: &Config) -> Capabilities {
    Capabilities {
        patch: true,
        bulk: None,
        filter_max_results: config.max_page_size,
        change_password: true,
        sort: false,
        etag: true,
        documentation_uri: None,
        max_payload_bytes: Some(config.max_body_bytes as u64),
        pagination: Some(PaginationCaps {
            cursor: true,
            index: true,
            default_method: PaginationMethod::Index,
            default_page_size: config.default_page_size,
            max_page_size: config.max_page_size,
            cursor_timeout: None,
        }),
        // docs/lifecycle.md, "Nested groups": effective membership counts this many levels.
        access: Some(AccessCaps {
            nesting_max_depth: scim_store::MAX_NESTING_DEPTH as u64,
            effective_roles: true,
        }),
    }
}

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
pub fn router(mut state: AppState) -> Router {
    // Every store call of a request is counted for its log line (telemetry::CountingStore).
    state.store = std::sync::Arc::new(telemetry::CountingStore(state.store));
    let telemetry = telemetry::Telemetry {
        emf: config::in_lambda(),
    };
    let origin_secret = state.config.origin_secret.clone();
    let api = Router::new()
        .nest("/Users", resource_routes::<Users>())
        .nest("/Groups", resource_routes::<Groups>())
        .route("/.search", post(handlers::search_all))
        .route("/ServiceProviderConfig", get(handlers::service_provider_config))
        .route("/ResourceTypes", get(handlers::resource_types))
        .route("/ResourceTypes/{id}", get(handlers::resource_type))
        .route("/Schemas", get(handlers::schemas))
        .route("/Schemas/{id}", get(handlers::schema))
        .method_not_allowed_fallback(handlers::method_not_allowed);
    Router::new()
        .nest(BASE_PATH, api)
        .fallback(handlers::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_token))
        // Before auth: a request that did not come through CloudFront learns nothing more.
        .layer(middleware::from_fn_with_state(
            origin_secret,
            origin::require_origin,
        ))
        .layer(middleware::from_fn_with_state(telemetry, telemetry::log_request))
        .with_state(state)
}

/// Serves the Router on a local listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
