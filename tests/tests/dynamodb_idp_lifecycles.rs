//! `idp_lifecycles.rs` on the DynamoDB store (see `dynamodb_protocol.rs`).

#[path = "idp_lifecycles.rs"]
mod idp_lifecycles;
