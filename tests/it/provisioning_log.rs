//! The provisioning log end to end: IdP-shaped requests through the real listener, then the
//! records as the admin API (what `scimctl log --server` and the console read) answers them.
// Tests may unwrap (`allow-unwrap-in-tests` misses them: `on_both_stores!` runs plain functions).
#![allow(clippy::unwrap_used)]

use reqwest::Method;
use scim_blackbox::{okta_user, on_both_stores, patch_op, urn, Backend, Reply, Server, OTHER_TOKEN};
use scim_store::TenantSettings;
use serde_json::{json, Value};

const OKTA_AGENT: &str = "Okta SCIM Client 1.0.0";

/// A request as Okta sends it: its `User-Agent`, the bearer token, SCIM JSON.
async fn as_okta(s: &Server, method: Method, path: &str, body: Option<&Value>) -> Reply {
    let bearer = s.bearer();
    s.send(|client, base| {
        let mut request = client
            .request(method, format!("{base}{path}"))
            .header("Authorization", bearer)
            .header("User-Agent", OKTA_AGENT);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        request
    })
    .await
}

/// Settings of tenant `default` from `key=value` assignments.
async fn configure(s: &Server, assignments: &[&str]) {
    let mut settings = TenantSettings::default();
    for a in assignments {
        settings.assign(a).expect("a valid setting");
    }
    s.put_settings(&settings).await;
}

/// A server whose log writer reads tenant settings on every record, so a test sees a change of
/// settings at once (production caches them for 30 s).
async fn server() -> Server {
    Server::start_with(&[("SCIM_LOG_SETTINGS_SECONDS", "0")]).await
}

fn attribute<'a>(record: &'a Value, name: &str) -> Option<&'a Value> {
    record["changed"]
        .as_array()?
        .iter()
        .find(|c| c["attribute"] == name)
}

fn request_ids(records: &[Value]) -> Vec<&str> {
    records.iter().filter_map(|r| r["request_id"].as_str()).collect()
}

