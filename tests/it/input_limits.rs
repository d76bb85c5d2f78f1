//! Issue 12: what one request may cost and what identifiers may hold. Bounded value counts
//! (400 `tooMany`), identifiers compared in Unicode NFC (409 across spellings, found by `eq`),
//! invisible characters and wrong JSON types refused (400 `invalidValue`), and PATCH bodies that
//! once cost seconds of CPU.

// Tests may unwrap (`allow-unwrap-in-tests` misses them: `on_both_stores!` runs plain functions).
#![allow(clippy::unwrap_used)]

use scim_blackbox::patch_op;
use scim_blackbox::urn::{GROUP, USER};
use scim_blackbox::{on_both_stores, Server};
use serde_json::{json, Value};

fn detail(r: &scim_blackbox::Reply) -> &str {
    r.body["detail"].as_str().unwrap_or_default()
}

// More values than `SCIM_MAX_VALUES_PER_ATTRIBUTE` (default 1,000), or members than
// `SCIM_MAX_MEMBER_CHANGES`, in a POST or PUT: 400 `tooMany` naming the attribute and the limit,
// and nothing written. 52,000 roles (977 KB) once cost 14 s of CPU before being stored.
on_both_stores!(too_many_values_answer_400_too_many);
async fn too_many_values_answer_400_too_many() {
    let s = Server::start().await;
    let roles: Vec<Value> = (0..52_000).map(|i| json!({"value": format!("r{i}")})).collect();
    let r = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "many", "roles": roles}),
        )
        .await;
    r.assert_error(400, Some("tooMany"));
    assert!(
        detail(&r).contains("'roles'") && detail(&r).contains("1000"),
        "{}",
        r.text
    );
    let found = s.get("/Users?filter=userName%20eq%20%22many%22").await;
    assert_eq!(found.assert_status(200)["totalResults"], 0, "nothing written");

    let members: Vec<Value> = (0..16_000).map(|i| json!({"value": format!("m-{i}")})).collect();
    let r = s
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "big", "members": members}),
        )
        .await;
    r.assert_error(400, Some("tooMany"));
    assert!(
        detail(&r).contains("'members'") && detail(&r).contains("1000"),
        "{}",
        r.text
    );
    let g = s.create_group("small", &[]).await;
    let r = s
        .put(
            &format!("/Groups/{g}"),
            &json!({"schemas": [GROUP], "displayName": "small", "members": members}),
        )
        .await;
    r.assert_error(400, Some("tooMany"));

    // The limit is a setting; exactly the limit is fine.
    let s = Server::start_with(&[("SCIM_MAX_VALUES_PER_ATTRIBUTE", "3")]).await;
    let emails =
        |n: usize| -> Vec<Value> { (0..n).map(|i| json!({"value": format!("{i}@x.org")})).collect() };
    s.post(
        "/Users",
        &json!({"schemas": [USER], "userName": "three", "emails": emails(3)}),
    )
    .await
    .assert_status(201);
    let r = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "four", "emails": emails(4)}),
        )
        .await;
    r.assert_error(400, Some("tooMany"));
    assert!(
        detail(&r).contains("'emails'") && detail(&r).contains('3'),
        "{}",
        r.text
    );
}

// A composed "josé" (U+00E9) and a decomposed one (e + U+0301) are one userName, one
// externalId and one group displayName: 409 on the second, found by `eq` in either spelling.
on_both_stores!(identifiers_compare_in_nfc);
async fn identifiers_compare_in_nfc() {
    let s = Server::start().await;
    let id = s.create_user("jos\u{e9}@example.com").await;
    s.post(
        "/Users",
        &json!({"schemas": [USER], "userName": "jose\u{301}@example.com"}),
    )
    .await
    .assert_error(409, Some("uniqueness"));
    for filter in [
        "userName%20eq%20%22jose%CC%81%40example.com%22",
        "userName%20eq%20%22JOS%C3%89%40example.com%22",
    ] {
        let r = s.get(&format!("/Users?filter={filter}")).await;
        let body = r.assert_status(200);
        assert_eq!(body["totalResults"], 1, "{filter}: {}", r.text);
        assert_eq!(body["Resources"][0]["id"], id.as_str());
        // Stored as sent: IdPs compare what they read back with what they wrote.
        assert_eq!(body["Resources"][0]["userName"], "jos\u{e9}@example.com");
    }
    let g = s.create_group("D\u{e9}veloppement", &[]).await;
    let r = s
        .get("/Groups?filter=displayName%20eq%20%22De%CC%81veloppement%22")
        .await;
    assert_eq!(
        r.assert_status(200)["Resources"][0]["id"],
        g.as_str(),
        "{}",
        r.text
    );
}

