//! The provider's signing keys (RFC 7517 JWK Set), kept for the process, and fetched again when a
//! token names a key we do not hold, at most once a minute.

use super::http::HttpClient;
use super::OidcError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The least time between two fetches of the keys: a flood of tokens naming unknown keys makes
/// one call to the provider a minute, not one each.
pub(super) const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// The keys that can verify an RS256 signature, by key id.
#[derive(Debug, Default)]
pub(super) struct Jwks {
    keys: Vec<RsaKey>,
}

/// An RSA public key: modulus and exponent, big-endian without leading zeros (as ring takes them).
#[derive(Debug)]
pub(super) struct RsaKey {
    kid: String,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

#[derive(Deserialize)]
pub(super) struct JwkSet {
    keys: Vec<Jwk>,
}

/// RFC 7517 §4 and RFC 7518 §6.3.1: the members an RSA signing key is recognised by.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    public_key_use: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// The RSA keys of a JWK Set that may sign RS256. Other keys (EC, encryption keys, keys for
/// another algorithm, keys without an id or with a malformed modulus) are passed over: they verify
/// none of our tokens, and a set may well hold them.
impl From<JwkSet> for Jwks {
    fn from(set: JwkSet) -> Jwks {
        Jwks {
            keys: set.keys.into_iter().filter_map(rs256_key).collect(),
        }
    }
}

impl Jwks {
    pub fn find(&self, kid: &str) -> Option<&RsaKey> {
        self.keys.iter().find(|key| key.kid == kid)
    }
}

fn rs256_key(jwk: Jwk) -> Option<RsaKey> {
    let signs = jwk.public_key_use.as_deref().is_none_or(|used| used == "sig");
    let rs256 = jwk.alg.as_deref().is_none_or(|alg| alg == "RS256");
    if jwk.kty != "RSA" || !signs || !rs256 {
        return None;
    }
    Some(RsaKey {
        kid: jwk.kid?,
        n: unsigned(&jwk.n?)?,
        e: unsigned(&jwk.e?)?,
    })
}

/// A base64url big-endian integer without leading zero bytes: RFC 7518 §6.3.1.1 forbids them,
/// ring refuses them, and some libraries write one anyway.
fn unsigned(encoded: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    let first = bytes.iter().position(|&byte| byte != 0)?;
    Some(bytes[first..].to_vec())
}

pub(super) async fn fetch(http: &HttpClient, jwks_uri: &str) -> Result<Jwks, OidcError> {
    let set: JwkSet = http.get_json("key set", jwks_uri).await?;
    Ok(Jwks::from(set))
}

/// The keys of the process, fetched on first use.
#[derive(Debug, Default)]
pub(super) struct KeyCache {
    held: Mutex<Option<Held>>,
}

#[derive(Debug)]
struct Held {
    keys: Arc<Jwks>,
    /// When the keys were last fetched or a refetch was last tried.
    fetched_at: Instant,
}

impl KeyCache {
    /// The keys held, or fetched now when none are (a failed first fetch is tried again on the
    /// next call).
    pub async fn current<F, Fut>(&self, now: Instant, fetch: F) -> Result<Arc<Jwks>, OidcError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Jwks, OidcError>>,
    {
        let mut held = self.held.lock().await;
        match held.as_ref() {
            Some(current) => Ok(current.keys.clone()),
            None => fetch_into(&mut held, now, fetch).await,
        }
    }

