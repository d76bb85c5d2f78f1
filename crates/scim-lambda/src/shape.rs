//! What a response shows of each resource, computed once per request and resource type from
//! `attributes` / `excludedAttributes` (RFC 7644 §3.9), and what the store must load for it.

use crate::error::ApiResult;
use crate::state::AppState;
use scim_proto::list::ListQuery;
use scim_proto::project::Projection;
use scim_proto::schema::ACCESS_USER_SCHEMA;
use scim_store::wire::{self, GROUPS, MEMBERS};
use scim_store::{Include, ResourceKind};

/// The attributes of the access extension, computed only when a request names them
/// (`returned: request`, RFC 7643 §7).
const ACCESS_ATTRIBUTES: [&str; 2] = ["effectiveRoles", "effectiveGroups"];

/// The response shape of one request for one resource type.
#[derive(Debug, Clone)]
pub struct ResponseShape {
    /// Which attributes each resource shows (RFC 7644 §3.9, RFC 7643 §2.4 `returned`).
    pub projection: Projection,
    /// What to load beyond the resource item.
    pub include: Include,
    /// Whether each user's effective groups and roles are computed for the response.
    pub access: bool,
}

impl ResponseShape {
    /// Compiles the query's `attributes` / `excludedAttributes` for `kind`; a syntactically
    /// invalid path is 400 `invalidPath`.
    pub fn new(state: &AppState, kind: ResourceKind, query: &ListQuery) -> ApiResult<ResponseShape> {
        let schema = wire::schema_of(&state.registry, kind);
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
            member_limit: Some(state.config.max_inline_members),
        };
        Ok(ResponseShape {
            projection,
            include,
            access,
        })
    }
}
