//! The `lambda` mode: commit → PutEvents through the Lambda side, under a steady workload.
//!
//! A writer commits single-row `users` INSERT transactions at `--rate` per second for
//! `--seconds`; one relay (`--in-flight` calls) sends the outbox to moto Kinesis (2 shards); one
//! poller per shard plays the Kinesis event source mapping: GetRecords (at most `--batch`
//! records), the records as a Lambda Kinesis event into the processor's own `handler` (which
//! publishes with PutEvents to moto EventBridge and checkpoints in moto DynamoDB), then at once
//! the next GetRecords; after an empty answer it waits `--poll-ms` (Lambda's base rate is one
//! poll per shard per second; the template's batching window is 0).
//!
//! For each record: commit time (the record's `timestamp`, which the relay set to
//! `pg_xact_commit_timestamp`) → GetRecords returned it, and → the handler returned (every
//! PutEvents call of that invocation acknowledged, and the checkpoint written: an upper bound of
//! commit → PutEvents). Prints p50/p99/max of both, and whether every committed change was
//! handled once without a batch item failure.

use crate::{connect, run_relay, Args};
use anyhow::{Context, Result};
use aws_lambda_events::event::kinesis::KinesisEvent;
use cdc_capture::relay::Relay;
use cdc_processor::aws::lambda::{handler, AppState};
use cdc_processor::aws::metrics::MetricsSink;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use testkit::{Moto, Postgres};

const STREAM: &str = "coredb-cdc-stream";
const BUS: &str = "cdc-events";

/// Per record: (position, commit time, read by GetRecords, handler returned).
type Seen = Vec<(String, SystemTime, SystemTime, SystemTime)>;

/// The processor's moto resources and its Lambda state, as its deployed function builds it.
async fn processor(moto: &Moto, sdk: &aws_config::SdkConfig) -> Result<AppState> {
    let eb = aws_sdk_eventbridge::Client::new(sdk);
    eb.create_event_bus().name(BUS).send().await?;
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    testkit::dynamodb::create_table(&ddb, "cdc-pipeline-checkpoints", "pk").await?;
    testkit::dynamodb::create_table(&ddb, "cdc-pipeline-state", "processor").await?;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dlq = sqs
        .create_queue()
        .queue_name("cdc-pipeline-dlq")
        .send()
        .await?
        .queue_url()
        .context("queue url")?
        .to_string();
    let vars: HashMap<&str, String> = [
        ("AWS_REGION", "us-east-1".to_string()),
        ("KINESIS_STREAM_NAME", STREAM.into()),
        ("EVENT_BUS_NAME", BUS.into()),
        ("EVENT_SOURCE", "cdc-pipeline".into()),
        ("STATE_TABLE_NAME", "cdc-pipeline-state".into()),
        ("CHECKPOINT_TABLE_NAME", "cdc-pipeline-checkpoints".into()),
        ("ENABLE_DATA_REDACTION", "true".into()),
        (
            "REDACTION_HMAC_KEY",
            "bench-hmac-key-0123456789abcdef-0123456".into(),
        ),
        ("DLQ_QUEUE_URL", dlq),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
    ]
    .into_iter()
    .collect();
    Ok(AppState::init(|k| vars.get(k).cloned(), sdk, MetricsSink::memory().0).await?)
}

/// One shard's event source mapping: GetRecords → handler, until `stop` and the shard is empty.
async fn poll_shard(
    kinesis: aws_sdk_kinesis::Client,
    state: Arc<AppState>,
    stream_arn: String,
    shard: String,
    args: (i32, u64),
    stop: Arc<AtomicBool>,
) -> Result<(Seen, usize)> {
    let (batch, poll_ms) = args;
    let mut iterator = kinesis
        .get_shard_iterator()
        .stream_name(STREAM)
        .shard_id(&shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await?
        .shard_iterator
        .context("iterator")?;
    let mut seen = Seen::new();
    let mut failures = 0;
    loop {
        let got = kinesis
            .get_records()
            .shard_iterator(&iterator)
            .limit(batch)
            .send()
            .await?;
        let read = SystemTime::now();
        iterator = got.next_shard_iterator.clone().context("next iterator")?;
        if got.records().is_empty() {
            if stop.load(Ordering::SeqCst) {
                return Ok((seen, failures));
            }
            tokio::time::sleep(Duration::from_millis(poll_ms)).await;
            continue;
        }
        let mut records = Vec::new();
        let mut commits = Vec::new();
        for r in got.records() {
            let data: Value = serde_json::from_slice(r.data().as_ref())?;
            let commit: SystemTime =
                chrono::DateTime::parse_from_rfc3339(data["timestamp"].as_str().context("ts")?)?
                    .into();
            commits.push((data["position"].as_str().unwrap_or("").to_string(), commit));
            records.push(testkit::stack::lambda_record(r, &shard, &stream_arn));
        }
        let event: KinesisEvent = serde_json::from_value(json!({ "Records": records }))?;
        let response = handler(&state, LambdaEvent::new(event, LambdaContext::default()))
            .await
            .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
        let done = SystemTime::now();
        failures += response.batch_item_failures.len();
        for (position, commit) in commits {
            seen.push((position, commit, read, done));
        }
    }
}

/// p50, p99 and max of durations, in ms.
fn percentiles(mut v: Vec<Duration>) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort();
    let p = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1e3;
    format!(
        "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        p(0.5),
        p(0.99),
        p(1.0)
    )
}

