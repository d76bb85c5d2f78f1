//! The Settings page: a tenant's [`TenantSettings`] (what `scimctl tenant show/set` edits) as a
//! form: deleting users, conflicts with imported accounts, group → role mapping, the
//! provisioning log, and the silence alarm.
//!
//! Every form carries the settings version it was rendered from, and a save is written only on
//! that version ([`Expect::Version`]): of two operators editing at once, the second is told the
//! settings changed and shown them reloaded, instead of silently undoing the first's change.
//! Values are checked by the store's own rules ([`TenantSettings::assign`] and
//! [`TenantSettings::validate`]), whose message the page shows beside what was typed.

use super::audit::Action;
use super::html::{self, esc, form, section_url, table, time, Notice, Section};
use super::{done, ActionForm, ConsoleError, ConsoleResult, Operator};
use crate::extract::QueryPairs;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use scim_proto::sort::SortBy;
use scim_store::log::LogChange;
use scim_store::settings::{MAX_LOG_RETENTION_DAYS, MAX_RETENTION_DAYS, MAX_SILENCE_ALARM_HOURS};
use scim_store::{
    Expect, Include, Paging, Query, ResourceKind, StoreError, TenantId, TenantSettings, VersionedSettings,
};
use serde_json::Value;
use std::fmt::Write as _;

/// Most groups the mapping form offers (the first by `displayName`): a longer list is no
/// help in a `<select>`, and reading it would cost every page view.
const GROUP_CHOICES: usize = 500;
/// Most store reads to gather them (a store may answer a read with a short page).
const GROUP_READS: usize = 10;
/// What "Request and response bodies" offers: `log_bodies` values and their labels.
const BODIES_CHOICES: [(&str, &str); 6] = [
    ("off", "Off"),
    ("1h", "On for 1 hour"),
    ("12h", "On for 12 hours"),
    ("24h", "On for 24 hours"),
    ("3d", "On for 3 days"),
    ("7d", "On for 7 days"),
];
/// The `log_bodies` choice that leaves it as it is (bodies switch themselves off at a time).
const BODIES_UNCHANGED: &str = "unchanged";
/// The settings the main form sets, in the order they are applied.
const FORM_KEYS: [&str; 7] = [
    "delete_mode",
    "retention_days",
    "conflict_policy",
    "log_read_sample_percent",
    "log_bodies",
    "log_retention_days",
    "silence_alarm_hours",
];

/// `GET /admin/tenants/{tenant}/settings`
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
            ("saved", "The settings are saved."),
            ("mapped", "The group's roles are saved."),
            ("unmapped", "The group's mapping is removed."),
            ("unchanged", "Nothing changed: the settings were already so."),
        ],
    );
    let current = state.store.settings(&tenant).await?;
    let draft = Draft::of(&current.settings);
    render(&state, &operator, &tenant, &current, &draft, top).await
}

/// `POST /admin/tenants/{tenant}/settings`: `action=save` (the main form), `map` (a group's
/// roles) or `unmap` (remove a group's mapping), each on the `version` the page was read at.
pub async fn save(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    form: ActionForm,
) -> ConsoleResult<Response> {
    let tenant = form.operator.tenant(&tenant)?;
    let current = state.store.settings(&tenant).await?;
    let draft = Draft::of(&current.settings).typed(&form);
    let version = form
        .get("version")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            ConsoleError::Invalid("The form carries no settings version: reload the page.".into())
        })?;
    if version != current.version {
        return stale(&state, &form, &tenant).await;
    }
    let action = form.get("action").unwrap_or("save");
    let next = match apply(&current.settings, action, &form) {
        Ok(next) => next,
        Err(detail) => return refused(&state, &form, &tenant, &current, &draft, &detail).await,
    };
    let changed = changes(&current.settings, &next);
    let base = section_url(tenant.as_str(), Section::Settings);
    if changed.is_empty() {
        return Ok(done(&base, "unchanged"));
    }
    match state
        .store
        .put_settings(&tenant, &next, Expect::Version(version))
        .await
    {
        Ok(_) => {}
        Err(StoreError::VersionConflict { .. }) => return stale(&state, &form, &tenant).await,
        Err(StoreError::Invalid(detail)) => {
            return refused(&state, &form, &tenant, &current, &draft, &detail).await
        }
        Err(e) => return Err(e.into()),
    }
    let summary: Vec<String> = changed
        .iter()
        .map(|c| {
            format!(
                "{}: {} → {}",
                c.attribute,
                shown(c.old.as_ref()),
                shown(c.new.as_ref())
            )
        })
        .collect();
    form.audit_changes(
        &state,
        Action {
            tenant: &tenant,
            operation: "Console.settings.save",
            path: base.clone(),
            token: None,
            resource: None,
            detail: format!("changed settings: {}", summary.join("; ")),
        },
        changed,
    );
    let notice = match action {
        "map" => "mapped",
        "unmap" => "unmapped",
        _ => "saved",
    };
    Ok(done(&base, notice))
}

