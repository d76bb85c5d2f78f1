//! Log output captured in memory, for the tests that read what the service logged.

use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

/// Every byte a `tracing_subscriber::fmt` subscriber wrote through it (`.with_writer(captured.clone())`).
#[derive(Debug, Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// A process-wide JSON log (no timestamps) into a new capture: for a test that runs alone in
    /// its process ([`crate::alone_in_process`]), since the subscriber is global.
    pub fn process_json_log() -> Captured {
        let captured = Captured::default();
        tracing_subscriber::fmt()
            .json()
            .without_time()
            .with_writer(captured.clone())
            .init();
        captured
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8(bytes).expect("log output is UTF-8")
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}
