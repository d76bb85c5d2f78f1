//! `scimctl log` and the last-use columns of `scimctl token list` against a table on moto:
//! records seeded with the store's `append_log` (what the service's log writer calls), read back
//! by the built binary.
#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common::{create, data, fresh_table, run, scimctl_on_moto, store_on_moto, Run};
use scim_store::prelude::*;
use scim_store::{Idp, LogChange, LogMembers, LogRecord, ResourceKind, TenantId, TokenUse};
use serde_json::json;
use std::collections::BTreeSet;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use time::OffsetDateTime;

fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

/// A request `minutes_ago` minutes before now, by Okta with token `tok-okta`, that succeeded.
fn record(request_id: &str, minutes_ago: i64) -> LogRecord {
    let at = OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago);
    LogRecord {
        time: scim_store::timestamp(at),
        request_id: request_id.into(),
        tenant: "acme".into(),
        token_id: Some("tok-okta".into()),
        token_name: Some("Okta production".into()),
        client: Some("203.0.113.7".into()),
        idp: Idp::Okta,
        user_agent: Some("Okta SCIM Client 1.0.0".into()),
        method: "GET".into(),
        path: "/scim/v2/Users".into(),
        operation: "Users.list".into(),
        resource_type: None,
        resource_id: None,
        resource_name: None,
        status: 200,
        scim_type: None,
        detail: None,
        latency_ms: 7,
        changed: Vec::new(),
        members: None,
        request_body: None,
        response_body: None,
        operator: None,
        expires_at: (OffsetDateTime::now_utc() + time::Duration::days(30)).unix_timestamp(),
    }
}

fn created(request_id: &str, minutes_ago: i64, id: &str, name: &str) -> LogRecord {
    LogRecord {
        method: "POST".into(),
        operation: "Users.create".into(),
        resource_type: Some("User".into()),
        resource_id: Some(id.into()),
        resource_name: Some(name.into()),
        status: 201,
        latency_ms: 31,
        changed: ["userName", "active"]
            .map(|a| LogChange {
                attribute: a.into(),
                old: None,
                new: Some(json!(true)),
            })
            .to_vec(),
        ..record(request_id, minutes_ago)
    }
}

/// A create Entra sent with token `tok-entra` that was refused: no id, the name it asked for.
fn refused(request_id: &str, minutes_ago: i64, name: &str) -> LogRecord {
    LogRecord {
        token_id: Some("tok-entra".into()),
        token_name: Some("Entra".into()),
        idp: Idp::Entra,
        user_agent: Some("Azure Active Directory SCIM Client".into()),
        method: "POST".into(),
        operation: "Users.create".into(),
        resource_type: Some("User".into()),
        resource_name: Some(name.into()),
        status: 409,
        scim_type: Some("uniqueness".into()),
        detail: Some(format!("userName '{name}' is already taken")),
        latency_ms: 18,
        ..record(request_id, minutes_ago)
    }
}

fn group_patch(request_id: &str, minutes_ago: i64) -> LogRecord {
    LogRecord {
        method: "PATCH".into(),
        path: "/scim/v2/Groups/g-1".into(),
        operation: "Groups.patch".into(),
        resource_type: Some("Group".into()),
        resource_id: Some("g-1".into()),
        resource_name: Some("Engineering".into()),
        latency_ms: 240,
        members: Some(LogMembers::of(["u-1", "u-2"], ["u-3"])),
        ..record(request_id, minutes_ago)
    }
}

async fn append(table: &str, tenant: &TenantId, records: &[LogRecord]) {
    let store = store_on_moto(table);
    for r in records {
        store.append_log(tenant, r).await.unwrap();
    }
}

