//! Conflicts waiting for a decision: each refused `POST /Users` beside the existing account it
//! met, and the decision (`scimctl conflicts link|reject`): **Link** approves, so the IdP's next
//! attempt adopts the account; **Reject** sets the account aside, so the next attempt creates a
//! new user.

use super::super::audit::Action;
use super::super::html::{self, esc, form, table, time};
use super::super::{done, ActionForm, ConsoleError, ConsoleResult};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use scim_store::{
    Conflict, ConflictScope, ConflictStatus, Resolution, StoreError, TenantId, UnmanagedAccount,
};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The open conflicts shown in full (each reads its account); `scimctl conflicts list` has all.
const MAX_OPEN_SHOWN: usize = 50;
/// The decided conflicts listed under "Recently decided".
const MAX_DECIDED_SHOWN: usize = 10;

/// The conflicts section: the open ones, newest attempt first, then the recently decided.
pub(super) async fn section(state: &AppState, tenant: &TenantId, csrf: &str) -> ConsoleResult<String> {
    let (mut open, mut decided): (Vec<Conflict>, Vec<Conflict>) = state
        .store
        .list_conflicts(tenant, ConflictScope::All)
        .await?
        .into_iter()
        .partition(|c| c.status == ConflictStatus::Open);
    open.sort_by(|a, b| b.last_attempt.cmp(&a.last_attempt));
    decided.sort_by(|a, b| b.resolved.cmp(&a.resolved));
    let mut out = String::from(
        "<section aria-labelledby=\"conflicts-h\"><h2 id=\"conflicts-h\">Conflicts waiting for a decision</h2>\
         <p>The identity provider tried to create these users, and each met an existing (imported) \
         account. The identity provider is refused until you decide: <strong>Link</strong> if it is \
         the same person (its next attempt takes over the account: same id, its attributes \
         overlaid by what it sends), <strong>Reject</strong> if not (the account is set aside; the \
         next attempt creates a new user).</p>",
    );
    if open.is_empty() {
        out.push_str("<p class=\"empty\">No conflict is waiting for a decision.</p>");
    }
    let base = super::tenant_url(tenant);
    for conflict in open.iter().take(MAX_OPEN_SHOWN) {
        let account = match state.store.get_unmanaged(tenant, &conflict.unmanaged_id).await {
            Ok(account) => Some(account),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        out.push_str(&waiting(conflict, account.as_ref(), &base, csrf));
    }
    if open.len() > MAX_OPEN_SHOWN {
        let _ = write!(
            out,
            "<p>{} more are waiting: decide these first, or list them all with \
             <code>scimctl conflicts list {}</code>.</p>",
            open.len() - MAX_OPEN_SHOWN,
            esc(tenant.as_str())
        );
    }
    let rows: Vec<String> = decided
        .iter()
        .take(MAX_DECIDED_SHOWN)
        .map(|c| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.user_name),
                match c.status {
                    ConflictStatus::Rejected => "rejected",
                    _ => "linked",
                },
                c.resolved.as_deref().map(time).unwrap_or_default()
            )
        })
        .collect();
    if !rows.is_empty() {
        let _ = write!(
            out,
            "<h3>Recently decided</h3>{}",
            table(
                "The latest decisions, newest first",
                &["userName the identity provider sent", "Decision", "Decided"],
                &rows,
                ""
            )
        );
    }
    out.push_str("</section>");
    Ok(out)
}

