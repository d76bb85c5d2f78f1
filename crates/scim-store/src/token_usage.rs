//! When, and from where, each of a tenant's tokens was last used: what `scimctl token list`
//! shows beside the registry's records, and what the silence alarm watches. The service writes
//! it at most once per token per minute per instance, so it is accurate to about a minute.

use crate::{StoreError, TenantId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A token's last use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUse {
    pub token_id: String,
    /// [`crate::timestamp`] form.
    pub last_used: String,
    /// The caller's address, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

#[async_trait]
pub trait TokenUsageStore: Send + Sync {
    /// Records a use of the tenant's token. A use older than the one kept changes nothing, so
    /// instances writing out of order never move `last_used` back.
    async fn record_token_use(&self, tenant: &TenantId, usage: &TokenUse) -> Result<(), StoreError>;

    /// The last use of each of the tenant's tokens that was ever used, in token id order.
    async fn token_uses(&self, tenant: &TenantId) -> Result<Vec<TokenUse>, StoreError>;
}
