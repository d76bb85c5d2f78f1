//! list.rs: list and search parameters and the ListResponse, driven by
//! `tests/vectors/list/*.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{cases, check_error};
use scim_proto::list::{list_response, LIST_RESPONSE_SCHEMA};
use scim_proto::{ListLimits, ListQuery, SortOrder};
use serde_json::{json, Value};

const LIMITS: ListLimits = ListLimits {
    max_count: 200,
    default_count: 100,
};

fn check_query(name: &str, q: &ListQuery, expect: &Value) {
    let exp = expect.as_object().unwrap();
    for (field, want) in exp {
        let got = match field.as_str() {
            "start_index" => json!(q.start_index),
            "count" => json!(q.count),
            "page_size" => json!(q.page_size(&LIMITS)),
            "attributes" => json!(q.attributes),
            "excluded_attributes" => json!(q.excluded_attributes),
            "sort_by" => json!(q.sort_by),
            "sort_order" => json!(q.sort_order.map(|o| match o {
                SortOrder::Ascending => "ascending",
                SortOrder::Descending => "descending",
            })),
            "cursor" => json!(q.cursor),
            "filter_text" => {
                assert_eq!(q.filter.is_some(), q.filter_text.is_some(), "{name}");
                json!(q.filter_text)
            }
            other => panic!("{name}: unknown expect field {other}"),
        };
        assert_eq!(&got, want, "{name}: {field}");
    }
}

#[test]
fn query_vectors() {
    for case in &cases("list/query.json") {
        let name = case["name"].as_str().unwrap();
        let pairs: Vec<(String, String)> = case["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        match (ListQuery::from_query_pairs(&pairs, &LIMITS), case.get("error")) {
            (Ok(q), None) => check_query(name, &q, &case["expect"]),
            (Err(e), Some(want)) => check_error(name, &e, want),
            (Ok(q), Some(_)) => panic!("{name}: expected an error, got {q:?}"),
            (Err(e), None) => panic!("{name}: unexpected error {e}"),
        }
    }
}

#[test]
fn search_vectors() {
    for case in &cases("list/search.json") {
        let name = case["name"].as_str().unwrap();
        match (
            ListQuery::from_search_request(&case["body"], &LIMITS),
            case.get("error"),
        ) {
            (Ok(q), None) => check_query(name, &q, &case["expect"]),
            (Err(e), Some(want)) => check_error(name, &e, want),
            (Ok(q), Some(_)) => panic!("{name}: expected an error, got {q:?}"),
            (Err(e), None) => panic!("{name}: unexpected error {e}"),
        }
    }
}

#[test]
fn empty_list_response_for_entra_test_connection() {
    let r = list_response(vec![], 0, Some(1), None, None);
    assert_eq!(
        r,
        json!({
            "schemas": [LIST_RESPONSE_SCHEMA],
            "totalResults": 0,
            "itemsPerPage": 0,
            "startIndex": 1,
            "Resources": []
        })
    );
    assert!(r["totalResults"].is_u64() && r["itemsPerPage"].is_u64() && r["startIndex"].is_u64());
}

#[test]
fn list_response_shapes() {
    let items = vec![json!({"id": "a"}), json!({"id": "b"})];
    let index = list_response(items.clone(), 10, Some(3), None, None);
    assert_eq!(index["itemsPerPage"], 2);
    assert_eq!(index["totalResults"], 10);
    assert_eq!(index["startIndex"], 3);
    assert!(index.get("nextCursor").is_none());
    assert_eq!(index["Resources"], json!(items));

    let cursor = list_response(items, 10, None, Some("n".into()), Some("p".into()));
    assert!(cursor.get("startIndex").is_none());
    assert_eq!(cursor["nextCursor"], "n");
    assert_eq!(cursor["previousCursor"], "p");
    let keys: Vec<&str> = cursor.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.first(), Some(&"schemas"));
    assert_eq!(keys.last(), Some(&"Resources"));
}
