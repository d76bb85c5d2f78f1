//! PATCH engine tests that are not plain data: message parsing details, immutable attributes of
//! a custom extension, password policy, and a property test that no body makes the engine panic.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use scim_proto::patch::{
    apply_patch, MemberRef, PatchLimits, PatchOpKind, PatchOptions, PatchRequest, PATCH_OP_SCHEMA,
};
use scim_proto::resource::{password_hashes_on_this_thread, PasswordPolicy};
use scim_proto::schema::Schema;
use scim_proto::{SchemaRegistry, ScimType};
use serde_json::{json, Map, Value};

const ACME: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";

fn body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})
}

fn parse(ops: Value) -> PatchRequest {
    PatchRequest::from_json(&body(ops), &PatchLimits::default()).unwrap()
}

fn user() -> Map<String, Value> {
    json!({"userName": "bjensen", "active": true})
        .as_object()
        .cloned()
        .unwrap()
}

/// A registry whose User has an extension with an immutable attribute and a complex attribute
/// with an immutable sub-attribute.
fn acme_registry() -> SchemaRegistry {
    let mut reg = SchemaRegistry::standard();
    let ext = Schema::from_json(json!({
        "id": ACME,
        "name": "AcmeUser",
        "attributes": [
            {"name": "badge", "type": "string", "multiValued": false, "required": false,
             "mutability": "immutable", "returned": "default"},
            {"name": "desk", "type": "complex", "multiValued": false, "required": false,
             "mutability": "readWrite", "returned": "default", "subAttributes": [
                {"name": "building", "type": "string", "multiValued": false, "required": false,
                 "mutability": "immutable", "returned": "default"},
                {"name": "floor", "type": "integer", "multiValued": false, "required": false,
                 "mutability": "readWrite", "returned": "default"}
            ]}
        ]
    }))
    .unwrap();
    reg.add_extension("User", ext, false).unwrap();
    reg
}

#[test]
fn parses_operations_in_any_case_with_optional_paths() {
    let req = parse(json!([
        {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@example.com"},
        {"op": "REPLACE", "value": {"active": false}},
        {"op": "remove", "path": "  "},
        {"op": "Replace", "path": "nickName", "value": null},
    ]));
    let kinds: Vec<PatchOpKind> = req.operations.iter().map(|o| o.op).collect();
    assert_eq!(
        kinds,
        [
            PatchOpKind::Add,
            PatchOpKind::Replace,
            PatchOpKind::Remove,
            PatchOpKind::Replace
        ]
    );
    let p = req.operations[0].path.as_ref().unwrap();
    assert_eq!(p.attr.attr, "emails");
    assert_eq!(p.sub_after_filter.as_deref(), Some("value"));
    assert!(req.operations[1].path.is_none());
    // A blank path counts as absent; the engine answers noTarget for a pathless remove.
    assert!(req.operations[2].path.is_none());
    // An explicit null stays a value: replace with null unassigns (RFC 7643 §2.5).
    assert_eq!(req.operations[3].value, Some(Value::Null));
}

#[test]
fn limit_errors_name_the_limit() {
    let limits = PatchLimits {
        max_operations: 2,
        max_member_changes: 1000,
    };
    let ops =
        json!([{"op": "remove", "path": "a"}, {"op": "remove", "path": "b"}, {"op": "remove", "path": "c"}]);
    let e = PatchRequest::from_json(&body(ops), &limits).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::TooMany));
    assert!(e.detail.contains('2'), "{}", e.detail);

    let limits = PatchLimits {
        max_operations: 10,
        max_member_changes: 2,
    };
    let ops =
        json!([{"op": "replace", "value": {"members": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}}]);
    let e = PatchRequest::from_json(&body(ops), &limits).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::TooMany));
    assert!(e.detail.contains('2'), "{}", e.detail);
}

#[test]
fn malformed_messages_are_invalid_syntax() {
    for bad in [
        json!(null),
        json!("x"),
        json!({"schemas": "urn:nope", "Operations": [{"op": "add", "path": "a", "value": 1}]}),
        json!({"Operations": {"op": "add"}}),
        json!({"Operations": [1]}),
        json!({"Operations": [{"path": "a", "value": 1}]}),
        json!({"Operations": [{"op": 3, "path": "a", "value": 1}]}),
    ] {
        let e = PatchRequest::from_json(&bad, &PatchLimits::default()).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax), "{bad}: {e}");
    }
}

