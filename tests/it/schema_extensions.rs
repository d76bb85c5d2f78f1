//! Schema extensions of the operator's choosing (`SCIM_SCHEMA_EXTENSIONS`), with the sample files
//! in `tests/fixtures`: discovery, the payloads Entra and Okta send for custom attributes,
//! validation, mutability and `returned`, filters, projection and a required extension, on both
//! stores. Every write is checked with a GET afterwards. (A bad file stopping the start is
//! crates/scim-lambda/tests/it/schema_extensions.rs: it runs the binary.)
// Tests may unwrap (`allow-unwrap-in-tests` misses them: `on_both_stores!` runs plain functions).
#![allow(clippy::unwrap_used)]

use scim_blackbox::urn::{GROUP, USER};
use scim_blackbox::{on_both_stores, patch_op, Server};
use serde_json::{json, Value};

const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
const ACME_GROUP: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:Group";
const HR: &str = "urn:ietf:params:scim:schemas:extension:hr:2.0:User";
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/schema-extensions.json");
const REQUIRED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/schema-extensions-required.json"
);

async fn server() -> Server {
    Server::start_with(&[("SCIM_SCHEMA_EXTENSIONS", SAMPLE)]).await
}

fn query(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `path` of the sample User extension: `urn:...:acme:2.0:User:<attr>`.
fn acme(attr: &str) -> String {
    format!("{ACME}:{attr}")
}

async fn get_user(s: &Server, id: &str) -> Value {
    s.get(&format!("/Users/{id}")).await.assert_status(200).clone()
}

/// The ids a filter finds among users.
async fn found(s: &Server, filter: &str) -> Vec<String> {
    let r = s.get(&format!("/Users?filter={}", query(filter))).await;
    r.assert_status(200)["Resources"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|u| u["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

on_both_stores!(discovery_lists_the_extensions);
async fn discovery_lists_the_extensions() {
    let s = server().await;
    let schemas = s.get("/Schemas").await;
    let ids: Vec<&str> = schemas.assert_status(200)["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(ids.contains(&ACME) && ids.contains(&ACME_GROUP), "{ids:?}");
    let acme = s.get(&format!("/Schemas/{ACME}")).await;
    let acme = acme.assert_status(200);
    assert_eq!(acme["name"], "AcmeUser");
    let badge = acme["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "badgeType")
        .unwrap();
    assert_eq!(badge["canonicalValues"], json!(["employee", "contractor"]));
    // Characteristics left out of the file are served with their RFC 7643 §2.2 defaults.
    assert_eq!(
        (&badge["mutability"], &badge["returned"], &badge["caseExact"]),
        (&json!("readWrite"), &json!("default"), &json!(false))
    );
    let user = s.get("/ResourceTypes/User").await;
    assert!(
        user.assert_status(200)["schemaExtensions"]
            .as_array()
            .unwrap()
            .contains(&json!({"schema": ACME, "required": false})),
        "{}",
        user.text
    );
    let group = s.get("/ResourceTypes/Group").await;
    assert_eq!(
        group.assert_status(200)["schemaExtensions"],
        json!([{"schema": ACME_GROUP, "required": false}])
    );
}

on_both_stores!(entra_custom_attributes);
/// Entra maps a directory extension to `urn:...:acme:2.0:User:<attr>`: the POST nests it under
/// the URN (strings for booleans and numbers, as Entra sends them), PATCH names it by URN path,
/// and `aadOptscim062020` sends pathless values keyed by the URN path.
async fn entra_custom_attributes() {
    let s = server().await;
    let created = s
        .post(
            "/Users",
            &json!({
                "schemas": [USER, ACME],
                "externalId": "e-1",
                "userName": "ryan@contoso.com",
                "active": "True",
                ACME: {"costCenter": "CC-42", "remote": "True", "clearanceLevel": "3"}
            }),
        )
        .await;
    let id = created.assert_status(201)["id"].as_str().unwrap().to_string();
    let got = get_user(&s, &id).await;
    assert_eq!(got["schemas"], json!([USER, ACME]));
    assert_eq!(
        got[ACME],
        json!({"costCenter": "CC-42", "remote": true, "clearanceLevel": 3})
    );

    // The extension's URN left out of `schemas` (Entra has done so on create): the object counts.
    let bare = s
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "bare@contoso.com", ACME: {"costCenter": "CC-1"}}),
        )
        .await;
    assert_eq!(bare.assert_status(201)["schemas"], json!([USER, ACME]));
    assert_eq!(bare.body[ACME]["costCenter"], "CC-1");

    let patched = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                {"op": "Add", "path": acme("badgeType"), "value": "Employee"},
                {"op": "Replace", "path": acme("costCenter"), "value": "CC-7"},
                {"op": "Replace", "path": acme("remote"), "value": "False"},
                {"op": "Add", "path": acme("skills"), "value": ["rust", "go"]},
                {"op": "Replace", "path": acme("badge.site"), "value": "HQ"}
            ])),
        )
        .await;
    patched.assert_status(200);
    let got = get_user(&s, &id).await;
    assert_eq!(got[ACME]["badgeType"], "employee", "canonical spelling: {got}");
    assert_eq!(got[ACME]["costCenter"], "CC-7");
    assert_eq!(got[ACME]["remote"], false);
    assert_eq!(got[ACME]["skills"], json!(["rust", "go"]));
    assert_eq!(got[ACME]["badge"], json!({"site": "HQ"}));
    // A value filter selects values of a complex attribute only, in an extension as in the core
    // schema: a clear 400, nothing changed.
    s.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([{"op": "Remove", "path": format!("{}[value eq \"go\"]", acme("skills"))}])),
    )
    .await
    .assert_error(400, Some("invalidPath"));
    assert_eq!(get_user(&s, &id).await[ACME]["skills"], json!(["rust", "go"]));

    // Pathless Replace keyed by the URN path, and by the URN with an object.
    s.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([
            {"op": "Replace", "value": {acme("costCenter"): "CC-8", "displayName": "Ryan"}},
            {"op": "Replace", "value": {ACME: {"clearanceLevel": 4}}}
        ])),
    )
    .await
    .assert_status(200);
    let got = get_user(&s, &id).await;
    assert_eq!(got[ACME]["costCenter"], "CC-8", "{got}");
    assert_eq!(got[ACME]["clearanceLevel"], 4, "{got}");
    assert_eq!(
        got[ACME]["badgeType"], "employee",
        "other attributes are kept: {got}"
    );
    assert_eq!(got["displayName"], "Ryan");
    assert!(got.get(acme("costCenter").as_str()).is_none(), "{got}");

    // Remove by URN path; the last attribute gone takes the extension's URN out of `schemas`.
    let remove: Vec<Value> = [
        "costCenter",
        "clearanceLevel",
        "badgeType",
        "skills",
        "badge",
        "remote",
    ]
    .iter()
    .map(|a| json!({"op": "Remove", "path": acme(a)}))
    .collect();
    s.patch(&format!("/Users/{id}"), &patch_op(Value::Array(remove)))
        .await
        .assert_status(200);
    let got = get_user(&s, &id).await;
    assert!(got.get(ACME).is_none(), "{got}");
    assert_eq!(got["schemas"], json!([USER]));
}

