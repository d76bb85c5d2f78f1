//! One provisioning sequence with failed writes mixed in, and the change events it must produce:
//! `it/events.rs` checks them on the embedded store (`SCIM_EVENTS=file:`),
//! `it/dynamodb_events.rs` through the DynamoDB stream, the processor and EventBridge on moto.

use crate::patch_op;
use crate::urn::ENTERPRISE;
use crate::Server;
use reqwest::Method;
use scim_store::events::ChangeEvent;
use scim_store::{DeleteMode, TenantSettings};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What a test compares of an event: type, resource id, changed attributes, member id, and the
/// time where the response told it (`meta.lastModified`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub event_type: String,
    pub resource_id: String,
    pub changed_attributes: Vec<String>,
    pub member_id: Option<String>,
    pub time: Option<String>,
    /// `user.deleted`: how (`soft` or `hard`).
    pub mode: Option<DeleteMode>,
}

impl Expected {
    fn new(
        event_type: &str,
        resource_id: &str,
        changed: &[&str],
        member_id: Option<&str>,
        time: Option<&Value>,
    ) -> Self {
        Expected {
            event_type: event_type.into(),
            resource_id: resource_id.into(),
            changed_attributes: changed.iter().map(|c| c.to_string()).collect(),
            member_id: member_id.map(str::to_string),
            time: time.and_then(Value::as_str).map(str::to_string),
            mode: None,
        }
    }

    fn deleted(user: &str, mode: DeleteMode) -> Self {
        Expected {
            mode: Some(mode),
            ..Expected::new("user.deleted", user, &[], None, None)
        }
    }

    /// The comparable part of an event; `time` only where the expectation has one.
    pub fn matches(&self, e: &ChangeEvent) -> bool {
        self.event_type == e.event_type.as_str()
            && self.resource_id == e.resource_id
            && self.changed_attributes == e.changed_attributes
            && self.member_id == e.member_id
            && self.time.as_ref().is_none_or(|t| *t == e.time)
            && self.mode == e.mode
    }
}

