//! Operator actions behind the `cdc-ops` CLI: listing and resetting checkpoints, the processor
//! state, peeking at and re-driving dead letters, resolving queue URLs. (The pieces the
//! `health-check` and `dead-letter-processor` functions share live in [`crate::shared`].)
//!
//! These run with the operator's own credentials (aws-config's default chain, or an emulator
//! through `AWS_ENDPOINT_URL`), not the functions' roles: `Scan` and `DeleteItem` on the checkpoint
//! table, `ReceiveMessage` / `ChangeMessageVisibility` / `DeleteMessage` on the queues.
//!
//! Nothing here returns or prints a record's contents: a dead letter is summarized by its message
//! id, error code and message (which by the pipeline's rules names columns and reasons, never
//! values), table, format, attempts and Kinesis position.

use crate::redrive::{dead_letter_table, RedriveOutcome, Redriver};
use crate::shared::aws_error;
pub use crate::shared::OpsError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use cdc_processor::aws::dynamodb::{checkpoint_id, decode_position, encode_position};
use cdc_processor::aws::truncate;
use cdc_processor::ports::{CheckpointKey, DeadLetter};
use cdc_processor::sequence::Position;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

// ------------------------------------------------------------------------------------------------
// Checkpoints and state
// ------------------------------------------------------------------------------------------------

/// One checkpoint item, as `checkpoint status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointRow {
    /// The item's `pk`.
    pub pk: String,
    /// Processor name (the Lambda function name).
    pub processor: String,
    /// Stream ARN (or name).
    pub stream: String,
    /// Shard id.
    pub shard: String,
    /// Sequence number of the position.
    pub sequence_number: Option<String>,
    /// Sub-sequence number of the position (KPL aggregates).
    pub sub_sequence_number: Option<u64>,
    /// When the checkpoint was last written.
    pub updated_at: Option<DateTime<Utc>>,
    /// When DynamoDB may delete the item (TTL).
    pub expires_at: Option<DateTime<Utc>>,
}

impl CheckpointRow {
    /// Whether this item is a re-drive idempotency record of the dead-letter processor rather than
    /// a processor's checkpoint.
    pub fn is_redrive_record(&self) -> bool {
        self.processor == crate::redrive::REDRIVE_PROCESSOR
    }

    /// Its age at `now`.
    pub fn age(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.updated_at
            .map(|t| (now - t).to_std().unwrap_or(Duration::ZERO))
    }

    /// The key.
    pub fn key(&self) -> CheckpointKey {
        CheckpointKey {
            processor: self.processor.clone(),
            stream: self.stream.clone(),
            shard: self.shard.clone(),
        }
    }
}

fn attr_s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

fn attr_n(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Reads a checkpoint item (see [`cdc_processor::aws::dynamodb`] for its attributes).
pub fn checkpoint_row(item: &HashMap<String, AttributeValue>) -> Option<CheckpointRow> {
    let pk = attr_s(item, "pk")?.to_string();
    let position = attr_s(item, "position").and_then(decode_position);
    Some(CheckpointRow {
        processor: attr_s(item, "processor").unwrap_or_default().to_string(),
        stream: attr_s(item, "stream").unwrap_or_default().to_string(),
        shard: attr_s(item, "shard").unwrap_or_default().to_string(),
        sequence_number: position
            .as_ref()
            .map(|p| p.sequence.as_str().to_string())
            .or_else(|| attr_s(item, "sequenceNumber").map(str::to_string)),
        sub_sequence_number: position.and_then(|p| p.sub_sequence),
        updated_at: parse_time(attr_s(item, "updatedAt")),
        expires_at: attr_n(item, "expiresAt").and_then(|s| DateTime::from_timestamp(s, 0)),
        pk,
    })
}

/// Every item of `table` (a consistent, paginated `Scan`); `what` names the table in errors.
async fn scan_all(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    what: &str,
) -> Result<Vec<HashMap<String, AttributeValue>>, OpsError> {
    let mut items = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let out = ddb
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| aws_error(&format!("Scan ({what} table {table})"), &e))?;
        items.extend(out.items().iter().cloned());
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    Ok(items)
}

