//! The event contract's constants, defined once for the producer (`cdc-processor`) and the
//! consumers (`consumer-sdk`): the `detail-type`, the default `source`, the source formats' wire
//! names (`metadata.sourceFormat`) and the rules of Kinesis sequence numbers
//! (`metadata.sequenceNumber`). `docs/cdc-event.md` describes the event.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// The `detail-type` of every event the pipeline publishes.
///
/// ```
/// assert_eq!(cdc_models::contract::DETAIL_TYPE, "CDC.TableChange");
/// ```
pub const DETAIL_TYPE: &str = "CDC.TableChange";

/// The events' `source` unless `EVENT_SOURCE` says otherwise.
pub const DEFAULT_EVENT_SOURCE: &str = "cdc-pipeline";

/// A change-stream format the processor reads, by its name in `metadata.sourceFormat` and on the
/// command line.
///
/// ```
/// use cdc_models::contract::SourceFormat;
/// assert_eq!("dms".parse::<SourceFormat>().unwrap(), SourceFormat::Dms);
/// assert_eq!(SourceFormat::CoredbTrigger.as_str(), "coredb-trigger");
/// assert!("avro".parse::<SourceFormat>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SourceFormat {
    /// The CoreDB database triggers' format (`docs/formats.md`).
    #[serde(rename = "coredb-trigger")]
    CoredbTrigger,
    /// Debezium change events, with or without the JsonConverter `{schema, payload}` wrapper.
    #[serde(rename = "debezium")]
    Debezium,
    /// AWS DMS messages (`{data, metadata}` / `{control, metadata}`).
    #[serde(rename = "dms")]
    Dms,
}

impl SourceFormat {
    /// The name used in `metadata.sourceFormat` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::CoredbTrigger => "coredb-trigger",
            SourceFormat::Debezium => "debezium",
            SourceFormat::Dms => "dms",
        }
    }

    /// Every format.
    pub const ALL: &'static [SourceFormat] = &[
        SourceFormat::CoredbTrigger,
        SourceFormat::Debezium,
        SourceFormat::Dms,
    ];
}

impl std::fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown format name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown source format (expected coredb-trigger, debezium or dms)")]
pub struct UnknownFormat;

impl std::str::FromStr for SourceFormat {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SourceFormat::ALL
            .iter()
            .copied()
            .find(|f| f.as_str() == s)
            .ok_or(UnknownFormat)
    }
}

/// Maximum number of digits of a Kinesis sequence number (real ones have 56).
pub const MAX_SEQUENCE_DIGITS: usize = 129;

/// Why a string is not a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid sequence number: {0}")]
pub struct InvalidSequenceNumber(&'static str);

/// The digits of a sequence number without leading zeros (`"0"` for zero): `s` must be 1 or more
/// ASCII digits, at most [`MAX_SEQUENCE_DIGITS`] once leading zeros are dropped.
///
/// ```
/// use cdc_models::contract::sequence_digits;
/// assert_eq!(sequence_digits("0049").unwrap(), "49");
/// assert_eq!(sequence_digits("000").unwrap(), "0");
/// assert!(sequence_digits("0x1").is_err() && sequence_digits("").is_err());
/// ```
pub fn sequence_digits(s: &str) -> Result<&str, InvalidSequenceNumber> {
    if s.is_empty() {
        return Err(InvalidSequenceNumber("empty"));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidSequenceNumber("not a decimal number"));
    }
    let trimmed = s.trim_start_matches('0');
    let digits = if trimmed.is_empty() { "0" } else { trimmed };
    if digits.len() > MAX_SEQUENCE_DIGITS {
        return Err(InvalidSequenceNumber("more than 129 digits"));
    }
    Ok(digits)
}

