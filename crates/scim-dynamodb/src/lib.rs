//! The Store on one DynamoDB table, built so that every SCIM operation costs a fixed number of
//! DynamoDB calls however large the tenant or the group (the crate's README has the key design
//! and the cost table).
//!
//! One file per capability, as in `scim-store`: [`resources`] (with [`list`] and [`members`]),
//! [`settings`], [`deleted`], [`unmanaged`], [`access`], [`log`] (the provisioning log) and
//! [`token_usage`] each implement one trait; [`calls`]
//! holds the DynamoDB calls they share; [`reindex`] moves index keys written before identifiers
//! compared in NFC (`scimctl reindex`).
//!
//! - [`DynamoStore::new`] takes a ready `aws_sdk_dynamodb::Client`; [`DynamoStore::from_aws`]
//!   builds one on the process's shared AWS configuration (`scim_aws::Aws`: `AWS_ENDPOINT_URL`,
//!   `AWS_REGION`, credentials).
//! - [`create_table`] creates the table (`pk`, `sk`; the indexes: [`LOG_INDEX`], the provisioning
//!   log by resource, and the [`SORT_INDEXES`] of sorted lists).
//! - [`CallCounter`] counts calls per operation through an SDK interceptor.
//! - [`TokenGeneration`] is the token registry's generation marker (`scim_auth::GenerationMarker`).
//! - [`stream`] turns the table's stream records into change events on EventBridge.
//!
//! Every read is strongly consistent, so a client reads its own writes (an IdP creates a user and
//! looks it up by `userName` a moment later).

mod access;
mod calls;
mod deleted;
mod error;
mod generation;
mod keys;
mod list;
mod log;
mod members;
mod metrics;
mod record;
mod reindex;
mod resources;
mod settings;
pub mod stream;
mod table;
mod token_usage;
mod unmanaged;

pub use generation::{open_token_registry, TokenGeneration};
pub use keys::{SortIndex, LOG_INDEX, PK, SK, SORT_INDEXES};
pub use log::{MAX_LOG_EXAMINED, OMITTED};
pub use metrics::CallCounter;
pub use reindex::{ReindexConflict, ReindexReport};
pub use table::{create_table, create_table_with, TableCreated};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use record::{Item, Rec};
use scim_proto::sort::SortBy;
use scim_proto::SchemaRegistry;
use scim_store::attributes::{indexed_attributes, IndexedAttribute};
use scim_store::unmanaged::MatchAttribute;
use scim_store::{ResourceKind, StoreError, TenantId};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

/// DynamoDB's limit on items in one TransactWriteItems.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// DynamoDB's limit on keys in one BatchGetItem.
const MAX_BATCH_GET: usize = 100;
/// Attempts of one store operation when a condition on another resource than the target failed
/// (a member deleted meanwhile) or a transaction collided with another.
const ATTEMPTS: usize = 4;
/// Default bound on the members one request's group-size work touches (a rename's fan-out, the
/// members a replace drops): 2,000 take a few seconds even at the smallest Lambda sizes, well
/// inside the timeout.
pub const DEFAULT_MEMBER_WORK_BUDGET: usize = 2_000;

/// Default bound on items one list request may examine (see [`DynamoStore::with_scan_limit`]).
pub const DEFAULT_SCAN_LIMIT: u64 = 20_000;
/// How many processed resources the version cache keeps (see [`DynamoStore`]).
const CACHE_ENTRIES: usize = 4096;
/// One index item of a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct IndexEntry {
    pk: String,
    sk: String,
    unique: bool,
    label: String,
}

/// The index item of resource `id` for `value` of attribute `a` (already normalised): a unique
/// attribute's item is the value's alone (sort key `#`), a looked-up one's has one per resource.
fn index_entry(
    tenant: &TenantId,
    kind: ResourceKind,
    id: &str,
    a: &IndexedAttribute,
    value: &str,
) -> IndexEntry {
    let label = a.label();
    IndexEntry {
        pk: keys::index(tenant, kind, &label, value),
        sk: if a.is_unique() {
            keys::UNIQUE_SK.into()
        } else {
            id.into()
        },
        unique: a.is_unique(),
        label,
    }
}

/// What each item of a transaction is, to read its cancellation reason.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    /// The resource being written: its condition is the version (or its absence on create).
    Target,
    /// A check that the target's version has not moved (member batches before the last).
    TargetCheck,
    Unique(String),
    /// The resource item of a member being added or removed.
    Member(String),
    /// An unmanaged account's match entry (attribute, normalised value): must be absent.
    Unmanaged(MatchAttribute, String),
    Other,
}

