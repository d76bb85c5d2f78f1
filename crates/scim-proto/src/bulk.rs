//! Bulk operations (RFC 7644 §3.7): the BulkRequest parsed and validated, the `bulkId`
//! references between its operations found, the order they run in, and the BulkResponse.
//!
//! Each operation is run by the caller as the same single request would be; nothing here holds
//! across operations beyond what the RFC asks: the order that makes references resolvable
//! (§3.7.2), the count of errors for `failOnErrors` (§3.7.3), and the response.

use crate::error::{Result, ScimError};
use serde_json::{json, Map, Value};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// `urn:ietf:params:scim:api:messages:2.0:BulkRequest` (RFC 7644 §3.7).
pub const BULK_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// `urn:ietf:params:scim:api:messages:2.0:BulkResponse` (RFC 7644 §3.7).
pub const BULK_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// The prefix of a reference to the resource another operation creates (RFC 7644 §3.7.2).
const BULK_ID_PREFIX: &str = "bulkId:";

/// The method of one operation (RFC 7644 §3.7: POST, PUT, PATCH or DELETE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl BulkMethod {
    fn parse(text: &str) -> Option<BulkMethod> {
        [
            BulkMethod::Post,
            BulkMethod::Put,
            BulkMethod::Patch,
            BulkMethod::Delete,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(text))
    }

    /// The wire spelling, as the BulkResponse echoes it.
    pub fn as_str(self) -> &'static str {
        match self {
            BulkMethod::Post => "POST",
            BulkMethod::Put => "PUT",
            BulkMethod::Patch => "PATCH",
            BulkMethod::Delete => "DELETE",
        }
    }
}

/// One operation of a BulkRequest, as sent (references not yet resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    pub method: BulkMethod,
    /// The client's transient id of the resource a POST creates (RFC 7644 §3.7: REQUIRED for POST).
    pub bulk_id: Option<String>,
    /// The version the operation is conditional on (`If-Match`, RFC 7644 §3.14).
    pub version: Option<String>,
    /// The resource type endpoint: `Users` of `/Users/{id}`.
    pub endpoint: String,
    /// The resource id of `/Users/{id}`; it may be a `bulkId:` reference. `None` for POST.
    pub id: Option<String>,
    /// The body the single request would carry.
    pub data: Option<Value>,
    /// The `bulkId`s this operation references, in its path or anywhere in its data, each once.
    pub references: Vec<String>,
}

/// A parsed BulkRequest (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Errors accepted before the rest is skipped (§3.7.3); `None`: run every operation.
    pub fail_on_errors: Option<u64>,
    pub operations: Vec<BulkOperation>,
}

/// The 413 of RFC 7644 §3.7.4 for a request over the advertised `maxOperations`.
pub fn too_many_operations(max_operations: usize) -> ScimError {
    ScimError::new(
        413,
        None,
        format!("the bulk request has more operations than maxOperations ({max_operations})"),
    )
}

/// The 413 of RFC 7644 §3.7.4 for a request over the advertised `maxPayloadSize`.
pub fn payload_too_large(max_payload_size: usize) -> ScimError {
    ScimError::new(
        413,
        None,
        format!("the size of the bulk request exceeds maxPayloadSize ({max_payload_size} bytes)"),
    )
}

/// The value of `key`, found ignoring case (RFC 7643 §2.1: attribute names are case
/// insensitive).
fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The id a `bulkId:<id>` string references.
fn referenced_bulk_id(text: &str) -> Option<&str> {
    text.strip_prefix(BULK_ID_PREFIX).filter(|id| !id.is_empty())
}

/// Every `bulkId:` reference anywhere in `value` (a member's `value`, the enterprise
/// `manager.value`, a PATCH operation's value...), each once, in the order first met.
fn collect_references(value: &Value, seen: &mut HashSet<String>, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if let Some(id) = referenced_bulk_id(s) {
                if seen.insert(id.to_string()) {
                    out.push(id.to_string());
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, seen, out)),
        Value::Object(map) => map.values().for_each(|v| collect_references(v, seen, out)),
        _ => {}
    }
}

fn invalid(index: usize, detail: impl std::fmt::Display) -> ScimError {
    ScimError::invalid_syntax(format!("Operations[{index}]: {detail}"))
}

