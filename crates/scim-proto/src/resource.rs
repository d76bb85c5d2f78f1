//! Validation and normalisation of request bodies into the canonical form (RFC 7643 §2–§4,
//! RFC 7644 §3.3 and §3.5.1), PUT merging, and rendering of the wire representation.
//!
//! Input is what identity providers really send (docs/idp-compatibility.md): the
//! rules are strict about types and tolerant about everything an IdP is known to add (unknown
//! schema URNs, read-only attributes, `null`s, string booleans, bare manager ids).

use crate::distinct::DistinctValues;
use crate::error::{Result, ScimError};
use crate::etag;
use crate::hint;
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, Mutability, ResourceSchema, Returned};
use crate::text;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde_json::{Map, Number, Value};

/// What to do with a `password` (any `writeOnly` attribute) received from a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordPolicy {
    /// Keep only an argon2id hash (PHC string).
    #[default]
    Hash,
    /// Do not keep it at all.
    Drop,
}

/// Options of normalisation.
#[derive(Debug, Clone, Default)]
pub struct NormalizeOptions {
    pub password: PasswordPolicy,
    pub limits: ValueLimits,
}

/// How many values one multi-valued attribute may carry in a request (POST, PUT, or one PATCH
/// value), so one request cannot make the server do unbounded work. More is 400 `tooMany`
/// (RFC 7644 §3.12) naming the attribute and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueLimits {
    /// Any multi-valued attribute but a Group's `members`.
    pub per_attribute: usize,
    /// A Group's `members`: the same bound as the member changes of one PATCH
    /// ([`crate::patch::PatchLimits::max_member_changes`]).
    pub members: usize,
}

impl Default for ValueLimits {
    fn default() -> Self {
        ValueLimits {
            per_attribute: 1000,
            members: 1000,
        }
    }
}

/// The name of a Group's member list (RFC 7643 §4.2), which the store keeps apart from the group.
const MEMBERS: &str = "members";

/// 400 `invalidValue` for an entry of `members` with no member id: it names nobody, and dropping
/// it would leave the group without a member the client believes it added (RFC 7643 §4.2:
/// `value` is the member's `id`). POST, PUT and PATCH answer alike.
pub(crate) fn member_without_value(def: &AttributeDef) -> ScimError {
    ScimError::invalid_value(format!(
        "an entry of '{}' has no 'value' (the member's id)",
        def.name
    ))
    .with_hint(hint::CLIENT_FAULT)
}

impl ValueLimits {
    fn of(&self, def: &AttributeDef) -> usize {
        if def.name == MEMBERS {
            self.members
        } else {
            self.per_attribute
        }
    }

    /// 400 `tooMany` when `count` values of `def` are more than allowed.
    pub fn check(&self, def: &AttributeDef, count: usize) -> Result<()> {
        let limit = self.of(def);
        if count > limit {
            return Err(ScimError::too_many(format!(
                "'{}' may hold at most {limit} values, and {count} were given; {}",
                def.name,
                hint::too_many_values(&def.name)
            )));
        }
        Ok(())
    }
}

/// Server-maintained metadata used by [`render`] (RFC 7643 §3.1 `meta`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMeta {
    pub id: String,
    pub created: String,
    pub last_modified: String,
    pub version: u64,
    pub location: String,
}

