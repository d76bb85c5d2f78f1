//! `DELETE /Users/{id}` under each `delete_mode` (the tenant setting), over a real listener.
//! Either way the client sees RFC 7644 §3.6: 204, then 404, and the userName free again; soft
//! mode keeps a restorable record, hard mode keeps nothing. Groups are always deleted for good.
//! Each test runs on both stores.
// Tests may unwrap (`allow-unwrap-in-tests` misses them: `on_both_stores!` runs plain functions).
#![allow(clippy::unwrap_used)]

use scim_blackbox::{default_tenant, on_both_stores, Server, OTHER_TOKEN};
use scim_store::{DeleteMode, Include, ResourceKind, StoreError, TenantSettings};
use serde_json::json;

async fn set_mode(s: &Server, mode: DeleteMode) {
    s.put_settings(&TenantSettings {
        delete_mode: mode,
        ..TenantSettings::default()
    })
    .await;
}

/// DELETE answers 204, and from then on the user is gone for the client: GET 404, absent from
/// lists and filters, and its userName can be POSTed again (a new id).
async fn delete_then_gone(s: &Server, name: &str, id: &str, group: &str) {
    assert_eq!(s.delete(&format!("/Users/{id}")).await.status.as_u16(), 204);
    s.get(&format!("/Users/{id}")).await.assert_error(404, None);
    let found = s
        .get(&format!("/Users?filter=userName%20eq%20%22{name}%22"))
        .await;
    assert_eq!(found.assert_status(200)["totalResults"], 0);
    let members = s.get(&format!("/Groups/{group}")).await;
    assert!(
        members.assert_status(200).get("members").is_none(),
        "{}",
        members.text
    );
    // A second DELETE finds nothing.
    s.delete(&format!("/Users/{id}")).await.assert_error(404, None);
    let again = s.create_user(name).await;
    assert_ne!(again, id);
}

on_both_stores!(soft_delete_is_gone_for_the_client_and_kept_for_the_operator);
async fn soft_delete_is_gone_for_the_client_and_kept_for_the_operator() {
    let s = Server::start().await;
    // Soft is the default: no settings written.
    let id = s.create_user("alice@example.com").await;
    let group = s.create_group("Staff", &[&id]).await;
    delete_then_gone(&s, "alice@example.com", &id, &group).await;

    let kept = s.store.deleted_users(&default_tenant()).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, id);
    assert_eq!(kept[0].attrs["userName"], "alice@example.com");
    assert_eq!(kept[0].groups, vec![group.clone()]);
    // Another tenant's client sees nothing of it.
    let other = s.as_token(OTHER_TOKEN);
    other.get(&format!("/Users/{id}")).await.assert_error(404, None);

    // An operator can restore it once its userName is free again.
    let newcomer = s
        .get("/Users?filter=userName%20eq%20%22alice@example.com%22")
        .await;
    let newcomer = newcomer.body["Resources"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(s.delete(&format!("/Users/{newcomer}")).await.status.as_u16(), 204);
    let restored = s.store.restore_user(&default_tenant(), &id).await.unwrap();
    assert_eq!(restored.version, 2);
    let back = s.get(&format!("/Users/{id}")).await;
    let body = back.assert_status(200);
    assert_eq!(body["userName"], "alice@example.com");
    assert_eq!(body["meta"]["version"], "W/\"2\"");
    assert_eq!(body["groups"][0]["value"], group);
}

on_both_stores!(hard_delete_is_gone_and_keeps_nothing);
async fn hard_delete_is_gone_and_keeps_nothing() {
    let s = Server::start().await;
    set_mode(&s, DeleteMode::Hard).await;
    let id = s.create_user("bob@example.com").await;
    let group = s.create_group("Staff", &[&id]).await;
    delete_then_gone(&s, "bob@example.com", &id, &group).await;
    assert!(s.store.deleted_users(&default_tenant()).await.unwrap().is_empty());
    assert!(s.store.restore_user(&default_tenant(), &id).await.is_err());
}

on_both_stores!(if_match_is_honoured_in_both_modes);
/// RFC 7644 §3.14: a DELETE with a stale `If-Match` is 412 and deletes nothing, in both modes;
/// with the current version it deletes.
async fn if_match_is_honoured_in_both_modes() {
    let s = Server::start().await;
    for (mode, name) in [(DeleteMode::Soft, "carol"), (DeleteMode::Hard, "dave")] {
        set_mode(&s, mode).await;
        let id = s.create_user(name).await;
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Engineer"}]});
        s.patch(&format!("/Users/{id}"), &patch).await.assert_status(200);
        let delete = |version: &'static str| {
            let id = id.clone();
            let s = &s;
            async move {
                s.send(|c, base| {
                    c.delete(format!("{base}/Users/{id}"))
                        .header("authorization", s.bearer())
                        .header("if-match", version)
                })
                .await
            }
        };
        delete("W/\"1\"").await.assert_error(412, None);
        let still = s.get(&format!("/Users/{id}")).await;
        assert_eq!(still.assert_status(200)["title"], "Engineer", "{mode:?}");
        assert!(s
            .store
            .deleted_users(&default_tenant())
            .await
            .unwrap()
            .iter()
            .all(|d| d.id != id));
        assert_eq!(delete("W/\"2\"").await.status.as_u16(), 204, "{mode:?}");
        s.get(&format!("/Users/{id}")).await.assert_error(404, None);
        let kept = s.store.deleted_users(&default_tenant()).await.unwrap();
        assert_eq!(
            kept.iter().any(|d| d.id == id),
            mode == DeleteMode::Soft,
            "{mode:?}"
        );
    }
}

on_both_stores!(groups_are_always_deleted_hard);
/// Groups are deleted for good whatever the mode; their members stay.
async fn groups_are_always_deleted_hard() {
    let s = Server::start().await;
    let id = s.create_user("erin").await;
    let group = s.create_group("Staff", &[&id]).await;
    assert_eq!(s.delete(&format!("/Groups/{group}")).await.status.as_u16(), 204);
    s.get(&format!("/Groups/{group}")).await.assert_error(404, None);
    assert!(s.store.deleted_users(&default_tenant()).await.unwrap().is_empty());
    let user = s.get(&format!("/Users/{id}")).await;
    assert!(user.assert_status(200).get("groups").is_none(), "{}", user.text);
    let stored = s
        .store
        .get(&default_tenant(), ResourceKind::Group, &group, Include::NONE)
        .await;
    assert_eq!(stored, Err(StoreError::NotFound));
}
