//! The EventBridge publisher against moto: a bus whose rule routes to SQS, per-entry failures
//! (injected `ThrottlingException` / `InternalFailure`, and moto's own `MalformedDetail`) retried or
//! rejected per entry, transport failures, a missing bus.

use crate::support::aws::drain;
use cdc_processor::aws::config::{Clients, Settings};
use cdc_processor::aws::eventbridge::EventBridgePublisher;
use cdc_processor::aws::metrics::PublishStats;
use cdc_processor::aws::RetryPolicy;
use cdc_processor::ports::{OrderingKey, PreparedEntry, PublishOutcome, Publisher};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::stack::{BUS, SOURCE};
use testkit::Stack;

use anyhow::anyhow;
use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsResultEntry;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextMut, Output,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::Mutex;

fn settings(stack: &Stack, retries: u32) -> Settings {
    let mut vars = stack.env();
    vars.insert("MAX_RETRY_ATTEMPTS".into(), retries.to_string());
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
        source: SOURCE.into(),
        detail_type: "CDC.TableChange",
        detail,
        time: Some(chrono::Utc::now()),
        // The publisher does not look at it (the plan does).
        ordering_key: OrderingKey::Table(cdc_models::Table::Users),
    }
}

struct Setup {
    stack: Stack,
    faults: Faults,
    stats: Arc<PublishStats>,
    publisher: EventBridgePublisher,
}

async fn setup(retries: u32, bus_for_publisher: &str) -> Setup {
    let stack = Stack::builder()
        .route("routed", &["users", "orders"])
        .start()
        .await
        .expect("bus, rule and queue");
    let settings = settings(&stack, retries);
    let clients = Clients::new(&stack.sdk, &settings);
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
        stack,
        faults,
        stats,
        publisher,
    }
}

fn ids(entries: &[PreparedEntry]) -> Vec<String> {
    entries.iter().map(|e| e.event_id.to_string()).collect()
}

async fn routed_event_ids(s: &Setup) -> Vec<String> {
    let mut got: Vec<String> = drain(&s.stack.sqs(), s.stack.routed())
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
    assert_eq!(outcomes.len(), entries.len(), "one outcome per entry");
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
    assert_eq!(outcomes.len(), entries.len(), "one outcome per entry");
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
    assert_eq!(outcomes.len(), entries.len(), "one outcome per entry");
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
    assert_eq!(outcomes.len(), entries.len(), "one outcome per entry");
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

// --- The fault injector: an interceptor on the publisher's EventBridge client. ---
/// What the fault injector does and saw.
#[derive(Debug, Default)]
pub struct FaultState {
    /// Per event id: the error codes its next attempts fail with (one per attempt).
    pub entry_faults: HashMap<String, VecDeque<String>>,
    /// The next this many calls fail in transport (connection refused) before reaching moto.
    pub transport_failures: u32,
    /// Every `PutEvents` call as the publisher sent it: the event ids of its entries.
    pub calls: Vec<Vec<String>>,
    /// Every call as it reached moto (faulted entries removed; empty when nothing was sent).
    pub forwarded: Vec<Vec<String>>,
    /// The current call's faulted entries: (index in the call, code).
    pending: Vec<(usize, String)>,
    /// The current call had every entry faulted: answer it without moto.
    synthesize: bool,
}

/// An interceptor on the EventBridge client that makes chosen entries fail with chosen per-entry
/// error codes (`ThrottlingException`, `InternalFailure`, …) the way EventBridge reports them: the
/// entries are taken out of the request before it is signed (so moto never receives them) and put
/// back into the answer as failed results at their positions, with `FailedEntryCount` raised. It
/// can also make whole calls fail in transport. Calls must be sequential (one publisher at a time).
#[derive(Clone, Debug, Default)]
pub struct Faults(pub Arc<Mutex<FaultState>>);

impl Faults {
    /// Makes the entry with `event_id` fail with `codes[n]` on its n-th attempt.
    pub fn fail_entry(&self, event_id: &str, codes: &[&str]) {
        self.0.lock().unwrap().entry_faults.insert(
            event_id.to_string(),
            codes.iter().map(|c| c.to_string()).collect(),
        );
    }

    /// Makes the next `n` calls fail in transport.
    pub fn fail_transport(&self, n: u32) {
        self.0.lock().unwrap().transport_failures = n;
    }

    /// The calls as sent by the publisher.
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.0.lock().unwrap().calls.clone()
    }

    /// The calls as moto received them.
    pub fn forwarded(&self) -> Vec<Vec<String>> {
        self.0.lock().unwrap().forwarded.clone()
    }
}

fn event_id_of(entry: &Value) -> String {
    entry["Detail"]
        .as_str()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .and_then(|d| d["eventId"].as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "test-faults"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut st = self.0.lock().unwrap();
        let request = context.request_mut();
        let body = request
            .body()
            .bytes()
            .ok_or_else(|| anyhow!("PutEvents body is not in memory"))?;
        let mut json: Value = serde_json::from_slice(body)?;
        let entries = json["Entries"]
            .as_array_mut()
            .ok_or_else(|| anyhow!("no Entries"))?;
        let ids: Vec<String> = entries.iter().map(event_id_of).collect();
        st.calls.push(ids.clone());
        let mut pending = Vec::new();
        let mut kept = Vec::new();
        for (i, (entry, id)) in entries.drain(..).zip(&ids).enumerate() {
            match st.entry_faults.get_mut(id).and_then(|q| q.pop_front()) {
                Some(code) => pending.push((i, code)),
                None => kept.push((entry, id.clone())),
            }
        }
        let transport = st.transport_failures > 0;
        if transport {
            st.transport_failures -= 1;
        }
        st.synthesize = !transport && kept.is_empty();
        if transport || kept.is_empty() {
            // Nothing reaches moto: a closed port refuses the connection.
            request.set_uri("http://127.0.0.1:1/")?;
            st.forwarded.push(Vec::new());
        } else {
            st.forwarded
                .push(kept.iter().map(|(_, id)| id.clone()).collect());
        }
        *entries = kept.into_iter().map(|(e, _)| e).collect();
        let bytes = serde_json::to_vec(&json)?;
        request
            .headers_mut()
            .insert("content-length", bytes.len().to_string());
        *request.body_mut() = SdkBody::from(bytes);
        st.pending = if transport { Vec::new() } else { pending };
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut st = self.0.lock().unwrap();
        let pending = std::mem::take(&mut st.pending);
        let synthesize = std::mem::replace(&mut st.synthesize, false);
        if pending.is_empty() {
            return Ok(());
        }
        let Some(result) = context.output_or_error_mut() else {
            return Ok(());
        };
        if synthesize {
            *result = Ok(Output::erase(
                PutEventsOutput::builder().failed_entry_count(0).build(),
            ));
        }
        let Ok(output) = result else {
            return Ok(());
        };
        let out = output
            .downcast_mut::<PutEventsOutput>()
            .ok_or_else(|| anyhow!("not a PutEvents output"))?;
        let entries = out.entries.get_or_insert_with(Vec::new);
        for (i, code) in &pending {
            entries.insert(
                *i,
                PutEventsResultEntry::builder()
                    .error_code(code)
                    .error_message(format!("injected {code}"))
                    .build(),
            );
        }
        out.failed_entry_count += pending.len() as i32;
        Ok(())
    }
}
