//! Validation and evaluation of filters against a resource type (RFC 7644 §3.4.2.2), and the
//! equality conditions a store can answer from an index.

use super::{CompValue, CompareOp, Filter};
use crate::error::{Result, ScimError};
use crate::hint;
use crate::path::AttrPath;
use crate::schema::{AttrType, AttributeDef, ResolvedAttr, ResourceSchema};
use crate::text::nfc;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

/// What a path inside a value filter names, relative to the outer attribute.
#[derive(Clone, Copy)]
enum Inner<'s> {
    /// A sub-attribute of a complex outer attribute.
    Sub(&'s AttributeDef),
    /// `value` of a simple multi-valued attribute: the element itself (RFC 7644 §3.4.2.2 uses
    /// `value` for the elements of multi-valued attributes without sub-attributes).
    Element(&'s AttributeDef),
}

impl<'s> Inner<'s> {
    fn def(self) -> &'s AttributeDef {
        match self {
            Inner::Sub(d) | Inner::Element(d) => d,
        }
    }
}

/// Resolves a path inside `outer[...]`: a bare sub-attribute name (`type`), or a full path to a
/// sub-attribute of the outer attribute (`emails.type`,
/// `urn:ietf:params:scim:schemas:core:2.0:User:emails.type`).
fn resolve_inner<'s>(
    schema: &ResourceSchema<'s>,
    outer: &ResolvedAttr<'s>,
    path: &AttrPath,
) -> Option<Inner<'s>> {
    if path.urn.is_none() && path.sub.is_none() {
        if let Some(sub) = outer.attr.sub_attribute(&path.attr) {
            return Some(Inner::Sub(sub));
        }
        if !outer.attr.is_complex() && path.attr.eq_ignore_ascii_case("value") {
            return Some(Inner::Element(outer.attr));
        }
        return None;
    }
    let full = schema.resolve(path).ok()?;
    if !std::ptr::eq(full.attr, outer.attr) {
        return None;
    }
    full.sub.map(Inner::Sub)
}

fn filter_error(detail: impl Into<String>) -> ScimError {
    ScimError::invalid_filter(detail)
}

/// A filter naming an attribute the resource type lacks: `invalidFilter` (RFC 7644 §3.4.2.2),
/// with what IdPs usually look resources up by.
fn unknown_attribute(schema: &ResourceSchema<'_>, resolve_error: &ScimError) -> ScimError {
    filter_error(format!("unknown attribute in filter: {}", resolve_error.detail))
        .with_hint(hint::unknown_filter_attribute(&schema.resource_type.name))
}

// ---------------------------------------------------------------------------------------------
// Validation

pub(super) fn validate(
    filter: &Filter,
    schema: &ResourceSchema<'_>,
    outer: Option<&ResolvedAttr<'_>>,
) -> Result<()> {
    match filter {
        Filter::And(l, r) | Filter::Or(l, r) => {
            validate(l, schema, outer)?;
            validate(r, schema, outer)
        }
        Filter::Not(inner) => validate(inner, schema, outer),
        Filter::Present(path) => resolve_for_validation(schema, outer, path).map(|_| ()),
        Filter::Compare { path, op, value } => {
            let def = resolve_for_validation(schema, outer, path)?;
            check_comparison(def, path, *op, value)
        }
        Filter::ValuePath { attr, filter } => {
            if let Some(outer) = outer {
                return Err(filter_error(format!(
                    "value filters cannot be nested: '{attr}[...]' inside '{}[...]'",
                    outer.attr.name
                )));
            }
            let resolved = schema.resolve(attr).map_err(|e| unknown_attribute(schema, &e))?;
            validate_value_filter(filter, schema, &resolved)
        }
    }
}

pub(super) fn validate_value_filter(
    filter: &Filter,
    schema: &ResourceSchema<'_>,
    attr: &ResolvedAttr<'_>,
) -> Result<()> {
    if attr.sub.is_some() {
        return Err(filter_error(format!(
            "a value filter '[...]' applies to an attribute, not to the sub-attribute '{}'",
            attr.canonical()
        )));
    }
    if !attr.attr.multi_valued && !attr.attr.is_complex() {
        return Err(filter_error(format!(
            "'{}' is neither multi-valued nor complex, so it cannot take a value filter '[...]'",
            attr.attr.name
        )));
    }
    validate(filter, schema, Some(attr))
}

