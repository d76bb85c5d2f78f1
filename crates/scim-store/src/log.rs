//! The provisioning log: one record per SCIM request a tenant's IdP sent, with what we answered
//! and what changed, for operators (`scimctl log`, the console). A store keeps a tenant's
//! records newest first and finds them by resource, by token and by outcome; it never shows one
//! tenant another's records.
//!
//! A record never holds a password or any other `returned: never` value: the service builds
//! records from canonical resources with those values left out and redacts bodies before they
//! reach a store ([`redact`]).

use crate::{StoreError, TenantId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most records one read returns.
pub const MAX_LOG_PAGE: usize = 1000;
/// Most member ids a record lists for each of added and removed; the counts are always exact.
pub const MAX_LOGGED_MEMBERS: usize = 20;
/// What replaces a redacted value in a logged body.
pub const REDACTED: &str = "[redacted]";

/// The identity provider a request came from, recognised from its `User-Agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Idp {
    Okta,
    Entra,
    SailPoint,
    #[default]
    Other,
}

impl Idp {
    /// The IdP of a request, from its `User-Agent` ([`Idp::from_user_agent`]) or, failing that,
    /// from Entra's `aadOptscim062020` feature flag, which Entra admins add to the Tenant URL so
    /// that it arrives on every request's query string.
    pub fn recognise(user_agent: Option<&str>, path_and_query: &str) -> Idp {
        match Idp::from_user_agent(user_agent) {
            Idp::Other if path_and_query.to_ascii_lowercase().contains("aadoptscim") => Idp::Entra,
            idp => idp,
        }
    }

    /// Okta sends `Okta SCIM Client`; Entra ID's provisioning service names Azure AD, Entra or
    /// Microsoft; SailPoint's connectors name SailPoint or IdentityNow/IdentityIQ.
    pub fn from_user_agent(user_agent: Option<&str>) -> Idp {
        let Some(ua) = user_agent.map(str::to_ascii_lowercase) else {
            return Idp::Other;
        };
        let has = |needles: &[&str]| needles.iter().any(|n| ua.contains(n));
        if has(&["okta"]) {
            Idp::Okta
        } else if has(&["azure", "entra", "microsoft", "aad"]) {
            Idp::Entra
        } else if has(&["sailpoint", "identitynow", "identityiq"]) {
            Idp::SailPoint
        } else {
            Idp::Other
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Idp::Okta => "okta",
            Idp::Entra => "entra",
            Idp::SailPoint => "sailpoint",
            Idp::Other => "other",
        }
    }
}

/// One attribute a write changed. `old` and `new` are present only for single-valued,
/// non-sensitive values; a multi-valued or complex attribute is named without them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogChange {
    pub attribute: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// The members a group write added and removed: the first [`MAX_LOGGED_MEMBERS`] ids of each,
/// and the exact counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogMembers {
    /// The write replaced the whole member list (a PUT): `added` is the new list, and members
    /// not in it were removed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replaced_all: bool,
    pub added: Vec<String>,
    pub added_count: usize,
    pub removed: Vec<String>,
    pub removed_count: usize,
}

impl LogMembers {
    /// The summary of `added` and `removed` ids, capped.
    pub fn of<'a>(
        added: impl IntoIterator<Item = &'a str>,
        removed: impl IntoIterator<Item = &'a str>,
    ) -> LogMembers {
        let capped = |ids: &mut dyn Iterator<Item = &'a str>| {
            let mut count = 0;
            let mut kept = Vec::new();
            for id in ids {
                count += 1;
                if kept.len() < MAX_LOGGED_MEMBERS {
                    kept.push(id.to_string());
                }
            }
            (kept, count)
        };
        let (added, added_count) = capped(&mut added.into_iter());
        let (removed, removed_count) = capped(&mut removed.into_iter());
        LogMembers {
            replaced_all: false,
            added,
            added_count,
            removed,
            removed_count,
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.replaced_all && self.added_count == 0 && self.removed_count == 0
    }
}

