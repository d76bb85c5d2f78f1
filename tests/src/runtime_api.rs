//! The AWS Lambda Runtime API and Extensions API, emulated over HTTP on 127.0.0.1: enough for
//! `lambda_runtime` (1.5) and `lambda-extension` (1.1) to run a function against it as in a
//! Lambda execution environment (`AWS_LAMBDA_RUNTIME_API` names [`RuntimeApi::address`]).
//!
//! As Lambda does, it hands each invocation to the runtime (`GET /2018-06-01/runtime/invocation/next`)
//! and, as an `INVOKE` event, to the registered extension (`GET /2020-01-01/extension/event/next`);
//! a test starts an invocation once both wait for it, as Lambda starts one only then. Lambda
//! returns the response as soon as the runtime posts it, and freezes the environment once the
//! runtime and every extension have asked for their next invocation: the [`Timeline`] records
//! those calls in the order they arrived, so a test can say what had happened by the freeze.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch, Mutex};

/// The id the emulator gives the one extension it registers.
const EXTENSION_ID: &str = "scim-test-extension-id";
const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:scim";

/// One call the function made to the emulator, or one thing a test's store did (so both land in
/// one order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An extension registered (`Lambda-Extension-Name`, the events it asked for).
    Registered { name: String, events: Vec<String> },
    /// The runtime asked for its next invocation.
    RuntimeNext,
    /// The extension asked for its next event.
    ExtensionNext,
    /// The runtime posted an invocation's response (the payload it posted).
    Response { request_id: String, payload: Value },
    /// The runtime reported an invocation as failed.
    Error { request_id: String, payload: Value },
    /// A provisioning log record of this request was stored (by the test's store).
    LogWritten { request_id: String },
}

impl Step {
    /// Whether the runtime answered invocation `request_id` with this step.
    pub fn answers(&self, request_id: &str) -> bool {
        matches!(self, Step::Response { request_id: id, .. } | Step::Error { request_id: id, .. } if id == request_id)
    }
}

/// The steps seen so far, in order; shared by the emulator and whatever else a test lets
/// record into it.
#[derive(Debug, Clone)]
pub struct Timeline(watch::Sender<Vec<Step>>);

impl Default for Timeline {
    fn default() -> Self {
        Timeline(watch::Sender::new(Vec::new()))
    }
}

impl Timeline {
    pub fn push(&self, step: Step) {
        self.0.send_modify(|steps| steps.push(step));
    }

    pub fn steps(&self) -> Vec<Step> {
        self.0.borrow().clone()
    }

    /// Waits until `done` holds for the steps, at most `within`; whether it came to hold.
    pub async fn until(&self, within: Duration, done: impl Fn(&[Step]) -> bool) -> bool {
        let mut steps = self.0.subscribe();
        let waited = tokio::time::timeout(within, steps.wait_for(|s| done(s))).await;
        matches!(waited, Ok(Ok(_)))
    }

    /// The steps once `done` holds for them; panics (with the timeline) after `within`.
    pub async fn wait_for(&self, what: &str, within: Duration, done: impl Fn(&[Step]) -> bool) -> Vec<Step> {
        assert!(
            self.until(within, done).await,
            "{what}: not within {within:?}; timeline: {:#?}",
            self.steps()
        );
        self.steps()
    }
}

/// One invocation as Lambda hands it out.
#[derive(Debug, Clone)]
struct Invocation {
    request_id: String,
    deadline_ms: u64,
    trace_id: String,
    /// The event the function receives, as JSON text.
    event: String,
}

#[derive(Debug)]
struct Shared {
    timeline: Timeline,
    to_runtime: mpsc::UnboundedSender<Invocation>,
    to_extension: mpsc::UnboundedSender<Invocation>,
    runtime_queue: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    extension_queue: Mutex<mpsc::UnboundedReceiver<Invocation>>,
}

/// The emulated APIs, serving on a listener of the test's.
#[derive(Debug, Clone)]
pub struct RuntimeApi {
    /// `127.0.0.1:<port>`: the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    shared: Arc<Shared>,
}

