//! `POST /Bulk` (RFC 7644 §3.7) over the real listener, on both stores: references between
//! operations (forward too), a circular reference, `failOnErrors`, failures midway, `version`
//! as each operation's `If-Match`, the limits of §3.7.4, the provisioning log, and on DynamoDB
//! the calls of 1,000 creates against the calls of one.
// Tests may unwrap (`allow-unwrap-in-tests` misses them: `on_both_stores!` runs plain functions).
#![allow(clippy::unwrap_used)]

use scim_blackbox::urn::{BULK_REQUEST, BULK_RESPONSE, ENTERPRISE, GROUP, USER};
use scim_blackbox::{on_both_stores, Reply, Server};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn bulk(operations: Value, fail_on_errors: Option<u64>) -> Value {
    let mut body = json!({"schemas": [BULK_REQUEST], "Operations": operations});
    if let Some(n) = fail_on_errors {
        body["failOnErrors"] = json!(n);
    }
    body
}

fn post_user(bulk_id: &str, user_name: &str) -> Value {
    json!({"method": "POST", "path": "/Users", "bulkId": bulk_id,
           "data": {"schemas": [USER], "userName": user_name}})
}

fn post_group(bulk_id: &str, display_name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id,
           "data": {"schemas": [GROUP], "displayName": display_name, "members": members}})
}

/// What a case checks beyond statuses and which resources exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    /// Group `team` has `ada` and `bob` as members and `bob`'s manager is `ada`.
    References,
}

struct Case {
    name: &'static str,
    fail_on_errors: Option<u64>,
    /// `{seed}` stands for the id of user `seed`, created before the request (version 1).
    operations: Value,
    /// The status of each operation the response lists, in request order.
    statuses: &'static [&'static str],
    /// userNames or group displayNames that exist afterwards, and those that do not.
    present: &'static [&'static str],
    absent: &'static [&'static str],
    check: Check,
}

