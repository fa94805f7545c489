//! Realistic change records for the benchmark and the batch statistics example: the example row of
//! a table, varied per record, encoded as each source format encodes it.
#![allow(dead_code)]

use base64::Engine;
use cdc_models::{ColumnKind, Table};
use cdc_processor::decode::kinesis::{LenientKinesisData, LenientKinesisRecord};
use cdc_processor::decode::LenientKinesisEvent;
use cdc_processor::ports::{
    Advance, CheckpointKey, CheckpointStore, PreparedEntry, PublishOutcome, Publisher, StateError,
};
use cdc_processor::sequence::Position;
use serde_json::{json, Map, Value};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Source formats as benchmarked.
#[derive(Clone, Copy, Debug)]
pub enum Fmt {
    /// CoreDB trigger records (values already in schema types).
    Coredb,
    /// Debezium without the schema wrapper (ISO timestamps, decimal.handling.mode=string).
    DebeziumPlain,
    /// Debezium with the JsonConverter schema (epoch µs timestamps, binary decimals, JSON text).
    DebeziumSchema,
    /// DMS (space-separated timestamps, JSON as text).
    Dms,
}

impl Fmt {
    /// Every format.
    pub const ALL: [Fmt; 4] = [
        Fmt::Coredb,
        Fmt::DebeziumPlain,
        Fmt::DebeziumSchema,
        Fmt::Dms,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Fmt::Coredb => "coredb-trigger",
            Fmt::DebeziumPlain => "debezium",
            Fmt::DebeziumSchema => "debezium+schema",
            Fmt::Dms => "dms",
        }
    }
}

fn example(table: Table) -> Map<String, Value> {
    testkit::example_row(table.name())
}

/// The i-th variation of the example row: distinct keys.
fn row(table: Table, i: usize) -> Map<String, Value> {
    let mut row = example(table);
    for f in table.meta().fields.iter().filter(|f| f.key) {
        let v = match f.kind {
            ColumnKind::Uuid => json!(format!("00000000-0000-4000-8000-{:012}", i)),
            ColumnKind::Integer => json!(i as i64 + 1),
            _ => continue,
        };
        row.insert(f.name.to_string(), v);
    }
    row
}

