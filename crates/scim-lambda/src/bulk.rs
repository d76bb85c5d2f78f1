//! `POST /Bulk` (RFC 7644 §3.7). `scim_proto::bulk` parses the request, plans the order and
//! builds the response; here each operation runs through the same [`Service`] call its single
//! request would (validation, conflict policy, group members, events, retries, `If-Match` from
//! its `version`), one after the other, and gets its own provisioning log record.
//!
//! Nothing holds across operations beyond the RFC: each is its own request, committed or not on
//! its own; a later failure undoes nothing, and other clients may see the changes of the first
//! operations before the last has run.

use crate::auth::Tenant;
use crate::error::ApiError;
use crate::extract::body_too_large;
use crate::provisioning_log::{note, with_notes};
use crate::service::{Service, Shown};
use crate::shape::ResponseShape;
use crate::state::AppState;
use crate::telemetry::{log_inner_operation, InnerOperation, RequestOrigin};
use axum::body::Bytes;
use axum::http::Method;
use scim_proto::bulk::{
    bulk_response, BulkMethod, BulkOperation, BulkPlan, BulkRequest, ErrorBudget, OperationResult,
};
use scim_proto::{etag, ScimError};
use scim_store::{Include, ResourceKind};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Instant;

/// Who runs a bulk request, and where its records go.
#[derive(Debug)]
pub struct BulkCaller<'a> {
    pub state: &'a AppState,
    pub tenant: &'a Tenant,
    pub base_url: &'a str,
    pub origin: &'a RequestOrigin,
}

/// What a successful operation did.
struct Done {
    kind: ResourceKind,
    status: u16,
    shown: Shown,
}

/// Runs `request` and answers its BulkResponse (always 200: each operation has its own status)
/// with the number of operations run. Once `failOnErrors` operations failed, the rest are not
/// run and not listed (§3.7.3).
pub async fn run(caller: &BulkCaller<'_>, request: &BulkRequest) -> (Value, u64) {
    let plan = request.plan();
    let mut created: HashMap<String, String> = HashMap::new();
    let mut budget = ErrorBudget::new(request.fail_on_errors);
    let mut results = Vec::with_capacity(plan.order.len());
    for &n in &plan.order {
        let op = &request.operations[n];
        let arrived = scim_store::now();
        let started = Instant::now();
        let (outcome, notes) = with_notes(run_one(caller, op, &plan, &created)).await;
        let result = match outcome {
            Ok(done) => {
                if let (BulkMethod::Post, Some(bulk_id)) = (op.method, &op.bulk_id) {
                    created.insert(bulk_id.clone(), done.shown.id.clone());
                }
                let svc = service(caller, done.kind);
                OperationResult {
                    method: op.method,
                    bulk_id: op.bulk_id.clone(),
                    location: Some(svc.location(done.kind, &done.shown.id)),
                    version: (op.method != BulkMethod::Delete).then(|| etag::weak_etag(done.shown.version)),
                    status: done.status,
                    error: None,
                }
            }
            Err(e) => OperationResult {
                method: op.method,
                bulk_id: op.bulk_id.clone(),
                location: None,
                version: None,
                status: e.error.status,
                error: Some(e.error),
            },
        };
        let inner = InnerOperation {
            n,
            method: method_of(op.method),
            route: kind_of(&op.endpoint).is_ok().then(|| {
                let item = if op.id.is_some() { "/{id}" } else { "" };
                format!("{}/{}{item}", crate::BASE_PATH, op.endpoint)
            }),
            path: format!(
                "{}/{}{}",
                crate::BASE_PATH,
                op.endpoint,
                op.id.as_deref().map(|id| format!("/{id}")).unwrap_or_default()
            ),
            arrived,
            status: result.status,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            error_body: result
                .error
                .as_ref()
                .and_then(|e| serde_json::to_vec(&e.to_json()).ok())
                .map(Bytes::from),
        };
        log_inner_operation(&caller.state.log, caller.tenant, caller.origin, inner, notes);
        let go_on = budget.record(&result);
        results.push((n, result));
        if !go_on {
            break;
        }
    }
    let ran = results.len() as u64;
    (bulk_response(results), ran)
}

fn service<'a>(caller: &BulkCaller<'a>, kind: ResourceKind) -> Service<'a> {
    Service {
        state: caller.state,
        tenant: &caller.tenant.id,
        kind,
        base_url: caller.base_url,
    }
}

fn method_of(method: BulkMethod) -> Method {
    match method {
        BulkMethod::Post => Method::POST,
        BulkMethod::Put => Method::PUT,
        BulkMethod::Patch => Method::PATCH,
        BulkMethod::Delete => Method::DELETE,
    }
}

/// The resource type of an endpoint, spelled as the routes spell it.
fn kind_of(endpoint: &str) -> Result<ResourceKind, ScimError> {
    match endpoint {
        "Users" => Ok(ResourceKind::User),
        "Groups" => Ok(ResourceKind::Group),
        other => Err(ScimError::not_found(format!(
            "no resource type endpoint '/{other}'; bulk operations act on /Users and /Groups"
        ))),
    }
}

/// One operation, through the service call of its single request. The BulkResponse carries no
/// resource bodies, so nothing beyond the resource item is loaded for one (a single request's
/// answer may read a group's members or a user's groups back): an operation costs at most what
/// its single request costs.
async fn run_one(
    caller: &BulkCaller<'_>,
    op: &BulkOperation,
    plan: &BulkPlan,
    created: &HashMap<String, String>,
) -> Result<Done, ApiError> {
    let kind = kind_of(&op.endpoint)?;
    let resolved = op.resolve(plan, created)?;
    if let Some(data) = &resolved.data {
        // The body the single request would have carried: within the single request's limit,
        // and kept for the record's `log_bodies`.
        let body = Bytes::from(serde_json::to_vec(data).unwrap_or_default());
        let limit = caller.state.config.max_body_bytes;
        if body.len() > limit {
            return Err(body_too_large(limit).into());
        }
        note(|n| n.request_body = Some(body));
    }
    let svc = service(caller, kind);
    let shape = ResponseShape {
        include: Include::NONE,
        access: false,
        ..caller.state.default_shapes.of(kind).clone()
    };
    let (id, data) = (resolved.id.as_deref().unwrap_or_default(), &resolved.data);
    let body = data.as_ref().unwrap_or(&Value::Null);
    let version = op.version.as_deref();
    let (status, shown) = match op.method {
        BulkMethod::Post => (201, svc.create(body, &shape).await?),
        BulkMethod::Put => (200, svc.replace(id, body, version, &shape).await?),
        // As the single PATCH answers: 200 for a user, 204 for a group (handlers::patch).
        BulkMethod::Patch => {
            let status = match kind {
                ResourceKind::User => 200,
                ResourceKind::Group => 204,
            };
            (status, svc.patch(id, body, version, None).await?)
        }
        BulkMethod::Delete => {
            svc.delete(id, version).await?;
            let shown = Shown {
                id: id.to_string(),
                version: 0,
                body: None,
            };
            (204, shown)
        }
    };
    Ok(Done { kind, status, shown })
}
