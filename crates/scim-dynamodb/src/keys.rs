//! The key design: every key of the table, in one place. See the crate's README.md ("Key
//! design") for the access pattern each one serves.
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | user (with its direct groups) | `T#<tenant>#USERS` | `<id>` |
//! | group (with its parent groups) | `T#<tenant>#GROUPS` | `<id>` |
//! | resource counter shard | `T#<tenant>#USERS` / `#GROUPS` | `#N#<shard>` |
//! | membership | `T#<tenant>#M#<group id>` | `<member id>` |
//! | unique index entry | `T#<tenant>#X#<User\|Group>#<attr>#<value>` | `#` (the id in `id`) |
//! | equality index entry | `T#<tenant>#X#<User\|Group>#<attr>#<value>` | `<id>` |
//! | tenant settings | `T#<tenant>#SETTINGS` | `#` |
//! | soft-deleted user (kept until `ttl`) | `T#<tenant>#DELETED` | `<id>` |
//! | unmanaged (imported) account | `T#<tenant>#UNMANAGED` | `<id>` |
//! | unmanaged match entry | `T#<tenant>#UX#<userName\|email>#<value>` | `#` (the id in `id`) |
//! | conflict | `T#<tenant>#CONFLICTS` | `<conflict id>` |
//! | token registry generation (one, global) | `SERVICE#TOKEN_GENERATION` | `#` |
//! | provisioning log record, status < 400 | `L#<tenant>#LOG` | `<time>#<request id>` |
//! | provisioning log record, status >= 400 | `L#<tenant>#LOGERR` | `<time>#<request id>` |
//! | token use | `L#<tenant>#TOKENS` | `<token id>` |
//!
//! Operator records (`L#`) are never `T#`: the events function's stream filter and [`parse`]
//! skip them. A log record that names a resource is also in the `by_resource` index
//! ([`LOG_INDEX`]): `rpk` = `L#<tenant>#R#<resource id>`, or for a record without an id (a
//! create that failed) `L#<tenant>#N#<name folded>`; `rsk` = its sort key.
//!
//! Resource items also carry one `ord_*` attribute per [`SORT_INDEXES`] entry of their kind, the
//! sort key of that sort index (its partition key is the item's `pk`).
//!
//! Counter shards sort before every id (`#` < `0`), so a Query from the start of a listing
//! partition reads the total and the first page in one call.

use scim_store::attributes::fold;
use scim_store::{LogCursor, MatchAttribute, ResourceKind, TenantId};
use sha2::{Digest, Sha256};

/// Partition key attribute name.
pub const PK: &str = "pk";
/// Sort key attribute name.
pub const SK: &str = "sk";

/// The global secondary index of a tenant's log records by resource (the others are the
/// [`SORT_INDEXES`]).
pub const LOG_INDEX: &str = "by_resource";
/// Partition key attribute of [`LOG_INDEX`].
pub const RPK: &str = "rpk";
/// Sort key attribute of [`LOG_INDEX`] (the record's sort key).
pub const RSK: &str = "rsk";

/// A sort index: a global secondary index over the resource items that orders a tenant's users
/// or groups by one attribute (RFC 7644 §3.4.2.3). Its partition key is the item's own `pk`
/// (the listing partition `T#<tenant>#USERS`); its sort key is the item attribute `attribute`,
/// which holds the resource's `scim_proto::sort::SortBy` key (value, then id). Only resource
/// items carry these attributes, and every resource item carries each of its kind's, so an index
/// holds exactly the tenant's resources of one kind.
#[derive(Debug, PartialEq, Eq)]
pub struct SortIndex {
    /// The attribute path it orders by, as `SortBy::path` spells it.
    pub path: &'static str,
    /// The item attribute holding the key.
    pub attribute: &'static str,
    /// The index's name.
    pub index: &'static str,
}

/// Every sort index. A kind uses those whose path its schema has (groups have no `userName`).
pub const SORT_INDEXES: [SortIndex; 5] = [
    SortIndex {
        path: "userName",
        attribute: "ord_un",
        index: "sorted_userName",
    },
    SortIndex {
        path: "displayName",
        attribute: "ord_dn",
        index: "sorted_displayName",
    },
    SortIndex {
        path: "externalId",
        attribute: "ord_xid",
        index: "sorted_externalId",
    },
    SortIndex {
        path: "meta.created",
        attribute: "ord_c",
        index: "sorted_created",
    },
    SortIndex {
        path: "meta.lastModified",
        attribute: "ord_m",
        index: "sorted_lastModified",
    },
];

