//! The operator's schema extensions (`SCIM_SCHEMA_EXTENSIONS`): the text of a JSON file holding
//! an array of `{"resourceType": "User" | "Group", "required": bool, "schema": <RFC 7643 §7
//! schema>}`, checked whole before the service starts, so a mistake stops the start with the
//! file, the entry and the attribute named instead of surfacing as odd answers later.
//!
//! What is refused, beyond what RFC 7643 itself refuses: attributes that would shadow the common
//! attributes (§3.1), `uniqueness` other than `none` (stores index only the built-in
//! identifiers), multi-valued sub-attributes (no path addresses a value inside one), and a
//! `writeOnly` attribute not `returned: never`. Canonical values of an extension attribute are
//! kept to ([`AttributeDef::canonical_only`]).

use crate::path::is_attr_name;
use crate::schema::{AttrType, AttributeDef, Mutability, Returned, Schema, SchemaRegistry, Uniqueness};
use serde_json::{Map, Value};
use std::fmt;

/// One entry of the file: an extension schema of a resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionEntry {
    /// `User` or `Group`.
    pub resource_type: &'static str,
    /// RFC 7643 §6 `schemaExtensions.required`: a resource without it is refused.
    pub required: bool,
    pub schema: Schema,
}

/// Why the file was refused: the file's name and the problem, with the entry and the attribute
/// it lies in, or the JSON position of a syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionFileError {
    pub file: String,
    pub problem: String,
}

impl fmt::Display for ExtensionFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "schema extensions file {}: {}", self.file, self.problem)
    }
}

impl std::error::Error for ExtensionFileError {}

/// Attribute names an extension may not use: the common attributes (RFC 7643 §3.1) and
/// `schemas` (§3), which every resource has at its top level.
const RESERVED_NAMES: &[&str] = &["schemas", "id", "externalId", "meta"];

const ENTRY_KEYS: &[&str] = &["resourceType", "required", "schema"];
/// `schemas` and `meta` are allowed so a schema copied from a `/Schemas` answer is accepted.
const SCHEMA_KEYS: &[&str] = &["id", "name", "description", "attributes", "schemas", "meta"];
const ATTRIBUTE_KEYS: &[&str] = &[
    "name",
    "type",
    "multiValued",
    "description",
    "required",
    "caseExact",
    "mutability",
    "returned",
    "uniqueness",
    "canonicalValues",
    "referenceTypes",
    "subAttributes",
];

/// Parses and checks the file's text; `file` names it in errors. The entries keep the file's
/// order.
pub fn parse_extension_file(file: &str, text: &str) -> Result<Vec<ExtensionEntry>, ExtensionFileError> {
    let fail = |problem: String| ExtensionFileError {
        file: file.to_string(),
        problem,
    };
    let doc: Value = serde_json::from_str(text).map_err(|e| fail(format!("not valid JSON: {e}")))?;
    let Value::Array(items) = doc else {
        return Err(fail(
            "must be a JSON array of {\"resourceType\", \"required\", \"schema\"} objects".into(),
        ));
    };
    let builtin = SchemaRegistry::standard();
    let mut entries: Vec<ExtensionEntry> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let entry = parse_entry(item).map_err(|p| fail(format!("entry {}: {p}", i + 1)))?;
        let id = &entry.schema.id;
        let taken = builtin.schema(id).is_some()
            || [crate::schema::SCHEMA_SCHEMA, crate::schema::RESOURCE_TYPE_SCHEMA]
                .iter()
                .any(|u| u.eq_ignore_ascii_case(id))
            || id
                .to_ascii_lowercase()
                .starts_with("urn:ietf:params:scim:schemas:core:")
            || id.to_ascii_lowercase().starts_with("urn:ietf:params:scim:api:");
        if taken {
            return Err(fail(format!(
                "entry {}: schema id '{id}' is a built-in SCIM schema, or in the SCIM core or api namespace \
                 (RFC 7643 §10.2); an extension needs a URN of its own",
                i + 1
            )));
        }
        if let Some(first) = entries.iter().position(|e| e.schema.id.eq_ignore_ascii_case(id)) {
            return Err(fail(format!(
                "entry {}: schema id '{id}' is already used by entry {}",
                i + 1,
                first + 1
            )));
        }
        entries.push(entry);
    }
    Ok(entries)
}