fn cases() -> Vec<Case> {
    let mut bob = post_user("u2", "bob");
    bob["data"]["schemas"] = json!([USER, ENTERPRISE]);
    bob["data"][ENTERPRISE] = json!({"manager": {"value": "bulkId:u1"}});
    vec![
        Case {
            name: "references backward and forward, in members and the manager",
            fail_on_errors: None,
            operations: json!([
                post_group("g", "team", &["bulkId:u1", "bulkId:u2"]),
                post_user("u1", "ada"),
                bob,
            ]),
            statuses: &["201", "201", "201"],
            present: &["team", "ada", "bob"],
            absent: &[],
            check: Check::References,
        },
        Case {
            name: "a circular reference fails its operations, the rest run",
            fail_on_errors: None,
            operations: json!([
                post_group("a", "group a", &["bulkId:b"]),
                post_group("b", "group b", &["bulkId:a"]),
                post_user("c", "carol"),
            ]),
            statuses: &["409", "409", "201"],
            present: &["carol"],
            absent: &["group a", "group b"],
            check: Check::None,
        },
        Case {
            name: "failOnErrors 1 stops at the first error",
            fail_on_errors: Some(1),
            operations: json!([post_user("dup", "seed"), post_user("d", "dan")]),
            statuses: &["409"],
            present: &["seed"],
            absent: &["dan"],
            check: Check::None,
        },
        Case {
            name: "failOnErrors 2 stops at the second error",
            fail_on_errors: Some(2),
            operations: json!([
                post_user("e", "erin"),
                post_user("dup", "seed"),
                {"method": "POST", "path": "/Users", "bulkId": "bad", "data": {"schemas": [USER]}},
                post_user("f", "frank"),
            ]),
            statuses: &["201", "409", "400"],
            present: &["erin"],
            absent: &["frank"],
            check: Check::None,
        },
        Case {
            name: "operations failing midway leave the others done",
            fail_on_errors: None,
            operations: json!([
                post_user("g", "gina"),
                {"method": "PATCH", "path": "/Users/no-such-user",
                 "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "replace", "path": "active", "value": false}]}},
                post_group("x", "ghosts", &["bulkId:nobody"]),
                {"method": "DELETE", "path": "/Widgets/1"},
                post_user("h", "hank"),
            ]),
            statuses: &["201", "404", "400", "404", "201"],
            present: &["gina", "hank"],
            absent: &["ghosts"],
            check: Check::None,
        },
        Case {
            name: "version is each operation's If-Match",
            fail_on_errors: None,
            operations: json!([
                {"method": "PATCH", "path": "/Users/{seed}", "version": "W/\"1\"",
                 "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "replace", "path": "displayName", "value": "Seed"}]}},
                {"method": "PUT", "path": "/Users/{seed}", "version": "W/\"1\"",
                 "data": {"schemas": [USER], "userName": "renamed"}},
                {"method": "DELETE", "path": "/Users/{seed}", "version": "W/\"2\""},
            ]),
            statuses: &["200", "412", "204"],
            present: &[],
            absent: &["seed", "renamed"],
            check: Check::None,
        },
    ]
}

/// How many users and groups carry this userName or displayName.
async fn count_named(s: &Server, name: &str) -> u64 {
    let mut n = 0;
    for (endpoint, attribute) in [("Users", "userName"), ("Groups", "displayName")] {
        let filter = format!("{attribute} eq \"{name}\"");
        let query: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let r = s.get(&format!("/{endpoint}?filter={query}")).await;
        n += r.assert_status(200)["totalResults"].as_u64().unwrap();
    }
    n
}

/// The id a BulkResponse entry's `location` names.
fn id_of(entry: &Value) -> String {
    entry["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

fn assert_entries(case: &Case, reply: &Reply) {
    let body = reply.assert_status(200);
    assert_eq!(body["schemas"], json!([BULK_RESPONSE]), "{}", case.name);
    let entries = body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = entries.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, case.statuses, "{}: {}", case.name, reply.text);
    for (entry, op) in entries.iter().zip(case.operations.as_array().unwrap()) {
        assert_eq!(entry["method"], op["method"], "{}", case.name);
        assert_eq!(entry.get("bulkId"), op.get("bulkId"), "{}", case.name);
        let ok = entry["status"].as_str().unwrap().starts_with('2');
        assert_eq!(entry.get("location").is_some(), ok, "{}: {entry}", case.name);
        assert_eq!(
            entry.get("version").is_some(),
            ok && op["method"] != "DELETE",
            "{}: {entry}",
            case.name
        );
        if !ok {
            let error = &entry["response"];
            assert_eq!(error["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
            assert_eq!(error["status"], entry["status"], "{}", case.name);
            assert!(error["detail"].as_str().is_some_and(|d| !d.is_empty()));
        }
    }
}

async fn check_references(s: &Server, entries: &[Value]) {
    let (team, ada, bob) = (id_of(&entries[0]), id_of(&entries[1]), id_of(&entries[2]));
    let group = s.get(&format!("/Groups/{team}")).await;
    let mut members: Vec<&str> = group.assert_status(200)["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort_unstable();
    let mut want = vec![ada.as_str(), bob.as_str()];
    want.sort_unstable();
    assert_eq!(members, want);
    let bob = s.get(&format!("/Users/{bob}")).await;
    assert_eq!(bob.assert_status(200)[ENTERPRISE]["manager"]["value"], json!(ada));
}

on_both_stores!(bulk_operations);
async fn bulk_operations() {
    for case in cases() {
        let s = Server::start().await;
        let seed = s.create_user("seed").await;
        let operations = case.operations.to_string().replace("{seed}", &seed);
        let request = bulk(serde_json::from_str(&operations).unwrap(), case.fail_on_errors);
        let reply = s.post("/Bulk", &request).await;
        assert_entries(&case, &reply);
        for name in case.present {
            assert_eq!(count_named(&s, name).await, 1, "{}: {name} exists", case.name);
        }
        for name in case.absent {
            assert_eq!(count_named(&s, name).await, 0, "{}: no {name}", case.name);
        }
        if case.check == Check::References {
            check_references(&s, reply.body["Operations"].as_array().unwrap()).await;
        }
    }
}

on_both_stores!(over_the_limits_is_413_and_nothing_runs);
async fn over_the_limits_is_413_and_nothing_runs() {
    let s = Server::start_with(&[
        ("SCIM_BULK_MAX_OPERATIONS", "2"),
        ("SCIM_BULK_MAX_PAYLOAD_BYTES", "1000"),
    ])
    .await;
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(
        spc.assert_status(200)["bulk"],
        json!({"supported": true, "maxOperations": 2, "maxPayloadSize": 1000})
    );
    let long_name = "n".repeat(1000);
    let cases: Vec<(&str, Value, u16, Option<&str>)> = vec![
        (
            "three operations",
            bulk(
                json!([post_user("a", "a1"), post_user("b", "b1"), post_user("c", "c1")]),
                None,
            ),
            413,
            None,
        ),
        (
            "over 1,000 bytes",
            bulk(json!([post_user("a", &long_name)]), None),
            413,
            None,
        ),
        (
            "no BulkRequest schema",
            json!({"Operations": [post_user("a", "a1")]}),
            400,
            Some("invalidSyntax"),
        ),
        (
            "a malformed second operation",
            bulk(
                json!([post_user("a", "a1"), {"method": "POST", "path": "/Users"}]),
                None,
            ),
            400,
            Some("invalidSyntax"),
        ),
    ];
    for (name, request, status, scim_type) in cases {
        let reply = s.post("/Bulk", &request).await;
        reply.assert_error(status, scim_type);
        if status == 413 {
            let detail = reply.body["detail"].as_str().unwrap();
            let limit = if name == "three operations" {
                "maxOperations (2)"
            } else {
                "maxPayloadSize (1000"
            };
            assert!(detail.contains(limit), "{name}: {detail}");
        }
        assert_eq!(count_named(&s, "a1").await, 0, "{name}: nothing ran");
    }
}

on_both_stores!(an_operation_over_the_body_limit_is_413_alone);
async fn an_operation_over_the_body_limit_is_413_alone() {
    let s = Server::start_with(&[("SCIM_MAX_BODY_BYTES", "300")]).await;
    let big = post_user("big", &"b".repeat(300));
    let reply = s
        .post("/Bulk", &bulk(json!([big, post_user("small", "small")]), None))
        .await;
    let entries = reply.assert_status(200)["Operations"].as_array().unwrap();
    assert_eq!(entries[0]["status"], "413", "{}", reply.text);
    assert!(entries[0]["response"]["detail"]
        .as_str()
        .unwrap()
        .contains("300 bytes"));
    assert_eq!(entries[1]["status"], "201", "{}", reply.text);
}

on_both_stores!(each_operation_is_a_request_for_the_tenant_limits);
async fn each_operation_is_a_request_for_the_tenant_limits() {
    let s = Server::start_with(&[
        ("SCIM_TENANT_BURST", "5"),
        ("SCIM_TENANT_RATE_PER_SECOND", "0.01"),
    ])
    .await;
    let operations: Vec<Value> = (0..5)
        .map(|i| post_user(&format!("l{i}"), &format!("limited{i}")))
        .collect();
    let reply = s.post("/Bulk", &bulk(json!(operations), None)).await;
    assert_eq!(
        reply.body["Operations"].as_array().unwrap().len(),
        5,
        "{}",
        reply.text
    );
    // Five requests' worth spent: the next request waits.
    let next = s.get("/Users").await;
    next.assert_error(429, None);
    assert!(next.header("retry-after").is_some());
}

on_both_stores!(each_operation_has_its_own_log_record);
async fn each_operation_has_its_own_log_record() {
    let s = Server::start().await;
    let request = bulk(
        json!([
            post_group("g", "loggers", &["bulkId:u"]),
            post_user("u", "lou"),
            {"method": "DELETE", "path": "/Widgets/1"},
        ]),
        None,
    );
    s.post("/Bulk", &request).await.assert_status(200);
    let records = s.log_records("default", "").await;
    let mut summary: Vec<(String, String, Option<&str>)> = records
        .iter()
        .map(|r| {
            let id = r["request_id"].as_str().unwrap();
            let suffix = id.rsplit_once('#').map_or("", |(_, n)| n).to_string();
            (
                r["operation"].as_str().unwrap().to_string(),
                suffix,
                r["resource_name"].as_str(),
            )
        })
        .collect();
    summary.sort();
    // The request's own record, and one per operation under the request's id with `#<n>`.
    assert_eq!(
        summary,
        [
            ("Bulk".to_string(), String::new(), None),
            ("Groups.create".to_string(), "0".to_string(), Some("loggers")),
            ("Unmatched".to_string(), "2".to_string(), None),
            ("Users.create".to_string(), "1".to_string(), Some("lou")),
        ],
        "{records:?}"
    );
    let group = records
        .iter()
        .find(|r| r["operation"] == "Groups.create")
        .unwrap();
    assert_eq!(group["members"]["added_count"], 1, "{group}");
    let ids: Vec<&str> = records
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.iter()
            .all(|id| id.starts_with(ids.iter().find(|i| !i.contains('#')).unwrap())),
        "{ids:?}"
    );
}

/// The DynamoDB calls since the last `take`, split into the request path's and the provisioning
/// log writer's (its records, and a token-use write at most once a minute, so their number
/// follows the test's duration), with the records queued meanwhile.
struct Calls {
    service: BTreeMap<String, u64>,
    writer: u64,
    records: u64,
}

async fn calls_since(
    s: &Server,
    counter: &scim_dynamodb::CallCounter,
    writer: &mut u64,
    records: &mut u64,
) -> Calls {
    s.flush_log().await;
    let mut service = counter.take();
    let (writer_now, records_now) = (s.log.store_calls(), s.log.queued());
    let writer_calls = writer_now - *writer;
    // The writer's calls are PutItems (records, token uses), and a GetItem of the settings on
    // the first record only (cached beyond the test): only the warm-up round has one.
    let puts = service.entry("PutItem".into()).or_default();
    *puts = puts.saturating_sub(writer_calls);
    service.retain(|_, n| *n > 0);
    let calls = Calls {
        service,
        writer: writer_calls,
        records: records_now - *records,
    };
    (*writer, *records) = (writer_now, records_now);
    calls
}

/// 1,000 creates in one request cost on DynamoDB 1,000 times what one `POST /Users` costs, and
/// one provisioning log record each plus the request's own: nothing per operation for the
/// envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_creates_cost_a_thousand_single_creates() {
    const N: u64 = 1_000;
    // The log writer's cached settings outlive the test, so no re-read lands among the counts.
    let (s, counter) = Server::start_counted(&[
        ("SCIM_LOG_SETTINGS_SECONDS", "3600"),
        ("SCIM_BULK_MAX_OPERATIONS", "1000"),
        // The request bucket takes each operation: room for 1,000 and the checks after.
        ("SCIM_TENANT_BURST", "2000"),
    ])
    .await;
    let (mut writer, mut records) = (0, 0);
    // Warm: the tenant's settings are read once per instance.
    s.create_user("warm").await;
    calls_since(&s, &counter, &mut writer, &mut records).await;
    s.create_user("single").await;
    let single = calls_since(&s, &counter, &mut writer, &mut records).await;
    assert_eq!(single.records, 1);
    let operations: Vec<Value> = (0..N)
        .map(|i| post_user(&format!("b{i}"), &format!("bulk{i}")))
        .collect();
    let reply = s.post("/Bulk", &bulk(json!(operations), None)).await;
    let entries = reply.assert_status(200)["Operations"].as_array().unwrap();
    assert_eq!(entries.len() as u64, N);
    assert!(entries.iter().all(|e| e["status"] == "201"), "{}", reply.text);
    let calls = calls_since(&s, &counter, &mut writer, &mut records).await;
    println!(
        "one create: {:?} + {} log writes; {N} in one bulk: {:?} + {} log writes ({} records)",
        single.service, single.writer, calls.service, calls.writer, calls.records
    );
    let want: BTreeMap<String, u64> = single.service.iter().map(|(op, n)| (op.clone(), n * N)).collect();
    assert_eq!(calls.service, want, "each operation costs one create");
    assert_eq!(
        calls.records,
        N + 1,
        "a record per operation, one for the request"
    );
    assert!(calls.writer >= calls.records, "each record is one PutItem");
    assert_eq!(count_named(&s, "bulk999").await, 1);
}