#[test]
fn immutable_attributes_can_be_set_once() {
    let reg = acme_registry();
    let schema = reg.user();
    let opts = PatchOptions::default();
    let badge = format!("{ACME}:badge");

    // Not yet set: allowed (RFC 7643 §2.2).
    let mut r = user();
    let req = parse(json!([{"op": "add", "path": badge, "value": "B-7"}]));
    let out = apply_patch(&mut r, &req, &schema, &opts).unwrap();
    assert_eq!(r[ACME]["badge"], "B-7");
    assert!(out.changed_attributes.contains(&badge));

    // Same value again: allowed, nothing changes.
    let before = r.clone();
    let out = apply_patch(&mut r, &req, &schema, &opts).unwrap();
    assert!(!out.modified);
    assert_eq!(r, before);

    // A different value, or a removal: 400 mutability, resource untouched.
    for ops in [
        json!([{"op": "replace", "path": badge, "value": "B-8"}]),
        json!([{"op": "remove", "path": badge}]),
        json!([{"op": "replace", "value": {ACME: {"badge": "B-9"}}}]),
        json!([{"op": "remove", "path": ACME}]),
    ] {
        let e = apply_patch(&mut r, &parse(ops.clone()), &schema, &opts).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Mutability), "{ops}");
        assert_eq!(r, before);
    }

    // An immutable sub-attribute of a single-valued complex attribute.
    let desk = format!("{ACME}:desk");
    let req = parse(json!([{"op": "add", "path": desk, "value": {"building": "HQ", "floor": "3"}}]));
    apply_patch(&mut r, &req, &schema, &opts).unwrap();
    assert_eq!(r[ACME]["desk"], json!({"building": "HQ", "floor": 3}));
    let req = parse(json!([{"op": "replace", "path": format!("{desk}.floor"), "value": 4}]));
    apply_patch(&mut r, &req, &schema, &opts).unwrap();
    let req = parse(json!([{"op": "replace", "path": format!("{desk}.building"), "value": "Annex"}]));
    let e = apply_patch(&mut r, &req, &schema, &opts).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::Mutability));
    assert_eq!(r[ACME]["desk"], json!({"building": "HQ", "floor": 4}));
}

#[test]
fn password_is_hashed_or_dropped_by_policy() {
    let reg = SchemaRegistry::standard();
    let req = parse(json!([{"op": "replace", "path": "password", "value": "s3cret-Pass"}]));

    let mut r = user();
    let out = apply_patch(&mut r, &req, &reg.user(), &PatchOptions::default()).unwrap();
    let hash = r["password"].as_str().unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(!hash.contains("s3cret-Pass"));
    assert!(scim_proto::resource::verify_password(hash, "s3cret-Pass"));
    assert!(out.changed_attributes.contains("password"));

    let mut opts = PatchOptions::default();
    opts.normalize.password = PasswordPolicy::Drop;
    let mut r = user();
    let out = apply_patch(&mut r, &req, &reg.user(), &opts).unwrap();
    assert!(!r.contains_key("password"));
    assert!(!out.modified);
}

/// Every `password` operation once ran argon2id: 1,000 of them took 14.5 s. The engine hashes
/// the final value once, after the last operation.
#[test]
fn thousand_password_operations_hash_once() {
    let reg = SchemaRegistry::standard();
    let ops: Vec<Value> = (0..1000)
        .map(|i| json!({"op": "replace", "path": "password", "value": format!("pass-{i}")}))
        .collect();
    let req = parse(Value::Array(ops));
    let mut r = user();
    let before = password_hashes_on_this_thread();
    apply_patch(&mut r, &req, &reg.user(), &PatchOptions::default()).unwrap();
    assert_eq!(password_hashes_on_this_thread() - before, 1);
    let hash = r["password"].as_str().unwrap();
    assert!(scim_proto::resource::verify_password(hash, "pass-999"));

    // Set then removed: nothing to hash, nothing kept.
    let req = parse(json!([
        {"op": "replace", "path": "password", "value": "a"},
        {"op": "add", "value": {"password": "b"}},
        {"op": "remove", "path": "password"}
    ]));
    let mut r = user();
    let before = password_hashes_on_this_thread();
    apply_patch(&mut r, &req, &reg.user(), &PatchOptions::default()).unwrap();
    assert_eq!(password_hashes_on_this_thread() - before, 0);
    assert!(!r.contains_key("password"));
}

