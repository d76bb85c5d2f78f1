//! Per-tenant fairness: one tenant's import cannot starve another tenant's deprovisioning, and
//! one tenant's unindexed filters cannot use up the table's read capacity.
//!
//! Each tenant has two token buckets in this instance:
//! - **requests**: every authenticated request takes one token (`SCIM_TENANT_RATE_PER_SECOND`,
//!   `SCIM_TENANT_BURST`); a `POST /Bulk` is admitted for one and then charged one per further
//!   operation it ran ([`InnerRequests`]), each being a request of its own (RFC 7644 §3.7), so
//!   the balance may go negative and the tenant's next requests wait until the debt is repaid;
//! - **items read**: every request is charged, after it ran, the items its store calls read
//!   ([`scim_store::metering`], counted by both stores). A list or search, the only requests that
//!   can read many items (a filter no index answers reads up to the store's scan limit), is
//!   admitted only while the balance is positive (`SCIM_TENANT_READS_PER_SECOND`,
//!   `SCIM_TENANT_READ_BURST`). The cost of a scan is known only once it ran, so the balance may
//!   go negative by one request's reads; the tenant's next lists wait until the debt is repaid.
//!   Over any period `t` a tenant reads at most burst + rate × t items, plus one scan in flight
//!   per concurrent request: a bound on what it takes from the shared table.
//!
//! A refused request is answered 429 with `Retry-After` (RFC 6585 §4, RFC 7231 §7.1.3) computed
//! from the bucket, before any store call. Every answer to a tenant's request also states its
//! request bucket in the `X-Rate-Limit-*` headers SailPoint's SCIM connector paces itself by
//! (`Limit`: the burst, `Remaining`: whole tokens left, `Reset`: the Unix time the bucket is full
//! again, and on a 429 `X-Rate-Limit-Retry-After-Seconds`), so it slows down before a 429. The check runs after authentication, so a bad token
//! never spends a tenant's budget. The bound is per warm instance: the fleet's is the instance
//! count × the rate, and reserved concurrency caps the instance count.
//!
//! Memory stays bounded: a bucket that has refilled to its burst is exactly a new one, so such
//! buckets are dropped whenever the map has grown past a threshold.

use crate::error::ApiError;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scim_proto::ScimError;
use scim_store::{metering, TenantId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

// The rate-limit headers, named once (a `&str` name is parsed again at every insert).
const RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-rate-limit-limit");
const RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-rate-limit-remaining");
const RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-rate-limit-reset");
const RATE_LIMIT_RETRY_AFTER: HeaderName = HeaderName::from_static("x-rate-limit-retry-after-seconds");

/// A refill rate and the most a bucket holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

/// The two rates every tenant gets in one instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TenantRates {
    /// Requests.
    pub requests: Rate,
    /// Items read from the store.
    pub items_read: Rate,
}

impl Default for TenantRates {
    /// Well above what one IdP sends (a full Entra or Okta sync runs a few requests per second;
    /// imports a few dozen), well below one instance's capacity; one unindexed filter's full scan
    /// (20,000 items) fits the read burst, then a tenant gets one such scan per 10 s.
    fn default() -> Self {
        TenantRates {
            requests: Rate {
                per_second: 25.0,
                burst: 50.0,
            },
            items_read: Rate {
                per_second: 2_000.0,
                burst: 20_000.0,
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: rate.burst,
            updated: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.updated = now;
    }

    fn is_full(&self, rate: Rate) -> bool {
        self.tokens >= rate.burst
    }

    /// Whole seconds until the bucket is full again (0 when it is).
    fn full_in(&self, rate: Rate) -> u64 {
        // A float to integer cast saturates; a negative wait is 0.
        ((rate.burst - self.tokens) / rate.per_second).ceil().max(0.0) as u64
    }

    /// Whole seconds until the bucket holds `needed` tokens (at least 1).
    fn wait_for(&self, needed: f64, rate: Rate) -> u64 {
        let secs = ((needed - self.tokens) / rate.per_second).ceil();
        // A float to integer cast saturates; the wait is positive here.
        (secs as u64).max(1)
    }
}

#[derive(Debug, Clone, Copy)]
struct TenantBuckets {
    requests: Bucket,
    items_read: Bucket,
}

/// A tenant's request bucket as the `X-Rate-Limit-*` headers state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    /// The burst: the most requests the bucket holds.
    pub limit: u64,
    /// Whole requests left now.
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub full_in_secs: u64,
}

impl Allowance {
    fn of(bucket: &Bucket, rate: Rate) -> Allowance {
        Allowance {
            // Float to integer casts saturate; both values are finite and non-negative here.
            limit: rate.burst.floor() as u64,
            remaining: bucket.tokens.max(0.0).floor() as u64,
            full_in_secs: bucket.full_in(rate),
        }
    }

    /// Writes the headers; `Reset` is a Unix time, as Okta's API (where these names come
    /// from) sends it.
    fn write_headers(self, headers: &mut HeaderMap, now: SystemTime) {
        let reset = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) + self.full_in_secs;
        headers.insert(RATE_LIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATE_LIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RATE_LIMIT_RESET, HeaderValue::from(reset));
    }
}

