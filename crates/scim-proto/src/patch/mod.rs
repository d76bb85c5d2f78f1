//! The PATCH engine: RFC 7644 §3.5.2 (`PatchOp` messages and their `add`, `remove` and `replace`
//! operations), with the dialects Okta, Microsoft Entra ID and SailPoint actually send.
//!
//! [`PatchRequest::from_json`] parses and bounds a request body; [`apply_patch`] applies it to a
//! resource in canonical form, atomically (RFC 7644 §3.5.2: "the operations are processed as a
//! single atomic unit"). Attributes stored apart from the resource (a Group's `members`) are never
//! written into it: their changes come back as a [`MemberDelta`] for the store to apply.

mod apply;
mod members;
mod request;

pub use apply::apply_patch;
pub use members::{MemberDelta, MemberRef};

use crate::filter::PatchPath;
use crate::resource::NormalizeOptions;
use serde_json::Value;
use std::collections::BTreeSet;

/// The `urn:ietf:params:scim:api:messages:2.0:PatchOp` schema URN (RFC 7644 §3.5.2).
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A parsed PATCH request body (RFC 7644 §3.5.2).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    /// The `Operations`, in request order (RFC 7644 §3.5.2: processed sequentially).
    pub operations: Vec<PatchOperation>,
}

/// One operation of a PATCH request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOpKind,
    /// `None` when the client sent no `path` (RFC 7644 §3.5.2.1 / §3.5.2.3: the value is then an
    /// object of attributes to add or replace).
    pub path: Option<PatchPath>,
    /// `None` when absent or `null`.
    pub value: Option<Value>,
}

/// RFC 7644 §3.5.2 `op` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Remove,
    Replace,
}

impl PatchOpKind {
    /// The RFC spelling, lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Remove => "remove",
            PatchOpKind::Replace => "replace",
        }
    }
}

/// Bounds on one PATCH request, so one request cannot make the server do unbounded work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchLimits {
    /// Most `Operations` in one request.
    pub max_operations: usize,
    /// Most member additions and removals in one request, all operations together.
    pub max_member_changes: usize,
}

impl Default for PatchLimits {
    fn default() -> Self {
        PatchLimits {
            max_operations: 1000,
            max_member_changes: 1000,
        }
    }
}

/// How [`apply_patch`] treats values and where attributes live.
#[derive(Debug, Clone, Default)]
pub struct PatchOptions {
    /// Passed to [`crate::resource::normalize_attribute`] for every value written.
    pub normalize: NormalizeOptions,
    /// Top-level attributes stored apart from the resource (in practice a Group's `members`):
    /// changes to them are returned in [`PatchOutcome::members`] and never written into the
    /// resource. Names compare case-insensitively.
    pub detached: Vec<String>,
}

impl PatchOptions {
    /// Options for a Group whose `members` are stored apart from it.
    pub fn with_detached_members() -> Self {
        PatchOptions {
            detached: vec!["members".into()],
            ..PatchOptions::default()
        }
    }
}

/// What a successful [`apply_patch`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchOutcome {
    /// False when the PATCH changed nothing in the resource and produced no member change, so the
    /// store can skip the write. Member no-ops (adding a present member) are only known to the
    /// store: a non-empty member delta counts as a modification.
    pub modified: bool,
    /// Canonical names of the top-level attributes whose value changed (`emails`, `name`), or
    /// URN-qualified names for extension attributes
    /// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`); also the
    /// detached attribute (`members`) when its delta is not empty.
    pub changed_attributes: BTreeSet<String>,
    /// Changes to the detached `members` attribute.
    pub members: MemberDelta,
}
