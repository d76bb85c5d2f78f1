//! What an IdP administrator changes to stop a 4xx: the second half of an error's `detail`, after
//! the fact (issue 14). A detail reads "<what is wrong>; <what to change>", on one line, and the
//! provisioning log keeps it with the request.
//!
//! The IdP-side names (mapping sources, connector settings) are those of the administrators'
//! guides, docs/okta.md, docs/entra.md and docs/sailpoint.md, and nothing more; where an error
//! cannot come from a mapping or a setting, the hint says so ([`CLIENT_FAULT`]). The table of
//! every `scimType` with its usual causes is docs/troubleshooting.md.

/// The hint of an error no attribute mapping or connector setting can cause (a body that is not
/// JSON, a PATCH message of the wrong shape): the client that sent it is at fault.
pub const CLIENT_FAULT: &str = "no attribute mapping causes this: the client sent a malformed \
                                request, so report it to whoever maintains that client";

/// Where each IdP's mapping takes a required attribute from ("Attribute mappings" of each
/// guide), or `None` for one the guides do not map (a custom extension's).
fn idp_sources(resource_type: &str, attr: &str) -> Option<&'static str> {
    match (resource_type, attr) {
        ("User", "userName") => {
            Some("user.login (Okta), userPrincipalName (Entra) or the account name attribute (SailPoint)")
        }
        ("Group", "displayName") => {
            Some("the group's name (Okta's Group Push and Entra's groups mapping send it)")
        }
        _ => None,
    }
}

/// A required attribute (RFC 7643 §2.2 `required`) is absent: name what to map to it.
pub fn required(resource_type: &str, label: &str) -> String {
    match idp_sources(resource_type, label) {
        Some(sources) => format!("map {sources} to {label}, with a value for every {resource_type}"),
        None => format!("map a source attribute that always has a value to {label} in the IdP's mapping"),
    }
}

/// A required sub-attribute is absent from one value of `label`: the IdP sends the value when
/// the source of the sub-attribute is empty.
pub fn required_sub(label: &str, sub: &str) -> String {
    format!(
        "the IdP sent a {label} value without {sub}, as it does when that source is empty: fill in \
         the source, or stop mapping {label} for records without one"
    )
}

/// A value of the wrong JSON type (RFC 7643 §2.3): the mapping sends another type of source.
pub fn wrong_type(label: &str, expected: &str) -> String {
    format!(
        "the IdP's attribute mapping sends the wrong kind of value for {label}: map a source holding \
         {expected} to it, or remove that mapping"
    )
}

/// An attribute the resource type does not have (a PATCH path, a schema URN of an extension the
/// service does not know): the mapping names a target the schema lacks.
pub fn unknown_attribute(resource_type: &str) -> String {
    format!(
        "the IdP's attribute mapping targets an attribute the {resource_type} schema lacks: map the \
         source to an attribute GET /Schemas lists, or remove that mapping"
    )
}

/// A filter names an attribute the resource type does not have: say what IdPs look up by.
pub fn unknown_filter_attribute(resource_type: &str) -> String {
    let usual = if resource_type == "Group" {
        "Okta and Entra look groups up by displayName"
    } else {
        "IdPs look users up by userName (Okta's Unique identifier field for users, Entra's matching \
         attribute, SailPoint's Account Name in the account schema) or externalId"
    };
    format!("a filter may name any attribute GET /Schemas lists; {usual}")
}

/// A write to a readOnly attribute (RFC 7643 §2.2): the service sets it.
pub fn read_only(label: &str) -> String {
    if label == "groups" {
        "a user's groups change through each group's members: remove groups from the IdP's user \
         mapping"
            .to_string()
    } else {
        format!("the service sets {label} itself: remove it from the IdP's attribute mapping")
    }
}

/// A change to an immutable attribute once set (RFC 7643 §2.2).
pub fn immutable(label: &str) -> String {
    format!("map a source that never changes to {label}, or none")
}

/// An `If-Match` naming an older version (RFC 7644 §3.14). Okta, Entra and SailPoint do not
/// normally send `If-Match` (their guides), so no IdP setting changes it.
pub const STALE_VERSION: &str = "read the resource again (GET) and send the change with its current ETag";

/// A multi-valued attribute with more values than a request may carry.
pub fn too_many_values(label: &str) -> String {
    format!(
        "check the IdP's mapping of {label}: a source that yields a list this long is usually the wrong one"
    )
}

/// A bearer token the service does not accept: the connector setting that holds it (each
/// guide's "Create a token" and connector settings).
pub const BEARER_TOKEN: &str = "check the token in the IdP's connector settings, the token alone without \
                                'Bearer ' (Okta: OAuth Bearer Token or the HTTP Header field; Entra: \
                                Secret Token; SailPoint: API Token) and, with scimctl token list, that it \
                                is neither expired nor revoked";

/// A path that is no SCIM endpoint: the base URL in the connector settings.
pub const BASE_URL: &str = "the IdP's base URL (Okta: SCIM 2.0 Base Url or SCIM connector base URL; \
                            Entra: Tenant URL; SailPoint: Host URL) must end in /scim/v2";

/// An id that names nothing in the token's tenant (RFC 7644 §3.12: 404).
pub const NOT_IN_TENANT: &str = "it was deleted here, or created with another tenant's token: check \
                                 which token the IdP holds, or let the IdP create it again";

/// A member id that names no user or group of the tenant (docs/entra.md: the user is usually
/// not in scope).
pub const UNKNOWN_MEMBER: &str = "provision the member first: assign that user or group to the \
                                  application in the IdP, then send the membership again";

/// A group membership that would make a group contain itself.
pub const GROUP_CYCLE: &str = "a group cannot contain itself: remove one of these memberships in the IdP";

/// A unique attribute already taken (RFC 7644 §3.3: 409 `uniqueness`): the IdP creates what
/// exists, or maps the same value to two people.
pub fn taken(attribute: &str) -> String {
    if attribute == "userName" {
        "the IdP is creating a user that exists: if it is the same person, make the IdP look users \
         up by userName (Okta: Unique identifier field for users; Entra: userPrincipalName as the \
         matching attribute; SailPoint: aggregate, then correlate the account), otherwise map a \
         source that differs between the two people to userName"
            .to_string()
    } else {
        format!("map a source whose values differ between people to {attribute}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_name_hint_names_each_idps_source() {
        let hint = required("User", "userName");
        for source in ["user.login (Okta)", "userPrincipalName (Entra)", "(SailPoint)"] {
            assert!(hint.contains(source), "{hint}");
        }
    }

    #[test]
    fn attributes_the_guides_do_not_map_get_the_general_hint() {
        assert_eq!(
            required("User", "nickName"),
            "map a source attribute that always has a value to nickName in the IdP's mapping"
        );
    }

    #[test]
    fn hints_are_one_line() {
        let all = [
            CLIENT_FAULT.to_string(),
            required("User", "userName"),
            required_sub("x509Certificates", "value"),
            wrong_type("userName", "a string"),
            unknown_attribute("User"),
            unknown_filter_attribute("Group"),
            read_only("groups"),
            immutable("x"),
            STALE_VERSION.to_string(),
            too_many_values("roles"),
            BEARER_TOKEN.to_string(),
            BASE_URL.to_string(),
            NOT_IN_TENANT.to_string(),
            UNKNOWN_MEMBER.to_string(),
            GROUP_CYCLE.to_string(),
            taken("userName"),
        ];
        for hint in all {
            assert!(!hint.contains('\n') && !hint.contains("  "), "{hint:?}");
        }
    }
}
