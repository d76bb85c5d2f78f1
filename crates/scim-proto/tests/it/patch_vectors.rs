//! PATCH test vectors: every `tests/vectors/patch/*.json` file is one case.
//!
//! A case has `description`, `resource_type` (`User` or `Group`), `before` (canonical resource),
//! `request` (the PATCH body as the IdP sends it) and either `error` (`{"status", "scimType"}`,
//! optionally `detail_contains`, with the resource then required to be unchanged) or `after` (the canonical resource), with
//! optionally `members` (the expected member delta; an empty delta when absent),
//! `changed_attributes`, `modified`, and `password` (the plaintext whose hash `after.password`
//! must verify; `after` then omits `password`). Group cases detach `members`.

#![allow(clippy::unwrap_used)]

use scim_proto::patch::{apply_patch, MemberDelta, PatchLimits, PatchOptions, PatchRequest};
use scim_proto::resource::verify_password;
use scim_proto::{Result, SchemaRegistry};
use serde_json::{json, Map, Value};
use std::path::Path;

fn run(case: &Value, registry: &SchemaRegistry) -> (Map<String, Value>, Result<scim_proto::PatchOutcome>) {
    let rt = case["resource_type"].as_str().unwrap();
    let schema = registry.view(rt).unwrap();
    let mut resource = case["before"].as_object().cloned().unwrap_or_default();
    let opts = if rt == "Group" {
        PatchOptions::with_detached_members()
    } else {
        PatchOptions::default()
    };
    let limits = match case.get("limits") {
        Some(l) => PatchLimits {
            max_operations: l["max_operations"].as_u64().unwrap() as usize,
            max_member_changes: l["max_member_changes"].as_u64().unwrap() as usize,
        },
        None => PatchLimits::default(),
    };
    let result = PatchRequest::from_json(&case["request"], &limits)
        .and_then(|req| apply_patch(&mut resource, &req, &schema, &opts));
    (resource, result)
}

fn delta_json(d: &MemberDelta) -> Value {
    let add: Vec<Value> = d
        .add
        .iter()
        .map(|m| {
            let mut o = json!({"value": m.value});
            if let Some(t) = &m.ty {
                o["type"] = json!(t);
            }
            if let Some(t) = &m.display {
                o["display"] = json!(t);
            }
            o
        })
        .collect();
    json!({"replace_all": d.replace_all, "add": add, "remove": d.remove})
}

fn check(name: &str, case: &Value, registry: &SchemaRegistry) -> std::result::Result<(), String> {
    let (after, result) = run(case, registry);
    if let Some(err) = case.get("error") {
        let e = match result {
            Ok(o) => {
                return Err(format!(
                    "expected error {err}, got success {o:?} with {}",
                    Value::Object(after)
                ))
            }
            Err(e) => e,
        };
        if e.status as u64 != err["status"].as_u64().unwrap()
            || e.scim_type.map(|t| t.as_str()) != err["scimType"].as_str()
        {
            return Err(format!("expected {err}, got {e}"));
        }
        if let Some(want) = err.get("detail_contains").and_then(Value::as_str) {
            if !e.detail.contains(want) {
                return Err(format!("detail {:?} lacks {want:?}", e.detail));
            }
        }
        if Some(&after) != case["before"].as_object() {
            return Err(format!(
                "the resource changed although the PATCH failed: {}",
                Value::Object(after)
            ));
        }
        return Ok(());
    }
    let outcome = result.map_err(|e| format!("unexpected error: {e}"))?;
    let mut got = after.clone();
    if let Some(plain) = case.get("password").and_then(Value::as_str) {
        let hash = got
            .remove("password")
            .and_then(|v| v.as_str().map(str::to_string));
        let hash = hash.ok_or("no password stored")?;
        if hash == plain || !hash.starts_with("$argon2id$") || !verify_password(&hash, plain) {
            return Err(format!(
                "password not stored as an argon2id hash of the plaintext: {hash}"
            ));
        }
    }
    let want = &case["after"];
    if &Value::Object(got.clone()) != want {
        return Err(format!(
            "after:\n  want {}\n  got  {}",
            serde_json::to_string(want).unwrap(),
            serde_json::to_string(&Value::Object(got)).unwrap()
        ));
    }
    let want_members = case
        .get("members")
        .cloned()
        .unwrap_or_else(|| json!({"replace_all": false, "add": [], "remove": []}));
    let got_members = delta_json(&outcome.members);
    if got_members != want_members {
        return Err(format!("members:\n  want {want_members}\n  got  {got_members}"));
    }
    if let Some(want) = case.get("changed_attributes") {
        let got: Vec<&str> = outcome.changed_attributes.iter().map(String::as_str).collect();
        if &json!(got) != want {
            return Err(format!("changed_attributes: want {want}, got {got:?}"));
        }
    }
    if let Some(want) = case.get("modified").and_then(Value::as_bool) {
        if outcome.modified != want {
            return Err(format!("modified: want {want}, got {}", outcome.modified));
        }
    }
    let _ = name;
    Ok(())
}

#[test]
fn patch_vectors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/patch");
    let registry = SchemaRegistry::standard();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 40,
        "expected the PATCH vector set, found {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let case: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(case.get("description").is_some(), "{name}: no description");
        assert!(
            case.get("after").is_some() != case.get("error").is_some(),
            "{name}: needs exactly one of after/error"
        );
        if let Err(msg) = check(&name, &case, &registry) {
            failures.push(format!("{name}: {msg}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
