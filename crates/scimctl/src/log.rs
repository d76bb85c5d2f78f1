//! `scimctl log TENANT`: a tenant's provisioning log, newest first, as a table or one JSON
//! object per line, optionally followed as records arrive. The records come from the service's
//! DynamoDB table (`--table`) or from a local server's admin API (`--server`), which serves the
//! embedded store's log; both answer the same [`LogQuery`] with the same [`LogPage`].
//!
//! `--follow` reads again every `--interval` seconds from a little before the newest record seen
//! ([`FOLLOW_OVERLAP`]): the service writes a record after its response, so a slow request's
//! record can land after a newer one's. Records are told apart by their cursor (time and request
//! id), so none is printed twice.

use crate::store::{open_table, schema_registry, tenant};
use crate::Failure;
use clap::Args;
use scim_dynamodb::DynamoStore;
use scim_proto::SchemaRegistry;
use scim_store::log::{resource_filter, MAX_LOG_PAGE};
use scim_store::{LogCursor, LogPage, LogQuery, LogRecord, ProvisioningLog, StoreError, TenantId};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use time::{OffsetDateTime, UtcOffset};

/// `scimctl log TENANT [options]`
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The tenant whose requests to show
    tenant: String,
    /// Read the service's DynamoDB table; the server reads the same variable
    #[arg(long, env = "SCIM_TABLE", value_name = "NAME")]
    table: Option<String>,
    /// Read a local server's admin API instead, e.g. http://127.0.0.1:8080 (`make run`)
    #[arg(long, env = "SCIM_ADMIN_URL", value_name = "URL")]
    server: Option<String>,
    /// Records from this long ago (30m, 2h, 7d) or from this RFC 3339 time on
    #[arg(long, value_name = "DURATION|TIME")]
    since: Option<String>,
    /// Records up to this RFC 3339 time
    #[arg(long, value_name = "TIME", conflicts_with = "follow")]
    until: Option<String>,
    /// Only failed requests (status 400 and above)
    #[arg(long)]
    errors: bool,
    /// Only the requests about one user or group: its id, userName or displayName
    #[arg(long, value_name = "ID|NAME")]
    resource: Option<String>,
    /// Only the requests made with this token (its id, as `scimctl token list` shows it)
    #[arg(long, value_name = "ID")]
    token: Option<String>,
    /// At most this many records (1 to 1000), newest first
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=MAX_LOG_PAGE as i64))]
    limit: u16,
    /// One JSON object (the log record) per line instead of a table
    #[arg(long)]
    json: bool,
    /// Then keep printing new records, oldest first, until interrupted
    #[arg(long)]
    follow: bool,
    /// Seconds between reads with --follow
    #[arg(long, value_name = "SECS", default_value_t = 2, requires = "follow",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
}

/// How far before the newest record seen `--follow` reads again, for records written late.
const FOLLOW_OVERLAP: time::Duration = time::Duration::seconds(30);
/// Most reads one listing makes; a backend may answer a filtered read with a short page, so
/// reaching `--limit` can take more than one.
const MAX_READS: usize = 100;
/// Most records one `--follow` read takes in: a burst beyond it is reported, not printed.
const MAX_FOLLOW_BATCH: usize = 10 * MAX_LOG_PAGE;
/// The width table lines are cut to.
const LINE_WIDTH: usize = 160;

