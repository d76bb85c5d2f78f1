//! `scimctl token ...`: the token registry as an administrator sees it ("enter a name, select an
//! expiration, Create Token"). Output goes to stdout; the registry used is named on stderr, so a
//! script can read stdout alone.

use crate::store::{open_table, schema_registry};
use crate::Failure;
use clap::{Args, Subcommand};
use scim_auth::{
    parse_expiry, parse_grace, update, DocumentError, NewToken, RegistryError, RegistryLocation, TokenRecord,
    LOCAL_REGISTRY_PATH,
};
use scim_dynamodb::open_token_registry;
use scim_store::{TenantId, TokenUsageStore, TokenUse};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// `scimctl token [--registry LOCATION] <command>`
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// file:<path> or secretsmanager:<secret id or ARN>; the server reads the same variable
    /// [default: file:.local/tokens.json, the registry of `make run`]
    #[arg(long, env = "SCIM_TOKEN_REGISTRY", value_name = "LOCATION", global = true)]
    registry: Option<String>,
    /// The service's DynamoDB table, whose generation item a write to a Secrets Manager registry
    /// bumps so running services notice it within seconds; the server reads the same variable
    #[arg(long, env = "SCIM_TABLE", value_name = "NAME", global = true)]
    table: Option<String>,
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, once: paste it into the IdP as the bearer token
    Create {
        /// What the token is for, e.g. "Okta production"
        #[arg(long)]
        name: String,
        /// 30d, 90d, 1y, any <n>d or <n>y, or a date YYYY-MM-DD (valid through that day, UTC)
        #[arg(long)]
        expires: String,
        /// The tenant the token acts for
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// List tokens, one per line: id, name, tenant, expiry, state (never a token or a hash);
    /// with --table / SCIM_TABLE also when each was last used and from which address
    List,
    /// Revoke a token at once (the service refuses it within SCIM_TOKEN_REVOCATION_CHECK_SECONDS, 5 s by default)
    Revoke {
        /// The token's id, as `scimctl token list` shows it
        id: String,
    },
    /// Create a successor ("<name> (successor of <id>)") with the same tenant and lifetime; the old token keeps working
    /// for the grace period, so the IdP can be switched over without downtime
    Rotate {
        /// The token's id, as `scimctl token list` shows it
        id: String,
        /// How long the old token stays valid: <n>d, <n>h or 0
        #[arg(long, default_value = "7d")]
        grace: String,
    },
}

pub async fn run(args: TokenArgs) -> Result<(), Failure> {
    let now = OffsetDateTime::now_utc();
    let location = location(args.registry)?;
    let table = args.table.filter(|t| !t.trim().is_empty());
    if matches!(location, RegistryLocation::SecretsManager(_)) && table.is_none() {
        eprintln!(
            "no --table / SCIM_TABLE: writes do not bump the table's generation item, so running \
             services notice them only within their cache time (SCIM_TOKEN_CACHE_SECONDS)"
        );
    }
    let aws = scim_aws::Aws::standard_chain();
    let open = || open_token_registry(&location, table.as_deref(), &aws);
    match args.command {
        TokenCommand::Create {
            name,
            expires,
            tenant,
        } => {
            let request = NewToken {
                name,
                tenant,
                expires: parse_expiry(&expires, now)
                    .map_err(|e| Failure::Usage(format!("--expires: {e}")))?,
            };
            let registry = open().await;
            let issued = update(registry.as_ref(), |doc| doc.create(&request, now))
                .await
                .map_err(failure)?;
            println!("{}", issued.secret.expose());
            println!();
            println!("This is the only time the token is shown. Paste it into the IdP as the bearer token.");
            // scim-auth's cache: an unknown token makes a running service read the registry
            // again, at most once per SCIM_TOKEN_REFRESH_MIN_SECONDS.
            println!(
                "Running services accept it within SCIM_TOKEN_REFRESH_MIN_SECONDS (5 s by default) \
                 of its first use."
            );
            print_record(&issued.record);
        }
        TokenCommand::List => {
            let document = open().await.load().await.map_err(failure)?.document;
            let uses = match &table {
                Some(table) => last_uses(table, &document.tokens).await,
                None => None,
            };
            print_list(&document.tokens, uses.as_ref(), now);
        }
        TokenCommand::Revoke { id } => {
            let registry = open().await;
            let record = update(registry.as_ref(), |doc| Ok(doc.revoke(&id, now)?))
                .await
                .map_err(failure)?;
            println!(
                "revoked {} ({}, tenant {})",
                record.id, record.name, record.tenant
            );
            println!("{}", revocation_delay(&location, table.is_some()));
        }
        TokenCommand::Rotate { id, grace } => {
            let grace = parse_grace(&grace).map_err(|e| Failure::Usage(format!("--grace: {e}")))?;
            let registry = open().await;
            let rotation = update(registry.as_ref(), |doc| doc.rotate(&id, grace, now))
                .await
                .map_err(failure)?;
            println!("{}", rotation.successor.secret.expose());
            println!();
            println!(
                "This is the only time the new token is shown. Paste it into the IdP; the old token {} \
                 keeps working until {}.",
                rotation.predecessor.id,
                timestamp(rotation.predecessor.expires)
            );
            print_record(&rotation.successor.record);
        }
    }
    Ok(())
}

