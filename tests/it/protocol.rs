//! Every endpoint and status code of the service, over a real listener on 127.0.0.1, on both
//! stores.
// Tests may unwrap (`allow-unwrap-in-tests` misses them: `on_both_stores!` runs plain functions).
#![allow(clippy::unwrap_used)]

use reqwest::Method;
use scim_blackbox::patch_op;
use scim_blackbox::urn::{GROUP, LIST, SEARCH, SPC, USER};
use scim_blackbox::{on_both_stores, Server, OTHER_TOKEN};
use serde_json::{json, Value};

on_both_stores!(discovery_endpoints_answer);
async fn discovery_endpoints_answer() {
    let s = Server::start().await;
    let spc = s.get("/ServiceProviderConfig").await;
    let body = spc.assert_status(200);
    assert_eq!(body["patch"]["supported"], true);
    assert_eq!(body["bulk"]["supported"], true);
    assert_eq!(body["sort"]["supported"], true);
    assert_eq!(body["etag"]["supported"], true);
    assert_eq!(body["filter"]["supported"], true);
    assert_eq!(body["filter"]["maxResults"], 200);
    assert_eq!(body["authenticationSchemes"][0]["type"], "oauthbearertoken");
    assert_eq!(
        body["meta"]["location"],
        format!("{}/ServiceProviderConfig", s.base)
    );

    let rts = s.get("/ResourceTypes").await;
    let body = rts.assert_status(200);
    assert_eq!(body["schemas"][0], LIST);
    assert_eq!(body["totalResults"], 2);
    let user = s.get("/ResourceTypes/User").await;
    assert_eq!(user.assert_status(200)["endpoint"], "/Users");
    assert_eq!(
        user.body["schemaExtensions"][0]["schema"],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    );
    assert_eq!(
        s.get("/ResourceTypes/Group").await.assert_status(200)["schema"],
        GROUP
    );
    s.get("/ResourceTypes/Robot").await.assert_error(404, None);

    let schemas = s.get("/Schemas").await;
    assert_eq!(schemas.assert_status(200)["totalResults"], 4);
    for urn in [
        USER,
        GROUP,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ] {
        let r = s.get(&format!("/Schemas/{urn}")).await;
        assert_eq!(r.assert_status(200)["id"], urn);
        assert!(r.body["attributes"].as_array().is_some_and(|a| !a.is_empty()));
    }
    s.get("/Schemas/urn:example:nothing")
        .await
        .assert_error(404, None);
}

on_both_stores!(service_provider_config_holds_only_core_attributes);
/// ServiceProviderConfig is the core schema and its attributes (RFC 7643 §5, and RFC 9865 §4
/// `pagination`), nothing of ours: clients validate it with a closed model (python-scim's
/// scim2-models refuses an unknown extension object and stops at discovery). Nested groups and
/// effective roles are described by the schemas that carry them (`effective_roles.rs`).
async fn service_provider_config_holds_only_core_attributes() {
    let s = Server::start().await;
    let r = s.get("/ServiceProviderConfig").await;
    let spc = r.assert_status(200);
    assert_eq!(spc["schemas"], json!([SPC]), "{}", r.text);
    let core = [
        "schemas",
        "documentationUri",
        "patch",
        "bulk",
        "filter",
        "changePassword",
        "sort",
        "etag",
        "pagination",
        "authenticationSchemes",
        "meta",
    ];
    for key in spc.as_object().expect("an object").keys() {
        assert!(core.contains(&key.as_str()), "not a core attribute: {key}");
    }
}

on_both_stores!(discovery_endpoints_refuse_writes_with_405);
async fn discovery_endpoints_refuse_writes_with_405() {
    let s = Server::start().await;
    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let r = s.call(method.clone(), path, Some(&json!({}))).await;
            r.assert_error(405, None);
        }
    }
    s.call(Method::DELETE, "/Users", None)
        .await
        .assert_error(405, None);
    s.call(Method::POST, "/Users/some-id", Some(&json!({})))
        .await
        .assert_error(405, None);
}

