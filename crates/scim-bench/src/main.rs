//! `scim-bench`: starts `scim-lambda` on a loopback port, seeds users, then measures throughput,
//! latency percentiles and the server's resident memory for the requests IdPs send most, first
//! on the embedded store, then on the DynamoDB store against moto with the DynamoDB calls per
//! store operation.
//! `scim-bench soak` runs the bounded soak instead (`soak/`).
//! Run by `make bench` and `make soak`; `--help` lists the options.

mod args;
mod capacity;
mod client;
mod cost;
mod dynamodb;
mod floor;
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
use floor::{median, FloorServer};
use load::Limits;
use measure::seed_and_measure;
use scenarios::{Fixture, Scenario};
use server::ServerProcess;
use stats::Summary;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Requests in flight while seeding: enough to keep both server cores busy.
const SEED_CONCURRENCY: usize = 16;
/// Rounds of `GET /Users/{id}` against the service and the floor, alternating; the share
/// printed is the median of the rounds' shares, which a burst of noise moves least.
const FLOOR_ROUNDS: usize = 5;
/// Requests per round and server (capped by `--seconds`): a few seconds each at the rates seen
/// on 2 cores, so a round is not decided by a scheduling hiccup.
const FLOOR_REQUESTS: usize = 20_000;

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

/// The embedded-store section, then the floor comparison. The server is killed when `server`
/// drops, on every path out of this function, so it is gone before the DynamoDB section starts.
async fn embedded(args: &Args) -> Result<usize, String> {
    let mut server = ServerProcess::spawn(&args.server, &[])?;
    let limits = Limits {
        requests: args.requests,
        duration: Duration::from_secs(args.seconds),
        concurrency: args.concurrency,
    };
    let run = seed_and_measure(&mut server, args.users, limits.requests, SEED_CONCURRENCY, limits).await?;
    let floor_errors = against_floor(&run.fixture, limits).await?;
    server.ensure_running()?;
    Ok(run.errors + floor_errors)
}

/// `GET /Users/{id}` on the service and on the floor (`floor.rs`), in alternating rounds on the
/// same users; prints each round and the service's share of the floor. Returns failed requests.
async fn against_floor(service: &Arc<Fixture>, limits: Limits) -> Result<usize, String> {
    let users = floor::copy_users(&service.scim, &service.ids).await?;
    let floor = FloorServer::start(users)?;
    let floor_fixture = Arc::new(Fixture {
        scim: service.scim.with_base(&floor.base),
        ..Fixture::clone(service)
    });
    let limits = Limits {
        requests: FLOOR_REQUESTS,
        ..limits
    };
    report::floor_header(FLOOR_ROUNDS, limits.requests);
    let mut shares = Vec::with_capacity(FLOOR_ROUNDS);
    let mut errors = 0;
    for round in 1..=FLOOR_ROUNDS {
        let ours = Summary::of(&load::measure(service, Scenario::GetById, limits, rng::os_seed()?).await?);
        let bare =
            Summary::of(&load::measure(&floor_fixture, Scenario::GetById, limits, rng::os_seed()?).await?);
        errors += ours.errors + bare.errors;
        let share = ours.per_second / bare.per_second.max(f64::EPSILON);
        report::floor_round(round, &ours, &bare, share);
        shares.push(share);
    }
    report::floor_share(median(&shares));
    Ok(errors)
}
