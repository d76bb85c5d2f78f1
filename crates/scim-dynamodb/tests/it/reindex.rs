//! `DynamoStore::reindex` on moto: index items rewritten to their pre-NFC keys with the raw
//! client (as a release before the NFC change wrote them) are unreachable until a reindex moves
//! them; a second run moves nothing; a duplicate NFC reveals is reported and left alone; a
//! resource deleted between reindex's read and its write gets no new key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_runtime_api::box_error::BoxError;
use scim_dynamodb::{CallCounter, DynamoStore, ReindexConflict, SORT_INDEXES};
use scim_proto::filter::Filter;
use scim_proto::sort::SortBy;
use scim_proto::SchemaRegistry;
use scim_store::prelude::*;
use scim_store::{Expect, Include, MemberChange, Paging, Query, ResourceKind, StoreError, TenantId};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// Moves the item `(new_pk, sk)` to `(old_pk, sk)`, naming `id`: the key a release before the
/// NFC change wrote.
async fn to_legacy_key(client: &Client, table: &str, new_pk: &str, old_pk: &str, sk: &str, id: &str) {
    let gone = client
        .delete_item()
        .table_name(table)
        .set_key(Some(key(new_pk, sk)))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .unwrap();
    assert!(gone.attributes.is_some(), "{new_pk} was written by the store");
    let mut item = key(old_pk, sk);
    item.insert("id".into(), s(id));
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

async fn item_id(client: &Client, table: &str, pk: &str, sk: &str) -> Option<String> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item
        .and_then(|i| i.get("id").and_then(|v| v.as_s().ok()).cloned())
}

/// The ids an `eq` filter finds (through the index: it is an indexed attribute).
async fn found(store: &DynamoStore, t: &TenantId, kind: ResourceKind, filter: &str) -> Vec<String> {
    let registry = SchemaRegistry::standard();
    let f = Filter::parse(filter).unwrap();
    f.validate(&registry.view(kind.name()).unwrap()).unwrap();
    let query = Query {
        filter: Some(f),
        paging: Paging::Index { start_index: 1 },
        count: 10,
        include: Include::NONE,
        sort: None,
    };
    let page = store.query(t, kind, &query).await.unwrap();
    page.resources.into_iter().map(|r| r.id).collect()
}

