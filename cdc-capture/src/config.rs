//! `cdc-relay` configuration (flags or environment variables, validated at start) and its EMF
//! metrics line.

use clap::Parser;
use std::time::Duration;

/// Relays the CoreDB capture outbox (`cdc.outbox`) to a Kinesis stream.
#[derive(Debug, Clone, Parser)]
#[command(name = "cdc-relay", version)]
pub struct Config {
    /// What to do (default: relay until SIGTERM/SIGINT).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// PostgreSQL connection string (`host=… user=… dbname=…` or a `postgresql://` URL).
    #[arg(long, env = "CDC_RELAY_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Kinesis stream name.
    #[arg(long, env = "CDC_RELAY_STREAM")]
    pub stream: String,
    /// Pause between rounds when the outbox is empty, in milliseconds (10–50).
    #[arg(long, env = "CDC_RELAY_POLL_INTERVAL_MS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(10..=50))]
    pub poll_interval_ms: u64,
    /// Rows read from the outbox per round (1–100000).
    #[arg(long, env = "CDC_RELAY_BATCH", default_value_t = 2000,
          value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub batch: i64,
    /// `PutRecords` calls in flight at once (1–16); a key's rows are never in two of them.
    #[arg(long, env = "CDC_RELAY_IN_FLIGHT", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=16))]
    pub in_flight: u64,
    /// Relay only hash bucket `i/n` of the partition keys (one relay per bucket, all with the same
    /// `n`; default: the whole outbox).
    #[arg(long, env = "CDC_RELAY_BUCKET")]
    pub bucket: Option<crate::relay::Bucket>,
    /// Seconds between metrics lines (1–3600).
    #[arg(long, env = "CDC_RELAY_METRICS_INTERVAL_S", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub metrics_interval_s: u64,
}

/// A one-off command instead of relaying.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Writes SNAPSHOT records of every row of a table into the outbox (a backfill for new
    /// consumers: the relay sends them in order with the live changes), then exits.
    Snapshot {
        /// The table (a captured table of `model-schemas/`).
        #[arg(long)]
        table: String,
    },
}

impl Config {
    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
}

/// Counters since the last metrics line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Metrics {
    /// Rows waiting in the outbox.
    pub outbox_depth: i64,
    /// Age of the oldest waiting row, seconds.
    pub oldest_row_age_seconds: f64,
    /// Records Kinesis acknowledged.
    pub records_sent: u64,
    /// Records Kinesis rejected (sent again later).
    pub retries: u64,
}

impl Metrics {
    /// One CloudWatch Embedded Metric Format line (namespace `CDC/Relay`, dimension `Stream`).
    pub fn emf_line(&self, stream: &str, timestamp_ms: u64) -> String {
        serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": "CDC/Relay",
                    "Dimensions": [["Stream"]],
                    "Metrics": [
                        {"Name": "OutboxDepth", "Unit": "Count"},
                        {"Name": "OldestRowAge", "Unit": "Seconds"},
                        {"Name": "RecordsSent", "Unit": "Count"},
                        {"Name": "Retries", "Unit": "Count"}
                    ]
                }]
            },
            "Stream": stream,
            "OutboxDepth": self.outbox_depth,
            "OldestRowAge": self.oldest_row_age_seconds,
            "RecordsSent": self.records_sent,
            "Retries": self.retries,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(
            [
                "cdc-relay",
                "--database-url",
                "host=127.0.0.1",
                "--stream",
                "s",
            ]
            .iter()
            .chain(args),
        )
    }

    #[test]
    fn defaults_and_bounds() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.poll_interval(), Duration::from_millis(20));
        assert_eq!(c.batch, 2000);
        assert_eq!(c.in_flight, 4);
        assert_eq!(c.bucket, None);
        assert!(parse(&["--in-flight", "17"]).is_err());
        assert!(parse(&["--bucket", "4/4"]).is_err());
        let c = parse(&["--bucket", "1/4"]).unwrap();
        assert_eq!(c.bucket.map(|b| b.to_string()).as_deref(), Some("1/4"));
        assert!(parse(&["--poll-interval-ms", "5"]).is_err());
        assert!(parse(&["--poll-interval-ms", "51"]).is_err());
        assert!(parse(&["--batch", "0"]).is_err());
        assert!(Config::try_parse_from(["cdc-relay", "--stream", "s"]).is_err());
        let c = parse(&["snapshot", "--table", "users"]).unwrap();
        assert!(matches!(c.command, Some(Command::Snapshot { ref table }) if table == "users"));
    }

    #[test]
    fn emf_line_names_every_metric() {
        let m = Metrics {
            outbox_depth: 7,
            oldest_row_age_seconds: 1.5,
            records_sent: 500,
            retries: 2,
        };
        let v: serde_json::Value = serde_json::from_str(&m.emf_line("s", 1)).unwrap();
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for n in &names {
            assert!(!v[n].is_null(), "{n} has a value");
        }
        assert_eq!(v["OutboxDepth"], 7);
        assert_eq!(v["Retries"], 2);
    }
}
