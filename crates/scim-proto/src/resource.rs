//! TEMPORARY STUB on the `patch` branch: replaced by the `resource` branch on merge.
#![allow(dead_code)]

use crate::error::{Result, ScimError};
use crate::schema::{AttrType, AttributeDef, ResourceSchema};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default)]
pub enum PasswordPolicy {
    #[default]
    Hash,
}

#[derive(Debug, Clone, Default)]
pub struct NormalizeOptions {
    pub password: PasswordPolicy,
}

pub fn normalize_attribute(
    def: &AttributeDef,
    value: &Value,
    opts: &NormalizeOptions,
) -> Result<Option<Value>> {
    let _ = opts;
    if value.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        let items: Vec<Value> = match value {
            Value::Array(a) => a.clone(),
            v => vec![v.clone()],
        };
        let mut single = def.clone();
        single.multi_valued = false;
        let mut out = Vec::new();
        for i in &items {
            if let Some(v) = normalize_attribute(&single, i, opts)? {
                out.push(v);
            }
        }
        return Ok(if out.is_empty() {
            None
        } else {
            Some(Value::Array(out))
        });
    }
    match def.ty {
        AttrType::Boolean => match value {
            Value::Bool(_) => Ok(Some(value.clone())),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            _ => Err(ScimError::invalid_value(format!(
                "{} must be a boolean",
                def.name
            ))),
        },
        AttrType::Complex => {
            let obj = match value {
                Value::Object(o) => o.clone(),
                Value::String(s) if def.sub_attribute("value").is_some() => {
                    let mut m = Map::new();
                    m.insert("value".into(), Value::String(s.clone()));
                    m
                }
                Value::Array(a) if a.len() == 1 => return normalize_attribute(def, &a[0], opts),
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "{} must be an object",
                        def.name
                    )))
                }
            };
            let mut out = Map::new();
            for (k, v) in &obj {
                if let Some(sd) = def.sub_attribute(k) {
                    if let Some(v) = normalize_attribute(sd, v, opts)? {
                        out.insert(sd.name.clone(), v);
                    }
                }
            }
            Ok(if out.is_empty() {
                None
            } else {
                Some(Value::Object(out))
            })
        }
        _ => match value {
            Value::Object(_) | Value::Array(_) => Err(ScimError::invalid_value(format!(
                "{} must be a scalar",
                def.name
            ))),
            _ if def.name == "password" => {
                Ok(Some(Value::String(format!("$argon2id$stub${value}"))))
            }
            v => Ok(Some(v.clone())),
        },
    }
}

pub fn check_required(resource: &Map<String, Value>, schema: &ResourceSchema<'_>) -> Result<()> {
    for a in &schema.core.attributes {
        if a.required && !resource.contains_key(&a.name) {
            return Err(ScimError::invalid_value(format!("{} is required", a.name)));
        }
    }
    Ok(())
}
