//! The capacity behind each DynamoDB call, two ways.
//!
//! [`CapacityLog`] is an SDK interceptor on the bench's own client (never the service's): it sets
//! `ReturnConsumedCapacity=TOTAL` on every request before serialisation, so the figures are asked
//! for the way a production client would ask, and then keeps
//! - what the answer reports under `ConsumedCapacity`: on moto these are fixed placeholders
//!   (GetItem 0.5, PutItem/Query/Scan/DeleteItem 1, UpdateItem 0.5, BatchGetItem one unit per
//!   key, TransactWriteItems an empty list), whatever the items' sizes;
//! - DynamoDB's own accounting ([`units_of_call`]), computed from the request and response
//!   bodies with the published on-demand rules; this is what the cost table uses.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    batch_get_item::BatchGetItemInput, batch_write_item::BatchWriteItemInput, delete_item::DeleteItemInput,
    get_item::GetItemInput, put_item::PutItemInput, query::QueryInput, scan::ScanInput,
    transact_get_items::TransactGetItemsInput, transact_write_items::TransactWriteItemsInput,
    update_item::UpdateItemInput,
};
use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use scim_dynamodb::SORT_INDEXES;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Capacity units reported by the answers, summed by operation name (`BatchGetItem`, ...).
pub type Reported = BTreeMap<String, f64>;

/// Read and write request units, as DynamoDB on-demand bills them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestUnits {
    pub read: f64,
    pub write: f64,
}

impl std::ops::AddAssign for RequestUnits {
    fn add_assign(&mut self, other: Self) {
        self.read += other.read;
        self.write += other.write;
    }
}

/// What the calls since the last [`CapacityLog::take`] consumed.
#[derive(Debug, Clone, Default)]
pub struct Consumed {
    /// What the answers said (moto: placeholders).
    pub reported: Reported,
    /// DynamoDB's accounting, computed from the items read and written.
    pub computed: RequestUnits,
}

/// The SDK interceptor: asks for capacity on every call, sums what is reported and what
/// DynamoDB's rules make of the items.
#[derive(Debug, Clone, Default)]
pub struct CapacityLog {
    consumed: Arc<Mutex<Consumed>>,
}

impl CapacityLog {
    /// The capacity consumed since the last call, resetting it.
    pub fn take(&self) -> Consumed {
        self.consumed
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

/// The request body of the call in flight, kept for the accounting after the answer.
#[derive(Debug, Clone)]
struct SentBody(Vec<u8>);

impl Storable for SentBody {
    type Storer = StoreReplace<Self>;
}

/// Sets `ReturnConsumedCapacity` on whichever operation input this is.
macro_rules! ask_for_total {
    ($input:expr, $($kind:ty),+) => {
        $(
            if let Some(input) = $input.downcast_mut::<$kind>() {
                input.return_consumed_capacity = Some(ReturnConsumedCapacity::Total);
            }
        )+
    };
}

impl Intercept for CapacityLog {
    fn name(&self) -> &'static str {
        "CapacityLog"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        ask_for_total!(
            context.input_mut(),
            GetItemInput,
            QueryInput,
            ScanInput,
            BatchGetItemInput,
            TransactGetItemsInput,
            PutItemInput,
            UpdateItemInput,
            DeleteItemInput,
            BatchWriteItemInput,
            TransactWriteItemsInput
        );
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.request().body().bytes() {
            cfg.interceptor_state().store_put(SentBody(bytes.to_vec()));
        }
        Ok(())
    }

    /// After deserialization the orchestrator has read the body into memory, so its bytes are
    /// available here without consuming a stream.
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map_or("unknown", Metadata::name)
            .to_string();
        let json = |bytes: Option<&[u8]>| {
            bytes
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                .unwrap_or(Value::Null)
        };
        let response = json(context.response().body().bytes());
        // A failed call (a lost condition, a throttle) is not an item read or written here.
        let succeeded = context.response().status().is_success();
        let request = json(cfg.load::<SentBody>().map(|b| b.0.as_slice()));
        if let Ok(mut log) = self.consumed.lock() {
            if let Some(units) = reported_units(&response) {
                *log.reported.entry(name.clone()).or_default() += units;
            }
            if succeeded {
                log.computed += units_of_call(&name, &request, &response);
            }
        }
        Ok(())
    }
}

