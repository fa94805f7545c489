//! Metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout: Lambda ships stdout to
//! CloudWatch Logs, which extracts the metrics, so no `PutMetricData` call is made.
//!
//! One invocation writes one line with the totals (dimension `FunctionName`) and one line per
//! category (dimensions `FunctionName`, `Category`):
//!
//! | metric | unit | meaning |
//! |---|---|---|
//! | `RecordsIn` | Count | Kinesis records in the batch |
//! | `Published` | Count | events accepted by EventBridge |
//! | `Skipped` | Count | records acknowledged without an event (per category: why) |
//! | `DeadLettered` | Count | records sent to the DLQ (per category: the error code) |
//! | `Failed` | Count | records reported to Lambda for retry |
//! | `PutEventsCalls` | Count | `PutEvents` requests |
//! | `PutEventsRetries` | Count | `PutEvents` retries (whole call or failed entries) |
//! | `PutEventsLatency` | Milliseconds | latency of each `PutEvents` request (a value list) |
//! | `BatchAge` | Milliseconds | now minus the oldest record's `approximateArrivalTimestamp` |
//!
//! Lines carry counts, durations and category names only: never record contents.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `PutEvents` measurements, accumulated by the publisher and drained once per invocation.
#[derive(Debug, Default)]
pub struct PublishStats {
    inner: Mutex<PublishSnapshot>,
}

/// What [`PublishStats`] measured since the last [`PublishStats::take`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PublishSnapshot {
    /// `PutEvents` requests.
    pub calls: u64,
    /// Entries sent, retries included.
    pub entries_sent: u64,
    /// Retries (a retry resends only the entries that failed).
    pub retries: u64,
    /// Latency of each request, in milliseconds.
    pub latencies_ms: Vec<f64>,
}

impl PublishStats {
    /// Records one request.
    pub fn record_call(&self, latency: Duration, entries: usize) {
        let mut s = self.inner.lock().expect("stats lock");
        s.calls += 1;
        s.entries_sent += entries as u64;
        s.latencies_ms.push(latency.as_secs_f64() * 1000.0);
    }

    /// Records one retry.
    pub fn record_retry(&self) {
        self.inner.lock().expect("stats lock").retries += 1;
    }

    /// Returns the measurements so far and starts over.
    pub fn take(&self) -> PublishSnapshot {
        std::mem::take(&mut *self.inner.lock().expect("stats lock"))
    }
}

/// Where EMF lines go.
#[derive(Clone, Debug, Default)]
pub enum MetricsSink {
    /// Standard output (Lambda ships it to CloudWatch Logs).
    #[default]
    Stdout,
    /// Kept in memory (tests read them back).
    Memory(Arc<Mutex<Vec<String>>>),
}

impl MetricsSink {
    /// A sink that keeps the lines, and a handle to read them.
    pub fn memory() -> (MetricsSink, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        (MetricsSink::Memory(lines.clone()), lines)
    }

    /// Writes the lines.
    pub fn write(&self, lines: &[String]) {
        match self {
            MetricsSink::Stdout => {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                for l in lines {
                    // A metrics line that cannot be written must not fail the batch.
                    let _ = writeln!(out, "{l}");
                }
                let _ = out.flush();
            }
            MetricsSink::Memory(v) => v.lock().expect("metrics lock").extend_from_slice(lines),
        }
    }
}

/// One invocation's metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InvocationMetrics {
    /// Records in the batch.
    pub records_in: u64,
    /// Events published.
    pub published: u64,
    /// Records acknowledged without an event, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Records dead-lettered, by error code.
    pub dead_lettered: BTreeMap<String, u64>,
    /// Records reported for retry.
    pub failed: u64,
    /// Age of the oldest record, in milliseconds.
    pub batch_age_ms: Option<f64>,
    /// `PutEvents` measurements.
    pub publish: PublishSnapshot,
    /// The AIMD limit on `PutEvents` calls in flight ([`super::aimd`]) after the batch, when
    /// the publisher has one.
    pub publish_limit: Option<super::aimd::LimitSnapshot>,
}

