//! Shared state, built once at start-up and handed to every handler (`State<AppState>`).

use crate::config::Config;
use scim_auth::TokenCache;
use scim_proto::SchemaRegistry;
use scim_store::Store;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub registry: Arc<SchemaRegistry>,
    pub store: Arc<dyn Store>,
    /// The token registry, cached: what [`crate::auth::require_token`] verifies against.
    pub tokens: Arc<TokenCache>,
}
