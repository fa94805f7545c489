//! Errors name what was wrong and where, never a value of the row; forward-compatible input is
//! accepted.

use crate::common::{build, example, lambda_envelope, Opts};
use cdc_models::{Operation, Table};
use consumer_sdk::{Change, ColumnState, Error, ErrorKind, Event, ImageSide, JsonType};
use serde_json::{json, Value};

fn agent_update() -> Value {
    let row = example(Table::AgentStates);
    build(
        Table::AgentStates,
        Operation::Update,
        Some(&row),
        Some(&row),
        &Opts::default(),
    )
    .detail
}

fn parse_err(detail: &Value) -> Error {
    Change::from_detail_value(detail).expect_err("must not parse")
}

const PII: &str = "priya.raman@example.com";

#[test]
fn a_pii_value_of_the_wrong_type_is_never_in_the_error() {
    // Integer column, UUID column, date-time column, key column, array element.
    let cases: &[(&str, &str, &str)] = &[
        ("after", "state_version", "$.after.state_version: expected an integer, found a string"),
        ("after", "team_id", "$.after.team_id: invalid value: expected a UUID string or null, found a string"),
        ("before", "state_since", "$.before.state_since: invalid value: expected an RFC 3339 date-time string, found a string"),
        ("keys", "agent_id", "$.keys.agent_id: invalid value: expected a UUID string, found a string"),
    ];
    for (section, column, message) in cases {
        let mut d = agent_update();
        d[*section][*column] = json!(PII);
        let err = parse_err(&d);
        let text = err.to_string();
        assert_eq!(&text, message);
        assert!(!text.contains(PII) && !text.contains("priya"), "{text}");
        assert!(!format!("{err:?}").contains("priya"));
        assert_eq!(err.path(), format!("$.{section}.{column}"));
    }

    // An enum column accepts any string (a value a newer schema added), but not another type.
    let mut d = agent_update();
    d["after"]["state"] = json!(PII);
    assert!(Change::from_detail_value(&d).is_ok());
    d["after"]["state"] = json!(4127);
    let err = parse_err(&d);
    assert_eq!(err.path(), "$.after.state");
    assert!(!err.to_string().contains("4127"), "{err}");

    // Through the envelope the path starts at the detail.
    let mut d = agent_update();
    d["after"]["interactions_in_progress"] = json!(PII);
    let err = Event::from_json(&lambda_envelope(&d, None).to_string()).unwrap_err();
    assert_eq!(err.path(), "$.detail.after.interactions_in_progress");
    assert_eq!(
        err.kind(),
        &ErrorKind::WrongType {
            expected: "an integer".into(),
            found: JsonType::String
        }
    );

    // Inside an array column; and a number where a string is expected (serde would echo it).
    let row = example(Table::Customers);
    let mut d = build(
        Table::Customers,
        Operation::Insert,
        None,
        Some(&row),
        &Opts::default(),
    )
    .detail;
    d["after"]["tags"] = json!(["broadband", 447700900456_i64]);
    let err = parse_err(&d);
    assert_eq!(err.path(), "$.after.tags[1]");
    assert!(!err.to_string().contains("447700900456"), "{err}");
    d["after"]["tags"] = json!(["broadband"]);
    d["after"]["phone"] = json!(447700900456_i64);
    let err = parse_err(&d);
    assert_eq!(
        err.to_string(),
        "$.after.phone: expected a string or null, found an integer"
    );
}

#[test]
fn a_nested_object_key_inside_a_column_is_hidden_in_the_path() {
    // invoices.lines is an array of typed objects {label, quantity, unit_price, amount}.
    let table = Table::Invoices;
    let row = example(table);
    let mut d = build(table, Operation::Insert, None, Some(&row), &Opts::default()).detail;
    d["after"]["lines"][0]["quantity"] = json!(PII);
    let err = parse_err(&d);
    assert_eq!(err.path(), "$.after.lines[0].*");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::WrongType {
                found: JsonType::String,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("priya"), "{err}");
}

