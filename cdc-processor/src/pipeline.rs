//! The pipeline: a Lambda Kinesis batch (or raw change records) → published events, dead letters,
//! checkpoints and the batch item failures Lambda retries.
//!
//! Per shard, in order:
//!
//! 1. load the shard's checkpoint (a failure reports every record of the shard: `STATE_ERROR`);
//!
//! then, a window of records at a time (about 100 entries, a whole number of requests; a batch of
//! the template's default size is one window):
//!
//! 2. decode the window's records (base64, KPL, format, validation, projection, redaction,
//!    entry); records at or below the checkpoint (and repeated positions) are skipped;
//! 3. dead-letter the non-retryable failures (`PARSE_ERROR`, `VALIDATION_ERROR`,
//!    `ENTRY_TOO_LARGE`), sent while step 4's requests are in flight; a retryable one
//!    (`TRANSFORMATION_ERROR`) is reported;
//! 4. publish the entries in the requests of the [`crate::plan`], up to `PUBLISH_CONCURRENCY`
//!    requests in flight together (a request starts once the requests it waits for, see
//!    [`crate::plan::waits`], are answered); an entry EventBridge rejects is dead-lettered
//!    (`EVENTBRIDGE_ERROR`), one still failing after the publisher's retries is reported;
//! 5. once every request and dead letter of the window is answered, move the checkpoint past
//!    the records resolved so far, in order. That write is answered while the next window's
//!    dead letters and requests are in flight (it covers only settled windows; one write at a
//!    time, so it only moves forward), and the batch ends with the last write answered and a
//!    final one if needed. A write that fails reports every record after the checkpoint
//!    written before it, including the next window's records published meanwhile (the
//!    duplicate window of docs/reliability.md: republished on the retry with the same ids).
//!
//! Windows keep a large batch's entries from all being held at once (memory, and a window's
//! entries are published while still in the cache); they change nothing about order: windows are
//! taken one after another, and every request of a window is answered before the next window's
//! is sent. A window holds max(100, 10 × `PUBLISH_CONCURRENCY`) entries.
//!
//! A reported record is reported together with every later record of its shard in the batch
//! (Lambda resumes from the lowest reported sequence number, so per-key order holds); later
//! records are then not published in this invocation. A dead letter that cannot be written makes
//! its record reported: a record is never dropped.

use crate::config::PipelineConfig;
use crate::decode::kinesis::shard_id;
use crate::decode::{
    deaggregate, decode_base64_into, event_id_for_bytes, kpl, EventId, LenientKinesisEvent,
    LenientKinesisRecord, RawInput, RecordPointer, ShardHasher, UserRecord,
};
use crate::error::{ErrorCode, RecordError};
use crate::event::{self, EventOptions};
use crate::formats::{self, AckReason, Decoded, FormatOptions, SourceFormat};
use crate::plan::{self, PlanLimits};
use crate::ports::{
    Advance, CheckpointKey, CheckpointStore, DeadLetter, DeadLetterError, DeadLetterSink,
    KinesisPointer, PreparedEntry, PublishOutcome, Publisher, SinkError, StateError,
};
use crate::sequence::{Position, PositionRef, SequenceNumber};
use crate::text::ShortStr;
use crate::transform;
use crate::validate::{self, Change, ValidateOptions};
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use aws_lambda_events::event::streams::KinesisEventResponse;
use base64::Engine;
use cdc_models::Table;
use futures_util::future::{join3, BoxFuture};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The largest position seen in a shard's batch, to skip repeated ones. Kinesis delivers
/// increasing positions, so the common case is one comparison; a position at or below the largest
/// is looked up among the units decoded so far (rare).
#[derive(Default)]
struct Seen {
    /// The unit holding the largest position so far.
    max: Option<usize>,
}

impl Seen {
    /// `false` when the position was seen before; `true` when it was not, and the unit about to
    /// be pushed (at `units.len()`) holds it.
    fn insert(&mut self, p: PositionRef<'_>, units: &[Unit], inputs: &[Input<'_>]) -> bool {
        match self.max.and_then(|i| units.get(i)?.at(inputs)) {
            Some(m) if p <= m => !units.iter().any(|u| u.at(inputs) == Some(p)),
            _ => {
                self.max = Some(units.len());
                true
            }
        }
    }
}
use tracing::field::Empty;

/// Record counts of a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// User records in (a KPL aggregate counts its user records).
    pub records_in: u64,
    /// Published to EventBridge.
    pub published: u64,
    /// Acknowledged without publishing (tombstones, DMS control, Debezium transaction markers and
    /// messages, tables not captured).
    pub acknowledged: u64,
    /// At or below the checkpoint (already processed), or a repeated position.
    pub skipped: u64,
    /// Dead-lettered, per category.
    pub dead_lettered: BTreeMap<ErrorCode, u64>,
    /// Reported to Lambda for retry.
    pub failed: u64,
    /// Source columns unknown to the schema, dropped (a column counts once per record).
    pub dropped_columns: u64,
    /// PutEvents requests made.
    pub put_events_requests: u64,
}

impl Counts {
    /// Dead letters of every category.
    pub fn dead_lettered_total(&self) -> u64 {
        self.dead_lettered.values().sum()
    }

    /// Adds another batch's counts.
    pub fn add(&mut self, other: &Counts) {
        self.records_in += other.records_in;
        self.published += other.published;
        self.acknowledged += other.acknowledged;
        self.skipped += other.skipped;
        for (code, n) in &other.dead_lettered {
            *self.dead_lettered.entry(*code).or_default() += n;
        }
        self.failed += other.failed;
        self.dropped_columns += other.dropped_columns;
        self.put_events_requests += other.put_events_requests;
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "records in: {}, published: {}, acknowledged: {}, skipped: {}, dead-lettered: {}",
            self.records_in,
            self.published,
            self.acknowledged,
            self.skipped,
            self.dead_lettered_total()
        )?;
        if !self.dead_lettered.is_empty() {
            let by: Vec<String> = self
                .dead_lettered
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            write!(f, " ({})", by.join(", "))?;
        }
        write!(
            f,
            ", failed (reported for retry): {}, dropped columns: {}, PutEvents requests: {}",
            self.failed, self.dropped_columns, self.put_events_requests
        )
    }
}

