//! Schema evolution from a consumer's side (issue 22, finding 12):
//!
//! - `Change` and `Event` serialize to what the processor publishes and read back equal, for every
//!   table, operation and form (bare detail, envelope), redaction on and off;
//! - an event of a *newer* schema (a column added, a table added, enum values added at the top
//!   level, in arrays and in nested objects, a bumped `schemaVersion`) is read with today's types,
//!   and what this crate does not know comes back out unchanged where it is kept.

use crate::common::{build, builds_for, example, lambda_envelope, Opts};
use cdc_models::generated::agent_states::AgentStateState;
use cdc_models::generated::routing_rules::RoutingRuleConditionsCombinator;
use cdc_models::generated::skills::SkillChannelsItem;
use cdc_models::{Column, Operation, Table};
use consumer_sdk::{Change, Event};
use pretty_assertions::assert_eq;
use serde_json::{json, Value};

#[test]
fn every_table_round_trips_through_serde_as_the_published_detail() {
    let mut checked = 0;
    for &table in Table::ALL {
        for redact in [true, false] {
            for built in builds_for(table, redact) {
                let what = format!("{table} {} redact={redact}", built.operation);
                let change = Change::from_detail_value(&built.detail).unwrap();
                // Serialized, it is the detail the processor published (same JSON value).
                assert_eq!(
                    serde_json::to_value(&change).unwrap(),
                    built.detail,
                    "{what}"
                );
                // Stored as text and read back: equal.
                let text = serde_json::to_string(&change).unwrap();
                assert_eq!(
                    serde_json::from_str::<Change>(&text).unwrap(),
                    change,
                    "{what}"
                );
                // An event with its envelope, and a bare one, round trip too.
                let event = Event::from_value(&lambda_envelope(&built.detail, Some("r1"))).unwrap();
                let text = serde_json::to_string(&event).unwrap();
                let again: Event = serde_json::from_str(&text).unwrap();
                assert_eq!(again, event, "{what}");
                assert_eq!(again.replay_name(), Some("r1"));
                let bare = Event::from_value(&built.detail).unwrap();
                assert_eq!(
                    serde_json::from_value::<Event>(serde_json::to_value(&bare).unwrap()).unwrap(),
                    bare,
                    "{what}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, Table::ALL.len() * 2 * 7);
}

#[test]
fn a_bad_detail_fails_deserialize_with_its_path_and_without_its_value() {
    let mut detail = build(
        Table::Teams,
        Operation::Insert,
        None,
        Some(&example(Table::Teams)),
        &Opts::default(),
    )
    .detail;
    detail["timestamp"] = json!("SECRET-not-a-time");
    let err = serde_json::from_value::<Change>(detail)
        .unwrap_err()
        .to_string();
    assert!(err.contains("$.timestamp"), "{err}");
    assert!(!err.contains("SECRET"), "{err}");
}

/// A newer schema's event: `agent_states` gained a column and a state, its schema version is 2.
fn newer_agent_state() -> Value {
    let mut row = example(Table::AgentStates);
    row["state"] = json!("on_holiday");
    row["previous_state"] = json!("in_focus_time");
    let mut detail = build(
        Table::AgentStates,
        Operation::Insert,
        None,
        Some(&example(Table::AgentStates)),
        &Opts {
            redact: false,
            ..Opts::default()
        },
    )
    .detail;
    // `build` reads rows through today's types: the newer row is written in as a newer
    // processor publishes it.
    let mut after = row.clone();
    after["focus_mode"] = json!({"until": "2026-11-25T11:00:00Z"});
    detail["after"] = after;
    detail["schemaVersion"] = json!(2);
    detail
}

#[test]
fn a_newer_schemas_enum_values_columns_and_version_are_read_with_todays_types() {
    let detail = newer_agent_state();
    let change = Change::from_detail_value(&detail).expect("a newer schema's event reads");
    let Change::AgentStates(c) = &change else {
        panic!("agent_states")
    };
    let after = c.after.as_ref().unwrap();
    let state = after.state.value().unwrap();
    assert_eq!(*state, AgentStateState::Other("on_holiday".into()));
    assert!(!state.is_known());
    assert_eq!(state.as_str(), "on_holiday");
    assert_eq!(
        after.previous_state,
        Column::Value(
            cdc_models::generated::agent_states::AgentStatePreviousState::Other(
                "in_focus_time".into()
            )
        )
    );
    // Known values are still the named variants.
    assert_eq!(AgentStateState::from("on_call"), AgentStateState::OnCall);
    // The version tells a consumer the table's schema moved on.
    assert_eq!(change.info().schema_version, Some(2));
    assert!(change.info().schema_version > Some(Table::AgentStates.meta().schema_version));
    // Written back: the unknown values unchanged; the unknown column is not in the typed image.
    let out = change.to_detail_value();
    assert_eq!(out["after"]["state"], "on_holiday");
    assert_eq!(out["after"]["previous_state"], "in_focus_time");
    assert!(out["after"].get("focus_mode").is_none());
    assert_eq!(out["schemaVersion"], 2);
    assert_eq!(serde_json::from_value::<Change>(out).unwrap(), change);
}

#[test]
fn added_enum_values_inside_arrays_and_nested_objects_are_kept() {
    let mut skills = example(Table::Skills);
    skills["channels"] = json!(["voice", "carrier_pigeon"]);
    let mut detail = build(
        Table::Skills,
        Operation::Insert,
        None,
        Some(&example(Table::Skills)),
        &Opts::default(),
    )
    .detail;
    detail["after"]["channels"] = skills["channels"].clone();
    let change = Change::from_detail_value(&detail).unwrap();
    let Change::Skills(c) = &change else {
        panic!("skills")
    };
    assert_eq!(
        c.after.as_ref().unwrap().channels.value().unwrap(),
        &vec![
            SkillChannelsItem::Voice,
            SkillChannelsItem::Other("carrier_pigeon".into())
        ]
    );
    assert_eq!(
        change.to_detail_value()["after"]["channels"],
        json!(["voice", "carrier_pigeon"])
    );

    let mut detail = build(
        Table::RoutingRules,
        Operation::Insert,
        None,
        Some(&example(Table::RoutingRules)),
        &Opts::default(),
    )
    .detail;
    detail["after"]["conditions"]["combinator"] = json!("at_least_two");
    let change = Change::from_detail_value(&detail).unwrap();
    let Change::RoutingRules(c) = &change else {
        panic!("routing_rules")
    };
    let conditions = c.after.as_ref().unwrap().conditions.value().unwrap();
    assert_eq!(
        conditions.combinator,
        RoutingRuleConditionsCombinator::Other("at_least_two".into())
    );
    assert_eq!(
        change.to_detail_value()["after"]["conditions"]["combinator"],
        "at_least_two"
    );
}

#[test]
fn a_table_added_later_is_kept_whole_and_written_back_unchanged() {
    let detail = json!({"version": "1.0", "schemaVersion": 1, "eventId": "e9",
        "eventType": "coffee_machine.changed", "table": "coffee_machines", "operation": "UPDATE",
        "timestamp": "2026-11-25T10:38:52Z", "before": {"id": 7, "beans": "low"},
        "beforeImage": "full", "after": {"id": 7, "beans": "full", "descaled": true},
        "afterImage": "full", "keys": {"id": 7}, "redactions": {},
        "metadata": {"transactionId": null, "sequenceNumber": "17", "subSequenceNumber": null,
                     "shardId": "shardId-000000000006", "sourceFormat": "dms", "snapshot": false}});
    let change = Change::from_detail_value(&detail).unwrap();
    assert!(matches!(change, Change::Unknown(_)));
    assert_eq!(change.to_detail_value(), detail);
    let text = serde_json::to_string(&change).unwrap();
    assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), change);
}

/// Every enum of every table (top-level columns and array items) reads a value a newer schema
/// added and writes it back unchanged.
#[test]
fn every_generated_enum_keeps_a_value_it_does_not_know() {
    let mut checked = 0;
    for &table in Table::ALL {
        let schema: Value = serde_json::from_str(table.schema_json()).unwrap();
        for (column, s) in schema["properties"].as_object().unwrap() {
            let new_value = if s.get("enum").is_some() {
                json!("zz_added_later")
            } else if s["items"].get("enum").is_some() {
                json!(["zz_added_later"])
            } else {
                continue;
            };
            let mut row = example(table);
            row[column.as_str()] = new_value.clone();
            let image = cdc_models::AnyImage::deserialize(table, &row)
                .unwrap_or_else(|e| panic!("{table}.{column}: {e}"));
            assert_eq!(
                image.as_dyn().to_json_value()[column.as_str()],
                new_value,
                "{table}.{column}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}
