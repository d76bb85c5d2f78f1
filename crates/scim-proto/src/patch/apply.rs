//! Applying `add`, `remove` and `replace` (RFC 7644 §3.5.2.1–§3.5.2.3) to a canonical resource.

use super::members::{filter_ids, parse_members, MemberDeltaBuilder};
use super::{PatchOpKind, PatchOperation, PatchOptions, PatchOutcome, PatchRequest};
use crate::distinct::DistinctValues;
use crate::error::{Result, ScimError};
use crate::filter::{CompValue, CompareOp, Filter, PatchPath};
use crate::hint;
use crate::path::AttrPath;
use crate::resource::{
    check_identifiers, check_required, normalize_attribute, normalize_unsealed, seal_write_only,
};
use crate::schema::{AttributeDef, Mutability, ResolvedAttr, ResourceSchema};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Applies a PATCH request to `resource` (canonical form, RFC 7644 §3.5.2).
///
/// RFC 7644 §3.5.2: operations "are applied sequentially in the order they appear in the
/// array", and "a PATCH request, regardless of the number of operations, SHALL be treated as
/// atomic": the operations run in order on a copy, and `resource` is written only when all of
/// them succeed, the immutable attributes are unchanged (RFC 7643 §2.2) and the required
/// attributes are still present ([`check_required`]). On error `resource` is untouched.
///
/// Attributes named in [`PatchOptions::detached`] (a Group's `members`) are never written into
/// `resource`; their changes come back in [`PatchOutcome::members`].
pub fn apply_patch(
    resource: &mut Map<String, Value>,
    request: &PatchRequest,
    schema: &ResourceSchema<'_>,
    opts: &PatchOptions,
) -> Result<PatchOutcome> {
    let mut work = resource.clone();
    let mut engine = Engine {
        schema,
        opts,
        members: MemberDeltaBuilder::default(),
        detached_touched: BTreeSet::new(),
        unsealed: BTreeSet::new(),
    };
    for (i, op) in request.operations.iter().enumerate() {
        engine.apply_op(&mut work, op).map_err(|mut e| {
            e.detail = format!("Operations[{i}] ({}): {}", op.op.as_str(), e.detail);
            e
        })?;
    }
    engine.seal_write_only(&mut work)?;
    prune_map(&mut work);
    check_immutable(resource, &work, schema)?;
    check_required(&work, schema)?;

    let mut changed_attributes = changed_attributes(resource, &work, schema);
    check_identifiers(&work, schema, Some(&changed_attributes))?;
    if !engine.members.is_empty() {
        changed_attributes.extend(engine.detached_touched);
    }
    let outcome = PatchOutcome {
        modified: !changed_attributes.is_empty(),
        changed_attributes,
        members: engine.members.finish(),
    };
    if work != *resource {
        *resource = work;
    }
    Ok(outcome)
}

struct Engine<'c, 'a> {
    schema: &'c ResourceSchema<'a>,
    opts: &'c PatchOptions,
    members: MemberDeltaBuilder,
    detached_touched: BTreeSet<String>,
    /// `writeOnly` attributes (`password`) written in plain by the operations so far: hashed
    /// once, after the last operation ([`Engine::seal_write_only`]).
    unsealed: BTreeSet<(Option<String>, String)>,
}

/// What one operation (or one key of a pathless value object) addresses.
struct Target<'a> {
    /// The extension URN the attribute lives under (RFC 7643 §3.3), `None` for core and common.
    ext: Option<&'a str>,
    attr: &'a AttributeDef,
    /// The sub-attribute: `name.givenName`, or `emails[type eq "work"].value`.
    sub: Option<&'a AttributeDef>,
    /// The value filter (paths relative to `attr`).
    filter: Option<&'a Filter>,
}

impl<'a> Target<'a> {
    /// The attribute itself, as the filter module evaluates value filters against it.
    fn resolved(&self) -> ResolvedAttr<'a> {
        ResolvedAttr {
            extension: self.ext,
            attr: self.attr,
            sub: None,
        }
    }
}

