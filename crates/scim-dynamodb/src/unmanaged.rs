//! Existing (unmanaged) accounts and their conflicts ([`scim_store::unmanaged`]).
//!
//! - An account is an item in `T#<tenant>#UNMANAGED` (`v`, `c`, `m`, `a` as a user item, `sa`
//!   when set aside). It is never in `USERS`, so SCIM reads never see it.
//! - Each match value it holds (`userName`, primary email, lower case) has an entry
//!   `T#<tenant>#UX#<attr>#<value>` / `#` naming it. A user create puts a ConditionCheck
//!   `attribute_not_exists` on the entries of its own values into its transaction: a create that
//!   meets nothing costs no extra call, and one that meets an account learns its id from the
//!   cancellation reason (`ALL_OLD`).
//! - Import, adoption and set-aside change the account, its entries and (adoption) the managed
//!   user with its unique index items in one transaction, so a concurrent POST of the same
//!   `userName` meets either the unmanaged entry or the managed unique item, never neither.
//! - A conflict is an item in `T#<tenant>#CONFLICTS` keyed by its deterministic id; a retry is
//!   one UpdateItem (`ADD` of the attempt count).

use crate::calls::{build_error, old_version};
use crate::record::{attr, get_n, get_s, n, now, origin, s, with_origin, Item, Rec};
use crate::{error, keys, DynamoStore, Failure, Role};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    ConditionCheck, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use scim_store::unmanaged::{self, check_resolution, conflict_of};
use scim_store::{
    Conflict, ConflictScope, ConflictStatus, Expect, MatchAttribute, Resolution, ResourceKind, StoreError,
    StoredResource, TenantId, UnmanagedAccount, UnmanagedMatch, UnmanagedStore,
};
use serde_json::{Map, Value};

/// Item attributes of unmanaged accounts and conflicts (beside `v`, `c`, `m`, `a` of
/// [`attr`]).
pub(crate) mod field {
    /// When the account was set aside.
    pub const SET_ASIDE: &str = "sa";
    /// Conflict: the unmanaged account's id.
    pub const ACCOUNT: &str = "acc";
    pub const MATCHED_ATTRIBUTE: &str = "ma";
    pub const MATCHED_VALUE: &str = "mval";
    pub const USER_NAME: &str = "un";
    pub const FIRST: &str = "f";
    pub const LAST: &str = "l";
    pub const ATTEMPTS: &str = "n";
    pub const STATUS: &str = "st";
    pub const RESOLVED: &str = "rs";
}

/// Attempts of an administrator's resolution that lost a race with a retry of the POST.
const ATTEMPTS: usize = 3;

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "an unmanaged account or conflict item is malformed: {what}"
    ))
}

fn json_object(text: Option<&str>, what: &str) -> Result<Map<String, Value>, StoreError> {
    match text.map(serde_json::from_str) {
        Some(Ok(Value::Object(m))) => Ok(m),
        _ => Err(corrupt(what)),
    }
}

fn account_from_item(item: &Item) -> Result<UnmanagedAccount, StoreError> {
    Ok(UnmanagedAccount {
        id: get_s(item, keys::SK).ok_or_else(|| corrupt("no id"))?.to_string(),
        version: get_n(item, attr::VERSION)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| corrupt("no version"))?,
        created: get_s(item, attr::CREATED).unwrap_or_default().to_string(),
        last_modified: get_s(item, attr::MODIFIED).unwrap_or_default().to_string(),
        attrs: json_object(get_s(item, attr::ATTRS), "attributes")?,
        set_aside: get_s(item, field::SET_ASIDE).map(str::to_string),
    })
}

fn conflict_from_item(item: &Item) -> Result<Conflict, StoreError> {
    let text = |name: &str| get_s(item, name).map(str::to_string).ok_or_else(|| corrupt(name));
    Ok(Conflict {
        id: text(keys::SK)?,
        unmanaged_id: text(field::ACCOUNT)?,
        matched_attribute: get_s(item, field::MATCHED_ATTRIBUTE)
            .and_then(MatchAttribute::parse)
            .ok_or_else(|| corrupt("matched attribute"))?,
        matched_value: text(field::MATCHED_VALUE)?,
        user_name: text(field::USER_NAME)?,
        posted: json_object(get_s(item, attr::ATTRS), "posted attributes")?,
        first_attempt: text(field::FIRST)?,
        last_attempt: text(field::LAST)?,
        attempts: get_n(item, field::ATTEMPTS)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| corrupt("attempts"))?,
        status: get_s(item, field::STATUS)
            .and_then(ConflictStatus::parse)
            .ok_or_else(|| corrupt("status"))?,
        resolved: get_s(item, field::RESOLVED).map(str::to_string),
    })
}

