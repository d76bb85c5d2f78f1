//! The `detail` of a 4xx says what to change on the IdP's side (issue 14; the table is
//! docs/troubleshooting.md): the typical mapping and connector mistakes, each sent as the IdP
//! sends it, answered with the fact and the hint, and kept so in the provisioning log.

use reqwest::Method;
use scim_blackbox::urn::{GROUP, USER};
use scim_blackbox::{okta_user, on_both_stores, patch_op, Reply, Server};
use scim_proto::hint;
use serde_json::{json, Value};

/// The detail of an error reply with this status and `scimType`.
#[track_caller]
fn detail(reply: &Reply, status: u16, scim_type: Option<&str>) -> String {
    reply.assert_error(status, scim_type);
    reply.body["detail"].as_str().unwrap_or_default().to_string()
}

/// The tenant's failed requests as the provisioning log keeps them, newest first.
async fn logged_errors(s: &Server) -> Vec<Value> {
    s.log_records("default", "errors=true").await
}

async fn user_count(s: &Server) -> u64 {
    s.get("/Users").await.assert_status(200)["totalResults"]
        .as_u64()
        .unwrap_or_default()
}

on_both_stores!(missing_user_name_names_each_idps_source);
/// Okta's create with no `userName` (its mapping of `user.login` removed): the detail names what
/// to map, and the provisioning log keeps the same detail for the operator.
async fn missing_user_name_names_each_idps_source() {
    let s = Server::start().await;
    let mut user = okta_user("dade@example.com");
    if let Some(fields) = user.as_object_mut() {
        fields.remove("userName");
    }
    let reply = s.post("/Users", &user).await;
    let detail = detail(&reply, 400, Some("invalidValue"));
    assert!(
        detail.starts_with("'userName' is required for User resources; "),
        "{detail}"
    );
    assert!(detail.ends_with(&hint::required("User", "userName")), "{detail}");
    for source in ["user.login (Okta)", "userPrincipalName (Entra)", "(SailPoint)"] {
        assert!(detail.contains(source), "{detail} lacks {source}");
    }
    assert_eq!(user_count(&s).await, 0, "nothing written");

    let records = logged_errors(&s).await;
    let record = records.first().expect("the failed create is logged");
    assert_eq!(record["status"], 400);
    assert_eq!(record["scim_type"], "invalidValue");
    assert_eq!(record["detail"], detail.as_str());
}

on_both_stores!(okta_create_of_a_taken_user_name_says_to_look_up_by_it);
/// Two Okta people whose `user.login` maps to the same `userName`: Okta's second create is a 409
/// `uniqueness` that says how to make the IdP find the user instead.
async fn okta_create_of_a_taken_user_name_says_to_look_up_by_it() {
    let s = Server::start().await;
    s.post("/Users", &okta_user("dade@example.com"))
        .await
        .assert_status(201);
    let mut second = okta_user("DADE@example.com");
    second["externalId"] = json!("00ujl29u0le5T6Aj10h8");
    let reply = s.post("/Users", &second).await;
    let detail = detail(&reply, 409, Some("uniqueness"));
    assert_eq!(
        detail,
        format!(
            "userName is already in use by another resource; {}",
            hint::taken("userName")
        )
    );
    assert!(detail.contains("Unique identifier field for users"), "{detail}");
    assert_eq!(user_count(&s).await, 1, "the second create wrote nothing");
}

on_both_stores!(unknown_member_says_to_provision_it_first);
/// A membership for a user the IdP never provisioned (Entra: not in scope), in Okta's PATCH and in
/// a group create with members: 400 `invalidValue` naming the member and what to do, nothing
/// written.
async fn unknown_member_says_to_provision_it_first() {
    let s = Server::start().await;
    let member = s.create_user("ann@example.com").await;
    let group = s.create_group("Staff", &[&member]).await;
    let missing = "2819c223-7f76-453a-919d-413861904646";
    let want = format!("member '{missing}' does not exist; {}", hint::UNKNOWN_MEMBER);

    let add = patch_op(json!([{"op": "add", "path": "members", "value": [{"value": missing}]}]));
    let reply = s.patch(&format!("/Groups/{group}"), &add).await;
    assert_eq!(detail(&reply, 400, Some("invalidValue")), want);

    let create = json!({"schemas": [GROUP], "displayName": "Ops", "members": [{"value": missing}]});
    let reply = s.post("/Groups", &create).await;
    assert_eq!(detail(&reply, 400, Some("invalidValue")), want);

    let groups = s.get("/Groups").await;
    assert_eq!(
        groups.assert_status(200)["totalResults"],
        1,
        "Ops was not created"
    );
    let staff = s.get(&format!("/Groups/{group}")).await;
    assert_eq!(
        staff.assert_status(200)["members"].as_array().map(Vec::len),
        Some(1)
    );
}

