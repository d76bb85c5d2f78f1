//! resource.rs: normalisation, required attributes, PUT merging and rendering, driven by
//! `tests/vectors/resource/*.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{cases, check_error, registry_for};
use scim_proto::resource::{
    check_required, merge_for_put, normalize, normalize_attribute, render, verify_password, NormalizeOptions,
    PasswordPolicy, ResourceMeta,
};
use scim_proto::schema::ENTERPRISE_USER_SCHEMA;
use scim_proto::SchemaRegistry;
use serde_json::{json, Map, Value};

fn opts(case: &Value) -> NormalizeOptions {
    let password = match case.get("password").and_then(Value::as_str) {
        Some("hash") => PasswordPolicy::Hash,
        _ => PasswordPolicy::Drop,
    };
    NormalizeOptions {
        password,
        ..NormalizeOptions::default()
    }
}

fn name(case: &Value) -> &str {
    case["name"].as_str().unwrap()
}

#[test]
fn normalize_vectors() {
    let all = cases("resource/normalize.json");
    assert!(all.len() >= 30);
    for case in &all {
        let name = name(case);
        let reg = registry_for(case);
        let schema = reg.view(case["resource_type"].as_str().unwrap()).unwrap();
        let got = normalize(&case["body"], &schema, &opts(case));
        match (got, case.get("error")) {
            (Ok(mut got), None) => {
                if let Some(plain) = case.get("password_plain").and_then(Value::as_str) {
                    let hash = got.remove("password").expect("password kept as a hash");
                    let hash = hash.as_str().unwrap();
                    assert!(hash.starts_with("$argon2id$"), "{name}: {hash}");
                    assert_ne!(hash, plain, "{name}");
                    assert!(!hash.contains(plain), "{name}");
                    assert!(verify_password(hash, plain), "{name}");
                    assert!(!verify_password(hash, "wrong"), "{name}");
                }
                assert_eq!(Value::Object(got), case["expect"], "{name}");
            }
            (Err(e), Some(want)) => check_error(name, &e, want),
            (Ok(got), Some(_)) => panic!("{name}: expected an error, got {got:?}"),
            (Err(e), None) => panic!("{name}: unexpected error {e}"),
        }
    }
}

#[test]
fn required_vectors() {
    for case in &cases("resource/required.json") {
        let name = name(case);
        let reg = registry_for(case);
        let schema = reg.view(case["resource_type"].as_str().unwrap()).unwrap();
        let resource = case["resource"].as_object().unwrap();
        match (check_required(resource, &schema), case.get("error")) {
            (Ok(()), None) => {}
            (Err(e), Some(want)) => check_error(name, &e, want),
            (Ok(()), Some(_)) => panic!("{name}: expected an error"),
            (Err(e), None) => panic!("{name}: unexpected error {e}"),
        }
    }
}

#[test]
fn put_vectors() {
    for case in &cases("resource/put.json") {
        let name = name(case);
        let reg = registry_for(case);
        let schema = reg.view(case["resource_type"].as_str().unwrap()).unwrap();
        let existing = case["existing"].as_object().unwrap();
        let incoming = normalize(&case["incoming"], &schema, &opts(case)).unwrap();
        match (merge_for_put(existing, incoming, &schema), case.get("error")) {
            (Ok(got), None) => assert_eq!(Value::Object(got), case["expect"], "{name}"),
            (Err(e), Some(want)) => check_error(name, &e, want),
            (Ok(got), Some(_)) => panic!("{name}: expected an error, got {got:?}"),
            (Err(e), None) => panic!("{name}: unexpected error {e}"),
        }
    }
}

