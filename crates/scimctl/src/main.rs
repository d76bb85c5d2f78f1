//! `scimctl`: the operator CLI of the SCIM service. Each subcommand group is one module
//! (`token`, `table`, `tenant`, `users`, `import`, `conflicts`, `reindex`, `log`); a new group is one more module
//! and one more [`Command`]
//! variant. The data commands open the DynamoDB table through `store`.
//!
//! Exit codes: 0 done, 1 the operation failed (registry unreachable, unknown token id, ...),
//! 2 the command line is wrong (clap's own usage errors use 2 as well). A reader that closes
//! stdout early (`scimctl token list | head -1`) ends the command quietly, with 0.

/// `println!` for this crate: std's panics when stdout is a closed pipe (Rust ignores SIGPIPE,
/// so the write fails with `BrokenPipe`). Defined before the modules, it is the `println!` they
/// all see.
macro_rules! println {
    () => {
        $crate::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod conflicts;
mod import;
mod log;
mod reindex;
mod store;
mod table;
mod tenant;
mod token;
mod users;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "scimctl", version, about = "Operate the SCIM provisioning service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list, rotate and revoke the bearer tokens IdPs use
    Token(token::TokenArgs),
    /// Create the DynamoDB table the service stores users and groups in
    Table(table::TableArgs),
    /// Show and change a tenant's lifecycle settings (delete mode, conflict policy, group roles)
    Tenant(tenant::TenantArgs),
    /// A tenant's users as only an operator sees them: one with its effective roles, the
    /// soft-deleted ones, and restoring them
    Users(users::UsersArgs),
    /// Import existing accounts (JSON lines or CSV) as unmanaged accounts of a tenant
    Import(import::ImportArgs),
    /// List the POSTs refused for meeting an imported account, and link or reject them
    Conflicts(conflicts::ConflictsArgs),
    /// Once after upgrading to NFC identifiers or sorted lists: move DynamoDB index keys written
    /// before to their NFC form, give older items their sort keys, and report duplicates that NFC
    /// reveals
    Reindex(reindex::ReindexArgs),
    /// A tenant's provisioning log: each SCIM request, what was answered and what changed,
    /// newest first (from the table, or a local server's admin API)
    Log(log::LogArgs),
}

/// Why a command did not succeed, and so which exit code it ends with.
#[derive(Debug)]
pub enum Failure {
    /// The command line asks for something invalid: exit code 2.
    Usage(String),
    /// The operation failed: exit code 1.
    Failed(String),
}

/// Writes to stdout; see [`stdout_failed`] for when that fails.
fn write_stdout(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(text) {
        stdout_failed(&e);
    }
}

/// Output that cannot be written ends the command: quietly with 0 when the reader has gone (it
/// asked for no more), else with 1 and the reason.
pub fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("scimctl: cannot write to stdout: {e}");
    std::process::exit(1);
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Token(command) => token::run(command).await,
        Command::Table(command) => table::run(command).await,
        Command::Tenant(command) => tenant::run(command).await,
        Command::Users(command) => users::run(command).await,
        Command::Import(command) => import::run(command).await,
        Command::Conflicts(command) => conflicts::run(command).await,
        Command::Reindex(command) => reindex::run(command).await,
        Command::Log(command) => log::run(command).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("scimctl: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("scimctl: {message}");
            ExitCode::FAILURE
        }
    }
}
