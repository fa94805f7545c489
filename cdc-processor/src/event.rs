//! The EventBridge entry of a change: `Source`, `DetailType = CDC.TableChange`, `Time` and the
//! detail JSON of `docs/cdc-event.md` (version 1.0), with its size counted the way EventBridge
//! counts it.

use crate::config::DETAIL_TYPE;
use crate::error::{ErrorCode, RecordError};
use crate::formats::normalize::format_datetime;
use crate::plan::ordering_key;
use crate::ports::PreparedEntry;
use crate::transform::Redacted;
use crate::validate::{Change, Image};
use cdc_models::{AnyImage, AnyKey, Operation, Redactions, DETAIL_VERSION};
use serde::Serialize;

/// What the event builder needs besides the change.
#[derive(Clone, Debug)]
pub struct EventOptions {
    /// `Source` (`EVENT_SOURCE`).
    pub source: String,
    /// Largest entry published (bytes as EventBridge counts them).
    pub max_entry_size: usize,
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Detail<'a> {
    version: &'static str,
    event_id: &'a str,
    event_type: &'a str,
    table: &'static str,
    operation: Operation,
    timestamp: String,
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
    /// TRUNCATE concerns the whole table: no key.
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
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    dropped_columns: &'a [String],
}

/// Builds the entry of a projected, redacted change. An entry over the size limit is an
/// `ENTRY_TOO_LARGE` error (dead-lettered, never a failed batch).
pub fn build(
    change: &Redacted<Change>,
    options: &EventOptions,
) -> Result<PreparedEntry, RecordError> {
    let c = change.value();
    fn image(i: &Option<Image>) -> Option<&AnyImage> {
        i.as_ref().map(|i| &*i.image)
    }
    fn completeness(i: &Option<Image>) -> Option<&'static str> {
        i.as_ref().map(|i| i.completeness.as_str())
    }
    let detail = Detail {
        version: DETAIL_VERSION,
        event_id: &c.pointer.event_id,
        event_type: change.event_type(),
        table: c.table.name(),
        operation: c.operation,
        timestamp: format_datetime(c.timestamp),
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
            dropped_columns: &c.dropped_columns,
        },
    };
    let detail = serde_json::to_string(&detail).map_err(|e| {
        RecordError::new(
            ErrorCode::TransformationError,
            format!("serializing the event detail failed: {}", e.classify_name()),
        )
    })?;
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
    Ok(PreparedEntry {
        event_id: c.pointer.event_id.clone(),
        source: options.source.clone(),
        detail_type: DETAIL_TYPE.to_string(),
        detail,
        time: Some(c.timestamp),
        size,
        ordering_key: ordering_key(c.table, c.key.as_ref()),
    })
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

    #[test]
    fn size_like_eventbridge() {
        assert_eq!(
            entry_size("cdc-pipeline", "CDC.TableChange", "{}", &[], true),
            12 + 15 + 2 + 14
        );
        assert_eq!(entry_size("s", "d", "é", &["arn:x"], false), 1 + 1 + 2 + 5);
    }
}