pub async fn run(args: LogArgs) -> Result<(), Failure> {
    let t = tenant(&args.tenant)?;
    let now = OffsetDateTime::now_utc();
    let query = LogQuery {
        since: args.since.as_deref().map(|s| since(s, now)).transpose()?,
        until: args
            .until
            .as_deref()
            .map(|u| time_arg("--until", u))
            .transpose()?,
        errors_only: args.errors,
        resource: None,
        token_id: args.token.clone(),
        limit: usize::from(args.limit),
        after: None,
    };
    if let (Some(since), Some(until)) = (&query.since, &query.until) {
        if since > until {
            return Err(Failure::Usage(format!(
                "--since {since} is after --until {until}"
            )));
        }
    }
    let source = Source::open(args.table, args.server, t, args.resource).await?;
    let mut output = Output::new(args.json);

    let records = source.read(&query, query.limit).await?;
    if records.is_empty() && !args.follow {
        eprintln!("no records");
        return Ok(());
    }
    output.print(&records);
    if !args.follow {
        return Ok(());
    }
    let start = records
        .first()
        .map(LogRecord::cursor)
        .unwrap_or_else(|| LogCursor {
            time: scim_store::timestamp(now),
            request_id: String::new(),
        });
    let mut follow = Follow::new(start, query.since.clone());
    follow.saw(&records);
    loop {
        let batch = source.read(&follow.query(&query), MAX_FOLLOW_BATCH).await?;
        if batch.len() >= MAX_FOLLOW_BATCH {
            eprintln!("more than {MAX_FOLLOW_BATCH} records since the last read: only the newest are shown");
        }
        output.print(&follow.take(batch));
        tokio::time::sleep(Duration::from_secs(args.interval)).await;
    }
}

/// `--since`: `<n>s`, `<n>m`, `<n>h` or `<n>d` before `now`, or an RFC 3339 time; in the form
/// records carry, so that times compare as strings.
fn since(text: &str, now: OffsetDateTime) -> Result<String, Failure> {
    let seconds = text.char_indices().last().and_then(|(at, unit)| {
        let per_unit = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let count: u32 = text[..at].parse().ok()?;
        Some(i64::from(count) * per_unit)
    });
    match seconds {
        Some(seconds) => now
            .checked_sub(time::Duration::seconds(seconds))
            .filter(|t| t.year() >= 0)
            .map(scim_store::timestamp)
            .ok_or_else(|| Failure::Usage(format!("--since {text} reaches too far back"))),
        None => time_arg("--since", text),
    }
}

/// An RFC 3339 time on the command line, in UTC in the form records carry.
fn time_arg(flag: &str, text: &str) -> Result<String, Failure> {
    scim_store::parse_timestamp(text)
        .map(|t| scim_store::timestamp(t.to_offset(UtcOffset::UTC)))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "{flag} '{text}' is neither a duration (30m, 2h, 7d) nor an RFC 3339 time \
                 (2026-12-06T05:00:00Z)"
            ))
        })
}

/// Where the records come from. `--resource` is kept as the operator wrote it: the table
/// resolves it to ids on each read (a user created while following has a new id), the server
/// resolves it itself.
enum Source {
    Table {
        store: DynamoStore,
        registry: Arc<SchemaRegistry>,
        tenant: TenantId,
        resource: Option<String>,
    },
    Server {
        client: reqwest::Client,
        base: reqwest::Url,
        tenant: TenantId,
        resource: Option<String>,
    },
}

impl Source {
    async fn open(
        table: Option<String>,
        server: Option<String>,
        tenant: TenantId,
        resource: Option<String>,
    ) -> Result<Source, Failure> {
        let given = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        match (given(table), given(server)) {
            (Some(table), None) => {
                let registry = Arc::new(schema_registry()?);
                Ok(Source::Table {
                    store: open_table(&table, registry.clone()).await?,
                    registry,
                    tenant,
                    resource,
                })
            }
            (None, Some(server)) => Ok(Source::Server {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .map_err(|e| Failure::Failed(format!("cannot start an HTTP client: {e}")))?,
                base: server_url(&server)?,
                tenant,
                resource,
            }),
            (Some(_), Some(_)) => Err(Failure::Usage(
                "give one of --table (SCIM_TABLE) and --server (SCIM_ADMIN_URL), not both".into(),
            )),
            (None, None) => Err(Failure::Usage(
                "say where the log is: --table (SCIM_TABLE) or --server (SCIM_ADMIN_URL)".into(),
            )),
        }
    }

    /// Up to `wanted` records `query` selects, newest first, following pages.
    async fn read(&self, query: &LogQuery, wanted: usize) -> Result<Vec<LogRecord>, Failure> {
        let mut query = query.clone();
        if let Source::Table {
            store,
            registry,
            tenant,
            resource: Some(text),
        } = self
        {
            query.resource = Some(
                resource_filter(store, registry, tenant, text)
                    .await
                    .map_err(failed)?,
            );
        }
        let mut records = Vec::new();
        for _ in 0..MAX_READS {
            query.limit = (wanted - records.len()).min(MAX_LOG_PAGE);
            let page = self.page(&query).await?;
            records.extend(page.records);
            records.truncate(wanted);
            match page.next {
                Some(next) if records.len() < wanted => query.after = Some(next),
                _ => return Ok(records),
            }
        }
        eprintln!("stopped after {MAX_READS} reads; narrow the selection (--since, --errors) for more");
        Ok(records)
    }

