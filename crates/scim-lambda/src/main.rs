//! `scim-lambda`: under AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set) it serves Lambda events;
//! otherwise it listens on `SCIM_LISTEN`. Both run the same Router.

use scim_dynamodb::DynamoStore;
use scim_lambda::auth::{generate_token, TokenVerifier};
use scim_lambda::config::{in_lambda, Config, StoreChoice};
use scim_lambda::state::AppState;
use scim_lambda::{router, serve, BASE_PATH};
use scim_proto::SchemaRegistry;
use scim_store::{MemoryStore, Store, TenantId};
use std::process::ExitCode;
use std::sync::Arc;

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

/// JSON lines under Lambda (CloudWatch Logs Insights reads them), plain text locally.
fn init_tracing(lambda: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if lambda {
        builder.json().with_current_span(false).without_time().init();
    } else {
        builder.init();
    }
}

async fn run(lambda: bool) -> Result<(), String> {
    let config = Config::from_env()?;
    let registry = Arc::new(SchemaRegistry::standard());
    let store: Arc<dyn Store> = match config.store {
        StoreChoice::Memory => Arc::new(MemoryStore::new(registry.clone())),
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
    let mut tokens = TokenVerifier::default();
    let generated = match (&config.bootstrap_token, lambda) {
        (Some(token), _) => {
            tokens.register("bootstrap", token, default_tenant);
            None
        }
        (None, false) => {
            let token = generate_token().map_err(|e| format!("cannot read the OS random source: {e}"))?;
            tokens.register("dev", &token, default_tenant);
            Some(token)
        }
        (None, true) => None,
    };
    let state = AppState {
        config: Arc::new(config.clone()),
        registry,
        store,
        tokens: Arc::new(tokens),
    };
    if lambda {
        return lambda_http::run(router(state)).await.map_err(|e| e.to_string());
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("SCIM base URL: http://{addr}{BASE_PATH}");
    match generated {
        Some(token) => println!("Bearer token (tenant 'default', valid until this process stops): {token}"),
        None => println!("Bearer token: the value of SCIM_BOOTSTRAP_TOKEN (tenant 'default')"),
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, state, shutdown).await.map_err(|e| e.to_string())
}
