//! `scimctl table create`: the DynamoDB table the service keeps users, groups and memberships in,
//! for local use and tests (in AWS the SAM template declares the same table). The AWS settings
//! come from the standard chain: `AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, ...

use crate::Failure;
use clap::{Args, Subcommand};
use scim_dynamodb::{create_table, TableCreated};

/// `scimctl table <command>`
#[derive(Debug, Args)]
pub struct TableArgs {
    #[command(subcommand)]
    command: TableCommand,
}

#[derive(Debug, Subcommand)]
pub enum TableCommand {
    /// Create the table if it does not exist: string keys pk and sk, on-demand billing,
    /// point-in-time recovery on; waits until it is active
    Create {
        /// The table name; the server reads the same variable
        #[arg(long, env = "SCIM_TABLE", value_name = "NAME")]
        table: String,
    },
}

pub async fn run(args: TableArgs) -> Result<(), Failure> {
    match args.command {
        TableCommand::Create { table } => {
            if table.trim().is_empty() {
                return Err(Failure::Usage("the table name is empty".into()));
            }
            let sdk = scim_aws::defaults().load().await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            match create_table(&client, &table).await {
                Ok(TableCreated::Created) => println!("created table {table}"),
                Ok(TableCreated::AlreadyExisted) => println!("table {table} already exists"),
                Err(e) => return Err(Failure::Failed(format!("cannot create table {table}: {e}"))),
            }
            Ok(())
        }
    }
}
