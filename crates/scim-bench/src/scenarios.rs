//! The measured requests, shaped the way Okta and Entra ID send them.

use crate::client::{created_id, Answer, Scim};
use crate::rng::Rng;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, PoisonError};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// What every scenario needs: the client, the users and groups made before measuring, and what
/// earlier requests made for later ones to undo.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub scim: Scim,
    /// Server-assigned ids of `user0` .. `user{n-1}`, `ids[i]` that of `user{i}`.
    pub ids: Vec<String>,
    /// How many users were seeded (`user0` .. `user{n-1}`).
    pub users: usize,
    /// Ids of the groups made at setup, without members: the member scenarios change them.
    pub groups: Vec<String>,
    /// The number this pass gives its first request, past those an earlier pass on the same
    /// server sent, so the users `POST /Users` creates, the members the member add adds and the
    /// display names `PUT /Users/{id}` sets are new in every pass.
    pub first_request: usize,
    /// Shared by every pass on one server (clones share it).
    pub made: Arc<Made>,
}

/// What succeeded requests made that a later scenario undoes, so that every measured removal
/// and delete acts on something that exists (a 404, or a removal of an absent member, would be
/// measured as if it were the real work).
#[derive(Debug, Default)]
pub struct Made {
    /// Ids of the users `POST /Users` created, for `DELETE /Users/{id}`.
    users: Pool<String>,
    /// `(group id, user id)` of the members the member add added, for the member remove.
    members: Pool<(String, String)>,
}

/// Things made and not yet undone, taken by concurrent workers.
#[derive(Debug)]
struct Pool<T>(Mutex<Vec<T>>);

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

impl<T> Pool<T> {
    fn put(&self, item: T) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(item);
    }

    fn take(&self) -> Option<T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }
}

impl Fixture {
    /// A fixture for a server whose users and groups were just made, before any pass.
    pub fn new(scim: Scim, ids: Vec<String>, users: usize, groups: Vec<String>) -> Self {
        Self {
            scim,
            ids,
            users,
            groups,
            first_request: 0,
            made: Arc::default(),
        }
    }

    /// The groups the member add needs to add a new member with each of `requests` requests:
    /// each seeded user joins each group once.
    pub fn groups_for(requests: usize, users: usize) -> usize {
        requests.div_ceil(users.max(1))
    }

    /// The `(group, user)` membership the member add makes with pass request `n`: every
    /// seeded user joins the first group, then the second, and so on; `None` once every pair is
    /// taken.
    fn member_pair(&self, n: usize) -> Option<(&str, &str)> {
        let pair = self.first_request + n;
        let users = self.ids.len().max(1);
        let group = self.groups.get(pair / users)?;
        let user = self.ids.get(pair % users)?;
        Some((group, user))
    }
}

/// One kind of request, measured on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    GetById,
    FilterEq,
    FilterCo,
    GetGroup,
    Create,
    CreateGroup,
    Patch,
    Replace,
    AddMember,
    RemoveMember,
    Delete,
}

