//! Lambda events through the code path the Lambda runtime uses: the JSON event is deserialised
//! as `lambda_http`'s `LambdaRequest`, handed with an invocation context to `lambda_http::Adapter`
//! (what `lambda_http::run` wraps around our service), and the `LambdaResponse` it returns is
//! serialised back to the JSON API Gateway would receive. No network is involved.
//!
//! The events under `tests/lambda-events/` have the shapes AWS documents for API Gateway HTTP
//! APIs (payload 2.0), REST APIs (payload 1.0) and function URLs, with the headers CloudFront
//! adds in front of API Gateway (template.yaml): `X-Scim-Public-Host` set by the viewer-request
//! function to the host the IdP called, and the origin secret header. `{{name}}` placeholders are
//! filled in by the test.

use scim_blackbox::lambda::{
    assert_scim_error, Function, CLOUDFRONT_BASE, CUSTOM_DOMAIN_BASE, ORIGIN_SECRET,
};

#[tokio::test]
async fn http_api_create_get_filter_patch_through_cloudfront() {
    let f = Function::behind_cloudfront().await;

    let created = f.invoke("apigw-v2-create-user.json", &[]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    let location = format!("{CLOUDFRONT_BASE}/Users/{id}");
    // RFC 7644 §3.3: Location equals meta.location, and both name the URL the IdP called.
    assert_eq!(created.header("location").as_deref(), Some(location.as_str()));
    assert_eq!(created.body["meta"]["location"], location.as_str());
    assert!(!created.body.to_string().contains("execute-api"));
    assert!(created.body.get("password").is_none());

    let got = f.invoke("apigw-v2-get-user.json", &[("id", &id)]).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["userName"], "bjensen@example.com");
    assert_eq!(got.body["meta"]["location"], location.as_str());
    assert!(got.header("etag").is_some());

    // `+` for spaces, as Okta and Entra send the filter.
    let found = f.invoke("apigw-v2-filter-plus.json", &[]).await;
    assert_eq!(found.status, 200, "{:?}", found.body);
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    assert_eq!(found.body["Resources"][0]["meta"]["location"], location.as_str());

    // Entra's capitalised ops and string boolean.
    let patched = f.invoke("apigw-v2-patch-user.json", &[("id", &id)]).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["name"]["familyName"], "Jensen-Smith");
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["meta"]["location"], location.as_str());
}

#[tokio::test]
async fn client_sent_forwarded_host_does_not_make_the_location() {
    // The event carries `x-forwarded-host: attacker.example` as a client sent it (CloudFront
    // passes it on untouched) next to the public host CloudFront's function set: RFC 7644 §3.3's
    // Location must name the host the IdP called, never one the caller chose.
    let f = Function::behind_cloudfront().await;
    let created = f.invoke("apigw-v2-create-user.json", &[]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let location = created.header("location").expect("Location");
    assert!(
        location.starts_with(&format!("{CLOUDFRONT_BASE}/Users/")),
        "{location}"
    );
    assert!(!created.body.to_string().contains("attacker.example"));
}

#[tokio::test]
async fn http_api_base64_body() {
    let f = Function::behind_cloudfront().await;
    let created = f.invoke("apigw-v2-create-user-base64.json", &[]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "7"
    );
    let id = created.body["id"].as_str().expect("id");
    assert_eq!(
        created.header("location").as_deref(),
        Some(format!("{CLOUDFRONT_BASE}/Users/{id}").as_str())
    );
}

#[tokio::test]
async fn http_api_named_stage_prefix_is_removed() {
    let f = Function::behind_cloudfront().await;
    let created = f.invoke("apigw-v2-create-user.json", &[]).await;
    let id = created.body["id"].as_str().expect("id").to_string();
    let got = f
        .invoke("apigw-v2-named-stage-get-user.json", &[("id", &id)])
        .await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(
        got.body["meta"]["location"],
        format!("{CLOUDFRONT_BASE}/Users/{id}").as_str()
    );
}

#[tokio::test]
async fn rest_api_with_stage_base64_and_multi_value_query() {
    let f = Function::behind_cloudfront().await;
    // The CloudFront function copied the viewer's Host (a custom domain here) into X-Scim-Public-Host.
    let created = f.invoke("apigw-v1-create-user-stage.json", &[]).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    let location = format!("{CUSTOM_DOMAIN_BASE}/Users/{id}");
    assert_eq!(created.header("location").as_deref(), Some(location.as_str()));

    let got = f.invoke("apigw-v1-get-user-stage.json", &[("id", &id)]).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["userName"], "jdoe@example.com");
    assert_eq!(got.body["meta"]["location"], location.as_str());

    let listed = f.invoke("apigw-v1-list-multivalue.json", &[]).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["totalResults"], 1);
    assert_eq!(listed.body["itemsPerPage"], 1);
    assert_eq!(listed.body["Resources"][0]["id"], id.as_str());
}

#[tokio::test]
async fn public_base_url_setting_wins() {
    let f = Function::new(&[
        ("SCIM_ORIGIN_SECRET", ORIGIN_SECRET),
        ("SCIM_STORE", "memory"),
        ("SCIM_PUBLIC_BASE_URL", "https://id.example.org/scim/v2"),
    ])
    .await;
    let created = f.invoke("apigw-v2-create-user.json", &[]).await;
    let id = created.body["id"].as_str().expect("id");
    assert_eq!(
        created.header("location").as_deref(),
        Some(format!("https://id.example.org/scim/v2/Users/{id}").as_str())
    );
}