on_both_stores!(unknown_routes_and_ids_are_scim_404);
async fn unknown_routes_and_ids_are_scim_404() {
    let s = Server::start().await;
    s.get("/Robots").await.assert_error(404, None);
    s.get("/0f0e4a66-6d5b-4d58-9a7b-6bb3c5a3a0a1")
        .await
        .assert_error(404, None);
    s.get("/Users/does-not-exist").await.assert_error(404, None);
    s.get("/Groups/does-not-exist").await.assert_error(404, None);
    s.delete("/Users/does-not-exist").await.assert_error(404, None);
    s.put(
        "/Users/does-not-exist",
        &json!({"schemas": [USER], "userName": "x"}),
    )
    .await
    .assert_error(404, None);
    s.patch(
        "/Users/does-not-exist",
        &patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await
    .assert_error(404, None);
    let outside = s
        .send(|c, base| {
            c.get(base.replace("/scim/v2", "/elsewhere"))
                .bearer_auth(scim_blackbox::TOKEN)
        })
        .await;
    outside.assert_error(404, None);
}

on_both_stores!(every_endpoint_requires_a_valid_token);
async fn every_endpoint_requires_a_valid_token() {
    let s = Server::start().await;
    for path in [
        "/Users",
        "/Groups",
        "/ServiceProviderConfig",
        "/Schemas",
        "/ResourceTypes",
        "/nowhere",
    ] {
        let r = s.send(|c, base| c.get(format!("{base}{path}"))).await;
        r.assert_error(401, None);
        assert!(r
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer")));
        let r = s
            .send(|c, base| {
                c.get(format!("{base}{path}"))
                    .header("authorization", "Bearer SCIM_wrong")
            })
            .await;
        r.assert_error(401, None);
        let r = s
            .send(|c, base| {
                c.get(format!("{base}{path}"))
                    .header("authorization", "Basic dXNlcjpwYXNz")
            })
            .await;
        r.assert_error(401, None);
    }
}

on_both_stores!(user_lifecycle_create_get_replace_patch_delete);
async fn user_lifecycle_create_get_replace_patch_delete() {
    let s = Server::start().await;
    let created = s
        .post(
            "/Users",
            &json!({
                "schemas": [USER],
                "userName": "bjensen@example.com",
                "externalId": "00u1",
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
                "active": true
            }),
        )
        .await;
    let body = created.assert_status(201).clone();
    let id = body["id"].as_str().unwrap().to_string();
    let location = body["meta"]["location"].as_str().unwrap().to_string();
    assert_eq!(location, format!("{}/Users/{id}", s.base));
    assert_eq!(created.header("location"), Some(location.as_str()));
    assert_eq!(created.header("etag"), body["meta"]["version"].as_str());
    assert_eq!(body["meta"]["resourceType"], "User");
    assert_eq!(body["schemas"], json!([USER]));
    assert!(created
        .header("content-type")
        .unwrap()
        .starts_with("application/scim+json"));

    let got = s.get(&format!("/Users/{id}")).await;
    assert_eq!(got.assert_status(200)["userName"], "bjensen@example.com");
    assert_eq!(got.body["name"]["familyName"], "Jensen");

    // PUT replaces: name is gone, displayName set; readOnly input (id, meta, groups) is ignored.
    let mut replacement = json!({
        "schemas": [USER], "id": "ignored", "userName": "bjensen@example.com",
        "displayName": "Babs", "active": true, "groups": [{"value": "x"}], "meta": {"version": "W/\"99\""}
    });
    let put = s.put(&format!("/Users/{id}"), &replacement).await;
    let put_body = put.assert_status(200);
    assert_eq!(put_body["id"], id);
    assert_eq!(put_body["displayName"], "Babs");
    assert!(put_body.get("name").is_none());
    assert!(put_body.get("groups").is_none());
    assert_eq!(put_body["meta"]["version"], "W/\"2\"");

    // If-Match with a stale version: 412, nothing changes.
    replacement["displayName"] = json!("Stale");
    let stale = s
        .send(|c, base| {
            c.put(format!("{base}/Users/{id}"))
                .header("authorization", s.bearer())
                .header("if-match", "W/\"1\"")
                .header("content-type", "application/scim+json")
                .body(replacement.to_string())
        })
        .await;
    stale.assert_error(412, None);
    assert_eq!(s.get(&format!("/Users/{id}")).await.body["displayName"], "Babs");

    // If-Match with the current version succeeds; If-None-Match with it answers 304.
    let patch = patch_op(json!([{"op": "replace", "path": "displayName", "value": "Barb"}]));
    let ok = s
        .send(|c, base| {
            c.patch(format!("{base}/Users/{id}"))
                .header("authorization", s.bearer())
                .header("if-match", "W/\"2\"")
                .header("content-type", "application/scim+json")
                .body(patch.to_string())
        })
        .await;
    assert_eq!(ok.assert_status(200)["displayName"], "Barb");
    assert_eq!(ok.header("etag"), Some("W/\"3\""));
    let not_modified = s
        .send(|c, base| {
            c.get(format!("{base}/Users/{id}"))
                .header("authorization", s.bearer())
                .header("if-none-match", "W/\"3\"")
        })
        .await;
    assert_eq!(not_modified.status.as_u16(), 304);

    let deleted = s.delete(&format!("/Users/{id}")).await;
    assert_eq!(deleted.status.as_u16(), 204);
    assert!(deleted.text.is_empty());
    s.get(&format!("/Users/{id}")).await.assert_error(404, None);
    s.delete(&format!("/Users/{id}")).await.assert_error(404, None);
}

on_both_stores!(group_lifecycle_with_members);
async fn group_lifecycle_with_members() {
    let s = Server::start().await;
    let alice = s.create_user("alice").await;
    let bob = s.create_user("bob").await;
    let created = s
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": alice, "type": "User"}]}),
        )
        .await;
    let body = created.assert_status(201).clone();
    let gid = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["members"][0]["value"], alice);
    assert_eq!(body["members"][0]["type"], "User");
    assert_eq!(body["members"][0]["$ref"], format!("{}/Users/{alice}", s.base));
    assert_eq!(created.header("location"), body["meta"]["location"].as_str());

    // PATCH on a group answers 204; the change is visible on GET.
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": bob}]}])),
        )
        .await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    let got = s.get(&format!("/Groups/{gid}")).await;
    let mut ids: Vec<&str> = got.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = vec![alice.as_str(), bob.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);

    // With `attributes`, the PATCH answers 200 with what was asked for.
    let r = s
        .patch(
            &format!("/Groups/{gid}?attributes=displayName"),
            &patch_op(json!([{"op": "replace", "path": "displayName", "value": "Eng"}])),
        )
        .await;
    assert_eq!(r.assert_status(200)["displayName"], "Eng");
    assert!(r.body.get("members").is_none());

    // excludedAttributes=members leaves members out of GET.
    let r = s.get(&format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert!(r.assert_status(200).get("members").is_none());
    assert_eq!(r.body["displayName"], "Eng");

    // The user's groups list the group.
    let u = s.get(&format!("/Users/{alice}")).await;
    assert_eq!(u.assert_status(200)["groups"][0]["value"], gid);
    assert_eq!(u.body["groups"][0]["display"], "Eng");

    // PUT replaces the member list.
    let r = s
        .put(
            &format!("/Groups/{gid}"),
            &json!({"schemas": [GROUP], "displayName": "Eng", "members": [{"value": bob}]}),
        )
        .await;
    assert_eq!(r.assert_status(200)["members"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["members"][0]["value"], bob);

    // Deleting a member user removes it from the group.
    assert_eq!(s.delete(&format!("/Users/{bob}")).await.status.as_u16(), 204);
    let g = s.get(&format!("/Groups/{gid}")).await;
    assert!(g.assert_status(200).get("members").is_none(), "{}", g.text);

    assert_eq!(s.delete(&format!("/Groups/{gid}")).await.status.as_u16(), 204);
    s.get(&format!("/Groups/{gid}")).await.assert_error(404, None);
    assert!(s
        .get(&format!("/Users/{alice}"))
        .await
        .body
        .get("groups")
        .is_none());
}

on_both_stores!(nested_groups_and_cycles);
async fn nested_groups_and_cycles() {
    let s = Server::start().await;
    let inner = s.create_group("inner", &[]).await;
    let outer = s.create_group("outer", &[&inner]).await;
    let g = s.get(&format!("/Groups/{outer}")).await;
    assert_eq!(g.body["members"][0]["type"], "Group");
    assert_eq!(g.body["members"][0]["$ref"], format!("{}/Groups/{inner}", s.base));
    let r = s
        .patch(
            &format!("/Groups/{inner}"),
            &patch_op(
                json!([{"op": "add", "path": "members", "value": [{"value": outer, "type": "Group"}]}]),
            ),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(s
        .get(&format!("/Groups/{inner}"))
        .await
        .body
        .get("members")
        .is_none());
}

on_both_stores!(lists_page_with_start_index_and_count);
async fn lists_page_with_start_index_and_count() {
    let s = Server::start().await;
    for i in 0..5 {
        s.create_user(&format!("user{i}")).await;
    }
    let r = s.get("/Users?startIndex=2&count=2").await;
    let body = r.assert_status(200);
    assert_eq!(body["schemas"][0], LIST);
    assert_eq!(body["totalResults"], 5);
    assert_eq!(body["startIndex"], 2);
    assert_eq!(body["itemsPerPage"], 2);
    assert_eq!(body["Resources"].as_array().unwrap().len(), 2);

    let r = s.get("/Users?count=0").await;
    assert_eq!(r.assert_status(200)["totalResults"], 5);
    assert_eq!(r.body["Resources"], json!([]));

    let r = s.get("/Users?count=100000").await;
    assert_eq!(r.assert_status(200)["itemsPerPage"], 5);

    // POST .search behaves like GET with the same parameters.
    let r = s
        .post(
            "/Users/.search",
            &json!({"schemas": [SEARCH], "startIndex": 1, "count": 3, "attributes": ["userName"]}),
        )
        .await;
    let body = r.assert_status(200);
    assert_eq!(body["itemsPerPage"], 3);
    let first = &body["Resources"][0];
    assert!(first.get("userName").is_some() && first.get("id").is_some() && first.get("active").is_none());

    // Root .search spans users and groups.
    s.create_group("team", &[]).await;
    let r = s.post("/.search", &json!({"schemas": [SEARCH]})).await;
    let body = r.assert_status(200);
    assert_eq!(body["totalResults"], 6);
    let kinds: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "Group").count(), 1);
    let r = s
        .post(
            "/.search",
            &json!({"schemas": [SEARCH], "startIndex": 6, "count": 10}),
        )
        .await;
    assert_eq!(r.assert_status(200)["Resources"][0]["displayName"], "team");
}

