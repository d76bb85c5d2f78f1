//! Discovery endpoints: `/ServiceProviderConfig` (RFC 7643 §5, RFC 7644 §4), `/Schemas`
//! (RFC 7643 §7) and `/ResourceTypes` (RFC 7643 §6), plus the RFC 9865 §4 pagination
//! capabilities.
//!
//! What the configuration advertises changes how clients behave (SailPoint and Okta read it), so
//! it is built from [`Capabilities`] that the server fills with what it really supports.
//!
//! It holds the core schema's attributes and nothing else: clients validate it with a closed
//! model (python-scim's scim2-models refuses an unknown extension object), so a capability of
//! our own (nested groups, effective roles) is described by the schema that carries it, the
//! access extension of User (`schemas/access_user.json`), never here.

use crate::error::{Result, ScimError};
use crate::list::list_response;
use crate::schema::SchemaRegistry;
use serde_json::{json, Map, Value};

/// `urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig` (RFC 7643 §5).
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// Bulk limits (RFC 7643 §5 `bulk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkLimits {
    pub max_operations: u64,
    pub max_payload_size: u64,
}

/// A pagination method (RFC 9865 §4 `defaultPaginationMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaginationMethod {
    /// `startIndex` / `count` (RFC 7644 §3.4.2.4).
    #[default]
    Index,
    /// `cursor` / `count` (RFC 9865).
    Cursor,
}

impl PaginationMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PaginationMethod::Index => "index",
            PaginationMethod::Cursor => "cursor",
        }
    }
}

/// Pagination capabilities (RFC 9865 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaginationCaps {
    /// Cursor paging is supported.
    pub cursor: bool,
    /// Index (`startIndex`) paging is supported.
    pub index: bool,
    /// Used when a request names neither.
    pub default_method: PaginationMethod,
    pub default_page_size: u64,
    pub max_page_size: u64,
    /// Seconds a cursor stays valid; `None` when cursors do not expire.
    pub cursor_timeout: Option<u64>,
}

/// What this service provider supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub patch: bool,
    /// `None`: bulk is not supported.
    pub bulk: Option<BulkLimits>,
    /// The most resources a filter query returns in one page (RFC 7643 §5 `filter.maxResults`).
    pub filter_max_results: u64,
    pub change_password: bool,
    pub sort: bool,
    pub etag: bool,
    pub documentation_uri: Option<String>,
    /// Largest accepted request body; advertised as `bulk.maxPayloadSize` when bulk is off, the
    /// only place SCIM has for it.
    pub max_payload_bytes: Option<u64>,
    pub pagination: Option<PaginationCaps>,
}

fn trim_base(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

/// The ServiceProviderConfig resource (RFC 7643 §5). Authentication is by OAuth bearer token
/// (RFC 6750), the scheme every IdP supports.
pub fn service_provider_config(caps: &Capabilities, base_url: &str) -> Value {
    let base = trim_base(base_url);
    let bulk = match caps.bulk {
        Some(b) => json!({
            "supported": true,
            "maxOperations": b.max_operations,
            "maxPayloadSize": b.max_payload_size,
        }),
        // RFC 7643 §5: maxOperations and maxPayloadSize are REQUIRED even when unsupported.
        None => json!({
            "supported": false,
            "maxOperations": 0,
            "maxPayloadSize": caps.max_payload_bytes.unwrap_or(0),
        }),
    };
    let mut m = Map::new();
    m.insert("schemas".into(), json!([SERVICE_PROVIDER_CONFIG_SCHEMA]));
    if let Some(doc) = &caps.documentation_uri {
        m.insert("documentationUri".into(), Value::String(doc.clone()));
    }
    m.insert("patch".into(), json!({ "supported": caps.patch }));
    m.insert("bulk".into(), bulk);
    m.insert(
        "filter".into(),
        json!({ "supported": true, "maxResults": caps.filter_max_results }),
    );
    m.insert(
        "changePassword".into(),
        json!({ "supported": caps.change_password }),
    );
    m.insert("sort".into(), json!({ "supported": caps.sort }));
    m.insert("etag".into(), json!({ "supported": caps.etag }));
    if let Some(p) = caps.pagination {
        let mut pm = Map::new();
        pm.insert("cursor".into(), json!(p.cursor));
        pm.insert("index".into(), json!(p.index));
        pm.insert("defaultPaginationMethod".into(), json!(p.default_method.as_str()));
        pm.insert("defaultPageSize".into(), json!(p.default_page_size));
        pm.insert("maxPageSize".into(), json!(p.max_page_size));
        if let Some(t) = p.cursor_timeout {
            pm.insert("cursorTimeout".into(), json!(t));
        }
        m.insert("pagination".into(), Value::Object(pm));
    }
    m.insert(
        "authenticationSchemes".into(),
        json!([{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token issued by the service operator, sent as 'Authorization: Bearer <token>'",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }]),
    );
    m.insert(
        "meta".into(),
        json!({
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        }),
    );
    Value::Object(m)
}

/// `GET /Schemas` (RFC 7644 §4): every schema as a ListResponse.
pub fn schemas_list(registry: &SchemaRegistry, base_url: &str) -> Value {
    let base = trim_base(base_url);
    let items: Vec<Value> = registry.schemas().iter().map(|s| s.to_resource(base)).collect();
    let n = items.len() as u64;
    list_response(items, n, Some(1), None, None)
}

/// `GET /ResourceTypes` (RFC 7644 §4): every resource type as a ListResponse.
pub fn resource_types_list(registry: &SchemaRegistry, base_url: &str) -> Value {
    let base = trim_base(base_url);
    let items: Vec<Value> = registry
        .resource_types()
        .iter()
        .map(|rt| rt.to_resource(base))
        .collect();
    let n = items.len() as u64;
    list_response(items, n, Some(1), None, None)
}

/// `GET /Schemas/<urn>`; 404 for an unknown URN.
pub fn schema_resource(registry: &SchemaRegistry, urn: &str, base_url: &str) -> Result<Value> {
    registry
        .schema(urn)
        .map(|s| s.to_resource(trim_base(base_url)))
        .ok_or_else(|| ScimError::not_found(format!("no schema '{urn}'")))
}

/// `GET /ResourceTypes/<name>`; 404 for an unknown name.
pub fn resource_type_resource(registry: &SchemaRegistry, name: &str, base_url: &str) -> Result<Value> {
    registry
        .resource_type(name)
        .map(|rt| rt.to_resource(trim_base(base_url)))
        .ok_or_else(|| ScimError::not_found(format!("no resource type '{name}'")))
}
