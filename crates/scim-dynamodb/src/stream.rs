//! The change-event stream processor: DynamoDB Streams records of the table (new and old images)
//! become change events ([`scim_store::events`], the same function the embedded store uses), which
//! go to an EventBridge bus. The `scim-lambda` binary runs it under Lambda when
//! `SCIM_FUNCTION=events`.
//!
//! One stream record is one item change: a user or group item (INSERT created, REMOVE deleted,
//! MODIFY whatever changed in the attributes) or a membership item (INSERT added, REMOVE removed).
//! Counters, index entries and every other item (the provisioning log and token uses, `L#`, too)
//! make no event, nor does a MODIFY that only moved a membership counter or a user's copy of
//! its groups.
//!
//! Delivery is at least once, in stream order: records are published in order, and at the first
//! record that cannot be decoded or whose event EventBridge refuses, publishing stops and that
//! record is reported as the batch item failure (`ReportBatchItemFailures`), so Lambda retries
//! from it. Events of the same batch already accepted after it are sent again then; consumers
//! deduplicate by the event id, which is the same on every delivery.

use crate::keys::{self, ItemKey};
use crate::record::{attr, get_s, origin, parse_kind, Item, Rec};
pub use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
pub use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use scim_store::events::{event_for, ChangeEvent, ItemChange, Lifecycle, MembershipChange, ResourceState};
use scim_store::{ResourceKind, StoreError, TenantId};
use std::collections::HashMap;
use std::future::Future;

/// Most entries one PutEvents call takes.
pub const MAX_PUT_EVENTS: usize = 10;
/// The EventBridge `source` of every event.
pub const EVENT_SOURCE: &str = "scim";

/// The tenant and item change a stream record describes; `None` for items that are neither
/// resources nor memberships. An error for a record that names a resource but cannot be read (an
/// image missing because the stream does not carry NEW_AND_OLD_IMAGES, a malformed item).
pub fn item_change(record: &EventRecord) -> Result<Option<(TenantId, ItemChange)>, StoreError> {
    let image =
        |i: &serde_dynamo::Item| -> Option<Item> { (!i.is_empty()).then(|| HashMap::from(i.clone())) };
    let keys: Item = HashMap::from(record.change.keys.clone());
    let (Some(pk), Some(sk)) = (get_s(&keys, keys::PK), get_s(&keys, keys::SK)) else {
        return Ok(None);
    };
    let Some(key) = keys::parse(pk, sk) else {
        return Ok(None);
    };
    let (old, new) = (image(&record.change.old_image), image(&record.change.new_image));
    let missing = match record.event_name.as_str() {
        "INSERT" => new.is_none(),
        "MODIFY" => old.is_none() || new.is_none(),
        "REMOVE" => old.is_none(),
        _ => true,
    };
    if missing {
        return Err(StoreError::Unavailable(format!(
            "stream record {} ({}) lacks an image: the table's stream must be NEW_AND_OLD_IMAGES",
            record.event_id, record.event_name
        )));
    }
    let time = commit_time(record);
    let change = match key {
        ItemKey::Resource { tenant, kind, id } => {
            let state = |i: &Option<Item>| -> Result<_, StoreError> {
                i.as_ref()
                    .map(|i| Rec::from_item(kind, i).map(|r| r.state()))
                    .transpose()
            };
            let (mut old_state, mut new_state) = (state(&old)?, state(&new)?);
            // A user item that comes or goes is not always a create or a hard delete: the item
            // says when it is a restore, an adoption (INSERT) or a soft delete (REMOVE).
            match (&old, &new_state, &mut old_state) {
                (None, Some(n), None) => {
                    let from = match new.as_ref().and_then(|i| get_s(i, attr::ORIGIN)) {
                        Some(origin::RESTORED) => Some(Lifecycle::SoftDeleted),
                        Some(origin::ADOPTED) => Some(Lifecycle::Unmanaged),
                        _ => None,
                    };
                    old_state = from.map(|lifecycle| ResourceState {
                        lifecycle,
                        ..n.clone()
                    });
                }
                (Some(item), None, Some(o)) if item.contains_key(attr::SOFT_DELETING) => {
                    new_state = Some(ResourceState {
                        lifecycle: Lifecycle::SoftDeleted,
                        last_modified: time.clone(),
                        ..o.clone()
                    });
                }
                _ => {}
            }
            let change = ItemChange::Resource {
                kind,
                id,
                old: old_state,
                new: new_state,
                time,
            };
            (tenant, change)
        }
        ItemKey::Membership {
            tenant,
            group_id,
            member_id,
        } => {
            let change = match (&old, &new) {
                (None, Some(_)) => MembershipChange::Added,
                (Some(_), None) => MembershipChange::Removed,
                // Rewritten in place: still a member, nothing happened.
                _ => return Ok(None),
            };
            let member_kind = old
                .iter()
                .chain(new.iter())
                .find_map(|i| get_s(i, attr::KIND).and_then(parse_kind))
                .unwrap_or(ResourceKind::User);
            let change = ItemChange::Membership {
                group_id,
                member_id,
                member_kind,
                change,
                time,
                // Unique per stream record and the same when Lambda delivers it again.
                revision: record
                    .change
                    .sequence_number
                    .clone()
                    .unwrap_or_else(|| record.event_id.clone()),
            };
            (tenant, change)
        }
    };
    Ok(Some(change))
}

