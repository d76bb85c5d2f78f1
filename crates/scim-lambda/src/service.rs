//! What each SCIM operation does, between the typed HTTP inputs and the [`Store`]: protocol work
//! is delegated to `scim_proto`, storage to the store. Nothing here knows HTTP.

use crate::error::{ApiError, ApiResult};
use crate::provisioning_log::{note_target, note_write};
use crate::shape::ResponseShape;
use crate::state::AppState;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use scim_proto::list::ListLimits;
use scim_proto::patch::{apply_patch, MemberDelta, PatchLimits, PatchOptions, PatchRequest};
use scim_proto::project::written_attributes;
use scim_proto::resource::{self, NormalizeOptions, PasswordPolicy};
use scim_proto::{etag, hint, ResourceSchema, ScimError};
use scim_store::wire::{self, MEMBERS};
use scim_store::{
    effective_access, Conflict, CreateOutcome, DeleteMode, Expect, Include, MemberChange, ResourceKind,
    StoreError, StoredResource, TenantId, TenantSettings,
};
use serde_json::{Map, Value};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// How many users of a list page have their effective access computed at a time.
const ACCESS_CONCURRENCY: usize = 8;
/// How often a PUT or PATCH that lost a race with another writer is re-applied to the fresh
/// resource before the client is asked to retry. Between attempts it waits a random, growing
/// while (`backoff`), so writers that collided do not collide again in step.
const WRITE_ATTEMPTS: u32 = 10;

/// A random wait before re-applying a write that lost a race: up to 5 ms × 2^attempt, at most
/// 160 ms.
async fn backoff(attempt: u32) {
    let mut b = [0u8; 2];
    let r = if getrandom::fill(&mut b).is_ok() {
        u64::from(u16::from_le_bytes(b))
    } else {
        0
    };
    let ceiling = 5u64 << attempt.min(5);
    tokio::time::sleep(std::time::Duration::from_millis(r % ceiling.max(1))).await;
}

/// A resource's next attributes and member change, as computed by a PUT or PATCH.
type NewState = (Map<String, Value>, MemberChange);

/// A resource as a response carries it.
#[derive(Debug)]
pub struct Shown {
    /// For `Location` (RFC 7644 §3.3).
    pub id: String,
    /// The version the `ETag` names (RFC 7644 §3.14).
    pub version: u64,
    /// The rendered, projected resource; `None` when the request wanted no body.
    pub body: Option<Value>,
}

/// What to load beyond the resource item: nothing when no body is shown.
fn include_of(shape: Option<&ResponseShape>) -> Include {
    shape.map_or(Include::NONE, |s| s.include)
}

/// One operation's context: who acts, on which resource type, under which base URL.
#[derive(Debug)]
pub struct Service<'a> {
    pub state: &'a AppState,
    pub tenant: &'a TenantId,
    pub kind: ResourceKind,
    pub base_url: &'a str,
}

