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
            sort: None,
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
                sort: None,
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
        sort: None,
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

/// Users for the sorting cases, with gaps where a resource lacks an attribute.
async fn sortable_users<S: Store>(s: &S, t: &TenantId) -> Vec<StoredResource> {
    let emails = |primary: &str| json!([{"value": "other@x"}, {"value": primary, "primary": true}]);
    let rows = [
        json!({"userName": "carol", "displayName": "Carol", "externalId": "x-3",
               "name": {"familyName": "Zeta"}, "active": true, "emails": emails("c@x")}),
        json!({"userName": "Alice", "externalId": "x-1",
               "name": {"familyName": "adams"}, "active": false, "emails": emails("z@x")}),
        json!({"userName": "bob", "displayName": "bob", "emails": emails("b@x")}),
        json!({"userName": "dave", "displayName": "Émile", "externalId": "X-2",
               "name": {"familyName": "Adams"}, "active": true, "emails": emails("a@x")}),
        json!({"userName": "erin", "displayName": "alice", "externalId": "x-10",
               "name": {"familyName": "young"}, "active": false, "emails": emails("e@x")}),
        json!({"userName": "Ábel", "displayName": "Bob", "externalId": "x-4",
               "name": {"familyName": "Young"}, "emails": emails("d@x")}),
    ];
    let mut users = Vec::new();
    for attrs in rows {
        users.push(
            s.create(
                t,
                ResourceKind::User,
                attrs.as_object().unwrap().clone(),
                MemberChange::default(),
            )
            .await
            .unwrap(),
        );
    }
    users
}

fn sort_query(filter: Option<Filter>, by: &str, order: SortOrder, paging: Paging, count: u64) -> Query {
    let registry = SchemaRegistry::standard();
    Query {
        sort: Some(SortBy::resolve(by, Some(order), &registry.user()).unwrap()),
        ..query_paged(filter, paging, count)
    }
}

fn query_paged(filter: Option<Filter>, paging: Paging, count: u64) -> Query {
    Query {
        paging,
        ..query(filter, 1, count)
    }
}

/// The userNames of a sorted list, read whole by index.
async fn sorted_names<S: Store>(
    s: &S,
    t: &TenantId,
    filter: Option<&str>,
    by: &str,
    order: SortOrder,
) -> Vec<String> {
    let f = filter.map(|text| self::filter(ResourceKind::User, text));
    let page = s
        .query(
            t,
            ResourceKind::User,
            &sort_query(f, by, order, Paging::Index { start_index: 1 }, 100),
        )
        .await
        .unwrap();
    assert_eq!(page.total_results, Some(page.resources.len() as u64));
    page.resources
        .iter()
        .map(|r| r.attrs["userName"].as_str().unwrap().to_string())
        .collect()
}

