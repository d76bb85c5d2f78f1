//! The request side of the provisioning log (scim-store's `log.rs` is the record and its
//! storage): what a request did, noted while it runs, and the writer that stores one record per
//! request after the response.
//!
//! **Never in the way of the SCIM request.** The request log middleware ([`crate::telemetry`])
//! hands each finished request to [`LogWriter::submit`], which only queues it (a full queue drops
//! the record and counts it); a background task writes it. The tenant's settings (sampling,
//! bodies, retention) are applied there, from a cache, so the request path reads nothing; when
//! that cache already says a successful read is sampled out (and the token's use is recorded),
//! the request path drops it without building it ([`LogWriter::skips_read`]). Under
//! Lambda, where the environment is frozen once the invocation ends, an internal extension waits
//! for the invocation to end and flushes the queue after the response has been sent
//! (`lambda.rs`), so records are written within the invocation without delaying its answer. A
//! record lost (queue full, a failed write, an environment shut down mid-write) costs only that
//! record: the request's own log line still exists, and `LogRecordsDropped` /
//! `LogWriteFailures` count the losses.
//!
//! The writer also records each token's last use, at most once per token per minute per
//! instance, and with it (under Lambda) the `TokenDaysToExpiry` metric the expiry alarm watches.

use crate::telemetry::metric_line;
use axum::body::Bytes;
use scim_proto::ResourceSchema;
use scim_store::log::{changes, redact, LogMembers, LogRecord};
use scim_store::{MemberChange, ResourceKind, Store, StoredResource, TenantId, TenantSettings, TokenUse};
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::{mpsc, Notify, Semaphore};

/// Records waiting to be written before new ones are dropped.
const QUEUE_CAPACITY: usize = 10_000;
/// Records written at a time.
const WRITE_CONCURRENCY: usize = 16;
/// At most one token-use write per token per instance in this interval.
const TOKEN_USE_INTERVAL: Duration = Duration::from_secs(60);
/// Longest a logged body may be; a larger one is replaced by a note.
const MAX_LOGGED_BODY: usize = 256 * 1024;

tokio::task_local! {
    static NOTES: RefCell<RequestNotes>;
}

/// What the service learned about a request's resource while serving it.
#[derive(Debug, Default)]
pub struct RequestNotes {
    pub resource_type: Option<ResourceKind>,
    pub resource_id: Option<String>,
    pub resource_name: Option<String>,
    pub changed: Vec<scim_store::LogChange>,
    pub members: Option<LogMembers>,
    /// The body as received (a cheap reference-counted copy).
    pub request_body: Option<Bytes>,
}

/// Runs `request` with a fresh [`RequestNotes`] and returns them with its output.
pub async fn with_notes<F: Future>(request: F) -> (F::Output, RequestNotes) {
    NOTES
        .scope(RefCell::new(RequestNotes::default()), async move {
            let out = request.await;
            (out, NOTES.with(RefCell::take))
        })
        .await
}

/// Adds to the current request's notes; outside a request (tests calling the service directly)
/// it does nothing.
pub fn note(change: impl FnOnce(&mut RequestNotes)) {
    let _ = NOTES.try_with(|n| change(&mut n.borrow_mut()));
}

/// The `userName` of a user, the `displayName` of a group.
fn name_attribute(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    }
}

/// Notes the resource a request names: its id (from the path), or the name a create sent
/// (found ignoring case, as RFC 7643 §2.1 names attributes).
pub fn note_target(kind: ResourceKind, id: Option<&str>, body: Option<&Value>) {
    let name = body.and_then(Value::as_object).and_then(|b| {
        b.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name_attribute(kind)))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    });
    note(|n| {
        n.resource_type = Some(kind);
        n.resource_id = id.map(str::to_string).or(n.resource_id.take());
        n.resource_name = name.or(n.resource_name.take());
    });
}

/// Notes a committed write: the attributes that changed from `before` (`None`: created) and the
/// member change applied.
pub fn note_write(
    kind: ResourceKind,
    schema: &ResourceSchema<'_>,
    before: Option<&Map<String, Value>>,
    after: &StoredResource,
    members: &MemberChange,
) {
    let changed = changes(schema, before, &after.attrs);
    let name = after
        .attrs
        .get(name_attribute(kind))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut summary = LogMembers::of(
        members.add.iter().map(|(id, _)| id.as_str()),
        members.remove.iter().map(String::as_str),
    );
    summary.replaced_all = members.replace_all;
    note(|n| {
        n.resource_type = Some(kind);
        n.resource_id = Some(after.id.clone());
        n.resource_name = name.or(n.resource_name.take());
        n.changed = changed;
        n.members = (!summary.is_empty()).then_some(summary);
    });
}

