//! What a client sees when things go wrong on our side or at the edge of the protocol: a body
//! too large, a store that fails. Always a SCIM error, never a reset or the backend's own words.
#![allow(clippy::unwrap_used)] // tests may unwrap

use scim_blackbox::logs::Captured;
use scim_blackbox::{alone_in_process, Backend, Server, TOKEN};
use serde_json::Value;
use std::io::Write;

/// A client that writes its whole request, oversized body included, before it reads: it must
/// read the 413, not meet a connection reset (a socket closed with unread input sends RST).
#[tokio::test]
async fn an_oversized_body_sent_whole_before_reading_gets_the_413() {
    let (head, error) = send_whole_before_reading("application/scim+json").await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
    assert_eq!(error["status"], "413");
}

/// The same for a body refused for its content type, which is known before the body is read.
#[tokio::test]
async fn an_oversized_body_of_the_wrong_type_sent_whole_gets_the_415() {
    let (head, error) = send_whole_before_reading("text/plain").await;
    assert!(head.starts_with("HTTP/1.1 415"), "{head}");
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
    assert_eq!(error["status"], "415");
}

/// POSTs a body of three times a 16 KiB limit in one write, then reads the answer to its end;
/// returns the answer's head and its SCIM error.
async fn send_whole_before_reading(content_type: &str) -> (String, Value) {
    const LIMIT: usize = 16 * 1024;
    let server = Server::start_with(&[("SCIM_MAX_BODY_BYTES", "16384")]).await;
    let authority = server
        .base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // A JSON string that is too long, sent in one go.
    let body = format!(
        "{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"{}\"}}",
        "x".repeat(3 * LIMIT)
    );
    let request = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(&authority).unwrap();
        // Bounds the test should the server never end the answer.
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .expect("the answer is read to its end, without a reset");
        String::from_utf8(answer).unwrap()
    })
    .await
    .unwrap();
    let (head, json) = answer.split_once("\r\n\r\n").unwrap();
    let error: Value = serde_json::from_str(json).unwrap();
    assert_eq!(error["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
    (head.to_string(), error)
}

/// A table that is gone (as good as AccessDenied for what the error text reveals: it names the
/// table): the client gets a generic 503 with `Retry-After`; the log keeps DynamoDB's words.
#[tokio::test]
async fn a_failing_table_answers_a_generic_503_and_only_the_log_has_the_aws_error() {
    if !alone_in_process(
        module_path!(),
        "a_failing_table_answers_a_generic_503_and_only_the_log_has_the_aws_error",
    ) {
        return;
    }
    let captured = Captured::process_json_log();
    let table = scim_testkit::unique_name("gone");
    let server = Server::start_on(Backend::DynamoDb, &[("SCIM_TABLE", table.as_str())]).await;
    scim_testkit::dynamodb::client()
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();

    let reply = server.get("/Users?filter=userName%20co%20%22x%22").await;
    reply.assert_error(503, None);
    assert_eq!(reply.body["detail"], scim_store::UNAVAILABLE_DETAIL);
    assert!(reply.header("retry-after").is_some());
    for secret in [table.as_str(), "DynamoDB", "ResourceNotFound", "Query"] {
        assert!(!reply.text.contains(secret), "{secret} in {}", reply.text);
    }
    let log = captured.text();
    assert!(log.contains("ResourceNotFoundException"), "{log}");
}
