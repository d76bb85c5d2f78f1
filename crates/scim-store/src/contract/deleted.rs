//! Contract cases: Soft delete: what disappears at once, what is kept, restore, purge times.

use super::*;

/// A purge time `days` from now.
fn in_days(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::days(days)
}

async fn soft_delete<S: Store>(s: &S, t: &TenantId, id: &str) {
    s.delete_user_soft(t, id, Expect::Any, in_days(30)).await.unwrap();
}

async fn kept_ids<S: Store>(s: &S, t: &TenantId) -> Vec<String> {
    s.deleted_users(t)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect()
}

/// A soft-deleted user is gone from reads, lists and filters at once, and its `userName` and
/// `externalId` can be used again.
pub async fn soft_delete_hides_at_once_and_frees_values<S: Store>(s: S) {
    let t = tenant();
    let attrs = obj(json!({"userName": "alice", "externalId": "ext-1", "active": true}));
    let u = s
        .create(&t, ResourceKind::User, attrs.clone(), MemberChange::default())
        .await
        .unwrap();
    user(&s, &t, "bob").await;
    soft_delete(&s, &t, &u.id).await;
    assert_eq!(
        s.get(&t, ResourceKind::User, &u.id, Include::ALL).await,
        Err(StoreError::NotFound)
    );
    assert!(list(&s, &t, ResourceKind::User, "userName eq \"alice\"")
        .await
        .is_empty());
    assert!(list(&s, &t, ResourceKind::User, "externalId eq \"ext-1\"")
        .await
        .is_empty());
    assert!(list(&s, &t, ResourceKind::User, &format!("id eq \"{}\"", u.id))
        .await
        .is_empty());
    let all = s
        .query(&t, ResourceKind::User, &query(None, 1, 10))
        .await
        .unwrap();
    assert_eq!(all.total_results, Some(1));
    assert_eq!(all.resources.len(), 1);
    // Deleting it again finds nothing to delete.
    assert_eq!(
        s.delete_user_soft(&t, &u.id, Expect::Any, in_days(30)).await,
        Err(StoreError::NotFound)
    );
    let again = s
        .create(&t, ResourceKind::User, attrs, MemberChange::default())
        .await
        .unwrap();
    assert_ne!(again.id, u.id);
    assert_eq!(
        list(&s, &t, ResourceKind::User, "externalId eq \"ext-1\"").await,
        vec![again.id.clone()]
    );
}

/// A soft-deleted user leaves its groups (both sides), and the kept record remembers them.
pub async fn soft_delete_leaves_groups_and_keeps_the_record<S: Store>(s: S) {
    let t = tenant();
    let attrs = obj(json!({"userName": "alice", "externalId": "ext-1", "title": "Engineer"}));
    let u = s
        .create(&t, ResourceKind::User, attrs.clone(), MemberChange::default())
        .await
        .unwrap();
    let v = user(&s, &t, "bob").await;
    let g1 = group(&s, &t, "G1", &[&u.id, &v.id]).await;
    let g2 = group(&s, &t, "G2", &[&u.id]).await;
    let before = OffsetDateTime::now_utc() - Duration::from_secs(1);
    let purge = in_days(30);
    s.delete_user_soft(&t, &u.id, Expect::Version(1), purge)
        .await
        .unwrap();
    let after = OffsetDateTime::now_utc() + Duration::from_secs(1);
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
    assert_eq!(
        list(
            &s,
            &t,
            ResourceKind::User,
            &format!("groups.value eq \"{}\"", g1.id)
        )
        .await,
        vec![v.id.clone()]
    );
    let kept = s.deleted_users(&t).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let k = &kept[0];
    assert_eq!(k.id, u.id);
    assert_eq!(k.version, 1);
    assert_eq!(k.attrs, attrs);
    assert_eq!((&k.created, &k.last_modified), (&u.created, &u.last_modified));
    assert_eq!(k.groups, sorted(&[&g1.id, &g2.id]));
    assert_eq!(k.purge_after, purge_timestamp(purge_second(purge)));
    let deleted = rfc3339(&k.deleted);
    assert!(before <= deleted && deleted <= after, "{}", k.deleted);
}