impl InvocationMetrics {
    /// The EMF lines (JSON objects, one per line) at `timestamp_ms`.
    pub fn emf_lines(&self, namespace: &str, function: &str, timestamp_ms: i64) -> Vec<String> {
        let mut lines = Vec::new();
        let mut totals: Vec<(&str, &str, Value)> = vec![
            ("RecordsIn", "Count", json!(self.records_in)),
            ("Published", "Count", json!(self.published)),
            (
                "Skipped",
                "Count",
                json!(self.skipped.values().sum::<u64>()),
            ),
            (
                "DeadLettered",
                "Count",
                json!(self.dead_lettered.values().sum::<u64>()),
            ),
            ("Failed", "Count", json!(self.failed)),
            ("PutEventsCalls", "Count", json!(self.publish.calls)),
            ("PutEventsRetries", "Count", json!(self.publish.retries)),
        ];
        if !self.publish.latencies_ms.is_empty() {
            totals.push((
                "PutEventsLatency",
                "Milliseconds",
                json!(self.publish.latencies_ms),
            ));
        }
        if let Some(age) = self.batch_age_ms {
            totals.push(("BatchAge", "Milliseconds", json!(age)));
        }
        if let Some(limit) = self.publish_limit {
            // The limit now and the lowest it has been in this process (alarm on it staying
            // below PUBLISH_CONCURRENCY: PutEvents throttled or timing out).
            totals.push(("PublishConcurrencyLimit", "Count", json!(limit.limit)));
            totals.push(("PublishConcurrencyLowest", "Count", json!(limit.lowest)));
        }
        lines.push(emf_document(
            namespace,
            function,
            None,
            timestamp_ms,
            &totals,
        ));
        for (metric, by) in [
            ("Skipped", &self.skipped),
            ("DeadLettered", &self.dead_lettered),
        ] {
            for (category, n) in by {
                lines.push(emf_document(
                    namespace,
                    function,
                    Some(category),
                    timestamp_ms,
                    &[(metric, "Count", json!(n))],
                ));
            }
        }
        lines
    }
}

/// One EMF document (a JSON line): namespace, dimension `FunctionName` (plus `Category` when
/// given), and the metrics `(name, unit, value)`. The ops functions (`cdc-ops`) write their
/// lines with it too, so alarms on every function's metrics use the same dimensions.
pub fn emf_document(
    namespace: &str,
    function: &str,
    category: Option<&str>,
    timestamp_ms: i64,
    metrics: &[(&str, &str, Value)],
) -> String {
    let mut dims = vec!["FunctionName"];
    if category.is_some() {
        dims.push("Category");
    }
    let defs: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dims],
                "Metrics": defs,
            }]
        }),
    );
    root.insert("FunctionName".into(), json!(function));
    if let Some(c) = category {
        root.insert("Category".into(), json!(c));
    }
    for (name, _, value) in metrics {
        root.insert((*name).into(), value.clone());
    }
    Value::Object(root).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_documents_declare_every_value() {
        let m = InvocationMetrics {
            records_in: 5,
            published: 2,
            skipped: [("checkpoint".to_string(), 1)].into(),
            dead_lettered: [("PARSE_ERROR".to_string(), 2)].into(),
            failed: 0,
            batch_age_ms: Some(1500.0),
            publish: PublishSnapshot {
                calls: 2,
                entries_sent: 3,
                retries: 1,
                latencies_ms: vec![3.5, 4.0],
            },
            publish_limit: Some(super::super::aimd::LimitSnapshot {
                limit: 8,
                lowest: 4,
                decreases: 2,
            }),
        };
        let lines = m.emf_lines("CdcPipeline", "cdc-processor", 1_700_000_000_000);
        assert_eq!(lines.len(), 3);
        for l in &lines {
            let v: Value = serde_json::from_str(l).unwrap();
            let d = &v["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(d["Namespace"], "CdcPipeline");
            for def in d["Metrics"].as_array().unwrap() {
                let name = def["Name"].as_str().unwrap();
                assert!(!v[name].is_null(), "{name} has no value in {l}");
            }
            for dim in d["Dimensions"][0].as_array().unwrap() {
                assert!(v[dim.as_str().unwrap()].is_string());
            }
        }
        let totals: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(totals["RecordsIn"], 5);
        assert_eq!(totals["PutEventsRetries"], 1);
        assert_eq!(totals["PutEventsLatency"], json!([3.5, 4.0]));
        assert_eq!(totals["BatchAge"], 1500.0);
        assert_eq!(totals["PublishConcurrencyLimit"], 8);
        assert_eq!(totals["PublishConcurrencyLowest"], 4);
        let dl: Value = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!(dl["Category"], "PARSE_ERROR");
        assert_eq!(dl["DeadLettered"], 2);
    }
}
