//! What Okta, Microsoft Entra ID and SailPoint really send, each behaviour with a payload shaped
//! like the identity provider's own, over a real listener on 127.0.0.1. docs/idp-compatibility.md
//! describes each behaviour, what the service answers, and which tests here prove it.
//! Every write is checked with a GET afterwards, not only by its status.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use scim_blackbox::patch_op;
use scim_blackbox::urn::{ACCESS, ENTERPRISE, GROUP, LIST, MS_GROUP, PATCH_OP, SPC, USER};
use scim_blackbox::{on_both_stores, Reply, Server, OTHER_TOKEN};
use serde_json::{json, Value};
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_scim_content_type(r: &Reply) {
    let ct = r.header("content-type");
    assert!(
        ct.is_some_and(|c| c.starts_with("application/scim+json")),
        "content type {ct:?} (status {}, body {})",
        r.status,
        r.text
    );
}

/// GET that must answer 200 with a SCIM body.
async fn get_ok(server: &Server, path: &str) -> Value {
    let r = server.get(path).await;
    r.assert_status(200);
    assert_scim_content_type(&r);
    r.body
}

/// GET of a list that must answer 200 with a ListResponse.
async fn list(server: &Server, path: &str) -> Value {
    let body = get_ok(server, path).await;
    assert_eq!(body["schemas"], json!([LIST]), "{body}");
    body
}

/// The ids of a ListResponse's resources, in response order.
fn ids_in_order(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("Resources must be an array: {list}"))
        .iter()
        .map(|r| r["id"].as_str().expect("every resource has an id").to_string())
        .collect()
}

/// The ids of a ListResponse's resources, as a set.
fn ids(list: &Value) -> BTreeSet<String> {
    ids_in_order(list).into_iter().collect()
}

fn set<S: AsRef<str>>(items: &[S]) -> BTreeSet<String> {
    items.iter().map(|s| s.as_ref().to_string()).collect()
}

/// No resources expected.
const NONE: &[&str] = &[];

/// Asserts an exact match list: `totalResults` and the ids found.
#[track_caller]
fn assert_found<S: AsRef<str>>(list: &Value, expected: &[S]) {
    assert_eq!(list["totalResults"], json!(expected.len()), "{list}");
    assert_eq!(ids(list), set(expected), "{list}");
}

/// The member ids of a group, read back with GET.
async fn member_ids(server: &Server, group: &str) -> BTreeSet<String> {
    let body = get_ok(server, &format!("/Groups/{group}")).await;
    match body.get("members") {
        None => BTreeSet::new(),
        Some(Value::Array(ms)) => ms
            .iter()
            .map(|m| m["value"].as_str().expect("member value").to_string())
            .collect(),
        Some(other) => panic!("members must be an array, got {other}"),
    }
}

/// The elements of a multi-valued attribute with this `type`.
fn of_type<'a>(attr: &'a Value, ty: &str) -> Vec<&'a Value> {
    attr.as_array()
        .map(|a| a.iter().filter(|e| e["type"] == ty).collect())
        .unwrap_or_default()
}

/// The `value`s of a multi-valued attribute, as a set.
fn values(attr: &Value) -> BTreeSet<String> {
    attr.as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["value"].as_str().expect("value").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn post_created(server: &Server, path: &str, body: &Value) -> Value {
    let r = server.post(path, body).await;
    r.assert_status(201);
    assert_scim_content_type(&r);
    r.body
}

/// A PATCH of a user: 200 with the resource.
async fn patch_user(server: &Server, id: &str, body: &Value) -> Value {
    let r = server.patch(&format!("/Users/{id}"), body).await;
    r.assert_status(200);
    assert_scim_content_type(&r);
    assert_eq!(r.body["id"], id, "{}", r.text);
    r.body
}

/// A PATCH of a group without `attributes`: 204 with no body.
async fn patch_group(server: &Server, id: &str, body: &Value) {
    let r = server.patch(&format!("/Groups/{id}"), body).await;
    r.assert_status(204);
    assert!(r.text.is_empty(), "204 with a body: {}", r.text);
}

/// A request with a raw body and an explicit content type (or none).
async fn send_raw(
    server: &Server,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    let bearer = server.bearer();
    let content_type = content_type.map(str::to_string);
    let body = body.to_string();
    let path = path.to_string();
    server
        .send(move |c, base| {
            let mut req = c
                .request(method, format!("{base}{path}"))
                .header(AUTHORIZATION, bearer);
            if let Some(ct) = content_type {
                req = req.header(CONTENT_TYPE, ct);
            }
            req.body(body)
        })
        .await
}

/// The Entra-shaped user every PATCH test starts from.
async fn entra_user(server: &Server, user_name: &str) -> String {
    let body = post_created(
        server,
        "/Users",
        &json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": format!("ext-{user_name}"),
            "userName": user_name,
            "active": true,
            "displayName": "Ann Lee",
            "nickName": "Annie",
            "emails": [{"primary": true, "type": "home", "value": format!("home.{user_name}")}],
            "name": {"formatted": "Ann Lee", "familyName": "Lee", "givenName": "Ann"},
            ENTERPRISE: {"employeeNumber": "1001", "department": "Sales"}
        }),
    )
    .await;
    body["id"].as_str().expect("id").to_string()
}

// ---------------------------------------------------------------------------------------------
// PATCH
// ---------------------------------------------------------------------------------------------

on_both_stores!(entra_capitalised_ops_with_paths);
/// Entra capitalises `op` (`Add`, `Replace`, `Remove`).
async fn entra_capitalised_ops_with_paths() {
    let s = Server::start().await;
    let id = entra_user(&s, "ann@contoso.com").await;
    let body = patch_user(
        &s,
        &id,
        &patch_op(json!([
            {"op": "Add", "path": "title", "value": "Sales Manager"},
            {"op": "Replace", "path": "displayName", "value": "Ann Lee-Smith"},
            {"op": "Remove", "path": "nickName"}
        ])),
    )
    .await;
    assert_eq!(body["title"], "Sales Manager");
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got["title"], "Sales Manager");
    assert_eq!(got["displayName"], "Ann Lee-Smith");
    assert!(got.get("nickName").is_none(), "{got}");
    assert_eq!(got["userName"], "ann@contoso.com");
}

on_both_stores!(op_case_insensitive_pathless);
/// Capitalised and lowercase ops without paths (Entra `Replace`, Okta/SailPoint `replace`,
/// and an all-caps spelling for good measure).
async fn op_case_insensitive_pathless() {
    let s = Server::start().await;
    let id = entra_user(&s, "ops@contoso.com").await;
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Replace", "value": {"title": "Engineer"}}])),
    )
    .await;
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Add", "value": {"nickName": "Nan"}}])),
    )
    .await;
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "REPLACE", "value": {"displayName": "Ann L."}}])),
    )
    .await;
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "replace", "value": {"locale": "en-GB"}}])),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got["title"], "Engineer");
    assert_eq!(got["nickName"], "Nan");
    assert_eq!(got["displayName"], "Ann L.");
    assert_eq!(got["locale"], "en-GB");
}

on_both_stores!(entra_string_booleans_in_patch);
/// Entra's `"active": "False"` in PATCH, then lowercase `"true"`; stored and emitted as
/// JSON booleans.
async fn entra_string_booleans_in_patch() {
    let s = Server::start().await;
    let id = entra_user(&s, "bool@contoso.com").await;
    let body = patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .await;
    assert_eq!(body["active"], json!(false), "{body}");
    assert_eq!(get_ok(&s, &format!("/Users/{id}")).await["active"], json!(false));

    let body = patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Replace", "path": "active", "value": "true"}])),
    )
    .await;
    assert_eq!(body["active"], json!(true), "{body}");
    assert_eq!(get_ok(&s, &format!("/Users/{id}")).await["active"], json!(true));
}

on_both_stores!(entra_string_boolean_in_pathless_patch);
/// String booleans in a pathless PATCH value object (Entra with `aadOptscim062020`).
async fn entra_string_boolean_in_pathless_patch() {
    let s = Server::start().await;
    let id = entra_user(&s, "bool2@contoso.com").await;
    let body = patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Replace", "value": {"active": "False"}}])),
    )
    .await;
    assert_eq!(body["active"], json!(false), "{body}");
    assert_eq!(get_ok(&s, &format!("/Users/{id}")).await["active"], json!(false));
}

