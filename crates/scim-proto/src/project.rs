//! Attribute projection: the `attributes` and `excludedAttributes` parameters (RFC 7644
//! §3.4.2.5, §3.9) combined with each attribute's `returned` characteristic (RFC 7643 §2.4, §7).
//!
//! | `returned` | emitted when                                                          |
//! |------------|-----------------------------------------------------------------------|
//! | `always`   | always (`id`; `schemas` is also always emitted)                       |
//! | `never`    | never (`password`)                                                    |
//! | `default`  | unless excluded, or unless `attributes` is given and does not name it |
//! | `request`  | when named in `attributes`, or set by the write being answered        |

use crate::error::{Result, ScimError};
use crate::path::AttrPath;
use crate::schema::{AttributeDef, ResourceSchema, Returned};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// One entry of `attributes` / `excludedAttributes`, resolved to canonical names.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    /// Canonical extension URN, `None` for core and common attributes.
    ext: Option<String>,
    /// Canonical attribute name; `None` when the entry is a bare schema URN (the whole schema).
    attr: Option<String>,
    /// Canonical sub-attribute name.
    sub: Option<String>,
}

/// What to do with one top-level attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Omit,
    /// The whole value, minus these sub-attributes.
    Whole {
        except: Vec<String>,
    },
    /// Only these sub-attributes (plus those with `returned: always`).
    Only {
        subs: Vec<String>,
    },
}

/// A compiled `attributes` / `excludedAttributes` request for one resource type.
#[derive(Debug, Clone)]
pub struct Projection {
    /// Keyed by the lower-cased canonical path of each top-level attribute: `members`,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager`.
    plans: HashMap<String, Plan>,
    /// The keys of `returned: request` attributes left out because `attributes` did not name
    /// them (not because `excludedAttributes` did): see [`Projection::for_write`].
    on_request: Vec<String>,
}

fn key(ext: Option<&str>, name: &str) -> String {
    let mut k = String::new();
    key_into(&mut k, ext, name);
    k
}

/// Writes the key of [`Projection::plans`] into `buf`.
fn key_into(buf: &mut String, ext: Option<&str>, name: &str) {
    buf.clear();
    if let Some(urn) = ext {
        buf.push_str(urn);
        buf.push(':');
    }
    buf.push_str(name);
    buf.make_ascii_lowercase();
}