    async fn page(&self, query: &LogQuery) -> Result<LogPage, Failure> {
        match self {
            Source::Table { store, tenant, .. } => store.read_log(tenant, query).await.map_err(failed),
            Source::Server {
                client,
                base,
                tenant,
                resource,
            } => {
                let url = log_url(base, tenant, query, resource.as_deref());
                let response = client
                    .get(url.clone())
                    .send()
                    .await
                    .map_err(|e| Failure::Failed(format!("cannot reach {base}: {}", causes(&e))))?;
                let status = response.status();
                let body = response
                    .text()
                    .await
                    .map_err(|e| Failure::Failed(format!("{url}: {}", causes(&e))))?;
                if !status.is_success() {
                    let detail = serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(String::from))
                        .unwrap_or(body);
                    return Err(Failure::Failed(format!("{url} answered {status}: {detail}")));
                }
                let page: ServerPage = serde_json::from_str(&body)
                    .map_err(|e| Failure::Failed(format!("{url} answered an unexpected body: {e}")))?;
                Ok(LogPage {
                    records: page.records,
                    next: page
                        .next
                        .as_deref()
                        .map(LogCursor::decode)
                        .transpose()
                        .map_err(failed)?,
                })
            }
        }
    }
}

/// An HTTP client error with its causes (`connection refused` is a cause, not the error).
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The admin API's answer (`GET /admin/api/tenants/{tenant}/log`).
#[derive(serde::Deserialize)]
struct ServerPage {
    records: Vec<LogRecord>,
    next: Option<String>,
}

/// `--server`: an http URL (the admin API is served on loopback only, without TLS).
fn server_url(text: &str) -> Result<reqwest::Url, Failure> {
    reqwest::Url::parse(text)
        .ok()
        .filter(|u| u.scheme() == "http" && u.has_host())
        .ok_or_else(|| {
            Failure::Usage(format!(
                "--server '{text}' is not an http:// URL such as http://127.0.0.1:8080"
            ))
        })
}

/// `GET <base>/admin/api/tenants/{tenant}/log?...` for `query`, `after` as its cursor text.
fn log_url(base: &reqwest::Url, tenant: &TenantId, query: &LogQuery, resource: Option<&str>) -> reqwest::Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty()
            .extend(["admin", "api", "tenants", tenant.as_str(), "log"]);
    }
    {
        let mut pairs = url.query_pairs_mut();
        let optional = [
            ("since", query.since.clone()),
            ("until", query.until.clone()),
            ("errors", query.errors_only.then(|| "true".to_string())),
            ("resource", resource.map(String::from)),
            ("token", query.token_id.clone()),
            ("limit", Some(query.limit.to_string())),
            ("after", query.after.as_ref().map(LogCursor::encode)),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                pairs.append_pair(name, &value);
            }
        }
    }
    url
}

/// What `--follow` has seen: reads start [`FOLLOW_OVERLAP`] before the newest record, and a
/// record is printed once, the first time a read returns it.
struct Follow {
    /// The newest record of the first listing (or the start time): the first read only takes in
    /// records up to it, which were there before (or cut off by `--limit`), without printing them.
    start: Option<LogCursor>,
    since: Option<String>,
    newest: String,
    /// The records at or after `newest - FOLLOW_OVERLAP`.
    seen: BTreeSet<LogCursor>,
}

impl Follow {
    fn new(start: LogCursor, since: Option<String>) -> Follow {
        Follow {
            newest: start.time.clone(),
            start: Some(start),
            since,
            seen: BTreeSet::new(),
        }
    }