impl<'a> Service<'a> {
    pub fn schema(&self) -> ResourceSchema<'a> {
        schema_of(self.state, self.kind)
    }

    fn normalize_options(&self) -> NormalizeOptions {
        NormalizeOptions {
            password: self.state.config.password,
            limits: self.state.config.value_limits,
        }
    }

    /// Whether protocol work on `body` may hash a password: the policy hashes and the body
    /// names a `writeOnly` attribute somewhere (a key, or a PATCH `path`).
    fn may_hash(&self, body: &Value) -> bool {
        self.state.config.password == PasswordPolicy::Hash
            && resource::mentions_write_only(body, &self.schema())
    }

    pub fn list_limits(&self) -> ListLimits {
        list_limits(self.state)
    }

    /// Runs protocol work on the blocking pool: normalising or patching may hash a password with
    /// argon2id (tens of milliseconds of CPU), which must not stall the async workers serving
    /// other requests.
    ///
    /// Work that `may_hash` first waits for one of [`hash_permits`]: argon2id takes 19 MiB per
    /// hash, so a burst of password writes queues here instead of exhausting memory.
    async fn off_thread<T: Send + 'static>(
        &self,
        may_hash: bool,
        work: impl FnOnce(&ResourceSchema<'_>, &NormalizeOptions) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let (state, kind, options) = (self.state.clone(), self.kind, self.normalize_options());
        let permit = match may_hash {
            true => Some(hash_permits().acquire().await.map_err(|e| {
                ApiError::from(ScimError::new(
                    500,
                    None,
                    format!("password hashing unavailable: {e}"),
                ))
            })?),
            false => None,
        };
        tokio::task::spawn_blocking(move || {
            let before = resource::password_hashes_on_this_thread();
            let done = work(&schema_of(&state, kind), &options);
            let hashes = resource::password_hashes_on_this_thread() - before;
            tracing::debug!(password_hashes = hashes, "protocol work done");
            drop(permit);
            done
        })
        .await
        .map_err(|e| {
            // A panic's message may quote request data or internals: it goes to the log only.
            tracing::error!(error = %e, "request processing failed");
            ApiError::from(ScimError::new(500, None, "request processing failed"))
        })?
    }

    /// RFC 7644 §3.3: POST creates a resource, shown as `shape` says.
    pub async fn create(&self, body: &Value, shape: &ResponseShape) -> ApiResult<Shown> {
        note_target(self.kind, None, Some(body));
        let include = shape.include;
        let may_hash = self.may_hash(body);
        let body = body.clone();
        let (attrs, members, written) = self
            .off_thread(may_hash, move |schema, options| {
                let mut attrs = resource::normalize(&body, schema, options)?;
                resource::check_required(&attrs, schema)?;
                let members = take_members(&mut attrs)?;
                let written = written_attributes(&attrs, schema);
                Ok((attrs, members, written))
            })
            .await?;
        let has_members = !members.add.is_empty();
        let logged_members = members.clone();
        let mut created = match self.kind {
            // A user may meet an existing (unmanaged) account: the tenant's conflict policy
            // decides between adopting it and a 409 for review.
            ResourceKind::User => {
                match scim_store::create_user(&*self.state.store, self.tenant, attrs).await? {
                    CreateOutcome::Created(user) | CreateOutcome::Adopted(user) => user,
                    CreateOutcome::Conflict(conflict) => return Err(conflict_error(&conflict).into()),
                }
            }
            ResourceKind::Group => {
                self.state
                    .store
                    .create(self.tenant, self.kind, attrs, members)
                    .await?
            }
        };
        note_write(self.kind, &self.schema(), None, &created, &logged_members);
        // A new user belongs to no group yet; a new group's members are read back as stored.
        created.groups = include.groups.then(Vec::new);
        created.members = include.members.then(Vec::new);
        if include.members && has_members {
            created = self.read_back(&created.id, include).await?;
        }
        self.show(created, Some(&shape.for_write(&written))).await
    }

    /// RFC 7644 §3.4.1: GET of one resource, shown as `shape` says; `None` (304) when
    /// `If-None-Match` names the current version (RFC 7644 §3.14), before any rendering work.
    pub async fn get(
        &self,
        id: &str,
        if_none_match: Option<&str>,
        shape: &ResponseShape,
    ) -> ApiResult<Option<Shown>> {
        note_target(self.kind, Some(id), None);
        let r = self.load(id, shape.include).await?;
        if etag::if_none_match_hits(if_none_match, r.version) {
            return Ok(None);
        }
        Ok(Some(self.show(r, Some(shape)).await?))
    }

    async fn load(&self, id: &str, include: Include) -> ApiResult<StoredResource> {
        Ok(self.state.store.get(self.tenant, self.kind, id, include).await?)
    }

    /// Reads the resource a write is based on. A user's groups are read with it (the write does
    /// not change them, so the response reuses them); a group's members are not.
    async fn read_for_write(&self, id: &str, include: Include) -> ApiResult<StoredResource> {
        self.load(
            id,
            Include {
                members: false,
                ..include
            },
        )
        .await
    }

    /// The response state after a write: groups carried over, members read back when shown.
    async fn after_write(
        &self,
        mut updated: StoredResource,
        before: &StoredResource,
        include: Include,
    ) -> ApiResult<StoredResource> {
        updated.groups = before.groups.clone();
        if include.members {
            updated = self.read_back(&updated.id, include).await?;
        }
        Ok(updated)
    }

    /// The state a write answers with. A group with more members than a response may carry
    /// (`SCIM_MAX_INLINE_MEMBERS`) is answered without `members`, as if the client had asked
    /// with `excludedAttributes=members`: the write succeeded, so an error would be wrong, and a
    /// shortened list would be worse. A GET of that group answers 400 `tooMany` instead.
    async fn read_back(&self, id: &str, include: Include) -> ApiResult<StoredResource> {
        match self.state.store.get(self.tenant, self.kind, id, include).await {
            Err(StoreError::TooManyMembers { .. }) => {
                let without = Include {
                    members: false,
                    ..include
                };
                Ok(self.state.store.get(self.tenant, self.kind, id, without).await?)
            }
            other => Ok(other?),
        }
    }

    /// RFC 7644 §3.5.1: PUT replaces every writable attribute; members in a group PUT replace
    /// the member list (absent means none, as for any attribute PUT omits).
    pub async fn replace(
        &self,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        shape: &ResponseShape,
    ) -> ApiResult<Shown> {
        note_target(self.kind, Some(id), None);
        let may_hash = self.may_hash(body);
        let body = body.clone();
        let (incoming, mut members, written) = self
            .off_thread(may_hash, move |schema, options| {
                let mut incoming = resource::normalize(&body, schema, options)?;
                let members = take_members(&mut incoming)?;
                let written = written_attributes(&incoming, schema);
                Ok((incoming, members, written))
            })
            .await?;
        members.replace_all = self.kind == ResourceKind::Group;
        let replaced = self
            .write(id, if_match, shape.include, false, move |existing, schema, _| {
                let attrs = resource::merge_for_put(&existing.attrs, incoming.clone(), schema)?;
                resource::check_required(&attrs, schema)?;
                Ok(Some((attrs, members.clone())))
            })
            .await?;
        self.show(replaced, Some(&shape.for_write(&written))).await
    }

    /// RFC 7644 §3.5.2: PATCH, applied atomically by the scim-proto engine; group member
    /// changes reach the store as a delta, never as a rewritten member list. Without a `shape`
    /// the answer carries no body.
    pub async fn patch(
        &self,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        shape: Option<&ResponseShape>,
    ) -> ApiResult<Shown> {
        let limits = PatchLimits {
            max_member_changes: self.state.config.value_limits.members,
            ..PatchLimits::default()
        };
        note_target(self.kind, Some(id), None);
        let request = PatchRequest::from_json(body, &limits)?;
        let shape = shape.map(|s| s.for_write(&request.named_attributes(&self.schema())));
        let may_hash = self.may_hash(body);
        let mut options = match self.kind {
            ResourceKind::Group => PatchOptions::with_detached_members(),
            ResourceKind::User => PatchOptions::default(),
        };
        options.normalize = self.normalize_options();
        let written = self
            .write(
                id,
                if_match,
                include_of(shape.as_ref()),
                may_hash,
                move |existing, schema, _| {
                    let mut attrs = existing.attrs.clone();
                    let outcome = apply_patch(&mut attrs, &request, schema, &options)?;
                    let members = member_change_from_delta(outcome.members)?;
                    Ok((outcome.modified || !members.is_empty()).then_some((attrs, members)))
                },
            )
            .await?;
        self.show(written, shape.as_ref()).await
    }

    /// Reads the resource, computes its new state with `change` on the blocking pool (`None`:
    /// nothing to write) and writes it conditionally on the version read ([`Expect::Based`]: a
    /// group member delta goes on top of member changes made meanwhile). A write that loses a
    /// race with another writer is recomputed on the fresh resource, so concurrent IdP updates
    /// never lose a change; when the client pinned a version with `If-Match`, a lost race is its
    /// 412 instead.
    async fn write(
        &self,
        id: &str,
        if_match: Option<&str>,
        include: Include,
        may_hash: bool,
        change: impl Fn(&StoredResource, &ResourceSchema<'_>, &NormalizeOptions) -> ApiResult<Option<NewState>>
            + Send
            + Sync
            + 'static,
    ) -> ApiResult<StoredResource> {
        let change = Arc::new(change);
        for attempt in 0..WRITE_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let existing = self.read_for_write(id, include).await?;
            etag::check_if_match(if_match, existing.version)?;
            let (change, read) = (change.clone(), existing.clone());
            let computed = self
                .off_thread(may_hash, move |schema, options| change(&read, schema, options))
                .await?;
            let Some((attrs, members)) = computed else {
                return self.after_write(existing.clone(), &existing, include).await;
            };
            // A pinned version (If-Match) refuses any change since; our own read only refuses
            // what the change depends on, so member deltas of one group do not refuse each other.
            let expect = match if_match {
                Some(_) => Expect::Version(existing.version),
                None => Expect::Based(existing.version),
            };
            let logged_members = members.clone();
            match self
                .state
                .store
                .update(self.tenant, self.kind, id, expect, attrs, members)
                .await
            {
                Ok(updated) => {
                    note_write(
                        self.kind,
                        &self.schema(),
                        Some(&existing.attrs),
                        &updated,
                        &logged_members,
                    );
                    return self.after_write(updated, &existing, include).await;
                }
                Err(StoreError::VersionConflict { .. }) if if_match.is_none() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError {
            error: ScimError::new(
                503,
                None,
                "the resource is being changed by other requests; retry",
            ),
            retry_after: Some(1),
            www_authenticate: false,
        })
    }

    /// RFC 7644 §3.6: DELETE. A user is deleted as the tenant's `delete_mode` says: `soft` (the
    /// default) keeps it restorable for `retention_days` (`scimctl users restore`), `hard` keeps
    /// nothing. Either way the client sees the resource gone (§3.6: later requests answer 404).
    /// Groups are always deleted for good.
    pub async fn delete(&self, id: &str, if_match: Option<&str>) -> ApiResult<()> {
        note_target(self.kind, Some(id), None);
        let expect = match if_match {
            None => Expect::Any,
            Some(_) => {
                let existing = self.load(id, Include::NONE).await?;
                etag::check_if_match(if_match, existing.version)?;
                Expect::Version(existing.version)
            }
        };
        let store = &self.state.store;
        if self.kind == ResourceKind::User {
            let settings = store.settings(self.tenant).await?.settings;
            if settings.delete_mode == DeleteMode::Soft {
                let purge_after =
                    scim_store::now() + time::Duration::days(i64::from(settings.retention_days));
                return store
                    .delete_user_soft(self.tenant, id, expect, purge_after)
                    .await
                    .map_err(ApiError::from);
            }
        }
        store
            .delete(self.tenant, self.kind, id, expect)
            .await
            .map_err(ApiError::from)
    }

    /// Renders and projects resources for a response. When the shape names the access
    /// extension (`returned: request`, RFC 7643 §7), each user's effective groups and roles are
    /// computed (the tenant's settings read once) and rendered with it; they are never stored.
    pub async fn present(
        &self,
        resources: Vec<StoredResource>,
        shape: &ResponseShape,
    ) -> ApiResult<Vec<Value>> {
        let schema = self.schema();
        let project = |r: StoredResource| Value::Object(shape.projection.apply(self.render(r), &schema));
        if resources.is_empty() || !shape.access {
            return Ok(resources.into_iter().map(project).collect());
        }
        let settings = self.state.store.settings(self.tenant).await?.settings;
        // Futures made in a loop, not a closure: a closure over borrowed resources makes the
        // handler future not provably `Send` for every lifetime (rust-lang/rust#64552).
        let mut pending = Vec::with_capacity(resources.len());
        for r in resources {
            pending.push(self.with_access(r, &settings));
        }
        let with_access: Vec<StoredResource> = stream::iter(pending)
            .buffered(ACCESS_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(with_access.into_iter().map(project).collect())
    }

    /// One resource as a response carries it; no body without a shape.
    async fn show(&self, r: StoredResource, shape: Option<&ResponseShape>) -> ApiResult<Shown> {
        let (id, version) = (r.id.clone(), r.version);
        let body = match shape {
            Some(shape) => Some(self.present(vec![r], shape).await?.pop().unwrap_or_default()),
            None => None,
        };
        Ok(Shown { id, version, body })
    }

    /// A user with its effective access attached for rendering.
    async fn with_access(
        &self,
        mut user: StoredResource,
        settings: &TenantSettings,
    ) -> Result<StoredResource, StoreError> {
        let access = effective_access(self.state.store.as_ref(), self.tenant, &user, settings).await?;
        access.attach(&mut user);
        Ok(user)
    }

    /// The full wire representation (RFC 7643 §3) of a stored resource.
    pub fn render(&self, r: StoredResource) -> Map<String, Value> {
        wire::render(&self.state.registry, self.base_url, r)
    }

    /// `meta.location` of a resource (RFC 7644 §3.1).
    pub fn location(&self, kind: ResourceKind, id: &str) -> String {
        wire::location(&self.state.registry, self.base_url, kind, id)
    }
}

/// The argon2id hashes that may run at once in this process: one per core, since each is pure
/// CPU and memory work.
fn hash_permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        Semaphore::new(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
    })
}

