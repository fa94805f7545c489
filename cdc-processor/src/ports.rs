//! The pipeline's interfaces to the outside world: publishing, checkpoints, processor state and
//! dead letters.
//!
//! The pipeline core is generic over these traits. `local` implements them with files (no AWS),
//! `aws` with EventBridge, DynamoDB and SQS through the real aws-sdk-rust clients.

use crate::decode::EventId;
use crate::error::ErrorCode;
use crate::sequence::Position;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// One EventBridge entry ready to send (its detail is already redacted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedEntry {
    /// The detail's `eventId` (stable across retries and re-drives).
    pub event_id: EventId,
    /// `Source` (the same for every entry of a pipeline: one shared text).
    pub source: std::sync::Arc<str>,
    /// `DetailType`.
    pub detail_type: &'static str,
    /// `Detail` (JSON text).
    pub detail: String,
    /// `Time`, the change's source timestamp.
    pub time: Option<DateTime<Utc>>,
    /// Size as EventBridge counts it (UTF-8 bytes of Source, DetailType, Detail, Resources, plus
    /// 14 for Time).
    pub size: usize,
    /// Which changes this one must never be reordered with (see [`crate::plan`]).
    pub ordering_key: OrderingKey,
}

impl PreparedEntry {
    /// The primary key's JSON (as in the detail's `keys`), `None` for a whole-table change.
    pub fn row_key(&self) -> Option<&str> {
        match &self.ordering_key {
            OrderingKey::Row { key, .. } => Some(self.detail.get(key.clone()).unwrap_or("")),
            OrderingKey::Table(_) => None,
        }
    }
}

/// What an entry keeps its order with: the changes of its row, or of its whole table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderingKey {
    /// A change of one row: never reordered with another change of the same row.
    Row {
        /// The table.
        table: cdc_models::Table,
        /// Where the primary key's JSON is in the entry's detail (the row's identity, without a
        /// copy of it).
        key: std::ops::Range<usize>,
    },
    /// A change of the whole table (TRUNCATE): after every earlier change of the table, before
    /// every later one.
    Table(cdc_models::Table),
}

impl OrderingKey {
    /// The table.
    pub fn table(&self) -> cdc_models::Table {
        match self {
            OrderingKey::Row { table, .. } | OrderingKey::Table(table) => *table,
        }
    }
}

/// What happened to one entry of a publish call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Accepted by the bus.
    Published,
    /// Rejected for a reason retrying cannot fix (`InvalidArgument`, `MalformedDetail`, access
    /// errors): dead-letter it as `EVENTBRIDGE_ERROR`.
    Rejected {
        /// EventBridge error code.
        code: String,
        /// Error message (never the detail).
        message: String,
    },
    /// Still failing with a transient error after the retries: report the record to Lambda so it
    /// is retried in order.
    Failed {
        /// Error code (`ThrottlingException`, `InternalFailure`, a transport error, …).
        code: String,
        /// Error message.
        message: String,
    },
}

/// Publishes entries (one EventBridge `PutEvents` request's worth: at most 10 entries within the
/// request size limit), retrying transient per-entry failures itself.
pub trait Publisher: Send + Sync {
    /// Publishes the entries and returns one outcome per entry, in order.
    fn publish(
        &self,
        entries: &[PreparedEntry],
    ) -> impl Future<Output = Vec<PublishOutcome>> + Send;
}

/// Identifies one checkpoint: a processor reading one shard of one stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CheckpointKey {
    /// Processor name (the Lambda function name, or `local`).
    pub processor: String,
    /// Stream name or ARN.
    pub stream: String,
    /// Shard id.
    pub shard: String,
}

/// Result of trying to move a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Advance {
    /// The checkpoint now stands at the requested position.
    Moved,
    /// The checkpoint already stood at or beyond the requested position (another invocation moved
    /// it); nothing was written. Not an error.
    AlreadyAhead,
}

/// A state store failure (`STATE_ERROR`: the record is reported for retry).
#[derive(Debug, Clone, thiserror::Error)]
#[error("state store: {0}")]
pub struct StateError(pub String);

