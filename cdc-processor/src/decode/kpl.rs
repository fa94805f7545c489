//! KPL aggregated records: magic `F3 89 9A C2`, a protobuf `AggregatedRecord`, and a 16-byte MD5
//! of the protobuf bytes. A record whose MD5 does not match passes through as a plain record, as
//! the reference deaggregators do.

use crate::error::{ErrorCode, RecordError};
use md5::{Digest, Md5};
use prost::Message;
use std::borrow::Cow;

/// The KPL aggregate magic number.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const MD5_LEN: usize = 16;

/// KPL `AggregatedRecord` (messages.proto of the Kinesis Producer Library).
#[derive(Clone, PartialEq, Message)]
pub struct AggregatedRecord {
    /// Partition keys referenced by index.
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    /// Explicit hash keys referenced by index.
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    /// The user records.
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<Record>,
}

/// KPL `Record`: one user record of an aggregate.
#[derive(Clone, PartialEq, Message)]
pub struct Record {
    /// Index into `partition_key_table`.
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    /// Index into `explicit_hash_key_table`.
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    /// The user data.
    #[prost(bytes = "vec", required, tag = "3")]
    pub data: Vec<u8>,
    /// Tags.
    #[prost(message, repeated, tag = "4")]
    pub tags: Vec<Tag>,
}

/// KPL `Tag`.
#[derive(Clone, PartialEq, Message)]
pub struct Tag {
    /// Key.
    #[prost(string, required, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// One user record: a plain Kinesis record, or one record of a KPL aggregate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord<'a> {
    /// Index inside the aggregate (`None` for a plain record).
    pub sub_sequence: Option<u64>,
    /// The user record's partition key (`None`: the Kinesis record's).
    pub partition_key: Option<String>,
    /// Its data, or why it could not be read.
    pub data: Result<Cow<'a, [u8]>, RecordError>,
}

/// Builds an aggregate (for tests and tools): magic, protobuf, MD5.
pub fn aggregate(record: &AggregatedRecord) -> Vec<u8> {
    let body = record.encode_to_vec();
    let mut out = Vec::with_capacity(4 + body.len() + MD5_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&body);
    out.extend_from_slice(&Md5::digest(&body));
    out
}

/// Whether the data starts like a KPL aggregate (magic and room for the MD5 trailer). Data that
/// does not is one plain user record.
pub fn has_magic(data: &[u8]) -> bool {
    data.len() >= MAGIC.len() + MD5_LEN && data[..MAGIC.len()] == MAGIC
}

/// Splits a Kinesis record's data into user records.
///
/// Not an aggregate (no magic, too short, or an MD5 mismatch): one plain user record. An
/// aggregate whose protobuf cannot be read: one `PARSE_ERROR` user record. A user record whose
/// partition-key index is out of range: that user record is a `PARSE_ERROR`.
pub fn deaggregate(data: &[u8]) -> Vec<UserRecord<'_>> {
    let plain = || {
        vec![UserRecord {
            sub_sequence: None,
            partition_key: None,
            data: Ok(Cow::Borrowed(data)),
        }]
    };
    if !has_magic(data) {
        return plain();
    }
    let body = &data[4..data.len() - MD5_LEN];
    let checksum = &data[data.len() - MD5_LEN..];
    if Md5::digest(body).as_slice() != checksum {
        return plain();
    }
    let aggregate = match AggregatedRecord::decode(body) {
        Ok(a) => a,
        Err(_) => {
            return vec![UserRecord {
                sub_sequence: None,
                partition_key: None,
                data: Err(RecordError::new(
                    ErrorCode::ParseError,
                    "KPL aggregate with a valid checksum but an unreadable protobuf body",
                )),
            }]
        }
    };
    let keys = aggregate.partition_key_table;
    aggregate
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let sub_sequence = Some(i as u64);
            match usize::try_from(r.partition_key_index)
                .ok()
                .and_then(|k| keys.get(k))
            {
                Some(key) => UserRecord {
                    sub_sequence,
                    partition_key: Some(key.clone()),
                    data: Ok(Cow::Owned(r.data)),
                },
                None => UserRecord {
                    sub_sequence,
                    partition_key: None,
                    data: Err(RecordError::new(
                        ErrorCode::ParseError,
                        format!(
                            "KPL user record {i}: partition key index out of range of the table ({} keys)",
                            keys.len()
                        ),
                    )),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AggregatedRecord {
        AggregatedRecord {
            partition_key_table: vec!["a".into(), "b".into()],
            explicit_hash_key_table: vec![],
            records: vec![
                Record {
                    partition_key_index: 0,
                    explicit_hash_key_index: None,
                    data: b"one".to_vec(),
                    tags: vec![],
                },
                Record {
                    partition_key_index: 1,
                    explicit_hash_key_index: None,
                    data: b"two".to_vec(),
                    tags: vec![Tag {
                        key: "k".into(),
                        value: None,
                    }],
                },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let bytes = aggregate(&sample());
        let users = deaggregate(&bytes);
        assert_eq!(users.len(), 2);
        assert_eq!(users[1].sub_sequence, Some(1));
        assert_eq!(users[1].partition_key.as_deref(), Some("b"));
        assert_eq!(users[1].data.as_deref().unwrap(), b"two");
    }

    #[test]
    fn bad_checksum_is_plain() {
        let mut bytes = aggregate(&sample());
        let n = bytes.len();
        bytes[n - 1] ^= 0xff;
        let users = deaggregate(&bytes);
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].sub_sequence, None);
        assert_eq!(users[0].data.as_deref().unwrap(), &bytes[..]);
    }

    #[test]
    fn bad_index_and_bad_body() {
        let mut a = sample();
        a.records[0].partition_key_index = 7;
        let users = deaggregate_owned(aggregate(&a));
        assert_eq!(users[0], ErrorCode::ParseError);
        // A body that is not a protobuf, with a matching checksum.
        let body = [0xff_u8, 0xff, 0xff];
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&Md5::digest(body));
        let users = deaggregate(&bytes);
        assert_eq!(users.len(), 1);
        assert_eq!(
            users[0].data.as_ref().unwrap_err().code,
            ErrorCode::ParseError
        );
    }

    fn deaggregate_owned(bytes: Vec<u8>) -> Vec<ErrorCode> {
        deaggregate(&bytes)
            .into_iter()
            .filter_map(|u| u.data.err().map(|e| e.code))
            .collect()
    }
}
