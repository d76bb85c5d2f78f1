//! Changes to a detached multi-valued attribute (a Group's `members`), as a delta the store
//! applies to its own member items.

use crate::error::{Result, ScimError};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::resource::member_without_value;
use crate::schema::AttributeDef;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// One member reference (RFC 7643 §4.2 `members`: `value`, `type`, `display`; `$ref` is derived
/// by the server and ignored on input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// The member's `id`.
    pub value: String,
    /// `User` or `Group` when the client said; Okta often omits it.
    pub ty: Option<String>,
    pub display: Option<String>,
}

/// The composed effect of a PATCH on the members.
///
/// Applying it: when `replace_all`, remove every existing member first; then remove `remove`,
/// then add `add`. `add` and `remove` never share a value. Adding a present member and removing
/// an absent one are no-ops for the store (docs/idp-compatibility.md, "Present and absent
/// members").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberDelta {
    /// Existing members are removed first (a `replace` of `members`, or a `remove` of `members`
    /// with neither filter nor value).
    pub replace_all: bool,
    pub add: Vec<MemberRef>,
    pub remove: Vec<String>,
}

impl MemberDelta {
    /// True when the PATCH changes no member.
    pub fn is_empty(&self) -> bool {
        !self.replace_all && self.add.is_empty() && self.remove.is_empty()
    }
}

/// Composes member changes one by one into a [`MemberDelta`], each change in constant time: a
/// cancelled entry is blanked where it stands (found through an index) instead of searched for,
/// so a PATCH of k member changes costs O(k) whatever their order.
#[derive(Debug, Default)]
pub(crate) struct MemberDeltaBuilder {
    replace_all: bool,
    add: Vec<Option<MemberRef>>,
    remove: Vec<Option<String>>,
    /// Member id → its live entry in `add` / `remove`.
    add_at: HashMap<String, usize>,
    remove_at: HashMap<String, usize>,
}

impl MemberDeltaBuilder {
    pub(crate) fn is_empty(&self) -> bool {
        !self.replace_all && self.add_at.is_empty() && self.remove_at.is_empty()
    }

    /// Adds a member after the changes so far. A pending removal of the same id is cancelled
    /// (remove x then add x → add x); a second add of the same id keeps the first entry.
    pub(crate) fn push_add(&mut self, m: MemberRef) {
        if let Some(i) = self.remove_at.remove(&m.value) {
            if let Some(slot) = self.remove.get_mut(i) {
                *slot = None;
            }
        }
        if !self.add_at.contains_key(&m.value) {
            self.add_at.insert(m.value.clone(), self.add.len());
            self.add.push(Some(m));
        }
    }

    /// Removes a member after the changes so far. A pending add of the same id is cancelled; the
    /// removal itself is kept unless every existing member is already being removed, because the
    /// member may have been present before this PATCH (add x then remove x on a group that held x
    /// must leave x out).
    pub(crate) fn push_remove(&mut self, id: String) {
        if let Some(i) = self.add_at.remove(&id) {
            if let Some(slot) = self.add.get_mut(i) {
                *slot = None;
            }
        }
        if !self.replace_all && !self.remove_at.contains_key(&id) {
            self.remove_at.insert(id.clone(), self.remove.len());
            self.remove.push(Some(id));
        }
    }

    /// Replaces every member with `members` (RFC 7644 §3.5.2.3).
    pub(crate) fn replace(&mut self, members: Vec<MemberRef>) {
        *self = MemberDeltaBuilder {
            replace_all: true,
            ..MemberDeltaBuilder::default()
        };
        for m in members {
            self.push_add(m);
        }
    }

    pub(crate) fn finish(self) -> MemberDelta {
        MemberDelta {
            replace_all: self.replace_all,
            add: self.add.into_iter().flatten().collect(),
            remove: self.remove.into_iter().flatten().collect(),
        }
    }
}

/// Reads the member entries of a `value`: an array of member objects, or one member object.
/// Each needs a non-empty string `value` (400 `invalidValue` otherwise); `type` and `display` are
/// optional (Okta omits `type`) and `$ref` is ignored (Entra sends `"$ref": null`). A bare string
/// is taken as the member id.
pub(crate) fn parse_members(value: &Value, def: &AttributeDef) -> Result<Vec<MemberRef>> {
    let items: &[Value] = match value {
        Value::Array(a) => a,
        Value::Null => &[],
        v => std::slice::from_ref(v),
    };
    items.iter().map(|item| parse_member(item, def)).collect()
}

