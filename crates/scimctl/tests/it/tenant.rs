//! `scimctl tenant show|set` against a table on moto.
#![allow(clippy::unwrap_used)] // tests may unwrap

use crate::common::{self, data, fresh_table};
use serde_json::json;

#[test]
fn show_defaults_then_set_and_show() {
    let table = fresh_table("scimctl-tenant");
    let shown = data(&table, &["tenant", "show", "acme"]).json();
    assert_eq!(
        shown,
        json!({"tenant": "acme", "version": 0, "settings": {
            "delete_mode": "soft", "retention_days": 30, "conflict_policy": "review", "group_roles": {},
            "log_retention_days": 30, "log_read_sample_percent": 5, "log_bodies_until": null,
            "silence_alarm_hours": null}})
    );

    let set = data(
        &table,
        &[
            "tenant",
            "set",
            "acme",
            "delete_mode=hard",
            "conflict_policy=link",
            "group_roles.Engineering=developer,deployer",
            "log_retention_days=7",
            "log_read_sample_percent=100",
            "log_bodies=12h",
            "silence_alarm_hours=2",
        ],
    )
    .json();
    assert_eq!(set["version"], 1);
    let shown = data(&table, &["tenant", "show", "acme"]).json();
    assert_eq!(shown["version"], 1);
    let mut settings = shown["settings"].clone();
    // log_bodies=12h: on until twelve hours from now.
    let bodies_until = settings["log_bodies_until"].take();
    let until = scim_store::parse_timestamp(bodies_until.as_str().unwrap()).unwrap();
    let minutes_left = (until - time::OffsetDateTime::now_utc()).whole_minutes();
    assert!((11 * 60..=12 * 60).contains(&minutes_left), "{bodies_until}");
    assert_eq!(
        settings,
        json!({"delete_mode": "hard", "retention_days": 30, "conflict_policy": "link",
               "group_roles": {"Engineering": ["developer", "deployer"]},
               "log_retention_days": 7, "log_read_sample_percent": 100, "log_bodies_until": null,
               "silence_alarm_hours": 2})
    );
    // Other tenants are untouched.
    assert_eq!(data(&table, &["tenant", "show", "globex"]).json()["version"], 0);

    // Unmapping a group, then replacing everything from a file.
    data(&table, &["tenant", "set", "acme", "group_roles.Engineering="]).json();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.json");
    std::fs::write(
        &file,
        r#"{"retention_days": 7, "group_roles": {"Sales": ["crm"]}}"#,
    )
    .unwrap();
    let replaced = data(
        &table,
        &["tenant", "set", "acme", "--from-file", file.to_str().unwrap()],
    )
    .json();
    assert_eq!(replaced["version"], 3);
    assert_eq!(
        replaced["settings"],
        json!({"delete_mode": "soft", "retention_days": 7, "conflict_policy": "review",
               "group_roles": {"Sales": ["crm"]}, "log_retention_days": 30,
               "log_read_sample_percent": 5, "log_bodies_until": null, "silence_alarm_hours": null})
    );
}

/// What `tenant show` prints is a valid `--from-file`: its settings are taken, so one tenant's
/// settings can be saved, edited and applied, or copied to another tenant.
#[test]
fn set_from_file_accepts_what_show_prints() {
    let table = fresh_table("scimctl-tenant-copy");
    data(
        &table,
        &[
            "tenant",
            "set",
            "acme",
            "delete_mode=hard",
            "group_roles.Sales=crm",
        ],
    )
    .json();
    let shown = data(&table, &["tenant", "show", "acme", "--json"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(shown.stdout, data(&table, &["tenant", "show", "acme"]).stdout);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("acme.json");
    std::fs::write(&file, &shown.stdout).unwrap();

    let copied = data(
        &table,
        &[
            "tenant",
            "set",
            "globex",
            "--from-file",
            file.to_str().unwrap(),
            "retention_days=7",
        ],
    );
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    let mut want = shown.json()["settings"].clone();
    want["retention_days"] = json!(7);
    let globex = data(&table, &["tenant", "show", "globex"]).json();
    assert_eq!(globex["settings"], want);
    assert_eq!(globex["version"], 1);

    // Applied to the tenant it came from, it changes nothing but the version.
    let again = data(
        &table,
        &["tenant", "set", "acme", "--from-file", file.to_str().unwrap()],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()["settings"], shown.json()["settings"]);

    // Other keys next to "settings" are a mistake, refused as unknown keys are.
    std::fs::write(&file, r#"{"tenant": "acme", "settings": {}, "colour": "blue"}"#).unwrap();
    let refused = data(
        &table,
        &["tenant", "set", "acme", "--from-file", file.to_str().unwrap()],
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
}

#[test]
fn bad_settings_are_usage_errors_and_change_nothing() {
    let table = fresh_table("scimctl-tenant-bad");
    for bad in [
        vec!["tenant", "set", "acme", "delete_mode=sometimes"],
        vec!["tenant", "set", "acme", "retention_days=0"],
        vec!["tenant", "set", "acme", "colour=blue"],
        vec!["tenant", "set", "acme", "log_bodies=8d"],
        vec!["tenant", "set", "acme", "log_read_sample_percent=101"],
        vec!["tenant", "set", "acme", "silence_alarm_hours=0"],
        vec!["tenant", "set", "acme"],
        vec!["tenant", "set", "no/such tenant", "delete_mode=hard"],
    ] {
        let out = data(&table, &bad);
        assert_eq!(out.code, 2, "{bad:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty());
    }
    assert_eq!(data(&table, &["tenant", "show", "acme"]).json()["version"], 0);
}

#[test]
fn data_commands_need_a_table() {
    let out = common::run(
        common::scimctl_on_moto()
            .args(["tenant", "show", "acme"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
}
