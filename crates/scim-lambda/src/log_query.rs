//! A provisioning log selection as operators write it in a URL query, shared by the admin API
//! (`admin.rs`) and the console's log page, so both read `since`, `until`, `errors`, `resource`,
//! `token`, `limit` and `after` alike. An empty value counts as absent: a GET form sends its
//! empty fields.

use crate::state::AppState;
use scim_store::log::{resource_filter, LogCursor, LogQuery, MAX_LOG_PAGE};
use scim_store::{StoreError, TenantId};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// The query `pairs` select from `tenant`'s log, `default_limit` records a page unless `limit`
/// says otherwise. A mistake is [`StoreError::Invalid`], naming the parameter.
pub async fn parse(
    state: &AppState,
    tenant: &TenantId,
    pairs: &[(String, String)],
    default_limit: usize,
) -> Result<LogQuery, StoreError> {
    let mut query = LogQuery {
        limit: default_limit,
        ..LogQuery::default()
    };
    for (key, value) in pairs.iter().filter(|(_, v)| !v.trim().is_empty()) {
        let value = value.trim();
        match key.as_str() {
            "since" => query.since = Some(time_param("since", value)?),
            "until" => query.until = Some(time_param("until", value)?),
            "errors" => query.errors_only = value == "true",
            "token" => query.token_id = Some(value.to_string()),
            "limit" => {
                query.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LOG_PAGE).contains(n))
                    .ok_or_else(|| invalid(format!("limit is 1 to {MAX_LOG_PAGE}, not '{value}'")))?
            }
            "after" => query.after = Some(LogCursor::decode(value)?),
            "resource" => {
                query.resource = Some(resource_filter(&*state.store, &state.registry, tenant, value).await?)
            }
            other => return Err(invalid(format!("unknown parameter '{other}'"))),
        }
    }
    Ok(query)
}

fn invalid(detail: String) -> StoreError {
    StoreError::Invalid(detail)
}

/// A time in the form records carry, so that it compares with them as text: RFC 3339, or a date
/// and time without an offset (what `<input type="datetime-local">` sends), taken as UTC.
pub fn time_param(name: &str, value: &str) -> Result<String, StoreError> {
    scim_store::parse_timestamp(value)
        .or_else(|| local_time(value))
        .map(|t| scim_store::timestamp(t.to_offset(UtcOffset::UTC)))
        .ok_or_else(|| {
            invalid(format!(
                "{name} must be an RFC 3339 time (2026-12-06T05:00:00Z) or a UTC date and time \
                 (2026-12-06T05:00), not '{value}'"
            ))
        })
}

/// `2026-12-06T05:00` or `2026-12-06T05:00:30`, as UTC.
fn local_time(value: &str) -> Option<OffsetDateTime> {
    let minutes = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(value, &seconds)
        .or_else(|_| PrimitiveDateTime::parse(value, &minutes))
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_are_rfc3339_or_utc_without_an_offset() {
        assert_eq!(
            time_param("since", "2026-12-06T06:00:00+01:00").unwrap(),
            "2026-12-06T05:00:00.000Z"
        );
        assert_eq!(
            time_param("since", "2026-12-06T05:00").unwrap(),
            "2026-12-06T05:00:00.000Z"
        );
        assert_eq!(
            time_param("until", "2026-12-06T05:00:30").unwrap(),
            "2026-12-06T05:00:30.000Z"
        );
        let e = time_param("until", "yesterday").unwrap_err();
        assert!(e.to_string().contains("until"), "{e}");
    }
}
