//! Importing existing accounts as *unmanaged* accounts (`scimctl import`, the console's Review
//! page): reading JSON lines or CSV into SCIM User bodies ([`Records`]), and each account's
//! outcome, written or, in a dry run, found from reads only ([`Importer`]). Each account is
//! normalised as the service normalises a POST body (`scim_proto::resource::normalize`,
//! `userName` required). Records are read one at a time, so memory stays bounded by the
//! distinct match values of the input (kept to find duplicates within it).

use crate::unmanaged::match_keys;
use crate::{
    Include, MatchAttribute, Paging, Query, ResourceKind, Store, StoreError, TenantId, UnmanagedMatch,
};
use scim_proto::filter::Filter;
use scim_proto::resource::{self, NormalizeOptions};
use scim_proto::SchemaRegistry;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::BufRead;

/// How the accounts are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// One SCIM User object per line.
    Jsonl,
    /// A header naming [`CSV_COLUMNS`], then one account per record.
    Csv,
}

/// The CSV columns a header may name (compared ignoring case); `userName` is required.
pub const CSV_COLUMNS: [&str; 7] = [
    "userName",
    "givenName",
    "familyName",
    "displayName",
    "email",
    "externalId",
    "active",
];

/// What happened to one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Created,
    WouldCreate,
    /// The userName belongs to a SCIM-managed user.
    ConflictManaged,
    /// An unmanaged account (imported before) has the userName or primary email.
    ConflictUnmanaged,
    DuplicateInFile,
    Invalid,
}

impl Outcome {
    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::WouldCreate => "would_create",
            Outcome::ConflictManaged => "conflict_managed",
            Outcome::ConflictUnmanaged => "conflict_unmanaged",
            Outcome::DuplicateInFile => "duplicate_in_file",
            Outcome::Invalid => "invalid",
        }
    }

    /// Whether the account was (or would be) imported.
    pub fn ok(self) -> bool {
        matches!(self, Outcome::Created | Outcome::WouldCreate)
    }
}

/// One account's report.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The line the account starts on.
    pub line: u64,
    pub user_name: Option<String>,
    pub outcome: Outcome,
    /// Why, in a sentence.
    pub detail: String,
    /// The imported account's id.
    pub id: Option<String>,
}

impl Entry {
    fn new(line: u64, user_name: Option<String>, outcome: Outcome, detail: impl Into<String>) -> Entry {
        Entry {
            line,
            user_name,
            outcome,
            detail: detail.into(),
            id: None,
        }
    }

    /// An account whose `userName` or email another imported account already holds.
    fn unmanaged_conflict(line: u64, user_name: Option<String>, m: &UnmanagedMatch) -> Entry {
        Entry::new(
            line,
            user_name,
            Outcome::ConflictUnmanaged,
            format!(
                "{} '{}' belongs to the imported account {}",
                m.attribute.name(),
                m.value,
                m.account
            ),
        )
    }
}

/// An import into one tenant, account by account; with `dry_run` it writes nothing.
#[derive(Debug)]
pub struct Importer<'a, S: Store + ?Sized> {
    store: &'a S,
    tenant: &'a TenantId,
    registry: &'a SchemaRegistry,
    dry_run: bool,
    /// Match value → the line that has it, to find duplicates within the input.
    seen: HashMap<(MatchAttribute, String), u64>,
}

impl<'a, S: Store + ?Sized> Importer<'a, S> {
    pub fn new(store: &'a S, tenant: &'a TenantId, registry: &'a SchemaRegistry, dry_run: bool) -> Self {
        Importer {
            store,
            tenant,
            registry,
            dry_run,
            seen: HashMap::new(),
        }
    }

    /// The next account of `records`, processed; `None` at the end. An `Err` (the input cannot
    /// be read, its CSV header is wrong, or the store failed) says where and stops the import:
    /// the accounts reported before it were processed.
    pub async fn next<R: BufRead>(&mut self, records: &mut Records<R>) -> Option<Result<Entry, String>> {
        let record = match records.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let line = record.line;
        Some(self.line(record).await.map_err(|e| format!("line {line}: {e}")))
    }

