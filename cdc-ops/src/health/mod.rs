//! The `health-check` Lambda (scheduled) and the checks behind `cdc-ops health check`.
//!
//! Each run probes, concurrently, with a time limit per check:
//!
//! | check | call | ok | warn | fail |
//! |---|---|---|---|---|
//! | `eventBus` | `DescribeEventBus` | the bus exists | | missing, no access, timeout |
//! | `stream` | Kinesis `DescribeStreamSummary` | `ACTIVE` | `UPDATING` | `CREATING`, `DELETING`, missing, no access |
//! | `table` (×2) | DynamoDB `DescribeTable` | `ACTIVE` with the expected partition key | `UPDATING` and other transitional states | missing, wrong key, no access |
//! | `deadLetterQueue` | SQS `GetQueueAttributes` | depth below `HEALTH_DLQ_DEPTH_WARN` | depth ≥ `HEALTH_DLQ_DEPTH_WARN` | depth ≥ `HEALTH_DLQ_DEPTH_FAIL` (when not 0), missing queue |
//! | `checkpointAge` (per open shard) | `ListShards`, then `GetItem` on the checkpoint table | younger than `HEALTH_CHECKPOINT_AGE_WARN_SECONDS` | older, or no checkpoint yet | older than `HEALTH_CHECKPOINT_AGE_FAIL_SECONDS` (when not 0), table unreadable |
//!
//! The overall status is `unhealthy` when a check fails, `degraded` when one warns, else `healthy`.
//! Every run writes EMF lines (namespace `METRICS_NAMESPACE`, dimension `FunctionName`, like
//! [`cdc_processor::aws::metrics`]), among them `HealthCheckFailed` = 0 or 1 on **every** run: the deployed
//! alarm treats missing data as failing. The function returns the [`HealthReport`] as JSON; it
//! fails an invocation only when it cannot run at all.
//!
//! Init reads only what the checks need ([`HealthConfig`]): no HMAC key, no Secrets Manager access.

mod probes;
mod report;

pub use report::{CheckResult, CheckStatus, HealthReport, HealthStatus};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{AttributeValue, KeyType, TableStatus};
use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_sqs::types::QueueAttributeName;
use cdc_processor::aws::config::{ConfigError, Reader, Settings, Variable};
use cdc_processor::aws::dynamodb::{checkpoint_id, decode_position};
use cdc_processor::aws::metrics::MetricsSink;
use cdc_processor::aws::{classify, http_client, CallError};
use cdc_processor::ports::CheckpointKey;
use chrono::{DateTime, SecondsFormat, Utc};
use lambda_runtime::{service_fn, Error, LambdaEvent};

use serde_json::{json, Map, Value};
use std::future::Future;
use std::time::{Duration, Instant};

/// The health check's own variables (besides the shared ones of [`Settings`]: `AWS_REGION`,
/// `KINESIS_STREAM_NAME`, `KINESIS_PARALLELIZATION_FACTOR`, `STATE_TABLE_NAME`,
/// `CHECKPOINT_TABLE_NAME`, `DLQ_QUEUE_URL`, `AWS_LAMBDA_FUNCTION_NAME`, `METRICS_NAMESPACE`).
pub const VARIABLES: &[Variable] = &[
    Variable::new("EVENT_BUS_NAME", "the event bus name or ARN", Some("cdc-events"), false),
    Variable::new("CDC_PROCESSOR_NAME", "the cdc-processor function's name, its processor name in checkpoint keys (1-140 of `a-zA-Z0-9_.-`)", Some("cdc-processor"), false),
    Variable::new("HEALTH_DLQ_DEPTH_WARN", "an integer 1..=1000000: DLQ depth from which the check warns", Some("1"), false),
    Variable::new("HEALTH_DLQ_DEPTH_FAIL", "an integer 0..=1000000: DLQ depth from which the check fails (0: never)", Some("100"), false),
    Variable::new("HEALTH_CHECKPOINT_AGE_WARN_SECONDS", "an integer 60..=31536000: checkpoint age from which the check warns", Some("3600"), false),
    Variable::new("HEALTH_CHECKPOINT_AGE_FAIL_SECONDS", "an integer 0..=31536000: checkpoint age from which the check fails (0: never)", Some("86400"), false),
    Variable::new("HEALTH_CHECK_TIMEOUT_MS", "an integer 100..=25000: time limit of each check", Some("5000"), false),
];

