//! `scim-lambda`: under AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set) it serves Lambda events;
//! otherwise it listens on `SCIM_LISTEN`. Both run the same Router. With `SCIM_FUNCTION=events`
//! it is the change-event function instead: DynamoDB stream batches in, EventBridge events out;
//! with `SCIM_FUNCTION=watch`, the scheduled silence watcher (`scim_lambda::watch`).

use scim_aws::Aws;
use scim_lambda::config::{in_lambda, Config, Function};
use scim_lambda::startup::Started;
use scim_lambda::{serve, BASE_PATH};
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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
///
/// `RUST_LOG` is read as a list of `target=level` and `level` directives (`Targets`), not as an
/// `EnvFilter`: span and field filters are not needed here, and leaving `EnvFilter` unused takes
/// its regex engine out of the bootstrap (infra/README.md "Bootstrap size").
fn init_tracing(lambda: bool) {
    let (filter, refused) = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    // The filter decides; the subscriber itself passes every level.
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::level_filters::LevelFilter::TRACE)
        .with_writer(std::io::stderr);
    if lambda {
        builder
            .json()
            .with_ansi(false)
            .with_current_span(false)
            .without_time()
            .finish()
            .with(filter)
            .init();
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .finish()
            .with(filter)
            .init();
    }
    if let Some(e) = refused {
        tracing::warn!(error = %e, "RUST_LOG is not a list of target=level directives; logging at info");
    }
}

/// The filter `RUST_LOG` names (`info` when unset), and why it was refused, if it was.
fn log_filter(setting: Option<&str>) -> (Targets, Option<String>) {
    let info = || Targets::new().with_default(tracing::Level::INFO);
    match setting.map(str::trim).filter(|s| !s.is_empty()) {
        None => (info(), None),
        Some(text) => match text.parse::<Targets>() {
            Ok(targets) => (targets, None),
            Err(e) => (info(), Some(e.to_string())),
        },
    }
}

async fn run(lambda: bool) -> Result<(), String> {
    match Function::from_env()? {
        Function::Events { bus } => return scim_lambda::events::run_stream_function(bus).await,
        Function::Watch {
            table,
            token_registry,
        } => return scim_lambda::watch::run_watch_function(table, token_registry).await,
        Function::Http | Function::Console => {}
    }
    let config = Config::from_env()?;
    // Under Lambda this is the init phase (scim_lambda::startup): the first request finds the
    // AWS clients made, the registry read and the connections open.
    let Started { state, first_token } =
        scim_lambda::startup::start(config.clone(), lambda, &Aws::environment()).await?;
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
    if config.surface.scim() {
        println!("SCIM base URL: http://{addr}{BASE_PATH}");
    }
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
    if let Some(local) = &state.console.local_login {
        // Printed, never logged: the code signs in an operator of every tenant.
        println!("console: http://{addr}/admin/login?code={}", local.code());
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, state, shutdown).await.map_err(|e| e.to_string())
}
