//! `scimctl users deleted|restore` against a table on moto, seeded through the store itself.
#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common::{create, data, fresh_table, group, store_on_moto as store};
use scim_store::prelude::*;
use scim_store::{Expect, Include, ResourceKind, TenantId};
use serde_json::json;

fn in_days(days: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::days(days)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_lists_and_restore_brings_back() {
    let table = fresh_table("scimctl-users");
    let s = store(&table);
    let t = TenantId::new("acme").unwrap();
    let alice = create(
        &s,
        &t,
        ResourceKind::User,
        json!({"userName": "alice@example.com", "externalId": "00u1", "title": "Engineer",
               "password": "$argon2id$hash"}),
        &[],
    )
    .await;
    let bob = create(&s, &t, ResourceKind::User, json!({"userName": "bob"}), &[]).await;
    let staff = group(&s, &t, json!({"displayName": "Staff"}), &[&alice.id]).await;
    let gone = group(&s, &t, json!({"displayName": "Gone"}), &[&alice.id]).await;
    let purge = in_days(30);
    s.delete_user_soft(&t, &alice.id, Expect::Any, purge)
        .await
        .unwrap();
    s.delete_user_soft(&t, &bob.id, Expect::Any, in_days(-1))
        .await
        .unwrap();

    let listed = data(&table, &["users", "deleted", "acme"]).json();
    let kept = s.deleted_users(&t).await.unwrap();
    let mut groups = vec![staff.id.clone(), gone.id.clone()];
    groups.sort();
    assert_eq!(
        listed,
        json!([{"id": alice.id, "userName": "alice@example.com", "externalId": "00u1",
                "deleted": kept[0].deleted, "purgeAfter": kept[0].purge_after, "groups": groups}]),
        "the expired one is not listed"
    );
    assert!(data(&table, &["users", "deleted", "globex"])
        .json()
        .as_array()
        .unwrap()
        .is_empty());

    s.delete(&t, ResourceKind::Group, &gone.id, Expect::Any)
        .await
        .unwrap();
    let restored = data(&table, &["users", "restore", "acme", &alice.id]).json();
    assert_eq!(restored["id"], alice.id);
    assert_eq!(restored["userName"], "alice@example.com");
    assert_eq!(restored["title"], "Engineer");
    assert!(restored.get("password").is_none(), "{restored}");
    assert_eq!(restored["meta"]["version"], "W/\"2\"");
    assert_eq!(
        restored["groups"],
        json!([{"value": staff.id, "$ref": format!("/scim/v2/Groups/{}", staff.id),
                "display": "Staff", "type": "direct"}])
    );
    let back = s
        .get(&t, ResourceKind::User, &alice.id, Include::ALL)
        .await
        .unwrap();
    assert_eq!(back.version, 2);
    let members = s
        .get(&t, ResourceKind::Group, &staff.id, Include::ALL)
        .await
        .unwrap();
    assert_eq!(members.members.unwrap()[0].value, alice.id);
    assert!(data(&table, &["users", "deleted", "acme"])
        .json()
        .as_array()
        .unwrap()
        .is_empty());

    // Restored already, expired, or never deleted: exit 1 with a message.
    for id in [alice.id.as_str(), bob.id.as_str(), "no-such-id"] {
        let out = data(&table, &["users", "restore", "acme", id]);
        assert_eq!(out.code, 1, "{id}: {}", out.stderr);
        assert!(out.stderr.contains("keeps no deleted user"), "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_is_refused_while_the_user_name_is_taken() {
    let table = fresh_table("scimctl-users-taken");
    let s = store(&table);
    let t = TenantId::new("acme").unwrap();
    let alice = create(&s, &t, ResourceKind::User, json!({"userName": "alice"}), &[]).await;
    s.delete_user_soft(&t, &alice.id, Expect::Any, in_days(30))
        .await
        .unwrap();
    let newcomer = create(&s, &t, ResourceKind::User, json!({"userName": "Alice"}), &[]).await;

    let out = data(&table, &["users", "restore", "acme", &alice.id]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("userName"), "{}", out.stderr);
    assert!(out.stderr.contains(&alice.id), "{}", out.stderr);
    let listed = data(&table, &["users", "deleted", "acme"]).json();
    assert_eq!(listed[0]["id"], alice.id, "still kept");

    s.delete(&t, ResourceKind::User, &newcomer.id, Expect::Any)
        .await
        .unwrap();
    assert_eq!(
        data(&table, &["users", "restore", "acme", &alice.id]).json()["id"],
        alice.id
    );
}

#[test]
fn bad_tenant_is_a_usage_error() {
    let table = fresh_table("scimctl-users-usage");
    let out = data(&table, &["users", "deleted", "no/such tenant"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = data(&table, &["users", "restore", "acme"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}
