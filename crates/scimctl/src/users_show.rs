//! `scimctl users show TENANT ID`: a user as the service renders it (never its password), with
//! the access extension: its effective groups, direct and through nested groups, and the roles
//! they grant under the tenant's `group_roles`. `meta.location` and `$ref` are relative to the
//! server (`/scim/v2/...`): the CLI does not know the public host.

use crate::store::{print_json, tenant, TableArg};
use crate::Failure;
use scim_proto::SchemaRegistry;
use scim_store::{effective_access, wire, Include, ResourceKind, Store, StoreError};
use serde_json::Value;

/// Where the service mounts the SCIM API (`scim_lambda::BASE_PATH`).
const BASE_PATH: &str = "/scim/v2";

pub async fn show(tenant_name: &str, id: &str, table: &TableArg) -> Result<(), Failure> {
    let t = tenant(tenant_name)?;
    let store = table.open().await?;
    let with_groups = Include {
        groups: true,
        ..Include::NONE
    };
    let mut user = match store.get(&t, ResourceKind::User, id, with_groups).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => {
            return Err(Failure::Failed(format!("tenant {tenant_name} has no user {id}")))
        }
        Err(e) => return Err(Failure::Failed(e.to_string())),
    };
    let settings = store
        .settings(&t)
        .await
        .map_err(|e| Failure::Failed(e.to_string()))?
        .settings;
    let access = effective_access(&store, &t, &user, &settings)
        .await
        .map_err(|e| Failure::Failed(e.to_string()))?;
    access.attach(&mut user);
    let registry = SchemaRegistry::standard();
    print_json(&Value::Object(wire::render(&registry, BASE_PATH, &user)));
    Ok(())
}
