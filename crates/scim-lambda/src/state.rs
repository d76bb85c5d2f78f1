//! Shared state, built once at start-up and handed to every handler (`State<AppState>`).

use crate::config::Config;
use crate::console::Console;
use crate::cursor::CursorKeys;
use crate::origin::OriginSecrets;
use crate::provisioning_log::LogWriter;
use crate::secrets::{Rotating, SecretsClient};
use crate::shape::DefaultShapes;
use scim_auth::TokenCache;
use scim_aws::Aws;
use scim_proto::SchemaRegistry;
use scim_store::Store;
use std::sync::Arc;

/// Cloned for every request (each handler's `State` extractor), so one shared allocation.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every request may use.
#[derive(Debug)]
pub struct Shared {
    pub config: Arc<Config>,
    pub registry: Arc<SchemaRegistry>,
    pub store: Arc<dyn Store>,
    /// The token registry, cached: what [`crate::auth::authenticate`] verifies against.
    pub tokens: Arc<TokenCache>,
    /// The values CloudFront's origin header may carry; `None`: no check.
    pub origin: Option<Arc<Rotating<OriginSecrets>>>,
    /// The keys that sign and open cursors.
    pub cursor_keys: Arc<Rotating<CursorKeys>>,
    /// Writes the provisioning log, after each response.
    pub log: LogWriter,
    /// The response shapes of requests that name no attributes, compiled once.
    pub default_shapes: Arc<DefaultShapes>,
    /// The operators' console: its sign-in and the registry it writes.
    pub console: Arc<Console>,
}

impl AppState {
    /// The state for `config`: reads the rotated secrets it names (from Secrets Manager under
    /// Lambda, through `aws`); an error names the setting.
    pub async fn new(
        config: Config,
        registry: Arc<SchemaRegistry>,
        store: Arc<dyn Store>,
        tokens: Arc<TokenCache>,
        console: Console,
        aws: &Aws,
    ) -> Result<AppState, String> {
        let secrets = SecretsClient::new(aws);
        let origin = match &config.origin_secret {
            Some(source) => Some(Arc::new(
                Rotating::open(source, OriginSecrets::from_pair, config.secrets_refresh, &secrets)
                    .await
                    .map_err(|e| format!("origin secret: {e}"))?,
            )),
            None => None,
        };
        let cursor_keys = Rotating::open(
            &config.cursor_key,
            CursorKeys::from_pair,
            config.secrets_refresh,
            &secrets,
        )
        .await
        .map_err(|e| format!("cursor key: {e}"))?;
        let log = LogWriter::start(store.clone(), crate::config::in_lambda(), config.log_settings_ttl);
        let default_shapes = DefaultShapes::new(&registry, config.max_inline_members)
            .map_err(|e| format!("response shapes: {}", e.detail))?;
        Ok(AppState(Arc::new(Shared {
            default_shapes: Arc::new(default_shapes),
            log,
            config: Arc::new(config),
            registry,
            store,
            tokens,
            origin,
            cursor_keys: Arc::new(cursor_keys),
            console: Arc::new(console),
        })))
    }
}
