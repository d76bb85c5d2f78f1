//! Contract cases: Group members: adds and removes, atomicity, kinds, nesting (cycles and the nesting bound)
//! and what a delete does to memberships.

use super::*;

pub async fn add_members_then_get_with_members<S: Store>(s: S) {
    let t = tenant();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(user(&s, &t, &format!("user{i}")).await.id);
    }
    let g = group(&s, &t, "Staff", &[&ids[0]]).await;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let updated = change(&s, &t, &g.id, add(&refs[1..])).await.unwrap();
    assert_eq!(updated.version, 2);
    let got = s.get(&t, ResourceKind::Group, &g.id, Include::ALL).await.unwrap();
    let members = got.members.unwrap();
    assert_eq!(
        members.iter().map(|m| m.value.clone()).collect::<Vec<_>>(),
        sorted(&refs),
        "members, sorted by id"
    );
    assert!(members.iter().all(|m| m.kind == ResourceKind::User));
    let got = s
        .get(&t, ResourceKind::Group, &g.id, Include::NONE)
        .await
        .unwrap();
    assert_eq!(got.members, None);
}

/// A member delta computed from an older version (`Expect::Based`, the service's own
/// optimistic concurrency) applies on top of member changes made meanwhile: concurrent member
/// changes of one group do not refuse each other. Each still moves the version (the ETag).
pub async fn member_deltas_based_on_an_older_version_commute<S: Store>(s: S) {
    let t = tenant();
    let u1 = user(&s, &t, "u1").await;
    let u2 = user(&s, &t, "u2").await;
    let u3 = user(&s, &t, "u3").await;
    let g = group(&s, &t, "Staff", &[&u3.id]).await;
    let write = |expect, members| s.update(&t, ResourceKind::Group, &g.id, expect, g.attrs.clone(), members);
    let v0 = Expect::Based(g.version);
    let first = write(v0, add(&[&u1.id])).await.unwrap();
    assert!(first.version > g.version);
    let second = write(v0, add(&[&u2.id])).await.expect("an add on top");
    assert!(
        second.version > first.version,
        "every member change moves the version"
    );
    let third = write(v0, remove(&[&u3.id])).await.expect("a remove on top");
    assert!(third.version > second.version);
    assert_eq!(member_ids(&s, &t, &g.id).await, sorted(&[&u1.id, &u2.id]));
    assert_eq!(group_ids(&s, &t, &u2.id).await, vec![g.id.clone()]);
    assert!(group_ids(&s, &t, &u3.id).await.is_empty());
}

/// What a member delta may not commute with: a pinned version (`If-Match`), a change of
/// attributes (the delta was computed from the old ones), and a replacement of the whole list.
pub async fn only_member_deltas_commute<S: Store>(s: S) {
    let t = tenant();
    let u1 = user(&s, &t, "u1").await;
    let u2 = user(&s, &t, "u2").await;
    let g = group(&s, &t, "Staff", &[]).await;
    let write = |expect, attrs, members| s.update(&t, ResourceKind::Group, &g.id, expect, attrs, members);
    let version = |written: Result<StoredResource, StoreError>| written.map(|r| r.version);
    let (v0, staff, crew) = (g.version, g.attrs.clone(), group_attrs("Crew"));
    let moved = write(Expect::Based(v0), staff.clone(), add(&[&u1.id]))
        .await
        .unwrap();
    let conflict = Err(StoreError::VersionConflict {
        current: moved.version,
    });
    let pinned = write(Expect::Version(v0), staff.clone(), add(&[&u2.id])).await;
    assert_eq!(version(pinned), conflict, "a stale If-Match is refused");
    let renamed = write(Expect::Based(v0), crew.clone(), MemberChange::default()).await;
    assert_eq!(
        version(renamed),
        conflict,
        "an attribute change needs the version it read"
    );
    let replace = MemberChange {
        replace_all: true,
        ..add(&[&u2.id])
    };
    let replaced = write(Expect::Based(v0), staff.clone(), replace).await;
    assert_eq!(
        version(replaced),
        conflict,
        "a replacement depends on the whole list"
    );
    assert_eq!(member_ids(&s, &t, &g.id).await, vec![u1.id.clone()]);
    // Renamed meanwhile: a delta carrying the old attributes would write them back.
    let later = Expect::Based(moved.version);
    let crewed = write(later, crew, MemberChange::default()).await.unwrap();
    let stale = write(later, staff, add(&[&u2.id])).await;
    assert_eq!(
        version(stale),
        Err(StoreError::VersionConflict {
            current: crewed.version
        })
    );
    let got = s
        .get(&t, ResourceKind::Group, &g.id, Include::NONE)
        .await
        .unwrap();
    assert_eq!(got.attrs.get("displayName"), Some(&json!("Crew")));
}