/// Every checkpoint item of the table (a paginated `Scan`), sorted by processor, stream, shard.
pub async fn list_checkpoints(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<CheckpointRow>, OpsError> {
    let items = scan_all(ddb, table, "checkpoint").await?;
    let mut rows: Vec<CheckpointRow> = items.iter().filter_map(checkpoint_row).collect();
    rows.sort_by(|a, b| {
        (&a.processor, &a.stream, &a.shard).cmp(&(&b.processor, &b.stream, &b.shard))
    });
    Ok(rows)
}

/// One item of the state table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateRow {
    /// `processor` (`<processor>#<shard>` for the per-shard items the function writes).
    pub processor: String,
    /// `lastProcessedSequence`.
    pub last_processed_sequence: Option<String>,
    /// `processedCount`.
    pub processed_count: Option<i64>,
    /// `lastUpdated`.
    pub last_updated: Option<DateTime<Utc>>,
}

/// Every item of the state table (a paginated `Scan`), sorted by key.
pub async fn list_state(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<StateRow>, OpsError> {
    let items = scan_all(ddb, table, "state").await?;
    let mut rows: Vec<StateRow> = items
        .iter()
        .filter_map(|item| {
            Some(StateRow {
                processor: attr_s(item, "processor")?.to_string(),
                last_processed_sequence: attr_s(item, "lastProcessedSequence").map(str::to_string),
                processed_count: attr_n(item, "processedCount"),
                last_updated: parse_time(attr_s(item, "lastUpdated")),
            })
        })
        .collect();
    rows.sort_by(|a, b| a.processor.cmp(&b.processor));
    Ok(rows)
}

/// What `checkpoint reset` does to one checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetPlan {
    /// The checkpoint.
    pub key: CheckpointKey,
    /// Its current sequence number (`None`: no item yet).
    pub from: Option<String>,
    /// The new position (`None`: delete the item, so nothing is skipped any more).
    pub to: Option<String>,
}

/// Plans a reset: the checkpoints of `processor` (and `shard`, when given) found in `rows` —
/// never the re-drive records. With `to` and no matching item, a new checkpoint on
/// `create_on_stream` (when given, with a shard) is planned.
pub fn plan_reset(
    rows: &[CheckpointRow],
    processor: &str,
    shard: Option<&str>,
    to: Option<&Position>,
    create_on_stream: Option<&str>,
) -> Result<Vec<ResetPlan>, OpsError> {
    let to_s = to.map(|p| match p.sub_sequence {
        Some(sub) => format!("{}/{sub}", p.sequence),
        None => p.sequence.to_string(),
    });
    let plans: Vec<ResetPlan> = rows
        .iter()
        .filter(|r| !r.is_redrive_record() && r.processor == processor)
        .filter(|r| shard.is_none_or(|s| r.shard == s))
        .filter(|r| create_on_stream.is_none_or(|s| r.stream == s))
        .map(|r| ResetPlan {
            key: r.key(),
            from: r.sequence_number.clone(),
            to: to_s.clone(),
        })
        .collect();
    if !plans.is_empty() {
        return Ok(plans);
    }
    match (to, shard, create_on_stream) {
        (Some(_), Some(shard), Some(stream)) => Ok(vec![ResetPlan {
            key: CheckpointKey {
                processor: processor.to_string(),
                stream: stream.to_string(),
                shard: shard.to_string(),
            },
            from: None,
            to: to_s,
        }]),
        _ => Err(OpsError::Invalid(format!(
            "no checkpoint of processor `{processor}`{} (see `checkpoint status`){}",
            shard
                .map(|s| format!(" on shard `{s}`"))
                .unwrap_or_default(),
            if to.is_some() {
                "; to create one give --to, --shard and --stream"
            } else {
                ""
            }
        ))),
    }
}

