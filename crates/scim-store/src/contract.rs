//! The contract every [`Store`] backend passes (feature `contract`).
//!
//! A backend's test file gets the whole suite, one `#[test]` per case so a failure names the
//! case, with one line:
//!
//! ```text
//! scim_store::store_contract_tests!(MemoryStore::new(Arc::new(SchemaRegistry::standard())));
//! // An async constructor works too: the expression is evaluated inside the test's runtime.
//! scim_store::store_contract_tests!(DynamoStore::connect(&config).await.unwrap());
//! ```
//!
//! The calling crate needs no dependency on tokio: [`run`] builds the runtime. Every case gets
//! a fresh store from the expression and works in tenants named with a fresh UUID, so backends
//! that share state between cases (a DynamoDB table) can run the suite too.

// A test suite: a failed `unwrap` is a failed assertion, reported with the case's name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{
    purge_second, purge_timestamp, unmanaged, Conflict, ConflictPolicy, ConflictStatus, CreateOutcome,
    DeleteMode, Expect, GroupAncestry, Include, MatchAttribute, MemberChange, Page, Paging, Query,
    Resolution, ResourceKind, Store, StoreError, StoredResource, TenantId, TenantSettings, UnmanagedMatch,
    VersionedSettings,
};
use scim_proto::filter::Filter;
use scim_proto::schema::SchemaRegistry;
use serde_json::{json, Map, Value};
use std::future::Future;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub use tokio;

/// Runs one contract case on a fresh current-thread runtime: awaits `make` for the store, then
/// the case.
pub fn run<S, Make, Case, Fut>(make: Make, case: Case)
where
    S: Store,
    Make: Future<Output = S>,
    Case: FnOnce(S) -> Fut,
    Fut: Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the contract case");
    rt.block_on(async move {
        let store = make.await;
        case(store).await;
    });
}

/// Expands to one `#[test]` per contract case, each running the case against a fresh store
/// built by the given expression (which may use `.await`).
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@cases $make;
            create_get_round_trip,
            user_name_unique_per_tenant_case_insensitive,
            user_name_free_again_after_delete,
            rename_to_taken_user_name_fails_own_case_change_succeeds,
            versions_increase_by_one_per_write,
            unchanged_update_is_not_written,
            version_mismatch_conflicts_and_changes_nothing,
            missing_id_is_not_found,
            users_take_no_member_changes,
            add_members_then_get_with_members,
            adding_present_member_is_noop,
            removing_absent_member_is_noop,
            replace_all_members,
            unknown_member_rejected_atomically,
            unknown_member_on_create_creates_nothing,
            member_kind_must_match,
            member_of_other_tenant_rejected,
            nested_group_allowed,
            cycles_rejected,
            user_groups_lists_direct_groups,
            delete_user_leaves_every_group,
            delete_group_leaves_parents_and_frees_members,
            paging_sees_every_user_once_in_order,
            cursor_paging_sees_every_user_once,
            cursor_paging_with_filter,
            cursor_continues_after_deleted_position,
            member_limit_refuses_never_truncates,
            count_zero_returns_total_only,
            filter_user_name_eq_case_insensitive,
            filter_external_id_eq_case_exact,
            filter_id_eq,
            filter_groups_value,
            filter_members_value,
            filter_meta_last_modified_gt,
            query_honours_include,
            tenant_isolation,
            concurrent_creates_of_one_user_name_one_wins,
            concurrent_conditional_updates_one_wins,
            settings_default_then_versioned_writes,
            settings_are_per_tenant_and_validated,
            soft_delete_hides_at_once_and_frees_values,
            soft_delete_leaves_groups_and_keeps_the_record,
            restore_brings_back_id_attributes_version_and_groups,
            restore_refused_when_user_name_or_external_id_retaken,
            expired_kept_records_are_neither_listed_nor_restorable,
            kept_records_are_per_tenant,
            hard_delete_keeps_nothing,
            soft_delete_honours_expect,
            unmanaged_accounts_are_invisible_to_scim,
            import_refuses_taken_values,
            create_meets_unmanaged_by_user_name_or_primary_email,
            adopt_keeps_id_and_continues_version,
            concurrent_adoptions_one_wins,
            conflicts_are_recorded_once_per_account_and_user_name,
            link_approves_and_reject_sets_aside,
            create_user_follows_the_conflict_policy,
            unmanaged_accounts_are_per_tenant,
            groups_with_parents_reads_keys_and_parents,
            groups_with_parents_follows_membership_changes,
            groups_with_parents_is_per_tenant,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::contract::run(async { $make }, $crate::contract::$case);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A tenant no other case (or run) uses.
