//! The chain around the relay, on moto: the stream, EventBridge bus and rule into a consumer
//! queue, the processor's DynamoDB tables and DLQ, the processor's Lambda state; reading the
//! stream in the Lambda event shape and draining a queue. Shared by `end_to_end.rs`, `demo.rs`
//! and `examples/demo.rs`.

use anyhow::{Context, Result};
use base64::Engine;
use cdc_processor::aws::lambda::AppState;
use cdc_processor::aws::metrics::MetricsSink;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use testkit::Moto;

/// The stream the relay writes.
pub const STREAM: &str = "coredb-cdc-stream";
/// The EventBridge bus.
pub const BUS: &str = "cdc-events";
/// The events' source.
pub const SOURCE: &str = "cdc-pipeline";
/// The tables the consumer's rule routes.
pub const TABLES: &[&str] = &["users", "orders"];

/// Every record of every shard in sequence order, in the Lambda event shape, at most 100 records
/// an event (one shard's events in order).
pub async fn lambda_events(
    kinesis: &aws_sdk_kinesis::Client,
    stream_arn: &str,
) -> Result<Vec<Value>> {
    let shards = kinesis.list_shards().stream_name(STREAM).send().await?;
    let mut events = Vec::new();
    for shard in shards.shards() {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(STREAM)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await?
            .shard_iterator;
        let mut records = Vec::new();
        while let Some(it) = iterator {
            let got = kinesis
                .get_records()
                .shard_iterator(it)
                .limit(10_000)
                .send()
                .await?;
            if got.records().is_empty() {
                break;
            }
            for r in got.records() {
                records.push(json!({
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": r.partition_key(),
                        "sequenceNumber": r.sequence_number(),
                        "data": base64::engine::general_purpose::STANDARD.encode(r.data().as_ref()),
                        "approximateArrivalTimestamp": r
                            .approximate_arrival_timestamp()
                            .map(|t| t.as_secs_f64())
                            .unwrap_or_default(),
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": format!("{}:{}", shard.shard_id(), r.sequence_number()),
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": "arn:aws:iam::123456789012:role/cdc-processor",
                    "awsRegion": "us-east-1",
                    "eventSourceARN": stream_arn,
                }));
            }
            iterator = got.next_shard_iterator;
        }
        for chunk in records.chunks(100) {
            events.push(json!({ "Records": chunk }));
        }
    }
    Ok(events)
}

/// Reads and deletes every message of a queue until none has arrived for 500 ms.
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_millis(500) {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await?;
        if got.messages().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        quiet_since = Instant::now();
        for m in got.messages() {
            out.push(m.body().context("body")?.to_string());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().context("receipt")?)
                .send()
                .await?;
        }
    }
    Ok(out)
}

pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String)> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await?
        .queue_url()
        .context("queue url")?
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .context("queue arn")?
        .clone();
    Ok((url, arn))
}

pub use testkit::dynamodb::create_table;

/// The moto side: stream, bus with a rule (source, detail-type, `detail.table`) into a queue,
/// DynamoDB tables, a DLQ, and the processor's state as its Lambda would build it.
pub struct Aws {
    /// The SDK configuration for moto.
    pub sdk: aws_config::SdkConfig,
    /// The stream's ARN.
    pub stream_arn: String,
    /// The consumer's queue URL.
    pub routed: String,
    /// The processor's dead-letter queue URL.
    pub dlq: String,
    /// The processor's Lambda state.
    pub state: AppState,
}

pub async fn aws(moto: &Moto) -> Result<Aws> {
    let sdk = moto.sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    kinesis
        .create_stream()
        .stream_name(STREAM)
        .shard_count(2)
        .send()
        .await?;
    let stream_arn = kinesis
        .describe_stream_summary()
        .stream_name(STREAM)
        .send()
        .await?
        .stream_description_summary
        .context("summary")?
        .stream_arn;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let eb = aws_sdk_eventbridge::Client::new(&sdk);
    eb.create_event_bus().name(BUS).send().await?;
    let (routed, routed_arn) = create_queue(&sqs, "consumer").await?;
    let pattern = json!({"source": [SOURCE], "detail-type": ["CDC.TableChange"],
                         "detail": {"table": TABLES}});
    eb.put_rule()
        .name("to-consumer")
        .event_bus_name(BUS)
        .event_pattern(pattern.to_string())
        .send()
        .await?;
    eb.put_targets()
        .rule("to-consumer")
        .event_bus_name(BUS)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(routed_arn)
                .build()?,
        )
        .send()
        .await?;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    create_table(&ddb, "cdc-pipeline-checkpoints", "pk").await?;
    create_table(&ddb, "cdc-pipeline-state", "processor").await?;
    let (dlq, _) = create_queue(&sqs, "cdc-pipeline-dlq").await?;
    let vars: HashMap<&str, String> = [
        ("AWS_REGION", "us-east-1".to_string()),
        ("KINESIS_STREAM_NAME", STREAM.into()),
        ("EVENT_BUS_NAME", BUS.into()),
        ("EVENT_SOURCE", SOURCE.into()),
        ("STATE_TABLE_NAME", "cdc-pipeline-state".into()),
        ("CHECKPOINT_TABLE_NAME", "cdc-pipeline-checkpoints".into()),
        ("ENABLE_DATA_REDACTION", "true".into()),
        (
            "REDACTION_HMAC_KEY",
            "e2e-test-hmac-key-0123456789abcdef-0123".into(),
        ),
        ("MAX_RETRY_ATTEMPTS", "2".into()),
        ("DLQ_QUEUE_URL", dlq.clone()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
    ]
    .into_iter()
    .collect();
    let state = AppState::init(|k| vars.get(k).cloned(), &sdk, MetricsSink::memory().0).await?;
    Ok(Aws {
        sdk,
        stream_arn,
        routed,
        dlq,
        state,
    })
}
