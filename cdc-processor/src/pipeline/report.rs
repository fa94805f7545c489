//! What a batch's processing reports: counts, and how each user record ended.

use crate::decode::EventId;
use crate::error::ErrorCode;
use crate::formats::{AckReason, SourceFormat};
use crate::sequence::Position;
use aws_lambda_events::event::streams::KinesisEventResponse;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

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
    pub shard: Arc<str>,
    /// Kinesis sequence number (as received).
    pub sequence_number: Arc<str>,
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

/// Adds a sequence number to the batch item failures, once.
pub(super) fn push_failure(report: &mut BatchReport, sequence: &str) {
    if report.batch_item_failures.last().map(String::as_str) != Some(sequence)
        && !report.batch_item_failures.iter().any(|s| s == sequence)
    {
        report.batch_item_failures.push(sequence.to_string());
    }
}

/// What a batch did to one shard, for the state item (`aws::lambda` records it once per shard and
/// batch, beside the shard's final checkpoint write).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardProgress {
    /// The shard id.
    pub shard: String,
    /// The last record of the shard handled in this batch.
    pub last: Position,
    /// Records of the shard handled (published, acknowledged or dead-lettered) in this batch;
    /// records skipped at the checkpoint were counted when first handled.
    pub handled: u64,
}

/// Per shard: the records before the first one reported for retry (Lambda resumes there, so the
/// ones after it are not done).
pub fn shard_progress(report: &BatchReport) -> Vec<ShardProgress> {
    // shard -> (last position, handled, stopped)
    let mut out: BTreeMap<&str, (Option<Position>, u64, bool)> = BTreeMap::new();
    for r in &report.records {
        let e = out.entry(&*r.shard).or_insert((None, 0, false));
        if e.2 {
            continue;
        }
        let counted = match r.disposition {
            Disposition::Failed { .. } => {
                e.2 = true;
                continue;
            }
            Disposition::Skipped => false,
            _ => true,
        };
        if let Ok(sequence) = r.sequence_number.parse() {
            let p = Position {
                sequence,
                sub_sequence: r.sub_sequence_number,
            };
            if e.0.as_ref().is_none_or(|last| &p > last) {
                e.0 = Some(p);
            }
        }
        if counted {
            e.1 += 1;
        }
    }
    out.into_iter()
        .filter_map(|(shard, (last, handled, _))| {
            last.map(|last| ShardProgress {
                shard: shard.to_string(),
                last,
                handled,
            })
        })
        .filter(|p| p.handled > 0)
        .collect()
}
