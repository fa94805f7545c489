//! AWS DMS messages as written to a Kinesis target: `{data, metadata}` and `{control, metadata}`,
//! with the optional before-image under its configured field name.

use super::{non_null, parse_error, parse_timestamp, position_text, raw_text, string_or_number};
use super::{AckReason, Cow, Decoded, Fields, RawChange, SourceFormat};
use crate::error::RecordError;
use cdc_models::Operation;
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow, default, rename = "record-type")]
    record_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    operation: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "table-name")]
    table_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "commit-timestamp")]
    commit_timestamp: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "transaction-id")]
    transaction_id: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "transaction-record-id")]
    transaction_record_id: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "stream-position")]
    stream_position: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "schema-name")]
    schema_name: Option<&'a RawValue>,
}

pub(super) fn read<'a>(
    fields: &Fields<'a>,
    before_image_field: &str,
) -> Result<Decoded<'a>, RecordError> {
    let metadata = non_null(fields.get("metadata"))
        .ok_or_else(|| parse_error("dms record without `metadata`"))?;
    let metadata: Metadata<'a> = serde_json::from_str(metadata.get())
        .map_err(|e| super::json_error("dms `metadata`", &e))?;
    match metadata.record_type.as_deref() {
        Some("control") => return Ok(Decoded::Acknowledged(AckReason::DmsControl)),
        Some("data") => {}
        _ => {
            return Err(parse_error(
                "dms `metadata.record-type` must be `data` or `control`",
            ))
        }
    }
    let operation = match metadata.operation.as_deref() {
        Some("load") => Operation::Snapshot,
        Some("insert") => Operation::Insert,
        Some("update") => Operation::Update,
        Some("delete") => Operation::Delete,
        _ => {
            return Err(parse_error(
                "dms `metadata.operation` must be load, insert, update or delete",
            ))
        }
    };
    let source_position = metadata
        .table_name
        .as_deref()
        .and_then(|table| position(&metadata, table));
    let table = metadata
        .table_name
        .ok_or_else(|| parse_error("dms record without `metadata.table-name`"))?;
    let timestamp = match non_null(metadata.commit_timestamp).or(non_null(metadata.timestamp)) {
        Some(raw) => Some(parse_timestamp("dms `metadata.timestamp`", raw)?),
        None => None,
    };
    let transaction_id = match metadata.transaction_id {
        Some(raw) => string_or_number("dms `metadata.transaction-id`", raw)?,
        None => None,
    };
    let data = non_null(fields.get("data"))
        .ok_or_else(|| parse_error("dms data record without `data`"))?;
    // An empty before-image (`{}`) means the before-image holds none of the row's columns.
    let before_image =
        non_null(fields.get(before_image_field)).filter(|raw| !is_empty_object(raw.get()));
    let (before, after, placeholders) = match operation {
        Operation::Delete => (Some(data), None, true),
        Operation::Update => (before_image, Some(data), false),
        _ => (None, Some(data), false),
    };
    Ok(Decoded::Change(RawChange {
        format: SourceFormat::Dms,
        table,
        operation,
        timestamp,
        transaction_id,
        snapshot: operation == Operation::Snapshot,
        before,
        after,
        debezium_schema: None,
        before_has_placeholder_nulls: placeholders,
        source_position,
    }))
}

/// The change's position at the source (`docs/cdc-event.md`), when the task writes transaction
/// details (`IncludeTransactionDetails`): `transaction-id` and `transaction-record-id` (the
/// record's offset in its transaction), with `stream-position`, schema and table. Full-load
/// records carry no transaction, so they have none (their id comes from the Kinesis pointer).
fn position(metadata: &Metadata<'_>, table: &str) -> Option<String> {
    let transaction = non_null(metadata.transaction_id)?;
    let record = non_null(metadata.transaction_record_id)?;
    Some(position_text(&[
        "dms",
        raw_text(metadata.stream_position),
        raw_text(metadata.schema_name),
        &serde_json::to_string(table).unwrap_or_default(),
        transaction.get(),
        record.get(),
    ]))
}

fn is_empty_object(text: &str) -> bool {
    text.strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .is_some_and(|inner| inner.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source_position(text: &str) -> Option<String> {
        let options = super::super::FormatOptions::default();
        match super::super::decode(text.as_bytes(), &options, &mut None).unwrap() {
            Decoded::Change(c) => c.source_position,
            Decoded::Acknowledged(_) => panic!("not a change"),
        }
    }

    #[test]
    fn the_source_position_is_the_transaction_record() {
        let insert = include_str!("../../tests/fixtures/dms/pg_source_insert.json");
        assert_eq!(
            source_position(insert).as_deref(),
            Some("dms\n\"00000002/7C007178.3.00000002/7C007178\"\n\"public\"\n\"foo\"\n1139\n1")
        );
        let next = insert.replace(
            r#""transaction-record-id": 1"#,
            r#""transaction-record-id": 2"#,
        );
        assert_ne!(source_position(insert), source_position(&next));
        // Full load: no transaction, no position.
        let load = include_str!("../../tests/fixtures/dms/pg_source_full_load.json");
        assert_eq!(source_position(load), None);
    }

    #[test]
    fn empty_object() {
        assert!(is_empty_object("{}"));
        assert!(is_empty_object("{ \n}"));
        assert!(!is_empty_object("{\"id\":1}"));
    }
}