/// RFC 7644 §3.12 tooMany: a PATCH value or a sum of adds past the per-attribute limit is
/// refused, naming the attribute and the limit.
#[test]
fn values_past_the_limit_are_too_many() {
    let reg = SchemaRegistry::standard();
    let mut opts = PatchOptions::default();
    opts.normalize.limits.per_attribute = 3;
    let roles = |from: usize, n: usize| -> Value {
        (from..from + n)
            .map(|i| json!({"value": format!("r{i}")}))
            .collect()
    };
    let mut r = user();
    let req = parse(json!([{"op": "add", "path": "roles", "value": roles(0, 4)}]));
    let e = apply_patch(&mut r, &req, &reg.user(), &opts).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::TooMany));
    assert!(e.detail.contains("'roles'") && e.detail.contains('3'), "{e}");
    let req = parse(json!([
        {"op": "add", "path": "roles", "value": roles(0, 2)},
        {"op": "add", "path": "roles", "value": roles(1, 2)},
        {"op": "add", "path": "roles", "value": roles(3, 1)}
    ]));
    let e = apply_patch(&mut r, &req, &reg.user(), &opts).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::TooMany));
    assert_eq!(r, user(), "a refused PATCH writes nothing");
    // Duplicates of present values do not count twice.
    let req = parse(json!([
        {"op": "add", "path": "roles", "value": roles(0, 3)},
        {"op": "add", "path": "roles", "value": roles(0, 3)}
    ]));
    apply_patch(&mut r, &req, &reg.user(), &opts).unwrap();
    assert_eq!(r["roles"].as_array().unwrap().len(), 3);
}

#[test]
fn detached_members_never_enter_the_resource() {
    let reg = SchemaRegistry::standard();
    let mut g = json!({"displayName": "Admins"}).as_object().cloned().unwrap();
    let req = parse(json!([
        {"op": "add", "path": "members", "value": [{"value": "u1", "type": "user", "$ref": null}]},
        {"op": "add", "value": {"members": [{"value": "u2"}]}},
    ]));
    let out = apply_patch(&mut g, &req, &reg.group(), &PatchOptions::with_detached_members()).unwrap();
    assert!(!g.contains_key("members"));
    assert!(out.modified);
    assert_eq!(
        out.members.add,
        vec![
            MemberRef {
                value: "u1".into(),
                ty: Some("User".into()),
                display: None
            },
            MemberRef {
                value: "u2".into(),
                ty: None,
                display: None
            },
        ]
    );
    assert_eq!(out.changed_attributes.iter().collect::<Vec<_>>(), ["members"]);

    // Member sub-attributes cannot be patched; add with a filter is not a thing.
    for ops in [
        json!([{"op": "replace", "path": "members[value eq \"u1\"].display", "value": "x"}]),
        json!([{"op": "add", "path": "members[value eq \"u1\"]", "value": {"value": "u1"}}]),
    ] {
        let e = apply_patch(
            &mut g,
            &parse(ops.clone()),
            &reg.group(),
            &PatchOptions::with_detached_members(),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{ops}");
    }
    // `and` of value eqs cannot be evaluated without the member list: invalidFilter.
    let ops = json!([{"op": "remove", "path": "members[value eq \"a\" and type eq \"User\"]"}]);
    let e = apply_patch(
        &mut g,
        &parse(ops),
        &reg.group(),
        &PatchOptions::with_detached_members(),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    assert!(e.detail.contains("value eq"), "{}", e.detail);
}

#[test]
fn replace_of_a_matched_member_swaps_it() {
    let reg = SchemaRegistry::standard();
    let mut g = json!({"displayName": "Admins"}).as_object().cloned().unwrap();
    let req =
        parse(json!([{"op": "replace", "path": "members[value eq \"old\"]", "value": [{"value": "new"}]}]));
    let out = apply_patch(&mut g, &req, &reg.group(), &PatchOptions::with_detached_members()).unwrap();
    assert_eq!(out.members.remove, ["old"]);
    assert_eq!(out.members.add.len(), 1);
    assert!(!out.members.replace_all);
}

#[test]
fn errors_name_the_failing_operation() {
    let reg = SchemaRegistry::standard();
    let mut r = user();
    let req = parse(json!([
        {"op": "replace", "path": "displayName", "value": "x"},
        {"op": "add", "path": "nope", "value": 1},
    ]));
    let e = apply_patch(&mut r, &req, &reg.user(), &PatchOptions::default()).unwrap_err();
    assert!(e.detail.starts_with("Operations[1] (add)"), "{}", e.detail);
    assert_eq!(r, user());
}

// ---- property: no body makes the engine panic ---------------------------------------------------

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "add",
            "Remove",
            "REPLACE",
            "members",
            "emails",
            "value",
            "true",
            "False",
            "work",
            "u1",
            PATCH_OP_SCHEMA,
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "value",
            "type",
            "primary",
            "display",
            "$ref",
            "active",
            "name.givenName",
            "members",
            "emails",
            "roles",
            "id",
            "meta",
            "userName",
            "displayName",
            "manager",
            "password",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z.$:]{0,10}",
    ]
}

