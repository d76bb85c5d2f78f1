//! Contract cases: the provisioning log: newest first, paged, filtered, per tenant, expiring.

use super::*;
use crate::{Idp, LogChange, LogCursor, LogMembers, LogPage, LogQuery, LogRecord, ResourceFilter};

/// A record of `tenant`, `seconds` after midnight today (request id `req-<seconds>`, resource
/// `id-<seconds>`, token `tok-a`; a 409 is a `uniqueness` failure), expiring in a day. Backends'
/// own log tests build theirs with it too.
pub fn sample_record(t: &TenantId, seconds: i64, status: u16) -> LogRecord {
    let base = crate::now().replace_time(time::Time::MIDNIGHT);
    LogRecord {
        time: crate::timestamp(base + time::Duration::seconds(seconds)),
        request_id: format!("req-{seconds}"),
        tenant: t.to_string(),
        token_id: Some("tok-a".into()),
        token_name: Some("Okta production".into()),
        client: Some("203.0.113.9".into()),
        idp: Idp::Okta,
        user_agent: Some("Okta SCIM Client 1.0.0".into()),
        method: "POST".into(),
        path: "/scim/v2/Users".into(),
        operation: "Users.create".into(),
        resource_type: Some("User".into()),
        resource_id: Some(format!("id-{seconds}")),
        resource_name: Some(format!("user{seconds}@example.com")),
        status,
        scim_type: (status == 409).then(|| "uniqueness".into()),
        detail: (status >= 400).then(|| "userName is already in use".into()),
        latency_ms: 12,
        changed: Vec::new(),
        members: None,
        request_body: None,
        response_body: None,
        operator: None,
        expires_at: crate::now().unix_timestamp() + 86_400,
    }
}

fn all(limit: usize) -> LogQuery {
    LogQuery {
        limit,
        ..LogQuery::default()
    }
}

/// Every field survives the store; a tenant's records come newest first, a page at a time,
/// whatever order they were appended in.
pub async fn log_newest_first_in_pages<S: Store>(s: S) {
    let t = tenant();
    let mut full = sample_record(&t, 10, 200);
    full.changed = vec![LogChange {
        attribute: "displayName".into(),
        old: Some(json!("Ada")),
        new: Some(json!("Ada L.")),
    }];
    full.members = Some(LogMembers::of(["u1", "u2"], ["u3"]));
    full.request_body = Some(json!({"userName": "ada", "password": "[redacted]"}));
    full.response_body = Some(json!({"id": "id-10"}));
    for r in [
        sample_record(&t, 30, 201),
        full.clone(),
        sample_record(&t, 50, 409),
        sample_record(&t, 20, 201),
        sample_record(&t, 40, 204),
    ] {
        s.append_log(&t, &r).await.unwrap();
    }
    let first = s.read_log(&t, &all(2)).await.unwrap();
    let ids: Vec<&str> = first.records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["req-50", "req-40"]);
    let next = first.next.clone().expect("more records");
    let second = s
        .read_log(
            &t,
            &LogQuery {
                after: Some(next),
                ..all(2)
            },
        )
        .await
        .unwrap();
    let ids: Vec<&str> = second.records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["req-30", "req-20"]);
    let last = s
        .read_log(
            &t,
            &LogQuery {
                after: second.next.clone(),
                ..all(2)
            },
        )
        .await
        .unwrap();
    assert_eq!(last.records, vec![full], "every field round-trips");
    assert_eq!(last.next, None);
    // A page that ends exactly at the last record says so.
    let exact = s.read_log(&t, &all(5)).await.unwrap();
    assert_eq!((exact.records.len(), exact.next), (5, None));
}

