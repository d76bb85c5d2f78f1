//! A test harness: the real Router on a real TCP listener on 127.0.0.1, and a small client that
//! speaks to it the way IdPs do.

pub mod aws_proxy;
pub mod console;
pub mod events;
pub mod gated_log;
pub mod lambda;
pub mod logs;
pub mod runtime_api;
pub mod urn;

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use scim_auth::{
    CacheSettings, MarkedRegistry, SecretsManagerRegistry, StaticToken, TokenCache, TokenRegistry,
};
use scim_lambda::config::Config;
use scim_lambda::state::AppState;
use scim_proto::SchemaRegistry;
use scim_store::prelude::*;
use scim_store::{Expect, TenantId, TenantSettings};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

/// The token of tenant `default` in every test server.
pub const TOKEN: &str = "SCIM_test-token-default";
/// The token of tenant `other`, for isolation tests.
pub const OTHER_TOKEN: &str = "SCIM_test-token-other";

/// `SCIM_CURSOR_KEY` of the servers started as under Lambda (base64 of 32 bytes).
pub const TEST_CURSOR_KEY: &str = "dGVzdC1jdXJzb3Ita2V5LWZvci1sYW1iZGEtZXZlbnRz";

/// The state `scim-lambda` builds at start-up from these `SCIM_*` settings (`lambda`: as under
/// AWS Lambda), on the store of [`Backend::current`], with `statics` accepted from memory like
/// `SCIM_BOOTSTRAP_TOKEN`. Without `SCIM_TOKEN_REGISTRY` the registry is an empty one (a file
/// that does not exist).
pub async fn app_state(vars: &[(&str, &str)], lambda: bool, statics: Vec<StaticToken>) -> AppState {
    app_state_over(vars, lambda, statics, std::convert::identity).await
}

/// [`app_state`] with the store seen through `wrap` (a test's instrumented store, such as
/// [`gated_log::GatedLog`]).
pub async fn app_state_over(
    vars: &[(&str, &str)],
    lambda: bool,
    statics: Vec<StaticToken>,
    wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
) -> AppState {
    let config = test_config(vars, lambda);
    let tokens = tokens_for(&config, statics).await;
    state_with_tokens(config, tokens, wrap).await
}

/// The token cache of `config`'s registry, with `statics` accepted from memory.
async fn tokens_for(config: &Config, statics: Vec<StaticToken>) -> Arc<TokenCache> {
    let aws = scim_aws::Aws::environment();
    let tokens = TokenCache::load(
        config.token_registry.open(&aws).await,
        config.token_cache,
        statics,
    )
    .await
    .expect("token registry");
    Arc::new(tokens)
}

/// The token registry a deployment of [`Backend::current`]'s store uses, opened as `scimctl` and
/// the console open it, and the server settings that go with it: a file beside the embedded
/// store; beside DynamoDB a Secrets Manager secret whose writes move the table's generation
/// item (both on moto).
pub async fn deployed_registry(
    dir: &std::path::Path,
) -> (Arc<dyn TokenRegistry>, Vec<(&'static str, String)>) {
    match Backend::current() {
        Backend::Memory => {
            let registry = scim_auth::FileRegistry::new(dir.join("tokens.json"));
            (Arc::new(registry), vec![])
        }
        Backend::DynamoDb => {
            use aws_sdk_secretsmanager::config::{Credentials, Region};
            let sdk = scim_aws::defaults()
                .endpoint_url(&scim_testkit::moto().endpoint)
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
                .load()
                .await;
            let table = scim_testkit::unique_name("registry");
            let dynamodb = scim_testkit::dynamodb::client();
            scim_dynamodb::create_table_with(&dynamodb, &table, false)
                .await
                .expect("the table");
            let secret = SecretsManagerRegistry::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                scim_testkit::unique_name("scim-tokens"),
            );
            let marker = scim_dynamodb::TokenGeneration::new(dynamodb, &table);
            (
                Arc::new(MarkedRegistry::new(Arc::new(secret), Arc::new(marker))),
                vec![("SCIM_STORE", "dynamodb".into()), ("SCIM_TABLE", table)],
            )
        }
    }
}

