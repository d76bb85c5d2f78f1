//! Each identity provider's whole provisioning lifecycle, replayed in the order the IdP performs
//! it and with the request shapes it uses (docs/idp-compatibility.md): test connection,
//! lookup before create, create, update (PUT for Okta and SailPoint, PATCH for Entra),
//! deactivate, reactivate, role change, group create, member add and remove, rename, delete.
//! After every step the server's state is read back with GET, not inferred from the status.
//! Each test ends the way the guides in `docs/` promise: under the default tenant settings a
//! deleted user answers 404 and its userName can be provisioned again (true of both delete modes).

// Test helpers: an unexpected shape is a failed assertion.
#![allow(clippy::unwrap_used)]

use reqwest::header::AUTHORIZATION;
use scim_blackbox::patch_op;
use scim_blackbox::urn::{ACCESS, ENTERPRISE, GROUP, MS_GROUP, SPC, USER};
use scim_blackbox::{okta_user, on_both_stores, Server};
use serde_json::{json, Value};

/// `filter` query value with spaces as `+` (Entra) or `%20` (Okta, SailPoint).
fn filter(expr: &str, space: &str) -> String {
    expr.replace(' ', space).replace('"', "%22")
}

fn sorted<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.as_ref().to_string()).collect();
    v.sort();
    v
}

/// The sorted `value`s of a multi-valued attribute (absent: none).
fn values(attr: &Value) -> Vec<String> {
    let vs: Vec<&str> = attr
        .as_array()
        .map(|a| a.iter().map(|e| e["value"].as_str().unwrap()).collect())
        .unwrap_or_default();
    sorted(&vs)
}

/// The sorted ids of a ListResponse's resources.
fn ids(list: &Value) -> Vec<String> {
    let vs: Vec<&str> = list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    sorted(&vs)
}

/// A GET that must answer 200: the server's state after a step.
async fn read(s: &Server, path: &str) -> Value {
    s.get(path).await.assert_status(200).clone()
}

/// A group's member ids, read back with GET.
async fn member_ids(s: &Server, gid: &str) -> Vec<String> {
    values(&read(s, &format!("/Groups/{gid}")).await["members"])
}

/// A user's groups (RFC 7643 §4.1.2 `groups`) as (id, display) pairs, read back with GET.
async fn groups_of(s: &Server, uid: &str) -> Vec<(String, String)> {
    let user = read(s, &format!("/Users/{uid}?attributes=groups")).await;
    let mut gs: Vec<(String, String)> = user["groups"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|g| {
                    let field = |k: &str| g[k].as_str().unwrap().to_string();
                    (field("value"), field("display"))
                })
                .collect()
        })
        .unwrap_or_default();
    gs.sort();
    gs
}

/// A user PATCH: 200 with the user.
async fn patch_user(s: &Server, uid: &str, body: &Value) -> Value {
    let r = s.patch(&format!("/Users/{uid}"), body).await;
    assert_eq!(r.assert_status(200)["id"], uid);
    r.body
}

/// A group PATCH without `attributes`: 204 with no body (ARCHITECTURE.md, "Group PATCH answers
/// 204").
async fn patch_group(s: &Server, gid: &str, body: &Value) {
    let r = s.patch(&format!("/Groups/{gid}"), body).await;
    r.assert_status(204);
    assert!(r.text.is_empty(), "204 with a body: {}", r.text);
}

/// A POST that must answer 201 with the resource and `Location` = `meta.location`
/// (docs/idp-compatibility.md, "POST answers 201 with the resource").
async fn created(s: &Server, path: &str, body: &Value) -> Value {
    let r = s.post(path, body).await;
    let body = r.assert_status(201).clone();
    assert_eq!(r.header("location"), body["meta"]["location"].as_str(), "{body}");
    body
}

