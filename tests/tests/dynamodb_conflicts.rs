//! `conflicts.rs` on the DynamoDB store: the harness picks DynamoDB (a table per server on this
//! binary's moto) for test binaries named `dynamodb_*` (`scim_blackbox::Backend::current`).

#[path = "conflicts.rs"]
mod conflicts;
