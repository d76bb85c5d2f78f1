//! `scimctl reindex` against a table on moto: a user's `userName` index item rewritten to its
//! pre-NFC key (as a release before the NFC change wrote it) is moved; tenants come from the
//! token registry with `--all-tenants`; a duplicate fails the command and is left alone.
#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common::{create, data, fresh_table, run, scimctl_on_moto, store_on_moto as store};
use aws_sdk_dynamodb::types::AttributeValue;
use scim_store::{ResourceKind, TenantId};
use serde_json::json;
use std::collections::HashMap;

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.into())),
        ("sk".to_string(), AttributeValue::S(sk.into())),
    ])
}

/// Gives user `id` the `userName` `name`, with its unique index item under the pre-NFC key
/// `old` in place of `new` and no sort keys: the user as a release before both wrote it.
async fn legacy_user_name(table: &str, id: &str, name: &str, new: &str, old: &str) {
    let client = scim_testkit::dynamodb::client();
    client
        .update_item()
        .table_name(table)
        .set_key(Some(key("T#acme#USERS", id)))
        // An earlier release wrote no sort keys either.
        .update_expression("SET a = :a REMOVE ord_un, ord_dn, ord_xid, ord_c, ord_m")
        .expression_attribute_values(":a", AttributeValue::S(json!({"userName": name}).to_string()))
        .send()
        .await
        .unwrap();
    let prefix = "T#acme#X#User#userName#";
    client
        .delete_item()
        .table_name(table)
        .set_key(Some(key(&format!("{prefix}{new}"), "#")))
        .send()
        .await
        .unwrap();
    let mut item = key(&format!("{prefix}{old}"), "#");
    item.insert("id".into(), AttributeValue::S(id.into()));
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

fn report(
    tenant: &str,
    dry_run: bool,
    users: u64,
    moved: u64,
    sort_keys: u64,
    conflicts: serde_json::Value,
) -> serde_json::Value {
    let mut r = json!({"tenant": tenant, "dryRun": dry_run,
                       "examined": {"users": users, "groups": 0, "unmanagedAccounts": 0},
                       "conflicts": conflicts, "changedMeanwhile": []});
    r[if dry_run { "keysToMove" } else { "keysMoved" }] = json!(moved);
    r[if dry_run { "sortKeysToSet" } else { "sortKeysSet" }] = json!(sort_keys);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_moves_keys_and_fails_on_a_duplicate() {
    let table = fresh_table("scimctl-reindex");
    let s = store(&table);
    let t = TenantId::new("acme").unwrap();
    let jose = create(
        &s,
        &t,
        ResourceKind::User,
        json!({"userName": "placeholder-1"}),
        &[],
    )
    .await;
    legacy_user_name(&table, &jose.id, "Jose\u{301}", "placeholder-1", "jose\u{301}").await;

    let dir = tempfile::tempdir().unwrap();
    let registry = format!("file:{}", dir.path().join("tokens.json").display());
    for tenant in ["globex", "acme", "acme"] {
        let created = run(scimctl_on_moto()
            .args([
                "token",
                "create",
                "--registry",
                &registry,
                "--name",
                "okta",
                "--expires",
                "30d",
            ])
            .args(["--tenant", tenant])
            .output()
            .unwrap());
        assert_eq!(created.code, 0, "{}", created.stderr);
    }
    let all = ["reindex", "--all-tenants", "--registry", registry.as_str()];
    let dry = data(&table, &[&all[..], &["--dry-run"]].concat()).json();
    assert_eq!(
        dry,
        json!([
            report("acme", true, 1, 1, 1, json!([])),
            report("globex", true, 0, 0, 0, json!([]))
        ])
    );
    let done = data(&table, &all).json();
    assert_eq!(
        done,
        json!([
            report("acme", false, 1, 1, 1, json!([])),
            report("globex", false, 0, 0, 0, json!([]))
        ])
    );
    let again = data(&table, &["reindex", "--tenant", "acme"]).json();
    assert_eq!(again, json!([report("acme", false, 1, 0, 0, json!([]))]));

    // A second user, "JOSE\u{301}" before NFC: one name with the first now.
    let twin = create(
        &s,
        &t,
        ResourceKind::User,
        json!({"userName": "placeholder-2"}),
        &[],
    )
    .await;
    legacy_user_name(&table, &twin.id, "JOSE\u{301}", "placeholder-2", "jose\u{301}").await;
    let failed = data(&table, &["reindex", "--tenant", "acme"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("1 duplicate"), "{}", failed.stderr);
    let conflict = json!([{"resourceType": "User", "attribute": "userName", "value": "jos\u{e9}",
                           "id": twin.id, "heldBy": jose.id}]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&failed.stdout).unwrap(),
        // The duplicate's key stays where it is; its sort keys are set all the same.
        json!([report("acme", false, 2, 0, 1, conflict)])
    );
}

#[test]
fn tenants_are_named_or_all() {
    let table = fresh_table("scimctl-reindex-usage");
    for args in [
        &["reindex"][..],
        &["reindex", "--tenant", "acme", "--all-tenants"],
        &["reindex", "--tenant", "no/such"],
    ] {
        let out = data(&table, args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    }
}
