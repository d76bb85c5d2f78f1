//! The wire form (RFC 7643 §3) of a stored resource, built in one place for the service's
//! answers and for `scimctl users show`: the attributes, derived `members` (groups) or `groups`
//! (users) with their `$ref`, and `schemas`/`id`/`meta` from `scim_proto::resource::render`.

use crate::{ResourceKind, StoredResource};
use scim_proto::resource::{self, ResourceMeta};
use scim_proto::{ResourceSchema, SchemaRegistry};
use serde_json::{json, Map, Value};

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

/// The full wire representation (RFC 7643 §3) of a stored resource, which it consumes: the
/// attributes move into the output uncopied.
pub fn render(registry: &SchemaRegistry, base_url: &str, r: StoredResource) -> Map<String, Value> {
    let mut attrs = r.attrs;
    if let Some(members) = r.members.filter(|m| !m.is_empty()) {
        let members = members
            .into_iter()
            .map(|m| {
                let reference = location(registry, base_url, m.kind, &m.value);
                json!({ "value": m.value, "$ref": reference, "type": m.kind.name() })
            })
            .collect();
        attrs.insert(MEMBERS.into(), Value::Array(members));
    }
    if let Some(groups) = r.groups.filter(|g| !g.is_empty()) {
        let groups = groups
            .into_iter()
            .map(|(id, display)| {
                let reference = location(registry, base_url, ResourceKind::Group, &id);
                json!({ "value": id, "$ref": reference, "display": display, "type": "direct" })
            })
            .collect();
        attrs.insert(GROUPS.into(), Value::Array(groups));
    }
    let meta = ResourceMeta {
        location: location(registry, base_url, r.kind, &r.id),
        id: r.id,
        created: r.created,
        last_modified: r.last_modified,
        version: r.version,
    };
    resource::render(attrs, &schema_of(registry, r.kind), meta)
}