/// Sort key of a unique index entry (one item per value).
pub const UNIQUE_SK: &str = "#";
/// Sort keys of resources are greater than this: it sorts after every counter shard.
pub const AFTER_COUNTERS: &str = "#~";
/// Partition key of the token registry's generation marker (`generation.rs`): not `T#`, so it
/// is no tenant's and [`parse`] names nothing.
pub const TOKEN_GENERATION_PK: &str = "SERVICE#TOKEN_GENERATION";
/// Prefix of the counter shards' sort keys.
pub const COUNTER_PREFIX: &str = "#N#";
/// Number of counter shards per tenant and kind: concurrent creates touch different items, so
/// they rarely collide in a transaction.
pub const COUNTER_SHARDS: u32 = 16;

/// Longest id accepted as a key; server ids are 36-character UUIDs. Longer input names nothing.
pub const MAX_ID_LEN: usize = 128;

/// Index values longer than this are stored as a hash (DynamoDB limits a partition key to 2 KB).
const MAX_INLINE_VALUE: usize = 1000;

pub fn resources(tenant: &TenantId, kind: ResourceKind) -> String {
    match kind {
        ResourceKind::User => format!("T#{tenant}#USERS"),
        ResourceKind::Group => format!("T#{tenant}#GROUPS"),
    }
}

pub fn settings(tenant: &TenantId) -> String {
    format!("T#{tenant}#SETTINGS")
}

/// The partition of a tenant's soft-deleted users, apart from the listing so that lists and
/// counters never see them.
pub fn deleted(tenant: &TenantId) -> String {
    format!("T#{tenant}#DELETED")
}

pub fn members(tenant: &TenantId, group_id: &str) -> String {
    format!("T#{tenant}#M#{group_id}")
}

pub fn index(tenant: &TenantId, kind: ResourceKind, attr: &str, normalised: &str) -> String {
    format!("T#{tenant}#X#{}#{attr}#{}", kind.name(), bounded(normalised))
}

/// A value as a key part: itself, or its SHA-256 when too long for a key.
fn bounded(normalised: &str) -> String {
    if normalised.len() > MAX_INLINE_VALUE {
        let digest = Sha256::digest(normalised.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("#sha256#{hex}")
    } else {
        normalised.to_string()
    }
}

/// The partition of a tenant's unmanaged accounts, by id: apart from `USERS`, so no SCIM read
/// (GET, list, filter) ever sees them.
pub fn unmanaged(tenant: &TenantId) -> String {
    format!("T#{tenant}#UNMANAGED")
}

/// The entry that says which live unmanaged account holds a match value (sort key
/// [`UNIQUE_SK`]): a user create checks it is absent in its own transaction.
pub fn unmanaged_index(tenant: &TenantId, attribute: MatchAttribute, normalised: &str) -> String {
    format!("T#{tenant}#UX#{}#{}", attribute.name(), bounded(normalised))
}

/// The partition of a tenant's conflicts, by conflict id.
pub fn conflicts(tenant: &TenantId) -> String {
    format!("T#{tenant}#CONFLICTS")
}

/// The partition of a tenant's log records that succeeded (`error` false) or failed (status
/// 400 and above): `--errors` reads only the second.
pub fn log(tenant: &TenantId, error: bool) -> String {
    if error {
        format!("L#{tenant}#LOGERR")
    } else {
        format!("L#{tenant}#LOG")
    }
}

/// A log record's sort key. Times are all [`scim_store::timestamp`]s of one length, and `#`
/// sorts before every character of one, so sort keys order exactly as [`LogCursor`]s do.
pub fn log_sk(time: &str, request_id: &str) -> String {
    format!("{time}#{request_id}")
}

/// Above every log sort key of `time` and below those of any later time: `$` sorts right after
/// `#`. The exclusive upper end of a window that includes `time`.
pub fn log_sk_after_time(time: &str) -> String {
    format!("{time}$")
}

/// The cursor of the log record with sort key `sk`.
pub fn log_cursor(sk: &str) -> Option<LogCursor> {
    let (time, request_id) = sk.split_once('#')?;
    Some(LogCursor {
        time: time.to_string(),
        request_id: request_id.to_string(),
    })
}

/// The [`LOG_INDEX`] partition of the records of resource `id`.
pub fn log_resource(tenant: &TenantId, id: &str) -> String {
    format!("L#{tenant}#R#{}", bounded(id))
}

/// The [`LOG_INDEX`] partition of the records without an id that name `name` (ignoring case,
/// as [`scim_store::ResourceFilter`] compares).
pub fn log_name(tenant: &TenantId, name: &str) -> String {
    format!("L#{tenant}#N#{}", bounded(&fold(name, false)))
}

/// The partition of a tenant's token uses, by token id.
pub fn token_uses(tenant: &TenantId) -> String {
    format!("L#{tenant}#TOKENS")
}

/// The counter shard a resource id counts in.
pub fn counter_shard(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    let shard = u32::from(digest.first().copied().unwrap_or(0)) % COUNTER_SHARDS;
    format!("{COUNTER_PREFIX}{shard:02}")
}

/// What an item is, told by its key: the stream processor reads every item of the table and
/// turns only resources and memberships into events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemKey {
    Resource {
        tenant: TenantId,
        kind: ResourceKind,
        id: String,
    },
    Membership {
        tenant: TenantId,
        group_id: String,
        member_id: String,
    },
}

