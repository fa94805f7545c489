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
    pub event_id: Arc<str>,
}

/// The stable event id of a record identified by its Kinesis pointer: 32 hex digits of
/// SHA-256 over `stream ARN \n shard id \n sequence number \n sub-sequence number` (the
/// sequence number without leading zeros, the sub-sequence number empty for a plain record).
pub fn event_id_for_pointer(
    stream_arn: &str,
    shard_id: &str,
    sequence_number: &str,
    sub_sequence: Option<u64>,
) -> Arc<str> {
    ShardHasher::new(stream_arn, shard_id).event_id(sequence_number, sub_sequence)
}

/// [`event_id_for_pointer`] for the records of one shard: the stream ARN and shard id are hashed
/// once, and each record's id continues from that state.
#[derive(Clone)]
pub struct ShardHasher(Sha256);

impl ShardHasher {
    /// The hash state after `stream ARN \n shard id \n`.
    pub fn new(stream_arn: &str, shard_id: &str) -> ShardHasher {
        let mut h = Sha256::new();
        h.update(stream_arn.as_bytes());
        h.update(b"\n");
        h.update(shard_id.as_bytes());
        h.update(b"\n");
        ShardHasher(h)
    }

    /// The event id of the record at this position of the shard.
    pub fn event_id(&self, sequence_number: &str, sub_sequence: Option<u64>) -> Arc<str> {
        let mut h = self.0.clone();
        h.update(sequence_number.as_bytes());
        h.update(b"\n");
        if let Some(sub) = sub_sequence {
            h.update(itoa::Buffer::new().format(sub).as_bytes());
        }
        hex_id(&h.finalize()[..16])
    }
}

/// Lower-case hex of a 16-byte id (as `hex::encode`), in one allocation.
fn hex_id(bytes: &[u8]) -> Arc<str> {
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[..16]);
    match std::str::from_utf8(&cdc_models::hex_text::encode16(&id)) {
        Ok(s) => Arc::from(s),
        Err(_) => unreachable!("hex digits are ASCII"),
    }
}

/// Not valid standard base64 (RFC 4648 alphabet with padding, as Kinesis writes `data`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not valid base64")]
pub struct InvalidBase64;

/// Decodes a Kinesis record's base64 `data` (the standard alphabet with padding).
///
/// SIMD (`base64-simd`, already in the tree through the AWS SDK): about 3× the `base64` crate's
/// decoder on records of a few hundred bytes (docs/benchmarks.md). It accepts and rejects exactly
/// what `base64::engine::general_purpose::STANDARD` does, a property test checks it.
pub fn decode_base64(text: &[u8]) -> Result<Vec<u8>, InvalidBase64> {
    let mut out = Vec::new();
    decode_base64_into(text, &mut out)?;
    Ok(out)
}

/// [`decode_base64`] into `out` (its contents are replaced), so that one buffer can serve a whole
/// batch. On an error, `out` holds no meaningful bytes.
pub fn decode_base64_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), InvalidBase64> {
    out.clear();
    base64_simd::STANDARD
        .decode_append(text, out)
        .map_err(|_| InvalidBase64)
}

/// The bytes as UTF-8 text: `std::str::from_utf8`'s result, SIMD-validated (`simdutf8`, about 3×
/// faster on the ASCII text records and details mostly are); an error is `std`'s, with its offset.
pub fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(_) => std::str::from_utf8(bytes),
    }
}

/// The stable event id of a record without a Kinesis pointer (local JSON lines): 32 hex digits of
/// SHA-256 over the record's bytes.
pub fn event_id_for_bytes(data: &[u8]) -> Arc<str> {
    hex_id(&Sha256::digest(data)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Round trip, and the same verdict as the `base64` crate on arbitrary text over the
        /// alphabet (padding in any place, non-canonical trailing bits, any length).
        #[test]
        fn base64_agrees_with_the_base64_crate(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            text in "[A-Za-z0-9+/=_ -]{0,40}",
        ) {
            use base64::Engine;
            let std = base64::engine::general_purpose::STANDARD;
            let encoded = std.encode(&bytes);
            // A reused buffer (with earlier contents) holds exactly the decoded bytes.
            let mut reused = text.as_bytes().to_vec();
            proptest::prop_assert_eq!(decode_base64_into(encoded.as_bytes(), &mut reused), Ok(()));
            proptest::prop_assert_eq!(&reused, &bytes);
            proptest::prop_assert_eq!(decode_base64(encoded.as_bytes()), Ok(bytes));
            proptest::prop_assert_eq!(
                decode_base64(text.as_bytes()).ok(),
                std.decode(text.as_bytes()).ok()
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The same verdict (and error offset) as `std` on arbitrary bytes and on text with a
        /// byte spliced in.
        #[test]
        fn utf8_agrees_with_std(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            text in "\\PC{0,80}",
            at in 0usize..80,
            byte in proptest::prelude::any::<u8>(),
        ) {
            fn std_result(b: &[u8]) -> Result<&str, usize> {
                std::str::from_utf8(b).map_err(|e| e.valid_up_to())
            }
            proptest::prop_assert_eq!(utf8(&bytes).map_err(|e| e.valid_up_to()), std_result(&bytes));
            let mut spliced = text.into_bytes();
            let at = at.min(spliced.len());
            spliced.insert(at, byte);
            proptest::prop_assert_eq!(utf8(&spliced).map_err(|e| e.valid_up_to()), std_result(&spliced));
        }
    }

    #[test]
    fn base64_edge_cases_agree_with_the_base64_crate() {
        use base64::Engine;
        let std = base64::engine::general_purpose::STANDARD;
        for text in [
            "", "=", "==", "QQ", "QQ=", "QQ==", "QR==", "QUI", "QUI=", "QUJ=", "QUJD", "QUJD=",
            "QUJDRA==", "QUJDRA", "Q===", "QQ==QQ==", " QQ==", "QQ==\n", "-_==", "QUJD\r\n",
        ] {
            assert_eq!(
                decode_base64(text.as_bytes()).ok(),
                std.decode(text.as_bytes()).ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn hex_matches_the_hex_crate() {
        let bytes: Vec<u8> = (0..=255).collect();
        for id in bytes.chunks(16) {
            assert_eq!(&*hex_id(id), hex::encode(id));
        }
    }

    #[test]
    fn shard_prefix_gives_the_documented_hash() {
        let seq = "49590338271490256608559692538361571095921575989136588898";
        for sub in [None, Some(0), Some(7), Some(u64::MAX)] {
            let text = format!(
                "arn:aws:kinesis:eu-west-1:1:stream/s\nshardId-000000000001\n{seq}\n{}",
                sub.map(|s: u64| s.to_string()).unwrap_or_default()
            );
            let expected = hex::encode(&Sha256::digest(text.as_bytes())[..16]);
            let hasher = ShardHasher::new(
                "arn:aws:kinesis:eu-west-1:1:stream/s",
                "shardId-000000000001",
            );
            assert_eq!(&*hasher.event_id(seq, sub), expected);
            assert_eq!(
                &*event_id_for_pointer(
                    "arn:aws:kinesis:eu-west-1:1:stream/s",
                    "shardId-000000000001",
                    seq,
                    sub
                ),
                expected
            );
        }
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
