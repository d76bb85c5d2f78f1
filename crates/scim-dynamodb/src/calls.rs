//! The DynamoDB calls every capability makes, and the transaction items it builds them from:
//! strongly consistent reads, batched reads that follow `UnprocessedKeys`, transactions retried
//! on collisions, and each failed condition reported with the role of its item.

use crate::error::{self, Reason, TxError};
use crate::record::{attr, get_n, get_s, n, s, Item, Rec};
use crate::{keys, DynamoStore, Failure, IndexEntry, Role, ATTEMPTS, MAX_BATCH_GET};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use scim_proto::schema::ResourceSchema;
use scim_store::{ResourceKind, StoreError, TenantId};
use std::collections::HashMap;
use std::time::Duration;

impl DynamoStore {
    pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
        HashMap::from([(keys::PK.to_string(), s(pk)), (keys::SK.to_string(), s(sk))])
    }

    /// One strongly consistent GetItem of any item.
    pub(crate) async fn get_consistent(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| error::sdk("GetItem", e))?;
        Ok(out.item)
    }

    /// One strongly consistent GetItem.
    pub(crate) async fn read(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<Rec>, StoreError> {
        if !keys::plausible_id(id) {
            return Ok(None);
        }
        let item = self.get_consistent(keys::resources(tenant, kind), id).await?;
        let rec = item.as_ref().map(|i| Rec::from_item(kind, i)).transpose()?;
        if let Some(r) = &rec {
            self.remember(tenant, r);
        }
        Ok(rec)
    }

    /// Strongly consistent BatchGetItem of any number of keys (100 per call), following
    /// `UnprocessedKeys`. Returns the items found, by (pk, sk).
    pub(crate) async fn batch_get(
        &self,
        keys: Vec<(String, String)>,
        projection: Option<&str>,
    ) -> Result<HashMap<(String, String), Item>, StoreError> {
        let mut found = HashMap::new();
        let mut unique: Vec<(String, String)> = keys;
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(MAX_BATCH_GET) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|(p, k)| Self::key(p.clone(), k.clone()))
                .collect();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let mut ka = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true);
                if let Some(p) = projection {
                    ka = ka.projection_expression(p);
                }
                let ka = ka.build().map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(|e| error::sdk("BatchGetItem", e))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    if let (Some(p), Some(k)) = (get_s(item, keys::PK), get_s(item, keys::SK)) {
                        found.insert((p.to_string(), k.to_string()), item.clone());
                    }
                }
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|ka| ka.keys().to_vec())
                    .unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Throttled {
                            retry_after_secs: error::RETRY_AFTER_SECS,
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(20 << attempt.min(5))).await;
                }
            }
        }
        Ok(found)
    }

    /// One strongly consistent Query page of `pk` with `sk > after` (or from the start).
    pub(crate) async fn query_page(
        &self,
        pk: &str,
        after: Option<&str>,
        limit: i32,
        projection: Option<&str>,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .limit(limit.max(1))
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(pk));
        q = match after {
            Some(a) => q
                .key_condition_expression("#pk = :pk AND #sk > :after")
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":after", s(a)),
            None => q.key_condition_expression("#pk = :pk"),
        };
        if let Some(p) = projection {
            q = q.projection_expression(p);
        }
        let out = q.send().await.map_err(|e| error::sdk("Query", e))?;
        // No LastEvaluatedKey means the end; a present one may still lead to an empty page.
        let more = out.last_evaluated_key().is_some_and(|k| !k.is_empty());
        Ok((out.items().to_vec(), more))
    }

    /// TransactWriteItems, retried on a collision with another transaction. A single Update is
    /// sent as UpdateItem (half the write cost, same atomicity).
    pub(crate) async fn transact(&self, items: Vec<(TransactWriteItem, Role)>) -> Result<(), Failure> {
        if items.is_empty() {
            return Ok(());
        }
        if let [(single, role)] = items.as_slice() {
            if let Some(u) = single.update() {
                return self.update_item(u, role.clone()).await;
            }
        }
        let (tx, roles): (Vec<_>, Vec<_>) = items.into_iter().unzip();
        for attempt in 0..ATTEMPTS {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(tx.clone()))
                .send()
                .await;
            let reasons = match sent {
                Ok(_) => return Ok(()),
                Err(e) => match error::transact(e) {
                    TxError::Other(e) => return Err(Failure::Store(e)),
                    TxError::Cancelled(reasons) => reasons,
                },
            };
            if let Some(f) = condition_failure(&reasons, &roles) {
                return Err(f);
            }
            let conflict = reasons.iter().any(|r| error::is_conflict(&r.code));
            if conflict && attempt + 1 < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(10 + jitter(40))).await;
                continue;
            }
            if reasons.iter().any(|r| error::is_throttling(&r.code)) {
                return Err(Failure::Store(StoreError::Throttled {
                    retry_after_secs: error::RETRY_AFTER_SECS,
                }));
            }
            let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
            return Err(Failure::Store(StoreError::Unavailable(format!(
                "DynamoDB cancelled the transaction: {codes:?}"
            ))));
        }
        Err(Failure::Store(StoreError::Throttled {
            retry_after_secs: error::RETRY_AFTER_SECS,
        }))
    }

    pub(crate) async fn update_item(&self, u: &Update, role: Role) -> Result<(), Failure> {
        let sent = self
            .client
            .update_item()
            .table_name(u.table_name())
            .set_key(Some(u.key().clone()))
            .update_expression(u.update_expression())
            .set_condition_expression(u.condition_expression().map(str::to_string))
            .set_expression_attribute_names(u.expression_attribute_names().cloned())
            .set_expression_attribute_values(u.expression_attribute_values().cloned())
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                    c,
                )) = e.as_service_error()
                {
                    return Err(Failure::Condition {
                        role,
                        old: c.item().cloned(),
                    });
                }
                Err(Failure::Store(error::sdk("UpdateItem", e)))
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Transaction items

    pub(crate) fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let mut p = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(c) = condition {
            p = p
                .condition_expression(c)
                .expression_attribute_names("#pk", keys::PK);
        }
        Ok(TransactWriteItem::builder()
            .put(p.build().map_err(build_error)?)
            .build())
    }

    pub(crate) fn delete(
        &self,
        key: Item,
        condition: Option<(&str, Vec<(&str, AttributeValue)>)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut d = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some((c, values)) = condition {
            d = d.condition_expression(c);
            for (k, v) in values {
                d = d.expression_attribute_values(k, v);
            }
        }
        Ok(TransactWriteItem::builder()
            .delete(d.build().map_err(build_error)?)
            .build())
    }

    pub(crate) fn update(
        &self,
        key: Item,
        expression: &str,
        condition: Option<&str>,
        names: Vec<(&str, &str)>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(c) = condition {
            u = u.condition_expression(c);
        }
        for (k, v) in names {
            u = u.expression_attribute_names(k, v);
        }
        for (k, v) in values {
            u = u.expression_attribute_values(k, v);
        }
        Ok(TransactWriteItem::builder()
            .update(u.build().map_err(build_error)?)
            .build())
    }

    pub(crate) fn version_check(&self, key: Item, version: u64) -> Result<TransactWriteItem, StoreError> {
        let c = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("v = :v")
            .expression_attribute_values(":v", n(version as i64))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(c).build())
    }

    pub(crate) fn counter(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        delta: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        self.update(
            Self::key(keys::resources(tenant, kind), keys::counter_shard(id)),
            "ADD #n :d",
            None,
            vec![("#n", attr::COUNT)],
            vec![(":d", n(delta))],
        )
    }

    pub(crate) fn index_put(
        &self,
        e: &IndexEntry,
        id: &str,
    ) -> Result<(TransactWriteItem, Role), StoreError> {
        let mut item = Self::key(e.pk.clone(), e.sk.clone());
        item.insert(attr::ID.into(), s(id));
        if e.unique {
            Ok((
                self.put(item, Some("attribute_not_exists(#pk)"))?,
                Role::Unique(e.label.clone()),
            ))
        } else {
            Ok((self.put(item, None)?, Role::Other))
        }
    }

    pub(crate) fn index_delete(&self, e: &IndexEntry) -> Result<(TransactWriteItem, Role), StoreError> {
        Ok((
            self.delete(Self::key(e.pk.clone(), e.sk.clone()), None)?,
            Role::Other,
        ))
    }

    pub(crate) fn schema(&self, kind: ResourceKind) -> Result<ResourceSchema<'_>, StoreError> {
        self.registry
            .view(kind.name())
            .ok_or_else(|| StoreError::Invalid(format!("no {} resource type", kind.name())))
    }
}

pub(crate) fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("building a DynamoDB request: {e}"))
}

/// A few milliseconds of jitter from the clock, so colliding retries spread out.
pub(crate) fn jitter(max_ms: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    nanos % max_ms.max(1)
}

/// The first failed condition of a cancelled transaction, by the role of its item.
pub(crate) fn condition_failure(reasons: &[Reason], roles: &[Role]) -> Option<Failure> {
    reasons
        .iter()
        .zip(roles)
        .find(|(r, _)| r.code == "ConditionalCheckFailed")
        .map(|(r, role)| Failure::Condition {
            role: role.clone(),
            old: r.item.clone(),
        })
}

/// The version in an item a failed condition returned.
pub(crate) fn old_version(old: &Option<Item>) -> Option<u64> {
    old.as_ref()
        .and_then(|i| get_n(i, attr::VERSION))
        .and_then(|v| u64::try_from(v).ok())
}
