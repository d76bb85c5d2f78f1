//! Unit tests of what the contract suite cannot see: the events each write publishes, cycle
//! details, and the indexes agreeing with a scan.

#![allow(clippy::unwrap_used)] // tests may unwrap

use super::*;
use crate::{now, DeletedUserStore, Expect, MemberChange, Paging, Query, ResourceStore, UnmanagedStore};
use scim_proto::schema::Schema;
use serde_json::json;

fn store() -> MemoryStore {
    MemoryStore::new(Arc::new(SchemaRegistry::standard()))
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn add(ids: &[&str]) -> MemberChange {
    MemberChange {
        add: ids.iter().map(|id| (id.to_string(), None)).collect(),
        ..MemberChange::default()
    }
}

/// Each event's type, resource id and member id, the parts these tests compare.
fn summary(events: &[crate::events::ChangeEvent]) -> Vec<(crate::events::EventType, &str, Option<&str>)> {
    events
        .iter()
        .map(|e| (e.event_type, e.resource_id.as_str(), e.member_id.as_deref()))
        .collect()
}

/// Keeps what it is given.
#[derive(Debug, Default)]
struct Collect(std::sync::Mutex<Vec<crate::events::ChangeEvent>>);

impl EventSink for Collect {
    fn publish(&self, events: &[crate::events::ChangeEvent]) {
        self.0.lock().unwrap().extend_from_slice(events);
    }
}

/// Each committed write publishes its events, in order, with the store's own timestamps;
/// failed writes and writes that change nothing publish none.
#[tokio::test]
async fn committed_writes_publish_their_events() {
    use crate::events::{DeleteMode, EventType::*};
    let sink = Arc::new(Collect::default());
    let s = store().with_events(sink.clone());
    let t = TenantId::new("t").unwrap();
    let none = MemberChange::default;
    let u = s
        .create(&t, ResourceKind::User, obj(json!({"userName": "a"})), none())
        .await
        .unwrap();
    let u2 = s
        .update(
            &t,
            ResourceKind::User,
            &u.id,
            Expect::Version(1),
            obj(json!({"userName": "a", "active": false})),
            none(),
        )
        .await
        .unwrap();
    // Nothing changes, a stale version, a taken userName: no events.
    s.update(
        &t,
        ResourceKind::User,
        &u.id,
        Expect::Any,
        u2.attrs.clone(),
        none(),
    )
    .await
    .unwrap();
    s.update(
        &t,
        ResourceKind::User,
        &u.id,
        Expect::Version(1),
        obj(json!({"userName": "b"})),
        none(),
    )
    .await
    .unwrap_err();
    s.create(&t, ResourceKind::User, obj(json!({"userName": "A"})), none())
        .await
        .unwrap_err();
    let g = s
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "G"})),
            add(&[&u.id]),
        )
        .await
        .unwrap();
    s.create(
        &t,
        ResourceKind::Group,
        obj(json!({"displayName": "H"})),
        add(&["nobody"]),
    )
    .await
    .unwrap_err();
    s.delete(&t, ResourceKind::User, &u.id, Expect::Any)
        .await
        .unwrap();
    let events = sink.0.lock().unwrap().clone();
    let got = summary(&events);
    assert_eq!(
        got,
        [
            (UserCreated, u.id.as_str(), None),
            (UserDeactivated, &u.id, None),
            (GroupCreated, &g.id, None),
            (GroupMemberAdded, &g.id, Some(u.id.as_str())),
            (GroupMemberRemoved, &g.id, Some(&u.id)),
            (UserDeleted, &u.id, None),
        ]
    );
    assert_eq!(events[1].time, u2.last_modified);
    assert_eq!(events[1].changed_attributes, ["active"]);
    assert_eq!(events[3].time, g.last_modified);
    assert_eq!(events[5].mode, Some(DeleteMode::Hard));
    assert!(events[5].time >= u2.last_modified);
}

