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

use crate::shared::{emf_document, OpsVars};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{AttributeValue, KeyType, TableStatus};
use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_sqs::types::QueueAttributeName;
use cdc_processor::aws::config::{ConfigError, Settings, Variable};
use cdc_processor::aws::dynamodb::{checkpoint_id, decode_position};
use cdc_processor::aws::metrics::MetricsSink;
use cdc_processor::aws::{classify, http_client, CallError};
use cdc_processor::ports::CheckpointKey;
use chrono::{DateTime, SecondsFormat, Utc};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::future::Future;
use std::time::{Duration, Instant};

const fn var(
    name: &'static str,
    expected: &'static str,
    default: Option<&'static str>,
) -> Variable {
    Variable {
        name,
        expected,
        default,
        required: false,
    }
}

/// The health check's own variables (besides the shared ones of [`Settings`]: `AWS_REGION`,
/// `KINESIS_STREAM_NAME`, `KINESIS_PARALLELIZATION_FACTOR`, `STATE_TABLE_NAME`,
/// `CHECKPOINT_TABLE_NAME`, `DLQ_QUEUE_URL`, `AWS_LAMBDA_FUNCTION_NAME`, `METRICS_NAMESPACE`).
pub const VARIABLES: &[Variable] = &[
    var("EVENT_BUS_NAME", "the event bus name or ARN", Some("cdc-events")),
    var("CDC_PROCESSOR_NAME", "the cdc-processor function's name, its processor name in checkpoint keys (1-140 of `a-zA-Z0-9_.-`)", Some("cdc-processor")),
    var("HEALTH_DLQ_DEPTH_WARN", "an integer 1..=1000000: DLQ depth from which the check warns", Some("1")),
    var("HEALTH_DLQ_DEPTH_FAIL", "an integer 0..=1000000: DLQ depth from which the check fails (0: never)", Some("100")),
    var("HEALTH_CHECKPOINT_AGE_WARN_SECONDS", "an integer 60..=31536000: checkpoint age from which the check warns", Some("3600")),
    var("HEALTH_CHECKPOINT_AGE_FAIL_SECONDS", "an integer 0..=31536000: checkpoint age from which the check fails (0: never)", Some("86400")),
    var("HEALTH_CHECK_TIMEOUT_MS", "an integer 100..=25000: time limit of each check", Some("5000")),
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
        let v = OpsVars {
            lookup: &lookup,
            table: VARIABLES,
        };
        let event_bus_name = v.name("EVENT_BUS_NAME", 1..=1600)?;
        let processor_name = v.name("CDC_PROCESSOR_NAME", 1..=140)?;
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

/// The result of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Fine.
    Ok,
    /// Works, but needs a look (the overall status becomes `degraded`).
    Warn,
    /// Broken (the overall status becomes `unhealthy`).
    Fail,
}

impl CheckStatus {
    /// `ok`, `warn`, `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

/// The overall status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Every check is `ok`.
    Healthy,
    /// A check warns, none fails.
    Degraded,
    /// A check fails.
    Unhealthy,
}

impl HealthStatus {
    /// `healthy`, `degraded`, `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// Kind of check: `eventBus`, `stream`, `table`, `deadLetterQueue`, `checkpointAge`.
    pub name: String,
    /// What was checked (bus, stream, table or queue name, shard id).
    pub target: String,
    /// Result.
    pub status: CheckStatus,
    /// How long the check took (all of its calls), in milliseconds.
    pub latency_ms: u64,
    /// What was found, for a person (AWS error codes and messages, states, counts, ages).
    pub message: String,
    /// Measured values, for scripts (`depth`, `ageSeconds`, `streamStatus`, …).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
}

/// The result of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: HealthStatus,
    /// When the run started.
    pub checked_at: DateTime<Utc>,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
    /// Every check, in a fixed order.
    pub checks: Vec<CheckResult>,
}

impl HealthReport {
    /// The overall status of these checks.
    pub fn status_of(checks: &[CheckResult]) -> HealthStatus {
        match checks.iter().map(|c| c.status).max() {
            Some(CheckStatus::Fail) => HealthStatus::Unhealthy,
            Some(CheckStatus::Warn) => HealthStatus::Degraded,
            _ => HealthStatus::Healthy,
        }
    }

