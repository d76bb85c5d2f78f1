//! `scimctl conflicts list|link|reject`: the `POST /Users` refused because they met an imported
//! (unmanaged) account under the `review` conflict policy, and an administrator's decision on
//! each: `link` lets the IdP's next retry adopt the account (201 with its id); `reject` sets the
//! account aside, so the next retry creates a new user.

use crate::store::{print_json, tenant, TableArg};
use crate::Failure;
use clap::{Args, Subcommand};
use scim_store::{ConflictScope, Resolution, StoreError, UnmanagedStore};
use serde_json::Value;

/// `scimctl conflicts <command>`
#[derive(Debug, Args)]
pub struct ConflictsArgs {
    #[command(subcommand)]
    command: ConflictsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// Print a tenant's open conflicts (JSON array)
    List {
        tenant: String,
        /// Also the resolved ones (status approved or rejected, with the time in "resolved")
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        table: TableArg,
    },
    /// Approve linking: the IdP's next retry of the POST adopts the existing account
    Link {
        tenant: String,
        /// The conflict id (from `conflicts list` or the 409's detail)
        conflict: String,
        #[command(flatten)]
        table: TableArg,
    },
    /// The account is somebody else: set it aside; the IdP's next retry creates a new user
    Reject {
        tenant: String,
        /// The conflict id (from `conflicts list` or the 409's detail)
        conflict: String,
        #[command(flatten)]
        table: TableArg,
    },
}

pub async fn run(args: ConflictsArgs) -> Result<(), Failure> {
    let (name, conflict, resolution, table) = match args.command {
        ConflictsCommand::List {
            tenant: name,
            all,
            table,
        } => {
            let t = tenant(&name)?;
            let store = table.open().await?;
            let scope = if all {
                ConflictScope::All
            } else {
                ConflictScope::Open
            };
            let listed = store.list_conflicts(&t, scope).await.map_err(failed)?;
            print_json(&to_json(&listed)?);
            return Ok(());
        }
        ConflictsCommand::Link {
            tenant,
            conflict,
            table,
        } => (tenant, conflict, Resolution::Link, table),
        ConflictsCommand::Reject {
            tenant,
            conflict,
            table,
        } => (tenant, conflict, Resolution::Reject, table),
    };
    let t = tenant(&name)?;
    let store = table.open().await?;
    match store.resolve_conflict(&t, &conflict, resolution).await {
        Ok(resolved) => {
            print_json(&to_json(&resolved)?);
            Ok(())
        }
        Err(StoreError::NotFound) => Err(Failure::Failed(format!(
            "tenant {name} has no conflict {conflict} (see scimctl conflicts list {name})"
        ))),
        Err(e) => Err(failed(e)),
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<Value, Failure> {
    serde_json::to_value(value).map_err(|e| Failure::Failed(format!("cannot print the conflicts: {e}")))
}

fn failed(e: StoreError) -> Failure {
    Failure::Failed(e.to_string())
}