on_both_stores!(okta_custom_attributes);
/// Okta sends a custom attribute with an external namespace as the extension object keyed by the
/// URN: in POST, in PUT (the whole user) and in PATCH `replace` values.
async fn okta_custom_attributes() {
    let s = server().await;
    let mut user = scim_blackbox::okta_user("dade@example.com");
    user["schemas"] = json!([USER, ACME]);
    user[ACME] = json!({"costCenter": "Sales-1", "badge": {"site": "Berlin", "number": 7}});
    let created = s.post("/Users", &user).await;
    let id = created.assert_status(201)["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.body[ACME]["badge"],
        json!({"site": "Berlin", "number": 7})
    );

    user[ACME] = json!({"costCenter": "Sales-2", "skills": ["sql"]});
    s.put(&format!("/Users/{id}"), &user).await.assert_status(200);
    let got = get_user(&s, &id).await;
    assert_eq!(
        got[ACME],
        json!({"costCenter": "Sales-2", "skills": ["sql"]}),
        "PUT replaces the extension: {got}"
    );

    s.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([{"op": "replace", "value": {"active": false, ACME: {"costCenter": "Sales-3"}}}])),
    )
    .await
    .assert_status(200);
    let got = get_user(&s, &id).await;
    assert_eq!(got[ACME], json!({"costCenter": "Sales-3", "skills": ["sql"]}));
    assert_eq!(got["active"], false);
}

