//! Service settings, read once at start-up from the `SCIM_*` environment variables
//! (the names are a documented interface: see README.md).

use crate::console::oidc::OidcSettings;
use crate::cursor::CursorKeys;
use crate::limits::{Rate, TenantRates};
use crate::origin::OriginSecrets;
use crate::secrets::{SecretPair, SecretSource};
use scim_auth::{CacheSettings, RegistryLocation, LOCAL_REGISTRY_PATH};
use scim_proto::resource::{PasswordPolicy, ValueLimits};
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
    /// `http` or unset: the SCIM service (and, on a local server, the console too).
    Http,
    /// `console`: the operators' console alone (`crate::console`), with its own role in AWS.
    Console,
    /// `events`: the DynamoDB stream processor, publishing change events to `SCIM_EVENT_BUS`
    /// (a bus name or ARN). Reads no other setting.
    Events { bus: String },
    /// `watch`: the silence watcher ([`crate::watch`]), run on a schedule: the tenants of the
    /// registry at `SCIM_TOKEN_REGISTRY`, their settings and token uses in `SCIM_TABLE`.
    Watch {
        table: String,
        token_registry: RegistryLocation,
    },
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
            Some("console") => Ok(Function::Console),
            Some("events") => match get("SCIM_EVENT_BUS") {
                Some(bus) => Ok(Function::Events { bus }),
                None => Err(
                    "SCIM_EVENT_BUS: required with SCIM_FUNCTION=events (the EventBridge bus name or ARN)"
                        .into(),
                ),
            },
            Some("watch") => {
                let required = |name: &str, what: &str| {
                    get(name).ok_or_else(|| format!("{name}: required with SCIM_FUNCTION=watch ({what})"))
                };
                Ok(Function::Watch {
                    table: required("SCIM_TABLE", "the DynamoDB table")?,
                    token_registry: required("SCIM_TOKEN_REGISTRY", "secretsmanager:<secret id or ARN>")?
                        .parse()
                        .map_err(|e| format!("SCIM_TOKEN_REGISTRY: {e}"))?,
                })
            }
            Some(other) => Err(format!(
                "SCIM_FUNCTION: '{other}' is neither 'http', 'console', 'events' nor 'watch'"
            )),
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