/// Per-shard checkpoints that only move forward in numeric order.
pub trait CheckpointStore: Send + Sync {
    /// The last position fully processed, if any.
    fn load(
        &self,
        key: &CheckpointKey,
    ) -> impl Future<Output = Result<Option<Position>, StateError>> + Send;
    /// Moves the checkpoint to `to` if that is forward; never moves it back.
    fn advance(
        &self,
        key: &CheckpointKey,
        to: &Position,
    ) -> impl Future<Output = Result<Advance, StateError>> + Send;
}

/// The seed's processor state (`save_state` / `get_state`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessorState {
    /// Last sequence number processed.
    pub last_processed_sequence: String,
    /// Records processed so far.
    pub processed_count: u64,
    /// When the state was written.
    pub last_updated: DateTime<Utc>,
}

/// The seed's state manager.
pub trait StateStore: Send + Sync {
    /// Stores the state of a processor.
    fn save_state(
        &self,
        processor: &str,
        state: &ProcessorState,
    ) -> impl Future<Output = Result<(), StateError>> + Send;
    /// Reads the state of a processor.
    fn get_state(
        &self,
        processor: &str,
    ) -> impl Future<Output = Result<Option<ProcessorState>, StateError>> + Send;
}

/// The error part of a dead letter (the seed's `{message, code, stack}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterError {
    /// What went wrong (no column values).
    pub message: String,
    /// Category.
    pub code: ErrorCode,
    /// Where it went wrong: the pipeline stage and the error chain (Rust has no exception stack).
    pub stack: String,
}

/// Where the record came from in Kinesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisPointer {
    /// Event source ARN of the stream.
    pub stream_arn: Option<String>,
    /// Shard id (from the Lambda event's `eventID`).
    pub shard_id: Option<String>,
    /// Sequence number of the Kinesis record.
    pub sequence_number: Option<String>,
    /// Index of the user record inside a KPL aggregate.
    pub sub_sequence_number: Option<u64>,
    /// Partition key of the Kinesis record.
    pub partition_key: Option<String>,
}

/// A dead letter as sent to the DLQ: the seed's structure plus the Kinesis pointer and format.
///
/// `originalEvent` keeps the raw record (the Lambda Kinesis record with its base64 `data`) so it
/// can be re-driven after the stream's retention. It is the only place record contents may appear
/// outside published (redacted) events; logs and metrics never carry them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The raw record.
    pub original_event: serde_json::Value,
    /// The failure.
    pub error: DeadLetterError,
    /// Attempts so far (1 on the first failure; the DLQ re-driver increments it).
    pub attempts: u32,
    /// When the last attempt failed.
    pub last_attempt: DateTime<Utc>,
    /// Where the record came from.
    pub kinesis: KinesisPointer,
    /// Detected (or forced) input format, when known.
    pub source_format: Option<String>,
    /// The event id the record would have published under, when known.
    pub event_id: Option<String>,
}

/// A dead-letter sink failure: the record must then be reported as failed, never dropped.
#[derive(Debug, Clone, thiserror::Error)]
#[error("dead-letter sink: {0}")]
pub struct SinkError(pub String);

/// Where dead letters go.
pub trait DeadLetterSink: Send + Sync {
    /// Sends the dead letters; one result per letter, in order.
    fn send(
        &self,
        letters: &[DeadLetter],
    ) -> impl Future<Output = Vec<Result<(), SinkError>>> + Send;
}

impl<T: Publisher + ?Sized> Publisher for std::sync::Arc<T> {
    fn publish(
        &self,
        entries: &[PreparedEntry],
    ) -> impl Future<Output = Vec<PublishOutcome>> + Send {
        (**self).publish(entries)
    }
}

impl<T: CheckpointStore + ?Sized> CheckpointStore for std::sync::Arc<T> {
    fn load(
        &self,
        key: &CheckpointKey,
    ) -> impl Future<Output = Result<Option<Position>, StateError>> + Send {
        (**self).load(key)
    }
    fn advance(
        &self,
        key: &CheckpointKey,
        to: &Position,
    ) -> impl Future<Output = Result<Advance, StateError>> + Send {
        (**self).advance(key, to)
    }
}

impl<T: DeadLetterSink + ?Sized> DeadLetterSink for std::sync::Arc<T> {
    fn send(
        &self,
        letters: &[DeadLetter],
    ) -> impl Future<Output = Vec<Result<(), SinkError>>> + Send {
        (**self).send(letters)
    }
}
