//! Column normalization (Debezium encodings, DMS scientific notation, JSON in strings): any JSON
//! value for any column kind, with or without a Debezium semantic type and scale, is normalized,
//! kept, or rejected with a reason — never a panic, never an unbounded allocation.
//!
//! Input: a selector byte (column, semantic type, scale), then the value's JSON text.

use cdc_models::Table;
use cdc_processor::config::EpochUnit;
use cdc_processor::formats::decimal::Decimal;
use cdc_processor::formats::normalize::{self, Context};
use cdc_processor::formats::{FieldHint, SourceFormat};
use serde_json::value::RawValue;

const SEMANTIC: [Option<&str>; 8] = [
    None,
    Some("io.debezium.time.Timestamp"),
    Some("io.debezium.time.MicroTimestamp"),
    Some("io.debezium.time.NanoTimestamp"),
    Some("io.debezium.time.Date"),
    Some("org.apache.kafka.connect.data.Decimal"),
    Some("io.debezium.data.VariableScaleDecimal"),
    Some("io.debezium.data.Json"),
];

/// Runs the check on one input.
pub fn run(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    // Decimals and lenient timestamps on their own.
    if let Some(d) = Decimal::parse(text) {
        let _ = d.to_i64();
        let _ = d.to_plain_string();
        let _ = d.rescale(u32::from(sel % 40));
    }
    let _ = normalize::parse_datetime_lenient(text);

    let Ok(raw) = serde_json::from_str::<Box<RawValue>>(text) else {
        return;
    };
    // A column of each kind: pick a table and a column by the selector.
    let table = Table::ALL[usize::from(sel) % Table::ALL.len()];
    let fields = table.meta().fields;
    let field = &fields[usize::from(sel.rotate_left(3)) % fields.len()];
    let hint = FieldHint {
        field: field.name.to_string(),
        connect_type: "string".to_string(),
        name: SEMANTIC[usize::from(sel >> 5)].map(str::to_string),
        scale: (sel & 0x10 != 0).then_some(u32::from(sel & 0x0f)),
    };
    let ctx = Context {
        format: if sel & 1 == 0 {
            SourceFormat::Debezium
        } else {
            SourceFormat::Dms
        },
        epoch_unit: EpochUnit::Auto,
        decimal_scale: (sel & 2 != 0).then_some(2),
        hint: (sel & 4 != 0).then_some(&hint),
    };
    if let Ok(Some(v)) = normalize::normalize(field, &raw, &ctx) {
        // A normalized value is one JSON value (its numbers may still be out of a double's
        // range: the typed image rejects those, as VALIDATION_ERROR).
        serde_json::from_str::<Box<RawValue>>(v.get()).expect("normalized value is JSON");
    }
}
