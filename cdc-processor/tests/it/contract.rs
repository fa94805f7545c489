//! Contract test between the producer and its consumers: every event the processor publishes —
//! every table, the three input formats, every operation, redaction on and off — parses with
//! `consumer-sdk` into the variant of its table, with values equal to what was published, and
//! validates against the table's generated Draft 4 event schema (what non-Rust consumers use).

use cdc_models::{Operation, Table};
use cdc_processor::config::{PipelineConfig, Redaction};
use cdc_processor::decode::raw::RawInput;
use cdc_processor::pipeline::Pipeline;
use cdc_processor::testing::{MemoryCheckpointStore, MemoryDeadLetterSink, MemoryPublisher};
use consumer_sdk::Change;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn example(table: Table) -> Value {
    let path = format!(
        "{}/../model-schemas/examples/{}.json",
        env!("CARGO_MANIFEST_DIR"),
        table.name()
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const TS: &str = "2026-11-25T10:30:00Z";
const TS_MS: i64 = 1_764_066_600_000;

/// One raw record per (format, operation) for a table, with the operation expected.
fn records(table: Table) -> Vec<(Value, Operation)> {
    let row = example(table);
    let name = table.name();
    let mut out = Vec::new();
    for (op, before, after) in [
        ("INSERT", Value::Null, row.clone()),
        ("UPDATE", row.clone(), row.clone()),
        ("DELETE", row.clone(), Value::Null),
        ("SNAPSHOT", Value::Null, row.clone()),
        ("TRUNCATE", Value::Null, Value::Null),
    ] {
        out.push((
            json!({"table": name, "operation": op, "timestamp": TS, "transaction_id": "txn-1",
                   "before": before, "after": after}),
            op.parse().unwrap(),
        ));
    }
    for (op, before, after, expected) in [
        ("c", Value::Null, row.clone(), Operation::Insert),
        ("u", row.clone(), row.clone(), Operation::Update),
        ("d", row.clone(), Value::Null, Operation::Delete),
        ("r", Value::Null, row.clone(), Operation::Snapshot),
        ("t", Value::Null, Value::Null, Operation::Truncate),
    ] {
        out.push((
            json!({"op": op, "ts_ms": TS_MS, "before": before, "after": after,
                   "source": {"connector": "postgresql", "table": name, "schema": "public",
                              "snapshot": if op == "r" { "true" } else { "false" },
                              "ts_ms": TS_MS, "txId": 556}}),
            expected,
        ));
    }
    // A DMS delete as DMS writes it without full supplemental logging: the key and a null
    // placeholder for every other column (issue 22, 2: the event schema allows them in `before`).
    let placeholders: serde_json::Map<String, Value> = row
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let key = table.meta().primary_key.contains(&k.as_str());
            (k.clone(), if key { v.clone() } else { Value::Null })
        })
        .collect();
    out.push((
        json!({"data": placeholders, "metadata": {"record-type": "data", "operation": "delete",
               "partition-key-type": "schema-table", "schema-name": "public",
               "table-name": name, "timestamp": TS, "commit-timestamp": TS,
               "transaction-id": 1145}}),
        Operation::Delete,
    ));
    for (op, expected) in [
        ("insert", Operation::Insert),
        ("update", Operation::Update),
        ("delete", Operation::Delete),
        ("load", Operation::Snapshot),
    ] {
        out.push((
            json!({"data": row, "metadata": {"record-type": "data", "operation": op,
                   "partition-key-type": "schema-table", "schema-name": "public",
                   "table-name": name, "timestamp": TS, "commit-timestamp": TS,
                   "transaction-id": 1144}}),
            expected,
        ));
    }
    out
}