impl BulkOperation {
    fn from_json(index: usize, value: &Value) -> Result<BulkOperation> {
        let op = value
            .as_object()
            .ok_or_else(|| invalid(index, "an operation must be a JSON object"))?;
        let text = |key: &str| -> Result<Option<String>> {
            match field(op, key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(index, format!("'{key}' must be a string"))),
            }
        };
        let method_text = text("method")?.ok_or_else(|| invalid(index, "'method' is required"))?;
        let method = BulkMethod::parse(&method_text).ok_or_else(|| {
            invalid(
                index,
                format!("method '{method_text}' is none of POST, PUT, PATCH, DELETE"),
            )
        })?;
        let bulk_id = text("bulkId")?;
        if method == BulkMethod::Post && bulk_id.as_deref().is_none_or(str::is_empty) {
            return Err(invalid(index, "a POST needs a 'bulkId' (RFC 7644 §3.7)"));
        }
        let path = text("path")?.ok_or_else(|| invalid(index, "'path' is required"))?;
        let mut segments = path.trim_start_matches('/').split('/');
        let endpoint = segments.next().unwrap_or_default().to_string();
        let id = segments.next().filter(|s| !s.is_empty()).map(str::to_string);
        let shape_ok =
            !endpoint.is_empty() && segments.next().is_none() && (method == BulkMethod::Post) == id.is_none();
        if !shape_ok {
            let want = match method {
                BulkMethod::Post => "a resource type endpoint such as '/Users'",
                _ => "a resource such as '/Users/{id}'",
            };
            return Err(invalid(
                index,
                format!("path '{path}' of a {} must name {want}", method.as_str()),
            ));
        }
        let data = match field(op, "data") {
            None | Some(Value::Null) => None,
            Some(d) => Some(d.clone()),
        };
        if method != BulkMethod::Delete && data.is_none() {
            return Err(invalid(
                index,
                format!("a {} needs 'data' (RFC 7644 §3.7)", method.as_str()),
            ));
        }
        let mut references = Vec::new();
        let mut seen = HashSet::new();
        if let Some(id) = &id {
            collect_references(&Value::String(id.clone()), &mut seen, &mut references);
        }
        if let Some(d) = &data {
            collect_references(d, &mut seen, &mut references);
        }
        Ok(BulkOperation {
            method,
            bulk_id,
            version: text("version")?,
            endpoint,
            id,
            data,
            references,
        })
    }

    /// The path id and data with every `bulkId:` reference replaced by the id of the resource
    /// that bulkId's POST created (RFC 7644 §3.7.2). A bulkId no operation defines is 400
    /// `invalidValue`; one whose POST failed or was never run (a circular reference) is 409, the
    /// status RFC 7644 §3.7.1 gives an unresolved reference.
    pub fn resolve(&self, plan: &BulkPlan, created: &HashMap<String, String>) -> Result<ResolvedOperation> {
        for reference in &self.references {
            if created.contains_key(reference) {
                continue;
            }
            let detail = if !plan.defined.contains(reference) {
                return Err(ScimError::invalid_value(format!(
                    "bulkId '{reference}' names no POST of this bulk request"
                )));
            } else if plan.circular.contains(reference) {
                format!(
                    "bulkId '{reference}' is part of a circular reference between operations of this \
                     request (RFC 7644 §3.7.1); create the resources first, then link them with PATCH"
                )
            } else {
                format!("bulkId '{reference}' cannot be resolved: the operation creating it failed")
            };
            return Err(ScimError::new(409, None, detail));
        }
        let substitute = |v: &mut Value| replace_references(v, created);
        let id = self.id.clone().map(|id| {
            let mut v = Value::String(id);
            substitute(&mut v);
            v.as_str().unwrap_or_default().to_string()
        });
        let data = self.data.clone().map(|mut d| {
            substitute(&mut d);
            d
        });
        Ok(ResolvedOperation { id, data })
    }
}

/// An operation's path id and data with its references replaced by ids.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedOperation {
    pub id: Option<String>,
    pub data: Option<Value>,
}