/// Normalises a POST or PUT body into the canonical form (without `schemas`, `id`, `meta`).
///
/// - RFC 7643 §3: `schemas`, when given, must be an array of strings naming the core schema;
///   other URNs in it (Entra's Microsoft group schema) are ignored. An absent `schemas` is
///   tolerated.
/// - RFC 7643 §2.1: attribute names are case-insensitive; they are re-spelled as the schema
///   spells them. Extension attributes sit in an object keyed by the extension URN (§3.3).
/// - Unknown attributes and unknown URN-keyed objects are ignored; `null` means absent.
/// - RFC 7643 §2.2 `readOnly`: "any values provided SHALL be ignored" (`id`, `meta`, `groups`).
pub fn normalize(
    body: &Value,
    schema: &ResourceSchema<'_>,
    opts: &NormalizeOptions,
) -> Result<Map<String, Value>> {
    let obj = body.as_object().ok_or_else(|| {
        ScimError::invalid_syntax(format!(
            "the request body must be a JSON object; {}",
            hint::CLIENT_FAULT
        ))
    })?;
    check_schemas(obj, schema)?;

    // Gather raw values per canonical (extension, attribute) first, so the same attribute given
    // both as `name` and `name.givenName`, or in different spellings, ends up in one place.
    let mut raw = RawResource::default();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(ext) = schema.extension(key) {
            match value {
                Value::Null => {}
                Value::Object(inner) => {
                    for (k, v) in inner {
                        if let Some(def) = ext.attribute(k) {
                            raw.put(Some(ext.id.as_str()), def, None, v);
                        }
                    }
                }
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "'{}' must be an object holding the extension's attributes; {}",
                        ext.id,
                        hint::wrong_type(&ext.id, "an object")
                    )))
                }
            }
            continue;
        }
        if key.eq_ignore_ascii_case(&schema.core.id) {
            // Core attributes nested under the core URN: unusual but unambiguous.
            if let Value::Object(inner) = value {
                for (k, v) in inner {
                    if let Some(def) = schema.core.attribute(k) {
                        raw.put(None, def, None, v);
                    }
                }
            }
            continue;
        }
        // A plain name, a dotted `name.givenName` or a URN-qualified path (Entra's
        // `aadOptscim062020` style); anything that does not resolve is ignored.
        let Ok(path) = AttrPath::parse(key) else {
            continue;
        };
        let Ok(resolved) = schema.resolve(&path) else {
            continue;
        };
        raw.put(resolved.extension, resolved.attr, resolved.sub, value);
    }

    let mut out = Map::new();
    for (ext, def, value) in raw.entries {
        // RFC 7643 §2.2: read-only values from clients are ignored.
        if def.mutability == Mutability::ReadOnly {
            continue;
        }
        let Some(v) = normalize_attribute(def, &value, opts)? else {
            continue;
        };
        match ext {
            None => {
                out.insert(def.name.clone(), v);
            }
            Some(urn) => {
                let slot = out
                    .entry(urn.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = slot {
                    m.insert(def.name.clone(), v);
                }
            }
        }
    }
    check_identifiers(&out, schema, None)?;
    Ok(out)
}

/// Checks the identifiers of a canonical resource ([`ResourceSchema::identifiers`]) with
/// [`text::check_identifier`]: no control or format character, bounded length. 400
/// `invalidValue` naming the attribute. With `only`, just the attributes named there (as
/// [`crate::patch::PatchOutcome::changed_attributes`] names them).
pub fn check_identifiers(
    resource: &Map<String, Value>,
    schema: &ResourceSchema<'_>,
    only: Option<&std::collections::BTreeSet<String>>,
) -> Result<()> {
    for (ext, def) in schema.identifiers() {
        let label = match ext {
            Some(urn) => format!("{urn}:{}", def.name),
            None => def.name.clone(),
        };
        if only.is_some_and(|names| !names.contains(&label)) {
            continue;
        }
        if let Some(Value::String(s)) = get_attr(resource, ext, &def.name) {
            text::check_identifier(&label, s)?;
        }
    }
    Ok(())
}

/// Raw attribute values keyed by their definitions, in first-seen order.
#[derive(Default)]
struct RawResource<'a> {
    entries: Vec<(Option<&'a str>, &'a AttributeDef, Value)>,
}

