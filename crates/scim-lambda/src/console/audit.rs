//! Console actions in the provisioning log: one record per action, in the tenant's log beside
//! its IdP's requests, naming the operator (`operator`) where an IdP's record names its token.
//! Operations are `Console.<what>`, so the log's readers tell them apart at a glance.

use super::ActionForm;
use crate::provisioning_log::Pending;
use crate::state::AppState;
use crate::telemetry::RequestOrigin;
use scim_store::log::LogChange;
use scim_store::{LogRecord, TenantId};

/// One action an operator took.
#[derive(Debug)]
pub struct Action<'a> {
    pub tenant: &'a TenantId,
    /// `Console.tokens.create`, ...
    pub operation: &'static str,
    /// The console path the action was posted to.
    pub path: String,
    /// The token the action concerns.
    pub token: Option<(String, String)>,
    /// The resource the action concerns: type (`User`), id, name.
    pub resource: Option<(&'static str, String, Option<String>)>,
    /// What happened, in a sentence.
    pub detail: String,
}

impl ActionForm {
    /// Queues the record of `action`, taken by this form's operator.
    pub fn audit(&self, state: &AppState, action: Action<'_>) {
        self.audit_changes(state, action, Vec::new());
    }

    /// Queues the record of `action`, with what it `changed` (old → new), as a write's record has.
    pub fn audit_changes(&self, state: &AppState, action: Action<'_>, changed: Vec<LogChange>) {
        record(
            state,
            &self.origin,
            self.operator.session.operator(),
            action,
            changed,
        );
    }
}

fn record(
    state: &AppState,
    origin: &RequestOrigin,
    operator: String,
    action: Action<'_>,
    changed: Vec<LogChange>,
) {
    let (token_id, token_name) = action.token.unzip();
    let (resource_type, resource_id, resource_name) = match action.resource {
        Some((kind, id, name)) => (Some(kind.to_string()), Some(id), name),
        None => (None, None, None),
    };
    let record = LogRecord {
        time: scim_store::timestamp(scim_store::now()),
        request_id: origin.request_id(),
        tenant: action.tenant.to_string(),
        token_id,
        token_name,
        client: origin.client().map(|ip| ip.to_string()),
        idp: scim_store::Idp::Other,
        user_agent: None,
        method: "POST".into(),
        path: action.path,
        operation: action.operation.into(),
        resource_type,
        resource_id,
        resource_name,
        status: 200,
        scim_type: None,
        detail: Some(action.detail),
        latency_ms: 0,
        changed,
        members: None,
        request_body: None,
        response_body: None,
        operator: Some(operator),
        expires_at: 0,
    };
    state.log.submit(Pending {
        tenant: action.tenant.clone(),
        record,
        request_body: None,
        response_body: None,
        sampled_read: false,
        token_expires: None,
    });
}
