//! The console's Review page over HTTP: a conflict made the real way (an imported account, then
//! Okta's `POST /Users` under the default `review` policy) shown beside the account it met,
//! escaped, and decided with Link (the IdP's retry adopts the account) or Reject (the retry
//! creates a new user); a soft-deleted user restored; an import checked in a dry run (nothing
//! written), then written. Every action leaves a `Console.review.*` record naming what it
//! touched. Each test runs on both stores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::StatusCode;
use scim_blackbox::console::Browser;
use scim_blackbox::{default_tenant, okta_user, on_both_stores, Server};
use scim_store::log::LogRecord;
use scim_store::{ConflictScope, DeleteMode, TenantSettings};
use serde_json::{json, Map, Value};

const PAGE: &str = "/admin/tenants/default/review";

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// The console's records of the Review page's actions, newest first.
async fn review_records(s: &Server) -> Vec<LogRecord> {
    s.console_actions()
        .await
        .into_iter()
        .filter(|r| r.operation.starts_with("Console.review."))
        .collect()
}

/// An imported account and Okta's POST that collides with it (409): the account's id and the
/// conflict's id.
async fn conflict(s: &Server, user_name: &str) -> (String, String) {
    let account = s
        .store
        .import_unmanaged(
            &default_tenant(),
            obj(json!({"userName": user_name, "title": "Eng & <b>Ops</b>"})),
        )
        .await
        .unwrap()
        .id;
    let mut posted = okta_user(user_name);
    posted["displayName"] = json!("<script>alert(1)</script>");
    s.post("/Users", &posted)
        .await
        .assert_error(409, Some("uniqueness"));
    let open = s
        .store
        .list_conflicts(&default_tenant(), ConflictScope::Open)
        .await
        .unwrap();
    let id = open
        .iter()
        .find(|c| c.user_name == user_name)
        .expect("the POST recorded a conflict")
        .id
        .clone();
    (account, id)
}

async fn decide(browser: &Browser, conflict: &str, decision: &str) -> scim_blackbox::console::Answer {
    let action = format!("/admin/tenants/default/conflicts/{conflict}/{decision}");
    browser.submit(PAGE, &action, &[]).await
}

on_both_stores!(a_conflict_is_shown_side_by_side_and_linked);
async fn a_conflict_is_shown_side_by_side_and_linked() {
    let s = Server::start().await;
    let (account, id) = conflict(&s, "dade.murphy@example.com").await;
    let browser = s.console_sign_in().await;

    let page = browser.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let text = page.text();
    assert!(text.contains("Conflicts waiting for a decision"), "{text}");
    assert!(
        page.body.contains(&format!("id=\"conflict-{id}\"")),
        "{}",
        page.body
    );
    // Which key collided, with what, and when.
    assert!(
        text.contains("Collided on userName “dade.murphy@example.com”"),
        "{text}"
    );
    assert!(text.contains(&account), "{text}");
    assert!(page.body.contains("<time datetime="), "{}", page.body);
    // Side by side: the IdP's values and the account's, every one escaped.
    assert!(
        text.contains("Attribute Identity provider sent Existing account"),
        "{text}"
    );
    assert!(
        page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(
        page.body.contains("Eng &amp; &lt;b&gt;Ops&lt;/b&gt;"),
        "{}",
        page.body
    );
    assert!(text.contains("externalId 00ujl29u0le5T6Aj10h7 (none)"), "{text}");
    assert!(!text.contains("1mz050nq"), "no password is shown: {text}");

    // A decision other than link or reject is no page.
    assert_eq!(
        decide(&browser, &id, "approve").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        decide(&browser, "no-such", "link").await.status,
        StatusCode::NOT_FOUND
    );

    let linked = decide(&browser, &id, "link").await;
    assert_eq!(linked.status, StatusCode::SEE_OTHER, "{}", linked.body);
    assert_eq!(
        linked.location(),
        Some("/admin/tenants/default/review?notice=linked")
    );
    let after = browser.get(linked.location().unwrap()).await;
    assert!(
        after.text().contains("The conflict is linked"),
        "{}",
        after.text()
    );
    assert!(
        !after.body.contains(&format!("id=\"conflict-{id}\"")),
        "no longer waiting"
    );
    assert!(
        after.text().contains("No conflict is waiting for a decision"),
        "{}",
        after.text()
    );
    assert!(after.text().contains("Recently decided"), "{}", after.text());
    // The opposite decision is refused, in the page.
    let reject = decide(&browser, &id, "reject").await;
    assert_eq!(reject.status, StatusCode::BAD_REQUEST);
    assert!(
        reject.text().contains("The conflict was not changed"),
        "{}",
        reject.text()
    );

    // The IdP's retry adopts the account, as the conflicts feature promises.
    let retried = s.post("/Users", &okta_user("dade.murphy@example.com")).await;
    let user = retried.assert_status(201);
    assert_eq!(user["id"], account.as_str());
    assert_eq!(user["title"], "Eng & <b>Ops</b>");

    let records = review_records(&s).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r.operation, "Console.review.link");
    assert_eq!(r.operator.as_deref(), Some("local operator (local)"));
    assert_eq!(r.resource_id.as_deref(), Some(account.as_str()));
    assert_eq!(r.resource_name.as_deref(), Some("dade.murphy@example.com"));
    assert!(r.detail.as_deref().unwrap().contains(&id), "{r:?}");
}

