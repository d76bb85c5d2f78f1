//! The security boundary in front of every SCIM route, fallbacks included: one middleware that
//! runs, in this order,
//! 1. the origin check (`origin.rs`): a request that did not come through CloudFront learns
//!    nothing more, not even whether its token is valid;
//! 2. authentication (`auth.rs`): the bearer token becomes the request's [`Tenant`], which
//!    handlers receive as a typed extractor and pass to the store;
//! 3. the tenant's rate limits (`limits.rs`): after authentication, so a bad token spends no
//!    tenant's budget.
//!
//! One layer rather than three: each axum middleware layer clones the service stack beneath
//! it and boxes a future for every request.

use crate::auth::{self, Tenant};
use crate::limits::{self, TenantLimits};
use crate::origin::{self, OriginSecrets};
use crate::secrets::Rotating;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use scim_auth::TokenCache;
use std::sync::Arc;

/// What the boundary checks against (shared: a middleware's state is cloned for every request).
#[derive(Debug)]
pub struct Boundary {
    /// The values CloudFront's origin header may carry; `None`: no check (local runs).
    pub origin: Option<Arc<Rotating<OriginSecrets>>>,
    pub tokens: Arc<TokenCache>,
    pub limits: Arc<TenantLimits>,
}

/// The middleware: a request reaches the router's handlers only through here, with its
/// [`Tenant`] in the request extensions. The tenant is also put on the response, for the
/// request log line written outside this layer.
pub async fn guard(State(boundary): State<Arc<Boundary>>, mut request: Request, next: Next) -> Response {
    if let Err(refused) = origin::check(boundary.origin.as_deref(), &mut request).await {
        return refused;
    }
    let tenant = match auth::authenticate(&boundary.tokens, request.headers()).await {
        Ok(tenant) => tenant,
        Err(refused) => return refused,
    };
    request.extensions_mut().insert(tenant.clone());
    let mut response = limits::within_limits(&boundary.limits, &tenant.id, request, next).await;
    response.extensions_mut().insert::<Tenant>(tenant);
    response
}