on_both_stores!(an_idp_sequence_is_logged_field_by_field);
async fn an_idp_sequence_is_logged_field_by_field() {
    let s = server().await;
    configure(&s, &["log_read_sample_percent=100"]).await;
    let user = okta_user("dade@example.com");
    let created = as_okta(&s, Method::POST, "/Users", Some(&user)).await;
    let id = created.assert_status(201)["id"].as_str().unwrap().to_string();
    as_okta(&s, Method::POST, "/Users", Some(&user))
        .await
        .assert_error(409, Some("uniqueness"));
    let filter = "/Users?filter=userName%20eq%20%22dade@example.com%22";
    as_okta(&s, Method::GET, filter, None).await.assert_status(200);
    let deactivate = patch_op(json!([{"op": "replace", "value": {"active": false}}]));
    as_okta(&s, Method::PATCH, &format!("/Users/{id}"), Some(&deactivate))
        .await
        .assert_status(200);
    let group = json!({"schemas": [urn::GROUP], "displayName": "Engineering", "members": [{"value": id}]});
    let gid = as_okta(&s, Method::POST, "/Groups", Some(&group))
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let remove = patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]));
    as_okta(&s, Method::PATCH, &format!("/Groups/{gid}"), Some(&remove))
        .await
        .assert_status(204);
    as_okta(&s, Method::GET, "/Users/no-such-user", None)
        .await
        .assert_error(404, None);

    let records = s.log_records("default", "limit=100").await;
    assert_eq!(records.len(), 7, "{records:#?}");
    let [missing, ungrouped, grouped, deactivated, listed, refused, first] = &records[..] else {
        unreachable!()
    };
    // Every record: who, from where, which IdP, when, how long, under which request id.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for r in &records {
        assert_eq!(r["tenant"], "default");
        assert_eq!(
            (r["token_id"].as_str(), r["token_name"].as_str()),
            (Some("test-default"), Some("test-default"))
        );
        assert_eq!(
            (r["idp"].as_str(), r["user_agent"].as_str()),
            (Some("okta"), Some(OKTA_AGENT))
        );
        assert_eq!(r["client"], "127.0.0.1");
        assert!(r["latency_ms"].is_u64() && r["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(scim_store::parse_timestamp(r["time"].as_str().unwrap()).is_some());
        let expires = r["expires_at"].as_i64().unwrap();
        assert!(
            (now + 30 * 86_400 - 120..=now + 30 * 86_400 + 120).contains(&expires),
            "{r}"
        );
        assert!(
            r.get("request_body").is_none() && r.get("response_body").is_none(),
            "bodies are off"
        );
    }
    assert_eq!(
        (
            first["method"].as_str(),
            first["path"].as_str(),
            first["status"].as_u64()
        ),
        (Some("POST"), Some("/scim/v2/Users"), Some(201))
    );
    assert_eq!(
        (first["operation"].as_str(), first["resource_type"].as_str()),
        (Some("Users.create"), Some("User"))
    );
    assert_eq!(
        (first["resource_id"].as_str(), first["resource_name"].as_str()),
        (Some(id.as_str()), Some("dade@example.com"))
    );
    assert_eq!(attribute(first, "userName").unwrap()["new"], "dade@example.com");
    assert_eq!(
        attribute(first, "password"),
        Some(&json!({"attribute": "password"})),
        "named, never valued"
    );

    assert_eq!(
        (refused["status"].as_u64(), refused["scim_type"].as_str()),
        (Some(409), Some("uniqueness"))
    );
    assert!(
        refused["detail"].as_str().is_some_and(|d| d.contains("userName")),
        "{refused}"
    );
    assert!(refused.get("resource_id").is_none());
    assert_eq!(refused["resource_name"], "dade@example.com");

    assert_eq!(
        (listed["operation"].as_str(), listed["status"].as_u64()),
        (Some("Users.list"), Some(200))
    );
    assert!(
        listed["path"].as_str().unwrap().contains("filter="),
        "the query is kept: {listed}"
    );

    assert_eq!(
        deactivated["changed"],
        json!([{"attribute": "active", "old": true, "new": false}])
    );
    assert_eq!(deactivated["resource_id"], id.as_str());

    assert_eq!(
        (
            grouped["resource_type"].as_str(),
            grouped["resource_name"].as_str()
        ),
        (Some("Group"), Some("Engineering"))
    );
    assert_eq!(
        grouped["members"],
        json!({"added": [id], "added_count": 1, "removed": [], "removed_count": 0})
    );
    assert_eq!(
        ungrouped["members"],
        json!({"added": [], "added_count": 0, "removed": [id], "removed_count": 1})
    );
    assert_eq!(
        (ungrouped["status"].as_u64(), ungrouped["resource_id"].as_str()),
        (Some(204), Some(gid.as_str()))
    );

    assert_eq!(
        (missing["status"].as_u64(), missing["resource_id"].as_str()),
        (Some(404), Some("no-such-user"))
    );

    // The selections an operator makes.
    let errors = s.log_records("default", "errors=true").await;
    assert_eq!(
        request_ids(&errors),
        request_ids(&[missing.clone(), refused.clone()])
    );
    let of_user = s.log_records("default", "resource=DADE@example.com").await;
    assert_eq!(
        request_ids(&of_user),
        request_ids(&[deactivated.clone(), refused.clone(), first.clone()])
    );
    let of_group = s.log_records("default", &format!("resource={gid}")).await;
    assert_eq!(
        request_ids(&of_group),
        request_ids(&[ungrouped.clone(), grouped.clone()])
    );
    assert!(s.log_records("default", "token=test-other").await.is_empty());
    let since = first["time"].as_str().unwrap();
    let until = deactivated["time"].as_str().unwrap();
    let window = s
        .log_records("default", &format!("since={since}&until={until}&limit=100"))
        .await;
    assert_eq!(
        request_ids(&window),
        request_ids(&[
            deactivated.clone(),
            listed.clone(),
            refused.clone(),
            first.clone()
        ])
    );
    // Pages follow `next` to the end.
    let page = s.admin_get("/tenants/default/log?limit=4").await;
    let next = page.assert_status(200)["next"].as_str().unwrap().to_string();
    let rest = s
        .admin_get(&format!(
            "/tenants/default/log?limit=4&after={}",
            urlencode(&next)
        ))
        .await;
    assert_eq!(rest.assert_status(200)["records"].as_array().unwrap().len(), 3);
    assert_eq!(rest.body["next"], Value::Null);
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

on_both_stores!(passwords_never_reach_the_log);
async fn passwords_never_reach_the_log() {
    let table = scim_testkit::unique_name("pwlog");
    let s = Server::start_with(&[("SCIM_LOG_SETTINGS_SECONDS", "0"), ("SCIM_TABLE", &table)]).await;
    configure(&s, &["log_bodies=on", "log_read_sample_percent=100"]).await;
    let secrets = [
        "Pw-created-5c1e",
        "Pw-patched-9a7f",
        "Pw-pathless-31bd",
        "Pw-replaced-e04c",
    ];
    let mut user = okta_user("grace@example.com");
    user["password"] = json!(secrets[0]);
    let id = as_okta(&s, Method::POST, "/Users", Some(&user))
        .await
        .assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/Users/{id}");
    let patch = patch_op(json!([{"op": "replace", "path": "password", "value": secrets[1]}]));
    as_okta(&s, Method::PATCH, &path, Some(&patch))
        .await
        .assert_status(200);
    let pathless = patch_op(json!([{"op": "Replace", "value": {"password": secrets[2], "active": true}}]));
    as_okta(&s, Method::PATCH, &path, Some(&pathless))
        .await
        .assert_status(200);
    user["password"] = json!(secrets[3]);
    as_okta(&s, Method::PUT, &path, Some(&user))
        .await
        .assert_status(200);

    let records = s.log_records("default", "limit=100").await;
    assert_eq!(records.len(), 4);
    assert_eq!(
        records[3]["request_body"]["userName"], "grace@example.com",
        "bodies are kept"
    );
    assert_eq!(records[3]["request_body"]["password"], "[redacted]");
    assert!(
        records.iter().all(|r| attribute(r, "password").is_some()),
        "each write changed it"
    );
    let text = serde_json::to_string(&records).unwrap();
    // Every byte the store holds, not only what a read returns.
    let stored = match Backend::current() {
        Backend::Memory => text.clone(),
        Backend::DynamoDb => table_dump(&table).await,
    };
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in a record");
        assert!(!stored.contains(secret), "{secret} stored");
    }
}

