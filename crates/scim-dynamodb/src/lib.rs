//! The [`Store`] on one DynamoDB table, built so that every SCIM operation costs a fixed number of
//! DynamoDB calls however large the tenant or the group (the crate's README.md has the cost table).
//!
//! - [`DynamoStore::new`] takes a ready `aws_sdk_dynamodb::Client`; [`DynamoStore::from_env`]
//!   builds one through aws-config's standard chain (`AWS_ENDPOINT_URL`, `AWS_REGION`,
//!   credentials).
//! - [`create_table`] creates the table (`pk`, `sk`; no secondary index).
//! - [`CallCounter`] counts calls per operation through an SDK interceptor.
//! - [`stream`] turns the table's stream records into change events on EventBridge.
//!
//! Every read is strongly consistent, so a client reads its own writes (an IdP creates a user and
//! looks it up by `userName` a moment later).

mod access;
mod deleted;
mod error;
mod keys;
mod list;
mod members;
mod metrics;
mod record;
mod settings;
pub mod stream;
mod table;
mod unmanaged;

pub use keys::{PK, SK};
pub use metrics::CallCounter;
pub use table::{create_table, create_table_with, TableCreated};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use error::{Reason, TxError};
use record::{attr, get_n, get_s, n, now, s, Item, Rec};
use scim_proto::schema::{AttrType, ResourceSchema, SchemaRegistry, Uniqueness};
use scim_store::{
    Conflict, Expect, GroupAncestry, Include, MatchAttribute, MemberChange, Page, Query, Resolution,
    ResourceKind, Store, StoreError, StoredResource, TenantId, TenantSettings, UnmanagedAccount,
    UnmanagedMatch, VersionedSettings,
};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// DynamoDB's limit on items in one TransactWriteItems.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// DynamoDB's limit on keys in one BatchGetItem.
const MAX_BATCH_GET: usize = 100;
/// Attempts of one store operation when a condition on another resource than the target failed
/// (a member deleted meanwhile) or a transaction collided with another.
const ATTEMPTS: usize = 4;
/// Default bound on items one list request may examine (see [`DynamoStore::with_scan_limit`]).
pub const DEFAULT_SCAN_LIMIT: u64 = 20_000;
/// Deepest group nesting the cycle check follows (README.md, "Member changes").
pub const MAX_NESTING_DEPTH: usize = 32;
/// Most groups the cycle check visits.
pub const MAX_NESTING_GROUPS: usize = 1_000;
/// How many processed resources the version cache keeps (see [`DynamoStore`]).
const CACHE_ENTRIES: usize = 4096;

/// An attribute with index items: unique ones (`userName`) and the equality lookups IdPs make
/// (`externalId`, Group `displayName`).
#[derive(Debug, Clone)]
struct IndexedAttr {
    /// The extension URN for extension attributes.
    extension: Option<String>,
    name: String,
    case_exact: bool,
    unique: bool,
}

impl IndexedAttr {
    /// The attribute as [`scim_proto::filter::Filter::equality_lookups`] names it.
    fn label(&self) -> String {
        match &self.extension {
            Some(urn) => format!("{urn}:{}", self.name),
            None => self.name.clone(),
        }
    }

    fn normalise(&self, value: &str) -> String {
        // RFC 7643 §2.2 `caseExact: false`: `Alice` and `alice` are one value.
        if self.case_exact {
            value.to_string()
        } else {
            value.to_lowercase()
        }
    }

    /// The normalised value of this attribute in `attrs`, if it has a scalar one.
    fn value(&self, attrs: &Map<String, Value>) -> Option<String> {
        let holder = match &self.extension {
            Some(urn) => attrs.get(urn)?.as_object()?,
            None => attrs,
        };
        match holder.get(&self.name)? {
            Value::String(v) => Some(self.normalise(v)),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(x) => Some(x.to_string()),
            _ => None,
        }
    }
}

