//! `idp_quirks.rs` on the DynamoDB store (see `dynamodb_protocol.rs`).

#[path = "idp_quirks.rs"]
mod idp_quirks;