/// Applies one planned reset: deletes the item, or writes the position unconditionally (a reset
/// may move a checkpoint backwards, unlike the processor's forward-only writes). The item has the
/// processor's attributes, with `expiresAt` `ttl` from now.
pub async fn apply_reset(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &CheckpointKey,
    to: Option<&Position>,
    ttl: Duration,
) -> Result<(), OpsError> {
    let pk = checkpoint_id(key);
    let Some(to) = to else {
        ddb.delete_item()
            .table_name(table)
            .key("pk", AttributeValue::S(pk))
            .send()
            .await
            .map_err(|e| aws_error("DeleteItem (checkpoint)", &e))?;
        return Ok(());
    };
    let now = Utc::now();
    let mut req = ddb
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(pk))
        .item("position", AttributeValue::S(encode_position(to)))
        .item(
            "sequenceNumber",
            AttributeValue::S(to.sequence.as_str().to_string()),
        )
        .item("processor", AttributeValue::S(key.processor.clone()))
        .item("stream", AttributeValue::S(key.stream.clone()))
        .item("shard", AttributeValue::S(key.shard.clone()))
        .item(
            "updatedAt",
            AttributeValue::S(now.to_rfc3339_opts(SecondsFormat::Millis, true)),
        )
        .item(
            "expiresAt",
            AttributeValue::N((now.timestamp() + ttl.as_secs() as i64).to_string()),
        );
    if let Some(sub) = to.sub_sequence {
        req = req.item("subSequenceNumber", AttributeValue::N(sub.to_string()));
    }
    req.send()
        .await
        .map_err(|e| aws_error("PutItem (checkpoint)", &e))?;
    Ok(())
}

/// Parses `SEQ` or `SEQ/SUB` (a sequence number, and the sub-sequence number of a user record of a
/// KPL aggregate).
pub fn parse_position(s: &str) -> Result<Position, OpsError> {
    let (seq, sub) = match s.split_once('/') {
        Some((seq, sub)) => (seq, Some(sub)),
        None => (s, None),
    };
    let sequence = seq
        .parse()
        .map_err(|e| OpsError::Invalid(format!("--to: {e}")))?;
    let sub_sequence = sub
        .map(|s| {
            s.parse::<u64>().map_err(|_| {
                OpsError::Invalid("--to: the sub-sequence number is not an integer".into())
            })
        })
        .transpose()?;
    Ok(Position {
        sequence,
        sub_sequence,
    })
}

// ------------------------------------------------------------------------------------------------
// Queues
// ------------------------------------------------------------------------------------------------

/// The URL of the queue called `name` (`GetQueueUrl`).
pub async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, OpsError> {
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| aws_error(&format!("GetQueueUrl ({name})"), &e))?
        .queue_url()
        .map(str::to_string)
        .ok_or_else(|| OpsError::Invalid(format!("GetQueueUrl ({name}) returned no URL")))
}

/// One dead letter as `dlq list` shows it: never the record itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterSummary {
    /// SQS message id.
    pub message_id: String,
    /// Error code (`PARSE_ERROR`, …), when the body is a dead letter.
    pub code: Option<String>,
    /// The error message (names columns and reasons, never values).
    pub error: Option<String>,
    /// The record's table, when it can be read and is a known table.
    pub table: Option<String>,
    /// The record's format, when known.
    pub source_format: Option<String>,
    /// Attempts so far.
    pub attempts: Option<u32>,
    /// When the last attempt failed.
    pub last_attempt: Option<DateTime<Utc>>,
    /// Shard id.
    pub shard: Option<String>,
    /// Sequence number (and sub-sequence number as `SEQ/SUB`).
    pub sequence_number: Option<String>,
    /// The event id the record publishes under.
    pub event_id: Option<String>,
    /// How often SQS has handed the message out (each peek counts).
    pub receive_count: Option<u32>,
}