on_both_stores!(bad_input_answers_scim_errors);
async fn bad_input_answers_scim_errors() {
    let s = Server::start().await;
    let raw = |method: Method, path: &str, content_type: &str, body: &str| {
        let (path, content_type, body) = (path.to_string(), content_type.to_string(), body.to_string());
        let bearer = s.bearer();
        move |c: &reqwest::Client, base: &str| {
            c.request(method, format!("{base}{path}"))
                .header("authorization", bearer)
                .header("content-type", content_type)
                .body(body)
        }
    };
    s.send(raw(Method::POST, "/Users", "application/scim+json", "{not json"))
        .await
        .assert_error(400, Some("invalidSyntax"));
    s.send(raw(Method::POST, "/Users", "application/scim+json", ""))
        .await
        .assert_error(400, Some("invalidSyntax"));
    s.send(raw(Method::POST, "/Users", "application/scim+json", "[1,2]"))
        .await
        .assert_error(400, Some("invalidSyntax"));
    s.send(raw(Method::POST, "/Users", "text/plain", "{}"))
        .await
        .assert_error(415, None);
    let big = format!(
        "{{\"schemas\":[\"{USER}\"],\"userName\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    s.send(raw(Method::POST, "/Users", "application/scim+json", &big))
        .await
        .assert_error(413, None);

    // Wrong types and missing required attributes.
    s.post("/Users", &json!({"schemas": [USER], "userName": {"first": "a"}}))
        .await
        .assert_error(400, Some("invalidValue"));
    s.post(
        "/Users",
        &json!({"schemas": [USER], "userName": "a", "active": "maybe"}),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    s.post("/Users", &json!({"schemas": [USER]}))
        .await
        .assert_error(400, Some("invalidValue"));
    s.post("/Users", &json!({"not": "a scim resource"}))
        .await
        .assert_error(400, Some("invalidValue"));
    s.post("/Users", &json!({"schemas": [GROUP], "displayName": "x"}))
        .await
        .assert_error(400, Some("invalidValue"));
    s.post(
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": "g", "members": [{"value": "nobody"}]}),
    )
    .await
    .assert_error(400, Some("invalidValue"));

    // Invalid filters and PATCH paths.
    for filter in [
        "userName eq",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "nosuchattr eq \"a\"",
        "userName eq \"unterminated",
    ] {
        let path = format!(
            "/Users?filter={}",
            filter.replace(' ', "%20").replace('"', "%22").replace('(', "%28")
        );
        s.get(&path).await.assert_error(400, Some("invalidFilter"));
    }
    let long = format!("userName eq \"{}\"", "a".repeat(5000));
    s.get(&format!(
        "/Users?filter={}",
        long.replace(' ', "%20").replace('"', "%22")
    ))
    .await
    .assert_error(400, Some("invalidFilter"));
    let id = s.create_user("patchee").await;
    let bad_ops = [
        (
            patch_op(json!([{"op": "jump", "path": "active", "value": true}])),
            "invalidSyntax",
        ),
        (
            patch_op(json!([{"op": "replace", "path": "nosuch", "value": 1}])),
            "invalidPath",
        ),
        (
            patch_op(json!([{"op": "replace", "path": "emails[type eq", "value": 1}])),
            "invalidPath",
        ),
        (patch_op(json!([{"op": "remove"}])), "noTarget"),
        (
            patch_op(json!([{"op": "replace", "path": "id", "value": "x"}])),
            "mutability",
        ),
        (
            patch_op(json!([{"op": "remove", "path": "userName"}])),
            "invalidValue",
        ),
        (json!({"schemas": [USER], "Operations": []}), "invalidSyntax"),
    ];
    for (body, scim_type) in bad_ops {
        s.patch(&format!("/Users/{id}"), &body)
            .await
            .assert_error(400, Some(scim_type));
    }
    // Nothing above changed the user.
    assert_eq!(
        s.get(&format!("/Users/{id}")).await.body["meta"]["version"],
        "W/\"1\""
    );

    // A cursor this service did not issue (RFC 9865 §6), and mixed paging methods.
    s.get("/Users?cursor=not-a-cursor")
        .await
        .assert_error(400, Some("invalidCursor"));
    s.get("/Users?cursor=&startIndex=1")
        .await
        .assert_error(400, Some("invalidValue"));
    // Non-numeric paging parameters.
    s.get("/Users?count=ten")
        .await
        .assert_error(400, Some("invalidValue"));
}

/// A member entry without a usable `value` is refused in POST and PUT as it is in PATCH, never
/// dropped (it would leave the group without the member the IdP believes it added), and the
/// refused write changes nothing.
#[tokio::test]
async fn group_member_without_value_is_400_in_post_and_put() {
    let s = Server::start().await;
    let alice = s.create_user("alice").await;
    let no_value = [
        json!([{"display": "Alice"}]),
        json!([{"value": "", "type": "User"}]),
        json!([{"value": "   "}]),
        json!([{"value": alice}, {}]),
    ];
    for members in &no_value {
        let r = s
            .post(
                "/Groups",
                &json!({"schemas": [GROUP], "displayName": "g", "members": members}),
            )
            .await;
        r.assert_error(400, Some("invalidValue"));
        assert!(
            r.body["detail"].as_str().unwrap().contains("'value'"),
            "{}",
            r.text
        );
    }
    let gid = s.create_group("g", &[&alice]).await;
    for members in &no_value {
        s.put(
            &format!("/Groups/{gid}"),
            &json!({"schemas": [GROUP], "displayName": "renamed", "members": members}),
        )
        .await
        .assert_error(400, Some("invalidValue"));
    }
    let g = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g.assert_status(200)["displayName"], "g");
    assert_eq!(g.body["members"][0]["value"], alice, "{}", g.text);
    let list = s.get("/Groups").await;
    assert_eq!(list.assert_status(200)["totalResults"], 1, "{}", list.text);
}

on_both_stores!(duplicates_are_409_uniqueness);
async fn duplicates_are_409_uniqueness() {
    let s = Server::start().await;
    s.create_user("Dup@Example.com").await;
    s.post(
        "/Users",
        &json!({"schemas": [USER], "userName": "dup@example.com"}),
    )
    .await
    .assert_error(409, Some("uniqueness"));
    let other = s.create_user("other").await;
    s.patch(
        &format!("/Users/{other}"),
        &patch_op(json!([{"op": "replace", "path": "userName", "value": "DUP@example.com"}])),
    )
    .await
    .assert_error(409, Some("uniqueness"));
}

on_both_stores!(tenants_are_isolated);
async fn tenants_are_isolated() {
    let s = Server::start().await;
    let other = s.as_token(OTHER_TOKEN);
    let id = s.create_user("shared-name").await;
    let gid = s.create_group("team", &[&id]).await;
    // The same userName is free in the other tenant.
    let theirs = other.create_user("shared-name").await;
    other.get(&format!("/Users/{id}")).await.assert_error(404, None);
    other.get(&format!("/Groups/{gid}")).await.assert_error(404, None);
    other
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await
        .assert_error(404, None);
    other
        .put(
            &format!("/Users/{id}"),
            &json!({"schemas": [USER], "userName": "x"}),
        )
        .await
        .assert_error(404, None);
    other
        .delete(&format!("/Users/{id}"))
        .await
        .assert_error(404, None);
    other
        .delete(&format!("/Groups/{gid}"))
        .await
        .assert_error(404, None);
    let list = other.get("/Users").await;
    assert_eq!(list.assert_status(200)["totalResults"], 1);
    assert_eq!(list.body["Resources"][0]["id"], theirs);
    // Adding tenant A's user to tenant B's group fails.
    let their_group = other.create_group("theirs", &[]).await;
    other
        .patch(
            &format!("/Groups/{their_group}"),
            &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": id}]}])),
        )
        .await
        .assert_error(400, Some("invalidValue"));
    // Tenant A's resources are untouched.
    assert_eq!(
        s.get(&format!("/Users/{id}")).await.body["active"],
        Value::Bool(true)
    );
    assert_eq!(
        s.get(&format!("/Groups/{gid}")).await.body["members"][0]["value"],
        id
    );
}

on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    concurrent_patches_never_lose_a_change
);
async fn concurrent_patches_never_lose_a_change() {
    let s = std::sync::Arc::new(Server::start().await);
    let id = s.create_user("contended").await;
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let (s, id) = (s.clone(), id.clone());
            tokio::spawn(async move {
                let body = patch_op(
                    json!([{"op": "add", "path": "roles", "value": [{"value": format!("role-{i}")}]}]),
                );
                s.patch(&format!("/Users/{id}"), &body).await.status.as_u16()
            })
        })
        .collect();
    for w in writers {
        assert_eq!(w.await.unwrap(), 200);
    }
    let user = s.get(&format!("/Users/{id}")).await;
    let mut roles: Vec<String> = user.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect();
    roles.sort();
    let mut want: Vec<String> = (0..16).map(|i| format!("role-{i}")).collect();
    want.sort();
    assert_eq!(roles, want);
    assert_eq!(user.body["meta"]["version"], "W/\"17\"");
}