/// Every item of the table, every attribute, as text.
async fn table_dump(table: &str) -> String {
    let client = scim_testkit::dynamodb::client();
    let mut dump = String::new();
    let mut start = None;
    for _ in 0..1000 {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            dump.push_str(&format!("{item:?}\n"));
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return dump;
        }
    }
    panic!("the scan did not end");
}

on_both_stores!(bodies_only_while_log_bodies_is_on);
async fn bodies_only_while_log_bodies_is_on() {
    let s = server().await;
    s.create_user("off@example.com").await;
    // Settings apply to the records written after the change: the writer reads them (here on
    // every record; in production within SCIM_LOG_SETTINGS_SECONDS).
    s.flush_log().await;
    configure(&s, &["log_bodies=2h"]).await;
    s.create_user("on@example.com").await;
    s.flush_log().await;
    // Expired: the setting stays written but keeps nothing.
    let settings = TenantSettings {
        log_bodies_until: Some(scim_store::timestamp(
            scim_store::now() - time::Duration::minutes(1),
        )),
        ..TenantSettings::default()
    };
    s.put_settings(&settings).await;
    s.create_user("expired@example.com").await;

    let records = s.log_records("default", "").await;
    let [expired, on, off] = &records[..] else {
        panic!("{records:#?}")
    };
    assert!(off.get("request_body").is_none() && off.get("response_body").is_none());
    assert!(expired.get("request_body").is_none() && expired.get("response_body").is_none());
    assert_eq!(on["request_body"]["userName"], "on@example.com");
    assert_eq!(on["response_body"]["userName"], "on@example.com");
    assert_eq!(on["response_body"]["id"], on["resource_id"]);
}

