//! `create_table`, as `scimctl table create` runs it: keys, billing, recovery, idempotence.

#![allow(clippy::unwrap_used)]

use crate::common;
use aws_sdk_dynamodb::types::{
    BillingMode, IndexStatus, KeyType, PointInTimeRecoveryStatus, ProjectionType, StreamViewType,
    TableDescription, TimeToLiveStatus,
};
use scim_dynamodb::{create_table, CallCounter, TableCreated, LOG_INDEX, PK, SK};

/// The table's one index, the provisioning log by resource: `rpk`/`rsk`, everything projected,
/// active.
fn assert_log_index(t: &TableDescription) {
    let indexes = t.global_secondary_indexes();
    assert_eq!(indexes.len(), 1, "{indexes:?}");
    let index = &indexes[0];
    assert_eq!(index.index_name(), Some(LOG_INDEX));
    let keys: Vec<(&str, &KeyType)> = index
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    assert_eq!(keys, vec![("rpk", &KeyType::Hash), ("rsk", &KeyType::Range)]);
    assert_eq!(
        index.projection().and_then(|p| p.projection_type()),
        Some(&ProjectionType::All)
    );
    assert_eq!(index.index_status(), Some(&IndexStatus::Active));
}

#[tokio::test]
async fn creates_the_table_once_with_its_keys_and_recovery() {
    let client = common::client(&CallCounter::default());
    let name = scim_testkit::unique_name("table");
    assert_eq!(create_table(&client, &name).await.unwrap(), TableCreated::Created);
    assert_eq!(
        create_table(&client, &name).await.unwrap(),
        TableCreated::AlreadyExisted
    );
    let d = client.describe_table().table_name(&name).send().await.unwrap();
    let t = d.table().unwrap();
    let keys: Vec<(String, KeyType)> = t
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_string(), k.key_type().clone()))
        .collect();
    assert_eq!(
        keys,
        vec![(PK.into(), KeyType::Hash), (SK.into(), KeyType::Range)]
    );
    assert_eq!(
        t.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    assert_log_index(t);
    let stream = t.stream_specification().unwrap();
    assert!(stream.stream_enabled());
    assert_eq!(stream.stream_view_type(), Some(&StreamViewType::NewAndOldImages));
    let backups = client
        .describe_continuous_backups()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let pitr = backups
        .continuous_backups_description()
        .and_then(|c| c.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status());
    assert_eq!(pitr, Some(&PointInTimeRecoveryStatus::Enabled));
    // Soft-deleted users are purged by TTL on `ttl`.
    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
}

/// A table made before change events and the provisioning log gets its stream and its index
/// from `create_table`.
#[tokio::test]
async fn an_existing_table_without_a_stream_or_index_gets_them() {
    let client = common::client(&CallCounter::default());
    let name = scim_testkit::unique_name("table");
    let key = |n: &str, t| {
        aws_sdk_dynamodb::types::KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let attr = |n: &str| {
        aws_sdk_dynamodb::types::AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&name)
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .attribute_definitions(attr(PK))
        .attribute_definitions(attr(SK))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    assert_eq!(
        create_table(&client, &name).await.unwrap(),
        TableCreated::AlreadyExisted
    );
    let d = client.describe_table().table_name(&name).send().await.unwrap();
    let t = d.table().unwrap();
    let stream = t.stream_specification().unwrap();
    assert!(stream.stream_enabled());
    assert_eq!(stream.stream_view_type(), Some(&StreamViewType::NewAndOldImages));
    assert_log_index(t);
}

/// The SAM template declares the table the store reads: the same key attribute names, and the
/// same index.
#[test]
fn the_sam_template_declares_the_same_keys() {
    let template = std::fs::read_to_string(scim_testkit::repo_root().join("template.yaml")).unwrap();
    let table = template
        .split("ScimTable:")
        .nth(1)
        .expect("template.yaml declares ScimTable");
    let names: Vec<&str> = table
        .lines()
        .take_while(|l| !l.trim_start().starts_with("PointInTimeRecoverySpecification"))
        .filter_map(|l| l.trim().strip_prefix("- AttributeName:"))
        .map(str::trim)
        .collect();
    assert_eq!(
        names,
        vec![PK, SK, "rpk", "rsk", PK, SK, "rpk", "rsk"],
        "AttributeDefinitions, KeySchema, then the index's KeySchema"
    );
    assert!(table.contains(&format!("IndexName: {LOG_INDEX}")));
}
