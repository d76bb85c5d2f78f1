//! Per-tenant fairness (scim_lambda::limits): a tenant past its request rate, or past its budget
//! of items read, is answered 429 with `Retry-After` before any store work, and other tenants
//! are not held. The rates are set so slow (one token per 100 s and less) that no refill can
//! happen during a test: the assertions count requests and items, not time.
#![allow(clippy::unwrap_used)] // tests may unwrap

use scim_blackbox::logs::Captured;
use scim_blackbox::{alone_in_process, default_tenant, on_both_stores, Server, OTHER_TOKEN};
use scim_store::{MemberChange, ResourceKind};
use serde_json::{json, Value};

/// Seeds users of tenant `default` through the store, outside any request: no budget is spent.
async fn seed_users(server: &Server, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let attrs = json!({"userName": format!("user{i:03}@example.com"), "active": true});
        let Value::Object(attrs) = attrs else {
            unreachable!()
        };
        let created = server
            .store
            .create(
                &default_tenant(),
                ResourceKind::User,
                attrs,
                MemberChange::default(),
            )
            .await
            .unwrap();
        ids.push(created.id);
    }
    ids
}

/// `co` is answered by no index: the store reads every user of the tenant.
const UNINDEXED: &str = "/Users?filter=userName%20co%20%22user%22";

#[tokio::test]
async fn a_tenant_past_its_request_rate_gets_429_and_other_tenants_do_not() {
    let server = Server::start_with(&[
        ("SCIM_TENANT_RATE_PER_SECOND", "0.01"),
        ("SCIM_TENANT_BURST", "3"),
    ])
    .await;
    // A bad token spends nothing: the limit applies once the tenant is known.
    let stranger = server.as_token("SCIM_not-a-token");
    for _ in 0..5 {
        stranger.get("/Users").await.assert_error(401, None);
    }
    // Each answer states the bucket in the headers SailPoint paces itself by.
    let header = |r: &scim_blackbox::Reply, name: &str| -> u64 {
        r.header(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .unwrap()
    };
    for remaining in [2, 1, 0] {
        let ok = server.get("/Users").await;
        ok.assert_status(200);
        assert_eq!(header(&ok, "x-rate-limit-limit"), 3);
        assert_eq!(header(&ok, "x-rate-limit-remaining"), remaining);
    }
    let refused = server.get("/Users").await;
    refused.assert_error(429, None);
    let retry_after = header(&refused, "retry-after");
    // One token at 0.01 per second.
    assert_eq!(retry_after, 100, "{}", refused.text);
    assert_eq!(header(&refused, "x-rate-limit-retry-after-seconds"), 100);
    assert_eq!(header(&refused, "x-rate-limit-remaining"), 0);
    // Full again after three tokens' time: a Unix time about 300 s from now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let reset = header(&refused, "x-rate-limit-reset");
    assert!(
        (now + 290..=now + 310).contains(&reset),
        "reset {reset}, now {now}"
    );
    // Another tenant's deprovisioning goes on.
    let other = server.as_token(OTHER_TOKEN);
    other.get("/Users").await.assert_status(200);
}

on_both_stores!(an_unindexed_filter_spends_the_tenants_read_budget);
async fn an_unindexed_filter_spends_the_tenants_read_budget() {
    let server = Server::start_with(&[
        ("SCIM_TENANT_READS_PER_SECOND", "0.01"),
        ("SCIM_TENANT_READ_BURST", "10"),
    ])
    .await;
    let ids = seed_users(&server, 30).await;
    // The balance is positive: the scan runs, reads the 30 users, and is charged for them.
    let first = server.get(UNINDEXED).await;
    assert_eq!(first.assert_status(200)["totalResults"], 30);
    // Now the balance is about -20 items: the next search waits, without reading.
    let refused = server.get(UNINDEXED).await;
    refused.assert_error(429, None);
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after >= 2_000, "20 items at 0.01/s: {retry_after}");
    // So does an indexed one: any list may scan.
    server
        .get("/Users?filter=userName%20eq%20%22user001@example.com%22")
        .await
        .assert_error(429, None);
    // A read by id cannot scan, and is not held by the debt.
    server.get(&format!("/Users/{}", ids[0])).await.assert_status(200);
    // Another tenant's searches are not held either.
    let other = server.as_token(OTHER_TOKEN);
    assert_eq!(other.get(UNINDEXED).await.assert_status(200)["totalResults"], 0);
}

#[tokio::test]
async fn the_request_log_counts_items_read_and_a_refused_search_reads_none() {
    if !alone_in_process(
        module_path!(),
        "the_request_log_counts_items_read_and_a_refused_search_reads_none",
    ) {
        return;
    }
    let captured = Captured::process_json_log();
    let server = Server::start_with(&[
        ("SCIM_TENANT_READS_PER_SECOND", "0.01"),
        ("SCIM_TENANT_READ_BURST", "1"),
    ])
    .await;
    seed_users(&server, 5).await;
    server.get(UNINDEXED).await.assert_status(200);
    server.get(UNINDEXED).await.assert_error(429, None);

    let text = captured.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["fields"]["message"] == "request")
        .map(|v| v["fields"].clone())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[0]["items_read"], 5, "the scan examined every user");
    assert_eq!(lines[0]["client"], "127.0.0.1", "the socket peer");
    assert_eq!(lines[1]["status"], 429);
    assert_eq!(lines[1]["store_calls"], 0, "refused before any store work");
    assert_eq!(lines[1]["items_read"], 0);
    assert_eq!(lines[1]["tenant"], "default");
}