/// An HMAC-SHA256 key that signs RFC 9865 cursors. Its `Debug` shows no bytes.
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
    /// Whether the admin API (`/admin/api`, admin.rs) is served: on the local listener only,
    /// never under Lambda.
    pub admin_api: bool,
    /// What this process serves: the SCIM API, the console, or (a local server) both.
    pub surface: Surface,
    /// How operators sign in to the console.
    pub console: ConsoleSettings,
    /// `SCIM_STORE`: `memory` or `dynamodb`.
    pub store: StoreChoice,
    /// `SCIM_TOKEN_REGISTRY`: where the token registry lives.
    pub token_registry: RegistryLocation,
    /// `SCIM_TOKEN_CACHE_SECONDS`, `SCIM_TOKEN_REFRESH_MIN_SECONDS`,
    /// `SCIM_TOKEN_REVOCATION_CHECK_SECONDS` and `SCIM_TOKEN_MAX_STALENESS_SECONDS`: how the
    /// registry is cached, checked for revocations, and given up on when it cannot be read.
    pub token_cache: CacheSettings,
    /// `SCIM_BOOTSTRAP_TOKEN`: a token accepted for tenant `default`, kept in memory only. Local
    /// runs only: it never expires, cannot be revoked and is listed nowhere.
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
    /// The values CloudFront's origin header may carry: `SCIM_ORIGIN_SECRET_ID` (a Secrets
    /// Manager secret, under Lambda) or `SCIM_ORIGIN_SECRET` and `SCIM_ORIGIN_SECRET_PREVIOUS`;
    /// none set = no check.
    pub origin_secret: Option<SecretSource>,
    /// `SCIM_TABLE`: the DynamoDB table; required with `SCIM_STORE=dynamodb`.
    pub table: Option<String>,
    /// The keys that sign cursors (base64): `SCIM_CURSOR_KEY_SECRET_ID` (a Secrets Manager
    /// secret, under Lambda) or `SCIM_CURSOR_KEY` and `SCIM_CURSOR_KEY_PREVIOUS`. Locally a random
    /// key per process when unset (cursors then die with the process); required under Lambda,
    /// where instances must agree.
    pub cursor_key: SecretSource,
    /// `SCIM_SECRETS_REFRESH_SECONDS`: how often the two secrets above are read again from
    /// Secrets Manager, so a rotation reaches warm instances (default 300).
    pub secrets_refresh: Duration,
    /// `SCIM_LOG_SETTINGS_SECONDS`: how long the provisioning log's writer trusts a tenant's
    /// settings (sampling, `log_bodies`, retention) before reading them again (default 30).
    pub log_settings_ttl: Duration,
    /// `SCIM_MAX_INLINE_MEMBERS`: the most members a response carries inline (one group, or
    /// all groups of a list page). Beyond it the answer is 400 `tooMany`, never a shortened
    /// list; keeps responses under Lambda's 6 MB payload limit.
    pub max_inline_members: u64,
    /// `SCIM_EVENTS`: where the embedded store publishes change events.
    pub events: EventsSetting,
    /// `SCIM_MAX_VALUES_PER_ATTRIBUTE` (default 1,000): the most values one multi-valued
    /// attribute may carry in a request; `SCIM_MAX_MEMBER_CHANGES` (default 1,000): the most
    /// group members one request may add or remove, PATCH, POST and PUT alike. Beyond either,
    /// 400 `tooMany`.
    pub value_limits: ValueLimits,
    /// `SCIM_TENANT_RATE_PER_SECOND`, `SCIM_TENANT_BURST`, `SCIM_TENANT_READS_PER_SECOND` and
    /// `SCIM_TENANT_READ_BURST`: what one tenant may do per second in one instance
    /// ([`crate::limits`]).
    pub tenant_rates: TenantRates,
    /// `SCIM_BULK_MAX_OPERATIONS` (default 100) and `SCIM_BULK_MAX_PAYLOAD_BYTES` (default
    /// 1 MiB): the limits of `POST /Bulk`, advertised in ServiceProviderConfig (RFC 7643 §5
    /// `bulk`); beyond either, 413 (RFC 7644 §3.7.4). The operations of a request run one after
    /// another in one invocation: 100 writes stay well inside the function's default 15 s.
    pub bulk: BulkSettings,
    /// `SCIM_SCHEMA_EXTENSIONS`: the operator's schema extensions file
    /// ([`scim_proto::extensions`]), read at start-up; unset = the built-in schemas only. Under
    /// Lambda a relative path is taken from `LAMBDA_TASK_ROOT`, where the function's files are.
    pub schema_extensions: Option<PathBuf>,
}

/// What one process serves. In AWS the SCIM API and the console are two functions with two
/// roles (`SCIM_FUNCTION=http` and `console`); a local server serves both unless told otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Scim,
    Console,
    Both,
}

impl Surface {
    pub fn scim(self) -> bool {
        self != Surface::Console
    }

    pub fn console(self) -> bool {
        self != Surface::Scim
    }
}

/// How operators sign in to the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// The one-time local sign-in link: local runs only, never under Lambda.
    pub local_login: bool,
    /// `SCIM_CONSOLE_OIDC_ISSUER`, `SCIM_CONSOLE_OIDC_CLIENT_ID`, `SCIM_CONSOLE_OIDC_CLIENT_SECRET`
    /// (optional: Cognito's client is public, PKCE protects the code) and
    /// `SCIM_CONSOLE_GROUPS_CLAIM` (default `cognito:groups`): the OpenID Connect provider.
    pub oidc: Option<ConsoleOidc>,
    /// `SCIM_TOKEN_EXPIRY_WARNING_DAYS` (default 14): tokens expiring within it are called out.
    pub expiry_warning_days: i64,
}