/// A restore brings back the id and attributes at version + 1, in the remembered groups that
/// still exist.
pub async fn restore_brings_back_id_attributes_version_and_groups<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    let attrs = obj(json!({"userName": "alice", "active": true, "title": "Engineer"}));
    let u2 = s
        .update(
            &t,
            ResourceKind::User,
            &u.id,
            Expect::Any,
            attrs.clone(),
            MemberChange::default(),
        )
        .await
        .unwrap();
    assert_eq!(u2.version, 2);
    let g1 = group(&s, &t, "G1", &[&u.id]).await;
    let g2 = group(&s, &t, "G2", &[&u.id]).await;
    soft_delete(&s, &t, &u.id).await;
    s.delete(&t, ResourceKind::Group, &g2.id, Expect::Any)
        .await
        .unwrap();
    tick().await;
    let restored = s.restore_user(&t, &u.id).await.unwrap();
    assert_eq!(restored.id, u.id);
    assert_eq!(restored.version, 3);
    assert_eq!(restored.attrs, attrs);
    assert_eq!(restored.created, u.created);
    assert!(rfc3339(&restored.last_modified) > rfc3339(&u2.last_modified));
    assert_eq!(restored.groups, Some(vec![(g1.id.clone(), "G1".to_string())]));
    let got = s.get(&t, ResourceKind::User, &u.id, Include::ALL).await.unwrap();
    assert_eq!(got, restored);
    assert_eq!(member_ids(&s, &t, &g1.id).await, vec![u.id.clone()]);
    assert_eq!(
        list(&s, &t, ResourceKind::User, "userName eq \"ALICE\"").await,
        vec![u.id.clone()]
    );
    assert_eq!(
        list(
            &s,
            &t,
            ResourceKind::Group,
            &format!("members.value eq \"{}\"", u.id)
        )
        .await,
        vec![g1.id.clone()]
    );
    // The userName is taken again, and the record is no longer kept.
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
    assert!(kept_ids(&s, &t).await.is_empty());
    assert_eq!(s.restore_user(&t, &u.id).await, Err(StoreError::NotFound));
    // The restored user counts again and can be deleted for good.
    let all = s
        .query(&t, ResourceKind::User, &query(None, 1, 10))
        .await
        .unwrap();
    assert_eq!(all.total_results, Some(1));
    s.delete(&t, ResourceKind::User, &u.id, Expect::Version(3))
        .await
        .unwrap();
    assert!(member_ids(&s, &t, &g1.id).await.is_empty());
}

/// A restore whose `userName` (compared case-insensitively) or `externalId` was taken meanwhile
/// is refused and writes nothing; it works once the value is free again.
pub async fn restore_refused_when_user_name_or_external_id_retaken<S: Store>(s: S) {
    let t = tenant();
    let attrs = obj(json!({"userName": "alice", "externalId": "ext-1"}));
    let u = s
        .create(&t, ResourceKind::User, attrs, MemberChange::default())
        .await
        .unwrap();
    let g = group(&s, &t, "G", &[&u.id]).await;
    soft_delete(&s, &t, &u.id).await;

    let taker = user(&s, &t, "ALICE").await;
    assert_eq!(
        s.restore_user(&t, &u.id).await,
        Err(StoreError::Uniqueness {
            attribute: "userName".into()
        })
    );
    assert_eq!(kept_ids(&s, &t).await, vec![u.id.clone()]);
    assert_eq!(
        s.get(&t, ResourceKind::User, &u.id, Include::NONE).await,
        Err(StoreError::NotFound)
    );
    assert!(member_ids(&s, &t, &g.id).await.is_empty());
    s.delete(&t, ResourceKind::User, &taker.id, Expect::Any)
        .await
        .unwrap();

    let taker = s
        .create(
            &t,
            ResourceKind::User,
            obj(json!({"userName": "bob", "externalId": "ext-1"})),
            MemberChange::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        s.restore_user(&t, &u.id).await,
        Err(StoreError::Uniqueness {
            attribute: "externalId".into()
        })
    );
    assert_eq!(kept_ids(&s, &t).await, vec![u.id.clone()]);
    assert_eq!(
        list(&s, &t, ResourceKind::User, "externalId eq \"ext-1\"").await,
        vec![taker.id.clone()]
    );
    s.delete(&t, ResourceKind::User, &taker.id, Expect::Any)
        .await
        .unwrap();

    let restored = s.restore_user(&t, &u.id).await.unwrap();
    assert_eq!(restored.version, 2);
    assert_eq!(member_ids(&s, &t, &g.id).await, vec![u.id.clone()]);
}