impl SchemaRegistry {
    /// [`SchemaRegistry::standard`] with the extensions of an extensions file (see
    /// [`parse_extension_file`]).
    pub fn with_extension_file(file: &str, text: &str) -> Result<SchemaRegistry, ExtensionFileError> {
        let mut registry = SchemaRegistry::standard();
        for entry in parse_extension_file(file, text)? {
            let id = entry.schema.id.clone();
            registry
                .add_extension(entry.resource_type, entry.schema, entry.required)
                .map_err(|e| ExtensionFileError {
                    file: file.to_string(),
                    problem: format!("schema {id}: {}", e.detail),
                })?;
        }
        Ok(registry)
    }
}

fn parse_entry(item: &Value) -> Result<ExtensionEntry, String> {
    let obj = item
        .as_object()
        .ok_or("must be an object with resourceType, required and schema")?;
    known_keys(obj, ENTRY_KEYS)?;
    let resource_type = match obj.get("resourceType") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("User") => "User",
        Some(Value::String(s)) if s.eq_ignore_ascii_case("Group") => "Group",
        Some(other) => return Err(format!("resourceType {other} is neither \"User\" nor \"Group\"")),
        None => return Err("resourceType is missing (\"User\" or \"Group\")".into()),
    };
    let required = match obj.get("required") {
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(format!("required must be true or false, not {other}")),
        None => return Err("required is missing (true or false)".into()),
    };
    let schema = obj.get("schema").ok_or("schema is missing")?;
    Ok(ExtensionEntry {
        resource_type,
        required,
        schema: parse_schema(schema)?,
    })
}

fn parse_schema(value: &Value) -> Result<Schema, String> {
    let obj = value
        .as_object()
        .ok_or("schema must be an object (RFC 7643 §7)")?;
    known_keys(obj, SCHEMA_KEYS).map_err(|p| format!("schema: {p}"))?;
    let id = match obj.get("id") {
        Some(Value::String(id)) => id.clone(),
        _ => return Err("schema: id must be the extension's URN, a string such as \"urn:ietf:params:scim:schemas:extension:acme:2.0:User\"".into()),
    };
    if !is_urn(&id) {
        return Err(format!(
            "schema: id '{id}' is not a URN (urn:<namespace>:<name>, letters, digits and -._~:!$&*+,;=@/% only)"
        ));
    }
    let name = match obj.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
        _ => return Err(format!("schema {id}: name must be a non-empty string")),
    };
    let description = match obj.get("description") {
        None => String::new(),
        Some(Value::String(d)) => d.clone(),
        Some(_) => return Err(format!("schema {id}: description must be a string")),
    };
    let attributes = match obj.get("attributes") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => return Err(format!("schema {id}: attributes must be a non-empty array")),
    };
    let attributes = parse_attributes(attributes, None).map_err(|p| format!("schema {id}: {p}"))?;
    Ok(Schema {
        id,
        name,
        description,
        attributes,
    })
}

/// The attributes of a schema (`parent` None) or the sub-attributes of `parent`.
fn parse_attributes(items: &[Value], parent: Option<&str>) -> Result<Vec<AttributeDef>, String> {
    let mut out: Vec<AttributeDef> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let where_ = match parent {
            None => format!("attribute {}", i + 1),
            Some(p) => format!("sub-attribute {} of '{p}'", i + 1),
        };
        let obj = item
            .as_object()
            .ok_or_else(|| format!("{where_}: must be an object"))?;
        let name = match obj.get("name") {
            Some(Value::String(n)) => n.as_str(),
            _ => return Err(format!("{where_}: name must be a string")),
        };
        // RFC 7643 §2.1 ATTRNAME; `$ref` is the RFC's own, not a name to declare.
        if name == "$ref" || !is_attr_name(name) {
            return Err(format!(
                "{where_}: name '{name}' is not an attribute name (RFC 7643 §2.1: a letter, then letters, digits, '-' or '_')"
            ));
        }
        let label = match parent {
            None => format!("attribute '{name}'"),
            Some(p) => format!("attribute '{p}.{name}'"),
        };
        if parent.is_none() && RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(format!(
                "{label}: '{name}' is a common attribute of every resource (RFC 7643 §3.1) and cannot be redeclared"
            ));
        }
        if out.iter().any(|a| a.name.eq_ignore_ascii_case(name)) {
            return Err(format!(
                "{label}: declared twice (attribute names ignore case, RFC 7643 §2.1)"
            ));
        }
        known_keys(obj, ATTRIBUTE_KEYS).map_err(|p| format!("{label}: {p}"))?;
        // Sub-attributes are read one by one below, so an error names the one at fault.
        let mut own = obj.clone();
        let subs = match own.remove("subAttributes") {
            None => Vec::new(),
            Some(Value::Array(subs)) => subs,
            Some(_) => return Err(format!("{label}: subAttributes must be an array")),
        };
        let mut def: AttributeDef =
            serde_json::from_value(Value::Object(own)).map_err(|e| format!("{label}: {e}"))?;
        check_characteristics(&def, subs.is_empty(), parent.is_some())
            .map_err(|p| format!("{label}: {p}"))?;
        def.sub_attributes = parse_attributes(&subs, Some(name))?;
        def.canonical_only = !def.canonical_values.is_empty();
        out.push(def);
    }
    Ok(out)
}

