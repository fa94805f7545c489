//! Draft 4 JSON Schemas of the published events, for EventBridge's Schema Registry.
//!
//! EventBridge offers code bindings (Java, Python, TypeScript, Go) only from OpenAPI 3 or JSON
//! Schema Draft 4, so this writes Draft 4: `id` instead of `$id`, no `const`, boolean
//! `exclusiveMinimum`. The `detail` schema describes what the processor publishes after projection
//! and redaction: projected-out and `remove`d columns are not there, masked/hashed/partial columns
//! are plain strings, no column is required (images may be partial).

use crate::schema::{Policy, TableSchema};
use serde_json::{json, Map, Value};

const DROP_KEYS: &[&str] = &["$schema", "$id", "const", "examples", "default"];

fn to_draft4(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, child) in m {
                if k.starts_with("x-") || DROP_KEYS.contains(&k.as_str()) {
                    continue;
                }
                out.insert(k.clone(), to_draft4(child));
            }
            if let Some(c) = m.get("const") {
                out.insert("enum".into(), json!([c]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(to_draft4).collect()),
        other => other.clone(),
    }
}

/// Renders the Draft 4 schema of the `detail` of one table's `CDC.TableChange` events.
pub(crate) fn render(t: &TableSchema) -> String {
    let mut image_props = Map::new();
    // `before` may hold nulls in NOT NULL columns: a DMS delete's placeholders (`docs/formats.md`).
    let mut before_props = Map::new();
    for col in &t.columns {
        let included = col.key
            || t.include
                .as_ref()
                .is_none_or(|inc| inc.iter().any(|c| c == &col.name));
        if !included || col.policy == Some(Policy::Remove) {
            continue;
        }
        let mut schema = to_draft4(&col.schema);
        if let (Some(p), Value::Object(m)) = (col.policy, &mut schema) {
            m.remove("format");
            m.insert(
                "type".into(),
                if col.nullable {
                    json!(["string", "null"])
                } else {
                    json!("string")
                },
            );
            let how = match p {
                Policy::Mask => "masked as \"[REDACTED]\"".to_string(),
                Policy::Hash => {
                    "replaced by a keyed HMAC-SHA256 pseudonym \"hmac-sha256:<hex>\"".to_string()
                }
                Policy::Partial(n) => format!("all but the last {n} characters replaced by '*'"),
                Policy::Remove => unreachable!(),
            };
            let d = m
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            m.insert(
                "description".into(),
                json!(format!("{d} Redacted when redaction is on: {how}.")),
            );
        }
        if !col.nullable && !col.key {
            before_props.insert(col.name.clone(), or_null(schema.clone()));
        } else {
            before_props.insert(col.name.clone(), schema.clone());
        }
        image_props.insert(col.name.clone(), schema);
    }
    let mut key_props = Map::new();
    for k in &t.primary_key {
        let col = t
            .columns
            .iter()
            .find(|c| &c.name == k)
            .expect("checked key");
        key_props.insert(k.clone(), to_draft4(&col.schema));
    }
    let image_name = format!("{}Image", t.title);
    let before_name = format!("{}BeforeImage", t.title);
    let key_name = format!("{}Key", t.title);
    let after_image =
        json!({"oneOf": [{"type": "null"}, {"$ref": format!("#/definitions/{image_name}")}]});
    let image_kind = json!({"type": ["string", "null"], "enum": ["full", "partial", null]});
    let redactable: Vec<&str> = t
        .columns
        .iter()
        .filter(|c| c.policy.is_some())
        .map(|c| c.name.as_str())
        .collect();
    let doc = json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "id": format!("https://schemas.coredb.internal/cdc/events/{}.json", t.name),
        "title": format!("{}ChangedDetail", t.title),
        "description": format!(
            "The `detail` of a `CDC.TableChange` event (source `cdc-pipeline`) for table `{}`: {}",
            t.name, t.description
        ),
        "type": "object",
        "required": ["version", "schemaVersion", "eventId", "eventType", "table", "operation", "timestamp", "keys", "metadata"],
        "properties": {
            "version": {"type": "string", "description": "Detail schema version.", "enum": ["1.0"]},
            "schemaVersion": {"type": "integer", "minimum": 1, "description": format!("The table's schema version (`x-cdc.version`), bumped by every breaking or privacy-relevant change of the table (see model-schemas/CHANGELOG.md). This schema describes version {}.", t.version)},
            "eventId": {"type": "string", "description": "Stable id of the change: the same source record always gets the same id, across retries and re-drives. Use it to deduplicate."},
            "eventType": {"type": "string", "enum": [t.event_type]},
            "table": {"type": "string", "enum": [t.name]},
            "operation": {"type": "string", "enum": ["INSERT", "UPDATE", "DELETE", "SNAPSHOT", "TRUNCATE"]},
            "timestamp": {"type": "string", "format": "date-time", "description": "When the change happened at the source (commit time when known)."},
            "before": {"oneOf": [{"type": "null"}, {"$ref": format!("#/definitions/{before_name}")}]},
            "after": after_image,
            "beforeImage": image_kind.clone(),
            "afterImage": image_kind,
            "keys": {
                "description": "The primary key; an empty object for TRUNCATE, which has no row.",
                "anyOf": [
                    {"$ref": format!("#/definitions/{key_name}")},
                    {"type": "object", "maxProperties": 0}
                ]
            },
            "redactions": {
                "type": "object",
                "description": format!("Columns redacted in before/after and how. Columns that may appear: {}.", if redactable.is_empty() { "none".to_string() } else { redactable.join(", ") }),
                "additionalProperties": {"type": "string", "enum": ["remove", "mask", "hash", "partial"]}
            },
            "metadata": {
                "type": "object",
                "required": ["sequenceNumber", "sourceFormat"],
                "properties": {
                    "transactionId": {"type": ["string", "null"]},
                    "sequenceNumber": {"type": "string", "description": "Kinesis sequence number (decimal string, up to 129 digits)."},
                    "subSequenceNumber": {"type": ["integer", "null"], "description": "Position inside a KPL aggregate."},
                    "shardId": {"type": ["string", "null"]},
                    "sourceFormat": {"type": "string", "enum": ["coredb-trigger", "debezium", "dms"]},
                    "snapshot": {"type": "boolean"},
                    "previousKeys": {"$ref": format!("#/definitions/{key_name}"), "description": "Only on an UPDATE that changed the primary key: the old key. The row under it is gone (as if deleted); `keys` is the new one."},
                    "droppedColumns": {"type": "array", "items": {"type": "string"}, "maxItems": 32, "description": "Source columns unknown to the schema, not published: at most the first 32 names, each cut to 128 characters (a cut name ends in '…')."},
                    "droppedColumnCount": {"type": "integer", "minimum": 33, "description": "Only when more source columns were unknown than droppedColumns lists: how many there were."}
                }
            }
        },
        "definitions": {
            image_name: {
                "type": "object",
                "description": "Row image after projection and redaction. No column is required: images may be partial (see beforeImage/afterImage).",
                "properties": Value::Object(image_props)
            },
            before_name: {
                "type": "object",
                "description": "The `before` row image after projection and redaction: as the row image, except that a non-key NOT NULL column may be null (the placeholders of an AWS DMS delete, which sends the key and nulls).",
                "properties": Value::Object(before_props)
            },
            key_name: {
                "type": "object",
                "required": t.primary_key,
                "properties": Value::Object(key_props)
            }
        }
    });
    let mut s = serde_json::to_string_pretty(&doc).expect("JSON serializes");
    s.push('\n');
    s
}

/// A column schema that also accepts `null`: `null` added to its `type` (and `enum`), or the
/// schema wrapped in `anyOf` with `null` when it has no `type`.
fn or_null(schema: Value) -> Value {
    let Value::Object(mut m) = schema else {
        return schema;
    };
    let typed = match m.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            m.insert("type".into(), json!([t, "null"]));
            true
        }
        Some(Value::Array(ts)) => {
            if !ts.contains(&Value::Null) && !ts.iter().any(|t| t == "null") {
                ts.push(json!("null"));
            }
            true
        }
        _ => false,
    };
    if !typed {
        let description = m.remove("description");
        let mut out = Map::new();
        if let Some(d) = description {
            out.insert("description".into(), d);
        }
        out.insert("anyOf".into(), json!([{"type": "null"}, Value::Object(m)]));
        return Value::Object(out);
    }
    if let Some(Value::Array(e)) = m.get_mut("enum") {
        if !e.contains(&Value::Null) {
            e.push(Value::Null);
        }
    }
    Value::Object(m)
}
