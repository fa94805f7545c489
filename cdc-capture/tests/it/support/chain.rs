//! The chain around the relay, on moto ([`testkit::Stack`]): the stream, EventBridge bus and rule
//! into a consumer queue, the processor's DynamoDB tables and DLQ, the processor's Lambda state;
//! reading the stream in the Lambda event shape and draining a queue. Shared by `end_to_end.rs`, `demo.rs`
//! and `examples/demo.rs`.

use anyhow::{Context, Result};
use cdc_processor::aws::lambda::AppState;
use cdc_processor::aws::metrics::MetricsSink;
use serde_json::{json, Value};
use testkit::{Moto, Stack};

/// The stream the relay writes.
pub const STREAM: &str = testkit::stack::STREAM;
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
        let records =
            testkit::stack::lambda_records(kinesis, STREAM, stream_arn, shard.shard_id()).await?;
        for chunk in records.chunks(100) {
            events.push(json!({ "Records": chunk }));
        }
    }
    Ok(events)
}

/// Reads and deletes every message of a queue until none has arrived for 500 ms; the bodies.
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Vec<String>> {
    testkit::stack::drain(sqs, url)
        .await?
        .into_iter()
        .map(|m| m.body.context("body"))
        .collect()
}

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

/// The chain's resources in `moto` ([`testkit::Stack`]) and the processor's state (two retries).
pub async fn aws(moto: &Moto) -> Result<Aws> {
    let stack = Stack::builder()
        .stream(2)
        .route("consumer", TABLES)
        .start_in(moto)
        .await?;
    let mut vars = stack.env();
    vars.insert("MAX_RETRY_ATTEMPTS".into(), "2".into());
    let state = AppState::init(
        |k| vars.get(k).cloned(),
        &stack.sdk,
        MetricsSink::memory().0,
    )
    .await?;
    Ok(Aws {
        stream_arn: stack.stream_arn().to_string(),
        routed: stack.routed().to_string(),
        dlq: stack.dlq.clone(),
        sdk: stack.sdk.clone(),
        state,
    })
}