/// The resource or membership an item's key names; `None` for counters, index entries and any
/// other item.
pub fn parse(pk: &str, sk: &str) -> Option<ItemKey> {
    // Tenant names never contain `#` (TenantId::new), so the first `#` after `T#` ends it.
    let (tenant, rest) = pk.strip_prefix("T#")?.split_once('#')?;
    let tenant = TenantId::new(tenant).ok()?;
    let kind = match rest {
        "USERS" => Some(ResourceKind::User),
        "GROUPS" => Some(ResourceKind::Group),
        _ => None,
    };
    match (kind, rest.strip_prefix("M#")) {
        (Some(kind), _) if !sk.starts_with('#') => Some(ItemKey::Resource {
            tenant,
            kind,
            id: sk.to_string(),
        }),
        (None, Some(group_id)) => Some(ItemKey::Membership {
            tenant,
            group_id: group_id.to_string(),
            member_id: sk.to_string(),
        }),
        _ => None,
    }
}

/// Whether a client-supplied id can name a stored resource at all (non-empty, bounded, no
/// control characters). Anything else is simply not found.
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control) && !id.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sort_before_ids_and_after_counters_bound() {
        for id in ["0", "00000000-0000-0000-0000-000000000000", "ffffffff", "A", "a"] {
            assert!(counter_shard("x").as_str() < AFTER_COUNTERS);
            assert!(AFTER_COUNTERS < id, "{id}");
        }
    }

    #[test]
    fn long_index_values_are_hashed() {
        let t = TenantId::new("t").unwrap_or_else(|_| unreachable!());
        let long = "x".repeat(5000);
        let k = index(&t, ResourceKind::User, "userName", &long);
        assert!(k.len() < 200, "{k}");
        assert_ne!(k, index(&t, ResourceKind::User, "userName", &"y".repeat(5000)));
        assert!(index(&t, ResourceKind::User, "userName", "bob").ends_with("#userName#bob"));
    }

    #[test]
    fn keys_parse_back_and_other_items_are_none() {
        let t = TenantId::new("acme-1").unwrap_or_else(|_| unreachable!());
        for kind in [ResourceKind::User, ResourceKind::Group] {
            assert_eq!(
                parse(&resources(&t, kind), "abc"),
                Some(ItemKey::Resource {
                    tenant: t.clone(),
                    kind,
                    id: "abc".into()
                })
            );
            assert_eq!(parse(&resources(&t, kind), &counter_shard("abc")), None);
        }
        assert_eq!(
            parse(&members(&t, "g1"), "u1"),
            Some(ItemKey::Membership {
                tenant: t.clone(),
                group_id: "g1".into(),
                member_id: "u1".into()
            })
        );
        assert_eq!(
            parse(&index(&t, ResourceKind::User, "userName", "bob"), UNIQUE_SK),
            None
        );
        assert_eq!(
            parse(&index(&t, ResourceKind::Group, "displayName", "g"), "id"),
            None
        );
        assert_eq!(parse("T#acme-1#SETTINGS", "#"), None);
        assert_eq!(parse("other", "x"), None);
    }

    #[test]
    fn implausible_ids() {
        assert!(plausible_id("2819c223-7f76-453a-919d-413861904646"));
        for bad in ["", "#N#00", "a\u{0}b", &"x".repeat(200)] {
            assert!(!plausible_id(bad), "{bad:?}");
        }
    }
}
