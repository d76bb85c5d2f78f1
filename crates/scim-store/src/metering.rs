//! How many calls to its storage one request made, for the request's log line and metrics.
//!
//! The request log runs each request inside [`metered`]; whatever does the storage work calls
//! [`count_call`] where the call happens: the DynamoDB client's interceptor once per DynamoDB
//! operation, the embedded store once per store operation. Nothing in between (service, traits,
//! wrappers) needs to know. Outside [`metered`] (a CLI, a test) counting does nothing.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

tokio::task_local! {
    static CALLS: Arc<AtomicU32>;
}

/// Counts one storage call for the request being served, if any.
pub fn count_call() {
    let _ = CALLS.try_with(|c| c.fetch_add(1, Ordering::Relaxed));
}

/// Runs `work` as one request and returns its output with the storage calls it made (made from
/// its own task; work it spawns elsewhere is not counted).
pub async fn metered<F: Future>(work: F) -> (F::Output, u32) {
    let calls = Arc::new(AtomicU32::new(0));
    let output = CALLS.scope(calls.clone(), work).await;
    (output, calls.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_inside_a_request_and_nowhere_else() {
        count_call();
        let ((), calls) = metered(async {
            count_call();
            tokio::task::yield_now().await;
            count_call();
        })
        .await;
        assert_eq!(calls, 2);
        let ((), none) = metered(async {}).await;
        assert_eq!(none, 0);
    }
}
