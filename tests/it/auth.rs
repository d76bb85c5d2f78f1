//! Tokens from a registry file, end to end over HTTP: what each kind of token is answered, that
//! no endpoint answers without a valid token, and that a token reaches its own tenant only.
#![allow(clippy::unwrap_used)] // tests may unwrap

use reqwest::Method;
use scim_auth::{update, FileRegistry, NewToken, RegistryDocument, RegistryError};
use scim_blackbox::patch_op;
use scim_blackbox::urn::{GROUP, USER};
use scim_blackbox::{Reply, Server};
use serde_json::{json, Value};
use std::time::Duration;
use tempfile::TempDir;
use time::OffsetDateTime;

/// A registry file of its own, and a server reading it.
struct Setup {
    _dir: TempDir,
    registry: FileRegistry,
    server: Server,
}

impl Setup {
    /// `cache_seconds` is `SCIM_TOKEN_CACHE_SECONDS`; unknown tokens reload the registry at once.
    async fn start(cache_seconds: u64) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let location = format!("file:{}", path.display());
        let cache = cache_seconds.to_string();
        let server = Server::start_with(&[
            ("SCIM_TOKEN_REGISTRY", &location),
            ("SCIM_TOKEN_CACHE_SECONDS", &cache),
            ("SCIM_TOKEN_REFRESH_MIN_SECONDS", "0"),
        ])
        .await;
        Setup {
            _dir: dir,
            registry: FileRegistry::new(path),
            server,
        }
    }

    /// A token for `tenant`, as `scimctl token create` makes it: (plaintext, id).
    async fn create(&self, tenant: &str) -> (String, String) {
        let request = NewToken {
            name: format!("{tenant} IdP"),
            tenant: tenant.into(),
            expires: OffsetDateTime::now_utc() + time::Duration::days(30),
        };
        let issued = update(&self.registry, |doc| {
            doc.create(&request, OffsetDateTime::now_utc())
        })
        .await
        .unwrap();
        (issued.secret.expose().to_string(), issued.record.id)
    }

    async fn change<T>(
        &self,
        change: impl FnMut(&mut RegistryDocument) -> Result<T, RegistryError> + Send,
    ) -> T {
        update(&self.registry, change).await.unwrap()
    }

    fn client(&self, token: &str) -> Server {
        self.server.as_token(token)
    }
}

/// RFC 6750 §3: a 401 names the Bearer scheme; the detail is the same for every bad token.
#[track_caller]
fn assert_refused(reply: &Reply) {
    reply.assert_error(401, None);
    assert!(
        reply
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{:?}",
        reply.headers
    );
}

#[track_caller]
fn assert_refused_as_invalid(reply: &Reply) {
    assert_refused(reply);
    assert_eq!(
        reply.body["detail"],
        format!(
            "the bearer token is not valid or has expired; {}",
            scim_proto::hint::BEARER_TOKEN
        )
    );
}

#[tokio::test]
async fn a_registry_token_works_and_a_new_one_works_at_once() {
    let s = Setup::start(60).await;
    let (early, _) = s.create("acme").await;
    s.client(&early).create_user("early@example.com").await;
    // Created while the server runs: the unknown token makes the cache reload.
    let (late, _) = s.create("acme").await;
    let list = s.client(&late).get("/Users").await;
    assert_eq!(list.assert_status(200)["totalResults"], 1);
}

