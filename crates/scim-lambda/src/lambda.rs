//! The AWS Lambda entry: API Gateway REST (payload 1.0), HTTP API (payload 2.0) and function URL
//! events, all served by the one [`router`](crate::router).
//!
//! `lambda_http` already turns each event into an `http::Request` (base64 bodies decoded,
//! multi-value query strings re-encoded, headers merged). What is left is the path: API Gateway
//! puts the stage in front of it (`/prod/scim/v2/Users` on a REST API, or on an HTTP API stage
//! other than `$default`), while the Router mounts everything at [`BASE_PATH`]. [`adapt`] removes
//! that prefix and nothing else, so every kind of event reaches the same routes.

use crate::state::AppState;
use crate::BASE_PATH;
use axum::http::uri::{PathAndQuery, Uri};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use std::borrow::Cow;
use tower::util::MapRequest;

/// What `lambda_http::run` drives: [`adapt`] in front of the Router.
pub type LambdaService = MapRequest<axum::Router, fn(lambda_http::Request) -> lambda_http::Request>;

/// The Lambda handler: the one Router behind [`adapt`].
pub fn service(state: AppState) -> LambdaService {
    MapRequest::new(crate::router(state), adapt as fn(_) -> _)
}

/// How long one invocation may spend writing its provisioning log records after its response:
/// beyond it they stay queued for the next invocation, so a slow table never holds an
/// environment for long.
const LOG_FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves Lambda events until the runtime stops. An internal extension, registered in this
/// process, receives each invocation's `INVOKE` event; it waits until the invocation has ended
/// and then flushes the provisioning log. Lambda sends the response as soon as the runtime
/// posts it, and freezes the environment only once the extension too has asked for the next
/// event, so the records are written after the answer and before the freeze.
///
/// The invocation's end is signalled around the whole runtime service, after its response or
/// error has been posted: an event that is no HTTP event (a direct invoke) or a handler that
/// panics (in a build that unwinds, such as `cargo lambda watch`'s; the deployed artifact aborts,
/// Cargo.toml says why) never reaches the Router's middleware, and the extension must not wait
/// for those until the invocation's deadline (Lambda would report a timeout and discard the
/// environment).
pub async fn run(state: AppState) -> Result<(), String> {
    let log = state.log.clone();
    let ended = state.log.clone();
    // What lambda_http::run builds, with the signal around it.
    let runtime = lambda_http::lambda_runtime::Runtime::new(lambda_http::Adapter::from(service(state)))
        .layer(lambda_http::lambda_runtime::layers::TracingLayer::new())
        .layer(tower::util::MapFutureLayer::new(move |invocation| {
            let log = ended.clone();
            async move {
                let outcome = invocation.await;
                log.answered();
                outcome
            }
        }));
    let flush = lambda_extension::service_fn(move |event: lambda_extension::LambdaEvent| {
        let log = log.clone();
        async move {
            if let lambda_extension::NextEvent::Invoke(invoke) = event.next {
                // A request that never answers (a panic) must not hold the extension past the
                // invocation's own deadline.
                log.next_answered(deadline_instant(invoke.deadline_ms)).await;
                if !log.flush(LOG_FLUSH_LIMIT).await {
                    tracing::warn!("provisioning log records left queued for the next invocation");
                }
            }
            Ok::<(), lambda_extension::Error>(())
        }
    });
    let extension = lambda_extension::Extension::new()
        .with_events(&["INVOKE"])
        .with_events_processor(flush)
        .with_extension_name("scim-provisioning-log")
        .register()
        .await
        .map_err(|e| format!("registering the provisioning log extension: {e}"))?;
    tokio::try_join!(async { runtime.run().await.map_err(|e| e.to_string()) }, async {
        extension.run().await.map_err(|e| e.to_string())
    },)
    .map(|_| ())
}

