//! Every reference fixture (tests/fixtures, from shared/formats) decoded to the right internal
//! change, or acknowledged; plus the column encodings each format needs normalized.

use crate::support::{example, fixture};
use cdc_models::{Operation, Table};
use cdc_processor::decode::RecordPointer;
use cdc_processor::formats::{decode, AckReason, Decoded, FormatOptions, SourceFormat};
use cdc_processor::sequence::{Position, SequenceNumber};
use cdc_processor::validate::{validate, Change, Completeness, ValidateOptions};
use cdc_processor::{ErrorCode, RecordError};
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug)]
enum Out {
    Change(Box<Change>),
    Ack(AckReason),
}

fn pointer() -> RecordPointer {
    RecordPointer {
        stream: Arc::<str>::from("stream"),
        shard: Arc::<str>::from("shardId-000000000000"),
        position: Position {
            sequence: "1".parse().unwrap(),
            sub_sequence: None,
        },
        event_id: "0".repeat(32).parse().unwrap(),
    }
}

fn run_with(value: &Value, options: &FormatOptions) -> Result<Out, RecordError> {
    let text = value.to_string();
    let mut detected = None;
    match decode(text.as_bytes(), options, &mut detected)? {
        Decoded::Acknowledged(r) => Ok(Out::Ack(r)),
        Decoded::Change(raw) => {
            let table = Table::from_name(&raw.table).expect("fixture tables map to ours");
            validate(raw, table, pointer(), &ValidateOptions::default())
                .map(|c| Out::Change(Box::new(c)))
        }
    }
}

fn run(value: &Value) -> Result<Out, RecordError> {
    run_with(value, &FormatOptions::default())
}

fn change(value: &Value) -> Change {
    match run(value) {
        Ok(Out::Change(c)) => *c,
        other => panic!("expected a change, got {other:?}"),
    }
}

fn ack(value: &Value) -> AckReason {
    match run(value) {
        Ok(Out::Ack(r)) => r,
        other => panic!("expected an acknowledgement, got {other:?}"),
    }
}

/// Fills the columns an image lacks from the example row of `customers`.
fn fill(image: &mut Value) {
    let obj = image.as_object_mut().unwrap();
    for (k, v) in example("customers") {
        obj.entry(k).or_insert(v);
    }
}

fn after_json(c: &Change) -> Value {
    c.after.as_ref().unwrap().image.as_dyn().to_json_value()
}

fn before_json(c: &Change) -> Value {
    c.before.as_ref().unwrap().image.as_dyn().to_json_value()
}

fn key_json(c: &Change) -> Value {
    serde_json::to_value(c.key.as_ref().unwrap()).unwrap()
}

fn ts(c: &Change) -> String {
    cdc_processor::formats::normalize::format_datetime(c.timestamp)
}

// ---- Debezium ----

#[test]
fn debezium_mysql_create_without_schema() {
    let mut v = fixture("debezium/mysql_create_no_schema.json");
    fill(&mut v["after"]);
    let c = change(&v);
    assert_eq!(c.format, SourceFormat::Debezium);
    assert_eq!(c.table, Table::Customers);
    assert_eq!(c.operation, Operation::Insert);
    assert_eq!(ts(&c), "2016-06-09T16:56:51.815Z");
    assert!(!c.snapshot);
    assert_eq!(c.transaction_id, None);
    assert!(c.before.is_none());
    assert_eq!(c.after.as_ref().unwrap().completeness, Completeness::Full);
    assert_eq!(key_json(&c), json!({"id": 1004}));
    assert_eq!(after_json(&c)["first_name"], "Anne");
    assert_eq!(after_json(&c)["email"], "annek@noanswer.org");
}

#[test]
fn debezium_mysql_create_with_schema() {
    let mut v = fixture("debezium/mysql_create_with_schema.json");
    fill(&mut v["payload"]["after"]);
    let c = change(&v);
    assert_eq!(c.operation, Operation::Insert);
    assert_eq!(ts(&c), "2016-06-09T16:56:51.815Z");
    assert_eq!(key_json(&c), json!({"id": 1004}));
    assert_eq!(after_json(&c)["last_name"], "Kretchmar");
}

#[test]
fn debezium_mysql_snapshot_read_with_schema() {
    let mut v = fixture("debezium/mysql_snapshot_read_with_schema.json");
    fill(&mut v["payload"]["after"]);
    let c = change(&v);
    assert_eq!(c.operation, Operation::Snapshot);
    assert!(c.snapshot);
    // source has no ts_ms: the envelope's ts_us is used.
    assert_eq!(ts(&c), "2017-02-07T20:49:37.691547Z");
    assert_eq!(c.after.as_ref().unwrap().completeness, Completeness::Full);
}