/// The settings `action` makes of `current`, or why not (the store's message).
fn apply(current: &TenantSettings, action: &str, form: &ActionForm) -> Result<TenantSettings, String> {
    let mut next = current.clone();
    match action {
        "save" => {
            for key in FORM_KEYS {
                let value = match (key, form.get(key)) {
                    ("log_bodies", None | Some(BODIES_UNCHANGED)) => continue,
                    ("silence_alarm_hours", None) => "off",
                    (_, Some(value)) => value,
                    (_, None) => return Err(format!("{key} is missing: give a value.")),
                };
                next.assign(&format!("{key}={value}"))
                    .map_err(|e| e.to_string())?;
            }
        }
        "map" => {
            let group = group_of(form).ok_or("Choose a group to map.")?;
            let roles: Vec<String> = form
                .get("roles")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect();
            if roles.is_empty() {
                return Err(format!(
                    "Name the roles group '{group}' grants, separated by commas."
                ));
            }
            next.group_roles.insert(group.to_string(), roles);
        }
        "unmap" => {
            let group = group_of(form).ok_or("Choose a mapping to remove.")?;
            next.group_roles.remove(group);
        }
        other => return Err(format!("'{other}' is not an action of this page.")),
    }
    next.validate().map_err(|e| e.to_string())?;
    Ok(next)
}

/// The group a mapping form names, as sent: a mapping's key is a group's exact `displayName`
/// or `externalId`, so it is not trimmed.
fn group_of(form: &ActionForm) -> Option<&str> {
    form.raw("group").filter(|v| !v.trim().is_empty())
}

/// What changed between two settings, one entry per setting (per group for `group_roles`),
/// named as `scimctl tenant set` names them.
fn changes(old: &TenantSettings, new: &TenantSettings) -> Vec<LogChange> {
    let as_map = |s: &TenantSettings| match serde_json::to_value(s) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut out = Vec::new();
    for (key, new_value) in &new {
        let old_value = old.get(key);
        if old_value == Some(new_value) {
            continue;
        }
        match (old_value, new_value) {
            (Some(Value::Object(old_groups)), Value::Object(new_groups)) => {
                let mut groups: Vec<&String> = old_groups.keys().chain(new_groups.keys()).collect();
                groups.sort();
                groups.dedup();
                for group in groups {
                    let (o, n) = (old_groups.get(group), new_groups.get(group));
                    if o != n {
                        out.push(LogChange {
                            attribute: format!("{key}.{group}"),
                            old: o.cloned(),
                            new: n.cloned(),
                        });
                    }
                }
            }
            _ => out.push(LogChange {
                attribute: key.clone(),
                old: old_value.filter(|v| !v.is_null()).cloned(),
                new: Some(new_value.clone()).filter(|v| !v.is_null()),
            }),
        }
    }
    out
}

/// A setting's value as text: strings bare, roles joined, absent as "none".
fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "none".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        Some(v) => v.to_string(),
    }
}

