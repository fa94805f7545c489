//! Property: any valid row of any table, in any format and operation, becomes an event whose keys
//! are intact and in which no redacted value appears anywhere.

use crate::support::*;
use cdc_models::{ColumnKind, RedactPolicy, Table};
use cdc_processor::config::TableOverride;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// A row of `table` from its example, with every redacted string column replaced by a unique
/// canary and the key columns varied.
fn varied_row(table: Table, seed: u64, canaries: &mut Vec<String>) -> Map<String, Value> {
    let meta = table.meta();
    let schema: Value = serde_json::from_str(table.schema_json()).unwrap();
    let mut row = example(table.name());
    let mut n = seed;
    let mut next = || {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        n
    };
    for f in meta.fields {
        let prop = &schema["properties"][f.name];
        let is_email = prop["format"] == "email" || prop["items"]["format"] == "email";
        if f.key {
            match f.kind {
                ColumnKind::Uuid => {
                    let v = uuid::Uuid::from_u64_pair(next(), next());
                    let v = uuid::Builder::from_random_bytes(*v.as_bytes()).into_uuid();
                    row.insert(f.name.into(), json!(v.to_string()));
                }
                ColumnKind::Integer => {
                    row.insert(f.name.into(), json!((next() >> 2).max(1) as i64));
                }
                _ => {}
            }
            continue;
        }
        let Some(policy) = f.policy else { continue };
        if row.get(f.name).is_some_and(Value::is_null) && next() % 2 == 0 {
            continue; // keep some NULLs: they stay null under every policy
        }
        let canary = format!("CANARY{:016x}", next());
        let canary_value = |c: &str| {
            if is_email {
                format!("{}@example.com", c.to_lowercase())
            } else {
                c.to_string()
            }
        };
        match (f.kind, policy) {
            (ColumnKind::String, _) => {
                let v = canary_value(&canary);
                canaries.push(v.clone());
                row.insert(f.name.into(), json!(v));
            }
            (ColumnKind::Array, RedactPolicy::Remove) if prop["items"]["type"] == "string" => {
                let v = canary_value(&canary);
                canaries.push(v.clone());
                row.insert(f.name.into(), json!([v]));
            }
            (ColumnKind::Object, RedactPolicy::Remove) => {
                canaries.push(canary.clone());
                row.insert(f.name.into(), json!({"note": canary}));
            }
            _ => {}
        }
    }
    row
}

fn record(format: u8, op: u8, table: Table, row: &Map<String, Value>) -> Vec<u8> {
    let row = Value::Object(row.clone());
    let (before, after) = match op {
        0 => (Value::Null, row),
        1 => (row.clone(), row),
        _ => (row, Value::Null),
    };
    let v = match format {
        0 => {
            let op = ["INSERT", "UPDATE", "DELETE"][op as usize];
            json!({"table": table.name(), "operation": op, "timestamp": "2026-11-25T10:14:31Z",
                   "transaction_id": 7, "before": before, "after": after})
        }
        1 | 2 => {
            let payload = json!({"op": (["c", "u", "d"][op as usize]), "before": before, "after": after,
                "source": {"table": table.name(), "snapshot": "false", "ts_ms": 1_795_601_671_000_i64, "txId": 7},
                "ts_ms": 1_795_601_671_000_i64});
            if format == 2 {
                json!({"schema": null, "payload": payload})
            } else {
                payload
            }
        }
        _ => {
            let data = if op == 2 { before } else { after };
            json!({"data": data, "metadata": {"record-type": "data",
                   "operation": (["insert", "update", "delete"][op as usize]),
                   "table-name": table.name(), "timestamp": "2026-11-25T10:14:31Z",
                   "transaction-id": 7}})
        }
    };
    v.to_string().into_bytes()
}

fn every_table_config() -> cdc_processor::PipelineConfig {
    let mut config = redacting_config();
    config
        .set_table_allow_list(Table::ALL.iter().map(|t| t.name()))
        .unwrap();
    config
}

fn all_columns_config() -> cdc_processor::PipelineConfig {
    let mut config = every_table_config();
    for t in Table::ALL {
        config
            .set_table_override(
                t.name(),
                TableOverride {
                    event_type: None,
                    include_fields: Some(vec!["*".into()]),
                },
            )
            .unwrap();
    }
    config
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn keys_intact_and_no_redacted_value_anywhere(
        table_index in 0..Table::ALL.len(),
        seed in any::<u64>(),
        format in 0u8..4,
        op in 0u8..3,
        all_columns in any::<bool>(),
    ) {
        let table = Table::ALL[table_index];
        let mut canaries = Vec::new();
        let row = varied_row(table, seed, &mut canaries);
        let config = if all_columns { all_columns_config() } else { every_table_config() };
        let p = pipeline(config);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let report = rt.block_on(p.process_kinesis_event(&kinesis_event(vec![record(format, op, table, &row)]), "prop"));
        prop_assert_eq!(report.counts.published, 1, "{:?}", report.records);
        let entry = &p.publisher().published()[0];
        let entry_text = format!("{}|{}|{}|{}|{:?}", entry.event_id, entry.source, entry.detail_type, entry.detail, entry.ordering_key);
        for c in &canaries {
            prop_assert!(!entry_text.contains(c.as_str()), "redacted value of {} leaked", table.name());
        }
        let d = detail(entry);
        let meta = table.meta();
        let expected_keys: Map<String, Value> = meta.primary_key.iter()
            .map(|k| (k.to_string(), row[*k].clone()))
            .collect();
        prop_assert_eq!(&d["keys"], &Value::Object(expected_keys));
        for image in ["before", "after"] {
            let Some(obj) = d[image].as_object() else { continue };
            for f in meta.fields {
                if f.key {
                    prop_assert_eq!(&obj[f.name], &row[f.name], "key column {} intact", f.name);
                }
                if f.policy == Some(RedactPolicy::Remove) {
                    prop_assert!(!obj.contains_key(f.name), "{}.{} removed", table.name(), f.name);
                }
            }
        }
    }
}
