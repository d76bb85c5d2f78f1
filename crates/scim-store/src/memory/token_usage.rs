//! Token uses in the embedded store ([`TokenUsageStore`]).

use super::{poisoned, MemoryStore};
use crate::{metering, StoreError, TenantId, TokenUsageStore, TokenUse};
use async_trait::async_trait;

#[async_trait]
impl TokenUsageStore for MemoryStore {
    async fn record_token_use(&self, tenant: &TenantId, usage: &TokenUse) -> Result<(), StoreError> {
        metering::count_call();
        let mut uses = self.token_uses.lock().map_err(poisoned)?;
        let tokens = uses.entry(tenant.clone()).or_default();
        match tokens.get(&usage.token_id) {
            Some(kept) if kept.last_used >= usage.last_used => {}
            _ => {
                tokens.insert(usage.token_id.clone(), usage.clone());
            }
        }
        Ok(())
    }

    async fn token_uses(&self, tenant: &TenantId) -> Result<Vec<TokenUse>, StoreError> {
        metering::count_call();
        let uses = self.token_uses.lock().map_err(poisoned)?;
        Ok(uses
            .get(tenant)
            .map(|tokens| tokens.values().cloned().collect())
            .unwrap_or_default())
    }
}
