//! Faults with nothing lost (issue 7 §1), against moto through the fault proxy
//! (`testkit::fault_proxy`) with the real SDK clients and the real handler.
//!
//! Each test runs a workload — CoreDB trigger, Debezium and DMS updates of many `users` keys,
//! KPL aggregates, and bad records that must be dead-lettered — over two shards, the way Lambda
//! does (ReportBatchItemFailures: redeliver from the lowest reported sequence number), while one
//! kind of fault is injected. Then it checks, by event id, against the ground truth (what moto
//! accepted, as the proxy saw it on the wire, and what the DLQ holds in moto):
//!
//! - **lost = 0**: every record ends published (good records) or dead-lettered (bad ones, with the
//!   expected code); nothing else is published;
//! - **duplicates come only from retries**: every publication of an event id carries the same
//!   detail, and the extra publications of an id are at most its unacknowledged publications (moto
//!   accepted, the client was not told: a lie, a slow answer, a killed process) plus its
//!   redeliveries;
//! - **per-key order**: the first publications of each key's events are in stream order.
//!
//! Each test prints a row of the table in `docs/reliability.md` (run with `-- --nocapture`) and
//! appends it to `$CARGO_TARGET_TMPDIR/reliability_faults.md`.
//!
//! The workload is in [`workload`], the checks in [`check`], the killed-process scenario in
//! [`sigkill`]; the other scenarios are here, each a [`Scenario`].

mod check;
mod sigkill;
mod workload;

use crate::support::aws::processor_with;
use crate::support::lambda::*;
use anyhow::{ensure, Result};
use check::{check, check_checkpoints, Row};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use testkit::fault_proxy::{Fault, Rule};
use testkit::stack::{CHECKPOINT_TABLE as CHECKPOINTS, STATE_TABLE as STATE};
use workload::{sequence, workload};

const SHARDS: [&str; 2] = ["shardId-000000000000", "shardId-000000000001"];
/// Keys per shard: many updates per key, so per-key order is tested hard.
const KEYS_PER_SHARD: usize = 40;

// Records per scenario; together at least 10,000 (checked below).
const N_BASELINE: usize = 2_000;
const N_THROTTLING: usize = 1_000;
const N_LYING: usize = 1_000;
const N_5XX: usize = 1_500;
const N_SLOW: usize = 1_000;
const N_DYNAMODB: usize = 1_500;
const N_SQS: usize = 1_000;
const N_SIGKILL: usize = 2_000;
const N_ROUTED: usize = 300;
const N_SQS_ENTRIES: usize = 1_000;
const N_EARLY: usize = 1_000;
/// The per-attempt client timeout of the scenarios whose faults outlast it. Long enough that moto
/// on a loaded 2-core machine (answers of a second and more under three compilers) is not itself
/// a timeout storm, short enough that the scenarios stay quick.
const SHORT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a slow answer or a blackhole holds a request: well past [`SHORT_ATTEMPT_TIMEOUT`], so
/// the client has given up on it for certain.
const HELD: Duration = Duration::from_secs(5);
const _: () = assert!(
    N_BASELINE
        + N_THROTTLING
        + N_LYING
        + N_5XX
        + N_SLOW
        + N_DYNAMODB
        + N_SQS
        + N_SIGKILL
        + N_ROUTED
        + N_SQS_ENTRIES
        + N_EARLY
        >= 10_000
);

/// One fault scenario: a workload through the in-process handler with the proxy's rules in place.
struct Scenario {
    /// The fault, as the results table names it.
    fault: &'static str,
    /// Records in the workload.
    records: usize,
    /// One record in this many is bad (dead-lettered).
    bad_every: usize,
    /// The SDK clients' per-attempt timeout.
    attempt_timeout: Duration,
    /// The function's `MAX_RETRY_ATTEMPTS`.
    max_retry_attempts: u32,
    /// The proxy's rules (the faults).
    rules: Vec<Rule>,
    /// Also route every event into a queue and check the proxy's ground truth against it.
    routed: bool,
}

