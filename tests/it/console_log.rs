//! The console's Provisioning log page over HTTP: a failed SCIM request found with the errors
//! filter and explained on its record's page, the resource and token filters, paging with
//! "Older", console actions shown with their operator, and names an IdP sent shown escaped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, StatusCode};
use scim_blackbox::console::{Answer, Browser};
use scim_blackbox::urn::USER;
use scim_blackbox::{okta_user, on_both_stores, Server};
use serde_json::json;

const LOG: &str = "/admin/tenants/default/log";

async fn server(dir: &tempfile::TempDir) -> Server {
    let registry = format!("file:{}", dir.path().join("tokens.json").display());
    Server::start_with(&[
        ("SCIM_TOKEN_REGISTRY", &registry),
        ("SCIM_TOKEN_REVOCATION_CHECK_SECONDS", "0"),
        ("SCIM_TOKEN_REFRESH_MIN_SECONDS", "0"),
    ])
    .await
}

/// The record links of a log page, in order (`&amp;` unescaped).
fn record_links(page: &Answer) -> Vec<String> {
    page.body
        .match_indices("href=\"/admin/tenants/default/log/record?")
        .map(|(at, _)| {
            let start = at + "href=\"".len();
            let end = start + page.body[start..].find('"').unwrap();
            page.body[start..end].replace("&amp;", "&")
        })
        .collect()
}

/// The "Older" link of a log page.
fn older(page: &Answer) -> Option<String> {
    let at = page.body.find("rel=\"next\" href=\"")? + "rel=\"next\" href=\"".len();
    let end = at + page.body[at..].find('"')?;
    Some(page.body[at..end].replace("&amp;", "&"))
}

fn query(pairs: &[(&str, &str)]) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{LOG}?{q}")
}

on_both_stores!(a_failed_request_is_found_with_the_errors_filter_and_explained);
async fn a_failed_request_is_found_with_the_errors_filter_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    s.post("/Users", &okta_user("fine@example.com"))
        .await
        .assert_status(201);
    let failed = s
        .post("/Users", &json!({"schemas": [USER], "name": {"givenName": "No"}}))
        .await;
    assert_eq!(failed.status, 400, "{}", failed.text);
    let scim_type = failed.body["scimType"].as_str().unwrap().to_string();
    let detail = failed.body["detail"].as_str().unwrap().to_string();
    s.flush_log().await;

    let browser = s.console_sign_in().await;
    let all = browser.get(LOG).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text());
    assert!(all.text().contains("fine@example.com"), "{}", all.text());
    assert!(all.body.contains("class=\"status-error\""));

    let errors = browser.get(&query(&[("errors", "true")])).await;
    assert_eq!(errors.status, StatusCode::OK);
    assert!(!errors.text().contains("fine@example.com"), "{}", errors.text());
    assert!(errors.body.contains("checked"), "the filter stays set");
    let links = record_links(&errors);
    assert_eq!(links.len(), 1, "{}", errors.text());
    assert!(errors.text().contains("400 failed"), "{}", errors.text());
    assert!(errors.text().contains("POST /scim/v2/Users"), "{}", errors.text());

    let record = browser.get(&links[0]).await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.text());
    let text = record.text();
    assert!(text.contains(&format!("scimType {scim_type}")), "{text}");
    // The page's text keeps the escaping of quotes.
    let detail = detail.replace('\'', "&#39;");
    assert!(text.contains(&detail), "{detail} in {text}");
    assert!(text.contains("Users.create"), "{text}");

    let missing = browser
        .get(&format!("{LOG}/record?time=2026-01-01T00:00:00.000Z&id=nothing"))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad = browser.get(&query(&[("since", "yesterday")])).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text().contains("The filter is not valid: since"),
        "{}",
        bad.text()
    );
    assert!(bad.body.contains("value=\"yesterday\""), "what was typed is kept");
}

on_both_stores!(the_resource_filter_shows_one_resources_requests);
async fn the_resource_filter_shows_one_resources_requests() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let ann = s.create_user("ann@example.com").await;
    s.create_user("bob@example.com").await;
    s.patch(
        &format!("/Users/{ann}"),
        &scim_blackbox::patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await
    .assert_status(200);
    s.flush_log().await;
    let browser = s.console_sign_in().await;
    for given in ["ann@example.com", ann.as_str()] {
        let page = browser.get(&query(&[("resource", given)])).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        assert_eq!(record_links(&page).len(), 2, "{given}: {}", page.text());
        assert!(!page.text().contains("bob@example.com"), "{}", page.text());
        assert!(
            page.body.contains(&format!("value=\"{given}\"")),
            "kept in the form"
        );
    }
    // A write's row says what it changed; its record lists old and new.
    let page = browser.get(&query(&[("resource", ann.as_str())])).await;
    assert!(page.text().contains("changed active"), "{}", page.text());
    let patch = browser.get(&record_links(&page)[0]).await;
    assert!(patch.text().contains("active true false"), "{}", patch.text());
}

