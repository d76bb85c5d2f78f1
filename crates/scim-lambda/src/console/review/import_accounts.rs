//! Importing existing accounts (`scimctl import`, same formats and outcomes:
//! [`scim_store::import`]): a dry run reports, line by line, what would be imported and what
//! refused, writing nothing; its report offers to import the same text for real.

use super::super::audit::Action;
use super::super::html::{self, esc, table, Notice};
use super::super::{ActionForm, ConsoleResult, MAX_FORM_BYTES};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use scim_store::import::{ImportFormat, Importer, Outcome, Records, CSV_COLUMNS};
use scim_store::TenantId;
use std::fmt::Write as _;

/// The imported accounts an audit record names; the rest are counted.
const MAX_NAMED: usize = 50;
/// The accounts one submission may hold: each costs a store call or two, and the whole import
/// must answer well within the function's timeout. Larger files: `scimctl import`.
const MAX_ACCOUNTS: u64 = 250;

/// The import form's text and format, shown again after a dry run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Draft<'a> {
    pub text: &'a str,
    pub format: ImportFormat,
}

/// The form's value of a format, and back.
fn format_value(format: ImportFormat) -> &'static str {
    match format {
        ImportFormat::Csv => "csv",
        ImportFormat::Jsonl => "jsonl",
    }
}

fn parse_format(value: Option<&str>) -> Option<ImportFormat> {
    match value {
        Some("csv") => Some(ImportFormat::Csv),
        Some("jsonl") => Some(ImportFormat::Jsonl),
        _ => None,
    }
}

/// The import section: the form, filled with `draft` if any.
pub(super) fn section(tenant: &TenantId, csrf: &str, draft: Option<Draft<'_>>) -> String {
    let chosen = draft.map_or(ImportFormat::Csv, |d| d.format);
    let option = |format: ImportFormat, label: &str| {
        format!(
            "<option value=\"{}\"{}>{}</option>",
            format_value(format),
            if format == chosen { " selected" } else { "" },
            esc(label)
        )
    };
    let fields = format!(
        "<div class=\"field\"><label for=\"import-file\">File (read into the box below)</label>\
         <input id=\"import-file\" type=\"file\" accept=\".csv,.jsonl,.ndjson,.json,text/csv\" data-into=\"import-text\"></div>\
         <div class=\"field\"><label for=\"import-format\">Format</label><select id=\"import-format\" name=\"format\">{}{}</select></div>\
         <div class=\"field wide\"><label for=\"import-text\">Accounts</label>\
         <textarea id=\"import-text\" name=\"text\" rows=\"10\" required>\n{}</textarea></div>\
         <button type=\"submit\" name=\"mode\" value=\"dry-run\">Check (dry run)</button>",
        option(ImportFormat::Csv, &format!("CSV with a header ({})", CSV_COLUMNS.join(", "))),
        option(ImportFormat::Jsonl, "JSON lines (one SCIM User object per line)"),
        // The newline after the tag is dropped by HTML parsers: the text keeps a leading one.
        esc(draft.map_or("", |d| d.text)),
    );
    format!(
        "<section aria-labelledby=\"import-h\"><h2 id=\"import-h\">Import existing accounts</h2>\
         <p>Accounts that existed before the identity provider, imported so that its first \
         provisioning of each person finds their account: SCIM does not show them until the \
         identity provider creates a user that matches one (on userName or primary email); the \
         conflict policy (Settings) then links them or asks for a decision above. The check \
         writes nothing; its report offers the import. Up to {MAX_ACCOUNTS} accounts and {} MiB \
         per submission (the form's limit, encoded): split a larger file, or use \
         <code>scimctl import</code>.</p>{}</section>",
        MAX_FORM_BYTES / (1024 * 1024),
        html::form(&format!("{}/import", super::tenant_url(tenant)), csrf, &fields)
    )
}

/// How an outcome reads in the report.
fn label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Created => "imported",
        Outcome::WouldCreate => "would be imported",
        Outcome::ConflictManaged => "refused: a SCIM-managed user has it",
        Outcome::ConflictUnmanaged => "refused: an imported account has it",
        Outcome::DuplicateInFile => "refused: repeated in the input",
        Outcome::Invalid => "refused: not a valid account",
    }
}