/// Orders two sequence numbers' digits (as [`sequence_digits`] returns them, as bytes) numerically: they
/// are too big for `u128`, and comparing strings of different lengths is wrong (`"9" > "10"`),
/// so by length, then lexically.
///
/// ```
/// use cdc_models::contract::cmp_sequence_digits;
/// assert!(cmp_sequence_digits(b"9", b"10").is_lt());
/// ```
pub fn cmp_sequence_digits(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A Kinesis sequence number (`metadata.sequenceNumber`): a decimal string of up to
/// [`MAX_SEQUENCE_DIGITS`] digits (real ones have 56), kept without leading zeros and ordered
/// numerically ([`cmp_sequence_digits`]). The one type of the processor and the consumers.
///
/// ```
/// use cdc_models::contract::SequenceNumber;
/// let a: SequenceNumber = "9".parse().unwrap();
/// let b = SequenceNumber::new("49590338271490256608559692538361571095921575989136588898").unwrap();
/// assert!(a < b); // numerically, not as strings
/// assert_eq!(SequenceNumber::new("0049").unwrap().as_str(), "49");
/// assert!("0x1".parse::<SequenceNumber>().is_err() && SequenceNumber::new("12a").is_none());
/// ```
///
/// Shared (`Arc<str>`): the processor's copies of a record's sequence number (its position, its
/// outcome) share one allocation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SequenceNumber(Arc<str>);

impl SequenceNumber {
    /// A sequence number from its decimal digits (leading zeros are dropped); `None` when `digits`
    /// is not one ([`sequence_digits`]'s rules; `str::parse` says why).
    pub fn new(digits: &str) -> Option<SequenceNumber> {
        digits.parse().ok()
    }

    /// The digits without leading zeros (`"0"` for zero).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without leading zeros, shared.
    pub fn text(&self) -> &Arc<str> {
        &self.0
    }
}

impl std::str::FromStr for SequenceNumber {
    type Err = InvalidSequenceNumber;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        sequence_digits(s).map(|d| SequenceNumber(Arc::from(d)))
    }
}

impl TryFrom<String> for SequenceNumber {
    type Error = InvalidSequenceNumber;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<SequenceNumber> for String {
    fn from(s: SequenceNumber) -> String {
        s.0.to_string()
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_sequence_digits(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SequenceNumber({})", self.0)
    }
}

impl Serialize for SequenceNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SequenceNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip_through_serde_and_from_str() {
        for f in SourceFormat::ALL {
            let json = serde_json::to_string(f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.as_str()));
            assert_eq!(serde_json::from_str::<SourceFormat>(&json).unwrap(), *f);
            assert_eq!(f.as_str().parse::<SourceFormat>().unwrap(), *f);
        }
    }

    #[test]
    fn sequence_digits_limits() {
        assert!(sequence_digits(&"9".repeat(129)).is_ok());
        assert!(sequence_digits(&"9".repeat(130)).is_err());
        assert_eq!(
            sequence_digits(&format!("0{}", "1".repeat(129))).unwrap(),
            "1".repeat(129)
        );
        assert!(cmp_sequence_digits(b"10", b"10").is_eq());
        assert!(cmp_sequence_digits(b"11", b"10").is_gt());
    }

    fn s(x: &str) -> SequenceNumber {
        x.parse().unwrap()
    }

    #[test]
    fn sequence_numbers_order_numerically_across_lengths() {
        assert!(s("9") < s("10"));
        assert!(s("0009") == s("9"));
        let real = "49590338271490256608559692538361571095921575989136588898";
        let bigger = "49590338271490256608559692540925702759324208523137515618";
        assert!(s(real) < s(bigger));
        let max = "9".repeat(129);
        assert!(s(real) < s(&max));
        assert!(max.parse::<SequenceNumber>().is_ok());
        assert!("1".repeat(130).parse::<SequenceNumber>().is_err());
    }

    #[test]
    fn sequence_numbers_round_trip_through_serde() {
        let n: SequenceNumber = serde_json::from_str("\"00049\"").unwrap();
        assert_eq!(n.as_str(), "49");
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"49\"");
        let err = serde_json::from_str::<SequenceNumber>("\"4x9\"").unwrap_err();
        assert!(err.to_string().contains("not a decimal number"), "{err}");
        assert!(serde_json::from_str::<SequenceNumber>("49").is_err());
    }
}
