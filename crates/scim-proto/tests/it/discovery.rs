//! discovery.rs: ServiceProviderConfig, /Schemas and /ResourceTypes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use scim_proto::discovery::{
    resource_type_resource, resource_types_list, schema_resource, schemas_list, service_provider_config,
    BulkLimits, Capabilities, PaginationCaps, PaginationMethod, SERVICE_PROVIDER_CONFIG_SCHEMA,
};
use scim_proto::schema::{ACCESS_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use scim_proto::SchemaRegistry;
use serde_json::{json, Value};

const BASE: &str = "https://scim.example.com/scim/v2";

fn caps() -> Capabilities {
    Capabilities {
        patch: true,
        bulk: None,
        filter_max_results: 200,
        change_password: false,
        sort: false,
        etag: true,
        documentation_uri: None,
        max_payload_bytes: Some(1_048_576),
        pagination: None,
    }
}

#[test]
fn service_provider_config_advertises_capabilities() {
    let spc = service_provider_config(&caps(), &format!("{BASE}/"));
    assert_eq!(spc["schemas"], json!([SERVICE_PROVIDER_CONFIG_SCHEMA]));
    assert_eq!(spc["patch"], json!({"supported": true}));
    assert_eq!(
        spc["bulk"],
        json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 1_048_576})
    );
    assert_eq!(spc["filter"], json!({"supported": true, "maxResults": 200}));
    assert_eq!(spc["changePassword"], json!({"supported": false}));
    assert_eq!(spc["sort"], json!({"supported": false}));
    assert_eq!(spc["etag"], json!({"supported": true}));
    assert!(spc.get("documentationUri").is_none());
    assert!(spc.get("pagination").is_none());
    let auth = spc["authenticationSchemes"].as_array().unwrap();
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0]["type"], "oauthbearertoken");
    assert_eq!(auth[0]["name"], "OAuth Bearer Token");
    assert_eq!(auth[0]["primary"], true);
    assert!(auth[0]["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(
        spc["meta"],
        json!({"resourceType": "ServiceProviderConfig", "location": format!("{BASE}/ServiceProviderConfig")})
    );
}

#[test]
fn service_provider_config_with_bulk_docs_and_pagination() {
    let mut c = caps();
    c.bulk = Some(BulkLimits {
        max_operations: 100,
        max_payload_size: 2_000_000,
    });
    c.documentation_uri = Some("https://docs.example.com/scim".into());
    c.pagination = Some(PaginationCaps {
        cursor: true,
        index: true,
        default_method: PaginationMethod::Index,
        default_page_size: 100,
        max_page_size: 200,
        cursor_timeout: Some(3600),
    });
    let spc = service_provider_config(&c, BASE);
    assert_eq!(
        spc["bulk"],
        json!({"supported": true, "maxOperations": 100, "maxPayloadSize": 2_000_000})
    );
    assert_eq!(spc["documentationUri"], "https://docs.example.com/scim");
    assert_eq!(
        spc["pagination"],
        json!({
            "cursor": true, "index": true, "defaultPaginationMethod": "index",
            "defaultPageSize": 100, "maxPageSize": 200, "cursorTimeout": 3600
        })
    );
    c.pagination = Some(PaginationCaps {
        cursor: false,
        index: true,
        default_method: PaginationMethod::Index,
        default_page_size: 50,
        max_page_size: 50,
        cursor_timeout: None,
    });
    let spc = service_provider_config(&c, BASE);
    assert_eq!(spc["pagination"]["cursor"], false);
    assert!(spc["pagination"].get("cursorTimeout").is_none());
    // Everything on, still only the core schema and its attributes (RFC 7643 §5, plus RFC 9865
    // §4 `pagination`): a client with a closed model of the configuration reads it.
    assert_eq!(spc["schemas"], json!([SERVICE_PROVIDER_CONFIG_SCHEMA]));
    let core = [
        "schemas",
        "documentationUri",
        "patch",
        "bulk",
        "filter",
        "changePassword",
        "sort",
        "etag",
        "pagination",
        "authenticationSchemes",
        "meta",
    ];
    for key in spc.as_object().unwrap().keys() {
        assert!(core.contains(&key.as_str()), "not a core attribute: {key}");
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn schemas_and_resource_types_lists() {
    let reg = SchemaRegistry::standard();
    let schemas = schemas_list(&reg, BASE);
    assert_eq!(
        schemas["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(schemas["totalResults"], 4);
    assert_eq!(schemas["itemsPerPage"], 4);
    assert_eq!(schemas["startIndex"], 1);
    assert_eq!(
        ids(&schemas),
        [
            USER_SCHEMA,
            ENTERPRISE_USER_SCHEMA,
            ACCESS_USER_SCHEMA,
            GROUP_SCHEMA
        ]
    );
    assert_eq!(
        schemas["Resources"][0]["meta"]["location"],
        format!("{BASE}/Schemas/{USER_SCHEMA}")
    );

    let types = resource_types_list(&reg, BASE);
    assert_eq!(types["totalResults"], 2);
    assert_eq!(ids(&types), ["User", "Group"]);
    assert_eq!(
        types["Resources"][0]["schemaExtensions"],
        json!([{"schema": ENTERPRISE_USER_SCHEMA, "required": false},
               {"schema": ACCESS_USER_SCHEMA, "required": false}])
    );
}

#[test]
fn single_schema_and_resource_type() {
    let reg = SchemaRegistry::standard();
    // SailPoint fetches each of these; URNs and names compare case-insensitively.
    let cases: &[(&str, Option<&str>)] = &[
        (USER_SCHEMA, Some(USER_SCHEMA)),
        ("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:GROUP", Some(GROUP_SCHEMA)),
        (ENTERPRISE_USER_SCHEMA, Some(ENTERPRISE_USER_SCHEMA)),
        (ACCESS_USER_SCHEMA, Some(ACCESS_USER_SCHEMA)),
        ("urn:example:nope", None),
    ];
    for (urn, want) in cases {
        match (schema_resource(&reg, urn, BASE), want) {
            (Ok(v), Some(id)) => assert_eq!(v["id"], *id),
            (Err(e), None) => assert_eq!(e.status, 404),
            (r, _) => panic!("{urn}: {r:?}"),
        }
    }
    for (name, want) in [("User", Some("User")), ("group", Some("Group")), ("Device", None)] {
        match (resource_type_resource(&reg, name, BASE), want) {
            (Ok(v), Some(id)) => {
                assert_eq!(v["id"], id);
                assert_eq!(v["meta"]["location"], format!("{BASE}/ResourceTypes/{id}"));
            }
            (Err(e), None) => assert_eq!(e.status, 404),
            (r, _) => panic!("{name}: {r:?}"),
        }
    }
}
