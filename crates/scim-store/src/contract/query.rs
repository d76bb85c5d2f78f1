//! Contract cases: Lists: index and cursor paging, filters answered from indexes, what a page includes.

use super::*;

/// RFC 7644 §3.4.2.4: index-based pages, 1-based, in a stable order.
pub async fn paging_sees_every_user_once_in_order<S: Store>(s: S) {
    let t = tenant();
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(user(&s, &t, &format!("user{i:02}")).await.id);
    }
    ids.sort();
    let mut seen = Vec::new();
    for (start, expect_len) in [(1, 10), (11, 10), (21, 5)] {
        let page: Page = s
            .query(&t, ResourceKind::User, &query(None, start, 10))
            .await
            .unwrap();
        assert_eq!(page.total_results, Some(25));
        assert_eq!(page.resources.len(), expect_len, "page at {start}");
        seen.extend(page.resources.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, ids, "every user exactly once, ordered by id");
    let past = s
        .query(&t, ResourceKind::User, &query(None, 26, 10))
        .await
        .unwrap();
    assert_eq!(past.total_results, Some(25));
    assert!(past.resources.is_empty());
    // A startIndex below 1 is taken as 1.
    let zero = s.query(&t, ResourceKind::User, &query(None, 0, 3)).await.unwrap();
    assert_eq!(
        zero.resources.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        ids[..3]
    );
}

/// RFC 7644 §3.4.2.4: `count=0` returns only `totalResults`.
pub async fn count_zero_returns_total_only<S: Store>(s: S) {
    let t = tenant();
    for i in 0..3 {
        user(&s, &t, &format!("user{i}")).await;
    }
    let page = s.query(&t, ResourceKind::User, &query(None, 1, 0)).await.unwrap();
    assert_eq!(page.total_results, Some(3));
    assert!(page.resources.is_empty());
    let f = filter(ResourceKind::User, "userName eq \"user1\"");
    let page = s
        .query(&t, ResourceKind::User, &query(Some(f), 1, 0))
        .await
        .unwrap();
    assert_eq!(page.total_results, Some(1));
    assert!(page.resources.is_empty());
}

/// The lookup every IdP does before creating a user: `userName eq "..."`, case-insensitive
/// because `userName` is not `caseExact` (RFC 7643 §4.1.1, RFC 7644 §3.4.2.2).
pub async fn filter_user_name_eq_case_insensitive<S: Store>(s: S) {
    let t = tenant();
    let alice = user(&s, &t, "Alice@Example.com").await;
    user(&s, &t, "bob@example.com").await;
    for text in [
        "userName eq \"alice@example.com\"",
        "userName eq \"ALICE@EXAMPLE.COM\"",
        "USERNAME eq \"Alice@Example.com\"",
    ] {
        assert_eq!(
            list(&s, &t, ResourceKind::User, text).await,
            vec![alice.id.clone()],
            "{text}"
        );
    }
    assert!(
        list(&s, &t, ResourceKind::User, "userName eq \"carol@example.com\"")
            .await
            .is_empty()
    );
}

/// `eq` lookups of identifiers compare in Unicode NFC, from either side: `userName`,
/// `externalId` and a Group's `displayName` (the indexed ones on every backend).
pub async fn filter_identifiers_eq_after_nfc_normalisation<S: Store>(s: S) {
    let t = tenant();
    let mut attrs = user_attrs("jos\u{e9}@example.com");
    attrs.insert("externalId".into(), json!("jose\u{301}-1"));
    let u = s
        .create(&t, ResourceKind::User, attrs, MemberChange::default())
        .await
        .unwrap();
    let g = group(&s, &t, "Equipe d\u{e9}veloppement", &[]).await;
    for (kind, text, want) in [
        (
            ResourceKind::User,
            "userName eq \"jose\u{301}@example.com\"",
            &u.id,
        ),
        (ResourceKind::User, "userName eq \"JOS\u{c9}@EXAMPLE.COM\"", &u.id),
        (ResourceKind::User, "externalId eq \"jos\u{e9}-1\"", &u.id),
        (
            ResourceKind::Group,
            "displayName eq \"Equipe de\u{301}veloppement\"",
            &g.id,
        ),
    ] {
        assert_eq!(list(&s, &t, kind, text).await, vec![want.clone()], "{text}");
    }
}

/// `externalId` is `caseExact` (RFC 7643 §3.1).
pub async fn filter_external_id_eq_case_exact<S: Store>(s: S) {
    let t = tenant();
    let mut attrs = user_attrs("alice");
    attrs.insert("externalId".into(), json!("Ext-1"));
    let u = s
        .create(&t, ResourceKind::User, attrs, MemberChange::default())
        .await
        .unwrap();
    user(&s, &t, "bob").await;
    assert_eq!(
        list(&s, &t, ResourceKind::User, "externalId eq \"Ext-1\"").await,
        vec![u.id]
    );
    assert!(list(&s, &t, ResourceKind::User, "externalId eq \"ext-1\"")
        .await
        .is_empty());
}

