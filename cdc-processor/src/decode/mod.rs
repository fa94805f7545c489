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
    pub event_id: EventId,
}

/// A stable event id: 32 lower-case hex digits (16 bytes of SHA-256, see [`event_id_for_pointer`]
/// and [`event_id_for_bytes`]), held inline.
///
/// A record's id is kept by its unit, its pointer, its entry and its outcome: as a `Copy` value
/// that is four copies of 32 bytes, where a shared string cost an allocation and an atomic
/// increment and decrement per copy (docs/benchmarks.md).
///
/// ```
/// use cdc_processor::decode::EventId;
/// let id: EventId = "0123456789abcdef0123456789abcdef".parse().unwrap();
/// assert_eq!(id.as_str(), "0123456789abcdef0123456789abcdef");
/// assert!("0123456789ABCDEF0123456789ABCDEF".parse::<EventId>().is_err());
/// assert!("0123".parse::<EventId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId([u8; 32]);

/// A string that is not an event id (32 lower-case hex digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an event id: expected 32 lower-case hex digits")]
pub struct InvalidEventId;

impl EventId {
    /// The id of these 16 bytes: their lower-case hex (as `hex::encode`).
    pub fn from_bytes(bytes: &[u8; 16]) -> EventId {
        let mut hex = [0u8; 32];
        hex::encode_to_slice(bytes, &mut hex).expect("32 hex digits for 16 bytes");
        EventId(hex)
    }

    /// The 32 hex digits as bytes (without the UTF-8 check [`Self::as_str`] makes).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 32 hex digits.
    pub fn as_str(&self) -> &str {
        match std::str::from_utf8(&self.0) {
            Ok(s) => s,
            Err(_) => unreachable!("an event id holds hex digits only"),
        }
    }
}

impl std::str::FromStr for EventId {
    type Err = InvalidEventId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits: [u8; 32] = s.as_bytes().try_into().map_err(|_| InvalidEventId)?;
        if digits
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        {
            Ok(EventId(digits))
        } else {
            Err(InvalidEventId)
        }
    }
}

impl std::ops::Deref for EventId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for EventId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventId({})", self.as_str())
    }
}

impl PartialEq<str> for EventId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for EventId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The stable event id of a record identified by its Kinesis pointer: 32 hex digits of
/// SHA-256 over `stream ARN \n shard id \n sequence number \n sub-sequence number` (the
/// sequence number without leading zeros, the sub-sequence number empty for a plain record).
pub fn event_id_for_pointer(
    stream_arn: &str,
    shard_id: &str,
    sequence_number: &str,
    sub_sequence: Option<u64>,
) -> EventId {
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
    pub fn event_id(&self, sequence_number: &str, sub_sequence: Option<u64>) -> EventId {
        let mut h = self.0.clone();
        h.update(sequence_number.as_bytes());
        h.update(b"\n");
        if let Some(sub) = sub_sequence {
            h.update(itoa::Buffer::new().format(sub).as_bytes());
        }
        digest_id(h)
    }
}

/// The event id of a finished SHA-256: its first 16 bytes.
fn digest_id(h: Sha256) -> EventId {
    let digest = h.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    EventId::from_bytes(&id)
}

/// The stable event id of a change that carries its position at the source (the CoreDB
/// trigger's `position`, Debezium's `source.lsn`, DMS's transaction record; see
/// `docs/cdc-event.md`): 32 hex digits of SHA-256 over `source-position \n` and the position text
/// [`crate::formats::RawChange::source_position`] builds. A change resent by its source (a relay
/// restarted before it deleted what Kinesis acknowledged) lands at a new Kinesis position but
/// keeps this id, so consumers deduplicate it.
pub fn event_id_for_source_position(position: &str) -> EventId {
    let mut h = Sha256::new();
    h.update(b"source-position\n");
    h.update(position.as_bytes());
    digest_id(h)
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
pub fn event_id_for_bytes(data: &[u8]) -> EventId {
    let mut h = Sha256::new();
    h.update(data);
    digest_id(h)
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
            let id: &[u8; 16] = id.try_into().unwrap();
            let event_id = EventId::from_bytes(id);
            assert_eq!(event_id.as_str(), hex::encode(id));
            assert_eq!(event_id.as_str().parse::<EventId>(), Ok(event_id));
        }
    }

    #[test]
    fn event_ids_parse_only_lower_case_hex_of_32_digits() {
        let good = "0123456789abcdef0123456789abcdef";
        assert_eq!(good.parse::<EventId>().unwrap().to_string(), good);
        for bad in [
            "",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "0123456789abcdef0123456789abcdeF",
            "0123456789abcdef0123456789abcdeg",
            "0123456789abcdef0123456789abcd\u{e9}",
        ] {
            assert_eq!(bad.parse::<EventId>(), Err(InvalidEventId), "{bad:?}");
        }
        let id: EventId = good.parse().unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{good}\""));
        assert_eq!(format!("{id:?}"), format!("EventId({good})"));
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

    /// Ids of records without a source position are the ones published before positions existed.
    #[test]
    fn pointer_ids_are_unchanged() {
        let id = event_id_for_pointer(
            "arn:aws:kinesis:us-east-1:123456789012:stream/coredb-cdc-stream",
            "shardId-000000000000",
            "49590338271490256608559692538361571095921575989136588898",
            None,
        );
        assert_eq!(&*id, "c36f7a868138a8e3bb1bbb68faa8d14a");
    }

    #[test]
    fn source_position_ids_follow_the_documented_hash() {
        let expected =
            hex::encode(&Sha256::digest(b"source-position\ncoredb-trigger\nabc/7")[..16]);
        assert_eq!(
            &*event_id_for_source_position("coredb-trigger\nabc/7"),
            expected
        );
        assert_ne!(
            event_id_for_source_position("coredb-trigger\nabc/7"),
            event_id_for_source_position("coredb-trigger\nabc/8")
        );
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
