//! Record decoding: any bytes, read as each input format (detected or forced), must give a typed,
//! redacted event or a categorized error — never a panic — and an event must be valid JSON within
//! the size limit, with EventBridge-compatible numbers and every redaction policy applied.
//!
//! Input: one selector byte (format, epoch unit, DMS before-image field), then the record.

use cdc_models::Table;
use cdc_processor::config::EpochUnit;
use cdc_processor::decode::RecordPointer;
use cdc_processor::event::{self, EventOptions};
use cdc_processor::formats::{self, Decoded, FormatOptions, SourceFormat};
use cdc_processor::sequence::Position;
use cdc_processor::validate::{self, ValidateOptions};
use cdc_processor::{transform, ErrorCode};
use std::sync::Arc;

const MAX_ENTRY: usize = 262_144;

/// Runs the check on one input.
pub fn run(data: &[u8]) {
    let Some((&sel, record)) = data.split_first() else {
        return;
    };
    let forced = match sel & 3 {
        0 => None,
        1 => Some(SourceFormat::CoredbTrigger),
        2 => Some(SourceFormat::Debezium),
        _ => Some(SourceFormat::Dms),
    };
    let epoch_unit = match (sel >> 2) & 3 {
        0 => EpochUnit::Auto,
        1 => EpochUnit::Millis,
        2 => EpochUnit::Micros,
        _ => EpochUnit::Nanos,
    };
    let options = FormatOptions {
        forced,
        dms_before_image_field: if sel & 0x10 != 0 {
            "before"
        } else {
            "before-image"
        }
        .to_string(),
    };
    let mut detected = None;
    let raw = match formats::decode(record, &options, &mut detected) {
        Ok(Decoded::Change(raw)) => raw,
        Ok(Decoded::Acknowledged(_)) => return,
        Err(e) => {
            assert_eq!(
                e.code,
                ErrorCode::ParseError,
                "decode errors are PARSE_ERROR"
            );
            return;
        }
    };
    assert!(detected.is_some(), "a change has a format");
    let Some(table) = Table::from_name(&raw.table) else {
        return;
    };
    let pointer = RecordPointer {
        stream: Arc::<str>::from("arn:aws:kinesis:us-east-1:123456789012:stream/fuzz"),
        shard: Arc::<str>::from("shardId-000000000000"),
        position: Position {
            sequence: "49590338271490256608559692538361571095921575989136588898"
                .parse()
                .unwrap(),
            sub_sequence: None,
        },
        event_id: "0123456789abcdef0123456789abcdef".parse().unwrap(),
    };
    let change = match validate::validate(raw, table, pointer, &ValidateOptions { epoch_unit }) {
        Ok(c) => c,
        Err(e) => {
            // A row the schema rejects is VALIDATION_ERROR; an unreadable Debezium `schema`
            // block, read only now, is PARSE_ERROR. Both are dead-lettered, never retried.
            assert!(
                matches!(e.code, ErrorCode::ValidationError | ErrorCode::ParseError),
                "validation failed with {}",
                e.code
            );
            return;
        }
    };
    let config = super::config();
    let redacted = transform::apply(change, config.table(table), config.redaction())
        .expect("with a key, projection and redaction cannot fail");
    let options = EventOptions {
        source: "cdc-pipeline".into(),
        max_entry_size: MAX_ENTRY,
    };
    match event::build(&redacted, &options) {
        Ok(entry) => {
            assert!(entry.size <= MAX_ENTRY);
            let detail: serde_json::Value =
                serde_json::from_str(&entry.detail).expect("the detail is JSON");
            assert_eq!(detail["table"], table.name());
            assert!(
                super::numbers_fit_eventbridge(&detail),
                "a number EventBridge rejects was published"
            );
            super::redaction_holds(&detail);
        }
        Err(e) => assert_eq!(e.code, ErrorCode::EntryTooLarge),
    }
}