/// RFC 7644 §3.5.2.1: adding a value that is already present changes nothing.
pub async fn adding_present_member_is_noop<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    let v = user(&s, &t, "bob").await;
    let g = group(&s, &t, "Staff", &[&u.id]).await;
    change(&s, &t, &g.id, add(&[&u.id, &v.id, &v.id])).await.unwrap();
    assert_eq!(member_ids(&s, &t, &g.id).await, sorted(&[&u.id, &v.id]));
    change(&s, &t, &g.id, add(&[&u.id])).await.unwrap();
    assert_eq!(member_ids(&s, &t, &g.id).await, sorted(&[&u.id, &v.id]));
    assert_eq!(group_ids(&s, &t, &u.id).await, vec![g.id.clone()]);
}

/// RFC 7644 §3.5.2.2: removing a value that is not there changes nothing.
pub async fn removing_absent_member_is_noop<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    let v = user(&s, &t, "bob").await;
    let g = group(&s, &t, "Staff", &[&u.id]).await;
    let missing = uuid::Uuid::new_v4().to_string();
    change(&s, &t, &g.id, remove(&[&v.id, &missing])).await.unwrap();
    assert_eq!(member_ids(&s, &t, &g.id).await, vec![u.id.clone()]);
    change(&s, &t, &g.id, remove(&[&u.id, &u.id])).await.unwrap();
    assert!(member_ids(&s, &t, &g.id).await.is_empty());
    assert!(group_ids(&s, &t, &u.id).await.is_empty());
}

/// RFC 7644 §3.5.2.3 `replace` of `members`: the old list goes, the new one stays.
pub async fn replace_all_members<S: Store>(s: S) {
    let t = tenant();
    let u1 = user(&s, &t, "u1").await;
    let u2 = user(&s, &t, "u2").await;
    let u3 = user(&s, &t, "u3").await;
    let g = group(&s, &t, "Staff", &[&u1.id, &u2.id]).await;
    let replace = MemberChange {
        replace_all: true,
        remove: vec![],
        add: vec![(u3.id.clone(), Some(ResourceKind::User)), (u2.id.clone(), None)],
    };
    change(&s, &t, &g.id, replace).await.unwrap();
    assert_eq!(member_ids(&s, &t, &g.id).await, sorted(&[&u2.id, &u3.id]));
    assert!(group_ids(&s, &t, &u1.id).await.is_empty());
    assert_eq!(group_ids(&s, &t, &u3.id).await, vec![g.id.clone()]);
    // Replacing with nothing empties the group.
    let clear = MemberChange {
        replace_all: true,
        ..MemberChange::default()
    };
    change(&s, &t, &g.id, clear).await.unwrap();
    assert!(member_ids(&s, &t, &g.id).await.is_empty());
    assert!(group_ids(&s, &t, &u2.id).await.is_empty());
}

/// An unknown member fails the whole update: neither the attributes nor the other member
/// changes are written.
pub async fn unknown_member_rejected_atomically<S: Store>(s: S) {
    let t = tenant();
    let u1 = user(&s, &t, "u1").await;
    let u2 = user(&s, &t, "u2").await;
    let g = group(&s, &t, "Staff", &[&u1.id]).await;
    let missing = uuid::Uuid::new_v4().to_string();
    let change = MemberChange {
        replace_all: false,
        remove: vec![u1.id.clone()],
        add: vec![(u2.id.clone(), None), (missing.clone(), None)],
    };
    let r = s
        .update(
            &t,
            ResourceKind::Group,
            &g.id,
            Expect::Any,
            group_attrs("Renamed"),
            change,
        )
        .await;
    assert_invalid_member(r, &missing);
    let got = s.get(&t, ResourceKind::Group, &g.id, Include::ALL).await.unwrap();
    assert_eq!(got.attrs, group_attrs("Staff"));
    assert_eq!(got.version, 1);
    assert_eq!(member_ids(&s, &t, &g.id).await, vec![u1.id.clone()]);
    assert!(group_ids(&s, &t, &u2.id).await.is_empty());
}

/// The detail of an unknown member tells the IdP administrator what to do, whatever the id looks
/// like (an id no backend could have issued is refused before any read on DynamoDB).
pub async fn unknown_member_detail_says_to_provision_it_first<S: Store>(s: S) {
    let t = tenant();
    let g = group(&s, &t, "Staff", &[]).await;
    for missing in [uuid::Uuid::new_v4().to_string(), "no such id".to_string()] {
        let r = change(&s, &t, &g.id, add(&[&missing])).await;
        assert_invalid_member(
            r,
            &format!(
                "member '{missing}' does not exist; {}",
                scim_proto::hint::UNKNOWN_MEMBER
            ),
        );
    }
}

