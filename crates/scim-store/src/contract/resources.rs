//! Contract cases: Creating, reading, updating and deleting users and groups: uniqueness, versions,
//! conditional writes, tenant isolation and concurrent writers.

use super::*;

/// What is created is what is read back, with server metadata and no derived parts unless asked.
pub async fn create_get_round_trip<S: Store>(s: S) {
    let t = tenant();
    let attrs = obj(json!({
        "userName": "alice@example.com",
        "externalId": "00u1",
        "name": {"givenName": "Alice", "familyName": "Liddell"},
        "emails": [{"value": "alice@example.com", "type": "work", "primary": true}],
        "active": true,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "7"}
    }));
    let created = s
        .create(&t, ResourceKind::User, attrs.clone(), MemberChange::default())
        .await
        .unwrap();
    assert!(!created.id.is_empty());
    assert_eq!(created.kind, ResourceKind::User);
    assert_eq!(created.version, 1);
    assert_eq!(created.attrs, attrs);
    assert!(rfc3339(&created.last_modified) >= rfc3339(&created.created));
    let got = s
        .get(&t, ResourceKind::User, &created.id, Include::NONE)
        .await
        .unwrap();
    assert_eq!(got, created);
    assert_eq!(got.members, None);
    assert_eq!(got.groups, None);
    let g = group(&s, &t, "Staff", &[]).await;
    assert_ne!(g.id, created.id);
    let got = s
        .get(&t, ResourceKind::Group, &g.id, Include::NONE)
        .await
        .unwrap();
    assert_eq!(got.attrs, group_attrs("Staff"));
    assert_eq!(got.members, None);
    // A user id is not a group id and vice versa.
    assert_eq!(
        s.get(&t, ResourceKind::Group, &created.id, Include::NONE).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        s.get(&t, ResourceKind::User, &g.id, Include::NONE).await,
        Err(StoreError::NotFound)
    );
}

/// RFC 7643 §4.1.1: `userName` is unique (`uniqueness: server`) and not case-exact.
pub async fn user_name_unique_per_tenant_case_insensitive<S: Store>(s: S) {
    let (a, b) = (tenant(), tenant());
    user(&s, &a, "alice").await;
    let dup = s
        .create(
            &a,
            ResourceKind::User,
            user_attrs("Alice"),
            MemberChange::default(),
        )
        .await;
    assert_eq!(
        dup,
        Err(StoreError::Uniqueness {
            attribute: "userName".into()
        })
    );
    let page = s
        .query(&a, ResourceKind::User, &query(None, 1, 100))
        .await
        .unwrap();
    assert_eq!(page.total_results, Some(1), "the duplicate was not stored");
    // Another tenant has its own namespace.
    user(&s, &b, "alice").await;
    user(&s, &b, "ALICE2").await;
}

/// Identifiers compare in Unicode NFC (scim_proto::text): a decomposed "José" (e + U+0301)
/// is the composed one (U+00E9), for `userName` uniqueness on create and on rename.
pub async fn user_name_unique_after_nfc_normalisation<S: Store>(s: S) {
    let t = tenant();
    user(&s, &t, "Jos\u{e9}").await;
    let unique = Err(StoreError::Uniqueness {
        attribute: "userName".into(),
    });
    let dup = s
        .create(
            &t,
            ResourceKind::User,
            user_attrs("jose\u{301}"),
            MemberChange::default(),
        )
        .await;
    assert_eq!(dup.map(|_| ()), unique);
    let other = user(&s, &t, "joseph").await;
    let rename = s
        .update(
            &t,
            ResourceKind::User,
            &other.id,
            Expect::Any,
            user_attrs("JOSE\u{301}"),
            MemberChange::default(),
        )
        .await;
    assert_eq!(rename.map(|_| ()), unique);
}

/// Deleting a user releases its userName.
pub async fn user_name_free_again_after_delete<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    s.delete(&t, ResourceKind::User, &u.id, Expect::Any)
        .await
        .unwrap();
    user(&s, &t, "Alice").await;
}

