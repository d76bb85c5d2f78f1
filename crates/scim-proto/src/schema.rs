//! The schema registry: RFC 7643 §2 attribute characteristics, §7 schema definitions and §6
//! resource types, loaded from the JSON files under `schemas/`.
//!
//! The registry is data: validation, filtering, PATCH and projection ask it for an attribute's
//! characteristics instead of special-casing attribute names, and a custom extension is one more
//! [`Schema`] added with [`SchemaRegistry::add_extension`].

use crate::error::{Result, ScimError};
use crate::path::AttrPath;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `urn:ietf:params:scim:schemas:core:2.0:User` (RFC 7643 §4.1).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// `urn:ietf:params:scim:schemas:core:2.0:Group` (RFC 7643 §4.2).
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User` (RFC 7643 §4.3).
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// This service's User extension for effective access: `effectiveRoles` and `effectiveGroups`,
/// read-only and `returned: request` (computed when a request names them, never stored).
pub const ACCESS_USER_SCHEMA: &str = "urn:scim-lambda:params:scim:schemas:extension:access:2.0:User";
/// The schema of schema resources (RFC 7643 §7).
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// The schema of resource type resources (RFC 7643 §6).
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// RFC 7643 §2.3 data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    /// The default type (RFC 7643 §2.2).
    #[default]
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

/// RFC 7643 §7 `mutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    /// The default mutability (RFC 7643 §2.2).
    #[default]
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// RFC 7643 §7 `returned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    #[default]
    Default,
    Request,
}

/// RFC 7643 §7 `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    #[default]
    None,
    Server,
    Global,
}

/// One attribute definition with its RFC 7643 §2.2 characteristics. A characteristic left out
/// takes its §2.2 default (type string, not required, not caseExact, readWrite, returned
/// default, uniqueness none); `multiValued` has none and must be given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    pub name: String,
    #[serde(rename = "type", default)]
    pub ty: AttrType,
    pub multi_valued: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub case_exact: bool,
    #[serde(default)]
    pub mutability: Mutability,
    #[serde(default)]
    pub returned: Returned,
    #[serde(default)]
    pub uniqueness: Uniqueness,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<AttributeDef>,
    /// Whether a value must be one of `canonical_values`. RFC 7643 §2.2 makes canonical values
    /// suggestions a server MAY ignore, and IdPs send other `emails.type` values, so the built-in
    /// schemas keep them as suggestions; an operator's extension declares them to be kept to
    /// (crate::extensions). Not part of the §7 representation.
    #[serde(skip)]
    pub canonical_only: bool,
}

impl AttributeDef {
    /// The sub-attribute with this name, compared case-insensitively (RFC 7643 §2.1).
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        find_attr(&self.sub_attributes, name)
    }

    pub fn is_complex(&self) -> bool {
        self.ty == AttrType::Complex
    }

    /// The canonical spelling of `value` when this attribute keeps to its canonical values
    /// (compared ignoring case unless `caseExact`), `Some(value)` when it does not, and `None`
    /// when `value` is not one of them.
    pub fn canonical_value<'v>(&'v self, value: &'v str) -> Option<&'v str> {
        if !self.canonical_only || self.canonical_values.is_empty() {
            return Some(value);
        }
        self.canonical_values
            .iter()
            .find(|c| {
                if self.case_exact {
                    c.as_str() == value
                } else {
                    c.eq_ignore_ascii_case(value)
                }
            })
            .map(String::as_str)
    }
}

fn find_attr<'a>(attrs: &'a [AttributeDef], name: &str) -> Option<&'a AttributeDef> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// A schema definition (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub attributes: Vec<AttributeDef>,
}

impl Schema {
    /// Parses the RFC 7643 §7 JSON representation of a schema.
    pub fn from_json(value: Value) -> Result<Schema> {
        serde_json::from_value(value)
            .map_err(|e| ScimError::invalid_value(format!("not a valid schema definition: {e}")))
    }

