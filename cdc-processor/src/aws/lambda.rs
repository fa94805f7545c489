//! The `cdc-processor` Lambda: Kinesis trigger in, `KinesisEventResponse` (ReportBatchItemFailures)
//! out, on the real Lambda runtime.
//!
//! [`run`] reads the configuration and builds the SDK clients and the pipeline once, at init, then
//! serves invocations with [`lenient_handler`]; [`handler`] is the same for an already typed
//! `KinesisEvent`. Both are plain async functions that tests call with fixture events.
//!
//! Per shard, in order (the pipeline's rules): non-retryable failures (`PARSE_ERROR`,
//! `VALIDATION_ERROR`, `ENTRY_TOO_LARGE`, rejected entries) go to the DLQ and processing continues;
//! a record still failing transiently after the retries is reported, with every later record of its
//! shard, so Lambda resumes from it in order; a record whose dead letter cannot be written is
//! reported too. The state item of each shard is moved once per batch, beside the shard's final
//! checkpoint write; after the batch the handler writes the EMF metrics and returns the failures.

use super::config::{fetch_hmac_key, load_sdk_config, Clients, ConfigError, Settings};
use super::dynamodb::{DynamoCheckpointStore, DynamoStateStore, ShardCheckpoints};
use super::eventbridge::EventBridgePublisher;
use super::metrics::{InvocationMetrics, MetricsSink, PublishStats};
use super::sqs::SqsDeadLetterSink;
use crate::config::PipelineConfig;
use crate::decode::LenientKinesisEvent;
pub use crate::pipeline::report::{shard_progress, ShardProgress};
use crate::pipeline::{BatchReport, Disposition, Pipeline};
use aws_config::SdkConfig;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::KinesisEventResponse;
use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// The pipeline on EventBridge, DynamoDB and SQS.
pub type AwsPipeline = Pipeline<EventBridgePublisher, ShardCheckpoints, SqsDeadLetterSink>;