fn micros(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

fn encode(table: Table, row: &Map<String, Value>, fmt: Fmt) -> Value {
    let mut out = Map::new();
    for f in table.meta().fields {
        let Some(v) = row.get(f.name) else { continue };
        let v = match (fmt, f.kind, v) {
            (_, _, Value::Null) => Value::Null,
            (Fmt::DebeziumSchema, ColumnKind::DateTime, Value::String(s)) => json!(micros(s)),
            (Fmt::DebeziumSchema, ColumnKind::Date, Value::String(s)) => {
                let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
                json!((d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days())
            }
            (Fmt::DebeziumSchema, ColumnKind::Decimal, Value::String(s)) => {
                let unscaled: i64 = s.replace('.', "").parse().unwrap();
                let bytes = unscaled.to_be_bytes();
                let first = bytes.iter().position(|b| *b != 0).unwrap_or(7).min(7);
                let mut b = bytes[first..].to_vec();
                if b[0] & 0x80 != 0 {
                    b.insert(0, 0);
                }
                json!(base64::engine::general_purpose::STANDARD.encode(b))
            }
            (Fmt::DebeziumSchema | Fmt::Dms, ColumnKind::Object, v) => json!(v.to_string()),
            (Fmt::Dms, ColumnKind::DateTime, Value::String(s)) => {
                let t = chrono::DateTime::parse_from_rfc3339(s).unwrap();
                json!(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
            }
            (_, _, v) => v.clone(),
        };
        out.insert(f.name.to_string(), v);
    }
    Value::Object(out)
}

fn schema(table: Table) -> Value {
    let fields: Vec<Value> = table
        .meta()
        .fields
        .iter()
        .map(|f| {
            let (t, name, params) = match f.kind {
                ColumnKind::DateTime => ("int64", Some("io.debezium.time.MicroTimestamp"), None),
                ColumnKind::Date => ("int32", Some("io.debezium.time.Date"), None),
                ColumnKind::Decimal => (
                    "bytes",
                    Some("org.apache.kafka.connect.data.Decimal"),
                    Some(json!({"scale": "2", "connect.decimal.precision": "15"})),
                ),
                ColumnKind::Object => ("string", Some("io.debezium.data.Json"), None),
                ColumnKind::Integer => ("int64", None, None),
                ColumnKind::Number => ("double", None, None),
                ColumnKind::Boolean => ("boolean", None, None),
                ColumnKind::Array => ("array", None, None),
                _ => ("string", None, None),
            };
            let mut v = json!({"type": t, "optional": f.nullable, "field": f.name});
            if let Some(n) = name {
                v["name"] = json!(n);
            }
            if let Some(p) = params {
                v["parameters"] = p;
            }
            v
        })
        .collect();
    json!({"type": "struct", "optional": false, "name": format!("coredb.public.{}.Envelope", table.name()),
    "fields": [
        {"type": "struct", "optional": true, "field": "before", "fields": fields},
        {"type": "struct", "optional": true, "field": "after", "fields": fields},
        {"type": "struct", "optional": false, "field": "source", "fields": []},
        {"type": "string", "optional": false, "field": "op"},
        {"type": "int64", "optional": true, "field": "ts_ms"}
    ]})
}

/// `n` change records of `table` in `fmt`: alternating INSERT and UPDATE (UPDATE with a partial
/// before image).
pub fn records(fmt: Fmt, table: Table, n: usize) -> Vec<Vec<u8>> {
    let schema = schema(table);
    (0..n)
        .map(|i| {
            let row = row(table, i);
            let after = encode(table, &row, fmt);
            let update = i % 2 == 1;
            let before = if update {
                let mut b = Map::new();
                for f in table.meta().fields.iter().filter(|f| f.key) {
                    b.insert(f.name.into(), after[f.name].clone());
                }
                Value::Object(b)
            } else {
                Value::Null
            };
            let v = match fmt {
                Fmt::Coredb => json!({"table": table.name(), "operation": if update { "UPDATE" } else { "INSERT" },
                    "timestamp": "2026-11-25T10:14:31.120Z", "transaction_id": 1000 + i,
                    "before": before, "after": after}),
                Fmt::DebeziumPlain | Fmt::DebeziumSchema => {
                    let payload = json!({"op": if update { "u" } else { "c" }, "before": before, "after": after,
                        "source": {"version": "3.0.0.Final", "connector": "postgresql", "name": "coredb",
                                   "ts_ms": 1795601671120_i64, "snapshot": "false", "db": "coredb",
                                   "schema": "public", "table": table.name(), "txId": 1000 + i,
                                   "lsn": 24023128 + i},
                        "ts_ms": 1795601671180_i64});
                    if matches!(fmt, Fmt::DebeziumSchema) {
                        json!({"schema": schema, "payload": payload})
                    } else {
                        payload
                    }
                }
                Fmt::Dms => {
                    let mut r = json!({"data": after, "metadata": {
                        "timestamp": "2026-11-25T10:14:31.375525Z", "record-type": "data",
                        "operation": if update { "update" } else { "insert" },
                        "partition-key-type": "schema-table", "schema-name": "public",
                        "table-name": table.name(), "commit-timestamp": "2026-11-25T10:14:31.366257Z",
                        "transaction-id": 1000 + i, "transaction-record-id": 1}});
                    if update {
                        r["before-image"] = before;
                    }
                    r
                }
            };
            let mut out = String::new();
            write_in_source_order(&v, table, &mut out);
            out.into_bytes()
        })
        .collect()
}

/// Writes `v` as JSON with each object's members in the order the sources write them (serde_json's
/// maps sort members by name): the CoreDB triggers `table, operation, timestamp, transaction_id,
/// before, after`; Debezium `before, after, source, op, ts_ms` (its `source` block and the
/// `{schema, payload}` wrapper in their order); DMS `data, before-image, metadata`; rows in the
/// table's column order, which its schema's `properties` list (`row_to_json`, Debezium and DMS
/// all write them so).
fn write_in_source_order(v: &Value, table: Table, out: &mut String) {
    const ORDERS: &[&[&str]] = &[
        &["schema", "payload"],
        &[
            "table",
            "operation",
            "timestamp",
            "transaction_id",
            "before",
            "after",
        ],
        &["before", "after", "source", "op", "ts_ms", "transaction"],
        &[
            "version",
            "connector",
            "name",
            "ts_ms",
            "snapshot",
            "db",
            "schema",
            "table",
            "txId",
            "lsn",
        ],
        &["data", "before-image", "metadata"],
        &[
            "timestamp",
            "record-type",
            "operation",
            "partition-key-type",
            "schema-name",
            "table-name",
            "commit-timestamp",
            "transaction-id",
            "transaction-record-id",
        ],
    ];
    match v {
        Value::Object(map) => {
            // The table's column order (its schema's `properties` order), not the metadata's,
            // which is sorted by name.
            let columns: Vec<&str> = table.meta().declared_names().collect();
            let order: Vec<&str> = ORDERS
                .iter()
                .find(|o| map.keys().all(|k| o.contains(&k.as_str())))
                .map(|o| o.to_vec())
                .filter(|_| !map.keys().all(|k| columns.contains(&k.as_str())) || map.is_empty())
                .unwrap_or_else(|| columns.clone());
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(usize::MAX));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                write_in_source_order(&map[k], table, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_in_source_order(item, table, out);
            }
            out.push(']');
        }
        v => out.push_str(&v.to_string()),
    }
}

/// A Lambda Kinesis event (base64 data, 56-digit sequence numbers) of these records.
pub fn event(records: &[Vec<u8>]) -> LenientKinesisEvent {
    let engine = base64::engine::general_purpose::STANDARD;
    LenientKinesisEvent {
        records: records
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let seq = format!("4959033827149025660855969253836157109592157598{:010}", i);
                LenientKinesisRecord {
                    event_source: Some("aws:kinesis".into()),
                    event_id: Some(format!("shardId-000000000000:{seq}")),
                    event_source_arn: Some(
                        "arn:aws:kinesis:eu-west-1:123456789012:stream/coredb-cdc".into(),
                    ),
                    kinesis: LenientKinesisData {
                        partition_key: format!("pk-{i}"),
                        sequence_number: seq,
                        data: engine.encode(d),
                        ..Default::default()
                    },
                    ..Default::default()
                }
            })
            .collect(),
    }
}