/// RFC 7643 §2.2, §2.3 and §7 rules on the characteristics of one attribute.
fn check_characteristics(def: &AttributeDef, no_subs: bool, is_sub: bool) -> Result<(), String> {
    if def.is_complex() {
        if is_sub {
            return Err("a sub-attribute cannot be complex (RFC 7643 §2.3.8)".into());
        }
        if no_subs {
            return Err("a complex attribute needs subAttributes (RFC 7643 §2.3.8)".into());
        }
    } else if !no_subs {
        return Err("only a complex attribute has subAttributes".into());
    }
    if is_sub && def.multi_valued {
        return Err("multi-valued sub-attributes are not supported".into());
    }
    if !def.canonical_values.is_empty() && def.ty != AttrType::String {
        return Err("canonicalValues apply to string attributes only".into());
    }
    if def.canonical_values.iter().any(|v| v.trim().is_empty()) {
        return Err("canonicalValues holds an empty value".into());
    }
    match (def.ty, def.reference_types.is_empty()) {
        (AttrType::Reference, true) => {
            return Err("a reference attribute needs referenceTypes (RFC 7643 §7)".into())
        }
        (AttrType::Reference, false) | (_, true) => {}
        (_, false) => return Err("referenceTypes apply to reference attributes only".into()),
    }
    if def.uniqueness != Uniqueness::None {
        return Err(
            "uniqueness must be \"none\": unique extension attributes are not supported (stores \
             index only userName, externalId and a group's displayName)"
                .into(),
        );
    }
    if def.mutability == Mutability::WriteOnly && def.returned != Returned::Never {
        return Err(
            "a writeOnly attribute must be \"returned\": \"never\" (RFC 7643 §2.2: its values are never returned)"
                .into(),
        );
    }
    Ok(())
}

fn known_keys(obj: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(format!("unknown key '{k}' (known: {})", known.join(", "))),
    }
}

/// `urn:<NID>:<NSS>` (RFC 8141), with the NSS limited to characters a filter or PATCH path can
/// carry unquoted (no spaces, quotes, brackets or parentheses).
fn is_urn(id: &str) -> bool {
    let Some(rest) = id
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("urn:"))
        .map(|_| &id[4..])
    else {
        return false;
    };
    let Some((nid, nss)) = rest.split_once(':') else {
        return false;
    };
    let nid_ok = (1..=32).contains(&nid.len())
        && nid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !nid.starts_with('-');
    let nss_ok = !nss.is_empty()
        && !nss.ends_with(':')
        && nss
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~:!$&*+,;=@/%".contains(&b));
    nid_ok && nss_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urns() {
        for ok in [
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User",
            "urn:acme:User",
            "URN:x-y:a.b",
        ] {
            assert!(is_urn(ok), "{ok}");
        }
        for bad in [
            "acme:User",
            "urn:",
            "urn:acme",
            "urn:acme:",
            "urn:ac me:x",
            "urn:a:b c",
            "urn:a:b(",
            "urn:a:b:",
        ] {
            assert!(!is_urn(bad), "{bad}");
        }
    }
}
