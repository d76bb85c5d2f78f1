//! Sorting (RFC 7644 §3.4.2.3): the attribute a list is ordered by, and each resource's place in
//! that order as a string key.
//!
//! The key's byte order is the RFC's order, so every store sorts the same way by comparing keys,
//! and a DynamoDB index that holds the key as its sort key answers a sorted list by itself:
//!
//! - strings (and references, binaries) compare by Unicode code point after NFC, lower-cased
//!   unless the attribute is `caseExact` ("case-insensitive Unicode alphabetic sort order with no
//!   specific locale implied");
//! - integers, decimals and dateTimes by value (fixed-width hexadecimal encodings whose string
//!   order is numeric order; dateTimes at UTC nanoseconds, whatever offset they were written in);
//! - booleans `false` before `true`;
//! - a multi-valued attribute by its primary value, else its first (§3.4.2.3);
//! - resources without a value after every resource with one, so they come last ascending and
//!   first descending, as §3.4.2.3 requires;
//! - ties by `id`, so the order is total and a cursor can continue after any position.

use crate::error::{Result, ScimError};
use crate::list::SortOrder;
use crate::path::AttrPath;
use crate::schema::{AttrType, ResourceSchema, Returned, ACCESS_USER_SCHEMA};
use crate::text::nfc;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Separates the value from the id in a key. Below every character a string value may hold
/// except the C0 controls U+0001..U+0008 (identifiers refuse them, other strings practically
/// never carry them): NUL, which no value holds, is not accepted in DynamoDB key strings by
/// every tool.
const SEPARATOR: char = '\u{1}';

/// Longest value part of a key, in bytes: DynamoDB sort keys hold at most 1,024 bytes. Values
/// that agree on their first 512 bytes are ordered by id.
pub const MAX_VALUE_BYTES: usize = 512;

/// What a list is sorted by: an attribute path resolved against one resource type, and the
/// direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortBy {
    /// The path in canonical spelling (`userName`, `name.familyName`, `meta.lastModified`,
    /// `urn:…:User:costCenter`): what stores compare to recognise an attribute they index.
    pub path: String,
    pub order: SortOrder,
    extension: Option<String>,
    attr: String,
    sub: Option<String>,
    multi_valued: bool,
    ty: AttrType,
    case_exact: bool,
}

/// The server-kept parts of a resource that a key may come from.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    pub id: &'a str,
    /// RFC 3339.
    pub created: &'a str,
    /// RFC 3339.
    pub last_modified: &'a str,
}

impl SortBy {
    /// Resolves `sortBy` for a resource type; `sortOrder` defaults to ascending (§3.4.2.3).
    ///
    /// Refused with 400 `invalidValue`: unknown attributes, a complex attribute without a
    /// sub-attribute (§3.4.2.3: "the attribute name must be a path to a sub-attribute"), values
    /// never returned (`password`: its order would leak), and values the server derives instead
    /// of storing (`members`, `groups`, the access extension, `meta.location`, `meta.version`).
    pub fn resolve(sort_by: &str, order: Option<SortOrder>, schema: &ResourceSchema<'_>) -> Result<SortBy> {
        let refuse =
            |why: &str| ScimError::invalid_value(format!("sortBy '{sort_by}': {why}; {SORTABLE_HINT}"));
        let unknown =
            |e: ScimError| ScimError::invalid_value(format!("sortBy: {}; {SORTABLE_HINT}", e.detail));
        let path = AttrPath::parse(sort_by.trim()).map_err(unknown)?;
        let resolved = schema.resolve(&path).map_err(unknown)?;
        let target = resolved.target();
        if target.ty == AttrType::Complex {
            let example = target
                .sub_attributes
                .first()
                .map_or(String::new(), |s| format!(" such as {}.{}", target.name, s.name));
            return Err(refuse(&format!(
                "'{}' is complex, so name one of its sub-attributes{example}",
                target.name
            )));
        }
        let name = resolved.attr.name.as_str();
        let meta_sub = (name == "meta").then_some(target.name.as_str());
        let derived = matches!(name, "members" | "groups")
            || resolved.extension == Some(ACCESS_USER_SCHEMA)
            || meta_sub.is_some_and(|s| !matches!(s, "created" | "lastModified" | "resourceType"));
        if derived {
            return Err(refuse(&format!(
                "'{}' is derived by the server, not stored, and cannot order a list",
                resolved.canonical()
            )));
        }
        if target.returned == Returned::Never || resolved.attr.returned == Returned::Never {
            return Err(refuse(&format!("'{}' is never returned", resolved.canonical())));
        }
        Ok(SortBy {
            path: resolved.canonical(),
            order: order.unwrap_or(SortOrder::Ascending),
            extension: resolved.extension.map(str::to_string),
            attr: resolved.attr.name.clone(),
            sub: resolved.sub.map(|s| s.name.clone()),
            multi_valued: resolved.attr.multi_valued,
            ty: target.ty,
            case_exact: target.case_exact,
        })
    }

