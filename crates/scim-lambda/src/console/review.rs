//! The Review page: what waits for an administrator in a tenant. Conflicts between an IdP's
//! `POST /Users` and an imported account ([`conflicts`]), soft-deleted users ([`deleted`]), and
//! the import of existing accounts ([`import_accounts`]). Each calls the store methods that
//! `scimctl conflicts`, `scimctl users deleted|restore` and `scimctl import` call, so the console
//! and the CLI decide the same way.

mod conflicts;
mod deleted;
mod import_accounts;

pub use conflicts::resolve;
pub use deleted::restore;
pub use import_accounts::import;

use super::html::{self, section_url, Notice, Section};
use super::{ConsoleResult, Operator};
use crate::extract::QueryPairs;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use scim_store::TenantId;

/// `GET /admin/tenants/{tenant}/review`
pub async fn page(
    State(state): State<AppState>,
    operator: Operator,
    Path(tenant): Path<String>,
    query: QueryPairs,
) -> ConsoleResult<Response> {
    let tenant = operator.tenant(&tenant)?;
    let top = html::notice_of(
        query.get("notice"),
        &[
            (
                "linked",
                "The conflict is linked: the identity provider's next attempt adopts the existing account.",
            ),
            (
                "rejected",
                "The conflict is rejected: the existing account is set aside, and the identity \
                 provider's next attempt creates a new user.",
            ),
            (
                "restored",
                "The user is restored, with the groups it was in that still exist.",
            ),
        ],
    );
    render(&state, &operator, &tenant, top, None).await
}

/// The page with `top` (a notice, an import report) above its sections; `draft` fills the
/// import form again (the text and its format) after a dry run.
async fn render(
    state: &AppState,
    operator: &Operator,
    tenant: &TenantId,
    top: String,
    draft: Option<import_accounts::Draft<'_>>,
) -> ConsoleResult<Response> {
    let csrf = operator.csrf();
    let mut body = top;
    body.push_str(&conflicts::section(state, tenant, &csrf).await?);
    body.push_str(&deleted::section(state, tenant, &csrf).await?);
    body.push_str(&import_accounts::section(tenant, &csrf, draft));
    operator.render_tenant(state, Section::Review, tenant, body).await
}

/// The page again with `text` as an error notice, answered with `status`: an action that was
/// not done, explained where the operator is.
async fn refused(
    state: &AppState,
    operator: &Operator,
    tenant: &TenantId,
    status: StatusCode,
    text: &str,
) -> ConsoleResult<Response> {
    let mut response = render(state, operator, tenant, html::notice(Notice::Error, text), None).await?;
    *response.status_mut() = status;
    Ok(response)
}

/// The Review page's URL (where actions return).
fn url(tenant: &TenantId) -> String {
    section_url(tenant.as_str(), Section::Review)
}

/// `/admin/tenants/{tenant}`, under which the page's actions are posted.
fn tenant_url(tenant: &TenantId) -> String {
    format!("/admin/tenants/{}", html::seg(tenant.as_str()))
}
