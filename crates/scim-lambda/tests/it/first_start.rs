//! The `scim-lambda` binary as `make run` starts it: the first start issues a dev token and prints
//! it once; a restart prints none; the logs never hold it. Under Lambda the registry must be named.
#![allow(clippy::unwrap_used)] // tests may unwrap

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The server started in `dir` with no token settings, and its first two stdout lines.
fn start(dir: &Path) -> (Child, String, String) {
    let (child, base, tokens, _) = start_with_console(dir, &[]);
    (child, base, tokens)
}

/// The same, with these variables set too.
fn start_with(dir: &Path, vars: &[(&str, &str)]) -> (Child, String, String) {
    let (child, base, tokens, _) = start_with_console(dir, vars);
    (child, base, tokens)
}

/// The same, and the third line: the console's sign-in link.
fn start_with_console(dir: &Path, vars: &[(&str, &str)]) -> (Child, String, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scim-lambda"))
        .current_dir(dir)
        .env("SCIM_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .env_remove("SCIM_TOKEN_REGISTRY")
        .env_remove("SCIM_BOOTSTRAP_TOKEN")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut read_line = || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    };
    let base = read_line();
    let tokens = read_line();
    let console = read_line();
    let base = base.strip_prefix("SCIM base URL: ").unwrap().to_string();
    (child, base, tokens, console)
}

/// Stops the server and returns what it logged.
fn stop(mut child: Child) -> String {
    child.kill().unwrap();
    child.wait().unwrap();
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    logs
}

#[tokio::test]
async fn every_start_prints_a_new_console_link_that_works_once_and_is_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut links: Vec<String> = Vec::new();
    for _ in 0..2 {
        let (child, base, _, console) = start_with_console(dir.path(), &[]);
        let link = console.strip_prefix("console: ").unwrap().to_string();
        let origin = base.strip_suffix("/scim/v2").unwrap();
        assert!(link.starts_with(&format!("{origin}/admin/login?code=")), "{link}");
        let first = client.get(&link).send().await.unwrap();
        assert_eq!(first.status(), 200);
        assert!(first.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("scim_console="));
        let again = client.get(&link).send().await.unwrap();
        assert_eq!(again.status(), 401, "the link works once");
        if let Some(previous) = links.last() {
            let old: String = format!("{origin}/admin/login?code={}", code_of(previous));
            assert_eq!(
                client.get(&old).send().await.unwrap().status(),
                401,
                "a restart ends the old link"
            );
        }
        let logs = stop(child);
        assert!(!logs.contains(code_of(&link)), "the code reached the log");
        links.push(link);
    }
    assert_ne!(code_of(&links[0]), code_of(&links[1]));
}

fn code_of(link: &str) -> &str {
    link.rsplit_once("code=").unwrap().1
}

#[tokio::test]
async fn the_first_start_prints_a_dev_token_once_and_never_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base, line) = start(dir.path());
    let token = line.rsplit(' ').next().unwrap().to_string();
    assert!(token.starts_with("SCIM_"), "{line}");
    assert!(line.contains("tenant 'default'"), "{line}");
    let reply = reqwest::Client::new()
        .get(format!("{base}/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let logs = stop(child);
    assert!(logs.contains("request"), "the server logged: {logs}");
    assert!(!logs.contains(&token), "the token reached the log");

    let registry = std::fs::read_to_string(dir.path().join(".local/tokens.json")).unwrap();
    assert!(!registry.contains(&token), "the registry holds the hash only");

    // A restart issues no new token and prints none; the first one still works.
    let (child, base, line) = start(dir.path());
    assert!(!line.contains("SCIM_"), "{line}");
    assert!(line.contains("scimctl token create"), "{line}");
    let reply = reqwest::Client::new()
        .get(format!("{base}/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    stop(child);
    let after = std::fs::read_to_string(dir.path().join(".local/tokens.json")).unwrap();
    assert_eq!(after, registry);
}

#[test]
fn under_lambda_the_registry_must_be_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_scim-lambda"))
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env_remove("SCIM_TOKEN_REGISTRY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("SCIM_TOKEN_REGISTRY: required under AWS Lambda"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_local_bootstrap_token_works_and_is_warned_about_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base, line) = start_with(dir.path(), &[("SCIM_BOOTSTRAP_TOKEN", "SCIM_boot-local")]);
    assert!(line.contains("SCIM_BOOTSTRAP_TOKEN"), "{line}");
    let reply = reqwest::Client::new()
        .get(format!("{base}/Users"))
        .bearer_auth("SCIM_boot-local")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let logs = stop(child);
    let warning = logs
        .lines()
        .find(|l| l.contains("WARN") && l.contains("SCIM_BOOTSTRAP_TOKEN is set"))
        .unwrap_or_else(|| panic!("no warning in: {logs}"));
    assert!(warning.contains("for local use only"), "{warning}");
    assert!(!logs.contains("SCIM_boot-local"), "the token reached the log");
}

#[test]
fn under_lambda_the_bootstrap_token_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let registry = format!("file:{}", dir.path().join("tokens.json").display());
    let output = Command::new(env!("CARGO_BIN_EXE_scim-lambda"))
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("SCIM_STORE", "memory")
        .env("SCIM_TOKEN_REGISTRY", registry)
        .env("SCIM_CURSOR_KEY", "MDEyMzQ1Njc4OWFiY2RlZg==")
        .env("SCIM_BOOTSTRAP_TOKEN", "SCIM_boot-lambda")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("SCIM_BOOTSTRAP_TOKEN: refused under AWS Lambda"),
        "{stderr}"
    );
    assert!(!stderr.contains("SCIM_boot-lambda"), "{stderr}");
}

/// Logs written to a pipe (a file, `make run | tee`, a log shipper) carry no colour codes; the
/// request line of a refused request says why it was refused.
#[tokio::test]
async fn logs_to_a_pipe_have_no_colour_and_name_the_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let (child, base, _) = start(dir.path());
    let reply = reqwest::Client::new()
        .get(format!("{base}/Users"))
        .bearer_auth("SCIM_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    let logs = stop(child);
    assert!(!logs.contains('\u{1b}'), "colour codes in: {logs:?}");
    let line = logs
        .lines()
        .find(|l| l.contains(" request ") || l.ends_with(" request"))
        .unwrap_or_else(|| panic!("no request line in: {logs}"));
    assert!(line.contains("refused=\"unknown\""), "{line}");
}

/// A listen address already taken is named with the variable that sets it.
#[test]
fn an_address_in_use_names_scim_listen() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_scim-lambda"))
        .current_dir(dir.path())
        .env("SCIM_LISTEN", &address)
        .env_remove("SCIM_TOKEN_REGISTRY")
        .env_remove("SCIM_BOOTSTRAP_TOKEN")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let said = stderr
        .lines()
        .find(|l| l.starts_with("scim-lambda: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(said.contains(&format!("SCIM_LISTEN={address}")), "{said}");
    assert!(said.contains("in use"), "{said}");
}
