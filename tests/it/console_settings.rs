//! The console's Settings page over HTTP: every group of settings saved and read back through
//! the store, the store's validation shown in the page, a save on a stale version refused, the
//! group → role mapping changing what SCIM answers, and each save's audit record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use scim_blackbox::console::{Answer, Browser};
use scim_blackbox::urn::ACCESS;
use scim_blackbox::{default_tenant, on_both_stores, Server};
use scim_store::{ConflictPolicy, DeleteMode, Expect, TenantSettings};
use serde_json::json;

const PAGE: &str = "/admin/tenants/default/settings";

async fn server(dir: &tempfile::TempDir) -> Server {
    let registry = format!("file:{}", dir.path().join("tokens.json").display());
    Server::start_with(&[("SCIM_TOKEN_REGISTRY", &registry)]).await
}

/// The value of the first `name="<name>" value="..."` in a page.
fn value_of(answer: &Answer, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = answer.body.find(&marker)? + marker.len();
    let end = answer.body[start..].find('"')?;
    Some(answer.body[start..start + end].to_string())
}

/// Posts `fields` to the settings page as its forms do: with the CSRF token and the version
/// of the page as just read, unless `fields` gives its own version.
async fn post(browser: &Browser, fields: &[(&str, &str)]) -> Answer {
    let page = browser.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let csrf = page.csrf().unwrap();
    let version = value_of(&page, "version").expect("the form carries the version");
    let mut all = vec![("csrf", csrf.as_str())];
    if !fields.iter().any(|(k, _)| *k == "version") {
        all.push(("version", version.as_str()));
    }
    all.extend_from_slice(fields);
    browser.post_raw(PAGE, &all).await
}

/// The main form as it comes with the defaults, with `changes` made.
fn main_form<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("action", "save"),
        ("delete_mode", "soft"),
        ("retention_days", "30"),
        ("conflict_policy", "review"),
        ("log_read_sample_percent", "5"),
        ("log_bodies", "unchanged"),
        ("log_retention_days", "30"),
        ("silence_alarm_hours", ""),
    ];
    for (key, value) in changes {
        if let Some(field) = fields.iter_mut().find(|(k, _)| k == key) {
            field.1 = value;
        }
    }
    fields
}

async fn stored(s: &Server) -> TenantSettings {
    s.store.settings(&default_tenant()).await.unwrap().settings
}

