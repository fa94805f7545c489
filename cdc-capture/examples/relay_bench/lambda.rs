//! The `lambda` mode: commit → PutEvents through the Lambda side, under a steady workload.
//!
//! A writer commits single-row `users` INSERT transactions at `--rate` per second for
//! `--seconds`; one relay (`--in-flight` calls) sends the outbox to moto Kinesis (2 shards); one
//! poller per shard plays the Kinesis event source mapping: GetRecords (at most `--batch`
//! records), the records as a Lambda Kinesis event into the processor's own `handler` (which
//! publishes with PutEvents to moto EventBridge and checkpoints in moto DynamoDB), then at once
//! the next GetRecords. How a shard is fed:
//!
//! - standard polling (the default): after an empty answer the poller waits `--poll-ms` (Lambda's
//!   base rate is one poll per shard per second; the template's batching window is 0);
//! - `--efo`, a **model** of enhanced fan-out (moto has no `SubscribeToShard`, so nothing here
//!   is a measurement of it): records are pushed as they arrive, so the poller reads again as soon
//!   as the previous batch is handled (after an empty answer it waits only `--efo-idle-ms`,
//!   default 10, to bound moto's load), and each batch reaches the handler `--push-delay-ms`
//!   (default 70: AWS's typical average propagation for a consumer with enhanced fan-out) after
//!   it was read. A batch still waits for the shard's previous invocation, as with Lambda.
//!
//! For each record: commit time (the record's `timestamp`, which the relay set to
//! `pg_xact_commit_timestamp`) → GetRecords returned it; → it reached the handler; → **its
//! PutEvents call was answered** (moto accepted the entry: the processor's SDK client goes
//! through [`PutEventsClock`], which timestamps every successful PutEvents answer and keeps its
//! request, so each entry's commit time and event id come from its own detail; an entry retried
//! after a failure counts at its last answer); and → the handler returned (the checkpoint
//! written too). Prints p50/p99/max of each, and whether every committed change was handled and
//! published once without a batch item failure.

use crate::{connect, paced_inserts, run_relay, Args};
use anyhow::{Context, Result};
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use cdc_capture::relay::Relay;
use cdc_processor::aws::lambda::{handler, AppState};
use cdc_processor::aws::metrics::MetricsSink;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use testkit::{Moto, Postgres};

const STREAM: &str = "coredb-cdc-stream";
const BUS: &str = "cdc-events";

/// Per record: (position, commit time, read by GetRecords, reached the handler, handler returned).
type Seen = Vec<(String, SystemTime, SystemTime, SystemTime, SystemTime)>;

/// Successful PutEvents answers: when each arrived, and its request body.
type Answers = Arc<Mutex<Vec<(SystemTime, Vec<u8>)>>>;

/// An HTTP client for the processor's SDK clients that passes every call to `inner` and notes
/// when each successful `PutEvents` answer arrived, with the request it answers.
#[derive(Debug)]
struct PutEventsClock {
    inner: SharedHttpClient,
    answers: Answers,
}

impl HttpClient for PutEventsClock {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(ClockedConnector {
            inner: self.inner.http_connector(settings, components),
            answers: self.answers.clone(),
        })
    }
}

/// [`PutEventsClock`]'s connector.
#[derive(Debug)]
struct ClockedConnector {
    inner: SharedHttpConnector,
    answers: Answers,
}

impl HttpConnector for ClockedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = if request.headers().get("x-amz-target") == Some("AWSEvents.PutEvents") {
            request.body().bytes().map(<[u8]>::to_vec)
        } else {
            None
        };
        let answer = self.inner.call(request);
        let answers = self.answers.clone();
        HttpConnectorFuture::new(async move {
            let response = answer.await?;
            if let Some(body) = body {
                if response.status().is_success() {
                    let at = SystemTime::now();
                    answers.lock().expect("answers").push((at, body));
                }
            }
            Ok(response)
        })
    }
}