fn parse_member(item: &Value, def: &AttributeDef) -> Result<MemberRef> {
    let obj = match item {
        Value::String(s) if !s.is_empty() => {
            return Ok(MemberRef {
                value: s.clone(),
                ty: None,
                display: None,
            })
        }
        Value::Object(o) => o,
        _ => {
            return Err(ScimError::invalid_value(format!(
                "each entry of '{}' must be an object with a 'value'",
                def.name
            ))
            .with_hint(crate::hint::CLIENT_FAULT))
        }
    };
    let field = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let value = match field("value") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(member_without_value(def)),
    };
    let ty = match field("type") {
        Some(Value::String(s)) if !s.is_empty() => Some(canonical_type(s, def)),
        _ => None,
    };
    let display = match field("display") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok(MemberRef { value, ty, display })
}

/// `user` → `User`: the canonical value of `type` when the client's spelling matches one
/// ignoring case (RFC 7643 §2.1: canonical values), otherwise as sent.
fn canonical_type(s: &str, def: &AttributeDef) -> String {
    def.sub_attribute("type")
        .and_then(|t| t.canonical_values.iter().find(|c| c.eq_ignore_ascii_case(s)))
        .map_or_else(|| s.to_string(), Clone::clone)
}

/// The ids a member filter selects. Only `value eq "<id>"` comparisons, alone or joined by `or`,
/// are accepted: the engine never sees the member list (it is stored apart from the group), so
/// it cannot evaluate any other filter; anything else is 400 `invalidFilter`.
pub(crate) fn filter_ids(filter: &Filter, attr: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    collect_ids(filter, &mut ids, &mut HashSet::new()).ok_or_else(|| {
        ScimError::invalid_filter(format!(
            "a filter on '{attr}' must be 'value eq \"<id>\"' comparisons joined by 'or': \
             members are stored apart from the group and cannot be filtered on other attributes"
        ))
    })?;
    Ok(ids)
}

fn collect_ids<'f>(filter: &'f Filter, ids: &mut Vec<String>, seen: &mut HashSet<&'f str>) -> Option<()> {
    match filter {
        Filter::Or(a, b) => {
            collect_ids(a, ids, seen)?;
            collect_ids(b, ids, seen)
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(id),
        } if path.urn.is_none() && path.sub.is_none() && path.attr.eq_ignore_ascii_case("value") => {
            if seen.insert(id) {
                ids.push(id.clone());
            }
            Some(())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: &str) -> MemberRef {
        MemberRef {
            value: v.into(),
            ty: None,
            display: None,
        }
    }

    #[test]
    fn deltas_compose_in_order() {
        // add x then remove x: x must end up absent whether or not it was a member before.
        let mut d = MemberDeltaBuilder::default();
        d.push_add(m("x"));
        d.push_remove("x".into());
        let d = d.finish();
        assert!(d.add.is_empty());
        assert_eq!(d.remove, vec!["x".to_string()]);

        // remove x then add x → add x.
        let mut d = MemberDeltaBuilder::default();
        d.push_remove("x".into());
        d.push_add(m("x"));
        let d = d.finish();
        assert_eq!(d.add, vec![m("x")]);
        assert!(d.remove.is_empty());

        // replace then add appends; replace then remove drops from the new list.
        let mut d = MemberDeltaBuilder::default();
        d.replace(vec![m("a"), m("b"), m("a")]);
        d.push_add(m("c"));
        d.push_remove("b".into());
        let d = d.finish();
        assert!(d.replace_all);
        assert_eq!(d.add, vec![m("a"), m("c")]);
        assert!(d.remove.is_empty());
        assert!(!d.is_empty());

        // replace with [] empties the group: not an empty delta.
        let mut d = MemberDeltaBuilder::default();
        d.replace(vec![]);
        assert!(!d.is_empty());
        assert!(!d.finish().is_empty());
        assert!(MemberDelta::default().is_empty());
    }
}