/// Why a request was refused, and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Requests { retry_after_secs: u64 },
    ItemsRead { retry_after_secs: u64 },
}

impl Refusal {
    fn retry_after_secs(self) -> u64 {
        match self {
            Refusal::Requests { retry_after_secs } | Refusal::ItemsRead { retry_after_secs } => {
                retry_after_secs
            }
        }
    }

    fn into_api_error(self) -> ApiError {
        let detail = match self {
            Refusal::Requests { .. } => {
                "too many requests for this tenant; retry after the time in Retry-After"
            }
            Refusal::ItemsRead { .. } => {
                "this tenant's recent searches read more than its share of the store; retry \
                 after the time in Retry-After (a filter on userName, externalId or \
                 displayName eq reads far less)"
            }
        };
        ApiError {
            retry_after: Some(self.retry_after_secs()),
            ..ApiError::from(ScimError::new(429, None, detail))
        }
    }
}

/// The buckets of every tenant seen recently, in this instance.
#[derive(Debug)]
pub struct TenantLimits {
    rates: TenantRates,
    state: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    by_tenant: HashMap<TenantId, TenantBuckets>,
    /// Drop full buckets when the map reaches this size; then it becomes twice what is left,
    /// so the sweep costs O(1) per insert however many tenants are busy.
    sweep_at: usize,
}

/// The map is never swept below this size.
const MIN_SWEEP_AT: usize = 1024;

impl TenantLimits {
    pub fn new(rates: TenantRates) -> TenantLimits {
        TenantLimits {
            rates,
            state: Mutex::new(Buckets {
                by_tenant: HashMap::new(),
                sweep_at: MIN_SWEEP_AT,
            }),
        }
    }

    fn with_buckets<R>(&self, tenant: &TenantId, now: Instant, f: impl FnOnce(&mut TenantBuckets) -> R) -> R {
        let rates = self.rates;
        // A poisoned lock only means another request panicked mid-update; the numbers are
        // still numbers.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !state.by_tenant.contains_key(tenant) && state.by_tenant.len() >= state.sweep_at {
            state.by_tenant.retain(|_, b| {
                b.requests.refill(rates.requests, now);
                b.items_read.refill(rates.items_read, now);
                !(b.requests.is_full(rates.requests) && b.items_read.is_full(rates.items_read))
            });
            state.sweep_at = (state.by_tenant.len() * 2).max(MIN_SWEEP_AT);
        }
        let buckets = state.by_tenant.entry(tenant.clone()).or_insert(TenantBuckets {
            requests: Bucket::full(rates.requests, now),
            items_read: Bucket::full(rates.items_read, now),
        });
        buckets.requests.refill(rates.requests, now);
        buckets.items_read.refill(rates.items_read, now);
        f(buckets)
    }

    /// Admits a request of `tenant` (taking one request token), or says how long to wait;
    /// either way with the request bucket as it is then. `may_scan`: the request is a list or
    /// search, admitted only while the tenant's read balance is positive.
    pub fn admit(&self, tenant: &TenantId, may_scan: bool, now: Instant) -> (Result<(), Refusal>, Allowance) {
        let rates = self.rates;
        self.with_buckets(tenant, now, |b| {
            let verdict = if may_scan && b.items_read.tokens <= 0.0 {
                // The balance must rise above zero: one item's worth.
                let retry_after_secs = b.items_read.wait_for(1.0, rates.items_read);
                Err(Refusal::ItemsRead { retry_after_secs })
            } else if b.requests.tokens < 1.0 {
                let retry_after_secs = b.requests.wait_for(1.0, rates.requests);
                Err(Refusal::Requests { retry_after_secs })
            } else {
                b.requests.tokens -= 1.0;
                Ok(())
            };
            (verdict, Allowance::of(&b.requests, rates.requests))
        })
    }

    /// Charges `tenant` `requests` more requests than the one admitted: the further operations
    /// of a bulk request.
    pub fn charge_requests(&self, tenant: &TenantId, requests: u64, now: Instant) {
        if requests == 0 {
            return;
        }
        self.with_buckets(tenant, now, |b| b.requests.tokens -= requests as f64);
    }

    /// Charges `tenant` the items a request read.
    pub fn charge_items_read(&self, tenant: &TenantId, items: u64, now: Instant) {
        if items == 0 {
            return;
        }
        self.with_buckets(tenant, now, |b| b.items_read.tokens -= items as f64);
    }

    /// Tenants with a bucket in memory.
    #[cfg(test)]
    fn tracked_tenants(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_tenant
            .len()
    }
}

/// A response extension: the request ran this many requests' worth of operations (a bulk
/// request's operations), charged to the request bucket beyond the one it was admitted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InnerRequests(pub u64);

/// Lists and searches: the requests whose reads grow with the tenant's data.
fn may_scan(request: &Request) -> bool {
    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    matches!(
        crate::telemetry::operation(request.method(), route),
        "Users.list" | "Groups.list" | "Users.search" | "Groups.search" | "Search"
    )
}

