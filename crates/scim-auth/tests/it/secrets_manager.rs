//! The Secrets Manager registry against moto on 127.0.0.1 (started by scim-testkit). Each test
//! has its own secret. The SDK is configured here through the standard configuration loader, as
//! the product configures it from the environment.
#![allow(clippy::unwrap_used)] // tests may unwrap

use async_trait::async_trait;
use aws_config::Region;
use aws_sdk_secretsmanager::config::Credentials;
use aws_sdk_secretsmanager::Client;
use scim_auth::{
    update, CacheSettings, Loaded, NewToken, RegistryDocument, RegistryError, SecretsManagerRegistry,
    TokenCache, TokenRegistry, TokenState, Verdict,
};
use scim_testkit::{moto, unique_name};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

async fn client() -> Client {
    let config = scim_aws::defaults()
        .endpoint_url(&moto().endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await;
    Client::new(&config)
}

async fn registry() -> (SecretsManagerRegistry, Client, String) {
    let client = client().await;
    let secret = unique_name("scim-tokens");
    (
        SecretsManagerRegistry::new(client.clone(), &secret),
        client,
        secret,
    )
}

fn request(name: &str, tenant: &str) -> NewToken {
    NewToken {
        name: name.into(),
        tenant: tenant.into(),
        expires: OffsetDateTime::now_utc() + time::Duration::days(30),
    }
}

async fn create(registry: &dyn TokenRegistry, name: &str, tenant: &str) -> (String, String) {
    let issued = update(registry, |doc| {
        doc.create(&request(name, tenant), OffsetDateTime::now_utc())
    })
    .await
    .unwrap();
    (issued.secret.expose().to_string(), issued.record.id)
}

const FAST: CacheSettings = CacheSettings {
    ttl: Duration::from_secs(60),
    refresh_min_interval: Duration::from_millis(300),
    check_interval: Duration::from_secs(5),
    max_staleness: Duration::from_secs(300),
};

#[tokio::test]
async fn create_list_revoke_rotate_and_expiry() {
    let (registry, client, secret) = registry().await;
    assert_eq!(registry.load().await.unwrap().revision, None, "no secret yet");
    let (okta, okta_id) = create(&registry, "Okta", "acme").await;
    let (entra, entra_id) = create(&registry, "Entra", "beta").await;
    let (old, old_id) = create(&registry, "SailPoint", "acme").await;

    let listed = registry.load().await.unwrap().document;
    let names: Vec<_> = listed.tokens.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Okta", "Entra", "SailPoint"]);

    update(&registry, |doc| {
        Ok(doc.revoke(&entra_id, OffsetDateTime::now_utc())?)
    })
    .await
    .unwrap();
    let rotation = update(&registry, |doc| {
        doc.rotate(&old_id, time::Duration::days(7), OffsetDateTime::now_utc())
    })
    .await
    .unwrap();
    let successor = rotation.successor.secret.expose().to_string();
    // A token rotated with no grace is expired at once.
    let expired_id = update(&registry, |doc| {
        doc.rotate(&okta_id, time::Duration::ZERO, OffsetDateTime::now_utc())
    })
    .await
    .unwrap()
    .predecessor
    .id;

    let stored = registry.load().await.unwrap().document;
    let now = OffsetDateTime::now_utc();
    let state = |id: &str| stored.find(id).unwrap().state(now);
    assert_eq!(state(&entra_id), TokenState::Revoked);
    assert_eq!(
        state(&old_id),
        TokenState::Active,
        "valid during the grace period"
    );
    assert_eq!(state(&expired_id), TokenState::Expired);
    assert_eq!(stored.tokens.len(), 5);

    let cache = TokenCache::load(Arc::new(registry), FAST, vec![]).await.unwrap();
    assert_eq!(
        cache.verify(&entra).await,
        Verdict::Revoked { token_id: entra_id }
    );
    assert_eq!(cache.verify(&okta).await, Verdict::Expired { token_id: okta_id });
    assert!(matches!(cache.verify(&old).await, Verdict::Valid { token_id, .. } if token_id == old_id));
    assert!(
        matches!(cache.verify(&successor).await, Verdict::Valid { tenant, .. } if tenant.as_str() == "acme")
    );

    // The secret holds hashes only, and the replaced registry stays one call away (AWSPREVIOUS).
    let raw = client.get_secret_value().secret_id(&secret).send().await.unwrap();
    let text = raw.secret_string().unwrap();
    for token in [&okta, &entra, &old, &successor] {
        assert!(!text.contains(token.as_str()));
    }
    let previous = client
        .get_secret_value()
        .secret_id(&secret)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(
        RegistryDocument::parse(previous.secret_string().unwrap())
            .unwrap()
            .tokens
            .len(),
        4
    );
}

#[tokio::test]
async fn a_secret_created_beforehand_with_an_empty_registry_is_used() {
    let (registry, client, secret) = registry().await;
    client
        .create_secret()
        .name(&secret)
        .secret_string(r#"{"version": 1, "tokens": []}"#)
        .send()
        .await
        .unwrap();
    assert!(registry.load().await.unwrap().revision.is_some());
    create(&registry, "first", "default").await;
    assert_eq!(registry.load().await.unwrap().document.tokens.len(), 1);
}

/// What CloudFormation creates for a secret with neither `SecretString` nor
/// `GenerateSecretString`: a secret without any version. It reads as an empty registry, and the
/// first token write creates its first version.
#[tokio::test]
async fn a_secret_without_a_value_is_an_empty_registry_until_the_first_write() {
    let (registry, client, secret) = registry().await;
    client.create_secret().name(&secret).send().await.unwrap();
    let loaded = registry.load().await.unwrap();
    assert!(loaded.document.tokens.is_empty());
    assert_eq!(loaded.revision, None);
    let (token, id) = create(&registry, "first", "default").await;
    let loaded = registry.load().await.unwrap();
    assert_eq!(loaded.document.tokens.len(), 1);
    assert!(loaded.revision.is_some());
    let versions = client
        .list_secret_version_ids()
        .secret_id(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.versions().len(),
        1,
        "the first write is the first version"
    );
    let cache = TokenCache::load(Arc::new(registry), FAST, vec![]).await.unwrap();
    assert!(matches!(cache.verify(&token).await, Verdict::Valid { token_id, .. } if token_id == id));
}

/// A secret the service can no longer read (here: scheduled for deletion) after warm-up: each
/// failed read is counted, the last good registry serves for `max_staleness`, then every token
/// is refused.
#[tokio::test]
async fn an_unreadable_secret_is_counted_and_fails_closed_after_the_max_staleness() {
    let (registry, client, secret) = registry().await;
    let (token, _) = create(&registry, "real", "acme").await;
    let settings = CacheSettings {
        ttl: Duration::ZERO,
        refresh_min_interval: Duration::ZERO,
        check_interval: Duration::ZERO,
        max_staleness: Duration::from_millis(400),
    };
    let cache = TokenCache::load(Arc::new(registry), settings, vec![])
        .await
        .unwrap();
    assert!(matches!(cache.verify(&token).await, Verdict::Valid { .. }));
    assert_eq!(cache.stats().read_failures, 0);
    client.delete_secret().secret_id(&secret).send().await.unwrap();
    assert!(
        matches!(cache.verify(&token).await, Verdict::Valid { .. }),
        "the last good registry, within the max staleness"
    );
    assert_eq!(cache.stats().read_failures, 1);
    tokio::time::sleep(settings.max_staleness).await;
    assert_eq!(cache.verify(&token).await, Verdict::Unavailable);
    assert_eq!(cache.stats().read_failures, 2);
    assert_eq!(
        cache.stats().registry_loads,
        1 + 2 + 1,
        "start-up, the first verify, then two failed reads"
    );
}

#[tokio::test]
async fn a_secret_that_is_not_a_registry_is_refused_by_name() {
    let (registry, client, secret) = registry().await;
    client
        .create_secret()
        .name(&secret)
        .secret_string("hunter2")
        .send()
        .await
        .unwrap();
    let err = registry.load().await.unwrap_err();
    assert!(matches!(err, RegistryError::Corrupt(_)));
    assert!(err.to_string().contains(&secret), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn a_new_token_works_after_the_min_interval() {
    let (registry, _, _) = registry().await;
    let registry = Arc::new(registry);
    let cache = TokenCache::load(registry.clone(), FAST, vec![]).await.unwrap();
    let (token, id) = create(registry.as_ref(), "late", "acme").await;
    tokio::time::sleep(FAST.refresh_min_interval).await;
    assert!(matches!(cache.verify(&token).await, Verdict::Valid { token_id, .. } if token_id == id));
}

/// Counts the registry reads (each one a `GetSecretValue`).
#[derive(Debug)]
struct Counting {
    inner: SecretsManagerRegistry,
    loads: AtomicUsize,
}

#[async_trait]
impl TokenRegistry for Counting {
    async fn load(&self) -> Result<Loaded, RegistryError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load().await
    }

    async fn compare_and_swap(
        &self,
        expected: Option<&str>,
        document: &RegistryDocument,
    ) -> Result<(), RegistryError> {
        self.inner.compare_and_swap(expected, document).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_bad_tokens_reads_the_secret_at_a_bounded_rate() {
    let (inner, _, _) = registry().await;
    create(&inner, "real", "acme").await;
    let registry = Arc::new(Counting {
        inner,
        loads: AtomicUsize::new(0),
    });
    let cache = Arc::new(TokenCache::load(registry.clone(), FAST, vec![]).await.unwrap());
    let started = Instant::now();
    // 1,000 bad tokens in 10 waves of 100 concurrent requests, about 100 ms apart.
    for wave in 0..10 {
        let requests: Vec<_> = (0..100)
            .map(|i| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.verify(&format!("SCIM_bad-{wave}-{i}")).await })
            })
            .collect();
        for r in requests {
            assert_eq!(r.await.unwrap(), Verdict::Unknown);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    let reloads = registry.loads.load(Ordering::SeqCst) - 1;
    let bound = 1 + (elapsed.as_millis() / FAST.refresh_min_interval.as_millis()) as usize;
    println!(
        "flood: 1000 bad tokens in {elapsed:?}: {reloads} GetSecretValue calls (bound {bound}, interval {:?})",
        FAST.refresh_min_interval
    );
    assert!(reloads <= bound, "{reloads} reloads in {elapsed:?}");
    assert!(reloads >= 1, "an unknown token does trigger a reload");
}

/// Two (here eight) administrators creating tokens at the same moment: every token survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_all_survive() {
    let (_, client, secret) = registry().await;
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let registry = SecretsManagerRegistry::new(client.clone(), &secret);
            tokio::spawn(async move { create(&registry, &format!("admin {i}"), "acme").await.1 })
        })
        .collect();
    let mut ids = Vec::new();
    for w in writers {
        ids.push(w.await.unwrap());
    }
    let stored = SecretsManagerRegistry::new(client, &secret)
        .load()
        .await
        .unwrap()
        .document;
    assert_eq!(stored.tokens.len(), 8);
    for id in ids {
        assert!(stored.find(&id).is_some(), "{id} was lost");
    }
}

#[tokio::test]
async fn a_write_from_a_stale_revision_is_a_conflict_and_changes_nothing() {
    let (registry, _, _) = registry().await;
    let mut one = RegistryDocument::default();
    one.create(&request("one", "acme"), OffsetDateTime::now_utc())
        .unwrap();
    // Both writers loaded "no secret yet"; only the first may create it.
    registry.compare_and_swap(None, &one).await.unwrap();
    let lost = registry
        .compare_and_swap(None, &RegistryDocument::default())
        .await;
    assert!(matches!(lost, Err(RegistryError::Conflict)), "{lost:?}");

    let loaded = registry.load().await.unwrap();
    let stale = loaded.revision.clone();
    let mut two = loaded.document.clone();
    two.create(&request("two", "acme"), OffsetDateTime::now_utc())
        .unwrap();
    registry.compare_and_swap(stale.as_deref(), &two).await.unwrap();
    let lost = registry
        .compare_and_swap(stale.as_deref(), &loaded.document)
        .await;
    assert!(matches!(lost, Err(RegistryError::Conflict)), "{lost:?}");
    assert_eq!(registry.load().await.unwrap().document, two);
}
