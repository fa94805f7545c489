//! The one input adapter: every kind of record the pipeline takes (a Lambda Kinesis record, one
//! read leniently, a local mode raw record) seen as an [`Input`], and a batch's inputs grouped by
//! shard.

use crate::decode::kinesis::shard_id;
use crate::decode::{LenientKinesisRecord, RawInput};
use crate::sequence::{InvalidSequenceNumber, SequenceNumber};
use aws_lambda_events::event::kinesis::KinesisEventRecord;
use base64::Engine;
use std::sync::Arc;

/// A record of a batch, as the pipeline reads it.
pub(super) trait Source: Sync {
    /// The record's fields.
    fn input(&self) -> Input<'_>;
    /// The record as received, for its dead letter (`originalEvent`).
    fn original_json(&self) -> serde_json::Value;
}

/// One Kinesis record (or raw record) of a batch.
pub(super) struct Input<'e> {
    /// Stream ARN (or local stream name) and shard id, as the record carries them (the
    /// shared copies of the pointers are made once per shard).
    pub stream: &'e str,
    pub shard: &'e str,
    pub raw_sequence: &'e str,
    pub sequence: Result<SequenceNumber, String>,
    pub partition_key: &'e str,
    pub data: Data<'e>,
    /// The record as received (for dead letters).
    pub original: &'e dyn Source,
    /// Raw records have no Kinesis pointer: their id is over their bytes.
    pub id_from_bytes: bool,
}

/// A record's data as received.
#[derive(Clone, Copy)]
pub(super) enum Data<'e> {
    /// Bytes.
    Bytes(&'e [u8]),
    /// Base64 text, decoded when the record is processed (into a buffer reused for the batch, so
    /// a batch's decoded records are never all held at once).
    Base64(&'e str),
}

impl Input<'_> {
    /// The sequence number as received, for the report: a copy of the parsed one when they are
    /// the same text (no leading zeros), which is every real Kinesis sequence number.
    ///
    /// The parsed text is always the received one without its leading zeros (every `Input` is
    /// built that way), so the two are the same text exactly when they are of the same length;
    /// comparing lengths spares a comparison of the digits per record.
    pub fn reported_sequence(&self) -> Arc<str> {
        match &self.sequence {
            Ok(s) if s.text().len() == self.raw_sequence.len() => {
                debug_assert_eq!(s.as_str(), self.raw_sequence);
                s.text().clone()
            }
            _ => Arc::<str>::from(self.raw_sequence),
        }
    }
}

/// The fields shared by both readings of a Lambda Kinesis record.
fn kinesis_input<'e>(
    event_source_arn: Option<&'e str>,
    event_id: Option<&'e str>,
    sequence_number: &'e str,
    partition_key: &'e str,
    data: Data<'e>,
    original: &'e dyn Source,
) -> Input<'e> {
    Input {
        stream: event_source_arn.unwrap_or(""),
        shard: shard_id(event_id).unwrap_or("unknown"),
        raw_sequence: sequence_number,
        sequence: sequence_number
            .parse()
            .map_err(|e: InvalidSequenceNumber| e.to_string()),
        partition_key,
        data,
        original,
        id_from_bytes: false,
    }
}

impl Source for KinesisEventRecord {
    fn input(&self) -> Input<'_> {
        kinesis_input(
            self.event_source_arn.as_deref(),
            self.event_id.as_deref(),
            &self.kinesis.sequence_number,
            &self.kinesis.partition_key,
            Data::Bytes(&self.kinesis.data.0[..]),
            self,
        )
    }

    fn original_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// A record whose `data` is not valid base64 is that record's `PARSE_ERROR`.
impl Source for LenientKinesisRecord {
    fn input(&self) -> Input<'_> {
        kinesis_input(
            self.event_source_arn.as_deref(),
            self.event_id.as_deref(),
            &self.kinesis.sequence_number,
            &self.kinesis.partition_key,
            Data::Base64(&self.kinesis.data),
            self,
        )
    }

    fn original_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// A local mode record: synthetic stream/shard/sequence; its event id is over its bytes.
impl Source for RawInput {
    fn input(&self) -> Input<'_> {
        Input {
            stream: &self.stream,
            shard: &self.shard,
            raw_sequence: self.sequence.as_str(),
            sequence: Ok(self.sequence.clone()),
            partition_key: "",
            data: Data::Bytes(&self.data[..]),
            original: self,
            id_from_bytes: true,
        }
    }

    fn original_json(&self) -> serde_json::Value {
        serde_json::json!({
            "eventSource": "local",
            "kinesis": {
                "partitionKey": "",
                "sequenceNumber": self.sequence.as_str(),
                "data": base64::engine::general_purpose::STANDARD.encode(&self.data),
            },
            "eventID": format!("{}:{}", self.shard, self.sequence),
            "eventSourceARN": self.stream,
        })
    }
}

/// The inputs grouped by (stream, shard), each shard's in batch order. A Lambda batch comes from
/// one shard: then its inputs are the one group as they are, without copying them.
pub(super) fn by_shard(inputs: Vec<Input<'_>>) -> Vec<Vec<Input<'_>>> {
    let same_shard = |a: &Input<'_>, b: &Input<'_>| a.stream == b.stream && a.shard == b.shard;
    match inputs.first() {
        Some(first) if !inputs.iter().all(|i| same_shard(i, first)) => {
            let mut groups: Vec<Vec<Input<'_>>> = Vec::new();
            for input in inputs {
                match groups.iter_mut().find(|g| same_shard(&g[0], &input)) {
                    Some(g) => g.push(input),
                    None => groups.push(vec![input]),
                }
            }
            groups
        }
        _ => vec![inputs],
    }
}
