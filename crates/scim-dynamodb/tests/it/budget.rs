//! The call budget of every operation (the crate's README.md, "Cost per operation"), counted with an
//! SDK interceptor and checked at two sizes: a tenant of 70 users with a group of 10, and a
//! tenant of 2,060 users with a group of 2,000 (60 users stay outside the group in both, for the
//! member adds). The counts must be the same at both sizes.
//!
//! Operations are driven the way the service drives the store: a PUT/PATCH is `get` then
//! `update` with `Expect::Version` of what was read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use scim_dynamodb::{CallCounter, DynamoStore};
use scim_proto::filter::Filter;
use scim_proto::list::SortOrder;
use scim_proto::sort::SortBy;
use scim_proto::SchemaRegistry;
use scim_store::metering;
use scim_store::prelude::*;
use scim_store::{
    create_user, effective_access, ConflictPolicy, CreateOutcome, DeleteMode, Expect, Include, MemberChange,
    Paging, Query, Resolution, ResourceKind, TenantId, TenantSettings,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

type Counts = BTreeMap<String, u64>;

fn counts(pairs: &[(&str, u64)]) -> Counts {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn filtered(kind: ResourceKind, text: &str, paging: Paging, count: u64) -> Query {
    let registry = SchemaRegistry::standard();
    let f = Filter::parse(text).unwrap();
    f.validate(&registry.view(kind.name()).unwrap()).unwrap();
    Query {
        filter: Some(f),
        paging,
        count,
        include: Include::NONE,
        sort: None,
    }
}

fn adds(ids: &[String]) -> MemberChange {
    MemberChange {
        add: ids.iter().map(|id| (id.clone(), None)).collect(),
        ..MemberChange::default()
    }
}

fn removes(ids: &[String]) -> MemberChange {
    MemberChange {
        remove: ids.to_vec(),
        ..MemberChange::default()
    }
}

/// A PATCH as the service makes it: read, then a write conditional on the version read.
async fn patch(
    s: &DynamoStore,
    t: &TenantId,
    kind: ResourceKind,
    id: &str,
    attrs: Option<Map<String, Value>>,
    m: MemberChange,
) {
    let cur = s
        .get(
            t,
            kind,
            id,
            Include {
                members: false,
                ..Include::ALL
            },
        )
        .await
        .unwrap();
    let attrs = attrs.unwrap_or(cur.attrs);
    s.update(t, kind, id, Expect::Version(cur.version), attrs, m)
        .await
        .unwrap();
}

/// Runs every operation once against a tenant of `users` users (`members` of them in one group),
/// returning the calls each made.
async fn measure(users: usize, members: usize) -> Vec<(&'static str, Counts)> {
    let (s, counter): (DynamoStore, CallCounter) = common::store().await;
    let t = TenantId::new(&format!("budget{users}")).unwrap();
    let (ids, gid) = common::seed(s.client(), s.table(), &t, users, members).await;
    let outsiders: Vec<String> = ids[members..].to_vec();
    assert!(
        outsiders.len() >= 60,
        "the seed leaves 60 users outside the group"
    );
    let member = ids[3].clone();
    counter.take();
    let mut out = Vec::new();
    // Each operation runs as one request would: what the request log reports as `store_calls`
    // (scim_store::metering, fed by the store's own interceptor) must be the DynamoDB calls made.
    macro_rules! op {
        ($name:expr, $e:expr) => {{
            counter.take();
            let (r, usage) = metering::metered(async { $e }).await;
            let calls = counter.take();
            assert_eq!(u64::from(usage.calls), calls.values().sum::<u64>(), "{}", $name);
            out.push(($name, calls));
            r
        }};
    }
    let u = op!(
        "GET /Users/{id} (with groups)",
        s.get(&t, ResourceKind::User, &member, Include::ALL)
            .await
            .unwrap()
    );
    assert_eq!(u.groups.as_ref().map(Vec::len), Some(1));
    op!(
        "GET /Groups/{id}?excludedAttributes=members",
        s.get(&t, ResourceKind::Group, &gid, Include::NONE).await.unwrap()
    );
    let idx = Paging::Index { start_index: 1 };
    let p = op!(
        "filter userName eq",
        s.query(
            &t,
            ResourceKind::User,
            &filtered(ResourceKind::User, "userName eq \"SEED5\"", idx.clone(), 100)
        )
        .await
        .unwrap()
    );
    assert_eq!(p.total_results, Some(1));
    let p = op!(
        "filter externalId eq",
        s.query(
            &t,
            ResourceKind::User,
            &filtered(ResourceKind::User, "externalId eq \"ext-7\"", idx.clone(), 100)
        )
        .await
        .unwrap()
    );
    assert_eq!(p.total_results, Some(1));
    let p = op!(
        "filter Group displayName eq",
        s.query(
            &t,
            ResourceKind::Group,
            &filtered(ResourceKind::Group, "displayName eq \"seeded\"", idx.clone(), 100)
        )
        .await
        .unwrap()
    );
    assert_eq!(p.total_results, Some(1));
    let p = op!(
        "filter Group members.value eq",
        s.query(
            &t,
            ResourceKind::Group,
            &filtered(
                ResourceKind::Group,
                &format!("members.value eq \"{member}\""),
                idx.clone(),
                100
            )
        )
        .await
        .unwrap()
    );
    assert_eq!(p.total_results, Some(1));
    let created = op!(
        "POST /Users",
        s.create(
            &t,
            ResourceKind::User,
            obj(json!({"userName": "new-user", "externalId": "x"})),
            MemberChange::default()
        )
        .await
        .unwrap()
    );
    // Existing accounts: a POST that meets one goes through `create_user`, as the service does.
    for name in ["review-me", "approve-me", "link-me"] {
        s.import_unmanaged(&t, obj(json!({"userName": name})))
            .await
            .unwrap();
    }
    let outcome = op!(
        "POST /Users meeting an unmanaged account (review: 409)",
        create_user(&s, &t, obj(json!({"userName": "review-me"})))
            .await
            .unwrap()
    );
    assert!(matches!(outcome, CreateOutcome::Conflict(_)), "{outcome:?}");
    let CreateOutcome::Conflict(c) = create_user(&s, &t, obj(json!({"userName": "approve-me"})))
        .await
        .unwrap()
    else {
        panic!("review refuses")
    };
    s.resolve_conflict(&t, &c.id, Resolution::Link).await.unwrap();
    let outcome = op!(
        "POST /Users retried after conflicts link (201)",
        create_user(&s, &t, obj(json!({"userName": "approve-me"})))
            .await
            .unwrap()
    );
    assert!(matches!(outcome, CreateOutcome::Adopted(_)), "{outcome:?}");
    let link = TenantSettings {
        conflict_policy: ConflictPolicy::Link,
        ..TenantSettings::default()
    };
    s.put_settings(&t, &link, Expect::Any).await.unwrap();
    let outcome = op!(
        "POST /Users meeting an unmanaged account (link: 201)",
        create_user(&s, &t, obj(json!({"userName": "link-me"})))
            .await
            .unwrap()
    );
    assert!(matches!(outcome, CreateOutcome::Adopted(_)), "{outcome:?}");
    op!(
        "POST /Groups (no members)",
        s.create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "New"})),
            MemberChange::default()
        )
        .await
        .unwrap()
    );
    op!(
        "PATCH /Users/{id} (title)",
        patch(
            &s,
            &t,
            ResourceKind::User,
            &created.id,
            Some(obj(
                json!({"userName": "new-user", "externalId": "x", "title": "T"})
            )),
            MemberChange::default()
        )
        .await
    );
    op!(
        "PATCH /Users/{id} (userName)",
        patch(
            &s,
            &t,
            ResourceKind::User,
            &created.id,
            Some(obj(
                json!({"userName": "renamed", "externalId": "x", "title": "T"})
            )),
            MemberChange::default()
        )
        .await
    );
    op!(
        "PATCH /Groups/{id} add 5 members",
        patch(&s, &t, ResourceKind::Group, &gid, None, adds(&outsiders[..5])).await
    );
    op!(
        "PATCH /Groups/{id} add 5 present members (no-op)",
        patch(&s, &t, ResourceKind::Group, &gid, None, adds(&outsiders[..5])).await
    );
    op!(
        "PATCH /Groups/{id} remove 5 members",
        patch(&s, &t, ResourceKind::Group, &gid, None, removes(&outsiders[..5])).await
    );
    op!(
        "PATCH /Groups/{id} add 60 members",
        patch(&s, &t, ResourceKind::Group, &gid, None, adds(&outsiders[..60])).await
    );
    let all = op!(
        "GET /Users?count=50 (first page)",
        s.query(
            &t,
            ResourceKind::User,
            &Query {
                filter: None,
                paging: idx.clone(),
                count: 50,
                include: Include::ALL,
                sort: None,
            }
        )
        .await
        .unwrap()
    );
    assert_eq!(all.total_results, Some(users as u64 + 3)); // new-user and the two adopted accounts
    let registry = SchemaRegistry::standard();
    let sorted = |by: &str, order: SortOrder, paging: Paging| Query {
        filter: None,
        paging,
        count: 50,
        include: Include::ALL,
        sort: Some(SortBy::resolve(by, Some(order), &registry.user()).unwrap()),
    };
    let by_name = op!(
        "GET /Users?sortBy=userName&count=50",
        s.query(
            &t,
            ResourceKind::User,
            &sorted("userName", SortOrder::Ascending, idx.clone())
        )
        .await
        .unwrap()
    );
    assert_eq!(by_name.total_results, all.total_results);
    assert_eq!(by_name.resources.len(), 50);
    // In order, at either size: the index, not the id order of the listing.
    let names: Vec<String> = by_name
        .resources
        .iter()
        .map(|r| r.attrs["userName"].as_str().unwrap_or_default().to_lowercase())
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    let by_id: Vec<&str> = all.resources.iter().map(|r| r.id.as_str()).collect();
    let sorted_ids: Vec<&str> = by_name.resources.iter().map(|r| r.id.as_str()).collect();
    assert_ne!(sorted_ids, by_id, "userName order differs from id order");
    let first_sorted = s
        .query(
            &t,
            ResourceKind::User,
            &sorted(
                "meta.lastModified",
                SortOrder::Descending,
                Paging::Cursor { after: None },
            ),
        )
        .await
        .unwrap();
    op!(
        "GET /Users?sortBy=meta.lastModified&sortOrder=descending&cursor=... (later page)",
        s.query(
            &t,
            ResourceKind::User,
            &sorted(
                "meta.lastModified",
                SortOrder::Descending,
                Paging::Cursor {
                    after: first_sorted.next.clone()
                }
            )
        )
        .await
        .unwrap()
    );
    let first = s
        .query(
            &t,
            ResourceKind::User,
            &Query {
                filter: None,
                paging: Paging::Cursor { after: None },
                count: 5,
                include: Include::ALL,
                sort: None,
            },
        )
        .await
        .unwrap();
    op!(
        "GET /Users?cursor=...&count=5 (later page)",
        s.query(
            &t,
            ResourceKind::User,
            &Query {
                filter: None,
                paging: Paging::Cursor {
                    after: first.next.clone()
                },
                count: 5,
                include: Include::ALL,
                sort: None,
            }
        )
        .await
        .unwrap()
    );
    let m = op!(
        "GET /Users?filter=groups.value eq&cursor=&count=5",
        s.query(
            &t,
            ResourceKind::User,
            &filtered(
                ResourceKind::User,
                &format!("groups.value eq \"{gid}\""),
                Paging::Cursor { after: None },
                5
            )
        )
        .await
        .unwrap()
    );
    assert_eq!(m.resources.len(), 5);
    // The seeded group nested two levels deep: seeded ⊂ Parent ⊂ Grandparent.
    let parent = s
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "Parent"})),
            adds(std::slice::from_ref(&gid)),
        )
        .await
        .unwrap();
    let grandparent = s
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "Grandparent", "externalId": "gp"})),
            adds(&[parent.id]),
        )
        .await
        .unwrap();
    let mut settings = TenantSettings::default();
    settings.assign("group_roles.parent=developer").unwrap();
    settings.assign("group_roles.gp=employee").unwrap();
    s.put_settings(&t, &settings, Expect::Any).await.unwrap();
    let access = op!(
        "GET /Users/{id}?attributes=<access extension> (2 levels above direct)",
        {
            let u = s
                .get(&t, ResourceKind::User, &member, Include::ALL)
                .await
                .unwrap();
            let settings = s.settings(&t).await.unwrap().settings;
            effective_access(&s, &t, &u, &settings).await.unwrap()
        }
    );
    assert_eq!(access.roles, ["developer", "employee"]);
    assert_eq!(
        access.groups.iter().map(|g| g.depth).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(access.groups[2].id, grandparent.id);
    op!(
        "DELETE /Users/{id} soft (in 1 group)",
        delete_user(&s, &t, &member).await
    );
    let restored = op!(
        "scimctl users restore (1 group)",
        s.restore_user(&t, &member).await.unwrap()
    );
    assert_eq!(restored.groups.as_ref().map(Vec::len), Some(1));
    let hard = TenantSettings {
        delete_mode: DeleteMode::Hard,
        ..TenantSettings::default()
    };
    s.put_settings(&t, &hard, Expect::Any).await.unwrap();
    op!(
        "DELETE /Users/{id} hard (in 1 group)",
        delete_user(&s, &t, &member).await
    );
    out
}