on_both_stores!(entra_post_user_with_string_boolean_and_enterprise_manager);
/// Points 2 and 6: Entra's POST /Users with the enterprise extension, `manager` and
/// `"active": "True"`.
async fn entra_post_user_with_string_boolean_and_enterprise_manager() {
    let s = Server::start().await;
    let manager = s.create_user("boss@contoso.com").await;
    let created = post_created(
        &s,
        "/Users",
        &json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com",
            "active": "True",
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            ENTERPRISE: {"employeeNumber": "701984", "department": "Tour Operations", "manager": {"value": manager}}
        }),
    )
    .await;
    assert_eq!(created["active"], json!(true), "{created}");
    let id = created["id"].as_str().expect("id");
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got["active"], json!(true));
    assert_eq!(got["externalId"], "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
    assert_eq!(got["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(got[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(got[ENTERPRISE]["department"], "Tour Operations");
    assert_eq!(got[ENTERPRISE]["manager"]["value"], manager.as_str());
    assert_eq!(
        got["emails"],
        json!([{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}])
    );
    assert!(
        got.get("roles").is_none(),
        "empty roles must not be stored: {got}"
    );
}

on_both_stores!(entra_remove_members_by_value_list);
/// Entra's member removal with a value list removes only the listed members.
async fn entra_remove_members_by_value_list() {
    let s = Server::start().await;
    let a = s.create_user("a@contoso.com").await;
    let b = s.create_user("b@contoso.com").await;
    let c = s.create_user("c@contoso.com").await;
    let g = s.create_group("Sales", &[&a, &b, &c]).await;
    patch_group(
        &s,
        &g,
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Remove", "path": "members", "value": [{"value": b}]}]
        }),
    )
    .await;
    assert_eq!(member_ids(&s, &g).await, set(&[&a, &c]));
}

on_both_stores!(remove_member_by_value_filter_path);
/// The RFC form `members[value eq "<id>"]` (Okta, SailPoint).
async fn remove_member_by_value_filter_path() {
    let s = Server::start().await;
    let a = s.create_user("a@example.com").await;
    let b = s.create_user("b@example.com").await;
    let g = s.create_group("Engineering", &[&a, &b]).await;
    patch_group(
        &s,
        &g,
        &patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}])),
    )
    .await;
    assert_eq!(member_ids(&s, &g).await, set(&[&b]));
}

on_both_stores!(value_filter_paths_create_missing_elements);
/// Entra's value-filter paths create the typed element when none exists yet.
async fn value_filter_paths_create_missing_elements() {
    let s = Server::start().await;
    let id = entra_user(&s, "vf@contoso.com").await;
    let body = patch_user(
        &s,
        &id,
        &patch_op(json!([
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "vf.work@contoso.com"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St, Springfield"},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"}
        ])),
    )
    .await;
    assert_eq!(of_type(&body["emails"], "work").len(), 1, "{body}");
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    let work = of_type(&got["emails"], "work");
    assert_eq!(work.len(), 1, "{got}");
    assert_eq!(work[0]["value"], "vf.work@contoso.com");
    // The existing home email is untouched.
    let home = of_type(&got["emails"], "home");
    assert_eq!(home.len(), 1, "{got}");
    assert_eq!(home[0]["value"], "home.vf@contoso.com");
    assert_eq!(home[0]["primary"], json!(true));
    assert_eq!(got["emails"].as_array().map(Vec::len), Some(2), "{got}");
    let addr = of_type(&got["addresses"], "work");
    assert_eq!(addr.len(), 1, "{got}");
    assert_eq!(addr[0]["formatted"], "1 Main St, Springfield");
    let mobile = of_type(&got["phoneNumbers"], "mobile");
    assert_eq!(mobile.len(), 1, "{got}");
    assert_eq!(mobile[0]["value"], "+1 555 0100");

    // Once it exists, the same path updates it in place: no second work email.
    patch_user(
        &s,
        &id,
        &patch_op(
            json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "vf2@contoso.com"}]),
        ),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    let work = of_type(&got["emails"], "work");
    assert_eq!(work.len(), 1, "{got}");
    assert_eq!(work[0]["value"], "vf2@contoso.com");
    assert_eq!(got["emails"].as_array().map(Vec::len), Some(2), "{got}");
}

on_both_stores!(okta_pathless_deactivate);
/// Okta deactivates with a pathless replace.
async fn okta_pathless_deactivate() {
    let s = Server::start().await;
    let id = s.create_user("isaac.brock@example.com").await;
    let body = patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .await;
    assert_eq!(body["active"], json!(false));
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got["active"], json!(false));
    assert_eq!(got["userName"], "isaac.brock@example.com");
}

on_both_stores!(okta_group_rename_with_id_in_value);
/// Okta renames a group with a value object that carries the group's own `id`.
async fn okta_group_rename_with_id_in_value() {
    let s = Server::start().await;
    let u = s.create_user("member@example.com").await;
    let g = s.create_group("Old Name", &[&u]).await;
    patch_group(
        &s,
        &g,
        &json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "value": {"id": g, "displayName": "New Name"}}]
        }),
    )
    .await;
    let got = get_ok(&s, &format!("/Groups/{g}")).await;
    assert_eq!(got["id"], g.as_str());
    assert_eq!(got["displayName"], "New Name");
    assert_eq!(
        member_ids(&s, &g).await,
        set(&[&u]),
        "the rename must not touch members"
    );
}

on_both_stores!(entra_pathless_dotted_and_urn_keys);
/// Entra (`aadOptscim062020`) pathless value objects with dotted and URN keys.
async fn entra_pathless_dotted_and_urn_keys() {
    let s = Server::start().await;
    let id = entra_user(&s, "dotted@contoso.com").await;
    let body = patch_user(
        &s,
        &id,
        &patch_op(json!([{
            "op": "Replace",
            "value": {
                "name.givenName": "Barbara",
                "name.familyName": "Jensen",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "701984",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter": "4130",
                "title": "Tour Guide"
            }
        }])),
    )
    .await;
    assert_eq!(body["name"]["givenName"], "Barbara", "{body}");
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got["name"]["givenName"], "Barbara");
    assert_eq!(got["name"]["familyName"], "Jensen");
    assert_eq!(got["name"]["formatted"], "Ann Lee", "other name parts are kept");
    assert_eq!(got["title"], "Tour Guide");
    assert_eq!(got[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(got[ENTERPRISE]["costCenter"], "4130");
    assert_eq!(
        got[ENTERPRISE]["department"], "Sales",
        "other extension attributes are kept"
    );
    // No attribute is stored under the literal dotted or URN key.
    assert!(got.get("name.givenName").is_none(), "{got}");
    assert!(
        got.get(format!("{ENTERPRISE}:employeeNumber").as_str()).is_none(),
        "{got}"
    );

    // The same with `Add`.
    patch_user(
        &s,
        &id,
        &patch_op(json!([{
            "op": "Add",
            "value": {"name.middleName": "J", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division": "EMEA"}
        }])),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got["name"]["middleName"], "J");
    assert_eq!(got["name"]["givenName"], "Barbara");
    assert_eq!(got[ENTERPRISE]["division"], "EMEA");
}

const MANAGER_PATH: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

on_both_stores!(entra_manager_as_bare_id);
/// Entra sends the manager as a bare id string.
async fn entra_manager_as_bare_id() {
    let s = Server::start().await;
    let boss = s.create_user("boss@contoso.com").await;
    let id = entra_user(&s, "report@contoso.com").await;
    let body = patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Add", "path": MANAGER_PATH, "value": boss}])),
    )
    .await;
    assert_eq!(body[ENTERPRISE]["manager"]["value"], boss.as_str(), "{body}");
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got[ENTERPRISE]["manager"]["value"], boss.as_str(), "{got}");
    assert!(got[ENTERPRISE]["manager"].is_object(), "{got}");
    assert_eq!(got[ENTERPRISE]["employeeNumber"], "1001");
}

