//! Effective access (docs/lifecycle.md, "Groups and application roles" and "Nested groups"):
//! every group a user belongs to, directly or through nested groups, and the application roles
//! that grants: its own `roles[].value` and, for each of those groups, the roles the tenant's
//! `group_roles` maps its `displayName` (ignoring case) or `externalId` (exactly) to.
//!
//! The walk goes up one level of parents per [`AncestryStore::groups_with_parents`] call (one
//! BatchGetItem on DynamoDB), breadth first, with a visited set, so cycles and diamonds cost
//! nothing extra; it stops after [`EFFECTIVE_GROUP_DEPTH`] levels.

use crate::{Include, ResourceKind, ResourceStore, StoreError, StoredResource, TenantId, TenantSettings};
use async_trait::async_trait;
use scim_proto::schema::ACCESS_USER_SCHEMA;
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashSet};
use std::future::Future;

/// Levels of groups that count for effective membership: a user's direct groups are level 1,
/// the groups containing them level 2, and so on. Ancestry deeper than this is ignored.
pub const EFFECTIVE_GROUP_DEPTH: usize = 10;

/// What an ancestry walk needs of one group: its keys for `group_roles` and the groups that
/// contain it directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAncestry {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    /// Ids of the groups this group is a direct member of, sorted.
    pub parents: Vec<String>,
}

/// How a user belongs to a group (RFC 7643 §4.1.2 `groups.type` uses the same words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// The user is a member of the group itself.
    Direct,
    /// The user is a member through nested groups.
    Indirect,
}

impl Membership {
    pub fn as_str(self) -> &'static str {
        match self {
            Membership::Direct => "direct",
            Membership::Indirect => "indirect",
        }
    }
}

/// One group of a user's effective membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveGroup {
    pub id: String,
    pub display: String,
    pub membership: Membership,
    /// 1 for a direct group, 2 for a group containing a direct group, ...; a group reachable on
    /// several paths counts at its shortest.
    pub depth: usize,
}

/// A user's effective groups (by depth, then id) and roles (sorted, without duplicates).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectiveAccess {
    pub groups: Vec<EffectiveGroup>,
    pub roles: Vec<String>,
}

impl EffectiveAccess {
    /// The `urn:scim-lambda:params:scim:schemas:extension:access:2.0:User` object; empty
    /// attributes are left out (RFC 7643 §2.5: unassigned attributes are not returned).
    pub fn extension(&self) -> Map<String, Value> {
        let mut ext = Map::new();
        if !self.roles.is_empty() {
            ext.insert("effectiveRoles".into(), json!(self.roles));
        }
        if !self.groups.is_empty() {
            let groups = self
                .groups
                .iter()
                .map(|g| json!({"value": g.id, "display": g.display, "type": g.membership.as_str()}))
                .collect();
            ext.insert("effectiveGroups".into(), Value::Array(groups));
        }
        ext
    }

    /// Puts the extension into a user's attributes, for rendering. Never stored: it is derived.
    pub fn attach(&self, user: &mut StoredResource) {
        let ext = self.extension();
        if ext.is_empty() {
            user.attrs.remove(ACCESS_USER_SCHEMA);
        } else {
            user.attrs.insert(ACCESS_USER_SCHEMA.into(), Value::Object(ext));
        }
    }
}

/// The user's own `roles[].value` (RFC 7643 §4.1.2).
fn own_roles(user: &StoredResource) -> impl Iterator<Item = String> + '_ {
    user.attrs
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("value").and_then(Value::as_str))
        .map(str::to_string)
}

/// A user's effective groups and roles under `settings`. `user` is the user as read with
/// `Include { groups: true, .. }`; one read without its groups is read again with them.
///
/// Cost: the groups read (if needed) plus one [`AncestryStore::groups_with_parents`] per level of groups
/// found, at most [`EFFECTIVE_GROUP_DEPTH`]. Groups deleted meanwhile are skipped.
pub async fn effective_access<S: ResourceStore + AncestryStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    user: &StoredResource,
    settings: &TenantSettings,
) -> Result<EffectiveAccess, StoreError> {
    let direct: Vec<String> = match &user.groups {
        Some(groups) => groups.iter().map(|(id, _)| id.clone()).collect(),
        None => {
            let with_groups = Include {
                groups: true,
                ..Include::NONE
            };
            store
                .get(tenant, ResourceKind::User, &user.id, with_groups)
                .await?
                .groups
                .unwrap_or_default()
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        }
    };
    let own: BTreeSet<String> = own_roles(user).collect();
    walk(direct, own, settings, |ids| async move {
        store.groups_with_parents(tenant, &ids).await
    })
    .await
}

