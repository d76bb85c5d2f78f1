//! Property tests of `scim_proto::filter`: no input makes the parser, validator, evaluator or
//! PATCH path parser panic; printed filters parse back to equal ones; and the index lookups a
//! store relies on hold for every resource a filter matches.

// Tests may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use scim_proto::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use scim_proto::{AttrPath, CompValue, CompareOp, Filter, PatchPath, SchemaRegistry};
use serde_json::{json, Map, Value};

const CASES: u32 = 384;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    }
}

/// Attribute names the schemas know (so generated filters validate and match sometimes), and
/// arbitrary valid names (so they exercise the unknown-attribute paths).
fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "userName", "USERNAME", "displayName", "name", "emails", "phoneNumbers", "active",
            "meta", "externalId", "id", "title", "groups", "roles", "manager", "employeeNumber",
            "members", "x509Certificates", "profileUrl", "addresses", "not", "and", "or", "pr",
            "eq", "true", "null",
        ])
        .prop_map(str::to_string),
        1 => "[a-zA-Z][a-zA-Z0-9_-]{0,7}",
    ]
}

fn sub_name() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        2 => prop::sample::select(vec![
            "value", "type", "givenName", "familyName", "lastModified", "created", "primary",
            "$ref", "display", "version", "formatted",
        ])
        .prop_map(|s| Some(s.to_string())),
        1 => "[a-zA-Z][a-zA-Z0-9_-]{0,5}".prop_map(Some),
    ]
}

fn urn() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        1 => Just(Some(USER_SCHEMA.to_string())),
        1 => Just(Some(ENTERPRISE_USER_SCHEMA.to_string())),
        1 => Just(Some("urn:example:params:scim:schemas:x:1.0:Thing".to_string())),
    ]
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (urn(), attr_name(), sub_name()).prop_map(|(urn, attr, sub)| AttrPath { urn, attr, sub })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        1 => Just(CompValue::Null),
        1 => any::<bool>().prop_map(CompValue::Bool),
        1 => any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        1 => any::<u64>().prop_map(|n| CompValue::Number(n.into())),
        1 => any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(CompValue::Number),
        3 => prop::sample::select(vec![
            "bob", "Alice@Example.com", "work", "home", "2011-05-13T04:42:34Z",
            "2819c223-7f76-453a-919d-413861904646", "True", "false", "", "7",
        ])
        .prop_map(|s| CompValue::String(s.to_string())),
        2 => any::<String>().prop_map(CompValue::String),
    ]
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(CompareOp::ALL.to_vec())
}

/// A comparison or presence test.
fn attr_exp() -> impl Strategy<Value = Filter> {
    prop_oneof![
        3 => (attr_path(), compare_op(), comp_value())
            .prop_map(|(path, op, value)| Filter::Compare { path, op, value }),
        1 => attr_path().prop_map(Filter::Present),
    ]
}

fn combine(inner: impl Strategy<Value = Filter> + Clone) -> impl Strategy<Value = Filter> {
    prop_oneof![
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
        inner.prop_map(|a| Filter::Not(Box::new(a))),
    ]
}

/// A `valFilter`: no value paths inside (they do not nest).
fn val_filter() -> impl Strategy<Value = Filter> {
    attr_exp().prop_recursive(3, 12, 2, combine)
}

/// Any filter the grammar can express: value paths name an attribute without sub-attribute.
fn filter() -> impl Strategy<Value = Filter> {
    let value_path =
        ((urn(), attr_name()), val_filter()).prop_map(|((urn, attr), inner)| Filter::ValuePath {
            attr: AttrPath { urn, attr, sub: None },
            filter: Box::new(inner),
        });
    let leaf = prop_oneof![3 => attr_exp(), 1 => value_path];
    leaf.prop_recursive(4, 24, 2, combine)
}

/// Strings made of filter tokens, to reach deep into the parser more often than random text.
fn filter_like() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "userName",
        "emails",
        "name.givenName",
        "eq",
        "EQ",
        "ne",
        "co",
        "sw",
        "gt",
        "pr",
        "and",
        "or",
        "not",
        "NOT",
        "(",
        ")",
        "[",
        "]",
        "\"x\"",
        "\"",
        "\\",
        "\\u",
        "\\ud83d",
        "true",
        "null",
        "-1.5e3",
        "1e999",
        ".value",
        ":",
        "urn:ietf:params:scim:schemas:core:2.0:User:",
        "€",
        "😀",
        "+",
        "%20",
        "\t",
        "type",
        "value",
    ]);
    prop::collection::vec((token, prop::sample::select(vec!["", " ", "  "])), 0..24)
        .prop_map(|parts| parts.into_iter().map(|(t, sep)| format!("{t}{sep}")).collect())
}