/// The registry named on the command line or in the environment, a file by its absolute path:
/// a relative one depends on the working directory, and a command run from the wrong one would
/// otherwise quietly start a second registry that the server never reads. Named on stderr, with
/// a warning while the file does not exist yet.
pub(crate) fn location(text: Option<String>) -> Result<RegistryLocation, Failure> {
    let text = text.unwrap_or_else(|| format!("file:{LOCAL_REGISTRY_PATH}"));
    let location = match text
        .parse()
        .map_err(|e| Failure::Usage(format!("--registry / SCIM_TOKEN_REGISTRY: {e}")))?
    {
        RegistryLocation::File(path) => RegistryLocation::File(
            std::path::absolute(&path).map_err(|e| Failure::Failed(format!("{}: {e}", path.display())))?,
        ),
        other => other,
    };
    eprintln!("registry: {location}");
    if let RegistryLocation::File(path) = &location {
        if !path.exists() {
            eprintln!(
                "warning: {} does not exist yet: a write creates it; the server reads the file \
                 its own SCIM_TOKEN_REGISTRY names (make run: .local/tokens.json in the \
                 repository), so run scimctl from the same directory or give an absolute path",
                path.display()
            );
        }
    }
    Ok(location)
}

/// When running services refuse a revoked token (scim-auth's cache): at their next generation
/// check when the write moved the registry's marker (a file's metadata, or the table's
/// generation item for a secret), else at their next full read.
fn revocation_delay(location: &RegistryLocation, table: bool) -> &'static str {
    match location {
        RegistryLocation::SecretsManager(_) if !table => {
            "Running services refuse it within SCIM_TOKEN_CACHE_SECONDS (60 s by default)."
        }
        _ => "Running services refuse it within SCIM_TOKEN_REVOCATION_CHECK_SECONDS (5 s by default).",
    }
}

/// A refused request is the operator's to fix (exit 2), except for naming a token that is not
/// there or cannot be rotated, which is a failed operation (exit 1), like any registry failure.
fn failure(e: RegistryError) -> Failure {
    match e {
        RegistryError::Document(
            DocumentError::InvalidName(_)
            | DocumentError::InvalidTenant(_)
            | DocumentError::ExpiryNotInFuture,
        ) => Failure::Usage(e.to_string()),
        _ => Failure::Failed(e.to_string()),
    }
}

/// Seconds precision in UTC: what an operator compares with a calendar.
fn timestamp(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.to_offset(UtcOffset::UTC)
        .format(&format)
        .unwrap_or_else(|_| at.to_string())
}

fn print_record(record: &TokenRecord) {
    println!("id       {}", record.id);
    println!("name     {}", record.name);
    println!("tenant   {}", record.tenant);
    println!("expires  {}", timestamp(record.expires));
}

/// Each token's last use (by tenant and token id), from the table: one read per tenant in the
/// registry. `None`, with the reason on stderr, when the table cannot say: the list is still
/// worth printing.
async fn last_uses(table: &str, tokens: &[TokenRecord]) -> Option<LastUses> {
    let opened = match schema_registry() {
        Ok(registry) => open_table(table, Arc::new(registry)).await,
        Err(e) => Err(e),
    };
    let store = match opened {
        Ok(store) => store,
        Err(Failure::Usage(e) | Failure::Failed(e)) => {
            eprintln!("no last use shown: {e}");
            return None;
        }
    };
    let tenants: BTreeSet<&str> = tokens.iter().map(|t| t.tenant.as_str()).collect();
    let mut uses = LastUses::new();
    for name in tenants {
        // The registry refuses invalid tenant names, so this skips nothing it wrote.
        let Ok(tenant) = TenantId::new(name) else { continue };
        match store.token_uses(&tenant).await {
            Ok(found) => uses.extend(
                found
                    .into_iter()
                    .map(|u| ((name.to_string(), u.token_id.clone()), u)),
            ),
            Err(e) => {
                eprintln!("no last use shown: cannot read the token uses of tenant {name}: {e}");
                return None;
            }
        }
    }
    Some(uses)
}

/// Last uses by (tenant, token id).
type LastUses = HashMap<(String, String), TokenUse>;

/// Aligned columns with a header; the name comes second but may contain spaces, so the other
/// columns never do. With `uses`, LAST USED and FROM follow (`-`: no use recorded).
fn print_list(tokens: &[TokenRecord], uses: Option<&LastUses>, now: OffsetDateTime) {
    let mut header = vec!["ID", "NAME", "TENANT", "EXPIRES", "STATE"];
    if uses.is_some() {
        header.extend(["LAST USED", "FROM"]);
    }
    let header: Vec<String> = header.into_iter().map(String::from).collect();
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            let mut row = vec![
                t.id.clone(),
                t.name.clone(),
                t.tenant.clone(),
                timestamp(t.expires),
                t.state(now).to_string(),
            ];
            if let Some(uses) = uses {
                let used = uses.get(&(t.tenant.clone(), t.id.clone()));
                row.push(
                    used.and_then(|u| scim_store::parse_timestamp(&u.last_used))
                        .map_or_else(|| "-".to_string(), timestamp),
                );
                row.push(used.and_then(|u| u.client.clone()).unwrap_or_else(|| "-".into()));
            }
            row
        })
        .collect();
    let mut widths = vec![0usize; header.len()];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}
