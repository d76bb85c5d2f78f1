//! Change events on the embedded store, over HTTP: `SCIM_EVENTS=file:<path>` receives exactly
//! the events of the committed writes of a provisioning sequence, in commit order, and none for
//! its failed writes (`scim_blackbox::events`).

#![allow(clippy::unwrap_used)]

use scim_blackbox::events::{assert_events, provisioning_sequence};
use scim_blackbox::Server;
use scim_store::events::ChangeEvent;

#[tokio::test]
async fn the_event_file_holds_exactly_the_committed_changes_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let setting = format!("file:{}", path.display());
    let s = Server::start_with(&[("SCIM_EVENTS", &setting)]).await;
    let want = provisioning_sequence(&s).await;
    let got: Vec<ChangeEvent> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_events(&got, &want);
    // The embedded store commits one write at a time: the whole list is in commit order.
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert!(w.matches(g), "got {g:#?}\nwant {w:#?}");
    }
    // Another tenant's writes go to the same file, under its name.
    let other = s.as_token(scim_blackbox::OTHER_TOKEN);
    other.create_user("carol").await;
    let last = std::fs::read_to_string(&path).unwrap();
    let last: ChangeEvent = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last.tenant.as_str(), last.event_type.as_str()),
        ("other", "user.created")
    );
}