/// Why a write did not happen.
#[derive(Debug)]
enum Failure {
    Condition { role: Role, old: Option<Item> },
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// The expression value names of sort keys in an UpdateExpression: one per sort index.
const SORT_KEY_VALUES: [&str; keys::SORT_INDEXES.len()] = [":o0", ":o1", ":o2", ":o3", ":o4"];

/// The [`Store`] on one DynamoDB table (key design in [`keys`] and the crate's README.md).
///
/// The store remembers the last item it read or wrote per resource (bounded). A write with
/// [`Expect::Version`] that matches the remembered version uses it instead of reading again: the
/// write is conditional on that version, so the remembered item is exactly the stored one or the
/// write fails. That keeps PUT/PATCH at one read (the service's) and one write.
pub struct DynamoStore {
    client: Client,
    table: String,
    registry: Arc<SchemaRegistry>,
    users: Vec<IndexedAttribute>,
    groups: Vec<IndexedAttribute>,
    /// Each kind's sort indexes with the order each keeps.
    sorted: Vec<(ResourceKind, &'static SortIndex, SortBy)>,
    scan_limit: u64,
    member_work_budget: usize,
    cache: Mutex<HashMap<(TenantId, String), Rec>>,
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .field("scan_limit", &self.scan_limit)
            .field("member_work_budget", &self.member_work_budget)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// A store on `table` through `client`; uniqueness rules come from `registry` (RFC 7643 §2.2).
    pub fn new(client: Client, table: impl Into<String>, registry: Arc<SchemaRegistry>) -> DynamoStore {
        // Every call this store makes counts toward the request it serves.
        let client = Client::from_conf(
            client
                .config()
                .to_builder()
                .interceptor(metrics::RequestMeter)
                .build(),
        );
        let users = indexed_attributes(&registry, ResourceKind::User);
        let groups = indexed_attributes(&registry, ResourceKind::Group);
        let sorted = [ResourceKind::User, ResourceKind::Group]
            .into_iter()
            .filter_map(|kind| Some((kind, registry.view(kind.name())?)))
            .flat_map(|(kind, schema)| {
                keys::SORT_INDEXES
                    .iter()
                    .filter_map(move |i| Some((kind, i, SortBy::resolve(i.path, None, &schema).ok()?)))
            })
            .collect();
        DynamoStore {
            client,
            table: table.into(),
            registry,
            users,
            groups,
            sorted,
            scan_limit: DEFAULT_SCAN_LIMIT,
            member_work_budget: DEFAULT_MEMBER_WORK_BUDGET,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A store on `table` with a client on the process's shared AWS configuration, so it pools
    /// its connections with every other client of the process (scim-aws).
    pub async fn from_aws(
        aws: &scim_aws::Aws,
        table: impl Into<String>,
        registry: Arc<SchemaRegistry>,
    ) -> DynamoStore {
        DynamoStore::new(Client::new(aws.config().await), table, registry)
    }

    /// The most items one list request examines when a filter cannot use an index (default
    /// [`DEFAULT_SCAN_LIMIT`]). Beyond it, index paging answers 400 `tooMany` and cursor paging
    /// answers the matches found so far with a cursor to continue.
    pub fn with_scan_limit(mut self, limit: u64) -> DynamoStore {
        self.scan_limit = limit.max(1);
        self
    }

    /// The most members one request's group-size work touches (default
    /// [`DEFAULT_MEMBER_WORK_BUDGET`]): the user members a rename writes the new name to (the
    /// group's next write goes on from where it stopped), and the current members a replace
    /// drops (then the client is asked to retry for the rest).
    pub fn with_member_work_budget(mut self, members: usize) -> DynamoStore {
        self.member_work_budget = members.max(1);
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn indexed(&self, kind: ResourceKind) -> &[IndexedAttribute] {
        match kind {
            ResourceKind::User => &self.users,
            ResourceKind::Group => &self.groups,
        }
    }

    /// The sort index of `kind` that keeps `sort`'s order, if there is one.
    fn sort_index(&self, kind: ResourceKind, sort: &SortBy) -> Option<&'static SortIndex> {
        self.sorted
            .iter()
            .find(|(k, _, s)| *k == kind && s.path == sort.path)
            .map(|(_, i, _)| *i)
    }

    /// The resource's key in each of its kind's sort indexes, as item attributes.
    fn sort_attributes(&self, rec: &Rec) -> Vec<(&'static str, AttributeValue)> {
        self.sorted
            .iter()
            .filter(|(k, _, _)| *k == rec.kind)
            .map(|(_, index, sort)| (index.attribute, record::s(sort.key(&rec.attrs, rec.meta()))))
            .collect()
    }

    /// The `SET` assignments that write `keys` (sort key attributes, as [`Self::sort_attributes`]
    /// gives them) in an UpdateExpression, `ord_un = :o0, ...`, and the values they name.
    fn sort_key_assignments(
        keys: Vec<(&'static str, AttributeValue)>,
    ) -> (String, Vec<(&'static str, AttributeValue)>) {
        let mut set = Vec::with_capacity(keys.len());
        let mut values = Vec::with_capacity(keys.len());
        for ((attribute, key), name) in keys.into_iter().zip(SORT_KEY_VALUES) {
            set.push(format!("{attribute} = {name}"));
            values.push((name, key));
        }
        (set.join(", "), values)
    }

    /// A live resource's item: [`Rec::item`] in its listing partition with its sort keys.
    fn resource_item(&self, tenant: &TenantId, rec: &Rec) -> record::Item {
        let mut item = rec.item(keys::resources(tenant, rec.kind));
        item.extend(
            self.sort_attributes(rec)
                .into_iter()
                .map(|(name, value)| (name.to_string(), value)),
        );
        item
    }

    fn index_entries(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        attrs: &Map<String, Value>,
    ) -> BTreeSet<IndexEntry> {
        self.indexed(kind)
            .iter()
            .filter_map(|a| Some(index_entry(tenant, kind, id, a, &a.value(attrs)?)))
            .collect()
    }

    // -----------------------------------------------------------------------------------------
    // Cache

    fn remember(&self, tenant: &TenantId, rec: &Rec) {
        if let Ok(mut c) = self.cache.lock() {
            if c.len() >= CACHE_ENTRIES {
                c.clear();
            }
            c.insert((tenant.clone(), rec.id.clone()), rec.clone());
        }
    }

    fn forget(&self, tenant: &TenantId, id: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(&(tenant.clone(), id.to_string()));
        }
    }

    fn remembered(&self, tenant: &TenantId, kind: ResourceKind, id: &str, version: u64) -> Option<Rec> {
        let c = self.cache.lock().ok()?;
        c.get(&(tenant.clone(), id.to_string()))
            .filter(|r| r.kind == kind && r.version == version)
            .cloned()
    }
}
