//! Concurrent writers on the DynamoDB store, through the real Router over HTTP: no change is
//! ever lost.

use reqwest::Method;
use scim_blackbox::patch_op;
use scim_blackbox::urn::ENTERPRISE;
use scim_blackbox::{Backend, Server};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Sends a request again while it answers 429 or 503 (as IdPs do), a bounded number of times.
async fn with_retries(s: &Server, method: Method, path: &str, body: &Value) -> (u16, u32) {
    for attempt in 0..20 {
        let r = s.call(method.clone(), path, Some(body)).await;
        let status = r.status.as_u16();
        if status != 429 && status != 503 {
            return (status, attempt);
        }
        let wait = r
            .header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        tokio::time::sleep(std::time::Duration::from_millis(50 * wait)).await;
    }
    panic!("{path}: still throttled after 20 attempts");
}

/// 20 PATCHes of 20 different attributes of one user, all at once: each is re-applied to the
/// fresh user when it loses the race, so all 20 changes are there afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_patches_of_one_user_keep_every_change() {
    let s = Arc::new(Server::start_on(Backend::DynamoDb, &[]).await);
    let id = s.create_user("contended@example.com").await;
    let paths: Vec<String> = [
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "name.givenName",
        "name.familyName",
        "name.middleName",
        "name.honorificPrefix",
        "name.honorificSuffix",
        "name.formatted",
        "externalId",
    ]
    .iter()
    .map(|p| p.to_string())
    .chain(
        [
            "employeeNumber",
            "costCenter",
            "organization",
            "division",
            "department",
        ]
        .iter()
        .map(|a| format!("{ENTERPRISE}:{a}")),
    )
    .collect();
    assert_eq!(paths.len(), 20);
    let writers: Vec<_> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let (s, id, path) = (s.clone(), id.clone(), path.clone());
            let value = if path == "profileUrl" {
                format!("https://example.com/{i}")
            } else {
                format!("v{i}")
            };
            tokio::spawn(async move {
                let body = patch_op(json!([{"op": "replace", "path": path, "value": value}]));
                with_retries(&s, Method::PATCH, &format!("/Users/{id}"), &body).await
            })
        })
        .collect();
    for w in writers {
        assert_eq!(w.await.unwrap().0, 200);
    }
    let user = s.get(&format!("/Users/{id}")).await;
    let body = user.assert_status(200);
    for (i, path) in paths.iter().enumerate() {
        let got = match path.strip_prefix(&format!("{ENTERPRISE}:")) {
            Some(a) => &body[ENTERPRISE][a],
            None => match path.split_once('.') {
                Some((a, b)) => &body[a][b],
                None => &body[path.as_str()],
            },
        };
        let want = if path == "profileUrl" {
            format!("https://example.com/{i}")
        } else {
            format!("v{i}")
        };
        assert_eq!(got, &json!(want), "{path}: {}", user.text);
    }
    assert_eq!(body["meta"]["version"], "W/\"21\"");
}

/// 200 member adds to one group from 20 concurrent clients (issue 16 counted 205 answers of 503
/// before they all landed): no add is refused or asked to retry, every member is there afterwards
/// and each user lists the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_member_adds_all_land() {
    // Races on one item are what is tested, not the per-tenant limits (tests/it/limits.rs).
    let unlimited = [
        ("SCIM_TENANT_RATE_PER_SECOND", "1000000"),
        ("SCIM_TENANT_BURST", "1000000"),
    ];
    let s = Arc::new(Server::start_on(Backend::DynamoDb, &unlimited).await);
    let gid = s.create_group("Crowd", &[]).await;
    let mut ids = Vec::new();
    let numbers: Vec<usize> = (0..200).collect();
    for chunk in numbers.chunks(25) {
        let creators: Vec<_> = chunk
            .iter()
            .copied()
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.create_user(&format!("crowd{i}")).await })
            })
            .collect();
        for c in creators {
            ids.push(c.await.unwrap());
        }
    }
    let semaphore = Arc::new(tokio::sync::Semaphore::new(20));
    let adders: Vec<_> = ids
        .iter()
        .map(|uid| {
            let (s, gid, uid, semaphore) = (s.clone(), gid.clone(), uid.clone(), semaphore.clone());
            tokio::spawn(async move {
                let _permit = semaphore.acquire().await.unwrap();
                let body = patch_op(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]));
                with_retries(&s, Method::PATCH, &format!("/Groups/{gid}"), &body).await
            })
        })
        .collect();
    let mut retried = 0;
    for a in adders {
        let (status, attempts) = a.await.unwrap();
        assert_eq!(status, 204);
        retried += attempts;
    }
    let g = s.get(&format!("/Groups/{gid}")).await;
    let mut members: Vec<String> = g.assert_status(200)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    members.sort();
    ids.sort();
    assert_eq!(members, ids, "every add landed");
    assert_eq!(retried, 0, "no add was answered 429 or 503");
    assert_eq!(g.body["meta"]["version"], "W/\"201\"");
    for uid in ids.iter().take(5) {
        let u = s.get(&format!("/Users/{uid}")).await;
        assert_eq!(u.body["groups"][0]["value"], json!(gid));
    }
}

