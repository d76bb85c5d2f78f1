//! The measured requests, shaped the way Okta and Entra ID send them.

use crate::client::Scim;
use crate::rng::Rng;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// What every scenario needs: the client and the users seeded before measuring.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub scim: Scim,
    /// Server-assigned ids of `user0` .. `user{n-1}`, in no particular order.
    pub ids: Vec<String>,
    /// How many users were seeded (`user0` .. `user{n-1}`).
    pub users: usize,
    /// The number of the first user `POST /Users` creates, so userNames never collide with
    /// the seeded users or those an earlier run of the scenario created.
    pub first_new_user: usize,
}

/// One kind of request, measured on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    GetById,
    FilterEq,
    FilterCo,
    Create,
    Patch,
}

impl Scenario {
    /// In run order: the reads first, so they see exactly the seeded users.
    pub const ALL: [Scenario; 5] = [
        Self::GetById,
        Self::FilterEq,
        Self::FilterCo,
        Self::Create,
        Self::Patch,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::GetById => "GET /Users/{id}",
            Self::FilterEq => "GET /Users?filter=userName eq",
            Self::FilterCo => "GET /Users?filter=userName co \"99\"",
            Self::Create => "POST /Users (with password)",
            Self::Patch => "PATCH /Users/{id} (Entra)",
        }
    }

    /// The `n`th request of this scenario; `rng` picks which seeded user it touches.
    pub fn request(self, fx: &Fixture, n: usize, rng: &mut Rng) -> RequestBuilder {
        let scim = &fx.scim;
        match self {
            Self::GetById => scim.request(Method::GET, &format!("/Users/{}", random_id(fx, rng))),
            Self::FilterEq => {
                let filter = format!("userName eq \"user{}@example.com\"", rng.below(fx.users));
                scim.request(Method::GET, &format!("/Users?filter={}", percent_encode(&filter)))
            }
            Self::FilterCo => {
                let filter = percent_encode("userName co \"99\"");
                scim.request(Method::GET, &format!("/Users?filter={filter}&count=10"))
            }
            Self::Create => scim.request(Method::POST, "/Users").json(&user_body(
                fx.first_new_user + n,
                Some(&format!("Bench-{n}-Passw0rd!")),
            )),
            Self::Patch => scim
                .request(Method::PATCH, &format!("/Users/{}", random_id(fx, rng)))
                .json(&patch_body(n)),
        }
    }
}

fn random_id<'a>(fx: &'a Fixture, rng: &mut Rng) -> &'a str {
    &fx.ids[rng.below(fx.ids.len())]
}

/// A user as Okta provisions one. Okta sends a `password` on create; the seed omits it so seeding
/// measures the store, not argon2.
pub fn user_body(i: usize, password: Option<&str>) -> Value {
    let mut user = json!({
        "schemas": [USER_SCHEMA],
        "userName": format!("user{i}@example.com"),
        "externalId": format!("ext-{i}"),
        "name": { "givenName": "Bench", "familyName": format!("User{i}") },
        "emails": [{ "primary": true, "value": format!("user{i}@example.com"), "type": "work" }],
        "displayName": format!("Bench User{i}"),
        "active": true,
    });
    if let (Some(password), Some(fields)) = (password, user.as_object_mut()) {
        fields.insert("password".into(), Value::from(password));
    }
    user
}

/// A PatchOp as Entra ID sends it (capitalised `Replace`, a path, a plain value).
fn patch_body(n: usize) -> Value {
    json!({
        "schemas": [PATCH_SCHEMA],
        "Operations": [{ "op": "Replace", "path": "displayName", "value": format!("x{n}") }],
    })
}

/// Percent-encodes all but RFC 3986 unreserved characters, so a space is `%20` (not the `+` of
/// form encoding, which a server may leave as a literal plus) and a quote is `%22`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_filters() {
        assert_eq!(
            percent_encode("userName eq \"user7@example.com\""),
            "userName%20eq%20%22user7%40example.com%22"
        );
    }

    #[test]
    fn password_only_when_asked() {
        assert!(user_body(1, None).get("password").is_none());
        assert_eq!(user_body(1, Some("p"))["password"], "p");
        assert_eq!(user_body(3, None)["userName"], "user3@example.com");
    }
}
