//! List and search parameters (RFC 7644 §3.4.2, §3.4.3), cursor paging parameters (RFC 9865)
//! and the ListResponse message.

use crate::error::{Result, ScimError};
use crate::filter::Filter;
use serde_json::{json, Map, Value};

/// `urn:ietf:params:scim:api:messages:2.0:ListResponse` (RFC 7644 §3.4.2).
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `urn:ietf:params:scim:api:messages:2.0:SearchRequest` (RFC 7644 §3.4.3).
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// RFC 7644 §3.4.2.3 `sortOrder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

/// Server limits applied while reading list parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimits {
    /// Largest page served; larger `count`s are clamped (RFC 7644 §3.4.2.4: the service provider
    /// may return fewer results than requested).
    pub max_count: u64,
    /// Page size when the client gives no `count`.
    pub default_count: u64,
}

/// The parameters of a list (GET) or search (POST .search) request.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// The filter as the client wrote it (bound into cursors, echoed in errors).
    pub filter_text: Option<String>,
    /// 1-based (RFC 7644 §3.4.2.4).
    pub start_index: u64,
    /// The requested page size after clamping; `None` when the client gave none (see
    /// [`ListQuery::page_size`]).
    pub count: Option<u64>,
    /// Attribute names, already split on commas and trimmed.
    pub attributes: Vec<String>,
    pub excluded_attributes: Vec<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<SortOrder>,
    /// RFC 9865 `cursor`: `Some("")` asks for the first page of cursor paging.
    pub cursor: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            filter: None,
            filter_text: None,
            start_index: 1,
            count: None,
            attributes: Vec::new(),
            excluded_attributes: Vec::new(),
            sort_by: None,
            sort_order: None,
            cursor: None,
        }
    }
}

/// Parses a paging integer. RFC 7644 §3.4.2.4 defines both as non-negative integers; out-of-range
/// values are clamped by the caller, huge ones saturate rather than fail.
fn parse_int(name: &str, raw: &str) -> Result<i128> {
    let t = raw.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ScimError::invalid_value(format!(
            "'{name}' must be an integer, got \"{raw}\""
        )));
    }
    let mut n: i128 = 0;
    for b in digits.bytes() {
        n = n.saturating_mul(10).saturating_add(i128::from(b - b'0'));
    }
    Ok(if neg { -n } else { n })
}

fn clamp_u64(n: i128, min: u64, max: u64) -> u64 {
    if n < i128::from(min) {
        min
    } else if n > i128::from(max) {
        max
    } else {
        // In range [min, max] by the checks above.
        u64::try_from(n).unwrap_or(max)
    }
}

fn split_names(raw: &str, into: &mut Vec<String>) {
    into.extend(
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    );
}

fn parse_sort_order(raw: &str) -> Result<SortOrder> {
    let t = raw.trim();
    if t.eq_ignore_ascii_case("ascending") {
        Ok(SortOrder::Ascending)
    } else if t.eq_ignore_ascii_case("descending") {
        Ok(SortOrder::Descending)
    } else {
        Err(ScimError::invalid_value(format!(
            "'sortOrder' must be \"ascending\" or \"descending\", got \"{raw}\""
        )))
    }
}

/// Accumulates parameters from either source, then checks them together.
#[derive(Default)]
struct Builder {
    q: ListQuery,
    start_index_given: bool,
}

impl Builder {
    fn filter(&mut self, text: &str) -> Result<()> {
        // An empty `filter=` is no filter, not a syntax error: clients build URLs from templates.
        if text.trim().is_empty() {
            self.q.filter = None;
            self.q.filter_text = None;
            return Ok(());
        }
        self.q.filter = Some(Filter::parse(text)?);
        self.q.filter_text = Some(text.to_string());
        Ok(())
    }

    fn start_index(&mut self, n: i128) {
        // RFC 7644 §3.4.2.4: "A value less than 1 SHALL be interpreted as 1."
        self.q.start_index = clamp_u64(n, 1, u64::MAX);
        self.start_index_given = true;
    }

    fn count(&mut self, n: i128, limits: &ListLimits) {
        // RFC 7644 §3.4.2.4: "A negative value SHALL be interpreted as 0"; above the maximum the
        // server returns fewer results than asked.
        self.q.count = Some(clamp_u64(n, 0, limits.max_count));
    }

    fn finish(self) -> Result<ListQuery> {
        if self.start_index_given && self.q.cursor.is_some() {
            // RFC 9865: index and cursor paging cannot be mixed in one request.
            return Err(ScimError::invalid_value(
                "'cursor' and 'startIndex' cannot be used together: use one pagination method",
            ));
        }
        Ok(self.q)
    }
}