/// Expiry is judged by the clock at each request, not at the next reload.
#[tokio::test]
async fn a_token_is_refused_from_the_moment_it_expires() {
    let s = Setup::start(60).await;
    let request = NewToken {
        name: "short-lived".into(),
        tenant: "acme".into(),
        expires: OffsetDateTime::now_utc() + time::Duration::seconds(1),
    };
    let token = s
        .change(|doc| doc.create(&request, OffsetDateTime::now_utc()))
        .await
        .secret
        .expose()
        .to_string();
    s.client(&token).get("/Users").await.assert_status(200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_refused_as_invalid(&s.client(&token).get("/Users").await);
}

/// A token rotated with no grace is expired at once (after the cache reloads).
#[tokio::test]
async fn a_token_rotated_without_grace_is_refused() {
    let s = Setup::start(0).await;
    let (token, id) = s.create("acme").await;
    s.client(&token).get("/Users").await.assert_status(200);
    s.change(|doc| doc.rotate(&id, time::Duration::ZERO, OffsetDateTime::now_utc()))
        .await;
    assert_refused_as_invalid(&s.client(&token).get("/Users").await);
}

#[tokio::test]
async fn a_revoked_token_is_refused_once_the_cache_reloads() {
    let s = Setup::start(1).await;
    let (token, id) = s.create("acme").await;
    s.client(&token).get("/Users").await.assert_status(200);
    s.change(|doc| Ok(doc.revoke(&id, OffsetDateTime::now_utc())?))
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_refused_as_invalid(&s.client(&token).get("/Users").await);
}

#[tokio::test]
async fn after_a_rotation_both_tokens_work_during_the_grace_period() {
    let s = Setup::start(60).await;
    let (old, id) = s.create("acme").await;
    let user = s.client(&old).create_user("bjensen@example.com").await;
    let new = s
        .change(|doc| doc.rotate(&id, time::Duration::days(7), OffsetDateTime::now_utc()))
        .await
        .successor
        .secret
        .expose()
        .to_string();
    s.client(&old)
        .get(&format!("/Users/{user}"))
        .await
        .assert_status(200);
    s.client(&new)
        .get(&format!("/Users/{user}"))
        .await
        .assert_status(200);
}

/// A header whose shape is wrong is told what is wrong with it; the text depends on the shape
/// alone, so a real token and a made-up one pasted the same wrong way get the same answer, and a
/// well-shaped token that lets nobody in keeps the one text for unknown, expired and revoked.
#[tokio::test]
async fn a_misshapen_bearer_header_is_told_what_is_wrong_with_its_shape() {
    let s = Setup::start(0).await;
    let (valid, _) = s.create("acme").await;
    let (revoked, revoked_id) = s.create("acme").await;
    s.change(|doc| Ok(doc.revoke(&revoked_id, OffsetDateTime::now_utc())?))
        .await;
    let detail = |reply: &Reply| {
        assert_refused(reply);
        reply.body["detail"].as_str().unwrap().to_string()
    };
    let twice = detail(&s.client(&format!("Bearer {valid}")).get("/Users").await);
    assert!(twice.contains("'Bearer' twice"), "{twice}");
    let twice_lower = detail(&s.client(&format!("bearer {valid}")).get("/Users").await);
    let twice_unknown = detail(&s.client("Bearer SCIM_not-a-token").get("/Users").await);
    assert_eq!(twice_lower, twice);
    assert_eq!(twice_unknown, twice, "the answer does not depend on the token");

    let (head, tail) = valid.split_at(12);
    let spaced = detail(&s.client(&format!("{head} {tail}")).get("/Users").await);
    assert!(spaced.contains("contains spaces"), "{spaced}");
    let spaced_unknown = detail(&s.client("SCIM_not a-token").get("/Users").await);
    assert_eq!(spaced_unknown, spaced, "the answer does not depend on the token");

    assert_refused_as_invalid(&s.client("SCIM_not-a-token").get("/Users").await);
    assert_refused_as_invalid(&s.client(&revoked).get("/Users").await);
    s.client(&valid).get("/Users").await.assert_status(200);
}

/// The request log line of a refused request says why (the client is told less), with the
/// token record's id when there is one; `latency_ms` has at most three decimals.
#[tokio::test]
async fn the_request_log_says_why_a_token_was_refused() {
    if !scim_blackbox::alone_in_process(module_path!(), "the_request_log_says_why_a_token_was_refused") {
        return;
    }
    let captured = scim_blackbox::logs::Captured::process_json_log();
    let s = Setup::start(0).await;
    let (valid, _) = s.create("acme").await;
    let (revoked, revoked_id) = s.create("acme").await;
    s.change(|doc| Ok(doc.revoke(&revoked_id, OffsetDateTime::now_utc())?))
        .await;
    let (expired, expired_id) = s.create("acme").await;
    s.change(|doc| doc.rotate(&expired_id, time::Duration::ZERO, OffsetDateTime::now_utc()))
        .await;
    let cases: [(Option<String>, &str, &str); 7] = [
        (None, "missing", "-"),
        (Some(format!("Basic {valid}")), "malformed", "-"),
        (Some(format!("Bearer Bearer {valid}")), "malformed", "-"),
        (Some("Bearer SCIM_a b".into()), "malformed", "-"),
        (Some("Bearer SCIM_not-a-token".into()), "unknown", "-"),
        (Some(format!("Bearer {revoked}")), "revoked", &revoked_id),
        (Some(format!("Bearer {expired}")), "expired", &expired_id),
    ];
    for (header, _, _) in &cases {
        let reply = s
            .server
            .send(|client, base| {
                let request = client.get(format!("{base}/Users"));
                match header {
                    Some(value) => request.header("Authorization", value),
                    None => request,
                }
            })
            .await;
        assert_refused(&reply);
    }
    s.client(&valid).get("/Users").await.assert_status(200);

    let text = captured.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["fields"]["message"] == "request")
        .map(|v| v["fields"].clone())
        .collect();
    assert_eq!(lines.len(), cases.len() + 1, "{text}");
    for ((_, reason, token_id), line) in cases.iter().zip(&lines) {
        assert_eq!(line["status"], 401, "{line}");
        assert_eq!(line["refused"], *reason, "{line}");
        assert_eq!(line["token_id"], *token_id, "{line}");
    }
    let last = &lines[cases.len()];
    assert_eq!(last["refused"], "-", "{last}");
    for line in &lines {
        let latency = line["latency_ms"].to_string();
        let decimals = latency.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(decimals <= 3, "{latency}");
    }
    assert!(!text.contains(&valid) && !text.contains(&revoked) && !text.contains(&expired));
}

