//! `scimctl users ...`: an operator's view of a tenant's users beyond what SCIM shows.
//! `users show` prints a user as the service renders it (never its password) with the access
//! extension: its effective groups, direct and through nested groups, and the roles they grant
//! under the tenant's `group_roles`. The soft-deleted users (tenant setting `delete_mode = soft`):
//! `users deleted` lists the records kept until their purge time, `users restore` brings one back
//! with its id, attributes and the groups that still exist. `meta.location` and `$ref` are
//! relative to the server (`/scim/v2/...`): the CLI does not know the public host.

use crate::store::{print_json, schema_registry, tenant, TableArg};
use crate::Failure;
use clap::{Args, Subcommand};
use scim_proto::SchemaRegistry;
use scim_store::{
    effective_access, wire, DeletedUserStore, Include, ResourceKind, ResourceStore, SettingsStore,
    StoreError, StoredResource,
};
use serde_json::{json, Value};
use std::sync::Arc;

/// Where the service mounts the SCIM API (`scim_lambda::BASE_PATH`).
const BASE_PATH: &str = "/scim/v2";

/// `scimctl users <command>`
#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Print a user as the service renders it, with its effective groups and roles
    Show {
        tenant: String,
        /// The user's id
        id: String,
        #[command(flatten)]
        table: TableArg,
    },
    /// List a tenant's soft-deleted users that can still be restored (id, userName, externalId,
    /// deleted, purgeAfter, groups)
    Deleted {
        tenant: String,
        #[command(flatten)]
        table: TableArg,
    },
    /// Bring a soft-deleted user back: same id and attributes, and a member again of the groups
    /// it was in that still exist
    Restore {
        tenant: String,
        /// The user's id (as `users deleted` lists it)
        id: String,
        #[command(flatten)]
        table: TableArg,
    },
}

pub async fn run(args: UsersArgs) -> Result<(), Failure> {
    match args.command {
        UsersCommand::Show {
            tenant: name,
            id,
            table,
        } => show(&name, &id, &table).await,
        UsersCommand::Deleted { tenant: name, table } => {
            let t = tenant(&name)?;
            let store = table.open().await?;
            let kept = store.deleted_users(&t).await.map_err(failed)?;
            let listed: Vec<Value> = kept
                .iter()
                .map(|d| {
                    json!({
                        "id": d.id,
                        "userName": d.attrs.get("userName"),
                        "externalId": d.attrs.get("externalId"),
                        "deleted": d.deleted,
                        "purgeAfter": d.purge_after,
                        "groups": d.groups,
                    })
                })
                .collect();
            print_json(&Value::Array(listed));
            Ok(())
        }
        UsersCommand::Restore {
            tenant: name,
            id,
            table,
        } => {
            let t = tenant(&name)?;
            let registry = Arc::new(schema_registry()?);
            let store = table.open_with(registry.clone()).await?;
            match store.restore_user(&t, &id).await {
                Ok(user) => {
                    print_json(&user_json(&registry, user));
                    Ok(())
                }
                Err(StoreError::NotFound) => Err(Failure::Failed(format!(
                    "tenant {name} keeps no deleted user '{id}' (unknown id, restored already, or \
                     past its purge time); `scimctl users deleted {name}` lists the ones kept"
                ))),
                Err(StoreError::Uniqueness { attribute }) => Err(Failure::Failed(format!(
                    "cannot restore user '{id}': another user of tenant {name} has its {attribute} \
                     now; delete or rename that user first"
                ))),
                Err(e) => Err(failed(e)),
            }
        }
    }
}

/// A user as the service renders it (RFC 7643 §4.1: `schemas`, attributes, `groups`, `meta`,
/// never the password).
fn user_json(registry: &SchemaRegistry, user: StoredResource) -> Value {
    Value::Object(wire::render(registry, BASE_PATH, user))
}

async fn show(tenant_name: &str, id: &str, table: &TableArg) -> Result<(), Failure> {
    let t = tenant(tenant_name)?;
    let registry = Arc::new(schema_registry()?);
    let store = table.open_with(registry.clone()).await?;
    let with_groups = Include {
        groups: true,
        ..Include::NONE
    };
    let mut user = match store.get(&t, ResourceKind::User, id, with_groups).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => {
            return Err(Failure::Failed(format!("tenant {tenant_name} has no user {id}")))
        }
        Err(e) => return Err(failed(e)),
    };
    let settings = store.settings(&t).await.map_err(failed)?.settings;
    let access = effective_access(&store, &t, &user, &settings)
        .await
        .map_err(failed)?;
    access.attach(&mut user);
    print_json(&user_json(&registry, user));
    Ok(())
}

fn failed(e: StoreError) -> Failure {
    Failure::Failed(e.to_string())
}
