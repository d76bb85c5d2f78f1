//! `scim-bench`: starts `scim-lambda` on a loopback port, seeds users, then measures throughput,
//! latency percentiles and the server's resident memory for the requests IdPs send most, first
//! on the embedded store, then on the DynamoDB store against moto with the DynamoDB calls per
//! store operation.
//! Run by `make bench`; `--help` lists the options.

mod args;
mod capacity;
mod client;
mod dynamodb;
mod load;
mod moto;
mod report;
mod rng;
mod scenarios;
mod server;
mod stats;

use args::{Args, Command, USAGE};
use client::Scim;
use load::Limits;
use scenarios::{Fixture, Scenario};
use server::ServerProcess;
use stats::Summary;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests in flight while seeding: enough to keep both server cores busy.
const SEED_CONCURRENCY: usize = 16;
/// How long the server may take to answer its first request.
const READY_WITHIN: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
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

/// Waits for `server`, seeds `users` users, measures every scenario under `limits` and prints
/// the server's memory. Returns the failed request count and the seeded users' ids.
pub(crate) async fn seed_and_measure(
    server: &mut ServerProcess,
    users: usize,
    seed_concurrency: usize,
    limits: Limits,
) -> Result<(usize, Vec<String>), String> {
    let scim = Scim::new(&server.base, &server.token)?;
    scim.wait_ready(server, READY_WITHIN).await?;

    let started = Instant::now();
    let ids = load::seed_users(&scim, users, seed_concurrency).await?;
    report::seeding(ids.len(), started.elapsed());

    let fixture = Arc::new(Fixture { scim, ids, users });
    let errors = measure_all(&fixture, limits, server).await?;
    report::memory(server.pid(), server.memory()?);
    let ids = fixture.ids.clone();
    Ok((errors, ids))
}

/// Runs every scenario in order, printing a row as each finishes and the first error of any
/// scenario that had errors; returns the total error count.
async fn measure_all(fx: &Arc<Fixture>, limits: Limits, server: &mut ServerProcess) -> Result<usize, String> {
    let mut failures = Vec::new();
    let mut errors = 0;
    report::header();
    for scenario in Scenario::ALL {
        let outcome = load::measure(fx, scenario, limits, rng::os_seed()?).await?;
        let summary = Summary::of(&outcome);
        report::row(scenario.label(), &summary);
        errors += summary.errors;
        if let Some(first) = outcome.first_error {
            failures.push(format!(
                "{}: {} error(s), first: {first}",
                scenario.label(),
                summary.errors
            ));
        }
        // A crashed server would make every later row a column of errors; say so instead.
        server.ensure_running()?;
    }
    for failure in &failures {
        eprintln!("{failure}");
    }
    Ok(errors)
}