    /// The checks that did not pass.
    pub fn problems(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.status != CheckStatus::Ok)
    }

    /// The EMF lines of this run: one with the totals (dimension `FunctionName`) —
    /// `HealthCheckFailed` (0/1, on every run), `HealthCheckDegraded` (0/1), `ChecksFailed`,
    /// `ChecksWarned`, `HealthCheckDuration`, and when measured `DeadLetterQueueDepth` and
    /// `CheckpointAgeMax` (seconds) — and one per kind of check (dimensions `FunctionName`,
    /// `Category` = the check's name) with `CheckLatency` and `CheckFailed`.
    pub fn emf_lines(&self, namespace: &str, function: &str) -> Vec<String> {
        let ts = self.checked_at.timestamp_millis();
        let failed = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .count();
        let warned = self
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Warn)
            .count();
        let mut totals: Vec<(&str, &str, Value)> = vec![
            (
                "HealthCheckFailed",
                "Count",
                json!(u8::from(self.status == HealthStatus::Unhealthy)),
            ),
            (
                "HealthCheckDegraded",
                "Count",
                json!(u8::from(self.status == HealthStatus::Degraded)),
            ),
            ("ChecksFailed", "Count", json!(failed)),
            ("ChecksWarned", "Count", json!(warned)),
            (
                "HealthCheckDuration",
                "Milliseconds",
                json!(self.duration_ms),
            ),
        ];
        if let Some(depth) = self
            .checks
            .iter()
            .filter(|c| c.name == "deadLetterQueue")
            .find_map(|c| c.details.get("depth").and_then(Value::as_u64))
        {
            totals.push(("DeadLetterQueueDepth", "Count", json!(depth)));
        }
        if let Some(age) = self
            .checks
            .iter()
            .filter(|c| c.name == "checkpointAge")
            .filter_map(|c| c.details.get("ageSeconds").and_then(Value::as_u64))
            .max()
        {
            totals.push(("CheckpointAgeMax", "Seconds", json!(age)));
        }
        let mut lines = vec![emf_document(namespace, function, None, ts, &totals)];
        let mut kinds: Vec<&str> = self.checks.iter().map(|c| c.name.as_str()).collect();
        kinds.dedup();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            let of_kind: Vec<&CheckResult> =
                self.checks.iter().filter(|c| c.name == kind).collect();
            let latencies: Vec<u64> = of_kind.iter().map(|c| c.latency_ms).collect();
            let failed = of_kind.iter().any(|c| c.status == CheckStatus::Fail);
            lines.push(emf_document(
                namespace,
                function,
                Some(kind),
                ts,
                &[
                    ("CheckLatency", "Milliseconds", json!(latencies)),
                    ("CheckFailed", "Count", json!(u8::from(failed))),
                ],
            ));
        }
        lines
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
fn call_failed(what: &str, e: &CallError) -> String {
    format!("{what} failed: {}: {}", e.code, e.message)
}

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

    async fn check_bus(&self) -> (CheckStatus, String, Map<String, Value>) {
        match self
            .clients
            .eventbridge
            .describe_event_bus()
            .name(&self.config.event_bus_name)
            .send()
            .await
        {
            Ok(out) => {
                let mut d = Map::new();
                if let Some(arn) = out.arn() {
                    d.insert("arn".into(), json!(arn));
                }
                (CheckStatus::Ok, "the bus exists".into(), d)
            }
            Err(e) => (
                CheckStatus::Fail,
                call_failed("DescribeEventBus", &classify(&e)),
                Map::new(),
            ),
        }
    }

    /// The stream check, then (with the stream's ARN) the checkpoint age of each open shard.
    async fn stream_and_checkpoints(&self) -> (CheckResult, Vec<CheckResult>) {
        let stream_name = &self.config.settings.kinesis_stream_name;
        let mut arn = None;
        let stream = self
            .timed("stream", stream_name, async {
                match self
                    .clients
                    .kinesis
                    .describe_stream_summary()
                    .stream_name(stream_name)
                    .send()
                    .await
                {
                    Ok(out) => match out.stream_description_summary() {
                        Some(sum) => {
                            arn = Some(sum.stream_arn().to_string());
                            let status = sum.stream_status();
                            let mut d = Map::new();
                            d.insert("streamStatus".into(), json!(status.as_str()));
                            d.insert("openShardCount".into(), json!(sum.open_shard_count()));
                            d.insert(
                                "retentionPeriodHours".into(),
                                json!(sum.retention_period_hours()),
                            );
                            if let Some(mode) = sum.stream_mode_details() {
                                d.insert("streamMode".into(), json!(mode.stream_mode().as_str()));
                            }
                            let check = match status {
                                StreamStatus::Active => CheckStatus::Ok,
                                StreamStatus::Updating => CheckStatus::Warn,
                                _ => CheckStatus::Fail,
                            };
                            (
                                check,
                                format!(
                                    "{}, {} open shard(s)",
                                    status.as_str(),
                                    sum.open_shard_count()
                                ),
                                d,
                            )
                        }
                        None => (
                            CheckStatus::Fail,
                            "DescribeStreamSummary returned no summary".into(),
                            Map::new(),
                        ),
                    },
                    Err(e) => (
                        CheckStatus::Fail,
                        call_failed("DescribeStreamSummary", &classify(&e)),
                        Map::new(),
                    ),
                }
            })
            .await;
        let checkpoints = match arn {
            _ if self.config.settings.kinesis_parallelization_factor > 1 => vec![CheckResult {
                name: "checkpointAge".into(),
                target: stream_name.clone(),
                status: CheckStatus::Ok,
                latency_ms: 0,
                message: "not checked: the processor keeps no checkpoints with KINESIS_PARALLELIZATION_FACTOR above 1".into(),
                details: Map::new(),
            }],
            Some(arn) => self.check_checkpoints(&arn).await,
            None => vec![CheckResult {
                name: "checkpointAge".into(),
                target: stream_name.clone(),
                status: CheckStatus::Warn,
                latency_ms: 0,
                message: "not checked: the stream could not be described".into(),
                details: Map::new(),
            }],
        };
        (stream, checkpoints)
    }

    /// The open shards (paginated `ListShards`), then one `GetItem` per shard.
    async fn check_checkpoints(&self, stream_arn: &str) -> Vec<CheckResult> {
        let stream_name = &self.config.settings.kinesis_stream_name;
        let started = Instant::now();
        let listed = tokio::time::timeout(self.config.check_timeout, async {
            let mut shards = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let req = self.clients.kinesis.list_shards();
                let req = match &token {
                    Some(t) => req.next_token(t),
                    None => req.stream_name(stream_name),
                };
                let out = req.send().await.map_err(|e| classify(&e))?;
                for s in out.shards() {
                    let open = s
                        .sequence_number_range()
                        .is_none_or(|r| r.ending_sequence_number().is_none());
                    if open {
                        shards.push(s.shard_id().to_string());
                    }
                }
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
            Ok::<Vec<String>, CallError>(shards)
        })
        .await;
        let shards = match listed {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return vec![CheckResult {
                    name: "checkpointAge".into(),
                    target: stream_name.clone(),
                    status: CheckStatus::Fail,
                    latency_ms: started.elapsed().as_millis() as u64,
                    message: call_failed("ListShards", &e),
                    details: Map::new(),
                }]
            }
            Err(_) => {
                return vec![CheckResult {
                    name: "checkpointAge".into(),
                    target: stream_name.clone(),
                    status: CheckStatus::Fail,
                    latency_ms: started.elapsed().as_millis() as u64,
                    message: format!(
                        "ListShards timed out after {} ms",
                        self.config.check_timeout.as_millis()
                    ),
                    details: Map::new(),
                }]
            }
        };
        let mut out = Vec::with_capacity(shards.len());
        for shard in shards {
            let r = self
                .timed(
                    "checkpointAge",
                    &shard,
                    self.check_checkpoint(stream_arn, &shard),
                )
                .await;
            out.push(r);
        }
        out
    }

    /// One shard's checkpoint: the item keyed by the stream ARN (what Lambda records carry), or
    /// else by the stream name (records without an `eventSourceARN`).
    async fn check_checkpoint(
        &self,
        stream_arn: &str,
        shard: &str,
    ) -> (CheckStatus, String, Map<String, Value>) {
        let table = &self.config.settings.checkpoint_table_name;
        let mut item = None;
        for stream in [
            stream_arn,
            self.config.settings.kinesis_stream_name.as_str(),
        ] {
            let key = CheckpointKey {
                processor: self.config.processor_name.clone(),
                stream: stream.to_string(),
                shard: shard.to_string(),
            };
            match self
                .clients
                .dynamodb
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(checkpoint_id(&key)))
                .send()
                .await
            {
                Ok(out) => {
                    if let Some(i) = out.item() {
                        item = Some(i.clone());
                        break;
                    }
                }
                Err(e) => {
                    return (
                        CheckStatus::Fail,
                        call_failed("GetItem (checkpoint)", &classify(&e)),
                        Map::new(),
                    )
                }
            }
        }
        let Some(item) = item else {
            return (
                CheckStatus::Warn,
                format!(
                    "no checkpoint of processor `{}` for this shard: it has not finished a batch here (a new or idle shard) or its checkpoint expired",
                    self.config.processor_name
                ),
                Map::new(),
            );
        };
        let mut d = Map::new();
        if let Some(p) = item.get("position").and_then(|v| v.as_s().ok()) {
            if let Some(p) = decode_position(p) {
                d.insert("sequenceNumber".into(), json!(p.sequence.as_str()));
            }
        }
        let updated = item
            .get("updatedAt")
            .and_then(|v| v.as_s().ok())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        let Some(updated) = updated else {
            return (
                CheckStatus::Warn,
                "the checkpoint has no readable updatedAt".into(),
                d,
            );
        };
        let age = (Utc::now() - updated).to_std().unwrap_or(Duration::ZERO);
        d.insert(
            "updatedAt".into(),
            json!(updated.to_rfc3339_opts(SecondsFormat::Secs, true)),
        );
        d.insert("ageSeconds".into(), json!(age.as_secs()));
        let status = if self.config.checkpoint_age_fail.is_some_and(|f| age >= f) {
            CheckStatus::Fail
        } else if age >= self.config.checkpoint_age_warn {
            CheckStatus::Warn
        } else {
            CheckStatus::Ok
        };
        (
            status,
            format!("last advanced {} ago", human_duration(age)),
            d,
        )
    }

    async fn check_table(
        &self,
        table: &str,
        expected_key: &str,
    ) -> (CheckStatus, String, Map<String, Value>) {
        match self
            .clients
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
        {
            Ok(out) => {
                let Some(t) = out.table() else {
                    return (
                        CheckStatus::Fail,
                        "DescribeTable returned no table".into(),
                        Map::new(),
                    );
                };
                let status = t.table_status().cloned();
                let mut d = Map::new();
                if let Some(s) = &status {
                    d.insert("tableStatus".into(), json!(s.as_str()));
                }
                let hash = t
                    .key_schema()
                    .iter()
                    .find(|k| k.key_type() == &KeyType::Hash)
                    .map(|k| k.attribute_name().to_string());
                if hash.as_deref() != Some(expected_key) {
                    return (
                        CheckStatus::Fail,
                        format!(
                            "partition key is {}, expected `{expected_key}`",
                            hash.map_or("missing".into(), |h| format!("`{h}`"))
                        ),
                        d,
                    );
                }
                match status {
                    Some(TableStatus::Active) | None => (CheckStatus::Ok, "ACTIVE".into(), d),
                    Some(
                        TableStatus::Deleting
                        | TableStatus::InaccessibleEncryptionCredentials
                        | TableStatus::Archiving
                        | TableStatus::Archived,
                    ) => (
                        CheckStatus::Fail,
                        status.map(|s| s.as_str().to_string()).unwrap_or_default(),
                        d,
                    ),
                    Some(other) => (CheckStatus::Warn, other.as_str().to_string(), d),
                }
            }
            Err(e) => (
                CheckStatus::Fail,
                call_failed("DescribeTable", &classify(&e)),
                Map::new(),
            ),
        }
    }

    async fn check_dlq(&self) -> (CheckStatus, String, Map<String, Value>) {
        let out = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(&self.config.settings.dlq_queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await;
        match out {
            Ok(out) => {
                let get = |n: &QueueAttributeName| {
                    out.attributes()
                        .and_then(|a| a.get(n))
                        .and_then(|v| v.parse::<u64>().ok())
                };
                let Some(depth) = get(&QueueAttributeName::ApproximateNumberOfMessages) else {
                    return (
                        CheckStatus::Fail,
                        "GetQueueAttributes returned no ApproximateNumberOfMessages".into(),
                        Map::new(),
                    );
                };
                let mut d = Map::new();
                d.insert("depth".into(), json!(depth));
                if let Some(n) = get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible) {
                    d.insert("inFlight".into(), json!(n));
                }
                let status = if self.config.dlq_depth_fail.is_some_and(|f| depth >= f) {
                    CheckStatus::Fail
                } else if depth >= self.config.dlq_depth_warn {
                    CheckStatus::Warn
                } else {
                    CheckStatus::Ok
                };
                let message = if depth == 0 {
                    "empty".to_string()
                } else {
                    format!("{depth} dead letter(s) waiting: their changes are not published")
                };
                (status, message, d)
            }
            Err(e) => (
                CheckStatus::Fail,
                call_failed("GetQueueAttributes", &classify(&e)),
                Map::new(),
            ),
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
