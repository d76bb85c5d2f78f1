//! Secrets that rotate: CloudFront's origin-verify value and the cursor key. Each has a
//! `current` value and may have a `previous` one; both are accepted (a cursor signed with the
//! previous key still opens, CloudFront may still send the previous header value), and only
//! `current` signs. That is what lets an operator rotate either without an outage (infra/README.md,
//! "Rotating the origin secret and the cursor key").
//!
//! Locally the values come from the environment (`X` and `X_PREVIOUS`). Under Lambda the function
//! is given only the id of a Secrets Manager secret (`X_SECRET_ID`) whose `SecretString` is
//! `{"current": "...", "previous": "..."}`, so the values never appear in what
//! `GetFunctionConfiguration` shows; it is read at start, and again by the first request after
//! `SCIM_SECRETS_REFRESH_SECONDS` (single flight), so a rotation reaches warm instances. A failed
//! re-read keeps the values in use (a stale pair still holds the old current value, which the
//! rotation procedure keeps valid until every instance has re-read) and is logged.

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;
use scim_aws::Aws;
use serde::Deserialize;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// The two values of a rotated secret, as configured.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct SecretPair {
    pub current: String,
    #[serde(default)]
    pub previous: Option<String>,
}

impl fmt::Debug for SecretPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretPair(<redacted>, previous: {})",
            if self.previous.is_some() {
                "<redacted>"
            } else {
                "none"
            }
        )
    }
}

impl SecretPair {
    /// The pair with a blank `previous` read as none (a generated secret starts with `""`).
    fn normalised(self) -> SecretPair {
        SecretPair {
            previous: self.previous.filter(|p| !p.trim().is_empty()),
            ..self
        }
    }
}

/// Where a rotated secret's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Read from the environment at start (local runs).
    Inline(SecretPair),
    /// The id or ARN of a Secrets Manager secret holding the pair as JSON (under Lambda).
    SecretsManager(String),
}

/// One Secrets Manager client for every rotated secret of the process, made when the first one
/// needs it, on the process's shared AWS configuration: the secrets share its connections with
/// the token registry's.
#[derive(Debug)]
pub struct SecretsClient {
    aws: Aws,
    client: tokio::sync::OnceCell<Client>,
}

impl SecretsClient {
    pub fn new(aws: &Aws) -> SecretsClient {
        SecretsClient {
            aws: aws.clone(),
            client: tokio::sync::OnceCell::new(),
        }
    }

    async fn get(&self) -> &Client {
        self.client
            .get_or_init(|| async { Client::new(self.aws.config().await) })
            .await
    }
}

/// A secret's parsed values, kept current from its source.
pub struct Rotating<T> {
    source: Option<(Client, String)>,
    parse: fn(&SecretPair) -> Result<T, String>,
    refresh: Duration,
    value: RwLock<(Arc<T>, Instant)>,
    refreshing: tokio::sync::Mutex<()>,
}

impl<T> fmt::Debug for Rotating<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotating")
            .field("secret_id", &self.source.as_ref().map(|(_, id)| id))
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl<T> Rotating<T> {
    /// Reads the secret once (a start-up error when it cannot be read or parsed), through
    /// `client` when it lives in Secrets Manager. `parse` turns a pair into what the service uses,
    /// refusing bad values with a message.
    pub async fn open(
        source: &SecretSource,
        parse: fn(&SecretPair) -> Result<T, String>,
        refresh: Duration,
        client: &SecretsClient,
    ) -> Result<Rotating<T>, String> {
        match source {
            SecretSource::Inline(pair) => Ok(Rotating::with(None, parse(pair)?, parse, refresh)),
            SecretSource::SecretsManager(id) => {
                Rotating::from_secret(client.get().await.clone(), id, parse, refresh).await
            }
        }
    }

    /// Reads secret `id` through `client` once, and again every `refresh`.
    pub async fn from_secret(
        client: Client,
        id: &str,
        parse: fn(&SecretPair) -> Result<T, String>,
        refresh: Duration,
    ) -> Result<Rotating<T>, String> {
        let parsed = parse(&read_pair(&client, id).await?).map_err(|e| format!("secret '{id}': {e}"))?;
        Ok(Rotating::with(
            Some((client, id.to_string())),
            parsed,
            parse,
            refresh,
        ))
    }

    fn with(
        source: Option<(Client, String)>,
        parsed: T,
        parse: fn(&SecretPair) -> Result<T, String>,
        refresh: Duration,
    ) -> Rotating<T> {
        Rotating {
            value: RwLock::new((Arc::new(parsed), Instant::now())),
            source,
            parse,
            refresh,
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The values in use, re-read first when the last read is older than the refresh interval.
    pub async fn get(&self) -> Arc<T> {
        let Some((client, id)) = &self.source else {
            return self.current();
        };
        if !self.due() {
            return self.current();
        }
        let _flight = self.refreshing.lock().await;
        if !self.due() {
            return self.current();
        }
        let read = read_pair(client, id).await.and_then(|pair| (self.parse)(&pair));
        let mut value = self.value.write().unwrap_or_else(PoisonError::into_inner);
        // Also on failure: the next attempt waits a whole interval, not the next request.
        value.1 = Instant::now();
        match read {
            Ok(parsed) => value.0 = Arc::new(parsed),
            Err(e) => tracing::warn!(error = %e, "rotated secret re-read failed; the values in use stay"),
        }
        value.0.clone()
    }

    fn due(&self) -> bool {
        let value = self.value.read().unwrap_or_else(PoisonError::into_inner);
        Instant::now() >= value.1 + self.refresh
    }

    fn current(&self) -> Arc<T> {
        self.value
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }
}

/// The pair stored in secret `id`. Errors name the secret, never its value.
pub async fn read_pair(client: &Client, id: &str) -> Result<SecretPair, String> {
    let output = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| format!("GetSecretValue on '{id}': {}", DisplayErrorContext(e)))?;
    let text = output
        .secret_string()
        .ok_or_else(|| format!("secret '{id}' holds binary data, not JSON"))?;
    serde_json::from_str::<SecretPair>(text)
        .map(SecretPair::normalised)
        .map_err(|_| {
            format!("secret '{id}' is not JSON of the form {{\"current\": \"...\", \"previous\": \"...\"}}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_with_or_without_previous_and_never_print_a_value() {
        let pair: SecretPair = serde_json::from_str(r#"{"current": "c-value", "previous": ""}"#).unwrap();
        assert_eq!(pair.clone().normalised().previous, None);
        let pair: SecretPair =
            serde_json::from_str(r#"{"current": "c-value", "previous": "p-value"}"#).unwrap();
        assert_eq!(pair.normalised().previous.as_deref(), Some("p-value"));
        let pair: SecretPair = serde_json::from_str(r#"{"current": "c-value"}"#).unwrap();
        assert_eq!(pair.previous, None);
        assert!(!format!("{pair:?}").contains("value"));
    }
}
