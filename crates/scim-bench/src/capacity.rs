//! The `ConsumedCapacity` DynamoDB answers carry, read from the raw response bodies.
//!
//! The store does not set `ReturnConsumedCapacity`, so DynamoDB itself would report none; moto
//! adds fixed placeholder figures to some answers anyway (BatchGetItem, for one). The bench
//! prints whatever arrives, labelled as moto's, rather than guessing DynamoDB's accounting.

use aws_sdk_dynamodb::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Capacity units reported, summed by operation name (`BatchGetItem`, ...).
pub type Units = BTreeMap<String, f64>;

/// An SDK interceptor summing the `CapacityUnits` of every response's `ConsumedCapacity`.
#[derive(Debug, Clone, Default)]
pub struct CapacityLog {
    units: Arc<Mutex<Units>>,
}

impl CapacityLog {
    /// The units reported since the last call, resetting them.
    pub fn take(&self) -> Units {
        self.units
            .lock()
            .map(|mut u| std::mem::take(&mut *u))
            .unwrap_or_default()
    }
}

impl Intercept for CapacityLog {
    fn name(&self) -> &'static str {
        "CapacityLog"
    }

    /// After deserialization the orchestrator has read the body into memory, so its bytes are
    /// available here without consuming a stream.
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(units) = context.response().body().bytes().and_then(reported_units) else {
            return Ok(());
        };
        let name = cfg
            .load::<Metadata>()
            .map_or("unknown", Metadata::name)
            .to_string();
        if let Ok(mut log) = self.units.lock() {
            *log.entry(name).or_default() += units;
        }
        Ok(())
    }
}

/// The total `CapacityUnits` of a response body's `ConsumedCapacity` (one object, or a list of
/// them for batch and transaction calls); `None` when the body reports none.
fn reported_units(body: &[u8]) -> Option<f64> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let units = |c: &Value| c.get("CapacityUnits").and_then(Value::as_f64);
    match json.get("ConsumedCapacity")? {
        Value::Array(list) => {
            let found: Vec<f64> = list.iter().filter_map(units).collect();
            (!found.is_empty()).then(|| found.iter().sum())
        }
        one => units(one),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_objects_and_lists() {
        assert_eq!(reported_units(br#"{"Item":{}}"#), None);
        assert_eq!(reported_units(br#"{"ConsumedCapacity":[]}"#), None);
        assert_eq!(
            reported_units(br#"{"ConsumedCapacity":{"TableName":"t","CapacityUnits":0.5}}"#),
            Some(0.5)
        );
        assert_eq!(
            reported_units(br#"{"ConsumedCapacity":[{"CapacityUnits":2},{"CapacityUnits":1.5}]}"#),
            Some(3.5)
        );
        assert_eq!(reported_units(b"not json"), None);
    }
}
