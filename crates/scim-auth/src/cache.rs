//! What the service checks bearer tokens against: the registry document, cached.
//!
//! - **Revocation within `check_interval` (5 s).** When the registry has a generation marker
//!   ([`TokenRegistry::has_generation`]: a file's metadata, or the DynamoDB item of
//!   `scim-dynamodb`), the first request after `check_interval` reads the marker, and the registry
//!   is read again only when the marker moved. Concurrent requests wait for that one check (single
//!   flight), so a revoked token is refused by every warm instance at most `check_interval` after
//!   the write, at a cost of at most `3600 / check_interval` marker reads per hour per warm
//!   instance (720), and none while idle.
//! - **TTL.** The whole registry is read again at least every `ttl` (60 s), which is what
//!   brings in changes made outside our tools (they do not move the marker), and everything when
//!   there is no marker.
//! - **Unknown tokens.** An unknown token triggers a reload, so a token created a moment ago works
//!   at once, but at most one reload starts per `refresh_min_interval`, whatever the traffic: a
//!   flood of bad tokens costs at most `1 + elapsed / refresh_min_interval` reads of the registry
//!   (and of the Secrets Manager bill).
//! - **Fail closed.** A failed read keeps the last good document, but only for `max_staleness`
//!   (300 s) after it was last confirmed current; after that every token is refused
//!   ([`Verdict::Unavailable`]) until a read succeeds, so a registry outage cannot keep a revoked
//!   token alive. Each failed read is logged, counted, and handed to the failure hook (the
//!   service turns it into the `RegistryReadFailures` metric).
//!
//! Verification hashes the presented token with SHA-256 and compares that hash with *every*
//! record's hash in constant time (`subtle`), never stopping at a match: the time taken depends on
//! the number of records, not on which record matched or how many leading bytes agreed.

use crate::backend::TokenRegistry;
use crate::document::{TokenRecord, TokenState};
use crate::error::RegistryError;
use crate::token::sha256_hex;
use scim_store::TenantId;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;
use subtle::{Choice, ConstantTimeEq};
use time::{Date, OffsetDateTime, Time};
use tokio::time::Instant;

/// How a loaded registry is trusted: when it is checked, reloaded, and given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// The registry is read again at least this often.
    pub ttl: Duration,
    /// An unknown token causes a reload at most this often.
    pub refresh_min_interval: Duration,
    /// The generation marker is read at most this often: the longest a revocation made through
    /// our tools takes to reach a warm instance.
    pub check_interval: Duration,
    /// How long the last good registry is used while reads fail; after that, tokens are refused.
    pub max_staleness: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            ttl: Duration::from_secs(60),
            refresh_min_interval: Duration::from_secs(5),
            check_interval: Duration::from_secs(5),
            max_staleness: Duration::from_secs(300),
        }
    }
}

/// What a presented token is worth. Only `Valid` lets a request through; the others are told
/// apart for the operator's log, never for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid {
        tenant: TenantId,
        token_id: String,
        /// The record's name and expiry, for the provisioning log and the expiry metric.
        token_name: String,
        expires: OffsetDateTime,
    },
    Expired {
        token_id: String,
    },
    Revoked {
        token_id: String,
    },
    Unknown,
    /// The registry has not been read successfully for longer than `max_staleness`: no token is
    /// judged until it is.
    Unavailable,
}

/// The work the cache has done since start-up, for tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Reads of the whole registry (each a `GetSecretValue` for Secrets Manager).
    pub registry_loads: u64,
    /// Reads of the generation marker.
    pub generation_checks: u64,
    /// Failed reads of either.
    pub read_failures: u64,
}

/// A token accepted from memory without being in the registry (`SCIM_BOOTSTRAP_TOKEN`, local runs
/// only). It never expires and is never written anywhere.
#[derive(Clone)]
pub struct StaticToken(Entry);

impl StaticToken {
    pub fn new(id: &str, token: &str, tenant: TenantId) -> StaticToken {
        let forever = OffsetDateTime::new_utc(Date::MAX, Time::MIDNIGHT);
        StaticToken(Entry {
            record: TokenRecord {
                id: id.into(),
                name: id.into(),
                tenant: tenant.to_string(),
                sha256: sha256_hex(token),
                created: OffsetDateTime::UNIX_EPOCH,
                expires: forever,
                revoked: None,
            },
            tenant,
        })
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticToken({})", self.0.record.id)
    }
}