/// One finished request, waiting for the writer.
#[derive(Debug)]
pub struct Pending {
    pub tenant: TenantId,
    /// Everything but `expires_at` and the bodies, which the tenant's settings decide.
    pub record: LogRecord,
    pub request_body: Option<Bytes>,
    pub response_body: Option<Bytes>,
    /// A read that succeeded: recorded only when sampled (`log_read_sample_percent`).
    pub sampled_read: bool,
    pub token_expires: Option<OffsetDateTime>,
}

/// Queued records not yet written, and a signal when there are none.
#[derive(Debug, Default)]
struct Outstanding {
    count: AtomicUsize,
    idle: Notify,
}

impl Outstanding {
    fn done(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// What the writer's tasks share.
#[derive(Debug)]
struct Writer {
    store: Arc<dyn Store>,
    /// Print CloudWatch EMF lines (under Lambda).
    emf: bool,
    /// How long a tenant's cached settings are trusted: a change of `log_bodies` or sampling
    /// takes effect within this (`SCIM_LOG_SETTINGS_SECONDS`).
    settings_ttl: Duration,
    settings: Mutex<HashMap<TenantId, (Instant, TenantSettings)>>,
    /// When each token's use was last recorded, by tenant and token id (nested, so a lookup
    /// needs no key of its own).
    token_uses: Mutex<HashMap<TenantId, HashMap<String, Instant>>>,
    outstanding: Outstanding,
    dropped: AtomicU64,
    failed: AtomicU64,
    /// Records handed to the writer since start.
    queued: AtomicU64,
    /// Store calls the writer made (records, token uses, settings reads): the budget tests'
    /// measure of what the log adds to a request.
    store_calls: AtomicU64,
}

/// The provisioning log's writer: a queue and the task that empties it.
#[derive(Debug, Clone)]
pub struct LogWriter {
    queue: mpsc::Sender<Pending>,
    shared: Arc<Writer>,
    /// Signalled when a Lambda invocation has ended (Lambda's flush waits for it).
    answered: Arc<Notify>,
}

impl LogWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<dyn Store>, emf: bool, settings_ttl: Duration) -> LogWriter {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let shared = Arc::new(Writer {
            store,
            emf,
            settings_ttl,
            settings: Mutex::default(),
            token_uses: Mutex::default(),
            outstanding: Outstanding::default(),
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            store_calls: AtomicU64::new(0),
        });
        tokio::spawn(drain(receiver, shared.clone()));
        LogWriter {
            queue,
            shared,
            answered: Arc::new(Notify::new()),
        }
    }

    /// Whether the record of a successful read would be thrown away unwritten, so the request
    /// path need not build it (building and queueing it was most of the log's work on a read):
    /// the tenant's settings are cached and fresh, the token's use was recorded less than
    /// [`TOKEN_USE_INTERVAL`] ago, and the sampling draw (`log_read_sample_percent`) says no.
    /// Otherwise the writer decides, as for any record.
    pub fn skips_read(&self, tenant: &TenantId, token_id: &str) -> bool {
        let writer = &self.shared;
        let Some(percent) = writer.cached_settings(tenant, |s| s.log_read_sample_percent) else {
            return false;
        };
        let use_recorded = writer
            .token_uses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .and_then(|uses| uses.get(token_id))
            .is_some_and(|at| at.elapsed() < TOKEN_USE_INTERVAL);
        use_recorded && !sampled(percent)
    }

