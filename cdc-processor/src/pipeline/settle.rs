//! A shard's entries published, its failures dead-lettered and its checkpoint moved, continuously
//! (see the [pipeline's docs](super)): the decoded windows' requests wait in a queue and start as
//! soon as a slot is free and the requests they wait for ([`plan::Waits`]) are answered, whatever
//! window they came from; dead letters and checkpoint writes are in flight beside them, and every
//! answer is applied as it comes.

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
use futures_util::future::{join, BoxFuture, FutureExt};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

/// The ports a shard settles through, and the publishing limits.
pub(super) struct Ports<'a, P, C, D> {
    pub publisher: &'a P,
    pub checkpoints: &'a C,
    pub dead_letters: &'a D,
    pub limits: PlanLimits,
    /// Requests in flight together, at most.
    pub concurrency: usize,
    /// Units resolved in order between two checkpoint writes, at least (the window's size).
    pub checkpoint_every: usize,
    /// A request starts only when its first unit is less than this many units past the
    /// resolved prefix (two windows): a request that takes long (retries, a slow answer) holds
    /// back publishing that far, which bounds the duplicate window and the checkpoint's lag.
    pub ahead: usize,
}

/// An answered call.
enum Answer {
    /// A request (by its number) of these units was answered with these outcomes.
    Published {
        request: usize,
        units: Vec<usize>,
        outcomes: Vec<PublishOutcome>,
    },
    /// The dead letters of these units were answered.
    Letters {
        units: Vec<usize>,
        results: Vec<Result<(), SinkError>>,
    },
    /// A checkpoint write of this position was answered.
    Checkpoint(Position, Result<Advance, StateError>),
}

/// A planned request not started yet.
struct Queued {
    /// Its number among the shard's requests (in plan order, window after window).
    number: usize,
    entries: Vec<PreparedEntry>,
    /// The unit of each entry.
    units: Vec<usize>,
    /// The numbers of the requests it waits for.
    waits: Vec<usize>,
}

/// A shard's settling so far.
pub(super) struct Settling<'a, P, C, D> {
    ports: Ports<'a, P, C, D>,
    key: &'a CheckpointKey,
    shard: &'a Arc<str>,
    /// The first unit reported to Lambda; it and every later unit are reported.
    pub min_failed: usize,
    prefix: Prefix,
    waits: plan::Waits,
    /// Requests planned and not started, in plan order.
    queued: VecDeque<Queued>,
    /// Per request number: answered (or started without entries).
    answered: Vec<bool>,
    /// Requests, dead letters and the checkpoint write in flight.
    in_flight: FuturesUnordered<BoxFuture<'a, Answer>>,
    requests_in_flight: usize,
    checkpoint_in_flight: bool,
    /// The resolved prefix's end when the last checkpoint write started.
    checkpointed_end: usize,
    /// PutEvents requests made.
    pub put_events_requests: u64,
}

impl<'a, P: Publisher, C: CheckpointStore, D: DeadLetterSink> Settling<'a, P, C, D> {
    /// Nothing settled yet; the checkpoint stands at `durable`.
    pub fn new(
        ports: Ports<'a, P, C, D>,
        key: &'a CheckpointKey,
        shard: &'a Arc<str>,
        durable: Option<Position>,
    ) -> Self {
        Settling {
            ports,
            key,
            shard,
            min_failed: usize::MAX,
            prefix: Prefix {
                end: 0,
                max: None,
                durable,
            },
            waits: plan::Waits::default(),
            queued: VecDeque::new(),
            answered: Vec::new(),
            in_flight: FuturesUnordered::new(),
            requests_in_flight: 0,
            checkpoint_in_flight: false,
            checkpointed_end: 0,
            put_events_requests: 0,
        }
    }