    /// The records from a little before the newest seen, with the operator's other conditions.
    fn query(&self, base: &LogQuery) -> LogQuery {
        let overlap_start = earlier(&self.newest, FOLLOW_OVERLAP);
        let since = match &self.since {
            Some(since) if *since > overlap_start => since.clone(),
            _ => overlap_start,
        };
        LogQuery {
            since: Some(since),
            after: None,
            ..base.clone()
        }
    }

    fn saw(&mut self, records: &[LogRecord]) {
        for r in records {
            if r.time > self.newest {
                self.newest = r.time.clone();
            }
            self.seen.insert(r.cursor());
        }
        let keep_from = LogCursor {
            time: earlier(&self.newest, FOLLOW_OVERLAP),
            request_id: String::new(),
        };
        self.seen = self.seen.split_off(&keep_from);
    }

    /// The records of a read (newest first) not printed yet, oldest first.
    fn take(&mut self, batch: Vec<LogRecord>) -> Vec<LogRecord> {
        let start = self.start.take();
        let mut fresh: Vec<LogRecord> = batch
            .into_iter()
            .filter(|r| !self.seen.contains(&r.cursor()))
            .collect();
        self.saw(&fresh);
        fresh.retain(|r| start.as_ref().is_none_or(|s| r.cursor() > *s));
        fresh.reverse();
        fresh
    }
}

/// `time` less `by`, in the form records carry; `time` itself if it is not a timestamp.
fn earlier(time: &str, by: time::Duration) -> String {
    scim_store::parse_timestamp(time)
        .and_then(|t| t.checked_sub(by))
        .map_or_else(|| time.to_string(), scim_store::timestamp)
}

/// Prints records as table lines or JSON lines. Table columns widen as wider values arrive
/// and never narrow, so followed lines stay aligned with the first ones.
struct Output {
    json: bool,
    header_printed: bool,
    widths: [usize; COLUMNS],
}

const COLUMNS: usize = 8;
const HEADER: [&str; COLUMNS] = [
    "TIME", "STATUS", "METHOD", "PATH", "IDP", "RESOURCE", "TOKEN", "MS",
];

impl Output {
    fn new(json: bool) -> Output {
        // A record's time is 24 characters; `sailpoint` is the longest IdP.
        let mut widths = HEADER.map(str::len);
        widths[0] = 24;
        widths[4] = 9;
        Output {
            json,
            header_printed: false,
            widths,
        }
    }

    fn print(&mut self, records: &[LogRecord]) {
        if self.json {
            for r in records {
                match serde_json::to_string(r) {
                    Ok(line) => println!("{line}"),
                    Err(e) => eprintln!("record {} cannot be written as JSON: {e}", r.request_id),
                }
            }
            return;
        }
        let rows: Vec<([String; COLUMNS], String)> = records.iter().map(|r| (cells(r), note(r))).collect();
        for (cells, _) in &rows {
            for (width, cell) in self.widths.iter_mut().zip(cells) {
                *width = (*width).max(cell.chars().count());
            }
        }
        if !self.header_printed {
            self.header_printed = true;
            println!("{}", line(&HEADER.map(String::from), &self.widths, ""));
        }
        for (cells, note) in &rows {
            println!("{}", line(cells, &self.widths, note));
        }
    }
}

/// A record's table cells; an absent value is `-`, so every row has every column.
fn cells(r: &LogRecord) -> [String; COLUMNS] {
    let or_dash = |v: Option<&String>| v.map_or_else(|| "-".to_string(), |v| printable(v));
    [
        printable(&r.time),
        r.status.to_string(),
        printable(&r.method),
        printable(&r.path),
        r.idp.name().to_string(),
        or_dash(r.resource_name.as_ref().or(r.resource_id.as_ref())),
        or_dash(r.token_id.as_ref()),
        r.latency_ms.to_string(),
    ]
}

/// What follows the columns: why a request failed, or what a write changed.
fn note(r: &LogRecord) -> String {
    if r.is_error() {
        let detail = r.detail.as_deref().unwrap_or("-");
        return printable(&match &r.scim_type {
            Some(scim_type) => format!("{scim_type}: {detail}"),
            None => detail.to_string(),
        });
    }
    // An extension attribute is named by its last part (`department`): the JSON has the URN.
    let mut changed: Vec<String> = r
        .changed
        .iter()
        .filter(|c| r.members.is_none() || !c.attribute.eq_ignore_ascii_case("members"))
        .map(|c| printable(c.attribute.rsplit(':').next().unwrap_or(&c.attribute)))
        .collect();
    match r.members.as_ref().filter(|m| !m.is_empty()) {
        Some(m) if m.replaced_all => changed.push(format!("members replaced ({} now)", m.added_count)),
        Some(m) => changed.push(format!("members +{} -{}", m.added_count, m.removed_count)),
        None => {}
    }
    changed.join(", ")
}

