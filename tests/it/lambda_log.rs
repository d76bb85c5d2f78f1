//! The Lambda request log, alone in a process of its own (`scim_blackbox::alone_in_process`): it
//! installs a thread-local tracing subscriber, and tests running beside it in one process could
//! leave the log call site's interest cached as "never" before it is installed.

use scim_blackbox::alone_in_process;
use scim_blackbox::lambda::{Function, ORIGIN_SECRET};
use scim_blackbox::logs::Captured;
use serde_json::Value;

#[tokio::test]
async fn one_json_log_line_per_request_without_the_token() {
    if !alone_in_process(module_path!(), "one_json_log_line_per_request_without_the_token") {
        return;
    }
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .without_time()
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let f = Function::behind_cloudfront().await;
    let created = f.invoke("apigw-v2-create-user.json", &[]).await;
    assert_eq!(created.status, 201);

    let text = captured.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .filter(|v: &Value| v["fields"]["message"] == "request")
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let fields = &lines[0]["fields"];
    assert_eq!(fields["request_id"], "lambda-req-apigw-v2-create-user.json");
    assert_eq!(fields["gateway_request_id"], "Gm2xqi3XDoEEJbA=");
    assert_eq!(fields["tenant"], "acme");
    assert_eq!(fields["token_id"], f.token_id());
    assert_eq!(fields["method"], "POST");
    assert_eq!(fields["route"], "/scim/v2/Users");
    assert_eq!(fields["operation"], "Users.create");
    assert_eq!(fields["status"], 201);
    assert_eq!(fields["store_calls"], 1);
    assert!(fields["items_read"].is_u64(), "{fields}");
    // Behind CloudFront: the viewer address CloudFront's function wrote, not the first entry of
    // X-Forwarded-For, which the client chose (API Gateway's own source is the edge).
    assert_eq!(fields["client"], "203.0.113.10");
    assert!(fields["latency_ms"].as_f64().is_some());
    assert!(!text.contains(f.token()), "the token never reaches a log");
    assert!(!text.contains(ORIGIN_SECRET), "nor the origin secret");
    assert!(!text.contains("1mz050nq"), "nor the password");
}
