//! The request bodies each IdP sends for the same intent, as docs/idp-compatibility.md and the
//! per-IdP guides in docs/ describe them, with what the user must look like afterwards.

use super::ledger::ExpectedUser;
use reqwest::Method;
use serde_json::{json, Value};

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idp {
    Okta,
    Entra,
    SailPoint,
}

impl Idp {
    /// Clients are assigned IdPs in this order, round robin.
    pub const ALL: [Idp; 3] = [Idp::Okta, Idp::Entra, Idp::SailPoint];

    pub fn name(self) -> &'static str {
        match self {
            Idp::Okta => "okta",
            Idp::Entra => "entra",
            Idp::SailPoint => "sailpoint",
        }
    }

    /// How often, out of the weights in `player::pick`, this IdP deletes a user. Okta's
    /// deprovisioning is deactivation and it deletes only when configured to; Entra (out of
    /// scope: delete) and SailPoint (Delete Account) delete more often. Kept low: a tenant's
    /// `delete_mode` is `soft` by default, so every deleted user stays in memory for
    /// `retention_days`, growth by design that would blur a leak.
    pub fn delete_weight(self) -> u32 {
        match self {
            Idp::Okta => 1,
            Idp::Entra | Idp::SailPoint => 2,
        }
    }

    /// Whether the IdP looks a user up by `userName` before creating it (Okta always does).
    pub fn looks_up_before_create(self) -> bool {
        self == Idp::Okta
    }

    /// The `n`th user this client creates, unique within its tenant.
    pub fn new_user(self, n: usize) -> ExpectedUser {
        ExpectedUser {
            user_name: format!("{}-{n}@example.com", self.name()),
            external_id: format!("{}-ext-{n}", self.name()),
            display_name: format!("Soak User {n}"),
            family_name: format!("User{n}"),
            active: true,
        }
    }

    /// POST /Users. Okta sends a password (when password sync is on) and `groups: []`.
    pub fn create_body(self, user: &ExpectedUser, n: usize) -> Value {
        let mut body = full_user(user);
        if self == Idp::Okta {
            body["password"] = Value::from(format!("Soak-{n}-Passw0rd!"));
            body["groups"] = json!([]);
        }
        body
    }

    /// A profile change (new display and family name): Okta PUTs the whole user, Entra sends
    /// `Replace` with paths, SailPoint a pathless `replace` with the changed attributes.
    pub fn update(self, user: &ExpectedUser, n: usize) -> (Method, Value, ExpectedUser) {
        let mut after = user.clone();
        after.display_name = format!("Soak User {n} v");
        after.family_name = format!("Changed{n}");
        let (method, body) = match self {
            Idp::Okta => (Method::PUT, full_user(&after)),
            Idp::Entra => (
                Method::PATCH,
                patch(json!([
                    { "op": "Replace", "path": "displayName", "value": after.display_name },
                    { "op": "Replace", "path": "name.familyName", "value": after.family_name },
                ])),
            ),
            Idp::SailPoint => (
                Method::PATCH,
                patch(json!([{ "op": "replace", "value": {
                    "displayName": after.display_name,
                    "name": { "familyName": after.family_name },
                } }])),
            ),
        };
        (method, body, after)
    }

    /// Deactivation or reactivation: Okta's pathless `replace`, Entra's string boolean,
    /// SailPoint's PUT of the whole account.
    pub fn set_active(self, user: &ExpectedUser, active: bool) -> (Method, Value, ExpectedUser) {
        let mut after = user.clone();
        after.active = active;
        let (method, body) = match self {
            Idp::Okta => (
                Method::PATCH,
                patch(json!([{ "op": "replace", "value": { "active": active } }])),
            ),
            Idp::Entra => (
                Method::PATCH,
                patch(json!([{ "op": "Replace", "path": "active",
                    "value": if active { "True" } else { "False" } }])),
            ),
            Idp::SailPoint => (Method::PUT, full_user(&after)),
        };
        (method, body, after)
    }

    /// POST /Groups: Okta and Entra create empty and then PATCH members in; SailPoint sends
    /// the members with the group.
    pub fn create_group(self, name: &str, members: &[String]) -> Value {
        let members: Vec<Value> = match self {
            Idp::Okta | Idp::Entra => Vec::new(),
            Idp::SailPoint => members.iter().map(|id| json!({ "value": id })).collect(),
        };
        json!({ "schemas": [GROUP_SCHEMA], "displayName": name, "members": members })
    }

    /// Whether `create_group` carries the members it is given.
    pub fn creates_groups_with_members(self) -> bool {
        self == Idp::SailPoint
    }

    /// A member PATCH adding `add` and removing `remove`: Okta's value-filter removals and adds in
    /// one request, Entra's capitalised ops with value lists, SailPoint's lowercase ones.
    pub fn change_members(self, add: &[String], remove: &[String]) -> Value {
        let values = |ids: &[String]| -> Value { ids.iter().map(|id| json!({ "value": id })).collect() };
        let mut ops = Vec::new();
        match self {
            Idp::Okta => {
                for id in remove {
                    ops.push(json!({ "op": "remove", "path": format!("members[value eq \"{id}\"]") }));
                }
                if !add.is_empty() {
                    ops.push(json!({ "op": "add", "path": "members", "value": values(add) }));
                }
            }
            Idp::Entra | Idp::SailPoint => {
                let (add_op, remove_op) = if self == Idp::Entra {
                    ("Add", "Remove")
                } else {
                    ("add", "remove")
                };
                if !add.is_empty() {
                    ops.push(json!({ "op": add_op, "path": "members", "value": values(add) }));
                }
                if !remove.is_empty() {
                    ops.push(json!({ "op": remove_op, "path": "members", "value": values(remove) }));
                }
            }
        }
        patch(Value::Array(ops))
    }

    /// A group rename: Okta's pathless `replace` carrying the group's id (ignored), the others
    /// a `replace` of `displayName`.
    pub fn rename_group(self, id: &str, name: &str) -> Value {
        match self {
            Idp::Okta => patch(json!([{ "op": "replace", "value": { "id": id, "displayName": name } }])),
            Idp::Entra => patch(json!([{ "op": "Replace", "path": "displayName", "value": name }])),
            Idp::SailPoint => patch(json!([{ "op": "replace", "path": "displayName", "value": name }])),
        }
    }
}

