//! Shared helpers of the crate's integration tests: the SAM template's resources (default names) in moto, the
//! functions' environment, records through the real `cdc-processor` handler to make dead letters,
//! and SQS events as the dead-letter-processor's trigger delivers them.

pub mod aws;

use crate::support::aws::{bus_to_queue, create_queue, create_table, drain, drain_messages};
use anyhow::{Context, Result};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_kinesis::primitives::Blob;
use base64::Engine;
use cdc_ops::redrive::Redriver;
use cdc_processor::aws::lambda::{handler, AppState};
use cdc_processor::aws::metrics::MetricsSink;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const STREAM: &str = "coredb-cdc-stream";
pub const BUS: &str = "cdc-events";
pub const SOURCE: &str = "cdc-pipeline";
pub const STATE_TABLE: &str = "cdc-pipeline-state";
pub const CHECKPOINT_TABLE: &str = "cdc-pipeline-checkpoints";
pub const DLQ: &str = "cdc-pipeline-dlq";
pub const PARKING: &str = "cdc-pipeline-dlq-parking";
/// The secret name the SAM template creates (the CLI's default).
pub const SECRET: &str = "cdc-pipeline/redaction-hmac-key";
pub const HMAC_KEY: &str = "ops-test-hmac-key-0123456789abcdef-0123";
pub const PROCESSOR: &str = "cdc-processor";
pub const TABLES: &[&str] = &["users", "agents", "orders"];

/// The template's resources in a fresh moto.
pub struct Stack {
    pub moto: testkit::Moto,
    pub sdk: aws_config::SdkConfig,
    pub stream_arn: String,
    pub shards: Vec<String>,
    /// The example consumer queue (the bus rule's target).
    pub routed: String,
    pub dlq: String,
    pub parking: String,
}

impl Stack {
    pub async fn start() -> Result<Stack> {
        let moto = testkit::Moto::start();
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
        let shards = kinesis
            .list_shards()
            .stream_name(STREAM)
            .send()
            .await?
            .shards()
            .iter()
            .map(|s| s.shard_id().to_string())
            .collect();
        let routed = bus_to_queue(&sdk, BUS, SOURCE, TABLES, "wallboards-cdc-events").await?;
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        create_table(&ddb, CHECKPOINT_TABLE, "pk").await?;
        create_table(&ddb, STATE_TABLE, "processor").await?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let dlq = create_queue(&sqs, DLQ).await?.0;
        let parking = create_queue(&sqs, PARKING).await?.0;
        aws_sdk_secretsmanager::Client::new(&sdk)
            .create_secret()
            .name(SECRET)
            .secret_string(HMAC_KEY)
            .send()
            .await?;
        Ok(Stack {
            moto,
            sdk,
            stream_arn,
            shards,
            routed,
            dlq,
            parking,
        })
    }

