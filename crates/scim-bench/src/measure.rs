//! One section's measurement, shared by the embedded and the DynamoDB sections: wait for the
//! started server, seed users and groups, run every scenario, print the server's memory.

use crate::client::Scim;
use crate::load::{self, Limits};
use crate::report;
use crate::rng;
use crate::scenarios::{group_body, user_body, Fixture, Scenario};
use crate::server::ServerProcess;
use crate::stats::Summary;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the server may take to answer its first request.
pub const READY_WITHIN: Duration = Duration::from_secs(30);

/// What a section measured.
#[derive(Debug)]
pub struct SectionRun {
    /// Measured requests that failed.
    pub errors: usize,
    /// The client and the seeded users, for measuring more against the same server.
    pub fixture: Arc<Fixture>,
}

/// Waits for `server`, seeds `users` users and the groups for `member_adds` member adds (those
/// of every pass on this server, each a new membership), measures every scenario under `limits`
/// and prints the server's memory.
pub async fn seed_and_measure(
    server: &mut ServerProcess,
    users: usize,
    member_adds: usize,
    seed_concurrency: usize,
    limits: Limits,
) -> Result<SectionRun, String> {
    let scim = Scim::new(&server.base, &server.token)?;
    scim.wait_ready(server, READY_WITHIN).await?;

    let started = Instant::now();
    let ids = load::seed(&scim, "/Users", |i| user_body(i, None), users, seed_concurrency).await?;
    let groups = Fixture::groups_for(member_adds, users);
    let groups = load::seed(&scim, "/Groups", group_body, groups, seed_concurrency).await?;
    report::seeding(ids.len(), groups.len(), started.elapsed());

    let fixture = Arc::new(Fixture::new(scim, ids, users, groups));
    let errors = measure_all(&fixture, limits, server).await?;
    report::memory(server.pid(), server.memory()?);
    Ok(SectionRun { errors, fixture })
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