/// A save refused: the page again with what was typed and why (400).
async fn refused(
    state: &AppState,
    form: &ActionForm,
    tenant: &TenantId,
    current: &VersionedSettings,
    draft: &Draft,
    detail: &str,
) -> ConsoleResult<Response> {
    let top = html::notice(Notice::Error, &format!("Not saved: {detail}"));
    let mut response = render(state, &form.operator, tenant, current, draft, top).await?;
    *response.status_mut() = StatusCode::BAD_REQUEST;
    Ok(response)
}

/// A save on a version someone else replaced meanwhile: nothing written, the page reloaded (409).
async fn stale(state: &AppState, form: &ActionForm, tenant: &TenantId) -> ConsoleResult<Response> {
    let current = state.store.settings(tenant).await?;
    let top = html::notice(
        Notice::Error,
        "Not saved: the settings were changed by someone else since this page was opened. They are \
         reloaded below; make your change again.",
    );
    let draft = Draft::of(&current.settings);
    let mut response = render(state, &form.operator, tenant, &current, &draft, top).await?;
    *response.status_mut() = StatusCode::CONFLICT;
    Ok(response)
}

/// The form's values as text: the settings' own, or what an operator typed.
#[derive(Debug, Default)]
struct Draft {
    delete_mode: String,
    retention_days: String,
    conflict_policy: String,
    log_read_sample_percent: String,
    log_bodies: String,
    log_retention_days: String,
    silence_alarm_hours: String,
    group: String,
    roles: String,
}

impl Draft {
    fn of(s: &TenantSettings) -> Draft {
        Draft {
            delete_mode: serde_name(&s.delete_mode),
            retention_days: s.retention_days.to_string(),
            conflict_policy: serde_name(&s.conflict_policy),
            log_read_sample_percent: s.log_read_sample_percent.to_string(),
            log_bodies: BODIES_UNCHANGED.into(),
            log_retention_days: s.log_retention_days.to_string(),
            silence_alarm_hours: s.silence_alarm_hours.map(|h| h.to_string()).unwrap_or_default(),
            group: String::new(),
            roles: String::new(),
        }
    }

    /// `self` with what `form` sent in place of each field it carries (a mapping form carries
    /// none of the main form's).
    fn typed(mut self, form: &ActionForm) -> Draft {
        let fields = [
            ("delete_mode", &mut self.delete_mode),
            ("retention_days", &mut self.retention_days),
            ("conflict_policy", &mut self.conflict_policy),
            ("log_read_sample_percent", &mut self.log_read_sample_percent),
            ("log_bodies", &mut self.log_bodies),
            ("log_retention_days", &mut self.log_retention_days),
            ("silence_alarm_hours", &mut self.silence_alarm_hours),
            ("roles", &mut self.roles),
        ];
        for (name, field) in fields {
            if let Some(value) = form.raw(name) {
                *field = value.trim().to_string();
            }
        }
        self.group = group_of(form).unwrap_or("").to_string();
        self
    }
}

/// An enum setting by the name `scimctl tenant set` takes (its serde name).
fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// `<option>`s of `choices`, `chosen` selected.
fn options(choices: &[(&str, &str)], chosen: &str) -> String {
    let mut out = String::new();
    for (value, label) in choices {
        let selected = if *value == chosen { " selected" } else { "" };
        let _ = write!(
            out,
            "<option value=\"{}\"{selected}>{}</option>",
            esc(value),
            esc(label)
        );
    }
    out
}

/// A number field.
fn number(id: &str, label: &str, value: &str, min: u32, max: u32, hint: &str) -> String {
    format!(
        "<div class=\"field\"><label for=\"{id}\">{}</label>\
         <input id=\"{id}\" name=\"{id}\" type=\"number\" min=\"{min}\" max=\"{max}\" value=\"{}\" \
         aria-describedby=\"{id}-hint\"><small id=\"{id}-hint\">{}</small></div>",
        esc(label),
        esc(value),
        esc(hint)
    )
}

