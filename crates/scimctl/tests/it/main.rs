//! The integration tests of scimctl, in one test binary: the built `scimctl` run as a process,
//! against moto (scim-testkit) for the commands that need AWS.

mod cli;
mod common;
mod conflicts;
mod import;
mod log;
mod log_server;
mod reindex;
mod tenant;
mod users;
mod users_show;
