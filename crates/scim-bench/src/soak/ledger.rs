//! What one soak client wrote to its tenant, and the comparison of a resource read back with it.
//! Each client is alone in its tenant and sends one request at a time, so after every answered
//! write the ledger is exactly what the server must hold.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The attributes of a user the soak clients change and check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedUser {
    pub user_name: String,
    pub external_id: String,
    pub display_name: String,
    pub family_name: String,
    pub active: bool,
}

/// A group's name and its members' ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedGroup {
    pub display_name: String,
    pub members: BTreeSet<String>,
}

/// One tenant's resources as the client wrote them. `BTreeMap`s keep the order, and so the
/// random picks of a seeded run, reproducible.
#[derive(Debug, Default)]
pub struct Ledger {
    pub users: BTreeMap<String, ExpectedUser>,
    pub groups: BTreeMap<String, ExpectedGroup>,
    /// Ids answered 204 to DELETE: they must stay gone.
    pub deleted_users: Vec<String>,
    pub deleted_groups: Vec<String>,
    /// Writes whose outcome is unknown (a 5xx or no answer): left out of the read-back, since
    /// either state would be right; the run fails on the 5xx or transport error already.
    pub uncertain: BTreeSet<String>,
    /// Writes answered with success.
    pub writes: u64,
}

impl Ledger {
    /// A user deleted: gone, and out of every group (RFC 7644 §3.6: a deleted resource is no
    /// longer returned, so neither is a membership pointing at it).
    pub fn delete_user(&mut self, id: &str) {
        self.users.remove(id);
        for group in self.groups.values_mut() {
            group.members.remove(id);
        }
        self.deleted_users.push(id.to_string());
    }

    pub fn delete_group(&mut self, id: &str) {
        self.groups.remove(id);
        self.deleted_groups.push(id.to_string());
    }

    /// A write to `id` got no definite answer: it is no longer checked, and neither is its
    /// membership in any group (a DELETE that happened took it out of its groups).
    pub fn forget(&mut self, id: &str) {
        self.users.remove(id);
        self.groups.remove(id);
        self.uncertain.insert(id.to_string());
    }

    /// Users and groups tracked: what the read-back checks.
    pub fn size(&self) -> usize {
        self.users.len() + self.groups.len() + self.deleted_users.len() + self.deleted_groups.len()
    }
}

/// Why `read` (a User resource as the server renders it) differs from `expected`, if it does.
pub fn user_mismatch(expected: &ExpectedUser, read: &Value) -> Option<String> {
    let fields = [
        (
            "userName",
            Value::from(expected.user_name.as_str()),
            &read["userName"],
        ),
        (
            "externalId",
            Value::from(expected.external_id.as_str()),
            &read["externalId"],
        ),
        (
            "displayName",
            Value::from(expected.display_name.as_str()),
            &read["displayName"],
        ),
        (
            "name.familyName",
            Value::from(expected.family_name.as_str()),
            &read["name"]["familyName"],
        ),
        ("active", Value::from(expected.active), &read["active"]),
    ];
    let wrong: Vec<String> = fields
        .iter()
        .filter(|(_, want, got)| want != *got)
        .map(|(name, want, got)| format!("{name} is {got}, last written {want}"))
        .collect();
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

/// Why `read` (a Group resource) differs from `expected`, if it does; members in `uncertain`
/// may be there or not.
pub fn group_mismatch(
    expected: &ExpectedGroup,
    read: &Value,
    uncertain: &BTreeSet<String>,
) -> Option<String> {
    let mut wrong = Vec::new();
    if read["displayName"] != expected.display_name.as_str() {
        wrong.push(format!(
            "displayName is {}, last written \"{}\"",
            read["displayName"], expected.display_name
        ));
    }
    let members: BTreeSet<String> = read["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["value"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<&String> = expected
        .members
        .difference(&members)
        .filter(|m| !uncertain.contains(*m))
        .collect();
    let extra: Vec<&String> = members
        .difference(&expected.members)
        .filter(|m| !uncertain.contains(*m))
        .collect();
    if !missing.is_empty() {
        wrong.push(format!("members {missing:?} missing"));
    }
    if !extra.is_empty() {
        wrong.push(format!("members {extra:?} never added or since removed"));
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alice() -> ExpectedUser {
        ExpectedUser {
            user_name: "alice@example.com".into(),
            external_id: "ext-1".into(),
            display_name: "Alice".into(),
            family_name: "Smith".into(),
            active: true,
        }
    }

    #[test]
    fn user_read_back() {
        let read = json!({
            "id": "1", "userName": "alice@example.com", "externalId": "ext-1",
            "displayName": "Alice", "name": { "familyName": "Smith", "givenName": "A" }, "active": true,
        });
        assert_eq!(user_mismatch(&alice(), &read), None);
        // A lost PATCH: the server still has the old name and is still active.
        let mut expected = alice();
        expected.family_name = "Jones".into();
        expected.active = false;
        let why = user_mismatch(&expected, &read).unwrap();
        assert!(why.contains("name.familyName") && why.contains("active"), "{why}");
        assert!(!why.contains("userName"), "{why}");
    }

    #[test]
    fn group_read_back() {
        let expected = ExpectedGroup {
            display_name: "Eng".into(),
            members: ["a".to_string(), "b".to_string()].into(),
        };
        let read = json!({ "displayName": "Eng", "members": [{ "value": "b" }, { "value": "a" }] });
        let none = BTreeSet::new();
        assert_eq!(group_mismatch(&expected, &read, &none), None);
        let read = json!({ "displayName": "Eng", "members": [{ "value": "a" }, { "value": "c" }] });
        let why = group_mismatch(&expected, &read, &none).unwrap();
        assert!(why.contains("\"b\"") && why.contains("\"c\""), "{why}");
        // A member whose deletion got no answer may be there or not.
        let uncertain = ["b".to_string(), "c".to_string()].into();
        assert_eq!(group_mismatch(&expected, &read, &uncertain), None);
        // No members attribute at all reads as an empty group.
        let why = group_mismatch(&expected, &json!({ "displayName": "Eng" }), &none).unwrap();
        assert!(why.contains("missing"), "{why}");
    }

    #[test]
    fn deleting_a_user_drops_its_memberships() {
        let mut ledger = Ledger::default();
        ledger.users.insert("u1".into(), alice());
        ledger.groups.insert(
            "g1".into(),
            ExpectedGroup {
                display_name: "Eng".into(),
                members: ["u1".to_string(), "u2".to_string()].into(),
            },
        );
        ledger.delete_user("u1");
        assert!(ledger.users.is_empty());
        assert_eq!(ledger.groups["g1"].members, ["u2".to_string()].into());
        assert_eq!(ledger.deleted_users, ["u1"]);
        assert_eq!(ledger.size(), 2);
    }
}
