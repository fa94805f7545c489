//! The typed change every input format maps to ([`Change`]), and the operation's rules on its
//! images (`assemble`): which images an operation carries, full rows, keys, NOT NULL (from the
//! generated bit sets of each table's `META`), and each image's completeness.

use crate::decode::RecordPointer;
use crate::error::{ErrorCode, RecordError};
use crate::formats::SourceFormat;
use cdc_models::{AnyImage, AnyKey, Operation, Table};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Whether an image holds every column of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Completeness {
    /// The source sent every column.
    Full,
    /// The source sent only some columns (or, for DMS deletes, the key and placeholder nulls).
    Partial,
}

impl Completeness {
    /// `full` or `partial`.
    pub fn as_str(self) -> &'static str {
        match self {
            Completeness::Full => "full",
            Completeness::Partial => "partial",
        }
    }
}

/// A typed row image and whether it is complete.
#[derive(Clone, Debug)]
pub struct Image {
    /// The typed image (boxed: the largest tables' images are kilobytes).
    pub image: Box<AnyImage>,
    /// Full or partial.
    pub completeness: Completeness,
}

/// One change of a known table, typed: what every input format maps to.
#[derive(Clone, Debug)]
pub struct Change {
    /// The table.
    pub table: Table,
    /// What happened.
    pub operation: Operation,
    /// When it happened at the source.
    pub timestamp: DateTime<Utc>,
    /// Source transaction id.
    pub transaction_id: Option<Arc<str>>,
    /// Whether it comes from a snapshot.
    pub snapshot: bool,
    /// The format it was read from.
    pub format: SourceFormat,
    /// The row before the change.
    pub before: Option<Image>,
    /// The row after the change.
    pub after: Option<Image>,
    /// The primary key (from `after`, or `before` for DELETE); `None` only for TRUNCATE.
    pub key: Option<AnyKey>,
    /// Source columns the schema does not know (dropped, never published).
    pub dropped_columns: Vec<String>,
    /// For an UPDATE that changed the primary key: the old key (from `before`), published as
    /// `metadata.previousKeys` so consumers learn that the row under the old key is gone.
    pub previous_key: Option<AnyKey>,
    /// Where the record came from.
    pub pointer: RecordPointer,
}

pub(crate) fn invalid(message: impl Into<String>) -> RecordError {
    RecordError::new(ErrorCode::ValidationError, message)
}

/// What a change carries besides its table and images (from [`crate::formats::RawChange`]).
pub(crate) struct Envelope {
    pub(crate) format: SourceFormat,
    pub(crate) operation: Operation,
    pub(crate) timestamp: Option<DateTime<Utc>>,
    pub(crate) transaction_id: Option<Arc<str>>,
    pub(crate) snapshot: bool,
    pub(crate) before_has_placeholder_nulls: bool,
    /// See [`crate::formats::RawChange::source_position`].
    pub(crate) source_position: Option<String>,
}

