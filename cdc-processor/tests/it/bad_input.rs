//! The bad-input corpus (issue 7 §2): more than 50 malformed, hostile or unusual records, each
//! with the category `docs/formats.md` documents for it, all in **one** batch between good
//! records. None stops the batch (no batch item failure), none is lost (every record ends
//! published, acknowledged, skipped as a repeated position, or dead-lettered with its category),
//! every good record is published in order, and no error message repeats a value of the record.

use crate::support::*;
use base64::Engine;
use cdc_processor::decode::kpl::{aggregate, AggregatedRecord, Record, MAGIC};
use cdc_processor::decode::{LenientKinesisEvent, LenientKinesisRecord};
use cdc_processor::pipeline::Disposition;
use cdc_processor::ErrorCode;
use md5::{Digest, Md5};
use prost::Message;
use serde_json::{json, Value};

/// What a user record must become, and the rule of `docs/formats.md` (or `docs/cdc-event.md`)
/// that says so.
#[derive(Clone, Debug, PartialEq)]
enum Want {
    /// Published with this operation.
    Published(&'static str),
    /// Acknowledged without publishing, for this reason.
    Ack(&'static str),
    /// Dead-lettered with this category.
    Dead(ErrorCode),
    /// Skipped: a repeated position.
    Skipped,
}

use Want::*;

/// The marker planted in the values of bad records: error messages must never repeat it.
const SECRET: &str = "SECRET-VALUE-7f3a";

struct Case {
    name: &'static str,
    /// The record's `data`: bytes (base64-encoded into the event), or raw text for `data`.
    data: Data,
    /// A sequence number to use instead of the next one.
    sequence: Option<String>,
    /// One per user record (several for a KPL aggregate).
    want: Vec<Want>,
    /// Why: the documented rule.
    rule: &'static str,
}

enum Data {
    Bytes(Vec<u8>),
    RawBase64(String),
}

fn user_row() -> serde_json::Map<String, Value> {
    example("users")
}

fn trigger_json(table: &str, op: &str, before: Value, after: Value) -> Vec<u8> {
    json!({"table": table, "operation": op, "timestamp": "2026-11-25T10:14:31Z",
           "transaction_id": "txn-1", "before": before, "after": after})
    .to_string()
    .into_bytes()
}

fn user_with(overrides: &[(&str, Value)]) -> Vec<u8> {
    let mut u = user_row();
    for (k, v) in overrides {
        u.insert(k.to_string(), v.clone());
    }
    trigger_json("users", "INSERT", Value::Null, Value::Object(u))
}

fn user_without(column: &str) -> Vec<u8> {
    let mut u = user_row();
    u.remove(column);
    trigger_json("users", "INSERT", Value::Null, Value::Object(u))
}

fn table_with(table: &str, overrides: &[(&str, Value)]) -> Vec<u8> {
    let mut row = example(table);
    for (k, v) in overrides {
        row.insert(k.to_string(), v.clone());
    }
    trigger_json(table, "INSERT", Value::Null, Value::Object(row))
}

fn debezium(op: &str, before: Value, after: Value) -> Value {
    json!({"before": before, "after": after, "op": op, "ts_ms": 1_764_065_700_100u64,
           "source": {"version": "2.7.0.Final", "connector": "postgresql", "name": "coredb",
                      "ts_ms": 1_764_065_700_000u64, "snapshot": "false", "db": "coredb",
                      "schema": "public", "table": "users", "txId": 901, "lsn": 24023128}})
}

fn dms(operation: &str, table: &str, data: Value) -> Vec<u8> {
    json!({"data": data,
           "metadata": {"timestamp": "2026-11-25T10:40:00.000000Z", "record-type": "data",
                        "operation": operation, "partition-key-type": "schema-table",
                        "schema-name": "public", "table-name": table, "transaction-id": 1139}})
    .to_string()
    .into_bytes()
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn kpl(records: Vec<Vec<u8>>) -> AggregatedRecord {
    AggregatedRecord {
        partition_key_table: vec!["pk".into()],
        explicit_hash_key_table: vec![],
        records: records
            .into_iter()
            .map(|data| Record {
                partition_key_index: 0,
                explicit_hash_key_index: None,
                data,
                tags: vec![],
            })
            .collect(),
    }
}

/// A good record: an UPDATE of one fixed user, numbered so the published order can be read back.
fn good(n: usize) -> Vec<u8> {
    let mut u = example("users");
    u.insert("name".into(), json!(format!("Good {n}")));
    trigger_json("users", "UPDATE", Value::Null, Value::Object(u))
}

fn cases() -> Vec<Case> {
    let b = |v: Vec<u8>| Data::Bytes(v);
    let s = |v: &str| Data::Bytes(v.as_bytes().to_vec());
    let dead = |c| vec![Dead(c)];
    let (p, v) = (ErrorCode::ParseError, ErrorCode::ValidationError);
    let case = |name, data, want, rule| Case {
        name,
        data,
        sequence: None,
        want,
        rule,
    };
    let mut out = vec![
        // --- Kinesis data and bytes ---
        case("invalid base64", Data::RawBase64("!!not base64!!".into()), dead(p), "bad base64 is PARSE_ERROR"),
        case("base64 without padding", Data::RawBase64("e30".into()), dead(p), "bad base64 is PARSE_ERROR"),
        case("invalid UTF-8", b(vec![b'{', 0xff, 0xfe, b'}']), dead(p), "invalid UTF-8 is PARSE_ERROR"),
        case("UTF-8 surrogate bytes", b(vec![b'{', b'"', 0xed, 0xa0, 0x80, b'"', b'}']), dead(p), "invalid UTF-8 is PARSE_ERROR"),
        case("byte order mark", b([&[0xef, 0xbb, 0xbf][..], &good(0)].concat()), dead(p), "a record that is not a JSON object is PARSE_ERROR"),
        case("binary garbage", b((0u8..=255).collect()), dead(p), "invalid UTF-8 is PARSE_ERROR"),
        // --- JSON ---
        case("truncated JSON", s(r#"{"table": "users", "operation":"#), dead(p), "truncated JSON is PARSE_ERROR"),
        case("truncated in a string", s(&format!(r#"{{"table": "users", "operation": "INSERT", "after": {{"name": "{SECRET}"#)), dead(p), "truncated JSON is PARSE_ERROR"),
        case("invalid JSON", s("{not json"), dead(p), "invalid JSON is PARSE_ERROR"),
        case("trailing garbage", b([good(1), b" trailing".to_vec()].concat()), dead(p), "invalid JSON is PARSE_ERROR"),
        case("single quotes", s("{'table': 'users'}"), dead(p), "invalid JSON is PARSE_ERROR"),
        case("JSON array", s("[1, 2, 3]"), dead(p), "a record that is not a JSON object is PARSE_ERROR"),
        case("JSON string", s(&format!("\"{SECRET}\"")), dead(p), "a record that is not a JSON object is PARSE_ERROR"),
        case("JSON number", s("42"), dead(p), "a record that is not a JSON object is PARSE_ERROR"),
        case("JSON true", s("true"), dead(p), "a record that is not a JSON object is PARSE_ERROR"),
        case("object of no format", s(&format!(r#"{{"secret": "{SECRET}"}}"#)), dead(p), "a record that matches no format is PARSE_ERROR"),
        case("lone surrogate escape", s(&format!(r#"{{"table": "users", "operation": "INSERT", "timestamp": "2026-11-25T10:14:31Z", "after": {{"name": "\ud800{SECRET}"}}}}"#)), dead(v), "a row the schema rejects is VALIDATION_ERROR (a lone surrogate is no string)"),
        case("nesting 130 levels", s(&format!(r#"{{"table": "tenants", "operation": "INSERT", "timestamp": "2026-11-25T10:14:31Z", "after": {{"settings": {{"x": {}}}}}}}"#, nested(130))), dead(v), "a row the schema rejects is VALIDATION_ERROR: column values nest at most 128 levels (the JSON parser's limit), so EventBridge's (1,000) is never reached"),
        case("nesting deeper than EventBridge accepts (1,200 levels)", s(&format!(r#"{{"table": "tenants", "operation": "INSERT", "timestamp": "2026-11-25T10:14:31Z", "after": {{"settings": {{"x": {}}}}}}}"#, nested(1200))), dead(v), "as above"),
        case("duplicate column", s(&String::from_utf8(user_with(&[])).unwrap().replacen("\"status\":\"active\"", "\"status\":\"active\",\"status\":\"deleted\"", 1)), dead(v), "a column that appears twice is ambiguous: VALIDATION_ERROR"),
        // --- empty records ---
        case("empty record", b(vec![]), vec![Ack("tombstone")], "an empty record is a Debezium tombstone"),
        case("whitespace record", s(" \n\t "), vec![Ack("tombstone")], "an empty record is a Debezium tombstone"),
        case("JSON null", s("null"), vec![Ack("tombstone")], "JSON null is a Debezium tombstone"),
        case("empty object", s("{}"), dead(p), "a record that matches no format is PARSE_ERROR"),
        // --- CoreDB trigger envelope ---
        case("unknown operation", s(r#"{"table": "users", "operation": "UPSERT", "timestamp": "2026-11-25T10:14:31Z"}"#), dead(p), "operation must be INSERT/UPDATE/DELETE/TRUNCATE/SNAPSHOT"),
        case("missing timestamp", s(r#"{"table": "users", "operation": "INSERT", "after": null}"#), dead(p), "timestamp is required"),
        case("bad timestamp", s(r#"{"table": "users", "operation": "INSERT", "timestamp": "2026-13-45T99:00:00Z"}"#), dead(p), "timestamp is RFC 3339"),
        case("table not a string", s(r#"{"table": 5, "operation": "INSERT", "timestamp": "2026-11-25T10:14:31Z"}"#), dead(p), "table is a string"),
        case("unknown table", b(trigger_json("no_such_table", "INSERT", Value::Null, json!({"id": SECRET}))), dead(v), "unknown table is VALIDATION_ERROR"),
        case("hostile table name", b(trigger_json(&format!("users; DROP TABLE users; -- {SECRET}"), "INSERT", Value::Null, json!({}))), dead(v), "unknown table is VALIDATION_ERROR (never echoed)"),
        case("huge table name", b(trigger_json(&"t".repeat(100_000), "INSERT", Value::Null, json!({}))), dead(v), "unknown table is VALIDATION_ERROR"),
        // --- wrong column types and values ---
        case("string in a boolean column", b(user_with(&[("mfa_enabled", json!(SECRET))])), dead(v), "a row the schema rejects is VALIDATION_ERROR"),
        case("number in a string column", b(user_with(&[("locale", json!(12345))])), dead(v), "a row the schema rejects is VALIDATION_ERROR"),
        case("object in a uuid column", b(user_with(&[("tenant_id", json!({"x": SECRET}))])), dead(v), "a row the schema rejects is VALIDATION_ERROR"),
        case("malformed uuid", b(user_with(&[("tenant_id", json!(SECRET))])), dead(v), "a row the schema rejects is VALIDATION_ERROR"),
        case("value outside the enum", b(user_with(&[("status", json!(SECRET))])), dead(v), "a row the schema rejects is VALIDATION_ERROR"),
        case("unparseable timestamp column", b(user_with(&[("created_at", json!(SECRET))])), dead(v), "a value that cannot be normalized is VALIDATION_ERROR"),
        case("malformed email", b(user_with(&[("email", json!(SECRET))])), dead(v), "format: email is checked from the schema"),
        case("array in a jsonb object column", b(table_with("tenants", &[("settings", json!([SECRET]))])), dead(v), "a row the schema rejects is VALIDATION_ERROR"),
        case("number below the schema minimum", b(table_with("customers", &[("id", json!(0))])), dead(v), "minimum/maximum are checked from the schema"),
        // --- missing columns and images ---
        case("missing key column", b(user_without("id")), dead(v), "INSERT needs every column, the key above all"),
        case("missing non-key column on INSERT", b(user_without("email")), dead(v), "INSERT and SNAPSHOT need every column"),
        case("INSERT without after", b(trigger_json("users", "INSERT", Value::Null, Value::Null)), dead(v), "INSERT needs a full after"),
        case("DELETE whose before has no key", b(trigger_json("users", "DELETE", json!({"status": "active"}), Value::Null)), dead(v), "keys are always present: a DELETE without its key is VALIDATION_ERROR"),
        case("after is a string", b(trigger_json("users", "UPDATE", Value::Null, json!(SECRET))), dead(v), "a row the schema rejects is VALIDATION_ERROR"),
        // --- numbers ---
        case("integer beyond i64", b(table_with("customers", &[("merged_into_id", json!(9_223_372_036_854_775_808u64))])), dead(v), "a value beyond 64 bits is rejected"),
        case("integer beyond u64", s(&String::from_utf8(table_with("customers", &[])).unwrap().replace("\"merged_into_id\":null", "\"merged_into_id\":123456789012345678901234567890")), dead(v), "a value beyond 64 bits is rejected"),
        case("fraction in an integer column", b(table_with("customers", &[("merged_into_id", json!(1004.5))])), dead(v), "exact only: a fraction is rejected"),
        case("number beyond f64", s(&String::from_utf8(table_with("calls", &[("mos_score", json!("X"))])).unwrap().replace("\"X\"", "1e400")), dead(v), "a value that cannot be normalized is VALIDATION_ERROR"),
        case("integer beyond i64 inside a jsonb column", s(&String::from_utf8(table_with("tenants", &[("settings", json!({"big": "X"}))])).unwrap().replace("\"X\"", "123456789012345678901234567890")), dead(v), "EventBridge accepts JSON integers within i64 only; a jsonb number it would reject or that cannot be kept exactly is VALIDATION_ERROR"),
        // --- sizes ---
        case("row over the size limit", b(table_with("agents", &[("tags", json!(vec!["x".repeat(1000); 300]))])), dead(ErrorCode::EntryTooLarge), "an entry over the limit is ENTRY_TOO_LARGE"),
        case("huge string in a published column", b(user_with(&[("name", json!(format!("{SECRET}{}", "n".repeat(400_000))))])), dead(ErrorCode::EntryTooLarge), "an entry over the limit is ENTRY_TOO_LARGE"),
        case("huge string in a masked column", b(user_with(&[("ssn", json!("9".repeat(400_000)))])), vec![Published("INSERT")], "redaction comes before the size check: a masked value does not count"),
        case("unknown columns", b(user_with(&[("favourite_colour", json!(SECRET))])), vec![Published("INSERT")], "unknown columns are dropped, counted and listed, never published"),
        // --- Debezium ---
        case("Debezium truncate", b(debezium("t", Value::Null, Value::Null).to_string().into_bytes()), vec![Published("TRUNCATE")], "op t is TRUNCATE"),
        case("Debezium tombstone in the wrapper", s(r#"{"schema": null, "payload": null}"#), vec![Ack("tombstone")], "payload: null is a tombstone"),
        case("Debezium message", s(&json!({"op": "m", "ts_ms": 1_764_065_700_100u64, "source": {"table": "users"}, "message": {"prefix": "x", "content": SECRET}}).to_string()), vec![Ack("message")], "op m is acknowledged, not published"),
        case("Debezium transaction BEGIN", s(r#"{"status": "BEGIN", "id": "571:53195829", "event_count": null, "data_collections": null, "ts_ms": 1486500577125}"#), vec![Ack("transaction-marker")], "transaction markers are acknowledged"),
        case("Debezium transaction END", s(r#"{"status": "END", "id": "571:53195832", "event_count": 2, "data_collections": [], "ts_ms": 1486500577691}"#), vec![Ack("transaction-marker")], "transaction markers are acknowledged"),
        case("Debezium unknown op", b(debezium("x", Value::Null, Value::Object(example("users"))).to_string().into_bytes()), dead(p), "op must be c, u, d, r, t or m"),
        case("Debezium without source", s(&json!({"op": "c", "after": example("users")}).to_string()), dead(p), "source.table names the table"),
        case("Debezium binary decimal without schema", s(&json!({"op": "c", "after": example("orders").into_iter().map(|(k, v)| if k == "total" { (k, json!("BNI=")) } else { (k, v) }).collect::<serde_json::Map<_, _>>(), "ts_ms": 1_764_065_700_100u64, "source": {"table": "orders", "ts_ms": 1_764_065_700_000u64}}).to_string()), dead(v), "binary decimals need the schema's scale: rejected without the wrapper"),
        case("Debezium snapshot read with boolean snapshot", b(json!({"before": null, "after": example("users"), "op": "r", "ts_ms": 1_764_065_700_100u64, "source": {"table": "users", "snapshot": true, "ts_ms": 1_764_065_700_000u64}}).to_string().into_bytes()), vec![Published("SNAPSHOT")], "op r is SNAPSHOT; source.snapshot may be a boolean"),
        case("Debezium epoch timestamps", b(debezium("c", Value::Null, Value::Object({ let mut u = example("users"); u.insert("created_at".into(), json!(1_709_283_600_000_000i64)); u })).to_string().into_bytes()), vec![Published("INSERT")], "integer epochs are normalized by magnitude without the schema"),
        // --- DMS ---
        case("DMS control record", s(&json!({"control": {"table-def": {"columns": {}}}, "metadata": {"timestamp": "2026-11-25T10:40:00Z", "record-type": "control", "operation": "create-table", "partition-key-type": "task-id", "schema-name": "public", "table-name": "users"}}).to_string()), vec![Ack("dms-control")], "control records are acknowledged"),
        case("DMS scientific-notation bigint", s(&String::from_utf8(dms("insert", "customers", Value::Object(example("customers")))).unwrap().replace("\"id\":1004", "\"id\":1.00000161E8")), vec![Published("INSERT")], "DMS scientific notation for integers is normalized, exactly"),
        case("DMS scientific-notation bigint that is not whole", s(&String::from_utf8(dms("insert", "customers", Value::Object(example("customers")))).unwrap().replace("\"id\":1004", "\"id\":1.000001615E2")), dead(v), "exact only: a fraction is rejected"),
        case("DMS unknown record type", b(json!({"data": {}, "metadata": {"record-type": "weird", "table-name": "users"}}).to_string().into_bytes()), dead(p), "record-type must be data or control"),
        case("DMS delete with placeholder nulls", b(dms("delete", "users", json!({"id": example("users")["id"], "tenant_id": null, "name": null, "email": null, "phone": null, "ssn": null, "status": null, "locale": null, "time_zone": null, "last_login_at": null, "mfa_enabled": null, "created_at": null, "updated_at": null}))), vec![Published("DELETE")], "a DMS delete's nulls are placeholders of a partial before"),
        // --- KPL aggregates ---
        case("KPL aggregate of two good records", b(aggregate(&kpl(vec![good(9001), good(9002)]))), vec![Published("UPDATE"), Published("UPDATE")], "user records keep the parent sequence number plus a sub-sequence number"),
        case("KPL aggregate with a bad MD5", b({ let mut a = aggregate(&kpl(vec![good(9003)])); let n = a.len(); a[n - 1] ^= 0x55; a }), dead(p), "a bad MD5 passes through as a plain record, which is not UTF-8 JSON: PARSE_ERROR"),
        case("KPL aggregate with a truncated protobuf (MD5 of the truncated body)", b({ let body = kpl(vec![good(9004)]).encode_to_vec(); let body = &body[..body.len() / 2]; [&MAGIC[..], body, &Md5::digest(body)[..]].concat() }), dead(p), "checksum matches but the protobuf cannot be read: PARSE_ERROR"),
        case("KPL aggregate cut short", b({ let a = aggregate(&kpl(vec![good(9005)])); a[..a.len() - 20].to_vec() }), dead(p), "a bad MD5 passes through as a plain record: PARSE_ERROR"),
        case("KPL aggregate with a bad partition-key index", b({ let mut a = kpl(vec![good(9006), good(9007)]); a.records[0].partition_key_index = 9; aggregate(&a) }), vec![Dead(p), Published("UPDATE")], "that user record is PARSE_ERROR, the others go on"),
        case("KPL aggregate holding a bad record", b(aggregate(&kpl(vec![b"{not json".to_vec(), good(9008)]))), vec![Dead(p), Published("UPDATE")], "each user record is decoded on its own"),
        case("KPL aggregate without records", b(aggregate(&kpl(vec![]))), vec![Ack("empty-aggregate")], "an aggregate with no user records is acknowledged"),
        case("KPL magic only", b(MAGIC.to_vec()), dead(p), "too short to be an aggregate: a plain record, not UTF-8 JSON"),
    ];
    // --- sequence numbers (at the end: they move the shard to 129-digit numbers) ---
    let seq129 = |n: u64| format!("9{:0>128}", n);
    out.push(Case {
        name: "129-digit sequence number",
        data: b(good(9100)),
        sequence: Some(seq129(1)),
        want: vec![Published("UPDATE")],
        rule: "sequence numbers have up to 129 digits, compared as numbers",
    });
    out.push(Case {
        name: "duplicate sequence number",
        data: b(good(9100)),
        sequence: Some(seq129(1)),
        want: vec![Skipped],
        rule: "a repeated position is skipped, never published twice",
    });
    out.push(Case {
        name: "130-digit sequence number",
        data: b(good(9101)),
        sequence: Some(format!("1{:0>129}", 0)),
        want: dead(p),
        rule: "more than 129 digits is not a sequence number: PARSE_ERROR",
    });
    out.push(Case {
        name: "non-numeric sequence number",
        data: b(good(9102)),
        sequence: Some(format!(
            "49590338271490256608559692538361571095921575989136588898{SECRET}"
        )),
        want: dead(p),
        rule: "a sequence number is decimal digits: PARSE_ERROR",
    });
    out.push(Case {
        name: "empty sequence number",
        data: b(good(9103)),
        sequence: Some(String::new()),
        want: dead(p),
        rule: "a sequence number is decimal digits: PARSE_ERROR",
    });
    out
}

/// Published names of the good records, for the order check.
fn good_name(d: &Value) -> Option<u64> {
    d["after"]["name"]
        .as_str()
        .and_then(|n| n.strip_prefix("Good "))
        .and_then(|n| n.parse().ok())
}

#[tokio::test]
async fn every_bad_record_gets_its_category_and_the_batch_goes_on() {
    let cases = cases();
    assert!(cases.len() >= 50, "{} cases", cases.len());

    // good 0, case 0, good 1, case 1, …, good N.
    let mut records = Vec::new();
    let mut expect: Vec<(String, Option<u64>, Want, usize)> = Vec::new(); // seq, sub, want, case
    let mut next = 0u64;
    let mut tail_seq = 2u64; // 129-digit numbers after the first 129-digit case
    let mut use_129 = false;
    let mut seq_of = |explicit: &Option<String>, use_129: bool| -> String {
        match explicit {
            Some(s) => s.clone(),
            None if use_129 => {
                tail_seq += 1;
                format!("9{:0>128}", tail_seq)
            }
            None => {
                next += 1;
                format!("4959033827149025660855969253836157109592157598{:010}", next)
            }
        }
    };
    let record = |seq: &str, data: String| LenientKinesisRecord {
        event_source: Some("aws:kinesis".into()),
        event_id: Some(format!("{SHARD}:{seq}")),
        event_source_arn: Some(STREAM_ARN.into()),
        kinesis: cdc_processor::decode::kinesis::LenientKinesisData {
            partition_key: "pk".into(),
            sequence_number: seq.to_string(),
            data,
            ..Default::default()
        },
        ..Default::default()
    };
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let mut good_n = 0u64;
    for (i, c) in cases.iter().enumerate() {
        let seq = seq_of(&None, use_129);
        records.push(record(&seq, b64(&good(good_n as usize))));
        expect.push((seq, None, Published("UPDATE"), usize::MAX));
        good_n += 1;
        if c.sequence.as_deref().is_some_and(|s| s.len() == 129) {
            use_129 = true;
        }
        let seq = seq_of(&c.sequence, use_129);
        let data = match &c.data {
            Data::Bytes(bytes) => b64(bytes),
            Data::RawBase64(text) => text.clone(),
        };
        records.push(record(&seq, data));
        // Several user records: a KPL aggregate, whose user records have sub-sequence numbers.
        let subs = c.want.len() > 1;
        for (k, w) in c.want.iter().enumerate() {
            expect.push((seq.clone(), subs.then_some(k as u64), w.clone(), i));
        }
    }
    let seq = seq_of(&None, use_129);
    records.push(record(&seq, b64(&good(good_n as usize))));
    expect.push((seq, None, Published("UPDATE"), usize::MAX));
    good_n += 1;

    let p = pipeline(redacting_config());
    let report = p
        .process_lenient_event(&LenientKinesisEvent { records }, "test")
        .await;

    // Nothing stops the batch, nothing is lost.
    assert!(
        report.batch_item_failures.is_empty(),
        "batch item failures: {:?}",
        report.batch_item_failures
    );
    let c = &report.counts;
    assert_eq!(c.failed, 0);
    assert_eq!(
        c.published + c.acknowledged + c.skipped + c.dead_lettered_total(),
        c.records_in,
        "every record accounted for: {c}"
    );
    assert_eq!(
        report.records.len(),
        expect.len(),
        "one outcome per user record"
    );

    let published: Vec<Value> = p.publisher().published().iter().map(detail).collect();
    let operation_of: std::collections::HashMap<&str, &str> = published
        .iter()
        .map(|d| {
            (
                d["eventId"].as_str().unwrap_or(""),
                d["operation"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        operation_of.len(),
        published.len(),
        "each event published once"
    );

    // Each record's category (and, when published, its operation).
    let mut wrong = Vec::new();
    for (outcome, (seq, sub, want, case)) in report.records.iter().zip(&expect) {
        assert_eq!(&*outcome.sequence_number, seq.as_str());
        let name = cases.get(*case).map_or("good record", |c| c.name);
        let got = match &outcome.disposition {
            Disposition::Published => Published(""),
            Disposition::Acknowledged { reason } => Ack(reason.as_str()),
            Disposition::Skipped => Skipped,
            Disposition::DeadLettered { code, message } => {
                assert!(
                    !message.contains(SECRET) && !message.contains("DROP TABLE"),
                    "{name}: the error message repeats a value: {message}"
                );
                Dead(*code)
            }
            Disposition::Failed { reason } => panic!("{name}: reported for retry: {reason}"),
        };
        let ok = match (want, &got) {
            (Published(op), Published(_)) => {
                outcome.sub_sequence_number == *sub
                    && outcome
                        .event_id
                        .as_deref()
                        .and_then(|id| operation_of.get(id))
                        == Some(op)
            }
            (w, g) => w == g,
        };
        if !ok {
            wrong.push(format!(
                "{name}: expected {want:?}, got {:?}",
                outcome.disposition
            ));
        }
    }
    assert!(wrong.is_empty(), "wrong categories:\n{}", wrong.join("\n"));

    // Every good record published once, in order.
    let goods: Vec<u64> = published
        .iter()
        .filter_map(good_name)
        .filter(|n| *n < 9000)
        .collect();
    assert_eq!(
        goods,
        (0..good_n).collect::<Vec<_>>(),
        "every good record, in order"
    );
    // Values planted in bad records (and in a column the schema does not know) never reach an
    // event.
    let text = serde_json::to_string(&published).unwrap();
    assert!(!text.contains(SECRET), "a bad record's value was published");
    let dropped = published
        .iter()
        .find(|d| d["metadata"]["droppedColumns"].is_array())
        .expect("the unknown-columns case is published");
    assert_eq!(
        dropped["metadata"]["droppedColumns"],
        json!(["favourite_colour"])
    );

    // Dead letters keep the raw record and its category; their messages carry no values.
    let letters = p.dead_letters().letters();
    assert_eq!(letters.len() as u64, c.dead_lettered_total());
    for l in &letters {
        assert!(l.original_event["kinesis"]["data"].is_string());
        assert!(!l.error.message.contains(SECRET), "{}", l.error.message);
        assert!(!l.error.stack.contains(SECRET));
    }

    // The table for docs/reliability.md (run with --nocapture).
    for c in &cases {
        println!(
            "| {} | {} | {} |",
            c.name,
            c.want
                .iter()
                .map(|w| format!("{w:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            c.rule
        );
    }
}