/// Settings for the contended-group tests: no tenant rate limit (races are what is measured),
/// and the provisioning log's view of the tenant's settings read once, so the counts below are
/// the SCIM requests' own.
const CONTENDED: [(&str, &str); 3] = [
    ("SCIM_TENANT_RATE_PER_SECOND", "1000000"),
    ("SCIM_TENANT_BURST", "1000000"),
    ("SCIM_LOG_SETTINGS_SECONDS", "3600"),
];

/// Sends every request at once (a barrier releases them together) and answers their statuses,
/// in order.
async fn all_at_once(s: &Arc<Server>, requests: Vec<(String, Value)>) -> Vec<u16> {
    let barrier = Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(path, body)| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                s.patch(&path, &body).await.status.as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("a request task"));
    }
    statuses
}

/// The DynamoDB calls since the last `take`, once the provisioning log has written its records.
async fn calls_since(s: &Server, counter: &scim_dynamodb::CallCounter) -> BTreeMap<String, u64> {
    s.flush_log().await;
    counter.take()
}

/// `n` concurrent single-member changes of one group cost O(n) calls: each change is planned
/// once (one BatchGetItem), written once, and at most once more on top of the changes that
/// moved the group's version meanwhile (one TransactWriteItems, one GetItem to learn the new
/// version); a read of the group by the service, and at most one by the store when its cached
/// version is not the one the service read. Besides: one PutItem per provisioning log record
/// and at most one token use.
fn assert_linear(calls: &BTreeMap<String, u64>, n: u64, what: &str) {
    println!("{what}: {calls:?}");
    let count = |op: &str| calls.get(op).copied().unwrap_or(0);
    let (batch, tx, get) = (
        count("BatchGetItem"),
        count("TransactWriteItems"),
        count("GetItem"),
    );
    assert_eq!(batch, n, "{what}: one plan per change: {calls:?}");
    assert!(
        (n..=2 * n).contains(&tx),
        "{what}: at most one write on top per change: {calls:?}"
    );
    assert!(
        (n..=3 * n).contains(&get),
        "{what}: at most three reads per change: {calls:?}"
    );
    assert!(
        count("PutItem") <= n + 1,
        "{what}: log records and a token use: {calls:?}"
    );
    let known = ["BatchGetItem", "TransactWriteItems", "GetItem", "PutItem"];
    assert!(
        calls.keys().all(|op| known.contains(&op.as_str())),
        "{what}: {calls:?}"
    );
}

/// The group's member ids (sorted) and its version.
async fn members_and_version(s: &Server, gid: &str) -> (Vec<String>, Value) {
    let g = s.get(&format!("/Groups/{gid}")).await;
    let body = g.assert_status(200);
    let mut ids: Vec<String> = body["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    (ids, body["meta"]["version"].clone())
}

async fn users(s: &Server, prefix: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(s.create_user(&format!("{prefix}{i}@example.com")).await);
    }
    ids.sort();
    ids
}

fn add_member(uid: &str) -> Value {
    patch_op(json!([{"op": "add", "path": "members", "value": [{"value": uid}]}]))
}

/// 5 and then 20 single-member adds to one group, all at once (issue 16 measured 15 and 194
/// transactions): every add lands, every add moves the version once, and the calls per add do
/// not grow with the number of rivals.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_member_adds_cost_calls_linear_in_their_number() {
    let (s, counter) = Server::start_counted(&CONTENDED).await;
    let s = Arc::new(s);
    for n in [5, 20] {
        let gid = s.create_group(&format!("Adds {n}"), &[]).await;
        let ids = users(&s, &format!("add{n}-"), n).await;
        calls_since(&s, &counter).await;
        let requests = ids
            .iter()
            .map(|uid| (format!("/Groups/{gid}"), add_member(uid)))
            .collect();
        let statuses = all_at_once(&s, requests).await;
        assert!(statuses.iter().all(|&st| st == 204), "{statuses:?}");
        assert_linear(&calls_since(&s, &counter).await, n as u64, &format!("{n} adds"));
        let (members, version) = members_and_version(&s, &gid).await;
        assert_eq!(members, ids, "every add landed");
        assert_eq!(
            version,
            json!(format!("W/\"{}\"", 1 + n)),
            "each add moved the version once"
        );
    }
}