/// A user's DELETE as the service makes it: the tenant's settings, then a soft or hard delete.
async fn delete_user(s: &DynamoStore, t: &TenantId, id: &str) {
    let settings = s.settings(t).await.unwrap().settings;
    match settings.delete_mode {
        DeleteMode::Soft => s
            .delete_user_soft(
                t,
                id,
                Expect::Any,
                time::OffsetDateTime::now_utc() + time::Duration::days(30),
            )
            .await
            .unwrap(),
        DeleteMode::Hard => s.delete(t, ResourceKind::User, id, Expect::Any).await.unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_costs_the_same_at_both_sizes() {
    let expected: Vec<(&str, Counts)> = vec![
        ("GET /Users/{id} (with groups)", counts(&[("GetItem", 1)])),
        (
            "GET /Groups/{id}?excludedAttributes=members",
            counts(&[("GetItem", 1)]),
        ),
        ("filter userName eq", counts(&[("BatchGetItem", 1), ("Query", 1)])),
        (
            "filter externalId eq",
            counts(&[("BatchGetItem", 1), ("Query", 1)]),
        ),
        (
            "filter Group displayName eq",
            counts(&[("BatchGetItem", 1), ("Query", 1)]),
        ),
        ("filter Group members.value eq", counts(&[("BatchGetItem", 2)])),
        ("POST /Users", counts(&[("TransactWriteItems", 1)])),
        (
            "POST /Users meeting an unmanaged account (review: 409)",
            counts(&[("GetItem", 1), ("TransactWriteItems", 1), ("UpdateItem", 1)]),
        ),
        (
            "POST /Users retried after conflicts link (201)",
            counts(&[("GetItem", 2), ("TransactWriteItems", 2), ("UpdateItem", 1)]),
        ),
        (
            "POST /Users meeting an unmanaged account (link: 201)",
            counts(&[("GetItem", 2), ("TransactWriteItems", 2)]),
        ),
        ("POST /Groups (no members)", counts(&[("TransactWriteItems", 1)])),
        (
            "PATCH /Users/{id} (title)",
            counts(&[("GetItem", 1), ("UpdateItem", 1)]),
        ),
        (
            "PATCH /Users/{id} (userName)",
            counts(&[("GetItem", 1), ("TransactWriteItems", 1)]),
        ),
        (
            "PATCH /Groups/{id} add 5 members",
            counts(&[("BatchGetItem", 1), ("GetItem", 1), ("TransactWriteItems", 1)]),
        ),
        (
            "PATCH /Groups/{id} add 5 present members (no-op)",
            counts(&[("BatchGetItem", 1), ("GetItem", 2)]),
        ),
        (
            "PATCH /Groups/{id} remove 5 members",
            counts(&[("BatchGetItem", 1), ("GetItem", 1), ("TransactWriteItems", 1)]),
        ),
        (
            "PATCH /Groups/{id} add 60 members",
            counts(&[("BatchGetItem", 2), ("GetItem", 1), ("TransactWriteItems", 2)]),
        ),
        ("GET /Users?count=50 (first page)", counts(&[("Query", 1)])),
        (
            "GET /Users?sortBy=userName&count=50",
            counts(&[("BatchGetItem", 1), ("Query", 2)]),
        ),
        (
            "GET /Users?sortBy=meta.lastModified&sortOrder=descending&cursor=... (later page)",
            counts(&[("BatchGetItem", 1), ("Query", 2)]),
        ),
        (
            "GET /Users?cursor=...&count=5 (later page)",
            counts(&[("Query", 2)]),
        ),
        (
            "GET /Users?filter=groups.value eq&cursor=&count=5",
            counts(&[("BatchGetItem", 1), ("Query", 1)]),
        ),
        (
            "GET /Users/{id}?attributes=<access extension> (2 levels above direct)",
            counts(&[("BatchGetItem", 3), ("GetItem", 2)]),
        ),
        (
            "DELETE /Users/{id} soft (in 1 group)",
            counts(&[("GetItem", 2), ("TransactWriteItems", 1), ("UpdateItem", 1)]),
        ),
        (
            "scimctl users restore (1 group)",
            counts(&[
                ("BatchGetItem", 1),
                ("GetItem", 1),
                ("Query", 1),
                ("TransactWriteItems", 1),
            ]),
        ),
        (
            "DELETE /Users/{id} hard (in 1 group)",
            counts(&[("GetItem", 2), ("TransactWriteItems", 1)]),
        ),
    ];
    let small = measure(70, 10).await;
    let large = measure(2060, 2000).await;
    println!(
        "{:<52} {:<60} tenant 2,060 / group 2,000",
        "operation", "tenant 70 / group 10"
    );
    for ((name, s), (_, l)) in small.iter().zip(&large) {
        println!("{name:<52} {:<60} {l:?}", format!("{s:?}"));
    }
    for (((name, want), (_, s)), (_, l)) in expected.iter().zip(&small).zip(&large) {
        assert_eq!(s, want, "{name}, small");
        assert_eq!(l, want, "{name}, large");
    }
    assert_eq!(small.len(), expected.len());
}

/// The provisioning log and token uses cost the same calls whatever the log's size: a record is
/// one PutItem, a token use one PutItem (older or newer), a page one Query per partition read.
#[tokio::test]
async fn the_log_and_token_uses_cost_the_same_at_two_log_sizes() {
    let expected = vec![
        ("append_log", counts(&[("PutItem", 1)])),
        ("record_token_use", counts(&[("PutItem", 1)])),
        ("record_token_use (older than kept)", counts(&[("PutItem", 1)])),
        ("token_uses", counts(&[("Query", 1)])),
        ("read_log (first page of 10)", counts(&[("Query", 2)])),
        ("read_log (next page of 10)", counts(&[("Query", 2)])),
        ("read_log (errors, page of 10)", counts(&[("Query", 1)])),
        ("read_log (resource: an id and a name)", counts(&[("Query", 2)])),
    ];
    for size in [30, 600] {
        let (s, counter) = common::store().await;
        let t = TenantId::new(&format!("log{size}")).unwrap();
        let records = (0..size)
            .map(|i| common::log_record(&t, i, if i % 2 == 0 { 409 } else { 201 }))
            .collect();
        common::append_all(&s, &t, records).await;
        let mut out: Vec<(&str, Counts)> = Vec::new();
        macro_rules! op {
            ($name:expr, $e:expr) => {{
                counter.take();
                let (r, usage) = metering::metered(async { $e }).await;
                let calls = counter.take();
                assert_eq!(
                    u64::from(usage.calls),
                    calls.values().sum::<u64>(),
                    "{}",
                    $name
                );
                out.push(($name, calls));
                r
            }};
        }
        let newest = common::log_record(&t, size, 201);
        op!("append_log", s.append_log(&t, &newest).await.unwrap());
        let used = |at: &str| scim_store::TokenUse {
            token_id: "tok-a".into(),
            last_used: at.into(),
            client: None,
        };
        op!(
            "record_token_use",
            s.record_token_use(&t, &used(&newest.time)).await.unwrap()
        );
        op!(
            "record_token_use (older than kept)",
            s.record_token_use(&t, &used("2020-01-01T00:00:00.000Z"))
                .await
                .unwrap()
        );
        let uses = op!("token_uses", s.token_uses(&t).await.unwrap());
        assert_eq!(uses, vec![used(&newest.time)]);
        let page = |after: Option<scim_store::LogCursor>, errors_only: bool| scim_store::LogQuery {
            limit: 10,
            after,
            errors_only,
            ..scim_store::LogQuery::default()
        };
        let first = op!(
            "read_log (first page of 10)",
            s.read_log(&t, &page(None, false)).await.unwrap()
        );
        assert_eq!(first.records.len(), 10);
        let next = op!(
            "read_log (next page of 10)",
            s.read_log(&t, &page(first.next, false)).await.unwrap()
        );
        assert_eq!(next.records[0].request_id, format!("req-{}", size - 10));
        let errors = op!(
            "read_log (errors, page of 10)",
            s.read_log(&t, &page(None, true)).await.unwrap()
        );
        assert!(errors.records.iter().all(|r| r.status == 409));
        let resource = scim_store::LogQuery {
            resource: Some(scim_store::ResourceFilter {
                ids: vec!["id-3".into()],
                name: Some("nobody".into()),
            }),
            ..page(None, false)
        };
        let of_resource = op!(
            "read_log (resource: an id and a name)",
            s.read_log(&t, &resource).await.unwrap()
        );
        assert_eq!(of_resource.records.len(), 1);
        assert_eq!(out, expected, "log of {size} records");
    }
}

/// A read whose filter matches only records far down the log stops after examining its budget
/// (scim_dynamodb::MAX_LOG_EXAMINED) in a few calls of growing size, answers a short page with a
/// cursor, and the next read goes on from there and finds them.
#[tokio::test]
async fn a_sparse_log_read_examines_at_most_its_budget_and_goes_on_from_there() {
    let (s, counter) = common::store().await;
    let t = TenantId::new("sparse").unwrap();
    let mut records: Vec<scim_store::LogRecord> = (1..=3).map(|i| common::log_record(&t, i, 200)).collect();
    records.extend((100..2600).map(|i| {
        let mut r = common::log_record(&t, i, 200);
        r.token_id = Some("tok-other".into());
        r
    }));
    common::append_all(&s, &t, records).await;
    let query = |after| scim_store::LogQuery {
        token_id: Some("tok-a".into()),
        limit: 10,
        after,
        ..scim_store::LogQuery::default()
    };
    counter.take();
    let (first, usage) = metering::metered(s.read_log(&t, &query(None))).await;
    let first = first.unwrap();
    let calls = counter.take();
    println!("first page: {calls:?}, {} items examined", usage.items_read);
    assert!(first.records.is_empty());
    assert!(first.next.is_some(), "a short page continues");
    assert!(usage.items_read <= scim_dynamodb::MAX_LOG_EXAMINED as u64);
    assert_eq!(calls, counts(&[("Query", 7)]));

    let (second, usage) = metering::metered(s.read_log(&t, &query(first.next))).await;
    let second = second.unwrap();
    println!(
        "second page: {:?}, {} items examined",
        counter.take(),
        usage.items_read
    );
    let ids: Vec<&str> = second.records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["req-3", "req-2", "req-1"]);
    assert_eq!(second.next, None);
    assert!(usage.items_read <= scim_dynamodb::MAX_LOG_EXAMINED as u64);
}