impl<'a> RawResource<'a> {
    fn put(
        &mut self,
        ext: Option<&'a str>,
        def: &'a AttributeDef,
        sub: Option<&'a AttributeDef>,
        value: &Value,
    ) {
        let idx = self
            .entries
            .iter()
            .position(|(e, d, _)| *e == ext && std::ptr::eq(*d, def));
        match sub {
            None => match idx {
                Some(i) => {
                    if let Some(entry) = self.entries.get_mut(i) {
                        // `name` after `name.givenName`: merge the object into what is there.
                        match (&mut entry.2, value) {
                            (Value::Object(have), Value::Object(new)) => {
                                for (k, v) in new {
                                    have.insert(k.clone(), v.clone());
                                }
                            }
                            (slot, v) => *slot = v.clone(),
                        }
                    }
                }
                None => self.entries.push((ext, def, value.clone())),
            },
            Some(sub) => {
                let i = match idx {
                    Some(i) => i,
                    None => {
                        self.entries.push((ext, def, Value::Object(Map::new())));
                        self.entries.len() - 1
                    }
                };
                if let Some(entry) = self.entries.get_mut(i) {
                    if !entry.2.is_object() {
                        entry.2 = Value::Object(Map::new());
                    }
                    if let Value::Object(m) = &mut entry.2 {
                        m.insert(sub.name.clone(), value.clone());
                    }
                }
            }
        }
    }
}

/// RFC 7643 §3: the `schemas` attribute of a request body.
fn check_schemas(obj: &Map<String, Value>, schema: &ResourceSchema<'_>) -> Result<()> {
    let Some((_, schemas)) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case("schemas")) else {
        return Ok(());
    };
    let list = match schemas {
        Value::Null => return Ok(()),
        Value::Array(list) => list,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must be an array of schema URN strings; {}",
                hint::CLIENT_FAULT
            )))
        }
    };
    let mut has_core = false;
    for item in list {
        let urn = item.as_str().ok_or_else(|| {
            ScimError::invalid_syntax(format!(
                "'schemas' must be an array of schema URN strings; {}",
                hint::CLIENT_FAULT
            ))
        })?;
        has_core |= urn.trim().eq_ignore_ascii_case(&schema.core.id);
    }
    if has_core {
        Ok(())
    } else {
        Err(ScimError::invalid_value(format!(
            "'schemas' must contain '{}' for a {} resource; {}",
            schema.core.id,
            schema.resource_type.name,
            hint::CLIENT_FAULT
        )))
    }
}

/// Coerces one attribute's value to its definition (RFC 7643 §2.3 data types, §2.4
/// multi-valued attributes). `None` when the value is null or empty.
///
/// Tolerances, the whole list (docs/idp-compatibility.md, "Value shapes we accept"): string
/// booleans (`"True"`, Entra), a bare string id for a single-valued complex attribute with a
/// `value` sub-attribute (the enterprise `manager` from Entra), a one-element array for a
/// single-valued complex attribute (`[{"$ref":null,"value":"id"}]`), a single value for a
/// multi-valued attribute, numbers given as digit strings. Any other JSON type is 400
/// `invalidValue` (docs/idp-compatibility.md, "Values of the wrong type"). More values than
/// `opts.limits` allow is 400 `tooMany`. A `writeOnly` attribute (`password`) is hashed or
/// dropped per `opts`.
pub fn normalize_attribute(
    def: &AttributeDef,
    value: &Value,
    opts: &NormalizeOptions,
) -> Result<Option<Value>> {
    let v = normalize_unsealed(def, value, opts)?;
    if def.mutability == Mutability::WriteOnly {
        return seal_write_only(v, opts.password);
    }
    Ok(v)
}

