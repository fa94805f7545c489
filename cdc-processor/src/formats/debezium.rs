//! Debezium change events, with or without the JsonConverter `{schema, payload}` wrapper.

use super::{epoch_to_datetime, non_null, object, parse_error, raw_text, string_or_number};
use super::{AckReason, Cow, Decoded, Fields, RawChange, SourceFormat};
use crate::error::RecordError;
use cdc_models::Operation;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Deserialize, Default)]
struct Source<'a> {
    #[serde(borrow, default)]
    table: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    snapshot: Option<&'a RawValue>,
    #[serde(default)]
    ts_ms: Option<i64>,
    #[serde(default)]
    ts_us: Option<i64>,
    #[serde(default)]
    ts_ns: Option<i64>,
    #[serde(borrow, default, rename = "txId")]
    tx_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    gtid: Option<&'a RawValue>,
    #[serde(borrow, default)]
    lsn: Option<&'a RawValue>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    db: Option<&'a RawValue>,
    #[serde(borrow, default)]
    schema: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Transaction<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
}

pub(super) fn read<'a>(top: &Fields<'a>) -> Result<Decoded<'a>, RecordError> {
    let scanned;
    let mut schema = None;
    let p: &Fields<'a> = if top.has("payload") && top.has("schema") {
        let payload = top.get("payload").expect("checked");
        if payload.get() == "null" {
            return Ok(Decoded::Acknowledged(AckReason::Tombstone));
        }
        if !payload.get().starts_with('{') {
            return Err(parse_error("debezium `payload` is not a JSON object"));
        }
        scanned = object::scan(payload.get()).map_err(|e| super::json_error("payload", &e))?;
        super::reject_duplicates("debezium `payload`", &scanned)?;
        schema = non_null(top.get("schema"));
        &scanned
    } else {
        top
    };

    let Some(op) = non_null(p.get("op")) else {
        if p.has("status") && p.has("id") {
            let status: Cow<'_, str> =
                serde_json::from_str(p.get("status").expect("checked").get()).map_err(|_| {
                    parse_error("debezium transaction marker `status` is not a string")
                })?;
            return match &*status {
                "BEGIN" | "END" => Ok(Decoded::Acknowledged(AckReason::TransactionMarker)),
                _ => Err(parse_error(
                    "debezium transaction marker `status` must be BEGIN or END",
                )),
            };
        }
        return Err(parse_error("debezium record without `op`"));
    };
    let op: Cow<'_, str> =
        serde_json::from_str(op.get()).map_err(|_| parse_error("debezium `op` is not a string"))?;
    let operation = match &*op {
        "c" => Operation::Insert,
        "u" => Operation::Update,
        "d" => Operation::Delete,
        "r" => Operation::Snapshot,
        "t" => Operation::Truncate,
        "m" => return Ok(Decoded::Acknowledged(AckReason::Message)),
        _ => return Err(parse_error("debezium `op` must be one of c, u, d, r, t, m")),
    };
    let source: Source<'a> = match non_null(p.get("source")) {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| super::json_error("debezium `source`", &e))?,
        None => return Err(parse_error("debezium record without `source`")),
    };
    let table = source
        .table
        .clone()
        .ok_or_else(|| parse_error("debezium record without `source.table`"))?;
    let snapshot = operation == Operation::Snapshot
        || match source.snapshot.map(RawValue::get) {
            None | Some("null" | "false" | "\"false\"") => false,
            Some("true") => true,
            Some(s) if s.starts_with('"') => true,
            Some(_) => {
                return Err(parse_error(
                    "debezium `source.snapshot` must be a boolean or a string",
                ))
            }
        };
    let timestamp = timestamp(&source, p)?;
    let transaction = non_null(p.get("transaction"))
        .and_then(|raw| serde_json::from_str::<Transaction<'_>>(raw.get()).ok())
        .and_then(|t| non_null(t.id));
    let transaction_id = match transaction
        .or_else(|| non_null(source.tx_id))
        .or_else(|| non_null(source.gtid))
    {
        Some(raw) => string_or_number("debezium transaction id", raw)?,
        None => None,
    };
    let source_position = position(&source, &table, &op, snapshot);
    Ok(Decoded::Change(RawChange {
        format: SourceFormat::Debezium,
        table,
        operation,
        timestamp,
        transaction_id,
        snapshot,
        before: non_null(p.get("before")),
        after: non_null(p.get("after")),
        debezium_schema: schema,
        before_has_placeholder_nulls: false,
        source_position,
    }))
}

/// The change's position at the source (`docs/cdc-event.md`): the PostgreSQL connector's
/// `source.lsn` (the change's WAL record), with the logical server name, database, schema and table
/// (one statement's TRUNCATE of several tables is one WAL record), the transaction id and `op` (a
/// key-changing UPDATE is a delete and a create from one WAL record). Snapshot reads share the
/// snapshot's LSN, so they have none (their id comes from the Kinesis pointer), as have records of
/// connectors without `lsn`.
fn position(source: &Source<'_>, table: &str, op: &str, snapshot: bool) -> Option<String> {
    let lsn = non_null(source.lsn)?;
    if snapshot {
        return None;
    }
    Some(super::position_text(&[
        "debezium",
        raw_text(source.name),
        raw_text(source.db),
        raw_text(source.schema),
        &serde_json::to_string(table).unwrap_or_default(),
        raw_text(source.tx_id),
        lsn.get(),
        op,
    ]))
}