/// The whole user, as a PUT or a POST carries it.
fn full_user(user: &ExpectedUser) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user.user_name,
        "externalId": user.external_id,
        "name": { "givenName": "Soak", "familyName": user.family_name },
        "displayName": user.display_name,
        "emails": [{ "primary": true, "value": user.user_name, "type": "work" }],
        "active": user.active,
    })
}

fn patch(operations: Value) -> Value {
    json!({ "schemas": [PATCH_SCHEMA], "Operations": operations })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn okta_member_patch_removes_by_filter_and_adds_in_one_request() {
        let body = Idp::Okta.change_members(&["a".into()], &["b".into()]);
        let ops = body["Operations"].as_array().unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0]["path"], "members[value eq \"b\"]");
        assert_eq!(ops[1]["value"][0]["value"], "a");
        assert_eq!(
            Idp::Entra.change_members(&[], &["b".into()])["Operations"][0]["op"],
            "Remove"
        );
    }

    #[test]
    fn each_idp_deactivates_its_way() {
        let user = Idp::Entra.new_user(1);
        let (method, body, after) = Idp::Entra.set_active(&user, false);
        assert_eq!(
            (method, &body["Operations"][0]["value"]),
            (Method::PATCH, &json!("False"))
        );
        assert!(!after.active);
        let (method, body, _) = Idp::SailPoint.set_active(&user, false);
        assert_eq!((method, &body["active"]), (Method::PUT, &json!(false)));
        assert!(Idp::Okta.create_body(&user, 1).get("password").is_some());
    }
}