impl<'a> Engine<'_, 'a> {
    fn apply_op(&mut self, work: &mut Map<String, Value>, op: &PatchOperation) -> Result<()> {
        let value = op.value.as_ref();
        match &op.path {
            // RFC 7644 §3.5.2.2: "If "path" is unspecified, the operation fails with HTTP status
            // code 400 and a "scimType" error code of "noTarget"."
            None if op.op == PatchOpKind::Remove => Err(ScimError::no_target(
                "'remove' needs a 'path' (RFC 7644 §3.5.2.2)",
            )
            .with_hint(hint::CLIENT_FAULT)),
            // RFC 7644 §3.5.2.1 / §3.5.2.3: without a path the value is an object of the
            // attributes to add or replace.
            None => match value {
                Some(Value::Object(obj)) => self.apply_object(work, op.op, None, obj),
                _ => Err(ScimError::invalid_value(format!(
                    "'{}' without a 'path' needs an object 'value' (RFC 7644 §3.5.2.1, §3.5.2.3)",
                    op.op.as_str()
                ))
                .with_hint(hint::CLIENT_FAULT)),
            },
            Some(path) => self.apply_path(work, op.op, path, value),
        }
    }

    /// A pathless value object (RFC 7644 §3.5.2.1: with "path" omitted the target is the
    /// resource itself and the value holds the attributes to add; §3.5.2.3 likewise for
    /// replace). Keys may be plain (`active`), dotted (`name.givenName`), URN-qualified
    /// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`) or a schema
    /// URN whose value is an object of that schema's attributes (Entra; docs/idp-compatibility.md,
    /// "PATCH without a path (Entra)").
    ///
    /// Unknown keys and `null` values are ignored, and so are read-only attributes (`id`, `meta`,
    /// `groups`): Okta renames a group with a value object carrying the group's own `id`
    /// (RFC 7643 §2.2 readOnly: values provided are ignored). `urn` is the schema of an
    /// enclosing URN object key.
    fn apply_object(
        &mut self,
        work: &mut Map<String, Value>,
        kind: PatchOpKind,
        urn: Option<&str>,
        obj: &Map<String, Value>,
    ) -> Result<()> {
        for (key, value) in obj {
            // A null-valued key is treated as absent: the attribute is left unchanged
            // (docs/idp-compatibility.md, "PATCH without a path (Okta)").
            if value.is_null() {
                continue;
            }
            if let Some(schema_urn) = self.schema_urn(key) {
                match value {
                    Value::Object(inner) => self.apply_object(work, kind, Some(schema_urn), inner)?,
                    _ => {
                        return Err(ScimError::invalid_value(format!(
                            "'{key}' names a schema: its value must be an object of its attributes"
                        )))
                    }
                }
                continue;
            }
            let Ok(mut path) = AttrPath::parse(key) else {
                continue;
            };
            if path.urn.is_none() {
                path.urn = urn.map(str::to_string);
            }
            let Ok(resolved) = self.schema.resolve(&path) else {
                continue;
            };
            if is_read_only(resolved.attr) || resolved.sub.is_some_and(is_read_only) {
                continue;
            }
            if self.is_detached(&resolved) {
                if resolved.sub.is_none() {
                    self.member_op(kind, resolved.attr, None, Some(value))?;
                }
                continue;
            }
            let target = Target {
                ext: resolved.extension,
                attr: resolved.attr,
                sub: resolved.sub,
                filter: None,
            };
            self.write(work, kind, &target, value)?;
        }
        Ok(())
    }

    fn apply_path(
        &mut self,
        work: &mut Map<String, Value>,
        kind: PatchOpKind,
        path: &PatchPath,
        value: Option<&Value>,
    ) -> Result<()> {
        // A path that is exactly a schema URN addresses that schema's attributes as a whole: the
        // extension object of RFC 7643 §3.3.
        if path.filter.is_none()
            && path.sub_after_filter.is_none()
            && path.attr.sub.is_none()
            && path.attr.urn.is_some()
        {
            let whole = path.attr.to_string();
            if let Some(schema_urn) = self.schema_urn(&whole) {
                let is_core = schema_urn.eq_ignore_ascii_case(&self.schema.core.id);
                return match (kind, value) {
                    (PatchOpKind::Remove, _) if is_core => Err(ScimError::invalid_path(format!(
                        "'{whole}' is the core schema; remove its attributes one by one"
                    ))),
                    (PatchOpKind::Remove, _) => {
                        work.retain(|k, _| !k.eq_ignore_ascii_case(schema_urn));
                        Ok(())
                    }
                    (_, Some(Value::Object(obj))) => self.apply_object(work, kind, Some(schema_urn), obj),
                    (PatchOpKind::Replace, Some(Value::Null)) if !is_core => {
                        work.retain(|k, _| !k.eq_ignore_ascii_case(schema_urn));
                        Ok(())
                    }
                    _ => Err(ScimError::invalid_value(format!(
                        "'{whole}' names a schema: the value must be an object of its attributes"
                    ))),
                };
            }
        }

        let unknown = |e: ScimError| e.with_hint(hint::unknown_attribute(&self.schema.resource_type.name));
        let resolved = self.schema.resolve(&path.attr).map_err(unknown)?;
        let sub = match (resolved.sub, &path.sub_after_filter) {
            (s, None) => s,
            (None, Some(name)) => Some(resolved.attr.sub_attribute(name).ok_or_else(|| {
                unknown(ScimError::invalid_path(format!(
                    "'{}' has no sub-attribute '{name}'",
                    resolved.attr.name
                )))
            })?),
            (Some(_), Some(_)) => {
                return Err(ScimError::invalid_path(format!(
                    "'{}' names two sub-attributes",
                    resolved.canonical()
                )))
            }
        };
        if let Some(filter) = &path.filter {
            if resolved.sub.is_some() || !resolved.attr.is_complex() {
                return Err(ScimError::invalid_path(format!(
                    "a value filter applies to a complex attribute, not to '{}' (RFC 7644 §3.5.2)",
                    resolved.canonical()
                )));
            }
            if self.is_detached(&resolved) {
                if sub.is_some() {
                    return Err(member_sub_error(resolved.attr));
                }
                return self.member_op(kind, resolved.attr, Some(filter), value);
            }
        }
        if self.is_detached(&resolved) {
            if sub.is_some() {
                return Err(member_sub_error(resolved.attr));
            }
            return self.member_op(kind, resolved.attr, None, value);
        }
        // RFC 7643 §2.2: a readOnly attribute "SHALL NOT be modified"; RFC 7644 §3.5.2 answers
        // an attempt with 400 mutability.
        if let Some(ro) = [Some(resolved.attr), sub]
            .into_iter()
            .flatten()
            .find(|d| is_read_only(d))
        {
            return Err(ScimError::mutability(format!(
                "'{}' is read-only (RFC 7643 §2.2); {}",
                ro.name,
                hint::read_only(&ro.name)
            )));
        }
        let target = Target {
            ext: resolved.extension,
            attr: resolved.attr,
            sub,
            filter: path.filter.as_ref(),
        };
        if let Some(f) = target.filter {
            f.validate_value_filter(self.schema, &target.resolved())?;
        }
        match kind {
            PatchOpKind::Remove => with_container(work, target.ext, |c| self.remove(c, &target, value)),
            _ => {
                let value = value.unwrap_or(&Value::Null);
                self.write(work, kind, &target, value)
            }
        }
    }

    /// `add` (RFC 7644 §3.5.2.1) and `replace` (RFC 7644 §3.5.2.3) of one target.
    fn write(
        &mut self,
        work: &mut Map<String, Value>,
        kind: PatchOpKind,
        t: &Target<'_>,
        value: &Value,
    ) -> Result<()> {
        if t.filter.is_none() && t.sub.is_none() && t.attr.mutability == Mutability::WriteOnly {
            self.unsealed
                .insert((t.ext.map(str::to_string), t.attr.name.clone()));
        }
        with_container(work, t.ext, |c| match (&t.filter, t.sub) {
            (None, None) => self.write_attr(c, kind, t.attr, value),
            (None, Some(sub)) => self.write_sub_unfiltered(c, t.attr, sub, value),
            (Some(_), _) => self.write_filtered(c, kind, t, value),
        })
    }

    /// `attr` with no filter and no sub-attribute.
    fn write_attr(
        &self,
        c: &mut Map<String, Value>,
        kind: PatchOpKind,
        def: &AttributeDef,
        value: &Value,
    ) -> Result<()> {
        let name = def.name.as_str();
        // A `writeOnly` value stays plain until every operation has run (`seal_write_only`).
        let new = normalize_unsealed(def, value, &self.opts.normalize)?.filter(|v| !is_empty(v));
        if def.multi_valued {
            match (kind, new) {
                // RFC 7644 §3.5.2.3: "If the target location is a multi-valued attribute and no
                // filter is specified, the attribute and all values are replaced."
                (PatchOpKind::Replace, new) => set_or_remove(c, name, new),
                // RFC 7644 §3.5.2.1: "If the target location specifies a multi-valued attribute,
                // a new value is added to the attribute." Exact duplicates are not added twice.
                (_, Some(Value::Array(items))) => {
                    let mut values = DistinctValues::from_existing(take_array(c, name));
                    let touched: Vec<usize> = items.into_iter().map(|item| values.insert(item)).collect();
                    self.opts.normalize.limits.check(def, values.len())?;
                    let mut arr = values.into_values();
                    single_primary(&mut arr, &touched);
                    c.insert(name.to_string(), Value::Array(arr));
                }
                (_, Some(other)) => return Err(normalize_shape_error(def, &other)),
                (_, None) => {}
            }
            return Ok(());
        }
        match new {
            // RFC 7644 §3.5.2.1 / §3.5.2.3: for a complex attribute the value is a set of
            // sub-attributes; "Sub-attributes that are not specified in the value parameter are
            // left unchanged."
            Some(Value::Object(subs)) if def.is_complex() => {
                let mut obj = match c.get_mut(name).map(Value::take) {
                    Some(Value::Object(o)) => o,
                    _ => Map::new(),
                };
                for (k, v) in subs {
                    obj.insert(k, v);
                }
                c.insert(name.to_string(), Value::Object(obj));
            }
            Some(v) => {
                c.insert(name.to_string(), v);
            }
            // RFC 7643 §2.5: null is unassigned; an `add` of nothing changes nothing.
            None if kind == PatchOpKind::Replace => {
                c.remove(name);
            }
            None => {}
        }
        Ok(())
    }

    /// `attr.sub` with no filter: the sub-attribute of a single-valued complex attribute, or of
    /// every value of a multi-valued one (created when there is none yet).
    fn write_sub_unfiltered(
        &self,
        c: &mut Map<String, Value>,
        attr: &AttributeDef,
        sub: &AttributeDef,
        value: &Value,
    ) -> Result<()> {
        let v = self.normalize(sub, value)?;
        let name = attr.name.as_str();
        if attr.multi_valued {
            let mut arr = take_array(c, name);
            if arr.is_empty() {
                if let Some(v) = v {
                    let mut e = Map::new();
                    e.insert(sub.name.clone(), v);
                    arr.push(Value::Object(e));
                }
            } else {
                for e in arr.iter_mut() {
                    set_sub(e, &sub.name, v.clone());
                }
            }
            let touched: Vec<usize> = (0..arr.len()).collect();
            single_primary(&mut arr, &touched);
            c.insert(name.to_string(), Value::Array(arr));
        } else {
            let mut obj = match c.get_mut(name).map(Value::take) {
                Some(o @ Value::Object(_)) => o,
                _ => Value::Object(Map::new()),
            };
            set_sub(&mut obj, &sub.name, v);
            c.insert(name.to_string(), obj);
        }
        Ok(())
    }

    /// `attr[filter]` and `attr[filter].sub`.
    ///
    /// RFC 7644 §3.5.2.3: the values matched by the filter are replaced (or, with a
    /// sub-attribute, their sub-attribute is). When no value matches, the RFC answers 400
    /// `noTarget`; but IdPs set a typed value that does not exist yet with exactly this form
    /// (Entra `emails[type eq "work"].value`; docs/idp-compatibility.md, "Value-filter paths that
    /// create the value"), so when the filter is made only of `eq` comparisons joined by `and`, a
    /// value carrying those attributes is created instead.
    /// A filter on a single-valued complex attribute (`manager[value eq "x"]`) applies when the
    /// attribute matches.
    fn write_filtered(
        &self,
        c: &mut Map<String, Value>,
        kind: PatchOpKind,
        t: &Target<'a>,
        value: &Value,
    ) -> Result<()> {
        let name = t.attr.name.as_str();
        if t.attr.multi_valued {
            let mut arr = take_array(c, name);
            let matched: Vec<usize> = (0..arr.len())
                .filter(|&i| arr.get(i).is_some_and(|e| self.element_matches(t, e)))
                .collect();
            let touched = if matched.is_empty() {
                let seed = self.seed(t)?;
                arr.push(self.write_element(seed, PatchOpKind::Add, t, value)?);
                vec![arr.len() - 1]
            } else {
                for &i in &matched {
                    if let Some(e) = arr.get_mut(i) {
                        *e = self.write_element(e.take(), kind, t, value)?;
                    }
                }
                matched
            };
            single_primary(&mut arr, &touched);
            c.insert(name.to_string(), Value::Array(arr));
        } else {
            let current = c.get_mut(name).map(Value::take).filter(|v| !v.is_null());
            let updated = match current {
                Some(e) if self.element_matches(t, &e) => self.write_element(e, kind, t, value)?,
                Some(e) => {
                    c.insert(name.to_string(), e);
                    return Err(no_match(t));
                }
                None => {
                    let seed = self.seed(t)?;
                    self.write_element(seed, PatchOpKind::Add, t, value)?
                }
            };
            c.insert(name.to_string(), updated);
        }
        Ok(())
    }

    /// Applies the value to one matched (or newly created) value of a complex attribute.
    fn write_element(
        &self,
        element: Value,
        kind: PatchOpKind,
        t: &Target<'a>,
        value: &Value,
    ) -> Result<Value> {
        let mut element = element;
        if let Some(sub) = t.sub {
            let v = self.normalize(sub, value)?;
            set_sub(&mut element, &sub.name, v);
            return Ok(element);
        }
        let single = element_def(t.attr);
        match self.normalize(&single, value)? {
            Some(Value::Object(subs)) => {
                // `replace` replaces the matched value; `add` (and creation) merges into it.
                let mut obj = match element {
                    Value::Object(o) if kind != PatchOpKind::Replace => o,
                    _ => Map::new(),
                };
                for (k, v) in subs {
                    obj.insert(k, v);
                }
                Ok(Value::Object(obj))
            }
            Some(other) => Err(normalize_shape_error(t.attr, &other)),
            None if kind == PatchOpKind::Replace => Ok(Value::Null),
            None => Ok(element),
        }
    }

    /// The value to create when a filtered `add`/`replace` matches nothing: the attributes of an
    /// `eq`-only conjunction (`type eq "work"`), or 400 `noTarget` (RFC 7644 §3.5.2.3).
    fn seed(&self, t: &Target<'a>) -> Result<Value> {
        let Some(inner) = t.filter else {
            return Err(no_match(t));
        };
        let mut seed = Map::new();
        if !self.collect_eq(inner, t.attr, &mut seed)? {
            return Err(no_match(t));
        }
        Ok(Value::Object(seed))
    }

    fn collect_eq(&self, f: &Filter, attr: &AttributeDef, seed: &mut Map<String, Value>) -> Result<bool> {
        match f {
            Filter::And(a, b) => Ok(self.collect_eq(a, attr, seed)? && self.collect_eq(b, attr, seed)?),
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.sub.is_none() => {
                let Some(sub) = attr.sub_attribute(&path.attr) else {
                    return Ok(false);
                };
                let raw = match value {
                    CompValue::Null => return Ok(false),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::String(s) => Value::String(s.clone()),
                };
                let Some(v) = self.normalize(sub, &raw)? else {
                    return Ok(false);
                };
                match seed.get(&sub.name) {
                    Some(existing) if existing != &v => Ok(false),
                    _ => {
                        seed.insert(sub.name.clone(), v);
                        Ok(true)
                    }
                }
            }
            _ => Ok(false),
        }
    }

    /// `remove` (RFC 7644 §3.5.2.2) of one target inside its container.
    fn remove(&self, c: &mut Map<String, Value>, t: &Target<'a>, value: Option<&Value>) -> Result<()> {
        let name = t.attr.name.as_str();
        match (&t.filter, t.sub, value) {
            // Entra removes values of a multi-valued attribute with the attribute as the path and
            // the values to remove as the value (docs/idp-compatibility.md, "Member removal with a
            // value list"): only the listed values go, never the whole attribute.
            (None, None, Some(listed)) if t.attr.multi_valued => {
                let mut listed = ListedValues::new(t.attr, self.listed(t.attr, listed)?);
                let mut arr = take_array(c, name);
                arr.retain(|e| !listed.designates(e));
                c.insert(name.to_string(), Value::Array(arr));
            }
            // The same on a single-valued complex attribute (`manager` with `[{"value": "<id>"}]`):
            // removed when it is the listed value.
            (None, None, Some(listed)) if t.attr.is_complex() => {
                let mut listed = ListedValues::new(t.attr, self.listed(t.attr, listed)?);
                let matches = c.get(name).is_some_and(|e| listed.designates(e));
                if matches {
                    c.remove(name);
                }
            }
            // RFC 7644 §3.5.2.2: "If the target location is a single-value attribute, the
            // attribute and its associated value is removed"; a multi-valued attribute with no
            // filter loses all its values.
            (None, None, _) => {
                c.remove(name);
            }
            // `attr.sub`: the sub-attribute goes, from every value of a multi-valued attribute.
            (None, Some(sub), _) => match c.get_mut(name) {
                Some(Value::Array(arr)) => arr.iter_mut().for_each(|e| set_sub(e, &sub.name, None)),
                Some(e) => set_sub(e, &sub.name, None),
                None => {}
            },
            // RFC 7644 §3.5.2.2: "If the target location is a multi-valued attribute and a
            // complex filter is specified comparing a "value", the values matched by the filter
            // are removed." No match is not an error: the value is already absent.
            (Some(_), sub, _) => {
                if t.attr.multi_valued {
                    let mut arr = take_array(c, name);
                    match sub {
                        None => arr.retain(|e| !self.element_matches(t, e)),
                        Some(sub) => {
                            for e in arr.iter_mut() {
                                if self.element_matches(t, e) {
                                    set_sub(e, &sub.name, None);
                                }
                            }
                        }
                    }
                    c.insert(name.to_string(), Value::Array(arr));
                } else if c.get(name).is_some_and(|e| self.element_matches(t, e)) {
                    match sub {
                        None => {
                            c.remove(name);
                        }
                        Some(sub) => {
                            if let Some(e) = c.get_mut(name) {
                                set_sub(e, &sub.name, None);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The values listed in a `remove` of a whole attribute, normalized as single values.
    fn listed(&self, attr: &AttributeDef, value: &Value) -> Result<Vec<Value>> {
        let single = element_def(attr);
        let items: &[Value] = match value {
            Value::Array(a) => a,
            v => std::slice::from_ref(v),
        };
        let mut out = Vec::new();
        for item in items {
            if let Some(v) = self.normalize(&single, item)? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// A change to a detached attribute (a Group's `members`), recorded in the member delta.
    ///
    /// - `add members [...]` adds (RFC 7644 §3.5.2.1); `replace members [...]` replaces all
    ///   (RFC 7644 §3.5.2.3; Okta's push of an empty group sends `[]`).
    /// - `remove members` with no filter and no value removes all (RFC 7644 §3.5.2.2); with a
    ///   value list removes only the listed members (Entra; docs/idp-compatibility.md, "Member
    ///   removal with a value list").
    /// - `remove members[value eq "a" or value eq "b"]` removes those members;
    ///   `replace members[value eq "a"]` replaces member `a` with the value's members.
    /// - Any other filter is 400 `invalidFilter`: the engine never holds the member list, so it
    ///   cannot evaluate a filter on it.
    fn member_op(
        &mut self,
        kind: PatchOpKind,
        attr: &AttributeDef,
        filter: Option<&Filter>,
        value: Option<&Value>,
    ) -> Result<()> {
        self.detached_touched.insert(attr.name.clone());
        match (kind, filter) {
            (PatchOpKind::Add, None) => {
                for m in parse_members(value.unwrap_or(&Value::Null), attr)? {
                    self.members.push_add(m);
                }
            }
            (PatchOpKind::Replace, None) => {
                let new = parse_members(value.unwrap_or(&Value::Null), attr)?;
                self.members.replace(new);
            }
            (PatchOpKind::Remove, None) => match value {
                Some(v) => {
                    for m in parse_members(v, attr)? {
                        self.members.push_remove(m.value);
                    }
                }
                None => self.members.replace(Vec::new()),
            },
            (PatchOpKind::Remove, Some(f)) => {
                for id in filter_ids(f, &attr.name)? {
                    self.members.push_remove(id);
                }
            }
            (PatchOpKind::Replace, Some(f)) => {
                let ids = filter_ids(f, &attr.name)?;
                let new = parse_members(value.unwrap_or(&Value::Null), attr)?;
                for id in ids {
                    self.members.push_remove(id);
                }
                for m in new {
                    self.members.push_add(m);
                }
            }
            (PatchOpKind::Add, Some(_)) => {
                return Err(ScimError::invalid_path(format!(
                    "'add' takes '{}' without a filter: the members to add are in the value",
                    attr.name
                )))
            }
        }
        Ok(())
    }

    /// Hashes (or drops, per [`crate::resource::PasswordPolicy`]) the final value of each
    /// `writeOnly` attribute the operations wrote: one argon2id hash per attribute and request
    /// however many operations set it.
    fn seal_write_only(&self, work: &mut Map<String, Value>) -> Result<()> {
        for (ext, name) in &self.unsealed {
            with_container(work, ext.as_deref(), |c| {
                let Some(slot) = c.get_mut(name) else {
                    return Ok(());
                };
                // Dropped, it is left null for the pruning after the operations to remove.
                if let Some(sealed) = seal_write_only(Some(slot.take()), self.opts.normalize.password)? {
                    *slot = sealed;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    fn is_detached(&self, r: &ResolvedAttr<'_>) -> bool {
        r.extension.is_none()
            && self
                .opts
                .detached
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&r.attr.name))
    }

    /// The canonical URN when `s` names this resource type's core schema or one of its
    /// extensions.
    fn schema_urn(&self, s: &str) -> Option<&'a str> {
        let core: &'a str = self.schema.core.id.as_str();
        if core.eq_ignore_ascii_case(s) {
            return Some(core);
        }
        self.schema.extension(s).map(|e| e.id.as_str())
    }

    /// Does one value of the target's attribute match its filter? Evaluated by the filter
    /// module, so comparisons follow the attribute's type and `caseExact` (RFC 7644 §3.4.2.2).
    fn element_matches(&self, t: &Target<'_>, element: &Value) -> bool {
        match t.filter {
            None => true,
            Some(f) => f.matches_value(self.schema, &t.resolved(), element),
        }
    }

    /// Normalizes a value against a definition with [`normalize_attribute`], which also coerces
    /// the IdP dialects (string booleans, bare or one-element-array `manager`) and drops
    /// read-only sub-attributes (RFC 7643 §2.2).
    fn normalize(&self, def: &AttributeDef, value: &Value) -> Result<Option<Value>> {
        let v = normalize_attribute(def, value, &self.opts.normalize)?;
        Ok(v.filter(|v| !is_empty(v)))
    }
}

fn is_read_only(def: &AttributeDef) -> bool {
    def.mutability == Mutability::ReadOnly
}

fn member_sub_error(attr: &AttributeDef) -> ScimError {
    ScimError::invalid_path(format!(
        "'{}' sub-attributes cannot be patched: add or remove whole members",
        attr.name
    ))
}

fn no_match(t: &Target<'_>) -> ScimError {
    let filter = t.filter.map(ToString::to_string).unwrap_or_default();
    ScimError::no_target(format!(
        "no value of '{}' matches [{filter}] (RFC 7644 §3.5.2.3)",
        t.attr.name
    ))
}

fn normalize_shape_error(def: &AttributeDef, v: &Value) -> ScimError {
    let kind = match v {
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        _ => "a single value",
    };
    ScimError::invalid_value(format!("'{}' cannot take {kind} here", def.name))
}

/// The definition of one value of a multi-valued attribute.
fn element_def(def: &AttributeDef) -> AttributeDef {
    let mut single = def.clone();
    single.multi_valued = false;
    single
}

/// Runs `f` on the map holding the attribute: the resource itself, or the extension object keyed
/// by its URN (RFC 7643 §3.3), created when missing.
fn with_container<R>(
    work: &mut Map<String, Value>,
    ext: Option<&str>,
    f: impl FnOnce(&mut Map<String, Value>) -> Result<R>,
) -> Result<R> {
    let Some(urn) = ext else {
        return f(work);
    };
    let key = work
        .keys()
        .find(|k| k.eq_ignore_ascii_case(urn))
        .cloned()
        .unwrap_or_else(|| urn.to_string());
    let mut obj = match work.get_mut(&key).map(Value::take) {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    let r = f(&mut obj);
    work.insert(key, Value::Object(obj));
    r
}

/// The values of a multi-valued attribute, taken out of the map (a lone value is wrapped).
fn take_array(c: &mut Map<String, Value>, name: &str) -> Vec<Value> {
    match c.get_mut(name).map(Value::take) {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => Vec::new(),
        Some(v) => vec![v],
    }
}

fn set_or_remove(c: &mut Map<String, Value>, name: &str, v: Option<Value>) {
    match v {
        Some(v) => {
            c.insert(name.to_string(), v);
        }
        None => {
            c.remove(name);
        }
    }
}

/// Sets (or with `None` removes) a sub-attribute of a complex value.
fn set_sub(e: &mut Value, sub: &str, v: Option<Value>) {
    if !e.is_object() {
        *e = Value::Object(Map::new());
    }
    if let Value::Object(o) = e {
        set_or_remove(o, sub, v);
    }
}

/// RFC 7643 §2.4: "The primary attribute value 'true' MUST appear no more than once." When a
/// value just written (`touched`) is primary, every other value stops being primary.
fn single_primary(arr: &mut [Value], touched: &[usize]) {
    let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
    let Some(winner) = touched
        .iter()
        .rev()
        .copied()
        .find(|&i| arr.get(i).is_some_and(is_primary))
    else {
        return;
    };
    for (i, e) in arr.iter_mut().enumerate() {
        if i != winner && is_primary(e) {
            if let Value::Object(o) = e {
                o.remove("primary");
            }
        }
    }
}

/// The values listed in a `remove`, indexed so that each stored value is checked in constant
/// time. Complex values with a `value` sub-attribute designate the stored values with an equal
/// `value` (case-insensitively unless `caseExact`); other complex values designate those whose
/// sub-attributes include every listed one (a scan, bounded by [`ValueLimits`] on both sides:
/// addresses have no `value` to index); simple values compare whole.
///
/// [`ValueLimits`]: crate::resource::ValueLimits
struct ListedValues {
    case_exact: bool,
    /// The listed `value` sub-attributes, case-folded unless `caseExact`.
    by_value: DistinctValues,
    /// Listed simple values.
    whole: DistinctValues,
    /// Listed complex values without a `value`.
    partial: Vec<Map<String, Value>>,
}

impl ListedValues {
    fn new(attr: &AttributeDef, listed: Vec<Value>) -> Self {
        let case_exact = attr.sub_attribute("value").is_some_and(|d| d.case_exact);
        let mut out = ListedValues {
            case_exact,
            by_value: DistinctValues::default(),
            whole: DistinctValues::default(),
            partial: Vec::new(),
        };
        for l in listed {
            match l {
                Value::Object(mut o) => match o.remove("value") {
                    Some(v) => {
                        out.by_value.insert(fold(v, case_exact));
                    }
                    None if !o.is_empty() => out.partial.push(o),
                    None => {}
                },
                simple => {
                    out.whole.insert(simple);
                }
            }
        }
        out
    }

    fn designates(&mut self, e: &Value) -> bool {
        match e {
            Value::Object(e) => {
                let by_value = e
                    .get("value")
                    .is_some_and(|v| self.by_value.find(&fold(v.clone(), self.case_exact)).is_some());
                by_value
                    || self
                        .partial
                        .iter()
                        .any(|l| l.iter().all(|(k, v)| e.get(k) == Some(v)))
            }
            simple => self.whole.find(simple).is_some(),
        }
    }
}

/// A string value in the form it compares in: lowercase unless `caseExact` (RFC 7643 §2.2).
fn fold(v: Value, case_exact: bool) -> Value {
    match v {
        Value::String(s) if !case_exact => Value::String(s.to_lowercase()),
        other => other,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Canonical form: no nulls, no empty arrays or objects, at any depth.
fn prune_map(m: &mut Map<String, Value>) {
    m.retain(|_, v| {
        prune_value(v);
        !is_empty(v)
    });
}

fn prune_value(v: &mut Value) {
    match v {
        Value::Object(o) => prune_map(o),
        Value::Array(a) => {
            a.iter_mut().for_each(prune_value);
            a.retain(|e| !is_empty(e));
        }
        _ => {}
    }
}

fn lookup<'v>(res: &'v Map<String, Value>, ext: Option<&str>, name: &str) -> Option<&'v Value> {
    match ext {
        None => res.get(name),
        Some(urn) => res.get(urn).and_then(|e| e.get(name)),
    }
}

/// RFC 7643 §2.2 immutable: the attribute may be defined at creation or by a replacing PUT, but
/// "SHALL NOT be updated". Setting an immutable attribute that has no value is allowed; changing
/// or removing a set one is 400 mutability.
/// Checked for top-level attributes and the sub-attributes of single-valued complex attributes;
/// values of multi-valued attributes have no identity to compare across a PATCH.
fn check_immutable(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    schema: &ResourceSchema<'_>,
) -> Result<()> {
    for (ext, def) in schema.attributes() {
        let b = lookup(before, ext, &def.name);
        let a = lookup(after, ext, &def.name);
        if def.mutability == Mutability::Immutable {
            if let Some(b) = b {
                if a != Some(b) {
                    return Err(ScimError::mutability(format!(
                        "'{}' is immutable and already set (RFC 7643 §2.2); {}",
                        def.name,
                        hint::immutable(&def.name)
                    )));
                }
            }
        } else if def.is_complex() && !def.multi_valued {
            for sub in def
                .sub_attributes
                .iter()
                .filter(|s| s.mutability == Mutability::Immutable)
            {
                if let Some(bs) = b.and_then(|b| b.get(&sub.name)) {
                    if a.and_then(|a| a.get(&sub.name)) != Some(bs) {
                        return Err(ScimError::mutability(format!(
                            "'{}.{}' is immutable and already set (RFC 7643 §2.2); {}",
                            def.name,
                            sub.name,
                            hint::immutable(&format!("{}.{}", def.name, sub.name))
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Top-level attributes whose value differs, URN-qualified inside extension objects.
fn changed_attributes(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    schema: &ResourceSchema<'_>,
) -> BTreeSet<String> {
    let mut changed = BTreeSet::new();
    let empty = Map::new();
    for key in before.keys().chain(after.keys()) {
        let (b, a) = (before.get(key), after.get(key));
        if b == a {
            continue;
        }
        match schema.extension(key) {
            Some(ext) => {
                let bo = b.and_then(Value::as_object).unwrap_or(&empty);
                let ao = a.and_then(Value::as_object).unwrap_or(&empty);
                for k in bo.keys().chain(ao.keys()) {
                    if bo.get(k) != ao.get(k) {
                        changed.insert(format!("{}:{k}", ext.id));
                    }
                }
            }
            None => {
                changed.insert(key.clone());
            }
        }
    }
    changed
}
