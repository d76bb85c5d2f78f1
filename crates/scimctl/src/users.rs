//! `scimctl users <command>`: the users of a tenant, as stored in the service's table.

use crate::store::TableArg;
use crate::users_show;
use crate::Failure;
use clap::{Args, Subcommand};

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
}

pub async fn run(args: UsersArgs) -> Result<(), Failure> {
    match args.command {
        UsersCommand::Show { tenant, id, table } => users_show::show(&tenant, &id, &table).await,
    }
}
