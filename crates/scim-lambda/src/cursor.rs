//! RFC 9865 cursors: the store's continuation position, made opaque and tamper-evident.
//!
//! A cursor is `base64url(position) "." base64url(HMAC-SHA256(key, binding || position))`. The
//! binding is the tenant, the resource type and the query (canonical filter, `attributes`,
//! `excludedAttributes`, and `sortBy`/`sortOrder` when sorted), so a cursor only continues the listing it came from: changed, forged
//! or foreign cursors (another tenant's, another query's) answer 400 `invalidCursor` (RFC 9865
//! §6). The position itself is the last id a page examined (ids sort), or in a sorted listing the
//! last resource's key in that order (`scim_proto::sort`), so cursors do not expire.
//!
//! The key rotates ([`crate::secrets`]): cursors are signed with the current key and opened with
//! the current or the previous one, so a listing in progress survives a rotation.

use crate::config::{CursorKey, MIN_CURSOR_KEY_BYTES};
use crate::secrets::SecretPair;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use scim_proto::list::{ListQuery, SortOrder};
use scim_proto::{ScimError, ScimType};
use scim_store::{ResourceKind, TenantId};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The cursor keys in use: `current` signs, either opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorKeys {
    pub current: CursorKey,
    pub previous: Option<CursorKey>,
}

impl CursorKeys {
    /// Both values are base64 of at least [`MIN_CURSOR_KEY_BYTES`] bytes. (Letters and digits, a
    /// multiple of 4 long, are valid base64: template.yaml generates 64 of them, 48 bytes.)
    pub fn from_pair(pair: &SecretPair) -> Result<CursorKeys, String> {
        Ok(CursorKeys {
            current: decode_key(&pair.current).map_err(|e| format!("current: {e}"))?,
            previous: pair
                .previous
                .as_deref()
                .map(decode_key)
                .transpose()
                .map_err(|e| format!("previous: {e}"))?,
        })
    }

    fn all(&self) -> impl Iterator<Item = &CursorKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

fn decode_key(b64: &str) -> Result<CursorKey, String> {
    use base64::engine::general_purpose::STANDARD;
    let key = STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    if key.len() < MIN_CURSOR_KEY_BYTES {
        return Err(format!(
            "{} bytes; at least {MIN_CURSOR_KEY_BYTES} are needed",
            key.len()
        ));
    }
    Ok(CursorKey(key))
}

/// What a cursor is bound to.
#[derive(Debug)]
pub struct Binding<'a> {
    pub tenant: &'a TenantId,
    pub kind: ResourceKind,
    pub query: &'a ListQuery,
}

