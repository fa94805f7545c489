//! Validation: a [`RawChange`] becomes a typed [`Change`] of a known table.
//!
//! Each image is read straight from its raw JSON into the table's generated image type, in one of
//! two ways that must agree (ARCHITECTURE.md, "fast paths agree"; the differential test and the
//! `image_readers` fuzz target hold them to it):
//!
//! - `fast`: one streaming pass from the image's text into the typed image. Columns are found by
//!   name as they stream by (the table's declared column order first), unknown columns are
//!   skipped and named, columns with constraints or with another encoding in this format are
//!   looked at on their raw text and normalized on the spot. Anything it cannot settle, it
//!   declines;
//! - `read`: the careful path, taken when the fast one declines: the image is split into
//!   columns, each column is normalized once (see [`crate::formats::normalize`]) and the typed
//!   image is read once more; a row that still does not fit is checked column by column to name
//!   the column that fails.
//!
//! Constraints the Rust types do not carry (`minimum`/`maximum`, `minLength`/`maxLength`,
//! `enum`, nested constraints, `format: email`) come from the generated table metadata
//! ([`cdc_models::Constraints`] in each table's `META`; [`rules`]), never from re-reading the
//! schema. Errors name the image, the column and the reason, never the value.
//!
//! The operation's rules on the images read (which images, full rows, keys, NOT NULL) and the
//! [`Change`] type are in [`crate::change`]; `validate_row` (with the `cli` feature) is the
//! `validate` command's check of one row, with a JSON Schema validator.

mod fast;
pub mod format;
mod nested;
mod read;
#[cfg(any(feature = "cli", test))]
mod row;
pub mod rules;
#[cfg(any(feature = "cli", test))]
mod schema;

#[cfg(any(test, feature = "testing"))]
pub mod differential;
#[cfg(test)]
mod nested_differential;
#[cfg(test)]
mod tests;

use crate::config::EpochUnit;
use crate::decode::RecordPointer;
use crate::error::RecordError;
use crate::formats::RawChange;
use cdc_models::Table;

pub(crate) use crate::change::{assemble, Envelope};
pub use crate::change::{Change, Completeness, Image};
pub use format::email_is_valid;
pub(crate) use read::ImageReader;
#[cfg(any(feature = "cli", test))]
pub use row::{validate_row, validate_row_with_notes};
pub use rules::{ColumnRules, TableRules};
#[cfg(any(feature = "cli", test))]
pub use schema::{describe_schema_error, schema_options};

/// Options of validation.
#[derive(Clone, Copy, Debug, Default)]
pub struct ValidateOptions {
    /// Unit of integer timestamps without a Debezium schema.
    pub epoch_unit: EpochUnit,
}

/// Validates a change of `table` (already resolved from the record's table name).
pub fn validate(
    raw: RawChange<'_>,
    table: Table,
    pointer: RecordPointer,
    options: &ValidateOptions,
) -> Result<Change, RecordError> {
    let mut reader = ImageReader::new(table, raw.format, options, raw.debezium_schema);
    let before = match raw.before {
        Some(r) => reader.read("before", r)?,
        None => None,
    };
    let after = match raw.after {
        Some(r) => reader.read("after", r)?,
        None => None,
    };
    let envelope = Envelope {
        format: raw.format,
        operation: raw.operation,
        timestamp: raw.timestamp,
        transaction_id: raw.transaction_id,
        snapshot: raw.snapshot,
        before_has_placeholder_nulls: raw.before_has_placeholder_nulls,
        source_position: raw.source_position,
    };
    assemble(
        table,
        envelope,
        before,
        after,
        reader.into_dropped(),
        pointer,
    )
}
