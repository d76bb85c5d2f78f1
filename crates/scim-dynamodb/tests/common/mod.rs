//! Test support: a DynamoDB client on this binary's moto, with a call counter, and a fresh table.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::Client;
use scim_dynamodb::{create_table, CallCounter, DynamoStore};
use scim_proto::SchemaRegistry;
use std::sync::Arc;

/// A client for moto on 127.0.0.1 that counts its calls.
pub fn client(counter: &CallCounter) -> Client {
    let moto = scim_testkit::moto();
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .interceptor(counter.clone())
        .build();
    Client::from_conf(conf)
}

/// A store on a table of its own, and the counter of its client's calls (reset after setup).
pub async fn store() -> (DynamoStore, CallCounter) {
    let counter = CallCounter::default();
    let client = client(&counter);
    let table = scim_testkit::unique_name("scim");
    create_table(&client, &table).await.expect("create the table");
    counter.take();
    (
        DynamoStore::new(client, table, Arc::new(SchemaRegistry::standard())),
        counter,
    )
}