#[tokio::test]
async fn calls_around_cloudfront_are_refused() {
    let f = Function::behind_cloudfront().await;
    // Straight to the execute-api URL: no origin header.
    let direct = f
        .invoke("apigw-v2-direct-without-cloudfront.json", &[("id", "x")])
        .await;
    assert_scim_error(&direct, 403);
    // Through CloudFront the same request passes the check (and the id is unknown).
    let through = f.invoke("apigw-v2-get-user.json", &[("id", "x")]).await;
    assert_scim_error(&through, 404);
    // A function configured with another secret refuses CloudFront's header.
    let wrong = Function::new(&[("SCIM_ORIGIN_SECRET", "another-secret"), ("SCIM_STORE", "memory")]).await;
    assert_scim_error(&wrong.invoke("apigw-v2-get-user.json", &[("id", "x")]).await, 403);
}

#[tokio::test]
async fn function_url_event_reaches_the_same_router() {
    // A function URL has no CloudFront in front: no origin secret, base URL from Host.
    let f = Function::new(&[("SCIM_STORE", "memory")]).await;
    let created = f
        .invoke("apigw-v2-create-user.json", &[("origin_secret", "")])
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().expect("id").to_string();
    let got = f.invoke("function-url-get-user.json", &[("id", &id)]).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(got.body["userName"], "bjensen@example.com");
    assert!(
        got.body.get("name").is_none(),
        "attributes=userName,meta projects"
    );
    assert_eq!(
        got.body["meta"]["location"],
        format!("https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/scim/v2/Users/{id}")
            .as_str()
    );
}

/// The console function under Lambda, as API Gateway's payload 2.0 delivers it: the browser's
/// cookies arrive in the event's `cookies` array, and the cookies the console sets go back in
/// the answer's `cookies` (not as headers), which is what CloudFront hands the browser.
#[tokio::test]
async fn the_console_function_reads_and_sets_cookies_through_payload_2() {
    use scim_lambda::console::session::{Scope, Session, SessionKeys};
    let f = Function::new(&[
        ("SCIM_ORIGIN_SECRET", ORIGIN_SECRET),
        ("SCIM_STORE", "memory"),
        ("SCIM_FUNCTION", "console"),
        (
            "SCIM_CONSOLE_OIDC_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x",
        ),
        ("SCIM_CONSOLE_OIDC_CLIENT_ID", "client"),
    ])
    .await;
    let keys = SessionKeys::from_cursor_keys(
        &scim_lambda::cursor::CursorKeys::from_pair(&scim_lambda::secrets::SecretPair {
            current: scim_blackbox::TEST_CURSOR_KEY.into(),
            previous: None,
        })
        .unwrap(),
    );
    let acme = Scope::Tenants(["acme".to_string()].into());
    let session = Session::new(
        "oidc:7".into(),
        "ann@acme.example".into(),
        acme,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let cookie = keys.seal(&session);
    let page = |path: &'static str, session: String, origin: &'static str| {
        let f = &f;
        async move {
            let vars = [
                ("path", path),
                ("session", session.as_str()),
                ("origin_secret", origin),
            ];
            f.invoke_raw("apigw-v2-console-page.json", &vars).await
        }
    };

    let tokens = page("/admin/tenants/acme/tokens", cookie.clone(), ORIGIN_SECRET).await;
    assert_eq!(tokens["statusCode"], 200, "{tokens}");
    let body = tokens["body"].as_str().unwrap();
    assert!(body.contains("okta-prod"), "the tenant's token is listed: {body}");
    assert!(body.contains("ann@acme.example"));
    assert!(tokens["headers"]["content-security-policy"]
        .as_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(
        page("/admin/tenants/globex/tokens", cookie.clone(), ORIGIN_SECRET).await["statusCode"],
        404
    );
    let anonymous = page("/admin/tenants/acme/tokens", String::new(), ORIGIN_SECRET).await;
    assert_eq!(
        (
            anonymous["statusCode"].as_u64(),
            anonymous["headers"]["location"].as_str()
        ),
        (Some(303), Some("/admin/login"))
    );
    // Around CloudFront: refused before the session is even read.
    assert_eq!(
        page("/admin/tenants/acme/tokens", cookie.clone(), "guess").await["statusCode"],
        403
    );

    let csrf = keys.csrf_token(&session);
    let body = format!("csrf={csrf}");
    let vars = [
        ("path", "/admin/logout"),
        ("session", cookie.as_str()),
        ("body", body.as_str()),
    ];
    let out = f.invoke_raw("apigw-v2-console-form.json", &vars).await;
    assert_eq!(out["statusCode"], 200, "{out}");
    let cookies: Vec<&str> = out["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(cookies.len(), 1, "{out}");
    assert!(
        cookies[0].starts_with("scim_console=; Path=/admin; Max-Age=0"),
        "{cookies:?}"
    );
    assert!(
        out["headers"].get("set-cookie").is_none(),
        "payload 2.0 carries cookies apart"
    );
}
