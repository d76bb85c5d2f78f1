//! `scimctl reindex`: once after upgrading from a release before identifiers compared in
//! Unicode NFC or before sorted lists, moves each tenant's DynamoDB index keys written before
//! it to their NFC form and gives each user and group item the sort keys the sort indexes read
//! (`scim_dynamodb::DynamoStore::reindex`). Prints one JSON report per tenant; a duplicate found
//! (two resources whose identifiers are one in NFC) is reported, left alone, and makes the
//! command fail (exit 1) so an operator resolves it and runs it again.

use crate::store::{print_json, tenant, TableArg};
use crate::token::location;
use crate::Failure;
use clap::Args;
use scim_dynamodb::{open_token_registry, ReindexReport};
use scim_store::TenantId;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// `scimctl reindex (--tenant ID ... | --all-tenants) [--dry-run]`
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// A tenant to reindex; repeat for more
    #[arg(long = "tenant", value_name = "ID", required_unless_present = "all_tenants")]
    tenants: Vec<String>,
    /// Every tenant a token in the registry names (revoked and expired tokens included)
    #[arg(long, conflicts_with = "tenants")]
    all_tenants: bool,
    /// The token registry --all-tenants reads (file:<path> or secretsmanager:<id>); the server
    /// reads the same variable [default: file:.local/tokens.json]
    #[arg(long, env = "SCIM_TOKEN_REGISTRY", value_name = "LOCATION")]
    registry: Option<String>,
    /// Report what would move and the duplicates, writing nothing
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    table: TableArg,
}

pub async fn run(args: ReindexArgs) -> Result<(), Failure> {
    let tenants = if args.all_tenants {
        registry_tenants(args.registry).await?
    } else {
        args.tenants
            .iter()
            .map(|name| tenant(name))
            .collect::<Result<_, _>>()?
    };
    let store = args.table.open().await?;
    let mut reports = Vec::with_capacity(tenants.len());
    let (mut conflicts, mut changed) = (0, 0);
    for t in &tenants {
        let report = store
            .reindex(t, args.dry_run)
            .await
            .map_err(|e| Failure::Failed(format!("tenant {t}: {e}")))?;
        conflicts += report.conflicts.len();
        changed += report.changed.len();
        reports.push(report_json(t, &report, args.dry_run));
    }
    print_json(&Value::Array(reports));
    if conflicts > 0 || changed > 0 {
        return Err(Failure::Failed(format!(
            "{conflicts} duplicate(s) left alone (rename or delete one resource of each pair), {changed} \
             resource(s) changed while reindexing; run again once resolved"
        )));
    }
    Ok(())
}

/// The distinct tenants of the registry's tokens.
async fn registry_tenants(registry: Option<String>) -> Result<Vec<TenantId>, Failure> {
    let location = location(registry)?;
    let document = open_token_registry(&location, None, &scim_aws::Aws::standard_chain())
        .await
        .load()
        .await
        .map_err(|e| Failure::Failed(e.to_string()))?
        .document;
    let names: BTreeSet<&str> = document.tokens.iter().map(|t| t.tenant.as_str()).collect();
    names
        .into_iter()
        .map(|name| {
            TenantId::new(name)
                .map_err(|e| Failure::Failed(format!("the registry names tenant {name:?}: {e}")))
        })
        .collect()
}

fn report_json(t: &TenantId, r: &ReindexReport, dry_run: bool) -> Value {
    let conflicts: Vec<Value> = r
        .conflicts
        .iter()
        .map(|c| {
            json!({"resourceType": c.kind, "attribute": c.attribute, "value": c.value,
                   "id": c.id, "heldBy": c.holder})
        })
        .collect();
    json!({
        "tenant": t.to_string(),
        "dryRun": dry_run,
        "examined": {"users": r.users, "groups": r.groups, "unmanagedAccounts": r.unmanaged},
        (if dry_run { "keysToMove" } else { "keysMoved" }): r.moved,
        (if dry_run { "sortKeysToSet" } else { "sortKeysSet" }): r.sort_keys_set,
        "conflicts": conflicts,
        "changedMeanwhile": r.changed,
    })
}
