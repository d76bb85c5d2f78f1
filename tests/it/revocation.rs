//! Revocation reaches a running service within the revocation check interval, on both stores,
//! through the library call `scimctl token` makes (`scim_auth::update` on the registry
//! `scim_dynamodb::open_token_registry` opens): a file registry beside the embedded store (the
//! file's metadata is the generation), a Secrets Manager secret beside the DynamoDB table (the
//! table's generation item), both on 127.0.0.1. Counted, not timed: with the check interval at
//! 0 every request reads the generation once, and only a moved generation reads the registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use scim_auth::{update, CacheSettings, CacheStats, NewToken, TokenCache};
use scim_blackbox::{deployed_registry, on_both_stores, Server};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Checks on every request; neither the TTL nor an unknown token reloads during the test, so
/// every registry read counted is one the generation asked for.
const SETTINGS: CacheSettings = CacheSettings {
    ttl: Duration::from_secs(3600),
    refresh_min_interval: Duration::from_secs(3600),
    check_interval: Duration::ZERO,
    max_staleness: Duration::from_secs(3600),
};

/// Work done by the cache since `before`: (generation reads, registry reads).
fn work(tokens: &TokenCache, before: CacheStats) -> (u64, u64) {
    let now = tokens.stats();
    (
        now.generation_checks - before.generation_checks,
        now.registry_loads - before.registry_loads,
    )
}

on_both_stores!(a_revoked_token_is_refused_at_the_next_check);
async fn a_revoked_token_is_refused_at_the_next_check() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, vars) = deployed_registry(dir.path()).await;
    let tokens = Arc::new(
        TokenCache::load(registry.clone(), SETTINGS, vec![])
            .await
            .unwrap(),
    );
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with_tokens(&vars, tokens.clone()).await;

    let now = OffsetDateTime::now_utc();
    let request = NewToken {
        name: "Okta".into(),
        tenant: "default".into(),
        expires: now + time::Duration::days(30),
    };
    let issued = update(registry.as_ref(), |doc| doc.create(&request, now))
        .await
        .unwrap();
    let client = server.as_token(issued.secret.expose());

    let before = tokens.stats();
    assert_eq!(client.call(Method::GET, "/Users", None).await.status, 200);
    assert_eq!(
        work(&tokens, before),
        (1, 1),
        "the moved generation brought the new token"
    );
    let before = tokens.stats();
    for _ in 0..5 {
        assert_eq!(client.call(Method::GET, "/Users", None).await.status, 200);
    }
    assert_eq!(
        work(&tokens, before),
        (5, 0),
        "an unchanged generation reads no registry"
    );

    update(registry.as_ref(), |doc| Ok(doc.revoke(&issued.record.id, now)?))
        .await
        .unwrap();
    let before = tokens.stats();
    client
        .call(Method::GET, "/Users", None)
        .await
        .assert_error(401, None);
    assert_eq!(work(&tokens, before), (1, 1));
    assert_eq!(tokens.stats().read_failures, 0);
}

/// A registry that stops being readable after warm-up: served from the last good copy for the
/// max staleness, then 503 with `Retry-After` (a SCIM error with a generic detail) until a read
/// succeeds again. Each failed read is counted (the service turns it into the metric).
#[tokio::test]
async fn an_unreadable_registry_fails_closed_after_the_max_staleness() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let registry = Arc::new(scim_auth::FileRegistry::new(&path));
    let now = OffsetDateTime::now_utc();
    let request = NewToken {
        name: "Okta".into(),
        tenant: "default".into(),
        expires: now + time::Duration::days(30),
    };
    let issued = update(registry.as_ref(), |doc| doc.create(&request, now))
        .await
        .unwrap();
    let settings = CacheSettings {
        max_staleness: Duration::from_secs(1),
        ..SETTINGS
    };
    let tokens = Arc::new(TokenCache::load(registry, settings, vec![]).await.unwrap());
    let server = Server::start_with_tokens(&[], tokens.clone()).await;
    let client = server.as_token(issued.secret.expose());
    assert_eq!(client.call(Method::GET, "/Users", None).await.status, 200);

    // The file becomes a directory: its metadata reads, the registry does not.
    let saved = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert_eq!(client.call(Method::GET, "/Users", None).await.status, 200);
    assert_eq!(tokens.stats().read_failures, 1);
    tokio::time::sleep(settings.max_staleness).await;
    let refused = client.call(Method::GET, "/Users", None).await;
    refused.assert_error(503, None);
    assert_eq!(refused.header("retry-after"), Some("30"));
    assert!(!refused.text.contains("tokens.json"), "{}", refused.text);
    assert_eq!(tokens.stats().read_failures, 2);

    std::fs::remove_dir(&path).unwrap();
    std::fs::write(&path, saved).unwrap();
    assert_eq!(client.call(Method::GET, "/Users", None).await.status, 200);
}
