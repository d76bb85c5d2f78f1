//! `scimctl import TENANT FILE`: existing accounts into a tenant as *unmanaged* accounts, which
//! SCIM does not see until an IdP's `POST /Users` meets one (the tenant's `conflict_policy`
//! decides what happens then).
//!
//! The reading and the per-account outcome are [`scim_store::import`], shared with the console's
//! Review page. The report is written as the lines are processed, so memory stays bounded.

use crate::store::{schema_registry, tenant, TableArg};
use crate::Failure;
use clap::{Args, ValueEnum};
use scim_store::import::{ImportFormat, Importer, Outcome, Records};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// `scimctl import`
#[derive(Debug, Args)]
pub struct ImportArgs {
    tenant: String,
    /// JSON lines (one SCIM User object per line) or CSV with a header (userName, givenName,
    /// familyName, displayName, email, externalId, active)
    file: PathBuf,
    /// The file's format; by default from its extension (.jsonl/.ndjson/.json, .csv)
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write nothing; report what an import would do
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    table: TableArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

impl From<Format> for ImportFormat {
    fn from(format: Format) -> ImportFormat {
        match format {
            Format::Jsonl => ImportFormat::Jsonl,
            Format::Csv => ImportFormat::Csv,
        }
    }
}

pub async fn run(args: ImportArgs) -> Result<(), Failure> {
    let t = tenant(&args.tenant)?;
    let format = match args.format {
        Some(f) => f,
        None => format_of(&args.file)?,
    };
    let file = std::fs::File::open(&args.file)
        .map_err(|e| Failure::Failed(format!("cannot read {}: {e}", args.file.display())))?;
    let registry = schema_registry()?;
    let store = args.table.open_with(Arc::new(registry.clone())).await?;
    let mut records = Records::new(BufReader::new(file), format.into());
    let mut import = Importer::new(&store, &t, &registry, args.dry_run);
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| -> Failure { crate::stdout_failed(&e) };
    write!(
        out,
        "{{\n  \"tenant\": {},\n  \"dryRun\": {},\n  \"lines\": [",
        Value::String(args.tenant.clone()),
        args.dry_run
    )
    .map_err(io)?;
    let mut totals: BTreeMap<Outcome, u64> = BTreeMap::new();
    let mut aborted = None;
    let mut first = true;
    while let Some(next) = import.next(&mut records).await {
        let entry = match next {
            Ok(entry) => entry,
            Err(reason) => {
                aborted = Some(reason);
                break;
            }
        };
        *totals.entry(entry.outcome).or_default() += 1;
        let mut shown = json!({
            "line": entry.line,
            "userName": entry.user_name,
            "outcome": entry.outcome.name(),
            "detail": entry.detail,
        });
        if let Some(id) = entry.id {
            shown["id"] = Value::String(id);
        }
        write!(out, "{}\n    {shown}", if first { "" } else { "," }).map_err(io)?;
        first = false;
    }
    let failed: u64 = totals.iter().filter(|(o, _)| !o.ok()).map(|(_, n)| n).sum();
    let processed: u64 = totals.values().sum();
    let mut summary = Map::new();
    summary.insert("lines".into(), json!(processed));
    for (outcome, n) in &totals {
        summary.insert(outcome.name().into(), json!(n));
    }
    let aborted_field = match &aborted {
        Some(reason) => format!(",\n  \"aborted\": {}", Value::String(reason.clone())),
        None => String::new(),
    };
    writeln!(
        out,
        "\n  ]{aborted_field},\n  \"totals\": {}\n}}",
        Value::Object(summary)
    )
    .map_err(io)?;
    out.flush().map_err(io)?;
    if let Some(reason) = aborted {
        return Err(Failure::Failed(format!(
            "the import stopped at {reason}; the lines reported before it were processed"
        )));
    }
    if failed > 0 {
        return Err(Failure::Failed(format!(
            "{failed} of {processed} lines were not {} (see the report)",
            if args.dry_run { "importable" } else { "imported" }
        )));
    }
    Ok(())
}

fn format_of(path: &std::path::Path) -> Result<Format, Failure> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("jsonl" | "ndjson" | "json") => Ok(Format::Jsonl),
        Some("csv") => Ok(Format::Csv),
        _ => Err(Failure::Usage(format!(
            "cannot tell the format of {} from its extension; give --format jsonl or --format csv",
            path.display()
        ))),
    }
}
