//! The operators' console over HTTP: its security boundary (no session, no console; a SCIM
//! token opens no page and a session opens no SCIM endpoint; every form needs its CSRF token;
//! the headers that keep pages from being framed or scripted from elsewhere), and the SCIM
//! Tokens page end to end: a token created in the console is shown once, works against
//! `/scim/v2`, shows its last use, and once revoked is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, StatusCode};
use scim_blackbox::{okta_user, on_both_stores, Server, TOKEN};

/// Every console page, and every action with the fields it needs.
const PAGES: [&str; 8] = [
    "/admin/",
    "/admin/tenants/default/tokens",
    "/admin/tenants/default/review",
    "/admin/tenants/default/settings",
    "/admin/tenants/default/log",
    "/admin/tenants/default/log/record?time=2026-01-01T00:00:00Z&id=x",
    "/admin/switch?tenant=default&section=tokens",
    "/admin/nowhere",
];
const ACTIONS: [&str; 9] = [
    "/admin/logout",
    "/admin/tenants/default/tokens",
    "/admin/tenants/default/tokens/t1/revoke",
    "/admin/tenants/default/tokens/t1/rotate",
    "/admin/tenants/default/conflicts/c1/link",
    "/admin/tenants/default/conflicts/c1/reject",
    "/admin/tenants/default/deleted/u1/restore",
    "/admin/tenants/default/import",
    "/admin/tenants/default/settings",
];

async fn server(dir: &tempfile::TempDir) -> Server {
    let registry = format!("file:{}", dir.path().join("tokens.json").display());
    Server::start_with(&[
        ("SCIM_TOKEN_REGISTRY", &registry),
        // A revoked token is refused from the next request on; a new one accepted at once.
        ("SCIM_TOKEN_REVOCATION_CHECK_SECONDS", "0"),
        ("SCIM_TOKEN_REFRESH_MIN_SECONDS", "0"),
    ])
    .await
}