/// One SCIM request, as the provisioning log keeps it. The JSON form (field names included) is
/// what `scimctl log --json` prints and the admin API answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// When the request arrived ([`crate::timestamp`]: RFC 3339, milliseconds, UTC).
    pub time: String,
    /// The request id the request's log line carries too.
    pub request_id: String,
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    pub idp: Idp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    pub method: String,
    pub path: String,
    /// `Users.create`, `Groups.patch`, ...: what the request did.
    pub operation: String,
    /// `User` or `Group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// The resource's `userName` or `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<LogChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<LogMembers>,
    /// Kept only while the tenant's `log_bodies` is on, passwords redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<Value>,
    /// Who acted, for an action taken in the operators' console (there is no token then):
    /// `<name> (<subject>)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// When the record expires (epoch seconds; DynamoDB's TTL removes it after that).
    pub expires_at: i64,
}

impl LogRecord {
    /// A failed request: what `--errors` selects.
    pub fn is_error(&self) -> bool {
        self.status >= 400
    }

    /// Where the record sorts: newest first means descending cursors.
    pub fn cursor(&self) -> LogCursor {
        LogCursor {
            time: self.time.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// A position in a tenant's log: a page continues with the records older than it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogCursor {
    pub time: String,
    pub request_id: String,
}

impl LogCursor {
    /// The opaque text form a client passes back (`<time>|<request id>`).
    pub fn encode(&self) -> String {
        format!("{}|{}", self.time, self.request_id)
    }

    pub fn decode(text: &str) -> Result<LogCursor, StoreError> {
        let (time, request_id) = text
            .split_once('|')
            .filter(|(t, _)| crate::parse_timestamp(t).is_some())
            .ok_or_else(|| StoreError::Invalid(format!("'{text}' is not a log cursor")))?;
        Ok(LogCursor {
            time: time.to_string(),
            request_id: request_id.to_string(),
        })
    }
}

/// Which records a read selects; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Records at or after this time ([`crate::timestamp`] form).
    pub since: Option<String>,
    /// Records at or before this time.
    pub until: Option<String>,
    /// Only failed requests (status 400 and above).
    pub errors_only: bool,
    /// Only records of these resources: see [`ResourceFilter`].
    pub resource: Option<ResourceFilter>,
    pub token_id: Option<String>,
    /// At most this many records (1 to [`MAX_LOG_PAGE`]).
    pub limit: usize,
    /// Continue after this record.
    pub after: Option<LogCursor>,
}

/// The records of one resource: those carrying one of `ids`, and those without an id (a
/// create that failed) whose `resource_name` equals `name` ignoring case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    pub ids: Vec<String>,
    pub name: Option<String>,
}

impl ResourceFilter {
    pub fn matches(&self, record: &LogRecord) -> bool {
        match (&record.resource_id, &self.name, &record.resource_name) {
            (Some(id), _, _) => self.ids.iter().any(|i| i == id),
            (None, Some(name), Some(rname)) => {
                crate::attributes::fold(name, false) == crate::attributes::fold(rname, false)
            }
            _ => false,
        }
    }
}

impl LogQuery {
    /// Whether `record` is selected, cursor and limit aside. Backends that cannot select on
    /// every condition in their index read more and filter with this, so all agree.
    pub fn matches(&self, record: &LogRecord) -> bool {
        self.since
            .as_ref()
            .is_none_or(|s| record.time.as_str() >= s.as_str())
            && self
                .until
                .as_ref()
                .is_none_or(|u| record.time.as_str() <= u.as_str())
            && (!self.errors_only || record.is_error())
            && self.resource.as_ref().is_none_or(|r| r.matches(record))
            && self
                .token_id
                .as_ref()
                .is_none_or(|t| record.token_id.as_ref() == Some(t))
            && self.after.as_ref().is_none_or(|a| record.cursor() < *a)
    }

    /// The limit, within 1..=[`MAX_LOG_PAGE`].
    pub fn page_size(&self) -> usize {
        self.limit.clamp(1, MAX_LOG_PAGE)
    }
}

/// One page of a tenant's log, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogPage {
    pub records: Vec<LogRecord>,
    /// Where the next page starts; `None` when there are no more records.
    pub next: Option<LogCursor>,
}