on_both_stores!(manager_as_value_object_and_one_element_array);
/// The manager as `{"value": ..}` and as Entra's `[{"$ref": null, "value": ..}]`.
async fn manager_as_value_object_and_one_element_array() {
    let s = Server::start().await;
    let boss1 = s.create_user("boss1@example.com").await;
    let boss2 = s.create_user("boss2@example.com").await;
    let id = entra_user(&s, "report2@example.com").await;
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "replace", "path": MANAGER_PATH, "value": {"value": boss1}}])),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got[ENTERPRISE]["manager"]["value"], boss1.as_str(), "{got}");

    patch_user(
        &s,
        &id,
        &patch_op(
            json!([{"op": "Replace", "path": MANAGER_PATH, "value": [{"$ref": null, "value": boss2}]}]),
        ),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert!(
        got[ENTERPRISE]["manager"].is_object(),
        "manager is single-valued: {got}"
    );
    assert_eq!(got[ENTERPRISE]["manager"]["value"], boss2.as_str(), "{got}");
}

on_both_stores!(manager_in_pathless_urn_key);
/// The manager in a pathless value object keyed by the URN-qualified name (Entra).
async fn manager_in_pathless_urn_key() {
    let s = Server::start().await;
    let boss = s.create_user("boss3@contoso.com").await;
    let id = entra_user(&s, "report3@contoso.com").await;
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Add", "value": {MANAGER_PATH: boss}}])),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got[ENTERPRISE]["manager"]["value"], boss.as_str(), "{got}");
}

on_both_stores!(manager_removal_by_urn_path);
/// Removal by the URN path.
async fn manager_removal_by_urn_path() {
    let s = Server::start().await;
    let boss = s.create_user("boss@contoso.com").await;
    let id = entra_user(&s, "leaver@contoso.com").await;
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Add", "path": MANAGER_PATH, "value": boss}])),
    )
    .await;
    assert_eq!(
        get_ok(&s, &format!("/Users/{id}")).await[ENTERPRISE]["manager"]["value"],
        boss.as_str()
    );

    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "Remove", "path": MANAGER_PATH}])),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert!(got[ENTERPRISE].get("manager").is_none(), "{got}");
    assert_eq!(
        got[ENTERPRISE]["employeeNumber"], "1001",
        "the rest of the extension stays"
    );
}

on_both_stores!(manager_removal_by_value_filter);
/// Removal by `manager[value eq "<id>"]`.
async fn manager_removal_by_value_filter() {
    let s = Server::start().await;
    let boss = s.create_user("boss@example.com").await;
    let id = entra_user(&s, "leaver2@example.com").await;
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "add", "path": MANAGER_PATH, "value": {"value": boss}}])),
    )
    .await;
    assert_eq!(
        get_ok(&s, &format!("/Users/{id}")).await[ENTERPRISE]["manager"]["value"],
        boss.as_str()
    );

    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "remove", "path": format!("manager[value eq \"{boss}\"]")}])),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert!(got[ENTERPRISE].get("manager").is_none(), "{got}");
    assert_eq!(got[ENTERPRISE]["employeeNumber"], "1001");
}

on_both_stores!(okta_remove_and_add_in_one_patch);
/// Okta removes one member and adds another in one request; Okta members lack `type`.
async fn okta_remove_and_add_in_one_patch() {
    let s = Server::start().await;
    let a = s.create_user("a@okta.example").await;
    let b = s.create_user("b@okta.example").await;
    let c = s.create_user("c@okta.example").await;
    let g = s.create_group("Okta Group", &[&a, &b]).await;
    patch_group(
        &s,
        &g,
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
                {"op": "add", "path": "members", "value": [{"value": c, "display": "c@okta.example"}]}
            ]
        }),
    )
    .await;
    assert_eq!(member_ids(&s, &g).await, set(&[&b, &c]));
}

on_both_stores!(entra_adds_several_members_in_one_add);
/// Entra adds several members in one `Add`, with `"$ref": null`.
async fn entra_adds_several_members_in_one_add() {
    let s = Server::start().await;
    let a = s.create_user("a@contoso.com").await;
    let b = s.create_user("b@contoso.com").await;
    let c = s.create_user("c@contoso.com").await;
    let g = s.create_group("Entra Group", &[]).await;
    patch_group(
        &s,
        &g,
        &patch_op(json!([{
            "op": "Add",
            "path": "members",
            "value": [{"$ref": null, "value": a}, {"$ref": null, "value": b}, {"$ref": null, "value": c}]
        }])),
    )
    .await;
    assert_eq!(member_ids(&s, &g).await, set(&[&a, &b, &c]));
    let got = get_ok(&s, &format!("/Groups/{g}")).await;
    for m in got["members"].as_array().expect("members") {
        let v = m["value"].as_str().expect("value");
        assert_eq!(m["type"], "User", "{got}");
        assert_eq!(m["$ref"], format!("{}/Users/{v}", s.base), "{got}");
    }
}

on_both_stores!(okta_push_now_replace_members_with_empty_list);
/// Okta's "push now" of an empty group: `replace members []` empties the group.
async fn okta_push_now_replace_members_with_empty_list() {
    let s = Server::start().await;
    let a = s.create_user("a@okta.example").await;
    let b = s.create_user("b@okta.example").await;
    let g = s.create_group("Pushed", &[&a, &b]).await;
    patch_group(
        &s,
        &g,
        &patch_op(json!([{"op": "replace", "path": "members", "value": []}])),
    )
    .await;
    assert_eq!(member_ids(&s, &g).await, BTreeSet::new());
    let got = get_ok(&s, &format!("/Groups/{g}")).await;
    assert_eq!(got["displayName"], "Pushed", "the group itself stays");
    // The users no longer list the group.
    let user = get_ok(&s, &format!("/Users/{a}")).await;
    assert!(user.get("groups").is_none_or(|g| g == &json!([])), "{user}");
}

on_both_stores!(adding_existing_member_is_noop);
/// Adding a member that is already present is a no-op, never a duplicate.
async fn adding_existing_member_is_noop() {
    let s = Server::start().await;
    let a = s.create_user("a@example.com").await;
    let b = s.create_user("b@example.com").await;
    let g = s.create_group("Dupes", &[&a]).await;
    // Entra re-adds a present member.
    patch_group(
        &s,
        &g,
        &patch_op(json!([{"op": "Add", "path": "members", "value": [{"value": a}]}])),
    )
    .await;
    // Okta sends a present and a new member, and the new one twice.
    patch_group(
        &s,
        &g,
        &patch_op(
            json!([{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}, {"value": b}]}]),
        ),
    )
    .await;
    let got = get_ok(&s, &format!("/Groups/{g}")).await;
    let members = got["members"].as_array().expect("members");
    assert_eq!(members.len(), 2, "no duplicate members: {got}");
    assert_eq!(member_ids(&s, &g).await, set(&[&a, &b]));
    // The user lists the group once.
    let user = get_ok(&s, &format!("/Users/{a}")).await;
    assert_eq!(user["groups"].as_array().map(Vec::len), Some(1), "{user}");
}

on_both_stores!(removing_absent_member_is_noop);
/// Removing an absent member is a no-op (both Entra's and the RFC form).
async fn removing_absent_member_is_noop() {
    let s = Server::start().await;
    let a = s.create_user("a@example.com").await;
    let outsider = s.create_user("outsider@example.com").await;
    let g = s.create_group("Stable", &[&a]).await;
    patch_group(
        &s,
        &g,
        &patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": outsider}]}])),
    )
    .await;
    assert_eq!(member_ids(&s, &g).await, set(&[&a]));
    patch_group(
        &s,
        &g,
        &patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{outsider}\"]")}])),
    )
    .await;
    assert_eq!(member_ids(&s, &g).await, set(&[&a]));
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

on_both_stores!(filter_spaces_as_percent20_and_plus);
/// Spaces as `%20` (Okta) and `+` (Entra).
async fn filter_spaces_as_percent20_and_plus() {
    let s = Server::start().await;
    let id = s.create_user("isaac.brock@example.com").await;
    s.create_user("someone.else@example.com").await;
    // Okta
    let okta = list(
        &s,
        "/Users?filter=userName%20eq%20%22isaac.brock%40example.com%22&startIndex=1&count=100",
    )
    .await;
    assert_found(&okta, &[&id]);
    assert_eq!(okta["Resources"][0]["userName"], "isaac.brock@example.com");
    // Entra
    let entra = list(&s, "/Users?filter=userName+eq+%22isaac.brock%40example.com%22").await;
    assert_found(&entra, &[&id]);
}

