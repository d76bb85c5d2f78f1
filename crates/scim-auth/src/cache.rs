//! What the service checks bearer tokens against: the registry document, cached.
//!
//! - The cache reloads after `ttl` (so revocations and expiry changes arrive within a minute).
//! - An unknown token triggers a reload, so a token created a moment ago works at once, but at most
//!   one reload starts per `refresh_min_interval`, whatever the traffic: a flood of bad tokens
//!   costs at most `1 + elapsed / refresh_min_interval` reads of the registry (and of the Secrets
//!   Manager bill). Concurrent requests share one reload (single flight).
//! - A failed reload keeps the last good document, so a registry outage does not lock IdPs out.
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
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;
use subtle::{Choice, ConstantTimeEq};
use time::{Date, OffsetDateTime, Time};
use tokio::time::Instant;

/// How long a loaded registry is trusted, and how often an unknown token may cause a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    pub ttl: Duration,
    pub refresh_min_interval: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            ttl: Duration::from_secs(60),
            refresh_min_interval: Duration::from_secs(5),
        }
    }
}

/// What a presented token is worth. Only `Valid` lets a request through; the others are told
/// apart for the operator's log, never for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid { tenant: TenantId, token_id: String },
    Expired { token_id: String },
    Revoked { token_id: String },
    Unknown,
}

/// A token accepted from memory without being in the registry (`SCIM_BOOTSTRAP_TOKEN`). It
/// never expires and is never written anywhere.
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
    loaded_at: Instant,
    last_attempt: Instant,
}

/// The cached registry the service verifies tokens against.
pub struct TokenCache {
    registry: Arc<dyn TokenRegistry>,
    settings: CacheSettings,
    statics: Vec<Entry>,
    snapshot: RwLock<Snapshot>,
    /// Held while a reload runs, so concurrent requests wait for it instead of starting their own.
    refreshing: tokio::sync::Mutex<()>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("registry", &self.registry)
            .field("settings", &self.settings)
            .field("tokens", &self.read().entries.len())
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
        let document = registry.load().await?.document;
        let statics: Vec<Entry> = statics.into_iter().map(|s| s.0).collect();
        let now = Instant::now();
        Ok(TokenCache {
            snapshot: RwLock::new(Snapshot {
                entries: compile(&statics, document.tokens),
                loaded_at: now,
                last_attempt: now,
            }),
            registry,
            settings,
            statics,
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// Judges a presented token, reloading the registry when it is stale or the token is unknown
    /// (both at a bounded rate).
    pub async fn verify(&self, presented: &str) -> Verdict {
        let hash = sha256_hex(presented);
        let CacheSettings {
            ttl,
            refresh_min_interval,
        } = self.settings;
        self.refresh_when(|s, now| now >= s.loaded_at + ttl && now >= s.last_attempt + refresh_min_interval)
            .await;
        let verdict = self.judge(&hash);
        if verdict != Verdict::Unknown {
            return verdict;
        }
        self.refresh_when(|s, now| now >= s.last_attempt + refresh_min_interval)
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
            },
            TokenState::Expired => Verdict::Expired { token_id },
            TokenState::Revoked => Verdict::Revoked { token_id },
        }
    }

    /// Reloads the registry if `due` says so, once for all concurrent callers: whoever waited for
    /// a reload finds `due` false afterwards and uses its result.
    async fn refresh_when(&self, due: impl Fn(&Snapshot, Instant) -> bool) {
        if !due(&self.read(), Instant::now()) {
            return;
        }
        let _flight = self.refreshing.lock().await;
        if !due(&self.read(), Instant::now()) {
            return;
        }
        let loaded = self.registry.load().await;
        let mut snapshot = self.snapshot.write().unwrap_or_else(PoisonError::into_inner);
        snapshot.last_attempt = Instant::now();
        match loaded {
            Ok(loaded) => {
                snapshot.entries = compile(&self.statics, loaded.document.tokens);
                snapshot.loaded_at = snapshot.last_attempt;
            }
            Err(e) => {
                tracing::warn!(error = %e, "token registry reload failed; the last good registry stays in use")
            }
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

    /// A registry in memory that counts loads and can be made to fail.
    #[derive(Debug, Default)]
    struct MemoryRegistry {
        document: Mutex<RegistryDocument>,
        loads: AtomicUsize,
        failing: AtomicBool,
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
    }

    impl MemoryRegistry {
        /// Changes the stored document directly, without counting as a load.
        fn change<T>(&self, change: impl FnOnce(&mut RegistryDocument) -> T) -> T {
            change(&mut self.document.lock().unwrap())
        }
    }

    const SETTINGS: CacheSettings = CacheSettings {
        ttl: Duration::from_secs(60),
        refresh_min_interval: Duration::from_secs(5),
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
        assert_eq!(
            cache.verify(&valid).await,
            Verdict::Valid {
                tenant: tenant("acme"),
                token_id: valid_id
            }
        );
        assert_eq!(
            cache.verify(&expired).await,
            Verdict::Expired { token_id: expired_id }
        );
        assert_eq!(
            cache.verify(&revoked).await,
            Verdict::Revoked { token_id: revoked_id }
        );
        assert_eq!(
            cache.verify("SCIM_boot").await,
            Verdict::Valid {
                tenant: tenant("default"),
                token_id: "bootstrap".into()
            }
        );
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
        assert_eq!(
            cache.verify(&token).await,
            Verdict::Valid {
                tenant: tenant("acme"),
                token_id: id
            }
        );
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
