//! The function as Lambda runs it, for the reliability and PII tests (`reliability_faults`,
//! `pii_canary`): moto behind the fault proxy with the function's resources and configuration, a
//! Lambda-style driver (ReportBatchItemFailures: redeliver from the lowest reported sequence
//! number until the batch is done, bounded), and the real `cdc-processor` binary on the Lambda
//! Runtime API emulator.

use anyhow::{bail, ensure, Context, Result};
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use cdc_processor::aws::lambda::{handler, AppState};
use cdc_processor::sequence::SequenceNumber;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::lambda_runtime_api::{InvocationResult, RuntimeApi};
use testkit::Stack;

/// moto behind a fault proxy whose clients give up an attempt after `attempt_timeout`, with the
/// function's resources (and, with `routed`, a rule sending every `CDC.TableChange` to a queue).
pub async fn world(attempt_timeout: Duration, routed: bool) -> Result<Stack> {
    let mut builder = Stack::builder().fault_proxy(attempt_timeout);
    if routed {
        builder = builder.route("all-changes", &[]);
    }
    Ok(builder.start().await?)
}

/// The function's variables for this stack (the endpoint is the proxy): batches of up to 10,000
/// records and this many retries.
pub fn function_env(stack: &Stack, max_retry_attempts: u32) -> HashMap<String, String> {
    let mut vars = stack.env();
    vars.insert("KINESIS_BATCH_SIZE".into(), "10000".into());
    vars.insert("MAX_RETRY_ATTEMPTS".into(), max_retry_attempts.to_string());
    vars
}

/// The sequence numbers a response reports (`batchItemFailures[].itemIdentifier`).
pub fn reported(response: &Value) -> Result<Vec<String>> {
    response["batchItemFailures"]
        .as_array()
        .context("batchItemFailures")?
        .iter()
        .map(|f| {
            f["itemIdentifier"]
                .as_str()
                .map(str::to_string)
                .context("itemIdentifier")
        })
        .collect()
}

/// Bounds of a Lambda-style drive.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Records per invocation.
    pub batch_size: usize,
    /// Invocations per shard, at most.
    pub max_invocations: usize,
    /// Wall time, at most.
    pub max_time: Duration,
}

/// What a drive did.
#[derive(Clone, Debug, Default)]
pub struct Drive {
    /// Invocations made.
    pub invocations: usize,
    /// Invocations that reported failures (each followed by a redelivery).
    pub redeliveries: usize,
    /// How many invocations each Kinesis record was delivered in, by [`delivery_key`] (shard and
    /// sequence number: sequence numbers are unique only within a shard).
    pub deliveries: HashMap<String, u32>,
}

impl Drive {
    /// Adds another drive's counts.
    pub fn merge(&mut self, other: Drive) {
        self.invocations += other.invocations;
        self.redeliveries += other.redeliveries;
        for (k, v) in other.deliveries {
            *self.deliveries.entry(k).or_default() += v;
        }
    }
}

/// The key of [`Drive::deliveries`]: `shard:sequence`.
pub fn delivery_key(shard: &str, sequence: &str) -> String {
    format!("{shard}:{sequence}")
}

/// [`delivery_key`] of a record (its shard from its `eventID`, `shardId:sequence`).
pub fn record_delivery_key(r: &KinesisEventRecord) -> String {
    let shard = r
        .event_id
        .as_deref()
        .and_then(|e| e.split(':').next())
        .unwrap_or_default();
    delivery_key(shard, &r.kinesis.sequence_number)
}

/// Where Lambda resumes after a response that reports `failures`: the index (in `batch`) of the
/// lowest reported sequence number.
pub fn resume_index(batch: &[KinesisEventRecord], failures: &[String]) -> Result<usize> {
    let lowest = failures
        .iter()
        .map(|s| s.parse::<SequenceNumber>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("reported a bad sequence number: {e}"))?
        .into_iter()
        .min()
        .context("no failures")?;
    batch
        .iter()
        .position(|r| r.kinesis.sequence_number == lowest.as_str())
        .with_context(|| format!("reported {lowest}, which is not in the batch"))
}