impl RuntimeApi {
    /// Serves on `listener` (bound by the caller before it set `AWS_LAMBDA_RUNTIME_API`),
    /// recording into `timeline`.
    pub fn start(listener: std::net::TcpListener, timeline: Timeline) -> RuntimeApi {
        let address = listener.local_addr().expect("the emulator's address").to_string();
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        let (to_runtime, runtime_queue) = mpsc::unbounded_channel();
        let (to_extension, extension_queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            timeline,
            to_runtime,
            to_extension,
            runtime_queue: Mutex::new(runtime_queue),
            extension_queue: Mutex::new(extension_queue),
        });
        let app = Router::new()
            .route("/2020-01-01/extension/register", post(register))
            .route("/2020-01-01/extension/event/next", get(extension_next))
            .route("/2018-06-01/runtime/invocation/next", get(runtime_next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        RuntimeApi { address, shared }
    }

    /// Starts invocation `request_id` with this API Gateway event; it must end within `timeout`.
    pub fn invoke(&self, request_id: &str, event: String, timeout: Duration) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("a clock after 1970")
            .as_millis();
        let invocation = Invocation {
            request_id: request_id.to_string(),
            deadline_ms: u64::try_from(now_ms + timeout.as_millis()).expect("a deadline in range"),
            trace_id: format!("Root=1-67a1b2c3-{request_id};Sampled=0"),
            event,
        };
        self.shared
            .to_extension
            .send(invocation.clone())
            .expect("the emulator runs");
        self.shared
            .to_runtime
            .send(invocation)
            .expect("the emulator runs");
    }
}

/// `POST /2020-01-01/extension/register`: what lambda-extension reads back is the identifier
/// header and the function's description.
async fn register(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let name = header(&headers, "Lambda-Extension-Name").unwrap_or_default();
    let events = body["events"]
        .as_array()
        .map(|e| e.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    shared.timeline.push(Step::Registered { name, events });
    (
        [("Lambda-Extension-Identifier", EXTENSION_ID)],
        Json(json!({
            "functionName": "scim",
            "functionVersion": "$LATEST",
            "handler": "bootstrap",
            "accountId": "123456789012",
        })),
    )
        .into_response()
}

/// `GET /2020-01-01/extension/event/next`: held until the next invocation starts.
async fn extension_next(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if header(&headers, "Lambda-Extension-Identifier").as_deref() != Some(EXTENSION_ID) {
        return (StatusCode::FORBIDDEN, "unknown extension identifier").into_response();
    }
    shared.timeline.push(Step::ExtensionNext);
    let Some(invocation) = shared.extension_queue.lock().await.recv().await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    Json(json!({
        "eventType": "INVOKE",
        "deadlineMs": invocation.deadline_ms,
        "requestId": invocation.request_id,
        "invokedFunctionArn": FUNCTION_ARN,
        "tracing": {"type": "X-Amzn-Trace-Id", "value": invocation.trace_id},
    }))
    .into_response()
}

/// `GET /2018-06-01/runtime/invocation/next`: held until the next invocation starts; the
/// invocation's context travels in headers, the event is the body.
async fn runtime_next(State(shared): State<Arc<Shared>>) -> Response {
    shared.timeline.push(Step::RuntimeNext);
    let Some(invocation) = shared.runtime_queue.lock().await.recv().await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    (
        [
            ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
            ("Lambda-Runtime-Deadline-Ms", invocation.deadline_ms.to_string()),
            ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN.to_string()),
            ("Lambda-Runtime-Trace-Id", invocation.trace_id),
            ("Content-Type", "application/json".to_string()),
        ],
        invocation.event,
    )
        .into_response()
}

/// `POST /2018-06-01/runtime/invocation/{id}/response`
async fn response(
    State(shared): State<Arc<Shared>>,
    Path(request_id): Path<String>,
    body: String,
) -> Response {
    let payload = serde_json::from_str(&body).unwrap_or(Value::String(body));
    shared.timeline.push(Step::Response { request_id, payload });
    accepted()
}

/// `POST /2018-06-01/runtime/invocation/{id}/error`
async fn error(State(shared): State<Arc<Shared>>, Path(request_id): Path<String>, body: String) -> Response {
    let payload = serde_json::from_str(&body).unwrap_or(Value::String(body));
    shared.timeline.push(Step::Error { request_id, payload });
    accepted()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({"status": "OK"}))).into_response()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
