//! Items as stored, and their conversion to and from [`StoredResource`].
//!
//! A resource item holds the canonical attributes as one JSON string (`a`): the canonical form
//! round-trips exactly (key order, numbers as written, nested extension objects), one item
//! attribute costs no per-field overhead, and nothing in DynamoDB ever needs to look inside it
//! (filters are evaluated in the function, lookups go through index items). The fields DynamoDB
//! does look at are top-level: `v` (version), `mv` (membership version), `g` (a user's direct
//! groups: group id → displayName), `p` (a group's parent groups), `fo` (an unfinished rename
//! fan-out).

use aws_sdk_dynamodb::types::AttributeValue;
use scim_store::events::{Lifecycle, ResourceState};
use scim_store::{ResourceKind, StoreError, StoredResource};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub type Item = HashMap<String, AttributeValue>;

/// Item attribute names.
pub mod attr {
    pub const VERSION: &str = "v";
    pub const MEMBERSHIP_VERSION: &str = "mv";
    pub const CREATED: &str = "c";
    pub const MODIFIED: &str = "m";
    pub const ATTRS: &str = "a";
    pub const GROUPS: &str = "g";
    pub const PARENTS: &str = "p";
    pub const FANOUT: &str = "fo";
    /// Groups: the last member id an unfinished rename fan-out has reached.
    pub const FANOUT_AFTER: &str = "fc";
    /// Groups: until when the request running the rename fan-out holds it (a timestamp), so
    /// concurrent writes of the group do not each run it again.
    pub const FANOUT_LEASE: &str = "fl";
    pub const KIND: &str = "k";
    pub const ID: &str = "id";
    pub const COUNT: &str = "n";
    /// Users: the groups an unfinished soft delete has already left (a string set).
    pub const LEFT: &str = "dg";
    /// Kept (soft-deleted) users: when the delete committed.
    pub const DELETED: &str = "d";
    /// Kept users: the purge time in epoch seconds, the table's TTL attribute.
    pub const TTL: &str = "ttl";
    /// Users: set just before a soft delete removes the item, so the stream's REMOVE record says
    /// the user was soft-deleted (its change event's `mode`).
    pub const SOFT_DELETING: &str = "sd";
    /// Users: how this item came to be when it was not created by a POST (`restored`,
    /// `adopted`), so the stream's INSERT record says which event it is.
    pub const ORIGIN: &str = "o";
    /// Log records: the record as JSON.
    pub const LOG_RECORD: &str = "r";
    /// Log records: the token id, for a FilterExpression.
    pub const LOG_TOKEN: &str = "tk";
    /// Log records: the response status, for a FilterExpression on the resource index.
    pub const LOG_STATUS: &str = "st";
    /// Token uses: when the token was last used ([`scim_store::timestamp`] form).
    pub const LAST_USED: &str = "lu";
    /// Token uses: the caller's address.
    pub const CLIENT: &str = "cl";
}

/// `item` marked with how it came to be ([`attr::ORIGIN`]).
pub fn with_origin(mut item: Item, origin: &str) -> Item {
    item.insert(attr::ORIGIN.to_string(), s(origin));
    item
}

/// Values of [`attr::ORIGIN`].
pub mod origin {
    pub const RESTORED: &str = "restored";
    pub const ADOPTED: &str = "adopted";
}

/// Now, as the store writes `created` and `lastModified`.
pub fn now() -> String {
    scim_store::timestamp(scim_store::now())
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

pub fn get_n(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("a stored item is malformed: {what}"))
}

pub fn parse_kind(k: &str) -> Option<ResourceKind> {
    match k {
        "User" => Some(ResourceKind::User),
        "Group" => Some(ResourceKind::Group),
        _ => None,
    }
}

/// A user or group item, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    pub id: String,
    pub kind: ResourceKind,
    pub version: u64,
    pub membership_version: u64,
    pub created: String,
    pub modified: String,
    pub attrs: Map<String, Value>,
    /// Users: the groups the user is directly in, id → displayName.
    pub groups: BTreeMap<String, String>,
    /// Groups: the groups this group is directly in.
    pub parents: BTreeSet<String>,
    /// Groups: a rename whose fan-out to members' `groups.display` has not finished.
    pub fanout: Option<String>,
    /// Groups: how far that fan-out got (members sort by id; the next one starts after this).
    pub fanout_after: Option<String>,
    /// Groups: until when a request holds that fan-out ([`attr::FANOUT_LEASE`]).
    pub fanout_lease: Option<String>,
    /// Users: the groups an unfinished soft delete has already left (`dg`).
    pub left: BTreeSet<String>,
}

