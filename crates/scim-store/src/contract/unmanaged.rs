//! Contract cases: Existing (unmanaged) accounts: invisibility, import, matching, adoption and conflicts.

use super::*;

fn account_attrs(name: &str, email: &str) -> Map<String, Value> {
    obj(
        json!({"userName": name, "displayName": format!("{name} (imported)"), "title": "Engineer",
               "emails": [{"value": email, "type": "work", "primary": true}]}),
    )
}

fn found(account: &str, attribute: MatchAttribute, value: &str) -> StoreError {
    StoreError::UnmanagedMatch(UnmanagedMatch {
        account: account.to_string(),
        attribute,
        value: value.to_string(),
    })
}

async fn user_count<S: Store>(s: &S, t: &TenantId) -> u64 {
    s.query(t, ResourceKind::User, &query(None, 1, 0))
        .await
        .unwrap()
        .total_results
        .unwrap()
}

async fn set_policy<S: Store>(s: &S, t: &TenantId, policy: ConflictPolicy) {
    let settings = TenantSettings {
        conflict_policy: policy,
        ..TenantSettings::default()
    };
    s.put_settings(t, &settings, Expect::Any).await.unwrap();
}

/// An imported account is no SCIM resource: GET, lists and filters do not see it; the
/// unmanaged reads find it by userName and by primary email, ignoring case.
pub async fn unmanaged_accounts_are_invisible_to_scim<S: Store>(s: S) {
    let t = tenant();
    let a = s
        .import_unmanaged(&t, account_attrs("Bob", "Bob@Example.com"))
        .await
        .unwrap();
    assert_eq!((a.version, a.set_aside.as_deref()), (1, None));
    assert_eq!(a.attrs, account_attrs("Bob", "Bob@Example.com"));
    assert_eq!(
        s.get(&t, ResourceKind::User, &a.id, Include::ALL).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(user_count(&s, &t).await, 0);
    let f = filter(ResourceKind::User, "userName eq \"bob\"");
    assert_eq!(
        s.query(&t, ResourceKind::User, &query(Some(f), 1, 10))
            .await
            .unwrap()
            .total_results,
        Some(0)
    );
    assert_eq!(s.get_unmanaged(&t, &a.id).await.unwrap(), a);
    let by_name = s.find_unmanaged(&t, &user_attrs("BOB")).await.unwrap();
    assert_eq!(
        by_name.map(StoreError::UnmanagedMatch),
        Some(found(&a.id, MatchAttribute::UserName, "bob"))
    );
    // Entra's shape: several emails, the work one primary.
    let entra = obj(json!({"userName": "robert@corp.example", "emails": [
        {"value": "robert@home.example", "type": "home"},
        {"value": "BOB@example.com", "type": "work", "primary": true}]}));
    assert_eq!(
        s.find_unmanaged(&t, &entra)
            .await
            .unwrap()
            .map(StoreError::UnmanagedMatch),
        Some(found(&a.id, MatchAttribute::Email, "bob@example.com"))
    );
    assert_eq!(s.find_unmanaged(&t, &user_attrs("carol")).await, Ok(None));
    assert_eq!(s.get_unmanaged(&t, "no-such-id").await, Err(StoreError::NotFound));
}

/// An import never takes a value a managed user or another unmanaged account holds.
pub async fn import_refuses_taken_values<S: Store>(s: S) {
    let t = tenant();
    user(&s, &t, "alice").await;
    assert_eq!(
        s.import_unmanaged(&t, account_attrs("ALICE", "a@x.org")).await,
        Err(StoreError::Uniqueness {
            attribute: "userName".into()
        })
    );
    let bob = s
        .import_unmanaged(&t, account_attrs("bob", "b@x.org"))
        .await
        .unwrap();
    assert_eq!(
        s.import_unmanaged(&t, account_attrs("Bob", "other@x.org")).await,
        Err(found(&bob.id, MatchAttribute::UserName, "bob"))
    );
    assert_eq!(
        s.import_unmanaged(&t, account_attrs("carol", "B@X.ORG")).await,
        Err(found(&bob.id, MatchAttribute::Email, "b@x.org"))
    );
    assert!(matches!(
        s.import_unmanaged(&t, obj(json!({"displayName": "no name"})))
            .await,
        Err(StoreError::Invalid(_))
    ));
    // A managed user's email does not block an import (emails are not unique).
    s.create(
        &t,
        ResourceKind::User,
        account_attrs("dave", "d@x.org"),
        MemberChange::default(),
    )
    .await
    .unwrap();
    s.import_unmanaged(&t, account_attrs("dave2", "d@x.org"))
        .await
        .unwrap();
    // Nothing of the refused imports was kept.
    assert_eq!(s.find_unmanaged(&t, &user_attrs("carol")).await, Ok(None));
    assert_eq!(s.find_unmanaged(&t, &user_attrs("alice")).await, Ok(None));
}

/// A user create that meets an unmanaged account fails with the match and writes nothing; a
/// duplicate of a managed user is `Uniqueness` even if it also meets an unmanaged account.
pub async fn create_meets_unmanaged_by_user_name_or_primary_email<S: Store>(s: S) {
    let t = tenant();
    let bob = s
        .import_unmanaged(&t, account_attrs("bob", "b@x.org"))
        .await
        .unwrap();
    let create = |attrs: Value| s.create(&t, ResourceKind::User, obj(attrs), MemberChange::default());
    assert_eq!(
        create(json!({"userName": "BOB"})).await,
        Err(found(&bob.id, MatchAttribute::UserName, "bob"))
    );
    assert_eq!(
        create(json!({"userName": "robert", "emails": [
            {"value": "robert@home.example"}, {"value": "B@x.org", "primary": true}]}))
        .await,
        Err(found(&bob.id, MatchAttribute::Email, "b@x.org"))
    );
    // A non-primary email among several does not match.
    create(json!({"userName": "rob", "emails": [{"value": "b@x.org"}, {"value": "r@x.org"}]}))
        .await
        .unwrap();
    assert_eq!(user_count(&s, &t).await, 1);
    // Groups never meet unmanaged accounts.
    group(&s, &t, "bob", &[]).await;
    user(&s, &t, "dave").await;
    s.import_unmanaged(&t, account_attrs("dave2", "d@x.org"))
        .await
        .unwrap();
    assert_eq!(
        create(json!({"userName": "Dave", "emails": [{"value": "d@x.org"}]})).await,
        Err(StoreError::Uniqueness {
            attribute: "userName".into()
        })
    );
}

/// Adoption keeps the id and created time, continues the version, claims managed uniqueness,
/// and takes the account out of the unmanaged ones; a stale or foreign account is refused.
pub async fn adopt_keeps_id_and_continues_version<S: Store>(s: S) {
    let t = tenant();
    let a = s
        .import_unmanaged(&t, account_attrs("bob", "b@x.org"))
        .await
        .unwrap();
    assert_eq!(
        s.adopt_unmanaged(&t, &a, Expect::Version(7), user_attrs("Bob"))
            .await,
        Err(StoreError::VersionConflict { current: 1 })
    );
    let merged = crate::unmanaged::adopted_attributes(&a.attrs, &user_attrs("Bob"));
    let u = s
        .adopt_unmanaged(&t, &a, Expect::Version(1), merged.clone())
        .await
        .unwrap();
    assert_eq!(
        (u.id.as_str(), u.version, u.created.as_str()),
        (a.id.as_str(), 2, a.created.as_str())
    );
    assert_eq!(u.attrs, merged);
    let read = s.get(&t, ResourceKind::User, &a.id, Include::NONE).await.unwrap();
    assert_eq!((read.version, read.attrs), (2, merged));
    let f = filter(ResourceKind::User, "userName eq \"BOB\"");
    assert_eq!(
        s.query(&t, ResourceKind::User, &query(Some(f), 1, 10))
            .await
            .unwrap()
            .total_results,
        Some(1)
    );
    assert_eq!(s.get_unmanaged(&t, &a.id).await, Err(StoreError::NotFound));
    assert_eq!(s.find_unmanaged(&t, &a.attrs).await, Ok(None));
    assert_eq!(
        s.create(&t, ResourceKind::User, user_attrs("bob"), MemberChange::default())
            .await,
        Err(StoreError::Uniqueness {
            attribute: "userName".into()
        })
    );
    // Adopted already: the stale account is gone.
    assert_eq!(
        s.adopt_unmanaged(&t, &a, Expect::Version(1), user_attrs("bob2"))
            .await,
        Err(StoreError::NotFound)
    );
    // The email is free for a new import once its holder is managed.
    s.import_unmanaged(&t, account_attrs("bobby", "b@x.org"))
        .await
        .unwrap();

    // A managed userName cannot be claimed by an adoption; nothing changes.
    user(&s, &t, "mallory").await;
    let eve = s
        .import_unmanaged(&t, account_attrs("eve", "e@x.org"))
        .await
        .unwrap();
    assert_eq!(
        s.adopt_unmanaged(&t, &eve, Expect::Version(1), user_attrs("Mallory"))
            .await,
        Err(StoreError::Uniqueness {
            attribute: "userName".into()
        })
    );
    assert_eq!(s.get_unmanaged(&t, &eve.id).await.unwrap(), eve);
    // Nor a value another unmanaged account holds.
    assert_eq!(
        s.adopt_unmanaged(&t, &eve, Expect::Version(1), user_attrs("BOBBY"))
            .await
            .map(|r| r.id),
        Err(s
            .find_unmanaged(&t, &user_attrs("bobby"))
            .await
            .unwrap()
            .map(StoreError::UnmanagedMatch)
            .unwrap())
    );
    assert_eq!(user_count(&s, &t).await, 2);
}

/// Two creates of one userName racing to adopt one account under `link`: one adopts it, the
/// other is a plain duplicate.
pub async fn concurrent_adoptions_one_wins<S: Store>(s: S) {
    let t = tenant();
    set_policy(&s, &t, ConflictPolicy::Link).await;
    let a = s
        .import_unmanaged(&t, account_attrs("race", "r@x.org"))
        .await
        .unwrap();
    let (x, y) = tokio::join!(
        crate::create_user(&s, &t, user_attrs("race")),
        crate::create_user(&s, &t, user_attrs("RACE"))
    );
    let outcomes = [x, y];
    let adopted: Vec<&CreateOutcome> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(adopted.len(), 1, "{outcomes:?}");
    assert!(
        matches!(adopted[0], CreateOutcome::Adopted(u) if u.id == a.id),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(StoreError::Uniqueness { .. }))),
        "{outcomes:?}"
    );
    assert_eq!(user_count(&s, &t).await, 1);
}

