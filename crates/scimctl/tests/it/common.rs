//! What the scimctl tests share: running the built binary, and running it against moto.
#![allow(clippy::unwrap_used)] // tests may unwrap

use scim_store::prelude::*;
use std::process::{Command, Output};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The JSON document a data command printed, after asserting it succeeded.
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        serde_json::from_str(&self.stdout).unwrap()
    }
}

pub fn run(output: Output) -> Run {
    Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `scimctl` with the AWS settings pointing at moto on 127.0.0.1.
pub fn scimctl_on_moto() -> Command {
    let moto = scim_testkit::moto();
    let mut c = Command::new(env!("CARGO_BIN_EXE_scimctl"));
    c.env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("SCIM_TABLE");
    c
}

/// A fresh table on moto, created with `scimctl table create`; its name.
pub fn fresh_table(prefix: &str) -> String {
    let name = scim_testkit::unique_name(prefix);
    let created = run(scimctl_on_moto()
        .args(["table", "create", "--table", &name])
        .output()
        .unwrap());
    assert_eq!(created.code, 0, "{}", created.stderr);
    name
}

/// A data command against `table` on moto.
pub fn data(table: &str, args: &[&str]) -> Run {
    run(scimctl_on_moto()
        .args(args)
        .env("SCIM_TABLE", table)
        .output()
        .unwrap())
}

/// The table's store as the service opens it, on moto: to seed what the commands act on (and
/// run the service's create path, `scim_store::create_user`) without a running server.
pub fn store_on_moto(table: &str) -> scim_dynamodb::DynamoStore {
    scim_dynamodb::DynamoStore::new(
        scim_testkit::dynamodb::client(),
        table,
        std::sync::Arc::new(scim_proto::SchemaRegistry::standard()),
    )
}

/// `v` as a JSON object.
pub fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap()
}

/// Creates a resource through the store, with `members` (ids) added.
pub async fn create(
    s: &scim_dynamodb::DynamoStore,
    t: &scim_store::TenantId,
    kind: scim_store::ResourceKind,
    attrs: serde_json::Value,
    members: &[&str],
) -> scim_store::StoredResource {
    let change = scim_store::MemberChange {
        add: members.iter().map(|m| (m.to_string(), None)).collect(),
        ..scim_store::MemberChange::default()
    };
    s.create(t, kind, obj(attrs), change).await.unwrap()
}

/// Creates a group through the store with these attributes and `members` (ids).
pub async fn group(
    s: &scim_dynamodb::DynamoStore,
    t: &scim_store::TenantId,
    attrs: serde_json::Value,
    members: &[&str],
) -> scim_store::StoredResource {
    create(s, t, scim_store::ResourceKind::Group, attrs, members).await
}