impl Rec {
    pub fn from_item(kind: ResourceKind, item: &Item) -> Result<Rec, StoreError> {
        let id = get_s(item, crate::keys::SK).ok_or_else(|| corrupt("no sort key"))?;
        let version = get_n(item, attr::VERSION).ok_or_else(|| corrupt("no version"))?;
        let attrs: Map<String, Value> = match get_s(item, attr::ATTRS).map(serde_json::from_str) {
            Some(Ok(Value::Object(m))) => m,
            _ => return Err(corrupt("attributes are not a JSON object")),
        };
        let map_keys = |name: &str| -> Vec<(String, String)> {
            match item.get(name) {
                Some(AttributeValue::M(m)) => m
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_s().cloned().unwrap_or_default()))
                    .collect(),
                _ => Vec::new(),
            }
        };
        Ok(Rec {
            id: id.to_string(),
            kind,
            version: u64::try_from(version).map_err(|_| corrupt("negative version"))?,
            membership_version: get_n(item, attr::MEMBERSHIP_VERSION)
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(0),
            created: get_s(item, attr::CREATED).unwrap_or_default().to_string(),
            modified: get_s(item, attr::MODIFIED).unwrap_or_default().to_string(),
            attrs,
            groups: map_keys(attr::GROUPS).into_iter().collect(),
            parents: map_keys(attr::PARENTS).into_iter().map(|(k, _)| k).collect(),
            fanout: get_s(item, attr::FANOUT).map(str::to_string),
            fanout_after: get_s(item, attr::FANOUT_AFTER).map(str::to_string),
            fanout_lease: get_s(item, attr::FANOUT_LEASE).map(str::to_string),
            left: match item.get(attr::LEFT) {
                Some(AttributeValue::Ss(ids)) => ids.iter().cloned().collect(),
                _ => BTreeSet::new(),
            },
        })
    }

    /// The item in partition `pk`: the resource's own partition, or (a kept user) the tenant's
    /// deleted partition, which holds the same fields.
    pub fn item(&self, pk: String) -> Item {
        let mut item = HashMap::from([
            (crate::keys::PK.to_string(), s(pk)),
            (crate::keys::SK.to_string(), s(&self.id)),
            (attr::VERSION.to_string(), n(self.version as i64)),
            (
                attr::MEMBERSHIP_VERSION.to_string(),
                n(self.membership_version as i64),
            ),
            (attr::CREATED.to_string(), s(&self.created)),
            (attr::MODIFIED.to_string(), s(&self.modified)),
            (
                attr::ATTRS.to_string(),
                s(Value::Object(self.attrs.clone()).to_string()),
            ),
        ]);
        let memberships = match self.kind {
            ResourceKind::User => (
                attr::GROUPS,
                self.groups.iter().map(|(g, d)| (g.clone(), s(d))).collect(),
            ),
            ResourceKind::Group => (
                attr::PARENTS,
                self.parents
                    .iter()
                    .map(|p| (p.clone(), AttributeValue::Bool(true)))
                    .collect(),
            ),
        };
        item.insert(memberships.0.to_string(), AttributeValue::M(memberships.1));
        if let Some(d) = &self.fanout {
            item.insert(attr::FANOUT.to_string(), s(d));
        }
        if let Some(after) = &self.fanout_after {
            item.insert(attr::FANOUT_AFTER.to_string(), s(after));
        }
        if let Some(lease) = &self.fanout_lease {
            item.insert(attr::FANOUT_LEASE.to_string(), s(lease));
        }
        item
    }

    /// What a sort key may take from the record besides its attributes.
    pub fn meta(&self) -> scim_proto::sort::Meta<'_> {
        scim_proto::sort::Meta {
            id: &self.id,
            created: &self.created,
            last_modified: &self.modified,
        }
    }

    /// The item as one side of a change event's item change: the parts a subscriber can see.
    pub fn state(&self) -> ResourceState {
        ResourceState {
            version: self.version,
            last_modified: self.modified.clone(),
            attrs: self.attrs.clone(),
            lifecycle: Lifecycle::Live,
        }
    }

    /// The displayName a group shows in its members' `groups` (RFC 7643 §4.1.2 `display`).
    pub fn display_name(&self) -> String {
        display_name(&self.attrs)
    }

    pub fn stored(&self, include_groups: bool) -> StoredResource {
        StoredResource {
            id: self.id.clone(),
            kind: self.kind,
            version: self.version,
            created: self.created.clone(),
            last_modified: self.modified.clone(),
            attrs: self.attrs.clone(),
            members: None,
            groups: (include_groups && self.kind == ResourceKind::User)
                .then(|| self.groups.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        }
    }

    /// The resource as a filter sees it: attributes plus `id`, `meta` and the derived `groups`
    /// (users) or `members` (groups, when loaded), as the embedded store builds it.
    pub fn filter_view(&self, members: Option<&[(String, ResourceKind)]>) -> Map<String, Value> {
        let mut view = self.attrs.clone();
        view.insert("id".into(), Value::String(self.id.clone()));
        view.insert(
            "meta".into(),
            json!({
                "resourceType": self.kind.name(),
                "created": self.created,
                "lastModified": self.modified,
                "version": format!("W/\"{}\"", self.version),
            }),
        );
        if self.kind == ResourceKind::User && !self.groups.is_empty() {
            let groups = self
                .groups
                .iter()
                .map(|(value, display)| {
                    let mut g = Map::new();
                    g.insert("value".into(), Value::String(value.clone()));
                    if !display.is_empty() {
                        g.insert("display".into(), Value::String(display.clone()));
                    }
                    g.insert("type".into(), Value::String("direct".into()));
                    Value::Object(g)
                })
                .collect();
            view.insert("groups".into(), Value::Array(groups));
        }
        if let Some(members) = members.filter(|m| !m.is_empty()) {
            let members = members
                .iter()
                .map(|(value, kind)| json!({"value": value, "type": kind.name()}))
                .collect();
            view.insert("members".into(), Value::Array(members));
        }
        view
    }
}

pub fn display_name(attrs: &Map<String, Value>) -> String {
    attrs
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
