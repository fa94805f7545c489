//! The pipeline: a Lambda Kinesis batch (or raw change records) → published events, dead letters,
//! checkpoints and the batch item failures Lambda retries.
//!
//! Per shard:
//!
//! 1. load the shard's checkpoint (a failure reports every record of the shard: `STATE_ERROR`);
//! 2. decode the records a window at a time (max(100, 10 × `PUBLISH_CONCURRENCY`) entries, a
//!    whole number of requests): base64, KPL, format, validation, projection, redaction, entry;
//!    records at or below the checkpoint (and repeated positions) are skipped. The next window
//!    is decoded while the requests before it are in flight, as soon as fewer than
//!    `PUBLISH_CONCURRENCY` requests wait to start;
//! 3. a window's non-retryable failures (`PARSE_ERROR`, `VALIDATION_ERROR`, `ENTRY_TOO_LARGE`)
//!    are dead-lettered while requests are in flight; a retryable one (`TRANSFORMATION_ERROR`)
//!    is reported;
//! 4. a window's entries are planned into requests ([`crate::plan`]) that join one queue for the
//!    shard. A request starts as soon as fewer than `PUBLISH_CONCURRENCY` are in flight and the
//!    requests it waits for ([`crate::plan::Waits`]: the earlier changes of its rows, its
//!    table's TRUNCATE — in its window or an earlier one) are answered; so requests of
//!    successive windows are in flight together, and no window waits for the previous one's
//!    slowest request. An entry EventBridge rejects is dead-lettered (`EVENTBRIDGE_ERROR`), one
//!    still failing after the publisher's retries is reported;
//! 5. the checkpoint moves past the records resolved so far, in order (published, acknowledged,
//!    skipped or dead-lettered, with everything before them): one write in flight at a time
//!    (so it only moves forward), started once a window's worth of records more are resolved,
//!    answered while requests are in flight; the batch ends with every answer applied and a
//!    final write, with the caller's per-shard `settled` (the Lambda's state item) in flight
//!    beside it. A write that fails reports every record after the checkpoint written before
//!    it, including records published meanwhile (the duplicate window of docs/reliability.md:
//!    republished on the retry with the same ids).
//!
//! Windows keep a large batch's entries from all being held at once (at most the requests in
//! flight and about two windows of queued ones); they change nothing about order, which the
//! waits keep.
//!
//! A reported record is reported together with every later record of its shard in the batch
//! (Lambda resumes from the lowest reported sequence number, so per-key order holds); requests
//! not started when it is known are not sent, and later records are then not published in this
//! invocation (requests already in flight may publish some: the duplicate window). A dead letter
//! that cannot be written makes its record reported: a record is never dropped.
//!
//! The parts, by idea, without an import cycle (`fields`, `input` and `report` import no sibling;
//! `unit` imports `input`; `stages` imports `fields`, `input`, `unit`; `settle` imports those and
//! `stages`; none imports this module, except the `tests`):
//! [`report`] (what a batch reports), `input` (the one adapter from the kinds of records to the
//! pipeline's inputs), `unit` (a user record in flight), `stages` (the per-record stage chain),
//! `settle` (publishing, dead letters, checkpoints) and `fields` (the record's tracing fields).

mod fields;
mod input;
pub mod report;
mod settle;
mod stages;
#[cfg(test)]
mod tests;
mod unit;

pub use report::{BatchReport, Counts, Disposition, RecordOutcome, ShardProgress};

use crate::config::PipelineConfig;
use crate::decode::{LenientKinesisEvent, RawInput, ShardHasher};
use crate::error::ErrorCode;
use crate::plan::PlanLimits;
use crate::ports::{CheckpointKey, CheckpointStore, DeadLetterSink, Publisher};
use crate::sequence::Position;
use aws_lambda_events::event::kinesis::KinesisEvent;
use fields::record_event;
use futures_util::future::join;
use input::{Input, Source};
use report::push_failure;
use settle::{Ports, Settling};
use stages::{Decoding, ShardContext, Stages};
use std::future::Future;
use std::sync::Arc;
use unit::{State, Unit};

/// Entries a shard's window holds before it is planned and published (rounded up to whole
/// requests; see the [module docs](self)). A Lambda batch of the template's default
/// size (100 records) is one window; a larger one is taken in windows of this size, so that its
/// entries are published while they are still in the cache and a batch's memory is bounded by
/// the window (docs/benchmarks.md, "What changed", windows).
const WINDOW_ENTRIES: usize = 100;

/// The pipeline core, generic over its ports. See the [module docs](self).
pub struct Pipeline<P: Publisher, C: CheckpointStore, D: DeadLetterSink> {
    stages: Stages,
    publisher: P,
    checkpoints: C,
    dead_letters: D,
    limits: PlanLimits,
}

