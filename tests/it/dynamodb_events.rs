//! Change events on DynamoDB, end to end on moto: the provisioning sequence of
//! `scim_blackbox::events` runs over HTTP on a table with a stream; the stream's records, read
//! with the DynamoDB Streams API and shaped as the Lambda event that carries them, go through
//! the stream processor to an EventBridge bus, whose rule delivers to an SQS queue. Exactly the
//! expected events arrive, none for the failed writes, in order per item.

#![allow(clippy::unwrap_used)]

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use scim_blackbox::events::{assert_events, provisioning_sequence};
use scim_blackbox::{Backend, Server};
use scim_dynamodb::stream::{self, EventBridge, StreamEvent};
use scim_store::events::ChangeEvent;
use serde_json::{json, Value};
use std::collections::HashMap;

async fn sdk() -> SdkConfig {
    scim_aws::defaults()
        .endpoint_url(&scim_testkit::moto().endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await
}

/// An item of the Streams API in the DynamoDB JSON of a Lambda event.
fn image(item: Option<&HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>>) -> Value {
    item.map_or(Value::Null, |i| {
        serde_json::to_value(serde_dynamo::Item::from(i.clone())).unwrap()
    })
}

/// Every record of the table's stream, oldest first, as the records of a Lambda event.
async fn stream_records(sdk: &SdkConfig, table: &str) -> Vec<Value> {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
    let d = dynamodb.describe_table().table_name(table).send().await.unwrap();
    let arn = d.table().and_then(|t| t.latest_stream_arn()).unwrap().to_string();
    let described = streams.describe_stream().stream_arn(&arn).send().await.unwrap();
    let shards = described.stream_description().unwrap().shards().to_vec();
    let mut out = Vec::new();
    for shard in shards {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator()
            .map(str::to_string);
        while let Some(it) = iterator {
            let page = streams.get_records().shard_iterator(it).send().await.unwrap();
            if page.records().is_empty() {
                break;
            }
            for r in page.records() {
                let c = r.dynamodb().unwrap();
                out.push(json!({
                    "eventID": r.event_id(),
                    "eventName": r.event_name().unwrap().as_str(),
                    "eventSource": "aws:dynamodb",
                    "awsRegion": "us-east-1",
                    "dynamodb": {
                        "ApproximateCreationDateTime": c.approximate_creation_date_time().unwrap().secs(),
                        "Keys": image(c.keys()),
                        "NewImage": image(c.new_image()),
                        "OldImage": image(c.old_image()),
                        "SequenceNumber": c.sequence_number(),
                        "SizeBytes": c.size_bytes().unwrap_or(0),
                        "StreamViewType": "NEW_AND_OLD_IMAGES"
                    }
                }));
            }
            iterator = page.next_shard_iterator().map(str::to_string);
        }
    }
    out
}

#[tokio::test]
async fn stream_records_become_exactly_the_expected_events_on_eventbridge() {
    let sdk = sdk().await;
    let table = scim_testkit::unique_name("events");
    // The table as deployed, with its stream; the server then uses it as it is.
    scim_dynamodb::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
        .await
        .unwrap();
    let s = Server::start_on(Backend::DynamoDb, &[("SCIM_TABLE", &table)]).await;
    let want = provisioning_sequence(&s).await;

    // The bus, and a rule delivering every scim event to a queue.
    let bridge = aws_sdk_eventbridge::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let bus = scim_testkit::unique_name("scim-events");
    bridge.create_event_bus().name(&bus).send().await.unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(scim_testkit::unique_name("subscriber"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap()
        .clone();
    bridge
        .put_rule()
        .name("all-scim")
        .event_bus_name(&bus)
        .event_pattern(json!({"source": [stream::EVENT_SOURCE]}).to_string())
        .send()
        .await
        .unwrap();
    bridge
        .put_targets()
        .rule("all-scim")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // One Lambda batch of every stream record, through the processor.
    let records = stream_records(&sdk, &table).await;
    assert!(
        records.len() > want.len(),
        "counters and index items are in the stream too"
    );
    let event: StreamEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    // In stream order, exactly the expected events, in order per item.
    let derived: Vec<ChangeEvent> = event
        .records
        .iter()
        .filter_map(|r| stream::event_of(r).unwrap())
        .collect();
    assert_events(&derived, &want);
    let response = stream::process(&event, &EventBridge::new(bridge.clone(), &bus)).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    // Each arrived at the subscriber once, as the documented EventBridge event.
    let mut delivered: Vec<ChangeEvent> = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            break;
        }
        for m in got.messages() {
            let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!(envelope["source"], "scim");
            assert_eq!(envelope["detail-type"], envelope["detail"]["type"]);
            delivered.push(serde_json::from_value(envelope["detail"].clone()).unwrap());
            sqs.delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    let key = |e: &ChangeEvent| e.id.clone();
    let mut sent: Vec<ChangeEvent> = derived.clone();
    sent.sort_by_key(key);
    delivered.sort_by_key(key);
    assert_eq!(delivered, sent);

    // Lambda delivering the batch again produces the same event ids: consumers deduplicate.
    let again: Vec<String> = event
        .records
        .iter()
        .filter_map(|r| stream::event_of(r).unwrap())
        .map(|e| e.id)
        .collect();
    assert_eq!(again, derived.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
}