#[test]
fn password_is_hashed_with_fresh_salt() {
    let reg = SchemaRegistry::standard();
    let user = reg.user();
    let def = user.core.attribute("password").unwrap();
    let hash_opts = NormalizeOptions::default();
    assert_eq!(hash_opts.password, PasswordPolicy::Hash);
    let a = normalize_attribute(def, &json!("hunter2"), &hash_opts)
        .unwrap()
        .unwrap();
    let b = normalize_attribute(def, &json!("hunter2"), &hash_opts)
        .unwrap()
        .unwrap();
    let (a, b) = (a.as_str().unwrap(), b.as_str().unwrap());
    assert!(a.starts_with("$argon2id$"));
    assert_ne!(a, b, "each hash has its own salt");
    assert!(verify_password(a, "hunter2") && verify_password(b, "hunter2"));
    assert!(!verify_password(a, "hunter3"));
    assert!(!verify_password("not a hash", "hunter2"));
    assert!(!verify_password("", ""));
    // Empty and null passwords are absent; Drop never keeps anything.
    assert_eq!(normalize_attribute(def, &json!(""), &hash_opts).unwrap(), None);
    assert_eq!(normalize_attribute(def, &Value::Null, &hash_opts).unwrap(), None);
    let drop = NormalizeOptions {
        password: PasswordPolicy::Drop,
        ..NormalizeOptions::default()
    };
    assert_eq!(normalize_attribute(def, &json!("hunter2"), &drop).unwrap(), None);
    // A non-string password is a type error, named.
    let e = normalize_attribute(def, &json!({"x": 1}), &hash_opts).unwrap_err();
    assert!(e.detail.contains("password"), "{e}");
}

#[test]
fn normalize_attribute_table() {
    let reg = SchemaRegistry::standard();
    let user = reg.user();
    let enterprise = user.extension(ENTERPRISE_USER_SCHEMA).unwrap();
    let o = NormalizeOptions {
        password: PasswordPolicy::Drop,
        ..NormalizeOptions::default()
    };
    let cases: Vec<(&str, Value, Option<Value>)> = vec![
        ("active", json!("True"), Some(json!(true))),
        ("active", json!("fAlSe"), Some(json!(false))),
        ("active", json!(null), None),
        ("emails", json!([]), None),
        ("emails", json!({"value": "a@x"}), Some(json!([{"value": "a@x"}]))),
        (
            "emails",
            json!([{"type": "work"}, {"type": "work"}]),
            Some(json!([{"type": "work"}])),
        ),
        ("name", json!({"givenName": ""}), None),
        (
            "name",
            json!([{"givenName": "x"}]),
            Some(json!({"givenName": "x"})),
        ),
        ("groups", json!([{"value": "g", "display": "G"}]), None),
    ];
    for (attr, input, want) in cases {
        let def = user.core.attribute(attr).unwrap();
        let got = normalize_attribute(def, &input, &o).unwrap();
        assert_eq!(got, want, "{attr} {input}");
    }
    // A bare scalar is read as `{"value": ...}` only for a single-valued complex attribute
    // (Entra's `manager`); for a multi-valued one it is a type error, as is a number for a string.
    for (attr, input) in [
        ("roles", json!("admin")),
        ("emails", json!("x")),
        ("userName", json!(42)),
    ] {
        let def = user.core.attribute(attr).unwrap();
        let e = normalize_attribute(def, &input, &o).unwrap_err();
        assert!(e.detail.contains(attr), "{e}");
    }
    let manager = enterprise.attribute("manager").unwrap();
    let e = normalize_attribute(manager, &json!(17), &o).unwrap_err();
    assert!(e.detail.contains("manager"), "{e}");
    for (input, want) in [
        (json!("id-1"), Some(json!({"value": "id-1"}))),
        (
            json!([{"$ref": null, "value": "id-1"}]),
            Some(json!({"value": "id-1"})),
        ),
        (
            json!({"value": "id-1", "displayName": "ro"}),
            Some(json!({"value": "id-1"})),
        ),
        (json!(""), None),
        (json!([]), None),
    ] {
        assert_eq!(normalize_attribute(manager, &input, &o).unwrap(), want, "{input}");
    }
}

