//! `scimctl conflicts list|link|reject` against a table on moto, end to end: accounts imported
//! with `scimctl import`, POSTs refused by the service's create path (`scim_store::create_user`,
//! driven directly on the same table: it is what `POST /Users` runs), resolved with the CLI, and
//! the retried POSTs adopting or not adopting the accounts.
#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common::{data, fresh_table, obj, store_on_moto};
use scim_store::prelude::*;
use scim_store::{create_user, CreateOutcome, TenantId};
use serde_json::{json, Value};

fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

#[tokio::test]
async fn list_link_and_reject() {
    let table = fresh_table("scimctl-conflicts");
    let store = store_on_moto(&table);
    let dir = tempfile::tempdir().unwrap();
    let accounts = dir.path().join("accounts.csv");
    std::fs::write(
        &accounts,
        "userName,email,givenName\nann,ann@x.org,Ann\nben,ben@x.org,Ben\n",
    )
    .unwrap();
    let imported = data(&table, &["import", "acme", accounts.to_str().unwrap()]).json();
    let ann_id = imported["lines"][0]["id"].as_str().unwrap().to_string();
    let ben_id = imported["lines"][1]["id"].as_str().unwrap().to_string();
    assert_eq!(data(&table, &["conflicts", "list", "acme"]).json(), json!([]));

    // The IdP POSTs (policy review, the default): refused, recorded; ann's POST is retried.
    let post = |name: &str| obj(json!({"userName": name, "active": true, "password": "secret-hash"}));
    for name in ["Ann", "ann", "ben"] {
        let outcome = create_user(&store, &tenant(), post(name)).await.unwrap();
        assert!(matches!(outcome, CreateOutcome::Conflict(_)), "{outcome:?}");
    }
    let listed = data(&table, &["conflicts", "list", "acme"]).json();
    let list = listed.as_array().unwrap();
    assert_eq!(list.len(), 2, "{listed}");
    let find = |id: &str| -> Value { list.iter().find(|c| c["unmanagedId"] == id).unwrap().clone() };
    let ann = find(&ann_id);
    assert_eq!(ann["matchedAttribute"], "userName");
    assert_eq!(ann["matchedValue"], "ann");
    assert_eq!(ann["userName"], "ann");
    assert_eq!(ann["attempts"], 2);
    assert_eq!(ann["status"], "open");
    assert_eq!(ann["posted"], json!({"userName": "ann", "active": true}));
    assert!(ann["firstAttempt"].as_str().unwrap() <= ann["lastAttempt"].as_str().unwrap());
    let ben = find(&ben_id);
    assert_eq!(ben["attempts"], 1);
    // Another tenant sees none of them.
    assert_eq!(data(&table, &["conflicts", "list", "globex"]).json(), json!([]));

    let linked = data(
        &table,
        &["conflicts", "link", "acme", ann["id"].as_str().unwrap()],
    )
    .json();
    assert_eq!(linked["status"], "approved");
    assert!(linked["resolved"].is_string());
    let rejected = data(
        &table,
        &["conflicts", "reject", "acme", ben["id"].as_str().unwrap()],
    )
    .json();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(data(&table, &["conflicts", "list", "acme"]).json(), json!([]));
    // --all shows the resolved ones too, as they were decided.
    let all = data(&table, &["conflicts", "list", "acme", "--all"]).json();
    let mut decided: Vec<(Value, Value)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["unmanagedId"].clone(), c["status"].clone()))
        .collect();
    decided.sort_by_key(|(id, _)| id.to_string());
    let mut want = vec![
        (json!(ann_id), json!("approved")),
        (json!(ben_id), json!("rejected")),
    ];
    want.sort_by_key(|(id, _)| id.to_string());
    assert_eq!(decided, want, "{all}");
    assert!(
        all.as_array().unwrap().iter().all(|c| c["resolved"].is_string()),
        "{all}"
    );

    // The IdP's retries: ann's adopts the imported account, ben's creates a new user.
    let CreateOutcome::Adopted(a) = create_user(&store, &tenant(), post("ann")).await.unwrap() else {
        panic!("the approved conflict adopts")
    };
    assert_eq!(a.id, ann_id);
    assert_eq!(a.attrs["name"], json!({"givenName": "Ann"}));
    let CreateOutcome::Created(b) = create_user(&store, &tenant(), post("ben")).await.unwrap() else {
        panic!("the rejected account no longer matches")
    };
    assert_ne!(b.id, ben_id);
    assert!(store
        .get_unmanaged(&tenant(), &ben_id)
        .await
        .unwrap()
        .set_aside
        .is_some());

    // Decisions are final: the opposite one fails, an unknown id fails, both with exit 1.
    let out = data(
        &table,
        &["conflicts", "reject", "acme", ann["id"].as_str().unwrap()],
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("already approved"), "{}", out.stderr);
    let out = data(
        &table,
        &["conflicts", "link", "acme", "0123456789abcdef0123456789abcdef"],
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("has no conflict"), "{}", out.stderr);
    let out = data(
        &table,
        &["conflicts", "link", "globex", ann["id"].as_str().unwrap()],
    );
    assert_eq!(out.code, 1);
    let out = data(&table, &["conflicts", "list", "no/such"]);
    assert_eq!(out.code, 2);
}