/// The settings of [`app_state`].
fn test_config(vars: &[(&str, &str)], lambda: bool) -> Config {
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
        // The first setting of a name wins.
        let set = vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        set.or_else(|| match name {
            "SCIM_TOKEN_REGISTRY" => Some(empty_registry.clone()),
            // Lambda requires a cursor key (every instance must accept the others' cursors).
            "SCIM_CURSOR_KEY" if lambda => Some(TEST_CURSOR_KEY.to_string()),
            _ => None,
        })
    };
    Config::from_lookup(lookup, lambda).expect("test config")
}

/// The state for `config` on the store of [`Backend::current`] seen through `wrap`, verifying
/// tokens with `tokens`.
async fn state_with_tokens(
    config: Config,
    tokens: Arc<TokenCache>,
    wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
) -> AppState {
    let registry = Arc::new(scim_lambda::startup::schema_registry(&config).expect("SCIM_SCHEMA_EXTENSIONS"));
    let store = wrap(Backend::current().store(registry.clone(), &config).await);
    state_on(config, registry, store, tokens, None).await
}

/// The state over these parts; the console writes `console_registry`, or else the registry
/// `config` names.
async fn state_on(
    config: Config,
    registry: Arc<SchemaRegistry>,
    store: Arc<dyn Store>,
    tokens: Arc<TokenCache>,
    console_registry: Option<Arc<dyn TokenRegistry>>,
) -> AppState {
    let aws = scim_aws::Aws::environment();
    let console_registry = match console_registry {
        Some(registry) => registry,
        None => config.token_registry.open(&aws).await,
    };
    let console = scim_lambda::startup::console(&config, console_registry).expect("console");
    AppState::new(config, registry, store, tokens, console, &aws)
        .await
        .expect("rotated secrets")
}

/// A PATCH request body (RFC 7644 §3.5.2) with these `Operations` (a JSON array).
pub fn patch_op(operations: Value) -> Value {
    serde_json::json!({"schemas": [urn::PATCH_OP], "Operations": operations})
}

