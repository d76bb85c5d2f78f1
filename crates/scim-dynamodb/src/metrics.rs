//! Counting DynamoDB calls: per request for its log line ([`RequestMeter`], on every
//! [`crate::DynamoStore`]'s client), and per operation name for tests (the budget assertions)
//! and `make bench` ([`CallCounter`]).
//!
//! Build the client with the counter as an interceptor and hand it to [`crate::DynamoStore::new`]:
//!
//! ```no_run
//! # async fn f(registry: std::sync::Arc<scim_proto::SchemaRegistry>) {
//! let counter = scim_dynamodb::CallCounter::default();
//! let sdk = scim_aws::defaults().load().await;
//! let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
//!     .interceptor(counter.clone())
//!     .build();
//! let store = scim_dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), "scim", registry);
//! // ... requests ...
//! println!("{:?}", counter.take()); // {"GetItem": 1, "TransactWriteItems": 1}
//! # }
//! ```
//!
//! One logical call counts once, however often the SDK retried it.

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsOutput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::Output;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// An SDK interceptor counting executed operations by name (`GetItem`, `Query`, ...).
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    /// The counts so far, by operation name.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The counts so far, resetting them to zero.
    pub fn take(&self) -> BTreeMap<String, u64> {
        self.counts
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    /// All calls so far.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map_or("unknown", Metadata::name)
            .to_string();
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(name).or_default() += 1;
        }
        Ok(())
    }
}

/// Counts every DynamoDB operation, and the items each read examined, toward the request being
/// served ([`scim_store::metering`]). [`crate::DynamoStore::new`] installs it on its client.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestMeter;

impl Intercept for RequestMeter {
    fn name(&self) -> &'static str {
        "RequestMeter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        scim_store::metering::count_call();
        Ok(())
    }

    /// Once per operation, after the SDK's retries: the items the answer says were read.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Ok(output)) = context.output_or_error() {
            scim_store::metering::count_items_read(items_read(output));
        }
        Ok(())
    }
}

/// Items a read operation examined: what DynamoDB charges read capacity for. A Query or Scan
/// reports `ScannedCount` (items evaluated before any filter); the other reads return what they
/// read. Writes read nothing here.
fn items_read(output: &Output) -> u64 {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    if let Some(q) = output.downcast_ref::<QueryOutput>() {
        u64::try_from(q.scanned_count()).unwrap_or(0)
    } else if let Some(s) = output.downcast_ref::<ScanOutput>() {
        u64::try_from(s.scanned_count()).unwrap_or(0)
    } else if let Some(g) = output.downcast_ref::<GetItemOutput>() {
        u64::from(g.item().is_some())
    } else if let Some(b) = output.downcast_ref::<BatchGetItemOutput>() {
        b.responses().map_or(0, |r| count(r.values().map(Vec::len).sum()))
    } else if let Some(t) = output.downcast_ref::<TransactGetItemsOutput>() {
        count(t.responses().iter().filter(|r| r.item().is_some()).count())
    } else {
        0
    }
}
