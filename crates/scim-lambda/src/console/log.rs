//! The Provisioning log page: a tenant's records newest first, 50 a page, filtered as the admin
//! API filters them (the same parameters, read by [`crate::log_query::parse`]), each row leading
//! to the record's every field. Console actions are records too: they name their operator where
//! an IdP's record names its token.

use super::html::{self, esc, section_url, table, time, Notice, Section};
use super::overview::idp_label;
use super::{ConsoleError, ConsoleResult, Operator};
use crate::extract::QueryPairs;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use scim_store::log::{LogQuery, LogRecord, MAX_LOG_PAGE};
use scim_store::{StoreError, TenantId};
use serde_json::Value;
use std::fmt::Write as _;

/// Records a page shows.
const PAGE_SIZE: usize = 50;
/// Most store reads to fill a page (a store may answer a filtered read with a short page).
const PAGE_READS: usize = 10;
/// Most store reads to find one record among those of the same millisecond.
const RECORD_READS: usize = 5;
/// How much of a record's detail a row shows.
const DETAIL_CHARS: usize = 120;
/// The filter form's parameters, which the "Older" link carries on.
const FILTERS: [&str; 5] = ["errors", "resource", "token", "since", "until"];

/// `GET /admin/tenants/{tenant}/log?errors=true&resource=&token=&since=&until=&after=`
pub async fn page(
    State(state): State<AppState>,
    operator: Operator,
    Path(tenant): Path<String>,
    query: QueryPairs,
) -> ConsoleResult<Response> {
    let tenant = operator.tenant(&tenant)?;
    let given = |name: &str| given(&query, name);
    let base = section_url(tenant.as_str(), Section::Log);
    let form = filters(&state, &tenant, &base, &query).await?;
    let selection = match crate::log_query::parse(&state, &tenant, &query.0, PAGE_SIZE).await {
        Ok(selection) => selection,
        Err(StoreError::Invalid(detail)) => {
            let body = format!(
                "{}{form}",
                html::notice(Notice::Error, &format!("The filter is not valid: {detail}"))
            );
            let mut response = render(&state, &operator, &tenant, body).await?;
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(response);
        }
        Err(e) => return Err(e.into()),
    };
    let (records, next) = read_page(&state, &tenant, &selection).await?;
    let mut body = form;
    let rows: Vec<String> = records.iter().map(|r| row(r, &base)).collect();
    body.push_str(&table(
        "Requests and console actions, newest first",
        &[
            "Time",
            "By",
            "Request",
            "Operation",
            "Resource",
            "Status",
            "Detail",
        ],
        &rows,
        "No records match.",
    ));
    if let Some(next) = next {
        let mut older = form_urlencoded::Serializer::new(String::new());
        for name in FILTERS {
            let value = given(name);
            if !value.is_empty() {
                older.append_pair(name, value);
            }
        }
        older.append_pair("after", &next);
        let _ = write!(
            body,
            "<p><a rel=\"next\" href=\"{}?{}\">Older</a></p>",
            esc(&base),
            esc(&older.finish())
        );
    }
    render(&state, &operator, &tenant, body).await
}

async fn render(
    state: &AppState,
    operator: &Operator,
    tenant: &TenantId,
    body: String,
) -> ConsoleResult<Response> {
    operator.render_tenant(state, Section::Log, tenant, body).await
}

/// Up to a page of the records `selection` selects, and the cursor of the next page.
async fn read_page(
    state: &AppState,
    tenant: &TenantId,
    selection: &LogQuery,
) -> ConsoleResult<(Vec<LogRecord>, Option<String>)> {
    let wanted = selection.page_size();
    let mut query = selection.clone();
    let mut records = Vec::new();
    for _ in 0..PAGE_READS {
        query.limit = wanted - records.len();
        let page = state.store.read_log(tenant, &query).await?;
        records.extend(page.records);
        match page.next {
            Some(next) if records.len() < wanted => query.after = Some(next),
            Some(next) => return Ok((records, Some(next.encode()))),
            None => return Ok((records, None)),
        }
    }
    // Still short after every read: the last record shown is where "Older" goes on.
    let next = records.last().map(|r| r.cursor().encode());
    Ok((records, next))
}