// Invisible and control characters in identifiers, NUL anywhere, over-long identifiers and
// values of the wrong JSON type: 400 `invalidValue` naming the attribute, on POST and PATCH.
on_both_stores!(bad_strings_and_types_answer_400_invalid_value);
async fn bad_strings_and_types_answer_400_invalid_value() {
    let s = Server::start().await;
    let cases = [
        (
            "/Users",
            json!({"schemas": [USER], "userName": "ad\u{200B}min"}),
            "userName",
        ),
        (
            "/Users",
            json!({"schemas": [USER], "userName": "admin\u{202E}"}),
            "userName",
        ),
        (
            "/Users",
            json!({"schemas": [USER], "userName": "a\u{0}b"}),
            "userName",
        ),
        (
            "/Users",
            json!({"schemas": [USER], "userName": "u", "externalId": "x\u{FEFF}"}),
            "externalId",
        ),
        (
            "/Users",
            json!({"schemas": [USER], "userName": "u", "title": "boss\u{0}"}),
            "title",
        ),
        (
            "/Users",
            json!({"schemas": [USER], "userName": "x".repeat(257)}),
            "userName",
        ),
        ("/Users", json!({"schemas": [USER], "userName": 42}), "userName"),
        (
            "/Users",
            json!({"schemas": [USER], "userName": "u", "active": "yes"}),
            "active",
        ),
        (
            "/Users",
            json!({"schemas": [USER], "userName": "u", "emails": "x"}),
            "emails",
        ),
        (
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "g".repeat(257)}),
            "displayName",
        ),
        (
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "ops\u{2066}"}),
            "displayName",
        ),
    ];
    for (path, body, attr) in cases {
        let r = s.post(path, &body).await;
        r.assert_error(400, Some("invalidValue"));
        assert!(detail(&r).contains(attr), "{attr}: {}", r.text);
    }
    let id = s.create_user("plain").await;
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "path": "userName", "value": "pl\u{200D}ain"}])),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    // Entra's string booleans stay a tolerance (docs/idp-compatibility.md, "String booleans").
    s.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .await
    .assert_status(200);
    let r = s.get(&format!("/Users/{id}")).await;
    assert_eq!(r.assert_status(200)["active"], false);
    assert_eq!(r.body["userName"], "plain");
}

/// 1,000 `password` operations in one PATCH (56 KB) once ran argon2id 1,000 times (14.5 s);
/// the engine hashes the final value once (`patch_engine::thousand_password_operations_hash_once`
/// counts it). Over HTTP: the PATCH succeeds and the last password is the one kept.
#[tokio::test]
async fn thousand_password_operations_in_one_patch() {
    let s = Server::start().await;
    let id = s.create_user("pw").await;
    let ops: Vec<Value> = (0..1000)
        .map(|i| json!({"op": "replace", "path": "password", "value": format!("Secret-{i}")}))
        .collect();
    let r = s
        .patch(&format!("/Users/{id}"), &patch_op(Value::Array(ops)))
        .await;
    let body = r.assert_status(200);
    assert!(body.get("password").is_none());
    let stored = s.stored_user(&id).await;
    let hash = stored.attrs["password"].as_str().unwrap();
    assert!(scim_proto::resource::verify_password(hash, "Secret-999"));
}
