//! Every table, every operation, redaction on and off, in the three forms a consumer receives:
//! the event parses into the table's variant with values equal to what was published.

use crate::common::{build, builds_for, example, lambda_envelope, sqs_body, Built, Opts};
use cdc_models::{AnyImage, Operation, Table};
use consumer_sdk::{
    Change, ColumnState, Event, ImageCompleteness, ImageSide, Redaction, SourceFormat,
};
use pretty_assertions::assert_eq;
use serde_json::Value;

/// Compares the typed variant against the published typed images, table by table.
macro_rules! typed_check {
    ($(($variant:ident, $module:ident, $row:ident, $image:ident, $key:ident)),* $(,)?) => {
        fn check_typed(change: &Change, built: &Built) {
            match change {
                $(
                    Change::$variant(c) => {
                        let unwrap = |img: &Option<AnyImage>| match img {
                            Some(AnyImage::$variant(i)) => Some(i.clone()),
                            None => None,
                            Some(other) => panic!("fixture image of the wrong table: {:?}", other.table()),
                        };
                        assert_eq!(c.before, unwrap(&built.before), "{}: before", built.table);
                        assert_eq!(c.after, unwrap(&built.after), "{}: after", built.table);
                        assert_eq!(c.table(), Table::$variant);
                        let expected_keys: Option<cdc_models::generated::$module::$key> =
                            match built.operation {
                                Operation::Truncate => None,
                                _ => Some(serde_json::from_value(built.keys.clone()).unwrap()),
                            };
                        assert_eq!(c.keys, expected_keys, "{}: keys", built.table);
                    }
                )*
                Change::Unknown(_) => panic!("{}: parsed as an unknown table", built.table),
                _ => panic!("{}: a variant this test does not know", built.table),
            }
        }
    };
}
cdc_models::for_each_table!(typed_check);

/// What a consumer must see for `column` on one side, from the published JSON and redactions.
fn expected_state(built: &Built, image: Option<&Value>, column: &str) -> ColumnState {
    let redaction = built
        .redactions
        .get(column)
        .map(|r| Redaction::from_name(r));
    match image.and_then(|i| i.get(column)) {
        None if redaction == Some(Redaction::Remove) => ColumnState::Redacted(Redaction::Remove),
        None => ColumnState::Absent,
        Some(Value::Null) => ColumnState::Null,
        Some(_) => match redaction {
            Some(r) if r != Redaction::Remove => ColumnState::Redacted(r),
            _ => ColumnState::Value,
        },
    }
}

fn check(change: &Change, built: &Built) {
    let d = &built.detail;
    assert_eq!(change.table(), Some(built.table));
    assert_eq!(change.table_name(), built.table.name());
    assert_eq!(change.operation(), built.operation);
    assert_eq!(change.event_id(), d["eventId"].as_str().unwrap());
    assert_eq!(change.dedupe_key(), d["eventId"].as_str().unwrap());
    assert_eq!(change.event_type(), built.table.meta().event_type);
    assert_eq!(change.version().to_string(), "1.0");
    assert_eq!(
        change
            .timestamp()
            .to_rfc3339_opts(consumer_sdk::chrono::SecondsFormat::AutoSi, true),
        d["timestamp"].as_str().unwrap()
    );
    let m = change.metadata();
    assert_eq!(m.transaction_id.as_deref(), Some("txn-884213"));
    assert_eq!(
        m.sequence_number.as_ref().unwrap().as_str(),
        d["metadata"]["sequenceNumber"].as_str().unwrap()
    );
    assert_eq!(m.sub_sequence_number, None);
    assert_eq!(m.shard_id.as_deref(), Some("shardId-000000000006"));
    assert_eq!(m.source_format, SourceFormat::Debezium);
    assert_eq!(m.snapshot, built.operation == Operation::Snapshot);

    // Images, keys and redactions equal to what was published.
    assert_eq!(
        change.before_json(),
        d["before"].as_object().cloned().map(Value::Object)
    );
    assert_eq!(
        change.after_json(),
        d["after"].as_object().cloned().map(Value::Object)
    );
    assert_eq!(change.keys_json(), built.keys);
    let redactions: std::collections::BTreeMap<String, String> = change
        .redactions()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().to_string()))
        .collect();
    assert_eq!(redactions, built.redactions);
    let completeness = |v: &Value| match v.as_str() {
        Some("full") => Some(ImageCompleteness::Full),
        Some("partial") => Some(ImageCompleteness::Partial),
        _ => None,
    };
    assert_eq!(change.info().before_image, completeness(&d["beforeImage"]));
    assert_eq!(change.info().after_image, completeness(&d["afterImage"]));

    // Every column's state on both sides.
    for field in built.table.meta().fields {
        for (side, image) in [
            (
                ImageSide::Before,
                d["before"].as_object().map(|_| &d["before"]),
            ),
            (
                ImageSide::After,
                d["after"].as_object().map(|_| &d["after"]),
            ),
        ] {
            assert_eq!(
                change.column_state(side, field.name),
                expected_state(built, image, field.name),
                "{}.{} ({side:?})",
                built.table,
                field.name
            );
        }
    }
    check_typed(change, built);
}