async fn run(redaction: Redaction) -> (usize, usize) {
    let mut lines = String::new();
    let mut expected = Vec::new();
    for table in Table::ALL {
        for (record, op) in records(*table) {
            lines.push_str(&record.to_string());
            lines.push('\n');
            expected.push((*table, op));
        }
    }
    let inputs = RawInput::from_json_lines("contract", lines.as_bytes());
    assert_eq!(inputs.len(), expected.len());
    let mut config = PipelineConfig::new(redaction);
    config
        .set_table_allow_list(Table::ALL.iter().map(|t| t.name()))
        .expect("every table is known");
    let pipeline = Pipeline::new(
        config,
        MemoryPublisher::new(),
        MemoryCheckpointStore::new(),
        MemoryDeadLetterSink::new(),
    );
    let report = pipeline.process_raw_records(inputs, "contract").await;
    let letters: Vec<String> = pipeline
        .dead_letters()
        .letters()
        .iter()
        .map(|l| format!("{}: {}", l.error.code, l.error.message))
        .collect();
    assert!(letters.is_empty(), "dead letters: {letters:#?}");
    assert!(report.batch_item_failures.is_empty());

    let published = pipeline.publisher().published();
    assert_eq!(
        published.len(),
        expected.len(),
        "every record publishes one event"
    );
    let mut per_table: BTreeMap<&str, usize> = BTreeMap::new();
    let mut redacted_columns = 0;
    let event_schemas: BTreeMap<&str, jsonschema::Validator> = Table::ALL
        .iter()
        .map(|t| {
            let path = format!(
                "{}/../cdc-models/src/generated/event-schemas/{}.json",
                env!("CARGO_MANIFEST_DIR"),
                t.name()
            );
            let schema: Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            (
                t.name(),
                jsonschema::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .unwrap(),
            )
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for entry in &published {
        let detail: Value = serde_json::from_str(&entry.detail).unwrap();
        let schema = &event_schemas[detail["table"].as_str().unwrap()];
        let errors: Vec<String> = schema
            .iter_errors(&detail)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "detail violates its Draft 4 event schema: {errors:#?}"
        );
        // Raw records get their line number (from 1) as sequence number.
        let line: usize = detail["metadata"]["sequenceNumber"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(seen.insert(line), "one event per record");
        let (table, op) = &expected[line - 1];
        let change = Change::from_detail_json(&entry.detail)
            .unwrap_or_else(|e| panic!("{table} {op}: consumer cannot parse the event: {e}"));
        assert_eq!(change.table(), Some(*table), "right variant");
        assert_eq!(change.operation(), *op);
        assert_eq!(change.info().event_id, &*entry.event_id);
        assert_eq!(change.info().table, table.name());
        assert_eq!(
            change.info().event_type,
            detail["eventType"].as_str().unwrap()
        );
        assert_eq!(
            change.before_json().unwrap_or(Value::Null),
            detail["before"],
            "{table} {op} before"
        );
        assert_eq!(
            change.after_json().unwrap_or(Value::Null),
            detail["after"],
            "{table} {op} after"
        );
        if *op != Operation::Truncate {
            assert_eq!(change.keys_json(), detail["keys"], "{table} {op} keys");
        }
        redacted_columns += detail["redactions"].as_object().map_or(0, |m| m.len());
        *per_table.entry(table.name()).or_default() += 1;
    }
    assert_eq!(per_table.len(), Table::ALL.len());
    (published.len(), redacted_columns)
}

#[tokio::test(flavor = "current_thread")]
async fn every_event_parses_with_the_consumer_sdk_redaction_on() {
    let key = b"contract-test-key-0123456789abcdef".to_vec();
    let (events, redacted) = run(Redaction::with_key(key).unwrap()).await;
    assert_eq!(events, Table::ALL.len() * 15);
    assert!(redacted > 0, "redaction on must redact something");
}

#[tokio::test(flavor = "current_thread")]
async fn every_event_parses_with_the_consumer_sdk_redaction_off() {
    let (events, redacted) = run(Redaction::Disabled).await;
    assert_eq!(events, Table::ALL.len() * 15);
    assert_eq!(redacted, 0);
}
