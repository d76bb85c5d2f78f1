//! Service settings, read once at start-up from the `SCIM_*` environment variables
//! (the names are a documented interface: see README.md).

use crate::origin::OriginSecret;
use scim_auth::{CacheSettings, RegistryLocation, LOCAL_REGISTRY_PATH};
use scim_proto::resource::PasswordPolicy;
use std::net::SocketAddr;
use std::time::Duration;

/// Which [`scim_store::Store`] backs the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    Memory,
    DynamoDb,
}

/// Everything the service reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SCIM_LISTEN`: the local listener address.
    pub listen: SocketAddr,
    /// `SCIM_STORE`: `memory` or `dynamodb`.
    pub store: StoreChoice,
    /// `SCIM_TOKEN_REGISTRY`: where the token registry lives.
    pub token_registry: RegistryLocation,
    /// `SCIM_TOKEN_CACHE_SECONDS` and `SCIM_TOKEN_REFRESH_MIN_SECONDS`: how the registry is cached.
    pub token_cache: CacheSettings,
    /// `SCIM_BOOTSTRAP_TOKEN`: a token accepted for tenant `default`, kept in memory only.
    pub bootstrap_token: Option<String>,
    /// `SCIM_PUBLIC_BASE_URL`: the base URL for `meta.location`, when not derived from the request.
    pub public_base_url: Option<String>,
    /// `SCIM_MAX_BODY_BYTES`: largest request body accepted.
    pub max_body_bytes: usize,
    /// `SCIM_MAX_PAGE_SIZE`: largest `count` honoured (RFC 7644 §3.4.2.4 lets a server return fewer).
    pub max_page_size: u64,
    /// `SCIM_DEFAULT_PAGE_SIZE`: `count` when the client gives none.
    pub default_page_size: u64,
    /// `SCIM_PASSWORD`: `hash` (argon2id) or `drop` (never kept).
    pub password: PasswordPolicy,
    /// `SCIM_ORIGIN_SECRET`: the value CloudFront's origin header must carry; unset = no check.
    pub origin_secret: Option<OriginSecret>,
}

/// Whether the process runs inside AWS Lambda.
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

impl Config {
    /// Reads the environment; an invalid value is a start-up error naming the variable.
    pub fn from_env() -> Result<Config, String> {
        Self::from_lookup(|name| std::env::var(name).ok(), in_lambda())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, lambda: bool) -> Result<Config, String> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let listen = get("SCIM_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|e| format!("SCIM_LISTEN: {e}"))?;
        let store = match get("SCIM_STORE").as_deref() {
            None if lambda => StoreChoice::DynamoDb,
            None | Some("memory") => StoreChoice::Memory,
            Some("dynamodb") => StoreChoice::DynamoDb,
            Some(other) => {
                return Err(format!(
                    "SCIM_STORE: '{other}' is neither 'memory' nor 'dynamodb'"
                ))
            }
        };
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|e| format!("{name}: {e}")),
            }
        };
        let token_registry = match get("SCIM_TOKEN_REGISTRY") {
            Some(text) => text.parse().map_err(|e| format!("SCIM_TOKEN_REGISTRY: {e}"))?,
            None if lambda => {
                return Err("SCIM_TOKEN_REGISTRY: required under AWS Lambda, as \
                    secretsmanager:<secret id or ARN> (the secret holding the token registry)"
                    .into())
            }
            None => RegistryLocation::File(LOCAL_REGISTRY_PATH.into()),
        };
        let token_cache = CacheSettings {
            ttl: Duration::from_secs(number("SCIM_TOKEN_CACHE_SECONDS", 60)?),
            refresh_min_interval: Duration::from_secs(number("SCIM_TOKEN_REFRESH_MIN_SECONDS", 5)?),
        };
        let max_page_size = number("SCIM_MAX_PAGE_SIZE", 200)?.max(1);
        let password = match get("SCIM_PASSWORD").as_deref() {
            None | Some("hash") => PasswordPolicy::Hash,
            Some("drop") => PasswordPolicy::Drop,
            Some(other) => return Err(format!("SCIM_PASSWORD: '{other}' is neither 'hash' nor 'drop'")),
        };
        Ok(Config {
            listen,
            store,
            token_registry,
            token_cache,
            bootstrap_token: get("SCIM_BOOTSTRAP_TOKEN"),
            public_base_url: get("SCIM_PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_string()),
            max_body_bytes: usize::try_from(number("SCIM_MAX_BODY_BYTES", 1024 * 1024)?)
                .map_err(|e| format!("SCIM_MAX_BODY_BYTES: {e}"))?,
            max_page_size,
            default_page_size: number("SCIM_DEFAULT_PAGE_SIZE", 100)?.clamp(1, max_page_size),
            password,
            origin_secret: OriginSecret::from_lookup(get),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)], lambda: bool) -> Result<Config, String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned(), lambda)
    }

    #[test]
    fn defaults_follow_the_environment_kind() {
        let local = config(&[], false).unwrap();
        assert_eq!(local.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(local.store, StoreChoice::Memory);
        let lambda = config(&[("SCIM_TOKEN_REGISTRY", "secretsmanager:t")], true).unwrap();
        assert_eq!(lambda.store, StoreChoice::DynamoDb);
    }

    #[test]
    fn the_token_registry_is_a_local_file_by_default_and_required_under_lambda() {
        let local = config(&[], false).unwrap();
        assert_eq!(
            local.token_registry,
            RegistryLocation::File(LOCAL_REGISTRY_PATH.into())
        );
        assert_eq!(local.token_cache, CacheSettings::default());
        let err = config(&[], true).unwrap_err();
        assert!(err.starts_with("SCIM_TOKEN_REGISTRY: required"), "{err}");
        let lambda = config(&[("SCIM_TOKEN_REGISTRY", "secretsmanager:scim/tokens")], true).unwrap();
        assert_eq!(
            lambda.token_registry,
            RegistryLocation::SecretsManager("scim/tokens".into())
        );
        let tuned = config(
            &[
                ("SCIM_TOKEN_CACHE_SECONDS", "0"),
                ("SCIM_TOKEN_REFRESH_MIN_SECONDS", "1"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(tuned.token_cache.ttl, Duration::ZERO);
        assert_eq!(tuned.token_cache.refresh_min_interval, Duration::from_secs(1));
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert!(config(&[("SCIM_STORE", "sqlite")], false)
            .unwrap_err()
            .starts_with("SCIM_STORE"));
        assert!(config(&[("SCIM_LISTEN", "nowhere")], false)
            .unwrap_err()
            .starts_with("SCIM_LISTEN"));
        for (name, value) in [
            ("SCIM_TOKEN_REGISTRY", "tokens.json"),
            ("SCIM_TOKEN_CACHE_SECONDS", "soon"),
            ("SCIM_TOKEN_REFRESH_MIN_SECONDS", "-1"),
        ] {
            let err = config(&[(name, value)], false).unwrap_err();
            assert!(err.starts_with(name), "{err}");
        }
        assert!(config(&[("SCIM_MAX_PAGE_SIZE", "x")], false)
            .unwrap_err()
            .starts_with("SCIM_MAX_PAGE_SIZE"));
    }

    #[test]
    fn base_url_loses_its_trailing_slash() {
        let c = config(
            &[("SCIM_PUBLIC_BASE_URL", "https://d1.cloudfront.net/scim/v2/")],
            false,
        )
        .unwrap();
        assert_eq!(
            c.public_base_url.as_deref(),
            Some("https://d1.cloudfront.net/scim/v2")
        );
    }
}
