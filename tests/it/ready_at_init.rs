//! Ready at init (infra/README.md "Ready at init"): what `scim_lambda::startup::start` does in
//! Lambda's init phase leaves the first request nothing to set up. The function runs as under
//! Lambda (the emulated Runtime API), on DynamoDB with its token registry in Secrets Manager, both
//! moto behind a proxy that counts connections and calls. The first request must read no registry
//! (no Secrets Manager call at all) and make its first DynamoDB call on the connection init
//! opened: a new one would be a TLS handshake on AWS, on the request's critical path. (Later calls
//! of the request may still open one: hyper starts a connection when a call finds the previous
//! call's connection not yet back in the pool.)
//!
//! It also prints the figures the Lambda runtime would report for this init and this first
//! request (`Init Duration`: from the start of init to the runtime's first request for an
//! invocation; `Duration`: from handing the invocation over to its response), for the record, not
//! for assertions.

use scim_auth::{update, NewToken, SecretsManagerRegistry};
use scim_blackbox::alone_in_process;
use scim_blackbox::aws_proxy::{CountingProxy, Traffic};
use scim_blackbox::lambda::event_text;
use scim_blackbox::runtime_api::{RuntimeApi, Step, Timeline};
use scim_lambda::config::Config;
use std::time::{Duration, Instant};

/// The longest any one step may take: a hang fails the test instead of blocking it.
const WITHIN: Duration = Duration::from_secs(20);
const CURSOR_KEY: &str = "dGVzdC1jdXJzb3Ita2V5LWZvci1sYW1iZGEtZXZlbnRz";

#[test]
fn the_first_request_after_init_reads_no_registry_and_reuses_its_connection() {
    if !alone_in_process(
        module_path!(),
        "the_first_request_after_init_reads_no_registry_and_reuses_its_connection",
    ) {
        return;
    }
    let runtime_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    // What Lambda sets in the environment (the function's role credentials included), with every
    // AWS endpoint at the proxy; set before this process runs any other thread.
    let proxy_endpoint = format!("http://{}", proxy_listener.local_addr().expect("address"));
    for (name, value) in [
        (
            "AWS_LAMBDA_RUNTIME_API",
            runtime_listener.local_addr().expect("address").to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME", "scim".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_ENDPOINT_URL", proxy_endpoint),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ] {
        std::env::set_var(name, value);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(init_then_first_request(runtime_listener, proxy_listener));
    // The function still waits for its next invocation: stop it with the runtime.
    runtime.shutdown_timeout(Duration::from_secs(1));
}

async fn init_then_first_request(
    runtime_listener: std::net::TcpListener,
    proxy_listener: std::net::TcpListener,
) {
    let moto = &scim_testkit::moto().endpoint;
    let proxy = CountingProxy::start(proxy_listener, moto);
    // The table and the registry with one token, made directly on moto: not the function's work.
    let table = scim_testkit::unique_name("scim-ready");
    scim_dynamodb::create_table(&scim_testkit::dynamodb::client(), &table)
        .await
        .expect("the table");
    let secrets = aws_sdk_secretsmanager::Client::new(&scim_aws::defaults().endpoint_url(moto).load().await);
    let secret = scim_testkit::unique_name("scim-ready-tokens");
    let now = time::OffsetDateTime::now_utc();
    let request = NewToken {
        name: "okta-prod".into(),
        tenant: "acme".into(),
        expires: now + time::Duration::days(30),
    };
    let issued = update(&SecretsManagerRegistry::new(secrets, &secret), |doc| {
        doc.create(&request, now)
    })
    .await
    .expect("a registry token");
    let registry = format!("secretsmanager:{secret}");
    let settings = [
        ("SCIM_STORE", "dynamodb"),
        ("SCIM_TABLE", table.as_str()),
        ("SCIM_TOKEN_REGISTRY", registry.as_str()),
        ("SCIM_CURSOR_KEY", CURSOR_KEY),
    ];
    let lookup = |name: &str| {
        settings
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let config = Config::from_lookup(lookup, true).expect("a Lambda configuration");

    // The init phase, as main runs it.
    let before_init = proxy.traffic();
    let init_started = Instant::now();
    let started = scim_lambda::startup::start(config, true, &scim_aws::Aws::environment())
        .await
        .expect("init");
    let state = started.state;
    let tokens = state.tokens.clone();
    let timeline = Timeline::default();
    let api = RuntimeApi::start(runtime_listener, timeline.clone());
    let first_request = async {
        timeline
            .wait_for("the runtime waiting for its first invocation", WITHIN, |s| {
                s.contains(&Step::RuntimeNext) && s.contains(&Step::ExtensionNext)
            })
            .await;
        let init_duration = init_started.elapsed();
        let at_init = proxy.traffic();
        let loads_at_init = tokens.stats().registry_loads;
        let event = event_text(
            "apigw-v2-create-user.json",
            &[("token", issued.secret.expose()), ("origin_secret", "-")],
        );
        let invoked = Instant::now();
        api.invoke("inv-1-first", event, Duration::from_secs(60));
        let steps = timeline
            .wait_for("the first response", WITHIN, |s| {
                s.iter().any(|s| s.answers("inv-1-first"))
            })
            .await;
        let duration = invoked.elapsed();
        // The provisioning log is written after the response, before the extension's next call.
        timeline
            .wait_for("the extension done with the first invocation", WITHIN, |s| {
                s.iter().filter(|s| **s == Step::ExtensionNext).count() == 2
            })
            .await;
        let first = proxy.traffic().since(&at_init);
        println!(
            "REPORT RequestId: inv-1-first Duration: {:.2} ms Init Duration: {:.2} ms (moto on 127.0.0.1, no TLS)",
            duration.as_secs_f64() * 1000.0,
            init_duration.as_secs_f64() * 1000.0
        );
        println!("init: {:?}", at_init.since(&before_init).calls);
        println!(
            "first request: {:?}, {} new connection(s)",
            first.calls, first.connections
        );
        let answer = steps
            .iter()
            .find(|s| s.answers("inv-1-first"))
            .expect("waited for");
        let Step::Response { payload, .. } = answer else {
            panic!("the first invocation failed: {answer:?}");
        };
        assert_eq!(payload["statusCode"], 201, "{payload}");
        (at_init.since(&before_init), first, loads_at_init)
    };
    // The function's future is not Send (lambda_http's handler), so it runs on this task.
    let (init, first, loads_at_init): (Traffic, Traffic, u64) = tokio::select! {
        stopped = scim_lambda::lambda::run(state) => panic!("the function stopped: {stopped:?}"),
        outcome = first_request => outcome,
    };
    // Init read the registry (and its generation marker) and so opened both connections.
    assert_eq!(init.calls_to("secretsmanager.GetSecretValue"), 1, "{init:?}");
    assert_eq!(init.calls_to("DynamoDB_"), 1, "the generation marker: {init:?}");
    assert_eq!(loads_at_init, 1);
    // The first request reached DynamoDB first through the connection init opened, and read no
    // registry.
    let (target, connection) = first.log.first().expect("the first request's calls");
    assert!(target.starts_with("DynamoDB_"), "{first:?}");
    assert!(
        init.used(*connection),
        "the first call came on a new connection (a TLS handshake on AWS): {first:?}"
    );
    assert_eq!(
        first.calls_to("secretsmanager."),
        0,
        "no registry read: {first:?}"
    );
    assert_eq!(tokens.stats().registry_loads, 1, "no registry read");
}
