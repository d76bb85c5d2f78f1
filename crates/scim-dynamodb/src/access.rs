//! Group ancestry for effective access: a group item already carries its parents (`p`), so one
//! level of an ancestry walk is one BatchGetItem of the group items (100 keys per call).

use crate::record::{Item, Rec};
use crate::{keys, DynamoStore};
use async_trait::async_trait;
use scim_store::{AncestryStore, GroupAncestry, ResourceKind, StoreError, TenantId};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

#[async_trait]
impl AncestryStore for DynamoStore {
    async fn groups_with_parents(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<GroupAncestry>, StoreError> {
        let pk = keys::resources(tenant, ResourceKind::Group);
        let mut seen = BTreeSet::new();
        let wanted: Vec<&String> = ids
            .iter()
            .filter(|id| keys::plausible_id(id) && seen.insert(id.as_str()))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let found: HashMap<(String, String), Item> = self
            .batch_get(
                wanted.iter().map(|id| (pk.clone(), (*id).clone())).collect(),
                Some("pk, sk, v, a, p"),
            )
            .await?;
        wanted
            .into_iter()
            .filter_map(|id| found.get(&(pk.clone(), id.clone())))
            .map(|item| {
                let rec = Rec::from_item(ResourceKind::Group, item)?;
                Ok(GroupAncestry {
                    display_name: rec.display_name(),
                    external_id: rec
                        .attrs
                        .get("externalId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    parents: rec.parents.into_iter().collect(),
                    id: rec.id,
                })
            })
            .collect()
    }
}