fn replace_references(value: &mut Value, created: &HashMap<String, String>) {
    match value {
        Value::String(s) => {
            if let Some(id) = referenced_bulk_id(s).and_then(|b| created.get(b)) {
                *s = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_references(v, created)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_references(v, created)),
        _ => {}
    }
}

impl BulkRequest {
    /// Parses a BulkRequest body (RFC 7644 §3.7). More operations than `max_operations` is the
    /// 413 of §3.7.4; a malformed envelope or operation, or a bulkId defined twice, is 400
    /// `invalidSyntax` for the whole request, before anything runs.
    pub fn from_json(body: &Value, max_operations: usize) -> Result<BulkRequest> {
        let object = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest must be a JSON object"))?;
        let names_schema = field(object, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|u| u.as_str() == Some(BULK_REQUEST_SCHEMA)));
        if !names_schema {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must list '{BULK_REQUEST_SCHEMA}'"
            )));
        }
        let fail_on_errors = match field(object, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
                ScimError::invalid_value("'failOnErrors' must be an integer of at least 1")
            })?),
        };
        let operations = field(object, "Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| ScimError::invalid_syntax("'Operations' must be an array of operations"))?;
        if operations.len() > max_operations {
            return Err(too_many_operations(max_operations));
        }
        let operations = operations
            .iter()
            .enumerate()
            .map(|(i, op)| BulkOperation::from_json(i, op))
            .collect::<Result<Vec<_>>>()?;
        let mut defined = HashSet::new();
        for (i, op) in operations.iter().enumerate() {
            if let (BulkMethod::Post, Some(b)) = (op.method, &op.bulk_id) {
                if !defined.insert(b.as_str()) {
                    return Err(invalid(
                        i,
                        format!(
                            "bulkId '{b}' is used by an earlier POST; bulkIds are unique within a request"
                        ),
                    ));
                }
            }
        }
        Ok(BulkRequest {
            fail_on_errors,
            operations,
        })
    }

    /// The order the operations run in (RFC 7644 §3.7.2): request order, except that an
    /// operation runs after the POSTs whose bulkIds it references, so forward references work.
    /// Operations that wait on a cycle of references (their own bulkId, directly or through
    /// others) come last, in request order; resolving them fails with a 409. Linear in the
    /// operations and references (Kahn's algorithm, the ready set a heap keyed by position).
    pub fn plan(&self) -> BulkPlan {
        let defining: HashMap<String, usize> = self
            .operations
            .iter()
            .enumerate()
            .filter(|(_, op)| op.method == BulkMethod::Post)
            .filter_map(|(i, op)| op.bulk_id.clone().map(|b| (b, i)))
            .collect();
        let n = self.operations.len();
        let mut waiting_on = vec![0usize; n];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, op) in self.operations.iter().enumerate() {
            for j in op.references.iter().filter_map(|r| defining.get(r)) {
                waiting_on[i] += 1;
                dependents[*j].push(i);
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|i| waiting_on[*i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        let mut placed = vec![false; n];
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            placed[i] = true;
            for &d in &dependents[i] {
                waiting_on[d] -= 1;
                if waiting_on[d] == 0 {
                    ready.push(Reverse(d));
                }
            }
        }
        let unplaced: Vec<usize> = (0..n).filter(|i| !placed[*i]).collect();
        let circular = unplaced
            .iter()
            .map(|i| &self.operations[*i])
            .filter(|op| op.method == BulkMethod::Post)
            .filter_map(|op| op.bulk_id.clone())
            .collect();
        order.extend(unplaced);
        BulkPlan {
            order,
            defined: defining.into_keys().collect(),
            circular,
        }
    }
}

/// The order of a request's operations and what its bulkIds name.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkPlan {
    /// Operation indexes in the order they run.
    pub order: Vec<usize>,
    /// The bulkIds the request's POSTs define.
    defined: HashSet<String>,
    /// The bulkIds whose POSTs wait on a cycle of references and so never resolve.
    circular: HashSet<String>,
}

/// What one operation did, for the BulkResponse (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq)]
pub struct OperationResult {
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    /// The resource's URL; absent when a POST failed.
    pub location: Option<String>,
    /// The version written (`W/"<n>"`).
    pub version: Option<String>,
    pub status: u16,
    /// The error, for a status outside 2xx (RFC 7644 §3.7: then the response MUST be included).
    pub error: Option<ScimError>,
}

impl OperationResult {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("method".into(), json!(self.method.as_str()));
        if let Some(b) = &self.bulk_id {
            m.insert("bulkId".into(), json!(b));
        }
        if let Some(l) = &self.location {
            m.insert("location".into(), json!(l));
        }
        if let Some(v) = &self.version {
            m.insert("version".into(), json!(v));
        }
        // A string, as in RFC 7644 §3.7.3's examples.
        m.insert("status".into(), json!(self.status.to_string()));
        if let Some(e) = &self.error {
            m.insert("response".into(), e.to_json());
        }
        Value::Object(m)
    }
}