/// How a shard's records reach the handler.
#[derive(Clone, Copy, Debug)]
enum Feed {
    /// Lambda's standard polling: after an empty GetRecords, wait this long.
    Polling(Duration),
    /// The enhanced fan-out model: a batch reaches the handler `push` after it was read; after an
    /// empty GetRecords, wait `idle`.
    Pushed { push: Duration, idle: Duration },
}

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
    (batch, feed): (i32, Feed),
    stop: Arc<AtomicBool>,
) -> Result<(Seen, usize)> {
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
            tokio::time::sleep(match feed {
                Feed::Polling(wait) => wait,
                Feed::Pushed { idle, .. } => idle,
            })
            .await;
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
        if let Feed::Pushed { push, .. } = feed {
            tokio::time::sleep(push).await;
        }
        let delivered = SystemTime::now();
        let response = handler(&state, LambdaEvent::new(event, LambdaContext::default()))
            .await
            .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
        let done = SystemTime::now();
        failures += response.batch_item_failures.len();
        for (position, commit) in commits {
            seen.push((position, commit, read, delivered, done));
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
    let answers = Answers::default();
    let clocked = sdk
        .to_builder()
        .http_client(SharedHttpClient::new(PutEventsClock {
            inner: sdk.http_client().context("the SDK config's HTTP client")?,
            answers: answers.clone(),
        }))
        .build();
    let state = Arc::new(processor(&moto, &clocked).await?);
    let feed = if args.efo {
        Feed::Pushed {
            push: Duration::from_millis(args.push_delay_ms),
            idle: Duration::from_millis(args.efo_idle_ms),
        }
    } else {
        Feed::Polling(Duration::from_millis(args.poll_ms))
    };
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
            (args.batch, feed),
            stop_pollers.clone(),
        )));
    }

    let total = args.rate * args.seconds;
    let wrote = paced_inserts(&pg.url(), &example, args.rate, args.seconds).await?;
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
    let since_commit =
        |pick: fn(&(String, SystemTime, SystemTime, SystemTime, SystemTime)) -> SystemTime| {
            seen.iter()
                .map(|s| pick(s).duration_since(s.1).unwrap_or_default())
                .collect::<Vec<_>>()
        };
    // Each published entry: commit time and its last successful PutEvents answer, by event id.
    let mut published: HashMap<String, (SystemTime, SystemTime)> = HashMap::new();
    let mut entries = 0;
    for (at, body) in answers.lock().expect("answers").iter() {
        let request: Value = serde_json::from_slice(body)?;
        for entry in request["Entries"].as_array().context("Entries")? {
            let detail: Value = serde_json::from_str(entry["Detail"].as_str().context("Detail")?)?;
            let id = detail["eventId"].as_str().context("eventId")?.to_string();
            let commit: SystemTime = chrono::DateTime::parse_from_rfc3339(
                detail["timestamp"].as_str().context("timestamp")?,
            )?
            .into();
            entries += 1;
            let last = published.entry(id).or_insert((commit, *at));
            last.1 = last.1.max(*at);
        }
    }
    let to_put_events = published
        .values()
        .map(|(commit, at)| at.duration_since(*commit).unwrap_or_default())
        .collect();
    let complete =
        distinct.len() as u64 == total && published.len() as u64 == total && failures == 0;
    println!(
        "lambda ({}): {total} changes committed at {:.0}/s, relay sent {sent}, handler saw {} ({} distinct), \
         PutEvents accepted {entries} entries ({} distinct event ids), {failures} batch item failures: {}",
        match feed {
            Feed::Polling(wait) => format!("standard polling, {} ms after an empty GetRecords", wait.as_millis()),
            Feed::Pushed { push, idle } => format!(
                "enhanced fan-out MODEL: push delay {} ms, {} ms after an empty GetRecords",
                push.as_millis(),
                idle.as_millis()
            ),
        },
        total as f64 / wrote,
        seen.len(),
        distinct.len(),
        published.len(),
        if complete { "complete" } else { "INCOMPLETE" }
    );
    println!(
        "  commit → GetRecords returned it:       {}",
        percentiles(since_commit(|s| s.2))
    );
    println!(
        "  commit → it reached the handler:       {}",
        percentiles(since_commit(|s| s.3))
    );
    println!(
        "  commit → PutEvents answered (accepted): {}",
        percentiles(to_put_events)
    );
    println!(
        "  commit → handler returned (checkpoint written): {} (batch ≤ {}, {} relay calls in flight, moto)",
        percentiles(since_commit(|s| s.4)),
        args.batch,
        args.in_flight
    );
    Ok(())
}
