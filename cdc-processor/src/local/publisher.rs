//! Entries as JSON lines, in the shape of a PutEvents request entry.

use crate::ports::{PreparedEntry, PublishOutcome, Publisher};
use serde::Serialize;
use std::future::Future;
use std::io::Write;
use std::sync::Mutex;

/// Writes each entry as one JSON line `{"EventBusName", "Source", "DetailType", "Detail", "Time"}`
/// (`Detail` is the JSON text, as PutEvents takes it).
pub struct FilePublisher {
    out: Mutex<Box<dyn Write + Send>>,
    bus: String,
}

impl std::fmt::Debug for FilePublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilePublisher")
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Line<'a> {
    event_bus_name: &'a str,
    source: &'a str,
    detail_type: &'a str,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
}

impl FilePublisher {
    /// Writes to `out` for the bus `bus`.
    pub fn new(out: Box<dyn Write + Send>, bus: &str) -> Self {
        FilePublisher {
            out: Mutex::new(out),
            bus: bus.to_string(),
        }
    }

    fn write(&self, entries: &[PreparedEntry]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(entries.iter().map(|e| e.size + 128).sum());
        for e in entries {
            serde_json::to_writer(
                &mut buf,
                &Line {
                    event_bus_name: &self.bus,
                    source: &e.source,
                    detail_type: e.detail_type,
                    detail: &e.detail,
                    time: e.time.map(crate::formats::normalize::format_datetime),
                },
            )?;
            buf.push(b'\n');
        }
        let mut out = self
            .out
            .lock()
            .map_err(|_| std::io::Error::other("output lock poisoned"))?;
        out.write_all(&buf)?;
        out.flush()
    }
}

impl Publisher for FilePublisher {
    fn publish(
        &self,
        entries: &[PreparedEntry],
    ) -> impl Future<Output = Vec<PublishOutcome>> + Send {
        let outcome = match self.write(entries) {
            Ok(()) => PublishOutcome::Published,
            Err(e) => PublishOutcome::Failed {
                code: "IoError".into(),
                message: e.to_string(),
            },
        };
        std::future::ready(vec![outcome; entries.len()])
    }
}
