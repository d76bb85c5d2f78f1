//! The silence watcher's whole check (`scim_lambda::watch::check`) on a token registry file and a
//! store: on DynamoDB (moto on 127.0.0.1, a table of its own) and on the embedded store. Which
//! tenants it finds silent, what it prints, and the reads it makes: one settings read per tenant
//! with a live token, one token-use read per tenant with the setting on, nothing else.
#![allow(clippy::unwrap_used)] // tests may unwrap

use scim_auth::{update, NewToken, RegistryDocument, RegistryLocation, TokenRecord};
use scim_dynamodb::{create_table_with, CallCounter, DynamoStore};
use scim_lambda::watch::{check, Report, Silence};
use scim_proto::SchemaRegistry;
use scim_store::{metering, timestamp, Expect, Store, TenantId, TenantSettings, TokenUse};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// A token for `tenant`, created at `created`; its record.
fn create(doc: &mut RegistryDocument, tenant: &str, created: OffsetDateTime) -> TokenRecord {
    let request = NewToken {
        name: format!("{tenant} IdP"),
        tenant: tenant.into(),
        expires: created + Duration::days(90),
    };
    doc.create(&request, created).unwrap().record
}

async fn set(store: &dyn Store, tenant: &str, change: impl FnOnce(&mut TenantSettings)) {
    let mut settings = TenantSettings::default();
    change(&mut settings);
    store
        .put_settings(&TenantId::new(tenant).unwrap(), &settings, Expect::Version(0))
        .await
        .unwrap();
}

async fn used(store: &dyn Store, tenant: &str, token: &TokenRecord, when: OffsetDateTime) {
    let usage = TokenUse {
        token_id: token.id.clone(),
        last_used: timestamp(when),
        client: Some("192.0.2.1".into()),
    };
    store
        .record_token_use(&TenantId::new(tenant).unwrap(), &usage)
        .await
        .unwrap();
}

/// The registry and the store as the check finds them, and the time it runs at.
struct Seeded {
    registry: std::sync::Arc<dyn scim_auth::TokenRegistry>,
    _dir: tempfile::TempDir,
    now: OffsetDateTime,
    expected: Report,
}

/// Six tenants:
/// - `quiet` (alarm at 2 h): its one token last used 3 hours ago: silent;
/// - `busy` (2 h): one token used 5 hours ago, its other one 30 minutes ago: not silent;
/// - `fresh` (1 h): its token created 90 minutes ago and never used: silent since then;
/// - `unwatched` (no alarm, another setting changed): never used, not silent, uses not read;
/// - `default` (no settings at all): the same;
/// - `gone` (alarm at 1 h): its only token revoked: not a tenant any more, nothing read.
async fn seed(store: &dyn Store) -> Seeded {
    let now = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let registry = RegistryLocation::File(dir.path().join("tokens.json"))
        .open(&scim_aws::Aws::environment())
        .await;
    let long_ago = now - Duration::days(10);
    let (quiet, busy_old, busy_new, fresh) = update(registry.as_ref(), |doc| {
        let quiet = create(doc, "quiet", long_ago);
        let busy_old = create(doc, "busy", long_ago);
        let busy_new = create(doc, "busy", long_ago + Duration::days(1));
        let fresh = create(doc, "fresh", now - Duration::minutes(90));
        create(doc, "unwatched", long_ago);
        create(doc, "default", long_ago);
        let gone = create(doc, "gone", long_ago);
        doc.revoke(&gone.id, now - Duration::days(1))?;
        Ok((quiet, busy_old, busy_new, fresh))
    })
    .await
    .unwrap();
    for tenant in ["quiet", "busy"] {
        set(store, tenant, |s| s.silence_alarm_hours = Some(2)).await;
    }
    for tenant in ["fresh", "gone"] {
        set(store, tenant, |s| s.silence_alarm_hours = Some(1)).await;
    }
    set(store, "unwatched", |s| s.retention_days = 7).await;
    used(store, "quiet", &quiet, now - Duration::hours(3)).await;
    used(store, "busy", &busy_old, now - Duration::hours(5)).await;
    used(store, "busy", &busy_new, now - Duration::minutes(30)).await;
    let expected = Report {
        tenants: 5,
        watched: 3,
        silent: vec![
            Silence {
                tenant: "fresh".into(),
                hours_silent: 1.5,
                threshold_hours: 1,
                last_used: None,
                token_ids: vec![fresh.id],
            },
            Silence {
                tenant: "quiet".into(),
                hours_silent: 3.0,
                threshold_hours: 2,
                last_used: Some(timestamp(now - Duration::hours(3))),
                token_ids: vec![quiet.id],
            },
        ],
        failed: vec![],
    };
    Seeded {
        registry,
        _dir: dir,
        now,
        expected,
    }
}

/// Runs the check on a seeded store: what it found, what it prints, and its store calls.
async fn check_finds_the_silent_tenants(store: &dyn Store, seeded: &Seeded) {
    let (report, usage) = metering::metered(check(seeded.registry.as_ref(), store, seeded.now)).await;
    let report = report.unwrap();
    assert_eq!(report, seeded.expected);
    // One settings read for each of the five tenants with a live token, one token-use read for
    // each of the three with the alarm on; nothing for `gone`.
    assert_eq!(usage.calls, 5 + 3);

    let lines = report.lines(0);
    let metric: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(metric["SilentTenants"], 2);
    let named: Vec<Value> = lines[1..]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        named
            .iter()
            .map(|l| l["tenant"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["fresh", "quiet"]
    );
    assert!(named.iter().all(|l| l["message"] == "tenant silent"));
}

#[tokio::test]
async fn the_watcher_finds_the_silent_tenants_on_dynamodb_with_one_get_per_tenant_and_one_query_per_watched_one(
) {
    let counter = CallCounter::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        scim_testkit::dynamodb::config()
            .interceptor(counter.clone())
            .build(),
    );
    let table = scim_testkit::unique_name("scim-watch");
    create_table_with(&client, &table, false).await.unwrap();
    let store = DynamoStore::new(client, table, Arc::new(SchemaRegistry::standard()));
    let seeded = seed(&store).await;
    counter.take();
    check_finds_the_silent_tenants(&store, &seeded).await;
    assert_eq!(
        counter.take(),
        BTreeMap::from([("GetItem".to_string(), 5), ("Query".to_string(), 3)])
    );
}

#[tokio::test]
async fn the_watcher_finds_the_silent_tenants_on_the_embedded_store() {
    let store = scim_store::MemoryStore::new(Arc::new(SchemaRegistry::standard()));
    let seeded = seed(&store).await;
    check_finds_the_silent_tenants(&store, &seeded).await;
}