on_both_stores!(filter_attribute_names_in_odd_case);
/// Attribute names are case-insensitive (`username sw`, SailPoint's `DisplayName eq`).
async fn filter_attribute_names_in_odd_case() {
    let s = Server::start().await;
    let a = s.create_user("sp.alice@example.com").await;
    let b = s.create_user("sp.bob@example.com").await;
    s.create_user("carol@example.com").await;
    assert_found(
        &list(&s, "/Users?filter=username%20sw%20%22sp.%22").await,
        &[&a, &b],
    );
    assert_found(
        &list(&s, "/Users?filter=USERNAME+eq+%22sp.bob%40example.com%22").await,
        &[&b],
    );

    let sales = s.create_group("Sales", &[]).await;
    let emea = s.create_group("Sales EMEA", &[]).await;
    s.create_group("Marketing", &[]).await;
    assert_found(
        &list(&s, "/Groups?filter=DisplayName%20eq%20%22Sales%22").await,
        &[&sales],
    );
    assert_found(
        &list(&s, "/Groups?filter=displayname+sw+%22Sales%22").await,
        &[&sales, &emea],
    );
}

on_both_stores!(username_value_case_insensitive_external_id_and_id_exact);
/// `userName` values compare case-insensitively; `externalId` and `id` exactly.
async fn username_value_case_insensitive_external_id_and_id_exact() {
    let s = Server::start().await;
    let created = post_created(
        &s,
        "/Users",
        &json!({"schemas": [USER], "userName": "Alice.Smith@Example.com", "externalId": "AbC-123"}),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_string();
    assert_found(
        &list(&s, "/Users?filter=userName+eq+%22alice.smith%40example.com%22").await,
        &[&id],
    );
    assert_found(
        &list(&s, "/Users?filter=userName+eq+%22ALICE.SMITH%40EXAMPLE.COM%22").await,
        &[&id],
    );
    assert_found(
        &list(&s, "/Users?filter=externalId+eq+%22AbC-123%22").await,
        &[&id],
    );
    assert_found(&list(&s, "/Users?filter=externalId+eq+%22abc-123%22").await, NONE);
    assert_found(
        &list(&s, &format!("/Users?filter=id+eq+%22{id}%22")).await,
        &[&id],
    );
    let upper = id.to_uppercase();
    if upper != id {
        assert_found(
            &list(&s, &format!("/Users?filter=id+eq+%22{upper}%22")).await,
            NONE,
        );
    }
}

on_both_stores!(entra_test_connection_empty_list);
/// Entra's Test Connection: a random GUID userName answers 200 with an empty list.
async fn entra_test_connection_empty_list() {
    let s = Server::start().await;
    s.create_user("existing@contoso.com").await;
    let r = s
        .get("/Users?filter=userName+eq+%220cbbd8b4-4ba5-4b7e-b4f3-5e1e5d3b0f6a%22")
        .await;
    r.assert_status(200);
    assert_scim_content_type(&r);
    assert_eq!(r.body["schemas"], json!([LIST]));
    assert_eq!(r.body["totalResults"], json!(0));
    assert_eq!(r.body["Resources"], json!([]), "{}", r.text);
    // Okta's spelling of the same check.
    let okta = list(
        &s,
        "/Users?filter=userName%20eq%20%220cbbd8b4-4ba5-4b7e-b4f3-5e1e5d3b0f6a%22",
    )
    .await;
    assert_eq!(okta["totalResults"], json!(0));
    assert_eq!(okta["Resources"], json!([]));
}

on_both_stores!(lookups_before_create);
/// Lookups before create/link: `userName eq`, `externalId eq`, Groups `displayName eq`.
async fn lookups_before_create() {
    let s = Server::start().await;
    let created = post_created(
        &s,
        "/Users",
        &json!({"schemas": [USER], "userName": "link@contoso.com", "externalId": "6f1e2a3b-entra-object-id"}),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_string();
    s.create_user("other@contoso.com").await;
    assert_found(
        &list(&s, "/Users?filter=userName+eq+%22link%40contoso.com%22").await,
        &[&id],
    );
    assert_found(
        &list(&s, "/Users?filter=externalId+eq+%226f1e2a3b-entra-object-id%22").await,
        &[&id],
    );
    let g = s.create_group("Finance", &[&id]).await;
    s.create_group("Finance Ops", &[]).await;
    let groups = list(
        &s,
        "/Groups?excludedAttributes=members&filter=displayName+eq+%22Finance%22",
    )
    .await;
    assert_found(&groups, &[&g]);
    assert!(groups["Resources"][0].get("members").is_none(), "{groups}");
}

on_both_stores!(entra_compound_id_and_manager);
/// Entra's compound `id eq ... and manager eq ...`.
async fn entra_compound_id_and_manager() {
    let s = Server::start().await;
    let boss = s.create_user("boss@contoso.com").await;
    let other_boss = s.create_user("other.boss@contoso.com").await;
    let created = post_created(
        &s,
        "/Users",
        &json!({"schemas": [USER, ENTERPRISE], "userName": "report@contoso.com", ENTERPRISE: {"manager": boss}}),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(
        created[ENTERPRISE]["manager"]["value"],
        boss.as_str(),
        "{created}"
    );
    assert_found(
        &list(
            &s,
            &format!("/Users?filter=id+eq+%22{id}%22+and+manager+eq+%22{boss}%22"),
        )
        .await,
        &[&id],
    );
    assert_found(
        &list(
            &s,
            &format!("/Users?filter=id+eq+%22{id}%22+and+manager+eq+%22{other_boss}%22"),
        )
        .await,
        NONE,
    );
}

on_both_stores!(sailpoint_sw_and_last_modified_delta);
/// SailPoint's `sw` and delta aggregation on `meta.lastModified gt`.
async fn sailpoint_sw_and_last_modified_delta() {
    let s = Server::start().await;
    let first = post_created(
        &s,
        "/Users",
        &json!({"schemas": [USER], "userName": "delta.one@example.com"}),
    )
    .await;
    let first_id = first["id"].as_str().expect("id").to_string();
    let since = first["meta"]["lastModified"]
        .as_str()
        .expect("lastModified")
        .to_string();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second = s.create_user("delta.two@example.com").await;
    assert_found(
        &list(&s, "/Users?filter=userName%20sw%20%22delta.%22").await,
        &[&first_id, &second],
    );
    let delta = list(
        &s,
        &format!("/Users?filter=meta.lastModified%20gt%20%22{since}%22"),
    )
    .await;
    assert_found(&delta, &[&second]);
    // A change to the first user brings it into the next delta.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    patch_user(
        &s,
        &first_id,
        &patch_op(json!([{"op": "replace", "value": {"title": "Changed"}}])),
    )
    .await;
    let since2 = get_ok(&s, &format!("/Users/{second}")).await["meta"]["lastModified"]
        .as_str()
        .expect("lastModified")
        .to_string();
    assert_found(
        &list(
            &s,
            &format!("/Users?filter=meta.lastModified%20gt%20%22{since2}%22"),
        )
        .await,
        &[&first_id],
    );
}

on_both_stores!(entra_excluded_attributes_members);
/// Entra's `excludedAttributes=members` on Groups (list, get, PATCH response).
async fn entra_excluded_attributes_members() {
    let s = Server::start().await;
    let a = s.create_user("a@contoso.com").await;
    let b = s.create_user("b@contoso.com").await;
    let g = s.create_group("Large", &[&a, &b]).await;
    let all = list(&s, "/Groups?excludedAttributes=members").await;
    assert_eq!(all["totalResults"], json!(1));
    let only = &all["Resources"][0];
    assert_eq!(only["id"], g.as_str());
    assert_eq!(only["displayName"], "Large");
    assert!(only.get("members").is_none(), "{all}");

    let one = get_ok(&s, &format!("/Groups/{g}?excludedAttributes=members")).await;
    assert_eq!(one["displayName"], "Large");
    assert!(one.get("members").is_none(), "{one}");
    assert!(one.get("meta").is_some(), "{one}");
    // Without the parameter the members are there.
    assert_eq!(member_ids(&s, &g).await, set(&[&a, &b]));
}

on_both_stores!(sailpoint_attributes_selection);
/// SailPoint's `attributes=userName,emails`.
async fn sailpoint_attributes_selection() {
    let s = Server::start().await;
    let id = entra_user(&s, "attrs@example.com").await;
    let expected_keys: BTreeSet<String> = set(&["schemas", "id", "userName", "emails"]);

    let all = list(&s, "/Users?attributes=userName,emails").await;
    assert_eq!(all["totalResults"], json!(1));
    let r = &all["Resources"][0];
    let keys: BTreeSet<String> = r.as_object().expect("object").keys().cloned().collect();
    assert_eq!(keys, expected_keys, "{r}");
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["userName"], "attrs@example.com");
    assert_eq!(r["emails"][0]["value"], "home.attrs@example.com");

    let one = get_ok(&s, &format!("/Users/{id}?attributes=userName,emails")).await;
    let keys: BTreeSet<String> = one.as_object().expect("object").keys().cloned().collect();
    assert_eq!(keys, expected_keys, "{one}");
}

on_both_stores!(paging_integers_and_stable_walk);
/// Paging numbers are JSON integers; a `startIndex` walk sees every resource once.
async fn paging_integers_and_stable_walk() {
    let s = Server::start().await;
    let mut created = BTreeSet::new();
    for i in 0..7 {
        created.insert(s.create_user(&format!("page.{i}@example.com")).await);
    }
    let mut seen: Vec<String> = Vec::new();
    let mut start = 1u64;
    let mut pages = 0;
    loop {
        let page = list(&s, &format!("/Users?startIndex={start}&count=3")).await;
        assert!(
            page["totalResults"].is_u64(),
            "totalResults must be an integer: {page}"
        );
        assert!(
            page["startIndex"].is_u64(),
            "startIndex must be an integer: {page}"
        );
        assert!(
            page["itemsPerPage"].is_u64(),
            "itemsPerPage must be an integer: {page}"
        );
        assert_eq!(page["totalResults"], json!(7), "{page}");
        assert_eq!(page["startIndex"], json!(start), "{page}");
        let got = ids_in_order(&page);
        let expected_len = if start == 7 { 1 } else { 3 };
        assert_eq!(got.len(), expected_len, "{page}");
        assert_eq!(page["itemsPerPage"], json!(expected_len), "{page}");
        seen.extend(got);
        pages += 1;
        start += 3;
        if start > 7 {
            break;
        }
    }
    assert_eq!(pages, 3);
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 7, "every resource once: {seen:?}");
    assert_eq!(unique, created);
    // The same walk twice gives the same order.
    let again = ids_in_order(&list(&s, "/Users?startIndex=1&count=3").await);
    assert_eq!(again, seen[..3].to_vec());
    // Past the end: an empty page, still 200.
    let past = list(&s, "/Users?startIndex=8&count=3").await;
    assert_eq!(past["totalResults"], json!(7));
    assert_eq!(past["itemsPerPage"], json!(0));
    assert!(past.get("Resources").is_none_or(|r| r == &json!([])), "{past}");
}