/// A token made on the Tokens page; its id and secret.
async fn console_token(browser: &Browser, name: &str) -> (String, String) {
    let page = "/admin/tenants/default/tokens";
    let created = browser
        .submit(page, page, &[("name", name), ("expires", "30d")])
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let start = created.body.find("value=\"SCIM_").unwrap() + "value=\"".len();
    let secret = created.body[start..start + created.body[start..].find('"').unwrap()].to_string();
    let listed = browser.get(page).await;
    let marker = "data-token=\"";
    let at = listed.body.find(marker).unwrap() + marker.len();
    let id = listed.body[at..at + listed.body[at..].find('"').unwrap()].to_string();
    (id, secret)
}

#[tokio::test]
async fn the_token_filter_and_console_actions_with_their_operator() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let browser = s.console_sign_in().await;
    let (id, secret) = console_token(&browser, "Okta production").await;
    s.as_token(&secret)
        .call(Method::POST, "/Users", Some(&okta_user("via-okta@example.com")))
        .await
        .assert_status(201);
    s.post("/Users", &okta_user("via-bootstrap@example.com"))
        .await
        .assert_status(201);
    s.flush_log().await;

    let all = browser.get(LOG).await;
    assert!(
        all.body
            .contains(&format!("<option value=\"{id}\">Okta production</option>")),
        "the tenant's tokens by name"
    );
    let text = all.text();
    assert!(
        text.contains("operator local operator (local)"),
        "a console action shows its operator: {text}"
    );
    assert!(text.contains("Console.tokens.create"), "{text}");
    assert!(text.contains("(token Okta production)"), "{text}");

    let filtered = browser.get(&query(&[("token", id.as_str())])).await;
    let text = filtered.text();
    assert!(text.contains("via-okta@example.com"), "{text}");
    assert!(!text.contains("via-bootstrap@example.com"), "{text}");
    assert!(filtered
        .body
        .contains(&format!("<option value=\"{id}\" selected>")));

    // The console action's record names its operator.
    let actions = browser.get(LOG).await;
    let links = record_links(&actions);
    let create = links.last().unwrap();
    let record = browser.get(create).await;
    assert!(
        record.text().contains("Operator local operator (local)"),
        "{}",
        record.text()
    );
}

#[tokio::test]
async fn older_pages_continue_with_the_same_filters() {
    let s = Server::start_with(&[
        ("SCIM_TENANT_RATE_PER_SECOND", "1000"),
        ("SCIM_TENANT_BURST", "1000"),
    ])
    .await;
    for i in 0..55 {
        s.create_user(&format!("user{i:02}@example.com")).await;
    }
    s.post("/Users", &json!({"schemas": [USER]}))
        .await
        .assert_error(400, Some("invalidValue"));
    s.flush_log().await;
    let browser = s.console_sign_in().await;
    let first = browser.get(LOG).await;
    let rows = record_links(&first);
    assert_eq!(rows.len(), 50);
    assert!(!first.text().contains("user04@example.com"), "newest first");
    assert!(first.text().contains("user54@example.com"));
    let next = older(&first).expect("an Older link");
    let second = browser.get(&next).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    assert_eq!(record_links(&second).len(), 6);
    assert!(second.text().contains("user00@example.com"), "{}", second.text());
    assert!(older(&second).is_none(), "the last page");

    // With a filter, "Older" keeps it.
    let since = "2000-01-01T00:00";
    let first = browser
        .get(&query(&[("since", since), ("resource", "user00@example.com")]))
        .await;
    assert_eq!(record_links(&first).len(), 1, "{}", first.text());
    assert!(
        first.body.contains("value=\"2000-01-01T00:00:00\""),
        "the time is kept"
    );
    let time = scim_store::timestamp(scim_store::now() + time::Duration::hours(1));
    let none = browser.get(&query(&[("since", &time)])).await;
    assert!(none.text().contains("No records match"), "{}", none.text());
}

#[tokio::test]
async fn what_an_idp_sent_is_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let mut settings = scim_store::TenantSettings::default();
    settings.assign("log_bodies=on").unwrap();
    s.put_settings(&settings).await;
    let name = "<script>alert(1)</script>";
    s.create_user(name).await;
    s.flush_log().await;
    let browser = s.console_sign_in().await;
    let page = browser.get(LOG).await;
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let record = browser.get(&record_links(&page)[0]).await;
    assert!(!record.body.contains("<script>alert"));
    assert!(record.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // Bodies, kept while log_bodies is on, are shown as text.
    let text = record.text();
    assert!(text.contains("Request body"), "{text}");
    assert!(text.contains("Response body"), "{text}");
    assert!(record.body.contains("<pre>"), "{}", record.body);
    assert!(
        record
            .body
            .contains("&quot;userName&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;"),
        "{}",
        record.body
    );
    let filtered = browser.get(&query(&[("resource", name)])).await;
    assert_eq!(record_links(&filtered).len(), 1);
    assert!(!filtered.body.contains("<script>alert"));
}
