//! Writes whose cost grows with a group's size are bounded per request, so none outgrows the
//! function's timeout however large the group: a rename's fan-out to the members' `groups` goes on
//! from write to write, and a replace that drops thousands of members drops them in steps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use aws_sdk_dynamodb::types::AttributeValue;
use scim_store::prelude::*;
use scim_store::{Expect, Include, MemberChange, ResourceKind, StoreError, TenantId};
use serde_json::{json, Map, Value};

fn display(name: &str) -> Map<String, Value> {
    match json!({"displayName": name}) {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// Renames the group to `name`, at the version it has now.
async fn rename(store: &scim_dynamodb::DynamoStore, t: &TenantId, gid: &str, name: &str) {
    let cur = store
        .get(t, ResourceKind::Group, gid, Include::NONE)
        .await
        .unwrap();
    let (expect, change) = (Expect::Version(cur.version), MemberChange::default());
    store
        .update(t, ResourceKind::Group, gid, expect, display(name), change)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_large_rename_goes_on_from_write_to_write_within_the_budget() {
    let (store, counter) = common::store().await;
    let store = store.with_member_work_budget(100);
    let t = TenantId::new("rename").unwrap();
    let (ids, gid) = common::seed(store.client(), store.table(), &t, 250, 250).await;
    // The name each user's `groups` entry holds for the group.
    let names = || async {
        let mut names = Vec::new();
        for id in &ids {
            let user = store.get(&t, ResourceKind::User, id, Include::ALL).await.unwrap();
            let groups = user.groups.unwrap();
            names.push(groups.into_iter().find(|(id, _)| *id == gid).unwrap().1);
        }
        names
    };
    let write = |name: &'static str| rename(&store, &t, &gid, name);
    let count = |name: &str, names: &[String]| names.iter().filter(|n| *n == name).count();

    counter.take();
    write("Renamed").await;
    let calls = counter.take();
    // The group's write (a transaction: its name index moves), then one page of 100 members:
    // one Query, 100 UpdateItems and one more for how far it got.
    assert_eq!(calls.get("TransactWriteItems"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("Query"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("UpdateItem"), Some(&(100 + 1)), "{calls:?}");
    let after_one = names().await;
    assert_eq!(count("Renamed", &after_one), 100);
    // Members are renamed in id order: the first hundred.
    assert!(after_one[..100].iter().all(|n| n == "Renamed"));

    // The next write (here the same name again) goes on from there; a third one finishes.
    write("Renamed").await;
    assert_eq!(count("Renamed", &names().await), 200);
    counter.take();
    write("Renamed").await;
    let calls = counter.take();
    assert_eq!(count("Renamed", &names().await), 250);
    // The group's write, taking over the fan-out (the request before gave its lease up when its
    // budget was spent), 50 members and the write that clears the mark: nothing more to do after.
    assert_eq!(calls.get("UpdateItem"), Some(&(1 + 1 + 50 + 1)), "{calls:?}");
    counter.take();
    write("Renamed").await;
    assert_eq!(counter.take().get("UpdateItem"), None, "finished: a no-op");

    // A new name mid-way starts over from the first member.
    write("Again").await;
    write("Once more").await;
    let names = names().await;
    assert_eq!(count("Once more", &names), 100);
    assert!(
        names[..100].iter().all(|n| n == "Once more"),
        "from the first member again"
    );
}

/// A fan-out has one runner at a time: a write of the group leaves an unfinished fan-out alone
/// while the lease of the request running it lasts, and takes it over once the lease has run out
/// (the runner stopped without giving it up, as a function that timed out does).
#[tokio::test]
async fn a_fan_out_is_taken_over_only_when_its_lease_has_run_out() {
    let (store, counter) = common::store().await;
    let store = store.with_member_work_budget(100);
    let t = TenantId::new("lease").unwrap();
    let (ids, gid) = common::seed(store.client(), store.table(), &t, 150, 150).await;
    let write = |name: &'static str| rename(&store, &t, &gid, name);
    let lease = |until: String| {
        let (store, t, gid) = (&store, &t, &gid);
        async move {
            store
                .client()
                .update_item()
                .table_name(store.table())
                .key("pk", AttributeValue::S(format!("T#{}#GROUPS", t.as_str())))
                .key("sk", AttributeValue::S(gid.clone()))
                .update_expression("SET fl = :until")
                .expression_attribute_values(":until", AttributeValue::S(until))
                .send()
                .await
                .unwrap();
        }
    };
    let renamed = || async {
        let mut n = 0;
        for id in &ids {
            let user = store.get(&t, ResourceKind::User, id, Include::ALL).await.unwrap();
            n += user
                .groups
                .unwrap()
                .iter()
                .filter(|(g, name)| *g == gid && name == "Renamed")
                .count();
        }
        n
    };
    write("Renamed").await;
    assert_eq!(renamed().await, 100, "the rename's own request ran the first 100");
    // As if another request held it now.
    let at = |seconds: i64| scim_store::timestamp(scim_store::now() + time::Duration::seconds(seconds));
    lease(at(30)).await;
    counter.take();
    write("Renamed").await;
    assert_eq!(
        counter.take().get("UpdateItem"),
        Some(&1),
        "only the group's own write"
    );
    assert_eq!(renamed().await, 100, "held elsewhere: left alone");
    // Its holder stopped without giving it up; the lease ran out.
    lease(at(-1)).await;
    write("Renamed").await;
    assert_eq!(renamed().await, 150, "taken over and finished");
}

#[tokio::test]
async fn replacing_many_members_drops_them_in_bounded_steps() {
    let (store, counter) = common::store().await;
    let store = store.with_member_work_budget(100);
    let t = TenantId::new("replace").unwrap();
    let (ids, gid) = common::seed(store.client(), store.table(), &t, 250, 250).await;
    let group = || store.get(&t, ResourceKind::Group, &gid, Include::ALL);
    let before = group().await.unwrap();
    // A PUT with one member: the other 249 go, at most 100 per request.
    let replace = MemberChange {
        replace_all: true,
        add: vec![(ids[0].clone(), None)],
        ..MemberChange::default()
    };
    let put = || {
        store.update(
            &t,
            ResourceKind::Group,
            &gid,
            Expect::Version(before.version),
            before.attrs.clone(),
            replace.clone(),
        )
    };
    let members = |g: &scim_store::StoredResource| g.members.as_ref().map_or(0, Vec::len);
    for left in [150, 50] {
        counter.take();
        let step = put().await;
        let calls = counter.take();
        assert!(matches!(step, Err(StoreError::Throttled { .. })), "{step:?}");
        // 100 removals, 49 per transaction, and nothing else written.
        assert_eq!(calls.get("TransactWriteItems"), Some(&3), "{calls:?}");
        assert_eq!(calls.get("UpdateItem"), None, "{calls:?}");
        let halfway = group().await.unwrap();
        assert_eq!(
            halfway.version, before.version,
            "a retry with the same If-Match still matches"
        );
        assert_eq!(members(&halfway), left);
    }
    // The last step drops the rest and commits the PUT.
    let done = put().await.unwrap();
    assert_eq!(done.version, before.version + 1);
    let after = group().await.unwrap();
    let kept: Vec<&str> = after.members.iter().flatten().map(|m| m.value.as_str()).collect();
    assert_eq!(kept, vec![ids[0].as_str()]);
}
