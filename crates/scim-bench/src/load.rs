//! Closed-loop load: a fixed number of workers, each sending its next request as soon as the
//! previous one is answered, so `concurrency` is exactly the number of requests in flight.

use crate::client::Scim;
use crate::rng::Rng;
use crate::scenarios::{Fixture, Scenario};
use crate::stats::Outcome;
use serde_json::Value;
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

/// Takes request numbers from the shared counter until `requests` are taken, `deadline` passes
/// or the scenario has nothing left to act on.
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
        // Nothing left to act on: stop rather than measure a request that does no work.
        let Some(request) = scenario.request(fx, n, &mut rng) else {
            break;
        };
        let sent = Instant::now();
        let result = fx.scim.send_answer(request).await;
        log.latencies.push(sent.elapsed());
        match result.and_then(|answer| scenario.accept(fx, n, &answer).map(|()| answer)) {
            Ok(answer) => log.response_bytes += answer.wire_bytes as u64,
            Err(e) => {
                log.errors += 1;
                log.first_error.get_or_insert(e);
            }
        }
    }
    log
}

/// POSTs `count` resources to `path` (`body(i)` the i-th) with `concurrency` in flight and
/// returns their ids, the i-th resource's at index i (a `PUT` must send the attributes of the
/// resource it names). The first failure stops the seeding: the scenarios need every one to exist.
pub async fn seed(
    scim: &Scim,
    path: &'static str,
    body: fn(usize) -> Value,
    count: usize,
    concurrency: usize,
) -> Result<Vec<String>, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let batches = run_workers(concurrency, |_| {
        let scim = scim.clone();
        let next = Arc::clone(&next);
        async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok(ids);
                }
                match scim.create(path, &body(i)).await {
                    Ok(id) => ids.push((i, id)),
                    Err(e) => {
                        // Let the other workers stop after their current request.
                        next.store(count, Ordering::Relaxed);
                        return Err(format!("seeding {path} number {i}: {e}"));
                    }
                }
            }
        }
    })
    .await?;
    let mut ids = Vec::with_capacity(count);
    for batch in batches {
        ids.extend(batch?);
    }
    ids.sort_unstable_by_key(|(i, _)| *i);
    Ok(ids.into_iter().map(|(_, id)| id).collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Scim;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::{delete, patch, post};
    use axum::{Json, Router};
    use std::collections::HashSet;
    use std::sync::Mutex;

    /// What the stand-in server holds, and how many requests it received that changed nothing.
    #[derive(Debug, Default)]
    struct Held {
        created: usize,
        users: HashSet<String>,
        members: HashSet<(String, String)>,
        no_ops: usize,
    }

    type Shared = Arc<Mutex<Held>>;

    async fn create_user(State(held): State<Shared>) -> (StatusCode, Json<Value>) {
        let mut held = held.lock().unwrap();
        held.created += 1;
        let id = format!("new-{}", held.created);
        held.users.insert(id.clone());
        (StatusCode::CREATED, Json(serde_json::json!({ "id": id })))
    }

    async fn delete_user(State(held): State<Shared>, Path(id): Path<String>) -> StatusCode {
        let mut held = held.lock().unwrap();
        if held.users.remove(&id) {
            StatusCode::NO_CONTENT
        } else {
            held.no_ops += 1;
            StatusCode::NOT_FOUND
        }
    }

    /// A group PATCH of one `add` of `members` or one `remove` by `members[value eq "id"]`;
    /// like the service, it answers 204 whether or not the membership changed.
    async fn patch_group(
        State(held): State<Shared>,
        Path(group): Path<String>,
        Json(body): Json<Value>,
    ) -> StatusCode {
        let op = &body["Operations"][0];
        let mut held = held.lock().unwrap();
        let changed = match op["op"].as_str() {
            Some("add") => {
                let user = op["value"][0]["value"].as_str().unwrap().to_string();
                held.members.insert((group, user))
            }
            Some("remove") => {
                let path = op["path"].as_str().unwrap();
                let user = path
                    .trim_start_matches("members[value eq \"")
                    .trim_end_matches("\"]");
                held.members.remove(&(group, user.to_string()))
            }
            _ => return StatusCode::BAD_REQUEST,
        };
        if !changed {
            held.no_ops += 1;
        }
        StatusCode::NO_CONTENT
    }

    /// A group created with its display name as its id, so the id says which body made it.
    async fn create_group(Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
        let id = body["displayName"].clone();
        (StatusCode::CREATED, Json(serde_json::json!({ "id": id })))
    }

    async fn stand_in() -> (String, Shared) {
        let held = Shared::default();
        let app = Router::new()
            .route("/scim/v2/Users", post(create_user))
            .route("/scim/v2/Users/{id}", delete(delete_user))
            .route("/scim/v2/Groups", post(create_group))
            .route("/scim/v2/Groups/{id}", patch(patch_group))
            .with_state(held.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/scim/v2", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, held)
    }

    fn limits(requests: usize) -> Limits {
        Limits {
            requests,
            duration: Duration::from_secs(60),
            concurrency: 3,
        }
    }

    /// Seeding by several workers at once still returns the i-th resource's id at index i.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seeded_ids_are_in_the_order_of_their_bodies() {
        let (base, _) = stand_in().await;
        let scim = Scim::new(&base, "t").unwrap();
        let ids = seed(&scim, "/Groups", crate::scenarios::group_body, 30, 3)
            .await
            .unwrap();
        let expected: Vec<_> = (0..30).map(|i| format!("bench-group-{i}")).collect();
        assert_eq!(ids, expected);
    }

    /// The member remove and the delete act only on what the member add and the create made,
    /// and stop when that is used up; the add makes each membership once and stops when every
    /// seeded user is in every group. No request is a no-op.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn undoing_scenarios_act_only_on_what_earlier_requests_made() {
        let (base, held) = stand_in().await;
        let ids: Vec<String> = (0..3).map(|i| format!("seeded-{i}")).collect();
        let groups = vec!["g0".to_string(), "g1".to_string()];
        let fx = Arc::new(Fixture::new(Scim::new(&base, "t").unwrap(), ids, 3, groups));
        let run = |scenario, requests| {
            let fx = Arc::clone(&fx);
            async move {
                let outcome = measure(&fx, scenario, limits(requests), 7).await.unwrap();
                assert_eq!(outcome.first_error, None, "{}", scenario.label());
                outcome.latencies.len()
            }
        };

        assert_eq!(run(Scenario::Create, 5).await, 5);
        assert_eq!(run(Scenario::Delete, 8).await, 5, "one delete per created user");
        assert!(held.lock().unwrap().users.is_empty());

        assert_eq!(
            run(Scenario::AddMember, 10).await,
            6,
            "3 users in each of 2 groups"
        );
        assert_eq!(held.lock().unwrap().members.len(), 6);
        assert_eq!(run(Scenario::RemoveMember, 10).await, 6);
        assert!(held.lock().unwrap().members.is_empty());
        assert_eq!(run(Scenario::Delete, 3).await, 0, "nothing left to delete");

        assert_eq!(held.lock().unwrap().no_ops, 0);
    }
}