pub async fn unknown_member_on_create_creates_nothing<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "u1").await;
    let missing = uuid::Uuid::new_v4().to_string();
    let r = s
        .create(
            &t,
            ResourceKind::Group,
            group_attrs("Staff"),
            add(&[&u.id, &missing]),
        )
        .await;
    assert_invalid_member(r, &missing);
    let page = s
        .query(&t, ResourceKind::Group, &query(None, 1, 10))
        .await
        .unwrap();
    assert_eq!(page.total_results, Some(0));
    assert!(group_ids(&s, &t, &u.id).await.is_empty());
}

/// RFC 7643 §4.2 `members.type`: when the client names the type, it must be the member's.
pub async fn member_kind_must_match<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "u1").await;
    let g = group(&s, &t, "Staff", &[]).await;
    let wrong = MemberChange {
        add: vec![(u.id.clone(), Some(ResourceKind::Group))],
        ..MemberChange::default()
    };
    assert_invalid_member(change(&s, &t, &g.id, wrong).await, &u.id);
    let right = MemberChange {
        add: vec![(u.id.clone(), Some(ResourceKind::User))],
        ..MemberChange::default()
    };
    change(&s, &t, &g.id, right).await.unwrap();
    let got = s.get(&t, ResourceKind::Group, &g.id, Include::ALL).await.unwrap();
    assert_eq!(got.members.unwrap()[0].kind, ResourceKind::User);
}

pub async fn member_of_other_tenant_rejected<S: Store>(s: S) {
    let (a, b) = (tenant(), tenant());
    let foreign = user(&s, &a, "alice").await;
    let foreign_group = group(&s, &a, "A-Staff", &[]).await;
    let g = group(&s, &b, "Staff", &[]).await;
    assert_invalid_member(change(&s, &b, &g.id, add(&[&foreign.id])).await, &foreign.id);
    assert_invalid_member(
        change(&s, &b, &g.id, add(&[&foreign_group.id])).await,
        &foreign_group.id,
    );
    let r = s
        .create(&b, ResourceKind::Group, group_attrs("Other"), add(&[&foreign.id]))
        .await;
    assert_invalid_member(r, &foreign.id);
    assert!(member_ids(&s, &b, &g.id).await.is_empty());
    assert!(group_ids(&s, &a, &foreign.id).await.is_empty());
}

/// RFC 7643 §4.2: a group may contain groups.
pub async fn nested_group_allowed<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "u1").await;
    let inner = group(&s, &t, "Inner", &[&u.id]).await;
    let outer = group(&s, &t, "Outer", &[&inner.id]).await;
    let got = s
        .get(&t, ResourceKind::Group, &outer.id, Include::ALL)
        .await
        .unwrap();
    let members = got.members.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].value, inner.id);
    assert_eq!(members[0].kind, ResourceKind::Group);
    // Membership is direct only: the user is in Inner, not in Outer.
    assert_eq!(group_ids(&s, &t, &u.id).await, vec![inner.id.clone()]);
}

/// A group may not contain itself, directly or through other groups.
pub async fn cycles_rejected<S: Store>(s: S) {
    let t = tenant();
    let a = group(&s, &t, "A", &[]).await;
    let b = group(&s, &t, "B", &[]).await;
    let c = group(&s, &t, "C", &[]).await;
    assert_invalid_member(change(&s, &t, &a.id, add(&[&a.id])).await, &a.id);
    change(&s, &t, &a.id, add(&[&b.id])).await.unwrap();
    assert_invalid_member(change(&s, &t, &b.id, add(&[&a.id])).await, &a.id);
    change(&s, &t, &b.id, add(&[&c.id])).await.unwrap();
    assert_invalid_member(change(&s, &t, &c.id, add(&[&a.id])).await, &a.id);
    // The detail says what to change in the IdP, on every backend.
    assert_invalid_member(
        change(&s, &t, &c.id, add(&[&a.id])).await,
        scim_proto::hint::GROUP_CYCLE,
    );
    assert!(member_ids(&s, &t, &c.id).await.is_empty());
    assert_eq!(member_ids(&s, &t, &b.id).await, vec![c.id.clone()]);
    // One change may remove and add; cycles are judged on the state it leads to.
    let swap = MemberChange {
        replace_all: false,
        remove: vec![b.id.clone()],
        add: vec![(c.id.clone(), None)],
    };
    change(&s, &t, &a.id, swap).await.unwrap();
    change(&s, &t, &c.id, add(&[&b.id])).await.unwrap_err();
    change(&s, &t, &b.id, remove(&[&c.id])).await.unwrap();
    change(&s, &t, &c.id, add(&[&b.id])).await.unwrap();
}