/// DELETE answers 204; afterwards the resource answers 404 and `lookup` (a filter that found it)
/// finds nothing.
async fn delete_gone(s: &Server, path: &str, lookup: &str) {
    assert_eq!(s.delete(path).await.status.as_u16(), 204);
    s.get(path).await.assert_error(404, None);
    let found = read(s, lookup).await;
    assert_eq!(found["totalResults"], 0, "{found}");
    assert_eq!(found["Resources"], json!([]), "{found}");
}

/// After a user's DELETE under the default tenant settings, its userName is free: the IdP can
/// provision the same person again, and gets a new id. The old id stays 404.
async fn user_name_is_free_again(s: &Server, old_id: &str, body: &Value) {
    let again = created(s, "/Users", body).await;
    assert_ne!(again["id"], old_id);
    assert_eq!(again["userName"], body["userName"]);
    assert_eq!(
        read(s, &format!("/Users/{}", again["id"].as_str().unwrap())).await["id"],
        again["id"]
    );
    s.get(&format!("/Users/{old_id}")).await.assert_error(404, None);
}

on_both_stores!(okta_lifecycle);
async fn okta_lifecycle() {
    let s = Server::start().await;
    // "Test API Credentials": Okta probes with a credential that is not a token (401, a SCIM
    // Error), then reads a one-item page of users with the real one.
    let r = s
        .send(|c, base| {
            c.get(format!("{base}/Users?startIndex=1&count=1"))
                .header(AUTHORIZATION, "non-token")
        })
        .await;
    r.assert_error(401, None);
    let r = read(&s, "/Users?startIndex=1&count=1").await;
    assert_eq!(r["totalResults"], 0);

    // Assignment: Okta looks the user up by userName (spaces as %20), then creates it.
    let lookup = format!(
        "/Users?filter={}&startIndex=1&count=100",
        filter(r#"userName eq "dade.murphy@example.com""#, "%20")
    );
    let found = read(&s, &lookup).await;
    assert_eq!(found["totalResults"], 0);
    assert_eq!(found["Resources"], json!([]));
    let okta_body = okta_user("dade.murphy@example.com");
    let user = created(&s, "/Users", &okta_body).await;
    let id = user["id"].as_str().unwrap().to_string();
    let got = read(&s, &format!("/Users/{id}")).await;
    assert_eq!(got, user);
    assert_eq!(got["userName"], "dade.murphy@example.com");
    assert_eq!(got["name"], json!({"givenName": "Dade", "familyName": "Murphy"}));
    assert_eq!(got["emails"][0]["value"], "dade.murphy@example.com");
    assert_eq!(got["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(got["active"], true);
    assert!(got.get("password").is_none(), "{got}");
    assert_eq!(ids(&read(&s, &lookup).await), vec![id.clone()]);

    // Profile change: Okta sends the whole user with PUT (with its id, meta and the password).
    let mut profile = user.clone();
    profile["name"]["familyName"] = json!("Murphy-Burke");
    profile["password"] = json!("1mz050nq");
    let r = s.put(&format!("/Users/{id}"), &profile).await;
    assert_eq!(r.assert_status(200)["name"]["familyName"], "Murphy-Burke");
    let got = read(&s, &format!("/Users/{id}")).await;
    assert_eq!(
        got["name"],
        json!({"givenName": "Dade", "familyName": "Murphy-Burke"})
    );
    assert_eq!(got["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(got["displayName"], "Dade Murphy");
    assert!(got.get("password").is_none(), "{got}");

    // Unassign, suspend or deactivate in Okta: a pathless replace of `active`. The user stays
    // readable and findable, with active false.
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .await;
    assert_eq!(read(&s, &format!("/Users/{id}")).await["active"], false);
    let found = read(&s, &lookup).await;
    assert_eq!(ids(&found), vec![id.clone()]);
    assert_eq!(found["Resources"][0]["active"], false);
    // Re-assign or reactivate: the same shape with true.
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "replace", "value": {"active": true}}])),
    )
    .await;
    assert_eq!(read(&s, &format!("/Users/{id}")).await["active"], true);

    // App role: added, then changed (Okta removes by value list and adds in one request).
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "add", "path": "roles", "value": [{"value": "admin", "display": "Administrator"}]}])),
    )
    .await;
    let got = read(&s, &format!("/Users/{id}")).await;
    assert_eq!(
        got["roles"],
        json!([{"value": "admin", "display": "Administrator"}])
    );
    patch_user(
        &s,
        &id,
        &patch_op(json!([
            {"op": "remove", "path": "roles", "value": [{"value": "admin"}]},
            {"op": "add", "path": "roles", "value": [{"value": "auditor", "display": "Auditor"}]}
        ])),
    )
    .await;
    let got = read(&s, &format!("/Users/{id}")).await;
    assert_eq!(got["roles"], json!([{"value": "auditor", "display": "Auditor"}]));
    assert_eq!(got["active"], true);

    // Group Push: look the group up by name, create it empty, then push its members.
    let kate = s.create_user("kate.libby@example.com").await;
    let joey = s.create_user("joey.pardella@example.com").await;
    let group_lookup = format!(
        "/Groups?filter={}&startIndex=1&count=100",
        filter(r#"displayName eq "Hackers""#, "%20")
    );
    assert_eq!(read(&s, &group_lookup).await["totalResults"], 0);
    let g = created(
        &s,
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": "Hackers", "members": []}),
    )
    .await;
    let gid = g["id"].as_str().unwrap().to_string();
    let got = read(&s, &format!("/Groups/{gid}")).await;
    assert_eq!(got["displayName"], "Hackers");
    assert!(got.get("members").is_none(), "{got}");
    assert_eq!(ids(&read(&s, &group_lookup).await), vec![gid.clone()]);
    // Members without `type`, with Okta's display.
    patch_group(
        &s,
        &gid,
        &patch_op(json!([{"op": "add", "path": "members", "value": [
            {"value": id, "display": "dade.murphy@example.com"},
            {"value": kate, "display": "kate.libby@example.com"}]}])),
    )
    .await;
    assert_eq!(member_ids(&s, &gid).await, sorted(&[&id, &kate]));
    assert_eq!(
        groups_of(&s, &id).await,
        vec![(gid.clone(), "Hackers".to_string())]
    );
    // One request removes a member and adds another.
    patch_group(
        &s,
        &gid,
        &patch_op(json!([
            {"op": "remove", "path": format!("members[value eq \"{kate}\"]")},
            {"op": "add", "path": "members", "value": [{"value": joey, "display": "joey.pardella@example.com"}]}
        ])),
    )
    .await;
    assert_eq!(member_ids(&s, &gid).await, sorted(&[&id, &joey]));
    assert_eq!(groups_of(&s, &kate).await, vec![]);
    // Rename, with the group's own id in the value (ignored: read-only).
    patch_group(
        &s,
        &gid,
        &patch_op(json!([{"op": "replace", "value": {"id": gid, "displayName": "Hackers (Elite)"}}])),
    )
    .await;
    let got = read(&s, &format!("/Groups/{gid}")).await;
    assert_eq!(got["id"], gid.as_str());
    assert_eq!(got["displayName"], "Hackers (Elite)");
    assert_eq!(member_ids(&s, &gid).await, sorted(&[&id, &joey]));
    assert_eq!(
        groups_of(&s, &id).await,
        vec![(gid.clone(), "Hackers (Elite)".to_string())]
    );

    // Delete, when the app is set to delete rather than deactivate: gone from GET, from the
    // lookup and from its group.
    delete_gone(&s, &format!("/Users/{id}"), &lookup).await;
    assert_eq!(member_ids(&s, &gid).await, vec![joey.clone()]);
    user_name_is_free_again(&s, &id, &okta_body).await;

    // "Push Now" of a group emptied in Okta: replace of members with [].
    patch_group(
        &s,
        &gid,
        &patch_op(json!([{"op": "replace", "path": "members", "value": []}])),
    )
    .await;
    assert_eq!(member_ids(&s, &gid).await, Vec::<String>::new());
    assert_eq!(groups_of(&s, &joey).await, vec![]);
    // Unlinking the pushed group with "delete the group in the app".
    let renamed_lookup = format!(
        "/Groups?filter={}",
        filter(r#"displayName eq "Hackers (Elite)""#, "%20")
    );
    delete_gone(&s, &format!("/Groups/{gid}"), &renamed_lookup).await;
}

on_both_stores!(entra_lifecycle);
async fn entra_lifecycle() {
    let s = Server::start().await;
    // "Test Connection": a filter on a random userName must answer an empty list. Entra appends
    // `aadOptscim062020` to the tenant URL when that flag is set; it is ignored.
    let r = read(
        &s,
        &format!(
            "/Users?aadOptscim062020&filter={}",
            filter(r#"userName eq "b8f7a2c4-6c0e-4f2b-9f3e-0c1d2e3f4a5b""#, "+")
        ),
    )
    .await;
    assert_eq!(r["totalResults"], 0);
    assert_eq!(r["Resources"], json!([]));

    // The manager is provisioned first.
    let boss = s.create_user("boss@contoso.example").await;
    // Matching on externalId, then userName, before create.
    let by_external = format!(
        "/Users?filter={}",
        filter(r#"externalId eq "5fd8ac2f-6f2d-4c1c-ae6b-7f2e5c6a9d01""#, "+")
    );
    let by_user_name = format!(
        "/Users?filter={}",
        filter(r#"userName eq "Test_User_ab6490ee@contoso.example""#, "+")
    );
    assert_eq!(read(&s, &by_external).await["totalResults"], 0);
    assert_eq!(read(&s, &by_user_name).await["totalResults"], 0);
    let entra_user = json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": "5fd8ac2f-6f2d-4c1c-ae6b-7f2e5c6a9d01",
        "userName": "Test_User_ab6490ee@contoso.example",
        "active": "True",
        "displayName": "Test User",
        "emails": [{"primary": true, "type": "work", "value": "Test_User_ab6490ee@contoso.example"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations", "manager": boss}
    });
    let user = created(&s, "/Users", &entra_user).await;
    let id = user["id"].as_str().unwrap().to_string();
    let got = read(&s, &format!("/Users/{id}")).await;
    assert_eq!(got, user);
    assert_eq!(got["active"], true);
    assert!(got.get("roles").is_none(), "{got}");
    assert_eq!(got[ENTERPRISE]["manager"]["value"], boss.as_str());
    assert_eq!(got[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(ids(&read(&s, &by_external).await), vec![id.clone()]);
    // userName compares ignoring case.
    let lower = format!(
        "/Users?filter={}",
        filter(r#"userName eq "test_user_ab6490ee@contoso.example""#, "+")
    );
    assert_eq!(ids(&read(&s, &lower).await), vec![id.clone()]);
    // Entra checks the manager link with a compound filter.
    let compound = format!(
        "/Users?filter={}",
        filter(&format!(r#"id eq "{id}" and manager eq "{boss}""#), "+")
    );
    assert_eq!(ids(&read(&s, &compound).await), vec![id.clone()]);

    // Attribute changes: PATCH with capitalised ops, value-filter paths, and (aadOptscim062020)
    // a pathless value with dotted and URN keys.
    patch_user(
        &s,
        &id,
        &patch_op(json!([
            {"op": "Replace", "path": "displayName", "value": "Test User 2"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updated@contoso.example"},
            {"op": "Replace", "value": {
                "name.familyName": "updatedFamilyName",
                format!("{ENTERPRISE}:department"): "Finance"
            }}
        ])),
    )
    .await;
    let got = read(&s, &format!("/Users/{id}")).await;
    assert_eq!(got["displayName"], "Test User 2");
    assert_eq!(
        got["emails"],
        json!([{"primary": true, "type": "work", "value": "updated@contoso.example"}])
    );
    assert_eq!(got["name"]["familyName"], "updatedFamilyName");
    assert_eq!(got["name"]["givenName"], "givenName");
    assert_eq!(got[ENTERPRISE]["department"], "Finance");
    assert_eq!(got[ENTERPRISE]["employeeNumber"], "701984");

    // Disable (block sign-in, or out of scope) and re-enable, with string booleans; the server
    // stores and answers real booleans, and the disabled user stays findable.
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .await;
    assert_eq!(read(&s, &format!("/Users/{id}")).await["active"], false);
    let found = read(&s, &by_user_name).await;
    assert_eq!(ids(&found), vec![id.clone()]);
    assert_eq!(found["Resources"][0]["active"], false);
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Replace", "path": "active", "value": "True"}])),
    )
    .await;
    assert_eq!(read(&s, &format!("/Users/{id}")).await["active"], true);

    // App role assignment, then a change of role.
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Add", "path": "roles", "value": [
            {"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Reader"}]}])),
    )
    .await;
    assert_eq!(
        values(&read(&s, &format!("/Users/{id}")).await["roles"]),
        vec!["Reader"]
    );
    patch_user(
        &s,
        &id,
        &patch_op(json!([
            {"op": "Remove", "path": "roles", "value": [{"value": "Reader"}]},
            {"op": "Add", "path": "roles", "value": [
                {"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Writer"}]}
        ])),
    )
    .await;
    let got = read(&s, &format!("/Users/{id}")).await;
    assert_eq!(values(&got["roles"]), vec!["Writer"]);
    assert_eq!(got["roles"][0]["type"], "WindowsAzureActiveDirectoryRole");
    // Manager removal.
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}])),
    )
    .await;
    let got = read(&s, &format!("/Users/{id}")).await;
    assert!(got[ENTERPRISE].get("manager").is_none(), "{got}");
    assert_eq!(read(&s, &compound).await["totalResults"], 0);

    // Groups: lookup by displayName excluding members, create, add several, remove one, rename.
    let lookup = format!(
        "/Groups?excludedAttributes=members&filter={}",
        filter(r#"displayName eq "Group1DisplayName""#, "+")
    );
    assert_eq!(read(&s, &lookup).await["totalResults"], 0);
    let g = created(
        &s,
        "/Groups",
        &json!({
            "schemas": [GROUP, MS_GROUP],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Group1DisplayName",
            "meta": {"resourceType": "Group"},
            "members": []
        }),
    )
    .await;
    let gid = g["id"].as_str().unwrap().to_string();
    let got = read(&s, &format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert_eq!(got["displayName"], "Group1DisplayName");
    assert_eq!(got["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
    let found = read(&s, &lookup).await;
    assert_eq!(ids(&found), vec![gid.clone()]);
    assert!(found["Resources"][0].get("members").is_none(), "{found}");
    // Several members in one Add, with "$ref": null.
    patch_group(
        &s,
        &gid,
        &patch_op(json!([{"op": "Add", "path": "members", "value": [
            {"$ref": null, "value": id}, {"$ref": null, "value": boss}]}])),
    )
    .await;
    assert_eq!(member_ids(&s, &gid).await, sorted(&[&id, &boss]));
    assert_eq!(
        groups_of(&s, &boss).await,
        vec![(gid.clone(), "Group1DisplayName".to_string())]
    );
    // Remove with a value list: only the listed member goes.
    patch_group(
        &s,
        &gid,
        &patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": boss}]}])),
    )
    .await;
    assert_eq!(member_ids(&s, &gid).await, vec![id.clone()]);
    assert_eq!(groups_of(&s, &boss).await, vec![]);
    // Rename.
    let new_name = "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName";
    patch_group(
        &s,
        &gid,
        &patch_op(json!([{"op": "Replace", "path": "displayName", "value": new_name}])),
    )
    .await;
    let got = read(&s, &format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert_eq!(got["displayName"], new_name);
    assert!(got.get("members").is_none(), "{got}");
    assert_eq!(member_ids(&s, &gid).await, vec![id.clone()]);
    assert_eq!(
        groups_of(&s, &id).await,
        vec![(gid.clone(), new_name.to_string())]
    );

    // Deprovisioning with "Action when out of scope: Delete": gone from GET, from both lookups
    // and from its group.
    delete_gone(&s, &format!("/Users/{id}"), &by_external).await;
    assert_eq!(read(&s, &by_user_name).await["totalResults"], 0);
    assert_eq!(member_ids(&s, &gid).await, Vec::<String>::new());
    user_name_is_free_again(&s, &id, &entra_user).await;
    // The group removed from the app's scope is deleted too.
    let renamed_lookup = format!(
        "/Groups?excludedAttributes=members&filter={}",
        filter(&format!(r#"displayName eq "{new_name}""#), "+")
    );
    delete_gone(&s, &format!("/Groups/{gid}"), &renamed_lookup).await;
}

on_both_stores!(sailpoint_lifecycle);
async fn sailpoint_lifecycle() {
    let s = Server::start().await;
    // "Test Connection" and aggregation need every discovery endpoint.
    for path in [
        "/ServiceProviderConfig",
        "/ResourceTypes",
        "/ResourceTypes/User",
        "/ResourceTypes/Group",
        "/Schemas",
        &format!("/Schemas/{USER}"),
        &format!("/Schemas/{GROUP}"),
        &format!("/Schemas/{ENTERPRISE}"),
        &format!("/Schemas/{ACCESS}"),
    ] {
        read(&s, path).await;
    }
    // What ServiceProviderConfig advertises changes how SailPoint behaves: exactly what works,
    // in the core schema alone (SailPoint's connector reads no extension of it).
    let spc = read(&s, "/ServiceProviderConfig").await;
    assert_eq!(spc["schemas"], json!([SPC]));
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], true);

    // Create Account, after a lookup by userName.
    let lookup = format!(
        "/Users?filter={}",
        filter(r#"userName eq "aaron.nichols@example.com""#, "%20")
    );
    assert_eq!(read(&s, &lookup).await["totalResults"], 0);
    let sailpoint_user = json!({
        "schemas": [USER],
        "userName": "aaron.nichols@example.com",
        "name": {"givenName": "Aaron", "familyName": "Nichols"},
        "emails": [{"value": "aaron.nichols@example.com", "type": "work", "primary": true}],
        "active": true,
        "roles": [{"value": "viewer"}],
        "password": "Sa1lP0int!"
    });
    let user = created(&s, "/Users", &sailpoint_user).await;
    let id = user["id"].as_str().unwrap().to_string();
    let got = read(&s, &format!("/Users/{id}")).await;
    assert_eq!(got, user);
    assert_eq!(got["roles"], json!([{"value": "viewer"}]));
    assert_eq!(got["active"], true);
    assert!(got.get("password").is_none(), "{got}");
    assert_eq!(ids(&read(&s, &lookup).await), vec![id.clone()]);

    // Update Account: a full replace after a change of last name, without the password.
    let account = json!({
        "schemas": [USER],
        "id": id,
        "userName": "aaron.nichols@example.com",
        "name": {"givenName": "Aaron", "familyName": "Nichols-Reed"},
        "emails": [{"value": "aaron.nichols@example.com", "type": "work", "primary": true}],
        "active": true,
        "roles": [{"value": "viewer"}]
    });
    let r = s.put(&format!("/Users/{id}"), &account).await;
    assert_eq!(r.assert_status(200)["name"]["familyName"], "Nichols-Reed");
    let got = read(&s, &format!("/Users/{id}")).await;
    assert_eq!(
        got["name"],
        json!({"givenName": "Aaron", "familyName": "Nichols-Reed"})
    );
    assert_eq!(got["roles"], json!([{"value": "viewer"}]));
    assert!(got.get("password").is_none(), "{got}");

    // Disable / Enable Account.
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await;
    assert_eq!(read(&s, &format!("/Users/{id}")).await["active"], false);
    assert_eq!(read(&s, &lookup).await["Resources"][0]["active"], false);
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "replace", "path": "active", "value": true}])),
    )
    .await;
    assert_eq!(read(&s, &format!("/Users/{id}")).await["active"], true);

    // Entitlement change: a role added, then the old one removed.
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "add", "path": "roles", "value": [{"value": "admin"}]}])),
    )
    .await;
    assert_eq!(
        values(&read(&s, &format!("/Users/{id}")).await["roles"]),
        vec!["admin", "viewer"]
    );
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "remove", "path": "roles[value eq \"viewer\"]"}])),
    )
    .await;
    assert_eq!(
        read(&s, &format!("/Users/{id}")).await["roles"],
        json!([{"value": "admin"}])
    );

    // Group (entitlement) management: lookup, create, members added and removed, rename.
    let group_lookup = format!(
        "/Groups?filter={}",
        filter(r#"displayName eq "Finance Approvers""#, "%20")
    );
    assert_eq!(read(&s, &group_lookup).await["totalResults"], 0);
    let g = created(
        &s,
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": "Finance Approvers"}),
    )
    .await;
    let gid = g["id"].as_str().unwrap().to_string();
    let got = read(&s, &format!("/Groups/{gid}")).await;
    assert_eq!(got["displayName"], "Finance Approvers");
    assert!(got.get("members").is_none(), "{got}");
    let other = s.create_user("bella.ortiz@example.com").await;
    patch_group(
        &s,
        &gid,
        &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": id}, {"value": other}]}])),
    )
    .await;
    assert_eq!(member_ids(&s, &gid).await, sorted(&[&id, &other]));
    patch_group(
        &s,
        &gid,
        &patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{other}\"]")}])),
    )
    .await;
    assert_eq!(member_ids(&s, &gid).await, vec![id.clone()]);
    assert_eq!(groups_of(&s, &other).await, vec![]);
    patch_group(
        &s,
        &gid,
        &patch_op(json!([{"op": "replace", "path": "displayName", "value": "Finance Approvers EU"}])),
    )
    .await;
    assert_eq!(
        read(&s, &format!("/Groups/{gid}")).await["displayName"],
        "Finance Approvers EU"
    );
    assert_eq!(read(&s, &group_lookup).await["totalResults"], 0);

    // Account aggregation with attribute selection: the user's groups come with it, meta not.
    let agg = read(
        &s,
        "/Users?startIndex=1&count=100&attributes=userName,name,emails,active,roles,groups",
    )
    .await;
    let row = agg["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["groups"][0]["value"], gid.as_str());
    assert_eq!(row["groups"][0]["display"], "Finance Approvers EU");
    assert_eq!(row["roles"], json!([{"value": "admin"}]));
    assert!(row.get("meta").is_none(), "{row}");
    // Group aggregation.
    let groups = read(
        &s,
        "/Groups?startIndex=1&count=100&attributes=displayName,members",
    )
    .await;
    assert_eq!(ids(&groups), vec![gid.clone()]);
    assert_eq!(values(&groups["Resources"][0]["members"]), vec![id.clone()]);
    // Delta aggregation by modification time: the user changed since it was created.
    let since = user["meta"]["created"].as_str().unwrap().to_string();
    let delta = format!(
        "/Users?filter={}",
        filter(&format!(r#"meta.lastModified gt "{since}""#), "%20")
    );
    assert!(ids(&read(&s, &delta).await).contains(&id));
    // Search by prefix, attribute name in another case.
    let sw = format!("/Users?filter={}", filter(r#"username sw "aaron""#, "%20"));
    assert_eq!(ids(&read(&s, &sw).await), vec![id.clone()]);

    // Delete Account: gone from GET, filters and its group.
    delete_gone(&s, &format!("/Users/{id}"), &sw).await;
    assert_eq!(member_ids(&s, &gid).await, Vec::<String>::new());
    user_name_is_free_again(&s, &id, &sailpoint_user).await;
    // Deleting the group (entitlement).
    let renamed_lookup = format!(
        "/Groups?filter={}",
        filter(r#"displayName eq "Finance Approvers EU""#, "%20")
    );
    delete_gone(&s, &format!("/Groups/{gid}"), &renamed_lookup).await;
}