/// [`normalize_attribute`] without its last step for a `writeOnly` attribute: the plain value
/// as given, for the caller to pass to [`seal_write_only`] once it knows the final value. The
/// PATCH engine uses it so that 1,000 operations on `password` cost one argon2id hash, not 1,000.
pub(crate) fn normalize_unsealed(
    def: &AttributeDef,
    value: &Value,
    opts: &NormalizeOptions,
) -> Result<Option<Value>> {
    if def.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Null => return Ok(None),
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        opts.limits.check(def, items.len())?;
        let mut out = DistinctValues::default();
        for item in items {
            if item.is_array() {
                return Err(ScimError::invalid_value(format!(
                    "'{}' holds a nested array where {} was expected; {}",
                    def.name,
                    type_name(def),
                    hint::wrong_type(&def.name, type_name(def))
                )));
            }
            let normalized = normalize_single(def, &def.name, item, opts)?;
            if def.name == MEMBERS && !normalized.as_ref().is_some_and(names_a_member) {
                return Err(member_without_value(def));
            }
            if let Some(v) = normalized {
                // Exact duplicates are one value (RFC 7643 §2.4: a multi-valued attribute is a
                // set of values; Okta and Entra resend what is already there).
                out.insert(v);
            }
        }
        let out = out.into_values();
        // RFC 7643 §2.4: "The primary attribute value 'true' MUST appear no more than once."
        let primaries = out
            .iter()
            .filter(|v| v.get("primary").and_then(Value::as_bool) == Some(true))
            .count();
        if primaries > 1 {
            return Err(ScimError::invalid_value(format!(
                "'{}' has {primaries} values with \"primary\": true; at most one is allowed: \
                 mark only one of the IdP's mappings to {} as primary",
                def.name, def.name
            )));
        }
        if out.is_empty() {
            Ok(None)
        } else {
            Ok(Some(Value::Array(out)))
        }
    } else {
        let single = match value {
            Value::Array(items) => match items.as_slice() {
                [] => return Ok(None),
                [one] => one,
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "'{}' is single-valued but {} values were given; {}",
                        def.name,
                        items.len(),
                        hint::wrong_type(&def.name, "one value")
                    )))
                }
            },
            v => v,
        };
        normalize_single(def, &def.name, single, opts)
    }
}

/// Whether a normalised `members` entry carries a member id (not only blanks).
fn names_a_member(entry: &Value) -> bool {
    entry
        .get("value")
        .and_then(Value::as_str)
        .is_some_and(|id| !id.trim().is_empty())
}

/// Whether `body` names a `writeOnly` attribute of `schema` (`password`) anywhere: in a key, or
/// in a string (a PATCH `path`), ignoring case. A superset of the bodies whose normalisation or
/// PATCH hashes a password, found without interpreting them, so a caller can reserve hashing
/// capacity before the work starts.
pub fn mentions_write_only(body: &Value, schema: &ResourceSchema<'_>) -> bool {
    let names: Vec<String> = schema
        .attributes()
        .filter(|(_, def)| def.mutability == Mutability::WriteOnly)
        .map(|(_, def)| def.name.to_ascii_lowercase())
        .collect();
    if names.is_empty() {
        return false;
    }
    let names_one = |s: &str| {
        let s = s.to_ascii_lowercase();
        names.iter().any(|n| s.contains(n.as_str()))
    };
    let mut stack = vec![body];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if names_one(s) => return true,
            Value::Array(items) => stack.extend(items),
            Value::Object(m) => {
                if m.keys().any(|k| names_one(k)) {
                    return true;
                }
                stack.extend(m.values());
            }
            _ => {}
        }
    }
    false
}

/// What is kept of a `writeOnly` value (`password`): its argon2id hash, or nothing.
pub(crate) fn seal_write_only(plain: Option<Value>, policy: PasswordPolicy) -> Result<Option<Value>> {
    match (plain, policy) {
        (Some(Value::String(plain)), PasswordPolicy::Hash) => Ok(Some(Value::String(hash_password(&plain)?))),
        _ => Ok(None),
    }
}