/// Runs an authenticated request of `tenant` if its buckets admit it, else answers 429; charges
/// the items the request read. Called by [`crate::boundary::guard`] after authentication.
pub async fn within_limits(
    limits: &TenantLimits,
    tenant: &TenantId,
    request: Request,
    next: Next,
) -> Response {
    let (verdict, allowance) = limits.admit(tenant, may_scan(&request), Instant::now());
    if let Err(refusal) = verdict {
        tracing::info!(tenant = %tenant.as_str(), ?refusal, "tenant over its limit");
        let mut response = refusal.into_api_error().into_response();
        let headers = response.headers_mut();
        allowance.write_headers(headers, SystemTime::now());
        headers.insert(
            RATE_LIMIT_RETRY_AFTER,
            HeaderValue::from(refusal.retry_after_secs()),
        );
        return response;
    }
    let before = metering::items_read_so_far();
    let mut response = next.run(request).await;
    let read = metering::items_read_so_far().saturating_sub(before);
    limits.charge_items_read(tenant, read, Instant::now());
    if let Some(InnerRequests(n)) = response.extensions().get::<InnerRequests>().copied() {
        limits.charge_requests(tenant, n.saturating_sub(1), Instant::now());
    }
    allowance.write_headers(response.headers_mut(), SystemTime::now());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rates(requests: (f64, f64), items_read: (f64, f64)) -> TenantRates {
        TenantRates {
            requests: Rate {
                per_second: requests.0,
                burst: requests.1,
            },
            items_read: Rate {
                per_second: items_read.0,
                burst: items_read.1,
            },
        }
    }

    fn tenant(name: &str) -> TenantId {
        TenantId::new(name).expect("tenant")
    }

    #[test]
    fn a_bulk_request_charges_its_operations_as_requests() {
        let limits = TenantLimits::new(rates((1.0, 10.0), (1000.0, 1000.0)));
        let (t0, a) = (Instant::now(), tenant("a"));
        assert_eq!(limits.admit(&a, false, t0).0, Ok(()));
        limits.charge_requests(&a, 14, t0);
        // 10 - 1 - 14 = -5: six seconds at 1/s before a whole token is back.
        assert_eq!(
            limits.admit(&a, false, t0).0,
            Err(Refusal::Requests { retry_after_secs: 6 })
        );
        assert_eq!(limits.admit(&a, false, t0 + Duration::from_secs(6)).0, Ok(()));
    }

    #[test]
    fn a_tenant_gets_its_burst_then_the_rate_and_others_are_untouched() {
        let limits = TenantLimits::new(rates((2.0, 3.0), (1000.0, 1000.0)));
        let t0 = Instant::now();
        let (a, b) = (tenant("a"), tenant("b"));
        for _ in 0..3 {
            assert_eq!(limits.admit(&a, false, t0).0, Ok(()));
        }
        assert_eq!(
            limits.admit(&a, false, t0).0,
            Err(Refusal::Requests { retry_after_secs: 1 })
        );
        assert_eq!(limits.admit(&b, false, t0).0, Ok(()), "another tenant's budget");
        // Half a second at 2/s is one token.
        let later = t0 + Duration::from_millis(500);
        assert_eq!(limits.admit(&a, false, later).0, Ok(()));
        assert!(limits.admit(&a, false, later).0.is_err());
    }

    #[test]
    fn a_scan_is_charged_after_it_ran_and_the_next_waits_for_the_debt() {
        let limits = TenantLimits::new(rates((100.0, 100.0), (100.0, 500.0)));
        let t0 = Instant::now();
        let a = tenant("a");
        assert_eq!(limits.admit(&a, true, t0).0, Ok(()));
        limits.charge_items_read(&a, 1_500, t0);
        // Balance -1,000 at 100 items/s: ten seconds and a bit to rise above zero.
        assert_eq!(
            limits.admit(&a, true, t0).0,
            Err(Refusal::ItemsRead { retry_after_secs: 11 })
        );
        // Requests that cannot scan are not held by the read debt.
        assert_eq!(limits.admit(&a, false, t0).0, Ok(()));
        assert!(limits.admit(&a, true, t0 + Duration::from_secs(10)).0.is_err());
        assert_eq!(limits.admit(&a, true, t0 + Duration::from_secs(11)).0, Ok(()));
    }

    #[test]
    fn idle_tenants_are_forgotten_once_the_map_is_large() {
        let limits = TenantLimits::new(rates((1.0, 1.0), (1.0, 1.0)));
        let t0 = Instant::now();
        for i in 0..MIN_SWEEP_AT {
            let _ = limits.admit(&tenant(&format!("t{i}")), false, t0);
        }
        assert_eq!(limits.tracked_tenants(), MIN_SWEEP_AT);
        // One second later every bucket is full again, so the next new tenant sweeps them.
        let _ = limits.admit(&tenant("new"), false, t0 + Duration::from_secs(1));
        assert_eq!(limits.tracked_tenants(), 1);
        // A busy tenant's bucket is kept.
        let busy = tenant("busy");
        let _ = limits.admit(&busy, false, t0 + Duration::from_secs(1));
        assert_eq!(limits.tracked_tenants(), 2);
    }
}