/// When the stream record was written (DynamoDB gives it to the second), as the stores write
/// timestamps.
fn commit_time(record: &EventRecord) -> String {
    let millis = i128::from(record.change.approximate_creation_date_time.timestamp_millis());
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    scim_store::timestamp(t)
}

/// The event of one stream record, if it makes one.
pub fn event_of(record: &EventRecord) -> Result<Option<ChangeEvent>, StoreError> {
    Ok(item_change(record)?.and_then(|(tenant, change)| event_for(&tenant, &change)))
}

/// Where events go: EventBridge in production ([`EventBridge`]).
pub trait Publish: Send + Sync {
    /// Sends at most [`MAX_PUT_EVENTS`] events; for each, whether it was accepted. An error when
    /// the call as a whole failed (then none counts as accepted).
    fn put(&self, events: &[ChangeEvent]) -> impl Future<Output = Result<Vec<bool>, String>> + Send;
}

/// An EventBridge bus: one PutEvents call per [`Publish::put`], `source` [`EVENT_SOURCE`],
/// `detail-type` the event type, `detail` the event's JSON.
#[derive(Debug, Clone)]
pub struct EventBridge {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridge {
    /// `bus` is the bus name or ARN.
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> EventBridge {
        EventBridge {
            client,
            bus: bus.into(),
        }
    }

    /// A client on the process's shared AWS configuration.
    pub async fn from_aws(aws: &scim_aws::Aws, bus: impl Into<String>) -> EventBridge {
        EventBridge::new(aws_sdk_eventbridge::Client::new(aws.config().await), bus)
    }
}

impl Publish for EventBridge {
    async fn put(&self, events: &[ChangeEvent]) -> Result<Vec<bool>, String> {
        let mut entries = Vec::with_capacity(events.len());
        for e in events {
            let detail = serde_json::to_string(e).map_err(|err| err.to_string())?;
            let time = aws_sdk_eventbridge::primitives::DateTime::from_str(
                &e.time,
                aws_sdk_eventbridge::primitives::DateTimeFormat::DateTime,
            )
            .ok();
            entries.push(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(EVENT_SOURCE)
                    .detail_type(e.event_type.as_str())
                    .detail(detail)
                    .set_time(time)
                    .build(),
            );
        }
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "PutEvents: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(e)
                )
            })?;
        let results = out.entries();
        Ok((0..events.len())
            .map(|i| {
                results
                    .get(i)
                    .is_some_and(|r| r.error_code().is_none() && r.event_id().is_some())
            })
            .collect())
    }
}