/// Errors only, one token, a time window and one resource select exactly their records.
pub async fn log_filters_select_exactly<S: Store>(s: S) {
    let t = tenant();
    let mut other_token = sample_record(&t, 5, 400);
    other_token.token_id = Some("tok-b".into());
    let mut failed_create = sample_record(&t, 6, 409);
    failed_create.resource_id = None;
    failed_create.resource_name = Some("Grace@Example.com".into());
    for r in [
        sample_record(&t, 1, 201),
        sample_record(&t, 2, 409),
        sample_record(&t, 3, 200),
        other_token,
        failed_create,
    ] {
        s.append_log(&t, &r).await.unwrap();
    }
    let ids = |page: LogPage| page.records.into_iter().map(|r| r.request_id).collect::<Vec<_>>();
    let errors = s
        .read_log(
            &t,
            &LogQuery {
                errors_only: true,
                ..all(10)
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(errors), ["req-6", "req-5", "req-2"]);
    let token = s
        .read_log(
            &t,
            &LogQuery {
                token_id: Some("tok-b".into()),
                ..all(10)
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(token), ["req-5"]);
    let base = crate::now().replace_time(time::Time::MIDNIGHT);
    let window = LogQuery {
        since: Some(crate::timestamp(base + time::Duration::seconds(2))),
        until: Some(crate::timestamp(base + time::Duration::seconds(3))),
        ..all(10)
    };
    assert_eq!(ids(s.read_log(&t, &window).await.unwrap()), ["req-3", "req-2"]);
    let resource = LogQuery {
        resource: Some(ResourceFilter {
            ids: vec!["id-3".into()],
            name: Some("grace@example.COM".into()),
        }),
        ..all(10)
    };
    assert_eq!(ids(s.read_log(&t, &resource).await.unwrap()), ["req-6", "req-3"]);
    let errors_of_token = LogQuery {
        errors_only: true,
        token_id: Some("tok-a".into()),
        ..all(1)
    };
    let page = s.read_log(&t, &errors_of_token).await.unwrap();
    assert_eq!(ids(page.clone()), ["req-6"]);
    let rest = s
        .read_log(
            &t,
            &LogQuery {
                after: page.next,
                ..errors_of_token
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(rest), ["req-2"]);
}

/// A tenant reads only its own records; an expired record is never read, even before the
/// backend removes it.
pub async fn log_is_per_tenant_and_expires<S: Store>(s: S) {
    let (a, b) = (tenant(), tenant());
    s.append_log(&a, &sample_record(&a, 1, 201)).await.unwrap();
    let mut expired = sample_record(&a, 2, 201);
    expired.expires_at = crate::now().unix_timestamp() - 1;
    s.append_log(&a, &expired).await.unwrap();
    assert!(s.read_log(&b, &all(10)).await.unwrap().records.is_empty());
    let page = s.read_log(&a, &all(10)).await.unwrap();
    let ids: Vec<&str> = page.records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["req-1"]);
    // A cursor of another tenant's log continues nothing here.
    let cursor = LogCursor {
        time: crate::timestamp(crate::now() + time::Duration::days(1)),
        request_id: "x".into(),
    };
    let page = s
        .read_log(
            &b,
            &LogQuery {
                after: Some(cursor),
                ..all(10)
            },
        )
        .await
        .unwrap();
    assert!(page.records.is_empty());
}

/// An operator names a resource by id, `userName` or `displayName`: each finds the resource's
/// records, and a create that failed is found by the name it sent.
pub async fn log_resource_named_by_id_or_name<S: Store>(s: S) {
    let t = tenant();
    let registry = SchemaRegistry::standard();
    let grace = user(&s, &t, "grace").await;
    let team = group(&s, &t, "Team Blue", &[]).await;
    let mut of_grace = sample_record(&t, 1, 200);
    of_grace.resource_id = Some(grace.id.clone());
    let mut of_team = sample_record(&t, 2, 200);
    of_team.resource_id = Some(team.id.clone());
    let mut failed = sample_record(&t, 3, 409);
    failed.resource_id = None;
    failed.resource_name = Some("grace".into());
    for r in [of_grace, of_team, failed, sample_record(&t, 4, 201)] {
        s.append_log(&t, &r).await.unwrap();
    }
    let ids_for = |text: &'static str| {
        let (s, t, registry) = (&s, &t, &registry);
        async move {
            let filter = crate::log::resource_filter(s, registry, t, text).await.unwrap();
            let query = LogQuery {
                resource: Some(filter),
                ..all(10)
            };
            let page = s.read_log(t, &query).await.unwrap();
            page.records.into_iter().map(|r| r.request_id).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids_for("GRACE").await, ["req-3", "req-1"]);
    assert_eq!(ids_for("team blue").await, ["req-2"]);
    assert_eq!(ids_for("id-4").await, ["req-4"]);
    assert!(ids_for("nobody").await.is_empty());
}
