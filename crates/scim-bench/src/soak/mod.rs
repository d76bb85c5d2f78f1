//! `scim-bench soak` (`make soak`): the release server on the embedded store under a bounded,
//! mixed IdP workload with refusals mixed in; fails on any 5xx, any dropped well-formed request,
//! any lost write, or resident memory growing after warm-up. Prints its figures either way.

mod idp;
mod junk;
mod ledger;
mod player;
mod rss;
mod tally;
mod tokens;

use crate::args::SoakArgs;
use crate::client::Scim;
use crate::measure::READY_WITHIN;
use crate::report::mib;
use crate::rng;
use crate::server::ServerProcess;
use crate::stats::ms;
use idp::Idp;
use junk::{RefusedTokens, MAX_BODY_BYTES};
use player::{Budget, Player};
use rss::Flatness;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally::Tally;
use tokens::SoakTokens;

/// How long past the deadline the memory sampler may run if the clients are slow to stop (a
/// request in flight at the deadline still completes, within the client's timeout).
const SAMPLER_GRACE: Duration = Duration::from_secs(60);

/// Runs the soak; `Err` says why it failed (after the figures are printed).
pub async fn run(args: &SoakArgs) -> Result<(), String> {
    let tenants: Vec<(Idp, String)> = (0..args.clients)
        .map(|i| {
            let idp = Idp::ALL[i % Idp::ALL.len()];
            (idp, format!("soak-{}-{}", idp.name(), i / Idp::ALL.len() + 1))
        })
        .collect();
    let names: Vec<String> = tenants.iter().map(|(_, t)| t.clone()).collect();
    let tokens = SoakTokens::write(&names)?;
    let env = [
        ("SCIM_TOKEN_REGISTRY", format!("file:{}", tokens.path.display())),
        ("SCIM_MAX_BODY_BYTES", MAX_BODY_BYTES.to_string()),
    ];
    let mut server = ServerProcess::spawn(&args.server, &env)?;
    let scim = Scim::new(&server.base, &server.token)?;
    scim.wait_ready(&mut server, READY_WITHIN).await?;
    let pid = server.pid();
    let rss_at_start = server.memory()?.current_kb;
    parameters(args, &tenants);

    let duration = Duration::from_secs(args.seconds);
    let started = Instant::now();
    let budget = Arc::new(Budget::new(args.requests, started + duration, args.rate));
    let refused = Arc::new(RefusedTokens {
        expired: tokens.expired.clone(),
        revoked: tokens.revoked.clone(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(rss::sample(
        pid,
        started,
        duration + SAMPLER_GRACE,
        Arc::clone(&stop),
    ));
    let mut players = Vec::with_capacity(tenants.len());
    for ((idp, tenant), (_, token)) in tenants.into_iter().zip(&tokens.clients) {
        let seed = rng::os_seed()?;
        players.push(Player::new(
            idp,
            tenant,
            scim.with_token(token),
            Arc::clone(&refused),
            Arc::clone(&budget),
            seed,
        ));
    }
    let players = all(players, Player::play).await?;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let samples = sampler
        .await
        .map_err(|e| format!("the memory sampler failed: {e}"))?;
    let peak_kb = server.memory()?.peak_kb;

    let mut load = Tally::default();
    let mut players_after = Vec::with_capacity(players.len());
    for mut player in players {
        load.merge(std::mem::take(&mut player.tally));
        players_after.push(player);
    }
    let read_back_started = Instant::now();
    let mut players = all(players_after, Player::read_back).await?;
    let read_back_elapsed = read_back_started.elapsed();
    server.ensure_running()?;

    let mut read_back = Tally::default();
    for player in &mut players {
        read_back.merge(std::mem::take(&mut player.tally));
    }
    let flatness = Flatness::of(&samples, elapsed.as_secs_f64());
    figures(&load, &read_back, elapsed, read_back_elapsed, &players);
    memory(rss_at_start, flatness.as_ref(), peak_kb, samples.len());
    verdict(&load, &read_back, flatness.as_ref(), args.rss_tolerance_pct)
}

/// Runs `work` on every player at once, each in its own task.
async fn all<F, Fut>(players: Vec<Player>, work: F) -> Result<Vec<Player>, String>
where
    F: Fn(Player) -> Fut,
    Fut: Future<Output = Player> + Send + 'static,
{
    let handles: Vec<_> = players.into_iter().map(|p| tokio::spawn(work(p))).collect();
    let mut done = Vec::with_capacity(handles.len());
    for handle in handles {
        done.push(handle.await.map_err(|e| format!("a soak client failed: {e}"))?);
    }
    Ok(done)
}

fn parameters(args: &SoakArgs, tenants: &[(Idp, String)]) {
    println!("scim-bench soak");
    println!("  server       {} (embedded store)", args.server.display());
    println!(
        "  bounds       {} s or {} requests, whichever comes first",
        args.seconds, args.requests
    );
    let names: Vec<&str> = tenants.iter().map(|(_, t)| t.as_str()).collect();
    println!(
        "  clients      {} (one tenant each: {})",
        tenants.len(),
        names.join(", ")
    );
    println!("  pace         at most {} requests/s per client", args.rate);
    println!(
        "  body limit   {MAX_BODY_BYTES} bytes (SCIM_MAX_BODY_BYTES); memory must stay within {}% after warm-up",
        args.rss_tolerance_pct
    );
    println!();
}

fn figures(
    load: &Tally,
    read_back: &Tally,
    elapsed: Duration,
    read_back_elapsed: Duration,
    players: &[Player],
) {
    load.print();
    let requests = load.requests();
    let (p50, p99) = load.overall();
    println!();
    println!(
        "load         {requests} requests in {:.1} s: {:.1} req/s, p50 {:.2} ms, p99 {:.2} ms",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        ms(p50),
        ms(p99)
    );
    let resets: u64 = load.classes.values().map(|c| c.resets).sum();
    println!(
        "             5xx {}, 429 {} (waited out), resets {resets}, failures {}",
        load.server_errors, load.throttled, load.failure_count
    );
    println!();
    println!(
        "{:<24} {:>6} {:>7} {:>8} {:>9} {:>8}",
        "ledger (tenant)", "users", "groups", "deleted", "uncertain", "writes"
    );
    for p in players {
        let l = &p.ledger;
        println!(
            "{:<24} {:>6} {:>7} {:>8} {:>9} {:>8}",
            p.tenant,
            l.users.len(),
            l.groups.len(),
            l.deleted_users.len() + l.deleted_groups.len(),
            l.uncertain.len(),
            l.writes
        );
    }
    let tracked: usize = players.iter().map(|p| p.ledger.size()).sum();
    println!(
        "read-back    {} requests in {:.1} s for {tracked} resources, failures {}",
        read_back.requests(),
        read_back_elapsed.as_secs_f64(),
        read_back.failure_count
    );
}

fn memory(start_kb: u64, flatness: Option<&Flatness>, peak_kb: u64, samples: usize) {
    println!();
    match flatness {
        Some(f) => println!(
            "server RSS   start {:.1} MiB, after warm-up {:.1} MiB, end {:.1} MiB ({:+.1}%), peak {:.1} MiB; {samples} samples",
            mib(start_kb),
            mib(f.after_warm_up_kb),
            mib(f.end_kb),
            f.growth_pct,
            mib(peak_kb)
        ),
        None => println!(
            "server RSS   start {:.1} MiB, peak {:.1} MiB; {samples} samples, too few to compare",
            mib(start_kb),
            mib(peak_kb)
        ),
    }
}

/// Every reason the run fails, or `Ok`.
fn verdict(
    load: &Tally,
    read_back: &Tally,
    flatness: Option<&Flatness>,
    tolerance_pct: f64,
) -> Result<(), String> {
    let mut reasons = Vec::new();
    for tally in [load, read_back] {
        if tally.failure_count > 0 {
            reasons.push(format!(
                "{} failure(s) (5xx, no answer, unexpected status or lost write); the first:\n  {}",
                tally.failure_count,
                tally.failures.join("\n  ")
            ));
        }
    }
    match flatness {
        Some(f) if f.growth_pct > tolerance_pct => reasons.push(format!(
            "resident memory grew {:.1}% after warm-up ({:.1} → {:.1} MiB), more than {tolerance_pct}%",
            f.growth_pct,
            mib(f.after_warm_up_kb),
            mib(f.end_kb)
        )),
        Some(_) => {}
        None => reasons.push("too few memory samples to compare: run for longer (--seconds)".into()),
    }
    if reasons.is_empty() {
        println!("\nsoak passed");
        Ok(())
    } else {
        Err(reasons.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(growth_pct: f64) -> Flatness {
        Flatness {
            start_kb: 10_000,
            after_warm_up_kb: 20_000,
            end_kb: 20_000,
            growth_pct,
        }
    }

    #[test]
    fn passes_only_without_failures_and_within_tolerance() {
        let clean = Tally::default();
        assert!(verdict(&clean, &clean, Some(&flat(9.9)), 10.0).is_ok());
        let why = verdict(&clean, &clean, Some(&flat(10.1)), 10.0).unwrap_err();
        assert!(why.contains("grew 10.1%"), "{why}");
        assert!(verdict(&clean, &clean, None, 10.0).is_err());
        let mut lost = Tally::default();
        lost.fail("[t] lost write on user u1: active is true, last written false".into());
        let why = verdict(&clean, &lost, Some(&flat(0.0)), 10.0).unwrap_err();
        assert!(why.contains("lost write on user u1"), "{why}");
    }
}
