//! Relay and trigger measurements (results in docs/capture.md; not a test: no timed assertions).
//!
//! ```text
//! cargo run -p cdc-capture --example relay_bench -- drain   [--rows 100000] [--target moto|model] [--in-flight 4] [--buckets 1] [--latency-ms 20]
//! cargo run -p cdc-capture --example relay_bench -- latency [--rate 500] [--seconds 20] [--target moto|model] [--latency-ms 20]
//! cargo run -p cdc-capture --example relay_bench -- lambda  [--rate 500] [--seconds 20] [--in-flight 4] [--batch 100] [--poll-ms 1000]
//!                                                             [--efo [--push-delay-ms 70] [--efo-idle-ms 10]]
//! cargo run -p cdc-capture --example relay_bench -- trigger [--seconds 5] [--rounds 6] [--clients 1] [--durable] [--install FILE]
//! ```
//!
//! `trigger`: see `trigger.rs`; `lambda` (commit → PutEvents through the processor's handler):
//! see `lambda.rs`.
//!
//! `drain`: a backlog of `--rows` `users` inserts (written by the generated trigger into the
//! outbox), then `--buckets` relays (one per hash bucket, each with `--in-flight` PutRecords calls
//! at once) drain it; prints rows/s. `latency`: one relay running while a writer commits
//! single-row transactions at `--rate` per second; each record's commit time (its `timestamp`)
//! against the time its PutRecords was answered gives commit → published (at Kinesis) p50/p99.
//! `--target model` answers PutRecords itself after `--latency-ms` (testkit's `ModelKinesis`, the
//! fault proxy's model latency); `moto` is the emulator, whose CPU sets the figure.

mod lambda;
mod trigger;

use anyhow::{Context, Result};
use base64::Engine;
use cdc_capture::relay::{Bucket, Relay};
use clap::Parser;
use std::time::{Duration, Instant, SystemTime};
use testkit::model_kinesis::ModelKinesis;
use testkit::{Moto, Postgres};

const STREAM: &str = "bench";

#[derive(Parser)]
struct Args {
    /// `drain`, `latency`, `lambda` or `trigger`.
    mode: String,
    #[arg(long, default_value_t = 100_000)]
    rows: i64,
    #[arg(long, default_value = "model")]
    target: String,
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    #[arg(long, default_value_t = 1)]
    buckets: u32,
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    #[arg(long, default_value_t = 500)]
    rate: u64,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 1)]
    clients: u32,
    /// `trigger`: off/on slices of `--seconds` each.
    #[arg(long, default_value_t = 6)]
    rounds: u32,
    /// `trigger`: run the server with fsync, synchronous_commit and full_page_writes on.
    #[arg(long)]
    durable: bool,
    /// `trigger`: install this install.sql instead of the current generated one.
    #[arg(long)]
    install: Option<String>,
    /// `lambda`: records per GetRecords call (the mapping's BatchSize).
    #[arg(long, default_value_t = 100)]
    batch: i32,
    /// `lambda`: pause after an empty GetRecords answer, ms (standard polling).
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// `lambda`: model enhanced fan-out (a pushed consumer) instead of standard polling.
    #[arg(long)]
    efo: bool,
    /// `lambda --efo`: the push delay, ms: a batch reaches the handler this long after it was read.
    #[arg(long, default_value_t = 70)]
    push_delay_ms: u64,
    /// `lambda --efo`: pause after an empty GetRecords answer, ms (bounds moto's load).
    #[arg(long, default_value_t = 10)]
    efo_idle_ms: u64,
}

enum Target {
    Moto(Moto),
    Model(ModelKinesis),
}