/// What Okta posts on assignment (its documented example), with this userName, which is also
/// the primary work email.
pub fn okta_user(user_name: &str) -> Value {
    serde_json::json!({
        "schemas": [urn::USER],
        "userName": user_name,
        "name": {"givenName": "Dade", "familyName": "Murphy"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": "Dade Murphy",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

/// Tenant `default`, the tenant of [`TOKEN`]: where a test seeds and inspects through
/// [`Server::store`].
pub fn default_tenant() -> TenantId {
    TenantId::new("default").expect("tenant")
}

/// A running service and a client for it.
#[derive(Debug)]
pub struct Server {
    /// `http://127.0.0.1:<port>/scim/v2`
    pub base: String,
    /// The server's store, to seed and inspect what only an operator reaches (tenant settings,
    /// unmanaged accounts, conflicts, kept deleted users).
    pub store: Arc<dyn Store>,
    /// The provisioning log's writer, to wait for records ([`Server::flush_log`]).
    pub log: scim_lambda::provisioning_log::LogWriter,
    /// The console's state: its one-time local sign-in code ([`console::Browser`]).
    pub console: Arc<scim_lambda::console::Console>,
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

tokio::task_local! {
    /// The store of the servers the running test starts: set by [`Backend::run`].
    static BACKEND: Backend;
}

impl Backend {
    /// The store [`Backend::run`] set for the running test; the memory store outside it.
    pub fn current() -> Backend {
        BACKEND.try_with(|b| *b).unwrap_or(Backend::Memory)
    }

    /// Runs `test` with this store as [`Backend::current`]: the servers it starts (and the
    /// [`lambda::Function`]s it builds) run on it. Tasks that `test` spawns do not inherit it, so
    /// a test starts its servers on its own task. [`on_both_stores!`] runs a test under each.
    pub async fn run<F: Future>(self, test: F) -> F::Output {
        BACKEND.scope(self, test).await
    }

    async fn store(self, registry: Arc<SchemaRegistry>, config: &Config) -> Arc<dyn Store> {
        match self {
            Backend::Memory => {
                Arc::new(scim_lambda::events::memory_store(registry, config).expect("SCIM_EVENTS"))
            }
            Backend::DynamoDb => dynamodb_store(scim_testkit::dynamodb::client(), registry, config).await,
        }
    }
}

/// A DynamoDB store on moto through `client`: on the table `SCIM_TABLE` names (a test that reads
/// the table's stream picks it), else on a fresh one.
async fn dynamodb_store(
    client: aws_sdk_dynamodb::Client,
    registry: Arc<SchemaRegistry>,
    config: &Config,
) -> Arc<dyn Store> {
    let table = config
        .table
        .clone()
        .unwrap_or_else(|| scim_testkit::unique_name("blackbox"));
    // No stream unless the test made the table first (`dynamodb_events.rs`): on moto a stream
    // slows every transaction down.
    scim_dynamodb::create_table_with(&client, &table, false)
        .await
        .expect("a DynamoDB table on moto");
    Arc::new(scim_dynamodb::DynamoStore::new(client, table, registry))
}

/// Runs an async test on both stores. `on_both_stores!(name);` before `async fn name()` makes
/// the module `name` with two tests, `name::memory` and `name::dynamodb`, each awaiting `name()`
/// under [`Backend::run`] with its store. The tests are `#[tokio::test]`s, or take the test
/// attribute given: `on_both_stores!(#[tokio::test(flavor = "multi_thread")] name);`.
///
/// The test function stays an ordinary function (rustfmt formats it; a function that no
/// `on_both_stores!` names is dead code, which the lints refuse).
#[macro_export]
macro_rules! on_both_stores {
    ($name:ident) => {
        $crate::on_both_stores!(
            #[tokio::test]
            $name
        );
    };
    (#[$test:meta] $name:ident) => {
        mod $name {
            #[$test]
            async fn memory() {
                $crate::Backend::Memory.run(super::$name()).await
            }

            #[$test]
            async fn dynamodb() {
                $crate::Backend::DynamoDb.run(super::$name()).await
            }
        }
    };
}

/// The variable that tells a test binary run by [`alone_in_process`] which test it runs.
const ALONE: &str = "SCIM_BLACKBOX_ALONE";

/// For a test that needs its process to itself (it installs a global tracing subscriber, or must
/// not meet log call sites that other tests registered first): true in the process that runs
/// this test alone, where the test goes on. In the usual run, it runs this test binary again for
/// this test only, asserts that the test ran there and passed, and returns false: the test then
/// returns at once. `module` is `module_path!()` and `test` the test function's name.
pub fn alone_in_process(module: &str, test: &str) -> bool {
    // The name the test harness gives the test: its path without the binary's crate.
    let name = match module.split_once("::") {
        Some((_, path)) => format!("{path}::{test}"),
        None => test.to_string(),
    };
    if std::env::var(ALONE).is_ok_and(|alone| alone == name) {
        return true;
    }
    let exe = std::env::current_exe().expect("the path of this test binary");
    let out = std::process::Command::new(exe)
        .args([name.as_str(), "--exact", "--test-threads=1"])
        .env(ALONE, &name)
        .output()
        .expect("this test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} alone in a process: {}",
        out.status
    );
    false
}

impl Server {
    /// Starts a server with default settings, on the store of [`Backend::current`].
    pub async fn start() -> Server {
        Self::start_with(&[]).await
    }

    /// Starts a server on this store, whatever [`Backend::current`] is (a test of one store
    /// only), with `SCIM_*` settings overridden as [`Server::start_with`] does.
    pub async fn start_on(backend: Backend, vars: &[(&str, &str)]) -> Server {
        backend.run(Self::start_with(vars)).await
    }

    /// Starts a server on the store of [`Backend::current`] with `SCIM_*` settings overridden.
    /// [`TOKEN`] and [`OTHER_TOKEN`] are accepted from memory, like `SCIM_BOOTSTRAP_TOKEN`; other
    /// tokens come from the registry that `SCIM_TOKEN_REGISTRY` names, and without it from an
    /// empty one (a file that does not exist).
    pub async fn start_with(vars: &[(&str, &str)]) -> Server {
        let statics = vec![
            StaticToken::new("test-default", TOKEN, default_tenant()),
            StaticToken::new("test-other", OTHER_TOKEN, TenantId::new("other").expect("tenant")),
        ];
        Self::serve(app_state(vars, false, statics).await).await
    }

    /// Starts a server on a fresh DynamoDB table (moto) whose every DynamoDB call the returned
    /// counter counts, by operation (the table's creation included: `take` it before measuring).
    pub async fn start_counted(vars: &[(&str, &str)]) -> (Server, scim_dynamodb::CallCounter) {
        let counter = scim_dynamodb::CallCounter::default();
        let client = aws_sdk_dynamodb::Client::from_conf(
            scim_testkit::dynamodb::config()
                .interceptor(counter.clone())
                .build(),
        );
        let config = test_config(vars, false);
        let statics = vec![StaticToken::new("test-default", TOKEN, default_tenant())];
        let tokens = tokens_for(&config, statics).await;
        let registry =
            Arc::new(scim_lambda::startup::schema_registry(&config).expect("SCIM_SCHEMA_EXTENSIONS"));
        let store = dynamodb_store(client, registry.clone(), &config).await;
        (
            Self::serve(state_on(config, registry, store, tokens, None).await).await,
            counter,
        )
    }

    /// Starts a server on the store of [`Backend::current`] that verifies tokens with `tokens`, a
    /// cache the test built over a registry of its own (and keeps, to read its counters).
    pub async fn start_with_tokens(vars: &[(&str, &str)], tokens: Arc<TokenCache>) -> Server {
        Self::serve(state_with_tokens(test_config(vars, false), tokens, std::convert::identity).await).await
    }

    /// Starts a server on the store of [`Backend::current`] whose token cache (with `settings`)
    /// and console both use `registry`, as a deployment's SCIM and console functions share theirs
    /// ([`deployed_registry`]).
    pub async fn start_with_registry(
        vars: &[(&str, &str)],
        registry: Arc<dyn TokenRegistry>,
        settings: CacheSettings,
    ) -> Server {
        let config = test_config(vars, false);
        let tokens = TokenCache::load(registry.clone(), settings, Vec::new())
            .await
            .expect("token registry");
        let schemas =
            Arc::new(scim_lambda::startup::schema_registry(&config).expect("SCIM_SCHEMA_EXTENSIONS"));
        let store = Backend::current().store(schemas.clone(), &config).await;
        Self::serve(state_on(config, schemas, store, Arc::new(tokens), Some(registry)).await).await
    }

    async fn serve(state: AppState) -> Server {
        let store = state.store.clone();
        let log = state.log.clone();
        let console = state.console.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(scim_lambda::serve(listener, state, std::future::pending()));
        Server {
            base: format!("http://{addr}/scim/v2"),
            store,
            log,
            console,
            client: reqwest::Client::new(),
            token: TOKEN.to_string(),
        }
    }

    /// Writes the settings of tenant `default` (the tenant of [`TOKEN`]) through the server's
    /// store, as `scimctl tenant set` does.
    pub async fn put_settings(&self, settings: &TenantSettings) {
        self.store
            .put_settings(&default_tenant(), settings, Expect::Any)
            .await
            .expect("tenant settings written");
    }

    /// The same server, spoken to with another token.
    pub fn as_token(&self, token: &str) -> Server {
        Server {
            base: self.base.clone(),
            store: self.store.clone(),
            log: self.log.clone(),
            console: self.console.clone(),
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

    /// Waits until every provisioning log record of the requests answered so far is written.
    pub async fn flush_log(&self) {
        assert!(
            self.log.flush(std::time::Duration::from_secs(30)).await,
            "the provisioning log writer drains within 30 s"
        );
    }

    /// `GET /admin/api<path>` without a token (the admin API answers loopback peers only).
    pub async fn admin_get(&self, path: &str) -> Reply {
        let root = self.base.trim_end_matches("/scim/v2");
        Self::read(self.client.get(format!("{root}/admin/api{path}"))).await
    }

    /// The provisioning log of `tenant` as the admin API answers it (after a flush), newest
    /// first; `query` is the query string without `?`.
    pub async fn log_records(&self, tenant: &str, query: &str) -> Vec<Value> {
        self.flush_log().await;
        let reply = self.admin_get(&format!("/tenants/{tenant}/log?{query}")).await;
        reply.assert_status(200)["records"]
            .as_array()
            .expect("records")
            .clone()
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

    /// The user `id` of tenant `default` as the store holds it (what no response shows: hashes).
    pub async fn stored_user(&self, id: &str) -> scim_store::StoredResource {
        self.store
            .get(
                &default_tenant(),
                scim_store::ResourceKind::User,
                id,
                scim_store::Include::NONE,
            )
            .await
            .expect("the user is stored")
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