    /// Records handed to the writer since start (dropped ones included).
    pub fn queued(&self) -> u64 {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Queues a finished request's record; never waits. A full queue drops it.
    pub fn submit(&self, pending: Pending) {
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        self.shared.outstanding.count.fetch_add(1, Ordering::AcqRel);
        if self.queue.try_send(pending).is_err() {
            self.shared.outstanding.done();
            let dropped = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(dropped, "provisioning log queue full: a record was dropped");
            self.shared.metric("LogRecordsDropped");
        }
    }

    /// Says a Lambda invocation has ended, its response or error posted (every invocation,
    /// with a record or without: `lambda::run` signals it around the runtime's service).
    pub fn answered(&self) {
        self.answered.notify_one();
    }

    /// Waits until the next invocation has ended (or one already had, unseen), at most until
    /// `deadline`.
    pub async fn next_answered(&self, deadline: Instant) {
        let _ = tokio::time::timeout_at(deadline.into(), self.answered.notified()).await;
    }

    /// Waits until every queued record is written, at most `within`; whether it got there.
    pub async fn flush(&self, within: Duration) -> bool {
        let idle = async {
            loop {
                let notified = self.shared.outstanding.idle.notified();
                if self.shared.outstanding.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(within, idle).await.is_ok()
    }

    /// Records dropped because the queue was full, and writes that failed, since start.
    pub fn losses(&self) -> (u64, u64) {
        (
            self.shared.dropped.load(Ordering::Relaxed),
            self.shared.failed.load(Ordering::Relaxed),
        )
    }

    /// Store calls the writer has made since start.
    pub fn store_calls(&self) -> u64 {
        self.shared.store_calls.load(Ordering::Relaxed)
    }
}

async fn drain(mut receiver: mpsc::Receiver<Pending>, writer: Arc<Writer>) {
    let permits = Arc::new(Semaphore::new(WRITE_CONCURRENCY));
    while let Some(pending) = receiver.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let writer = writer.clone();
        tokio::spawn(async move {
            let ((), usage) = scim_store::metering::metered(writer.write(pending)).await;
            writer
                .store_calls
                .fetch_add(u64::from(usage.calls), Ordering::Relaxed);
            drop(permit);
            writer.outstanding.done();
        });
    }
}

/// A uniformly random percent draw: whether an event with `percent` chance happens.
fn sampled(percent: u8) -> bool {
    // A draw, not a secret: a per-thread xorshift64* seeded once from the OS, instead of a
    // system call for every successful read.
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            // xorshift must not start at zero.
            u64::from_le_bytes(seed) | 1
        });
    }
    let draw = STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    });
    (draw >> 32) % 100 < u64::from(percent)
}

/// A logged body: JSON with passwords redacted; anything else as text. Too large: a note.
fn logged_body(bytes: &Bytes) -> Value {
    if bytes.len() > MAX_LOGGED_BODY {
        return Value::String(format!("[omitted: {} bytes]", bytes.len()));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(mut v) => {
            redact(&mut v);
            v
        }
        Err(_) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
    }
}

impl Writer {
    async fn write(&self, pending: Pending) {
        let now = scim_store::now();
        self.token_used(&pending, now).await;
        let settings = self.settings(&pending.tenant).await;
        if pending.sampled_read && !sampled(settings.log_read_sample_percent) {
            return;
        }
        let mut record = pending.record;
        record.expires_at = now.unix_timestamp() + i64::from(settings.log_retention_days) * 86_400;
        // Whether bodies were on when the request arrived, not when its record is written.
        let arrived = scim_store::parse_timestamp(&record.time).unwrap_or(now);
        if settings.log_bodies_at(arrived) {
            record.request_body = pending.request_body.as_ref().map(logged_body);
            record.response_body = pending.response_body.as_ref().map(logged_body);
        }
        if let Err(e) = self.store.append_log(&pending.tenant, &record).await {
            self.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, request_id = %record.request_id, "a provisioning log record was not written");
            self.metric("LogWriteFailures");
        }
    }

    /// The tenant's settings, from the cache when fresh; the defaults when they cannot be read
    /// (the record is still written, without bodies).
    async fn settings(&self, tenant: &TenantId) -> TenantSettings {
        if let Some(settings) = self.cached_settings(tenant, TenantSettings::clone) {
            return settings;
        }
        match self.store.settings(tenant).await {
            Ok(read) => {
                self.settings
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(tenant.clone(), (Instant::now(), read.settings.clone()));
                read.settings
            }
            Err(e) => {
                tracing::warn!(error = %e, %tenant, "tenant settings unreadable: logging with defaults");
                TenantSettings::default()
            }
        }
    }

    /// What `read` takes from the tenant's cached settings, if they are fresh.
    fn cached_settings<T>(&self, tenant: &TenantId, read: impl FnOnce(&TenantSettings) -> T) -> Option<T> {
        self.settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .filter(|(at, _)| at.elapsed() < self.settings_ttl)
            .map(|(_, s)| read(s))
    }

    /// Records the token's use, at most once per [`TOKEN_USE_INTERVAL`] on this instance. A
    /// console action names the token it acted on, but no IdP used it.
    async fn token_used(&self, pending: &Pending, now: OffsetDateTime) {
        let Some(token_id) = pending.record.token_id.clone() else {
            return;
        };
        if pending.record.operator.is_some() {
            return;
        }
        {
            let mut uses = self.token_uses.lock().unwrap_or_else(PoisonError::into_inner);
            let last = uses.entry(pending.tenant.clone()).or_default();
            if last
                .get(&token_id)
                .is_some_and(|at| at.elapsed() < TOKEN_USE_INTERVAL)
            {
                return;
            }
            last.insert(token_id.clone(), Instant::now());
        }
        let usage = TokenUse {
            token_id: token_id.clone(),
            last_used: scim_store::timestamp(now),
            client: pending.record.client.clone(),
        };
        if let Err(e) = self.store.record_token_use(&pending.tenant, &usage).await {
            tracing::warn!(error = %e, %token_id, "token use not recorded");
        }
        if let (true, Some(expires)) = (self.emf, pending.token_expires) {
            if let Some(line) = token_expiry_emf_line(&pending.tenant, &token_id, expires, now) {
                println!("{line}");
            }
        }
    }

    fn metric(&self, name: &str) {
        if self.emf {
            println!("{}", count_emf_line(name, scim_store::now()));
        }
    }
}