/// The baseline: base64 decode + `serde_json::Value` parse + serialize of every record.
pub fn baseline(event: &LenientKinesisEvent) -> usize {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut total = 0;
    for r in &event.records {
        let bytes = engine.decode(r.kinesis.data.as_bytes()).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        total += serde_json::to_string(&v).unwrap().len();
    }
    total
}

/// The pipeline the benchmark and the examples run: every table captured, the given redaction,
/// ports that do nothing.
pub fn pipeline(
    redaction: cdc_processor::config::Redaction,
) -> cdc_processor::Pipeline<
    NullPublisher,
    NullCheckpoints,
    cdc_processor::testing::MemoryDeadLetterSink,
> {
    let mut config = cdc_processor::config::PipelineConfig::new(redaction);
    config
        .set_table_allow_list(Table::ALL.iter().map(|t| t.name()))
        .expect("every table is known");
    cdc_processor::Pipeline::new(
        config,
        NullPublisher::default(),
        NullCheckpoints,
        cdc_processor::testing::MemoryDeadLetterSink::new(),
    )
}

/// Publishes nothing, accepts everything, counts requests and entries.
#[derive(Default)]
pub struct NullPublisher {
    /// PutEvents requests.
    pub requests: AtomicUsize,
    /// Entries.
    pub entries: AtomicUsize,
}

impl Publisher for NullPublisher {
    fn publish(
        &self,
        entries: &[PreparedEntry],
    ) -> impl Future<Output = Vec<PublishOutcome>> + Send {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.entries.fetch_add(entries.len(), Ordering::Relaxed);
        std::future::ready(vec![PublishOutcome::Published; entries.len()])
    }
}

/// Never skips anything (so the same batch can be processed again and again).
pub struct NullCheckpoints;

impl CheckpointStore for NullCheckpoints {
    fn load(
        &self,
        _: &CheckpointKey,
    ) -> impl Future<Output = Result<Option<Position>, StateError>> + Send {
        std::future::ready(Ok(None))
    }
    fn advance(
        &self,
        _: &CheckpointKey,
        _: &Position,
    ) -> impl Future<Output = Result<Advance, StateError>> + Send {
        std::future::ready(Ok(Advance::Moved))
    }
}
