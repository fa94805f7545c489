//! Row validation: any bytes, for any table, must give a typed image or a clean error — never a
//! panic — and a typed image must survive redaction, projection and the completeness checks.

use cdc_models::{Redactions, Redactor, Table};

/// Runs the check on one input.
pub fn run(data: &[u8]) {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let table = Table::ALL[usize::from(selector) % Table::ALL.len()];
    let mut de = serde_json::Deserializer::from_slice(json);
    let Ok(mut image) = cdc_models::AnyImage::deserialize(table, &mut de) else {
        return;
    };
    let dyn_image = image.as_dyn_mut();
    let _ = dyn_image.check(true);
    let redactor = Redactor::new(b"fuzz-key-0123456789abcdef-0123456789".to_vec())
        .expect("key is long enough");
    let mut applied = Redactions::default();
    dyn_image.redact(&redactor, &mut applied);
    dyn_image.project(&table.meta().default_projection());
    let mut out = Vec::new();
    dyn_image
        .write_json(&mut out)
        .expect("a typed image serializes");
    // What we publish parses back into the same table's image.
    let mut de = serde_json::Deserializer::from_slice(&out);
    cdc_models::AnyImage::deserialize(table, &mut de).expect("published image parses back");
}