pub async fn filter_id_eq<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    user(&s, &t, "bob").await;
    let g = group(&s, &t, "Staff", &[]).await;
    assert_eq!(
        list(&s, &t, ResourceKind::User, &format!("id eq \"{}\"", u.id)).await,
        vec![u.id.clone()]
    );
    assert_eq!(
        list(&s, &t, ResourceKind::Group, &format!("id eq \"{}\"", g.id)).await,
        vec![g.id.clone()]
    );
    assert!(list(&s, &t, ResourceKind::Group, &format!("id eq \"{}\"", u.id))
        .await
        .is_empty());
}

/// `groups.value eq "<gid>"`: the users directly in a group.
pub async fn filter_groups_value<S: Store>(s: S) {
    let t = tenant();
    let u1 = user(&s, &t, "u1").await;
    let u2 = user(&s, &t, "u2").await;
    let _u3 = user(&s, &t, "u3").await;
    let g = group(&s, &t, "Staff", &[&u1.id, &u2.id]).await;
    assert_eq!(
        list(
            &s,
            &t,
            ResourceKind::User,
            &format!("groups.value eq \"{}\"", g.id)
        )
        .await,
        sorted(&[&u1.id, &u2.id])
    );
    assert_eq!(
        list(&s, &t, ResourceKind::User, "groups.display eq \"staff\"").await,
        sorted(&[&u1.id, &u2.id])
    );
    assert_eq!(
        list(&s, &t, ResourceKind::User, "groups pr").await,
        sorted(&[&u1.id, &u2.id])
    );
}

/// `members.value eq "<id>"`: the groups a user (or group) is directly in, the query Entra ID
/// and Okta use to check membership.
pub async fn filter_members_value<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "u1").await;
    let g1 = group(&s, &t, "G1", &[&u.id]).await;
    let g2 = group(&s, &t, "G2", &[&u.id]).await;
    let _g3 = group(&s, &t, "G3", &[]).await;
    let outer = group(&s, &t, "Outer", &[&g1.id]).await;
    assert_eq!(
        list(
            &s,
            &t,
            ResourceKind::Group,
            &format!("members.value eq \"{}\"", u.id)
        )
        .await,
        sorted(&[&g1.id, &g2.id])
    );
    assert_eq!(
        list(
            &s,
            &t,
            ResourceKind::Group,
            &format!("members.value eq \"{}\"", g1.id)
        )
        .await,
        vec![outer.id.clone()]
    );
    let text = format!("id eq \"{}\" and members[value eq \"{}\"]", g2.id, u.id);
    assert_eq!(
        list(&s, &t, ResourceKind::Group, &text).await,
        vec![g2.id.clone()]
    );
}

/// `meta.lastModified gt "..."`: incremental sync (SailPoint).
pub async fn filter_meta_last_modified_gt<S: Store>(s: S) {
    let t = tenant();
    let a = user(&s, &t, "a").await;
    tick().await;
    let b = user(&s, &t, "b").await;
    let gt = |ts: &str| format!("meta.lastModified gt \"{ts}\"");
    assert_eq!(
        list(&s, &t, ResourceKind::User, &gt(&a.last_modified)).await,
        vec![b.id.clone()]
    );
    assert!(list(&s, &t, ResourceKind::User, &gt(&b.last_modified))
        .await
        .is_empty());
    tick().await;
    let a2 = s
        .update(
            &t,
            ResourceKind::User,
            &a.id,
            Expect::Any,
            user_attrs("a2"),
            MemberChange::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        list(&s, &t, ResourceKind::User, &gt(&b.last_modified)).await,
        vec![a.id.clone()]
    );
    assert!(list(&s, &t, ResourceKind::User, &gt(&a2.last_modified))
        .await
        .is_empty());
    assert_eq!(
        list(
            &s,
            &t,
            ResourceKind::User,
            "meta.lastModified gt \"2000-01-01T00:00:00Z\""
        )
        .await,
        sorted(&[&a.id, &b.id])
    );
}

/// Listed resources carry members/groups exactly when asked.
pub async fn query_honours_include<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "u1").await;
    let g = group(&s, &t, "G", &[&u.id]).await;
    let mut q = query(None, 1, 10);
    let page = s.query(&t, ResourceKind::Group, &q).await.unwrap();
    assert_eq!(page.resources[0].members, None);
    q.include = Include::ALL;
    let page = s.query(&t, ResourceKind::Group, &q).await.unwrap();
    assert_eq!(page.resources[0].members.as_ref().map(Vec::len), Some(1));
    let page = s.query(&t, ResourceKind::User, &q).await.unwrap();
    assert_eq!(
        page.resources[0].groups,
        Some(vec![(g.id.clone(), "G".to_string())])
    );
}

