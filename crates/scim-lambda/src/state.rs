//! Shared state, built once at start-up and handed to every handler (`State<AppState>`).

use crate::auth::TokenVerifier;
use crate::config::Config;
use scim_proto::SchemaRegistry;
use scim_store::Store;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub registry: Arc<SchemaRegistry>,
    pub store: Arc<dyn Store>,
    pub tokens: Arc<TokenVerifier>,
}
