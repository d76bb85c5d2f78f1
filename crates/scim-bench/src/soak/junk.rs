//! Requests the service must refuse, mixed into the soak, each with the status it must get.

use crate::client::Scim;
use crate::rng::Rng;
use crate::scenarios::percent_encode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder};

/// The body limit the soak gives the server (`SCIM_MAX_BODY_BYTES`): small, so an oversized body
/// costs little to send and many fit in a run.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Tokens the registry refuses, shared by all clients.
#[derive(Debug)]
pub struct RefusedTokens {
    pub expired: String,
    pub revoked: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Junk {
    NoCredentials,
    /// What Okta's connection test sends: `Authorization: non-token`.
    NotBearer,
    UnknownToken,
    ExpiredToken,
    RevokedToken,
    /// A well-formed user padded past `SCIM_MAX_BODY_BYTES`.
    Oversized,
    MalformedJson,
    BadFilter,
    BadPatchOp,
}

impl Junk {
    pub const ALL: [Junk; 9] = [
        Junk::NoCredentials,
        Junk::NotBearer,
        Junk::UnknownToken,
        Junk::ExpiredToken,
        Junk::RevokedToken,
        Junk::Oversized,
        Junk::MalformedJson,
        Junk::BadFilter,
        Junk::BadPatchOp,
    ];

    pub fn class(self) -> &'static str {
        match self {
            Junk::NoCredentials | Junk::NotBearer | Junk::UnknownToken => "junk: no/bad token",
            Junk::ExpiredToken | Junk::RevokedToken => "junk: expired/revoked token",
            Junk::Oversized => "junk: oversized body",
            Junk::MalformedJson => "junk: malformed JSON",
            Junk::BadFilter => "junk: bad filter",
            Junk::BadPatchOp => "junk: bad PATCH op",
        }
    }

    /// RFC 7644 §3.12: 401 for credentials (RFC 6750 §3.1), 413 for a body over the advertised
    /// `maxPayloadSize`, 400 `invalidSyntax` / `invalidFilter` / `invalidValue` for the rest.
    pub fn expected_status(self) -> u16 {
        match self {
            Junk::NoCredentials
            | Junk::NotBearer
            | Junk::UnknownToken
            | Junk::ExpiredToken
            | Junk::RevokedToken => 401,
            Junk::Oversized => 413,
            Junk::MalformedJson | Junk::BadFilter | Junk::BadPatchOp => 400,
        }
    }

    /// Whether the request is one a correct client could send, so that a dropped connection is
    /// a failure. An oversized body is not: a server may close the connection after its 413
    /// (RFC 9110 §15.5.14), and such resets are counted apart.
    pub fn well_formed(self) -> bool {
        self != Junk::Oversized
    }

    /// The request; `user_id` is one of the tenant's users, for the PATCH.
    pub fn request(
        self,
        scim: &Scim,
        refused: &RefusedTokens,
        user_id: &str,
        rng: &mut Rng,
    ) -> RequestBuilder {
        let scim_json = |r: RequestBuilder| r.header(CONTENT_TYPE, "application/scim+json");
        match self {
            Junk::NoCredentials => scim.unauthenticated(Method::GET, "/Users?count=1"),
            Junk::NotBearer => scim
                .unauthenticated(Method::GET, "/Users?startIndex=1&count=1")
                .header(AUTHORIZATION, "non-token"),
            Junk::UnknownToken => scim
                .with_token(&format!("SCIM_soak-unknown-{:016x}", rng.next_u64()))
                .request(Method::GET, "/Users?count=1"),
            Junk::ExpiredToken => scim.with_token(&refused.expired).request(Method::GET, "/Groups"),
            Junk::RevokedToken => scim
                .with_token(&refused.revoked)
                .request(Method::POST, "/Users")
                .json(&serde_json::json!({ "userName": "revoked@example.com" })),
            Junk::Oversized => {
                // Between just over the limit and twice it, so both edges are exercised.
                let padding = MAX_BODY_BYTES + rng.below(MAX_BODY_BYTES);
                let body = format!(
                    r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"big@example.com","displayName":"{}"}}"#,
                    "x".repeat(padding)
                );
                scim_json(scim.request(Method::POST, "/Users")).body(body)
            }
            Junk::MalformedJson => {
                scim_json(scim.request(Method::POST, "/Users")).body(r#"{"userName": "half@example.com", "#)
            }
            Junk::BadFilter => {
                let filters = ["userName eq", "userName xx \"a\"", "(userName eq \"a\"", "name.familyName eq \"unterminated"];
                let filter = filters[rng.below(filters.len())];
                scim.request(Method::GET, &format!("/Users?filter={}", percent_encode(filter)))
            }
            Junk::BadPatchOp => scim_json(scim.request(Method::PATCH, &format!("/Users/{user_id}"))).body(
                r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"frobnicate","path":"displayName","value":"x"}]}"#,
            ),
        }
    }
}
