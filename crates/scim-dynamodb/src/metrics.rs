//! Counting DynamoDB calls: per request for its log line ([`RequestMeter`], on every
//! [`crate::DynamoStore`]'s client), and per operation name for tests (the budget assertions)
//! and `make bench` ([`CallCounter`]).
//!
//! Build the client with the counter as an interceptor and hand it to [`crate::DynamoStore::new`]:
//!
//! ```no_run
//! # async fn f(registry: std::sync::Arc<scim_proto::SchemaRegistry>) {
//! let counter = scim_dynamodb::CallCounter::default();
//! let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
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

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
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

/// Counts every DynamoDB operation toward the request being served
/// ([`scim_store::metering`]). [`crate::DynamoStore::new`] installs it on its client.
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
}