/// Commit time from `source` (`ts_us`, `ts_ms`, `ts_ns`; 0 means unknown, as in MySQL snapshots),
/// else the connector's processing time (`ts_us`, `ts_ms`).
fn timestamp(source: &Source<'_>, p: &Fields<'_>) -> Result<Option<DateTime<Utc>>, RecordError> {
    let top = |key: &str| -> Option<i64> {
        non_null(p.get(key)).and_then(|r| serde_json::from_str::<i64>(r.get()).ok())
    };
    let candidates = [
        (source.ts_us, 1_000_000),
        (source.ts_ms, 1_000),
        (source.ts_ns, 1_000_000_000),
        (top("ts_us"), 1_000_000),
        (top("ts_ms"), 1_000),
    ];
    for (value, per_second) in candidates {
        if let Some(v) = value.filter(|v| *v > 0) {
            return epoch_to_datetime(v, per_second)
                .map(Some)
                .ok_or_else(|| parse_error("debezium timestamp out of range"));
        }
    }
    Ok(None)
}

/// One field of a Debezium JsonConverter schema: its Kafka Connect type and semantic name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldHint {
    /// Column name.
    pub field: String,
    /// Kafka Connect type (`int32`, `int64`, `string`, `bytes`, `struct`, …).
    pub connect_type: String,
    /// Semantic type name (`io.debezium.time.MicroTimestamp`, …), when there is one.
    pub name: Option<String>,
    /// `parameters.scale` of a `Decimal`.
    pub scale: Option<u32>,
}

/// The column types a Debezium `schema` block declares for the `before` and `after` images.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebeziumSchema {
    /// Fields of `before`.
    pub before: Vec<FieldHint>,
    /// Fields of `after`.
    pub after: Vec<FieldHint>,
}

/// Distinct schema blocks [`DebeziumSchema::parse_cached`] keeps.
pub const SCHEMA_CACHE_ENTRIES: usize = 256;
/// Largest schema block (bytes of JSON text) [`DebeziumSchema::parse_cached`] keeps.
pub const SCHEMA_CACHE_MAX_TEXT: usize = 64 * 1024;

/// A schema block's text and what it parses to.
type CachedSchema = (Box<str>, Arc<DebeziumSchema>);

/// Parsed schema blocks by their text, grouped by length (a lookup compares texts of one length
/// only; no hash over the text).
#[derive(Default)]
struct SchemaCache {
    by_len: rustc_hash::FxHashMap<usize, Vec<CachedSchema>>,
    entries: usize,
}

static SCHEMA_CACHE: OnceLock<Mutex<SchemaCache>> = OnceLock::new();

#[derive(Deserialize)]
struct SchemaNode {
    #[serde(default, rename = "type")]
    connect_type: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    fields: Option<Vec<SchemaNode>>,
    #[serde(default)]
    parameters: Option<serde_json::Map<String, serde_json::Value>>,
}

impl DebeziumSchema {
    /// Reads the JsonConverter `schema` block of an envelope.
    pub fn parse(raw: &RawValue) -> Result<Self, RecordError> {
        let root: SchemaNode = serde_json::from_str(raw.get())
            .map_err(|e| super::json_error("debezium `schema`", &e))?;
        let mut out = DebeziumSchema::default();
        for side in root.fields.unwrap_or_default() {
            let target = match side.field.as_deref() {
                Some("before") => &mut out.before,
                Some("after") => &mut out.after,
                _ => continue,
            };
            for f in side.fields.unwrap_or_default() {
                let Some(field) = f.field else { continue };
                let scale =
                    f.parameters
                        .as_ref()
                        .and_then(|p| p.get("scale"))
                        .and_then(|s| match s {
                            serde_json::Value::String(s) => s.parse().ok(),
                            serde_json::Value::Number(n) => {
                                n.as_u64().and_then(|n| n.try_into().ok())
                            }
                            _ => None,
                        });
                target.push(FieldHint {
                    field,
                    connect_type: f.connect_type.unwrap_or_default(),
                    name: f.name,
                    scale,
                });
            }
        }
        Ok(out)
    }

