//! The realistic workload the `load` and `latency` examples drive (included by both with
//! `#[path]`): CoreDB trigger, Debezium and DMS changes of users, orders, agents, calls and agent
//! states (narrow and wide rows), one bad record in 100 (dead-lettered).

use anyhow::{Context, Result};
use aws_lambda_events::event::kinesis::{KinesisEvent, KinesisEventRecord};
use serde_json::{json, Value};

pub fn example(table: &str) -> Value {
    Value::Object(testkit::example_row(table))
}

/// `n` records of one shard of the workload.
/// Sequence numbers start at `first`.
pub fn records(n: usize, first: usize, stream: &str) -> Vec<KinesisEventRecord> {
    let tables = ["users", "orders", "agents", "calls", "agent_states"];
    let rows: Vec<Value> = tables.iter().map(|t| example(t)).collect();
    (0..n)
        .map(|i| {
            let t = i % tables.len();
            let mut row = rows[t].clone();
            let key = cdc_models::Table::from_name(tables[t])
                .expect("known table")
                .meta()
                .primary_key[0];
            row[key] = json!(format!("00000000-0000-4000-8000-{:012}", i % 500));
            let ts = 1_764_057_600_000u64 + i as u64;
            let data = if i % 100 == 99 {
                b"{\"table\": \"users\", \"operation\":".to_vec()
            } else {
                match i % 3 {
                    0 => json!({"table": tables[t], "operation": "UPDATE",
                                "timestamp": "2026-11-25T08:00:00Z", "transaction_id": format!("txn-{i}"),
                                "before": null, "after": row}),
                    1 => json!({"before": null, "after": row, "op": "u", "ts_ms": ts,
                                "source": {"connector": "postgresql", "ts_ms": ts, "snapshot": "false",
                                           "table": tables[t], "txId": i}}),
                    _ => json!({"data": row, "metadata": {"timestamp": "2026-11-25T08:00:00Z",
                                "record-type": "data", "operation": "update",
                                "table-name": tables[t], "transaction-id": i}}),
                }
                .to_string()
                .into_bytes()
            };
            let seq = format!("4959033827149025660855969253836157109592157598{:010}", first + i);
            let mut r = KinesisEventRecord::default();
            r.event_id = Some(format!("shardId-000000000000:{seq}"));
            r.event_source_arn = Some(stream.to_string());
            r.event_source = Some("aws:kinesis".into());
            r.kinesis.sequence_number = seq;
            r.kinesis.partition_key = format!("pk-{}", i % 500);
            r.kinesis.data.0 = data;
            r
        })
        .collect()
}

/// The JSON Lambda sends for these records: numeric arrival timestamps (now), to the millisecond
/// as Lambda writes them (`aws_lambda_events` reads the fraction's digits as milliseconds: more
/// than three fail the whole event).
pub fn event_json(records: &[KinesisEventRecord]) -> Result<Vec<u8>> {
    let mut event = KinesisEvent::default();
    event.records = records.to_vec();
    let mut v = serde_json::to_value(&event)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as f64
        / 1000.0;
    for r in v["Records"].as_array_mut().context("Records")? {
        r["kinesis"]["approximateArrivalTimestamp"] = json!(now);
    }
    Ok(serde_json::to_vec(&v)?)
}
