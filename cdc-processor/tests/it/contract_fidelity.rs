//! Issue 22: what schema-valid rows no one here wrote found. Each finding is one record (or a few)
//! in one batch through the in-memory pipeline, with the disposition the documented rule gives
//! (`docs/formats.md`, `docs/cdc-event.md`); every published detail validates against its table's
//! generated Draft 4 event schema, and no error message repeats a value.

use crate::support::*;
use cdc_processor::pipeline::Disposition;
use cdc_processor::ErrorCode;
use serde_json::{json, Value};

/// What a record must become.
#[derive(Debug)]
enum Want {
    /// Published; the check runs on its detail.
    Published(fn(&Value)),
    /// Dead-lettered with this category.
    Dead(ErrorCode),
    /// Dead-lettered as VALIDATION_ERROR with exactly this message.
    Says(&'static str),
}

/// A value planted in bad records: no error message may repeat it.
const SECRET: &str = "SECRET-7f3a";

fn user(op: &str, before: Value, after: Value) -> Vec<u8> {
    trigger("users", op, before, after)
}

fn users_row(overrides: &[(&str, Value)]) -> Value {
    let mut row = example("users");
    for (k, v) in overrides {
        row.insert(k.to_string(), v.clone());
    }
    Value::Object(row)
}

fn debezium(op: &str, before: Value, after: Value) -> Vec<u8> {
    json!({"before": before, "after": after, "op": op, "ts_ms": 1_764_065_700_100u64,
           "source": {"connector": "postgresql", "ts_ms": 1_764_065_700_000u64,
                      "snapshot": "false", "schema": "public", "table": "users", "txId": 901}})
    .to_string()
    .into_bytes()
}

fn dms_insert(transaction_id: Value) -> Vec<u8> {
    json!({"data": users_row(&[]),
           "metadata": {"timestamp": "2026-11-25T10:40:00.000000Z", "record-type": "data",
                        "operation": "insert", "partition-key-type": "schema-table",
                        "schema-name": "public", "table-name": "users",
                        "transaction-id": transaction_id}})
    .to_string()
    .into_bytes()
}

/// The trigger record of a users INSERT with this text spliced in after `table` (duplicates).
fn raw_user_insert(splice: &str) -> Vec<u8> {
    format!(
        r#"{{"table":"users",{splice}"operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{}}}"#,
        users_row(&[])
    )
    .into_bytes()
}

fn cases() -> Vec<(&'static str, Vec<u8>, Want)> {
    use Want::*;
    let (parse, invalid) = (ErrorCode::ParseError, ErrorCode::ValidationError);
    let row = users_row(&[]);
    vec![
        // 1. Members a jsonb column's schema allows but does not name are kept, as they came.
        ("jsonb object with an unnamed member", {
            let mut location = example("sites")["location"].clone();
            location["building_code"] = json!("B7");
            insert_example("sites", &[("location", location)])
        }, Published(|d| assert_eq!(d["after"]["location"]["building_code"], "B7"))),
        ("jsonb array items with an unnamed member", {
            let mut lines = example("invoices")["lines"].clone();
            lines[0]["cost_centre"] = json!({"code": "CC-12", "split": [1, 2]});
            insert_example("invoices", &[("lines", lines)])
        }, Published(|d| assert_eq!(d["after"]["lines"][0]["cost_centre"], json!({"code": "CC-12", "split": [1, 2]})))),
        // 3. INSERT and SNAPSHOT have no `before`, as DELETE has no `after`.
        ("INSERT with before", user("INSERT", row.clone(), row.clone()), Dead(invalid)),
        ("SNAPSHOT with before", user("SNAPSHOT", row.clone(), row.clone()), Dead(invalid)),
        ("Debezium c with before", debezium("c", row.clone(), row.clone()), Dead(invalid)),
        ("Debezium r with before", debezium("r", row.clone(), row.clone()), Dead(invalid)),
        ("INSERT without before", user("INSERT", Value::Null, row.clone()),
         Published(|d| assert!(d["before"].is_null()))),
        // 4. Years beyond 9999 in UTC are not RFC 3339: rejected, in a column or the envelope.
        ("column in year 10000 in UTC",
         user("INSERT", Value::Null, users_row(&[("updated_at", json!("9999-12-31T23:30:00-01:00"))])),
         Dead(invalid)),
        ("envelope in year 10000 in UTC",
         json!({"table": "users", "operation": "INSERT", "timestamp": "9999-12-31T23:30:00-01:00",
                "after": row}).to_string().into_bytes(),
         Dead(parse)),
        ("column in year -1 in UTC",
         user("INSERT", Value::Null, users_row(&[("updated_at", json!("0000-01-01T00:30:00+01:00"))])),
         Dead(invalid)),
        ("column at the end of 9999 in UTC",
         user("INSERT", Value::Null, users_row(&[("updated_at", json!("9999-12-31T23:30:00+01:00"))])),
         Published(|d| assert_eq!(d["after"]["updated_at"], "9999-12-31T22:30:00Z"))),
        // 7. Fractions beyond nanoseconds: exact (trailing zeros) or rejected, never cut.
        ("column with 10 fractional digits",
         user("INSERT", Value::Null, users_row(&[("updated_at", json!("2026-11-25T10:14:31.1234567891Z"))])),
         Dead(invalid)),
        ("DMS layout with 10 fractional digits",
         user("INSERT", Value::Null, users_row(&[("updated_at", json!("2026-11-25 10:14:31.1234567891"))])),
         Dead(invalid)),
        ("envelope with 10 fractional digits",
         json!({"table": "users", "operation": "INSERT", "timestamp": "2026-11-25T10:14:31.1234567891Z",
                "after": row}).to_string().into_bytes(),
         Dead(parse)),
        ("column with 9 digits and zeros",
         user("INSERT", Value::Null, users_row(&[("updated_at", json!("2026-11-25T10:14:31.1234567890000Z"))])),
         Published(|d| assert_eq!(d["after"]["updated_at"], "2026-11-25T10:14:31.123456789Z"))),
        // 6. Domain names are case-insensitive.
        ("email with an upper-case IDNA domain",
         insert_example("customers", &[("email", json!("annek@F.F.XN--4GBRIM"))]),
         Published(|d| assert_eq!(d["table"], "customers"))),
        ("email without a domain",
         insert_example("customers", &[("email", json!(format!("{SECRET}@")))]),
         Dead(invalid)),
        // 8. A member given twice is ambiguous.
        ("operation twice", raw_user_insert(r#""operation":"DELETE","#), Dead(parse)),
        ("timestamp twice", raw_user_insert(r#""timestamp":"2020-01-01T00:00:00Z","#), Dead(parse)),
        ("Debezium op twice in the payload",
         format!(r#"{{"schema":{{}},"payload":{{"op":"c","op":"d","after":{row},"source":{{"table":"users","ts_ms":1764065700000}}}}}}"#).into_bytes(),
         Dead(parse)),
        // 9. A transaction id that is neither a string nor a number.
        ("object transaction id",
         json!({"table": "users", "operation": "INSERT", "timestamp": "2026-11-25T10:14:31Z",
                "transaction_id": {"id": SECRET}, "after": row}).to_string().into_bytes(),
         Dead(parse)),
        ("array transaction id",
         json!({"table": "users", "operation": "INSERT", "timestamp": "2026-11-25T10:14:31Z",
                "transaction_id": [1], "after": row}).to_string().into_bytes(),
         Dead(parse)),
        ("DMS boolean transaction id", dms_insert(json!(true)), Dead(parse)),
        ("DMS number transaction id", dms_insert(json!(1139)),
         Published(|d| assert_eq!(d["metadata"]["transactionId"], "1139"))),
        // 10. An UPDATE that changes the key says so: `metadata.previousKeys` is the old key.
        ("UPDATE changing the key",
         user("UPDATE", users_row(&[("id", json!("00000000-0000-4000-8000-000000000001"))]), row.clone()),
         Published(|d| {
             assert_eq!(d["operation"], "UPDATE");
             assert_eq!(d["keys"]["id"], "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21");
             assert_eq!(d["metadata"]["previousKeys"], json!({"id": "00000000-0000-4000-8000-000000000001"}));
         })),
        ("UPDATE keeping the key",
         user("UPDATE", row.clone(), row.clone()),
         Published(|d| assert!(d["metadata"].get("previousKeys").is_none()))),
        // 11. Messages that say what is wrong (and never the value).
        ("id under its minimum",
         insert_example("customers", &[("id", json!(0))]),
         Says("after.id: below the minimum 1")),
        ("lone surrogate",
         format!(r#"{{"table":"users","operation":"INSERT","timestamp":"2026-11-25T10:14:31Z","after":{}}}"#,
                 users_row(&[]).to_string().replace("Priya Raman", "Priya \\ud800 Raman")).into_bytes(),
         Says("after.name: a string holding a lone UTF-16 surrogate escape, which is not Unicode text")),
        ("a number among strings",
         insert_example("customers", &[("tags", json!(["a", 1]))]),
         Says("after.tags[1]: got a number, which the column's item type does not accept")),
        ("an integer beyond the item type",
         String::from_utf8(insert_example("csat_summaries", &[("score_distribution", json!([1, 2, "BIG", 4, 5]))]))
             .unwrap().replace("\"BIG\"", "1e20").into_bytes(),
         Says("after.score_distribution[2]: got a number out of the item type's range (or not an integer)")),
        // 12. Generated enums accept any string (consumers built against an older crate read a
        // newer schema's values), so the processor checks values against the schema's `enum`:
        // a value the schema does not list is still refused, at any depth, in every format.
        ("unknown enum value (trigger)",
         insert_example("agent_states", &[("state", json!(SECRET))]),
         Says("after.state: not a value the schema lists, expected one of: offline, available, on_call, on_chat, after_call_work, break, lunch, training, meeting, unavailable")),
        ("unknown enum value (debezium)",
         debezium("c", Value::Null, users_row(&[("status", json!(SECRET))])),
         Says("after.status: not a value the schema lists, expected one of: invited, active, inactive, suspended, deleted")),
        ("unknown enum value (dms)",
         String::from_utf8(dms_insert(json!("901"))).unwrap()
             .replacen("\"status\":\"active\"", &format!("\"status\":\"{SECRET}\""), 1).into_bytes(),
         Says("after.status: not a value the schema lists, expected one of: invited, active, inactive, suspended, deleted")),
        ("unknown enum value in an array",
         insert_example("skills", &[("channels", json!(["voice", SECRET]))]),
         Says("after.channels: not one of the allowed values (at /1)")),
        ("unknown enum value in a nested object",
         insert_example("routing_rules", &[("conditions", json!({"combinator": SECRET, "clauses": []}))]),
         Says("after.conditions: not one of the allowed values (at /combinator)")),
        ("known enum values still pass",
         insert_example("skills", &[("channels", json!(["voice", "sms"]))]),
         Published(|d| assert_eq!(d["after"]["channels"], json!(["voice", "sms"])))),
        // 11 (last part). 1,000 long unknown column names: the entry stays small (the first 32
        // names, each cut to 128 characters, and the count), the change is published.
        ("1,000 long unknown column names",
         user("INSERT", Value::Null, {
             let mut row = users_row(&[]);
             for i in 0..1000 {
                 row[format!("{i:04}{}", "é".repeat(296))] = json!(i);
             }
             row
         }),
         Published(|d| {
             let m = &d["metadata"];
             assert_eq!(m["droppedColumnCount"], 1000);
             let names = m["droppedColumns"].as_array().unwrap();
             assert_eq!(names.len(), 32);
             assert_eq!(names[0], format!("0000{}…", "é".repeat(124)));
             assert_eq!(names[31].as_str().unwrap().chars().count(), 129);
             assert!(d.to_string().len() < 16 * 1024);
         })),
        ("a few unknown columns are listed whole, without a count",
         user("INSERT", Value::Null, users_row(&[("zz_new", json!(1)), ("zz_newer", json!(2))])),
         Published(|d| {
             assert_eq!(d["metadata"]["droppedColumns"], json!(["zz_new", "zz_newer"]));
             assert!(d["metadata"].get("droppedColumnCount").is_none());
         })),
        // 13. `partial` hides a value no longer than keepLast whole.
        ("partial: 3 characters, keepLast 4",
         insert_example("customers", &[("phone", json!("+44"))]),
         Published(|d| assert_eq!(d["after"]["phone"], "***"))),
        ("partial: 4 characters, keepLast 4",
         insert_example("customers", &[("phone", json!("9876"))]),
         Published(|d| assert_eq!(d["after"]["phone"], "****"))),
        ("partial: 5 characters, keepLast 4",
         insert_example("customers", &[("phone", json!("98765"))]),
         Published(|d| assert_eq!(d["after"]["phone"], "*8765"))),
    ]
}

fn event_schema(table: &str) -> jsonschema::Validator {
    let path = format!(
        "{}/../cdc-models/src/generated/event-schemas/{table}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

#[tokio::test]
async fn each_finding_gets_its_documented_outcome() {
    let cases = cases();
    let mut config = redacting_config();
    config
        .set_table_allow_list(cdc_models::Table::ALL.iter().map(|t| t.name()))
        .unwrap();
    let p = pipeline(config);
    let event = kinesis_event(cases.iter().map(|(_, d, _)| d.clone()).collect());
    let report = p.process_kinesis_event(&event, "test").await;
    assert!(report.batch_item_failures.is_empty());
    assert_eq!(report.records.len(), cases.len(), "one outcome per record");
    let published = p.publisher().published();
    let mut wrong = Vec::new();
    for (outcome, (name, _, want)) in report.records.iter().zip(&cases) {
        match (&outcome.disposition, want) {
            (Disposition::Published, Want::Published(check)) => {
                let entry = published
                    .iter()
                    .find(|e| Some(&*e.event_id) == outcome.event_id.as_deref())
                    .expect("published entry");
                let d = detail(entry);
                check(&d);
                // The table's schema version (`x-cdc.version`) is in every detail.
                let table = cdc_models::Table::from_name(d["table"].as_str().unwrap()).unwrap();
                assert_eq!(d["schemaVersion"], table.meta().schema_version, "{name}");
                let errors: Vec<String> = event_schema(d["table"].as_str().unwrap())
                    .iter_errors(&d)
                    .map(|e| format!("{e} at {}", e.instance_path()))
                    .collect();
                assert!(errors.is_empty(), "{name}: {errors:?}");
                // The entry's `Time` is the detail's timestamp, so RFC 3339 too.
                assert!(!d["timestamp"].as_str().unwrap().starts_with('+'));
            }
            (Disposition::DeadLettered { code, message }, Want::Says(want)) => {
                if *code != ErrorCode::ValidationError || message != want {
                    wrong.push(format!("{name}: {code} ({message}), expected {want}"));
                }
            }
            (Disposition::DeadLettered { code, message }, Want::Dead(want)) => {
                assert!(!message.contains(SECRET), "{name}: {message}");
                if code != want {
                    wrong.push(format!("{name}: {code} ({message}), expected {want}"));
                }
            }
            (got, want) => wrong.push(format!("{name}: {got:?}, expected {want:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