on_both_stores!(each_group_of_settings_is_saved_and_read_back);
async fn each_group_of_settings_is_saved_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let browser = s.console_sign_in().await;
    let page = browser.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK);
    for legend in [
        "Deleting users",
        "Conflicts",
        "Provisioning log",
        "Silence alarm",
        "Group → role mapping",
    ] {
        assert!(page.text().contains(legend), "{legend}: {}", page.text());
    }
    assert_eq!(value_of(&page, "version").as_deref(), Some("0"));

    // Deleting users.
    let saved = post(
        &browser,
        &main_form(&[("delete_mode", "hard"), ("retention_days", "90")]),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let after = browser.get(saved.location().unwrap()).await;
    assert!(
        after.text().contains("The settings are saved"),
        "{}",
        after.text()
    );
    let s1 = stored(&s).await;
    assert_eq!((s1.delete_mode, s1.retention_days), (DeleteMode::Hard, 90));
    assert!(after.body.contains("<option value=\"hard\" selected>"));
    assert!(after.body.contains("value=\"90\""));

    // Conflicts.
    let saved = post(
        &browser,
        &main_form(&[
            ("delete_mode", "hard"),
            ("retention_days", "90"),
            ("conflict_policy", "link"),
        ]),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    assert_eq!(stored(&s).await.conflict_policy, ConflictPolicy::Link);

    // Provisioning log and silence alarm.
    let log = [
        ("delete_mode", "hard"),
        ("retention_days", "90"),
        ("conflict_policy", "link"),
        ("log_read_sample_percent", "20"),
        ("log_bodies", "12h"),
        ("log_retention_days", "60"),
        ("silence_alarm_hours", "6"),
    ];
    let saved = post(&browser, &main_form(&log)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let s3 = stored(&s).await;
    let now = scim_store::now();
    assert_eq!(
        (
            s3.log_read_sample_percent,
            s3.log_retention_days,
            s3.silence_alarm_hours
        ),
        (20, 60, Some(6))
    );
    assert!(s3.log_bodies_at(now + time::Duration::hours(11)));
    assert!(!s3.log_bodies_at(now + time::Duration::hours(13)), "12 hours");
    let shown = browser.get(PAGE).await;
    assert!(shown.text().contains("now on until"), "{}", shown.text());

    // Saving again with bodies left as they are keeps their end; clearing the alarm turns it off.
    let mut unchanged = log;
    unchanged[4] = ("log_bodies", "unchanged");
    unchanged[6] = ("silence_alarm_hours", "");
    let saved = post(&browser, &main_form(&unchanged)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let s4 = stored(&s).await;
    assert_eq!(s4.log_bodies_until, s3.log_bodies_until);
    assert_eq!(s4.silence_alarm_hours, None);
    let mut off = unchanged;
    off[4] = ("log_bodies", "off");
    post(&browser, &main_form(&off)).await;
    assert_eq!(stored(&s).await.log_bodies_until, None);

    // The same values again: nothing is written.
    let version = s.store.settings(&default_tenant()).await.unwrap().version;
    let same = post(&browser, &main_form(&off)).await;
    assert!(same.location().unwrap().ends_with("notice=unchanged"));
    assert_eq!(
        s.store.settings(&default_tenant()).await.unwrap().version,
        version
    );
}

on_both_stores!(group_role_mappings_change_what_scim_answers);
async fn group_role_mappings_change_what_scim_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let alice = s.create_user("alice").await;
    s.create_group("Engineering", &[&alice]).await;
    s.create_group("Apples & <Pears>", &[]).await;
    let browser = s.console_sign_in().await;
    let page = browser.get(PAGE).await;
    assert!(
        page.body
            .contains("<option value=\"Engineering\">Engineering</option>"),
        "the tenant's groups are offered"
    );
    assert!(page.body.contains("Apples &amp; &lt;Pears&gt;"));
    assert!(page.text().contains("No group grants roles yet"));

    let mapped = post(
        &browser,
        &[
            ("action", "map"),
            ("group", "Engineering"),
            ("roles", "developer, deployer"),
        ],
    )
    .await;
    assert_eq!(mapped.status, StatusCode::SEE_OTHER, "{}", mapped.text());
    assert_eq!(
        stored(&s).await.group_roles["Engineering"],
        vec!["developer", "deployer"]
    );
    let listed = browser.get(mapped.location().unwrap()).await;
    assert!(listed.text().contains("roles are saved"));
    assert!(
        listed.text().contains("Engineering developer, deployer"),
        "{}",
        listed.text()
    );

    let roles_of_alice = || async {
        let r = s
            .get(&format!("/Users/{alice}?attributes={ACCESS}:effectiveRoles"))
            .await;
        r.assert_status(200)[ACCESS]["effectiveRoles"].clone()
    };
    assert_eq!(roles_of_alice().await, json!(["deployer", "developer"]));

    let removed = post(&browser, &[("action", "unmap"), ("group", "Engineering")]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.text());
    assert!(stored(&s).await.group_roles.is_empty());
    let roles = roles_of_alice().await;
    assert!(
        roles.is_null() || roles == json!([]),
        "no roles once unmapped: {roles}"
    );
}

#[tokio::test]
async fn invalid_values_are_explained_in_the_page_and_nothing_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let browser = s.console_sign_in().await;
    for (fields, says, kept) in [
        (
            main_form(&[("retention_days", "0")]),
            "retention_days must be between 1 and 3650",
            "value=\"0\"",
        ),
        (
            main_form(&[("log_read_sample_percent", "101"), ("retention_days", "77")]),
            "log_read_sample_percent is 0 to 100",
            "value=\"77\"",
        ),
        (
            main_form(&[("silence_alarm_hours", "999")]),
            "silence_alarm_hours must be between 1 and 168",
            "value=\"999\"",
        ),
        (
            vec![("action", "map"), ("group", "Engineering"), ("roles", " , ")],
            "Name the roles",
            "<option value=\"Engineering\" selected>",
        ),
        (
            vec![("action", "map"), ("group", "Engineering"), ("roles", " , ")],
            "Name the roles",
            // The main form keeps the settings as they are.
            "<option value=\"review\" selected>",
        ),
    ] {
        let answer = post(&browser, &fields).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(answer.text().contains("Not saved"), "{}", answer.text());
        assert!(answer.text().contains(says), "{says}: {}", answer.text());
        assert!(answer.body.contains(kept), "what was typed is kept: {kept}");
    }
    let read = s.store.settings(&default_tenant()).await.unwrap();
    assert_eq!(read.version, 0, "nothing was written");
    assert_eq!(read.settings, TenantSettings::default());
}

on_both_stores!(a_save_on_a_stale_version_is_refused_and_the_page_reloaded);
async fn a_save_on_a_stale_version_is_refused_and_the_page_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let browser = s.console_sign_in().await;
    let opened = browser.get(PAGE).await;
    let version = value_of(&opened, "version").unwrap();
    // Someone else (scimctl, another operator) saves meanwhile.
    let theirs = TenantSettings {
        retention_days: 45,
        ..TenantSettings::default()
    };
    let tenant = default_tenant();
    let current = s.store.settings(&tenant).await.unwrap().version;
    s.store
        .put_settings(&tenant, &theirs, Expect::Version(current))
        .await
        .unwrap();

    let mut fields = main_form(&[("delete_mode", "hard")]);
    fields.push(("version", &version));
    let answer = post(&browser, &fields).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.text());
    assert!(
        answer.text().contains("changed by someone else"),
        "{}",
        answer.text()
    );
    assert!(
        answer.body.contains("value=\"45\""),
        "reloaded: their value shown"
    );
    let kept = stored(&s).await;
    assert_eq!(kept, theirs, "their save stands");
    // The reloaded page saves.
    let again = post(
        &browser,
        &main_form(&[("delete_mode", "hard"), ("retention_days", "45")]),
    )
    .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.text());
    assert_eq!(stored(&s).await.delete_mode, DeleteMode::Hard);
}

