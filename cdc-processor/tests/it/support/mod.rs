//! What the integration tests share: the test constants, fixtures and example rows, the
//! in-memory pipeline, synthetic Kinesis records, a log buffer; the moto side in [`aws`]; the
//! Lambda-style driver and the real binary in [`lambda`]; running a test alone in its own process
//! in [`process`].

pub mod aws;
pub mod lambda;
pub mod process;

use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use cdc_processor::config::{PipelineConfig, Redaction};
use cdc_processor::testing::{MemoryCheckpointStore, MemoryDeadLetterSink, MemoryPublisher};
use cdc_processor::Pipeline;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The HMAC key of `hash` redaction, in process and in moto's stack (`testkit::Stack`'s key).
pub const HMAC_KEY: &str = testkit::stack::HMAC_KEY;
/// The stream ARN of synthetic Kinesis records (the ARN of `testkit::stack::STREAM`).
pub const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/coredb-cdc-stream";
/// A shard id for synthetic events.
pub const SHARD: &str = "shardId-000000000001";

/// The pipeline with its in-memory ports.
pub type MemPipeline = Pipeline<MemoryPublisher, MemoryCheckpointStore, MemoryDeadLetterSink>;

/// The path of a file under `tests/fixtures`.
pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// A JSON fixture under `tests/fixtures`.
pub fn fixture(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture_path(rel)).unwrap()).unwrap()
}

/// The example row of `table` (`model-schemas/examples`).
pub fn example(table: &str) -> Map<String, Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../model-schemas/examples")
        .join(format!("{table}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A configuration with `hash` redaction under [`HMAC_KEY`].
pub fn redacting_config() -> PipelineConfig {
    PipelineConfig::new(Redaction::with_key(HMAC_KEY.as_bytes()).unwrap())
}

/// The in-memory pipeline with this configuration.
pub fn pipeline(config: PipelineConfig) -> MemPipeline {
    Pipeline::new(
        config,
        MemoryPublisher::new(),
        MemoryCheckpointStore::new(),
        MemoryDeadLetterSink::new(),
    )
}

/// The in-memory pipeline publishing through `publisher`.
pub fn pipeline_with(config: PipelineConfig, publisher: MemoryPublisher) -> MemPipeline {
    Pipeline::new(
        config,
        publisher,
        MemoryCheckpointStore::new(),
        MemoryDeadLetterSink::new(),
    )
}

/// The sequence number of the i-th synthetic record (56 digits, increasing).
pub fn seq(i: usize) -> String {
    format!(
        "4959033827149025660855969253836157109592157598913658{:04}",
        i
    )
}

/// A Kinesis event record with these bytes.
pub fn kinesis_record(i: usize, data: Vec<u8>) -> KinesisEventRecord {
    let mut r = KinesisEventRecord::default();
    r.event_id = Some(format!("{SHARD}:{}", seq(i)));
    r.event_source_arn = Some(STREAM_ARN.to_string());
    r.event_source = Some("aws:kinesis".to_string());
    r.kinesis.sequence_number = seq(i);
    r.kinesis.partition_key = format!("pk-{i}");
    r.kinesis.data.0 = data;
    r
}

/// A Kinesis event of these records' bytes, numbered from 0.
pub fn kinesis_event(records: Vec<Vec<u8>>) -> KinesisEvent {
    let mut e = KinesisEvent::default();
    e.records = records
        .into_iter()
        .enumerate()
        .map(|(i, d)| kinesis_record(i, d))
        .collect();
    e
}

/// A CoreDB trigger record.
pub fn trigger(table: &str, op: &str, before: Value, after: Value) -> Vec<u8> {
    serde_json::json!({
        "table": table, "operation": op, "timestamp": "2026-11-25T10:14:31Z",
        "transaction_id": "txn-1", "before": before, "after": after
    })
    .to_string()
    .into_bytes()
}

/// An INSERT of the example row of `table`, with `overrides` applied.
pub fn insert_example(table: &str, overrides: &[(&str, Value)]) -> Vec<u8> {
    let mut row = example(table);
    for (k, v) in overrides {
        row.insert(k.to_string(), v.clone());
    }
    trigger(table, "INSERT", Value::Null, Value::Object(row))
}

/// The detail of a published entry.
pub fn detail(entry: &cdc_processor::ports::PreparedEntry) -> Value {
    serde_json::from_str(&entry.detail).unwrap()
}

/// A writer into a shared buffer, for tests that capture log lines (clone it into the
/// subscriber's `with_writer`).
#[derive(Clone, Default)]
pub struct LogBuffer(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    /// Every line written so far, as JSON.
    pub fn json_lines(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}
