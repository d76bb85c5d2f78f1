//! `scimctl` end to end: the built binary against a registry file in a temporary directory.
#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common::{run, scimctl_on_moto, Run};
use std::path::Path;
use std::process::Command;

fn scimctl(registry: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_scimctl"))
        .args(args)
        .env("SCIM_TOKEN_REGISTRY", format!("file:{}", registry.display()))
        .output()
        .unwrap();
    run(output)
}

/// The value after `key` in create's `key   value` lines.
fn field<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
        .unwrap()
}

fn list_rows(registry: &Path) -> Vec<Vec<String>> {
    let list = scimctl(registry, &["token", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let mut lines = list.stdout.lines();
    assert!(lines.next().unwrap().starts_with("ID  "));
    // The name may contain spaces: split id off the front and the last three columns off the back.
    lines
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let n = words.len();
            vec![
                words[0].to_string(),
                words[1..n - 3].join(" "),
                words[n - 3].to_string(),
                words[n - 2].to_string(),
                words[n - 1].to_string(),
            ]
        })
        .collect()
}

#[test]
fn create_list_rotate_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("tokens.json");

    let created = scimctl(
        &registry,
        &["token", "create", "--name", "Okta production", "--expires", "90d"],
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let token = created.stdout.lines().next().unwrap().to_string();
    assert!(token.starts_with("SCIM_") && token.len() == 48, "{token}");
    assert_eq!(created.stdout.matches(&token).count(), 1, "shown exactly once");
    assert!(created.stderr.contains("registry: file:"));
    let okta = field(&created.stdout, "id").to_string();
    assert_eq!(field(&created.stdout, "tenant"), "default");

    let other = scimctl(
        &registry,
        &[
            "token",
            "create",
            "--name",
            "Entra",
            "--expires",
            "2099-12-31",
            "--tenant",
            "acme",
        ],
    );
    assert_eq!(other.code, 0, "{}", other.stderr);
    assert_eq!(field(&other.stdout, "expires"), "2100-01-01T00:00:00Z");

    let stored = std::fs::read_to_string(&registry).unwrap();
    assert!(!stored.contains(&token), "the registry holds hashes only");
    let json: serde_json::Value = serde_json::from_str(&stored).unwrap();
    let hash = json["tokens"][0]["sha256"].as_str().unwrap().to_string();

    let rows = list_rows(&registry);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0], okta);
    assert_eq!(rows[0][1], "Okta production");
    assert_eq!(rows[0][2], "default");
    assert_eq!(rows[0][4], "active");
    assert_eq!(rows[1][1..], ["Entra", "acme", "2100-01-01T00:00:00Z", "active"]);
    let list = scimctl(&registry, &["token", "list"]).stdout;
    assert!(!list.contains(&token) && !list.contains(&hash));

    let rotated = scimctl(&registry, &["token", "rotate", &okta, "--grace", "0"]);
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let successor = field(&rotated.stdout, "id").to_string();
    assert_eq!(
        field(&rotated.stdout, "name"),
        format!("Okta production (successor of {okta})")
    );

    let revoked = scimctl(&registry, &["token", "revoke", &successor]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);

    let states: Vec<(String, String)> = list_rows(&registry)
        .into_iter()
        .map(|r| (r[0].clone(), r[4].clone()))
        .collect();
    assert!(states.contains(&(okta, "expired".into())), "{states:?}");
    assert!(states.contains(&(successor, "revoked".into())), "{states:?}");
}