/// The value of parameter `name`, trimmed; empty when absent.
fn given<'a>(pairs: &'a QueryPairs, name: &str) -> &'a str {
    pairs.get(name).map_or("", str::trim)
}

/// The filter form (a GET, so a filtered view is a link to share), with the values given in `pairs`.
async fn filters(
    state: &AppState,
    tenant: &TenantId,
    base: &str,
    pairs: &QueryPairs,
) -> ConsoleResult<String> {
    let given = |name: &str| given(pairs, name);
    let registry = state
        .console
        .registry
        .load()
        .await
        .map_err(ConsoleError::failed)?;
    let mut tokens: Vec<(String, String)> = registry
        .document
        .tokens
        .into_iter()
        .filter(|t| t.tenant == tenant.as_str())
        .map(|t| (t.id, t.name))
        .collect();
    tokens.sort_by(|a, b| a.1.cmp(&b.1));
    let token = given("token");
    let mut token_options = String::from("<option value=\"\">Any</option>");
    for (id, name) in &tokens {
        let selected = if token == id { " selected" } else { "" };
        let _ = write!(
            token_options,
            "<option value=\"{}\"{selected}>{}</option>",
            esc(id),
            esc(name)
        );
    }
    if !token.is_empty() && !tokens.iter().any(|(id, _)| id == token) {
        let _ = write!(
            token_options,
            "<option value=\"{0}\" selected>{0}</option>",
            esc(token)
        );
    }
    // A valid time as the input shows it (UTC, to the second); anything else as it was given.
    let time_value = |name: &str| {
        let value = given(name);
        crate::log_query::time_param(name, value)
            .ok()
            .and_then(|t| scim_store::parse_timestamp(&t))
            .and_then(|t| {
                t.format(time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second]"
                ))
                .ok()
            })
            .unwrap_or_else(|| value.to_string())
    };
    let checked = if given("errors") == "true" { " checked" } else { "" };
    Ok(format!(
        "<form class=\"filters\" method=\"get\" action=\"{base}\">\
         <div class=\"field inline\"><input id=\"f-errors\" name=\"errors\" type=\"checkbox\" value=\"true\"{checked}>\
         <label for=\"f-errors\">Errors only</label></div>\
         <div class=\"field\"><label for=\"f-resource\">Resource (id, userName or displayName)</label>\
         <input id=\"f-resource\" name=\"resource\" value=\"{resource}\" autocomplete=\"off\"></div>\
         <div class=\"field\"><label for=\"f-token\">Token</label>\
         <select id=\"f-token\" name=\"token\">{token_options}</select></div>\
         <div class=\"field\"><label for=\"f-since\">From (UTC)</label>\
         <input id=\"f-since\" name=\"since\" type=\"datetime-local\" step=\"1\" value=\"{since}\"></div>\
         <div class=\"field\"><label for=\"f-until\">Until (UTC)</label>\
         <input id=\"f-until\" name=\"until\" type=\"datetime-local\" step=\"1\" value=\"{until}\"></div>\
         <button type=\"submit\">Show</button> <a href=\"{base}\">Clear</a></form>",
        base = esc(base),
        resource = esc(given("resource")),
        since = esc(&time_value("since")),
        until = esc(&time_value("until")),
    ))
}

/// The detail page's URL of `record`.
fn record_url(base: &str, record: &LogRecord) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("time", &record.time)
        .append_pair("id", &record.request_id)
        .finish();
    format!("{base}/record?{query}")
}

/// Who sent it: the operator of a console action, else the IdP and its token.
fn by(record: &LogRecord) -> String {
    match &record.operator {
        Some(operator) => format!("operator {}", esc(operator)),
        None => {
            let token = record
                .token_name
                .as_ref()
                .or(record.token_id.as_ref())
                .map(|t| format!(" <small>(token {})</small>", esc(t)))
                .unwrap_or_default();
            format!("{}{token}", esc(idp_label(record.idp)))
        }
    }
}

