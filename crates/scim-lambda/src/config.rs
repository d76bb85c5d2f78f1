//! Service settings, read once at start-up from the `SCIM_*` environment variables
//! (the names are a documented interface: see README.md).

use crate::limits::{Rate, TenantRates};
use crate::origin::OriginSecret;
use scim_auth::{CacheSettings, RegistryLocation, LOCAL_REGISTRY_PATH};
use scim_proto::resource::PasswordPolicy;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which [`scim_store::Store`] backs the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    Memory,
    DynamoDb,
}

/// `SCIM_FUNCTION`: what the `scim-lambda` binary does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Function {
    /// `http` or unset: the SCIM service.
    Http,
    /// `events`: the DynamoDB stream processor, publishing change events to `SCIM_EVENT_BUS`
    /// (a bus name or ARN). Reads no other setting.
    Events { bus: String },
}

impl Function {
    pub fn from_env() -> Result<Function, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Function, String> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        match get("SCIM_FUNCTION").as_deref() {
            None | Some("http") => Ok(Function::Http),
            Some("events") => match get("SCIM_EVENT_BUS") {
                Some(bus) => Ok(Function::Events { bus }),
                None => Err(
                    "SCIM_EVENT_BUS: required with SCIM_FUNCTION=events (the EventBridge bus name or ARN)"
                        .into(),
                ),
            },
            Some(other) => Err(format!("SCIM_FUNCTION: '{other}' is neither 'http' nor 'events'")),
        }
    }
}

/// `SCIM_EVENTS`: where the embedded store's change events go. (On DynamoDB they come from the
/// table's stream, through the `events` function.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventsSetting {
    /// Unset: no events.
    Off,
    /// `file:<path>`: JSON lines appended to the file.
    File(PathBuf),
    /// `log`: one log line per event (target `scim_events`).
    Log,
}

/// `SCIM_CURSOR_KEY`: the HMAC-SHA256 key that signs RFC 9865 cursors. Its `Debug` shows no bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct CursorKey(pub Vec<u8>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CursorKey({} bytes)", self.0.len())
    }
}

/// Shortest cursor key accepted, in bytes.
pub const MIN_CURSOR_KEY_BYTES: usize = 16;

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
    /// `SCIM_TABLE`: the DynamoDB table; required with `SCIM_STORE=dynamodb`.
    pub table: Option<String>,
    /// `SCIM_CURSOR_KEY` (base64): signs cursors. Locally a random key per process when unset
    /// (cursors then die with the process); required under Lambda, where instances must agree.
    pub cursor_key: CursorKey,
    /// `SCIM_MAX_INLINE_MEMBERS`: the most members a response carries inline (one group, or
    /// all groups of a list page). Beyond it the answer is 400 `tooMany`, never a shortened
    /// list; keeps responses under Lambda's 6 MB payload limit.
    pub max_inline_members: u64,
    /// `SCIM_EVENTS`: where the embedded store publishes change events.
    pub events: EventsSetting,
    /// `SCIM_TENANT_RATE_PER_SECOND`, `SCIM_TENANT_BURST`, `SCIM_TENANT_READS_PER_SECOND` and
    /// `SCIM_TENANT_READ_BURST`: what one tenant may do per second in one instance
    /// ([`crate::limits`]).
    pub tenant_rates: TenantRates,
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
        let table = get("SCIM_TABLE").map(|t| t.trim().to_string());
        if store == StoreChoice::DynamoDb && table.is_none() {
            return Err(
                "SCIM_TABLE: required when the store is DynamoDB (SCIM_STORE=dynamodb, or under Lambda)"
                    .into(),
            );
        }
        let events = match get("SCIM_EVENTS").map(|v| v.trim().to_string()) {
            None => EventsSetting::Off,
            Some(v) if v == "log" => EventsSetting::Log,
            Some(v) => match v.strip_prefix("file:").filter(|p| !p.is_empty()) {
                Some(path) => EventsSetting::File(path.into()),
                None => return Err(format!("SCIM_EVENTS: '{v}' is neither 'file:<path>' nor 'log'")),
            },
        };
        if events != EventsSetting::Off && store == StoreChoice::DynamoDb {
            return Err(
                "SCIM_EVENTS: applies to the embedded store only; on DynamoDB change events \
                come from the table's stream (the function with SCIM_FUNCTION=events)"
                    .into(),
            );
        }
        let cursor_key = match get("SCIM_CURSOR_KEY") {
            Some(b64) => {
                use base64::Engine as _;
                let key = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| format!("SCIM_CURSOR_KEY: not base64: {e}"))?;
                if key.len() < MIN_CURSOR_KEY_BYTES {
                    return Err(format!(
                        "SCIM_CURSOR_KEY: {} bytes; at least {MIN_CURSOR_KEY_BYTES} are needed",
                        key.len()
                    ));
                }
                CursorKey(key)
            }
            None if lambda => {
                return Err(
                    "SCIM_CURSOR_KEY: required under Lambda (base64, at least 16 bytes), so that \
                            every instance accepts the cursors of the others"
                        .into(),
                )
            }
            None => {
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key).map_err(|e| format!("cannot read the OS random source: {e}"))?;
                CursorKey(key)
            }
        };
        let tenant_rates = tenant_rates(&get)?;
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
            table,
            cursor_key,
            max_inline_members: number("SCIM_MAX_INLINE_MEMBERS", 10_000)?,
            events,
            tenant_rates,
        })
    }
}