/// Every route, fallbacks included, with no token, a malformed header, an unknown token and a
/// revoked token: always 401, never an answer.
#[tokio::test]
async fn no_endpoint_answers_without_a_valid_token() {
    let s = Setup::start(0).await;
    let (valid, _) = s.create("acme").await;
    let (revoked, revoked_id) = s.create("acme").await;
    s.change(|doc| Ok(doc.revoke(&revoked_id, OffsetDateTime::now_utc())?))
        .await;
    let owner = s.client(&valid);
    let user = owner.create_user("u@example.com").await;
    let group = owner.create_group("g", &[&user]).await;
    let body = json!({"schemas": [USER], "userName": "x"});
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/Users".into()),
        (Method::POST, "/Users".into()),
        (Method::POST, "/Users/.search".into()),
        (Method::GET, format!("/Users/{user}")),
        (Method::PUT, format!("/Users/{user}")),
        (Method::PATCH, format!("/Users/{user}")),
        (Method::DELETE, format!("/Users/{user}")),
        (Method::GET, "/Groups".into()),
        (Method::POST, "/Groups".into()),
        (Method::POST, "/Groups/.search".into()),
        (Method::GET, format!("/Groups/{group}")),
        (Method::PUT, format!("/Groups/{group}")),
        (Method::PATCH, format!("/Groups/{group}")),
        (Method::DELETE, format!("/Groups/{group}")),
        (Method::POST, "/.search".into()),
        (Method::GET, "/ServiceProviderConfig".into()),
        (Method::GET, "/ResourceTypes".into()),
        (Method::GET, "/ResourceTypes/User".into()),
        (Method::GET, "/Schemas".into()),
        (Method::GET, format!("/Schemas/{USER}")),
        (Method::GET, "/NoSuchThing".into()),
        (Method::DELETE, "/ServiceProviderConfig".into()),
    ];
    let headers: [Option<String>; 5] = [
        None,
        Some(valid.clone()),
        Some(format!("Basic {valid}")),
        Some("Bearer SCIM_not-a-token".into()),
        Some(format!("Bearer {revoked}")),
    ];
    for (method, path) in &routes {
        for header in &headers {
            let reply = s
                .server
                .send(|client, base| {
                    let request = client
                        .request(method.clone(), format!("{base}{path}"))
                        .json(&body);
                    match header {
                        Some(value) => request.header("Authorization", value),
                        None => request,
                    }
                })
                .await;
            assert_refused(&reply);
            assert!(
                !reply.text.contains("u@example.com"),
                "{method} {path}: {}",
                reply.text
            );
        }
    }
    // Outside /scim/v2 too (the console under /admin has its own sign-in: console.rs).
    let outside = s.server.base.replace("/scim/v2", "/elsewhere");
    let reply = s.server.send(|client, _| client.get(&outside)).await;
    assert_refused(&reply);
    // The user is untouched.
    owner.get(&format!("/Users/{user}")).await.assert_status(200);
}