/// Splits raw parameter values on commas (RFC 7644 §3.4.2.5: "a multi-valued list of strings
/// indicating the names of resource attributes", comma-separated in a query string).
fn split(raw: &[String]) -> impl Iterator<Item = &str> {
    raw.iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Resolves one entry. Unknown attributes are `None` (ignored: a client such as SailPoint asks for
/// what it knows, and the RFC defines no error); a syntactically invalid path is 400
/// `invalidPath`.
fn resolve_entry(entry: &str, schema: &ResourceSchema<'_>) -> Result<Option<Named>> {
    if entry.eq_ignore_ascii_case(&schema.core.id) {
        return Ok(Some(Named {
            ext: None,
            attr: None,
            sub: None,
        }));
    }
    if let Some(ext) = schema.extension(entry) {
        return Ok(Some(Named {
            ext: Some(ext.id.clone()),
            attr: None,
            sub: None,
        }));
    }
    let path = AttrPath::parse(entry)
        .map_err(|e| ScimError::invalid_path(format!("attributes/excludedAttributes: {}", e.detail)))?;
    Ok(schema.resolve(&path).ok().map(|r| Named {
        ext: r.extension.map(str::to_string),
        attr: Some(r.attr.name.clone()),
        sub: r.sub.map(|s| s.name.clone()),
    }))
}

impl Projection {
    /// Compiles the parameters. Each element may itself be a comma-separated list; names may be
    /// URN-qualified; a bare extension URN names the whole extension.
    pub fn new(
        attributes: &[String],
        excluded: &[String],
        schema: &ResourceSchema<'_>,
    ) -> Result<Projection> {
        let mut named = Vec::new();
        let mut any_named = false;
        for entry in split(attributes) {
            any_named = true;
            if let Some(n) = resolve_entry(entry, schema)? {
                named.push(n);
            }
        }
        let mut excl = Vec::new();
        for entry in split(excluded) {
            if let Some(n) = resolve_entry(entry, schema)? {
                excl.push(n);
            }
        }
        Ok(Self::compile(
            any_named.then_some(named.as_slice()),
            &excl,
            schema,
        ))
    }

    /// The projection of no parameters at all: every `always` and `default` attribute.
    pub fn all(schema: &ResourceSchema<'_>) -> Projection {
        Self::compile(None, &[], schema)
    }

    fn compile(named: Option<&[Named]>, excluded: &[Named], schema: &ResourceSchema<'_>) -> Projection {
        let mut plans = HashMap::new();
        let mut on_request = Vec::new();
        for (ext, def) in schema.attributes() {
            let plan = plan_for(ext, def, named, excluded);
            let k = key(ext, &def.name);
            if def.returned == Returned::Request && plan == Plan::Omit && !excludes(excluded, ext, def) {
                on_request.push(k.clone());
            }
            plans.insert(k, plan);
        }
        Projection { plans, on_request }
    }

    /// The projection of the answer to a write that set the `written` top-level attributes
    /// (extension URN, name): those with `returned: request` are shown too, RFC 7643 §7
    /// ("returned in response to any PUT, POST, or PATCH operations if the attribute was
    /// specified by the client"), unless `excludedAttributes` named them. `None` when that
    /// changes nothing.
    pub fn for_write(&self, written: &[(Option<String>, String)]) -> Option<Projection> {
        let mut shown: Option<Projection> = None;
        for (ext, name) in written {
            let k = key(ext.as_deref(), name);
            if self.on_request.contains(&k) {
                let p = shown.get_or_insert_with(|| self.clone());
                p.plans.insert(k, Plan::Whole { except: vec![] });
            }
        }
        shown
    }

    /// Whether a top-level attribute (canonical name, URN-qualified for extension attributes)
    /// can appear in the output, so a store can skip loading it (Entra always sends
    /// `excludedAttributes=members` on Groups). `schemas` is always included; names the
    /// resource type does not have are not.
    pub fn includes(&self, canonical_attr: &str) -> bool {
        let k = canonical_attr.to_ascii_lowercase();
        if k == "schemas" {
            return true;
        }
        matches!(self.plans.get(&k), Some(p) if *p != Plan::Omit)
    }

    /// Projects a rendered resource, in place: what is not returned is removed and nothing is
    /// copied. `schemas` is always kept as is; keys the schema does not know are dropped;
    /// extension objects left empty are dropped.
    pub fn apply(&self, mut resource: Map<String, Value>, schema: &ResourceSchema<'_>) -> Map<String, Value> {
        // One buffer for every attribute's plan key, instead of a new string per attribute.
        let mut key_buf = String::new();
        resource.retain(|k, v| {
            if k == "schemas" {
                return true;
            }
            if let Some(ext) = schema.extension(k) {
                let Value::Object(inner) = v else { return false };
                inner.retain(|name, value| {
                    ext.attribute(name)
                        .is_some_and(|def| self.project_attr(&mut key_buf, Some(&ext.id), def, value))
                });
                return !inner.is_empty();
            }
            schema
                .common
                .attribute(k)
                .or_else(|| schema.core.attribute(k))
                .is_some_and(|def| self.project_attr(&mut key_buf, None, def, v))
        });
        resource
    }

    /// Projects one attribute's value in place; `false` when nothing of it is returned.
    fn project_attr(
        &self,
        key_buf: &mut String,
        ext: Option<&str>,
        def: &AttributeDef,
        value: &mut Value,
    ) -> bool {
        key_into(key_buf, ext, &def.name);
        let Some(plan) = self.plans.get(key_buf.as_str()) else {
            return false;
        };
        match plan {
            Plan::Omit => false,
            Plan::Whole { except } => filter_subs(def, value, |sub| {
                !except.iter().any(|e| e == &sub.name)
                    && matches!(sub.returned, Returned::Always | Returned::Default)
            }),
            Plan::Only { subs } => filter_subs(def, value, |sub| {
                sub.returned == Returned::Always
                    || (sub.returned != Returned::Never && subs.iter().any(|s| s == &sub.name))
            }),
        }
    }
}

/// The plan of one attribute given the named and excluded entries (`named` is `None` when the
/// request has no `attributes` parameter).
fn plan_for(ext: Option<&str>, def: &AttributeDef, named: Option<&[Named]>, excluded: &[Named]) -> Plan {
    let same_attr = |n: &Named| n.ext.as_deref() == ext && n.attr.as_deref().is_some_and(|a| a == def.name);
    let whole_schema = |n: &Named| n.ext.as_deref() == ext && n.attr.is_none();
    match def.returned {
        Returned::Never => return Plan::Omit,
        // RFC 7644 §3.4.2.5: `always` attributes are returned "regardless of" either parameter.
        Returned::Always => return Plan::Whole { except: vec![] },
        Returned::Default | Returned::Request => {}
    }
    let excluded_subs: Vec<String> = excluded
        .iter()
        .filter(|n| same_attr(n))
        .filter_map(|n| n.sub.clone())
        .collect();
    if excludes(excluded, ext, def) {
        return Plan::Omit;
    }
    match named {
        None => match def.returned {
            Returned::Default => Plan::Whole {
                except: excluded_subs,
            },
            _ => Plan::Omit,
        },
        Some(named) => {
            if named
                .iter()
                .any(|n| (same_attr(n) && n.sub.is_none()) || whole_schema(n))
            {
                return Plan::Whole {
                    except: excluded_subs,
                };
            }
            let subs: Vec<String> = named
                .iter()
                .filter(|n| same_attr(n))
                .filter_map(|n| n.sub.clone())
                .filter(|s| !excluded_subs.contains(s))
                .collect();
            if subs.is_empty() {
                Plan::Omit
            } else {
                Plan::Only { subs }
            }
        }
    }
}

/// Whether `excludedAttributes` names the whole attribute, or its whole schema.
fn excludes(excluded: &[Named], ext: Option<&str>, def: &AttributeDef) -> bool {
    excluded.iter().any(|n| {
        n.ext.as_deref() == ext && n.sub.is_none() && n.attr.as_deref().is_none_or(|a| a == def.name)
    })
}

/// The `returned: request` top-level attributes `attrs` holds (a canonical resource, or the
/// canonical body of a POST or PUT), as (extension URN, name): those of them a write of `attrs`
/// set, for [`Projection::for_write`], which ignores every other attribute (so none is listed).
pub fn written_attributes(
    attrs: &Map<String, Value>,
    schema: &ResourceSchema<'_>,
) -> Vec<(Option<String>, String)> {
    schema
        .attributes()
        .filter(|(_, def)| def.returned == Returned::Request)
        .filter(|(ext, def)| match ext {
            Some(urn) => attrs
                .get(*urn)
                .and_then(Value::as_object)
                .is_some_and(|o| o.contains_key(&def.name)),
            None => attrs.contains_key(&def.name),
        })
        .map(|(ext, def)| (ext.map(str::to_string), def.name.clone()))
        .collect()
}

/// Keeps, in place, the sub-attributes of a complex value (each element of a multi-valued one)
/// that `keep` accepts; elements left empty are removed. `false` when nothing is left. Simple
/// values are kept whole.
fn filter_subs(def: &AttributeDef, value: &mut Value, keep: impl Fn(&AttributeDef) -> bool) -> bool {
    if !def.is_complex() {
        return true;
    }
    let filter_obj = |v: &mut Value| -> bool {
        let Value::Object(obj) = v else { return false };
        obj.retain(|k, _| def.sub_attribute(k).is_some_and(&keep));
        !obj.is_empty()
    };
    match value {
        Value::Array(items) => {
            items.retain_mut(filter_obj);
            !items.is_empty()
        }
        v => filter_obj(v),
    }
}
