//! Builds `CDC.TableChange` events by hand, following docs/cdc-event.md, from the example rows in
//! model-schemas/examples, with projection and redaction applied through cdc-models (as the
//! processor does).

#![allow(dead_code)]

use cdc_models::{AnyImage, Operation, Redactions, Redactor, Table};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub fn example(table: Table) -> Value {
    // The repository root: above consumer-sdk/ (this binary) or consumer-sdk/it/ (the moto tests).
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("model-schemas/examples").is_dir())
        .expect("model-schemas/ above the package")
        .to_path_buf();
    let path = root
        .join("model-schemas/examples")
        .join(format!("{}.json", table.name()));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("every table has {}: {e}", path.display()));
    serde_json::from_str(&text).expect("example is JSON")
}

pub fn redactor() -> Redactor {
    Redactor::new(b"consumer-sdk-test-key-0123456789".to_vec()).unwrap()
}

/// A deterministic 32-hex-digit event id.
pub fn event_id(n: u64) -> String {
    format!(
        "{:032x}",
        0x9f2c_4e0b_0000_0000_u64 as u128 * 1_000_003 + n as u128
    )
}

/// One image as the processor publishes it: projected with the table's default projection, then
/// redacted when `redact` is on. Returns the typed image and what redaction applied.
pub fn published_image(table: Table, row: &Value, redact: bool) -> (AnyImage, Redactions) {
    let mut image = AnyImage::deserialize(table, row).expect("example row fits the image type");
    image
        .as_dyn_mut()
        .project(&table.meta().default_projection());
    let mut applied = Redactions::default();
    if redact {
        image.as_dyn_mut().redact(&redactor(), &mut applied);
    }
    (image, applied)
}

/// The key-only image (a Debezium `before` under REPLICA IDENTITY DEFAULT).
pub fn key_only(table: Table, row: &Value) -> Value {
    let meta = table.meta();
    let mut m = Map::new();
    for k in meta.primary_key {
        m.insert(k.to_string(), row[*k].clone());
    }
    Value::Object(m)
}

/// A built event and what a consumer must read back from it.
pub struct Built {
    pub table: Table,
    pub operation: Operation,
    pub before: Option<AnyImage>,
    pub after: Option<AnyImage>,
    pub keys: Value,
    pub redactions: BTreeMap<String, String>,
    pub detail: Value,
}

/// Options of [`build`].
#[derive(Clone)]
pub struct Opts {
    pub redact: bool,
    pub before_partial: bool,
    pub source_format: &'static str,
    pub id: u64,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            redact: true,
            before_partial: false,
            source_format: "debezium",
            id: 1,
        }
    }
}

/// Builds the detail of one change of `table` from full rows `before_row` / `after_row`.
pub fn build(
    table: Table,
    operation: Operation,
    before_row: Option<&Value>,
    after_row: Option<&Value>,
    opts: &Opts,
) -> Built {
    let mut redactions = BTreeMap::new();
    let mut side = |row: Option<&Value>, partial: bool| {
        row.map(|r| {
            let src = if partial {
                key_only(table, r)
            } else {
                r.clone()
            };
            let (image, applied) = published_image(table, &src, opts.redact);
            for (column, policy) in applied.iter() {
                redactions.insert(column.to_string(), policy.as_str().to_string());
            }
            image
        })
    };
    let before = side(before_row, opts.before_partial);
    let after = side(after_row, false);
    let keys = match operation {
        Operation::Truncate => json!({}),
        _ => after
            .as_ref()
            .or(before.as_ref())
            .and_then(|i| i.as_dyn().key_json())
            .expect("images hold their key"),
    };
    let completeness = |img: &Option<AnyImage>, partial: bool| match img {
        None => Value::Null,
        Some(_) if partial => json!("partial"),
        Some(_) => json!("full"),
    };
    let ts = after_row
        .or(before_row)
        .and_then(|r| r.get("updated_at"))
        .and_then(Value::as_str)
        .unwrap_or("2026-11-25T10:38:52Z")
        .to_string();
    let detail = json!({
        "version": "1.0",
        "schemaVersion": table.meta().schema_version,
        "eventId": event_id(opts.id),
        "eventType": table.meta().event_type,
        "table": table.name(),
        "operation": operation.as_str(),
        "timestamp": ts,
        "before": before.as_ref().map(|i| i.as_dyn().to_json_value()),
        "after": after.as_ref().map(|i| i.as_dyn().to_json_value()),
        "beforeImage": completeness(&before, opts.before_partial),
        "afterImage": completeness(&after, false),
        "keys": keys,
        "redactions": redactions,
        "metadata": {
            "transactionId": "txn-884213",
            "sequenceNumber": format!("4959033827149025660855969253836157109592157598913658{:04}", opts.id),
            "subSequenceNumber": null,
            "shardId": "shardId-000000000006",
            "sourceFormat": opts.source_format,
            "snapshot": operation == Operation::Snapshot,
        }
    });
    Built {
        table,
        operation,
        before,
        after,
        keys,
        redactions,
        detail,
    }
}

/// The envelope a Lambda target receives (with `account`).
pub fn lambda_envelope(detail: &Value, replay: Option<&str>) -> Value {
    let mut env = json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "CDC.TableChange",
        "source": "cdc-pipeline",
        "account": "123456789012",
        "time": detail["timestamp"],
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    });
    if let Some(r) = replay {
        env["replay-name"] = json!(r);
    }
    env
}

/// The SQS body an EventBridge rule target delivers (moto leaves out `account`).
pub fn sqs_body(detail: &Value) -> String {
    json!({
        "version": "0",
        "id": "c2b5a3e4-77d1-4c0e-9f3a-0d8e6b1f2a90",
        "detail-type": "CDC.TableChange",
        "source": "cdc-pipeline",
        "time": detail["timestamp"],
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    })
    .to_string()
}

/// Every operation of one table's example row: INSERT, SNAPSHOT, UPDATE (full and key-only
/// `before`), DELETE (full and key-only) and TRUNCATE.
pub fn builds_for(table: Table, redact: bool) -> Vec<Built> {
    let row = example(table);
    let opts = |id, before_partial| Opts {
        redact,
        before_partial,
        id,
        ..Opts::default()
    };
    vec![
        build(table, Operation::Insert, None, Some(&row), &opts(1, false)),
        build(
            table,
            Operation::Snapshot,
            None,
            Some(&row),
            &opts(2, false),
        ),
        build(
            table,
            Operation::Update,
            Some(&row),
            Some(&row),
            &opts(3, false),
        ),
        build(
            table,
            Operation::Update,
            Some(&row),
            Some(&row),
            &opts(4, true),
        ),
        build(table, Operation::Delete, Some(&row), None, &opts(5, false)),
        build(table, Operation::Delete, Some(&row), None, &opts(6, true)),
        build(table, Operation::Truncate, None, None, &opts(7, false)),
    ]
}
