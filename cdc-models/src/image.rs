//! What every generated image type can do.

use crate::{Projection, Redactions, Redactor, Table, TableMeta};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;

/// Why an image does not fit its operation or its table. Names columns, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// Columns the operation requires (a full row) are missing from the image.
    #[error("{table}: image is missing column(s) {}", .columns.join(", "))]
    MissingColumns {
        /// The table.
        table: &'static str,
        /// The missing column names.
        columns: Vec<&'static str>,
    },
    /// NOT NULL columns hold `null`.
    #[error("{table}: column(s) {} must not be null", .columns.join(", "))]
    NullInNotNull {
        /// The table.
        table: &'static str,
        /// The offending column names.
        columns: Vec<&'static str>,
    },
    /// A key column is absent or null.
    #[error("{table}: key column(s) {} missing or null", .columns.join(", "))]
    MissingKey {
        /// The table.
        table: &'static str,
        /// The key column names that are absent or null.
        columns: Vec<&'static str>,
    },
}

/// A typed change image of one table: every column is a [`crate::Column`], so an image may be a full
/// row or a partial one. Implemented by generated code for every table.
pub trait TableImage:
    Serialize + DeserializeOwned + Default + Clone + fmt::Debug + Send + Sync + 'static
{
    /// The full-row type (every column present; nullable columns are `Option`).
    type Row: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static;
    /// The primary-key type.
    type Key: Serialize
        + DeserializeOwned
        + Clone
        + fmt::Debug
        + PartialEq
        + Eq
        + std::hash::Hash
        + Send
        + Sync
        + 'static;

    /// The table this image belongs to.
    const TABLE: Table;

    /// Bit `i` is set when column `i` (in [`TableMeta::fields`] order) is present.
    fn present_bits(&self) -> u128;
    /// Bit `i` is set when column `i` is present and `NULL`.
    fn null_bits(&self) -> u128;
    /// Applies every column's redaction policy, recording what was applied.
    fn redact(&mut self, redactor: &Redactor, applied: &mut Redactions);
    /// Makes every column outside the projection absent (key columns are always kept).
    fn project(&mut self, projection: &Projection);
    /// The primary key, if every key column is present and not `NULL`.
    fn key(&self) -> Option<Self::Key>;
    /// The full row, or the image back if a column is absent or a NOT NULL column is `NULL`.
    fn into_row(self) -> Result<Self::Row, Self>;
    /// The image of a full row.
    fn from_row(row: Self::Row) -> Self;
    /// Writes the image as a JSON object: the same bytes as `serde_json::to_writer(out, self)`,
    /// written by generated code without going through `serde` for the common column types.
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()>;

    /// The table's metadata.
    fn meta() -> &'static TableMeta {
        Self::TABLE.meta()
    }
}

/// Object-safe view of any [`TableImage`], used where the table is only known at run time.
pub trait DynImage: fmt::Debug + Send + Sync {
    /// The table's metadata.
    fn meta(&self) -> &'static TableMeta;
    /// See [`TableImage::present_bits`].
    fn present_bits(&self) -> u128;
    /// See [`TableImage::null_bits`].
    fn null_bits(&self) -> u128;
    /// See [`TableImage::redact`].
    fn redact(&mut self, redactor: &Redactor, applied: &mut Redactions);
    /// See [`TableImage::project`].
    fn project(&mut self, projection: &Projection);
    /// The key as a JSON object, if every key column is present and not `NULL`.
    fn key_json(&self) -> Option<serde_json::Value>;
    /// Serializes the image as a JSON object.
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()>;
    /// The image as a JSON value.
    fn to_json_value(&self) -> serde_json::Value;

    /// Whether every column is present.
    fn is_full(&self) -> bool {
        let n = self.meta().fields.len();
        let all = if n >= 128 {
            u128::MAX
        } else {
            (1u128 << n) - 1
        };
        self.present_bits() & all == all
    }

    /// Names of the columns absent from the image.
    fn missing_columns(&self) -> Vec<&'static str> {
        let bits = self.present_bits();
        self.meta()
            .fields
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) == 0)
            .map(|(_, f)| f.name)
            .collect()
    }

    /// Checks NOT NULL columns, key columns and, when `require_full`, that every column is present.
    fn check(&self, require_full: bool) -> Result<(), ImageError> {
        let meta = self.meta();
        let present = self.present_bits();
        let nulls = self.null_bits();
        let bad_keys: Vec<_> = meta
            .fields
            .iter()
            .enumerate()
            .filter(|(i, f)| f.key && (present & (1 << i) == 0 || nulls & (1 << i) != 0))
            .map(|(_, f)| f.name)
            .collect();
        if !bad_keys.is_empty() {
            return Err(ImageError::MissingKey {
                table: meta.name,
                columns: bad_keys,
            });
        }
        let null_violations: Vec<_> = meta
            .fields
            .iter()
            .enumerate()
            .filter(|(i, f)| !f.nullable && nulls & (1 << i) != 0)
            .map(|(_, f)| f.name)
            .collect();
        if !null_violations.is_empty() {
            return Err(ImageError::NullInNotNull {
                table: meta.name,
                columns: null_violations,
            });
        }
        if require_full && !self.is_full() {
            return Err(ImageError::MissingColumns {
                table: meta.name,
                columns: self.missing_columns(),
            });
        }
        Ok(())
    }
}

impl<T: TableImage> DynImage for T {
    fn meta(&self) -> &'static TableMeta {
        T::TABLE.meta()
    }
    fn present_bits(&self) -> u128 {
        TableImage::present_bits(self)
    }
    fn null_bits(&self) -> u128 {
        TableImage::null_bits(self)
    }
    fn redact(&mut self, redactor: &Redactor, applied: &mut Redactions) {
        TableImage::redact(self, redactor, applied)
    }
    fn project(&mut self, projection: &Projection) {
        TableImage::project(self, projection)
    }
    fn key_json(&self) -> Option<serde_json::Value> {
        self.key()
            .map(|k| serde_json::to_value(k).expect("generated key types serialize to JSON"))
    }
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        TableImage::write_json(self, out)
    }
    fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("generated image types serialize to JSON")
    }
}
