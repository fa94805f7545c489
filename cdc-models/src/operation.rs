//! The kind of change.

use serde::{Deserialize, Serialize};

/// What happened to the row.
///
/// Serialized in upper case, as the seed's events show (`"operation": "UPDATE"`).
///
/// ```
/// use cdc_models::Operation;
/// assert_eq!(serde_json::to_string(&Operation::Snapshot).unwrap(), "\"SNAPSHOT\"");
/// assert_eq!("DELETE".parse::<Operation>().unwrap(), Operation::Delete);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum Operation {
    /// A row was inserted; `after` is the full row.
    Insert,
    /// A row was updated; `after` is the new row, `before` the old one when the source sends it.
    Update,
    /// A row was deleted; `before` is the old row (often only its key).
    Delete,
    /// A row read by an initial or incremental snapshot (Debezium `r`, DMS `load`); `after` is the
    /// full row.
    Snapshot,
    /// The whole table was truncated (Debezium `t`); no row images.
    Truncate,
}

impl Operation {
    /// The upper-case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Insert => "INSERT",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Snapshot => "SNAPSHOT",
            Operation::Truncate => "TRUNCATE",
        }
    }

    /// `true` for operations whose `after` image must be a full row.
    pub fn requires_full_after(self) -> bool {
        matches!(self, Operation::Insert | Operation::Snapshot)
    }

    /// Every operation, in wire order.
    pub const ALL: &'static [Operation] = &[
        Operation::Insert,
        Operation::Update,
        Operation::Delete,
        Operation::Snapshot,
        Operation::Truncate,
    ];
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error parsing an [`Operation`] from a string.
#[derive(Debug, thiserror::Error)]
#[error("unknown operation (expected INSERT, UPDATE, DELETE, SNAPSHOT or TRUNCATE)")]
pub struct UnknownOperation;

impl std::str::FromStr for Operation {
    type Err = UnknownOperation;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .iter()
            .copied()
            .find(|op| op.as_str().eq_ignore_ascii_case(s))
            .ok_or(UnknownOperation)
    }
}
