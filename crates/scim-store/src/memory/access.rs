//! Group ancestry in the embedded store ([`AncestryStore`]).

use super::MemoryStore;
use crate::{AncestryStore, GroupAncestry, StoreError, TenantId};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeSet;

#[async_trait]
impl AncestryStore for MemoryStore {
    async fn groups_with_parents(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<GroupAncestry>, StoreError> {
        let data = self.read()?;
        let Some(t) = data.tenants.get(tenant) else {
            return Ok(Vec::new());
        };
        let mut seen = BTreeSet::new();
        Ok(ids
            .iter()
            .filter(|id| seen.insert(id.as_str()))
            .filter_map(|id| {
                let record = t.groups.get(id)?;
                Some(GroupAncestry {
                    id: id.clone(),
                    display_name: t.display_name(id),
                    external_id: record
                        .attrs
                        .get("externalId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    parents: t.member_of.get(id).into_iter().flatten().cloned().collect(),
                })
            })
            .collect())
    }
}
