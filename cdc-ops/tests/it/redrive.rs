//! The dead-letter-processor against moto: dead letters made by the real cdc-processor handler,
//! re-driven by the real dead-letter-processor handler from SQS events as the trigger delivers
//! them. Re-driving the same message twice publishes one event id; a permanent failure goes back to
//! the DLQ with attempts + 1 and is parked at the max; a transient failure is reported for SQS to
//! retry; a KPL aggregate's re-drive publishes only the dead-lettered user record.

use crate::support::*;
use anyhow::{Context, Result};
use aws_lambda_events::event::sqs::SqsEvent;
use cdc_ops::redrive::{handler, RedriveOutcome, Redriver, REDRIVE_PROCESSOR};
use cdc_processor::decode::kpl::{aggregate, AggregatedRecord, Record};
use cdc_processor::ports::DeadLetter;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::{json, Value};

async fn invoke(r: &Redriver, event: &SqsEvent) -> Result<Value> {
    let response = handler(r, LambdaEvent::new(event.clone(), LambdaContext::default()))
        .await
        .map_err(|e| anyhow::anyhow!("handler: {e}"))?;
    Ok(serde_json::to_value(response)?)
}

fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

fn letter_of(event: &SqsEvent, i: usize) -> DeadLetter {
    serde_json::from_str(event.records[i].body.as_deref().unwrap()).unwrap()
}

fn metric(lines: &[String], name: &str) -> u64 {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("Category").is_none())
        .filter_map(|v| v[name].as_u64())
        .sum()
}

