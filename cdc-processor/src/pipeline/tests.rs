//! The continuous pipeline with ports that take time to answer (the in-memory ports of
//! `tests/pipeline.rs` answer at once, so nothing is ever in flight together there): requests of
//! successive windows in flight together, a row's later change never in flight beside its earlier
//! one, checkpoint writes only over published records and at most one per window, and a failure
//! stopping what had not started.

use super::report::{shard_progress, ShardProgress};
use super::Pipeline;
use crate::config::{PipelineConfig, Redaction};
use crate::ports::{
    Advance, CheckpointKey, CheckpointStore, PreparedEntry, PublishOutcome, Publisher, StateError,
};
use crate::sequence::Position;
use crate::testing::MemoryDeadLetterSink;
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const STREAM: &str = "arn:aws:kinesis:eu-west-1:123456789012:stream/coredb-cdc";
const SHARD: &str = "shardId-000000000001";
const KEY: &[u8] = b"test-hmac-key-0123456789abcdef-0123";

fn seq(i: usize) -> String {
    format!("4959033827149025660855969253836157109592157598913658{i:04}")
}

/// An UPDATE of the users row `id` named `name` (CoreDB trigger format).
fn user(id: usize, name: &str) -> Vec<u8> {
    let mut row = Value::Object(testkit::example_row("users"));
    row["id"] = json!(format!("00000000-0000-4000-8000-{id:012}"));
    row["name"] = json!(name);
    json!({"table": "users", "operation": "UPDATE", "timestamp": "2026-11-25T10:14:31Z",
           "transaction_id": "txn-1", "before": null, "after": row})
    .to_string()
    .into_bytes()
}

fn event(records: Vec<Vec<u8>>) -> KinesisEvent {
    let mut e = KinesisEvent::default();
    e.records = records
        .into_iter()
        .enumerate()
        .map(|(i, data)| {
            let mut r = KinesisEventRecord::default();
            r.event_id = Some(format!("{SHARD}:{}", seq(i)));
            r.event_source_arn = Some(STREAM.to_string());
            r.kinesis.sequence_number = seq(i);
            r.kinesis.partition_key = format!("pk-{i}");
            r.kinesis.data.0 = data;
            r
        })
        .collect();
    e
}

fn name_of(e: &PreparedEntry) -> String {
    let v: Value = serde_json::from_str(&e.detail).unwrap();
    v["after"]["name"].as_str().unwrap_or("").to_string()
}

/// What the slow publisher saw.
#[derive(Default)]
struct Seen {
    /// Names in flight now.
    in_flight: BTreeSet<String>,
    /// Each call's names, when it started, with the names in flight beside it.
    started: Vec<(Vec<String>, BTreeSet<String>)>,
    /// Names published, in the order of the answers.
    published: Vec<String>,
    peak: usize,
    calls_in_flight: usize,
}

/// A publisher whose calls are answered after `delay` to 2.5 × `delay`; the entry named `fail`
/// fails (after its retries, as a throttled entry does).
struct SlowPublisher {
    delay: Duration,
    fail: Option<&'static str>,
    slow: Option<&'static str>,
    seen: Arc<Mutex<Seen>>,
}

impl Publisher for SlowPublisher {
    fn publish(
        &self,
        entries: &[PreparedEntry],
    ) -> impl Future<Output = Vec<PublishOutcome>> + Send {
        let names: Vec<String> = entries.iter().map(name_of).collect();
        // Started when the pipeline calls (its requests go out in that order); answered when the
        // pipeline takes the answer.
        {
            let mut s = self.seen.lock().unwrap();
            let beside = s.in_flight.clone();
            s.started.push((names.clone(), beside));
            s.in_flight.extend(names.iter().cloned());
            s.calls_in_flight += 1;
            s.peak = s.peak.max(s.calls_in_flight);
        }
        // Answers spread over four delays, as network answers are; the entry named `slow` takes
        // 20 delays.
        let calls = self.seen.lock().unwrap().started.len() as u32;
        let mut delay = self.delay + self.delay * (calls % 4) / 2;
        if self
            .slow
            .is_some_and(|slow| names.iter().any(|n| n == slow))
        {
            delay = self.delay * 20;
        }
        let (seen, fail) = (self.seen.clone(), self.fail);
        async move {
            tokio::time::sleep(delay).await;
            let mut s = seen.lock().unwrap();
            s.calls_in_flight -= 1;
            names
                .iter()
                .map(|n| {
                    s.in_flight.remove(n);
                    if Some(n.as_str()) == fail {
                        PublishOutcome::Failed {
                            code: "ThrottlingException".into(),
                            message: "Rate exceeded".into(),
                        }
                    } else {
                        s.published.push(n.clone());
                        PublishOutcome::Published
                    }
                })
                .collect()
        }
    }
}