#[test]
fn debezium_snapshot_read_requires_a_full_row() {
    // Unfilled, the fixture's row lacks most of our columns: a snapshot needs a full row.
    let v = fixture("debezium/mysql_snapshot_read_with_schema.json");
    let err = run(&v).unwrap_err();
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert!(err.message.contains("full row"), "{}", err.message);
}

#[test]
fn debezium_mysql_update_without_schema() {
    let v = fixture("debezium/mysql_update_no_schema.json");
    let c = change(&v);
    assert_eq!(c.operation, Operation::Update);
    assert_eq!(before_json(&c)["first_name"], "Anne-Marie");
    assert_eq!(after_json(&c)["first_name"], "Anne");
    assert_eq!(
        c.before.as_ref().unwrap().completeness,
        Completeness::Partial
    );
    assert_eq!(
        c.after.as_ref().unwrap().completeness,
        Completeness::Partial
    );
    assert_eq!(key_json(&c), json!({"id": 1004}));
}

#[test]
fn debezium_pg_create_with_schema() {
    let mut v = fixture("debezium/pg_create_with_schema.json");
    fill(&mut v["payload"]["after"]);
    let c = change(&v);
    assert_eq!(c.operation, Operation::Insert);
    // `snapshot: true` on a `c` event (as in the documentation example) is kept as metadata.
    assert!(c.snapshot);
    assert_eq!(c.transaction_id.as_deref(), Some("555"));
    assert_eq!(ts(&c), "2019-05-28T08:58:24.863123Z");
    assert_eq!(key_json(&c), json!({"id": 1}));
}

#[test]
fn debezium_pg_delete_has_a_key_only_before() {
    let c = change(&fixture("debezium/pg_delete.json"));
    assert_eq!(c.operation, Operation::Delete);
    assert!(c.after.is_none());
    assert_eq!(
        c.before.as_ref().unwrap().completeness,
        Completeness::Partial
    );
    assert_eq!(before_json(&c), json!({"id": 1}));
    assert_eq!(key_json(&c), json!({"id": 1}));
    assert_eq!(c.transaction_id.as_deref(), Some("556"));
}

#[test]
fn debezium_pg_update_replica_identity_default() {
    let c = change(&fixture("debezium/pg_update.json"));
    assert_eq!(c.operation, Operation::Update);
    assert_eq!(before_json(&c), json!({"id": 1}));
    assert_eq!(after_json(&c)["first_name"], "Anne Marie");
    assert_eq!(
        c.before.as_ref().unwrap().completeness,
        Completeness::Partial
    );
}

#[test]
fn debezium_pg_truncate_is_its_own_operation() {
    let c = change(&fixture("debezium/pg_truncate.json"));
    assert_eq!(c.operation, Operation::Truncate);
    assert!(c.before.is_none() && c.after.is_none() && c.key.is_none());
    assert_eq!(c.transaction_id.as_deref(), Some("556"));
    assert_eq!(ts(&c), "2019-05-28T08:58:24.863112Z");
}

#[test]
fn debezium_transaction_markers_are_acknowledged() {
    let v = fixture("debezium/pg_transaction_boundary_events.json");
    let markers = v.as_array().unwrap();
    assert_eq!(markers.len(), 2);
    for m in markers {
        assert_eq!(ack(m), AckReason::TransactionMarker);
        // Also inside the JsonConverter wrapper.
        assert_eq!(
            ack(&json!({"schema": null, "payload": m})),
            AckReason::TransactionMarker
        );
    }
}

#[test]
fn debezium_tombstones_and_messages_are_acknowledged() {
    assert_eq!(ack(&Value::Null), AckReason::Tombstone);
    assert_eq!(
        ack(&json!({"schema": null, "payload": null})),
        AckReason::Tombstone
    );
    assert_eq!(
        ack(
            &json!({"op": "m", "source": {"table": ""}, "message": {"prefix": "p", "content": "eA=="}})
        ),
        AckReason::Message
    );
    let mut detected = None;
    let empty = decode(b"", &FormatOptions::default(), &mut detected).unwrap();
    assert!(matches!(empty, Decoded::Acknowledged(AckReason::Tombstone)));
}

#[test]
fn debezium_snapshot_flag_as_string() {
    let mut v = fixture("debezium/pg_update.json");
    for (flag, expected) in [
        (json!("last"), true),
        (json!("incremental"), true),
        (json!("false"), false),
        (json!(true), true),
    ] {
        v["payload"]["source"]["snapshot"] = flag;
        assert_eq!(change(&v).snapshot, expected);
    }
}