/// A record with its tenant checked.
#[derive(Clone)]
struct Entry {
    record: TokenRecord,
    tenant: TenantId,
}

struct Snapshot {
    entries: Arc<[Entry]>,
    /// The marker read just before the load that produced `entries` (`""` when never set);
    /// `None` when unknown (no marker, or its read failed).
    generation: Option<String>,
    loaded_at: Instant,
    /// When `entries` were last known to be current: a successful load, or an unchanged marker.
    confirmed_at: Instant,
    /// The last marker check or load, successful or not.
    last_check: Instant,
    /// The last load, successful or not.
    last_attempt: Instant,
}

/// What a due refresh does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Read the marker, and the registry only if the marker moved (or the TTL ran out).
    Check,
    /// Read the registry.
    Load,
}

/// Called with every failed read of the registry or its marker.
pub type FailureHook = Box<dyn Fn(&RegistryError) + Send + Sync>;

/// The cached registry the service verifies tokens against.
pub struct TokenCache {
    registry: Arc<dyn TokenRegistry>,
    settings: CacheSettings,
    statics: Vec<Entry>,
    snapshot: RwLock<Snapshot>,
    /// Held while a refresh runs, so concurrent requests wait for it instead of starting their own.
    refreshing: tokio::sync::Mutex<()>,
    registry_loads: AtomicU64,
    generation_checks: AtomicU64,
    read_failures: AtomicU64,
    on_failure: Option<FailureHook>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("registry", &self.registry)
            .field("settings", &self.settings)
            .field("tokens", &self.read().entries.len())
            .field("stats", &self.stats())
            .finish()
    }
}

impl TokenCache {
    /// Loads the registry once; the service does not start on a registry it cannot read.
    pub async fn load(
        registry: Arc<dyn TokenRegistry>,
        settings: CacheSettings,
        statics: Vec<StaticToken>,
    ) -> Result<TokenCache, RegistryError> {
        let now = Instant::now();
        let mut cache = TokenCache {
            snapshot: RwLock::new(Snapshot {
                entries: Arc::from([]),
                generation: None,
                loaded_at: now,
                confirmed_at: now,
                last_check: now,
                last_attempt: now,
            }),
            registry,
            settings,
            statics: statics.into_iter().map(|s| s.0).collect(),
            refreshing: tokio::sync::Mutex::new(()),
            registry_loads: AtomicU64::new(0),
            generation_checks: AtomicU64::new(0),
            read_failures: AtomicU64::new(0),
            on_failure: None,
        };
        let generation = cache.read_generation().await;
        cache.registry_loads.fetch_add(1, Ordering::Relaxed);
        let document = cache.registry.load().await?.document;
        let snapshot = cache.snapshot.get_mut().unwrap_or_else(PoisonError::into_inner);
        snapshot.entries = compile(&cache.statics, document.tokens);
        snapshot.generation = generation;
        Ok(cache)
    }