/// Checkpoints answered after `delay`; every write checks that each record at or below its
/// position was published (names `User <i>` for record `i`) — never a record still in flight.
struct CheckedCheckpoints {
    delay: Duration,
    seen: Arc<Mutex<Seen>>,
    fail: AtomicBool,
    writes: Mutex<Vec<usize>>,
    position: Mutex<Option<Position>>,
    uncovered: AtomicUsize,
}

impl CheckpointStore for CheckedCheckpoints {
    async fn load(&self, _: &CheckpointKey) -> Result<Option<Position>, StateError> {
        Ok(None)
    }

    fn advance(
        &self,
        _: &CheckpointKey,
        to: &Position,
    ) -> impl Future<Output = Result<Advance, StateError>> + Send {
        let to = to.clone();
        async move {
            let record = (0..10_000)
                .find(|&i| seq(i) == to.sequence.as_str())
                .unwrap();
            {
                let s = self.seen.lock().unwrap();
                let published: BTreeSet<&str> = s.published.iter().map(String::as_str).collect();
                let missing = (0..=record)
                    .filter(|i| !published.contains(format!("User {i}").as_str()))
                    .count();
                self.uncovered.fetch_add(missing, Ordering::SeqCst);
            }
            self.writes.lock().unwrap().push(record);
            tokio::time::sleep(self.delay).await;
            if self.fail.load(Ordering::SeqCst) {
                return Err(StateError("injected advance failure".into()));
            }
            *self.position.lock().unwrap() = Some(to);
            Ok(Advance::Moved)
        }
    }
}

type Slow = Pipeline<SlowPublisher, CheckedCheckpoints, MemoryDeadLetterSink>;

/// The `PUBLISH_CONCURRENCY` of the [`slow`] pipelines: the figures below (windows of 160 entries,
/// a two-window bound of 320 records) are set for it, whatever the default.
const CONCURRENCY: usize = 16;
/// A window's entries at [`CONCURRENCY`]: max(100, 10 × concurrency).
const WINDOW: usize = 10 * CONCURRENCY;

fn slow(fail: Option<&'static str>, fail_checkpoints: bool) -> (Slow, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut config = PipelineConfig::new(Redaction::with_key(KEY).unwrap());
    config.set_publish_concurrency(CONCURRENCY);
    let p = Pipeline::new(
        config,
        SlowPublisher {
            delay: Duration::from_millis(60),
            fail,
            slow: None,
            seen: seen.clone(),
        },
        CheckedCheckpoints {
            delay: Duration::from_millis(5),
            seen: seen.clone(),
            fail: AtomicBool::new(fail_checkpoints),
            writes: Mutex::new(Vec::new()),
            position: Mutex::new(None),
            uncovered: AtomicUsize::new(0),
        },
        MemoryDeadLetterSink::new(),
    );
    (p, seen)
}

