//! KPL deaggregation: any bytes (and any bytes framed as an aggregate with a valid MD5, to reach
//! the protobuf reader) give user records or a PARSE_ERROR, never a panic; user records of an
//! aggregate are numbered 0, 1, 2, … and are exactly the protobuf's records.

use cdc_processor::decode::deaggregate;
use cdc_processor::decode::kpl::{AggregatedRecord, MAGIC};
use cdc_processor::ErrorCode;
use md5::{Digest, Md5};
use prost::Message;

fn check(users: &[cdc_processor::decode::UserRecord<'_>]) {
    for (i, u) in users.iter().enumerate() {
        if let Some(s) = u.sub_sequence {
            assert_eq!(s, i as u64, "sub-sequence numbers count the user records");
        }
        if let Err(e) = &u.data {
            assert_eq!(e.code, ErrorCode::ParseError);
        }
    }
}

/// Runs the check on one input.
pub fn run(data: &[u8]) {
    // As a Kinesis record's data.
    let users = deaggregate(data);
    check(&users);
    // As the protobuf body of an aggregate with a matching checksum.
    let mut framed = MAGIC.to_vec();
    framed.extend_from_slice(data);
    framed.extend_from_slice(&Md5::digest(data));
    let users = deaggregate(&framed);
    check(&users);
    match AggregatedRecord::decode(data) {
        Ok(a) => {
            assert_eq!(users.len(), a.records.len());
            for (u, r) in users.iter().zip(&a.records) {
                if let Ok(d) = &u.data {
                    assert_eq!(&d[..], &r.data[..]);
                }
            }
        }
        Err(_) => {
            assert_eq!(users.len(), 1);
            assert!(users[0].data.is_err());
        }
    }
}
