//! Closed-loop load: a fixed number of workers, each sending its next request as soon as the
//! previous one is answered, so `concurrency` is exactly the number of requests in flight.

use crate::client::Scim;
use crate::rng::Rng;
use crate::scenarios::{user_body, Fixture, Scenario};
use crate::stats::Outcome;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When a scenario stops: after `requests` requests or once `duration` has passed, whichever
/// comes first (requests in flight at the deadline still complete and count).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub requests: usize,
    pub duration: Duration,
    pub concurrency: usize,
}

/// What one worker saw.
#[derive(Debug, Default)]
struct WorkerLog {
    latencies: Vec<Duration>,
    /// Bytes of the successful responses.
    response_bytes: u64,
    errors: usize,
    first_error: Option<String>,
}

/// Runs `scenario` under `limits` and returns every request's latency.
pub async fn measure(
    fx: &Arc<Fixture>,
    scenario: Scenario,
    limits: Limits,
    seed: u64,
) -> Result<Outcome, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + limits.duration;
    let logs = run_workers(limits.concurrency, |worker| {
        let fx = Arc::clone(fx);
        let next = Arc::clone(&next);
        // Distinct streams per worker; SplitMix64 decorrelates nearby seeds.
        let rng = Rng::new(seed ^ (worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        async move { scenario_worker(&fx, scenario, &next, limits.requests, deadline, rng).await }
    })
    .await?;
    let elapsed = started.elapsed();
    let mut outcome = Outcome {
        latencies: Vec::with_capacity(limits.requests),
        response_bytes: 0,
        errors: 0,
        first_error: None,
        elapsed,
    };
    for log in logs {
        outcome.latencies.extend(log.latencies);
        outcome.response_bytes += log.response_bytes;
        outcome.errors += log.errors;
        outcome.first_error = outcome.first_error.or(log.first_error);
    }
    Ok(outcome)
}

/// Takes request numbers from the shared counter until `requests` are taken or `deadline` passes.
async fn scenario_worker(
    fx: &Fixture,
    scenario: Scenario,
    next: &AtomicUsize,
    requests: usize,
    deadline: Instant,
    mut rng: Rng,
) -> WorkerLog {
    let mut log = WorkerLog::default();
    while Instant::now() < deadline {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= requests {
            break;
        }
        let request = scenario.request(fx, n, &mut rng);
        let sent = Instant::now();
        let result = fx.scim.send_answer(request).await;
        log.latencies.push(sent.elapsed());
        match result {
            Ok(answer) => log.response_bytes += answer.wire_bytes as u64,
            Err(e) => {
                log.errors += 1;
                log.first_error.get_or_insert(e);
            }
        }
    }
    log
}

/// Creates `users` users (without passwords) with `concurrency` in flight and returns their ids.
/// The first failure stops the seeding: the scenarios need every user to exist.
pub async fn seed_users(scim: &Scim, users: usize, concurrency: usize) -> Result<Vec<String>, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let batches = run_workers(concurrency, |_| {
        let scim = scim.clone();
        let next = Arc::clone(&next);
        async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= users {
                    return Ok(ids);
                }
                match scim.create_user(&user_body(i, None)).await {
                    Ok(id) => ids.push(id),
                    Err(e) => {
                        // Let the other workers stop after their current request.
                        next.store(users, Ordering::Relaxed);
                        return Err(format!("seeding user{i}: {e}"));
                    }
                }
            }
        }
    })
    .await?;
    let mut ids = Vec::with_capacity(users);
    for batch in batches {
        ids.extend(batch?);
    }
    Ok(ids)
}

/// Spawns `count` tasks (`make(i)` builds the i-th) and waits for all of them. Spawning, rather
/// than joining futures on one task, lets the multi-thread runtime spread the client's work.
async fn run_workers<T, F, Fut>(count: usize, make: F) -> Result<Vec<T>, String>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..count).map(|i| tokio::spawn(make(i))).collect();
    let mut results = Vec::with_capacity(count);
    for handle in handles {
        results.push(handle.await.map_err(|e| format!("a load worker failed: {e}"))?);
    }
    Ok(results)
}
