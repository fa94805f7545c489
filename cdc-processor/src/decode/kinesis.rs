//! The Kinesis event Lambda hands the function, read leniently: `data` stays a string so a record
//! with bad base64 becomes that record's `PARSE_ERROR` instead of failing the whole batch.

use serde::{Deserialize, Serialize};

/// Shard id from a Lambda Kinesis `eventID` (`shardId-000000000006:4959…`).
pub fn shard_id(event_id: Option<&str>) -> Option<&str> {
    let id = event_id?;
    Some(memchr::memchr(b':', id.as_bytes()).map_or(id, |i| &id[..i]))
}

/// A Lambda Kinesis event whose records keep their `data` as text.
///
/// `aws_lambda_events::event::kinesis::KinesisEvent` decodes base64 while deserializing, so one bad
/// record fails the whole event; a handler that deserializes this type instead and calls
/// [`crate::Pipeline::process_lenient_event`] dead-letters only that record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LenientKinesisEvent {
    /// The records.
    #[serde(rename = "Records", default)]
    pub records: Vec<LenientKinesisRecord>,
}

/// One record of a [`LenientKinesisEvent`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LenientKinesisRecord {
    /// `aws:kinesis`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source: Option<String>,
    /// Event version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_version: Option<String>,
    /// `shardId-…:sequenceNumber`.
    #[serde(default, rename = "eventID", skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// `aws:kinesis:record`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    /// Role of the event source mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoke_identity_arn: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    /// Stream ARN.
    #[serde(
        default,
        rename = "eventSourceARN",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_source_arn: Option<String>,
    /// The Kinesis part.
    pub kinesis: LenientKinesisData,
}

/// The `kinesis` member of a [`LenientKinesisRecord`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LenientKinesisData {
    /// Schema version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinesis_schema_version: Option<String>,
    /// Partition key.
    #[serde(default)]
    pub partition_key: String,
    /// Sequence number (decimal string, up to 129 digits).
    #[serde(default)]
    pub sequence_number: String,
    /// Base64 data.
    #[serde(default)]
    pub data: String,
    /// Arrival time, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_arrival_timestamp: Option<f64>,
    /// `NONE` or `KMS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ids() {
        assert_eq!(
            shard_id(Some("shardId-000000000006:4959")),
            Some("shardId-000000000006")
        );
        assert_eq!(shard_id(Some("shardId-1")), Some("shardId-1"));
        assert_eq!(shard_id(None), None);
    }
}
