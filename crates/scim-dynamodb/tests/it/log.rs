//! The provisioning log and token uses on DynamoDB, beyond the store contract: the items as
//! stored (operator keys, TTL, the resource index's keys), records too large for one item, and
//! reads through the resource index. Call budgets are in budget.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use aws_sdk_dynamodb::types::AttributeValue;
use scim_dynamodb::OMITTED;
use scim_store::metering;
use scim_store::prelude::*;
use scim_store::{LogChange, LogQuery, ResourceFilter, TenantId, TokenUse};
use serde_json::json;
use std::collections::HashMap;

fn all(limit: usize) -> LogQuery {
    LogQuery {
        limit,
        ..LogQuery::default()
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A record whose bodies would make the item pass DynamoDB's 400 KB is kept with its bodies
/// marked omitted and everything else whole; one that fits is kept whole.
#[tokio::test]
async fn a_record_too_large_for_an_item_keeps_everything_but_its_bodies() {
    let (store, _) = common::store().await;
    let t = TenantId::new("big").unwrap();
    // moto, like DynamoDB, refuses an item over 400 KB: the record as sent cannot be one item.
    let refused = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(HashMap::from([
            ("pk".to_string(), s("probe")),
            ("sk".to_string(), s("probe")),
            ("r".to_string(), s(&"x".repeat(500 * 1024))),
        ])))
        .send()
        .await;
    assert!(refused.is_err(), "an item over 400 KB is refused");

    let mut big = common::log_record(&t, 1, 200);
    big.request_body = Some(json!({"userName": "x".repeat(250_000)}));
    big.response_body = Some(json!({"id": "y".repeat(250_000)}));
    big.changed = vec![LogChange {
        attribute: "displayName".into(),
        old: Some(json!("Ada")),
        new: Some(json!("Ada L.")),
    }];
    let mut fits = common::log_record(&t, 2, 200);
    fits.request_body = Some(json!({"userName": "z".repeat(300_000)}));
    store.append_log(&t, &big).await.unwrap();
    store.append_log(&t, &fits).await.unwrap();

    let page = store.read_log(&t, &all(10)).await.unwrap();
    assert_eq!(page.records.len(), 2);
    assert_eq!(page.records[0], fits, "a record that fits is kept whole");
    let mut slim = big.clone();
    slim.request_body = Some(json!(OMITTED));
    slim.response_body = Some(json!(OMITTED));
    assert_eq!(page.records[1], slim, "everything but the bodies is kept");
}

/// DynamoDB's size of an item: names and values (numbers at their largest, 21 bytes).
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value.as_s().map_or(21, String::len))
        .sum()
}

/// A record is an operator item (`L#`, never `T#`) whose `ttl` is its `expires_at`, in the
/// partition of its outcome, with the resource index's keys; a token use is one item too. A
/// typical record without bodies is under 1 KB: one write unit, and one for its index copy.
#[tokio::test]
async fn log_and_token_items_have_the_documented_keys_and_ttl() {
    let (store, _) = common::store().await;
    let t = TenantId::new("keys").unwrap();
    let mut ok = common::log_record(&t, 1, 201);
    ok.operation = "Users.replace".into();
    ok.changed = vec![LogChange {
        attribute: "title".into(),
        old: Some(json!("Engineer")),
        new: Some(json!("Senior Engineer")),
    }];
    let mut failed = common::log_record(&t, 2, 409);
    failed.resource_id = None;
    failed.resource_name = Some("Grace@Example.com".into());
    store.append_log(&t, &ok).await.unwrap();
    store.append_log(&t, &failed).await.unwrap();
    store
        .record_token_use(
            &t,
            &TokenUse {
                token_id: "tok-a".into(),
                last_used: ok.time.clone(),
                client: Some("203.0.113.9".into()),
            },
        )
        .await
        .unwrap();
    let get = |pk: String, sk: String| {
        let store = &store;
        async move {
            store
                .client()
                .get_item()
                .table_name(store.table())
                .key("pk", s(&pk))
                .key("sk", s(&sk))
                .send()
                .await
                .unwrap()
                .item
                .unwrap_or_else(|| panic!("no item {pk} / {sk}"))
        }
    };
    for (record, pk, rpk) in [
        (&ok, "L#keys#LOG", "L#keys#R#id-1"),
        (&failed, "L#keys#LOGERR", "L#keys#N#grace@example.com"),
    ] {
        let sk = format!("{}#{}", record.time, record.request_id);
        let item = get(pk.into(), sk.clone()).await;
        assert_eq!(
            item.get("ttl"),
            Some(&AttributeValue::N(record.expires_at.to_string())),
            "ttl = expires_at"
        );
        assert_eq!(item.get("tk"), Some(&s("tok-a")));
        assert_eq!(item.get("rpk"), Some(&s(rpk)));
        assert_eq!(item.get("rsk"), Some(&s(&sk)));
        println!("{pk}: {} bytes", item_size(&item));
        assert!(item_size(&item) < 1024, "{} bytes", item_size(&item));
    }
    let used = get("L#keys#TOKENS".into(), "tok-a".into()).await;
    assert_eq!(used.get("lu"), Some(&s(&ok.time)));
}