pub async fn rename_to_taken_user_name_fails_own_case_change_succeeds<S: Store>(s: S) {
    let t = tenant();
    let alice = user(&s, &t, "alice").await;
    let bob = user(&s, &t, "bob").await;
    let r = s
        .update(
            &t,
            ResourceKind::User,
            &bob.id,
            Expect::Any,
            user_attrs("ALICE"),
            MemberChange::default(),
        )
        .await;
    assert_eq!(
        r,
        Err(StoreError::Uniqueness {
            attribute: "userName".into()
        })
    );
    let got = s
        .get(&t, ResourceKind::User, &bob.id, Include::NONE)
        .await
        .unwrap();
    assert_eq!(got, bob, "the failed rename changed nothing");
    let renamed = s
        .update(
            &t,
            ResourceKind::User,
            &alice.id,
            Expect::Any,
            user_attrs("Alice"),
            MemberChange::default(),
        )
        .await
        .unwrap();
    assert_eq!(renamed.attrs["userName"], "Alice");
    assert_eq!(renamed.version, 2);
    // Still taken, by the renamed user.
    assert!(matches!(
        s.create(
            &t,
            ResourceKind::User,
            user_attrs("alice"),
            MemberChange::default()
        )
        .await,
        Err(StoreError::Uniqueness { .. })
    ));
    // A rename releases the old name.
    s.update(
        &t,
        ResourceKind::User,
        &bob.id,
        Expect::Any,
        user_attrs("carol"),
        MemberChange::default(),
    )
    .await
    .unwrap();
    user(&s, &t, "bob").await;
}

/// Every committed write, attributes or members, increments the version by one; `lastModified`
/// moves forward and never precedes `created`.
pub async fn versions_increase_by_one_per_write<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    let mut attrs = u.attrs.clone();
    let mut last = u.clone();
    for (i, title) in ["Engineer", "Manager", "Director"].into_iter().enumerate() {
        tick().await;
        attrs.insert("title".into(), json!(title));
        let next = s
            .update(
                &t,
                ResourceKind::User,
                &u.id,
                Expect::Version(last.version),
                attrs.clone(),
                MemberChange::default(),
            )
            .await
            .unwrap();
        assert_eq!(next.version, 2 + i as u64);
        assert_eq!(next.created, u.created);
        assert!(rfc3339(&next.last_modified) > rfc3339(&last.last_modified));
        last = next;
    }
    let g = group(&s, &t, "Staff", &[]).await;
    let g2 = change(&s, &t, &g.id, add(&[&u.id])).await.unwrap();
    assert_eq!(g2.version, 2, "a member change is a write");
    let g3 = change(&s, &t, &g.id, remove(&[&u.id])).await.unwrap();
    assert_eq!(g3.version, 3);
    assert!(rfc3339(&g3.last_modified) >= rfc3339(&g3.created));
}

/// An update that changes nothing (same attributes, no member change) is not written.
pub async fn unchanged_update_is_not_written<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    tick().await;
    let same = s
        .update(
            &t,
            ResourceKind::User,
            &u.id,
            Expect::Version(1),
            u.attrs.clone(),
            MemberChange::default(),
        )
        .await
        .unwrap();
    assert_eq!(same.version, 1);
    assert_eq!(same.last_modified, u.last_modified);
    // The precondition is still checked.
    let r = s
        .update(
            &t,
            ResourceKind::User,
            &u.id,
            Expect::Version(7),
            u.attrs.clone(),
            MemberChange::default(),
        )
        .await;
    assert_eq!(r, Err(StoreError::VersionConflict { current: 1 }));
}

/// RFC 7644 §3.14: a write based on an old version fails and changes nothing.
pub async fn version_mismatch_conflicts_and_changes_nothing<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    let r = s
        .update(
            &t,
            ResourceKind::User,
            &u.id,
            Expect::Version(2),
            user_attrs("alicia"),
            MemberChange::default(),
        )
        .await;
    assert_eq!(r, Err(StoreError::VersionConflict { current: 1 }));
    assert_eq!(
        s.get(&t, ResourceKind::User, &u.id, Include::NONE).await.unwrap(),
        u
    );
    let g = group(&s, &t, "Staff", &[]).await;
    let r = s
        .update(
            &t,
            ResourceKind::Group,
            &g.id,
            Expect::Version(0),
            g.attrs.clone(),
            add(&[&u.id]),
        )
        .await;
    assert_eq!(r, Err(StoreError::VersionConflict { current: 1 }));
    assert!(member_ids(&s, &t, &g.id).await.is_empty());
    assert_eq!(
        s.delete(&t, ResourceKind::User, &u.id, Expect::Version(5)).await,
        Err(StoreError::VersionConflict { current: 1 })
    );
    assert!(s.get(&t, ResourceKind::User, &u.id, Include::NONE).await.is_ok());
    let ok = s
        .update(
            &t,
            ResourceKind::User,
            &u.id,
            Expect::Version(1),
            user_attrs("alicia"),
            MemberChange::default(),
        )
        .await
        .unwrap();
    assert_eq!(ok.version, 2);
    s.delete(&t, ResourceKind::User, &u.id, Expect::Version(2))
        .await
        .unwrap();
}