fn resolve_for_validation<'s>(
    schema: &ResourceSchema<'s>,
    outer: Option<&ResolvedAttr<'s>>,
    path: &AttrPath,
) -> Result<&'s AttributeDef> {
    match outer {
        None => schema
            .resolve(path)
            .map(|r| r.target())
            .map_err(|e| unknown_attribute(schema, &e)),
        Some(outer) => resolve_inner(schema, outer, path).map(Inner::def).ok_or_else(|| {
            let subs: Vec<&str> = outer
                .attr
                .sub_attributes
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            filter_error(format!(
                "'{path}' is not a sub-attribute of '{}' (in '{}[...]'; its sub-attributes are: {})",
                outer.attr.name,
                outer.attr.name,
                if subs.is_empty() {
                    "value".to_string()
                } else {
                    subs.join(", ")
                }
            ))
        }),
    }
}

fn type_name(ty: AttrType) -> &'static str {
    match ty {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::Decimal => "decimal",
        AttrType::Integer => "integer",
        AttrType::DateTime => "dateTime",
        AttrType::Binary => "binary",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
    }
}

/// The definition a comparison really looks at: a complex attribute with a `value`
/// sub-attribute compares that (`emails eq "x"`, `members eq "id"`).
fn comparison_target(def: &AttributeDef) -> Option<&AttributeDef> {
    if def.is_complex() {
        def.sub_attribute("value")
    } else {
        Some(def)
    }
}

fn check_comparison(def: &AttributeDef, path: &AttrPath, op: CompareOp, value: &CompValue) -> Result<()> {
    let Some(def) = comparison_target(def) else {
        let example = def
            .sub_attributes
            .first()
            .map(|s| format!(" such as '{path}.{}'", s.name))
            .unwrap_or_default();
        return Err(filter_error(format!(
            "'{path}' is a complex attribute and cannot be compared directly; compare one of its sub-attributes{example}"
        )));
    };
    let ty = def.ty;
    let op_name = op.as_str();
    if op.is_ordering() && matches!(ty, AttrType::Boolean | AttrType::Binary) {
        // RFC 7644 §3.4.2.2: gt/ge/lt/le on boolean or binary attributes MUST be rejected.
        return Err(filter_error(format!(
            "'{op_name}' cannot be used on the {} attribute '{path}' (RFC 7644 §3.4.2.2)",
            type_name(ty)
        )));
    }
    if op.is_substring() && matches!(ty, AttrType::Boolean | AttrType::Integer | AttrType::Decimal) {
        return Err(filter_error(format!(
            "'{op_name}' applies to strings; '{path}' is a {} attribute",
            type_name(ty)
        )));
    }
    if matches!(value, CompValue::Null) {
        return if matches!(op, CompareOp::Eq | CompareOp::Ne) {
            Ok(())
        } else {
            Err(filter_error(format!(
                "'{path} {op_name} null': only eq and ne compare with null"
            )))
        };
    }
    if op.is_substring() && !matches!(value, CompValue::String(_)) {
        return Err(filter_error(format!(
            "'{path} {op_name} {value}': '{op_name}' needs a string value"
        )));
    }
    let ok = match ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            matches!(value, CompValue::String(_))
        }
        AttrType::Boolean => value_as_bool(value).is_some(),
        AttrType::Integer | AttrType::Decimal => value_as_number(value).is_some(),
        AttrType::DateTime => match value {
            CompValue::String(s) => op.is_substring() || parse_datetime(s).is_some(),
            _ => false,
        },
        AttrType::Complex => false,
    };
    if ok {
        return Ok(());
    }
    let expected = match ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => "a string",
        AttrType::Boolean => "true or false",
        AttrType::Integer | AttrType::Decimal => "a number",
        AttrType::DateTime => "a dateTime string such as \"2011-05-13T04:42:34Z\" (RFC 3339)",
        AttrType::Complex => "a sub-attribute",
    };
    Err(filter_error(format!(
        "'{path} {op_name} {value}': '{path}' is a {} attribute, so compare it with {expected}",
        type_name(ty)
    )))
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Where paths are looked up: the resource, or one value of a value path's attribute.
#[derive(Clone, Copy)]
enum Scope<'r, 's> {
    Resource(&'r Map<String, Value>),
    Element {
        outer: &'r ResolvedAttr<'s>,
        value: &'r Value,
    },
}

pub(super) fn matches(filter: &Filter, resource: &Map<String, Value>, schema: &ResourceSchema<'_>) -> bool {
    eval(filter, schema, Scope::Resource(resource))
}

pub(super) fn matches_value(
    filter: &Filter,
    schema: &ResourceSchema<'_>,
    attr: &ResolvedAttr<'_>,
    value: &Value,
) -> bool {
    attr.sub.is_none() && eval(filter, schema, Scope::Element { outer: attr, value })
}

fn eval(filter: &Filter, schema: &ResourceSchema<'_>, scope: Scope<'_, '_>) -> bool {
    match filter {
        Filter::And(l, r) => eval(l, schema, scope) && eval(r, schema, scope),
        Filter::Or(l, r) => eval(l, schema, scope) || eval(r, schema, scope),
        Filter::Not(inner) => !eval(inner, schema, scope),
        Filter::Present(path) => match leaves(schema, scope, path) {
            Some((_, values)) => values.iter().any(|v| is_present(v)),
            None => false,
        },
        Filter::Compare { path, op, value } => match leaves(schema, scope, path) {
            Some((def, values)) => compare_all(def, &values, *op, value),
            None => false,
        },
        Filter::ValuePath { attr, filter } => {
            // Value paths do not nest (RFC 7644 §3.4.2.2 valFilter); a hand-built one never matches.
            let Scope::Resource(resource) = scope else {
                return false;
            };
            let Ok(outer) = schema.resolve(attr) else {
                return false;
            };
            if outer.sub.is_some() {
                return false;
            }
            let Some(value) = attribute_value(resource, &outer) else {
                return false;
            };
            elements(value).any(|element| {
                eval(
                    filter,
                    schema,
                    Scope::Element {
                        outer: &outer,
                        value: element,
                    },
                )
            })
        }
    }
}

/// `map[name]`, falling back to a case-insensitive search for resources not quite canonical.
fn get_ci<'r>(map: &'r Map<String, Value>, name: &str) -> Option<&'r Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// The values of a multi-valued attribute, or the single value of a single-valued one.
fn elements(value: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match value {
        Value::Array(items) => Box::new(items.iter()),
        other => Box::new(std::iter::once(other)),
    }
}

