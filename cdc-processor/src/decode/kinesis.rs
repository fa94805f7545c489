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
    /// Arrival time, seconds since the epoch: a number as Lambda sends it, or a numeric string
    /// as `aws_lambda_events` writes it (an event saved from that crate's types).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "seconds_number_or_string"
    )]
    pub approximate_arrival_timestamp: Option<f64>,
    /// `NONE` or `KMS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<String>,
}

/// `12.5` or `"12.5"` (or null) as seconds.
fn seconds_number_or_string<'de, D>(deserializer: D) -> Result<Option<f64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrString {
        Number(f64),
        String(String),
    }
    match Option::<NumberOrString>::deserialize(deserializer)? {
        None => Ok(None),
        Some(NumberOrString::Number(n)) => Ok(Some(n)),
        Some(NumberOrString::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| {
                serde::de::Error::custom("approximateArrivalTimestamp is not a number")
            })
        }
    }
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

    #[test]
    fn arrival_times_are_numbers_or_numeric_strings() {
        let read = |t: &str| {
            serde_json::from_str::<LenientKinesisData>(&format!(
                r#"{{"data": "", "approximateArrivalTimestamp": {t}}}"#
            ))
            .map(|d| d.approximate_arrival_timestamp)
        };
        assert_eq!(read("1795601671.5").unwrap(), Some(1795601671.5));
        assert_eq!(read(r#""1795601671.500""#).unwrap(), Some(1795601671.5));
        assert_eq!(read("null").unwrap(), None);
        assert!(read(r#""soon""#).is_err());
    }
}