on_both_stores!(a_rejected_conflict_lets_the_retry_create_a_new_user);
async fn a_rejected_conflict_lets_the_retry_create_a_new_user() {
    let s = Server::start().await;
    let (account, id) = conflict(&s, "kate.libby@example.com").await;
    let browser = s.console_sign_in().await;
    let rejected = decide(&browser, &id, "reject").await;
    assert_eq!(rejected.status, StatusCode::SEE_OTHER, "{}", rejected.body);
    let after = browser.get(rejected.location().unwrap()).await;
    assert!(
        after.text().contains("The conflict is rejected"),
        "{}",
        after.text()
    );
    assert!(!after.body.contains(&format!("id=\"conflict-{id}\"")));

    let retried = s.post("/Users", &okta_user("kate.libby@example.com")).await;
    assert_ne!(retried.assert_status(201)["id"], account.as_str());

    let records = review_records(&s).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].operation, "Console.review.reject");
    assert_eq!(records[0].resource_id.as_deref(), Some(account.as_str()));
    assert_eq!(
        records[0].resource_name.as_deref(),
        Some("kate.libby@example.com")
    );
}

on_both_stores!(a_soft_deleted_user_is_restored);
async fn a_soft_deleted_user_is_restored() {
    let s = Server::start().await;
    s.put_settings(&TenantSettings {
        delete_mode: DeleteMode::Soft,
        ..TenantSettings::default()
    })
    .await;
    let id = s.create_user("alice@example.com").await;
    assert_eq!(s.delete(&format!("/Users/{id}")).await.status.as_u16(), 204);
    let browser = s.console_sign_in().await;

    let page = browser.get(PAGE).await;
    let text = page.text();
    assert!(text.contains("Deleted users"), "{text}");
    assert!(text.contains("alice@example.com"), "{text}");
    let restore = format!("/admin/tenants/default/deleted/{id}/restore");
    assert!(page.body.contains(&restore), "{}", page.body);

    let restored = browser.submit(PAGE, &restore, &[]).await;
    assert_eq!(restored.status, StatusCode::SEE_OTHER, "{}", restored.body);
    assert_eq!(
        restored.location(),
        Some("/admin/tenants/default/review?notice=restored")
    );
    let after = browser.get(restored.location().unwrap()).await;
    assert!(after.text().contains("The user is restored"), "{}", after.text());
    assert!(
        after.text().contains("No deleted user is kept"),
        "{}",
        after.text()
    );
    let back = s.get(&format!("/Users/{id}")).await;
    assert_eq!(back.assert_status(200)["userName"], "alice@example.com");

    // Restored already: explained in the page.
    let again = browser.submit(PAGE, &restore, &[]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.text().contains("no longer kept"), "{}", again.text());

    let records = review_records(&s).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].operation, "Console.review.restore");
    assert_eq!(records[0].resource_id.as_deref(), Some(id.as_str()));
    assert_eq!(records[0].resource_name.as_deref(), Some("alice@example.com"));
}