fn tx_writes(counts: &std::collections::BTreeMap<String, u64>) -> u64 {
    counts.get("TransactWriteItems").copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_moves_pre_nfc_keys_once_and_lookups_find_them() {
    let (store, counter) = common::store().await;
    let (client, table) = (store.client().clone(), store.table().to_string());
    let t = TenantId::new("acme").unwrap();
    let none = MemberChange::default;
    let jose = store
        .create(
            &t,
            ResourceKind::User,
            obj(json!({"userName": "Jose\u{301}", "externalId": "E\u{301}x"})),
            none(),
        )
        .await
        .unwrap();
    store
        .create(
            &t,
            ResourceKind::User,
            obj(json!({"userName": "bob", "externalId": "b1"})),
            none(),
        )
        .await
        .unwrap();
    let cafe = store
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "Cafe\u{301}"})),
            none(),
        )
        .await
        .unwrap();
    let amelie_attrs = json!({"userName": "Ame\u{301}lie",
                              "emails": [{"value": "Ame\u{301}lie@example.com", "primary": true}]});
    let amelie = store.import_unmanaged(&t, obj(amelie_attrs)).await.unwrap();
    // (new key, old key, sort key, id): what the release before NFC wrote.
    let legacy = [
        (
            "T#acme#X#User#userName#jos\u{e9}",
            "T#acme#X#User#userName#jose\u{301}",
            "#",
            &jose.id,
        ),
        (
            "T#acme#X#User#externalId#\u{c9}x",
            "T#acme#X#User#externalId#E\u{301}x",
            jose.id.as_str(),
            &jose.id,
        ),
        (
            "T#acme#X#Group#displayName#caf\u{e9}",
            "T#acme#X#Group#displayName#cafe\u{301}",
            cafe.id.as_str(),
            &cafe.id,
        ),
        (
            "T#acme#UX#userName#am\u{e9}lie",
            "T#acme#UX#userName#ame\u{301}lie",
            "#",
            &amelie.id,
        ),
        (
            "T#acme#UX#email#am\u{e9}lie@example.com",
            "T#acme#UX#email#ame\u{301}lie@example.com",
            "#",
            &amelie.id,
        ),
    ];
    for (new, old, sk, id) in &legacy {
        to_legacy_key(&client, &table, new, old, sk, id).await;
    }
    let composed = obj(json!({"userName": "am\u{e9}lie"}));
    let unreachable = || async {
        assert!(found(&store, &t, ResourceKind::User, "userName eq \"jos\u{e9}\"")
            .await
            .is_empty());
        assert!(found(&store, &t, ResourceKind::User, "externalId eq \"\u{c9}x\"")
            .await
            .is_empty());
        assert!(
            found(&store, &t, ResourceKind::Group, "displayName eq \"Caf\u{e9}\"")
                .await
                .is_empty()
        );
        assert_eq!(store.find_unmanaged(&t, &composed).await.unwrap(), None);
    };
    unreachable().await;

    counter.take();
    let dry = store.reindex(&t, true).await.unwrap();
    assert_eq!(
        (dry.users, dry.groups, dry.unmanaged, dry.moved),
        (2, 1, 1, 5),
        "{dry:?}"
    );
    assert!(dry.conflicts.is_empty() && dry.changed.is_empty(), "{dry:?}");
    let calls = counter.take();
    assert_eq!(tx_writes(&calls), 0, "a dry run writes nothing: {calls:?}");
    // One listing Query and one BatchGetItem of the moves per listing.
    assert_eq!(calls.get("Query"), Some(&3), "{calls:?}");
    assert_eq!(calls.get("BatchGetItem"), Some(&3), "{calls:?}");
    unreachable().await;

    let done = store.reindex(&t, false).await.unwrap();
    assert_eq!(done, dry, "the run does what the dry run said");
    let calls = counter.take();
    assert_eq!(
        tx_writes(&calls),
        3,
        "one transaction per resource that moved: {calls:?}"
    );
    assert_eq!(
        found(&store, &t, ResourceKind::User, "userName eq \"jos\u{e9}\"").await,
        [jose.id.as_str()]
    );
    assert_eq!(
        found(&store, &t, ResourceKind::User, "externalId eq \"\u{c9}x\"").await,
        [jose.id.as_str()]
    );
    assert_eq!(
        found(&store, &t, ResourceKind::Group, "displayName eq \"Caf\u{e9}\"").await,
        [cafe.id.as_str()]
    );
    assert_eq!(
        store
            .find_unmanaged(&t, &composed)
            .await
            .unwrap()
            .unwrap()
            .account,
        amelie.id
    );
    for (new, old, sk, id) in &legacy {
        assert_eq!(item_id(&client, &table, old, sk).await, None, "{old} removed");
        assert_eq!(
            item_id(&client, &table, new, sk).await.as_ref(),
            Some(*id),
            "{new} written"
        );
    }

    counter.take();
    let again = store.reindex(&t, false).await.unwrap();
    assert_eq!(
        (again.users, again.groups, again.unmanaged, again.moved),
        (2, 1, 1, 0),
        "{again:?}"
    );
    assert!(
        again.conflicts.is_empty() && again.changed.is_empty(),
        "{again:?}"
    );
    assert_eq!(tx_writes(&counter.take()), 0, "a second run writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_nfc_reveals_is_reported_and_left_alone() {
    let (store, counter) = common::store().await;
    let (client, table) = (store.client().clone(), store.table().to_string());
    let t = TenantId::new("acme").unwrap();
    let composed = store
        .create(
            &t,
            ResourceKind::User,
            obj(json!({"userName": "jos\u{e9}"})),
            MemberChange::default(),
        )
        .await
        .unwrap();
    // Before NFC, a decomposed "jose\u{301}" was another name: a second user could take it.
    let decomposed = store
        .create(
            &t,
            ResourceKind::User,
            obj(json!({"userName": "placeholder"})),
            MemberChange::default(),
        )
        .await
        .unwrap();
    client
        .update_item()
        .table_name(&table)
        .set_key(Some(key("T#acme#USERS", &decomposed.id)))
        .update_expression("SET a = :a")
        .expression_attribute_values(":a", s(&json!({"userName": "jose\u{301}"}).to_string()))
        .send()
        .await
        .unwrap();
    let old = "T#acme#X#User#userName#jose\u{301}";
    to_legacy_key(
        &client,
        &table,
        "T#acme#X#User#userName#placeholder",
        old,
        "#",
        &decomposed.id,
    )
    .await;

    let expected = vec![ReindexConflict {
        kind: "User".into(),
        attribute: "userName".into(),
        value: "jos\u{e9}".into(),
        id: decomposed.id.clone(),
        holder: composed.id.clone(),
    }];
    counter.take();
    for dry_run in [true, false] {
        let report = store.reindex(&t, dry_run).await.unwrap();
        assert_eq!(report.conflicts, expected, "dry run {dry_run}");
        assert_eq!((report.users, report.moved), (2, 0));
    }
    assert_eq!(
        tx_writes(&counter.take()),
        0,
        "nothing is written for a duplicate"
    );
    assert_eq!(
        item_id(&client, &table, old, "#").await,
        Some(decomposed.id.clone())
    );
    assert_eq!(
        item_id(&client, &table, "T#acme#X#User#userName#jos\u{e9}", "#").await,
        Some(composed.id.clone())
    );
}