impl Binding<'_> {
    fn mac(&self, key: &CursorKey, position: &[u8]) -> Option<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&key.0).ok()?;
        let filter = self
            .query
            .filter
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        // Lengths first, so no two bindings produce the same bytes.
        for part in [
            b"scim-cursor-v1".as_slice(),
            self.tenant.as_str().as_bytes(),
            self.kind.name().as_bytes(),
            filter.as_bytes(),
            self.query.attributes.join(",").to_ascii_lowercase().as_bytes(),
            self.query
                .excluded_attributes
                .join(",")
                .to_ascii_lowercase()
                .as_bytes(),
        ] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        // A sorted listing's positions are keys in its order (RFC 7644 §3.4.2.3), meaningless
        // in another: the order is bound too. Unsorted bindings stay as they were, so cursors
        // handed out before sorting existed still open.
        if let Some(by) = &self.query.sort_by {
            let order = match self.query.sort_order {
                Some(SortOrder::Descending) => "descending",
                _ => "ascending",
            };
            for part in [by.to_ascii_lowercase().as_bytes(), order.as_bytes()] {
                mac.update(&(part.len() as u64).to_be_bytes());
                mac.update(part);
            }
        }
        mac.update(&(position.len() as u64).to_be_bytes());
        mac.update(position);
        Some(mac)
    }

    /// The cursor a client sends to continue after `position`, signed with the current key.
    pub fn sign(&self, keys: &CursorKeys, position: &str) -> Option<String> {
        let tag = self
            .mac(&keys.current, position.as_bytes())?
            .finalize()
            .into_bytes();
        Some(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(position),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// The position a client's cursor continues after; `Ok(None)` for the empty cursor that asks
    /// for the first page (RFC 9865 §3: `cursor` with no value).
    pub fn open(&self, keys: &CursorKeys, cursor: &str) -> Result<Option<String>, ScimError> {
        if cursor.is_empty() {
            return Ok(None);
        }
        let invalid = || {
            ScimError::bad_request(
                ScimType::InvalidCursor,
                "the cursor is not one this service issued for this query; start again without one",
            )
        };
        let (position, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let position = URL_SAFE_NO_PAD.decode(position).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        // Constant-time comparison with each key's tag.
        let signed = keys.all().any(|key| {
            self.mac(key, &position)
                .is_some_and(|mac| mac.verify_slice(&tag).is_ok())
        });
        if !signed {
            return Err(invalid());
        }
        String::from_utf8(position).map(Some).map_err(|_| invalid())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use scim_proto::list::ListLimits;

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ListQuery::from_query_pairs(
            &pairs,
            &ListLimits {
                max_count: 100,
                default_count: 10,
            },
        )
        .unwrap()
    }

    /// What `sign` gave for [`sorting_binds_the_order_and_leaves_unsorted_cursors_as_they_were`]'s
    /// unsorted query before sorting existed (HMAC-SHA256 over the length-prefixed parts).
    const UNSORTED_BEFORE_SORTING: &str = "MjgxOWMyMjMtN2Y3Ng.EspZecFGC8W0d62xezp4H3PKO6jWGoXtSBXr3QVjcx0";

    /// A cursor of an unsorted listing signed before sorting existed (the tag the binding made
    /// then, for this key and query) still opens; sorted listings bind their order on top.
    #[test]
    fn sorting_binds_the_order_and_leaves_unsorted_cursors_as_they_were() {
        let key = keys(7, None);
        let t = TenantId::new("a").unwrap();
        let unsorted = query(&[("filter", "userName sw \"a\"")]);
        fn b<'a>(t: &'a TenantId, query: &'a ListQuery) -> Binding<'a> {
            Binding {
                tenant: t,
                kind: ResourceKind::User,
                query,
            }
        }
        assert_eq!(
            b(&t, &unsorted).sign(&key, "2819c223-7f76").unwrap(),
            UNSORTED_BEFORE_SORTING
        );
        let asc = query(&[("sortBy", "displayName")]);
        let cursor = b(&t, &asc).sign(&key, "1x\u{1}id").unwrap();
        assert_eq!(
            b(&t, &asc).open(&key, &cursor).unwrap().as_deref(),
            Some("1x\u{1}id")
        );
        // sortOrder spelled out as the default, and the path in other case, are the same order.
        let same = query(&[("sortBy", "DISPLAYNAME"), ("sortOrder", "ascending")]);
        assert!(b(&t, &same).open(&key, &cursor).is_ok());
        for other in [
            query(&[("sortBy", "displayName"), ("sortOrder", "descending")]),
            query(&[("sortBy", "userName")]),
            query(&[]),
        ] {
            let e = b(&t, &other).open(&key, &cursor).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidCursor));
        }
    }

    #[test]
    fn round_trip_and_every_kind_of_tampering() {
        let key = keys(7, None);
        let t = TenantId::new("a").unwrap();
        let q = query(&[("filter", "userName sw \"a\""), ("cursor", "")]);
        let b = Binding {
            tenant: &t,
            kind: ResourceKind::User,
            query: &q,
        };
        let c = b.sign(&key, "2819c223-7f76").unwrap();
        assert_eq!(b.open(&key, &c).unwrap().as_deref(), Some("2819c223-7f76"));
        assert_eq!(b.open(&key, "").unwrap(), None);
        // The same filter with other spacing is the same query (the canonical print is bound).
        let q2 = query(&[("filter", "userName   sw  \"a\"")]);
        let same = Binding { query: &q2, ..b };
        assert_eq!(same.open(&key, &c).unwrap().as_deref(), Some("2819c223-7f76"));
        let other_tenant = TenantId::new("b").unwrap();
        let q3 = query(&[("filter", "userName sw \"b\"")]);
        let q4 = query(&[("filter", "userName sw \"a\""), ("attributes", "userName")]);
        let foreign = [
            Binding {
                tenant: &other_tenant,
                kind: ResourceKind::User,
                query: &q,
            },
            Binding {
                tenant: &t,
                kind: ResourceKind::Group,
                query: &q,
            },
            Binding {
                tenant: &t,
                kind: ResourceKind::User,
                query: &q3,
            },
            Binding {
                tenant: &t,
                kind: ResourceKind::User,
                query: &q4,
            },
        ];
        for f in foreign {
            let e = f.open(&key, &c).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.scim_type, Some(ScimType::InvalidCursor));
        }
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode("zzz"),
            c.split_once('.').unwrap().1
        );
        for bad in [forged.as_str(), "nodot", "a.b", "!!!.???", &c[..c.len() - 2]] {
            assert!(b.open(&key, bad).is_err(), "{bad}");
        }
        assert!(b.open(&keys(8, None), &c).is_err(), "another key");
    }

    fn keys(current: u8, previous: Option<u8>) -> CursorKeys {
        CursorKeys {
            current: CursorKey(vec![current; 32]),
            previous: previous.map(|p| CursorKey(vec![p; 32])),
        }
    }

    #[test]
    fn a_cursor_signed_with_the_previous_key_still_opens_and_new_ones_use_the_current() {
        let t = TenantId::new("a").unwrap();
        let q = query(&[("cursor", "")]);
        let b = Binding {
            tenant: &t,
            kind: ResourceKind::User,
            query: &q,
        };
        let before = b.sign(&keys(1, None), "p1").unwrap();
        let rotated = keys(2, Some(1));
        assert_eq!(b.open(&rotated, &before).unwrap().as_deref(), Some("p1"));
        let after = b.sign(&rotated, "p2").unwrap();
        assert_eq!(
            after,
            b.sign(&keys(2, None), "p2").unwrap(),
            "signed with the current key"
        );
        assert!(b.open(&keys(1, None), &after).is_err());
        assert!(b.open(&keys(2, None), &before).is_err(), "previous dropped: gone");
    }

    #[test]
    fn key_pairs_are_base64_of_enough_bytes() {
        let pair = |current: &str, previous: Option<&str>| SecretPair {
            current: current.into(),
            previous: previous.map(Into::into),
        };
        let generated = "Q9xv2mLkP0aZr7TyWc4NbEhJ1uFsGd8KoYi3Vn5XeRtM"; // 44 letters and digits
        let keys = CursorKeys::from_pair(&pair(generated, Some("MDEyMzQ1Njc4OWFiY2RlZg=="))).unwrap();
        assert_eq!(keys.current.0.len(), 33);
        assert_eq!(keys.previous.unwrap().0.len(), 16);
        assert!(CursorKeys::from_pair(&pair("c2hvcnQ=", None))
            .unwrap_err()
            .starts_with("current"));
        assert!(CursorKeys::from_pair(&pair(generated, Some("!!")))
            .unwrap_err()
            .starts_with("previous"));
    }
}