/// Follows `next` from the first page to the end, returning every id seen and the page count.
async fn walk<S: Store>(s: &S, t: &TenantId, kind: ResourceKind, f: Option<&str>, count: u64) -> Vec<String> {
    let mut after = None;
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let q = Query {
            filter: f.map(|text| filter(kind, text)),
            paging: Paging::Cursor { after: after.clone() },
            count,
            include: Include::NONE,
        };
        let page = s.query(t, kind, &q).await.unwrap();
        assert!(page.resources.len() as u64 <= count);
        seen.extend(page.resources.into_iter().map(|r| r.id));
        match page.next {
            Some(n) => after = Some(n),
            None => return seen,
        }
    }
    panic!("cursor paging did not end");
}

/// RFC 9865: following `nextCursor` visits every resource once, in id order, and ends.
pub async fn cursor_paging_sees_every_user_once<S: Store>(s: S) {
    let t = tenant();
    let mut ids = Vec::new();
    for i in 0..23 {
        ids.push(user(&s, &t, &format!("user{i:02}")).await.id);
    }
    ids.sort();
    for count in [1, 5, 10, 23, 50] {
        assert_eq!(
            walk(&s, &t, ResourceKind::User, None, count).await,
            ids,
            "count {count}"
        );
    }
    let first = s
        .query(
            &t,
            ResourceKind::User,
            &Query {
                filter: None,
                paging: Paging::Cursor { after: None },
                count: 10,
                include: Include::NONE,
            },
        )
        .await
        .unwrap();
    assert_eq!(first.resources.len(), 10);
    assert!(first.next.is_some());
    assert!(
        matches!(first.total_results, None | Some(23)),
        "{:?}",
        first.total_results
    );
    // An empty tenant: one empty page, no next.
    assert!(walk(&s, &tenant(), ResourceKind::User, None, 10).await.is_empty());
}

pub async fn cursor_paging_with_filter<S: Store>(s: S) {
    let t = tenant();
    let mut odd = Vec::new();
    for i in 0..12 {
        let mut attrs = user_attrs(&format!("user{i:02}"));
        attrs.insert("title".into(), json!(if i % 2 == 1 { "odd" } else { "even" }));
        let u = s
            .create(&t, ResourceKind::User, attrs, MemberChange::default())
            .await
            .unwrap();
        if i % 2 == 1 {
            odd.push(u.id);
        }
    }
    odd.sort();
    assert_eq!(
        walk(&s, &t, ResourceKind::User, Some("title eq \"odd\""), 4).await,
        odd
    );
    let g = group(&s, &t, "G", &odd.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let text = format!("groups.value eq \"{}\"", g.id);
    assert_eq!(walk(&s, &t, ResourceKind::User, Some(&text), 2).await, odd);
}

/// A cursor names a position, not a resource: deleting the last resource of a page does not
/// break the next page.
pub async fn cursor_continues_after_deleted_position<S: Store>(s: S) {
    let t = tenant();
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(user(&s, &t, &format!("user{i}")).await.id);
    }
    ids.sort();
    let q = |after: Option<String>| Query {
        filter: None,
        paging: Paging::Cursor { after },
        count: 3,
        include: Include::NONE,
    };
    let first = s.query(&t, ResourceKind::User, &q(None)).await.unwrap();
    let next = first.next.clone().expect("more pages");
    let last = first.resources.last().unwrap().id.clone();
    s.delete(&t, ResourceKind::User, &last, Expect::Any)
        .await
        .unwrap();
    let second = s.query(&t, ResourceKind::User, &q(Some(next))).await.unwrap();
    let mut seen: Vec<String> = first.resources.into_iter().map(|r| r.id).collect();
    seen.extend(second.resources.into_iter().map(|r| r.id));
    assert_eq!(seen, ids);
}

/// A group with more members than the caller allows inline is refused, never shortened.
pub async fn member_limit_refuses_never_truncates<S: Store>(s: S) {
    let t = tenant();
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(user(&s, &t, &format!("user{i}")).await.id);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let g = group(&s, &t, "G", &refs).await;
    let limited = |n| Include {
        member_limit: Some(n),
        ..Include::ALL
    };
    let ok = s.get(&t, ResourceKind::Group, &g.id, limited(4)).await.unwrap();
    assert_eq!(ok.members.unwrap().len(), 4);
    assert_eq!(
        s.get(&t, ResourceKind::Group, &g.id, limited(3)).await,
        Err(StoreError::TooManyMembers {
            group: Some(g.id.clone()),
            limit: 3
        })
    );
    // Without members the limit does not matter.
    let without = Include {
        members: false,
        ..limited(1)
    };
    s.get(&t, ResourceKind::Group, &g.id, without).await.unwrap();
    // A page of groups counts the members of all its groups.
    group(&s, &t, "H", &refs[..2]).await;
    let mut q = query(None, 1, 10);
    q.include = limited(5);
    assert_eq!(
        s.query(&t, ResourceKind::Group, &q).await,
        Err(StoreError::TooManyMembers {
            group: None,
            limit: 5
        })
    );
    q.include = limited(6);
    assert_eq!(
        s.query(&t, ResourceKind::Group, &q)
            .await
            .unwrap()
            .resources
            .len(),
        2
    );
}