    /// The top-level attribute with this name, compared case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        find_attr(&self.attributes, name)
    }

    /// The schema as a SCIM resource (RFC 7643 §7, §8.7.1), `meta.location` under `base_url`.
    pub fn to_resource(&self, base_url: &str) -> Value {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes,
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base_url}/Schemas/{}", self.id),
            }
        })
    }
}

/// A schema extension of a resource type (RFC 7643 §6 `schemaExtensions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaExtension {
    pub schema: String,
    pub required: bool,
}

/// A resource type (RFC 7643 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    /// Also its name: `User`, `Group`.
    pub name: String,
    /// The endpoint relative to the base URL: `/Users`.
    pub endpoint: String,
    pub description: String,
    /// The core schema URN.
    pub schema: String,
    pub schema_extensions: Vec<SchemaExtension>,
}

impl ResourceType {
    /// The resource type as a SCIM resource (RFC 7643 §6, §8.6).
    pub fn to_resource(&self, base_url: &str) -> Value {
        let extensions: Vec<Value> = self
            .schema_extensions
            .iter()
            .map(|e| json!({"schema": e.schema, "required": e.required}))
            .collect();
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema,
            "schemaExtensions": extensions,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base_url}/ResourceTypes/{}", self.name),
            }
        })
    }
}

/// Every schema and resource type the server knows.
#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    /// Served at `/Schemas`.
    schemas: Vec<Schema>,
    /// RFC 7643 §3.1 common attributes (`id`, `externalId`, `meta`): part of every resource type,
    /// not served as a schema of its own.
    common: Schema,
    resource_types: Vec<ResourceType>,
}

fn builtin(json_text: &str) -> Schema {
    // The built-in schema files are part of the binary and covered by tests; a parse failure is
    // a build defect, not a runtime condition.
    #[allow(clippy::expect_used)]
    serde_json::from_str(json_text).expect("built-in schema file is valid")
}

impl SchemaRegistry {
    /// Core User with the Enterprise User extension and this service's access extension, and
    /// Group (RFC 7643 §4, §6 `schemaExtensions`).
    pub fn standard() -> Self {
        let user = builtin(include_str!("../schemas/user.json"));
        let enterprise = builtin(include_str!("../schemas/enterprise_user.json"));
        let access = builtin(include_str!("../schemas/access_user.json"));
        let group = builtin(include_str!("../schemas/group.json"));
        let common = builtin(include_str!("../schemas/common.json"));
        SchemaRegistry {
            schemas: vec![user, enterprise, access, group],
            common,
            resource_types: vec![
                ResourceType {
                    name: "User".into(),
                    endpoint: "/Users".into(),
                    description: "User accounts".into(),
                    schema: USER_SCHEMA.into(),
                    schema_extensions: vec![
                        SchemaExtension {
                            schema: ENTERPRISE_USER_SCHEMA.into(),
                            required: false,
                        },
                        SchemaExtension {
                            schema: ACCESS_USER_SCHEMA.into(),
                            required: false,
                        },
                    ],
                },
                ResourceType {
                    name: "Group".into(),
                    endpoint: "/Groups".into(),
                    description: "Groups of users and other groups".into(),
                    schema: GROUP_SCHEMA.into(),
                    schema_extensions: vec![],
                },
            ],
        }
    }

    /// Adds a custom extension schema to a resource type.
    pub fn add_extension(&mut self, resource_type: &str, schema: Schema, required: bool) -> Result<()> {
        if self.schema(&schema.id).is_some() {
            return Err(ScimError::invalid_value(format!(
                "schema {} already exists",
                schema.id
            )));
        }
        let rt = self
            .resource_types
            .iter_mut()
            .find(|rt| rt.name.eq_ignore_ascii_case(resource_type))
            .ok_or_else(|| ScimError::not_found(format!("no resource type {resource_type}")))?;
        rt.schema_extensions.push(SchemaExtension {
            schema: schema.id.clone(),
            required,
        });
        self.schemas.push(schema);
        Ok(())
    }

    pub fn schemas(&self) -> &[Schema] {
        &self.schemas
    }

