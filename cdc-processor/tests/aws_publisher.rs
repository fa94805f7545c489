//! The EventBridge publisher against moto: a bus whose rule routes to SQS, per-entry failures
//! (injected `ThrottlingException` / `InternalFailure`, and moto's own `MalformedDetail`) retried or
//! rejected per entry, transport failures, a missing bus.

mod aws_support;

use aws_support::{bus_to_queue, drain, Faults};
use cdc_processor::aws::config::{Clients, Settings};
use cdc_processor::aws::eventbridge::EventBridgePublisher;
use cdc_processor::aws::metrics::PublishStats;
use cdc_processor::aws::RetryPolicy;
use cdc_processor::ports::{OrderingKey, PreparedEntry, PublishOutcome, Publisher};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUS: &str = "cdc-events";
const SOURCE: &str = "cdc-pipeline";

fn settings(endpoint: &str, retries: u32) -> Settings {
    let vars: HashMap<&str, String> = [
        ("AWS_REGION", "us-east-1".to_string()),
        ("KINESIS_STREAM_NAME", "coredb-cdc-stream".into()),
        ("STATE_TABLE_NAME", "cdc-pipeline-state".into()),
        ("CHECKPOINT_TABLE_NAME", "cdc-pipeline-checkpoints".into()),
        ("DLQ_QUEUE_URL", format!("{endpoint}/123456789012/cdc-dlq")),
        ("MAX_RETRY_ATTEMPTS", retries.to_string()),
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
    ]
    .into_iter()
    .collect();
    Settings::from_lookup(|k| vars.get(k).cloned()).expect("valid settings")
}

fn entry(n: usize, table: &str) -> PreparedEntry {
    let event_id = format!("{n:032x}");
    let detail = json!({
        "version": "1.0",
        "eventId": event_id,
        "eventType": format!("{table}.changed"),
        "table": table,
        "operation": "INSERT",
        "keys": {"id": n},
        "after": {"id": n},
    })
    .to_string();
    PreparedEntry {
        size: SOURCE.len() + "CDC.TableChange".len() + detail.len() + 14,
        event_id: event_id.parse().unwrap(),
        source: SOURCE,
        detail_type: "CDC.TableChange",
        detail,
        time: Some(chrono::Utc::now()),
        // The publisher does not look at it (the plan does).
        ordering_key: OrderingKey::Table(cdc_models::Table::Users),
    }
}

struct Setup {
    _moto: testkit::Moto,
    sdk: aws_config::SdkConfig,
    queue: String,
    faults: Faults,
    stats: Arc<PublishStats>,
    publisher: EventBridgePublisher,
}

async fn setup(retries: u32, bus_for_publisher: &str) -> Setup {
    let moto = testkit::Moto::start();
    let sdk = moto.sdk_config().await;
    let queue = bus_to_queue(&sdk, BUS, SOURCE, &["users", "orders"], "routed")
        .await
        .expect("bus, rule and queue");
    let settings = settings(&moto.endpoint(), retries);
    let clients = Clients::new(&sdk, &settings);
    let faults = Faults::default();
    let eventbridge = aws_sdk_eventbridge::Client::from_conf(
        clients
            .eventbridge
            .config()
            .to_builder()
            .interceptor(faults.clone())
            .build(),
    );
    let stats = Arc::new(PublishStats::default());
    let publisher = EventBridgePublisher::new(
        eventbridge,
        bus_for_publisher,
        settings.retry_policy(),
        stats.clone(),
    );
    Setup {
        _moto: moto,
        sdk,
        queue,
        faults,
        stats,
        publisher,
    }
}

fn ids(entries: &[PreparedEntry]) -> Vec<String> {
    entries.iter().map(|e| e.event_id.to_string()).collect()
}

async fn routed_event_ids(s: &Setup) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&s.sdk);
    let mut got: Vec<String> = drain(&sqs, &s.queue)
        .await
        .expect("drain")
        .into_iter()
        .map(|m| {
            assert_eq!(m["source"], SOURCE);
            assert_eq!(m["detail-type"], "CDC.TableChange");
            m["detail"]["eventId"].as_str().unwrap().to_string()
        })
        .collect();
    got.sort();
    got
}

#[tokio::test]
async fn publishes_a_batch_and_the_rule_routes_it() {
    let s = setup(3, BUS).await;
    let mut entries: Vec<_> = (0..9)
        .map(|n| entry(n, ["users", "orders"][n & 1]))
        .collect();
    entries.push(entry(9, "agents")); // not matched by the rule
    let outcomes = s.publisher.publish(&entries).await;
    assert_eq!(outcomes, vec![PublishOutcome::Published; 10]);
    assert_eq!(s.faults.calls(), vec![ids(&entries)]);
    let mut want = ids(&entries[..9]);
    want.sort();
    assert_eq!(routed_event_ids(&s).await, want);
    let stats = s.stats.take();
    assert_eq!((stats.calls, stats.retries, stats.entries_sent), (1, 0, 10));
    assert_eq!(stats.latencies_ms.len(), 1);
}