on_both_stores!(cursor_paging_walks_every_resource_once);
/// RFC 9865: `cursor=` starts cursor paging; following `nextCursor` visits every user once; the
/// cursor is bound to the tenant and the query.
async fn cursor_paging_walks_every_resource_once() {
    let s = Server::start().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(s.create_user(&format!("walker{i}")).await);
    }
    ids.sort();
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.body["pagination"]["cursor"], true, "{}", spc.text);
    let mut seen = Vec::new();
    let mut url = "/Users?cursor=&count=3&filter=userName%20sw%20%22walker%22".to_string();
    let mut pages = 0;
    let mut first_cursor = None;
    loop {
        pages += 1;
        assert!(pages < 10, "cursor paging did not end");
        let r = s.get(&url).await;
        let body = r.assert_status(200);
        assert_eq!(body["schemas"][0], LIST);
        assert!(body.get("startIndex").is_none(), "{}", r.text);
        for res in body["Resources"].as_array().unwrap() {
            seen.push(res["id"].as_str().unwrap().to_string());
        }
        match body.get("nextCursor").and_then(Value::as_str) {
            Some(c) => {
                first_cursor.get_or_insert_with(|| c.to_string());
                url = format!("/Users?cursor={c}&count=3&filter=userName%20sw%20%22walker%22");
            }
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let c = first_cursor.expect("more than one page");
    // Another query, another tenant, a changed cursor: 400 invalidCursor.
    s.get(&format!("/Users?cursor={c}&count=3"))
        .await
        .assert_error(400, Some("invalidCursor"));
    s.as_token(OTHER_TOKEN)
        .get(&format!(
            "/Users?cursor={c}&count=3&filter=userName%20sw%20%22walker%22"
        ))
        .await
        .assert_error(400, Some("invalidCursor"));
    let tampered = format!("A{}", &c[1..]);
    s.get(&format!(
        "/Users?cursor={tampered}&count=3&filter=userName%20sw%20%22walker%22"
    ))
    .await
    .assert_error(400, Some("invalidCursor"));
    // .search takes a cursor too.
    let r = s
        .post(
            "/Users/.search",
            &json!({"schemas": [SEARCH], "cursor": "", "count": 5}),
        )
        .await;
    assert_eq!(r.assert_status(200)["Resources"].as_array().unwrap().len(), 5);
    assert!(r.body["nextCursor"].is_string());
}

on_both_stores!(too_many_members_inline_is_400_never_truncated);
/// A group whose members would not fit a response is refused with a way out, never truncated
/// (SCIM_MAX_INLINE_MEMBERS).
async fn too_many_members_inline_is_400_never_truncated() {
    let s = Server::start_with(&[("SCIM_MAX_INLINE_MEMBERS", "3")]).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(s.create_user(&format!("m{i}")).await);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let small = s.create_group("Small", &refs[..3]).await;
    // The write succeeds; its answer leaves the members out rather than fail or shorten them.
    let r = s
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Big",
                    "members": refs.iter().map(|id| json!({"value": id})).collect::<Vec<_>>()}),
        )
        .await;
    assert!(r.assert_status(201).get("members").is_none(), "{}", r.text);
    let big = r.body["id"].as_str().unwrap().to_string();
    let r = s.get(&format!("/Groups/{small}")).await;
    assert_eq!(r.assert_status(200)["members"].as_array().unwrap().len(), 3);
    let r = s.get(&format!("/Groups/{big}")).await;
    r.assert_error(400, Some("tooMany"));
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("excludedAttributes=members"), "{detail}");
    assert!(detail.contains(&format!("groups.value eq \"{big}\"")), "{detail}");
    // The ways out work.
    let r = s.get(&format!("/Groups/{big}?excludedAttributes=members")).await;
    assert!(r.assert_status(200).get("members").is_none());
    let r = s
        .get(&format!("/Users?filter=groups.value%20eq%20%22{big}%22&count=2"))
        .await;
    assert_eq!(r.assert_status(200)["totalResults"], 4);
    assert_eq!(r.body["Resources"].as_array().unwrap().len(), 2);
    // A list page whose groups add up to too many members is refused too.
    s.get("/Groups").await.assert_error(400, Some("tooMany"));
    let r = s.get("/Groups?excludedAttributes=members").await;
    assert_eq!(r.assert_status(200)["totalResults"], 2);
}

