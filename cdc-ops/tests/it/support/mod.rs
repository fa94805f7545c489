//! Shared helpers of the crate's integration tests: the SAM template's resources (default names)
//! in moto ([`testkit::Stack`]), the functions' environment, records through the real
//! `cdc-processor` handler to make dead letters, and SQS events as the dead-letter-processor's
//! trigger delivers them.

use anyhow::{Context, Result};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_kinesis::primitives::Blob;
use cdc_ops::redrive::Redriver;
use cdc_processor::aws::lambda::{handler, AppState};
use cdc_processor::aws::metrics::MetricsSink;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

pub use testkit::stack::{BUS, CHECKPOINT_TABLE, DLQ, HMAC_KEY, SOURCE, STATE_TABLE, STREAM};

/// The secret name the SAM template creates (the CLI's default).
pub const SECRET: &str = "cdc-pipeline/redaction-hmac-key";
/// The processor's name (`AWS_LAMBDA_FUNCTION_NAME`, the checkpoints' `processor`).
pub const PROCESSOR: &str = "cdc-processor";
/// The tables the example consumer's rule routes.
pub const TABLES: &[&str] = &["users", "agents", "orders"];

/// The template's resources in a fresh moto ([`testkit::Stack`]: the stream with two shards, the
/// bus routing [`TABLES`] to the example consumer's queue, the tables, the DLQ and its parking
/// queue, the HMAC key's secret), with the operators' helpers. Dereferences to the
/// [`testkit::Stack`] (`sdk`, `dlq`, `shards`, clients).
pub struct Stack {
    stack: testkit::Stack,
    /// The stream's ARN.
    pub stream_arn: String,
    /// The example consumer queue (the bus rule's target).
    pub routed: String,
    /// The dead-letter processor's parking queue.
    pub parking: String,
}

impl std::ops::Deref for Stack {
    type Target = testkit::Stack;

    fn deref(&self) -> &testkit::Stack {
        &self.stack
    }
}

impl Stack {
    /// Starts moto with the template's resources.
    pub async fn start() -> Result<Stack> {
        let stack = testkit::Stack::builder()
            .stream(2)
            .route("wallboards-cdc-events", TABLES)
            .parking_queue()
            .hmac_key_secret(SECRET)
            .start()
            .await?;
        Ok(Stack {
            stream_arn: stack.stream_arn().to_string(),
            routed: stack.routed().to_string(),
            parking: stack.parking().to_string(),
            stack,
        })
    }

    /// The functions' environment (as the template sets it), pointing at moto: the stack's, with
    /// one retry, re-drives without delay and every `agents` column included.
    pub fn env(&self) -> HashMap<String, String> {
        let mut vars = self.stack.env();
        for (k, v) in [
            ("MAX_RETRY_ATTEMPTS", "1"),
            ("DLQ_REDRIVE_DELAY_SECONDS", "0"),
            (
                "CDC_TABLE_OVERRIDES",
                r#"{"agents": {"includeFields": ["*"]}}"#,
            ),
        ] {
            vars.insert(k.to_string(), v.to_string());
        }
        vars
    }

    /// `cdc-ops` with the emulator's endpoint and dummy credentials, and nothing else from this
    /// process's environment; stdin is not a terminal.
    pub fn cdc_ops(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cdc-ops"));
        c.env_clear()
            .env("AWS_ENDPOINT_URL", self.moto_endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            )
            .env("DLQ_REDRIVE_DELAY_SECONDS", "0")
            .env(
                "CDC_TABLE_OVERRIDES",
                r#"{"agents": {"includeFields": ["*"]}}"#,
            )
            .stdin(Stdio::null());
        c
    }

    /// The cdc-processor's state with `env` plus `overrides`.
    pub async fn processor(&self, overrides: &[(&str, &str)]) -> Result<AppState> {
        let mut vars = self.env();
        vars.insert("AWS_LAMBDA_FUNCTION_NAME".into(), PROCESSOR.into());
        for (k, v) in overrides {
            vars.insert(k.to_string(), v.to_string());
        }
        Ok(AppState::init(
            |k| vars.get(k).cloned(),
            &self.stack.sdk,
            MetricsSink::memory().0,
        )
        .await?)
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
        let kinesis = self.kinesis();
        for (key, data) in records {
            kinesis
                .put_record()
                .stream_name(STREAM)
                .partition_key(*key)
                .data(Blob::new(data.clone()))
                .send()
                .await?;
        }
        self.lambda_events()
            .await?
            .into_iter()
            .map(|e| Ok(serde_json::from_value(e)?))
            .collect()
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
        Ok(self.drain_json(url).await?)
    }

    /// Every message of a queue (deleted), with its (string) attributes.
    pub async fn drain_messages(&self, url: &str) -> Result<Vec<(Value, HashMap<String, String>)>> {
        Ok(testkit::stack::drain_json(&self.sqs(), url).await?)
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