fn resource(record: &LogRecord) -> String {
    let kind = record.resource_type.as_deref().unwrap_or("");
    match (&record.resource_name, &record.resource_id) {
        (Some(name), _) => format!("{} {}", esc(kind), esc(name)),
        (None, Some(id)) => format!("{} {}", esc(kind), esc(id)),
        (None, None) => String::new(),
    }
}

fn status(record: &LogRecord) -> String {
    if record.is_error() {
        format!("<span class=\"status-error\">{} failed</span>", record.status)
    } else {
        record.status.to_string()
    }
}

/// Why a request failed, what a console action did, or what a write changed, in a sentence.
fn summary(record: &LogRecord) -> String {
    let detail = record.detail.as_deref().unwrap_or("");
    if record.is_error() {
        return match &record.scim_type {
            Some(scim_type) => format!("{scim_type}: {detail}"),
            None => detail.to_string(),
        };
    }
    if !detail.is_empty() || record.changed.is_empty() {
        return detail.to_string();
    }
    let mut changed: Vec<&str> = record
        .changed
        .iter()
        .map(|c| c.attribute.rsplit(':').next().unwrap_or(&c.attribute))
        .collect();
    let members;
    if let Some(m) = record.members.as_ref().filter(|m| !m.is_empty()) {
        members = format!("members +{} -{}", m.added_count, m.removed_count);
        changed.retain(|c| !c.eq_ignore_ascii_case("members"));
        changed.push(&members);
    }
    format!("changed {}", changed.join(", "))
}