/// A request naming neither `attributes` nor `excludedAttributes` (almost every request) uses
/// the response shape compiled at start-up: no projection is compiled for it, which was a tenth
/// of the work of a `GET /Users/{id}`. A request naming attributes still gets its own.
#[tokio::test]
async fn requests_naming_no_attributes_share_the_projection_compiled_at_start() {
    use scim_lambda::shape::ResponseShape;
    use scim_proto::ListQuery;
    use scim_store::ResourceKind;
    use std::sync::Arc;

    let state = scim_blackbox::app_state(&[], false, Vec::new()).await;
    let none = ListQuery::default();
    let first = ResponseShape::new(&state, ResourceKind::User, &none).unwrap();
    let second = ResponseShape::new(&state, ResourceKind::User, &none).unwrap();
    assert!(Arc::ptr_eq(&first.projection, &second.projection));
    assert!(first.include.groups && first.projection.includes("groups"));

    let named = ListQuery {
        attributes: vec!["userName".into()],
        ..ListQuery::default()
    };
    let own = ResponseShape::new(&state, ResourceKind::User, &named).unwrap();
    assert!(!Arc::ptr_eq(&first.projection, &own.projection));
    assert!(!own.projection.includes("groups") && !own.include.groups);
    let group = ResponseShape::new(&state, ResourceKind::Group, &none).unwrap();
    assert!(group.include.members && !Arc::ptr_eq(&first.projection, &group.projection));
}
