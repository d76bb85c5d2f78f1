//! `SCIM_SCHEMA_EXTENSIONS`: a file that cannot be read or is refused stops the start, locally
//! and under Lambda, with the file and the problem named.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::path::Path;
use std::process::Command;

const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

/// Runs the binary with these variables, as a local server or under Lambda, and returns its exit
/// code and the line it ended with. Either way it ends: the local listen address is taken, and
/// nobody serves the Runtime API, so a start that got past the extensions file fails later,
/// with another message.
fn start(dir: &Path, lambda: bool, vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_scim-lambda"));
    command
        .current_dir(dir)
        .env("SCIM_LISTEN", taken.local_addr().unwrap().to_string())
        .env("SCIM_STORE", "memory")
        .env(
            "SCIM_TOKEN_REGISTRY",
            format!("file:{}", dir.join("tokens.json").display()),
        )
        .env_remove("SCIM_BOOTSTRAP_TOKEN")
        .env_remove("LAMBDA_TASK_ROOT")
        .env_remove("AWS_LAMBDA_RUNTIME_API");
    if lambda {
        // A Runtime API nobody serves: the start must stop before it is ever called.
        command
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("SCIM_CURSOR_KEY", "MDEyMzQ1Njc4OWFiY2RlZg==");
    }
    let output = command.envs(vars.iter().copied()).output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let said = stderr
        .lines()
        .find(|l| l.starts_with("scim-lambda: "))
        .unwrap_or_else(|| panic!("no error line in: {stderr}"))
        .to_string();
    (output.status.code(), said)
}

fn entry(attributes: serde_json::Value) -> serde_json::Value {
    serde_json::json!([{
        "resourceType": "User",
        "required": false,
        "schema": {"id": ACME, "name": "AcmeUser", "attributes": attributes}
    }])
}

#[test]
fn a_bad_extensions_file_stops_the_start_naming_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let string = |name: &str, extra: serde_json::Value| {
        let mut a = serde_json::json!({"name": name, "type": "string", "multiValued": false});
        a.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        a
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "syntax.json",
            "[\n  {\"resourceType\": \"User\",}\n]".into(),
            "not valid JSON: trailing comma at line 2 column 27",
        ),
        (
            "object.json",
            "{}".into(),
            "must be a JSON array",
        ),
        (
            "device.json",
            serde_json::json!([{"resourceType": "Device", "required": false, "schema": {}}]).to_string(),
            "entry 1: resourceType \"Device\" is neither \"User\" nor \"Group\"",
        ),
        (
            "unique.json",
            entry(serde_json::json!([string("badgeId", serde_json::json!({"uniqueness": "server"}))])).to_string(),
            "attribute 'badgeId': uniqueness must be \"none\"",
        ),
        (
            "canonical.json",
            entry(serde_json::json!([{"name": "level", "type": "integer", "multiValued": false, "canonicalValues": ["1"]}]))
                .to_string(),
            "attribute 'level': canonicalValues apply to string attributes only",
        ),
        (
            "shadow.json",
            entry(serde_json::json!([string("id", serde_json::json!({}))])).to_string(),
            "attribute 'id': 'id' is a common attribute",
        ),
    ];
    for (name, text, problem) in &cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        for lambda in [false, true] {
            let (code, said) = start(
                dir.path(),
                lambda,
                &[("SCIM_SCHEMA_EXTENSIONS", path.to_str().unwrap())],
            );
            assert_eq!(code, Some(1), "{name} (lambda {lambda}): {said}");
            let want = format!(
                "scim-lambda: SCIM_SCHEMA_EXTENSIONS: schema extensions file {}: ",
                path.display()
            );
            assert!(said.starts_with(&want), "{name} (lambda {lambda}): {said}");
            assert!(said.contains(problem), "{name} (lambda {lambda}): {said}");
        }
    }
}

#[test]
fn a_good_extensions_file_lets_the_start_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/schema-extensions.json"
    );
    let (code, said) = start(dir.path(), false, &[("SCIM_SCHEMA_EXTENSIONS", sample)]);
    // It got as far as listening, on the address `start` holds.
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("cannot listen on SCIM_LISTEN"), "{said}");
}

#[test]
fn a_missing_extensions_file_stops_the_start_and_under_lambda_is_looked_for_in_the_task_root() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.json");
    let (code, said) = start(
        dir.path(),
        false,
        &[("SCIM_SCHEMA_EXTENSIONS", missing.to_str().unwrap())],
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "SCIM_SCHEMA_EXTENSIONS: cannot read {}: ",
            missing.display()
        )),
        "{said}"
    );
    // Under Lambda a relative path names a file packaged with the function.
    let root = dir.path().join("task");
    let (code, said) = start(
        dir.path(),
        true,
        &[
            ("SCIM_SCHEMA_EXTENSIONS", "schema-extensions.json"),
            ("LAMBDA_TASK_ROOT", root.to_str().unwrap()),
        ],
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "cannot read {}",
            root.join("schema-extensions.json").display()
        )),
        "{said}"
    );
}