/// The match a found (or, in a cancelled transaction, returned) match entry says.
fn matched(
    attribute: MatchAttribute,
    value: String,
    entry: Option<&Item>,
) -> Result<UnmanagedMatch, StoreError> {
    let account = entry
        .and_then(|i| get_s(i, attr::ID))
        .ok_or_else(|| corrupt("a match entry without an account id"))?;
    Ok(UnmanagedMatch {
        account: account.to_string(),
        attribute,
        value,
    })
}

impl DynamoStore {
    /// ConditionChecks that no live unmanaged account holds any of `attrs`' match values (other
    /// than `except`'s own entries, which its transaction changes itself).
    pub(crate) fn unmanaged_checks(
        &self,
        tenant: &TenantId,
        attrs: &Map<String, Value>,
        except: &[(MatchAttribute, String)],
    ) -> Result<Vec<(TransactWriteItem, Role)>, StoreError> {
        unmanaged::match_keys(attrs)
            .into_iter()
            .filter(|k| !except.contains(k))
            .map(|(attribute, value)| {
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(
                        keys::unmanaged_index(tenant, attribute, &value),
                        keys::UNIQUE_SK,
                    )))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", keys::PK)
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                    .build()
                    .map_err(build_error)?;
                Ok((
                    TransactWriteItem::builder().condition_check(check).build(),
                    Role::Unmanaged(attribute, value),
                ))
            })
            .collect()
    }

    /// The store error of a failed transaction item that is an unmanaged entry, if it is one.
    pub(crate) fn unmanaged_failure(failure: &Failure) -> Option<StoreError> {
        match failure {
            Failure::Condition {
                role: Role::Unmanaged(attribute, value),
                old,
            } => Some(
                matched(*attribute, value.clone(), old.as_ref())
                    .map_or_else(|e| e, StoreError::UnmanagedMatch),
            ),
            _ => None,
        }
    }

    fn entry_key(tenant: &TenantId, (attribute, value): &(MatchAttribute, String)) -> Item {
        Self::key(keys::unmanaged_index(tenant, *attribute, value), keys::UNIQUE_SK)
    }

    async fn read_conflict(&self, tenant: &TenantId, id: &str) -> Result<Conflict, StoreError> {
        if !keys::plausible_id(id) {
            return Err(StoreError::NotFound);
        }
        self.get_consistent(keys::conflicts(tenant), id)
            .await?
            .as_ref()
            .map(conflict_from_item)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl UnmanagedStore for DynamoStore {
    /// One TransactWriteItems: the account, its match entries (each conditional on being
    /// free), and a ConditionCheck that no managed user holds its unique values.
    async fn import_unmanaged(
        &self,
        tenant: &TenantId,
        attrs: Map<String, Value>,
    ) -> Result<UnmanagedAccount, StoreError> {
        let attrs = unmanaged::importable(attrs)?;
        let id = uuid::Uuid::new_v4().to_string();
        let at = now();
        let mut items = Vec::new();
        for e in self.index_entries(tenant, ResourceKind::User, &id, &attrs) {
            if e.unique {
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(e.pk.clone(), e.sk.clone())))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", keys::PK)
                    .build()
                    .map_err(build_error)?;
                items.push((
                    TransactWriteItem::builder().condition_check(check).build(),
                    Role::Unique(e.label.clone()),
                ));
            }
        }
        let mut item = Self::key(keys::unmanaged(tenant), &id);
        item.insert(attr::VERSION.into(), n(1));
        item.insert(attr::CREATED.into(), s(&at));
        item.insert(attr::MODIFIED.into(), s(&at));
        item.insert(attr::ATTRS.into(), s(Value::Object(attrs.clone()).to_string()));
        items.push((self.put(item, Some("attribute_not_exists(#pk)"))?, Role::Target));
        for key in unmanaged::match_keys(&attrs) {
            let mut entry = Self::entry_key(tenant, &key);
            entry.insert(attr::ID.into(), s(&id));
            items.push((
                self.put(entry, Some("attribute_not_exists(#pk)"))?,
                Role::Unmanaged(key.0, key.1),
            ));
        }
        match self.transact(items).await {
            Ok(()) => Ok(UnmanagedAccount {
                id,
                version: 1,
                created: at.clone(),
                last_modified: at,
                attrs,
                set_aside: None,
            }),
            Err(f) => Err(Self::unmanaged_failure(&f).unwrap_or_else(|| match f {
                Failure::Condition {
                    role: Role::Unique(attribute),
                    ..
                } => StoreError::Uniqueness { attribute },
                // A UUID collision: as unlikely as it gets; the operator runs the import again.
                Failure::Condition { .. } => StoreError::Unavailable("the new account id was taken".into()),
                Failure::Store(e) => e,
            })),
        }
    }

    /// One BatchGetItem of the (at most two) match entries.
    async fn find_unmanaged(
        &self,
        tenant: &TenantId,
        attrs: &Map<String, Value>,
    ) -> Result<Option<UnmanagedMatch>, StoreError> {
        let wanted = unmanaged::match_keys(attrs);
        if wanted.is_empty() {
            return Ok(None);
        }
        let pks: Vec<(String, String)> = wanted
            .iter()
            .map(|(a, v)| (keys::unmanaged_index(tenant, *a, v), keys::UNIQUE_SK.to_string()))
            .collect();
        let found = self.batch_get(pks.clone(), None).await?;
        for ((attribute, value), key) in wanted.into_iter().zip(pks) {
            if let Some(item) = found.get(&key) {
                return matched(attribute, value, Some(item)).map(Some);
            }
        }
        Ok(None)
    }

    /// One strongly consistent GetItem.
    async fn get_unmanaged(&self, tenant: &TenantId, id: &str) -> Result<UnmanagedAccount, StoreError> {
        if !keys::plausible_id(id) {
            return Err(StoreError::NotFound);
        }
        self.get_consistent(keys::unmanaged(tenant), id)
            .await?
            .as_ref()
            .map(account_from_item)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    /// One TransactWriteItems: the account item and its match entries go, the user item, its
    /// index items (unique ones conditional) and a counter increment come, all or nothing.
    async fn adopt_unmanaged(
        &self,
        tenant: &TenantId,
        account: &UnmanagedAccount,
        expect: Expect,
        attrs: Map<String, Value>,
    ) -> Result<StoredResource, StoreError> {
        let attrs = scim_store::stored_attributes(attrs);
        let id = account.id.as_str();
        if !keys::plausible_id(id) {
            return Err(StoreError::NotFound);
        }
        expect.check(account.version)?;
        let version = account.version + 1;
        let modified = now().max(account.last_modified.clone());
        let own = unmanaged::match_keys(&account.attrs);
        let mut items = vec![(
            self.delete(
                Self::key(keys::unmanaged(tenant), id),
                Some((
                    "v = :v AND attribute_not_exists(sa)",
                    vec![(":v", n(account.version as i64))],
                )),
            )?,
            Role::Target,
        )];
        for key in &own {
            items.push((self.delete(Self::entry_key(tenant, key), None)?, Role::Other));
        }
        let rec = Rec {
            id: id.to_string(),
            kind: ResourceKind::User,
            version,
            membership_version: 0,
            created: account.created.clone(),
            modified,
            attrs,
            groups: Default::default(),
            parents: Default::default(),
            fanout: None,
            fanout_after: None,
            fanout_lease: None,
            left: Default::default(),
        };
        let item = with_origin(self.resource_item(tenant, &rec), origin::ADOPTED);
        items.push((self.put(item, Some("attribute_not_exists(#pk)"))?, Role::Other));
        for e in self.index_entries(tenant, ResourceKind::User, id, &rec.attrs) {
            items.push(self.index_put(&e, id)?);
        }
        items.push((self.counter(tenant, ResourceKind::User, id, 1)?, Role::Other));
        items.extend(self.unmanaged_checks(tenant, &rec.attrs, &own)?);
        match self.transact(items).await {
            Ok(()) => {
                self.remember(tenant, &rec);
                Ok(rec.stored(false))
            }
            Err(f) => Err(Self::unmanaged_failure(&f).unwrap_or_else(|| match f {
                Failure::Condition {
                    role: Role::Target,
                    old,
                } => match (&old, old_version(&old)) {
                    (Some(item), Some(current)) if get_s(item, field::SET_ASIDE).is_none() => {
                        StoreError::VersionConflict { current }
                    }
                    _ => StoreError::NotFound,
                },
                Failure::Condition {
                    role: Role::Unique(attribute),
                    ..
                } => StoreError::Uniqueness { attribute },
                // The user item exists: the account was adopted already.
                Failure::Condition { .. } => StoreError::NotFound,
                Failure::Store(e) => e,
            })),
        }
    }

    /// One UpdateItem: created on the first attempt, counted on every later one.
    async fn record_conflict(
        &self,
        tenant: &TenantId,
        found: &UnmanagedMatch,
        posted: &Map<String, Value>,
    ) -> Result<Conflict, StoreError> {
        let (id, user_name) = conflict_of(&found.account, posted);
        let at = now();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(keys::conflicts(tenant), id)))
            .update_expression(
                "SET #acc = :acc, #ma = :ma, #mval = :mval, #un = :un, #a = :a, \
                 #f = if_not_exists(#f, :now), #l = :now, #st = if_not_exists(#st, :open) ADD #n :one",
            )
            .expression_attribute_names("#acc", field::ACCOUNT)
            .expression_attribute_names("#ma", field::MATCHED_ATTRIBUTE)
            .expression_attribute_names("#mval", field::MATCHED_VALUE)
            .expression_attribute_names("#un", field::USER_NAME)
            .expression_attribute_names("#a", attr::ATTRS)
            .expression_attribute_names("#f", field::FIRST)
            .expression_attribute_names("#l", field::LAST)
            .expression_attribute_names("#st", field::STATUS)
            .expression_attribute_names("#n", field::ATTEMPTS)
            .expression_attribute_values(":acc", s(&found.account))
            .expression_attribute_values(":ma", s(found.attribute.name()))
            .expression_attribute_values(":mval", s(&found.value))
            .expression_attribute_values(":un", s(&user_name))
            .expression_attribute_values(":a", s(Value::Object(posted.clone()).to_string()))
            .expression_attribute_values(":now", s(&at))
            .expression_attribute_values(":open", s(ConflictStatus::Open.name()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| error::sdk("UpdateItem", e))?;
        out.attributes()
            .ok_or_else(|| corrupt("UpdateItem returned no conflict"))
            .and_then(conflict_from_item)
    }

    /// Query pages over the tenant's conflicts (a handful; no bound needed).
    async fn list_conflicts(
        &self,
        tenant: &TenantId,
        scope: ConflictScope,
    ) -> Result<Vec<Conflict>, StoreError> {
        let pk = keys::conflicts(tenant);
        let mut after: Option<String> = None;
        let mut listed = Vec::new();
        loop {
            let (items, more) = self.query_page(&pk, after.as_deref(), 1000, None).await?;
            for item in &items {
                let c = conflict_from_item(item)?;
                if scope.includes(&c) {
                    listed.push(c);
                }
            }
            after = items.last().and_then(|i| get_s(i, keys::SK)).map(str::to_string);
            if !more || after.is_none() {
                return Ok(listed);
            }
        }
    }

    /// Reads the conflict (and, to reject, its account), then one write conditional on the
    /// conflict still being open: an UpdateItem to link, a TransactWriteItems to reject (the
    /// conflict, the account marked set aside, its match entries released).
    async fn resolve_conflict(
        &self,
        tenant: &TenantId,
        id: &str,
        resolution: Resolution,
    ) -> Result<Conflict, StoreError> {
        for _ in 0..ATTEMPTS {
            let conflict = self.read_conflict(tenant, id).await?;
            if !check_resolution(&conflict, resolution)? {
                return Ok(conflict);
            }
            let at = now();
            let status = match resolution {
                Resolution::Link => ConflictStatus::Approved,
                Resolution::Reject => ConflictStatus::Rejected,
            };
            let mut items = vec![(
                self.update(
                    Self::key(keys::conflicts(tenant), id),
                    "SET #st = :st, #rs = :rs",
                    Some("#st = :open"),
                    vec![("#st", field::STATUS), ("#rs", field::RESOLVED)],
                    vec![
                        (":st", s(status.name())),
                        (":rs", s(&at)),
                        (":open", s(ConflictStatus::Open.name())),
                    ],
                )?,
                Role::Target,
            )];
            if resolution == Resolution::Reject {
                match self.get_unmanaged(tenant, &conflict.unmanaged_id).await {
                    Ok(account) if account.set_aside.is_none() => {
                        items.push((
                            self.update(
                                Self::key(keys::unmanaged(tenant), &account.id),
                                "SET sa = :at, m = :m, v = :nv",
                                Some("v = :v AND attribute_not_exists(sa)"),
                                vec![],
                                vec![
                                    (":at", s(&at)),
                                    (":m", s(at.clone().max(account.last_modified.clone()))),
                                    (":v", n(account.version as i64)),
                                    (":nv", n(account.version as i64 + 1)),
                                ],
                            )?,
                            Role::Other,
                        ));
                        for key in unmanaged::match_keys(&account.attrs) {
                            items.push((self.delete(Self::entry_key(tenant, &key), None)?, Role::Other));
                        }
                    }
                    // Already adopted or set aside: only the conflict changes.
                    Ok(_) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            match self.transact(items).await {
                Ok(()) => {
                    return Ok(Conflict {
                        status,
                        resolved: Some(at),
                        ..conflict
                    })
                }
                // A retry of the POST, or the other administrator, was first: decide again.
                Err(Failure::Condition { .. }) => continue,
                Err(Failure::Store(e)) => return Err(e),
            }
        }
        Err(StoreError::Throttled {
            retry_after_secs: error::RETRY_AFTER_SECS,
        })
    }
}