    /// After a token named a key that `seen` does not hold: newer keys if another caller has
    /// fetched them since, else keys fetched now, unless the last fetch was less than
    /// [`REFETCH_INTERVAL`] ago (None).
    pub async fn refreshed<F, Fut>(
        &self,
        seen: &Arc<Jwks>,
        now: Instant,
        fetch: F,
    ) -> Result<Option<Arc<Jwks>>, OidcError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Jwks, OidcError>>,
    {
        let mut held = self.held.lock().await;
        if let Some(current) = held.as_mut() {
            if !Arc::ptr_eq(&current.keys, seen) {
                return Ok(Some(current.keys.clone()));
            }
            if now.saturating_duration_since(current.fetched_at) < REFETCH_INTERVAL {
                return Ok(None);
            }
            // Counted as a fetch even if it fails: a provider that is down is not asked again
            // at once either.
            current.fetched_at = now;
        }
        fetch_into(&mut held, now, fetch).await.map(Some)
    }
}

async fn fetch_into<F, Fut>(held: &mut Option<Held>, now: Instant, fetch: F) -> Result<Arc<Jwks>, OidcError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Jwks, OidcError>>,
{
    let keys = Arc::new(fetch().await?);
    *held = Some(Held {
        keys: keys.clone(),
        fetched_at: now,
    });
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn set(json: serde_json::Value) -> Jwks {
        Jwks::from(serde_json::from_value::<JwkSet>(json).expect("a JWK Set"))
    }

    #[test]
    fn only_rsa_signing_keys_with_an_id_are_kept() {
        let keys = set(serde_json::json!({"keys": [
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "bad", "n": "not base64!", "e": "AQAB"},
            {"kty": "RSA", "kid": "no-e", "n": "AQAB"},
            {"kty": "RSA", "kid": "plain", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "full", "use": "sig", "alg": "RS256", "n": "AAEC", "e": "AQAB"}
        ]}));
        for passed_over in ["ec", "enc", "ps", "bad", "no-e"] {
            assert!(keys.find(passed_over).is_none(), "{passed_over}");
        }
        assert!(keys.find("plain").is_some());
        // The modulus's leading zero byte is dropped, as ring wants it.
        let full = keys.find("full").expect("full");
        assert_eq!(
            (full.n.as_slice(), full.e.as_slice()),
            (&[1u8, 2][..], &[1u8, 0, 1][..])
        );
    }

    /// A fetch that counts its calls and gives an empty set, or fails.
    fn counting(
        calls: &AtomicUsize,
        fails: bool,
    ) -> impl FnOnce() -> std::future::Ready<Result<Jwks, OidcError>> + '_ {
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(match fails {
                true => Err(OidcError::Http {
                    what: "key set",
                    url: String::from("https://idp.example.test/jwks"),
                    reason: String::from("HTTP 503"),
                }),
                false => Ok(Jwks::default()),
            })
        }
    }

    #[tokio::test]
    async fn the_keys_are_fetched_once_and_a_failed_first_fetch_is_not_kept() {
        let cache = KeyCache::default();
        let calls = AtomicUsize::new(0);
        let start = Instant::now();
        assert!(cache.current(start, counting(&calls, true)).await.is_err());
        let first = cache.current(start, counting(&calls, false)).await.expect("keys");
        let again = cache.current(start, counting(&calls, false)).await.expect("keys");
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unknown_key_refetches_at_most_once_a_minute() {
        let cache = KeyCache::default();
        let calls = AtomicUsize::new(0);
        let start = Instant::now();
        let first = cache.current(start, counting(&calls, false)).await.expect("keys");

        // Fetched a moment ago: no second call, however many tokens name unknown keys.
        for seconds in [0, 1, 59] {
            let later = start + Duration::from_secs(seconds);
            let refreshed = cache.refreshed(&first, later, counting(&calls, false)).await;
            assert!(matches!(refreshed, Ok(None)), "{seconds}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let minute = start + REFETCH_INTERVAL;
        let fresh = cache
            .refreshed(&first, minute, counting(&calls, false))
            .await
            .expect("fetched")
            .expect("fresh keys");
        assert!(!Arc::ptr_eq(&first, &fresh));
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // A caller that saw the old keys gets the fresh ones without a call of its own.
        let caught_up = cache
            .refreshed(&first, minute, counting(&calls, false))
            .await
            .expect("held");
        assert!(caught_up.is_some_and(|keys| Arc::ptr_eq(&keys, &fresh)));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(Arc::ptr_eq(
            &cache
                .current(minute, counting(&calls, false))
                .await
                .expect("keys"),
            &fresh
        ));
    }

    #[tokio::test]
    async fn a_failed_refetch_keeps_the_keys_and_counts_as_a_fetch() {
        let cache = KeyCache::default();
        let calls = AtomicUsize::new(0);
        let start = Instant::now();
        let first = cache.current(start, counting(&calls, false)).await.expect("keys");
        let minute = start + REFETCH_INTERVAL;
        assert!(cache
            .refreshed(&first, minute, counting(&calls, true))
            .await
            .is_err());
        // The provider is not asked again at once, and the keys held are still served.
        let soon = minute + Duration::from_secs(1);
        assert!(matches!(
            cache.refreshed(&first, soon, counting(&calls, false)).await,
            Ok(None)
        ));
        assert!(Arc::ptr_eq(
            &cache.current(soon, counting(&calls, false)).await.expect("keys"),
            &first
        ));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