on_both_stores!(an_import_is_checked_without_writing_then_written);
async fn an_import_is_checked_without_writing_then_written() {
    let s = Server::start().await;
    s.create_user("bob@example.com").await;
    let browser = s.console_sign_in().await;
    let page = browser.get(PAGE).await;
    assert!(page.body.contains("data-into=\"import-text\""), "{}", page.body);
    assert!(page.body.contains("id=\"import-text\""), "{}", page.body);
    assert!(
        page.text().contains("Up to 250 accounts and 2 MiB"),
        "{}",
        page.text()
    );

    let csv = "userName,email,displayName\n\
               carol@example.com,carol@example.com,Carol <i>C</i>\n\
               dave@example.com,,Dave\n\
               bob@example.com,,Bob\n\
               carol@example.com,,Again\n";
    let action = "/admin/tenants/default/import";
    let checked = browser
        .submit(
            PAGE,
            action,
            &[("mode", "dry-run"), ("format", "csv"), ("text", csv)],
        )
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    let text = checked.text();
    assert!(
        text.contains("Dry run, nothing was written: 2 accounts would be imported, 2 refused"),
        "{text}"
    );
    assert!(text.contains("2 carol@example.com would be imported"), "{text}");
    assert!(text.contains("3 dave@example.com would be imported"), "{text}");
    assert!(
        text.contains("4 bob@example.com refused: a SCIM-managed user has it"),
        "{text}"
    );
    assert!(
        text.contains("5 carol@example.com refused: repeated in the input"),
        "{text}"
    );
    assert!(
        checked.body.contains("name=\"mode\" value=\"write\""),
        "{}",
        checked.body
    );
    assert!(text.contains("Import these accounts"), "{text}");
    // The text goes back escaped, in the write form and the form to edit it.
    assert!(
        checked.body.contains("Carol &lt;i&gt;C&lt;/i&gt;"),
        "{}",
        checked.body
    );
    assert!(!checked.body.contains("<i>C</i>"), "{}", checked.body);
    let carol = obj(json!({"userName": "carol@example.com"}));
    let found = s.store.find_unmanaged(&default_tenant(), &carol).await.unwrap();
    assert_eq!(found, None, "a dry run writes nothing");
    assert!(review_records(&s).await.is_empty(), "a dry run is no action");

    let written = browser
        .submit(
            PAGE,
            action,
            &[("mode", "write"), ("format", "csv"), ("text", csv)],
        )
        .await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.body);
    let text = written.text();
    assert!(text.contains("2 accounts were imported, 2 refused"), "{text}");
    assert!(text.contains("2 carol@example.com imported"), "{text}");
    let found = s.store.find_unmanaged(&default_tenant(), &carol).await.unwrap();
    let account = found.expect("carol is imported").account;
    assert!(text.contains(&account), "{text}");
    // Imported accounts stay invisible to SCIM until an IdP creates the user.
    let listed = s
        .get("/Users?filter=userName%20eq%20%22carol@example.com%22")
        .await;
    assert_eq!(listed.assert_status(200)["totalResults"], 0);

    let records = review_records(&s).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].operation, "Console.review.import");
    assert_eq!(records[0].operator.as_deref(), Some("local operator (local)"));
    let detail = records[0].detail.as_deref().unwrap();
    assert!(detail.contains("imported 2 of 4"), "{detail}");
    assert!(
        detail.contains("'carol@example.com'") && detail.contains("'dave@example.com'"),
        "{detail}"
    );
    assert!(detail.contains(&account), "{detail}");
}

on_both_stores!(import_mistakes_are_explained_in_the_page);
async fn import_mistakes_are_explained_in_the_page() {
    let s = Server::start().await;
    let browser = s.console_sign_in().await;
    let action = "/admin/tenants/default/import";
    for (fields, says) in [
        (
            vec![("mode", "dry-run"), ("format", "csv"), ("text", " \n")],
            "Paste the accounts",
        ),
        (
            vec![("mode", "dry-run"), ("format", "xml"), ("text", "a")],
            "Choose the format",
        ),
        (
            vec![("mode", "later"), ("format", "csv"), ("text", "a")],
            "Choose Check",
        ),
        (
            vec![
                ("mode", "dry-run"),
                ("format", "csv"),
                ("text", "userName,colour\nx,red\n"),
            ],
            "unknown column",
        ),
    ] {
        let answer = browser.submit(PAGE, action, &fields).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{fields:?}: {}",
            answer.body
        );
        assert!(answer.text().contains(says), "{says}: {}", answer.text());
    }
    // More accounts than one submission may hold: refused before anything is read or written.
    let many: String = (0..251)
        .map(|i| format!("{{\"userName\": \"u{i}@example.com\"}}\n"))
        .collect();
    let answer = browser
        .submit(
            PAGE,
            action,
            &[("mode", "write"), ("format", "jsonl"), ("text", &many)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("holds 251 accounts"), "{}", answer.text());
    let first = obj(json!({"userName": "u0@example.com"}));
    assert_eq!(
        s.store.find_unmanaged(&default_tenant(), &first).await.unwrap(),
        None
    );
    // JSON lines, one bad line among good ones: reported per line.
    let jsonl = "{\"userName\": \"erin@example.com\"}\nnot json\n{\"displayName\": \"no name\"}\n";
    let checked = browser
        .submit(
            PAGE,
            action,
            &[("mode", "dry-run"), ("format", "jsonl"), ("text", jsonl)],
        )
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    let text = checked.text();
    assert!(text.contains("1 erin@example.com would be imported"), "{text}");
    assert!(
        text.contains("2 refused: not a valid account the line is not JSON"),
        "{text}"
    );
    assert!(text.contains("3 refused: not a valid account"), "{text}");
    assert!(review_records(&s).await.is_empty());
}
