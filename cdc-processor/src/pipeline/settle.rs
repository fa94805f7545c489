//! A shard's entries published, its failures dead-lettered and its checkpoint moved: a window at a
//! time (see the [pipeline's docs](super)).

use super::fields::record_event;
use super::input::Input;
use super::stages::Decoding;
use super::unit::{State, Unit};
use crate::error::{ErrorCode, RecordError};
use crate::plan::{self, PlanLimits};
use crate::ports::{
    Advance, CheckpointKey, CheckpointStore, DeadLetter, DeadLetterError, DeadLetterSink,
    KinesisPointer, PreparedEntry, PublishOutcome, Publisher, SinkError, StateError,
};
use crate::sequence::Position;
use crate::text::ShortStr;
use futures_util::future::{join3, BoxFuture};
use futures_util::stream::{FuturesUnordered, StreamExt};

/// The ports a shard settles through, and the publishing limits.
pub(super) struct Ports<'a, P, C, D> {
    pub publisher: &'a P,
    pub checkpoints: &'a C,
    pub dead_letters: &'a D,
    pub limits: PlanLimits,
    /// Requests in flight together, at most.
    pub concurrency: usize,
}

/// A shard's settling so far.
pub(super) struct Settling<'a> {
    pub key: &'a CheckpointKey,
    pub shard: &'a ShortStr,
    /// The first unit reported to Lambda; it and every later unit are reported.
    pub min_failed: usize,
    pub prefix: Prefix,
    /// The checkpoint write of the last settled window, answered while the next window's
    /// requests are in flight.
    pub checkpoint_write: Option<CheckpointWrite<'a>>,
    /// The window's entries as they are taken into requests (kept for its memory).
    slots: Vec<Option<PreparedEntry>>,
    /// PutEvents requests made.
    pub put_events_requests: u64,
}

impl<'a> Settling<'a> {
    /// Nothing settled yet; the checkpoint stands at `durable`.
    pub fn new(key: &'a CheckpointKey, shard: &'a ShortStr, durable: Option<Position>) -> Self {
        Settling {
            key,
            shard,
            min_failed: usize::MAX,
            prefix: Prefix {
                end: 0,
                max: None,
                durable,
            },
            checkpoint_write: None,
            slots: Vec::new(),
            put_events_requests: 0,
        }
    }

    /// Ends one window of a shard's units (`units[window_start..]`, whose entries are
    /// `decoding.prepared`): retryable failures reported, the other failures before the first
    /// reported unit dead-lettered while the entries before it are published in the plan's
    /// requests and the previous window's checkpoint write is answered; then this window's
    /// checkpoint write started (left in `checkpoint_write`).
    pub async fn settle_window<P: Publisher, C: CheckpointStore, D: DeadLetterSink>(
        &mut self,
        ports: &Ports<'a, P, C, D>,
        inputs: &[Input<'_>],
        window_start: usize,
        decoding: &mut Decoding,
    ) {
        let Settling {
            key,
            shard,
            min_failed,
            prefix,
            checkpoint_write,
            slots: kept_slots,
            put_events_requests: requests_made,
        } = self;
        let (key, shard) = (*key, *shard);
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
        let dead_letters = ports.dead_letters;
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
        let requests = plan::plan(&decoding.prepared, &ports.limits);
        let waits = plan::waits(&decoding.prepared, &requests);
        // Both vectors keep their memory for the next window.
        let mut slots = std::mem::take(kept_slots);
        slots.extend(decoding.prepared.drain(..).map(Some));
        // Requests start in plan order, up to `publish_concurrency` in flight, each once the
        // requests it waits for (earlier changes of its keys, its table's TRUNCATE) are answered.
        let concurrency = ports.concurrency.max(1);
        let mut answered = vec![false; requests.len()];
        let mut started = vec![false; requests.len()];
        // Requests before it are all started.
        let mut first_unstarted = 0;
        let mut in_flight = FuturesUnordered::new();

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
                    let publisher = ports.publisher;
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
                dead_letter(
                    ports.dead_letters,
                    &rejected,
                    inputs,
                    key,
                    units,
                    min_failed,
                )
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
        *kept_slots = slots;
        // One checkpoint write per window, past the records resolved in order so far (every
        // request and dead letter of the window answered, the previous write applied); it is
        // answered while the next window publishes.
        if let Some(target) = checkpoint_target(units, inputs, prefix, *min_failed) {
            *checkpoint_write = Some(start_checkpoint(ports.checkpoints, key, target));
        }
    }

    /// After the last window: its checkpoint write answered, then the checkpoint moved past the
    /// resolved prefix of the shard's units (and that write answered).
    pub async fn finish<C: CheckpointStore>(
        &mut self,
        checkpoints: &'a C,
        units: &[Unit],
        inputs: &[Input<'_>],
    ) {
        if let Some(write) = self.checkpoint_write.take() {
            let done = write.await;
            checkpoint_written(
                self.key,
                units,
                inputs,
                &mut self.prefix,
                &mut self.min_failed,
                done,
            );
        }
        if let Some(target) = checkpoint_target(units, inputs, &mut self.prefix, self.min_failed) {
            let done = start_checkpoint(checkpoints, self.key, target).await;
            checkpoint_written(
                self.key,
                units,
                inputs,
                &mut self.prefix,
                &mut self.min_failed,
                done,
            );
        }
    }
}

/// Sends the dead letters of these units (in `State::Error`); a unit whose letter cannot be
/// written is reported.
async fn dead_letter<D: DeadLetterSink>(
    dead_letters: &D,
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
    let results = dead_letters.send(&letters).await;
    letters_sent(failing, results, inputs, key, units, min_failed);
}

/// A checkpoint write of `target`, to be awaited (and its result given to
/// [`checkpoint_written`]) before the next one starts.
fn start_checkpoint<'a, C: CheckpointStore>(
    checkpoints: &'a C,
    key: &'a CheckpointKey,
    target: Position,
) -> CheckpointWrite<'a> {
    Box::pin(async move {
        let result = checkpoints.advance(key, &target).await;
        (target, result)
    })
}

/// A checkpoint write in flight: the position it writes, and its result.
pub(super) type CheckpointWrite<'a> = BoxFuture<'a, (Position, Result<Advance, StateError>)>;

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
                original_event: input.original.original_json(),
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
pub(super) struct Prefix {
    end: usize,
    /// The unit with the largest position in the prefix.
    max: Option<usize>,
    durable: Option<Position>,
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