on_both_stores!(invalid_extension_values_are_refused_naming_the_attribute);
async fn invalid_extension_values_are_refused_naming_the_attribute() {
    let s = server().await;
    let cases = [
        (json!({"clearanceLevel": "three"}), "clearanceLevel"),
        (json!({"remote": "maybe"}), "remote"),
        (
            json!({"badgeType": "visitor"}),
            "'badgeType' must be one of \"employee\", \"contractor\"",
        ),
        (json!({"skills": [1, 2]}), "skills"),
        (json!({"costCenter": {"x": 1}}), "costCenter"),
        (json!({"badge": {"number": 7}}), "badge.site"),
        (json!({"badge": {"site": "HQ", "number": "x"}}), "badge.number"),
    ];
    for (ext, named) in &cases {
        let r = s
            .post(
                "/Users",
                &json!({"schemas": [USER, ACME], "userName": "bad@example.com", ACME: ext}),
            )
            .await;
        r.assert_error(400, Some("invalidValue"));
        assert!(
            r.body["detail"].as_str().unwrap().contains(named),
            "{ext}: {}",
            r.text
        );
    }
    assert_eq!(found(&s, "userName eq \"bad@example.com\"").await.len(), 0);

    // A PATCH with one bad operation changes nothing.
    let id = s.create_user("ok@example.com").await;
    let before = get_user(&s, &id).await;
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([
                {"op": "add", "path": acme("costCenter"), "value": "CC-1"},
                {"op": "add", "path": acme("clearanceLevel"), "value": "high"}
            ])),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.text.contains("clearanceLevel"), "{}", r.text);
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "add", "path": acme("nope"), "value": "x"}])),
        )
        .await;
    r.assert_error(400, Some("invalidPath"));
    assert_eq!(get_user(&s, &id).await, before);
}