on_both_stores!(unknown_query_parameter_ignored);
/// Entra appends `aadOptscim062020` to the base URL: every request carries it.
async fn unknown_query_parameter_ignored() {
    let s = Server::start().await;
    let created = post_created(
        &s,
        "/Users?aadOptscim062020",
        &json!({"schemas": [USER], "userName": "flag@contoso.com", "active": true}),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["userName"], "flag@contoso.com");
    let got = get_ok(&s, &format!("/Users/{id}?aadOptscim062020")).await;
    assert_eq!(got["userName"], "flag@contoso.com");
    let r = s
        .patch(
            &format!("/Users/{id}?aadOptscim062020"),
            &patch_op(json!([{"op": "Replace", "value": {"title": "Flagged"}}])),
        )
        .await;
    r.assert_status(200);
    assert_eq!(get_ok(&s, &format!("/Users/{id}")).await["title"], "Flagged");
    let all = list(&s, "/Users?aadOptscim062020&someVendorParam=1").await;
    assert_found(&all, &[&id]);
    let g = post_created(
        &s,
        "/Groups?aadOptscim062020",
        &json!({"schemas": [GROUP], "displayName": "Flag Group"}),
    )
    .await;
    let gid = g["id"].as_str().expect("id");
    assert_eq!(
        get_ok(&s, &format!("/Groups/{gid}?aadOptscim062020")).await["displayName"],
        "Flag Group"
    );
    let r = s.delete(&format!("/Users/{id}?aadOptscim062020")).await;
    r.assert_status(204);
    s.get(&format!("/Users/{id}")).await.assert_error(404, None);
}

on_both_stores!(unknown_query_parameter_next_to_filter);
/// The flag next to a filter.
async fn unknown_query_parameter_next_to_filter() {
    let s = Server::start().await;
    let id = s.create_user("flag2@contoso.com").await;
    assert_found(
        &list(
            &s,
            "/Users?aadOptscim062020&filter=userName+eq+%22flag2%40contoso.com%22",
        )
        .await,
        &[&id],
    );
    assert_found(
        &list(
            &s,
            "/Users?filter=userName+eq+%22flag2%40contoso.com%22&aadOptscim062020",
        )
        .await,
        &[&id],
    );
}

on_both_stores!(filter_with_schema_urn_attribute_names);
/// Filters naming attributes with their schema URN.
async fn filter_with_schema_urn_attribute_names() {
    let s = Server::start().await;
    let id = entra_user(&s, "urn@contoso.com").await;
    s.create_user("plain@contoso.com").await;
    assert_found(
        &list(&s, "/Users?filter=urn:ietf:params:scim:schemas:core:2.0:User:userName%20eq%20%22urn%40contoso.com%22").await,
        &[&id],
    );
    assert_found(
        &list(
            &s,
            "/Users?filter=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber+eq+%221001%22",
        )
        .await,
        &[&id],
    );
}

// ---------------------------------------------------------------------------------------------
// Resources and responses
// ---------------------------------------------------------------------------------------------

on_both_stores!(deactivated_user_stays_visible_to_get_and_list);
/// A deactivated user stays visible to GET and to list.
async fn deactivated_user_stays_visible_to_get_and_list() {
    let s = Server::start().await;
    let id = s.create_user("soft@okta.example").await;
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got["active"], json!(false));
    let all = list(&s, "/Users").await;
    assert_found(&all, &[&id]);
    assert_eq!(all["Resources"][0]["active"], json!(false));
}

on_both_stores!(deactivated_user_stays_visible_to_filters);
/// A deactivated user stays visible to filters.
async fn deactivated_user_stays_visible_to_filters() {
    let s = Server::start().await;
    let id = s.create_user("soft2@okta.example").await;
    let active = s.create_user("active@okta.example").await;
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "replace", "value": {"active": false}}])),
    )
    .await;
    let found = list(&s, "/Users?filter=userName%20eq%20%22soft2%40okta.example%22").await;
    assert_found(&found, &[&id]);
    assert_eq!(found["Resources"][0]["active"], json!(false));
    assert_found(&list(&s, "/Users?filter=active+eq+false").await, &[&id]);
    assert_found(&list(&s, "/Users?filter=active+eq+true").await, &[&active]);
}

on_both_stores!(delete_then_get_404_and_filter_misses);
/// After DELETE, GET is 404, lists and filters no longer find it, groups drop it.
async fn delete_then_get_404_and_filter_misses() {
    let s = Server::start().await;
    let id = s.create_user("gone@contoso.com").await;
    let stays = s.create_user("stays@contoso.com").await;
    let g = s.create_group("Team", &[&id, &stays]).await;
    let r = s.delete(&format!("/Users/{id}")).await;
    r.assert_status(204);
    assert!(r.text.is_empty(), "{}", r.text);
    s.get(&format!("/Users/{id}")).await.assert_error(404, None);
    assert_found(&list(&s, "/Users").await, &[&stays]);
    assert_eq!(member_ids(&s, &g).await, set(&[&stays]));
    // A second DELETE is a 404 too (Entra retries).
    s.delete(&format!("/Users/{id}")).await.assert_error(404, None);
    assert_found(
        &list(&s, "/Users?filter=userName+eq+%22gone%40contoso.com%22").await,
        NONE,
    );
}

