//! The EventBridge entry of a change: `Source`, `DetailType = CDC.TableChange`, `Time` and the
//! detail JSON of `docs/cdc-event.md` (version 1.0), with its size counted the way EventBridge
//! counts it.

use crate::config::DETAIL_TYPE;
use crate::error::{ErrorCode, RecordError};
use crate::ports::{OrderingKey, PreparedEntry};
use crate::transform::Redacted;
use crate::validate::{Change, Image};
use cdc_models::{json, DETAIL_VERSION};
use std::borrow::Borrow;
use std::sync::Arc;

/// What the event builder needs besides the change.
#[derive(Clone, Debug)]
pub struct EventOptions {
    /// `Source` (`EVENT_SOURCE`), shared by the entries.
    pub source: Arc<str>,
    /// Largest entry published (bytes as EventBridge counts them).
    pub max_entry_size: usize,
}

/// At most this many names are listed in `metadata.droppedColumns`; with more, the list holds the
/// first ones and `metadata.droppedColumnCount` the total (issue 22, 11: a record with thousands
/// of unknown columns must not push its entry over the size limit).
pub const MAX_DROPPED_COLUMNS_LISTED: usize = 32;

/// A dropped column's name longer than this many characters is listed cut to them, ending in `…`.
pub const MAX_DROPPED_NAME_CHARS: usize = 128;

/// A dropped column's name as listed: cut to [`MAX_DROPPED_NAME_CHARS`] characters plus `…`.
pub fn listed_dropped_name(name: &str) -> std::borrow::Cow<'_, str> {
    match name.char_indices().nth(MAX_DROPPED_NAME_CHARS) {
        None => std::borrow::Cow::Borrowed(name),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &name[..cut])),
    }
}

/// Bytes EventBridge counts for a `Time` field.
pub const TIME_SIZE: usize = 14;

/// Size of an entry as EventBridge counts it: UTF-8 bytes of `Source`, `DetailType`, `Detail`
/// and each `Resources` item, plus 14 when `Time` is set.
pub fn entry_size(
    source: &str,
    detail_type: &str,
    detail: &str,
    resources: &[&str],
    time: bool,
) -> usize {
    source.len()
        + detail_type.len()
        + detail.len()
        + resources.iter().map(|r| r.len()).sum::<usize>()
        + if time { TIME_SIZE } else { 0 }
}

/// Builds the entry of a projected, redacted change. An entry over the size limit is an
/// `ENTRY_TOO_LARGE` error (dead-lettered, never a failed batch).
///
/// The detail is written directly (generated `write_json` for images and keys, the fast writers of
/// [`cdc_models::json`] for the rest): the same bytes `serde_json` writes for the documented
/// structure (a test keeps a `serde` model of it as the oracle), without its per-field overhead.
pub fn build<C: Borrow<Change>>(
    change: &Redacted<'_, C>,
    options: &EventOptions,
) -> Result<PreparedEntry, RecordError> {
    build_with_buffer(change, options, &mut Vec::new())
}

