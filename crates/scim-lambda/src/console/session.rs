//! Console sessions: who signed in, what they may see, until when. A session is a signed cookie
//! (`base64url(json) "." base64url(HMAC-SHA256)`), so any instance of the console function opens
//! it without a session table; it lives [`SESSION_LIFETIME`] and is never extended.
//!
//! The key is derived from the cursor key (HMAC of a fixed label), so the console needs no secret
//! of its own, and a session cookie can never be mistaken for a cursor or the reverse. Rotating
//! the cursor key keeps sessions signed with the previous key open, like cursors.
//!
//! Every form carries a CSRF token: the HMAC of the session's random nonce under another label.
//! A page of one session cannot forge a form for another, and a site that cannot read our pages
//! cannot learn it (RFC 6265bis `SameSite=Strict` is the second wall).

use crate::cursor::CursorKeys;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeSet;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// How long a session lasts after sign-in: short, as an admin surface's should be.
pub const SESSION_LIFETIME: time::Duration = time::Duration::hours(1);

/// What an operator may act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every tenant (the global operators' group, or the local operator).
    All,
    /// These tenants only (the per-tenant groups).
    Tenants(BTreeSet<String>),
}

impl Scope {
    pub fn allows(&self, tenant: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenants(tenants) => tenants.contains(tenant),
        }
    }
}

/// A signed-in operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Who, as the provisioning log records them: `local` or `oidc:<subject>`.
    pub subject: String,
    /// What the pages call them (an email when the provider gave one).
    pub display: String,
    pub scope: Scope,
    /// Unix seconds.
    pub expires: i64,
    /// Random, per session: what its CSRF token is made from.
    pub nonce: String,
}

impl Session {
    /// A new session starting `now`.
    pub fn new(
        subject: String,
        display: String,
        scope: Scope,
        now: OffsetDateTime,
    ) -> Result<Session, String> {
        Ok(Session {
            subject,
            display,
            scope,
            expires: (now + SESSION_LIFETIME).unix_timestamp(),
            nonce: random_token()?,
        })
    }

    /// Who the provisioning log names for this session's actions.
    pub fn operator(&self) -> String {
        format!("{} ({})", self.display, self.subject)
    }
}

/// The keys sessions are signed and opened with, derived from the cursor keys.
#[derive(Debug, Clone)]
pub struct SessionKeys {
    current: Vec<u8>,
    previous: Option<Vec<u8>>,
}

const SESSION_LABEL: &[u8] = b"scim-console-session-v1";
const CSRF_LABEL: &[u8] = b"scim-console-csrf-v1";
const LOGIN_LABEL: &[u8] = b"scim-console-login-v1";

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

impl SessionKeys {
    pub fn from_cursor_keys(keys: &CursorKeys) -> SessionKeys {
        SessionKeys {
            current: mac(&keys.current.0, &[SESSION_LABEL]),
            previous: keys.previous.as_ref().map(|k| mac(&k.0, &[SESSION_LABEL])),
        }
    }

    fn sign_with(&self, label: &[u8], payload: &[u8]) -> String {
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(mac(&self.current, &[label, payload]))
        )
    }

    fn open_with(&self, label: &[u8], value: &str) -> Option<Vec<u8>> {
        let (payload, signature) = value.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let valid = std::iter::once(&self.current)
            .chain(&self.previous)
            .any(|key| bool::from(mac(key, &[label, &payload]).ct_eq(&signature)));
        valid.then_some(payload)
    }

    /// The cookie value of `session`.
    pub fn seal(&self, session: &Session) -> String {
        let json = serde_json::to_vec(session).unwrap_or_default();
        self.sign_with(SESSION_LABEL, &json)
    }

    /// The session a cookie holds, if it is ours, intact and not expired at `now`.
    pub fn open(&self, cookie: &str, now: OffsetDateTime) -> Option<Session> {
        let payload = self.open_with(SESSION_LABEL, cookie)?;
        let session: Session = serde_json::from_slice(&payload).ok()?;
        (session.expires > now.unix_timestamp()).then_some(session)
    }

    /// Signs a value kept in a cookie during sign-in (the OpenID Connect state).
    pub fn seal_login(&self, value: &impl Serialize) -> String {
        self.sign_with(LOGIN_LABEL, &serde_json::to_vec(value).unwrap_or_default())
    }

    pub fn open_login<T: serde::de::DeserializeOwned>(&self, cookie: &str) -> Option<T> {
        serde_json::from_slice(&self.open_with(LOGIN_LABEL, cookie)?).ok()
    }

    /// The CSRF token every form of `session` carries.
    pub fn csrf_token(&self, session: &Session) -> String {
        URL_SAFE_NO_PAD.encode(mac(&self.current, &[CSRF_LABEL, session.nonce.as_bytes()]))
    }

    /// Whether `presented` is `session`'s CSRF token (under the current or previous key).
    pub fn csrf_valid(&self, session: &Session, presented: &str) -> bool {
        let Ok(presented) = URL_SAFE_NO_PAD.decode(presented) else {
            return false;
        };
        std::iter::once(&self.current)
            .chain(&self.previous)
            .any(|key| bool::from(mac(key, &[CSRF_LABEL, session.nonce.as_bytes()]).ct_eq(&presented)))
    }
}

/// 256 random bits, base64url: nonces and one-time codes.
pub fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("cannot read the OS random source: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CursorKey;

    fn keys(current: u8, previous: Option<u8>) -> SessionKeys {
        SessionKeys::from_cursor_keys(&CursorKeys {
            current: CursorKey(vec![current; 32]),
            previous: previous.map(|p| CursorKey(vec![p; 32])),
        })
    }

    fn session(now: OffsetDateTime) -> Session {
        let scope = Scope::Tenants(["acme".to_string()].into());
        Session::new("oidc:42".into(), "ann@acme.example".into(), scope, now).unwrap()
    }

    #[test]
    fn sessions_open_only_intact_unexpired_and_under_our_keys() {
        let now = OffsetDateTime::now_utc();
        let keys = keys(1, None);
        let s = session(now);
        let cookie = keys.seal(&s);
        assert_eq!(keys.open(&cookie, now), Some(s.clone()));
        assert_eq!(keys.open(&cookie, now + SESSION_LIFETIME), None, "expired");
        let (payload, sig) = cookie.split_once('.').unwrap();
        let mut forged: Session = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        forged.scope = Scope::All;
        let forged = format!(
            "{}.{sig}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap())
        );
        assert_eq!(
            keys.open(&forged, now),
            None,
            "a changed scope breaks the signature"
        );
        assert_eq!(self::keys(2, None).open(&cookie, now), None, "another key");
        assert_eq!(
            self::keys(2, Some(1)).open(&cookie, now),
            Some(s),
            "the previous key still opens"
        );
        assert_eq!(keys.open("garbage", now), None);
        assert_eq!(
            keys.open(&keys.seal_login(&"x"), now),
            None,
            "a login cookie is not a session"
        );
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let now = OffsetDateTime::now_utc();
        let keys = keys(1, None);
        let (a, b) = (session(now), session(now));
        let token = keys.csrf_token(&a);
        assert!(keys.csrf_valid(&a, &token));
        assert!(!keys.csrf_valid(&b, &token), "another session's token");
        assert!(!keys.csrf_valid(&a, ""));
        assert!(!keys.csrf_valid(&a, "not base64 !"));
    }

    #[test]
    fn scopes() {
        assert!(Scope::All.allows("anything"));
        let acme = Scope::Tenants(["acme".to_string()].into());
        assert!(acme.allows("acme") && !acme.allows("globex"));
    }
}