on_both_stores!(post_201_full_resource_and_location);
/// POST answers 201 with the full resource and `Location` equal to `meta.location`.
async fn post_201_full_resource_and_location() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "loc@okta.example", "name": {"givenName": "Lo", "familyName": "Cation"}}),
        )
        .await;
    r.assert_status(201);
    assert_scim_content_type(&r);
    let id = r.body["id"].as_str().expect("id");
    let location = r.header("location").expect("Location header");
    assert_eq!(location, format!("{}/Users/{id}", s.base));
    assert_eq!(r.body["meta"]["location"], location);
    assert_eq!(r.body["meta"]["resourceType"], "User");
    assert_eq!(r.body["userName"], "loc@okta.example");
    assert_eq!(r.body["name"], json!({"givenName": "Lo", "familyName": "Cation"}));
    assert_eq!(r.body["schemas"], json!([USER]));
    let etag = r.header("etag").expect("ETag header");
    assert_eq!(r.body["meta"]["version"], etag);
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got, r.body, "the POST body is the resource as stored");

    let r = s
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Loc Group"}),
        )
        .await;
    r.assert_status(201);
    let gid = r.body["id"].as_str().expect("id");
    let location = r.header("location").expect("Location header");
    assert_eq!(location, format!("{}/Groups/{gid}", s.base));
    assert_eq!(r.body["meta"]["location"], location);
    assert_eq!(r.body["meta"]["resourceType"], "Group");
    assert_eq!(r.body["displayName"], "Loc Group");
}

on_both_stores!(group_patch_204_or_200_with_attributes);
/// A group PATCH answers 204 (Entra prefers it), 200 with the resource when
/// `attributes`/`excludedAttributes` ask for one.
async fn group_patch_204_or_200_with_attributes() {
    let s = Server::start().await;
    let a = s.create_user("a@contoso.com").await;
    let g = s.create_group("Before", &[&a]).await;
    let r = s
        .patch(
            &format!("/Groups/{g}"),
            &patch_op(json!([{"op": "Replace", "value": {"displayName": "After"}}])),
        )
        .await;
    r.assert_status(204);
    assert!(r.text.is_empty());
    assert_eq!(get_ok(&s, &format!("/Groups/{g}")).await["displayName"], "After");

    let r = s
        .patch(
            &format!("/Groups/{g}?excludedAttributes=members"),
            &patch_op(json!([{"op": "Replace", "value": {"displayName": "After Again"}}])),
        )
        .await;
    r.assert_status(200);
    assert_scim_content_type(&r);
    assert_eq!(r.body["id"], g.as_str());
    assert_eq!(r.body["displayName"], "After Again");
    assert!(r.body.get("members").is_none(), "{}", r.text);
    assert_eq!(
        get_ok(&s, &format!("/Groups/{g}")).await["displayName"],
        "After Again"
    );
    assert_eq!(member_ids(&s, &g).await, set(&[&a]));
}

on_both_stores!(duplicate_username_409_uniqueness);
/// A duplicate `userName` answers 409 `uniqueness`, also in another case
/// (`caseExact: false`), and only within the tenant.
async fn duplicate_username_409_uniqueness() {
    let s = Server::start().await;
    let id = s.create_user("dup@contoso.com").await;
    let again = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "dup@contoso.com"}),
        )
        .await;
    again.assert_error(409, Some("uniqueness"));
    let cased = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "DUP@Contoso.com"}),
        )
        .await;
    cased.assert_error(409, Some("uniqueness"));
    assert_found(&list(&s, "/Users").await, &[&id]);
    // Another tenant may use the same userName.
    let other = s.as_token(OTHER_TOKEN);
    other.create_user("dup@contoso.com").await;
    // A rename onto an existing userName is a conflict too.
    let second = s.create_user("second@contoso.com").await;
    let r = s
        .patch(
            &format!("/Users/{second}"),
            &patch_op(json!([{"op": "replace", "value": {"userName": "dup@contoso.com"}}])),
        )
        .await;
    r.assert_error(409, Some("uniqueness"));
    assert_eq!(
        get_ok(&s, &format!("/Users/{second}")).await["userName"],
        "second@contoso.com"
    );
}

on_both_stores!(content_types_in_and_out);
/// `application/json` and `application/scim+json` (with `charset`) are accepted; every
/// answer is `application/scim+json`; errors are SCIM Error JSON.
async fn content_types_in_and_out() {
    let s = Server::start().await;
    let mut ids = Vec::new();
    for (i, ct) in [
        "application/json",
        "application/scim+json",
        "application/scim+json;charset=utf-8",
        "application/json; charset=UTF-8",
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"schemas": [USER], "userName": format!("ct{i}@example.com")}).to_string();
        let r = send_raw(&s, Method::POST, "/Users", Some(ct), &body).await;
        r.assert_status(201);
        assert_scim_content_type(&r);
        assert_eq!(r.body["userName"], format!("ct{i}@example.com"), "{ct}");
        ids.push(r.body["id"].as_str().expect("id").to_string());
    }
    let id = &ids[0];
    let patch = patch_op(json!([{"op": "replace", "value": {"title": "JSON"}}])).to_string();
    let r = send_raw(
        &s,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some("application/json"),
        &patch,
    )
    .await;
    r.assert_status(200);
    assert_scim_content_type(&r);
    let put = json!({"schemas": [USER], "userName": "ct0@example.com", "title": "PUT"}).to_string();
    let r = send_raw(
        &s,
        Method::PUT,
        &format!("/Users/{id}"),
        Some("application/scim+json; charset=utf-8"),
        &put,
    )
    .await;
    r.assert_status(200);
    assert_scim_content_type(&r);
    assert_eq!(get_ok(&s, &format!("/Users/{id}")).await["title"], "PUT");
    // Lists and discovery too.
    list(&s, "/Users").await;
    get_ok(&s, "/ServiceProviderConfig").await;
    // Errors are SCIM JSON with the SCIM media type.
    s.get("/Users/no-such-user").await.assert_error(404, None);
    send_raw(
        &s,
        Method::POST,
        "/Users",
        Some("application/json"),
        "{\"userName\": ",
    )
    .await
    .assert_error(400, Some("invalidSyntax"));
    send_raw(&s, Method::POST, "/Users", Some("text/plain"), "userName=x")
        .await
        .assert_error(415, None);
}

on_both_stores!(meta_empty_roles_and_nulls_ignored);
/// `meta`, `"roles": []`, null-valued attributes in a POST body are ignored.
async fn meta_empty_roles_and_nulls_ignored() {
    let s = Server::start().await;
    let created = post_created(
        &s,
        "/Users",
        &json!({
            "schemas": [USER],
            "id": "client-chosen-id",
            "userName": "nulls@example.com",
            "nickName": null,
            "title": null,
            "displayName": "Nul Ls",
            "name": {"givenName": "Nul", "middleName": null, "familyName": "Ls"},
            "phoneNumbers": null,
            "roles": [],
            "meta": {"resourceType": "Group", "created": "2001-01-01T00:00:00Z", "location": "https://evil.example/x"},
            ENTERPRISE: null
        }),
    )
    .await;
    let id = created["id"].as_str().expect("id");
    assert_ne!(id, "client-chosen-id");
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got, created);
    for absent in ["nickName", "title", "phoneNumbers", "roles", ENTERPRISE] {
        assert!(got.get(absent).is_none(), "{absent}: {got}");
    }
    assert_eq!(got["name"], json!({"givenName": "Nul", "familyName": "Ls"}));
    assert_eq!(got["schemas"], json!([USER]));
    assert_eq!(got["meta"]["resourceType"], "User");
    assert_eq!(got["meta"]["location"], format!("{}/Users/{id}", s.base));
    assert_ne!(got["meta"]["created"], "2001-01-01T00:00:00Z");
}

