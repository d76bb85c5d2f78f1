//! Contract cases: Group ancestry, one level at a time, for the effective-access walk.

use super::*;

fn ancestry(id: &str, name: &str, external_id: Option<&str>, parents: &[&str]) -> GroupAncestry {
    GroupAncestry {
        id: id.to_string(),
        display_name: name.to_string(),
        external_id: external_id.map(str::to_string),
        parents: sorted(parents),
    }
}

async fn ancestry_of<S: Store>(s: &S, t: &TenantId, ids: &[&str]) -> Vec<GroupAncestry> {
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    s.groups_with_parents(t, &ids).await.unwrap()
}

/// Each group named once, in the order asked, with its displayName, externalId and direct
/// parents; users, unknown ids and repeats are left out.
pub async fn groups_with_parents_reads_keys_and_parents<S: Store>(s: S) {
    let t = tenant();
    let u = user(&s, &t, "alice").await;
    let a = s
        .create(
            &t,
            ResourceKind::Group,
            obj(json!({"displayName": "Alpha", "externalId": "ext-A"})),
            add(&[&u.id]),
        )
        .await
        .unwrap();
    let b = group(&s, &t, "Beta", &[&a.id]).await;
    let c = group(&s, &t, "Gamma", &[&b.id]).await;
    let d = group(&s, &t, "Delta", &[&a.id, &u.id]).await;
    assert_eq!(
        ancestry_of(&s, &t, &[&c.id, &a.id, &u.id, "no-such-group", &b.id, &a.id]).await,
        vec![
            ancestry(&c.id, "Gamma", None, &[]),
            ancestry(&a.id, "Alpha", Some("ext-A"), &[&b.id, &d.id]),
            ancestry(&b.id, "Beta", None, &[&c.id]),
        ]
    );
    assert_eq!(ancestry_of(&s, &t, &[]).await, vec![]);
}

/// Parents follow member changes, renames and deletes at once.
pub async fn groups_with_parents_follows_membership_changes<S: Store>(s: S) {
    let t = tenant();
    let a = group(&s, &t, "A", &[]).await;
    let b = group(&s, &t, "B", &[&a.id]).await;
    let c = group(&s, &t, "C", &[&a.id]).await;
    change(&s, &t, &b.id, remove(&[&a.id])).await.unwrap();
    assert_eq!(
        ancestry_of(&s, &t, &[&a.id]).await,
        vec![ancestry(&a.id, "A", None, &[&c.id])]
    );
    s.update(
        &t,
        ResourceKind::Group,
        &a.id,
        Expect::Any,
        obj(json!({"displayName": "A2", "externalId": "x"})),
        MemberChange::default(),
    )
    .await
    .unwrap();
    s.delete(&t, ResourceKind::Group, &c.id, Expect::Any)
        .await
        .unwrap();
    assert_eq!(
        ancestry_of(&s, &t, &[&a.id, &c.id]).await,
        vec![ancestry(&a.id, "A2", Some("x"), &[])]
    );
}

/// Another tenant's groups are unknown ids.
pub async fn groups_with_parents_is_per_tenant<S: Store>(s: S) {
    let (t, other) = (tenant(), tenant());
    let a = group(&s, &t, "A", &[]).await;
    group(&s, &t, "B", &[&a.id]).await;
    assert_eq!(ancestry_of(&s, &other, &[&a.id]).await, vec![]);
    assert_eq!(ancestry_of(&s, &t, &[&a.id]).await.len(), 1);
}