fn meta() -> ResourceMeta {
    ResourceMeta {
        id: "2819c223".into(),
        created: "2024-01-01T00:00:00Z".into(),
        last_modified: "2024-02-01T00:00:00Z".into(),
        version: 3,
        location: "https://example.com/scim/v2/Users/2819c223".into(),
    }
}

#[test]
fn render_orders_and_fills_server_attributes() {
    let reg = SchemaRegistry::standard();
    let user = reg.user();
    let mut stored = Map::new();
    stored.insert("userName".into(), json!("bjensen"));
    stored.insert(
        "password".into(),
        json!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"),
    );
    stored.insert("meta".into(), json!({"version": "W/\"1\""}));
    stored.insert(ENTERPRISE_USER_SCHEMA.into(), json!({"employeeNumber": "7"}));
    stored.insert("externalId".into(), json!("ext-1"));
    stored.insert("active".into(), json!(true));
    stored.insert("id".into(), json!("stale"));
    let out = render(stored, &user, meta());
    let keys: Vec<&str> = out.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "schemas",
            "id",
            "externalId",
            "userName",
            ENTERPRISE_USER_SCHEMA,
            "active",
            "meta"
        ]
    );
    assert_eq!(
        out["schemas"],
        json!([
            "urn:ietf:params:scim:schemas:core:2.0:User",
            ENTERPRISE_USER_SCHEMA
        ])
    );
    assert_eq!(out["id"], "2819c223");
    assert_eq!(
        out["meta"],
        json!({
            "resourceType": "User",
            "created": "2024-01-01T00:00:00Z",
            "lastModified": "2024-02-01T00:00:00Z",
            "location": "https://example.com/scim/v2/Users/2819c223",
            "version": "W/\"3\""
        })
    );
    assert!(!out.contains_key("password"), "returned: never is never rendered");

    // No extension data: only the core schema is listed.
    let mut group = Map::new();
    group.insert("displayName".into(), json!("G"));
    let g = render(group, &reg.group(), meta());
    assert_eq!(
        g["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Group"])
    );
    assert_eq!(g["meta"]["resourceType"], "Group");
}

#[test]
fn normalized_then_rendered_idp_bodies_round_trip() {
    // What the server answers to a POST must normalise back to the same canonical form.
    let reg = SchemaRegistry::standard();
    let o = NormalizeOptions {
        password: PasswordPolicy::Drop,
        ..NormalizeOptions::default()
    };
    for case in cases("resource/normalize.json") {
        if case.get("error").is_some() || case.get("extension").is_some() {
            continue;
        }
        let schema = reg.view(case["resource_type"].as_str().unwrap()).unwrap();
        let canonical = normalize(&case["body"], &schema, &o).unwrap();
        let wire = render(canonical.clone(), &schema, meta());
        let again = normalize(&Value::Object(wire), &schema, &o).unwrap();
        assert_eq!(again, canonical, "{}", name(&case));
    }
}

/// The service reserves a hashing permit for exactly the bodies that may hash a password: every
/// spelling that reaches `password` names it, and bodies that do not name it never wait.
#[test]
fn bodies_that_may_hash_a_password_name_it() {
    let reg = SchemaRegistry::standard();
    let user = reg.user();
    for body in [
        json!({"userName": "a", "password": "x"}),
        json!({"userName": "a", "PASSWORD": "x"}),
        json!({"urn:ietf:params:scim:schemas:core:2.0:User:password": "x"}),
        json!({"Operations": [{"op": "replace", "path": "Password", "value": "x"}]}),
        json!({"Operations": [{"op": "add", "value": {"password": "x"}}]}),
    ] {
        assert!(scim_proto::resource::mentions_write_only(&body, &user), "{body}");
    }
    let plain = json!({"userName": "a", "emails": [{"value": "a@x.org"}]});
    assert!(!scim_proto::resource::mentions_write_only(&plain, &user));
    assert!(!scim_proto::resource::mentions_write_only(
        &json!({"displayName": "g"}),
        &reg.group()
    ));
}