/// Processes one Lambda batch of stream records: their events go to `publisher` in order, in
/// calls of at most [`MAX_PUT_EVENTS`]. The answer names the first record that failed (decoding
/// or publishing), from which Lambda retries; nothing after it is published.
pub async fn process(event: &StreamEvent, publisher: &impl Publish) -> DynamoDbEventResponse {
    let mut failed: Option<usize> = None;
    // (record index, event) for the records before the first undecodable one.
    let mut pending: Vec<(usize, ChangeEvent)> = Vec::new();
    for (i, record) in event.records.iter().enumerate() {
        match event_of(record) {
            Ok(Some(e)) => pending.push((i, e)),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(event_id = %record.event_id, error = %e, "cannot read a stream record");
                failed = Some(i);
                break;
            }
        }
    }
    for chunk in pending.chunks(MAX_PUT_EVENTS) {
        let events: Vec<ChangeEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
        let first_refused = match publisher.put(&events).await {
            Ok(accepted) => accepted.iter().position(|ok| !ok),
            Err(e) => {
                tracing::error!(error = %e, "publishing change events failed");
                Some(0)
            }
        };
        if let Some(j) = first_refused {
            let i = chunk.get(j).map_or(0, |(i, _)| *i);
            tracing::warn!(
                event_id = %event.records.get(i).map_or("", |r| r.event_id.as_str()),
                "a change event was not accepted; the batch is retried from its record"
            );
            failed = Some(failed.map_or(i, |f| f.min(i)));
            break;
        }
    }
    let mut response = DynamoDbEventResponse::default();
    if let Some(i) = failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        // Lambda retries from this sequence number; without one it retries the whole batch.
        failure.item_identifier = event
            .records
            .get(i)
            .and_then(|r| r.change.sequence_number.clone());
        response.batch_item_failures.push(failure);
    }
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use scim_store::events::EventType;
    use serde_json::{json, Value};
    use std::sync::Mutex;

    /// A stream record as Lambda delivers it.
    fn record(seq: u32, name: &str, pk: &str, sk: &str, old: Option<Value>, new: Option<Value>) -> Value {
        let mut change = json!({
            "ApproximateCreationDateTime": 1_700_000_000 + seq,
            "Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
            "SequenceNumber": format!("{seq:021}"),
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        });
        for (k, v) in [("OldImage", old), ("NewImage", new)] {
            if let Some(mut v) = v {
                v["pk"] = json!({"S": pk});
                v["sk"] = json!({"S": sk});
                change[k] = v;
            }
        }
        json!({"eventID": format!("e{seq}"), "eventName": name, "eventSource": "aws:dynamodb",
               "awsRegion": "us-east-1", "dynamodb": change})
    }

    fn user(v: u32, attrs: Value) -> Value {
        json!({"v": {"N": v.to_string()}, "mv": {"N": "0"}, "c": {"S": "2024-01-01T00:00:00.000Z"},
               "m": {"S": format!("2024-01-01T00:00:0{v}.000Z")}, "a": {"S": attrs.to_string()},
               "g": {"M": {}}})
    }

    const USERS: &str = "T#t#USERS";

    /// A bus that accepts the first `accept` events it is given, then refuses all.
    struct Bus {
        accept: usize,
        got: Mutex<Vec<Vec<ChangeEvent>>>,
    }

    impl Publish for Bus {
        async fn put(&self, events: &[ChangeEvent]) -> Result<Vec<bool>, String> {
            let mut got = self.got.lock().unwrap();
            let before: usize = got.iter().map(Vec::len).sum();
            got.push(events.to_vec());
            Ok((0..events.len()).map(|i| before + i < self.accept).collect())
        }
    }

    fn bus(accept: usize) -> Bus {
        Bus {
            accept,
            got: Mutex::new(Vec::new()),
        }
    }

    fn batch(records: Vec<Value>) -> StreamEvent {
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    #[tokio::test]
    async fn resources_and_memberships_make_events_and_other_items_none() {
        let ev = batch(vec![
            record(
                1,
                "INSERT",
                USERS,
                "u1",
                None,
                Some(user(1, json!({"userName": "a"}))),
            ),
            record(
                2,
                "INSERT",
                "T#t#USERS",
                "#N#03",
                None,
                Some(json!({"n": {"N": "1"}})),
            ),
            record(
                3,
                "INSERT",
                "T#t#X#User#userName#a",
                "#",
                None,
                Some(json!({"id": {"S": "u1"}})),
            ),
            // Only the user's copy of its groups changed: no event.
            record(
                4,
                "MODIFY",
                USERS,
                "u1",
                Some(user(1, json!({"userName": "a"}))),
                Some({
                    let mut u = user(1, json!({"userName": "a"}));
                    u["g"] = json!({"M": {"g1": {"S": "G"}}});
                    u
                }),
            ),
            record(
                5,
                "INSERT",
                "T#t#M#g1",
                "u1",
                None,
                Some(json!({"k": {"S": "User"}})),
            ),
            record(
                6,
                "MODIFY",
                USERS,
                "u1",
                Some(user(1, json!({"userName": "a"}))),
                Some(user(2, json!({"userName": "a", "active": false}))),
            ),
            record(
                7,
                "REMOVE",
                "T#t#M#g1",
                "u1",
                Some(json!({"k": {"S": "User"}})),
                None,
            ),
            record(
                8,
                "REMOVE",
                USERS,
                "u1",
                Some(user(2, json!({"userName": "a"}))),
                None,
            ),
        ]);
        let b = bus(100);
        let response = process(&ev, &b).await;
        assert!(response.batch_item_failures.is_empty());
        let got = b.got.lock().unwrap().concat();
        let summary: Vec<_> = got
            .iter()
            .map(|e| {
                (
                    e.event_type,
                    e.resource_id.as_str(),
                    e.member_id.as_deref(),
                    e.time.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (EventType::UserCreated, "u1", None, "2024-01-01T00:00:01.000Z"),
                (
                    EventType::GroupMemberAdded,
                    "g1",
                    Some("u1"),
                    "2023-11-14T22:13:25.000Z"
                ),
                (EventType::UserDeactivated, "u1", None, "2024-01-01T00:00:02.000Z"),
                (
                    EventType::GroupMemberRemoved,
                    "g1",
                    Some("u1"),
                    "2023-11-14T22:13:27.000Z"
                ),
                (EventType::UserDeleted, "u1", None, "2023-11-14T22:13:28.000Z"),
            ]
        );
        assert_eq!(got[1].member_type.as_deref(), Some("User"));
        // Delivered again, the same ids.
        let again = bus(100);
        process(&ev, &again).await;
        assert_eq!(again.got.lock().unwrap().concat(), got);
    }

    #[tokio::test]
    async fn events_go_ten_per_call_and_a_refusal_is_retried_from_its_record() {
        let records: Vec<Value> = (1..=25)
            .map(|i| {
                record(
                    i,
                    "INSERT",
                    USERS,
                    &format!("u{i:02}"),
                    None,
                    Some(user(1, json!({"userName": i}))),
                )
            })
            .collect();
        let ev = batch(records);
        let all = bus(100);
        assert!(process(&ev, &all).await.batch_item_failures.is_empty());
        let sizes: Vec<usize> = all.got.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);

        // The 13th event is refused: the answer names its record, and nothing after its call is sent.
        let some = bus(12);
        let response = process(&ev, &some).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed, [Some(format!("{:021}", 13))]);
        assert_eq!(some.got.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn an_unreadable_record_stops_the_batch_there() {
        let ev = batch(vec![
            record(
                1,
                "INSERT",
                USERS,
                "u1",
                None,
                Some(user(1, json!({"userName": "a"}))),
            ),
            // A MODIFY without its old image: the stream is not NEW_AND_OLD_IMAGES.
            record(
                2,
                "MODIFY",
                USERS,
                "u1",
                None,
                Some(user(2, json!({"userName": "b"}))),
            ),
            record(
                3,
                "INSERT",
                USERS,
                "u3",
                None,
                Some(user(1, json!({"userName": "c"}))),
            ),
        ]);
        let b = bus(100);
        let response = process(&ev, &b).await;
        assert_eq!(
            response.batch_item_failures[0].item_identifier,
            Some(format!("{:021}", 2))
        );
        let sent: Vec<String> = b
            .got
            .lock()
            .unwrap()
            .concat()
            .into_iter()
            .map(|e| e.resource_id)
            .collect();
        assert_eq!(sent, ["u1"]);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": format!("{:021}", 2)}]})
        );
    }

    /// Operator records (`L#`: the provisioning log, token uses) are no resource: their writes,
    /// rewrites and TTL removals make no event, even when the stream filter lets them through, and
    /// even without the images a resource record needs.
    #[tokio::test]
    async fn log_records_and_token_uses_make_no_event() {
        let tenant = TenantId::new("t").unwrap();
        let (log, log_errors, tokens) = (
            keys::log(&tenant, false),
            keys::log(&tenant, true),
            keys::token_uses(&tenant),
        );
        let sk = keys::log_sk("2026-12-06T05:00:00.000Z", "req-1");
        let log_item = json!({"r": {"S": json!({"operation": "Users.create"}).to_string()},
                              "ttl": {"N": "1800000000"}, "st": {"N": "201"}, "tk": {"S": "tok-a"},
                              "rpk": {"S": keys::log_resource(&tenant, "u1")}, "rsk": {"S": sk.clone()}});
        let used = |at: &str| json!({"lu": {"S": at}, "cl": {"S": "203.0.113.9"}});
        let ev = batch(vec![
            record(1, "INSERT", &log, &sk, None, Some(log_item.clone())),
            record(2, "INSERT", &log_errors, &sk, None, Some(log_item.clone())),
            record(
                3,
                "INSERT",
                &tokens,
                "tok-a",
                None,
                Some(used("2026-12-06T05:00:00.000Z")),
            ),
            record(
                4,
                "MODIFY",
                &tokens,
                "tok-a",
                Some(used("2026-12-06T05:00:00.000Z")),
                Some(used("2026-12-06T05:01:00.000Z")),
            ),
            // TTL's removal of an expired record.
            record(5, "REMOVE", &log, &sk, Some(log_item), None),
            record(6, "REMOVE", &log_errors, &sk, None, None),
        ]);
        for r in &ev.records {
            assert!(item_change(r).unwrap().is_none(), "{}", r.event_id);
        }
        let b = bus(100);
        let response = process(&ev, &b).await;
        assert!(response.batch_item_failures.is_empty());
        assert!(b.got.lock().unwrap().concat().is_empty());
    }
}