/// One nesting bound for every store ([`crate::nesting`]): a group with an ancestor
/// `MAX_GROUP_NESTING_DEPTH + 1` levels up takes no group member (400, nothing written), one
/// level lower it does, and users can always join.
pub async fn nesting_beyond_the_bound_is_refused<S: Store>(s: S) {
    use crate::nesting::MAX_GROUP_NESTING_DEPTH;
    let t = tenant();
    // g[0] inside g[1] inside ... inside g[top]; built from the top so each add walks upwards.
    let top = MAX_GROUP_NESTING_DEPTH + 2;
    let mut chain = Vec::new();
    for i in 0..=top {
        chain.push(group(&s, &t, &format!("level {i}"), &[]).await.id);
    }
    for i in (1..top).rev() {
        change(&s, &t, &chain[i + 1], add(&[&chain[i]])).await.unwrap();
    }
    // chain[2] has ancestors MAX_GROUP_NESTING_DEPTH levels up, chain[1] one level more.
    let refused = change(&s, &t, &chain[1], add(&[&chain[0]])).await;
    assert_invalid_member(refused, &chain[1]);
    assert!(member_ids(&s, &t, &chain[1]).await.is_empty());
    let newcomer = group(&s, &t, "newcomer", &[]).await;
    change(&s, &t, &chain[1], add(&[&newcomer.id])).await.unwrap_err();
    // One level lower is within the bound.
    change(&s, &t, &chain[2], add(&[&newcomer.id])).await.unwrap();
    let u = user(&s, &t, "deep").await;
    change(&s, &t, &chain[1], add(&[&u.id])).await.unwrap();
    assert_eq!(member_ids(&s, &t, &chain[1]).await, vec![u.id.clone()]);
}

/// RFC 7643 §4.1.2 `groups`: the groups the user belongs to directly, with their names.
pub async fn user_groups_lists_direct_groups<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    let g1 = group(&s, &t, "G1", &[&u.id]).await;
    let g2 = group(&s, &t, "G2", &[&u.id]).await;
    let _outer = group(&s, &t, "Outer", &[&g2.id]).await;
    let _other = group(&s, &t, "Other", &[]).await;
    let got = s.get(&t, ResourceKind::User, &u.id, Include::ALL).await.unwrap();
    let mut expected = vec![
        (g1.id.clone(), "G1".to_string()),
        (g2.id.clone(), "G2".to_string()),
    ];
    expected.sort();
    assert_eq!(got.groups, Some(expected));
    let got = s.get(&t, ResourceKind::User, &u.id, Include::NONE).await.unwrap();
    assert_eq!(got.groups, None);
    // A renamed group shows its new name.
    s.update(
        &t,
        ResourceKind::Group,
        &g1.id,
        Expect::Any,
        group_attrs("G1b"),
        MemberChange::default(),
    )
    .await
    .unwrap();
    let got = s.get(&t, ResourceKind::User, &u.id, Include::ALL).await.unwrap();
    assert!(got.groups.unwrap().contains(&(g1.id.clone(), "G1b".to_string())));
}

pub async fn delete_user_leaves_every_group<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    let v = user(&s, &t, "bob").await;
    let g1 = group(&s, &t, "G1", &[&u.id, &v.id]).await;
    let g2 = group(&s, &t, "G2", &[&u.id]).await;
    s.delete(&t, ResourceKind::User, &u.id, Expect::Any)
        .await
        .unwrap();
    assert_eq!(
        s.get(&t, ResourceKind::User, &u.id, Include::NONE).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(member_ids(&s, &t, &g1.id).await, vec![v.id.clone()]);
    assert!(member_ids(&s, &t, &g2.id).await.is_empty());
    assert!(list(
        &s,
        &t,
        ResourceKind::Group,
        &format!("members.value eq \"{}\"", u.id)
    )
    .await
    .is_empty());
}

pub async fn delete_group_leaves_parents_and_frees_members<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    let g = group(&s, &t, "G", &[&u.id]).await;
    let sibling = group(&s, &t, "Sibling", &[]).await;
    let parent = group(&s, &t, "Parent", &[&g.id, &sibling.id]).await;
    let other = group(&s, &t, "Other", &[&u.id]).await;
    s.delete(&t, ResourceKind::Group, &g.id, Expect::Any)
        .await
        .unwrap();
    assert_eq!(
        s.get(&t, ResourceKind::Group, &g.id, Include::ALL).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(member_ids(&s, &t, &parent.id).await, vec![sibling.id.clone()]);
    assert_eq!(group_ids(&s, &t, &u.id).await, vec![other.id.clone()]);
    assert_eq!(
        list(
            &s,
            &t,
            ResourceKind::User,
            &format!("groups.value eq \"{}\"", g.id)
        )
        .await,
        Vec::<String>::new()
    );
    // The user can still be a member elsewhere, and the parent can take new members.
    change(&s, &t, &parent.id, add(&[&u.id])).await.unwrap();
    assert_eq!(
        member_ids(&s, &t, &parent.id).await,
        sorted(&[&sibling.id, &u.id])
    );
}