/// What the health check reads at init.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// The shared variables (the HMAC key is neither required nor read).
    pub settings: Settings,
    /// `EVENT_BUS_NAME`.
    pub event_bus_name: String,
    /// `CDC_PROCESSOR_NAME`: the processor name in checkpoint keys.
    pub processor_name: String,
    /// `HEALTH_DLQ_DEPTH_WARN`.
    pub dlq_depth_warn: u64,
    /// `HEALTH_DLQ_DEPTH_FAIL` (`None`: never fails on depth).
    pub dlq_depth_fail: Option<u64>,
    /// `HEALTH_CHECKPOINT_AGE_WARN_SECONDS`.
    pub checkpoint_age_warn: Duration,
    /// `HEALTH_CHECKPOINT_AGE_FAIL_SECONDS` (`None`: never fails on age).
    pub checkpoint_age_fail: Option<Duration>,
    /// `HEALTH_CHECK_TIMEOUT_MS`.
    pub check_timeout: Duration,
}

impl HealthConfig {
    /// Reads the configuration through `lookup`. A missing or invalid variable is named with its
    /// expected form, never its value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::from_lookup(&lookup)?;
        let v = Reader::new(&lookup, VARIABLES);
        let event_bus_name = v.name("EVENT_BUS_NAME", 1..=1600, b":/")?;
        let processor_name = v.name("CDC_PROCESSOR_NAME", 1..=140, b"")?;
        let dlq_depth_warn = v.integer("HEALTH_DLQ_DEPTH_WARN", 1..=1_000_000)?;
        let dlq_depth_fail =
            Some(v.integer("HEALTH_DLQ_DEPTH_FAIL", 0..=1_000_000)?).filter(|n| *n > 0);
        let warn = v.integer("HEALTH_CHECKPOINT_AGE_WARN_SECONDS", 60..=31_536_000)?;
        let fail = v.integer("HEALTH_CHECKPOINT_AGE_FAIL_SECONDS", 0..=31_536_000)?;
        if fail > 0 && fail < warn {
            return Err(v.invalid(
                "HEALTH_CHECKPOINT_AGE_FAIL_SECONDS",
                "below HEALTH_CHECKPOINT_AGE_WARN_SECONDS",
            ));
        }
        if dlq_depth_fail.is_some_and(|f| f < dlq_depth_warn) {
            return Err(v.invalid("HEALTH_DLQ_DEPTH_FAIL", "below HEALTH_DLQ_DEPTH_WARN"));
        }
        let timeout = v.integer("HEALTH_CHECK_TIMEOUT_MS", 100..=25_000)?;
        Ok(HealthConfig {
            settings,
            event_bus_name,
            processor_name,
            dlq_depth_warn,
            dlq_depth_fail,
            checkpoint_age_warn: Duration::from_secs(warn),
            checkpoint_age_fail: Some(Duration::from_secs(fail)).filter(|d| !d.is_zero()),
            check_timeout: Duration::from_millis(timeout),
        })
    }
}

/// The clients the checks use: the SDK's standard retries, at most 2 attempts (a check has a time
/// limit of its own).
#[derive(Clone, Debug)]
pub struct HealthClients {
    /// EventBridge.
    pub eventbridge: aws_sdk_eventbridge::Client,
    /// Kinesis.
    pub kinesis: aws_sdk_kinesis::Client,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
}

impl HealthClients {
    /// Builds the clients from a shared SDK configuration.
    pub fn new(sdk: &SdkConfig) -> Self {
        let retry = RetryConfig::standard().with_max_attempts(2);
        HealthClients {
            eventbridge: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(sdk)
                    .retry_config(retry.clone())
                    .build(),
            ),
            kinesis: aws_sdk_kinesis::Client::from_conf(
                aws_sdk_kinesis::config::Builder::from(sdk)
                    .retry_config(retry.clone())
                    .build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(sdk)
                    .retry_config(retry.clone())
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(sdk)
                    .retry_config(retry)
                    .build(),
            ),
        }
    }
}

/// The health check: configuration, clients and where metrics go, built once at init.
#[derive(Clone, Debug)]
pub struct HealthChecker {
    config: HealthConfig,
    clients: HealthClients,
    metrics: MetricsSink,
}

/// Why a health check init failed.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HealthInitError(#[from] pub ConfigError);

