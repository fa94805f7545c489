//! The table-independent fields of a `CDC.TableChange` detail.

use cdc_models::Operation;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// The major detail `version` this crate reads. A detail with another major version is refused
/// with [`ErrorKind::UnsupportedVersion`](crate::ErrorKind::UnsupportedVersion); any minor version
/// of it is read (minor versions only add things, which are ignored).
///
/// ```
/// use consumer_sdk::{DetailVersion, SUPPORTED_MAJOR_VERSION};
/// let v: DetailVersion = "1.0".parse().unwrap();
/// assert_eq!(v.major, SUPPORTED_MAJOR_VERSION);
/// ```
pub const SUPPORTED_MAJOR_VERSION: u32 = 1;

/// The `detail-type` of every event the pipeline publishes (the event contract's, defined once in
/// `cdc-models` for the processor and this crate).
///
/// ```
/// assert_eq!(consumer_sdk::DETAIL_TYPE, "CDC.TableChange");
/// ```
pub use cdc_models::contract::DETAIL_TYPE;

/// The detail schema `version` of an event (`"1.0"`), not the envelope's `"0"`.
///
/// ```
/// use consumer_sdk::DetailVersion;
/// let v: DetailVersion = "1.3".parse().unwrap();
/// assert_eq!((v.major, v.minor), (1, 3));
/// assert_eq!(v.to_string(), "1.3");
/// assert!("one".parse::<DetailVersion>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DetailVersion {
    /// Bumped by breaking changes.
    pub major: u32,
    /// Bumped by additive changes.
    pub minor: u32,
}

/// A detail `version` that is not `MAJOR.MINOR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a detail version is MAJOR.MINOR, e.g. \"1.0\"")]
pub struct InvalidVersion;

impl std::str::FromStr for DetailVersion {
    type Err = InvalidVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let number = |p: &str| -> Result<u32, InvalidVersion> {
            if p.is_empty() || p.len() > 9 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidVersion);
            }
            p.parse().map_err(|_| InvalidVersion)
        };
        let (major, minor) = match s.split_once('.') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(s)?, 0),
        };
        Ok(DetailVersion { major, minor })
    }
}

impl Serialize for DetailVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DetailVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for DetailVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Whether the source sent every column of the table in an image (`beforeImage` / `afterImage`).
///
/// A `Full` image may still lack columns in the event: the table's projection leaves some out and
/// the `remove` redaction policy removes others. A `Partial` image lacks columns the source did not
/// send (a Debezium `before` under `REPLICA IDENTITY DEFAULT` holds only the key; a DMS delete holds
/// the key). Absent columns are [`cdc_models::Column::Absent`] either way.
///
/// ```
/// use consumer_sdk::{Change, Event, ImageCompleteness, Operation};
/// let lines = std::fs::read_to_string(concat!(
///     env!("CARGO_MANIFEST_DIR"), "/examples/wallboard-events.jsonl")).unwrap();
/// let update = lines
///     .lines()
///     .map(|l| Event::from_json(l).unwrap())
///     .find(|e| e.change.operation() == Operation::Update && e.change.table_name() == "agent_states")
///     .unwrap();
/// // Debezium under REPLICA IDENTITY DEFAULT: the old row holds only the key.
/// assert_eq!(update.change.info().before_image, Some(ImageCompleteness::Partial));
/// assert_eq!(update.change.info().after_image, Some(ImageCompleteness::Full));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ImageCompleteness {
    /// The source sent every column.
    Full,
    /// The source sent only some columns.
    Partial,
}

/// What redaction did to a column, as the event's `redactions` map says.
///
/// The map lists every column redacted in `before` or `after`. For the exact policy of a known
/// table's column (with `keep_last` for `partial`), see
/// [`TableChange::redaction_policy`](crate::TableChange::redaction_policy).
///
/// ```
/// use consumer_sdk::{Event, Redaction};
/// let lines = std::fs::read_to_string(concat!(
///     env!("CARGO_MANIFEST_DIR"), "/examples/wallboard-events.jsonl")).unwrap();
/// let redacted = lines
///     .lines()
///     .map(|l| Event::from_json(l).unwrap())
///     .find(|e| !e.change.redactions().is_empty())
///     .unwrap();
/// assert_eq!(redacted.change.redactions()["softphone_ip_address"], Redaction::Hash);
/// assert!(Redaction::Hash.preserves_equality() && !Redaction::Mask.preserves_equality());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Redaction {
    /// The column was left out of the images.
    Remove,
    /// The value was replaced by `"[REDACTED]"`.
    Mask,
    /// The value was replaced by a keyed pseudonym `"hmac-sha256:<64 hex>"`: equal values give
    /// equal pseudonyms, so it can still be joined and counted.
    Hash,
    /// All but the last few characters were replaced by `*`.
    Partial,
    /// A policy this version of the crate does not know.
    Other(String),
}

