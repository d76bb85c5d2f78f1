//! Effective groups and roles (docs/lifecycle.md, "Groups and application roles" and "Nested
//! groups"): the access extension of User, computed only when a request names it, over a real
//! listener, on both stores.

use scim_blackbox::patch_op;
use scim_blackbox::urn::{ACCESS, GROUP, USER};
use scim_blackbox::{on_both_stores, Reply, Server};
use scim_store::nesting::{MAX_GROUP_ANCESTORS, MAX_GROUP_NESTING_DEPTH};
use scim_store::{TenantSettings, EFFECTIVE_GROUP_DEPTH};
use serde_json::{json, Value};

/// Sets tenant `default`'s `group_roles` through the server's store (scimctl's way).
async fn map_roles(s: &Server, assignments: &[&str]) {
    let mut settings = TenantSettings::default();
    for a in assignments {
        settings.assign(a).expect("a valid assignment");
    }
    s.put_settings(&settings).await;
}

async fn group(s: &Server, name: &str, external_id: Option<&str>, members: &[&str]) -> String {
    let mut body = json!({
        "schemas": [GROUP],
        "displayName": name,
        "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>(),
    });
    if let Some(x) = external_id {
        body["externalId"] = json!(x);
    }
    let r = s.post("/Groups", &body).await;
    r.assert_status(201)["id"].as_str().expect("id").to_string()
}

async fn members(s: &Server, group: &str, op: &str, member: &str) -> Reply {
    let path = match op {
        "remove" => format!("members[value eq \"{member}\"]"),
        _ => "members".to_string(),
    };
    let mut operation = json!({"op": op, "path": path});
    if op == "add" {
        operation["value"] = json!([{"value": member}]);
    }
    s.patch(&format!("/Groups/{group}"), &patch_op(json!([operation])))
        .await
}

fn roles(user: &Value) -> Value {
    user[ACCESS]["effectiveRoles"].clone()
}

