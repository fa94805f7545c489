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
use crate::decode::{LenientKinesisEvent, LenientKinesisRecord, RawInput};
use crate::pipeline::{BatchReport, Pipeline};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What the local mode reads.
#[derive(Debug)]
pub enum LocalInput {
    /// A Lambda Kinesis event (read whole: Lambda caps an invocation's payload at 6 MB).
    KinesisEvent(LenientKinesisEvent),
    /// JSON lines of raw change records (all of them; [`run`] streams the file instead).
    Lines(Vec<RawInput>),
}

/// Records handed to the pipeline at a time when a JSON-lines input is streamed.
pub const CHUNK_RECORDS: usize = 1_000;

/// A progress line on stderr every this many records of a streamed input.
pub const PROGRESS_EVERY: u64 = 50_000;

/// A local-mode failure (reading input, opening outputs).
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// An I/O error on a path (the message names the path; the cause is its source).
    #[error("{path}")]
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

/// Reads a local input whole: a Lambda Kinesis event (one JSON object with `Records`), or JSON
/// lines. [`run`] reads JSON lines as a stream instead.
pub fn read_input(path: &Path) -> Result<LocalInput, LocalError> {
    let bytes = std::fs::read(path).map_err(|source| LocalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(event) = parse_if_event(path, &bytes)? {
        return Ok(LocalInput::KinesisEvent(event));
    }
    Ok(LocalInput::Lines(RawInput::from_json_lines(
        &lines_stream(path),
        &bytes,
    )))
}

/// The Lambda Kinesis event the bytes hold, in one pass over them: `Some` when they are one JSON
/// object with a `Records` member that is a Kinesis event, `None` when they are not an event (no
/// `Records`, `"Records": null`, or not one JSON value: JSON lines), and an error when they look
/// like an event ([`looks_like_event`]) but are not one. Only an input that does not parse as an
/// event is read again, to tell JSON lines from a broken event: the same answer as probing with
/// [`looks_like_event`] first and then parsing with [`parse_event`].
fn parse_if_event(path: &Path, bytes: &[u8]) -> Result<Option<LenientKinesisEvent>, LocalError> {
    /// [`LenientKinesisEvent`], with an absent or null `Records` told from an empty one.
    #[derive(serde::Deserialize)]
    struct MaybeEvent {
        #[serde(rename = "Records")]
        records: Option<Vec<LenientKinesisRecord>>,
    }
    match serde_json::from_slice::<MaybeEvent>(bytes) {
        Ok(MaybeEvent {
            records: Some(records),
        }) => Ok(Some(LenientKinesisEvent { records })),
        Ok(MaybeEvent { records: None }) => Ok(None),
        // Not one JSON object with `Records` (JSON lines, mostly: the parse stops at the end of the
        // first value), or an event with a bad record: the error names it as `parse_event` does.
        Err(_) if !looks_like_event(bytes) => Ok(None),
        Err(_) => parse_event(path, bytes).map(Some),
    }
}

/// Whether the bytes are one JSON object with a `Records` member (a Lambda Kinesis event).
fn looks_like_event(bytes: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "Records")]
        records: Option<serde::de::IgnoredAny>,
    }
    matches!(
        serde_json::from_slice::<Probe>(bytes),
        Ok(Probe { records: Some(_) })
    )
}

fn parse_event(path: &Path, bytes: &[u8]) -> Result<LenientKinesisEvent, LocalError> {
    serde_json::from_slice::<LenientKinesisEvent>(bytes).map_err(|e| LocalError::BadEvent {
        path: path.to_path_buf(),
        reason: crate::formats::json_error("event", &e).message,
    })
}

/// The stream name of a JSON-lines input in checkpoint keys: `file:<absolute path>`.
fn lines_stream(path: &Path) -> String {
    format!(
        "file:{}",
        std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
    )
}

/// Runs the pipeline over a local input. A Kinesis event is read whole; JSON lines are streamed
/// [`CHUNK_RECORDS`] at a time (memory stays flat however long the file), with a progress line on
/// stderr every [`PROGRESS_EVERY`] records. A chunk with a record reported for retry stops the
/// run there, as Lambda would retry from that record. For a streamed input the report's `records`
/// keeps the outcomes of records that were not published or skipped (acknowledged, dead-lettered,
/// failed); the counts cover every record.
pub async fn run(
    options: &LocalOptions,
    config: PipelineConfig,
) -> Result<BatchReport, LocalError> {
    use std::io::{BufRead, Read};
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LocalError::Io { path, source }
    };
    let file = std::fs::File::open(&options.input).map_err(io(&options.input))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    // The first non-blank byte tells an event (`{` … `"Records"`) from JSON lines; an event is
    // one object, so it is read whole and parsed like `read_input` does.
    let first_line = {
        let mut line = Vec::new();
        reader
            .read_until(b'\n', &mut line)
            .map_err(io(&options.input))?;
        line
    };
    if !looks_like_one_record(&first_line) {
        let mut bytes = first_line;
        reader.read_to_end(&mut bytes).map_err(io(&options.input))?;
        if let Some(event) = parse_if_event(&options.input, &bytes)? {
            drop(bytes);
            let pipeline = open_pipeline(options, config)?;
            return Ok(pipeline
                .process_lenient_event(&event, &options.processor)
                .await);
        }
        // JSON lines after all (a first line that is not a whole JSON value).
    }
    let reader = std::io::BufReader::with_capacity(
        1 << 16,
        std::fs::File::open(&options.input).map_err(io(&options.input))?,
    );
    run_lines(options, config, reader, size).await
}