/// The JSON lines `log` printed, as records.
fn json_lines(out: &Run) -> Vec<LogRecord> {
    assert_eq!(out.code, 0, "stdout: {}\nstderr: {}", out.stdout, out.stderr);
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn log_prints_a_table_newest_first_and_json_lines() {
    let table = fresh_table("scimctl-log");
    let seeded = [
        created("req-create", 50, "u-1", "ada@example.com"),
        group_patch("req-patch", 40),
        refused("req-refused", 30, "bob"),
    ];
    append(&table, &acme(), &seeded).await;
    let other = TenantId::new("globex").unwrap();
    append(
        &table,
        &other,
        &[LogRecord {
            tenant: "globex".into(),
            ..record("req-globex", 20)
        }],
    )
    .await;

    let out = data(&table, &["log", "acme"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["TIME", "STATUS", "METHOD", "PATH", "IDP", "RESOURCE", "TOKEN", "MS"]
    );
    let [refused_row, patch_row, create_row] = [lines[1], lines[2], lines[3]];
    for (row, r, note) in [
        (
            refused_row,
            &seeded[2],
            "uniqueness: userName 'bob' is already taken",
        ),
        (patch_row, &seeded[1], "members +2 -1"),
        (create_row, &seeded[0], "userName, active"),
    ] {
        let words: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            words[..8],
            [
                r.time.as_str(),
                &r.status.to_string(),
                r.method.as_str(),
                r.path.as_str(),
                r.idp.name(),
                r.resource_name.as_deref().unwrap(),
                r.token_id.as_deref().unwrap(),
                &r.latency_ms.to_string(),
            ],
            "{row}"
        );
        assert_eq!(words[8..].join(" "), note, "{row}");
        // Columns line up under the header.
        assert_eq!(row.find(r.path.as_str()), lines[0].find("PATH"), "{row}");
    }
    assert!(!out.stdout.contains("req-globex") && !out.stdout.contains("globex"));

    let out = data(&table, &["log", "acme", "--json"]);
    let printed = json_lines(&out);
    let newest_first: Vec<LogRecord> = seeded.iter().rev().cloned().collect();
    assert_eq!(printed, newest_first);
    let first: serde_json::Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    for field in [
        "time",
        "tenant",
        "token_id",
        "idp",
        "method",
        "path",
        "status",
        "scim_type",
        "detail",
        "latency_ms",
        "request_id",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    let last: serde_json::Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["resource_id"], "u-1");
    assert_eq!(last["changed"][0]["attribute"], "userName");

    // A tenant with no records prints nothing on stdout.
    let out = data(&table, &["log", "initech"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{}", out.stderr);
}

#[tokio::test]
async fn log_filters_select_exactly() {
    let table = fresh_table("scimctl-log-filters");
    let store = store_on_moto(&table);
    let ada = create(
        &store,
        &acme(),
        ResourceKind::User,
        json!({"userName": "ada@example.com"}),
        &[],
    )
    .await;
    let bob = create(
        &store,
        &acme(),
        ResourceKind::User,
        json!({"userName": "bob@example.com"}),
        &[],
    )
    .await;
    append(
        &table,
        &acme(),
        &[
            refused("ada-refused", 180, "ADA@example.com"),
            created("ada-created", 170, &ada.id, "ada@example.com"),
            created("bob-created", 160, &bob.id, "bob@example.com"),
            record("list-1", 100),
            refused("carl-refused", 40, "carl@example.com"),
            group_patch("patch-1", 20),
            record("list-2", 10),
        ],
    )
    .await;
    let selected = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["log", "acme", "--json"];
        full.extend(args);
        json_lines(&data(&table, &full))
            .iter()
            .map(|r| r.request_id.clone())
            .collect()
    };
    assert_eq!(selected(&["--errors"]), ["carl-refused", "ada-refused"]);
    assert_eq!(
        selected(&["--resource", "ada@example.com"]),
        ["ada-created", "ada-refused"]
    );
    assert_eq!(selected(&["--resource", &bob.id]), ["bob-created"]);
    assert_eq!(selected(&["--resource", "nobody"]), Vec::<String>::new());
    assert_eq!(
        selected(&["--token", "tok-entra"]),
        ["carl-refused", "ada-refused"]
    );
    assert_eq!(
        selected(&["--token", "tok-entra", "--since", "1h"]),
        ["carl-refused"]
    );
    assert_eq!(
        selected(&["--since", "45m"]),
        ["list-2", "patch-1", "carl-refused"]
    );
    assert_eq!(selected(&["--limit", "2"]), ["list-2", "patch-1"]);
    assert_eq!(
        selected(&["--errors", "--resource", "ada@example.com"]),
        ["ada-refused"]
    );

    // RFC 3339 bounds, in any offset: exactly the records between them.
    let at = |minutes_ago: i64| {
        let t = OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago);
        t.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap())
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    assert_eq!(
        selected(&["--since", &at(165), "--until", &at(30)]),
        ["carl-refused", "list-1", "bob-created"]
    );
}

/// `scimctl log --follow` as a child process, its stdout lines arriving on a channel.
struct Following {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Following {
    fn start(table: &str, args: &[&str]) -> Following {
        let mut child = scimctl_on_moto()
            .args(["log", "acme", "--follow", "--interval", "1"])
            .args(args)
            .env("SCIM_TABLE", table)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Following { child, lines }
    }

    /// The next line, waiting at most a minute (a bound, not a measurement).
    fn next(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .expect("scimctl log --follow printed nothing more")
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn log_follow_prints_each_new_record_once_including_late_ones() {
    let table = fresh_table("scimctl-log-follow");
    append(&table, &acme(), &[record("before-1", 5), record("before-2", 3)]).await;
    let follow = Following::start(&table, &["--json", "--limit", "1"]);
    let request_id = |line: String| serde_json::from_str::<LogRecord>(&line).unwrap().request_id;
    assert_eq!(request_id(follow.next()), "before-2");

    // A new record, then one written late (older than the newest seen), then a marker: each is
    // printed once, in that order, and nothing else (before-1, cut by --limit, never is).
    append(&table, &acme(), &[record("new-1", 0)]).await;
    assert_eq!(request_id(follow.next()), "new-1");
    let late = LogRecord {
        time: scim_store::timestamp(OffsetDateTime::now_utc() - time::Duration::seconds(10)),
        ..record("late-1", 0)
    };
    append(&table, &acme(), &[late]).await;
    assert_eq!(request_id(follow.next()), "late-1");
    append(&table, &acme(), &[record("marker", 0)]).await;
    assert_eq!(request_id(follow.next()), "marker");
}

#[tokio::test]
async fn log_follow_in_a_table_prints_the_header_once() {
    let table = fresh_table("scimctl-log-follow-table");
    let follow = Following::start(&table, &[]);
    assert!(follow.next().starts_with("TIME "));
    append(&table, &acme(), &[refused("new-refused", 0, "ada@example.com")]).await;
    let row = follow.next();
    assert!(
        row.contains(" 409 ") && row.ends_with("uniqueness: userName 'ada@example.com' is already taken"),
        "{row}"
    );
    append(&table, &acme(), &[record("marker", 0)]).await;
    assert!(follow.next().contains(" GET "));
}

#[test]
fn log_needs_one_source_and_valid_options() {
    for (args, env) in [
        (vec!["log", "acme"], None),
        (
            vec!["log", "acme", "--table", "t", "--server", "http://127.0.0.1:1"],
            None,
        ),
        (vec!["log", "acme", "--server", "http://127.0.0.1:1"], Some("t")),
        (vec!["log", "acme", "--since", "yesterday"], Some("t")),
        (vec!["log", "acme", "--until", "5m"], Some("t")),
        (
            vec![
                "log",
                "acme",
                "--since",
                "2026-12-06T05:00:00Z",
                "--until",
                "2026-12-06T04:00:00Z",
            ],
            Some("t"),
        ),
        (vec!["log", "acme", "--limit", "0"], Some("t")),
        (vec!["log", "acme", "--limit", "1001"], Some("t")),
        (
            vec!["log", "acme", "--follow", "--until", "2026-12-06T04:00:00Z"],
            Some("t"),
        ),
        (vec!["log", "acme", "--interval", "5"], Some("t")),
        (vec!["log", "no/such tenant"], Some("t")),
        (vec!["log", "acme", "--server", "https://example.com"], None),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_scimctl"));
        command
            .args(&args)
            .env_remove("SCIM_ADMIN_URL")
            .env_remove("SCIM_TABLE");
        if let Some(table) = env {
            command.env("SCIM_TABLE", table);
        }
        let out = run(command.output().unwrap());
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty() && !out.stderr.is_empty(), "{args:?}");
    }
}

#[tokio::test]
async fn token_list_shows_when_and_from_where_each_token_was_last_used() {
    let table = fresh_table("scimctl-token-uses");
    let dir = tempfile::tempdir().unwrap();
    let registry = format!("file:{}", dir.path().join("tokens.json").display());
    let token = |args: &[&str]| {
        run(scimctl_on_moto()
            .arg("token")
            .args(args)
            .env("SCIM_TOKEN_REGISTRY", &registry)
            .output()
            .unwrap())
    };
    let mut ids = Vec::new();
    for (name, tenant) in [("okta", "acme"), ("entra", "acme"), ("globex-okta", "globex")] {
        let out = token(&["create", "--name", name, "--expires", "30d", "--tenant", tenant]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let id = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("id"))
            .unwrap()
            .trim()
            .to_string();
        ids.push(id);
    }
    let store = store_on_moto(&table);
    let used = TokenUse {
        token_id: ids[0].clone(),
        last_used: "2026-12-06T04:59:58.123Z".into(),
        client: Some("203.0.113.7".into()),
    };
    store.record_token_use(&acme(), &used).await.unwrap();
    // The same id under another tenant is not acme's token's use.
    let elsewhere = TokenUse {
        token_id: ids[1].clone(),
        ..used.clone()
    };
    store
        .record_token_use(&TenantId::new("globex").unwrap(), &elsewhere)
        .await
        .unwrap();

    let out = token(&["list", "--table", &table]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["ID", "NAME", "TENANT", "EXPIRES", "STATE", "LAST", "USED", "FROM"]
    );
    let row = |id: &str| rows.iter().find(|r| r[0] == id).unwrap()[5..].to_vec();
    assert_eq!(row(&ids[0]), ["2026-12-06T04:59:58Z", "203.0.113.7"]);
    assert_eq!(row(&ids[1]), ["-", "-"]);
    assert_eq!(row(&ids[2]), ["-", "-"]);
    // Without a table the list is as before.
    let out = token(&["list"]);
    assert!(
        out.stdout.lines().next().unwrap().ends_with("STATE"),
        "{}",
        out.stdout
    );
    let ids_listed: BTreeSet<&str> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(ids_listed, ids.iter().map(String::as_str).collect());
}
