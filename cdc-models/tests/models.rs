//! Every table, from its schema and example row: metaschema validity, example validity, typed
//! round trip, wrong-type rejection, and redaction with every policy.

use cdc_models::{Column, DynImage, RedactPolicy, Redactions, Redactor, Table, TableImage};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../model-schemas")
}

fn example(table: &str) -> Value {
    let path = schemas_dir().join(format!("examples/{table}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("every table needs {}: {e}", path.display()));
    serde_json::from_str(&text).expect("example is JSON")
}

fn redactor() -> Redactor {
    Redactor::new(b"test-key-0123456789abcdef-0123456789".to_vec()).unwrap()
}

#[test]
fn there_are_75_tables_and_enough_captured_by_default() {
    assert_eq!(Table::ALL.len(), 75);
    let captured = Table::ALL
        .iter()
        .filter(|t| t.meta().captured_by_default)
        .count();
    assert!(captured >= 12, "only {captured} tables captured by default");
}

#[test]
fn tables_are_sorted_and_indexed_in_order() {
    for (i, table) in Table::ALL.iter().enumerate() {
        assert_eq!(table.index(), i, "{table:?}");
    }
    assert!(Table::ALL.windows(2).all(|w| w[0] < w[1]));
    assert!(Table::ALL.windows(2).all(|w| w[0].name() < w[1].name()));
}

#[test]
fn seed_transformers_come_out_exactly() {
    let users = Table::Users.meta();
    assert_eq!(users.event_type, "user.changed");
    assert_eq!(
        users.redact_fields().collect::<BTreeSet<_>>(),
        BTreeSet::from(["email", "phone", "ssn"])
    );
    assert_eq!(
        users.include,
        cdc_models::Include::Fields(&["id", "name", "status", "updated_at"])
    );
    let orders = Table::Orders.meta();
    assert_eq!(orders.event_type, "order.changed");
    assert_eq!(
        orders
            .fields
            .iter()
            .filter(|f| f.policy == Some(RedactPolicy::Remove))
            .map(|f| f.name)
            .collect::<Vec<_>>(),
        vec!["payment_details"]
    );
    assert_eq!(
        orders.include,
        cdc_models::Include::Fields(&["id", "user_id", "status", "total", "created_at"])
    );
    let agents = Table::Agents.meta();
    assert_eq!(agents.event_type, "agent.changed");
    assert_eq!(agents.redact_fields().count(), 0);
    assert_eq!(agents.include, cdc_models::Include::All);
}

#[test]
fn every_schema_is_valid_against_its_metaschema() {
    for table in Table::ALL {
        let schema: Value = serde_json::from_str(table.schema_json()).unwrap();
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!("{table}: schema invalid against draft-07: {e}");
        }
    }
}

#[test]
fn every_event_schema_is_valid_draft4() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/generated/event-schemas");
    for table in Table::ALL {
        let text = std::fs::read_to_string(dir.join(format!("{table}.json"))).unwrap();
        let schema: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!("{table}: event schema invalid against draft-04: {e}");
        }
    }
}

#[test]
fn every_example_is_accepted_by_its_schema() {
    for table in Table::ALL {
        let schema: Value = serde_json::from_str(table.schema_json()).unwrap();
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        let row = example(table.name());
        let errors: Vec<String> = validator
            .iter_errors(&row)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{table}: {errors:?}");
    }
}

/// A copy of `row` with `column` set to a value of the wrong JSON type.
fn wrong_type(row: &Value, column: &str) -> Value {
    let mut row = row.clone();
    let bad = match &row[column] {
        Value::String(_) => Value::from(12345),
        Value::Number(_) => Value::from("not a number"),
        Value::Bool(_) => Value::from("yes"),
        Value::Object(_) | Value::Array(_) => Value::from(7),
        Value::Null => Value::from(vec![1, 2]),
    };
    row[column] = bad;
    row
}

macro_rules! per_table_checks {
    ($( ($variant:ident, $module:ident, $row:ident, $image:ident, $key:ident) ),* $(,)?) => {
        /// Round trip, wrong types and redaction for every table; returns the failures.
        fn check_all_tables() -> Vec<String> {
            let mut failures = Vec::new();
            $( check_table::<cdc_models::generated::$module::$image>(Table::$variant, &mut failures); )*
            $( check_write_json_variants::<cdc_models::generated::$module::$image>(Table::$variant, &mut failures); )*
            failures
        }
    };
}
cdc_models::for_each_table!(per_table_checks);

