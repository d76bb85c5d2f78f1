//! `scimctl users show` against a table on moto: the user as the service renders it, with its
//! effective groups and roles.
#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common::{create, data, fresh_table, group, run, scimctl_on_moto, store_on_moto as store};
use scim_store::{ResourceKind, TenantId};
use serde_json::json;

const ACCESS: &str = "urn:scim-lambda:params:scim:schemas:extension:access:2.0:User";

#[tokio::test]
async fn show_prints_the_user_with_effective_groups_and_roles() {
    let table = fresh_table("scimctl-users-show");
    let s = store(&table);
    let t = TenantId::new("acme").unwrap();
    let alice = create(
        &s,
        &t,
        ResourceKind::User,
        json!({"userName": "alice", "password": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
               "roles": [{"value": "own"}]}),
        &[],
    )
    .await;
    let a = group(&s, &t, json!({"displayName": "A"}), &[&alice.id]).await;
    let b = group(&s, &t, json!({"displayName": "Engineering"}), &[&a.id]).await;
    let c = group(
        &s,
        &t,
        json!({"displayName": "Company", "externalId": "okta-C"}),
        &[&b.id],
    )
    .await;
    data(
        &table,
        &[
            "tenant",
            "set",
            "acme",
            "group_roles.engineering=developer",
            "group_roles.okta-C=employee",
        ],
    )
    .json();

    let shown = data(&table, &["users", "show", "acme", &alice.id]).json();
    assert_eq!(shown["id"], alice.id.as_str());
    assert_eq!(shown["userName"], "alice");
    assert!(shown.get("password").is_none(), "{shown}");
    assert_eq!(
        shown["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User", ACCESS])
    );
    assert_eq!(
        shown[ACCESS],
        json!({
            "effectiveRoles": ["developer", "employee", "own"],
            "effectiveGroups": [
                {"value": a.id, "display": "A", "type": "direct"},
                {"value": b.id, "display": "Engineering", "type": "indirect"},
                {"value": c.id, "display": "Company", "type": "indirect"},
            ]
        })
    );
    assert_eq!(
        shown["groups"],
        json!([{"value": a.id, "$ref": format!("/scim/v2/Groups/{}", a.id), "display": "A", "type": "direct"}])
    );
    assert_eq!(shown["meta"]["location"], format!("/scim/v2/Users/{}", alice.id));
    assert_eq!(shown["meta"]["version"], "W/\"1\"");

    // A user without groups has no extension; unknown ids and other tenants fail with exit 1.
    let bob = create(&s, &t, ResourceKind::User, json!({"userName": "bob"}), &[]).await;
    let shown = data(&table, &["users", "show", "acme", &bob.id]).json();
    assert!(shown.get(ACCESS).is_none(), "{shown}");
    for (tenant, id) in [
        ("acme", "no-such-user"),
        ("globex", alice.id.as_str()),
        ("acme", a.id.as_str()),
    ] {
        let out = data(&table, &["users", "show", tenant, id]);
        assert_eq!(out.code, 1, "{tenant} {id}: {}", out.stderr);
        assert!(out.stderr.contains(id), "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    let out = data(&table, &["users", "show", "no/such tenant", &alice.id]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// With `SCIM_SCHEMA_EXTENSIONS`, the file the server reads, a user's extension is rendered as
/// the service renders it: its URN in `schemas`, its `returned: never` values left out.
#[tokio::test]
async fn show_renders_the_operators_extensions() {
    const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/schema-extensions.json"
    );
    let table = fresh_table("scimctl-users-ext");
    let s = store(&table);
    let t = TenantId::new("acme").unwrap();
    let carol = create(
        &s,
        &t,
        ResourceKind::User,
        json!({"userName": "carol",
               ACME: {"costCenter": "CC-1", "doorPin": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}}),
        &[],
    )
    .await;
    let show = |extensions: &str| {
        run(scimctl_on_moto()
            .args(["users", "show", "acme", &carol.id])
            .env("SCIM_TABLE", &table)
            .env("SCIM_SCHEMA_EXTENSIONS", extensions)
            .output()
            .unwrap())
    };
    let shown = show(sample).json();
    assert_eq!(
        shown["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User", ACME])
    );
    assert_eq!(shown[ACME], json!({"costCenter": "CC-1"}));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    let out = show(bad.to_str().unwrap());
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "SCIM_SCHEMA_EXTENSIONS: schema extensions file {}: must be a JSON array",
            bad.display()
        )),
        "{}",
        out.stderr
    );
}
