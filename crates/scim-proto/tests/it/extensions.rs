//! extensions.rs: the operator's schema extensions file, driven by
//! `tests/vectors/extensions/files.json`, and what a registry built from it does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::cases;
use scim_proto::extensions::parse_extension_file;
use scim_proto::resource::{normalize, NormalizeOptions};
use scim_proto::{AttrPath, SchemaRegistry};
use serde_json::{json, Value};

const FILE: &str = "/etc/scim/extensions.json";

#[test]
fn extension_file_vectors() {
    let all = cases("extensions/files.json");
    assert!(all.len() >= 40);
    for case in &all {
        let name = case["name"].as_str().unwrap();
        let text = match case.get("text") {
            Some(Value::String(t)) => t.clone(),
            _ => case["file"].to_string(),
        };
        match (parse_extension_file(FILE, &text), case.get("error_contains")) {
            (Ok(entries), None) => {
                let want = case["expect"].as_array().unwrap();
                assert_eq!(entries.len(), want.len(), "{name}");
                for (got, want) in entries.iter().zip(want) {
                    assert_eq!(got.resource_type, want["resourceType"], "{name}");
                    assert_eq!(got.required, want["required"], "{name}");
                    assert_eq!(got.schema.id, want["id"], "{name}");
                    if let Some(attrs) = want.get("attributes") {
                        assert_eq!(
                            &serde_json::to_value(&got.schema.attributes).unwrap(),
                            attrs,
                            "{name}"
                        );
                    }
                }
            }
            (Err(e), Some(want)) => {
                let message = e.to_string();
                assert!(
                    message.starts_with(&format!("schema extensions file {FILE}: ")),
                    "{name}: {message}"
                );
                assert!(
                    message.contains(want.as_str().unwrap()),
                    "{name}: {message:?} lacks {want}"
                );
            }
            (Ok(got), Some(_)) => panic!("{name}: expected an error, got {got:?}"),
            (Err(e), None) => panic!("{name}: unexpected error {e}"),
        }
    }
}

/// The sample file of the black-box tests (tests/fixtures at the workspace root).
fn sample() -> SchemaRegistry {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/schema-extensions.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    SchemaRegistry::with_extension_file(path, &text).unwrap()
}

const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

#[test]
fn the_sample_file_extends_users_and_groups() {
    let reg = sample();
    let user = reg.resource_type("User").unwrap();
    assert!(user
        .schema_extensions
        .iter()
        .any(|e| e.schema == ACME && !e.required));
    assert_eq!(reg.resource_type("Group").unwrap().schema_extensions.len(), 1);
    let r = reg
        .user()
        .resolve(&AttrPath::parse(&format!("{ACME}:badge.site")).unwrap())
        .unwrap();
    assert_eq!(r.canonical(), format!("{ACME}:badge.site"));
}

#[test]
fn canonical_values_of_an_extension_are_kept_to_and_respelled() {
    let reg = sample();
    let user = reg.user();
    let opts = NormalizeOptions::default();
    let body = |badge: &str| json!({"userName": "a", ACME: {"badgeType": badge}});
    let got = normalize(&body("CONTRACTOR"), &user, &opts).unwrap();
    assert_eq!(got[ACME]["badgeType"], "contractor");
    let err = normalize(&body("visitor"), &user, &opts).unwrap_err();
    assert_eq!(err.scim_type.map(|t| t.as_str()), Some("invalidValue"));
    assert!(
        err.detail
            .contains("'badgeType' must be one of \"employee\", \"contractor\""),
        "{}",
        err.detail
    );
    // Built-in canonical values stay suggestions: IdPs send other email types.
    let core = normalize(
        &json!({"userName": "a", "emails": [{"value": "a@example.com", "type": "custom"}]}),
        &user,
        &opts,
    )
    .unwrap();
    assert_eq!(core["emails"][0]["type"], "custom");
}

/// Values of an extension that was taken out of the file stay stored but are not rendered: the
/// schema no longer says which of them are `returned: never` (a `writeOnly` hash).
#[test]
fn a_stored_extension_no_longer_configured_is_not_rendered() {
    use scim_proto::resource::{render, ResourceMeta};
    let stored =
        json!({"userName": "a", "title": "Dr", ACME: {"costCenter": "CC-1", "doorPin": "$argon2id$..."}});
    let meta = ResourceMeta {
        id: "1".into(),
        created: "2026-01-01T00:00:00Z".into(),
        last_modified: "2026-01-01T00:00:00Z".into(),
        version: 1,
        location: "/Users/1".into(),
    };
    let standard = SchemaRegistry::standard();
    let out = render(
        stored.as_object().unwrap().clone(),
        &standard.user(),
        meta.clone(),
    );
    assert!(out.get(ACME).is_none(), "{out:?}");
    assert_eq!(out["title"], "Dr");
    let out = render(stored.as_object().unwrap().clone(), &sample().user(), meta);
    assert_eq!(out[ACME], json!({"costCenter": "CC-1"}));
}