#[test]
fn debezium_transaction_block_id_wins() {
    let mut v = fixture("debezium/pg_update.json");
    v["payload"]["transaction"] =
        json!({"id": "571:53195832", "total_order": 1, "data_collection_order": 1});
    assert_eq!(change(&v).transaction_id.as_deref(), Some("571:53195832"));
}

// ---- DMS ----

/// Renames a DMS fixture's table and columns to ours (test-only mapping).
fn dms_to_customers(mut v: Value, columns: &[(&str, &str)], fill_row: bool) -> Value {
    v["metadata"]["table-name"] = json!("customers");
    for image in ["data", "before-image"] {
        if let Some(obj) = v.get_mut(image).and_then(Value::as_object_mut) {
            for (from, to) in columns {
                if let Some(x) = obj.remove(*from) {
                    obj.insert(to.to_string(), x);
                }
            }
        }
    }
    if fill_row {
        fill(&mut v["data"]);
    }
    v
}

const FOO: &[(&str, &str)] = &[("name", "first_name"), ("attributes", "custom_fields")];
const SBTEST: &[(&str, &str)] = &[("fname", "first_name"), ("lname", "last_name")];

#[test]
fn dms_control_is_acknowledged() {
    assert_eq!(
        ack(&fixture("dms/awsdocs_control_create_table.json")),
        AckReason::DmsControl
    );
}

#[test]
fn dms_insert_with_all_metadata() {
    let v = dms_to_customers(
        fixture("dms/awsdocs_data_insert_all_metadata.json"),
        SBTEST,
        true,
    );
    let c = change(&v);
    assert_eq!(c.format, SourceFormat::Dms);
    assert_eq!(c.operation, Operation::Insert);
    assert_eq!(c.transaction_id.as_deref(), Some("9324410911751"));
    assert_eq!(
        ts(&c),
        "2019-10-31T22:53:55Z",
        "commit time, not the DMS write time"
    );
    assert_eq!(key_json(&c), json!({"id": 100000161}));
    assert_eq!(c.dropped_columns, vec!["REGION".to_string()]);
    assert_eq!(after_json(&c)["first_name"], "val61s");
}

#[test]
fn dms_full_load_is_a_snapshot_with_json_text_normalized() {
    let v = dms_to_customers(fixture("dms/pg_source_full_load.json"), FOO, true);
    let c = change(&v);
    assert_eq!(c.operation, Operation::Snapshot);
    assert!(c.snapshot);
    assert_eq!(ts(&c), "2024-07-29T00:57:35.691762Z");
    assert_eq!(key_json(&c), json!({"id": 42}));
    assert_eq!(after_json(&c)["custom_fields"], json!({"foo": "bar"}));
    assert_eq!(c.dropped_columns, vec!["age".to_string()]);
}

#[test]
fn dms_insert() {
    let v = dms_to_customers(fixture("dms/pg_source_insert.json"), FOO, true);
    let c = change(&v);
    assert_eq!(c.operation, Operation::Insert);
    assert_eq!(c.transaction_id.as_deref(), Some("1139"));
    assert_eq!(key_json(&c), json!({"id": 46}));
    assert_eq!(after_json(&c)["custom_fields"], json!({"baz": "qux"}));
    assert_eq!(after_json(&c)["first_name"], "Jane");
}

#[test]
fn dms_update_with_an_empty_before_image() {
    let v = dms_to_customers(
        fixture("dms/pg_source_update_before_image_empty.json"),
        FOO,
        false,
    );
    let c = change(&v);
    assert_eq!(c.operation, Operation::Update);
    assert!(c.before.is_none(), "`before-image: {{}}` holds no column");
    assert_eq!(
        c.after.as_ref().unwrap().completeness,
        Completeness::Partial
    );
    assert_eq!(after_json(&c)["custom_fields"], json!({"foo": "bar"}));
    assert_eq!(key_json(&c), json!({"id": 42}));
}

#[test]
fn dms_update_changing_the_primary_key() {
    let v = dms_to_customers(
        fixture("dms/pg_source_update_pk_change_before_image.json"),
        FOO,
        false,
    );
    let c = change(&v);
    assert_eq!(before_json(&c), json!({"id": 46}));
    assert_eq!(
        key_json(&c),
        json!({"id": 45}),
        "the key of the row after the change"
    );
}