fn arb_path() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "members",
            "members[value eq \"u1\"]",
            "members[value eq \"u1\" or value eq \"u2\"]",
            "members[display eq \"x\"]",
            "emails",
            "emails[type eq \"work\"].value",
            "emails[type eq \"work\"]",
            "emails[value co \"a\"].primary",
            "addresses[type eq \"work\"].formatted",
            "phoneNumbers[type eq \"mobile\"].value",
            "name",
            "name.givenName",
            "userName",
            "active",
            "roles",
            "roles[value eq \"admin\"]",
            "id",
            "meta.version",
            "groups",
            "password",
            "displayName",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq \"m\"]",
            "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
            "x[",
            "a.b.c",
            "",
        ])
        .prop_map(|s| Value::String(s.to_string())),
        arb_json(),
    ]
}

fn arb_operation() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["add", "Add", "remove", "Replace", "replace", "nope"]),
        prop::option::of(arb_path()),
        prop::option::of(arb_json()),
    )
        .prop_map(|(op, path, value)| {
            let mut o = json!({"op": op});
            if let Some(p) = path {
                o["path"] = p;
            }
            if let Some(v) = value {
                o["value"] = v;
            }
            o
        })
}

fn run_any(body: &Value) {
    let reg = SchemaRegistry::standard();
    let limits = PatchLimits::default();
    let Ok(req) = PatchRequest::from_json(body, &limits) else {
        return;
    };
    for (rt, mut resource, opts) in [
        (
            "User",
            json!({"userName": "b", "emails": [{"value": "a@b", "type": "work", "primary": true}],
                   "roles": [{"value": "admin"}],
                   "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m"}}}),
            PatchOptions::default(),
        ),
        (
            "Group",
            json!({"displayName": "g"}),
            PatchOptions::with_detached_members(),
        ),
    ] {
        let mut r = resource.as_object_mut().map(std::mem::take).unwrap();
        let before = r.clone();
        let schema = reg.view(rt).unwrap();
        match apply_patch(&mut r, &req, &schema, &opts) {
            Ok(out) => assert_eq!(out.modified, !out.changed_attributes.is_empty()),
            Err(e) => {
                assert!((400..500).contains(&e.status), "{e}");
                assert_eq!(r, before, "a failed PATCH changed the resource");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(body in arb_json()) {
        run_any(&body);
    }

    #[test]
    fn arbitrary_operations_never_panic(ops in prop::collection::vec(arb_operation(), 1..5), schemas_first in any::<bool>()) {
        let body = if schemas_first {
            json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})
        } else {
            json!({"Operations": ops, "schemas": [PATCH_OP_SCHEMA]})
        };
        run_any(&body);
    }
}