#[tokio::test]
async fn without_a_session_pages_send_to_sign_in_and_actions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let anonymous = s.browser();
    for page in PAGES.iter().filter(|p| !p.ends_with("nowhere")) {
        let answer = anonymous.get(page).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(answer.location(), Some("/admin/login"), "{page}");
    }
    for action in ACTIONS {
        let answer = anonymous
            .post_raw(action, &[("csrf", "x"), ("confirm", "yes")])
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{action}");
        assert!(
            answer.text().contains("not signed in"),
            "{action}: {}",
            answer.text()
        );
    }
    // A forged cookie is no session.
    let mut forged = s.browser();
    forged.cookie = Some("scim_console=eyJzdWJqZWN0IjoibG9jYWwifQ.AAAA".into());
    assert_eq!(forged.get("/admin/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_scim_token_opens_no_console_page_and_a_session_opens_no_scim_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for page in PAGES.iter().filter(|p| !p.ends_with("nowhere")) {
        let answer = client
            .get(format!("{}{page}", s.origin()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{page} with a SCIM token");
    }
    let answer = client
        .post(format!("{}/admin/tenants/default/tokens", s.origin()))
        .bearer_auth(TOKEN)
        .form(&[("name", "x"), ("expires", "30d")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);

    let browser = s.console_sign_in().await;
    let cookie = browser.cookie.clone().unwrap();
    for (method, path) in [
        (Method::GET, "/scim/v2/Users"),
        (Method::POST, "/scim/v2/Users"),
        (Method::GET, "/scim/v2/ServiceProviderConfig"),
    ] {
        let answer = client
            .request(method.clone(), format!("{}{path}", s.origin()))
            .header("cookie", &cookie)
            .header("content-type", "application/scim+json")
            .body(okta_user("ann@example.com").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a console session"
        );
    }
}

#[tokio::test]
async fn forms_without_their_sessions_csrf_token_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let browser = s.console_sign_in().await;
    let page = "/admin/tenants/default/tokens";
    let fields = [("name", "forged"), ("expires", "30d")];
    let missing = browser.post_raw(page, &fields).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.body);
    assert!(missing.text().contains("security token"));
    let wrong = browser
        .post_raw(page, &[("csrf", "AAAA"), fields[0], fields[1]])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let listed = browser.get(page).await;
    assert!(!listed.text().contains("forged"), "nothing was created");
}

#[tokio::test]
async fn the_local_link_works_once_and_pages_forbid_framing() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let code = s.console_code();
    let first = s.browser().get(&format!("/admin/login?code={code}")).await;
    assert_eq!(first.status, StatusCode::OK);
    let cookie = first.header("set-cookie").unwrap().to_string();
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/admin",
        "Max-Age=3600",
    ] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    let again = s.browser().get(&format!("/admin/login?code={code}")).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "the link works once");
    assert!(again.headers.get("set-cookie").is_none());
    let wrong = s.browser().get("/admin/login?code=guess").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let mut browser = s.browser();
    browser.keep_cookie(&first);
    let page = browser.get("/admin/").await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.header("content-security-policy").unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(!page.body.contains("<script>"), "no inline script");
    // Signing out ends the session for this browser.
    let out = browser.submit("/admin/", "/admin/logout", &[]).await;
    assert_eq!(out.status, StatusCode::OK);
    browser.keep_cookie(&out);
    assert_eq!(browser.get("/admin/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_token_made_in_the_console_is_shown_once_works_and_stops_working_when_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let browser = s.console_sign_in().await;
    let page = "/admin/tenants/default/tokens";
    let created = browser
        .submit(page, page, &[("name", "Okta production"), ("expires", "90d")])
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let text = created.text();
    assert!(text.contains("shown only this once"), "{text}");
    let start = created.body.find("value=\"SCIM_").expect("the token is shown") + "value=\"".len();
    let token = created.body[start..start + created.body[start..].find('"').unwrap()].to_string();
    let listed = browser.get(page).await;
    assert!(!listed.body.contains(&token), "the token is never shown again");
    assert!(listed.text().contains("Okta production"));
    assert!(listed.text().contains("never"), "not used yet: {}", listed.text());

    let idp = s.as_token(&token);
    idp.call(Method::POST, "/Users", Some(&okta_user("ann@example.com")))
        .await
        .assert_status(201);
    s.flush_log().await;
    let used = browser.get(page).await;
    assert!(
        !used.text().contains("never"),
        "last used is shown: {}",
        used.text()
    );
    assert!(used.text().contains("from 127.0.0.1"), "{}", used.text());

    let token_id = {
        let at = used.body.find("data-token=\"").unwrap() + "data-token=\"".len();
        used.body[at..at + used.body[at..].find('"').unwrap()].to_string()
    };
    let revoke = format!("{page}/{token_id}/revoke");
    let asked = browser.submit(page, &revoke, &[]).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.text().contains("Revoke the token"), "a confirmation first");
    idp.call(Method::GET, "/Users", None).await.assert_status(200);
    let revoked = browser.submit(page, &revoke, &[("confirm", "yes")]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    idp.call(Method::GET, "/Users", None)
        .await
        .assert_error(401, None);
    let after = browser.get(revoked.location().unwrap()).await;
    assert!(after.text().contains("The token is revoked"), "{}", after.text());
    assert!(after.text().contains("revoked"));

    let actions = s.console_actions().await;
    let actions: Vec<(&str, Option<&str>)> = actions
        .iter()
        .map(|r| (r.operation.as_str(), r.operator.as_deref()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("Console.tokens.revoke", Some("local operator (local)")),
            ("Console.tokens.create", Some("local operator (local)")),
        ]
    );
}

#[tokio::test]
async fn bad_token_requests_are_explained_in_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let browser = s.console_sign_in().await;
    let page = "/admin/tenants/default/tokens";
    for (fields, says) in [
        (vec![("name", ""), ("expires", "30d")], "name"),
        (vec![("name", "x"), ("expires", "7d")], "Choose an expiration"),
        (vec![("name", "x"), ("expires", "date")], "Choose a date"),
        (
            vec![("name", "x"), ("expires", "date"), ("until", "2001-01-01")],
            "past",
        ),
    ] {
        let answer = browser.submit(page, page, &fields).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(
            answer.text().contains("The token was not created"),
            "{}",
            answer.text()
        );
        assert!(
            answer.text().to_lowercase().contains(&says.to_lowercase()),
            "{says}: {}",
            answer.text()
        );
    }
    let other = browser.get("/admin/tenants/no%20such/tokens").await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

/// Under Lambda the SCIM function serves no console and the console function no SCIM API: each
/// has its own role, so neither may answer for the other.
#[tokio::test]
async fn under_lambda_each_function_serves_only_its_own_half() {
    use tower::ServiceExt;
    let answer = |router: axum::Router, path: &'static str| async move {
        let request = axum::http::Request::get(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(axum::body::Body::empty())
            .unwrap();
        router.oneshot(request).await.unwrap()
    };
    let memory = [("SCIM_STORE", "memory")];
    let scim = scim_lambda::router(scim_blackbox::app_state(&memory, true, Vec::new()).await);
    let console_vars = [
        ("SCIM_STORE", "memory"),
        ("SCIM_FUNCTION", "console"),
        (
            "SCIM_CONSOLE_OIDC_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x",
        ),
        ("SCIM_CONSOLE_OIDC_CLIENT_ID", "client"),
    ];
    let console = scim_lambda::router(scim_blackbox::app_state(&console_vars, true, Vec::new()).await);

    // Behind the SCIM boundary like any unknown path: a SCIM error, never a console page.
    let admin = answer(scim.clone(), "/admin/").await;
    assert_eq!(admin.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(admin.headers()["content-type"], "application/scim+json");
    assert_eq!(
        answer(scim, "/scim/v2/Users").await.status(),
        StatusCode::UNAUTHORIZED
    );

    let page = answer(console.clone(), "/admin/").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "to sign in");
    assert_eq!(page.headers()["location"], "/admin/login");
    let login = answer(console.clone(), "/admin/login?code=anything").await;
    assert_eq!(
        login.status(),
        StatusCode::UNAUTHORIZED,
        "no local link under Lambda"
    );
    assert_eq!(
        answer(console.clone(), "/scim/v2/Users").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        answer(console, "/admin/api/tenants/default/log").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn rotation_shows_the_successor_once_and_keeps_the_old_token_for_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let browser = s.console_sign_in().await;
    let page = "/admin/tenants/default/tokens";
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::days(5))
        .date()
        .to_string();
    let created = browser
        .submit(
            page,
            page,
            &[("name", "Entra"), ("expires", "date"), ("until", &soon)],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let secret = |answer: &scim_blackbox::console::Answer| {
        let at = answer.body.find("value=\"SCIM_").unwrap() + "value=\"".len();
        answer.body[at..at + answer.body[at..].find('"').unwrap()].to_string()
    };
    let old = secret(&created);
    let listed = browser.get(page).await;
    assert!(listed.text().contains("expires in 5 days"), "{}", listed.text());
    let id = {
        let at = listed.body.find("data-token=\"").unwrap() + "data-token=\"".len();
        listed.body[at..at + listed.body[at..].find('"').unwrap()].to_string()
    };

    let rotated = browser
        .submit(page, &format!("{page}/{id}/rotate"), &[("grace", "1h")])
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text());
    assert!(rotated.text().contains("shown only this once"));
    let new = secret(&rotated);
    assert_ne!(new, old);
    assert!(
        rotated.text().contains("Entra (successor of"),
        "{}",
        rotated.text()
    );
    // Both work during the grace period.
    for token in [&old, &new] {
        s.as_token(token)
            .call(Method::GET, "/Users", None)
            .await
            .assert_status(200);
    }
    let bad = browser
        .submit(page, &format!("{page}/{id}/rotate"), &[("grace", "forever")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // The newest console action (a successful read after it may be sampled into the log too).
    let actions = s.console_actions().await;
    let action = &actions[0];
    assert_eq!(action.operation, "Console.tokens.rotate");
    assert!(action
        .detail
        .as_deref()
        .unwrap()
        .contains("the old token works until"));
}

#[tokio::test]
async fn the_overview_sums_up_each_tenant_and_lists_the_rest_beyond_its_cards() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let registry = scim_auth::FileRegistry::new(dir.path().join("tokens.json"));
    let now = time::OffsetDateTime::now_utc();
    let mut tokens = vec![
        ("Okta soon", "default".to_string(), 3),
        ("Entra", "default".to_string(), 90),
    ];
    tokens.extend((0..26).map(|i| ("IdP", format!("tenant{i:02}"), 30)));
    for (name, tenant, days) in &tokens {
        let request = scim_auth::NewToken {
            name: name.to_string(),
            tenant: tenant.clone(),
            expires: now + time::Duration::days(*days),
        };
        scim_auth::update(&registry, |doc| doc.create(&request, now))
            .await
            .unwrap();
    }
    s.call(Method::POST, "/Users", Some(&okta_user("ann@example.com")))
        .await
        .assert_status(201);
    s.call(
        Method::POST,
        "/Users",
        Some(&serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]})),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    s.flush_log().await;

    let browser = s.console_sign_in().await;
    let overview = browser.get("/admin/").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert_eq!(
        overview.body.matches("class=\"card\"").count(),
        24,
        "a card for the first 24 tenants"
    );
    let text = overview.text();
    assert!(text.contains("3 more tenants"), "{text}");
    assert!(text.contains("tenant25"), "listed by name: {text}");
    let default = &text[text.find("default Users").expect("default's card")..];
    let default = &default[..default.find("Provisioning log").unwrap()];
    assert!(default.starts_with("default Users 1 Groups 0"), "{default}");
    assert!(default.contains("Errors, last 24 h 1"), "{default}");
    assert!(default.contains("Active tokens 2"), "{default}");
    assert!(default.contains("Expiring soon Okta soon"), "{default}");
    assert!(!default.contains("Entra ("), "not expiring soon: {default}");
}

