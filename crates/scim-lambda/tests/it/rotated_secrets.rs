//! The origin secret and the cursor key read from Secrets Manager (moto on 127.0.0.1, started by
//! scim-testkit), as under Lambda: the JSON pair is parsed, both values are accepted, and a
//! rotation written to the secret reaches the running service at its next re-read, not before.
#![allow(clippy::unwrap_used)] // tests may unwrap

use aws_config::Region;
use aws_sdk_secretsmanager::config::Credentials;
use aws_sdk_secretsmanager::Client;
use scim_lambda::cursor::{Binding, CursorKeys};
use scim_lambda::origin::OriginSecrets;
use scim_lambda::secrets::{Rotating, SecretPair};
use scim_proto::list::{ListLimits, ListQuery};
use scim_store::{ResourceKind, TenantId};
use scim_testkit::{moto, unique_name};
use std::time::Duration;

async fn client() -> Client {
    let config = scim_aws::defaults()
        .endpoint_url(&moto().endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    Client::new(&config)
}

/// A secret holding `json`, as template.yaml creates it; its name.
async fn secret(client: &Client, json: &str) -> String {
    let name = unique_name("scim-rotated");
    client
        .create_secret()
        .name(&name)
        .secret_string(json)
        .send()
        .await
        .unwrap();
    name
}

async fn put(client: &Client, name: &str, json: &str) {
    client
        .put_secret_value()
        .secret_id(name)
        .secret_string(json)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_origin_secret_accepts_both_values_and_a_rotation_arrives_at_the_next_re_read() {
    let client = client().await;
    // What CloudFormation generates: `current` filled in, `previous` empty.
    let name = secret(&client, r#"{"current": "first-value", "previous": ""}"#).await;
    let slow = Rotating::from_secret(
        client.clone(),
        &name,
        OriginSecrets::from_pair,
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    let eager = Rotating::from_secret(client.clone(), &name, OriginSecrets::from_pair, Duration::ZERO)
        .await
        .unwrap();
    assert!(slow.get().await.matches(b"first-value"));
    assert!(!slow.get().await.matches(b""));

    put(
        &client,
        &name,
        r#"{"current": "second-value", "previous": "first-value"}"#,
    )
    .await;
    let rotated = eager.get().await;
    assert!(rotated.matches(b"second-value"));
    assert!(rotated.matches(b"first-value"), "the previous value still passes");
    let not_yet = slow.get().await;
    assert!(
        !not_yet.matches(b"second-value"),
        "read again only after its interval"
    );
    assert!(not_yet.matches(b"first-value"));
}

#[tokio::test]
async fn cursors_signed_with_the_previous_key_still_open_after_a_rotation() {
    let client = client().await;
    let first = "Q9xv2mLkP0aZr7TyWc4NbEhJ1uFsGd8KoYi3Vn5XeRtM";
    let second = "Zk3W8pQr1LmN5bVc7XyT0aSd2FgH4jKe6UoI9PlMnBvC";
    let name = secret(&client, &format!(r#"{{"current": "{first}", "previous": ""}}"#)).await;
    let keys = Rotating::from_secret(client.clone(), &name, CursorKeys::from_pair, Duration::ZERO)
        .await
        .unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let query = ListQuery::from_query_pairs(
        &[("cursor".to_string(), String::new())],
        &ListLimits {
            max_count: 100,
            default_count: 10,
        },
    )
    .unwrap();
    let binding = Binding {
        tenant: &tenant,
        kind: ResourceKind::User,
        query: &query,
    };
    let before = binding.sign(&*keys.get().await, "after-this").unwrap();
    put(
        &client,
        &name,
        &format!(r#"{{"current": "{second}", "previous": "{first}"}}"#),
    )
    .await;
    let rotated = keys.get().await;
    assert_eq!(
        binding.open(&rotated, &before).unwrap().as_deref(),
        Some("after-this")
    );
    let after = binding.sign(&rotated, "after-that").unwrap();
    let only = |key: &str| {
        CursorKeys::from_pair(&SecretPair {
            current: key.into(),
            previous: None,
        })
        .unwrap()
    };
    assert!(
        binding.open(&only(second), &after).is_ok(),
        "new cursors use the current key"
    );
    assert!(binding.open(&only(first), &after).is_err());
}

#[tokio::test]
async fn a_secret_that_is_not_the_pair_is_refused_by_name_without_its_value() {
    let client = client().await;
    let name = secret(&client, "hunter2").await;
    let err = Rotating::from_secret(client, &name, OriginSecrets::from_pair, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(err.contains(&name), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