/// One (non-array) value of an attribute or sub-attribute. `label` names it in errors.
fn normalize_single(
    def: &AttributeDef,
    label: &str,
    value: &Value,
    opts: &NormalizeOptions,
) -> Result<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if def.ty == AttrType::Complex {
        return normalize_complex(def, label, value, opts);
    }
    let bad = || wrong_type(def, label, value);
    let out = match def.ty {
        // RFC 7643 §2.3.1: a string is a JSON string; `"userName": 42` is a client mistake, not
        // a value to convert.
        AttrType::String | AttrType::Reference => match value {
            Value::String(s) => {
                text::check_string(label, s)?;
                Value::String(canonical_string(def, label, s)?)
            }
            _ => return Err(bad()),
        },
        AttrType::Binary => match value {
            // RFC 7643 §2.3.6: base64 (RFC 4648); whitespace from PEM-style line breaks is allowed.
            Value::String(s) if is_base64ish(s) => {
                text::check_string(label, s)?;
                Value::String(s.clone())
            }
            _ => return Err(bad()),
        },
        AttrType::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            // Entra sends "True"/"False" (any case) for booleans.
            Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Value::Bool(false),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            _ => return Err(bad()),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Value::Number(n.clone()),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::Number(Number::from(f as i64)),
                _ => return Err(bad()),
            },
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Value::Number(Number::from(i)),
                Err(_) => return Err(bad()),
            },
            _ => return Err(bad()),
        },
        AttrType::Decimal => match value {
            Value::Number(n) => Value::Number(n.clone()),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => match s.trim().parse::<f64>().ok().and_then(Number::from_f64) {
                Some(n) => Value::Number(n),
                None => return Err(bad()),
            },
            _ => return Err(bad()),
        },
        AttrType::DateTime => match value {
            // RFC 7643 §2.3.5: xsd:dateTime; RFC 3339 is the profile every client sends.
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => {
                let t = s.trim();
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).map_err(
                    |_| {
                        ScimError::invalid_value(format!(
                            "'{label}' must be an RFC 3339 dateTime such as 2024-05-01T12:00:00Z, got \"{s}\"; {}",
                            hint::wrong_type(label, "a date and time")
                        ))
                    },
                )?;
                Value::String(t.to_string())
            }
            _ => return Err(bad()),
        },
        AttrType::Complex => return Err(bad()),
    };
    // Empty strings are absent: clients send "" for a field they have no value for.
    if matches!(&out, Value::String(s) if s.is_empty()) {
        return Ok(None);
    }
    Ok(Some(out))
}

/// A string value in the spelling of the attribute's canonical values when it keeps to them
/// ([`AttributeDef::canonical_only`], an operator's extension), else as given; an empty string
/// passes (it means absent).
fn canonical_string(def: &AttributeDef, label: &str, s: &str) -> Result<String> {
    if s.is_empty() {
        return Ok(String::new());
    }
    match def.canonical_value(s) {
        Some(canonical) => Ok(canonical.to_string()),
        None => Err(ScimError::invalid_value(format!(
            "'{label}' must be one of {}, got \"{s}\"; {}",
            def.canonical_values
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", "),
            hint::wrong_type(label, "one of the schema's canonical values")
        ))),
    }
}

fn normalize_complex(
    def: &AttributeDef,
    label: &str,
    value: &Value,
    opts: &NormalizeOptions,
) -> Result<Option<Value>> {
    let obj = match value {
        Value::Object(obj) => obj,
        // Entra sends the enterprise `manager` as a bare id: read it as `{"value": ...}`. Only a
        // single-valued attribute: `"emails": "x"` is a type error, not an email.
        Value::String(_) if !def.multi_valued && def.sub_attribute("value").is_some() => {
            let Some(value_def) = def.sub_attribute("value") else {
                return Err(wrong_type(def, label, value));
            };
            let sub_label = format!("{label}.{}", value_def.name);
            return Ok(normalize_single(value_def, &sub_label, value, opts)?.map(|v| {
                let mut m = Map::new();
                m.insert(value_def.name.clone(), v);
                Value::Object(m)
            }));
        }
        _ => return Err(wrong_type(def, label, value)),
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let Some(sub) = def.sub_attribute(k) else {
            continue;
        };
        // RFC 7643 §2.2: client-provided read-only values are ignored (`members.display`).
        if sub.mutability == Mutability::ReadOnly {
            continue;
        }
        let sub_label = format!("{label}.{}", sub.name);
        let normalized = if sub.multi_valued {
            normalize_attribute(sub, v, opts)?
        } else {
            normalize_single(sub, &sub_label, v, opts)?
        };
        if let Some(n) = normalized {
            out.insert(sub.name.clone(), n);
        }
    }
    if out.is_empty() {
        Ok(None)
    } else {
        Ok(Some(Value::Object(out)))
    }
}

/// RFC 7643 §2.3: a value of another JSON type than the attribute's is 400 `invalidValue`, with
/// the mapping hint.
fn wrong_type(def: &AttributeDef, label: &str, value: &Value) -> ScimError {
    let expected = type_name(def);
    ScimError::invalid_value(format!(
        "'{label}' must be {expected}, got {}; {}",
        json_kind(value),
        hint::wrong_type(label, expected)
    ))
}