impl ListQuery {
    /// Reads URL query parameters (already percent-decoded pairs). Names compare
    /// case-insensitively; unknown parameters are ignored (Entra appends `aadOptscim062020`).
    pub fn from_query_pairs(pairs: &[(String, String)], limits: &ListLimits) -> Result<ListQuery> {
        let mut b = Builder::default();
        for (name, value) in pairs {
            match name.trim().to_ascii_lowercase().as_str() {
                "filter" => b.filter(value)?,
                // An empty value is no value, as for `filter=`: URL templates leave them empty.
                "startindex" if value.trim().is_empty() => {}
                "count" if value.trim().is_empty() => {}
                "startindex" => b.start_index(parse_int("startIndex", value)?),
                "count" => b.count(parse_int("count", value)?, limits),
                "attributes" => split_names(value, &mut b.q.attributes),
                "excludedattributes" => split_names(value, &mut b.q.excluded_attributes),
                "sortby" => {
                    let t = value.trim();
                    b.q.sort_by = (!t.is_empty()).then(|| t.to_string());
                }
                "sortorder" => {
                    b.q.sort_order = if value.trim().is_empty() {
                        None
                    } else {
                        Some(parse_sort_order(value)?)
                    }
                }
                // RFC 9865: present but empty asks for the first cursor page.
                "cursor" => b.q.cursor = Some(value.trim().to_string()),
                _ => {}
            }
        }
        b.finish()
    }

    /// Reads a SearchRequest body (RFC 7644 §3.4.3), posted to `.search`.
    pub fn from_search_request(body: &Value, limits: &ListLimits) -> Result<ListQuery> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("the SearchRequest body must be a JSON object"))?;
        let get = |name: &str| -> Option<&Value> {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .filter(|v| !v.is_null())
        };
        let schemas_ok = get("schemas").and_then(Value::as_array).is_some_and(|a| {
            a.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.trim().eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA))
            })
        });
        if !schemas_ok {
            return Err(ScimError::invalid_syntax(format!(
                "a SearchRequest must have \"schemas\": [\"{SEARCH_REQUEST_SCHEMA}\"]"
            )));
        }
        let mut b = Builder::default();
        if let Some(f) = get("filter") {
            let text = f
                .as_str()
                .ok_or_else(|| ScimError::invalid_value("'filter' must be a string"))?;
            b.filter(text)?;
        }
        for (name, into) in [
            ("attributes", &mut b.q.attributes),
            ("excludedAttributes", &mut b.q.excluded_attributes),
        ] {
            match get(name) {
                None => {}
                Some(Value::Array(items)) => {
                    for item in items {
                        let s = item.as_str().ok_or_else(|| {
                            ScimError::invalid_value(format!("'{name}' must be an array of strings"))
                        })?;
                        split_names(s, into);
                    }
                }
                // A comma-separated string, as in a query string.
                Some(Value::String(s)) => split_names(s, into),
                Some(_) => {
                    return Err(ScimError::invalid_value(format!(
                        "'{name}' must be an array of strings"
                    )))
                }
            }
        }
        let int = |name: &str, v: &Value| -> Result<i128> {
            match v {
                Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => Ok(i128::from(i)),
                    (None, Some(u)) => Ok(i128::from(u)),
                    _ => Err(ScimError::invalid_value(format!(
                        "'{name}' must be an integer, got {n}"
                    ))),
                },
                Value::String(s) => parse_int(name, s),
                other => Err(ScimError::invalid_value(format!(
                    "'{name}' must be an integer, got {other}"
                ))),
            }
        };
        if let Some(v) = get("startIndex") {
            b.start_index(int("startIndex", v)?);
        }
        if let Some(v) = get("count") {
            b.count(int("count", v)?, limits);
        }
        if let Some(v) = get("sortBy") {
            let s = v
                .as_str()
                .ok_or_else(|| ScimError::invalid_value("'sortBy' must be a string"))?;
            b.q.sort_by = (!s.trim().is_empty()).then(|| s.trim().to_string());
        }
        if let Some(v) = get("sortOrder") {
            let s = v
                .as_str()
                .ok_or_else(|| ScimError::invalid_value("'sortOrder' must be a string"))?;
            b.q.sort_order = Some(parse_sort_order(s)?);
        }
        if let Some(v) = get("cursor") {
            let s = v
                .as_str()
                .ok_or_else(|| ScimError::invalid_value("'cursor' must be a string"))?;
            b.q.cursor = Some(s.trim().to_string());
        }
        b.finish()
    }

    /// The number of resources to put on the page: the clamped `count`, or the default.
    pub fn page_size(&self, limits: &ListLimits) -> u64 {
        self.count.unwrap_or(limits.default_count.min(limits.max_count))
    }

    /// Whether the client asked for cursor paging (RFC 9865).
    pub fn is_cursor_paging(&self) -> bool {
        self.cursor.is_some()
    }
}

/// A ListResponse (RFC 7644 §3.4.2, RFC 9865 §3).
///
/// `Resources` is always present, even empty (Entra's "Test Connection" expects
/// `"Resources": []`); `itemsPerPage` is the number of resources on this page; `startIndex` is
/// present for index paging, `nextCursor` / `previousCursor` for cursor paging.
pub fn list_response(
    resources: Vec<Value>,
    total_results: u64,
    start_index: Option<u64>,
    next_cursor: Option<String>,
    previous_cursor: Option<String>,
) -> Value {
    let mut m = Map::new();
    m.insert("schemas".into(), json!([LIST_RESPONSE_SCHEMA]));
    m.insert("totalResults".into(), json!(total_results));
    m.insert("itemsPerPage".into(), json!(resources.len()));
    if let Some(s) = start_index {
        m.insert("startIndex".into(), json!(s));
    }
    if let Some(c) = next_cursor {
        m.insert("nextCursor".into(), Value::String(c));
    }
    if let Some(c) = previous_cursor {
        m.insert("previousCursor".into(), Value::String(c));
    }
    m.insert("Resources".into(), Value::Array(resources));
    Value::Object(m)
}
