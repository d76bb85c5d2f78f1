//! The SCIM Tokens page: create a token (shown once), see each token's state, expiry and last
//! use, revoke (after a confirmation) and rotate (with a grace period for the old token).
//!
//! Tokens are written through [`scim_auth::update`], the same compare-and-swap every registry
//! writer uses, so the console and `scimctl` never lose each other's changes; the IdP-facing
//! service sees a change within its revocation bound (infra/README.md).

use super::audit::Action;
use super::html::{self, esc, form, section_url, table, time, Notice, Section};
use super::{done, ActionForm, ConsoleError, ConsoleResult, Operator};
use crate::extract::QueryPairs;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use scim_auth::{parse_expiry, parse_grace, update, NewToken, RegistryError, TokenRecord, TokenState};
use scim_store::{TenantId, TokenUse};
use std::fmt::Write as _;
use time::OffsetDateTime;

/// The expirations offered, in days.
const EXPIRY_CHOICES: [u32; 5] = [30, 60, 90, 180, 365];
/// The grace periods offered to a rotated token.
const GRACE_CHOICES: [(&str, &str); 4] = [("1h", "1 hour"), ("1d", "1 day"), ("7d", "7 days"), ("0", "none")];

fn registry_error(e: RegistryError) -> ConsoleError {
    match e {
        RegistryError::Document(e) => ConsoleError::Invalid(e.to_string()),
        e => ConsoleError::failed(format!("the token registry: {e}")),
    }
}

/// `GET /admin/tenants/{tenant}/tokens`
pub async fn page(
    State(state): State<AppState>,
    operator: Operator,
    Path(tenant): Path<String>,
    query: QueryPairs,
) -> ConsoleResult<Response> {
    let tenant = operator.tenant(&tenant)?;
    let notice = html::notice_of(
        query.get("notice"),
        &[(
            "revoked",
            "The token is revoked. The SCIM endpoint refuses it within a few seconds (the revocation check interval).",
        )],
    );
    render(&state, &operator, &tenant, notice).await
}

/// The page with `top` (a notice, or the token just issued) above the form and the list.
async fn render(
    state: &AppState,
    operator: &Operator,
    tenant: &TenantId,
    top: String,
) -> ConsoleResult<Response> {
    let now = scim_store::now();
    let loaded = state.console.registry.load().await.map_err(registry_error)?;
    let mut tokens: Vec<TokenRecord> = loaded
        .document
        .tokens
        .into_iter()
        .filter(|t| t.tenant == tenant.as_str())
        .collect();
    tokens.sort_by_key(|t| std::cmp::Reverse(t.created));
    let uses = state.store.token_uses(tenant).await?;
    let csrf = operator.csrf();
    let base = section_url(tenant.as_str(), Section::Tokens);
    let rows: Vec<String> = tokens
        .iter()
        .map(|t| {
            row(
                t,
                uses.iter().find(|u| u.token_id == t.id),
                now,
                &base,
                &csrf,
                state.console.expiry_warning_days,
            )
        })
        .collect();
    let mut body = top;
    let _ = write!(
        body,
        "<section aria-labelledby=\"create-h\"><h2 id=\"create-h\">Create a token</h2>{}</section>",
        form(&base, &csrf, &create_fields())
    );
    let _ =
        write!(
        body,
        "<section aria-labelledby=\"list-h\"><h2 id=\"list-h\">Tokens</h2>{}</section>",
        table(
            "The tenant's tokens, newest first",
            &["Name", "Tenant", "Created", "Expires", "Last used", "State", "Actions"],
            &rows,
            "No tokens yet: create one above, then paste it into your identity provider's SCIM connector."
        )
    );
    operator.render_tenant(state, Section::Tokens, tenant, body).await
}

fn create_fields() -> String {
    let mut options = String::new();
    for days in EXPIRY_CHOICES {
        let selected = if days == 90 { " selected" } else { "" };
        let _ = write!(
            options,
            "<option value=\"{days}d\"{selected}>{days} days</option>"
        );
    }
    format!(
        "<div class=\"field\"><label for=\"token-name\">Name</label>\
         <input id=\"token-name\" name=\"name\" required maxlength=\"{max}\" \
         placeholder=\"Okta production\" autocomplete=\"off\"></div>\
         <div class=\"field\"><label for=\"token-expires\">Expiration</label>\
         <select id=\"token-expires\" name=\"expires\">{options}<option value=\"date\">On a date…</option></select></div>\
         <div class=\"field\"><label for=\"token-until\">Date (when “On a date”)</label>\
         <input id=\"token-until\" name=\"until\" type=\"date\"></div>\
         <button type=\"submit\">Create Token</button>",
        max = scim_auth::MAX_NAME_CHARS,
    )
}