pub async fn missing_id_is_not_found<S: Store>(s: S) {
    let t = tenant();
    user(&s, &t, "alice").await;
    let missing = uuid::Uuid::new_v4().to_string();
    for kind in [ResourceKind::User, ResourceKind::Group] {
        assert_eq!(
            s.get(&t, kind, &missing, Include::ALL).await,
            Err(StoreError::NotFound)
        );
        assert_eq!(
            s.update(
                &t,
                kind,
                &missing,
                Expect::Any,
                user_attrs("x"),
                MemberChange::default()
            )
            .await,
            Err(StoreError::NotFound)
        );
        assert_eq!(
            s.delete(&t, kind, &missing, Expect::Any).await,
            Err(StoreError::NotFound)
        );
    }
    // A tenant that never wrote anything.
    let empty = tenant();
    assert_eq!(
        s.get(&empty, ResourceKind::User, &missing, Include::NONE).await,
        Err(StoreError::NotFound)
    );
}

/// Only groups have members.
pub async fn users_take_no_member_changes<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    let r = s
        .create(&t, ResourceKind::User, user_attrs("bob"), add(&[&u.id]))
        .await;
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    let r = s
        .update(
            &t,
            ResourceKind::User,
            &u.id,
            Expect::Any,
            u.attrs.clone(),
            add(&[&u.id]),
        )
        .await;
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
}

/// Architecture invariant: a tenant sees nothing of another tenant.
pub async fn tenant_isolation<S: Store>(s: S) {
    let (a, b) = (tenant(), tenant());
    let u = user(&s, &a, "alice").await;
    let g = group(&s, &a, "Staff", &[&u.id]).await;
    user(&s, &b, "bob").await;
    for (kind, id) in [(ResourceKind::User, &u.id), (ResourceKind::Group, &g.id)] {
        assert_eq!(s.get(&b, kind, id, Include::ALL).await, Err(StoreError::NotFound));
        assert_eq!(
            s.update(
                &b,
                kind,
                id,
                Expect::Any,
                group_attrs("x"),
                MemberChange::default()
            )
            .await,
            Err(StoreError::NotFound)
        );
        assert_eq!(
            s.delete(&b, kind, id, Expect::Any).await,
            Err(StoreError::NotFound)
        );
        assert!(list(&s, &b, kind, &format!("id eq \"{id}\"")).await.is_empty());
    }
    let page = s
        .query(&b, ResourceKind::Group, &query(None, 1, 10))
        .await
        .unwrap();
    assert_eq!(page.total_results, Some(0));
    let page = s
        .query(&b, ResourceKind::User, &query(None, 1, 10))
        .await
        .unwrap();
    assert_eq!(page.total_results, Some(1));
    assert!(list(&s, &b, ResourceKind::User, "userName eq \"alice\"")
        .await
        .is_empty());
    // Tenant A is untouched.
    assert_eq!(member_ids(&s, &a, &g.id).await, vec![u.id.clone()]);
    assert_eq!(
        s.get(&a, ResourceKind::User, &u.id, Include::NONE).await.unwrap(),
        u
    );
}

/// Racing creates of one userName (an IdP retrying): exactly one succeeds.
pub async fn concurrent_creates_of_one_user_name_one_wins<S: Store + 'static>(s: S) {
    let s = std::sync::Arc::new(s);
    let t = tenant();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (s, t) = (s.clone(), t.clone());
        let name = if i % 2 == 0 { "alice" } else { "ALICE" };
        set.spawn(async move {
            s.create(&t, ResourceKind::User, user_attrs(name), MemberChange::default())
                .await
        });
    }
    let results = set.join_all().await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results
        .iter()
        .all(|r| r.is_ok() || matches!(r, Err(StoreError::Uniqueness { .. }))));
    let page = s
        .query(&t, ResourceKind::User, &query(None, 1, 10))
        .await
        .unwrap();
    assert_eq!(page.total_results, Some(1));
}

/// Racing writes based on the same version (RFC 7644 §3.14): exactly one commits.
pub async fn concurrent_conditional_updates_one_wins<S: Store + 'static>(s: S) {
    let s = std::sync::Arc::new(s);
    let t = tenant();
    let u = user(s.as_ref(), &t, "alice").await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (s, t, id) = (s.clone(), t.clone(), u.id.clone());
        set.spawn(async move {
            s.update(
                &t,
                ResourceKind::User,
                &id,
                Expect::Version(1),
                user_attrs(&format!("alice{i}")),
                MemberChange::default(),
            )
            .await
        });
    }
    let results = set.join_all().await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results
        .iter()
        .all(|r| r.is_ok() || r == &Err(StoreError::VersionConflict { current: 2 })));
    let got = s.get(&t, ResourceKind::User, &u.id, Include::NONE).await.unwrap();
    assert_eq!(got.version, 2);
}
