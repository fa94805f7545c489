//! The `lambda` adapters: aws_lambda_events payloads to typed changes, partial batch responses.

use crate::common::{build, example, lambda_envelope, sqs_body, Opts};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use cdc_models::{Operation, Table};
use consumer_sdk::lambda::{handle_sqs_event, handle_sqs_fifo_event, sqs_items};
use consumer_sdk::{Change, Event, FailureReason};
use serde_json::{json, Value};

fn agent_detail(id: u64) -> Value {
    let row = example(Table::AgentStates);
    let opts = Opts {
        id,
        ..Opts::default()
    };
    build(
        Table::AgentStates,
        Operation::Update,
        Some(&row),
        Some(&row),
        &opts,
    )
    .detail
}

#[test]
fn an_eventbridge_lambda_payload_parses_with_its_envelope_and_replay_name() {
    let detail = agent_detail(1);
    let payload: EventBridgeEvent =
        serde_json::from_value(lambda_envelope(&detail, Some("backfill"))).unwrap();
    let event = Event::from_lambda_eventbridge(&payload).unwrap();
    let envelope = event.envelope.as_ref().unwrap();
    assert_eq!(envelope.account.as_deref(), Some("123456789012"));
    assert_eq!(envelope.region.as_deref(), Some("eu-west-1"));
    assert_eq!(envelope.id, "6a7e8feb-b491-4cf7-a9f1-bf3703467718");
    assert!(event.is_replay());
    assert_eq!(event.dedupe_key(), detail["eventId"].as_str().unwrap());
    assert!(matches!(event.change, Change::AgentStates(_)));
    // Same result as parsing the JSON payload directly.
    let direct = Event::from_value(&lambda_envelope(&detail, Some("backfill"))).unwrap();
    assert_eq!(direct, event);

    // Errors keep their paths.
    let mut bad = detail.clone();
    bad["after"]["state_version"] = json!("alice@example.com");
    let payload: EventBridgeEvent = serde_json::from_value(lambda_envelope(&bad, None)).unwrap();
    let err = Event::from_lambda_eventbridge(&payload).unwrap_err();
    assert_eq!(err.path(), "$.detail.after.state_version");
    assert!(!err.to_string().contains("alice"));
}

fn sqs_event(bodies: &[String]) -> SqsEvent {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("msg-{i}"),
                "receiptHandle": format!("handle-{i}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:wallboards",
                "awsRegion": "eu-west-1"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

#[tokio::test]
async fn an_sqs_batch_reports_unreadable_and_failed_messages_only() {
    let bodies = vec![
        sqs_body(&agent_detail(1)),
        "{\"not\": \"an event\"}".to_string(),
        sqs_body(&agent_detail(3)),
        sqs_body(&agent_detail(4)),
    ];
    let event = sqs_event(&bodies);
    let items: Vec<_> = sqs_items(&event).collect();
    assert_eq!(items.len(), 4);
    assert!(items[0].event.is_ok() && items[1].event.is_err());

    let fail_id = crate::common::event_id(3);
    let mut handled = Vec::new();
    let outcome = handle_sqs_event(&event, async |e: Event| {
        if e.dedupe_key() == fail_id {
            return Err("downstream unavailable");
        }
        handled.push(e.dedupe_key().to_string());
        Ok(())
    })
    .await;
    assert_eq!(
        handled,
        [crate::common::event_id(1), crate::common::event_id(4)]
    );
    assert_eq!(outcome.succeeded, 2);
    assert_eq!(outcome.failures.len(), 2);
    assert_eq!(outcome.failures[0].message_id, "msg-1");
    assert!(matches!(
        outcome.failures[0].reason,
        FailureReason::Parse(_)
    ));
    assert_eq!(outcome.failures[1].message_id, "msg-2");
    assert!(matches!(
        outcome.failures[1].reason,
        FailureReason::Handler("downstream unavailable")
    ));
    let response = outcome.into_response();
    let ids: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(ids, ["msg-1", "msg-2"]);
    // The response serializes as Lambda expects.
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["batchItemFailures"][0]["itemIdentifier"], "msg-1");
}

#[tokio::test]
async fn a_fifo_batch_stops_at_the_first_failure() {
    let bodies = vec![
        sqs_body(&agent_detail(1)),
        sqs_body(&agent_detail(2)),
        sqs_body(&agent_detail(3)),
    ];
    let event = sqs_event(&bodies);
    let mut calls = 0;
    let outcome = handle_sqs_fifo_event(&event, async |_e: Event| {
        calls += 1;
        if calls == 2 {
            Err("boom")
        } else {
            Ok(())
        }
    })
    .await;
    assert_eq!(calls, 2);
    assert_eq!(outcome.succeeded, 1);
    assert!(matches!(outcome.failures[1].reason, FailureReason::Skipped));
    let response = outcome.into_response();
    let ids: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(ids, ["msg-1", "msg-2"]);
}

/// `Change` is `Serialize + DeserializeOwned`, so it is `EventBridgeEvent<Change>`'s detail type:
/// the Lambda runtime deserializes the typed change directly, and the payload serializes back.
#[test]
fn change_is_the_detail_type_of_an_eventbridge_event() {
    let detail = agent_detail(11);
    let payload = lambda_envelope(&detail, None);
    let typed: EventBridgeEvent<Change> = serde_json::from_value(payload.clone()).unwrap();
    assert_eq!(typed.detail_type, "CDC.TableChange");
    assert_eq!(typed.detail, Change::from_detail_value(&detail).unwrap());
    let Change::AgentStates(c) = &typed.detail else {
        panic!("agent_states")
    };
    assert_eq!(
        c.info.schema_version,
        Some(Table::AgentStates.meta().schema_version)
    );
    // Back to JSON: the detail is the published one.
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(back["detail"], detail);
    // A detail that is not a change fails the whole payload, with the path inside the detail.
    let mut bad = payload;
    bad["detail"]["operation"] = json!("EXPLODE");
    let err = serde_json::from_value::<EventBridgeEvent<Change>>(bad).unwrap_err();
    assert!(err.to_string().contains("$.operation"), "{err}");
}
