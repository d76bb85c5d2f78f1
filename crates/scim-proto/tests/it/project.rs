//! project.rs: `attributes` / `excludedAttributes` with `returned`, driven by
//! `tests/vectors/project/projection.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{check_error, registry_for, vector};
use scim_proto::Projection;
use serde_json::Value;

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn projection_vectors() {
    let file = vector("project/projection.json");
    let resources = &file["resources"];
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let reg = registry_for(case);
        let schema = reg.view(case["resource_type"].as_str().unwrap()).unwrap();
        let resource = resources[case["resource"].as_str().unwrap()].as_object().unwrap();
        let p = Projection::new(
            &strings(&case["attributes"]),
            &strings(&case["excluded"]),
            &schema,
        );
        let p = match (p, case.get("error")) {
            (Ok(p), None) => p,
            (Err(e), Some(want)) => {
                check_error(name, &e, want);
                continue;
            }
            (Ok(_), Some(_)) => panic!("{name}: expected an error"),
            (Err(e), None) => panic!("{name}: unexpected error {e}"),
        };
        let got = p.apply(resource.clone(), &schema);
        assert_eq!(Value::Object(got), case["expect"], "{name}");
        if let Some(includes) = case.get("includes").and_then(Value::as_object) {
            for (attr, want) in includes {
                assert_eq!(
                    p.includes(attr),
                    want.as_bool().unwrap(),
                    "{name}: includes({attr})"
                );
            }
        }
    }
}

#[test]
fn all_equals_no_parameters() {
    let file = vector("project/projection.json");
    let reg = scim_proto::SchemaRegistry::standard();
    let user = reg.user();
    let resource = file["resources"]["user"].as_object().unwrap();
    let all = Projection::all(&user).apply(resource.clone(), &user);
    let none = Projection::new(&[], &[], &user)
        .unwrap()
        .apply(resource.clone(), &user);
    assert_eq!(all, none);
    assert!(!all.contains_key("password"));
}