/// The monotonic instant of an invocation deadline given in epoch milliseconds.
fn deadline_instant(deadline_ms: u64) -> std::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    std::time::Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// Rewrites the request path so that it starts at [`BASE_PATH`] whatever the event source.
pub fn adapt(mut request: lambda_http::Request) -> lambda_http::Request {
    let stage = request
        .request_context_ref()
        .and_then(stage_of)
        .map(str::to_owned);
    let path = request.uri().path();
    let stripped = strip_stage(path, stage.as_deref());
    if stripped.len() != path.len() {
        if let Some(uri) = with_path(request.uri(), stripped) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// The stage an API Gateway event names; function URLs and HTTP APIs on `$default` have none
/// that appears in the path.
fn stage_of(context: &RequestContext) -> Option<&str> {
    let stage = match context {
        RequestContext::ApiGatewayV1(c) => c.stage.as_deref(),
        RequestContext::ApiGatewayV2(c) => c.stage.as_deref(),
        _ => None,
    };
    stage.filter(|s| !s.is_empty() && *s != "$default")
}

/// Whether `path` is [`BASE_PATH`] or below it (segment-wise: `/scim/v2x` is not).
fn under_base(path: &str) -> bool {
    path.strip_prefix(BASE_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Removes a leading `/<stage>` when what follows is [`BASE_PATH`]; any other path is returned
/// unchanged (and then answered 404 by the Router, like any unknown path).
pub fn strip_stage<'a>(path: &'a str, stage: Option<&str>) -> &'a str {
    if under_base(path) {
        return path;
    }
    let Some(stage) = stage else {
        return path;
    };
    match path.strip_prefix('/').and_then(|p| p.strip_prefix(stage)) {
        Some(rest) if under_base(rest) => rest,
        _ => path,
    }
}

/// `uri` with its path replaced, keeping scheme, authority and query.
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let path_and_query: Cow<'_, str> = match uri.query() {
        Some(q) => format!("{path}?{q}").into(),
        None => path.into(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query.as_ref()).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_stage_cases() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            // Already at the base path: unchanged, stage or not.
            ("/scim/v2/Users", None, "/scim/v2/Users"),
            ("/scim/v2/Users", Some("prod"), "/scim/v2/Users"),
            ("/scim/v2", Some("prod"), "/scim/v2"),
            // A REST API stage, or an HTTP API named stage, in front of the base path.
            ("/prod/scim/v2/Users", Some("prod"), "/scim/v2/Users"),
            ("/prod/scim/v2", Some("prod"), "/scim/v2"),
            (
                "/prod/scim/v2/Users/.search",
                Some("prod"),
                "/scim/v2/Users/.search",
            ),
            // Only the event's own stage is removed.
            ("/prod/scim/v2/Users", Some("dev"), "/prod/scim/v2/Users"),
            ("/prod/scim/v2/Users", None, "/prod/scim/v2/Users"),
            // Segment boundaries: neither a longer stage nor a longer base path matches.
            (
                "/production/scim/v2/Users",
                Some("prod"),
                "/production/scim/v2/Users",
            ),
            ("/prod/scim/v2x", Some("prod"), "/prod/scim/v2x"),
            ("/prodscim/v2", Some("prod"), "/prodscim/v2"),
            // Paths outside the API are left for the Router's 404.
            ("/", Some("prod"), "/"),
            ("/prod", Some("prod"), "/prod"),
            ("", Some("prod"), ""),
        ];
        for (path, stage, want) in cases {
            assert_eq!(strip_stage(path, *stage), *want, "{path} with stage {stage:?}");
        }
    }

    #[test]
    fn with_path_keeps_authority_and_query() {
        let uri: Uri =
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/scim/v2/Users?filter=a+eq+%22b%22"
                .parse()
                .unwrap();
        let out = with_path(&uri, "/scim/v2/Users").unwrap();
        assert_eq!(
            out.to_string(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/scim/v2/Users?filter=a+eq+%22b%22"
        );
        let relative: Uri = "/prod/scim/v2".parse().unwrap();
        assert_eq!(with_path(&relative, "/scim/v2").unwrap().to_string(), "/scim/v2");
    }

    #[test]
    fn adapt_uses_the_stage_of_the_event() {
        let event = r#"{
            "resource": "/{proxy+}", "path": "/scim/v2/Users", "httpMethod": "GET",
            "headers": {"Host": "abc.execute-api.eu-west-1.amazonaws.com"},
            "multiValueHeaders": {}, "queryStringParameters": null, "multiValueQueryStringParameters": null,
            "pathParameters": {"proxy": "scim/v2/Users"}, "stageVariables": null,
            "requestContext": {"stage": "prod", "httpMethod": "GET", "requestId": "r", "accountId": "1",
                               "resourcePath": "/{proxy+}", "apiId": "abc", "identity": {}},
            "body": null, "isBase64Encoded": false
        }"#;
        let request = lambda_http::request::from_str(event).unwrap();
        // lambda_http puts the REST stage in front of the path; adapt takes it off again.
        assert_eq!(request.uri().path(), "/prod/scim/v2/Users");
        assert_eq!(adapt(request).uri().path(), "/scim/v2/Users");
    }
}
