//! Parsing a `PatchOp` message body (RFC 7644 §3.5.2).

use super::{PatchLimits, PatchOpKind, PatchOperation, PatchRequest, PATCH_OP_SCHEMA};
use crate::error::{Result, ScimError, ScimType};
use crate::filter::{Filter, PatchPath};
use crate::hint;
use crate::path::AttrPath;
use crate::schema::ResourceSchema;
use serde_json::{Map, Value};

/// The value of the first key equal to `name` ignoring ASCII case. IdPs vary the case of message
/// keys (`Operations`, `operations`), and JSON key order carries no meaning (RFC 8259 §4), so
/// Entra's `Operations` before `schemas` is fine.
fn get_ci<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

impl PatchRequest {
    /// The top-level attributes the operations name, as (extension URN, name): each path's
    /// attribute, and each attribute of a pathless value (plain, URN-qualified as Entra sends
    /// them, or inside an extension object keyed by its URN). Names the schema does not know
    /// are left out; the engine refuses them anyway. For [`crate::Projection::for_write`].
    pub fn named_attributes(&self, schema: &ResourceSchema<'_>) -> Vec<(Option<String>, String)> {
        let resolved = |path: &AttrPath| {
            schema
                .resolve(path)
                .ok()
                .map(|r| (r.extension.map(str::to_string), r.attr.name.clone()))
        };
        let mut named = Vec::new();
        for op in &self.operations {
            match (&op.path, &op.value) {
                (Some(path), _) => named.extend(resolved(&path.attr)),
                (None, Some(Value::Object(values))) => {
                    for (k, v) in values {
                        match (schema.extension(k), v) {
                            (Some(ext), Value::Object(inner)) => named.extend(
                                inner
                                    .keys()
                                    .filter_map(|name| ext.attribute(name))
                                    .map(|a| (Some(ext.id.clone()), a.name.clone())),
                            ),
                            _ => named.extend(AttrPath::parse(k).ok().as_ref().and_then(resolved)),
                        }
                    }
                }
                _ => {}
            }
        }
        named
    }

    /// Parses a PATCH body (RFC 7644 §3.5.2).
    ///
    /// - The body must be a JSON object (400 `invalidSyntax`).
    /// - `schemas`, when present, must list [`PATCH_OP_SCHEMA`] (400 `invalidSyntax`); when absent
    ///   it is tolerated, as some clients omit it.
    /// - `Operations` (key matched case-insensitively) must be a non-empty array of objects, each
    ///   with an `op` of `add`, `remove` or `replace` in any case (Entra sends `Add`, `Replace`,
    ///   `Remove`). Unknown `op` → 400 `invalidSyntax`.
    /// - `path` is parsed with [`PatchPath::parse`] (400 `invalidPath`); an empty `path` counts as
    ///   absent.
    /// - RFC 7644 §3.5.2.1 and §3.5.2.3: `add` and `replace` MUST carry a `value`
    ///   (400 `invalidValue` otherwise); an explicit `null` counts as a value (RFC 7643 §2.5: it
    ///   unassigns).
    /// - More than `limits.max_operations` operations, or more than `limits.max_member_changes`
    ///   member entries, → 400 `tooMany` naming the limit.
    ///
    /// A message of the wrong shape (`invalidSyntax`, or an operation without its `value`) is
    /// the client's fault, whatever the IdP's mapping: its detail says so ([`hint::CLIENT_FAULT`]).
    pub fn from_json(body: &Value, limits: &PatchLimits) -> Result<PatchRequest> {
        Self::parse_message(body, limits).map_err(|e| match e.scim_type {
            Some(ScimType::InvalidSyntax | ScimType::InvalidValue) => e.with_hint(hint::CLIENT_FAULT),
            _ => e,
        })
    }