    /// Requests planned and not started.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// Takes in one decoded window (`units[window_start..]`, whose entries are
    /// `decoding.prepared`): its retryable failures reported, the dead letters of its other
    /// failures before the first reported unit sent, and the entries before it planned into
    /// queued requests.
    pub fn admit(&mut self, inputs: &[Input<'_>], window_start: usize, decoding: &mut Decoding) {
        let shard = self.shard;
        let units = &mut decoding.units;
        for (i, u) in units.iter_mut().enumerate().skip(window_start) {
            if let State::Error(e) = &u.state {
                if e.code.is_retryable() {
                    let reason = e.to_string();
                    let sequence = inputs[u.input].raw_sequence;
                    record_event!(warn, shard, sequence, u, code = %e.code, error = %e.message, "retryable failure");
                    u.state = State::Failed(reason);
                    self.min_failed = self.min_failed.min(i);
                }
            }
        }

        // Dead letters of the non-retryable failures before the first reported unit, sent while
        // requests are in flight (a letter that could not be written reports its unit and every
        // later one, including any published meanwhile — the duplicate window of
        // docs/reliability.md).
        let failing: Vec<usize> = (window_start..units.len().min(self.min_failed))
            .filter(|&i| matches!(units[i].state, State::Error(_)))
            .collect();
        self.send_letters(failing, inputs, units);

        // Entries were prepared in unit order, so those of the units before the first reported
        // one are a prefix of them.
        let mut entry_units = Vec::with_capacity(decoding.prepared.len());
        for (i, u) in units
            .iter_mut()
            .enumerate()
            .take(self.min_failed)
            .skip(window_start)
        {
            if let State::Entry(k) = u.state {
                debug_assert_eq!(k, entry_units.len(), "entries are prepared in unit order");
                u.state = State::Pending;
                entry_units.push(i);
            }
        }
        decoding.prepared.truncate(entry_units.len());
        let requests = plan::plan(&decoding.prepared, &self.ports.limits);
        let waits = self.waits.add(&decoding.prepared, &requests);
        let mut slots: Vec<Option<PreparedEntry>> = decoding.prepared.drain(..).map(Some).collect();
        for (request, waits) in requests.into_iter().zip(waits) {
            let number = self.answered.len();
            self.answered.push(false);
            let mut queued = Queued {
                number,
                entries: Vec::with_capacity(request.len()),
                units: Vec::with_capacity(request.len()),
                waits,
            };
            for k in request {
                queued
                    .entries
                    .push(slots[k].take().expect("each entry is planned once"));
                queued.units.push(entry_units[k]);
            }
            self.queued.push_back(queued);
        }
    }

    /// Starts the queued requests whose waits are answered, in plan order, while fewer than
    /// `concurrency` are in flight (a request whose waits are answered starts even if an earlier
    /// one still waits).
    pub fn start_ready(&mut self) {
        let mut i = 0;
        let horizon = self.prefix.end.saturating_add(self.ports.ahead.max(1));
        while i < self.queued.len() && self.requests_in_flight < self.ports.concurrency.max(1) {
            if self.queued[i]
                .units
                .first()
                .is_some_and(|&u| u >= self.min_failed)
            {
                // Every unit of it is behind a reported one: never sent.
                let number = self.queued.remove(i).expect("a queued request").number;
                self.answered[number] = true;
                continue;
            }
            if self.queued[i].units.first().is_some_and(|&u| u >= horizon) {
                // Requests are queued in unit order: every later one is past the horizon too.
                break;
            }
            if !self.queued[i].waits.iter().all(|&w| self.answered[w]) {
                i += 1;
                continue;
            }
            let Queued {
                number,
                mut entries,
                mut units,
                ..
            } = self.queued.remove(i).expect("a queued request");
            // Behind a reported unit (known when the request starts): not published.
            let min_failed = self.min_failed;
            if units.iter().any(|&u| u >= min_failed) {
                (entries, units) = entries
                    .into_iter()
                    .zip(units)
                    .filter(|(_, u)| *u < min_failed)
                    .unzip();
            }
            if entries.is_empty() {
                self.answered[number] = true;
                continue;
            }
            let publisher = self.ports.publisher;
            self.requests_in_flight += 1;
            self.in_flight.push(Box::pin(async move {
                let outcomes = publisher.publish(&entries).await;
                Answer::Published {
                    request: number,
                    units,
                    outcomes,
                }
            }));
        }
    }

    /// Starts a checkpoint write past the units resolved in order so far when none is in flight
    /// and at least `checkpoint_every` more units are resolved than at the last one (`force`:
    /// any number more).
    ///
    /// The resolved prefix (which bounds how far ahead requests start) is brought up to date
    /// either way.
    pub fn checkpoint_if_due(&mut self, units: &[Unit], inputs: &[Input<'_>], force: bool) {
        let target = checkpoint_target(units, inputs, &mut self.prefix, self.min_failed);
        if self.checkpoint_in_flight {
            return;
        }
        let Some(target) = target else {
            return;
        };
        if !force && self.prefix.end < self.checkpointed_end + self.ports.checkpoint_every.max(1) {
            return;
        }
        self.checkpointed_end = self.prefix.end;
        self.checkpoint_in_flight = true;
        let (checkpoints, key) = (self.ports.checkpoints, self.key);
        self.in_flight.push(Box::pin(async move {
            let result = checkpoints.advance(key, &target).await;
            Answer::Checkpoint(target, result)
        }));
    }

    /// Gives the calls just started their first poll, so that they go out, and applies the
    /// answers already in, without waiting: called before CPU work (decoding the next window),
    /// so that the work overlaps the calls instead of delaying them.
    pub fn send_started(&mut self, units: &mut [Unit], inputs: &[Input<'_>]) {
        while let Some(Some(answer)) = self.in_flight.next().now_or_never() {
            self.apply(answer, units, inputs);
        }
    }

    /// Waits for the next answer and applies it; `false` when nothing is in flight.
    pub async fn next_answer(&mut self, units: &mut [Unit], inputs: &[Input<'_>]) -> bool {
        let Some(answer) = self.in_flight.next().await else {
            return false;
        };
        self.apply(answer, units, inputs);
        true
    }

    /// Applies an answer to the units, the prefix and the first reported unit.
    fn apply(&mut self, answer: Answer, units: &mut [Unit], inputs: &[Input<'_>]) {
        match answer {
            Answer::Published {
                request,
                units: batch_units,
                outcomes,
            } => {
                self.requests_in_flight -= 1;
                self.answered[request] = true;
                self.put_events_requests += 1;
                let rejected = self.published(batch_units, outcomes, units, inputs);
                self.send_letters(rejected, inputs, units);
            }
            Answer::Letters {
                units: failing,
                results,
            } => letters_sent(
                &failing,
                results,
                inputs,
                self.key,
                units,
                &mut self.min_failed,
            ),
            Answer::Checkpoint(target, result) => {
                self.checkpoint_in_flight = false;
                checkpoint_written(
                    self.key,
                    units,
                    inputs,
                    &mut self.prefix,
                    &mut self.min_failed,
                    (target, result),
                );
            }
        }
    }

    /// Every answer applied, then the checkpoint moved past the resolved prefix of the shard's
    /// units (and that write answered) with `beside` in flight beside it: a future made from the
    /// settled units and the first reported one (the state item's update, in the Lambda).
    pub async fn finish<F: Future<Output = ()>>(
        &mut self,
        units: &mut [Unit],
        inputs: &[Input<'_>],
        beside: impl FnOnce(&[Unit], usize) -> F,
    ) {
        debug_assert!(self.queued.is_empty(), "every request started");
        while self.next_answer(units, inputs).await {}
        let beside = beside(units, self.min_failed);
        self.checkpoint_if_due(units, inputs, true);
        join(
            async { while self.next_answer(units, inputs).await {} },
            beside,
        )
        .await;
    }

    /// Applies a request's outcomes to its units; returns the units whose entry was rejected.
    fn published(
        &mut self,
        batch_units: Vec<usize>,
        outcomes: Vec<PublishOutcome>,
        units: &mut [Unit],
        inputs: &[Input<'_>],
    ) -> Vec<usize> {
        let shard = self.shard;
        let mut rejected = Vec::new();
        let count = batch_units.len();
        for (j, u) in batch_units.into_iter().enumerate() {
            let outcome = outcomes
                .get(j)
                .cloned()
                .unwrap_or_else(|| PublishOutcome::Failed {
                    code: "MissingOutcome".into(),
                    message: format!(
                        "the publisher returned {} outcomes for {count} entries",
                        outcomes.len(),
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
                    self.min_failed = self.min_failed.min(u);
                }
            }
        }
        rejected
    }

    /// Sends the dead letters of these units (in `State::Error`); applied by
    /// [`Self::next_answer`] (a unit whose letter cannot be written is reported).
    fn send_letters(&mut self, failing: Vec<usize>, inputs: &[Input<'_>], units: &[Unit]) {
        if failing.is_empty() {
            return;
        }
        let letters = letters_for(&failing, inputs, self.key, units);
        let dead_letters = self.ports.dead_letters;
        self.in_flight.push(Box::pin(async move {
            let results = dead_letters.send(&letters).await;
            Answer::Letters {
                units: failing,
                results,
            }
        }));
    }
}

/// The dead letters of these units (in `State::Error`), in their order.
fn letters_for(
    failing: &[usize],
    inputs: &[Input<'_>],
    key: &CheckpointKey,
    units: &[Unit],
) -> Vec<DeadLetter> {
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
struct Prefix {
    end: usize,
    /// The unit with the largest position in the prefix.
    max: Option<usize>,
    durable: Option<Position>,
}

fn stage_of(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ParseError => "decode",
        ErrorCode::ValidationError => "validate",
        ErrorCode::EventbridgeError => "publish",
        ErrorCode::EntryTooLarge => "event",
        ErrorCode::TransformationError => "transform",
        _ => "state",
    }
}
