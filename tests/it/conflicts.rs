//! Existing accounts (`scimctl import`) meeting a `POST /Users`: the tenant's `conflict_policy`
//! decides between adopting the account (`link`) and a 409 for review (`review`), as
//! docs/lifecycle.md says. Unmanaged accounts and settings are seeded through the server's store,
//! and conflicts are resolved there, as `scimctl` does. Each test runs on both stores.
#![allow(clippy::unwrap_used)] // tests may unwrap

use scim_blackbox::urn::{ENTERPRISE, USER};
use scim_blackbox::{default_tenant, okta_user, on_both_stores, Server};
use scim_store::{ConflictPolicy, ConflictScope, Resolution, TenantSettings};
use serde_json::{json, Map, Value};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

async fn set_policy(s: &Server, policy: ConflictPolicy) {
    s.put_settings(&TenantSettings {
        conflict_policy: policy,
        ..TenantSettings::default()
    })
    .await;
}

/// Imports an account as `scimctl import` does; its id.
async fn import(s: &Server, attrs: Value) -> String {
    s.store
        .import_unmanaged(&default_tenant(), obj(attrs))
        .await
        .unwrap()
        .id
}

fn lookup(user_name: &str) -> String {
    format!("/Users?filter=userName%20eq%20%22{user_name}%22")
}

on_both_stores!(link_policy_adopts_the_imported_account);
async fn link_policy_adopts_the_imported_account() {
    let s = Server::start().await;
    set_policy(&s, ConflictPolicy::Link).await;
    let id = import(
        &s,
        json!({"userName": "Dade.Murphy@example.com", "title": "Security Engineer",
               "name": {"givenName": "D", "familyName": "Murphy", "formatted": "D. Murphy"}}),
    )
    .await;
    // Invisible until adopted: Okta's lookup finds nothing, so it POSTs.
    s.get(&format!("/Users/{id}")).await.assert_error(404, None);
    let found = s.get(&lookup("dade.murphy@example.com")).await;
    assert_eq!(found.assert_status(200)["totalResults"], 0);

    let r = s.post("/Users", &okta_user("dade.murphy@example.com")).await;
    let user = r.assert_status(201).clone();
    assert_eq!(user["id"], id.as_str());
    // The POST's attributes win per top-level attribute; the imported ones it lacks stay.
    assert_eq!(user["userName"], "dade.murphy@example.com");
    assert_eq!(user["name"], json!({"givenName": "Dade", "familyName": "Murphy"}));
    assert_eq!(user["title"], "Security Engineer");
    assert_eq!(user["externalId"], "00ujl29u0le5T6Aj10h7");
    assert!(user.get("password").is_none());
    assert_eq!(user["meta"]["version"], "W/\"2\"");
    assert_eq!(r.header("location"), user["meta"]["location"].as_str());

    let got = s.get(&format!("/Users/{id}")).await;
    assert_eq!(got.assert_status(200)["title"], "Security Engineer");
    assert_eq!(
        s.get(&lookup("dade.murphy@example.com")).await.body["Resources"][0]["id"],
        id.as_str()
    );
    // Now a managed user: a second POST is a plain duplicate.
    let again = s.post("/Users", &okta_user("dade.murphy@example.com")).await;
    again.assert_error(409, Some("uniqueness"));
    assert!(
        !again.body["detail"].as_str().unwrap().contains("conflict"),
        "{}",
        again.text
    );
    assert!(s
        .store
        .list_conflicts(&default_tenant(), ConflictScope::Open)
        .await
        .unwrap()
        .is_empty());
}

on_both_stores!(review_policy_refuses_until_an_administrator_links);
async fn review_policy_refuses_until_an_administrator_links() {
    let s = Server::start().await;
    let id = import(
        &s,
        json!({"userName": "dade.murphy@example.com", "title": "Imported"}),
    )
    .await;

    let r = s.post("/Users", &okta_user("Dade.Murphy@example.com")).await;
    r.assert_error(409, Some("uniqueness"));
    let conflicts = s
        .store
        .list_conflicts(&default_tenant(), ConflictScope::Open)
        .await
        .unwrap();
    assert_eq!(conflicts.len(), 1);
    let c = &conflicts[0];
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains(&c.id), "{detail}");
    assert!(detail.contains("scimctl conflicts list"), "{detail}");
    assert_eq!((c.unmanaged_id.as_str(), c.attempts), (id.as_str(), 1));
    assert_eq!(c.user_name, "Dade.Murphy@example.com");
    assert!(!c.posted.contains_key("password"));
    // Nothing was created.
    assert_eq!(s.get("/Users").await.body["totalResults"], 0);

    // The IdP retries: the same conflict, one more attempt.
    s.post("/Users", &okta_user("Dade.Murphy@example.com"))
        .await
        .assert_error(409, Some("uniqueness"));
    let conflicts = s
        .store
        .list_conflicts(&default_tenant(), ConflictScope::Open)
        .await
        .unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        (conflicts[0].id.as_str(), conflicts[0].attempts),
        (c.id.as_str(), 2)
    );

    // `scimctl conflicts link`: the next retry adopts the account.
    s.store
        .resolve_conflict(&default_tenant(), &c.id, Resolution::Link)
        .await
        .unwrap();
    let r = s.post("/Users", &okta_user("Dade.Murphy@example.com")).await;
    let user = r.assert_status(201);
    assert_eq!(user["id"], id.as_str());
    assert_eq!(user["title"], "Imported");
    assert!(s
        .store
        .list_conflicts(&default_tenant(), ConflictScope::Open)
        .await
        .unwrap()
        .is_empty());
    s.get(&format!("/Users/{id}")).await.assert_status(200);
}