fn check_table<I: TableImage>(table: Table, failures: &mut Vec<String>) {
    let row = example(table.name());

    // The full-row type round-trips the example to an equal JSON value.
    match serde_json::from_value::<I::Row>(row.clone()) {
        Ok(typed) => {
            let back = serde_json::to_value(&typed).unwrap();
            if back != row {
                failures.push(format!("{table}: row round trip changed the value"));
            }
            // Row -> image -> row is lossless too.
            let image = I::from_row(typed.clone());
            if !image.is_full() {
                failures.push(format!("{table}: image of a row is not full"));
            }
            if serde_json::to_value(&image).unwrap() != row {
                failures.push(format!(
                    "{table}: image serializes differently from the row"
                ));
            }
            match image.into_row() {
                Ok(again) => {
                    if serde_json::to_value(&again).unwrap() != row {
                        failures.push(format!("{table}: image.into_row changed the value"));
                    }
                }
                Err(_) => failures.push(format!("{table}: full image did not convert to a row")),
            }
        }
        Err(e) => failures.push(format!("{table}: example does not deserialize: {e}")),
    }

    // Every NOT NULL column with a wrong type is rejected by the typed row and the image.
    for field in I::meta().fields.iter().filter(|f| !f.nullable) {
        let bad = wrong_type(&row, field.name);
        if serde_json::from_value::<I::Row>(bad.clone()).is_ok() {
            failures.push(format!(
                "{table}.{}: wrong type accepted by the row",
                field.name
            ));
        }
        if serde_json::from_value::<I>(bad).is_ok() {
            failures.push(format!(
                "{table}.{}: wrong type accepted by the image",
                field.name
            ));
        }
    }

    // A missing column makes the image partial, and the row type rejects it.
    let first = I::meta().fields[0].name;
    let mut partial = row.clone();
    partial.as_object_mut().unwrap().remove(first);
    let image: I = serde_json::from_value(partial.clone()).unwrap();
    if image.is_full() || image.missing_columns() != vec![first] {
        failures.push(format!("{table}: partial image not recognised"));
    }
    if serde_json::from_value::<I::Row>(partial).is_ok() && !I::meta().fields[0].nullable {
        failures.push(format!("{table}: row accepted a missing NOT NULL column"));
    }

    // Redaction: no redacted value survives anywhere; keys untouched.
    let mut image: I = serde_json::from_value(row.clone()).unwrap();
    let key_before = image.key();
    let mut applied = Redactions::default();
    TableImage::redact(&mut image, &redactor(), &mut applied);
    let out = serde_json::to_string(&image).unwrap();
    let debug = format!("{image:?}");
    if image.key() != key_before || key_before.is_none() {
        failures.push(format!("{table}: key changed or missing after redaction"));
    }
    for field in I::meta().fields.iter() {
        let Some(policy) = field.policy else { continue };
        let original = &row[field.name];
        if original.is_null() {
            continue;
        }
        if !applied.iter().any(|(c, p)| c == field.name && p == policy) {
            failures.push(format!("{table}.{}: redaction not recorded", field.name));
        }
        let needle = match original {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if needle.len() >= 4 && (out.contains(&needle) || debug.contains(&needle)) {
            failures.push(format!("{table}.{}: redacted value survives", field.name));
        }
        let redacted = serde_json::to_value(&image).unwrap();
        match policy {
            RedactPolicy::Remove => {
                if redacted.get(field.name).is_some() {
                    failures.push(format!("{table}.{}: removed column present", field.name));
                }
            }
            RedactPolicy::Mask => {
                if redacted[field.name] != cdc_models::MASK {
                    failures.push(format!("{table}.{}: not masked", field.name));
                }
            }
            RedactPolicy::Hash => {
                let v = redacted[field.name].as_str().unwrap_or_default();
                if !v.starts_with("hmac-sha256:") || v.len() != 12 + 64 {
                    failures.push(format!("{table}.{}: not a pseudonym", field.name));
                }
            }
            RedactPolicy::Partial { keep_last } => {
                let v = redacted[field.name].as_str().unwrap_or_default();
                let n = needle.chars().count();
                let keep = if n <= usize::from(keep_last) {
                    0
                } else {
                    usize::from(keep_last)
                };
                let tail: String = needle.chars().skip(n - keep).collect();
                if v.chars().count() != n || !v.ends_with(&tail) || !v.starts_with('*') {
                    failures.push(format!("{table}.{}: partial redaction wrong", field.name));
                }
                // Values no longer than `keepLast` (issue 22, 13) are hidden whole: the leak search
                // above skips short needles, so check the column itself, exactly.
                for len in 1..=usize::from(keep_last) {
                    let short: String = "98765432".chars().cycle().take(len).collect();
                    let mut short_row = row.clone();
                    short_row[field.name] = Value::String(short.clone());
                    let mut image: I = serde_json::from_value(short_row).unwrap();
                    TableImage::redact(&mut image, &redactor(), &mut Redactions::default());
                    let got = serde_json::to_value(&image).unwrap()[field.name].clone();
                    if got != Value::String("*".repeat(len)) {
                        failures.push(format!(
                            "{table}.{}: a value of {len} characters (keepLast {keep_last}) is not hidden whole",
                            field.name
                        ));
                    }
                    if format!("{image:?}").contains(&short) && short.len() >= 4 {
                        failures.push(format!("{table}.{}: short value in Debug", field.name));
                    }
                }
            }
            _ => failures.push(format!("{table}.{}: unknown policy", field.name)),
        }
    }
    // Redacted rows still deserialize into the image type (the redacted value fits the column).
    if serde_json::from_str::<I>(&out).is_err() {
        failures.push(format!("{table}: redacted image does not deserialize"));
    }
    check_write_json(table, &image, "redacted", failures);
}

/// The generated `write_json` writes exactly what `serde_json` writes through `Serialize`, for the
/// full example, the redacted image, a partial image with nulls and the key.
fn check_write_json<I: TableImage>(
    table: Table,
    image: &I,
    what: &str,
    failures: &mut Vec<String>,
) {
    let mut fast = Vec::new();
    TableImage::write_json(image, &mut fast).unwrap();
    if fast != serde_json::to_vec(image).unwrap() {
        failures.push(format!(
            "{table}: write_json of the {what} image differs from serde_json:\n{}\n{}",
            String::from_utf8_lossy(&fast),
            serde_json::to_string(image).unwrap()
        ));
    }
    if let Some(key) = image.key() {
        let any =
            cdc_models::AnyKey::deserialize(table, serde_json::to_value(&key).unwrap()).unwrap();
        let mut fast = Vec::new();
        any.write_json(&mut fast).unwrap();
        if fast != serde_json::to_vec(&key).unwrap() {
            failures.push(format!("{table}: key write_json differs from serde_json"));
        }
    }
}

fn check_write_json_variants<I: TableImage>(table: Table, failures: &mut Vec<String>) {
    let row = example(table.name());
    let image: I = serde_json::from_value(row.clone()).unwrap();
    check_write_json(table, &image, "example", failures);
    // Every nullable column NULL, every other odd column absent.
    let mut sparse = row.as_object().unwrap().clone();
    for (i, f) in I::meta().fields.iter().enumerate() {
        if f.nullable {
            sparse.insert(f.name.to_string(), Value::Null);
        } else if i % 2 == 1 && !f.key {
            sparse.remove(f.name);
        }
    }
    let image: I = serde_json::from_value(Value::Object(sparse)).unwrap();
    check_write_json(table, &image, "sparse", failures);
    let empty = I::default();
    check_write_json(table, &empty, "empty", failures);
}

#[test]
fn every_table_round_trips_rejects_wrong_types_and_redacts() {
    let failures = check_all_tables();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_policy_is_used_somewhere() {
    let used: BTreeSet<&str> = Table::ALL
        .iter()
        .flat_map(|t| t.meta().fields.iter())
        .filter_map(|f| f.policy.map(RedactPolicy::as_str))
        .collect();
    assert_eq!(used, BTreeSet::from(["hash", "mask", "partial", "remove"]));
}

#[test]
fn pseudonyms_are_stable_per_key_and_differ_across_keys() {
    let a = Redactor::new(b"key-number-one-0123456789-0123456789".to_vec()).unwrap();
    let b = Redactor::new(b"key-number-two-0123456789-0123456789".to_vec()).unwrap();
    assert_eq!(a.pseudonym("x@example.com"), a.pseudonym("x@example.com"));
    assert_ne!(a.pseudonym("x@example.com"), a.pseudonym("y@example.com"));
    assert_ne!(a.pseudonym("x@example.com"), b.pseudonym("x@example.com"));
    assert!(Redactor::new(b"short".to_vec()).is_err());
    // One rule everywhere: the SHA-256 output length.
    assert!(Redactor::new(vec![7; cdc_models::MIN_KEY_BYTES - 1]).is_err());
    assert!(Redactor::new(vec![7; cdc_models::MIN_KEY_BYTES]).is_ok());
}

#[test]
fn debug_never_prints_sensitive_values() {
    let row = example("users");
    let typed: cdc_models::generated::users::User = serde_json::from_value(row.clone()).unwrap();
    let image: cdc_models::generated::users::UserImage = serde_json::from_value(row).unwrap();
    for text in [format!("{typed:?}"), format!("{image:?}")] {
        assert!(!text.contains("priya.raman@acme-support.example"), "{text}");
        assert!(!text.contains("QQ 12 34 56 C"), "{text}");
        assert!(text.contains("Sensitive Data Redacted"));
        assert!(
            text.contains("Priya Raman"),
            "non-sensitive columns still print: {text}"
        );
    }
}

#[test]
fn column_states_are_distinct() {
    let image: cdc_models::generated::users::UserImage =
        serde_json::from_str(r#"{"id": "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21", "phone": null}"#)
            .unwrap();
    assert!(image.id.value().is_some());
    assert_eq!(image.phone, Column::Null);
    assert_eq!(image.email, Column::Absent);
    let json = serde_json::to_value(&image).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"id": "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21", "phone": null})
    );
    // Key columns survive projection; others outside it become absent.
    let mut full: cdc_models::generated::users::UserImage =
        serde_json::from_value(example("users")).unwrap();
    TableImage::project(&mut full, &Table::Users.meta().default_projection());
    let names: BTreeSet<String> = serde_json::to_value(&full)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        names,
        ["id", "name", "status", "updated_at"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
}

#[test]
fn dyn_image_checks_nulls_keys_and_completeness() {
    let image: cdc_models::generated::users::UserImage =
        serde_json::from_str(r#"{"id": "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21", "status": null}"#)
            .unwrap();
    let err = DynImage::check(&image, false).unwrap_err().to_string();
    assert!(err.contains("status"), "{err}");
    let no_key: cdc_models::generated::users::UserImage =
        serde_json::from_str(r#"{"status": "active"}"#).unwrap();
    assert!(matches!(
        DynImage::check(&no_key, false),
        Err(cdc_models::ImageError::MissingKey { .. })
    ));
    let partial: cdc_models::generated::users::UserImage =
        serde_json::from_str(r#"{"id": "5b0c1d9e-6a3f-4a57-9d2e-0f4b7c8a1e21"}"#).unwrap();
    assert!(DynImage::check(&partial, false).is_ok());
    assert!(matches!(
        DynImage::check(&partial, true),
        Err(cdc_models::ImageError::MissingColumns { .. })
    ));
}

#[test]
fn boxed_and_unboxed_deserialization_agree_for_every_table() {
    for table in Table::ALL {
        let row = example(table.name());
        let image = cdc_models::AnyImage::deserialize(*table, &row).unwrap();
        let boxed = cdc_models::AnyImage::deserialize_boxed(*table, &row).unwrap();
        assert_eq!(*boxed, image, "{table}");
        assert_eq!(boxed.table(), *table);
        // Both refuse the same rows.
        let wrong = serde_json::json!("not a row");
        assert!(cdc_models::AnyImage::deserialize(*table, &wrong).is_err());
        assert!(cdc_models::AnyImage::deserialize_boxed(*table, &wrong).is_err());
    }
}
