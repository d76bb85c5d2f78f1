//! How a registry document is stored and changed safely when several operators (or `scimctl`
//! runs) write at once: each storage implements [`TokenRegistry`] (load, compare-and-swap), and
//! [`update`] loads, changes, swaps, and on a lost race starts over from the fresh document, so
//! no writer's token is ever lost. The storages depend on this module; which storage a location
//! names is decided above them, in `registry`.

use crate::document::RegistryDocument;
use crate::error::RegistryError;
use crate::token::random_bytes;
use async_trait::async_trait;
use std::fmt;
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

    /// The registry's generation (see `generation`): cheap to read, changed by every write made
    /// through [`update`]. Only meaningful when [`TokenRegistry::has_generation`].
    async fn generation(&self) -> Result<Option<String>, RegistryError> {
        Ok(None)
    }

    /// Whether [`TokenRegistry::generation`] tracks writes; without it, only the cache TTL
    /// bounds how long a change takes to reach the service.
    fn has_generation(&self) -> bool {
        false
    }
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