/// How one user record ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "disposition", rename_all = "kebab-case")]
pub enum Disposition {
    /// Published to EventBridge.
    Published,
    /// Acknowledged without publishing.
    Acknowledged {
        /// Why.
        reason: AckReason,
    },
    /// At or below the checkpoint, or a repeated position.
    Skipped,
    /// Dead-lettered.
    DeadLettered {
        /// Category.
        code: ErrorCode,
        /// Reason (no column values).
        message: String,
    },
    /// Reported to Lambda for retry.
    Failed {
        /// Why (no column values).
        reason: String,
    },
}

/// The outcome of one user record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOutcome {
    /// Shard id.
    pub shard: ShortStr,
    /// Kinesis sequence number (as received).
    pub sequence_number: ShortStr,
    /// Index inside a KPL aggregate.
    pub sub_sequence_number: Option<u64>,
    /// Event id (when the record's position is valid).
    pub event_id: Option<EventId>,
    /// Table, when known.
    pub table: Option<&'static str>,
    /// Format, when known.
    pub source_format: Option<SourceFormat>,
    /// How it ended.
    #[serde(flatten)]
    pub disposition: Disposition,
}

/// The result of processing one batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReport {
    /// Kinesis sequence numbers to return in `KinesisEventResponse.batchItemFailures` (each once,
    /// in batch order).
    pub batch_item_failures: Vec<String>,
    /// Counts.
    pub counts: Counts,
    /// One outcome per user record, in batch order.
    pub records: Vec<RecordOutcome>,
}

impl BatchReport {
    /// The response for Lambda's `ReportBatchItemFailures`.
    pub fn to_response(&self) -> KinesisEventResponse {
        let mut r = KinesisEventResponse::default();
        r.set_failures(self.batch_item_failures.iter().cloned());
        r
    }
}

/// Where a record's raw form comes from, for dead letters.
enum Original<'e> {
    Kinesis(&'e KinesisEventRecord),
    Lenient(&'e LenientKinesisRecord),
    Raw(&'e RawInput),
}

impl Original<'_> {
    fn to_json(&self) -> serde_json::Value {
        match self {
            Original::Kinesis(r) => serde_json::to_value(r).unwrap_or(serde_json::Value::Null),
            Original::Lenient(r) => serde_json::to_value(r).unwrap_or(serde_json::Value::Null),
            Original::Raw(r) => serde_json::json!({
                "eventSource": "local",
                "kinesis": {
                    "partitionKey": "",
                    "sequenceNumber": r.sequence.as_str(),
                    "data": base64::engine::general_purpose::STANDARD.encode(&r.data),
                },
                "eventID": format!("{}:{}", r.shard, r.sequence),
                "eventSourceARN": r.stream,
            }),
        }
    }
}

/// Entries a shard's window holds before it is planned and published (rounded up to whole
/// requests; see the [module docs](self)). A Lambda batch of the template's default
/// size (100 records) is one window; a larger one is taken in windows of this size, so that its
/// entries are published while they are still in the cache and a batch's memory is bounded by
/// the window (docs/benchmarks.md, "What changed", windows).
const WINDOW_ENTRIES: usize = 100;

/// One Kinesis record (or raw record) of a batch.
struct Input<'e> {
    /// Stream ARN (or local stream name) and shard id, as the record carries them (the
    /// [`ShortStr`] copies of the pointers are made once per shard, in
    /// [`Pipeline::process_inputs`]).
    stream: &'e str,
    shard: &'e str,
    raw_sequence: &'e str,
    sequence: Result<SequenceNumber, String>,
    partition_key: &'e str,
    data: Data<'e>,
    original: Original<'e>,
    /// Raw records have no Kinesis pointer: their id is over their bytes.
    id_from_bytes: bool,
}

/// A record's data as received.
#[derive(Clone, Copy)]
enum Data<'e> {
    /// Bytes.
    Bytes(&'e [u8]),
    /// Base64 text, decoded when the record is processed (into a buffer reused for the batch, so
    /// a batch's decoded records are never all held at once).
    Base64(&'e str),
}

impl Input<'_> {
    /// The sequence number as received, for the report: a copy of the parsed one when they are
    /// the same text (no leading zeros), which is every real Kinesis sequence number.
    ///
    /// The parsed text is always the received one without its leading zeros (every `Input` is
    /// built that way), so the two are the same text exactly when they are of the same length;
    /// comparing lengths spares a comparison of the digits per record.
    fn reported_sequence(&self) -> ShortStr {
        match &self.sequence {
            Ok(s) if s.text().len() == self.raw_sequence.len() => {
                debug_assert_eq!(s.as_str(), self.raw_sequence);
                s.text().clone()
            }
            _ => ShortStr::from(self.raw_sequence),
        }
    }
}

enum State {
    /// Its entry, at this index of the shard's prepared entries (in unit order).
    Entry(usize),
    Pending,
    Published,
    Acknowledged(AckReason),
    Skipped,
    Error(RecordError),
    DeadLettered(ErrorCode, String),
    Failed(String),
}

impl Unit {
    /// The unit's position, from its input's sequence number (without a copy of it: a copy is an
    /// atomic increment and decrement per record); `None` when that sequence number is invalid.
    fn at<'i>(&self, inputs: &'i [Input<'_>]) -> Option<PositionRef<'i>> {
        let sequence = inputs.get(self.input)?.sequence.as_ref().ok()?;
        Some((sequence, self.sub_sequence))
    }
}

impl State {
    fn resolved(&self) -> bool {
        matches!(
            self,
            State::Published | State::Acknowledged(_) | State::Skipped | State::DeadLettered(..)
        )
    }
}

/// A log event about one record, with the record's identity as fields. The record span is at
/// DEBUG: at INFO, creating it and recording its fields cost more than the rest of a record's
/// processing (docs/benchmarks.md, "Logging"), so events at INFO and above name the record
/// themselves (and still carry the span when DEBUG is on).
macro_rules! record_event {
    ($level:ident, $shard:expr, $sequence:expr, $unit:expr, $($rest:tt)+) => {
        $unit.span.in_scope(|| {
            tracing::$level!(
                shard = %$shard,
                sequence_number = %$sequence,
                sub_sequence_number = $unit.sub_sequence,
                event_id = $unit.event_id.as_deref(),
                table = $unit.table,
                operation = $unit.operation,
                source_format = $unit.format.map(SourceFormat::as_str),
                $($rest)+
            )
        })
    };
}

/// What every record of a shard's batch is expanded against.
struct ShardContext<'a> {
    /// The shard's stream and id, shared by its records' pointers.
    stream: &'a ShortStr,
    shard: &'a ShortStr,
    /// Event ids continue from the hashed stream/shard prefix.
    hasher: ShardHasher,
    /// Records at or below it are skipped.
    checkpoint: Option<&'a Position>,
}

