//! Sorting (RFC 7644 §3.4.2.3) over the real listener, on both stores: `sortBy` and `sortOrder`
//! on `GET /Users`, `GET /Groups`, `POST /Users/.search` and the root `POST /.search`, with the
//! attribute's type deciding the order, resources without the attribute last ascending and first
//! descending, and sorting combined with filters, projection and both paging styles (a cursor
//! keeps its order and opens for no other).
// Tests may unwrap (`allow-unwrap-in-tests` misses them: `on_both_stores!` runs plain functions).
#![allow(clippy::unwrap_used)]

use scim_blackbox::urn::{GROUP, SEARCH, USER};
use scim_blackbox::{on_both_stores, Server};
use serde_json::{json, Value};

/// Users as Okta provisions them (name, emails, active), with gaps.
async fn seed(s: &Server) {
    let user = |user_name: &str, active: bool| {
        json!({
            "schemas": [USER],
            "userName": user_name,
            "active": active,
            "emails": [{"value": user_name.to_lowercase(), "type": "work", "primary": true}]
        })
    };
    let with = |mut body: Value, display: Option<&str>, family: Option<&str>| {
        if let Some(d) = display {
            body["displayName"] = json!(d);
        }
        if let Some(f) = family {
            body["name"] = json!({"familyName": f, "givenName": "G"});
        }
        body
    };
    for body in [
        with(
            user("carol@example.com", true),
            Some("Carol Zhang"),
            Some("Zhang"),
        ),
        with(user("Alice@example.com", false), None, Some("adams")),
        with(user("bob@example.com", true), Some("bob brown"), None),
        with(user("dave@example.com", true), Some("Émile Dave"), Some("Young")),
        with(user("erin@example.com", false), Some("alice erin"), Some("Baker")),
    ] {
        s.post("/Users", &body).await.assert_status(201);
        // meta.created has millisecond precision; the tests read creation order from it, so no
        // two users may share a millisecond (ties would fall to the random ids).
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

fn user_names(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_string())
        .collect()
}

async fn sorted(s: &Server, query: &str) -> Vec<String> {
    let list = s.get(&format!("/Users?{query}")).await;
    user_names(list.assert_status(200))
}

on_both_stores!(sort_by_and_sort_order_order_the_list);
async fn sort_by_and_sort_order_order_the_list() {
    let s = Server::start().await;
    seed(&s).await;
    let by_name = [
        "Alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
        "erin@example.com",
    ];
    assert_eq!(sorted(&s, "sortBy=userName").await, by_name);
    assert_eq!(sorted(&s, "sortBy=userName&sortOrder=ascending").await, by_name);
    let mut reversed = by_name.to_vec();
    reversed.reverse();
    assert_eq!(sorted(&s, "sortBy=USERNAME&sortOrder=descending").await, reversed);
    // displayName: case-insensitive, "É" after ASCII letters, Alice (none) last ascending and
    // first descending.
    let by_display = [
        "erin@example.com",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
        "Alice@example.com",
    ];
    assert_eq!(sorted(&s, "sortBy=displayName").await, by_display);
    let mut reversed = by_display.to_vec();
    reversed.reverse();
    assert_eq!(
        sorted(&s, "sortBy=displayName&sortOrder=descending").await,
        reversed
    );
    // A sub-attribute, a boolean (false first), a multi-valued attribute by its primary value.
    assert_eq!(
        sorted(&s, "sortBy=name.familyName").await,
        [
            "Alice@example.com",
            "erin@example.com",
            "dave@example.com",
            "carol@example.com",
            "bob@example.com"
        ]
    );
    let active = sorted(&s, "sortBy=active").await;
    assert_eq!(
        {
            let mut first = active[..2].to_vec();
            first.sort();
            first
        },
        ["Alice@example.com", "erin@example.com"]
    );
    assert_eq!(sorted(&s, "sortBy=emails.value").await, by_name);
    // meta.created is creation order; a PATCH moves the user to the front of lastModified
    // descending.
    assert_eq!(
        sorted(&s, "sortBy=meta.created").await,
        [
            "carol@example.com",
            "Alice@example.com",
            "bob@example.com",
            "dave@example.com",
            "erin@example.com"
        ]
    );
    let bob = s.get("/Users?filter=userName eq \"bob@example.com\"").await;
    let bob_id = bob.body["Resources"][0]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    s.patch(
        &format!("/Users/{bob_id}"),
        &scim_blackbox::patch_op(json!([{"op": "replace", "path": "title", "value": "Lead"}])),
    )
    .await
    .assert_status(200);
    assert_eq!(
        sorted(&s, "sortBy=meta.lastModified&sortOrder=descending").await[0],
        "bob@example.com"
    );
    // sortOrder alone orders by nothing: id order, as without it.
    assert_eq!(sorted(&s, "sortOrder=descending").await, sorted(&s, "").await);
}

on_both_stores!(sorting_combines_with_filters_projection_and_both_paging_styles);
async fn sorting_combines_with_filters_projection_and_both_paging_styles() {
    let s = Server::start().await;
    seed(&s).await;
    // A filter evaluated item by item, and one answered by the userName index.
    assert_eq!(
        sorted(
            &s,
            "filter=active eq true&sortBy=displayName&sortOrder=descending"
        )
        .await,
        ["dave@example.com", "carol@example.com", "bob@example.com"]
    );
    assert_eq!(
        sorted(&s, "filter=userName eq \"bob@example.com\"&sortBy=displayName").await,
        ["bob@example.com"]
    );
    // The sort attribute need not be returned.
    let list = s
        .get("/Users?sortBy=displayName&attributes=userName&count=2&startIndex=2")
        .await;
    let body = list.assert_status(200);
    assert_eq!(user_names(body), ["bob@example.com", "carol@example.com"]);
    assert_eq!(body["totalResults"], 5);
    assert_eq!(body["startIndex"], 2);
    assert!(body["Resources"][0].get("displayName").is_none());
    // Cursor pages of two, in order, ending without a nextCursor.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..5 {
        let page = s
            .get(&format!(
                "/Users?sortBy=displayName&sortOrder=descending&count=2&cursor={cursor}"
            ))
            .await;
        let body = page.assert_status(200).clone();
        seen.extend(user_names(&body));
        match body.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let whole = sorted(&s, "sortBy=displayName&sortOrder=descending").await;
    assert_eq!(seen, whole);
    // A cursor keeps its order: the same cursor under another order or attribute is refused.
    let first = s.get("/Users?sortBy=displayName&count=2&cursor=").await;
    let next = first.body["nextCursor"].as_str().unwrap().to_string();
    for other in ["sortBy=displayName&sortOrder=descending", "sortBy=userName", ""] {
        s.get(&format!("/Users?{other}&count=2&cursor={next}"))
            .await
            .assert_error(400, Some("invalidCursor"));
    }
    s.get(&format!("/Users?sortBy=displayName&count=2&cursor={next}"))
        .await
        .assert_status(200);
    // POST /Users/.search carries the same parameters in its body.
    let search = s
        .post(
            "/Users/.search",
            &json!({"schemas": [SEARCH], "sortBy": "name.familyName", "sortOrder": "descending",
                    "filter": "name.familyName pr", "count": 10}),
        )
        .await;
    assert_eq!(
        user_names(search.assert_status(200)),
        [
            "carol@example.com",
            "dave@example.com",
            "erin@example.com",
            "Alice@example.com"
        ]
    );
}

on_both_stores!(groups_and_the_root_search_sort_too);
async fn groups_and_the_root_search_sort_too() {
    let s = Server::start().await;
    s.create_user("Mia").await;
    s.create_user("zed").await;
    for name in ["Sales", "engineering", "Ops"] {
        s.post("/Groups", &json!({"schemas": [GROUP], "displayName": name}))
            .await
            .assert_status(201);
    }
    let groups = s.get("/Groups?sortBy=displayName&sortOrder=descending").await;
    let names: Vec<&str> = groups.assert_status(200)["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Sales", "Ops", "engineering"]);
    // The root search orders users and groups together; users have no displayName here, so
    // they come after every group (ascending), and userName orders the users before the groups,
    // which have none.
    let root = |sort_by: &str, start: u64, count: u64| json!({"schemas": [SEARCH], "sortBy": sort_by, "startIndex": start, "count": count});
    let names = |body: &Value| -> Vec<String> {
        body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.get("displayName")
                    .or(r.get("userName"))
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let all = s.post("/.search", &root("displayName", 1, 10)).await;
    let body = all.assert_status(200);
    assert_eq!(body["totalResults"], 5);
    assert_eq!(names(body)[..3], ["engineering", "Ops", "Sales"]);
    let users = s.post("/.search", &root("userName", 2, 2)).await;
    let page = names(users.assert_status(200));
    assert_eq!(page[0], "zed");
    assert!(
        ["engineering", "Ops", "Sales"].contains(&page[1].as_str()),
        "{page:?}"
    );
}

on_both_stores!(unsortable_attributes_are_a_scim_error);
async fn unsortable_attributes_are_a_scim_error() {
    let s = Server::start().await;
    s.create_user("ada").await;
    for (path, query) in [
        ("/Users", "sortBy=nope"),
        ("/Users", "sortBy=name"),
        ("/Users", "sortBy=password"),
        ("/Users", "sortBy=groups.value"),
        ("/Groups", "sortBy=members.value"),
        ("/Groups", "sortBy=userName"),
        ("/Users", "sortBy=userName&sortOrder=sideways"),
    ] {
        let r = s.get(&format!("{path}?{query}")).await;
        r.assert_error(400, Some("invalidValue"));
    }
    let r = s
        .post("/.search", &json!({"schemas": [SEARCH], "sortBy": "nope"}))
        .await;
    r.assert_error(400, Some("invalidValue"));
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.assert_status(200)["sort"]["supported"], true);
}
