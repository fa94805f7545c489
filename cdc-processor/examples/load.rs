//! Load benchmark (issue 7 §5): a 10,000-record Kinesis batch through the Lambda handler against
//! moto — wall time and peak memory. A benchmark, not a test: it prints a table and asserts
//! nothing about speed.
//!
//! ```text
//! cargo build --release -p cdc-processor --bin cdc-processor
//! cargo run --release -p cdc-processor --example load [-- RECORDS [ITERATIONS]]
//! ```
//!
//! Two measurements:
//!
//! 1. **In process**: the event arrives as the JSON bytes Lambda sends; the handler's time covers
//!    deserializing it and handling it (decode, validate, redact, 1,000 `PutEvents`, checkpoints,
//!    dead letters, state, metrics). Peak memory is `VmHWM` from `/proc/self/status`, reset with
//!    `/proc/self/clear_refs` just before (so it is the peak while handling, with the event's
//!    bytes already in memory, as in the runtime).
//! 2. **The deployed binary** (`target/<profile>/cdc-processor`, when built): on the Lambda
//!    Runtime API emulator, the whole batch as one invocation; peak memory is its `VmHWM` after
//!    answering — everything the function's process needed, runtime and init included. This is
//!    the figure to compare with a 128 MB Lambda.
//!
//! Times are against moto on the same machine (moto, a Python process, answers each AWS call in
//! about a millisecond and is most of the time); they are not AWS latencies.

use anyhow::{Context, Result};
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use cdc_processor::aws::lambda::{handler, AppState};
use cdc_processor::aws::metrics::MetricsSink;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "support/workload.rs"]
mod workload;

const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/coredb-cdc-stream";
const HMAC_KEY: &str = "load-benchmark-hmac-key-0123456789abcdef";

/// A realistic batch (see `support/workload.rs`), on its own stream per run.
fn batch(n: usize, run: usize) -> Vec<KinesisEventRecord> {
    workload::records(n, 1, &format!("{STREAM_ARN}-{run}"))
}

fn status_kb(pid: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

async fn create_resources(sdk: &aws_config::SdkConfig) -> Result<String> {
    aws_sdk_eventbridge::Client::new(sdk)
        .create_event_bus()
        .name("cdc-events")
        .send()
        .await?;
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    for (name, key) in [("cdc-checkpoints", "pk"), ("cdc-state", "processor")] {
        testkit::dynamodb::create_table(&ddb, name, key).await?;
    }
    aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name("cdc-dlq")
        .send()
        .await?
        .queue_url
        .context("queue url")
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let iterations: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    let moto = testkit::Moto::start();
    let sdk = moto.sdk_config().await;
    let dlq = create_resources(&sdk).await?;
    let vars: HashMap<&str, String> = [
        ("AWS_REGION", "us-east-1".to_string()),
        ("KINESIS_STREAM_NAME", "coredb-cdc-stream".into()),
        ("KINESIS_BATCH_SIZE", "10000".into()),
        ("EVENT_BUS_NAME", "cdc-events".into()),
        ("STATE_TABLE_NAME", "cdc-state".into()),
        ("CHECKPOINT_TABLE_NAME", "cdc-checkpoints".into()),
        ("ENABLE_DATA_REDACTION", "true".into()),
        ("REDACTION_HMAC_KEY", HMAC_KEY.into()),
        ("DLQ_QUEUE_URL", dlq.clone()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
    ]
    .into_iter()
    .collect();
    let (sink, metrics) = MetricsSink::memory();
    let state = AppState::init(|k| vars.get(k).cloned(), &sdk, sink).await?;
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };

    println!("## Load: {n} records in one batch, against moto ({profile} build)\n");
    println!("| run | records in | published | dead-lettered | PutEvents requests | handler time | records/s | RSS before | peak RSS while handling (VmHWM) | growth |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for run in 0..iterations {
        let bytes = workload::event_json(&batch(n, run))?;
        let before = status_kb("self", "VmRSS:").unwrap_or(0);
        // Reset the peak to the current RSS (Linux ≥ 4.0), so VmHWM is this run's peak.
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let started = Instant::now();
        let event: KinesisEvent = serde_json::from_slice(&bytes)?;
        let response = handler(&state, LambdaEvent::new(event, LambdaContext::default()))
            .await
            .map_err(|e| anyhow::anyhow!("handler: {e}"))?;
        let elapsed = started.elapsed();
        let peak = status_kb("self", "VmHWM:").unwrap_or(0);
        let failures = serde_json::to_value(&response)?["batchItemFailures"]
            .as_array()
            .map_or(0, Vec::len);
        anyhow::ensure!(failures == 0, "{failures} records reported for retry");
        let line = metrics
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|l| l.contains("\"RecordsIn\""))
            .cloned()
            .context("metrics")?;
        let m: Value = serde_json::from_str(&line)?;
        println!(
            "| {} | {} | {} | {} | {} | {:.2} s | {:.0} | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            run + 1,
            m["RecordsIn"],
            m["Published"],
            m["DeadLettered"],
            m["PutEventsCalls"],
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64(),
            mib(before),
            mib(peak),
            mib(peak.saturating_sub(before)),
        );
    }

    // The deployed binary, when it is built next to this example.
    let binary: PathBuf = std::env::current_exe()?
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("cdc-processor"))
        .context("target directory")?;
    if !binary.exists() {
        println!(
            "\n(no {} — build it with `cargo build --{profile} -p cdc-processor --bin cdc-processor` for the binary's figure)",
            binary.display()
        );
        return Ok(());
    }
    println!("\n## The `cdc-processor` binary ({profile}) on the Lambda Runtime API emulator\n");
    println!("| run | handler answered after | peak RSS of the process (VmHWM) | RSS after |");
    println!("|---|---|---|---|");
    let api = testkit::lambda_runtime_api::RuntimeApi::start();
    for run in 0..iterations {
        let mut cmd = std::process::Command::new(&binary);
        cmd.env_clear()
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .envs(api.lambda_env("cdc-processor"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn()?;
        let pid = child.id().to_string();
        let bytes = workload::event_json(&batch(n, iterations + run))?;
        let started = Instant::now();
        let id = api.invoke(bytes);
        let result = api.wait(&id, Duration::from_secs(600));
        let elapsed = started.elapsed();
        let peak = status_kb(&pid, "VmHWM:").unwrap_or(0);
        let rss = status_kb(&pid, "VmRSS:").unwrap_or(0);
        let _ = child.kill();
        let _ = child.wait();
        anyhow::ensure!(
            matches!(
                result,
                Some(testkit::lambda_runtime_api::InvocationResult::Response(_))
            ),
            "the binary did not answer: {result:?}"
        );
        println!(
            "| {} | {:.2} s | {:.1} MiB | {:.1} MiB |",
            run + 1,
            elapsed.as_secs_f64(),
            mib(peak),
            mib(rss)
        );
    }
    Ok(())
}