#[tokio::test]
async fn only_failed_entries_are_retried_with_backoff() {
    let s = setup(3, BUS).await;
    let entries: Vec<_> = (0..6).map(|n| entry(n, "users")).collect();
    s.faults
        .fail_entry(&entries[2].event_id, &["ThrottlingException"]);
    s.faults.fail_entry(
        &entries[5].event_id,
        &["InternalFailure", "ThrottlingException"],
    );
    let started = Instant::now();
    let outcomes = s.publisher.publish(&entries).await;
    let took = started.elapsed();
    assert_eq!(outcomes, vec![PublishOutcome::Published; 6]);
    let e = |i: usize| entries[i].event_id.to_string();
    assert_eq!(
        s.faults.calls(),
        vec![ids(&entries), vec![e(2), e(5)], vec![e(5)]],
        "the second and third calls carry only the entries that failed"
    );
    // Backoff: at least 100 ms then 200 ms before the retries, capped (with jitter) well below.
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Each event reached the bus exactly once.
    let mut want = ids(&entries);
    want.sort();
    assert_eq!(routed_event_ids(&s).await, want);
    let stats = s.stats.take();
    assert_eq!((stats.calls, stats.retries, stats.entries_sent), (3, 2, 9));
}

#[tokio::test]
async fn an_entry_still_throttled_after_the_retries_fails_alone() {
    let s = setup(2, BUS).await;
    let entries: Vec<_> = (0..3).map(|n| entry(n, "orders")).collect();
    s.faults
        .fail_entry(&entries[1].event_id, &["ThrottlingException"; 5]);
    let outcomes = s.publisher.publish(&entries).await;
    assert_eq!(outcomes[0], PublishOutcome::Published);
    assert_eq!(outcomes[2], PublishOutcome::Published);
    match &outcomes[1] {
        PublishOutcome::Failed { code, .. } => assert_eq!(code, "ThrottlingException"),
        other => panic!("expected Failed, got {other:?}"),
    }
    // First attempt + MAX_RETRY_ATTEMPTS (2) retries of the failed entry only.
    let e1 = entries[1].event_id.to_string();
    assert_eq!(
        s.faults.calls(),
        vec![ids(&entries), vec![e1.clone()], vec![e1]]
    );
    let mut want = vec![
        entries[0].event_id.to_string(),
        entries[2].event_id.to_string(),
    ];
    want.sort();
    assert_eq!(routed_event_ids(&s).await, want);
}

#[tokio::test]
async fn malformed_detail_is_rejected_by_moto_and_not_retried() {
    let s = setup(3, BUS).await;
    let mut entries: Vec<_> = (0..4).map(|n| entry(n, "users")).collect();
    entries[1].detail = "this is not JSON".into();
    // And a transient failure in the same answer, retried on its own.
    s.faults
        .fail_entry(&entries[3].event_id, &["InternalFailure"]);
    let outcomes = s.publisher.publish(&entries).await;
    match &outcomes[1] {
        PublishOutcome::Rejected { code, .. } => assert_eq!(code, "MalformedDetail"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    for i in [0, 2, 3] {
        assert_eq!(outcomes[i], PublishOutcome::Published, "entry {i}");
    }
    let calls = s.faults.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1], vec![entries[3].event_id.to_string()]);
    let mut want = vec![
        entries[0].event_id.to_string(),
        entries[2].event_id.to_string(),
        entries[3].event_id.to_string(),
    ];
    want.sort();
    assert_eq!(routed_event_ids(&s).await, want);
}

#[tokio::test]
async fn a_transport_failure_is_retried_for_the_whole_call() {
    let s = setup(3, BUS).await;
    let entries: Vec<_> = (0..3).map(|n| entry(n, "users")).collect();
    s.faults.fail_transport(2);
    let outcomes = s.publisher.publish(&entries).await;
    assert_eq!(outcomes, vec![PublishOutcome::Published; 3]);
    assert_eq!(s.faults.calls(), vec![ids(&entries); 3]);
    assert_eq!(
        s.faults.forwarded(),
        vec![vec![], vec![], ids(&entries)],
        "the failed calls never reached moto"
    );
    let mut want = ids(&entries);
    want.sort();
    assert_eq!(routed_event_ids(&s).await, want);
    assert_eq!(s.stats.take().retries, 2);
}

#[tokio::test]
async fn a_transport_failure_that_persists_fails_every_entry() {
    let s = setup(1, BUS).await;
    let entries: Vec<_> = (0..2).map(|n| entry(n, "users")).collect();
    s.faults.fail_transport(5);
    let outcomes = s.publisher.publish(&entries).await;
    for o in &outcomes {
        match o {
            PublishOutcome::Failed { code, .. } => assert_eq!(code, "DispatchFailure"),
            other => panic!("expected Failed, got {other:?}"),
        }
    }
    assert_eq!(s.faults.calls().len(), 2);
}

#[tokio::test]
async fn a_missing_bus_fails_the_entries_without_retrying() {
    let s = setup(3, "no-such-bus").await;
    let entries: Vec<_> = (0..2).map(|n| entry(n, "users")).collect();
    let outcomes = s.publisher.publish(&entries).await;
    for o in &outcomes {
        match o {
            PublishOutcome::Failed { code, .. } => {
                assert_eq!(code, "ResourceNotFoundException")
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }
    assert_eq!(s.faults.calls().len(), 1, "not retried");
    assert_eq!(s.stats.take().retries, 0);
}

#[test]
fn retry_policy_defaults_are_the_seeds() {
    let p = RetryPolicy::default();
    assert_eq!(p.max_retries, 3);
    assert_eq!(p.base_delay, Duration::from_millis(100));
    assert_eq!(p.max_delay, Duration::from_secs(5));
}