/// A first line that is a whole JSON value on its own: the file is JSON lines.
fn looks_like_one_record(line: &[u8]) -> bool {
    let trimmed = line.trim_ascii();
    !trimmed.is_empty()
        && serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok()
        && !looks_like_event(trimmed)
}

type LocalPipeline = Pipeline<FilePublisher, FileCheckpointStore, FileDeadLetterSink>;

fn open_pipeline(
    options: &LocalOptions,
    mut config: PipelineConfig,
) -> Result<LocalPipeline, LocalError> {
    // A window of a chunk: its checkpoint file and dead letters are synced once per chunk of
    // JSON lines (every sync is a disk flush: per 160 records they made a 10,000-record run on
    // disk 1.2–1.4× its tmpfs time), and a killed run republishes at most a chunk.
    if config.window_entries().is_none() {
        config.set_window_entries(Some(CHUNK_RECORDS));
    }
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
    Ok(Pipeline::new(config, publisher, checkpoints, sink))
}

/// JSON lines, [`CHUNK_RECORDS`] at a time. Sequence numbers are 1-based line numbers, as
/// [`RawInput::from_json_lines`] gives them.
async fn run_lines(
    options: &LocalOptions,
    config: PipelineConfig,
    mut reader: impl std::io::BufRead,
    size: u64,
) -> Result<BatchReport, LocalError> {
    let pipeline = open_pipeline(options, config)?;
    let stream = lines_stream(&options.input);
    let mut report = BatchReport::default();
    let mut chunk = Vec::with_capacity(CHUNK_RECORDS);
    let (mut line_no, mut bytes_read, mut next_progress) = (0u64, 0u64, PROGRESS_EVERY);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| LocalError::Io {
                path: options.input.clone(),
                source,
            })?;
        if n > 0 {
            line_no += 1;
            bytes_read += n as u64;
            let mut one = RawInput::from_json_lines(&stream, &line);
            if let Some(mut r) = one.pop() {
                r.sequence = line_no
                    .to_string()
                    .parse()
                    .expect("a line number is a sequence number");
                chunk.push(r);
            }
        }
        if chunk.len() == CHUNK_RECORDS || (n == 0 && !chunk.is_empty()) {
            let part = pipeline
                .process_raw_records(std::mem::take(&mut chunk), &options.processor)
                .await;
            merge(&mut report, part);
            if report.counts.records_in >= next_progress {
                eprintln!(
                    "cdc-processor local: {} records read ({}%)",
                    report.counts.records_in,
                    (bytes_read * 100).checked_div(size).unwrap_or(100).min(100)
                );
                next_progress += PROGRESS_EVERY;
            }
            if !report.batch_item_failures.is_empty() {
                // Lambda would retry from the first failed record: so does the next run.
                break;
            }
        }
        if n == 0 {
            break;
        }
    }
    Ok(report)
}

/// Adds a chunk's report, keeping only the outcomes worth reading afterwards.
fn merge(report: &mut BatchReport, part: BatchReport) {
    use crate::pipeline::Disposition;
    report.counts.add(&part.counts);
    report.batch_item_failures.extend(part.batch_item_failures);
    report.records.extend(
        part.records
            .into_iter()
            .filter(|r| !matches!(r.disposition, Disposition::Published | Disposition::Skipped)),
    );
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
    let mut acks: std::collections::BTreeMap<&str, u64> = Default::default();
    for r in &report.records {
        if let crate::pipeline::Disposition::Acknowledged { reason } = &r.disposition {
            *acks.entry(reason.as_str()).or_default() += 1;
        }
    }
    let acks: Vec<String> = acks.iter().map(|(k, n)| format!("{k} {n}")).collect();
    line("records in", c.records_in, String::new());
    line("published", c.published, String::new());
    line(
        "acknowledged",
        c.acknowledged,
        if c.acknowledged == 0 {
            String::new()
        } else {
            format!(
                "  nothing to publish, done with{}",
                if acks.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", acks.join(", "))
                }
            )
        },
    );
    line(
        "skipped",
        c.skipped,
        if c.skipped == 0 {
            String::new()
        } else {
            "  at or below the checkpoint: an earlier run handled them".to_string()
        },
    );
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
    if c.skipped > 0 {
        s.push_str(&format!(
            "  to process them again: remove {} (or pass another --state-dir or --processor)\n",
            options.state_dir.join("checkpoints").display()
        ));
    }
    if c.acknowledged > 0 {
        s.push_str(
            "  acknowledged: transaction markers, tombstones, DMS control records and tables not \
             captured (CDC_TABLES) are not changes to publish; they are checkpointed, not \
             dead-lettered\n",
        );
    }
    if !report.batch_item_failures.is_empty() {
        s.push_str(&format!(
            "  reported for retry from sequence number {}\n",
            report.batch_item_failures[0]
        ));
    }
    s
}
