//! Kinesis sequence numbers, compared as numbers.

use serde::{Deserialize, Serialize};

/// A Kinesis sequence number, compared as a number: the event contract's type, in `cdc-models`
/// (the consumers' `consumer_sdk::SequenceNumber` is the same type).
///
/// ```
/// use cdc_processor::sequence::SequenceNumber;
/// let a: SequenceNumber = "9".parse().unwrap();
/// let b: SequenceNumber = "10".parse().unwrap();
/// assert!(a < b);
/// assert!("0x1".parse::<SequenceNumber>().is_err());
/// ```
pub use cdc_models::contract::SequenceNumber;

/// Maximum number of digits Kinesis uses, and a string that is not a valid sequence number: the
/// event contract's, in `cdc-models`.
pub use cdc_models::contract::{InvalidSequenceNumber, MAX_SEQUENCE_DIGITS as MAX_DIGITS};

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
