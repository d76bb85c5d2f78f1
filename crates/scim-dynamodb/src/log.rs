//! The provisioning log ([`ProvisioningLog`]): one item per record, written with one PutItem in
//! `L#<tenant>#LOG` (status < 400) or `L#<tenant>#LOGERR`, sort key `<time>#<request id>`
//! (keys in [`keys`]). The item holds the record as JSON (`r`), its token id (`tk`) and status
//! (`st`) for FilterExpressions, and `ttl` = the record's `expires_at`: DynamoDB's TTL removes it
//! within about two days of that, and reads skip it meanwhile.
//!
//! A record that names a resource is also in the `by_resource` index, under its resource id
//! (or, without one, its resource name folded), sorted the same way.
//!
//! A read queries newest first each partition the query needs (a resource: the index partition
//! of each id and of the name; else `--errors`: `LOGERR` only; else `LOG` and `LOGERR`) with the
//! time window and the cursor as key conditions and the token (and on the index, `--errors`) as
//! a FilterExpression, and merges them on the sort key, fetching from a partition only when its
//! next unseen record could be the newest. [`LogQuery::matches`] has the last word. One read
//! examines at most [`MAX_LOG_EXAMINED`] items: beyond that its page may be short, and its
//! `next` continues where it stopped.

use crate::record::{attr, get_s, n, s, Item};
use crate::{error, keys, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use scim_store::{LogCursor, LogPage, LogQuery, LogRecord, ProvisioningLog, StoreError, TenantId};
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};

/// Most items one log read examines (DynamoDB's `ScannedCount`, summed over its Queries), but
/// for one per partition not read yet when it is reached: every partition is read at least once,
/// so the `next` of a short page is always past where the read started.
pub const MAX_LOG_EXAMINED: usize = 2_000;
/// DynamoDB's limit on an item's size, attribute names included.
const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Room left below that limit for DynamoDB's own accounting of the item and its index copy.
const ITEM_SLACK_BYTES: usize = 1024;
/// The most bytes DynamoDB stores a number in.
const NUMBER_BYTES: usize = 21;
/// What replaces a value left out of a record too large for one item.
pub const OMITTED: &str = "[omitted: too large]";
/// Most index partitions one read of a resource's records queries (ids and the name).
const MAX_RESOURCE_KEYS: usize = 100;
/// Fewest items per Query when the key conditions do not select exactly (a token filter, errors
/// of a resource): reading more per call saves calls, and the budget bounds them all the same.
const FILTERED_FETCH: usize = 100;

#[async_trait]
impl ProvisioningLog for DynamoStore {
    /// One PutItem.
    async fn append_log(&self, tenant: &TenantId, record: &LogRecord) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(log_item(tenant, record)?))
            .send()
            .await
            .map_err(|e| error::sdk("PutItem", e))?;
        Ok(())
    }

    async fn read_log(&self, tenant: &TenantId, query: &LogQuery) -> Result<LogPage, StoreError> {
        let Some(range) = SortRange::of(query) else {
            return Ok(LogPage::default());
        };
        let mut sources = sources(tenant, query)?;
        let now = scim_store::now().unix_timestamp();
        let size = query.page_size();
        let mut records: Vec<LogRecord> = Vec::new();
        let mut examined = 0usize;
        // Each turn either merges the newest fetched item or fetches from the partition whose
        // unseen items could be newer; every turn merges an item, ends a partition or examines
        // at least one item, so the loop ends within the budget.
        loop {
            let newest = sources
                .iter()
                .enumerate()
                .filter_map(|(i, source)| source.frontier().map(|f| (f, i)))
                .max();
            let Some(((_, fetch), i)) = newest else {
                return Ok(LogPage { records, next: None });
            };
            let source = &mut sources[i];
            if fetch {
                if let Position::After { sk, .. } = &source.position {
                    if examined >= MAX_LOG_EXAMINED {
                        // Everything newer than this partition's position has been merged.
                        let next = keys::log_cursor(sk).ok_or_else(|| corrupt("a log sort key"))?;
                        return Ok(LogPage {
                            records,
                            next: Some(next),
                        });
                    }
                }
                let limit = fetch_size(query, size + 1 - records.len(), examined)
                    .min(MAX_LOG_EXAMINED.saturating_sub(examined))
                    .max(1);
                // At least one per Query, so the loop ends even if a page examined nothing.
                examined += self.fetch_log(source, &range, query, limit).await?.max(1);
            } else if let Some(item) = source.fetched.pop_front() {
                let record = decode(&item)?;
                if record.expires_at > now && query.matches(&record) {
                    if records.len() == size {
                        let next = records.last().map(LogRecord::cursor);
                        return Ok(LogPage { records, next });
                    }
                    records.push(record);
                }
            }
        }
    }
}

