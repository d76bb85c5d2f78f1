//! Soft-deleted users (tenant setting `delete_mode = soft`): the ones kept until their purge
//! time, and **Restore** (`scimctl users restore`): same id and attributes, back in the groups it
//! was in that still exist.

use super::super::audit::Action;
use super::super::html::{self, esc, form, table, time};
use super::super::{done, ActionForm, ConsoleResult};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use scim_store::{DeletedUser, StoreError, TenantId};
use serde_json::Value;

/// The deleted users section, most recently deleted first.
pub(super) async fn section(state: &AppState, tenant: &TenantId, csrf: &str) -> ConsoleResult<String> {
    let mut kept = state.store.deleted_users(tenant).await?;
    kept.sort_by(|a, b| b.deleted.cmp(&a.deleted));
    let base = super::tenant_url(tenant);
    let rows: Vec<String> = kept.iter().map(|user| row(user, &base, csrf)).collect();
    Ok(format!(
        "<section aria-labelledby=\"deleted-h\"><h2 id=\"deleted-h\">Deleted users</h2>\
         <p>Users the identity provider deleted while the tenant keeps deleted users (Settings: \
         delete mode soft). Each can be restored until it is purged.</p>{}</section>",
        table(
            "Deleted users that can still be restored, most recently deleted first",
            &["userName", "Deleted", "Purged", "Actions"],
            &rows,
            "No deleted user is kept."
        )
    ))
}

/// A user's `userName`, or its id when it has none.
fn user_name(user: &DeletedUser) -> &str {
    user.attrs
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or(&user.id)
}

/// `base` is the tenant's URL.
fn row(user: &DeletedUser, base: &str, csrf: &str) -> String {
    let name = esc(user_name(user));
    format!(
        "<tr><td>{name}</td><td>{}</td><td>{}</td><td class=\"actions\">{}</td></tr>",
        time(&user.deleted),
        time(&user.purge_after),
        form(
            &format!("{base}/deleted/{}/restore", html::seg(&user.id)),
            csrf,
            &format!("<button type=\"submit\" aria-label=\"Restore {name}\">Restore</button>")
        )
    )
}

/// `POST …/deleted/{id}/restore`
pub async fn restore(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    form: ActionForm,
) -> ConsoleResult<Response> {
    let tenant = form.operator.tenant(&tenant)?;
    let refused = |status: StatusCode, text: String| {
        let (state, operator, tenant) = (&state, &form.operator, &tenant);
        async move { super::refused(state, operator, tenant, status, &text).await }
    };
    let user = match state.store.restore_user(&tenant, &id).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => {
            return refused(
                StatusCode::NOT_FOUND,
                "The user was not restored: it is no longer kept (restored already, or past its \
                 purge time)."
                    .into(),
            )
            .await
        }
        Err(StoreError::Uniqueness { attribute }) => {
            return refused(
                StatusCode::CONFLICT,
                format!(
                    "The user was not restored: another user has its {attribute} now. Delete or \
                     rename that user first."
                ),
            )
            .await
        }
        Err(e) => return Err(e.into()),
    };
    let name = user
        .attrs
        .get("userName")
        .and_then(Value::as_str)
        .map(str::to_string);
    form.audit(
        &state,
        Action {
            tenant: &tenant,
            operation: "Console.review.restore",
            path: format!(
                "{}/deleted/{}/restore",
                super::tenant_url(&tenant),
                html::seg(&id)
            ),
            token: None,
            resource: Some(("User", user.id.clone(), name.clone())),
            detail: format!(
                "restored the deleted user {} ('{}')",
                user.id,
                name.unwrap_or_default()
            ),
        },
    );
    Ok(done(&super::url(&tenant), "restored"))
}