#[test]
fn every_table_every_operation_parses_into_its_variant_with_equal_values() {
    let mut checked = 0;
    for &table in Table::ALL {
        for redact in [true, false] {
            for built in builds_for(table, redact) {
                let detail_text = built.detail.to_string();
                // Bare detail.
                let change = Change::from_detail_json(&detail_text)
                    .unwrap_or_else(|e| panic!("{table} {}: {e}", built.operation));
                check(&change, &built);
                // Lambda target payload (with account), and its auto-detection.
                let envelope = lambda_envelope(&built.detail, None).to_string();
                let event = Event::from_envelope_json(&envelope).unwrap();
                assert_eq!(
                    event.envelope.as_ref().unwrap().account.as_deref(),
                    Some("123456789012")
                );
                check(&event.change, &built);
                assert_eq!(Event::from_json(&envelope).unwrap(), event);
                // SQS body from a rule target (no account).
                let event = Event::from_sqs_body(&sqs_body(&built.detail)).unwrap();
                assert_eq!(event.envelope.as_ref().unwrap().account, None);
                assert!(!event.is_replay());
                check(&event.change, &built);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, Table::ALL.len() * 2 * 7);
}

#[test]
fn redaction_is_visible_per_column_and_policy() {
    let mut redacted_columns = 0;
    for &table in Table::ALL {
        let row = example(table);
        let built = build(table, Operation::Insert, None, Some(&row), &Opts::default());
        let plain = build(
            table,
            Operation::Insert,
            None,
            Some(&row),
            &Opts {
                redact: false,
                ..Opts::default()
            },
        );
        let change = Change::from_detail_value(&built.detail).unwrap();
        let unredacted = Change::from_detail_value(&plain.detail).unwrap();
        assert!(unredacted.redactions().is_empty());
        let projection = table.meta().default_projection();
        for (i, field) in table.meta().fields.iter().enumerate() {
            let Some(policy) = field.policy else { continue };
            if !projection.contains(i) {
                continue;
            }
            let state = change.column_state(ImageSide::After, field.name);
            let plain_state = unredacted.column_state(ImageSide::After, field.name);
            if row[field.name].is_null() {
                // NULL has nothing to hide; `remove` still drops the column.
                assert!(
                    matches!(
                        state,
                        ColumnState::Null | ColumnState::Redacted(Redaction::Remove)
                    ),
                    "{table}.{}: {state:?}",
                    field.name
                );
                assert_eq!(plain_state, ColumnState::Null);
                continue;
            }
            assert_eq!(
                state,
                ColumnState::Redacted(Redaction::from_name(policy.as_str())),
                "{table}.{}",
                field.name
            );
            assert_eq!(plain_state, ColumnState::Value, "{table}.{}", field.name);
            // The typed change also resolves the schema's exact policy.
            assert_eq!(redaction_policy(&change, field.name), Some(policy));
            redacted_columns += 1;
        }
    }
    assert!(
        redacted_columns > 50,
        "only {redacted_columns} redacted columns seen"
    );
}

macro_rules! policy_of {
    ($(($variant:ident, $module:ident, $row:ident, $image:ident, $key:ident)),* $(,)?) => {
        fn redaction_policy(change: &Change, column: &str) -> Option<cdc_models::RedactPolicy> {
            match change {
                $( Change::$variant(c) => c.redaction_policy(column), )*
                _ => None,
            }
        }
    };
}
cdc_models::for_each_table!(policy_of);

#[test]
fn a_partial_image_is_told_from_a_full_one() {
    let row = example(Table::AgentStates);
    let built = build(
        Table::AgentStates,
        Operation::Update,
        Some(&row),
        Some(&row),
        &Opts {
            before_partial: true,
            ..Opts::default()
        },
    );
    let Change::AgentStates(c) = Change::from_detail_value(&built.detail).unwrap() else {
        panic!("agent_states")
    };
    assert_eq!(c.info.before_image, Some(ImageCompleteness::Partial));
    assert_eq!(c.info.after_image, Some(ImageCompleteness::Full));
    assert!(c.before_row().is_none(), "a key-only before is not a row");
    let after = c.after_row().expect("agent_states publishes every column");
    assert_eq!(after.state_version, 4127);
    assert_eq!(
        c.column_state(ImageSide::Before, "state"),
        ColumnState::Absent
    );
    // Only the key is comparable; everything else in `after` is undetermined.
    let changes = c.column_changes();
    assert!(changes.changed.is_empty());
    assert!(changes.undetermined.contains(&"state"));
    assert!(!changes.undetermined.contains(&"agent_id"));
}

#[test]
fn a_projected_table_is_full_but_lacks_unpublished_columns() {
    // users publishes id, name, status, updated_at; email/phone/ssn are redacted, and outside
    // the projection anyway.
    let row = example(Table::Users);
    let built = build(
        Table::Users,
        Operation::Insert,
        None,
        Some(&row),
        &Opts::default(),
    );
    let change = Change::from_detail_value(&built.detail).unwrap();
    assert_eq!(change.info().after_image, Some(ImageCompleteness::Full));
    assert_eq!(
        change.column_state(ImageSide::After, "name"),
        ColumnState::Value
    );
    assert_eq!(
        change.column_state(ImageSide::After, "email"),
        ColumnState::Absent
    );
    let after = change.image_dyn(ImageSide::After).unwrap();
    assert!(!after.is_full());
    assert!(after.missing_columns().contains(&"email"));
}
