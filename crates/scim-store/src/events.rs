//! Change events: what a committed write means to a subscriber, worked out from what the write
//! did to one stored item, so both stores emit the same events (ARCHITECTURE.md, "Change events").
//!
//! A store describes each item a write changed as an [`ItemChange`] (a resource's state before and
//! after, or one membership added or removed); [`event_for`] turns it into at most one
//! [`ChangeEvent`]. The embedded store collects the item changes of a write and publishes their
//! events to an [`EventSink`] when the write commits; on DynamoDB the stream records of the table
//! are the item changes (`scim_dynamodb::stream`). Pure: no I/O, no clock.

use crate::{ResourceKind, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt;

/// What happened to a resource. The wire name (`user.created`, ...) is the EventBridge
/// `detail-type` and the event's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
    /// `active` went from true to false.
    #[serde(rename = "user.deactivated")]
    UserDeactivated,
    /// `active` went from false to true.
    #[serde(rename = "user.reactivated")]
    UserReactivated,
    /// Hard or soft ([`ChangeEvent::mode`]).
    #[serde(rename = "user.deleted")]
    UserDeleted,
    /// A soft-deleted user brought back.
    #[serde(rename = "user.restored")]
    UserRestored,
    #[serde(rename = "group.created")]
    GroupCreated,
    /// `displayName` changed (whatever else changed with it).
    #[serde(rename = "group.renamed")]
    GroupRenamed,
    #[serde(rename = "group.updated")]
    GroupUpdated,
    #[serde(rename = "group.deleted")]
    GroupDeleted,
    #[serde(rename = "group.member_added")]
    GroupMemberAdded,
    #[serde(rename = "group.member_removed")]
    GroupMemberRemoved,
}

impl EventType {
    /// The wire name, e.g. `user.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeactivated => "user.deactivated",
            EventType::UserReactivated => "user.reactivated",
            EventType::UserDeleted => "user.deleted",
            EventType::UserRestored => "user.restored",
            EventType::GroupCreated => "group.created",
            EventType::GroupRenamed => "group.renamed",
            EventType::GroupUpdated => "group.updated",
            EventType::GroupDeleted => "group.deleted",
            EventType::GroupMemberAdded => "group.member_added",
            EventType::GroupMemberRemoved => "group.member_removed",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a user was deleted: the tenant's `delete_mode` at the time.
pub use crate::settings::DeleteMode;

/// One event, serialised as the body subscribers receive (EventBridge `detail`, one JSON line of
/// `SCIM_EVENTS=file:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    /// The same for the same change however often it is delivered: consumers deduplicate by it
    /// (delivery is at least once).
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub tenant: String,
    /// `User` or `Group` (RFC 7643 §6 resource type names).
    pub resource_type: String,
    pub resource_id: String,
    /// When the change committed (RFC 3339, UTC): the resource's `meta.lastModified` when it has
    /// one after the change, else the commit time.
    pub time: String,
    /// Top-level attribute names, extension attributes as `<urn>:<attr>`; `members` for member
    /// events; sorted.
    pub changed_attributes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// `User` or `Group`, with `memberId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_type: Option<String>,
    /// With `user.deleted`: `hard` or `soft`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<DeleteMode>,
}

/// Where a store sends the events of each committed write, in commit order.
///
/// Called while the write still holds the store's lock, so events of one resource arrive in the
/// order of its versions; an implementation must be quick and must not call the store.
pub trait EventSink: Send + Sync + fmt::Debug {
    /// The events of one committed write (never empty).
    fn publish(&self, events: &[ChangeEvent]);
}

/// Where a stored resource stands in its lifecycle (issue 7's soft delete and imported accounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lifecycle {
    /// Managed by the tenant's SCIM client and visible to it.
    #[default]
    Live,
    /// Deleted in `soft` mode: kept, restorable, invisible.
    SoftDeleted,
    /// Imported, not (yet) adopted by the SCIM client: invisible.
    Unmanaged,
}

/// A resource item as one side of a change.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceState {
    pub version: u64,
    /// `meta.lastModified`, RFC 3339.
    pub last_modified: String,
    /// The stored attributes (see [`crate::stored_attributes`]).
    pub attrs: Map<String, Value>,
    pub lifecycle: Lifecycle,
}