/// The value of a resolved top-level attribute: extension attributes sit in the object keyed
/// by their schema URN (RFC 7643 §3.3).
fn attribute_value<'r>(resource: &'r Map<String, Value>, r: &ResolvedAttr<'_>) -> Option<&'r Value> {
    let container = match r.extension {
        None => resource,
        Some(urn) => get_ci(resource, urn)?.as_object()?,
    };
    get_ci(container, &r.attr.name)
}

/// The definition a path names and every value it reaches (flattening multi-valued attributes:
/// `emails.value` gives the `value` of every email). `None` when the path does not resolve.
fn leaves<'r, 's>(
    schema: &ResourceSchema<'s>,
    scope: Scope<'r, 's>,
    path: &AttrPath,
) -> Option<(&'s AttributeDef, Vec<&'r Value>)> {
    let mut out = Vec::new();
    match scope {
        Scope::Resource(resource) => {
            let r = schema.resolve(path).ok()?;
            if let Some(value) = attribute_value(resource, &r) {
                match r.sub {
                    None => out.extend(elements(value)),
                    Some(sub) => {
                        for element in elements(value) {
                            if let Some(v) = element.as_object().and_then(|o| get_ci(o, &sub.name)) {
                                out.extend(elements(v));
                            }
                        }
                    }
                }
            }
            Some((r.target(), out))
        }
        Scope::Element { outer, value } => match resolve_inner(schema, outer, path)? {
            Inner::Sub(sub) => {
                if let Some(v) = value.as_object().and_then(|o| get_ci(o, &sub.name)) {
                    out.extend(elements(v));
                }
                Some((sub, out))
            }
            Inner::Element(def) => {
                out.push(value);
                Some((def, out))
            }
        },
    }
}

/// RFC 7644 §3.4.2.2 `pr`: "If the attribute has a non-empty value, or if it contains a
/// non-empty node for complex attributes, there is a match."
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(map) => map.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare_all(def: &AttributeDef, values: &[&Value], op: CompareOp, operand: &CompValue) -> bool {
    if def.is_complex() {
        // Complex attributes with a `value` sub-attribute compare it (`emails eq "x"`).
        let Some(value_def) = def.sub_attribute("value") else {
            return false;
        };
        let inner: Vec<&Value> = values
            .iter()
            .filter_map(|v| v.as_object().and_then(|o| get_ci(o, &value_def.name)))
            .flat_map(elements)
            .collect();
        // `value` is never complex (RFC 7643 §2.4: complex attributes do not nest), so this
        // recursion is one level deep at most.
        return !value_def.is_complex() && compare_all(value_def, &inner, op, operand);
    }
    match (op, operand) {
        // `ne` is `not eq` (the common reading of RFC 7644 §3.4.2.2): an absent attribute
        // matches it, and a multi-valued one matches when no value is equal.
        (CompareOp::Ne, _) => !compare_all(def, values, CompareOp::Eq, operand),
        (CompareOp::Eq, CompValue::Null) => !values.iter().any(|v| is_present(v)),
        (_, CompValue::Null) => false,
        _ => values.iter().any(|v| compare_one(def, v, op, operand)),
    }
}