async fn render(
    state: &AppState,
    operator: &Operator,
    tenant: &TenantId,
    current: &VersionedSettings,
    draft: &Draft,
    top: String,
) -> ConsoleResult<Response> {
    let base = section_url(tenant.as_str(), Section::Settings);
    let csrf = operator.csrf();
    let version = format!(
        "<input type=\"hidden\" name=\"version\" value=\"{}\">",
        current.version
    );
    let settings = &current.settings;
    let bodies_now = match settings
        .log_bodies_until
        .as_deref()
        .filter(|_| settings.log_bodies_at(scim_store::now()))
    {
        Some(until) => format!("on until {}", time(until)),
        None => "off".into(),
    };
    let mut bodies_choices = vec![(BODIES_UNCHANGED, "Leave as it is")];
    bodies_choices.extend_from_slice(&BODIES_CHOICES);
    let main = format!(
        "<fieldset><legend>Deleting users</legend>\
         <div class=\"field\"><label for=\"delete_mode\">When the identity provider deletes a user</label>\
         <select id=\"delete_mode\" name=\"delete_mode\">{delete}</select></div>{retention}</fieldset>\
         <fieldset><legend>Conflicts</legend>\
         <div class=\"field\"><label for=\"conflict_policy\">When the identity provider creates a user \
         whose userName an imported account has</label>\
         <select id=\"conflict_policy\" name=\"conflict_policy\">{conflict}</select></div></fieldset>\
         <fieldset><legend>Provisioning log</legend>{sample}\
         <div class=\"field\"><label for=\"log_bodies\">Request and response bodies (now {bodies_now})</label>\
         <select id=\"log_bodies\" name=\"log_bodies\" aria-describedby=\"log_bodies-hint\">{bodies}</select>\
         <small id=\"log_bodies-hint\">Bodies hold personal data (passwords are always removed), so keeping \
         them switches itself off at the end of the chosen time.</small></div>{log_retention}</fieldset>\
         <fieldset><legend>Silence alarm</legend>{silence}</fieldset>\
         {version}<button type=\"submit\" name=\"action\" value=\"save\">Save settings</button>",
        delete = options(
            &[
                ("soft", "Keep it for the retention period (restorable on the Review page)"),
                ("hard", "Remove it and its memberships at once"),
            ],
            &draft.delete_mode
        ),
        retention = number(
            "retention_days",
            "Days a deleted user is kept",
            &draft.retention_days,
            1,
            MAX_RETENTION_DAYS,
            "Then it is purged for good."
        ),
        conflict = options(
            &[
                ("review", "Refuse it and list the conflict on the Review page"),
                ("link", "Adopt the imported account"),
            ],
            &draft.conflict_policy
        ),
        sample = number(
            "log_read_sample_percent",
            "Percent of successful reads recorded",
            &draft.log_read_sample_percent,
            0,
            100,
            "Writes and failed requests are always recorded."
        ),
        bodies = options(&bodies_choices, &draft.log_bodies),
        log_retention = number(
            "log_retention_days",
            "Days a record is kept",
            &draft.log_retention_days,
            1,
            MAX_LOG_RETENTION_DAYS,
            "Then it is removed."
        ),
        silence = number(
            "silence_alarm_hours",
            "Alert after this many hours without a request from the identity provider",
            &draft.silence_alarm_hours,
            1,
            MAX_SILENCE_ALARM_HOURS,
            "Empty: no alarm."
        ),
    );
    let mut body = top;
    let _ = write!(
        body,
        "<section aria-labelledby=\"settings-h\"><h2 id=\"settings-h\">Settings</h2>{}</section>",
        form(&base, &csrf, &main)
    );
    let rows: Vec<String> = settings
        .group_roles
        .iter()
        .map(|(group, roles)| {
            let remove = form(
                &base,
                &csrf,
                &format!(
                    "<input type=\"hidden\" name=\"group\" value=\"{g}\">{version}\
                     <button type=\"submit\" name=\"action\" value=\"unmap\" \
                     aria-label=\"Remove the mapping of {g}\">Remove</button>",
                    g = esc(group)
                ),
            );
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"actions\">{remove}</td></tr>",
                esc(group),
                esc(&roles.join(", "))
            )
        })
        .collect();
    let (groups, more) = group_names(state, tenant).await?;
    let mut group_options = String::from("<option value=\"\">Choose a group</option>");
    let typed_elsewhere = !draft.group.is_empty() && !groups.contains(&draft.group);
    for name in groups.iter().chain(typed_elsewhere.then_some(&draft.group)) {
        let selected = if *name == draft.group { " selected" } else { "" };
        let _ = write!(
            group_options,
            "<option value=\"{0}\"{selected}>{0}</option>",
            esc(name)
        );
    }
    let more = if more {
        format!(" Only the first {GROUP_CHOICES} groups by name are listed.")
    } else {
        String::new()
    };
    let map = format!(
        "<div class=\"field\"><label for=\"map-group\">Group</label>\
         <select id=\"map-group\" name=\"group\" aria-describedby=\"map-group-hint\">{group_options}</select>\
         <small id=\"map-group-hint\">The tenant's groups, by displayName.{more} A group already \
         mapped gets the roles named here instead of its old ones.</small></div>\
         <div class=\"field\"><label for=\"map-roles\">Roles (separated by commas)</label>\
         <input id=\"map-roles\" name=\"roles\" value=\"{roles}\" placeholder=\"developer, deployer\" \
         autocomplete=\"off\"></div>{version}\
         <button type=\"submit\" name=\"action\" value=\"map\">Map group</button>",
        roles = esc(&draft.roles),
    );
    let _ = write!(
        body,
        "<section aria-labelledby=\"roles-h\"><h2 id=\"roles-h\">Group → role mapping</h2>\
         <p>Members of a mapped group (directly or through nested groups) have its roles in the \
         access extension of their user.</p>{}{}</section>",
        table(
            "Groups and the roles they grant",
            &["Group", "Roles", "Actions"],
            &rows,
            "No group grants roles yet."
        ),
        form(&base, &csrf, &map)
    );
    operator
        .render_tenant(state, Section::Settings, tenant, body)
        .await
}