/// One open conflict: what happened, the attributes side by side, and the two decisions.
/// `base` is the tenant's URL.
fn waiting(conflict: &Conflict, account: Option<&UnmanagedAccount>, base: &str, csrf: &str) -> String {
    let id = esc(&conflict.id);
    let name = esc(&conflict.user_name);
    let empty = Map::new();
    let existing = account.map_or(&empty, |a| &a.attrs);
    let names: BTreeSet<&String> = conflict.posted.keys().chain(existing.keys()).collect();
    let rows: Vec<String> = names
        .into_iter()
        .map(|attribute| {
            let sent = conflict.posted.get(attribute);
            let kept = existing.get(attribute);
            format!(
                "<tr{}><th scope=\"row\">{}</th><td>{}</td><td>{}</td></tr>",
                if sent == kept { "" } else { " class=\"differs\"" },
                esc(attribute),
                shown(sent),
                shown(kept)
            )
        })
        .collect();
    let missing = if account.is_none() {
        html::notice(
            html::Notice::Error,
            "The existing account is no longer there (adopted or removed meanwhile).",
        )
    } else {
        String::new()
    };
    let action = |decision: &str| format!("{base}/conflicts/{}/{decision}", html::seg(&conflict.id));
    format!(
        "<article class=\"conflict\" id=\"conflict-{id}\" aria-labelledby=\"conflict-{id}-h\">\
         <h3 id=\"conflict-{id}-h\">{name}</h3><dl>\
         <dt>Collided on</dt><dd>{attribute} “{value}”</dd>\
         <dt>Existing account</dt><dd><code>{account}</code></dd>\
         <dt>First attempt</dt><dd>{first}</dd>\
         <dt>Last attempt</dt><dd>{last} ({attempts} attempt{plural})</dd>\
         <dt>Conflict</dt><dd><code>{id}</code></dd></dl>{missing}{table}\
         <div class=\"decide\">{link}{reject}</div></article>",
        attribute = esc(conflict.matched_attribute.name()),
        value = esc(&conflict.matched_value),
        account = esc(&conflict.unmanaged_id),
        first = time(&conflict.first_attempt),
        last = time(&conflict.last_attempt),
        attempts = conflict.attempts,
        plural = if conflict.attempts == 1 { "" } else { "s" },
        table = table(
            "What the identity provider sent, beside the existing account",
            &["Attribute", "Identity provider sent", "Existing account"],
            &rows,
            "No attributes to compare."
        ),
        link = form(
            &action("link"),
            csrf,
            &format!("<button type=\"submit\" aria-label=\"Link {name} to the existing account\">Link</button>")
        ),
        reject = form(
            &action("reject"),
            csrf,
            &format!(
                "<button type=\"submit\" class=\"danger\" aria-label=\"Reject: {name} is not the existing account\">Reject</button>"
            )
        ),
    )
}

/// An attribute's value as text: strings as they are, anything else as compact JSON.
fn shown(value: Option<&Value>) -> String {
    match value {
        None => "<span class=\"empty\">(none)</span>".into(),
        Some(Value::String(s)) => esc(s),
        Some(other) => format!("<code>{}</code>", esc(&other.to_string())),
    }
}

/// `POST …/conflicts/{id}/{decision}`, decision `link` or `reject`.
pub async fn resolve(
    State(state): State<AppState>,
    Path((tenant, id, decision)): Path<(String, String, String)>,
    form: ActionForm,
) -> ConsoleResult<Response> {
    let tenant = form.operator.tenant(&tenant)?;
    let (resolution, notice, operation) = match decision.as_str() {
        "link" => (Resolution::Link, "linked", "Console.review.link"),
        "reject" => (Resolution::Reject, "rejected", "Console.review.reject"),
        _ => return Err(ConsoleError::NotFound),
    };
    let resolved = match state.store.resolve_conflict(&tenant, &id, resolution).await {
        Ok(resolved) => resolved,
        Err(StoreError::Invalid(detail)) => {
            let text = format!("The conflict was not changed: {detail}.");
            return super::refused(&state, &form.operator, &tenant, StatusCode::BAD_REQUEST, &text).await;
        }
        Err(e) => return Err(e.into()),
    };
    form.audit(&state, Action {
            tenant: &tenant,
            operation,
            path: format!(
                "{}/conflicts/{}/{decision}",
                super::tenant_url(&tenant),
                html::seg(&id)
            ),
            token: None,
            resource: Some((
                "User",
                resolved.unmanaged_id.clone(),
                Some(resolved.user_name.clone()),
            )),
            detail: format!(
                "{notice} conflict {}: the identity provider's userName '{}' met the existing account {} on {} '{}'",
                resolved.id,
                resolved.user_name,
                resolved.unmanaged_id,
                resolved.matched_attribute.name(),
                resolved.matched_value
            ),
        },
    );
    Ok(done(&super::url(&tenant), notice))
}