/// A lookup on an attribute the schema lacks (Okta's Unique identifier field set to a profile
/// field): 400 `invalidFilter` naming what IdPs look users and groups up by.
#[tokio::test]
async fn filter_on_an_unknown_attribute_names_the_lookup_attributes() {
    let s = Server::start().await;
    let reply = s.get("/Users?filter=login%20eq%20%22dade%40example.com%22").await;
    let users = detail(&reply, 400, Some("invalidFilter"));
    assert_eq!(
        users,
        format!(
            "unknown attribute in filter: 'login' is not an attribute of User resources; {}",
            hint::unknown_filter_attribute("User")
        )
    );
    assert!(users.contains("look users up by userName"), "{users}");

    let reply = s.get("/Groups?filter=name%20eq%20%22Staff%22").await;
    let groups = detail(&reply, 400, Some("invalidFilter"));
    assert!(
        groups.ends_with("Okta and Entra look groups up by displayName"),
        "{groups}"
    );
}

/// A PATCH from a mapping whose target is not in the schema, and one that writes `groups`: the
/// detail points at the attribute mapping. The user is unchanged.
#[tokio::test]
async fn patch_targets_outside_the_schema_point_at_the_mapping() {
    let s = Server::start().await;
    let id = s.create_user("ann@example.com").await;
    let path = format!("/Users/{id}");

    let custom = "urn:ietf:params:scim:schemas:extension:CustomExtension:2.0:User:costCenter";
    let op = patch_op(json!([{"op": "Add", "path": custom, "value": "4130"}]));
    let unknown = detail(&s.patch(&path, &op).await, 400, Some("invalidPath"));
    assert!(unknown.ends_with(&hint::unknown_attribute("User")), "{unknown}");

    let op = patch_op(json!([{"op": "add", "path": "groups", "value": [{"value": "x"}]}]));
    let read_only = detail(&s.patch(&path, &op).await, 400, Some("mutability"));
    assert!(read_only.ends_with(&hint::read_only("groups")), "{read_only}");

    let user = s.get(&path).await;
    assert_eq!(user.assert_status(200)["meta"]["version"], "W/\"1\"");
}

/// What no mapping causes says so, and what a connector setting causes names the setting: a body
/// that is not JSON, a base URL without /scim/v2, a stale If-Match.
#[tokio::test]
async fn client_faults_and_connector_settings_are_told_apart() {
    let s = Server::start().await;
    let bearer = s.bearer();
    let reply = s
        .send(|client, base| {
            client
                .post(format!("{base}/Users"))
                .header("Authorization", bearer.as_str())
                .header("Content-Type", "application/scim+json")
                .body("{\"userName\": ")
        })
        .await;
    let malformed = detail(&reply, 400, Some("invalidSyntax"));
    assert!(malformed.ends_with(hint::CLIENT_FAULT), "{malformed}");

    let reply = s
        .send(|client, base| {
            client
                .get(format!("{}/Users", base.trim_end_matches("/scim/v2")))
                .header("Authorization", bearer.as_str())
        })
        .await;
    let no_endpoint = detail(&reply, 404, None);
    assert_eq!(
        no_endpoint,
        format!("no SCIM endpoint at this path; {}", hint::BASE_URL)
    );

    let id = s.create_user("ann@example.com").await;
    let body = json!({"schemas": [USER], "userName": "ann@example.com", "title": "Engineer"});
    let reply = s
        .send(|client, base| {
            client
                .request(Method::PUT, format!("{base}/Users/{id}"))
                .header("Authorization", bearer.as_str())
                .header("Content-Type", "application/scim+json")
                .header("If-Match", "W/\"7\"")
                .body(body.to_string())
        })
        .await;
    let stale = detail(&reply, 412, None);
    assert!(stale.ends_with(hint::STALE_VERSION), "{stale}");
}

/// A body that is not JSON is answered with where parsing stopped, said once.
#[tokio::test]
async fn a_json_syntax_error_names_its_position_once() {
    let s = Server::start().await;
    let bearer = s.bearer();
    let reply = s
        .send(|client, base| {
            client
                .post(format!("{base}/Users"))
                .header("authorization", bearer)
                .header("content-type", "application/scim+json")
                .body("{\"userName\": \"a\",\n \"active\": tru}")
        })
        .await;
    let detail = detail(&reply, 400, Some("invalidSyntax"));
    assert!(detail.contains("line 2 column"), "{detail}");
    assert_eq!(detail.matches("line").count(), 1, "{detail}");
    assert_eq!(detail.matches("column").count(), 1, "{detail}");
}