/// The `lambda` mode.
pub async fn lambda_latency(pg: &Postgres, args: &Args) -> Result<()> {
    let moto = Moto::start();
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
    let state = Arc::new(processor(&moto, &sdk).await?);
    let admin = connect(&pg.url()).await?;
    admin.batch_execute(cdc_capture::TABLES_SQL).await?;
    admin.batch_execute(cdc_capture::INSTALL_SQL).await?;
    let example = std::fs::read_to_string(
        testkit::workspace_root().join("model-schemas/examples/users.json"),
    )?;

    let stop_relay = Arc::new(AtomicBool::new(false));
    let stop_pollers = Arc::new(AtomicBool::new(false));
    let relay = Relay::new(connect(&pg.url()).await?, kinesis.clone(), STREAM, 2000)
        .with_in_flight(args.in_flight);
    relay.lock().await?;
    let relay = tokio::spawn(run_relay(relay, stop_relay.clone()));
    let shards = kinesis.list_shards().stream_name(STREAM).send().await?;
    let mut pollers = Vec::new();
    for shard in shards.shards() {
        pollers.push(tokio::spawn(poll_shard(
            kinesis.clone(),
            state.clone(),
            stream_arn.clone(),
            shard.shard_id().to_string(),
            (args.batch, args.poll_ms),
            stop_pollers.clone(),
        )));
    }

    let writer = connect(&pg.url()).await?;
    let insert = writer
        .prepare(
            "INSERT INTO users SELECT (jsonb_populate_record(NULL::users, \
               jsonb_set($1::text::jsonb, '{id}', to_jsonb(gen_random_uuid()::text)))).*",
        )
        .await?;
    let start = Instant::now();
    let total = args.rate * args.seconds;
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / args.rate as f64);
        tokio::time::sleep_until(due.into()).await;
        writer.execute(&insert, &[&example]).await?;
    }
    let wrote = start.elapsed().as_secs_f64();
    stop_relay.store(true, Ordering::SeqCst);
    let sent = relay.await??;
    stop_pollers.store(true, Ordering::SeqCst);
    let mut seen = Seen::new();
    let mut failures = 0;
    for p in pollers {
        let (s, f) = p.await??;
        seen.extend(s);
        failures += f;
    }
    let distinct: HashSet<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    let to_read = seen
        .iter()
        .map(|(_, c, r, _)| r.duration_since(*c).unwrap_or_default())
        .collect();
    let to_done = seen
        .iter()
        .map(|(_, c, _, d)| d.duration_since(*c).unwrap_or_default())
        .collect();
    println!(
        "lambda: {total} changes committed at {:.0}/s, relay sent {sent}, handler saw {} ({} distinct), {failures} batch item failures: {}",
        total as f64 / wrote,
        seen.len(),
        distinct.len(),
        if distinct.len() as u64 == total && failures == 0 {
            "complete"
        } else {
            "INCOMPLETE"
        }
    );
    println!(
        "  commit → GetRecords returned it:        {}",
        percentiles(to_read)
    );
    println!(
        "  commit → handler returned (PutEvents acknowledged, checkpoint written): {} (batch ≤ {}, empty-shard poll {} ms, {} relay calls in flight, moto)",
        percentiles(to_done),
        args.batch,
        args.poll_ms,
        args.in_flight
    );
    Ok(())
}