/// What a write changed, from the canonical attributes before (`None`: a create) and after, in
/// schema order. Single-valued simple attributes, and the sub-attributes of single-valued
/// complex ones (`name.givenName`), carry their old and new values; multi-valued attributes are
/// named only. A `returned: never` attribute (RFC 7643 §7: `password`) is named, never valued.
pub fn changes(
    schema: &scim_proto::ResourceSchema<'_>,
    before: Option<&serde_json::Map<String, Value>>,
    after: &serde_json::Map<String, Value>,
) -> Vec<LogChange> {
    let empty = serde_json::Map::new();
    let before = before.unwrap_or(&empty);
    let mut out = Vec::new();
    for (extension, attr) in schema.attributes() {
        let (old, new, label) = match extension {
            None => (before.get(&attr.name), after.get(&attr.name), attr.name.clone()),
            Some(urn) => (
                before.get(urn).and_then(|e| e.get(&attr.name)),
                after.get(urn).and_then(|e| e.get(&attr.name)),
                format!("{urn}:{}", attr.name),
            ),
        };
        if old == new {
            continue;
        }
        let sensitive = attr.returned == scim_proto::schema::Returned::Never;
        if sensitive || attr.multi_valued {
            out.push(LogChange {
                attribute: label,
                old: None,
                new: None,
            });
        } else if attr.is_complex() {
            for sub in &attr.sub_attributes {
                let (o, n) = (
                    old.and_then(|v| v.get(&sub.name)),
                    new.and_then(|v| v.get(&sub.name)),
                );
                if o != n {
                    let hidden = sub.returned == scim_proto::schema::Returned::Never || sub.multi_valued;
                    out.push(LogChange {
                        attribute: format!("{label}.{}", sub.name),
                        old: o.filter(|_| !hidden).cloned(),
                        new: n.filter(|_| !hidden).cloned(),
                    });
                }
            }
        } else {
            out.push(LogChange {
                attribute: label,
                old: old.cloned(),
                new: new.cloned(),
            });
        }
    }
    out
}

/// The filter for `text` as an operator gives it (`scimctl log --resource`, the console): an
/// id, or the `userName` of a user or `displayName` of a group as they are now (every id that
/// carries it), plus the failed creates that named it. One query per resource type.
pub async fn resource_filter<S: crate::ResourceStore + ?Sized>(
    store: &S,
    registry: &scim_proto::SchemaRegistry,
    tenant: &TenantId,
    text: &str,
) -> Result<ResourceFilter, StoreError> {
    let mut ids = vec![text.to_string()];
    let quoted = Value::String(text.to_string()).to_string();
    for (kind, attribute) in [
        (crate::ResourceKind::User, "userName"),
        (crate::ResourceKind::Group, "displayName"),
    ] {
        let schema = registry
            .view(kind.name())
            .ok_or_else(|| StoreError::Invalid(format!("no {} schema", kind.name())))?;
        let filter = scim_proto::filter::Filter::parse(&format!("{attribute} eq {quoted}"))
            .and_then(|f| f.validate(&schema).map(|()| f))
            .map_err(|e| StoreError::Invalid(e.detail))?;
        let query = crate::Query {
            filter: Some(filter),
            paging: crate::Paging::Cursor { after: None },
            count: 10,
            include: crate::Include::NONE,
            sort: None,
        };
        let page = store.query(tenant, kind, &query).await?;
        ids.extend(page.resources.into_iter().map(|r| r.id));
    }
    Ok(ResourceFilter {
        ids,
        name: Some(text.to_string()),
    })
}