/// The per-tenant rates: positive numbers (a fraction is a rate slower than one per second),
/// defaults from [`TenantRates::default`].
fn tenant_rates(get: &impl Fn(&str) -> Option<String>) -> Result<TenantRates, String> {
    let positive = |name: &str, default: f64| -> Result<f64, String> {
        let Some(v) = get(name) else {
            return Ok(default);
        };
        match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
            Ok(_) => Err(format!("{name}: '{v}' must be a positive number")),
            Err(e) => Err(format!("{name}: {e}")),
        }
    };
    let defaults = TenantRates::default();
    let rate = |per_second: &str, burst: &str, default: Rate| -> Result<Rate, String> {
        Ok(Rate {
            per_second: positive(per_second, default.per_second)?,
            burst: positive(burst, default.burst)?,
        })
    };
    Ok(TenantRates {
        requests: rate(
            "SCIM_TENANT_RATE_PER_SECOND",
            "SCIM_TENANT_BURST",
            defaults.requests,
        )?,
        items_read: rate(
            "SCIM_TENANT_READS_PER_SECOND",
            "SCIM_TENANT_READ_BURST",
            defaults.items_read,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The settings a Lambda deployment always has (template.yaml).
    const LAMBDA: &[(&str, &str)] = &[
        ("SCIM_TOKEN_REGISTRY", "secretsmanager:t"),
        ("SCIM_TABLE", "scim"),
        ("SCIM_CURSOR_KEY", "MDEyMzQ1Njc4OWFiY2RlZg=="),
    ];

    fn config(vars: &[(&str, &str)], lambda: bool) -> Result<Config, String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned(), lambda)
    }

    #[test]
    fn defaults_follow_the_environment_kind() {
        let local = config(&[], false).unwrap();
        assert_eq!(local.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(local.store, StoreChoice::Memory);
        assert_eq!(config(LAMBDA, true).unwrap().store, StoreChoice::DynamoDb);
        assert_eq!(local.max_inline_members, 10_000);
        assert_eq!(local.cursor_key.0.len(), 32, "a random key locally");
        assert_ne!(local.cursor_key, config(&[], false).unwrap().cursor_key);
    }

    #[test]
    fn the_token_registry_is_a_local_file_by_default_and_required_under_lambda() {
        let local = config(&[], false).unwrap();
        assert_eq!(
            local.token_registry,
            RegistryLocation::File(LOCAL_REGISTRY_PATH.into())
        );
        assert_eq!(local.token_cache, CacheSettings::default());
        let err = config(&LAMBDA[1..], true).unwrap_err();
        assert!(err.starts_with("SCIM_TOKEN_REGISTRY: required"), "{err}");
        let lambda = config(
            &[LAMBDA, &[("SCIM_TOKEN_REGISTRY", "secretsmanager:scim/tokens")]].concat(),
            true,
        )
        .unwrap();
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
    fn dynamodb_needs_a_table_and_lambda_a_cursor_key() {
        assert!(config(&[("SCIM_STORE", "dynamodb")], false)
            .unwrap_err()
            .starts_with("SCIM_TABLE"));
        assert!(config(
            &[
                ("SCIM_TABLE", "scim"),
                ("SCIM_TOKEN_REGISTRY", "secretsmanager:t")
            ],
            true
        )
        .unwrap_err()
        .starts_with("SCIM_CURSOR_KEY"));
        let c = config(&[("SCIM_STORE", "dynamodb"), ("SCIM_TABLE", "scim")], false).unwrap();
        assert_eq!(c.table.as_deref(), Some("scim"));
        assert!(config(&[("SCIM_CURSOR_KEY", "c2hvcnQ=")], false)
            .unwrap_err()
            .starts_with("SCIM_CURSOR_KEY"));
        assert!(!format!("{c:?}").contains(&format!("{:?}", c.cursor_key.0)));
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
    fn events_go_to_a_file_or_the_log_and_only_from_the_embedded_store() {
        assert_eq!(config(&[], false).unwrap().events, EventsSetting::Off);
        assert_eq!(
            config(&[("SCIM_EVENTS", "file:/tmp/e.jsonl")], false)
                .unwrap()
                .events,
            EventsSetting::File("/tmp/e.jsonl".into())
        );
        assert_eq!(
            config(&[("SCIM_EVENTS", "log")], false).unwrap().events,
            EventsSetting::Log
        );
        for bad in ["file:", "stdout"] {
            let err = config(&[("SCIM_EVENTS", bad)], false).unwrap_err();
            assert!(err.starts_with("SCIM_EVENTS"), "{err}");
        }
        let err = config(
            &[
                ("SCIM_EVENTS", "log"),
                ("SCIM_STORE", "dynamodb"),
                ("SCIM_TABLE", "t"),
            ],
            false,
        )
        .unwrap_err();
        assert!(
            err.starts_with("SCIM_EVENTS: applies to the embedded store only"),
            "{err}"
        );
    }

    #[test]
    fn the_function_is_http_unless_events_with_a_bus() {
        let function = |vars: &[(&str, &str)]| {
            let map: HashMap<String, String> =
                vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Function::from_lookup(|k| map.get(k).cloned())
        };
        assert_eq!(function(&[]).unwrap(), Function::Http);
        assert_eq!(function(&[("SCIM_FUNCTION", "http")]).unwrap(), Function::Http);
        assert_eq!(
            function(&[("SCIM_FUNCTION", "events"), ("SCIM_EVENT_BUS", "scim-events")]).unwrap(),
            Function::Events {
                bus: "scim-events".into()
            }
        );
        assert!(function(&[("SCIM_FUNCTION", "events")])
            .unwrap_err()
            .starts_with("SCIM_EVENT_BUS"));
        assert!(function(&[("SCIM_FUNCTION", "cron")])
            .unwrap_err()
            .starts_with("SCIM_FUNCTION"));
    }

    #[test]
    fn tenant_rates_default_and_refuse_what_is_not_a_positive_number() {
        assert_eq!(config(&[], false).unwrap().tenant_rates, TenantRates::default());
        let tuned = config(
            &[
                ("SCIM_TENANT_RATE_PER_SECOND", "5"),
                ("SCIM_TENANT_BURST", "10"),
                ("SCIM_TENANT_READS_PER_SECOND", "100.5"),
                ("SCIM_TENANT_READ_BURST", "1000"),
            ],
            false,
        )
        .unwrap()
        .tenant_rates;
        assert_eq!(
            tuned.requests,
            Rate {
                per_second: 5.0,
                burst: 10.0
            }
        );
        assert_eq!(
            tuned.items_read,
            Rate {
                per_second: 100.5,
                burst: 1000.0
            }
        );
        for name in [
            "SCIM_TENANT_RATE_PER_SECOND",
            "SCIM_TENANT_BURST",
            "SCIM_TENANT_READS_PER_SECOND",
            "SCIM_TENANT_READ_BURST",
        ] {
            for bad in ["0", "-3", "lots", "NaN", "inf"] {
                let err = config(&[(name, bad)], false).unwrap_err();
                assert!(err.starts_with(name), "{err}");
            }
        }
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
