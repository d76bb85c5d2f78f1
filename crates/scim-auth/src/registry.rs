//! Where the registry document lives, and how it is changed safely when several operators (or
//! `scimctl` runs) write at once: load, change, compare-and-swap, and on a lost race start over
//! from the fresh document, so no writer's token is ever lost.

use crate::document::RegistryDocument;
use crate::error::RegistryError;
use crate::file::FileRegistry;
use crate::secrets_manager::SecretsManagerRegistry;
use crate::token::random_bytes;
use async_trait::async_trait;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// A registry document and the revision it was read at.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub document: RegistryDocument,
    /// `None` when nothing is stored yet. Otherwise an opaque marker of the stored content
    /// (a content hash for a file, the `AWSCURRENT` version id for a secret).
    pub revision: Option<String>,
}

/// Storage for the registry document.
#[async_trait]
pub trait TokenRegistry: Send + Sync + fmt::Debug {
    /// The current document (an empty one when nothing is stored yet).
    async fn load(&self) -> Result<Loaded, RegistryError>;

    /// Stores `document` if the stored revision is still `expected`, and otherwise answers
    /// [`RegistryError::Conflict`] without writing anything.
    async fn compare_and_swap(
        &self,
        expected: Option<&str>,
        document: &RegistryDocument,
    ) -> Result<(), RegistryError>;
}

/// How many times [`update`] reloads and re-applies a change after losing a race.
pub const MAX_ATTEMPTS: u32 = 10;

/// Applies `change` to the current document and stores the result. When another writer got in
/// between, the change is applied again to the fresh document; a change that fails is never stored.
pub async fn update<T>(
    registry: &dyn TokenRegistry,
    mut change: impl FnMut(&mut RegistryDocument) -> Result<T, RegistryError> + Send,
) -> Result<T, RegistryError> {
    for attempt in 0..MAX_ATTEMPTS {
        let Loaded {
            mut document,
            revision,
        } = registry.load().await?;
        let outcome = change(&mut document)?;
        match registry.compare_and_swap(revision.as_deref(), &document).await {
            Ok(()) => return Ok(outcome),
            Err(RegistryError::Conflict) => tokio::time::sleep(backoff(attempt)?).await,
            Err(e) => return Err(e),
        }
    }
    Err(RegistryError::Contended {
        attempts: MAX_ATTEMPTS,
    })
}

/// Exponential backoff from 10 ms, with random jitter so racing writers fall out of step.
fn backoff(attempt: u32) -> Result<Duration, RegistryError> {
    let [jitter] = random_bytes::<1>()?;
    Ok(Duration::from_millis(
        (10u64 << attempt.min(6)) + u64::from(jitter % 32),
    ))
}

/// The registry of local runs (the server outside Lambda, and `scimctl`) when `SCIM_TOKEN_REGISTRY`
/// is not set: a file under the git-ignored `.local/`, relative to the working directory.
pub const LOCAL_REGISTRY_PATH: &str = ".local/tokens.json";

/// `SCIM_TOKEN_REGISTRY` (and `scimctl --registry`): `file:<path>` or
/// `secretsmanager:<secret id or ARN>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryLocation {
    File(PathBuf),
    SecretsManager(String),
}

impl FromStr for RegistryLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let location = match text.split_once(':') {
            Some(("file", path)) if !path.is_empty() => RegistryLocation::File(PathBuf::from(path)),
            Some(("secretsmanager", id)) if !id.is_empty() => RegistryLocation::SecretsManager(id.into()),
            _ => {
                return Err(format!(
                    "'{text}' is neither file:<path> nor secretsmanager:<secret id or ARN>"
                ))
            }
        };
        Ok(location)
    }
}

impl fmt::Display for RegistryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryLocation::File(path) => write!(f, "file:{}", path.display()),
            RegistryLocation::SecretsManager(id) => write!(f, "secretsmanager:{id}"),
        }
    }
}

impl RegistryLocation {
    /// The registry at this location. Secrets Manager is reached through the standard AWS
    /// configuration chain (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL`, ...).
    pub async fn open(&self) -> Arc<dyn TokenRegistry> {
        match self {
            RegistryLocation::File(path) => Arc::new(FileRegistry::new(path.clone())),
            RegistryLocation::SecretsManager(id) => Arc::new(SecretsManagerRegistry::from_env(id).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_print() {
        let cases = [
            (
                "file:.local/tokens.json",
                RegistryLocation::File(".local/tokens.json".into()),
            ),
            ("file:/a:b", RegistryLocation::File("/a:b".into())),
            (
                "secretsmanager:scim/tokens",
                RegistryLocation::SecretsManager("scim/tokens".into()),
            ),
            (
                "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:scim-AbCdEf",
                RegistryLocation::SecretsManager(
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:scim-AbCdEf".into(),
                ),
            ),
        ];
        for (text, want) in cases {
            let parsed: RegistryLocation = text.parse().unwrap();
            assert_eq!(parsed, want);
            assert_eq!(parsed.to_string(), text);
        }
        for bad in [
            "",
            "file:",
            "secretsmanager:",
            "tokens.json",
            "s3:bucket/key",
            "FILE:x",
        ] {
            assert!(bad.parse::<RegistryLocation>().is_err(), "{bad}");
        }
    }
}
