//! What a health run found: each check's result, the overall status, and the EMF lines.

use crate::shared::emf_document;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

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
