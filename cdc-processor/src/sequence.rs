//! Kinesis sequence numbers, compared as numbers.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// A Kinesis sequence number: a decimal string of up to 129 digits (real ones have 56).
///
/// Too big for `u128`, and comparing strings of different lengths is wrong (`"9" > "10"`), so
/// ordering compares the digit strings without leading zeros by length, then lexically.
///
/// ```
/// use cdc_processor::sequence::SequenceNumber;
/// let a: SequenceNumber = "9".parse().unwrap();
/// let b: SequenceNumber = "10".parse().unwrap();
/// assert!(a < b);
/// assert!("0x1".parse::<SequenceNumber>().is_err());
/// ```
///
/// Shared (`Arc<str>`): the pipeline's copies of a record's sequence number (its pointer, its
/// outcome) share one allocation.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SequenceNumber(Arc<str>);

/// Maximum number of digits Kinesis uses, and a string that is not a valid sequence number: the
/// event contract's, in `cdc-models`.
pub use cdc_models::contract::{InvalidSequenceNumber, MAX_SEQUENCE_DIGITS as MAX_DIGITS};

impl SequenceNumber {
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
        cdc_models::contract::sequence_digits(s).map(|d| SequenceNumber(Arc::from(d)))
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
        cdc_models::contract::cmp_sequence_digits(self.0.as_bytes(), other.0.as_bytes())
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

/// A position in a shard: the record's sequence number and, for a user record inside a KPL
/// aggregate, its sub-sequence number. Orders by sequence, then sub-sequence (a plain record sorts
/// before the sub-records of the same sequence number, which cannot both exist).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    /// The Kinesis sequence number.
    pub sequence: SequenceNumber,
    /// Index inside a KPL aggregate.
    pub sub_sequence: Option<u64>,
}

/// A position, borrowed: a sequence number held elsewhere and a sub-sequence number. Ordered as
/// [`Position`] is (the pipeline compares positions of its inputs without copying their sequence
/// numbers).
pub(crate) type PositionRef<'a> = (&'a SequenceNumber, Option<u64>);

impl Position {
    /// This position, borrowed.
    pub(crate) fn borrowed(&self) -> PositionRef<'_> {
        (&self.sequence, self.sub_sequence)
    }

    /// An owned copy of a borrowed position.
    pub(crate) fn from_borrowed((sequence, sub_sequence): PositionRef<'_>) -> Position {
        Position {
            sequence: sequence.clone(),
            sub_sequence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> SequenceNumber {
        x.parse().unwrap()
    }

    #[test]
    fn numeric_order_across_lengths() {
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
}