impl Redaction {
    /// The name used in events: `remove`, `mask`, `hash`, `partial`, or the unknown name.
    ///
    /// ```
    /// use consumer_sdk::Redaction;
    /// assert_eq!(Redaction::from_name("hash"), Redaction::Hash);
    /// assert_eq!(Redaction::from_name("tokenize").as_str(), "tokenize");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Redaction::Remove => "remove",
            Redaction::Mask => "mask",
            Redaction::Hash => "hash",
            Redaction::Partial => "partial",
            Redaction::Other(s) => s,
        }
    }

    /// The redaction with this name (unknown names become [`Redaction::Other`]).
    pub fn from_name(name: &str) -> Redaction {
        match name {
            "remove" => Redaction::Remove,
            "mask" => Redaction::Mask,
            "hash" => Redaction::Hash,
            "partial" => Redaction::Partial,
            other => Redaction::Other(other.to_string()),
        }
    }

    /// Whether a redacted value still tells whether it changed: a `hash` pseudonym does (equal
    /// values, equal pseudonyms); a `mask` never does; `partial` only when the visible tails differ.
    pub fn preserves_equality(&self) -> bool {
        matches!(self, Redaction::Hash)
    }
}

impl<'de> Deserialize<'de> for Redaction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Redaction::from_name(&name))
    }
}

impl Serialize for Redaction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Redaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The change-stream format the processor read the change from (`metadata.sourceFormat`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SourceFormat {
    /// CoreDB's trigger-based capture.
    CoredbTrigger,
    /// Debezium.
    Debezium,
    /// AWS DMS.
    Dms,
    /// A format this version of the crate does not know.
    Other(String),
}

impl SourceFormat {
    /// The name used in events: `coredb-trigger`, `debezium`, `dms`, or the unknown name.
    ///
    /// ```
    /// use consumer_sdk::SourceFormat;
    /// assert_eq!(SourceFormat::from_name("dms"), SourceFormat::Dms);
    /// assert_eq!(SourceFormat::CoredbTrigger.as_str(), "coredb-trigger");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            SourceFormat::CoredbTrigger => Known::CoredbTrigger.as_str(),
            SourceFormat::Debezium => Known::Debezium.as_str(),
            SourceFormat::Dms => Known::Dms.as_str(),
            SourceFormat::Other(s) => s,
        }
    }

    /// The format with this name (unknown names become [`SourceFormat::Other`]).
    pub fn from_name(name: &str) -> SourceFormat {
        match name.parse::<Known>() {
            Ok(known) => known.into(),
            Err(_) => SourceFormat::Other(name.to_string()),
        }
    }
}

/// The formats the processor writes (their wire names are the event contract's, in `cdc-models`).
type Known = cdc_models::contract::SourceFormat;

impl From<Known> for SourceFormat {
    fn from(known: Known) -> Self {
        match known {
            Known::CoredbTrigger => SourceFormat::CoredbTrigger,
            Known::Debezium => SourceFormat::Debezium,
            Known::Dms => SourceFormat::Dms,
        }
    }
}

impl<'de> Deserialize<'de> for SourceFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(SourceFormat::from_name(&name))
    }
}

impl Serialize for SourceFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Kinesis sequence number: a decimal string of up to 129 digits, ordered numerically (the
/// event contract's type, in `cdc-models`: the processor uses the same one).
///
/// ```
/// use consumer_sdk::SequenceNumber;
/// let a = SequenceNumber::new("9").unwrap();
/// let b = SequenceNumber::new("49590338271490256608559692538361571095921575989136588898").unwrap();
/// assert!(a < b); // numerically, not as strings
/// assert!(SequenceNumber::new("12a").is_none());
/// ```
pub use cdc_models::contract::SequenceNumber;

/// Where a change came from (`metadata`). New fields may appear in any 1.x detail.
///
/// ```
/// use consumer_sdk::{Event, SourceFormat};
/// let lines = std::fs::read_to_string(concat!(
///     env!("CARGO_MANIFEST_DIR"), "/examples/wallboard-events.jsonl")).unwrap();
/// let events: Vec<Event> = lines.lines().map(|l| Event::from_json(l).unwrap()).collect();
/// let m = events[0].change.metadata();
/// assert_eq!((m.source_format.clone(), m.snapshot), (SourceFormat::Dms, true));
/// assert_eq!(m.shard_id.as_deref(), Some("shardId-000000000006"));
/// // Sequence numbers order numerically along a shard.
/// assert!(events[0].change.metadata().sequence_number < events[1].change.metadata().sequence_number);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Metadata {
    /// Source transaction id, when the format has one.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// The Kinesis sequence number of the record (absent for local input without a stream).
    #[serde(default)]
    pub sequence_number: Option<SequenceNumber>,
    /// Index of the user record inside a KPL aggregate, else `None`.
    #[serde(default)]
    pub sub_sequence_number: Option<u64>,
    /// The Kinesis shard id.
    #[serde(default)]
    pub shard_id: Option<String>,
    /// The change-stream format.
    pub source_format: SourceFormat,
    /// Whether the change comes from a snapshot.
    #[serde(default)]
    pub snapshot: bool,
    /// Only on an UPDATE that changed the primary key: the old key, as JSON (the row under it is
    /// gone; `keys` is the new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_keys: Option<serde_json::Value>,
    /// Names of source columns the schema does not know (never published); usually empty. At
    /// most the first 32 names are listed: see [`Metadata::dropped_column_count`].
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dropped_columns: Vec<String>,
    /// How many source columns the schema did not know, when more than the names listed in
    /// `dropped_columns` (the list is capped so a record with thousands of unknown columns still
    /// fits an EventBridge entry); `None` when `dropped_columns` lists them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_column_count: Option<u64>,
}

pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The fields every change has, whatever its table.
///
/// ```
/// use consumer_sdk::{Event, Operation};
/// let lines = std::fs::read_to_string(concat!(
///     env!("CARGO_MANIFEST_DIR"), "/examples/wallboard-events.jsonl")).unwrap();
/// let event = Event::from_json(lines.lines().next().unwrap()).unwrap();
/// let info = event.change.info();
/// assert_eq!((info.table.as_str(), info.operation), ("teams", Operation::Snapshot));
/// assert_eq!(info.event_type, "team.changed");
/// assert_eq!(info.version.to_string(), "1.0");
/// assert!(info.redactions.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangeInfo {
    /// The detail schema version.
    pub version: DetailVersion,
    /// The table's schema version (`schemaVersion`, the table's `x-cdc.version`): bumped by every
    /// breaking or privacy-relevant change of that table's schema. `None` in details written
    /// before the field existed. Compare it with
    /// [`TableMeta::schema_version`](cdc_models::TableMeta::schema_version) to notice a table
    /// whose events come from a newer, incompatible schema than this crate's.
    pub schema_version: Option<u32>,
    /// Stable id of the change: the same source record always gets the same id, across retries and
    /// re-drives. **Deduplicate on it** (see [`Change::dedupe_key`](crate::Change::dedupe_key)).
    pub event_id: String,
    /// The table's event type, e.g. `agent_state.changed`.
    pub event_type: String,
    /// The CoreDB table name.
    pub table: String,
    /// What happened to the row.
    pub operation: Operation,
    /// When the change happened at the source.
    pub timestamp: DateTime<Utc>,
    /// Whether the source sent the whole `before` row (`None` when there is no `before`).
    pub before_image: Option<ImageCompleteness>,
    /// Whether the source sent the whole `after` row (`None` when there is no `after`).
    pub after_image: Option<ImageCompleteness>,
    /// Column → redaction for every column redacted in `before` or `after`; empty when none or
    /// when redaction is off.
    pub redactions: BTreeMap<String, Redaction>,
    /// Where the change came from.
    pub metadata: Metadata,
}

/// The table-independent part of a detail, as on the wire.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireDetail<I, K> {
    #[serde(default)]
    pub schema_version: Option<u32>,
    pub event_id: String,
    pub event_type: String,
    pub operation: Operation,
    pub timestamp: DateTime<Utc>,
    #[serde(default = "Option::default")]
    pub before: Option<I>,
    #[serde(default = "Option::default")]
    pub after: Option<I>,
    #[serde(default)]
    pub before_image: Option<ImageCompleteness>,
    #[serde(default)]
    pub after_image: Option<ImageCompleteness>,
    pub keys: K,
    #[serde(default, deserialize_with = "null_as_default")]
    pub redactions: BTreeMap<String, Redaction>,
    pub metadata: Metadata,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_major_matches_cdc_models() {
        let v: DetailVersion = cdc_models::DETAIL_VERSION.parse().unwrap();
        assert_eq!(v.major, SUPPORTED_MAJOR_VERSION);
    }

    #[test]
    fn sequence_numbers_order_numerically_and_ignore_leading_zeros() {
        let s = |d: &str| SequenceNumber::new(d).unwrap();
        assert!(s("10") > s("9"));
        assert_eq!(s("0007"), s("7"));
        assert_eq!(s("000").as_str(), "0");
        assert!(SequenceNumber::new(&"1".repeat(130)).is_none());
        assert!(SequenceNumber::new("").is_none());
    }
}
