//! Decoding Kinesis records into user records: base64 (Lambda's event JSON), KPL aggregate
//! deaggregation, and JSON lines of raw change records for the local mode.

pub mod kinesis;
pub mod kpl;
pub mod raw;

pub use kinesis::{LenientKinesisEvent, LenientKinesisRecord};
pub use kpl::{deaggregate, UserRecord};
pub use raw::RawInput;

use crate::sequence::Position;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Where a user record came from: its stream, shard and position, and its stable event id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordPointer {
    /// Stream ARN (Lambda's `eventSourceARN`) or the local stream name.
    pub stream: Arc<str>,
    /// Shard id.
    pub shard: Arc<str>,
    /// Sequence and sub-sequence number.
    pub position: Position,
    /// The event id the record publishes under (see [`event_id_for_pointer`]).
    pub event_id: String,
}

/// The stable event id of a record identified by its Kinesis pointer: 32 hex digits of
/// SHA-256 over `stream ARN \n shard id \n sequence number \n sub-sequence number` (the
/// sequence number without leading zeros, the sub-sequence number empty for a plain record).
pub fn event_id_for_pointer(
    stream_arn: &str,
    shard_id: &str,
    sequence_number: &str,
    sub_sequence: Option<u64>,
) -> String {
    let mut h = Sha256::new();
    h.update(stream_arn.as_bytes());
    h.update(b"\n");
    h.update(shard_id.as_bytes());
    h.update(b"\n");
    h.update(sequence_number.as_bytes());
    h.update(b"\n");
    if let Some(sub) = sub_sequence {
        h.update(sub.to_string().as_bytes());
    }
    hex_id(&h.finalize()[..16])
}

/// Lower-case hex of an id's bytes (as `hex::encode`, without building it char by char).
fn hex_id(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The stable event id of a record without a Kinesis pointer (local JSON lines): 32 hex digits of
/// SHA-256 over the record's bytes.
pub fn event_id_for_bytes(data: &[u8]) -> String {
    hex_id(&Sha256::digest(data)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_the_hex_crate() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_id(&bytes), hex::encode(&bytes));
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = event_id_for_pointer(
            "arn",
            "shardId-0",
            "49590338271490256608559692538361571095921575989136588898",
            None,
        );
        assert_eq!(a.len(), 32);
        assert_eq!(
            a,
            event_id_for_pointer(
                "arn",
                "shardId-0",
                "49590338271490256608559692538361571095921575989136588898",
                None
            )
        );
        assert_ne!(
            a,
            event_id_for_pointer(
                "arn",
                "shardId-0",
                "49590338271490256608559692538361571095921575989136588898",
                Some(0)
            )
        );
        assert_ne!(event_id_for_bytes(b"{}"), event_id_for_bytes(b"{ }"));
    }
}
