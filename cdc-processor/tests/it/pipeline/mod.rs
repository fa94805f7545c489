//! The pipeline end to end with in-memory ports: error categories, failed publishes, dead letters
//! that cannot be written, windows of requests in flight and checkpoints; what is published (KPL
//! aggregates, per-key order, the detail contract, positions) is in [`events`].

mod events;

use crate::support::*;
use cdc_processor::config::{PipelineConfig, Redaction, DEFAULT_PUBLISH_CONCURRENCY};
use cdc_processor::decode::kpl::{aggregate, AggregatedRecord, Record};
use cdc_processor::decode::{LenientKinesisEvent, RawInput};
use cdc_processor::pipeline::Disposition;
use cdc_processor::ports::{CheckpointKey, PublishOutcome};
use cdc_processor::testing::{MemoryCheckpointStore, MemoryDeadLetterSink, MemoryPublisher};
use cdc_processor::{ErrorCode, Pipeline};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

fn key() -> CheckpointKey {
    CheckpointKey {
        processor: "test".into(),
        stream: STREAM_ARN.into(),
        shard: SHARD.into(),
    }
}

fn user_insert(i: usize) -> Vec<u8> {
    user_named(i, &format!("User {i}"))
}

/// A change of the users row `id` named `name`.
fn user_named(id: usize, name: &str) -> Vec<u8> {
    insert_example(
        "users",
        &[
            ("id", json!(format!("00000000-0000-4000-8000-{id:012}"))),
            ("name", json!(name)),
        ],
    )
}

/// A publisher that fails (throttled, after its retries) the entry of the user named `name`
/// and publishes every other one.
fn throttled_at(name: &'static str) -> MemoryPublisher {
    let needle = format!("{name}\"");
    MemoryPublisher::with_outcomes(move |e| {
        if e.detail.contains(&needle) {
            PublishOutcome::Failed {
                code: "ThrottlingException".into(),
                message: "Rate exceeded".into(),
            }
        } else {
            PublishOutcome::Published
        }
    })
}

