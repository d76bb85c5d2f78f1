//! Failures in the middle of writes: a condition failing inside a multi-item transaction, and an
//! error injected (an SDK interceptor) between the transactions of a large member change.
//! No partial state is ever visible except the documented one between member batches, and a
//! retry of the same change converges.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem};
use aws_smithy_runtime_api::box_error::BoxError;
use scim_dynamodb::DynamoStore;
use scim_proto::filter::Filter;
use scim_proto::sort::SortBy;
use scim_proto::SchemaRegistry;
use scim_store::prelude::*;
use scim_store::{Expect, Include, MemberChange, Paging, Query, ResourceKind, StoreError, TenantId};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Fails the `fail_at`-th TransactWriteItems (0-based, counted from `arm`) before it is sent, or
/// adds a condition that cannot hold to the next one (`poison`).
#[derive(Debug, Default)]
struct Faults {
    armed: AtomicBool,
    seen: AtomicUsize,
    fail_at: AtomicUsize,
    poison: AtomicBool,
}

impl Faults {
    fn arm(&self, fail_at: usize) {
        self.seen.store(0, Ordering::SeqCst);
        self.fail_at.store(fail_at, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone)]
struct Injector(Arc<Faults>);

impl Intercept for Injector {
    fn name(&self) -> &'static str {
        "Injector"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(input) = context.input_mut().downcast_mut::<TransactWriteItemsInput>() else {
            return Ok(());
        };
        let f = &self.0;
        if f.poison.swap(false, Ordering::SeqCst) {
            let table = input
                .transact_items
                .as_ref()
                .and_then(|i| i.first())
                .and_then(|i| i.update().map(|u| u.table_name().to_string()))
                .unwrap_or_default();
            let check = ConditionCheck::builder()
                .table_name(table)
                .key("pk", AttributeValue::S("no such item".into()))
                .key("sk", AttributeValue::S("#".into()))
                .condition_expression("attribute_exists(pk)")
                .build()
                .unwrap();
            input
                .transact_items
                .get_or_insert_with(Vec::new)
                .push(TransactWriteItem::builder().condition_check(check).build());
        }
        if f.armed.load(Ordering::SeqCst) {
            let n = f.seen.fetch_add(1, Ordering::SeqCst);
            if n == f.fail_at.load(Ordering::SeqCst) {
                f.armed.store(false, Ordering::SeqCst);
                return Err("injected failure".into());
            }
        }
        Ok(())
    }
}

async fn store() -> (DynamoStore, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let (s, _) = common::store_with(Some(SharedInterceptor::new(Injector(faults.clone())))).await;
    (s, faults)
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn tenant() -> TenantId {
    TenantId::new(&format!("faults-{}", uuid::Uuid::new_v4().simple())).unwrap()
}

async fn users(s: &DynamoStore, t: &TenantId, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let u = s
            .create(
                t,
                ResourceKind::User,
                obj(json!({"userName": format!("u{i}")})),
                MemberChange::default(),
            )
            .await
            .unwrap();
        ids.push(u.id);
    }
    ids
}

async fn sorted_users(s: &DynamoStore, t: &TenantId, n: usize) -> Vec<String> {
    let mut ids = users(s, t, n).await;
    ids.sort();
    ids
}

fn adds(ids: &[String]) -> MemberChange {
    MemberChange {
        add: ids.iter().map(|id| (id.clone(), None)).collect(),
        ..MemberChange::default()
    }
}

async fn members(s: &DynamoStore, t: &TenantId, gid: &str) -> Vec<String> {
    let g = s.get(t, ResourceKind::Group, gid, Include::ALL).await.unwrap();
    g.members.unwrap().into_iter().map(|m| m.value).collect()
}

/// The users whose own item says they are in `gid`.
async fn users_in(s: &DynamoStore, t: &TenantId, ids: &[String], gid: &str) -> Vec<String> {
    let mut inside = Vec::new();
    for id in ids {
        let u = s.get(t, ResourceKind::User, id, Include::ALL).await.unwrap();
        if u.groups.unwrap().iter().any(|(g, _)| g == gid) {
            inside.push(id.clone());
        }
    }
    inside
}

async fn find(s: &DynamoStore, t: &TenantId, kind: ResourceKind, text: &str) -> Vec<String> {
    let registry = SchemaRegistry::standard();
    let f = Filter::parse(text).unwrap();
    f.validate(&registry.view(kind.name()).unwrap()).unwrap();
    let q = Query {
        filter: Some(f),
        paging: Paging::Index { start_index: 1 },
        count: 100,
        include: Include::NONE,
        sort: None,
    };
    s.query(t, kind, &q)
        .await
        .unwrap()
        .resources
        .into_iter()
        .map(|r| r.id)
        .collect()
}

