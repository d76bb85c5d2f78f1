//! The provisioning log under Lambda: the function's own entry, `scim_lambda::lambda::run`,
//! against the emulated Runtime API and Extensions API (`scim_blackbox::runtime_api`), alone in
//! a process of its own (`lambda_runtime` reads its settings from the process environment).
//!
//! Lambda freezes the environment once the runtime has posted the response and the extension
//! has asked for its next event; what is not written by then waits for the next invocation, or
//! is lost with the environment. The store holds each record back until the runtime has posted
//! its request's response (`scim_blackbox::gated_log`), so the order in the timeline shows both
//! halves of the design: the response never waits for the log, and the extension lets the
//! environment freeze only once the record is stored. An invocation without a record (no valid
//! token, or no HTTP event at all) must not hold the extension until its deadline either.

use scim_auth::StaticToken;
use scim_blackbox::gated_log::GatedLog;
use scim_blackbox::lambda::event_text;
use scim_blackbox::runtime_api::{RuntimeApi, Step, Timeline};
use scim_blackbox::{app_state_over, default_tenant, Backend, TOKEN};
use scim_store::{LogQuery, LogRecord, Store};
use std::sync::Arc;
use std::time::Duration;

/// The longest any one step may take: a hang fails the test instead of blocking it.
const WITHIN: Duration = Duration::from_secs(10);
/// The invocations' timeout: far beyond [`WITHIN`], so an extension that waited for the
/// deadline instead of the answer shows as a hang.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);

/// What an invocation carries.
enum Payload {
    /// The API Gateway create-user event with this bearer token.
    CreateUser { token: &'static str },
    /// No HTTP event at all (a direct invoke, a warm-up ping): the runtime reports an error
    /// without calling the handler.
    NotHttp,
}

struct Invocation {
    request_id: &'static str,
    payload: Payload,
    /// The HTTP status answered; `None`: the runtime reports an error instead.
    status: Option<u16>,
    /// Whether the request has a tenant, so a provisioning log record.
    logged: bool,
}

const INVOCATIONS: [Invocation; 4] = [
    Invocation {
        request_id: "inv-1-create",
        payload: Payload::CreateUser { token: TOKEN },
        status: Some(201),
        logged: true,
    },
    Invocation {
        request_id: "inv-2-not-http",
        payload: Payload::NotHttp,
        status: None,
        logged: false,
    },
    // The same userName again: refused, and recorded as an error.
    Invocation {
        request_id: "inv-3-duplicate",
        payload: Payload::CreateUser { token: TOKEN },
        status: Some(409),
        logged: true,
    },
    // No valid token, so no tenant whose log could hold it.
    Invocation {
        request_id: "inv-4-bad-token",
        payload: Payload::CreateUser {
            token: "SCIM_not-a-token",
        },
        status: Some(401),
        logged: false,
    },
];

fn position(steps: &[Step], what: impl Fn(&Step) -> bool) -> Option<usize> {
    steps.iter().position(what)
}

/// Where the extension asked for its `n`-th event (1-based).
fn extension_next(steps: &[Step], n: usize) -> Option<usize> {
    steps
        .iter()
        .enumerate()
        .filter(|(_, s)| **s == Step::ExtensionNext)
        .nth(n - 1)
        .map(|(i, _)| i)
}

fn count(steps: &[Step], step: &Step) -> usize {
    steps.iter().filter(|s| *s == step).count()
}

async fn records_of(store: &dyn Store, request_id: &str) -> Vec<LogRecord> {
    let query = LogQuery {
        limit: 100,
        ..LogQuery::default()
    };
    let page = store
        .read_log(&default_tenant(), &query)
        .await
        .expect("the log reads");
    page.records
        .into_iter()
        .filter(|r| r.request_id == request_id)
        .collect()
}

/// Runs on each store, the test alone in a process.
mod each_record_is_stored_after_its_response_and_before_the_freeze {
    use scim_blackbox::{alone_in_process, Backend};

    #[test]
    fn memory() {
        if alone_in_process(module_path!(), "memory") {
            super::in_lambda_environment(Backend::Memory);
        }
    }

    #[test]
    fn dynamodb() {
        if alone_in_process(module_path!(), "dynamodb") {
            super::in_lambda_environment(Backend::DynamoDb);
        }
    }
}

/// Sets the process up as Lambda does and runs the invocations against the function on
/// `backend`.
fn in_lambda_environment(backend: Backend) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    // What Lambda sets in the environment, read by lambda_runtime and lambda-extension (and by
    // scim-lambda: EMF lines on stdout); set before this process runs any other thread.
    std::env::set_var("AWS_LAMBDA_RUNTIME_API", &address);
    std::env::set_var("AWS_LAMBDA_FUNCTION_NAME", "scim");
    std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512");
    std::env::set_var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(backend.run(invocations(listener)));
    // The function still waits for its next invocation: stop it with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(1));
}

