//! SDK errors to [`StoreError`]: throttling and transaction conflicts become `Throttled` (the
//! service answers 429 with `Retry-After`), condition failures are classified by the caller
//! from the cancellation reasons, everything else is `Unavailable` (503), never a panic.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use scim_store::StoreError;
use std::collections::HashMap;
use std::fmt::Debug;

/// Error codes (top-level or in cancellation reasons) that mean "slow down and retry". The SDK
/// has already retried these with backoff before we see them.
const THROTTLING: [&str; 6] = [
    "ProvisionedThroughputExceededException",
    "ProvisionedThroughputExceeded",
    "ThrottlingException",
    "ThrottlingError",
    "RequestLimitExceeded",
    "TransactionInProgressException",
];

/// Another transaction touched one of our items at the same moment.
const CONFLICT: [&str; 2] = ["TransactionConflictException", "TransactionConflict"];

/// Seconds a throttled client is asked to wait.
pub const RETRY_AFTER_SECS: u64 = 1;

pub fn is_throttling(code: &str) -> bool {
    THROTTLING.contains(&code) || CONFLICT.contains(&code)
}

pub fn is_conflict(code: &str) -> bool {
    CONFLICT.contains(&code)
}

/// Whether a Query failed because its index is not there to read: not created (a stack with fewer
/// sort indexes, `SortIndexes` in template.yaml) or still filling after being added.
pub fn is_index_unavailable<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    // DynamoDB: ValidationException "The table does not have the specified index" or "Cannot
    // read from backfilling global secondary index"; moto: ResourceNotFoundException "Invalid
    // index".
    e.as_service_error().is_some_and(|s| {
        let message = s.message().unwrap_or_default().to_ascii_lowercase();
        match s.code() {
            Some("ValidationException") => {
                message.contains("specified index") || message.contains("backfilling")
            }
            Some("ResourceNotFoundException") => message.contains("index"),
            _ => false,
        }
    })
}

/// Maps any SDK error that is not a condition failure.
pub fn sdk<E, R>(op: &str, e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug,
{
    match e.as_service_error() {
        Some(service) => match service.code() {
            Some(code) if is_throttling(code) => StoreError::Throttled {
                retry_after_secs: RETRY_AFTER_SECS,
            },
            Some("ValidationException") if service.message().is_some_and(|m| m.contains("size")) => {
                StoreError::Invalid(format!(
                    "the resource is too large to store: {}",
                    service.message().unwrap_or_default()
                ))
            }
            code => StoreError::Unavailable(format!(
                "DynamoDB {op} failed: {}: {}",
                code.unwrap_or("unknown error"),
                service.message().unwrap_or_default()
            )),
        },
        None => StoreError::Unavailable(format!(
            "DynamoDB {op} failed: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )),
    }
}

/// The error code of a failed `ConditionExpression` on a single-item write.
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// The outcome of a conditional single-item write whose failed condition is an answer, not an
/// error (another write made it moot, or a newer value is kept): whether it was applied.
pub fn applied<T, E, R>(op: &str, sent: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug,
{
    match sent {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().and_then(ProvideErrorMetadata::code) == Some(CONDITION_FAILED) => {
            Ok(false)
        }
        Err(e) => Err(sdk(op, e)),
    }
}

/// One entry of a cancelled transaction: the reason code and, for a failed condition, the item
/// as it was (`ReturnValuesOnConditionCheckFailure::AllOld`).
#[derive(Debug, Clone)]
pub struct Reason {
    pub code: String,
    pub item: Option<HashMap<String, AttributeValue>>,
}

/// What a failed TransactWriteItems says.
#[derive(Debug)]
pub enum TxError {
    /// Cancelled; one reason per item of the request, in order (`None` for items that passed).
    Cancelled(Vec<Reason>),
    Other(StoreError),
}

pub fn transact(e: SdkError<TransactWriteItemsError, impl Debug>) -> TxError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error() {
        let reasons = c
            .cancellation_reasons()
            .iter()
            .map(|r| Reason {
                code: r.code().unwrap_or("None").to_string(),
                item: r.item().cloned(),
            })
            .collect();
        return TxError::Cancelled(reasons);
    }
    TxError::Other(sdk("TransactWriteItems", e))
}
