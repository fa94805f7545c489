//! The whole chain for a newcomer (`cargo xtask demo`, `examples/demo.rs`; `tests/demo.rs` runs
//! it once): PostgreSQL with the generated triggers → `cdc-relay`'s relay → moto Kinesis → the
//! processor's Lambda handler (records read with GetRecords) → moto EventBridge → rule → SQS →
//! consumer-sdk, printing what the consumer received.

use super::chain::{aws, drain, lambda_events, STREAM};
use anyhow::{Context, Result};
use aws_lambda_events::event::kinesis::KinesisEvent;
use cdc_capture::relay::Relay;
use cdc_processor::aws::lambda::handler;
use consumer_sdk::Event;
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use serde_json::Value;
use std::collections::HashSet;
use std::io::Write;
use testkit::{Moto, Postgres};

/// What the demo saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Row changes the workload committed.
    pub committed: u64,
    /// Events the consumer received.
    pub received: usize,
    /// Distinct event ids among them.
    pub distinct: usize,
    /// Records the processor dead-lettered.
    pub dead_letters: usize,
}

impl Summary {
    /// Every committed change arrived, once per event id, and nothing was dead-lettered.
    pub fn complete(&self) -> bool {
        self.distinct as u64 == self.committed && self.dead_letters == 0
    }
}

/// The workload: users inserted, renamed, one deleted; orders inserted and one refunded.
const WORKLOAD: &str = "
  INSERT INTO users SELECT (jsonb_populate_record(NULL::users, jsonb_set($1::text::jsonb, '{id}',
    to_jsonb(format('00000000-0000-4000-8000-%s', lpad(g::text, 12, '0')))))).*
    FROM generate_series(1, 4) g;
  UPDATE users SET name = 'Renamed ' || right(id::text, 1), updated_at = clock_timestamp()
    WHERE id::text LIKE '%1' OR id::text LIKE '%2';
  DELETE FROM users WHERE id::text LIKE '%4';
  INSERT INTO orders SELECT (jsonb_populate_record(NULL::orders, jsonb_set(jsonb_set($2::text::jsonb,
    '{id}', to_jsonb(format('00000000-0000-4000-9000-%s', lpad(g::text, 12, '0')))),
    '{user_id}', '\"00000000-0000-4000-8000-000000000001\"'))).*
    FROM generate_series(1, 2) g;
  UPDATE orders SET status = 'refunded', updated_at = clock_timestamp() WHERE id::text LIKE '%1';
";

/// Runs the demo, writing its story to `out`.
pub async fn run(out: &mut dyn Write) -> Result<Summary> {
    writeln!(out, "starting PostgreSQL and moto …")?;
    let pg = Postgres::start();
    let moto = Moto::start();
    let aws = aws(&moto).await?;
    let kinesis = aws_sdk_kinesis::Client::new(&aws.sdk);
    let (db, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .context("connect to PostgreSQL")?;
    tokio::spawn(connection);
    db.batch_execute(cdc_capture::TABLES_SQL).await?;
    db.batch_execute(cdc_capture::INSTALL_SQL).await?;
    writeln!(out, "installed the generated capture triggers on 75 tables")?;

    // One statement per line, each its own transaction (so the count of changes is simple).
    let example = |t: &str| -> Result<String> {
        Ok(std::fs::read_to_string(
            testkit::workspace_root().join(format!("model-schemas/examples/{t}.json")),
        )?)
    };
    let (users, orders) = (example("users")?, example("orders")?);
    let mut committed = 0;
    for statement in WORKLOAD.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            match (statement.contains("$1"), statement.contains("$2")) {
                (true, _) => vec![&users],
                (_, true) => vec![&orders],
                _ => vec![],
            };
        let statement = statement.replace("$2", "$1");
        committed += db.execute(statement.as_str(), &params).await?;
    }
    writeln!(out, "workload committed {committed} row changes")?;

    let relay = Relay::new(db, kinesis.clone(), STREAM, 500);
    relay.lock().await?;
    let mut sent = 0;
    loop {
        let round = relay.drain_once().await?;
        sent += round.acked;
        if round.read == 0 {
            break;
        }
    }
    writeln!(out, "relay sent {sent} records to Kinesis")?;

    for e in lambda_events(&kinesis, &aws.stream_arn).await? {
        let event: KinesisEvent = serde_json::from_value(e)?;
        let response = handler(
            &aws.state,
            LambdaEvent::new(event, LambdaContext::default()),
        )
        .await
        .map_err(|e| anyhow::anyhow!("handler error: {e}"))?;
        anyhow::ensure!(
            response.batch_item_failures.is_empty(),
            "the handler reported failures"
        );
    }
    let sqs = aws_sdk_sqs::Client::new(&aws.sdk);
    let bodies = drain(&sqs, &aws.routed).await?;
    let dead_letters = drain(&sqs, &aws.dlq).await?.len();
    writeln!(out, "\nthe consumer received (consumer-sdk, from SQS):")?;
    let mut ids = HashSet::new();
    for body in &bodies {
        let event = Event::from_sqs_body(body)?;
        ids.insert(event.dedupe_key().to_string());
        let detail: Value = serde_json::from_str::<Value>(body)?["detail"].clone();
        // The published image (after, or before for a DELETE): only the columns the table's
        // projection publishes, PII redacted.
        let image = match &detail["after"] {
            Value::Null => &detail["before"],
            after => after,
        };
        writeln!(
            out,
            "  {:<7} {:<7} committed {}  {}  redactions {}",
            event.change.table_name(),
            format!("{:?}", event.change.operation()).to_uppercase(),
            detail["timestamp"].as_str().unwrap_or(""),
            image,
            detail["redactions"],
        )?;
    }
    let summary = Summary {
        committed,
        received: bodies.len(),
        distinct: ids.len(),
        dead_letters,
    };
    writeln!(
        out,
        "\n{} of {} changes arrived ({} events, {} dead letters): {}",
        summary.distinct,
        summary.committed,
        summary.received,
        summary.dead_letters,
        if summary.complete() {
            "complete"
        } else {
            "INCOMPLETE"
        }
    )?;
    Ok(summary)
}