impl Scenario {
    /// In run order: the user reads first, so they see exactly the seeded users; the member
    /// remove after the add and the delete after the create, as each undoes what the other made.
    /// The group read and create come after the member changes, as in the calls rows.
    pub const ALL: [Scenario; 11] = [
        Self::GetById,
        Self::FilterEq,
        Self::FilterCo,
        Self::Create,
        Self::Patch,
        Self::Replace,
        Self::AddMember,
        Self::RemoveMember,
        Self::GetGroup,
        Self::CreateGroup,
        Self::Delete,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::GetById => "GET /Users/{id}",
            Self::FilterEq => "GET /Users?filter=userName eq",
            Self::FilterCo => "GET /Users?filter=userName co \"99\"",
            Self::GetGroup => "GET /Groups/{id} (Entra, no members)",
            Self::Create => "POST /Users (with password)",
            Self::CreateGroup => "POST /Groups (no members)",
            Self::Patch => "PATCH /Users/{id} (Entra)",
            Self::Replace => "PUT /Users/{id} (Okta)",
            Self::AddMember => "PATCH /Groups/{id} add member",
            Self::RemoveMember => "PATCH /Groups/{id} remove member",
            Self::Delete => "DELETE /Users/{id}",
        }
    }

    /// The status a successful request answers: RFC 7644 §3.3 (201), §3.4 (200), §3.5.1 (200),
    /// §3.5.2 (200 with the resource; the service answers a group PATCH 204 when no attributes
    /// are asked for), §3.6 (204).
    pub fn status(self) -> StatusCode {
        match self {
            Self::GetById
            | Self::FilterEq
            | Self::FilterCo
            | Self::GetGroup
            | Self::Patch
            | Self::Replace => StatusCode::OK,
            Self::Create | Self::CreateGroup => StatusCode::CREATED,
            Self::AddMember | Self::RemoveMember | Self::Delete => StatusCode::NO_CONTENT,
        }
    }

    /// The `n`th request of this pass; `rng` picks which seeded user it touches. `None` when
    /// nothing is left to act on: every membership the add can make is made, or every member
    /// and user earlier requests made is removed.
    pub fn request(self, fx: &Fixture, n: usize, rng: &mut Rng) -> Option<RequestBuilder> {
        let scim = &fx.scim;
        Some(match self {
            Self::GetById => scim.request(Method::GET, &format!("/Users/{}", random_id(fx, rng))),
            Self::FilterEq => {
                let filter = format!("userName eq \"user{}@example.com\"", rng.below(fx.users));
                scim.request(Method::GET, &format!("/Users?filter={}", percent_encode(&filter)))
            }
            Self::FilterCo => {
                let filter = percent_encode("userName co \"99\"");
                scim.request(Method::GET, &format!("/Users?filter={filter}&count=10"))
            }
            Self::GetGroup => {
                let group = fx.groups.get(rng.below(fx.groups.len().max(1)))?;
                scim.request(
                    Method::GET,
                    &format!("/Groups/{group}?excludedAttributes=members"),
                )
            }
            Self::CreateGroup => scim
                .request(Method::POST, "/Groups")
                .json(&new_group_body(fx.first_request + n)),
            Self::Create => scim.request(Method::POST, "/Users").json(&user_body(
                fx.users + fx.first_request + n,
                Some(&format!("Bench-{n}-Passw0rd!")),
            )),
            Self::Patch => scim
                .request(Method::PATCH, &format!("/Users/{}", random_id(fx, rng)))
                .json(&patch_body(n)),
            Self::Replace => {
                let i = rng.below(fx.ids.len());
                let id = &fx.ids[i];
                scim.request(Method::PUT, &format!("/Users/{id}"))
                    .json(&replace_body(i, id, fx.first_request + n))
            }
            Self::AddMember => {
                let (group, user) = fx.member_pair(n)?;
                scim.request(Method::PATCH, &format!("/Groups/{group}"))
                    .json(&add_member_body(user))
            }
            Self::RemoveMember => {
                let (group, user) = fx.made.members.take()?;
                scim.request(Method::PATCH, &format!("/Groups/{group}"))
                    .json(&remove_member_body(&user))
            }
            Self::Delete => {
                let id = fx.made.users.take()?;
                scim.request(Method::DELETE, &format!("/Users/{id}"))
            }
        })
    }

    /// Takes the answer to request `n`: an error unless it has this scenario's success status;
    /// otherwise notes what it made for the scenario that undoes it.
    pub fn accept(self, fx: &Fixture, n: usize, answer: &Answer) -> Result<(), String> {
        if answer.status != self.status() {
            return Err(format!("expected {}; {}", self.status(), answer.describe()));
        }
        match self {
            Self::Create => fx.made.users.put(created_id(answer)?),
            Self::AddMember => {
                let (group, user) = fx
                    .member_pair(n)
                    .ok_or_else(|| format!("{}: no membership for request {n}", answer.what))?;
                fx.made.members.put((group.to_string(), user.to_string()));
            }
            Self::GetById
            | Self::FilterEq
            | Self::FilterCo
            | Self::GetGroup
            | Self::CreateGroup
            | Self::Patch
            | Self::Replace
            | Self::RemoveMember
            | Self::Delete => {}
        }
        Ok(())
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

/// Seeded user `i` (id `id`) replaced whole (RFC 7644 §3.5.1) as Okta sends it: every attribute
/// it holds, with `id`, and a display name new with each `change`, so every PUT writes.
fn replace_body(i: usize, id: &str, change: usize) -> Value {
    let mut user = user_body(i, None);
    if let Some(fields) = user.as_object_mut() {
        fields.insert("id".into(), Value::from(id));
        fields.insert(
            "displayName".into(),
            Value::from(format!("Bench User{i} v{change}")),
        );
    }
    user
}

/// A group as the fixture makes it: a name, no members.
pub fn group_body(i: usize) -> Value {
    json!({ "schemas": [GROUP_SCHEMA], "displayName": format!("bench-group-{i}") })
}

/// A group as `POST /Groups` creates it: no members, a display name no other request of this
/// server used (the seeded groups are `bench-group-{i}`).
fn new_group_body(i: usize) -> Value {
    json!({ "schemas": [GROUP_SCHEMA], "displayName": format!("bench-created-group-{i}") })
}

/// Adds one member as Okta and Entra ID send it: the `members` path and a list of one value.
fn add_member_body(user: &str) -> Value {
    json!({
        "schemas": [PATCH_SCHEMA],
        "Operations": [{ "op": "add", "path": "members", "value": [{ "value": user }] }],
    })
}

/// Removes one member with a value filter in the path (RFC 7644 §3.5.2.2), as Okta and Entra
/// ID send it.
fn remove_member_body(user: &str) -> Value {
    json!({
        "schemas": [PATCH_SCHEMA],
        "Operations": [{ "op": "remove", "path": format!("members[value eq \"{user}\"]") }],
    })
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

    fn fixture(users: usize, groups: usize) -> Fixture {
        let scim = Scim::new("http://127.0.0.1:9/scim/v2", "t").unwrap();
        let ids = (0..users).map(|i| format!("u{i}")).collect();
        let groups = (0..groups).map(|i| format!("g{i}")).collect();
        Fixture::new(scim, ids, users, groups)
    }

    fn answer(status: StatusCode, body: &str) -> Answer {
        Answer {
            what: "TEST /x".into(),
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
            wire_bytes: body.len(),
        }
    }

    #[test]
    fn each_member_add_makes_a_new_membership_across_passes() {
        assert_eq!(Fixture::groups_for(300 + 20, 100), 4);
        assert_eq!(Fixture::groups_for(2_000, 10_000), 1);
        let first = fixture(3, 2);
        let pairs: Vec<_> = (0..6).filter_map(|n| first.member_pair(n)).collect();
        assert_eq!(pairs.iter().collect::<std::collections::HashSet<_>>().len(), 6);
        assert_eq!(first.member_pair(6), None);
        assert!(Scenario::AddMember.request(&first, 6, &mut Rng::new(1)).is_none());
        // A later pass continues where the earlier one stopped.
        let later = Fixture {
            first_request: 4,
            ..first.clone()
        };
        assert_eq!(later.member_pair(0), first.member_pair(4));
        assert_eq!(later.member_pair(2), None);
    }

    #[test]
    fn only_the_success_status_is_accepted_and_only_successes_are_undone() {
        let fx = fixture(2, 1);
        let mut rng = Rng::new(1);
        assert!(Scenario::RemoveMember.request(&fx, 0, &mut rng).is_none());
        assert!(Scenario::Delete.request(&fx, 0, &mut rng).is_none());

        // A 200 is not a group PATCH's 204, nor a 200 a create's 201: errors, nothing noted.
        assert!(Scenario::AddMember
            .accept(&fx, 0, &answer(StatusCode::OK, ""))
            .is_err());
        assert!(Scenario::Create
            .accept(&fx, 0, &answer(StatusCode::OK, r#"{"id":"x"}"#))
            .is_err());
        assert!(Scenario::Delete
            .accept(&fx, 0, &answer(StatusCode::NOT_FOUND, ""))
            .is_err());
        assert!(Scenario::RemoveMember.request(&fx, 0, &mut rng).is_none());
        assert!(Scenario::Delete.request(&fx, 0, &mut rng).is_none());

        Scenario::AddMember
            .accept(&fx, 1, &answer(StatusCode::NO_CONTENT, ""))
            .unwrap();
        Scenario::Create
            .accept(&fx, 0, &answer(StatusCode::CREATED, r#"{"id":"new"}"#))
            .unwrap();
        let remove = Scenario::RemoveMember
            .request(&fx, 0, &mut rng)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(remove.url().path(), "/scim/v2/Groups/g0");
        let body: Value = serde_json::from_slice(remove.body().unwrap().as_bytes().unwrap()).unwrap();
        assert_eq!(body["Operations"][0]["path"], "members[value eq \"u1\"]");
        let delete = Scenario::Delete
            .request(&fx, 0, &mut rng)
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            (delete.method(), delete.url().path()),
            (&Method::DELETE, "/scim/v2/Users/new")
        );
        assert!(Scenario::RemoveMember.request(&fx, 1, &mut rng).is_none());
        assert!(Scenario::Delete.request(&fx, 1, &mut rng).is_none());
    }

    /// A body-less request's method and path with its query.
    fn sent_url(request: RequestBuilder) -> (Method, String) {
        let request = request.build().unwrap();
        let url = request.url();
        let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
        (request.method().clone(), path)
    }

    fn sent(request: RequestBuilder) -> (Method, String, Value) {
        let request = request.build().unwrap();
        let body = serde_json::from_slice(request.body().unwrap().as_bytes().unwrap()).unwrap();
        (request.method().clone(), request.url().path().to_string(), body)
    }

    /// A PUT sends the user it names (its userName, so nothing is renamed or refused as a
    /// duplicate) with a display name numbered past those of earlier passes.
    #[test]
    fn each_put_replaces_the_user_it_names_with_a_new_display_name() {
        let fx = fixture(4, 0);
        let later = Fixture {
            first_request: 5,
            ..fx.clone()
        };
        for (fx, n, change) in [(&fx, 0, 0), (&fx, 4, 4), (&later, 0, 5), (&later, 3, 8)] {
            let request = Scenario::Replace.request(fx, n, &mut Rng::new(n as u64)).unwrap();
            let (method, path, body) = sent(request);
            assert_eq!(method, Method::PUT);
            let i: usize = path.trim_start_matches("/scim/v2/Users/u").parse().unwrap();
            assert_eq!(body["id"], format!("u{i}"));
            assert_eq!(body["userName"], format!("user{i}@example.com"));
            assert_eq!(body["displayName"], format!("Bench User{i} v{change}"));
        }
    }

    /// Entra's group read leaves the members out; each group create names a new group, also
    /// across passes.
    #[test]
    fn group_reads_exclude_members_and_group_creates_are_new() {
        let fx = fixture(1, 2);
        let (method, path) = sent_url(Scenario::GetGroup.request(&fx, 0, &mut Rng::new(1)).unwrap());
        assert_eq!(method, Method::GET);
        assert!(
            path == "/scim/v2/Groups/g0?excludedAttributes=members"
                || path == "/scim/v2/Groups/g1?excludedAttributes=members",
            "{path}"
        );
        assert!(Scenario::GetGroup
            .request(&fixture(1, 0), 0, &mut Rng::new(1))
            .is_none());

        let later = Fixture {
            first_request: 2,
            ..fx.clone()
        };
        let names: std::collections::HashSet<_> = [(&fx, 0), (&fx, 1), (&later, 0), (&later, 1)]
            .into_iter()
            .map(|(fx, n)| {
                let (method, path, body) =
                    sent(Scenario::CreateGroup.request(fx, n, &mut Rng::new(1)).unwrap());
                assert_eq!((method, path.as_str()), (Method::POST, "/scim/v2/Groups"));
                assert!(body.get("members").is_none());
                body["displayName"].to_string()
            })
            .collect();
        assert_eq!(names.len(), 4);
    }

    #[test]
    fn password_only_when_asked() {
        assert!(user_body(1, None).get("password").is_none());
        assert_eq!(user_body(1, Some("p"))["password"], "p");
        assert_eq!(user_body(3, None)["userName"], "user3@example.com");
    }
}