on_both_stores!(operations_before_schemas);
/// Entra's `Operations` before `schemas` in a PATCH body (raw text, key order kept).
async fn operations_before_schemas() {
    let s = Server::start().await;
    let id = s.create_user("order@contoso.com").await;
    let raw = r#"{"Operations":[{"op":"Replace","value":{"title":"Ordered"}}],"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}"#;
    let r = send_raw(
        &s,
        Method::PATCH,
        &format!("/Users/{id}"),
        Some("application/scim+json"),
        raw,
    )
    .await;
    r.assert_status(200);
    assert_eq!(r.body["title"], "Ordered");
    assert_eq!(get_ok(&s, &format!("/Users/{id}")).await["title"], "Ordered");
    // The same for a group.
    let g = s.create_group("Ordered Group", &[]).await;
    let raw = r#"{"Operations":[{"op":"Replace","value":{"displayName":"Reordered"}}],"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}"#;
    let r = send_raw(
        &s,
        Method::PATCH,
        &format!("/Groups/{g}"),
        Some("application/scim+json"),
        raw,
    )
    .await;
    r.assert_status(204);
    assert_eq!(
        get_ok(&s, &format!("/Groups/{g}")).await["displayName"],
        "Reordered"
    );
}

on_both_stores!(entra_extra_group_schema);
/// Entra's extra group schema URN in POST and PUT bodies.
async fn entra_extra_group_schema() {
    let s = Server::start().await;
    let u = s.create_user("member@contoso.com").await;
    let created = post_created(
        &s,
        "/Groups",
        &json!({
            "schemas": [GROUP, MS_GROUP],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Group1",
            "members": []
        }),
    )
    .await;
    let g = created["id"].as_str().expect("id");
    assert_eq!(created["displayName"], "Group1");
    assert_eq!(created["schemas"], json!([GROUP]));
    let got = get_ok(&s, &format!("/Groups/{g}")).await;
    assert_eq!(got["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
    assert_eq!(got["displayName"], "Group1");

    let r = s
        .put(
            &format!("/Groups/{g}"),
            &json!({
                "schemas": [GROUP, MS_GROUP],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Group1 Renamed",
                "members": [{"value": u}]
            }),
        )
        .await;
    r.assert_status(200);
    let got = get_ok(&s, &format!("/Groups/{g}")).await;
    assert_eq!(got["displayName"], "Group1 Renamed");
    assert_eq!(member_ids(&s, g).await, set(&[&u]));
}

on_both_stores!(bad_credentials_401_scim_error);
/// Okta's credential check sends `Authorization: non-token`: 401 with a SCIM Error and
/// `WWW-Authenticate`. Missing and wrong credentials likewise.
async fn bad_credentials_401_scim_error() {
    let s = Server::start().await;
    s.create_user("secret@example.com").await;
    let cases: [Option<&str>; 4] = [
        Some("non-token"),
        None,
        Some("Bearer SCIM_not-a-valid-token"),
        Some("Basic dXNlcjpwYXNz"),
    ];
    for auth in cases {
        for path in ["/Users", "/ServiceProviderConfig", "/Groups/anything"] {
            let auth = auth.map(str::to_string);
            let path = path.to_string();
            let r = s
                .send(move |c, base| {
                    let req = c.get(format!("{base}{path}"));
                    match auth {
                        Some(a) => req.header(AUTHORIZATION, a),
                        None => req,
                    }
                })
                .await;
            r.assert_error(401, None);
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|w| w.starts_with("Bearer")),
                "WWW-Authenticate: {:?}",
                r.header("www-authenticate")
            );
            assert!(!r.text.contains("secret@example.com"), "{}", r.text);
        }
    }
}

on_both_stores!(sailpoint_discovery_endpoints);
/// SailPoint's discovery endpoints all answer, and advertise what works.
async fn sailpoint_discovery_endpoints() {
    let s = Server::start().await;
    let spc = get_ok(&s, "/ServiceProviderConfig").await;
    assert_eq!(spc["schemas"], json!([SPC]));
    assert_eq!(spc["patch"]["supported"], json!(true));
    assert_eq!(spc["bulk"]["supported"], json!(true));
    assert_eq!(spc["filter"]["supported"], json!(true));
    assert!(spc["filter"]["maxResults"].is_u64(), "{spc}");
    assert_eq!(spc["sort"]["supported"], json!(true));
    assert_eq!(spc["etag"]["supported"], json!(true));
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");

    let rts = list(&s, "/ResourceTypes").await;
    assert_eq!(rts["totalResults"], json!(2));
    let names: BTreeSet<String> = rts["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, set(&["User", "Group"]));
    let user_rt = get_ok(&s, "/ResourceTypes/User").await;
    assert_eq!(user_rt["endpoint"], "/Users");
    assert_eq!(user_rt["schema"], USER);
    assert_eq!(user_rt["schemaExtensions"][0]["schema"], ENTERPRISE);
    let group_rt = get_ok(&s, "/ResourceTypes/Group").await;
    assert_eq!(group_rt["endpoint"], "/Groups");
    assert_eq!(group_rt["schema"], GROUP);

    let schemas = list(&s, "/Schemas").await;
    let urns: BTreeSet<String> = schemas["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(urns, set(&[USER, GROUP, ENTERPRISE, ACCESS]));
    for urn in [USER, GROUP, ENTERPRISE] {
        let one = get_ok(&s, &format!("/Schemas/{urn}")).await;
        assert_eq!(one["id"], urn);
        assert!(
            one["attributes"].as_array().is_some_and(|a| !a.is_empty()),
            "{one}"
        );
    }
    // The password attribute is advertised as never returned.
    let user_schema = get_ok(&s, &format!("/Schemas/{USER}")).await;
    let password = user_schema["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .find(|a| a["name"] == "password")
        .expect("password attribute");
    assert_eq!(password["returned"], "never");
    assert_eq!(password["mutability"], "writeOnly");

    // etag is advertised: GET carries an ETag and honours If-None-Match.
    let id = s.create_user("etag@example.com").await;
    let r = s.get(&format!("/Users/{id}")).await;
    let tag = r.header("etag").expect("ETag").to_string();
    assert_eq!(r.body["meta"]["version"], tag.as_str());
    let not_modified = s
        .send(|c, base| {
            c.get(format!("{base}/Users/{id}"))
                .bearer_auth(scim_blackbox::TOKEN)
                .header("If-None-Match", tag.as_str())
        })
        .await;
    assert_eq!(not_modified.status.as_u16(), 304);
}

on_both_stores!(user_groups_lists_memberships);
/// `User.groups` lists the user's groups (SailPoint's fallback group aggregation).
async fn user_groups_lists_memberships() {
    let s = Server::start().await;
    let u = s.create_user("grouped@example.com").await;
    let sales = s.create_group("Sales", &[]).await;
    assert!(get_ok(&s, &format!("/Users/{u}")).await.get("groups").is_none());

    patch_group(
        &s,
        &sales,
        &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": u}]}])),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{u}")).await;
    assert_eq!(
        got["groups"],
        json!([{
            "value": sales,
            "$ref": format!("{}/Groups/{sales}", s.base),
            "display": "Sales",
            "type": "direct"
        }]),
        "{got}"
    );

    let eng = s.create_group("Engineering", &[&u]).await;
    let got = get_ok(&s, &format!("/Users/{u}")).await;
    assert_eq!(values(&got["groups"]), set(&[&sales, &eng]), "{got}");
    // In lists and with `attributes=groups` too.
    let all = list(&s, "/Users").await;
    assert_eq!(
        values(&all["Resources"][0]["groups"]),
        set(&[&sales, &eng]),
        "{all}"
    );
    let only = get_ok(&s, &format!("/Users/{u}?attributes=groups")).await;
    assert_eq!(values(&only["groups"]), set(&[&sales, &eng]), "{only}");

    // A renamed group shows its new name.
    patch_group(
        &s,
        &eng,
        &patch_op(json!([{"op": "replace", "value": {"displayName": "R&D"}}])),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{u}")).await;
    let eng_entry = got["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["value"] == eng.as_str())
        .expect("eng membership");
    assert_eq!(eng_entry["display"], "R&D");

    // Removal and group deletion drop the entries.
    patch_group(
        &s,
        &sales,
        &patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": u}]}])),
    )
    .await;
    assert_eq!(
        values(&get_ok(&s, &format!("/Users/{u}")).await["groups"]),
        set(&[&eng])
    );
    s.delete(&format!("/Groups/{eng}")).await.assert_status(204);
    assert!(get_ok(&s, &format!("/Users/{u}")).await.get("groups").is_none());
}

on_both_stores!(groups_in_user_post_ignored);
/// Points 20 and 23: `groups` in a POST is read-only and ignored (Okta sends `"groups": []`).
async fn groups_in_user_post_ignored() {
    let s = Server::start().await;
    let g = s.create_group("Not Joined", &[]).await;
    let created = post_created(
        &s,
        "/Users",
        &json!({"schemas": [USER], "userName": "sneaky@example.com", "groups": [{"value": g}]}),
    )
    .await;
    let id = created["id"].as_str().expect("id");
    assert!(get_ok(&s, &format!("/Users/{id}")).await.get("groups").is_none());
    assert_eq!(member_ids(&s, &g).await, BTreeSet::new());
}

#[track_caller]
fn assert_no_password(r: &Reply, plain: &str) {
    assert!(!r.text.contains(plain), "the password is echoed: {}", r.text);
    assert!(
        !r.text.to_ascii_lowercase().contains("password"),
        "a password attribute is returned: {}",
        r.text
    );
    assert!(
        !r.text.contains("$argon2"),
        "a password hash is returned: {}",
        r.text
    );
}

on_both_stores!(password_never_returned);
/// Okta's POST /Users with `password` and `groups: []`; the password is never
/// returned, in any response, not even hashed.
async fn password_never_returned() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Users",
            &json!({
                "schemas": [USER],
                "userName": "isaac.brock@example.com",
                "name": {"givenName": "Isaac", "familyName": "Brock"},
                "emails": [{"primary": true, "value": "isaac.brock@example.com", "type": "work"}],
                "displayName": "Isaac Brock",
                "locale": "en-US",
                "externalId": "00ujl29u0le5T6Aj10h7",
                "groups": [],
                "password": "1mz050nq",
                "active": true
            }),
        )
        .await;
    r.assert_status(201);
    assert_no_password(&r, "1mz050nq");
    assert_eq!(r.body["userName"], "isaac.brock@example.com");
    assert_eq!(r.body["externalId"], "00ujl29u0le5T6Aj10h7");
    assert!(r.body.get("groups").is_none_or(|g| g == &json!([])), "{}", r.text);
    let id = r.body["id"].as_str().expect("id").to_string();

    let got = s.get(&format!("/Users/{id}")).await;
    got.assert_status(200);
    assert_no_password(&got, "1mz050nq");
    let asked = s.get(&format!("/Users/{id}?attributes=password")).await;
    asked.assert_status(200);
    assert_no_password(&asked, "1mz050nq");
    let all = s.get("/Users").await;
    all.assert_status(200);
    assert_no_password(&all, "1mz050nq");
    let all = s.get("/Users?attributes=userName,password").await;
    all.assert_status(200);
    assert_no_password(&all, "1mz050nq");

    // Okta's pathless password change.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "value": {"password": "t1meMa$heen"}}])),
        )
        .await;
    r.assert_status(200);
    assert_no_password(&r, "t1meMa$heen");
    // SailPoint's password change with a path.
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "path": "password", "value": "N3w-Secret!"}])),
        )
        .await;
    r.assert_status(200);
    assert_no_password(&r, "N3w-Secret!");
    let got = s.get(&format!("/Users/{id}")).await;
    got.assert_status(200);
    assert_no_password(&got, "N3w-Secret!");
    assert_eq!(got.body["userName"], "isaac.brock@example.com");
}

