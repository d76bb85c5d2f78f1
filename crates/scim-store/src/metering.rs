//! How much storage work one request did, for the request's log line, its metrics and the
//! per-tenant read budget: the calls made and the items read.
//!
//! The request log runs each request inside [`metered`]; whatever does the storage work counts
//! where it happens: the DynamoDB client's interceptor once per DynamoDB operation (and the items
//! each read returned or examined), the embedded store once per store operation (and the records
//! it examined). Nothing in between (service, traits, wrappers) needs to know. Outside
//! [`metered`] (a CLI, a test) counting does nothing.

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
struct Meter {
    calls: AtomicU32,
    items_read: AtomicU64,
}

tokio::task_local! {
    static METER: Arc<Meter>;
}

/// Counts one storage call for the request being served, if any.
pub fn count_call() {
    let _ = METER.try_with(|m| m.calls.fetch_add(1, Ordering::Relaxed));
}

/// Counts `items` read (returned or examined) by a storage call for the request being served.
pub fn count_items_read(items: u64) {
    let _ = METER.try_with(|m| m.items_read.fetch_add(items, Ordering::Relaxed));
}

/// Items the request being served has read so far (0 outside [`metered`]).
pub fn items_read_so_far() -> u64 {
    METER
        .try_with(|m| m.items_read.load(Ordering::Relaxed))
        .unwrap_or(0)
}

/// The storage work of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub calls: u32,
    pub items_read: u64,
}

/// Runs `work` as one request and returns its output with the storage work it did (from its
/// own task; work it spawns elsewhere is not counted).
pub async fn metered<F: Future>(work: F) -> (F::Output, Usage) {
    let meter = Arc::new(Meter::default());
    let output = METER.scope(meter.clone(), work).await;
    let usage = Usage {
        calls: meter.calls.load(Ordering::Relaxed),
        items_read: meter.items_read.load(Ordering::Relaxed),
    };
    (output, usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_inside_a_request_and_nowhere_else() {
        count_call();
        count_items_read(7);
        let ((), usage) = metered(async {
            count_call();
            count_items_read(3);
            tokio::task::yield_now().await;
            count_call();
            count_items_read(2);
            assert_eq!(items_read_so_far(), 5);
        })
        .await;
        assert_eq!(
            usage,
            Usage {
                calls: 2,
                items_read: 5
            }
        );
        let ((), none) = metered(async {}).await;
        assert_eq!(none, Usage::default());
        assert_eq!(items_read_so_far(), 0);
    }
}
