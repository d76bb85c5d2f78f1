//! The provisioning log in the embedded store ([`ProvisioningLog`]): each tenant's newest
//! records in a ring of bounded size, so a long local run holds a fixed amount of memory.

use super::{poisoned, MemoryStore};
use crate::{metering, LogPage, LogQuery, LogRecord, ProvisioningLog, StoreError, TenantId};
use async_trait::async_trait;
use std::collections::{HashMap, VecDeque};

/// Records kept per tenant by default: the oldest go first.
pub(super) const MEMORY_LOG_CAPACITY: usize = 10_000;

#[derive(Debug)]
pub(super) struct MemoryLog {
    capacity: usize,
    /// Each tenant's records in arrival order, oldest first.
    tenants: HashMap<TenantId, VecDeque<LogRecord>>,
}

impl MemoryLog {
    pub(super) fn new(capacity: usize) -> MemoryLog {
        MemoryLog {
            capacity: capacity.max(1),
            tenants: HashMap::new(),
        }
    }
}

#[async_trait]
impl ProvisioningLog for MemoryStore {
    async fn append_log(&self, tenant: &TenantId, record: &LogRecord) -> Result<(), StoreError> {
        metering::count_call();
        let mut log = self.log.lock().map_err(poisoned)?;
        let capacity = log.capacity;
        let records = log.tenants.entry(tenant.clone()).or_default();
        if records.len() >= capacity {
            records.pop_front();
        }
        // Requests finish out of order: keep the ring sorted by time so reads need no sort.
        let at = records.partition_point(|r| r.cursor() <= record.cursor());
        records.insert(at, record.clone());
        Ok(())
    }

    async fn read_log(&self, tenant: &TenantId, query: &LogQuery) -> Result<LogPage, StoreError> {
        metering::count_call();
        let now = crate::now().unix_timestamp();
        let log = self.log.lock().map_err(poisoned)?;
        let size = query.page_size();
        let mut examined = 0u64;
        let (records, more) = {
            let mut matching = log
                .tenants
                .get(tenant)
                .into_iter()
                .flat_map(|records| records.iter().rev())
                .inspect(|_| examined += 1)
                .filter(|r| r.expires_at > now && query.matches(r));
            let records: Vec<LogRecord> = matching.by_ref().take(size).cloned().collect();
            (records, matching.next().is_some())
        };
        metering::count_items_read(examined);
        let next = more.then(|| records.last().map(LogRecord::cursor)).flatten();
        Ok(LogPage { records, next })
    }
}