/// `POST …/import` with `mode=dry-run` (a report, nothing written) or `mode=write`.
pub async fn import(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    form: ActionForm,
) -> ConsoleResult<Response> {
    let tenant = form.operator.tenant(&tenant)?;
    let dry_run = match form.get("mode") {
        Some("dry-run") => true,
        Some("write") => false,
        _ => return refuse(&state, &form, &tenant, "Choose Check (dry run) or Import.").await,
    };
    let Some(format) = parse_format(form.get("format")) else {
        return refuse(&state, &form, &tenant, "Choose the format: CSV or JSON lines.").await;
    };
    let text = form.raw("text").unwrap_or("");
    if text.trim().is_empty() {
        return refuse(
            &state,
            &form,
            &tenant,
            "Paste the accounts, or choose a file, first.",
        )
        .await;
    }
    // A text that cannot be read counts none here: the import itself reports why, as the CLI's does.
    let accounts = Records::new(text.as_bytes(), format).count().unwrap_or(0);
    if accounts > MAX_ACCOUNTS {
        let why = format!(
            "the text holds {accounts} accounts, and the console imports at most {MAX_ACCOUNTS} at \
             a time. Split it, or use scimctl import."
        );
        return refuse(&state, &form, &tenant, &why).await;
    }
    let mut records = Records::new(text.as_bytes(), format);
    let mut importer = Importer::new(&*state.store, &tenant, &state.registry, dry_run);
    let mut entries = Vec::new();
    let mut aborted = None;
    while let Some(next) = importer.next(&mut records).await {
        match next {
            Ok(entry) => entries.push(entry),
            Err(reason) => {
                aborted = Some(reason);
                break;
            }
        }
    }
    let imported: Vec<&scim_store::import::Entry> = entries.iter().filter(|e| e.outcome.ok()).collect();
    let refused = entries.len() - imported.len();
    if !dry_run {
        let mut named: Vec<String> = imported
            .iter()
            .take(MAX_NAMED)
            .map(|e| {
                format!(
                    "'{}' ({})",
                    e.user_name.as_deref().unwrap_or_default(),
                    e.id.as_deref().unwrap_or_default()
                )
            })
            .collect();
        if imported.len() > MAX_NAMED {
            named.push(format!("and {} more", imported.len() - MAX_NAMED));
        }
        let mut detail = format!(
            "imported {} of {} accounts as unmanaged ({refused} refused)",
            imported.len(),
            entries.len()
        );
        if !named.is_empty() {
            let _ = write!(detail, ": {}", named.join(", "));
        }
        if let Some(reason) = &aborted {
            let _ = write!(detail, "; stopped at {reason}");
        }
        form.audit(
            &state,
            Action {
                tenant: &tenant,
                operation: "Console.review.import",
                path: format!("{}/import", super::tenant_url(&tenant)),
                token: None,
                resource: None,
                detail,
            },
        );
    }
    let mut top = String::new();
    if let Some(reason) = &aborted {
        top.push_str(&html::notice(
            Notice::Error,
            &format!(
                "The {} stopped at {reason}; the lines reported below were processed.",
                if dry_run { "check" } else { "import" }
            ),
        ));
    }
    let summary = if dry_run {
        format!(
            "Dry run, nothing was written: {} account{} would be imported, {refused} refused.",
            imported.len(),
            if imported.len() == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "{} account{} imported, {refused} refused.",
            imported.len(),
            if imported.len() == 1 { " was" } else { "s were" }
        )
    };
    top.push_str(&html::notice(Notice::Ok, &summary));
    let rows: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "<tr class=\"outcome {}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e.outcome.name(),
                e.line,
                esc(e.user_name.as_deref().unwrap_or("")),
                label(e.outcome),
                esc(&e.detail)
            )
        })
        .collect();
    let _ = write!(
        top,
        "<section aria-labelledby=\"report-h\"><h2 id=\"report-h\">{}</h2>{}",
        if dry_run {
            "What the import would do"
        } else {
            "What the import did"
        },
        table(
            "Each account of the input, by line",
            &["Line", "userName", "Outcome", "Detail"],
            &rows,
            "The input holds no account."
        )
    );
    if dry_run && !imported.is_empty() {
        let fields = format!(
            "<input type=\"hidden\" name=\"mode\" value=\"write\">\
             <input type=\"hidden\" name=\"format\" value=\"{}\">\
             <input type=\"hidden\" name=\"text\" value=\"{}\">\
             <p>Only the accounts marked “would be imported” are imported (each is checked again).</p>\
             <button type=\"submit\">Import these accounts</button>",
            format_value(format),
            esc(text)
        );
        top.push_str(&html::form(
            &format!("{}/import", super::tenant_url(&tenant)),
            &form.operator.csrf(),
            &fields,
        ));
    }
    top.push_str("</section>");
    let draft = dry_run.then_some(Draft { text, format });
    let mut response = super::render(&state, &form.operator, &tenant, top, draft).await?;
    if aborted.is_some() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

async fn refuse(
    state: &AppState,
    form: &ActionForm,
    tenant: &TenantId,
    why: &str,
) -> ConsoleResult<Response> {
    let text = format!("Nothing was imported: {why}");
    super::refused(state, &form.operator, tenant, StatusCode::BAD_REQUEST, &text).await
}