/// Why init failed: a variable (named, with its expected form) or the key's secret.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// An AWS-side variable ([`Settings`]) or the HMAC key secret.
    #[error(transparent)]
    Aws(#[from] ConfigError),
    /// A pipeline variable ([`PipelineConfig::from_lookup`]).
    #[error(transparent)]
    Pipeline(#[from] crate::config::ConfigError),
}

/// Everything built once at init and shared by every invocation.
pub struct AppState {
    pipeline: AwsPipeline,
    state: DynamoStateStore,
    settings: Settings,
    stats: Arc<PublishStats>,
    metrics: MetricsSink,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Init from the process environment: the settings, the SDK configuration from aws-config's
    /// default chain (credentials, `AWS_ENDPOINT_URL`), the clients and the pipeline. Metrics go to
    /// stdout.
    pub async fn from_env() -> Result<AppState, InitError> {
        let lookup = |k: &str| std::env::var(k).ok();
        let settings = Settings::from_lookup(lookup)?;
        let sdk = load_sdk_config(&settings).await;
        AppState::init(lookup, &sdk, MetricsSink::Stdout).await
    }

    /// Init from variables given by `lookup`, with a ready SDK configuration (tests pass a map and
    /// the emulator's configuration).
    pub async fn init(
        lookup: impl Fn(&str) -> Option<String>,
        sdk: &SdkConfig,
        metrics: MetricsSink,
    ) -> Result<AppState, InitError> {
        let settings = Settings::from_lookup(&lookup)?;
        let key = match &settings.redaction_hmac_key_secret {
            Some(secret) => {
                let key = fetch_hmac_key(sdk, secret).await?;
                if key.len() < super::config::MIN_HMAC_KEY_BYTES {
                    return Err(ConfigError::Invalid {
                        name: "REDACTION_HMAC_KEY_SECRET_ARN",
                        expected: "a secret whose SecretString has at least 32 bytes",
                        problem: format!("the secret's key has {} bytes", key.len()),
                    }
                    .into());
                }
                Some(key)
            }
            None => None,
        };
        // MAX_EVENT_SIZE_BYTES (1024..=1 MiB) is checked and applied by the pipeline config.
        let config = PipelineConfig::from_lookup(|k| match k {
            "REDACTION_HMAC_KEY" if key.is_some() => key.clone(),
            _ => lookup(k),
        })?;
        Ok(AppState::build(settings, config, sdk, metrics))
    }

    /// Builds the clients, the adapters and the pipeline from validated configuration.
    pub fn build(
        settings: Settings,
        config: PipelineConfig,
        sdk: &SdkConfig,
        metrics: MetricsSink,
    ) -> AppState {
        let clients = Clients::new(sdk, &settings);
        let stats = Arc::new(PublishStats::default());
        let publisher = EventBridgePublisher::new(
            clients.eventbridge,
            config.event_bus_name(),
            settings.retry_policy(),
            stats.clone(),
        )
        .with_adaptive_concurrency(config.publish_concurrency());
        let checkpoints = if settings.kinesis_parallelization_factor > 1 {
            ShardCheckpoints::Off
        } else {
            ShardCheckpoints::Dynamo(
                DynamoCheckpointStore::new(
                    clients.dynamodb.clone(),
                    &settings.checkpoint_table_name,
                )
                .with_ttl(Duration::from_secs(
                    u64::from(settings.checkpoint_ttl_days) * 86_400,
                )),
            )
        };
        let dead_letters = SqsDeadLetterSink::new(clients.sqs, &settings.dlq_queue_url);
        let state = DynamoStateStore::new(clients.dynamodb, &settings.state_table_name);
        AppState {
            pipeline: Pipeline::new(config, publisher, checkpoints, dead_letters),
            state,
            settings,
            stats,
            metrics,
        }
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &AwsPipeline {
        &self.pipeline
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The state store.
    pub fn state_store(&self) -> &DynamoStateStore {
        &self.state
    }
}

/// Handles one batch: runs the pipeline, records the state of each shard, writes the metrics and
/// returns the records to retry. Failures of single records are in the response, never an `Err`.
pub async fn handler(
    state: &AppState,
    event: LambdaEvent<KinesisEvent>,
) -> Result<KinesisEventResponse, Error> {
    let (payload, context) = event.into_parts();
    handle(state, &context, Batch::Strict(&payload)).await
}

/// [`handler`] for the event as the runtime hands it over, read leniently: a record whose `data`
/// is not valid base64 becomes that record's `PARSE_ERROR` (dead-lettered) instead of failing the
/// whole invocation (which Lambda would retry as a whole until the batch expired). [`run`] serves
/// this one.
pub async fn lenient_handler(
    state: &AppState,
    event: LambdaEvent<LenientKinesisEvent>,
) -> Result<KinesisEventResponse, Error> {
    let (payload, context) = event.into_parts();
    handle(state, &context, Batch::Lenient(&payload)).await
}

/// A batch as either handler received it.
#[derive(Clone, Copy)]
enum Batch<'a> {
    Strict(&'a KinesisEvent),
    Lenient(&'a LenientKinesisEvent),
}

/// The body of [`handler`] and [`lenient_handler`]: one span per invocation, the pipeline with the
/// shards' state recorded beside their final checkpoint writes, then the metrics and response.
async fn handle(
    state: &AppState,
    context: &lambda_runtime::Context,
    batch: Batch<'_>,
) -> Result<KinesisEventResponse, Error> {
    let received = Utc::now();
    let (records, age) = match batch {
        Batch::Strict(event) => (event.records.len(), batch_age_ms(event, received)),
        Batch::Lenient(event) => (event.records.len(), lenient_batch_age_ms(event, received)),
    };
    let span = invocation_span(context, records);
    async {
        check_batch_size(state, records);
        let state_errors = AtomicU64::new(0);
        let processor = &state.settings.processor_name;
        let on_settled = |p| record_state(state, p, &state_errors);
        let report = match batch {
            Batch::Strict(event) => {
                state
                    .pipeline
                    .process_kinesis_event_with(event, processor, &on_settled)
                    .await
            }
            Batch::Lenient(event) => {
                state
                    .pipeline
                    .process_lenient_event_with(event, processor, &on_settled)
                    .await
            }
        };
        finish(state, report, state_errors.into_inner(), age, received)
    }
    .instrument(span)
    .await
}

fn invocation_span(context: &lambda_runtime::Context, records: usize) -> tracing::Span {
    tracing::info_span!("invocation", request_id = %context.request_id, records)
}

fn check_batch_size(state: &AppState, records: usize) {
    if records > state.settings.kinesis_batch_size as usize {
        tracing::warn!(
            records,
            batch_size = state.settings.kinesis_batch_size,
            "batch larger than KINESIS_BATCH_SIZE"
        );
    }
}

/// A shard's state item, once per batch: the pipeline calls this when the shard's records are
/// settled, and it is in flight beside the shard's final checkpoint write (so a batch pays one
/// DynamoDB round trip for both). A failure is counted in `errors`.
async fn record_state(state: &AppState, p: ShardProgress, errors: &AtomicU64) {
    let id = format!("{}#{}", state.settings.processor_name, p.shard);
    if let Err(e) = state
        .state
        .record_progress(&id, &p.last, p.handled, Utc::now())
        .await
    {
        // The state is informational (checkpoints decide what is skipped): log, count, go on.
        errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(shard = %p.shard, error = %e, "state update failed");
    }
}

/// After the pipeline (and the state items, written beside each shard's final checkpoint write):
/// metrics, summary log, response.
fn finish(
    state: &AppState,
    report: BatchReport,
    state_errors: u64,
    batch_age_ms: Option<f64>,
    received: DateTime<Utc>,
) -> Result<KinesisEventResponse, Error> {
    let settings = &state.settings;

    let mut metrics = invocation_metrics(&report, batch_age_ms, state.stats.take());
    metrics.publish_limit = state
        .pipeline
        .publisher()
        .concurrency_limit()
        .map(super::aimd::AdaptiveLimit::snapshot);
    state.metrics.write(&metrics.emf_lines(
        &settings.metrics_namespace,
        &settings.processor_name,
        received.timestamp_millis(),
    ));
    tracing::info!(
        records_in = report.counts.records_in,
        published = report.counts.published,
        acknowledged = report.counts.acknowledged,
        skipped = report.counts.skipped,
        dead_lettered = report.counts.dead_lettered_total(),
        failed = report.counts.failed,
        state_errors,
        "batch done"
    );
    Ok(report.to_response())
}

/// The deployed binary's `main`: a multi-thread Tokio runtime running [`run`]. An error (the
/// runtime cannot start, init fails, the runtime API is gone) goes to stderr with its causes, as
/// `{:#}` of anyhow would print it, and exits 2.
pub fn main() -> std::process::ExitCode {
    use std::process::ExitCode;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cdc-processor: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("cdc-processor: {message}");
            ExitCode::from(2)
        }
    }
}

/// The function's main loop: JSON logs, init once, then serve invocations until the runtime stops.
pub async fn run() -> Result<(), Error> {
    init_tracing();
    let state = match AppState::from_env().await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "init failed");
            return Err(e.into());
        }
    };
    let s = &state.settings;
    tracing::info!(
        processor = %s.processor_name,
        bus = %state.pipeline.config().event_bus_name(),
        redaction = state.pipeline.config().redaction().is_enabled(),
        checkpoints = s.kinesis_parallelization_factor == 1,
        max_retry_attempts = s.max_retry_attempts,
        emulator = s.endpoint_url.is_some(),
        "init done"
    );
    let state = &state;
    lambda_runtime::run(service_fn(move |event| lenient_handler(state, event))).await
}