/// The change of the images read: the operation's rules on them (which images, full rows, keys,
/// NOT NULL), the key, and each image's completeness.
pub(crate) fn assemble(
    table: Table,
    raw: Envelope,
    before: Option<Box<AnyImage>>,
    after: Option<Box<AnyImage>>,
    dropped_columns: Vec<String>,
    mut pointer: RecordPointer,
) -> Result<Change, RecordError> {
    // A change that carries its source position publishes under the id of that position
    // (`docs/cdc-event.md`), the same wherever in the stream a resend lands.
    if let Some(position) = &raw.source_position {
        pointer.event_id = crate::decode::event_id_for_source_position(position);
    }
    let op = raw.operation;
    let placeholder_nulls = raw.before_has_placeholder_nulls;
    match op {
        Operation::Insert | Operation::Snapshot => {
            let a = after
                .as_ref()
                .ok_or_else(|| invalid(format!("{op} without an `after` image")))?;
            check("after", a, true, true, false)?;
            // An INSERT or SNAPSHOT has no `before` (`docs/cdc-event.md`), as a DELETE has no
            // `after`: publishing one would tell consumers the row existed before.
            if before.is_some() {
                return Err(invalid(format!("{op} with a `before` image")));
            }
        }
        Operation::Update => {
            let a = after
                .as_ref()
                .ok_or_else(|| invalid("UPDATE without an `after` image"))?;
            check("after", a, false, true, false)?;
            if let Some(b) = &before {
                check("before", b, false, false, false)?;
            }
        }
        Operation::Delete => {
            if after.is_some() {
                return Err(invalid("DELETE with an `after` image"));
            }
            let b = before
                .as_ref()
                .ok_or_else(|| invalid("DELETE without a `before` image (its key is needed)"))?;
            check("before", b, false, true, placeholder_nulls)?;
        }
        Operation::Truncate => {
            if before.is_some() || after.is_some() {
                return Err(invalid("TRUNCATE with a row image"));
            }
        }
        _ => return Err(invalid(format!("unsupported operation {op}"))),
    }
    let key = match op {
        Operation::Truncate => None,
        Operation::Delete => before.as_ref().and_then(|b| b.key()),
        _ => after.as_ref().and_then(|a| a.key()),
    };
    if key.is_none() && op != Operation::Truncate {
        // `check` requires the key columns, so this cannot happen; keep it an error, not a panic.
        return Err(invalid("the change has no primary key"));
    }
    let timestamp = raw
        .timestamp
        .ok_or_else(|| invalid("the record carries no timestamp"))?;
    let completeness = |image: &AnyImage, placeholders: bool| {
        if image.as_dyn().is_full() && !placeholders {
            Completeness::Full
        } else {
            Completeness::Partial
        }
    };
    let before = before.map(|image| Image {
        completeness: completeness(&image, placeholder_nulls),
        image,
    });
    let after = after.map(|image| Image {
        completeness: completeness(&image, false),
        image,
    });
    // An UPDATE that moves the row to another key (`docs/cdc-event.md`): the old key, when
    // `before` carries it and it differs.
    let previous_key = match (op, &before) {
        (Operation::Update, Some(b)) => b.image.key().filter(|k| Some(k) != key.as_ref()),
        _ => None,
    };
    Ok(Change {
        previous_key,
        table,
        operation: op,
        timestamp,
        transaction_id: raw.transaction_id,
        snapshot: raw.snapshot,
        format: raw.format,
        before,
        after,
        key,
        dropped_columns,
        pointer,
    })
}

/// Checks key columns (present, not null), NOT NULL columns (unless the nulls are DMS
/// placeholders) and, when `full`, that every column is present.
pub(crate) fn check(
    which: &str,
    image: &AnyImage,
    full: bool,
    key_required: bool,
    placeholder_nulls: bool,
) -> Result<(), RecordError> {
    let d = image.as_dyn();
    let present = d.present_bits();
    let nulls = d.null_bits();
    let meta = d.meta();
    // The common case in a few bit operations; the names are only gathered for the error.
    let bad_keys = if key_required {
        meta.key_bits & (!present | nulls)
    } else {
        meta.key_bits & nulls
    };
    let bad_nulls = if placeholder_nulls {
        0
    } else {
        meta.not_null_bits & nulls
    };
    if bad_keys == 0 && bad_nulls == 0 && (!full || d.is_full()) {
        return Ok(());
    }
    let names = |bits: u128| -> String {
        d.meta()
            .fields
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1u128 << i) != 0)
            .map(|(_, f)| f.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if bad_keys != 0 {
        let problem = if key_required {
            "missing or null"
        } else {
            "null"
        };
        return Err(invalid(format!(
            "{which}: key column(s) {} {problem}",
            names(bad_keys)
        )));
    }
    if bad_nulls != 0 {
        return Err(invalid(format!(
            "{which}: column(s) {} must not be null",
            names(bad_nulls)
        )));
    }
    Err(invalid(format!(
        "{which}: a full row is required; missing column(s) {}",
        d.missing_columns().join(", ")
    )))
}
