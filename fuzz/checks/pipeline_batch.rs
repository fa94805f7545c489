//! The whole pipeline over a batch of fuzzed Kinesis records (base64 data, KPL aggregates, any
//! format) with in-memory ports that never fail: no panic, no batch item failure (bad input never
//! stops a batch), every user record accounted for, PutEvents requests of at most 10 entries,
//! every published detail valid JSON.
//!
//! Input: records separated by the byte 0x1E; the first byte of each record picks its sequence
//! number step (0: the same number as the previous record, a redelivery) and whether its data is
//! sent as base64 or raw text (to reach bad-base64 handling).

use base64::Engine;
use cdc_processor::decode::kinesis::LenientKinesisData;
use cdc_processor::decode::{LenientKinesisEvent, LenientKinesisRecord};
use cdc_processor::testing::{MemoryCheckpointStore, MemoryDeadLetterSink, MemoryPublisher};
use cdc_processor::Pipeline;

/// Runs the check on one input.
pub fn run(data: &[u8]) {
    let mut records = Vec::new();
    let mut seq: u128 = 49_590_338_271_490_256_608;
    for chunk in data.split(|b| *b == 0x1e).take(64) {
        let Some((&sel, bytes)) = chunk.split_first() else {
            continue;
        };
        seq += u128::from(sel & 0x0f);
        let data = if sel & 0x80 != 0 {
            String::from_utf8_lossy(bytes).into_owned()
        } else {
            base64::engine::general_purpose::STANDARD.encode(bytes)
        };
        let sequence = format!("{seq:0>56}");
        records.push(LenientKinesisRecord {
            event_source: Some("aws:kinesis".into()),
            event_id: Some(format!("shardId-00000000000{}:{sequence}", (sel >> 4) & 1)),
            event_source_arn: Some("arn:aws:kinesis:us-east-1:123456789012:stream/fuzz".into()),
            kinesis: LenientKinesisData {
                partition_key: "pk".into(),
                sequence_number: sequence,
                data,
                ..Default::default()
            },
            ..Default::default()
        });
    }
    let pipeline = Pipeline::new(
        super::config().clone(),
        MemoryPublisher::new(),
        MemoryCheckpointStore::new(),
        MemoryDeadLetterSink::new(),
    );
    let report =
        super::block_on(pipeline.process_lenient_event(&LenientKinesisEvent { records }, "fuzz"));
    assert!(
        report.batch_item_failures.is_empty(),
        "bad input stopped the batch: {:?}",
        report.records.iter().find(|r| matches!(
            r.disposition,
            cdc_processor::pipeline::Disposition::Failed { .. }
        ))
    );
    let c = &report.counts;
    assert_eq!(
        c.published + c.acknowledged + c.skipped + c.dead_lettered_total(),
        c.records_in,
        "a record was lost"
    );
    assert_eq!(c.records_in as usize, report.records.len());
    let published = pipeline.publisher().published();
    assert_eq!(published.len() as u64, c.published);
    assert_eq!(
        pipeline.dead_letters().letters().len() as u64,
        c.dead_lettered_total()
    );
    assert!(pipeline
        .publisher()
        .requests()
        .iter()
        .all(|n| (1..=10).contains(n)));
    for e in &published {
        let d: serde_json::Value = serde_json::from_str(&e.detail).expect("detail is JSON");
        assert!(super::numbers_fit_eventbridge(&d));
        super::redaction_holds(&d);
    }
}