impl Target {
    fn endpoint(&self) -> String {
        match self {
            Target::Moto(m) => m.endpoint(),
            Target::Model(m) => m.endpoint(),
        }
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Relays until `stop` is set and the outbox (or bucket) is empty.
/// Inserts `rate × seconds` copies of the example `users` row (a new id each), one single-row
/// transaction at a time, paced so that change `i` commits at `i / rate` seconds; returns the
/// seconds it took.
async fn paced_inserts(url: &str, example: &str, rate: u64, seconds: u64) -> Result<f64> {
    let writer = connect(url).await?;
    let insert = writer
        .prepare(
            "INSERT INTO users SELECT (jsonb_populate_record(NULL::users, \
               jsonb_set($1::text::jsonb, '{id}', to_jsonb(gen_random_uuid()::text)))).*",
        )
        .await?;
    let start = Instant::now();
    for i in 0..rate * seconds {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        writer.execute(&insert, &[&example]).await?;
    }
    Ok(start.elapsed().as_secs_f64())
}

async fn run_relay(
    relay: Relay,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<u64> {
    let mut sent = 0;
    loop {
        let round = relay.drain_once().await?;
        sent += round.acked as u64;
        if round.read == 0 {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(sent);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let pg = Postgres::start();
    if args.mode == "trigger" {
        return trigger::trigger_overhead(&pg, &args).await;
    }
    if args.mode == "lambda" {
        return lambda::lambda_latency(&pg, &args).await;
    }
    let target = match args.target.as_str() {
        "moto" => Target::Moto(Moto::start()),
        "model" => Target::Model(ModelKinesis::start(Duration::from_millis(args.latency_ms))),
        other => anyhow::bail!("unknown target {other}"),
    };
    let sdk = testkit::sdk_config_for(&target.endpoint()).await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    if let Target::Moto(_) = target {
        kinesis
            .create_stream()
            .stream_name(STREAM)
            .shard_count(4)
            .send()
            .await?;
    }
    let admin = connect(&pg.url()).await?;
    admin.batch_execute(cdc_capture::TABLES_SQL).await?;
    admin.batch_execute(cdc_capture::INSTALL_SQL).await?;
    let example = std::fs::read_to_string(
        testkit::workspace_root().join("model-schemas/examples/users.json"),
    )?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    match args.mode.as_str() {
        "drain" => {
            admin
                .execute(
                    "INSERT INTO users SELECT (jsonb_populate_record(NULL::users, \
                       jsonb_set($1::text::jsonb, '{id}', to_jsonb(gen_random_uuid()::text)))).* \
                     FROM generate_series(1, $2::bigint)",
                    &[&example, &args.rows],
                )
                .await?;
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let start = Instant::now();
            let mut tasks = Vec::new();
            for i in 0..args.buckets {
                let mut relay =
                    Relay::new(connect(&pg.url()).await?, kinesis.clone(), STREAM, 2000)
                        .with_in_flight(args.in_flight);
                if args.buckets > 1 {
                    relay = relay.with_bucket(Bucket {
                        index: i,
                        count: args.buckets,
                    });
                }
                relay.lock().await.context("lock")?;
                tasks.push(tokio::spawn(run_relay(relay, stop.clone())));
            }
            let mut sent = 0;
            for t in tasks {
                sent += t.await??;
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "drain: {sent} rows in {secs:.2} s = {:.0} rows/s (target {}, {} bucket relay(s), {} PutRecords in flight each)",
                sent as f64 / secs,
                args.target,
                args.buckets,
                args.in_flight
            );
        }
        "latency" => {
            let Target::Model(model) = &target else {
                anyhow::bail!("latency needs --target model (moto keeps no answer times here)");
            };
            model.keep_bodies();
            let relay = Relay::new(connect(&pg.url()).await?, kinesis.clone(), STREAM, 2000)
                .with_in_flight(args.in_flight);
            relay.lock().await?;
            let relay = tokio::spawn(run_relay(relay, stop.clone()));
            let total = args.rate * args.seconds;
            let wrote = paced_inserts(&pg.url(), &example, args.rate, args.seconds).await?;
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            relay.await??;
            let mut latencies = Vec::new();
            for (answered, body) in model.take_bodies() {
                let request: serde_json::Value = serde_json::from_slice(&body)?;
                for r in request["Records"].as_array().context("Records")? {
                    let data = base64::engine::general_purpose::STANDARD
                        .decode(r["Data"].as_str().context("Data")?)?;
                    let record: serde_json::Value = serde_json::from_slice(&data)?;
                    let commit = chrono_like(record["timestamp"].as_str().context("timestamp")?)?;
                    latencies.push(answered.duration_since(commit).unwrap_or_default());
                }
            }
            latencies.sort();
            let p = |q: f64| {
                latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)]
            };
            println!(
                "latency: {} changes at {:.0}/s; commit → PutRecords answered p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (model latency {} ms, {} in flight)",
                latencies.len(),
                total as f64 / wrote,
                p(0.5).as_secs_f64() * 1e3,
                p(0.99).as_secs_f64() * 1e3,
                latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
                args.latency_ms,
                args.in_flight,
            );
        }
        other => anyhow::bail!("unknown mode {other}"),
    }
    Ok(())
}

/// An RFC 3339 time (what the trigger and the relay write) as a `SystemTime`.
fn chrono_like(text: &str) -> Result<SystemTime> {
    Ok(chrono::DateTime::parse_from_rfc3339(text)?.into())
}
