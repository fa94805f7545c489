//! `cdc-relay`: relays the capture outbox to Kinesis until SIGTERM or SIGINT (see the crate docs).

use anyhow::{Context, Result};
use cdc_capture::config::{Command, Config, Metrics};
use cdc_capture::relay::{Error as RelayError, Relay};
use clap::Parser;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::signal::unix::{signal, SignalKind};

fn main() -> Result<()> {
    // `.env` in the current directory, as the other binaries read it: variables already set win;
    // a malformed line is reported by its position, never its contents. Before clap and any thread.
    match dotenvy::from_path(".env") {
        Ok(()) => {}
        Err(e) if e.not_found() => {}
        Err(dotenvy::Error::LineParse(_, index)) => eprintln!(
            "cdc-relay: .env: cannot parse it at character {index}; the lines from there on are ignored"
        ),
        Err(e) => eprintln!("cdc-relay: .env: {e}; the file is ignored"),
    }
    let config = Config::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(run(config))
}

async fn run(config: Config) -> Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (db, connection) = tokio_postgres::connect(&config.database_url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL (CDC_RELAY_DATABASE_URL)")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, "database connection closed");
        }
    });
    if let Some(Command::Snapshot { table }) = &config.command {
        let n = cdc_capture::outbox::snapshot(&db, table)
            .await
            .with_context(|| format!("snapshot of {table}"))?;
        tracing::info!(table = %table, rows = n, "snapshot written to the outbox");
        return Ok(());
    }
    // hyper with rustls on ring (the slim SDK build has no default HTTP client).
    let http = {
        use aws_smithy_http_client::tls;
        aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https()
    };
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await;
    let mut relay = Relay::new(
        db,
        aws_sdk_kinesis::Client::new(&sdk),
        &config.stream,
        config.batch,
    )
    .with_in_flight(config.in_flight as usize);
    if let Some(bucket) = config.bucket {
        relay = relay.with_bucket(bucket);
    }
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;

    loop {
        match relay.lock().await {
            Ok(()) => break,
            Err(RelayError::Locked | RelayError::OtherBucketCount(_)) => {
                tracing::info!("another relay holds the outbox; waiting");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = term.recv() => return Ok(()),
                    _ = int.recv() => return Ok(()),
                }
            }
            Err(e) => return Err(e).context("taking the outbox lock"),
        }
    }
    tracing::info!(
        stream = %config.stream,
        bucket = config.bucket.map(|b| b.to_string()),
        in_flight = config.in_flight,
        "relaying"
    );

    let mut metrics = Metrics::default();
    let mut last_metrics = Instant::now();
    let mut backoff = config.poll_interval();
    loop {
        let pause = match relay.drain_once().await {
            Ok(round) => {
                metrics.records_sent += round.acked as u64;
                metrics.retries += round.failed as u64;
                if round.failed > 0 {
                    tracing::warn!(failed = round.failed, "Kinesis rejected records; resending");
                }
                backoff = config.poll_interval();
                (round.read == 0 || round.failed > 0).then_some(config.poll_interval())
            }
            Err(e) => {
                if relay.db().is_closed() {
                    return Err(e).context("the database connection is gone");
                }
                tracing::error!(error = %e, "round failed; retrying");
                backoff = (backoff * 2).min(Duration::from_secs(5));
                Some(backoff)
            }
        };
        if last_metrics.elapsed() >= Duration::from_secs(config.metrics_interval_s) {
            emit_metrics(&relay, &config, &mut metrics).await;
            last_metrics = Instant::now();
        }
        let stop = match pause {
            Some(p) => tokio::select! {
                _ = tokio::time::sleep(p) => false,
                _ = term.recv() => true,
                _ = int.recv() => true,
            },
            None => tokio::select! {
                biased;
                _ = term.recv() => true,
                _ = int.recv() => true,
                _ = std::future::ready(()) => false,
            },
        };
        if stop {
            emit_metrics(&relay, &config, &mut metrics).await;
            tracing::info!("stopping after the current round");
            return Ok(());
        }
    }
}

async fn emit_metrics(relay: &Relay, config: &Config, metrics: &mut Metrics) {
    metrics.outbox_depth = cdc_capture::outbox::depth(relay.db()).await.unwrap_or(-1);
    metrics.oldest_row_age_seconds = cdc_capture::outbox::oldest_age_seconds(relay.db())
        .await
        .unwrap_or(-1.0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    println!("{}", metrics.emf_line(&config.stream, now));
    metrics.records_sent = 0;
    metrics.retries = 0;
}
