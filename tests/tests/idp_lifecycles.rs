//! Each identity provider's whole provisioning lifecycle, replayed in the order the IdP performs
//! it and with the request shapes it uses: test connection, lookup before create, create, update,
//! deactivate, reactivate, role change, group create, member add and remove, rename, delete.

// Test helpers: an unexpected shape is a failed assertion.
#![allow(clippy::unwrap_used)]

use scim_blackbox::Server;
use serde_json::{json, Value};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn ops(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// `filter` query value with spaces as `+` (Entra) or `%20` (Okta).
fn filter(expr: &str, space: &str) -> String {
    expr.replace(' ', space).replace('"', "%22")
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| m["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test]
async fn okta_lifecycle() {
    let s = Server::start().await;
    // "Test API Credentials": a one-item page of users.
    let r = s.get("/Users?startIndex=1&count=1").await;
    assert_eq!(r.assert_status(200)["totalResults"], 0);

    // Assignment: Okta looks the user up by userName, then creates it.
    let lookup = format!(
        "/Users?filter={}&startIndex=1&count=100",
        filter(r#"userName eq "dade.murphy@example.com""#, "%20")
    );
    assert_eq!(s.get(&lookup).await.assert_status(200)["Resources"], json!([]));
    let created = s
        .post(
            "/Users",
            &json!({
                "schemas": [USER],
                "userName": "dade.murphy@example.com",
                "name": {"givenName": "Dade", "familyName": "Murphy"},
                "emails": [{"primary": true, "value": "dade.murphy@example.com", "type": "work"}],
                "displayName": "Dade Murphy",
                "locale": "en-US",
                "externalId": "00ujl29u0le5T6Aj10h7",
                "groups": [],
                "password": "1mz050nq",
                "active": true
            }),
        )
        .await;
    let user = created.assert_status(201).clone();
    let id = user["id"].as_str().unwrap().to_string();
    assert!(user.get("password").is_none());
    assert_eq!(s.get(&lookup).await.body["Resources"][0]["id"], id);

    // Profile change: Okta sends the whole user with PUT.
    let mut profile = user.clone();
    profile["name"]["familyName"] = json!("Murphy-Burke");
    profile["meta"] = json!({"resourceType": "User"});
    let r = s.put(&format!("/Users/{id}"), &profile).await;
    assert_eq!(r.assert_status(200)["name"]["familyName"], "Murphy-Burke");
    assert_eq!(r.body["externalId"], "00ujl29u0le5T6Aj10h7");

    // Unassign / suspend: deactivation by pathless replace. The user stays readable.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &ops(json!([{"op": "replace", "value": {"active": false}}])),
        )
        .await;
    assert_eq!(r.assert_status(200)["active"], false);
    assert_eq!(s.get(&lookup).await.body["Resources"][0]["active"], false);
    // Reassign: reactivation.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &ops(json!([{"op": "replace", "value": {"active": true}}])),
        )
        .await;
    assert_eq!(r.assert_status(200)["active"], true);

    // App role change, sent with the profile.
    profile["roles"] = json!([{"value": "admin", "display": "Administrator"}]);
    profile["active"] = json!(true);
    let r = s.put(&format!("/Users/{id}"), &profile).await;
    assert_eq!(r.assert_status(200)["roles"][0]["value"], "admin");

    // Group push: create empty, then push members, then rename, then unlink.
    let other = s.create_user("kate.libby@example.com").await;
    let g = s
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Hackers", "members": []}),
        )
        .await;
    let gid = g.assert_status(201)["id"].as_str().unwrap().to_string();
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            &ops(json!([{"op": "add", "path": "members", "value": [
                {"value": id, "display": "dade.murphy@example.com"},
                {"value": other, "display": "kate.libby@example.com"}]}])),
        )
        .await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    let mut both = vec![id.clone(), other.clone()];
    both.sort();
    assert_eq!(member_ids(&s.get(&format!("/Groups/{gid}")).await.body), both);
    // Okta removes one member and adds nobody else in one request.
    s.patch(
        &format!("/Groups/{gid}"),
        &ops(json!([{"op": "remove", "path": format!("members[value eq \"{other}\"]")}])),
    )
    .await;
    assert_eq!(
        member_ids(&s.get(&format!("/Groups/{gid}")).await.body),
        vec![id.clone()]
    );
    // Rename, with the group's own id in the value.
    s.patch(
        &format!("/Groups/{gid}"),
        &ops(json!([{"op": "replace", "value": {"id": gid, "displayName": "Hackers (Elite)"}}])),
    )
    .await;
    let g = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g.body["displayName"], "Hackers (Elite)");
    assert_eq!(member_ids(&g.body), vec![id.clone()]);
    // Push now on an emptied group.
    s.patch(
        &format!("/Groups/{gid}"),
        &ops(json!([{"op": "replace", "path": "members", "value": []}])),
    )
    .await;
    assert!(s
        .get(&format!("/Groups/{gid}"))
        .await
        .body
        .get("members")
        .is_none());
    assert_eq!(s.delete(&format!("/Groups/{gid}")).await.status.as_u16(), 204);

    // Delete, when the app is configured to delete instead of deactivate.
    assert_eq!(s.delete(&format!("/Users/{id}")).await.status.as_u16(), 204);
    assert_eq!(s.get(&lookup).await.body["totalResults"], 0);
}