impl Default for Scenario {
    /// No fault: one record in 50 bad, 5 s attempts, 3 retries, nothing routed.
    fn default() -> Self {
        Scenario {
            fault: "none",
            records: 0,
            bad_every: 50,
            attempt_timeout: Duration::from_secs(5),
            max_retry_attempts: 3,
            rules: Vec::new(),
            routed: false,
        }
    }
}

impl Scenario {
    /// Runs the workload through the in-process handler with the rules in place, then checks.
    async fn run(self) -> Result<Row> {
        ensure!(self.records > 0, "a scenario needs records");
        let w = world(self.attempt_timeout, self.routed).await?;
        let vars = function_env(&w, self.max_retry_attempts);
        let (state, metrics) = processor_with(&w, &vars).await?;
        let load = workload(self.records, self.bad_every);
        let ids: Vec<_> = self
            .rules
            .into_iter()
            .map(|r| w.proxy().add_rule(r))
            .collect();
        w.proxy().capture_bodies(true);
        let started = Instant::now();
        let bounds = Bounds {
            batch_size: 250,
            max_invocations: 400,
            // A bound against livelock, not a speed check: on one core shared with a busy loop
            // the slowest scenario needs more than 240 s.
            max_time: Duration::from_secs(600),
        };
        let (a, b) = tokio::join!(
            drive_shard(&state, &load.shards[0], bounds),
            drive_shard(&state, &load.shards[1], bounds)
        );
        let mut drive = a?;
        drive.merge(b?);
        let seconds = started.elapsed().as_secs_f64();
        let injected: u64 = ids.iter().map(|id| w.proxy().fired(*id)).sum();
        w.proxy().clear_rules();
        let letters = w.drain_json(&w.dlq).await?;
        let exchanges = w.proxy().exchanges();
        let c = check(&load, &exchanges, &letters, &drive.deliveries)?;
        check_checkpoints(&load, &exchanges)?;
        if self.routed {
            // The ground truth is right: what the proxy saw moto accept is what the bus delivered.
            let mut seen: HashMap<String, usize> = HashMap::new();
            for ex in &exchanges {
                for f in ex.entries.iter().filter(|f| f.accepted) {
                    let d: Value = serde_json::from_str(&f.detail)?;
                    *seen
                        .entry(d["eventId"].as_str().unwrap_or("").to_string())
                        .or_default() += 1;
                }
            }
            let mut routed: HashMap<String, usize> = HashMap::new();
            for m in w.drain_json(w.routed()).await? {
                *routed
                    .entry(m["detail"]["eventId"].as_str().unwrap_or("").to_string())
                    .or_default() += 1;
            }
            ensure!(
                routed == seen,
                "the bus delivered {} events, the proxy saw {} accepted",
                routed.values().sum::<usize>(),
                seen.values().sum::<usize>()
            );
        }
        // The EMF lines are valid JSON and count every invocation.
        let lines = metrics.lock().unwrap().clone();
        let totals = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("RecordsIn").is_some())
            .count();
        ensure!(
            totals == drive.invocations,
            "{totals} metric lines for {} invocations",
            drive.invocations
        );
        let row = Row {
            fault: self.fault.to_string(),
            records: load.records(),
            published: c.published,
            dead_lettered: c.dead_lettered,
            duplicates: c.duplicates(),
            lost: c.lost,
            injected,
            invocations: drive.invocations,
            redeliveries: drive.redeliveries,
            seconds,
        };
        row.print();
        Ok(row)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fault_baseline() -> Result<()> {
    let row = Scenario {
        fault: "none (baseline)",
        records: N_BASELINE,
        ..Scenario::default()
    }
    .run()
    .await?;
    assert_eq!(row.duplicates, 0, "no fault, no duplicate");
    assert_eq!(row.redeliveries, 0);
    Ok(())
}

/// The ground truth is right: under lies, resets and slow answers, what the proxy saw moto accept
/// is exactly what the bus delivered to a rule's target (an SQS queue), event id by event id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_ground_truth_is_what_the_bus_delivered() -> Result<()> {
    let row = Scenario {
        fault: "EventBridge: lies, resets and slow answers, checked against the events a rule delivered",
        records: N_ROUTED,
        attempt_timeout: SHORT_ATTEMPT_TIMEOUT,
        rules: vec![
            Rule::new("AWSEvents.PutEvents", Fault::SlowAnswer(HELD))
                .skip(2)
                .times(3),
            Rule::new("AWSEvents.PutEvents", Fault::Reset)
                .probability(0.05)
                .seed(61),
            Rule::new(
                "AWSEvents.PutEvents",
                Fault::lie_about_entries(0.3, &["InternalFailure"]),
            )
            .seed(62),
        ],
        routed: true,
        ..Scenario::default()
    }
    .run()
    .await?;
    assert!(row.duplicates > 0, "{row:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_throttling_and_partial_failures() -> Result<()> {
    let row = Scenario {
        fault: "EventBridge: 30% of entries ThrottlingException/InternalFailure, 10% of calls throttled",
        records: N_THROTTLING,
        rules: vec![
            Rule::new("AWSEvents.PutEvents", Fault::throttling())
                .probability(0.1)
                .seed(11),
            Rule::new(
                "AWSEvents.PutEvents",
                Fault::fail_entries(0.3, &["ThrottlingException", "InternalFailure"]),
            )
            .seed(12),
        ],
        ..Scenario::default()
    }
    .run()
    .await?;
    assert!(row.injected > 50, "faults were injected: {row:?}");
    // Honest partial failures are never published: nothing can be duplicated except by a
    // redelivery of records published behind a reported one.
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_partial_failures_that_were_published_anyway() -> Result<()> {
    let row = Scenario {
        fault: "EventBridge: 30% of entries reported failed although published (lying)",
        records: N_LYING,
        rules: vec![Rule::new(
            "AWSEvents.PutEvents",
            Fault::lie_about_entries(0.3, &["InternalFailure", "ThrottlingException"]),
        )
        .seed(21)],
        ..Scenario::default()
    }
    .run()
    .await?;
    assert!(row.injected > 50, "{row:?}");
    assert!(
        row.duplicates > 0,
        "retried entries that had been published are duplicates (same id)"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_5xx_and_resets() -> Result<()> {
    let row = Scenario {
        fault: "EventBridge: 15% of calls 500/503, 5% connections reset",
        records: N_5XX,
        rules: vec![
            Rule::new("AWSEvents.PutEvents", Fault::internal_error())
                .probability(0.08)
                .seed(31),
            Rule::new("AWSEvents.PutEvents", Fault::unavailable())
                .probability(0.07)
                .seed(32),
            Rule::new("AWSEvents.PutEvents", Fault::Reset)
                .probability(0.05)
                .seed(33),
        ],
        ..Scenario::default()
    }
    .run()
    .await?;
    assert!(row.injected > 10, "{row:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventbridge_answers_slower_than_the_client_timeout() -> Result<()> {
    // Client timeout 2 s per attempt; 15 answers held 5 s after moto accepted them (the client
    // retries entries that were published), 10 requests never answered.
    let row = Scenario {
        fault: "EventBridge: answers slower than the client timeout (published, unanswered), requests blackholed",
        records: N_SLOW,
        attempt_timeout: SHORT_ATTEMPT_TIMEOUT,
        rules: vec![
            Rule::new(
                "AWSEvents.PutEvents",
                Fault::SlowAnswer(HELD),
            )
            .skip(3)
            .probability(0.35)
            .times(15)
            .seed(41),
            Rule::new(
                "AWSEvents.PutEvents",
                Fault::Blackhole(HELD),
            )
            .skip(5)
            .probability(0.3)
            .times(10)
            .seed(42),
        ],
        ..Scenario::default()
    }
    .run()
    .await?;
    assert_eq!(row.injected, 25, "{row:?}");
    assert!(
        row.duplicates > 0,
        "slow answers were published and retried"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_conditional_conflicts_and_outages() -> Result<()> {
    let row = Scenario {
        fault: "DynamoDB: 30% conditional conflicts on checkpoint and state writes; outages of reads and writes",
        records: N_DYNAMODB,
        max_retry_attempts: 1,
        rules: vec![
            // Outages: every DynamoDB call fails for a while, twice (SDK retries included). The
            // counts start early: a batch makes only three or four DynamoDB calls (a checkpoint
            // read, a checkpoint write per window of 10 × PUBLISH_CONCURRENCY entries and at the
            // end, the state update), so at the default concurrency the whole run makes a few
            // dozen, and a schedule that starts late would fire little or nothing.
            Rule::new("DynamoDB_20120810.*", Fault::unavailable())
                .skip(5)
                .times(12),
            Rule::new("DynamoDB_20120810.GetItem", Fault::Reset)
                .skip(2)
                .probability(0.3)
                .times(8)
                .seed(51),
            Rule::new("DynamoDB_20120810.PutItem", Fault::internal_error())
                .skip(6)
                .times(10),
            // Conflicts: another invocation "moved" the checkpoint or the state.
            Rule::new(
                "DynamoDB_20120810.PutItem",
                Fault::conditional_check_failed(),
            )
            .body_contains(CHECKPOINTS)
            .probability(0.3)
            .seed(52),
            Rule::new(
                "DynamoDB_20120810.UpdateItem",
                Fault::conditional_check_failed(),
            )
            .body_contains(STATE)
            .probability(0.3)
            .seed(53),
        ],
        ..Scenario::default()
    }
    .run()
    .await?;
    // One checkpoint write per window (not per request) makes fewer DynamoDB calls to hit.
    assert!(row.injected > 10, "{row:?}");
    assert!(
        row.redeliveries > 0,
        "outages made records reported: {row:?}"
    );
    Ok(())
}

/// The dead-letter queue accepts a `SendMessageBatch` but lists some of its messages under
/// `Failed`: those records must be reported and dead-lettered on the redelivery, never taken as
/// sent (the lost = 0 check reads the letters from moto).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_fails_some_messages_of_a_batch() -> Result<()> {
    let row = Scenario {
        fault: "SQS: 40% of the messages of 20 SendMessageBatch calls listed as Failed",
        records: N_SQS_ENTRIES,
        bad_every: 10,
        max_retry_attempts: 1,
        rules: vec![Rule::new(
            "AmazonSQS.SendMessageBatch",
            Fault::fail_entries(0.4, &["InternalError", "ServiceUnavailable"]),
        )
        .times(20)
        .seed(71)],
        ..Scenario::default()
    }
    .run()
    .await?;
    assert_eq!(row.injected, 20, "{row:?}");
    assert!(
        row.redeliveries > 0,
        "failed messages made records reported: {row:?}"
    );
    Ok(())
}

/// With requests in flight together, an early request of a window keeps failing (503 on every
/// attempt, retries included) while later requests of the window succeed: the early record and
/// everything after it is reported, the later requests' entries are published again on the
/// redelivery under the same event ids, nothing is lost and each key stays in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_request_fails_while_later_ones_succeed() -> Result<()> {
    // Sequence numbers are equal on both shards: the 4th record's requests on both shards fail
    // 1 + MAX_RETRY_ATTEMPTS (3) times each.
    let row = Scenario {
        fault: "EventBridge: an early request of the window fails through its retries, later ones succeed",
        records: N_EARLY,
        rules: vec![Rule::new("AWSEvents.PutEvents", Fault::unavailable())
            .body_contains(&sequence(3))
            .times(8)],
        ..Scenario::default()
    }
    .run()
    .await?;
    assert_eq!(row.injected, 8, "{row:?}");
    assert!(row.redeliveries > 0, "{row:?}");
    assert!(
        row.duplicates > 0,
        "later requests that succeeded were published again on the redelivery: {row:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_outage() -> Result<()> {
    // One record in ten is bad, so dead letters are frequent; SQS is down (5xx, then resets) for
    // the first 40 SendMessageBatch attempts (the SDK retries each call once).
    let row = Scenario {
        fault: "SQS: dead-letter queue unavailable (503, resets) for 40 calls",
        records: N_SQS,
        bad_every: 10,
        max_retry_attempts: 1,
        rules: vec![
            Rule::new("AmazonSQS.SendMessageBatch", Fault::unavailable()).times(30),
            Rule::new("AmazonSQS.SendMessageBatch", Fault::Reset).times(10),
        ],
        ..Scenario::default()
    }
    .run()
    .await?;
    assert_eq!(row.injected, 40, "{row:?}");
    assert!(row.redeliveries > 0, "{row:?}");
    Ok(())
}