/// JSON logs through `tracing` on stdout (CloudWatch Logs), filtered by `RUST_LOG` (default
/// `info`). Logs carry tables, operations, sequence numbers, counts and error codes — never column
/// values. Calling it twice is harmless.
pub fn init_tracing() {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = json_subscriber(std::io::stdout).try_init();
}

/// The functions' log subscriber ([`init_tracing`]) writing to `writer`: JSON lines with the
/// current span's fields, filtered by `RUST_LOG` ([`rust_log_targets`]) with the payload-logging targets
/// capped. The per-record span is DEBUG (at `info`, a record's warnings carry its identity as
/// fields). The pipeline benchmark measures it on a sink.
pub fn json_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    tracing_subscriber::fmt()
        .json()
        // Every level reaches the layers below; `RUST_LOG` and the caps choose.
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer)
        .finish()
        .with(rust_log_targets())
        .with(sensitive_caps())
}

/// The `RUST_LOG` filter of the functions: a `filter::Targets` list, `level` and
/// `target=level` directives separated by commas (`info`, `cdc_processor=debug,warn`, `off`);
/// `info` when `RUST_LOG` is unset, empty or not such a list. `EnvFilter`'s span and field
/// directives (`[span{field=value}]=level`) are not read: `EnvFilter` matches them with
/// regular expressions, which the Lambda binary leaves out (docs/configuration.md).
pub fn rust_log_targets() -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// Caps the log targets that print payloads, whatever `RUST_LOG` asks: `lambda_runtime` logs every
/// raw event it receives at TRACE (record contents, personal data), and the AWS SDK's orchestrator
/// and HTTP stack (and the request signer) log request and response contents at TRACE (dead
/// letters read from SQS, event details sent to EventBridge). Added as a layer beside the
/// `RUST_LOG` filter, it only ever **lowers** a level: an event passes when both allow it, so `RUST_LOG=info` still prints no DEBUG
/// line of these targets, and `RUST_LOG=trace` none of their TRACE lines.
pub fn sensitive_caps() -> tracing_subscriber::filter::Targets {
    use tracing_subscriber::filter::LevelFilter;
    tracing_subscriber::filter::Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("lambda_runtime::layers::api_response", LevelFilter::DEBUG)
        .with_target("aws_smithy_runtime", LevelFilter::DEBUG)
        .with_target("aws_smithy_runtime_api", LevelFilter::DEBUG)
        .with_target("aws_smithy_http_client", LevelFilter::DEBUG)
        .with_target("aws_sigv4", LevelFilter::DEBUG)
        .with_target("hyper", LevelFilter::INFO)
        .with_target("hyper_util", LevelFilter::INFO)
        .with_target("h2", LevelFilter::INFO)
        .with_target("rustls", LevelFilter::INFO)
}