/// Arbitrary JSON, shaped loosely like resources (known keys, any values).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        prop::sample::select(vec!["bob", "work", "2011-05-13T04:42:34Z", "True", "", "x"])
            .prop_map(|s| json!(s)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((attr_name(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn resource() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        4 => attr_name(),
        1 => Just(ENTERPRISE_USER_SCHEMA.to_string()),
    ];
    prop::collection::vec((key, json_value()), 0..8).prop_map(|kv| kv.into_iter().collect())
}

/// A few realistic users, so that generated filters actually match sometimes.
fn fixtures() -> Vec<Map<String, Value>> {
    let users = [
        json!({
            "id": "2819c223-7f76-453a-919d-413861904646", "externalId": "ALICE-1",
            "userName": "Alice@Example.com", "displayName": "Alice", "active": true,
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "emails": [{"value": "alice@example.com", "type": "work", "primary": true},
                       {"value": "a@home.org", "type": "home"}],
            "roles": [{"value": "admin"}],
            "meta": {"created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z",
                     "resourceType": "User", "version": "W/\"1\""},
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "7", "manager": {"value": "bob"}}
        }),
        json!({"id": "b", "userName": "bob", "active": false, "title": "work",
               "emails": [{"value": "bob", "type": "work"}]}),
        json!({"id": "c", "userName": "carol"}),
    ];
    users
        .into_iter()
        .map(|u| u.as_object().cloned().unwrap())
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics(input in any::<String>()) {
        let reg = SchemaRegistry::standard();
        if let Ok(f) = Filter::parse(&input) {
            let _ = f.validate(&reg.user());
            let _ = f.matches(&fixtures()[0], &reg.user());
            prop_assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
        }
        let _ = PatchPath::parse(&input);
    }

    #[test]
    fn filter_like_text_never_panics(input in filter_like()) {
        let reg = SchemaRegistry::standard();
        match Filter::parse(&input) {
            Ok(f) => {
                for schema in [reg.user(), reg.group()] {
                    let _ = f.validate(&schema);
                    for r in fixtures() {
                        let _ = f.matches(&r, &schema);
                    }
                    let _ = f.equality_lookups(&schema);
                }
                prop_assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
            }
            Err(e) => prop_assert_eq!(e.status, 400),
        }
        match PatchPath::parse(&input) {
            Ok(p) => prop_assert!(p.filter.is_some() || !input.contains('[')),
            Err(e) => prop_assert_eq!(e.status, 400),
        }
        let bracketed = format!("emails[{input}].value");
        let _ = PatchPath::parse(&bracketed);
    }

    #[test]
    fn printed_filters_parse_back_equal(f in filter()) {
        let printed = f.to_string();
        let reparsed = Filter::parse(&printed);
        prop_assert!(reparsed.is_ok(), "{} does not parse: {:?}", printed, reparsed);
        prop_assert_eq!(reparsed.unwrap(), f.clone());
        // Printing is canonical: the printed form prints the same.
        prop_assert_eq!(Filter::parse(&printed).unwrap().to_string(), printed);
    }

    #[test]
    fn value_paths_in_patch_paths_round_trip(
        (attr, inner, sub) in (attr_name(), val_filter(), sub_name())
    ) {
        let input = match &sub {
            Some(s) => format!("{attr}[{inner}].{s}"),
            None => format!("{attr}[{inner}]"),
        };
        let p = PatchPath::parse(&input).unwrap();
        prop_assert_eq!(p.attr, AttrPath::attr(attr));
        prop_assert_eq!(p.filter, Some(inner));
        prop_assert_eq!(p.sub_after_filter, sub);
    }

    #[test]
    fn generated_filters_never_panic_on_any_resource(f in filter(), r in resource()) {
        let reg = SchemaRegistry::standard();
        for schema in [reg.user(), reg.group()] {
            let _ = f.validate(&schema);
            let _ = f.matches(&r, &schema);
            let _ = f.equality_lookups(&schema);
        }
    }

    /// What `equality_lookups` promises a store: every resource the filter matches has each
    /// listed equality.
    #[test]
    fn equality_lookups_hold_for_every_match(f in filter()) {
        let reg = SchemaRegistry::standard();
        let user = reg.user();
        for r in fixtures() {
            if !f.matches(&r, &user) {
                continue;
            }
            for (path, value) in f.equality_lookups(&user) {
                let check = Filter::Compare {
                    path: AttrPath::parse(&path).unwrap(),
                    op: CompareOp::Eq,
                    value: CompValue::String(value),
                };
                prop_assert!(check.matches(&r, &user), "{} matches {:?} but not {}", f, r, check);
            }
        }
    }

    /// `not` and `ne` are complements on every resource, for every validated comparison.
    #[test]
    fn ne_is_not_eq((path, value) in (attr_path(), comp_value())) {
        let reg = SchemaRegistry::standard();
        let user = reg.user();
        let eq = Filter::Compare { path: path.clone(), op: CompareOp::Eq, value: value.clone() };
        let ne = Filter::Compare { path, op: CompareOp::Ne, value };
        if eq.validate(&user).is_ok() {
            for r in fixtures() {
                prop_assert_eq!(ne.matches(&r, &user), !eq.matches(&r, &user), "{} on {:?}", ne, r);
            }
        }
    }
}