fn compare_one(def: &AttributeDef, stored: &Value, op: CompareOp, operand: &CompValue) -> bool {
    match def.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            let (Value::String(a), CompValue::String(b)) = (stored, operand) else {
                return false;
            };
            // RFC 7643 §2.3.6/§2.3.7: binary and reference values are case-exact.
            let exact = def.case_exact || def.ty != AttrType::String;
            compare_strings(a, b, op, exact)
        }
        AttrType::Boolean => match (stored_as_bool(stored), value_as_bool(operand)) {
            (Some(a), Some(b)) => op == CompareOp::Eq && a == b,
            _ => false,
        },
        AttrType::Integer | AttrType::Decimal => match (stored_as_number(stored), value_as_number(operand)) {
            (Some(a), Some(b)) => ordering_matches(op, compare_numbers(&a, &b)),
            _ => false,
        },
        AttrType::DateTime => {
            let (Value::String(a), CompValue::String(b)) = (stored, operand) else {
                return false;
            };
            if op.is_substring() {
                return compare_strings(a, b, op, true);
            }
            match (parse_datetime(a), parse_datetime(b)) {
                (Some(x), Some(y)) => ordering_matches(op, Some(x.cmp(&y))),
                _ => op == CompareOp::Eq && a == b,
            }
        }
        AttrType::Complex => false,
    }
}

fn ordering_matches(op: CompareOp, ord: Option<Ordering>) -> bool {
    let Some(ord) = ord else { return false };
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Strings compare in Unicode NFC ([`crate::text`]): `userName eq "jose\u0301"` finds "josé",
/// as the stores' indexes do.
fn compare_strings(a: &str, b: &str, op: CompareOp, case_exact: bool) -> bool {
    let (a, b) = (nfc(a), nfc(b));
    let (a, b) = (a.as_ref(), b.as_ref());
    if case_exact {
        return string_op(a, b, op);
    }
    if a.is_ascii() && b.is_ascii() && op == CompareOp::Eq {
        return a.eq_ignore_ascii_case(b);
    }
    string_op(&a.to_lowercase(), &b.to_lowercase(), op)
}

/// RFC 7644 §3.4.2.2: ordering of strings is lexicographic.
fn string_op(a: &str, b: &str, op: CompareOp) -> bool {
    match op {
        CompareOp::Co => a.contains(b),
        CompareOp::Sw => a.starts_with(b),
        CompareOp::Ew => a.ends_with(b),
        _ => ordering_matches(op, Some(a.cmp(b))),
    }
}

fn parse_bool_str(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Entra sends booleans as the strings `"True"`/`"false"`.
fn value_as_bool(v: &CompValue) -> Option<bool> {
    match v {
        CompValue::Bool(b) => Some(*b),
        CompValue::String(s) => parse_bool_str(s),
        _ => None,
    }
}

fn stored_as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_bool_str(s),
        _ => None,
    }
}

fn value_as_number(v: &CompValue) -> Option<serde_json::Number> {
    match v {
        CompValue::Number(n) => Some(n.clone()),
        CompValue::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn stored_as_number(v: &Value) -> Option<serde_json::Number> {
    match v {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Integers compare exactly; anything else as `f64`.
fn compare_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// RFC 7643 §2.3.5: `dateTime` is an xsd:dateTime. RFC 3339 form (`Z` or an offset, optional
/// fractional seconds); a value without an offset is taken as UTC.
pub(super) fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let local = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(s, &local)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

// ---------------------------------------------------------------------------------------------
// Index lookups

pub(super) fn equality_lookups(filter: &Filter, schema: &ResourceSchema<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // An explicit stack: `and` chains can be long, and this walks only `and` nodes.
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(l, r) => {
                stack.push(r);
                stack.push(l);
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value: CompValue::String(v),
            } => {
                let Ok(r) = schema.resolve(path) else {
                    continue;
                };
                let target = r.target();
                let (canonical, def) = if target.is_complex() {
                    match target.sub_attribute("value") {
                        Some(value_def) if r.sub.is_none() => {
                            (format!("{}.{}", r.canonical(), value_def.name), value_def)
                        }
                        _ => continue,
                    }
                } else {
                    (r.canonical(), target)
                };
                if matches!(def.ty, AttrType::String | AttrType::Reference | AttrType::Binary) {
                    out.push((canonical, v.clone()));
                }
            }
            _ => {}
        }
    }
    out
}