on_both_stores!(password_not_returned_by_put);
/// A PUT carrying the password does not return it either.
async fn password_not_returned_by_put() {
    let s = Server::start().await;
    let id = s.create_user("put.pw@example.com").await;
    let r = s
        .put(
            &format!("/Users/{id}"),
            &json!({"schemas": [USER], "userName": "put.pw@example.com", "password": "Pa55-w0rd-PUT"}),
        )
        .await;
    r.assert_status(200);
    assert_no_password(&r, "Pa55-w0rd-PUT");
    let got = s.get(&format!("/Users/{id}")).await;
    assert_no_password(&got, "Pa55-w0rd-PUT");
}

on_both_stores!(two_primaries_rejected);
/// Two `primary: true` values → 400 invalidValue (POST, pathless and pathful PATCH),
/// and nothing changes.
async fn two_primaries_rejected() {
    let s = Server::start().await;
    let two = json!([
        {"value": "one@example.com", "type": "work", "primary": true},
        {"value": "two@example.com", "type": "home", "primary": true}
    ]);
    let r = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "prim@example.com", "emails": two}),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert_found(&list(&s, "/Users").await, NONE);

    let id = entra_user(&s, "prim@example.com").await;
    let before = get_ok(&s, &format!("/Users/{id}")).await;
    s.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([{"op": "replace", "value": {"emails": two}}])),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    assert_eq!(get_ok(&s, &format!("/Users/{id}")).await, before);
    s.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([{"op": "replace", "path": "emails", "value": two}])),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    assert_eq!(get_ok(&s, &format!("/Users/{id}")).await, before);
}

on_both_stores!(adding_a_primary_demotes_the_old_one);
/// Adding a new primary value demotes the old one (RFC 7644 §3.5.2), so there is
/// never more than one.
async fn adding_a_primary_demotes_the_old_one() {
    let s = Server::start().await;
    let id = entra_user(&s, "demote@example.com").await;
    patch_user(
        &s,
        &id,
        &patch_op(json!([{
            "op": "add",
            "path": "emails",
            "value": [{"value": "new.primary@example.com", "type": "work", "primary": true}]
        }])),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    let emails = got["emails"].as_array().expect("emails");
    assert_eq!(emails.len(), 2, "{got}");
    let primaries: Vec<&Value> = emails.iter().filter(|e| e["primary"] == json!(true)).collect();
    assert_eq!(primaries.len(), 1, "{got}");
    assert_eq!(primaries[0]["value"], "new.primary@example.com");
}

on_both_stores!(roles_on_create);
/// Roles provisioned directly on POST (SailPoint entitlements, Okta app roles).
async fn roles_on_create() {
    let s = Server::start().await;
    let created = post_created(
        &s,
        "/Users",
        &json!({
            "schemas": [USER],
            "userName": "roles@example.com",
            "roles": [
                {"value": "admin", "display": "Administrator", "type": "Entitlement", "primary": false},
                {"value": "auditor"}
            ]
        }),
    )
    .await;
    let id = created["id"].as_str().expect("id");
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(values(&got["roles"]), set(&["admin", "auditor"]), "{got}");
    let admin = got["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["value"] == "admin")
        .expect("admin role");
    assert_eq!(admin["display"], "Administrator");
    assert_eq!(admin["type"], "Entitlement");
}

on_both_stores!(sailpoint_roles_add_and_remove);
/// SailPoint's PATCH add/remove on `roles` and `roles[value eq "x"]`, and Okta's
/// remove by value list.
async fn sailpoint_roles_add_and_remove() {
    let s = Server::start().await;
    let id = s.create_user("sp.roles@example.com").await;
    patch_user(
        &s,
        &id,
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "roles", "value": [{"value": "admin", "display": "Administrator"}]}]
        }),
    )
    .await;
    assert_eq!(
        values(&get_ok(&s, &format!("/Users/{id}")).await["roles"]),
        set(&["admin"])
    );

    patch_user(
        &s,
        &id,
        &patch_op(
            json!([{"op": "add", "path": "roles", "value": [{"value": "auditor"}, {"value": "developer"}]}]),
        ),
    )
    .await;
    assert_eq!(
        values(&get_ok(&s, &format!("/Users/{id}")).await["roles"]),
        set(&["admin", "auditor", "developer"])
    );

    // Adding a present role again does not duplicate it.
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "add", "path": "roles", "value": [{"value": "auditor"}]}])),
    )
    .await;
    let got = get_ok(&s, &format!("/Users/{id}")).await;
    assert_eq!(got["roles"].as_array().map(Vec::len), Some(3), "{got}");

    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "remove", "path": "roles[value eq \"admin\"]"}])),
    )
    .await;
    assert_eq!(
        values(&get_ok(&s, &format!("/Users/{id}")).await["roles"]),
        set(&["auditor", "developer"])
    );

    // Okta removes with a value list.
    patch_user(
        &s,
        &id,
        &patch_op(json!([{"op": "remove", "path": "roles", "value": [{"value": "auditor"}]}])),
    )
    .await;
    assert_eq!(
        values(&get_ok(&s, &format!("/Users/{id}")).await["roles"]),
        set(&["developer"])
    );
}
