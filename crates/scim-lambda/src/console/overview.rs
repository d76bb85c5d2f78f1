//! The overview: for each tenant the operator may open, its users and groups, the last request
//! from each identity provider, errors in the last 24 hours, and tokens expiring soon.

use super::html::{esc, section_url, time, Page, Section};
use super::{visible_tenants, ConsoleError, ConsoleResult, Operator};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use scim_auth::{TokenRecord, TokenState};
use scim_store::log::LogQuery;
use scim_store::{Include, Paging, Query, ResourceKind, TenantId};
use std::fmt::Write as _;

/// How far back "the last request from each IdP" looks.
const RECENT_RECORDS: usize = 200;
/// Errors counted in the last 24 hours, at most (shown as "N or more" beyond).
const ERRORS_COUNTED: usize = 200;
/// Tenants given a card; an operator of more sees the others as links. Each card costs a few
/// store reads, made for all cards at once, and the page must answer well inside the function's
/// time limit.
const CARDS: usize = 24;

/// `GET /admin/`
pub async fn page(State(state): State<AppState>, operator: Operator) -> ConsoleResult<Response> {
    let tenants = visible_tenants(&state, &operator.session.scope).await?;
    let registry = state
        .console
        .registry
        .load()
        .await
        .map_err(ConsoleError::failed)?;
    let now = scim_store::now();
    let (carded, listed) = tenants.split_at(tenants.len().min(CARDS));
    let cards = carded.iter().map(|name| {
        let (state, registry) = (&state, &registry);
        async move {
            let tenant = TenantId::new(name).map_err(|_| ConsoleError::NotFound)?;
            let tokens: Vec<&TokenRecord> = registry
                .document
                .tokens
                .iter()
                .filter(|t| t.tenant == *name)
                .collect();
            card(state, &tenant, &tokens, now).await
        }
    });
    let cards: Vec<String> = futures_util::future::try_join_all(cards).await?;
    let mut body = format!("<div class=\"cards\">{}</div>", cards.concat());
    if !listed.is_empty() {
        let links: Vec<String> = listed
            .iter()
            .map(|t| {
                format!(
                    "<a href=\"{}\">{}</a>",
                    esc(&section_url(t, Section::Tokens)),
                    esc(t)
                )
            })
            .collect();
        let _ = write!(
            body,
            "<section aria-labelledby=\"more-h\"><h2 id=\"more-h\">{} more tenants</h2><p>{}</p></section>",
            listed.len(),
            links.join(" · ")
        );
    }
    if operator.session.scope == super::session::Scope::All {
        // A tenant exists once it has a token: a global operator starts one by name.
        body.push_str(
            "<section aria-labelledby=\"new-tenant-h\"><h2 id=\"new-tenant-h\">Another tenant</h2>\
             <form method=\"get\" action=\"/admin/switch\"><input type=\"hidden\" name=\"section\" value=\"tokens\">\
             <div class=\"field\"><label for=\"new-tenant\">Tenant name (letters, digits, - and _)</label>\
             <input id=\"new-tenant\" name=\"tenant\" required maxlength=\"64\" pattern=\"[A-Za-z0-9_-]+\"></div>\
             <button type=\"submit\">Open its SCIM Tokens</button></form></section>",
        );
    }
    operator
        .render(
            &state,
            Page {
                section: Section::Overview,
                tenant: None,
                body,
            },
        )
        .await
}

async fn total(state: &AppState, tenant: &TenantId, kind: ResourceKind) -> ConsoleResult<String> {
    let query = Query {
        filter: None,
        paging: Paging::Index { start_index: 1 },
        count: 0,
        include: Include::NONE,
        sort: None,
    };
    let page = state.store.query(tenant, kind, &query).await?;
    Ok(page.total_results.map_or("?".into(), |n| n.to_string()))
}

async fn card(
    state: &AppState,
    tenant: &TenantId,
    tokens: &[&TokenRecord],
    now: time::OffsetDateTime,
) -> ConsoleResult<String> {
    let users = total(state, tenant, ResourceKind::User).await?;
    let groups = total(state, tenant, ResourceKind::Group).await?;
    let recent = state
        .store
        .read_log(
            tenant,
            &LogQuery {
                limit: RECENT_RECORDS,
                ..LogQuery::default()
            },
        )
        .await?;
    let mut last_by_idp: Vec<(scim_store::Idp, String)> = Vec::new();
    for record in recent.records.iter().filter(|r| r.operator.is_none()) {
        if !last_by_idp.iter().any(|(idp, _)| *idp == record.idp) {
            last_by_idp.push((record.idp, record.time.clone()));
        }
    }
    let since = scim_store::timestamp(now - time::Duration::hours(24));
    let errors = state
        .store
        .read_log(
            tenant,
            &LogQuery {
                since: Some(since),
                errors_only: true,
                limit: ERRORS_COUNTED,
                ..LogQuery::default()
            },
        )
        .await?;
    let errors = match errors.next {
        Some(_) => format!("{ERRORS_COUNTED} or more"),
        None => errors.records.len().to_string(),
    };
    let mut idps = String::new();
    for (idp, at) in &last_by_idp {
        let _ = write!(
            idps,
            "<dt>Last from {}</dt><dd>{}</dd>",
            esc(idp_label(*idp)),
            time(at)
        );
    }
    if last_by_idp.is_empty() {
        idps.push_str("<dt>Last request</dt><dd>none yet</dd>");
    }
    let warning = state.console.expiry_warning_days;
    let expiring: Vec<String> = tokens
        .iter()
        .filter(|t| t.state(now) == TokenState::Active && (t.expires - now).whole_days() <= warning)
        .map(|t| format!("{} ({})", esc(&t.name), time(&scim_store::timestamp(t.expires))))
        .collect();
    let active = tokens
        .iter()
        .filter(|t| t.state(now) == TokenState::Active)
        .count();
    let n = esc(tenant.as_str());
    Ok(format!(
        "<section class=\"card\" aria-labelledby=\"t-{n}\"><h2 id=\"t-{n}\">{n}</h2><dl>\
         <dt>Users</dt><dd>{users}</dd><dt>Groups</dt><dd>{groups}</dd>{idps}\
         <dt>Errors, last 24 h</dt><dd><a href=\"{log}?errors=true\">{errors}</a></dd>\
         <dt>Active tokens</dt><dd>{active}</dd><dt>Expiring soon</dt><dd>{expiring}</dd></dl>\
         <p><a href=\"{tokens}\">SCIM Tokens</a> · <a href=\"{review}\">Review</a> · \
         <a href=\"{settings}\">Settings</a> · <a href=\"{log}\">Provisioning log</a></p></section>",
        log = esc(&section_url(tenant.as_str(), Section::Log)),
        tokens = esc(&section_url(tenant.as_str(), Section::Tokens)),
        review = esc(&section_url(tenant.as_str(), Section::Review)),
        settings = esc(&section_url(tenant.as_str(), Section::Settings)),
        expiring = if expiring.is_empty() {
            "none".into()
        } else {
            expiring.join(", ")
        },
    ))
}

/// An IdP as people name it.
pub fn idp_label(idp: scim_store::Idp) -> &'static str {
    match idp {
        scim_store::Idp::Okta => "Okta",
        scim_store::Idp::Entra => "Microsoft Entra ID",
        scim_store::Idp::SailPoint => "SailPoint",
        scim_store::Idp::Other => "another client",
    }
}
