//! Creating the table: for local use (`scimctl table create`) and tests. In AWS the SAM template
//! declares the same table (same keys and index, on-demand billing, point-in-time recovery on,
//! TTL on the `ttl` attribute, a stream of new and old images for change events).

use crate::error::sdk;
use crate::keys::{LOG_INDEX, PK, RPK, RSK, SK, SORT_INDEXES};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription,
    TableStatus, TimeToLiveSpecification,
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

/// Polls of the table's status while waiting for it (and its index) to be active.
const TABLE_POLLS: usize = 120;
const TABLE_POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Polls while a new index on an existing table fills (DynamoDB copies every item that has the
/// index's keys: minutes for a large log).
const INDEX_POLLS: usize = 720;
const INDEX_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Creates the store's table (`pk` and `sk`, both strings) with its global secondary indexes
/// ([`LOG_INDEX`]: the provisioning log by resource, `rpk`/`rsk`, all attributes projected; one
/// per [`SORT_INDEXES`] entry, `pk`/`ord_*`, keys only), on-demand, with a stream of new and old images (the change events' source, see
/// [`crate::stream`]), waits until it is active, turns point-in-time recovery on and enables TTL
/// on the `ttl` attribute (soft-deleted users and log records expire by it). Idempotent: an
/// existing table without a stream gets one, and one without an index gets it (one UpdateTable
/// per index, each waiting until the index is active).
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
    let indexes = indexes();
    let index = |i: &IndexShape| -> Result<GlobalSecondaryIndex, StoreError> {
        GlobalSecondaryIndex::builder()
            .index_name(i.name)
            .key_schema(key(i.hash, KeyType::Hash).map_err(build)?)
            .key_schema(key(i.range, KeyType::Range).map_err(build)?)
            .projection(
                Projection::builder()
                    .projection_type(i.projection.clone())
                    .build(),
            )
            .build()
            .map_err(build)
    };
    let stream_spec = || {
        StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build()
            .map_err(build)
    };
    let mut create = client
        .create_table()
        .table_name(name)
        .key_schema(key(PK, KeyType::Hash).map_err(build)?)
        .key_schema(key(SK, KeyType::Range).map_err(build)?)
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(if stream { Some(stream_spec()?) } else { None });
    for a in key_attributes(&indexes) {
        create = create.attribute_definitions(attr(a).map_err(build)?);
    }
    for i in &indexes {
        create = create.global_secondary_indexes(index(i)?);
    }
    let outcome = match create.send().await {
        Ok(_) => TableCreated::Created,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            TableCreated::AlreadyExisted
        }
        Err(e) => return Err(sdk("CreateTable", e)),
    };
    let table = wait_active(client, name, TABLE_POLLS, TABLE_POLL_INTERVAL).await?;
    let streaming = table.stream_specification().is_some_and(|s| s.stream_enabled());
    if stream && !streaming {
        client
            .update_table()
            .table_name(name)
            .stream_specification(stream_spec()?)
            .send()
            .await
            .map_err(|e| sdk("UpdateTable", e))?;
        wait_active(client, name, TABLE_POLLS, TABLE_POLL_INTERVAL).await?;
    }
    for i in &indexes {
        let present = table
            .global_secondary_indexes()
            .iter()
            .any(|g| g.index_name() == Some(i.name));
        if present {
            continue;
        }
        // DynamoDB takes one index change per UpdateTable, on an active table.
        let g = index(i)?;
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(i.name)
            .set_key_schema(Some(g.key_schema().to_vec()))
            .set_projection(g.projection().cloned())
            .build()
            .map_err(build)?;
        client
            .update_table()
            .table_name(name)
            .attribute_definitions(attr(i.hash).map_err(build)?)
            .attribute_definitions(attr(i.range).map_err(build)?)
            .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build())
            .send()
            .await
            .map_err(|e| sdk("UpdateTable", e))?;
        wait_active(client, name, INDEX_POLLS, INDEX_POLL_INTERVAL).await?;
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

/// One global secondary index of the table.
struct IndexShape {
    name: &'static str,
    hash: &'static str,
    range: &'static str,
    projection: ProjectionType,
}

/// The table's indexes: the provisioning log by resource (all attributes), then the sort indexes
/// (keys only: a sorted page reads its items with one BatchGetItem, strongly consistent).
fn indexes() -> Vec<IndexShape> {
    let log = IndexShape {
        name: LOG_INDEX,
        hash: RPK,
        range: RSK,
        projection: ProjectionType::All,
    };
    std::iter::once(log)
        .chain(SORT_INDEXES.iter().map(|i| IndexShape {
            name: i.index,
            hash: PK,
            range: i.attribute,
            projection: ProjectionType::KeysOnly,
        }))
        .collect()
}

/// Every attribute a key of the table or of an index names, once.
fn key_attributes(indexes: &[IndexShape]) -> Vec<&'static str> {
    let mut names = vec![PK, SK];
    for i in indexes {
        for a in [i.hash, i.range] {
            if !names.contains(&a) {
                names.push(a);
            }
        }
    }
    names
}

/// Waits until the table and every index of it are active (at most `polls` times `interval`),
/// and returns its description.
async fn wait_active(
    client: &Client,
    name: &str,
    polls: usize,
    interval: Duration,
) -> Result<TableDescription, StoreError> {
    for _ in 0..polls {
        let d = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk("DescribeTable", e))?;
        if let Some(table) = d.table {
            let indexes_active = table
                .global_secondary_indexes()
                .iter()
                .all(|i| i.index_status() == Some(&IndexStatus::Active));
            if table.table_status() == Some(&TableStatus::Active) && indexes_active {
                return Ok(table);
            }
        }
        tokio::time::sleep(interval).await;
    }
    Err(StoreError::Unavailable(format!(
        "table {name} (or its index) is not active after {:?}",
        interval * u32::try_from(polls).unwrap_or(u32::MAX)
    )))
}