/// A resource read goes to the index partitions of the resource alone: another tenant's records
/// of the same id and name are never seen, and nothing else of the tenant's log is examined.
#[tokio::test]
async fn a_resource_read_through_the_index_sees_only_the_tenants_records() {
    let (store, counter) = common::store().await;
    let (a, b) = (TenantId::new("ta").unwrap(), TenantId::new("tb").unwrap());
    for t in [&a, &b] {
        let mut records = Vec::new();
        for second in 0..30 {
            let mut r = common::log_record(t, second, if second % 3 == 0 { 400 } else { 200 });
            r.request_id = format!("{t}-{second}");
            if second % 10 == 1 {
                r.resource_id = Some("shared-id".into());
            }
            if second == 5 {
                r.resource_id = None;
                r.resource_name = Some("Shared@Example.com".into());
            }
            records.push(r);
        }
        common::append_all(&store, t, records).await;
    }
    let filter = ResourceFilter {
        ids: vec!["shared-id".into()],
        name: Some("shared@example.COM".into()),
    };
    let query = LogQuery {
        resource: Some(filter),
        ..all(10)
    };
    counter.take();
    let (page, usage) = metering::metered(store.read_log(&a, &query)).await;
    let page = page.unwrap();
    let ids: Vec<&str> = page.records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["ta-21", "ta-11", "ta-5", "ta-1"]);
    assert_eq!(page.next, None);
    assert_eq!(counter.take().get("Query"), Some(&2), "one Query per index key");
    assert_eq!(usage.items_read, 4, "only the resource's records are examined");

    let errors = LogQuery {
        errors_only: true,
        ..query
    };
    let page = store.read_log(&b, &errors).await.unwrap();
    let ids: Vec<&str> = page.records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["tb-21"]);
}

/// The failures of a busy resource: the index partition holds mostly successes, which the
/// FilterExpression drops, so the read goes on from each Query's last key until it has them.
#[tokio::test]
async fn the_errors_of_a_busy_resource_are_found_past_many_successes() {
    let (store, counter) = common::store().await;
    let t = TenantId::new("busy").unwrap();
    let records = (0..250)
        .map(|second| {
            let mut r = common::log_record(&t, second, if second < 2 { 500 } else { 200 });
            r.resource_id = Some("busy-id".into());
            r
        })
        .collect();
    common::append_all(&store, &t, records).await;
    let query = LogQuery {
        resource: Some(ResourceFilter {
            ids: vec!["busy-id".into()],
            name: None,
        }),
        errors_only: true,
        ..all(10)
    };
    counter.take();
    let page = store.read_log(&t, &query).await.unwrap();
    let ids: Vec<&str> = page.records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["req-1", "req-0"]);
    assert_eq!(page.next, None);
    // 250 items examined in Queries of 100, 100 and then up to 200 (as many as examined so far).
    assert_eq!(counter.take().get("Query"), Some(&3));
}