#[tokio::test]
async fn each_save_is_recorded_with_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let browser = s.console_sign_in().await;
    post(
        &browser,
        &main_form(&[("delete_mode", "hard"), ("silence_alarm_hours", "4")]),
    )
    .await;
    post(
        &browser,
        &[("action", "map"), ("group", "Sales"), ("roles", "crm")],
    )
    .await;
    let actions = s.console_actions().await;
    let saves: Vec<_> = actions
        .iter()
        .filter(|r| r.operation == "Console.settings.save")
        .collect();
    assert_eq!(saves.len(), 2, "{actions:?}");
    for r in &saves {
        assert_eq!(r.operator.as_deref(), Some("local operator (local)"));
        assert_eq!(r.path, PAGE);
    }
    let (mapping, main) = (saves[0], saves[1]);
    let detail = main.detail.as_deref().unwrap();
    assert!(detail.contains("delete_mode: soft → hard"), "{detail}");
    assert!(detail.contains("silence_alarm_hours: none → 4"), "{detail}");
    assert!(!detail.contains("retention_days"), "only what changed: {detail}");
    let change = main
        .changed
        .iter()
        .find(|c| c.attribute == "delete_mode")
        .unwrap();
    assert_eq!(
        (change.old.clone(), change.new.clone()),
        (Some(json!("soft")), Some(json!("hard")))
    );
    assert!(
        mapping
            .detail
            .as_deref()
            .unwrap()
            .contains("group_roles.Sales: none → crm"),
        "{:?}",
        mapping.detail
    );
}