/// Counts errors against `failOnErrors` (RFC 7644 §3.7.3): once that many operations failed, the
/// rest are not run and the response lists what ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorBudget {
    limit: Option<u64>,
    errors: u64,
}

impl ErrorBudget {
    pub fn new(fail_on_errors: Option<u64>) -> ErrorBudget {
        ErrorBudget {
            limit: fail_on_errors,
            errors: 0,
        }
    }

    /// Counts `result`; whether the remaining operations still run.
    pub fn record(&mut self, result: &OperationResult) -> bool {
        if result.error.is_some() {
            self.errors += 1;
        }
        self.limit.is_none_or(|limit| self.errors < limit)
    }
}

/// The BulkResponse (RFC 7644 §3.7): one entry per operation that ran, in request order,
/// whatever order they ran in. `results` are indexed by operation.
pub fn bulk_response(results: Vec<(usize, OperationResult)>) -> Value {
    let mut results = results;
    results.sort_by_key(|(i, _)| *i);
    let operations: Vec<Value> = results.iter().map(|(_, r)| r.to_json()).collect();
    json!({
        "schemas": [BULK_RESPONSE_SCHEMA],
        "Operations": operations,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(operations: Value) -> Value {
        json!({"schemas": [BULK_REQUEST_SCHEMA], "Operations": operations})
    }

    fn post_user(bulk_id: &str, name: &str) -> Value {
        json!({"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": {"userName": name}})
    }

    fn post_group(bulk_id: &str, members: &[&str]) -> Value {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        json!({"method": "POST", "path": "/Groups", "bulkId": bulk_id,
               "data": {"displayName": bulk_id, "members": members}})
    }

    fn parse(operations: Value) -> Result<BulkRequest> {
        BulkRequest::from_json(&request(operations), 100)
    }

    #[test]
    fn operations_parse_with_their_references() {
        let r = parse(json!([
            post_user("u1", "ada"),
            {"method": "patch", "path": "/Users/bulkId:u1", "version": "W/\"1\"",
             "data": {"Operations": [{"op": "replace", "path": "manager", "value": {"value": "bulkId:u2"}}]}},
            {"method": "DELETE", "path": "/Groups/g-1"},
            post_group("g", &["bulkId:u1", "bulkId:u1", "plain-id"]),
        ]))
        .unwrap();
        assert_eq!(r.fail_on_errors, None);
        let patch = &r.operations[1];
        assert_eq!(patch.method, BulkMethod::Patch);
        assert_eq!(
            (patch.endpoint.as_str(), patch.id.as_deref()),
            ("Users", Some("bulkId:u1"))
        );
        assert_eq!(patch.version.as_deref(), Some("W/\"1\""));
        assert_eq!(patch.references, ["u1", "u2"]);
        assert_eq!(r.operations[2].data, None);
        assert_eq!(r.operations[3].references, ["u1"], "each reference once");
    }

    #[test]
    fn malformed_requests_are_refused_whole() {
        let cases: Vec<(Value, u16, &str)> = vec![
            (json!([]), 400, "JSON object"),
            (json!({"Operations": []}), 400, "schemas"),
            (json!({"schemas": [BULK_REQUEST_SCHEMA]}), 400, "Operations"),
            (
                json!({"schemas": [BULK_REQUEST_SCHEMA], "failOnErrors": 0, "Operations": []}),
                400,
                "failOnErrors",
            ),
            (
                request(json!([{"path": "/Users"}])),
                400,
                "Operations[0]: 'method'",
            ),
            (request(json!([{"method": "GET", "path": "/Users"}])), 400, "GET"),
            (
                request(json!([{"method": "POST", "path": "/Users", "data": {}}])),
                400,
                "bulkId",
            ),
            (
                request(json!([{"method": "POST", "path": "/Users/1", "bulkId": "a", "data": {}}])),
                400,
                "endpoint",
            ),
            (
                request(json!([{"method": "DELETE", "path": "/Users"}])),
                400,
                "/Users/{id}",
            ),
            (
                request(json!([{"method": "PUT", "path": "/Users/1"}])),
                400,
                "'data'",
            ),
            (
                request(json!([post_user("a", "x"), post_user("a", "y")])),
                400,
                "Operations[1]: bulkId 'a'",
            ),
            (
                request(json!([
                    post_user("a", "x"),
                    post_user("b", "y"),
                    post_user("c", "z")
                ])),
                413,
                "maxOperations (2)",
            ),
        ];
        for (body, status, needle) in cases {
            let e = BulkRequest::from_json(&body, 2).unwrap_err();
            assert_eq!(e.status, status, "{body}: {e}");
            assert!(e.detail.contains(needle), "{body}: {e}");
        }
    }

    #[test]
    fn forward_references_run_after_what_they_reference() {
        let r = parse(json!([
            post_group("g", &["bulkId:u1", "bulkId:u2"]),
            post_user("u1", "ada"),
            {"method": "DELETE", "path": "/Users/x"},
            post_user("u2", "bob"),
        ]))
        .unwrap();
        assert_eq!(r.plan().order, [1, 2, 3, 0]);
    }

    #[test]
    fn a_cycle_runs_last_and_fails_with_409_while_the_rest_resolve() {
        let r = parse(json!([
            post_group("a", &["bulkId:b"]),
            post_group("b", &["bulkId:a"]),
            post_group("self", &["bulkId:self"]),
            post_group("after", &["bulkId:a"]),
            post_user("u", "ada"),
            post_group("ok", &["bulkId:u", "bulkId:nobody"]),
        ]))
        .unwrap();
        let plan = r.plan();
        assert_eq!(plan.order, [4, 5, 0, 1, 2, 3]);
        let created = HashMap::from([("u".to_string(), "id-u".to_string())]);
        for i in [0, 1, 2, 3] {
            let e = r.operations[i].resolve(&plan, &created).unwrap_err();
            assert_eq!(e.status, 409, "{i}: {e}");
            assert!(e.detail.contains("circular"), "{i}: {e}");
        }
        let e = r.operations[5].resolve(&plan, &created).unwrap_err();
        assert_eq!(
            (e.status, e.scim_type),
            (400, Some(crate::ScimType::InvalidValue))
        );
    }

    #[test]
    fn resolving_replaces_references_in_path_and_data() {
        let r = parse(json!([
            post_user("u1", "ada"),
            {"method": "PATCH", "path": "/Groups/bulkId:g",
             "data": {"Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:u1"}]}]}},
            post_group("g", &[]),
            post_user("failed", "x"),
            post_group("h", &["bulkId:failed"]),
        ]))
        .unwrap();
        let plan = r.plan();
        let created = HashMap::from([
            ("u1".to_string(), "id-1".to_string()),
            ("g".to_string(), "id-g".to_string()),
        ]);
        let resolved = r.operations[1].resolve(&plan, &created).unwrap();
        assert_eq!(resolved.id.as_deref(), Some("id-g"));
        assert_eq!(
            resolved.data.unwrap()["Operations"][0]["value"][0]["value"],
            "id-1"
        );
        let e = r.operations[4].resolve(&plan, &created).unwrap_err();
        assert_eq!(e.status, 409);
        assert!(e.detail.contains("failed"), "{e}");
    }

    #[test]
    fn fail_on_errors_stops_after_that_many_errors() {
        let ok = OperationResult {
            method: BulkMethod::Post,
            bulk_id: Some("a".into()),
            location: Some("https://x/Users/1".into()),
            version: Some("W/\"1\"".into()),
            status: 201,
            error: None,
        };
        let failed = OperationResult {
            error: Some(ScimError::uniqueness("taken")),
            status: 409,
            location: None,
            version: None,
            ..ok.clone()
        };
        let mut unlimited = ErrorBudget::new(None);
        assert!((0..5).all(|_| unlimited.record(&failed)));
        let mut two = ErrorBudget::new(Some(2));
        assert!(two.record(&ok));
        assert!(two.record(&failed));
        assert!(!two.record(&failed));
        let body = bulk_response(vec![(1, failed), (0, ok)]);
        assert_eq!(body["schemas"][0], BULK_RESPONSE_SCHEMA);
        assert_eq!(
            body["Operations"][0],
            json!({"method": "POST", "bulkId": "a", "location": "https://x/Users/1",
                   "version": "W/\"1\"", "status": "201"})
        );
        assert_eq!(body["Operations"][1]["status"], "409");
        assert_eq!(body["Operations"][1]["response"]["status"], "409");
        assert_eq!(body["Operations"][1]["response"]["scimType"], "uniqueness");
        assert!(body["Operations"][1].get("location").is_none());
    }
}
