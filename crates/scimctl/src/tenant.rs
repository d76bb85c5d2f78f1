//! `scimctl tenant show|set`: a tenant's lifecycle settings (delete mode and retention, the
//! conflict policy for imported accounts, and the roles each group grants).

use crate::store::{print_json, tenant, TableArg};
use crate::Failure;
use clap::{Args, Subcommand};
use scim_store::{Expect, SettingsStore, StoreError, TenantSettings};
use serde_json::json;

/// `scimctl tenant <command>`
#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(subcommand)]
    command: TenantCommand,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Print a tenant's settings (the defaults, version 0, if none were ever set)
    Show {
        tenant: String,
        #[command(flatten)]
        table: TableArg,
    },
    /// Change a tenant's settings: delete_mode=soft|hard, retention_days=N,
    /// conflict_policy=review|link, group_roles.<group>=role[,role...] (empty: unmap),
    /// log_retention_days=N (30), log_read_sample_percent=0..100 (5),
    /// log_bodies=on|off|12h|3d (on: 24 hours; at most 7 days), silence_alarm_hours=N|off
    Set {
        tenant: String,
        /// KEY=VALUE assignments, applied in order on top of the current settings
        #[arg(value_name = "KEY=VALUE")]
        assignments: Vec<String>,
        /// Replace all settings with this JSON file (as `tenant show` prints under "settings")
        /// before applying the assignments
        #[arg(long, value_name = "FILE")]
        from_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        table: TableArg,
    },
}

/// A concurrent writer changed the settings between our read and our write: re-read and
/// re-apply, a few times.
const ATTEMPTS: usize = 3;

pub async fn run(args: TenantArgs) -> Result<(), Failure> {
    match args.command {
        TenantCommand::Show { tenant: name, table } => {
            let t = tenant(&name)?;
            let store = table.open().await?;
            let read = store.settings(&t).await.map_err(failed)?;
            print_json(&json!({"tenant": name, "version": read.version, "settings": read.settings}));
            Ok(())
        }
        TenantCommand::Set {
            tenant: name,
            assignments,
            from_file,
            table,
        } => {
            if assignments.is_empty() && from_file.is_none() {
                return Err(Failure::Usage(
                    "nothing to set: give KEY=VALUE assignments or --from-file".into(),
                ));
            }
            let t = tenant(&name)?;
            let base = match &from_file {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| Failure::Failed(format!("cannot read {}: {e}", path.display())))?;
                    Some(TenantSettings::from_json(&text).map_err(usage)?)
                }
                None => None,
            };
            let store = table.open().await?;
            for _ in 0..ATTEMPTS {
                let read = store.settings(&t).await.map_err(failed)?;
                let mut next = base.clone().unwrap_or(read.settings);
                for a in &assignments {
                    next.assign(a).map_err(usage)?;
                }
                match store.put_settings(&t, &next, Expect::Version(read.version)).await {
                    Ok(version) => {
                        print_json(&json!({"tenant": name, "version": version, "settings": next}));
                        return Ok(());
                    }
                    Err(StoreError::VersionConflict { .. }) => continue,
                    Err(e) => return Err(failed(e)),
                }
            }
            Err(Failure::Failed(format!(
                "the settings of tenant {name} kept changing while being written; run the command again"
            )))
        }
    }
}

fn usage(e: StoreError) -> Failure {
    Failure::Usage(e.to_string())
}

fn failed(e: StoreError) -> Failure {
    Failure::Failed(e.to_string())
}
