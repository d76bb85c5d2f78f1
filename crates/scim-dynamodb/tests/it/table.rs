//! `create_table`, as `scimctl table create` runs it: keys, billing, recovery, idempotence.

#![allow(clippy::unwrap_used)]

use crate::common;
use aws_sdk_dynamodb::types::{
    BillingMode, IndexStatus, KeyType, PointInTimeRecoveryStatus, ProjectionType, StreamViewType,
    TableDescription, TimeToLiveStatus,
};
use scim_dynamodb::{create_table, CallCounter, TableCreated, LOG_INDEX, PK, SK, SORT_INDEXES};
use scim_proto::sort::SortBy;
use scim_proto::SchemaRegistry;
use scim_store::prelude::*;
use scim_store::{Include, MemberChange, Paging, Query, ResourceKind, TenantId};
use serde_json::json;

/// The table's indexes, all active: the provisioning log by resource (`rpk`/`rsk`, everything
/// projected) and one sort index per [`SORT_INDEXES`] entry (`pk`/`ord_*`, keys only).
fn assert_indexes(t: &TableDescription) {
    let mut expected = vec![(LOG_INDEX, "rpk", "rsk", ProjectionType::All)];
    expected.extend(
        SORT_INDEXES
            .iter()
            .map(|i| (i.index, PK, i.attribute, ProjectionType::KeysOnly)),
    );
    let indexes = t.global_secondary_indexes();
    assert_eq!(indexes.len(), expected.len(), "{indexes:?}");
    for (name, hash, range, projection) in expected {
        let index = indexes
            .iter()
            .find(|i| i.index_name() == Some(name))
            .unwrap_or_else(|| panic!("no index {name}"));
        let keys: Vec<(&str, &KeyType)> = index
            .key_schema()
            .iter()
            .map(|k| (k.attribute_name(), k.key_type()))
            .collect();
        assert_eq!(keys, vec![(hash, &KeyType::Hash), (range, &KeyType::Range)]);
        assert_eq!(
            index.projection().and_then(|p| p.projection_type()),
            Some(&projection)
        );
        assert_eq!(index.index_status(), Some(&IndexStatus::Active));
    }
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
    assert_indexes(t);
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

/// A table made before change events, the provisioning log and sorted lists gets its stream and
/// its indexes from `create_table` (one UpdateTable per index).
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
    assert_indexes(t);
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
    let mut expected = vec![PK, SK, "rpk", "rsk"];
    expected.extend(SORT_INDEXES.iter().map(|i| i.attribute));
    expected.extend([PK, SK, "rpk", "rsk"]);
    for i in &SORT_INDEXES {
        expected.extend([PK, i.attribute]);
    }
    assert_eq!(
        names, expected,
        "AttributeDefinitions, KeySchema, then each index's KeySchema"
    );
    assert!(table.contains(&format!("IndexName: {LOG_INDEX}")));
    for i in &SORT_INDEXES {
        assert!(table.contains(&format!("IndexName: {}", i.index)), "{}", i.index);
    }
}

/// A stack deployed with fewer sort indexes (template.yaml's `SortIndexes`), or one whose new
/// index is still filling, sorts by reading the list instead of failing.
#[tokio::test]
async fn without_its_sort_index_a_sorted_list_reads_the_whole_list() {
    let (store, counter) = common::store().await;
    let t = TenantId::new("noindex").unwrap();
    for name in ["carol", "alice", "bob"] {
        store
            .create(
                &t,
                ResourceKind::User,
                json!({"userName": name}).as_object().unwrap().clone(),
                MemberChange::default(),
            )
            .await
            .unwrap();
    }
    store
        .client()
        .update_table()
        .table_name(store.table())
        .global_secondary_index_updates(
            aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                .delete(
                    aws_sdk_dynamodb::types::DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("sorted_userName")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let registry = SchemaRegistry::standard();
    counter.take();
    let page = store
        .query(
            &t,
            ResourceKind::User,
            &Query {
                filter: None,
                paging: Paging::Index { start_index: 1 },
                count: 10,
                include: Include::NONE,
                sort: Some(SortBy::resolve("userName", None, &registry.user()).unwrap()),
            },
        )
        .await
        .unwrap();
    let names: Vec<&str> = page
        .resources
        .iter()
        .map(|r| r.attrs["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert_eq!(page.total_results, Some(3));
    // The index Query failed, the counters' and the listing's ran; no BatchGetItem.
    let calls = counter.take();
    assert_eq!(calls.get("BatchGetItem"), None, "{calls:?}");
    assert_eq!(calls.get("Query"), Some(&3), "{calls:?}");
}