on_both_stores!(mutability_and_returned_follow_the_file);
async fn mutability_and_returned_follow_the_file() {
    let s = server().await;
    let body = json!({
        "schemas": [USER, ACME],
        "userName": "m@example.com",
        ACME: {
            "employeeKey": "K-1",
            "hrStatus": "set by the client",
            "doorPin": "1234",
            "privateNote": "only when asked",
            "region": "EU"
        }
    });
    let created = s.post("/Users", &body).await;
    let id = created.assert_status(201)["id"].as_str().unwrap().to_string();
    // readOnly input is ignored; writeOnly is never returned; `returned: request` comes back
    // from the write that set it (RFC 7643 §7), and from a GET only when asked for.
    assert_eq!(
        created.body[ACME],
        json!({"employeeKey": "K-1", "privateNote": "only when asked", "region": "EU"}),
        "{}",
        created.text
    );
    let got = get_user(&s, &id).await;
    assert_eq!(got[ACME], json!({"employeeKey": "K-1", "region": "EU"}), "{got}");
    // A PATCH shows it when it sets it, in either path form, and not otherwise.
    let other = s
        .post(
            "/Users",
            &json!({"schemas": [USER, ACME], "userName": "m3@example.com", ACME: {"region": "EU"}}),
        )
        .await;
    let other = other.assert_status(201)["id"].as_str().unwrap().to_string();
    for (ops, shown) in [
        (
            json!([{"op": "replace", "path": acme("privateNote"), "value": "n2"}]),
            Some("n2"),
        ),
        (
            json!([{"op": "replace", "value": {ACME: {"privateNote": "n3"}}}]),
            Some("n3"),
        ),
        (
            json!([{"op": "Replace", "value": {acme("privateNote"): "n4"}}]),
            Some("n4"),
        ),
        (
            json!([{"op": "replace", "path": acme("region"), "value": "US"}]),
            None,
        ),
    ] {
        let patched = s.patch(&format!("/Users/{other}"), &patch_op(ops.clone())).await;
        let body = patched.assert_status(200);
        assert_eq!(
            body[ACME].get("privateNote").and_then(Value::as_str),
            shown,
            "{ops}: {}",
            patched.text
        );
    }
    // Unless the write's own excludedAttributes leaves it out.
    let excluded = s
        .post(
            &format!("/Users?excludedAttributes={}", query(&acme("privateNote"))),
            &json!({"schemas": [USER, ACME], "userName": "m2@example.com", ACME: {"privateNote": "x"}}),
        )
        .await;
    assert!(
        excluded.assert_status(201)[ACME].get("privateNote").is_none(),
        "{}",
        excluded.text
    );
    let asked = s
        .get(&format!(
            "/Users/{id}?attributes={}",
            query(&format!("{},{}", acme("privateNote"), acme("doorPin")))
        ))
        .await;
    assert_eq!(
        asked.assert_status(200)[ACME],
        json!({"privateNote": "only when asked", "region": "EU"}),
        "`returned: always` comes too, `never` does not: {}",
        asked.text
    );
    let stored = s.stored_user(&id).await;
    let pin = stored.attrs[ACME]["doorPin"].as_str().unwrap();
    assert!(
        pin.starts_with("$argon2id$"),
        "a writeOnly value is kept as a hash: {pin}"
    );

    // immutable: the same value again is fine, another one is refused, by PUT and PATCH.
    let mut put = body.clone();
    s.put(&format!("/Users/{id}"), &put).await.assert_status(200);
    put[ACME]["employeeKey"] = json!("K-2");
    s.put(&format!("/Users/{id}"), &put)
        .await
        .assert_error(400, Some("mutability"));
    s.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([{"op": "replace", "path": acme("employeeKey"), "value": "K-3"}])),
    )
    .await
    .assert_error(400, Some("mutability"));
    assert_eq!(get_user(&s, &id).await[ACME]["employeeKey"], "K-1");
}

on_both_stores!(filters_on_extension_attributes);
async fn filters_on_extension_attributes() {
    let s = server().await;
    let mut ids = Vec::new();
    for (name, ext) in [
        (
            "a@example.com",
            json!({"costCenter": "CC-42", "employeeKey": "K-1", "clearanceLevel": 3, "remote": true,
                   "skills": ["rust"], "badge": {"site": "HQ"}}),
        ),
        (
            "b@example.com",
            json!({"costCenter": "cc-7", "employeeKey": "k-1", "clearanceLevel": 1, "remote": false}),
        ),
    ] {
        let r = s
            .post(
                "/Users",
                &json!({"schemas": [USER, ACME], "userName": name, ACME: ext}),
            )
            .await;
        ids.push(r.assert_status(201)["id"].as_str().unwrap().to_string());
    }
    let (a, b) = (vec![ids[0].clone()], vec![ids[1].clone()]);
    assert_eq!(
        found(&s, &format!("{} eq \"CC-42\"", acme("costCenter"))).await,
        a
    );
    // caseExact false: any case matches.
    assert_eq!(
        found(&s, &format!("{} eq \"cc-42\"", acme("costCenter"))).await,
        a
    );
    assert_eq!(found(&s, &format!("{} sw \"CC-7\"", acme("CostCenter"))).await, b);
    // caseExact true: only the exact spelling.
    assert_eq!(found(&s, &format!("{} eq \"k-1\"", acme("employeeKey"))).await, b);
    assert_eq!(found(&s, &format!("{} gt 2", acme("clearanceLevel"))).await, a);
    assert_eq!(found(&s, &format!("{} eq false", acme("remote"))).await, b);
    assert_eq!(found(&s, &format!("{} eq \"rust\"", acme("skills"))).await, a);
    assert_eq!(found(&s, &format!("{} eq \"HQ\"", acme("badge.site"))).await, a);
    assert_eq!(found(&s, &format!("{} pr", acme("badge"))).await, a);
    assert_eq!(
        found(
            &s,
            &format!(
                "userName eq \"b@example.com\" and {} lt 2",
                acme("clearanceLevel")
            )
        )
        .await,
        b
    );
    let r = s
        .get(&format!(
            "/Users?filter={}",
            query(&format!("{} eq 1", acme("nope")))
        ))
        .await;
    r.assert_error(400, Some("invalidFilter"));
}