    /// Processes one record: an account's SCIM body (its source line) or why it has none. An
    /// `Err` is a store failure that stops the import.
    async fn line(&mut self, record: Record) -> Result<Entry, StoreError> {
        let line = record.line;
        let user_name_of = |v: &Value| v.get("userName").and_then(Value::as_str).map(str::to_string);
        let body = match record.body {
            Ok(body) => body,
            Err(detail) => return Ok(Entry::new(line, None, Outcome::Invalid, detail)),
        };
        let schema = self.registry.user();
        let normalised = resource::normalize(&body, &schema, &NormalizeOptions::default())
            .and_then(|attrs| resource::check_required(&attrs, &schema).map(|()| attrs));
        let attrs = match normalised {
            Ok(attrs) => attrs,
            Err(e) => return Ok(Entry::new(line, user_name_of(&body), Outcome::Invalid, e.detail)),
        };
        let user_name = attrs.get("userName").and_then(Value::as_str).map(str::to_string);
        for key in match_keys(&attrs) {
            if let Some(other) = self.seen.get(&key) {
                return Ok(Entry::new(
                    line,
                    user_name,
                    Outcome::DuplicateInFile,
                    format!("{} '{}' is also on line {other}", key.0.name(), key.1),
                ));
            }
        }
        for key in match_keys(&attrs) {
            self.seen.insert(key, line);
        }
        if self.dry_run {
            return self.check(line, attrs, user_name).await;
        }
        match self.store.import_unmanaged(self.tenant, attrs).await {
            Ok(account) => Ok(Entry {
                id: Some(account.id.clone()),
                ..Entry::new(
                    line,
                    user_name,
                    Outcome::Created,
                    format!("imported as {}", account.id),
                )
            }),
            Err(StoreError::Uniqueness { attribute }) => Ok(Entry::new(
                line,
                user_name,
                Outcome::ConflictManaged,
                format!("{attribute} belongs to a user managed by SCIM"),
            )),
            Err(StoreError::UnmanagedMatch(m)) => Ok(Entry::unmanaged_conflict(line, user_name, &m)),
            Err(StoreError::Invalid(detail)) => Ok(Entry::new(line, user_name, Outcome::Invalid, detail)),
            Err(e) => Err(e),
        }
    }

    /// What an import of `attrs` would come to, from reads only.
    async fn check(
        &self,
        line: u64,
        attrs: Map<String, Value>,
        user_name: Option<String>,
    ) -> Result<Entry, StoreError> {
        let name = user_name.clone().unwrap_or_default();
        let schema = self.registry.user();
        let filter = Filter::parse(&format!("userName eq {}", Value::String(name.clone())))
            .and_then(|f| f.validate(&schema).map(|()| f))
            .map_err(|e| StoreError::Invalid(e.detail))?;
        let managed = self
            .store
            .query(
                self.tenant,
                ResourceKind::User,
                &Query {
                    filter: Some(filter),
                    paging: Paging::Index { start_index: 1 },
                    count: 0,
                    include: Include::NONE,
                    sort: None,
                },
            )
            .await?;
        if managed.total_results.unwrap_or(0) > 0 {
            return Ok(Entry::new(
                line,
                user_name,
                Outcome::ConflictManaged,
                "userName belongs to a user managed by SCIM",
            ));
        }
        if let Some(m) = self.store.find_unmanaged(self.tenant, &attrs).await? {
            return Ok(Entry::unmanaged_conflict(line, user_name, &m));
        }
        Ok(Entry::new(
            line,
            user_name,
            Outcome::WouldCreate,
            format!("{name} would be imported"),
        ))
    }
}

/// One account of the input: the line it starts on and its SCIM body, or why it has none.
#[derive(Debug)]
struct Record {
    line: u64,
    body: Result<Value, String>,
}

/// The input's accounts, read one at a time.
#[derive(Debug)]
pub struct Records<R> {
    reader: R,
    format: ImportFormat,
    /// Lines read so far.
    line: u64,
    /// CSV: the header's columns (indexes into [`CSV_COLUMNS`]), once read.
    header: Option<Vec<usize>>,
}

impl<R: BufRead> Records<R> {
    pub fn new(reader: R, format: ImportFormat) -> Self {
        Records {
            reader,
            format,
            line: 0,
            header: None,
        }
    }

