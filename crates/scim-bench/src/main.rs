//! `scim-bench`: starts `scim-lambda` on a loopback port, seeds users, then measures throughput,
//! latency percentiles and the server's resident memory for the requests IdPs send most, first
//! on the embedded store, then on the DynamoDB store against moto with the DynamoDB calls per
//! store operation.
//! `scim-bench soak` runs the bounded soak instead (`soak/`).
//! Run by `make bench` and `make soak`; `--help` lists the options.

mod args;
mod capacity;
mod client;
mod dynamodb;
mod load;
mod measure;
mod moto;
mod report;
mod rng;
mod scenarios;
mod server;
mod soak;
mod stats;

use args::{Args, Command, USAGE};
use load::Limits;
use measure::seed_and_measure;
use server::ServerProcess;
use std::process::ExitCode;
use std::time::Duration;

/// Requests in flight while seeding: enough to keep both server cores busy.
const SEED_CONCURRENCY: usize = 16;

#[tokio::main]
async fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Soak(soak)) => {
            return match soak::run(&soak).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("scim-bench soak: FAILED\n{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("scim-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args).await {
        Ok(0) => ExitCode::SUCCESS,
        Ok(errors) => {
            eprintln!("scim-bench: {errors} request(s) failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("scim-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The whole run: the embedded store, then (unless `--no-dynamodb`) the DynamoDB store against
/// moto. Returns how many measured requests failed.
async fn run(args: &Args) -> Result<usize, String> {
    report::parameters(args, SEED_CONCURRENCY);
    let mut errors = embedded(args).await?;
    if let Some(dynamo) = &args.dynamodb {
        errors += dynamodb::section(args, dynamo, SEED_CONCURRENCY).await?;
    }
    Ok(errors)
}

/// The embedded-store section. The server is killed when `server` drops, on every path out of
/// this function, so it is gone before the DynamoDB section starts.
async fn embedded(args: &Args) -> Result<usize, String> {
    let mut server = ServerProcess::spawn(&args.server, &[])?;
    let limits = Limits {
        requests: args.requests,
        duration: Duration::from_secs(args.seconds),
        concurrency: args.concurrency,
    };
    let (errors, _) = seed_and_measure(&mut server, args.users, SEED_CONCURRENCY, limits).await?;
    Ok(errors)
}