fn truncated(text: &str) -> String {
    if text.chars().count() <= DETAIL_CHARS {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(DETAIL_CHARS - 1).collect();
    cut.push('…');
    cut
}

fn row(record: &LogRecord, base: &str) -> String {
    let class = if record.is_error() { " class=\"error\"" } else { "" };
    format!(
        "<tr{class}><td><a href=\"{url}\">{time}</a></td><td>{by}</td>\
         <td>{method} {path}</td><td>{operation}</td><td>{resource}</td><td>{status}</td><td>{detail}</td></tr>",
        url = esc(&record_url(base, record)),
        time = time(&record.time),
        by = by(record),
        method = esc(&record.method),
        path = esc(&record.path),
        operation = esc(&record.operation),
        resource = resource(record),
        status = status(record),
        detail = esc(&truncated(&summary(record))),
    )
}

/// `GET /admin/tenants/{tenant}/log/record?time=&id=`: one record, every field.
pub async fn record(
    State(state): State<AppState>,
    operator: Operator,
    Path(tenant): Path<String>,
    query: QueryPairs,
) -> ConsoleResult<Response> {
    let tenant = operator.tenant(&tenant)?;
    let (Some(at), Some(id)) = (query.get("time"), query.get("id")) else {
        return Err(ConsoleError::NotFound);
    };
    let at = crate::log_query::time_param("time", at).map_err(|_| ConsoleError::NotFound)?;
    let found = find(&state, &tenant, &at, id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let base = section_url(tenant.as_str(), Section::Log);
    let body = format!(
        "<p><a href=\"{}\">Back to the provisioning log</a></p>{}",
        esc(&base),
        details(&found)
    );
    render(&state, &operator, &tenant, body).await
}

/// The record of request `id` among those logged at `at` (a handful share a millisecond).
async fn find(state: &AppState, tenant: &TenantId, at: &str, id: &str) -> ConsoleResult<Option<LogRecord>> {
    let mut query = LogQuery {
        since: Some(at.to_string()),
        until: Some(at.to_string()),
        limit: MAX_LOG_PAGE,
        ..LogQuery::default()
    };
    for _ in 0..RECORD_READS {
        let page = state.store.read_log(tenant, &query).await?;
        if let Some(found) = page.records.into_iter().find(|r| r.request_id == id) {
            return Ok(Some(found));
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// A JSON value as text: strings bare.
fn json_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn details(r: &LogRecord) -> String {
    let mut fields = String::new();
    let mut field = |name: &str, value: String| {
        let _ = write!(fields, "<dt>{}</dt><dd>{value}</dd>", esc(name));
    };
    field("Time", time(&r.time));
    field("Request id", esc(&r.request_id));
    field("Tenant", esc(&r.tenant));
    match &r.operator {
        Some(operator) => field("Operator", esc(operator)),
        None => field("Identity provider", esc(idp_label(r.idp))),
    }
    let optional = [
        ("Token id", &r.token_id),
        ("Token name", &r.token_name),
        ("Client", &r.client),
        ("User agent", &r.user_agent),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            field(name, esc(value));
        }
    }
    field("Request", format!("{} {}", esc(&r.method), esc(&r.path)));
    field("Operation", esc(&r.operation));
    let optional = [
        ("Resource type", &r.resource_type),
        ("Resource id", &r.resource_id),
        ("Resource name", &r.resource_name),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            field(name, esc(value));
        }
    }
    field("Status", status(r));
    if let Some(scim_type) = &r.scim_type {
        field("scimType", esc(scim_type));
    }
    if let Some(detail) = &r.detail {
        field("Detail", esc(detail));
    }
    field("Latency", format!("{} ms", r.latency_ms));
    let expires = time::OffsetDateTime::from_unix_timestamp(r.expires_at)
        .map(|t| time(&scim_store::timestamp(t)))
        .unwrap_or_else(|_| esc(&r.expires_at.to_string()));
    field("Kept until", expires);
    let mut out = format!(
        "<section aria-labelledby=\"record-h\"><h2 id=\"record-h\">Record</h2><dl>{fields}</dl></section>"
    );
    if !r.changed.is_empty() {
        let rows: Vec<String> = r
            .changed
            .iter()
            .map(|c| {
                let value = |v: &Option<Value>| v.as_ref().map(|v| esc(&json_text(v))).unwrap_or_default();
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&c.attribute),
                    value(&c.old),
                    value(&c.new)
                )
            })
            .collect();
        let _ = write!(
            out,
            "<section aria-labelledby=\"changed-h\"><h2 id=\"changed-h\">Changed</h2>{}\
             <p class=\"empty\">A multi-valued or secret attribute is named without its values.</p></section>",
            table("What the request changed", &["Attribute", "Old", "New"], &rows, "")
        );
    }
    if let Some(m) = r.members.as_ref().filter(|m| !m.is_empty()) {
        let ids = |ids: &[String], count: usize| {
            let shown: Vec<String> = ids.iter().map(|i| esc(i)).collect();
            let rest = count.saturating_sub(ids.len());
            let more = if rest > 0 {
                format!(" and {rest} more")
            } else {
                String::new()
            };
            format!("{count}: {}{more}", shown.join(", "))
        };
        let replaced = if m.replaced_all {
            "<p>The request replaced the whole member list: the added members are the new list.</p>"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<section aria-labelledby=\"members-h\"><h2 id=\"members-h\">Members</h2>{replaced}<dl>\
             <dt>Added</dt><dd>{}</dd><dt>Removed</dt><dd>{}</dd></dl></section>",
            ids(&m.added, m.added_count),
            ids(&m.removed, m.removed_count)
        );
    }
    for (title, id, body) in [
        ("Request body", "request-h", &r.request_body),
        ("Response body", "response-h", &r.response_body),
    ] {
        if let Some(body) = body {
            let text = serde_json::to_string_pretty(body).unwrap_or_else(|_| body.to_string());
            let _ = write!(
                out,
                "<section aria-labelledby=\"{id}\"><h2 id=\"{id}\">{title}</h2><pre>{}</pre></section>",
                esc(&text)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_details_are_cut() {
        let long = "x".repeat(DETAIL_CHARS + 10);
        let cut = truncated(&long);
        assert_eq!(cut.chars().count(), DETAIL_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(truncated("short"), "short");
    }
}