/// Whether a membership began or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    Added,
    Removed,
}

/// What one committed write did to one stored item of a tenant: a stream record.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemChange {
    /// A user or group item: `old` None when it was created, `new` None when it was removed.
    Resource {
        kind: ResourceKind,
        id: String,
        old: Option<ResourceState>,
        new: Option<ResourceState>,
        /// The commit time, RFC 3339: the event's time when `new` is None.
        time: String,
    },
    /// One membership of `member_id` in `group_id`.
    Membership {
        group_id: String,
        member_id: String,
        member_kind: ResourceKind,
        change: MembershipChange,
        time: String,
        /// Tells this change of the membership apart from every other change of the same
        /// membership (a membership can come and go many times at one group version): the
        /// embedded store's change sequence, DynamoDB's stream sequence number. Part of the id.
        revision: String,
    },
}

/// The event one item change makes, if any: `None` for a change no subscriber can see (only a
/// membership counter or a user's copy of its groups changed, or an invisible record changed).
///
/// One event per resource per write: when several attributes change at once the most specific
/// type wins (`deactivated`/`reactivated` for users, `renamed` for groups) and
/// `changedAttributes` names all of them.
pub fn event_for(tenant: &TenantId, change: &ItemChange) -> Option<ChangeEvent> {
    match change {
        ItemChange::Resource {
            kind,
            id,
            old,
            new,
            time,
        } => {
            let user = *kind == ResourceKind::User;
            let (event_type, revision, changed, mode, time) = match (live(old.as_ref()), live(new.as_ref())) {
                (None, None) => return None,
                (None, Some(n)) => {
                    let restored = old
                        .as_ref()
                        .is_some_and(|o| o.lifecycle == Lifecycle::SoftDeleted);
                    let t = match (user, restored) {
                        (true, true) => EventType::UserRestored,
                        (true, false) => EventType::UserCreated,
                        (false, _) => EventType::GroupCreated,
                    };
                    (
                        t,
                        n.version,
                        attribute_names(&n.attrs),
                        None,
                        n.last_modified.clone(),
                    )
                }
                (Some(o), None) => {
                    let (t, mode) = if user {
                        let mode = match new {
                            Some(n) if n.lifecycle == Lifecycle::SoftDeleted => DeleteMode::Soft,
                            _ => DeleteMode::Hard,
                        };
                        (EventType::UserDeleted, Some(mode))
                    } else {
                        (EventType::GroupDeleted, None)
                    };
                    let (revision, time) = match new {
                        Some(n) => (n.version, n.last_modified.clone()),
                        None => (o.version, time.clone()),
                    };
                    (t, revision, Vec::new(), mode, time)
                }
                (Some(o), Some(n)) => {
                    let changed = changed_attributes(&o.attrs, &n.attrs);
                    if changed.is_empty() {
                        return None;
                    }
                    let t = if user {
                        match (active(&o.attrs), active(&n.attrs)) {
                            (true, false) => EventType::UserDeactivated,
                            (false, true) => EventType::UserReactivated,
                            _ => EventType::UserUpdated,
                        }
                    } else if o.attrs.get("displayName") != n.attrs.get("displayName") {
                        EventType::GroupRenamed
                    } else {
                        EventType::GroupUpdated
                    };
                    (t, n.version, changed, None, n.last_modified.clone())
                }
            };
            Some(ChangeEvent {
                id: event_id(tenant, *kind, id, event_type, None, &revision.to_string()),
                event_type,
                tenant: tenant.to_string(),
                resource_type: kind.name().to_string(),
                resource_id: id.clone(),
                time,
                changed_attributes: changed,
                member_id: None,
                member_type: None,
                mode,
            })
        }
        ItemChange::Membership {
            group_id,
            member_id,
            member_kind,
            change,
            time,
            revision,
        } => {
            let event_type = match change {
                MembershipChange::Added => EventType::GroupMemberAdded,
                MembershipChange::Removed => EventType::GroupMemberRemoved,
            };
            Some(ChangeEvent {
                id: event_id(
                    tenant,
                    ResourceKind::Group,
                    group_id,
                    event_type,
                    Some(member_id),
                    revision,
                ),
                event_type,
                tenant: tenant.to_string(),
                resource_type: ResourceKind::Group.name().to_string(),
                resource_id: group_id.clone(),
                time: time.clone(),
                changed_attributes: vec!["members".into()],
                member_id: Some(member_id.clone()),
                member_type: Some(member_kind.name().to_string()),
                mode: None,
            })
        }
    }
}