on_both_stores!(reads_are_sampled_and_failures_always_kept);
async fn reads_are_sampled_and_failures_always_kept() {
    let s = server().await;
    configure(&s, &["log_read_sample_percent=0"]).await;
    let id = s.create_user("ada@example.com").await;
    for _ in 0..5 {
        s.get(&format!("/Users/{id}")).await.assert_status(200);
        s.get("/Users?count=1").await.assert_status(200);
    }
    s.get("/Users/nobody").await.assert_error(404, None);
    s.get("/Users?filter=nonsense")
        .await
        .assert_error(400, Some("invalidFilter"));
    let ops: Vec<String> = s
        .log_records("default", "")
        .await
        .iter()
        .map(|r| format!("{} {}", r["operation"].as_str().unwrap(), r["status"]))
        .collect();
    assert_eq!(ops, ["Users.list 400", "Users.get 404", "Users.create 201"]);
}

on_both_stores!(the_log_adds_one_write_per_recorded_request);
async fn the_log_adds_one_write_per_recorded_request() {
    // Settings cached as in production (30 s): after the first record, a request costs its
    // record's one write and nothing else.
    let s = Server::start().await;
    configure(&s, &["log_read_sample_percent=0"]).await;
    let id = s.create_user("warm@example.com").await;
    s.flush_log().await;
    let mut measure = Vec::new();
    let cases: [(&str, Method, String, Option<Value>, u64); 5] = [
        ("sampled-out read", Method::GET, format!("/Users/{id}"), None, 0),
        ("sampled-out list", Method::GET, "/Users?count=5".into(), None, 0),
        ("failed read", Method::GET, "/Users/nobody".into(), None, 1),
        (
            "user patch",
            Method::PATCH,
            format!("/Users/{id}"),
            Some(patch_op(
                json!([{"op": "replace", "path": "displayName", "value": "W"}]),
            )),
            1,
        ),
        (
            "group create",
            Method::POST,
            "/Groups".into(),
            Some(json!({"schemas": [urn::GROUP], "displayName": "G", "members": [{"value": id}]})),
            1,
        ),
    ];
    for (name, method, path, body, want) in cases {
        let before = s.log.store_calls();
        s.call(method, &path, body.as_ref()).await;
        s.flush_log().await;
        measure.push((name, s.log.store_calls() - before, want));
    }
    for (name, got, want) in measure {
        assert_eq!(got, want, "{name}: log store calls");
    }
}

on_both_stores!(a_read_the_log_would_not_keep_is_never_queued);
async fn a_read_the_log_would_not_keep_is_never_queued() {
    // Settings cached as in production (30 s). Once the tenant's settings are cached and the
    // token's use recorded, a sampled-out read is dropped in the request path: no record is
    // built or queued for it (the work it took was most of the log's cost on a read).
    let s = Server::start().await;
    configure(&s, &["log_read_sample_percent=0"]).await;
    let id = s.create_user("quiet@example.com").await;
    s.flush_log().await;
    let before = s.log.queued();
    for _ in 0..20 {
        s.get(&format!("/Users/{id}")).await.assert_status(200);
        s.get("/Users?count=2").await.assert_status(200);
    }
    assert_eq!(s.log.queued() - before, 0, "records queued for sampled-out reads");
    // Writes and failures are still queued and kept.
    s.get("/Users/nobody").await.assert_error(404, None);
    s.flush_log().await;
    assert_eq!(s.log.queued() - before, 1);
    let ops: Vec<String> = s
        .log_records("default", "")
        .await
        .iter()
        .map(|r| format!("{} {}", r["operation"].as_str().unwrap(), r["status"]))
        .collect();
    assert_eq!(ops, ["Users.get 404", "Users.create 201"]);
}