    fn parse_message(body: &Value, limits: &PatchLimits) -> Result<PatchRequest> {
        let obj = body.as_object().ok_or_else(|| {
            ScimError::invalid_syntax("a PATCH body must be a JSON object (RFC 7644 §3.5.2)")
        })?;
        if let Some(schemas) = get_ci(obj, "schemas") {
            let has_patch_op = match schemas {
                Value::Array(items) => items.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP_SCHEMA))
                }),
                Value::String(s) => s.eq_ignore_ascii_case(PATCH_OP_SCHEMA),
                _ => false,
            };
            if !has_patch_op {
                return Err(ScimError::invalid_syntax(format!(
                    "'schemas' must contain \"{PATCH_OP_SCHEMA}\" (RFC 7644 §3.5.2)"
                )));
            }
        }
        let ops = match get_ci(obj, "Operations") {
            Some(Value::Array(ops)) => ops,
            Some(_) => {
                return Err(ScimError::invalid_syntax(
                    "'Operations' must be an array (RFC 7644 §3.5.2)",
                ))
            }
            None => {
                return Err(ScimError::invalid_syntax(
                    "a PATCH body needs 'Operations' (RFC 7644 §3.5.2)",
                ))
            }
        };
        if ops.is_empty() {
            return Err(ScimError::invalid_syntax(
                "'Operations' must hold at least one operation (RFC 7644 §3.5.2)",
            ));
        }
        if ops.len() > limits.max_operations {
            return Err(ScimError::too_many(format!(
                "a PATCH request may hold at most {} operations; this one has {}",
                limits.max_operations,
                ops.len()
            )));
        }
        let mut operations = Vec::with_capacity(ops.len());
        let mut member_changes = 0usize;
        for (i, op) in ops.iter().enumerate() {
            let op = parse_operation(i, op)?;
            member_changes = member_changes.saturating_add(member_change_count(&op));
            if member_changes > limits.max_member_changes {
                return Err(ScimError::too_many(format!(
                    "a PATCH request may add or remove at most {} members",
                    limits.max_member_changes
                )));
            }
            operations.push(op);
        }
        Ok(PatchRequest { operations })
    }
}

fn parse_operation(index: usize, op: &Value) -> Result<PatchOperation> {
    let obj = op
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{index}] must be an object")))?;
    let kind = match get_ci(obj, "op") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("add") => PatchOpKind::Add,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("remove") => PatchOpKind::Remove,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("replace") => PatchOpKind::Replace,
        Some(Value::String(s)) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}]: unknown op '{s}'; expected add, remove or replace \
                 (RFC 7644 §3.5.2)"
            )))
        }
        Some(_) => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}]: 'op' must be a string"
            )))
        }
        None => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{index}] has no 'op'"
            )))
        }
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(PatchPath::parse(s.trim())?),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "Operations[{index}]: 'path' must be a string"
            )))
        }
    };
    // RFC 7643 §2.5: `null` is equivalent to unassigned. An explicit `null` is kept for `add` and
    // `replace` (a replace with `null` unassigns the target) and dropped for `remove`.
    let value = match get_ci(obj, "value") {
        None => None,
        Some(Value::Null) if kind == PatchOpKind::Remove => None,
        Some(v) => Some(v.clone()),
    };
    if value.is_none() && kind != PatchOpKind::Remove {
        return Err(ScimError::invalid_value(format!(
            "Operations[{index}]: '{}' needs a 'value' (RFC 7644 §3.5.2.1, §3.5.2.3)",
            kind.as_str()
        )));
    }
    Ok(PatchOperation {
        op: kind,
        path,
        value,
    })
}

/// How many member entries an operation carries, for [`PatchLimits::max_member_changes`]. Counted
/// on the message, before any schema is known: any `members` path (with or without the Group
/// schema URN) and any `members` key of a pathless value object.
fn member_change_count(op: &PatchOperation) -> usize {
    fn entries(v: Option<&Value>) -> usize {
        match v {
            Some(Value::Array(a)) => a.len(),
            Some(Value::Null) | None => 0,
            Some(_) => 1,
        }
    }
    match &op.path {
        Some(p) if p.attr.attr.eq_ignore_ascii_case("members") => {
            entries(op.value.as_ref()) + p.filter.as_ref().map_or(0, count_or_leaves)
        }
        Some(_) => 0,
        None => match &op.value {
            Some(Value::Object(o)) => entries(get_ci(o, "members")),
            _ => 0,
        },
    }
}

fn count_or_leaves(f: &Filter) -> usize {
    match f {
        Filter::Or(a, b) => count_or_leaves(a).saturating_add(count_or_leaves(b)),
        _ => 1,
    }
}