#[test]
fn missing_and_malformed_contract_fields_name_their_path() {
    let mut d = agent_update();
    d.as_object_mut().unwrap().remove("eventId");
    assert_eq!(
        parse_err(&d).to_string(),
        "$: missing required field `eventId`"
    );

    let mut d = agent_update();
    d["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("sourceFormat");
    assert_eq!(
        parse_err(&d).to_string(),
        "$.metadata: missing required field `sourceFormat`"
    );

    let mut d = agent_update();
    d["operation"] = json!("MERGE");
    let err = parse_err(&d);
    assert_eq!(err.path(), "$.operation");
    assert!(matches!(err.kind(), ErrorKind::InvalidValue { .. }));

    let mut d = agent_update();
    d["timestamp"] = json!(1732531132);
    let err = parse_err(&d);
    assert_eq!(err.path(), "$.timestamp");
    assert!(matches!(
        err.kind(),
        ErrorKind::WrongType {
            found: JsonType::Integer,
            ..
        }
    ));
    assert!(!err.to_string().contains("1732531132"), "{err}");

    let mut d = agent_update();
    d["timestamp"] = json!("25/11/2026 10:38");
    assert_eq!(
        parse_err(&d).to_string(),
        "$.timestamp: invalid value: expected an RFC 3339 date-time string, found a string"
    );

    let mut d = agent_update();
    d["metadata"]["sequenceNumber"] = json!("49590338x");
    let err = parse_err(&d);
    assert_eq!(err.path(), "$.metadata.sequenceNumber");
    assert!(!err.to_string().contains("49590338x"));

    let mut d = agent_update();
    d.as_object_mut().unwrap().remove("afterImage");
    assert_eq!(
        parse_err(&d).to_string(),
        "$: missing required field `afterImage`"
    );

    let mut d = agent_update();
    d["keys"] = json!({});
    assert_eq!(
        parse_err(&d).to_string(),
        "$.keys: missing required field `agent_id`"
    );

    let err = Change::from_detail_json("[1, 2]").unwrap_err();
    assert_eq!(err.path(), "$");
    assert!(matches!(
        err.kind(),
        ErrorKind::WrongType {
            found: JsonType::Array,
            ..
        }
    ));

    let err = Event::from_json("{\"detail\": ").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Syntax { .. }), "{err}");
}

#[test]
fn an_unsupported_major_version_is_a_clear_error() {
    let mut d = agent_update();
    d["version"] = json!("2.0");
    let err = parse_err(&d);
    assert_eq!(
        err.to_string(),
        "$.version: unsupported detail version 2.0: this consumer-sdk reads version 1.x"
    );
    // Even when the rest of the detail has changed shape.
    let err =
        Change::from_detail_json(r#"{"version": "2.1", "table": "agent_states", "rows": []}"#)
            .unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::UnsupportedVersion { supported: 1, .. }
    ));
    // A newer minor version is read.
    let mut d = agent_update();
    d["version"] = json!("1.7");
    assert_eq!(Change::from_detail_value(&d).unwrap().version().minor, 7);
    // Not a version at all.
    let mut d = agent_update();
    d["version"] = json!("latest");
    assert!(matches!(
        parse_err(&d).kind(),
        ErrorKind::InvalidValue { .. }
    ));
}

#[test]
fn other_detail_types_are_refused() {
    let mut env = lambda_envelope(&agent_update(), None);
    env["detail-type"] = json!("CDC.Heartbeat");
    let err = Event::from_value(&env).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"$["detail-type"]: detail-type is `CDC.Heartbeat`, expected `CDC.TableChange`"#
    );
}