on_both_stores!(projection_with_urn_paths);
async fn projection_with_urn_paths() {
    let s = server().await;
    let r = s
        .post(
            "/Users",
            &json!({"schemas": [USER, ACME], "userName": "p@example.com", "title": "Dr",
                    ACME: {"costCenter": "CC-1", "badgeType": "contractor", "region": "EU"}}),
        )
        .await;
    let id = r.assert_status(201)["id"].as_str().unwrap().to_string();
    let only = s
        .get(&format!("/Users/{id}?attributes={}", query(&acme("costCenter"))))
        .await;
    let only = only.assert_status(200);
    assert_eq!(
        only[ACME],
        json!({"costCenter": "CC-1", "region": "EU"}),
        "{only}"
    );
    assert!(only.get("title").is_none() && only["id"].is_string(), "{only}");
    let without = s
        .get(&format!(
            "/Users/{id}?excludedAttributes={}",
            query(&acme("costCenter"))
        ))
        .await;
    let without = without.assert_status(200);
    assert_eq!(
        without[ACME],
        json!({"badgeType": "contractor", "region": "EU"}),
        "{without}"
    );
    assert_eq!(without["title"], "Dr");
    let listed = s
        .get(&format!(
            "/Users?filter={}&attributes={}",
            query("userName eq \"p@example.com\""),
            query(&acme("badgeType"))
        ))
        .await;
    assert_eq!(
        listed.assert_status(200)["Resources"][0][ACME],
        json!({"badgeType": "contractor", "region": "EU"}),
        "{}",
        listed.text
    );
}

on_both_stores!(group_extension);
async fn group_extension() {
    let s = server().await;
    let r = s
        .post(
            "/Groups",
            &json!({"schemas": [GROUP, ACME_GROUP], "displayName": "Ops", ACME_GROUP: {"site": "HQ"}}),
        )
        .await;
    let id = r.assert_status(201)["id"].as_str().unwrap().to_string();
    s.patch(
        &format!("/Groups/{id}"),
        &patch_op(json!([{"op": "replace", "path": format!("{ACME_GROUP}:site"), "value": "Berlin"}])),
    )
    .await
    .assert_status(204);
    let got = s.get(&format!("/Groups/{id}")).await;
    assert_eq!(got.assert_status(200)[ACME_GROUP], json!({"site": "Berlin"}));
    assert_eq!(got.body["schemas"], json!([GROUP, ACME_GROUP]));
    let listed = s
        .get(&format!(
            "/Groups?filter={}",
            query(&format!("{ACME_GROUP}:site eq \"berlin\""))
        ))
        .await;
    assert_eq!(listed.assert_status(200)["totalResults"], 1, "{}", listed.text);
}

on_both_stores!(a_required_extension_must_be_sent);
async fn a_required_extension_must_be_sent() {
    let s = Server::start_with(&[("SCIM_SCHEMA_EXTENSIONS", REQUIRED)]).await;
    let user = s.get("/ResourceTypes/User").await;
    assert!(user.assert_status(200)["schemaExtensions"]
        .as_array()
        .unwrap()
        .contains(&json!({"schema": HR, "required": true})));
    let without = json!({"schemas": [USER], "userName": "r@example.com"});
    let r = s.post("/Users", &without).await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.text.contains(HR), "{}", r.text);
    let empty = json!({"schemas": [USER, HR], "userName": "r@example.com", HR: {}});
    s.post("/Users", &empty)
        .await
        .assert_error(400, Some("invalidValue"));
    let with = json!({"schemas": [USER, HR], "userName": "r@example.com", HR: {"division": "R&D"}});
    let r = s.post("/Users", &with).await;
    let id = r.assert_status(201)["id"].as_str().unwrap().to_string();
    let r = s.put(&format!("/Users/{id}"), &without).await;
    r.assert_error(400, Some("invalidValue"));
    assert!(r.text.contains(HR), "{}", r.text);
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "remove", "path": format!("{HR}:division")}])),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert_eq!(get_user(&s, &id).await[HR]["division"], "R&D");
}