/// A relative `file:` registry is resolved against the working directory and printed as the
/// absolute path used, with a warning while the file does not exist yet (run from the wrong
/// directory, the command would start a second registry the server never reads). create and
/// revoke say when running services see the change.
#[test]
fn a_file_registry_is_named_by_its_absolute_path_and_changes_say_when_they_apply() {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = |args: &[&str]| {
        run(Command::new(env!("CARGO_BIN_EXE_scimctl"))
            .current_dir(dir.path())
            .env("SCIM_TOKEN_REGISTRY", "file:tokens.json")
            .args(args)
            .output()
            .unwrap())
    };
    let absolute = dir.path().canonicalize().unwrap().join("tokens.json");
    let named = format!("registry: file:{}", absolute.display());

    let listed = in_dir(&["token", "list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stderr.contains(&named), "{}", listed.stderr);
    assert!(listed.stderr.contains("does not exist yet"), "{}", listed.stderr);
    assert!(!absolute.exists(), "a list creates nothing");

    let created = in_dir(&["token", "create", "--name", "Okta", "--expires", "30d"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(created.stderr.contains(&named), "{}", created.stderr);
    assert!(
        created.stderr.contains("does not exist yet"),
        "{}",
        created.stderr
    );
    assert!(absolute.exists());
    assert!(
        created.stdout.contains("within SCIM_TOKEN_REFRESH_MIN_SECONDS"),
        "{}",
        created.stdout
    );

    let revoked = in_dir(&["token", "revoke", field(&created.stdout, "id")]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert!(revoked.stderr.contains(&named), "{}", revoked.stderr);
    assert!(!revoked.stderr.contains("does not exist"), "{}", revoked.stderr);
    assert!(
        revoked
            .stdout
            .contains("within SCIM_TOKEN_REVOCATION_CHECK_SECONDS"),
        "{}",
        revoked.stdout
    );
}

#[test]
fn the_registry_option_overrides_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let from_env = dir.path().join("env.json");
    let from_option = dir.path().join("option.json");
    let option = format!("file:{}", from_option.display());
    let created = scimctl(
        &from_env,
        &[
            "token",
            "create",
            "--name",
            "n",
            "--expires",
            "30d",
            "--registry",
            &option,
        ],
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(from_option.exists());
    assert!(!from_env.exists());
}

#[test]
fn errors_say_what_is_wrong_and_exit_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("tokens.json");
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["token", "revoke", "0123456789abcdef"],
            1,
            "no token has the id '0123456789abcdef'",
        ),
        (&["token", "rotate", "nope"], 1, "no token has the id 'nope'"),
        (
            &["token", "create", "--name", "x", "--expires", "soon"],
            2,
            "--expires: 'soon' is not an expiry",
        ),
        (
            &["token", "create", "--name", "x", "--expires", "2001-01-01"],
            2,
            "is not in the future",
        ),
        (
            &["token", "create", "--name", " ", "--expires", "30d"],
            2,
            "invalid token name",
        ),
        (
            &[
                "token",
                "create",
                "--name",
                "x",
                "--expires",
                "30d",
                "--tenant",
                "a b",
            ],
            2,
            "invalid tenant",
        ),
        (
            &["token", "rotate", "x", "--grace", "1w"],
            2,
            "--grace: '1w' is not a grace period",
        ),
        (
            &["token", "list", "--registry", "tokens.json"],
            2,
            "--registry / SCIM_TOKEN_REGISTRY",
        ),
        (&["token", "create", "--name", "x"], 2, "--expires"),
        (&["token"], 2, "Usage: scimctl token"),
        (&["frobnicate"], 2, "unrecognized subcommand"),
    ];
    for (args, code, message) in cases {
        let r = scimctl(&registry, args);
        assert_eq!(r.code, *code, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
    assert!(!registry.exists(), "a failed command writes nothing");
}

#[test]
fn help_describes_every_token_command() {
    let help = run(Command::new(env!("CARGO_BIN_EXE_scimctl"))
        .args(["token", "--help"])
        .output()
        .unwrap());
    assert_eq!(help.code, 0);
    for command in [
        "create",
        "list",
        "revoke",
        "rotate",
        "--registry",
        "SCIM_TOKEN_REGISTRY",
    ] {
        assert!(help.stdout.contains(command), "{command}: {}", help.stdout);
    }
}

#[test]
fn table_create_makes_the_table_once() {
    let name = scim_testkit::unique_name("scimctl-table");
    let create = || {
        run(scimctl_on_moto()
            .args(["table", "create", "--table", &name])
            .output()
            .unwrap())
    };
    let first = create();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.stdout.trim(), format!("created table {name}"));
    let again = create();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout.trim(), format!("table {name} already exists"));
}

#[test]
fn table_create_needs_a_table_name() {
    let out = run(Command::new(env!("CARGO_BIN_EXE_scimctl"))
        .args(["table", "create"])
        .env_remove("SCIM_TABLE")
        .output()
        .unwrap());
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// On AWS the registry is a secret and `SCIM_TABLE` names the service's table: every write moves
/// the table's token generation on, which is what makes running services notice a revocation
/// within seconds. Without a table the write still happens, and scimctl says what that means.
#[tokio::test]
async fn token_writes_to_a_secret_move_the_tables_generation_on() {
    use scim_auth::GenerationMarker;
    let table = crate::common::fresh_table("tokens");
    let registry = format!("secretsmanager:{}", scim_testkit::unique_name("scim-tokens"));
    let marker = scim_dynamodb::TokenGeneration::new(scim_testkit::dynamodb::client(), &table);
    let token = |args: &[&str], table: Option<&str>| {
        let mut command = scimctl_on_moto();
        command
            .arg("token")
            .args(args)
            .env("SCIM_TOKEN_REGISTRY", &registry);
        if let Some(table) = table {
            command.env("SCIM_TABLE", table);
        }
        run(command.output().unwrap())
    };
    assert_eq!(marker.read().await.unwrap(), None);

    let created = token(&["create", "--name", "Okta", "--expires", "30d"], Some(&table));
    assert_eq!(created.code, 0, "{}", created.stderr);
    let after_create = marker.read().await.unwrap().expect("moved on by the create");
    let revoked = token(&["revoke", field(&created.stdout, "id")], Some(&table));
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    let after_revoke = marker.read().await.unwrap().expect("a generation");
    assert_ne!(after_revoke, after_create, "moved on by the revoke");

    let untracked = token(&["create", "--name", "Entra", "--expires", "30d"], None);
    assert_eq!(untracked.code, 0, "{}", untracked.stderr);
    assert!(
        untracked.stderr.contains("no --table / SCIM_TABLE"),
        "{}",
        untracked.stderr
    );
    assert_eq!(marker.read().await.unwrap(), Some(after_revoke));
}

/// `scimctl token list | head -1` when `head` has gone: the listing ends quietly, without a
/// panic. The read end of the pipe is closed before scimctl starts, so every write fails.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("tokens.json");
    for name in ["one", "two", "three"] {
        let created = scimctl(
            &registry,
            &["token", "create", "--name", name, "--expires", "30d"],
        );
        assert_eq!(created.code, 0, "{}", created.stderr);
    }
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_scimctl"))
        .args(["token", "list"])
        .env("SCIM_TOKEN_REGISTRY", format!("file:{}", registry.display()))
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}
