//! Change events on both sides of the binary: the local sinks of the embedded store
//! (`SCIM_EVENTS`) and, under Lambda with `SCIM_FUNCTION=events`, the DynamoDB stream processor
//! ([`scim_dynamodb::stream`]) publishing to EventBridge.

use crate::config::{Config, EventsSetting};
use scim_dynamodb::stream::{self, EventBridge, StreamEvent};
use scim_proto::SchemaRegistry;
use scim_store::events::{ChangeEvent, EventSink};
use scim_store::MemoryStore;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// `SCIM_EVENTS=file:<path>`: each event as one JSON line, appended; flushed after each write's
/// events, so a reader sees whole writes.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: Mutex<File>,
}

impl FileSink {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> Result<FileSink, String> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("SCIM_EVENTS: cannot open {} for appending: {e}", path.display()))?;
        Ok(FileSink {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }
}

impl EventSink for FileSink {
    fn publish(&self, events: &[ChangeEvent]) {
        // The write has committed: a sink failure cannot undo it, so it is logged.
        let Ok(mut file) = self.file.lock() else {
            tracing::error!(path = %self.path.display(), "event file lock poisoned; events lost");
            return;
        };
        let mut out = BufWriter::new(&mut *file);
        let written = events
            .iter()
            .try_for_each(|e| {
                serde_json::to_writer(&mut out, e).map_err(std::io::Error::other)?;
                out.write_all(b"\n")
            })
            .and_then(|()| out.flush());
        if let Err(e) = written {
            tracing::error!(path = %self.path.display(), error = %e, "cannot append change events");
        }
    }
}

/// `SCIM_EVENTS=log`: one log line per event, target `scim_events`, the event's JSON in `event`.
#[derive(Debug, Default)]
pub struct LogSink;

impl EventSink for LogSink {
    fn publish(&self, events: &[ChangeEvent]) {
        for e in events {
            let json = serde_json::to_string(e).unwrap_or_default();
            tracing::info!(target: "scim_events", event_type = %e.event_type, event = %json, "change event");
        }
    }
}

/// The sink `SCIM_EVENTS` names, if any.
pub fn sink(setting: &EventsSetting) -> Result<Option<Arc<dyn EventSink>>, String> {
    Ok(match setting {
        EventsSetting::Off => None,
        EventsSetting::File(path) => Some(Arc::new(FileSink::open(path)?)),
        EventsSetting::Log => Some(Arc::new(LogSink)),
    })
}

/// The embedded store as the settings ask for it: with the `SCIM_EVENTS` sink, if any.
pub fn memory_store(registry: Arc<SchemaRegistry>, config: &Config) -> Result<MemoryStore, String> {
    let store = MemoryStore::new(registry);
    Ok(match sink(&config.events)? {
        Some(sink) => store.with_events(sink),
        None => store,
    })
}

/// The `events` function: serves Lambda's DynamoDB stream batches until the runtime stops,
/// answering each with its batch item failures (the template sets `ReportBatchItemFailures`).
pub async fn run_stream_function(bus: String) -> Result<(), String> {
    use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};
    let publisher = EventBridge::from_aws(&scim_aws::Aws::environment(), bus).await;
    let publisher = &publisher;
    run(service_fn(move |event: LambdaEvent<StreamEvent>| async move {
        Ok::<_, Error>(stream::process(&event.payload, publisher).await)
    }))
    .await
    .map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use scim_store::{MemberChange, ResourceKind, ResourceStore, TenantId};
    use serde_json::json;

    /// Two writes append two batches of whole lines to an existing file.
    #[tokio::test]
    async fn the_file_sink_appends_one_json_line_per_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "earlier\n").unwrap();
        let config = Config::from_lookup(
            |k| (k == "SCIM_EVENTS").then(|| format!("file:{}", path.display())),
            false,
        )
        .unwrap();
        let store = memory_store(Arc::new(SchemaRegistry::standard()), &config).unwrap();
        let t = TenantId::new("t").unwrap();
        let attrs = |v: serde_json::Value| v.as_object().cloned().unwrap();
        let u = store
            .create(
                &t,
                ResourceKind::User,
                attrs(json!({"userName": "a"})),
                MemberChange::default(),
            )
            .await
            .unwrap();
        store
            .create(
                &t,
                ResourceKind::Group,
                attrs(json!({"displayName": "G"})),
                MemberChange {
                    add: vec![(u.id.clone(), None)],
                    ..MemberChange::default()
                },
            )
            .await
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "earlier");
        let types: Vec<String> = lines[1..]
            .iter()
            .map(|l| {
                serde_json::from_str::<ChangeEvent>(l)
                    .unwrap()
                    .event_type
                    .to_string()
            })
            .collect();
        assert_eq!(types, ["user.created", "group.created", "group.member_added"]);
    }

    #[test]
    fn an_unwritable_event_file_is_a_start_up_error() {
        let err = sink(&EventsSetting::File("/nonexistent-dir/events.jsonl".into())).unwrap_err();
        assert!(
            err.starts_with("SCIM_EVENTS: cannot open /nonexistent-dir/events.jsonl"),
            "{err}"
        );
    }
}
