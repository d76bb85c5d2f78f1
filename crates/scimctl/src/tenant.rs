//! `scimctl tenant show|set`: a tenant's lifecycle settings (delete mode and retention, the
//! conflict policy for imported accounts, and the roles each group grants).

use crate::store::{print_json, tenant, TableArg};
use crate::Failure;
use clap::{Args, Subcommand};
use scim_store::{Expect, SettingsStore, StoreError, TenantSettings};
use serde_json::{json, Value};

/// `scimctl tenant <command>`
#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(subcommand)]
    command: TenantCommand,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Print a tenant's settings as JSON (the defaults, version 0, if none were ever set)
    Show {
        tenant: String,
        /// JSON, as always (accepted so that `tenant show --json > f` and `tenant set --from-file f`
        /// read as the pair they are)
        #[arg(long)]
        json: bool,
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
        /// Replace all settings with this JSON file (what `tenant show` prints, or its
        /// "settings" alone) before applying the assignments
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
        TenantCommand::Show {
            tenant: name, table, ..
        } => {
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
                    Some(settings_from_file(&text)?)
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

/// The keys of what `tenant show` prints.
const SHOWN_KEYS: [&str; 3] = ["tenant", "version", "settings"];

/// The settings in a `--from-file` file: what `tenant show` prints (its `tenant` and `version`
/// are ignored: the target is the command's tenant, and the write checks the current version),
/// or the settings object alone.
fn settings_from_file(text: &str) -> Result<TenantSettings, Failure> {
    let shown = match serde_json::from_str(text) {
        Ok(Value::Object(mut shown)) if shown.keys().all(|k| SHOWN_KEYS.contains(&k.as_str())) => {
            shown.remove("settings").map(|settings| settings.to_string())
        }
        _ => None,
    };
    TenantSettings::from_json(shown.as_deref().unwrap_or(text)).map_err(usage)
}

fn usage(e: StoreError) -> Failure {
    Failure::Usage(e.to_string())
}

fn failed(e: StoreError) -> Failure {
    Failure::Failed(e.to_string())
}
