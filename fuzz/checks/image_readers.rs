//! The two image readers, separately: for any image of any table in any source format, the fast
//! reader either declines or reads exactly what the careful reader reads (the same typed image
//! and the same dropped columns) — ARCHITECTURE.md's "fast paths agree". Never a panic.
//!
//! Input: a table selector byte; a byte choosing the encoding (bits 0–1: CoreDB, Debezium,
//! Debezium with its schema, DMS), the image (bit 2: `before` or `after`) and the epoch unit
//! (bits 3–4); then the image's JSON text.

use cdc_models::Table;
use cdc_processor::config::EpochUnit;
use cdc_processor::validate::differential::{readers_agree, Encoding};
use cdc_processor::validate::ValidateOptions;
use serde_json::value::RawValue;

/// Runs the check on one input.
pub fn run(data: &[u8]) {
    let [table, selector, json @ ..] = data else {
        return;
    };
    let table = Table::ALL[usize::from(*table) % Table::ALL.len()];
    let encoding = Encoding::ALL[usize::from(selector & 3)];
    let which = if selector & 4 == 0 { "after" } else { "before" };
    let epoch_unit = [
        EpochUnit::Auto,
        EpochUnit::Millis,
        EpochUnit::Micros,
        EpochUnit::Nanos,
    ][usize::from((selector >> 3) & 3)];
    let Ok(text) = std::str::from_utf8(json) else {
        return;
    };
    let Ok(image) = serde_json::from_str::<Box<RawValue>>(text) else {
        return;
    };
    let schema = encoding.schema(table);
    let options = ValidateOptions { epoch_unit };
    if let Err(e) = readers_agree(
        table,
        encoding.format(),
        &options,
        schema.as_deref(),
        which,
        &image,
    ) {
        panic!("{e}");
    }
}