/// One conflict per account and posted userName: a retry adds an attempt and keeps the first
/// attempt's time; another userName is another conflict.
pub async fn conflicts_are_recorded_once_per_account_and_user_name<S: Store>(s: S) {
    let t = tenant();
    let a = s
        .import_unmanaged(&t, account_attrs("bob", "b@x.org"))
        .await
        .unwrap();
    let m = UnmanagedMatch {
        account: a.id.clone(),
        attribute: MatchAttribute::UserName,
        value: "bob".into(),
    };
    let posted = obj(json!({"userName": "Bob", "active": true}));
    let first = s.record_conflict(&t, &m, &posted).await.unwrap();
    assert_eq!(first.id, crate::unmanaged::conflict_id(&a.id, "bob"));
    assert_eq!(
        (
            first.attempts,
            first.status,
            first.user_name.as_str(),
            &first.posted
        ),
        (1, ConflictStatus::Open, "Bob", &posted)
    );
    assert_eq!(
        (first.unmanaged_id.as_str(), first.matched_value.as_str()),
        (a.id.as_str(), "bob")
    );
    assert_eq!(first.first_attempt, first.last_attempt);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = s
        .record_conflict(&t, &m, &obj(json!({"userName": "BOB", "title": "x"})))
        .await
        .unwrap();
    assert_eq!((again.id.as_str(), again.attempts), (first.id.as_str(), 2));
    assert_eq!(again.first_attempt, first.first_attempt);
    assert!(again.last_attempt > first.last_attempt);
    assert_eq!(again.posted, obj(json!({"userName": "BOB", "title": "x"})));
    assert_eq!(
        s.list_conflicts(&t, ConflictScope::Open).await.unwrap(),
        vec![again.clone()]
    );
    let by_email = UnmanagedMatch {
        account: a.id.clone(),
        attribute: MatchAttribute::Email,
        value: "b@x.org".into(),
    };
    let other = s
        .record_conflict(&t, &by_email, &obj(json!({"userName": "robert"})))
        .await
        .unwrap();
    assert_ne!(other.id, first.id);
    assert_eq!(other.matched_attribute, MatchAttribute::Email);
    let mut ids: Vec<String> = s
        .list_conflicts(&t, ConflictScope::Open)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort();
    assert_eq!(ids, sorted(&[&first.id, &other.id]));
}