    /// The schema with this URN (URNs compare case-insensitively, RFC 8141 §3.1 for the NID and
    /// RFC 7643 §10.2.1 leaves SCIM NSS case-insensitive in practice).
    pub fn schema(&self, urn: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    pub fn resource_types(&self) -> &[ResourceType] {
        &self.resource_types
    }

    pub fn resource_type(&self, name: &str) -> Option<&ResourceType> {
        self.resource_types
            .iter()
            .find(|rt| rt.name.eq_ignore_ascii_case(name))
    }

    /// The view of one resource type that the engines work with.
    pub fn view(&self, resource_type: &str) -> Option<ResourceSchema<'_>> {
        let rt = self.resource_type(resource_type)?;
        let core = self.schema(&rt.schema)?;
        let extensions = rt
            .schema_extensions
            .iter()
            .filter_map(|e| self.schema(&e.schema).map(|s| (s, e.required)))
            .collect();
        Some(ResourceSchema {
            resource_type: rt,
            core,
            common: &self.common,
            extensions,
        })
    }

    /// The User resource type view. Present in every registry built by [`SchemaRegistry::standard`].
    pub fn user(&self) -> ResourceSchema<'_> {
        self.view_builtin("User")
    }

    /// The Group resource type view. Present in every registry built by [`SchemaRegistry::standard`].
    pub fn group(&self) -> ResourceSchema<'_> {
        self.view_builtin("Group")
    }

    fn view_builtin(&self, name: &str) -> ResourceSchema<'_> {
        #[allow(clippy::expect_used)]
        self.view(name).expect("built-in resource type is registered")
    }
}

/// One resource type with its core schema, its extensions and the common attributes.
#[derive(Debug, Clone)]
pub struct ResourceSchema<'a> {
    pub resource_type: &'a ResourceType,
    pub core: &'a Schema,
    pub common: &'a Schema,
    /// Extension schemas and whether each is required.
    pub extensions: Vec<(&'a Schema, bool)>,
}

/// An attribute path resolved against a resource type.
#[derive(Debug, Clone, Copy)]
pub struct ResolvedAttr<'a> {
    /// `None` for core and common attributes, which sit at the top level of a resource;
    /// `Some(urn)` for extension attributes, which sit inside the object keyed by the URN
    /// (RFC 7643 §3.3).
    pub extension: Option<&'a str>,
    pub attr: &'a AttributeDef,
    pub sub: Option<&'a AttributeDef>,
}

impl<'a> ResolvedAttr<'a> {
    /// The definition the path finally names: the sub-attribute if there is one.
    pub fn target(&self) -> &'a AttributeDef {
        self.sub.unwrap_or(self.attr)
    }

    /// The canonical spelling of the path, URN-qualified for extension attributes.
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        if let Some(urn) = self.extension {
            s.push_str(urn);
            s.push(':');
        }
        s.push_str(&self.attr.name);
        if let Some(sub) = self.sub {
            s.push('.');
            s.push_str(&sub.name);
        }
        s
    }
}

impl<'a> ResourceSchema<'a> {
    /// Every schema URN of this resource type: the core schema first, then the extensions.
    pub fn schema_urns(&self) -> impl Iterator<Item = &'a str> + '_ {
        std::iter::once(self.core.id.as_str()).chain(self.extensions.iter().map(|(s, _)| s.id.as_str()))
    }