fn row(
    token: &TokenRecord,
    last_use: Option<&TokenUse>,
    now: OffsetDateTime,
    base: &str,
    csrf: &str,
    warning_days: i64,
) -> String {
    let state = token.state(now);
    let mut expires = time(&scim_store::timestamp(token.expires));
    let days_left = (token.expires - now).whole_days();
    if state == TokenState::Active && days_left <= warning_days {
        let _ = write!(
            expires,
            " <strong class=\"soon\">expires in {days_left} day{}</strong>",
            if days_left == 1 { "" } else { "s" }
        );
    }
    let used = match last_use {
        Some(u) => format!(
            "{}{}",
            time(&u.last_used),
            u.client
                .as_deref()
                .map(|c| format!(" from {}", esc(c)))
                .unwrap_or_default()
        ),
        None => "never".into(),
    };
    let id = html::seg(&token.id);
    let actions = if state == TokenState::Revoked {
        String::new()
    } else {
        let mut grace = String::new();
        for (value, label) in GRACE_CHOICES {
            let selected = if value == "1d" { " selected" } else { "" };
            let _ = write!(grace, "<option value=\"{value}\"{selected}>{label}</option>");
        }
        let label = esc(&token.name);
        format!(
            "{}{}",
            form(
                &format!("{base}/{id}/revoke"),
                csrf,
                &format!("<button type=\"submit\" aria-label=\"Revoke {label}\">Revoke…</button>")
            ),
            form(
                &format!("{base}/{id}/rotate"),
                csrf,
                &format!(
                    "<label for=\"grace-{id}\">Old token works for</label> \
                     <select id=\"grace-{id}\" name=\"grace\">{grace}</select> \
                     <button type=\"submit\" aria-label=\"Rotate {label}\">Rotate</button>"
                )
            )
        )
    };
    format!(
        "<tr data-token=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{expires}</td><td>{used}</td>\
         <td><span class=\"state {state}\">{state}</span></td><td class=\"actions\">{actions}</td></tr>",
        esc(&token.id),
        esc(&token.name),
        esc(&token.tenant),
        time(&scim_store::timestamp(token.created)),
    )
}

/// The token just issued, shown this once.
fn issued(title: &str, secret: &str, note: &str) -> String {
    format!(
        "<section class=\"issued\" aria-labelledby=\"issued-h\"><h2 id=\"issued-h\">{}</h2>\
         <p class=\"notice warn\" role=\"alert\">Copy this token now. It is shown only this once: \
         only its hash is kept, so nobody can show it to you again.</p>\
         <div class=\"secret\"><label for=\"new-token\">Token</label>\
         <input id=\"new-token\" readonly value=\"{}\">\
         <button type=\"button\" data-copy=\"new-token\">Copy</button></div><p>{}</p></section>",
        esc(title),
        esc(secret),
        esc(note)
    )
}

/// `POST /admin/tenants/{tenant}/tokens`: Create Token.
pub async fn create(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    form: ActionForm,
) -> ConsoleResult<Response> {
    let tenant = form.operator.tenant(&tenant)?;
    let now = scim_store::now();
    let name = form.get("name").unwrap_or("").to_string();
    let expiry = match form.get("expires") {
        Some("date") => form
            .get("until")
            .ok_or_else(|| "Choose a date, or one of the listed expirations.".to_string())
            .and_then(|d| parse_expiry(d, now)),
        Some(choice) if EXPIRY_CHOICES.iter().any(|d| format!("{d}d") == choice) => parse_expiry(choice, now),
        _ => Err("Choose an expiration from the list.".to_string()),
    };
    let result = match expiry {
        Err(e) => Err(ConsoleError::Invalid(e)),
        Ok(expires) => {
            let request = NewToken {
                name: name.clone(),
                tenant: tenant.to_string(),
                expires,
            };
            update(state.console.registry.as_ref(), |doc| doc.create(&request, now))
                .await
                .map_err(registry_error)
        }
    };
    let issued_token = match result {
        Ok(token) => token,
        Err(ConsoleError::Invalid(detail)) => {
            let top = html::notice(Notice::Error, &format!("The token was not created: {detail}"));
            let mut response = render(&state, &form.operator, &tenant, top).await?;
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            return Ok(response);
        }
        Err(e) => return Err(e),
    };
    let record = &issued_token.record;
    form.audit(
        &state,
        Action {
            tenant: &tenant,
            operation: "Console.tokens.create",
            path: section_url(tenant.as_str(), Section::Tokens),
            token: Some((record.id.clone(), record.name.clone())),
            resource: None,
            detail: format!(
                "created token '{}' ({}), expiring {}",
                record.name,
                record.id,
                scim_store::timestamp(record.expires)
            ),
        },
    );
    let top = issued(
        &format!("Token “{}” created", record.name),
        issued_token.secret.expose(),
        "Paste it into your identity provider's SCIM connector as the bearer token (the API token \
         or secret token field).",
    );
    render(&state, &form.operator, &tenant, top).await
}

