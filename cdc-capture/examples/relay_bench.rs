//! Relay measurements (results in docs/capture.md; not a test: no timed assertions).
//!
//! ```text
//! cargo run -p cdc-capture --example relay_bench -- drain   [--rows 100000] [--target moto|model] [--in-flight 4] [--buckets 1] [--latency-ms 20]
//! cargo run -p cdc-capture --example relay_bench -- latency [--rate 500] [--seconds 20] [--target moto|model] [--latency-ms 20]
//! cargo run -p cdc-capture --example relay_bench -- trigger [--seconds 20] [--clients 2]
//! ```
//!
//! `trigger`: pgbench (from `pg_config --bindir`) inserting single `users` rows (the example row
//! with a fresh id, columns listed, no JSON on the insert side) for `--seconds`, with the capture
//! trigger disabled and enabled, twice each in turn; prints tps and WAL bytes per insert
//! (`pg_current_wal_lsn()` difference over the rows inserted).
//!
//! `drain`: a backlog of `--rows` `users` inserts (written by the generated trigger into the
//! outbox), then `--buckets` relays (one per hash bucket, each with `--in-flight` PutRecords calls
//! at once) drain it; prints rows/s. `latency`: one relay running while a writer commits
//! single-row transactions at `--rate` per second; each record's commit time (its `timestamp`)
//! against the time its PutRecords was answered gives commit → published (at Kinesis) p50/p99.
//! `--target model` answers PutRecords itself after `--latency-ms` (testkit's `ModelKinesis`, the
//! fault proxy's model latency); `moto` is the emulator, whose CPU sets the figure.

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
    /// `drain` or `latency`.
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
    #[arg(long, default_value_t = 2)]
    clients: u32,
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
        return trigger_overhead(&pg, &args).await;
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
                // Paced: change i commits at i / rate seconds.
                let due = start + Duration::from_secs_f64(i as f64 / args.rate as f64);
                tokio::time::sleep_until(due.into()).await;
                writer.execute(&insert, &[&example]).await?;
            }
            let wrote = start.elapsed().as_secs_f64();
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

/// The `trigger` mode.
async fn trigger_overhead(pg: &Postgres, args: &Args) -> Result<()> {
    let admin = connect(&pg.url()).await?;
    admin.batch_execute(cdc_capture::TABLES_SQL).await?;
    admin.batch_execute(cdc_capture::INSTALL_SQL).await?;
    let example = std::fs::read_to_string(
        testkit::workspace_root().join("model-schemas/examples/users.json"),
    )?;
    admin
        .execute(
            "CREATE TABLE bench_template AS SELECT * FROM jsonb_populate_record(NULL::users, $1::text::jsonb)",
            &[&example],
        )
        .await?;
    let columns: String = admin
        .query_one(
            "SELECT string_agg(CASE WHEN attname = 'id' THEN 'gen_random_uuid()' \
               ELSE quote_ident(attname) END, ', ' ORDER BY attnum) \
             FROM pg_attribute WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped",
            &[],
        )
        .await?
        .get(0);
    let script = std::env::temp_dir().join(format!("cdc-trigger-bench-{}.sql", std::process::id()));
    std::fs::write(
        &script,
        format!("INSERT INTO users SELECT {columns} FROM bench_template;\n"),
    )?;
    let bindir = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()?;
    let pgbench = std::path::Path::new(String::from_utf8(bindir.stdout)?.trim()).join("pgbench");
    for round in 0..2 {
        for enabled in [false, true] {
            admin
                .batch_execute(&format!(
                    "ALTER TABLE users {} TRIGGER cdc_capture; TRUNCATE users; TRUNCATE cdc.outbox; CHECKPOINT",
                    if enabled { "ENABLE" } else { "DISABLE" }
                ))
                .await?;
            let before: String = admin
                .query_one("SELECT pg_current_wal_lsn()::text", &[])
                .await?
                .get(0);
            let out = std::process::Command::new(&pgbench)
                .args(["-n", "-f"])
                .arg(&script)
                .args([
                    "-c",
                    &args.clients.to_string(),
                    "-j",
                    &args.clients.to_string(),
                ])
                .args(["-T", &args.seconds.to_string(), "-d", &pg.url()])
                .output()
                .context("running pgbench")?;
            anyhow::ensure!(
                out.status.success(),
                "pgbench: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let tps = text
                .lines()
                .find(|l| l.starts_with("tps"))
                .unwrap_or("tps = ?")
                .to_string();
            let row = admin
                .query_one(
                    "SELECT (pg_current_wal_lsn() - $1::text::pg_lsn)::float8, (SELECT count(*) FROM users)",
                    &[&before],
                )
                .await?;
            let (wal, rows): (f64, i64) = (row.get(0), row.get(1));
            println!(
                "trigger {}: round {round}: {tps}; {rows} inserts, {:.0} WAL bytes per insert",
                if enabled { "on " } else { "off" },
                wal / rows.max(1) as f64
            );
        }
    }
    std::fs::remove_file(&script)?;
    // One statement inserting 10,000 rows (last session's measure), trigger off and on in turn.
    for round in 0..3 {
        for enabled in [false, true] {
            admin
                .batch_execute(&format!(
                    "ALTER TABLE users {} TRIGGER cdc_capture; TRUNCATE users; TRUNCATE cdc.outbox; CHECKPOINT",
                    if enabled { "ENABLE" } else { "DISABLE" }
                ))
                .await?;
            let start = Instant::now();
            admin
                .batch_execute(&format!(
                    "INSERT INTO users SELECT {columns} FROM bench_template, generate_series(1, 10000)"
                ))
                .await?;
            println!(
                "trigger {}: round {round}: 10,000-row INSERT in {:.0} ms",
                if enabled { "on " } else { "off" },
                start.elapsed().as_secs_f64() * 1e3
            );
        }
    }
    Ok(())
}