/// The total `CapacityUnits` of a response's `ConsumedCapacity` (one object, or a list of them
/// for batch and transaction calls); `None` when the body reports none.
fn reported_units(body: &Value) -> Option<f64> {
    let units = |c: &Value| c.get("CapacityUnits").and_then(Value::as_f64);
    match body.get("ConsumedCapacity")? {
        Value::Array(list) => {
            let found: Vec<f64> = list.iter().filter_map(units).collect();
            (!found.is_empty()).then(|| found.iter().sum())
        }
        one => units(one),
    }
}

/// A read request unit covers 4 KB of item read strongly consistently; a write request unit
/// 1 KB written (DynamoDB on-demand pricing, "Read request unit" / "Write request unit").
const READ_UNIT_BYTES: f64 = 4096.0;
const WRITE_UNIT_BYTES: f64 = 1024.0;
/// Transactional reads and writes cost twice the standard units.
const TRANSACTIONAL: f64 = 2.0;
/// An eventually consistent read costs half; reads of a global secondary index always are.
const EVENTUALLY_CONSISTENT: f64 = 0.5;
/// The key attributes of the provisioning log's index (`by_resource`, projection ALL): a
/// written item carrying both is written to the index too, one more standard write.
const INDEX_KEYS: [&str; 2] = ["rpk", "rsk"];

/// The sort indexes (`scim_dynamodb::SORT_INDEXES`, projection KEYS_ONLY: an entry is far below
/// 1 KB, one standard write). A put writes one entry per sort key it carries; an update that
/// moves lastModified (every resource write) deletes that index's old entry and writes the new
/// one; the other keys change only with their attribute, which the request does not show (taken
/// as unchanged, the smallest).
fn is_sort_key(attribute: &str) -> bool {
    SORT_INDEXES.iter().any(|i| i.attribute == attribute)
}

fn modified_sort_key() -> &'static str {
    SORT_INDEXES
        .iter()
        .find(|i| i.path == "meta.lastModified")
        .map_or("", |i| i.attribute)
}

/// Standard writes to the sort indexes an update makes.
fn update_sort_writes(update: &Value) -> f64 {
    let expression = update
        .get("UpdateExpression")
        .and_then(Value::as_str)
        .unwrap_or("");
    if expression.contains(&format!("{} =", modified_sort_key())) {
        2.0
    } else {
        0.0
    }
}

/// Standard writes to the sort indexes a delete makes: a resource item leaves each of its
/// kind's indexes.
fn delete_sort_writes(delete: &Value) -> f64 {
    let key = |name: &str| delete.pointer(&format!("/Key/{name}/S")).and_then(Value::as_str);
    match (key("pk"), key("sk")) {
        (Some(pk), Some(sk)) if pk.starts_with("T#") && !sk.starts_with('#') => {
            // One entry per index of its kind; groups have no userName.
            let of_kind = |users: bool| {
                SORT_INDEXES
                    .iter()
                    .filter(|i| users || i.path != "userName")
                    .count() as f64
            };
            if pk.ends_with("#USERS") {
                of_kind(true)
            } else if pk.ends_with("#GROUPS") {
                of_kind(false)
            } else {
                0.0
            }
        }
        _ => 0.0,
    }
}

/// Whole units for `bytes` at `unit_bytes` a unit; a call never costs less than one unit.
fn whole_units(bytes: usize, unit_bytes: f64) -> f64 {
    (bytes as f64 / unit_bytes).ceil().max(1.0)
}