    /// [`DebeziumSchema::parse`], remembered by the block's text: a connector sends the same
    /// block with every record of a table, so each distinct block is parsed once per process (at
    /// most [`SCHEMA_CACHE_ENTRIES`] blocks of up to [`SCHEMA_CACHE_MAX_TEXT`] bytes are kept; a
    /// full cache starts over). Errors are not remembered.
    pub fn parse_cached(raw: &RawValue) -> Result<Arc<Self>, RecordError> {
        let text = raw.get();
        if text.len() > SCHEMA_CACHE_MAX_TEXT {
            return Self::parse(raw).map(Arc::new);
        }
        let cache = SCHEMA_CACHE.get_or_init(Default::default);
        let lookup = |c: &SchemaCache| {
            c.by_len
                .get(&text.len())
                .and_then(|v| v.iter().find(|(t, _)| **t == *text))
                .map(|(_, s)| s.clone())
        };
        if let Some(s) = lookup(&cache.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(s);
        }
        let parsed = Arc::new(Self::parse(raw)?);
        let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
        if c.entries >= SCHEMA_CACHE_ENTRIES {
            *c = SchemaCache::default();
        }
        if lookup(&c).is_none() {
            c.entries += 1;
            c.by_len
                .entry(text.len())
                .or_default()
                .push((text.into(), parsed.clone()));
        }
        Ok(parsed)
    }

    /// The hint for a column of `before` (`after == false`) or `after`.
    pub fn hint(&self, after: bool, field: &str) -> Option<&FieldHint> {
        let side = if after { &self.after } else { &self.before };
        side.iter().find(|h| h.field == field).or_else(|| {
            let other = if after { &self.before } else { &self.after };
            other.iter().find(|h| h.field == field)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode, FormatOptions};
    use super::*;

    #[test]
    fn the_source_position_is_the_lsn_with_server_table_transaction_and_op() {
        let update = include_str!("../../tests/fixtures/debezium/pg_update.json");
        assert_eq!(
            change(update).source_position.as_deref(),
            Some("debezium\n\"PostgreSQL_server\"\n\"postgres\"\n\"public\"\n\"customers\"\n556\n24023128\nu")
        );
        // The delete half of a key change comes from the same WAL record as the create.
        let delete = update.replace(r#""op": "u""#, r#""op": "d""#);
        assert_ne!(
            change(update).source_position,
            change(&delete).source_position
        );
        // Snapshot reads share the snapshot's LSN: no position; nor without an LSN (MySQL).
        let read = update.replace(r#""op": "u""#, r#""op": "r""#);
        assert_eq!(change(&read).source_position, None);
        let mysql = include_str!("../../tests/fixtures/debezium/mysql_update_no_schema.json");
        assert_eq!(change(mysql).source_position, None);
    }

    fn change(text: &str) -> RawChange<'_> {
        match decode(text.as_bytes(), &FormatOptions::default(), &mut None).unwrap() {
            Decoded::Change(c) => c,
            other => panic!("not a change: {other:?}"),
        }
    }

    #[test]
    fn snapshot_string_or_bool_and_txid() {
        let c = change(
            r#"{"op":"u","before":null,"after":{"id":1},"ts_ms":5,
               "source":{"table":"customers","snapshot":"last","txId":571,"ts_ms":1559033904863},
               "transaction":{"id":"571:53195829","total_order":1,"data_collection_order":1}}"#,
        );
        assert!(c.snapshot);
        assert_eq!(c.transaction_id.as_deref(), Some("571:53195829"));
        assert_eq!(c.timestamp.unwrap().timestamp_millis(), 1559033904863);
        let c = change(
            r#"{"op":"c","after":{"id":1},"source":{"table":"t","snapshot":"false","txId":9}}"#,
        );
        assert!(!c.snapshot);
        assert_eq!(c.transaction_id.as_deref(), Some("9"));
        assert!(c.timestamp.is_none());
    }

    #[test]
    fn schema_hints() {
        let raw: Box<RawValue> = serde_json::from_str(
            r#"{"type":"struct","fields":[{"type":"struct","field":"after","fields":[
                {"type":"int64","field":"created","name":"io.debezium.time.MicroTimestamp"},
                {"type":"bytes","field":"total","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}}]}]}"#,
        )
        .unwrap();
        let s = DebeziumSchema::parse(&raw).unwrap();
        let h = s.hint(true, "total").unwrap();
        assert_eq!(h.scale, Some(2));
        assert_eq!(s.hint(false, "created").unwrap().connect_type, "int64");
        assert!(s.hint(true, "nope").is_none());
        // The cached parse gives the same schema, the same `Arc` for the same text, and a
        // different schema for a different text of the same length.
        let a = DebeziumSchema::parse_cached(&raw).unwrap();
        assert_eq!(*a, s);
        assert!(Arc::ptr_eq(
            &a,
            &DebeziumSchema::parse_cached(&raw).unwrap()
        ));
        let other: Box<RawValue> =
            serde_json::from_str(&raw.get().replace("\"scale\":\"2\"", "\"scale\":\"3\"")).unwrap();
        assert_eq!(other.get().len(), raw.get().len());
        let b = DebeziumSchema::parse_cached(&other).unwrap();
        assert_eq!(b.hint(true, "total").unwrap().scale, Some(3));
        assert_eq!(a.hint(true, "total").unwrap().scale, Some(2));
        // Errors are errors every time.
        let bad: Box<RawValue> = serde_json::from_str(r#"{"fields": 5}"#).unwrap();
        assert!(DebeziumSchema::parse_cached(&bad).is_err());
        assert!(DebeziumSchema::parse_cached(&bad).is_err());
    }
}