/// A check's failure as the report shows it.
impl HealthChecker {
    /// A checker with this configuration and SDK configuration.
    pub fn new(config: HealthConfig, sdk: &SdkConfig, metrics: MetricsSink) -> Self {
        HealthChecker {
            config,
            clients: HealthClients::new(sdk),
            metrics,
        }
    }

    /// Init from variables given by `lookup` and a ready SDK configuration.
    pub fn init(
        lookup: impl Fn(&str) -> Option<String>,
        sdk: &SdkConfig,
        metrics: MetricsSink,
    ) -> Result<Self, HealthInitError> {
        Ok(HealthChecker::new(
            HealthConfig::from_lookup(lookup)?,
            sdk,
            metrics,
        ))
    }

    /// Init from the process environment (credentials, region and `AWS_ENDPOINT_URL` through
    /// aws-config's default chain); metrics to stdout.
    pub async fn from_env() -> Result<Self, HealthInitError> {
        let config = HealthConfig::from_lookup(|k| std::env::var(k).ok())?;
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.settings.region.clone()))
            .http_client(http_client())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(cdc_processor::aws::config::CONNECT_TIMEOUT)
                    .operation_attempt_timeout(config.check_timeout)
                    .build(),
            )
            .load()
            .await;
        Ok(HealthChecker::new(config, &sdk, MetricsSink::Stdout))
    }

    /// The configuration.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Runs every check and returns the report (no metrics, no logs: see [`handler`]).
    pub async fn check(&self) -> HealthReport {
        let checked_at = Utc::now();
        let started = Instant::now();
        let s = &self.config.settings;
        let (bus, stream_and_checkpoints, state_table, checkpoint_table, dlq) = tokio::join!(
            self.timed("eventBus", &self.config.event_bus_name, self.check_bus()),
            self.stream_and_checkpoints(),
            self.timed(
                "table",
                &s.state_table_name,
                self.check_table(&s.state_table_name, "processor")
            ),
            self.timed(
                "table",
                &s.checkpoint_table_name,
                self.check_table(&s.checkpoint_table_name, "pk")
            ),
            self.timed("deadLetterQueue", &s.dlq_queue_url, self.check_dlq()),
        );
        let mut checks = vec![bus];
        let (stream, checkpoints) = stream_and_checkpoints;
        checks.push(stream);
        checks.push(state_table);
        checks.push(checkpoint_table);
        checks.push(dlq);
        checks.extend(checkpoints);
        HealthReport {
            status: HealthReport::status_of(&checks),
            checked_at,
            duration_ms: started.elapsed().as_millis() as u64,
            checks,
        }
    }

    /// Runs a check under the time limit and measures it.
    async fn timed(
        &self,
        name: &str,
        target: &str,
        check: impl Future<Output = (CheckStatus, String, Map<String, Value>)>,
    ) -> CheckResult {
        let started = Instant::now();
        let (status, message, details) =
            match tokio::time::timeout(self.config.check_timeout, check).await {
                Ok(r) => r,
                Err(_) => (
                    CheckStatus::Fail,
                    format!(
                        "timed out after {} ms",
                        self.config.check_timeout.as_millis()
                    ),
                    Map::new(),
                ),
            };
        CheckResult {
            name: name.to_string(),
            target: target.to_string(),
            status,
            latency_ms: started.elapsed().as_millis() as u64,
            message,
            details,
        }
    }
}

/// `1h 05m`, `3m 20s`, `42s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// One scheduled run: the checks, one log line per check that did not pass (name, target,
/// latency, message), the EMF lines (always, `HealthCheckFailed` included), and the report as the
/// function's result. The event (an EventBridge scheduled event) is not read.
pub async fn handler(
    checker: &HealthChecker,
    event: LambdaEvent<Value>,
) -> Result<HealthReport, Error> {
    let _ = event;
    let report = checker.check().await;
    for c in report.problems() {
        tracing::warn!(
            check = %c.name,
            target = %c.target,
            status = c.status.as_str(),
            latency_ms = c.latency_ms,
            message = %c.message,
            "health check did not pass"
        );
    }
    let s = &checker.config.settings;
    checker
        .metrics
        .write(&report.emf_lines(&s.metrics_namespace, &s.processor_name));
    tracing::info!(
        status = report.status.as_str(),
        checks = report.checks.len(),
        duration_ms = report.duration_ms,
        "health check done"
    );
    Ok(report)
}