/// A condition failing on one item of a transaction (rename + member add + index items) writes
/// none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_condition_in_a_transaction_writes_nothing() {
    let (s, faults) = store().await;
    let t = tenant();
    let ids = users(&s, &t, 2).await;
    let g = s
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "G"})),
            adds(&ids[..1]),
        )
        .await
        .unwrap();
    faults.poison.store(true, Ordering::SeqCst);
    let r = s
        .update(
            &t,
            ResourceKind::Group,
            &g.id,
            Expect::Version(1),
            obj(json!({"displayName": "G2"})),
            adds(&ids[1..]),
        )
        .await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    let after = s
        .get(&t, ResourceKind::Group, &g.id, Include::NONE)
        .await
        .unwrap();
    assert_eq!(
        (after.version, after.attrs["displayName"].clone()),
        (1, json!("G"))
    );
    assert_eq!(members(&s, &t, &g.id).await, vec![ids[0].clone()]);
    assert_eq!(users_in(&s, &t, &ids, &g.id).await, vec![ids[0].clone()]);
    assert_eq!(
        find(&s, &t, ResourceKind::Group, "displayName eq \"G\"").await,
        vec![g.id.clone()]
    );
    assert!(find(&s, &t, ResourceKind::Group, "displayName eq \"G2\"")
        .await
        .is_empty());

    // A uniqueness failure in a rename: the user, its old index entry and the other user's stay.
    let r = s
        .update(
            &t,
            ResourceKind::User,
            &ids[1],
            Expect::Any,
            obj(json!({"userName": "U0"})),
            MemberChange::default(),
        )
        .await;
    assert_eq!(
        r,
        Err(StoreError::Uniqueness {
            attribute: "userName".into()
        })
    );
    assert_eq!(
        find(&s, &t, ResourceKind::User, "userName eq \"u1\"").await,
        vec![ids[1].clone()]
    );
    assert_eq!(
        find(&s, &t, ResourceKind::User, "userName eq \"u0\"").await,
        vec![ids[0].clone()]
    );
}

/// 120 members are written in three transactions (49 + 22 + the group's own write with 49).
/// An error before the second leaves the first batch, both sides of each membership, and the
/// group's version unchanged; the same change again converges on the full result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_between_member_batches_converges_on_retry() {
    let (s, faults) = store().await;
    let t = tenant();
    let ids = sorted_users(&s, &t, 120).await;
    let g = s
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "Big"})),
            MemberChange::default(),
        )
        .await
        .unwrap();
    faults.arm(1);
    let r = s
        .update(
            &t,
            ResourceKind::Group,
            &g.id,
            Expect::Version(1),
            g.attrs.clone(),
            adds(&ids),
        )
        .await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    let partial = members(&s, &t, &g.id).await;
    assert_eq!(partial.len(), 49, "exactly the first batch");
    assert_eq!(
        users_in(&s, &t, &ids, &g.id).await,
        partial,
        "both sides of each membership"
    );
    let after = s
        .get(&t, ResourceKind::Group, &g.id, Include::NONE)
        .await
        .unwrap();
    assert_eq!(after.version, 1, "the group's own write comes last");

    let done = s
        .update(
            &t,
            ResourceKind::Group,
            &g.id,
            Expect::Version(1),
            g.attrs.clone(),
            adds(&ids),
        )
        .await
        .unwrap();
    assert_eq!(done.version, 2);
    assert_eq!(members(&s, &t, &g.id).await, ids);
    assert_eq!(users_in(&s, &t, &ids, &g.id).await, ids);
}

/// A POST /Groups with many members whose second transaction fails leaves no group behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_large_create_leaves_no_group() {
    let (s, faults) = store().await;
    let t = tenant();
    let ids = sorted_users(&s, &t, 120).await;
    faults.arm(1);
    let r = s
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "Big"})),
            adds(&ids),
        )
        .await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    let q = Query {
        filter: None,
        paging: Paging::Index { start_index: 1 },
        count: 10,
        include: Include::NONE,
        sort: None,
    };
    assert_eq!(
        s.query(&t, ResourceKind::Group, &q).await.unwrap().total_results,
        Some(0)
    );
    for id in &ids {
        let u = s.get(&t, ResourceKind::User, id, Include::ALL).await.unwrap();
        assert_eq!(u.groups, Some(vec![]), "{id}");
    }
}

