//! What the HTTP function does before it serves anything: under Lambda, its init phase.
//!
//! One AWS configuration ([`scim_aws::Aws`]) and so one HTTP client for every SDK client, the
//! store, the token registry read into the [`TokenCache`], and the rotated secrets read. Those
//! reads leave pooled connections behind: to Secrets Manager (the registry, the secrets) and to
//! DynamoDB (the registry's generation marker, read through the same HTTP client as the store's),
//! so the first request makes no TLS handshake and reads no registry (infra/README.md "Ready at
//! init").
//!
//! The schema registry comes first: the built-in schemas and the operator's extensions
//! (`SCIM_SCHEMA_EXTENSIONS`). A registry or secret that cannot be read, or an extensions file
//! refused, is an error here, and the process exits with it
//! logged: the service never serves without a way to judge tokens, and Lambda reports the failed
//! init (`Runtime.ExitError`) and tries the init again with the next request.

use crate::config::{Config, StoreChoice};
use crate::console::signin::{LocalLogin, OidcLogin};
use crate::console::Console;
use crate::state::AppState;
use scim_auth::{
    update, IssuedToken, NewToken, RegistryError, RegistryLocation, StaticToken, TokenCache, TokenRegistry,
};
use scim_aws::Aws;
use scim_dynamodb::{open_token_registry, DynamoStore};
use scim_proto::SchemaRegistry;
use scim_store::{Store, TenantId};
use std::sync::Arc;

/// The state the HTTP function serves with, and the token made by a first local start.
#[derive(Debug)]
pub struct Started {
    pub state: AppState,
    /// Issued when a local file registry was empty: shown once, by the caller.
    pub first_token: Option<IssuedToken>,
}

/// Builds everything the HTTP function needs from `config` (`lambda`: under AWS Lambda), with
/// every AWS client on `aws`.
pub async fn start(config: Config, lambda: bool, aws: &Aws) -> Result<Started, String> {
    let registry = Arc::new(schema_registry(&config)?);
    let store: Arc<dyn Store> = match config.store {
        StoreChoice::Memory => Arc::new(crate::events::memory_store(registry.clone(), &config)?),
        StoreChoice::DynamoDb => {
            // Config::from_env guarantees the table name for this store.
            let table = config
                .table
                .clone()
                .ok_or("SCIM_TABLE: required with SCIM_STORE=dynamodb")?;
            Arc::new(DynamoStore::from_aws(aws, table, registry.clone()).await)
        }
    };
    let default_tenant = TenantId::new("default").map_err(|e| e.to_string())?;
    let token_registry = open_token_registry(&config.token_registry, config.table.as_deref(), aws).await;
    let statics = match &config.bootstrap_token {
        Some(token) => {
            // Config refuses it under Lambda; locally it stays, for scripts and tests, but loudly.
            tracing::warn!(
                "SCIM_BOOTSTRAP_TOKEN is set: it is accepted for tenant 'default', never expires, \
                 cannot be revoked and is not listed; for local use only"
            );
            vec![StaticToken::new("bootstrap", token, default_tenant)]
        }
        None => Vec::new(),
    };
    let local_file = matches!(config.token_registry, RegistryLocation::File(_)) && !lambda;
    let first_token = if local_file && config.bootstrap_token.is_none() {
        first_local_token(token_registry.as_ref())
            .await
            .map_err(|e| format!("{}: {e}", config.token_registry))?
    } else {
        None
    };
    let console = console(&config, token_registry.clone())?;
    let tokens = TokenCache::load(token_registry, config.token_cache, statics)
        .await
        .map_err(|e| format!("{}: {e}", config.token_registry))?
        .with_failure_hook(crate::auth::registry_failure_hook(lambda));
    let state = AppState::new(config, registry, store, Arc::new(tokens), console, aws).await?;
    Ok(Started { state, first_token })
}

/// The console's sign-in as `config` says, writing the token registry the service reads.
pub fn console(config: &Config, registry: Arc<dyn TokenRegistry>) -> Result<Console, String> {
    let settings = &config.console;
    let local_login = match settings.local_login && config.surface.console() {
        true => Some(LocalLogin::new()?),
        false => None,
    };
    let oidc = settings.oidc.as_ref().map(|o| {
        OidcLogin::new(
            o.provider.clone(),
            o.operator_group.clone(),
            o.tenant_group_prefix.clone(),
            o.logout_url.clone(),
        )
    });
    Ok(Console {
        registry,
        local_login,
        oidc,
        expiry_warning_days: settings.expiry_warning_days,
    })
}

/// The built-in schemas with the extensions of `SCIM_SCHEMA_EXTENSIONS`, if set. A file that
/// cannot be read or is refused stops the start, with the file and the problem named.
pub fn schema_registry(config: &Config) -> Result<SchemaRegistry, String> {
    let Some(path) = &config.schema_extensions else {
        return Ok(SchemaRegistry::standard());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("SCIM_SCHEMA_EXTENSIONS: cannot read {}: {e}", path.display()))?;
    SchemaRegistry::with_extension_file(&path.display().to_string(), &text)
        .map_err(|e| format!("SCIM_SCHEMA_EXTENSIONS: {e}"))
}

/// The first local start gets a token for tenant `default`, so `make run` works out of the box. It
/// is created only while the registry is empty, so a restart does not issue (or print) another.
async fn first_local_token(registry: &dyn TokenRegistry) -> Result<Option<IssuedToken>, RegistryError> {
    if !registry.load().await?.document.tokens.is_empty() {
        return Ok(None);
    }
    let now = time::OffsetDateTime::now_utc();
    let request = NewToken {
        name: "local development (created by the first start)".into(),
        tenant: "default".into(),
        expires: now + time::Duration::days(90),
    };
    update(registry, |doc| {
        // Another process may have written the first token in the meantime.
        if doc.tokens.is_empty() {
            doc.create(&request, now).map(Some)
        } else {
            Ok(None)
        }
    })
    .await
}