#[tokio::test]
async fn redriving_the_same_message_twice_publishes_one_event_id() -> Result<()> {
    let s = Stack::start().await?;
    // The processor with a 1.5 KiB entry limit dead-letters the large agent as ENTRY_TOO_LARGE.
    let processor = s.processor(&[("MAX_EVENT_SIZE_BYTES", "1536")]).await?;
    let events = s.put_and_read(&[("agents#1", big_agent())]).await?;
    assert!(s.process(&processor, &events).await?.is_empty());
    assert!(
        s.drain(&s.routed).await?.is_empty(),
        "nothing published yet"
    );

    let (event, receipts) = s.receive_event(&s.dlq).await?;
    assert_eq!(event.records.len(), 1);
    let letter = letter_of(&event, 0);
    assert_eq!(letter.error.code.as_str(), "ENTRY_TOO_LARGE");
    assert_eq!(letter.attempts, 1);
    let event_id = letter
        .event_id
        .clone()
        .context("the letter has an event id")?;

    // After the fix (the default limit), the dead-letter-processor re-drives it.
    let (redriver, metrics) = s.redriver(&[]).await?;
    let response = invoke(&redriver, &event).await?;
    assert!(failures(&response).is_empty(), "{response}");
    let published = s.drain(&s.routed).await?;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["detail"]["eventId"], event_id.as_str());
    assert_eq!(published[0]["detail"]["table"], "agents");
    assert_eq!(
        published[0]["detail"]["metadata"]["sequenceNumber"],
        letter.kinesis.sequence_number.clone().unwrap()
    );
    assert_eq!(metric(&metrics.lock().unwrap(), "RedrivePublished"), 1);

    // The per-record checkpoint (idempotency record) is in the checkpoint table.
    let items = s.checkpoint_items().await?;
    let redrive: Vec<_> = items
        .iter()
        .filter(|i| i["processor"].as_s().ok().map(String::as_str) == Some(REDRIVE_PROCESSOR))
        .collect();
    assert_eq!(redrive.len(), 1);
    assert!(redrive[0]["shard"].as_s().unwrap().ends_with(&event_id));

    // The same message again (SQS delivers it twice, or the CLI takes it too): nothing new.
    let response = invoke(&redriver, &event).await?;
    assert!(failures(&response).is_empty(), "{response}");
    assert!(
        s.drain(&s.routed).await?.is_empty(),
        "a second re-drive published again"
    );
    let outcome = redriver
        .redrive_message("again", event.records[0].body.as_deref().unwrap())
        .await;
    assert_eq!(
        outcome,
        RedriveOutcome::AlreadyRedriven {
            event_id: event_id.clone()
        }
    );
    assert!(metric(&metrics.lock().unwrap(), "RedriveAlreadyDone") >= 1);

    // Nothing was dead-lettered anew; Lambda deletes the handled message.
    s.delete_succeeded(&s.dlq, &event, &receipts, &response)
        .await?;
    assert!(s.drain(&s.dlq).await?.is_empty());
    assert!(s.drain(&s.parking).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_permanent_failure_goes_back_with_attempts_incremented_then_is_parked() -> Result<()> {
    let s = Stack::start().await?;
    let processor = s.processor(&[]).await?;
    let events = s.put_and_read(&[("users#1", BAD_RECORD.to_vec())]).await?;
    s.process(&processor, &events).await?;

    let (redriver, metrics) = s.redriver(&[("DLQ_MAX_ATTEMPTS", "3")]).await?;

    // Attempt 2: still PARSE_ERROR, back in the DLQ with attempts 2.
    let (event, receipts) = s.receive_event(&s.dlq).await?;
    assert_eq!(event.records.len(), 1);
    let first = letter_of(&event, 0);
    assert_eq!(first.attempts, 1);
    let before = chrono::Utc::now();
    let response = invoke(&redriver, &event).await?;
    assert!(
        failures(&response).is_empty(),
        "a permanent failure is not retried by SQS: {response}"
    );
    s.delete_succeeded(&s.dlq, &event, &receipts, &response)
        .await?;
    let again = s.drain_messages(&s.dlq).await?;
    assert_eq!(again.len(), 1, "exactly the updated letter is in the DLQ");
    let (body, attrs) = &again[0];
    let second: DeadLetter = serde_json::from_value(body.clone())?;
    assert_eq!(second.attempts, 2);
    assert_eq!(second.error.code.as_str(), "PARSE_ERROR");
    assert!(second.last_attempt >= before);
    assert_eq!(second.original_event, first.original_event);
    assert_eq!(second.event_id, first.event_id);
    assert_eq!(second.kinesis, first.kinesis);
    assert_eq!(
        attrs.get("errorCode").map(String::as_str),
        Some("PARSE_ERROR")
    );
    assert_eq!(attrs.get("attempts").map(String::as_str), Some("2"));
    assert_eq!(
        metric(&metrics.lock().unwrap(), "RedriveDeadLetteredAgain"),
        1
    );

    // Attempt 3 = DLQ_MAX_ATTEMPTS: parked instead, with attempts 3; the DLQ is empty.
    let outcome = redriver.redrive_message("m-2", &body.to_string()).await;
    assert!(
        matches!(
            &outcome,
            RedriveOutcome::Parked { attempts: Some(3), code: Some(c), .. } if c.as_str() == "PARSE_ERROR"
        ),
        "{outcome:?}"
    );
    assert!(s.drain(&s.dlq).await?.is_empty());
    let parked = s.drain(&s.parking).await?;
    assert_eq!(parked.len(), 1);
    let third: DeadLetter = serde_json::from_value(parked[0].clone())?;
    assert_eq!(third.attempts, 3);
    assert_eq!(third.original_event, first.original_event);
    Ok(())
}

#[tokio::test]
async fn a_transient_failure_is_reported_for_sqs_to_retry() -> Result<()> {
    let s = Stack::start().await?;
    let processor = s.processor(&[("MAX_EVENT_SIZE_BYTES", "1536")]).await?;
    let events = s.put_and_read(&[("agents#1", big_agent())]).await?;
    s.process(&processor, &events).await?;
    let (event, _) = s.receive_event(&s.dlq).await?;
    assert_eq!(event.records.len(), 1);

    // PutEvents to a bus that does not exist fails the whole call: a deployment problem, not the
    // record's — transient for the re-drive.
    let (redriver, metrics) = s.redriver(&[("EVENT_BUS_NAME", "no-such-bus")]).await?;
    let response = invoke(&redriver, &event).await?;
    assert_eq!(
        failures(&response),
        vec![event.records[0].message_id.clone().unwrap()]
    );
    assert_eq!(metric(&metrics.lock().unwrap(), "RedriveRetried"), 1);
    // Nothing dead-lettered anew, nothing parked, no re-drive record: a later retry publishes.
    assert!(s.drain(&s.parking).await?.is_empty());
    assert!(s.checkpoint_items().await?.iter().all(|i| i["processor"]
        .as_s()
        .ok()
        .map(String::as_str)
        != Some(REDRIVE_PROCESSOR)));

    let (fixed, _) = s.redriver(&[]).await?;
    let response = invoke(&fixed, &event).await?;
    assert!(failures(&response).is_empty());
    assert_eq!(s.drain(&s.routed).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_body_that_is_not_a_dead_letter_is_parked_unchanged() -> Result<()> {
    let s = Stack::start().await?;
    let (redriver, _) = s.redriver(&[]).await?;
    let event: SqsEvent = serde_json::from_value(json!({"Records": [
        {"messageId": "m-1", "receiptHandle": "r", "body": "{\"hello\": \"not a letter\"}",
         "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs"}
    ]}))?;
    let response = invoke(&redriver, &event).await?;
    assert!(failures(&response).is_empty());
    let parked = s.drain(&s.parking).await?;
    assert_eq!(parked, vec![json!({"hello": "not a letter"})]);
    Ok(())
}

#[tokio::test]
async fn only_the_dead_lettered_user_record_of_a_kpl_aggregate_is_redriven() -> Result<()> {
    let s = Stack::start().await?;
    let mut small = example("agents");
    small["display_name"] = json!("Agent Zero");
    let mut other = example("agents");
    other["display_name"] = json!("Agent Two");
    let kpl = aggregate(&AggregatedRecord {
        partition_key_table: vec!["agents".into()],
        explicit_hash_key_table: vec![],
        records: [
            insert("agents", small),
            big_agent(),
            insert("agents", other),
        ]
        .into_iter()
        .map(|data| Record {
            partition_key_index: 0,
            explicit_hash_key_index: None,
            data,
            tags: vec![],
        })
        .collect(),
    });
    let processor = s.processor(&[("MAX_EVENT_SIZE_BYTES", "1536")]).await?;
    let events = s.put_and_read(&[("agents", kpl)]).await?;
    assert!(s.process(&processor, &events).await?.is_empty());
    let first = s.drain(&s.routed).await?;
    assert_eq!(first.len(), 2, "user records 0 and 2 are published");

    let (event, _) = s.receive_event(&s.dlq).await?;
    assert_eq!(event.records.len(), 1);
    let letter = letter_of(&event, 0);
    assert_eq!(letter.kinesis.sub_sequence_number, Some(1));

    let (redriver, _) = s.redriver(&[]).await?;
    assert!(failures(&invoke(&redriver, &event).await?).is_empty());
    let redriven = s.drain(&s.routed).await?;
    assert_eq!(redriven.len(), 1, "only user record 1: {redriven:?}");
    assert_eq!(
        redriven[0]["detail"]["eventId"],
        letter.event_id.clone().unwrap()
    );
    assert_eq!(redriven[0]["detail"]["metadata"]["subSequenceNumber"], 1);
    for e in &first {
        assert_ne!(e["detail"]["eventId"], redriven[0]["detail"]["eventId"]);
    }

    assert!(failures(&invoke(&redriver, &event).await?).is_empty());
    assert!(s.drain(&s.routed).await?.is_empty());
    assert!(s.drain(&s.dlq).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_letter_whose_event_id_its_record_does_not_yield_publishes_nothing() -> Result<()> {
    let s = Stack::start().await?;
    let processor = s.processor(&[("MAX_EVENT_SIZE_BYTES", "1536")]).await?;
    let events = s.put_and_read(&[("agents#1", big_agent())]).await?;
    s.process(&processor, &events).await?;
    let (event, _) = s.receive_event(&s.dlq).await?;
    let mut letter = letter_of(&event, 0);
    letter.event_id = Some("0".repeat(32));

    let (redriver, _) = s.redriver(&[]).await?;
    let outcome = redriver.redrive(letter).await;
    assert!(
        matches!(&outcome, RedriveOutcome::DeadLetteredAgain { code, attempts: 2 } if code.as_str() == "PARSE_ERROR"),
        "{outcome:?}"
    );
    assert!(s.drain(&s.routed).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_local_mode_letter_is_redriven_under_its_byte_derived_event_id() -> Result<()> {
    use cdc_processor::config::PipelineConfig;
    use cdc_processor::decode::RawInput;
    use cdc_processor::testing::{MemoryCheckpointStore, MemoryDeadLetterSink, MemoryPublisher};
    use cdc_processor::Pipeline;

    let s = Stack::start().await?;
    // The local mode with a 1.5 KiB limit dead-letters the large agent (a raw JSON line).
    let mut config = PipelineConfig::from_lookup(|k| match k {
        "REDACTION_HMAC_KEY" => Some(HMAC_KEY.to_string()),
        "CDC_TABLE_OVERRIDES" => Some(r#"{"agents": {"includeFields": ["*"]}}"#.to_string()),
        _ => None,
    })?;
    config.set_max_entry_size(1536)?;
    let local = Pipeline::new(
        config,
        MemoryPublisher::new(),
        MemoryCheckpointStore::new(),
        MemoryDeadLetterSink::new(),
    );
    let lines = RawInput::from_json_lines("file:agents.jsonl", &big_agent());
    local.process_raw_records(lines, "local").await;
    let letters = local.dead_letters().letters();
    assert_eq!(letters.len(), 1);
    let letter = letters[0].clone();
    assert_eq!(letter.original_event["eventSource"], "local");

    let (redriver, _) = s.redriver(&[]).await?;
    let outcome = redriver
        .redrive_message("local-1", &serde_json::to_string(&letter)?)
        .await;
    let event_id = letter.event_id.clone().unwrap();
    assert_eq!(
        outcome,
        RedriveOutcome::Published {
            event_id: event_id.clone()
        }
    );
    let published = s.drain(&s.routed).await?;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["detail"]["eventId"], event_id.as_str());
    assert_eq!(
        redriver
            .redrive_message("local-2", &serde_json::to_string(&letter)?)
            .await,
        RedriveOutcome::AlreadyRedriven { event_id }
    );
    Ok(())
}