/// Two tenants with overlapping userNames and group names. Tenant A's token reaches none of
/// tenant B's resources by any endpoint: 404 (or, for members, 400 unknown member), never 200.
#[tokio::test]
async fn a_token_reaches_its_own_tenant_only() {
    let s = Setup::start(60).await;
    let (a_token, _) = s.create("tenant-a").await;
    let (b_token, _) = s.create("tenant-b").await;
    let (a, b) = (s.client(&a_token), s.client(&b_token));
    let a_user = a.create_user("shared@example.com").await;
    let b_user = b.create_user("shared@example.com").await;
    let a_group = a.create_group("Engineering", &[&a_user]).await;
    let b_group = b.create_group("Engineering", &[&b_user]).await;

    let replace = json!({"schemas": [USER], "userName": "stolen@example.com"});
    let deactivate = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
    let rename = json!({"schemas": [GROUP], "displayName": "Stolen"});
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/Users/{b_user}"), None),
        (Method::PUT, format!("/Users/{b_user}"), Some(replace)),
        (
            Method::PATCH,
            format!("/Users/{b_user}"),
            Some(deactivate.clone()),
        ),
        (Method::DELETE, format!("/Users/{b_user}"), None),
        (Method::GET, format!("/Groups/{b_group}"), None),
        (Method::PUT, format!("/Groups/{b_group}"), Some(rename)),
        (
            Method::PATCH,
            format!("/Groups/{b_group}"),
            Some(deactivate_members()),
        ),
        (Method::DELETE, format!("/Groups/{b_group}"), None),
    ];
    for (method, path, body) in attempts {
        a.call(method.clone(), &path, body.as_ref())
            .await
            .assert_error(404, None);
    }

    // Lists, filters and searches see tenant A only, even for the shared userName.
    for reply in [
        a.get("/Users").await,
        a.get("/Users?filter=userName+eq+%22shared@example.com%22").await,
        a.post("/Users/.search", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"shared@example.com\""})).await,
    ] {
        let body = reply.assert_status(200);
        assert_eq!(body["totalResults"], 1, "{body}");
        assert_eq!(body["Resources"][0]["id"], a_user);
    }
    for reply in [
        a.get("/Groups?filter=displayName+eq+%22Engineering%22").await,
        a.post("/.search", &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "displayName eq \"Engineering\""})).await,
    ] {
        let body = reply.assert_status(200);
        assert_eq!(body["totalResults"], 1, "{body}");
        assert_eq!(body["Resources"][0]["id"], a_group);
    }
    let by_id = a.get(&format!("/Users?filter=id+eq+%22{b_user}%22")).await;
    assert_eq!(by_id.assert_status(200)["totalResults"], 0);

    // B's user cannot be made a member of A's group.
    let add = patch_op(json!([{"op": "add", "path": "members", "value": [{"value": b_user}]}]));
    a.patch(&format!("/Groups/{a_group}"), &add)
        .await
        .assert_error(400, Some("invalidValue"));

    // Tenant B is exactly as it was.
    let user = b.get(&format!("/Users/{b_user}")).await;
    assert_eq!(user.assert_status(200)["userName"], "shared@example.com");
    assert_eq!(user.body["active"], true);
    let group = b.get(&format!("/Groups/{b_group}")).await;
    assert_eq!(group.assert_status(200)["displayName"], "Engineering");
    assert_eq!(group.body["members"][0]["value"], b_user);
}

fn deactivate_members() -> Value {
    patch_op(json!([{"op": "remove", "path": "members"}]))
}
