//! What a response shows of each resource, computed once per request and resource type from
//! `attributes` / `excludedAttributes` (RFC 7644 §3.9), and what the store must load for it.

use crate::error::ApiResult;
use crate::state::AppState;
use scim_proto::list::ListQuery;
use scim_proto::project::Projection;
use scim_proto::schema::ACCESS_USER_SCHEMA;
use scim_proto::{SchemaRegistry, ScimError};
use scim_store::wire::{self, GROUPS, MEMBERS};
use scim_store::{Include, ResourceKind};
use std::sync::Arc;

/// The attributes of the access extension, computed only when a request names them
/// (`returned: request`, RFC 7643 §7).
const ACCESS_ATTRIBUTES: [&str; 2] = ["effectiveRoles", "effectiveGroups"];

/// The response shape of one request for one resource type.
#[derive(Debug, Clone)]
pub struct ResponseShape {
    /// Which attributes each resource shows (RFC 7644 §3.9, RFC 7643 §2.4 `returned`); shared,
    /// since most requests use a [`DefaultShapes`] one.
    pub projection: Arc<Projection>,
    /// What to load beyond the resource item.
    pub include: Include,
    /// Whether each user's effective groups and roles are computed for the response.
    pub access: bool,
}

impl ResponseShape {
    /// The shape for the query's `attributes` / `excludedAttributes` on `kind`: compiled once at
    /// start-up when it names neither (almost every request), else now; a syntactically invalid
    /// path is 400 `invalidPath`.
    pub fn new(state: &AppState, kind: ResourceKind, query: &ListQuery) -> ApiResult<ResponseShape> {
        if query.attributes.is_empty() && query.excluded_attributes.is_empty() {
            return Ok(state.default_shapes.of(kind).clone());
        }
        Ok(Self::compile(
            &state.registry,
            state.config.max_inline_members,
            kind,
            query,
        )?)
    }

    /// The shape of the answer to a write that set `written` (RFC 7643 §7: a `returned: request`
    /// attribute the client specified comes back).
    pub fn for_write(&self, written: &[(Option<String>, String)]) -> ResponseShape {
        match self.projection.for_write(written) {
            Some(projection) => ResponseShape {
                projection: Arc::new(projection),
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    fn compile(
        registry: &SchemaRegistry,
        max_inline_members: u64,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<ResponseShape, ScimError> {
        let schema = wire::schema_of(registry, kind);
        let projection = Projection::new(&query.attributes, &query.excluded_attributes, &schema)?;
        let access = kind == ResourceKind::User
            && ACCESS_ATTRIBUTES
                .iter()
                .any(|a| projection.includes(&format!("{ACCESS_USER_SCHEMA}:{a}")));
        let include = Include {
            members: kind == ResourceKind::Group && projection.includes(MEMBERS),
            // Effective access starts from the user's direct groups, so they are loaded for it too.
            groups: kind == ResourceKind::User && (projection.includes(GROUPS) || access),
            // Lambda answers at most 6 MB: a member list that might not fit is refused with a
            // way out (exclude members, list them by filter), never shortened.
            member_limit: Some(max_inline_members),
        };
        Ok(ResponseShape {
            projection: Arc::new(projection),
            include,
            access,
        })
    }
}

/// The shapes of requests that name no attributes, one per resource type, compiled when the
/// service starts: compiling a projection walks every attribute of the schema, which was a
/// tenth of the work of a `GET /Users/{id}`.
#[derive(Debug)]
pub struct DefaultShapes {
    user: ResponseShape,
    group: ResponseShape,
}

impl DefaultShapes {
    pub fn new(registry: &SchemaRegistry, max_inline_members: u64) -> Result<DefaultShapes, ScimError> {
        let none = ListQuery::default();
        Ok(DefaultShapes {
            user: ResponseShape::compile(registry, max_inline_members, ResourceKind::User, &none)?,
            group: ResponseShape::compile(registry, max_inline_members, ResourceKind::Group, &none)?,
        })
    }

    pub fn of(&self, kind: ResourceKind) -> &ResponseShape {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }
}