    /// How many accounts are left to read (a record that is no valid account counts: the
    /// import reports it), from reading alone; `Err` as [`Importer::next`] would stop.
    pub fn count(mut self) -> Result<u64, String> {
        let mut n = 0;
        while self.next_record()?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    /// The next line, without its line break; `None` at the end.
    fn read_line(&mut self) -> Result<Option<String>, String> {
        let mut text = String::new();
        let n = self
            .reader
            .read_line(&mut text)
            .map_err(|e| format!("line {}: cannot read the file: {e}", self.line + 1))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        while text.ends_with('\n') || text.ends_with('\r') {
            text.pop();
        }
        Ok(Some(text))
    }

    /// The next account (blank lines are skipped); `Err` when the file cannot be read or its
    /// CSV header is wrong, which stops the import.
    fn next_record(&mut self) -> Result<Option<Record>, String> {
        loop {
            let Some(text) = self.read_line()? else {
                return Ok(None);
            };
            if text.trim().is_empty() {
                continue;
            }
            let line = self.line;
            let body = match self.format {
                ImportFormat::Jsonl => match serde_json::from_str::<Value>(&text) {
                    Ok(v @ Value::Object(_)) => Ok(v),
                    Ok(_) => Err("the line is not a JSON object".to_string()),
                    Err(e) => Err(format!("the line is not JSON: {e}")),
                },
                ImportFormat::Csv => {
                    let fields = self.csv_record(text);
                    match &self.header {
                        None => {
                            self.header = Some(header(fields?)?);
                            continue;
                        }
                        Some(columns) => fields.and_then(|f| csv_body(columns, f)),
                    }
                }
            };
            return Ok(Some(Record { line, body }));
        }
    }

    /// The fields of the CSV record starting with `text` (RFC 4180: a quoted field may hold
    /// commas, doubled quotes and line breaks, so a record may span lines).
    fn csv_record(&mut self, mut text: String) -> Result<Vec<String>, String> {
        loop {
            match split_csv(&text) {
                Some(fields) => return Ok(fields),
                None => match self.read_line() {
                    Ok(Some(more)) => {
                        text.push('\n');
                        text.push_str(&more);
                    }
                    _ => return Err("a quoted field is not closed before the end of the file".into()),
                },
            }
        }
    }
}

/// Splits one CSV record; `None` when a quoted field is still open at the end of `text`.
fn split_csv(text: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

/// The columns a CSV header names, as indexes into [`CSV_COLUMNS`] (names compared ignoring
/// case); an unknown, repeated or missing `userName` column stops the import.
fn header(fields: Vec<String>) -> Result<Vec<usize>, String> {
    let mut columns = Vec::with_capacity(fields.len());
    for f in &fields {
        let name = f.trim();
        let i = CSV_COLUMNS
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "the CSV header has an unknown column '{name}'; the columns are {}",
                    CSV_COLUMNS.join(", ")
                )
            })?;
        if columns.contains(&i) {
            return Err(format!("the CSV header names '{name}' twice"));
        }
        columns.push(i);
    }
    if !columns.contains(&0) {
        return Err("the CSV header has no userName column".into());
    }
    Ok(columns)
}

/// A CSV record as the SCIM User body it stands for; empty cells are absent.
fn csv_body(columns: &[usize], fields: Vec<String>) -> Result<Value, String> {
    if fields.len() != columns.len() {
        return Err(format!(
            "the record has {} fields, the header {}",
            fields.len(),
            columns.len()
        ));
    }
    let mut body = Map::new();
    let mut name = Map::new();
    for (&column, value) in columns.iter().zip(fields) {
        let value = value.trim().to_string();
        if value.is_empty() {
            continue;
        }
        match CSV_COLUMNS.get(column).copied().unwrap_or_default() {
            n @ ("givenName" | "familyName") => {
                name.insert(n.into(), Value::String(value));
            }
            "email" => {
                body.insert(
                    "emails".into(),
                    json!([{"value": value, "type": "work", "primary": true}]),
                );
            }
            // `active` as text ("true", "False"): normalisation coerces it as it does Entra's.
            other => {
                body.insert(other.into(), Value::String(value));
            }
        }
    }
    if !name.is_empty() {
        body.insert("name".into(), Value::Object(name));
    }
    Ok(Value::Object(body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_rfc_4180() {
        assert_eq!(split_csv("a,b,,c").unwrap(), vec!["a", "b", "", "c"]);
        assert_eq!(
            split_csv(r#""Doe, Jane","say ""hi""",x"#).unwrap(),
            vec!["Doe, Jane", "say \"hi\"", "x"]
        );
        assert_eq!(split_csv("\"open,"), None);
        assert_eq!(split_csv("\"two\nlines\",b").unwrap(), vec!["two\nlines", "b"]);
    }

    #[test]
    fn csv_records_span_lines_and_map_to_scim() {
        let text =
            "userName,email,givenName,active\n\n\"jane\",jane@x.org,\"Ja\nne\",False\nbob,,,\n\"open\n";
        let mut r = Records::new(text.as_bytes(), ImportFormat::Csv);
        let first = r.next_record().unwrap().unwrap();
        assert_eq!(first.line, 3);
        assert_eq!(
            first.body.unwrap(),
            json!({"userName": "jane", "emails": [{"value": "jane@x.org", "type": "work", "primary": true}],
                   "active": "False", "name": {"givenName": "Ja\nne"}})
        );
        let second = r.next_record().unwrap().unwrap();
        assert_eq!(
            (second.line, second.body.unwrap()),
            (5, json!({"userName": "bob"}))
        );
        let third = r.next_record().unwrap().unwrap();
        assert!(third.body.unwrap_err().contains("not closed"));
        assert!(r.next_record().unwrap().is_none());
        assert_eq!(Records::new(text.as_bytes(), ImportFormat::Csv).count(), Ok(3));
    }

    #[test]
    fn bad_headers_stop_the_import() {
        for (text, why) in [
            ("userName,colour\n", "unknown column 'colour'"),
            ("email,givenName\n", "no userName"),
            ("userName,username\n", "twice"),
        ] {
            let mut r = Records::new(text.as_bytes(), ImportFormat::Csv);
            let e = r.next_record().err().unwrap();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
