//! Helpers shared by the vector-driven integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use scim_proto::schema::Schema;
use scim_proto::{SchemaRegistry, ScimError};
use serde_json::Value;
use std::path::PathBuf;

/// Reads `tests/vectors/<rel>`.
pub fn vector(rel: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cases of a vector file.
pub fn cases(rel: &str) -> Vec<Value> {
    vector(rel)["cases"]
        .as_array()
        .cloned()
        .expect("vector file has cases")
}

/// The standard registry, plus the test extension on User when the case names it.
pub fn registry_for(case: &Value) -> SchemaRegistry {
    let mut reg = SchemaRegistry::standard();
    if let Some(urn) = case.get("extension").and_then(Value::as_str) {
        let ext = Schema::from_json(vector("acme_extension.json")).unwrap();
        assert_eq!(ext.id, urn, "unknown test extension");
        let required = case
            .get("extension_required")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        reg.add_extension("User", ext, required).unwrap();
    }
    reg
}

/// Checks an error against a case's `error` block: {status, scimType, detail_contains}.
pub fn check_error(name: &str, err: &ScimError, want: &Value) {
    assert_eq!(
        u64::from(err.status),
        want["status"].as_u64().unwrap(),
        "{name}: {err}"
    );
    match want.get("scimType").and_then(Value::as_str) {
        Some(t) => assert_eq!(err.scim_type.map(|s| s.as_str()), Some(t), "{name}: {err}"),
        None => assert_eq!(err.scim_type, None, "{name}: {err}"),
    }
    if let Some(d) = want.get("detail_contains").and_then(Value::as_str) {
        assert!(
            err.detail.contains(d),
            "{name}: detail {:?} lacks {d:?}",
            err.detail
        );
    }
}