/// The schema view of a resource kind; both kinds are in every registry the service builds.
pub fn schema_of(state: &AppState, kind: ResourceKind) -> ResourceSchema<'_> {
    wire::schema_of(&state.registry, kind)
}

pub fn list_limits(state: &AppState) -> ListLimits {
    ListLimits {
        max_count: state.config.max_page_size,
        default_count: state.config.default_page_size,
    }
}

/// RFC 7644 §3.3: a create whose unique value is taken is 409 `uniqueness`. Here the holder is
/// an account SCIM does not manage; the detail names the conflict an administrator decides on.
fn conflict_error(conflict: &Conflict) -> ScimError {
    ScimError::uniqueness(format!(
        "{} '{}' belongs to an existing account that SCIM does not manage; an administrator must \
         review conflict {} (scimctl conflicts list) before this user can be provisioned",
        conflict.matched_attribute.name(),
        conflict.matched_value,
        conflict.id
    ))
}

fn member_kind(ty: Option<&str>) -> ApiResult<Option<ResourceKind>> {
    match ty {
        None => Ok(None),
        Some(t) if t.eq_ignore_ascii_case("User") => Ok(Some(ResourceKind::User)),
        Some(t) if t.eq_ignore_ascii_case("Group") => Ok(Some(ResourceKind::Group)),
        Some(t) => Err(
            ScimError::invalid_value(format!("member type '{t}' is neither 'User' nor 'Group'"))
                .with_hint(hint::CLIENT_FAULT)
                .into(),
        ),
    }
}

