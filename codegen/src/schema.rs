//! The checked form of one table schema.

use crate::Error;
use std::path::Path;

/// A redaction policy as written in `x-redact`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `"remove"`.
    Remove,
    /// `"mask"`.
    Mask,
    /// `"hash"`.
    Hash,
    /// `{"policy": "partial", "keepLast": n}`.
    Partial(u8),
}

/// JSON shape of a column (mirrors `cdc_models::ColumnKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    String,
    /// UUID.
    Uuid,
    /// RFC 3339 timestamp.
    DateTime,
    /// Calendar date.
    Date,
    /// Whole number.
    Integer,
    /// Floating-point number.
    Number,
    /// Boolean.
    Boolean,
    /// Exact decimal string.
    Decimal,
    /// JSON object.
    Object,
    /// JSON array.
    Array,
}

impl Kind {
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Kind::String => "String",
            Kind::Uuid => "Uuid",
            Kind::DateTime => "DateTime",
            Kind::Date => "Date",
            Kind::Integer => "Integer",
            Kind::Number => "Number",
            Kind::Boolean => "Boolean",
            Kind::Decimal => "Decimal",
            Kind::Object => "Object",
            Kind::Array => "Array",
        }
    }
}

/// One column, checked.
#[derive(Debug, Clone)]
pub struct ColumnSchema {
    /// Column name on the wire.
    pub name: String,
    /// Rust field name.
    pub rust_name: String,
    /// JSON shape.
    pub kind: Kind,
    /// Whether `null` is allowed.
    pub nullable: bool,
    /// Whether the column is part of the primary key.
    pub key: bool,
    /// Redaction policy, if any.
    pub policy: Option<Policy>,
    /// The property's schema.
    pub schema: serde_json::Value,
}

/// One table schema, checked against the project's conventions.
#[derive(Debug, Clone)]
pub struct TableSchema {
    /// Schema file name.
    pub file: String,
    /// Table name.
    pub name: String,
    /// Rust type name of the full row.
    pub title: String,
    /// Table description.
    pub description: String,
    /// Event type.
    pub event_type: String,
    /// Category (snake_case).
    pub category: String,
    /// Primary-key columns in key order.
    pub primary_key: Vec<String>,
    /// Include list; `None` means every column.
    pub include: Option<Vec<String>>,
    /// Captured when no table list is configured.
    pub captured_by_default: bool,
    /// The table's schema version (`x-cdc.version`, from 1): bumped, with a line in
    /// `model-schemas/CHANGELOG.md`, by every breaking or privacy-relevant change.
    pub version: u32,
    /// Columns sorted by name.
    pub columns: Vec<ColumnSchema>,
    /// Column names in the order the schema text declares them (the table's column order).
    pub declared_order: Vec<String>,
    /// The whole schema document.
    pub raw: serde_json::Value,
}

/// Reads every `*.json` file directly in `dir`, sorted by name.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, Error> {
    let io = |source| Error::Io {
        dir: dir.display().to_string(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            out.push((name, std::fs::read_to_string(&path).map_err(io)?));
        }
    }
    out.sort();
    Ok(out)
}
