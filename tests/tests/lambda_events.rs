//! Lambda events through the code path the Lambda runtime uses: the JSON event is deserialised
//! as `lambda_http`'s `LambdaRequest`, handed with an invocation context to `lambda_http::Adapter`
//! (what `lambda_http::run` wraps around our service), and the `LambdaResponse` it returns is
//! serialised back to the JSON API Gateway would receive. No network is involved.
//!
//! The events under `tests/lambda-events/` have the shapes AWS documents for API Gateway HTTP
//! APIs (payload 2.0), REST APIs (payload 1.0) and function URLs, with the headers CloudFront
//! adds in front of API Gateway (template.yaml): `X-Forwarded-Host` set by the viewer-request
//! function to the host the IdP called, and the origin secret header. `{{name}}` placeholders are
//! filled in by the test.

use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Service, ServiceExt};
use lambda_http::{Adapter, Context, LambdaEvent};
use scim_lambda::auth::TokenVerifier;
use scim_lambda::config::Config;
use scim_lambda::state::AppState;
use scim_proto::SchemaRegistry;
use scim_store::{MemoryStore, TenantId};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "SCIM_lambda-events-token";
const ORIGIN_SECRET: &str = "origin-secret-4a1f0c9e7b2d";
const CLOUDFRONT_BASE: &str = "https://d111111abcdef8.cloudfront.net/scim/v2";
const CUSTOM_DOMAIN_BASE: &str = "https://scim.example.com/scim/v2";

/// The Lambda handler as `main.rs` builds it, with `SCIM_*` settings from `vars`.
struct Function {
    service: scim_lambda::lambda::LambdaService,
}

/// What API Gateway would receive, read back from the serialised `LambdaResponse`.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: serde_json::Map<String, Value>,
    body: Value,
    raw: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        let find = |map: &serde_json::Map<String, Value>| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        // Payload 2.0 answers in `headers`; lambda_http answers payload 1.0 in `multiValueHeaders`.
        find(&self.headers)
            .or_else(|| self.raw["multiValueHeaders"].as_object().and_then(find))
            .map(|v| match v {
                Value::Array(a) => a.first().and_then(Value::as_str).unwrap_or("").to_string(),
                Value::String(s) => s,
                other => other.to_string(),
            })
    }
}

impl Function {
    fn new(vars: &[(&str, &str)]) -> Function {
        let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let config = Config::from_lookup(lookup, true).expect("config");
        let registry = Arc::new(SchemaRegistry::standard());
        let mut tokens = TokenVerifier::default();
        tokens.register("okta-prod", TOKEN, TenantId::new("acme").expect("tenant"));
        let state = AppState {
            config: Arc::new(config),
            store: Arc::new(MemoryStore::new(registry.clone())),
            registry,
            tokens: Arc::new(tokens),
        };
        Function {
            service: scim_lambda::lambda::service(state),
        }
    }

    /// The usual deployment: behind CloudFront, with the origin secret set.
    fn behind_cloudfront() -> Function {
        Function::new(&[("SCIM_ORIGIN_SECRET", ORIGIN_SECRET), ("SCIM_STORE", "memory")])
    }

    async fn invoke(&self, fixture: &str, vars: &[(&str, &str)]) -> Answer {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("lambda-events")
            .join(fixture);
        let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (k, v) in [("token", TOKEN), ("origin_secret", ORIGIN_SECRET)]
            .iter()
            .chain(vars)
        {
            text = text.replace(&format!("{{{{{k}}}}}"), v);
        }
        assert!(!text.contains("{{"), "{fixture}: unfilled placeholder");
        let payload: LambdaRequest = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{fixture}: {e}"));
        let mut context = Context::default();
        context.request_id = format!("lambda-req-{fixture}");
        let mut adapter = Adapter::from(self.service.clone());
        let response = adapter
            .ready()
            .await
            .expect("ready")
            .call(LambdaEvent::new(payload, context))
            .await
            .expect("infallible");
        let raw = serde_json::to_value(&response).expect("LambdaResponse serialises");
        let status = u16::try_from(raw["statusCode"].as_u64().expect("statusCode")).expect("status");
        assert_eq!(
            raw["isBase64Encoded"], false,
            "{fixture}: SCIM JSON must go back as text, not base64"
        );
        let body = match raw["body"].as_str() {
            Some(s) if !s.is_empty() => {
                serde_json::from_str(s).unwrap_or_else(|e| panic!("{fixture}: {e}: {s}"))
            }
            _ => Value::Null,
        };
        let headers = raw["headers"].as_object().cloned().unwrap_or_default();
        Answer {
            status,
            headers,
            body,
            raw,
        }
    }
}

fn assert_scim_error(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(
        answer.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(answer.body["status"], status.to_string());
    assert!(answer
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/scim+json")));
}

#[tokio::test]
async fn http_api_create_get_filter_patch_through_cloudfront() {
    let f = Function::behind_cloudfront();

    let created = f.invoke("apigw-v2-create-user.json", &[]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    let location = format!("{CLOUDFRONT_BASE}/Users/{id}");
    // RFC 7644 §3.3: Location equals meta.location, and both name the URL the IdP called.
    assert_eq!(created.header("location").as_deref(), Some(location.as_str()));
    assert_eq!(created.body["meta"]["location"], location.as_str());
    assert!(!created.body.to_string().contains("execute-api"));
    assert!(created.body.get("password").is_none());

    let got = f.invoke("apigw-v2-get-user.json", &[("id", &id)]).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["userName"], "bjensen@example.com");
    assert_eq!(got.body["meta"]["location"], location.as_str());
    assert!(got.header("etag").is_some());

    // `+` for spaces, as Okta and Entra send the filter.
    let found = f.invoke("apigw-v2-filter-plus.json", &[]).await;
    assert_eq!(found.status, 200, "{:?}", found.body);
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    assert_eq!(found.body["Resources"][0]["meta"]["location"], location.as_str());

    // Entra's capitalised ops and string boolean.
    let patched = f.invoke("apigw-v2-patch-user.json", &[("id", &id)]).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["name"]["familyName"], "Jensen-Smith");
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["meta"]["location"], location.as_str());
}