fn tenant() -> TenantId {
    TenantId::new(&format!("contract-{}", uuid::Uuid::new_v4().simple())).unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn user_attrs(name: &str) -> Map<String, Value> {
    obj(json!({"userName": name, "active": true}))
}

fn group_attrs(name: &str) -> Map<String, Value> {
    obj(json!({"displayName": name}))
}

async fn user<S: Store>(s: &S, t: &TenantId, name: &str) -> StoredResource {
    s.create(t, ResourceKind::User, user_attrs(name), MemberChange::default())
        .await
        .unwrap()
}

async fn group<S: Store>(s: &S, t: &TenantId, name: &str, members: &[&str]) -> StoredResource {
    s.create(t, ResourceKind::Group, group_attrs(name), add(members))
        .await
        .unwrap()
}

fn add(ids: &[&str]) -> MemberChange {
    MemberChange {
        add: ids.iter().map(|id| (id.to_string(), None)).collect(),
        ..MemberChange::default()
    }
}

fn remove(ids: &[&str]) -> MemberChange {
    MemberChange {
        remove: ids.iter().map(|id| id.to_string()).collect(),
        ..MemberChange::default()
    }
}

/// Applies a member change to a group, keeping its attributes.
async fn change<S: Store>(
    s: &S,
    t: &TenantId,
    gid: &str,
    members: MemberChange,
) -> Result<StoredResource, StoreError> {
    let g = s.get(t, ResourceKind::Group, gid, Include::NONE).await?;
    s.update(t, ResourceKind::Group, gid, Expect::Any, g.attrs, members)
        .await
}

/// The group's member ids, in the order the store returns them.
async fn member_ids<S: Store>(s: &S, t: &TenantId, gid: &str) -> Vec<String> {
    let g = s.get(t, ResourceKind::Group, gid, Include::ALL).await.unwrap();
    g.members
        .expect("members requested")
        .into_iter()
        .map(|m| m.value)
        .collect()
}

/// The user's direct group ids.
async fn group_ids<S: Store>(s: &S, t: &TenantId, uid: &str) -> Vec<String> {
    let u = s.get(t, ResourceKind::User, uid, Include::ALL).await.unwrap();
    u.groups
        .expect("groups requested")
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn filter(kind: ResourceKind, text: &str) -> Filter {
    let registry = SchemaRegistry::standard();
    let f = Filter::parse(text).unwrap();
    f.validate(&registry.view(kind.name()).unwrap()).unwrap();
    f
}

fn query(filter: Option<Filter>, start_index: u64, count: u64) -> Query {
    Query {
        filter,
        paging: Paging::Index { start_index },
        count,
        include: Include::NONE,
    }
}

async fn list<S: Store>(s: &S, t: &TenantId, kind: ResourceKind, text: &str) -> Vec<String> {
    let page = s
        .query(t, kind, &query(Some(filter(kind, text)), 1, 1000))
        .await
        .unwrap();
    assert_eq!(page.total_results, Some(page.resources.len() as u64), "{text}");
    page.resources.into_iter().map(|r| r.id).collect()
}

fn rfc3339(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap_or_else(|e| panic!("'{s}' is not RFC 3339: {e}"))
}

fn assert_invalid_member(r: Result<StoredResource, StoreError>, mentions: &str) {
    match r {
        Err(StoreError::InvalidMember(detail)) => {
            assert!(
                detail.contains(mentions),
                "'{detail}' does not mention {mentions}"
            )
        }
        other => panic!("expected InvalidMember, got {other:?}"),
    }
}

/// Sleeps long enough that a later write gets a later timestamp at millisecond precision.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

// ---------------------------------------------------------------------------------------------
// Cases

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

// ---------------------------------------------------------------------------------------------
// Tenant settings

/// A tenant that never wrote settings reads the defaults at version 0; each write is conditional
/// and bumps the version by one.
pub async fn settings_default_then_versioned_writes<S: Store>(s: S) {
    let t = tenant();
    assert_eq!(s.settings(&t).await.unwrap(), VersionedSettings::default());

    let mut soft = TenantSettings::default();
    soft.assign("delete_mode=hard").unwrap();
    soft.assign("group_roles.Engineering=developer,deployer").unwrap();
    assert_eq!(s.put_settings(&t, &soft, Expect::Version(0)).await, Ok(1));
    let read = s.settings(&t).await.unwrap();
    assert_eq!(read.version, 1);
    assert_eq!(read.settings, soft);

    // A writer that read version 0 lost the race: nothing changes.
    let link = TenantSettings {
        conflict_policy: ConflictPolicy::Link,
        ..TenantSettings::default()
    };
    assert_eq!(
        s.put_settings(&t, &link, Expect::Version(0)).await,
        Err(StoreError::VersionConflict { current: 1 })
    );
    assert_eq!(s.settings(&t).await.unwrap().settings, soft);
    assert_eq!(s.put_settings(&t, &link, Expect::Version(1)).await, Ok(2));
    assert_eq!(s.put_settings(&t, &link, Expect::Any).await, Ok(3));
    let read = s.settings(&t).await.unwrap();
    assert_eq!((read.version, read.settings.delete_mode), (3, DeleteMode::Soft));
}

/// Settings belong to one tenant, and invalid settings are never stored.
pub async fn settings_are_per_tenant_and_validated<S: Store>(s: S) {
    let (a, b) = (tenant(), tenant());
    let hard = TenantSettings {
        delete_mode: DeleteMode::Hard,
        ..TenantSettings::default()
    };
    s.put_settings(&a, &hard, Expect::Any).await.unwrap();
    assert_eq!(s.settings(&b).await.unwrap(), VersionedSettings::default());

    let bad = TenantSettings {
        retention_days: 0,
        ..TenantSettings::default()
    };
    assert!(matches!(
        s.put_settings(&b, &bad, Expect::Any).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(s.settings(&b).await.unwrap().version, 0);
}

// ---------------------------------------------------------------------------------------------
// Soft delete

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

// ---------------------------------------------------------------------------------------------
// Existing (unmanaged) accounts and conflicts

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
    let merged = unmanaged::adopted_attributes(&a.attrs, &user_attrs("Bob"));
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
    assert_eq!(first.id, unmanaged::conflict_id(&a.id, "bob"));
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
    assert_eq!(s.list_conflicts(&t).await.unwrap(), vec![again.clone()]);
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
        .list_conflicts(&t)
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
    // Neither is open any more.
    assert_eq!(s.list_conflicts(&t).await.unwrap(), Vec::<Conflict>::new());
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
    assert_eq!(u.attrs, unmanaged::adopted_attributes(&a.attrs, &posted));
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
    assert_eq!(s.list_conflicts(&b).await.unwrap(), Vec::<Conflict>::new());
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
    assert_eq!(s.list_conflicts(&a).await.unwrap(), vec![c]);
}

// ---------------------------------------------------------------------------------------------
// Group ancestry (effective access)

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
