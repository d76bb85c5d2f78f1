//! Token uses ([`TokenUsageStore`]): one item per token in `L#<tenant>#TOKENS`, sort key the
//! token id, holding its last use (`lu`) and the caller's address (`cl`). A use is one
//! conditional PutItem that only ever moves `lu` forward; listing is one Query (paged).

use crate::record::{attr, get_s, s};
use crate::{error, keys, DynamoStore};
use async_trait::async_trait;
use scim_store::{StoreError, TenantId, TokenUsageStore, TokenUse};

/// Items per Query page when listing a tenant's token uses (a tenant has a handful of tokens).
const USES_PAGE: i32 = 1000;
/// Most Query pages one listing reads: far more tokens than a tenant ever has.
const MAX_USES_PAGES: usize = 100;

#[async_trait]
impl TokenUsageStore for DynamoStore {
    /// One PutItem, conditional on the kept use being older: instances write out of order, and a
    /// failed condition means a newer use is already kept, which is success.
    async fn record_token_use(&self, tenant: &TenantId, usage: &TokenUse) -> Result<(), StoreError> {
        if usage.token_id.is_empty() {
            return Err(StoreError::Invalid("a token use needs a token id".into()));
        }
        let mut item = Self::key(keys::token_uses(tenant), usage.token_id.clone());
        item.insert(attr::LAST_USED.into(), s(&usage.last_used));
        if let Some(client) = &usage.client {
            item.insert(attr::CLIENT.into(), s(client));
        }
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #lu < :lu")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#lu", attr::LAST_USED)
            .expression_attribute_values(":lu", s(&usage.last_used))
            .send()
            .await;
        // A failed condition: a newer use is kept already.
        error::applied("PutItem", sent).map(|_| ())
    }

    /// One Query of the tenant's token partition (sort key order is token id order).
    async fn token_uses(&self, tenant: &TenantId) -> Result<Vec<TokenUse>, StoreError> {
        let pk = keys::token_uses(tenant);
        let mut uses = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_USES_PAGES {
            let (items, more) = self.query_page(&pk, after.as_deref(), USES_PAGE, None).await?;
            for item in &items {
                let corrupt = || StoreError::Unavailable("a token use item is malformed".into());
                uses.push(TokenUse {
                    token_id: get_s(item, keys::SK).ok_or_else(corrupt)?.to_string(),
                    last_used: get_s(item, attr::LAST_USED).ok_or_else(corrupt)?.to_string(),
                    client: get_s(item, attr::CLIENT).map(str::to_string),
                });
            }
            after = uses.last().map(|u| u.token_id.clone());
            if !more || items.is_empty() {
                break;
            }
        }
        Ok(uses)
    }
}
