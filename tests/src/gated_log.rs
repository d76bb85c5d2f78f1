//! A store whose provisioning log writes are slow in a telling way: a record is stored only once
//! the emulated Runtime API ([`crate::runtime_api`]) has received the response of its request,
//! and then [`WRITE_TIME`] later, or as soon as the extension asks for its next event, whichever
//! comes first; then the write is recorded in the [`Timeline`]. So a function that held its
//! response until its records were written shows the write before the response (after waiting
//! on itself for [`GATE_LIMIT`]), and an extension that let the environment freeze without
//! waiting for the write shows its next call before the write. Everything else goes straight to
//! the store inside.

use crate::runtime_api::{Step, Timeline};
use async_trait::async_trait;
use scim_store::prelude::*;
use scim_store::{
    Conflict, ConflictScope, DeletedUser, Expect, GroupAncestry, Include, LogPage, LogQuery, LogRecord,
    MemberChange, Page, Query, Resolution, ResourceKind, StoreError, StoredResource, TenantId,
    TenantSettings, TokenUse, UnmanagedAccount, UnmanagedMatch, VersionedSettings,
};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// How long a log write waits for its request's response before it goes ahead anyway.
const GATE_LIMIT: Duration = Duration::from_secs(10);
/// How long a write takes once the response is out, unless the extension asks for its next
/// event first; well below the function's 2 s flush limit.
const WRITE_TIME: Duration = Duration::from_millis(300);

fn extension_calls(steps: &[Step]) -> usize {
    steps.iter().filter(|s| **s == Step::ExtensionNext).count()
}

#[derive(Debug)]
pub struct GatedLog {
    inner: Arc<dyn Store>,
    timeline: Timeline,
}

impl GatedLog {
    pub fn new(inner: Arc<dyn Store>, timeline: Timeline) -> GatedLog {
        GatedLog { inner, timeline }
    }
}

#[async_trait]
impl ProvisioningLog for GatedLog {
    async fn append_log(&self, tenant: &TenantId, record: &LogRecord) -> Result<(), StoreError> {
        let id = record.request_id.as_str();
        self.timeline
            .until(GATE_LIMIT, |steps| steps.iter().any(|s| s.answers(id)))
            .await;
        let asked = extension_calls(&self.timeline.steps());
        self.timeline
            .until(WRITE_TIME, |steps| extension_calls(steps) > asked)
            .await;
        self.inner.append_log(tenant, record).await?;
        self.timeline.push(Step::LogWritten {
            request_id: id.to_string(),
        });
        Ok(())
    }

    async fn read_log(&self, tenant: &TenantId, query: &LogQuery) -> Result<LogPage, StoreError> {
        self.inner.read_log(tenant, query).await
    }
}

#[async_trait]
impl ResourceStore for GatedLog {
    async fn create(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        attrs: Map<String, Value>,
        members: MemberChange,
    ) -> Result<StoredResource, StoreError> {
        self.inner.create(tenant, kind, attrs, members).await
    }

    async fn get(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        include: Include,
    ) -> Result<StoredResource, StoreError> {
        self.inner.get(tenant, kind, id, include).await
    }

    async fn update(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
        attrs: Map<String, Value>,
        members: MemberChange,
    ) -> Result<StoredResource, StoreError> {
        self.inner.update(tenant, kind, id, expect, attrs, members).await
    }

    async fn delete(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError> {
        self.inner.delete(tenant, kind, id, expect).await
    }

    async fn query(&self, tenant: &TenantId, kind: ResourceKind, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(tenant, kind, query).await
    }
}

#[async_trait]
impl SettingsStore for GatedLog {
    async fn settings(&self, tenant: &TenantId) -> Result<VersionedSettings, StoreError> {
        self.inner.settings(tenant).await
    }

    async fn put_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
        expect: Expect,
    ) -> Result<u64, StoreError> {
        self.inner.put_settings(tenant, settings, expect).await
    }
}

#[async_trait]
impl DeletedUserStore for GatedLog {
    async fn delete_user_soft(
        &self,
        tenant: &TenantId,
        id: &str,
        expect: Expect,
        purge_after: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.inner.delete_user_soft(tenant, id, expect, purge_after).await
    }

    async fn deleted_users(&self, tenant: &TenantId) -> Result<Vec<DeletedUser>, StoreError> {
        self.inner.deleted_users(tenant).await
    }

    async fn restore_user(&self, tenant: &TenantId, id: &str) -> Result<StoredResource, StoreError> {
        self.inner.restore_user(tenant, id).await
    }
}

#[async_trait]
impl UnmanagedStore for GatedLog {
    async fn import_unmanaged(
        &self,
        tenant: &TenantId,
        attrs: Map<String, Value>,
    ) -> Result<UnmanagedAccount, StoreError> {
        self.inner.import_unmanaged(tenant, attrs).await
    }

    async fn find_unmanaged(
        &self,
        tenant: &TenantId,
        attrs: &Map<String, Value>,
    ) -> Result<Option<UnmanagedMatch>, StoreError> {
        self.inner.find_unmanaged(tenant, attrs).await
    }

    async fn get_unmanaged(&self, tenant: &TenantId, id: &str) -> Result<UnmanagedAccount, StoreError> {
        self.inner.get_unmanaged(tenant, id).await
    }

    async fn adopt_unmanaged(
        &self,
        tenant: &TenantId,
        account: &UnmanagedAccount,
        expect: Expect,
        attrs: Map<String, Value>,
    ) -> Result<StoredResource, StoreError> {
        self.inner.adopt_unmanaged(tenant, account, expect, attrs).await
    }

    async fn record_conflict(
        &self,
        tenant: &TenantId,
        matched: &UnmanagedMatch,
        posted: &Map<String, Value>,
    ) -> Result<Conflict, StoreError> {
        self.inner.record_conflict(tenant, matched, posted).await
    }

    async fn list_conflicts(
        &self,
        tenant: &TenantId,
        scope: ConflictScope,
    ) -> Result<Vec<Conflict>, StoreError> {
        self.inner.list_conflicts(tenant, scope).await
    }

    async fn resolve_conflict(
        &self,
        tenant: &TenantId,
        id: &str,
        resolution: Resolution,
    ) -> Result<Conflict, StoreError> {
        self.inner.resolve_conflict(tenant, id, resolution).await
    }
}

#[async_trait]
impl AncestryStore for GatedLog {
    async fn groups_with_parents(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<GroupAncestry>, StoreError> {
        self.inner.groups_with_parents(tenant, ids).await
    }
}

#[async_trait]
impl TokenUsageStore for GatedLog {
    async fn record_token_use(&self, tenant: &TenantId, usage: &TokenUse) -> Result<(), StoreError> {
        self.inner.record_token_use(tenant, usage).await
    }

    async fn token_uses(&self, tenant: &TenantId) -> Result<Vec<TokenUse>, StoreError> {
        self.inner.token_uses(tenant).await
    }
}
