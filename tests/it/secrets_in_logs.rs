//! Security: no token and no password reaches the logs. Every log event of the test's process
//! (the server, the token operations and the HTTP stack, at every level down to TRACE) is
//! captured in the JSON form the Lambda writes, then searched for each secret the test used. The
//! subscriber that captures them is global, so the test runs alone in a process of its own
//! (`scim_blackbox::alone_in_process`).
#![allow(clippy::unwrap_used)] // tests may unwrap

use scim_auth::{sha256_hex, update, FileRegistry, NewToken};
use scim_blackbox::logs::Captured;
use scim_blackbox::patch_op;
use scim_blackbox::urn::USER;
use scim_blackbox::{alone_in_process, Server, TOKEN};
use serde_json::{json, Value};
use time::OffsetDateTime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_tokens_nor_passwords_appear_in_any_log_line() {
    if !alone_in_process(
        module_path!(),
        "neither_tokens_nor_passwords_appear_in_any_log_line",
    ) {
        return;
    }
    let logs = Captured::default();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(logs.clone())
        .init();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.json");
    let registry = FileRegistry::new(&path);
    let location = format!("file:{}", path.display());
    let server = Server::start_with(&[
        ("SCIM_TOKEN_REGISTRY", &location),
        ("SCIM_TOKEN_CACHE_SECONDS", "0"),
        ("SCIM_TOKEN_REFRESH_MIN_SECONDS", "0"),
    ])
    .await;

    // Token operations: create, rotate, revoke.
    let now = OffsetDateTime::now_utc();
    let request = NewToken {
        name: "Okta".into(),
        tenant: "acme".into(),
        expires: now + time::Duration::days(30),
    };
    let first = update(&registry, |doc| doc.create(&request, now)).await.unwrap();
    let first_id = first.record.id.clone();
    let rotation = update(&registry, |doc| {
        doc.rotate(&first_id, time::Duration::days(7), now)
    })
    .await
    .unwrap();
    let revoked = update(&registry, |doc| doc.create(&request, now)).await.unwrap();
    let revoked_id = revoked.record.id.clone();
    update(&registry, |doc| Ok(doc.revoke(&revoked_id, now)?))
        .await
        .unwrap();
    let tokens = [
        first.secret.expose().to_string(),
        rotation.successor.secret.expose().to_string(),
        revoked.secret.expose().to_string(),
        TOKEN.to_string(),
    ];

    // Requests that carry passwords, with each token, good and bad.
    let passwords = ["Pr0visioned-Secret!", "Ch4nged-By-PATCH!", "R3placed-By-PUT!"];
    let okta = server.as_token(&tokens[0]);
    let created = okta
        .post(
            "/Users",
            &json!({"schemas": [USER], "userName": "bjensen@example.com", "password": passwords[0]}),
        )
        .await;
    let id = created.assert_status(201)["id"].as_str().unwrap().to_string();
    server
        .as_token(&tokens[1])
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "path": "password", "value": passwords[1]}])),
        )
        .await
        .assert_status(200);
    okta.put(
        &format!("/Users/{id}"),
        &json!({"schemas": [USER], "userName": "bjensen@example.com", "password": passwords[2]}),
    )
    .await
    .assert_status(200);
    server
        .as_token(&tokens[2])
        .get("/Users")
        .await
        .assert_error(401, None);
    server.as_token(&tokens[3]).get("/Users").await.assert_status(200);
    let malformed = format!("Basic {}", tokens[0]);
    server
        .send(|client, base| {
            client
                .get(format!("{base}/Users"))
                .header("Authorization", &malformed)
        })
        .await
        .assert_error(401, None);
    let password_in_query = format!("/Users?filter=password+eq+%22{}%22", passwords[0]);
    okta.get(&password_in_query).await;

    let text = logs.text();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    assert!(
        requests.len() == 7,
        "the capture works: {} request lines",
        requests.len()
    );
    // Every request line names its tenant (and token id) when a token let it in.
    for line in &requests {
        let tenant = line["fields"]["tenant"].as_str().unwrap();
        let status = line["fields"]["status"].as_u64().unwrap();
        assert_eq!(status == 401, tenant == "-", "{line}");
    }
    assert!(requests
        .iter()
        .any(|l| l["fields"]["tenant"] == "acme" && l["fields"]["token_id"] == first_id.as_str()));
    assert!(text.contains(&revoked_id), "refusals are logged by token id");

    for secret in tokens
        .iter()
        .chain(passwords.iter().map(|p| p.to_string()).collect::<Vec<_>>().iter())
    {
        assert!(!text.contains(secret.as_str()), "a secret reached the log");
        let without_prefix = secret.strip_prefix("SCIM_").unwrap_or(secret);
        assert!(!text.contains(without_prefix), "a secret reached the log");
        assert!(
            !text.contains(&sha256_hex(secret)),
            "a token hash reached the log"
        );
    }
    assert!(!text.contains("Pr0visioned"), "no part of a password either");
}