/// [`build`], writing the detail in `buffer` first (its contents are replaced) and then copying
/// it into a string of its exact size: the pipeline reuses one buffer for a whole batch, so a
/// record costs one allocation of the detail's size instead of a larger guess that often needs
/// the allocator's slower paths.
pub fn build_with_buffer<C: Borrow<Change>>(
    change: &Redacted<'_, C>,
    options: &EventOptions,
    buffer: &mut Vec<u8>,
) -> Result<PreparedEntry, RecordError> {
    let c: &Change = change.value().borrow();
    let columns = |i: &Option<Image>| {
        i.as_ref()
            .map_or(0, |i| i.image.as_dyn().present_bits().count_ones() as usize)
    };
    let out = buffer;
    out.clear();
    out.reserve(640 + 56 * (columns(&c.before) + columns(&c.after)));
    let detail_error = |e: serde_json::Error| {
        RecordError::new(
            ErrorCode::TransformationError,
            format!("serializing the event detail failed: {}", e.classify_name()),
        )
    };
    out.extend_from_slice(b"{\"version\":");
    write_plain(out, DETAIL_VERSION.as_bytes());
    out.extend_from_slice(b",\"schemaVersion\":");
    json::write_u64(out, u64::from(c.table.meta().schema_version));
    out.extend_from_slice(b",\"eventId\":");
    write_plain(out, c.pointer.event_id.as_bytes());
    out.extend_from_slice(b",\"eventType\":");
    json::write_str(out, change.event_type());
    out.extend_from_slice(b",\"table\":");
    write_plain(out, c.table.name().as_bytes());
    out.extend_from_slice(b",\"operation\":");
    write_plain(out, c.operation.as_str().as_bytes());
    out.extend_from_slice(b",\"timestamp\":");
    json::write_datetime(out, &c.timestamp);
    for (name, image) in [
        (&b",\"before\":"[..], &c.before),
        (b",\"after\":", &c.after),
    ] {
        out.extend_from_slice(name);
        match image {
            Some(i) => i.image.write_json(out).map_err(detail_error)?,
            None => out.extend_from_slice(b"null"),
        }
    }
    for (name, image) in [
        (&b",\"beforeImage\":"[..], &c.before),
        (b",\"afterImage\":", &c.after),
    ] {
        out.extend_from_slice(name);
        match image {
            Some(i) => write_plain(out, i.completeness.as_str().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.extend_from_slice(b",\"keys\":");
    // The key's JSON is also its ordering key: written once, into the detail.
    let key_start = out.len();
    match &c.key {
        Some(k) => k.write_json(out).map_err(detail_error)?,
        None => out.extend_from_slice(b"{}"),
    }
    let key_json = key_start..out.len();
    out.extend_from_slice(b",\"redactions\":{");
    for (i, (column, policy)) in change.redactions().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_str(out, column);
        out.push(b':');
        write_plain(out, policy.as_str().as_bytes());
    }
    out.extend_from_slice(b"},\"metadata\":{\"transactionId\":");
    match &c.transaction_id {
        Some(t) => json::write_str(out, t),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"sequenceNumber\":");
    write_plain(out, c.pointer.position.sequence.text().as_bytes());
    out.extend_from_slice(b",\"subSequenceNumber\":");
    match c.pointer.position.sub_sequence {
        Some(n) => json::write_u64(out, n),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"shardId\":");
    json::write_str(out, &c.pointer.shard);
    out.extend_from_slice(b",\"sourceFormat\":");
    write_plain(out, c.format.as_str().as_bytes());
    out.extend_from_slice(b",\"snapshot\":");
    json::write_bool(out, c.snapshot);
    if let Some(k) = &c.previous_key {
        out.extend_from_slice(b",\"previousKeys\":");
        k.write_json(out).map_err(detail_error)?;
    }
    if !c.dropped_columns.is_empty() {
        out.extend_from_slice(b",\"droppedColumns\":[");
        for (i, name) in c
            .dropped_columns
            .iter()
            .take(MAX_DROPPED_COLUMNS_LISTED)
            .enumerate()
        {
            if i > 0 {
                out.push(b',');
            }
            json::write_str(out, &listed_dropped_name(name));
        }
        out.push(b']');
        if c.dropped_columns.len() > MAX_DROPPED_COLUMNS_LISTED {
            out.extend_from_slice(b",\"droppedColumnCount\":");
            json::write_u64(out, c.dropped_columns.len() as u64);
        }
    }
    out.extend_from_slice(b"}}");
    let detail = crate::decode::utf8(out)
        .map_err(|_| {
            RecordError::new(
                ErrorCode::TransformationError,
                "serializing the event detail failed: not UTF-8",
            )
        })?
        .to_owned();
    let size = entry_size(&options.source, DETAIL_TYPE, &detail, &[], true);
    if size > options.max_entry_size {
        return Err(RecordError::new(
            ErrorCode::EntryTooLarge,
            format!(
                "EventBridge entry of table `{}` is {size} bytes, over the limit of {} bytes",
                c.table.name(),
                options.max_entry_size
            ),
        ));
    }
    let ordering_key = match c.key {
        Some(_) => OrderingKey::Row {
            table: c.table,
            key: key_json,
        },
        None => OrderingKey::Table(c.table),
    };
    Ok(PreparedEntry {
        event_id: c.pointer.event_id,
        source: options.source.clone(),
        detail_type: DETAIL_TYPE,
        detail,
        time: Some(c.timestamp),
        size,
        ordering_key,
    })
}

/// Writes a text known to need no JSON escaping, quoted, without scanning it: the names this
/// crate and the generated models define (tables, operations, formats, policies, completeness,
/// the detail version), an event id's hex digits and a sequence number's decimal digits. Debug
/// builds check it.
#[inline]
fn write_plain(out: &mut Vec<u8>, text: &[u8]) {
    debug_assert!(
        !json::needs_escape_bytes(text),
        "{:?} needs escaping",
        String::from_utf8_lossy(text)
    );
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text);
    out.push(b'"');
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "data error",
            serde_json::error::Category::Eof => "unexpected end",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PipelineConfig, Redaction};
    use crate::decode::RecordPointer;
    use crate::formats::{self, Decoded, FormatOptions};
    use crate::sequence::Position;
    use crate::transform;
    use crate::validate::{self, ValidateOptions};
    use cdc_models::{AnyImage, AnyKey, Operation, Redactions, Table};
    use serde::Serialize;
    use serde_json::{json, Value};
    use std::sync::Arc;

    /// The documented detail structure as a `serde` model: the oracle for [`build`]'s writer.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Detail<'a> {
        version: &'static str,
        schema_version: u32,
        event_id: &'a str,
        event_type: &'a str,
        table: &'static str,
        operation: Operation,
        timestamp: chrono::DateTime<chrono::Utc>,
        before: Option<&'a AnyImage>,
        after: Option<&'a AnyImage>,
        before_image: Option<&'static str>,
        after_image: Option<&'static str>,
        keys: Keys<'a>,
        redactions: &'a Redactions,
        metadata: Metadata<'a>,
    }

    #[derive(Serialize)]
    #[serde(untagged)]
    enum Keys<'a> {
        Key(&'a AnyKey),
        None(std::collections::BTreeMap<(), ()>),
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Metadata<'a> {
        transaction_id: Option<&'a str>,
        sequence_number: &'a str,
        sub_sequence_number: Option<u64>,
        shard_id: &'a str,
        source_format: &'static str,
        snapshot: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        previous_keys: Option<&'a AnyKey>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        dropped_columns: Vec<std::borrow::Cow<'a, str>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        dropped_column_count: Option<usize>,
    }

    fn oracle(change: &Redacted<'_, Change>) -> String {
        let c = change.value();
        fn image(i: &Option<Image>) -> Option<&AnyImage> {
            i.as_ref().map(|i| &*i.image)
        }
        fn completeness(i: &Option<Image>) -> Option<&'static str> {
            i.as_ref().map(|i| i.completeness.as_str())
        }
        serde_json::to_string(&Detail {
            version: DETAIL_VERSION,
            schema_version: c.table.meta().schema_version,
            event_id: &c.pointer.event_id,
            event_type: change.event_type(),
            table: c.table.name(),
            operation: c.operation,
            timestamp: c.timestamp,
            before: image(&c.before),
            after: image(&c.after),
            before_image: completeness(&c.before),
            after_image: completeness(&c.after),
            keys: match &c.key {
                Some(k) => Keys::Key(k),
                None => Keys::None(Default::default()),
            },
            redactions: change.redactions(),
            metadata: Metadata {
                transaction_id: c.transaction_id.as_deref(),
                sequence_number: c.pointer.position.sequence.as_str(),
                sub_sequence_number: c.pointer.position.sub_sequence,
                shard_id: &c.pointer.shard,
                source_format: c.format.as_str(),
                snapshot: c.snapshot,
                previous_keys: c.previous_key.as_ref(),
                dropped_columns: c
                    .dropped_columns
                    .iter()
                    .take(MAX_DROPPED_COLUMNS_LISTED)
                    .map(|n| listed_dropped_name(n))
                    .collect(),
                dropped_column_count: (c.dropped_columns.len() > MAX_DROPPED_COLUMNS_LISTED)
                    .then_some(c.dropped_columns.len()),
            },
        })
        .unwrap()
    }

    /// Every table's example row as INSERT, UPDATE with a key-only `before`, DELETE, SNAPSHOT and
    /// TRUNCATE, with and without redaction, a transaction id, a sub-sequence number and an
    /// unknown column: the written detail is byte for byte what `serde_json` writes.
    #[test]
    fn detail_writer_matches_the_serde_model() {
        let options = EventOptions {
            source: "cdc-pipeline".into(),
            max_entry_size: 1 << 20,
        };
        let mut checked = 0;
        for redaction in [
            Redaction::Disabled,
            Redaction::with_key(b"event-test-hmac-key-0123456789abcdef".to_vec()).unwrap(),
        ] {
            let mut config = PipelineConfig::new(redaction);
            config
                .set_table_allow_list(Table::ALL.iter().map(|t| t.name()))
                .unwrap();
            for (n, table) in Table::ALL.iter().enumerate() {
                let row = Value::Object(testkit::example_row(table.name()));
                let mut key = serde_json::Map::new();
                for f in table.meta().fields.iter().filter(|f| f.key) {
                    key.insert(f.name.into(), row[f.name].clone());
                }
                let mut with_unknown = row.clone();
                with_unknown["zz_unknown_column"] = json!("x\"y");
                for (op, before, after) in [
                    ("INSERT", Value::Null, row.clone()),
                    ("UPDATE", Value::Object(key.clone()), with_unknown),
                    ("DELETE", row.clone(), Value::Null),
                    ("SNAPSHOT", Value::Null, row.clone()),
                    ("TRUNCATE", Value::Null, Value::Null),
                ] {
                    let record = json!({"table": table.name(), "operation": op,
                        "timestamp": "2026-11-25T10:14:31.120456+02:00",
                        // Texts that need escaping in some of them (`json::write_str`'s other way).
                        "transaction_id": match n % 4 {
                            0 | 2 => json!(n),
                            1 => json!("tx \"é\\\u{1}"),
                            _ => Value::Null,
                        },
                        "before": before, "after": after});
                    let bytes = serde_json::to_vec(&record).unwrap();
                    let Decoded::Change(raw) =
                        formats::decode(&bytes, &FormatOptions::default(), &mut None).unwrap()
                    else {
                        panic!("not a change")
                    };
                    let pointer = RecordPointer {
                        stream: Arc::<str>::from("arn:aws:kinesis:eu-west-1:1:stream/s"),
                        shard: Arc::<str>::from(if n % 4 == 1 {
                            "shard \"é\\\n"
                        } else {
                            "shardId-000000000001"
                        }),
                        position: Position {
                            sequence: "49590338271490256608559692538361571095921575989136588898"
                                .parse()
                                .unwrap(),
                            sub_sequence: (n % 3 == 0).then_some(n as u64),
                        },
                        event_id: format!("{n:032x}").parse().unwrap(),
                    };
                    let change =
                        validate::validate(raw, *table, pointer, &ValidateOptions::default())
                            .unwrap_or_else(|e| panic!("{table} {op}: {e}"));
                    // The pipeline's way (in place, borrowed) writes the same entry.
                    let mut in_place = change.clone();
                    let borrowed = transform::apply_in_place(
                        &mut in_place,
                        config.table(*table),
                        config.redaction(),
                    )
                    .unwrap();
                    let borrowed_entry =
                        build_with_buffer(&borrowed, &options, &mut b"leftover".to_vec()).unwrap();
                    let redacted =
                        transform::apply(change, config.table(*table), config.redaction()).unwrap();
                    let entry = build(&redacted, &options).unwrap();
                    assert_eq!(entry.detail, oracle(&redacted), "{table} {op}");
                    assert_eq!(borrowed_entry, entry, "{table} {op}");
                    // The ordering key is the table and the key's JSON in the detail.
                    assert_eq!(entry.ordering_key.table(), *table);
                    let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
                    match entry.row_key() {
                        Some(key) => {
                            assert_ne!(op, "TRUNCATE", "{table} {op}");
                            let key: serde_json::Value = serde_json::from_str(key).unwrap();
                            assert_eq!(key, detail["keys"], "{table} {op}");
                        }
                        None => assert_eq!(op, "TRUNCATE"),
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 2 * 5 * Table::ALL.len());
    }

    #[test]
    fn size_like_eventbridge() {
        assert_eq!(
            entry_size("cdc-pipeline", "CDC.TableChange", "{}", &[], true),
            12 + 15 + 2 + 14
        );
        assert_eq!(entry_size("s", "d", "é", &["arn:x"], false), 1 + 1 + 2 + 5);
    }
}