/// `body` with every `password` value (any case, at any depth) and every PATCH operation whose
/// `path` names a password replaced by [`REDACTED`].
pub fn redact(body: &mut Value) {
    match body {
        Value::Object(map) => {
            let patches_password = map
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("path") && v.as_str().is_some_and(names_password));
            for (key, value) in map.iter_mut() {
                if names_password(key) || (patches_password && key.eq_ignore_ascii_case("value")) {
                    *value = Value::String(REDACTED.into());
                } else {
                    redact(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// `password`, `urn:...:User:password`, `Password`: the attribute RFC 7643 §4.1 marks
/// `returned: never`, whatever the spelling.
fn names_password(name: &str) -> bool {
    name.rsplit(':')
        .next()
        .is_some_and(|last| last.to_ascii_lowercase().contains("password"))
}

/// A tenant's provisioning log.
#[async_trait]
pub trait ProvisioningLog: Send + Sync {
    /// Keeps `record` in the log of `tenant` until its `expires_at`.
    async fn append_log(&self, tenant: &TenantId, record: &LogRecord) -> Result<(), StoreError>;

    /// The tenant's records `query` selects, newest first.
    async fn read_log(&self, tenant: &TenantId, query: &LogQuery) -> Result<LogPage, StoreError>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn idps_are_recognised_from_the_user_agent() {
        for (ua, idp) in [
            (Some("Okta SCIM Client 1.0.0"), Idp::Okta),
            (Some("Azure Active Directory SCIM Client"), Idp::Entra),
            (Some("Microsoft.Entra.Provisioning/1.0"), Idp::Entra),
            (Some("SailPoint IdentityNow SCIM connector"), Idp::SailPoint),
            (Some("curl/8.5.0"), Idp::Other),
            (None, Idp::Other),
        ] {
            assert_eq!(Idp::from_user_agent(ua), idp, "{ua:?}");
        }
        assert_eq!(
            Idp::recognise(None, "/scim/v2/Users?aadOptscim062020"),
            Idp::Entra
        );
        assert_eq!(
            Idp::recognise(Some("Okta SCIM Client 1.0.0"), "/scim/v2/Users"),
            Idp::Okta
        );
        assert_eq!(Idp::recognise(Some("curl/8"), "/scim/v2/Users"), Idp::Other);
    }

    #[test]
    fn passwords_are_redacted_at_any_depth_and_in_patch_operations() {
        let mut body = json!({
            "userName": "ada",
            "password": "s3cret",
            "urn:ietf:params:scim:schemas:core:2.0:User:Password": "s3cret",
            "Operations": [
                {"op": "replace", "path": "password", "value": "s3cret"},
                {"op": "replace", "value": {"password": "s3cret", "active": true}},
                {"op": "replace", "path": "displayName", "value": "Ada"}
            ]
        });
        redact(&mut body);
        assert!(!body.to_string().contains("s3cret"), "{body}");
        assert_eq!(body["userName"], "ada");
        assert_eq!(body["Operations"][1]["value"]["active"], true);
        assert_eq!(body["Operations"][2]["value"], "Ada");
    }

    #[test]
    fn changes_value_single_valued_attributes_and_never_a_password() {
        let registry = scim_proto::SchemaRegistry::standard();
        let schema = registry.user();
        let obj = |v: Value| v.as_object().cloned().unwrap();
        let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let before = obj(json!({
            "userName": "ada", "active": true, "name": {"givenName": "Ada", "familyName": "L"},
            "emails": [{"value": "a@x.org"}], "password": "$argon2id$old"
        }));
        let after = obj(json!({
            "userName": "ada", "active": false, "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@x.org"}], "password": "$argon2id$new",
            enterprise: {"department": "R&D"}
        }));
        let got = changes(&schema, Some(&before), &after);
        let text = serde_json::to_string(&got).unwrap();
        assert!(!text.contains("argon2id"), "{text}");
        let find = |name: &str| got.iter().find(|c| c.attribute == name).cloned();
        assert_eq!(find("active").unwrap().new, Some(json!(false)));
        assert_eq!(find("active").unwrap().old, Some(json!(true)));
        assert_eq!(find("name.familyName").unwrap().new, Some(json!("Lovelace")));
        assert!(find("name.givenName").is_none());
        assert_eq!(find("emails").unwrap().new, None, "multi-valued: named only");
        assert_eq!(find("password").unwrap().new, None);
        assert_eq!(
            find(&format!("{enterprise}:department")).unwrap().new,
            Some(json!("R&D"))
        );
        assert!(find("userName").is_none());
        // A create lists every attribute set.
        let created = changes(&schema, None, &before);
        assert!(created
            .iter()
            .any(|c| c.attribute == "userName" && c.new == Some(json!("ada"))));
    }

    #[test]
    fn member_lists_are_capped_with_exact_counts() {
        let ids: Vec<String> = (0..50).map(|i| format!("u{i}")).collect();
        let m = LogMembers::of(ids.iter().map(String::as_str), ["x"]);
        assert_eq!((m.added.len(), m.added_count), (MAX_LOGGED_MEMBERS, 50));
        assert_eq!((m.removed, m.removed_count), (vec!["x".to_string()], 1));
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = LogCursor {
            time: "2026-12-06T05:00:00.000Z".into(),
            request_id: "r-1|x".into(),
        };
        assert_eq!(LogCursor::decode(&c.encode()).unwrap(), c);
        assert!(LogCursor::decode("yesterday|r").is_err());
        assert!(LogCursor::decode("nothing").is_err());
    }
}
