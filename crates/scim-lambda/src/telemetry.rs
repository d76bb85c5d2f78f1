//! Per-request telemetry: one structured log line for every request and, under Lambda, one
//! CloudWatch embedded-metric-format (EMF) line that CloudWatch turns into metrics without any
//! API call from the function. Neither ever holds the token, a body or a password.
//!
//! The log line carries the Lambda request id (from the invocation context `lambda_http` puts in
//! the request extensions) and API Gateway's request id, so a line can be joined with the API's
//! access log. `store_calls` and `items_read` are the storage work the request did
//! ([`scim_store::metering`], scoped to the request by [`log_request`]). `client` is the
//! caller's address: the socket peer on the local listener; under Lambda the viewer address the
//! stack's CloudFront function writes into [`VIEWER_ADDRESS_HEADER`], else the first
//! `X-Forwarded-For` entry (API Gateway's own source is CloudFront's edge).

use crate::auth::{Refusal, Tenant};
use crate::provisioning_log::{with_notes, LogWriter, Pending, RequestNotes};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use scim_store::metering;
use serde_json::{json, Map, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;

/// The CloudWatch namespace of the metrics (template.yaml's alarms and dashboard use it).
pub const METRICS_NAMESPACE: &str = "ScimService";

/// Where telemetry goes.
#[derive(Debug, Clone)]
pub struct Telemetry {
    /// Write an EMF line per request to stdout (under Lambda, where CloudWatch Logs reads it).
    pub emf: bool,
    /// The provisioning log: one record per request that reached a tenant.
    pub log: LogWriter,
}

/// Longest response body kept for the provisioning log (`log_bodies`); bodies are complete in
/// memory already, so keeping one costs a reference, not a copy.
const MAX_CAPTURED_RESPONSE: usize = 1024 * 1024;
/// Longest path (with its query) and `User-Agent` a record keeps.
const MAX_LOGGED_PATH: usize = 2048;
const MAX_LOGGED_USER_AGENT: usize = 256;

/// Whether a request only read and succeeded: such requests are sampled in the provisioning log.
fn successful_read(method: &Method, record: &RequestRecord) -> bool {
    let operation = record.operation;
    let read = method == Method::GET || operation.ends_with(".search") || operation == "Search";
    read && record.status < 400
}

/// The response with its body in memory, and the body, when it is of known size within
/// [`MAX_CAPTURED_RESPONSE`] (every SCIM answer is); otherwise the response untouched.
async fn capture_body(response: Response) -> (Response, Option<Bytes>) {
    let small = response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= MAX_CAPTURED_RESPONSE as u64);
    if !small {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, MAX_CAPTURED_RESPONSE).await {
        Ok(bytes) => (
            Response::from_parts(parts, Body::from(bytes.clone())),
            Some(bytes),
        ),
        // A body of exact, small size cannot fail to collect; if it did, nothing is left to send.
        Err(_) => (Response::from_parts(parts, Body::empty()), None),
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
fn bounded(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// What the request log needs of a request, read before it runs. Held as taken from the request
/// (the URI and header share its buffers): text is made only for a line or a record written.
struct Arrival {
    time: OffsetDateTime,
    method: Method,
    path: ArrivalPath,
    origin: RequestOrigin,
}

/// The path, with its query, that a record names.
enum ArrivalPath {
    /// The request's own.
    Uri(Uri),
    /// An operation's inside a request (a `POST /Bulk` operation's `path`).
    Text(String),
}

impl ArrivalPath {
    fn as_str(&self) -> &str {
        match self {
            ArrivalPath::Uri(uri) => uri.path_and_query().map_or("/", |p| p.as_str()),
            ArrivalPath::Text(text) => text,
        }
    }

    /// Without the query.
    fn path(&self) -> &str {
        let text = self.as_str();
        text.split_once('?').map_or(text, |(path, _)| path)
    }
}

/// The id of a request's log line and provisioning log record.
#[derive(Debug, Clone)]
enum RequestId {
    /// Lambda's request id for the invocation.
    Lambda(String),
    /// Made locally, where there is none: a UUIDv7 of this process sorts in arrival order, which
    /// orders log records that arrived within the same millisecond.
    Local(uuid::Uuid),
}

impl RequestId {
    fn of(request: &Request) -> RequestId {
        match request.lambda_context_ref() {
            Some(context) => RequestId::Lambda(context.request_id.clone()),
            None => RequestId::Local(uuid::Uuid::now_v7()),
        }
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestId::Lambda(id) => f.write_str(id),
            RequestId::Local(id) => id.fmt(f),
        }
    }
}

/// Who sent a request and under which id it is logged: a request extension [`log_request`]
/// sets, for records made inside the request (one per operation of a `POST /Bulk`). Cheap to
/// copy (an id, an address, a header sharing the request's buffer): every request carries one.
#[derive(Debug, Clone)]
pub struct RequestOrigin {
    request_id: RequestId,
    client: Option<IpAddr>,
    user_agent: Option<HeaderValue>,
}

impl RequestOrigin {
    /// The id of the request's log line, which the records made for it carry.
    pub fn request_id(&self) -> String {
        self.request_id.to_string()
    }

    /// The caller's address, when known ([`client_address`]).
    pub fn client(&self) -> Option<IpAddr> {
        self.client
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestOrigin {
    type Rejection = std::convert::Infallible;

    /// The origin [`log_request`] noted; a request that did not pass it (none does in the
    /// Router) is logged under a fresh id.
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestOrigin>()
            .cloned()
            .unwrap_or_else(|| RequestOrigin {
                request_id: RequestId::Local(uuid::Uuid::now_v7()),
                client: None,
                user_agent: None,
            }))
    }
}

/// One operation run inside a request (RFC 7644 §3.7: each bulk operation "corresponds to a
/// single HTTP request"), for its own provisioning log record.
#[derive(Debug)]
pub struct InnerOperation {
    /// Its position in the request: the record's request id is the request's, then `#<n>`.
    pub n: usize,
    pub method: Method,
    /// The route the single request would match (`/scim/v2/Users/{id}`; `None`: none, an
    /// unknown endpoint) and its path.
    pub route: Option<String>,
    pub path: String,
    pub arrived: OffsetDateTime,
    pub status: u16,
    pub latency_ms: f64,
    /// The SCIM Error body of a failure.
    pub error_body: Option<Bytes>,
}

/// Queues the provisioning log record of `op`, exactly as the single request's would be.
pub fn log_inner_operation(
    log: &LogWriter,
    tenant: &Tenant,
    origin: &RequestOrigin,
    op: InnerOperation,
    notes: RequestNotes,
) {
    let record = RequestRecord {
        operation: operation(&op.method, op.route.as_deref()),
        status: op.status,
        latency_ms: op.latency_ms,
        store_calls: 0,
        request_id: Some(format!("{}#{}", origin.request_id, op.n)),
    };
    let arrival = Arrival {
        time: op.arrived,
        method: op.method,
        path: ArrivalPath::Text(op.path),
        origin: origin.clone(),
    };
    log.submit(pending_record(tenant, arrival, &record, notes, op.error_body));
}

/// The provisioning log record of an answered request: the error's `scimType` and `detail` come
/// from the SCIM Error body every failure carries.
fn pending_record(
    tenant: &Tenant,
    arrival: Arrival,
    record: &RequestRecord,
    notes: RequestNotes,
    response_body: Option<Bytes>,
) -> Pending {
    let error = (record.status >= 400)
        .then(|| {
            response_body
                .as_ref()
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        })
        .flatten();
    let text = |key: &str| error.as_ref().and_then(|e| e[key].as_str()).map(str::to_string);
    let path = bounded(arrival.path.as_str(), MAX_LOGGED_PATH);
    let user_agent = arrival
        .origin
        .user_agent
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .map(|ua| bounded(ua, MAX_LOGGED_USER_AGENT));
    Pending {
        tenant: tenant.id.clone(),
        record: scim_store::LogRecord {
            time: scim_store::timestamp(arrival.time),
            request_id: record.request_id.clone().unwrap_or_default(),
            tenant: tenant.id.to_string(),
            token_id: Some(tenant.token_id.clone()),
            token_name: Some(tenant.token_name.clone()),
            client: arrival.origin.client.map(|ip| ip.to_string()),
            idp: scim_store::Idp::recognise(user_agent.as_deref(), &path),
            user_agent,
            method: arrival.method.to_string(),
            path,
            operation: record.operation.to_string(),
            resource_type: notes.resource_type.map(|k| k.name().to_string()),
            resource_id: notes.resource_id,
            resource_name: notes.resource_name,
            status: record.status,
            scim_type: text("scimType"),
            detail: text("detail"),
            latency_ms: record.latency_ms.round() as u64,
            changed: notes.changed,
            members: notes.members,
            request_body: None,
            response_body: None,
            operator: None,
            expires_at: 0,
        },
        request_body: notes.request_body,
        response_body,
        sampled_read: successful_read(&arrival.method, record),
        token_expires: Some(tenant.token_expires),
    }
}

/// What is known about a request once it is answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub operation: &'static str,
    pub status: u16,
    pub latency_ms: f64,
    pub store_calls: u32,
    pub request_id: Option<String>,
}

/// A low-cardinality name for what a request did, for the metric dimension `Operation`.
/// `route` is the Router's matched path (`/scim/v2/Users/{id}`), not the raw path, so ids never
/// become dimension values.
pub fn operation(method: &Method, route: Option<&str>) -> &'static str {
    let Some(route) = route.and_then(|r| r.strip_prefix(crate::BASE_PATH)) else {
        return "Unmatched";
    };
    let resource = if route.starts_with("/Users") {
        "Users"
    } else if route.starts_with("/Groups") {
        "Groups"
    } else if route == "/.search" {
        return "Search";
    } else if route == "/Bulk" {
        return "Bulk";
    } else {
        return "Discovery";
    };
    let item = route.ends_with("/{id}");
    let search = route.ends_with("/.search");
    match (resource, method.as_str(), item, search) {
        (_, _, _, true) => match resource {
            "Users" => "Users.search",
            _ => "Groups.search",
        },
        ("Users", "GET", false, _) => "Users.list",
        ("Users", "POST", false, _) => "Users.create",
        ("Users", "GET", true, _) => "Users.get",
        ("Users", "PUT", true, _) => "Users.replace",
        ("Users", "PATCH", true, _) => "Users.patch",
        ("Users", "DELETE", true, _) => "Users.delete",
        ("Groups", "GET", false, _) => "Groups.list",
        ("Groups", "POST", false, _) => "Groups.create",
        ("Groups", "GET", true, _) => "Groups.get",
        ("Groups", "PUT", true, _) => "Groups.replace",
        ("Groups", "PATCH", true, _) => "Groups.patch",
        ("Groups", "DELETE", true, _) => "Groups.delete",
        _ => "Other",
    }
}

