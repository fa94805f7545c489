//! The relay: outbox rows → Kinesis `PutRecords`, deleted only after Kinesis acknowledged them.
//!
//! One round ([`Relay::drain_once`]) reads the oldest rows in id order and sends at most one record
//! per partition key (a key's later changes wait for the next round, so a failed record is never
//! overtaken by a later change of its row), at most [`MAX_RECORDS`] records and [`MAX_BYTES`]
//! bytes per call. Records Kinesis rejected stay in the outbox and are sent again; a relay that
//! stops between the ack and the delete sends them again after a restart (duplicates, never loss).
//! One relay per outbox: [`Relay::lock`] takes a session advisory lock.

use crate::outbox::{self, OutboxRow};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use std::collections::HashSet;

/// PutRecords' limit on records per call.
pub const MAX_RECORDS: usize = 500;
/// PutRecords' limit on bytes per call (data plus partition keys).
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// The advisory lock key of the outbox (`hashtext('cdc.outbox')` is not stable across versions,
/// so a constant).
pub const LOCK_KEY: i64 = 0x0cdc_0ca7;

/// A relay error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error(transparent)]
    Outbox(#[from] outbox::Error),
    /// The lock query failed.
    #[error("advisory lock: {0}")]
    Lock(#[source] tokio_postgres::Error),
    /// Another relay holds the outbox.
    #[error("another relay holds the outbox's advisory lock {LOCK_KEY}")]
    Locked,
    /// The PutRecords call failed as a whole.
    #[error("PutRecords to {stream}: {message}")]
    Kinesis {
        /// The stream.
        stream: String,
        /// The SDK's error, with its source chain.
        message: String,
    },
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Rows read from the outbox.
    pub read: usize,
    /// Records sent in the PutRecords call.
    pub sent: usize,
    /// Records Kinesis acknowledged (and rows deleted).
    pub acked: usize,
    /// Records Kinesis rejected (left in the outbox, sent again).
    pub failed: usize,
}

/// The relay of one outbox to one stream.
#[derive(Debug)]
pub struct Relay {
    db: tokio_postgres::Client,
    kinesis: aws_sdk_kinesis::Client,
    stream: String,
    read_limit: i64,
    source: std::sync::OnceLock<outbox::Source>,
}

impl Relay {
    /// A relay reading up to `read_limit` rows a round.
    pub fn new(
        db: tokio_postgres::Client,
        kinesis: aws_sdk_kinesis::Client,
        stream: impl Into<String>,
        read_limit: i64,
    ) -> Self {
        Relay {
            db,
            kinesis,
            stream: stream.into(),
            read_limit: read_limit.max(1),
            source: std::sync::OnceLock::new(),
        }
    }

    /// Takes the outbox's advisory lock for this session, or fails with [`Error::Locked`].
    pub async fn lock(&self) -> Result<(), Error> {
        let row = self
            .db
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
            .await
            .map_err(Error::Lock)?;
        if row.get::<_, bool>(0) {
            Ok(())
        } else {
            Err(Error::Locked)
        }
    }

    /// The database client.
    pub fn db(&self) -> &tokio_postgres::Client {
        &self.db
    }

    /// One round: read, send, delete what was acknowledged.
    pub async fn drain_once(&self) -> Result<Round, Error> {
        let source = match self.source.get() {
            Some(s) => s,
            None => {
                let s = outbox::source(&self.db).await?;
                self.source.get_or_init(|| s)
            }
        };
        let rows = outbox::fetch(&self.db, self.read_limit, source.commit_times).await?;
        let batch = select_batch(&rows);
        let mut round = Round {
            read: rows.len(),
            sent: batch.len(),
            ..Round::default()
        };
        if batch.is_empty() {
            return Ok(round);
        }
        let entries = batch
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .data(Blob::new(outbox::record(r, &source.id)))
                    .build()
                    .expect("partition key and data are set")
            })
            .collect::<Vec<_>>();
        let out = self
            .kinesis
            .put_records()
            .stream_name(&self.stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(|e| Error::Kinesis {
                stream: self.stream.clone(),
                message: aws_sdk_kinesis::error::DisplayErrorContext(e).to_string(),
            })?;
        let acked: Vec<i64> = batch
            .iter()
            .zip(out.records())
            .filter(|(_, result)| result.error_code().is_none())
            .map(|(row, _)| row.id)
            .collect();
        round.acked = acked.len();
        round.failed = batch.len() - acked.len();
        outbox::delete(&self.db, &acked).await?;
        Ok(round)
    }
}

/// The rows of one PutRecords call: in id order, the first row of each partition key, within the
/// record and byte limits. A key's later rows wait: sending them in the same call could reorder
/// them (PutRecords is neither ordered nor atomic).
pub fn select_batch(rows: &[OutboxRow]) -> Vec<&OutboxRow> {
    let mut seen = HashSet::new();
    let mut bytes = 0;
    let mut out = Vec::new();
    for row in rows {
        if !seen.insert(row.partition_key.as_str()) {
            continue;
        }
        let size = row.payload.len() + outbox::RECORD_GROWTH + row.partition_key.len();
        if out.len() == MAX_RECORDS || (bytes + size > MAX_BYTES && !out.is_empty()) {
            break;
        }
        bytes += size;
        out.push(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, key: &str, len: usize) -> OutboxRow {
        OutboxRow {
            id,
            partition_key: key.to_string(),
            payload: "x".repeat(len),
            commit_time: None,
        }
    }

    #[test]
    fn one_record_per_key_in_id_order() {
        let rows = [
            row(1, "a", 1),
            row(2, "b", 1),
            row(3, "a", 1),
            row(4, "c", 1),
        ];
        let ids: Vec<i64> = select_batch(&rows).iter().map(|r| r.id).collect();
        assert_eq!(ids, [1, 2, 4]);
    }

    #[test]
    fn limits_records_and_bytes() {
        let rows: Vec<OutboxRow> = (0..600).map(|i| row(i, &format!("k{i}"), 10)).collect();
        assert_eq!(select_batch(&rows).len(), MAX_RECORDS);
        let rows: Vec<OutboxRow> = (0..10)
            .map(|i| row(i, &format!("k{i}"), 1024 * 1024))
            .collect();
        assert_eq!(select_batch(&rows).len(), 4);
    }
}