/// Summarizes a message body (a [`DeadLetter`]'s JSON) without its record.
pub fn summarize(message_id: &str, body: &str, receive_count: Option<u32>) -> DeadLetterSummary {
    let letter: Option<DeadLetter> = serde_json::from_str(body).ok();
    match letter {
        Some(l) => DeadLetterSummary {
            message_id: message_id.to_string(),
            code: Some(l.error.code.as_str().to_string()),
            error: Some(truncate(&l.error.message, 300)),
            table: dead_letter_table(&l).map(str::to_string),
            source_format: l.source_format.clone(),
            attempts: Some(l.attempts),
            last_attempt: Some(l.last_attempt),
            shard: l.kinesis.shard_id.clone(),
            sequence_number: l.kinesis.sequence_number.clone().map(|s| {
                match l.kinesis.sub_sequence_number {
                    Some(sub) => format!("{s}/{sub}"),
                    None => s,
                }
            }),
            event_id: l.event_id.clone(),
            receive_count,
        },
        None => DeadLetterSummary {
            message_id: message_id.to_string(),
            code: None,
            error: Some("the message body is not a dead letter".into()),
            table: None,
            source_format: None,
            attempts: None,
            last_attempt: None,
            shard: None,
            sequence_number: None,
            event_id: None,
            receive_count,
        },
    }
}

/// `ApproximateNumberOfMessages` of a queue.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, OpsError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map_err(|e| aws_error(&format!("GetQueueAttributes ({url})"), &e))?;
    Ok(out
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// A received message: id, receipt handle, body, receive count.
struct Received {
    id: String,
    receipt: String,
    body: String,
    receive_count: Option<u32>,
}

async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    max: usize,
    visibility: Duration,
) -> Result<Vec<Received>, OpsError> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(max.clamp(1, 10) as i32)
        .visibility_timeout(visibility.as_secs().min(43_200) as i32)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .map_err(|e| aws_error("ReceiveMessage", &e))?;
    Ok(out
        .messages()
        .iter()
        .filter_map(|m| {
            Some(Received {
                id: m.message_id()?.to_string(),
                receipt: m.receipt_handle()?.to_string(),
                body: m.body().unwrap_or_default().to_string(),
                receive_count: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok()),
            })
        })
        .collect())
}

/// Makes received messages visible again at once (`ChangeMessageVisibility` to 0).
async fn release(sqs: &aws_sdk_sqs::Client, url: &str, receipts: &[String]) {
    for r in receipts {
        if let Err(e) = sqs
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(r)
            .visibility_timeout(0)
            .send()
            .await
        {
            tracing::warn!(error = %aws_error("ChangeMessageVisibility", &e), "a peeked message stays hidden until its visibility timeout");
        }
    }
}

/// Peeks at up to `max` messages of a queue: receives them with a short visibility timeout (so
/// successive receives return other messages), summarizes them, and makes them visible again.
/// Nothing is deleted. Each peek counts as a receive toward the queue's redrive policy
/// (`maxReceiveCount`).
pub async fn peek_dead_letters(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    max: usize,
    visibility: Duration,
) -> Result<Vec<DeadLetterSummary>, OpsError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut receipts = Vec::new();
    let result = async {
        while out.len() < max {
            let got = receive(sqs, url, max - out.len(), visibility).await?;
            let mut new = 0;
            for m in got {
                receipts.push(m.receipt.clone());
                if seen.insert(m.id.clone()) {
                    new += 1;
                    out.push(summarize(&m.id, &m.body, m.receive_count));
                }
            }
            if new == 0 {
                break;
            }
        }
        Ok::<(), OpsError>(())
    }
    .await;
    release(sqs, url, &receipts).await;
    result?;
    out.truncate(max);
    Ok(out)
}