on_both_stores!(extension_attributes_sort);
/// `sortBy` names an extension attribute by its URN path (RFC 7644 §3.4.2.3): integers by value,
/// strings ignoring case, a complex attribute's sub-attribute; users without a value last.
async fn extension_attributes_sort() {
    let s = server().await;
    for (name, level, center, site) in [
        ("ana", Some(10), Some("b-7"), Some("Zurich")),
        ("ben", Some(-2), Some("A-1"), None),
        ("cy", None, None, Some("austin")),
        ("di", Some(3), Some("a-0"), Some("Berlin")),
    ] {
        let mut ext = json!({});
        if let Some(l) = level {
            ext["clearanceLevel"] = json!(l);
        }
        if let Some(c) = center {
            ext["costCenter"] = json!(c);
        }
        if let Some(site) = site {
            ext["badge"] = json!({"site": site, "number": 1});
        }
        s.post(
            "/Users",
            &json!({"schemas": [USER, ACME], "userName": name, ACME: ext}),
        )
        .await
        .assert_status(201);
    }
    let order = |sort_by: String, descending: bool| {
        let s = &s;
        async move {
            let order = if descending { "descending" } else { "ascending" };
            let list = s
                .get(&format!("/Users?sortBy={}&sortOrder={order}", query(&sort_by)))
                .await;
            list.assert_status(200)["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["userName"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    // Integers by value, not as text ("-2" < "3" < "10"); the user without one last.
    assert_eq!(
        order(acme("clearanceLevel"), false).await,
        ["ben", "di", "ana", "cy"]
    );
    assert_eq!(
        order(acme("clearanceLevel"), true).await,
        ["cy", "ana", "di", "ben"]
    );
    // costCenter is not caseExact: "a-0" < "A-1" < "b-7".
    assert_eq!(order(acme("costCenter"), false).await, ["di", "ben", "ana", "cy"]);
    // Unqualified, the name resolves to the one extension that has it.
    assert_eq!(
        order("badge.site".into(), false).await,
        ["cy", "di", "ana", "ben"]
    );
    let complex = s.get(&format!("/Users?sortBy={}", query(&acme("badge")))).await;
    complex.assert_error(400, Some("invalidValue"));
    let never = s.get(&format!("/Users?sortBy={}", query(&acme("doorPin")))).await;
    never.assert_error(400, Some("invalidValue"));
}

on_both_stores!(decimal_extension_attributes_sort_by_value);
/// Groups sorted by a decimal of their extension: by value, negatives first, not as text.
async fn decimal_extension_attributes_sort_by_value() {
    let s = server().await;
    for (name, budget) in [
        ("a", json!(10.5)),
        ("b", json!(-2.25)),
        ("c", json!(9)),
        ("d", json!(0.75)),
    ] {
        s.post(
            "/Groups",
            &json!({"schemas": [GROUP, ACME_GROUP], "displayName": name, ACME_GROUP: {"budget": budget}}),
        )
        .await
        .assert_status(201);
    }
    for (order, expected) in [
        ("ascending", ["b", "d", "c", "a"]),
        ("descending", ["a", "c", "d", "b"]),
    ] {
        let list = s
            .get(&format!(
                "/Groups?sortBy={}&sortOrder={order}",
                query(&format!("{ACME_GROUP}:budget"))
            ))
            .await;
        let names: Vec<&str> = list.assert_status(200)["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["displayName"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{order}");
    }
}
