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
    /// The table, its resources read with the service's schemas ([`schema_registry`]).
    pub async fn open(&self) -> Result<DynamoStore, Failure> {
        self.open_with(Arc::new(schema_registry()?)).await
    }

    /// The table, its resources read with `registry`.
    pub async fn open_with(&self, registry: Arc<SchemaRegistry>) -> Result<DynamoStore, Failure> {
        open_table(&self.table, registry).await
    }
}

/// The service's schemas: the built-in ones and the extensions of the file
/// `SCIM_SCHEMA_EXTENSIONS` names, the variable the server reads, so users are checked and
/// rendered here as the service does (an extension's `returned: never` values stay hidden).
pub fn schema_registry() -> Result<SchemaRegistry, Failure> {
    let Some(path) = std::env::var_os("SCIM_SCHEMA_EXTENSIONS").filter(|p| !p.is_empty()) else {
        return Ok(SchemaRegistry::standard());
    };
    let path = std::path::PathBuf::from(path);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::Failed(format!(
            "SCIM_SCHEMA_EXTENSIONS: cannot read {}: {e}",
            path.display()
        ))
    })?;
    SchemaRegistry::with_extension_file(&path.display().to_string(), &text)
        .map_err(|e| Failure::Failed(format!("SCIM_SCHEMA_EXTENSIONS: {e}")))
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