    /// The functions' environment (as the template sets it), pointing at moto.
    pub fn env(&self) -> HashMap<String, String> {
        [
            ("AWS_REGION", "us-east-1".to_string()),
            ("KINESIS_STREAM_NAME", STREAM.into()),
            ("EVENT_BUS_NAME", BUS.into()),
            ("EVENT_SOURCE", SOURCE.into()),
            ("STATE_TABLE_NAME", STATE_TABLE.into()),
            ("CHECKPOINT_TABLE_NAME", CHECKPOINT_TABLE.into()),
            ("ENABLE_DATA_REDACTION", "true".into()),
            ("REDACTION_HMAC_KEY_SECRET_ARN", SECRET.into()),
            ("MAX_RETRY_ATTEMPTS", "1".into()),
            ("DLQ_QUEUE_URL", self.dlq.clone()),
            ("DLQ_PARKING_QUEUE_URL", self.parking.clone()),
            ("DLQ_REDRIVE_DELAY_SECONDS", "0".into()),
            ("AWS_ENDPOINT_URL", self.moto.endpoint()),
            (
                "CDC_TABLE_OVERRIDES",
                r#"{"agents": {"includeFields": ["*"]}}"#.into(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// The cdc-processor's state with `env` plus `overrides`.
    pub async fn processor(&self, overrides: &[(&str, &str)]) -> Result<AppState> {
        let mut vars = self.env();
        vars.insert("AWS_LAMBDA_FUNCTION_NAME".into(), PROCESSOR.into());
        for (k, v) in overrides {
            vars.insert(k.to_string(), v.to_string());
        }
        Ok(AppState::init(|k| vars.get(k).cloned(), &self.sdk, MetricsSink::memory().0).await?)
    }

    /// The dead-letter processor with `env` plus `overrides`, and its metrics.
    pub async fn redriver(
        &self,
        overrides: &[(&str, &str)],
    ) -> Result<(Redriver, Arc<Mutex<Vec<String>>>)> {
        let mut vars = self.env();
        vars.insert(
            "AWS_LAMBDA_FUNCTION_NAME".into(),
            "cdc-dead-letter-processor".into(),
        );
        for (k, v) in overrides {
            vars.insert(k.to_string(), v.to_string());
        }
        let (sink, lines) = MetricsSink::memory();
        let r = Redriver::init(|k| vars.get(k).cloned(), &self.sdk, sink).await?;
        Ok((r, lines))
    }

    /// Puts records on the stream (partition key, data) and returns them as the Lambda Kinesis
    /// events of each shard that got some (GetRecords from TRIM_HORIZON).
    pub async fn put_and_read(&self, records: &[(&str, Vec<u8>)]) -> Result<Vec<KinesisEvent>> {
        let kinesis = aws_sdk_kinesis::Client::new(&self.sdk);
        for (key, data) in records {
            kinesis
                .put_record()
                .stream_name(STREAM)
                .partition_key(*key)
                .data(Blob::new(data.clone()))
                .send()
                .await?;
        }
        let mut events = Vec::new();
        for shard in &self.shards {
            let iterator = kinesis
                .get_shard_iterator()
                .stream_name(STREAM)
                .shard_id(shard)
                .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator
                .context("iterator")?;
            let got = kinesis
                .get_records()
                .shard_iterator(iterator)
                .send()
                .await?;
            let records: Vec<Value> = got
                .records()
                .iter()
                .map(|r| {
                    json!({
                        "kinesis": {
                            "kinesisSchemaVersion": "1.0",
                            "partitionKey": r.partition_key(),
                            "sequenceNumber": r.sequence_number(),
                            "data": base64::engine::general_purpose::STANDARD.encode(r.data().as_ref()),
                            "approximateArrivalTimestamp": r.approximate_arrival_timestamp().map(|t| t.as_secs_f64()).unwrap_or_default(),
                        },
                        "eventSource": "aws:kinesis",
                        "eventVersion": "1.0",
                        "eventID": format!("{shard}:{}", r.sequence_number()),
                        "eventName": "aws:kinesis:record",
                        "invokeIdentityArn": "arn:aws:iam::123456789012:role/cdc-processor",
                        "awsRegion": "us-east-1",
                        "eventSourceARN": self.stream_arn,
                    })
                })
                .collect();
            if !records.is_empty() {
                events.push(serde_json::from_value(json!({ "Records": records }))?);
            }
        }
        Ok(events)
    }

    /// Runs the real cdc-processor handler on each event; returns the reported failures.
    pub async fn process(&self, state: &AppState, events: &[KinesisEvent]) -> Result<Vec<Value>> {
        let mut failures = Vec::new();
        for e in events {
            let r = handler(state, LambdaEvent::new(e.clone(), LambdaContext::default()))
                .await
                .map_err(|e| anyhow::anyhow!("handler: {e}"))?;
            let v = serde_json::to_value(&r)?;
            failures.extend(
                v["batchItemFailures"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        Ok(failures)
    }

    /// Receives (without deleting) up to 10 messages of a queue, as the SQS trigger would hand
    /// them to the dead-letter-processor, plus their receipt handles.
    pub async fn receive_event(&self, url: &str) -> Result<(SqsEvent, Vec<String>)> {
        let got = self
            .sqs()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .wait_time_seconds(1)
            .send()
            .await?;
        let mut receipts = Vec::new();
        let records: Vec<Value> = got
            .messages()
            .iter()
            .map(|m| {
                receipts.push(m.receipt_handle().unwrap_or_default().to_string());
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": {},
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cdc-pipeline-dlq",
                    "awsRegion": "us-east-1",
                })
            })
            .collect();
        Ok((
            serde_json::from_value(json!({ "Records": records }))?,
            receipts,
        ))
    }

    /// Deletes the messages Lambda would delete after a partial batch response: every one not in
    /// `batchItemFailures`.
    pub async fn delete_succeeded(
        &self,
        url: &str,
        event: &SqsEvent,
        receipts: &[String],
        response: &Value,
    ) -> Result<()> {
        let failed: Vec<&str> = response["batchItemFailures"]
            .as_array()
            .context("batchItemFailures")?
            .iter()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        for (m, r) in event.records.iter().zip(receipts) {
            if !failed.contains(&m.message_id.as_deref().unwrap_or_default()) {
                self.sqs()
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(r)
                    .send()
                    .await?;
            }
        }
        Ok(())
    }

    /// Every message of a queue (deleted), as JSON bodies.
    pub async fn drain(&self, url: &str) -> Result<Vec<Value>> {
        drain(&self.sqs(), url).await
    }

    /// Every message of a queue (deleted), with attributes.
    pub async fn drain_messages(&self, url: &str) -> Result<Vec<(Value, HashMap<String, String>)>> {
        drain_messages(&self.sqs(), url).await
    }

    /// The items of the checkpoint table.
    pub async fn checkpoint_items(
        &self,
    ) -> Result<Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>> {
        Ok(self
            .dynamodb()
            .scan()
            .table_name(CHECKPOINT_TABLE)
            .send()
            .await?
            .items()
            .to_vec())
    }
}

/// A model example row.
pub fn example(table: &str) -> Value {
    let path = testkit::workspace_root().join(format!("model-schemas/examples/{table}.json"));
    serde_json::from_slice(&std::fs::read(path).expect("example row")).expect("example JSON")
}

/// A CoreDB-trigger INSERT of `row` into `table`.
pub fn insert(table: &str, row: Value) -> Vec<u8> {
    json!({"table": table, "operation": "INSERT", "timestamp": "2026-11-25T10:00:00Z",
           "transaction_id": "txn-ops", "before": null, "after": row})
    .to_string()
    .into_bytes()
}

/// Tag values of the large agent (a processor with `MAX_EVENT_SIZE_BYTES=1536` dead-letters it as
/// `ENTRY_TOO_LARGE`; one with the default limit publishes it). Used to check that no command
/// prints record contents.
pub fn big_tags() -> Vec<String> {
    (0..12)
        .map(|i| format!("supervisor-visible-label-{i:02}-{}", "q".repeat(60)))
        .collect()
}

/// An agents INSERT whose event is about 2.1 KiB (an ordinary agent is about 1.1 KiB).
pub fn big_agent() -> Vec<u8> {
    let mut a = example("agents");
    a["tags"] = json!(big_tags());
    insert("agents", a)
}

/// A record that is not JSON, with an e-mail address in it (a `PARSE_ERROR`).
pub const BAD_RECORD: &[u8] =
    b"{\"table\": \"users\", \"after\": {\"email\": \"priya.raman@acme-support.example\"";
pub const BAD_RECORD_EMAIL: &str = "priya.raman@acme-support.example";
