//! The integration tests of scim-dynamodb, in one test binary (one link of the AWS SDK): the
//! store on moto (scim-testkit), a table per test.

mod budget;
mod common;
mod contract;
mod faults;
mod generation;
mod large_groups;
mod log;
mod reindex;
mod table;