/// 1,000 distinct rows (windows of 160 entries, 16 requests): requests of the next window
/// start while the previous window's are still in flight, up to 16 at a time, and the
/// checkpoint is written at most once per window plus once at the end, each time only over
/// published records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_of_successive_windows_are_in_flight_together() {
    let (p, seen) = slow(None, false);
    let records = (0..1_000).map(|i| user(i, &format!("User {i}"))).collect();
    let report = p.process_kinesis_event(&event(records), "test").await;
    assert_eq!(report.counts.published, 1_000);
    assert_eq!(report.counts.failed, 0);
    let s = seen.lock().unwrap();
    assert_eq!(s.published.len(), 1_000);
    assert_eq!(
        s.peak, CONCURRENCY,
        "never more requests in flight than PUBLISH_CONCURRENCY"
    );
    // Some request of the second window (records 160..320) started beside one of the first's.
    let window = |n: &str| n["User ".len()..].parse::<usize>().unwrap() / WINDOW;
    let across = s.started.iter().any(|(names, beside)| {
        names.iter().any(|n| window(n) == 1) && beside.iter().any(|n| window(n) == 0)
    });
    assert!(
        across,
        "the next window waited for the previous one's slowest request"
    );
    let writes = p.checkpoints().writes.lock().unwrap().clone();
    assert!(
        (2..=8).contains(&writes.len()),
        "{} checkpoint writes for 1,000 records: {writes:?}",
        writes.len()
    );
    assert!(writes.windows(2).all(|w| w[0] < w[1]), "{writes:?}");
    assert!(
        writes
            .windows(2)
            .all(|w| w[1] - w[0] >= WINDOW || w[1] == 999),
        "{writes:?}"
    );
    assert_eq!(writes.last(), Some(&999));
    assert_eq!(p.checkpoints().uncovered.load(Ordering::SeqCst), 0);
    assert_eq!(
        p.checkpoints()
            .position
            .lock()
            .unwrap()
            .as_ref()
            .map(|p| p.sequence.to_string()),
        Some(seq(999))
    );
}

/// A row changed in every window (and rows changed twice within one): its later change never
/// starts while its earlier one is in flight, and its changes are published in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rows_later_change_waits_across_windows() {
    let (p, seen) = slow(None, false);
    // Row 7 every 50 records, rows 0..40 otherwise; names carry the record index.
    let records = (0..600usize)
        .map(|i| {
            let row = if i.is_multiple_of(50) { 7 } else { i % 40 };
            user(row, &format!("User {i}"))
        })
        .collect();
    let report = p.process_kinesis_event(&event(records), "test").await;
    assert_eq!(report.counts.published, 600);
    let s = seen.lock().unwrap();
    let row = |n: &str| {
        let i: usize = n["User ".len()..].parse().unwrap();
        if i.is_multiple_of(50) {
            7
        } else {
            i % 40
        }
    };
    for (names, beside) in &s.started {
        for n in names {
            assert!(
                beside.iter().all(|b| row(b) != row(n)),
                "{n} started beside an earlier change of its row"
            );
        }
    }
    // Per row, published in record order.
    let mut last: std::collections::HashMap<usize, usize> = Default::default();
    for n in &s.published {
        let i: usize = n["User ".len()..].parse().unwrap();
        if let Some(prev) = last.insert(row(n), i) {
            assert!(prev < i, "row {} published {prev} after {i}", row(n));
        }
    }
}

/// A record failing after its retries in the second window: it and every later record are
/// reported, the checkpoint never passes it, and requests not started when the failure became
/// known are never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_stops_what_has_not_started() {
    let (p, seen) = slow(Some("User 200"), false);
    let records = (0..2_000).map(|i| user(i, &format!("User {i}"))).collect();
    let report = p.process_kinesis_event(&event(records), "test").await;
    assert_eq!(report.counts.failed, 1_800);
    assert_eq!(report.batch_item_failures.first(), Some(&seq(200)));
    assert_eq!(report.counts.published, 200);
    let s = seen.lock().unwrap();
    // What was in flight beside the failing request went out (the duplicate window); what had
    // not started did not: at most two windows' requests were started after record 200's.
    let sent = s.started.iter().map(|(n, _)| n.len()).sum::<usize>();
    assert!(
        sent < 600,
        "{sent} entries sent for a failure at record 200"
    );
    assert_eq!(p.checkpoints().uncovered.load(Ordering::SeqCst), 0);
    let at = p.checkpoints().position.lock().unwrap().clone();
    assert!(at.is_some_and(|p| p.sequence.as_str() < seq(200).as_str()));
}