/// A record past its purge time is neither listed nor restorable, whether or not the backend
/// has removed it yet.
pub async fn expired_kept_records_are_neither_listed_nor_restorable<S: Store>(s: S) {
    let t = tenant();
    let old = user(&s, &t, "old").await;
    let fresh = user(&s, &t, "fresh").await;
    s.delete_user_soft(&t, &old.id, Expect::Any, in_days(-1))
        .await
        .unwrap();
    soft_delete(&s, &t, &fresh.id).await;
    assert_eq!(kept_ids(&s, &t).await, vec![fresh.id.clone()]);
    assert_eq!(s.restore_user(&t, &old.id).await, Err(StoreError::NotFound));
    assert_eq!(
        s.get(&t, ResourceKind::User, &old.id, Include::NONE).await,
        Err(StoreError::NotFound)
    );
    user(&s, &t, "old").await;
    assert_eq!(kept_ids(&s, &t).await, vec![fresh.id.clone()]);
}

/// Kept records belong to their tenant: another tenant neither lists nor restores them.
pub async fn kept_records_are_per_tenant<S: Store>(s: S) {
    let (a, b) = (tenant(), tenant());
    let u = user(&s, &a, "alice").await;
    user(&s, &b, "bob").await;
    assert_eq!(
        s.delete_user_soft(&b, &u.id, Expect::Any, in_days(30)).await,
        Err(StoreError::NotFound)
    );
    soft_delete(&s, &a, &u.id).await;
    assert!(kept_ids(&s, &b).await.is_empty());
    assert_eq!(s.restore_user(&b, &u.id).await, Err(StoreError::NotFound));
    assert_eq!(
        s.get(&b, ResourceKind::User, &u.id, Include::NONE).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(kept_ids(&s, &a).await, vec![u.id.clone()]);
    s.restore_user(&a, &u.id).await.unwrap();
}

/// A hard delete keeps nothing to restore.
pub async fn hard_delete_keeps_nothing<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    group(&s, &t, "G", &[&u.id]).await;
    s.delete(&t, ResourceKind::User, &u.id, Expect::Any)
        .await
        .unwrap();
    assert!(kept_ids(&s, &t).await.is_empty());
    assert_eq!(s.restore_user(&t, &u.id).await, Err(StoreError::NotFound));
    assert_eq!(s.restore_user(&t, "no-such-id").await, Err(StoreError::NotFound));
}

/// A soft delete is conditional on the version like any write (RFC 7644 §3.14 `If-Match`).
pub async fn soft_delete_honours_expect<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    let g = group(&s, &t, "G", &[&u.id]).await;
    assert_eq!(
        s.delete_user_soft(&t, &u.id, Expect::Version(7), in_days(30))
            .await,
        Err(StoreError::VersionConflict { current: 1 })
    );
    assert_eq!(
        s.get(&t, ResourceKind::User, &u.id, Include::NONE).await,
        Ok(u.clone())
    );
    assert_eq!(member_ids(&s, &t, &g.id).await, vec![u.id.clone()]);
    assert!(kept_ids(&s, &t).await.is_empty());
    assert_eq!(
        s.delete_user_soft(&t, "no-such-id", Expect::Any, in_days(30))
            .await,
        Err(StoreError::NotFound)
    );
}