/// `2xx`, `4xx`, `5xx`, ...: the metric dimension `StatusClass`.
pub fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// One EMF document (CloudWatch embedded metric format specification): metrics `Latency`
/// (milliseconds), `Requests` and `StoreCalls` (counts), published under the dimension sets
/// `[Operation]`, `[StatusClass]` and `[]` (the service as a whole). The request id rides along
/// as a plain property, searchable in Logs Insights but not a dimension.
pub fn emf_line(record: &RequestRecord, timestamp_ms: u64) -> String {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Operation"], ["StatusClass"], []],
                "Metrics": [
                    {"Name": "Latency", "Unit": "Milliseconds"},
                    {"Name": "Requests", "Unit": "Count"},
                    {"Name": "StoreCalls", "Unit": "Count"}
                ]
            }]
        }),
    );
    doc.insert("Operation".into(), record.operation.into());
    doc.insert("StatusClass".into(), status_class(record.status).into());
    doc.insert("Latency".into(), json!(to_microseconds(record.latency_ms)));
    doc.insert("Requests".into(), 1.into());
    doc.insert("StoreCalls".into(), record.store_calls.into());
    doc.insert("Status".into(), record.status.into());
    if let Some(id) = &record.request_id {
        doc.insert("RequestId".into(), id.clone().into());
    }
    Value::Object(doc).to_string()
}