/// A write of the service's to run just before the next TransactWriteItems: a request landing
/// between reindex's reads and its write. The interceptor only picks the moment; the write is
/// the store's own, on moto, on a thread and runtime of its own.
type Write = Box<dyn FnOnce() + Send>;

#[derive(Clone, Default)]
struct Meanwhile(Arc<Mutex<Option<Write>>>);

impl std::fmt::Debug for Meanwhile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Meanwhile")
    }
}

impl Intercept for Meanwhile {
    fn name(&self) -> &'static str {
        "Meanwhile"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context
            .input()
            .downcast_ref::<TransactWriteItemsInput>()
            .is_some()
        {
            if let Some(write) = self.0.lock().unwrap().take() {
                std::thread::spawn(write).join().unwrap();
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_deleted_meanwhile_gets_no_new_key() {
    let meanwhile = Meanwhile::default();
    let (store, _) = common::store_with(Some(SharedInterceptor::new(meanwhile.clone()))).await;
    let (client, table) = (store.client().clone(), store.table().to_string());
    let t = TenantId::new("acme").unwrap();
    let jose = store
        .create(
            &t,
            ResourceKind::User,
            obj(json!({"userName": "jose\u{301}"})),
            MemberChange::default(),
        )
        .await
        .unwrap();
    let (new, old) = (
        "T#acme#X#User#userName#jos\u{e9}",
        "T#acme#X#User#userName#jose\u{301}",
    );
    to_legacy_key(&client, &table, new, old, "#", &jose.id).await;

    let (table_for_service, id) = (table.clone(), jose.id.clone());
    *meanwhile.0.lock().unwrap() = Some(Box::new(move || {
        let service = DynamoStore::new(
            common::client(&CallCounter::default()),
            table_for_service,
            Arc::new(SchemaRegistry::standard()),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let t = TenantId::new("acme").unwrap();
        runtime
            .block_on(service.delete(&t, ResourceKind::User, &id, Expect::Any))
            .unwrap();
    }));

    let report = store.reindex(&t, false).await.unwrap();
    assert!(meanwhile.0.lock().unwrap().is_none(), "the delete ran");
    assert_eq!(
        (report.moved, report.changed.clone()),
        (0, vec![jose.id.clone()]),
        "{report:?}"
    );
    assert!(matches!(
        store.get(&t, ResourceKind::User, &jose.id, Include::NONE).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        item_id(&client, &table, new, "#").await,
        None,
        "no key names a deleted user"
    );
    // The old item stays behind (the README says so); nothing computes its key.
    assert_eq!(item_id(&client, &table, old, "#").await, Some(jose.id.clone()));
    let again = store.reindex(&t, false).await.unwrap();
    assert_eq!(
        (again.users, again.moved, again.changed.len()),
        (0, 0, 0),
        "{again:?}"
    );
}

/// The userNames of a list sorted by `userName`, read whole.
async fn sorted_names(store: &DynamoStore, t: &TenantId) -> Vec<String> {
    let registry = SchemaRegistry::standard();
    let query = Query {
        filter: None,
        paging: Paging::Index { start_index: 1 },
        count: 100,
        include: Include::NONE,
        sort: Some(SortBy::resolve("userName", None, &registry.user()).unwrap()),
    };
    let page = store.query(t, ResourceKind::User, &query).await.unwrap();
    page.resources
        .into_iter()
        .map(|r| r.attrs["userName"].as_str().unwrap().to_string())
        .collect()
}

/// Items written before the sort indexes have no sort keys, so sorted lists leave them out
/// until a reindex sets them (once: a second run writes nothing), conditional on the version it
/// read, with no change to the resource a client could see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_gives_items_written_before_sorting_their_sort_keys() {
    let (store, counter) = common::store().await;
    let (client, table) = (store.client().clone(), store.table().to_string());
    let t = TenantId::new("sorting").unwrap();
    let mut users = Vec::new();
    for name in ["carol", "alice", "bob"] {
        users.push(
            store
                .create(
                    &t,
                    ResourceKind::User,
                    obj(json!({"userName": name})),
                    MemberChange::default(),
                )
                .await
                .unwrap(),
        );
    }
    let group = store
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "g"})),
            MemberChange::default(),
        )
        .await
        .unwrap();
    assert_eq!(sorted_names(&store, &t).await, ["alice", "bob", "carol"]);
    // What an earlier release wrote: the same items without sort keys (two of the users).
    let strip = SORT_INDEXES
        .iter()
        .map(|i| i.attribute)
        .collect::<Vec<_>>()
        .join(", ");
    for (pk, id) in [
        ("T#sorting#USERS", &users[0].id),
        ("T#sorting#USERS", &users[1].id),
        ("T#sorting#GROUPS", &group.id),
    ] {
        client
            .update_item()
            .table_name(&table)
            .set_key(Some(key(pk, id)))
            .update_expression(format!("REMOVE {strip}"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        sorted_names(&store, &t).await,
        ["bob"],
        "only the item with sort keys"
    );
    let dry = store.reindex(&t, true).await.unwrap();
    assert_eq!(dry.sort_keys_set, 3, "{dry:?}");
    assert_eq!(
        sorted_names(&store, &t).await,
        ["bob"],
        "a dry run writes nothing"
    );
    counter.take();
    let report = store.reindex(&t, false).await.unwrap();
    assert_eq!(report.sort_keys_set, 3, "{report:?}");
    assert_eq!(report.moved, 0);
    // One write per item, each its own conditional UpdateItem.
    assert_eq!(counter.take().get("UpdateItem").copied(), Some(3));
    assert_eq!(sorted_names(&store, &t).await, ["alice", "bob", "carol"]);
    let again = store.reindex(&t, false).await.unwrap();
    assert_eq!(again.sort_keys_set, 0, "{again:?}");
    // The resources are as they were: same version, same attributes.
    for u in &users {
        let now = store
            .get(&t, ResourceKind::User, &u.id, Include::NONE)
            .await
            .unwrap();
        assert_eq!((now.version, &now.attrs), (u.version, &u.attrs));
    }
}
