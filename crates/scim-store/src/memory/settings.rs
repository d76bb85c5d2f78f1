//! Tenant settings in the embedded store ([`SettingsStore`]).

use super::MemoryStore;
use crate::{Expect, SettingsStore, StoreError, TenantId, TenantSettings, VersionedSettings};
use async_trait::async_trait;

#[async_trait]
impl SettingsStore for MemoryStore {
    async fn settings(&self, tenant: &TenantId) -> Result<VersionedSettings, StoreError> {
        let data = self.read()?;
        Ok(data
            .tenants
            .get(tenant)
            .map(|t| t.settings.clone())
            .unwrap_or_default())
    }

    async fn put_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
        expect: Expect,
    ) -> Result<u64, StoreError> {
        settings.validate()?;
        let mut data = self.write()?;
        let t = data.tenants.entry(tenant.clone()).or_default();
        expect.check(t.settings.version)?;
        t.settings = VersionedSettings {
            settings: settings.clone(),
            version: t.settings.version + 1,
        };
        Ok(t.settings.version)
    }
}