/// The CloudWatch metric the token-expiry alarm watches (namespace
/// [`crate::telemetry::METRICS_NAMESPACE`], no dimensions; template.yaml alarms on its Minimum).
pub const TOKEN_DAYS_TO_EXPIRY: &str = "TokenDaysToExpiry";

/// One EMF line: `TokenDaysToExpiry` for a token in use, with the tenant and token id as
/// searchable properties (not dimensions: a metric per token would cost per token). Tokens that
/// never expire (the local bootstrap token) have none.
pub fn token_expiry_emf_line(
    tenant: &TenantId,
    token_id: &str,
    expires: OffsetDateTime,
    now: OffsetDateTime,
) -> Option<String> {
    let days = (expires - now).as_seconds_f64() / 86_400.0;
    if days > 36_500.0 {
        return None;
    }
    let properties = Map::from_iter([
        ("Tenant".to_string(), Value::from(tenant.as_str())),
        ("TokenId".to_string(), Value::from(token_id)),
    ]);
    let days = Value::from((days * 100.0).round() / 100.0);
    Some(metric_line(
        TOKEN_DAYS_TO_EXPIRY,
        "None",
        days,
        properties,
        millis(now),
    ))
}

/// One EMF line counting one event of `name` (no dimensions).
fn count_emf_line(name: &str, now: OffsetDateTime) -> String {
    metric_line(name, "Count", 1.into(), Map::new(), millis(now))
}

fn millis(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn expiry_metric_in_days_with_the_token_as_properties() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let line = token_expiry_emf_line(&tenant, "tok-1", now + time::Duration::hours(36), now).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v[TOKEN_DAYS_TO_EXPIRY], 1.5);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            TOKEN_DAYS_TO_EXPIRY
        );
        assert_eq!(
            (v["Tenant"].as_str(), v["TokenId"].as_str()),
            (Some("acme"), Some("tok-1"))
        );
        let forever = OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT);
        assert!(token_expiry_emf_line(&tenant, "bootstrap", forever, now).is_none());
    }

    #[test]
    fn bodies_are_redacted_and_bounded() {
        let body = Bytes::from_static(br#"{"userName":"ada","password":"hunter2"}"#);
        let v = logged_body(&body);
        assert_eq!(v["userName"], "ada");
        assert!(!v.to_string().contains("hunter2"));
        let big = Bytes::from(vec![b'x'; MAX_LOGGED_BODY + 1]);
        assert!(logged_body(&big).as_str().unwrap().starts_with("[omitted"));
    }

    #[test]
    fn sampling_follows_the_percentage() {
        assert!((0..1000).all(|_| !sampled(0)));
        assert!((0..1000).all(|_| sampled(100)));
        let hits = (0..10_000).filter(|_| sampled(50)).count();
        assert!((4_000..6_000).contains(&hits), "{hits}");
    }

    #[tokio::test]
    async fn notes_are_per_request() {
        let (_, notes) = with_notes(async {
            note_target(
                ResourceKind::User,
                None,
                Some(&serde_json::json!({"USERNAME": "ada"})),
            );
        })
        .await;
        assert_eq!(notes.resource_name.as_deref(), Some("ada"));
        let (_, fresh) = with_notes(async {}).await;
        assert!(fresh.resource_name.is_none());
        note(|n| n.resource_id = Some("outside".into()));
    }
}