    /// The extension schema with this URN.
    pub fn extension(&self, urn: &str) -> Option<&'a Schema> {
        self.extensions
            .iter()
            .map(|(s, _)| *s)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Every top-level attribute with the extension it belongs to (`None` for core and common).
    pub fn attributes(&self) -> impl Iterator<Item = (Option<&'a str>, &'a AttributeDef)> + '_ {
        self.common
            .attributes
            .iter()
            .chain(self.core.attributes.iter())
            .map(|a| (None, a))
            .chain(
                self.extensions
                    .iter()
                    .flat_map(|(s, _)| s.attributes.iter().map(move |a| (Some(s.id.as_str()), a))),
            )
    }

    /// The identifiers of this resource type (see [`crate::text`]): singular simple attributes
    /// with `uniqueness: server` or `global` (RFC 7643 §2.2; `userName`), `externalId`
    /// (RFC 7643 §3.1), and a Group's `displayName`, which IdPs look groups up by. `id` is the
    /// server's own. Stores index exactly these (scim-store's `attributes.rs`).
    pub fn identifiers(&self) -> impl Iterator<Item = (Option<&'a str>, &'a AttributeDef)> + '_ {
        let group = self.resource_type.name == "Group";
        self.attributes().filter(move |(ext, a)| {
            let unique = matches!(a.uniqueness, Uniqueness::Server | Uniqueness::Global);
            let looked_up = ext.is_none() && (a.name == "externalId" || (group && a.name == "displayName"));
            a.name != "id" && !a.multi_valued && a.ty != AttrType::Complex && (unique || looked_up)
        })
    }

    /// Resolves an attribute path (RFC 7644 §3.10), case-insensitively.
    ///
    /// A path without a URN names a core or common attribute; as a courtesy to clients that omit
    /// the URN, an attribute found in exactly one extension and not in the core schema resolves
    /// to that extension. Fails with `invalidPath` for unknown schemas and attributes.
    pub fn resolve(&self, path: &AttrPath) -> Result<ResolvedAttr<'a>> {
        let (extension, attr) = match &path.urn {
            Some(urn) if urn.eq_ignore_ascii_case(&self.core.id) => (None, self.core_attribute(&path.attr)),
            Some(urn) => match self.extension(urn) {
                Some(ext) => (Some(ext.id.as_str()), ext.attribute(&path.attr)),
                None => {
                    return Err(ScimError::invalid_path(format!(
                        "'{path}' names schema '{urn}', which {} resources do not have",
                        self.resource_type.name
                    )))
                }
            },
            None => match self.core_attribute(&path.attr) {
                Some(a) => (None, Some(a)),
                None => {
                    let mut found = self
                        .extensions
                        .iter()
                        .filter_map(|(s, _)| s.attribute(&path.attr).map(|a| (s.id.as_str(), a)));
                    match (found.next(), found.next()) {
                        (Some((urn, a)), None) => (Some(urn), Some(a)),
                        _ => (None, None),
                    }
                }
            },
        };
        let attr = attr.ok_or_else(|| {
            ScimError::invalid_path(format!(
                "'{path}' is not an attribute of {} resources",
                self.resource_type.name
            ))
        })?;
        let sub = match &path.sub {
            None => None,
            Some(name) => Some(attr.sub_attribute(name).ok_or_else(|| {
                ScimError::invalid_path(format!("'{path}': '{}' has no sub-attribute '{name}'", attr.name))
            })?),
        };
        Ok(ResolvedAttr { extension, attr, sub })
    }

    fn core_attribute(&self, name: &str) -> Option<&'a AttributeDef> {
        self.common.attribute(name).or_else(|| self.core.attribute(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_def(a: &AttributeDef, top: bool) {
        if a.is_complex() {
            assert!(top, "{} is a complex sub-attribute", a.name);
            assert!(!a.sub_attributes.is_empty(), "{} has no sub-attributes", a.name);
        }
        if a.ty == AttrType::Reference {
            assert!(!a.reference_types.is_empty(), "{} has no referenceTypes", a.name);
        }
        for s in &a.sub_attributes {
            check_def(s, false);
        }
    }

    #[test]
    fn builtin_schemas_are_well_formed() {
        let reg = SchemaRegistry::standard();
        assert_eq!(reg.schemas().len(), 4);
        for s in reg.schemas().iter().chain(std::iter::once(&reg.common)) {
            for a in &s.attributes {
                check_def(a, true);
            }
        }
        let user = reg.schema(USER_SCHEMA).unwrap();
        for name in [
            "userName",
            "name",
            "displayName",
            "nickName",
            "profileUrl",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "active",
            "password",
            "emails",
            "phoneNumbers",
            "ims",
            "photos",
            "addresses",
            "groups",
            "entitlements",
            "roles",
            "x509Certificates",
        ] {
            assert!(user.attribute(name).is_some(), "User lacks {name}");
        }
        let password = user.attribute("password").unwrap();
        assert_eq!(password.returned, Returned::Never);
        assert_eq!(user.attribute("groups").unwrap().mutability, Mutability::ReadOnly);
        assert!(reg
            .schema(ENTERPRISE_USER_SCHEMA)
            .unwrap()
            .attribute("manager")
            .is_some());
        let access = reg.schema(ACCESS_USER_SCHEMA).unwrap();
        for name in ["effectiveRoles", "effectiveGroups"] {
            let a = access.attribute(name).unwrap();
            assert!(a.multi_valued, "{name}");
            assert_eq!(
                (a.mutability, a.returned),
                (Mutability::ReadOnly, Returned::Request),
                "{name}"
            );
        }
        let members = reg.schema(GROUP_SCHEMA).unwrap().attribute("members").unwrap();
        assert!(members.multi_valued);
        assert!(members
            .sub_attribute("type")
            .unwrap()
            .canonical_values
            .contains(&"Group".to_string()));
    }

    #[test]
    fn resolves_case_insensitively_with_and_without_urns() {
        let reg = SchemaRegistry::standard();
        let user = reg.user();
        let r = user.resolve(&AttrPath::parse("USERNAME").unwrap()).unwrap();
        assert_eq!(r.attr.name, "userName");
        assert!(r.extension.is_none());
        let r = user
            .resolve(&AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:name.GivenName").unwrap())
            .unwrap();
        assert_eq!(r.canonical(), "name.givenName");
        let r = user
            .resolve(&AttrPath::parse(&format!("{ENTERPRISE_USER_SCHEMA}:manager.value")).unwrap())
            .unwrap();
        assert_eq!(r.extension, Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(r.target().name, "value");
        // Unqualified extension attribute: unique among extensions, so it resolves.
        let r = user.resolve(&AttrPath::parse("employeeNumber").unwrap()).unwrap();
        assert_eq!(r.extension, Some(ENTERPRISE_USER_SCHEMA));
        // Common attributes.
        assert_eq!(
            user.resolve(&AttrPath::parse("meta.lastModified").unwrap())
                .unwrap()
                .target()
                .name,
            "lastModified"
        );
        assert_eq!(
            user.resolve(&AttrPath::parse("externalId").unwrap())
                .unwrap()
                .attr
                .name,
            "externalId"
        );
    }

    #[test]
    fn unknown_paths_are_invalid_path() {
        let reg = SchemaRegistry::standard();
        for p in ["nope", "name.nope", "urn:x:y:z:attr", "userName.value"] {
            let e = reg.user().resolve(&AttrPath::parse(p).unwrap()).unwrap_err();
            assert_eq!(e.scim_type, Some(crate::error::ScimType::InvalidPath), "{p}");
        }
        assert!(reg
            .group()
            .resolve(&AttrPath::parse("userName").unwrap())
            .is_err());
    }

    #[test]
    fn custom_extension_can_be_added() {
        let mut reg = SchemaRegistry::standard();
        let ext = Schema::from_json(json!({
            "id": "urn:example:params:scim:schemas:extension:acme:2.0:User",
            "name": "AcmeUser",
            "attributes": [{
                "name": "badge", "type": "string", "multiValued": false, "required": false,
                "mutability": "readWrite", "returned": "default"
            }]
        }))
        .unwrap();
        reg.add_extension("User", ext, false).unwrap();
        let r = reg.user().resolve(&AttrPath::parse("badge").unwrap()).unwrap();
        assert_eq!(
            r.extension,
            Some("urn:example:params:scim:schemas:extension:acme:2.0:User")
        );
        assert_eq!(reg.resource_type("User").unwrap().schema_extensions.len(), 3);
    }
}