impl<P: Publisher, C: CheckpointStore, D: DeadLetterSink> std::fmt::Debug for Pipeline<P, C, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("config", &self.stages.config)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher, C: CheckpointStore, D: DeadLetterSink> Pipeline<P, C, D> {
    /// A pipeline with this configuration and these ports.
    pub fn new(config: PipelineConfig, publisher: P, checkpoints: C, dead_letters: D) -> Self {
        let limits = PlanLimits {
            max_entries: config.entries_per_request(),
            max_request_bytes: config.max_request_size(),
        };
        Pipeline {
            stages: Stages::new(config),
            publisher,
            checkpoints,
            dead_letters,
            limits,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.stages.config
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
        self.process_records(&event.records, processor, &nothing)
            .await
    }

    /// Same as [`Self::process_kinesis_event`] for an event read with [`LenientKinesisEvent`]:
    /// a record whose `data` is not valid base64 is that record's `PARSE_ERROR`.
    pub async fn process_lenient_event(
        &self,
        event: &LenientKinesisEvent,
        processor: &str,
    ) -> BatchReport {
        self.process_records(&event.records, processor, &nothing)
            .await
    }

    /// [`Self::process_kinesis_event`], calling `settled` once per shard whose records are
    /// settled with what the batch did to it (when it handled any record), beside the shard's
    /// final checkpoint write: the Lambda handler records the state item there, so that the two
    /// writes cost one round trip. `settled` sees the shard as it stands before that write is
    /// answered: if the write fails, the records after the previous checkpoint are reported
    /// although `settled` counted them (they were published; the retry publishes them again).
    pub async fn process_kinesis_event_with<F, Fut>(
        &self,
        event: &KinesisEvent,
        processor: &str,
        settled: &F,
    ) -> BatchReport
    where
        F: Fn(ShardProgress) -> Fut + Sync,
        Fut: Future<Output = ()> + Send,
    {
        self.process_records(&event.records, processor, settled)
            .await
    }

    /// [`Self::process_lenient_event`] with `settled` as in [`Self::process_kinesis_event_with`].
    pub async fn process_lenient_event_with<F, Fut>(
        &self,
        event: &LenientKinesisEvent,
        processor: &str,
        settled: &F,
    ) -> BatchReport
    where
        F: Fn(ShardProgress) -> Fut + Sync,
        Fut: Future<Output = ()> + Send,
    {
        self.process_records(&event.records, processor, settled)
            .await
    }

    /// Same for raw change records (local mode JSON lines), with their synthetic
    /// stream/shard/sequence. Their event id is over their bytes.
    pub async fn process_raw_records(
        &self,
        records: Vec<RawInput>,
        processor: &str,
    ) -> BatchReport {
        self.process_records(&records, processor, &nothing).await
    }

    /// Every kind of record through the one adapter ([`Source`]), shard by shard.
    async fn process_records<R: Source, F, Fut>(
        &self,
        records: &[R],
        processor: &str,
        settled: &F,
    ) -> BatchReport
    where
        F: Fn(ShardProgress) -> Fut + Sync,
        Fut: Future<Output = ()> + Send,
    {
        let mut report = BatchReport::default();
        let inputs = records.iter().map(Source::input).collect();
        for inputs in input::by_shard(inputs).iter().filter(|g| !g.is_empty()) {
            let (stream, shard) = (
                Arc::<str>::from(inputs[0].stream),
                Arc::<str>::from(inputs[0].shard),
            );
            let key = CheckpointKey {
                processor: processor.to_string(),
                stream: stream.to_string(),
                shard: shard.to_string(),
            };
            self.process_shard(&key, (&stream, &shard), inputs, settled, &mut report)
                .await;
        }
        report
    }

    async fn process_shard<F, Fut>(
        &self,
        key: &CheckpointKey,
        (stream, shard): (&Arc<str>, &Arc<str>),
        inputs: &[Input<'_>],
        settled: &F,
        report: &mut BatchReport,
    ) where
        F: Fn(ShardProgress) -> Fut + Sync,
        Fut: Future<Output = ()> + Send,
    {
        let config = &self.stages.config;
        // A window ends on a whole number of full requests.
        let per_request = self.limits.max_entries.max(1);
        // Enough requests for every one in flight together to be busy (unless configured).
        let window_entries = config
            .window_entries()
            .unwrap_or_else(|| WINDOW_ENTRIES.max(per_request * config.publish_concurrency()));
        let window_full = |d: &Decoding| {
            d.prepared.len() >= window_entries && d.prepared.len().is_multiple_of(per_request)
        };
        let hasher = ShardHasher::new(&key.stream, &key.shard);

        // The shard's records are decoded a window at a time (CPU only) while earlier windows'
        // requests are in flight; each window's entries are planned into the shard's queue of
        // requests. A window holds about `WINDOW_ENTRIES` entries (at least), so a large batch's
        // entries (each with its detail) are never all held at once: memory stays bounded by
        // the requests in flight and about two windows queued, not by the batch.
        //
        // The first window is decoded while the checkpoint is loaded, as if there were none; it
        // is kept when the checkpoint is below each of its records (every batch but a retry of
        // one already partly checkpointed), and decoded again against the checkpoint otherwise.
        let mut decoding = Decoding::default();
        decoding.units.reserve(inputs.len());
        let (loaded, first_end) = join(self.checkpoints.load(key), async {
            let unknown = ShardContext {
                stream,
                shard,
                hasher: hasher.clone(),
                checkpoint: None,
            };
            let mut next = 0;
            while next < inputs.len() && !window_full(&decoding) {
                self.stages.expand(next, inputs, &unknown, &mut decoding);
                next += 1;
            }
            next
        })
        .await;
        let checkpoint = match loaded {
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
        let below_every_record = checkpoint.as_ref().is_none_or(|c| {
            inputs[..first_end]
                .iter()
                .all(|i| i.sequence.as_ref().is_ok_and(|s| *s > c.sequence))
        });
        let mut next = first_end;
        if !below_every_record {
            decoding = Decoding::default();
            decoding.units.reserve(inputs.len());
            next = 0;
        }
        let shard_context = ShardContext {
            stream,
            shard,
            hasher,
            checkpoint: checkpoint.as_ref(),
        };
        let concurrency = config.publish_concurrency().max(1);
        let ports = Ports {
            publisher: &self.publisher,
            checkpoints: &self.checkpoints,
            dead_letters: &self.dead_letters,
            limits: self.limits,
            concurrency,
            checkpoint_every: window_entries,
            ahead: config.ahead_windows().max(1) * window_entries,
        };
        let mut settling = Settling::new(ports, key, shard, checkpoint.clone());
        if next > 0 {
            settling.admit(inputs, 0, &mut decoding);
        }
        loop {
            // A checkpoint write as soon as a window's worth of units more are resolved in order.
            settling.checkpoint_if_due(&decoding.units, inputs, false);
            settling.start_ready();
            // The next window is decoded while requests are in flight, as soon as fewer than a
            // round of requests wait to start.
            if next < inputs.len() && settling.queued() < concurrency {
                settling.send_started(&mut decoding.units, inputs);
                let window_start = decoding.units.len();
                while next < inputs.len() && !window_full(&decoding) {
                    self.stages
                        .expand(next, inputs, &shard_context, &mut decoding);
                    next += 1;
                }
                settling.admit(inputs, window_start, &mut decoding);
                continue;
            }
            if !settling.next_answer(&mut decoding.units, inputs).await
                && next >= inputs.len()
                && settling.queued() == 0
            {
                break;
            }
        }
        // The shard's progress goes out beside the final checkpoint write.
        settling
            .finish(&mut decoding.units, inputs, |units, min_failed| {
                let progress = settled_progress(shard, units, inputs, min_failed);
                async move {
                    if let Some(progress) = progress {
                        settled(progress).await;
                    }
                }
            })
            .await;
        report.counts.dropped_columns += decoding.dropped_columns;
        report.counts.put_events_requests += settling.put_events_requests;
        let (units, min_failed) = (decoding.units, settling.min_failed);

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
}

/// A [`Pipeline::process_records`] caller that does nothing when a shard is settled.
async fn nothing(_: ShardProgress) {}

/// What the batch did to a shard whose units are settled (every answer applied), as
/// [`report::shard_progress`] reads it from the report: the units before the first reported one,
/// their largest position and how many of them were handled (not skipped); `None` when none was.
fn settled_progress(
    shard: &str,
    units: &[Unit],
    inputs: &[Input<'_>],
    min_failed: usize,
) -> Option<ShardProgress> {
    let mut last = None;
    let mut handled = 0;
    for u in units.iter().take(min_failed) {
        if !u.state.resolved() {
            break;
        }
        if let Some(p) = u.at(inputs) {
            if last.is_none_or(|l| p > l) {
                last = Some(p);
            }
        }
        if !matches!(u.state, State::Skipped) {
            handled += 1;
        }
    }
    let last = Position::from_borrowed(last?);
    (handled > 0).then(|| ShardProgress {
        shard: shard.to_string(),
        last,
        handled,
    })
}