/// DynamoDB's size of an item in its JSON wire form (developer guide, "Item sizes and formats"):
/// each attribute's name in UTF-8 bytes plus its value: strings and binaries their bytes,
/// numbers about one byte per two significant digits plus one, booleans and null one byte,
/// lists and maps 3 bytes plus one per element plus their contents, sets their members.
pub fn item_size(item: &Map<String, Value>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|m| m.iter().next()) else {
        return 0;
    };
    match (kind.as_str(), inner) {
        ("S", Value::String(s)) => s.len(),
        ("N", Value::String(n)) => number_size(n),
        ("B", Value::String(b64)) => base64_decoded_len(b64),
        ("BOOL" | "NULL", _) => 1,
        ("SS", Value::Array(v)) => v.iter().filter_map(Value::as_str).map(str::len).sum(),
        ("NS", Value::Array(v)) => v.iter().filter_map(Value::as_str).map(number_size).sum(),
        ("BS", Value::Array(v)) => v.iter().filter_map(Value::as_str).map(base64_decoded_len).sum(),
        ("L", Value::Array(v)) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        ("M", Value::Object(m)) => 3 + m.iter().map(|(k, e)| 1 + k.len() + value_size(e)).sum::<usize>(),
        _ => 0,
    }
}

fn number_size(n: &str) -> usize {
    let digits = n
        .trim_start_matches(['-', '+'])
        .split(['e', 'E'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1);
    significant.div_ceil(2) + 1
}

fn base64_decoded_len(b64: &str) -> usize {
    let padding = b64.bytes().rev().take_while(|b| *b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(padding)
}

fn object(value: &Value) -> Option<&Map<String, Value>> {
    value.as_object()
}

fn items<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Map<String, Value>> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(object)
}

fn consistency(request: &Value) -> f64 {
    match request.get("ConsistentRead").and_then(Value::as_bool) {
        Some(true) if request.get("IndexName").is_none() => 1.0,
        _ => EVENTUALLY_CONSISTENT,
    }
}

/// An update's item as the request shows it: the key and the values it sets. The item after
/// the update may hold more; every item this table updates is far below 1 KB, where the
/// rounding to whole units makes the difference vanish.
fn update_size(update: &Value) -> usize {
    let key = update.get("Key").and_then(object).map_or(0, item_size);
    let names: usize = update
        .get("ExpressionAttributeNames")
        .and_then(object)
        .map_or(0, |m| m.values().filter_map(Value::as_str).map(str::len).sum());
    let values: usize = update
        .get("ExpressionAttributeValues")
        .and_then(object)
        .map_or(0, |m| m.values().map(value_size).sum());
    key + names + values
}

/// The standard write units of putting `item`, including its copy in the index.
fn put_units(item: &Map<String, Value>, factor: f64) -> f64 {
    let size = item_size(item);
    let index = if INDEX_KEYS.iter().all(|k| item.contains_key(*k)) {
        whole_units(size, WRITE_UNIT_BYTES)
    } else {
        0.0
    };
    let sorted = item.keys().filter(|k| is_sort_key(k)).count() as f64;
    factor * whole_units(size, WRITE_UNIT_BYTES) + index + sorted
}

/// DynamoDB's on-demand accounting of one successful call, from its request and response
/// bodies (DynamoDB on-demand pricing: read and write request units; developer guide,
/// "Capacity unit consumption"). What the bodies cannot show is taken at its smallest:
/// a query's items filtered out after the read, an item's size before a write that shrank it,
/// the size of a deleted item (one unit).
pub fn units_of_call(operation: &str, request: &Value, response: &Value) -> RequestUnits {
    let read = |units: f64| RequestUnits {
        read: units,
        write: 0.0,
    };
    let write = |units: f64| RequestUnits {
        read: 0.0,
        write: units,
    };
    match operation {
        "GetItem" => {
            let size = response.get("Item").and_then(object).map_or(0, item_size);
            read(whole_units(size, READ_UNIT_BYTES) * consistency(request))
        }
        // A query or scan is charged for the items it read together, rounded up once.
        "Query" | "Scan" => {
            let size: usize = items(response, "Items").map(item_size).sum();
            read(whole_units(size, READ_UNIT_BYTES) * consistency(request))
        }
        // A batch is charged item by item; a key that found nothing still costs a unit.
        "BatchGetItem" => {
            let mut units = 0.0;
            let asked = request.get("RequestItems").and_then(object).into_iter().flatten();
            for (table, asked) in asked {
                let keys = asked.get("Keys").and_then(Value::as_array).map_or(0, Vec::len);
                let found: Vec<usize> = response
                    .get("Responses")
                    .and_then(|r| r.get(table))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(object)
                    .map(item_size)
                    .collect();
                let unprocessed = response
                    .get("UnprocessedKeys")
                    .and_then(|u| u.get(table))
                    .and_then(|u| u.get("Keys"))
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let missing = keys.saturating_sub(found.len() + unprocessed);
                let per_item: f64 = found.iter().map(|s| whole_units(*s, READ_UNIT_BYTES)).sum();
                units += (per_item + missing as f64) * consistency(asked);
            }
            read(units)
        }
        "TransactGetItems" => {
            let units: f64 = items(response, "Responses")
                .map(|r| r.get("Item").and_then(object).map_or(0, item_size))
                .map(|size| TRANSACTIONAL * whole_units(size, READ_UNIT_BYTES))
                .sum();
            read(units)
        }
        "PutItem" => write(
            request
                .get("Item")
                .and_then(object)
                .map_or(1.0, |i| put_units(i, 1.0)),
        ),
        "UpdateItem" => {
            write(whole_units(update_size(request), WRITE_UNIT_BYTES) + update_sort_writes(request))
        }
        "DeleteItem" => write(1.0 + delete_sort_writes(request)),
        "BatchWriteItem" => {
            let units: f64 = request
                .get("RequestItems")
                .and_then(object)
                .into_iter()
                .flat_map(|tables| tables.values())
                .filter_map(Value::as_array)
                .flatten()
                .map(
                    |w| match w.get("PutRequest").and_then(|p| p.get("Item")).and_then(object) {
                        Some(item) => put_units(item, 1.0),
                        None => 1.0,
                    },
                )
                .sum();
            write(units)
        }
        // Every action of a transaction, a condition check included, is a transactional write.
        "TransactWriteItems" => {
            let units: f64 = items(request, "TransactItems")
                .map(|action| {
                    if let Some(item) = action.get("Put").and_then(|p| p.get("Item")).and_then(object) {
                        put_units(item, TRANSACTIONAL)
                    } else if let Some(update) = action.get("Update") {
                        TRANSACTIONAL * whole_units(update_size(update), WRITE_UNIT_BYTES)
                            + update_sort_writes(update)
                    } else if let Some(delete) = action.get("Delete") {
                        TRANSACTIONAL + delete_sort_writes(delete)
                    } else {
                        TRANSACTIONAL
                    }
                })
                .sum();
            write(units)
        }
        _ => RequestUnits::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_reported_objects_and_lists() {
        assert_eq!(reported_units(&json!({"Item": {}})), None);
        assert_eq!(reported_units(&json!({"ConsumedCapacity": []})), None);
        assert_eq!(
            reported_units(&json!({"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}})),
            Some(0.5)
        );
        assert_eq!(
            reported_units(&json!({"ConsumedCapacity": [{"CapacityUnits": 2}, {"CapacityUnits": 1.5}]})),
            Some(3.5)
        );
    }

    #[test]
    fn sizes_items_as_dynamodb_does() {
        let item = json!({
            "pk": {"S": "T#a"},                    // 2 + 3
            "n": {"N": "12345"},                   // 1 + 4 (5 digits: 3 bytes, plus 1)
            "b": {"BOOL": true},                   // 1 + 1
            "m": {"M": {"k": {"S": "vv"}}},        // 1 + 3 + (1 + 1 + 2)
            "l": {"L": [{"NULL": true}]},          // 1 + 3 + (1 + 1)
            "bin": {"B": "AAEC"}                   // 3 + 3
        });
        assert_eq!(item_size(item.as_object().unwrap()), 5 + 5 + 2 + 8 + 6 + 6);
        assert_eq!(number_size("100"), 2);
        assert_eq!(number_size("-0.00125"), 3);
    }

    fn item_of(bytes: usize) -> Value {
        json!({"pk": {"S": "x".repeat(bytes - 2)}})
    }

    #[test]
    fn reads_round_up_to_4_kb_and_halve_when_eventually_consistent() {
        let strong = json!({"ConsistentRead": true});
        let got = |req: &Value, size| units_of_call("GetItem", req, &json!({"Item": item_of(size)})).read;
        assert_eq!(got(&strong, 100), 1.0);
        assert_eq!(got(&strong, 4097), 2.0);
        assert_eq!(got(&json!({}), 4097), 1.0);
        // A missing item still costs the minimum.
        assert_eq!(units_of_call("GetItem", &strong, &json!({})).read, 1.0);
        // A query sums its items before rounding; an index query is eventually consistent.
        let page = json!({"Items": [item_of(3000), item_of(3000)]});
        assert_eq!(units_of_call("Query", &strong, &page).read, 2.0);
        let on_index = json!({"ConsistentRead": true, "IndexName": "by_resource"});
        assert_eq!(units_of_call("Query", &on_index, &page).read, 1.0);
    }

    #[test]
    fn batch_gets_round_each_item_and_charge_missing_keys() {
        let request = json!({"RequestItems": {"t": {"ConsistentRead": true, "Keys": [{}, {}, {}]}}});
        let response = json!({"Responses": {"t": [item_of(100), item_of(5000)]}});
        assert_eq!(
            units_of_call("BatchGetItem", &request, &response).read,
            1.0 + 2.0 + 1.0
        );
    }

    #[test]
    fn writes_round_up_to_1_kb_double_in_transactions_and_add_the_index_copy() {
        let put = json!({"Item": item_of(1500)});
        assert_eq!(units_of_call("PutItem", &put, &json!({})).write, 2.0);
        let logged = json!({"Item": {"pk": {"S": "L#"}, "rpk": {"S": "a"}, "rsk": {"S": "b"}}});
        assert_eq!(units_of_call("PutItem", &logged, &json!({})).write, 2.0);
        let transaction = json!({"TransactItems": [
            {"Put": {"Item": item_of(1500)}},
            {"Update": {"Key": {"pk": {"S": "g"}}, "ExpressionAttributeValues": {":v": {"N": "2"}}}},
            {"ConditionCheck": {"Key": {"pk": {"S": "u"}}}},
            {"Delete": {"Key": {"pk": {"S": "d"}}}}
        ]});
        assert_eq!(
            units_of_call("TransactWriteItems", &transaction, &json!({})).write,
            4.0 + 2.0 + 2.0 + 2.0
        );
        assert_eq!(units_of_call("DeleteItem", &json!({}), &json!({})).write, 1.0);
        // The sort indexes: an entry per key a put carries; an update moving lastModified
        // replaces its entry; a deleted user leaves its five indexes (index writes are standard).
        let user = json!({"Item": {"pk": {"S": "T#t#USERS"}, "sk": {"S": "id"},
                                   "ord_un": {"S": "1a"}, "ord_c": {"S": "1b"}, "ord_m": {"S": "1c"}}});
        assert_eq!(units_of_call("PutItem", &user, &json!({})).write, 1.0 + 3.0);
        let update =
            json!({"Key": {"pk": {"S": "T#t#USERS"}}, "UpdateExpression": "SET a = :a, m = :m, ord_m = :o0"});
        assert_eq!(units_of_call("UpdateItem", &update, &json!({})).write, 1.0 + 2.0);
        let delete = json!({"TransactItems": [{"Delete": {"Key": {"pk": {"S": "T#t#USERS"}, "sk": {"S": "id"}}}},
                                              {"Delete": {"Key": {"pk": {"S": "T#t#GROUPS"}, "sk": {"S": "id"}}}},
                                              {"Delete": {"Key": {"pk": {"S": "T#t#USERS"}, "sk": {"S": "#N#01"}}}}]});
        assert_eq!(
            units_of_call("TransactWriteItems", &delete, &json!({})).write,
            (2.0 + 5.0) + (2.0 + 4.0) + 2.0
        );
        assert_eq!(
            units_of_call("ListTables", &json!({}), &json!({})),
            RequestUnits::default()
        );
    }
}