/// A filter that cannot use an index reads at most the scan limit per request: index paging
/// answers 400 tooMany beyond it, cursor paging answers in several bounded steps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_are_bounded() {
    let (s, _) = store().await;
    let s = s.with_scan_limit(10);
    let t = tenant();
    let ids = sorted_users(&s, &t, 25).await;
    let registry = SchemaRegistry::standard();
    let f = Filter::parse("userName sw \"u\"").unwrap();
    f.validate(&registry.user()).unwrap();
    let q = |paging| Query {
        filter: Some(f.clone()),
        paging,
        count: 100,
        include: Include::NONE,
        sort: None,
    };
    let r = s
        .query(&t, ResourceKind::User, &q(Paging::Index { start_index: 1 }))
        .await;
    assert!(matches!(r, Err(StoreError::TooMany(_))), "{r:?}");
    let mut seen = Vec::new();
    let mut after = None;
    let mut steps = 0;
    loop {
        steps += 1;
        let page = s
            .query(
                &t,
                ResourceKind::User,
                &q(Paging::Cursor { after: after.clone() }),
            )
            .await
            .unwrap();
        assert!(page.resources.len() <= 10);
        seen.extend(page.resources.into_iter().map(|r| r.id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert!(steps >= 3, "{steps} steps");
    // Unfiltered index paging far into the tenant is bounded the same way.
    let far = Query {
        filter: None,
        paging: Paging::Index { start_index: 20 },
        count: 5,
        include: Include::NONE,
        sort: None,
    };
    assert!(matches!(
        s.query(&t, ResourceKind::User, &far).await,
        Err(StoreError::TooMany(_))
    ));
}

/// Sorting by an attribute without a sort index, or with a filter no index answers under index
/// paging, reads every candidate: beyond the scan limit it is 400 tooMany naming the indexed
/// orders. An indexed order pages through any number of resources by cursor, filtered or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorts_without_an_index_are_bounded() {
    let (s, _) = store().await;
    let s = s.with_scan_limit(10);
    let t = tenant();
    sorted_users(&s, &t, 25).await;
    let registry = SchemaRegistry::standard();
    let sorted = |by: &str, filter: Option<&str>, paging| Query {
        filter: filter.map(|text| {
            let f = Filter::parse(text).unwrap();
            f.validate(&registry.user()).unwrap();
            f
        }),
        paging,
        count: 5,
        include: Include::NONE,
        sort: Some(SortBy::resolve(by, None, &registry.user()).unwrap()),
    };
    let refused = [
        ("name.familyName", None, Paging::Index { start_index: 1 }),
        ("name.familyName", None, Paging::Cursor { after: None }),
        (
            "userName",
            Some("userName sw \"u\""),
            Paging::Index { start_index: 1 },
        ),
    ];
    for (by, filter, paging) in refused {
        match s.query(&t, ResourceKind::User, &sorted(by, filter, paging)).await {
            Err(StoreError::TooMany(detail)) => {
                assert!(detail.contains("more than 10"), "{detail}");
                assert!(detail.contains("meta.lastModified"), "{detail}");
            }
            other => panic!("{by} {filter:?}: {other:?}"),
        }
    }
    // The sort index pages through all 25 by cursor, unfiltered, and filtered too: then each
    // request examines at most the scan limit of entries and ends its page there.
    // (filter, matches, fewest requests): three matches among 25 take at least three requests
    // of 10 entries each, some answering no resource but a cursor.
    for (filter, matches, fewest) in [
        (None, 25, 5),
        (Some("userName sw \"u\""), 25, 5),
        (Some("userName ew \"4\""), 3, 3),
    ] {
        let mut seen = Vec::new();
        let mut after = None;
        let mut steps = 0;
        for _ in 0..20 {
            steps += 1;
            let page = s
                .query(
                    &t,
                    ResourceKind::User,
                    &sorted("userName", filter, Paging::Cursor { after: after.clone() }),
                )
                .await
                .unwrap();
            assert!(page.resources.len() <= 5);
            seen.extend(
                page.resources
                    .into_iter()
                    .map(|r| r.attrs["userName"].as_str().unwrap().to_string()),
            );
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let mut expected = seen.clone();
        expected.sort();
        assert_eq!(seen.len(), matches, "{filter:?}");
        assert_eq!(seen, expected, "{filter:?}");
        assert!(steps >= fewest, "{filter:?}: {steps} steps");
    }
}

/// Replaces every response with a throttling error (after the SDK's own retries, the store sees
/// it): plain `ThrottlingException`, and a cancelled transaction whose reason is throttling.
#[derive(Debug, Clone)]
struct Throttle;

impl Intercept for Throttle {
    fn name(&self) -> &'static str {
        "Throttle"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
        let response = context.response_mut();
        *response.status_mut() = aws_smithy_runtime_api::http::StatusCode::try_from(400u16)?;
        *response.body_mut() = aws_smithy_types::body::SdkBody::from(body);
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct CancelledByThrottling;

impl Intercept for CancelledByThrottling {
    fn name(&self) -> &'static str {
        "CancelledByThrottling"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled","CancellationReasons":[{"Code":"None"},{"Code":"ThrottlingError","Message":"Throughput exceeds the current capacity"},{"Code":"None"}]}"#;
        let response = context.response_mut();
        *response.status_mut() = aws_smithy_runtime_api::http::StatusCode::try_from(400u16)?;
        *response.body_mut() = aws_smithy_types::body::SdkBody::from(body);
        Ok(())
    }
}

/// Throttling becomes `StoreError::Throttled` (the service answers 429 with Retry-After), never a
/// 500. (The responses are replaced after moto answered, so this checks the mapping only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_throttled() {
    let registry = Arc::new(SchemaRegistry::standard());
    let counter = scim_dynamodb::CallCounter::default();
    let table = scim_testkit::unique_name("throttle");
    scim_dynamodb::create_table(&common::client(&counter), &table)
        .await
        .unwrap();
    let t = tenant();
    let throttled = DynamoStore::new(
        common::client_with(&counter, Some(SharedInterceptor::new(Throttle))),
        table.clone(),
        registry.clone(),
    );
    let missing = uuid::Uuid::new_v4().to_string();
    let r = throttled
        .get(&t, ResourceKind::User, &missing, Include::NONE)
        .await;
    assert_eq!(r, Err(StoreError::Throttled { retry_after_secs: 1 }));
    let cancelled = DynamoStore::new(
        common::client_with(&counter, Some(SharedInterceptor::new(CancelledByThrottling))),
        table.clone(),
        registry.clone(),
    );
    let r = cancelled
        .create(
            &t,
            ResourceKind::User,
            obj(json!({"userName": "x"})),
            MemberChange::default(),
        )
        .await;
    assert_eq!(r.map(|_| ()), Err(StoreError::Throttled { retry_after_secs: 1 }));
}

/// A soft delete of a user in more groups than one transaction holds leaves them in batches; if
/// it stops after a batch, the groups already left are remembered (`dg`), so the retry keeps
/// them all. A restore into that many groups joins the ones that still exist in batches too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_delete_and_restore_in_many_groups() {
    let (s, faults) = store().await;
    let t = tenant();
    let u = users(&s, &t, 1).await.remove(0);
    let mut groups = Vec::new();
    for i in 0..110 {
        let g = s
            .create(
                &t,
                ResourceKind::Group,
                obj(json!({"displayName": format!("G{i}")})),
                adds(std::slice::from_ref(&u)),
            )
            .await
            .unwrap();
        groups.push(g.id);
    }
    groups.sort();
    let purge = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    faults.arm(1);
    let r = s.delete_user_soft(&t, &u, Expect::Any, purge).await;
    assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    let still = s.get(&t, ResourceKind::User, &u, Include::ALL).await.unwrap();
    assert_eq!(still.groups.unwrap().len(), 11, "the first batch left 99 groups");
    assert!(s.deleted_users(&t).await.unwrap().is_empty());

    s.delete_user_soft(&t, &u, Expect::Any, purge).await.unwrap();
    let kept = s.deleted_users(&t).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0].groups, groups,
        "every group, also those left by the failed attempt"
    );
    for g in &groups {
        assert!(members(&s, &t, g).await.is_empty());
    }

    let (gone, rest) = groups.split_at(2);
    for g in gone {
        s.delete(&t, ResourceKind::Group, g, Expect::Any).await.unwrap();
    }
    let restored = s.restore_user(&t, &u).await.unwrap();
    let joined: Vec<String> = restored.groups.unwrap().into_iter().map(|(g, _)| g).collect();
    assert_eq!(joined, rest);
    let read = s.get(&t, ResourceKind::User, &u, Include::ALL).await.unwrap();
    let read: Vec<String> = read.groups.unwrap().into_iter().map(|(g, _)| g).collect();
    assert_eq!(read, rest);
    for g in rest {
        assert_eq!(members(&s, &t, g).await, vec![u.clone()]);
    }
}

/// A soft delete refused for its expected version writes nothing, not even the mark that tells
/// the stream a later REMOVE of the item is a soft delete (else a hard delete after it would
/// be reported as soft).
#[tokio::test]
async fn a_refused_soft_delete_leaves_the_user_unmarked() {
    let (s, _) = store().await;
    let t = tenant();
    let u = users(&s, &t, 1).await.remove(0);
    let purge = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let r = s.delete_user_soft(&t, &u, Expect::Version(99), purge).await;
    assert_eq!(r, Err(StoreError::VersionConflict { current: 1 }));
    let item = s
        .client()
        .get_item()
        .table_name(s.table())
        .key(scim_dynamodb::PK, AttributeValue::S(format!("T#{t}#USERS")))
        .key(scim_dynamodb::SK, AttributeValue::S(u.clone()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(!item.contains_key("sd"), "{item:?}");
    assert!(s.deleted_users(&t).await.unwrap().is_empty());
}