    pub fn descending(&self) -> bool {
        self.order == SortOrder::Descending
    }

    /// The resource's key in this order: its value's encoding then its id, or (no value) a key
    /// after every key with a value.
    pub fn key(&self, attrs: &Map<String, Value>, meta: Meta<'_>) -> String {
        match self.value(attrs, meta).and_then(|v| self.encode(v)) {
            Some(value) => format!("1{value}{SEPARATOR}{}", meta.id),
            None => missing_key(meta.id),
        }
    }

    /// Whether `key` comes after `position` in this order (a cursor page's resources do).
    pub fn after(&self, key: &str, position: &str) -> bool {
        if self.descending() {
            key < position
        } else {
            key > position
        }
    }

    fn value<'v>(&self, attrs: &'v Map<String, Value>, meta: Meta<'v>) -> Option<ValueRef<'v>> {
        if self.extension.is_none() {
            match (self.attr.as_str(), self.sub.as_deref()) {
                ("id", _) => return Some(ValueRef::Str(meta.id)),
                ("meta", Some("created")) => return Some(ValueRef::Str(meta.created)),
                ("meta", Some("lastModified")) => return Some(ValueRef::Str(meta.last_modified)),
                ("meta", _) => return None,
                _ => {}
            }
        }
        let holder = match &self.extension {
            Some(urn) => attrs.get(urn)?.as_object()?,
            None => attrs,
        };
        let mut value = holder.get(&self.attr)?;
        if self.multi_valued {
            let items = value.as_array()?;
            value = items
                .iter()
                .find(|v| v.get("primary").and_then(Value::as_bool) == Some(true))
                .or_else(|| items.first())?;
        }
        if let Some(sub) = &self.sub {
            value = value.get(sub)?;
        }
        Some(ValueRef::Json(value))
    }

    fn encode(&self, value: ValueRef<'_>) -> Option<String> {
        let text = |s: &str| {
            let composed = nfc(s);
            let s = if self.case_exact {
                composed.into_owned()
            } else {
                composed.to_lowercase()
            };
            truncate(s)
        };
        match (self.ty, value) {
            (AttrType::DateTime, v) => datetime(v.as_str()?).or_else(|| v.as_str().map(text)),
            (_, ValueRef::Str(s)) => Some(text(s)),
            (AttrType::Boolean, ValueRef::Json(v)) => Some(if v.as_bool()? { "1" } else { "0" }.into()),
            (AttrType::Integer, ValueRef::Json(v)) => integer(v),
            (AttrType::Decimal, ValueRef::Json(v)) => Some(decimal(v.as_f64()?)),
            (_, ValueRef::Json(Value::String(s))) => Some(text(s)),
            (_, ValueRef::Json(Value::Number(n))) => Some(decimal(n.as_f64()?)),
            (_, ValueRef::Json(Value::Bool(b))) => Some(if *b { "1" } else { "0" }.into()),
            _ => None,
        }
    }
}

/// The key of a resource without a value to sort by: after every key with one.
pub fn missing_key(id: &str) -> String {
    format!("2{SEPARATOR}{id}")
}

const SORTABLE_HINT: &str = "sort by a singular attribute or a sub-attribute (userName, displayName, \
                             name.familyName, meta.lastModified, ...)";