impl DynamoStore {
    /// One Query of `source`, newest first, from where it stopped; returns the items examined.
    async fn fetch_log(
        &self,
        source: &mut Source,
        range: &SortRange,
        query: &LogQuery,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let (pk, sk) = source.key_names();
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(source.index.then(|| keys::LOG_INDEX.to_string()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .key_condition_expression(range.condition())
            .expression_attribute_names("#pk", pk)
            .expression_attribute_values(":pk", s(&source.pk));
        if range.low.is_some() || range.high.is_some() {
            q = q.expression_attribute_names("#sk", sk);
        }
        for (name, value) in [(":low", &range.low), (":high", &range.high)] {
            if let Some(v) = value {
                q = q.expression_attribute_values(name, s(v));
            }
        }
        let mut filters = Vec::new();
        if let Some(token) = &query.token_id {
            filters.push("#tk = :tk");
            q = q
                .expression_attribute_names("#tk", attr::LOG_TOKEN)
                .expression_attribute_values(":tk", s(token));
        }
        if source.index && query.errors_only {
            filters.push("#st >= :error");
            q = q
                .expression_attribute_names("#st", attr::LOG_STATUS)
                .expression_attribute_values(":error", n(400));
        }
        if !filters.is_empty() {
            q = q.filter_expression(filters.join(" AND "));
        }
        if let Position::After { key, .. } = &source.position {
            q = q.set_exclusive_start_key(Some(key.clone()));
        }
        let out = q.send().await.map_err(|e| error::sdk("Query", e))?;
        source.fetched.extend(out.items().iter().cloned());
        source.position = match out.last_evaluated_key() {
            Some(key) if !key.is_empty() => Position::After {
                sk: get_s(key, sk)
                    .ok_or_else(|| corrupt("a log page's last key"))?
                    .to_string(),
                key: key.clone(),
            },
            _ => Position::End,
        };
        Ok(usize::try_from(out.scanned_count()).unwrap_or(0))
    }
}

/// The partitions `query` reads.
fn sources(tenant: &TenantId, query: &LogQuery) -> Result<Vec<Source>, StoreError> {
    let Some(resource) = &query.resource else {
        let partitions = if query.errors_only {
            vec![keys::log(tenant, true)]
        } else {
            vec![keys::log(tenant, false), keys::log(tenant, true)]
        };
        return Ok(partitions.into_iter().map(|pk| Source::new(pk, false)).collect());
    };
    let mut partitions: BTreeSet<String> = resource
        .ids
        .iter()
        .map(|id| keys::log_resource(tenant, id))
        .collect();
    partitions.extend(resource.name.iter().map(|name| keys::log_name(tenant, name)));
    if partitions.len() > MAX_RESOURCE_KEYS {
        return Err(StoreError::Invalid(format!(
            "a log read can select at most {MAX_RESOURCE_KEYS} resources"
        )));
    }
    Ok(partitions.into_iter().map(|pk| Source::new(pk, true)).collect())
}

/// How many items to ask one Query for when `wanted` more matching records (the page's rest and
/// one to tell whether there are more) are needed. When a filter drops items after the key
/// conditions, a Query asks for at least as many as were examined so far: a sparse match costs a
/// few calls of growing size, not one per hundred items.
fn fetch_size(query: &LogQuery, wanted: usize, examined: usize) -> usize {
    if query.token_id.is_some() || (query.resource.is_some() && query.errors_only) {
        wanted.max(FILTERED_FETCH).max(examined)
    } else {
        wanted
    }
}

/// The sort keys a read covers: from `low` (inclusive) to `high`. `high` is the sort key of the
/// cursor (exclusive: [`LogQuery::matches`] drops the cursor's own record) or just above every
/// sort key of the `until` time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SortRange {
    low: Option<String>,
    high: Option<String>,
}

impl SortRange {
    /// `None` when no record can be in range.
    fn of(query: &LogQuery) -> Option<SortRange> {
        let until = query.until.as_deref().map(keys::log_sk_after_time);
        let after = query
            .after
            .as_ref()
            .map(|c: &LogCursor| keys::log_sk(&c.time, &c.request_id));
        let high = [until, after].into_iter().flatten().min();
        let low = query.since.clone();
        match (&low, &high) {
            (Some(l), Some(h)) if l >= h => None,
            _ => Some(SortRange { low, high }),
        }
    }

    fn condition(&self) -> &'static str {
        match (&self.low, &self.high) {
            (None, None) => "#pk = :pk",
            (Some(_), None) => "#pk = :pk AND #sk >= :low",
            (None, Some(_)) => "#pk = :pk AND #sk < :high",
            (Some(_), Some(_)) => "#pk = :pk AND #sk BETWEEN :low AND :high",
        }
    }
}

/// One partition being merged: of the table, or of the resource index.
#[derive(Debug)]
struct Source {
    pk: String,
    index: bool,
    /// Fetched and not yet merged, newest first.
    fetched: VecDeque<Item>,
    position: Position,
}