/// The function's main loop: JSON logs, init once, then serve scheduled invocations.
pub async fn run() -> Result<(), Error> {
    cdc_processor::aws::lambda::init_tracing();
    let checker = match HealthChecker::from_env().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "init failed");
            return Err(e.into());
        }
    };
    tracing::info!(
        bus = %checker.config.event_bus_name,
        stream = %checker.config.settings.kinesis_stream_name,
        processor = %checker.config.processor_name,
        "init done"
    );
    let checker = &checker;
    lambda_runtime::run(service_fn(move |event| handler(checker, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, String> {
        [
            ("AWS_REGION", "us-east-1"),
            ("KINESIS_STREAM_NAME", "coredb-cdc-stream"),
            ("STATE_TABLE_NAME", "cdc-pipeline-state"),
            ("CHECKPOINT_TABLE_NAME", "cdc-pipeline-checkpoints"),
            (
                "DLQ_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/cdc-pipeline-dlq",
            ),
            ("ENABLE_DATA_REDACTION", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
    }

    #[test]
    fn needs_no_hmac_key_and_has_defaults() {
        let m = base();
        let c = HealthConfig::from_lookup(|k| m.get(k).cloned()).unwrap();
        assert_eq!(c.event_bus_name, "cdc-events");
        assert_eq!(c.processor_name, "cdc-processor");
        assert_eq!(c.dlq_depth_warn, 1);
        assert_eq!(c.dlq_depth_fail, Some(100));
        assert_eq!(c.checkpoint_age_warn, Duration::from_secs(3600));
        assert_eq!(c.checkpoint_age_fail, Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn invalid_thresholds_name_the_variable_not_the_value() {
        for (name, value) in [
            ("HEALTH_DLQ_DEPTH_WARN", "7777777"),
            ("HEALTH_DLQ_DEPTH_FAIL", "lots"),
            ("HEALTH_CHECKPOINT_AGE_WARN_SECONDS", "59"),
            ("HEALTH_CHECKPOINT_AGE_FAIL_SECONDS", "120"),
            ("HEALTH_CHECK_TIMEOUT_MS", "99999"),
            ("CDC_PROCESSOR_NAME", "bad name!"),
        ] {
            let mut m = base();
            m.insert(name, value.to_string());
            let err = HealthConfig::from_lookup(|k| m.get(k).cloned())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(name), "{err}");
            assert!(!err.contains(value), "{err}");
        }
        let mut m = base();
        m.insert("HEALTH_CHECKPOINT_AGE_FAIL_SECONDS", "0".to_string());
        let c = HealthConfig::from_lookup(|k| m.get(k).cloned()).unwrap();
        assert_eq!(c.checkpoint_age_fail, None);
    }

    fn check(name: &str, status: CheckStatus) -> CheckResult {
        CheckResult {
            name: name.into(),
            target: "t".into(),
            status,
            latency_ms: 3,
            message: String::new(),
            details: Map::new(),
        }
    }

    #[test]
    fn overall_status_and_metrics() {
        let ok = vec![check("eventBus", CheckStatus::Ok)];
        assert_eq!(HealthReport::status_of(&ok), HealthStatus::Healthy);
        let warn = vec![
            check("eventBus", CheckStatus::Ok),
            check("checkpointAge", CheckStatus::Warn),
        ];
        assert_eq!(HealthReport::status_of(&warn), HealthStatus::Degraded);
        let mut fail = warn.clone();
        fail.push(check("table", CheckStatus::Fail));
        fail.push(check("table", CheckStatus::Ok));
        let report = HealthReport {
            status: HealthReport::status_of(&fail),
            checked_at: Utc::now(),
            duration_ms: 9,
            checks: fail,
        };
        assert_eq!(report.status, HealthStatus::Unhealthy);
        let lines = report.emf_lines("CdcPipeline", "cdc-health-check");
        let totals: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(totals["HealthCheckFailed"], 1);
        assert_eq!(totals["FunctionName"], "cdc-health-check");
        // One line per kind of check: eventBus, checkpointAge, table.
        assert_eq!(lines.len(), 4);
        let table: Value = lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["Category"] == "table")
            .unwrap();
        assert_eq!(table["CheckFailed"], 1);
        assert_eq!(table["CheckLatency"], json!([3, 3]));
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(human_duration(Duration::from_secs(42)), "42s");
        assert_eq!(human_duration(Duration::from_secs(200)), "3m 20s");
        assert_eq!(human_duration(Duration::from_secs(3900)), "1h 05m");
        assert_eq!(human_duration(Duration::from_secs(90_000)), "1d 01h");
    }
}