#[derive(Clone, Copy)]
enum ValueRef<'a> {
    Str(&'a str),
    Json(&'a Value),
}

impl<'a> ValueRef<'a> {
    fn as_str(self) -> Option<&'a str> {
        match self {
            ValueRef::Str(s) => Some(s),
            ValueRef::Json(v) => v.as_str(),
        }
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_VALUE_BYTES {
        let mut end = MAX_VALUE_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// A signed 64-bit integer as 16 hex digits, the sign bit flipped so string order is numeric.
fn integer(v: &Value) -> Option<String> {
    let n = match (v.as_i64(), v.as_u64()) {
        (Some(i), _) => i,
        (None, Some(_)) => i64::MAX,
        _ => v.as_f64()? as i64,
    };
    Some(format!("{:016x}", (n as u64) ^ (1 << 63)))
}

/// An IEEE 754 double as 16 hex digits whose string order is numeric order: positive values
/// with the sign bit set, negative ones with every bit flipped.
fn decimal(x: f64) -> String {
    let bits = x.to_bits();
    let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    format!("{ordered:016x}")
}

/// An RFC 3339 dateTime as its UTC nanoseconds since 1970, offset to be non-negative, in 32 hex
/// digits.
fn datetime(s: &str) -> Option<String> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    let nanos = t.unix_timestamp_nanos() + (1i128 << 100);
    Some(format!("{:032x}", nanos as u128))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SchemaRegistry;
    use serde_json::json;

    fn meta(id: &str) -> Meta<'_> {
        Meta {
            id,
            created: "2026-01-01T00:00:00Z",
            last_modified: "2026-01-02T00:00:00Z",
        }
    }

    fn keys(by: &SortBy, resources: &[Value]) -> Vec<String> {
        let ids: Vec<String> = (0..resources.len()).map(|i| format!("id{i}")).collect();
        resources
            .iter()
            .zip(&ids)
            .map(|(r, id)| by.key(r.as_object().unwrap(), meta(id)))
            .collect()
    }

    /// The ids of `resources` in the order the keys give.
    fn order(sort_by: &str, resources: &[Value]) -> Vec<usize> {
        let reg = SchemaRegistry::standard();
        let by = SortBy::resolve(sort_by, None, &reg.user()).unwrap();
        let keys = keys(&by, resources);
        let mut idx: Vec<usize> = (0..resources.len()).collect();
        idx.sort_by(|a, b| keys[*a].cmp(&keys[*b]));
        idx
    }

    #[test]
    fn strings_ignore_case_unless_case_exact_and_missing_values_come_last() {
        let users = [
            json!({"userName": "bob"}),
            json!({"userName": "Alice"}),
            json!({"userName": "alex"}),
            json!({"userName": "Émile"}),
        ];
        assert_eq!(order("userName", &users), vec![2, 1, 0, 3]);
        let names = [
            json!({"name": {"familyName": "b"}}),
            json!({}),
            json!({"name": {"familyName": "B"}}),
        ];
        // familyName is not caseExact: "b" and "B" tie and fall back to id.
        assert_eq!(order("name.familyName", &names), vec![0, 2, 1]);
        // `id` is caseExact: upper case sorts first.
        let reg = SchemaRegistry::standard();
        let by = SortBy::resolve("id", None, &reg.user()).unwrap();
        let (a, b) = (by.key(&Map::new(), meta("B")), by.key(&Map::new(), meta("a")));
        assert!(a < b);
    }

    #[test]
    fn a_prefix_sorts_before_longer_values() {
        let users = [
            json!({"displayName": "ab c"}),
            json!({"displayName": "ab"}),
            json!({"displayName": "ab\tz"}),
        ];
        assert_eq!(order("displayName", &users), vec![1, 2, 0]);
    }

    #[test]
    fn numbers_booleans_and_dates_sort_by_value() {
        let reg = SchemaRegistry::standard();
        let mut ext = reg.clone();
        let schema = crate::schema::Schema::from_json(json!({
            "id": "urn:example:params:scim:schemas:extension:test:2.0:User",
            "name": "Test",
            "attributes": [
                {"name": "level", "type": "integer", "multiValued": false, "required": false,
                 "mutability": "readWrite", "returned": "default"},
                {"name": "score", "type": "decimal", "multiValued": false, "required": false,
                 "mutability": "readWrite", "returned": "default"},
                {"name": "since", "type": "dateTime", "multiValued": false, "required": false,
                 "mutability": "readWrite", "returned": "default"}
            ]
        }))
        .unwrap();
        ext.add_extension("User", schema, false).unwrap();
        let urn = "urn:example:params:scim:schemas:extension:test:2.0:User";
        let sorted = |attr: &str, values: &[Value]| {
            let by = SortBy::resolve(&format!("{urn}:{attr}"), None, &ext.user()).unwrap();
            let resources: Vec<Value> = values.iter().map(|v| json!({urn: {attr: v}})).collect();
            let keys = keys(&by, &resources);
            let mut idx: Vec<usize> = (0..values.len()).collect();
            idx.sort_by(|a, b| keys[*a].cmp(&keys[*b]));
            idx
        };
        assert_eq!(
            sorted("level", &[json!(10), json!(-3), json!(2), json!(-40)]),
            vec![3, 1, 2, 0]
        );
        assert_eq!(
            sorted("score", &[json!(1.5), json!(-0.25), json!(-10.0), json!(0)]),
            vec![2, 1, 3, 0]
        );
        // The same instant in two offsets ties; 09:00+02:00 is before 08:00Z.
        assert_eq!(
            sorted(
                "since",
                &[
                    json!("2026-01-01T08:00:00Z"),
                    json!("2026-01-01T09:00:00+02:00"),
                    json!("2025-12-31T23:59:59.5Z")
                ]
            ),
            vec![2, 1, 0]
        );
        let active = [json!({"active": true}), json!({"active": false}), json!({})];
        assert_eq!(order("active", &active), vec![1, 0, 2]);
    }

    #[test]
    fn multi_valued_attributes_sort_by_their_primary_value_else_the_first() {
        let users = [
            json!({"emails": [{"value": "z@x"}, {"value": "a@x", "primary": true}]}),
            json!({"emails": [{"value": "m@x"}, {"value": "b@x"}]}),
        ];
        assert_eq!(order("emails.value", &users), vec![0, 1]);
    }

    #[test]
    fn meta_dates_come_from_the_record() {
        let reg = SchemaRegistry::standard();
        let by = SortBy::resolve("meta.LASTMODIFIED", Some(SortOrder::Descending), &reg.user()).unwrap();
        assert_eq!(by.path, "meta.lastModified");
        let early = by.key(
            &Map::new(),
            Meta {
                id: "a",
                created: "x",
                last_modified: "2026-01-01T00:00:00Z",
            },
        );
        let late = by.key(
            &Map::new(),
            Meta {
                id: "b",
                created: "x",
                last_modified: "2026-02-01T00:00:00Z",
            },
        );
        assert!(
            by.after(&early, &late),
            "descending: the earlier comes after the later"
        );
    }

    #[test]
    fn unsortable_paths_are_refused_with_invalid_value() {
        let reg = SchemaRegistry::standard();
        for (path, says) in [
            ("nope", "not an attribute"),
            ("name", "name.formatted"),
            ("emails", "emails.value"),
            ("password", "never returned"),
            ("groups.value", "derived"),
            ("meta.location", "derived"),
            (
                "urn:scim-lambda:params:scim:schemas:extension:access:2.0:User:effectiveRoles",
                "derived",
            ),
            ("user name", "not a valid attribute path"),
        ] {
            let e = SortBy::resolve(path, None, &reg.user()).unwrap_err();
            assert_eq!(e.status, 400, "{path}");
            assert_eq!(e.scim_type, Some(crate::ScimType::InvalidValue), "{path}");
            assert!(e.detail.contains(says), "{path}: {}", e.detail);
        }
        let e = SortBy::resolve("members.value", None, &reg.group()).unwrap_err();
        assert!(e.detail.contains("derived"), "{}", e.detail);
    }

    #[test]
    fn long_values_are_cut_at_a_character_boundary() {
        let reg = SchemaRegistry::standard();
        let by = SortBy::resolve("displayName", None, &reg.user()).unwrap();
        let long = "é".repeat(600);
        let key = by.key(json!({"displayName": long}).as_object().unwrap(), meta("x"));
        assert!(key.len() <= MAX_VALUE_BYTES + 3);
    }
}