/// Soft delete, restore and adoption are the user's deletion, restoration and creation.
#[tokio::test]
async fn lifecycle_changes_publish_their_events() {
    use crate::events::{DeleteMode, EventType::*};
    let sink = Arc::new(Collect::default());
    let s = store().with_events(sink.clone());
    let t = TenantId::new("t").unwrap();
    let u = s
        .create(
            &t,
            ResourceKind::User,
            obj(json!({"userName": "a"})),
            MemberChange::default(),
        )
        .await
        .unwrap();
    let g = s
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "G"})),
            add(&[&u.id]),
        )
        .await
        .unwrap();
    let purge = OffsetDateTime::now_utc() + time::Duration::days(1);
    s.delete_user_soft(&t, &u.id, Expect::Any, purge).await.unwrap();
    s.restore_user(&t, &u.id).await.unwrap();
    let imported = s
        .import_unmanaged(&t, obj(json!({"userName": "b"})))
        .await
        .unwrap();
    s.adopt_unmanaged(&t, &imported, Expect::Any, obj(json!({"userName": "b"})))
        .await
        .unwrap();
    let events = sink.0.lock().unwrap().clone();
    let got = summary(&events);
    assert_eq!(
        got,
        [
            (UserCreated, u.id.as_str(), None),
            (GroupCreated, &g.id, None),
            (GroupMemberAdded, &g.id, Some(u.id.as_str())),
            (GroupMemberRemoved, &g.id, Some(&u.id)),
            (UserDeleted, &u.id, None),
            (UserRestored, &u.id, None),
            (GroupMemberAdded, &g.id, Some(&u.id)),
            (UserCreated, &imported.id, None),
        ]
    );
    assert_eq!(events[4].mode, Some(DeleteMode::Soft));
}

#[tokio::test]
async fn cycle_detail_names_the_cycle() {
    let s = store();
    let t = TenantId::new("t").unwrap();
    let mut ids = Vec::new();
    for name in ["A", "B", "C"] {
        let g = s
            .create(
                &t,
                ResourceKind::Group,
                obj(json!({"displayName": name})),
                MemberChange::default(),
            )
            .await
            .unwrap();
        ids.push(g.id);
    }
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    let attrs = obj(json!({"displayName": "x"}));
    s.update(&t, ResourceKind::Group, a, Expect::Any, attrs.clone(), add(&[b]))
        .await
        .unwrap();
    s.update(&t, ResourceKind::Group, b, Expect::Any, attrs.clone(), add(&[c]))
        .await
        .unwrap();
    let e = s
        .update(&t, ResourceKind::Group, c, Expect::Any, attrs.clone(), add(&[a]))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        StoreError::InvalidMember(format!(
            "adding group '{a}' to group '{c}' would create a cycle: {c} > {a} > {b} > {c}; {}",
            scim_proto::hint::GROUP_CYCLE
        ))
    );
    let e = s
        .update(&t, ResourceKind::Group, a, Expect::Any, attrs, add(&[a]))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        StoreError::InvalidMember(format!(
            "adding group '{a}' to group '{a}' would create a cycle: {a} > {a}; {}",
            scim_proto::hint::GROUP_CYCLE
        ))
    );
}

/// Uniqueness comes from the schema: a custom extension attribute marked `server` and
/// `caseExact` is unique, compared exactly.
#[tokio::test]
async fn uniqueness_follows_the_schema() {
    let urn = "urn:example:params:scim:schemas:extension:acme:2.0:User";
    let mut reg = SchemaRegistry::standard();
    let ext = Schema::from_json(json!({
        "id": urn, "name": "AcmeUser",
        "attributes": [{
            "name": "badge", "type": "string", "multiValued": false, "required": false,
            "caseExact": true, "mutability": "readWrite", "returned": "default",
            "uniqueness": "server"
        }]
    }))
    .unwrap();
    reg.add_extension("User", ext, false).unwrap();
    let s = MemoryStore::new(Arc::new(reg));
    let t = TenantId::new("t").unwrap();
    let user = |name: &str, badge: &str| obj(json!({"userName": name, urn: {"badge": badge}}));
    s.create(&t, ResourceKind::User, user("a", "B-1"), MemberChange::default())
        .await
        .unwrap();
    s.create(&t, ResourceKind::User, user("b", "b-1"), MemberChange::default())
        .await
        .unwrap();
    let e = s
        .create(&t, ResourceKind::User, user("c", "B-1"), MemberChange::default())
        .await
        .unwrap_err();
    assert_eq!(
        e,
        StoreError::Uniqueness {
            attribute: format!("{urn}:badge")
        }
    );
}

#[tokio::test]
async fn filter_view_has_id_meta_and_memberships() {
    let s = store();
    let t = TenantId::new("t").unwrap();
    let u = s
        .create(
            &t,
            ResourceKind::User,
            obj(json!({"userName": "a"})),
            MemberChange::default(),
        )
        .await
        .unwrap();
    let g = s
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "G"})),
            add(&[&u.id]),
        )
        .await
        .unwrap();
    let data = s.data.read().unwrap();
    let tenant = &data.tenants[&t];
    let view = tenant.filter_view(ResourceKind::User, &u.id, &tenant.users[&u.id]);
    assert_eq!(
        Value::Object(view),
        json!({
            "userName": "a",
            "id": u.id,
            "meta": {"resourceType": "User", "created": u.created, "lastModified": u.last_modified,
                     "version": "W/\"1\""},
            "groups": [{"value": g.id, "display": "G", "type": "direct"}]
        })
    );
    let view = tenant.filter_view(ResourceKind::Group, &g.id, &tenant.groups[&g.id]);
    assert_eq!(view["members"], json!([{"value": u.id, "type": "User"}]));
}

