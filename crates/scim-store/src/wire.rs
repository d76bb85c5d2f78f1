//! The wire form (RFC 7643 §3) of a stored resource, built in one place for the service's
//! answers and for `scimctl users show`: the attributes, derived `members` (groups) or `groups`
//! (users) with their `$ref`, and `schemas`/`id`/`meta` from `scim_proto::resource::render`.

use crate::{ResourceKind, StoredResource};
use scim_proto::resource::{self, ResourceMeta};
use scim_proto::{ResourceSchema, SchemaRegistry};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// The Group attribute held in membership records rather than in the group.
pub const MEMBERS: &str = "members";
/// The User attribute derived from membership records (RFC 7643 §4.1.2, readOnly).
pub const GROUPS: &str = "groups";

/// The schema view of a resource kind; both kinds are in every registry.
pub fn schema_of(registry: &SchemaRegistry, kind: ResourceKind) -> ResourceSchema<'_> {
    match kind {
        ResourceKind::User => registry.user(),
        ResourceKind::Group => registry.group(),
    }
}

/// `meta.location` of a resource (RFC 7644 §3.1) under `base_url` (no trailing slash).
pub fn location(registry: &SchemaRegistry, base_url: &str, kind: ResourceKind, id: &str) -> String {
    let endpoint = &schema_of(registry, kind).resource_type.endpoint;
    format!("{base_url}{endpoint}/{id}")
}

/// The full wire representation (RFC 7643 §3) of a stored resource.
pub fn render(registry: &SchemaRegistry, base_url: &str, r: &StoredResource) -> Map<String, Value> {
    // Copied only when members or groups are added: `resource::render` copies what it keeps.
    let mut attrs = Cow::Borrowed(&r.attrs);
    if let Some(members) = r.members.as_ref().filter(|m| !m.is_empty()) {
        let members = members
            .iter()
            .map(|m| {
                json!({
                    "value": m.value,
                    "$ref": location(registry, base_url, m.kind, &m.value),
                    "type": m.kind.name(),
                })
            })
            .collect();
        attrs.to_mut().insert(MEMBERS.into(), Value::Array(members));
    }
    if let Some(groups) = r.groups.as_ref().filter(|g| !g.is_empty()) {
        let groups = groups
            .iter()
            .map(|(id, display)| {
                json!({
                    "value": id,
                    "$ref": location(registry, base_url, ResourceKind::Group, id),
                    "display": display,
                    "type": "direct",
                })
            })
            .collect();
        attrs.to_mut().insert(GROUPS.into(), Value::Array(groups));
    }
    let meta = ResourceMeta {
        id: r.id.clone(),
        created: r.created.clone(),
        last_modified: r.last_modified.clone(),
        version: r.version,
        location: location(registry, base_url, r.kind, &r.id),
    };
    resource::render(&attrs, &schema_of(registry, r.kind), &meta)
}