#[test]
fn dms_delete_keeps_placeholder_nulls_as_partial() {
    let v = dms_to_customers(fixture("dms/pg_source_delete.json"), FOO, false);
    let c = change(&v);
    assert_eq!(c.operation, Operation::Delete);
    assert_eq!(key_json(&c), json!({"id": 45}));
    let before = c.before.as_ref().unwrap();
    assert_eq!(before.completeness, Completeness::Partial);
    // `first_name` is NOT NULL in our schema: the DMS null is a placeholder, kept as null.
    assert_eq!(before_json(&c)["first_name"], Value::Null);
    assert_eq!(c.transaction_id.as_deref(), Some("1144"));
}

#[test]
fn dms_before_image_field_name_is_configurable() {
    let mut v = dms_to_customers(
        fixture("dms/pg_source_update_pk_change_before_image.json"),
        FOO,
        false,
    );
    let bi = v.as_object_mut().unwrap().remove("before-image").unwrap();
    v["BI"] = bi;
    let options = FormatOptions {
        forced: None,
        dms_before_image_field: "BI".into(),
    };
    let Ok(Out::Change(c)) = run_with(&v, &options) else {
        panic!()
    };
    assert_eq!(before_json(&c), json!({"id": 46}));
}

#[test]
fn dms_scientific_notation_bigints() {
    let mut v = dms_to_customers(
        fixture("dms/awsdocs_data_insert_all_metadata.json"),
        SBTEST,
        true,
    );
    // How DMS writes BigInts of more than 16 digits.
    let text = v
        .to_string()
        .replace("\"id\":100000161", "\"id\":1.00000161E8");
    v = serde_json::from_str(&text).unwrap();
    assert_eq!(key_json(&change(&v)), json!({"id": 100000161}));
    let text = text.replace("1.00000161E8", "1.000001615E8");
    let err = run(&serde_json::from_str(&text).unwrap()).unwrap_err();
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert!(err.message.contains("after.id"), "{}", err.message);
}

// ---- Lambda ----