/// Moves a normalised `members` attribute out of a group's attributes into a member change.
fn take_members(attrs: &mut Map<String, Value>) -> ApiResult<MemberChange> {
    let mut change = MemberChange::default();
    if let Some(Value::Array(members)) = attrs.remove(MEMBERS) {
        for m in members {
            let value = m.get("value").and_then(Value::as_str).ok_or_else(|| {
                ApiError::from(
                    ScimError::invalid_value("every member needs a 'value' with the member's id")
                        .with_hint(hint::CLIENT_FAULT),
                )
            })?;
            change.add.push((
                value.to_string(),
                member_kind(m.get("type").and_then(Value::as_str))?,
            ));
        }
    }
    Ok(change)
}

fn member_change_from_delta(delta: MemberDelta) -> ApiResult<MemberChange> {
    let add = delta
        .add
        .into_iter()
        .map(|m| Ok((m.value, member_kind(m.ty.as_deref())?)))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(MemberChange {
        replace_all: delta.replace_all,
        remove: delta.remove,
        add,
    })
}

#[cfg(test)]
mod tests {
    /// A burst of password writes queues on one permit per core.
    #[tokio::test]
    async fn hash_permits_are_one_per_core() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let permits = super::hash_permits();
        assert_eq!(permits.available_permits(), cores);
        let held: Vec<_> = futures_util::future::join_all((0..cores).map(|_| permits.acquire()))
            .await
            .into_iter()
            .collect();
        assert_eq!(permits.available_permits(), 0);
        assert!(permits.try_acquire().is_err(), "the next hash waits");
        drop(held);
        assert_eq!(permits.available_permits(), cores);
    }
}
