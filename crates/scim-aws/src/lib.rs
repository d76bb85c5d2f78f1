//! The AWS SDK configuration of a process: one [`SdkConfig`], loaded once by the first client that
//! needs it, with one HTTPS client that every SDK client built from it shares.
//!
//! - **One TLS and crypto stack, the small one, and HTTP/1.1 only.** The SDK's
//!   `default-https-client` feature is rustls on aws-lc-rs with HTTP/2 compiled in; our own client
//!   ([`https_client`], module `https`) is hyper's HTTP/1.1 client with rustls on ring, which does
//!   the same work for the request-and-answer calls the SDK makes, in far fewer bytes of the arm64
//!   `bootstrap` (infra/README.md "Bootstrap size"). The SDK crates are built without that
//!   feature, so an SDK client has no HTTP client unless its configuration comes from here:
//!   [`defaults`] for a configuration loader, [`https_client`] for a client configured by hand
//!   (tests on moto).
//! - **One connection pool.** Every client made from one [`SdkConfig`] shares its HTTP client, and
//!   so its pooled connections: the token registry's generation read at start-up opens the
//!   DynamoDB connection the store's first request then reuses (no second TLS handshake).
//! - **Two ways to load it.** The service reads its settings from the environment only
//!   ([`Aws::environment`]): under Lambda that is all there is (region, the function role's
//!   credentials), and leaving aws-config's chain (profiles, SSO, STS, instance metadata) unused
//!   keeps it out of the `bootstrap`. `scimctl`, run by operators with profiles, uses the standard
//!   chain ([`Aws::standard_chain`]).

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_types::region::Region;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::OnceCell;

mod https;
pub use https::{https_client, tls_config};

/// aws-config's standard chain (environment, profile, SSO, the instance or container role;
/// `AWS_ENDPOINT_URL` for a local endpoint) with [`https_client`].
pub fn defaults() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// The configuration the environment alone gives, as Lambda sets it for a function: the region
/// (`AWS_REGION`, else `AWS_DEFAULT_REGION`), the role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and, for local runs and tests, `AWS_ENDPOINT_URL`.
/// Whatever is missing makes the first SDK call fail with the SDK's own error naming it (no
/// region, no credentials).
pub fn from_environment() -> SdkConfig {
    from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
}

fn from_lookup(get: impl Fn(&str) -> Option<String>) -> SdkConfig {
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .region(
            get("AWS_REGION")
                .or_else(|| get("AWS_DEFAULT_REGION"))
                .map(Region::new),
        );
    if let (Some(id), Some(secret)) = (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
        let credentials = Credentials::new(id, secret, get("AWS_SESSION_TOKEN"), None, "environment");
        config = config.credentials_provider(SharedCredentialsProvider::new(credentials));
    }
    if let Some(url) = get("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    config.build()
}

type Load = fn() -> Pin<Box<dyn Future<Output = SdkConfig> + Send>>;

/// The process's one configuration, loaded by the first caller of [`Aws::config`]; clones share
/// it. A process that reaches no AWS service never loads it.
#[derive(Clone)]
pub struct Aws {
    config: Arc<OnceCell<SdkConfig>>,
    /// A function pointer, not a choice made at load time: the loader a binary never names is
    /// not linked into it (the `bootstrap` never names aws-config's chain).
    load: Load,
}

impl fmt::Debug for Aws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aws")
            .field("loaded", &self.config.initialized())
            .finish_non_exhaustive()
    }
}

impl Aws {
    /// Loads [`from_environment`]: the service's configuration.
    pub fn environment() -> Aws {
        Aws::with_loader(|| Box::pin(async { from_environment() }))
    }

    /// Loads [`defaults`]: the operator's configuration (`scimctl`).
    pub fn standard_chain() -> Aws {
        Aws::with_loader(|| Box::pin(defaults().load()))
    }

    fn with_loader(load: Load) -> Aws {
        Aws {
            config: Arc::new(OnceCell::new()),
            load,
        }
    }

    /// The configuration, loaded on the first call.
    pub async fn config(&self) -> &SdkConfig {
        self.config.get_or_init(self.load).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_gives_region_credentials_and_endpoint() {
        let vars = [
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5005"),
        ];
        let config = from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()));
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5005"));
        assert!(config.credentials_provider().is_some());
        assert!(config.http_client().is_some());
        // AWS_REGION wins over AWS_DEFAULT_REGION, as in aws-config.
        let config = from_lookup(|name| match name {
            "AWS_REGION" => Some("us-east-1".into()),
            "AWS_DEFAULT_REGION" => Some("eu-west-1".into()),
            _ => None,
        });
        assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert!(config.credentials_provider().is_none(), "no keys, no provider");
    }
}
