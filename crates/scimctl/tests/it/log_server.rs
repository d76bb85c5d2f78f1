//! `scimctl log --server`: the log of a real local server on the embedded store, read through
//! its admin API, as `make run` users read it.
#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common::run;
use scim_blackbox::{urn, Server};
use serde_json::{json, Value};
use std::process::Command;

/// `scimctl log default --server <root> <args>` against `server`, off the runtime's threads.
async fn log(server: &Server, args: &[&str]) -> crate::common::Run {
    let root = server.base.trim_end_matches("/scim/v2").to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        run(Command::new(env!("CARGO_BIN_EXE_scimctl"))
            .args(["log", "default", "--server", &root])
            .args(&args)
            .env_remove("SCIM_TABLE")
            .env_remove("SCIM_ADMIN_URL")
            .output()
            .unwrap())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn log_reads_a_local_servers_records_as_a_table_and_as_json() {
    let s = Server::start().await;
    let id = s.create_user("ada@example.com").await;
    let again = json!({"schemas": [urn::USER], "userName": "ada@example.com"});
    s.post("/Users", &again)
        .await
        .assert_error(409, Some("uniqueness"));
    s.flush_log().await;

    let table = log(&s, &[]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two records:\n{}", table.stdout);
    for column in [
        "TIME", "STATUS", "METHOD", "PATH", "IDP", "RESOURCE", "TOKEN", "MS",
    ] {
        assert!(lines[0].contains(column), "{}", lines[0]);
    }
    assert!(
        lines[1].contains("409") && lines[1].contains("uniqueness"),
        "newest first: {}",
        lines[1]
    );
    assert!(
        lines[2].contains("201") && lines[2].contains("ada@example.com"),
        "{}",
        lines[2]
    );

    let json = log(&s, &["--json"]).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let records: Vec<Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    let (refused, created) = (&records[0], &records[1]);
    for r in &records {
        for field in [
            "time",
            "tenant",
            "token_id",
            "idp",
            "method",
            "path",
            "status",
            "latency_ms",
            "request_id",
        ] {
            assert!(r.get(field).is_some(), "{field} in {r}");
        }
        assert_eq!(
            (r["tenant"].as_str(), r["token_id"].as_str()),
            (Some("default"), Some("test-default"))
        );
    }
    assert_eq!(
        (refused["status"].as_u64(), refused["scim_type"].as_str()),
        (Some(409), Some("uniqueness"))
    );
    assert!(refused["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(
        (created["resource_id"].as_str(), created["method"].as_str()),
        (Some(id.as_str()), Some("POST"))
    );
    assert!(created["changed"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["attribute"] == "userName")));

    let errors = log(&s, &["--errors", "--json"]).await;
    assert_eq!(errors.stdout.lines().count(), 1, "{}", errors.stdout);
    let none = log(&s, &["--token", "someone-else", "--json"]).await;
    assert_eq!((none.code, none.stdout.as_str()), (0, ""));
}