/// The same for removes (Entra's form: `remove` of `members` with the values), from groups of
/// 20 members.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_member_removes_cost_calls_linear_in_their_number() {
    let (s, counter) = Server::start_counted(&CONTENDED).await;
    let s = Arc::new(s);
    for n in [5, 20] {
        let ids = users(&s, &format!("rm{n}-"), 20).await;
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let gid = s.create_group(&format!("Removes {n}"), &refs).await;
        calls_since(&s, &counter).await;
        let requests = ids[..n]
            .iter()
            .map(|uid| {
                let body = patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": uid}]}]));
                (format!("/Groups/{gid}"), body)
            })
            .collect();
        let statuses = all_at_once(&s, requests).await;
        assert!(statuses.iter().all(|&st| st == 204), "{statuses:?}");
        assert_linear(
            &calls_since(&s, &counter).await,
            n as u64,
            &format!("{n} removes"),
        );
        let (members, version) = members_and_version(&s, &gid).await;
        assert_eq!(members, ids[n..].to_vec(), "every remove landed");
        assert_eq!(version, json!(format!("W/\"{}\"", 1 + n)));
        for uid in &ids[..n] {
            let u = s.get(&format!("/Users/{uid}")).await;
            assert!(u.assert_status(200).get("groups").is_none(), "{}", u.text);
        }
    }
}

/// 20 adds and a rename of the group, all at once: every request lands, and every member's
/// `groups` shows the new name, whichever side of the rename its add landed on (an add that
/// planned with the old name and finds the name changed plans again; the rename's fan-out
/// reaches the members added before it). A rename conflicts with the adds at most once each, so
/// the calls stay linear.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_and_a_rename_all_land() {
    let (s, counter) = Server::start_counted(&CONTENDED).await;
    let s = Arc::new(s);
    let n = 20;
    let gid = s.create_group("Before", &[]).await;
    let ids = users(&s, "mix-", n).await;
    calls_since(&s, &counter).await;
    let mut requests: Vec<(String, Value)> = ids
        .iter()
        .map(|uid| (format!("/Groups/{gid}"), add_member(uid)))
        .collect();
    let rename = patch_op(json!([{"op": "replace", "path": "displayName", "value": "After"}]));
    requests.insert(n / 2, (format!("/Groups/{gid}"), rename));
    let statuses = all_at_once(&s, requests).await;
    assert!(statuses.iter().all(|&st| st == 204), "{statuses:?}");
    let calls = calls_since(&s, &counter).await;
    println!("20 adds and a rename: {calls:?}");
    let count = |op: &str| calls.get(op).copied().unwrap_or(0);
    // An add that planned with the old name plans again (once: there is one rename), and each
    // round writes at most twice (its write, then on top) with a service read, a store read and
    // a read-back at most; the rename goes on top of the adds at most once.
    let n = n as u64;
    assert!(count("BatchGetItem") <= 2 * n, "{calls:?}");
    assert!(count("TransactWriteItems") <= 4 * n, "{calls:?}");
    assert!(count("GetItem") <= 6 * n + 3, "{calls:?}");
    // The rename's write (once more on top of the adds at most), then its fan-out, run once:
    // one Query, one UpdateItem per user member it reaches, one to finish.
    assert!(count("Query") <= 1, "one fan-out: {calls:?}");
    assert!(count("UpdateItem") <= 2 + n + 1, "{calls:?}");
    let (members, version) = members_and_version(&s, &gid).await;
    assert_eq!(members, ids, "every add landed");
    assert_eq!(
        version,
        json!(format!("W/\"{}\"", 2 + n)),
        "20 adds and a rename, one version each"
    );
    let g = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g.assert_status(200)["displayName"], "After");
    for uid in &ids {
        let u = s.get(&format!("/Users/{uid}")).await;
        assert_eq!(
            u.assert_status(200)["groups"][0]["display"],
            "After",
            "{}",
            u.text
        );
    }
}
