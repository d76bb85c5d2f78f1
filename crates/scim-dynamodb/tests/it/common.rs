//! Test support: a DynamoDB client on this binary's moto, with a call counter, and a fresh table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::Client;
use scim_dynamodb::{create_table_with, CallCounter, DynamoStore, SORT_INDEXES};
use scim_proto::sort::{Meta, SortBy};
use scim_proto::SchemaRegistry;
use scim_store::ResourceKind;
use std::sync::Arc;

/// The sort index attributes the store writes on a resource item of `kind` created at [`TS`].
pub fn sort_keys(kind: ResourceKind, attrs: &serde_json::Value, id: &str) -> Vec<(String, AttributeValue)> {
    let registry = SchemaRegistry::standard();
    let schema = registry.view(kind.name()).unwrap();
    let meta = Meta {
        id,
        created: TS,
        last_modified: TS,
    };
    SORT_INDEXES
        .iter()
        .filter_map(|i| {
            let sort = SortBy::resolve(i.path, None, &schema).ok()?;
            Some((i.attribute.to_string(), s(sort.key(attrs.as_object()?, meta))))
        })
        .collect()
}

/// A client for moto on 127.0.0.1 that counts its calls.
pub fn client(counter: &CallCounter) -> Client {
    client_with(counter, None)
}

/// The same, with another interceptor (fault injection).
pub fn client_with(
    counter: &CallCounter,
    extra: Option<aws_sdk_dynamodb::config::SharedInterceptor>,
) -> Client {
    let mut conf = scim_testkit::dynamodb::config().interceptor(counter.clone());
    if let Some(i) = extra {
        conf = conf.interceptor(i);
    }
    Client::from_conf(conf.build())
}

/// A store on a table of its own, and the counter of its client's calls (reset after setup).
pub async fn store() -> (DynamoStore, CallCounter) {
    store_with(None).await
}

/// A store whose client also runs `extra`.
pub async fn store_with(
    extra: Option<aws_sdk_dynamodb::config::SharedInterceptor>,
) -> (DynamoStore, CallCounter) {
    let counter = CallCounter::default();
    let client = client_with(&counter, extra);
    let table = scim_testkit::unique_name("scim");
    // No stream: nothing here reads it, and on moto it slows every transaction down.
    create_table_with(&client, &table, false)
        .await
        .expect("create the table");
    counter.take();
    (
        DynamoStore::new(client, table, Arc::new(SchemaRegistry::standard())),
        counter,
    )
}

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use scim_store::TenantId;
use std::collections::HashMap;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// Writes items with BatchWriteItem (25 per call), retrying unprocessed ones.
pub async fn batch_write(client: &Client, table: &str, items: Vec<HashMap<String, AttributeValue>>) {
    for chunk in items.chunks(25) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|i| {
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(i.clone())).build().unwrap())
                    .build()
            })
            .collect();
        while !requests.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .unwrap();
            requests = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
        }
    }
}

const TS: &str = "2024-01-01T00:00:00.000Z";

/// Seeds a tenant fast, item by item in the store's documented layout (the crate's README.md,
/// "Key design"): `users` users named `seed<i>`, and a group `Seeded` whose members are the first
/// `members` of them. Returns the user ids (sorted) and the group id.
pub async fn seed(
    client: &Client,
    table: &str,
    tenant: &TenantId,
    users: usize,
    members: usize,
) -> (Vec<String>, String) {
    let gid = uuid::Uuid::new_v4().to_string();
    let mut ids: Vec<String> = (0..users).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    ids.sort();
    let mut items = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let name = format!("seed{i}");
        let mut g = HashMap::new();
        if i < members {
            g.insert(gid.clone(), s("Seeded"));
            items.push(HashMap::from([
                ("pk".to_string(), s(format!("T#{tenant}#M#{gid}"))),
                ("sk".to_string(), s(id)),
                ("k".to_string(), s("User")),
            ]));
        }
        let attrs = serde_json::json!({"userName": name, "externalId": format!("ext-{i}"), "active": true});
        let mut item = HashMap::from([
            ("pk".to_string(), s(format!("T#{tenant}#USERS"))),
            ("sk".to_string(), s(id)),
            ("v".to_string(), AttributeValue::N("1".into())),
            ("mv".to_string(), AttributeValue::N("0".into())),
            ("c".to_string(), s(TS)),
            ("m".to_string(), s(TS)),
            ("a".to_string(), s(attrs.to_string())),
            ("g".to_string(), AttributeValue::M(g)),
        ]);
        item.extend(sort_keys(ResourceKind::User, &attrs, id));
        items.push(item);
        items.push(HashMap::from([
            ("pk".to_string(), s(format!("T#{tenant}#X#User#userName#{name}"))),
            ("sk".to_string(), s("#")),
            ("id".to_string(), s(id)),
        ]));
        items.push(HashMap::from([
            (
                "pk".to_string(),
                s(format!("T#{tenant}#X#User#externalId#ext-{i}")),
            ),
            ("sk".to_string(), s(id)),
            ("id".to_string(), s(id)),
        ]));
    }
    items.push(HashMap::from([
        ("pk".to_string(), s(format!("T#{tenant}#USERS"))),
        ("sk".to_string(), s("#N#00")),
        ("n".to_string(), AttributeValue::N(users.to_string())),
    ]));
    items.push(HashMap::from([
        ("pk".to_string(), s(format!("T#{tenant}#GROUPS"))),
        ("sk".to_string(), s(&gid)),
        ("v".to_string(), AttributeValue::N("1".into())),
        ("mv".to_string(), AttributeValue::N("0".into())),
        ("c".to_string(), s(TS)),
        ("m".to_string(), s(TS)),
        (
            "a".to_string(),
            s(serde_json::json!({"displayName": "Seeded"}).to_string()),
        ),
        ("p".to_string(), AttributeValue::M(HashMap::new())),
    ]));
    let group = items.len() - 1;
    items[group].extend(sort_keys(
        ResourceKind::Group,
        &serde_json::json!({"displayName": "Seeded"}),
        &gid,
    ));
    items.push(HashMap::from([
        (
            "pk".to_string(),
            s(format!("T#{tenant}#X#Group#displayName#seeded")),
        ),
        ("sk".to_string(), s(&gid)),
        ("id".to_string(), s(&gid)),
    ]));
    items.push(HashMap::from([
        ("pk".to_string(), s(format!("T#{tenant}#GROUPS"))),
        ("sk".to_string(), s("#N#00")),
        ("n".to_string(), AttributeValue::N("1".into())),
    ]));
    batch_write(client, table, items).await;
    (ids, gid)
}

/// A provisioning log record of `tenant`, `seconds` after midnight today: the contract's.
pub use scim_store::contract::log::sample_record as log_record;

/// Appends `records` to `tenant`'s log, a few at a time.
pub async fn append_all(store: &DynamoStore, tenant: &TenantId, records: Vec<scim_store::LogRecord>) {
    use futures_util::StreamExt;
    use scim_store::ProvisioningLog;
    futures_util::stream::iter(records)
        .for_each_concurrent(8, |r| async move { store.append_log(tenant, &r).await.unwrap() })
        .await;
}