#[test]
fn lambda_fixtures_parse_and_compare_sequence_numbers() {
    let e: aws_lambda_events::event::kinesis::KinesisEvent =
        serde_json::from_value(fixture("lambda/kinesis_event.json")).unwrap();
    assert_eq!(e.records.len(), 2);
    let a: SequenceNumber = e.records[0].kinesis.sequence_number.parse().unwrap();
    let b: SequenceNumber = e.records[1].kinesis.sequence_number.parse().unwrap();
    assert!(a < b);
    let w: aws_lambda_events::event::kinesis::KinesisEvent =
        serde_json::from_value(fixture("lambda/kinesis_tumbling_window_event.json")).unwrap();
    assert_eq!(w.records.len(), 1);
    // The on-failure destination record carries pointers only: a sequence range to re-read.
    let f = fixture("lambda/kinesis_onfailure_destination_record.json");
    let info = &f["KinesisBatchInfo"];
    let start: SequenceNumber = info["startSequenceNumber"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let end: SequenceNumber = info["endSequenceNumber"].as_str().unwrap().parse().unwrap();
    assert!(start < end);
    assert_eq!(
        cdc_processor::decode::kinesis::shard_id(Some("shardId-000000000001:1")),
        info["shardId"].as_str()
    );
}

// ---- CoreDB trigger and encodings ----

#[test]
fn coredb_trigger_insert_update_delete() {
    let row = Value::Object(example("users"));
    let rec = |op: &str, before: Value, after: Value| {
        json!({"table": "users", "operation": op, "timestamp": "2026-11-25T10:14:31Z",
               "transaction_id": 88, "before": before, "after": after})
    };
    let c = change(&rec("INSERT", Value::Null, row.clone()));
    assert_eq!(
        (c.format, c.operation),
        (SourceFormat::CoredbTrigger, Operation::Insert)
    );
    assert_eq!(c.transaction_id.as_deref(), Some("88"));
    let c = change(&rec(
        "UPDATE",
        json!({"id": row["id"], "status": "invited"}),
        row.clone(),
    ));
    assert_eq!(c.before.unwrap().completeness, Completeness::Partial);
    let c = change(&rec("DELETE", row.clone(), Value::Null));
    assert_eq!(c.before.unwrap().completeness, Completeness::Full);
    assert_eq!(
        key_json_of(&row),
        serde_json::to_value(c.key.unwrap()).unwrap()
    );
}

fn key_json_of(row: &Value) -> Value {
    json!({"id": row["id"]})
}

#[test]
fn forced_format_rejects_other_shapes() {
    let options = FormatOptions {
        forced: Some(SourceFormat::Dms),
        ..FormatOptions::default()
    };
    let err = run_with(&fixture("debezium/pg_update.json"), &options).unwrap_err();
    assert_eq!(err.code, ErrorCode::ParseError);
    let options = FormatOptions {
        forced: Some(SourceFormat::Debezium),
        ..FormatOptions::default()
    };
    assert!(matches!(
        run_with(&fixture("debezium/pg_update.json"), &options),
        Ok(Out::Change(_))
    ));
}

/// A customers row as Debezium encodes it: timestamps as epoch integers, money as a binary
/// decimal, JSON as text, a date as days since the epoch.
fn debezium_encoded_row() -> Value {
    let mut row = Value::Object(example("customers"));
    row["created_at"] = json!(1_565_623_300_000_000_i64); // 2019-08-12T15:21:40Z in µs
    row["updated_at"] = json!(1_795_601_671_000_i64); // ms
    row["lifetime_value"] = json!("Aegq"); // 0x01E82A = 124970 → 1249.70
    row["custom_fields"] = json!("{\"household_size\": 3}");
    row["date_of_birth"] = json!(4182); // 1981-06-14
    row
}

fn debezium_schema() -> Value {
    let fields = json!([
        {"type": "int64", "optional": false, "field": "created_at", "name": "io.debezium.time.MicroTimestamp"},
        {"type": "int64", "optional": false, "field": "updated_at", "name": "io.debezium.time.Timestamp"},
        {"type": "bytes", "optional": false, "field": "lifetime_value", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2", "connect.decimal.precision": "15"}},
        {"type": "string", "optional": true, "field": "custom_fields", "name": "io.debezium.data.Json"},
        {"type": "int32", "optional": true, "field": "date_of_birth", "name": "io.debezium.time.Date"}
    ]);
    json!({"type": "struct", "fields": [
        {"type": "struct", "optional": true, "field": "before", "fields": fields},
        {"type": "struct", "optional": true, "field": "after", "fields": fields}
    ]})
}

#[test]
fn debezium_encodings_with_the_schema_wrapper() {
    let payload = json!({"op": "c", "before": null, "after": debezium_encoded_row(),
        "source": {"table": "customers", "snapshot": "false", "ts_ms": 1_795_601_671_000_i64}});
    let c = change(&json!({"schema": debezium_schema(), "payload": payload}));
    let a = after_json(&c);
    assert_eq!(a["created_at"], "2019-08-12T15:21:40Z");
    assert_eq!(a["updated_at"], "2026-11-25T10:14:31Z");
    assert_eq!(a["lifetime_value"], "1249.70");
    assert_eq!(a["custom_fields"], json!({"household_size": 3}));
    assert_eq!(a["date_of_birth"], "1981-06-14");
}

#[test]
fn debezium_encodings_without_the_schema_wrapper() {
    let mut row = debezium_encoded_row();
    let rec = |row: &Value| {
        json!({"op": "c", "before": null, "after": row,
               "source": {"table": "customers", "ts_ms": 1_795_601_671_000_i64}})
    };
    // A binary decimal cannot be read without its scale: rejected, never guessed.
    let err = run(&rec(&row)).unwrap_err();
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert!(err.message.contains("lifetime_value"), "{}", err.message);
    // With decimal.handling.mode=string, timestamps by magnitude, dates as days: accepted.
    row["lifetime_value"] = json!("1249.7");
    let c = change(&rec(&row));
    let a = after_json(&c);
    assert_eq!(a["lifetime_value"], "1249.70");
    assert_eq!(a["created_at"], "2019-08-12T15:21:40Z");
    assert_eq!(a["updated_at"], "2026-11-25T10:14:31Z");
    assert_eq!(a["date_of_birth"], "1981-06-14");
    // More decimal places than the column keeps would round: rejected.
    row["lifetime_value"] = json!("1249.705");
    let err = run(&rec(&row)).unwrap_err();
    assert!(err.message.contains("decimal places"), "{}", err.message);
    // Debezium's placeholder for an unchanged TOASTed column is not a value: the column is absent.
    let mut row = Value::Object(example("customers"));
    row["first_name"] = json!("__debezium_unavailable_value");
    let rec = json!({"op": "u", "before": null, "after": row,
                     "source": {"table": "customers", "ts_ms": 1_795_601_671_000_i64}});
    let c = change(&rec);
    assert!(after_json(&c).get("first_name").is_none());
    assert_eq!(c.after.unwrap().completeness, Completeness::Partial);
}

#[test]
fn dms_timestamps_without_zone() {
    let mut v = dms_to_customers(fixture("dms/pg_source_insert.json"), FOO, true);
    v["data"]["last_contacted_at"] = json!("2024-07-29 00:58:17.97434");
    let c = change(&v);
    assert_eq!(
        after_json(&c)["last_contacted_at"],
        "2024-07-29T00:58:17.974340Z"
    );
}