/// Now minus the oldest record's `approximateArrivalTimestamp`, in milliseconds (the batch's
/// iterator age as this invocation sees it).
pub fn batch_age_ms(event: &KinesisEvent, now: DateTime<Utc>) -> Option<f64> {
    event
        .records
        .iter()
        .map(|r| *r.kinesis.approximate_arrival_timestamp)
        .min()
        .map(|oldest| (now - oldest).num_milliseconds().max(0) as f64)
}

/// [`batch_age_ms`] of a leniently read event, whose `approximateArrivalTimestamp` is kept as
/// the epoch seconds Kinesis writes (absent ones are left out).
fn lenient_batch_age_ms(event: &LenientKinesisEvent, now: DateTime<Utc>) -> Option<f64> {
    event
        .records
        .iter()
        .filter_map(|r| r.kinesis.approximate_arrival_timestamp)
        .reduce(f64::min)
        .map(|oldest| (now.timestamp_millis() as f64 - oldest * 1000.0).max(0.0))
}

/// The metrics of one batch.
pub fn invocation_metrics(
    report: &BatchReport,
    batch_age_ms: Option<f64>,
    publish: super::metrics::PublishSnapshot,
) -> InvocationMetrics {
    let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
    for r in &report.records {
        match &r.disposition {
            Disposition::Skipped => *skipped.entry("checkpoint".into()).or_default() += 1,
            Disposition::Acknowledged { reason } => {
                *skipped.entry(reason.as_str().into()).or_default() += 1
            }
            _ => {}
        }
    }
    InvocationMetrics {
        records_in: report.counts.records_in,
        published: report.counts.published,
        skipped,
        dead_lettered: report
            .counts
            .dead_lettered
            .iter()
            .map(|(code, n)| (code.as_str().to_string(), *n))
            .collect(),
        failed: report.counts.failed,
        batch_age_ms,
        publish,
        publish_limit: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::pipeline::RecordOutcome;
    use crate::sequence::Position;

    fn outcome(
        shard: &str,
        seq: &str,
        sub: Option<u64>,
        disposition: Disposition,
    ) -> RecordOutcome {
        RecordOutcome {
            shard: shard.into(),
            sequence_number: seq.into(),
            sub_sequence_number: sub,
            event_id: None,
            table: None,
            source_format: None,
            disposition,
        }
    }

    #[test]
    fn progress_stops_at_the_first_failure_of_each_shard() {
        let failed = || Disposition::Failed { reason: "x".into() };
        let dead = || Disposition::DeadLettered {
            code: ErrorCode::ParseError,
            message: "m".into(),
        };
        let report = BatchReport {
            records: vec![
                outcome("a", "9", None, Disposition::Skipped),
                outcome("a", "10", Some(0), Disposition::Published),
                outcome("a", "10", Some(1), dead()),
                outcome("b", "5", None, failed()),
                outcome("b", "6", None, Disposition::Published),
                outcome("a", "11", None, failed()),
                outcome("a", "12", None, Disposition::Published),
                outcome("c", "1", None, Disposition::Skipped),
            ],
            ..BatchReport::default()
        };
        let p = shard_progress(&report);
        assert_eq!(
            p,
            vec![ShardProgress {
                shard: "a".into(),
                last: Position {
                    sequence: "10".parse().unwrap(),
                    sub_sequence: Some(1)
                },
                handled: 2,
            }],
            "b failed first, c only skipped"
        );
    }

    #[test]
    fn metrics_count_skips_by_reason_and_dead_letters_by_code() {
        let mut report = BatchReport {
            records: vec![
                outcome("a", "1", None, Disposition::Skipped),
                outcome(
                    "a",
                    "2",
                    None,
                    Disposition::Acknowledged {
                        reason: crate::formats::AckReason::Tombstone,
                    },
                ),
            ],
            ..BatchReport::default()
        };
        report.counts.records_in = 3;
        report
            .counts
            .dead_lettered
            .insert(ErrorCode::ValidationError, 1);
        let m = invocation_metrics(&report, Some(5.0), Default::default());
        assert_eq!(m.records_in, 3);
        assert_eq!(m.skipped.get("checkpoint"), Some(&1));
        assert_eq!(m.skipped.get("tombstone"), Some(&1));
        assert_eq!(m.dead_lettered.get("VALIDATION_ERROR"), Some(&1));
        assert_eq!(m.batch_age_ms, Some(5.0));
    }
}