/// The events of a sequence of item changes of one tenant, in order.
pub fn events_for(tenant: &TenantId, changes: &[ItemChange]) -> Vec<ChangeEvent> {
    changes.iter().filter_map(|c| event_for(tenant, c)).collect()
}

/// The state when the SCIM client can see it.
fn live(state: Option<&ResourceState>) -> Option<&ResourceState> {
    state.filter(|s| s.lifecycle == Lifecycle::Live)
}

/// A user counts as active unless `active` is false: RFC 7643 §4.1.1 gives `active` no default,
/// and IdPs create users without it and deactivate them by setting it to false.
fn active(attrs: &Map<String, Value>) -> bool {
    attrs.get("active").and_then(Value::as_bool).unwrap_or(true)
}

/// Whether a top-level key holds an extension's attributes (RFC 7643 §3.3: keyed by schema URN).
fn is_extension(key: &str) -> bool {
    key.starts_with("urn:")
}

/// Every attribute name set in `attrs`, extension attributes as `<urn>:<attr>`, sorted.
fn attribute_names(attrs: &Map<String, Value>) -> Vec<String> {
    changed_attributes(&Map::new(), attrs)
}

/// The attributes whose values differ, extension attributes as `<urn>:<attr>`, sorted.
fn changed_attributes(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<String> {
    let empty = Map::new();
    let mut changed = BTreeSet::new();
    for key in old.keys().chain(new.keys()) {
        let (a, b) = (old.get(key), new.get(key));
        if a == b {
            continue;
        }
        match (
            a.map_or(Some(&empty), Value::as_object),
            b.map_or(Some(&empty), Value::as_object),
        ) {
            (Some(a), Some(b)) if is_extension(key) => {
                for sub in a.keys().chain(b.keys()) {
                    if a.get(sub) != b.get(sub) {
                        changed.insert(format!("{key}:{sub}"));
                    }
                }
            }
            _ => {
                changed.insert(key.clone());
            }
        }
    }
    changed.into_iter().collect()
}

/// A deterministic event id: the same change always gets the same id, so a redelivered or
/// re-derived event can be recognised. 32 hex digits of SHA-256 over the fields that make a
/// change unique.
fn event_id(
    tenant: &TenantId,
    kind: ResourceKind,
    id: &str,
    event_type: EventType,
    member: Option<&str>,
    revision: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        tenant.as_str(),
        kind.name(),
        id,
        event_type.as_str(),
        member.unwrap_or(""),
        revision,
    ] {
        // Length-prefixed, so no two different tuples hash the same bytes.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use serde_json::json;

    const URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn tenant() -> TenantId {
        TenantId::new("t").unwrap()
    }

    fn state(version: u64, attrs: Value) -> ResourceState {
        ResourceState {
            version,
            last_modified: format!("2024-01-01T00:00:0{version}.000Z"),
            attrs: attrs.as_object().cloned().unwrap(),
            lifecycle: Lifecycle::Live,
        }
    }

    fn resource(kind: ResourceKind, old: Option<ResourceState>, new: Option<ResourceState>) -> ItemChange {
        ItemChange::Resource {
            kind,
            id: "r1".into(),
            old,
            new,
            time: "2024-01-01T00:00:09.000Z".into(),
        }
    }

    fn user(old: Option<ResourceState>, new: Option<ResourceState>) -> Option<ChangeEvent> {
        event_for(&tenant(), &resource(ResourceKind::User, old, new))
    }

    fn kind_and_changes(e: &Option<ChangeEvent>) -> Option<(EventType, Vec<String>)> {
        e.as_ref().map(|e| (e.event_type, e.changed_attributes.clone()))
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn created_lists_every_attribute_and_takes_last_modified() {
        let e = user(
            None,
            Some(state(1, json!({"userName": "a", URN: {"department": "x"}}))),
        );
        assert_eq!(
            kind_and_changes(&e),
            Some((
                EventType::UserCreated,
                names(&[&format!("{URN}:department"), "userName"])
            ))
        );
        let e = e.unwrap();
        assert_eq!(e.time, "2024-01-01T00:00:01.000Z");
        assert_eq!((e.resource_type.as_str(), e.resource_id.as_str()), ("User", "r1"));
        let g = event_for(
            &tenant(),
            &resource(
                ResourceKind::Group,
                None,
                Some(state(1, json!({"displayName": "G"}))),
            ),
        );
        assert_eq!(g.unwrap().event_type, EventType::GroupCreated);
    }

    #[test]
    fn deleted_takes_the_commit_time_and_says_hard() {
        let e = user(Some(state(3, json!({"userName": "a"}))), None).unwrap();
        assert_eq!(e.event_type, EventType::UserDeleted);
        assert_eq!(e.mode, Some(DeleteMode::Hard));
        assert_eq!(e.time, "2024-01-01T00:00:09.000Z");
        assert!(e.changed_attributes.is_empty());
        let g = event_for(
            &tenant(),
            &resource(
                ResourceKind::Group,
                Some(state(2, json!({"displayName": "G"}))),
                None,
            ),
        )
        .unwrap();
        assert_eq!((g.event_type, g.mode), (EventType::GroupDeleted, None));
    }

    #[test]
    fn active_transitions_win_over_other_changes() {
        let on = json!({"userName": "a", "active": true, "title": "x"});
        let off = json!({"userName": "a", "active": false, "title": "y"});
        assert_eq!(
            kind_and_changes(&user(Some(state(1, on.clone())), Some(state(2, off.clone())))),
            Some((EventType::UserDeactivated, names(&["active", "title"])))
        );
        assert_eq!(
            kind_and_changes(&user(Some(state(2, off)), Some(state(3, on)))),
            Some((EventType::UserReactivated, names(&["active", "title"])))
        );
        // Absent counts as active: setting it to true is an update, to false a deactivation.
        let bare = json!({"userName": "a"});
        assert_eq!(
            kind_and_changes(&user(
                Some(state(1, bare.clone())),
                Some(state(2, json!({"userName": "a", "active": true})))
            )),
            Some((EventType::UserUpdated, names(&["active"])))
        );
        assert_eq!(
            user(
                Some(state(1, bare)),
                Some(state(2, json!({"userName": "a", "active": false})))
            )
            .unwrap()
            .event_type,
            EventType::UserDeactivated
        );
    }

    #[test]
    fn group_rename_wins_and_other_changes_are_updates() {
        let g = |old: Value, new: Value| {
            kind_and_changes(&event_for(
                &tenant(),
                &resource(ResourceKind::Group, Some(state(1, old)), Some(state(2, new))),
            ))
        };
        assert_eq!(
            g(
                json!({"displayName": "A", "externalId": "1"}),
                json!({"displayName": "B", "externalId": "2"})
            ),
            Some((EventType::GroupRenamed, names(&["displayName", "externalId"])))
        );
        assert_eq!(
            g(
                json!({"displayName": "A"}),
                json!({"displayName": "A", "externalId": "2"})
            ),
            Some((EventType::GroupUpdated, names(&["externalId"])))
        );
    }

    #[test]
    fn extension_attributes_are_named_with_their_urn() {
        let old = json!({"userName": "a", URN: {"department": "x", "costCenter": "1"}});
        let new = json!({"userName": "a", URN: {"department": "y", "costCenter": "1", "division": "d"}});
        assert_eq!(
            kind_and_changes(&user(Some(state(1, old.clone())), Some(state(2, new)))),
            Some((
                EventType::UserUpdated,
                vec![format!("{URN}:department"), format!("{URN}:division")]
            ))
        );
        assert_eq!(
            kind_and_changes(&user(
                Some(state(1, old)),
                Some(state(2, json!({"userName": "a"})))
            )),
            Some((
                EventType::UserUpdated,
                vec![format!("{URN}:costCenter"), format!("{URN}:department")]
            ))
        );
    }

    #[test]
    fn no_attribute_change_no_event() {
        let a = json!({"userName": "a"});
        // A write that only moved the version (a membership of a group, a counter): nothing to say.
        assert_eq!(user(Some(state(1, a.clone())), Some(state(2, a))), None);
    }

    #[test]
    fn soft_delete_restore_and_invisible_records() {
        let a = json!({"userName": "a"});
        let soft = |v| ResourceState {
            lifecycle: Lifecycle::SoftDeleted,
            ..state(v, a.clone())
        };
        let unmanaged = |v| ResourceState {
            lifecycle: Lifecycle::Unmanaged,
            ..state(v, a.clone())
        };
        let e = user(Some(state(1, a.clone())), Some(soft(2))).unwrap();
        assert_eq!(
            (e.event_type, e.mode),
            (EventType::UserDeleted, Some(DeleteMode::Soft))
        );
        assert_eq!(e.time, "2024-01-01T00:00:02.000Z");
        let e = user(Some(soft(2)), Some(state(3, a.clone()))).unwrap();
        assert_eq!(e.event_type, EventType::UserRestored);
        // Adopting an imported account makes it appear to the SCIM client: created.
        assert_eq!(
            user(Some(unmanaged(1)), Some(state(2, a.clone())))
                .unwrap()
                .event_type,
            EventType::UserCreated
        );
        // Importing, purging, setting aside: nothing a SCIM subscriber has seen.
        assert_eq!(user(None, Some(unmanaged(1))), None);
        assert_eq!(user(Some(soft(2)), None), None);
        assert_eq!(user(Some(unmanaged(1)), Some(soft(2))), None);
    }

    #[test]
    fn member_events_name_the_member() {
        let change = |c, revision: &str| ItemChange::Membership {
            group_id: "g".into(),
            member_id: "u".into(),
            member_kind: ResourceKind::User,
            change: c,
            time: "2024-01-01T00:00:05.000Z".into(),
            revision: revision.into(),
        };
        let e = event_for(&tenant(), &change(MembershipChange::Added, "7")).unwrap();
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({
                "id": e.id, "type": "group.member_added", "tenant": "t", "resourceType": "Group",
                "resourceId": "g", "time": "2024-01-01T00:00:05.000Z", "changedAttributes": ["members"],
                "memberId": "u", "memberType": "User"
            })
        );
        let removed = event_for(&tenant(), &change(MembershipChange::Removed, "7")).unwrap();
        assert_eq!(removed.event_type, EventType::GroupMemberRemoved);
        assert_ne!(removed.id, e.id);
        assert_ne!(
            event_for(&tenant(), &change(MembershipChange::Added, "8"))
                .unwrap()
                .id,
            e.id
        );
    }

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = json!({"userName": "a"});
        let created = user(None, Some(state(1, a.clone()))).unwrap();
        assert_eq!(user(None, Some(state(1, a.clone()))).unwrap().id, created.id);
        assert_eq!(created.id.len(), 32);
        let updated = user(
            Some(state(1, a.clone())),
            Some(state(2, json!({"userName": "b"}))),
        )
        .unwrap();
        let deleted = user(Some(state(2, a)), None).unwrap();
        let ids: BTreeSet<&str> = [&created.id, &updated.id, &deleted.id]
            .into_iter()
            .map(String::as_str)
            .collect();
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn the_body_has_exactly_the_documented_keys() {
        let e = user(Some(state(3, json!({"userName": "a"}))), None).unwrap();
        let body = serde_json::to_value(&e).unwrap();
        let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "type",
                "tenant",
                "resourceType",
                "resourceId",
                "time",
                "changedAttributes",
                "mode"
            ]
        );
        assert_eq!(body["type"], "user.deleted");
        assert_eq!(body["mode"], "hard");
        let back: ChangeEvent = serde_json::from_value(body).unwrap();
        assert_eq!(back, e);
        for t in [EventType::UserCreated, EventType::GroupMemberRemoved] {
            assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
        }
    }
}