/// `POST …/tokens/{id}/revoke`: asks first; with `confirm=yes`, revokes.
pub async fn revoke(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    form: ActionForm,
) -> ConsoleResult<Response> {
    let tenant = form.operator.tenant(&tenant)?;
    let base = section_url(tenant.as_str(), Section::Tokens);
    let token = tenant_token(&state, &tenant, &id).await?;
    if form.get("confirm") != Some("yes") {
        let body = format!(
            "<p>Revoke the token <strong>{}</strong> of tenant <strong>{}</strong>? The identity provider \
             that uses it will be refused from then on, until it is given a new token.</p>{}\
             <p><a href=\"{}\">Cancel</a></p>",
            esc(&token.name),
            esc(&token.tenant),
            form_of(&form, &format!("{base}/{}/revoke", html::seg(&id)), "<input type=\"hidden\" name=\"confirm\" value=\"yes\"><button type=\"submit\" class=\"danger\">Revoke the token</button>"),
            esc(&base)
        );
        return form
            .operator
            .render_tenant(&state, Section::Tokens, &tenant, body)
            .await;
    }
    let now = scim_store::now();
    update(state.console.registry.as_ref(), |doc| {
        doc.revoke(&id, now).map_err(RegistryError::from)
    })
    .await
    .map_err(registry_error)?;
    form.audit(
        &state,
        Action {
            tenant: &tenant,
            operation: "Console.tokens.revoke",
            path: format!("{base}/{id}/revoke"),
            token: Some((token.id.clone(), token.name.clone())),
            resource: None,
            detail: format!("revoked token '{}' ({})", token.name, token.id),
        },
    );
    Ok(done(&base, "revoked"))
}

/// The tenant's token `id`: another tenant's is as missing as an unknown one.
async fn tenant_token(state: &AppState, tenant: &TenantId, id: &str) -> ConsoleResult<TokenRecord> {
    let loaded = state.console.registry.load().await.map_err(registry_error)?;
    loaded
        .document
        .find(id)
        .filter(|t| t.tenant == tenant.as_str())
        .cloned()
        .ok_or(ConsoleError::NotFound)
}

fn form_of(form: &ActionForm, action: &str, inner: &str) -> String {
    html::form(action, &form.operator.csrf(), inner)
}

/// `POST …/tokens/{id}/rotate`: a successor, shown once; the old token works for the grace.
pub async fn rotate(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    form: ActionForm,
) -> ConsoleResult<Response> {
    let tenant = form.operator.tenant(&tenant)?;
    let grace = parse_grace(form.get("grace").unwrap_or("1d")).map_err(ConsoleError::Invalid)?;
    tenant_token(&state, &tenant, &id).await?;
    let now = scim_store::now();
    let rotation = update(state.console.registry.as_ref(), |doc| doc.rotate(&id, grace, now))
        .await
        .map_err(registry_error)?;
    let (new, old) = (&rotation.successor.record, &rotation.predecessor);
    form.audit(
        &state,
        Action {
            tenant: &tenant,
            operation: "Console.tokens.rotate",
            path: format!("{}/{id}/rotate", section_url(tenant.as_str(), Section::Tokens)),
            token: Some((old.id.clone(), old.name.clone())),
            resource: None,
            detail: format!(
                "rotated token '{}' ({}): successor {}, the old token works until {}",
                old.name,
                old.id,
                new.id,
                scim_store::timestamp(old.expires)
            ),
        },
    );
    let top = issued(
        &format!("Token “{}” rotated", old.name),
        rotation.successor.secret.expose(),
        &format!(
            "Paste it into the identity provider in place of the old token, which keeps working until {} UTC.",
            scim_store::timestamp(old.expires)
        ),
    );
    render(&state, &form.operator, &tenant, top).await
}