/// The `displayName`s of the tenant's first [`GROUP_CHOICES`] groups by name, and whether there
/// are more.
async fn group_names(state: &AppState, tenant: &TenantId) -> ConsoleResult<(Vec<String>, bool)> {
    let sort = SortBy::resolve("displayName", None, &state.registry.group())
        .map_err(|e| ConsoleError::failed(e.detail))?;
    let mut names = Vec::new();
    let mut after = None;
    for _ in 0..GROUP_READS {
        let query = Query {
            filter: None,
            paging: Paging::Cursor { after },
            count: (GROUP_CHOICES - names.len()) as u64,
            include: Include::NONE,
            sort: Some(sort.clone()),
        };
        let page = state.store.query(tenant, ResourceKind::Group, &query).await?;
        names.extend(
            page.resources
                .iter()
                .filter_map(|g| g.attrs.get("displayName").and_then(Value::as_str))
                .map(str::to_string),
        );
        match page.next {
            Some(next) if names.len() < GROUP_CHOICES => after = Some(next),
            Some(_) => return Ok((names, true)),
            None => return Ok((names, false)),
        }
    }
    Ok((names, true))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn changes_name_each_setting_and_each_group() {
        let old = TenantSettings::default();
        let mut new = old.clone();
        new.assign("delete_mode=hard").unwrap();
        new.assign("silence_alarm_hours=4").unwrap();
        new.assign("group_roles.Engineering=developer,deployer").unwrap();
        let got: Vec<(String, String, String)> = changes(&old, &new)
            .iter()
            .map(|c| (c.attribute.clone(), shown(c.old.as_ref()), shown(c.new.as_ref())))
            .collect();
        let want = [
            ("delete_mode", "soft", "hard"),
            ("group_roles.Engineering", "none", "developer, deployer"),
            ("silence_alarm_hours", "none", "4"),
        ];
        assert_eq!(
            got,
            want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        );
        assert!(changes(&new, &new).is_empty());
    }
}