/// One message handled by [`process_dead_letters`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessedMessage {
    /// SQS message id.
    pub message_id: String,
    /// What was in it (no record contents).
    pub letter: DeadLetterSummary,
    /// What the re-drive did.
    pub outcome: RedriveOutcome,
    /// Whether the message was deleted (every outcome but a retry).
    pub deleted: bool,
}

/// Re-drives up to `max` messages of the dead-letter queue with the same logic as the
/// dead-letter-processor Lambda ([`Redriver::redrive_message`]): a message is deleted unless its
/// outcome is a retry (then it reappears after `visibility`, like a batch item failure). Letters
/// dead-lettered again during this run are not taken up again in the same run.
pub async fn process_dead_letters(
    redriver: &Redriver,
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    max: usize,
    visibility: Duration,
) -> Result<Vec<ProcessedMessage>, OpsError> {
    let mut seen_messages = HashSet::new();
    let mut seen_letters = HashSet::new();
    let mut out = Vec::new();
    let mut to_release = Vec::new();
    while out.len() < max {
        let got = receive(sqs, url, max - out.len(), visibility).await?;
        let mut new = 0;
        for m in got {
            if !seen_messages.insert(m.id.clone()) {
                to_release.push(m.receipt);
                continue;
            }
            let summary = summarize(&m.id, &m.body, m.receive_count);
            let identity = summary
                .event_id
                .clone()
                .or_else(|| summary.sequence_number.clone());
            if identity.as_ref().is_some_and(|i| seen_letters.contains(i)) {
                // A letter this run dead-lettered again: leave it for the next run.
                to_release.push(m.receipt);
                continue;
            }
            new += 1;
            let outcome = redriver.redrive_message(&m.id, &m.body).await;
            let deleted = if outcome.is_retry() {
                false
            } else {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(&m.receipt)
                    .send()
                    .await
                    .map_err(|e| aws_error("DeleteMessage", &e))?;
                true
            };
            if let Some(i) = identity {
                seen_letters.insert(i);
            }
            out.push(ProcessedMessage {
                message_id: m.id,
                letter: summary,
                outcome,
                deleted,
            });
            if out.len() >= max {
                break;
            }
        }
        if new == 0 {
            break;
        }
    }
    release(sqs, url, &to_release).await;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(processor: &str, shard: &str) -> CheckpointRow {
        CheckpointRow {
            pk: format!("{processor}#s#{shard}"),
            processor: processor.into(),
            stream: "s".into(),
            shard: shard.into(),
            sequence_number: Some("5".into()),
            sub_sequence_number: None,
            updated_at: None,
            expires_at: None,
        }
    }

    #[test]
    fn reset_plans_only_the_processors_checkpoints() {
        let rows = vec![
            row("cdc-processor", "shardId-0"),
            row("cdc-processor", "shardId-1"),
            row("other", "shardId-0"),
            row(crate::redrive::REDRIVE_PROCESSOR, "shardId-0@abc"),
        ];
        let all = plan_reset(&rows, "cdc-processor", None, None, None).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|p| p.to.is_none()));
        let to = parse_position("7/2").unwrap();
        let one = plan_reset(&rows, "cdc-processor", Some("shardId-1"), Some(&to), None).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].to.as_deref(), Some("7/2"));
        assert!(plan_reset(&rows, "nobody", None, None, None).is_err());
        let created =
            plan_reset(&rows, "nobody", Some("shardId-9"), Some(&to), Some("arn")).unwrap();
        assert_eq!(created[0].from, None);
        assert!(parse_position("x").is_err());
        assert!(parse_position("1/x").is_err());
    }

    #[test]
    fn a_body_that_is_not_a_letter_is_summarized_without_its_contents() {
        let s = summarize("m-1", "secret@example.com", Some(2));
        assert_eq!(s.code, None);
        assert!(!serde_json::to_string(&s).unwrap().contains("secret"));
        assert_eq!(s.receive_count, Some(2));
    }
}