#[test]
fn added_columns_tables_and_metadata_fields_are_ignored_or_kept_raw() {
    let mut d = agent_update();
    d["after"]["headset_battery_pct"] = json!(71);
    d["before"]["headset_battery_pct"] = json!(80);
    d["metadata"]["lsn"] = json!("0/16B3748");
    d["newTopLevelField"] = json!({"anything": true});
    let change = Change::from_detail_value(&d).unwrap();
    assert_eq!(change.table(), Some(Table::AgentStates));
    assert_eq!(
        change.column_state(ImageSide::After, "headset_battery_pct"),
        ColumnState::Absent
    );
    assert!(change
        .after_json()
        .unwrap()
        .get("headset_battery_pct")
        .is_none());

    let mut d = agent_update();
    d["table"] = json!("agent_headsets");
    d["after"]["headset_battery_pct"] = json!(71);
    d["before"]["headset_battery_pct"] = json!(80);
    d["redactions"] = json!({"serial_number": "tokenize"});
    let change = Change::from_detail_value(&d).unwrap();
    let Change::Unknown(raw) = &change else {
        panic!("an unknown table is raw")
    };
    assert_eq!(change.table(), None);
    assert_eq!(change.table_name(), "agent_headsets");
    assert_eq!(raw.after.as_ref().unwrap()["headset_battery_pct"], 71);
    assert_eq!(change.changed_columns(), ["headset_battery_pct"]);
    assert_eq!(
        change.column_state(ImageSide::After, "serial_number"),
        ColumnState::Absent
    );
    assert_eq!(
        change.redactions()["serial_number"],
        consumer_sdk::Redaction::Other("tokenize".into())
    );
    assert!(change.image_dyn(ImageSide::After).is_none());
}

#[test]
fn changed_columns_of_an_update() {
    let table = Table::AgentStates;
    let before = example(table);
    let mut after = before.clone();
    after["state"] = json!("after_call_work");
    after["previous_state"] = json!("on_call");
    after["acw_ends_at"] = json!("2026-11-25T10:45:00Z"); // null → value
    after["state_version"] = json!(4128);
    after["softphone_ip_address"] = json!("203.0.113.99"); // hashed: still comparable
    let built = build(
        table,
        Operation::Update,
        Some(&before),
        Some(&after),
        &Opts::default(),
    );
    let change = Change::from_detail_value(&built.detail).unwrap();
    assert_eq!(
        change.changed_columns(),
        [
            "acw_ends_at",
            "previous_state",
            "softphone_ip_address",
            "state",
            "state_version"
        ]
    );
    assert!(change.column_changes().undetermined.is_empty());

    // Masked columns cannot be compared.
    let table = Table::Customers;
    let before = example(table);
    let mut after = before.clone();
    after["status"] = json!("blocked");
    let built = build(
        table,
        Operation::Update,
        Some(&before),
        Some(&after),
        &Opts::default(),
    );
    let change = Change::from_detail_value(&built.detail).unwrap();
    let masked: Vec<&str> = built
        .redactions
        .iter()
        .filter(|(_, p)| *p == "mask" || *p == "partial")
        .map(|(c, _)| c.as_str())
        .collect();
    assert!(
        !masked.is_empty(),
        "customers has masked or partial columns"
    );
    assert_eq!(change.changed_columns(), ["status"]);
    let undetermined = change.column_changes().undetermined;
    for c in &masked {
        assert!(undetermined.contains(c), "{c} is undetermined");
    }

    // Not an update: nothing changed by definition.
    let insert = build(
        table,
        Operation::Insert,
        None,
        Some(&after),
        &Opts::default(),
    );
    assert!(Change::from_detail_value(&insert.detail)
        .unwrap()
        .changed_columns()
        .is_empty());
}

#[test]
fn dedupe_key_is_the_event_id_and_replays_are_flagged() {
    let d = agent_update();
    let first = Event::from_value(&lambda_envelope(&d, None)).unwrap();
    let mut redelivered = lambda_envelope(&d, Some("wallboards-backfill-2026-11-25"));
    redelivered["id"] = json!("0b7c2a55-2f43-4f0e-8f4e-6f1d3f5d9a12");
    let replayed = Event::from_value(&redelivered).unwrap();
    assert_ne!(
        first.envelope.as_ref().unwrap().id,
        replayed.envelope.as_ref().unwrap().id
    );
    assert_eq!(first.dedupe_key(), replayed.dedupe_key());
    assert!(!first.is_replay());
    assert!(replayed.is_replay());
    assert_eq!(
        replayed.replay_name(),
        Some("wallboards-backfill-2026-11-25")
    );
    let bare = Event::from_value(&d).unwrap();
    assert!(bare.envelope.is_none());
    assert_eq!(bare.dedupe_key(), first.dedupe_key());
}
