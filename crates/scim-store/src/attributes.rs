//! Which attributes a store indexes and how it compares their values, decided once for every
//! backend.
//!
//! - **Unique** (RFC 7643 §2.2 `uniqueness: server` or `global`; `userName` in the core User
//!   schema): no two resources of one type in a tenant hold the same value. Singular, simple
//!   attributes only; `id` is the store's own.
//! - **Looked up** (not unique): the equality filters IdPs send before every create or link,
//!   `externalId eq` (users and groups) and Group `displayName eq`. A backend may answer them
//!   from an index instead of reading the tenant.
//!
//! Values are compared as RFC 7643 §2.2 says: `caseExact: false` attributes fold case, so
//! `Alice` and `alice` are one value. Before that they are put in Unicode NFC
//! (`scim_proto::text`), so a composed and a decomposed "josé" are one value too; the stored value
//! stays as sent, only the index key is normalised.

use crate::ResourceKind;
use scim_proto::schema::{SchemaRegistry, Uniqueness};
use scim_proto::text::nfc;
use serde_json::{Map, Value};

/// An attribute with an index: its place in a resource, how values compare, and whether they
/// are unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedAttribute {
    /// The extension URN for extension attributes, which sit inside the URN's object.
    extension: Option<String>,
    name: String,
    case_exact: bool,
    unique: bool,
}

impl IndexedAttribute {
    /// The attribute as [`scim_proto::filter::Filter::equality_lookups`] names it (`userName`,
    /// `<urn>:<name>` for extension attributes) and as uniqueness errors report it.
    pub fn label(&self) -> String {
        match &self.extension {
            Some(urn) => format!("{urn}:{}", self.name),
            None => self.name.clone(),
        }
    }

    pub fn is_unique(&self) -> bool {
        self.unique
    }

    /// A string value as the index keeps it.
    pub fn normalise(&self, value: &str) -> String {
        fold(value, self.case_exact)
    }

    /// The normalised value of this attribute in `attrs`, if it has a scalar one (complex and
    /// multi-valued values have no single value to index).
    pub fn value(&self, attrs: &Map<String, Value>) -> Option<String> {
        self.value_folded(attrs, fold)
    }

    /// What [`Self::value`] was before identifiers compared in NFC ([`fold_before_nfc`]): only
    /// for `scimctl reindex`, which finds index items under it.
    pub fn value_before_nfc(&self, attrs: &Map<String, Value>) -> Option<String> {
        self.value_folded(attrs, fold_before_nfc)
    }

    fn value_folded(&self, attrs: &Map<String, Value>, fold: fn(&str, bool) -> String) -> Option<String> {
        let holder = match &self.extension {
            Some(urn) => attrs.get(urn)?.as_object()?,
            None => attrs,
        };
        match holder.get(&self.name)? {
            Value::String(v) => Some(fold(v, self.case_exact)),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(x) => Some(x.to_string()),
            _ => None,
        }
    }
}

/// A string in the form identifiers compare in: NFC, then lower case unless `case_exact`.
pub fn fold(value: &str, case_exact: bool) -> String {
    let composed = nfc(value);
    if case_exact {
        composed.into_owned()
    } else {
        composed.to_lowercase()
    }
}

/// [`fold`] as it was before the NFC step: lower case unless `case_exact`, nothing else. It
/// exists only for `scimctl reindex` (scim-dynamodb's `reindex.rs`), which moves index keys
/// written this way to [`fold`]'s; nothing may compare values with it.
pub fn fold_before_nfc(value: &str, case_exact: bool) -> String {
    if case_exact {
        value.to_string()
    } else {
        value.to_lowercase()
    }
}

/// The indexed attributes of `kind` under `registry`'s schemas (with their extensions): the
/// unique ones first-class, then the looked-up ones.
pub fn indexed_attributes(registry: &SchemaRegistry, kind: ResourceKind) -> Vec<IndexedAttribute> {
    let Some(schema) = registry.view(kind.name()) else {
        return Vec::new();
    };
    // The identifiers, which scim-proto also checks for invisible characters and length.
    schema
        .identifiers()
        .map(|(ext, a)| IndexedAttribute {
            extension: ext.map(str::to_string),
            name: a.name.clone(),
            case_exact: a.case_exact,
            unique: matches!(a.uniqueness, Uniqueness::Server | Uniqueness::Global),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(kind: ResourceKind, unique: bool) -> Vec<String> {
        indexed_attributes(&SchemaRegistry::standard(), kind)
            .into_iter()
            .filter(|a| a.is_unique() == unique)
            .map(|a| a.label())
            .collect()
    }

    #[test]
    fn user_name_is_unique_and_external_id_looked_up() {
        assert_eq!(labels(ResourceKind::User, true), ["userName"]);
        assert_eq!(labels(ResourceKind::User, false), ["externalId"]);
        assert!(labels(ResourceKind::Group, true).is_empty());
        let mut lookups = labels(ResourceKind::Group, false);
        lookups.sort();
        assert_eq!(lookups, ["displayName", "externalId"]);
    }

    #[test]
    fn values_fold_case_unless_case_exact() {
        let all = indexed_attributes(&SchemaRegistry::standard(), ResourceKind::User);
        let user_name = all.iter().find(|a| a.label() == "userName").unwrap();
        let external_id = all.iter().find(|a| a.label() == "externalId").unwrap();
        let attrs = json!({"userName": "Alice@Example.com", "externalId": "AbC"});
        let attrs = attrs.as_object().unwrap();
        assert_eq!(user_name.value(attrs).as_deref(), Some("alice@example.com"));
        // RFC 7643 §3.1: externalId is caseExact.
        assert_eq!(external_id.value(attrs).as_deref(), Some("AbC"));
        // A composed and a decomposed "José" are one key, whatever the case.
        let composed = json!({"userName": "Jos\u{e9}", "externalId": "jos\u{e9}"});
        let decomposed = json!({"userName": "jose\u{301}", "externalId": "jose\u{301}"});
        for a in [user_name, external_id] {
            assert_eq!(
                a.value(composed.as_object().unwrap()),
                a.value(decomposed.as_object().unwrap())
            );
        }
        assert_eq!(
            user_name.value(composed.as_object().unwrap()).as_deref(),
            Some("jos\u{e9}")
        );
        // The key before NFC, which only reindex computes: case folded, still decomposed.
        let before = |a: &IndexedAttribute| a.value_before_nfc(decomposed.as_object().unwrap());
        assert_eq!(before(user_name).as_deref(), Some("jose\u{301}"));
        assert_eq!(before(external_id).as_deref(), Some("jose\u{301}"));
        let complex = json!({"userName": {"x": 1}});
        assert_eq!(user_name.value(complex.as_object().unwrap()), None);
    }
}