/// A shard's records as they are decoded.
struct Decoding {
    /// Every unit of the shard so far.
    units: Vec<Unit>,
    /// The entries of the current window's units in [`State::Entry`], in unit order.
    prepared: Vec<PreparedEntry>,
    /// The window's entries as they are taken into requests (kept for its memory).
    slots: Vec<Option<PreparedEntry>>,
    seen: Seen,
    dropped_columns: u64,
    put_events_requests: u64,
    /// Where each entry's detail is written (see [`event::build_with_buffer`]).
    buffer: Vec<u8>,
    /// Where each record's base64 data is decoded.
    data: Vec<u8>,
}

/// One user record in flight.
struct Unit {
    /// Its Kinesis record, in the shard's inputs.
    input: usize,
    sub_sequence: Option<u64>,
    event_id: Option<EventId>,
    format: Option<SourceFormat>,
    table: Option<&'static str>,
    operation: Option<&'static str>,
    /// The record's span (DEBUG level; see [`record_event`]).
    span: tracing::Span,
    state: State,
}

/// The pipeline core, generic over its ports. See the [module docs](self).
pub struct Pipeline<P: Publisher, C: CheckpointStore, D: DeadLetterSink> {
    config: PipelineConfig,
    publisher: P,
    checkpoints: C,
    dead_letters: D,
    format_options: FormatOptions,
    validate_options: ValidateOptions,
    event_options: EventOptions,
    limits: PlanLimits,
}