fn type_name(def: &AttributeDef) -> &'static str {
    match def.ty {
        AttrType::String => "a string",
        AttrType::Boolean => "a boolean",
        AttrType::Decimal => "a decimal number",
        AttrType::Integer => "an integer",
        AttrType::DateTime => "an RFC 3339 dateTime string",
        AttrType::Binary => "a base64 string",
        AttrType::Reference => "a reference (URI string)",
        AttrType::Complex => "a complex value (JSON object)",
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_base64ish(s: &str) -> bool {
    s.bytes().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_') || b.is_ascii_whitespace()
    })
}

std::thread_local! {
    /// argon2id hashes computed on this thread. Protocol work runs on one blocking thread per
    /// call, so the difference around a call is what that call computed.
    static PASSWORD_HASHES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many argon2id hashes this thread has computed: the service reports the difference
/// around a request's protocol work, and tests assert on it.
pub fn password_hashes_on_this_thread() -> u64 {
    PASSWORD_HASHES.with(std::cell::Cell::get)
}

/// Hashes a password with argon2id and a random salt into a PHC string.
fn hash_password(plain: &str) -> Result<String> {
    PASSWORD_HASHES.with(|n| n.set(n.get().saturating_add(1)));
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(plain.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ScimError::new(500, None, format!("password hashing failed: {e}")))
}

/// Whether `candidate` is the password whose PHC hash is `hash`. A malformed hash never verifies.
pub fn verify_password(hash: &str, candidate: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// The value of an attribute in a canonical resource: top level for core and common attributes,
/// inside the URN-keyed object for extension attributes (RFC 7643 §3.3).
fn get_attr<'r>(resource: &'r Map<String, Value>, ext: Option<&str>, name: &str) -> Option<&'r Value> {
    match ext {
        None => resource.get(name),
        Some(urn) => resource.get(urn)?.as_object()?.get(name),
    }
}

/// Whether the resource holds a non-empty object under this extension URN.
fn has_extension(resource: &Map<String, Value>, urn: &str) -> bool {
    matches!(resource.get(urn), Some(Value::Object(m)) if !m.is_empty())
}