/// Runs the sequence on `s` (tenant `default`) and returns the events it must have produced, in
/// commit order.
pub async fn provisioning_sequence(s: &Server) -> Vec<Expected> {
    let mut want = Vec::new();
    let alice = s
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "alice",
                    "active": true, "name": {"givenName": "Alice"}}),
        )
        .await;
    let a = alice.assert_status(201)["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    want.push(Expected::new(
        "user.created",
        &a,
        &["active", "name", "userName"],
        None,
        Some(&alice.body["meta"]["lastModified"]),
    ));

    let r = s
        .patch(
            &format!("/Users/{a}"),
            &patch_op(json!([{"op": "replace", "path": "title", "value": "Engineer"},
                          {"op": "add", "path": format!("{ENTERPRISE}:department"), "value": "R&D"}])),
        )
        .await;
    let dept = format!("{ENTERPRISE}:department");
    want.push(Expected::new(
        "user.updated",
        &a,
        &["title", &dept],
        None,
        Some(&r.assert_status(200)["meta"]["lastModified"]),
    ));
    // Entra's deactivation: a string boolean, and with it another attribute.
    let r = s
        .patch(
            &format!("/Users/{a}"),
            &patch_op(json!([{"op": "Replace", "path": "active", "value": "False"},
                          {"op": "replace", "path": "title", "value": "Former engineer"}])),
        )
        .await;
    want.push(Expected::new(
        "user.deactivated",
        &a,
        &["active", "title"],
        None,
        Some(&r.assert_status(200)["meta"]["lastModified"]),
    ));
    let r = s
        .patch(
            &format!("/Users/{a}"),
            &patch_op(json!([{"op": "replace", "value": {"active": true}}])),
        )
        .await;
    want.push(Expected::new(
        "user.reactivated",
        &a,
        &["active"],
        None,
        Some(&r.assert_status(200)["meta"]["lastModified"]),
    ));
    // The same PATCH again changes nothing: no event.
    s.patch(
        &format!("/Users/{a}"),
        &patch_op(json!([{"op": "replace", "value": {"active": true}}])),
    )
    .await
    .assert_status(200);

    let b = s.create_user("bob").await;
    want.push(Expected::new(
        "user.created",
        &b,
        &["active", "userName"],
        None,
        None,
    ));

    let group = s
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng",
                    "members": [{"value": a}]}),
        )
        .await;
    let g = group.assert_status(201)["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    want.push(Expected::new(
        "group.created",
        &g,
        &["displayName"],
        None,
        Some(&group.body["meta"]["lastModified"]),
    ));
    want.push(Expected::new(
        "group.member_added",
        &g,
        &["members"],
        Some(&a),
        None,
    ));
    s.patch(
        &format!("/Groups/{g}"),
        &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": b}]}])),
    )
    .await
    .assert_status(204);
    want.push(Expected::new(
        "group.member_added",
        &g,
        &["members"],
        Some(&b),
        None,
    ));
    s.patch(
        &format!("/Groups/{g}"),
        &patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{a}\"]")}])),
    )
    .await
    .assert_status(204);
    want.push(Expected::new(
        "group.member_removed",
        &g,
        &["members"],
        Some(&a),
        None,
    ));
    let r = s
        .patch(
            &format!("/Groups/{g}?attributes=displayName"),
            &patch_op(json!([{"op": "replace", "path": "displayName", "value": "Engineering"}])),
        )
        .await;
    want.push(Expected::new(
        "group.renamed",
        &g,
        &["displayName"],
        None,
        Some(&r.assert_status(200)["meta"]["lastModified"]),
    ));

    // Failed writes: none makes an event.
    s.post("/Users", &json!({"userName": "ALICE"}))
        .await
        .assert_error(409, Some("uniqueness"));
    let stale = s
        .send(|c, base| {
            c.put(format!("{base}/Users/{a}"))
                .header("authorization", s.bearer())
                .header("if-match", "W/\"1\"")
                .header("content-type", "application/scim+json")
                .body(json!({"userName": "alice", "title": "Stale"}).to_string())
        })
        .await;
    stale.assert_error(412, None);
    s.patch(
        &format!("/Users/{a}"),
        &patch_op(json!([{"op": "frobnicate", "path": "title"}])),
    )
    .await
    .assert_error(400, Some("invalidSyntax"));
    s.patch(
        &format!("/Groups/{g}"),
        &patch_op(json!([{"op": "add", "path": "members",
                       "value": [{"value": b}, {"value": "00000000-0000-0000-0000-000000000000"}]}])),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    s.call(
        Method::DELETE,
        "/Users/00000000-0000-0000-0000-000000000000",
        None,
    )
    .await
    .assert_error(404, None);

    // Deleting a member takes it out of its groups first.
    s.delete(&format!("/Users/{b}")).await.assert_status(204);
    want.push(Expected::new(
        "group.member_removed",
        &g,
        &["members"],
        Some(&b),
        None,
    ));
    // The default delete_mode is soft.
    want.push(Expected::deleted(&b, DeleteMode::Soft));
    s.delete(&format!("/Groups/{g}")).await.assert_status(204);
    want.push(Expected::new("group.deleted", &g, &[], None, None));
    // A DELETE refused for its If-Match: no event.
    s.send(|c, base| {
        c.delete(format!("{base}/Users/{a}"))
            .header("authorization", s.bearer())
            .header("if-match", "W/\"1\"")
    })
    .await
    .assert_error(412, None);
    s.put_settings(&TenantSettings {
        delete_mode: DeleteMode::Hard,
        ..TenantSettings::default()
    })
    .await;
    s.delete(&format!("/Users/{a}")).await.assert_status(204);
    want.push(Expected::deleted(&a, DeleteMode::Hard));
    want
}

/// Events and expectations by what DynamoDB Streams keeps in order: one resource item, or one
/// membership (group, member). Order between different items is not defined there.
pub fn per_item<T: Clone>(
    items: &[T],
    key: impl Fn(&T) -> (String, Option<String>),
) -> BTreeMap<(String, Option<String>), Vec<T>> {
    let mut out: BTreeMap<(String, Option<String>), Vec<T>> = BTreeMap::new();
    for i in items {
        out.entry(key(i)).or_default().push(i.clone());
    }
    out
}

/// Asserts that `got` are exactly the `want`ed events, in order per item, each once, with the
/// body fields every event has.
#[track_caller]
pub fn assert_events(got: &[ChangeEvent], want: &[Expected]) {
    let got_by = per_item(got, |e| (e.resource_id.clone(), e.member_id.clone()));
    let want_by = per_item(want, |e| (e.resource_id.clone(), e.member_id.clone()));
    assert_eq!(
        got_by.keys().collect::<Vec<_>>(),
        want_by.keys().collect::<Vec<_>>(),
        "events for other items than expected: {got:#?}"
    );
    for (key, w) in &want_by {
        let g = &got_by[key];
        assert!(
            g.len() == w.len() && w.iter().zip(g).all(|(w, g)| w.matches(g)),
            "events of {key:?}:\n got {g:#?}\n want {w:#?}"
        );
    }
    for e in got {
        assert_eq!(e.tenant, "default");
        let kind = if e.event_type.as_str().starts_with("user.") {
            "User"
        } else {
            "Group"
        };
        assert_eq!(e.resource_type, kind);
        assert_eq!(e.member_type.is_some(), e.member_id.is_some());
    }
    let mut ids: Vec<&str> = got.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "event ids are unique");
}