/// Drives one shard's records through the in-process handler as Lambda does with
/// `ReportBatchItemFailures`: batches in order; after a response reporting failures, the next
/// batch starts at the lowest reported sequence number. Bounded in invocations and time.
pub async fn drive_shard(
    state: &AppState,
    records: &[KinesisEventRecord],
    bounds: Bounds,
) -> Result<Drive> {
    let started = Instant::now();
    let mut d = Drive::default();
    let mut start = 0;
    while start < records.len() {
        ensure!(
            d.invocations < bounds.max_invocations,
            "shard not done after {} invocations (at record {start} of {})",
            d.invocations,
            records.len()
        );
        ensure!(
            started.elapsed() < bounds.max_time,
            "shard not done after {:?} (at record {start} of {})",
            bounds.max_time,
            records.len()
        );
        let end = (start + bounds.batch_size).min(records.len());
        let batch = &records[start..end];
        for r in batch {
            *d.deliveries.entry(record_delivery_key(r)).or_default() += 1;
        }
        let mut event = KinesisEvent::default();
        event.records = batch.to_vec();
        let response = handler(state, LambdaEvent::new(event, LambdaContext::default()))
            .await
            .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
        d.invocations += 1;
        let failures = reported(&serde_json::to_value(&response)?)?;
        if failures.is_empty() {
            start = end;
        } else {
            d.redeliveries += 1;
            start += resume_index(batch, &failures)?;
        }
    }
    Ok(d)
}

/// The JSON Lambda hands the function for these records. (`aws_lambda_events` writes
/// `approximateArrivalTimestamp` as a string it does not read back; Lambda sends a number.)
pub fn event_json(records: &[KinesisEventRecord], arrival: f64) -> Result<Vec<u8>> {
    let mut event = KinesisEvent::default();
    event.records = records.to_vec();
    let mut v = serde_json::to_value(&event)?;
    for r in v["Records"].as_array_mut().context("Records")? {
        r["kinesis"]["approximateArrivalTimestamp"] = serde_json::json!(arrival);
    }
    Ok(serde_json::to_vec(&v)?)
}

/// Seconds since the epoch, now, to the millisecond as Lambda writes it (`aws_lambda_events`
/// reads the fraction's digits as milliseconds: more than three fail the whole event).
pub fn now_seconds() -> f64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    ms as f64 / 1000.0
}

/// Path of the `cdc-processor` binary cargo built for this test run.
pub fn processor_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cdc-processor"))
}

/// The real `cdc-processor` binary as a Lambda function on the runtime API emulator.
pub struct FunctionProcess {
    /// The process.
    pub child: Child,
    /// Where its stdout (JSON logs, EMF metrics) goes.
    pub stdout: PathBuf,
    /// Where its stderr goes.
    pub stderr: PathBuf,
}

impl FunctionProcess {
    /// Starts the binary in Lambda mode (no subcommand) with exactly these variables (the
    /// environment is cleared first) plus the runtime's.
    pub fn start(
        api: &RuntimeApi,
        vars: &HashMap<String, String>,
        dir: &std::path::Path,
        n: usize,
    ) -> Result<FunctionProcess> {
        let stdout = dir.join(format!("function-{n}.stdout"));
        let stderr = dir.join(format!("function-{n}.stderr"));
        let mut cmd = Command::new(processor_binary());
        cmd.env_clear()
            .envs(vars)
            .envs(api.lambda_env("cdc-processor"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout)?)
            .stderr(std::fs::File::create(&stderr)?);
        let child = cmd.spawn().context("starting cdc-processor")?;
        Ok(FunctionProcess {
            child,
            stdout,
            stderr,
        })
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Everything it wrote (stdout then stderr).
    pub fn output(&self) -> String {
        let mut s = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        s.push_str(&std::fs::read_to_string(&self.stderr).unwrap_or_default());
        s
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for an invocation's response on the runtime API, failing early if the process dies.
pub fn wait_response(
    api: &RuntimeApi,
    id: &str,
    process: &mut FunctionProcess,
    timeout: Duration,
) -> Result<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = api.wait(id, Duration::from_millis(100)) {
            return match r {
                InvocationResult::Response(body) => Ok(serde_json::from_slice(&body)?),
                InvocationResult::Error(body) => bail!(
                    "the function reported an error: {}\n{}",
                    String::from_utf8_lossy(&body),
                    process.output()
                ),
            };
        }
        if let Some(status) = process.child.try_wait()? {
            bail!(
                "the function exited with {status} before answering; init errors: {:?}\n{}",
                api.init_errors()
                    .iter()
                    .map(|e| String::from_utf8_lossy(e).to_string())
                    .collect::<Vec<_>>(),
                process.output()
            );
        }
        ensure!(
            Instant::now() < deadline,
            "no response within {timeout:?}\n{}",
            process.output()
        );
    }
}
