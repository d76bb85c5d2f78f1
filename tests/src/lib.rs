//! A test harness: the real Router on a real TCP listener on 127.0.0.1, and a small client that
//! speaks to it the way IdPs do.

pub mod events;
pub mod lambda;

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use scim_auth::{StaticToken, TokenCache};
use scim_lambda::config::Config;
use scim_lambda::state::AppState;
use scim_proto::SchemaRegistry;
use scim_store::prelude::*;
use scim_store::TenantId;
use serde_json::Value;
use std::sync::Arc;

/// The token of tenant `default` in every test server.
pub const TOKEN: &str = "SCIM_test-token-default";
/// The token of tenant `other`, for isolation tests.
pub const OTHER_TOKEN: &str = "SCIM_test-token-other";

/// `SCIM_CURSOR_KEY` of the servers started as under Lambda (base64 of 32 bytes).
const TEST_CURSOR_KEY: &str = "dGVzdC1jdXJzb3Ita2V5LWZvci1sYW1iZGEtZXZlbnRz";

/// The state `scim-lambda` builds at start-up from these `SCIM_*` settings (`lambda`: as under
/// AWS Lambda), on the store [`Backend::current`] picks, with `statics` accepted from memory like
/// `SCIM_BOOTSTRAP_TOKEN`. Without `SCIM_TOKEN_REGISTRY` the registry is an empty one (a file
/// that does not exist).
pub async fn app_state(vars: &[(&str, &str)], lambda: bool, statics: Vec<StaticToken>) -> AppState {
    let empty_registry = format!(
        "file:{}",
        std::env::temp_dir()
            .join(format!(
                "scim-blackbox-{}-no-registry/tokens.json",
                std::process::id()
            ))
            .display()
    );
    let lookup = |name: &str| {
        let set = vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        set.or_else(|| match name {
            "SCIM_TOKEN_REGISTRY" => Some(empty_registry.clone()),
            // Lambda requires a cursor key (every instance must accept the others' cursors).
            "SCIM_CURSOR_KEY" if lambda => Some(TEST_CURSOR_KEY.to_string()),
            _ => None,
        })
    };
    let config = Config::from_lookup(lookup, lambda).expect("test config");
    let registry = Arc::new(SchemaRegistry::standard());
    let tokens = TokenCache::load(config.token_registry.open().await, config.token_cache, statics)
        .await
        .expect("token registry");
    AppState {
        store: Backend::current().store(registry.clone(), &config).await,
        config: Arc::new(config),
        registry,
        tokens: Arc::new(tokens),
    }
}

/// A running service and a client for it.
#[derive(Debug)]
pub struct Server {
    /// `http://127.0.0.1:<port>/scim/v2`
    pub base: String,
    /// The server's store, to seed and inspect what only an operator reaches (tenant settings,
    /// unmanaged accounts, conflicts, kept deleted users).
    pub store: Arc<dyn Store>,
    client: reqwest::Client,
    token: String,
}

/// One response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 7644 §3.12 error with this status (and `scimType`, if given).
    #[track_caller]
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(
            self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status.to_string(), "{}", self.text);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            self.text
        );
        assert_eq!(
            self.body.get("scimType").and_then(Value::as_str),
            scim_type,
            "{}",
            self.text
        );
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/scim+json")),
            "error content type: {:?}",
            self.header("content-type")
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        &self.body
    }
}

/// Which store a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    /// A table of its own on this test binary's moto (scim-testkit).
    DynamoDb,
}

impl Backend {
    /// `SCIM_TEST_STORE` (`memory` or `dynamodb`) when set; otherwise DynamoDB for test binaries
    /// whose name starts with `dynamodb_` (`tests/tests/dynamodb_protocol.rs` runs the same test
    /// modules as `protocol.rs` on DynamoDB), the memory store for the others.
    pub fn current() -> Backend {
        match std::env::var("SCIM_TEST_STORE").as_deref() {
            Ok("dynamodb") => return Backend::DynamoDb,
            Ok("memory") => return Backend::Memory,
            _ => {}
        }
        let exe = std::env::current_exe().ok();
        let name = exe
            .as_ref()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("dynamodb_") {
            Backend::DynamoDb
        } else {
            Backend::Memory
        }
    }

    async fn store(self, registry: Arc<SchemaRegistry>, config: &Config) -> Arc<dyn Store> {
        match self {
            Backend::Memory => {
                Arc::new(scim_lambda::events::memory_store(registry, config).expect("SCIM_EVENTS"))
            }
            Backend::DynamoDb => {
                use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
                let moto = scim_testkit::moto();
                let conf = aws_sdk_dynamodb::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .endpoint_url(&moto.endpoint)
                    .region(Region::new("us-east-1"))
                    .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                    .build();
                let client = aws_sdk_dynamodb::Client::from_conf(conf);
                // The table SCIM_TABLE names (a test that reads the table's stream picks it),
                // else a fresh one.
                let table = config
                    .table
                    .clone()
                    .unwrap_or_else(|| scim_testkit::unique_name("blackbox"));
                // No stream unless the test made the table first (`dynamodb_events.rs`): on
                // moto a stream slows every transaction down.
                scim_dynamodb::create_table_with(&client, &table, false)
                    .await
                    .expect("a DynamoDB table on moto");
                Arc::new(scim_dynamodb::DynamoStore::new(client, table, registry))
            }
        }
    }
}

impl Server {
    /// Starts a server with default settings.
    pub async fn start() -> Server {
        Self::start_with(&[]).await
    }

    /// Starts a server with `SCIM_*` settings overridden. [`TOKEN`] and [`OTHER_TOKEN`] are
    /// accepted from memory, like `SCIM_BOOTSTRAP_TOKEN`; other tokens come from the registry that
    /// `SCIM_TOKEN_REGISTRY` names, and without it from an empty one (a file that does not exist).
    pub async fn start_with(vars: &[(&str, &str)]) -> Server {
        let statics = vec![
            StaticToken::new("test-default", TOKEN, TenantId::new("default").expect("tenant")),
            StaticToken::new("test-other", OTHER_TOKEN, TenantId::new("other").expect("tenant")),
        ];
        let state = app_state(vars, false, statics).await;
        let store = state.store.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(scim_lambda::serve(listener, state, std::future::pending()));
        Server {
            base: format!("http://{addr}/scim/v2"),
            store,
            client: reqwest::Client::new(),
            token: TOKEN.to_string(),
        }
    }

    /// The same server, spoken to with another token.
    pub fn as_token(&self, token: &str) -> Server {
        Server {
            base: self.base.clone(),
            store: self.store.clone(),
            client: self.client.clone(),
            token: token.to_string(),
        }
    }

    /// Sends a request with the bearer token; `body` as `application/scim+json`.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/scim+json")
                .body(b.to_string());
        }
        Self::read(req).await
    }

    /// Sends a request built by the caller (custom headers, raw bodies).
    pub async fn send(&self, build: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder) -> Reply {
        Self::read(build(&self.client, &self.base)).await
    }

    /// The bearer header value this client uses.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    async fn read(req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a user with this userName and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let r = self
            .post(
                "/Users",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "active": true
                }),
            )
            .await;
        r.assert_status(201)["id"].as_str().expect("id").to_string()
    }

    /// Creates a group with this displayName and members and returns its id.
    pub async fn create_group(&self, display_name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| serde_json::json!({"value": m})).collect();
        let r = self
            .post(
                "/Groups",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": display_name,
                    "members": members
                }),
            )
            .await;
        r.assert_status(201)["id"].as_str().expect("id").to_string()
    }
}