impl<P: Publisher, C: CheckpointStore, D: DeadLetterSink> std::fmt::Debug for Pipeline<P, C, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.config)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher, C: CheckpointStore, D: DeadLetterSink> Pipeline<P, C, D> {
    /// A pipeline with this configuration and these ports.
    pub fn new(config: PipelineConfig, publisher: P, checkpoints: C, dead_letters: D) -> Self {
        let format_options = FormatOptions {
            forced: config.forced_format(),
            dms_before_image_field: config.dms_before_image_field().to_string(),
        };
        let validate_options = ValidateOptions {
            epoch_unit: config.epoch_unit(),
        };
        let event_options = EventOptions {
            source: config.event_source(),
            max_entry_size: config.max_entry_size(),
        };
        let limits = PlanLimits {
            max_entries: config.entries_per_request(),
            max_request_bytes: config.max_request_size(),
        };
        Pipeline {
            config,
            publisher,
            checkpoints,
            dead_letters,
            format_options,
            validate_options,
            event_options,
            limits,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The publisher.
    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// The checkpoint store.
    pub fn checkpoints(&self) -> &C {
        &self.checkpoints
    }

    /// The dead-letter sink.
    pub fn dead_letters(&self) -> &D {
        &self.dead_letters
    }

    /// Processes one Lambda Kinesis batch. Never panics on bad input; every record ends
    /// published, acknowledged-not-published, skipped, dead-lettered, or reported in
    /// `batch_item_failures`.
    pub async fn process_kinesis_event(
        &self,
        event: &KinesisEvent,
        processor: &str,
    ) -> BatchReport {
        let inputs = event
            .records
            .iter()
            .map(|r| Input {
                stream: r.event_source_arn.as_deref().unwrap_or(""),
                shard: shard_id(r.event_id.as_deref()).unwrap_or("unknown"),
                raw_sequence: &r.kinesis.sequence_number,
                sequence: r
                    .kinesis
                    .sequence_number
                    .parse()
                    .map_err(|e: crate::sequence::InvalidSequenceNumber| e.to_string()),
                partition_key: &r.kinesis.partition_key,
                data: Data::Bytes(&r.kinesis.data.0[..]),
                original: Original::Kinesis(r),
                id_from_bytes: false,
            })
            .collect();
        self.process_inputs(inputs, processor).await
    }

    /// Same as [`Self::process_kinesis_event`] for an event read with [`LenientKinesisEvent`]:
    /// a record whose `data` is not valid base64 is that record's `PARSE_ERROR`.
    pub async fn process_lenient_event(
        &self,
        event: &LenientKinesisEvent,
        processor: &str,
    ) -> BatchReport {
        let inputs = event
            .records
            .iter()
            .map(|r| Input {
                stream: r.event_source_arn.as_deref().unwrap_or(""),
                shard: shard_id(r.event_id.as_deref()).unwrap_or("unknown"),
                raw_sequence: &r.kinesis.sequence_number,
                sequence: r
                    .kinesis
                    .sequence_number
                    .parse()
                    .map_err(|e: crate::sequence::InvalidSequenceNumber| e.to_string()),
                partition_key: &r.kinesis.partition_key,
                data: Data::Base64(&r.kinesis.data),
                original: Original::Lenient(r),
                id_from_bytes: false,
            })
            .collect();
        self.process_inputs(inputs, processor).await
    }

    /// Same for raw change records (local mode JSON lines), with their synthetic
    /// stream/shard/sequence. Their event id is over their bytes.
    pub async fn process_raw_records(
        &self,
        records: Vec<RawInput>,
        processor: &str,
    ) -> BatchReport {
        let inputs = records
            .iter()
            .map(|r| Input {
                stream: &r.stream,
                shard: &r.shard,
                raw_sequence: r.sequence.as_str(),
                sequence: Ok(r.sequence.clone()),
                partition_key: "",
                data: Data::Bytes(&r.data[..]),
                original: Original::Raw(r),
                id_from_bytes: true,
            })
            .collect();
        self.process_inputs(inputs, processor).await
    }

    async fn process_inputs(&self, inputs: Vec<Input<'_>>, processor: &str) -> BatchReport {
        let mut report = BatchReport::default();
        // Group by (stream, shard), keeping each shard's order. A Lambda batch comes from one
        // shard: then its inputs are the one group as they are, without copying them.
        let same_shard = |a: &Input<'_>, b: &Input<'_>| a.stream == b.stream && a.shard == b.shard;
        let groups = match inputs.first() {
            Some(first) if !inputs.iter().all(|i| same_shard(i, first)) => {
                let mut groups: Vec<Vec<Input<'_>>> = Vec::new();
                for input in inputs {
                    match groups.iter_mut().find(|g| same_shard(&g[0], &input)) {
                        Some(g) => g.push(input),
                        None => groups.push(vec![input]),
                    }
                }
                groups
            }
            _ => vec![inputs],
        };
        for inputs in groups.iter().filter(|g| !g.is_empty()) {
            let (stream, shard) = (
                ShortStr::from(inputs[0].stream),
                ShortStr::from(inputs[0].shard),
            );
            let key = CheckpointKey {
                processor: processor.to_string(),
                stream: stream.to_string(),
                shard: shard.to_string(),
            };
            self.process_shard(&key, (&stream, &shard), inputs, &mut report)
                .await;
        }
        report
    }

    async fn process_shard(
        &self,
        key: &CheckpointKey,
        (stream, shard): (&ShortStr, &ShortStr),
        inputs: &[Input<'_>],
        report: &mut BatchReport,
    ) {
        let checkpoint = match self.checkpoints.load(key).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(shard = %key.shard, error = %e, "checkpoint load failed; reporting the shard's records");
                for input in inputs {
                    report.counts.records_in += 1;
                    report.counts.failed += 1;
                    push_failure(report, input.raw_sequence);
                    report.records.push(RecordOutcome {
                        shard: shard.clone(),
                        sequence_number: input.reported_sequence(),
                        sub_sequence_number: None,
                        event_id: None,
                        table: None,
                        source_format: None,
                        disposition: Disposition::Failed {
                            reason: format!("{}: {e}", ErrorCode::StateError),
                        },
                    });
                }
                return;
            }
        };

        // The shard's records are taken a window at a time: decoded (CPU only), their failures
        // dead-lettered, their entries planned and published, the checkpoint advanced; then the
        // next window. A window holds about `WINDOW_ENTRIES` entries, so a large batch's entries
        // (each with its detail) are never all held at once: what a window writes is still in
        // the cache when it is planned, published and freed, and memory stays bounded by the
        // window, not the batch (docs/benchmarks.md, "What changed", windows).
        let mut decoding = Decoding {
            units: Vec::with_capacity(inputs.len()),
            prepared: Vec::with_capacity(WINDOW_ENTRIES.min(inputs.len()) + 1),
            slots: Vec::new(),
            seen: Seen::default(),
            dropped_columns: 0,
            put_events_requests: 0,
            buffer: Vec::new(),
            data: Vec::new(),
        };
        let shard_context = ShardContext {
            stream,
            shard,
            hasher: ShardHasher::new(&key.stream, &key.shard),
            checkpoint: checkpoint.as_ref(),
        };
        // A window ends on a whole number of full requests.
        let per_request = self.limits.max_entries.max(1);
        // Enough requests for every one in flight together to be busy (unless configured).
        let window_entries = self
            .config
            .window_entries()
            .unwrap_or_else(|| WINDOW_ENTRIES.max(per_request * self.config.publish_concurrency()));
        let window_full = |d: &Decoding| {
            d.prepared.len() >= window_entries && d.prepared.len().is_multiple_of(per_request)
        };
        // The first unit reported to Lambda; it and every later unit are reported.
        let mut min_failed = usize::MAX;
        let mut prefix = Prefix {
            end: 0,
            max: None,
            durable: checkpoint.clone(),
        };
        // The checkpoint write of the last settled window, answered while the next window's
        // requests are in flight (joined at the end of that window, or below).
        let mut checkpoint_write: Option<CheckpointWrite<'_>> = None;
        let mut next = 0;
        while next < inputs.len() {
            let window_start = decoding.units.len();
            debug_assert!(
                decoding.prepared.is_empty(),
                "a settled window leaves no entries"
            );
            while next < inputs.len() && !window_full(&decoding) {
                self.expand(next, inputs, &shard_context, &mut decoding);
                next += 1;
            }
            self.settle_window(
                key,
                shard,
                inputs,
                window_start,
                &mut decoding,
                &mut prefix,
                &mut min_failed,
                &mut checkpoint_write,
            )
            .await;
        }
        if let Some(write) = checkpoint_write.take() {
            let done = write.await;
            checkpoint_written(
                key,
                &decoding.units,
                inputs,
                &mut prefix,
                &mut min_failed,
                done,
            );
        }
        let Decoding {
            units,
            dropped_columns,
            put_events_requests,
            ..
        } = decoding;
        report.counts.dropped_columns += dropped_columns;
        report.counts.put_events_requests += put_events_requests;
        self.advance(key, &units, inputs, &mut prefix, &mut min_failed)
            .await;

        // Report, in unit order.
        for (i, u) in units.into_iter().enumerate() {
            let input = &inputs[u.input];
            let disposition = if i >= min_failed {
                let reason = match u.state {
                    State::Failed(r) => r,
                    _ => "reported for retry behind an earlier failure in the shard".to_string(),
                };
                push_failure(report, input.raw_sequence);
                report.counts.failed += 1;
                Disposition::Failed { reason }
            } else {
                match u.state {
                    State::Published => {
                        report.counts.published += 1;
                        Disposition::Published
                    }
                    State::Acknowledged(reason) => {
                        report.counts.acknowledged += 1;
                        Disposition::Acknowledged { reason }
                    }
                    State::Skipped => {
                        report.counts.skipped += 1;
                        Disposition::Skipped
                    }
                    State::DeadLettered(code, message) => {
                        *report.counts.dead_lettered.entry(code).or_default() += 1;
                        Disposition::DeadLettered { code, message }
                    }
                    // Unreachable by construction; never drop a record if it happens anyway.
                    State::Entry(_) | State::Pending | State::Error(_) | State::Failed(_) => {
                        push_failure(report, input.raw_sequence);
                        report.counts.failed += 1;
                        Disposition::Failed {
                            reason: "unresolved".into(),
                        }
                    }
                }
            };
            let sequence = input.raw_sequence;
            match &disposition {
                Disposition::Failed { reason } => {
                    record_event!(warn, shard, sequence, u, reason = %reason, "reported for retry")
                }
                Disposition::DeadLettered { code, message } => {
                    record_event!(warn, shard, sequence, u, code = %code, error = %message, "dead-lettered")
                }
                d => u.span.in_scope(|| tracing::debug!(outcome = ?d, "done")),
            }
            report.counts.records_in += 1;
            report.records.push(RecordOutcome {
                shard: shard.clone(),
                sequence_number: input.reported_sequence(),
                sub_sequence_number: u.sub_sequence,
                event_id: u.event_id,
                table: u.table,
                source_format: u.format,
                disposition,
            });
        }
    }

    /// Ends one window of a shard's units (`units[window_start..]`, whose entries are
    /// `decoding.prepared`): retryable failures reported, the other failures before the first
    /// reported unit dead-lettered while the entries before it are published in the plan's
    /// requests and the previous window's checkpoint write (`checkpoint_write`) is answered;
    /// then this window's checkpoint write started (left in `checkpoint_write`).
    #[allow(clippy::too_many_arguments)]
    async fn settle_window<'a>(
        &'a self,
        key: &'a CheckpointKey,
        shard: &ShortStr,
        inputs: &[Input<'_>],
        window_start: usize,
        decoding: &mut Decoding,
        prefix: &mut Prefix,
        min_failed: &mut usize,
        checkpoint_write: &mut Option<CheckpointWrite<'a>>,
    ) {
        let units = &mut decoding.units;
        for (i, u) in units.iter_mut().enumerate().skip(window_start) {
            if let State::Error(e) = &u.state {
                if e.code.is_retryable() {
                    let reason = e.to_string();
                    let sequence = inputs[u.input].raw_sequence;
                    record_event!(warn, shard, sequence, u, code = %e.code, error = %e.message, "retryable failure");
                    u.state = State::Failed(reason);
                    *min_failed = (*min_failed).min(i);
                }
            }
        }

        // Dead letters of the non-retryable failures before the first reported unit.
        let failing: Vec<usize> = (window_start..units.len().min(*min_failed))
            .filter(|&i| matches!(units[i].state, State::Error(_)))
            .collect();
        // Sent while the window's requests are in flight (their results are applied once both
        // are answered: a letter that could not be written reports its unit and every later
        // one, including any published meanwhile — the duplicate window of docs/reliability.md).
        let letters = letters_for(&failing, inputs, key, units);
        let dead_letters = &self.dead_letters;
        let send_letters = async move {
            if letters.is_empty() {
                Vec::new()
            } else {
                dead_letters.send(&letters).await
            }
        };

        // Publish in the plan's requests. Entries were
        // prepared in unit order, so those of the units before the first reported one are a
        // prefix of them.
        let mut entry_units = Vec::with_capacity(decoding.prepared.len());
        for (i, u) in units
            .iter_mut()
            .enumerate()
            .take(*min_failed)
            .skip(window_start)
        {
            if let State::Entry(k) = u.state {
                debug_assert_eq!(k, entry_units.len(), "entries are prepared in unit order");
                u.state = State::Pending;
                entry_units.push(i);
            }
        }
        decoding.prepared.truncate(entry_units.len());
        let requests = plan::plan(&decoding.prepared, &self.limits);
        let waits = plan::waits(&decoding.prepared, &requests);
        // Both vectors keep their memory for the next window.
        let mut slots = std::mem::take(&mut decoding.slots);
        slots.extend(decoding.prepared.drain(..).map(Some));
        // Requests start in plan order, up to `publish_concurrency` in flight, each once the
        // requests it waits for (earlier changes of its keys, its table's TRUNCATE) are answered.
        let concurrency = self.config.publish_concurrency().max(1);
        let mut answered = vec![false; requests.len()];
        let mut started = vec![false; requests.len()];
        // Requests before it are all started.
        let mut first_unstarted = 0;
        let mut in_flight = FuturesUnordered::new();
        let requests_made = &mut decoding.put_events_requests;
        let publish = async {
            loop {
                // A request whose waits are answered starts even if an earlier one still waits.
                let mut candidate = first_unstarted;
                while in_flight.len() < concurrency && candidate < requests.len() {
                    let r = candidate;
                    candidate += 1;
                    if started[r] || !waits[r].iter().all(|&w| answered[w]) {
                        continue;
                    }
                    started[r] = true;
                    while first_unstarted < requests.len() && started[first_unstarted] {
                        first_unstarted += 1;
                    }
                    let mut batch = Vec::with_capacity(requests[r].len());
                    let mut batch_units = Vec::with_capacity(requests[r].len());
                    for &k in &requests[r] {
                        let entry = slots[k].take().expect("each entry is planned once");
                        // Behind a reported unit (known when the request starts): not published.
                        if entry_units[k] < *min_failed {
                            batch_units.push(entry_units[k]);
                            batch.push(entry);
                        }
                    }
                    if batch.is_empty() {
                        answered[r] = true;
                        continue;
                    }
                    let publisher = &self.publisher;
                    in_flight.push(async move {
                        let outcomes = publisher.publish(&batch).await;
                        (r, batch_units, outcomes)
                    });
                }
                let Some((r, batch_units, outcomes)) = in_flight.next().await else {
                    break;
                };
                answered[r] = true;
                let mut rejected = Vec::new();
                for (j, &u) in batch_units.iter().enumerate() {
                    let outcome =
                        outcomes
                            .get(j)
                            .cloned()
                            .unwrap_or_else(|| PublishOutcome::Failed {
                                code: "MissingOutcome".into(),
                                message: format!(
                                    "the publisher returned {} outcomes for {} entries",
                                    outcomes.len(),
                                    batch_units.len()
                                ),
                            });
                    let unit = &mut units[u];
                    match outcome {
                        PublishOutcome::Published => unit.state = State::Published,
                        PublishOutcome::Rejected { code, message } => {
                            unit.state = State::Error(RecordError::new(
                                ErrorCode::EventbridgeError,
                                format!("EventBridge rejected the entry: {code}: {message}"),
                            ));
                            rejected.push(u);
                        }
                        PublishOutcome::Failed { code, message } => {
                            let sequence = inputs[unit.input].raw_sequence;
                            record_event!(warn, shard, sequence, unit, code = %code, error = %message, "publish failed after retries");
                            unit.state = State::Failed(format!("EventBridge: {code}: {message}"));
                            *min_failed = (*min_failed).min(u);
                        }
                    }
                }
                *requests_made += 1;
                self.dead_letter(&rejected, inputs, key, units, min_failed)
                    .await;
            }
            debug_assert_eq!(first_unstarted, requests.len(), "every request started");
        };
        // The previous window's checkpoint write is answered beside this window's requests.
        let previous_write = async {
            match checkpoint_write.take() {
                Some(write) => Some(write.await),
                None => None,
            }
        };
        let (letter_results, (), written) = join3(send_letters, publish, previous_write).await;
        letters_sent(&failing, letter_results, inputs, key, units, min_failed);
        if let Some(done) = written {
            checkpoint_written(key, units, inputs, prefix, min_failed, done);
        }
        slots.clear();
        decoding.slots = slots;
        // One checkpoint write per window, past the records resolved in order so far (every
        // request and dead letter of the window answered, the previous write applied); it is
        // answered while the next window publishes.
        if let Some(target) = checkpoint_target(units, inputs, prefix, *min_failed) {
            *checkpoint_write = Some(self.start_checkpoint(key, target));
        }
    }

    /// Turns one Kinesis record into its user records' units.
    fn expand(
        &self,
        index: usize,
        inputs: &[Input<'_>],
        shard: &ShardContext<'_>,
        out: &mut Decoding,
    ) {
        let input = &inputs[index];
        let mut buffer = std::mem::take(&mut out.data);
        let data = match input.data {
            Data::Bytes(bytes) => Ok(bytes),
            Data::Base64(text) => match decode_base64_into(text.as_bytes(), &mut buffer) {
                Ok(()) => Ok(&buffer[..]),
                Err(_) => Err(RecordError::new(
                    ErrorCode::ParseError,
                    "Kinesis data is not valid base64",
                )),
            },
        };
        self.expand_data(index, inputs, data, shard, out);
        out.data = buffer;
    }

    /// [`Self::expand`] with the record's data decoded.
    fn expand_data(
        &self,
        index: usize,
        inputs: &[Input<'_>],
        data: Result<&[u8], RecordError>,
        shard: &ShardContext<'_>,
        out: &mut Decoding,
    ) {
        let input = &inputs[index];
        let sequence = match &input.sequence {
            Ok(s) => s,
            Err(e) => {
                let span = tracing::debug_span!("record", shard = %input.shard, sequence_number = %input.raw_sequence);
                out.units.push(Unit {
                    input: index,
                    sub_sequence: None,
                    event_id: None,
                    format: None,
                    table: None,
                    operation: None,
                    span,
                    state: State::Error(RecordError::new(ErrorCode::ParseError, e.clone())),
                });
                return;
            }
        };
        // A plain record is the common case: one user record, without a Vec.
        let (single, aggregated): (Option<UserRecord<'_>>, Vec<UserRecord<'_>>) = match &data {
            Err(e) => (
                Some(UserRecord {
                    sub_sequence: None,
                    partition_key: None,
                    data: Err(e.clone()),
                }),
                Vec::new(),
            ),
            Ok(data) if input.id_from_bytes || !kpl::has_magic(data) => (
                Some(UserRecord {
                    sub_sequence: None,
                    partition_key: None,
                    data: Ok(Cow::Borrowed(data)),
                }),
                Vec::new(),
            ),
            Ok(data) => (None, deaggregate(data)),
        };
        if single.is_none() && aggregated.is_empty() {
            let skipped = shard
                .checkpoint
                .is_some_and(|c| (sequence, None) <= c.borrowed());
            out.units.push(Unit {
                input: index,
                event_id: Some(shard.hasher.event_id(sequence.as_str(), None)),
                sub_sequence: None,
                format: None,
                table: None,
                operation: None,
                span: tracing::debug_span!("record", shard = %input.shard, sequence_number = %sequence),
                state: if skipped {
                    State::Skipped
                } else {
                    State::Acknowledged(AckReason::EmptyAggregate)
                },
            });
            return;
        }
        for user in single.into_iter().chain(aggregated) {
            let position = (sequence, user.sub_sequence);
            let event_id = match (&data, input.id_from_bytes) {
                (Ok(data), true) => event_id_for_bytes(data),
                _ => shard.hasher.event_id(sequence.as_str(), user.sub_sequence),
            };
            let span = tracing::debug_span!(
                "record",
                shard = %input.shard,
                sequence_number = %sequence,
                sub_sequence_number = user.sub_sequence,
                event_id = %event_id,
                table = Empty,
                operation = Empty,
                source_format = Empty,
            );
            let mut unit = Unit {
                input: index,
                sub_sequence: user.sub_sequence,
                event_id: Some(event_id),
                format: None,
                table: None,
                operation: None,
                span,
                state: State::Skipped,
            };
            if shard.checkpoint.is_some_and(|c| position <= c.borrowed())
                || !out.seen.insert(position, &out.units, inputs)
            {
                out.units.push(unit);
                continue;
            }
            let pointer = RecordPointer {
                stream: shard.stream.clone(),
                shard: shard.shard.clone(),
                position: Position {
                    sequence: sequence.clone(),
                    sub_sequence: user.sub_sequence,
                },
                event_id,
            };
            let span = unit.span.clone();
            let state = span.in_scope(|| match &user.data {
                Err(e) => State::Error(e.clone()),
                Ok(data) => self.process_user_record(data, pointer, &mut unit, out),
            });
            unit.state = state;
            out.units.push(unit);
        }
    }

    /// Decode → validate → transform → event, for one user record.
    fn process_user_record(
        &self,
        data: &[u8],
        pointer: RecordPointer,
        unit: &mut Unit,
        out: &mut Decoding,
    ) -> State {
        let mut change = match self.read_change(data, pointer, unit) {
            Ok(change) => change,
            Err(state) => return state,
        };
        // The id of the change's source position, when it carries one (`docs/cdc-event.md`).
        if unit.event_id != Some(change.pointer.event_id) {
            unit.event_id = Some(change.pointer.event_id);
            unit.span
                .record("event_id", tracing::field::display(change.pointer.event_id));
        }
        let settings = self.config.table(change.table);
        if !change.dropped_columns.is_empty() {
            out.dropped_columns += change.dropped_columns.len() as u64;
            let (shard, sequence) = (
                &change.pointer.shard,
                change.pointer.position.sequence.as_str(),
            );
            record_event!(warn, shard, sequence, unit, columns = ?change.dropped_columns, "dropped source columns unknown to the schema");
        }
        // In place: a change is a few hundred bytes, not worth moving (docs/benchmarks.md).
        let redacted =
            match transform::apply_in_place(&mut change, settings, self.config.redaction()) {
                Ok(r) => r,
                Err(e) => return State::Error(e),
            };
        match event::build_with_buffer(&redacted, &self.event_options, &mut out.buffer) {
            Ok(entry) => {
                out.prepared.push(entry);
                State::Entry(out.prepared.len() - 1)
            }
            Err(e) => State::Error(e),
        }
    }

    /// Decode → validate: the record's typed change (of a captured table), or how it ends.
    ///
    /// The CoreDB trigger format's common shape is read in one pass ([`crate::one_pass`], the
    /// same results in less time); every other record, and any that pass declines, the general
    /// way.
    fn read_change(
        &self,
        data: &[u8],
        pointer: RecordPointer,
        unit: &mut Unit,
    ) -> Result<Change, State> {
        if matches!(
            self.format_options.forced,
            None | Some(SourceFormat::CoredbTrigger)
        ) {
            let captured =
                |name: &str| Table::from_name(name).filter(|t| self.config.table(*t).captured);
            if let Some(read) = crate::one_pass::read(data, &captured, &self.validate_options) {
                identify(unit, SourceFormat::CoredbTrigger);
                unit.operation = Some(read.envelope.operation.as_str());
                record_late(
                    &unit.span,
                    Late::Operation,
                    read.envelope.operation.as_str(),
                );
                unit.table = Some(read.table.name());
                record_late(&unit.span, Late::Table, read.table.name());
                return validate::assemble(
                    read.table,
                    read.envelope,
                    read.before,
                    read.after,
                    read.dropped_columns,
                    pointer,
                )
                .map_err(State::Error);
            }
        }
        let mut detected = None;
        let decoded = formats::decode(data, &self.format_options, &mut detected);
        if let Some(f) = detected {
            identify(unit, f);
        }
        let raw = match decoded {
            Err(e) => return Err(State::Error(e)),
            Ok(Decoded::Acknowledged(reason)) => return Err(State::Acknowledged(reason)),
            Ok(Decoded::Change(raw)) => raw,
        };
        unit.operation = Some(raw.operation.as_str());
        record_late(&unit.span, Late::Operation, raw.operation.as_str());
        let Some(table) = Table::from_name(&raw.table) else {
            return Err(State::Error(RecordError::new(
                ErrorCode::ValidationError,
                format!("unknown table {}", printable_name(&raw.table)),
            )));
        };
        unit.table = Some(table.name());
        record_late(&unit.span, Late::Table, table.name());
        if !self.config.table(table).captured {
            return Err(State::Acknowledged(AckReason::TableNotCaptured));
        }
        validate::validate(raw, table, pointer, &self.validate_options).map_err(State::Error)
    }

    /// Sends the dead letters of these units (in `State::Error`); a unit whose letter cannot be
    /// written is reported.
    async fn dead_letter(
        &self,
        failing: &[usize],
        inputs: &[Input<'_>],
        key: &CheckpointKey,
        units: &mut [Unit],
        min_failed: &mut usize,
    ) {
        if failing.is_empty() {
            return;
        }
        let letters = letters_for(failing, inputs, key, units);
        let results = self.dead_letters.send(&letters).await;
        letters_sent(failing, results, inputs, key, units, min_failed);
    }

    /// Moves the checkpoint past the resolved prefix of the shard's units (and waits for it).
    async fn advance(
        &self,
        key: &CheckpointKey,
        units: &[Unit],
        inputs: &[Input<'_>],
        prefix: &mut Prefix,
        min_failed: &mut usize,
    ) {
        if let Some(target) = checkpoint_target(units, inputs, prefix, *min_failed) {
            let done = self.start_checkpoint(key, target).await;
            checkpoint_written(key, units, inputs, prefix, min_failed, done);
        }
    }

    /// A checkpoint write of `target`, to be awaited (and its result given to
    /// [`checkpoint_written`]) before the next one starts.
    fn start_checkpoint<'a>(
        &'a self,
        key: &'a CheckpointKey,
        target: Position,
    ) -> CheckpointWrite<'a> {
        Box::pin(async move {
            let result = self.checkpoints.advance(key, &target).await;
            (target, result)
        })
    }
}

/// A checkpoint write in flight: the position it writes, and its result.
type CheckpointWrite<'a> = BoxFuture<'a, (Position, Result<Advance, StateError>)>;

/// The dead letters of these units (in `State::Error`), in their order.
fn letters_for(
    failing: &[usize],
    inputs: &[Input<'_>],
    key: &CheckpointKey,
    units: &[Unit],
) -> Vec<DeadLetter> {
    if failing.is_empty() {
        return Vec::new();
    }
    let now = chrono::Utc::now();
    failing
        .iter()
        .map(|&i| {
            let u = &units[i];
            let input = &inputs[u.input];
            let State::Error(e) = &u.state else {
                unreachable!("only failing units are dead-lettered")
            };
            DeadLetter {
                original_event: input.original.to_json(),
                error: DeadLetterError {
                    message: e.message.clone(),
                    code: e.code,
                    stack: format!("cdc-processor::{}: {}", stage_of(e.code), e.code),
                },
                attempts: 1,
                last_attempt: now,
                kinesis: KinesisPointer {
                    stream_arn: Some(key.stream.clone()).filter(|s| !s.is_empty()),
                    shard_id: Some(key.shard.clone()),
                    sequence_number: Some(input.raw_sequence.to_string()),
                    sub_sequence_number: u.sub_sequence,
                    partition_key: Some(input.partition_key.to_string()).filter(|p| !p.is_empty()),
                },
                source_format: u.format.map(|f| f.as_str().to_string()),
                event_id: u.event_id.as_deref().map(str::to_string),
            }
        })
        .collect()
}

/// Applies the sink's answer for the letters of [`letters_for`]: dead-lettered, or (a letter not
/// written, or no result for it) reported with every later unit.
fn letters_sent(
    failing: &[usize],
    results: Vec<Result<(), SinkError>>,
    inputs: &[Input<'_>],
    key: &CheckpointKey,
    units: &mut [Unit],
    min_failed: &mut usize,
) {
    for (j, &i) in failing.iter().enumerate() {
        let u = &mut units[i];
        let State::Error(e) = std::mem::replace(&mut u.state, State::Pending) else {
            unreachable!("only failing units are dead-lettered")
        };
        match results.get(j) {
            Some(Ok(())) => u.state = State::DeadLettered(e.code, e.message),
            Some(Err(sink)) => {
                let sequence = inputs[u.input].raw_sequence;
                record_event!(error, key.shard, sequence, u, code = %e.code, error = %sink, "dead letter could not be written");
                u.state = State::Failed(format!(
                    "{e}; and the dead letter could not be written: {sink}"
                ));
                *min_failed = (*min_failed).min(i);
            }
            None => {
                u.state = State::Failed(format!("{e}; the dead-letter sink returned no result"));
                *min_failed = (*min_failed).min(i);
            }
        }
    }
}

/// The position to move the checkpoint to: past the resolved prefix of the shard's units below
/// `min_failed`; `None` when that is not beyond the checkpoint written so far.
fn checkpoint_target(
    units: &[Unit],
    inputs: &[Input<'_>],
    prefix: &mut Prefix,
    min_failed: usize,
) -> Option<Position> {
    let limit = min_failed.min(units.len());
    if prefix.end > limit {
        // A failure below the prefix (only a checkpoint failure does that): start over.
        prefix.end = 0;
        prefix.max = None;
    }
    let position = |i: Option<usize>| i.and_then(|i| units.get(i)?.at(inputs));
    while prefix.end < limit && units[prefix.end].state.resolved() {
        if let Some(p) = units[prefix.end].at(inputs) {
            if position(prefix.max).is_none_or(|m| p > m) {
                prefix.max = Some(prefix.end);
            }
        }
        prefix.end += 1;
    }
    let target = position(prefix.max)?;
    if prefix
        .durable
        .as_ref()
        .is_some_and(|d| target <= d.borrowed())
    {
        return None;
    }
    Some(Position::from_borrowed(target))
}

/// Applies a checkpoint write's result: the checkpoint stands at its target, or (it failed)
/// every unit after the checkpoint written before is reported.
fn checkpoint_written(
    key: &CheckpointKey,
    units: &[Unit],
    inputs: &[Input<'_>],
    prefix: &mut Prefix,
    min_failed: &mut usize,
    (target, result): (Position, Result<Advance, StateError>),
) {
    match result {
        Ok(_) => prefix.durable = Some(target),
        Err(e) => {
            tracing::error!(shard = %key.shard, error = %e, "checkpoint advance failed; reporting the records after it");
            let durable = prefix.durable.as_ref();
            let first = units
                .iter()
                .position(|u| match (u.at(inputs), durable) {
                    (Some(p), Some(d)) => p > d.borrowed(),
                    (Some(_), None) => true,
                    (None, _) => false,
                })
                .unwrap_or(units.len());
            *min_failed = (*min_failed).min(first);
        }
    }
}

/// The resolved prefix of a shard's units and the checkpoint written so far.
struct Prefix {
    end: usize,
    /// The unit with the largest position in the prefix.
    max: Option<usize>,
    durable: Option<Position>,
}

/// Records the record's format on its unit and span.
fn identify(unit: &mut Unit, format: SourceFormat) {
    unit.format = Some(format);
    record_late(&unit.span, Late::SourceFormat, format.as_str());
}

/// The fields of a record's span that are recorded once the record is read (declared `Empty`
/// where the span is made, in [`Pipeline::expand_data`]).
#[derive(Clone, Copy)]
enum Late {
    SourceFormat,
    Operation,
    Table,
}

impl Late {
    const ALL: [Late; 3] = [Late::SourceFormat, Late::Operation, Late::Table];

    fn name(self) -> &'static str {
        match self {
            Late::SourceFormat => "source_format",
            Late::Operation => "operation",
            Late::Table => "table",
        }
    }
}

/// The [`Late`] fields of the record spans, by [`Late`] index. `Span::record` given a field's name
/// searches the span's fields for it, comparing names, on every call; these are looked up once.
struct LateFields([tracing::field::Field; 3]);

impl LateFields {
    /// The fields of `span`; `None` for a span without metadata or not made where the record
    /// spans are (then fields are recorded by name).
    fn of(span: &tracing::Span) -> Option<&'static LateFields> {
        static FIELDS: std::sync::OnceLock<Option<LateFields>> = std::sync::OnceLock::new();
        let meta = span.metadata()?;
        let fields = meta.fields();
        let late = FIELDS
            .get_or_init(|| {
                let [a, b, c] = Late::ALL.map(|l| fields.field(l.name()));
                Some(LateFields([a?, b?, c?]))
            })
            .as_ref()?;
        // A field belongs to the callsite it was looked up in.
        (late.0[0].callsite() == meta.callsite()).then_some(late)
    }

    fn get(&self, which: Late) -> &tracing::field::Field {
        &self.0[which as usize]
    }
}

/// Records one of the [`Late`] fields in a record's span.
fn record_late(span: &tracing::Span, which: Late, value: &str) {
    match LateFields::of(span) {
        Some(late) => span.record(late.get(which), value),
        None => span.record(which.name(), value),
    };
}

fn push_failure(report: &mut BatchReport, sequence: &str) {
    if report.batch_item_failures.last().map(String::as_str) != Some(sequence)
        && !report.batch_item_failures.iter().any(|s| s == sequence)
    {
        report.batch_item_failures.push(sequence.to_string());
    }
}

fn stage_of(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ParseError => "decode",
        ErrorCode::ValidationError => "validate",
        ErrorCode::EntryTooLarge => "event",
        ErrorCode::TransformationError => "transform",
        ErrorCode::EventbridgeError => "publish",
        _ => "state",
    }
}

/// A table name as it may appear in messages: short identifiers only.
fn printable_name(name: &str) -> String {
    if !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        format!("`{name}`")
    } else {
        "(a name that is not a plain identifier)".to_string()
    }
}