    /// Calls `hook` with every failed read from now on (after it was logged and counted).
    pub fn with_failure_hook(mut self, hook: FailureHook) -> TokenCache {
        self.on_failure = Some(hook);
        self
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            registry_loads: self.registry_loads.load(Ordering::Relaxed),
            generation_checks: self.generation_checks.load(Ordering::Relaxed),
            read_failures: self.read_failures.load(Ordering::Relaxed),
        }
    }

    /// Judges a presented token, checking or reloading the registry when due (see the module
    /// documentation for when, and at what rate).
    pub async fn verify(&self, presented: &str) -> Verdict {
        let hash = sha256_hex(presented);
        let CacheSettings {
            ttl,
            refresh_min_interval,
            check_interval,
            max_staleness,
        } = self.settings;
        let marked = self.registry.has_generation();
        self.refresh_when(|s, now| {
            if now >= s.loaded_at + ttl && now >= s.last_attempt + refresh_min_interval {
                Some(Step::Load)
            } else if marked && now >= s.last_check + check_interval {
                Some(Step::Check)
            } else {
                None
            }
        })
        .await;
        if Instant::now() >= self.read().confirmed_at + max_staleness {
            return Verdict::Unavailable;
        }
        let verdict = self.judge(&hash);
        if verdict != Verdict::Unknown {
            return verdict;
        }
        self.refresh_when(|s, now| (now >= s.last_attempt + refresh_min_interval).then_some(Step::Load))
            .await;
        // Judged again even when another request did the reload.
        self.judge(&hash)
    }

    fn read(&self) -> RwLockReadGuard<'_, Snapshot> {
        self.snapshot.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn judge(&self, hash: &str) -> Verdict {
        let entries = self.read().entries.clone();
        let Some(entry) = find_by_hash(&entries, hash, |a, b| a.ct_eq(b)) else {
            return Verdict::Unknown;
        };
        let token_id = entry.record.id.clone();
        match entry.record.state(OffsetDateTime::now_utc()) {
            TokenState::Active => Verdict::Valid {
                tenant: entry.tenant.clone(),
                token_id,
                token_name: entry.record.name.clone(),
                expires: entry.record.expires,
            },
            TokenState::Expired => Verdict::Expired { token_id },
            TokenState::Revoked => Verdict::Revoked { token_id },
        }
    }

    /// Logs, counts and reports a failed read.
    fn failed(&self, e: &RegistryError) {
        self.read_failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %e, "token registry read failed");
        if let Some(hook) = &self.on_failure {
            hook(e);
        }
    }

    /// The marker now (`""` when never set), or `None` without a marker or when its read failed.
    async fn read_generation(&self) -> Option<String> {
        if !self.registry.has_generation() {
            return None;
        }
        self.generation_checks.fetch_add(1, Ordering::Relaxed);
        match self.registry.generation().await {
            Ok(generation) => Some(generation.unwrap_or_default()),
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    /// Does the step `due` names, once for all concurrent callers: whoever waited for a refresh
    /// finds `due` false afterwards and uses its result.
    async fn refresh_when(&self, due: impl Fn(&Snapshot, Instant) -> Option<Step>) {
        if due(&self.read(), Instant::now()).is_none() {
            return;
        }
        let _flight = self.refreshing.lock().await;
        let Some(step) = due(&self.read(), Instant::now()) else {
            return;
        };
        let started = Instant::now();
        // The marker is read before the registry: a write landing between the two reads then
        // shows up as a moved marker at the next check, never as a marker newer than the document.
        let generation = self.read_generation().await;
        if step == Step::Check {
            let unchanged = {
                let s = self.read();
                generation.is_some()
                    && generation == s.generation
                    && started < s.loaded_at + self.settings.ttl
            };
            // A failed marker read falls through to a load: the registry itself may still answer.
            if unchanged {
                let mut s = self.snapshot.write().unwrap_or_else(PoisonError::into_inner);
                s.last_check = started;
                s.confirmed_at = started;
                return;
            }
        }
        self.registry_loads.fetch_add(1, Ordering::Relaxed);
        let loaded = self.registry.load().await;
        if let Err(e) = &loaded {
            self.failed(e);
        }
        let mut s = self.snapshot.write().unwrap_or_else(PoisonError::into_inner);
        s.last_check = started;
        s.last_attempt = started;
        if let Ok(loaded) = loaded {
            s.entries = compile(&self.statics, loaded.document.tokens);
            s.generation = generation;
            s.loaded_at = started;
            s.confirmed_at = started;
        }
    }
}

/// The static tokens and the registry's records, with their tenants checked. A record whose tenant
/// is not a valid tenant name (a hand-edited file) is left out and reported.
fn compile(statics: &[Entry], records: Vec<TokenRecord>) -> Arc<[Entry]> {
    let from_registry = records
        .into_iter()
        .filter_map(|record| match TenantId::new(&record.tenant) {
            Ok(tenant) => Some(Entry { record, tenant }),
            Err(e) => {
                tracing::warn!(token_id = %record.id, error = %e, "token record ignored");
                None
            }
        });
    statics.iter().cloned().chain(from_registry).collect()
}

/// The entry whose hash equals `hash`. `equal` is applied to every entry, match or not, so the
/// number of comparisons never depends on the presented token; with [`ConstantTimeEq`] each
/// comparison takes the same time whatever the bytes.
fn find_by_hash<'a>(
    entries: &'a [Entry],
    hash: &str,
    mut equal: impl FnMut(&[u8], &[u8]) -> Choice,
) -> Option<&'a Entry> {
    entries.iter().fold(None, |found, entry| {
        let matched = equal(entry.record.sha256.as_bytes(), hash.as_bytes());
        if bool::from(matched) {
            Some(entry)
        } else {
            found
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Loaded;
    use crate::document::{NewToken, RegistryDocument};
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// A registry in memory that counts loads and can be made to fail; `marked`, it has a
    /// generation marker that [`MemoryRegistry::change`] moves on.
    #[derive(Debug, Default)]
    struct MemoryRegistry {
        document: Mutex<RegistryDocument>,
        loads: AtomicUsize,
        failing: AtomicBool,
        marked: bool,
        generation: AtomicUsize,
        marker_failing: AtomicBool,
    }

    #[async_trait]
    impl TokenRegistry for MemoryRegistry {
        async fn load(&self) -> Result<Loaded, RegistryError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            // A registry read takes time, so concurrent requests overlap with it.
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.failing.load(Ordering::SeqCst) {
                return Err(RegistryError::Io("unavailable".into()));
            }
            Ok(Loaded {
                document: self.document.lock().unwrap().clone(),
                revision: None,
            })
        }

        async fn compare_and_swap(&self, _: Option<&str>, _: &RegistryDocument) -> Result<(), RegistryError> {
            unreachable!("the cache never writes")
        }

        async fn generation(&self) -> Result<Option<String>, RegistryError> {
            if self.marker_failing.load(Ordering::SeqCst) {
                return Err(RegistryError::Marker("unavailable".into()));
            }
            Ok(Some(self.generation.load(Ordering::SeqCst).to_string()))
        }

        fn has_generation(&self) -> bool {
            self.marked
        }
    }

    impl MemoryRegistry {
        /// Changes the stored document directly, without counting as a load.
        fn change<T>(&self, change: impl FnOnce(&mut RegistryDocument) -> T) -> T {
            let changed = change(&mut self.document.lock().unwrap());
            self.generation.fetch_add(1, Ordering::SeqCst);
            changed
        }

        fn marked() -> MemoryRegistry {
            MemoryRegistry {
                marked: true,
                ..MemoryRegistry::default()
            }
        }
    }

    const SETTINGS: CacheSettings = CacheSettings {
        ttl: Duration::from_secs(60),
        refresh_min_interval: Duration::from_secs(5),
        check_interval: Duration::from_secs(5),
        max_staleness: Duration::from_secs(300),
    };

    fn create(registry: &MemoryRegistry, tenant: &str) -> (String, String) {
        let request = NewToken {
            name: "t".into(),
            tenant: tenant.into(),
            expires: OffsetDateTime::now_utc() + time::Duration::days(1),
        };
        let issued = registry.change(|doc| doc.create(&request, OffsetDateTime::now_utc()).unwrap());
        (issued.secret.expose().to_string(), issued.record.id)
    }

    async fn cache(registry: &Arc<MemoryRegistry>, statics: Vec<StaticToken>) -> TokenCache {
        TokenCache::load(registry.clone(), SETTINGS, statics)
            .await
            .unwrap()
    }

    fn tenant(name: &str) -> TenantId {
        TenantId::new(name).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn verdicts_for_valid_expired_revoked_unknown_and_static_tokens() {
        let registry = Arc::new(MemoryRegistry::default());
        let (valid, valid_id) = create(&registry, "acme");
        let (expired, expired_id) = create(&registry, "acme");
        let (revoked, revoked_id) = create(&registry, "acme");
        registry.change(|doc| {
            let now = OffsetDateTime::now_utc();
            doc.rotate(&expired_id, time::Duration::ZERO, now).unwrap();
            doc.revoke(&revoked_id, now).unwrap();
        });
        let cache = cache(
            &registry,
            vec![StaticToken::new("bootstrap", "SCIM_boot", tenant("default"))],
        )
        .await;
        assert!(matches!(
            cache.verify(&valid).await,
            Verdict::Valid {
                tenant,
                token_id,
                token_name,
                expires,
            } if tenant == self::tenant("acme") && token_id == valid_id && token_name == "t"
                && expires > OffsetDateTime::now_utc()
        ));
        assert_eq!(
            cache.verify(&expired).await,
            Verdict::Expired { token_id: expired_id }
        );
        assert_eq!(
            cache.verify(&revoked).await,
            Verdict::Revoked { token_id: revoked_id }
        );
        assert!(matches!(
            cache.verify("SCIM_boot").await,
            Verdict::Valid { tenant, token_id, .. } if tenant == self::tenant("default") && token_id == "bootstrap"
        ));
        assert_eq!(cache.verify("SCIM_nope").await, Verdict::Unknown);
        assert_eq!(cache.verify("").await, Verdict::Unknown);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_token_works_once_the_min_interval_has_passed() {
        let registry = Arc::new(MemoryRegistry::default());
        let cache = cache(&registry, vec![]).await;
        assert_eq!(cache.verify("SCIM_early").await, Verdict::Unknown);
        let (token, id) = create(&registry, "acme");
        // Right after start-up the last reload is recent: no reload yet.
        assert_eq!(cache.verify(&token).await, Verdict::Unknown);
        tokio::time::advance(SETTINGS.refresh_min_interval).await;
        assert!(matches!(
            cache.verify(&token).await,
            Verdict::Valid { tenant, token_id, .. } if tenant == self::tenant("acme") && token_id == id
        ));
        assert_eq!(registry.loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_unknown_tokens_shares_one_reload_per_interval() {
        let registry = Arc::new(MemoryRegistry::default());
        let cache = Arc::new(cache(&registry, vec![]).await);
        tokio::time::advance(SETTINGS.refresh_min_interval).await;
        let flood: Vec<_> = (0..1000)
            .map(|i| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.verify(&format!("SCIM_bad{i}")).await })
            })
            .collect();
        for request in flood {
            assert_eq!(request.await.unwrap(), Verdict::Unknown);
        }
        assert_eq!(
            registry.loads.load(Ordering::SeqCst),
            2,
            "start-up plus one shared reload"
        );
        for _ in 0..10 {
            cache.verify("SCIM_bad").await;
        }
        assert_eq!(registry.loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_ttl_brings_revocations_and_a_failed_reload_keeps_the_last_good_registry() {
        let registry = Arc::new(MemoryRegistry::default());
        let (token, id) = create(&registry, "acme");
        let cache = cache(&registry, vec![]).await;
        assert!(matches!(cache.verify(&token).await, Verdict::Valid { .. }));
        registry.failing.store(true, Ordering::SeqCst);
        tokio::time::advance(SETTINGS.ttl).await;
        assert!(
            matches!(cache.verify(&token).await, Verdict::Valid { .. }),
            "served from the last good registry"
        );
        assert_eq!(registry.loads.load(Ordering::SeqCst), 2);
        // While the registry fails, reloads are still spaced by the min interval.
        cache.verify(&token).await;
        assert_eq!(registry.loads.load(Ordering::SeqCst), 2);
        registry.failing.store(false, Ordering::SeqCst);
        registry.change(|doc| doc.revoke(&id, OffsetDateTime::now_utc()).unwrap());
        tokio::time::advance(SETTINGS.refresh_min_interval).await;
        assert_eq!(cache.verify(&token).await, Verdict::Revoked { token_id: id });
    }

    #[tokio::test(start_paused = true)]
    async fn a_revocation_arrives_within_the_check_interval_at_one_marker_read_per_interval() {
        let registry = Arc::new(MemoryRegistry::marked());
        let (token, id) = create(&registry, "acme");
        let cache = Arc::new(cache(&registry, vec![]).await);
        assert_eq!(cache.stats().generation_checks, 1, "read with the first load");
        // 50 s of steady traffic, 100 concurrent requests every second, nothing written: one
        // marker read per check interval, and no registry read although the TTL (60 s) is near.
        for _ in 0..50 {
            tokio::time::advance(Duration::from_secs(1)).await;
            let wave: Vec<_> = (0..100)
                .map(|_| {
                    let (cache, token) = (cache.clone(), token.clone());
                    tokio::spawn(async move { cache.verify(&token).await })
                })
                .collect();
            for request in wave {
                assert!(matches!(request.await.unwrap(), Verdict::Valid { .. }));
            }
        }
        assert_eq!(cache.stats().generation_checks, 1 + 50 / 5);
        assert_eq!(registry.loads.load(Ordering::SeqCst), 1);
        // Revoked just after a check: still served until the interval is over, refused from then on.
        registry.change(|doc| doc.revoke(&id, OffsetDateTime::now_utc()).unwrap());
        tokio::time::advance(SETTINGS.check_interval - Duration::from_millis(1)).await;
        assert!(matches!(cache.verify(&token).await, Verdict::Valid { .. }));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(cache.verify(&token).await, Verdict::Revoked { token_id: id });
        assert_eq!(
            registry.loads.load(Ordering::SeqCst),
            2,
            "one reload, for the moved marker"
        );
        assert_eq!(cache.stats().registry_loads, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_ttl_still_reloads_a_marked_registry_for_changes_made_outside_our_tools() {
        let registry = Arc::new(MemoryRegistry::marked());
        let (token, id) = create(&registry, "acme");
        let cache = cache(&registry, vec![]).await;
        // A hand edit: the document changes, the marker does not.
        registry
            .document
            .lock()
            .unwrap()
            .revoke(&id, OffsetDateTime::now_utc())
            .unwrap();
        tokio::time::advance(SETTINGS.ttl - Duration::from_secs(1)).await;
        assert!(matches!(cache.verify(&token).await, Verdict::Valid { .. }));
        tokio::time::advance(SETTINGS.check_interval).await;
        assert_eq!(cache.verify(&token).await, Verdict::Revoked { token_id: id });
    }

    #[tokio::test(start_paused = true)]
    async fn reads_failing_for_longer_than_the_max_staleness_refuse_every_token_until_one_succeeds() {
        let registry = Arc::new(MemoryRegistry::marked());
        let (token, _) = create(&registry, "acme");
        let reported = Arc::new(AtomicUsize::new(0));
        let hook_count = reported.clone();
        let cache = cache(
            &registry,
            vec![StaticToken::new("bootstrap", "SCIM_boot", tenant("default"))],
        )
        .await
        .with_failure_hook(Box::new(move |_| {
            hook_count.fetch_add(1, Ordering::SeqCst);
        }));
        registry.failing.store(true, Ordering::SeqCst);
        registry.marker_failing.store(true, Ordering::SeqCst);
        tokio::time::advance(SETTINGS.max_staleness - Duration::from_secs(1)).await;
        assert!(matches!(cache.verify(&token).await, Verdict::Valid { .. }));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cache.verify(&token).await, Verdict::Unavailable);
        assert_eq!(cache.verify("SCIM_boot").await, Verdict::Unavailable);
        // One check so far (a failed marker read, then a failed load); the later requests came
        // within the check interval and read nothing.
        assert_eq!(reported.load(Ordering::SeqCst), 2);
        assert_eq!(cache.stats().read_failures, 2);
        // The marker store recovers but the registry does not: a moved marker cannot be followed.
        registry.marker_failing.store(false, Ordering::SeqCst);
        registry.change(|_| ());
        tokio::time::advance(SETTINGS.check_interval).await;
        assert_eq!(cache.verify(&token).await, Verdict::Unavailable);
        // The marker store is down but the registry answers: served again from a fresh load.
        registry.marker_failing.store(true, Ordering::SeqCst);
        registry.failing.store(false, Ordering::SeqCst);
        tokio::time::advance(SETTINGS.check_interval).await;
        assert!(matches!(cache.verify(&token).await, Verdict::Valid { .. }));
    }

    #[test]
    fn verification_compares_every_record_even_after_a_match() {
        let entries: Vec<Entry> = (0..5)
            .map(|i| StaticToken::new(&format!("t{i}"), &format!("SCIM_{i}"), tenant("acme")).0)
            .collect();
        for (i, presented) in ["SCIM_0", "SCIM_4", "SCIM_unknown"].iter().enumerate() {
            let mut compared = 0;
            let found = find_by_hash(&entries, &sha256_hex(presented), |a, b| {
                compared += 1;
                a.ct_eq(b)
            });
            assert_eq!(compared, entries.len(), "{presented}");
            assert_eq!(found.map(|e| e.record.id.as_str()), ["t0", "t4"].get(i).copied());
        }
    }
}