/// Checkpoint writes that fail: every record is reported (none was covered by a checkpoint), the
/// records published meanwhile are the duplicate window, and nothing starts once it is known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_checkpoint_write_reports_everything_after_it() {
    let (p, seen) = slow(None, true);
    let records = (0..2_000).map(|i| user(i, &format!("User {i}"))).collect();
    let report = p.process_kinesis_event(&event(records), "test").await;
    assert_eq!(report.counts.failed, 2_000);
    assert_eq!(report.batch_item_failures.first(), Some(&seq(0)));
    assert!(p.checkpoints().position.lock().unwrap().is_none());
    let sent = seen.lock().unwrap().published.len();
    assert!((WINDOW..1_000).contains(&sent), "{sent} published");
}

/// One request that takes twenty times longer than the others: requests start only while their
/// first record is less than two windows (320 records) past the records resolved in order, so the
/// duplicate window and the checkpoint's lag stay bounded while it is in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_holds_publishing_two_windows_ahead_at_most() {
    let (mut p, seen) = slow(None, false);
    p.publisher.slow = Some("User 5");
    let records = (0..1_500).map(|i| user(i, &format!("User {i}"))).collect();
    let report = p.process_kinesis_event(&event(records), "test").await;
    assert_eq!(report.counts.published, 1_500);
    let s = seen.lock().unwrap();
    let index = |n: &str| n["User ".len()..].parse::<usize>().unwrap();
    let mut beside_slow = 0;
    for (names, beside) in &s.started {
        if beside.contains("User 5") {
            beside_slow += 1;
            let first = names.iter().map(|n| index(n)).min().unwrap();
            assert!(
                first < 2 * WINDOW,
                "User {first} started while User 5 was in flight"
            );
        }
    }
    // Requests went on beside it, up to the bound.
    assert!(
        beside_slow >= CONCURRENCY,
        "{beside_slow} requests beside the slow one"
    );
    assert_eq!(p.checkpoints().uncovered.load(Ordering::SeqCst), 0);
}

/// The shard's progress the Lambda records in the state item: given once per shard, as the
/// report reads it (the records before the first reported one; dead letters counted), while the
/// final checkpoint write is in flight — not after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shards_progress_goes_out_beside_its_final_checkpoint_write() {
    // 100 records (less than a window: the final write is the only one), two of them bad.
    let (p, _) = slow(None, false);
    let records = (0..100)
        .map(|i| match i {
            30 | 70 => b"not json".to_vec(),
            _ => user(i, &format!("User {i}")),
        })
        .collect();
    let calls: Mutex<Vec<(ShardProgress, Vec<usize>, bool)>> = Mutex::new(Vec::new());
    let (checkpoints, calls_ref) = (p.checkpoints(), &calls);
    let settled = |progress: ShardProgress| async move {
        let writes = checkpoints.writes.lock().unwrap().clone();
        let answered = checkpoints.position.lock().unwrap().is_some();
        calls_ref.lock().unwrap().push((progress, writes, answered));
    };
    let report = p
        .process_kinesis_event_with(&event(records), "test", &settled)
        .await;
    assert_eq!(report.counts.published, 98);
    let calls = calls.into_inner().unwrap();
    assert_eq!(calls.len(), 1, "once per shard");
    let (progress, writes, answered) = &calls[0];
    assert_eq!(vec![progress.clone()], shard_progress(&report));
    assert_eq!(progress.handled, 100);
    assert_eq!(progress.last.sequence.as_str(), seq(99));
    assert_eq!(writes, &[99], "the final write had started");
    assert!(!answered, "and was not answered yet");
}

/// A failure in the batch: the progress stops before the first reported record, as the report
/// reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shards_progress_stops_at_its_first_reported_record() {
    let (p, _) = slow(Some("User 250"), false);
    let records = (0..400)
        .map(|i| match i {
            10 | 260 => b"not json".to_vec(),
            _ => user(i, &format!("User {i}")),
        })
        .collect();
    let calls = Mutex::new(Vec::new());
    let calls_ref = &calls;
    let settled = |progress: ShardProgress| async move {
        calls_ref.lock().unwrap().push(progress);
    };
    let report = p
        .process_kinesis_event_with(&event(records), "test", &settled)
        .await;
    assert_eq!(report.batch_item_failures.first(), Some(&seq(250)));
    let calls = calls.into_inner().unwrap();
    assert_eq!(calls, shard_progress(&report));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].handled, 250);
    assert_eq!(calls[0].last.sequence.as_str(), seq(249));
}
