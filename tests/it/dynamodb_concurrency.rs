//! Concurrent writers on the DynamoDB store, through the real Router over HTTP: no change is
//! ever lost.

use reqwest::Method;
use scim_blackbox::patch_op;
use scim_blackbox::urn::ENTERPRISE;
use scim_blackbox::{Backend, Server};
use serde_json::{json, Value};
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

/// 200 member adds to one group, 8 in flight at a time: every member is there afterwards and
/// each user lists the group.
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
    let semaphore = Arc::new(tokio::sync::Semaphore::new(8));
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
    assert_eq!(members, ids, "every add landed ({retried} client retries)");
    assert_eq!(g.body["meta"]["version"], "W/\"201\"");
    for uid in ids.iter().take(5) {
        let u = s.get(&format!("/Users/{uid}")).await;
        assert_eq!(u.body["groups"][0]["value"], json!(gid));
    }
}