/// Where a partition's Query stands.
#[derive(Debug)]
enum Position {
    Start,
    /// Items older than `key` (sort key `sk`) are still to be read.
    After {
        key: Item,
        sk: String,
    },
    End,
}

/// How new the next item of a partition can be: a fetched one's sort key, the sort key a Query
/// stopped at, or anything for a partition not read yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Frontier<'a> {
    Key(&'a str),
    Top,
}

impl Source {
    fn new(pk: String, index: bool) -> Source {
        Source {
            pk,
            index,
            fetched: VecDeque::new(),
            position: Position::Start,
        }
    }

    /// The names of the partition and sort key attributes this source is queried by.
    fn key_names(&self) -> (&'static str, &'static str) {
        if self.index {
            (keys::RPK, keys::RSK)
        } else {
            (keys::PK, keys::SK)
        }
    }

    /// How new this partition's next item can be, and whether it must be fetched first; `None`
    /// when the partition is exhausted. On a tie the fetch goes first.
    fn frontier(&self) -> Option<(Frontier<'_>, bool)> {
        if let Some(item) = self.fetched.front() {
            return Some((Frontier::Key(get_s(item, keys::SK).unwrap_or_default()), false));
        }
        match &self.position {
            Position::Start => Some((Frontier::Top, true)),
            Position::After { sk, .. } => Some((Frontier::Key(sk), true)),
            Position::End => None,
        }
    }
}

/// The item of `record`: keys, `ttl`, token, status, and the record as JSON, without its bodies
/// when the whole would not fit in one item.
fn log_item(tenant: &TenantId, record: &LogRecord) -> Result<Item, StoreError> {
    let sk = keys::log_sk(&record.time, &record.request_id);
    let mut item = DynamoStore::key(keys::log(tenant, record.is_error()), sk.clone());
    if let Some(rpk) = resource_key(tenant, record) {
        item.insert(keys::RPK.into(), s(rpk));
        item.insert(keys::RSK.into(), s(sk));
    }
    item.insert(attr::TTL.into(), n(record.expires_at));
    item.insert(attr::LOG_STATUS.into(), n(i64::from(record.status)));
    if let Some(token) = &record.token_id {
        item.insert(attr::LOG_TOKEN.into(), s(token));
    }
    let room = MAX_ITEM_BYTES.saturating_sub(ITEM_SLACK_BYTES + item_bytes(&item) + attr::LOG_RECORD.len());
    item.insert(attr::LOG_RECORD.into(), s(fitting_json(record, room)?));
    Ok(item)
}

/// The resource index partition of `record`: its resource id's, else its resource name's (a
/// create that failed), else none.
fn resource_key(tenant: &TenantId, record: &LogRecord) -> Option<String> {
    match (&record.resource_id, &record.resource_name) {
        (Some(id), _) => Some(keys::log_resource(tenant, id)),
        (None, Some(name)) => Some(keys::log_name(tenant, name)),
        (None, None) => None,
    }
}

/// An item's size as DynamoDB counts it (names and values; numbers at their largest).
fn item_bytes(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(v) => v.len(),
                    _ => NUMBER_BYTES,
                }
        })
        .sum()
}

/// `record` as JSON in at most `room` bytes: whole if it fits, else with its bodies and then
/// its changed values replaced by [`OMITTED`], so a reader sees what was left out.
fn fitting_json(record: &LogRecord, room: usize) -> Result<String, StoreError> {
    let omitted = |v: &mut Option<Value>| {
        if v.is_some() {
            *v = Some(Value::String(OMITTED.into()));
        }
    };
    let without_bodies = |r: &mut LogRecord| {
        omitted(&mut r.request_body);
        omitted(&mut r.response_body);
    };
    let without_changed_values = |r: &mut LogRecord| {
        for change in &mut r.changed {
            omitted(&mut change.old);
            omitted(&mut change.new);
        }
    };
    let shrinks: [&dyn Fn(&mut LogRecord); 2] = [&without_bodies, &without_changed_values];
    let mut slim = record.clone();
    let mut json = to_json(&slim)?;
    for shrink in shrinks {
        if json.len() <= room {
            return Ok(json);
        }
        shrink(&mut slim);
        json = to_json(&slim)?;
    }
    if json.len() <= room {
        Ok(json)
    } else {
        Err(StoreError::Invalid(format!(
            "the log record of request {} is too large to store even without its bodies",
            record.request_id
        )))
    }
}

fn to_json(record: &LogRecord) -> Result<String, StoreError> {
    serde_json::to_string(record).map_err(|e| StoreError::Invalid(format!("a log record as JSON: {e}")))
}

fn decode(item: &Item) -> Result<LogRecord, StoreError> {
    let json = get_s(item, attr::LOG_RECORD).ok_or_else(|| corrupt("a log record without JSON"))?;
    serde_json::from_str(json).map_err(|e| corrupt(&format!("a log record: {e}")))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!("a stored item is malformed: {what}"))
}
