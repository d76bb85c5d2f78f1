//! Lambda events through the code path the Lambda runtime uses: a JSON event file is
//! deserialised as `lambda_http`'s `LambdaRequest`, handed with an invocation context to
//! `lambda_http::Adapter` (what `lambda_http::run` wraps around the service), and the
//! `LambdaResponse` it returns is serialised back to the JSON API Gateway would receive.
//!
//! The events under `tests/lambda-events/` have the shapes AWS documents for API Gateway HTTP
//! APIs (payload 2.0), REST APIs (payload 1.0) and function URLs, with the headers CloudFront
//! adds in front of API Gateway (template.yaml). `{{name}}` placeholders are filled in by the
//! caller.

use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Service, ServiceExt};
use lambda_http::{Adapter, Context, LambdaEvent};
use scim_auth::{update, FileRegistry, NewToken};
use serde_json::Value;
use std::path::PathBuf;

pub const ORIGIN_SECRET: &str = "origin-secret-4a1f0c9e7b2d";
pub const CLOUDFRONT_BASE: &str = "https://d111111abcdef8.cloudfront.net/scim/v2";
pub const CUSTOM_DOMAIN_BASE: &str = "https://scim.example.com/scim/v2";

/// The Lambda handler as `main.rs` builds it, with `SCIM_*` settings from `vars`.
#[allow(missing_debug_implementations)] // the Lambda service type has no Debug
pub struct Function {
    service: scim_lambda::lambda::LambdaService,
    token: String,
    token_id: String,
}

/// What API Gateway would receive, read back from the serialised `LambdaResponse`.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: serde_json::Map<String, Value>,
    pub body: Value,
    pub raw: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
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
    /// The function with its own registry holding one token of tenant `acme` (what `scimctl
    /// token create` makes: under Lambda no token is accepted from memory).
    pub async fn new(vars: &[(&str, &str)]) -> Function {
        let path = std::env::temp_dir()
            .join(scim_testkit::unique_name("scim-lambda-events"))
            .join("tokens.json");
        let now = time::OffsetDateTime::now_utc();
        let request = NewToken {
            name: "okta-prod".into(),
            tenant: "acme".into(),
            expires: now + time::Duration::days(30),
        };
        let issued = update(&FileRegistry::new(&path), |doc| doc.create(&request, now))
            .await
            .expect("a registry token");
        let registry = format!("file:{}", path.display());
        let vars: Vec<(&str, &str)> = [("SCIM_TOKEN_REGISTRY", registry.as_str())]
            .into_iter()
            .chain(vars.iter().copied())
            .collect();
        let state = crate::app_state(&vars, true, Vec::new()).await;
        Function {
            service: scim_lambda::lambda::service(state),
            token: issued.secret.expose().to_string(),
            token_id: issued.record.id,
        }
    }

    /// The bearer token the events carry (`{{token}}`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Its id, as the request log names it.
    pub fn token_id(&self) -> &str {
        &self.token_id
    }

    /// The usual deployment: behind CloudFront, with the origin secret set.
    pub async fn behind_cloudfront() -> Function {
        Function::new(&[("SCIM_ORIGIN_SECRET", ORIGIN_SECRET), ("SCIM_STORE", "memory")]).await
    }

    /// The serialised `LambdaResponse` to the event `fixture` (its body as the text it is).
    pub async fn invoke_raw(&self, fixture: &str, vars: &[(&str, &str)]) -> Value {
        let defaults = [("token", self.token.as_str()), ("origin_secret", ORIGIN_SECRET)];
        let vars: Vec<(&str, &str)> = vars.iter().chain(&defaults).copied().collect();
        let text = event_text(fixture, &vars);
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
        serde_json::to_value(&response).expect("LambdaResponse serialises")
    }

    /// [`Function::invoke_raw`] for a SCIM answer: its body read as JSON.
    pub async fn invoke(&self, fixture: &str, vars: &[(&str, &str)]) -> Answer {
        let raw = self.invoke_raw(fixture, vars).await;
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

/// The event `tests/lambda-events/<fixture>` with its `{{name}}` placeholders filled from
/// `vars` (the first value of a name wins); every placeholder must be filled.
pub fn event_text(fixture: &str, vars: &[(&str, &str)]) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("lambda-events")
        .join(fixture);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (k, v) in vars {
        text = text.replace(&format!("{{{{{k}}}}}"), v);
    }
    assert!(!text.contains("{{"), "{fixture}: unfilled placeholder");
    text
}

#[track_caller]
pub fn assert_scim_error(answer: &Answer, status: u16) {
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
