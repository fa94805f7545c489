//! Patterns built by `EventPattern` against the emulator's real rule matching: a bus, rules with
//! the built patterns, an SQS queue per rule; matching and non-matching events are put on the bus
//! and each queue must receive exactly the matching ones — parsed back with `Event::from_sqs_body`
//! (moto's bodies carry no `account`).

use crate::common::{build, example, Opts};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sqs::types::QueueAttributeName;
use cdc_models::{Operation, Table};
use consumer_sdk::{Condition, DetailFilter, Event, EventPattern, SourceFormat};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const BUS: &str = "cdc-events";

struct Harness {
    eb: aws_sdk_eventbridge::Client,
    sqs: aws_sdk_sqs::Client,
}

impl Harness {
    /// A rule with `pattern` on the bus, targeting a new queue; returns the queue URL.
    async fn rule_to_queue(&self, name: &str, pattern: &Value) -> String {
        let url = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let arn = attrs.attributes.unwrap()[&QueueAttributeName::QueueArn].clone();
        self.eb
            .put_rule()
            .name(name)
            .event_bus_name(BUS)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .unwrap();
        self.eb
            .put_targets()
            .rule(name)
            .event_bus_name(BUS)
            .targets(Target::builder().id("queue").arn(arn).build().unwrap())
            .send()
            .await
            .unwrap();
        url
    }

    async fn put(&self, events: &[(&str, Value)]) {
        for chunk in events.chunks(10) {
            let entries = chunk
                .iter()
                .map(|(source, detail)| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(BUS)
                        .source(*source)
                        .detail_type("CDC.TableChange")
                        .detail(detail.to_string())
                        .build()
                })
                .collect::<Vec<_>>();
            let out = self
                .eb
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap();
            assert_eq!(out.failed_entry_count, 0, "{out:?}");
        }
    }

    /// Every event in the queue, parsed; drains until two empty receives.
    async fn drain(&self, url: &str) -> Vec<Event> {
        let mut events = Vec::new();
        let mut empty = 0;
        while empty < 2 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                empty += 1;
            }
            for m in messages {
                let event = Event::from_sqs_body(m.body().unwrap())
                    .unwrap_or_else(|e| panic!("moto delivered an unreadable body: {e}"));
                events.push(event);
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        events
    }
}

fn ids(events: &[Event]) -> BTreeSet<String> {
    events.iter().map(|e| e.dedupe_key().to_string()).collect()
}

fn set(ids: &[&Value]) -> BTreeSet<String> {
    ids.iter()
        .map(|d| d["eventId"].as_str().unwrap().to_string())
        .collect()
}

fn agent(id: u64, op: Operation, patch: Value, before_partial: bool) -> Value {
    let mut row = example(Table::AgentStates);
    for (k, v) in patch.as_object().unwrap() {
        row[k] = v.clone();
    }
    let opts = Opts {
        id,
        before_partial,
        ..Opts::default()
    };
    match op {
        Operation::Delete => build(Table::AgentStates, op, Some(&row), None, &opts).detail,
        Operation::Insert => build(Table::AgentStates, op, None, Some(&row), &opts).detail,
        _ => build(Table::AgentStates, op, Some(&row), Some(&row), &opts).detail,
    }
}