/// Milliseconds to three decimals (a microsecond): finer digits are noise from the clock.
fn to_microseconds(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// One EMF document with a single metric under no dimensions (the metrics the stack's alarms
/// watch as a whole): `name` = `value` in `unit`, plus `properties` (searchable in Logs Insights,
/// not dimensions).
pub fn metric_line(
    name: &str,
    unit: &str,
    value: Value,
    properties: Map<String, Value>,
    timestamp_ms: u64,
) -> String {
    let mut doc = properties;
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{"Name": name, "Unit": unit}]
            }]
        }),
    );
    doc.insert(name.into(), value);
    Value::Object(doc).to_string()
}

/// Milliseconds since the Unix epoch: an EMF document's `Timestamp`.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// API Gateway's own request id (the `$context.requestId` of its access log).
fn gateway_request_id(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(c) => c.request_id.clone(),
        RequestContext::ApiGatewayV2(c) => c.request_id.clone(),
        _ => None,
    }
}

/// The header the stack's CloudFront function sets to the viewer's address, replacing any value
/// the client sent (CloudFront appends the viewer to `X-Forwarded-For`, so that header's first
/// entry is whatever the client put there).
pub const VIEWER_ADDRESS_HEADER: &str = "x-scim-viewer-address";

/// The caller's address: the socket peer when the request came through the local listener, else
/// [`VIEWER_ADDRESS_HEADER`], else the first `X-Forwarded-For` entry (each proxy appends the
/// address it received from, so the client comes first). Only a well-formed address is reported,
/// so a header cannot write arbitrary text into the log.
pub fn client_address(request: &Request) -> Option<IpAddr> {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        return Some(peer.ip());
    }
    let header = |name: &str| request.headers().get(name)?.to_str().ok();
    header(VIEWER_ADDRESS_HEADER)
        .or_else(|| header("x-forwarded-for")?.split(',').next())?
        .trim()
        .parse()
        .ok()
}

