//! Tenant settings: one item per tenant (`T#<tenant>#SETTINGS`, sort key `#`) holding the
//! settings as JSON (`a`) and their version (`v`). They are read only by the operations that
//! need them (DELETE, a POST that meets an imported account, effective roles), one GetItem each.

use crate::record::{attr, get_n, get_s, n, s};
use crate::{error, keys, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use scim_store::{Expect, SettingsStore, StoreError, TenantId, TenantSettings, VersionedSettings};

#[async_trait]
impl SettingsStore for DynamoStore {
    async fn settings(&self, tenant: &TenantId) -> Result<VersionedSettings, StoreError> {
        let Some(item) = self
            .get_consistent(keys::settings(tenant), keys::UNIQUE_SK)
            .await?
        else {
            return Ok(VersionedSettings::default());
        };
        let corrupt =
            |what: &str| StoreError::Unavailable(format!("the tenant settings item is malformed: {what}"));
        let json = get_s(&item, attr::ATTRS).ok_or_else(|| corrupt("no settings"))?;
        let version = get_n(&item, attr::VERSION)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| corrupt("no version"))?;
        let settings = TenantSettings::from_json(json).map_err(|e| corrupt(&e.to_string()))?;
        Ok(VersionedSettings { settings, version })
    }

    /// One conditional UpdateItem: the version is bumped in the same write that checks it.
    async fn put_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
        expect: Expect,
    ) -> Result<u64, StoreError> {
        settings.validate()?;
        let condition = match expect {
            Expect::Any => None,
            Expect::Version(0) | Expect::Based(0) => Some("attribute_not_exists(#v)"),
            Expect::Version(_) | Expect::Based(_) => Some("#v = :expected"),
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::settings(tenant), keys::UNIQUE_SK)))
            .update_expression("SET #a = :a, #v = if_not_exists(#v, :zero) + :one")
            .set_condition_expression(condition.map(str::to_string))
            .expression_attribute_names("#a", attr::ATTRS)
            .expression_attribute_names("#v", attr::VERSION)
            .expression_attribute_values(":a", s(settings.to_json()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            );
        if let Expect::Version(v) | Expect::Based(v) = expect {
            if v > 0 {
                update =
                    update.expression_attribute_values(":expected", n(i64::try_from(v).unwrap_or(i64::MAX)));
            }
        }
        match update.send().await {
            Ok(out) => out
                .attributes()
                .and_then(|a| get_n(a, attr::VERSION))
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| StoreError::Unavailable("UpdateItem returned no settings version".into())),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let current = c
                        .item()
                        .and_then(|i| get_n(i, attr::VERSION))
                        .and_then(|v| u64::try_from(v).ok())
                        .unwrap_or(0);
                    Err(StoreError::VersionConflict { current })
                }
                _ => Err(error::sdk("UpdateItem", e)),
            },
        }
    }
}
