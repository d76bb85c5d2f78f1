//! `scimctl users ...`: an operator's view of a tenant's users beyond what SCIM shows. Today the
//! soft-deleted ones (tenant setting `delete_mode = soft`): `users deleted` lists the records
//! kept until their purge time, `users restore` brings one back with its id, attributes and the
//! groups that still exist.

use crate::store::{print_json, tenant, TableArg};
use crate::Failure;
use clap::{Args, Subcommand};
use scim_proto::resource::{self, ResourceMeta};
use scim_proto::SchemaRegistry;
use scim_store::{ResourceKind, Store, StoreError, StoredResource};
use serde_json::{json, Value};

/// `scimctl users <command>`
#[derive(Debug, Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
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
            let store = table.open().await?;
            match store.restore_user(&t, &id).await {
                Ok(user) => {
                    print_json(&user_json(&user));
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

/// A user as SCIM renders it (RFC 7643 §4.1: `schemas`, attributes, `groups`, `meta`, never the
/// password), with `meta.location` relative to the service's base URL, which scimctl does not
/// know.
pub fn user_json(user: &StoredResource) -> Value {
    let registry = SchemaRegistry::standard();
    let Some(schema) = registry.view(ResourceKind::User.name()) else {
        return Value::Object(user.attrs.clone());
    };
    let mut attrs = user.attrs.clone();
    if let Some(groups) = user.groups.as_ref().filter(|g| !g.is_empty()) {
        let groups = groups
            .iter()
            .map(|(id, display)| json!({"value": id, "display": display, "type": "direct"}))
            .collect();
        attrs.insert("groups".into(), Value::Array(groups));
    }
    let meta = ResourceMeta {
        id: user.id.clone(),
        created: user.created.clone(),
        last_modified: user.last_modified.clone(),
        version: user.version,
        location: format!("Users/{}", user.id),
    };
    Value::Object(resource::render(&attrs, &schema, &meta))
}

fn failed(e: StoreError) -> Failure {
    Failure::Failed(e.to_string())
}
