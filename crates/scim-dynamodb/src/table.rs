//! Creating the table: for local use (`scimctl table create`) and tests. In AWS the SAM template
//! declares the same table (same keys, on-demand billing, point-in-time recovery on, TTL on the
//! `ttl` attribute, a stream of new and old images for change events).

use crate::error::sdk;
use crate::keys::{PK, SK};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use scim_store::StoreError;
use std::time::Duration;

/// What [`create_table`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableCreated {
    Created,
    /// A table of that name was already there (its keys are not checked).
    AlreadyExisted,
}

/// Creates the store's table (`pk` and `sk`, both strings; no secondary index is needed),
/// on-demand, with a stream of new and old images (the change events' source, see
/// [`crate::stream`]), waits until it is active, turns point-in-time recovery on and enables TTL
/// on the `ttl` attribute (soft-deleted users are purged by it). Idempotent: an existing table
/// without a stream gets one.
pub async fn create_table(client: &Client, name: &str) -> Result<TableCreated, StoreError> {
    create_table_with(client, name, true).await
}

/// [`create_table`], with the stream only if `stream`. For tests and the bench on moto, which
/// copies a whole table, stream records included, for every transaction: a stream nobody reads
/// makes each write slower than the last.
pub async fn create_table_with(
    client: &Client,
    name: &str,
    stream: bool,
) -> Result<TableCreated, StoreError> {
    let key = |n: &str, t: KeyType| KeySchemaElement::builder().attribute_name(n).key_type(t).build();
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Unavailable(e.to_string());
    let stream_spec = || {
        StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build()
            .map_err(build)
    };
    let created = client
        .create_table()
        .table_name(name)
        .key_schema(key(PK, KeyType::Hash).map_err(build)?)
        .key_schema(key(SK, KeyType::Range).map_err(build)?)
        .attribute_definitions(attr(PK).map_err(build)?)
        .attribute_definitions(attr(SK).map_err(build)?)
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(if stream { Some(stream_spec()?) } else { None })
        .send()
        .await;
    let outcome = match created {
        Ok(_) => TableCreated::Created,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            TableCreated::AlreadyExisted
        }
        Err(e) => return Err(sdk("CreateTable", e)),
    };
    let mut streaming = true;
    for _ in 0..120 {
        let d = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk("DescribeTable", e))?;
        let table = d.table();
        if table.and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            streaming = table
                .and_then(|t| t.stream_specification())
                .is_some_and(|s| s.stream_enabled());
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if stream && !streaming {
        client
            .update_table()
            .table_name(name)
            .stream_specification(stream_spec()?)
            .send()
            .await
            .map_err(|e| sdk("UpdateTable", e))?;
    }
    let pitr = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .map_err(build)?;
    client
        .update_continuous_backups()
        .table_name(name)
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
        .map_err(|e| sdk("UpdateContinuousBackups", e))?;
    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| sdk("DescribeTimeToLive", e))?;
    let enabled =
        ttl.time_to_live_description().and_then(|d| d.attribute_name()) == Some(crate::record::attr::TTL);
    if !enabled {
        // UpdateTimeToLive refuses to enable TTL that is already enabled, hence the check.
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(crate::record::attr::TTL)
            .enabled(true)
            .build()
            .map_err(build)?;
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| sdk("UpdateTimeToLive", e))?;
    }
    Ok(outcome)
}
