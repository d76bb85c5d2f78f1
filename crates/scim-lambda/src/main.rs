//! `scim-lambda`: under AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set) it serves Lambda events;
//! otherwise it listens on `SCIM_LISTEN`. Both run the same Router. With `SCIM_FUNCTION=events`
//! it is the change-event function instead: DynamoDB stream batches in, EventBridge events out;
//! with `SCIM_FUNCTION=watch`, the scheduled silence watcher (`scim_lambda::watch`).

use scim_auth::{
    update, IssuedToken, NewToken, RegistryError, RegistryLocation, StaticToken, TokenCache, TokenRegistry,
};
use scim_dynamodb::{open_token_registry, DynamoStore};
use scim_lambda::config::{in_lambda, Config, Function, StoreChoice};
use scim_lambda::state::AppState;
use scim_lambda::{serve, BASE_PATH};
use scim_proto::SchemaRegistry;
use scim_store::{Store, TenantId};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

/// mimalloc returns the ~19 MiB argon2id working buffers to the system after each password hash;
/// with glibc's allocator each concurrent hash left its buffer behind, so RSS grew by gigabytes
/// under a burst of user creations (measured with `make bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let lambda = in_lambda();
    init_tracing(lambda);
    match run(lambda).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "scim-lambda stopped");
            eprintln!("scim-lambda: {e}");
            ExitCode::FAILURE
        }
    }
}

/// JSON lines under Lambda (CloudWatch Logs Insights reads them), plain text locally. Colour
/// only on a terminal: escape codes in a file, a pipe or a JSON field are noise to whatever reads it.
fn init_tracing(lambda: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if lambda {
        builder
            .json()
            .with_ansi(false)
            .with_current_span(false)
            .without_time()
            .init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

async fn run(lambda: bool) -> Result<(), String> {
    match Function::from_env()? {
        Function::Events { bus } => return scim_lambda::events::run_stream_function(bus).await,
        Function::Watch {
            table,
            token_registry,
        } => return scim_lambda::watch::run_watch_function(table, token_registry).await,
        Function::Http => {}
    }
    let config = Config::from_env()?;
    let registry = Arc::new(SchemaRegistry::standard());
    let store: Arc<dyn Store> = match config.store {
        StoreChoice::Memory => Arc::new(scim_lambda::events::memory_store(registry.clone(), &config)?),
        StoreChoice::DynamoDb => {
            // Config::from_env guarantees the table name for this store.
            let table = config
                .table
                .clone()
                .ok_or("SCIM_TABLE: required with SCIM_STORE=dynamodb")?;
            Arc::new(DynamoStore::from_env(table, registry.clone()).await)
        }
    };
    let default_tenant = TenantId::new("default").map_err(|e| e.to_string())?;
    let token_registry = open_token_registry(&config.token_registry, config.table.as_deref()).await;
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
    let tokens = TokenCache::load(token_registry, config.token_cache, statics)
        .await
        .map_err(|e| format!("{}: {e}", config.token_registry))?
        .with_failure_hook(scim_lambda::auth::registry_failure_hook(lambda));
    let state = AppState::new(config.clone(), registry, store, Arc::new(tokens)).await?;
    if lambda {
        return scim_lambda::lambda::run(state).await;
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            "; another process listens there: stop it, or choose another address \
                 (SCIM_LISTEN=127.0.0.1:8081 make run)"
        } else {
            ""
        };
        format!("cannot listen on SCIM_LISTEN={}: {e}{hint}", config.listen)
    })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("SCIM base URL: http://{addr}{BASE_PATH}");
    match (first_token, &config.bootstrap_token) {
        (Some(issued), _) => println!(
            "Bearer token (tenant 'default', shown this once; only its hash is kept in {}): {}",
            config.token_registry,
            issued.secret.expose()
        ),
        (None, Some(_)) => println!("Bearer token: the value of SCIM_BOOTSTRAP_TOKEN (tenant 'default')"),
        (None, None) => println!(
            "Bearer tokens: those in {} (list them: scimctl token list; make one: \
             scimctl token create --name NAME --expires 90d)",
            config.token_registry
        ),
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, state, shutdown).await.map_err(|e| e.to_string())
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