/// The breadth-first walk up from the `direct` groups, one `level` call per level of groups.
async fn walk<F, Fut>(
    direct: Vec<String>,
    own_roles: BTreeSet<String>,
    settings: &TenantSettings,
    level: F,
) -> Result<EffectiveAccess, StoreError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<GroupAncestry>, StoreError>>,
{
    let mut roles = own_roles;
    let mut groups = Vec::new();
    let mut seen: HashSet<String> = direct.iter().cloned().collect();
    let mut frontier: Vec<String> = seen.iter().cloned().collect();
    frontier.sort();
    for depth in 1..=EFFECTIVE_GROUP_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for g in level(frontier).await? {
            roles.extend(
                settings
                    .roles_of_group(&g.display_name, g.external_id.as_deref())
                    .map(str::to_string),
            );
            if depth < EFFECTIVE_GROUP_DEPTH {
                next.extend(g.parents.into_iter().filter(|p| seen.insert(p.clone())));
            }
            groups.push(EffectiveGroup {
                id: g.id,
                display: g.display_name,
                membership: if depth == 1 {
                    Membership::Direct
                } else {
                    Membership::Indirect
                },
                depth,
            });
        }
        next.sort();
        frontier = next;
    }
    Ok(EffectiveAccess {
        groups,
        roles: roles.into_iter().collect(),
    })
}