/// Answers from the indexes equal a full scan, whatever the case of the values.
#[tokio::test]
async fn indexed_queries_agree_with_a_scan() {
    use scim_proto::Filter;
    let s = store();
    let t = TenantId::new("t").unwrap();
    let mut users = Vec::new();
    for name in ["alice", "Bob", "carol"] {
        let attrs = obj(json!({"userName": name, "externalId": name.to_uppercase()}));
        users.push(
            s.create(&t, ResourceKind::User, attrs, MemberChange::default())
                .await
                .unwrap()
                .id,
        );
    }
    let (a, b) = (users[0].clone(), users[1].clone());
    let g1 = s
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "G1"})),
            add(&[&a, &b]),
        )
        .await
        .unwrap()
        .id;
    let g2 = s
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "G2"})),
            add(&[&a, &g1]),
        )
        .await
        .unwrap()
        .id;
    let up = |s: &str| s.to_uppercase();
    let cases = [
        (ResourceKind::User, "userName eq \"ALICE\"".to_string()),
        (
            ResourceKind::User,
            "userName eq \"bob\" and active pr".to_string(),
        ),
        (ResourceKind::User, "userName eq \"nobody\"".to_string()),
        (ResourceKind::User, format!("id eq \"{a}\"")),
        (ResourceKind::User, format!("id eq \"{}\"", up(&a))),
        (
            ResourceKind::User,
            format!("id eq \"{a}\" and userName eq \"bob\""),
        ),
        (ResourceKind::User, format!("groups.value eq \"{g1}\"")),
        (ResourceKind::User, format!("groups.value eq \"{}\"", up(&g1))),
        (
            ResourceKind::User,
            format!("groups.value eq \"{g1}\" and userName eq \"Alice\""),
        ),
        (
            ResourceKind::User,
            format!("groups.value eq \"{g1}\" or userName eq \"carol\""),
        ),
        (ResourceKind::User, "externalId eq \"BOB\"".to_string()),
        (ResourceKind::Group, format!("members.value eq \"{a}\"")),
        (ResourceKind::Group, format!("members.value eq \"{}\"", up(&g1))),
        (
            ResourceKind::Group,
            format!("members.value eq \"{b}\" and displayName eq \"g1\""),
        ),
        (ResourceKind::Group, format!("id eq \"{g2}\"")),
    ];
    let registry = SchemaRegistry::standard();
    for (kind, text) in cases {
        let schema = registry.view(kind.name()).unwrap();
        let f = Filter::parse(&text).unwrap();
        f.validate(&schema).unwrap();
        let expected: Vec<String> = {
            let data = s.data.read().unwrap();
            let tenant = &data.tenants[&t];
            tenant
                .records(kind)
                .iter()
                .filter(|(id, r)| f.matches(&tenant.filter_view(kind, id, r), &schema))
                .map(|(id, _)| id.clone())
                .collect()
        };
        let q = Query {
            filter: Some(f),
            paging: Paging::Index { start_index: 1 },
            count: 100,
            include: Include::NONE,
            sort: None,
        };
        let page = s.query(&t, kind, &q).await.unwrap();
        let got: Vec<String> = page.resources.into_iter().map(|r| r.id).collect();
        assert_eq!(got, expected, "{text}");
        assert_eq!(page.total_results, Some(expected.len() as u64), "{text}");
    }
}

#[test]
fn timestamps_are_fixed_width_rfc3339() {
    let t = now();
    let s = timestamp(t);
    assert_eq!(s.len(), "2024-01-02T03:04:05.678Z".len(), "{s}");
    let parsed = OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(parsed, t);
}

/// Server-kept keys never end up among the attributes.
#[tokio::test]
async fn server_keys_are_not_stored_as_attributes() {
    let s = store();
    let t = TenantId::new("t").unwrap();
    let attrs = obj(json!({"userName": "a", "id": "x", "meta": {}, "schemas": [], "groups": []}));
    let u = s
        .create(&t, ResourceKind::User, attrs, MemberChange::default())
        .await
        .unwrap();
    assert_eq!(Value::Object(u.attrs), json!({"userName": "a"}));
    assert_ne!(u.id, "x");
}