/// Control characters (a name may hold anything an IdP sent) would break the line or drive the
/// terminal: each shows as `?`.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Aligned cells then the note, cut to [`LINE_WIDTH`] characters.
fn line(cells: &[String; COLUMNS], widths: &[usize; COLUMNS], note: &str) -> String {
    let mut text: String = cells
        .iter()
        .zip(widths)
        .map(|(cell, width)| format!("{cell:<width$}  "))
        .collect();
    text.push_str(note);
    let text = text.trim_end();
    if text.chars().count() <= LINE_WIDTH {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(LINE_WIDTH - 1).collect();
    cut.push('…');
    cut
}

fn failed(e: StoreError) -> Failure {
    Failure::Failed(e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use scim_store::log::{Idp, LogChange, LogMembers};
    use time::macros::datetime;

    fn record(time: &str, request_id: &str, status: u16) -> LogRecord {
        LogRecord {
            time: time.into(),
            request_id: request_id.into(),
            tenant: "acme".into(),
            token_id: Some("tok1".into()),
            token_name: None,
            client: None,
            idp: Idp::Okta,
            user_agent: None,
            method: "POST".into(),
            path: "/scim/v2/Users".into(),
            operation: "Users.create".into(),
            resource_type: Some("User".into()),
            resource_id: Some("u-1".into()),
            resource_name: None,
            status,
            scim_type: None,
            detail: None,
            latency_ms: 12,
            changed: Vec::new(),
            members: None,
            request_body: None,
            response_body: None,
            operator: None,
            expires_at: 0,
        }
    }

    #[test]
    fn since_takes_durations_and_rfc3339_times_in_the_records_form() {
        let now = datetime!(2026-12-06 05:00:00 UTC);
        assert_eq!(since("2h", now).ok(), Some("2026-12-06T03:00:00.000Z".into()));
        assert_eq!(since("30m", now).ok(), Some("2026-12-06T04:30:00.000Z".into()));
        assert_eq!(since("7d", now).ok(), Some("2026-11-29T05:00:00.000Z".into()));
        assert_eq!(since("90s", now).ok(), Some("2026-12-06T04:58:30.000Z".into()));
        assert_eq!(
            since("2026-12-06T06:30:00+02:00", now).ok(),
            Some("2026-12-06T04:30:00.000Z".into())
        );
        for bad in ["", "h", "2", "-2h", "2w", "yesterday", "9999999999999999d", "2é"] {
            assert!(matches!(since(bad, now), Err(Failure::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn the_server_url_carries_every_condition_encoded() {
        let base = server_url("http://127.0.0.1:8080/").unwrap();
        let query = LogQuery {
            since: Some("2026-12-06T03:00:00.000Z".into()),
            until: Some("2026-12-06T05:00:00.000Z".into()),
            errors_only: true,
            token_id: Some("tok 1".into()),
            limit: 50,
            after: Some(LogCursor {
                time: "2026-12-06T04:00:00.000Z".into(),
                request_id: "r&1".into(),
            }),
            ..LogQuery::default()
        };
        let t = TenantId::new("acme").unwrap();
        let url = log_url(&base, &t, &query, Some("ada@example.com"));
        assert_eq!(url.path(), "/admin/api/tenants/acme/log");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let expected = [
            ("since", "2026-12-06T03:00:00.000Z"),
            ("until", "2026-12-06T05:00:00.000Z"),
            ("errors", "true"),
            ("resource", "ada@example.com"),
            ("token", "tok 1"),
            ("limit", "50"),
            ("after", "2026-12-06T04:00:00.000Z|r&1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(pairs, expected);

        // Only what was asked for; a base path is kept.
        let base = server_url("http://localhost:9000/scim-admin").unwrap();
        let url = log_url(
            &base,
            &t,
            &LogQuery {
                limit: 10,
                ..LogQuery::default()
            },
            None,
        );
        assert_eq!(
            url.as_str(),
            "http://localhost:9000/scim-admin/admin/api/tenants/acme/log?limit=10"
        );

        for bad in [
            "127.0.0.1:8080",
            "https://example.com",
            "file:///tmp/x",
            "nonsense",
        ] {
            assert!(matches!(server_url(bad), Err(Failure::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn follow_prints_each_record_once_oldest_first_and_reads_from_before_the_newest() {
        let old = record("2026-12-06T05:00:00.000Z", "old", 200);
        let first = record("2026-12-06T05:00:10.000Z", "a", 200);
        let mut follow = Follow::new(first.cursor(), None);
        follow.saw(std::slice::from_ref(&first));
        let base = LogQuery {
            limit: 50,
            ..LogQuery::default()
        };
        assert_eq!(
            follow.query(&base).since.as_deref(),
            Some("2026-12-06T04:59:40.000Z")
        );

        // The first read takes in what was there (`old` was cut by --limit) without printing it.
        let same_time = record("2026-12-06T05:00:10.000Z", "b", 200);
        let newer = record("2026-12-06T05:00:11.000Z", "c", 200);
        let printed = follow.take(vec![newer.clone(), same_time.clone(), first.clone(), old.clone()]);
        assert_eq!(ids(&printed), ["b", "c"]);

        // Later reads print what is new, including a late record older than the newest.
        let late = record("2026-12-06T05:00:05.000Z", "late", 200);
        let newest = record("2026-12-06T05:00:12.000Z", "d", 200);
        let printed = follow.take(vec![newest.clone(), newer, same_time, first, late.clone(), old]);
        assert_eq!(ids(&printed), ["late", "d"]);
        assert!(follow.take(vec![newest, late]).is_empty());
        assert_eq!(
            follow.query(&base).since.as_deref(),
            Some("2026-12-06T04:59:42.000Z")
        );

        // The operator's --since bounds the reads when it is later.
        let follow = Follow::new(
            record("2026-12-06T05:00:00.000Z", "x", 200).cursor(),
            Some("2026-12-06T05:00:00.000Z".into()),
        );
        assert_eq!(
            follow.query(&base).since.as_deref(),
            Some("2026-12-06T05:00:00.000Z")
        );
    }

    fn ids(records: &[LogRecord]) -> Vec<&str> {
        records.iter().map(|r| r.request_id.as_str()).collect()
    }

    #[test]
    fn table_lines_show_the_failure_or_what_changed_on_one_cut_line() {
        let mut refused = record("2026-12-06T05:00:00.000Z", "r1", 409);
        refused.resource_id = None;
        refused.resource_name = Some("ada\n\u{1b}[31m".into());
        refused.scim_type = Some("uniqueness".into());
        refused.detail = Some("userName is taken".into());
        assert_eq!(cells(&refused)[5], "ada??[31m");
        assert_eq!(note(&refused), "uniqueness: userName is taken");

        let mut patched = record("2026-12-06T05:00:00.000Z", "r2", 200);
        patched.changed = vec![
            LogChange {
                attribute: "displayName".into(),
                old: None,
                new: None,
            },
            LogChange {
                attribute: "members".into(),
                old: None,
                new: None,
            },
        ];
        patched.members = Some(LogMembers::of(["u1", "u2"], ["u3"]));
        assert_eq!(note(&patched), "displayName, members +2 -1");
        assert_eq!(cells(&patched)[5], "u-1");
        let mut put = patched.clone();
        put.changed = vec![LogChange {
            attribute: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".into(),
            old: None,
            new: None,
        }];
        put.members = Some(LogMembers {
            replaced_all: true,
            ..LogMembers::of(["u1"], [])
        });
        assert_eq!(note(&put), "department, members replaced (1 now)");

        let widths = [1; COLUMNS];
        let long = line(&cells(&patched), &widths, &"x".repeat(300));
        assert_eq!(long.chars().count(), LINE_WIDTH);
        assert!(long.ends_with('…'));
    }
}
