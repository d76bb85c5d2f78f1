//! The store the data commands (`tenant`, `log`, and the user and conflict commands beside it) act on:
//! the service's DynamoDB table, reached through the standard AWS chain (`AWS_REGION`,
//! `AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...). The embedded store lives inside a running local
//! server's memory, so there is nothing for a separate process to open.

use crate::Failure;
use clap::Args;
use scim_dynamodb::DynamoStore;
use scim_proto::schema::SchemaRegistry;
use scim_store::TenantId;
use std::sync::Arc;

/// `--table`, shared by every data command.
#[derive(Debug, Args)]
pub struct TableArg {
    /// The service's DynamoDB table; the server reads the same variable
    #[arg(long, env = "SCIM_TABLE", value_name = "NAME")]
    table: String,
}

impl TableArg {
    pub async fn open(&self) -> Result<DynamoStore, Failure> {
        open_table(&self.table, Arc::new(SchemaRegistry::standard())).await
    }
}

/// The table named `name`, its resources read with `registry`.
pub async fn open_table(name: &str, registry: Arc<SchemaRegistry>) -> Result<DynamoStore, Failure> {
    if name.trim().is_empty() {
        return Err(Failure::Usage("the table name is empty".into()));
    }
    Ok(DynamoStore::from_aws(&scim_aws::Aws::standard_chain(), name, registry).await)
}

/// A tenant named on the command line.
pub fn tenant(name: &str) -> Result<TenantId, Failure> {
    TenantId::new(name).map_err(|e| Failure::Usage(e.to_string()))
}

/// Prints a JSON document for scripts (`jq`) and people alike.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}