on_both_stores!(tenants_never_see_each_others_records);
async fn tenants_never_see_each_others_records() {
    let s = server().await;
    let mine = s.create_user("mine@example.com").await;
    let other = s.as_token(OTHER_TOKEN);
    let theirs = other.create_user("theirs@example.com").await;
    let own = s.log_records("default", "").await;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["resource_id"], mine.as_str());
    let other_log = s.log_records("other", "").await;
    assert_eq!(other_log.len(), 1);
    assert_eq!(other_log[0]["resource_id"], theirs.as_str());
    assert!(s
        .log_records("default", &format!("resource={theirs}"))
        .await
        .is_empty());
    assert!(s
        .log_records("default", "resource=theirs@example.com")
        .await
        .is_empty());
    assert!(s.log_records("default", "token=test-other").await.is_empty());
}

on_both_stores!(token_use_is_recorded_per_token);
async fn token_use_is_recorded_per_token() {
    let s = server().await;
    s.create_user("used@example.com").await;
    s.flush_log().await;
    let uses = s.admin_get("/tenants/default/token-uses").await;
    let uses = uses.assert_status(200)["token_uses"].as_array().unwrap().clone();
    assert_eq!(uses.len(), 1, "{uses:?}");
    assert_eq!(
        (uses[0]["token_id"].as_str(), uses[0]["client"].as_str()),
        (Some("test-default"), Some("127.0.0.1"))
    );
    let last = scim_store::parse_timestamp(uses[0]["last_used"].as_str().unwrap()).unwrap();
    assert!(time::OffsetDateTime::now_utc() - last < time::Duration::minutes(1));
    let other = s.admin_get("/tenants/other/token-uses").await;
    assert_eq!(other.assert_status(200)["token_uses"], json!([]));
}

#[tokio::test]
async fn the_admin_api_refuses_bad_queries() {
    let s = server().await;
    for query in [
        "limit=0",
        "limit=1001",
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "after=garbage",
        "colour=blue",
    ] {
        s.admin_get(&format!("/tenants/default/log?{query}"))
            .await
            .assert_error(400, Some("invalidValue"));
    }
    s.admin_get("/tenants/not%20a%20tenant/log")
        .await
        .assert_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn the_admin_api_answers_loopback_peers_only_and_never_under_lambda() {
    use std::net::SocketAddr;
    use tower::ServiceExt;
    let state = scim_blackbox::app_state(&[], false, Vec::new()).await;
    let request = |peer: &str| {
        let mut r = axum::http::Request::get("/admin/api/tenants/default/log")
            .body(axum::body::Body::empty())
            .unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        r
    };
    let app = scim_lambda::router(state);
    let local = app.clone().oneshot(request("127.0.0.1:40000")).await.unwrap();
    assert_eq!(local.status(), 200);
    let remote = app.oneshot(request("203.0.113.7:40000")).await.unwrap();
    assert_eq!(remote.status(), 404);
    let lambda = scim_blackbox::app_state(&[("SCIM_STORE", "memory")], true, Vec::new()).await;
    assert!(!lambda.config.admin_api);
    let answer = scim_lambda::router(lambda)
        .oneshot(request("127.0.0.1:40000"))
        .await
        .unwrap();
    // Not mounted: the path falls to the SCIM API, whose every route wants a bearer token.
    assert_eq!(answer.status(), 401, "not mounted under Lambda");
}

#[tokio::test]
async fn each_record_carries_the_request_id_of_its_log_line() {
    if !scim_blackbox::alone_in_process(
        module_path!(),
        "each_record_carries_the_request_id_of_its_log_line",
    ) {
        return;
    }
    let captured = scim_blackbox::logs::Captured::process_json_log();
    let s = server().await;
    s.create_user("traced@example.com").await;
    s.get("/Users/nobody").await.assert_error(404, None);
    let records = s.log_records("default", "").await;
    let lines: Vec<Value> = captured
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|l: &Value| l["fields"]["message"] == "request" && l["fields"]["tenant"] == "default")
        .collect();
    assert_eq!(lines.len(), 2, "{}", captured.text());
    for (record, line) in records.iter().rev().zip(&lines) {
        assert_eq!(record["request_id"], line["fields"]["request_id"], "{line}");
        assert_eq!(record["status"], line["fields"]["status"]);
    }
}
