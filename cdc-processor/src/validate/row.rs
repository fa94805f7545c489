//! The `validate` command's check of one row: against the table's JSON Schema (a real
//! validator, formats on) and through the pipeline's own image reader.

use super::read::ImageReader;
use super::rules::path_shape;
use super::schema::{describe_schema_error, schema_options};
use super::ValidateOptions;
use crate::config::EpochUnit;
use crate::formats::SourceFormat;
use cdc_models::Table;
use serde_json::value::RawValue;
use serde_json::Value;

/// Validates one full row of a table, as the `validate` command does: against the table's JSON
/// Schema (a real validator, formats on) and by typed deserialization. Errors name the column
/// path and the reason, never the value. Columns the schema does not know are no problem (the
/// schemas allow them; the pipeline drops them): see [`validate_row_with_notes`].
pub fn validate_row(table: Table, row: &str) -> Result<(), Vec<String>> {
    validate_row_with_notes(table, row).map(|_| ())
}

/// [`validate_row`], with notes on a valid row: one per column the schema does not know, which
/// the pipeline drops (never publishes) and lists in `metadata.droppedColumns`.
pub fn validate_row_with_notes(table: Table, row: &str) -> Result<Vec<String>, Vec<String>> {
    let mut problems = Vec::new();
    match serde_json::from_str::<Value>(row) {
        Err(e) => {
            return Err(vec![crate::formats::json_error("row", &e).message]);
        }
        Ok(value) => {
            let schema: Value = serde_json::from_str(table.schema_json())
                .expect("generated schemas are valid JSON");
            let validator = schema_options()
                .build(&schema)
                .expect("model schemas are valid draft-07");
            // Missing columns of the row itself are one line, not one per column.
            let mut missing = Vec::new();
            for e in validator.iter_errors(&value) {
                let column = path_shape(e.instance_path().as_str());
                if let (true, jsonschema::error::ValidationErrorKind::Required { property }) =
                    (column.is_empty(), e.kind())
                {
                    missing.push(
                        property
                            .as_str()
                            .map_or_else(|| property.to_string(), std::string::ToString::to_string),
                    );
                    continue;
                }
                let column = if column.is_empty() {
                    "(row)".to_string()
                } else {
                    column
                };
                problems.push(format!("schema: {column}: {}", describe_schema_error(&e)));
            }
            if !missing.is_empty() {
                problems.insert(
                    0,
                    format!(
                        "schema: (row): {} required column(s) missing: {}",
                        missing.len(),
                        missing.join(", ")
                    ),
                );
            }
        }
    }
    let schema_problems = !problems.is_empty();
    let raw: Box<RawValue> = match serde_json::from_str(row) {
        Ok(r) => r,
        Err(e) => return Err(vec![crate::formats::json_error("row", &e).message]),
    };
    let options = ValidateOptions {
        epoch_unit: EpochUnit::Auto,
    };
    let mut reader = ImageReader::new(table, SourceFormat::CoredbTrigger, &options, None);
    match reader.read("row", &raw) {
        Err(e) => problems.push(format!("typed: {}", e.message)),
        // An empty row: the schema's line above already says which columns are missing.
        Ok(None) if schema_problems => {}
        Ok(None) => problems.push("typed: row: the row has no column".into()),
        Ok(Some(image)) => {
            if let Err(e) = crate::change::check("row", &image, true, true, false) {
                problems.push(format!("typed: {}", e.message));
            }
        }
    }
    let notes = reader
        .dropped
        .iter()
        .map(|d| {
            format!(
                "row.{d}: column not in the schema of `{}`: the pipeline drops it (never \
                 publishes it) and lists it in `metadata.droppedColumns`",
                table.name()
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(notes)
    } else {
        Err(problems)
    }
}