async fn invocations(listener: std::net::TcpListener) {
    let timeline = Timeline::default();
    let api = RuntimeApi::start(listener, timeline.clone());
    let statics = vec![StaticToken::new("okta", TOKEN, default_tenant())];
    let gated = timeline.clone();
    let state = app_state_over(&[("SCIM_STORE", "memory")], true, statics, |store| {
        Arc::new(GatedLog::new(store, gated))
    })
    .await;
    let store = state.store.clone();
    let log = state.log.clone();
    // The function's future is not Send (lambda_http's handler), so it runs on this task.
    tokio::select! {
        stopped = scim_lambda::lambda::run(state) => panic!("the function stopped: {stopped:?}"),
        () = drive(&api, &timeline, store.as_ref()) => {}
    }
    assert_eq!(log.losses(), (0, 0), "no record dropped, no write failed");
    // Two records, one token use (once a minute), one read of the tenant's settings (cached).
    assert_eq!(log.store_calls(), 4, "the writer's store calls");
}

/// The invocations, one after the other, each checked once the environment could freeze.
async fn drive(api: &RuntimeApi, timeline: &Timeline, store: &dyn Store) {
    for (n, invocation) in INVOCATIONS.iter().enumerate() {
        let id = invocation.request_id;
        // Lambda starts an invocation once the runtime and the extension both wait for one.
        timeline
            .wait_for("runtime and extension waiting", WITHIN, |s| {
                count(s, &Step::RuntimeNext) == n + 1 && count(s, &Step::ExtensionNext) == n + 1
            })
            .await;
        let event = match invocation.payload {
            Payload::CreateUser { token } => event_text(
                "apigw-v2-create-user.json",
                &[("token", token), ("origin_secret", "-")],
            ),
            Payload::NotHttp => r#""warm-up""#.to_string(),
        };
        api.invoke(id, event, INVOCATION_TIMEOUT);
        // (1) the response is posted, and (2) the extension asks for its next event, after
        // which Lambda may freeze the environment.
        let steps = timeline
            .wait_for(
                &format!("{id}: response and the extension's next call"),
                WITHIN,
                |s| position(s, |step| step.answers(id)).is_some() && extension_next(s, n + 2).is_some(),
            )
            .await;
        let freeze = extension_next(&steps, n + 2).expect("waited for");
        let posted = position(&steps, |s| s.answers(id)).expect("waited for");
        match (&steps[posted], invocation.status) {
            (Step::Response { payload, .. }, Some(status)) => {
                assert_eq!(payload["statusCode"], status, "{id}: {payload}");
            }
            (Step::Error { .. }, None) => {}
            (step, status) => panic!("{id}: expected status {status:?}, got {step:?}"),
        }
        let written = position(&steps, |s| {
            *s == Step::LogWritten {
                request_id: id.into(),
            }
        });
        let records = records_of(store, id).await;
        if invocation.logged {
            // (3) the response went out first, independently of the log write (which the
            // store held back until it had), and (2) the record was stored before the freeze.
            let written = written.unwrap_or_else(|| panic!("{id}: no record before the freeze: {steps:#?}"));
            assert!(posted < written, "{id}: response after the log write: {steps:#?}");
            assert!(
                written < freeze,
                "{id}: the extension let go before the write: {steps:#?}"
            );
            assert_eq!(records.len(), 1, "{id}: {records:?}");
            assert_eq!(Some(records[0].status), invocation.status);
            assert_eq!(records[0].operation, "Users.create");
        } else {
            // Nothing to write, and still the extension asked for its next event, long before
            // the invocation's deadline: no hang.
            assert_eq!(written, None, "{id}: {steps:#?}");
            assert!(records.is_empty(), "{id}: {records:?}");
        }
    }

    let steps = timeline.steps();
    assert_eq!(
        steps[0],
        Step::Registered {
            name: "scim-provisioning-log".into(),
            events: vec!["INVOKE".into()],
        },
        "the extension registers before the runtime asks for an invocation"
    );
    let duplicate = &records_of(store, "inv-3-duplicate").await[0];
    assert_eq!(duplicate.scim_type.as_deref(), Some("uniqueness"));
}