/// `Link` approves (idempotent, the account untouched); `Reject` sets the account aside so it
/// matches nothing and a create of its userName makes a new user; the opposite decision after
/// either is refused.
pub async fn link_approves_and_reject_sets_aside<S: Store>(s: S) {
    let t = tenant();
    let record = |name: &'static str, email: &'static str| {
        let s = &s;
        let t = &t;
        async move {
            let a = s.import_unmanaged(t, account_attrs(name, email)).await.unwrap();
            let m = s.find_unmanaged(t, &user_attrs(name)).await.unwrap().unwrap();
            let c = s.record_conflict(t, &m, &user_attrs(name)).await.unwrap();
            (a, c)
        }
    };
    let (a, ca) = record("ann", "ann@x.org").await;
    let (b, cb) = record("ben", "ben@x.org").await;

    let linked = s.resolve_conflict(&t, &ca.id, Resolution::Link).await.unwrap();
    assert_eq!(linked.status, ConflictStatus::Approved);
    assert!(linked.resolved.is_some());
    assert_eq!(
        s.resolve_conflict(&t, &ca.id, Resolution::Link).await.unwrap(),
        linked
    );
    assert!(matches!(
        s.resolve_conflict(&t, &ca.id, Resolution::Reject).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(s.get_unmanaged(&t, &a.id).await.unwrap(), a);
    // A retry's record keeps the approval.
    let m = s.find_unmanaged(&t, &user_attrs("ann")).await.unwrap().unwrap();
    let retried = s.record_conflict(&t, &m, &user_attrs("ann")).await.unwrap();
    assert_eq!((retried.status, retried.attempts), (ConflictStatus::Approved, 2));

    let rejected = s.resolve_conflict(&t, &cb.id, Resolution::Reject).await.unwrap();
    assert_eq!(rejected.status, ConflictStatus::Rejected);
    let aside = s.get_unmanaged(&t, &b.id).await.unwrap();
    assert!(aside.set_aside.is_some());
    assert_eq!((aside.version, &aside.attrs), (2, &b.attrs));
    assert_eq!(s.find_unmanaged(&t, &b.attrs).await, Ok(None));
    assert_eq!(
        s.adopt_unmanaged(&t, &aside, Expect::Version(2), user_attrs("ben"))
            .await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        s.resolve_conflict(&t, &cb.id, Resolution::Reject).await.unwrap(),
        rejected
    );
    assert!(matches!(
        s.resolve_conflict(&t, &cb.id, Resolution::Link).await,
        Err(StoreError::Invalid(_))
    ));
    let ben = s
        .create(
            &t,
            ResourceKind::User,
            account_attrs("ben", "ben@x.org"),
            MemberChange::default(),
        )
        .await
        .unwrap();
    assert_ne!(ben.id, b.id);
    // Neither is open any more; both are listed with their decisions in scope `All`.
    assert_eq!(
        s.list_conflicts(&t, ConflictScope::Open).await.unwrap(),
        Vec::<Conflict>::new()
    );
    let mut decided = vec![retried, rejected];
    decided.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(s.list_conflicts(&t, ConflictScope::All).await.unwrap(), decided);
    assert_eq!(
        s.resolve_conflict(&t, "0123456789abcdef0123456789abcdef", Resolution::Link)
            .await,
        Err(StoreError::NotFound)
    );
}

/// [`crate::create_user`] under each policy: `review` records and refuses until approved, then
/// adopts with the merged attributes; `link` adopts at once; after a reject a new user is made.
pub async fn create_user_follows_the_conflict_policy<S: Store>(s: S) {
    let t = tenant();
    let a = s
        .import_unmanaged(&t, account_attrs("bob", "b@x.org"))
        .await
        .unwrap();
    let posted = obj(
        json!({"userName": "Bob", "active": true, "password": "$argon2id$hash",
                            "name": {"givenName": "Bob"}}),
    );
    let CreateOutcome::Conflict(c) = crate::create_user(&s, &t, posted.clone()).await.unwrap() else {
        panic!("review refuses")
    };
    assert_eq!((c.attempts, c.unmanaged_id.as_str()), (1, a.id.as_str()));
    assert!(!c.posted.contains_key("password"));
    let CreateOutcome::Conflict(c2) = crate::create_user(&s, &t, posted.clone()).await.unwrap() else {
        panic!("review refuses again")
    };
    assert_eq!((c2.id.as_str(), c2.attempts), (c.id.as_str(), 2));
    assert_eq!(user_count(&s, &t).await, 0);
    s.resolve_conflict(&t, &c.id, Resolution::Link).await.unwrap();
    let CreateOutcome::Adopted(u) = crate::create_user(&s, &t, posted.clone()).await.unwrap() else {
        panic!("approved adopts")
    };
    assert_eq!(u.id, a.id);
    assert_eq!(u.attrs, crate::unmanaged::adopted_attributes(&a.attrs, &posted));
    assert_eq!(u.attrs["title"], "Engineer");
    assert_eq!(
        crate::create_user(&s, &t, posted.clone()).await,
        Err(StoreError::Uniqueness {
            attribute: "userName".into()
        })
    );

    // `link`: adopted on the first POST, matched by primary email.
    set_policy(&s, &t, ConflictPolicy::Link).await;
    let c_acc = s
        .import_unmanaged(&t, account_attrs("carol", "c@x.org"))
        .await
        .unwrap();
    let entra =
        obj(json!({"userName": "carol@corp.example", "emails": [{"value": "C@x.org", "primary": true}]}));
    let CreateOutcome::Adopted(carol) = crate::create_user(&s, &t, entra).await.unwrap() else {
        panic!("link adopts")
    };
    assert_eq!(
        (carol.id.as_str(), carol.attrs["userName"].as_str()),
        (c_acc.id.as_str(), Some("carol@corp.example"))
    );

    // Rejected: the account no longer matches; a new user is created.
    set_policy(&s, &t, ConflictPolicy::Review).await;
    let d = s
        .import_unmanaged(&t, account_attrs("dan", "dan@x.org"))
        .await
        .unwrap();
    let CreateOutcome::Conflict(cd) = crate::create_user(&s, &t, user_attrs("dan")).await.unwrap() else {
        panic!("review refuses")
    };
    s.resolve_conflict(&t, &cd.id, Resolution::Reject).await.unwrap();
    let CreateOutcome::Created(dan) = crate::create_user(&s, &t, user_attrs("dan")).await.unwrap() else {
        panic!("a new user after reject")
    };
    assert_ne!(dan.id, d.id);
}

/// Unmanaged accounts and conflicts belong to one tenant.
pub async fn unmanaged_accounts_are_per_tenant<S: Store>(s: S) {
    let (a, b) = (tenant(), tenant());
    let acc = s
        .import_unmanaged(&a, account_attrs("bob", "b@x.org"))
        .await
        .unwrap();
    let m = s.find_unmanaged(&a, &user_attrs("bob")).await.unwrap().unwrap();
    let c = s.record_conflict(&a, &m, &user_attrs("bob")).await.unwrap();
    assert_eq!(s.find_unmanaged(&b, &user_attrs("bob")).await, Ok(None));
    assert_eq!(s.get_unmanaged(&b, &acc.id).await, Err(StoreError::NotFound));
    assert_eq!(
        s.list_conflicts(&b, ConflictScope::Open).await.unwrap(),
        Vec::<Conflict>::new()
    );
    assert_eq!(
        s.resolve_conflict(&b, &c.id, Resolution::Reject).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        s.adopt_unmanaged(&b, &acc, Expect::Any, user_attrs("bob")).await,
        Err(StoreError::NotFound)
    );
    user(&s, &b, "bob").await;
    s.import_unmanaged(&b, account_attrs("bob2", "b@x.org"))
        .await
        .unwrap();
    // Tenant a is as it was.
    assert_eq!(s.get_unmanaged(&a, &acc.id).await.unwrap(), acc);
    assert_eq!(s.list_conflicts(&a, ConflictScope::Open).await.unwrap(), vec![c]);
}
