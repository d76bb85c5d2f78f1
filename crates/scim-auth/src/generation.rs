//! The registry's generation: a cheap marker that changes whenever our tools write the registry,
//! so warm service instances learn of a revocation within seconds without re-reading the whole
//! registry (a `GetSecretValue` per request would cost far more than one small read).
//!
//! A storage that has such a marker for free (a file's metadata) offers it itself
//! ([`TokenRegistry::generation`]); a storage that has none (a Secrets Manager secret, whose
//! version id is only visible through the costly read) is paired with a marker kept elsewhere
//! ([`MarkedRegistry`]; in AWS, one item of the SCIM table, implemented by `scim-dynamodb`, so
//! this crate stays free of storage). Every write through [`crate::update`] on a
//! [`MarkedRegistry`] bumps the marker after the document is stored. A write made outside our
//! tools (the console, `aws secretsmanager put-secret-value`) does not: the cache's TTL still
//! bounds how long such a change takes to arrive.

use crate::backend::{Loaded, TokenRegistry};
use crate::document::RegistryDocument;
use crate::error::RegistryError;
use async_trait::async_trait;
use std::fmt;
use std::sync::Arc;

/// A marker of the registry's content that is cheap to read. Two equal reads mean no write made
/// through our tools happened between them.
#[async_trait]
pub trait GenerationMarker: Send + Sync + fmt::Debug {
    /// The current generation, opaque; `None` when no write ever set one.
    async fn read(&self) -> Result<Option<String>, RegistryError>;

    /// Moves the generation on, after a write of the registry.
    async fn bump(&self) -> Result<(), RegistryError>;
}

/// A registry whose writes bump a marker kept beside it.
#[derive(Debug, Clone)]
pub struct MarkedRegistry {
    registry: Arc<dyn TokenRegistry>,
    marker: Arc<dyn GenerationMarker>,
}

impl MarkedRegistry {
    pub fn new(registry: Arc<dyn TokenRegistry>, marker: Arc<dyn GenerationMarker>) -> MarkedRegistry {
        MarkedRegistry { registry, marker }
    }
}

#[async_trait]
impl TokenRegistry for MarkedRegistry {
    async fn load(&self) -> Result<Loaded, RegistryError> {
        self.registry.load().await
    }

    async fn compare_and_swap(
        &self,
        expected: Option<&str>,
        document: &RegistryDocument,
    ) -> Result<(), RegistryError> {
        self.registry.compare_and_swap(expected, document).await?;
        // The document is stored; a failed bump only delays when instances notice it (up to the
        // cache TTL), so the operator is told exactly that rather than asked to write again.
        self.marker
            .bump()
            .await
            .map_err(|e| RegistryError::MarkerNotBumped(e.to_string()))
    }

    async fn generation(&self) -> Result<Option<String>, RegistryError> {
        self.marker.read().await
    }

    fn has_generation(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::update;
    use crate::document::NewToken;
    use crate::file::FileRegistry;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use time::OffsetDateTime;

    #[derive(Debug, Default)]
    struct Counter {
        value: AtomicU64,
        bumps: AtomicUsize,
    }

    #[async_trait]
    impl GenerationMarker for Counter {
        async fn read(&self) -> Result<Option<String>, RegistryError> {
            Ok(Some(self.value.load(Ordering::SeqCst).to_string()))
        }
        async fn bump(&self) -> Result<(), RegistryError> {
            self.bumps.fetch_add(1, Ordering::SeqCst);
            self.value.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn every_stored_write_bumps_the_marker_once_and_a_refused_one_never() {
        let dir = tempfile::tempdir().unwrap();
        let marker = Arc::new(Counter::default());
        let registry = MarkedRegistry::new(
            Arc::new(FileRegistry::new(dir.path().join("tokens.json"))),
            marker.clone(),
        );
        let request = NewToken {
            name: "a".into(),
            tenant: "default".into(),
            expires: OffsetDateTime::now_utc() + time::Duration::days(1),
        };
        let issued = update(&registry, |doc| doc.create(&request, OffsetDateTime::now_utc()))
            .await
            .unwrap();
        assert_eq!(registry.generation().await.unwrap().as_deref(), Some("1"));
        update(&registry, |doc| {
            Ok(doc.revoke(&issued.record.id, OffsetDateTime::now_utc())?)
        })
        .await
        .unwrap();
        assert!(update(
            &registry,
            |doc| Ok(doc.revoke("nope", OffsetDateTime::now_utc())?)
        )
        .await
        .is_err());
        assert_eq!(marker.bumps.load(Ordering::SeqCst), 2);
    }
}
