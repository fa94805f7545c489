//! Tests of validation: the readers, the operation's rules, the row check.

use super::format::email_is_valid;
use super::read::{has_debezium_placeholder, ImageReader};
use super::rules::integers_fit_i64;
use super::*;
use crate::error::ErrorCode;
use crate::formats::SourceFormat;
use crate::formats::{decode, Decoded, FormatOptions};
use crate::sequence::Position;
use serde_json::value::RawValue;
use serde_json::Value;
use std::sync::Arc;

#[test]
fn debezium_placeholders_are_found_anywhere() {
    for (text, found) in [
        (r#"{"a":"__debezium_unavailable_value"}"#, true),
        (
            r#"{"a":1,"b":"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="}"#,
            true,
        ),
        (r#"{"a":"__debezium_unavailable_valu"}"#, false),
        (r#"{"a":"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ"}"#, false),
        ("{}", false),
    ] {
        assert_eq!(has_debezium_placeholder(text), found, "{text}");
    }
}

/// A Debezium record whose schema declares a binary decimal: the fast path normalizes it
/// while streaming (before, it took the base64 text for a decimal string, failed the
/// column's pattern and left the whole image to the careful path), and reads what the
/// careful path reads.
#[test]
fn fast_path_reads_binary_decimals_the_schema_declares() {
    let schema: Box<RawValue> = RawValue::from_string(
        serde_json::json!({"type": "struct", "fields": [
            {"type": "struct", "optional": true, "field": "after", "fields": [
                {"type": "bytes", "optional": true, "field": "carrier_cost",
                 "name": "org.apache.kafka.connect.data.Decimal",
                 "parameters": {"scale": "2"}}
            ]}
        ]})
        .to_string(),
    )
    .unwrap();
    // 1234 unscaled at scale 2 = 12.34, as two big-endian bytes.
    let image: Box<RawValue> =
        RawValue::from_string(serde_json::json!({"carrier_cost": "BNI="}).to_string()).unwrap();
    let options = ValidateOptions::default();
    let reader = || {
        ImageReader::new(
            Table::Calls,
            SourceFormat::Debezium,
            &options,
            Some(&schema),
        )
    };
    let fast = reader()
        .fast_read("after", &image)
        .expect("the fast path takes it")
        .expect("a column");
    let careful = reader().read("after", &image).unwrap().expect("a column");
    assert_eq!(fast, careful);
    let mut out = Vec::new();
    fast.as_dyn().write_json(&mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"carrier_cost":"12.34"}"#
    );
}

#[test]
fn columns_are_found_in_any_order() {
    let meta = Table::TeamMembers.meta();
    let fields = meta.fields;
    for (i, f) in fields.iter().enumerate() {
        for previous in [
            None,
            Some(0),
            Some(i),
            Some(fields.len() - 1),
            Some(usize::MAX),
        ] {
            assert_eq!(
                meta.field_index_after(previous, f.name),
                Some(i),
                "{}",
                f.name
            );
        }
    }
    assert_eq!(meta.field_index_after(None, "no_such_column"), None);
    assert_eq!(
        meta.field_index_after(Some(usize::MAX), "no_such_column"),
        None
    );
    // Prefixes, extensions and names of the same length are not the column.
    for name in ["team_i", "team_idx", "user_id ", "team_xd", ""] {
        assert_eq!(meta.field_index_after(None, name), None, "{name:?}");
    }
}

/// The generated declared order is the schema text's order of every column (the text read
/// here independently of the generator, as a JSON object whose members keep their order).
#[test]
fn declared_order_is_the_schema_text_order_of_every_column() {
    let declared: Vec<&str> = Table::TeamMembers.meta().declared_names().collect();
    assert_eq!(
        declared,
        [
            "team_id",
            "user_id",
            "tenant_id",
            "member_role",
            "is_primary_team",
            "allocation_percent",
            "added_by_user_id",
            "joined_at",
            "left_at",
            "updated_at"
        ]
    );
    for table in Table::ALL {
        let meta = table.meta();
        let declared: Vec<&str> = meta.declared_names().collect();
        // Each name's first occurrence as a member holding an object (a column's schema) after
        // `"properties"` in the text, in order.
        let text = table.schema_json();
        let props = text.find("\"properties\"").expect("a properties member");
        let column_at = |name: &str| {
            let quoted = format!("\"{name}\"");
            let mut from = props;
            loop {
                let at = from + text[from..].find(&quoted).expect("column in the text");
                let rest = text[at + quoted.len()..].trim_start();
                if rest
                    .strip_prefix(':')
                    .is_some_and(|r| r.trim_start().starts_with('{'))
                {
                    return at;
                }
                from = at + 1;
            }
        };
        let mut at: Vec<(usize, &str)> = meta
            .fields
            .iter()
            .map(|f| (column_at(f.name), f.name))
            .collect();
        at.sort_unstable();
        let text_order: Vec<&str> = at.into_iter().map(|(_, n)| n).collect();
        assert_eq!(declared, text_order, "{table:?}");
        // And `declared_next` links each column to the one declared after it.
        for pair in meta.declared_order.windows(2) {
            assert_eq!(meta.declared_next[usize::from(pair[0])], pair[1]);
        }
        let last = *meta.declared_order.last().unwrap();
        assert_eq!(
            usize::from(meta.declared_next[usize::from(last)]),
            meta.fields.len()
        );
    }
}

/// The generated key and NOT NULL bit sets are the metadata's per-column flags.
#[test]
fn generated_bit_sets_match_the_columns() {
    for table in Table::ALL {
        let meta = table.meta();
        for (i, f) in meta.fields.iter().enumerate() {
            assert_eq!(meta.key_bits & (1 << i) != 0, f.key, "{table:?}.{}", f.name);
            assert_eq!(
                meta.not_null_bits & (1 << i) != 0,
                !f.nullable,
                "{table:?}.{}",
                f.name
            );
        }
        assert_eq!(meta.key_bits >> meta.fields.len(), 0);
    }
}

fn pointer() -> RecordPointer {
    RecordPointer {
        stream: Arc::<str>::from("s"),
        shard: Arc::<str>::from("shard"),
        position: Position {
            sequence: "1".parse().unwrap(),
            sub_sequence: None,
        },
        event_id: "0".repeat(32).parse().unwrap(),
    }
}

fn example(table: &str) -> serde_json::Map<String, Value> {
    let path = format!(
        "{}/../model-schemas/examples/{table}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn run(record: &Value) -> Result<Change, RecordError> {
    let text = record.to_string();
    let Decoded::Change(raw) = decode(text.as_bytes(), &FormatOptions::default(), &mut None)?
    else {
        panic!("not a change")
    };
    let table = Table::from_name(&raw.table).unwrap();
    validate(raw, table, pointer(), &ValidateOptions::default())
}

fn trigger(op: &str, before: Value, after: Value) -> Value {
    serde_json::json!({"table": "users", "operation": op, "timestamp": "2024-01-15T10:30:00Z",
        "transaction_id": "t1", "before": before, "after": after})
}

#[test]
fn full_insert_and_partial_update() {
    let row = Value::Object(example("users"));
    let c = run(&trigger("INSERT", Value::Null, row.clone())).unwrap();
    assert_eq!(c.after.unwrap().completeness, Completeness::Full);
    assert!(c.key.is_some());
    let mut partial = example("users");
    partial.retain(|k, _| k == "id" || k == "status");
    let c = run(&trigger("UPDATE", Value::Object(partial.clone()), row)).unwrap();
    assert_eq!(c.before.unwrap().completeness, Completeness::Partial);
    let err = run(&trigger("INSERT", Value::Null, Value::Object(partial))).unwrap_err();
    assert_eq!(err.code, ErrorCode::ValidationError);
    assert!(err.message.contains("full row"), "{}", err.message);
}

#[test]
fn unknown_columns_are_dropped_and_named() {
    let mut row = example("users");
    row.insert("shoe_size".into(), Value::from(44));
    let c = run(&trigger("INSERT", Value::Null, Value::Object(row))).unwrap();
    assert_eq!(c.dropped_columns, vec!["shoe_size".to_string()]);
}

#[test]
fn errors_name_the_column_not_the_value() {
    let mut row = example("users");
    row.insert("status".into(), Value::from("secret-status"));
    let err = run(&trigger("INSERT", Value::Null, Value::Object(row))).unwrap_err();
    assert!(err.message.contains("after.status"), "{}", err.message);
    assert!(!err.message.contains("secret"), "{}", err.message);
    let mut row = example("users");
    row.insert("email".into(), Value::from(17));
    let err = run(&trigger("INSERT", Value::Null, Value::Object(row))).unwrap_err();
    assert!(err.message.contains("after.email"), "{}", err.message);
    let mut row = example("users");
    row.insert("email".into(), Value::from("secret-not-an-email"));
    let err = run(&trigger("INSERT", Value::Null, Value::Object(row))).unwrap_err();
    assert!(err.message.contains("after.email"), "{}", err.message);
    assert!(!err.message.contains("secret"), "{}", err.message);
}

#[test]
fn integers_beyond_i64_are_found_outside_strings() {
    assert!(integers_fit_i64(
        r#"{"a": [1, -9223372036854775808, 1.5e400, "99999999999999999999"]}"#
    ));
    assert!(integers_fit_i64("9223372036854775807"));
    assert!(!integers_fit_i64("9223372036854775808"));
    assert!(!integers_fit_i64(
        r#"{"x": "\"", "big": 123456789012345678901234567890}"#
    ));
    assert!(!integers_fit_i64("[-9223372036854775809]"));
}

#[test]
fn bounds_from_the_schema() {
    let mut row = example("calls");
    row.insert("wait_seconds".into(), Value::from(-5));
    let mut t = trigger("INSERT", Value::Null, Value::Object(row));
    t["table"] = Value::from("calls");
    let err = run(&t).unwrap_err();
    assert!(err.message.contains("wait_seconds"), "{}", err.message);
    assert!(err.message.contains("minimum"), "{}", err.message);
}

#[test]
fn delete_needs_the_key_and_truncate_has_no_rows() {
    let err = run(&trigger(
        "DELETE",
        serde_json::json!({"status": "active"}),
        Value::Null,
    ))
    .unwrap_err();
    assert!(err.message.contains("key"), "{}", err.message);
    let c = run(&trigger("TRUNCATE", Value::Null, Value::Null)).unwrap();
    assert!(c.key.is_none());
}

#[test]
fn validate_row_reports_paths() {
    let row = Value::Object(example("customers")).to_string();
    assert_eq!(validate_row(Table::Customers, &row), Ok(()));
    let mut bad = example("customers");
    bad.remove("email");
    bad.insert("id".into(), Value::from(0));
    let problems = validate_row(Table::Customers, &Value::Object(bad).to_string()).unwrap_err();
    let text = problems.join("\n");
    assert!(text.contains("email"), "{text}");
    assert!(text.contains("/id"), "{text}");
    // A column the schema does not know: valid (the pipeline drops it), with a note.
    let mut extra = example("customers");
    extra.insert("favourite_colour".into(), Value::from("teal"));
    let notes =
        validate_row_with_notes(Table::Customers, &Value::Object(extra).to_string()).unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("row.favourite_colour"), "{notes:?}");
    assert!(!notes[0].contains("teal"));
}

/// Issue 22 (6): domain names are case-insensitive, IDNA labels included; the local part
/// and the rest of the format are still checked.
#[test]
fn email_domains_are_case_insensitive() {
    for ok in [
        "a@f.f.xn--4gbrim",
        "a@F.F.XN--4GBRIM",
        "Priya.Raman@Example.COM",
    ] {
        assert!(email_is_valid(ok), "{ok}");
    }
    for bad in [
        "no-at-sign",
        "a@",
        "@example.com",
        "a@exa mple.com",
        "a@-x.com",
    ] {
        assert!(!email_is_valid(bad), "{bad}");
    }
}

/// Whether a column's schema has checks that only a walk over the whole value makes: what is
/// left of it, once the keywords [`cdc_models::Constraints`] checks on the value itself are taken
/// away, still constrains something (`format: email`, item counts, anything inside its items or
/// members). The test's oracle, from the schema keywords.
fn column_needs_a_walk(column: &Value) -> bool {
    /// Keywords no generated Rust type checks (patterns and types are checked by the types).
    fn constrains(schema: &Value) -> bool {
        match schema {
            Value::Object(map) => map.iter().any(|(k, v)| {
                matches!(
                    k.as_str(),
                    "enum"
                        | "minimum"
                        | "maximum"
                        | "exclusiveMinimum"
                        | "exclusiveMaximum"
                        | "minLength"
                        | "maxLength"
                        | "minItems"
                        | "maxItems"
                        | "uniqueItems"
                        | "multipleOf"
                        | "minProperties"
                        | "maxProperties"
                ) || (k == "format" && v == "email")
                    || constrains(v)
            }),
            Value::Array(items) => items.iter().any(constrains),
            _ => false,
        }
    }
    let mut rest = column.clone();
    if let Some(own) = rest.as_object_mut() {
        for checked_by_constraints in [
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "minLength",
            "maxLength",
            "enum",
        ] {
            own.remove(checked_by_constraints);
        }
    }
    constrains(&rest)
}

/// The generated constraints are the schema's keywords, for every column of every table (the
/// schema read here, in the test, as the processor no longer does at run time).
#[test]
fn generated_constraints_are_the_schema_keywords() {
    for table in Table::ALL {
        let schema: Value = serde_json::from_str(table.schema_json()).unwrap();
        for f in table.meta().fields {
            let column = &schema["properties"][f.name];
            let c = &f.constraints;
            let num = |k: &str| column.get(k).and_then(Value::as_f64);
            let int = |k: &str| column.get(k).and_then(Value::as_u64);
            let text = |k: &str| column.get(k).and_then(Value::as_str);
            let at = format!("{}.{}", table.name(), f.name);
            assert_eq!(c.minimum, num("minimum"), "{at}");
            assert_eq!(c.maximum, num("maximum"), "{at}");
            assert_eq!(c.exclusive_minimum, num("exclusiveMinimum"), "{at}");
            assert_eq!(c.exclusive_maximum, num("exclusiveMaximum"), "{at}");
            assert_eq!(c.min_length, int("minLength"), "{at}");
            assert_eq!(c.max_length, int("maxLength"), "{at}");
            assert_eq!(c.pattern, text("pattern"), "{at}");
            assert_eq!(c.format, text("format"), "{at}");
            let enum_values: Option<Vec<&str>> = column
                .get("enum")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().filter_map(Value::as_str).collect());
            assert_eq!(c.enum_values.map(<[&str]>::to_vec), enum_values, "{at}");
            assert_eq!(
                c.nested.is_some(),
                column_needs_a_walk(column),
                "{at}: nested rules generated exactly for the columns that need them"
            );
            if f.kind == cdc_models::ColumnKind::Decimal {
                assert!(c.decimal_scale.is_some(), "{at}: a decimal without a scale");
            }
        }
    }
}