fn queue(id: u64, patch: Value, format: &'static str) -> Value {
    let mut row = example(Table::QueueMetrics);
    for (k, v) in patch.as_object().unwrap() {
        row[k] = v.clone();
    }
    let opts = Opts {
        id,
        source_format: format,
        ..Opts::default()
    };
    build(
        Table::QueueMetrics,
        Operation::Update,
        Some(&row),
        Some(&row),
        &opts,
    )
    .detail
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_patterns_select_exactly_the_matching_events_in_moto() {
    let moto = testkit::Moto::start();
    let config = moto.sdk_config().await;
    let h = Harness {
        eb: aws_sdk_eventbridge::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
    };
    h.eb.create_event_bus().name(BUS).send().await.unwrap();

    // 1. Live agent tiles of one team: source, table, operations, anything-but, prefix.
    let tiles = EventPattern::new()
        .sources(["cdc-pipeline"])
        .tables([Table::AgentStates])
        .operations([Operation::Insert, Operation::Update])
        .after("state", Condition::anything_but(["offline"]))
        .after("team_id", Condition::prefix("1a2b3c4d-"))
        .build()
        .unwrap();
    // 2. Busy open queues: `$or` of numeric ranges, a boolean equality, source formats.
    let busy = EventPattern::new()
        .tables([Table::QueueMetrics])
        .after("is_open", Condition::equals(true))
        .source_formats([SourceFormat::Debezium, SourceFormat::Dms])
        .any_of([
            DetailFilter::new().after("contacts_waiting", Condition::numeric(5.0..)),
            DetailFilter::new().after("longest_wait_seconds", Condition::greater_than(120.0)),
        ])
        .build()
        .unwrap();
    // 3. Presence and null: a `before` image that carries `state`, a NULL reason code, and a key
    //    outside a test prefix.
    let presence = EventPattern::new()
        .tables([Table::AgentStates])
        .before("state", Condition::exists())
        .after("reason_code", Condition::null())
        .key("agent_id", Condition::anything_but_prefix("00000000-"))
        .build()
        .unwrap();
    // 4. Absence and a numeric range: key-only befores (no `state` column) of recent versions.
    let partial_before = EventPattern::new()
        .tables([Table::AgentStates])
        .operations([Operation::Update])
        .before("state", Condition::absent())
        .after("state_version", Condition::numeric(4000.0..=5000.0))
        .build()
        .unwrap();

    let q_tiles = h.rule_to_queue("tiles", &tiles).await;
    let q_busy = h.rule_to_queue("busy", &busy).await;
    let q_presence = h.rule_to_queue("presence", &presence).await;
    let q_partial = h.rule_to_queue("partial", &partial_before).await;

    let a1 = agent(1, Operation::Update, json!({"state": "on_call"}), false);
    let a2 = agent(2, Operation::Update, json!({"state": "offline"}), false);
    let a3 = agent(3, Operation::Delete, json!({}), false);
    let a4 = agent(
        4,
        Operation::Update,
        json!({"team_id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"}),
        false,
    );
    let a5 = agent(
        5,
        Operation::Insert,
        json!({"state": "available", "reason_code": "coaching"}),
        false,
    );
    let a6 = agent(
        6,
        Operation::Update,
        json!({"agent_id": "00000000-0b9a-4877-a665-544332211000"}),
        false,
    );
    let a7 = agent(7, Operation::Update, json!({"state_version": 9001}), true);
    let a8 = agent(8, Operation::Update, json!({}), true);
    let a9 = agent(
        9,
        Operation::Update,
        json!({"reason_code": "coaching"}),
        false,
    );
    let q1 = queue(
        11,
        json!({"contacts_waiting": 7, "longest_wait_seconds": 30}),
        "debezium",
    );
    let q2 = queue(
        12,
        json!({"contacts_waiting": 2, "longest_wait_seconds": 200}),
        "dms",
    );
    let q3 = queue(
        13,
        json!({"contacts_waiting": 2, "longest_wait_seconds": 30}),
        "debezium",
    );
    let q4 = queue(
        14,
        json!({"contacts_waiting": 9, "is_open": false}),
        "debezium",
    );
    let q5 = queue(15, json!({"contacts_waiting": 9}), "coredb-trigger");
    let a1_elsewhere = {
        let mut d = a1.clone();
        d["eventId"] = json!(crate::common::event_id(99));
        d
    };

    h.put(&[
        ("cdc-pipeline", a1.clone()),
        ("cdc-pipeline", a2.clone()),
        ("cdc-pipeline", a3.clone()),
        ("cdc-pipeline", a4.clone()),
        ("cdc-pipeline", a5.clone()),
        ("cdc-pipeline", a6.clone()),
        ("cdc-pipeline", a7.clone()),
        ("cdc-pipeline", a8.clone()),
        ("cdc-pipeline", a9.clone()),
        ("other-pipeline", a1_elsewhere.clone()),
        ("cdc-pipeline", q1.clone()),
        ("cdc-pipeline", q2.clone()),
        ("cdc-pipeline", q3.clone()),
        ("cdc-pipeline", q4.clone()),
        ("cdc-pipeline", q5.clone()),
    ])
    .await;

    let tiles_got = h.drain(&q_tiles).await;
    // a1: on_call in team 1a2b…; a5 INSERT available; a6, a7, a8, a9 with state on_call.
    // Not a2 (offline), a3 (DELETE), a4 (other team), the other source, queue metrics.
    assert_eq!(ids(&tiles_got), set(&[&a1, &a5, &a6, &a7, &a8, &a9]));
    assert!(tiles_got
        .iter()
        .all(|e| e.envelope.as_ref().unwrap().source == "cdc-pipeline"));
    assert!(tiles_got
        .iter()
        .all(|e| e.change.table() == Some(Table::AgentStates)));

    assert_eq!(ids(&h.drain(&q_busy).await), set(&[&q1, &q2]));

    // Full befores with state, NULL reason code, agent id not 00000000-: a1, a2, a4 and the
    // other source's copy of a1 (UPDATEs with a full before; this rule has no source filter).
    // Not a3 (DELETE has no after), a5 (INSERT, no before), a6 (prefix), a7/a8 (key-only before),
    // a9 (reason code not NULL).
    assert_eq!(
        ids(&h.drain(&q_presence).await),
        set(&[&a1, &a2, &a4, &a1_elsewhere])
    );

    // Key-only befores with state_version in range: a8 (4127). Not a7 (9001).
    assert_eq!(ids(&h.drain(&q_partial).await), set(&[&a8]));
}