on_both_stores!(after_a_reject_the_retry_creates_a_new_user);
async fn after_a_reject_the_retry_creates_a_new_user() {
    let s = Server::start().await;
    let id = import(&s, json!({"userName": "dade.murphy@example.com"})).await;
    s.post("/Users", &okta_user("dade.murphy@example.com"))
        .await
        .assert_error(409, Some("uniqueness"));
    let c = s
        .store
        .list_conflicts(&default_tenant(), ConflictScope::Open)
        .await
        .unwrap()
        .remove(0);
    let rejected = s
        .store
        .resolve_conflict(&default_tenant(), &c.id, Resolution::Reject)
        .await
        .unwrap();
    assert_eq!(rejected.status.name(), "rejected");

    let r = s.post("/Users", &okta_user("dade.murphy@example.com")).await;
    let user = r.assert_status(201);
    assert_ne!(user["id"], id.as_str());
    assert_eq!(user["meta"]["version"], "W/\"1\"");
    // The account is kept, set aside.
    let aside = s.store.get_unmanaged(&default_tenant(), &id).await.unwrap();
    assert!(aside.set_aside.is_some());
}

on_both_stores!(entra_post_matches_on_the_primary_work_email);
async fn entra_post_matches_on_the_primary_work_email() {
    let s = Server::start().await;
    set_policy(&s, ConflictPolicy::Link).await;
    let id = import(
        &s,
        json!({"userName": "alovelace", "emails": [{"value": "Ada.Lovelace@contoso.com", "type": "work", "primary": true}]}),
    )
    .await;
    let entra = json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": "ada",
        "userName": "ada@contoso.onmicrosoft.com",
        "active": "True",
        "displayName": "Ada Lovelace",
        "emails": [
            {"primary": false, "type": "home", "value": "ada@example.org"},
            {"primary": true, "type": "work", "value": "ada.lovelace@contoso.com"}
        ],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
        ENTERPRISE: {"department": "Analytical Engines"}
    });
    let r = s.post("/Users", &entra).await;
    let user = r.assert_status(201);
    assert_eq!(user["id"], id.as_str());
    assert_eq!(user["userName"], "ada@contoso.onmicrosoft.com");
    assert_eq!(user["active"], true);
    assert_eq!(user[ENTERPRISE]["department"], "Analytical Engines");

    // Under review, an email match names the email.
    set_policy(&s, ConflictPolicy::Review).await;
    import(
        &s,
        json!({"userName": "grace", "emails": [{"value": "grace@contoso.com"}]}),
    )
    .await;
    let mut body = entra.clone();
    body["userName"] = json!("grace.hopper@contoso.onmicrosoft.com");
    body["emails"][1]["value"] = json!("Grace@contoso.com");
    let r = s.post("/Users", &body).await;
    r.assert_error(409, Some("uniqueness"));
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("email 'grace@contoso.com'"), "{detail}");
}

on_both_stores!(a_duplicate_of_a_managed_user_is_409_whatever_the_policy);
async fn a_duplicate_of_a_managed_user_is_409_whatever_the_policy() {
    for policy in [ConflictPolicy::Review, ConflictPolicy::Link] {
        let s = Server::start().await;
        set_policy(&s, policy).await;
        let id = s.create_user("dade.murphy@example.com").await;
        // An unmanaged account sharing the email does not change that.
        import(
            &s,
            json!({"userName": "dmurphy", "emails": [{"value": "dade.murphy@example.com"}]}),
        )
        .await;
        let r = s.post("/Users", &okta_user("DADE.MURPHY@example.com")).await;
        r.assert_error(409, Some("uniqueness"));
        assert!(
            s.store
                .list_conflicts(&default_tenant(), ConflictScope::Open)
                .await
                .unwrap()
                .is_empty(),
            "{policy:?}"
        );
        assert_eq!(s.get("/Users").await.body["totalResults"], 1, "{policy:?}");
        s.get(&format!("/Users/{id}")).await.assert_status(200);
    }
}