fn published_names(p: &MemPipeline) -> Vec<String> {
    p.publisher()
        .published()
        .iter()
        .map(|e| {
            detail(e)["after"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn bad_records_in_the_middle_do_not_stop_the_batch() {
    let mut records: Vec<Vec<u8>> = (0..12).map(user_insert).collect();
    records[3] = b"{\"table\": \"users\", \"operation\":".to_vec(); // truncated JSON
    records[6] = insert_example("users", &[("status", json!("on-holiday"))]); // not in the enum
    records[9] = vec![0xff, 0xfe, b'{']; // not UTF-8
    let p = pipeline(redacting_config());
    let report = p
        .process_kinesis_event(&kinesis_event(records), "test")
        .await;
    assert!(report.batch_item_failures.is_empty());
    assert_eq!(report.counts.records_in, 12);
    assert_eq!(report.counts.published, 9);
    assert_eq!(report.counts.dead_lettered[&ErrorCode::ParseError], 2);
    assert_eq!(report.counts.dead_lettered[&ErrorCode::ValidationError], 1);
    let expected: Vec<String> = [0, 1, 2, 4, 5, 7, 8, 10, 11]
        .iter()
        .map(|i| format!("User {i}"))
        .collect();
    assert_eq!(published_names(&p), expected, "every good record, in order");
    let letters = p.dead_letters().letters();
    assert_eq!(letters.len(), 3);
    assert_eq!(
        letters[0].kinesis.sequence_number.as_deref(),
        Some(seq(3).as_str())
    );
    assert_eq!(letters[1].error.code, ErrorCode::ValidationError);
    assert!(
        letters[1].error.message.contains("after.status"),
        "{}",
        letters[1].error.message
    );
    assert!(!letters[1].error.message.contains("on-holiday"));
    // The raw record is kept for re-drive (base64 data of the Lambda record).
    assert_eq!(letters[2].original_event["kinesis"]["data"], json!("//57"));
    // The checkpoint moved past the whole batch.
    assert_eq!(
        p.checkpoints().get(&key()).unwrap().sequence.as_str(),
        seq(11).trim_start_matches('0')
    );
}

#[tokio::test]
async fn every_error_code_is_produced() {
    let mut produced = BTreeSet::new();

    // PARSE_ERROR: bad base64 in a (lenient) Lambda event; VALIDATION_ERROR: unknown table.
    let mut lenient: LenientKinesisEvent =
        serde_json::from_value(fixture("lambda/kinesis_event.json")).unwrap();
    lenient.records[0].kinesis.data = "not base64!".into();
    lenient.records[1].kinesis.data = base64_of(&trigger(
        "bogus_table",
        "INSERT",
        Value::Null,
        json!({"id": 1}),
    ));
    let p = pipeline(redacting_config());
    let report = p.process_lenient_event(&lenient, "test").await;
    for l in p.dead_letters().letters() {
        produced.insert(l.error.code);
    }
    assert_eq!(report.counts.dead_lettered_total(), 2);
    assert!(p.dead_letters().letters()[1]
        .error
        .message
        .contains("unknown table `bogus_table`"));

    // ENTRY_TOO_LARGE: a row whose entry exceeds the configured limit.
    let mut config = redacting_config();
    config.set_max_entry_size(2048).unwrap();
    let p = pipeline(config);
    let big = insert_example("users", &[("name", json!("x".repeat(4000)))]);
    let report = p
        .process_kinesis_event(&kinesis_event(vec![big, user_insert(1)]), "test")
        .await;
    assert_eq!(report.counts.dead_lettered[&ErrorCode::EntryTooLarge], 1);
    assert_eq!(report.counts.published, 1);
    produced.insert(p.dead_letters().letters()[0].error.code);

    // TRANSFORMATION_ERROR: redaction on without a key, and a `hash` column holding a value.
    let p = pipeline(PipelineConfig::new(Redaction::Enabled { redactor: None }));
    let report = p
        .process_kinesis_event(
            &kinesis_event(vec![user_insert(0), insert_example("customers", &[])]),
            "test",
        )
        .await;
    // users has no `hash` column: published; customers.email is hashed: reported for retry.
    assert_eq!(report.counts.published, 1);
    assert_eq!(report.batch_item_failures, vec![seq(1)]);
    let Disposition::Failed { reason } = &report.records[1].disposition else {
        panic!()
    };
    assert!(reason.starts_with("TRANSFORMATION_ERROR"), "{reason}");
    produced.insert(ErrorCode::TransformationError);

    // EVENTBRIDGE_ERROR: an entry EventBridge rejects is dead-lettered.
    let publisher = MemoryPublisher::with_outcomes(|e| {
        if e.detail.contains("User 1\"") {
            PublishOutcome::Rejected {
                code: "MalformedDetail".into(),
                message: "Detail is malformed.".into(),
            }
        } else {
            PublishOutcome::Published
        }
    });
    let p = pipeline_with(redacting_config(), publisher);
    let report = p
        .process_kinesis_event(&kinesis_event((0..3).map(user_insert).collect()), "test")
        .await;
    assert_eq!(report.counts.dead_lettered[&ErrorCode::EventbridgeError], 1);
    assert_eq!(published_names(&p), vec!["User 0", "User 2"]);
    assert!(report.batch_item_failures.is_empty());
    produced.insert(p.dead_letters().letters()[0].error.code);

    // STATE_ERROR: the checkpoint store cannot be read.
    let p = pipeline(redacting_config());
    p.checkpoints().fail_load.store(true, Ordering::SeqCst);
    let report = p
        .process_kinesis_event(&kinesis_event((0..3).map(user_insert).collect()), "test")
        .await;
    assert_eq!(report.batch_item_failures, vec![seq(0), seq(1), seq(2)]);
    assert!(p.publisher().published().is_empty());
    let Disposition::Failed { reason } = &report.records[0].disposition else {
        panic!()
    };
    assert!(reason.starts_with("STATE_ERROR"));
    produced.insert(ErrorCode::StateError);

    let all: BTreeSet<ErrorCode> = ErrorCode::ALL.iter().copied().collect();
    assert_eq!(produced, all);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_failed_publish_reports_that_record_and_every_later_one() {
    for concurrency in [1, DEFAULT_PUBLISH_CONCURRENCY] {
        let mut config = redacting_config();
        config.set_publish_concurrency(concurrency);
        let p = pipeline_with(config, throttled_at("User 4"));
        let report = p
            .process_kinesis_event(&kinesis_event((0..25).map(user_insert).collect()), "test")
            .await;
        let expected: Vec<String> = (4..25).map(seq).collect();
        assert_eq!(report.batch_item_failures, expected);
        assert_eq!(report.counts.failed, 21);
        assert_eq!(report.counts.published, 4);
        // Records before the failure are published, in order; the checkpoint stops right before it.
        let names = published_names(&p);
        assert_eq!(&names[..4], &["User 0", "User 1", "User 2", "User 3"]);
        assert!(!names.contains(&"User 4".to_string()));
        assert_eq!(
            p.checkpoints().get(&key()).unwrap().sequence.as_str(),
            seq(3).trim_start_matches('0')
        );
        if concurrency == 1 {
            // One after another: later requests are not sent once the shard is failing.
            assert!(
                p.publisher().requests().len() <= 2,
                "{:?}",
                p.publisher().requests()
            );
        } else {
            // In flight together: the later requests went out and succeeded while the first
            // failed in part (the duplicate window: they are reported, so republished on the
            // retry under the same event ids).
            assert_eq!(p.publisher().requests(), vec![10, 10, 5]);
            assert_eq!(names.len(), 24);
        }

        // Lambda retries from the lowest reported sequence number: the rest gets published,
        // under the same event ids as the first attempt's.
        let retry: Vec<Vec<u8>> = (0..25).map(user_insert).collect();
        let p2 = Pipeline::new(
            redacting_config(),
            MemoryPublisher::new(),
            MemoryCheckpointStore::new(),
            MemoryDeadLetterSink::new(),
        );
        p2.checkpoints()
            .set(key(), p.checkpoints().get(&key()).unwrap());
        let report = p2
            .process_kinesis_event(&kinesis_event(retry), "test")
            .await;
        assert_eq!(report.counts.skipped, 4);
        assert_eq!(report.counts.published, 21);
        assert_eq!(published_names(&p2)[0], "User 4");
        for first in p.publisher().published() {
            if let Some(again) = p2
                .publisher()
                .published()
                .iter()
                .find(|e| e.detail == first.detail)
            {
                assert_eq!(again.event_id, first.event_id, "a duplicate keeps its id");
            }
        }
    }
}

/// With requests in flight together, a row's later change waits for the answer to its earlier
/// change's request: when that entry fails, the later change is never sent.
#[tokio::test]
async fn a_later_change_of_a_row_waits_for_the_earlier_ones_answer() {
    let mut records: Vec<Vec<u8>> = (0..30).map(user_insert).collect();
    records[12] = user_named(4, "User 4 again");
    // Requests in flight together (16, as the default; set so the test does not follow it).
    let mut config = redacting_config();
    config.set_publish_concurrency(16);
    let p = pipeline_with(config, throttled_at("User 4"));
    let report = p
        .process_kinesis_event(&kinesis_event(records), "test")
        .await;
    assert_eq!(
        report.batch_item_failures,
        (4..30).map(seq).collect::<Vec<_>>()
    );
    let names = published_names(&p);
    assert!(!names.iter().any(|n| n.starts_with("User 4")), "{names:?}");
    // Other rows' later requests went out meanwhile (and are reported: same-id duplicates).
    assert!(names.contains(&"User 29".to_string()), "{names:?}");
    assert_eq!(report.counts.records_in, 30);
    assert_eq!(report.counts.published + report.counts.failed, 30);
}

#[tokio::test]
async fn a_batch_of_many_windows_keeps_order_dead_letters_and_failures() {
    // 350 records, several windows (a window ends at its 100th entry; bad records make none):
    // bad records in three of them (99 the last of the first window, 102 the first of the
    // second), one row changed in every window, and a publish that fails in the fourth.
    let bad = [5, 99, 102, 250, 251];
    let hot = [10, 110, 210, 310];
    let mut records: Vec<Vec<u8>> = (0..350).map(user_insert).collect();
    for i in bad {
        records[i] = b"{not json".to_vec();
    }
    for i in hot {
        records[i] = user_named(10, &format!("User {i}"));
    }
    let p = pipeline_with(redacting_config(), throttled_at("User 320"));
    let report = p
        .process_kinesis_event(&kinesis_event(records), "test")
        .await;

    // Everything before the failure that is good is published, each once (requests in flight
    // together keep order per row, not across rows); the hot row's changes in order; the bad
    // records are dead-lettered; the failure and every later record are reported.
    let names = published_names(&p);
    let number = |n: &String| n["User ".len()..].parse::<usize>().expect("a user name");
    let mut numbers: Vec<usize> = names.iter().map(number).collect();
    let hot_order: Vec<usize> = numbers
        .iter()
        .copied()
        .filter(|i| hot.contains(i))
        .collect();
    assert_eq!(hot_order, hot);
    numbers.sort_unstable();
    let len = numbers.len();
    numbers.dedup();
    assert_eq!(numbers.len(), len, "each published once");
    let expected: Vec<usize> = (0..320).filter(|i| !bad.contains(i)).collect();
    assert_eq!(numbers[..expected.len()], expected);
    // Entries after the failed one went out with it or in the window's other requests in
    // flight together (and are reported, so retried with the same ids); none of a later window.
    assert!(
        numbers[expected.len()..]
            .iter()
            .all(|i| (321..350).contains(i)),
        "{:?}",
        &numbers[expected.len()..]
    );
    assert_eq!(report.counts.published, 315);
    assert_eq!(report.counts.dead_lettered[&ErrorCode::ParseError], 5);
    let letters: Vec<String> = p
        .dead_letters()
        .letters()
        .iter()
        .map(|l| l.kinesis.sequence_number.clone().unwrap())
        .collect();
    assert_eq!(letters, bad.map(seq));
    assert_eq!(report.counts.failed, 30);
    assert_eq!(
        report.batch_item_failures,
        (320..350).map(seq).collect::<Vec<_>>()
    );
    assert_eq!(report.counts.records_in, 350);
    assert_eq!(
        p.checkpoints().get(&key()).unwrap().sequence.as_str(),
        seq(319).trim_start_matches('0')
    );
    // Requests stay within the limit and full: windows end on whole requests.
    let requests = p.publisher().requests();
    assert!(requests.iter().all(|&n| n <= 10), "{requests:?}");
    assert_eq!(
        u64::try_from(requests.len()).unwrap(),
        report.counts.put_events_requests
    );
}

#[tokio::test]
async fn a_thousand_distinct_changes_take_a_hundred_requests() {
    let p = pipeline(redacting_config());
    let report = p
        .process_kinesis_event(&kinesis_event((0..1000).map(user_insert).collect()), "test")
        .await;
    assert_eq!(report.counts.published, 1000);
    assert_eq!(report.counts.put_events_requests, 100);
    assert!(p.publisher().requests().iter().all(|&n| n == 10));
    let names = published_names(&p);
    assert_eq!(names.len(), 1000);
    assert!(names
        .iter()
        .enumerate()
        .all(|(i, n)| *n == format!("User {i}")));
}

#[tokio::test]
async fn a_dead_letter_that_cannot_be_written_is_reported_never_dropped() {
    let p = pipeline(redacting_config());
    p.dead_letters().fail.store(true, Ordering::SeqCst);
    let mut records: Vec<Vec<u8>> = (0..5).map(user_insert).collect();
    records[2] = b"garbage".to_vec();
    let report = p
        .process_kinesis_event(&kinesis_event(records), "test")
        .await;
    assert_eq!(report.batch_item_failures, vec![seq(2), seq(3), seq(4)]);
    assert_eq!(report.counts.failed, 3);
    // The letter is sent beside the window's requests, so the records after it were published
    // meanwhile (the duplicate window): they are reported all the same, and the checkpoint
    // stops right before the record whose letter was not written.
    let first = p.publisher().published();
    assert_eq!(
        published_names(&p),
        vec!["User 0", "User 1", "User 3", "User 4"]
    );
    assert_eq!(
        p.checkpoints().get(&key()).unwrap().sequence.as_str(),
        seq(1).trim_start_matches('0')
    );

    // Lambda's retry, with the sink working again: the bad record is dead-lettered and the
    // later ones republished under the same event ids.
    p.dead_letters().fail.store(false, Ordering::SeqCst);
    let mut records: Vec<Vec<u8>> = (0..5).map(user_insert).collect();
    records[2] = b"garbage".to_vec();
    let retry = p
        .process_kinesis_event(&kinesis_event(records), "test")
        .await;
    assert!(retry.batch_item_failures.is_empty());
    assert_eq!(retry.counts.skipped, 2);
    assert_eq!(retry.counts.dead_lettered_total(), 1);
    assert_eq!(retry.counts.published, 2);
    let all = p.publisher().published();
    let again = &all[first.len()..];
    assert_eq!(again.len(), 2);
    for (a, b) in again.iter().zip(&first[2..]) {
        assert_eq!(a.detail, b.detail);
        assert_eq!(a.event_id, b.event_id, "a duplicate keeps its id");
    }
    assert_eq!(
        p.checkpoints().get(&key()).unwrap().sequence.as_str(),
        seq(4).trim_start_matches('0')
    );
}

#[tokio::test]
async fn a_checkpoint_that_cannot_move_reports_the_records_after_it() {
    let p = pipeline(redacting_config());
    p.checkpoints().fail_advance.store(true, Ordering::SeqCst);
    let report = p
        .process_kinesis_event(&kinesis_event((0..3).map(user_insert).collect()), "test")
        .await;
    assert_eq!(report.batch_item_failures, vec![seq(0), seq(1), seq(2)]);
    assert_eq!(report.counts.failed, 3);
}

/// A window's checkpoint write is answered while the next window publishes: when it fails, every
/// record after the checkpoint written before is reported, the next window's published ones
/// included (the duplicate window), and the checkpoint never covers a reported record.
#[tokio::test]
async fn a_checkpoint_write_failing_beside_the_next_window_reports_both_windows() {
    let p = pipeline(redacting_config());
    p.checkpoints().fail_advance.store(true, Ordering::SeqCst);
    // Three windows of 160 entries at the default concurrency.
    let report = p
        .process_kinesis_event(&kinesis_event((0..400).map(user_insert).collect()), "test")
        .await;
    assert_eq!(report.counts.failed, 400);
    assert_eq!(report.batch_item_failures.len(), 400);
    assert_eq!(report.batch_item_failures[0], seq(0));
    assert!(p.checkpoints().get(&key()).is_none());
    // The first window went out before its write, and what was in flight beside the write
    // (with these ports, which answer at once, every request) went out too, each once; that
    // nothing starts once the failure is known is shown with ports that take time to answer
    // (`pipeline::tests`).
    let names = published_names(&p);
    assert!(names.len() >= 160, "{}", names.len());
    assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), names.len());
}

#[tokio::test]
async fn records_at_or_below_the_checkpoint_are_skipped_and_ids_are_stable() {
    let p = pipeline(redacting_config());
    let event = kinesis_event((0..10).map(user_insert).collect());
    let first = p.process_kinesis_event(&event, "test").await;
    assert_eq!(first.counts.published, 10);
    let second = p.process_kinesis_event(&event, "test").await;
    assert_eq!(second.counts.skipped, 10);
    assert_eq!(second.counts.published, 0);
    assert_eq!(p.publisher().published().len(), 10);
    // Another pipeline (a retry elsewhere) publishes the same records under the same ids.
    let other = pipeline(redacting_config());
    other.process_kinesis_event(&event, "test").await;
    let ids = |p: &MemPipeline| -> Vec<String> {
        p.publisher()
            .published()
            .iter()
            .map(|e| e.event_id.to_string())
            .collect()
    };
    assert_eq!(ids(&p), ids(&other));
    assert_eq!(ids(&p).iter().collect::<BTreeSet<_>>().len(), 10);
}