/// RFC 7644 §3.4.2.3: each attribute's type and `caseExact` decide the order; resources
/// without the attribute come last ascending and first descending; `sortOrder` reverses.
pub async fn sorting_orders_by_type_with_missing_values_last<S: Store>(s: S) {
    let t = tenant();
    let users = sortable_users(&s, &t).await;
    let asc = SortOrder::Ascending;
    // Strings compare case-insensitively by code point after NFC ("Ábel" after every ASCII name).
    assert_eq!(
        sorted_names(&s, &t, None, "userName", asc).await,
        ["Alice", "bob", "carol", "dave", "erin", "Ábel"]
    );
    // displayName "bob"/"Bob" tie: by id; Alice has none, so last.
    let tie: Vec<&StoredResource> = users
        .iter()
        .filter(|u| {
            u.attrs
                .get("displayName")
                .is_some_and(|d| d.as_str().unwrap().eq_ignore_ascii_case("bob"))
        })
        .collect();
    let mut tied: Vec<(&str, &str)> = tie
        .iter()
        .map(|u| (u.id.as_str(), u.attrs["userName"].as_str().unwrap()))
        .collect();
    tied.sort();
    let mut expected = vec!["erin"];
    expected.extend(tied.iter().map(|(_, n)| *n));
    expected.extend(["carol", "dave", "Alice"]);
    assert_eq!(sorted_names(&s, &t, None, "displayName", asc).await, expected);
    // Descending is the exact reverse: the user without a displayName first.
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(
        sorted_names(&s, &t, None, "displayName", SortOrder::Descending).await,
        reversed
    );
    // externalId is caseExact: "X-2" before "x-…"; strings, so "x-10" before "x-3".
    assert_eq!(
        sorted_names(&s, &t, None, "externalId", asc).await,
        ["dave", "Alice", "erin", "carol", "Ábel", "bob"]
    );
    // A sub-attribute; "adams"/"Adams" and "young"/"Young" tie and go by id.
    let family = sorted_names(&s, &t, None, "name.familyName", asc).await;
    let pair = |i: usize| {
        let mut p = [family[i].as_str(), family[i + 1].as_str()];
        p.sort();
        p
    };
    assert_eq!(pair(0), ["Alice", "dave"], "{family:?}");
    assert_eq!(pair(2), ["erin", "Ábel"], "{family:?}");
    assert_eq!(&family[4..], ["carol", "bob"], "Zeta, then no familyName last");
    // Booleans: false, then true, then none.
    let active = sorted_names(&s, &t, None, "active", asc).await;
    let rank = |n: &str| match n {
        "Alice" | "erin" => 0,
        "carol" | "dave" => 1,
        _ => 2,
    };
    assert!(
        active.windows(2).all(|w| rank(&w[0]) <= rank(&w[1])),
        "{active:?}"
    );
    // A multi-valued attribute sorts by its primary value.
    assert_eq!(
        sorted_names(&s, &t, None, "emails.value", asc).await,
        ["dave", "bob", "carol", "Ábel", "erin", "Alice"]
    );
    // Dates: creation order, ties (same instant) by id; lastModified moves with an update.
    let created = sorted_names(&s, &t, None, "meta.created", asc).await;
    let by_created = {
        let mut v: Vec<(&str, &str, &str)> = users
            .iter()
            .map(|u| {
                (
                    u.created.as_str(),
                    u.id.as_str(),
                    u.attrs["userName"].as_str().unwrap(),
                )
            })
            .collect();
        v.sort_by(|a, b| rfc3339(a.0).cmp(&rfc3339(b.0)).then(a.1.cmp(b.1)));
        v.into_iter().map(|(_, _, n)| n.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(created, by_created);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let first = &users[0];
    s.update(
        &t,
        ResourceKind::User,
        &first.id,
        Expect::Any,
        {
            let mut a = first.attrs.clone();
            a.insert("nickName".into(), json!("touched"));
            a
        },
        MemberChange::default(),
    )
    .await
    .unwrap();
    let modified = sorted_names(&s, &t, None, "meta.lastModified", SortOrder::Descending).await;
    assert_eq!(
        modified[0], "carol",
        "the user updated last comes first descending"
    );
}

/// Sorting combines with filters (answered by an index or evaluated item by item) and with
/// both paging styles: pages of a sorted list, by index or by cursor, are slices of the whole.
pub async fn sorting_combines_with_filters_and_both_paging_styles<S: Store>(s: S) {
    let t = tenant();
    for i in 0..23 {
        // displayNames out of id order, some repeated.
        let attrs = json!({"userName": format!("u{i:02}"), "displayName": format!("n{}", (i * 7) % 10)});
        s.create(
            &t,
            ResourceKind::User,
            attrs.as_object().unwrap().clone(),
            MemberChange::default(),
        )
        .await
        .unwrap();
    }
    for order in [SortOrder::Ascending, SortOrder::Descending] {
        for filter in [None, Some("userName sw \"u1\""), Some("userName eq \"u07\"")] {
            let whole = sorted_names(&s, &t, filter, "displayName", order).await;
            let f = || filter.map(|text| self::filter(ResourceKind::User, text));
            // By index, 4 at a time.
            let mut by_index = Vec::new();
            let mut start = 1;
            loop {
                let page = s
                    .query(
                        &t,
                        ResourceKind::User,
                        &sort_query(f(), "displayName", order, Paging::Index { start_index: start }, 4),
                    )
                    .await
                    .unwrap();
                assert_eq!(page.total_results, Some(whole.len() as u64));
                if page.resources.is_empty() {
                    break;
                }
                by_index.extend(
                    page.resources
                        .iter()
                        .map(|r| r.attrs["userName"].as_str().unwrap().to_string()),
                );
                start += 4;
            }
            assert_eq!(by_index, whole, "{order:?} {filter:?} by index");
            // By cursor, 5 at a time, bounded.
            let mut by_cursor = Vec::new();
            let mut after = None;
            for _ in 0..20 {
                let page = s
                    .query(
                        &t,
                        ResourceKind::User,
                        &sort_query(
                            f(),
                            "displayName",
                            order,
                            Paging::Cursor { after: after.clone() },
                            5,
                        ),
                    )
                    .await
                    .unwrap();
                by_cursor.extend(
                    page.resources
                        .iter()
                        .map(|r| r.attrs["userName"].as_str().unwrap().to_string()),
                );
                match page.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            assert_eq!(by_cursor, whole, "{order:?} {filter:?} by cursor");
        }
    }
    let whole = sorted_names(&s, &t, None, "displayName", SortOrder::Ascending).await;
    assert_eq!(whole.len(), 23);
    let mut first = whole[..3].to_vec();
    first.sort();
    assert_eq!(
        first,
        ["u00", "u10", "u20"],
        "the three named n0 come first (among them, by id)"
    );
}