fn indexed_attrs(schema: Option<ResourceSchema<'_>>, kind: ResourceKind) -> Vec<IndexedAttr> {
    let Some(schema) = schema else {
        return Vec::new();
    };
    schema
        .attributes()
        .filter_map(|(ext, a)| {
            let unique = matches!(a.uniqueness, Uniqueness::Server | Uniqueness::Global)
                && a.name != "id"
                && !a.multi_valued
                && a.ty != AttrType::Complex;
            let lookup = ext.is_none()
                && (a.name == "externalId" || (kind == ResourceKind::Group && a.name == "displayName"));
            (unique || lookup).then(|| IndexedAttr {
                extension: ext.map(str::to_string),
                name: a.name.clone(),
                case_exact: a.case_exact,
                unique,
            })
        })
        .collect()
}

/// One index item of a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct IndexEntry {
    pk: String,
    sk: String,
    unique: bool,
    label: String,
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
    users: Vec<IndexedAttr>,
    groups: Vec<IndexedAttr>,
    scan_limit: u64,
    cache: Mutex<HashMap<(TenantId, String), Rec>>,
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .field("scan_limit", &self.scan_limit)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// A store on `table` through `client`; uniqueness rules come from `registry` (RFC 7643 §2.2).
    pub fn new(client: Client, table: impl Into<String>, registry: Arc<SchemaRegistry>) -> DynamoStore {
        let users = indexed_attrs(registry.view(ResourceKind::User.name()), ResourceKind::User);
        let groups = indexed_attrs(registry.view(ResourceKind::Group.name()), ResourceKind::Group);
        DynamoStore {
            client,
            table: table.into(),
            registry,
            users,
            groups,
            scan_limit: DEFAULT_SCAN_LIMIT,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A store on `table` with a client configured by aws-config's standard chain.
    pub async fn from_env(table: impl Into<String>, registry: Arc<SchemaRegistry>) -> DynamoStore {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        DynamoStore::new(Client::new(&sdk), table, registry)
    }

    /// The most items one list request examines when a filter cannot use an index (default
    /// [`DEFAULT_SCAN_LIMIT`]). Beyond it, index paging answers 400 `tooMany` and cursor paging
    /// answers the matches found so far with a cursor to continue.
    pub fn with_scan_limit(mut self, limit: u64) -> DynamoStore {
        self.scan_limit = limit.max(1);
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn indexed(&self, kind: ResourceKind) -> &[IndexedAttr] {
        match kind {
            ResourceKind::User => &self.users,
            ResourceKind::Group => &self.groups,
        }
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
            .filter_map(|a| {
                let value = a.value(attrs)?;
                let label = a.label();
                Some(IndexEntry {
                    pk: keys::index(tenant, kind, &label, &value),
                    sk: if a.unique {
                        keys::UNIQUE_SK.into()
                    } else {
                        id.into()
                    },
                    unique: a.unique,
                    label,
                })
            })
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

    // -----------------------------------------------------------------------------------------
    // Calls

    fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
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
    async fn read(&self, tenant: &TenantId, kind: ResourceKind, id: &str) -> Result<Option<Rec>, StoreError> {
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
    async fn batch_get(
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
    async fn query_page(
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
    async fn transact(&self, items: Vec<(TransactWriteItem, Role)>) -> Result<(), Failure> {
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

    async fn update_item(&self, u: &Update, role: Role) -> Result<(), Failure> {
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

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
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

    fn delete(
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

    fn update(
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

    fn version_check(&self, key: Item, version: u64) -> Result<TransactWriteItem, StoreError> {
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

    fn counter(
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

    fn index_put(&self, e: &IndexEntry, id: &str) -> Result<(TransactWriteItem, Role), StoreError> {
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

    fn index_delete(&self, e: &IndexEntry) -> Result<(TransactWriteItem, Role), StoreError> {
        Ok((
            self.delete(Self::key(e.pk.clone(), e.sk.clone()), None)?,
            Role::Other,
        ))
    }

    fn schema(&self, kind: ResourceKind) -> Result<ResourceSchema<'_>, StoreError> {
        self.registry
            .view(kind.name())
            .ok_or_else(|| StoreError::Invalid(format!("no {} resource type", kind.name())))
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("building a DynamoDB request: {e}"))
}

/// A few milliseconds of jitter from the clock, so colliding retries spread out.
fn jitter(max_ms: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    nanos % max_ms.max(1)
}

/// The first failed condition of a cancelled transaction, by the role of its item.
fn condition_failure(reasons: &[Reason], roles: &[Role]) -> Option<Failure> {
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
fn old_version(old: &Option<Item>) -> Option<u64> {
    old.as_ref()
        .and_then(|i| get_n(i, attr::VERSION))
        .and_then(|v| u64::try_from(v).ok())
}

#[async_trait]
impl Store for DynamoStore {
    async fn create(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        attrs: Map<String, Value>,
        members: MemberChange,
    ) -> Result<StoredResource, StoreError> {
        members.check_kind(kind)?;
        let attrs = scim_store::stored_attributes(attrs);
        for _ in 0..ATTEMPTS {
            let id = uuid::Uuid::new_v4().to_string();
            let at = now();
            let rec = Rec {
                id: id.clone(),
                kind,
                version: 1,
                membership_version: 0,
                created: at.clone(),
                modified: at.clone(),
                attrs: attrs.clone(),
                groups: Default::default(),
                parents: Default::default(),
                fanout: None,
                left: Default::default(),
            };
            let ops = if kind == ResourceKind::Group && !members.is_empty() {
                self.plan_members(tenant, &id, &members, true).await?
            } else {
                Vec::new()
            };
            let item = rec.item(keys::resources(tenant, kind));
            let mut first = vec![(self.put(item, Some("attribute_not_exists(#pk)"))?, Role::Target)];
            for e in self.index_entries(tenant, kind, &id, &attrs) {
                first.push(self.index_put(&e, &id)?);
            }
            first.push((self.counter(tenant, kind, &id, 1)?, Role::Other));
            if kind == ResourceKind::User {
                // After the unique index items: a duplicate of a managed user is `Uniqueness`
                // even when it also meets an unmanaged account.
                first.extend(self.unmanaged_checks(tenant, &attrs, &[])?);
            }
            let written = self
                .write_member_batches(tenant, &id, &rec.display_name(), 1, first, ops, true)
                .await;
            match written {
                Ok(()) => {
                    self.remember(tenant, &rec);
                    return Ok(rec.stored(false));
                }
                Err(Failure::Condition {
                    role: Role::Unique(label),
                    ..
                }) => return Err(StoreError::Uniqueness { attribute: label }),
                Err(
                    f @ Failure::Condition {
                        role: Role::Unmanaged(..),
                        ..
                    },
                ) => return Err(Self::unmanaged_failure(&f).unwrap_or(StoreError::NotFound)),
                // A member vanished between the plan and the write: plan again.
                Err(Failure::Condition {
                    role: Role::Member(_),
                    ..
                }) => continue,
                // A UUID collision, or a member batch after the first: try again with a new id.
                Err(Failure::Condition { .. }) => continue,
                Err(Failure::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Throttled {
            retry_after_secs: error::RETRY_AFTER_SECS,
        })
    }

    async fn get(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        include: Include,
    ) -> Result<StoredResource, StoreError> {
        if kind == ResourceKind::Group && include.members {
            // The item and its member partition in parallel: one round trip of latency.
            let (rec, members) = tokio::join!(
                self.read(tenant, kind, id),
                self.read_members(tenant, id, include.member_limit)
            );
            let rec = rec?.ok_or(StoreError::NotFound)?;
            let members = members?;
            let mut stored = rec.stored(include.groups);
            stored.members = Some(
                members
                    .into_iter()
                    .map(|(value, kind)| scim_store::Member { value, kind })
                    .collect(),
            );
            return Ok(stored);
        }
        let rec = self.read(tenant, kind, id).await?.ok_or(StoreError::NotFound)?;
        Ok(rec.stored(include.groups))
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
        members.check_kind(kind)?;
        let attrs = scim_store::stored_attributes(attrs);
        let mut fresh = matches!(expect, Expect::Any);
        for _ in 0..ATTEMPTS {
            let cached = match expect {
                Expect::Version(v) if !fresh => self.remembered(tenant, kind, id, v),
                _ => None,
            };
            let from_cache = cached.is_some();
            let cur = match cached {
                Some(c) => c,
                None => self.read(tenant, kind, id).await?.ok_or(StoreError::NotFound)?,
            };
            expect.check(cur.version)?;
            let ops = if kind == ResourceKind::Group && !members.is_empty() {
                self.plan_members(tenant, id, &members, false).await?
            } else {
                Vec::new()
            };
            if attrs == cur.attrs && ops.is_empty() && cur.fanout.is_none() {
                if from_cache {
                    // Confirm the version against the stored item before answering "nothing
                    // changed": one version is one state, so an equal version needs no re-plan.
                    let stored = self.read(tenant, kind, id).await?.ok_or(StoreError::NotFound)?;
                    expect.check(stored.version)?;
                    return Ok(stored.stored(false));
                }
                return Ok(cur.stored(false));
            }
            let old_display = cur.display_name();
            let new_display = record::display_name(&attrs);
            let renamed = kind == ResourceKind::Group && old_display != new_display;
            let modified = now().max(cur.modified.clone());
            let next = Rec {
                version: cur.version + 1,
                modified: modified.clone(),
                attrs: attrs.clone(),
                fanout: (renamed || cur.fanout.is_some()).then(|| new_display.clone()),
                ..cur.clone()
            };
            let mut values = vec![
                (":v", n(cur.version as i64)),
                (":nv", n(next.version as i64)),
                (":a", s(Value::Object(attrs.clone()).to_string())),
                (":m", s(&modified)),
            ];
            let expression = match &next.fanout {
                Some(d) => {
                    values.push((":fo", s(d)));
                    "SET a = :a, m = :m, v = :nv, fo = :fo"
                }
                None => "SET a = :a, m = :m, v = :nv",
            };
            let mut last = vec![(
                self.update(
                    Self::key(keys::resources(tenant, kind), id),
                    expression,
                    Some("v = :v"),
                    vec![],
                    values,
                )?,
                Role::Target,
            )];
            let old_index = self.index_entries(tenant, kind, id, &cur.attrs);
            let new_index = self.index_entries(tenant, kind, id, &attrs);
            for e in old_index.difference(&new_index) {
                last.push(self.index_delete(e)?);
            }
            for e in new_index.difference(&old_index) {
                last.push(self.index_put(e, id)?);
            }
            let written = self
                .write_member_batches(tenant, id, &new_display, cur.version, last, ops, false)
                .await;
            match written {
                Ok(()) => {
                    self.remember(tenant, &next);
                    if let Some(display) = &next.fanout {
                        self.fan_out_rename(tenant, id, display).await?;
                        self.remember(
                            tenant,
                            &Rec {
                                fanout: None,
                                ..next.clone()
                            },
                        );
                    }
                    return Ok(next.stored(false));
                }
                Err(Failure::Condition {
                    role: Role::Target | Role::TargetCheck,
                    old,
                }) => match old_version(&old) {
                    None => return Err(StoreError::NotFound),
                    Some(current) if matches!(expect, Expect::Version(_)) => {
                        return Err(StoreError::VersionConflict { current })
                    }
                    Some(_) => {
                        fresh = true;
                        continue;
                    }
                },
                Err(Failure::Condition {
                    role: Role::Unique(label),
                    ..
                }) => return Err(StoreError::Uniqueness { attribute: label }),
                Err(Failure::Condition { .. }) => {
                    fresh = true;
                    continue;
                }
                Err(Failure::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Throttled {
            retry_after_secs: error::RETRY_AFTER_SECS,
        })
    }

    async fn delete(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError> {
        let result = self.delete_resource(tenant, kind, id, expect, None).await;
        self.forget(tenant, id);
        result
    }

    async fn query(&self, tenant: &TenantId, kind: ResourceKind, query: &Query) -> Result<Page, StoreError> {
        self.list(tenant, kind, query).await
    }

    async fn settings(&self, tenant: &TenantId) -> Result<VersionedSettings, StoreError> {
        self.read_settings(tenant).await
    }

    async fn put_settings(
        &self,
        tenant: &TenantId,
        settings: &TenantSettings,
        expect: Expect,
    ) -> Result<u64, StoreError> {
        self.write_settings(tenant, settings, expect).await
    }

    async fn delete_user_soft(
        &self,
        tenant: &TenantId,
        id: &str,
        expect: Expect,
        purge_after: time::OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.soft_delete_user(tenant, id, expect, purge_after).await
    }

    async fn deleted_users(&self, tenant: &TenantId) -> Result<Vec<scim_store::DeletedUser>, StoreError> {
        self.list_deleted(tenant).await
    }

    async fn restore_user(&self, tenant: &TenantId, id: &str) -> Result<StoredResource, StoreError> {
        self.restore(tenant, id).await
    }

    async fn import_unmanaged(
        &self,
        tenant: &TenantId,
        attrs: Map<String, Value>,
    ) -> Result<UnmanagedAccount, StoreError> {
        self.import_account(tenant, attrs).await
    }

    async fn find_unmanaged(
        &self,
        tenant: &TenantId,
        attrs: &Map<String, Value>,
    ) -> Result<Option<UnmanagedMatch>, StoreError> {
        self.find_account(tenant, attrs).await
    }

    async fn get_unmanaged(&self, tenant: &TenantId, id: &str) -> Result<UnmanagedAccount, StoreError> {
        self.read_account(tenant, id).await
    }

    async fn adopt_unmanaged(
        &self,
        tenant: &TenantId,
        account: &UnmanagedAccount,
        expect: Expect,
        attrs: Map<String, Value>,
    ) -> Result<StoredResource, StoreError> {
        self.adopt_account(tenant, account, expect, attrs).await
    }

    async fn record_conflict(
        &self,
        tenant: &TenantId,
        matched: &UnmanagedMatch,
        posted: &Map<String, Value>,
    ) -> Result<Conflict, StoreError> {
        self.upsert_conflict(tenant, matched, posted).await
    }

    async fn list_conflicts(&self, tenant: &TenantId) -> Result<Vec<Conflict>, StoreError> {
        self.open_conflicts(tenant).await
    }

    async fn resolve_conflict(
        &self,
        tenant: &TenantId,
        id: &str,
        resolution: Resolution,
    ) -> Result<Conflict, StoreError> {
        self.resolve(tenant, id, resolution).await
    }

    async fn groups_with_parents(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<GroupAncestry>, StoreError> {
        self.read_ancestry(tenant, ids).await
    }
}

impl DynamoStore {
    /// Deletes a resource, its index items and every membership it takes part in.
    ///
    /// Memberships go first, in transactions that each remove both sides of up to 49 of them,
    /// conditional on the resource's version; the last transaction deletes the resource with the
    /// rest, conditional on its version and membership version (`mv`, bumped by every membership
    /// change), so a membership added meanwhile makes it start over instead of leaving a member
    /// item pointing nowhere. A crash between transactions leaves the resource with fewer
    /// memberships, both sides consistent; a retried DELETE finishes the job.
    ///
    /// With `keep` (a user's soft delete) the last transaction also puts the kept record
    /// ([`deleted`]), remembering every group the user left: the groups left in earlier batches
    /// are collected in the user's `dg` set by those batches, so a retry after a crash still
    /// knows them.
    pub(crate) async fn delete_resource(
        &self,
        tenant: &TenantId,
        kind: ResourceKind,
        id: &str,
        expect: Expect,
        keep: Option<&deleted::Keep>,
    ) -> Result<(), StoreError> {
        // Members whose resource item is gone: only their member item is removed.
        let mut gone: BTreeSet<String> = BTreeSet::new();
        for _ in 0..(ATTEMPTS * 4) {
            let cur = self.read(tenant, kind, id).await?.ok_or(StoreError::NotFound)?;
            expect.check(cur.version)?;
            let target_key = || Self::key(keys::resources(tenant, kind), id);
            // A group's own members, 49 per transaction.
            if kind == ResourceKind::Group {
                let (page, _) = self
                    .query_page(&keys::members(tenant, id), None, 49, None)
                    .await?;
                if !page.is_empty() {
                    let mut items = vec![(self.version_check(target_key(), cur.version)?, Role::TargetCheck)];
                    for m in &page {
                        let (Some(mid), Some(mkind)) = (
                            get_s(m, keys::SK),
                            get_s(m, attr::KIND).and_then(record::parse_kind),
                        ) else {
                            continue;
                        };
                        items.push((
                            self.delete(Self::key(keys::members(tenant, id), mid), None)?,
                            Role::Other,
                        ));
                        if !gone.contains(mid) {
                            items.push((
                                self.leave_item(tenant, mkind, mid, id)?,
                                Role::Member(mid.to_string()),
                            ));
                        }
                    }
                    match self.transact(items).await {
                        Ok(()) => continue,
                        Err(Failure::Condition {
                            role: Role::Member(mid),
                            ..
                        }) => {
                            gone.insert(mid);
                            continue;
                        }
                        Err(Failure::Condition { .. }) => continue,
                        Err(Failure::Store(e)) => return Err(e),
                    }
                }
            }
            // The groups this resource is in: member items in their partitions.
            let containing: Vec<String> = match kind {
                ResourceKind::User => cur.groups.keys().cloned().collect(),
                ResourceKind::Group => cur.parents.iter().cloned().collect(),
            };
            let index = self.index_entries(tenant, kind, id, &cur.attrs);
            let room = MAX_TRANSACTION_ITEMS - 2 - usize::from(keep.is_some()) - index.len();
            if containing.len() > room {
                // Too many for the last transaction: strip a batch from both sides first.
                let batch: Vec<&String> = containing.iter().take(MAX_TRANSACTION_ITEMS - 1).collect();
                let map = match kind {
                    ResourceKind::User => attr::GROUPS,
                    ResourceKind::Group => attr::PARENTS,
                };
                let names: Vec<String> = (0..batch.len()).map(|i| format!("#g{i}")).collect();
                let mut values = vec![(":v", n(cur.version as i64)), (":one", n(1))];
                let remember = match keep {
                    Some(_) => {
                        let left = batch.iter().map(|g| g.to_string()).collect();
                        values.push((":left", AttributeValue::Ss(left)));
                        format!(", {} :left", attr::LEFT)
                    }
                    None => String::new(),
                };
                let expression = format!(
                    "REMOVE {} ADD mv :one{remember}",
                    names
                        .iter()
                        .map(|nm| format!("{map}.{nm}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut items = vec![(
                    self.update(
                        target_key(),
                        &expression,
                        Some("v = :v"),
                        names
                            .iter()
                            .map(String::as_str)
                            .zip(batch.iter().map(|g| g.as_str()))
                            .collect(),
                        values,
                    )?,
                    Role::Target,
                )];
                for g in &batch {
                    items.push((
                        self.delete(Self::key(keys::members(tenant, g), id), None)?,
                        Role::Other,
                    ));
                }
                match self.transact(items).await {
                    Ok(()) | Err(Failure::Condition { .. }) => continue,
                    Err(Failure::Store(e)) => return Err(e),
                }
            }
            let mut items = vec![(
                self.delete(
                    target_key(),
                    Some((
                        "v = :v AND mv = :mv",
                        vec![
                            (":v", n(cur.version as i64)),
                            (":mv", n(cur.membership_version as i64)),
                        ],
                    )),
                )?,
                Role::Target,
            )];
            for e in &index {
                items.push(self.index_delete(e)?);
            }
            items.push((self.counter(tenant, kind, id, -1)?, Role::Other));
            if let Some(keep) = keep {
                items.push((self.kept_put(tenant, &cur, keep)?, Role::Other));
            }
            for g in &containing {
                items.push((
                    self.delete(Self::key(keys::members(tenant, g), id), None)?,
                    Role::Other,
                ));
            }
            match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(Failure::Condition { old, .. }) => match (old_version(&old), expect) {
                    (None, _) => return Err(StoreError::NotFound),
                    (Some(current), Expect::Version(v)) if current != v => {
                        return Err(StoreError::VersionConflict { current })
                    }
                    _ => continue,
                },
                Err(Failure::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Throttled {
            retry_after_secs: error::RETRY_AFTER_SECS,
        })
    }
}
