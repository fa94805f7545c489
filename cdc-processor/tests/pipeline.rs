//! The pipeline end to end with in-memory ports: error categories, order, checkpoints, KPL
//! aggregates, retries and dead letters.

mod common;

use cdc_processor::config::{PipelineConfig, Redaction, DEFAULT_PUBLISH_CONCURRENCY};
use cdc_processor::decode::kpl::{aggregate, AggregatedRecord, Record};
use cdc_processor::decode::{LenientKinesisEvent, RawInput};
use cdc_processor::pipeline::Disposition;
use cdc_processor::ports::{CheckpointKey, PublishOutcome};
use cdc_processor::testing::{MemoryCheckpointStore, MemoryDeadLetterSink, MemoryPublisher};
use cdc_processor::{ErrorCode, Pipeline};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

fn key() -> CheckpointKey {
    CheckpointKey {
        processor: "test".into(),
        stream: STREAM.into(),
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

#[tokio::test]
async fn kpl_aggregates_are_deaggregated_in_order() {
    let users: Vec<Vec<u8>> = (0..4).map(user_insert).collect();
    let agg = AggregatedRecord {
        partition_key_table: vec!["a".into(), "b".into()],
        explicit_hash_key_table: vec![],
        records: users
            .iter()
            .enumerate()
            .map(|(i, d)| Record {
                partition_key_index: (i % 2) as u64,
                explicit_hash_key_index: None,
                data: d.clone(),
                tags: vec![],
            })
            .collect(),
    };
    let good = aggregate(&agg);
    let mut broken_md5 = good.clone();
    let n = broken_md5.len();
    broken_md5[n - 1] ^= 0x55;
    let truncated = good[..good.len() / 2].to_vec();
    let event = kinesis_event(vec![good, broken_md5, truncated, user_insert(9)]);
    let p = pipeline(redacting_config());
    let report = p.process_kinesis_event(&event, "test").await;
    assert_eq!(report.counts.records_in, 4 + 1 + 1 + 1);
    assert_eq!(report.counts.published, 5);
    assert_eq!(report.counts.dead_lettered[&ErrorCode::ParseError], 2);
    assert_eq!(
        published_names(&p),
        vec!["User 0", "User 1", "User 2", "User 3", "User 9"]
    );
    // User records keep the parent sequence number plus a sub-sequence number.
    let subs: Vec<Option<u64>> = report
        .records
        .iter()
        .map(|r| r.sub_sequence_number)
        .collect();
    assert_eq!(
        subs,
        vec![Some(0), Some(1), Some(2), Some(3), None, None, None]
    );
    let d = detail(&p.publisher().published()[2]);
    assert_eq!(d["metadata"]["subSequenceNumber"], json!(2));
    assert_eq!(d["metadata"]["sequenceNumber"], json!(seq(0)));
    // A broken MD5 passes through as a plain record (here: binary, so not JSON).
    let letters = p.dead_letters().letters();
    assert_eq!(letters[0].kinesis.sub_sequence_number, None);
    assert!(
        letters[0].error.message.contains("UTF-8"),
        "{}",
        letters[0].error.message
    );
    // The checkpoint of an aggregate counts its sub-records: a retry skips them all.
    let again = p.process_kinesis_event(&event, "test").await;
    assert_eq!(again.counts.skipped, 7);
}

#[tokio::test]
async fn changes_to_one_key_stay_in_order() {
    // 30 updates to 3 users interleaved with inserts of others: per-key order must hold.
    let mut records = Vec::new();
    for i in 0..30 {
        let mut row = common::example("users");
        row.insert(
            "id".into(),
            json!(format!("00000000-0000-4000-8000-{:012}", i % 3)),
        );
        row.insert("name".into(), json!(format!("v{i}")));
        records.push(trigger("users", "UPDATE", Value::Null, Value::Object(row)));
        records.push(user_insert(100 + i));
    }
    let p = pipeline(redacting_config());
    let report = p
        .process_kinesis_event(&kinesis_event(records), "test")
        .await;
    assert_eq!(report.counts.published, 60);
    let mut last: std::collections::HashMap<String, usize> = Default::default();
    for e in p.publisher().published() {
        let d = detail(&e);
        let name = d["after"]["name"].as_str().unwrap();
        if let Some(v) = name.strip_prefix('v') {
            let v: usize = v.parse().unwrap();
            let id = d["keys"]["id"].as_str().unwrap().to_string();
            if let Some(prev) = last.insert(id, v) {
                assert!(prev < v, "key reordered: {prev} after {v}");
            }
        }
    }
    // 10 entries per request wherever keys allow it.
    let requests = p.publisher().requests();
    assert!(requests.len() <= 10, "{requests:?}");
}

#[tokio::test]
async fn detail_follows_the_contract() {
    let p = pipeline(redacting_config());
    let update = trigger(
        "users",
        "UPDATE",
        json!({"id": "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21", "status": "active", "email": "a@example.com"}),
        Value::Object(common::example("users")),
    );
    let report = p
        .process_kinesis_event(&kinesis_event(vec![update]), "test")
        .await;
    assert_eq!(report.counts.published, 1);
    let e = &p.publisher().published()[0];
    assert_eq!(e.source, "cdc-pipeline");
    assert_eq!(e.detail_type, "CDC.TableChange");
    assert_eq!(
        e.size,
        e.source.len() + e.detail_type.len() + e.detail.len() + 14
    );
    let d = detail(e);
    assert_eq!(d["version"], "1.0");
    assert_eq!(d["eventId"], json!(e.event_id));
    assert_eq!(d["eventId"].as_str().unwrap().len(), 32);
    assert_eq!(d["eventType"], "user.changed");
    assert_eq!(d["table"], "users");
    assert_eq!(d["operation"], "UPDATE");
    assert_eq!(d["timestamp"], "2026-11-25T10:14:31Z");
    assert_eq!(d["beforeImage"], "partial");
    // users' default projection is id, name, status, updated_at: the after image holds those.
    assert_eq!(d["afterImage"], "full");
    let after: BTreeSet<&str> = d["after"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        after,
        BTreeSet::from(["id", "name", "status", "updated_at"])
    );
    assert!(d["before"].get("email").is_none(), "not in the projection");
    assert_eq!(d["keys"], json!({"id": common::example("users")["id"]}));
    assert_eq!(d["redactions"], json!({}));
    let m = &d["metadata"];
    assert_eq!(m["transactionId"], "txn-1");
    assert_eq!(m["sequenceNumber"], json!(seq(0)));
    assert_eq!(m["subSequenceNumber"], Value::Null);
    assert_eq!(m["shardId"], SHARD);
    assert_eq!(m["sourceFormat"], "coredb-trigger");
    assert_eq!(m["snapshot"], false);
    assert!(m.get("droppedColumns").is_none());

    // With every column published, redacted columns are listed; the event validates against the
    // generated event schema of the table.
    let mut config = redacting_config();
    config
        .set_table_override(
            "users",
            cdc_processor::config::TableOverride {
                event_type: Some("person.changed".into()),
                include_fields: Some(vec!["*".into()]),
            },
        )
        .unwrap();
    let p = pipeline(config);
    let mut row = common::example("users");
    row.insert("favourite_colour".into(), json!("teal"));
    p.process_kinesis_event(
        &kinesis_event(vec![trigger(
            "users",
            "INSERT",
            Value::Null,
            Value::Object(row),
        )]),
        "test",
    )
    .await;
    let d = detail(&p.publisher().published()[0]);
    assert_eq!(d["eventType"], "person.changed");
    assert_eq!(
        d["redactions"],
        json!({"email": "mask", "phone": "mask", "ssn": "mask"})
    );
    assert_eq!(d["after"]["email"], "[REDACTED]");
    assert_eq!(d["metadata"]["droppedColumns"], json!(["favourite_colour"]));
    assert!(!e.detail.contains("teal"));
}

#[tokio::test]
async fn events_validate_against_the_generated_event_schemas() {
    let p = pipeline(redacting_config());
    let tables = [
        "users",
        "orders",
        "agents",
        "customers",
        "calls",
        "payments",
    ];
    let records: Vec<Vec<u8>> = tables.iter().map(|t| insert_example(t, &[])).collect();
    let report = p
        .process_kinesis_event(&kinesis_event(records), "test")
        .await;
    assert_eq!(report.counts.published, tables.len() as u64);
    for e in p.publisher().published() {
        let d = detail(&e);
        let table = d["table"].as_str().unwrap();
        let path = format!(
            "{}/../cdc-models/src/generated/event-schemas/{table}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator.iter_errors(&d).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{table}: {errors:?}");
    }
}

#[tokio::test]
async fn sequence_numbers_are_compared_as_numbers() {
    // 129-digit and shorter sequence numbers in one shard, an invalid one, and one with leading
    // zeros (the same number as the 56 nines, so not published again).
    let mut event = kinesis_event(vec![
        user_insert(0),
        user_insert(1),
        user_insert(2),
        user_insert(3),
    ]);
    let received = [
        "9".repeat(56),
        format!("1{}", "0".repeat(128)),
        "12x".into(),
        format!("000{}", "9".repeat(56)),
    ];
    for (r, s) in event.records.iter_mut().zip(&received) {
        r.kinesis.sequence_number = s.clone();
    }
    let p = pipeline(redacting_config());
    let report = p.process_kinesis_event(&event, "test").await;
    assert_eq!(report.counts.published, 2);
    assert_eq!(report.counts.skipped, 1);
    assert_eq!(report.counts.dead_lettered[&ErrorCode::ParseError], 1);
    // The report carries each sequence number as received, leading zeros included.
    let reported: Vec<&str> = report.records.iter().map(|r| &*r.sequence_number).collect();
    assert_eq!(reported, received.each_ref().map(String::as_str));
    let cp = p.checkpoints().get(&key()).unwrap();
    assert_eq!(cp.sequence.as_str().len(), 129);
    // A 57-digit number is below the 129-digit checkpoint although it sorts after it as text.
    let mut again = kinesis_event(vec![user_insert(5)]);
    again.records[0].kinesis.sequence_number = "9".repeat(57);
    let report = p.process_kinesis_event(&again, "test").await;
    assert_eq!(report.counts.skipped, 1);
}

#[tokio::test]
async fn a_position_repeated_in_a_batch_is_published_once() {
    // Positions 10, 11, 10 again, 13, 12 (lower than the largest, never seen), 11 again.
    let sequences = ["10", "11", "10", "13", "12", "11"];
    let mut event = kinesis_event((0..sequences.len()).map(user_insert).collect());
    for (r, s) in event.records.iter_mut().zip(sequences) {
        r.kinesis.sequence_number = s.into();
    }
    let p = pipeline(redacting_config());
    let report = p.process_kinesis_event(&event, "test").await;
    assert_eq!(report.counts.published, 4);
    assert_eq!(report.counts.skipped, 2);
    let skipped: Vec<&str> = report
        .records
        .iter()
        .filter(|r| matches!(r.disposition, Disposition::Skipped))
        .map(|r| &*r.sequence_number)
        .collect();
    assert_eq!(skipped, ["10", "11"]);
    assert_eq!(
        published_names(&p),
        ["User 0", "User 1", "User 3", "User 4"]
    );
}

#[tokio::test]
async fn raw_records_and_not_captured_tables() {
    let mut config = redacting_config();
    config.set_table_allow_list(["users"]).unwrap();
    let p = pipeline(config);
    let mut text = Vec::new();
    for r in [
        user_insert(0),
        insert_example("orders", &[]),
        b"null".to_vec(),
    ] {
        text.extend_from_slice(&r);
        text.push(b'\n');
    }
    let records = RawInput::from_json_lines("file:test.jsonl", &text);
    let report = p.process_raw_records(records, "local").await;
    assert_eq!(report.counts.published, 1);
    assert_eq!(report.counts.acknowledged, 2);
    let e = &p.publisher().published()[0];
    // Without a Kinesis pointer the id is over the record's bytes.
    assert_eq!(
        e.event_id,
        cdc_processor::decode::event_id_for_bytes(&user_insert(0))
    );
    assert_eq!(detail(e)["metadata"]["sequenceNumber"], "1");
}

/// `record` with a CoreDB trigger `position` member (appended last, as `cdc-relay` does).
fn with_position(record: Vec<u8>, position: &str) -> Vec<u8> {
    let mut text = String::from_utf8(record).unwrap();
    assert_eq!(text.pop(), Some('}'));
    text.push_str(&format!(r#", "position": "{position}"}}"#));
    text.into_bytes()
}

#[tokio::test]
async fn a_source_position_gives_the_same_id_wherever_a_resend_lands() {
    // A change sent twice (a relay restarted before it deleted it), another change, and a record
    // without a position (ids as before positions existed: from the Kinesis pointer).
    let records = vec![
        with_position(user_insert(0), "f3b1/1"),
        with_position(user_insert(0), "f3b1/1"),
        with_position(user_insert(1), "f3b1/2"),
        user_insert(2),
    ];
    let p = pipeline(redacting_config());
    let report = p
        .process_kinesis_event(&kinesis_event(records), "test")
        .await;
    assert_eq!(report.counts.published, 4);
    // In record order (the publisher may send one key's two entries in separate requests).
    let ids: Vec<String> = report
        .records
        .iter()
        .map(|r| r.event_id.expect("an id").to_string())
        .collect();
    let from_position = |p: &str| {
        cdc_processor::decode::event_id_for_source_position(&format!("coredb-trigger\n{p}"))
            .to_string()
    };
    assert_eq!(ids[0], from_position("f3b1/1"));
    assert_eq!(ids[1], ids[0], "a resend keeps its id");
    assert_eq!(ids[2], from_position("f3b1/2"));
    assert_eq!(
        ids[3],
        cdc_processor::decode::event_id_for_pointer(STREAM, SHARD, &seq(3), None).to_string()
    );
    // The entries published are under these ids, and their details carry them.
    let published: BTreeSet<String> = p
        .publisher()
        .published()
        .iter()
        .map(|e| e.event_id.to_string())
        .collect();
    assert_eq!(published, ids.iter().cloned().collect());
    for e in p.publisher().published() {
        assert_eq!(detail(&e)["eventId"], json!(e.event_id.to_string()));
    }
    // An empty or non-scalar position is a PARSE_ERROR, never an id from nothing.
    let bad = pipeline(redacting_config());
    let mut text = String::from_utf8(user_insert(0)).unwrap();
    text.pop();
    text.push_str(r#", "position": {"id": 1}}"#);
    let report = bad
        .process_kinesis_event(
            &kinesis_event(vec![with_position(user_insert(0), ""), text.into_bytes()]),
            "test",
        )
        .await;
    assert_eq!(
        report.counts.dead_lettered.get(&ErrorCode::ParseError),
        Some(&2)
    );
}