// The console writes the registry a deployment reads: on DynamoDB a Secrets Manager secret
// whose writes move the table's generation item (moto), so a token made in the console works
// at once and a revoked one is refused at the next revocation check, as with `scimctl`.
on_both_stores!(console_tokens_reach_the_scim_endpoint_through_the_deployed_registry);
async fn console_tokens_reach_the_scim_endpoint_through_the_deployed_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, vars) = scim_blackbox::deployed_registry(dir.path()).await;
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let settings = scim_auth::CacheSettings {
        check_interval: std::time::Duration::ZERO,
        ..scim_auth::CacheSettings::default()
    };
    let s = Server::start_with_registry(&vars, registry.clone(), settings).await;
    let browser = s.console_sign_in().await;
    let page = "/admin/tenants/acme/tokens";
    let created = browser
        .submit(page, page, &[("name", "Okta"), ("expires", "30d")])
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text());
    let at = created.body.find("value=\"SCIM_").unwrap() + "value=\"".len();
    let token = created.body[at..at + created.body[at..].find('"').unwrap()].to_string();
    let stored = registry.load().await.unwrap().document;
    assert_eq!(stored.tokens.len(), 1);
    assert_eq!(
        (stored.tokens[0].name.as_str(), stored.tokens[0].tenant.as_str()),
        ("Okta", "acme")
    );
    assert!(
        !serde_json::to_string(&stored).unwrap().contains(&token),
        "only the hash is stored"
    );

    let idp = s.as_token(&token);
    idp.call(Method::POST, "/Users", Some(&okta_user("ann@example.com")))
        .await
        .assert_status(201);
    let revoke = format!("{page}/{}/revoke", stored.tokens[0].id);
    let revoked = browser.submit(page, &revoke, &[("confirm", "yes")]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    idp.call(Method::GET, "/Users", None)
        .await
        .assert_error(401, None);
}