#[tokio::test]
async fn entra_lifecycle() {
    let s = Server::start().await;
    // "Test Connection": a filter on a random userName must answer an empty list.
    let probe = format!(
        "/Users?filter={}",
        filter(r#"userName eq "b8f7a2c4-6c0e-4f2b-9f3e-0c1d2e3f4a5b""#, "+")
    );
    let r = s.get(&probe).await;
    assert_eq!(r.assert_status(200)["totalResults"], 0);
    assert_eq!(r.body["Resources"], json!([]));

    // The manager is provisioned first.
    let boss = s.create_user("boss@contoso.example").await;
    // Matching on externalId, then userName, before create.
    let by_external = format!(
        "/Users?filter={}",
        filter(r#"externalId eq "5fd8ac2f-6f2d-4c1c-ae6b-7f2e5c6a9d01""#, "+")
    );
    assert_eq!(s.get(&by_external).await.assert_status(200)["totalResults"], 0);
    let created = s
        .post(
            "/Users",
            &json!({
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
            }),
        )
        .await;
    let user = created.assert_status(201).clone();
    let id = user["id"].as_str().unwrap().to_string();
    assert_eq!(user["active"], true);
    assert_eq!(user[ENTERPRISE]["manager"]["value"], boss);
    assert_eq!(s.get(&by_external).await.body["Resources"][0]["id"], id);
    // Entra checks the manager link with a compound filter.
    let compound = format!(
        "/Users?filter={}",
        filter(&format!(r#"id eq "{id}" and manager eq "{boss}""#), "+")
    );
    assert_eq!(s.get(&compound).await.assert_status(200)["totalResults"], 1);

    // Attribute changes arrive as PATCH with capitalised ops and value-filter paths.
    let r = s
        .patch(
            &format!("/Users/{id}?aadOptscim062020"),
            &ops(json!([
                {"op": "Replace", "path": "displayName", "value": "Test User 2"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updated@contoso.example"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                {"op": "Add", "path": format!("{ENTERPRISE}:department"), "value": "Finance"}
            ])),
        )
        .await;
    let body = r.assert_status(200);
    assert_eq!(body["displayName"], "Test User 2");
    assert_eq!(
        body["emails"],
        json!([{"primary": true, "type": "work", "value": "updated@contoso.example"}])
    );
    assert_eq!(body["name"]["familyName"], "updatedFamilyName");
    assert_eq!(body[ENTERPRISE]["department"], "Finance");
    assert_eq!(body[ENTERPRISE]["employeeNumber"], "701984");

    // Disable and re-enable with string booleans.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &ops(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_eq!(r.assert_status(200)["active"], false);
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &ops(json!([{"op": "Replace", "path": "active", "value": "True"}])),
        )
        .await;
    assert_eq!(r.assert_status(200)["active"], true);
    // App role assignment change.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &ops(json!([{"op": "Add", "path": "roles", "value": [{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Reader"}]}])),
        )
        .await;
    assert_eq!(r.assert_status(200)["roles"][0]["value"], "Reader");
    // Manager removal.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &ops(json!([{"op": "Remove", "path": format!("{ENTERPRISE}:manager")}])),
        )
        .await;
    assert!(r.assert_status(200)[ENTERPRISE].get("manager").is_none());

    // Groups: lookup by displayName excluding members, create, add several, remove one, rename.
    let lookup = format!(
        "/Groups?excludedAttributes=members&filter={}",
        filter(r#"displayName eq "Group1DisplayName""#, "+")
    );
    assert_eq!(s.get(&lookup).await.assert_status(200)["totalResults"], 0);
    let g = s
        .post(
            "/Groups",
            &json!({
                "schemas": [GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Group1DisplayName",
                "meta": {"resourceType": "Group"},
                "members": []
            }),
        )
        .await;
    let gid = g.assert_status(201)["id"].as_str().unwrap().to_string();
    let found = s.get(&lookup).await;
    assert_eq!(found.body["Resources"][0]["id"], gid);
    assert!(found.body["Resources"][0].get("members").is_none());
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            &ops(json!([{"op": "Add", "path": "members", "value": [{"value": id}, {"value": boss}]}])),
        )
        .await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    let mut both = vec![id.clone(), boss.clone()];
    both.sort();
    assert_eq!(member_ids(&s.get(&format!("/Groups/{gid}")).await.body), both);
    s.patch(
        &format!("/Groups/{gid}"),
        &ops(json!([{"op": "Remove", "path": "members", "value": [{"value": boss}]}])),
    )
    .await;
    assert_eq!(
        member_ids(&s.get(&format!("/Groups/{gid}")).await.body),
        vec![id.clone()]
    );
    s.patch(&format!("/Groups/{gid}"), &ops(json!([{"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}])))
        .await;
    let g = s.get(&format!("/Groups/{gid}?excludedAttributes=members")).await;
    assert_eq!(
        g.body["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );

    // Deprovisioning with deletion.
    assert_eq!(s.delete(&format!("/Groups/{gid}")).await.status.as_u16(), 204);
    assert_eq!(s.delete(&format!("/Users/{id}")).await.status.as_u16(), 204);
    s.get(&format!("/Users/{id}")).await.assert_error(404, None);
    assert_eq!(s.get(&by_external).await.body["totalResults"], 0);
}

#[tokio::test]
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
    ] {
        s.get(path).await.assert_status(200);
    }

    // Create Account.
    let created = s
        .post(
            "/Users",
            &json!({
                "schemas": [USER],
                "userName": "aaron.nichols@example.com",
                "name": {"givenName": "Aaron", "familyName": "Nichols"},
                "emails": [{"value": "aaron.nichols@example.com", "type": "work", "primary": true}],
                "active": true,
                "roles": [{"value": "viewer"}],
                "password": "Sa1lP0int!"
            }),
        )
        .await;
    let user = created.assert_status(201).clone();
    let id = user["id"].as_str().unwrap().to_string();
    assert_eq!(user["roles"], json!([{"value": "viewer"}]));

    // Update Account: a full replace after a change of last name.
    let mut account = user.clone();
    account["name"]["familyName"] = json!("Nichols-Reed");
    let r = s.put(&format!("/Users/{id}"), &account).await;
    assert_eq!(r.assert_status(200)["name"]["familyName"], "Nichols-Reed");
    assert!(r.body.get("password").is_none());

    // Disable / Enable Account.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &ops(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(r.assert_status(200)["active"], false);
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &ops(json!([{"op": "replace", "path": "active", "value": true}])),
        )
        .await;
    assert_eq!(r.assert_status(200)["active"], true);

    // Entitlement change: roles added and removed.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &ops(json!([{"op": "add", "path": "roles", "value": [{"value": "admin"}]}])),
        )
        .await;
    let mut roles: Vec<&str> = r.assert_status(200)["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    roles.sort_unstable();
    assert_eq!(roles, vec!["admin", "viewer"]);
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &ops(json!([{"op": "remove", "path": "roles[value eq \"viewer\"]"}])),
        )
        .await;
    assert_eq!(r.assert_status(200)["roles"], json!([{"value": "admin"}]));

    // Group aggregation: groups and the user's groups attribute.
    let gid = s.create_group("Finance Approvers", &[&id]).await;
    let agg = s
        .get("/Users?startIndex=1&count=100&attributes=userName,name,emails,active,roles,groups")
        .await;
    let row = &agg.assert_status(200)["Resources"][0];
    assert_eq!(row["groups"][0]["value"], gid);
    assert_eq!(row["groups"][0]["display"], "Finance Approvers");
    assert!(row.get("meta").is_none());
    let groups = s.get("/Groups?startIndex=1&count=100").await;
    assert_eq!(
        groups.assert_status(200)["Resources"][0]["members"][0]["value"],
        id
    );
    // Delta aggregation by modification time.
    let since = user["meta"]["created"].as_str().unwrap().to_string();
    let delta = format!(
        "/Users?filter={}",
        filter(&format!(r#"meta.lastModified gt "{since}""#), "%20")
    );
    assert_eq!(s.get(&delta).await.assert_status(200)["totalResults"], 1);
    // Search by prefix, attribute name in another case.
    let sw = format!("/Users?filter={}", filter(r#"username sw "aaron""#, "%20"));
    assert_eq!(s.get(&sw).await.assert_status(200)["Resources"][0]["id"], id);

    // Delete Account: gone from GET, filters and its group.
    assert_eq!(s.delete(&format!("/Users/{id}")).await.status.as_u16(), 204);
    s.get(&format!("/Users/{id}")).await.assert_error(404, None);
    assert_eq!(s.get(&sw).await.body["totalResults"], 0);
    assert!(s
        .get(&format!("/Groups/{gid}"))
        .await
        .body
        .get("members")
        .is_none());
}
