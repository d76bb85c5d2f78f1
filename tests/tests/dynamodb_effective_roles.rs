//! `effective_roles.rs` on the DynamoDB store (a table per server on this binary's moto).

#[path = "effective_roles.rs"]
mod effective_roles;
