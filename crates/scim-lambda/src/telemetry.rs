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

use crate::auth::Tenant;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use scim_store::metering;
use serde_json::{json, Map, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The CloudWatch namespace of the metrics (template.yaml's alarms and dashboard use it).
pub const METRICS_NAMESPACE: &str = "ScimService";

/// Where telemetry goes.
#[derive(Debug, Clone, Copy)]
pub struct Telemetry {
    /// Write an EMF line per request to stdout (under Lambda, where CloudWatch Logs reads it).
    pub emf: bool,
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
    doc.insert(
        "Latency".into(),
        json!((record.latency_ms * 1000.0).round() / 1000.0),
    );
    doc.insert("Requests".into(), 1.into());
    doc.insert("StoreCalls".into(), record.store_calls.into());
    doc.insert("Status".into(), record.status.into());
    if let Some(id) = &record.request_id {
        doc.insert("RequestId".into(), id.clone().into());
    }
    Value::Object(doc).to_string()
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
pub async fn log_request(State(telemetry): State<Telemetry>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let request_id = request.lambda_context_ref().map(|c| c.request_id.clone());
    let gateway_id = gateway_request_id(&request);
    let client = client_address(&request).map_or_else(|| "-".to_string(), |c| c.to_string());
    let (response, usage) = metering::metered(next.run(request)).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let record = RequestRecord {
        operation: operation(&method, route.as_deref()),
        status: response.status().as_u16(),
        latency_ms,
        store_calls: usage.calls,
        request_id,
    };
    let tenant = response.extensions().get::<Tenant>();
    tracing::info!(
        request_id = record.request_id.as_deref().unwrap_or("-"),
        gateway_request_id = gateway_id.as_deref().unwrap_or("-"),
        tenant = tenant.map(|t| t.id.as_str()).unwrap_or("-"),
        token_id = tenant.map(|t| t.token_id.as_str()).unwrap_or("-"),
        method = %method,
        route = route.as_deref().unwrap_or("-"),
        path = %path,
        operation = record.operation,
        status = record.status,
        latency_ms = latency_ms,
        store_calls = record.store_calls,
        items_read = usage.items_read,
        client = %client,
        "request"
    );
    if telemetry.emf {
        // stdout, one line: CloudWatch Logs extracts the metrics from it.
        println!("{}", emf_line(&record, now_ms()));
    }
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