/// Middleware around everything: one log line per request (and an EMF line under Lambda).
/// The state is shared, not copied: a middleware's state is cloned for every request.
pub async fn log_request(
    State(telemetry): State<Arc<Telemetry>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let origin = RequestOrigin {
        request_id: RequestId::of(&request),
        client: client_address(&request),
        user_agent: request.headers().get(header::USER_AGENT).cloned(),
    };
    request.extensions_mut().insert(origin.clone());
    let arrival = Arrival {
        time: scim_store::now(),
        method: request.method().clone(),
        path: ArrivalPath::Uri(request.uri().clone()),
        origin,
    };
    let route = request.extensions().get::<MatchedPath>().cloned();
    let gateway_id = gateway_request_id(&request);
    let ((response, usage), notes) = with_notes(metering::metered(next.run(request))).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut record = RequestRecord {
        operation: operation(&arrival.method, route.as_ref().map(MatchedPath::as_str)),
        status: response.status().as_u16(),
        latency_ms,
        store_calls: usage.calls,
        request_id: None,
    };
    let tenant = response.extensions().get::<Tenant>().cloned();
    let method = &arrival.method;
    // A read the provisioning log would not keep has no record to build or queue.
    let recorded = tenant.as_ref().is_some_and(|tenant| {
        !(successful_read(method, &record) && telemetry.log.skips_read(&tenant.id, &tenant.token_id))
    });
    let line = tracing::enabled!(tracing::Level::INFO);
    if line || telemetry.emf || recorded {
        record.request_id = Some(arrival.origin.request_id.to_string());
    }
    if line {
        let tenant = tenant.as_ref();
        let refusal = response.extensions().get::<Refusal>();
        let token_id = tenant
            .map(|t| t.token_id.as_str())
            .or_else(|| refusal.and_then(Refusal::token_id));
        tracing::info!(
            request_id = record.request_id.as_deref().unwrap_or("-"),
            gateway_request_id = gateway_id.as_deref().unwrap_or("-"),
            tenant = tenant.map(|t| t.id.as_str()).unwrap_or("-"),
            token_id = token_id.unwrap_or("-"),
            refused = refusal.map_or("-", Refusal::reason),
            method = %method,
            route = route.as_ref().map_or("-", MatchedPath::as_str),
            path = arrival.path.path(),
            operation = record.operation,
            status = record.status,
            latency_ms = to_microseconds(latency_ms),
            store_calls = record.store_calls,
            items_read = usage.items_read,
            client = %arrival.origin.client.map_or_else(|| "-".to_string(), |ip| ip.to_string()),
            "request"
        );
    }
    if telemetry.emf {
        // stdout, one line: CloudWatch Logs extracts the metrics from it.
        println!("{}", emf_line(&record, now_ms()));
    }
    // No tenant (no valid token): nobody's provisioning log; the log line above has it.
    let (Some(tenant), true) = (tenant, recorded) else {
        return response;
    };
    let (response, body) = capture_body(response).await;
    telemetry
        .log
        .submit(pending_record(&tenant, arrival, &record, notes, body));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_few_and_named_by_route() {
        let cases: &[(Method, Option<&str>, &str)] = &[
            (Method::GET, Some("/scim/v2/Users"), "Users.list"),
            (Method::POST, Some("/scim/v2/Users"), "Users.create"),
            (Method::GET, Some("/scim/v2/Users/{id}"), "Users.get"),
            (Method::PUT, Some("/scim/v2/Users/{id}"), "Users.replace"),
            (Method::PATCH, Some("/scim/v2/Users/{id}"), "Users.patch"),
            (Method::DELETE, Some("/scim/v2/Users/{id}"), "Users.delete"),
            (Method::POST, Some("/scim/v2/Users/.search"), "Users.search"),
            (Method::PATCH, Some("/scim/v2/Groups/{id}"), "Groups.patch"),
            (Method::POST, Some("/scim/v2/Groups/.search"), "Groups.search"),
            (Method::POST, Some("/scim/v2/.search"), "Search"),
            (Method::POST, Some("/scim/v2/Bulk"), "Bulk"),
            (Method::GET, Some("/scim/v2/ServiceProviderConfig"), "Discovery"),
            (Method::GET, Some("/scim/v2/Schemas/{id}"), "Discovery"),
            (Method::GET, None, "Unmatched"),
            (Method::TRACE, Some("/scim/v2/Users/{id}"), "Other"),
        ];
        for (method, route, want) in cases {
            assert_eq!(operation(method, *route), *want, "{method} {route:?}");
        }
    }

    #[test]
    fn emf_document_declares_its_metrics_and_dimensions() {
        let record = RequestRecord {
            operation: "Users.create",
            status: 201,
            latency_ms: 12.345_678,
            store_calls: 1,
            request_id: Some("c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into()),
        };
        let line = emf_line(&record, 1_700_000_000_000);
        assert!(!line.contains('\n'), "one line");
        let v: Value = serde_json::from_str(&line).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(directive["Namespace"], "ScimService");
        assert_eq!(
            directive["Dimensions"],
            json!([["Operation"], ["StatusClass"], []])
        );
        // Every declared metric and dimension has a member of the same name (the EMF rule).
        for m in directive["Metrics"].as_array().unwrap() {
            assert!(v[m["Name"].as_str().unwrap()].is_number(), "{m}");
        }
        for set in directive["Dimensions"].as_array().unwrap() {
            for d in set.as_array().unwrap() {
                assert!(v[d.as_str().unwrap()].is_string(), "{d}");
            }
        }
        assert_eq!(v["Operation"], "Users.create");
        assert_eq!(v["StatusClass"], "2xx");
        assert_eq!(v["Latency"], 12.346);
        assert_eq!(v["Requests"], 1);
        assert_eq!(v["StoreCalls"], 1);
        assert_eq!(v["RequestId"], "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(304), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