/// `(id, type)` of each effective group.
fn groups(user: &Value) -> Vec<(String, String)> {
    user[ACCESS]["effectiveGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            (
                g["value"].as_str().unwrap_or_default().to_string(),
                g["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn schemas(user: &Value) -> Vec<&str> {
    user["schemas"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

on_both_stores!(effective_roles_follow_nested_groups);
async fn effective_roles_follow_nested_groups() {
    let s = Server::start().await;
    // readOnly input (RFC 7643 §2.2) is ignored: a client cannot grant itself roles.
    let created = s
        .post(
            "/Users",
            &json!({
                "schemas": [USER, ACCESS],
                "userName": "alice",
                "roles": [{"value": "own-role"}],
                ACCESS: {"effectiveRoles": ["injected"], "effectiveGroups": [{"value": "x"}]}
            }),
        )
        .await;
    let alice = created.assert_status(201)["id"].as_str().expect("id").to_string();
    assert!(created.body.get(ACCESS).is_none(), "{}", created.text);
    let bob = s.create_user("bob").await;

    // alice ∈ A ⊂ B ⊂ C: B and C are two levels above alice's direct group.
    let a = group(&s, "Team A", None, &[&alice]).await;
    let b = group(&s, "Engineering", None, &[&a]).await;
    let c = group(&s, "Company", Some("okta-00gC"), &[&b]).await;
    map_roles(
        &s,
        &[
            "group_roles.ENGINEERING=developer,deployer",
            "group_roles.okta-00gC=employee",
            // externalId compares exactly; displayName ignoring case.
            "group_roles.OKTA-00GC=never",
            "group_roles.Unrelated=never",
        ],
    )
    .await;

    let asked = format!("/Users/{alice}?attributes={ACCESS}:effectiveRoles");
    let r = s.get(&asked).await;
    let body = r.assert_status(200);
    assert_eq!(
        roles(body),
        json!(["deployer", "developer", "employee", "own-role"])
    );
    assert!(body[ACCESS].get("effectiveGroups").is_none(), "{}", r.text);
    assert!(body.get("userName").is_none(), "{}", r.text);
    assert_eq!(body["id"], alice.as_str());
    assert!(schemas(body).contains(&ACCESS), "{}", r.text);

    // The whole extension, its URN in another case: groups too, with their membership type.
    let r = s
        .get(&format!("/Users/{alice}?attributes={}", ACCESS.to_uppercase()))
        .await;
    let body = r.assert_status(200);
    assert_eq!(
        groups(body),
        [
            (a.clone(), "direct".to_string()),
            (b.clone(), "indirect".to_string()),
            (c.clone(), "indirect".to_string()),
        ]
    );
    assert_eq!(body[ACCESS]["effectiveGroups"][1]["display"], "Engineering");
    assert_eq!(
        roles(body),
        json!(["deployer", "developer", "employee", "own-role"])
    );

    // Beside the default attributes.
    let r = s
        .get(&format!(
            "/Users/{alice}?attributes=userName,groups,{ACCESS}:effectiveRoles"
        ))
        .await;
    let body = r.assert_status(200);
    assert_eq!(body["userName"], "alice");
    assert_eq!(body["groups"][0]["value"], a.as_str());
    assert_eq!(roles(body)[0], "deployer");

    // `returned: request`: a plain GET, or one excluding it, does not carry it.
    for path in [
        format!("/Users/{alice}"),
        format!("/Users/{alice}?excludedAttributes=emails"),
        format!("/Users/{alice}?attributes={ACCESS}&excludedAttributes={ACCESS}"),
    ] {
        let r = s.get(&path).await;
        let body = r.assert_status(200);
        assert!(body.get(ACCESS).is_none(), "{path}: {}", r.text);
        assert!(!schemas(body).contains(&ACCESS), "{path}: {}", r.text);
    }

    // Lists and .search compute it per resource when asked; bob has none.
    let r = s
        .get(&format!(
            "/Users?filter=userName%20eq%20%22alice%22&attributes={ACCESS}:effectiveRoles"
        ))
        .await;
    assert_eq!(
        roles(&r.assert_status(200)["Resources"][0]),
        json!(["deployer", "developer", "employee", "own-role"])
    );
    let r = s
        .post(
            "/Users/.search",
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "attributes": ["userName", ACCESS],
            }),
        )
        .await;
    let listed = r.assert_status(200)["Resources"]
        .as_array()
        .expect("Resources")
        .clone();
    let by_id = |id: &str| listed.iter().find(|u| u["id"] == id).cloned().unwrap_or_default();
    assert_eq!(groups(&by_id(&alice)).len(), 3, "{}", r.text);
    assert!(by_id(&bob).get(ACCESS).is_none(), "{}", r.text);
    assert_eq!(by_id(&bob)["userName"], "bob");
    let r = s.get("/Users").await;
    assert!(
        r.assert_status(200)["Resources"]
            .as_array()
            .expect("Resources")
            .iter()
            .all(|u| u.get(ACCESS).is_none()),
        "{}",
        r.text
    );

    // A cycle: A gets C, which already contains A through B.
    let r = members(&s, &a, "add", &c).await;
    r.assert_error(400, Some("invalidValue"));
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("cycle") && detail.contains(&a) && detail.contains(&c),
        "{detail}"
    );

    // Taking A out of B takes B's and C's roles away at once.
    members(&s, &b, "remove", &a).await.assert_status(204);
    let r = s.get(&format!("/Users/{alice}?attributes={ACCESS}")).await;
    let body = r.assert_status(200);
    assert_eq!(roles(body), json!(["own-role"]));
    assert_eq!(groups(body), [(a.clone(), "direct".to_string())]);

    // A PATCH of the user answers with it when asked, and still ignores input for it.
    let r = s
        .patch(
            &format!("/Users/{alice}?attributes={ACCESS}:effectiveRoles"),
            &patch_op(json!([
                {"op": "add", "path": "roles", "value": [{"value": "extra"}]}])),
        )
        .await;
    assert_eq!(roles(r.assert_status(200)), json!(["extra", "own-role"]));
}

on_both_stores!(discovery_declares_the_extension);
/// Nested groups and effective roles are advertised where any SCIM client reads them: the access
/// extension's own schema (listed in `/Schemas` and as an optional extension of User) and the
/// Group schema's `members`, with the bounds the stores enforce (not ServiceProviderConfig:
/// `protocol.rs` `service_provider_config_holds_only_core_attributes`).
async fn discovery_declares_the_extension() {
    let s = Server::start().await;
    let r = s.get("/Schemas").await;
    let listed = r.assert_status(200)["Resources"]
        .as_array()
        .expect("Resources")
        .clone();
    let schema = listed
        .iter()
        .find(|x| x["id"] == ACCESS)
        .unwrap_or_else(|| panic!("{ACCESS} missing: {}", r.text));
    let levels = format!("up to {EFFECTIVE_GROUP_DEPTH} levels");
    let describes = |text: &Value, words: &[&str]| {
        let text = text.as_str().unwrap_or_default();
        for w in words {
            assert!(text.contains(w), "{w:?} not in {text:?}");
        }
    };
    describes(&schema["description"], &["nested groups", "roles", &levels]);
    for (name, words) in [
        ("effectiveRoles", ["nested groups", "group_roles", &levels]),
        ("effectiveGroups", ["nested groups", "directly", &levels]),
    ] {
        let a = schema["attributes"]
            .as_array()
            .and_then(|attrs| attrs.iter().find(|a| a["name"] == name))
            .unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(a["multiValued"], true, "{name}");
        assert_eq!(a["mutability"], "readOnly", "{name}");
        assert_eq!(a["returned"], "request", "{name}");
        describes(&a["description"], &words);
    }
    let one = s.get(&format!("/Schemas/{ACCESS}")).await;
    assert_eq!(one.assert_status(200)["id"], ACCESS);

    let group = s.get(&format!("/Schemas/{GROUP}")).await;
    let members = group.assert_status(200)["attributes"]
        .as_array()
        .and_then(|attrs| attrs.iter().find(|a| a["name"] == "members"))
        .expect("members")
        .clone();
    describes(
        &members["description"],
        &[
            "nested groups",
            &format!("more than {MAX_GROUP_NESTING_DEPTH} levels deep"),
            &format!("more than {} groups", thousands(MAX_GROUP_ANCESTORS)),
            ACCESS,
        ],
    );

    let r = s.get("/ResourceTypes/User").await;
    let extensions = r.assert_status(200)["schemaExtensions"]
        .as_array()
        .expect("schemaExtensions")
        .clone();
    assert!(
        extensions.contains(&json!({"schema": ACCESS, "required": false})),
        "{}",
        r.text
    );
}

/// `1000` as the descriptions write it, `1,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
