//! SCIM 2.0 protocol logic with no I/O: RFC 7643 (schema), RFC 7644 (protocol) and RFC 9865
//! (cursor pagination).
//!
//! This crate knows nothing of HTTP, storage or AWS. Resources are JSON objects
//! (`serde_json::Map`) whose attribute names are spelled as the schema spells them, with extension
//! attributes nested under their schema URN (RFC 7643 §3.3); every engine here is driven by the
//! [`schema::SchemaRegistry`].

pub mod error;
pub mod extensions;
pub mod hint;
pub mod path;
pub mod schema;

pub use error::{Result, ScimError, ScimType};
pub use path::AttrPath;
pub use schema::{ResourceSchema, SchemaRegistry};
pub mod filter;
pub use filter::{CompValue, CompareOp, Filter, PatchPath};
pub mod bulk;
pub mod discovery;
pub mod distinct;
pub mod etag;
pub mod list;
pub mod project;
pub mod resource;
pub mod sort;
pub mod text;
pub use list::{ListLimits, ListQuery, SortOrder};
pub use project::Projection;
pub mod patch;
pub use patch::{
    apply_patch, MemberDelta, MemberRef, PatchLimits, PatchOpKind, PatchOperation, PatchOptions,
    PatchOutcome, PatchRequest, PATCH_OP_SCHEMA,
};