/// What an ancestry walk reads of groups.
#[async_trait]
pub trait AncestryStore: Send + Sync {
    /// For each id that names a group of the tenant: its `displayName`, `externalId` and the
    /// ids of the groups it is a direct member of (sorted), in the order of `ids`, each group
    /// once. Ids that name nothing, a user, or another tenant's group are left out. One level of
    /// an ancestry walk ([`effective_access`]): DynamoDB reads it with one BatchGetItem
    /// per 100 ids.
    async fn groups_with_parents(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<GroupAncestry>, StoreError>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// Group ancestry in shapes a real store refuses (cycles), with the walk's calls counted.
    #[derive(Debug, Default)]
    struct Ancestry {
        groups: BTreeMap<String, (String, Option<String>, Vec<String>)>,
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl Ancestry {
        fn group(mut self, id: &str, external_id: Option<&str>, parents: &[&str]) -> Self {
            self.groups.insert(
                id.to_string(),
                (
                    format!("Name {id}"),
                    external_id.map(str::to_string),
                    parents.iter().map(|p| p.to_string()).collect(),
                ),
            );
            self
        }

        fn calls(&self) -> Vec<Vec<String>> {
            self.calls.lock().unwrap().clone()
        }

        /// One level, as `Store::groups_with_parents` answers it.
        fn level(&self, ids: &[String]) -> std::future::Ready<Result<Vec<GroupAncestry>, StoreError>> {
            self.calls.lock().unwrap().push(ids.to_vec());
            std::future::ready(Ok(ids
                .iter()
                .filter_map(|id| {
                    self.groups.get(id).map(|(name, ext, parents)| GroupAncestry {
                        id: id.clone(),
                        display_name: name.clone(),
                        external_id: ext.clone(),
                        parents: parents.clone(),
                    })
                })
                .collect()))
        }

        async fn walk(&self, direct: &[&str], own: &[&str], settings: &TenantSettings) -> EffectiveAccess {
            let direct = direct.iter().map(|g| g.to_string()).collect();
            let own = own.iter().map(|r| r.to_string()).collect();
            walk(direct, own, settings, |ids| self.level(&ids)).await.unwrap()
        }
    }

    fn ids(access: &EffectiveAccess) -> Vec<(&str, usize)> {
        access.groups.iter().map(|g| (g.id.as_str(), g.depth)).collect()
    }

    /// A cycle (which the stores refuse to create, but a walk must survive) is walked once.
    #[tokio::test]
    async fn cycles_end() {
        let s = Ancestry::default()
            .group("a", None, &["b"])
            .group("b", None, &["c"])
            .group("c", None, &["a"]);
        let access = s.walk(&["a"], &[], &TenantSettings::default()).await;
        assert_eq!(ids(&access), [("a", 1), ("b", 2), ("c", 3)]);
        assert_eq!(s.calls(), [vec!["a"], vec!["b"], vec!["c"]]);
    }

    /// A diamond: `top` is reached through `left` and `right` but read and listed once, at its
    /// shortest depth; `right`, a direct group that is also `a`'s parent, stays direct.
    #[tokio::test]
    async fn diamonds_are_visited_once() {
        let s = Ancestry::default()
            .group("a", None, &["left", "right"])
            .group("left", None, &["top"])
            .group("right", None, &["top"])
            .group("top", Some("ext-top"), &[])
            .group("also", None, &["left"]);
        let mut settings = TenantSettings::default();
        settings.assign("group_roles.ext-top=admin").unwrap();
        settings.assign("group_roles.NAME LEFT=reader").unwrap();
        let access = s.walk(&["a", "right", "also"], &[], &settings).await;
        assert_eq!(
            ids(&access),
            [("a", 1), ("also", 1), ("right", 1), ("left", 2), ("top", 2)]
        );
        assert_eq!(access.groups[2].membership, Membership::Direct);
        assert_eq!(access.groups[3].membership, Membership::Indirect);
        assert_eq!(access.roles, ["admin", "reader"]);
        assert_eq!(s.calls(), [vec!["a", "also", "right"], vec!["left", "top"]]);
    }

    /// Twelve levels of nesting: groups beyond the tenth level are ignored, and the walk reads
    /// ten levels, never the eleventh.
    #[tokio::test]
    async fn depth_is_bounded() {
        let mut s = Ancestry::default();
        for level in 1..=12 {
            let parent = format!("g{:02}", level + 1);
            s = s.group(&format!("g{level:02}"), None, &[parent.as_str()]);
        }
        let mut settings = TenantSettings::default();
        settings.assign("group_roles.Name g10=tenth").unwrap();
        settings.assign("group_roles.Name g11=eleventh").unwrap();
        let access = s.walk(&["g01"], &[], &settings).await;
        assert_eq!(access.groups.len(), EFFECTIVE_GROUP_DEPTH);
        assert_eq!(access.groups.last().map(|g| g.id.as_str()), Some("g10"));
        assert_eq!(access.roles, ["tenth"]);
        assert_eq!(s.calls().len(), EFFECTIVE_GROUP_DEPTH);
    }

    /// Own roles and group roles are one sorted set; unknown groups are skipped; no groups
    /// costs no walk; the extension leaves empty parts out.
    #[tokio::test]
    async fn own_roles_and_extension() {
        let s = Ancestry::default().group("a", Some("x"), &[]);
        let mut settings = TenantSettings::default();
        settings.assign("group_roles.x=writer,reader").unwrap();
        let mut u = StoredResource {
            id: "u".into(),
            kind: ResourceKind::User,
            version: 1,
            created: String::new(),
            last_modified: String::new(),
            attrs: Map::new(),
            members: None,
            groups: None,
        };
        u.attrs.insert(
            "roles".into(),
            json!([{"value": "reader"}, {"value": "owner", "primary": true}, {"display": "no value"}]),
        );
        let own: Vec<String> = own_roles(&u).collect();
        assert_eq!(own, ["reader", "owner"]);
        let access = s.walk(&["a", "gone"], &["reader", "owner"], &settings).await;
        assert_eq!(access.roles, ["owner", "reader", "writer"]);
        assert_eq!(ids(&access), [("a", 1)]);
        assert_eq!(
            Value::Object(access.extension()),
            json!({"effectiveRoles": ["owner", "reader", "writer"],
                   "effectiveGroups": [{"value": "a", "display": "Name a", "type": "direct"}]})
        );
        access.attach(&mut u);
        assert!(u.attrs.contains_key(ACCESS_USER_SCHEMA));
        EffectiveAccess::default().attach(&mut u);
        assert!(!u.attrs.contains_key(ACCESS_USER_SCHEMA));

        let s = Ancestry::default();
        let none = s.walk(&[], &[], &settings).await;
        assert_eq!(none, EffectiveAccess::default());
        assert!(s.calls().is_empty());
    }
}
