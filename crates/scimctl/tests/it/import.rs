//! `scimctl import` against a table on moto: JSON lines and CSV, the report, dry runs, and exit
//! codes. What was imported is read back through the store.
#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common::{self, data, fresh_table, obj, store_on_moto};
use scim_store::prelude::*;
use scim_store::{Include, MemberChange, ResourceKind, StoreError, TenantId};
use serde_json::{json, Value};
use std::path::PathBuf;

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn report(out: &common::Run) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// (line, userName, outcome) of every reported line.
fn outcomes(report: &Value) -> Vec<(u64, Value, String)> {
    report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap(),
                l["userName"].clone(),
                l["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn jsonl_import_reports_every_line() {
    let table = fresh_table("scimctl-import");
    let store = store_on_moto(&table);
    store
        .create(
            &tenant(),
            ResourceKind::User,
            obj(json!({"userName": "managed@x.org"})),
            MemberChange::default(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "accounts.jsonl",
        concat!(
            r#"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@x.org", "name": {"givenName": "Ann"}, "emails": [{"value": "Ann@X.org", "primary": true}], "title": "Engineer"}"#,
            "\n\n",
            r#"{"userName": "Managed@x.org"}"#,
            "\n",
            r#"{"userName": "ANN@x.org"}"#,
            "\n",
            "not json\n",
            r#"{"displayName": "nameless"}"#,
            "\n",
            r#"{"userName": "bob@x.org", "active": "False"}"#,
            "\n"
        ),
    );
    let out = data(&table, &["import", "acme", path.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("4 of 6 lines were not imported"),
        "{}",
        out.stderr
    );
    let r = report(&out);
    assert_eq!(
        (r["tenant"].as_str(), r["dryRun"].as_bool()),
        (Some("acme"), Some(false))
    );
    assert_eq!(
        outcomes(&r),
        vec![
            (1, json!("ann@x.org"), "created".into()),
            (3, json!("Managed@x.org"), "conflict_managed".into()),
            (4, json!("ANN@x.org"), "duplicate_in_file".into()),
            (5, json!(null), "invalid".into()),
            (6, json!(null), "invalid".into()),
            (7, json!("bob@x.org"), "created".into()),
        ]
    );
    assert!(r["lines"][2]["detail"].as_str().unwrap().contains("line 1"));
    assert!(
        r["lines"][4]["detail"].as_str().unwrap().contains("userName"),
        "{}",
        r["lines"][4]
    );
    assert_eq!(
        r["totals"],
        json!({"lines": 6, "created": 2, "conflict_managed": 1, "duplicate_in_file": 1, "invalid": 2})
    );

    // Imported as unmanaged, normalised as the service normalises a POST; invisible to SCIM.
    let ann_id = r["lines"][0]["id"].as_str().unwrap();
    let ann = store.get_unmanaged(&tenant(), ann_id).await.unwrap();
    assert_eq!(ann.attrs["title"], "Engineer");
    assert!(ann.attrs.get("schemas").is_none());
    assert_eq!(
        store
            .get(&tenant(), ResourceKind::User, ann_id, Include::NONE)
            .await,
        Err(StoreError::NotFound)
    );
    let bob = store
        .find_unmanaged(&tenant(), &obj(json!({"userName": "BOB@x.org"})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.get_unmanaged(&tenant(), &bob.account).await.unwrap().attrs["active"],
        false
    );

    // Run again: the accounts are there already.
    let again = data(&table, &["import", "acme", path.to_str().unwrap()]);
    assert_eq!(again.code, 1);
    let r = report(&again);
    assert_eq!(r["lines"][0]["outcome"], "conflict_unmanaged");
    assert!(r["lines"][0]["detail"].as_str().unwrap().contains(ann_id));
    assert_eq!(r["totals"]["created"], json!(null));
}

#[tokio::test]
async fn csv_import_maps_the_columns() {
    let table = fresh_table("scimctl-import-csv");
    let store = store_on_moto(&table);
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "accounts.CSV",
        "userName,givenName,familyName,email,externalId,active\r\n\
         carol,Carol,\"King, Jr.\",Carol@x.org,c-1,true\r\n\
         dave,,,,,\r\n",
    );
    let out = data(&table, &["import", "acme", path.to_str().unwrap()]);
    let r = out.json();
    assert_eq!(
        outcomes(&r),
        vec![
            (2, json!("carol"), "created".into()),
            (3, json!("dave"), "created".into())
        ]
    );
    let carol = store
        .get_unmanaged(&tenant(), r["lines"][0]["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        Value::Object(carol.attrs),
        json!({"userName": "carol", "name": {"givenName": "Carol", "familyName": "King, Jr."},
               "emails": [{"value": "Carol@x.org", "type": "work", "primary": true}],
               "externalId": "c-1", "active": true})
    );
    // Matched by primary email, ignoring case: a second file's account with carol's email.
    let second = file(&dir, "more.txt", "userName,email\nerin,CAROL@x.org\n");
    let out = data(
        &table,
        &["import", "acme", second.to_str().unwrap(), "--format", "csv"],
    );
    assert_eq!(out.code, 1);
    assert_eq!(report(&out)["lines"][0]["outcome"], "conflict_unmanaged");
}

#[tokio::test]
async fn dry_run_writes_nothing_and_reports_conflicts() {
    let table = fresh_table("scimctl-import-dry");
    let store = store_on_moto(&table);
    store
        .create(
            &tenant(),
            ResourceKind::User,
            obj(json!({"userName": "managed"})),
            MemberChange::default(),
        )
        .await
        .unwrap();
    store
        .import_unmanaged(
            &tenant(),
            obj(json!({"userName": "old", "emails": [{"value": "old@x.org"}]})),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "accounts.ndjson",
        "{\"userName\": \"new\"}\n{\"userName\": \"MANAGED\"}\n{\"userName\": \"other\", \"emails\": [{\"value\": \"OLD@x.org\"}]}\n{\"userName\": \"New\"}\n",
    );
    let out = data(&table, &["import", "acme", path.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let r = report(&out);
    assert_eq!(r["dryRun"], true);
    assert_eq!(
        outcomes(&r),
        vec![
            (1, json!("new"), "would_create".into()),
            (2, json!("MANAGED"), "conflict_managed".into()),
            (3, json!("other"), "conflict_unmanaged".into()),
            (4, json!("New"), "duplicate_in_file".into()),
        ]
    );
    assert!(r["lines"][2]["detail"]
        .as_str()
        .unwrap()
        .contains("email 'old@x.org'"));
    assert_eq!(
        store
            .find_unmanaged(&tenant(), &obj(json!({"userName": "new"})))
            .await,
        Ok(None)
    );

    // Only importable lines: exit 0, and still nothing written.
    let clean = file(&dir, "clean.jsonl", "{\"userName\": \"new\"}\n");
    let r = data(&table, &["import", "acme", clean.to_str().unwrap(), "--dry-run"]).json();
    assert_eq!(r["totals"], json!({"lines": 1, "would_create": 1}));
    assert_eq!(
        store
            .find_unmanaged(&tenant(), &obj(json!({"userName": "new"})))
            .await,
        Ok(None)
    );
}

#[test]
fn unusable_files_fail_clearly() {
    let table = fresh_table("scimctl-import-bad");
    let dir = tempfile::tempdir().unwrap();
    let unknown = file(&dir, "accounts.xlsx", "userName\n");
    let out = data(&table, &["import", "acme", unknown.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--format"), "{}", out.stderr);

    let missing = dir.path().join("missing.jsonl");
    let out = data(&table, &["import", "acme", missing.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("cannot read"), "{}", out.stderr);

    let header = file(&dir, "bad.csv", "userName,colour\nann,blue\n");
    let out = data(&table, &["import", "acme", header.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("unknown column 'colour'"), "{}", out.stderr);
    assert_eq!(report(&out)["totals"], json!({"lines": 0}));

    let out = data(&table, &["import", "no/such tenant", header.to_str().unwrap()]);
    assert_eq!(out.code, 2);
}