/// The console's OpenID Connect provider and what its groups mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleOidc {
    /// The provider and the client (its `Debug` hides the secret).
    pub provider: OidcSettings,
    /// `SCIM_CONSOLE_OPERATOR_GROUP` (default `scim-operators`): operates every tenant.
    pub operator_group: String,
    /// `SCIM_CONSOLE_TENANT_GROUP_PREFIX` (default `scim-tenant-`): `<prefix><tenant>` operates one.
    pub tenant_group_prefix: String,
    /// `SCIM_CONSOLE_OIDC_LOGOUT_URL`: where signing out continues, to end the provider's own
    /// session too (Cognito's `/logout`, which lists no such endpoint in its discovery document).
    pub logout_url: Option<String>,
}

/// The limits of one `POST /Bulk` (RFC 7644 §3.7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkSettings {
    pub max_operations: usize,
    pub max_payload_bytes: usize,
}

/// An address the console sends browsers or requests to: https, or http on a local server (the
/// test provider on 127.0.0.1).
fn web_url_allowed(url: &str, lambda: bool) -> bool {
    url.starts_with("https://") || (!lambda && url.starts_with("http://"))
}

fn console_settings(get: &impl Fn(&str) -> Option<String>, lambda: bool) -> Result<ConsoleSettings, String> {
    let text =
        |name: &str, default: &str| get(name).map_or_else(|| default.to_string(), |v| v.trim().to_string());
    let oidc = match get("SCIM_CONSOLE_OIDC_ISSUER") {
        None => None,
        Some(issuer) => {
            let issuer = issuer.trim().trim_end_matches('/').to_string();
            if !web_url_allowed(&issuer, lambda) {
                return Err(format!(
                    "SCIM_CONSOLE_OIDC_ISSUER: '{issuer}' is not an https:// URL (http:// only on a local server)"
                ));
            }
            Some(ConsoleOidc {
                provider: OidcSettings {
                    issuer,
                    client_id: get("SCIM_CONSOLE_OIDC_CLIENT_ID")
                        .map(|v| v.trim().to_string())
                        .ok_or("SCIM_CONSOLE_OIDC_CLIENT_ID: required with SCIM_CONSOLE_OIDC_ISSUER")?,
                    client_secret: get("SCIM_CONSOLE_OIDC_CLIENT_SECRET").map(|v| v.trim().to_string()),
                    groups_claim: text("SCIM_CONSOLE_GROUPS_CLAIM", "cognito:groups"),
                },
                operator_group: text("SCIM_CONSOLE_OPERATOR_GROUP", "scim-operators"),
                tenant_group_prefix: text("SCIM_CONSOLE_TENANT_GROUP_PREFIX", "scim-tenant-"),
                logout_url: match get("SCIM_CONSOLE_OIDC_LOGOUT_URL").map(|v| v.trim().to_string()) {
                    Some(url) if !web_url_allowed(&url, lambda) => {
                        return Err(format!(
                            "SCIM_CONSOLE_OIDC_LOGOUT_URL: '{url}' is not an https:// URL"
                        ))
                    }
                    url => url,
                },
            })
        }
    };
    let expiry_warning_days = match get("SCIM_TOKEN_EXPIRY_WARNING_DAYS") {
        None => 14,
        Some(v) => v
            .trim()
            .parse::<u16>()
            .map(i64::from)
            .map_err(|e| format!("SCIM_TOKEN_EXPIRY_WARNING_DAYS: {e}"))?,
    };
    Ok(ConsoleSettings {
        local_login: !lambda,
        oidc,
        expiry_warning_days,
    })
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
        let defaults = ValueLimits::default();
        let count = |name: &str, default: usize| -> Result<usize, String> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(0) => Err(format!("{name}: must be at least 1")),
                    Ok(n) => Ok(n),
                    Err(e) => Err(format!("{name}: {e}")),
                },
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
            check_interval: Duration::from_secs(number("SCIM_TOKEN_REVOCATION_CHECK_SECONDS", 5)?),
            max_staleness: Duration::from_secs(number("SCIM_TOKEN_MAX_STALENESS_SECONDS", 300)?),
        };
        // Between two reads the registry is only as fresh as the last one: a max staleness not
        // above the read intervals would refuse every request in between.
        let longest_read_interval = token_cache.check_interval.max(token_cache.ttl);
        if token_cache.max_staleness <= longest_read_interval {
            return Err(format!(
                "SCIM_TOKEN_MAX_STALENESS_SECONDS: {} s; it must exceed both SCIM_TOKEN_CACHE_SECONDS and \
                 SCIM_TOKEN_REVOCATION_CHECK_SECONDS ({} s)",
                token_cache.max_staleness.as_secs(),
                longest_read_interval.as_secs()
            ));
        }
        let bootstrap_token = get("SCIM_BOOTSTRAP_TOKEN");
        if lambda && bootstrap_token.is_some() {
            return Err(
                "SCIM_BOOTSTRAP_TOKEN: refused under AWS Lambda: it never expires, cannot be \
                revoked and is listed nowhere. Unset it and use a registry token \
                (scimctl token create --name NAME --expires 90d)"
                    .into(),
            );
        }
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
        // A rotated secret: the id of a Secrets Manager secret, or the value and the previous one.
        let rotated = |name: &str, id_name: &str| -> Result<Option<SecretSource>, String> {
            let previous_name = format!("{name}_PREVIOUS");
            match (get(id_name), get(name)) {
                (Some(_), Some(_)) => Err(format!("{id_name}: set together with {name}; set one of them")),
                (Some(id), None) => Ok(Some(SecretSource::SecretsManager(id.trim().to_string()))),
                (None, Some(current)) => Ok(Some(SecretSource::Inline(SecretPair {
                    current,
                    previous: get(&previous_name),
                }))),
                (None, None) => match get(&previous_name) {
                    Some(_) => Err(format!("{previous_name}: set without {name}")),
                    None => Ok(None),
                },
            }
        };
        let origin_secret = rotated("SCIM_ORIGIN_SECRET", "SCIM_ORIGIN_SECRET_ID")?;
        if let Some(SecretSource::Inline(pair)) = &origin_secret {
            OriginSecrets::from_pair(pair).map_err(|e| format!("SCIM_ORIGIN_SECRET: {e}"))?;
        }
        let cursor_key = match rotated("SCIM_CURSOR_KEY", "SCIM_CURSOR_KEY_SECRET_ID")? {
            Some(source) => source,
            None if lambda => {
                return Err(
                    "SCIM_CURSOR_KEY_SECRET_ID: required under Lambda (or SCIM_CURSOR_KEY, base64 of at \
                     least 16 bytes), so that every instance accepts the cursors of the others"
                        .into(),
                )
            }
            None => {
                use base64::Engine as _;
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key).map_err(|e| format!("cannot read the OS random source: {e}"))?;
                SecretSource::Inline(SecretPair {
                    current: base64::engine::general_purpose::STANDARD.encode(key),
                    previous: None,
                })
            }
        };
        if let SecretSource::Inline(pair) = &cursor_key {
            CursorKeys::from_pair(pair).map_err(|e| match e.strip_prefix("previous: ") {
                Some(e) => format!("SCIM_CURSOR_KEY_PREVIOUS: {e}"),
                None => format!("SCIM_CURSOR_KEY: {}", e.trim_start_matches("current: ")),
            })?;
        }
        let tenant_rates = tenant_rates(&get)?;
        let surface = match (get("SCIM_FUNCTION").as_deref().map(str::trim), lambda) {
            (Some("console"), _) => Surface::Console,
            (_, true) => Surface::Scim,
            (_, false) => Surface::Both,
        };
        let console = console_settings(&get, lambda)?;
        if lambda && surface == Surface::Console && console.oidc.is_none() {
            return Err(
                "SCIM_CONSOLE_OIDC_ISSUER: required with SCIM_FUNCTION=console under Lambda (operators \
                 sign in through it; the local sign-in link exists only on a local server)"
                    .into(),
            );
        }
        Ok(Config {
            listen,
            admin_api: !lambda,
            surface,
            console,
            store,
            token_registry,
            token_cache,
            bootstrap_token,
            public_base_url: get("SCIM_PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_string()),
            max_body_bytes: usize::try_from(number("SCIM_MAX_BODY_BYTES", 1024 * 1024)?)
                .map_err(|e| format!("SCIM_MAX_BODY_BYTES: {e}"))?,
            max_page_size,
            default_page_size: number("SCIM_DEFAULT_PAGE_SIZE", 100)?.clamp(1, max_page_size),
            password,
            origin_secret,
            table,
            cursor_key,
            secrets_refresh: Duration::from_secs(number("SCIM_SECRETS_REFRESH_SECONDS", 300)?),
            log_settings_ttl: Duration::from_secs(number("SCIM_LOG_SETTINGS_SECONDS", 30)?),
            max_inline_members: number("SCIM_MAX_INLINE_MEMBERS", 10_000)?,
            events,
            value_limits: ValueLimits {
                per_attribute: count("SCIM_MAX_VALUES_PER_ATTRIBUTE", defaults.per_attribute)?,
                members: count("SCIM_MAX_MEMBER_CHANGES", defaults.members)?,
            },
            tenant_rates,
            bulk: BulkSettings {
                max_operations: count("SCIM_BULK_MAX_OPERATIONS", 100)?,
                max_payload_bytes: count("SCIM_BULK_MAX_PAYLOAD_BYTES", 1024 * 1024)?,
            },
            schema_extensions: get("SCIM_SCHEMA_EXTENSIONS").map(|path| {
                let path = PathBuf::from(path.trim());
                match get("LAMBDA_TASK_ROOT") {
                    Some(root) if lambda && path.is_relative() => PathBuf::from(root.trim()).join(path),
                    _ => path,
                }
            }),
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
        assert_eq!(local.value_limits, ValueLimits::default());
        let SecretSource::Inline(random) = &local.cursor_key else {
            panic!("a key of its own locally")
        };
        assert_eq!(CursorKeys::from_pair(random).unwrap().current.0.len(), 32);
        assert_ne!(local.cursor_key, config(&[], false).unwrap().cursor_key);
    }

    #[test]
    fn schema_extensions_are_a_path_from_the_task_root_under_lambda() {
        assert_eq!(config(&[], false).unwrap().schema_extensions, None);
        let local = config(&[("SCIM_SCHEMA_EXTENSIONS", "ext.json")], false).unwrap();
        assert_eq!(local.schema_extensions, Some(PathBuf::from("ext.json")));
        let vars = [
            LAMBDA,
            &[
                ("SCIM_SCHEMA_EXTENSIONS", "ext.json"),
                ("LAMBDA_TASK_ROOT", "/var/task"),
            ],
        ]
        .concat();
        assert_eq!(
            config(&vars, true).unwrap().schema_extensions,
            Some(PathBuf::from("/var/task/ext.json"))
        );
        let absolute = [
            LAMBDA,
            &[
                ("SCIM_SCHEMA_EXTENSIONS", "/opt/ext.json"),
                ("LAMBDA_TASK_ROOT", "/var/task"),
            ],
        ]
        .concat();
        assert_eq!(
            config(&absolute, true).unwrap().schema_extensions,
            Some(PathBuf::from("/opt/ext.json"))
        );
    }

    #[test]
    fn bulk_limits_have_defaults_and_refuse_zero() {
        let defaults = config(&[], false).unwrap().bulk;
        assert_eq!(
            defaults,
            BulkSettings {
                max_operations: 100,
                max_payload_bytes: 1024 * 1024
            }
        );
        let set = config(
            &[
                ("SCIM_BULK_MAX_OPERATIONS", "7"),
                ("SCIM_BULK_MAX_PAYLOAD_BYTES", "2048"),
            ],
            false,
        )
        .unwrap();
        assert_eq!((set.bulk.max_operations, set.bulk.max_payload_bytes), (7, 2048));
        let err = config(&[("SCIM_BULK_MAX_OPERATIONS", "0")], false).unwrap_err();
        assert!(err.starts_with("SCIM_BULK_MAX_OPERATIONS"), "{err}");
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
        let SecretSource::Inline(key) = &c.cursor_key else {
            panic!("inline")
        };
        assert!(!format!("{c:?}").contains(&key.current));
    }

    #[test]
    fn the_bootstrap_token_is_refused_under_lambda_and_kept_locally() {
        let err = config(&[LAMBDA, &[("SCIM_BOOTSTRAP_TOKEN", "SCIM_dev")]].concat(), true).unwrap_err();
        assert!(
            err.starts_with("SCIM_BOOTSTRAP_TOKEN: refused under AWS Lambda"),
            "{err}"
        );
        assert!(!err.contains("SCIM_dev"), "{err}");
        let local = config(&[("SCIM_BOOTSTRAP_TOKEN", "SCIM_dev")], false).unwrap();
        assert_eq!(local.bootstrap_token.as_deref(), Some("SCIM_dev"));
    }

    #[test]
    fn revocation_checks_and_staleness_have_defaults_and_settings() {
        let local = config(&[], false).unwrap();
        assert_eq!(local.token_cache.check_interval, Duration::from_secs(5));
        assert_eq!(local.token_cache.max_staleness, Duration::from_secs(300));
        let tuned = config(
            &[
                ("SCIM_TOKEN_REVOCATION_CHECK_SECONDS", "0"),
                ("SCIM_TOKEN_CACHE_SECONDS", "30"),
                ("SCIM_TOKEN_MAX_STALENESS_SECONDS", "60"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(tuned.token_cache.check_interval, Duration::ZERO);
        assert_eq!(tuned.token_cache.max_staleness, Duration::from_secs(60));
        let err = config(&[("SCIM_TOKEN_MAX_STALENESS_SECONDS", "60")], false).unwrap_err();
        assert!(
            err.starts_with("SCIM_TOKEN_MAX_STALENESS_SECONDS: 60 s; it must exceed"),
            "{err}"
        );
        for name in [
            "SCIM_TOKEN_REVOCATION_CHECK_SECONDS",
            "SCIM_TOKEN_MAX_STALENESS_SECONDS",
            "SCIM_SECRETS_REFRESH_SECONDS",
            "SCIM_LOG_SETTINGS_SECONDS",
        ] {
            assert!(config(&[(name, "soon")], false).unwrap_err().starts_with(name));
        }
    }

    #[test]
    fn rotated_secrets_come_from_a_secret_id_or_two_variables() {
        let key = "MDEyMzQ1Njc4OWFiY2RlZg==";
        let old = "b2xkLWN1cnNvci1rZXktMTIzNA==";
        let c = config(
            &[
                ("SCIM_ORIGIN_SECRET", "new"),
                ("SCIM_ORIGIN_SECRET_PREVIOUS", "old"),
                ("SCIM_CURSOR_KEY", key),
                ("SCIM_CURSOR_KEY_PREVIOUS", old),
            ],
            false,
        )
        .unwrap();
        assert_eq!(
            c.origin_secret,
            Some(SecretSource::Inline(SecretPair {
                current: "new".into(),
                previous: Some("old".into())
            }))
        );
        assert_eq!(
            c.cursor_key,
            SecretSource::Inline(SecretPair {
                current: key.into(),
                previous: Some(old.into())
            })
        );
        assert_eq!(c.secrets_refresh, Duration::from_secs(300));
        assert_eq!(c.log_settings_ttl, Duration::from_secs(30));
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:scim-origin-AbCdEf";
        let lambda = config(
            &[
                ("SCIM_TOKEN_REGISTRY", "secretsmanager:t"),
                ("SCIM_TABLE", "scim"),
                ("SCIM_ORIGIN_SECRET_ID", arn),
                ("SCIM_CURSOR_KEY_SECRET_ID", "scim-cursor"),
            ],
            true,
        )
        .unwrap();
        assert_eq!(
            lambda.origin_secret,
            Some(SecretSource::SecretsManager(arn.into()))
        );
        assert_eq!(
            lambda.cursor_key,
            SecretSource::SecretsManager("scim-cursor".into())
        );
        assert_eq!(config(&[], false).unwrap().origin_secret, None);
        for (vars, name) in [
            (
                &[("SCIM_ORIGIN_SECRET_ID", "a"), ("SCIM_ORIGIN_SECRET", "b")][..],
                "SCIM_ORIGIN_SECRET_ID",
            ),
            (
                &[("SCIM_ORIGIN_SECRET_PREVIOUS", "b")][..],
                "SCIM_ORIGIN_SECRET_PREVIOUS",
            ),
            (
                &[("SCIM_CURSOR_KEY", key), ("SCIM_CURSOR_KEY_PREVIOUS", "x")][..],
                "SCIM_CURSOR_KEY_PREVIOUS",
            ),
        ] {
            let err = config(vars, false).unwrap_err();
            assert!(err.starts_with(name), "{err}");
        }
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
    fn the_console_is_served_locally_beside_the_api_and_alone_by_its_own_function() {
        let local = config(&[], false).unwrap();
        assert_eq!(local.surface, Surface::Both);
        assert!(local.console.local_login && local.console.oidc.is_none());
        assert_eq!(local.console.expiry_warning_days, 14);
        assert_eq!(config(LAMBDA, true).unwrap().surface, Surface::Scim);
        assert!(
            !config(LAMBDA, true).unwrap().console.local_login,
            "no local link under Lambda"
        );

        let console = [("SCIM_FUNCTION", "console")];
        let err = config(&[LAMBDA, &console].concat(), true).unwrap_err();
        assert!(err.starts_with("SCIM_CONSOLE_OIDC_ISSUER"), "{err}");
        let cognito = [
            (
                "SCIM_CONSOLE_OIDC_ISSUER",
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x/",
            ),
            ("SCIM_CONSOLE_OIDC_CLIENT_ID", "client"),
        ];
        let aws = config(&[LAMBDA, &console, &cognito].concat(), true).unwrap();
        assert_eq!(aws.surface, Surface::Console);
        assert!(!aws.surface.scim() && aws.surface.console());
        let oidc = aws.console.oidc.unwrap();
        assert_eq!(
            oidc.provider.issuer,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x"
        );
        assert_eq!(
            (
                oidc.provider.groups_claim.as_str(),
                oidc.operator_group.as_str(),
                oidc.tenant_group_prefix.as_str()
            ),
            ("cognito:groups", "scim-operators", "scim-tenant-")
        );
        assert_eq!(oidc.provider.client_secret, None);
        assert_eq!(oidc.logout_url, None);
        let logout = [(
            "SCIM_CONSOLE_OIDC_LOGOUT_URL",
            "https://x.auth.eu-west-1.amazoncognito.com/logout?client_id=c",
        )];
        let with_logout = config(&[LAMBDA, &console, &cognito, &logout].concat(), true).unwrap();
        assert!(with_logout
            .console
            .oidc
            .unwrap()
            .logout_url
            .unwrap()
            .ends_with("client_id=c"));
        let bad_logout = [("SCIM_CONSOLE_OIDC_LOGOUT_URL", "javascript:alert(1)")];
        assert!(config(&[LAMBDA, &console, &cognito, &bad_logout].concat(), true).is_err());

        let plain_http = [
            ("SCIM_CONSOLE_OIDC_ISSUER", "http://idp.example"),
            ("SCIM_CONSOLE_OIDC_CLIENT_ID", "c"),
        ];
        assert!(
            config(&[LAMBDA, &console, &plain_http].concat(), true).is_err(),
            "http only locally"
        );
        assert!(config(&plain_http, false).is_ok());
        let no_client = [("SCIM_CONSOLE_OIDC_ISSUER", "https://idp.example")];
        assert!(config(&no_client, false)
            .unwrap_err()
            .starts_with("SCIM_CONSOLE_OIDC_CLIENT_ID"));
        assert!(config(&[("SCIM_TOKEN_EXPIRY_WARNING_DAYS", "x")], false).is_err());
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
    fn the_function_is_http_unless_events_with_a_bus_or_the_watcher_with_its_table_and_registry() {
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
        assert_eq!(
            function(&[
                ("SCIM_FUNCTION", "watch"),
                ("SCIM_TABLE", "scim"),
                ("SCIM_TOKEN_REGISTRY", "secretsmanager:scim/tokens")
            ])
            .unwrap(),
            Function::Watch {
                table: "scim".into(),
                token_registry: RegistryLocation::SecretsManager("scim/tokens".into())
            }
        );
        for (missing, vars) in [
            ("SCIM_TABLE", &[("SCIM_TOKEN_REGISTRY", "secretsmanager:t")]),
            ("SCIM_TOKEN_REGISTRY", &[("SCIM_TABLE", "scim")]),
        ] {
            let err = function(&[&[("SCIM_FUNCTION", "watch")], &vars[..]].concat()).unwrap_err();
            assert!(err.starts_with(missing), "{err}");
        }
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