/// Checks required attributes (RFC 7643 §2.2 `required`, §7) of a canonical resource: every
/// required, client-settable attribute is present, required sub-attributes of present complex
/// values are present, and every required extension (RFC 7643 §6 `schemaExtensions.required`)
/// is present. 400 `invalidValue` naming the attribute otherwise.
pub fn check_required(resource: &Map<String, Value>, schema: &ResourceSchema<'_>) -> Result<()> {
    for (ext, required) in &schema.extensions {
        if *required && !has_extension(resource, &ext.id) {
            return Err(ScimError::invalid_value(format!(
                "the extension '{}' is required for {} resources; {}",
                ext.id,
                schema.resource_type.name,
                hint::required(&schema.resource_type.name, &ext.id)
            )));
        }
    }
    for (ext, def) in schema.attributes() {
        // Server-assigned attributes are the server's business, not the client's.
        if def.mutability == Mutability::ReadOnly {
            continue;
        }
        if ext.is_some_and(|urn| !resource.contains_key(urn)) {
            // An absent optional extension has no required attributes to check.
            continue;
        }
        let label = match ext {
            Some(urn) => format!("{urn}:{}", def.name),
            None => def.name.clone(),
        };
        let value = get_attr(resource, ext, &def.name);
        if def.required && value.is_none() {
            return Err(ScimError::invalid_value(format!(
                "'{label}' is required for {} resources; {}",
                schema.resource_type.name,
                hint::required(&schema.resource_type.name, &label)
            )));
        }
        let Some(value) = value else { continue };
        if !def.is_complex() {
            continue;
        }
        let elements: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            v => vec![v],
        };
        for el in elements {
            for sub in def
                .sub_attributes
                .iter()
                .filter(|s| s.required && s.mutability != Mutability::ReadOnly)
            {
                if el.get(&sub.name).is_none() {
                    return Err(ScimError::invalid_value(format!(
                        "'{label}.{}' is required in every '{label}' value; {}",
                        sub.name,
                        hint::required_sub(&label, &sub.name)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// RFC 7644 §3.5.1 PUT: the incoming (normalised) resource replaces the existing one.
///
/// - `readWrite`: the incoming value, absent meaning cleared.
/// - `immutable`: once set, an incoming value must be equal (400 `mutability` otherwise); an
///   omitted one keeps the existing value.
/// - `readOnly` (`id`, `meta`, ...): kept from the existing resource.
/// - `writeOnly` (`password`): the incoming value, else the existing one: a client can never
///   read it back, so it cannot resend it.
pub fn merge_for_put(
    existing: &Map<String, Value>,
    incoming: Map<String, Value>,
    schema: &ResourceSchema<'_>,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (ext, def) in schema.attributes() {
        let old = get_attr(existing, ext, &def.name);
        let new = get_attr(&incoming, ext, &def.name);
        let keep = match def.mutability {
            Mutability::ReadOnly => old,
            Mutability::ReadWrite => new,
            Mutability::WriteOnly => new.or(old),
            Mutability::Immutable => match (old, new) {
                (Some(o), Some(n)) if o != n => {
                    return Err(ScimError::mutability(format!(
                        "'{}' is immutable and cannot be changed once set; {}",
                        def.name,
                        hint::immutable(&def.name)
                    )))
                }
                (Some(o), _) => Some(o),
                (None, n) => n,
            },
        };
        let Some(v) = keep else { continue };
        match ext {
            None => {
                out.insert(def.name.clone(), v.clone());
            }
            Some(urn) => {
                let slot = out
                    .entry(urn.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = slot {
                    m.insert(def.name.clone(), v.clone());
                }
            }
        }
    }
    Ok(out)
}

/// The wire representation of a stored resource (RFC 7643 §3, §3.1): `schemas` (the core URN
/// and the URN of every extension present), `id`, `externalId`, the other attributes in stored
/// order, and `meta` last with the weak ETag as `version` (RFC 7644 §3.14).
///
/// Attributes with `returned: never` (the password hash) are never rendered, whatever the
/// caller does next, nor anything the schema does not describe. The resource is taken by value: its values move into the output uncopied.
pub fn render(
    mut resource: Map<String, Value>,
    schema: &ResourceSchema<'_>,
    meta: ResourceMeta,
) -> Map<String, Value> {
    // Sized once: `schemas`, `id` and `meta` besides the attributes.
    let mut out = Map::with_capacity(resource.len() + 3);
    let mut schemas = vec![Value::String(schema.core.id.clone())];
    for (ext, _) in &schema.extensions {
        if has_extension(&resource, &ext.id) {
            schemas.push(Value::String(ext.id.clone()));
        }
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::String(meta.id));
    if let Some(x) = resource.shift_remove("externalId") {
        out.insert("externalId".into(), x);
    }
    for (k, v) in resource {
        if matches!(k.as_str(), "schemas" | "id" | "meta") {
            continue;
        }
        if let Some(ext) = schema.extension(&k) {
            let Value::Object(mut inner) = v else { continue };
            inner.retain(|name, _| ext.attribute(name).is_none_or(|d| d.returned != Returned::Never));
            if !inner.is_empty() {
                out.insert(ext.id.clone(), Value::Object(inner));
            }
            continue;
        }
        // What the schema does not describe is not rendered: the values of an extension taken
        // out of SCIM_SCHEMA_EXTENSIONS stay stored, but nothing says which are `returned: never`.
        let def = schema.common.attribute(&k).or_else(|| schema.core.attribute(&k));
        if def.is_none_or(|d| d.returned == Returned::Never) {
            continue;
        }
        out.insert(k, v);
    }
    let mut m = Map::with_capacity(5);
    m.insert(
        "resourceType".into(),
        Value::String(schema.resource_type.name.clone()),
    );
    m.insert("created".into(), Value::String(meta.created));
    m.insert("lastModified".into(), Value::String(meta.last_modified));
    m.insert("location".into(), Value::String(meta.location));
    m.insert("version".into(), Value::String(etag::weak_etag(meta.version)));
    out.insert("meta".into(), Value::Object(m));
    out
}
