//! The token registry's generation marker in the SCIM table (`scim_auth::GenerationMarker`): one
//! item, `pk` [`keys::TOKEN_GENERATION_PK`], whose counter `g` every token write made through
//! `scim_auth::update` (scimctl) moves on. Warm service instances read it every few seconds,
//! one strongly consistent `GetItem` of a tiny item (1 read request unit), instead of a
//! `GetSecretValue` of the whole registry, and read the secret only when it moved.
//!
//! The item is no tenant's and no resource's, so the stream processor ignores it
//! ([`keys::parse`] names nothing).

use crate::keys;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use scim_auth::{GenerationMarker, MarkedRegistry, RegistryError, RegistryLocation, TokenRegistry};
use scim_aws::Aws;
use std::sync::Arc;

/// The registry at `location`, as the service and `scimctl token` both open it: a Secrets Manager
/// registry beside a table gets the table's generation marker, so every write bumps it and warm
/// instances notice within their check interval; a file is its own marker.
pub async fn open_token_registry(
    location: &RegistryLocation,
    table: Option<&str>,
    aws: &Aws,
) -> Arc<dyn TokenRegistry> {
    let registry = location.open(aws).await;
    match (location, table) {
        (RegistryLocation::SecretsManager(_), Some(table)) => Arc::new(MarkedRegistry::new(
            registry,
            Arc::new(TokenGeneration::new(Client::new(aws.config().await), table)),
        )),
        _ => registry,
    }
}

/// The counter attribute of the generation item.
const GENERATION: &str = "g";

/// The generation marker of the token registry, on `table`.
#[derive(Debug, Clone)]
pub struct TokenGeneration {
    client: Client,
    table: String,
}

impl TokenGeneration {
    /// Give it a client of its own, not the store's: its reads are not a request's store calls.
    /// (Made from the same `scim_aws::Aws`, the two still share their pooled connections.)
    pub fn new(client: Client, table: impl Into<String>) -> TokenGeneration {
        TokenGeneration {
            client,
            table: table.into(),
        }
    }

    fn key(&self) -> [(String, AttributeValue); 2] {
        [
            (
                keys::PK.into(),
                AttributeValue::S(keys::TOKEN_GENERATION_PK.into()),
            ),
            (keys::SK.into(), AttributeValue::S(keys::UNIQUE_SK.into())),
        ]
    }

    fn error(&self, call: &str, e: impl std::error::Error) -> RegistryError {
        RegistryError::Marker(format!(
            "DynamoDB {call} on table '{}': {}",
            self.table,
            DisplayErrorContext(e)
        ))
    }
}

#[async_trait]
impl GenerationMarker for TokenGeneration {
    async fn read(&self) -> Result<Option<String>, RegistryError> {
        // Strongly consistent: a bump is seen by the next check, whichever replica answers.
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key().into_iter().collect()))
            .projection_expression("#g")
            .expression_attribute_names("#g", GENERATION)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", e))?;
        Ok(item
            .item()
            .and_then(|i| i.get(GENERATION))
            .and_then(|g| g.as_n().ok())
            .cloned())
    }

    async fn bump(&self) -> Result<(), RegistryError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key().into_iter().collect()))
            .update_expression("ADD #g :one")
            .expression_attribute_names("#g", GENERATION)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map_err(|e| self.error("UpdateItem", e))?;
        Ok(())
    }
}