#[tokio::test]
async fn http_api_base64_body() {
    let f = Function::behind_cloudfront();
    let created = f.invoke("apigw-v2-create-user-base64.json", &[]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "7"
    );
    let id = created.body["id"].as_str().expect("id");
    assert_eq!(
        created.header("location").as_deref(),
        Some(format!("{CLOUDFRONT_BASE}/Users/{id}").as_str())
    );
}

#[tokio::test]
async fn http_api_named_stage_prefix_is_removed() {
    let f = Function::behind_cloudfront();
    let created = f.invoke("apigw-v2-create-user.json", &[]).await;
    let id = created.body["id"].as_str().expect("id").to_string();
    let got = f
        .invoke("apigw-v2-named-stage-get-user.json", &[("id", &id)])
        .await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(
        got.body["meta"]["location"],
        format!("{CLOUDFRONT_BASE}/Users/{id}").as_str()
    );
}

#[tokio::test]
async fn rest_api_with_stage_base64_and_multi_value_query() {
    let f = Function::behind_cloudfront();
    // The CloudFront function copied the viewer's Host (a custom domain here) into X-Forwarded-Host.
    let created = f.invoke("apigw-v1-create-user-stage.json", &[]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    let location = format!("{CUSTOM_DOMAIN_BASE}/Users/{id}");
    assert_eq!(created.header("location").as_deref(), Some(location.as_str()));

    let got = f.invoke("apigw-v1-get-user-stage.json", &[("id", &id)]).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["userName"], "jdoe@example.com");
    assert_eq!(got.body["meta"]["location"], location.as_str());

    let listed = f.invoke("apigw-v1-list-multivalue.json", &[]).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["totalResults"], 1);
    assert_eq!(listed.body["itemsPerPage"], 1);
    assert_eq!(listed.body["Resources"][0]["id"], id.as_str());
}

#[tokio::test]
async fn public_base_url_setting_wins() {
    let f = Function::new(&[
        ("SCIM_ORIGIN_SECRET", ORIGIN_SECRET),
        ("SCIM_STORE", "memory"),
        ("SCIM_PUBLIC_BASE_URL", "https://id.example.org/scim/v2"),
    ]);
    let created = f.invoke("apigw-v2-create-user.json", &[]).await;
    let id = created.body["id"].as_str().expect("id");
    assert_eq!(
        created.header("location").as_deref(),
        Some(format!("https://id.example.org/scim/v2/Users/{id}").as_str())
    );
}

#[tokio::test]
async fn calls_around_cloudfront_are_refused() {
    let f = Function::behind_cloudfront();
    // Straight to the execute-api URL: no origin header.
    let direct = f
        .invoke("apigw-v2-direct-without-cloudfront.json", &[("id", "x")])
        .await;
    assert_scim_error(&direct, 403);
    // Through CloudFront the same request passes the check (and the id is unknown).
    let through = f.invoke("apigw-v2-get-user.json", &[("id", "x")]).await;
    assert_scim_error(&through, 404);
    // A function configured with another secret refuses CloudFront's header.
    let wrong = Function::new(&[("SCIM_ORIGIN_SECRET", "another-secret"), ("SCIM_STORE", "memory")]);
    assert_scim_error(&wrong.invoke("apigw-v2-get-user.json", &[("id", "x")]).await, 403);
}

#[tokio::test]
async fn function_url_event_reaches_the_same_router() {
    // A function URL has no CloudFront in front: no origin secret, base URL from Host.
    let f = Function::new(&[("SCIM_STORE", "memory")]);
    let created = f
        .invoke("apigw-v2-create-user.json", &[("origin_secret", "")])
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    let got = f.invoke("function-url-get-user.json", &[("id", &id)]).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["userName"], "bjensen@example.com");
    assert!(
        got.body.get("name").is_none(),
        "attributes=userName,meta projects"
    );
    assert_eq!(
        got.body["meta"]["location"],
        format!("https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/scim/v2/Users/{id}")
            .as_str()
    );
}

/// A `tracing` writer that keeps what it is given.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn one_json_log_line_per_request_without_the_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let f = Function::behind_cloudfront();
    let created = f.invoke("apigw-v2-create-user.json", &[]).await;
    assert_eq!(created.status, 201);

    let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
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
    assert_eq!(fields["token_id"], "okta-prod");
    assert_eq!(fields["method"], "POST");
    assert_eq!(fields["route"], "/scim/v2/Users");
    assert_eq!(fields["operation"], "Users.create");
    assert_eq!(fields["status"], 201);
    assert_eq!(fields["store_calls"], 1);
    assert!(fields["latency_ms"].as_f64().is_some());
    assert!(!text.contains(TOKEN), "the token never reaches a log");
    assert!(!text.contains(ORIGIN_SECRET), "nor the origin secret");
    assert!(!text.contains("1mz050nq"), "nor the password");
}
