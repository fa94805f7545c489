//! The CoreDB trigger format (defined in `docs/formats.md`):
//!
//! ```json
//! {"table": "users", "operation": "UPDATE", "timestamp": "2024-01-15T10:30:00Z",
//!  "transaction_id": "txn-456", "before": {"id": "…", "status": "active"}, "after": {…}}
//! ```

use super::{json_str, non_null, parse_error, parse_timestamp, string_or_number};
use super::{Cow, SourceFormat};
use super::{Decoded, Fields, RawChange};
use crate::error::RecordError;
use cdc_models::Operation;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use std::sync::Arc;

pub(super) fn read<'a>(fields: &Fields<'a>) -> Result<Decoded<'a>, RecordError> {
    let table = fields
        .get("table")
        .ok_or_else(|| parse_error("coredb-trigger record without `table`"))?;
    let table: Cow<'a, str> =
        json_str(table).ok_or_else(|| parse_error("coredb-trigger `table` is not a string"))?;
    let header = header(&Members {
        operation: fields.get("operation"),
        timestamp: fields.get("timestamp"),
        transaction_id: fields.get("transaction_id"),
        snapshot: fields.get("snapshot"),
        position: fields.get("position"),
    })?;
    Ok(Decoded::Change(RawChange {
        format: SourceFormat::CoredbTrigger,
        table,
        operation: header.operation,
        timestamp: Some(header.timestamp),
        transaction_id: header.transaction_id,
        snapshot: header.snapshot,
        before: non_null(fields.get("before")),
        after: non_null(fields.get("after")),
        debezium_schema: None,
        before_has_placeholder_nulls: false,
        source_position: header.source_position,
    }))
}

/// A trigger record's members besides `table` and the images, as raw JSON (`None`: absent).
#[derive(Default)]
pub(crate) struct Members<'a> {
    pub(crate) operation: Option<&'a RawValue>,
    pub(crate) timestamp: Option<&'a RawValue>,
    pub(crate) transaction_id: Option<&'a RawValue>,
    pub(crate) snapshot: Option<&'a RawValue>,
    pub(crate) position: Option<&'a RawValue>,
}

/// What those members say.
pub(crate) struct Header {
    pub(crate) operation: Operation,
    pub(crate) timestamp: DateTime<Utc>,
    pub(crate) transaction_id: Option<Arc<str>>,
    pub(crate) snapshot: bool,
    /// `coredb-trigger` and the record's `position` (see [`super::RawChange::source_position`]).
    pub(crate) source_position: Option<String>,
}

/// Reads the members (the general path, and [`crate::one_pass`] which captures them as it
/// streams by): the one place that decides what a trigger record's envelope means.
pub(crate) fn header(m: &Members<'_>) -> Result<Header, RecordError> {
    let operation = m
        .operation
        .ok_or_else(|| parse_error("coredb-trigger record without `operation`"))?;
    let operation: Operation = json_str(operation)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            parse_error(
                "coredb-trigger `operation` must be INSERT, UPDATE, DELETE, TRUNCATE or SNAPSHOT",
            )
        })?;
    let timestamp = match non_null(m.timestamp) {
        Some(raw) => parse_timestamp("coredb-trigger `timestamp`", raw)?,
        None => return Err(parse_error("coredb-trigger record without `timestamp`")),
    };
    let transaction_id = match m.transaction_id {
        Some(raw) => string_or_number("coredb-trigger `transaction_id`", raw)?,
        None => None,
    };
    let snapshot = match non_null(m.snapshot) {
        None => operation == Operation::Snapshot,
        Some(raw) => serde_json::from_str::<bool>(raw.get())
            .map_err(|_| parse_error("coredb-trigger `snapshot` is not a boolean"))?,
    };
    let source_position = match non_null(m.position) {
        None => None,
        Some(raw) => match string_or_number("coredb-trigger `position`", raw)? {
            Some(p) if !p.is_empty() => Some(super::position_text(&["coredb-trigger", &p])),
            _ => return Err(parse_error("coredb-trigger `position` is empty")),
        },
    };
    Ok(Header {
        operation,
        timestamp,
        transaction_id,
        snapshot,
        source_position,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{decode, FormatOptions};
    use super::*;

    #[test]
    fn reads_a_trigger_record() {
        let text = r#"{"table": "users", "operation": "update", "timestamp": "2024-01-15T12:30:00+02:00",
            "transaction_id": 456, "before": {"id": "x"}, "after": null}"#;
        let Decoded::Change(c) =
            decode(text.as_bytes(), &FormatOptions::default(), &mut None).unwrap()
        else {
            panic!("not a change")
        };
        assert_eq!(c.format, SourceFormat::CoredbTrigger);
        assert_eq!(c.table, "users");
        assert_eq!(c.operation, Operation::Update);
        assert_eq!(
            c.timestamp.unwrap().to_rfc3339(),
            "2024-01-15T10:30:00+00:00"
        );
        assert_eq!(c.transaction_id.as_deref(), Some("456"));
        assert_eq!(c.before.unwrap().get(), r#"{"id": "x"}"#);
        assert!(c.after.is_none());
    }

    #[test]
    fn reads_the_position() {
        for (position, expected) in [
            (r#""9c1e/42""#, Some("coredb-trigger\n9c1e/42")),
            ("42", Some("coredb-trigger\n42")),
            ("null", None),
        ] {
            let text = format!(
                r#"{{"table": "users", "operation": "TRUNCATE", "timestamp": "2024-01-15T10:30:00Z", "position": {position}}}"#
            );
            let Decoded::Change(c) =
                decode(text.as_bytes(), &FormatOptions::default(), &mut None).unwrap()
            else {
                panic!("not a change")
            };
            assert_eq!(c.source_position.as_deref(), expected, "{position}");
        }
    }

    #[test]
    fn rejects_bad_envelopes() {
        for text in [
            r#"{"table": "users", "operation": "UPSERT", "timestamp": "2024-01-15T10:30:00Z"}"#,
            r#"{"table": 5, "operation": "INSERT", "timestamp": "2024-01-15T10:30:00Z"}"#,
            r#"{"table": "users", "operation": "INSERT"}"#,
            r#"{"table": "users", "operation": "INSERT", "timestamp": "yesterday"}"#,
            r#"{"table": "users", "operation": "TRUNCATE", "timestamp": "2024-01-15T10:30:00Z", "position": ""}"#,
            r#"{"table": "users", "operation": "TRUNCATE", "timestamp": "2024-01-15T10:30:00Z", "position": [1]}"#,
        ] {
            let err = decode(text.as_bytes(), &FormatOptions::default(), &mut None).unwrap_err();
            assert_eq!(err.code, crate::ErrorCode::ParseError, "{text}");
        }
    }
}
