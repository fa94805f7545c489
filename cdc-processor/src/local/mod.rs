//! The local mode: the whole pipeline with no AWS and no emulator.
//!
//! Reads a Lambda Kinesis event (the JSON Lambda receives) or JSON lines of raw change records,
//! writes EventBridge entries as JSON lines ([`FilePublisher`]), keeps checkpoints in an embedded
//! store under a state directory ([`FileCheckpointStore`]: a second run over the same input
//! publishes nothing again) and writes dead letters to a JSON-lines file ([`FileDeadLetterSink`]).

mod checkpoint;
mod dead_letter;
mod publisher;

pub use checkpoint::FileCheckpointStore;
pub use dead_letter::FileDeadLetterSink;
pub use publisher::FilePublisher;

use crate::config::PipelineConfig;
use crate::decode::{LenientKinesisEvent, RawInput};
use crate::pipeline::{BatchReport, Pipeline};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What the local mode reads.
#[derive(Debug)]
pub enum LocalInput {
    /// A Lambda Kinesis event.
    KinesisEvent(LenientKinesisEvent),
    /// JSON lines of raw change records.
    Lines(Vec<RawInput>),
}

/// A local-mode failure (reading input, opening outputs).
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The input is a JSON object with `Records` that is not a Kinesis event.
    #[error("{path}: looks like a Lambda Kinesis event but is not one: {reason}")]
    BadEvent {
        /// The path.
        path: PathBuf,
        /// Why (position and category only).
        reason: String,
    },
}

/// Options of a local run.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Input file.
    pub input: PathBuf,
    /// Output file for entries (`None`: stdout).
    pub out: Option<PathBuf>,
    /// State directory (checkpoints).
    pub state_dir: PathBuf,
    /// Dead-letter file (`None`: `<state dir>/dead-letters.jsonl`).
    pub dead_letters: Option<PathBuf>,
    /// Processor name in checkpoint keys.
    pub processor: String,
}

/// Reads a local input: a Lambda Kinesis event (one JSON object with `Records`), or JSON lines.
pub fn read_input(path: &Path) -> Result<LocalInput, LocalError> {
    let bytes = std::fs::read(path).map_err(|source| LocalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "Records")]
        records: Option<serde::de::IgnoredAny>,
    }
    if let Ok(Probe { records: Some(_) }) = serde_json::from_slice::<Probe>(&bytes) {
        return serde_json::from_slice::<LenientKinesisEvent>(&bytes)
            .map(LocalInput::KinesisEvent)
            .map_err(|e| LocalError::BadEvent {
                path: path.to_path_buf(),
                reason: crate::formats::json_error("event", &e).message,
            });
    }
    let stream = format!(
        "file:{}",
        std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
    );
    Ok(LocalInput::Lines(RawInput::from_json_lines(
        &stream, &bytes,
    )))
}

/// Runs the pipeline over a local input.
pub async fn run(
    options: &LocalOptions,
    config: PipelineConfig,
) -> Result<BatchReport, LocalError> {
    let input = read_input(&options.input)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LocalError::Io { path, source }
    };
    std::fs::create_dir_all(&options.state_dir).map_err(io(&options.state_dir))?;
    let out: Box<dyn Write + Send> = match &options.out {
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(io(p))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let dead_letters = options
        .dead_letters
        .clone()
        .unwrap_or_else(|| options.state_dir.join("dead-letters.jsonl"));
    let publisher = FilePublisher::new(out, config.event_bus_name());
    let checkpoints = FileCheckpointStore::new(options.state_dir.join("checkpoints"))
        .map_err(io(&options.state_dir))?;
    let sink = FileDeadLetterSink::new(&dead_letters);
    let pipeline = Pipeline::new(config, publisher, checkpoints, sink);
    let report = match &input {
        LocalInput::KinesisEvent(e) => pipeline.process_lenient_event(e, &options.processor).await,
        LocalInput::Lines(lines) => {
            pipeline
                .process_raw_records(lines.clone(), &options.processor)
                .await
        }
    };
    Ok(report)
}

/// The summary printed on stderr after a local run.
pub fn summary(report: &BatchReport, options: &LocalOptions) -> String {
    let c = &report.counts;
    let mut s = String::new();
    s.push_str(&format!(
        "cdc-processor local: {}\n",
        options.input.display()
    ));
    let mut line = |k: &str, v: u64, extra: String| {
        s.push_str(&format!("  {k:<20}{v:>6}{extra}\n"));
    };
    line("records in", c.records_in, String::new());
    line("published", c.published, String::new());
    line("acknowledged", c.acknowledged, String::new());
    line("skipped", c.skipped, String::new());
    let by: Vec<String> = c
        .dead_lettered
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect();
    line(
        "dead-lettered",
        c.dead_lettered_total(),
        if by.is_empty() {
            String::new()
        } else {
            format!("  ({})", by.join(", "))
        },
    );
    line("failed (retry)", c.failed, String::new());
    line("dropped columns", c.dropped_columns, String::new());
    line("PutEvents requests", c.put_events_requests, String::new());
    s.push_str(&format!(
        "  entries: {}; dead letters: {}; state: {}\n",
        options
            .out
            .as_ref()
            .map_or("stdout".to_string(), |p| p.display().to_string()),
        options
            .dead_letters
            .clone()
            .unwrap_or_else(|| options.state_dir.join("dead-letters.jsonl"))
            .display(),
        options.state_dir.display()
    ));
    if !report.batch_item_failures.is_empty() {
        s.push_str(&format!(
            "  reported for retry from sequence number {}\n",
            report.batch_item_failures[0]
        ));
    }
    s
}
